//! The Docker engine as the benchmark sees it: the `docker` CLI, its event stream, and
//! guards that remove what the benchmark created and stop the controllers it started.
//!
//! Everything the benchmark creates belongs to a [`Project`] whose name starts with
//! `hfbench-`; cleanup selects objects by a project label only, so it never touches
//! other containers.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

/// The labels that name a project on the objects the benchmark makes: holdfast's, the
/// one docker-compose sets, and the one the benchmark puts on its peer containers.
pub const PROJECT_LABELS: &[&str] = &[
    "io.holdfast.project",
    "com.docker.compose.project",
    PEER_LABEL,
];

/// The label on containers and networks the benchmark creates itself.
pub const PEER_LABEL: &str = "hfbench.project";

/// Runs `program ARGS`; fails unless it exits 0. Returns trimmed stdout.
pub fn run(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run `{program}`"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        bail!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            lines.join(" / ")
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Runs `docker ARGS`; fails unless it exits 0. Returns trimmed stdout.
pub fn docker(args: &[&str]) -> Result<String> {
    run("docker", args)
}

/// Wall-clock time in nanoseconds since the epoch: the clock the engine stamps its
/// events with (`timeNano`), when the engine runs on this machine.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// `docker inspect` of the named containers that exist (missing ones are skipped).
pub fn inspect(names: &[&str]) -> Result<Vec<serde_json::Value>> {
    let mut args = vec!["inspect", "--type", "container"];
    args.extend_from_slice(names);
    // `docker inspect` exits 1 when one of the names is missing but still prints the rest.
    let out = Command::new("docker")
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .context("cannot run `docker inspect`")?;
    match serde_json::from_slice::<serde_json::Value>(&out.stdout) {
        Ok(serde_json::Value::Array(items)) => Ok(items),
        _ => Ok(Vec::new()),
    }
}

/// How many of the named containers exist and run.
pub fn running_count(names: &[&str]) -> Result<usize> {
    Ok(inspect(names)?
        .iter()
        .filter(|c| c["State"]["Running"] == true)
        .count())
}

/// Polls `condition` every `every` until it holds (true) or `timeout` passes (false).
pub fn wait_until(
    timeout: Duration,
    every: Duration,
    mut condition: impl FnMut() -> Result<bool>,
) -> Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        if condition()? {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(every);
    }
}

/// Container IDs of `project` (by any of [`PROJECT_LABELS`]), sorted.
pub fn container_ids(project: &str) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    for key in PROJECT_LABELS {
        let filter = format!("label={key}={project}");
        let out = docker(&["ps", "-aq", "--no-trunc", "--filter", &filter])?;
        ids.extend(out.lines().map(str::to_string));
    }
    ids.sort();
    Ok(ids)
}

/// What cleanup could not remove, for the report.
static LEFTOVERS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// What cleanup could not remove so far.
pub fn leftovers() -> Vec<String> {
    LEFTOVERS.lock().map(|l| l.clone()).unwrap_or_default()
}

/// How many containers network `id` lists as attached, if it can be inspected.
fn inspect_network_containers(id: &str) -> Option<usize> {
    let out = docker(&["network", "inspect", id]).ok()?;
    let v: serde_json::Value = serde_json::from_str(&out).ok()?;
    Some(
        v[0]["Containers"]
            .as_object()
            .map_or(0, serde_json::Map::len),
    )
}

/// Removes network `id` of `project`, retrying for a few seconds: the engine may still
/// be releasing the endpoints of containers removed a moment ago.
fn remove_network(project: &str, id: &str) {
    let mut last = None;
    for _ in 0..10 {
        match docker(&["network", "rm", id]) {
            Ok(_) => return,
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    if let Some(e) = last {
        let attached = inspect_network_containers(id);
        let why = if attached == Some(0) {
            " (no container is attached: the engine's count of the network's endpoints is stale; a fault of the engine, not of holdfast; the network stays, and the next run reuses it)"
        } else {
            ""
        };
        let message = format!("cannot remove {project}'s network {id}: {e:#}{why}");
        eprintln!("warning: {message}");
        if let Ok(mut l) = LEFTOVERS.lock() {
            l.push(message);
        }
    }
}

/// Removes every container and network labelled as `project`'s. Best effort: errors
/// are printed, not returned, as this also runs in `Drop`.
fn remove_project(project: &str) {
    let ids = match container_ids(project) {
        Ok(ids) => ids,
        Err(e) => {
            eprintln!("warning: cannot list {project}'s containers: {e:#}");
            return;
        }
    };
    for chunk in ids.chunks(50) {
        let mut args = vec!["rm", "-f", "-v"];
        args.extend(chunk.iter().map(String::as_str));
        if let Err(e) = docker(&args) {
            eprintln!("warning: cannot remove {project}'s containers: {e:#}");
        }
    }
    for key in PROJECT_LABELS {
        let filter = format!("label={key}={project}");
        let Ok(out) = docker(&["network", "ls", "-q", "--filter", &filter]) else {
            continue;
        };
        for id in out.lines() {
            remove_network(project, id);
        }
    }
}

/// A project the benchmark owns: its containers and networks are removed when it is
/// created (leftovers of an interrupted run) and when it is dropped.
#[derive(Debug)]
pub struct Project {
    /// The project name, `hfbench-...`.
    pub name: String,
    /// A private folder for its files and the controller's state.
    pub dir: tempfile::TempDir,
}

impl Project {
    /// Claims project `name`, which must start with `hfbench-`.
    pub fn new(name: &str) -> Result<Self> {
        if !name.starts_with("hfbench-") {
            bail!("benchmark project names start with `hfbench-`, not `{name}`");
        }
        remove_project(name);
        let dir = tempfile::Builder::new()
            .prefix(&format!("{name}-"))
            .tempdir()
            .context("cannot create a temporary folder")?;
        Ok(Project {
            name: name.to_string(),
            dir,
        })
    }

    /// Writes `contents` to `file` in the project's folder and returns its path.
    pub fn write(&self, file: &str, contents: &str) -> Result<PathBuf> {
        let path = self.dir.path().join(file);
        std::fs::write(&path, contents)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }

    /// The project's state folder for holdfast (`--state-dir`).
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        remove_project(&self.name);
    }
}

/// Sends `signal` (a `kill` signal name such as `TERM`) to process `pid`.
fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// A `holdfast run` in the background, logging JSON lines to a file; stopped with
/// SIGTERM (SIGKILL after 10 s) when dropped.
#[derive(Debug)]
pub struct Controller {
    child: Child,
    log: PathBuf,
}

impl Controller {
    /// Starts `holdfast run -f FILE` for `project`.
    pub fn start(holdfast: &Path, project: &Project, file: &Path) -> Result<Self> {
        let log = project.dir.path().join("holdfast-run.log");
        let log_file = std::fs::File::create(&log).context("cannot create the log file")?;
        let child = Command::new(holdfast)
            .arg("run")
            .arg("-f")
            .arg(file)
            .arg("--state-dir")
            .arg(project.state_dir())
            .arg("--socket")
            .arg(project.dir.path().join("holdfast.sock"))
            .args(["--log-format", "json"])
            // Info, plus one debug line per reconcile, so that they can be counted.
            .env("HOLDFAST_LOG", "info,holdfast::runtime::controller=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("cannot start {}", holdfast.display()))?;
        Ok(Controller { child, log })
    }

    /// The controller's process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails, with the end of its log, when the controller has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!("holdfast run exited ({status}):\n{}", tail.join("\n"));
        }
        Ok(())
    }

    /// The `fields` of each JSON line of the controller's log so far.
    fn log_fields(&self) -> Vec<serde_json::Value> {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|mut v| v["fields"].take())
            .collect()
    }

    /// Services the controller has reported Ready (from its JSON log), counting each
    /// service once.
    pub fn ready_services(&self) -> usize {
        let ready: std::collections::BTreeSet<String> = self
            .log_fields()
            .iter()
            .filter(|f| f["phase"] == "Ready")
            .filter_map(|f| f["object"].as_str().map(str::to_string))
            .collect();
        ready.len()
    }

    /// Reconciles the controller has run so far (its `reconciled` debug lines).
    pub fn reconciles(&self) -> usize {
        self.log_fields()
            .iter()
            .filter(|f| f["message"] == "reconciled")
            .count()
    }

    /// Waits until the controller has reported `services` services Ready and the
    /// `containers` all run, at most `timeout`.
    pub fn wait_converged(
        &mut self,
        services: usize,
        containers: &[&str],
        timeout: Duration,
    ) -> Result<()> {
        let converged = wait_until(timeout, Duration::from_millis(100), || {
            self.check_alive()?;
            Ok(self.ready_services() >= services && running_count(containers)? == containers.len())
        })?;
        if !converged {
            bail!(
                "holdfast run did not converge within {timeout:?} ({} of {services} services Ready); log: {}",
                self.ready_services(),
                self.log.display()
            );
        }
        Ok(())
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        signal(self.child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One container event.
#[derive(Debug, Clone)]
pub struct Event {
    /// Docker's action, such as `start` or `die`.
    pub action: String,
    /// The container's name.
    pub name: String,
    /// When the engine emitted it (`timeNano`).
    pub time_ns: u64,
}

/// A `docker events` process following container events that match filters, from the
/// moment it was started (`--since`, so no event is lost while it connects).
#[derive(Debug)]
pub struct Events {
    child: Child,
    rx: Receiver<Event>,
}

impl Events {
    /// Follows container events matching every `label` filter given (`KEY=VALUE`).
    pub fn follow(label: &str) -> Result<Self> {
        let now = now_ns();
        let since = format!("{}.{:09}", now / 1_000_000_000, now % 1_000_000_000);
        let mut child = Command::new("docker")
            .args(["events", "--since", &since, "--format", "{{json .}}"])
            .args(["--filter", "type=container", "--filter"])
            .arg(format!("label={label}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot run `docker events`")?;
        let stdout = child
            .stdout
            .take()
            .context("`docker events` has no stdout")?;
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                let event = Event {
                    action: v["Action"].as_str().unwrap_or_default().to_string(),
                    name: v["Actor"]["Attributes"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    time_ns: v["timeNano"].as_u64().unwrap_or(0),
                };
                if tx.send(event).is_err() {
                    return;
                }
            }
        });
        Ok(Events { child, rx })
    }

    /// Discards the events received so far.
    pub fn drain(&self) {
        while self.rx.try_recv().is_ok() {}
    }

    /// The first `start` of container `name` stamped at or after `after_ns`, waiting at
    /// most `timeout` (`None` on timeout), and the events of `name` stamped at or after
    /// `after_ns` that came before it.
    pub fn next_start(
        &self,
        name: &str,
        after_ns: u64,
        timeout: Duration,
    ) -> (Option<Event>, Vec<Event>) {
        let deadline = Instant::now() + timeout;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(e) if e.name != name || e.time_ns < after_ns => {}
                Ok(e) if e.action == "start" => return (Some(e), before),
                Ok(e) => before.push(e),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    return (None, before);
                }
            }
        }
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
