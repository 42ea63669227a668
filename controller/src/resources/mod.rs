//! The kinds of resource holdfast keeps true on a host, one folder per kind.
//!
//! Every kind works in the same three steps, each its own piece of code:
//!
//! 1. **observe** — read the live object from the host (for a service: `docker inspect`
//!    of the container holdfast owns) into a plain value;
//! 2. **plan** — compare the desired value with the observed one and decide, field by
//!    field, what differs (the *drift*) and which actions would remove the difference;
//! 3. **apply** — carry the actions out.
//!
//! Planning is pure: no Docker, no I/O, no async. That keeps it testable without a
//! Docker engine and makes `holdfast plan`, `holdfast diff` and `apply --dry-run` free,
//! because they stop after step 2 and share one code path with the daemon.
//!
//! Each kind implements [`Kind`](crate::runtime::kind::Kind) and is registered in
//! [`kinds`], the one line a new kind adds here. Kinds:
//!
//! - [`service`]: one container per Compose service;
//! - [`route`]: one site of the reverse proxy per entry of `routes:`;
//! - [`backup`]: backup schedules (only its retention policy so far; not registered).

pub mod backup;
pub mod route;
pub mod service;

use std::path::Path;
use std::sync::Arc;

use crate::docker::Host;
use crate::runtime::registry::Registry;

/// Every kind holdfast drives, in the order `holdfast get` lists them. `state_dir`
/// holds what kinds keep on the host (the routes' local CA, the copies of configs).
///
/// Services and routes share one proxy driver: a start-first update asks the proxy
/// which container it routes to and what still holds the old one.
pub fn kinds(host: &Arc<Host>, state_dir: &Path) -> Registry {
    let metrics = route::metrics::RouteMetrics::default();
    let proxies = Arc::new(route::proxies::Proxies::new(
        holdfast_proxy::driver::DEBOUNCE,
        metrics.clone(),
    ));
    let rollouts = service::rollout::Rollouts::new(state_dir, proxies.clone());
    Registry::new()
        .with(
            service::Service::with_rollouts(host.clone(), rollouts)
                .with_configs_dir(state_dir.join("configs")),
        )
        .with(route::Route::with_proxies(state_dir, proxies, metrics))
}
