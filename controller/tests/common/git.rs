//! What the git-source test files (`git_source.rs`, `git_ssh.rs`) share: the
//! one-service file their remotes hold, `holdfast run --git URL`, the read commands on
//! the controller's socket, and the waits for the source, the service and the events.

use std::ffi::OsStr;

use std::time::Duration;

use holdfast_testkit::git::Remote;
use holdfast_testkit::{Daemon, TestProject, busybox_image, wait_until};
use serde_json::Value;

use super::{env_of, holdfast, id_of, socket};

/// How long a change may take to converge.
pub const CONVERGE: Duration = Duration::from_secs(60);

/// The label holdfast puts the commit on.
pub const REVISION_LABEL: &str = "io.holdfast.revision";

/// The author of commit A.
pub const ALICE: (&str, &str) = ("Alice Example", "alice@example.com");
/// The author of commit B.
pub const BOB: (&str, &str) = ("Bob Builder", "bob@example.com");

/// One service `app` (busybox `sleep 3600`) with `MODE=mode`. Line 5 is `command:`.
pub fn app_file(p: &TestProject, mode: &str) -> String {
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
pub fn commit(remote: &Remote, contents: &str, message: &str, author: (&str, &str)) -> String {
    remote.commit(&[("holdfast.yaml", contents)], message, author)
}

/// A test's project `name` and a remote whose branch `main` holds commit A
/// ([`app_file`] with `MODE=a`, by [`ALICE`]), and A's ID.
pub fn project_with_commit_a(name: &str) -> (TestProject, Remote, String) {
    busybox_image();
    let p = TestProject::new(name);
    let remote = Remote::new("main");
    let a = commit(&remote, &app_file(&p, "a"), "commit A", ALICE);
    (p, remote, a)
}

/// Pushes commit B ([`app_file`] with `MODE=b`, by [`BOB`]) and waits until `app` runs
/// it. Returns B and the container ID.
pub fn push_commit_b(p: &TestProject, remote: &Remote, controller: &Daemon) -> (String, String) {
    let b = commit(remote, &app_file(p, "b"), "commit B", BOB);
    let id = wait_converged(p, controller, &b, "b");
    (b, id)
}

/// Starts `holdfast run --git URL --state-dir DIR --socket SOCK EXTRA...`, logging to
/// `log` in the project's folder.
pub fn start_git(p: &TestProject, url: &str, extra: &[impl AsRef<OsStr>], log: &str) -> Daemon {
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

pub use super::{cli, stderr, stdout};

/// `holdfast ARGS`, which must exit 0; its stdout.
pub fn cli_ok(p: &TestProject, args: &[&str]) -> String {
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
pub fn cli_json(p: &TestProject, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend_from_slice(&["-o", "json"]);
    let out = cli(p, &all);
    if !out.status.success() {
        return Value::Null;
    }
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// The controller's log, then what `holdfast ARGS` printed (stdout and stderr) for each
/// of `commands`, each with what it is.
pub fn outputs(
    p: &TestProject,
    controller: &Daemon,
    commands: &[&[&str]],
) -> Vec<(String, String)> {
    let mut outputs = vec![("controller log".to_string(), controller.log())];
    for args in commands {
        let out = cli(p, args);
        outputs.push((
            format!("holdfast {}", args.join(" ")),
            format!("{}{}", stdout(&out), stderr(&out)),
        ));
    }
    outputs
}

/// `holdfast get source -o json`.
pub fn source(p: &TestProject) -> Value {
    cli_json(p, &["get", "source"])
}

/// The status of `service/NAME` from `holdfast get -o json`.
pub fn status_of(p: &TestProject, service: &str) -> Value {
    let key = format!("service/{service}");
    cli_json(p, &["get"])
        .as_array()
        .and_then(|all| all.iter().find(|s| s["key"] == key.as_str()).cloned())
        .unwrap_or(Value::Null)
}

/// The `io.holdfast.revision` label of `service`'s container, if it has one container.
pub fn label_of(p: &TestProject, service: &str) -> Option<String> {
    let c = p.inspect(service)?;
    c["Config"]["Labels"][REVISION_LABEL]
        .as_str()
        .map(str::to_string)
}

/// `MODE` in the environment of `service`'s running container.
pub fn mode_of(p: &TestProject, service: &str) -> Option<String> {
    let c = p.inspect(service)?;
    if c["State"]["Running"] != true {
        return None;
    }
    env_of(&c).get("MODE").cloned()
}

/// Whether `service` runs with `MODE=mode` from `commit`: Ready with that revision, and
/// one running container labelled with it.
pub fn converged(p: &TestProject, service: &str, commit: &str, mode: &str) -> bool {
    let s = status_of(p, service);
    s["phase"] == "Ready"
        && s["revision"] == commit
        && label_of(p, service).as_deref() == Some(commit)
        && mode_of(p, service).as_deref() == Some(mode)
}

/// Waits until `app` runs `MODE=mode` from `commit`; panics with the controller's
/// state and log when it does not within [`CONVERGE`]. Returns the container ID.
pub fn wait_converged(p: &TestProject, controller: &Daemon, commit: &str, mode: &str) -> String {
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

/// Waits (at most [`CONVERGE`]) until `check` holds for `holdfast get source -o json`;
/// the source then.
pub fn wait_source(
    p: &TestProject,
    controller: &Daemon,
    what: &str,
    check: impl FnMut(&Value) -> bool,
) -> Value {
    wait_source_within(p, controller, CONVERGE, what, check)
}

/// Waits (at most `timeout`) until `check` holds for `holdfast get source -o json`; the
/// source then.
pub fn wait_source_within(
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

/// Waits (at most `timeout`) until the source shows a fetch error; the source then.
pub fn wait_fetch_error(p: &TestProject, controller: &Daemon, timeout: Duration) -> Value {
    wait_source_within(p, controller, timeout, "a fetch error", |s| {
        s["last_fetch_error"].is_string()
    })
}

/// `holdfast events` as a table.
pub fn events(p: &TestProject) -> String {
    cli_ok(p, &["events"])
}

/// Whether `holdfast events` lists an event with this reason.
pub fn has_event(p: &TestProject, reason: &str) -> bool {
    events(p)
        .lines()
        .skip(1)
        .any(|l| l.split_whitespace().nth(2) == Some(reason))
}

/// Waits (at most [`CONVERGE`]) until `holdfast events` lists an event with this reason.
pub fn wait_event(p: &TestProject, controller: &Daemon, reason: &str) {
    assert!(
        wait_until(CONVERGE, || has_event(p, reason)).is_some(),
        "no {reason} event:\n{}\nlog:\n{}",
        events(p),
        controller.log()
    );
}

/// Stops the controller, which must exit cleanly.
pub fn stop(mut controller: Daemon) {
    let status = controller.terminate(Duration::from_secs(30));
    assert!(status.success(), "{status}\n{}", controller.log());
}
