//! What a pass of a start-first service does next, decided from what the host and the
//! proxy show (pure: no Docker, no proxy; the record only breaks ties).
//!
//! The proxy's live configuration wins over the record: the container the route sends
//! traffic to is kept, so a controller killed between any two steps carries on from
//! where the host is, never leaving two versions routed or none.

use super::record::{Phase, Record};
use super::slot::{Slot, address};
use crate::resources::service::LiveContainer;

/// What the pass saw.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    /// The spec hash in force (the file's, or a pinned rollback's).
    pub target: &'a str,
    /// The service's containers.
    pub lives: &'a [LiveContainer],
    /// The update record.
    pub record: &'a Record,
    /// The addresses the proxy routes the service's route to, when it was asked
    /// (always, when there are two containers or more).
    pub routed: Option<&'a [String]>,
    /// The container port the route reaches.
    pub port: u16,
}

/// The next step. Indexes are into [`Seen::lives`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Remove these containers (IDs) first: neither routed nor kept.
    RemoveExtras(Vec<String>),
    /// No container is made from the target: start one in `slot` beside `old`.
    Start {
        /// Where the new container goes.
        slot: Slot,
        /// The container it replaces.
        old: Option<usize>,
    },
    /// One container, made from the target: keep it as the ordinary plan says.
    Steady {
        /// The container.
        live: usize,
    },
    /// The new container is probed; the old one (if any) keeps the traffic.
    Probe {
        /// The new container.
        new: usize,
        /// The old one.
        old: Option<usize>,
    },
    /// The new container passed: point the route at it and wait until the proxy
    /// shows it.
    Switch {
        /// The new container.
        new: usize,
        /// The old one.
        old: Option<usize>,
    },
    /// The proxy routes to the new container: drain the old one, then stop it.
    Drain {
        /// The new container.
        new: usize,
        /// The old one.
        old: usize,
    },
}

/// Whether deciding needs the proxy's view: when more than one container exists.
pub fn needs_proxy(lives: &[LiveContainer]) -> bool {
    lives.len() > 1
}

/// The next step for `seen`.
pub fn decide(seen: &Seen<'_>) -> Decision {
    let routed = |i: usize| -> bool {
        seen.routed
            .is_some_and(|r| address(&seen.lives[i], seen.port).is_some_and(|a| r.contains(&a)))
    };
    let is = |i: usize, side: Option<&super::record::Side>| {
        side.is_some_and(|s| s.id == seen.lives[i].id)
    };
    let pick = |candidates: &[usize], preferred: Option<&super::record::Side>| -> Option<usize> {
        candidates
            .iter()
            .copied()
            .find(|&i| routed(i))
            .or_else(|| candidates.iter().copied().find(|&i| is(i, preferred)))
            .or_else(|| {
                candidates
                    .iter()
                    .copied()
                    .find(|&i| seen.lives[i].state.is_running())
            })
            .or_else(|| candidates.first().copied())
    };
    let (news, olds): (Vec<usize>, Vec<usize>) =
        (0..seen.lives.len()).partition(|&i| seen.lives[i].spec_hash() == Some(seen.target));
    let new = pick(&news, seen.record.to.as_ref());
    let old = pick(&olds, seen.record.from.as_ref());
    // Two old containers with a new one, or the like: keep the pair, remove the rest,
    // unless the proxy routes to it (it then stays, and is the old one next pass).
    let extras: Vec<String> = (0..seen.lives.len())
        .filter(|&i| Some(i) != new && Some(i) != old && !routed(i))
        .map(|i| seen.lives[i].id.clone())
        .collect();
    if !extras.is_empty() {
        return Decision::RemoveExtras(extras);
    }
    let phase = seen.record.phase;
    match (new, old) {
        (None, None) => Decision::Start {
            slot: Slot::Blue,
            old: None,
        },
        (None, Some(old)) => Decision::Start {
            slot: Slot::of(&seen.lives[old]).other(),
            old: Some(old),
        },
        (Some(new), None) => {
            let first_deploy = seen.record.from.is_none() && is(new, seen.record.to.as_ref());
            match phase {
                Phase::Starting | Phase::Probing if first_deploy => {
                    Decision::Probe { new, old: None }
                }
                Phase::Switching if first_deploy => Decision::Switch { new, old: None },
                _ => Decision::Steady { live: new },
            }
        }
        (Some(new), Some(old)) => {
            if routed(new) {
                Decision::Drain { new, old }
            } else if phase == Phase::Switching && is(new, seen.record.to.as_ref()) {
                Decision::Switch {
                    new,
                    old: Some(old),
                }
            } else {
                Decision::Probe {
                    new,
                    old: Some(old),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::Side;
    use super::super::slot::SLOT_LABEL;
    use super::*;
    use crate::resources::service::container::PortBinding;
    use crate::resources::service::{ContainerState, Health, labels};

    fn live(id: &str, hash: &str, slot: Slot, port: u16) -> LiveContainer {
        let mut l = crate::resources::service::fixtures::web().2;
        l.id = id.into();
        l.state = ContainerState::Running;
        l.health = Health::None;
        l.labels.insert(labels::SPEC_HASH.into(), hash.into());
        l.labels.insert(SLOT_LABEL.into(), slot.as_str().into());
        l.ports = vec![PortBinding {
            host_ip: "127.0.0.1".into(),
            host_port: Some(port),
            container_port: 80,
            protocol: holdfast_spec::Protocol::Tcp,
        }];
        l
    }

    fn side(l: &LiveContainer) -> Side {
        Side {
            id: l.id.clone(),
            slot: Slot::of(l),
            hash: l.spec_hash().unwrap_or_default().to_string(),
            image: String::new(),
        }
    }

    fn decide_with(
        target: &str,
        lives: &[LiveContainer],
        record: &Record,
        routed: &[&str],
    ) -> Decision {
        let routed: Vec<String> = routed.iter().map(|s| s.to_string()).collect();
        decide(&Seen {
            target,
            lives,
            record,
            routed: Some(&routed),
            port: 80,
        })
    }

    #[test]
    fn a_changed_spec_starts_the_new_container_in_the_other_slot() {
        let lives = [live("a", "old", Slot::Blue, 20001)];
        let d = decide_with("new", &lives, &Record::default(), &[]);
        assert_eq!(
            d,
            Decision::Start {
                slot: Slot::Green,
                old: Some(0)
            }
        );
        let lives = [live("a", "old", Slot::Green, 20002)];
        let d = decide_with("new", &lives, &Record::default(), &[]);
        assert_eq!(
            d,
            Decision::Start {
                slot: Slot::Blue,
                old: Some(0)
            }
        );
        assert_eq!(
            decide_with("new", &[], &Record::default(), &[]),
            Decision::Start {
                slot: Slot::Blue,
                old: None
            }
        );
    }

    #[test]
    fn the_new_container_is_probed_until_the_record_says_it_passed() {
        let lives = [
            live("a", "old", Slot::Blue, 20001),
            live("b", "new", Slot::Green, 20002),
        ];
        let mut record = Record::default();
        record.begin(Some(side(&lives[0])), side(&lives[1]), false);
        record.enter(Phase::Probing);
        let routed = ["127.0.0.1:20001"];
        assert_eq!(
            decide_with("new", &lives, &record, &routed),
            Decision::Probe {
                new: 1,
                old: Some(0)
            }
        );
        record.enter(Phase::Switching);
        assert_eq!(
            decide_with("new", &lives, &record, &routed),
            Decision::Switch {
                new: 1,
                old: Some(0)
            }
        );
    }

    #[test]
    fn the_proxy_wins_over_the_record() {
        let lives = [
            live("a", "old", Slot::Blue, 20001),
            live("b", "new", Slot::Green, 20002),
        ];
        // A controller killed after the switch, before it saved the phase.
        let mut record = Record::default();
        record.begin(Some(side(&lives[0])), side(&lives[1]), false);
        record.enter(Phase::Probing);
        assert_eq!(
            decide_with("new", &lives, &record, &["127.0.0.1:20002"]),
            Decision::Drain { new: 1, old: 0 }
        );
        // No record at all (lost): the same.
        assert_eq!(
            decide_with("new", &lives, &Record::default(), &["127.0.0.1:20002"]),
            Decision::Drain { new: 1, old: 0 }
        );
        // A record that says Switching, but the proxy still routes the old one: wait
        // for the switch (the route follows what the service publishes).
        record.enter(Phase::Switching);
        assert_eq!(
            decide_with("new", &lives, &record, &["127.0.0.1:20001"]),
            Decision::Switch {
                new: 1,
                old: Some(0)
            }
        );
    }

    #[test]
    fn extras_go_unless_routed() {
        let lives = [
            live("a", "old", Slot::Blue, 20001),
            live("b", "new", Slot::Green, 20002),
            live("c", "older", Slot::Blue, 20001),
        ];
        let mut record = Record::default();
        record.begin(Some(side(&lives[0])), side(&lives[1]), false);
        assert_eq!(
            decide_with("new", &lives, &record, &[]),
            Decision::RemoveExtras(vec!["c".into()])
        );
        let two_new = [
            live("b", "new", Slot::Green, 20002),
            live("d", "new", Slot::Blue, 20001),
        ];
        // Both made from the target (a crash mid-rollback): the routed one stays.
        assert_eq!(
            decide_with("new", &two_new, &Record::default(), &["127.0.0.1:20001"]),
            Decision::RemoveExtras(vec!["b".into()])
        );
    }

    #[test]
    fn a_first_deploy_is_probed_before_it_is_published() {
        let lives = [live("b", "new", Slot::Blue, 20001)];
        let mut record = Record::default();
        record.begin(None, side(&lives[0]), false);
        record.enter(Phase::Probing);
        assert_eq!(
            decide_with("new", &lives, &record, &[]),
            Decision::Probe { new: 0, old: None }
        );
        record.enter(Phase::Switching);
        assert_eq!(
            decide_with("new", &lives, &record, &[]),
            Decision::Switch { new: 0, old: None }
        );
        assert_eq!(
            decide_with("new", &lives, &Record::default(), &[]),
            Decision::Steady { live: 0 }
        );
    }
}
