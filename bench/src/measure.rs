//! The three measurements: recovery after faults, no-op passes, idle cost.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use holdfast_testkit::BUSYBOX_IMAGE;

use crate::engine::{
    Controller, Events, PEER_LABEL, Project, container_ids, docker, now_ns, run, running_count,
    wait_until,
};

/// How long a container may take to run again before the run counts as a timeout.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// A pause after a container runs again, so that the controller finishes the
/// reconcile its own `start` event triggers before the next fault.
pub const SETTLE: Duration = Duration::from_millis(300);

/// One measurement of holdfast and of its peer, in the same run and unit.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// What is measured, such as `docker kill (SIGKILL)`.
    pub name: String,
    /// What the peer is, such as `docker start`.
    pub peer_name: String,
    /// holdfast's samples.
    pub ours: Vec<f64>,
    /// The peer's samples.
    pub peer: Vec<f64>,
    /// holdfast's samples measured from the engine's own record of the fault (the
    /// container's `die`, or `destroy` after `rm -f`) instead of the command returning;
    /// empty where that does not apply.
    pub ours_from_event: Vec<f64>,
    /// How long after that engine event the fault command returned, ms.
    pub fault_lag: Vec<f64>,
    /// holdfast runs that did not finish in time (not in `ours`).
    pub timeouts: usize,
    /// Runs where the container ran again before the fault command had returned
    /// (their samples are negative).
    pub early: usize,
}

impl Comparison {
    fn new(name: &str, peer_name: &str) -> Self {
        Comparison {
            name: name.to_string(),
            peer_name: peer_name.to_string(),
            ours: Vec::new(),
            ours_from_event: Vec::new(),
            fault_lag: Vec::new(),
            peer: Vec::new(),
            timeouts: 0,
            early: 0,
        }
    }
}

/// The service every benchmark file runs: busybox sleeping, no health check.
fn service_yaml(name: &str) -> String {
    format!(
        "  {name}:\n    image: {BUSYBOX_IMAGE}\n    command: [\"sleep\", \"3600\"]\n    init: true\n"
    )
}

/// A holdfast desired-state file of `project` with `services`.
fn holdfast_file(project: &str, services: &[String]) -> String {
    let body: String = services.iter().map(|s| service_yaml(s)).collect();
    format!("name: {project}\nservices:\n{body}")
}

/// The same services as a docker-compose 1.29 file (which has no top-level `name:`).
fn compose_file(services: &[String]) -> String {
    let body: String = services.iter().map(|s| service_yaml(s)).collect();
    format!("services:\n{body}")
}

/// Milliseconds from `from_ns` to `to_ns` (negative when `to_ns` is earlier).
pub fn ms_between(from_ns: u64, to_ns: u64) -> f64 {
    (i128::from(to_ns) - i128::from(from_ns)) as f64 / 1e6
}

/// Runs `program ARGS`, fails unless it exits 0, and returns its wall time in ms.
fn timed(program: &Path, args: &[&str]) -> Result<f64> {
    timed_command(Command::new(program).args(args))
}

/// Runs `cmd` (stdin closed), fails unless it exits 0, and returns its wall time in ms.
pub fn timed_command(cmd: &mut Command) -> Result<f64> {
    let shown = format!("{cmd:?}");
    let start = Instant::now();
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {shown}"))?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    if !out.status.success() {
        bail!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(ms)
}

/// The wall time, in ms, of the docker CLI starting and making one API call
/// (`docker version`): part of every peer time, never of holdfast's.
pub fn cli_overhead(runs: usize) -> Result<Vec<f64>> {
    (0..runs)
        .map(|_| {
            timed(
                Path::new("docker"),
                &["version", "--format", "{{.Server.Version}}"],
            )
        })
        .collect()
}

/// A fault of measurement 1.
#[derive(Debug, Clone, Copy)]
enum Fault {
    Kill,
    Stop,
    Remove,
}

impl Fault {
    const ALL: [Fault; 3] = [Fault::Kill, Fault::Stop, Fault::Remove];

    /// The docker subcommand that causes it.
    fn args(self) -> &'static [&'static str] {
        match self {
            Fault::Kill => &["kill"],
            Fault::Stop => &["stop"],
            Fault::Remove => &["rm", "-f"],
        }
    }

    fn name(self) -> &'static str {
        match self {
            Fault::Kill => "recovery after `docker kill` (SIGKILL)",
            Fault::Stop => "recovery after `docker stop`",
            Fault::Remove => "recovery after `docker rm -f`",
        }
    }

    /// The engine event that marks the fault done.
    fn event(self) -> &'static str {
        match self {
            Fault::Kill | Fault::Stop => "die",
            Fault::Remove => "destroy",
        }
    }

    fn peer_name(self) -> &'static str {
        match self {
            Fault::Kill | Fault::Stop => "`docker start`",
            Fault::Remove => "`docker run -d`",
        }
    }
}

/// Measurement 1: how long after a fault a running `holdfast run` has the container
/// running again, `runs` times per fault, against Docker doing the repair when told.
///
/// Times come from the engine's own `start` event (`timeNano`), followed with
/// `docker events`: holdfast's from the moment the fault command returned, the peer's
/// from the moment its repair command was issued. The peer is an equivalent container
/// (same image, command, init, log options, on its own bridge network with the same
/// alias) that no controller watches; holdfast and peer runs alternate.
pub fn recovery(holdfast: &Path, runs: usize) -> Result<Vec<Comparison>> {
    let project = Project::new("hfbench-recovery")?;
    let peer_project = Project::new("hfbench-peer")?;
    let file = project.write(
        "holdfast.yaml",
        &holdfast_file(&project.name, &["svc".to_string()]),
    )?;
    let target = format!("{}-svc", project.name);
    let peer = format!("{}-svc", peer_project.name);
    let peer_label = format!("{PEER_LABEL}={}", peer_project.name);
    let network = format!("{}_default", peer_project.name);
    docker(&["network", "create", "--label", &peer_label, &network])?;
    let run_peer = || {
        docker(&[
            "run",
            "-d",
            "--name",
            &peer,
            "--init",
            "--network",
            &network,
            "--network-alias",
            "svc",
            "--log-opt",
            "max-size=10m",
            "--log-opt",
            "max-file=3",
            "--label",
            &peer_label,
            BUSYBOX_IMAGE,
            "sleep",
            "3600",
        ])
    };
    run_peer()?;
    let ours_events = Events::follow(&format!("io.holdfast.project={}", project.name))?;
    let peer_events = Events::follow(&peer_label)?;
    // Declared after the projects, so dropped (stopped) before they are cleaned up.
    let mut controller = Controller::start(holdfast, &project, &file)?;
    controller.wait_converged(1, &[&target], Duration::from_secs(60))?;

    let mut results = Vec::new();
    for fault in Fault::ALL {
        let mut c = Comparison::new(fault.name(), fault.peer_name());
        eprintln!("  {} ({runs} runs)", fault.name());
        for _ in 0..runs {
            // holdfast repairs.
            let running = wait_until(RECOVERY_TIMEOUT, Duration::from_millis(10), || {
                controller.check_alive()?;
                Ok(running_count(&[&target])? == 1)
            })?;
            if !running {
                bail!("{target} is not running {RECOVERY_TIMEOUT:?} after the last run");
            }
            std::thread::sleep(SETTLE);
            ours_events.drain();
            let issued = now_ns();
            let mut args = fault.args().to_vec();
            args.push(&target);
            docker(&args)?;
            let returned = now_ns();
            match ours_events.next_start(&target, issued, RECOVERY_TIMEOUT) {
                (Some(start), before) => {
                    let ms = ms_between(returned, start.time_ns);
                    if ms < 0.0 {
                        c.early += 1;
                    }
                    c.ours.push(ms);
                    if let Some(fault_event) = before.iter().find(|e| e.action == fault.event()) {
                        c.ours_from_event
                            .push(ms_between(fault_event.time_ns, start.time_ns));
                        c.fault_lag.push(ms_between(fault_event.time_ns, returned));
                    }
                }
                (None, _) => c.timeouts += 1,
            }

            // Docker repairs when told.
            let mut args = fault.args().to_vec();
            args.push(&peer);
            docker(&args)?;
            peer_events.drain();
            let issued = now_ns();
            match fault {
                Fault::Remove => run_peer()?,
                Fault::Kill | Fault::Stop => docker(&["start", &peer])?,
            };
            let (Some(e), _) = peer_events.next_start(&peer, issued, RECOVERY_TIMEOUT) else {
                bail!("no `start` event of {peer} within {RECOVERY_TIMEOUT:?}");
            };
            c.peer.push(ms_between(issued, e.time_ns));
        }
        results.push(c);
    }
    Ok(results)
}

/// Measurement 2: a second `holdfast apply` of `services` services that already run,
/// against `docker-compose up -d` of the same services (another project), `runs` times
/// each, alternating. Also checks that neither pass replaced a container.
pub fn noop(holdfast: &Path, services: usize, runs: usize) -> Result<(Comparison, Vec<String>)> {
    let ours = Project::new(&format!("hfbench-noop{services}"))?;
    let theirs = Project::new(&format!("hfbench-compose{services}"))?;
    let names: Vec<String> = (1..=services).map(|i| format!("s{i:02}")).collect();
    let file = ours.write("holdfast.yaml", &holdfast_file(&ours.name, &names))?;
    let compose = theirs.write("docker-compose.yml", &compose_file(&names))?;
    let file = file.to_string_lossy().to_string();
    let compose = compose.to_string_lossy().to_string();
    let state_dir = ours.state_dir().to_string_lossy().to_string();
    let apply_args = ["apply", "-f", &file, "--state-dir", &state_dir];
    let up_args = ["-p", &theirs.name, "-f", &compose, "up", "-d"];
    let compose_bin = Path::new("docker-compose");

    eprintln!("  creating {services} services with holdfast apply and docker-compose up -d");
    let first_apply = timed(holdfast, &apply_args)?;
    let first_up = timed(compose_bin, &up_args)?;
    eprintln!(
        "  first pass (creates everything): holdfast apply {:.1} s, docker-compose up -d {:.1} s",
        first_apply / 1e3,
        first_up / 1e3
    );
    for project in [&ours.name, &theirs.name] {
        let ids = container_ids(project)?;
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let up = running_count(&refs)?;
        if ids.len() != services || up != services {
            bail!(
                "{project}: {} containers, {up} running, after the first pass; want {services}",
                ids.len()
            );
        }
    }
    let before = (container_ids(&ours.name)?, container_ids(&theirs.name)?);

    let mut c = Comparison::new(
        &format!("no-op `holdfast apply`, {services} services"),
        "`docker-compose up -d`",
    );
    eprintln!("  no-op passes, {services} services ({runs} runs)");
    for _ in 0..runs {
        c.ours.push(timed(holdfast, &apply_args)?);
        c.peer.push(timed(compose_bin, &up_args)?);
    }

    let mut notes = Vec::new();
    if container_ids(&ours.name)? != before.0 {
        notes.push(format!(
            "a no-op `holdfast apply` of {services} services replaced containers"
        ));
    }
    if container_ids(&theirs.name)? != before.1 {
        notes.push(format!(
            "a no-op `docker-compose up -d` of {services} services replaced containers"
        ));
    }
    Ok((c, notes))
}

/// Memory and CPU of one process over the sampling window.
#[derive(Debug, Clone)]
pub struct Usage {
    /// VmRSS samples, MiB, one per second.
    pub rss_mib: Vec<f64>,
    /// VmHWM (peak resident set since start) at the end of the window, MiB.
    pub peak_mib: f64,
    /// Average CPU over the window, % of one CPU (utime + stime).
    pub cpu_pct: f64,
}

/// Measurement 3's result.
#[derive(Debug, Clone)]
pub struct Idle {
    /// Services under the controller.
    pub services: usize,
    /// How long `holdfast run` took, from start, to create and report every service Ready.
    pub converge_s: f64,
    /// The sampling window, seconds.
    pub window_s: f64,
    /// The controller's usage.
    pub holdfast: Usage,
    /// dockerd's usage over the same window, when its process is visible.
    pub dockerd: Option<Usage>,
    /// Reconciles the controller ran during the window (periodic resyncs).
    pub reconciles: usize,
}

/// A process's `utime + stime`, in clock ticks.
fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) in parentheses; utime and
    // stime are fields 14 and 15, so 12th and 13th after the name.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("odd /proc/PID/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .context("odd /proc/PID/stat")
    };
    Ok(field(11)? + field(12)?)
}

/// A `/proc/PID/status` field in kB, as MiB.
fn status_mib(pid: u32, key: &str) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim_start_matches(':').split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no {key} in /proc/{pid}/status"))?;
    Ok(kb / 1024.0)
}

/// Samples `pids` once a second for `window`; returns each one's usage.
fn sample(pids: &[u32], window: Duration, controller: &mut Controller) -> Result<Vec<Usage>> {
    let tick_hz: f64 = run("getconf", &["CLK_TCK"])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100.0);
    let start_ticks: Vec<u64> = pids.iter().map(|p| cpu_ticks(*p)).collect::<Result<_>>()?;
    let start = Instant::now();
    let mut rss: Vec<Vec<f64>> = vec![Vec::new(); pids.len()];
    let seconds = window.as_secs().max(1);
    for i in 1..=seconds {
        // Sleep to the next whole second since the start, so that drift does not add up.
        let next = Duration::from_secs(i);
        std::thread::sleep(next.saturating_sub(start.elapsed()));
        controller.check_alive()?;
        for (k, pid) in pids.iter().enumerate() {
            rss[k].push(status_mib(*pid, "VmRSS")?);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    pids.iter()
        .zip(start_ticks)
        .zip(rss)
        .map(|((pid, t0), rss_mib)| {
            let ticks = cpu_ticks(*pid)?.saturating_sub(t0) as f64;
            Ok(Usage {
                rss_mib,
                peak_mib: status_mib(*pid, "VmHWM")?,
                cpu_pct: ticks / tick_hz / elapsed * 100.0,
            })
        })
        .collect()
}

/// Measurement 3: starts `holdfast run` on a file of `services` services, waits until
/// it has created them and reports every one Ready, then samples its memory and CPU
/// (and dockerd's, for scale) for `window`.
pub fn idle(holdfast: &Path, services: usize, window: Duration) -> Result<Idle> {
    let project = Project::new(&format!("hfbench-idle{services}"))?;
    let names: Vec<String> = (1..=services).map(|i| format!("s{i:02}")).collect();
    let file = project.write("holdfast.yaml", &holdfast_file(&project.name, &names))?;
    let containers: Vec<String> = names
        .iter()
        .map(|s| format!("{}-{s}", project.name))
        .collect();
    let refs: Vec<&str> = containers.iter().map(String::as_str).collect();
    eprintln!("  holdfast run creates {services} services");
    let start = Instant::now();
    let mut controller = Controller::start(holdfast, &project, &file)?;
    controller.wait_converged(services, &refs, Duration::from_secs(300))?;
    let converge_s = start.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(2));
    eprintln!(
        "  converged in {converge_s:.1} s; sampling for {} s",
        window.as_secs()
    );
    let mut pids = vec![controller.pid()];
    let dockerd = run("pidof", &["dockerd"])
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u32>().ok())
        .filter(|pid| cpu_ticks(*pid).is_ok());
    pids.extend(dockerd);
    let reconciles_before = controller.reconciles();
    let mut usage = sample(&pids, window, &mut controller)?.into_iter();
    let reconciles = controller.reconciles().saturating_sub(reconciles_before);
    let ours = usage.next().context("no sample of holdfast")?;
    Ok(Idle {
        services,
        converge_s,
        window_s: window.as_secs_f64(),
        holdfast: ours,
        dockerd: usage.next(),
        reconciles,
    })
}
