//! One pass over the whole proxy: observe, compare section by section, apply when
//! something differs, and keep every good route serving when the proxy refuses one.
//!
//! The proxy's configuration is one document, so one bad route could take every other
//! one down (caddy-docker-proxy #153; nginx-proxy reloading without `nginx -t`). When the
//! proxy refuses the desired configuration, the routes that changed since the last good
//! one are tried one at a time on top of it; those the proxy refuses are kept at their
//! last good version (or left out, when new) and reported with the proxy's message,
//! and everything else is applied.

use std::collections::{BTreeMap, BTreeSet};

use crate::engine::{Applied, Engine, Observed, ProxyError, Rendered};
use crate::model::{ProxyModel, SHARED_SECTION, route_section};

/// How one section of the live configuration differs from the rendered one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionDrift {
    /// `route/NAME` or `proxy`.
    pub section: String,
    /// What differs.
    pub what: DriftWhat,
}

/// What differs about a section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftWhat {
    /// holdfast's section is not in the live configuration.
    Missing,
    /// It is, with other content.
    Changed,
    /// The live configuration has a section holdfast does not want.
    Unexpected,
    /// The proxy reports an error for it although it loaded it.
    Failing,
    /// The proxy serves another generation than the one on disk.
    NotServing,
}

impl DriftWhat {
    /// `missing`, `changed`, `unexpected`, `failing` or `not serving`.
    pub fn as_str(self) -> &'static str {
        match self {
            DriftWhat::Missing => "missing",
            DriftWhat::Changed => "changed",
            DriftWhat::Unexpected => "unexpected",
            DriftWhat::Failing => "failing",
            DriftWhat::NotServing => "not serving",
        }
    }
}

/// How the live configuration differs from `rendered`, section by section.
pub fn drift(rendered: &Rendered, observed: &Observed) -> Vec<SectionDrift> {
    let mut out = Vec::new();
    let names: BTreeSet<&String> = rendered
        .sections
        .keys()
        .chain(observed.sections.keys())
        .collect();
    for name in names {
        let what = match (rendered.sections.get(name), observed.sections.get(name)) {
            (Some(_), None) => Some(DriftWhat::Missing),
            (None, Some(_)) => Some(DriftWhat::Unexpected),
            (Some(a), Some(b)) if a != b => Some(DriftWhat::Changed),
            _ => observed.errors.get(name).map(|_| DriftWhat::Failing),
        };
        if let Some(what) = what {
            out.push(SectionDrift {
                section: name.clone(),
                what,
            });
        }
    }
    if out.is_empty()
        && let Some(generation) = &observed.generation
        && generation != &rendered.hash
    {
        out.push(SectionDrift {
            section: SHARED_SECTION.to_string(),
            what: DriftWhat::NotServing,
        });
    }
    out
}

/// Where one route stands after a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteResult {
    /// The proxy serves it as desired.
    Serving,
    /// Plan mode, or report-only: it differs, and nothing was sent.
    Differs,
    /// The proxy refused it; its last good version (if any) still serves.
    Rejected(String),
    /// The proxy could not be reached or failed as a whole; nothing changed.
    Failed(String),
}

/// What one pass over the proxy saw and did.
#[derive(Debug, Clone)]
pub struct ConvergeOutcome {
    /// The desired configuration.
    pub rendered: Rendered,
    /// The live one before the pass, when it could be read.
    pub observed: Option<Observed>,
    /// How the live configuration differed from the desired one before the pass.
    pub drift: Vec<SectionDrift>,
    /// What was sent, if anything.
    pub applied: Option<Applied>,
    /// Each desired route's result.
    pub routes: BTreeMap<String, RouteResult>,
    /// The model now serving, when this pass applied one.
    pub serving: Option<ProxyModel>,
    /// The proxy-wide error, if the pass failed as a whole.
    pub error: Option<ProxyError>,
    /// What holdfast had last applied before this pass (set by the
    /// [`Driver`](crate::driver::Driver)): a section that differs from the live one
    /// although holdfast applied it unchanged is drift, not a change of the file.
    pub before: Option<Rendered>,
    /// How long the pass took.
    pub elapsed: std::time::Duration,
}

impl ConvergeOutcome {
    /// The drift of one route's section.
    pub fn route_drift(&self, route: &str) -> Option<&SectionDrift> {
        let key = route_section(route);
        self.drift.iter().find(|d| d.section == key)
    }

    /// The drift of sections that belong to no desired route (the shared part, or a
    /// route the proxy has but the file does not).
    pub fn other_drift(&self) -> impl Iterator<Item = &SectionDrift> {
        let wanted: BTreeSet<String> = self.routes.keys().map(|r| route_section(r)).collect();
        self.drift
            .iter()
            .filter(move |d| !wanted.contains(&d.section))
    }
}

/// One pass: observe, compare, and when `apply` and something differs, apply.
///
/// `last_good` is the model the proxy last accepted (none after a controller start):
/// when the proxy refuses `desired`, the routes that differ from it are isolated.
pub async fn converge(
    engine: &dyn Engine,
    desired: &ProxyModel,
    last_good: Option<&ProxyModel>,
    apply: bool,
) -> ConvergeOutcome {
    converge_holding(engine, desired, last_good, apply, &BTreeSet::new()).await
}

/// [`converge`], where drift of the `held` sections (report-only routes) alone sends
/// nothing: they are reported as [`RouteResult::Differs`]. They are still rendered as
/// desired, so a pass that applies for another reason restores them too.
pub async fn converge_holding(
    engine: &dyn Engine,
    desired: &ProxyModel,
    last_good: Option<&ProxyModel>,
    apply: bool,
    held: &BTreeSet<String>,
) -> ConvergeOutcome {
    let started = std::time::Instant::now();
    let mut out = converge_inner(engine, desired, last_good, apply, held).await;
    out.elapsed = started.elapsed();
    out
}

/// The pass without timing.
async fn converge_inner(
    engine: &dyn Engine,
    desired: &ProxyModel,
    last_good: Option<&ProxyModel>,
    apply: bool,
    held: &BTreeSet<String>,
) -> ConvergeOutcome {
    let rendered = engine.render(desired);
    let mut out = ConvergeOutcome {
        rendered,
        observed: None,
        drift: Vec::new(),
        applied: None,
        routes: BTreeMap::new(),
        serving: None,
        error: None,
        before: None,
        elapsed: std::time::Duration::ZERO,
    };
    let observed = match engine.observe().await {
        Ok(o) => o,
        Err(e) => {
            out.routes = all(desired, RouteResult::Failed(e.to_string()));
            out.error = Some(e);
            return out;
        }
    };
    out.drift = drift(&out.rendered, &observed);
    out.observed = Some(observed);
    if out.drift.is_empty() {
        out.routes = all(desired, RouteResult::Serving);
        return out;
    }
    let only_held = out.drift.iter().all(|d| held.contains(&d.section));
    if !apply || only_held {
        out.routes = all(desired, RouteResult::Serving);
        for d in &out.drift {
            if let Some(name) = d.section.strip_prefix("route/")
                && let Some(r) = out.routes.get_mut(name)
            {
                *r = RouteResult::Differs;
            }
        }
        return out;
    }
    let mut cost = Applied::default();
    match engine.apply(&out.rendered).await {
        Ok(a) => {
            cost += a;
            out.applied = Some(cost);
            out.routes = all(desired, RouteResult::Serving);
            out.serving = Some(desired.clone());
            return out;
        }
        Err(e) if !e.is_rejection() => {
            out.routes = all(desired, RouteResult::Failed(e.to_string()));
            out.error = Some(e);
            return out;
        }
        Err(e) => isolate(engine, desired, last_good, e, &mut out, cost).await,
    }
    out
}

fn all(model: &ProxyModel, r: RouteResult) -> BTreeMap<String, RouteResult> {
    model
        .routes
        .keys()
        .map(|k| (k.clone(), r.clone()))
        .collect()
}

/// The proxy refused `desired` with `first`: find the routes that broke it.
async fn isolate(
    engine: &dyn Engine,
    desired: &ProxyModel,
    last_good: Option<&ProxyModel>,
    first: ProxyError,
    out: &mut ConvergeOutcome,
    mut cost: Applied,
) {
    // Without a last good model, every route counts as changed, on top of an empty one.
    let mut base = last_good.cloned().unwrap_or_else(|| ProxyModel {
        routes: BTreeMap::new(),
        ..desired.clone()
    });
    // The shared settings always come from the file.
    base = ProxyModel {
        routes: base.routes,
        ..desired.clone()
    };
    let changed: Vec<&String> = desired
        .routes
        .iter()
        .filter(|(name, route)| base.routes.get(*name) != Some(route))
        .map(|(name, _)| name)
        .collect();
    let mut bad: BTreeMap<String, String> = BTreeMap::new();
    match changed.as_slice() {
        [] => {
            // Nothing changed but the proxy refuses: the shared part (or the proxy) is at fault.
            out.routes = all(desired, RouteResult::Rejected(first.to_string()));
            out.error = Some(first);
            out.applied = (cost.mutations > 0).then_some(cost);
            return;
        }
        [only] => {
            bad.insert((*only).clone(), message(&first));
        }
        several => {
            for name in several {
                let mut candidate = base.clone();
                candidate
                    .routes
                    .insert((*name).clone(), desired.routes[*name].clone());
                match engine.apply(&engine.render(&candidate)).await {
                    Ok(a) => {
                        cost += a;
                        base = candidate;
                    }
                    Err(e) if e.is_rejection() => {
                        bad.insert((*name).clone(), message(&e));
                    }
                    Err(e) => {
                        out.routes = all(desired, RouteResult::Failed(e.to_string()));
                        out.error = Some(e);
                        out.applied = (cost.mutations > 0).then_some(cost);
                        return;
                    }
                }
            }
        }
    }
    let mut last = desired.clone();
    for name in bad.keys() {
        match base.routes.get(name) {
            Some(good) => last.routes.insert(name.clone(), good.clone()),
            None => last.routes.remove(name),
        };
    }
    match engine.apply(&engine.render(&last)).await {
        Ok(a) => {
            cost += a;
            out.routes = all(desired, RouteResult::Serving);
            for (name, msg) in bad {
                out.routes.insert(name, RouteResult::Rejected(msg));
            }
            out.serving = Some(last);
        }
        Err(e) => {
            out.routes = all(desired, RouteResult::Rejected(e.to_string()));
            out.error = Some(e);
        }
    }
    out.applied = (cost.mutations > 0).then_some(cost);
}

fn message(e: &ProxyError) -> String {
    match e {
        ProxyError::Rejected { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
