//! The route kind's own metrics: proxy applies, their errors, certificate expiry.
//! Route readiness is the runtime's `holdfast_resource_ready{kind="route"}`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use holdfast_proxy::converge::ConvergeOutcome;
use holdfast_proxy::model::{RouteModel, TlsModel};

use super::ca::{CertInfo, cert_info};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EngineLabels {
    engine: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

fn apply_histogram() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

/// Shared handles: cloning keeps the same series.
#[derive(Clone, Debug)]
pub struct RouteMetrics {
    apply_seconds: Family<EngineLabels, Histogram, fn() -> Histogram>,
    apply_errors: Family<EngineLabels, Counter>,
    cert_expiry: Family<RouteLabels, Gauge>,
}

impl Default for RouteMetrics {
    fn default() -> Self {
        RouteMetrics {
            apply_seconds: Family::new_with_constructor(apply_histogram),
            apply_errors: Family::default(),
            cert_expiry: Family::default(),
        }
    }
}

impl RouteMetrics {
    /// Registers the families in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register_with_unit(
            "holdfast_proxy_apply",
            "How long a pass that changed the proxy's configuration took, by engine",
            Unit::Seconds,
            self.apply_seconds.clone(),
        );
        registry.register(
            "holdfast_proxy_apply_errors",
            "Passes in which the proxy refused a configuration or could not be reached, by engine",
            self.apply_errors.clone(),
        );
        registry.register_with_unit(
            "holdfast_cert_expiry",
            "Seconds until the certificate a route serves expires (read from its file, or from the proxy for tls: auto)",
            Unit::Seconds,
            self.cert_expiry.clone(),
        );
    }

    /// Records one applying pass.
    pub fn observe_pass(&self, engine: &'static str, outcome: &ConvergeOutcome) {
        let labels = EngineLabels {
            engine: engine.to_string(),
        };
        // Created at 0 so that the first error shows in rate().
        let errors = self.apply_errors.get_or_create(&labels);
        let failed = outcome.error.is_some()
            || outcome
                .routes
                .values()
                .any(|r| matches!(r, holdfast_proxy::RouteResult::Rejected(_)));
        if failed {
            errors.inc();
        }
        if outcome.applied.is_some() {
            self.apply_seconds
                .get_or_create(&labels)
                .observe(outcome.elapsed.as_secs_f64());
        }
    }

    /// Sets the certificate expiry of `route`: from its file, or from what the proxy
    /// `served` for an ACME route.
    pub fn observe_route(&self, route: &str, model: &RouteModel, served: Option<&CertInfo>) {
        let labels = RouteLabels {
            route: route.to_string(),
        };
        let info = match &model.tls {
            TlsModel::Files { cert, .. } => cert_info(cert),
            TlsModel::Acme => served.cloned(),
            TlsModel::Off => None,
        };
        if let Some(info) = info {
            let left = match info.not_after.duration_since(std::time::SystemTime::now()) {
                Ok(d) => d.as_secs() as i64,
                Err(e) => -(e.duration().as_secs() as i64),
            };
            self.cert_expiry.get_or_create(&labels).set(left);
        } else {
            self.cert_expiry.remove(&labels);
        }
    }

    /// Drops the series of a route gone from the file.
    pub fn forget_route(&self, route: &str) {
        self.cert_expiry.remove(&RouteLabels {
            route: route.to_string(),
        });
    }
}
