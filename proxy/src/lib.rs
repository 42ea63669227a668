//! Reverse proxies for holdfast's routes.
//!
//! The controller turns the routes of the desired-state file, and the live addresses of
//! the services behind them, into one engine-neutral [`ProxyModel`]. Each engine
//! ([`caddy`], [`nginx`], [`traefik`]) implements [`Engine`] in three steps, as every
//! holdfast kind does:
//!
//! 1. **render** (pure): the model to the engine's own configuration, cut into
//!    [`Rendered::sections`] — one per route plus the shared part — so that drift can be
//!    named route by route;
//! 2. **observe**: read back what the proxy runs now, into the same sections;
//! 3. **apply**: hand the proxy a rendered configuration and return once it serves it,
//!    or fail with the proxy's own message and the previous configuration still
//!    serving.
//!
//! [`converge`] is the engine-neutral part: compare, decide, apply, and when the proxy
//! rejects a configuration, find the routes that broke it so that every other route
//! keeps serving. [`driver::Driver`] coalesces the reconciles of many routes into one
//! proxy change.

pub mod caddy;
pub mod converge;
pub mod driver;
pub mod engine;
pub mod http;
pub mod model;
pub mod nginx;
pub mod page;
pub mod traefik;

pub use converge::{ConvergeOutcome, RouteResult, SectionDrift};
pub use engine::{Applied, Engine, Observed, ProxyError, Rendered};
pub use model::{Listen, PathModel, ProxyModel, RouteModel, TlsModel, Upstream};
