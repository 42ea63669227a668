//! `holdfast apply -f FILE [--dry-run] [--timeout DUR]`: converge once.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use super::common::{FileArg, parse_duration, with_engine};
use crate::runtime::controller::{Controller, Options, SetDesiredError};
use crate::runtime::store::{Phase, Store, default_state_dir};

/// Arguments of `holdfast apply`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    file: FileArg,
    /// Show what would change, change nothing (the same as `holdfast plan`).
    #[arg(long)]
    dry_run: bool,
    /// Give up when not every service is Ready after this long.
    #[arg(long, value_parser = parse_duration, default_value = "5m")]
    timeout: Duration,
    /// Allow removals that take away all, or more than half, of the project's containers.
    #[arg(long)]
    allow_mass_removal: bool,
    /// Where status and events are kept.
    #[arg(long, env = "HOLDFAST_STATE_DIR", default_value_os_t = default_state_dir())]
    state_dir: std::path::PathBuf,
}

/// Exit 0 once every service is Ready; 1 on timeout, a refused removal or an invalid
/// file; 2 when the engine cannot be reached.
pub fn run(args: &Args) -> ExitCode {
    with_engine(&args.file, |state, docker| async move {
        let options = Options {
            allow_mass_removal: args.allow_mass_removal,
            ..Options::default()
        };
        let host = crate::docker::Host::new(docker.clone());
        let registry = crate::resources::kinds(&host, &args.state_dir);
        if args.dry_run {
            let planned =
                crate::runtime::planning::plan(&registry, &state, args.allow_mass_removal).await;
            return super::plan::print_plan(&state.name, &planned);
        }
        // A running daemon holds the store; apply then keeps status in memory only.
        let store = match Store::open(&args.state_dir) {
            Ok(store) => Some(std::sync::Arc::new(store)),
            Err(e) => {
                eprintln!("note: status is not stored: {e}");
                None
            }
        };
        let controller = Controller::new(registry, store, options);
        let project = state.name.clone();
        // One list and one inspect per container, once; reconciles of services that are
        // as the file says then cost no call (see docker::cache).
        let cache = crate::docker::cache::EngineCache::for_docker(docker, &project);
        if let Err(e) = cache.relist().await {
            eprintln!("error: Docker: {e}");
            return ExitCode::from(2);
        }
        host.set_cache(Some(cache));
        let accepted = match controller.set_desired(state).await {
            Ok(a) => a,
            Err(e @ SetDesiredError::RenameRefused { .. }) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        if accepted.removal_refused {
            let names: Vec<String> = accepted.removals.iter().map(ToString::to_string).collect();
            eprintln!(
                "error: the file removes {} of the project's objects ({}); refusing a mass removal. Pass --allow-mass-removal if this is intended.",
                names.len(),
                names.join(", ")
            );
        }
        let workers = {
            let c = controller.clone();
            tokio::spawn(async move { c.run_workers().await })
        };
        let progress = {
            let c = controller.clone();
            tokio::spawn(async move { print_progress(&c).await })
        };
        let converged = controller.wait_converged(args.timeout).await;
        controller.shutdown();
        progress.abort();
        let _ = workers.await;
        let statuses = controller.statuses();
        for (key, s) in &statuses {
            eprintln!("{key}: {} {}", s.phase, s.message);
        }
        if converged && !accepted.removal_refused {
            eprintln!("project {project}: every resource is Ready");
            ExitCode::SUCCESS
        } else {
            let waiting: Vec<&String> = statuses
                .iter()
                .filter(|(_, s)| s.phase != Phase::Ready)
                .map(|(k, _)| k)
                .collect();
            eprintln!(
                "project {project}: not converged (waiting on {})",
                if waiting.is_empty() {
                    "removals".to_string()
                } else {
                    waiting
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            );
            ExitCode::from(1)
        }
    })
}

/// Prints a line on stderr each time a service's phase or message changes.
async fn print_progress(controller: &Controller) {
    let mut rx = controller.subscribe();
    let mut seen: BTreeMap<String, (Phase, String)> = BTreeMap::new();
    loop {
        for (key, s) in controller.statuses() {
            let now = (s.phase, s.message.clone());
            if seen.get(&key) != Some(&now) {
                eprintln!("{key}: {} {}", s.phase, s.message);
                seen.insert(key, now);
            }
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}
