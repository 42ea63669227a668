//! Routes: `routes:` kept true in the reverse proxy the file names (`proxy:`).
//!
//! Every route is its own object (`route/NAME`), but the proxy takes one configuration,
//! so a pass of any route is a pass over the whole proxy, coalesced by the
//! [`Driver`](holdfast_proxy::driver::Driver) of the `holdfast-proxy` crate, which also
//! holds the engines (Caddy, nginx, Traefik), each with its own observe → plan → apply.
//!
//! - [`desired`]: the file and what services publish about their live containers → the
//!   engine-neutral model (presets expanded, certificates resolved, upstreams);
//! - [`ports`]: the 127.0.0.1 ports routed services are published on;
//! - [`ca`]: holdfast's local CA for `tls: internal`;
//! - [`engine`]: the engine `proxy.engine` names;
//! - [`proxies`]: the driver of the proxy in force, shared with start-first services;
//! - [`report`]: one route's status, drift, actions and columns from the pass;
//! - [`metrics`]: proxy apply time and errors, certificate expiry;
//! - [`served`]: the certificate a host is served with, by a TLS handshake (`tls: auto`);
//! - [`kind`]: the [`Kind`](crate::runtime::kind::Kind) implementation.

pub mod ca;
pub mod desired;
pub mod engine;
pub mod kind;
pub mod metrics;
pub mod ports;
pub mod proxies;
pub mod report;
pub mod served;

pub use kind::{KIND, Route, RouteError};
