//! The `holdfast` command line: one module per subcommand.
//!
//! Data goes to stdout; errors, warnings and progress go to stderr.

mod apply;
mod common;
mod delete;
mod plan;
mod run;
mod schema;
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
    Run(run::Args),
    /// Remove the project's containers and networks (and volumes with --volumes).
    Delete(delete::Args),
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
    }
}
