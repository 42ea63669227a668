//! The status API and the kubectl-like commands against a live controller on the real
//! engine: `get`, `describe`, `events`, `reconcile`, `suspend`/`resume`, the socket's
//! mode, and the message when no controller runs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{cli, holdfast, http_get, id_of, metric, start_controller};
use holdfast_testkit::{TestProject, busybox_image, docker_ok, wait_until};

const FILE: &str = r#"
name: "{{project}}"
services:
  app:
    image: "{{image}}"
    command: ["sleep", "3600"]
    init: true
    environment: {MODE: test}
  worker:
    image: "{{image}}"
    command: ["sleep", "3600"]
    init: true
"#;

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn statuses(p: &TestProject) -> Vec<serde_json::Value> {
    let out = cli(p, &["get", "-o", "json"]);
    if !out.status.success() {
        return Vec::new();
    }
    serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).unwrap_or_default()
}

fn all_ready(p: &TestProject, n: usize) -> bool {
    let s = statuses(p);
    s.len() == n && s.iter().all(|s| s["phase"] == "Ready")
}

#[test]
fn get_describe_events_reconcile_suspend_resume() {
    busybox_image();
    let p = TestProject::new("api-cli");
    p.write(FILE);
    let mut controller = start_controller(&p, &[]);
    assert!(
        wait_until(Duration::from_secs(30), || all_ready(&p, 2)).is_some(),
        "not ready: {}",
        controller.log()
    );

    // The socket is group-accessible, not world-accessible.
    let mode = std::fs::metadata(p.dir.join("holdfast.sock"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o660);

    let out = cli(&p, &["get"]);
    assert!(out.status.success());
    let table = text(&out);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "MESSAGE"]
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert_eq!(
        &rows[0][..4],
        ["service/app", "1/1", "Ready", "0"],
        "{table}"
    );
    assert_eq!(
        &rows[1][..4],
        ["service/worker", "1/1", "Ready", "0"],
        "{table}"
    );

    let wide = text(&cli(&p, &["get", "-o", "wide"]));
    assert!(wide.lines().next().unwrap().contains("IMAGE"), "{wide}");
    assert!(wide.contains("holdfast-test/busybox:1"), "{wide}");

    let json = statuses(&p);
    assert_eq!(json[0]["key"], "service/app");
    assert_eq!(
        (&json[0]["kind"], &json[0]["name"]),
        (&"service".into(), &"app".into())
    );
    assert_eq!(
        json[0]["published"]["container"].as_str().unwrap(),
        id_of(&p, "app")
    );

    let describe = text(&cli(&p, &["describe", "service/app"]));
    for needle in [
        "Name:         service/app",
        "Phase:        Ready",
        "Drift:",
        "MODE: test",
        "Events:",
        "Created",
    ] {
        assert!(describe.contains(needle), "no `{needle}` in:\n{describe}");
    }

    let events = text(&cli(&p, &["events", "--for", "service/app"]));
    assert!(events.starts_with("LAST SEEN"), "{events}");
    assert!(
        events.contains("Created") && events.contains("service/app"),
        "{events}"
    );
    assert!(!events.contains("service/worker"), "{events}");

    let out = cli(&p, &["reconcile", "service/app", "--timeout", "20s"]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out),
        String::from_utf8_lossy(&out.stderr)
    );

    // Suspended: a stopped container stays stopped, and is reported.
    assert!(cli(&p, &["suspend", "service/app"]).status.success());
    let id = id_of(&p, "app");
    docker_ok(&["stop", "-t", "1", &id]);
    // A pass begun after the stop (the reconcile waits for it) leaves it stopped.
    let forced = cli(&p, &["reconcile", "service/app", "--timeout", "20s"]);
    assert!(text(&forced).contains("Suspended"), "{}", text(&forced));
    assert_eq!(
        docker_ok(&["inspect", "-f", "{{.State.Running}}", &id]),
        "false",
        "a suspended service was changed"
    );
    assert!(text(&cli(&p, &["get"])).contains("Suspended"));

    // Resumed: it is put back.
    assert!(cli(&p, &["resume", "service/app"]).status.success());
    assert!(
        wait_until(Duration::from_secs(10), || docker_ok(&[
            "inspect",
            "-f",
            "{{.State.Running}}",
            &id
        ]) == "true")
        .is_some(),
        "not started after resume: {}",
        controller.log()
    );
    assert!(controller.terminate(Duration::from_secs(20)).success());
}

#[test]
fn watch_shows_a_chaos_action() {
    busybox_image();
    let p = TestProject::new("api-watch");
    p.write(FILE);
    let mut controller = start_controller(&p, &[]);
    assert!(
        wait_until(Duration::from_secs(30), || all_ready(&p, 2)).is_some(),
        "{}",
        controller.log()
    );

    let log = p.dir.join("watch.out");
    let mut watch = holdfast(&p)
        .args(["get", "-w", "--socket"])
        .arg(p.dir.join("holdfast.sock"))
        .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
            >= 3)
        .is_some()
    );
    let before = std::fs::read_to_string(&log).unwrap().lines().count();
    docker_ok(&["kill", &id_of(&p, "worker")]);
    let seen = wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .skip(before)
            .any(|l| l.starts_with("service/worker"))
    });
    let _ = watch.kill();
    let _ = watch.wait();
    // How fast is the benchmark's business (docs/benchmarks.md); a timed assertion
    // here would only measure the machine's load.
    assert!(
        seen.is_some(),
        "no change shown:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(controller.terminate(Duration::from_secs(20)).success());
}

#[test]
fn commands_say_clearly_when_no_controller_runs() {
    let dir = std::env::temp_dir().join(format!("hf-nosock-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_holdfast"))
        .args(["get", "--socket"])
        .arg(dir.join("none.sock"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no holdfast controller is running at"),
        "{err}"
    );
    assert!(err.contains("holdfast run"), "{err}");
}

/// `holdfast_drift_corrections_total`, over all its labels.
fn drift_corrections(p: &TestProject) -> f64 {
    metric(p, "holdfast_drift_corrections_total", None)
}

#[test]
fn health_endpoints_and_metrics_that_parse_and_count_drift() {
    busybox_image();
    let p = TestProject::new("api-metrics");
    p.write(FILE);
    let mut controller = start_controller(&p, &[]);
    assert!(
        wait_until(Duration::from_secs(30), || all_ready(&p, 2)).is_some(),
        "{}",
        controller.log()
    );
    assert_eq!(http_get(&p, "/healthz").0, 200);
    assert_eq!(http_get(&p, "/readyz").0, 200);

    let (status, body) = http_get(&p, "/metrics");
    assert_eq!(status, 200);
    for name in [
        "holdfast_reconciles_total",
        "holdfast_reconcile_duration_seconds",
        "holdfast_resource_ready",
        "holdfast_resources_drifting",
        "holdfast_drift_corrections_total",
        "holdfast_work_queue_depth",
        "holdfast_retries_scheduled_total",
        "holdfast_build_info",
    ] {
        assert!(body.contains(name), "no {name} in:\n{body}");
    }
    let before = drift_corrections(&p);
    // A change by hand: the container is stopped; holdfast notices and corrects it.
    docker_ok(&["stop", "-t", "1", &id_of(&p, "app")]);
    assert!(
        wait_until(Duration::from_secs(10), || drift_corrections(&p) > before).is_some(),
        "the drift metric did not rise:\n{}",
        http_get(&p, "/metrics").1
    );
    assert!(controller.terminate(Duration::from_secs(20)).success());
}

fn tcp_get(addr: &str, path: &str, auth: Option<&str>) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let header = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: holdfast\r\n{header}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    raw.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn tcp_api_needs_the_bearer_token() {
    busybox_image();
    let p = TestProject::new("api-tcp");
    p.write(FILE);
    let token = p.write_file("token", "s3cret-token-for-test\n");
    let mut controller = start_controller(
        &p,
        &[
            "--listen-tcp",
            "127.0.0.1:0",
            "--token-file",
            token.to_str().unwrap(),
        ],
    );
    assert!(
        controller.wait_for_log("API listening on TCP", Duration::from_secs(20)),
        "{}",
        controller.log()
    );
    let log = controller.log();
    let addr = log
        .lines()
        .find(|l| l.contains("API listening on TCP"))
        .and_then(|l| l.split("address=").nth(1))
        .map(|a| {
            a.split_whitespace()
                .next()
                .unwrap_or("")
                .trim_matches('"')
                .to_string()
        })
        .unwrap();
    assert_eq!(tcp_get(&addr, "/v1/resources", None), 401);
    assert_eq!(tcp_get(&addr, "/v1/resources", Some("Bearer wrong")), 401);
    assert_eq!(
        tcp_get(&addr, "/metrics", Some("Bearer s3cret-token-for-tes")),
        401
    );
    assert_eq!(
        tcp_get(&addr, "/v1/resources", Some("Bearer s3cret-token-for-test")),
        200
    );
    assert!(!log.contains("s3cret"), "the token leaked into the log");
    assert!(controller.terminate(Duration::from_secs(20)).success());
}

#[test]
fn trace_logs_and_completion() {
    busybox_image();
    let p = TestProject::new("api-trace");
    p.write(
        r#"
name: "{{project}}"
services:
  app:
    image: "{{image}}"
    command: ["sh", "-c", "echo hello-from-app; echo oops >&2; exec sleep 3600"]
    init: true
"#,
    );
    let mut controller = start_controller(&p, &[]);
    assert!(
        wait_until(Duration::from_secs(30), || all_ready(&p, 1)).is_some(),
        "{}",
        controller.log()
    );
    let id = id_of(&p, "app");

    let out = cli(&p, &["trace", &id]);
    assert!(out.status.success());
    let t = text(&out);
    assert!(t.contains(&format!("Project:    {}", p.name)), "{t}");
    assert!(t.contains("Service:    service/app"), "{t}");
    assert!(
        t.contains(&format!("File:       {}", p.file().display())),
        "{t}"
    );
    assert!(t.contains("matches the desired state in force"), "{t}");
    let foreign = cli(&p, &["trace", "no-such-container-hf"]);
    assert_eq!(foreign.status.code(), Some(2));

    let out = cli(&p, &["logs", "service/app", "--tail", "10"]);
    assert!(out.status.success());
    assert!(text(&out).contains("hello-from-app"), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("oops"));

    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(env!("CARGO_BIN_EXE_holdfast"))
            .args(["completion", shell])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(text(&out).contains("holdfast"), "{shell}");
    }
    assert!(controller.terminate(Duration::from_secs(20)).success());
}

/// Snapshots of every read command's output against a live controller. Values that
/// change from run to run (ages, IDs, hashes, times, the project name) are masked, and
/// runs of spaces folded (column widths follow the masked values; alignment itself is
/// unit-tested).
#[test]
fn command_output_snapshots() {
    busybox_image();
    let p = TestProject::new("api-snap");
    p.write(
        r#"
name: "{{project}}"
services:
  app:
    image: "{{image}}"
    command: ["sleep", "3600"]
    init: true
    environment: {MODE: snapshot, API_TOKEN: not-shown-anywhere}
    labels: {team: web}
"#,
    );
    let mut controller = start_controller(&p, &[]);
    assert!(
        wait_until(Duration::from_secs(30), || all_ready(&p, 1)).is_some(),
        "{}",
        controller.log()
    );
    // Every event of the first pass is recorded before the snapshots are taken.
    assert!(
        wait_until(Duration::from_secs(10), || text(&cli(&p, &["events"]))
            .contains("Created"))
        .is_some()
    );

    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&p.name, "[project]");
    settings.add_filter(r"[0-9a-f]{64}", "[hash]");
    settings.add_filter(r"\b[0-9a-f]{12}\b", "[id]");
    settings.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "[time]");
    settings.add_filter(r#""(observed_at|since|time_ms|seq)": ?\d+"#, r#""$1": [n]"#);
    settings.add_filter(r"\b(observed_at|since|time_ms|seq): \d+", "$1: [n]");
    settings.add_filter(r"\b\d+[smhd]\b", "[age]");
    settings.add_filter(r"/tmp/\[project\]", "[dir]");
    settings.add_filter(r" {2,}", "  ");
    settings.bind(|| {
        for (name, args) in [
            ("get", vec!["get"]),
            ("get_wide", vec!["get", "-o", "wide"]),
            ("get_json", vec!["get", "-o", "json"]),
            ("get_yaml", vec!["get", "-o", "yaml"]),
            ("describe", vec!["describe", "service/app"]),
            ("events", vec!["events"]),
            ("events_json", vec!["events", "-o", "json"]),
        ] {
            let out = cli(&p, &args);
            assert!(
                out.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let output = text(&out);
            assert!(
                !output.contains("not-shown-anywhere"),
                "{name} shows a secret-looking value"
            );
            insta::assert_snapshot!(name, output);
        }
    });
    assert!(controller.terminate(Duration::from_secs(20)).success());
}

#[test]
fn diff_endpoint_reports_drift_the_daemon_sees() {
    busybox_image();
    let p = TestProject::new("api-diff");
    p.write(FILE);
    let mut controller = start_controller(&p, &["--resync", "1h"]);
    assert!(
        wait_until(Duration::from_secs(30), || all_ready(&p, 2)).is_some(),
        "{}",
        controller.log()
    );
    let (status, body) = http_get(&p, "/v1/diff");
    assert_eq!(status, 200);
    let list: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{body}");
    assert!(
        items
            .iter()
            .all(|i| i["diff"].is_null() && i["error"].is_null()),
        "{body}"
    );
    assert!(controller.terminate(Duration::from_secs(20)).success());
}
