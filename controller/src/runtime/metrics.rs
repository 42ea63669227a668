//! The controller's Prometheus metrics, recorded by the runtime and served by the API's
//! `/metrics` endpoint.
//!
//! [`Metrics`] owns a [`Registry`] and every metric holdfast exports. The controller
//! records into it through small methods; the API serves [`Metrics::encode`] with the
//! [`CONTENT_TYPE`] header. Share one instance in an [`Arc`](std::sync::Arc): every
//! method takes `&self`.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `holdfast_reconciles_total` | counter | `kind`, `result` |
//! | `holdfast_reconcile_duration_seconds` | histogram | `kind` |
//! | `holdfast_resource_ready` | gauge (1/0) | `kind`, `name`, `project` |
//! | `holdfast_resources_drifting` | gauge | `kind` |
//! | `holdfast_drift_corrections_total` | counter | `kind` |
//! | `holdfast_unhealthy_restarts_total` | counter | `kind`, `name` |
//! | `holdfast_work_queue_depth` | gauge | |
//! | `holdfast_retries_scheduled_total` | counter | `kind` |
//! | `holdfast_build_info` | gauge (always 1) | `version` |
//! | `holdfast_source_fetches_total` | counter | `result` (`ok`, `error`) |
//! | `holdfast_source_invalid_commits_total` | counter | |
//! | `holdfast_source_failing` | gauge (1/0) | |
//! | `holdfast_source_pinned` | gauge (1/0) | |
//!
//! Counters are registered without their `_total` suffix: prometheus-client adds it
//! when encoding (and panics in debug builds if a counter's name already has it).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// The `Content-Type` of [`Metrics::encode`]'s output: the OpenMetrics text format,
/// which Prometheus scrapes natively. Serving it as `text/plain; version=0.0.4`
/// would make Prometheus read every counter as untyped (the `# TYPE` line names the
/// family `holdfast_reconciles`, the samples are `holdfast_reconciles_total`).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The `result` label values of `holdfast_reconciles_total` that [`Metrics::new`]
/// exports at 0 from the start, so that `increase()` and alerts see the first one.
pub const RESULTS: [&str; 6] = [
    "ready",
    "progressing",
    "degraded",
    "stalled",
    "error",
    "removed",
];

/// Upper bounds, in seconds, of the reconcile-duration histogram's buckets: 5 ms to
/// 60 s (a reconcile that pulls or builds nothing takes milliseconds; one that waits
/// for a health check can take most of a minute).
const RECONCILE_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0,
];

/// Labels `kind` and `result` of `holdfast_reconciles_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindResultLabels {
    kind: String,
    result: String,
}

/// The label `kind`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

/// Labels that name one resource: `kind`, `name`, `project`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResourceLabels {
    kind: String,
    name: String,
    project: String,
}

/// The labels `kind` and `name`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NameLabels {
    kind: String,
    name: String,
}

/// The label `result` of `holdfast_source_fetches_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

/// The label `version`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: String,
}

/// A family of histograms that all use [`RECONCILE_BUCKETS`].
type HistogramFamily<S> = Family<S, Histogram, fn() -> Histogram>;

/// A histogram with [`RECONCILE_BUCKETS`].
fn reconcile_histogram() -> Histogram {
    Histogram::new(RECONCILE_BUCKETS)
}

/// holdfast's Prometheus metrics and the registry that encodes them.
///
/// `Send + Sync`; every method takes `&self` and only touches atomics and the
/// families' internal locks, so share it in an `Arc` between the controller and the
/// API server.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reconciles: Family<KindResultLabels, Counter>,
    reconcile_duration: HistogramFamily<KindLabels>,
    resource_ready: Family<ResourceLabels, Gauge>,
    resources_drifting: Family<KindLabels, Gauge>,
    drift_corrections: Family<KindLabels, Counter>,
    unhealthy_restarts: Family<NameLabels, Counter>,
    work_queue_depth: Gauge,
    retries_scheduled: Family<KindLabels, Counter>,
    source_fetches: Family<ResultLabels, Counter>,
    source_invalid_commits: Counter,
    source_failing: Gauge,
    source_pinned: Gauge,
}

impl Metrics {
    /// A registry with every holdfast metric registered: `holdfast_build_info` at 1,
    /// and no per-kind or per-resource series yet: the runtime calls
    /// [`Metrics::register_kind`] for every kind it drives.
    pub fn new() -> Self {
        Self::with(|_| {})
    }

    /// [`Metrics::new`], and `more` registers further metrics (a kind's own).
    pub fn with(more: impl FnOnce(&mut Registry)) -> Self {
        let mut registry = Registry::default();
        more(&mut registry);

        let reconciles = Family::<KindResultLabels, Counter>::default();
        registry.register(
            "holdfast_reconciles",
            "Reconciles finished, by resource kind and result \
             (ready, progressing, degraded, stalled, error, removed)",
            reconciles.clone(),
        );

        let reconcile_duration: HistogramFamily<KindLabels> =
            Family::new_with_constructor(reconcile_histogram);
        registry.register_with_unit(
            "holdfast_reconcile_duration",
            "How long one reconcile of a resource took, by resource kind",
            Unit::Seconds,
            reconcile_duration.clone(),
        );

        let resource_ready = Family::<ResourceLabels, Gauge>::default();
        registry.register(
            "holdfast_resource_ready",
            "Whether a resource is Ready (1) or not (0)",
            resource_ready.clone(),
        );

        let resources_drifting = Family::<KindLabels, Gauge>::default();
        registry.register(
            "holdfast_resources_drifting",
            "Resources whose running state differs from the desired state, by kind",
            resources_drifting.clone(),
        );

        let drift_corrections = Family::<KindLabels, Counter>::default();
        registry.register(
            "holdfast_drift_corrections",
            "Drifted resources brought back to the desired state, by kind",
            drift_corrections.clone(),
        );

        let unhealthy_restarts = Family::<NameLabels, Counter>::default();
        registry.register(
            "holdfast_unhealthy_restarts",
            "Restarts of objects (containers) that failed their health check, by kind and name",
            unhealthy_restarts.clone(),
        );

        let work_queue_depth = Gauge::default();
        registry.register(
            "holdfast_work_queue_depth",
            "Resources waiting in the controller's work queue",
            work_queue_depth.clone(),
        );

        let retries_scheduled = Family::<KindLabels, Counter>::default();
        registry.register(
            "holdfast_retries_scheduled",
            "Reconciles scheduled again after a failure (with backoff), by kind",
            retries_scheduled.clone(),
        );

        let source_fetches = Family::<ResultLabels, Counter>::default();
        for result in ["ok", "error"] {
            drop(source_fetches.get_or_create(&ResultLabels {
                result: result.to_owned(),
            }));
        }
        registry.register(
            "holdfast_source_fetches",
            "Fetches of the git source, by result (ok, error)",
            source_fetches.clone(),
        );
        let source_invalid_commits = Counter::default();
        registry.register(
            "holdfast_source_invalid_commits",
            "Commits refused because their desired-state file is invalid",
            source_invalid_commits.clone(),
        );
        let source_failing = Gauge::default();
        registry.register(
            "holdfast_source_failing",
            "Whether the newest commit of the git source was refused (1) or not (0)",
            source_failing.clone(),
        );
        let source_pinned = Gauge::default();
        registry.register(
            "holdfast_source_pinned",
            "Whether a rollback pinned the git source to a commit (1) or not (0)",
            source_pinned.clone(),
        );

        let build_info = Family::<VersionLabels, Gauge>::default();
        build_info
            .get_or_create(&VersionLabels {
                version: env!("CARGO_PKG_VERSION").to_owned(),
            })
            .set(1);
        registry.register(
            "holdfast_build_info",
            "The running holdfast's version, in the label; always 1",
            build_info,
        );

        Self {
            registry,
            reconciles,
            reconcile_duration,
            resource_ready,
            resources_drifting,
            drift_corrections,
            unhealthy_restarts,
            work_queue_depth,
            retries_scheduled,
            source_fetches,
            source_invalid_commits,
            source_failing,
            source_pinned,
        }
    }

    /// Counts one fetch of the git source.
    pub fn source_fetch(&self, ok: bool) {
        self.source_fetches
            .get_or_create(&ResultLabels {
                result: if ok { "ok" } else { "error" }.to_owned(),
            })
            .inc();
    }

    /// Counts one commit refused for an invalid file.
    pub fn source_invalid_commit(&self) {
        self.source_invalid_commits.inc();
    }

    /// Sets whether the git source's newest commit was refused, and whether it is
    /// pinned by a rollback.
    pub fn set_source_state(&self, failing: bool, pinned: bool) {
        self.source_failing.set(i64::from(failing));
        self.source_pinned.set(i64::from(pinned));
    }

    /// Creates the per-kind series of `kind` (every [`RESULTS`] value) at 0: a series that first appears at 1
    /// is invisible to `increase()` and `rate()`, so the first error would be missed.
    pub fn register_kind(&self, kind: &str) {
        for result in RESULTS {
            drop(self.reconciles.get_or_create(&KindResultLabels {
                kind: kind.to_owned(),
                result: result.to_owned(),
            }));
        }
        let labels = kind_labels(kind);
        drop(self.reconcile_duration.get_or_create(&labels));
        drop(self.resources_drifting.get_or_create(&labels));
        drop(self.drift_corrections.get_or_create(&labels));
        drop(self.retries_scheduled.get_or_create(&labels));
    }

    /// Records one finished reconcile: increments
    /// `holdfast_reconciles_total{kind,result}` and observes `duration` in
    /// `holdfast_reconcile_duration_seconds{kind}`.
    ///
    /// `kind` is the resource kind (`service`); `result` one of `ready`,
    /// `progressing`, `degraded`, `stalled`, `error`, `removed`.
    pub fn observe_reconcile(&self, kind: &str, result: &str, duration: Duration) {
        self.reconciles
            .get_or_create(&KindResultLabels {
                kind: kind.to_owned(),
                result: result.to_owned(),
            })
            .inc();
        self.reconcile_duration
            .get_or_create(&kind_labels(kind))
            .observe(duration.as_secs_f64());
    }

    /// Sets `holdfast_resource_ready{kind,name,project}` to 1 if `ready`, else 0.
    pub fn set_ready(&self, kind: &str, project: &str, name: &str, ready: bool) {
        self.resource_ready
            .get_or_create(&resource_labels(kind, project, name))
            .set(i64::from(ready));
    }

    /// Drops the `holdfast_resource_ready` series of a resource that no longer
    /// exists, so it stops being exported (rather than reading 0 forever).
    pub fn remove_resource(&self, kind: &str, project: &str, name: &str) {
        self.resource_ready
            .remove(&resource_labels(kind, project, name));
    }

    /// Sets `holdfast_resources_drifting{kind}`: how many resources of `kind` differ
    /// from their desired state right now.
    pub fn set_drifting(&self, kind: &str, count: i64) {
        self.resources_drifting
            .get_or_create(&kind_labels(kind))
            .set(count);
    }

    /// Increments `holdfast_drift_corrections_total{kind}`: a drifted resource was
    /// brought back to its desired state.
    pub fn drift_corrected(&self, kind: &str) {
        self.drift_corrections
            .get_or_create(&kind_labels(kind))
            .inc();
    }

    /// Increments `holdfast_unhealthy_restarts_total{kind,name}`: object `name` failed
    /// its health check and was restarted.
    pub fn unhealthy_restart(&self, kind: &str, name: &str) {
        self.unhealthy_restarts
            .get_or_create(&NameLabels {
                kind: kind.to_owned(),
                name: name.to_owned(),
            })
            .inc();
    }

    /// Sets `holdfast_work_queue_depth`: resources waiting in the work queue.
    pub fn set_queue_depth(&self, n: i64) {
        self.work_queue_depth.set(n);
    }

    /// Increments `holdfast_retries_scheduled_total{kind}`: a failed reconcile was
    /// scheduled to run again after a backoff.
    pub fn retry_scheduled(&self, kind: &str) {
        self.retries_scheduled
            .get_or_create(&kind_labels(kind))
            .inc();
    }

    /// Every metric in the OpenMetrics text format (serve it with
    /// [`CONTENT_TYPE`]), ending with `# EOF`.
    ///
    /// Encoding into a `String` cannot fail; should prometheus-client ever report an
    /// error, this logs it and returns an empty body, which Prometheus rejects
    /// (the scrape fails visibly) rather than a silently truncated one.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        match prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            Ok(()) => out,
            Err(error) => {
                tracing::error!(%error, "encoding the metrics failed");
                String::new()
            }
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The label set `{kind}`.
fn kind_labels(kind: &str) -> KindLabels {
    KindLabels {
        kind: kind.to_owned(),
    }
}

/// The label set `{kind,name,project}` of one resource.
fn resource_labels(kind: &str, project: &str, name: &str) -> ResourceLabels {
    ResourceLabels {
        kind: kind.to_owned(),
        name: name.to_owned(),
        project: project.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use prometheus_parse::{LineInfo, Sample, SampleType, Scrape, Value};

    use super::*;

    /// A parsed exposition: the samples and the type each `# TYPE` line declares.
    struct Parsed {
        scrape: Scrape,
        /// Family name (as in `# TYPE`, e.g. `holdfast_reconciles`) to its type.
        types: HashMap<String, SampleType>,
    }

    impl Parsed {
        fn new(text: &str) -> Self {
            let scrape = Scrape::parse(text.lines().map(|line| Ok(line.to_owned())))
                .expect("the exposition parses");
            let mut types = HashMap::new();
            for line in text.lines() {
                if let LineInfo::Type {
                    metric_name,
                    metric_alias,
                    sample_type,
                } = LineInfo::parse(line)
                {
                    // For histograms prometheus-parse names the family `<name>_bucket`
                    // and keeps the declared name as the alias.
                    types.insert(metric_alias.unwrap_or(metric_name), sample_type);
                }
            }
            Self { scrape, types }
        }

        /// Asserts that the family `name` is declared with type `expected` and has
        /// a non-empty help text.
        fn assert_family(&self, name: &str, expected: SampleType) {
            assert_eq!(self.types.get(name), Some(&expected), "type of {name}");
            let help = self.scrape.docs.get(name);
            assert!(help.is_some_and(|h| !h.trim().is_empty()), "help of {name}");
        }

        /// The sample `name` with exactly the labels `labels`, if any.
        fn sample(&self, name: &str, labels: &[(&str, &str)]) -> Option<&Sample> {
            let matching: Vec<&Sample> = self
                .scrape
                .samples
                .iter()
                .filter(|s| {
                    s.metric == name
                        && s.labels.len() == labels.len()
                        && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
                })
                .collect();
            assert!(matching.len() <= 1, "duplicate series {name}{labels:?}");
            matching.first().copied()
        }

        /// The value of the scalar sample `name{labels}`; panics if it is missing.
        fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
            match self.sample(name, labels).map(|s| &s.value) {
                // prometheus-parse keys types by sample name, so OpenMetrics counter
                // samples (`<family>_total`) and histogram `_sum`/`_count` come back
                // untyped; the family's type is checked by `assert_family`.
                Some(Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v)) => *v,
                other => panic!("{name}{labels:?}: expected a scalar sample, got {other:?}"),
            }
        }
    }

    #[test]
    fn metrics_are_send_sync_and_shareable() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Metrics>();
        let metrics = Arc::new(Metrics::new());
        metrics.register_kind("service");
        let clone = Arc::clone(&metrics);
        std::thread::spawn(move || clone.retry_scheduled("service"))
            .join()
            .expect("the thread finishes");
        let parsed = Parsed::new(&metrics.encode());
        assert_eq!(
            parsed.value("holdfast_retries_scheduled_total", &[("kind", "service")]),
            1.0
        );
    }

    #[test]
    fn every_metric_is_encoded_with_its_type_and_value() {
        let metrics = Metrics::default();
        metrics.register_kind("service");

        metrics.observe_reconcile("service", "ready", Duration::from_millis(3));
        metrics.observe_reconcile("service", "ready", Duration::from_millis(700));
        metrics.observe_reconcile("service", "error", Duration::from_secs(90));
        metrics.set_ready("service", "shop", "web", true);
        metrics.set_ready("service", "shop", "db", false);
        metrics.set_ready("service", "shop", "old", true);
        metrics.remove_resource("service", "shop", "old");
        metrics.set_drifting("service", 3);
        metrics.set_drifting("service", 2);
        metrics.drift_corrected("service");
        metrics.drift_corrected("service");
        metrics.unhealthy_restart("service", "shop-web");
        metrics.unhealthy_restart("service", "shop-web");
        metrics.unhealthy_restart("service", "shop-db");
        metrics.set_queue_depth(7);
        metrics.set_queue_depth(4);
        metrics.retry_scheduled("service");
        metrics.retry_scheduled("service");
        metrics.source_fetch(true);
        metrics.source_fetch(true);
        metrics.source_fetch(false);
        metrics.source_invalid_commit();
        metrics.set_source_state(true, false);
        metrics.set_source_state(true, true);

        let text = metrics.encode();
        assert!(text.ends_with("# EOF\n"), "OpenMetrics end marker:\n{text}");
        let parsed = Parsed::new(&text);

        parsed.assert_family("holdfast_reconciles", SampleType::Counter);
        let reconciles = "holdfast_reconciles_total";
        let ready = [("kind", "service"), ("result", "ready")];
        assert_eq!(parsed.value(reconciles, &ready), 2.0);
        let error = [("kind", "service"), ("result", "error")];
        assert_eq!(parsed.value(reconciles, &error), 1.0);
        let stalled = [("kind", "service"), ("result", "stalled")];
        assert_eq!(parsed.value(reconciles, &stalled), 0.0);

        let duration = "holdfast_reconcile_duration_seconds";
        parsed.assert_family(duration, SampleType::Histogram);
        let service = [("kind", "service")];
        assert_eq!(parsed.value(&format!("{duration}_count"), &service), 3.0);
        let sum = parsed.value(&format!("{duration}_sum"), &service);
        assert!((sum - 90.703).abs() < 1e-9, "sum {sum}");
        let Some(Value::Histogram(buckets)) = parsed.sample(duration, &service).map(|s| &s.value)
        else {
            panic!("{duration}: no histogram for {service:?}");
        };
        let count_le = |bound: f64| {
            buckets
                .iter()
                .find(|b| b.less_than == bound)
                .map(|b| b.count)
                .unwrap_or_else(|| panic!("no bucket le={bound}"))
        };
        assert_eq!(count_le(0.005), 1.0);
        assert_eq!(count_le(1.0), 2.0);
        assert_eq!(count_le(60.0), 2.0);
        assert_eq!(count_le(f64::INFINITY), 3.0);
        let bounds: Vec<f64> = buckets.iter().map(|b| b.less_than).collect();
        assert_eq!(bounds.first(), Some(&0.005));
        assert!(bounds.contains(&60.0));

        parsed.assert_family("holdfast_resource_ready", SampleType::Gauge);
        let resource = |name| [("kind", "service"), ("name", name), ("project", "shop")];
        assert_eq!(
            parsed.value("holdfast_resource_ready", &resource("web")),
            1.0
        );
        assert_eq!(
            parsed.value("holdfast_resource_ready", &resource("db")),
            0.0
        );
        assert!(
            parsed
                .sample("holdfast_resource_ready", &resource("old"))
                .is_none(),
            "removed resource still exported:\n{text}"
        );

        parsed.assert_family("holdfast_resources_drifting", SampleType::Gauge);
        assert_eq!(parsed.value("holdfast_resources_drifting", &service), 2.0);

        parsed.assert_family("holdfast_drift_corrections", SampleType::Counter);
        assert_eq!(
            parsed.value("holdfast_drift_corrections_total", &service),
            2.0
        );

        parsed.assert_family("holdfast_unhealthy_restarts", SampleType::Counter);
        let restarts = "holdfast_unhealthy_restarts_total";
        assert_eq!(
            parsed.value(restarts, &[("kind", "service"), ("name", "shop-web")]),
            2.0
        );
        assert_eq!(
            parsed.value(restarts, &[("kind", "service"), ("name", "shop-db")]),
            1.0
        );

        parsed.assert_family("holdfast_work_queue_depth", SampleType::Gauge);
        assert_eq!(parsed.value("holdfast_work_queue_depth", &[]), 4.0);

        parsed.assert_family("holdfast_retries_scheduled", SampleType::Counter);
        assert_eq!(
            parsed.value("holdfast_retries_scheduled_total", &service),
            2.0
        );

        parsed.assert_family("holdfast_build_info", SampleType::Gauge);
        let version = [("version", env!("CARGO_PKG_VERSION"))];
        assert_eq!(parsed.value("holdfast_build_info", &version), 1.0);

        parsed.assert_family("holdfast_source_fetches", SampleType::Counter);
        let fetches = "holdfast_source_fetches_total";
        assert_eq!(parsed.value(fetches, &[("result", "ok")]), 2.0);
        assert_eq!(parsed.value(fetches, &[("result", "error")]), 1.0);
        parsed.assert_family("holdfast_source_invalid_commits", SampleType::Counter);
        assert_eq!(
            parsed.value("holdfast_source_invalid_commits_total", &[]),
            1.0
        );
        parsed.assert_family("holdfast_source_failing", SampleType::Gauge);
        assert_eq!(parsed.value("holdfast_source_failing", &[]), 1.0);
        parsed.assert_family("holdfast_source_pinned", SampleType::Gauge);
        assert_eq!(parsed.value("holdfast_source_pinned", &[]), 1.0);

        // Nothing but the families above, and no counter encoded without `_total`.
        let mut families: Vec<&str> = parsed.types.keys().map(String::as_str).collect();
        families.sort_unstable();
        assert_eq!(
            families,
            [
                "holdfast_build_info",
                "holdfast_drift_corrections",
                "holdfast_reconcile_duration_seconds",
                "holdfast_reconciles",
                "holdfast_resource_ready",
                "holdfast_resources_drifting",
                "holdfast_retries_scheduled",
                "holdfast_source_failing",
                "holdfast_source_fetches",
                "holdfast_source_invalid_commits",
                "holdfast_source_pinned",
                "holdfast_unhealthy_restarts",
                "holdfast_work_queue_depth",
            ]
        );
        for sample in &parsed.scrape.samples {
            if parsed.types.get(&sample.metric) == Some(&SampleType::Counter) {
                panic!("counter sample {} lacks _total", sample.metric);
            }
        }
    }

    #[test]
    fn a_fresh_registry_exports_zeroed_service_series_and_build_info() {
        let metrics = Metrics::new();
        metrics.register_kind("service");
        let parsed = Parsed::new(&metrics.encode());
        let version = [("version", env!("CARGO_PKG_VERSION"))];
        assert_eq!(parsed.value("holdfast_build_info", &version), 1.0);
        assert_eq!(parsed.value("holdfast_work_queue_depth", &[]), 0.0);
        parsed.assert_family("holdfast_reconciles", SampleType::Counter);
        for result in RESULTS {
            let labels = [("kind", "service"), ("result", result)];
            assert_eq!(parsed.value("holdfast_reconciles_total", &labels), 0.0);
        }
        let service = [("kind", "service")];
        for counter in [
            "holdfast_drift_corrections_total",
            "holdfast_retries_scheduled_total",
        ] {
            assert_eq!(parsed.value(counter, &service), 0.0, "{counter}");
        }
        assert_eq!(parsed.value("holdfast_resources_drifting", &service), 0.0);
        assert_eq!(
            parsed.value("holdfast_reconcile_duration_seconds_count", &service),
            0.0
        );
        // Families without a series are left out of the exposition entirely.
        assert!(!parsed.types.contains_key("holdfast_resource_ready"));
        assert!(!parsed.types.contains_key("holdfast_unhealthy_restarts"));
    }
}
