//! One proxy shared by many routes: passes coalesced, the last good model remembered.
//!
//! Every route is its own object in the runtime (`route/NAME`), but the proxy takes one
//! configuration. Each route's reconcile hands the driver the whole desired model as it
//! sees it; the driver waits a short window (250 ms) for other routes' reconciles to
//! arrive, keeps the newest model, and makes one pass for all of them. A deploy that
//! changes ten services makes one proxy change, not ten.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use std::collections::BTreeMap;

use crate::converge::{ConvergeOutcome, SectionDrift, converge_holding};
use crate::engine::{Engine, Rendered};
use crate::model::ProxyModel;

/// The default coalescing window.
pub const DEBOUNCE: Duration = Duration::from_millis(250);

/// Called after every applying pass, with the engine's name (metrics).
pub type PassObserver = Box<dyn Fn(&'static str, &ConvergeOutcome) + Send + Sync>;

/// One proxy and what holdfast last gave it.
pub struct Driver {
    engine: Arc<dyn Engine>,
    debounce: Duration,
    observer: Option<PassObserver>,
    /// The model the proxy last accepted and the last pass's outcome. Held across a
    /// pass, so that passes never overlap.
    state: tokio::sync::Mutex<State>,
    /// The batch waiting for its pass, if any.
    batch: Mutex<Option<Batch>>,
    /// Sections changed by a pass and not yet taken by their route.
    changed: Mutex<BTreeMap<String, Changed>>,
}

#[derive(Default)]
struct State {
    last_good: Option<ProxyModel>,
    last_applied: Option<Rendered>,
    last: Option<Arc<ConvergeOutcome>>,
}

/// A section a pass found differing and changed, kept until the route it belongs to
/// takes it: a pass of one route changes every route's section, and the others must
/// still report what was done for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    /// How the live section differed.
    pub drift: SectionDrift,
    /// Whether it had left what holdfast applied (drift), as opposed to a change of
    /// the file.
    pub drifted: bool,
}

struct Batch {
    model: ProxyModel,
    held: BTreeSet<String>,
    done: watch::Sender<Option<Arc<ConvergeOutcome>>>,
}

impl Driver {
    /// A driver for `engine` that coalesces passes within `debounce`.
    pub fn new(engine: Arc<dyn Engine>, debounce: Duration) -> Arc<Self> {
        Self::build(engine, debounce, None)
    }

    /// [`Driver::new`], calling `observer` after every applying pass (metrics).
    pub fn with_observer(
        engine: Arc<dyn Engine>,
        debounce: Duration,
        observer: impl Fn(&'static str, &ConvergeOutcome) + Send + Sync + 'static,
    ) -> Arc<Self> {
        Self::build(engine, debounce, Some(Box::new(observer)))
    }

    fn build(
        engine: Arc<dyn Engine>,
        debounce: Duration,
        observer: Option<PassObserver>,
    ) -> Arc<Self> {
        Arc::new(Driver {
            engine,
            debounce,
            observer,
            state: tokio::sync::Mutex::new(State::default()),
            batch: Mutex::new(None),
            changed: Mutex::new(BTreeMap::new()),
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.engine
    }

    /// Makes the proxy serve `model` (coalesced with other calls within the window)
    /// and returns the outcome of the pass that included it. Drift of the `held`
    /// sections alone (report-only routes) sends nothing.
    pub async fn apply(
        self: &Arc<Self>,
        model: ProxyModel,
        held: BTreeSet<String>,
    ) -> Arc<ConvergeOutcome> {
        let (mut done, leader) = {
            let mut batch = self.batch.lock().unwrap_or_else(|p| p.into_inner());
            match batch.as_mut() {
                Some(b) => {
                    b.model = model;
                    b.held = held;
                    (b.done.subscribe(), false)
                }
                None => {
                    let (tx, rx) = watch::channel(None);
                    *batch = Some(Batch {
                        model,
                        held,
                        done: tx,
                    });
                    (rx, true)
                }
            }
        };
        if leader {
            // Detached, so that a cancelled reconcile never strands the others waiting.
            let me = self.clone();
            tokio::spawn(async move { me.run_batch().await });
        }
        loop {
            if let Some(outcome) = done.borrow_and_update().clone() {
                return outcome;
            }
            if done.changed().await.is_err() {
                // The pass task ended without an answer (a panic): report the last one.
                return self.last_outcome().await.unwrap_or_else(|| {
                    Arc::new(ConvergeOutcome {
                        rendered: Rendered::new(Default::default(), Default::default()),
                        observed: None,
                        drift: Vec::new(),
                        applied: None,
                        routes: Default::default(),
                        serving: None,
                        error: None,
                        before: None,
                        elapsed: Duration::ZERO,
                    })
                });
            }
        }
    }

    async fn run_batch(self: Arc<Self>) {
        tokio::time::sleep(self.debounce).await;
        let mut state = self.state.lock().await;
        let Some(batch) = self.batch.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        let mut outcome = converge_holding(
            self.engine.as_ref(),
            &batch.model,
            state.last_good.as_ref(),
            true,
            &batch.held,
        )
        .await;
        outcome.before = state.last_applied.clone();
        if let Some(observer) = &self.observer {
            observer(self.engine.name(), &outcome);
        }
        if outcome.applied.is_some() {
            let mut changed = self.changed.lock().unwrap_or_else(|p| p.into_inner());
            for d in &outcome.drift {
                let before = state
                    .last_applied
                    .as_ref()
                    .and_then(|b| b.sections.get(&d.section));
                let drifted =
                    before.is_some() && before == outcome.rendered.sections.get(&d.section);
                changed.insert(
                    d.section.clone(),
                    Changed {
                        drift: d.clone(),
                        drifted,
                    },
                );
            }
        }
        if let Some(serving) = &outcome.serving {
            state.last_good = Some(serving.clone());
            state.last_applied = Some(self.engine.render(serving));
        } else if outcome.drift.is_empty() && outcome.error.is_none() {
            // Already serving as desired (a controller restart finds it so).
            state.last_good = Some(batch.model.clone());
            state.last_applied = Some(outcome.rendered.clone());
        }
        let outcome = Arc::new(outcome);
        state.last = Some(outcome.clone());
        let _ = batch.done.send(Some(outcome));
    }

    /// What a pass changed in `section` since it was last asked, if anything (taken: a
    /// second call answers `None`).
    pub fn take_changed(&self, section: &str) -> Option<Changed> {
        self.changed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(section)
    }

    /// Observes and compares only: what a pass would do, for `plan` and `diff`.
    pub async fn plan(&self, model: &ProxyModel) -> ConvergeOutcome {
        let state = self.state.lock().await;
        let mut outcome = converge_holding(
            self.engine.as_ref(),
            model,
            state.last_good.as_ref(),
            false,
            &BTreeSet::new(),
        )
        .await;
        outcome.before = state.last_applied.clone();
        outcome
    }

    /// The model the proxy last accepted from holdfast.
    pub async fn last_good(&self) -> Option<ProxyModel> {
        self.state.lock().await.last_good.clone()
    }

    /// The last pass's outcome.
    pub async fn last_outcome(&self) -> Option<Arc<ConvergeOutcome>> {
        self.state.lock().await.last.clone()
    }

    /// The configuration the proxy last accepted from holdfast.
    pub async fn last_applied(&self) -> Option<Rendered> {
        self.state.lock().await.last_applied.clone()
    }
}
