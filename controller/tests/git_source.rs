//! The git source end to end, on the real engine: `holdfast run --git URL` against
//! repositories served on loopback (`git daemon`, smart HTTP with Basic auth), with
//! polling, webhooks, invalid commits, force-pushes, rollback and resume, the
//! mass-removal guard, a restart while the remote is gone, and credentials that must
//! never show up anywhere.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::time::Duration;

use common::git::{
    ALICE, BOB, CONVERGE, app_file, cli, cli_json, cli_ok, commit, converged, events, has_event,
    label_of, mode_of, outputs, project_with_commit_a, push_commit_b, source, start_git, status_of,
    stderr, stdout, stop, wait_converged, wait_event, wait_fetch_error, wait_source,
};
use common::{force_pass, http_get, id_of, metric, split_response};
use holdfast::api::webhook::github_signature;
use holdfast_testkit::git::{GitDaemon, HttpGitServer, Remote};
use holdfast_testkit::{Daemon, TestProject, busybox_image, wait_until};
use serde_json::Value;

const TOKEN: &str = "s3cr3t-TOKEN-value";
const WEBHOOK_SECRET: &str = "hook-secret-for-test";

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

fn short(id: &str) -> &str {
    &id[..7]
}

/// Serves `remote` over git:// and starts a controller that polls it every second,
/// logging to `log`; waits until `app` runs `MODE=a` from commit `a`. Returns the
/// server, the controller and `app`'s container ID.
fn follow_over_git_daemon(
    p: &TestProject,
    remote: &Remote,
    a: &str,
    log: &str,
) -> (GitDaemon, Daemon, String) {
    let daemon = GitDaemon::serve(remote);
    let controller = start_git(p, &daemon.url(remote), &["--interval", "1s"], log);
    let id = wait_converged(p, &controller, a, "a");
    (daemon, controller, id)
}

/// Pushes commit B, whose file has a typo on line 5, column 5 (`comand:`), and waits
/// until the controller refuses it. Returns B and the source then.
fn push_invalid_commit(p: &TestProject, remote: &Remote, controller: &Daemon) -> (String, Value) {
    let bad = app_file(p, "b").replace("    command:", "    comand:");
    assert!(bad.lines().nth(4).unwrap().starts_with("    comand:"));
    let b = commit(remote, &bad, "typo in the command", BOB);
    let s = wait_source(p, controller, "the failed commit", |s| {
        s["failed"]["commit"]["id"] == b.as_str()
    });
    (b, s)
}

/// Waits (at most 10 s) until the metric `name` is `value`, as it should be because of
/// `why`.
fn wait_metric(p: &TestProject, name: &str, value: f64, why: &str) {
    assert!(
        wait_until(Duration::from_secs(10), || metric(p, name, None) == value).is_some(),
        "{why}, but {name} is still {} (not {value}); source: {:#}",
        metric(p, name, None),
        source(p)
    );
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

/// An hour-long interval, so that only a webhook fetches, and the webhook receiver on a
/// free port with [`WEBHOOK_SECRET`].
fn webhook_args(p: &TestProject) -> Vec<String> {
    let secret = p.write_file("hook-secret", &format!("{WEBHOOK_SECRET}\n"));
    [
        "--interval",
        "1h",
        "--webhook-listen",
        "127.0.0.1:0",
        "--webhook-secret-file",
        secret.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec()
}

/// How many fetches the controller tried, by its metrics.
fn fetch_attempts(p: &TestProject) -> usize {
    metric(p, "holdfast_source_fetches_total", None) as usize
}

/// `holdfast reconcile source`, which fetches and applies now and answers once that is
/// done; how much `fetches` grew from `since` until then.
fn forced_fetch(p: &TestProject, since: usize, fetches: &dyn Fn() -> usize) -> usize {
    cli_ok(p, &["reconcile", "source"]);
    fetches() - since
}

/// Proves that nothing fetched since `since` (taken before the requests that must not
/// fetch) but the fetches forced here: two forced fetches in a row, each of which must
/// count `one`, what a forced fetch counts with nothing else going on. A fetch that the
/// requests caused, before or after the first forced one, lands in one of the two.
fn assert_no_fetch_since(
    p: &TestProject,
    since: usize,
    one: usize,
    fetches: &dyn Fn() -> usize,
    what: &str,
) {
    let first = forced_fetch(p, since, fetches);
    assert_eq!(first, one, "{what} caused a fetch");
    let second = forced_fetch(p, since + first, fetches);
    assert_eq!(second, one, "{what} caused a fetch");
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
    // What a forced fetch counts, with nothing else going on.
    let one = forced_fetch(p, fetches(), fetches);
    assert!(one > 0, "a forced fetch did not count as a fetch");
    let before = fetches();
    let body = PUSH_BODY.as_bytes();
    let wrong = github_signature(b"not-the-secret", body);
    assert_eq!(
        post_webhook(&addr, &[("X-Hub-Signature-256", &wrong)], body),
        401
    );
    let other_body = github_signature(WEBHOOK_SECRET.as_bytes(), b"{}");
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
    assert_no_fetch_since(p, before, one, fetches, "a refused webhook");
    let s = source(p);
    assert_eq!(s["last_fetched"]["id"], a, "{s:#}");
    assert_eq!(label_of(p, "app").as_deref(), Some(a));

    let b = commit(remote, &app_file(p, "b"), "commit B", BOB);
    let before = fetches();
    let signature = github_signature(WEBHOOK_SECRET.as_bytes(), body);
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
    let big_signature = github_signature(WEBHOOK_SECRET.as_bytes(), &big);
    assert_eq!(
        post_webhook(&addr, &[("X-Hub-Signature-256", &big_signature)], &big),
        413
    );
    assert_no_fetch_since(p, before, one, fetches, "an oversize webhook");
    assert!(
        !controller.log().contains(WEBHOOK_SECRET),
        "the webhook secret leaked into the log"
    );
}

// --- credentials ----------------------------------------------------------------------

/// Starts a controller that fetches `remote` from `server` as `deploy` with `token`
/// read from a file (`--git-token-file`), and `extra`; logging to `log`.
fn start_with_token_file(
    p: &TestProject,
    server: &HttpGitServer,
    remote: &Remote,
    token: &str,
    extra: &[impl AsRef<OsStr>],
    log: &str,
) -> Daemon {
    let file = p.write_file("git-token", &format!("{token}\n"));
    let mut args: Vec<OsString> = extra.iter().map(|a| a.as_ref().to_owned()).collect();
    args.extend([
        "--git-token-file".into(),
        file.into(),
        "--git-username".into(),
        "deploy".into(),
    ]);
    start_git(p, &server.url(remote), &args, log)
}

/// Panics unless `server` answered a request that had an `Authorization` header with 200.
fn assert_authorized(server: &HttpGitServer) {
    assert!(
        server
            .recorded()
            .iter()
            .any(|r| r.status == 200 && r.header("Authorization").is_some()),
        "{:#?}",
        server.recorded()
    );
}

/// Panics when `secret` appears in the controller's log or in any read command's output.
fn assert_nowhere(p: &TestProject, controller: &Daemon, secret: &str, with_service: bool) {
    let mut commands: Vec<&[&str]> = vec![
        &["describe", "source"],
        &["get", "source"],
        &["get", "source", "-o", "json"],
        &["get", "source", "-o", "yaml"],
        &["history", "-o", "json"],
        &["history", "-o", "wide"],
        &["events"],
        &["events", "-o", "json"],
        &["get", "-o", "json"],
        &["get", "-o", "wide"],
    ];
    let container = if with_service {
        id_of(p, "app")
    } else {
        String::new()
    };
    let trace = ["trace", container.as_str()];
    if with_service {
        commands.extend([&["describe", "service/app"][..], &trace]);
    }
    let mut outputs = outputs(p, controller, &commands);
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

/// A project `name` with commit A on a smart HTTP server that wants `deploy` and
/// [`TOKEN`], and a controller that `start` starts on it. Waits for the first fetch,
/// checks that [`TOKEN`] shows nowhere (whatever the fetch did), then that A was applied
/// with the credentials sent, and checks again with the service running.
fn credentials_case(
    name: &str,
    start: impl FnOnce(&TestProject, &HttpGitServer, &Remote) -> Daemon,
) {
    let (p, remote, a) = project_with_commit_a(name);
    let server = HttpGitServer::serve(&remote, "deploy", TOKEN);
    let controller = start(&p, &server, &remote);
    let s = wait_source(&p, &controller, "the first fetch", |s| {
        !s["last_fetch_time"].is_null()
    });
    assert_eq!(s["url"], server.url(&remote).as_str(), "{s:#}");
    assert_nowhere(&p, &controller, TOKEN, false);
    assert!(
        s["last_fetch_error"].is_null(),
        "the fetch with the right credentials over http:// failed: {}",
        s["last_fetch_error"]
    );
    wait_converged(&p, &controller, &a, "a");
    assert_authorized(&server);
    assert_nowhere(&p, &controller, TOKEN, true);
    stop(controller);
}

/// With `controller` fetching from `server` with the wrong token `wrong`: the fetch
/// fails and the error is shown, the server refused it (401), nothing is applied, the
/// URL shown has no userinfo, and neither `wrong` nor [`TOKEN`] shows anywhere. Stops
/// the controller.
fn check_wrong_credentials(
    p: &TestProject,
    controller: Daemon,
    server: &HttpGitServer,
    remote: &Remote,
    wrong: &str,
) {
    let s = wait_fetch_error(p, &controller, CONVERGE);
    assert!(s["last_applied"].is_null(), "{s:#}");
    assert_eq!(s["url"], server.url(remote).as_str(), "{s:#}");
    assert!(
        server.recorded().iter().any(|r| r.status == 401),
        "{:#?}",
        server.recorded()
    );
    assert!(
        metric(
            p,
            "holdfast_source_fetches_total",
            Some(("result", "error"))
        ) >= 1.0
    );
    let describe = cli_ok(p, &["describe", "source"]);
    assert!(describe.contains("Fetch error:"), "{describe}");
    assert_nowhere(p, &controller, wrong, false);
    assert_nowhere(p, &controller, TOKEN, false);
    stop(controller);
}

// --- the tests ------------------------------------------------------------------------

/// Polling over git://: the first commit is applied at start, and a pushed commit
/// replaces the container; status, label, table, describe and history name the commit.
#[test]
fn polling_over_git_daemon_follows_the_branch() {
    let (p, remote, a) = project_with_commit_a("git-poll");
    let (daemon, controller, first) = follow_over_git_daemon(&p, &remote, &a, "controller.log");
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

    let (b, second) = push_commit_b(&p, &remote, &controller);
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
    // Both commits are noted Ready, with how long that took after they were applied.
    let ready = wait_until(CONVERGE, || {
        history(&p)
            .iter()
            .all(|h| h["ready_after_ms"].as_u64().is_some_and(|ms| ms < 60_000))
    });
    assert!(ready.is_some(), "{:#?}", history(&p));
    let table = cli_ok(&p, &["history"]);
    assert!(table.lines().next().unwrap().contains("READY"), "{table}");
    let trace = cli_ok(&p, &["trace", &second]);
    assert!(trace.contains(&format!("Commit:     {b}")), "{trace}");
    stop(controller);
}

/// Webhooks over git://: with an hour-long interval only a verified webhook fetches
/// (fetches counted by `holdfast_source_fetches_total`).
#[test]
fn webhook_triggers_a_fetch() {
    let (p, remote, a) = project_with_commit_a("git-hook");
    let daemon = GitDaemon::serve(&remote);
    let controller = start_git(
        &p,
        &daemon.url(&remote),
        &webhook_args(&p),
        "controller.log",
    );
    wait_converged(&p, &controller, &a, "a");
    webhook_scenario(&p, &remote, &controller, &a, &|| fetch_attempts(&p));
    stop(controller);
}

/// The same over smart HTTP with a token (`--git-token-file`), counting the requests
/// the server saw.
#[test]
fn webhook_triggers_a_fetch_over_http_with_a_token() {
    let (p, remote, a) = project_with_commit_a("git-hook-http");
    let server = HttpGitServer::serve(&remote, "deploy", TOKEN);
    let args = webhook_args(&p);
    let controller = start_with_token_file(&p, &server, &remote, TOKEN, &args, "controller.log");
    let s = wait_source(&p, &controller, "the first fetch", |s| {
        !s["last_fetch_time"].is_null()
    });
    assert!(
        s["last_fetch_error"].is_null(),
        "a token over http:// does not fetch: {}",
        s["last_fetch_error"]
    );
    wait_converged(&p, &controller, &a, "a");
    assert_authorized(&server);
    webhook_scenario(&p, &remote, &controller, &a, &|| server.requests());
    assert!(!controller.log().contains(TOKEN), "the git token leaked");
    stop(controller);
}

/// A commit whose file is invalid is refused with its file, line and column, and its
/// author; the running container stays; the next valid commit applies and clears it.
#[test]
fn invalid_commit_is_refused_and_the_running_state_kept() {
    let (p, remote, a) = project_with_commit_a("git-invalid");
    let (_daemon, controller, id) = follow_over_git_daemon(&p, &remote, &a, "controller.log");

    let (b, s) = push_invalid_commit(&p, &remote, &controller);
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
    let (p, remote, a) = project_with_commit_a("git-force");
    let (_daemon, controller, _) = follow_over_git_daemon(&p, &remote, &a, "controller.log");
    let (b, _) = push_commit_b(&p, &remote, &controller);

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
    let (p, remote, a) = project_with_commit_a("git-rollback");
    let (_daemon, controller, _) = follow_over_git_daemon(&p, &remote, &a, "controller.log");
    let (b, on_b) = push_commit_b(&p, &remote, &controller);

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

    // `holdfast rollback ARGS` says it rolled back to `to`, which then runs, pinned.
    let rollback = |args: &[&str], to: &str, mode: &str| {
        let out = cli_ok(&p, args);
        assert!(
            out.contains(&format!("Rolled back to {}", short(to))),
            "{out}"
        );
        wait_converged(&p, &controller, to, mode);
        let s = source(&p);
        assert_eq!(s["pinned"]["id"], to, "{s:#}");
    };

    // Roll back to the previous good commit.
    rollback(&["rollback", "--yes"], &a, "a");
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
    rollback(&["rollback", short(&b), "--yes"], &b, "b");
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
    let (p, remote, a) = project_with_commit_a("git-resume-same");
    let (_daemon, controller, _) = follow_over_git_daemon(&p, &remote, &a, "controller.log");
    let (b, _) = push_commit_b(&p, &remote, &controller);
    // Pin to the commit in force: B.
    cli_ok(&p, &["rollback", &b, "--yes"]);
    let s = wait_source(&p, &controller, "pinned to B", |s| {
        s["pinned"]["id"] == b.as_str()
    });
    assert_eq!(s["last_applied"]["id"], b.as_str(), "{s:#}");
    wait_metric(&p, "holdfast_source_pinned", 1.0, &format!("pinned to {b}"));
    cli_ok(&p, &["resume", "source"]);
    let s = source(&p);
    assert!(s["pinned"].is_null(), "{s:#}");
    wait_metric(&p, "holdfast_source_pinned", 0.0, "unpinned");
    stop(controller);
}

/// Credentials in a token file: used, never shown; the URL shown has no userinfo.
#[test]
fn token_file_credentials_never_leak() {
    credentials_case("git-cred-file", |p, server, remote| {
        let interval = ["--interval", "1s"];
        start_with_token_file(p, server, remote, TOKEN, &interval, "controller.log")
    });
}

/// Credentials in the URL (`http://deploy:TOKEN@...`): used, never shown.
#[test]
fn url_credentials_never_leak() {
    credentials_case("git-cred-url", |p, server, remote| {
        let url = server.url_with_credentials(remote);
        assert!(url.contains(&format!("deploy:{TOKEN}@")));
        start_git(p, &url, &["--interval", "1s"], "controller.log")
    });
}

/// A wrong token (in a file, or in the URL): the fetch fails, the error is shown, and
/// neither the wrong nor the right token appears anywhere.
#[test]
fn failing_fetches_with_wrong_credentials_never_leak() {
    let (p, remote, _) = project_with_commit_a("git-cred-wrong");
    let server = HttpGitServer::serve(&remote, "deploy", TOKEN);
    let wrong = "wr0ng-TOKEN-value";
    let interval = ["--interval", "1s"];

    // In a file.
    let log = "controller-file.log";
    let controller = start_with_token_file(&p, &server, &remote, wrong, &interval, log);
    check_wrong_credentials(&p, controller, &server, &remote, wrong);

    // In the URL.
    let url = server
        .url(&remote)
        .replacen("http://", &format!("http://deploy:{wrong}@"), 1);
    let controller = start_git(&p, &url, &interval, "controller-url.log");
    check_wrong_credentials(&p, controller, &server, &remote, wrong);
}

/// A commit that would remove every service is held back by the mass-removal guard.
#[test]
fn mass_removal_from_a_commit_is_held_back() {
    let p = TestProject::new("git-mass");
    let remote = Remote::new("main");
    let two = format!(
        "{}  worker:\n    image: {}\n    command: [\"sleep\", \"3600\"]\n    init: true\n",
        app_file(&p, "a"),
        busybox_image()
    );
    let a = commit(&remote, &two, "two services", ALICE);
    let (_daemon, controller, _) = follow_over_git_daemon(&p, &remote, &a, "controller.log");
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
    // A pass over each service under B, forced and waited for, removes nothing.
    for service in ["app", "worker"] {
        let before = status_of(&p, service)["observed_at"].as_u64().unwrap();
        let key = format!("service/{service}");
        let out = force_pass(&p, &key);
        let after = status_of(&p, service)["observed_at"].as_u64();
        assert!(
            after.is_some_and(|after| after > before),
            "no pass over {key}, or its status is gone: {}{}",
            stdout(&out),
            stderr(&out)
        );
    }
    assert!(
        p.is_ready("app") && p.is_ready("worker"),
        "a container was removed or stopped"
    );
    assert_eq!(id_of(&p, "app"), app);
    assert_eq!(id_of(&p, "worker"), worker);
    stop(controller);
}

/// A restart while the remote is unreachable carries on from the stored state: the
/// last applied commit stays in force, and the fetch error is shown.
#[test]
fn restart_while_the_remote_is_gone_keeps_the_last_applied_commit() {
    let (p, remote, a) = project_with_commit_a("git-restart");
    let (daemon, controller, id) = follow_over_git_daemon(&p, &remote, &a, "controller-1.log");
    let url = daemon.url(&remote);
    stop(controller);
    drop(daemon);

    let controller = start_git(&p, &url, &["--interval", "1s"], "controller-2.log");
    let s = wait_fetch_error(&p, &controller, CONVERGE);
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
    let (p, remote, a) = project_with_commit_a("git-restart-invalid");
    let (daemon, controller, id) = follow_over_git_daemon(&p, &remote, &a, "controller-1.log");
    let (b, _) = push_invalid_commit(&p, &remote, &controller);
    stop(controller);

    let url = daemon.url(&remote);
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
    let (p, remote, a) = project_with_commit_a("git-force-invalid");
    let (_daemon, controller, _) = follow_over_git_daemon(&p, &remote, &a, "controller.log");
    push_invalid_commit(&p, &remote, &controller);
    assert_eq!(metric(&p, "holdfast_source_failing", None), 1.0);

    remote.force_push(&a);
    wait_source(&p, &controller, "A fetched again", |s| {
        s["last_fetched"]["id"] == a.as_str()
    });
    let why = format!("the branch is back at {a}, which is in force");
    wait_metric(&p, "holdfast_source_failing", 0.0, &why);
    stop(controller);
}

/// A bind mount of a repository file reads it through `current/`, a path that does not
/// change between commits: a commit that changes another service replaces only that
/// one, and the mounted file is the commit's.
#[test]
fn a_commit_replaces_only_the_services_it_changes_even_with_repository_bind_mounts() {
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
    let (_daemon, controller, _) = follow_over_git_daemon(&p, &remote, &a, "controller.log");
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
    let (p, remote, a) = project_with_commit_a("git-rename");
    let (_daemon, controller, before) = follow_over_git_daemon(&p, &remote, &a, "controller.log");

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

/// `holdfast run --config FILE`: the git source and the webhook from the controller's
/// configuration file, with relative paths starting at the file's folder.
#[test]
fn the_controller_config_file_sets_the_source_and_the_webhook() {
    let (p, remote, a) = project_with_commit_a("git-config");
    let daemon = GitDaemon::serve(&remote);
    p.write_file("hook-secret", &format!("{WEBHOOK_SECRET}\n"));
    let config = p.write_file(
        "controller.yaml",
        &format!(
            "source:\n  git:\n    url: {url}\n    branch: main\n    path: holdfast.yaml\n    interval: 1h\nwebhook:\n  listen: 127.0.0.1:0\n  secret_file: hook-secret\n",
            url = daemon.url(&remote)
        ),
    );
    let mut cmd = common::holdfast(&p);
    cmd.arg("run")
        .arg("--config")
        .arg(&config)
        .arg("--state-dir")
        .arg(p.state_dir())
        .arg("--socket")
        .arg(common::socket(&p));
    let controller = Daemon::spawn(cmd, p.dir.join("controller.log"));
    wait_converged(&p, &controller, &a, "a");
    let s = source(&p);
    assert_eq!(s["reference"], "branch main", "{s:#}");
    assert_eq!(s["interval_ms"], 3_600_000, "{s:#}");

    let b = commit(&remote, &app_file(&p, "b"), "commit B", BOB);
    let addr = webhook_address(&controller);
    assert_eq!(
        post_webhook(&addr, &[("X-Gitlab-Token", WEBHOOK_SECRET)], b"{}"),
        202
    );
    wait_converged(&p, &controller, &b, "b");
    stop(controller);
}

/// `--path` repeated: the files are merged in order, as repeated `-f` does. The
/// override in the repository sets `MODE`; an error in it is refused with the
/// override's own `FILE:LINE:COL`, and the state in force is kept.
#[test]
fn repeated_paths_merge_an_override_file_and_its_errors_name_it() {
    busybox_image();
    let p = TestProject::new("git-paths");
    let remote = Remote::new("main");
    let over = |mode: &str| format!("services:\n  app:\n    environment:\n      MODE: {mode}\n");
    let a = remote.commit(
        &[
            ("compose.yaml", &app_file(&p, "base")),
            ("deploy/compose.prod.yaml", &over("a")),
        ],
        "base and override",
        ALICE,
    );
    let daemon = GitDaemon::serve(&remote);
    let controller = start_git(
        &p,
        &daemon.url(&remote),
        &[
            "--interval",
            "1s",
            "--path",
            "compose.yaml",
            "--path",
            "deploy/compose.prod.yaml",
        ],
        "controller.log",
    );
    // The override's value wins over the base's.
    let id = wait_converged(&p, &controller, &a, "a");
    let s = source(&p);
    assert_eq!(s["path"], "compose.yaml, deploy/compose.prod.yaml", "{s:#}");

    // A mistake in the override (line 3, column 5) is reported there.
    let bad = "services:\n  app:\n    environmnet:\n      MODE: b\n";
    let b = remote.commit(
        &[("deploy/compose.prod.yaml", bad)],
        "typo in the override",
        BOB,
    );
    let s = wait_source(&p, &controller, "the failed commit", |s| {
        s["failed"]["commit"]["id"] == b.as_str()
    });
    let error = s["failed"]["error"].as_str().unwrap();
    assert!(error.contains("deploy/compose.prod.yaml:3:5"), "{s:#}");
    assert!(
        s["failed"]["details"]
            .as_str()
            .unwrap()
            .contains("did you mean `environment`?"),
        "{s:#}"
    );
    assert_eq!(s["last_applied"]["id"], a.as_str(), "{s:#}");
    assert_eq!(id_of(&p, "app"), id, "the container was replaced");

    // Fixed: the override applies again.
    let c = remote.commit(&[("deploy/compose.prod.yaml", &over("c"))], "fix", ALICE);
    wait_converged(&p, &controller, &c, "c");
    stop(controller);
}
