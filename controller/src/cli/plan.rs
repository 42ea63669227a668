//! `holdfast plan -f FILE`: what the controller would do, without doing it.

use std::process::ExitCode;

use super::common::{FileArg, with_engine};
use crate::resources::service::reconcile::{Outcome, Report};
use crate::runtime::controller::{Controller, Options};

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
/// 1 when the file is invalid or a service could not be planned.
pub fn run(args: &Args) -> ExitCode {
    with_engine(&args.file.file, |state, docker| async move {
        let options = Options {
            allow_mass_removal: args.allow_mass_removal,
            ..Options::default()
        };
        let controller = Controller::new(docker, None, options);
        let reports = controller.plan(&state).await;
        print_plan(&state.name, &reports)
    })
}

/// Prints plan reports; the exit code says whether anything would change.
pub fn print_plan(
    project: &str,
    reports: &[Result<Report, (String, crate::resources::service::reconcile::ReconcileError)>],
) -> ExitCode {
    let mut changes = 0;
    let mut failed = false;
    for r in reports {
        match r {
            Ok(report) => {
                // A removal the guard refused is said once, below, and changes nothing.
                if report.outcome != Outcome::RemovalRefused {
                    for step in &report.steps {
                        println!("{step} (for service/{})", report.service);
                        changes += 1;
                    }
                }
                if let Some(plan) = &report.plan {
                    for line in plan.describe() {
                        if !line.starts_with("nothing") {
                            println!("{line}");
                            changes += 1;
                        }
                    }
                    if plan.is_noop() && !plan.drift.is_empty() {
                        let fields: Vec<String> =
                            plan.drift.iter().map(|d| d.field.to_string()).collect();
                        println!(
                            "report service/{}: differs in {} (not corrected)",
                            report.service,
                            fields.join(", ")
                        );
                    }
                }
                if report.outcome == Outcome::RemovalRefused {
                    println!(
                        "keep service/{}: removed from the file, but the mass-removal guard holds (pass --allow-mass-removal)",
                        report.service
                    );
                }
            }
            Err((service, e)) => {
                failed = true;
                eprintln!("error: service/{service}: {e}");
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
