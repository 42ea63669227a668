//! `holdfast run -f FILE`: the controller in the foreground.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::common::{FileArg, docker, init_logging, parse_duration, runtime};
use crate::docker::events;
use crate::runtime::controller::{Controller, Options};
use crate::runtime::store::{EventKind, Store, default_state_dir};
use crate::source::file;

/// Arguments of `holdfast run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    file: FileArg,
    /// Where status and events are kept.
    #[arg(long, env = "HOLDFAST_STATE_DIR", default_value_os_t = default_state_dir())]
    state_dir: std::path::PathBuf,
    /// How often every service is checked even without a trigger.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    resync: Duration,
    /// Services reconciled at once.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Allow removals that take away all, or more than half, of the project's containers.
    #[arg(long)]
    allow_mass_removal: bool,
    /// The API's unix socket.
    #[arg(long, env = "HOLDFAST_SOCKET", default_value_os_t = crate::api::server::default_socket())]
    socket: std::path::PathBuf,
    /// Also serve the API on this TCP address (such as 127.0.0.1:7443), with a bearer
    /// token; off unless given.
    #[arg(long, value_name = "ADDR", requires = "token_file")]
    listen_tcp: Option<std::net::SocketAddr>,
    /// The file that holds the bearer token for --listen-tcp.
    #[arg(long, value_name = "PATH", requires = "listen_tcp")]
    token_file: Option<std::path::PathBuf>,
    /// Log format.
    #[arg(long, value_parser = ["text", "json"], default_value = "text")]
    log_format: String,
}

/// Runs until SIGTERM or SIGINT. Exit 0 after a clean shutdown, 2 when the engine or
/// the state directory cannot be used.
pub fn run(args: &Args) -> ExitCode {
    init_logging(args.log_format == "json");
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(daemon(args))
}

async fn daemon(args: &Args) -> ExitCode {
    let docker = match docker().await {
        Ok(d) => d,
        Err(code) => return code,
    };
    let store = match Store::open(&args.state_dir) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if args.resync < Duration::from_secs(1) {
        eprintln!("error: --resync must be at least 1s");
        return ExitCode::from(2);
    }
    let options = Options {
        workers: args.workers,
        resync: args.resync,
        allow_mass_removal: args.allow_mass_removal,
        ..Options::default()
    };
    let controller = Controller::new(docker.clone(), Some(store), options);
    let listener = match crate::api::server::bind(&args.socket) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    tracing::info!(socket = %args.socket.display(), "API listening");
    let tcp = match (&args.listen_tcp, &args.token_file) {
        (Some(addr), Some(token_file)) => {
            let token = match std::fs::read_to_string(token_file) {
                Ok(t) if !t.trim().is_empty() => t.trim().to_string(),
                Ok(_) => {
                    eprintln!("error: the token file {} is empty", token_file.display());
                    return ExitCode::from(2);
                }
                Err(e) => {
                    eprintln!(
                        "error: cannot read the token file {}: {e}",
                        token_file.display()
                    );
                    return ExitCode::from(2);
                }
            };
            let listener = match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("error: cannot listen on {addr}: {e}");
                    return ExitCode::from(2);
                }
            };
            let bound = listener
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            tracing::info!(address = %bound, "API listening on TCP (bearer token required)");
            let c = controller.clone();
            Some(tokio::spawn(async move {
                if let Err(e) = crate::api::server::serve_tcp(listener, c, token).await {
                    tracing::error!(error = %e, "the TCP API stopped");
                }
            }))
        }
        _ => None,
    };
    let api = {
        let c = controller.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::api::server::serve(listener, c).await {
                tracing::error!(error = %e, "the API stopped");
            }
        })
    };
    let path = args.file.file.clone();
    controller.set_source(
        &std::path::absolute(&path)
            .unwrap_or_else(|_| path.clone())
            .display()
            .to_string(),
    );
    tracing::info!(file = %path.display(), "holdfast controller starting");

    // The file: load now, then on every change. A bad file changes nothing.
    let (tx, mut rx) = mpsc::channel(1);
    let _watch = match file::watch(&path, tx) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: cannot watch {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let mut last_text = None;
    let mut follower: Option<(String, tokio::task::JoinHandle<()>)> = None;
    let (event_tx, mut event_rx) = mpsc::channel::<events::ContainerEvent>(256);
    reload(&controller, &path, &mut last_text, &mut follower, &event_tx).await;

    let workers = {
        let c = controller.clone();
        tokio::spawn(async move { c.run_workers().await })
    };
    let resync = {
        let c = controller.clone();
        tokio::spawn(async move { c.run_resync().await })
    };
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: cannot handle SIGTERM: {e}");
                return ExitCode::from(2);
            }
        };
    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            Some(()) = file::debounced(&mut rx, Duration::from_millis(100)) => {
                reload(&controller, &path, &mut last_text, &mut follower, &event_tx).await;
            }
            Some(event) = event_rx.recv() => {
                tracing::debug!(service = event.service, action = event.action, "docker event");
                controller.on_event(&event);
            }
        }
    }
    tracing::info!("shutting down: finishing running reconciles");
    controller.shutdown();
    if let Some((_, handle)) = follower {
        handle.abort();
    }
    let _ = tokio::time::timeout(Duration::from_secs(30), workers).await;
    resync.abort();
    let _ = tokio::time::timeout(Duration::from_secs(5), api).await;
    if let Some(tcp) = tcp {
        let _ = tokio::time::timeout(Duration::from_secs(5), tcp).await;
    }
    let _ = std::fs::remove_file(&args.socket);
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// Re-reads the file; applies it when it changed and is valid, reports it when not.
async fn reload(
    controller: &Arc<Controller>,
    path: &std::path::Path,
    last_text: &mut Option<String>,
    follower: &mut Option<(String, tokio::task::JoinHandle<()>)>,
    event_tx: &mpsc::Sender<events::ContainerEvent>,
) {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "cannot read the desired-state file; keeping the running state");
            return;
        }
    };
    if last_text.as_deref() == Some(text.as_str()) {
        return;
    }
    *last_text = Some(text.clone());
    match holdfast_spec::load_str(path, &text, &holdfast_spec::LoadOptions::default()) {
        Err(report) => {
            let project = controller.project().unwrap_or_else(|| "-".into());
            let rendered = report.render();
            let first = report
                .diagnostics
                .iter()
                .find(|d| d.is_error())
                .map(|d| match d.span {
                    Some(s) => format!("{}:{}:{}: {}", path.display(), s.line, s.col, d.message),
                    None => format!("{}: {}", path.display(), d.message),
                })
                .unwrap_or_default();
            controller.event(
                &project,
                "project",
                EventKind::Warning,
                "InvalidSpec",
                &format!(
                    "{first} ({} errors); the running state is kept",
                    report.error_count()
                ),
            );
            eprint!("{rendered}");
        }
        Ok(loaded) => {
            let project = loaded.state.name.clone();
            if follower.as_ref().is_none_or(|(p, _)| *p != project) {
                if let Some((_, old)) = follower.take() {
                    old.abort();
                }
                let handle = tokio::spawn(events::follow(
                    controller.docker().clone(),
                    project.clone(),
                    event_tx.clone(),
                ));
                *follower = Some((project, handle));
            }
            if let Err(e) = controller.set_desired(loaded.state).await {
                tracing::warn!(error = %e, "cannot list the project's containers; will retry at the next change or resync");
            }
        }
    }
}
