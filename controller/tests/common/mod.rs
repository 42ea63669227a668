//! What the Docker-backed test files share: running the `holdfast` binary against a
//! [`TestProject`], reading `docker inspect` output, and the controller's HTTP
//! endpoints on its socket. [`git`] has what the git-source test files share.

#![allow(dead_code)]

pub mod git;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
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
    apply_within(p, APPLY_TIMEOUT, extra)
}

/// `holdfast apply -f FILE --state-dir DIR --timeout TIMEOUT EXTRA...` (the command
/// itself is still bounded by [`run`]'s 60 s).
pub fn apply_within(p: &TestProject, timeout: &str, extra: &[&str]) -> Output {
    let file = p.file();
    let state = p.state_dir();
    let mut args = vec![
        "apply",
        "-f",
        file.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "--timeout",
        timeout,
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

/// The controller's socket, in the project's folder.
pub fn socket(p: &TestProject) -> PathBuf {
    p.dir.join("holdfast.sock")
}

/// `holdfast reconcile KEY`: a pass over `key` that begins after this call, waited for.
/// Proves that something did *not* happen: force the pass, then assert.
pub fn force_pass(p: &TestProject, key: &str) -> Output {
    let mut cmd = holdfast(p);
    cmd.args(["reconcile", key, "--timeout", "30s", "--socket"])
        .arg(socket(p));
    let out = output_within(&mut cmd, Duration::from_secs(60));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("not every resource was reconciled"),
        "the pass over {key} did not finish: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Starts `holdfast run -f FILE --state-dir DIR EXTRA...`, logging to
/// `controller.log` in the project's folder.
pub fn start_controller(p: &TestProject, extra: &[&str]) -> Daemon {
    start_controller_on(p, None, extra)
}

/// [`start_controller`] with `DOCKER_HOST` = `docker_host` when given (a second engine,
/// a counting proxy).
pub fn start_controller_on(p: &TestProject, docker_host: Option<&str>, extra: &[&str]) -> Daemon {
    let mut cmd = holdfast(p);
    if let Some(host) = docker_host {
        cmd.env("DOCKER_HOST", host);
    }
    cmd.arg("run")
        .arg("-f")
        .arg(p.file())
        .arg("--state-dir")
        .arg(p.state_dir())
        .arg("--socket")
        .arg(socket(p))
        .args(extra);
    Daemon::spawn(cmd, p.dir.join("controller.log"))
}

/// `holdfast ARGS --socket SOCKET` against the project's controller, bounded in time.
pub fn cli(p: &TestProject, args: &[&str]) -> Output {
    let mut cmd = holdfast(p);
    cmd.args(args).arg("--socket").arg(socket(p));
    output_within(&mut cmd, Duration::from_secs(60))
}

/// A command's stdout, as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A command's stderr, as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
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

/// The entry of a container's `Mounts` (in `docker inspect`) at `target`, which must
/// exist.
pub fn mount_at<'a>(c: &'a Value, target: &str) -> &'a Value {
    c["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Destination"] == target)
        .unwrap_or_else(|| panic!("no mount at {target}: {}", c["Mounts"]))
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

/// Runs `holdfast apply` again and asserts that it left every container of the
/// project as `before` ([`containers_and_starts`]): none replaced, none restarted.
pub fn assert_apply_changes_nothing(p: &TestProject, before: &BTreeMap<String, String>) {
    let out = apply_ok(p);
    assert_eq!(
        &containers_and_starts(p),
        before,
        "a second apply replaced or restarted a container\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `docker exec CONTAINER ARGS...`, returning the output.
pub fn exec(container: &str, args: &[&str]) -> Output {
    let mut all = vec!["exec", container];
    all.extend_from_slice(args);
    holdfast_testkit::docker(&all)
}

/// `GET path` on the controller's socket: status and body (chunked bodies decoded).
pub fn http_get(p: &TestProject, path: &str) -> (u16, String) {
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
pub fn split_response(raw: &[u8]) -> (u16, String, Vec<u8>) {
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

/// Decodes a chunked HTTP/1.1 body.
pub fn dechunk(mut body: &[u8]) -> Vec<u8> {
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
pub fn metric(p: &TestProject, name: &str, label: Option<(&str, &str)>) -> f64 {
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
