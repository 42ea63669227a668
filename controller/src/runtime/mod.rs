//! The machinery every kind of resource shares: the work queue that decides what to
//! reconcile next, and the per-resource backoff that decides when to retry.

pub mod backoff;
pub mod controller;
pub mod crashloop;
pub mod queue;
pub mod store;

/// Locks `m`, carrying on through a poisoned lock: every value kept behind these locks
/// is replaced whole, so a panic elsewhere cannot leave it half-written.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
