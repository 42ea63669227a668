//! The git source end to end, on the real engine: `holdfast run --git URL` against
//! repositories served on loopback (`git daemon`, smart HTTP with Basic auth), with
//! polling, webhooks, invalid commits, force-pushes, rollback and resume, the
//! mass-removal guard, a restart while the remote is gone, and credentials that must
//! never show up anywhere.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::process::Output;
use std::time::Duration;

use common::{env_of, holdfast, id_of};
use hmac::{Hmac, Mac};
use holdfast_testkit::git::{GitDaemon, HttpGitServer, Remote};
use holdfast_testkit::{Daemon, TestProject, busybox_image, output_within, wait_until};
use serde_json::Value;
use sha2::Sha256;

/// How long a change may take to converge.
const CONVERGE: Duration = Duration::from_secs(60);

/// The label holdfast puts the commit on.
const REVISION_LABEL: &str = "io.holdfast.revision";

const ALICE: (&str, &str) = ("Alice Example", "alice@example.com");
const BOB: (&str, &str) = ("Bob Builder", "bob@example.com");

const TOKEN: &str = "s3cr3t-TOKEN-value";
const WEBHOOK_SECRET: &str = "hook-secret-for-test";

/// One service `app` (busybox `sleep 3600`) with `MODE=mode`. Line 5 is `command:`.
fn app_file(p: &TestProject, mode: &str) -> String {
    format!(
        r#"name: {name}
services:
  app:
    image: {image}
    command: ["sleep", "3600"]
    init: true
    environment:
      MODE: {mode}
"#,
        name = p.name,
        image = busybox_image(),
    )
}

/// Commits `holdfast.yaml` with `contents` to the remote's default branch.
fn commit(remote: &Remote, contents: &str, message: &str, author: (&str, &str)) -> String {
    remote.commit(&[("holdfast.yaml", contents)], message, author)
}

fn socket(p: &TestProject) -> std::path::PathBuf {
    p.dir.join("holdfast.sock")
}

/// Starts `holdfast run --git URL --state-dir DIR --socket SOCK EXTRA...`, logging to
/// `log` in the project's folder.
fn start_git(p: &TestProject, url: &str, extra: &[&str], log: &str) -> Daemon {
    let mut cmd = holdfast(p);
    cmd.arg("run")
        .arg("--git")
        .arg(url)
        .arg("--state-dir")
        .arg(p.state_dir())
        .arg("--socket")
        .arg(socket(p))
        .args(extra);
    Daemon::spawn(cmd, p.dir.join(log))
}

/// `holdfast ARGS --socket SOCK`, bounded in time.
fn cli(p: &TestProject, args: &[&str]) -> Output {
    let mut cmd = holdfast(p);
    cmd.args(args).arg("--socket").arg(socket(p));
    output_within(&mut cmd, Duration::from_secs(60))
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `holdfast ARGS`, which must exit 0; its stdout.
fn cli_ok(p: &TestProject, args: &[&str]) -> String {
    let out = cli(p, args);
    assert!(
        out.status.success(),
        "holdfast {} exited with {}\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        out.status,
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// `holdfast ARGS -o json` parsed, or `Null` when the command fails (such as before
/// the controller listens).
fn cli_json(p: &TestProject, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend_from_slice(&["-o", "json"]);
    let out = cli(p, &all);
    if !out.status.success() {
        return Value::Null;
    }
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// `holdfast get source -o json`.
fn source(p: &TestProject) -> Value {
    cli_json(p, &["get", "source"])
}

/// `holdfast history -o json`: the entries, oldest first.
fn history(p: &TestProject) -> Vec<Value> {
    cli_json(p, &["history"])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The results of the history entries, oldest first, as `(commit, result)`.
fn results(p: &TestProject) -> Vec<(String, String)> {
    history(p)
        .iter()
        .map(|h| {
            (
                h["commit"]["id"].as_str().unwrap_or_default().to_string(),
                h["result"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The status of `service/NAME` from `holdfast get -o json`.
fn status_of(p: &TestProject, service: &str) -> Value {
    let key = format!("service/{service}");
    cli_json(p, &["get"])
        .as_array()
        .and_then(|all| all.iter().find(|s| s["key"] == key.as_str()).cloned())
        .unwrap_or(Value::Null)
}

/// The `io.holdfast.revision` label of `service`'s container, if it has one container.
fn label_of(p: &TestProject, service: &str) -> Option<String> {
    let c = p.inspect(service)?;
    c["Config"]["Labels"][REVISION_LABEL]
        .as_str()
        .map(str::to_string)
}

/// `MODE` in the environment of `service`'s running container.
fn mode_of(p: &TestProject, service: &str) -> Option<String> {
    let c = p.inspect(service)?;
    if c["State"]["Running"] != true {
        return None;
    }
    env_of(&c).get("MODE").cloned()
}

/// Whether `service` runs with `MODE=mode` from `commit`: Ready with that revision, and
/// one running container labelled with it.
fn converged(p: &TestProject, service: &str, commit: &str, mode: &str) -> bool {
    let s = status_of(p, service);
    s["phase"] == "Ready"
        && s["revision"] == commit
        && label_of(p, service).as_deref() == Some(commit)
        && mode_of(p, service).as_deref() == Some(mode)
}

/// Waits until `app` runs `MODE=mode` from `commit`; panics with the controller's
/// state and log when it does not within [`CONVERGE`]. Returns the container ID.
fn wait_converged(p: &TestProject, controller: &Daemon, commit: &str, mode: &str) -> String {
    if wait_until(CONVERGE, || converged(p, "app", commit, mode)).is_none() {
        panic!(
            "app did not converge to {commit} (MODE={mode}) within {CONVERGE:?}\nstatus: {:#}\nsource: {:#}\nlabel: {:?}, MODE: {:?}\nlog:\n{}",
            status_of(p, "app"),
            source(p),
            label_of(p, "app"),
            mode_of(p, "app"),
            controller.log()
        );
    }
    id_of(p, "app")
}

/// Waits until `check(source)` holds for `holdfast get source -o json`.
fn wait_source(
    p: &TestProject,
    controller: &Daemon,
    what: &str,
    mut check: impl FnMut(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    let ok = wait_until(CONVERGE, || {
        last = source(p);
        check(&last)
    });
    assert!(
        ok.is_some(),
        "the source never showed {what}: {last:#}\nlog:\n{}",
        controller.log()
    );
    last
}

/// `GET path` on the controller's socket: status and body (chunked bodies decoded).
fn http_get(p: &TestProject, path: &str) -> (u16, String) {
    let mut s = std::os::unix::net::UnixStream::connect(socket(p)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: holdfast\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let (status, headers, body) = split_response(&raw);
    let body = if headers.to_ascii_lowercase().contains("chunked") {
        dechunk(&body)
    } else {
        body
    };
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Splits a raw HTTP/1.1 answer into its status, its head and its body.
fn split_response(raw: &[u8]) -> (u16, String, Vec<u8>) {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw.get(end + 4..).unwrap_or_default().to_vec();
    (status, head, body)
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&body[..line_end])
                .split(';')
                .next()
                .unwrap_or("")
                .trim(),
            16,
        )
        .unwrap_or(0);
        body = &body[line_end + 2..];
        if size == 0 || body.len() < size {
            break;
        }
        out.extend_from_slice(&body[..size]);
        body = body.get(size + 2..).unwrap_or_default();
    }
    out
}

/// The value of the metric `name` (summed over its labels matching `label`, if given).
fn metric(p: &TestProject, name: &str, label: Option<(&str, &str)>) -> f64 {
    let (status, body) = http_get(p, "/metrics");
    assert_eq!(status, 200, "{body}");
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string())))
        .expect("the metrics parse as Prometheus text");
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

/// `holdfast events` as a table.
fn events(p: &TestProject) -> String {
    cli_ok(p, &["events"])
}

/// The reasons in `holdfast events`.
fn has_event(p: &TestProject, reason: &str) -> bool {
    events(p)
        .lines()
        .skip(1)
        .any(|l| l.split_whitespace().nth(2) == Some(reason))
}

fn wait_event(p: &TestProject, controller: &Daemon, reason: &str) {
    assert!(
        wait_until(CONVERGE, || has_event(p, reason)).is_some(),
        "no {reason} event:\n{}\nlog:\n{}",
        events(p),
        controller.log()
    );
}

fn short(id: &str) -> &str {
    &id[..7]
}

/// Stops the controller, which must exit cleanly.
fn stop(mut controller: Daemon) {
    let status = controller.terminate(Duration::from_secs(30));
    assert!(status.success(), "{status}\n{}", controller.log());
}

// --- webhooks -------------------------------------------------------------------------

/// The webhook receiver's address, from the log line that announces it.
fn webhook_address(controller: &Daemon) -> String {
    assert!(
        controller.wait_for_log("webhook receiver listening", CONVERGE),
        "the webhook receiver did not start:\n{}",
        controller.log()
    );
    controller
        .log()
        .lines()
        .find(|l| l.contains("webhook receiver listening"))
        .and_then(|l| l.split("address=").nth(1))
        .and_then(|a| a.split_whitespace().next())
        .map(|a| a.trim_matches('"').to_string())
        .unwrap()
}

/// GitHub's `X-Hub-Signature-256` value for `body`.
fn github_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// `POST /v1/webhook` to `addr` with `headers` and `body`; the status code. The body
/// is written on its own thread while the answer is read, so that a server that
/// answers before reading everything (413) does not block the test.
fn post_webhook(addr: &str, headers: &[(&str, &str)], body: &[u8]) -> u16 {
    let stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = format!(
        "POST /v1/webhook HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut writer = stream.try_clone().unwrap();
    let body = body.to_vec();
    let sending = std::thread::spawn(move || {
        // The server may answer and close before reading all of a body it refuses.
        let _ = writer
            .write_all(head.as_bytes())
            .and_then(|()| writer.write_all(&body));
    });
    let mut raw = Vec::new();
    let mut reader = stream;
    let mut buf = [0u8; 4096];
    // Up to the end of the status line is enough; a reset after it does not matter.
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if raw.is_empty() => panic!("no answer from the webhook receiver: {e}"),
            Err(_) => break,
        }
        if raw.windows(2).any(|w| w == b"\r\n") {
            break;
        }
    }
    let _ = reader.shutdown(std::net::Shutdown::Both);
    let _ = sending.join();
    split_response(&raw).0
}

const PUSH_BODY: &str =
    r#"{"ref":"refs/heads/main","after":"0000000000000000000000000000000000000000"}"#;

// --- credentials ----------------------------------------------------------------------

/// Panics when `secret` appears in the controller's log or in any read command's output.
fn assert_nowhere(p: &TestProject, controller: &Daemon, secret: &str, with_service: bool) {
    let mut outputs: Vec<(String, String)> = vec![("controller log".into(), controller.log())];
    let container = if with_service {
        id_of(p, "app")
    } else {
        String::new()
    };
    let mut commands: Vec<Vec<&str>> = vec![
        vec!["describe", "source"],
        vec!["get", "source"],
        vec!["get", "source", "-o", "json"],
        vec!["get", "source", "-o", "yaml"],
        vec!["history", "-o", "json"],
        vec!["history", "-o", "wide"],
        vec!["events"],
        vec!["events", "-o", "json"],
        vec!["get", "-o", "json"],
        vec!["get", "-o", "wide"],
    ];
    if with_service {
        commands.push(vec!["describe", "service/app"]);
        commands.push(vec!["trace", &container]);
    }
    for args in commands {
        let out = cli(p, &args);
        outputs.push((
            format!("holdfast {}", args.join(" ")),
            format!("{}{}", stdout(&out), stderr(&out)),
        ));
    }
    let (_, metrics) = http_get(p, "/metrics");
    outputs.push(("/metrics".into(), metrics));
    for (what, text) in &outputs {
        assert!(
            !text.contains(secret),
            "{what} shows the secret {secret:?}:\n{text}"
        );
        assert!(
            !text.contains("deploy:"),
            "{what} shows a URL's userinfo:\n{text}"
        );
    }
}

// --- the tests ------------------------------------------------------------------------

/// Polling over git://: the first commit is applied at start, and a pushed commit
/// replaces the container; status, label, table, describe and history name the commit.
#[test]
fn polling_over_git_daemon_follows_the_branch() {
    busybox_image();
    let p = TestProject::new("git-poll");
    let remote = Remote::new("main");
    let a = commit(&remote, &app_file(&p, "a"), "commit A", ALICE);
    let daemon = GitDaemon::serve(&remote);
    let controller = start_git(
        &p,
        &daemon.url(&remote),
        &["--interval", "1s"],
        "controller.log",
    );

    let first = wait_converged(&p, &controller, &a, "a");
    let wide = cli_ok(&p, &["get", "-o", "wide"]);
    let header: Vec<&str> = wide.lines().next().unwrap().split_whitespace().collect();
    let column = header
        .iter()
        .position(|h| *h == "REVISION")
        .unwrap_or_else(|| panic!("no REVISION column:\n{wide}"));
    let row: Vec<&str> = wide.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[column], short(&a), "{wide}");
    let describe = cli_ok(&p, &["describe", "service/app"]);
    assert!(
        describe
            .lines()
            .any(|l| l.starts_with("Revision:") && l.trim_end().ends_with(&a)),
        "{describe}"
    );

    let b = commit(&remote, &app_file(&p, "b"), "commit B", BOB);
    let second = wait_converged(&p, &controller, &b, "b");
    assert_ne!(first, second, "MODE changed without a new container");

    let s = source(&p);
    assert_eq!(s["kind"], "git", "{s:#}");
    assert_eq!(s["url"], daemon.url(&remote).as_str(), "{s:#}");
    assert_eq!(s["reference"], "branch main", "{s:#}");
    assert_eq!(s["path"], "holdfast.yaml", "{s:#}");
    assert_eq!(s["last_fetched"]["id"], b.as_str(), "{s:#}");
    assert_eq!(s["last_applied"]["id"], b.as_str(), "{s:#}");
    assert_eq!(s["last_applied"]["subject"], "commit B", "{s:#}");
    assert!(
        s["last_applied"]["author"]
            .as_str()
            .unwrap()
            .contains("Bob Builder"),
        "{s:#}"
    );
    assert!(s["failed"].is_null() && s["pinned"].is_null(), "{s:#}");
    assert_eq!(
        results(&p),
        [(a.clone(), "Applied".into()), (b.clone(), "Applied".into())]
    );
    assert!(has_event(&p, "CommitApplied"), "{}", events(&p));
    assert!(metric(&p, "holdfast_source_fetches_total", Some(("result", "ok"))) >= 2.0);
    stop(controller);
}

/// The arguments that start the webhook receiver on a free port with [`WEBHOOK_SECRET`].
fn webhook_args(p: &TestProject) -> Vec<String> {
    let secret = p.write_file("hook-secret", &format!("{WEBHOOK_SECRET}\n"));
    vec![
        "--webhook-listen".into(),
        "127.0.0.1:0".into(),
        "--webhook-secret-file".into(),
        secret.to_str().unwrap().into(),
    ]
}

/// How many fetches the controller tried, by its metrics.
fn fetch_attempts(p: &TestProject) -> usize {
    metric(p, "holdfast_source_fetches_total", None) as usize
}

/// With an hour-long interval and `a` in force: a refused webhook (wrong GitHub
/// signature, a signature over another body, wrong GitLab token, none) gets 401 and
/// fetches nothing; GitHub's signature and then GitLab's token each get 202 and bring
/// the newest commit; an oversize body gets 413 and fetches nothing. `fetches` counts
/// the fetches.
fn webhook_scenario(
    p: &TestProject,
    remote: &Remote,
    controller: &Daemon,
    a: &str,
    fetches: &dyn Fn() -> usize,
) {
    let addr = webhook_address(controller);
    let b = commit(remote, &app_file(p, "b"), "commit B", BOB);
    let before = fetches();
    let body = PUSH_BODY.as_bytes();
    let wrong = github_signature("not-the-secret", body);
    assert_eq!(
        post_webhook(&addr, &[("X-Hub-Signature-256", &wrong)], body),
        401
    );
    let other_body = github_signature(WEBHOOK_SECRET, b"{}");
    assert_eq!(
        post_webhook(&addr, &[("X-Hub-Signature-256", &other_body)], body),
        401
    );
    assert_eq!(
        post_webhook(&addr, &[("X-Gitlab-Token", "not-the-secret")], body),
        401
    );
    assert_eq!(
        post_webhook(&addr, &[("X-GitHub-Event", "push")], body),
        401
    );
    // A bounded negative check: nothing fetches for 1.5 s.
    let changed = wait_until(Duration::from_millis(1500), || fetches() != before);
    assert!(
        changed.is_none(),
        "a refused webhook caused a fetch\n{}",
        controller.log()
    );
    let s = source(p);
    assert_eq!(s["last_fetched"]["id"], a, "{s:#}");
    assert_eq!(label_of(p, "app").as_deref(), Some(a));

    let signature = github_signature(WEBHOOK_SECRET, body);
    let started = std::time::Instant::now();
    assert_eq!(
        post_webhook(
            &addr,
            &[
                ("X-Hub-Signature-256", &signature),
                ("X-GitHub-Event", "push")
            ],
            body
        ),
        202
    );
    wait_converged(p, controller, &b, "b");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "B took {:?} after the webhook",
        started.elapsed()
    );
    assert!(fetches() > before);

    let c = commit(remote, &app_file(p, "c"), "commit C", ALICE);
    assert_eq!(
        post_webhook(
            &addr,
            &[
                ("X-Gitlab-Token", WEBHOOK_SECRET),
                ("X-Gitlab-Event", "Push Hook")
            ],
            body
        ),
        202
    );
    wait_converged(p, controller, &c, "c");

    // Over 1 MiB: refused, even with a valid signature.
    let before = fetches();
    let big = vec![b'x'; 1024 * 1024 + 1];
    let big_signature = github_signature(WEBHOOK_SECRET, &big);
    assert_eq!(
        post_webhook(&addr, &[("X-Hub-Signature-256", &big_signature)], &big),
        413
    );
    let changed = wait_until(Duration::from_millis(1000), || fetches() != before);
    assert!(changed.is_none(), "an oversize webhook caused a fetch");
    assert!(
        !controller.log().contains(WEBHOOK_SECRET),
        "the webhook secret leaked into the log"
    );
}

/// Webhooks over git://: with an hour-long interval only a verified webhook fetches
/// (fetches counted by `holdfast_source_fetches_total`).
#[test]
fn webhook_triggers_a_fetch() {
    busybox_image();
    let p = TestProject::new("git-hook");
    let remote = Remote::new("main");
    let a = commit(&remote, &app_file(&p, "a"), "commit A", ALICE);
    let daemon = GitDaemon::serve(&remote);
    let mut args = vec!["--interval".to_string(), "1h".to_string()];
    args.extend(webhook_args(&p));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let controller = start_git(&p, &daemon.url(&remote), &args, "controller.log");
    wait_converged(&p, &controller, &a, "a");
    webhook_scenario(&p, &remote, &controller, &a, &|| fetch_attempts(&p));
    stop(controller);
}

/// The same over smart HTTP with a token (`--git-token-file`), counting the requests
/// the server saw.
#[test]
fn webhook_triggers_a_fetch_over_http_with_a_token() {
    busybox_image();
    let p = TestProject::new("git-hook-http");
    let remote = Remote::new("main");
    let a = commit(&remote, &app_file(&p, "a"), "commit A", ALICE);
    let server = HttpGitServer::serve(&remote, "deploy", TOKEN);
    let token = p.write_file("git-token", &format!("{TOKEN}\n"));
    let mut args: Vec<String> = [
        "--interval",
        "1h",
        "--git-token-file",
        token.to_str().unwrap(),
        "--git-username",
        "deploy",
    ]
    .map(String::from)
    .to_vec();
    args.extend(webhook_args(&p));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let controller = start_git(&p, &server.url(&remote), &args, "controller.log");
    let s = wait_source(&p, &controller, "the first fetch", |s| {
        !s["last_fetch_time"].is_null()
    });
    assert!(
        s["last_fetch_error"].is_null(),
        "a token over http:// does not fetch: {}",
        s["last_fetch_error"]
    );
    wait_converged(&p, &controller, &a, "a");
    assert!(
        server
            .recorded()
            .iter()
            .any(|r| r.status == 200 && r.header("Authorization").is_some()),
        "{:#?}",
        server.recorded()
    );
    webhook_scenario(&p, &remote, &controller, &a, &|| server.requests());
    assert!(!controller.log().contains(TOKEN), "the git token leaked");
    stop(controller);
}

/// A commit whose file is invalid is refused with its file, line and column, and its
/// author; the running container stays; the next valid commit applies and clears it.
#[test]
fn invalid_commit_is_refused_and_the_running_state_kept() {
    busybox_image();
    let p = TestProject::new("git-invalid");
    let remote = Remote::new("main");
    let a = commit(&remote, &app_file(&p, "a"), "commit A", ALICE);
    let daemon = GitDaemon::serve(&remote);
    let controller = start_git(
        &p,
        &daemon.url(&remote),
        &["--interval", "1s"],
        "controller.log",
    );
    let id = wait_converged(&p, &controller, &a, "a");

    let bad = app_file(&p, "b").replace("    command:", "    comand:");
    assert!(bad.lines().nth(4).unwrap().starts_with("    comand:"));
    let b = commit(&remote, &bad, "typo in the command", BOB);
    let s = wait_source(&p, &controller, "the failed commit", |s| {
        s["failed"]["commit"]["id"] == b.as_str()
    });
    let error = s["failed"]["error"].as_str().unwrap();
    assert!(error.contains("holdfast.yaml:5:5"), "{s:#}");
    assert!(error.contains("comand"), "{s:#}");
    assert!(
        s["failed"]["commit"]["author"]
            .as_str()
            .unwrap()
            .contains("Bob Builder"),
        "{s:#}"
    );
    assert_eq!(s["failed"]["commit"]["subject"], "typo in the command");
    assert!(
        s["failed"]["details"]
            .as_str()
            .unwrap()
            .contains("did you mean `command`?"),
        "{s:#}"
    );
    assert_eq!(s["last_applied"]["id"], a.as_str(), "{s:#}");
    assert_eq!(s["last_fetched"]["id"], b.as_str(), "{s:#}");

    assert_eq!(id_of(&p, "app"), id, "the container was replaced");
    assert_eq!(mode_of(&p, "app").as_deref(), Some("a"));
    let status = status_of(&p, "app");
    assert_eq!(status["revision"], a.as_str(), "{status:#}");
    wait_event(&p, &controller, "InvalidCommit");
    let ev = events(&p);
    let line = ev.lines().find(|l| l.contains("InvalidCommit")).unwrap();
    assert!(
        line.contains(short(&b)) && line.contains("holdfast.yaml:5:5"),
        "{ev}"
    );
    assert_eq!(
        metric(&p, "holdfast_source_invalid_commits_total", None),
        1.0
    );
    assert_eq!(metric(&p, "holdfast_source_failing", None), 1.0);
    let describe = cli_ok(&p, &["describe", "source"]);
    assert!(describe.contains("Status:           Failed"), "{describe}");
    assert!(describe.contains("holdfast.yaml:5:5"), "{describe}");
    assert_eq!(
        results(&p),
        [(a.clone(), "Applied".into()), (b.clone(), "Invalid".into())]
    );
    // Polling again and again does not refuse it again.
    let fetches = metric(&p, "holdfast_source_fetches_total", Some(("result", "ok")));
    assert!(
        wait_until(CONVERGE, || metric(
            &p,
            "holdfast_source_fetches_total",
            Some(("result", "ok"))
        ) >= fetches + 2.0)
        .is_some()
    );
    assert_eq!(
        metric(&p, "holdfast_source_invalid_commits_total", None),
        1.0
    );
    assert_eq!(history(&p).len(), 2);

    let c = commit(&remote, &app_file(&p, "c"), "fix the typo", ALICE);
    wait_converged(&p, &controller, &c, "c");
    let s = wait_source(&p, &controller, "no failed commit", |s| {
        s["failed"].is_null() && s["last_applied"]["id"] == c.as_str()
    });
    assert!(s["failed"].is_null(), "{s:#}");
    assert_eq!(metric(&p, "holdfast_source_failing", None), 0.0);
    assert_eq!(
        results(&p).last().cloned(),
        Some((c.clone(), "Applied".into()))
    );
    stop(controller);
}

/// A force-push back to an older commit is followed.
#[test]
fn force_push_to_an_older_commit_is_followed() {
    busybox_image();
    let p = TestProject::new("git-force");
    let remote = Remote::new("main");
    let a = commit(&remote, &app_file(&p, "a"), "commit A", ALICE);
    let daemon = GitDaemon::serve(&remote);
    let controller = start_git(
        &p,
        &daemon.url(&remote),
        &["--interval", "1s"],
        "controller.log",
    );
    wait_converged(&p, &controller, &a, "a");
    let b = commit(&remote, &app_file(&p, "b"), "commit B", BOB);
    wait_converged(&p, &controller, &b, "b");

    remote.force_push(&a);
    assert_eq!(remote.head(), a);
    wait_converged(&p, &controller, &a, "a");
    let s = source(&p);
    assert_eq!(s["last_fetched"]["id"], a.as_str(), "{s:#}");
    assert_eq!(s["last_applied"]["id"], a.as_str(), "{s:#}");
    assert_eq!(
        results(&p),
        [
            (a.clone(), "Applied".into()),
            (b.clone(), "Applied".into()),
            (a.clone(), "Applied".into())
        ]
    );
    stop(controller);
}

/// `holdfast rollback` pins the source to the previous good commit (or a named one);
/// new commits are fetched but not applied until `holdfast resume source`.
#[test]
fn rollback_pins_and_resume_follows_again() {
    busybox_image();
    let p = TestProject::new("git-rollback");
    let remote = Remote::new("main");
    let a = commit(&remote, &app_file(&p, "a"), "commit A", ALICE);
    let daemon = GitDaemon::serve(&remote);
    let controller = start_git(
        &p,
        &daemon.url(&remote),
        &["--interval", "1s"],
        "controller.log",
    );
    wait_converged(&p, &controller, &a, "a");
    let b = commit(&remote, &app_file(&p, "b"), "commit B", BOB);
    let on_b = wait_converged(&p, &controller, &b, "b");

    // A dry run shows the change and changes nothing.
    let dry = cli_ok(&p, &["rollback", "--dry-run"]);
    assert!(dry.contains(&format!("to {}", short(&a))), "{dry}");
    assert!(dry.lines().any(|l| l == "-  MODE: b"), "{dry}");
    assert!(dry.lines().any(|l| l == "+  MODE: a"), "{dry}");
    // Without --yes and without a terminal: refused.
    let out = cli(&p, &["rollback"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
    let s = source(&p);
    assert!(s["pinned"].is_null(), "{s:#}");
    assert_eq!(metric(&p, "holdfast_source_pinned", None), 0.0);
    assert!(converged(&p, "app", &b, "b"));
    assert_eq!(id_of(&p, "app"), on_b);

    // Roll back to the previous good commit.
    let out = cli_ok(&p, &["rollback", "--yes"]);
    assert!(
        out.contains(&format!("Rolled back to {}", short(&a))),
        "{out}"
    );
    wait_converged(&p, &controller, &a, "a");
    let s = source(&p);
    assert_eq!(s["pinned"]["id"], a.as_str(), "{s:#}");
    assert_eq!(metric(&p, "holdfast_source_pinned", None), 1.0);
    assert!(has_event(&p, "Pinned"), "{}", events(&p));
    assert_eq!(
        results(&p).last().cloned(),
        Some((a.clone(), "RolledBack".into()))
    );

    // A new commit is fetched but not applied.
    let c = commit(&remote, &app_file(&p, "c"), "commit C", ALICE);
    wait_source(&p, &controller, "C fetched", |s| {
        s["last_fetched"]["id"] == c.as_str()
    });
    wait_event(&p, &controller, "NewCommitNotApplied");
    let s = source(&p);
    assert_eq!(s["last_applied"]["id"], a.as_str(), "{s:#}");
    assert_eq!(s["pinned"]["id"], a.as_str(), "{s:#}");
    assert!(converged(&p, "app", &a, "a"));

    // Resume: C applies.
    let out = cli_ok(&p, &["resume", "source"]);
    assert!(out.contains("source resumed"), "{out}");
    wait_converged(&p, &controller, &c, "c");
    let s = source(&p);
    assert!(s["pinned"].is_null(), "{s:#}");
    assert_eq!(metric(&p, "holdfast_source_pinned", None), 0.0);
    assert!(has_event(&p, "Resumed"), "{}", events(&p));

    // A named commit, abbreviated.
    let out = cli_ok(&p, &["rollback", short(&b), "--yes"]);
    assert!(
        out.contains(&format!("Rolled back to {}", short(&b))),
        "{out}"
    );
    wait_converged(&p, &controller, &b, "b");
    let s = source(&p);
    assert_eq!(s["pinned"]["id"], b.as_str(), "{s:#}");
    cli_ok(&p, &["resume", "source"]);
    wait_converged(&p, &controller, &c, "c");

    // An unknown commit is refused.
    let out = cli(&p, &["rollback", "deadbeef", "--yes"]);
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(source(&p)["pinned"].is_null());
    stop(controller);
}

/// `holdfast_source_pinned` follows a rollback to the commit already in force, and the
/// resume after it (the branch still at that commit).
#[test]
fn pinned_metric_follows_a_rollback_to_the_commit_in_force() {
    busybox_image();
    let p = TestProject::new("git-resume-same");
    let remote = Remote::new("main");
    let a = commit(&remote, &app_file(&p, "a"), "commit A", ALICE);
    let daemon = GitDaemon::serve(&remote);
    let controller = start_git(
        &p,
        &daemon.url(&remote),
        &["--interval", "1s"],
        "controller.log",
    );
    wait_converged(&p, &controller, &a, "a");
    let b = commit(&remote, &app_file(&p, "b"), "commit B", BOB);
    wait_converged(&p, &controller, &b, "b");
    // Pin to the commit in force: B.
    cli_ok(&p, &["rollback", &b, "--yes"]);
    let s = wait_source(&p, &controller, "pinned to B", |s| {
        s["pinned"]["id"] == b.as_str()
    });
    assert_eq!(s["last_applied"]["id"], b.as_str(), "{s:#}");
    assert!(
        wait_until(Duration::from_secs(10), || metric(
            &p,
            "holdfast_source_pinned",
            None
        ) == 1.0)
        .is_some(),
        "pinned to {b}, but holdfast_source_pinned is {}",
        metric(&p, "holdfast_source_pinned", None)
    );
    cli_ok(&p, &["resume", "source"]);
    let s = source(&p);
    assert!(s["pinned"].is_null(), "{s:#}");
    assert!(
        wait_until(Duration::from_secs(10), || metric(
            &p,
            "holdfast_source_pinned",
            None
        ) == 0.0)
        .is_some(),
        "unpinned, but holdfast_source_pinned is still {}",
        metric(&p, "holdfast_source_pinned", None)
    );
    stop(controller);
}

/// Waits for the first fetch, checks that [`TOKEN`] shows nowhere (whatever the fetch
/// did), then that `a` was applied, and checks again with the service running.
fn check_credentials_case(p: &TestProject, controller: &Daemon, url: &str, a: &str) {
    let s = wait_source(p, controller, "the first fetch", |s| {
        !s["last_fetch_time"].is_null()
    });
    assert_eq!(s["url"], url, "{s:#}");
    assert_nowhere(p, controller, TOKEN, false);
    assert!(
        s["last_fetch_error"].is_null(),
        "the fetch with the right credentials over http:// failed: {}",
        s["last_fetch_error"]
    );
    wait_converged(p, controller, a, "a");
    assert_nowhere(p, controller, TOKEN, true);
}

/// Credentials in a token file: used, never shown; the URL shown has no userinfo.
#[test]
fn token_file_credentials_never_leak() {
    busybox_image();
    let p = TestProject::new("git-cred-file");
    let remote = Remote::new("main");
    let a = commit(&remote, &app_file(&p, "a"), "commit A", ALICE);
    let server = HttpGitServer::serve(&remote, "deploy", TOKEN);
    let token = p.write_file("git-token", &format!("{TOKEN}\n"));
    let controller = start_git(
        &p,
        &server.url(&remote),
        &[
            "--interval",
            "1s",
            "--git-token-file",
            token.to_str().unwrap(),
            "--git-username",
            "deploy",
        ],
        "controller.log",
    );
    check_credentials_case(&p, &controller, &server.url(&remote), &a);
    assert!(
        server
            .recorded()
            .iter()
            .any(|r| r.status == 200 && r.header("Authorization").is_some()),
        "{:#?}",
        server.recorded()
    );
    stop(controller);
}

/// Credentials in the URL (`http://deploy:TOKEN@...`): used, never shown.
#[test]
fn url_credentials_never_leak() {
    busybox_image();
    let p = TestProject::new("git-cred-url");
    let remote = Remote::new("main");
    let a = commit(&remote, &app_file(&p, "a"), "commit A", ALICE);
    let server = HttpGitServer::serve(&remote, "deploy", TOKEN);
    let url = server.url_with_credentials(&remote);
    assert!(url.contains(&format!("deploy:{TOKEN}@")));
    let controller = start_git(&p, &url, &["--interval", "1s"], "controller.log");
    check_credentials_case(&p, &controller, &server.url(&remote), &a);
    stop(controller);
}

/// A wrong token (in a file, or in the URL): the fetch fails, the error is shown, and
/// neither the wrong nor the right token appears anywhere.
#[test]
fn failing_fetches_with_wrong_credentials_never_leak() {
    let p = TestProject::new("git-cred-wrong");
    let remote = Remote::new("main");
    commit(&remote, &app_file(&p, "a"), "commit A", ALICE);
    let server = HttpGitServer::serve(&remote, "deploy", TOKEN);
    let wrong = "wr0ng-TOKEN-value";

    // In a file.
    let token = p.write_file("git-token", &format!("{wrong}\n"));
    let controller = start_git(
        &p,
        &server.url(&remote),
        &[
            "--interval",
            "1s",
            "--git-token-file",
            token.to_str().unwrap(),
            "--git-username",
            "deploy",
        ],
        "controller-file.log",
    );
    let s = wait_source(&p, &controller, "a fetch error", |s| {
        s["last_fetch_error"].is_string()
    });
    assert!(s["last_applied"].is_null(), "{s:#}");
    assert!(
        server.recorded().iter().any(|r| r.status == 401),
        "{:#?}",
        server.recorded()
    );
    assert!(
        metric(
            &p,
            "holdfast_source_fetches_total",
            Some(("result", "error"))
        ) >= 1.0
    );
    assert_nowhere(&p, &controller, wrong, false);
    assert_nowhere(&p, &controller, TOKEN, false);
    stop(controller);

    // In the URL.
    let url = server
        .url(&remote)
        .replacen("http://", &format!("http://deploy:{wrong}@"), 1);
    let controller = start_git(&p, &url, &["--interval", "1s"], "controller-url.log");
    let s = wait_source(&p, &controller, "a fetch error", |s| {
        s["last_fetch_error"].is_string()
    });
    assert_eq!(s["url"], server.url(&remote).as_str(), "{s:#}");
    let describe = cli_ok(&p, &["describe", "source"]);
    assert!(describe.contains("Fetch error:"), "{describe}");
    assert_nowhere(&p, &controller, wrong, false);
    assert_nowhere(&p, &controller, TOKEN, false);
    stop(controller);
}

/// A commit that would remove every service is held back by the mass-removal guard.
#[test]
fn mass_removal_from_a_commit_is_held_back() {
    busybox_image();
    let p = TestProject::new("git-mass");
    let remote = Remote::new("main");
    let two = format!(
        "{}  worker:\n    image: {}\n    command: [\"sleep\", \"3600\"]\n    init: true\n",
        app_file(&p, "a"),
        busybox_image()
    );
    let a = commit(&remote, &two, "two services", ALICE);
    let daemon = GitDaemon::serve(&remote);
    let controller = start_git(
        &p,
        &daemon.url(&remote),
        &["--interval", "1s"],
        "controller.log",
    );
    wait_converged(&p, &controller, &a, "a");
    assert!(
        wait_until(CONVERGE, || status_of(&p, "worker")["phase"] == "Ready"
            && p.is_ready("worker"))
        .is_some(),
        "{}",
        controller.log()
    );
    let app = id_of(&p, "app");
    let worker = id_of(&p, "worker");

    let empty = format!("name: {}\nservices: {{}}\n", p.name);
    let b = commit(&remote, &empty, "remove everything", BOB);
    let s = wait_source(&p, &controller, "the held-back commit", |s| {
        s["held_back"].is_string()
    });
    let held = s["held_back"].as_str().unwrap();
    assert!(held.contains("mass-removal guard"), "{s:#}");
    assert!(held.contains(short(&b)), "{s:#}");
    assert!(held.contains("app") && held.contains("worker"), "{s:#}");
    assert_eq!(
        results(&p).last().cloned(),
        Some((b.clone(), "HeldBack".into()))
    );
    wait_event(&p, &controller, "MassRemovalRefused");
    // A bounded negative check: both containers keep running.
    let removed = wait_until(Duration::from_secs(3), || {
        !(p.is_ready("app") && p.is_ready("worker"))
    });
    assert!(removed.is_none(), "a container was removed or stopped");
    assert_eq!(id_of(&p, "app"), app);
    assert_eq!(id_of(&p, "worker"), worker);
    stop(controller);
}

/// A restart while the remote is unreachable carries on from the stored state: the
/// last applied commit stays in force, and the fetch error is shown.
#[test]
fn restart_while_the_remote_is_gone_keeps_the_last_applied_commit() {
    busybox_image();
    let p = TestProject::new("git-restart");
    let remote = Remote::new("main");
    let a = commit(&remote, &app_file(&p, "a"), "commit A", ALICE);
    let daemon = GitDaemon::serve(&remote);
    let controller = start_git(
        &p,
        &daemon.url(&remote),
        &["--interval", "1s"],
        "controller-1.log",
    );
    let id = wait_converged(&p, &controller, &a, "a");
    let url = daemon.url(&remote);
    stop(controller);
    drop(daemon);

    let controller = start_git(&p, &url, &["--interval", "1s"], "controller-2.log");
    let s = wait_source(&p, &controller, "a fetch error", |s| {
        s["last_fetch_error"].is_string()
    });
    assert_eq!(s["last_applied"]["id"], a.as_str(), "{s:#}");
    assert!(s["failed"].is_null(), "{s:#}");
    let error = s["last_fetch_error"].as_str().unwrap();
    assert!(error.contains("127.0.0.1"), "{s:#}");
    // The state in force is still A, on the same container.
    wait_converged(&p, &controller, &a, "a");
    assert_eq!(id_of(&p, "app"), id, "the container was replaced");
    let table = cli_ok(&p, &["get", "source"]);
    assert!(table.contains("FetchFailing"), "{table}");
    let describe = cli_ok(&p, &["describe", "source"]);
    assert!(describe.contains("Fetch error:"), "{describe}");
    assert!(
        describe.contains(&format!("Last applied:     {}", short(&a))),
        "{describe}"
    );
    assert!(
        metric(
            &p,
            "holdfast_source_fetches_total",
            Some(("result", "error"))
        ) >= 1.0
    );
    // The history survived the restart (A may be listed again: applied again).
    let history = results(&p);
    assert!(
        !history.is_empty() && history.iter().all(|(id, r)| *id == a && r == "Applied"),
        "{history:?}"
    );
    assert_eq!(id_of(&p, "app"), id);
    // The failed fetch is among the project's events.
    wait_event(&p, &controller, "FetchFailed");
    stop(controller);
}

/// A restart while the branch's tip is an invalid commit puts the last good commit back
/// in force: the controller manages the running services again (a stopped container is
/// started), and still reports the refused commit.
#[test]
fn restart_with_an_invalid_commit_at_the_tip_keeps_the_last_good_commit() {
    busybox_image();
    let p = TestProject::new("git-restart-invalid");
    let remote = Remote::new("main");
    let a = commit(&remote, &app_file(&p, "a"), "commit A", ALICE);
    let daemon = GitDaemon::serve(&remote);
    let url = daemon.url(&remote);
    let controller = start_git(&p, &url, &["--interval", "1s"], "controller-1.log");
    let id = wait_converged(&p, &controller, &a, "a");
    let bad = app_file(&p, "b").replace("    command:", "    comand:");
    let b = commit(&remote, &bad, "typo in the command", BOB);
    wait_source(&p, &controller, "the failed commit", |s| {
        s["failed"]["commit"]["id"] == b.as_str()
    });
    stop(controller);

    let controller = start_git(&p, &url, &["--interval", "1s"], "controller-2.log");
    let s = wait_source(&p, &controller, "B fetched", |s| {
        s["last_fetched"]["id"] == b.as_str()
    });
    assert_eq!(s["failed"]["commit"]["id"], b.as_str(), "{s:#}");
    assert_eq!(s["last_applied"]["id"], a.as_str(), "{s:#}");
    assert!(
        wait_until(CONVERGE, || {
            let s = status_of(&p, "app");
            s["phase"] == "Ready" && s["revision"] == a.as_str()
        })
        .is_some(),
        "after the restart, A is not in force: `holdfast get -o json` says {}\nlog:\n{}",
        cli_ok(&p, &["get", "-o", "json"]),
        controller.log()
    );
    assert_eq!(id_of(&p, "app"), id, "the container was replaced");
    // Managed again: a container stopped by hand is started.
    holdfast_testkit::docker_ok(&["stop", "-t", "1", &id]);
    assert!(
        wait_until(CONVERGE, || p.is_ready("app")).is_some(),
        "the stopped container was not started again\n{}",
        controller.log()
    );
    assert_eq!(metric(&p, "holdfast_source_failing", None), 1.0);
    stop(controller);
}

/// When a force-push takes an invalid commit off the branch, so that its tip is the
/// commit in force again, `holdfast_source_failing` ("whether the newest commit of the
/// git source was refused") goes back to 0.
#[test]
fn force_push_over_an_invalid_commit_clears_the_failing_metric() {
    busybox_image();
    let p = TestProject::new("git-force-invalid");
    let remote = Remote::new("main");
    let a = commit(&remote, &app_file(&p, "a"), "commit A", ALICE);
    let daemon = GitDaemon::serve(&remote);
    let controller = start_git(
        &p,
        &daemon.url(&remote),
        &["--interval", "1s"],
        "controller.log",
    );
    wait_converged(&p, &controller, &a, "a");
    let bad = app_file(&p, "b").replace("    command:", "    comand:");
    let b = commit(&remote, &bad, "typo in the command", BOB);
    wait_source(&p, &controller, "the failed commit", |s| {
        s["failed"]["commit"]["id"] == b.as_str()
    });
    assert_eq!(metric(&p, "holdfast_source_failing", None), 1.0);

    remote.force_push(&a);
    wait_source(&p, &controller, "A fetched again", |s| {
        s["last_fetched"]["id"] == a.as_str()
    });
    assert!(
        wait_until(Duration::from_secs(10), || metric(
            &p,
            "holdfast_source_failing",
            None
        ) == 0.0)
        .is_some(),
        "the branch is back at {a}, which is in force, but holdfast_source_failing is still 1; source: {:#}",
        source(&p)
    );
    stop(controller);
}

/// A bind mount of a repository file reads it through `current/`, a path that does not
/// change between commits: a commit that changes another service replaces only that
/// one, and the mounted file is the commit's.
#[test]
fn a_commit_replaces_only_the_services_it_changes_even_with_repository_bind_mounts() {
    busybox_image();
    let p = TestProject::new("git-mounts");
    let remote = Remote::new("main");
    let file = |mode: &str| {
        format!(
            "{}  web:\n    image: {image}\n    command: [\"sleep\", \"3600\"]\n    init: true\n    volumes: [\"./conf/greeting.txt:/greeting.txt:ro\"]\n",
            app_file(&p, mode),
            image = busybox_image(),
        )
    };
    let a = remote.commit(
        &[
            ("holdfast.yaml", &file("a")),
            ("conf/greeting.txt", "hello from A\n"),
        ],
        "commit A",
        ALICE,
    );
    let daemon = GitDaemon::serve(&remote);
    let controller = start_git(
        &p,
        &daemon.url(&remote),
        &["--interval", "1s"],
        "controller.log",
    );
    wait_converged(&p, &controller, &a, "a");
    let web = id_of(&p, "web");
    let greeting = common::exec(&web, &["cat", "/greeting.txt"]);
    assert_eq!(String::from_utf8_lossy(&greeting.stdout), "hello from A\n");

    let b = commit(&remote, &file("b"), "commit B: app only", BOB);
    wait_converged(&p, &controller, &b, "b");
    assert!(
        wait_until(CONVERGE, || status_of(&p, "web")["revision"] == b.as_str()).is_some(),
        "web never recorded {b}: {:#}",
        status_of(&p, "web")
    );
    assert_eq!(
        id_of(&p, "web"),
        web,
        "web was replaced by a commit that did not change it"
    );
    assert_eq!(label_of(&p, "web").as_deref(), Some(a.as_str()));
    stop(controller);
}

/// A commit that renames the project while the old one has containers is refused: the
/// old containers would run on unmanaged.
#[test]
fn a_commit_that_renames_the_project_is_refused() {
    busybox_image();
    let p = TestProject::new("git-rename");
    let remote = Remote::new("main");
    let a = commit(&remote, &app_file(&p, "a"), "commit A", ALICE);
    let daemon = GitDaemon::serve(&remote);
    let controller = start_git(
        &p,
        &daemon.url(&remote),
        &["--interval", "1s"],
        "controller.log",
    );
    let before = wait_converged(&p, &controller, &a, "a");

    let renamed = app_file(&p, "a").replacen(&p.name, &format!("{}-other", p.name), 1);
    let b = commit(&remote, &renamed, "copy another server's file", BOB);
    let s = wait_source(&p, &controller, "the rename refused", |s| {
        s["failed"]["commit"]["id"] == b.as_str()
    });
    let error = s["failed"]["error"].as_str().unwrap();
    assert!(error.contains("renames the project"), "{error}");
    assert_eq!(s["last_applied"]["id"], a.as_str(), "{s:#}");
    assert_eq!(id_of(&p, "app"), before);
    assert!(has_event(&p, "InvalidCommit"), "{}", events(&p));
    let other = docker_ps_count(&format!("{}-other", p.name));
    assert_eq!(other, 0, "the renamed project was started");
    stop(controller);
}

/// How many containers carry the project label `project`.
fn docker_ps_count(project: &str) -> usize {
    holdfast_testkit::docker_ok(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=io.holdfast.project={project}"),
    ])
    .lines()
    .count()
}
