//! Sections 5 to 7: what observation costs. Docker API calls counted by a proxy on the
//! Docker socket ([`DockerProxy`]), the wall time of a no-op pass over 500 containers,
//! and reconvergence after the engine restarts (a [`SecondEngine`] the benchmark starts
//! itself; the machine's engine is never restarted).
//!
//! Every measurement runs each holdfast binary it is given in turn on the same
//! containers: the current build and, with `--baseline-rev`, the build of an older
//! commit, so that the report shows before and after side by side.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use holdfast_testkit::BUSYBOX_IMAGE;
use holdfast_testkit::engine::SecondEngine;
use holdfast_testkit::proxy::DockerProxy;

use crate::engine::{self, Controller, Project, api_get, container_ids, wait_until};

/// A holdfast binary under test and what to call it in the report.
#[derive(Debug, Clone)]
pub struct Binary {
    /// `before (6fc9d10)`, `after`.
    pub label: String,
    /// The executable.
    pub path: PathBuf,
}

/// Calls made by one operation, by `METHOD /path`.
#[derive(Debug, Clone, Default)]
pub struct Counted {
    /// Calls per operation (for a resync: per pass).
    pub per_op: f64,
    /// The breakdown over the whole window, by `METHOD /path`.
    pub by_path: BTreeMap<String, u64>,
    /// How many operations (passes) the window held.
    pub ops: f64,
}

/// One binary's results.
#[derive(Debug, Clone, Default)]
pub struct BinaryResults {
    /// Which binary.
    pub label: String,
    /// Services → calls of one no-op `holdfast apply`.
    pub apply: BTreeMap<usize, Counted>,
    /// Services → calls per resync pass of `holdfast run --resync 1s`.
    pub pass: BTreeMap<usize, Counted>,
    /// Wall times (ms) of a no-op `holdfast apply` of [`BIG`] services.
    pub big_apply_ms: Vec<f64>,
    /// Wall times (ms) of one forced pass (`holdfast reconcile`) of `holdfast run` over
    /// [`BIG`] services.
    pub big_pass_ms: Vec<f64>,
    /// Reconvergence times (ms) after the engine restarted, from its first answer to
    /// every service Ready again.
    pub restart_ms: Vec<f64>,
    /// Restarts after which it did not reconverge within [`RECONVERGE_TIMEOUT`].
    pub restart_timeouts: usize,
}

/// Everything sections 5 to 7 report.
#[derive(Debug, Clone, Default)]
pub struct CallsReport {
    /// One entry per binary, the baseline first.
    pub binaries: Vec<BinaryResults>,
    /// Service counts of sections 5 and 6.
    pub sizes: Vec<usize>,
    /// How long `holdfast apply` took to create the [`BIG`] services, s.
    pub big_create_s: f64,
    /// Services in the engine-restart measurement.
    pub restart_services: usize,
    /// Notes for "odd things".
    pub notes: Vec<String>,
    /// When, on what and under what load it was measured, for a `--calls-only` run
    /// (whose machine section is another run's).
    pub context: Option<String>,
}

/// Containers of the no-op pass measurement.
pub const BIG: usize = 500;

/// How long the measurement window of resync passes lasts.
const PASS_WINDOW: Duration = Duration::from_secs(8);

/// How long the controller may take to reconverge after an engine restart.
const RECONVERGE_TIMEOUT: Duration = Duration::from_secs(90);

/// The benchmark's service: busybox sleeping under an init, no health check.
fn service(name: &str) -> String {
    format!(
        "  {name}:\n    image: {BUSYBOX_IMAGE}\n    command: [\"sleep\", \"3600\"]\n    init: true\n"
    )
}

fn file(project: &str, services: usize) -> String {
    let body: String = (1..=services)
        .map(|i| service(&format!("s{i:03}")))
        .collect();
    format!("name: {project}\nservices:\n{body}")
}

/// Runs `holdfast ARGS` with `DOCKER_HOST` = `host` when given; fails unless it exits
/// 0; returns its wall time in ms.
fn holdfast(binary: &Path, args: &[&str], host: Option<&str>) -> Result<f64> {
    let mut cmd = Command::new(binary);
    cmd.args(args).env_remove("HOLDFAST_LOG");
    if let Some(host) = host {
        cmd.env("DOCKER_HOST", host);
    }
    crate::measure::timed_command(&mut cmd)
}

fn apply_args<'a>(file: &'a str, state: &'a str) -> [&'a str; 7] {
    [
        "apply",
        "-f",
        file,
        "--state-dir",
        state,
        "--timeout",
        "10m",
    ]
}

/// Sections 5 and 6 for each size, then the no-op pass over [`BIG`] containers, then
/// the engine restarts.
pub fn measure(binaries: &[Binary], sizes: &[usize], restart_runs: usize) -> Result<CallsReport> {
    let mut report = CallsReport {
        binaries: binaries
            .iter()
            .map(|b| BinaryResults {
                label: b.label.clone(),
                ..BinaryResults::default()
            })
            .collect(),
        sizes: sizes.to_vec(),
        ..CallsReport::default()
    };
    let current = binaries.last().context("no holdfast binary to measure")?;
    for &services in sizes {
        eprintln!("  Docker API calls, {services} services");
        let project = Project::new(&format!("hfbench-calls{services}"))?;
        let path = project.write("holdfast.yaml", &file(&project.name, services))?;
        let file = path.to_string_lossy().to_string();
        let state = project.state_dir().to_string_lossy().to_string();
        holdfast(&current.path, &apply_args(&file, &state), None)?;
        let before = container_ids(&project.name)?;
        if before.len() != services {
            bail!(
                "{} containers after the first apply; want {services}",
                before.len()
            );
        }
        for (i, binary) in binaries.iter().enumerate() {
            let proxy = DockerProxy::start();
            let host = proxy.host();
            holdfast(&binary.path, &apply_args(&file, &state), Some(&host))?;
            report.binaries[i].apply.insert(
                services,
                Counted {
                    per_op: proxy.total() as f64,
                    by_path: proxy.counts(),
                    ops: 1.0,
                },
            );
            let pass = resync_calls(&binary.path, &project, &path, services, &proxy)?;
            report.binaries[i].pass.insert(services, pass);
        }
        if container_ids(&project.name)? != before {
            report.notes.push(format!(
                "a no-op pass of {services} services replaced containers"
            ));
        }
    }

    eprintln!("  a no-op pass over {BIG} containers");
    big(binaries, &mut report)?;

    eprintln!("  reconvergence after an engine restart ({restart_runs} runs per binary)");
    report.restart_services = 10;
    for (i, binary) in binaries.iter().enumerate() {
        let (samples, timeouts) = restarts(&binary.path, report.restart_services, restart_runs)?;
        report.binaries[i].restart_ms = samples;
        report.binaries[i].restart_timeouts = timeouts;
    }
    Ok(report)
}

/// `holdfast run --resync 1s` through `proxy` on `project`'s converged services:
/// calls over [`PASS_WINDOW`] divided by the passes the window held (reconciles /
/// services).
fn resync_calls(
    binary: &Path,
    project: &Project,
    file: &Path,
    services: usize,
    proxy: &DockerProxy,
) -> Result<Counted> {
    let host = proxy.host();
    let started = now_ms();
    let mut controller =
        Controller::start_on(binary, project, file, &["--resync", "1s"], Some(&host))?;
    wait_ready(&mut controller, services, started, Duration::from_secs(120))?;
    // Let start-up (the first relist, the first passes) finish before counting.
    std::thread::sleep(Duration::from_secs(2));
    controller.check_alive()?;
    proxy.reset();
    let reconciles = controller.reconciles();
    std::thread::sleep(PASS_WINDOW);
    controller.check_alive()?;
    let by_path = proxy.counts();
    let calls: u64 = by_path.values().sum();
    let passes = controller.reconciles().saturating_sub(reconciles) as f64 / services as f64;
    if passes < 1.0 {
        bail!("fewer than one resync pass in {PASS_WINDOW:?}");
    }
    Ok(Counted {
        per_op: calls as f64 / passes,
        by_path,
        ops: passes,
    })
}

/// The no-op pass over [`BIG`] containers: `holdfast apply` wall time, and the wall time
/// of one forced pass of `holdfast run` (`holdfast reconcile`, which reconciles every
/// service once and returns when each was looked at), 3 runs each per binary.
fn big(binaries: &[Binary], report: &mut CallsReport) -> Result<()> {
    let current = binaries.last().context("no holdfast binary")?;
    let project = Project::new(&format!("hfbench-big{BIG}"))?;
    let path = project.write("holdfast.yaml", &file(&project.name, BIG))?;
    let file = path.to_string_lossy().to_string();
    let state = project.state_dir().to_string_lossy().to_string();
    let created = Instant::now();
    holdfast(&current.path, &apply_args(&file, &state), None)?;
    report.big_create_s = created.elapsed().as_secs_f64();
    let before = container_ids(&project.name)?;
    if before.len() != BIG {
        bail!(
            "{} containers after the first apply; want {BIG}",
            before.len()
        );
    }
    for (i, binary) in binaries.iter().enumerate() {
        for _ in 0..3 {
            let ms = holdfast(&binary.path, &apply_args(&file, &state), None)?;
            report.binaries[i].big_apply_ms.push(ms);
        }
        let started = now_ms();
        let mut controller = Controller::start_on(&binary.path, &project, &path, &[], None)?;
        wait_ready(&mut controller, BIG, started, Duration::from_secs(300))?;
        std::thread::sleep(Duration::from_secs(2));
        let socket = controller.socket().to_string_lossy().to_string();
        for _ in 0..3 {
            let ms = holdfast(
                &binary.path,
                &["reconcile", "--timeout", "120s", "--socket", &socket],
                None,
            )?;
            report.binaries[i].big_pass_ms.push(ms);
        }
        drop(controller);
    }
    if container_ids(&project.name)? != before {
        report.notes.push(format!(
            "a no-op pass over {BIG} containers replaced containers"
        ));
    }
    Ok(())
}

fn now_ms() -> u64 {
    engine::now_ns() / 1_000_000
}

/// Whether every one of `services` statuses is Ready, observed at or after `since_ms`.
fn ready_since(socket: &Path, services: usize, since_ms: u64) -> bool {
    let Ok(list) = api_get(socket, "/v1/resources") else {
        return false;
    };
    let Some(items) = list["items"].as_array() else {
        return false;
    };
    items.len() == services
        && items.iter().all(|i| {
            i["phase"] == "Ready" && i["observed_at"].as_u64().is_some_and(|t| t >= since_ms)
        })
}

/// Waits until the controller's API shows `services` statuses, every one Ready and
/// observed at or after `since_ms` (statuses stored by an earlier run do not count).
fn wait_ready(
    controller: &mut Controller,
    services: usize,
    since_ms: u64,
    timeout: Duration,
) -> Result<()> {
    let socket = controller.socket().to_path_buf();
    let ready = wait_until(timeout, Duration::from_millis(100), || {
        controller.check_alive()?;
        Ok(ready_since(&socket, services, since_ms))
    })?;
    if !ready {
        bail!("holdfast run did not report {services} services Ready within {timeout:?}");
    }
    Ok(())
}

/// How many of the project's containers run in `engine`.
fn running_in(engine: &SecondEngine, project: &str) -> usize {
    let filter = format!("label=io.holdfast.project={project}");
    let out = engine.docker(&["ps", "-q", "--filter", &filter]);
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// `holdfast run` on a second engine with `services` services (no restart policy, so
/// holdfast must start every one again); `runs` times: stop the engine, start it, and
/// time from its first answer to every service Ready (as the API reports, observed
/// after the restart) with every container running.
fn restarts(binary: &Path, services: usize, runs: usize) -> Result<(Vec<f64>, usize)> {
    let mut engine = SecondEngine::start();
    engine.busybox_image();
    let project = Project::new("hfbench-restart")?;
    let path = project.write("holdfast.yaml", &file(&project.name, services))?;
    let host = engine.host();
    let mut controller = Controller::start_on(binary, &project, &path, &[], Some(&host))?;
    let socket = controller.socket().to_path_buf();
    let converged = wait_until(Duration::from_secs(120), Duration::from_millis(50), || {
        controller.check_alive()?;
        Ok(ready_since(&socket, services, 0) && running_in(&engine, &project.name) == services)
    })?;
    if !converged {
        bail!("holdfast run did not converge on the second engine");
    }
    let mut samples = Vec::new();
    let mut timeouts = 0;
    for _ in 0..runs {
        engine.stop();
        let back = engine.start_again();
        let back_ms = now_ms();
        let ok = wait_until(RECONVERGE_TIMEOUT, Duration::from_millis(20), || {
            controller.check_alive()?;
            Ok(ready_since(&socket, services, back_ms)
                && running_in(&engine, &project.name) == services)
        })?;
        if ok {
            samples.push(back.elapsed().as_secs_f64() * 1e3);
        } else {
            timeouts += 1;
            // Leave the next run a converged start.
            let _ = holdfast(
                binary,
                &[
                    "reconcile",
                    "--timeout",
                    "60s",
                    "--socket",
                    &socket.to_string_lossy(),
                ],
                None,
            );
        }
    }
    drop(controller);
    drop(engine);
    Ok((samples, timeouts))
}

/// A cell: the median of `samples` in ms, or `–`.
fn ms(samples: &[f64]) -> String {
    crate::stats::Summary::of(samples).map_or("–".to_string(), |s| format!("{:.0} ms", s.median))
}

/// `GET /containers/{id}/json` ×20, … (the counts over the whole window, divided by
/// `ops`).
fn breakdown(c: &Counted) -> String {
    if c.by_path.is_empty() {
        return "none".to_string();
    }
    c.by_path
        .iter()
        .map(|(k, v)| {
            let n = *v as f64 / c.ops.max(1.0);
            if (n - n.round()).abs() < 0.05 {
                format!("`{k}` ×{n:.0}")
            } else {
                format!("`{k}` ×{n:.1}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Marks around the sections in docs/benchmarks.md, so that `--calls-only` can replace
/// them in place.
pub const BEGIN: &str = "<!-- calls:begin -->";
/// See [`BEGIN`].
pub const END: &str = "<!-- calls:end -->";

/// Sections 5 to 7 as Markdown, between [`BEGIN`] and [`END`].
pub fn section(r: &CallsReport) -> String {
    let mut out = format!("{BEGIN}\n");
    if let Some(context) = &r.context {
        out.push_str(&format!("_{context}_\n\n"));
    }
    let header = |out: &mut String, first: &str| {
        out.push_str(&format!("| {first} |"));
        for b in &r.binaries {
            out.push_str(&format!(" {} |", b.label));
        }
        out.push_str(" target |\n|---|");
        for _ in &r.binaries {
            out.push_str("--:|");
        }
        out.push_str("---|\n");
    };
    out.push_str("### 5. Docker API calls\n\n");
    header(&mut out, "measurement");
    for &n in &r.sizes {
        out.push_str(&format!("| no-op `holdfast apply`, {n} services |"));
        for b in &r.binaries {
            let c = b.apply.get(&n).map_or(f64::NAN, |c| c.per_op);
            out.push_str(&format!(" {c:.0} |"));
        }
        out.push_str(&format!(" ≤ {} (N + 5) |\n", n + 5));
    }
    for &n in &r.sizes {
        out.push_str(&format!(
            "| resync pass of `holdfast run`, {n} unchanged services (calls per pass) |"
        ));
        for b in &r.binaries {
            let c = b.pass.get(&n).map_or(f64::NAN, |c| c.per_op);
            out.push_str(&format!(" {c:.1} |"));
        }
        out.push_str(" ≤ 3, whatever N |\n");
    }
    out.push('\n');
    for b in &r.binaries {
        for &n in &r.sizes {
            if let Some(c) = b.apply.get(&n) {
                out.push_str(&format!(
                    "- {}, no-op apply of {n}: {}.\n",
                    b.label,
                    breakdown(c)
                ));
            }
            if let Some(c) = b.pass.get(&n) {
                out.push_str(&format!(
                    "- {}, resync pass over {n} ({:.1} passes counted): {}.\n",
                    b.label,
                    c.ops,
                    breakdown(c)
                ));
            }
        }
    }
    out.push('\n');
    out.push_str(METHOD);
    out.push_str(&format!("\n### 6. A no-op pass over {BIG} containers\n\n"));
    header(&mut out, "measurement (median of 3)");
    out.push_str(&format!(
        "| no-op `holdfast apply`, {BIG} services, whole process |"
    ));
    for b in &r.binaries {
        out.push_str(&format!(" {} |", ms(&b.big_apply_ms)));
    }
    out.push_str(" |\n");
    out.push_str(&format!(
        "| one pass of `holdfast run` over {BIG} unchanged services (`holdfast reconcile`) |"
    ));
    for b in &r.binaries {
        out.push_str(&format!(" {} |", ms(&b.big_pass_ms)));
    }
    out.push_str(" ≤ 1000 ms |\n\n");
    out.push_str(&format!(
        "Creating the {BIG} services (busybox `sleep`, one network) with the first `holdfast apply` took {:.0} s.\n\n",
        r.big_create_s
    ));
    out.push_str("### 7. Reconvergence after the engine restarts\n\n");
    header(&mut out, "measurement");
    out.push_str(&format!(
        "| engine answers again → all {} services Ready, median |",
        r.restart_services
    ));
    for b in &r.binaries {
        out.push_str(&format!(" {} |", ms(&b.restart_ms)));
    }
    out.push_str(" no manual step |\n| runs (timeouts) |");
    for b in &r.binaries {
        out.push_str(&format!(
            " {} ({}) |",
            b.restart_ms.len() + b.restart_timeouts,
            b.restart_timeouts
        ));
    }
    out.push_str(" |\n\n");
    out.push_str(&format!(
        "A second dockerd that the benchmark starts itself (own data root, exec root and \
         socket, `--iptables=false --bridge=none`, its own network namespace) is stopped \
         (SIGTERM: it stops the containers) and started again under a running `holdfast run` \
         of {} services without a restart policy, so every container must be started again by \
         holdfast; the time runs from the engine's first answer to the first poll of the \
         controller's API that shows every service Ready, observed after the restart, with \
         every container running (timeout {} s). Sections 5 to 7 alone, before and after: \
         `cargo run --release -p holdfast-bench -- --calls-only --baseline-rev 6fc9d10`.\n\n",
        r.restart_services,
        RECONVERGE_TIMEOUT.as_secs()
    ));
    out.push_str(&format!("{END}\n"));
    out
}

/// How sections 5 to 7 are measured, for "How it is measured".
pub const METHOD: &str = "- **Docker API calls.** A proxy on a unix socket in front of the \
    Docker socket (`DOCKER_HOST` points holdfast at it) counts each HTTP request by method and \
    path (API version, query and object IDs folded). After a first `holdfast apply` created N \
    services: the calls of one more `holdfast apply`, and, for `holdfast run --resync 1s` once \
    it has reported every service Ready and 2 s more, the calls over an 8 s window divided by \
    the passes in it (reconciles / N, from its debug log). The no-op pass over 500 containers is \
    the wall time of `holdfast apply` (whole process) and of `holdfast reconcile` against a \
    running `holdfast run` (it queues every service and returns when each was looked at). With \
    `--baseline-rev REV` the same is measured with the build of commit REV, on the same \
    containers.\n";

/// Replaces sections 5 to 7 in `doc` (between [`BEGIN`] and [`END`]), or puts them before
/// "### Odd things seen in this run" when the marks are not there.
pub fn splice(doc: &str, section: &str) -> String {
    splice_marked(doc, BEGIN, END, section)
}

/// Replaces what lies between `begin` and `end` in `doc` with `section` (which carries
/// the marks itself), or puts it before "### Odd things seen in this run".
pub fn splice_marked(doc: &str, begin: &str, end: &str, section: &str) -> String {
    if let (Some(b), Some(e)) = (doc.find(begin), doc.find(end))
        && b < e
    {
        let after = &doc[e + end.len()..];
        let after = after.strip_prefix('\n').unwrap_or(after);
        return format!("{}{section}{after}", &doc[..b]);
    }
    match doc.find("### Odd things seen in this run") {
        Some(at) => format!("{}{section}\n{}", &doc[..at], &doc[at..]),
        None => format!("{doc}\n{section}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_spliced_in_place() {
        let doc = "# B\n\n### 4. x\n\n### Odd things seen in this run\n\n- none\n";
        let one = splice(doc, &format!("{BEGIN}\nfirst\n{END}\n"));
        assert!(one.contains("first\n<!-- calls:end -->\n\n### Odd things"));
        let two = splice(&one, &format!("{BEGIN}\nsecond\n{END}\n"));
        assert!(two.contains("second") && !two.contains("first"));
        assert_eq!(two.matches(BEGIN).count(), 1);
    }
}
