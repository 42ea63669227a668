//! One observe-and-plan pass over a desired state, changing nothing: `holdfast plan`,
//! `holdfast diff`, `apply --dry-run` and the daemon's `/v1/diff` all come through
//! [`plan`]. It needs no controller: only the registry.

use std::collections::{BTreeMap, BTreeSet};

use holdfast_spec::DesiredState;

use super::guard;
use super::kind::{Cx, Mode, ObjectRef, Report};
use super::registry::Registry;

/// What planning one object gave.
#[derive(Debug)]
pub struct Planned {
    /// The object.
    pub key: ObjectRef,
    /// Its plan, or why it could not be planned.
    pub result: Result<Report, String>,
}

/// One object's desired-vs-live diff, as `GET /v1/diff` serves it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ResourceDiff {
    /// The object, such as `service/web`.
    pub key: String,
    /// The unified diff (`--- live/…`, `+++ desired/…`), absent when nothing differs.
    pub diff: Option<String>,
    /// Why the object could not be compared, if it could not.
    pub error: Option<String>,
}

/// Plans every object of every kind in `state`, and every object a kind owns that the
/// file no longer names. Removals the mass-removal guard would refuse are planned as
/// refused unless `allow_mass_removal`.
pub async fn plan(
    registry: &Registry,
    state: &DesiredState,
    allow_mass_removal: bool,
) -> Vec<Planned> {
    let mut out = Vec::new();
    let published = BTreeMap::new();
    for kind in registry.kinds() {
        let desired = kind.desired(state);
        let mut owned = match kind.owned(&state.name).await {
            Ok(owned) => owned,
            Err(e) => {
                out.push(Planned {
                    key: ObjectRef::new(kind.kind(), "*"),
                    result: Err(format!("cannot list what {} owns: {e}", kind.kind())),
                });
                Vec::new()
            }
        };
        owned.retain(|o| !kind.kept(state, &o.name));
        let removed = guard::removals(&desired, &owned);
        let mut names: BTreeSet<String> = desired.iter().map(|d| d.name.clone()).collect();
        names.extend(removed.names.iter().cloned());
        // A plan pass shows every change; it does not hold any back for dependencies.
        let cx = Cx {
            state,
            mode: Mode::Plan,
            suspended: false,
            removal_allowed: !removed.mass || allow_mass_removal,
            revision: None,
            waiting_for: None,
            published: &published,
            requests: &[],
        };
        for name in names {
            let key = ObjectRef::new(kind.kind(), &name);
            let result = kind
                .reconcile(&name, &cx, 0)
                .await
                .map_err(|f| f.error.to_string());
            out.push(Planned { key, result });
        }
    }
    out
}

/// Compares `state` with the host, object by object, as unified diffs (the plan code
/// path: nothing is changed).
pub async fn diffs(registry: &Registry, state: &DesiredState) -> Vec<ResourceDiff> {
    plan(registry, state, false)
        .await
        .into_iter()
        .map(|planned| {
            let key = planned.key.to_string();
            match planned.result {
                Ok(report) => {
                    let (live, desired) = report.diff.unwrap_or_default();
                    ResourceDiff {
                        diff: unified(&key, &live, &desired),
                        key,
                        error: None,
                    }
                }
                Err(error) => ResourceDiff {
                    key,
                    diff: None,
                    error: Some(error),
                },
            }
        })
        .collect()
}

/// How many unchanged lines a diff shows around each change, as `diff -u`.
pub const CONTEXT_LINES: usize = 3;

/// A unified diff from `live` to `desired`, headed `--- live/<key>` and
/// `+++ desired/<key>`, with [`CONTEXT_LINES`] of context; `None` when they are the same.
pub fn unified(key: &str, live: &str, desired: &str) -> Option<String> {
    if live == desired {
        return None;
    }
    let diff = similar::TextDiff::from_lines(live, desired);
    Some(
        diff.unified_diff()
            .context_radius(CONTEXT_LINES)
            .header(&format!("live/{key}"), &format!("desired/{key}"))
            .to_string(),
    )
}
