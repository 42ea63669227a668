//! The daemon's API: a unix socket (mode 0660) serving status, events, reconcile-now,
//! suspend/resume, health and metrics. [`types`] holds the bodies both sides use.

mod auth;
mod source;
pub mod client;
pub mod metrics;
pub mod server;
pub mod types;
pub mod webhook;
