//! The `holdfast` command line: one module per subcommand.
//!
//! Data goes to stdout; errors, warnings and progress go to stderr.

mod apply;
mod common;
mod completion;
mod control;
mod delete;
mod describe;
mod diff;
mod events;
mod get;
mod logs;
mod output;
mod plan;
mod rollout;
mod routes;
mod run;
mod schema;
mod source;
mod trace;
mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Keeps a server the way its desired-state file says.
#[derive(Debug, Parser)]
#[command(name = "holdfast", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check desired-state files and report every mistake with its line and column.
    Validate(validate::Args),
    /// Print the JSON Schema of the desired-state file (for editors).
    Schema(schema::Args),
    /// Show what the controller would change, against the live engine.
    Plan(plan::Args),
    /// Converge once: bring every service to its desired state, then exit.
    Apply(apply::Args),
    /// Run the controller in the foreground: keep the services as the file says.
    Run(Box<run::Args>),
    /// Remove the project's containers and networks (and volumes with --volumes).
    Delete(delete::Args),
    /// List resources of the running controller with their status.
    Get(get::Args),
    /// Show one resource in detail: spec, status, drift and events.
    Describe(describe::Args),
    /// Show how the live containers differ from the file, as unified diffs.
    Diff(diff::Args),
    /// Show the running controller's recent events.
    Events(events::Args),
    /// Ask the running controller for a pass now, and wait for it.
    Reconcile(control::ReconcileArgs),
    /// Stop changing a resource (it is still observed and reported).
    Suspend(control::SuspendArgs),
    /// Change a suspended resource again.
    Resume(control::SuspendArgs),
    /// Print a service container's output.
    Logs(logs::Args),
    /// Tell which project, service, file and desired state produced a container.
    Trace(trace::Args),
    /// List the commits the git source applied or refused, with author and result, and
    /// the start-first service updates that ended.
    History(source::HistoryArgs),
    /// Pin the git source to an earlier commit (the previous good one by default), or
    /// put a start-first service back on an earlier image and spec (`service/NAME`).
    Rollback(source::RollbackArgs),
    /// Where a start-first service update stands (`rollout status service/NAME -w`).
    Rollout(rollout::Args),
    /// Routes' helpers: `holdfast routes ca` prints the local CA's root certificate.
    Routes(routes::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completion(completion::Args),
}

/// Runs the command line and returns the process's exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Schema(args) => schema::run(&args),
        Command::Plan(args) => plan::run(&args),
        Command::Apply(args) => apply::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Delete(args) => delete::run(&args),
        Command::Get(args) => get::run(&args),
        Command::Describe(args) => describe::run(&args),
        Command::Diff(args) => diff::run(&args),
        Command::Events(args) => events::run(&args),
        Command::Reconcile(args) => control::reconcile(&args),
        Command::Suspend(args) => control::suspend(&args, true),
        Command::Resume(args) => control::suspend(&args, false),
        Command::Logs(args) => logs::run(&args),
        Command::Trace(args) => trace::run(&args),
        Command::History(args) => source::history(&args),
        Command::Rollback(args) => source::rollback(&args),
        Command::Rollout(args) => rollout::run(&args),
        Command::Routes(args) => routes::run(&args),
        Command::Completion(args) => completion::run(&args),
    }
}
