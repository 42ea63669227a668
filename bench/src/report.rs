//! The results as Markdown (docs/benchmarks.md) and as a terminal summary.

use std::fmt::Write as _;

use crate::engine::run;
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
        for c in self.recovery.iter().chain(&self.noop) {
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
        if self.idle.holdfast.cpu_pct > 1.0 {
            notes.push(format!(
                "idle `holdfast run` used {:.2} % CPU on average: more than expected of a controller waiting for events",
                self.idle.holdfast.cpu_pct
            ));
        }
        notes
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
             - Median and p90 (nearest rank) over the runs; ratio = holdfast / peer, of the \
             medians and of the p90s.\n\n\
             ## Reproduce\n\n\
             ```sh\n\
             cargo run --release -p holdfast-bench              # the full run, a few minutes\n\
             cargo run --release -p holdfast-bench -- --quick   # fewer runs\n\
             cargo run --release -p holdfast-bench -- --no-docs # do not rewrite this file\n\
             ```\n\n\
             It needs what `.ci/run` installs: a running Docker engine, Debian's `docker-compose` \
             (1.29) on PATH and `busybox-static`. It builds the release `holdfast` binary and the \
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
        )
    }
}
