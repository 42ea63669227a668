//! The runtime's state machine against fake kinds, on a paused clock: no Docker.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use holdfast_spec::DesiredState;

use super::backoff::BackoffPolicy;
use super::controller::{Controller, Options};
use super::kind::{
    Action, Cx, DesiredObject, ErrorAction, Kind, Mode, Need, ObjectRef, Outcome, Owned, Report,
    done_key,
};
use super::lock;
use super::registry::Registry;
use super::store::{Phase, ResourceStatus};

/// A kind's name, so that one fake type can be registered as two kinds.
trait Name: Send + Sync + 'static {
    const KIND: &'static str;
}
struct Alpha;
impl Name for Alpha {
    const KIND: &'static str = "alpha";
}
struct Beta;
impl Name for Beta {
    const KIND: &'static str = "beta";
}

#[derive(Debug, thiserror::Error)]
enum FakeError {
    #[error("transient failure")]
    Transient,
    #[error("permanent failure")]
    Permanent,
    #[error("not yet")]
    NotYet,
}

/// One reconcile as the fake saw it.
#[derive(Debug, Clone)]
struct Call {
    name: String,
    removal_allowed: bool,
    waiting_for: Option<String>,
    requests: Vec<String>,
}

/// What the fake answers for an object: scripted answers first, then `standing`.
type Answer = Result<Report, FakeError>;

struct State {
    desired: Vec<DesiredObject>,
    owned: Vec<Owned>,
    script: HashMap<String, VecDeque<Answer>>,
    standing: HashMap<String, Report>,
    /// Publish `done:<token>` for every token asked of the object.
    acknowledge: bool,
    calls: Vec<Call>,
}

/// A kind whose desired objects, owned objects and reconcile results the test sets.
struct Fake<N: Name> {
    state: Arc<Mutex<State>>,
    name: PhantomData<N>,
}

#[derive(Clone)]
struct Handle(Arc<Mutex<State>>);

impl Handle {
    fn set_desired(&self, objects: &[(&str, &str, Vec<Need>)]) {
        lock(&self.0).desired = objects
            .iter()
            .map(|(name, hash, needs)| DesiredObject {
                name: name.to_string(),
                hash: hash.to_string(),
                spec: serde_json::json!({ "hash": hash }),
                needs: needs.clone(),
            })
            .collect();
    }
    fn set_owned(&self, names: &[&str]) {
        lock(&self.0).owned = names
            .iter()
            .map(|n| Owned {
                name: n.to_string(),
                weight: 1,
            })
            .collect();
    }
    fn push(&self, name: &str, answer: Answer) {
        lock(&self.0)
            .script
            .entry(name.to_string())
            .or_default()
            .push_back(answer);
    }
    fn standing(&self, name: &str, report: Report) {
        lock(&self.0).standing.insert(name.to_string(), report);
    }
    fn acknowledge(&self) {
        lock(&self.0).acknowledge = true;
    }
    fn calls(&self, name: &str) -> Vec<Call> {
        lock(&self.0)
            .calls
            .iter()
            .filter(|c| c.name == name)
            .cloned()
            .collect()
    }
}

fn fake<N: Name>() -> (Fake<N>, Handle) {
    let state = Arc::new(Mutex::new(State {
        desired: Vec::new(),
        owned: Vec::new(),
        script: HashMap::new(),
        standing: HashMap::new(),
        acknowledge: false,
        calls: Vec::new(),
    }));
    (
        Fake {
            state: state.clone(),
            name: PhantomData,
        },
        Handle(state),
    )
}

fn ready() -> Report {
    Report::new(Outcome::Ready)
}

impl<N: Name> Kind for Fake<N> {
    const KIND: &'static str = N::KIND;
    const ALIASES: &'static [&'static str] = &[];
    type Error = FakeError;

    fn desired(&self, _state: &DesiredState) -> Vec<DesiredObject> {
        lock(&self.state).desired.clone()
    }

    async fn owned(&self, _project: &str) -> Result<Vec<Owned>, FakeError> {
        Ok(lock(&self.state).owned.clone())
    }

    async fn reconcile(&self, name: &str, cx: &Cx<'_>) -> Result<Report, FakeError> {
        let mut state = lock(&self.state);
        state.calls.push(Call {
            name: name.to_string(),
            removal_allowed: cx.removal_allowed,
            waiting_for: cx.waiting_for.map(str::to_string),
            requests: cx.requests.to_vec(),
        });
        if !state.desired.iter().any(|d| d.name == name) {
            if cx.mode == Mode::Apply && cx.removal_allowed {
                state.owned.retain(|o| o.name != name);
            }
            return Ok(Report::new(if cx.removal_allowed {
                Outcome::Removed
            } else {
                Outcome::RemovalRefused
            }));
        }
        let mut answer = match state.script.get_mut(name).and_then(VecDeque::pop_front) {
            Some(answer) => answer,
            None => Ok(state.standing.get(name).cloned().unwrap_or_else(ready)),
        };
        if let Ok(report) = &mut answer
            && state.acknowledge
        {
            for token in cx.requests {
                report.published.insert(done_key(token), "ok".into());
            }
        }
        answer
    }

    fn error_policy(&self, error: &FakeError, _retries: u32) -> ErrorAction {
        match error {
            FakeError::Transient => ErrorAction::Retry,
            FakeError::Permanent => ErrorAction::Stall,
            FakeError::NotYet => ErrorAction::WaitFor(Duration::from_secs(7)),
        }
    }
}

fn state(name: &str) -> DesiredState {
    DesiredState {
        inactive_services: Default::default(),
        name: name.into(),
        services: BTreeMap::new(),
        networks: BTreeMap::new(),
        volumes: BTreeMap::new(),
        secrets: BTreeMap::new(),
        configs: BTreeMap::new(),
        proxy: None,
        routes: BTreeMap::new(),
    }
}

fn options() -> Options {
    Options {
        workers: 2,
        resync: Duration::from_secs(30),
        allow_mass_removal: false,
        backoff: BackoffPolicy {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
            jitter: 0.0,
        },
    }
}

/// A controller of `registry` with its workers running.
fn start(registry: Registry) -> Arc<Controller> {
    let controller = Controller::new(registry, None, options());
    let workers = controller.clone();
    tokio::spawn(async move { workers.run_workers().await });
    controller
}

fn alpha(name: &str) -> ObjectRef {
    ObjectRef::new("alpha", name)
}

/// Waits (on the paused clock) until `key`'s status satisfies `f`.
async fn wait_for(
    c: &Controller,
    key: &ObjectRef,
    f: impl Fn(&ResourceStatus) -> bool,
) -> ResourceStatus {
    let mut rx = c.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    loop {
        if let Some(s) = c.statuses().get(&key.to_string())
            && f(s)
        {
            return s.clone();
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {}
            _ => panic!(
                "{key} never got there; status: {:?}",
                c.statuses().get(&key.to_string())
            ),
        }
    }
}

/// Forces a pass over `key` and returns its status afterwards.
async fn pass(c: &Controller, key: &ObjectRef) -> ResourceStatus {
    let (done, items) = c
        .reconcile_now(std::slice::from_ref(key), Duration::from_secs(60))
        .await;
    assert!(done, "the pass over {key} finished");
    items.into_iter().next().expect("a status")
}

#[tokio::test(start_paused = true)]
async fn phases_follow_the_outcome_and_progressing_is_looked_at_again() {
    let (kind, h) = fake::<Alpha>();
    h.set_desired(&[("a", "h1", vec![])]);
    h.push(
        "a",
        Ok(Report::new(Outcome::Progressing {
            reason: "starting".into(),
            retry_after: Duration::from_secs(5),
        })),
    );
    let c = start(Registry::new().with(kind));
    c.set_desired(state("p")).await.unwrap();
    let s = wait_for(&c, &alpha("a"), |s| s.phase == Phase::Progressing).await;
    assert_eq!(s.message, "starting");
    assert_eq!((s.kind.as_str(), s.name.as_str()), ("alpha", "a"));
    // No trigger: the runtime itself looks again after `retry_after`.
    let s = wait_for(&c, &alpha("a"), |s| s.phase == Phase::Ready).await;
    assert_eq!(s.message, "running");
    assert!(c.converged());
    assert_eq!(h.calls("a").len(), 2);

    h.push(
        "a",
        Ok(Report::new(Outcome::Degraded {
            reason: "unwell".into(),
        })),
    );
    let s = pass(&c, &alpha("a")).await;
    assert_eq!((s.phase, s.message.as_str()), (Phase::Degraded, "unwell"));
    assert!(!c.converged());
    // Degraded is looked at again after the resync interval.
    let s = wait_for(&c, &alpha("a"), |s| s.phase == Phase::Ready).await;
    assert_eq!(s.retries, 0);

    h.push("a", Err(FakeError::NotYet));
    let s = pass(&c, &alpha("a")).await;
    assert_eq!(s.phase, Phase::Progressing);
    assert!(
        s.message.starts_with("waiting 7.0s: not yet"),
        "{}",
        s.message
    );
    assert_eq!(s.retries, 0, "waiting is not a retry");
    wait_for(&c, &alpha("a"), |s| s.phase == Phase::Ready).await;
}

#[tokio::test(start_paused = true)]
async fn a_stalled_object_waits_for_its_spec_to_change() {
    let (kind, h) = fake::<Alpha>();
    h.set_desired(&[("a", "h1", vec![])]);
    h.push("a", Err(FakeError::Permanent));
    let c = start(Registry::new().with(kind));
    c.set_desired(state("p")).await.unwrap();
    let s = wait_for(&c, &alpha("a"), |s| s.phase == Phase::Stalled).await;
    assert!(s.message.contains("not retried until the spec changes"));
    assert_eq!(s.last_error.as_deref(), Some("permanent failure"));
    let calls = h.calls("a").len();
    // Triggers (events, resyncs) leave it alone...
    c.trigger(&alpha("a"));
    c.trigger_all();
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(h.calls("a").len(), calls, "a stalled object is not retried");
    // ...until its spec changes.
    h.set_desired(&[("a", "h2", vec![])]);
    c.set_desired(state("p")).await.unwrap();
    let s = wait_for(&c, &alpha("a"), |s| s.phase == Phase::Ready).await;
    assert_eq!(s.last_error, None);
    assert_eq!(h.calls("a").len(), calls + 1);
}

#[tokio::test(start_paused = true)]
async fn backoff_grows_and_resets_after_a_success() {
    let (kind, h) = fake::<Alpha>();
    h.set_desired(&[("a", "h1", vec![])]);
    for _ in 0..3 {
        h.push("a", Err(FakeError::Transient));
    }
    let c = start(Registry::new().with(kind));
    let started = tokio::time::Instant::now();
    c.set_desired(state("p")).await.unwrap();
    let s = wait_for(&c, &alpha("a"), |s| s.retries == 1).await;
    assert_eq!(s.phase, Phase::Degraded);
    assert!(s.message.starts_with("retry 1 in 1.0s"), "{}", s.message);
    let s = wait_for(&c, &alpha("a"), |s| s.retries == 3).await;
    assert!(s.message.starts_with("retry 3 in 4.0s"), "{}", s.message);
    let s = wait_for(&c, &alpha("a"), |s| s.phase == Phase::Ready).await;
    assert_eq!((s.retries, s.next_retry), (0, None));
    // 1 s + 2 s + 4 s of backoff, on the paused clock.
    assert!(started.elapsed() >= Duration::from_secs(7));
    // A new failure starts from the base delay again.
    h.push("a", Err(FakeError::Transient));
    let s = pass(&c, &alpha("a")).await;
    assert!(s.message.starts_with("retry 1 in 1.0s"), "{}", s.message);
}

#[tokio::test(start_paused = true)]
async fn repairs_count_as_restarts_and_a_removed_object_loses_its_status() {
    let (kind, h) = fake::<Alpha>();
    h.set_desired(&[("a", "h1", vec![]), ("b", "h1", vec![])]);
    h.set_owned(&["a", "b"]);
    let c = start(Registry::new().with(kind));
    c.set_desired(state("p")).await.unwrap();
    wait_for(&c, &alpha("a"), |s| s.phase == Phase::Ready).await;
    let mut repaired = ready();
    repaired.repaired = true;
    repaired.applied = true;
    repaired.actions.push(Action {
        reason: "Started",
        warning: false,
        description: "start alpha/a".into(),
    });
    h.push("a", Ok(repaired.clone()));
    h.push("a", Ok(repaired));
    assert_eq!(pass(&c, &alpha("a")).await.restarts, 1);
    assert_eq!(pass(&c, &alpha("a")).await.restarts, 2);
    assert_eq!(
        pass(&c, &alpha("a")).await.restarts,
        2,
        "a pass that repairs nothing"
    );
    assert!(
        c.metrics_text()
            .contains(r#"holdfast_resource_ready{kind="alpha",name="b",project="p"} 1"#)
    );

    // `b` leaves the file: it is removed, and its status and metric series go with it.
    h.set_desired(&[("a", "h1", vec![])]);
    let accepted = c.set_desired(state("p")).await.unwrap();
    assert_eq!(accepted.removals, vec![alpha("b")]);
    assert!(!accepted.removal_refused);
    let mut rx = c.subscribe();
    while c.statuses().contains_key("alpha/b") {
        tokio::time::timeout(Duration::from_secs(60), rx.changed())
            .await
            .unwrap()
            .unwrap();
    }
    assert!(c.wait_converged(Duration::from_secs(60)).await);
    assert!(!c.metrics_text().contains(r#"name="b""#));
}

#[tokio::test(start_paused = true)]
async fn the_mass_removal_guard_counts_per_kind() {
    let (a, ha) = fake::<Alpha>();
    let (b, hb) = fake::<Beta>();
    // alpha loses one of four objects: allowed. beta loses its only one: refused.
    ha.set_desired(&[
        ("a1", "h", vec![]),
        ("a2", "h", vec![]),
        ("a3", "h", vec![]),
    ]);
    ha.set_owned(&["a1", "a2", "a3", "a4"]);
    hb.set_desired(&[]);
    hb.set_owned(&["b1"]);
    let c = start(Registry::new().with(a).with(b));
    let accepted = c.set_desired(state("p")).await.unwrap();
    assert!(accepted.removal_refused);
    assert!(accepted.removals.contains(&alpha("a4")));
    assert!(accepted.removals.contains(&ObjectRef::new("beta", "b1")));
    let b1 = ObjectRef::new("beta", "b1");
    let s = wait_for(&c, &b1, |s| s.phase == Phase::Stalled).await;
    assert_eq!(
        s.message,
        "removed from the file; kept by the mass-removal guard"
    );
    wait_for(&c, &alpha("a1"), |s| s.phase == Phase::Ready).await;
    let mut rx = c.subscribe();
    while c.statuses().contains_key("alpha/a4") || h_calls_empty(&ha, "a4") {
        tokio::time::timeout(Duration::from_secs(60), rx.changed())
            .await
            .unwrap()
            .unwrap();
    }
    assert!(ha.calls("a4").iter().all(|c| c.removal_allowed));
    assert!(hb.calls("b1").iter().all(|c| !c.removal_allowed));
    assert!(lock(&hb.0).owned.iter().any(|o| o.name == "b1"), "kept");
}

fn h_calls_empty(h: &Handle, name: &str) -> bool {
    h.calls(name).is_empty()
}

#[tokio::test(start_paused = true)]
async fn an_object_waits_for_what_it_needs_and_is_queued_when_that_changes() {
    let (kind, h) = fake::<Alpha>();
    let db = alpha("db");
    h.set_desired(&[
        ("api", "h", vec![Need::Ready(db.clone())]),
        (
            "web",
            "h",
            vec![Need::Published {
                of: db.clone(),
                key: "endpoint".into(),
            }],
        ),
        ("db", "h", vec![]),
    ]);
    // db starts Progressing for a long while, publishing nothing.
    h.push(
        "db",
        Ok(Report::new(Outcome::Progressing {
            reason: "starting".into(),
            retry_after: Duration::from_secs(3600),
        })),
    );
    h.standing(
        "api",
        Report::new(Outcome::Progressing {
            reason: "gated".into(),
            retry_after: Duration::from_secs(3600),
        }),
    );
    let c = start(Registry::new().with(kind));
    c.set_desired(state("p")).await.unwrap();
    wait_for(&c, &db, |s| s.phase == Phase::Progressing).await;
    wait_for(&c, &alpha("api"), |_| true).await;
    wait_for(&c, &alpha("web"), |_| true).await;
    let first = h.calls("api").last().cloned().unwrap();
    assert_eq!(
        first.waiting_for.as_deref(),
        Some("waiting for alpha/db to be Ready")
    );
    assert_eq!(
        h.calls("web").last().unwrap().waiting_for.as_deref(),
        Some("waiting for alpha/db to be endpoint")
    );

    // db turns Ready and publishes its endpoint: both dependents are queued by the
    // runtime (no trigger, no resync: their own retry is an hour away).
    let mut up = ready();
    up.published
        .insert("endpoint".into(), "127.0.0.1:8080".into());
    h.standing("db", up);
    h.standing("api", ready());
    let api_calls = h.calls("api").len();
    pass(&c, &db).await;
    wait_for(&c, &alpha("api"), |s| s.phase == Phase::Ready).await;
    wait_for(&c, &alpha("web"), |s| s.phase == Phase::Ready).await;
    assert!(h.calls("api").len() > api_calls);
    assert_eq!(h.calls("api").last().unwrap().waiting_for, None);
    assert_eq!(h.calls("web").last().unwrap().waiting_for, None);
    let published = c.statuses()["alpha/db"].published.clone();
    assert_eq!(
        published.get("endpoint").map(String::as_str),
        Some("127.0.0.1:8080")
    );

    // A pass of db that changes nothing it publishes does not queue its dependents.
    let before = h.calls("web").len();
    pass(&c, &db).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(h.calls("web").len(), before);
}

#[tokio::test(start_paused = true)]
async fn a_request_is_asked_of_the_other_object_and_waited_for() {
    let (kind, h) = fake::<Alpha>();
    let backup = alpha("backup");
    h.set_desired(&[
        (
            "app",
            "h",
            vec![Need::Done {
                of: backup.clone(),
                token: "spec-2".into(),
            }],
        ),
        ("backup", "h", vec![]),
    ]);
    let c = start(Registry::new().with(kind));
    c.set_desired(state("p")).await.unwrap();
    // The backup does not acknowledge yet: the app waits, and the backup saw the token.
    wait_for(&c, &alpha("app"), |_| true).await;
    wait_for(&c, &backup, |_| true).await;
    assert_eq!(
        h.calls("app").first().unwrap().waiting_for.as_deref(),
        Some("waiting for alpha/backup to acknowledge spec-2")
    );
    let saw = |h: &Handle| {
        h.calls("backup")
            .iter()
            .any(|c| c.requests == vec!["spec-2".to_string()])
    };
    let mut rx = c.subscribe();
    while !saw(&h) {
        tokio::time::timeout(Duration::from_secs(60), rx.changed())
            .await
            .unwrap()
            .unwrap();
    }
    // Once it acknowledges, the app is queued again and no longer waits.
    h.acknowledge();
    pass(&c, &backup).await;
    let mut rx = c.subscribe();
    while h.calls("app").last().unwrap().waiting_for.is_some() {
        tokio::time::timeout(Duration::from_secs(60), rx.changed())
            .await
            .unwrap()
            .unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn keys_of_two_kinds_with_one_name_do_not_collide() {
    let (a, ha) = fake::<Alpha>();
    let (b, hb) = fake::<Beta>();
    ha.set_desired(&[("web", "h", vec![])]);
    hb.set_desired(&[("web", "h", vec![])]);
    hb.push("web", Err(FakeError::Permanent));
    let c = start(Registry::new().with(a).with(b));
    c.set_desired(state("p")).await.unwrap();
    wait_for(&c, &alpha("web"), |s| s.phase == Phase::Ready).await;
    wait_for(&c, &ObjectRef::new("beta", "web"), |s| {
        s.phase == Phase::Stalled
    })
    .await;
    assert_eq!(c.statuses().len(), 2);
    assert!(!c.converged());
    assert!(
        c.metrics_text()
            .contains(r#"holdfast_reconciles_total{kind="beta",result="stalled"} 1"#)
    );
}

#[tokio::test(start_paused = true)]
async fn plan_mode_changes_nothing_and_needs_no_controller() {
    let (kind, h) = fake::<Alpha>();
    h.set_desired(&[("a", "h", vec![])]);
    h.set_owned(&["a", "gone"]);
    let registry = Registry::new().with(kind);
    let planned = super::planning::plan(&registry, &state("p"), false).await;
    let keys: Vec<String> = planned.iter().map(|p| p.key.to_string()).collect();
    assert_eq!(keys, vec!["alpha/a", "alpha/gone"]);
    // Removing one of two is half: allowed, so the plan says it would be removed.
    assert!(matches!(
        planned[1].result.as_ref().map(|r| r.outcome.clone()),
        Ok(Outcome::Removed)
    ));
    assert_eq!(lock(&h.0).owned.len(), 2, "plan mode removed nothing");
}

#[tokio::test]
async fn a_status_is_stored_only_when_it_changes() {
    let (kind, h) = fake::<Alpha>();
    h.set_desired(&[("a", "h", vec![])]);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(super::store::Store::open(dir.path()).unwrap());
    let c = Controller::new(Registry::new().with(kind), Some(store.clone()), options());
    let workers = c.clone();
    tokio::spawn(async move { workers.run_workers().await });
    c.set_desired(state("p")).await.unwrap();
    let first = pass(&c, &alpha("a")).await;
    let stored = || store.status("p", "alpha/a").unwrap().unwrap();
    assert_eq!(stored(), first);
    // Passes that find everything as it was: only `observed_at` moves, in memory.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let again = pass(&c, &alpha("a")).await;
        assert!(again.observed_at > first.observed_at);
        assert_eq!(stored().observed_at, first.observed_at, "written again");
    }
    // A change is written.
    h.push(
        "a",
        Ok(Report::new(Outcome::Degraded {
            reason: "unwell".into(),
        })),
    );
    let changed = pass(&c, &alpha("a")).await;
    assert_eq!(stored(), changed);
    c.shutdown();
}
