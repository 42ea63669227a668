//! The Docker engine as the benchmark sees it: the `docker` CLI, its event stream, and
//! guards that remove what the benchmark created and stop the controllers it started.
//!
//! Everything the benchmark creates belongs to a [`Project`] whose name starts with
//! `hfbench-`; cleanup selects objects by a project label only, so it never touches
//! other containers.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
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

/// Runs `cmd` (stdin closed, output captured) and waits for it, killing it and failing
/// when it runs longer than `timeout`. The wait itself blocks (a watchdog thread does
/// the killing), so the moment it returns is the moment the command exited: callers
/// may time it. Fails unless the command exits 0.
pub fn output_within(cmd: &mut Command, timeout: Duration) -> Result<std::process::Output> {
    let shown = format!("{cmd:?}");
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {shown}"))?;
    let pid = child.id();
    let (done, finished) = channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let expired = matches!(
            finished.recv_timeout(timeout),
            Err(RecvTimeoutError::Timeout)
        );
        if expired {
            signal(pid, "KILL");
        }
        expired
    });
    let out = child.wait_with_output();
    let _ = done.send(());
    let expired = watchdog.join().unwrap_or(false);
    let out = out.with_context(|| format!("cannot wait for {shown}"))?;
    if expired {
        bail!("{shown} did not finish within {timeout:?} and was killed");
    }
    if !out.status.success() {
        bail!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out)
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
    socket: PathBuf,
}

impl Controller {
    /// Starts `holdfast run -f FILE` for `project`.
    pub fn start(holdfast: &Path, project: &Project, file: &Path) -> Result<Self> {
        Self::spawn(holdfast, project, &["-f".into(), file.into()])
    }

    /// Starts `holdfast run SOURCE_ARGS` for `project`, where `source_args` name the
    /// source, such as `--git URL --interval 1h --webhook-listen ADDR ...`.
    pub fn start_with(
        holdfast: &Path,
        project: &Project,
        source_args: &[OsString],
    ) -> Result<Self> {
        Self::spawn(holdfast, project, source_args)
    }

    /// Starts `holdfast run -f FILE EXTRA...` for `project` with `DOCKER_HOST` =
    /// `docker_host` when given (a counting proxy, a second engine).
    pub fn start_on(
        holdfast: &Path,
        project: &Project,
        file: &Path,
        extra: &[&str],
        docker_host: Option<&str>,
    ) -> Result<Self> {
        let mut args: Vec<OsString> = vec!["-f".into(), file.into()];
        args.extend(extra.iter().map(OsString::from));
        Self::spawn_with(holdfast, project, &args, docker_host)
    }

    fn spawn(holdfast: &Path, project: &Project, source_args: &[OsString]) -> Result<Self> {
        Self::spawn_with(holdfast, project, source_args, None)
    }

    fn spawn_with(
        holdfast: &Path,
        project: &Project,
        source_args: &[OsString],
        docker_host: Option<&str>,
    ) -> Result<Self> {
        let log = project.dir.path().join("holdfast-run.log");
        let log_file = std::fs::File::create(&log).context("cannot create the log file")?;
        let mut cmd = Command::new(holdfast);
        if let Some(host) = docker_host {
            cmd.env("DOCKER_HOST", host);
        }
        let child = cmd
            .arg("run")
            .args(source_args)
            .arg("--state-dir")
            .arg(project.state_dir())
            .arg("--socket")
            .arg(project.dir.path().join("holdfast.sock"))
            .args(["--log-format", "json"])
            // Info, plus one debug line per reconcile, so that they can be counted.
            .env(
                "HOLDFAST_LOG",
                "info,holdfast::runtime::controller=debug,holdfast::runtime::status=debug",
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("cannot start {}", holdfast.display()))?;
        let socket = project.dir.path().join("holdfast.sock");
        Ok(Controller { child, log, socket })
    }

    /// The controller's API socket.
    pub fn socket(&self) -> &Path {
        &self.socket
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

    /// Each JSON line of the controller's log so far, with its timestamp.
    pub fn log_lines(&self) -> Vec<LogLine> {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|mut v| {
                let time = v["timestamp"].as_str()?;
                // tracing-subscriber writes RFC 3339 UTC timestamps, as Docker does.
                let time_ns = holdfast_testkit::parse_docker_time(time)
                    .duration_since(UNIX_EPOCH)
                    .ok()
                    .and_then(|d| u64::try_from(d.as_nanos()).ok())?;
                Some(LogLine {
                    time_ns,
                    fields: v["fields"].take(),
                })
            })
            .collect()
    }

    /// Waits until the log has a line whose message starts with `message` and returns
    /// that line's field `key`, at most `timeout`.
    pub fn wait_log_field(
        &mut self,
        message: &str,
        key: &str,
        timeout: Duration,
    ) -> Result<String> {
        let mut found = None;
        let seen = wait_until(timeout, Duration::from_millis(20), || {
            self.check_alive()?;
            found = self.log_fields().into_iter().find_map(|f| {
                f["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with(message))
                    .then(|| f[key].as_str().map(str::to_string))
                    .flatten()
            });
            Ok(found.is_some())
        })?;
        match found {
            Some(value) if seen => Ok(value),
            _ => bail!(
                "holdfast run logged no `{message}` within {timeout:?}; log: {}",
                self.log.display()
            ),
        }
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

impl Events {
    /// The events of the `names` containers stamped at or after `after_ns`, received
    /// until each of them has had a `start` (true) or `timeout` passed (false). Events
    /// of other containers are dropped.
    pub fn until_started(
        &self,
        names: &[&str],
        after_ns: u64,
        timeout: Duration,
    ) -> (Vec<Event>, bool) {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let started = names.iter().all(|n| {
                seen.iter()
                    .any(|e: &Event| e.name == *n && e.action == "start")
            });
            if started {
                return (seen, true);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(e) if e.time_ns >= after_ns && names.contains(&e.name.as_str()) => {
                    seen.push(e);
                }
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    return (seen, false);
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

/// One line of the controller's JSON log.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// Its timestamp, nanoseconds since the epoch (microsecond resolution).
    pub time_ns: u64,
    /// Its `fields`: `message`, and for events `reason`, `object` and `project`.
    pub fields: serde_json::Value,
}

/// How long one HTTP exchange with the controller may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends `request` (a whole HTTP/1.1 request with `Connection: close`) on `stream` and
/// returns the answer's status code and body.
fn http_exchange(mut stream: impl Read + Write, request: &[u8]) -> Result<(u16, Vec<u8>)> {
    stream.write_all(request)?;
    stream.flush()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("an HTTP answer without a header end")?;
    let head = String::from_utf8_lossy(&answer[..end]).to_string();
    let mut body = answer[end + 4..].to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .with_context(|| format!("odd HTTP status line in {head:?}"))?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if chunked {
        body = dechunk(&body)?;
    }
    Ok((status, body))
}

/// Decodes a chunked HTTP body.
fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("a truncated chunked body")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]).to_string();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .with_context(|| format!("bad chunk size {size_text:?}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = data.get(..size).context("a truncated chunk")?;
        out.extend_from_slice(chunk);
        data = data.get(size + 2..).context("a truncated chunk")?;
    }
}

/// `GET path` on the controller's API socket; the JSON answer, which must be 200.
pub fn api_get(socket: &Path, path: &str) -> Result<serde_json::Value> {
    let stream = UnixStream::connect(socket)
        .with_context(|| format!("cannot connect to {}", socket.display()))?;
    stream.set_read_timeout(Some(HTTP_TIMEOUT))?;
    stream.set_write_timeout(Some(HTTP_TIMEOUT))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: holdfast\r\nConnection: close\r\n\r\n");
    let (status, body) = http_exchange(stream, request.as_bytes())?;
    if status != 200 {
        bail!(
            "GET {path}: {status} {}",
            String::from_utf8_lossy(&body).trim()
        );
    }
    serde_json::from_slice(&body).with_context(|| format!("GET {path}: not JSON"))
}

/// Sends a GitLab-style push webhook (`X-Gitlab-Token: secret`) to `POST
/// http://address/v1/webhook`; returns the status code.
pub fn post_webhook(address: &str, secret: &str, body: &str) -> Result<u16> {
    let addr: SocketAddr = address
        .parse()
        .with_context(|| format!("not a socket address: {address}"))?;
    let stream = TcpStream::connect_timeout(&addr, HTTP_TIMEOUT)
        .with_context(|| format!("cannot connect to {address}"))?;
    stream.set_read_timeout(Some(HTTP_TIMEOUT))?;
    stream.set_write_timeout(Some(HTTP_TIMEOUT))?;
    stream.set_nodelay(true)?;
    let request = format!(
        "POST /v1/webhook HTTP/1.1\r\nHost: {address}\r\nX-Gitlab-Event: Push Hook\r\n\
         X-Gitlab-Token: {secret}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    Ok(http_exchange(stream, request.as_bytes())?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that answers with `answer` and keeps what was written.
    struct Canned {
        answer: std::io::Cursor<Vec<u8>>,
        written: Vec<u8>,
    }

    impl Read for Canned {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.answer.read(buf)
        }
    }

    impl Write for Canned {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn exchange(answer: &[u8]) -> Result<(u16, Vec<u8>)> {
        let stream = Canned {
            answer: std::io::Cursor::new(answer.to_vec()),
            written: Vec::new(),
        };
        http_exchange(stream, b"GET / HTTP/1.1\r\n\r\n")
    }

    #[test]
    fn http_answers_parse() {
        let (status, body) =
            exchange(b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}").unwrap();
        assert_eq!((status, body.as_slice()), (202, &b"{}"[..]));
        let (status, body) = exchange(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\n{\"a\r\n3\r\n\":1\r\n1\r\n}\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"{\"a\":1}"[..]));
        assert!(exchange(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(dechunk(b"zz\r\n").is_err());
        assert!(dechunk(b"5\r\nab").is_err());
    }
}
