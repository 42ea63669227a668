//! The machinery every kind of resource shares, and nothing that belongs to one kind:
//!
//! - [`kind`]: the interface a kind implements ([`kind::Kind`]) and the keys
//!   ([`kind::ObjectRef`], `KIND/NAME`);
//! - [`registry`]: the kinds one controller drives;
//! - [`controller`]: the desired state in force, triggers, convergence and the queries
//!   the API answers;
//! - [`status`](mod@status): one reconcile of one key, and the status state machine;
//! - [`needs`]: dependencies between objects, as data;
//! - [`guard`]: the mass-removal guard;
//! - [`planning`]: the stateless plan and diff pass (`plan`, `diff`, `apply --dry-run`);
//! - [`queue`], [`backoff`]: what to reconcile next, and when to retry;
//! - [`store`]: statuses and events on disk; [`metrics`]: what `/metrics` serves.
//!
//! `runtime/` imports nothing from `resources/` or `source/`.

pub mod backoff;
pub mod controller;
pub mod guard;
pub mod kind;
pub mod metrics;
pub mod needs;
pub mod planning;
pub mod queue;
pub mod registry;
pub mod status;
pub mod store;

#[cfg(test)]
mod tests;

/// Locks `m`, carrying on through a poisoned lock: every value kept behind these locks
/// is replaced whole, so a panic elsewhere cannot leave it half-written.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
