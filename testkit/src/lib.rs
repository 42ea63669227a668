//! Helpers for tests against the real Docker engine.
//!
//! - [`busybox_image`] builds a 2 MB image from Debian's `busybox-static` once per
//!   machine (no registry is needed); [`volume_image`] adds a `VOLUME` to it.
//! - [`TestProject`] gives each test its own project name and folder, and removes
//!   everything labelled with that project when dropped, so that tests can run in
//!   parallel and never touch containers they did not create.
//! - [`wait_until`] polls a condition with a deadline instead of sleeping and hoping.
//! - [`output_within`] runs a command to completion, but kills it (and fails the test)
//!   when it takes longer than a deadline.
//! - [`Daemon`] runs a long-lived process (such as `holdfast run`) with its output in a
//!   log file, stops it with SIGTERM, and kills it if the test ends first.
//! - [`engine::SecondEngine`] runs a dockerd of the test's own, to stop and start
//!   again (the machine's engine is never restarted).
//! - [`engines::nginx::TestNginx`] runs an nginx of the test's own on loopback ports.
//! - [`proxy::DockerProxy`] sits in front of an engine's socket, counts the API
//!   requests by method and path, and can cut connections.
//! - [`load::Load`] sends HTTP/1.1 requests at a fixed rate on keep-alive connections
//!   and never retries, so that every failed request shows (Go clients such as `hey`
//!   resend them).
//! - [`parse_docker_time`] reads the timestamps `docker inspect` prints, so that tests
//!   can order events (a container's creation after a health check passed).
//!
//! The engine is reached with the `docker` command, independently of the controller's
//! own client, so that tests check the controller's work from the outside.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod engine;
pub mod engines;
pub mod git;
pub mod load;
pub mod proxy;
mod scratch;
pub mod sshd;
pub mod web;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// The image every test service runs.
pub const BUSYBOX_IMAGE: &str = "holdfast-test/busybox:1";

/// One busybox service `app` without a health check: `sleep 3600` under an init
/// process so that stops are quick, with `MODE=from-file` in its environment to drift
/// from. Pass to [`TestProject::write`].
pub const SLEEPER_FILE: &str = r#"name: {{project}}
services:
  app:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
    environment:
      MODE: from-file
"#;

/// The label holdfast puts on everything a project owns.
pub const PROJECT_LABEL: &str = "io.holdfast.project";

/// Runs `docker ARGS` and returns its output. Panics with a clear message when the
/// engine does not answer: a test that needs Docker never skips silently.
pub fn docker(args: &[&str]) -> Output {
    match Command::new("docker").args(args).output() {
        Ok(out) => out,
        Err(e) => panic!(
            "cannot run `docker {}`: {e}; these tests need the docker CLI and a running engine",
            args.join(" ")
        ),
    }
}

/// Runs `docker ARGS`, panics unless it succeeds, and returns its trimmed stdout.
pub fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "`docker {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Panics unless the Docker engine answers.
pub fn require_engine() {
    let out = docker(&["info", "--format", "{{.ServerVersion}}"]);
    assert!(
        out.status.success(),
        "the Docker engine does not answer (`docker info` failed: {}); start dockerd — .ci/run does",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds [`BUSYBOX_IMAGE`] from `/bin/busybox` unless it exists, and returns its name.
pub fn busybox_image() -> &'static str {
    require_engine();
    build_busybox(&|args| docker(args));
    BUSYBOX_IMAGE
}

/// Builds [`BUSYBOX_IMAGE`] with the engine that `docker` (a `docker ARGS` runner)
/// reaches, unless that engine has it.
pub(crate) fn build_busybox(docker: &dyn Fn(&[&str]) -> Output) {
    let busybox = Path::new("/bin/busybox");
    let present = || {
        docker(&["image", "inspect", BUSYBOX_IMAGE])
            .status
            .success()
    };
    assert!(
        busybox.is_file() || present(),
        "/bin/busybox is missing: install Debian's busybox-static (.ci/run does)"
    );
    build_once(
        docker,
        BUSYBOX_IMAGE,
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nCMD [\"sh\"]\n",
        &[("busybox", busybox)],
    );
}

/// The image [`volume_image`] builds: [`BUSYBOX_IMAGE`] plus `VOLUME` [`IMAGE_VOLUME`].
pub const VOLUME_IMAGE: &str = "holdfast-test/busybox-volume:1";

/// The path [`VOLUME_IMAGE`] declares as a `VOLUME`, as redis does `/data`.
pub const IMAGE_VOLUME: &str = "/data";

/// Builds [`VOLUME_IMAGE`] (from [`busybox_image`]) unless it exists, and returns its
/// name: an image that declares a `VOLUME`, so that Docker gives every container made
/// from it an anonymous volume at [`IMAGE_VOLUME`] unless something else is mounted
/// there.
pub fn volume_image() -> &'static str {
    busybox_image();
    build_once(
        &|args| docker(args),
        VOLUME_IMAGE,
        &format!("FROM {BUSYBOX_IMAGE}\nVOLUME {IMAGE_VOLUME}\n"),
        &[],
    );
    VOLUME_IMAGE
}

/// Builds `tag` from `dockerfile` with `files` (name in the context, file to copy)
/// in its context, with the engine `docker` reaches, unless it has the image. The
/// build needs no network (`--network none`), so it works on an engine without a
/// bridge too.
pub(crate) fn build_once(
    docker: &dyn Fn(&[&str]) -> Output,
    tag: &str,
    dockerfile: &str,
    files: &[(&str, &Path)],
) {
    if docker(&["image", "inspect", tag]).status.success() {
        return;
    }
    let dir = scratch::TempDir::new("image-build");
    for (name, source) in files {
        std::fs::copy(source, dir.path().join(name)).unwrap();
    }
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
    let out = docker(&[
        "build",
        "-q",
        "--network",
        "none",
        "-t",
        tag,
        dir.path().to_str().unwrap(),
    ]);
    // Two test processes may build at once; either build is fine.
    assert!(
        out.status.success() || docker(&["image", "inspect", tag]).status.success(),
        "building {tag} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes. Returns how long
/// it took, or `None` on timeout.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if condition() {
            return Some(start.elapsed());
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `cmd` to completion and returns its output, like [`Command::output`], but kills
/// it and panics (with what it printed so far) when it runs longer than `timeout`, so
/// that a hung command fails the test instead of hanging it. Stdin is closed.
pub fn output_within(cmd: &mut Command, timeout: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => panic!("cannot run {cmd:?}: {e}"),
    };
    fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    }
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} did not finish within {timeout:?}; stdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&stdout.join().unwrap_or_default()),
                String::from_utf8_lossy(&stderr.join().unwrap_or_default())
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// Parses a timestamp as `docker inspect` prints it: RFC 3339 with up to nine
/// fractional digits and `Z` or a `+HH:MM`/`-HH:MM` offset, such as `Created`,
/// `State.StartedAt` or the `Start` and `End` of a health-check log entry. Panics on
/// anything else (or a time before 1970).
pub fn parse_docker_time(text: &str) -> SystemTime {
    let bad = || -> ! { panic!("not a Docker timestamp: {text:?}") };
    let num = |s: &str| -> i64 { s.parse().unwrap_or_else(|_| bad()) };
    let (date, rest) = text.split_once('T').unwrap_or_else(|| bad());
    let (time, offset_secs) = if let Some(t) = rest.strip_suffix('Z') {
        (t, 0)
    } else {
        let at = rest.rfind(['+', '-']).unwrap_or_else(|| bad());
        let (t, off) = rest.split_at(at);
        let (h, m) = off[1..].split_once(':').unwrap_or_else(|| bad());
        let secs = num(h) * 3600 + num(m) * 60;
        (t, if off.starts_with('-') { -secs } else { secs })
    };
    let d: Vec<&str> = date.split('-').collect();
    let [y, mo, da] = d.as_slice() else { bad() };
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let t: Vec<&str> = hms.split(':').collect();
    let [h, mi, se] = t.as_slice() else { bad() };
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        bad();
    }
    let nanos = if frac.is_empty() {
        0
    } else {
        num(frac) * 10_i64.pow(9 - frac.len() as u32)
    };
    // Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
    let (y, m, d) = (num(y), num(mo), num(da));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + num(h) * 3600 + num(mi) * 60 + num(se) - offset_secs;
    let secs = u64::try_from(secs).unwrap_or_else(|_| bad());
    SystemTime::UNIX_EPOCH + Duration::new(secs, u32::try_from(nanos).unwrap_or_else(|_| bad()))
}

/// A long-lived child process (such as `holdfast run`) whose stdout and stderr go to a
/// log file that tests can poll. Dropping it kills the process if it still runs, and
/// prints the log when the test is failing.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    log: PathBuf,
    exited: Option<ExitStatus>,
}

impl Daemon {
    /// Starts `cmd` with stdin closed and stdout and stderr appended to `log`.
    pub fn spawn(mut cmd: Command, log: impl Into<PathBuf>) -> Daemon {
        let log = log.into();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", log.display()));
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        Daemon {
            child,
            log,
            exited: None,
        }
    }

    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the process printed so far.
    pub fn log(&self) -> String {
        std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Waits until the log contains `needle`; false after `timeout`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.log().contains(needle)).is_some()
    }

    /// The exit status, if the process has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().unwrap();
        }
        self.exited
    }

    /// Sends the signal `name` (`TERM`, `STOP`, `CONT`, ...) with `kill -NAME PID`.
    /// `STOP` and `CONT` freeze and thaw the process, so that a test can change things
    /// behind its back without racing it.
    pub fn signal(&self, name: &str) {
        let pid = self.pid().to_string();
        let out = Command::new("kill")
            .args([format!("-{name}").as_str(), &pid])
            .output()
            .unwrap_or_else(|e| panic!("cannot run `kill -{name} {pid}`: {e}"));
        assert!(
            out.status.success(),
            "`kill -{name} {pid}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Sends SIGTERM and waits for the process to exit. Panics (after killing it) when
    /// it is still running after `timeout`.
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(status) = self.try_wait() {
            return status;
        }
        let pid = self.pid();
        self.signal("TERM");
        if wait_until(timeout, || self.try_wait().is_some()).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            panic!(
                "process {pid} did not exit within {timeout:?} of SIGTERM; its log:\n{}",
                self.log()
            );
        }
        self.exited.unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.try_wait().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- log of process {} ---\n{}", self.pid(), self.log());
        }
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// One test's project: a unique name, a folder for its desired-state file, and cleanup
/// of every container, network and volume labelled with the project when dropped.
#[derive(Debug)]
pub struct TestProject {
    /// The project name (also the `name:` to write in the file).
    pub name: String,
    /// The folder that holds the desired-state file.
    pub dir: PathBuf,
}

impl TestProject {
    /// A fresh project for the test `test` (a short name).
    pub fn new(test: &str) -> Self {
        require_engine();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let clean: String = test
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let name = format!("hft-{clean}-{}-{n}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        TestProject { name, dir }
    }

    /// Writes `holdfast.yaml` (after replacing `{{project}}` and `{{image}}`) and returns its path.
    pub fn write(&self, yaml: &str) -> PathBuf {
        let path = self.file();
        let text = yaml
            .replace("{{project}}", &self.name)
            .replace("{{image}}", BUSYBOX_IMAGE);
        // Write then rename, as editors do, so a watcher never reads half a file.
        let tmp = self.dir.join(".holdfast.yaml.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        path
    }

    /// The path of the desired-state file that [`TestProject::write`] writes.
    pub fn file(&self) -> PathBuf {
        self.dir.join("holdfast.yaml")
    }

    /// A state directory inside the project's folder, for `--state-dir` (so that tests
    /// never touch `/var/lib/holdfast` or each other's status).
    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// Writes a file next to the desired-state file.
    pub fn write_file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// The filter that selects this project's objects.
    pub fn filter(&self) -> String {
        format!("label={PROJECT_LABEL}={}", self.name)
    }

    /// IDs of this project's containers, running or not.
    pub fn container_ids(&self) -> Vec<String> {
        let out = docker_ok(&["ps", "-aq", "--no-trunc", "--filter", &self.filter()]);
        out.lines().map(str::to_string).collect()
    }

    /// The ID of the container of `service`, if there is exactly one.
    pub fn container_of(&self, service: &str) -> Option<String> {
        let filter = format!("label=io.holdfast.service={service}");
        let out = docker_ok(&[
            "ps",
            "-aq",
            "--no-trunc",
            "--filter",
            &self.filter(),
            "--filter",
            &filter,
        ]);
        let ids: Vec<&str> = out.lines().collect();
        match ids.as_slice() {
            [one] => Some(one.to_string()),
            _ => None,
        }
    }

    /// `docker inspect` of the container of `service`, as JSON.
    pub fn inspect(&self, service: &str) -> Option<serde_json::Value> {
        let id = self.container_of(service)?;
        let out = docker(&["inspect", &id]);
        if !out.status.success() {
            return None;
        }
        let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        Some(v.get_mut(0)?.take())
    }

    /// `State.StartedAt` of the container of `service`, if it has one.
    pub fn started_at(&self, service: &str) -> Option<String> {
        let c = self.inspect(service)?;
        c["State"]["StartedAt"].as_str().map(str::to_string)
    }

    /// Whether `service` has one container, running, and healthy if it has a health check.
    pub fn is_ready(&self, service: &str) -> bool {
        let Some(c) = self.inspect(service) else {
            return false;
        };
        let state = &c["State"];
        state["Running"] == true
            && match state.get("Health") {
                Some(h) if !h.is_null() => h["Status"] == "healthy",
                _ => true,
            }
    }
}

/// Removes (with their anonymous volumes) the containers that `docker` (a `docker ARGS`
/// runner) lists, those matching `filter` when given. Best effort.
pub(crate) fn remove_containers(docker: &dyn Fn(&[&str]) -> Output, filter: Option<&str>) {
    let mut list = vec!["ps", "-aq"];
    if let Some(filter) = filter {
        list.extend(["--filter", filter]);
    }
    let ids = docker(&list);
    let ids: Vec<String> = String::from_utf8_lossy(&ids.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f", "-v"];
        args.extend(ids.iter().map(String::as_str));
        let _ = docker(&args);
    }
}

impl Drop for TestProject {
    fn drop(&mut self) {
        let filter = self.filter();
        remove_containers(&|args| docker(args), Some(&filter));
        for kind in ["network", "volume"] {
            let out = docker(&[kind, "ls", "-q", "--filter", &filter]);
            for id in String::from_utf8_lossy(&out.stdout).lines() {
                let _ = docker(&[kind, "rm", id]);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_timestamps_parse() {
        let t = |s| {
            parse_docker_time(s)
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
        };
        assert_eq!(t("1970-01-01T00:00:00Z"), Duration::ZERO);
        assert_eq!(
            t("2026-11-25T20:06:52.359758341Z"),
            Duration::new(1_795_637_212, 359_758_341)
        );
        // Go trims trailing zeros of the fraction.
        assert_eq!(
            t("2026-11-25T19:58:58.14431643Z"),
            Duration::new(1_795_636_738, 144_316_430)
        );
        assert_eq!(
            t("2026-11-25T21:06:52.5+01:00"),
            Duration::new(1_795_637_212, 500_000_000)
        );
        assert_eq!(
            t("2024-02-29T00:00:00-00:30"),
            Duration::from_secs(1_709_166_600)
        );
    }
}
