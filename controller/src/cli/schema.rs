//! `holdfast schema`

use std::process::ExitCode;

/// Arguments of `holdfast schema`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Prints the desired-state file's JSON Schema on stdout.
pub fn run(_: &Args) -> ExitCode {
    match serde_json::to_string_pretty(&holdfast_spec::json_schema()) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot render the schema: {e}");
            ExitCode::from(2)
        }
    }
}
