//! The controller: keeps a project's objects, of every registered kind, as the desired
//! state says.
//!
//! It owns the work queue, keyed by [`ObjectRef`] (`KIND/NAME`), the per-object
//! backoff, the stall marks, the generations and the statuses, and runs each kind's
//! `reconcile` for each key ([`status`](super::status) records the result). Triggers (a
//! new desired state, host events, the periodic resync, a dependency that changed) only
//! ever add keys to the queue: every reconcile looks at the live state afresh, so a
//! missed or repeated trigger is harmless.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use holdfast_spec::DesiredState;
use tokio::sync::watch;

use super::backoff::{Backoff, BackoffPolicy};
use super::guard;
use super::kind::{DesiredObject, HostEvent, ObjectRef};
use super::lock;
use super::metrics::Metrics;
use super::needs;
use super::queue::{WorkQueue, run_workers};
use super::registry::Registry;
use super::store::{Event, EventKind, Phase, ResourceStatus, Store};

/// How the controller behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Objects reconciled at once.
    pub workers: usize,
    /// How often every object is looked at even without a trigger (±20 % jitter).
    pub resync: Duration,
    /// Remove objects even when that removes all, or more than half, of a kind's.
    pub allow_mass_removal: bool,
    /// Retry delays after failures.
    pub backoff: BackoffPolicy,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            workers: 4,
            resync: Duration::from_secs(30),
            allow_mass_removal: false,
            backoff: BackoffPolicy::default(),
        }
    }
}

/// The desired state in force, with what was derived and decided about it.
#[derive(Debug)]
pub(super) struct Desired {
    pub(super) state: DesiredState,
    hash: String,
    /// Every desired object of every kind.
    pub(super) objects: BTreeMap<ObjectRef, DesiredObject>,
    /// Object → the objects that need it.
    pub(super) dependents: HashMap<ObjectRef, Vec<ObjectRef>>,
    /// Kinds whose removals the mass-removal guard refused.
    pub(super) removal_refused: BTreeSet<String>,
    /// Counts desired states given; a status counts toward convergence only when it
    /// was observed under the current one.
    pub(super) generation: u64,
    /// The git commit the state came from, if it came from git.
    pub(super) revision: Option<String>,
}

impl Desired {
    /// The spec hash of `key` ("" when the file no longer has it).
    pub(super) fn hash_of(&self, key: &ObjectRef) -> String {
        self.objects
            .get(key)
            .map(|o| o.hash.clone())
            .unwrap_or_default()
    }
}

/// What happened when a new desired state was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Objects to reconcile (in the file, or still owned on the host).
    pub keys: Vec<ObjectRef>,
    /// Objects the host has that the file no longer names.
    pub removals: Vec<ObjectRef>,
    /// Whether the mass-removal guard refused those removals (for any kind).
    pub removal_refused: bool,
}

/// Why a desired state was not taken.
#[derive(Debug, thiserror::Error)]
pub enum SetDesiredError {
    /// The state renames the project while the old project still owns objects on the
    /// host: they would keep running unmanaged, out of the guard's sight.
    #[error(
        "`name: {new}` renames the project `{old}`, whose {containers} containers would keep running unmanaged; keep the name, or remove them first (holdfast delete)"
    )]
    RenameRefused {
        /// The project in force (or last given).
        old: String,
        /// The name the new state gives.
        new: String,
        /// How much the old project still owns (by the guard's weight: for services,
        /// containers).
        containers: usize,
    },
    /// What a kind owns on the host could not be listed.
    #[error("cannot list the {kind} objects the project owns: {source}")]
    Owned {
        /// The kind.
        kind: &'static str,
        /// Why.
        #[source]
        source: super::kind::BoxError,
    },
}

/// The store document that names the project last given, for the rename refusal after
/// a restart.
const PROJECT_DOC: &str = "project";

/// The controller of one project.
pub struct Controller {
    pub(super) registry: Registry,
    pub(super) store: Option<Arc<Store>>,
    pub(super) options: Options,
    desired: RwLock<Option<Arc<Desired>>>,
    pub(super) queue: Arc<WorkQueue<ObjectRef>>,
    pub(super) backoff: Mutex<Backoff<ObjectRef>>,
    /// Object → the generation it was last reconciled under.
    pub(super) reconciled: Mutex<HashMap<ObjectRef, u64>>,
    /// Statuses by key (`KIND/NAME`).
    pub(super) statuses: Mutex<BTreeMap<String, ResourceStatus>>,
    /// What each object last published.
    pub(super) published: Mutex<BTreeMap<ObjectRef, BTreeMap<String, String>>>,
    /// Object → the tokens other objects asked of it ([`Need::Done`](super::kind::Need)).
    pub(super) requests: Mutex<HashMap<ObjectRef, BTreeSet<String>>>,
    /// Object → the spec hash it stalled at; not retried until that changes.
    pub(super) stalled: Mutex<HashMap<ObjectRef, String>>,
    /// Counts reconciles started; each key's last finished pass records the number its
    /// pass started with, so that a forced pass waits for a pass begun after the ask.
    pub(super) passes: std::sync::atomic::AtomicU64,
    pub(super) finished: Mutex<HashMap<ObjectRef, u64>>,
    pub(super) changed: watch::Sender<u64>,
    closed: watch::Sender<bool>,
    pub(super) metrics: Metrics,
    source: Mutex<Option<String>>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("kinds", &self.registry)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Controller {
    /// A controller of the kinds in `registry`, with nothing to do yet. `store` keeps
    /// status and events across restarts; without it they live in memory only.
    pub fn new(registry: Registry, store: Option<Arc<Store>>, options: Options) -> Arc<Self> {
        let backoff = Backoff::new(options.backoff);
        let (changed, _) = watch::channel(0);
        let (closed, _) = watch::channel(false);
        let metrics = Metrics::with(|r| {
            for kind in registry.kinds() {
                kind.register_metrics(r);
            }
        });
        for kind in registry.names() {
            metrics.register_kind(kind);
        }
        Arc::new(Controller {
            registry,
            store,
            options,
            desired: RwLock::new(None),
            queue: Arc::new(WorkQueue::new()),
            backoff: Mutex::new(backoff),
            reconciled: Mutex::new(HashMap::new()),
            statuses: Mutex::new(BTreeMap::new()),
            published: Mutex::new(BTreeMap::new()),
            requests: Mutex::new(HashMap::new()),
            stalled: Mutex::new(HashMap::new()),
            passes: std::sync::atomic::AtomicU64::new(0),
            finished: Mutex::new(HashMap::new()),
            changed,
            closed,
            metrics,
            source: Mutex::new(None),
        })
    }

    /// The kinds this controller drives.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The project name in force, if a desired state was given.
    pub fn project(&self) -> Option<String> {
        self.current().map(|d| d.state.name.clone())
    }

    pub(super) fn current(&self) -> Option<Arc<Desired>> {
        self.desired
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Records an event (in the store when there is one) and logs it.
    pub fn event(&self, project: &str, object: &str, kind: EventKind, reason: &str, message: &str) {
        let event = match kind {
            EventKind::Normal => {
                tracing::info!(project, object, reason, "{message}");
                Event::normal(project, object, reason, message)
            }
            EventKind::Warning => {
                tracing::warn!(project, object, reason, "{message}");
                Event::warning(project, object, reason, message)
            }
        };
        if let Some(store) = &self.store
            && let Err(e) = store.record(event)
        {
            tracing::error!(error = %e, "cannot record an event");
        }
    }

    /// Makes `state` the desired state and queues every object it names, plus every
    /// object the host still has. Removals that would take away all, or more than half,
    /// of a kind's objects are refused unless allowed.
    pub async fn set_desired(&self, state: DesiredState) -> Result<Accepted, SetDesiredError> {
        self.set_desired_from(state, None, None).await
    }

    /// The project in force; else (just restarted) `known`, the project a source last
    /// applied; else the one named last in the store.
    fn last_project(&self, known: Option<String>) -> Option<String> {
        if let Some(d) = self.current() {
            return Some(d.state.name.clone());
        }
        if known.is_some() {
            return known;
        }
        let store = self.store.as_ref()?;
        store.doc::<String>(PROJECT_DOC).ok().flatten()
    }

    /// Refuses a state that renames the project (the one in force, else `known`, else
    /// the one last named in the store) while the old one still owns objects on the
    /// host.
    async fn check_rename(
        &self,
        state: &DesiredState,
        known: Option<String>,
    ) -> Result<(), SetDesiredError> {
        let Some(old) = self.last_project(known) else {
            return Ok(());
        };
        if old == state.name {
            return Ok(());
        }
        let mut objects = 0;
        for kind in self.registry.kinds() {
            let owned = kind
                .owned(&old)
                .await
                .map_err(|source| SetDesiredError::Owned {
                    kind: kind.kind(),
                    source,
                })?;
            objects += owned.iter().map(|o| o.weight).sum::<usize>();
        }
        if objects > 0 {
            return Err(SetDesiredError::RenameRefused {
                old,
                new: state.name.clone(),
                containers: objects,
            });
        }
        Ok(())
    }

    /// As [`Controller::set_desired`], for a state read from the git commit `revision`
    /// (objects applied under it record the commit), from a source that knows the
    /// project it applied last (`last_project`), which a controller just restarted does
    /// not: a state that renames it is refused while it still owns objects.
    pub async fn set_desired_from(
        &self,
        state: DesiredState,
        revision: Option<String>,
        last_project: Option<String>,
    ) -> Result<Accepted, SetDesiredError> {
        self.check_rename(&state, last_project).await?;
        let mut objects = BTreeMap::new();
        let mut removals = Vec::new();
        let mut removal_refused = BTreeSet::new();
        // Owned objects that the state keeps without naming them (services whose
        // profile is inactive): neither removed nor reconciled.
        let mut kept = BTreeSet::new();
        for kind in self.registry.kinds() {
            let desired = kind.desired(&state);
            let mut owned =
                kind.owned(&state.name)
                    .await
                    .map_err(|source| SetDesiredError::Owned {
                        kind: kind.kind(),
                        source,
                    })?;
            owned.retain(|o| {
                let keep = kind.kept(&state, &o.name);
                if keep {
                    kept.insert(ObjectRef::new(kind.kind(), &o.name));
                }
                !keep
            });
            let removed = guard::removals(&desired, &owned);
            if removed.mass && !self.options.allow_mass_removal {
                removal_refused.insert(kind.kind().to_string());
                self.event(
                    &state.name,
                    "project",
                    EventKind::Warning,
                    "MassRemovalRefused",
                    &guard::refusal_message(kind.kind(), &removed),
                );
            }
            removals.extend(removed.names.iter().map(|n| ObjectRef::new(kind.kind(), n)));
            for object in desired {
                objects.insert(ObjectRef::new(kind.kind(), &object.name), object);
            }
        }
        let hash = state.content_hash();
        let previous = self.current();
        if previous.is_none() {
            self.load_stored(&state.name);
        }
        if previous.as_ref().is_none_or(|p| p.hash != hash) {
            let counts: Vec<String> = self
                .registry
                .names()
                .into_iter()
                .map(|k| {
                    let n = objects.keys().filter(|o| o.kind == k).count();
                    format!("{n} {k}s")
                })
                .collect();
            self.event(
                &state.name,
                "project",
                EventKind::Normal,
                "DesiredStateLoaded",
                &format!(
                    "desired state {} with {}",
                    &hash[..12.min(hash.len())],
                    counts.join(", ")
                ),
            );
        }
        // Objects in the file, objects the host still has, and objects with a status
        // left from before (so that stale entries are cleared).
        let mut keys: Vec<ObjectRef> = objects.keys().cloned().collect();
        keys.extend(removals.iter().cloned());
        let stale: Vec<ObjectRef> = lock(&self.statuses)
            .values()
            .filter_map(|s| ObjectRef::parse(&s.key))
            .filter(|k| !objects.contains_key(k) && !removals.contains(k) && !kept.contains(k))
            .collect();
        keys.extend(stale);
        // A kept object is not the state's: its status (from when it was) goes, so
        // that it neither shows as Ready nor holds up convergence.
        for key in &kept {
            if lock(&self.statuses).contains_key(&key.to_string()) {
                self.drop_status(&state.name, key);
            }
        }
        if let Some(store) = &self.store
            && let Err(e) = store.put_doc(PROJECT_DOC, &state.name)
        {
            tracing::warn!(error = %e, "cannot store the project name");
        }
        let dependents = needs::dependents(&objects);
        let refused = !removal_refused.is_empty();
        *self.desired.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(Desired {
            state,
            hash,
            objects,
            dependents,
            removal_refused,
            generation: previous.as_ref().map_or(1, |p| p.generation + 1),
            revision,
        }));
        // Watchers (the event follower, convergence waits) look again.
        self.changed.send_modify(|n| *n += 1);
        // A new spec may fix what retrying could not.
        lock(&self.stalled).clear();
        for key in &keys {
            self.queue.add(key.clone());
        }
        Ok(Accepted {
            keys,
            removals,
            removal_refused: refused,
        })
    }

    /// After a restart of the controller, carries on from the stored statuses.
    fn load_stored(&self, project: &str) {
        let Some(store) = &self.store else { return };
        match store.statuses(Some(project)) {
            Ok(stored) => {
                let mut statuses = lock(&self.statuses);
                let mut published = lock(&self.published);
                for mut s in stored {
                    // Statuses written before keys carried their kind.
                    if let Some(key) = ObjectRef::parse(&s.key) {
                        s.kind = key.kind.clone();
                        s.name = key.name.clone();
                        published.insert(key, s.published.clone());
                    }
                    statuses.entry(s.key.clone()).or_insert(s);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read stored status"),
        }
    }

    /// Queues `key` now, unless it is stalled on an unchanged spec.
    pub fn trigger(&self, key: &ObjectRef) {
        if self.is_stalled(key) {
            return;
        }
        self.queue.add(key.clone());
    }

    /// Feeds a host event to every kind, and queues the objects they say it concerns.
    pub fn on_host_event(&self, event: &HostEvent) {
        let Some(project) = self.project() else {
            return;
        };
        for kind in self.registry.kinds() {
            for name in kind.on_host_event(&project, event) {
                self.trigger(&ObjectRef::new(kind.kind(), name));
            }
        }
    }

    fn is_stalled(&self, key: &ObjectRef) -> bool {
        let Some(desired) = self.current() else {
            return false;
        };
        lock(&self.stalled).get(key) == Some(&desired.hash_of(key))
    }

    /// Queues every desired object (a resync), except those stalled on an unchanged
    /// spec.
    pub fn trigger_all(&self) {
        let Some(desired) = self.current() else {
            return;
        };
        let stalled = lock(&self.stalled);
        for (key, object) in &desired.objects {
            if stalled.get(key) != Some(&object.hash) {
                self.queue.add(key.clone());
            }
        }
    }

    /// Runs the workers until [`Controller::shutdown`].
    pub async fn run_workers(self: &Arc<Self>) {
        let this = self.clone();
        run_workers(
            self.queue.clone(),
            self.options.workers,
            move |key: ObjectRef| {
                let this = this.clone();
                async move { this.reconcile_key(&key).await }
            },
        )
        .await;
    }

    /// Resyncs every `options.resync` (with jitter) until shutdown.
    pub async fn run_resync(self: &Arc<Self>) {
        let mut rng = fastrand::Rng::new();
        let mut closed = self.closed.subscribe();
        loop {
            let period = self.options.resync.as_secs_f64() * (0.8 + 0.4 * rng.f64());
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs_f64(period)) => self.trigger_all(),
                _ = closed.wait_for(|c| *c) => return,
            }
        }
    }

    /// Stops handing out work; running reconciles finish.
    pub fn shutdown(&self) {
        self.queue.close();
        self.closed.send_replace(true);
    }

    /// A receiver that turns true on shutdown.
    pub fn closed(&self) -> watch::Receiver<bool> {
        self.closed.subscribe()
    }

    /// The current status of every object, by key.
    pub fn statuses(&self) -> BTreeMap<String, ResourceStatus> {
        lock(&self.statuses).clone()
    }

    /// A receiver that changes whenever a status or the desired state does.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Whether every desired object is Ready under the current desired state, and no
    /// removed object is still waiting to go.
    pub fn converged(&self) -> bool {
        let Some(desired) = self.current() else {
            return false;
        };
        let statuses = lock(&self.statuses);
        let reconciled = lock(&self.reconciled);
        desired.objects.keys().all(|key| {
            reconciled.get(key) == Some(&desired.generation)
                && statuses
                    .get(&key.to_string())
                    .is_some_and(|s| s.phase == Phase::Ready)
        }) && statuses.values().all(|s| {
            ObjectRef::parse(&s.key).is_some_and(|k| desired.objects.contains_key(&k))
                || s.phase == Phase::Stalled
        }) && self.queue.is_empty()
    }

    /// Whether an object of the desired state in force is Stalled by this generation's
    /// pass: a permanent error that only a change of the file can end.
    pub fn stalled(&self) -> bool {
        let Some(desired) = self.current() else {
            return false;
        };
        let statuses = lock(&self.statuses);
        let reconciled = lock(&self.reconciled);
        desired.objects.keys().any(|key| {
            reconciled.get(key) == Some(&desired.generation)
                && statuses
                    .get(&key.to_string())
                    .is_some_and(|s| s.phase == Phase::Stalled)
        })
    }

    /// The Prometheus text exposition of the controller's metrics, current as of now.
    pub fn metrics_text(&self) -> String {
        self.metrics
            .set_queue_depth(i64::try_from(self.queue.len()).unwrap_or(i64::MAX));
        let statuses = lock(&self.statuses);
        for kind in self.registry.names() {
            let drifting = statuses
                .values()
                .filter(|s| s.kind == kind && !s.drift.is_empty())
                .count();
            self.metrics
                .set_drifting(kind, i64::try_from(drifting).unwrap_or(i64::MAX));
        }
        self.metrics.encode()
    }

    /// Records where the desired state comes from, for `holdfast trace` and `get source`.
    pub fn set_source(&self, source: &str) {
        *lock(&self.source) = Some(source.to_string());
    }

    /// Where the desired state comes from.
    pub fn source(&self) -> Option<String> {
        lock(&self.source).clone()
    }

    /// The git commit the desired state in force came from, if it came from git.
    pub fn revision(&self) -> Option<String> {
        self.current().and_then(|d| d.revision.clone())
    }

    /// The controller's metrics, for the parts that feed it (the git source).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The status and event store, when there is one.
    pub fn store(&self) -> Option<&Arc<Store>> {
        self.store.as_ref()
    }

    /// The resolved spec of `key` as JSON, if the file has it.
    pub fn desired_spec(&self, key: &ObjectRef) -> Option<serde_json::Value> {
        Some(self.current()?.objects.get(key)?.spec.clone())
    }

    /// Whether `key` is in the file or has a status.
    pub fn knows(&self, key: &ObjectRef) -> bool {
        self.current().is_some_and(|d| d.objects.contains_key(key))
            || lock(&self.statuses).contains_key(&key.to_string())
    }

    /// Reconciles `keys` (every desired object when empty) now, stalled or not, and
    /// waits up to `timeout` for each to be looked at. Returns whether all were, and
    /// their statuses.
    pub async fn reconcile_now(
        &self,
        keys: &[ObjectRef],
        timeout: Duration,
    ) -> (bool, Vec<ResourceStatus>) {
        let keys: Vec<ObjectRef> = if keys.is_empty() {
            self.current()
                .map(|d| d.objects.keys().cloned().collect())
                .unwrap_or_default()
        } else {
            keys.to_vec()
        };
        let asked = self.passes.load(std::sync::atomic::Ordering::SeqCst);
        let mut rx = self.subscribe();
        for key in &keys {
            lock(&self.stalled).remove(key);
            self.queue.add(key.clone());
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let done = || {
            let finished = lock(&self.finished);
            keys.iter()
                .all(|k| finished.get(k).is_some_and(|pass| *pass >= asked))
        };
        let completed = loop {
            if done() {
                break true;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => break done(),
            }
        };
        let statuses = lock(&self.statuses);
        let items = keys
            .iter()
            .filter_map(|k| statuses.get(&k.to_string()).cloned())
            .collect();
        (completed, items)
    }

    /// Suspends or resumes `key`: a suspended object is observed and reported but
    /// never changed. Returns its status, or `None` if holdfast does not know it.
    pub fn set_suspended(&self, key: &ObjectRef, suspended: bool) -> Option<ResourceStatus> {
        let status = {
            let mut statuses = lock(&self.statuses);
            let status = statuses.get_mut(&key.to_string())?;
            status.suspended = suspended;
            if suspended {
                status.phase = Phase::Suspended;
                status.message = "suspended: observed, never changed".into();
            } else {
                status.phase = Phase::Progressing;
                status.message = "resumed".into();
            }
            status.clone()
        };
        if let Some(store) = &self.store
            && let Err(e) = store.put_status(&status)
        {
            tracing::error!(error = %e, "cannot store a status");
        }
        let project = status.project.clone();
        let (reason, message) = if suspended {
            (
                "Suspended",
                "suspended by request: observed and reported, never changed",
            )
        } else {
            ("Resumed", "resumed by request")
        };
        self.event(
            &project,
            &key.to_string(),
            EventKind::Normal,
            reason,
            message,
        );
        self.queue.add(key.clone());
        self.changed.send_modify(|n| *n += 1);
        Some(status)
    }

    /// Compares `state` with the host, object by object, as unified diffs.
    pub async fn diffs(&self, state: &DesiredState) -> Vec<super::planning::ResourceDiff> {
        super::planning::diffs(&self.registry, state).await
    }

    /// A copy of the desired state in force.
    pub fn desired_state(&self) -> Option<DesiredState> {
        self.current().map(|d| d.state.clone())
    }

    /// Waits until [`Controller::converged`], an object is [`Controller::stalled`] or
    /// `timeout`; true when converged.
    pub async fn wait_converged(&self, timeout: Duration) -> bool {
        let mut rx = self.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.converged() {
                return true;
            }
            // Stalled cannot change until the file does: waiting longer is pointless.
            if self.stalled() {
                return false;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return self.converged(),
            }
        }
    }
}
