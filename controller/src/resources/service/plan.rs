//! The actions that bring a service's live container to the desired one.
//!
//! [`plan`] decides from the desired container, the observed one (if any) and the
//! resource's [`PlanPolicy`]. The rules, first match wins:
//!
//! 1. suspended or report-only: [`Action::Nothing`] (drift is still reported);
//! 2. no container: [`Action::Create`] (which starts it too);
//! 3. the container is being removed: [`Action::Nothing`] — its `destroy` event
//!    queues the service again;
//! 4. its spec-hash label differs from the desired hash: [`Action::Recreate`],
//!    "spec changed";
//! 5. same hash but configuration drift (someone recreated or changed it by hand):
//!    [`Action::Recreate`] naming the drifted fields;
//! 6. dead (Docker cannot start a dead container): [`Action::Recreate`];
//! 7. exited or created: [`Action::Start`] — except a one-shot
//!    ([`PlanPolicy::one_shot`]) that exited 0: it has completed, [`Action::Nothing`];
//! 8. paused: [`Action::Restart`];
//! 9. running but unhealthy: [`Action::Restart`] — Docker's restart policy never
//!    does this (moby #28400); the runtime should rate-limit it;
//! 10. otherwise (running, or Docker restarting it): [`Action::Nothing`].

use serde::Serialize;

use super::desired::DesiredContainer;
use super::drift::{Field, FieldDrift, drift, missing_container};
use super::key;
use super::live::{ContainerState, Health, ImageDefaults, LiveContainer};

/// The recreate reason when the spec hash changed.
pub const SPEC_CHANGED: &str = "spec changed";

/// The recreate reason when the container is dead.
pub const DEAD: &str = "container is dead";

/// The restart reason when the container is unhealthy.
pub const UNHEALTHY: &str = "unhealthy";

/// The restart reason when the container is paused.
pub const PAUSED: &str = "paused";

/// How far the controller may go for this resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlanPolicy {
    /// Report drift but never act on it.
    pub report_only: bool,
    /// The resource is suspended: plan nothing.
    pub suspended: bool,
    /// The service is a one-shot (another service waits for it with
    /// `service_completed_successfully`): once its container exited 0 it is done and is
    /// not started again.
    pub one_shot: bool,
}

/// One step of bringing the container to the desired state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Create the container and start it.
    Create,
    /// Start the existing, stopped container.
    Start,
    /// Replace the container with a new one made from the desired configuration.
    Recreate {
        /// Why, each a short phrase such as `spec changed` or `env changed`.
        reasons: Vec<String>,
    },
    /// Restart the container in place.
    Restart {
        /// Why, such as `unhealthy`.
        reason: String,
    },
    /// Leave the container as it is.
    Nothing,
}

impl Action {
    /// One line for `holdfast plan`, such as `recreate service/web: env, image changed`.
    pub fn describe(&self, service: &str) -> String {
        let key = key(service);
        match self {
            Action::Create => format!("create {key}"),
            Action::Start => format!("start {key}"),
            Action::Recreate { reasons } => format!("recreate {key}: {}", join_reasons(reasons)),
            Action::Restart { reason } => format!("restart {key}: {reason}"),
            Action::Nothing => format!("nothing to do for {key}"),
        }
    }

    /// Whether carrying the action out changes anything.
    pub fn changes_anything(&self) -> bool {
        !matches!(self, Action::Nothing)
    }
}

/// `["env changed", "image changed", "container is dead"]` as
/// `container is dead, env, image changed`: phrases ending in ` changed` share it.
fn join_reasons(reasons: &[String]) -> String {
    let mut changed = Vec::new();
    let mut other = Vec::new();
    for reason in reasons {
        match reason.strip_suffix(" changed") {
            Some(what) => changed.push(what),
            None => other.push(reason.as_str()),
        }
    }
    let mut parts: Vec<String> = other.into_iter().map(str::to_string).collect();
    if !changed.is_empty() {
        parts.push(format!("{} changed", changed.join(", ")));
    }
    parts.join(", ")
}

/// What to do about one service, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServicePlan {
    /// The service's name.
    pub service: String,
    /// The actions, in order; `[Nothing]` when there is nothing to do.
    pub actions: Vec<Action>,
    /// How the live container differs from the desired one.
    pub drift: Vec<FieldDrift>,
}

impl ServicePlan {
    /// Whether carrying out the plan changes nothing.
    pub fn is_noop(&self) -> bool {
        !self.actions.iter().any(Action::changes_anything)
    }

    /// One line per action, for `holdfast plan`.
    pub fn describe(&self) -> Vec<String> {
        self.actions
            .iter()
            .map(|a| a.describe(&self.service))
            .collect()
    }
}

/// Plans the service whose desired container is `desired`, given the owned container
/// observe found (`live`), the configuration of its image (`image`) and the policy.
pub fn plan(
    desired: &DesiredContainer,
    live: Option<&LiveContainer>,
    image: &ImageDefaults,
    policy: &PlanPolicy,
) -> ServicePlan {
    let mut drift = match live {
        Some(live) => drift(desired, live, image),
        None => vec![missing_container()],
    };
    // A one-shot that completed is meant to have stopped.
    if policy.one_shot && live.is_some_and(completed) {
        drift.retain(|d| d.field != Field::Running);
    }
    let action = if policy.suspended || policy.report_only {
        Action::Nothing
    } else {
        decide(desired, live, &drift, policy.one_shot)
    };
    ServicePlan {
        service: desired.service.clone(),
        actions: vec![action],
        drift,
    }
}

/// Whether the container exited with code 0 (a one-shot that did so has completed).
pub fn completed(live: &LiveContainer) -> bool {
    live.state == ContainerState::Exited { code: 0 }
}

fn decide(
    desired: &DesiredContainer,
    live: Option<&LiveContainer>,
    drift: &[FieldDrift],
    one_shot: bool,
) -> Action {
    let Some(live) = live else {
        return Action::Create;
    };
    if live.state == ContainerState::Removing {
        return Action::Nothing;
    }
    if live.spec_hash() != Some(desired.spec_hash.as_str()) {
        return Action::Recreate {
            reasons: vec![SPEC_CHANGED.to_string()],
        };
    }
    let changed: Vec<String> = drift
        .iter()
        .filter(|d| d.field.is_config())
        .map(|d| format!("{} changed", d.field))
        .collect();
    if !changed.is_empty() {
        return Action::Recreate { reasons: changed };
    }
    match (live.state, live.health) {
        (ContainerState::Dead, _) => Action::Recreate {
            reasons: vec![DEAD.to_string()],
        },
        (ContainerState::Exited { code: 0 }, _) if one_shot => Action::Nothing,
        (ContainerState::Exited { .. } | ContainerState::Created, _) => Action::Start,
        (ContainerState::Paused, _) => Action::Restart {
            reason: PAUSED.to_string(),
        },
        (ContainerState::Running, Health::Unhealthy) => Action::Restart {
            reason: UNHEALTHY.to_string(),
        },
        _ => Action::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::service::Field;
    use crate::resources::service::fixtures;
    use crate::resources::service::labels::SPEC_HASH;

    fn run(
        desired: &DesiredContainer,
        live: Option<&LiveContainer>,
        image: &ImageDefaults,
    ) -> ServicePlan {
        plan(desired, live, image, &PlanPolicy::default())
    }

    #[test]
    fn no_container_is_created() {
        let (desired, image, _) = fixtures::web();
        let p = run(&desired, None, &image);
        assert_eq!(p.actions, vec![Action::Create]);
        assert_eq!(p.drift, vec![missing_container()]);
        assert_eq!(p.describe(), vec!["create service/web"]);
        assert!(!p.is_noop());
    }

    #[test]
    fn a_healthy_container_as_desired_needs_nothing() {
        let (desired, image, live) = fixtures::web();
        let p = run(&desired, Some(&live), &image);
        assert_eq!(p.actions, vec![Action::Nothing]);
        assert_eq!(p.drift, vec![]);
        assert!(p.is_noop());
        assert_eq!(p.describe(), vec!["nothing to do for service/web"]);
        for health in [Health::None, Health::Starting] {
            let live = LiveContainer {
                health,
                ..live.clone()
            };
            assert_eq!(
                run(&desired, Some(&live), &image).actions,
                vec![Action::Nothing]
            );
        }
    }

    #[test]
    fn a_changed_spec_hash_recreates() {
        let (desired, image, mut live) = fixtures::web();
        live.labels.insert(SPEC_HASH.into(), "0".repeat(64));
        let p = run(&desired, Some(&live), &image);
        assert_eq!(
            p.actions,
            vec![Action::Recreate {
                reasons: vec!["spec changed".into()]
            }]
        );
        assert_eq!(p.describe(), vec!["recreate service/web: spec changed"]);
        // The hash label itself is not reported as drift.
        assert_eq!(p.drift, vec![]);
    }

    #[test]
    fn a_secret_file_change_recreates() {
        let state = fixtures::load(fixtures::SHOP);
        let mut inputs = fixtures::inputs_for(&state, "web");
        let before = DesiredContainer::new("shop", "web", &state.services["web"], &inputs).unwrap();
        let image = fixtures::image_defaults();
        let live = fixtures::live_of(&before);
        inputs
            .secret_digests
            .insert("api_token".into(), "rotated".into());
        let after = DesiredContainer::new("shop", "web", &state.services["web"], &inputs).unwrap();
        let p = run(&after, Some(&live), &image);
        assert_eq!(
            p.actions,
            vec![Action::Recreate {
                reasons: vec![SPEC_CHANGED.into()]
            }]
        );
    }

    #[test]
    fn a_missing_hash_label_recreates() {
        let (desired, image, mut live) = fixtures::web();
        live.labels.remove(SPEC_HASH);
        assert_eq!(
            run(&desired, Some(&live), &image).actions,
            vec![Action::Recreate {
                reasons: vec![SPEC_CHANGED.into()]
            }]
        );
    }

    #[test]
    fn same_hash_with_drift_recreates_naming_fields() {
        let (desired, image, mut live) = fixtures::web();
        live.env.insert("NODE_ENV".into(), "development".into());
        live.image_id = "sha256:ffff".into();
        live.state = ContainerState::Exited { code: 0 };
        let p = run(&desired, Some(&live), &image);
        assert_eq!(
            p.actions,
            vec![Action::Recreate {
                reasons: vec!["image changed".into(), "env changed".into()]
            }]
        );
        assert_eq!(
            p.describe(),
            vec!["recreate service/web: image, env changed"]
        );
        let fields: Vec<Field> = p.drift.iter().map(|d| d.field).collect();
        assert_eq!(fields, vec![Field::Image, Field::Env, Field::Running]);
    }

    #[test]
    fn each_config_field_recreates() {
        let (desired, image, live) = fixtures::web();
        type Mutation = Box<dyn Fn(&mut LiveContainer)>;
        let mutations: Vec<(Field, Mutation)> = vec![
            (Field::Image, Box::new(|l| l.image = "x".into())),
            (Field::Command, Box::new(|l| l.cmd = None)),
            (Field::Entrypoint, Box::new(|_| {})),
            (
                Field::Env,
                Box::new(|l| {
                    l.env.remove("LOG_LEVEL");
                }),
            ),
            (Field::Ports, Box::new(|l| l.ports.clear())),
            (Field::Mounts, Box::new(|l| l.mounts.clear())),
            (Field::Limits, Box::new(|l| l.limits.nano_cpus = None)),
            (
                Field::RestartPolicy,
                Box::new(|l| l.restart.name = "always".into()),
            ),
            (Field::Networks, Box::new(|l| l.networks.clear())),
            (
                Field::Labels,
                Box::new(|l| {
                    l.labels.remove("traefik.enable");
                }),
            ),
        ];
        for (field, mutate) in mutations {
            let mut desired = desired.clone();
            if field == Field::Entrypoint {
                // The spec hash is not recomputed, so the drift rule fires, not the
                // hash rule.
                desired.entrypoint = Some(vec!["tini".into()]);
            }
            let mut live = live.clone();
            mutate(&mut live);
            let p = run(&desired, Some(&live), &image);
            assert_eq!(
                p.actions,
                vec![Action::Recreate {
                    reasons: vec![format!("{field} changed")]
                }],
                "{field}"
            );
        }
    }

    #[test]
    fn stopped_containers_are_started() {
        let (desired, image, live) = fixtures::web();
        for state in [
            ContainerState::Exited { code: 137 },
            ContainerState::Created,
        ] {
            let live = LiveContainer {
                state,
                health: Health::Unhealthy,
                ..live.clone()
            };
            let p = run(&desired, Some(&live), &image);
            assert_eq!(p.actions, vec![Action::Start], "{state}");
            assert_eq!(p.describe(), vec!["start service/web"]);
            assert_eq!(p.drift.len(), 1);
            assert_eq!(p.drift[0].field, Field::Running);
        }
    }

    #[test]
    fn dead_containers_are_recreated() {
        let (desired, image, mut live) = fixtures::web();
        live.state = ContainerState::Dead;
        assert_eq!(
            run(&desired, Some(&live), &image).actions,
            vec![Action::Recreate {
                reasons: vec![DEAD.into()]
            }]
        );
    }

    #[test]
    fn unhealthy_containers_are_restarted() {
        let (desired, image, mut live) = fixtures::web();
        live.health = Health::Unhealthy;
        let p = run(&desired, Some(&live), &image);
        assert_eq!(
            p.actions,
            vec![Action::Restart {
                reason: UNHEALTHY.into()
            }]
        );
        assert_eq!(p.describe(), vec!["restart service/web: unhealthy"]);
        assert_eq!(p.drift, vec![]);
    }

    #[test]
    fn paused_containers_are_restarted() {
        let (desired, image, mut live) = fixtures::web();
        live.state = ContainerState::Paused;
        assert_eq!(
            run(&desired, Some(&live), &image).actions,
            vec![Action::Restart {
                reason: PAUSED.into()
            }]
        );
    }

    #[test]
    fn restarting_and_removing_containers_are_left_alone() {
        let (desired, image, live) = fixtures::web();
        for state in [ContainerState::Restarting, ContainerState::Removing] {
            let live = LiveContainer {
                state,
                ..live.clone()
            };
            assert_eq!(
                run(&desired, Some(&live), &image).actions,
                vec![Action::Nothing]
            );
        }
        // Even with a changed hash, a container being removed is waited for.
        let mut removing = live.clone();
        removing.state = ContainerState::Removing;
        removing.labels.insert(SPEC_HASH.into(), "old".into());
        assert_eq!(
            run(&desired, Some(&removing), &image).actions,
            vec![Action::Nothing]
        );
    }

    #[test]
    fn report_only_reports_but_does_nothing() {
        let (desired, image, mut live) = fixtures::web();
        live.env.insert("NODE_ENV".into(), "development".into());
        live.state = ContainerState::Exited { code: 1 };
        let policy = PlanPolicy {
            report_only: true,
            ..PlanPolicy::default()
        };
        let p = plan(&desired, Some(&live), &image, &policy);
        assert_eq!(p.actions, vec![Action::Nothing]);
        let fields: Vec<Field> = p.drift.iter().map(|d| d.field).collect();
        assert_eq!(fields, vec![Field::Env, Field::Running]);
        assert!(p.is_noop());

        let p = plan(&desired, None, &image, &policy);
        assert_eq!(p.actions, vec![Action::Nothing]);
        assert_eq!(p.drift, vec![missing_container()]);
    }

    #[test]
    fn a_one_shot_that_exited_0_is_not_started_again() {
        let (desired, image, mut live) = fixtures::web();
        let one_shot = PlanPolicy {
            one_shot: true,
            ..PlanPolicy::default()
        };
        live.state = ContainerState::Exited { code: 0 };
        let p = plan(&desired, Some(&live), &image, &one_shot);
        assert_eq!(p.actions, vec![Action::Nothing]);
        assert!(p.drift.is_empty(), "{:?}", p.drift);
        // Not a one-shot: started again, reported as drift.
        let p = plan(&desired, Some(&live), &image, &PlanPolicy::default());
        assert_eq!(p.actions, vec![Action::Start]);
        // A one-shot that failed runs again.
        live.state = ContainerState::Exited { code: 1 };
        let p = plan(&desired, Some(&live), &image, &one_shot);
        assert_eq!(p.actions, vec![Action::Start]);
        // A changed one-shot is recreated (and so runs again).
        live.state = ContainerState::Exited { code: 0 };
        live.labels.insert(SPEC_HASH.into(), "old".into());
        let p = plan(&desired, Some(&live), &image, &one_shot);
        assert!(
            matches!(p.actions[..], [Action::Recreate { .. }]),
            "{:?}",
            p.actions
        );
    }

    #[test]
    fn suspended_does_nothing() {
        let (desired, image, mut live) = fixtures::web();
        live.health = Health::Unhealthy;
        live.labels.insert(SPEC_HASH.into(), "old".into());
        let policy = PlanPolicy {
            suspended: true,
            ..PlanPolicy::default()
        };
        assert_eq!(
            plan(&desired, Some(&live), &image, &policy).actions,
            vec![Action::Nothing]
        );
        assert_eq!(
            plan(&desired, None, &image, &policy).actions,
            vec![Action::Nothing]
        );
    }

    #[test]
    fn descriptions() {
        assert_eq!(Action::Create.describe("db"), "create service/db");
        assert_eq!(
            Action::Recreate {
                reasons: vec!["env changed".into(), "image changed".into()]
            }
            .describe("web"),
            "recreate service/web: env, image changed"
        );
        assert_eq!(
            Action::Recreate {
                reasons: vec![DEAD.into(), "ports changed".into()]
            }
            .describe("web"),
            "recreate service/web: container is dead, ports changed"
        );
        assert_eq!(
            serde_json::to_string(&Action::Restart {
                reason: UNHEALTHY.into()
            })
            .unwrap(),
            r#"{"action":"restart","reason":"unhealthy"}"#
        );
    }
}
