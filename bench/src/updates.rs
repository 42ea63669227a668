//! Section 9: updates under load (issue 11). One backend, one load, one run; each arm
//! replaces the backend's container five times while a fixed-rate client that never
//! retries ([`holdfast_testkit::load`]) sends requests through the arm's proxy:
//!
//! - (a) `docker-compose up -d` recreating the service (stop, then start) behind nginx;
//! - (b) the seeds' hand-written blue-green script behind nginx: start green on a new
//!   loopback port, curl its health until 200, rewrite the nginx upstream,
//!   `nginx -s reload`, then stop and remove blue at once.
//!
//! The backend is busybox `httpd` in [`BUSYBOX_IMAGE`], with a CGI handler that sleeps
//! 20 ms (so requests are in flight during a switch) and a `/www/run` entry point that,
//! on SIGTERM, closes the listener, lets the requests in flight finish (0.5 s) and exits.
//! Its files are bind-mounted read-only from a folder of the bench; an update changes
//! the container's `REV` environment variable, which forces a new container.
//!
//! # Adding an arm (holdfast + Caddy, holdfast + nginx)
//!
//! An arm is a proxy the load can reach and a way to perform one update. Start the
//! proxy and the first version of the backend, then call [`run_arm`]:
//!
//! ```ignore
//! let backend = Backend::new(tmp.path())?;          // shared: same handler for every arm
//! // ... a holdfast file whose service is `backend.service_yaml("app", 0, None)` with
//! // `deploy.update_config.order: start-first`, a route for HOST to it, `holdfast run` ...
//! let target = Target { port: caddy_http_port, host: HOST.to_string() };
//! let arm = run_arm("(c) holdfast + Caddy 2.11", &target, &plan, &mut |rev| {
//!     // write the file with REV = rev, then wait (bounded) until holdfast reports the
//!     // update done and the old container is gone
//!     Ok(Updated { reloads: 1 })
//! })?;
//! arms.push(arm);
//! ```
//!
//! `run_arm` starts the load against `127.0.0.1:target.port` with `Host: target.host`,
//! calls the closure at each of [`Plan::updates_at`] (revision 1, 2, …), times each call
//! as the update's wall time (so it must return only once the old container is
//! removed), and reports the failures, the error window and latencies during the
//! updates against steady state. [`measure`] lists the arms in order; [`section`] writes
//! one table row per arm.
//!
//! Traffic goes to 127.0.0.0/8 only (published ports on 127.0.0.1, never a bridge
//! address); every container belongs to a [`Project`] named `hfbench-upd-*`, removed at
//! the end and on failure; every wait is bounded.

use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use holdfast_testkit::BUSYBOX_IMAGE;
use holdfast_testkit::engines::nginx::TestNginx;
use holdfast_testkit::load::{Load, LoadConfig, Outcome, Report, Stats};
use holdfast_testkit::web::free_port;

use crate::engine::{PEER_LABEL, Project, docker, output_within};

/// Marks around the section in docs/benchmarks.md.
pub const BEGIN: &str = "<!-- updates:begin -->";
/// See [`BEGIN`].
pub const END: &str = "<!-- updates:end -->";

/// The route's host, on every arm.
pub const HOST: &str = "app.bench.test";

/// The path the load requests: the 20 ms CGI handler.
pub const PATH: &str = "/cgi-bin/app";

/// How long one command of an update (a `docker` or `docker-compose` call, a reload)
/// may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a backend may take to answer 200 after its start.
const HEALTH_DEADLINE: Duration = Duration::from_secs(20);

/// How long the load may run past the planned duration while the last update finishes.
const OVERRUN: Duration = Duration::from_secs(30);

/// How long the load may take past its duration to send the requests already due.
const LAG_ALLOWANCE: Duration = Duration::from_secs(5);

/// The load and the update times, the same for every arm.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Requests per second.
    pub rate: f64,
    /// Keep-alive connections of the load.
    pub connections: usize,
    /// The share of POSTs.
    pub post_fraction: f64,
    /// How long the load runs (longer if the last update is still going).
    pub duration: Duration,
    /// When each update starts, from the start of the load.
    pub updates_at: Vec<Duration>,
}

impl Plan {
    /// 400 req/s over 32 connections for 30 s, 10 % POSTs, updates at 5, 10, 15, 20 and
    /// 25 s; with `quick`, 12 s and updates at 4 and 8 s.
    pub fn new(quick: bool) -> Plan {
        let (secs, at): (u64, Vec<u64>) = if quick {
            (12, vec![4, 8])
        } else {
            (30, vec![5, 10, 15, 20, 25])
        };
        Plan {
            rate: 400.0,
            connections: 32,
            post_fraction: 0.1,
            duration: Duration::from_secs(secs),
            updates_at: at.into_iter().map(Duration::from_secs).collect(),
        }
    }
}

/// Where the load goes: `127.0.0.1:port` with `Host: host`.
#[derive(Debug, Clone)]
pub struct Target {
    /// The proxy's HTTP port on 127.0.0.1.
    pub port: u16,
    /// The route's host.
    pub host: String,
}

/// What one update reports back to [`run_arm`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Updated {
    /// Proxy reloads (or configuration loads) the update made.
    pub reloads: u32,
}

/// One arm's results.
#[derive(Debug, Clone)]
pub struct Arm {
    /// Its name in the table, such as `(a) docker-compose up -d behind nginx`.
    pub name: String,
    /// Every request of the load.
    pub report: Report,
    /// When each update ran, from the start of the load.
    pub windows: Vec<Range<Duration>>,
    /// Proxy reloads of each update.
    pub reloads: Vec<u32>,
}

impl Arm {
    /// For each update, seconds from the first to the last failed request that started
    /// between its start and the next update's (0 when none failed).
    pub fn error_windows_per_update(&self) -> Vec<f64> {
        let ends: Vec<Duration> = self
            .windows
            .iter()
            .skip(1)
            .map(|w| w.start)
            .chain([Duration::MAX])
            .collect();
        self.windows
            .iter()
            .zip(ends)
            .map(|(w, next)| {
                let mut failed = self
                    .report
                    .failures()
                    .map(|r| r.start)
                    .filter(|t| (w.start..next).contains(t));
                let first = failed.next();
                let last = failed.last().or(first);
                first.zip(last).map_or(0.0, |(a, b)| (b - a).as_secs_f64())
            })
            .collect()
    }

    /// Update wall times, ms.
    pub fn update_ms(&self) -> Vec<f64> {
        self.windows
            .iter()
            .map(|w| (w.end - w.start).as_secs_f64() * 1e3)
            .collect()
    }
}

/// The backend's files: the CGI handler and the entry point, in a folder that every
/// container of every arm mounts at `/www` (read-only).
#[derive(Debug)]
pub struct Backend {
    /// The folder mounted at `/www`.
    pub dir: PathBuf,
}

/// The 20 ms handler: reads a POST body, sleeps, answers `rev REV METHOD`.
const HANDLER: &str = "#!/bin/sh\n\
[ -n \"$CONTENT_LENGTH\" ] && head -c \"$CONTENT_LENGTH\" >/dev/null\n\
sleep 0.02\n\
printf 'Content-Type: text/plain\\r\\n\\r\\nrev %s %s\\n' \"$REV\" \"$REQUEST_METHOD\"\n";

/// busybox httpd in the foreground; on SIGTERM it closes the listener, lets the
/// requests in flight finish and exits (a graceful backend).
const ENTRY: &str = "#!/bin/sh\n\
httpd -f -p 80 -h /www &\n\
pid=$!\n\
trap 'kill $pid; sleep 0.5; exit 0' TERM\n\
wait $pid\n";

impl Backend {
    /// Writes the backend's files into `dir/www`.
    pub fn new(dir: &Path) -> Result<Backend> {
        use std::os::unix::fs::PermissionsExt;
        let www = dir.join("www");
        std::fs::create_dir_all(www.join("cgi-bin"))?;
        for (path, text) in [(www.join("cgi-bin/app"), HANDLER), (www.join("run"), ENTRY)] {
            std::fs::write(&path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        }
        Ok(Backend { dir: www })
    }

    /// The service `name` as Compose YAML (two-space indented under `services:`) at
    /// revision `rev`, published on `127.0.0.1:port` when given.
    pub fn service_yaml(&self, name: &str, rev: u32, port: Option<u16>) -> String {
        let mut s = format!(
            "  {name}:\n    image: {BUSYBOX_IMAGE}\n    command: [\"/www/run\"]\n    \
             environment:\n      REV: \"{rev}\"\n    volumes:\n      - \"{}:/www:ro\"\n    \
             stop_grace_period: 10s\n",
            self.dir.display()
        );
        if let Some(port) = port {
            let _ = write!(s, "    ports:\n      - \"127.0.0.1:{port}:80\"\n");
        }
        s
    }

    /// `docker run -d` of container `name` of `project` at revision `rev`, published
    /// on `127.0.0.1:port`.
    pub fn run(&self, project: &str, name: &str, rev: u32, port: u16) -> Result<()> {
        let mut cmd = Command::new("docker");
        cmd.args(["run", "-d", "--name", name, "--label"])
            .arg(format!("{PEER_LABEL}={project}"))
            .args(["--stop-timeout", "10", "-e"])
            .arg(format!("REV={rev}"))
            .arg("-p")
            .arg(format!("127.0.0.1:{port}:80"))
            .arg("-v")
            .arg(format!("{}:/www:ro", self.dir.display()))
            .args([BUSYBOX_IMAGE, "/www/run"]);
        output_within(&mut cmd, COMMAND_TIMEOUT)?;
        Ok(())
    }
}

/// The status of `GET PATH` on `127.0.0.1:port` with `Host: host`, with curl (as the
/// seeds' scripts do); 0 when there is no answer.
fn curl_status(port: u16, host: &str) -> u16 {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "2",
        ])
        .args(["-H", &format!("Host: {host}")])
        .arg(format!("http://127.0.0.1:{port}{PATH}"))
        .output();
    out.ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(0)
}

/// Waits (bounded by [`HEALTH_DEADLINE`]) until `GET PATH` answers 200.
fn wait_healthy(port: u16, host: &str) -> Result<()> {
    let deadline = Instant::now() + HEALTH_DEADLINE;
    let mut last = 0;
    while Instant::now() < deadline {
        last = curl_status(port, host);
        if last == 200 {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!(
        "127.0.0.1:{port}{PATH} (Host: {host}) did not answer 200 within {HEALTH_DEADLINE:?} (last status {last})"
    )
}

/// Runs one arm: the load against `target` for the plan's duration, and `update(rev)`
/// for rev = 1, 2, … at each of the plan's update times (see the module documentation).
/// `update` must return once the update is complete and the old container removed.
pub fn run_arm(
    name: &str,
    target: &Target,
    plan: &Plan,
    update: &mut dyn FnMut(u32) -> Result<Updated>,
) -> Result<Arm> {
    wait_healthy(target.port, &target.host)
        .with_context(|| format!("{name}: the backend is not reachable through the proxy"))?;
    let mut config = LoadConfig::new(target.port, &target.host);
    config.path = PATH.to_string();
    config.rate = plan.rate;
    config.connections = plan.connections;
    config.post_fraction = plan.post_fraction;
    config.duration = plan.duration + OVERRUN;
    let load = Load::start(config);
    let mut windows = Vec::new();
    let mut reloads = Vec::new();
    let mut failed = None;
    for (i, at) in plan.updates_at.iter().enumerate() {
        let now = load.elapsed();
        if *at > now {
            std::thread::sleep(*at - now);
        }
        let rev = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let start = load.elapsed();
        let done = update(rev);
        let end = load.elapsed();
        match done {
            Ok(u) => {
                windows.push(start..end);
                reloads.push(u.reloads);
                let s = load.snapshot();
                eprintln!(
                    "  update {rev}: {:.0} ms; so far {} requests, {} non-2xx, {} errors",
                    (end - start).as_secs_f64() * 1e3,
                    s.done,
                    s.non_2xx,
                    s.errors
                );
            }
            Err(e) => {
                failed = Some(e.context(format!("{name}: update {rev} failed")));
                break;
            }
        }
    }
    let now = load.elapsed();
    if failed.is_none() && plan.duration > now {
        std::thread::sleep(plan.duration - now);
    }
    if failed.is_none() {
        // A client that fell behind (workers held by slow responses) still owes the
        // requests due by now: let it send them, bounded, so that every arm sends at
        // least rate × duration.
        let due = (plan.rate * plan.duration.as_secs_f64()) as u64;
        let deadline = Instant::now() + LAG_ALLOWANCE;
        while load.snapshot().done < due && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let report = load.stop();
    if let Some(e) = failed {
        return Err(e);
    }
    Ok(Arm {
        name: name.to_string(),
        report,
        windows,
        reloads,
    })
}

/// An nginx of the bench's own on loopback, proxying [`HOST`] to one upstream address
/// that the arm rewrites.
struct FrontNginx {
    nginx: TestNginx,
    reloads: u32,
}

impl FrontNginx {
    fn start(upstream_port: u16) -> Result<FrontNginx> {
        let nginx = TestNginx::start();
        let front = FrontNginx { nginx, reloads: 0 };
        front.write(upstream_port)?;
        // The first file is read with a reload too; not counted as an update's.
        front.signal_reload()?;
        Ok(front)
    }

    fn conf(&self) -> PathBuf {
        self.nginx.include_dir.join("app.conf")
    }

    /// Writes the upstream file, as the seeds' `sed` does.
    fn write(&self, upstream_port: u16) -> Result<()> {
        let text = format!(
            "upstream app {{\n    server 127.0.0.1:{upstream_port};\n}}\n\
             server {{\n    listen {};\n    server_name {HOST};\n    \
             location / {{\n        proxy_pass http://app;\n    }}\n}}\n",
            self.nginx.http()
        );
        std::fs::write(self.conf(), text)
            .with_context(|| format!("cannot write {}", self.conf().display()))
    }

    /// `nginx -s reload` (it returns once the master has the signal).
    fn signal_reload(&self) -> Result<()> {
        let mut cmd = Command::new(self.nginx.binary());
        cmd.arg("-p")
            .arg(&self.nginx.root)
            .arg("-c")
            .arg(&self.nginx.conf)
            .args(["-s", "reload"]);
        output_within(&mut cmd, COMMAND_TIMEOUT)
            .with_context(|| format!("nginx -s reload: {}", self.nginx.error_log()))?;
        Ok(())
    }

    fn reload(&mut self) -> Result<()> {
        self.signal_reload()?;
        self.reloads += 1;
        Ok(())
    }

    fn target(&self) -> Target {
        Target {
            port: self.nginx.http_port,
            host: HOST.to_string(),
        }
    }
}

/// The `docker-compose` the bench runs: Compose v2 (`docker compose`) when the docker
/// CLI has it, else Debian's v1 `docker-compose`. Its program, first arguments and
/// version.
fn compose() -> Result<(String, Vec<String>, String)> {
    if let Ok(v) = crate::engine::run("docker", &["compose", "version", "--short"]) {
        return Ok((
            "docker".into(),
            vec!["compose".into()],
            format!("Compose v2 {v}"),
        ));
    }
    let v = crate::engine::run("docker-compose", &["version", "--short"])
        .context("neither `docker compose` nor `docker-compose` is available")?;
    Ok((
        "docker-compose".into(),
        Vec::new(),
        format!("docker-compose {v} (Compose v1)"),
    ))
}

/// The ID of the one container of `project` (by the Compose label), if there is one.
fn compose_container(project: &str) -> Result<Option<String>> {
    let out = docker(&[
        "ps",
        "-aq",
        "--no-trunc",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
    ])?;
    let ids: Vec<&str> = out.lines().collect();
    Ok(match ids.as_slice() {
        [one] => Some((*one).to_string()),
        _ => None,
    })
}

/// Arm (a): `docker-compose up -d` after changing `REV`, behind nginx. Returns the arm
/// and the Compose version used.
fn compose_arm(backend: &Backend, plan: &Plan) -> Result<(Arm, String)> {
    let (program, pre, version) = compose()?;
    let project = Project::new("hfbench-upd-a")?;
    let port = free_port();
    let file = |rev| {
        format!(
            "services:\n{}",
            backend.service_yaml("app", rev, Some(port))
        )
    };
    let up = |rev: u32| -> Result<()> {
        let path = project.write("docker-compose.yml", &file(rev))?;
        let mut cmd = Command::new(&program);
        cmd.args(&pre)
            .args(["-p", &project.name, "-f"])
            .arg(&path)
            .args(["up", "-d"]);
        output_within(&mut cmd, COMMAND_TIMEOUT)?;
        Ok(())
    };
    up(0)?;
    wait_healthy(port, HOST)?;
    let front = FrontNginx::start(port)?;
    let target = front.target();
    let arm = run_arm(
        "(a) `docker-compose up -d` (recreate) behind nginx",
        &target,
        plan,
        &mut |rev| {
            let old = compose_container(&project.name)?;
            up(rev)?;
            // Compose removes the old container before it returns; check it.
            if let Some(old) = old
                && docker(&["inspect", "--type", "container", &old]).is_ok()
            {
                bail!("docker-compose up -d returned with the old container {old} still there");
            }
            Ok(Updated { reloads: 0 })
        },
    )?;
    drop(front);
    drop(project);
    Ok((arm, version))
}

/// Arm (b): the seeds' blue-green script behind nginx: start green on a new port, curl
/// its health until 200, rewrite the upstream, `nginx -s reload`, stop and remove blue.
fn blue_green_arm(backend: &Backend, plan: &Plan) -> Result<Arm> {
    let project = Project::new("hfbench-upd-b")?;
    let name = |rev: u32| format!("{}-app-{rev}", project.name);
    let port = free_port();
    backend.run(&project.name, &name(0), 0, port)?;
    wait_healthy(port, HOST)?;
    let mut front = FrontNginx::start(port)?;
    let target = front.target();
    let mut blue = name(0);
    let arm = run_arm(
        "(b) hand-written blue-green: `nginx -s reload`, then stop blue",
        &target,
        plan,
        &mut |rev| {
            let before = front.reloads;
            let green = name(rev);
            let green_port = free_port();
            backend.run(&project.name, &green, rev, green_port)?;
            wait_healthy(green_port, HOST)?;
            front.write(green_port)?;
            front.reload()?;
            output_within(
                Command::new("docker").args(["stop", "-t", "10", &blue]),
                COMMAND_TIMEOUT,
            )?;
            output_within(Command::new("docker").args(["rm", &blue]), COMMAND_TIMEOUT)?;
            blue = green;
            Ok(Updated {
                reloads: front.reloads - before,
            })
        },
    )?;
    drop(front);
    drop(project);
    Ok(arm)
}

/// The proxy of a holdfast arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Caddy 2.11, driven through its admin API.
    Caddy,
    /// nginx, driven through its include folder.
    Nginx,
}

/// The proxy a holdfast arm runs, and how to tell whether it reloaded.
enum Front {
    Caddy(holdfast_testkit::engines::caddy::CaddyProcess, u16),
    Nginx(TestNginx),
}

impl Front {
    fn proxy_yaml(&self) -> String {
        match self {
            Front::Caddy(c, http) => format!(
                "proxy:\n  engine: caddy\n  admin: {}\n  listen: {{http: \"127.0.0.1:{http}\", https: \"127.0.0.1:{}\"}}\n",
                c.admin_address(),
                free_port()
            ),
            Front::Nginx(n) => format!(
                "proxy:\n  engine: nginx\n  dir: {}\n  nginx_conf: {}\n  listen: {{http: \"127.0.0.1:{}\", https: \"127.0.0.1:{}\"}}\n",
                n.include_dir.display(),
                n.conf.display(),
                n.http_port,
                n.https_port
            ),
        }
    }

    fn port(&self) -> u16 {
        match self {
            Front::Caddy(_, http) => *http,
            Front::Nginx(n) => n.http_port,
        }
    }

    /// What changes when the proxy reloads: Caddy's configuration, nginx's workers.
    fn generation(&self) -> String {
        match self {
            Front::Caddy(c, _) => {
                let socket = c.admin_address();
                let socket = socket.trim_start_matches("unix:");
                Command::new("curl")
                    .args(["-s", "--unix-socket", socket, "http://localhost/config/"])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default()
            }
            Front::Nginx(n) => format!("{:?}", n.worker_pids()),
        }
    }
}

/// Arm (c) or (d): `holdfast run` with the backend as a start-first service behind a
/// route on `engine`; an update writes the file with the next `REV` and waits until the
/// old container is gone.
fn holdfast_arm(holdfast: &Path, backend: &Backend, plan: &Plan, engine: Engine) -> Result<Arm> {
    let (label, project) = match engine {
        Engine::Caddy => ("(c) holdfast + Caddy 2.11", Project::new("hfbench-upd-c")?),
        Engine::Nginx => ("(d) holdfast + nginx", Project::new("hfbench-upd-d")?),
    };
    let front = match engine {
        Engine::Caddy => {
            let http = free_port();
            let caddy = holdfast_testkit::engines::caddy::CaddyProcess::start(
                &project.dir.path().join("caddy"),
            );
            Front::Caddy(caddy, http)
        }
        Engine::Nginx => Front::Nginx(TestNginx::start()),
    };
    let proxy = front.proxy_yaml();
    let file_for = |rev: u32| {
        format!(
            "name: {}\n{proxy}services:\n{}    deploy: {{update_config: {{order: start-first}}}}\nroutes:\n  app:\n    hosts: [{HOST}]\n    tls: off\n    health: {{path: {PATH}, interval: 100ms}}\n    paths: [{{prefix: /, service: app, port: 80}}]\n",
            project.name,
            backend.service_yaml("app", rev, None)
        )
    };
    let file = project.write("holdfast.yaml", &file_for(0))?;
    let controller = crate::engine::Controller::start(holdfast, &project, &file)?;
    let target = Target {
        port: front.port(),
        host: HOST.to_string(),
    };
    let arm = run_arm(label, &target, plan, &mut |rev| {
        let before = front.generation();
        let text = file_for(rev);
        let tmp = project.dir.path().join(".holdfast.yaml.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &file)?;
        // Done when one container is left, made at this revision.
        let want = format!("REV={rev}");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let ids = crate::engine::container_ids(&project.name)?;
            if ids.len() == 1 {
                let env = docker(&["inspect", "-f", "{{json .Config.Env}}", &ids[0]])?;
                if env.contains(&want) {
                    break;
                }
            }
            if Instant::now() > deadline {
                bail!("{label}: revision {rev} was not the only container within 120 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Updated {
            reloads: u32::from(front.generation() != before),
        })
    })?;
    drop(controller);
    drop(front);
    drop(project);
    Ok(arm)
}

/// Measures section 9 (arms (a) to (d)) and returns it as Markdown, between [`BEGIN`]
/// and [`END`]; `context` (where and when it ran) goes into the text, followed by the
/// load average at the end. `holdfast` is the release binary the holdfast arms run.
pub fn measure(quick: bool, context: &str, holdfast: &Path) -> Result<String> {
    let plan = Plan::new(quick);
    let tmp = tempfile::Builder::new()
        .prefix("hfbench-upd-")
        .tempdir()
        .context("cannot create a temporary folder")?;
    let backend = Backend::new(tmp.path())?;
    eprintln!("9. updates under load: (a) docker-compose up -d behind nginx");
    let (a, compose) = compose_arm(&backend, &plan)?;
    eprintln!("9. updates under load: (b) hand-written blue-green behind nginx");
    let b = blue_green_arm(&backend, &plan)?;
    eprintln!("9. updates under load: (c) holdfast + Caddy");
    let c = holdfast_arm(holdfast, &backend, &plan, Engine::Caddy)?;
    eprintln!("9. updates under load: (d) holdfast + nginx");
    let d = holdfast_arm(holdfast, &backend, &plan, Engine::Nginx)?;
    let context = format!("{context}, {} at the end.", crate::report::load_average());
    Ok(section(&[a, b, c, d], &plan, &compose, &context))
}

/// `1.23 ms`, or `–` for NaN.
fn ms(v: f64) -> String {
    if v.is_nan() {
        "–".to_string()
    } else {
        format!("{v:.1} ms")
    }
}

/// Failures by kind: `502 ×1234, closed ×5`.
fn kinds(report: &Report) -> String {
    let s = report.summary();
    if s.by_outcome.is_empty() {
        return "none".to_string();
    }
    let mut by = s.by_outcome;
    by.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    by.iter()
        .map(|(o, n)| match o {
            Outcome::Status(code) => format!("{code} ×{n}"),
            Outcome::Error(f) => format!("{} ×{n}", format!("{f:?}").to_lowercase()),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn median(v: &[f64]) -> f64 {
    crate::stats::Summary::of(v).map_or(f64::NAN, |s| s.median)
}

/// The section's Markdown for `arms`.
pub fn section(arms: &[Arm], plan: &Plan, compose: &str, context: &str) -> String {
    let at: Vec<String> = plan
        .updates_at
        .iter()
        .map(|d| d.as_secs().to_string())
        .collect();
    let mut out = format!("{BEGIN}\n### 9. Updates under load\n\n");
    let _ = write!(
        out,
        "{} updates of one service at t = {} s, while a client that never retries \
         (`holdfast_testkit::load`: HTTP/1.1 keep-alive, a failed request is counted and its \
         connection reopened, never resent) sends {:.0} req/s for {} s on {} connections, \
         {:.0} % POSTs, through the arm's proxy on 127.0.0.1. The backend is busybox `httpd` \
         with a CGI handler that sleeps 20 ms; on SIGTERM it closes its listener and lets the \
         requests in flight finish (0.5 s). An update changes its `REV` environment \
         variable, which forces a new container. {context}\n\n",
        plan.updates_at.len(),
        at.join(", "),
        plan.rate,
        plan.duration.as_secs(),
        plan.connections,
        plan.post_fraction * 100.0,
    );
    out.push_str(
        "| arm | requests | failed | non-2xx | connection errors | failed POSTs | error window | \
         p50 / p99 during updates | p50 / p99 steady | update time (median, max) | reloads per update | req/s |\n\
         |---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    for arm in arms {
        let s = arm.report.summary();
        let during: Stats = arm.report.during(&arm.windows);
        let steady: Stats = arm.report.outside(&arm.windows);
        let times = arm.update_ms();
        let max = times.iter().copied().fold(f64::NAN, f64::max);
        let reloads: Vec<f64> = arm.reloads.iter().map(|r| f64::from(*r)).collect();
        let _ = writeln!(
            out,
            "| {} | {} | **{}** | {} | {} | {} | {:.2} s | {} / {} | {} / {} | {:.0} ms, {:.0} ms | {} | {:.0} |",
            arm.name,
            s.total,
            s.failed,
            s.all.non_2xx,
            s.all.connection_errors,
            s.all.failed_posts,
            s.error_window_s,
            ms(during.p50_ms),
            ms(during.p99_ms),
            ms(steady.p50_ms),
            ms(steady.p99_ms),
            median(&times),
            max,
            median(&reloads),
            s.rps,
        );
    }
    out.push('\n');
    for arm in arms {
        let during = arm.report.during(&arm.windows);
        let _ = writeln!(
            out,
            "- {}: failures by kind: {}; {} of the {} requests that started during an update failed; \
             error window of each update (first to last failure before the next update): {} s.",
            arm.name,
            kinds(&arm.report),
            during.failed,
            during.total,
            arm.error_windows_per_update()
                .iter()
                .map(|s| format!("{s:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let _ = write!(
        out,
        "\nArm (a) runs {compose}, with the service's port fixed in its file \
         (`127.0.0.1:PORT:80`), so nginx's upstream never changes and nothing reloads: Compose \
         stops the old container, then creates and starts the new one, and nginx answers 502 \
         until it listens. Arm (b) is the seeds' blue-green script: the new container on a new \
         loopback port, `curl` until 200, the upstream file rewritten, `nginx -s reload`, then \
         `docker stop` and `docker rm` of the old one at once; nginx's new workers take over \
         a moment after the command returns, and the old ones still send requests to the \
         container being stopped. The error window runs from the first to the last failed \
         request's start. \"During updates\" are the requests that started between an update's \
         first command and the old container's removal (the update time), \"steady\" all \
         others. nginx is Debian's 1.22 (`master_process on`, 2 workers), a process of the \
         bench's own on loopback ports. p99 latencies near 1.1 s are TCP's one-second SYN \
         retransmission, not an HTTP retry (every request is sent once): busybox httpd listens \
         with a backlog of 9, and when its queue overflows under a burst the kernel drops the \
         connection attempt of docker-proxy to the container, which TCP repeats a second later \
         (a separate check with wrk at about 460 req/s counted 141 listen-queue overflows in \
         the container). The load average at the end includes the backend's own processes: \
         busybox httpd forks a process per connection and the CGI handler two more (`sh`, \
         `sleep`), over a thousand short processes a second at 400 req/s. Arms (c) holdfast + Caddy and (d) holdfast + nginx \
         plug into the same run (`bench/src/updates.rs`, `run_arm`). Only this section: \
         `cargo run --release -p holdfast-bench -- --updates-only`.\n"
    );
    out.push_str(END);
    out.push('\n');
    out
}

/// Replaces the section in `doc`, or puts it before "### Odd things seen in this run".
pub fn splice(doc: &str, section: &str) -> String {
    crate::calls::splice_marked(doc, BEGIN, END, section)
}

#[cfg(test)]
mod tests {
    use super::*;
    use holdfast_testkit::load::{Failure, LoadConfig, Method, Record};

    fn record(ms: u64, outcome: Outcome) -> Record {
        Record {
            start: Duration::from_millis(ms),
            latency: Duration::from_millis(20),
            method: Method::Get,
            outcome,
        }
    }

    #[test]
    fn error_windows_are_split_by_update_and_the_section_is_marked() {
        let s = |ms| Duration::from_millis(ms);
        let report = Report {
            config: LoadConfig::new(1, HOST),
            records: vec![
                record(100, Outcome::Status(200)),
                record(1100, Outcome::Status(502)),
                record(1400, Outcome::Error(Failure::Closed)),
                record(2500, Outcome::Status(200)),
                record(3200, Outcome::Status(502)),
            ],
            elapsed: s(4000),
        };
        let arm = Arm {
            name: "x".into(),
            report,
            windows: vec![s(1000)..s(1500), s(3000)..s(3300)],
            reloads: vec![1, 1],
        };
        let w = arm.error_windows_per_update();
        assert!((w[0] - 0.3).abs() < 1e-9 && w[1] == 0.0, "{w:?}");
        assert_eq!(arm.update_ms(), vec![500.0, 300.0]);
        let text = section(&[arm], &Plan::new(true), "compose", "here.");
        assert!(text.starts_with(BEGIN) && text.ends_with(&format!("{END}\n")));
        assert!(
            text.contains("| x | 5 | **3** | 2 | 1 | 0 | 2.10 s |"),
            "{text}"
        );
        assert!(text.contains("502 ×2, closed ×1"), "{text}");
    }
}
