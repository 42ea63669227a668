//! The controller: keeps a project's services as the desired state says.
//!
//! It owns the work queue (keys are service names), the per-service backoff and the
//! restart budget, runs [`reconcile`](crate::resources::service::reconcile::reconcile)
//! for each key, and records what it saw as status and events. Triggers (a new desired
//! state, Docker events, periodic resync) only ever add keys to the queue: every
//! reconcile looks at the live state afresh, so a missed or repeated trigger is harmless.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bollard::Docker;
use holdfast_spec::DesiredState;
use tokio::sync::watch;

use super::backoff::{Backoff, BackoffPolicy};
use super::crashloop::CrashLoop;
use super::lock;
use super::queue::{WorkQueue, run_workers};
use super::store::{Event, EventKind, Phase, ResourceStatus, Store, now_ms};
use crate::docker::events::ContainerEvent;
use crate::resources::service::plan::Action;
use crate::resources::service::reconcile::{
    self, Context, Mode, Outcome, ReconcileError, Report, RestartLimiter,
};
use crate::resources::service::{KIND, key as service_key, observe};

/// How the controller behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Services reconciled at once.
    pub workers: usize,
    /// How often every service is looked at even without a trigger (±20 % jitter).
    pub resync: Duration,
    /// Remove containers even when that removes all, or more than half, of the
    /// project's containers.
    pub allow_mass_removal: bool,
    /// Retry delays after failures.
    pub backoff: BackoffPolicy,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            workers: 4,
            resync: Duration::from_secs(30),
            allow_mass_removal: false,
            backoff: BackoffPolicy::default(),
        }
    }
}

/// The desired state in force, with what was decided about it.
#[derive(Debug)]
struct Desired {
    state: DesiredState,
    hash: String,
    removal_allowed: bool,
    /// Counts desired states given; a status counts toward convergence only when it
    /// was observed under the current one.
    generation: u64,
    /// The git commit the state came from, if it came from git.
    revision: Option<String>,
}

/// What happened when a new desired state was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Services to reconcile (in the file, or with containers still running).
    pub keys: Vec<String>,
    /// Services whose containers would be removed.
    pub removals: Vec<String>,
    /// Whether the mass-removal guard refused those removals.
    pub removal_refused: bool,
}

/// The controller of one project.
#[derive(Debug)]
pub struct Controller {
    docker: Docker,
    store: Option<Arc<Store>>,
    options: Options,
    desired: RwLock<Option<Arc<Desired>>>,
    queue: Arc<WorkQueue<String>>,
    backoff: Mutex<Backoff<String>>,
    restarts: Mutex<RestartLimiter>,
    crashes: Mutex<CrashLoop>,
    /// Service → the generation it was last reconciled under.
    reconciled: Mutex<HashMap<String, u64>>,
    statuses: Mutex<BTreeMap<String, ResourceStatus>>,
    /// Service → the service hash it stalled at; not retried until that changes.
    stalled: Mutex<HashMap<String, String>>,
    changed: watch::Sender<u64>,
    closed: watch::Sender<bool>,
    metrics: crate::api::metrics::Metrics,
    source: Mutex<Option<String>>,
    git: std::sync::OnceLock<Arc<crate::source::git::follow::GitSource>>,
    cache: RwLock<Option<Arc<crate::docker::cache::EngineCache>>>,
}

/// What a desired state would remove, given the project's containers.
struct Removals {
    /// Services that have containers but are not in the file.
    services: Vec<String>,
    /// How many containers that is.
    containers: usize,
    /// Whether that is all of the project's containers, or more than half: the
    /// mass-removal guard's rule (an empty or broken source must never prune everything).
    mass: bool,
}

fn removals(state: &DesiredState, owned: &[(String, String)]) -> Removals {
    let services: Vec<String> = owned
        .iter()
        .map(|(_, s)| s.clone())
        .collect::<BTreeSet<String>>()
        .into_iter()
        .filter(|s| !state.services.contains_key(s))
        .collect();
    let containers = owned.iter().filter(|(_, s)| services.contains(s)).count();
    let mass = !services.is_empty() && (containers == owned.len() || containers * 2 > owned.len());
    Removals {
        services,
        containers,
        mass,
    }
}

/// Whether a pass put a broken container back (RESTARTS, as kubectl counts them): a
/// start, an unhealthy restart, a replacement of a container changed by hand, or a
/// re-creation of one that was removed. Creating a new service and replacing a
/// container because the file changed are not repairs.
fn is_repair(report: &Report, previous: Option<&ResourceStatus>) -> bool {
    let Some(plan) = &report.plan else {
        return false;
    };
    plan.actions.iter().any(|a| match a {
        Action::Start | Action::Restart { .. } => true,
        Action::Recreate { reasons } => reasons
            .iter()
            .any(|r| r != crate::resources::service::plan::SPEC_CHANGED),
        Action::Create => previous.is_some_and(|p| p.container.is_some()),
        Action::Nothing => false,
    })
}

impl Desired {
    /// The hash of `service`'s spec ("" when the file no longer has it).
    fn service_hash(&self, service: &str) -> String {
        self.state
            .services
            .get(service)
            .map(|s| s.content_hash())
            .unwrap_or_default()
    }
}

impl Controller {
    /// A controller with nothing to do yet. `store` keeps status and events across
    /// restarts; without it they live in memory only.
    pub fn new(docker: Docker, store: Option<Arc<Store>>, options: Options) -> Arc<Self> {
        let backoff = Backoff::new(options.backoff);
        let (changed, _) = watch::channel(0);
        let (closed, _) = watch::channel(false);
        Arc::new(Controller {
            docker,
            store,
            options,
            desired: RwLock::new(None),
            queue: Arc::new(WorkQueue::new()),
            backoff: Mutex::new(backoff),
            restarts: Mutex::new(RestartLimiter::default()),
            crashes: Mutex::new(CrashLoop::default()),
            reconciled: Mutex::new(HashMap::new()),
            statuses: Mutex::new(BTreeMap::new()),
            stalled: Mutex::new(HashMap::new()),
            changed,
            closed,
            metrics: crate::api::metrics::Metrics::new(),
            source: Mutex::new(None),
            git: std::sync::OnceLock::new(),
            cache: RwLock::new(None),
        })
    }

    /// The engine client.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Observe through `cache` from now on (the daemon's event-fed cache, or a one-shot
    /// apply's snapshot); `None` observes the engine directly.
    pub fn set_cache(&self, cache: Option<Arc<crate::docker::cache::EngineCache>>) {
        *self.cache.write().unwrap_or_else(|e| e.into_inner()) = cache;
    }

    /// The engine cache observe goes through, if any.
    pub fn cache(&self) -> Option<Arc<crate::docker::cache::EngineCache>> {
        self.cache.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The project name in force, if a desired state was given.
    pub fn project(&self) -> Option<String> {
        self.current().map(|d| d.state.name.clone())
    }

    fn current(&self) -> Option<Arc<Desired>> {
        self.desired
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Records an event (in the store when there is one) and logs it.
    pub fn event(&self, project: &str, object: &str, kind: EventKind, reason: &str, message: &str) {
        match kind {
            EventKind::Normal => tracing::info!(project, object, reason, "{message}"),
            EventKind::Warning => tracing::warn!(project, object, reason, "{message}"),
        }
        if let Some(store) = &self.store {
            let event = match kind {
                EventKind::Normal => Event::normal(project, object, reason, message),
                EventKind::Warning => Event::warning(project, object, reason, message),
            };
            if let Err(e) = store.record(event) {
                tracing::error!(error = %e, "cannot record an event");
            }
        }
    }

    /// Makes `state` the desired state and queues every service it names, plus every
    /// service that still has containers. Removals that would take away all, or more
    /// than half, of the project's containers are refused unless allowed.
    pub async fn set_desired(
        &self,
        state: DesiredState,
    ) -> Result<Accepted, bollard::errors::Error> {
        self.set_desired_at(state, None).await
    }

    /// As [`Controller::set_desired`], for a state read from the git commit `revision`:
    /// resources applied under it record the commit, and new containers carry it as a
    /// label.
    pub async fn set_desired_at(
        &self,
        state: DesiredState,
        revision: Option<String>,
    ) -> Result<Accepted, bollard::errors::Error> {
        let cache = self.cache();
        let observer = observe::Observer::new(&self.docker, cache.as_deref(), &state.name);
        let owned = observer.owned(&state.name, None).await?;
        let Removals {
            services: removals,
            containers: removed_containers,
            mass,
        } = removals(&state, &owned);
        let removal_refused = mass && !self.options.allow_mass_removal;
        if removal_refused {
            self.event(
                &state.name,
                "project",
                EventKind::Warning,
                "MassRemovalRefused",
                &format!(
                    "the desired state would remove {removed_containers} of {} containers ({}); nothing is removed. Pass --allow-mass-removal if this is intended",
                    owned.len(),
                    removals.join(", ")
                ),
            );
        }
        let hash = state.content_hash();
        let previous = self.current();
        if previous.is_none()
            && let Some(store) = &self.store
        {
            // After a restart of the controller, carry on from the stored status.
            match store.statuses(Some(&state.name)) {
                Ok(stored) => {
                    let mut statuses = lock(&self.statuses);
                    for s in stored {
                        statuses.entry(s.key.clone()).or_insert(s);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read stored status"),
            }
        }
        if previous.as_ref().is_none_or(|p| p.hash != hash) {
            let services = state.services.len();
            self.event(
                &state.name,
                "project",
                EventKind::Normal,
                "DesiredStateLoaded",
                &format!(
                    "desired state {} with {services} services",
                    &hash[..12.min(hash.len())]
                ),
            );
        }
        // Services in the file, services whose containers still run, and services with
        // a status left from before (so that stale entries are cleared).
        let stale: Vec<String> = lock(&self.statuses)
            .keys()
            .map(|k| k.trim_start_matches("service/").to_string())
            .filter(|s| !state.services.contains_key(s) && !removals.contains(s))
            .collect();
        let keys: Vec<String> = state
            .services
            .keys()
            .cloned()
            .chain(removals.iter().cloned())
            .chain(stale)
            .collect();
        *self.desired.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(Desired {
            state,
            hash,
            removal_allowed: !removal_refused,
            generation: previous.as_ref().map_or(1, |p| p.generation + 1),
            revision,
        }));
        // Watchers (the Docker event follower, convergence waits) look again.
        self.changed.send_modify(|n| *n += 1);
        // A new spec may fix what retrying could not.
        lock(&self.stalled).clear();
        for key in &keys {
            self.queue.add(key.clone());
        }
        Ok(Accepted {
            keys,
            removals,
            removal_refused,
        })
    }

    /// Queues `service` now, unless it is stalled on an unchanged spec.
    pub fn trigger(&self, service: &str) {
        if self.is_stalled(service) {
            return;
        }
        self.queue.add(service.to_string());
    }

    /// Feeds a Docker event of one of the project's containers: counts crashes, and
    /// queues the service.
    pub fn on_event(&self, event: &ContainerEvent) {
        lock(&self.crashes).on_event(&event.service, &event.container, &event.action);
        self.trigger(&event.service);
    }

    fn is_stalled(&self, service: &str) -> bool {
        let Some(desired) = self.current() else {
            return false;
        };
        lock(&self.stalled).get(service) == Some(&desired.service_hash(service))
    }

    /// Queues every service of the desired state (a resync).
    pub fn trigger_all(&self) {
        let Some(desired) = self.current() else {
            return;
        };
        for name in desired.state.services.keys() {
            self.trigger(name);
        }
    }

    /// Runs the workers until [`Controller::shutdown`].
    pub async fn run_workers(self: &Arc<Self>) {
        let this = self.clone();
        run_workers(
            self.queue.clone(),
            self.options.workers,
            move |key: String| {
                let this = this.clone();
                async move { this.reconcile_key(&key).await }
            },
        )
        .await;
    }

    /// Resyncs every `options.resync` (with jitter) until shutdown.
    pub async fn run_resync(self: &Arc<Self>) {
        let mut rng = fastrand::Rng::new();
        let mut closed = self.closed.subscribe();
        loop {
            let period = self.options.resync.as_secs_f64() * (0.8 + 0.4 * rng.f64());
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs_f64(period)) => self.trigger_all(),
                _ = closed.wait_for(|c| *c) => return,
            }
        }
    }

    /// Stops handing out work; running reconciles finish.
    pub fn shutdown(&self) {
        self.queue.close();
        self.closed.send_replace(true);
    }

    /// A receiver that turns true on shutdown.
    pub fn closed(&self) -> watch::Receiver<bool> {
        self.closed.subscribe()
    }

    /// The current status of every resource, by key.
    pub fn statuses(&self) -> BTreeMap<String, ResourceStatus> {
        lock(&self.statuses).clone()
    }

    /// A receiver that changes whenever a status or the desired state does.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Whether every service of the desired state is Ready and no removed service
    /// still has a container waiting to go.
    pub fn converged(&self) -> bool {
        let Some(desired) = self.current() else {
            return false;
        };
        let statuses = lock(&self.statuses);
        let reconciled = lock(&self.reconciled);
        desired.state.services.keys().all(|name| {
            reconciled.get(name) == Some(&desired.generation)
                && statuses
                    .get(&service_key(name))
                    .is_some_and(|s| s.phase == Phase::Ready)
        }) && statuses.values().all(|s| {
            desired
                .state
                .services
                .contains_key(s.key.trim_start_matches("service/"))
                || s.phase == Phase::Stalled
        }) && self.queue.is_empty()
    }

    /// Reconciles `service` once and records the result.
    async fn reconcile_key(&self, service: &str) {
        let Some(desired) = self.current() else {
            return;
        };
        let project = desired.state.name.clone();
        let key = service_key(service);
        let cache = self.cache();
        let previous = lock(&self.statuses).get(&key).cloned();
        let suspended = previous.as_ref().is_some_and(|s| s.suspended)
            || self
                .store
                .as_ref()
                .and_then(|s| s.status(&project, &key).ok().flatten())
                .is_some_and(|s| s.suspended);
        let cx = Context {
            docker: &self.docker,
            state: &desired.state,
            mode: Mode::Apply,
            suspended,
            removal_allowed: desired.removal_allowed,
            restarts: &self.restarts,
            start_wait: lock(&self.crashes).wait(service),
            revision: desired.revision.as_deref(),
            cache: cache.as_deref(),
        };
        let started = std::time::Instant::now();
        let result = reconcile::reconcile(&cx, service).await;
        let elapsed = started.elapsed();
        lock(&self.reconciled).insert(service.to_string(), desired.generation);
        tracing::debug!(
            service,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "reconciled"
        );
        let mut status = previous.clone().unwrap_or_else(|| ResourceStatus {
            key: key.clone(),
            project: project.clone(),
            phase: Phase::Progressing,
            message: String::new(),
            last_error: None,
            retries: 0,
            next_retry: None,
            applied_hash: None,
            observed_at: 0,
            drift: Vec::new(),
            report_only: false,
            suspended,
            restarts: 0,
            image: None,
            ports: Vec::new(),
            container: None,
            since: now_ms(),
            revision: None,
        });
        status.observed_at = now_ms();
        status.suspended = suspended;
        status.report_only = desired
            .state
            .services
            .get(service)
            .is_some_and(|s| s.holdfast.drift == holdfast_spec::DriftMode::Report);
        match result {
            Ok(report) => {
                self.record_report(&project, &key, &report, previous.as_ref());
                let applied_start = report.applied
                    && report.plan.as_ref().is_some_and(|p| {
                        p.actions.iter().any(|a| {
                            matches!(a, Action::Create | Action::Start | Action::Recreate { .. })
                        })
                    });
                lock(&self.stalled).remove(service);
                if applied_start {
                    lock(&self.crashes).started(service);
                }
                if report.outcome == Outcome::Ready {
                    lock(&self.crashes).ready(service);
                }
                lock(&self.backoff).succeeded(&service.to_string());
                status.retries = 0;
                status.next_retry = None;
                status.last_error = None;
                status.drift = report
                    .plan
                    .as_ref()
                    .map(|p| p.drift.iter().map(|d| d.field.to_string()).collect())
                    .unwrap_or_default();
                if report.applied && report.drifted {
                    self.metrics.drift_corrected(KIND);
                }
                if report.restarted {
                    self.metrics.unhealthy_restart(service);
                }
                if report.applied && is_repair(&report, previous.as_ref()) {
                    status.restarts += 1;
                }
                status.image = report.image.clone();
                status.ports = report.ports.clone();
                status.container = report.container.clone();
                match &report.outcome {
                    Outcome::Ready => {
                        status.phase = if suspended {
                            Phase::Suspended
                        } else {
                            Phase::Ready
                        };
                        status.message = "running".into();
                        status.applied_hash = report.spec_hash.clone();
                        status.revision = desired.revision.clone();
                    }
                    Outcome::Progressing {
                        reason,
                        retry_after,
                    } => {
                        status.phase = Phase::Progressing;
                        status.message = reason.clone();
                        status.applied_hash = report.spec_hash.clone();
                        status.revision = desired.revision.clone();
                        self.queue.add_after(service.to_string(), *retry_after);
                    }
                    Outcome::Degraded { reason } => {
                        status.phase = Phase::Degraded;
                        status.message = reason.clone();
                        self.queue
                            .add_after(service.to_string(), self.options.resync);
                    }
                    Outcome::Drifted => {
                        status.phase = if suspended {
                            Phase::Suspended
                        } else {
                            Phase::Degraded
                        };
                        status.message = format!(
                            "differs from the file ({}); not corrected ({})",
                            status.drift.join(", "),
                            if suspended {
                                "suspended"
                            } else {
                                "report-only"
                            }
                        );
                    }
                    Outcome::Removed => {
                        self.metrics.observe_reconcile(KIND, "removed", elapsed);
                        self.metrics.remove_resource(KIND, &project, service);
                        lock(&self.statuses).remove(&key);
                        if let Some(store) = &self.store {
                            let _ = store.remove_status(&project, &key);
                        }
                        self.changed.send_modify(|n| *n += 1);
                        return;
                    }
                    Outcome::RemovalRefused => {
                        status.phase = Phase::Stalled;
                        status.message =
                            "removed from the file; kept by the mass-removal guard".into();
                    }
                }
            }
            Err(e) => {
                let message = e.to_string();
                status.last_error = Some(message.clone());
                if e.is_permanent() {
                    status.phase = Phase::Stalled;
                    status.message = format!("{message} (not retried until the spec changes)");
                    lock(&self.stalled).insert(service.to_string(), desired.service_hash(service));
                    if previous.as_ref().is_none_or(|p| p.phase != Phase::Stalled) {
                        self.event(&project, &key, EventKind::Warning, "Stalled", &message);
                    }
                } else {
                    let delay = lock(&self.backoff).failed(&service.to_string());
                    self.metrics.retry_scheduled(KIND);
                    status.retries += 1;
                    status.phase = Phase::Degraded;
                    status.next_retry =
                        Some(now_ms() + u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
                    status.message = format!(
                        "retry {} in {:.1}s: {message}",
                        status.retries,
                        delay.as_secs_f64()
                    );
                    self.event(
                        &project,
                        &key,
                        EventKind::Warning,
                        "ReconcileFailed",
                        &message,
                    );
                    self.queue.add_after(service.to_string(), delay);
                }
            }
        }
        if previous
            .as_ref()
            .is_none_or(|p| p.phase != status.phase || p.message != status.message)
        {
            tracing::info!(project, object = key, phase = %status.phase, "{}", status.message);
        }
        if let Some(store) = &self.store
            && let Err(e) = store.put_status(&status)
        {
            tracing::error!(error = %e, "cannot store a status");
        }
        let result = match (&status.phase, &status.last_error) {
            (_, Some(_)) if status.phase != Phase::Stalled => "error",
            (Phase::Ready | Phase::Suspended, _) => "ready",
            (Phase::Progressing, _) => "progressing",
            (Phase::Degraded, _) => "degraded",
            (Phase::Stalled, _) => "stalled",
        };
        self.metrics.observe_reconcile(KIND, result, elapsed);
        self.metrics
            .set_ready(KIND, &project, service, status.phase == Phase::Ready);
        lock(&self.statuses).insert(key, status);
        self.changed.send_modify(|n| *n += 1);
    }

    fn record_report(
        &self,
        project: &str,
        key: &str,
        report: &Report,
        previous: Option<&ResourceStatus>,
    ) {
        for step in &report.steps {
            self.event(project, key, EventKind::Normal, "Applied", step);
        }
        let Some(plan) = &report.plan else { return };
        let fields: Vec<String> = plan.drift.iter().map(|d| d.field.to_string()).collect();
        if report.drifted {
            let details: Vec<String> = plan
                .drift
                .iter()
                .map(|d| format!("{}: want {}, have {}", d.field, d.desired, d.live))
                .collect();
            let already = previous.is_some_and(|p| p.drift == fields);
            if !already || (report.applied && plan.actions.iter().any(Action::changes_anything)) {
                self.event(
                    project,
                    key,
                    EventKind::Warning,
                    "DriftDetected",
                    &details.join("; "),
                );
            }
        }
        if !report.applied {
            return;
        }
        for action in &plan.actions {
            let (kind, reason) = match action {
                Action::Nothing => continue,
                Action::Create => (EventKind::Normal, "Created"),
                Action::Start => (EventKind::Normal, "Started"),
                Action::Recreate { .. } => (EventKind::Normal, "Recreated"),
                Action::Restart { .. } => (EventKind::Warning, "Restarted"),
            };
            let service = key.trim_start_matches("service/");
            self.event(project, key, kind, reason, &action.describe(service));
            if report.drifted {
                self.event(
                    project,
                    key,
                    EventKind::Normal,
                    "DriftCorrected",
                    &format!("corrected {}", fields.join(", ")),
                );
            }
        }
    }

    /// The Prometheus text exposition of the controller's metrics, current as of now.
    pub fn metrics_text(&self) -> String {
        self.metrics
            .set_queue_depth(i64::try_from(self.queue.len()).unwrap_or(i64::MAX));
        let drifting = lock(&self.statuses)
            .values()
            .filter(|s| !s.drift.is_empty())
            .count();
        self.metrics
            .set_drifting(KIND, i64::try_from(drifting).unwrap_or(i64::MAX));
        self.metrics.encode()
    }

    /// Records where the desired state comes from, for `holdfast trace` and `get source`.
    pub fn set_source(&self, source: &str) {
        *lock(&self.source) = Some(source.to_string());
    }

    /// Where the desired state comes from.
    pub fn source(&self) -> Option<String> {
        lock(&self.source).clone()
    }

    /// Makes `source` the controller's git source, for the API (status, history,
    /// rollback, webhook). Only the first call has an effect.
    pub fn set_git_source(&self, source: Arc<crate::source::git::follow::GitSource>) {
        let _ = self.git.set(source);
    }

    /// The git source, when the desired state comes from git.
    pub fn git_source(&self) -> Option<&Arc<crate::source::git::follow::GitSource>> {
        self.git.get()
    }

    /// The git commit the desired state in force came from, if it came from git.
    pub fn revision(&self) -> Option<String> {
        self.current().and_then(|d| d.revision.clone())
    }

    /// The controller's metrics, for the parts that feed it (the git source).
    pub fn metrics(&self) -> &crate::api::metrics::Metrics {
        &self.metrics
    }

    /// The status and event store, when there is one.
    pub fn store(&self) -> Option<&Arc<Store>> {
        self.store.as_ref()
    }

    /// The resolved spec of `service` as JSON, if the file has it.
    pub fn desired_service(&self, service: &str) -> Option<serde_json::Value> {
        let desired = self.current()?;
        let spec = desired.state.services.get(service)?;
        serde_json::to_value(spec).ok()
    }

    /// Reconciles the `services` (every service in the file when empty) now, stalled or
    /// not, and waits up to `timeout` for each to be looked at. Returns whether all were,
    /// and their statuses.
    pub async fn reconcile_now(
        &self,
        services: &[String],
        timeout: Duration,
    ) -> (bool, Vec<ResourceStatus>) {
        let names: Vec<String> = if services.is_empty() {
            self.current()
                .map(|d| d.state.services.keys().cloned().collect())
                .unwrap_or_default()
        } else {
            services.to_vec()
        };
        let asked = now_ms();
        let mut rx = self.subscribe();
        for name in &names {
            lock(&self.stalled).remove(name);
            self.queue.add(name.clone());
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let done = |statuses: &BTreeMap<String, ResourceStatus>| {
            names.iter().all(|n| {
                statuses
                    .get(&service_key(n))
                    .is_some_and(|s| s.observed_at >= asked)
            })
        };
        let completed = loop {
            if done(&lock(&self.statuses)) {
                break true;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => break done(&lock(&self.statuses)),
            }
        };
        let statuses = lock(&self.statuses);
        let items = names
            .iter()
            .filter_map(|n| statuses.get(&service_key(n)).cloned())
            .collect();
        (completed, items)
    }

    /// Suspends or resumes `service`: a suspended service is observed and reported but
    /// never changed. Returns its status, or `None` if holdfast does not know it.
    pub fn set_suspended(&self, service: &str, suspended: bool) -> Option<ResourceStatus> {
        let key = service_key(service);
        let status = {
            let mut statuses = lock(&self.statuses);
            let status = statuses.get_mut(&key)?;
            status.suspended = suspended;
            if suspended {
                status.phase = Phase::Suspended;
                status.message = "suspended: observed, never changed".into();
            } else {
                status.phase = Phase::Progressing;
                status.message = "resumed".into();
            }
            status.clone()
        };
        if let Some(store) = &self.store
            && let Err(e) = store.put_status(&status)
        {
            tracing::error!(error = %e, "cannot store a status");
        }
        let project = status.project.clone();
        let (reason, message) = if suspended {
            (
                "Suspended",
                "suspended by request: observed and reported, never changed",
            )
        } else {
            ("Resumed", "resumed by request")
        };
        self.event(&project, &key, EventKind::Normal, reason, message);
        self.queue.add(service.to_string());
        self.changed.send_modify(|n| *n += 1);
        Some(status)
    }

    /// Compares `state` with the engine, resource by resource, as unified diffs (the plan
    /// code path: nothing is changed).
    pub async fn diffs(&self, state: &DesiredState) -> Vec<crate::api::types::ResourceDiff> {
        use crate::resources::service::diff;
        self.plan(state)
            .await
            .into_iter()
            .map(|result| match result {
                Ok(report) => {
                    let (live, desired) = diff::render_pair(
                        report.desired.as_ref(),
                        report.live.as_ref(),
                        &report.image_defaults,
                    );
                    let key = service_key(&report.service);
                    crate::api::types::ResourceDiff {
                        diff: diff::unified(&key, &live, &desired),
                        key,
                        error: None,
                    }
                }
                Err((service, e)) => crate::api::types::ResourceDiff {
                    key: service_key(&service),
                    diff: None,
                    error: Some(e.to_string()),
                },
            })
            .collect()
    }

    /// A copy of the desired state in force.
    pub fn desired_state(&self) -> Option<DesiredState> {
        self.current().map(|d| d.state.clone())
    }

    /// Waits until [`Controller::converged`] or `timeout`; true when converged.
    pub async fn wait_converged(&self, timeout: Duration) -> bool {
        let mut rx = self.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.converged() {
                return true;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return self.converged(),
            }
        }
    }

    /// Runs one observe-and-plan pass over `state` without changing anything, and
    /// returns one report per service (including removed ones that still run).
    pub async fn plan(
        &self,
        state: &DesiredState,
    ) -> Vec<Result<Report, (String, ReconcileError)>> {
        let owned = observe::owned_containers(&self.docker, &state.name, None)
            .await
            .unwrap_or_default();
        let removed = removals(state, &owned);
        let mass = removed.mass;
        let mut names: BTreeSet<String> = state.services.keys().cloned().collect();
        names.extend(removed.services);
        let cx = Context {
            docker: &self.docker,
            state,
            mode: Mode::Plan,
            suspended: false,
            removal_allowed: !mass || self.options.allow_mass_removal,
            restarts: &self.restarts,
            start_wait: None,
            revision: None,
            cache: None,
        };
        let mut out = Vec::new();
        for name in names {
            out.push(
                reconcile::reconcile(&cx, &name)
                    .await
                    .map_err(|e| (name.clone(), e)),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(services: &[&str]) -> DesiredState {
        DesiredState {
            name: "p".into(),
            services: services
                .iter()
                .map(|s| (s.to_string(), holdfast_spec::Service::default()))
                .collect(),
            networks: BTreeMap::new(),
            volumes: BTreeMap::new(),
            secrets: BTreeMap::new(),
        }
    }

    fn owned(services: &[&str]) -> Vec<(String, String)> {
        services
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("id{i}"), s.to_string()))
            .collect()
    }

    #[test]
    fn mass_removal_rule() {
        let live = owned(&["a", "b", "c", "d"]);
        // One of four: fine.
        let r = removals(&state(&["a", "b", "c"]), &live);
        assert_eq!(
            (r.services.clone(), r.containers, r.mass),
            (vec!["d".to_string()], 1, false)
        );
        // Two of four is half, not more than half: fine.
        assert!(!removals(&state(&["a", "b"]), &live).mass);
        // Three of four: refused.
        assert!(removals(&state(&["a"]), &live).mass);
        // Everything (an empty or broken source): refused.
        let r = removals(&state(&[]), &live);
        assert!(r.mass && r.containers == 4);
        // The only container of a one-service project: refused too.
        assert!(removals(&state(&[]), &owned(&["a"])).mass);
        // Nothing to remove.
        assert!(!removals(&state(&["a", "b", "c", "d"]), &live).mass);
    }
}
