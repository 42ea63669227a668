//! `holdfast validate FILE...`

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use holdfast_spec::{LoadOptions, load_file};

/// Arguments of `holdfast validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Desired-state files to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print the resolved desired state (defaults filled in) as JSON on stdout.
    #[arg(long)]
    pub print: bool,
    /// Do not check that env files and secret files exist: for checking a repository
    /// in CI when the secrets live only on the server.
    #[arg(long)]
    pub skip_file_checks: bool,
}

/// Exit code 0 when every file is valid, 1 otherwise; errors go to stderr.
pub fn run(args: &Args) -> ExitCode {
    let options = LoadOptions {
        check_files: !args.skip_file_checks,
        ..LoadOptions::default()
    };
    let mut stderr = std::io::stderr().lock();
    let mut stdout = std::io::stdout().lock();
    let mut failed = 0;
    for file in &args.files {
        match load_file(file, &options) {
            Ok(loaded) => {
                let _ = write!(stderr, "{}", loaded.report.render());
                let services = loaded.state.services.len();
                let _ = writeln!(
                    stderr,
                    "{}: valid (project `{}`, {services} service{})",
                    file.display(),
                    loaded.state.name,
                    if services == 1 { "" } else { "s" }
                );
                if args.print {
                    let json = serde_json::to_string_pretty(&loaded.state).unwrap_or_default();
                    let _ = writeln!(stdout, "{json}");
                }
            }
            Err(report) => {
                failed += 1;
                let _ = write!(stderr, "{}", report.render());
            }
        }
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
