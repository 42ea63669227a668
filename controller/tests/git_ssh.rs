//! The git source over real SSH, on the real engine: `holdfast run --git ssh://...
//! --git-ssh-key KEY --git-known-hosts FILE` against an OpenSSH server on loopback
//! ([`Sshd`]) that serves a [`Remote`] to one deploy key. The right key and host key
//! converge and follow the branch; a wrong known_hosts entry or a key the server does
//! not authorize fails the fetch quickly and visibly, applies nothing, and never shows
//! the private key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::{holdfast, id_of};
use holdfast_testkit::git::Remote;
use holdfast_testkit::sshd::Sshd;
use holdfast_testkit::{Daemon, TestProject, busybox_image, output_within, wait_until};
use serde_json::Value;

/// How long a change may take to converge.
const CONVERGE: Duration = Duration::from_secs(60);

/// How soon a refused fetch must be reported: far below the controller's own fetch
/// timeout (120 s), so that an ssh waiting for a prompt (no `BatchMode`) would fail it.
const FAIL_FAST: Duration = Duration::from_secs(30);

/// The label holdfast puts the commit on.
const REVISION_LABEL: &str = "io.holdfast.revision";

const ALICE: (&str, &str) = ("Alice Example", "alice@example.com");
const BOB: (&str, &str) = ("Bob Builder", "bob@example.com");

/// One service `app` (busybox `sleep 3600`) with `MODE=mode`.
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

/// Starts `holdfast run --git URL --git-ssh-key KEY --git-known-hosts FILE
/// --interval 1s`, logging to `controller.log` in the project's folder.
fn start_ssh(p: &TestProject, url: &str, key: &Path, known_hosts: &Path) -> Daemon {
    let mut cmd = holdfast(p);
    cmd.arg("run")
        .arg("--git")
        .arg(url)
        .arg("--git-ssh-key")
        .arg(key)
        .arg("--git-known-hosts")
        .arg(known_hosts)
        .args(["--branch", "main", "--path", "holdfast.yaml"])
        .args(["--interval", "1s"])
        .arg("--state-dir")
        .arg(p.state_dir())
        .arg("--socket")
        .arg(socket(p));
    Daemon::spawn(cmd, p.dir.join("controller.log"))
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

/// `holdfast ARGS`, which must exit 0; its stdout.
fn cli_ok(p: &TestProject, args: &[&str]) -> String {
    let out = cli(p, args);
    assert!(
        out.status.success(),
        "holdfast {} exited with {}\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        out.status,
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
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

/// The status of `service/NAME` from `holdfast get -o json`.
fn status_of(p: &TestProject, service: &str) -> Value {
    let key = format!("service/{service}");
    cli_json(p, &["get"])
        .as_array()
        .and_then(|all| all.iter().find(|s| s["key"] == key.as_str()).cloned())
        .unwrap_or(Value::Null)
}

/// Whether `app` runs with `MODE=mode` from `commit`: Ready with that revision, and one
/// running container labelled with it.
fn converged(p: &TestProject, commit: &str, mode: &str) -> bool {
    let s = status_of(p, "app");
    if s["phase"] != "Ready" || s["revision"] != commit {
        return false;
    }
    let Some(c) = p.inspect("app") else {
        return false;
    };
    c["State"]["Running"] == true
        && c["Config"]["Labels"][REVISION_LABEL] == commit
        && c["Config"]["Env"]
            .as_array()
            .is_some_and(|env| env.iter().any(|v| *v == format!("MODE={mode}").as_str()))
}

/// Waits until `app` runs `MODE=mode` from `commit`; panics with the controller's state
/// and log when it does not within [`CONVERGE`]. Returns the container ID.
fn wait_converged(p: &TestProject, controller: &Daemon, commit: &str, mode: &str) -> String {
    if wait_until(CONVERGE, || converged(p, commit, mode)).is_none() {
        panic!(
            "app did not converge to {commit} (MODE={mode}) within {CONVERGE:?}\nstatus: {:#}\nsource: {:#}\nlog:\n{}",
            status_of(p, "app"),
            source(p),
            controller.log()
        );
    }
    id_of(p, "app")
}

/// Waits (at most `timeout`) until `check` holds for `holdfast get source -o json`.
fn wait_source(
    p: &TestProject,
    controller: &Daemon,
    timeout: Duration,
    what: &str,
    mut check: impl FnMut(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    let ok = wait_until(timeout, || {
        last = source(p);
        check(&last)
    });
    assert!(
        ok.is_some(),
        "the source never showed {what} within {timeout:?}: {last:#}\nlog:\n{}",
        controller.log()
    );
    last
}

/// `holdfast events` as a table.
fn events(p: &TestProject) -> String {
    cli_ok(p, &["events"])
}

/// Whether `holdfast events` lists an event with this reason.
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

/// Stops the controller, which must exit cleanly.
fn stop(mut controller: Daemon) {
    let status = controller.terminate(Duration::from_secs(30));
    assert!(status.success(), "{status}\n{}", controller.log());
}

/// The lines of the private key file `key` that hold key material (everything but the
/// `-----BEGIN/END ...-----` lines).
fn key_material(key: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(key).unwrap();
    let lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----"))
        .map(str::to_string)
        .collect();
    assert!(
        lines.len() >= 3 && lines.iter().all(|l| l.len() >= 20),
        "{} does not look like an OpenSSH private key",
        key.display()
    );
    lines
}

/// Panics when any line of the private key `key` shows in the controller's log or in
/// the output of the read commands (`describe source` first among them).
fn assert_key_nowhere(p: &TestProject, controller: &Daemon, key: &Path) {
    let material = key_material(key);
    let mut outputs = vec![("controller log".to_string(), controller.log())];
    for args in [
        &["describe", "source"][..],
        &["get", "source"],
        &["get", "source", "-o", "json"],
        &["events"],
        &["events", "-o", "json"],
        &["history", "-o", "json"],
        &["get", "-o", "json"],
    ] {
        let out = cli(p, args);
        outputs.push((
            format!("holdfast {}", args.join(" ")),
            format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr)),
        ));
    }
    for (what, text) in &outputs {
        for line in &material {
            assert!(
                !text.contains(line.as_str()),
                "{what} shows a line of the private key {}:\n{text}",
                key.display()
            );
        }
        assert!(
            !text.contains("PRIVATE KEY"),
            "{what} shows a private key:\n{text}"
        );
    }
}

/// Checks that the project has nothing applied: no commit applied or fetched, no
/// service status, no container.
fn assert_nothing_applied(p: &TestProject, s: &Value) {
    assert!(s["last_applied"].is_null(), "{s:#}");
    assert!(s["last_fetched"].is_null(), "{s:#}");
    assert_eq!(status_of(p, "app"), Value::Null, "app has a status");
    assert_eq!(p.container_ids(), Vec::<String>::new(), "containers exist");
}

/// Runs a failing case: waits for the first fetch error (within [`FAIL_FAST`] of the
/// start), then for the next failed fetch (the controller did not hang on the first
/// one), and checks that nothing was applied, the `FetchFailed` event is listed,
/// `get source` and `describe source` show the failure, and the private key shows
/// nowhere. Returns the error.
fn check_failing_fetch(
    p: &TestProject,
    controller: &Daemon,
    key: &Path,
    started: Instant,
) -> String {
    let s = wait_source(p, controller, FAIL_FAST, "a fetch error", |s| {
        s["last_fetch_error"].is_string()
    });
    let took = started.elapsed();
    assert!(
        took < FAIL_FAST,
        "the fetch error took {took:?}: {s:#}\nlog:\n{}",
        controller.log()
    );
    let error = s["last_fetch_error"].as_str().unwrap().to_string();
    assert!(
        error.contains("cannot fetch from ssh://") && error.contains("@127.0.0.1:"),
        "the error does not name the remote: {error}"
    );
    assert_nothing_applied(p, &s);

    // The next poll fails too (the controller is not stuck in the first fetch), and
    // still nothing is applied: a bounded negative check.
    let first_time = s["last_fetch_time"].as_u64().unwrap();
    let s = wait_source(p, controller, FAIL_FAST, "a second failed fetch", |s| {
        s["last_fetch_time"]
            .as_u64()
            .is_some_and(|t| t > first_time)
    });
    assert!(s["last_fetch_error"].is_string(), "{s:#}");
    assert_nothing_applied(p, &s);

    wait_event(p, controller, "FetchFailed");
    let describe = cli_ok(p, &["describe", "source"]);
    assert!(describe.contains("Fetch error:"), "{describe}");
    let table = cli_ok(p, &["get", "source"]);
    assert!(table.contains("FetchFailing"), "{table}");
    assert_key_nowhere(p, controller, key);
    error
}

// --- the tests ------------------------------------------------------------------------

/// The deploy key and the right known_hosts: the first commit converges, a pushed
/// commit replaces the container, and the server saw the deploy key accepted.
#[test]
fn deploy_key_with_known_hosts_follows_the_branch() {
    busybox_image();
    let p = TestProject::new("git-ssh-ok");
    let remote = Remote::new("main");
    let a = commit(&remote, &app_file(&p, "a"), "commit A", ALICE);
    let sshd = Sshd::start();
    let url = sshd.url(remote.bare_path());
    let controller = start_ssh(&p, &url, &sshd.deploy_key(), &sshd.known_hosts());

    let first = wait_converged(&p, &controller, &a, "a");
    let s = source(&p);
    assert_eq!(s["kind"], "git", "{s:#}");
    assert_eq!(s["url"], url.as_str(), "{s:#}");
    assert_eq!(s["reference"], "branch main", "{s:#}");
    assert_eq!(s["last_applied"]["id"], a.as_str(), "{s:#}");
    assert!(s["last_fetch_error"].is_null(), "{s:#}");

    let b = commit(&remote, &app_file(&p, "b"), "commit B", BOB);
    let second = wait_converged(&p, &controller, &b, "b");
    assert_ne!(first, second, "MODE changed without a new container");
    let s = source(&p);
    assert_eq!(s["last_fetched"]["id"], b.as_str(), "{s:#}");
    assert_eq!(s["last_applied"]["id"], b.as_str(), "{s:#}");
    assert_eq!(s["last_applied"]["subject"], "commit B", "{s:#}");
    assert!(s["last_fetch_error"].is_null(), "{s:#}");
    assert!(has_event(&p, "CommitApplied"), "{}", events(&p));

    // The controller logged in with the deploy key (not through an agent or another key).
    let accepted = format!("Accepted publickey for {} from 127.0.0.1", sshd.user());
    assert!(sshd.log().contains(&accepted), "{}", sshd.log());
    assert_key_nowhere(&p, &controller, &sshd.deploy_key());
    stop(controller);
}

/// The right key but a known_hosts entry with another host key: ssh refuses the
/// server before offering the key, the fetch fails visibly, nothing is applied.
#[test]
fn wrong_known_hosts_refuses_the_server_and_applies_nothing() {
    let p = TestProject::new("git-ssh-hostkey");
    let remote = Remote::new("main");
    commit(&remote, &app_file(&p, "a"), "commit A", ALICE);
    let sshd = Sshd::start();
    let before = sshd.log().len();
    let started = Instant::now();
    let controller = start_ssh(
        &p,
        &sshd.url(remote.bare_path()),
        &sshd.deploy_key(),
        &sshd.wrong_known_hosts(),
    );
    let error = check_failing_fetch(&p, &controller, &sshd.deploy_key(), started);
    eprintln!("fetch error with a wrong known_hosts: {error}");
    // ssh's own diagnostic reaches the controller's log (its stderr).
    assert!(
        controller.wait_for_log("Host key verification failed", CONVERGE),
        "{}",
        controller.log()
    );
    // ssh gave up before authenticating: the key was never offered to the server.
    let log = sshd.log()[before..].to_string();
    assert!(log.contains("Connection from 127.0.0.1"), "{log}");
    assert!(!log.contains("publickey"), "{log}");
    stop(controller);
}

/// A key the server does not authorize: the fetch fails at once (`BatchMode`: no
/// prompt, no hang), the server saw the key and refused it, nothing is applied.
#[test]
fn unauthorized_key_fails_fast_and_applies_nothing() {
    let p = TestProject::new("git-ssh-badkey");
    let remote = Remote::new("main");
    commit(&remote, &app_file(&p, "a"), "commit A", ALICE);
    let sshd = Sshd::start();
    let before = sshd.log().len();
    let started = Instant::now();
    let controller = start_ssh(
        &p,
        &sshd.url(remote.bare_path()),
        &sshd.unauthorized_key(),
        &sshd.known_hosts(),
    );
    let error = check_failing_fetch(&p, &controller, &sshd.unauthorized_key(), started);
    eprintln!("fetch error with an unauthorized key: {error}");
    let log = sshd.log()[before..].to_string();
    let refused = format!("Failed publickey for {} from 127.0.0.1", sshd.user());
    assert!(log.contains(&refused), "{log}");
    assert!(!log.contains("Accepted publickey"), "{log}");
    stop(controller);
}

/// What `last_fetch_error` says when ssh refuses: its own reason.
#[test]
fn ssh_fetch_errors_say_why() {
    let sshd = Sshd::start();
    let remote = Remote::new("main");
    let url = sshd.url(remote.bare_path());
    let cases = [
        (
            "git-ssh-why-host",
            sshd.deploy_key(),
            sshd.wrong_known_hosts(),
            "Host key verification failed",
        ),
        (
            "git-ssh-why-key",
            sshd.unauthorized_key(),
            sshd.known_hosts(),
            "Permission denied (publickey)",
        ),
    ];
    for (name, key, known_hosts, reason) in cases {
        let p = TestProject::new(name);
        commit(&remote, &app_file(&p, "a"), "commit A", ALICE);
        let controller = start_ssh(&p, &url, &key, &known_hosts);
        let s = wait_source(&p, &controller, FAIL_FAST, "a fetch error", |s| {
            s["last_fetch_error"].is_string()
        });
        let error = s["last_fetch_error"].as_str().unwrap();
        assert!(error.contains(reason), "{reason:?} is not in {error:?}");
        stop(controller);
    }
}
