//! The machinery every kind of resource shares: the work queue that decides what to
//! reconcile next, and the per-resource backoff that decides when to retry.

pub mod backoff;
pub mod controller;
pub mod crashloop;
pub mod queue;
pub mod store;
