//! A [`DesiredSink`] without a controller, for the sources' unit tests.

use std::sync::Mutex;

use futures_util::future::BoxFuture;
use holdfast_spec::DesiredState;
use tokio::sync::watch;

use super::{Acceptance, DesiredSink, SetDesiredError};
use crate::api::types::ResourceDiff;
use crate::runtime::lock;
use crate::runtime::store::EventKind;

/// An event as the fake sink recorded it: `(project, object, reason, message)`.
pub(crate) type Recorded = (String, String, String, String);

/// Takes every desired state (unless told to refuse a rename), records events
/// and metrics, and is converged whenever asked.
#[derive(Debug)]
pub(crate) struct FakeSink {
    /// The states taken: (project, revision).
    pub(crate) taken: Mutex<Vec<(String, Option<String>)>>,
    /// The events recorded.
    pub(crate) events: Mutex<Vec<Recorded>>,
    /// Refuse a rename from this project, as if it still had 2 containers.
    pub(crate) occupied: Mutex<Option<String>>,
    /// `last_project` of each call.
    pub(crate) last_projects: Mutex<Vec<Option<String>>>,
    /// `(failing, pinned)` as last published.
    pub(crate) source_state: Mutex<(bool, bool)>,
    changed: watch::Sender<u64>,
    closed: watch::Sender<bool>,
}

impl FakeSink {
    pub(crate) fn new() -> std::sync::Arc<Self> {
        std::sync::Arc::new(FakeSink {
            taken: Mutex::new(Vec::new()),
            events: Mutex::new(Vec::new()),
            occupied: Mutex::new(None),
            last_projects: Mutex::new(Vec::new()),
            source_state: Mutex::new((false, false)),
            changed: watch::channel(0).0,
            closed: watch::channel(false).0,
        })
    }

    /// The reasons of the events recorded, in order.
    pub(crate) fn reasons(&self) -> Vec<String> {
        lock(&self.events)
            .iter()
            .map(|(_, _, reason, _)| reason.clone())
            .collect()
    }
}

impl DesiredSink for FakeSink {
    fn set_desired_at(
        &self,
        state: DesiredState,
        revision: Option<String>,
        last_project: Option<String>,
    ) -> BoxFuture<'_, Result<Acceptance, SetDesiredError>> {
        Box::pin(async move {
            lock(&self.last_projects).push(last_project.clone());
            let old = self.project().or(last_project);
            if let Some(old) = old.filter(|o| *o != state.name)
                && lock(&self.occupied).as_deref() == Some(old.as_str())
            {
                return Err(SetDesiredError::RenameRefused {
                    old,
                    new: state.name,
                    containers: 2,
                });
            }
            lock(&self.taken).push((state.name, revision));
            self.changed.send_modify(|n| *n += 1);
            Ok(Acceptance::default())
        })
    }

    fn diff<'a>(&'a self, state: &'a DesiredState) -> BoxFuture<'a, Vec<ResourceDiff>> {
        Box::pin(async move {
            state
                .services
                .keys()
                .map(|name| ResourceDiff {
                    key: format!("service/{name}"),
                    diff: None,
                    error: None,
                })
                .collect()
        })
    }

    fn project(&self) -> Option<String> {
        lock(&self.taken).last().map(|(p, _)| p.clone())
    }

    fn revision(&self) -> Option<String> {
        lock(&self.taken).last().and_then(|(_, r)| r.clone())
    }

    fn converged(&self) -> bool {
        !lock(&self.taken).is_empty()
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn closed(&self) -> watch::Receiver<bool> {
        self.closed.subscribe()
    }

    fn event(&self, project: &str, object: &str, _: EventKind, reason: &str, message: &str) {
        lock(&self.events).push((project.into(), object.into(), reason.into(), message.into()));
    }

    fn record_fetch(&self, _: bool) {}

    fn record_invalid_commit(&self) {}

    fn set_source_state(&self, failing: bool, pinned: bool) {
        *lock(&self.source_state) = (failing, pinned);
    }
}
