//! What several subcommands share: loading the file, connecting, the runtime.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use holdfast_spec::{DesiredState, LoadOptions, load_files};

/// `-f FILE` (repeatable) and `--profile NAME`: the desired state.
#[derive(Debug, Clone, clap::Args)]
pub struct FileArg {
    /// The desired-state file. Repeat it to merge files in order, as Compose does
    /// (`-f compose.yaml -f compose.production.yaml`). Without it: `holdfast.yaml`,
    /// else the files Compose finds (`compose.yaml` … and its `.override` file).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Activate a profile: services with `profiles:` run only when one of theirs is
    /// active. Repeatable; without it, `COMPOSE_PROFILES` (comma-separated).
    #[arg(long = "profile", value_name = "NAME")]
    pub profiles: Vec<String>,
}

impl FileArg {
    /// The files to load: those given, else `holdfast.yaml` when it exists, else none
    /// (Compose's default files).
    pub fn paths(&self) -> Vec<PathBuf> {
        default_paths(&self.files)
    }

    /// The load options the flags ask for.
    pub fn options(&self) -> LoadOptions {
        profile_options(&self.profiles)
    }
}

/// `files`, or `holdfast.yaml` when none is given and it exists (else none: Compose's
/// default files are looked for).
pub fn default_paths(files: &[PathBuf]) -> Vec<PathBuf> {
    if files.is_empty() && Path::new("holdfast.yaml").is_file() {
        vec![PathBuf::from("holdfast.yaml")]
    } else {
        files.to_vec()
    }
}

/// Load options with the `--profile` flags given (none: `COMPOSE_PROFILES`).
pub fn profile_options(profiles: &[String]) -> LoadOptions {
    LoadOptions {
        profiles: (!profiles.is_empty()).then(|| profiles.to_vec()),
        ..LoadOptions::default()
    }
}

/// Loads the desired state, printing warnings, or every error and `None`.
pub fn load(files: &FileArg) -> Option<DesiredState> {
    match load_files(&files.paths(), &files.options()) {
        Ok(loaded) => {
            if !loaded.report.diagnostics.is_empty() {
                eprint!("{}", loaded.report.render());
            }
            let pending = loaded.state.not_applied_yet();
            if !pending.is_empty() {
                for line in &pending {
                    eprintln!("error: {line}: valid Compose, but holdfast cannot apply it yet");
                }
                eprintln!(
                    "help: remove these fields to run the project with holdfast (`holdfast validate` accepts them)"
                );
                return None;
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
pub fn with_engine<F, Fut>(files: &FileArg, f: F) -> ExitCode
where
    F: FnOnce(DesiredState, bollard::Docker) -> Fut,
    Fut: std::future::Future<Output = ExitCode>,
{
    let Some(state) = load(files) else {
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
