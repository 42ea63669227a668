//! The git source over real SSH, on the real engine: `holdfast run --git ssh://...
//! --git-ssh-key KEY --git-known-hosts FILE` against an OpenSSH server on loopback
//! ([`Sshd`]) that serves a [`Remote`] to one deploy key. The right key and host key
//! converge and follow the branch; a wrong known_hosts entry or a key the server does
//! not authorize fails the fetch quickly and visibly, applies nothing, and never shows
//! the private key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::git::{
    ALICE, CONVERGE, app_file, cli_ok, commit, events, has_event, outputs, project_with_commit_a,
    push_commit_b, source, start_git, status_of, stop, wait_converged, wait_event,
    wait_fetch_error, wait_source_within,
};
use holdfast_testkit::git::Remote;
use holdfast_testkit::sshd::Sshd;
use holdfast_testkit::{Daemon, TestProject};
use serde_json::Value;

/// How soon a refused fetch must be reported: far below the controller's own fetch
/// timeout (120 s), so that an ssh waiting for a prompt (no `BatchMode`) would fail it.
const FAIL_FAST: Duration = Duration::from_secs(30);

/// Starts `holdfast run --git URL --git-ssh-key KEY --git-known-hosts FILE
/// --interval 1s`, logging to `controller.log` in the project's folder.
fn start_ssh(p: &TestProject, url: &str, key: &Path, known_hosts: &Path) -> Daemon {
    let extra = [
        "--git-ssh-key",
        key.to_str().unwrap(),
        "--git-known-hosts",
        known_hosts.to_str().unwrap(),
        "--branch",
        "main",
        "--path",
        "holdfast.yaml",
        "--interval",
        "1s",
    ];
    start_git(p, url, &extra, "controller.log")
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
    let outputs = outputs(
        p,
        controller,
        &[
            &["describe", "source"],
            &["get", "source"],
            &["get", "source", "-o", "json"],
            &["events"],
            &["events", "-o", "json"],
            &["history", "-o", "json"],
            &["get", "-o", "json"],
        ],
    );
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
    let s = wait_fetch_error(p, controller, FAIL_FAST);
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
    let s = wait_source_within(p, controller, FAIL_FAST, "a second failed fetch", |s| {
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

/// A refused fetch: a project `name` with commit A on a fresh server, and a controller
/// started with the key and the known_hosts file that `credentials` picks from the
/// server. Checks the failure ([`check_failing_fetch`]) and prints the error, then runs
/// `then` with the controller, the server and the length of the server's log when the
/// controller started, and stops the controller.
fn failing_case(
    name: &str,
    credentials: impl FnOnce(&Sshd) -> (PathBuf, PathBuf),
    then: impl FnOnce(&Daemon, &Sshd, usize),
) {
    let (p, remote, _) = project_with_commit_a(name);
    let sshd = Sshd::start();
    let (key, known_hosts) = credentials(&sshd);
    let before = sshd.log().len();
    let started = Instant::now();
    let controller = start_ssh(&p, &sshd.url(remote.bare_path()), &key, &known_hosts);
    let error = check_failing_fetch(&p, &controller, &key, started);
    eprintln!("{name}: fetch error: {error}");
    then(&controller, &sshd, before);
    stop(controller);
}

// --- the tests ------------------------------------------------------------------------

/// The deploy key and the right known_hosts: the first commit converges, a pushed
/// commit replaces the container, and the server saw the deploy key accepted.
#[test]
fn deploy_key_with_known_hosts_follows_the_branch() {
    let (p, remote, a) = project_with_commit_a("git-ssh-ok");
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

    let (b, second) = push_commit_b(&p, &remote, &controller);
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
    failing_case(
        "git-ssh-hostkey",
        |sshd| (sshd.deploy_key(), sshd.wrong_known_hosts()),
        |controller, sshd, before| {
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
        },
    );
}

/// A key the server does not authorize: the fetch fails at once (`BatchMode`: no
/// prompt, no hang), the server saw the key and refused it, nothing is applied.
#[test]
fn unauthorized_key_fails_fast_and_applies_nothing() {
    failing_case(
        "git-ssh-badkey",
        |sshd| (sshd.unauthorized_key(), sshd.known_hosts()),
        |_, sshd, before| {
            let log = sshd.log()[before..].to_string();
            let refused = format!("Failed publickey for {} from 127.0.0.1", sshd.user());
            assert!(log.contains(&refused), "{log}");
            assert!(!log.contains("Accepted publickey"), "{log}");
        },
    );
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
        let s = wait_fetch_error(&p, &controller, FAIL_FAST);
        let error = s["last_fetch_error"].as_str().unwrap();
        assert!(error.contains(reason), "{reason:?} is not in {error:?}");
        stop(controller);
    }
}
