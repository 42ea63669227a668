//! One reconcile of one service: observe, plan, apply. `holdfast plan`, `apply
//! --dry-run`, `apply` and the daemon all come through [`reconcile`]; only
//! [`Mode`] differs.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use bollard::Docker;
use holdfast_spec::{DependencyCondition, DesiredState, DriftMode};
use tokio::time::Instant;

use super::apply::{self, ApplyError};
use super::desired::{DesiredContainer, DesiredError};
use super::inputs::{self, InputError};
use super::live::{ContainerState, Health, ImageDefaults, LiveContainer};
use super::observe;
use super::observe::Observer;
use super::plan::{Action, PlanPolicy, ServicePlan, plan};
use crate::docker::cache::{EngineCache, Named};
use crate::docker::image::{self, ImageError, ImageInfo};
use crate::docker::objects;

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
    /// Whether the resource is suspended (observed and reported, never changed).
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
    /// The engine cache to observe through (the daemon's, or a one-shot apply's);
    /// `None` observes the engine directly.
    pub cache: Option<&'a EngineCache>,
}

/// Where a service stands after a reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Running, and healthy if it has a health check.
    Ready,
    /// On its way: check again after `retry_after`.
    Progressing {
        /// What it waits for.
        reason: String,
        /// When to look again.
        retry_after: Duration,
    },
    /// Running but not well, and holdfast stopped acting (restart budget spent).
    Degraded {
        /// Why.
        reason: String,
    },
    /// Removed from the file, and its container removed (or to be removed in plan mode).
    Removed,
    /// Removed from the file, but the mass-removal guard kept its container.
    RemovalRefused,
    /// Suspended or report-only, and it differs from the file.
    Drifted,
}

/// What a reconcile saw and did.
#[derive(Debug, Clone)]
pub struct Report {
    /// The service.
    pub service: String,
    /// The plan (for a removed service: no drift, one action per container).
    pub plan: Option<ServicePlan>,
    /// Human descriptions of what was (or, in plan mode, would be) done, including
    /// networks, volumes and images.
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
    /// The engine refused or could not be reached.
    #[error("Docker: {0}")]
    Docker(#[from] bollard::errors::Error),
}

impl ReconcileError {
    /// Whether retrying cannot help until the spec changes: the resource goes Stalled.
    pub fn is_permanent(&self) -> bool {
        match self {
            ReconcileError::Image(e) => e.is_permanent(),
            ReconcileError::Apply(e) => e.is_permanent(),
            ReconcileError::Desired(_) => true,
            ReconcileError::Input(_) | ReconcileError::Docker(_) => false,
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

/// How often to look again while a container starts or a dependency gets ready.
const POLL: Duration = Duration::from_millis(500);

/// Reconciles service `name`.
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
        let owned = observer.owned(project, Some(name)).await?;
        return remove(cx, observer, name, owned).await;
    };
    let mut lives = observer.containers(project, Some(name)).await?;

    // Prerequisites: networks and named volumes.
    for network in service.networks.keys() {
        let spec = cx.state.networks.get(network).cloned().unwrap_or_default();
        let full = super::desired::network_name(project, network);
        if cx.mode == Mode::Apply && !observer.knows(Named::Network, &full) {
            if objects::ensure_network(cx.docker, project, network, &spec).await?
                == objects::Ensured::Created
            {
                steps.push(format!("created network {full}"));
            }
            observer.ensured(Named::Network, &full).await?;
        }
    }
    for mount in &service.volumes {
        let (holdfast_spec::MountKind::Volume, Some(volume)) = (mount.kind, &mount.source) else {
            continue;
        };
        let spec = cx.state.volumes.get(volume).cloned().unwrap_or_default();
        let full = super::desired::volume_name(project, volume);
        if cx.mode == Mode::Apply && !observer.knows(Named::Volume, &full) {
            if objects::ensure_volume(cx.docker, project, volume, &spec).await?
                == objects::Ensured::Created
            {
                steps.push(format!("created volume {full}"));
            }
            observer.ensured(Named::Volume, &full).await?;
        }
    }

    // The image.
    let image_ref = image::image_ref(project, name, service);
    let known = observer.image(&image_ref).await?;
    let image_info = match cx.mode {
        Mode::Apply => {
            let (info, fetched) = image::ensure(cx.docker, &image_ref, service, known).await?;
            if fetched {
                observer.image_fetched(&image_ref, &info);
                steps.push(format!(
                    "{} image {image_ref}",
                    if service.build.is_some() {
                        "built"
                    } else {
                        "pulled"
                    }
                ));
            }
            info
        }
        Mode::Plan => match known {
            Some(info) => info,
            None => {
                steps.push(format!(
                    "{} image {image_ref}",
                    if service.build.is_some() {
                        "build"
                    } else {
                        "pull"
                    }
                ));
                ImageInfo::default()
            }
        },
    };

    let resolved = inputs::resolve(
        cx.state,
        service,
        (!image_info.id.is_empty()).then(|| image_info.id.clone()),
    )?;
    let mut desired = DesiredContainer::new(project, name, service, &resolved)?;
    if let Some(revision) = cx.revision {
        desired
            .labels
            .insert(super::labels::REVISION.to_string(), revision.to_string());
    }

    // Observe: one container per service; extras (a crash between create and remove,
    // or a copy made by hand with our labels) go.
    lives.sort_by_key(|l| {
        (
            l.spec_hash() != Some(desired.spec_hash.as_str()),
            !l.state.is_running(),
        )
    });
    let mut extras = if lives.len() > 1 {
        lives.split_off(1)
    } else {
        Vec::new()
    };
    let live = lives.pop();
    if cx.mode == Mode::Apply && !cx.suspended {
        for extra in extras.drain(..) {
            apply::stop_and_remove(cx.docker, &extra.id, desired.stop_grace_seconds).await?;
            observer.removed(&extra.id);
            steps.push(format!("removed extra container {}", short(&extra.id)));
        }
    }

    let policy = PlanPolicy {
        report_only: service.holdfast.drift == DriftMode::Report,
        suspended: cx.suspended,
    };
    let image_defaults = observe::image_defaults(&image_info);
    let mut the_plan = plan(&desired, live.as_ref(), &image_defaults, &policy);
    // Drift is a live container that left the spec it was made from (stopped, killed,
    // edited by hand). A container made from an older spec is a change of the file,
    // not drift.
    let drifted = live
        .as_ref()
        .is_some_and(|l| l.spec_hash() == Some(desired.spec_hash.as_str()))
        && !the_plan.drift.is_empty();

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
    };

    if policy.suspended || policy.report_only {
        report.outcome = if the_plan.drift.is_empty() {
            readiness(live.as_ref())
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

    // Creating or replacing a container waits for its dependencies.
    let replaces = the_plan
        .actions
        .iter()
        .any(|a| matches!(a, Action::Create | Action::Recreate { .. }));
    if replaces
        && cx.mode == Mode::Apply
        && let Some(reason) = wait_for_dependencies(cx, observer, service).await?
    {
        report.outcome = Outcome::Progressing {
            reason,
            retry_after: POLL,
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
            readiness(live.as_ref())
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
        (false, _) => readiness(live.as_ref()),
        (true, Some(id)) => readiness(observer.reinspect(&id).await?.as_ref()),
        (true, None) => Outcome::Progressing {
            reason: "no container yet".into(),
            retry_after: POLL,
        },
    };
    report.plan = Some(the_plan);
    Ok(report)
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// Ready when running (and healthy, if it has a check); otherwise why not.
pub fn readiness(live: Option<&LiveContainer>) -> Outcome {
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

/// `Some(reason)` while a dependency is not yet as `depends_on` asks.
async fn wait_for_dependencies(
    cx: &Context<'_>,
    observer: &Observer<'_>,
    service: &holdfast_spec::Service,
) -> Result<Option<String>, ReconcileError> {
    for (dep, how) in &service.depends_on {
        let live = observer
            .containers(&cx.state.name, Some(dep))
            .await?
            .into_iter()
            .find(|l| l.state.is_running());
        let ok = match (&live, how.condition) {
            (None, _) => false,
            (Some(_), DependencyCondition::ServiceStarted) => true,
            (Some(l), DependencyCondition::ServiceHealthy) => {
                matches!(l.health, Health::Healthy | Health::None)
            }
        };
        if !ok {
            let what = match how.condition {
                DependencyCondition::ServiceStarted => "running",
                DependencyCondition::ServiceHealthy => "healthy",
            };
            return Ok(Some(format!("waiting for {dep} to be {what}")));
        }
    }
    Ok(None)
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
    };
    if owned.is_empty() {
        return Ok(report);
    }
    if cx.mode == Mode::Plan
        && let Some((id, _)) = owned.first()
        && let Some(live) = observe::inspect(cx.docker, id).await?
    {
        if let Some(info) = observer.image(&live.image_id).await? {
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
            apply::stop_and_remove(cx.docker, &id, None).await?;
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
}
