//! Fault-injection suites for holdfast, run against a real Docker engine.
//!
//! Each test in `tests/` starts its own `holdfast run` controller on its own
//! [`TestProject`], waits until the project's one service is up, then injects a fault the
//! way an operator or the kernel would and asserts that the service returns to its
//! desired state within a deadline, measuring how long that takes:
//!
//! | test | fault | desired state again |
//! |---|---|---|
//! | `killed_container_is_restarted` | `docker kill` (SIGKILL), 5 times | running (median < 2 s) |
//! | `stopped_container_is_started_again` | `docker stop`, 5 times | running (median < 2 s) |
//! | `removed_container_is_recreated` | `docker rm -f`, 5 times | a new container, running (median < 2 s) |
//! | `hand_made_container_with_other_env_is_replaced` | with the controller paused, `docker rm -f`, then `docker run` with the same name and holdfast labels but another `-e`, 3 times | a container whose env is the file's |
//! | `unhealthy_container_is_restarted` | `docker exec … rm /tmp/ok` breaks the health check, 3 times | restarted, and healthy |
//!
//! Every test prints its recovery times on stderr (`recovery after SIGKILL: 412 ms`, then
//! the median and the maximum), stops the controller with SIGTERM and asserts that it
//! exits 0. The controller's log (at debug level for holdfast) is written to
//! `controller.log` in the project folder and printed when a test fails; its warnings
//! other than drift reports and unhealthy restarts are printed when it stops.
//!
//! # Running
//!
//! ```sh
//! cargo nextest run -p holdfast-chaos-tests                  # the suite
//! cargo nextest run -p holdfast-chaos-tests --no-capture     # ... and see the recovery times
//! ```
//!
//! The tests need the `docker` CLI, a running engine and Debian's `busybox-static` (the
//! test image is built from it; `.ci/run` installs everything). They build the `holdfast`
//! binary themselves with `cargo build -p holdfast --bin holdfast` ([`holdfast_bin`]), so
//! a plain `cargo test -p holdfast-chaos-tests` works too. Each test has its own project
//! and controller, but the tests take turns ([`exclusive`]) so that one test's container
//! churn does not slow down another's recoveries; each takes 5–15 s once its turn comes,
//! the suite about a minute.
//!
//! # How recovery is measured
//!
//! From just before the fault command runs to the first poll that sees the desired state
//! ([`measure_recovery`]). The container is polled every 20 ms by name through the
//! engine's API on its Unix socket ([`Live::get`], about a millisecond a poll), so a
//! measurement is late by at most one poll. Faults that keep the container (SIGKILL,
//! stop, an unhealthy restart) are recognised by a new `State.StartedAt`, so a container
//! that has not gone down yet does not count as recovered ([`is_back`]).
//!
//! The times include the engine's own work: on a small machine with `fuse-overlayfs`,
//! `docker start` alone takes about 300 ms and `docker kill` 150 ms, and both grow
//! several-fold while other tests load the engine. The controller's share (from the
//! Docker event to its API call) is a few milliseconds; the `DEBUG ... docker event` and
//! `reconciled elapsed_ms=...` lines of the controller's log tell the two apart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use holdfast_testkit::{TestProject, docker, docker_ok, wait_until};

/// The service every suite runs.
pub const SERVICE: &str = "app";

/// The value of `MODE` in the desired-state files: what the controller must put back.
pub const FILE_MODE: &str = "from-file";

/// The one-service file the fault tests use; see [`holdfast_testkit::SLEEPER_FILE`].
pub use holdfast_testkit::SLEEPER_FILE as PLAIN_FILE;

/// One busybox service whose command creates `/tmp/ok` (the image has no `/tmp`) and
/// whose health check tests for it every second (one failure makes it unhealthy).
/// Removing the file makes the container unhealthy; a restart creates the file again.
pub const HEALTHCHECKED_FILE: &str = r#"name: {{project}}
services:
  app:
    image: {{image}}
    command: ["sh", "-c", "mkdir -p /tmp && touch /tmp/ok && exec sleep 3600"]
    init: true
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ok"]
      interval: 1s
      timeout: 1s
      retries: 1
"#;

/// The workspace root (the folder above this crate).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Cargo's target folder: `CARGO_TARGET_DIR` (relative to the workspace root when
/// relative), else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        _ => workspace_root().join("target"),
    }
}

/// Builds the `holdfast` binary (`cargo build -p holdfast --bin holdfast`, debug
/// profile) once per test process and returns its path.
///
/// The binary lives in another package, so a test cannot rely on Cargo having built
/// it. Parallel test processes each run the build; Cargo's own lock on the target
/// folder serialises them and all but the first find it fresh. The path is taken from
/// Cargo's JSON messages, falling back to `<target_dir>/debug/holdfast`
/// ([`target_dir`]). Panics, with Cargo's output, when the build fails.
pub fn holdfast_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var_os("CARGO")
            .or_else(|| option_env!("CARGO").map(Into::into))
            .unwrap_or_else(|| "cargo".into());
        let out = Command::new(&cargo)
            .current_dir(workspace_root())
            .env("CARGO_TARGET_DIR", target_dir())
            .args([
                "build",
                "-p",
                "holdfast",
                "--bin",
                "holdfast",
                "--message-format=json-render-diagnostics",
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", Path::new(&cargo).display()));
        assert!(
            out.status.success(),
            "`cargo build -p holdfast --bin holdfast` failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let from_messages = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "holdfast")
            .find_map(|m| m["executable"].as_str().map(PathBuf::from));
        let bin = from_messages.unwrap_or_else(|| target_dir().join("debug").join("holdfast"));
        assert!(bin.is_file(), "{} was not built", bin.display());
        bin
    })
}

/// The suite's lock, held by one chaos test at a time (see [`exclusive`]).
#[derive(Debug)]
pub struct Exclusive {
    _file: File,
}

/// Waits until no other chaos test runs, in this process or another (nextest runs each
/// test in its own process), and holds the suite's lock until the returned guard is
/// dropped. Take it first thing in a test, so that it is dropped last.
///
/// Faults and recoveries go through one engine: two chaos tests at once slow down each
/// other's container starts and removals, and the recovery times would measure that.
/// The lock is an advisory lock on `holdfast-chaos-tests.lock` in the temporary folder;
/// the kernel releases it when its holder exits, even by a crash, so it cannot be left
/// behind.
pub fn exclusive() -> Exclusive {
    let path = std::env::temp_dir().join("holdfast-chaos-tests.lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let start = Instant::now();
    file.lock()
        .unwrap_or_else(|e| panic!("cannot lock {}: {e}", path.display()));
    if start.elapsed() > Duration::from_millis(100) {
        eprintln!(
            "waited {} ms for the other chaos tests to finish",
            start.elapsed().as_millis()
        );
    }
    Exclusive { _file: file }
}

/// Sends `signal` (a name such as `TERM`, `KILL`, `STOP`, `CONT`) to process `pid` with
/// `kill(1)` (this workspace forbids `unsafe`, so no `libc::kill`).
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap_or_else(|e| panic!("cannot run kill: {e}"));
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// A running `holdfast run -f FILE --state-dir <project>/state`, with its log in
/// `<project>/controller.log`.
///
/// Stop it with [`Controller::stop`], which asserts a clean exit. If a test fails first,
/// dropping it SIGKILLs the process and prints its log. Declare it after the
/// [`TestProject`] so that it is dropped (and the controller gone) before the project's
/// containers are cleaned up.
#[derive(Debug)]
pub struct Controller {
    child: Child,
    log: PathBuf,
    done: bool,
}

impl Controller {
    /// Starts a controller for the desired-state file `file` of `project`.
    pub fn start(project: &TestProject, file: &Path) -> Controller {
        let log = project.dir.join("controller.log");
        let out = File::create(&log).unwrap();
        let child = Command::new(holdfast_bin())
            .arg("run")
            .arg("-f")
            .arg(file)
            .arg("--state-dir")
            .arg(project.dir.join("state"))
            .arg("--socket")
            .arg(project.dir.join("holdfast.sock"))
            .env("NO_COLOR", "1")
            .env("HOLDFAST_LOG", "info,holdfast=debug")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", holdfast_bin().display()));
        Controller {
            child,
            log,
            done: false,
        }
    }

    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the controller logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics unless the controller is still running.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("the controller exited unexpectedly ({status})");
        }
    }

    /// Waits (up to `timeout`) until the controller is idle: its log has not grown for
    /// `quiet`, and the last reconcile it logged ended after the last Docker event it
    /// logged (both are debug lines, which [`Controller::start`] turns on). Panics when it
    /// does not settle.
    ///
    /// A reconcile runs for tens of milliseconds, longer on a loaded machine, and one
    /// follows every container start; a fault meant to find the controller at rest (see
    /// [`Controller::pause`]) must wait for it.
    pub fn wait_idle(&self, quiet: Duration, timeout: Duration) {
        let mut last_len = u64::MAX;
        let mut since = Instant::now();
        let settled = wait_until(timeout, || {
            let len = std::fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0);
            if len != last_len {
                last_len = len;
                since = Instant::now();
                return false;
            }
            if since.elapsed() < quiet {
                return false;
            }
            let log = self.log();
            let last_event = log.rfind("docker event");
            let last_reconcile = log.rfind("reconciled");
            last_event.is_none() || last_event < last_reconcile
        });
        assert!(
            settled.is_some(),
            "the controller did not settle within {timeout:?} (this looks for its `docker event` \
             and `reconciled` debug lines)"
        );
    }

    /// The lines the controller logged at WARN or ERROR level.
    pub fn warnings(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
            .map(str::to_string)
            .collect()
    }

    /// Freezes the controller (SIGSTOP): it neither sees events nor acts until
    /// [`Controller::resume`]. A reconcile in progress freezes half-done, so call
    /// [`Controller::wait_idle`] first when the controller should be found at rest.
    pub fn pause(&self) {
        send_signal(self.pid(), "STOP");
    }

    /// Lets a paused controller go on (SIGCONT).
    pub fn resume(&self) {
        send_signal(self.pid(), "CONT");
    }

    /// Sends SIGTERM and asserts that the controller exits 0 within 30 s.
    pub fn stop(mut self) {
        self.assert_running();
        send_signal(self.pid(), "TERM");
        let mut status = None;
        let waited = wait_until(Duration::from_secs(30), || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        assert!(
            waited.is_some(),
            "the controller did not exit within 30 s of SIGTERM"
        );
        self.done = true;
        let status = status.unwrap();
        assert!(
            status.success(),
            "the controller exited with {status} after SIGTERM, not 0"
        );
        eprintln!(
            "controller stopped cleanly {} ms after SIGTERM",
            waited.unwrap().as_millis()
        );
        let unexpected: Vec<String> = self
            .warnings()
            .into_iter()
            .filter(|l| {
                !l.contains("reason=\"DriftDetected\"") && !l.contains("reason=\"Restarted\"")
            })
            .collect();
        if !unexpected.is_empty() {
            eprintln!(
                "the controller warned (besides drift and unhealthy restarts):\n{}",
                unexpected.join("\n")
            );
        }
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        if !self.done {
            // SIGKILL also ends a paused process.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "---- controller log ({}) ----\n{}---- end of controller log ----",
                self.log.display(),
                self.log()
            );
        }
    }
}

/// The engine's Unix socket: `DOCKER_HOST` when it is `unix://PATH`, none when it is
/// another kind of address, else `/var/run/docker.sock`.
pub fn engine_socket() -> Option<PathBuf> {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if !host.is_empty() => host.strip_prefix("unix://").map(PathBuf::from),
        _ => Some(PathBuf::from("/var/run/docker.sock")),
    }
}

/// `GET path` on the engine's API over its Unix socket (HTTP/1.0, so the body comes
/// whole, not chunked). Returns the status code and the body, or `None` when the socket
/// cannot be reached or the answer cannot be read.
pub fn engine_get(path: &str) -> Option<(u16, Vec<u8>)> {
    let mut stream = UnixStream::connect(engine_socket()?).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n").ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&answer[..split]).ok()?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, answer[split + 4..].to_vec()))
}

/// What `docker inspect` says about one container, in the terms the suites check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    /// Full container ID.
    pub id: String,
    /// Container name, without Docker's leading `/`.
    pub name: String,
    /// Whether it runs.
    pub running: bool,
    /// `State.StartedAt`: changes whenever the container is started again.
    pub started_at: String,
    /// `State.Health.Status` (`starting`, `healthy`, `unhealthy`), if it has a check.
    pub health: Option<String>,
    /// `Config.Env`, `KEY=value` each.
    pub env: Vec<String>,
    /// `Config.Labels`.
    pub labels: BTreeMap<String, String>,
    /// `Config.Image`: the image as it was asked for.
    pub image: String,
    /// Names of the networks it is attached to.
    pub networks: Vec<String>,
}

impl Live {
    /// Reads one element of `docker inspect`'s output.
    pub fn from_inspect(v: &serde_json::Value) -> Live {
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
        let health = &v["State"]["Health"];
        Live {
            id: text(&v["Id"]),
            name: text(&v["Name"]).trim_start_matches('/').to_string(),
            running: v["State"]["Running"] == true,
            started_at: text(&v["State"]["StartedAt"]),
            health: health["Status"].as_str().map(str::to_string),
            env: v["Config"]["Env"]
                .as_array()
                .map(|a| a.iter().map(text).collect())
                .unwrap_or_default(),
            labels: v["Config"]["Labels"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), text(v))).collect())
                .unwrap_or_default(),
            image: text(&v["Config"]["Image"]),
            networks: v["NetworkSettings"]["Networks"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default(),
        }
    }

    /// The container named or identified `name_or_id`, if it exists.
    ///
    /// Asks the engine's API directly over its Unix socket ([`engine_get`]): about a
    /// millisecond, so polling every 20 ms neither loads the machine (a `docker` process
    /// every 20 ms per test would, and would slow the very engine being measured) nor
    /// blurs the measurement. Falls back to `docker container inspect` when the socket
    /// cannot be reached (a TCP `DOCKER_HOST`, say).
    pub fn get(name_or_id: &str) -> Option<Live> {
        let v: serde_json::Value = match engine_get(&format!("/containers/{name_or_id}/json")) {
            Some((200, body)) => serde_json::from_slice(&body).ok()?,
            Some(_) => return None,
            None => {
                let out = docker(&["container", "inspect", name_or_id]);
                if !out.status.success() {
                    return None;
                }
                let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
                v.get_mut(0)?.take()
            }
        };
        Some(Live::from_inspect(&v))
    }

    /// The one container of `service` in `project` (`None` when there is none, or more
    /// than one).
    pub fn of_service(project: &TestProject, service: &str) -> Option<Live> {
        project.inspect(service).as_ref().map(Live::from_inspect)
    }

    /// The value of environment variable `key`.
    pub fn env_var(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
    }

    /// Running, and healthy if it has a health check.
    pub fn is_ready(&self) -> bool {
        self.running && self.health.as_deref().is_none_or(|h| h == "healthy")
    }
}

/// Waits (up to 60 s) until `service` of `project` has one container, running and
/// healthy if it has a check, and returns it. Panics otherwise.
pub fn wait_ready(project: &TestProject, service: &str) -> Live {
    let mut live = None;
    let waited = wait_until(Duration::from_secs(60), || {
        live = Live::of_service(project, service).filter(Live::is_ready);
        live.is_some()
    });
    assert!(
        waited.is_some(),
        "service {service} of project {} was not up within 60 s of the controller starting",
        project.name
    );
    live.unwrap()
}

/// Runs `docker ARGS` as a fault: panics unless it succeeds, and returns the instant
/// just before it ran, from which recovery is measured.
pub fn inject(args: &[&str]) -> Instant {
    let at = Instant::now();
    docker_ok(args);
    at
}

/// Polls `recovered` every 20 ms (see [`wait_until`]) until it holds and returns the
/// time since `fault_at`, printing it as `recovery after WHAT: N ms`. Panics when it does
/// not hold within `timeout`.
pub fn measure_recovery(
    what: &str,
    fault_at: Instant,
    timeout: Duration,
    recovered: impl FnMut() -> bool,
) -> Duration {
    let waited = wait_until(timeout, recovered);
    let elapsed = fault_at.elapsed();
    assert!(
        waited.is_some(),
        "no recovery after {what}: the service was not back in its desired state {} ms after the fault",
        elapsed.as_millis()
    );
    eprintln!("recovery after {what}: {} ms", elapsed.as_millis());
    elapsed
}

/// Whether `now` is `before`'s service back in its desired state after a fault: running,
/// with the file's `MODE`, and either another container or the same one started again
/// (so a container that has not gone down yet does not count).
pub fn is_back(before: &Live, now: &Live) -> bool {
    now.is_ready()
        && now.env_var("MODE") == Some(FILE_MODE)
        && (now.id != before.id || now.started_at != before.started_at)
}

/// Injects a fault `times` times into the running [`SERVICE`] of `project` and measures
/// each recovery ([`is_back`], polled by container name, within `timeout` each).
/// `fault` gets the container as it was and returns the instant the fault began (see
/// [`inject`]). After each recovery, asserts that the controller still runs and that the
/// service has exactly one container.
pub fn repeat_fault(
    project: &TestProject,
    controller: &mut Controller,
    what: &str,
    times: usize,
    timeout: Duration,
    mut fault: impl FnMut(&Live) -> Instant,
) -> Recoveries {
    let mut recoveries = Recoveries::new(what);
    for _ in 0..times {
        let before = wait_ready(project, SERVICE);
        let at = fault(&before);
        recoveries.push(measure_recovery(what, at, timeout, || {
            Live::get(&before.name).is_some_and(|now| is_back(&before, &now))
        }));
        controller.assert_running();
        assert_eq!(
            project.container_ids().len(),
            1,
            "after recovering from {what}, the project should have exactly one container"
        );
    }
    recoveries.report();
    recoveries
}

/// Recovery times of one kind of fault.
#[derive(Debug, Clone, Default)]
pub struct Recoveries {
    /// The fault, as printed (`SIGKILL`, `docker stop`, ...).
    pub what: String,
    /// One per injected fault, in order.
    pub samples: Vec<Duration>,
}

impl Recoveries {
    /// No samples yet.
    pub fn new(what: &str) -> Self {
        Recoveries {
            what: what.to_string(),
            samples: Vec::new(),
        }
    }

    /// Adds one measurement.
    pub fn push(&mut self, d: Duration) {
        self.samples.push(d);
    }

    fn sorted(&self) -> Vec<Duration> {
        let mut s = self.samples.clone();
        s.sort();
        s
    }

    /// The median (the upper one of the middle two for an even count). Zero when empty.
    pub fn median(&self) -> Duration {
        self.sorted()
            .get(self.samples.len() / 2)
            .copied()
            .unwrap_or_default()
    }

    /// The longest. Zero when empty.
    pub fn max(&self) -> Duration {
        self.samples.iter().max().copied().unwrap_or_default()
    }

    /// Prints `recovery after WHAT: median N ms, max M ms over K faults`.
    pub fn report(&self) {
        let all: Vec<String> = self
            .samples
            .iter()
            .map(|d| d.as_millis().to_string())
            .collect();
        eprintln!(
            "recovery after {}: median {} ms, max {} ms over {} faults ({} ms)",
            self.what,
            self.median().as_millis(),
            self.max().as_millis(),
            self.samples.len(),
            all.join(", ")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_api_answers_over_the_socket() {
        holdfast_testkit::require_engine();
        if engine_socket().is_some_and(|p| p.exists()) {
            assert_eq!(engine_get("/_ping"), Some((200, b"OK".to_vec())));
            assert_eq!(
                engine_get("/containers/holdfast-no-such-container/json").map(|(s, _)| s),
                Some(404)
            );
        }
        assert_eq!(Live::get("holdfast-no-such-container"), None);
    }

    #[test]
    fn median_and_max() {
        let mut r = Recoveries::new("x");
        for ms in [300, 100, 900, 200, 250] {
            r.push(Duration::from_millis(ms));
        }
        assert_eq!(r.median(), Duration::from_millis(250));
        assert_eq!(r.max(), Duration::from_millis(900));
        assert_eq!(Recoveries::new("y").median(), Duration::ZERO);
    }

    #[test]
    fn reads_inspect_output() {
        let v = serde_json::json!({
            "Id": "abc",
            "Name": "/p-app",
            "State": {"Running": true, "StartedAt": "t1", "Health": {"Status": "healthy"}},
            "Config": {"Env": ["MODE=from-file", "PATH=/bin"], "Labels": {"a": "b"}, "Image": "img"}
        });
        let live = Live::from_inspect(&v);
        assert_eq!(live.name, "p-app");
        assert_eq!(live.env_var("MODE"), Some("from-file"));
        assert_eq!(live.env_var("MOD"), None);
        assert!(live.is_ready());
        let mut unhealthy = live.clone();
        unhealthy.health = Some("unhealthy".into());
        assert!(!unhealthy.is_ready());
        let no_check = Live::from_inspect(&serde_json::json!({
            "State": {"Running": true, "Health": null}
        }));
        assert_eq!(no_check.health, None);
        assert!(no_check.is_ready());
    }
}
