//! The daemon's API: a unix socket (mode 0660) serving status, events, reconcile-now,
//! suspend/resume, health and metrics. [`types`] holds the bodies both sides use.

pub mod client;
pub mod metrics;
pub mod server;
pub mod types;
