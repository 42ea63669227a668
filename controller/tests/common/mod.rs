//! What the Docker-backed test files share: running the `holdfast` binary against a
//! [`TestProject`] and reading `docker inspect` output.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::time::Duration;

use holdfast_testkit::{Daemon, TestProject, docker_ok, output_within};
use serde_json::Value;

/// How long one `holdfast apply` may take before the test fails.
pub const APPLY_TIMEOUT: &str = "40s";

/// `holdfast` with the project's folder as working directory and its state directory in
/// the environment too (for subcommands without `--state-dir`).
pub fn holdfast(p: &TestProject) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_holdfast"));
    cmd.current_dir(&p.dir)
        .env("HOLDFAST_STATE_DIR", p.state_dir())
        .env_remove("HOLDFAST_LOG");
    cmd
}

/// Runs `holdfast ARGS` (bounded in time) and returns its output.
pub fn run(p: &TestProject, args: &[&str]) -> Output {
    output_within(holdfast(p).args(args), Duration::from_secs(60))
}

/// `holdfast apply -f FILE --state-dir DIR --timeout 40s EXTRA...`.
pub fn apply(p: &TestProject, extra: &[&str]) -> Output {
    let file = p.file();
    let state = p.state_dir();
    let mut args = vec![
        "apply",
        "-f",
        file.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "--timeout",
        APPLY_TIMEOUT,
    ];
    args.extend_from_slice(extra);
    run(p, &args)
}

/// `holdfast apply`, asserting that it exits 0.
pub fn apply_ok(p: &TestProject) -> Output {
    let out = apply(p, &[]);
    assert_exit(&out, 0, "holdfast apply");
    out
}

/// `holdfast plan -f FILE`.
pub fn plan(p: &TestProject) -> Output {
    let file = p.file();
    run(p, &["plan", "-f", file.to_str().unwrap()])
}

/// `holdfast delete -f FILE EXTRA...`.
pub fn delete(p: &TestProject, extra: &[&str]) -> Output {
    let file = p.file();
    let state = p.state_dir();
    let mut args = vec![
        "delete",
        "-f",
        file.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(p, &args)
}

/// Starts `holdfast run -f FILE --state-dir DIR EXTRA...`, logging to
/// `controller.log` in the project's folder.
pub fn start_controller(p: &TestProject, extra: &[&str]) -> Daemon {
    let mut cmd = holdfast(p);
    cmd.arg("run")
        .arg("-f")
        .arg(p.file())
        .arg("--state-dir")
        .arg(p.state_dir())
        .arg("--socket")
        .arg(p.dir.join("holdfast.sock"))
        .args(extra);
    Daemon::spawn(cmd, p.dir.join("controller.log"))
}

/// Panics unless `out` exited with `code`, showing what the command printed.
pub fn assert_exit(out: &Output, code: i32, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what} exited with {:?}, expected {code}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The container ID of `service`, which must exist.
pub fn id_of(p: &TestProject, service: &str) -> String {
    p.container_of(service)
        .unwrap_or_else(|| panic!("service {service} has no container (or several)"))
}

/// `docker inspect` of the container of `service`, which must exist.
pub fn inspect(p: &TestProject, service: &str) -> Value {
    p.inspect(service)
        .unwrap_or_else(|| panic!("service {service} has no container to inspect"))
}

/// `docker inspect` of any object (a container ID, a network or volume name).
pub fn inspect_object(kind: &str, name: &str) -> Value {
    let text = docker_ok(&[kind, "inspect", name]);
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v[0].take()
}

/// A container's environment (`Config.Env`) as a map.
pub fn env_of(container: &Value) -> BTreeMap<String, String> {
    container["Config"]["Env"]
        .as_array()
        .map(|vars| {
            vars.iter()
                .filter_map(|v| v.as_str()?.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// `ID → State.StartedAt` of every container of the project.
pub fn containers_and_starts(p: &TestProject) -> BTreeMap<String, String> {
    p.container_ids()
        .into_iter()
        .map(|id| {
            let started = docker_ok(&["inspect", "-f", "{{.State.StartedAt}}", &id]);
            (id, started)
        })
        .collect()
}

/// `docker exec CONTAINER ARGS...`, returning the output.
pub fn exec(container: &str, args: &[&str]) -> Output {
    let mut all = vec!["exec", container];
    all.extend_from_slice(args);
    holdfast_testkit::docker(&all)
}
