//! `holdfast validate FILE...` / `holdfast validate -f BASE -f OVERRIDE`

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use holdfast_spec::{Loaded, Report, load_file, load_files};

/// Arguments of `holdfast validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Desired-state files to check, each on its own.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Check these files merged in order into one desired state, as Compose merges
    /// them (repeatable: `-f compose.yaml -f compose.production.yaml`).
    #[arg(
        short = 'f',
        long = "file",
        value_name = "FILE",
        conflicts_with = "files"
    )]
    pub merged: Vec<PathBuf>,
    /// Activate a profile (repeatable); without it, `COMPOSE_PROFILES`.
    #[arg(long = "profile", value_name = "NAME")]
    pub profiles: Vec<String>,
    /// Print the resolved desired state (defaults filled in) as JSON on stdout.
    #[arg(long)]
    pub print: bool,
    /// Do not check that env files and secret files exist: for checking a repository
    /// in CI when the secrets live only on the server.
    #[arg(long)]
    pub skip_file_checks: bool,
}

/// Exit code 0 when every file is valid, 1 otherwise; errors go to stderr. Without a
/// file at all, the files Compose finds in the current folder are checked, merged.
pub fn run(args: &Args) -> ExitCode {
    let options = holdfast_spec::LoadOptions {
        check_files: !args.skip_file_checks,
        ..super::common::profile_options(&args.profiles)
    };
    let mut stderr = std::io::stderr().lock();
    let mut stdout = std::io::stdout().lock();
    let mut failed = 0;
    let results: Vec<(String, Result<Loaded, Report>)> = if args.files.is_empty() {
        let paths = super::common::default_paths(&args.merged);
        let shown = if paths.is_empty() {
            holdfast_spec::default_files(std::path::Path::new("."))
        } else {
            paths.clone()
        };
        let shown = shown
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" + ");
        vec![(shown, load_files(&paths, &options))]
    } else {
        args.files
            .iter()
            .map(|file| (file.display().to_string(), load_file(file, &options)))
            .collect()
    };
    for (shown, result) in results {
        match result {
            Ok(loaded) => {
                let _ = write!(stderr, "{}", loaded.report.render());
                let services = loaded.state.services.len();
                let left_out = if loaded.inactive.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; left out, their profiles inactive: {}",
                        loaded
                            .inactive
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                let _ = writeln!(
                    stderr,
                    "{shown}: valid (project `{}`, {services} service{}{left_out})",
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
