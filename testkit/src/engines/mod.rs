//! Real proxies for tests, each in its own folder on free loopback ports.

pub mod traefik;
