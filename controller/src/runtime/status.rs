//! One reconcile of one key, and the status state machine that records its result:
//! phases, backoff, stalls, requeues, RESTARTS, published values, events and metrics.

use std::collections::BTreeMap;
use std::time::Duration;

use super::controller::{Controller, Desired};
use super::kind::{Cx, ErrorAction, Failure, Mode, ObjectRef, Outcome, Report};
use super::lock;
use super::needs;
use super::store::{EventKind, Phase, ResourceStatus, now_ms};

/// What the runtime does after recording a status.
#[derive(Debug, Default)]
struct Next {
    /// Look again after this long.
    requeue: Option<Duration>,
    /// Drop the status: the object is gone.
    remove: bool,
}

impl Controller {
    /// Reconciles `key` once and records the result.
    pub(super) async fn reconcile_key(&self, key: &ObjectRef) {
        let Some(desired) = self.current() else {
            return;
        };
        let project = desired.state.name.clone();
        let Ok(kind) = self.registry.get(&key.kind) else {
            // A status of a kind this controller no longer drives.
            self.drop_status(&project, key);
            return;
        };
        let previous = lock(&self.statuses).get(&key.to_string()).cloned();
        let suspended = previous.as_ref().is_some_and(|s| s.suspended);
        let published = lock(&self.published).clone();
        let waiting_for = self.waiting_for(&desired, key, &published);
        let requests: Vec<String> = lock(&self.requests)
            .get(key)
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default();
        let cx = Cx {
            state: &desired.state,
            // A suspended object is observed and reported, never changed: whatever
            // the kind does, it gets a plan-mode pass.
            mode: if suspended { Mode::Plan } else { Mode::Apply },
            suspended,
            removal_allowed: !desired.removal_refused.contains(&key.kind),
            revision: desired.revision.as_deref(),
            waiting_for: waiting_for.as_deref(),
            published: &published,
            requests: &requests,
        };
        let pass = self
            .passes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let retries = lock(&self.backoff).failures(key);
        let started = std::time::Instant::now();
        let result = kind.reconcile(&key.name, &cx, retries).await;
        let elapsed = started.elapsed();
        lock(&self.reconciled).insert(key.clone(), desired.generation);
        tracing::debug!(object = %key, elapsed_ms = elapsed.as_millis() as u64, "reconciled");

        let mut status = previous
            .clone()
            .unwrap_or_else(|| ResourceStatus::new(key, &project));
        status.report_only = kind.report_only(&desired.state, &key.name);
        let next = match result {
            Ok(report) => self.record_success(&desired, key, &mut status, &previous, report),
            Err(failure) => self.record_failure(&desired, key, &mut status, &previous, failure),
        };
        if next.remove {
            self.metrics
                .observe_reconcile(&key.kind, "removed", elapsed);
            self.metrics.remove_resource(&key.kind, &project, &key.name);
            lock(&self.finished).insert(key.clone(), pass);
            self.drop_status(&project, key);
            return;
        }
        if let Some(delay) = next.requeue {
            self.queue.add_after(key.clone(), delay);
        }
        if previous
            .as_ref()
            .is_none_or(|p| p.phase != status.phase || p.message != status.message)
        {
            tracing::info!(project, object = %key, phase = %status.phase, "{}", status.message);
        }
        // A status is written only when it changed; the time it was looked at, set
        // after the comparison, does not count.
        let changed = previous.as_ref().is_none_or(|p| *p != status);
        status.observed_at = now_ms();
        if let Some(store) = &self.store
            && changed
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
        self.metrics.observe_reconcile(&key.kind, result, elapsed);
        self.metrics
            .set_ready(&key.kind, &project, &key.name, status.phase == Phase::Ready);
        let phase_changed = previous.as_ref().is_none_or(|p| p.phase != status.phase);
        let published_changed = previous
            .as_ref()
            .is_none_or(|p| p.published != status.published);
        lock(&self.published).insert(key.clone(), status.published.clone());
        lock(&self.statuses).insert(key.to_string(), status);
        lock(&self.finished).insert(key.clone(), pass);
        // Dependents are queued before anyone is told, so that a waiter never sees the
        // queue empty between this pass and the passes it causes.
        if phase_changed || published_changed {
            self.requeue_dependents(&desired, key);
        }
        self.changed.send_modify(|n| *n += 1);
    }

    /// The first need of `key` that is not met, and asks for the actions it waits for.
    fn waiting_for(
        &self,
        desired: &Desired,
        key: &ObjectRef,
        published: &BTreeMap<ObjectRef, BTreeMap<String, String>>,
    ) -> Option<String> {
        let object = desired.objects.get(key)?;
        if object.needs.is_empty() {
            return None;
        }
        let statuses = lock(&self.statuses);
        let mut requests = lock(&self.requests);
        let mut first = None;
        for need in &object.needs {
            if let super::kind::Need::Done { of, token } = need
                && requests
                    .entry(of.clone())
                    .or_default()
                    .insert(token.clone())
            {
                self.queue.add(of.clone());
            }
            if first.is_none() {
                first = needs::unmet(need, &statuses, published);
            }
        }
        first
    }

    /// Queues the objects whose needs name `key` (it changed phase or what it publishes).
    fn requeue_dependents(&self, desired: &Desired, key: &ObjectRef) {
        for dependent in desired.dependents.get(key).into_iter().flatten() {
            self.trigger(dependent);
        }
    }

    pub(super) fn drop_status(&self, project: &str, key: &ObjectRef) {
        lock(&self.statuses).remove(&key.to_string());
        lock(&self.published).remove(key);
        lock(&self.requests).remove(key);
        lock(&self.backoff).succeeded(key);
        if let Some(store) = &self.store {
            let _ = store.remove_status(project, &key.to_string());
        }
        self.changed.send_modify(|n| *n += 1);
    }

    fn record_success(
        &self,
        desired: &Desired,
        key: &ObjectRef,
        status: &mut ResourceStatus,
        previous: &Option<ResourceStatus>,
        report: Report,
    ) -> Next {
        let project = &desired.state.name;
        self.record_events(project, key, &report, previous.as_ref());
        lock(&self.stalled).remove(key);
        lock(&self.backoff).succeeded(key);
        status.retries = 0;
        status.next_retry = None;
        status.last_error = None;
        status.drift = report.drift.iter().map(|d| d.field.clone()).collect();
        if report.applied && report.drifted {
            self.metrics.drift_corrected(&key.kind);
        }
        if report.restarted {
            self.metrics.unhealthy_restart(&key.kind, &key.name);
        }
        if report.repaired {
            status.restarts += 1;
        }
        status.columns = report.columns.clone();
        status.published = report.published.clone();
        let mut next = Next::default();
        match &report.outcome {
            Outcome::Ready => {
                status.phase = if status.suspended {
                    Phase::Suspended
                } else {
                    Phase::Ready
                };
                status.message = report.ready_message.into();
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
                next.requeue = Some(*retry_after);
            }
            Outcome::Degraded { reason } => {
                status.phase = Phase::Degraded;
                status.message = reason.clone();
                next.requeue = Some(self.options.resync);
            }
            Outcome::Drifted => {
                status.phase = if status.suspended {
                    Phase::Suspended
                } else {
                    Phase::Degraded
                };
                status.message = format!(
                    "differs from the file ({}); not corrected ({})",
                    status.drift.join(", "),
                    if status.suspended {
                        "suspended"
                    } else {
                        "report-only"
                    }
                );
            }
            Outcome::Removed => next.remove = true,
            Outcome::RemovalRefused => {
                status.phase = Phase::Stalled;
                status.message = "removed from the file; kept by the mass-removal guard".into();
            }
        }
        next
    }

    fn record_failure(
        &self,
        desired: &Desired,
        key: &ObjectRef,
        status: &mut ResourceStatus,
        previous: &Option<ResourceStatus>,
        failure: Failure,
    ) -> Next {
        let project = &desired.state.name;
        let object = key.to_string();
        let message = failure.error.to_string();
        status.last_error = Some(message.clone());
        let mut next = Next::default();
        match failure.action {
            ErrorAction::Stall => {
                status.phase = Phase::Stalled;
                status.message = format!("{message} (not retried until the spec changes)");
                lock(&self.stalled).insert(key.clone(), desired.hash_of(key));
                if previous.as_ref().is_none_or(|p| p.phase != Phase::Stalled) {
                    self.event(project, &object, EventKind::Warning, "Stalled", &message);
                }
            }
            ErrorAction::Retry => {
                let delay = lock(&self.backoff).failed(key);
                self.metrics.retry_scheduled(&key.kind);
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
                    project,
                    &object,
                    EventKind::Warning,
                    "ReconcileFailed",
                    &message,
                );
                next.requeue = Some(delay);
            }
            ErrorAction::WaitFor(delay) => {
                status.phase = Phase::Progressing;
                status.next_retry =
                    Some(now_ms() + u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
                status.message = format!("waiting {:.1}s: {message}", delay.as_secs_f64());
                next.requeue = Some(delay);
            }
        }
        next
    }

    /// Events from a report: side steps, drift (once per distinct set of fields, and
    /// again when it is corrected), and the actions carried out.
    fn record_events(
        &self,
        project: &str,
        key: &ObjectRef,
        report: &Report,
        previous: Option<&ResourceStatus>,
    ) {
        let object = key.to_string();
        for step in &report.steps {
            self.event(project, &object, EventKind::Normal, "Applied", step);
        }
        let fields: Vec<String> = report.drift.iter().map(|d| d.field.clone()).collect();
        if report.drifted {
            let details: Vec<String> = report
                .drift
                .iter()
                .map(|d| format!("{}: want {}, have {}", d.field, d.desired, d.live))
                .collect();
            let already = previous.is_some_and(|p| p.drift == fields);
            if !already || (report.applied && !report.actions.is_empty()) {
                self.event(
                    project,
                    &object,
                    EventKind::Warning,
                    report.drift_reason,
                    &details.join("; "),
                );
            }
        }
        if !report.applied {
            return;
        }
        for action in &report.actions {
            let kind = if action.warning {
                EventKind::Warning
            } else {
                EventKind::Normal
            };
            self.event(project, &object, kind, action.reason, &action.description);
            if report.drifted {
                self.event(
                    project,
                    &object,
                    EventKind::Normal,
                    "DriftCorrected",
                    &format!("corrected {}", fields.join(", ")),
                );
            }
        }
    }
}
