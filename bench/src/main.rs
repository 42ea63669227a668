//! `holdfast-bench`: benchmarks holdfast against a real Docker engine and rewrites
//! docs/benchmarks.md.
//!
//! ```sh
//! cargo run --release -p holdfast-bench [-- --quick] [-- --no-docs]
//! ```
//!
//! It builds the release `holdfast` binary and the busybox test image, then measures:
//!
//! 1. recovery of a container under `holdfast run` after `docker kill`, `docker stop`
//!    and `docker rm -f`, against Docker's own `docker start` / `docker run -d`;
//! 2. a no-op `holdfast apply` of 20 and 50 services, against `docker-compose up -d`;
//! 3. the idle RSS and CPU of `holdfast run` with 50 services, with dockerd for scale;
//! 4. from `git push` to every changed service Ready under `holdfast run --git`, told by
//!    a webhook and polling, against the container operations alone and against
//!    `git pull && docker-compose up -d`;
//! 5. the Docker API calls of a no-op `holdfast apply` and of a resync pass, counted by a
//!    proxy on the Docker socket;
//! 6. the wall time of a no-op pass over 500 containers;
//! 7. reconvergence after the Docker engine restarts (a second engine of its own);
//! 8. requests through Caddy, nginx and Traefik, and applying routes (`--routes-only`);
//! 9. updates of a service under load, through nginx: `docker-compose up -d` and a
//!    hand-written blue-green script (`--updates-only`, [`updates`]).
//!
//! Sections 5 to 7 measure the current build and, with `--baseline-rev REV`, the build
//! of commit REV too, side by side ([`calls`]).
//!
//! See [`measure`] for how, and docs/benchmarks.md for the latest results.

mod calls;
mod engine;
mod gitops;
mod measure;
mod report;
mod routes;
mod stats;
mod updates;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    about = "Benchmarks holdfast against a real Docker engine and rewrites docs/benchmarks.md"
)]
struct Args {
    /// Fewer runs and a shorter idle window (a smoke test, not for publishing).
    #[arg(long)]
    quick: bool,
    /// Print the results only; leave docs/benchmarks.md as it is.
    #[arg(long)]
    no_docs: bool,
    /// Measure only section 4 (from `git push` to Ready) and print it; implies
    /// --no-docs.
    #[arg(long)]
    push_only: bool,
    /// Measure only sections 5 to 7 (Docker API calls, 500 containers, engine restart)
    /// and replace them in docs/benchmarks.md (unless --no-docs).
    #[arg(long)]
    calls_only: bool,
    /// Measure only section 8 (requests through Caddy, nginx and Traefik against the
    /// backend directly; applying 10, 100 and 1,000 routes; no-op passes) and replace
    /// it in docs/benchmarks.md (unless --no-docs). Needs no Docker.
    #[arg(long)]
    routes_only: bool,
    /// Measure only section 9 (five updates of a service under a load of 400 req/s that
    /// never retries, through nginx: `docker-compose up -d` and a hand-written
    /// blue-green script) and replace it in docs/benchmarks.md (unless --no-docs).
    #[arg(long)]
    updates_only: bool,
    /// Also measure sections 5 to 7 with the holdfast of this git commit (built from
    /// `git archive REV` in a temporary folder), as the baseline.
    #[arg(long, value_name = "REV", conflicts_with = "baseline_bin")]
    baseline_rev: Option<String>,
    /// Use this holdfast binary as the baseline instead of building one (its label is
    /// the file name).
    #[arg(long, value_name = "PATH")]
    baseline_bin: Option<PathBuf>,
}

/// Rewrites docs/benchmarks.md with `splice` (one section replaced) and says so.
fn splice_docs(root: &Path, what: &str, splice: impl FnOnce(&str) -> String) -> Result<()> {
    let path = root.join("docs").join("benchmarks.md");
    let doc = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    std::fs::write(&path, splice(&doc))
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("updated {what} of {}", path.display());
    Ok(())
}

/// The part of `doc` from `begin` to `end` (marks included, with the line end after
/// `end`), if both are there in that order.
fn marked(doc: &str, begin: &str, end: &str) -> Option<String> {
    let b = doc.find(begin)?;
    let e = doc[b..].find(end)? + b + end.len();
    Some(format!("{}\n", &doc[b..e]))
}

/// How much to measure.
#[derive(Debug, Clone, Copy)]
struct Plan {
    recovery_runs: usize,
    noop_runs: usize,
    idle_window: Duration,
    push_runs: usize,
    restart_runs: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match bench(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the folder above this crate).
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Builds the release `holdfast` binary and returns its path (from cargo's JSON
/// messages, so that `CARGO_TARGET_DIR` is honoured).
fn build_holdfast(root: &Path) -> Result<PathBuf> {
    cargo_build_holdfast(root, None)
}

/// `cargo build --release -p holdfast` in the workspace `dir` (into the target folder
/// `target` when given); the path of the binary built.
fn cargo_build_holdfast(dir: &Path, target: Option<&Path>) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    if let Some(target) = target {
        cmd.env("CARGO_TARGET_DIR", target);
    }
    let out = cmd
        .args(["build", "--release", "-p", "holdfast"])
        .arg("--message-format=json-render-diagnostics")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo")?;
    if !out.status.success() {
        bail!(
            "`cargo build --release -p holdfast` in {} failed",
            dir.display()
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "holdfast")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .context("cargo built no `holdfast` executable")
}

/// Builds the holdfast of commit `rev` from `git archive` in `dir` and returns a copy of
/// the binary that a later build cannot overwrite. It gets a target folder of its own
/// (`target/bench-baseline`, kept between runs): sharing the workspace's would mix the
/// two builds, since cargo names a workspace crate's artifacts by its relative path, so
/// the older sources' artifacts would pass as fresh for the current ones.
fn build_baseline(root: &Path, rev: &str, dir: &Path) -> Result<PathBuf> {
    let src = dir.join("src");
    std::fs::create_dir_all(&src)?;
    let archive = Command::new("git")
        .args(["archive", "--format=tar", rev])
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run git archive")?;
    let stdout = archive.stdout.context("git archive has no stdout")?;
    let status = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(&src)
        .stdin(stdout)
        .status()
        .context("cannot run tar")?;
    if !status.success() {
        bail!("cannot unpack commit {rev}");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("bench-baseline");
    let built = cargo_build_holdfast(&src, Some(&target))?;
    let copy = dir.join(format!("holdfast-{rev}"));
    std::fs::copy(&built, &copy).with_context(|| format!("cannot copy {}", built.display()))?;
    Ok(copy)
}

fn bench(args: &Args) -> Result<()> {
    let started = Instant::now();
    let plan = if args.quick {
        Plan {
            recovery_runs: 5,
            noop_runs: 3,
            idle_window: Duration::from_secs(10),
            push_runs: 3,
            restart_runs: 2,
        }
    } else {
        Plan {
            recovery_runs: 20,
            noop_runs: 10,
            idle_window: Duration::from_secs(30),
            push_runs: 10,
            restart_runs: 5,
        }
    };
    let root = workspace_root();
    if args.routes_only {
        let section = routes::measure(
            if args.quick { 1 } else { 3 },
            if args.quick { 2 } else { 5 },
        )?;
        println!("\n{section}");
        if !args.no_docs {
            splice_docs(&root, "section 8", |doc| routes::splice(doc, &section))?;
        }
        return Ok(());
    }
    if args.updates_only {
        eprintln!("building the busybox test image");
        holdfast_testkit::busybox_image();
        let machine = report::Machine::detect();
        let context = format!(
            "Measured by `--updates-only` on {}, commit {}, {} CPUs, Docker {}; load average {} at the start",
            machine.date, machine.commit, machine.nproc, machine.docker, machine.load_start
        );
        eprintln!("building the release holdfast binary");
        let holdfast = build_holdfast(&root)?;
        let section = updates::measure(args.quick, &context, &holdfast)?;
        println!("\n{section}");
        for note in engine::leftovers() {
            println!("- {note}");
        }
        if !args.no_docs {
            splice_docs(&root, "section 9", |doc| updates::splice(doc, &section))?;
        }
        return Ok(());
    }
    let baseline_dir = tempfile::Builder::new()
        .prefix("hfbench-baseline-")
        .tempdir()
        .context("cannot create a temporary folder")?;
    let mut binaries = Vec::new();
    if let Some(path) = &args.baseline_bin {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().to_string(),
        );
        let name = name.strip_prefix("holdfast-").unwrap_or(&name).to_string();
        binaries.push(calls::Binary {
            label: format!("before ({name})"),
            path: path.clone(),
        });
    }
    if let Some(rev) = &args.baseline_rev {
        eprintln!("building the release holdfast binary of {rev} (the baseline)");
        binaries.push(calls::Binary {
            label: format!("before ({rev})"),
            path: build_baseline(&root, rev, baseline_dir.path())?,
        });
    }
    eprintln!("building the release holdfast binary");
    let holdfast = build_holdfast(&root)?;
    binaries.push(calls::Binary {
        label: if binaries.is_empty() {
            "holdfast".to_string()
        } else {
            "after (this build)".to_string()
        },
        path: holdfast.clone(),
    });
    engine::run("docker-compose", &["version", "--short"])
        .context("docker-compose (Debian's 1.29) must be on PATH")?;
    eprintln!("building the busybox test image");
    holdfast_testkit::busybox_image();
    let machine = report::Machine::detect();
    let cli_overhead = measure::cli_overhead(10)?;
    if args.calls_only {
        eprintln!("5-7. Docker API calls, 500 containers, engine restart");
        let mut report = calls::measure(&binaries, &[20, 50], plan.restart_runs)?;
        report.context = Some(format!(
            "Measured by `--calls-only` on {}, commit {}, {} CPUs, Docker {}; load average {} at the start, {} at the end.",
            machine.date,
            machine.commit,
            machine.nproc,
            machine.docker,
            machine.load_start,
            report::load_average()
        ));
        let section = calls::section(&report);
        println!("\n{section}");
        for note in report.notes.iter().cloned().chain(engine::leftovers()) {
            println!("- {note}");
        }
        if !args.no_docs {
            splice_docs(&root, "sections 5-7", |doc| calls::splice(doc, &section))?;
        }
        return Ok(());
    }
    if args.push_only {
        eprintln!("4. from git push to Ready");
        let push = gitops::push_to_ready(&holdfast, plan.push_runs)?;
        let cli = stats::Summary::of(&cli_overhead).map_or(f64::NAN, |s| s.median);
        println!("\n{}", report::push_section(&push, cli));
        for note in engine::leftovers() {
            println!("- {note}");
        }
        return Ok(());
    }

    eprintln!("1. recovery with a running controller");
    let recovery = measure::recovery(&holdfast, plan.recovery_runs)?;
    eprintln!("2. no-op passes");
    let mut noop = Vec::new();
    let mut notes = Vec::new();
    for services in [20, 50] {
        let (c, n) = measure::noop(&holdfast, services, plan.noop_runs)?;
        noop.push(c);
        notes.extend(n);
    }
    eprintln!("3. idle controller");
    let idle = measure::idle(&holdfast, 50, plan.idle_window)?;
    eprintln!("4. from git push to Ready");
    let push = gitops::push_to_ready(&holdfast, plan.push_runs)?;
    eprintln!("5-7. Docker API calls, 500 containers, engine restart");
    let calls = calls::measure(&binaries, &[20, 50], plan.restart_runs)?;
    notes.extend(calls.notes.iter().cloned());
    notes.extend(engine::leftovers());

    let report = report::Report {
        machine,
        quick: args.quick,
        cli_overhead,
        recovery,
        noop,
        idle,
        push,
        calls,
        notes,
        minutes: started.elapsed().as_secs_f64() / 60.0,
        load_end: report::load_average(),
    };
    println!("\n{}", report.results());
    if !args.no_docs {
        let path = root.join("docs").join("benchmarks.md");
        // Sections 8 and 9 are measured by their own flags only: keep them as they are.
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        let mut doc = report.markdown();
        for (begin, end) in [(routes::BEGIN, routes::END), (updates::BEGIN, updates::END)] {
            if let Some(kept) = marked(&old, begin, end) {
                doc = calls::splice_marked(&doc, begin, end, &kept);
            }
        }
        std::fs::write(&path, doc).with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marked_sections_are_kept_across_a_full_rewrite() {
        let old = "# B\n\n<!-- updates:begin -->\n### 9. x\n<!-- updates:end -->\n\n### Odd things seen in this run\n";
        let kept = marked(old, updates::BEGIN, updates::END).unwrap();
        assert_eq!(
            kept,
            "<!-- updates:begin -->\n### 9. x\n<!-- updates:end -->\n"
        );
        let new = calls::splice_marked(
            "# New\n\n### Odd things seen in this run\n",
            updates::BEGIN,
            updates::END,
            &kept,
        );
        assert!(
            new.contains("### 9. x\n<!-- updates:end -->\n\n### Odd things"),
            "{new}"
        );
        assert!(marked("no marks", updates::BEGIN, updates::END).is_none());
    }
}
