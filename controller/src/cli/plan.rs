//! `holdfast plan -f FILE`: what the controller would do, without doing it.

use std::process::ExitCode;

use super::common::{FileArg, with_engine};
use crate::runtime::kind::Outcome;
use crate::runtime::planning::{self, Planned};

/// Arguments of `holdfast plan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    file: FileArg,
    /// Plan removals even when they would remove all, or most, of the project's containers.
    #[arg(long)]
    allow_mass_removal: bool,
}

/// Prints one line per planned action on stdout. Exit 0 when the plan could be made,
/// 1 when the file is invalid or an object could not be planned.
pub fn run(args: &Args) -> ExitCode {
    with_engine(&args.file, |state, docker| async move {
        let registry = crate::resources::kinds(
            &crate::docker::Host::new(docker),
            &crate::runtime::store::default_state_dir(),
        );
        let planned = planning::plan(&registry, &state, args.allow_mass_removal).await;
        print_plan(&state.name, &planned)
    })
}

/// Prints plan reports; the exit code says whether every object could be planned.
pub fn print_plan(project: &str, planned: &[Planned]) -> ExitCode {
    let mut changes = 0;
    let mut failed = false;
    for p in planned {
        let key = &p.key;
        match &p.result {
            Ok(report) => {
                // A removal the guard refused is said once, below, and changes nothing.
                if report.outcome != Outcome::RemovalRefused {
                    for step in &report.steps {
                        println!("{step} (for {key})");
                        changes += 1;
                    }
                }
                for action in &report.actions {
                    println!("{}", action.description);
                    changes += 1;
                }
                if report.actions.is_empty() && !report.drift.is_empty() {
                    let fields: Vec<&str> = report.drift.iter().map(|d| d.field.as_str()).collect();
                    println!(
                        "report {key}: differs in {} (not corrected)",
                        fields.join(", ")
                    );
                }
                if report.outcome == Outcome::RemovalRefused {
                    println!(
                        "keep {key}: removed from the file, but the mass-removal guard holds (pass --allow-mass-removal)"
                    );
                }
            }
            Err(e) => {
                failed = true;
                eprintln!("error: {key}: {e}");
            }
        }
    }
    if changes == 0 && !failed {
        eprintln!("project {project}: no changes");
    } else {
        eprintln!("project {project}: {changes} change(s) planned");
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
