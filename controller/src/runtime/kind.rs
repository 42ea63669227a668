//! What a kind of resource gives the runtime, and what the runtime gives it back.
//!
//! A kind (services, and later routes, backups, the firewall) implements [`Kind`]: it
//! derives its desired objects from the desired state, lists the objects it owns on the
//! host, reconciles one object at a time (observe → plan → apply), classifies its
//! errors, maps host events to the objects they concern and names its `holdfast get`
//! columns. The runtime owns everything else: keys, the queue, backoff, stall marks,
//! generations, statuses, events, metrics, the mass-removal guard and the
//! dependencies between objects.
//!
//! Nothing here knows a particular kind: `runtime/` imports nothing from `resources/`.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use holdfast_spec::DesiredState;
use serde::{Deserialize, Serialize};

/// A boxed future, as the runtime stores kinds behind `dyn`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The error a kind returns, with its cause chain.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// One object of one kind: the key of the queue, the backoff, the statuses, the
/// events and the API. Written `KIND/NAME`, as `service/web` or `route/shop`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectRef {
    /// The kind, such as `service`.
    pub kind: String,
    /// The object's name within its kind.
    pub name: String,
}

impl ObjectRef {
    /// `kind/name`.
    pub fn new(kind: impl Into<String>, name: impl Into<String>) -> Self {
        ObjectRef {
            kind: kind.into(),
            name: name.into(),
        }
    }

    /// Reads `KIND/NAME`; `None` without a `/` or with an empty part.
    ///
    /// ```
    /// use holdfast::runtime::kind::ObjectRef;
    /// let r = ObjectRef::parse("route/shop.example.com").unwrap();
    /// assert_eq!((r.kind.as_str(), r.name.as_str()), ("route", "shop.example.com"));
    /// assert_eq!(r.to_string(), "route/shop.example.com");
    /// assert!(ObjectRef::parse("web").is_none());
    /// ```
    pub fn parse(key: &str) -> Option<Self> {
        let (kind, name) = key.split_once('/')?;
        (!kind.is_empty() && !name.is_empty()).then(|| ObjectRef::new(kind, name))
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

/// What one object needs of another before it may apply, as data: the runtime gates
/// the object on it and requeues it when the other object changes. No kind polls
/// another.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Need {
    /// The other object must be Ready (a route needs its service).
    Ready(ObjectRef),
    /// The other object must publish `key` (a route's upstream reads the service's
    /// `endpoint`); a change of the value requeues this object.
    Published {
        /// Who publishes.
        of: ObjectRef,
        /// What.
        key: String,
    },
    /// Asks the other object for an action and waits for its acknowledgement: the
    /// other object sees `token` in [`Cx::requests`] and publishes `done:<token>` once
    /// it has done it (a service update waits for a verified backup of its new spec).
    Done {
        /// Who is asked.
        of: ObjectRef,
        /// What is asked, such as the new spec hash.
        token: String,
    },
}

impl Need {
    /// The object needed.
    pub fn of(&self) -> &ObjectRef {
        match self {
            Need::Ready(of) | Need::Published { of, .. } | Need::Done { of, .. } => of,
        }
    }
}

/// The published key that acknowledges a [`Need::Done`] request.
pub fn done_key(token: &str) -> String {
    format!("done:{token}")
}

/// One desired object, derived from the desired state.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredObject {
    /// Its name within its kind.
    pub name: String,
    /// The hash of its spec: an object stalled on an error is retried once it changes.
    pub hash: String,
    /// The resolved spec, as `holdfast describe` shows it.
    pub spec: serde_json::Value,
    /// What it needs of other objects before it may apply.
    pub needs: Vec<Need>,
}

/// One object a kind owns on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owned {
    /// Its name within its kind (for a service: the service label).
    pub name: String,
    /// How much of the host it is, for the mass-removal guard (for services: one per
    /// container).
    pub weight: usize,
}

/// Observe and plan only, or apply too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Observe and plan only (`holdfast plan`, `diff`, `apply --dry-run`).
    Plan,
    /// Observe, plan and apply.
    Apply,
}

/// Everything the runtime hands one reconcile.
#[derive(Debug, Clone, Copy)]
pub struct Cx<'a> {
    /// The desired state in force.
    pub state: &'a DesiredState,
    /// Plan only, or apply too.
    pub mode: Mode,
    /// Suspended: observe and report, change nothing. A suspended object's pass is
    /// always in [`Mode::Plan`].
    pub suspended: bool,
    /// Whether objects gone from the file may be removed (false while the mass-removal
    /// guard holds for this kind).
    pub removal_allowed: bool,
    /// The git commit the desired state came from.
    pub revision: Option<&'a str>,
    /// Why the object may not apply yet: the first of its [`Need`]s that is not met
    /// (`None` when all are). The kind decides which of its changes that holds back.
    pub waiting_for: Option<&'a str>,
    /// What other objects publish, by object.
    pub published: &'a BTreeMap<ObjectRef, BTreeMap<String, String>>,
    /// The tokens other objects have asked of this one ([`Need::Done`]).
    pub requests: &'a [String],
}

impl Cx<'_> {
    /// What `of` publishes under `key`, if anything.
    pub fn published(&self, of: &ObjectRef, key: &str) -> Option<&str> {
        self.published.get(of)?.get(key).map(String::as_str)
    }
}

/// Where an object stands after a reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// As desired, and well.
    Ready,
    /// On its way: look again after `retry_after` (or sooner, on a trigger).
    Progressing {
        /// What it waits for.
        reason: String,
        /// When to look again.
        retry_after: Duration,
    },
    /// Not well, and holdfast stopped acting for now.
    Degraded {
        /// Why.
        reason: String,
    },
    /// Gone from the file, and removed from the host (or, in plan mode, to be).
    Removed,
    /// Gone from the file, but the mass-removal guard kept it.
    RemovalRefused,
    /// Suspended or report-only, and it differs from the file.
    Drifted,
}

/// One field of a live object that differs from the desired one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDrift {
    /// The field, such as `env` or `upstream`.
    pub field: String,
    /// The desired side, naming only what differs.
    pub desired: String,
    /// The live side, naming only what differs.
    pub live: String,
}

/// One action a reconcile planned (and, when [`Report::applied`], carried out) on the
/// object itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// The event reason when carried out, such as `Created` or `Restarted`.
    pub reason: &'static str,
    /// Whether carrying it out deserves a warning event (a restart of an unhealthy
    /// container does).
    pub warning: bool,
    /// One line for `holdfast plan`, such as `create service/web`.
    pub description: String,
}

/// What one reconcile saw and did.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Where the object stands.
    pub outcome: Outcome,
    /// What was (or, in plan mode, would be) done besides the object's own actions,
    /// such as creating a network. Each is an `Applied` event.
    pub steps: Vec<String>,
    /// The object's own actions; empty when nothing is to be done.
    pub actions: Vec<Action>,
    /// How the live object differs from the desired one.
    pub drift: Vec<FieldDrift>,
    /// Whether the live object had left the spec it was made from (drift, as opposed to
    /// a change of the file).
    pub drifted: bool,
    /// Whether the actions were carried out.
    pub applied: bool,
    /// Whether the pass put a broken object back (RESTARTS, as kubectl counts them).
    pub repaired: bool,
    /// Whether the pass restarted an unhealthy object.
    pub restarted: bool,
    /// The spec hash applied, when there is a desired object.
    pub spec_hash: Option<String>,
    /// The kind's own `holdfast get` columns, by column name.
    pub columns: BTreeMap<String, String>,
    /// What dependents may read ([`Need::Published`], [`Need::Done`]).
    pub published: BTreeMap<String, String>,
    /// The live and the desired object as text, for `holdfast diff` (plan mode).
    pub diff: Option<(String, String)>,
    /// The reason of the event that reports drift (`DriftDetected`; routes say
    /// `ProxyDrift`).
    pub drift_reason: &'static str,
    /// The status message of a Ready object (`running`; routes say `serving`).
    pub ready_message: &'static str,
}

impl Report {
    /// A report with `outcome` and nothing else.
    pub fn new(outcome: Outcome) -> Self {
        Report {
            outcome,
            steps: Vec::new(),
            actions: Vec::new(),
            drift: Vec::new(),
            drifted: false,
            applied: false,
            repaired: false,
            restarted: false,
            spec_hash: None,
            columns: BTreeMap::new(),
            published: BTreeMap::new(),
            diff: None,
            drift_reason: "DriftDetected",
            ready_message: "running",
        }
    }
}

/// What the runtime does after a failed reconcile (kube-runtime's `error_policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorAction {
    /// Retry after the object's backoff (min(cap, base·2^n), jittered).
    Retry,
    /// Retrying cannot help: Stalled until the object's spec changes.
    Stall,
    /// Look again after this long, without counting a retry.
    WaitFor(Duration),
}

/// Something that happened on the host, as the engine's event stream tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEvent {
    /// What kind of host object: `container`, `network`, `volume`, `image`.
    pub object: String,
    /// What happened, such as `die` or `health_status: unhealthy`.
    pub action: String,
    /// The host object's ID.
    pub id: String,
    /// Its labels (attributes).
    pub labels: BTreeMap<String, String>,
}

/// Where a column of a kind is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Show {
    /// In `holdfast get`, `get -o wide` and `describe`.
    Table,
    /// In `get -o wide` and `describe`.
    Wide,
    /// In `describe` only.
    Describe,
}

/// A column of a kind: a line of `holdfast describe` and, as [`Show`] says, a column
/// of `holdfast get`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The header, such as `IMAGE`; also the key in [`Report::columns`]. `describe`
    /// shows it capitalised (`Image`).
    pub name: &'static str,
    /// Where it is shown.
    pub show: Show,
}

/// A kind of resource. See the [module docs](self) and `docs/architecture.md`
/// ("Writing a kind") for a complete example.
pub trait Kind: Send + Sync + 'static {
    /// The kind's name, the first part of its keys, such as `service`.
    const KIND: &'static str;
    /// Other names the CLI accepts for it, such as `svc` and `services`. The first is
    /// the plural `holdfast get` filters by.
    const ALIASES: &'static [&'static str] = &[];
    /// Why a reconcile or listing failed.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The desired objects of this kind in `state`.
    fn desired(&self, state: &DesiredState) -> Vec<DesiredObject>;

    /// The objects of this kind that `project` owns on the host.
    fn owned(&self, project: &str) -> impl Future<Output = Result<Vec<Owned>, Self::Error>> + Send;

    /// One pass over the object `name`: observe, plan and, in apply mode, apply. An
    /// object gone from the file is removed here too (unless `cx.removal_allowed` is
    /// false).
    fn reconcile(
        &self,
        name: &str,
        cx: &Cx<'_>,
    ) -> impl Future<Output = Result<Report, Self::Error>> + Send;

    /// What to do after `error`, the `retries`-th failure in a row.
    fn error_policy(&self, error: &Self::Error, retries: u32) -> ErrorAction {
        let _ = (error, retries);
        ErrorAction::Retry
    }

    /// The objects `event` concerns, to be queued (kube-runtime's `watches`). A kind
    /// may also learn from it (the service kind counts crashes).
    fn on_host_event(&self, project: &str, event: &HostEvent) -> Vec<String> {
        let _ = (project, event);
        Vec::new()
    }

    /// The kind's `holdfast get` columns.
    fn columns(&self) -> &'static [Column] {
        &[]
    }

    /// Whether `name` is shown only as reported and never corrected (report-only).
    fn report_only(&self, state: &DesiredState, name: &str) -> bool {
        let _ = (state, name);
        false
    }

    /// Whether the owned object `name`, which `state` does not name, is kept rather
    /// than removed as gone from the file (a service whose profile is inactive).
    fn kept(&self, state: &DesiredState, name: &str) -> bool {
        let _ = (state, name);
        false
    }

    /// Registers the kind's own metrics (beyond the runtime's per-kind ones).
    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        let _ = registry;
    }
}

/// A failed reconcile, with the kind's verdict on it.
#[derive(Debug)]
pub struct Failure {
    /// The error.
    pub error: BoxError,
    /// What the kind's error policy says to do.
    pub action: ErrorAction,
}

/// [`Kind`] behind `dyn`: the runtime's view of a kind. Implemented for every `Kind`.
pub trait DynKind: Send + Sync {
    /// [`Kind::KIND`].
    fn kind(&self) -> &'static str;
    /// [`Kind::ALIASES`].
    fn aliases(&self) -> &'static [&'static str];
    /// [`Kind::desired`].
    fn desired(&self, state: &DesiredState) -> Vec<DesiredObject>;
    /// [`Kind::owned`].
    fn owned<'a>(&'a self, project: &'a str) -> BoxFuture<'a, Result<Vec<Owned>, BoxError>>;
    /// [`Kind::reconcile`], with [`Kind::error_policy`] applied to a failure.
    fn reconcile<'a>(
        &'a self,
        name: &'a str,
        cx: &'a Cx<'a>,
        retries: u32,
    ) -> BoxFuture<'a, Result<Report, Failure>>;
    /// [`Kind::on_host_event`].
    fn on_host_event(&self, project: &str, event: &HostEvent) -> Vec<String>;
    /// [`Kind::columns`].
    fn columns(&self) -> &'static [Column];
    /// [`Kind::report_only`].
    fn report_only(&self, state: &DesiredState, name: &str) -> bool;
    /// [`Kind::kept`].
    fn kept(&self, state: &DesiredState, name: &str) -> bool;
    /// [`Kind::register_metrics`].
    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry);
}

impl<K: Kind> DynKind for K {
    fn kind(&self) -> &'static str {
        K::KIND
    }
    fn aliases(&self) -> &'static [&'static str] {
        K::ALIASES
    }
    fn desired(&self, state: &DesiredState) -> Vec<DesiredObject> {
        Kind::desired(self, state)
    }
    fn owned<'a>(&'a self, project: &'a str) -> BoxFuture<'a, Result<Vec<Owned>, BoxError>> {
        Box::pin(async move { Kind::owned(self, project).await.map_err(BoxError::from) })
    }
    fn reconcile<'a>(
        &'a self,
        name: &'a str,
        cx: &'a Cx<'a>,
        retries: u32,
    ) -> BoxFuture<'a, Result<Report, Failure>> {
        Box::pin(async move {
            Kind::reconcile(self, name, cx).await.map_err(|e| Failure {
                action: self.error_policy(&e, retries),
                error: BoxError::from(e),
            })
        })
    }
    fn on_host_event(&self, project: &str, event: &HostEvent) -> Vec<String> {
        Kind::on_host_event(self, project, event)
    }
    fn columns(&self) -> &'static [Column] {
        Kind::columns(self)
    }
    fn report_only(&self, state: &DesiredState, name: &str) -> bool {
        Kind::report_only(self, state, name)
    }
    fn kept(&self, state: &DesiredState, name: &str) -> bool {
        Kind::kept(self, state, name)
    }
    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        Kind::register_metrics(self, registry)
    }
}
