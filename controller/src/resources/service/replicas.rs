//! `deploy.replicas`: several containers run one service, `<project>-<service>-<n>`.
//!
//! Each replica is reconciled as a service of one container is (the same observe →
//! plan → apply, see [`reconcile`](super::reconcile)), under its own name and, when a
//! route points at the service, its own 127.0.0.1 ports. Replicas above the count are
//! removed, so scaling down keeps the lowest numbers. A replacement (a changed spec)
//! takes `update_config.parallelism` replicas at a time: a replica that must be
//! replaced waits while that many others are not Ready, so the rest keep serving.

use std::collections::BTreeMap;
use std::time::Duration;

use holdfast_spec::DesiredState;

use super::apply;
use super::desired::DesiredContainer;
use super::live::LiveContainer;
use super::observe::Observer;
use super::plan::{Action, ServicePlan};
use super::reconcile::{Context, Converge, Mode, ReconcileError, Report, converge, docker, short};
use crate::resources::route::ports;
use crate::runtime::kind::Outcome;

/// How often a replica that waits for the others looks again.
const WAIT: Duration = Duration::from_millis(500);

/// The replica a live container of `desired`'s service is (1 for `<project>-<service>`,
/// the name of a service of one container; `n` for `<project>-<service>-<n>`). A
/// start-first update's `-green` twin counts as its replica.
pub fn index(base_name: &str, live: &LiveContainer) -> u32 {
    let name = live.name.trim_start_matches('/');
    let name = name.strip_suffix("-green").unwrap_or(name);
    name.strip_prefix(base_name)
        .and_then(|rest| rest.strip_prefix('-'))
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(1)
}

/// The name of replica `n` of `count`: the service's own name when it runs one
/// container, `<name>-<n>` otherwise.
pub fn name(base_name: &str, n: u32, count: u32) -> String {
    if count <= 1 {
        base_name.to_string()
    } else {
        format!("{base_name}-{n}")
    }
}

/// Replica `n` of `count` of the service whose first replica is `desired` (as
/// [`DesiredContainer::new`] makes it): its name, and its own routed ports. The spec
/// hash stays the same: which replica a container is says where it runs, not what
/// it is.
pub fn replica(
    state: &DesiredState,
    desired: &DesiredContainer,
    n: u32,
    count: u32,
) -> DesiredContainer {
    let mut out = desired.clone();
    out.name = name(&desired.name, n, count);
    if n <= 1 {
        return out;
    }
    let (blue, _) = ports::allocate_all(state);
    let instance = ports::instance(&desired.service, n);
    ports::rebind(
        &mut out.ports,
        |port| blue.get(&(desired.service.clone(), port)).copied(),
        |port| blue.get(&(instance.clone(), port)).copied(),
    );
    out
}

/// Reconciles the `count` replicas of `c.name` (see the [module](self)).
pub(super) async fn reconcile(
    cx: &Context<'_>,
    observer: &Observer<'_>,
    c: Converge<'_>,
    count: u32,
    parallelism: u32,
) -> Result<Report, ReconcileError> {
    let Converge {
        name,
        desired,
        lives,
        image_defaults,
        policy,
        mut steps,
        object_drift,
    } = c;
    let held = policy.suspended || policy.report_only;
    let act = cx.mode == Mode::Apply && !held;
    let mut by_replica: BTreeMap<u32, Vec<LiveContainer>> = BTreeMap::new();
    for live in lives {
        by_replica
            .entry(index(&desired.name, &live))
            .or_default()
            .push(live);
    }
    let mut removed = false;
    for (n, extra) in by_replica.split_off(&(count + 1)) {
        for live in extra {
            if act {
                apply::stop_and_remove(cx.docker, &live.id, desired.stop_grace_seconds)
                    .await
                    .map_err(docker("remove a replica above the count"))?;
                observer.removed(&live.id);
                removed = true;
                steps.push(format!("removed replica {n} ({})", short(&live.id)));
            } else {
                steps.push(format!("remove replica {n} ({})", short(&live.id)));
            }
        }
    }
    let mut reports = Vec::new();
    // Replicas that are not Ready: a replacement waits while `parallelism` are.
    let mut busy = 0;
    for n in 1..=count {
        let want = replica(cx.state, &desired, n, count);
        let mut mine = by_replica.remove(&n).unwrap_or_default();
        if act {
            rename(cx, observer, &want.name, &mut mine, &mut steps).await;
        }
        let part = || Converge {
            name,
            desired: want.clone(),
            lives: mine.clone(),
            image_defaults: image_defaults.clone(),
            policy,
            steps: Vec::new(),
            object_drift: Vec::new(),
        };
        let start_first = cx
            .rollouts
            .filter(|_| act && super::rollout::applies(cx.state, name));
        let report = if let Some(rollouts) = start_first {
            let instance = ports::instance(name, n);
            let idle = rollouts.records().load(&cx.state.name, &instance).phase
                == super::rollout::record::Phase::Idle;
            let current = mine
                .iter()
                .any(|l| l.spec_hash() == Some(want.spec_hash.as_str()));
            // A replica with no container yet takes nothing away: it never waits.
            if busy >= parallelism.max(1) && idle && !current && !mine.is_empty() {
                // Waits, still published as it is, so the route keeps it.
                let planning = Context {
                    mode: Mode::Plan,
                    ..*cx
                };
                let mut planned = converge(&planning, observer, part()).await?;
                planned.outcome = waiting(n, busy, parallelism);
                planned
            } else {
                super::rollout::reconcile(
                    cx,
                    observer,
                    rollouts,
                    name,
                    super::rollout::Observed {
                        desired: want.clone(),
                        lives: mine.clone(),
                        image_defaults: image_defaults.clone(),
                        steps: Vec::new(),
                        replica: n,
                    },
                )
                .await?
            }
        } else if act && busy >= parallelism.max(1) {
            let planning = Context {
                mode: Mode::Plan,
                ..*cx
            };
            let mut planned = converge(&planning, observer, part()).await?;
            if replaces(&planned) {
                planned.outcome = waiting(n, busy, parallelism);
                planned
            } else {
                converge(cx, observer, part()).await?
            }
        } else {
            converge(cx, observer, part()).await?
        };
        if report.outcome != Outcome::Ready {
            busy += 1;
        }
        reports.push(report);
    }
    let mut out = sum(name, &desired, reports, steps, object_drift, held);
    out.applied |= removed;
    Ok(out)
}

/// The outcome of replica `n` while `busy` others are being replaced.
fn waiting(n: u32, busy: u32, parallelism: u32) -> Outcome {
    Outcome::Progressing {
        reason: format!(
            "replica {n} waits to be replaced: {busy} replica(s) not ready (parallelism {parallelism})"
        ),
        retry_after: WAIT,
    }
}

/// Whether the planned pass would replace a live container.
fn replaces(report: &Report) -> bool {
    report.plan.as_ref().is_some_and(|p| {
        p.actions
            .iter()
            .any(|a| matches!(a, Action::Recreate { .. }))
    })
}

/// Gives the replica's live container its replica name (a service scaled up from one
/// container, or down to one). Only the name changes: nothing restarts. A failure
/// is a step and changes nothing else; the next pass tries again.
async fn rename(
    cx: &Context<'_>,
    observer: &Observer<'_>,
    want: &str,
    mine: &mut [LiveContainer],
    steps: &mut Vec<String>,
) {
    for live in mine.iter_mut() {
        let have = live.name.trim_start_matches('/');
        if have == want || have.ends_with("-green") {
            continue;
        }
        let options = bollard::query_parameters::RenameContainerOptionsBuilder::default()
            .name(want)
            .build();
        match cx.docker.rename_container(&live.id, options).await {
            Ok(()) => {
                steps.push(format!("renamed container {have} to {want}"));
                if let Ok(Some(again)) = observer.reinspect(&live.id).await {
                    *live = again;
                } else {
                    live.name = format!("/{want}");
                }
            }
            Err(e) => steps.push(format!("could not rename container {have} to {want}: {e}")),
        }
        // One container per replica keeps the name; extras go in converge.
        break;
    }
}

/// The service's report, summed up from its replicas' (kept in
/// [`Report::replicas`]): every action and drift, the worst outcome.
fn sum(
    name: &str,
    desired: &DesiredContainer,
    reports: Vec<Report>,
    mut steps: Vec<String>,
    object_drift: Vec<super::drift::FieldDrift>,
    held: bool,
) -> Report {
    let mut plan = ServicePlan {
        service: name.to_string(),
        actions: Vec::new(),
        drift: Vec::new(),
    };
    let mut outcome = Outcome::Ready;
    let mut ports: Vec<String> = Vec::new();
    for (i, r) in reports.iter().enumerate() {
        if let Some(p) = &r.plan {
            plan.actions
                .extend(p.actions.iter().filter(|a| a.changes_anything()).cloned());
            plan.drift.extend(p.drift.iter().cloned().map(|mut d| {
                d.desired = format!("replica {}: {}", i + 1, d.desired);
                d
            }));
        }
        steps.extend(r.steps.iter().map(|s| format!("replica {}: {s}", i + 1)));
        ports.extend(
            r.ports
                .iter()
                .filter(|p| !ports.contains(p))
                .cloned()
                .collect::<Vec<_>>(),
        );
        outcome = worse(outcome, r.outcome.clone());
    }
    if plan.actions.is_empty() {
        plan.actions.push(Action::Nothing);
    }
    plan.drift.extend(object_drift);
    let first = reports.first();
    let rollouts: Vec<String> = reports
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.rollout.as_ref().map(|line| format!("{}: {line}", i + 1)))
        .collect();
    Report {
        service: name.to_string(),
        plan: Some(plan),
        steps,
        outcome,
        spec_hash: Some(desired.spec_hash.clone()),
        drifted: reports.iter().any(|r| r.drifted),
        restarted: reports.iter().any(|r| r.restarted),
        image: Some(desired.image.clone()),
        ports,
        container: first.and_then(|r| r.container.clone()),
        applied: reports.iter().any(|r| r.applied),
        desired: first.and_then(|r| r.desired.clone()),
        live: first.and_then(|r| r.live.clone()),
        image_defaults: first.map(|r| r.image_defaults.clone()).unwrap_or_default(),
        after: first.and_then(|r| r.after),
        started_at: first.and_then(|r| r.started_at.clone()),
        held,
        rollout: (!rollouts.is_empty()).then(|| rollouts.join("; ")),
        replicas: reports,
    }
}

/// The worse of two outcomes: Degraded, then Progressing (the soonest look again),
/// then Drifted, then Ready.
fn worse(a: Outcome, b: Outcome) -> Outcome {
    fn rank(o: &Outcome) -> u8 {
        match o {
            Outcome::Degraded { .. } => 3,
            Outcome::Progressing { .. } => 2,
            Outcome::Drifted => 1,
            _ => 0,
        }
    }
    match (&a, &b) {
        (
            Outcome::Progressing { retry_after: x, .. },
            Outcome::Progressing { retry_after: y, .. },
        ) => {
            if y < x {
                b
            } else {
                a
            }
        }
        _ if rank(&b) > rank(&a) => b,
        _ => a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::service::fixtures;

    #[test]
    fn replicas_are_numbered_and_a_single_container_is_replica_one() {
        let mut live = fixtures::live_of(&fixtures::desired(
            "name: shop\nservices:\n  web: {image: busybox}\n",
            "web",
        ));
        for (container, n) in [
            ("/shop-web", 1),
            ("/shop-web-1", 1),
            ("/shop-web-3", 3),
            ("/shop-web-2-green", 2),
            ("/shop-web-green", 1),
            ("/shop-web-x", 1),
        ] {
            live.name = container.into();
            assert_eq!(index("shop-web", &live), n, "{container}");
        }
        assert_eq!(name("shop-web", 1, 1), "shop-web");
        assert_eq!(name("shop-web", 2, 3), "shop-web-2");
    }

    #[test]
    fn each_routed_replica_gets_its_own_loopback_port() {
        let file = "name: shop\nproxy: {engine: caddy}\nservices:\n  web: {image: busybox, deploy: {replicas: 3}}\nroutes:\n  shop:\n    hosts: [shop.example.com]\n    paths:\n      - {prefix: /, service: web, port: 80}\n";
        let state = fixtures::load(file);
        let service = ports::with_route_ports(&state, "web", &state.services["web"]);
        let first = DesiredContainer::new(
            "shop",
            "web",
            &service,
            &crate::resources::service::ResolvedInputs::default(),
        )
        .unwrap();
        let host = |d: &DesiredContainer| d.ports.iter().find_map(|p| p.host_port).unwrap();
        let all: Vec<DesiredContainer> = (1..=3).map(|n| replica(&state, &first, n, 3)).collect();
        let names: Vec<&str> = all.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["shop-web-1", "shop-web-2", "shop-web-3"]);
        let hosts: std::collections::BTreeSet<u16> = all.iter().map(host).collect();
        assert_eq!(hosts.len(), 3, "{hosts:?}");
        assert_eq!(
            host(&all[0]),
            host(&first),
            "replica 1 keeps the service's port"
        );
        assert!(all.iter().all(|d| d.spec_hash == first.spec_hash));
    }
}
