//! The route kind: `route/NAME`, one per entry of `routes:`.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use holdfast_proxy::converge::ConvergeOutcome;
use holdfast_proxy::driver::{DEBOUNCE, Driver};
use holdfast_proxy::model::{TlsModel, route_section};
use holdfast_spec::{DesiredState, DriftMode, Proxy, ProxyEngine};

use super::ca::LocalCa;
use super::desired::{self, ModelError};
use super::metrics::RouteMetrics;
use super::proxies::Proxies;
use super::report;
use crate::runtime::kind::{
    self, Column, Cx, DesiredObject, ErrorAction, Kind, Mode, Outcome, Owned, Show,
};

/// The kind's name.
pub const KIND: &str = "route";

/// Why a route's pass failed.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// The file has routes but no `proxy:` (validation refuses such a file).
    #[error("routes need a `proxy:` in the file")]
    NoProxy,
    /// The proxy section names an engine that cannot be driven as given.
    #[error("{0}")]
    Engine(String),
    /// The model could not be built (a certificate, a users file).
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The proxy refused this route; its last good version keeps serving.
    #[error("{engine} refused route `{route}`: {message}")]
    Rejected {
        /// The engine.
        engine: &'static str,
        /// The route.
        route: String,
        /// The proxy's own message.
        message: String,
    },
    /// The proxy could not be reached, or failed as a whole; it keeps what it serves.
    #[error("{0}")]
    Proxy(String),
}

/// Routes, kept true in the proxy the file names.
pub struct Route {
    ca: LocalCa,
    state_dir: std::path::PathBuf,
    /// The driver of the proxy in force, shared with the service kind.
    proxies: Arc<Proxies>,
    metrics: RouteMetrics,
    served: super::served::ServedCache,
}

impl Route {
    /// The route kind, with its local CA under `state_dir` and its own proxies.
    pub fn new(state_dir: &Path) -> Self {
        let metrics = RouteMetrics::default();
        let proxies = Arc::new(Proxies::new(DEBOUNCE, metrics.clone()));
        Route::with_proxies(state_dir, proxies, metrics)
    }

    /// The route kind on `proxies`, which other kinds share, reporting to `metrics`.
    pub fn with_proxies(state_dir: &Path, proxies: Arc<Proxies>, metrics: RouteMetrics) -> Self {
        Route {
            ca: LocalCa::new(state_dir),
            state_dir: state_dir.to_path_buf(),
            proxies,
            metrics,
            served: Default::default(),
        }
    }

    /// The local CA (`holdfast routes ca`).
    pub fn ca(&self) -> &LocalCa {
        &self.ca
    }

    fn driver_for(&self, proxy: &Proxy) -> Result<Arc<Driver>, RouteError> {
        self.proxies.driver_for(proxy).map_err(RouteError::Engine)
    }

    fn current_driver(&self) -> Option<Arc<Driver>> {
        self.proxies.current()
    }
}

impl Kind for Route {
    const KIND: &'static str = KIND;
    const ALIASES: &'static [&'static str] = &["routes", "rt"];
    type Error = RouteError;

    fn desired(&self, state: &DesiredState) -> Vec<DesiredObject> {
        state
            .routes
            .iter()
            .map(|(name, route)| {
                let spec = serde_json::to_value(route).unwrap_or_default();
                DesiredObject {
                    name: name.clone(),
                    hash: holdfast_spec::hash::content_hash(&serde_json::json!({
                        "route": spec,
                        "proxy": state.proxy,
                    })),
                    spec,
                    needs: desired::needs(state, route),
                }
            })
            .collect()
    }

    async fn owned(&self, _project: &str) -> Result<Vec<Owned>, RouteError> {
        let Some(driver) = self.current_driver() else {
            return Ok(Vec::new());
        };
        let observed = driver
            .engine()
            .observe()
            .await
            .map_err(|e| RouteError::Proxy(e.to_string()))?;
        Ok(observed
            .sections
            .keys()
            .filter_map(|s| s.strip_prefix("route/"))
            .map(|name| Owned {
                name: name.to_string(),
                weight: 1,
            })
            .collect())
    }

    async fn reconcile(&self, name: &str, cx: &Cx<'_>) -> Result<kind::Report, RouteError> {
        let Some(proxy) = &cx.state.proxy else {
            if cx.state.routes.contains_key(name) {
                return Err(RouteError::NoProxy);
            }
            // No proxy in the file: nothing holdfast drives serves this route.
            return Ok(kind::Report::new(Outcome::Removed));
        };
        let driver = self.driver_for(proxy)?;
        let mut model = desired::model(cx.state, proxy, cx.published, &self.ca, &self.state_dir)?;
        if !cx.removal_allowed
            && let Some(good) = driver.last_good().await
        {
            // The mass-removal guard holds: routes gone from the file keep serving.
            for (gone, route) in good.routes {
                model.routes.entry(gone).or_insert(route);
            }
        }
        let held: BTreeSet<String> = cx
            .state
            .routes
            .iter()
            .filter(|(_, r)| r.drift == DriftMode::Report)
            .map(|(n, _)| route_section(n))
            .collect();
        let plan_only = cx.mode == Mode::Plan || cx.suspended;
        let outcome: Arc<ConvergeOutcome> = if plan_only {
            Arc::new(driver.plan(&model).await)
        } else {
            driver.apply(model.clone(), held.clone()).await
        };
        let engine = driver.engine().name();
        let changed = if plan_only {
            None
        } else {
            driver.take_changed(&route_section(name))
        };
        // An ACME certificate is the proxy's: ask the listener what it serves.
        let mut asked = false;
        let served = match model.routes.get(name) {
            Some(route) if route.tls == TlsModel::Acme && proxy.service.is_none() => {
                let address = match proxy.engine {
                    ProxyEngine::Traefik => {
                        Some(format!("127.0.0.1:{}", proxy.https_port.unwrap_or(443)))
                    }
                    _ => super::served::loopback(&model.listen.https),
                };
                match (address, route.hosts.first()) {
                    (Some(a), Some(host)) => {
                        asked = true;
                        self.served.get(name, &a, host, changed.is_some()).await
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        if let Some(route) = model.routes.get(name) {
            self.metrics.observe_route(name, route, served.as_ref());
        } else {
            self.metrics.forget_route(name);
        }
        report::report(
            name,
            engine,
            &model,
            &outcome,
            changed,
            report::Mode {
                plan_only,
                report_only: held.contains(&route_section(name)),
                removal_allowed: cx.removal_allowed,
                awaiting_certificate: asked && served.is_none(),
                served: served.as_ref(),
                tls_mode: cx.state.routes.get(name).map_or("off", |r| r.tls.mode()),
                warnings: &driver.engine().warnings(),
            },
        )
    }

    fn error_policy(&self, error: &RouteError, _retries: u32) -> ErrorAction {
        match error {
            // The file must change first.
            RouteError::NoProxy | RouteError::Engine(_) => ErrorAction::Stall,
            _ => ErrorAction::Retry,
        }
    }

    fn columns(&self) -> &'static [Column] {
        &[
            Column {
                name: "HOSTS",
                show: Show::Table,
            },
            Column {
                name: "TLS",
                show: Show::Table,
            },
            Column {
                name: "UPSTREAMS",
                show: Show::Table,
            },
            Column {
                name: "ENGINE",
                show: Show::Wide,
            },
            Column {
                name: "ISSUER",
                show: Show::Describe,
            },
            Column {
                name: "CONFIG",
                show: Show::Describe,
            },
            Column {
                name: "CONFIG DIFF",
                show: Show::Describe,
            },
            Column {
                name: "LAST PROXY ERROR",
                show: Show::Describe,
            },
            Column {
                name: "WARNINGS",
                show: Show::Describe,
            },
        ]
    }

    fn report_only(&self, state: &DesiredState, name: &str) -> bool {
        state
            .routes
            .get(name)
            .is_some_and(|r| r.drift == DriftMode::Report)
    }

    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.metrics.register(registry);
    }
}
