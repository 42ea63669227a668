//! The service kind as the runtime drives it: [`Service`] implements
//! [`Kind`](crate::runtime::kind::Kind) over [`reconcile`](super::reconcile::reconcile).
//!
//! The kind keeps what only services have: the crash-loop backoff (fed by the
//! container events the runtime hands it), the unhealthy-restart budget, what
//! `pull_policy: always` pulled, and the engine ([`Host`]: the client and its cache).

use std::collections::BTreeMap;
use std::sync::Mutex;

use std::sync::Arc;

use crate::docker::Host;
use holdfast_spec::{DependencyCondition, DesiredState, DriftMode};

use super::crashloop::CrashLoop;
use super::labels;
use super::observe;
use super::plan::{Action, SPEC_CHANGED};
use super::reconcile::{self, Context, Outcome, ReconcileError, RestartLimiter};
use super::rollout::Rollouts;
use super::{ContainerState, Health, KIND, LiveContainer, diff};
use crate::runtime::kind::{
    self, Column, Cx, DesiredObject, ErrorAction, HostEvent, Kind, Need, ObjectRef, Owned, Show,
};
use crate::runtime::lock;

/// What a service publishes while its container runs: the container's ID.
pub const RUNNING: &str = "running";
/// What a service publishes while its container runs and is healthy (or has no health
/// check).
pub const HEALTHY: &str = "healthy";
/// What a service publishes while its container has exited with code 0: the container's
/// ID. A one-shot (`service_completed_successfully`) has then completed.
pub const COMPLETED: &str = "completed";
/// What a service publishes while it has a container at all: its ID.
pub const CONTAINER: &str = "container";
/// What a service publishes while its container runs: when it last started, so that a
/// restart in place (same ID) queues the dependents with `restart: true`.
pub const STARTED: &str = "started";

/// The `holdfast get` columns of a service.
const COLUMNS: &[Column] = &[
    Column {
        name: "IMAGE",
        show: Show::Wide,
    },
    Column {
        name: "PORTS",
        show: Show::Wide,
    },
    Column {
        name: "CONTAINER",
        show: Show::Describe,
    },
    Column {
        name: "ROLLOUT",
        show: Show::Describe,
    },
];

/// The service kind: one container per Compose service.
#[derive(Debug)]
pub struct Service {
    host: Arc<Host>,
    crashes: Mutex<CrashLoop>,
    restarts: Mutex<RestartLimiter>,
    pulled: crate::docker::image::Pulled,
    rollouts: Option<Rollouts>,
    configs_dir: std::path::PathBuf,
}

impl Service {
    /// The service kind, on `host`, replacing every container stop-first.
    pub fn new(host: Arc<Host>) -> Self {
        Service {
            host,
            crashes: Mutex::new(CrashLoop::default()),
            restarts: Mutex::new(RestartLimiter::default()),
            pulled: crate::docker::image::Pulled::default(),
            rollouts: None,
            configs_dir: std::env::temp_dir().join("holdfast-configs"),
        }
    }

    /// The kind, writing the copies of configs under `dir` (by default a folder in
    /// the system's temporary directory).
    pub fn with_configs_dir(self, dir: std::path::PathBuf) -> Self {
        Service {
            configs_dir: dir,
            ..self
        }
    }

    /// The service kind, updating start-first services through `rollouts`.
    pub fn with_rollouts(host: Arc<Host>, rollouts: Rollouts) -> Self {
        Service {
            rollouts: Some(rollouts),
            ..Service::new(host)
        }
    }

    /// The start-first update records, when the kind updates start-first.
    pub fn rollouts(&self) -> Option<&Rollouts> {
        self.rollouts.as_ref()
    }
}

/// The need that `depends_on: {dep: {condition}}` makes.
fn need(dep: &str, condition: DependencyCondition) -> Need {
    Need::Published {
        of: ObjectRef::new(KIND, dep),
        key: match condition {
            DependencyCondition::ServiceStarted => RUNNING,
            DependencyCondition::ServiceHealthy => HEALTHY,
            DependencyCondition::ServiceCompletedSuccessfully => COMPLETED,
        }
        .to_string(),
    }
}

/// What a service publishes, given its container as the pass left it and, when the
/// pass observed that same container, its live addresses: `endpoint:PORT` for each
/// container port bound on 127.0.0.1 and, with `addresses`, `address:NETWORK` for its IP
/// on each network, which routes point their proxy at.
fn published(
    container: Option<&str>,
    after: Option<(ContainerState, Health)>,
    started_at: Option<&str>,
    live: Option<&LiveContainer>,
    addresses: bool,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(id) = container else {
        return out;
    };
    out.insert(CONTAINER.to_string(), id.to_string());
    if let Some((ContainerState::Exited { code: 0 }, _)) = after {
        out.insert(COMPLETED.to_string(), id.to_string());
    }
    if let Some((ContainerState::Running, health)) = after {
        out.insert(RUNNING.to_string(), id.to_string());
        if let Some(at) = started_at.filter(|at| !at.is_empty()) {
            out.insert(STARTED.to_string(), at.to_string());
        }
        if matches!(health, Health::None | Health::Healthy) {
            out.insert(HEALTHY.to_string(), "true".to_string());
        }
        if let Some(live) = live.filter(|l| l.id == id) {
            for p in &live.ports {
                if let (Some(host_port), "127.0.0.1") = (p.host_port, p.host_ip.as_str()) {
                    out.insert(
                        crate::resources::route::desired::endpoint_key(p.container_port),
                        format!("127.0.0.1:{host_port}"),
                    );
                }
            }
            for (network, ip) in live.addresses.iter().filter(|_| addresses) {
                out.insert(
                    crate::resources::route::desired::address_key(network),
                    ip.clone(),
                );
            }
        }
    }
    out
}

fn action(a: &Action, service: &str) -> Option<kind::Action> {
    let (reason, warning) = match a {
        Action::Nothing => return None,
        Action::Create => ("Created", false),
        Action::Start => ("Started", false),
        Action::Recreate { .. } => ("Recreated", false),
        Action::Restart { .. } => ("Restarted", true),
    };
    Some(kind::Action {
        reason,
        warning,
        description: a.describe(service),
    })
}

/// Whether `a` puts a broken container back (RESTARTS, as kubectl counts them): a
/// start, a restart, a replacement of a container changed by hand, or a re-creation of
/// one that was removed (`had_container`). Creating a new service and replacing a
/// container because the file changed are not repairs.
fn is_repair(a: &Action, had_container: bool) -> bool {
    match a {
        Action::Start | Action::Restart { .. } => true,
        Action::Recreate { reasons } => reasons.iter().any(|r| r != SPEC_CHANGED),
        Action::Create => had_container,
        Action::Nothing => false,
    }
}

/// The runtime's report of a service's report.
fn convert(
    name: &str,
    report: reconcile::Report,
    had_container: bool,
    plan_mode: bool,
    addresses: bool,
) -> kind::Report {
    let outcome = report.outcome.clone();
    let mut out = kind::Report::new(outcome);
    let actions = report
        .plan
        .as_ref()
        .map(|p| p.actions.clone())
        .unwrap_or_default();
    out.actions = actions.iter().filter_map(|a| action(a, name)).collect();
    out.repaired = report.applied && actions.iter().any(|a| is_repair(a, had_container));
    out.drift = report
        .plan
        .as_ref()
        .map(|p| {
            p.drift
                .iter()
                .map(|d| kind::FieldDrift {
                    field: d.field.to_string(),
                    desired: d.desired.clone(),
                    live: d.live.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    out.drifted = report.drifted;
    out.applied = report.applied;
    out.restarted = report.restarted;
    out.spec_hash = report.spec_hash.clone();
    // A held pass (suspended, report-only) did none of its steps: they say what would
    // be done, which `holdfast plan` shows, but which are no `Applied` events.
    if !report.held || plan_mode {
        out.steps = report.steps.clone();
    }
    if let Some(image) = &report.image {
        out.columns.insert("IMAGE".into(), image.clone());
    }
    out.columns.insert(
        "PORTS".into(),
        if report.ports.is_empty() {
            "<none>".into()
        } else {
            report.ports.join(",")
        },
    );
    if let Some(rollout) = &report.rollout {
        out.columns.insert("ROLLOUT".into(), rollout.clone());
    }
    // The containers: the service's one, or each replica's.
    let parts: &[reconcile::Report] = if report.replicas.is_empty() {
        std::slice::from_ref(&report)
    } else {
        &report.replicas
    };
    let ids: Vec<&str> = parts
        .iter()
        .filter_map(|r| r.container.as_deref())
        .map(|c| c.get(..12).unwrap_or(c))
        .collect();
    if !ids.is_empty() {
        out.columns.insert("CONTAINER".into(), ids.join(","));
    }
    out.published = match parts {
        [one] if report.replicas.is_empty() => published_of(one, addresses),
        _ => published_by_replicas(parts, addresses),
    };
    if plan_mode {
        let (mut live, mut desired) = (String::new(), String::new());
        for r in parts {
            let (l, d) = diff::render_pair(r.desired.as_ref(), r.live.as_ref(), &r.image_defaults);
            live.push_str(&l);
            desired.push_str(&d);
        }
        out.diff = Some((live, desired));
    }
    out
}

/// What the container of `report` publishes: see [`published`].
fn published_of(report: &reconcile::Report, addresses: bool) -> BTreeMap<String, String> {
    published(
        report.container.as_deref(),
        report.after,
        report.started_at.as_deref(),
        report.live.as_ref(),
        addresses,
    )
}

/// What a service of several replicas publishes: [`CONTAINER`] while any has a
/// container; [`RUNNING`], [`HEALTHY`] and [`COMPLETED`] once every replica is so
/// (each value lists the replicas' IDs); and the addresses of the replicas that are
/// running and healthy, comma-separated, so that a route sends traffic to those and
/// keeps serving while one is replaced.
fn published_by_replicas(
    replicas: &[reconcile::Report],
    addresses: bool,
) -> BTreeMap<String, String> {
    let each: Vec<BTreeMap<String, String>> = replicas
        .iter()
        .map(|r| published_of(r, addresses))
        .collect();
    let mut out = BTreeMap::new();
    let joined = |key: &str, all: bool| -> Option<String> {
        let values: Vec<&str> = each
            .iter()
            .filter_map(|p| p.get(key).map(String::as_str))
            .collect();
        (!values.is_empty() && (!all || values.len() == each.len())).then(|| values.join(","))
    };
    if let Some(ids) = joined(CONTAINER, false) {
        out.insert(CONTAINER.to_string(), ids);
    }
    for key in [RUNNING, HEALTHY, COMPLETED] {
        if let Some(v) = joined(key, true) {
            out.insert(key.to_string(), v);
        }
    }
    // The latest start: a dependent with `restart: true` follows any replica's.
    if let Some(latest) = each
        .iter()
        .filter_map(|p| p.get(STARTED))
        .max_by_key(|at| super::reconcile::started_key(at))
    {
        out.insert(STARTED.to_string(), latest.clone());
    }
    let healthy = each.iter().filter(|p| p.contains_key(HEALTHY));
    let mut routed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in healthy {
        for (k, v) in p {
            if k.starts_with("endpoint:") || k.starts_with("address:") {
                routed.entry(k.clone()).or_default().push(v.clone());
            }
        }
    }
    for (k, v) in routed {
        out.insert(k, v.join(","));
    }
    out
}

impl Kind for Service {
    const KIND: &'static str = KIND;
    const ALIASES: &'static [&'static str] = &["services", "svc"];
    type Error = ReconcileError;

    fn desired(&self, state: &DesiredState) -> Vec<DesiredObject> {
        state
            .services
            .iter()
            .map(|(name, service)| DesiredObject {
                name: name.clone(),
                hash: service.content_hash(),
                spec: serde_json::to_value(service).unwrap_or_default(),
                needs: service
                    .depends_on
                    .iter()
                    .map(|(dep, how)| need(dep, how.condition))
                    .collect(),
            })
            .collect()
    }

    async fn owned(&self, project: &str) -> Result<Vec<Owned>, ReconcileError> {
        let cache = self.host.cache();
        let observer = observe::Observer::new(self.host.docker(), cache.as_deref(), project);
        let containers =
            observer
                .owned(project, None)
                .await
                .map_err(|source| ReconcileError::Docker {
                    op: "list the project's containers",
                    source,
                })?;
        let mut by_service: BTreeMap<String, usize> = BTreeMap::new();
        for (_, service) in containers {
            *by_service.entry(service).or_default() += 1;
        }
        Ok(by_service
            .into_iter()
            .map(|(name, weight)| Owned { name, weight })
            .collect())
    }

    async fn reconcile(&self, name: &str, cx: &Cx<'_>) -> Result<kind::Report, ReconcileError> {
        let own = ObjectRef::new(KIND, name);
        let had_container = cx.published(&own, CONTAINER).is_some();
        let start_wait = lock(&self.crashes).wait(name);
        let cache = self.host.cache();
        let scx = Context {
            docker: self.host.docker(),
            state: cx.state,
            mode: match cx.mode {
                kind::Mode::Plan => reconcile::Mode::Plan,
                kind::Mode::Apply => reconcile::Mode::Apply,
            },
            suspended: cx.suspended,
            removal_allowed: cx.removal_allowed,
            restarts: &self.restarts,
            start_wait,
            revision: cx.revision,
            waiting_for: cx.waiting_for,
            cache: cache.as_deref(),
            pulled: &self.pulled,
            creating: self.host.creating(),
            rollouts: self.rollouts.as_ref(),
            configs_dir: &self.configs_dir,
        };
        let report = reconcile::reconcile(&scx, name).await?;
        if report.applied
            && report.plan.as_ref().is_some_and(|p| {
                p.actions
                    .iter()
                    .any(|a| matches!(a, Action::Create | Action::Start | Action::Recreate { .. }))
            })
        {
            lock(&self.crashes).started(name);
        }
        if report.outcome == Outcome::Ready {
            lock(&self.crashes).ready(name);
        }
        // Network addresses matter only to a proxy that runs as a service.
        let addresses = cx.state.proxy.as_ref().is_some_and(|p| p.service.is_some());
        Ok(convert(
            name,
            report,
            had_container,
            cx.mode == kind::Mode::Plan,
            addresses,
        ))
    }

    fn error_policy(&self, error: &ReconcileError, _retries: u32) -> ErrorAction {
        if error.is_permanent() {
            ErrorAction::Stall
        } else {
            ErrorAction::Retry
        }
    }

    fn on_host_event(&self, project: &str, event: &HostEvent) -> Vec<String> {
        if event.object != "container"
            || event.labels.get(labels::PROJECT).map(String::as_str) != Some(project)
        {
            return Vec::new();
        }
        let Some(service) = event.labels.get(labels::SERVICE) else {
            return Vec::new();
        };
        lock(&self.crashes).on_event(service, &event.id, &event.action);
        vec![service.clone()]
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        if let Some(r) = &self.rollouts {
            r.metrics().register(registry);
        }
    }

    /// A service left out because its profiles are inactive keeps its container, as
    /// in Compose: it is not gone from the file.
    fn kept(&self, state: &DesiredState, name: &str) -> bool {
        state.inactive_services.contains(name)
    }

    fn report_only(&self, state: &DesiredState, name: &str) -> bool {
        state
            .services
            .get(name)
            .is_some_and(|s| s.holdfast.drift == DriftMode::Report)
    }
}

#[cfg(test)]
mod tests {
    use super::super::plan::UNHEALTHY;
    use super::*;

    #[test]
    fn repairs_are_counted_as_kubectl_counts_restarts() {
        assert!(is_repair(&Action::Start, false));
        assert!(is_repair(
            &Action::Restart {
                reason: UNHEALTHY.into()
            },
            false
        ));
        assert!(!is_repair(
            &Action::Recreate {
                reasons: vec![SPEC_CHANGED.into()]
            },
            true
        ));
        assert!(is_repair(
            &Action::Recreate {
                reasons: vec!["env changed".into()]
            },
            true
        ));
        assert!(!is_repair(&Action::Create, false), "a new service");
        assert!(is_repair(&Action::Create, true), "a removed container");
        assert!(!is_repair(&Action::Nothing, true));
    }

    #[test]
    fn depends_on_becomes_needs() {
        assert_eq!(
            need("db", DependencyCondition::ServiceHealthy),
            Need::Published {
                of: ObjectRef::new("service", "db"),
                key: HEALTHY.into()
            }
        );
        assert_eq!(
            need("db", DependencyCondition::ServiceStarted),
            Need::Published {
                of: ObjectRef::new("service", "db"),
                key: RUNNING.into()
            }
        );
    }
}
