//! Zero-downtime updates of a service behind a route (`deploy.update_config.order:
//! start-first`): start the new container beside the old one, probe it on the address
//! the proxy will use, point the route at it in one proxy change, drain the old one
//! until the proxy holds nothing for it, and only then stop it.
//!
//! Every pass is one step, decided from what the host and the proxy show
//! ([`decide`]), so a controller killed anywhere carries on: the container the proxy
//! routes to is kept. The [`record`] on disk is the lock (one update per service),
//! times the phases and keeps earlier specs for rollback.
//!
//! - [`slot`]: the two names and port sets the old and new containers take turns in;
//! - [`decide`]: observed state → the next step (pure);
//! - [`probe`]: the health probe;
//! - [`record`]: the update record and the history;
//! - [`metrics`]: seconds per phase, updates by result, rollbacks.
//!
//! A service is updated this way when it is start-first, a route points at it and the
//! proxy runs on the host ([`applies`]). Otherwise replacing stays stop-then-start.

pub mod decide;
pub mod metrics;
pub mod probe;
pub mod record;
pub mod slot;

use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use holdfast_spec::{DesiredState, FailureAction, Proxy, Route, UpdateOrder};

use super::apply;
use super::desired::DesiredContainer;
use super::live::{ContainerState, Health, ImageDefaults, LiveContainer};
use super::observe::Observer;
use super::plan::{Action, PlanPolicy, ServicePlan, plan};
use super::reconcile::{Context, Outcome, ReconcileError, Report, docker, readiness, short};
use crate::resources::route::proxies::Proxies;
use decide::{Decision, Seen, decide};
use metrics::RolloutMetrics;
use record::{Finished, Phase, Pin, Record, Records, Side, now_ms};
use slot::{Slot, address, in_slot};

/// How long the proxy may take to route to a new container that passed its probes.
const SWITCH_TIMEOUT: Duration = Duration::from_secs(30);
/// Switch attempts before the update fails.
const SWITCH_ATTEMPTS: u32 = 3;
/// How often a pass looks again while the proxy switches or drains.
const STEP: Duration = Duration::from_millis(100);
/// The drain wait for an engine that cannot count what the old container still holds.
const BLIND_DRAIN: Duration = Duration::from_secs(2);
/// Log lines of a failed new container kept in the status and the event.
const LOG_LINES: usize = 15;

/// What start-first updates share across services: the records, the proxy, metrics.
#[derive(Debug)]
pub struct Rollouts {
    state_dir: std::path::PathBuf,
    records: Records,
    proxies: Arc<Proxies>,
    metrics: RolloutMetrics,
}

impl Rollouts {
    /// Records under `state_dir`, asking `proxies`.
    pub fn new(state_dir: &std::path::Path, proxies: Arc<Proxies>) -> Self {
        Rollouts {
            state_dir: state_dir.to_path_buf(),
            records: Records::new(state_dir),
            proxies,
            metrics: RolloutMetrics::default(),
        }
    }

    /// The records.
    pub fn records(&self) -> &Records {
        &self.records
    }

    /// The metrics.
    pub fn metrics(&self) -> &RolloutMetrics {
        &self.metrics
    }
}

/// The routes that reach `service`, by name, and the first one with its port.
pub fn routes_to<'a>(state: &'a DesiredState, service: &str) -> Vec<(&'a str, &'a Route, u16)> {
    state
        .routes
        .iter()
        .filter_map(|(name, route)| {
            route
                .paths
                .iter()
                .find(|p| p.service == service)
                .map(|p| (name.as_str(), route, p.port))
        })
        .collect()
}

/// Whether `service` is updated start-first through its route: `order: start-first`,
/// a route to it, and a proxy on the host (a proxy that is itself a service reaches
/// containers on a Docker network, which holdfast cannot probe from the host).
pub fn applies(state: &DesiredState, service: &str) -> bool {
    state.services.get(service).is_some_and(|s| {
        s.deploy.update_config.order == UpdateOrder::StartFirst
            && state.proxy.as_ref().is_some_and(|p| p.service.is_none())
            && !routes_to(state, service).is_empty()
    })
}

/// The side of an update `live` is.
fn side(live: &LiveContainer) -> Side {
    Side {
        id: live.id.clone(),
        slot: Slot::of(live),
        hash: live.spec_hash().unwrap_or_default().to_string(),
        image: live.image.clone(),
    }
}

/// What the service's pass observed before it handed over to the update.
pub(super) struct Observed {
    /// The file's container (blue).
    pub desired: DesiredContainer,
    /// Every container of the service.
    pub lives: Vec<LiveContainer>,
    /// The image's defaults.
    pub image_defaults: ImageDefaults,
    /// What the pass did so far (networks, images).
    pub steps: Vec<String>,
    /// Which replica this is (1 for a service of one container): each replica is
    /// updated on its own, with its own record, slots and marker.
    pub replica: u32,
}

/// One pass of a start-first service.
pub(super) async fn reconcile(
    cx: &Context<'_>,
    observer: &Observer<'_>,
    rollouts: &Rollouts,
    name: &str,
    observed: Observed,
) -> Result<Report, ReconcileError> {
    let Observed {
        desired,
        lives,
        image_defaults,
        steps,
        replica,
    } = observed;
    let (Some(proxy), Some((_, route, port))) =
        (&cx.state.proxy, routes_to(cx.state, name).first().copied())
    else {
        return Err(ReconcileError::Rollout(format!(
            "service `{name}` is no longer behind a route"
        )));
    };
    let mut pass = Pass {
        cx,
        observer,
        rollouts,
        name,
        proxy,
        route,
        port,
        record: rollouts.records.load(
            &cx.state.name,
            &crate::resources::route::ports::instance(name, replica),
        ),
        instance: crate::resources::route::ports::instance(name, replica),
        replica,
        target: desired.clone(),
        file_hash: desired.spec_hash.clone(),
        lives,
        image_defaults,
        steps,
    };
    pass.run().await
}

/// What one pass works with.
struct Pass<'a, 'c> {
    cx: &'a Context<'c>,
    observer: &'a Observer<'c>,
    rollouts: &'a Rollouts,
    name: &'a str,
    proxy: &'a Proxy,
    route: &'a Route,
    port: u16,
    record: Record,
    /// What the record and the marker are kept under: the service, or
    /// `service#n` for its replica `n`.
    instance: String,
    replica: u32,
    /// The spec in force: the file's, or a pinned rollback's.
    target: DesiredContainer,
    /// The file's spec hash.
    file_hash: String,
    lives: Vec<LiveContainer>,
    image_defaults: ImageDefaults,
    steps: Vec<String>,
}

impl Pass<'_, '_> {
    fn docker(&self) -> &Docker {
        self.cx.docker
    }

    fn project(&self) -> &str {
        &self.cx.state.name
    }

    fn save(&self) -> Result<(), ReconcileError> {
        self.rollouts
            .records
            .save(self.project(), &self.instance, &self.record)
            .map_err(|e| ReconcileError::Rollout(format!("cannot save the update record: {e}")))
    }

    /// The marker that picks the routed slot, when the engine switches by marker.
    fn marker(&self) -> Option<std::path::PathBuf> {
        slot::switches_by_marker(self.proxy)
            .then(|| slot::marker(&self.rollouts.state_dir, self.project(), &self.instance))
    }

    /// The slot switch the route renders for this service, when it switches by marker.
    fn switch_model(&self) -> Option<holdfast_proxy::model::SlotSwitch> {
        self.marker()?;
        slot::switch(
            self.cx.state,
            &self.rollouts.state_dir,
            self.name,
            self.port,
            self.replica,
        )
    }

    /// Points the route at `slot` by the marker (engines that switch by marker).
    fn mark(&mut self, slot: Slot) -> Result<bool, ReconcileError> {
        let Some(marker) = self.marker() else {
            return Ok(false);
        };
        if slot::marked(&marker) == slot {
            return Ok(false);
        }
        slot::set_marker(&marker, slot).map_err(|e| {
            ReconcileError::Rollout(format!(
                "cannot point the route at the {} slot ({}): {e}",
                slot.as_str(),
                marker.display()
            ))
        })?;
        self.steps
            .push(format!("pointed the route at the {} slot", slot.as_str()));
        Ok(true)
    }

    fn update_config(&self) -> &holdfast_spec::UpdateConfig {
        &self.cx.state.services[self.name].deploy.update_config
    }

    async fn run(&mut self) -> Result<Report, ReconcileError> {
        // `holdfast rollback`: pin the revision asked for.
        if let Some(number) = self
            .rollouts
            .records
            .take_rollback(self.project(), &self.instance)
        {
            match self.record.rollback_target(Some(number)) {
                Some(revision) => {
                    self.record.pin = Some(Pin {
                        desired: record::restored(revision.desired.clone()),
                        rejected: self.file_hash.clone(),
                        reason: format!("holdfast rollback to revision {number}"),
                    });
                    self.steps.push(format!(
                        "rolling back to revision {number} ({})",
                        revision.desired.image
                    ));
                    self.save()?;
                }
                None => {
                    tracing::warn!(revision = number, "rollback to an unknown revision ignored")
                }
            }
        }
        // A pin holds while the file still says what was rolled back.
        if let Some(pin) = &self.record.pin {
            if pin.rejected == self.file_hash {
                let mut pinned = record::restored(pin.desired.clone());
                if let Some(rev) = self.target.labels.get(super::labels::REVISION) {
                    pinned
                        .labels
                        .insert(super::labels::REVISION.to_string(), rev.clone());
                }
                self.target = pinned;
            } else {
                self.record.pin = None;
                self.save()?;
            }
        }
        if self.record.phase == Phase::Paused {
            let held = self
                .record
                .to
                .as_ref()
                .is_some_and(|t| t.hash == self.target.spec_hash);
            if held {
                let live = self.lives.iter().position(|l| l.state.is_running());
                let reason = format!(
                    "update paused: {}; change the file, or run `holdfast rollback service/{}`",
                    self.record.failure.clone().unwrap_or_default(),
                    self.name
                );
                return Ok(self.report(live, Outcome::Degraded { reason }, false));
            }
            self.record.finish(None);
            self.save()?;
        }

        let routed = if decide::needs_proxy(&self.lives) {
            let addresses: Vec<String> = self
                .lives
                .iter()
                .filter_map(|l| address(l, self.port))
                .collect();
            let routes: Vec<String> = routes_to(self.cx.state, self.name)
                .iter()
                .map(|(n, _, _)| n.to_string())
                .collect();
            let switch = self.switch_model();
            match self
                .rollouts
                .proxies
                .routed(self.proxy, &routes, &addresses, switch.as_ref())
                .await
            {
                Ok(r) => Some(r),
                Err(e) => {
                    let publish = self.by_record();
                    return Ok(self.report(
                        publish,
                        Outcome::Progressing {
                            reason: format!("the proxy cannot be read ({e}); nothing is stopped"),
                            retry_after: Duration::from_secs(1),
                        },
                        false,
                    ));
                }
            }
        } else {
            None
        };
        let decision = decide(&Seen {
            target: &self.target.spec_hash,
            lives: &self.lives,
            record: &self.record,
            routed: routed.as_deref(),
            port: self.port,
        });
        match decision {
            Decision::RemoveExtras(ids) => {
                for id in &ids {
                    apply::stop_and_remove(self.docker(), id, self.target.stop_grace_seconds)
                        .await
                        .map_err(docker("remove an extra container"))?;
                    self.observer.removed(id);
                    self.steps.push(format!(
                        "removed extra container {}",
                        id.get(..12).unwrap_or(id)
                    ));
                }
                self.lives.retain(|l| !ids.contains(&l.id));
                let publish = self.by_record();
                Ok(self.report(publish, progressing("removed extra containers", STEP), true))
            }
            Decision::Start { slot, old } => self.start(slot, old).await,
            Decision::Steady { live } => self.steady(live).await,
            Decision::Probe { new, old } => self.probe(new, old).await,
            Decision::Switch { new, old } => self.switch(new, old).await,
            Decision::Drain { new, old } => self.drain(new, old).await,
        }
    }

    /// The container to publish when this pass cannot tell better: the new one from
    /// the switch on, the old one before.
    fn by_record(&self) -> Option<usize> {
        let want = match self.record.phase {
            Phase::Switching | Phase::Draining | Phase::Stopping | Phase::Monitoring => {
                self.record.to.as_ref()
            }
            _ => self.record.from.as_ref(),
        };
        want.and_then(|s| self.lives.iter().position(|l| l.id == s.id))
            .or_else(|| (self.lives.len() == 1 && self.record.phase == Phase::Idle).then_some(0))
    }

    /// Starts the new container in `slot` beside `old`.
    async fn start(&mut self, slot: Slot, old: Option<usize>) -> Result<Report, ReconcileError> {
        if let Some(reason) = self.cx.waiting_for {
            return Ok(self.report(old, progressing(reason, Duration::from_secs(5)), false));
        }
        if let Some(wait) = self.cx.start_wait {
            let reason = format!(
                "crashed repeatedly; next start in {:.1}s",
                wait.as_secs_f64()
            );
            return Ok(self.report(old, progressing(&reason, wait), false));
        }
        let desired = in_slot(self.cx.state, &self.target, slot, self.replica);
        let id = apply::create_and_start(self.docker(), &desired).await?;
        let Some(new) = self
            .observer
            .reinspect(&id)
            .await
            .map_err(docker("inspect the new container"))?
        else {
            return Err(ReconcileError::Rollout(format!(
                "the new container {} disappeared right after it started",
                short(&id)
            )));
        };
        let from = old.map(|i| side(&self.lives[i]));
        let rollback = self.record.pin.is_some();
        self.record.begin(from, side(&new), rollback);
        self.record.enter(Phase::Probing);
        self.save()?;
        self.steps.push(match old {
            Some(i) => format!(
                "started new container {} ({}) beside {} ({})",
                short(&id),
                slot.as_str(),
                short(&self.lives[i].id),
                Slot::of(&self.lives[i]).as_str()
            ),
            None => format!("started container {} ({})", short(&id), slot.as_str()),
        });
        let interval = self.route.health.interval.std();
        let mut report = self.report(
            old,
            progressing("probing the new container", interval),
            true,
        );
        report.plan = Some(ServicePlan {
            service: self.name.to_string(),
            actions: vec![if old.is_some() {
                Action::Recreate {
                    reasons: vec!["start-first update".into()],
                }
            } else {
                Action::Create
            }],
            drift: Vec::new(),
        });
        Ok(report)
    }

    /// One container made from the target: the ordinary plan, and the monitor.
    async fn steady(&mut self, live: usize) -> Result<Report, ReconcileError> {
        let l = self.lives[live].clone();
        if self.record.phase == Phase::Monitoring {
            return self.monitor(live).await;
        }
        if self.record.phase != Phase::Idle {
            // A record left behind by an update the host no longer shows.
            self.record.finish(None);
            self.save()?;
        }
        if self.record.current.as_ref().map(|c| &c.spec_hash) != Some(&self.target.spec_hash) {
            self.record.set_current(&self.target);
            self.save()?;
        }
        // The marker follows the one container (healed if someone removed it).
        if l.state.is_running() {
            self.mark(Slot::of(&l))?;
        }
        let desired = in_slot(self.cx.state, &self.target, Slot::of(&l), self.replica);
        let the_plan = plan(
            &desired,
            Some(&l),
            &self.image_defaults,
            &PlanPolicy::default(),
        );
        if the_plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::Recreate { .. }))
        {
            // Changed by hand: replaced the same way, without downtime.
            let mut report = self.start(Slot::of(&l).other(), Some(live)).await?;
            report.plan = Some(the_plan);
            return Ok(report);
        }
        let changed = the_plan.actions.iter().any(Action::changes_anything);
        let id = apply::execute(self.docker(), &desired, Some(&l), &the_plan.actions).await?;
        let drifted = !the_plan.drift.is_empty();
        let mut report = if changed {
            let after = match &id {
                Some(id) => self
                    .observer
                    .reinspect(id)
                    .await
                    .map_err(docker("inspect the container"))?,
                None => None,
            };
            if let Some(after) = after {
                self.lives[live] = after;
            }
            let outcome = readiness(Some(&self.lives[live]));
            self.report(Some(live), outcome, true)
        } else {
            let outcome = readiness(Some(&l));
            self.report(Some(live), outcome, true)
        };
        report.drifted = drifted;
        report.plan = Some(the_plan);
        Ok(report)
    }

    /// Watches the new container for `update_config.monitor`.
    async fn monitor(&mut self, live: usize) -> Result<Report, ReconcileError> {
        let l = &self.lives[live];
        let monitor = self.update_config().monitor.std();
        let failing = match (l.state, l.health) {
            (ContainerState::Running, Health::Unhealthy) => Some("turned unhealthy".to_string()),
            (ContainerState::Running, _) => None,
            (state, _) => Some(format!("is {state}")),
        };
        if let Some(what) = failing {
            let reason = format!(
                "the new container {what} within update_config.monitor ({}s)",
                monitor.as_secs()
            );
            return self.monitor_failed(live, reason).await;
        }
        let left = monitor.saturating_sub(Duration::from_secs_f64(self.record.in_phase()));
        if left.is_zero() {
            self.succeed();
            self.save()?;
            self.steps.push("update finished".to_string());
            let outcome = readiness(Some(&self.lives[live]));
            return Ok(self.report(Some(live), outcome, true));
        }
        let reason = format!(
            "monitoring the new container ({:.0}s left)",
            left.as_secs_f64()
        );
        Ok(self.report(
            Some(live),
            progressing(&reason, left.min(Duration::from_secs(1))),
            false,
        ))
    }

    async fn monitor_failed(
        &mut self,
        live: usize,
        reason: String,
    ) -> Result<Report, ReconcileError> {
        match self.update_config().failure_action {
            FailureAction::Continue => {
                self.succeed();
                self.save()?;
                let outcome = readiness(Some(&self.lives[live]));
                Ok(self.report(Some(live), outcome, true))
            }
            FailureAction::Rollback if self.record.current.is_some() => {
                let previous = self.record.current.clone();
                self.end("rolled_back", Some(reason.clone()));
                if let Some(previous) = previous {
                    self.record.pin = Some(Pin {
                        desired: previous,
                        rejected: self.file_hash.clone(),
                        reason: reason.clone(),
                    });
                }
                self.save()?;
                self.rollouts.metrics.rolled_back();
                self.steps.push(format!("rolling back: {reason}"));
                Ok(self.report(
                    Some(live),
                    progressing(&format!("rolling back: {reason}"), Duration::ZERO),
                    true,
                ))
            }
            FailureAction::Rollback | FailureAction::Pause => {
                let to = self.record.to.clone();
                self.end("paused", Some(reason.clone()));
                self.record.phase = Phase::Paused;
                self.record.to = to;
                self.record.failure = Some(reason.clone());
                self.save()?;
                Ok(self.report(
                    Some(live),
                    Outcome::Degraded {
                        reason: format!("update paused: {reason}"),
                    },
                    true,
                ))
            }
        }
    }

    /// Probes the new container once.
    async fn probe(&mut self, new: usize, old: Option<usize>) -> Result<Report, ReconcileError> {
        if self.record.to.as_ref().map(|t| &t.id) != Some(&self.lives[new].id) {
            // The host shows a new container the record does not (a lost record).
            let from = old.map(|i| side(&self.lives[i]));
            self.record
                .begin(from, side(&self.lives[new]), self.record.pin.is_some());
        }
        self.record.enter(Phase::Probing);
        let health = self.route.health.clone();
        let n = self.lives[new].clone();
        match n.state {
            ContainerState::Running => {}
            ContainerState::Created => {
                apply::start(self.docker(), &n.id)
                    .await
                    .map_err(docker("start the new container"))?;
                self.save()?;
                return Ok(self.report(
                    old,
                    progressing("starting the new container", health.interval.std()),
                    true,
                ));
            }
            state => {
                return self
                    .fail(
                        new,
                        format!("the new container is {state} before it passed its probes"),
                    )
                    .await;
            }
        }
        if n.health == Health::Unhealthy {
            return self
                .fail(
                    new,
                    "the new container's Docker healthcheck reports unhealthy".into(),
                )
                .await;
        }
        let Some(addr) = address(&n, self.port) else {
            return self
                .fail(
                    new,
                    format!(
                        "the new container publishes no 127.0.0.1 port for {}",
                        self.port
                    ),
                )
                .await;
        };
        match probe::probe(&addr, &health.path, health.timeout.std()).await {
            Ok(()) => {
                self.record.passes += 1;
                self.record.probe_error = None;
            }
            Err(e) => {
                self.record.passes = 0;
                self.record.probe_error = Some(e);
            }
        }
        let docker_ok = matches!(n.health, Health::None | Health::Healthy);
        if self.record.passes >= health.passes && docker_ok {
            self.record.enter(Phase::Switching);
            self.save()?;
            self.steps.push(format!(
                "new container {} passed {} probes of {}",
                short(&n.id),
                self.record.passes,
                health.path
            ));
            return self.switch(new, old).await;
        }
        if self.record.in_phase() > health.deadline.std().as_secs_f64() {
            let why = match &self.record.probe_error {
                Some(e) => e.clone(),
                None if !docker_ok => "its Docker healthcheck is still starting".into(),
                None => format!("{} of {} probes passed", self.record.passes, health.passes),
            };
            return self
                .fail(
                    new,
                    format!(
                        "the new container did not become healthy within {}s: {why}",
                        health.deadline.std().as_secs()
                    ),
                )
                .await;
        }
        self.save()?;
        let progress = probing(self.record.passes, health.passes);
        let reason = match &self.record.probe_error {
            Some(e) => format!("{progress}: {e}"),
            None => progress,
        };
        Ok(self.report(old, progressing(&reason, health.interval.std()), false))
    }

    /// Points the route at the new container (by publishing it) and waits until the
    /// proxy shows it.
    async fn switch(&mut self, new: usize, old: Option<usize>) -> Result<Report, ReconcileError> {
        self.record.enter(Phase::Switching);
        self.save()?;
        let slot = Slot::of(&self.lives[new]);
        if self.mark(slot)?
            && let Some(old) = old
        {
            // The proxy picks the slot on each request: it routes there now.
            return self.drain(new, old).await;
        }
        let Some(old) = old else {
            // A first deploy: publishing it is the switch.
            self.after_switch();
            self.save()?;
            self.steps.push("routed the new container".into());
            let outcome = readiness(Some(&self.lives[new]));
            return Ok(self.report(Some(new), outcome, true));
        };
        if self.record.in_phase() > SWITCH_TIMEOUT.as_secs_f64() {
            let attempts = self.record.passes;
            self.record.enter(Phase::Probing);
            self.record.passes = 0;
            self.record.probe_error = Some(format!(
                "the proxy did not route to the new container within {}s",
                SWITCH_TIMEOUT.as_secs()
            ));
            if attempts >= SWITCH_ATTEMPTS {
                return self
                    .fail(new, "the proxy did not route to the new container".into())
                    .await;
            }
            self.save()?;
            return Ok(self.report(
                Some(old),
                progressing("the switch timed out; probing again", STEP),
                false,
            ));
        }
        self.save()?;
        Ok(self.report(
            Some(new),
            progressing("waiting for the proxy to route to the new container", STEP),
            false,
        ))
    }

    /// After the switch without an old container: monitor, or done.
    fn after_switch(&mut self) {
        if self.update_config().monitor.std().is_zero() {
            self.succeed();
        } else {
            self.record.enter(Phase::Monitoring);
        }
    }

    /// Drains the old container, then stops it.
    async fn drain(&mut self, new: usize, old: usize) -> Result<Report, ReconcileError> {
        if self.record.phase != Phase::Draining {
            if self.record.to.as_ref().map(|t| &t.id) != Some(&self.lives[new].id) {
                let from = Some(side(&self.lives[old]));
                self.record
                    .begin(from, side(&self.lives[new]), self.record.pin.is_some());
            }
            self.record.enter(Phase::Draining);
            self.save()?;
            self.steps.push(format!(
                "the proxy routes to new container {}",
                short(&self.lives[new].id)
            ));
        }
        let drain = self.route.drain.std();
        let elapsed = Duration::from_secs_f64(self.record.in_phase());
        let held = match address(&self.lives[old], self.port) {
            Some(a) => match self.rollouts.proxies.in_flight(self.proxy, &a).await {
                Ok(n) => n,
                Err(e) => {
                    return Ok(self.report(
                        Some(new),
                        Outcome::Progressing {
                            reason: format!("the proxy cannot be read ({e}); nothing is stopped"),
                            retry_after: Duration::from_secs(1),
                        },
                        false,
                    ));
                }
            },
            None => Some(0),
        };
        self.record.in_flight = held;
        let drained = match held {
            Some(0) => true,
            Some(_) => false,
            None => elapsed >= BLIND_DRAIN.min(drain),
        };
        if !drained && elapsed < drain {
            self.save()?;
            let reason = match held {
                Some(n) => format!("draining the old container: {n} in flight"),
                None => "draining the old container".to_string(),
            };
            return Ok(self.report(Some(new), progressing(&reason, STEP), false));
        }
        self.record.enter(Phase::Stopping);
        self.save()?;
        let o = self.lives[old].id.clone();
        let grace = self.target.stop_grace_seconds;
        apply::stop_and_remove(self.docker(), &o, grace)
            .await
            .map_err(docker("stop the old container"))?;
        self.observer.removed(&o);
        self.steps.push(format!(
            "drained old container {} in {:.1}s{}, stopped and removed it",
            short(&o),
            elapsed.as_secs_f64(),
            if drained { "" } else { " (drain time up)" }
        ));
        if self.update_config().monitor.std().is_zero() {
            self.succeed();
        } else {
            self.record.enter(Phase::Monitoring);
        }
        self.save()?;
        self.lives.remove(old);
        let new = if old < new { new - 1 } else { new };
        let outcome = if self.record.phase == Phase::Monitoring {
            progressing("monitoring the new container", Duration::from_secs(1))
        } else {
            readiness(Some(&self.lives[new]))
        };
        Ok(self.report(Some(new), outcome, true))
    }

    /// The update succeeded: the target serves.
    fn succeed(&mut self) {
        self.end("succeeded", None);
        let target = self.target.clone();
        self.record.set_current(&target);
    }

    /// Ends the update with `result`, into the history and the metrics.
    fn end(&mut self, result: &str, reason: Option<String>) {
        self.record.enter(Phase::Idle);
        let finished = Finished {
            service: self.name.to_string(),
            result: result.replace('_', " "),
            reason,
            from_image: self.record.from.as_ref().map(|s| s.image.clone()),
            to_image: self
                .record
                .to
                .as_ref()
                .map_or_else(|| self.target.image.clone(), |s| s.image.clone()),
            rollback: self.record.rollback,
            started_ms: self.record.started_ms,
            ended_ms: now_ms(),
            phases: self.record.phases.clone(),
        };
        self.rollouts.metrics.ended(result, &finished.phases);
        if let Err(e) = self.rollouts.records.append(self.project(), &finished) {
            tracing::warn!(error = %e, "cannot append to the update history");
        }
        self.record.finish(None);
    }

    /// The new container failed before it took traffic: it goes, the old one stays
    /// untouched, and the pass fails (the runtime retries with backoff).
    async fn fail(&mut self, new: usize, reason: String) -> Result<Report, ReconcileError> {
        let id = self.lives[new].id.clone();
        let logs = last_logs(self.docker(), &id).await;
        apply::stop_and_remove(self.docker(), &id, Some(0))
            .await
            .map_err(docker("remove the failed new container"))?;
        self.observer.removed(&id);
        let message = if logs.is_empty() {
            format!("{reason}; the old container keeps serving")
        } else {
            format!(
                "{reason}; the old container keeps serving. Last log lines of the new container:\n{logs}"
            )
        };
        self.end("failed", Some(reason));
        self.record.failure = Some(message.clone());
        self.save()?;
        Err(ReconcileError::Rollout(message))
    }

    /// The report of this pass, publishing `publish` (the container the route should
    /// send traffic to, if any).
    fn report(&self, publish: Option<usize>, outcome: Outcome, applied: bool) -> Report {
        let live = publish.map(|i| self.lives[i].clone());
        let rollout = (self.record.phase != Phase::Idle || !self.record.phases.is_empty())
            .then(|| self.status_line());
        Report {
            service: self.name.to_string(),
            plan: Some(ServicePlan {
                service: self.name.to_string(),
                actions: vec![Action::Nothing],
                drift: Vec::new(),
            }),
            steps: self.steps.clone(),
            outcome,
            spec_hash: Some(self.target.spec_hash.clone()),
            drifted: false,
            restarted: false,
            image: Some(self.target.image.clone()),
            ports: self.target.ports.iter().map(ToString::to_string).collect(),
            container: live.as_ref().map(|l| l.id.clone()),
            applied,
            desired: Some(in_slot(
                self.cx.state,
                &self.target,
                live.as_ref().map_or(Slot::Blue, Slot::of),
                self.replica,
            )),
            after: live.as_ref().map(|l| (l.state, l.health)),
            started_at: live.as_ref().map(|l| l.started_at.clone()),
            live,
            image_defaults: self.image_defaults.clone(),
            held: false,
            rollout,
            replicas: Vec::new(),
        }
    }

    /// The ROLLOUT column: the phase, what it waits for, and each phase's time.
    fn status_line(&self) -> String {
        let r = &self.record;
        let mut head = r.phase.as_str().to_string();
        match r.phase {
            Phase::Probing => {
                head = probing(r.passes, self.route.health.passes);
                if let Some(e) = &r.probe_error {
                    head.push_str(&format!(" ({e})"));
                }
            }
            Phase::Draining => {
                if let Some(n) = r.in_flight {
                    head = format!("draining ({n} in flight)");
                }
            }
            _ => {}
        }
        if r.rollback {
            head.push_str(" [rollback]");
        }
        format!("{head}; {}", r.timeline().join(", "))
    }
}

/// `probing n/N`, and once the probes passed, that the container's own health
/// check is what the update waits for.
fn probing(passes: u32, needed: u32) -> String {
    if passes >= needed {
        format!("probing {needed}/{needed}, waiting for the container's health check")
    } else {
        format!("probing {passes}/{needed}")
    }
}

fn progressing(reason: &str, retry_after: Duration) -> Outcome {
    Outcome::Progressing {
        reason: reason.to_string(),
        retry_after,
    }
}

/// The last [`LOG_LINES`] lines of container `id` (empty when they cannot be read).
async fn last_logs(docker: &Docker, id: &str) -> String {
    use bollard::container::LogOutput;
    use bollard::query_parameters::LogsOptionsBuilder;
    use futures_util::StreamExt;
    let options = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .tail(&LOG_LINES.to_string())
        .build();
    let mut stream = docker.logs(id, Some(options));
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(Some(Ok(item))) = tokio::time::timeout_at(deadline, stream.next()).await {
        if let LogOutput::StdOut { message }
        | LogOutput::StdErr { message }
        | LogOutput::Console { message } = item
        {
            out.extend_from_slice(&message);
        }
    }
    String::from_utf8_lossy(&out).trim_end().to_string()
}
