//! The results as Markdown (docs/benchmarks.md) and as a terminal summary.

use std::fmt::Write as _;

use crate::engine::run;
use crate::gitops::{self, PushToReady, Series, Stages};
use crate::measure::{Comparison, Idle, Usage};
use crate::stats::{Summary, ratio};

/// The machine the benchmark ran on.
#[derive(Debug, Clone)]
pub struct Machine {
    /// `nproc`.
    pub nproc: String,
    /// The CPU model from /proc/cpuinfo.
    pub cpu: String,
    /// MemTotal from /proc/meminfo, GiB.
    pub memory_gib: f64,
    /// `uname -r`.
    pub kernel: String,
    /// The Docker engine's version.
    pub docker: String,
    /// `docker-compose version --short`.
    pub compose: String,
    /// The date and time (UTC) of the run.
    pub date: String,
    /// The holdfast commit, with a mark when the tree has local changes.
    pub commit: String,
    /// /proc/loadavg's 1-minute load average when the benchmark started.
    pub load_start: String,
    /// Containers running on the engine when the benchmark started (none are its own).
    pub other_containers: usize,
}

/// The 1-minute load average.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".to_string())
}

impl Machine {
    /// Finds out what it can; unknown fields read `?`.
    pub fn detect() -> Self {
        let or_unknown = |r: anyhow::Result<String>| r.unwrap_or_else(|_| "?".to_string());
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            .unwrap_or_else(|| "?".to_string());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_gib = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
        let dirty = run("git", &["status", "--porcelain"]).is_ok_and(|s| !s.is_empty());
        let commit = or_unknown(run("git", &["rev-parse", "--short", "HEAD"]));
        Machine {
            nproc: or_unknown(run("nproc", &[])),
            cpu,
            memory_gib,
            kernel: or_unknown(run("uname", &["-r"])),
            docker: or_unknown(run(
                "docker",
                &["version", "--format", "{{.Server.Version}}"],
            )),
            compose: or_unknown(run("docker-compose", &["version", "--short"])),
            date: or_unknown(run("date", &["-u", "+%Y-%m-%d %H:%M UTC"])),
            commit: if dirty {
                format!("{commit} (with uncommitted changes)")
            } else {
                commit
            },
            load_start: load_average(),
            other_containers: run("docker", &["ps", "-q"]).map_or(0, |s| s.lines().count()),
        }
    }
}

/// Everything one run of the benchmark found.
#[derive(Debug, Clone)]
pub struct Report {
    /// Where it ran.
    pub machine: Machine,
    /// Whether `--quick` was given.
    pub quick: bool,
    /// Wall times (ms) of `docker version`: the CLI's start-up and one API call.
    pub cli_overhead: Vec<f64>,
    /// Measurement 1.
    pub recovery: Vec<Comparison>,
    /// Measurement 2.
    pub noop: Vec<Comparison>,
    /// Measurement 3.
    pub idle: Idle,
    /// Measurement 4.
    pub push: PushToReady,
    /// Measurements 5 to 7 (Docker API calls, 500 containers, engine restart).
    pub calls: crate::calls::CallsReport,
    /// Odd things seen while measuring.
    pub notes: Vec<String>,
    /// How long the whole benchmark took, minutes.
    pub minutes: f64,
    /// The 1-minute load average at the end.
    pub load_end: String,
}

/// The median, or NaN without samples.
fn median(samples: &[f64]) -> f64 {
    Summary::of(samples).map_or(f64::NAN, |s| s.median)
}

/// One table row per comparison: median, p90, runs, and the ratios holdfast / peer.
fn table(rows: &[Comparison], unit: &str) -> String {
    let mut out = String::from(
        "| measurement | holdfast median | holdfast p90 | peer | peer median | peer p90 | ratio median | ratio p90 | runs |\n\
         |---|--:|--:|---|--:|--:|--:|--:|--:|\n",
    );
    for c in rows {
        let (Some(o), Some(p)) = (Summary::of(&c.ours), Summary::of(&c.peer)) else {
            let _ = writeln!(
                out,
                "| {} | no result | | {} | | | | | 0 |",
                c.name, c.peer_name
            );
            continue;
        };
        let runs = if o.n == p.n {
            o.n.to_string()
        } else {
            format!("{} / {}", o.n, p.n)
        };
        let _ = writeln!(
            out,
            "| {} | {:.0} {unit} | {:.0} {unit} | {} | {:.0} {unit} | {:.0} {unit} | **{:.2}** | {:.2} | {runs} |",
            c.name,
            o.median,
            o.p90,
            c.peer_name,
            p.median,
            p.p90,
            ratio(o.median, p.median),
            ratio(o.p90, p.p90),
        );
    }
    out
}

/// The idle table: RSS and CPU of holdfast and, for scale, dockerd.
fn idle_table(idle: &Idle) -> String {
    let row = |name: &str, u: &Usage| {
        let rss = Summary::of(&u.rss_mib);
        format!(
            "| {name} | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.2} % | {} |\n",
            rss.map_or(f64::NAN, |s| s.median),
            rss.map_or(f64::NAN, |s| s.p90),
            u.peak_mib,
            u.cpu_pct,
            u.rss_mib.len()
        )
    };
    let mut out = String::from(
        "| process | RSS median | RSS p90 | RSS peak (VmHWM) | CPU average | samples (1/s) |\n\
         |---|--:|--:|--:|--:|--:|\n",
    );
    out.push_str(&row("`holdfast run`", &idle.holdfast));
    if let Some(d) = &idle.dockerd {
        out.push_str(&row("dockerd (for scale)", d));
        let _ = writeln!(
            out,
            "| ratio holdfast / dockerd | **{:.2}** | | | **{:.2}** | |",
            ratio(median(&idle.holdfast.rss_mib), median(&d.rss_mib)),
            ratio(idle.holdfast.cpu_pct, d.cpu_pct)
        );
    }
    out
}

impl Report {
    /// Odd things worth a look: the notes from measuring, plus timeouts, runs that
    /// ended before their fault command returned, long tails and busy idling.
    pub fn odd_things(&self) -> Vec<String> {
        let mut notes: Vec<String> = Vec::new();
        for note in &self.notes {
            if !notes.contains(note) {
                notes.push(note.clone());
            }
        }
        let push = push_comparisons(&self.push);
        for c in self.recovery.iter().chain(&self.noop).chain(&push) {
            if c.timeouts > 0 {
                notes.push(format!(
                    "{}: {} runs did not finish within the timeout (left out of the statistics)",
                    c.name, c.timeouts
                ));
            }
            if c.early > 0 {
                notes.push(format!(
                    "{}: in {} of {} runs holdfast had the container running again before the fault command returned (negative samples, kept)",
                    c.name,
                    c.early,
                    c.ours.len()
                ));
            }
            for (who, samples) in [("holdfast", &c.ours), (c.peer_name.as_str(), &c.peer)] {
                if let Some(s) = Summary::of(samples)
                    && s.p90 > 2.0 * s.median
                    && s.p90 - s.median > 50.0
                {
                    notes.push(format!(
                        "{}: {who} has a long tail (p90 {:.0} ms is more than twice the median {:.0} ms)",
                        c.name, s.p90, s.median
                    ));
                }
            }
        }
        notes.extend(push_notes(&self.push));
        if self.idle.holdfast.cpu_pct > 1.0 {
            notes.push(format!(
                "idle `holdfast run` used {:.2} % CPU on average: more than expected of a controller waiting for events",
                self.idle.holdfast.cpu_pct
            ));
        }
        // Section 4 shows each holdfast series against two peers: say things once.
        let mut unique: Vec<String> = Vec::new();
        for note in notes {
            if !unique.contains(&note) {
                unique.push(note);
            }
        }
        unique
    }

    /// The results section: tables and interpretation (also the terminal summary).
    pub fn results(&self) -> String {
        let mut out = String::new();
        let cli = median(&self.cli_overhead);

        out.push_str("### 1. Recovery with a running controller\n\n");
        out.push_str(&table(&self.recovery, "ms"));
        out.push('\n');
        for c in &self.recovery {
            let (o, p) = (median(&c.ours), median(&c.peer));
            let _ = write!(
                out,
                "- {}: running again {o:.0} ms (median) after the command returned, against {p:.0} ms for {}.",
                c.name, c.peer_name,
            );
            if let (Some(e), Some(lag)) =
                (Summary::of(&c.ours_from_event), Summary::of(&c.fault_lag))
            {
                let _ = write!(
                    out,
                    " The engine recorded the container's `{}` {:.0} ms before the command returned; counted from that event, recovery took {:.0} ms (p90 {:.0} ms).",
                    if c.name.contains("rm -f") {
                        "destroy"
                    } else {
                        "die"
                    },
                    lag.median,
                    e.median,
                    e.p90,
                );
            }
            out.push('\n');
        }
        // Docker's own start time: `docker start` less the CLI's start-up and round trip.
        let start_alone = self
            .recovery
            .iter()
            .find(|c| c.peer_name.contains("docker start"))
            .map_or(f64::NAN, |c| median(&c.peer) - cli);
        let worst = self
            .recovery
            .iter()
            .map(|c| ratio(median(&c.ours), median(&c.peer)))
            .fold(f64::NAN, f64::max);
        let kill = self.recovery.first();
        let from_die = kill.map_or(f64::NAN, |c| median(&c.ours_from_event));
        let lag = kill.map_or(f64::NAN, |c| median(&c.fault_lag));
        let verdict = if worst <= 1.05 {
            format!(
                "holdfast reaches that bound: its own work (the event reaching it, observing the \
                 container, planning, the API call) does not show above Docker's start time. It \
                 hears of the `die` {lag:.0} ms before `docker kill` returns, and counted from that \
                 event its recovery ({from_die:.0} ms) is about that lag plus Docker's start \
                 ({:.0} ms); ratios a little below 1 come from that head start and the CLI cost the \
                 peer pays, not from a faster start",
                lag + start_alone
            )
        } else {
            format!(
                "holdfast stays above that bound (worst ratio {worst:.2}): the difference is its \
                 own work, the event reaching it, observing the container, planning and the API call"
            )
        };
        let _ = write!(
            out,
            "\nThe peer is an operator who types the repair command the instant the fault command \
             returns; a ratio of 1.00 means holdfast is exactly as fast. After `docker kill` and \
             `docker stop` holdfast starts the same container again, so Docker's own start time \
             bounds its recovery from below: about {start_alone:.0} ms here, the `docker start` \
             median less the docker CLI's start-up and one API round trip ({cli:.0} ms median for \
             `docker version`), which holdfast, speaking to the API directly, does not pay. \
             {verdict}. After `docker rm -f` holdfast must create a new container and start it, \
             the work of `docker run -d`.\n\n"
        );

        out.push_str("### 2. No-op pass\n\n");
        out.push_str(&table(&self.noop, "ms"));
        out.push('\n');
        for c in &self.noop {
            let r = ratio(median(&c.ours), median(&c.peer));
            let _ = writeln!(
                out,
                "- {}: {:.0} ms against {:.0} ms for {}, {}.",
                c.name,
                median(&c.ours),
                median(&c.peer),
                c.peer_name,
                if r < 1.0 {
                    format!("{:.1}× faster", 1.0 / r)
                } else {
                    format!("{r:.1}× slower")
                }
            );
        }
        out.push_str(
            "\nBoth commands load their file, list the project's containers and find nothing to \
             change; a ratio below 1 means holdfast's pass is faster. Each time is the whole \
             process, start-up included: docker-compose 1.29 is a Python program, holdfast a \
             native binary.\n\n",
        );

        let idle = &self.idle;
        let _ = write!(
            out,
            "### 3. Idle controller, {} services\n\n{}\n",
            idle.services,
            idle_table(idle)
        );
        let _ = write!(
            out,
            "`holdfast run` created the {} services and reported every one Ready in {:.1} s, then \
             was sampled for {:.0} s, during which it ran {} reconciles: with no events, work \
             comes only from the periodic resync (every 30 s ± 20 %), which reconciles every \
             service once, so the CPU average is mostly the \
             cost of the resyncs that fell in the window. CPU is the average share of one CPU \
             over the window (utime + stime from /proc/PID/stat). dockerd's figures include \
             whatever else used the engine at the time.\n\n",
            idle.services, idle.converge_s, idle.window_s, idle.reconciles
        );

        out.push_str(&push_section(&self.push, cli));
        out.push_str(&crate::calls::section(&self.calls));
        out.push('\n');

        out.push_str("### Odd things seen in this run\n\n");
        let notes = self.odd_things();
        if notes.is_empty() {
            out.push_str("- none: no timeouts, no long tails, no replaced containers.\n");
        }
        for note in notes {
            let _ = writeln!(out, "- {note}");
        }
        out
    }

    /// The whole of docs/benchmarks.md.
    pub fn markdown(&self) -> String {
        let m = &self.machine;
        let mode = if self.quick {
            "quick (`--quick`: fewer runs, shorter idle window)"
        } else {
            "full"
        };
        format!(
            "# Benchmarks\n\n\
             Written by `cargo run --release -p holdfast-bench` (the `bench/` crate); rerun it \
             rather than editing this file. Each holdfast number comes with a peer measured in the \
             same run on the same machine, and the ratio holdfast / peer, which travels between \
             machines better than the absolute times.\n\n\
             ## Machine\n\n\
             | | |\n|---|---|\n\
             | date | {} |\n\
             | CPUs (`nproc`) | {} ({}) |\n\
             | memory | {:.1} GiB |\n\
             | kernel | {} |\n\
             | Docker engine | {} |\n\
             | docker-compose | {} |\n\
             | holdfast | commit {}, release build |\n\
             | load average (1 min) | {} at the start, {} at the end |\n\
             | other containers running | {} at the start |\n\
             | mode | {mode}; took {:.1} min |\n\n\
             ## Results\n\n{}\n\
             ## How it is measured\n\n\
             - **Recovery.** One service (busybox `sleep 3600`, `init: true`, no health check) \
             under `holdfast run`. A run: wait until the container runs and let the controller \
             settle ({} ms), issue the fault with the docker CLI, and take the time from the \
             fault command returning to the `start` event of the service's container. The time of \
             the start is the engine's own event timestamp (`timeNano`, followed with `docker \
             events --since`), so there is no polling error; the engine runs on this machine, so \
             it shares the benchmark's clock. The peer is an equivalent container (same image, \
             command, init, log options; its own bridge network and alias) that no controller \
             watches: after the same fault, the time from issuing `docker start` (or, after \
             `rm -f`, `docker run -d`) to its `start` event. holdfast and peer runs alternate.\n\
             - **No-op pass.** The same services in a holdfast file and in a docker-compose file \
             (separate project names). After a first `holdfast apply` and `docker-compose up -d` \
             have created everything, the wall time of further runs of each, alternating, \
             process start-up included; container IDs are compared before and after to check \
             that nothing was replaced.\n\
             - **Idle.** `holdfast run` (default options: 4 workers, resync 30 s; logging at \
             info plus the controller's one debug line per reconcile, which is how reconciles are \
             counted) on a fresh file of 50 services; once every container runs and the controller has reported every \
             service Ready, and after 2 s more, VmRSS from /proc/PID/status is sampled once a \
             second, and utime + stime from /proc/PID/stat are read at both ends of the window. \
             dockerd is sampled alongside for scale.\n\
             - **From `git push` to Ready.** Three services (as above, each with `REV` in its \
             environment) in a repository served on loopback by `git daemon`; `holdfast run \
             --git git://127.0.0.1:PORT/REPO` follows its `main`, once with `--interval 1h \
             --webhook-listen 127.0.0.1:0` (only the webhook triggers a fetch) and once with \
             `--interval {}s` and no webhook, one controller session per mode. A run commits a \
             new `REV` for one service (each in turn) or for all three in the bench's work clone, \
             then times from just before the real `git push` (to the bare repository) to the \
             first poll of the controller's API (`GET /v1/resources` on its socket, every {} ms) \
             that shows every changed service `Ready` with `revision` = the new commit. With the \
             webhook the bench sends `POST /v1/webhook` (`X-Gitlab-Token`) as soon as the push \
             returns, as a git host would; in the polling mode it waits a random part of a poll \
             cycle before pushing, so that pushes fall anywhere in it, and makes twice as many \
             runs, the wait for the poll being spread over the whole cycle. The \
             stages come from the controller's JSON log (the `Fetched`, `CommitApplied` and \
             `Recreated` events, microsecond timestamps) and the engine's events of the \
             recreated containers (`kill` of the old, `start` of the new), all on the same \
             clock, so they add up to the total; a share is the stage's mean over the total's \
             mean. After each webhook-mode run of holdfast, the same change is made by the \
             peers: the container operations alone, `docker stop` + `docker rm` + `docker run -d` \
             of equivalent containers (same image, command, init, environment, log options; \
             own network and aliases; several containers in parallel), and a manual GitOps \
             deployment (a docker-compose project from its own repository): `git push`, then in \
             the deployment's clone (over `git://` too) `git pull` and `docker-compose up -d`, \
             each issued the instant the previous returns.\n\
             - Median and p90 (nearest rank) over the runs; ratio = holdfast / peer, of the \
             medians and of the p90s.\n\n\
             ## Reproduce\n\n\
             ```sh\n\
             cargo run --release -p holdfast-bench                # the full run, about ten minutes\n\
             cargo run --release -p holdfast-bench -- --quick     # fewer runs\n\
             cargo run --release -p holdfast-bench -- --no-docs   # do not rewrite this file\n\
             cargo run --release -p holdfast-bench -- --push-only # only section 4, printed\n\
             cargo run --release -p holdfast-bench -- --calls-only --baseline-rev 6fc9d10 # sections 5-7, updated here\n\
             cargo run --release -p holdfast-bench -- --routes-only # only section 8, updated here\n\
             cargo run --release -p holdfast-bench -- --updates-only # only section 9, updated here\n\
             ```\n\n\
             It needs what `.ci/run` installs: a running Docker engine, Debian's `docker-compose` \
             (1.29) on PATH, `busybox-static`, and git with its `git daemon`. It builds the release `holdfast` binary and the \
             busybox test image itself. Everything it creates belongs to projects named \
             `hfbench-*` and is removed at the end, on failure too; leftovers of an interrupted run \
             are removed when the next run starts. Nothing else is touched and nothing leaves the \
             machine. Close other work on the machine first: the numbers are wall times.\n",
            m.date,
            m.nproc,
            m.cpu,
            m.memory_gib,
            m.kernel,
            m.docker,
            m.compose,
            m.commit,
            m.load_start,
            self.load_end,
            m.other_containers,
            self.minutes,
            self.results(),
            crate::measure::SETTLE.as_millis(),
            gitops::POLL_INTERVAL.as_secs(),
            gitops::READY_POLL.as_millis(),
        )
    }
}

/// The mean, or NaN without samples.
fn mean(samples: &[f64]) -> f64 {
    if samples.is_empty() {
        f64::NAN
    } else {
        samples.iter().sum::<f64>() / samples.len() as f64
    }
}

/// The standard error of the mean, or NaN with fewer than two samples.
fn standard_error(samples: &[f64]) -> f64 {
    let n = samples.len();
    if n < 2 {
        return f64::NAN;
    }
    let m = mean(samples);
    let var = samples.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64;
    (var / n as f64).sqrt()
}

/// The rows of section 4's main table: holdfast's push → Ready against the container
/// operations alone and against `git pull && docker-compose up -d`.
pub fn push_comparisons(p: &PushToReady) -> Vec<Comparison> {
    let row = |ours: &Series, peer_name: &str, peer: Vec<f64>| Comparison {
        name: format!("push → Ready, {}", ours.name),
        peer_name: peer_name.to_string(),
        ours: ours.totals(),
        peer,
        ours_from_event: Vec::new(),
        fault_lag: Vec::new(),
        timeouts: ours.timeouts,
        early: 0,
    };
    let cli_name = |changed: usize| {
        if changed == 1 {
            "`docker stop` + `docker rm` + `docker run -d`".to_string()
        } else {
            format!(
                "`docker stop` + `docker rm` + `docker run -d`, {changed} containers in parallel"
            )
        }
    };
    let compose_name = "`git push` + `git pull` + `docker-compose up -d`";
    let one = p.webhook.iter().find(|v| v.ours.changed == 1);
    let mut rows = Vec::new();
    for v in &p.webhook {
        rows.push(row(&v.ours, &cli_name(v.ours.changed), v.cli.clone()));
    }
    if let Some(one) = one {
        rows.push(row(&p.polling, &cli_name(1), one.cli.clone()));
    }
    if p.compose {
        for v in &p.webhook {
            rows.push(row(
                &v.ours,
                compose_name,
                v.compose.iter().map(|c| c.total()).collect(),
            ));
        }
        if let Some(one) = one {
            rows.push(row(
                &p.polling,
                compose_name,
                one.compose.iter().map(|c| c.total()).collect(),
            ));
        }
    }
    rows
}

/// A stage of the breakdown: its label and how to read it from [`Stages`].
type Stage = (&'static str, fn(&Stages) -> Option<f64>);

/// A sum of stages: its label and how to compute it from [`Stages`].
type Sum = (&'static str, fn(&Stages) -> f64);

/// The stages, in order.
const STAGES: &[Stage] = &[
    ("(a) `git push`, client side", |s| Some(s.push)),
    (
        "(b) push returned → `Fetched`: webhook (or the wait for the next poll), fetch over `git://`",
        |s| Some(s.fetch),
    ),
    ("  of which the webhook request, answered 202", |s| s.hook),
    (
        "(c) `Fetched` → `CommitApplied`: checkout, parse, validate, hand over",
        |s| Some(s.load),
    ),
    (
        "(d1) `CommitApplied` → first `kill` in the engine: queue, observe, plan",
        |s| Some(s.queue),
    ),
    (
        "(d2) first `kill` → last `start` in the engine: stop, remove, create, start",
        |s| Some(s.engine),
    ),
    (
        "(d3) last `start` → `Recreated`: inspect, record the status",
        |s| Some(s.finish),
    ),
    (
        "(e) `Recreated` → Ready seen by the bench's API poll",
        |s| Some(s.seen),
    ),
];

/// Each series' stage samples for `stage`.
fn stage_samples(stages: &[Stages], stage: fn(&Stages) -> Option<f64>) -> Vec<f64> {
    stages.iter().filter_map(stage).collect()
}

/// The share of `part` in `total`, from their means, in %.
fn share(part: &[f64], total: &[f64]) -> f64 {
    ratio(mean(part), mean(total)) * 100.0
}

/// The breakdown table: per series, each stage's median and share of the total.
fn stage_table(series: &[&Series]) -> String {
    let mut out = String::from("| stage |");
    let mut rule = String::from("|---|");
    for s in series {
        let _ = write!(out, " {}: median | share |", s.short);
        rule.push_str("--:|--:|");
    }
    out.push('\n');
    out.push_str(&rule);
    out.push('\n');
    let all: Vec<Vec<Stages>> = series.iter().map(|s| s.stages()).collect();
    let totals: Vec<Vec<f64>> = all
        .iter()
        .map(|st| st.iter().map(total_of).collect())
        .collect();
    for (label, stage) in STAGES {
        let _ = write!(out, "| {label} |");
        for (st, total) in all.iter().zip(&totals) {
            let samples = stage_samples(st, *stage);
            if samples.is_empty() {
                out.push_str(" – | |");
            } else {
                let _ = write!(
                    out,
                    " {:.0} ms | {:.0} % |",
                    median(&samples),
                    share(&samples, total)
                );
            }
        }
        out.push('\n');
    }
    let rows: [Sum; 2] = [
        ("**total**, push → Ready", total_of),
        ("controller's own part: b + c + d1 + d3", Stages::controller),
    ];
    for (label, f) in rows {
        let _ = write!(out, "| {label} |");
        for (st, total) in all.iter().zip(&totals) {
            let samples: Vec<f64> = st.iter().map(f).collect();
            let _ = write!(
                out,
                " **{:.0} ms** | **{:.0} %** |",
                median(&samples),
                share(&samples, total)
            );
        }
        out.push('\n');
    }
    let _ = write!(out, "| runs with every event found |");
    for (s, st) in series.iter().zip(&all) {
        let _ = write!(out, " {} of {} | |", st.len(), s.runs.len());
    }
    out.push('\n');
    out
}

/// The total of a run with a breakdown.
fn total_of(s: &Stages) -> f64 {
    s.total
}

/// Section 4 of the results.
pub fn push_section(p: &PushToReady, cli_overhead: f64) -> String {
    let mut out = String::from("### 4. From `git push` to Ready\n\n");
    let rows = push_comparisons(p);
    out.push_str(&table(&rows, "ms"));
    out.push('\n');
    let mut series: Vec<&Series> = p.webhook.iter().map(|v| &v.ours).collect();
    series.push(&p.polling);
    out.push_str(
        "Where the time goes (stages in order; they add up to the total; share = the \
         stage's mean over the total's mean):\n\n",
    );
    out.push_str(&stage_table(&series));
    out.push('\n');

    for v in &p.webhook {
        let st = v.ours.stages();
        let totals: Vec<f64> = st.iter().map(total_of).collect();
        let get = |f: fn(&Stages) -> Option<f64>| stage_samples(&st, f);
        let controller: Vec<f64> = st.iter().map(Stages::controller).collect();
        let engine = get(|s| Some(s.engine));
        let fetch = get(|s| Some(s.fetch));
        let load = get(|s| Some(s.load));
        let queue = get(|s| Some(s.queue));
        let finish = get(|s| Some(s.finish));
        let hook = get(|s| s.hook);
        let total = median(&v.ours.totals());
        let cli = median(&v.cli);
        let how = if v.ours.changed == 1 {
            format!(
                "typed as `docker stop`, `docker rm`, `docker run -d` (three docker CLI starts \
                 and round trips included, about {cli_overhead:.0} ms each)"
            )
        } else {
            format!(
                "typed as `docker stop`, `docker rm`, `docker run -d` for the {} containers in \
                 parallel",
                v.ours.changed
            )
        };
        let _ = write!(
            out,
            "- **{}**: Ready {total:.0} ms (median) after `git push` started. The container \
             operations alone take {cli:.0} ms {how}, so push → Ready is {:.1}× that. In the engine, holdfast's recreate (first `kill` → last `start`) \
             took {:.0} ms against {:.0} ms for the CLI's: ratio {:.2}. The controller's own part \
             is {:.0} ms, {:.0} % of the total: the fetch stage {:.0} ms (the webhook answered \
             in {:.1} ms; the rest is waking the source and fetching over `git://`), loading the \
             commit {:.0} ms, queueing, observing and planning {:.0} ms, and recording the result \
             {:.0} ms.",
            v.ours.name,
            ratio(total, cli),
            median(&engine),
            median(&v.cli_engine),
            ratio(median(&engine), median(&v.cli_engine)),
            median(&controller),
            share(&controller, &totals),
            median(&fetch),
            median(&hook),
            median(&load),
            median(&queue),
            median(&finish),
        );
        if !v.compose.is_empty() {
            let c = &v.compose;
            let totals: Vec<f64> = c.iter().map(|r| r.total()).collect();
            let _ = write!(
                out,
                " The manual GitOps peer, with an operator who runs `git pull && docker-compose \
                 up -d` the instant the push returns, takes {:.0} ms (push {:.0}, pull {:.0}, \
                 up {:.0} ms): holdfast is {}.",
                median(&totals),
                median(&c.iter().map(|r| r.push).collect::<Vec<_>>()),
                median(&c.iter().map(|r| r.pull).collect::<Vec<_>>()),
                median(&c.iter().map(|r| r.up).collect::<Vec<_>>()),
                faster_or_slower(ratio(total, median(&totals)))
            );
        }
        out.push('\n');
    }

    let poll = &p.polling;
    let st = poll.stages();
    let fetch = stage_samples(&st, |s| Some(s.fetch));
    let rest: Vec<f64> = st.iter().map(|s| total_of(s) - s.fetch).collect();
    let hook_fetch = p
        .webhook
        .iter()
        .find(|v| v.ours.changed == 1)
        .map_or(f64::NAN, |v| {
            median(&stage_samples(&v.ours.stages(), |s| Some(s.fetch)))
        });
    let interval_ms = gitops::POLL_INTERVAL.as_secs_f64() * 1e3;
    // A push at a random moment waits, on average, half a poll cycle (the interval,
    // plus a fetch that finds nothing new, some 50 ms) for the next fetch to start, then
    // the fetch itself.
    let expected = interval_ms / 2.0 + hook_fetch;
    let total = Summary::of(&poll.totals());
    let _ = writeln!(
        out,
        "- **{}**: Ready {:.0} ms (median; p90 {:.0} ms) after `git push` started, dominated by \
         the interval: from the push returning to the fetch seeing the commit took {:.0} ms \
         (median; mean {:.0} ± {:.0} ms, the standard error of {} pushes; {:.0} % of the \
         total). For a push at a random moment the expected mean is about half the {:.0} ms \
         interval (jittered ±10 %) plus the fetch itself, {:.0} ms with the webhook: about \
         {expected:.0} ms. Everything after the fetch is the same work as \
         with the webhook, {:.0} ms (median). The webhook turns that wait into the fetch alone; \
         polling adds about interval / 2 per push on average, up to a whole interval.",
        poll.name,
        total.map_or(f64::NAN, |s| s.median),
        total.map_or(f64::NAN, |s| s.p90),
        median(&fetch),
        mean(&fetch),
        standard_error(&fetch),
        fetch.len(),
        share(&fetch, &st.iter().map(total_of).collect::<Vec<_>>()),
        interval_ms,
        hook_fetch,
        median(&rest),
    );
    out.push_str(
        "\nThe CLI peer is the least any deployment has to do for the change: replace the \
         changed containers, with nothing to fetch, read or compare; the docker-compose peer is \
         the manual GitOps loop with no human delay. A ratio below 1 means holdfast, from the \
         push, is faster than that peer from its first command.\n\n",
    );
    out
}

/// `2.1× faster` or `1.3× slower`, from a ratio holdfast / peer.
fn faster_or_slower(r: f64) -> String {
    if r < 1.0 {
        format!("{:.1}× faster", 1.0 / r)
    } else {
        format!("{r:.1}× slower")
    }
}

/// Odd things of section 4: missing events, a large controller share, holdfast's
/// recreate slower in the engine than the CLI's.
fn push_notes(p: &PushToReady) -> Vec<String> {
    let mut notes = Vec::new();
    let mut series: Vec<&Series> = p.webhook.iter().map(|v| &v.ours).collect();
    series.push(&p.polling);
    for s in series {
        let found = s.stages().len();
        if found < s.runs.len() {
            notes.push(format!(
                "push → Ready, {}: {} of {} runs lack an event of the breakdown (left out of it, kept in the totals)",
                s.name,
                s.runs.len() - found,
                s.runs.len()
            ));
        }
    }
    for v in &p.webhook {
        let st = v.ours.stages();
        let totals: Vec<f64> = st.iter().map(total_of).collect();
        let controller: Vec<f64> = st.iter().map(Stages::controller).collect();
        let share = share(&controller, &totals);
        if share > 50.0 {
            let (label, stage) = STAGES
                .iter()
                .filter(|(l, _)| {
                    l.starts_with("(b)")
                        || l.starts_with("(c)")
                        || l.starts_with("(d1)")
                        || l.starts_with("(d3)")
                })
                .map(|(l, f)| (*l, mean(&stage_samples(&st, *f))))
                .fold(("", f64::NAN), |best, x| {
                    if best.1.is_nan() || x.1 > best.1 {
                        x
                    } else {
                        best
                    }
                });
            notes.push(format!(
                "push → Ready, {}: the controller's own part is {share:.0} % of the total; the largest stage is {label} ({stage:.0} ms mean)",
                v.ours.name
            ));
        }
        let ours = median(&stage_samples(&st, |s| Some(s.engine)));
        let peer = median(&v.cli_engine);
        if ours > 1.25 * peer && ours - peer > 50.0 {
            notes.push(format!(
                "push → Ready, {}: holdfast's recreate took {ours:.0} ms in the engine (first `kill` → last `start`), against {peer:.0} ms for the CLI peer",
                v.ours.name
            ));
        }
    }
    notes
}
