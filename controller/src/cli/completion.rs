//! `holdfast completion bash|zsh|fish`

use std::process::ExitCode;

use clap::CommandFactory;

/// Arguments of `holdfast completion`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell.
    shell: clap_complete::Shell,
}

/// Prints the completion script for the shell on stdout.
pub fn run(args: &Args) -> ExitCode {
    let mut command = super::Cli::command();
    clap_complete::generate(args.shell, &mut command, "holdfast", &mut std::io::stdout());
    ExitCode::SUCCESS
}
