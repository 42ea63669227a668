//! Measurement 4: from `git push` to every changed service Ready, with `holdfast run
//! --git` told by a webhook and polling on an interval, against the container
//! operations alone and against the manual GitOps of `git pull && docker-compose up -d`.
//!
//! Each source mode has one controller session following a repository served on
//! loopback by `git daemon`; the bench authors commits in its own work clone and
//! pushes them with the real `git push`. Every commit changes the environment of one
//! of three services (or of all three), so each changed service's container is
//! recreated. The times come from the bench's clock (the push, the webhook, the first
//! API poll that sees every changed service Ready at the new commit), the controller's
//! JSON log (its `Fetched`, `CommitApplied` and `Recreated` events, microsecond
//! timestamps) and the engine's own container events (`timeNano`): all one clock.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use holdfast_testkit::BUSYBOX_IMAGE;
use holdfast_testkit::git::{GitDaemon, Remote, git_command};

use crate::engine::{
    Controller, Events, LogLine, PEER_LABEL, Project, api_get, docker, now_ns, output_within,
    post_webhook, run,
};
use crate::measure::{SETTLE, ms_between};

/// The services of every file: three, so that a commit can change one or all of them.
pub const SERVICES: [&str; 3] = ["a", "b", "c"];

/// How often the polling mode fetches (`--interval`).
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// How often the bench asks the controller's API whether the services are Ready.
pub const READY_POLL: Duration = Duration::from_millis(10);

/// How long a push may take to have every changed service Ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the first convergence of a session may take.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(120);

/// How long one git, docker or docker-compose command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// The webhook's shared secret (loopback only).
const WEBHOOK_SECRET: &str = "hfbench-webhook-secret";

/// The desired state of the services in both file formats: busybox sleeping, with
/// `REV` in its environment, so that a new `REV` means a new container.
fn services_yaml(revs: &[u64; 3]) -> String {
    SERVICES
        .iter()
        .zip(revs)
        .map(|(name, rev)| {
            format!(
                "  {name}:\n    image: {BUSYBOX_IMAGE}\n    command: [\"sleep\", \"3600\"]\n    init: true\n    environment:\n      REV: \"{rev}\"\n"
            )
        })
        .collect()
}

/// Runs `git ARGS` in `dir` (independent of the user's git configuration), at most
/// [`COMMAND_TIMEOUT`]; returns trimmed stdout.
fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let mut cmd = git_command();
    cmd.current_dir(dir).args(args);
    let out = output_within(&mut cmd, COMMAND_TIMEOUT)?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Runs `cmd` (bounded) and returns its wall time in ms.
fn timed(cmd: &mut Command) -> Result<f64> {
    let start = Instant::now();
    output_within(cmd, COMMAND_TIMEOUT)?;
    Ok(start.elapsed().as_secs_f64() * 1e3)
}

/// Runs `git ARGS` in `dir` (bounded) and returns its wall time in ms.
fn timed_git(dir: &Path, args: &[&str]) -> Result<f64> {
    let mut cmd = git_command();
    cmd.current_dir(dir).args(args);
    timed(&mut cmd)
}

/// A work clone of `remote`'s bare repository at `dir`, from which the bench commits
/// and pushes as a developer would.
fn work_clone(remote: &Remote, dir: &Path) -> Result<()> {
    let bare = remote.bare_path().to_string_lossy().to_string();
    let target = dir.to_string_lossy().to_string();
    // The remote is empty: the clone starts the history of `main`.
    git(remote.temp_dir(), &["clone", "-q", &bare, &target])?;
    git(dir, &["checkout", "-q", "-B", "main"])?;
    git(dir, &["config", "user.name", "hfbench"])?;
    git(dir, &["config", "user.email", "hfbench@holdfast.invalid"])?;
    Ok(())
}

/// Writes `contents` to `file` in the work clone `dir` and commits it (without
/// pushing); returns the commit's full id.
fn commit(dir: &Path, file: &str, contents: &str, message: &str) -> Result<String> {
    let path = dir.join(file);
    std::fs::write(&path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    git(dir, &["add", "-A"])?;
    git(dir, &["commit", "-q", "--no-verify", "-m", message])?;
    git(dir, &["rev-parse", "HEAD"])
}

/// The push itself: `git push -q origin HEAD:main` from the work clone.
const PUSH: &[&str] = &["push", "-q", "origin", "HEAD:main"];

/// Where one push's time went, ms. The stages follow one another, so they add up to
/// the total.
#[derive(Debug, Clone, Copy)]
pub struct Stages {
    /// (a) `git push` itself, client side.
    pub push: f64,
    /// The webhook request, from the push returning to the 202 answer (part of
    /// `fetch`); `None` in the polling mode.
    pub hook: Option<f64>,
    /// (b) From the push returning to the controller's `Fetched` event: the webhook
    /// and the fetch, or the wait for the next poll and the fetch.
    pub fetch: f64,
    /// (c) `Fetched` → `CommitApplied`: checkout of the commit, parsing and
    /// validating its file, handing it to the controller.
    pub load: f64,
    /// (d1) `CommitApplied` → the engine's first event of an old container (its
    /// `kill`): queueing, observing, planning.
    pub queue: f64,
    /// (d2) The engine's first `kill` of an old container → the last `start` of a new
    /// one: stop, remove, create, start.
    pub engine: f64,
    /// (d3) The last `start` → the last `Recreated` event: inspecting the new
    /// container, recording the status.
    pub finish: f64,
    /// (e) The last `Recreated` → the bench's API poll seeing every changed service
    /// Ready at the new commit.
    pub seen: f64,
    /// The run's total (the sum of the stages but for rounding).
    pub total: f64,
}

impl Stages {
    /// The controller's own part: fetch, load, queue and finish.
    pub fn controller(&self) -> f64 {
        self.fetch + self.load + self.queue + self.finish
    }
}

/// One push under holdfast.
#[derive(Debug, Clone, Copy)]
pub struct PushRun {
    /// From just before `git push` to the first API poll that saw every changed
    /// service Ready at the new commit, ms.
    pub total: f64,
    /// The breakdown, when every event it needs was found.
    pub stages: Option<Stages>,
}

/// One source mode and change size under holdfast.
#[derive(Debug, Clone)]
pub struct Series {
    /// Such as `webhook, 1 of 3 services changed`.
    pub name: String,
    /// Such as `webhook, 1 of 3`, for column headers.
    pub short: String,
    /// Services changed per commit.
    pub changed: usize,
    /// The runs that finished.
    pub runs: Vec<PushRun>,
    /// Runs that did not finish within the timeout.
    pub timeouts: usize,
}

impl Series {
    fn new(changed: usize, webhook: bool) -> Self {
        let (mode, short) = if webhook {
            ("webhook".to_string(), "webhook".to_string())
        } else {
            (
                format!("polling every {} s", POLL_INTERVAL.as_secs()),
                format!("polling {} s", POLL_INTERVAL.as_secs()),
            )
        };
        Series {
            name: format!("{mode}, {changed} of 3 services changed"),
            short: format!("{short}, {changed} of 3"),
            changed,
            runs: Vec::new(),
            timeouts: 0,
        }
    }

    /// The totals, ms.
    pub fn totals(&self) -> Vec<f64> {
        self.runs.iter().map(|r| r.total).collect()
    }

    /// The breakdowns found.
    pub fn stages(&self) -> Vec<Stages> {
        self.runs.iter().filter_map(|r| r.stages).collect()
    }
}

/// One run of the manual GitOps peer, ms.
#[derive(Debug, Clone, Copy)]
pub struct ComposeRun {
    /// `git push` from the developer's clone.
    pub push: f64,
    /// `git pull` in the deployment's clone (over `git://`, as holdfast fetches).
    pub pull: f64,
    /// `docker-compose up -d`.
    pub up: f64,
}

impl ComposeRun {
    /// Push, pull and up, one after the other.
    pub fn total(&self) -> f64 {
        self.push + self.pull + self.up
    }
}

/// holdfast told by webhooks, with its peers, for one change size.
#[derive(Debug, Clone)]
pub struct Variant {
    /// holdfast.
    pub ours: Series,
    /// `docker stop` + `docker rm` + `docker run -d` of the changed containers (in
    /// parallel when several), wall time, ms.
    pub cli: Vec<f64>,
    /// The same, in the engine: first `kill` → last `start`, ms.
    pub cli_engine: Vec<f64>,
    /// `git push` + `git pull` + `docker-compose up -d`; empty without docker-compose.
    pub compose: Vec<ComposeRun>,
}

/// Measurement 4's result.
#[derive(Debug, Clone)]
pub struct PushToReady {
    /// Webhook mode, one and three services changed per commit.
    pub webhook: Vec<Variant>,
    /// Polling mode, one service changed per commit.
    pub polling: Series,
    /// Whether docker-compose was there to measure.
    pub compose: bool,
}

/// Whether every one of `services` is Ready at `revision`, by the controller's API.
fn ready_at(socket: &Path, services: &[&str], revision: &str) -> bool {
    let Ok(list) = api_get(socket, "/v1/resources") else {
        return false;
    };
    let items = list["items"].as_array().cloned().unwrap_or_default();
    services.iter().all(|s| {
        let key = format!("service/{s}");
        items
            .iter()
            .any(|i| i["key"] == key.as_str() && i["phase"] == "Ready" && i["revision"] == revision)
    })
}

/// The time of the first log line with `reason` whose message contains `needle` (and,
/// when given, whose object is `object`), at or after `after_ns`.
fn event_time(
    log: &[LogLine],
    reason: &str,
    needle: &str,
    object: Option<&str>,
    after_ns: u64,
) -> Option<u64> {
    log.iter()
        .filter(|l| l.time_ns >= after_ns && l.fields["reason"] == reason)
        .filter(|l| object.is_none_or(|o| l.fields["object"] == o))
        .find(|l| {
            l.fields["message"]
                .as_str()
                .is_some_and(|m| m.contains(needle))
        })
        .map(|l| l.time_ns)
}

/// A `holdfast run --git` session on its own repository, served by `git daemon`.
/// Fields drop in order: the controller stops before the project is cleaned up.
struct Session {
    controller: Controller,
    events: Events,
    _daemon: GitDaemon,
    _remote: Remote,
    work: PathBuf,
    hook: Option<String>,
    revs: [u64; 3],
    project: Project,
}

impl Session {
    /// Creates the repository with a first commit, serves it, starts the controller
    /// (with a webhook receiver when `webhook`) and waits until it has every service
    /// Ready at that commit.
    fn start(holdfast: &Path, name: &str, webhook: bool, interval: Duration) -> Result<Session> {
        let project = Project::new(name)?;
        let remote = Remote::new("main");
        let work = project.dir.path().join("work");
        work_clone(&remote, &work)?;
        let revs = [0; 3];
        let file = format!("name: {name}\nservices:\n{}", services_yaml(&revs));
        let first = commit(&work, "holdfast.yaml", &file, "three services")?;
        git(&work, PUSH)?;
        let daemon = GitDaemon::serve(&remote);
        let url = daemon.url(&remote);
        let secret = project.write("webhook-secret", WEBHOOK_SECRET)?;
        let mut args: Vec<OsString> = [
            "--git",
            &url,
            "--branch",
            "main",
            "--path",
            "holdfast.yaml",
            "--interval",
            &format!("{}s", interval.as_secs()),
        ]
        .iter()
        .map(OsString::from)
        .collect();
        if webhook {
            args.extend(
                ["--webhook-listen", "127.0.0.1:0", "--webhook-secret-file"].map(OsString::from),
            );
            args.push(secret.into_os_string());
        }
        let events = Events::follow(&format!("io.holdfast.project={name}"))?;
        let mut controller = Controller::start_with(holdfast, &project, &args)?;
        let hook = if webhook {
            Some(controller.wait_log_field(
                "webhook receiver listening",
                "address",
                Duration::from_secs(30),
            )?)
        } else {
            None
        };
        let deadline = Instant::now() + CONVERGE_TIMEOUT;
        while !ready_at(controller.socket(), &SERVICES, &first) {
            controller.check_alive()?;
            if Instant::now() >= deadline {
                bail!(
                    "{name}: the services were not Ready at the first commit within {CONVERGE_TIMEOUT:?}"
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Session {
            controller,
            events,
            _daemon: daemon,
            _remote: remote,
            work,
            hook,
            revs,
            project,
        })
    }

    /// Commits a new `REV` for the `changed` services (by index), waits `delay`, then
    /// times the push until every changed service is Ready at the new commit. `None`
    /// when that did not happen within [`READY_TIMEOUT`].
    fn push_run(&mut self, changed: &[usize], delay: Duration) -> Result<Option<PushRun>> {
        for &i in changed {
            self.revs[i] += 1;
        }
        let name = &self.project.name;
        let file = format!("name: {name}\nservices:\n{}", services_yaml(&self.revs));
        let services: Vec<&str> = changed.iter().map(|&i| SERVICES[i]).collect();
        let id = commit(
            &self.work,
            "holdfast.yaml",
            &file,
            &format!("change {}", services.join(", ")),
        )?;
        let short = &id[..7.min(id.len())];
        std::thread::sleep(delay);
        self.events.drain();

        let t0 = now_ns();
        let push = timed_git(&self.work, PUSH)?;
        let pushed = now_ns();
        let hooked = match &self.hook {
            Some(address) => {
                let body = format!(
                    "{{\"object_kind\":\"push\",\"ref\":\"refs/heads/main\",\"after\":\"{id}\"}}"
                );
                let status = post_webhook(address, WEBHOOK_SECRET, &body)?;
                if status != 202 {
                    bail!("the webhook answered {status}, not 202");
                }
                Some(now_ns())
            }
            None => None,
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        let ready = loop {
            self.controller.check_alive()?;
            if ready_at(self.controller.socket(), &services, &id) {
                break now_ns();
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(READY_POLL);
        };

        let containers: Vec<String> = services.iter().map(|s| format!("{name}-{s}")).collect();
        let refs: Vec<&str> = containers.iter().map(String::as_str).collect();
        let (engine_events, complete) =
            self.events.until_started(&refs, t0, Duration::from_secs(5));
        let log = self.controller.log_lines();
        let fetched = event_time(&log, "Fetched", short, None, t0);
        let applied = event_time(
            &log,
            "CommitApplied",
            &format!("applying {short}"),
            None,
            t0,
        );
        let recreated: Option<Vec<u64>> = services
            .iter()
            .map(|s| event_time(&log, "Recreated", "", Some(&format!("service/{s}")), t0))
            .collect();
        let first_kill = engine_events.iter().map(|e| e.time_ns).min();
        let last_start = engine_events
            .iter()
            .filter(|e| e.action == "start")
            .map(|e| e.time_ns)
            .max();
        let stages = match (
            fetched, applied, recreated, first_kill, last_start, complete,
        ) {
            (Some(f), Some(a), Some(r), Some(k), Some(s), true) => {
                let r = r.into_iter().max().unwrap_or(s);
                Some(Stages {
                    push,
                    hook: hooked.map(|h| ms_between(pushed, h)),
                    fetch: ms_between(pushed, f),
                    load: ms_between(f, a),
                    queue: ms_between(a, k),
                    engine: ms_between(k, s),
                    finish: ms_between(s, r),
                    seen: ms_between(r, ready),
                    total: ms_between(t0, ready),
                })
            }
            _ => None,
        };
        Ok(Some(PushRun {
            total: ms_between(t0, ready),
            stages,
        }))
    }
}

/// The CLI peer: equivalent containers (same image, command, init, environment, log
/// options; their own bridge network and aliases) that no controller watches, replaced
/// with `docker stop`, `docker rm` and `docker run -d`.
struct CliPeer {
    events: Events,
    containers: PeerContainers,
    _project: Project,
}

/// How the CLI peer's containers are made (shared with the threads that replace them).
struct PeerContainers {
    project: String,
    network: String,
    label: String,
}

impl PeerContainers {
    fn name(&self, i: usize) -> String {
        format!("{}-{}", self.project, SERVICES[i])
    }

    /// `docker run -d` of service `i` with `REV=rev`.
    fn run(&self, i: usize, rev: u64) -> Result<()> {
        let name = self.name(i);
        let env = format!("REV={rev}");
        let mut cmd = Command::new("docker");
        cmd.args(["run", "-d", "--name", &name, "--init", "--network"])
            .args([&self.network, "--network-alias", SERVICES[i]])
            .args(["--log-opt", "max-size=10m", "--log-opt", "max-file=3"])
            .args(["--label", &self.label, "-e", &env, BUSYBOX_IMAGE])
            .args(["sleep", "3600"]);
        output_within(&mut cmd, COMMAND_TIMEOUT)?;
        Ok(())
    }

    /// `docker stop`, `docker rm`, `docker run -d` of service `i` with `REV=rev`.
    fn replace(&self, i: usize, rev: u64) -> Result<()> {
        let name = self.name(i);
        for verb in ["stop", "rm"] {
            let mut cmd = Command::new("docker");
            cmd.args([verb, &name]);
            output_within(&mut cmd, COMMAND_TIMEOUT)?;
        }
        self.run(i, rev)
    }
}

impl CliPeer {
    fn start() -> Result<CliPeer> {
        let project = Project::new("hfbench-gitops-peer")?;
        let label = format!("{PEER_LABEL}={}", project.name);
        let network = format!("{}_default", project.name);
        docker(&["network", "create", "--label", &label, &network])?;
        let events = Events::follow(&label)?;
        let containers = PeerContainers {
            project: project.name.clone(),
            network,
            label,
        };
        for i in 0..SERVICES.len() {
            containers.run(i, 0)?;
        }
        Ok(CliPeer {
            events,
            containers,
            _project: project,
        })
    }

    /// Replaces the `changed` containers (in parallel when several) with `REV=rev`;
    /// returns the wall time and the engine's first `kill` → last `start`, ms.
    fn replace(&mut self, changed: &[usize], rev: u64) -> Result<(f64, Option<f64>)> {
        self.events.drain();
        let issued = now_ns();
        let start = Instant::now();
        let containers = &self.containers;
        let results: Vec<Result<()>> = std::thread::scope(|scope| {
            let handles: Vec<_> = changed
                .iter()
                .map(|&i| scope.spawn(move || containers.replace(i, rev)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("a peer thread panicked")))
                })
                .collect()
        });
        let wall = start.elapsed().as_secs_f64() * 1e3;
        for r in results {
            r?;
        }
        let names: Vec<String> = changed.iter().map(|&i| self.containers.name(i)).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let (events, complete) = self
            .events
            .until_started(&refs, issued, Duration::from_secs(10));
        let first = events.iter().map(|e| e.time_ns).min();
        let last = events
            .iter()
            .filter(|e| e.action == "start")
            .map(|e| e.time_ns)
            .max();
        let engine = match (first, last, complete) {
            (Some(f), Some(l), true) => Some(ms_between(f, l)),
            _ => None,
        };
        Ok((wall, engine))
    }
}

/// The manual GitOps peer: a developer's clone pushes a docker-compose file; the
/// deployment's clone (over `git://`, from `git daemon`, as holdfast fetches) runs
/// `git pull && docker-compose up -d`, issued the instant the push returns.
struct ComposePeer {
    _daemon: GitDaemon,
    _remote: Remote,
    work: PathBuf,
    deploy: PathBuf,
    revs: [u64; 3],
    project: Project,
}

impl ComposePeer {
    fn start() -> Result<ComposePeer> {
        let project = Project::new("hfbench-gitops-compose")?;
        let remote = Remote::new("main");
        let work = project.dir.path().join("work");
        work_clone(&remote, &work)?;
        let revs = [0; 3];
        commit(
            &work,
            "docker-compose.yml",
            &format!("services:\n{}", services_yaml(&revs)),
            "three services",
        )?;
        git(&work, PUSH)?;
        let daemon = GitDaemon::serve(&remote);
        let deploy = project.dir.path().join("deploy");
        git(
            project.dir.path(),
            &[
                "clone",
                "-q",
                &daemon.url(&remote),
                &deploy.to_string_lossy(),
            ],
        )?;
        let peer = ComposePeer {
            _daemon: daemon,
            _remote: remote,
            work,
            deploy,
            revs,
            project,
        };
        peer.up()?;
        Ok(peer)
    }

    /// `docker-compose -p PROJECT up -d` in the deployment's clone; its wall time, ms.
    fn up(&self) -> Result<f64> {
        let mut cmd = Command::new("docker-compose");
        cmd.current_dir(&self.deploy)
            .args(["-p", &self.project.name, "up", "-d"]);
        timed(&mut cmd)
    }

    /// Commits a new `REV` for the `changed` services, then times push, pull and up.
    fn run(&mut self, changed: &[usize]) -> Result<ComposeRun> {
        for &i in changed {
            self.revs[i] += 1;
        }
        commit(
            &self.work,
            "docker-compose.yml",
            &format!("services:\n{}", services_yaml(&self.revs)),
            "change",
        )?;
        let push = timed_git(&self.work, PUSH)?;
        let pull = timed_git(&self.deploy, &["pull", "-q", "--ff-only"])?;
        let up = self.up()?;
        Ok(ComposeRun { push, pull, up })
    }
}

/// Measurement 4: `runs` pushes per variant. The webhook session changes one service
/// per commit (each in turn), then all three; after each holdfast run the peers do the
/// same change (the CLI peer, then docker-compose). The polling session then changes
/// one service per commit `2 × runs` times, pushing at a random moment of the poll
/// cycle.
pub fn push_to_ready(holdfast: &Path, runs: usize) -> Result<PushToReady> {
    let compose = run("docker-compose", &["version", "--short"]).is_ok();
    let mut cli = CliPeer::start()?;
    let mut compose_peer = if compose {
        Some(ComposePeer::start()?)
    } else {
        eprintln!("  docker-compose is not on PATH: no manual GitOps peer");
        None
    };

    eprintln!("  webhook session (--interval 1h: only the webhook triggers a fetch)");
    let mut session = Session::start(
        holdfast,
        "hfbench-gitops-hook",
        true,
        Duration::from_secs(3600),
    )?;
    let mut webhook = Vec::new();
    for changed in [1, SERVICES.len()] {
        let mut v = Variant {
            ours: Series::new(changed, true),
            cli: Vec::new(),
            cli_engine: Vec::new(),
            compose: Vec::new(),
        };
        eprintln!("  {} ({runs} runs)", v.ours.name);
        for run in 0..runs {
            let which: Vec<usize> = if changed == 1 {
                vec![run % SERVICES.len()]
            } else {
                (0..SERVICES.len()).collect()
            };
            std::thread::sleep(SETTLE);
            match session.push_run(&which, Duration::ZERO)? {
                Some(r) => v.ours.runs.push(r),
                None => v.ours.timeouts += 1,
            }
            let (wall, engine) = cli.replace(&which, (changed * runs + run + 1) as u64)?;
            v.cli.push(wall);
            v.cli_engine.extend(engine);
            if let Some(peer) = compose_peer.as_mut() {
                v.compose.push(peer.run(&which)?);
            }
        }
        webhook.push(v);
    }
    drop(session);
    drop(compose_peer);
    drop(cli);

    // The wait for the next poll is spread evenly over the poll cycle: twice the runs.
    let poll_runs = 2 * runs;
    let mut polling = Series::new(1, false);
    eprintln!(
        "  polling session (--interval {} s, no webhook; {poll_runs} runs)",
        POLL_INTERVAL.as_secs()
    );
    let mut session = Session::start(holdfast, "hfbench-gitops-poll", false, POLL_INTERVAL)?;
    let mut rng = fastrand::Rng::new();
    for run in 0..poll_runs {
        std::thread::sleep(SETTLE);
        // Push at a random moment of the poll cycle (the interval, jittered ±10 %, plus
        // a fetch), not in step with it.
        let delay = POLL_INTERVAL.mul_f64(1.1 * rng.f64());
        match session.push_run(&[run % SERVICES.len()], delay)? {
            Some(r) => polling.runs.push(r),
            None => polling.timeouts += 1,
        }
    }
    drop(session);
    Ok(PushToReady {
        webhook,
        polling,
        compose,
    })
}
