//! A second kind, registered only here, goes through the same runtime as services and
//! shows up in `holdfast get`, `describe`, `events` and `/metrics`, with its own
//! columns. No Docker: the kind keeps its "host" in memory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use holdfast::api::AppState;
use holdfast::api::client::Client;
use holdfast::runtime::controller::{Controller, Options};
use holdfast::runtime::kind::{
    Action, Column, Cx, DesiredObject, FieldDrift, Kind, Mode, Outcome, Owned, Report, Show,
};
use holdfast::runtime::registry::Registry;
use holdfast::runtime::store::Store;
use holdfast_spec::DesiredState;
use holdfast_testkit::output_within;

/// A widget per service of the file, painted the colour of its `WIDGET_COLOUR`
/// environment variable (default `blue`). The "host" is a map in memory, which the
/// test can repaint by hand to make drift.
#[derive(Clone, Default)]
struct Widgets {
    host: Arc<Mutex<BTreeMap<String, String>>>,
}

fn colour(state: &DesiredState, name: &str) -> Option<String> {
    let service = state.services.get(name)?;
    Some(
        service
            .environment
            .get("WIDGET_COLOUR")
            .cloned()
            .unwrap_or_else(|| "blue".into()),
    )
}

#[derive(Debug, thiserror::Error)]
#[error("widgets never fail")]
struct Never;

impl Kind for Widgets {
    const KIND: &'static str = "widget";
    const ALIASES: &'static [&'static str] = &["widgets", "wd"];
    type Error = Never;

    fn desired(&self, state: &DesiredState) -> Vec<DesiredObject> {
        state
            .services
            .keys()
            .map(|name| {
                let colour = colour(state, name).unwrap_or_default();
                DesiredObject {
                    name: name.clone(),
                    hash: colour.clone(),
                    spec: serde_json::json!({ "colour": colour }),
                    needs: Vec::new(),
                }
            })
            .collect()
    }

    async fn owned(&self, _project: &str) -> Result<Vec<Owned>, Never> {
        Ok(self
            .host
            .lock()
            .unwrap()
            .keys()
            .map(|name| Owned {
                name: name.clone(),
                weight: 1,
            })
            .collect())
    }

    async fn reconcile(&self, name: &str, cx: &Cx<'_>) -> Result<Report, Never> {
        let mut host = self.host.lock().unwrap();
        let live = host.get(name).cloned();
        let Some(want) = colour(cx.state, name) else {
            if cx.mode == Mode::Apply && cx.removal_allowed {
                host.remove(name);
            }
            return Ok(Report::new(Outcome::Removed));
        };
        let mut report = Report::new(Outcome::Ready);
        report.spec_hash = Some(want.clone());
        report.columns.insert("COLOUR".into(), want.clone());
        if live.as_deref() != Some(want.as_str()) {
            if let Some(have) = &live {
                report.drift.push(FieldDrift {
                    field: "colour".into(),
                    desired: want.clone(),
                    live: have.clone(),
                });
                report.drifted = true;
                report.repaired = cx.mode == Mode::Apply;
            }
            report.actions.push(Action {
                reason: "Painted",
                warning: false,
                description: format!("paint widget/{name} {want}"),
            });
            if cx.mode == Mode::Apply {
                host.insert(name.to_string(), want);
                report.applied = true;
            }
        }
        Ok(report)
    }

    fn columns(&self) -> &'static [Column] {
        &[Column {
            name: "COLOUR",
            show: Show::Table,
        }]
    }
}

const FILE: &str = r#"name: widgets-test
services:
  a:
    image: nothing:1
    environment:
      WIDGET_COLOUR: red
  b:
    image: nothing:1
"#;

fn cli(socket: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_holdfast"));
    cmd.args(args).arg("--socket").arg(socket);
    output_within(&mut cmd, Duration::from_secs(30))
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn run_cli(socket: &Path, args: &[&str]) -> Output {
    let socket: PathBuf = socket.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cli(&socket, &args)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kind_registered_in_a_test_is_reconciled_and_shown_like_services() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("holdfast.yaml");
    std::fs::write(&file, FILE).unwrap();
    let state = holdfast_spec::load_file(&file, &holdfast_spec::LoadOptions::default())
        .unwrap()
        .state;
    let store = Arc::new(Store::open(&dir.path().join("state")).unwrap());
    let widgets = Widgets::default();
    let controller = Controller::new(
        Registry::new().with(widgets.clone()),
        Some(store),
        Options::default(),
    );
    let socket = dir.path().join("holdfast.sock");
    let listener = holdfast::api::server::bind(&socket).unwrap();
    let api = tokio::spawn(holdfast::api::server::serve(
        listener,
        AppState::new(
            controller.clone(),
            holdfast::source::file::FileSource::new(&file, controller.clone()),
        ),
    ));
    let workers = {
        let c = controller.clone();
        tokio::spawn(async move { c.run_workers().await })
    };
    controller.set_desired(state).await.unwrap();
    assert!(controller.wait_converged(Duration::from_secs(10)).await);
    assert_eq!(
        widgets.host.lock().unwrap().clone(),
        BTreeMap::from([("a".into(), "red".into()), ("b".into(), "blue".into())])
    );

    // get: the kind's own column, and filtering by the kind and its aliases.
    let table = stdout(&run_cli(&socket, &["get"]).await);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].split_whitespace().eq([
            "NAME", "READY", "STATUS", "RESTARTS", "AGE", "COLOUR", "MESSAGE"
        ]),
        "{table}"
    );
    assert!(
        lines[1].split_whitespace().eq([
            "widget/a",
            "1/1",
            "Ready",
            "0",
            lines[1].split_whitespace().nth(4).unwrap(),
            "red",
            "running"
        ]),
        "{table}"
    );
    for what in ["widget", "widgets", "wd", "all"] {
        assert_eq!(
            stdout(&run_cli(&socket, &["get", what]).await),
            table,
            "get {what}"
        );
    }
    let unknown = run_cli(&socket, &["get", "services"]).await;
    assert_eq!(unknown.status.code(), Some(2));
    let message = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        message.contains("unknown kind `services`; known kinds: widget, source, all"),
        "{message}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&run_cli(&socket, &["get", "-o", "json"]).await.stdout).unwrap();
    assert_eq!(json[0]["kind"], "widget");
    assert_eq!(json[0]["name"], "a");
    assert_eq!(json[0]["columns"]["COLOUR"], "red");

    // Drift made by hand is found on a forced pass, corrected, and counted as a repair.
    widgets
        .host
        .lock()
        .unwrap()
        .insert("a".into(), "green".into());
    let forced = run_cli(&socket, &["reconcile", "wd/a"]).await;
    assert!(forced.status.success(), "{}", stdout(&forced));
    assert_eq!(widgets.host.lock().unwrap()["a"], "red");
    let describe = stdout(&run_cli(&socket, &["describe", "widgets/a"]).await);
    for needle in [
        "Name:         widget/a",
        "Phase:        Ready",
        "Colour:       red",
        "Restarts:     1",
        "colour: red",
        "DriftDetected",
        "DriftCorrected",
        "Painted",
    ] {
        assert!(describe.contains(needle), "no `{needle}` in:\n{describe}");
    }
    let events = stdout(&run_cli(&socket, &["events", "--for", "wd/a"]).await);
    assert!(
        events.contains("Painted") && events.contains("widget/a"),
        "{events}"
    );
    assert!(events.contains("colour: want red, have green"), "{events}");
    assert!(!events.contains("widget/b"), "{events}");

    // Suspended, it is observed but left alone.
    assert!(
        run_cli(&socket, &["suspend", "widget/b"])
            .await
            .status
            .success()
    );
    widgets
        .host
        .lock()
        .unwrap()
        .insert("b".into(), "pink".into());
    let forced = run_cli(&socket, &["reconcile", "widget/b"]).await;
    assert!(stdout(&forced).contains("Suspended"), "{}", stdout(&forced));
    assert_eq!(widgets.host.lock().unwrap()["b"], "pink");
    assert!(
        run_cli(&socket, &["resume", "widget/b"])
            .await
            .status
            .success()
    );
    let mut rx = controller.subscribe();
    while widgets.host.lock().unwrap()["b"] != "blue" {
        tokio::time::timeout(Duration::from_secs(10), rx.changed())
            .await
            .unwrap()
            .unwrap();
    }

    // A pass begun now comes after the one that repainted `b`, which is then recorded.
    assert!(
        run_cli(&socket, &["reconcile", "widget/b"])
            .await
            .status
            .success()
    );

    // /metrics carries the kind: two corrections, `a` and `b`.
    let metrics = Client::new(&socket).metrics().await.unwrap();
    for needle in [
        r#"holdfast_resource_ready{kind="widget",name="a",project="widgets-test"} 1"#,
        r#"holdfast_drift_corrections_total{kind="widget"} 2"#,
        r#"holdfast_reconciles_total{kind="widget",result="ready"}"#,
    ] {
        assert!(metrics.contains(needle), "no `{needle}` in:\n{metrics}");
    }
    assert!(
        !metrics.contains(r#"kind="service""#),
        "only registered kinds"
    );

    controller.shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(5), workers).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), api).await;
}
