//! Real proxies for tests, each in its own folder on free loopback ports.

pub mod caddy;
pub mod nginx;
pub mod pebble;
pub mod traefik;
