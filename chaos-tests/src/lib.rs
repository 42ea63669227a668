//! Fault-injection suites for holdfast, run against a real Docker engine.
//!
//! Each suite starts a controller, injects a fault the way an operator or the kernel
//! would (SIGKILL a container, `docker stop`, `docker rm -f`, recreate it by hand with
//! other settings, make it unhealthy) and asserts that the service returns to its
//! desired state, measuring how long that takes.
//!
//! The suites arrive with the reconcile core; until the controller can converge a
//! project there is nothing to inject faults into, so this crate holds no tests yet.
