//! A service: the one container that runs a Compose service, keyed `service/<name>`.
//!
//! - [`kind`]: [`Service`], the kind the runtime drives, with the crash-loop backoff
//!   ([`crashloop`]) and the unhealthy-restart budget;
//! - [`reconcile`]: one pass over one service: observe, plan, apply;
//! - [`labels`]: the labels that mark a container as holdfast's;
//! - [`container`]: the configuration parts the desired and the live side share;
//! - [`desired`]: the exact container holdfast wants, derived from the spec and the
//!   inputs read from disk ([`ResolvedInputs`]), with its spec hash;
//! - [`live`]: what observe reads back from Docker ([`LiveContainer`]) and the image's
//!   own defaults ([`ImageDefaults`]);
//! - [`drift`](mod@drift): how the live container differs from the desired one, field by field;
//! - [`plan`](mod@plan): the actions that bring the live container to the desired one;
//! - [`replicas`]: several containers of one service (`deploy.replicas`);
//! - [`rollout`]: zero-downtime (start-first) updates of a service behind a route.
//!
//! ```
//! use holdfast::resources::service::{
//!     Action, DesiredContainer, ImageDefaults, PlanPolicy, ResolvedInputs, plan,
//! };
//!
//! let web = holdfast_spec::Service {
//!     image: Some("nginx:1.27".into()),
//!     ..Default::default()
//! };
//! let desired = DesiredContainer::new("shop", "web", &web, &ResolvedInputs::default()).unwrap();
//! assert_eq!(desired.name, "shop-web");
//!
//! // No container yet: create it.
//! let plan = plan(&desired, None, &ImageDefaults::default(), &PlanPolicy::default());
//! assert_eq!(plan.actions, vec![Action::Create]);
//! assert_eq!(plan.describe(), vec!["create service/web".to_string()]);
//! ```

pub mod apply;
pub mod container;
pub mod crashloop;
pub mod desired;
pub mod diff;
pub mod drift;
pub mod inputs;
pub mod kind;
/// The ownership labels, which the engine layer defines: see [`crate::docker::ownership`].
pub use crate::docker::ownership as labels;
pub mod live;
pub mod observe;
pub mod plan;
pub mod reconcile;
pub mod replicas;
pub mod rollout;

#[cfg(test)]
pub(crate) mod fixtures;

pub use container::{Limits, MountSpec, PortBinding, RestartSpec};
pub use desired::{DesiredContainer, DesiredError, HealthSpec, LogSpec, ResolvedInputs};
pub use drift::{Field, FieldDrift, drift};
pub use kind::Service;
pub use live::{ContainerState, Health, ImageDefaults, LiveContainer};
pub use plan::{Action, PlanPolicy, ServicePlan, plan};

/// The kind part of a service's work-queue key.
pub const KIND: &str = "service";

/// The work-queue key of a service: `service/<name>`.
///
/// ```
/// assert_eq!(holdfast::resources::service::key("web"), "service/web");
/// ```
pub fn key(service: &str) -> String {
    format!("{KIND}/{service}")
}
