//! One reconcile of one service: observe, plan, apply. `holdfast plan`, `apply
//! --dry-run`, `apply` and the daemon all come through [`reconcile`]; only
//! [`Mode`] differs.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use bollard::Docker;
use holdfast_spec::{DesiredState, DriftMode};
use tokio::time::Instant;

use super::apply::{self, ApplyError};
use super::desired::{DesiredContainer, DesiredError};
use super::drift::{Field, FieldDrift};
use super::inputs::{self, InputError};
use super::live::{ContainerState, Health, ImageDefaults, LiveContainer};
use super::observe::{self, Observer};
use super::plan::{Action, PlanPolicy, ServicePlan, plan};
use crate::docker::cache::{EngineCache, Named};
use crate::docker::image::{self, ImageError, ImageInfo};
use crate::docker::objects::{self, Change, Changed, Ensured, ObjectError, Observed};
use holdfast_spec::hash::content_hash;

/// Whether to change anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Observe and plan only (`holdfast plan`, `apply --dry-run`).
    Plan,
    /// Observe, plan and apply.
    Apply,
}

/// Everything one reconcile needs besides the service's name.
#[derive(Debug)]
pub struct Context<'a> {
    /// The engine.
    pub docker: &'a Docker,
    /// The desired state in force (the last good one).
    pub state: &'a DesiredState,
    /// Plan only, or apply too.
    pub mode: Mode,
    /// Whether the resource is suspended: observed and reported, never changed (no
    /// network, volume or image is made for it either, and no container removed).
    pub suspended: bool,
    /// Whether a service no longer in the file may have its container removed; false
    /// when the mass-removal guard holds.
    pub removal_allowed: bool,
    /// The rate limit on restarts of unhealthy containers.
    pub restarts: &'a std::sync::Mutex<RestartLimiter>,
    /// Set while the service is in crash-loop backoff: how long until it may be
    /// started again.
    pub start_wait: Option<Duration>,
    /// The git commit the desired state came from, written on new containers as the
    /// [`REVISION`](super::labels::REVISION) label.
    pub revision: Option<&'a str>,
    /// Set while a dependency (`depends_on`) is not yet as asked: why. Creating or
    /// replacing the container waits; the runtime queues the service again when the
    /// dependency changes.
    pub waiting_for: Option<&'a str>,
    /// The engine cache to observe through (the daemon's, or a one-shot apply's);
    /// `None` observes the engine directly.
    pub cache: Option<&'a EngineCache>,
    /// What `pull_policy: always` has pulled already (the service kind keeps it).
    pub pulled: &'a image::Pulled,
    /// The engine's network-creation lock ([`Host::creating`](crate::docker::Host::creating)).
    pub creating: &'a tokio::sync::Mutex<()>,
    /// Start-first updates ([`rollout`](super::rollout)); `None` replaces every
    /// container stop-first.
    pub rollouts: Option<&'a super::rollout::Rollouts>,
    /// Where the copies of configs are written ([`inputs`]).
    pub configs_dir: &'a std::path::Path,
}

/// Where a service stands after a reconcile: the runtime's outcomes, which a service
/// uses all of.
pub use crate::runtime::kind::Outcome;

/// What a reconcile saw and did.
#[derive(Debug, Clone)]
pub struct Report {
    /// The service.
    pub service: String,
    /// The plan (for a removed service: no drift, one action per container).
    pub plan: Option<ServicePlan>,
    /// Human descriptions of what was done, including networks, volumes and images;
    /// in plan mode, and for a service held back from any change (see `held`), what
    /// would be done (`pull image …`, `create network …`).
    pub steps: Vec<String>,
    /// Where it stands.
    pub outcome: Outcome,
    /// The spec hash of the desired container, when there is one.
    pub spec_hash: Option<String>,
    /// Whether the container was found differing from the file before this pass
    /// (drift other than a missing container).
    pub drifted: bool,
    /// Whether an unhealthy container was restarted.
    pub restarted: bool,
    /// The image reference, when the service is in the file.
    pub image: Option<String>,
    /// Published ports of the desired container.
    pub ports: Vec<String>,
    /// The container's ID after this pass, when there is one.
    pub container: Option<String>,
    /// Whether the plan's actions were carried out (false in plan mode, and when the
    /// service was held back by dependencies, crash-loop backoff or the restart budget).
    pub applied: bool,
    /// The desired container, when the service is in the file.
    pub desired: Option<DesiredContainer>,
    /// The live container as observed before this pass changed anything, when there is
    /// one. For a removed service it is filled in plan mode only (for `holdfast diff`).
    pub live: Option<LiveContainer>,
    /// The image defaults the live container was compared with (see
    /// [`drift`](super::drift::drift)).
    pub image_defaults: ImageDefaults,
    /// The state and health of the container as this pass left it, when there is one.
    pub after: Option<(ContainerState, Health)>,
    /// When the container as this pass left it last started (`State.StartedAt`), when
    /// known; published so that dependents with `restart: true` look again.
    pub started_at: Option<String>,
    /// Whether the service is suspended or report-only, so that this pass changed
    /// nothing whatever the mode: its `steps` say what would be done, not what was.
    pub held: bool,
    /// Where a start-first update stands: the phase and each phase's time.
    pub rollout: Option<String>,
    /// With `deploy.replicas` other than 1, each replica's own report, in order; the
    /// fields above then sum them up (see [`replicas`](super::replicas)).
    pub replicas: Vec<Report>,
}

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The image could not be had.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// An env file or secret file could not be read.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The desired container could not be derived (a bug, or the spec changed under us).
    #[error("{0}")]
    Desired(#[from] DesiredError),
    /// An action failed.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// A network or volume could not be observed or brought to the file.
    #[error(transparent)]
    Object(#[from] ObjectError),
    /// A start-first update failed; the old container keeps serving.
    #[error("{0}")]
    Rollout(String),
    /// The engine refused or could not be reached.
    #[error("Docker: {op}: {source}")]
    Docker {
        /// What was being done, such as `list the project's containers`.
        op: &'static str,
        /// The engine's error.
        source: bollard::errors::Error,
    },
}

/// Wraps an engine error with what was being done.
pub(super) fn docker(op: &'static str) -> impl FnOnce(bollard::errors::Error) -> ReconcileError {
    move |source| ReconcileError::Docker { op, source }
}

impl ReconcileError {
    /// Whether retrying cannot help until the spec changes: the resource goes Stalled.
    pub fn is_permanent(&self) -> bool {
        match self {
            ReconcileError::Image(e) => e.is_permanent(),
            ReconcileError::Apply(e) => e.is_permanent(),
            ReconcileError::Desired(_) => true,
            ReconcileError::Input(_)
            | ReconcileError::Rollout(_)
            | ReconcileError::Object(_)
            | ReconcileError::Docker { .. } => false,
        }
    }
}

/// At most `max` restarts of unhealthy containers per service within `window`
/// (doco-cd's 5 per 300 s by default); past it the service is Degraded.
#[derive(Debug)]
pub struct RestartLimiter {
    max: usize,
    window: Duration,
    history: HashMap<String, VecDeque<Instant>>,
}

impl Default for RestartLimiter {
    fn default() -> Self {
        RestartLimiter::new(5, Duration::from_secs(300))
    }
}

impl RestartLimiter {
    /// At most `max` restarts per `window`.
    pub fn new(max: usize, window: Duration) -> Self {
        RestartLimiter {
            max,
            window,
            history: HashMap::new(),
        }
    }

    /// Takes one restart from `service`'s budget; false when it is spent.
    pub fn try_acquire(&mut self, service: &str) -> bool {
        let now = Instant::now();
        let history = self.history.entry(service.to_string()).or_default();
        while history
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.window)
        {
            history.pop_front();
        }
        if history.len() >= self.max {
            return false;
        }
        history.push_back(now);
        true
    }
}

/// How often to look again while a container starts.
const POLL: Duration = Duration::from_millis(500);

/// How often to look again while a dependency is not ready: only a safety net, since
/// the runtime queues the service as soon as the dependency changes.
const DEPENDENCY_RECHECK: Duration = Duration::from_secs(5);

/// Reconciles service `name`.
///
/// A suspended or report-only service is only observed: nothing is created, pulled,
/// built or removed for it, whatever the mode. What would be done is in the report's
/// steps, and what differs in its plan's drift.
///
/// With a cache in `cx`, a service whose container is as the file says costs no
/// Docker call; a service that did not end settled (Ready, or drifted and reported)
/// is observed directly at its next reconcile.
pub async fn reconcile(cx: &Context<'_>, name: &str) -> Result<Report, ReconcileError> {
    let observer = Observer::new(cx.docker, cx.cache, &cx.state.name);
    let result = reconcile_with(cx, &observer, name).await;
    if cx.mode == Mode::Apply {
        let settled = result.as_ref().is_ok_and(|r| {
            matches!(
                r.outcome,
                Outcome::Ready | Outcome::Drifted | Outcome::Removed | Outcome::RemovalRefused
            )
        });
        observer.settle(name, settled);
    }
    result
}

async fn reconcile_with(
    cx: &Context<'_>,
    observer: &Observer<'_>,
    name: &str,
) -> Result<Report, ReconcileError> {
    let project = cx.state.name.as_str();
    let mut steps = Vec::new();

    let Some(service) = cx.state.services.get(name) else {
        let owned = observer
            .owned(project, Some(name))
            .await
            .map_err(docker("list the service's containers"))?;
        return remove(cx, observer, name, owned).await;
    };
    let lives = observer
        .containers(project, Some(name))
        .await
        .map_err(docker("list and inspect the service's containers"))?;
    let policy = PlanPolicy {
        report_only: service.holdfast.drift == DriftMode::Report,
        suspended: cx.suspended,
        one_shot: cx.state.is_one_shot(name),
    };
    let held = policy.suspended || policy.report_only;
    // Whether this pass may change anything at all.
    let act = cx.mode == Mode::Apply && !held;

    let object_drift = prerequisites(cx, observer, service, act, held, &mut steps).await?;
    let image_info = service_image(cx, observer, name, service, act, &mut steps).await?;

    let resolved = inputs::resolve(
        cx.state,
        service,
        (!image_info.id.is_empty()).then(|| image_info.id.clone()),
        inputs::Configs {
            dir: cx.configs_dir,
            write: act,
        },
    )?;
    // Routed ports are published on 127.0.0.1 for a proxy on the host.
    let service = crate::resources::route::ports::with_route_ports(cx.state, name, service);
    let mut desired = DesiredContainer::new(project, name, &service, &resolved)?;
    if let Some(revision) = cx.revision {
        desired
            .labels
            .insert(super::labels::REVISION.to_string(), revision.to_string());
    }
    desired.options.network_container = network_container(cx, observer, &desired).await?;

    let image_defaults = observe::image_defaults(&image_info);
    let count = service.replicas();
    // Scaled to one, or from one: the replicas' own path names and removes them.
    let replicated = count != 1
        || lives
            .iter()
            .any(|l| super::replicas::index(&desired.name, l) > 1);
    if act
        && !replicated
        && let Some(rollouts) = cx.rollouts
        && super::rollout::applies(cx.state, name)
    {
        return super::rollout::reconcile(
            cx,
            observer,
            rollouts,
            name,
            super::rollout::Observed {
                desired,
                lives,
                image_defaults,
                steps,
                replica: 1,
            },
        )
        .await;
    }

    let one = Converge {
        name,
        desired,
        lives,
        image_defaults,
        policy,
        steps,
        object_drift,
    };
    if replicated {
        let parallelism = service.deploy.update_config.parallelism;
        return super::replicas::reconcile(cx, observer, one, count, parallelism).await;
    }
    converge(cx, observer, one).await
}

/// What [`converge`] brings to the file: one container's desired side and what was
/// observed of it.
#[derive(Debug)]
pub(super) struct Converge<'n> {
    /// The service.
    pub name: &'n str,
    /// The container wanted.
    pub desired: DesiredContainer,
    /// The live containers that may be it.
    pub lives: Vec<LiveContainer>,
    /// The image's own configuration.
    pub image_defaults: ImageDefaults,
    /// How far the pass may go.
    pub policy: PlanPolicy,
    /// What was done so far.
    pub steps: Vec<String>,
    /// Networks and volumes that differ from the file.
    pub object_drift: Vec<FieldDrift>,
}

/// Plans and carries out one container of a service: the container itself when the
/// service runs one, one replica otherwise.
pub(super) async fn converge(
    cx: &Context<'_>,
    observer: &Observer<'_>,
    c: Converge<'_>,
) -> Result<Report, ReconcileError> {
    let Converge {
        name,
        desired,
        mut lives,
        image_defaults,
        policy,
        mut steps,
        object_drift,
    } = c;
    let held = policy.suspended || policy.report_only;
    let act = cx.mode == Mode::Apply && !held;
    // Observe: one container per service; extras (a crash between create and remove,
    // or a copy made by hand with our labels) go.
    lives.sort_by_key(|l| {
        (
            l.spec_hash() != Some(desired.spec_hash.as_str()),
            !l.state.is_running(),
        )
    });
    let extras = if lives.len() > 1 {
        lives.split_off(1)
    } else {
        Vec::new()
    };
    let live = lives.pop();
    for extra in &extras {
        if act {
            apply::stop_and_remove(cx.docker, &extra.id, desired.stop_grace_seconds)
                .await
                .map_err(docker("remove an extra container"))?;
            observer.removed(&extra.id);
            steps.push(format!("removed extra container {}", short(&extra.id)));
        } else {
            steps.push(format!("remove extra container {}", short(&extra.id)));
        }
    }

    let mut the_plan = plan(&desired, live.as_ref(), &image_defaults, &policy);
    // `depends_on: {NAME: {restart: true}}`: a dependency started after this container
    // was restarted or replaced, so this one follows it.
    if let Some(live) = live.as_ref().filter(|l| l.state.is_running())
        && the_plan.is_noop()
        && !held
        && let Some(spec) = cx.state.services.get(name)
        && let Some(reason) = dependency_restarted(observer, &cx.state.name, spec, live).await?
    {
        the_plan.actions = vec![Action::Restart { reason }];
    }
    // Drift is a live container that left the spec it was made from (stopped, killed,
    // edited by hand). A container made from an older spec is a change of the file,
    // not drift.
    let drifted = live
        .as_ref()
        .is_some_and(|l| l.spec_hash() == Some(desired.spec_hash.as_str()))
        && !the_plan.drift.is_empty();
    // Networks and volumes that differ from the file are reported with the service.
    the_plan.drift.extend(object_drift);

    let mut report = Report {
        service: name.to_string(),
        plan: None,
        steps,
        outcome: Outcome::Ready,
        spec_hash: Some(desired.spec_hash.clone()),
        drifted,
        restarted: false,
        applied: false,
        image: Some(desired.image.clone()),
        ports: desired.ports.iter().map(ToString::to_string).collect(),
        container: live.as_ref().map(|l| l.id.clone()),
        desired: Some(desired.clone()),
        live: live.clone(),
        image_defaults,
        after: live.as_ref().map(|l| (l.state, l.health)),
        started_at: live.as_ref().map(|l| l.started_at.clone()),
        held,
        rollout: None,
        replicas: Vec::new(),
    };

    if held {
        report.outcome = if the_plan.drift.is_empty() {
            readiness_of(live.as_ref(), policy.one_shot)
        } else {
            Outcome::Drifted
        };
        report.plan = Some(the_plan);
        return Ok(report);
    }

    // A container that keeps crashing is started again only after its backoff.
    let starts = the_plan
        .actions
        .iter()
        .any(|a| matches!(a, Action::Create | Action::Start | Action::Recreate { .. }));
    if starts
        && cx.mode == Mode::Apply
        && let Some(wait) = cx.start_wait
    {
        report.outcome = Outcome::Progressing {
            reason: format!(
                "crashed repeatedly; next start in {:.1}s",
                wait.as_secs_f64()
            ),
            retry_after: wait,
        };
        report.plan = Some(the_plan);
        return Ok(report);
    }

    // Creating or replacing a container waits for its dependencies, and for the
    // container whose network it joins.
    let replaces = the_plan
        .actions
        .iter()
        .any(|a| matches!(a, Action::Create | Action::Recreate { .. }));
    let network_wait = match desired.options.network_mode.as_deref() {
        Some(mode) if mode.contains(':') && desired.options.network_container.is_none() => Some(
            format!("waiting for a running container to join (`network_mode: {mode}`)"),
        ),
        _ => None,
    };
    if replaces
        && cx.mode == Mode::Apply
        && let Some(reason) = cx.waiting_for.map(str::to_string).or(network_wait)
    {
        report.outcome = Outcome::Progressing {
            reason,
            retry_after: DEPENDENCY_RECHECK,
        };
        report.plan = Some(the_plan);
        return Ok(report);
    }

    // Restarts of unhealthy containers are rate limited.
    if the_plan
        .actions
        .iter()
        .any(|a| matches!(a, Action::Restart { reason } if reason == super::plan::UNHEALTHY))
    {
        let allowed = cx.mode == Mode::Plan
            || cx
                .restarts
                .lock()
                .map(|mut r| r.try_acquire(name))
                .unwrap_or(false);
        if !allowed {
            the_plan.actions = vec![Action::Nothing];
            report.outcome = Outcome::Degraded {
                reason: "unhealthy, and the restart budget is spent (5 restarts in 5 minutes)"
                    .into(),
            };
            report.plan = Some(the_plan);
            return Ok(report);
        }
        report.restarted = cx.mode == Mode::Apply;
    }

    if cx.mode == Mode::Plan {
        report.outcome = if the_plan.is_noop() {
            readiness_of(live.as_ref(), policy.one_shot)
        } else {
            Outcome::Progressing {
                reason: "changes planned".into(),
                retry_after: POLL,
            }
        };
        report.plan = Some(the_plan);
        return Ok(report);
    }

    let changed = the_plan.actions.iter().any(Action::changes_anything);
    let id = match apply::execute(cx.docker, &desired, live.as_ref(), &the_plan.actions).await {
        Err(e) if e.is_transitional() => {
            report.outcome = Outcome::Progressing {
                reason: e.to_string(),
                retry_after: Duration::from_millis(200),
            };
            report.plan = Some(the_plan);
            return Ok(report);
        }
        other => other?,
    };
    report.applied = true;
    report.container = id.clone();
    if let Some(old) = live.as_ref().map(|l| l.id.as_str())
        && id.as_deref() != Some(old)
    {
        observer.removed(old);
    }
    report.outcome = match (changed, id) {
        (false, _) => readiness_of(live.as_ref(), policy.one_shot),
        (true, Some(id)) => {
            let after = observer
                .reinspect(&id)
                .await
                .map_err(docker("inspect the new container"))?;
            report.after = after.as_ref().map(|l| (l.state, l.health));
            report.started_at = after.as_ref().map(|l| l.started_at.clone());
            readiness_of(after.as_ref(), policy.one_shot)
        }
        (true, None) => {
            report.after = None;
            Outcome::Progressing {
                reason: "no container yet".into(),
                retry_after: POLL,
            }
        }
    };
    report.plan = Some(the_plan);
    Ok(report)
}

/// The ID of the running container whose network namespace the desired container
/// joins (`network_mode: service:NAME` or `container:NAME`), or `None`: no such mode,
/// or no such container running.
async fn network_container(
    cx: &Context<'_>,
    observer: &Observer<'_>,
    desired: &DesiredContainer,
) -> Result<Option<String>, ReconcileError> {
    let mode = desired.options.network_mode.as_deref().unwrap_or_default();
    let found = match mode.split_once(':') {
        Some(("service", other)) => observer
            .containers(&desired.project, Some(other))
            .await
            .map_err(docker(
                "list the containers of the service whose network it joins",
            ))?
            .into_iter()
            .find(|l| l.state.is_running()),
        Some(("container", name)) => observe::inspect(cx.docker, name)
            .await
            .map_err(docker("inspect the container whose network it joins"))?
            .filter(|l| l.state.is_running()),
        _ => None,
    };
    Ok(found.map(|l| l.id))
}

/// Why `live` must be restarted because a dependency with `restart: true` started
/// after it (the controller restarted or replaced it), or `None`.
async fn dependency_restarted(
    observer: &Observer<'_>,
    project: &str,
    service: &holdfast_spec::Service,
    live: &LiveContainer,
) -> Result<Option<String>, ReconcileError> {
    let Some(mine) = started_key(&live.started_at) else {
        return Ok(None);
    };
    for (dep, _) in service.depends_on.iter().filter(|(_, d)| d.restart) {
        let theirs = observer
            .containers(project, Some(dep))
            .await
            .map_err(docker("list a dependency's containers"))?;
        let latest = theirs
            .iter()
            .filter(|l| l.state.is_running())
            .filter_map(|l| started_key(&l.started_at))
            .max();
        if latest.is_some_and(|t| t > mine) {
            return Ok(Some(format!("{DEPENDENCY_RESTARTED} `{dep}`")));
        }
    }
    Ok(None)
}

/// The reason of a restart that follows a dependency with `restart: true`.
pub const DEPENDENCY_RESTARTED: &str = "restarted after its dependency";

/// Docker's `State.StartedAt` (RFC 3339 in UTC) as the instant it names; `None` for a
/// container that never started (`0001-01-01T00:00:00Z`) or a value in another form.
pub fn started_key(at: &str) -> Option<jiff::Timestamp> {
    at.strip_suffix('Z')?;
    at.parse::<jiff::Timestamp>()
        .ok()
        .filter(|t| *t > jiff::Timestamp::UNIX_EPOCH)
}

/// The 12-character form of a container ID.
pub(super) fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// The service's networks and named volumes: ensured when the pass may `act`,
/// observed otherwise, with a step for each thing done (or that would be done) and
/// the drift to report for those that differ from the file. A network that differs is
/// recreated; a volume that differs is only reported ([`objects::VOLUME_FIX`]).
async fn prerequisites(
    cx: &Context<'_>,
    observer: &Observer<'_>,
    service: &holdfast_spec::Service,
    act: bool,
    held: bool,
    steps: &mut Vec<String>,
) -> Result<Vec<FieldDrift>, ReconcileError> {
    let project = cx.state.name.as_str();
    let mut drift = Vec::new();
    let (no_network, no_volume) = (
        holdfast_spec::Network::default(),
        holdfast_spec::Volume::default(),
    );
    for network in service.networks.keys() {
        let spec = cx.state.networks.get(network).unwrap_or(&no_network);
        let full = objects::network_docker_name(project, network, spec);
        // A live cache that shows the network as made from this spec: no call.
        if observer.knows_current(Named::Network, &full, &content_hash(spec)) {
            continue;
        }
        if act {
            let ensured =
                objects::ensure_network(cx.docker, cx.creating, project, network, spec).await?;
            // Only a new network changes what the cache should hold.
            if matches!(ensured, Ensured::Created | Ensured::Recreated { .. }) {
                observer
                    .ensured(Named::Network, &full)
                    .await
                    .map_err(docker("list the network"))?;
            }
            match ensured {
                Ensured::Created => steps.push(format!("created network {full}")),
                Ensured::Recreated {
                    changes,
                    reconnected,
                } => {
                    steps.push(format!(
                        "recreated network {full} ({}); reconnected {reconnected} container(s)",
                        Changed(&changes)
                    ));
                    drift.push(network_drift(&full, &changes));
                }
                Ensured::Existed | Ensured::Kept { .. } => {}
            }
            continue;
        }
        match objects::observe_network(cx.docker, project, network, spec).await? {
            Observed::Missing => steps.push(format!("create network {full}")),
            Observed::Changed(changes) => {
                steps.push(format!("recreate network {full}: {}", Changed(&changes)));
                // In plan mode it would be corrected; held, it stays as it is.
                if held {
                    drift.push(network_drift(&full, &changes));
                }
            }
            Observed::Current => {}
        }
    }
    for mount in &service.volumes {
        let (holdfast_spec::MountKind::Volume, Some(volume)) = (mount.kind, &mount.source) else {
            continue;
        };
        let spec = cx.state.volumes.get(volume).unwrap_or(&no_volume);
        let full = objects::volume_docker_name(project, volume, spec);
        if observer.knows_current(Named::Volume, &full, &content_hash(spec)) {
            continue;
        }
        let changes = if act {
            match objects::ensure_volume(cx.docker, project, volume, spec).await? {
                Ensured::Created => {
                    observer
                        .ensured(Named::Volume, &full)
                        .await
                        .map_err(docker("list the volume"))?;
                    steps.push(format!("created volume {full}"));
                    continue;
                }
                Ensured::Kept { changes } => changes,
                Ensured::Existed | Ensured::Recreated { .. } => continue,
            }
        } else {
            match objects::observe_volume(cx.docker, project, volume, spec).await? {
                Observed::Missing => {
                    steps.push(format!("create volume {full}"));
                    continue;
                }
                Observed::Changed(changes) => {
                    // Here steps say what needs doing. When applying, only the drift
                    // says it: a step is an event, and this one would recur every pass.
                    steps.push(format!(
                        "keep volume {full} ({}): {}",
                        Changed(&changes),
                        objects::volume_fix(&full)
                    ));
                    changes
                }
                Observed::Current => continue,
            }
        };
        drift.push(volume_drift(&full, &changes));
    }
    Ok(drift)
}

/// The drift reported for a volume made from another spec, with how to fix it.
fn volume_drift(full: &str, changes: &[Change]) -> FieldDrift {
    FieldDrift {
        field: Field::Mounts,
        desired: format!("volume {full} with {}", objects::side(changes, true)),
        live: format!(
            "volume {full} with {}; {}",
            objects::side(changes, false),
            objects::volume_fix(full)
        ),
    }
}

/// The drift reported for a network made from another spec.
fn network_drift(full: &str, changes: &[Change]) -> FieldDrift {
    FieldDrift {
        field: Field::Networks,
        desired: format!("network {full} with {}", objects::side(changes, true)),
        live: format!("network {full} with {}", objects::side(changes, false)),
    }
}

/// The service's image: made sure of (built or pulled as `pull_policy` says) when the
/// pass may `act`, only inspected otherwise, with a step when it was (or would be)
/// built or pulled. A missing image that is not fetched is [`ImageInfo::default`].
async fn service_image(
    cx: &Context<'_>,
    observer: &Observer<'_>,
    name: &str,
    service: &holdfast_spec::Service,
    act: bool,
    steps: &mut Vec<String>,
) -> Result<ImageInfo, ReconcileError> {
    let image_ref = image::image_ref(&cx.state.name, name, service);
    let (done, to_do) = if service.build.is_some() {
        ("built", "build")
    } else {
        ("pulled", "pull")
    };
    let known = observer
        .image(&image_ref)
        .await
        .map_err(docker("inspect the image"))?;
    if act {
        let (info, fetched) =
            image::ensure(cx.docker, &image_ref, service, known, cx.pulled).await?;
        if fetched {
            observer.image_fetched(&image_ref, &info);
            steps.push(format!("{done} image {image_ref}"));
        }
        return Ok(info);
    }
    match known {
        Some(info) => Ok(info),
        None => {
            steps.push(format!("{to_do} image {image_ref}"));
            Ok(ImageInfo::default())
        }
    }
}

/// Ready when running (and healthy, if it has a check); otherwise why not.
pub fn readiness(live: Option<&LiveContainer>) -> Outcome {
    readiness_of(live, false)
}

/// [`readiness`] for a `one_shot` service too: its container is ready once it exited 0
/// (it has completed) and still progressing while it runs.
pub fn readiness_of(live: Option<&LiveContainer>, one_shot: bool) -> Outcome {
    if one_shot && let Some(live) = live {
        if super::plan::completed(live) {
            return Outcome::Ready;
        }
        if live.state == ContainerState::Running {
            return Outcome::Progressing {
                reason: "running to completion".into(),
                retry_after: POLL,
            };
        }
    }
    let Some(live) = live else {
        return Outcome::Progressing {
            reason: "no container".into(),
            retry_after: POLL,
        };
    };
    match (live.state, live.health) {
        (ContainerState::Running, Health::None | Health::Healthy) => Outcome::Ready,
        (ContainerState::Running, Health::Starting) => Outcome::Progressing {
            reason: "health check starting".into(),
            retry_after: POLL,
        },
        (ContainerState::Running, Health::Unhealthy) => Outcome::Progressing {
            reason: "unhealthy".into(),
            retry_after: POLL,
        },
        (state, _) => Outcome::Progressing {
            reason: format!("container {state}"),
            retry_after: POLL,
        },
    }
}

async fn remove(
    cx: &Context<'_>,
    observer: &Observer<'_>,
    name: &str,
    owned: Vec<(String, String)>,
) -> Result<Report, ReconcileError> {
    let mut report = Report {
        service: name.to_string(),
        plan: None,
        steps: Vec::new(),
        outcome: Outcome::Removed,
        spec_hash: None,
        drifted: false,
        restarted: false,
        applied: false,
        image: None,
        ports: Vec::new(),
        container: None,
        desired: None,
        live: None,
        image_defaults: ImageDefaults::default(),
        after: None,
        started_at: None,
        held: cx.suspended,
        rollout: None,
        replicas: Vec::new(),
    };
    if owned.is_empty() {
        return Ok(report);
    }
    if cx.mode == Mode::Plan
        && let Some((id, _)) = owned.first()
        && let Some(live) = observe::inspect(cx.docker, id)
            .await
            .map_err(docker("inspect a removed service's container"))?
    {
        if let Some(info) = observer
            .image(&live.image_id)
            .await
            .map_err(docker("inspect a removed service's image"))?
        {
            report.image_defaults = observe::image_defaults(&info);
        }
        report.live = Some(live);
    }
    if !cx.removal_allowed || cx.suspended {
        report.outcome = Outcome::RemovalRefused;
        report.steps.push(format!(
            "keep {} container(s) of removed service {name} (mass-removal guard)",
            owned.len()
        ));
        return Ok(report);
    }
    for (id, _) in owned {
        report.steps.push(format!(
            "remove container {} of removed service {name}",
            short(&id)
        ));
        if cx.mode == Mode::Apply {
            apply::stop_and_remove(cx.docker, &id, None)
                .await
                .map_err(docker("remove a removed service's container"))?;
            observer.removed(&id);
            report.applied = true;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn restart_budget_refills_after_the_window() {
        let mut limiter = RestartLimiter::new(2, Duration::from_secs(60));
        assert!(limiter.try_acquire("web"));
        assert!(limiter.try_acquire("web"));
        assert!(
            !limiter.try_acquire("web"),
            "third restart within the window"
        );
        assert!(limiter.try_acquire("db"), "budgets are per service");
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(limiter.try_acquire("web"));
    }

    #[test]
    fn permanent_errors_stall() {
        assert!(ReconcileError::Image(ImageError::NotPresent("x".into())).is_permanent());
        assert!(!ReconcileError::Apply(ApplyError::NameTaken("x".into())).is_permanent());
        let transient = InputError {
            what: "env file",
            path: "/x".into(),
            source: std::io::Error::other("gone"),
        };
        assert!(!ReconcileError::Input(transient).is_permanent());
    }

    #[test]
    fn docker_errors_say_which_call_failed() {
        let e = docker("list the service's containers")(
            bollard::errors::Error::DockerResponseServerError {
                status_code: 500,
                message: "engine on fire".into(),
            },
        );
        let message = e.to_string();
        assert!(
            message.starts_with("Docker: list the service's containers: "),
            "{message}"
        );
        assert!(message.contains("engine on fire"), "{message}");
        assert!(!e.is_permanent());
    }
}

#[cfg(test)]
mod started_tests {
    use super::started_key;

    #[test]
    fn start_times_order_whatever_their_fraction_digits() {
        let a = started_key("2026-12-01T17:55:04.2Z").unwrap();
        let b = started_key("2026-12-01T17:55:04.213202877Z").unwrap();
        let c = started_key("2026-12-01T17:55:05Z").unwrap();
        assert!(a < b && b < c, "{a:?} {b:?} {c:?}");
        assert_eq!(started_key("0001-01-01T00:00:00Z"), None, "never started");
        assert_eq!(started_key(""), None);
        assert_eq!(started_key("2026-12-01T17:55:05+01:00"), None);
    }
}
