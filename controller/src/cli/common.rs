//! What several subcommands share: loading the file, connecting, the runtime.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use holdfast_spec::{DesiredState, LoadOptions, load_file};

/// `-f FILE`, the desired-state file.
#[derive(Debug, Clone, clap::Args)]
pub struct FileArg {
    /// The desired-state file.
    #[arg(
        short = 'f',
        long = "file",
        value_name = "FILE",
        default_value = "holdfast.yaml"
    )]
    pub file: PathBuf,
}

/// Loads the desired-state file, printing warnings, or every error and `None`.
pub fn load(path: &Path) -> Option<DesiredState> {
    match load_file(path, &LoadOptions::default()) {
        Ok(loaded) => {
            if !loaded.report.diagnostics.is_empty() {
                eprint!("{}", loaded.report.render());
            }
            Some(loaded.state)
        }
        Err(report) => {
            eprint!("{}", report.render());
            None
        }
    }
}

/// Loads the file, starts the async runtime, connects to Docker and runs `f`. Exit 1
/// when the file is invalid, 2 when the runtime or the engine is not available.
pub fn with_engine<F, Fut>(path: &Path, f: F) -> ExitCode
where
    F: FnOnce(DesiredState, bollard::Docker) -> Fut,
    Fut: std::future::Future<Output = ExitCode>,
{
    let Some(state) = load(path) else {
        return ExitCode::from(1);
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async move {
        match docker().await {
            Ok(docker) => f(state, docker).await,
            Err(code) => code,
        }
    })
}

/// A multi-threaded runtime, or a message and exit code 2.
pub fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::from(2)
        })
}

/// Connects to Docker, or prints why not.
pub async fn docker() -> Result<bollard::Docker, ExitCode> {
    crate::docker::connect().await.map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

/// Parses durations such as `90s` or `5m` for `--timeout`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    s.parse::<holdfast_spec::Duration>()
        .map(|d| d.std())
        .map_err(|e| e.to_string())
}

/// Logs for `holdfast run`: human-readable, or JSON lines with `--log-format json`.
pub fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HOLDFAST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
