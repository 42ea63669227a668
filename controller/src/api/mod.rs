//! The daemon's API: a unix socket (mode 0660) serving status, events, reconcile-now,
//! suspend/resume, the source (status, history, fetch, rollback, resume), health and
//! metrics; and the [`webhook`] receiver on its own TCP listener. [`types`] holds the
//! bodies both sides use.

mod auth;
pub mod client;
pub mod server;
pub use server::AppState;
mod source;
pub mod types;
pub mod webhook;
