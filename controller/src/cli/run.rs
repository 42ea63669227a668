//! `holdfast run -f FILE` / `holdfast run --git URL` / `holdfast run --config FILE`:
//! the controller in the foreground.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::common::{docker, init_logging, parse_duration, runtime};
use crate::config::{ControllerConfig, GitSettings, SourceConfig, WebhookConfig};
use crate::docker::events;
use crate::runtime::controller::{Controller, Options};
use crate::runtime::store::{EventKind, Store, default_state_dir};
use crate::source::file;
use crate::source::git::follow::GitSource;

/// Where the desired state comes from, as flags.
#[derive(Debug, clap::Args)]
struct SourceArgs {
    /// The desired-state file on this server (watched for changes). The default
    /// source when neither --git nor --config is given.
    #[arg(short = 'f', long = "file", value_name = "FILE", conflicts_with_all = ["git", "config"])]
    file: Option<std::path::PathBuf>,
    /// Follow this git repository instead of a file: https://, ssh://,
    /// user@host:path, git://, file:// or a local path.
    #[arg(long, value_name = "URL", conflicts_with = "config")]
    git: Option<String>,
    /// The branch to follow (default: main).
    #[arg(long, requires = "git", conflicts_with_all = ["tag", "commit"])]
    branch: Option<String>,
    /// Follow a tag instead of a branch.
    #[arg(long, requires = "git", conflicts_with = "commit")]
    tag: Option<String>,
    /// Stay on one commit.
    #[arg(long, requires = "git")]
    commit: Option<String>,
    /// The desired-state file's path inside the repository.
    #[arg(long, requires = "git", default_value = "holdfast.yaml")]
    path: String,
    /// How often to fetch (±10 % jitter); a webhook fetches at once.
    #[arg(long, requires = "git", value_parser = parse_duration, default_value = "60s")]
    interval: Duration,
    /// HTTPS: the file holding an access token (sent as the password).
    #[arg(
        long,
        value_name = "PATH",
        requires = "git",
        conflicts_with = "git_ssh_key"
    )]
    git_token_file: Option<std::path::PathBuf>,
    /// HTTPS: the username sent with the token.
    #[arg(long, requires = "git_token_file", default_value = crate::config::DEFAULT_TOKEN_USERNAME)]
    git_username: String,
    /// SSH: the deploy key (private key file).
    #[arg(long, value_name = "PATH", requires = "git")]
    git_ssh_key: Option<std::path::PathBuf>,
    /// SSH: the known_hosts file to check the server's key against (strictly).
    #[arg(long, value_name = "PATH", requires = "git_ssh_key")]
    git_known_hosts: Option<std::path::PathBuf>,
    /// Read the source and webhook settings from this controller configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// Receive push webhooks (GitHub, GitLab) on this TCP address, such as
    /// 0.0.0.0:9000. Only `POST /v1/webhook` is served there.
    #[arg(long, value_name = "ADDR", requires = "webhook_secret_file")]
    webhook_listen: Option<std::net::SocketAddr>,
    /// The file holding the webhook's shared secret.
    #[arg(long, value_name = "PATH", requires = "webhook_listen")]
    webhook_secret_file: Option<std::path::PathBuf>,
}

impl SourceArgs {
    /// The configuration the flags (or the --config file) describe.
    fn resolve(&self) -> Result<ControllerConfig, String> {
        let mut config = match (&self.config, &self.git) {
            (Some(path), _) => crate::config::load(path).map_err(|e| e.to_string())?,
            (None, Some(url)) => ControllerConfig {
                source: SourceConfig::Git(
                    GitSettings {
                        url: url.clone(),
                        branch: self.branch.clone(),
                        tag: self.tag.clone(),
                        commit: self.commit.clone(),
                        path: Some(self.path.clone()),
                        interval: Some(self.interval),
                        token_file: self.git_token_file.clone(),
                        username: Some(self.git_username.clone()),
                        ssh_key_file: self.git_ssh_key.clone(),
                        known_hosts_file: self.git_known_hosts.clone(),
                    }
                    .build()?,
                ),
                webhook: None,
            },
            (None, None) => ControllerConfig {
                source: SourceConfig::File(
                    self.file
                        .clone()
                        .unwrap_or_else(|| std::path::PathBuf::from("holdfast.yaml")),
                ),
                webhook: None,
            },
        };
        if let (Some(listen), Some(secret_file)) = (self.webhook_listen, &self.webhook_secret_file)
        {
            config.webhook = Some(WebhookConfig {
                listen,
                secret_file: secret_file.clone(),
            });
        }
        if config.webhook.is_some() && matches!(config.source, SourceConfig::File(_)) {
            return Err("a webhook needs a git source (--git URL)".into());
        }
        Ok(config)
    }
}

/// Arguments of `holdfast run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    source: SourceArgs,
    /// Where status and events are kept.
    #[arg(long, env = "HOLDFAST_STATE_DIR", default_value_os_t = default_state_dir())]
    state_dir: std::path::PathBuf,
    /// How often every service is checked even without a trigger.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    resync: Duration,
    /// Services reconciled at once.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// How often the engine cache is relisted in full (it is also relisted whenever
    /// Docker's event stream reconnects).
    #[arg(long, value_parser = parse_duration, default_value = "5m")]
    relist: Duration,
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
    // First of all, so that a SIGTERM during start-up is a clean shutdown, not a kill.
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: cannot handle SIGTERM: {e}");
                return ExitCode::from(2);
            }
        };
    let config = match args.source.resolve() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
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
    if args.resync < Duration::from_secs(1) || args.relist < Duration::from_secs(1) {
        eprintln!("error: --resync and --relist must be at least 1s");
        return ExitCode::from(2);
    }
    let options = Options {
        workers: args.workers,
        resync: args.resync,
        allow_mass_removal: args.allow_mass_removal,
        ..Options::default()
    };
    let controller = Controller::new(docker.clone(), Some(store.clone()), options);
    let git = match &config.source {
        SourceConfig::Git(git) => match GitSource::new(git.clone(), &args.state_dir, Some(store)) {
            Ok(source) => {
                controller.set_git_source(source.clone());
                Some(source)
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        SourceConfig::File(_) => None,
    };
    let webhook = match (&config.webhook, &git) {
        (Some(hook), Some(git)) => match start_webhook(hook, git.clone(), &controller).await {
            Ok(handle) => Some(handle),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        _ => None,
    };
    let listener = match crate::api::server::bind(&args.socket) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    tracing::info!(socket = %args.socket.display(), "API listening");
    let tcp = match (&args.listen_tcp, &args.token_file) {
        (Some(addr), Some(token_file)) => match start_tcp_api(*addr, token_file, &controller).await
        {
            Ok(handle) => Some(handle),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
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
    let (event_tx, mut event_rx) = mpsc::channel::<events::Notice>(256);
    let mut follower: Option<(String, tokio::task::JoinHandle<()>)> = None;
    // The file: load now, then on every change. A bad file changes nothing.
    let (tx, mut rx) = mpsc::channel(1);
    let mut watched = None;
    let mut git_task = None;
    match (&config.source, &git) {
        (SourceConfig::File(path), _) => {
            controller.set_source(
                &std::path::absolute(path)
                    .unwrap_or_else(|_| path.clone())
                    .display()
                    .to_string(),
            );
            tracing::info!(file = %path.display(), "holdfast controller starting");
            let watch = match file::watch(path, tx) {
                Ok(w) => w,
                Err(e) => {
                    eprintln!("error: cannot watch {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            };
            let mut last_text = None;
            reload(&controller, path, &mut last_text).await;
            watched = Some((path.clone(), watch, last_text));
        }
        (SourceConfig::Git(config), Some(git)) => {
            let status = git.status();
            controller.set_source(&format!(
                "{} ({}, {})",
                status.url, config.reference, config.path
            ));
            tracing::info!(url = %status.url, reference = %config.reference, path = %config.path, "holdfast controller starting");
            git_task = Some(tokio::spawn(git.clone().run(controller.clone())));
        }
        (SourceConfig::Git(_), None) => return ExitCode::from(2),
    }
    // The Docker event stream follows the project in force, whichever source set it.
    let mut project_changes = controller.subscribe();
    follow_project(&controller, &mut follower, &event_tx, args.relist);

    let workers = {
        let c = controller.clone();
        tokio::spawn(async move { c.run_workers().await })
    };
    let resync = {
        let c = controller.clone();
        tokio::spawn(async move { c.run_resync().await })
    };
    // A change of the file is read after 100 ms without another one. The deadline lives
    // outside the select, so that a wake-up by another branch loses no change.
    let mut reload_at: Option<tokio::time::Instant> = None;
    loop {
        let quiet = reload_at.unwrap_or_else(tokio::time::Instant::now);
        tokio::select! {
            _ = terminate.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            Some(()) = rx.recv(), if watched.is_some() => {
                reload_at = Some(tokio::time::Instant::now() + Duration::from_millis(100));
            }
            () = tokio::time::sleep_until(quiet), if reload_at.is_some() => {
                reload_at = None;
                if let Some((path, _, last_text)) = watched.as_mut() {
                    reload(&controller, path, last_text).await;
                }
            }
            Ok(()) = project_changes.changed() => {
                follow_project(&controller, &mut follower, &event_tx, args.relist);
            }
            Some(notice) = event_rx.recv() => match notice {
                events::Notice::Container(event) => {
                    tracing::debug!(service = event.service, action = event.action, "docker event");
                    controller.on_event(&event);
                }
                events::Notice::Resynced => controller.trigger_all(),
            },
        }
    }
    tracing::info!("shutting down: finishing running reconciles");
    controller.shutdown();
    if let Some((_, handle)) = follower {
        handle.abort();
    }
    if let Some(task) = git_task {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    if let Some(hook) = webhook {
        let _ = tokio::time::timeout(Duration::from_secs(5), hook).await;
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
            if let Err(e) = controller.set_desired(loaded.state).await {
                tracing::warn!(error = %e, "cannot list the project's containers; will retry at the next change or resync");
            }
        }
    }
}

/// Follows the Docker events of the project in force (again, when it was renamed),
/// into a new engine cache that the controller observes through.
fn follow_project(
    controller: &Arc<Controller>,
    follower: &mut Option<(String, tokio::task::JoinHandle<()>)>,
    event_tx: &mpsc::Sender<events::Notice>,
    relist_every: Duration,
) {
    let Some(project) = controller.project() else {
        return;
    };
    if follower.as_ref().is_some_and(|(p, _)| *p == project) {
        return;
    }
    if let Some((_, old)) = follower.take() {
        old.abort();
    }
    let cache =
        crate::docker::cache::EngineCache::for_docker(controller.docker().clone(), &project);
    controller.set_cache(Some(cache.clone()));
    let handle = tokio::spawn(events::follow(
        controller.docker().clone(),
        cache,
        event_tx.clone(),
        events::FollowOptions {
            relist_every,
            ..events::FollowOptions::default()
        },
    ));
    *follower = Some((project, handle));
}

/// Serves the API on TCP too, behind the bearer token in `token_file`.
async fn start_tcp_api(
    addr: std::net::SocketAddr,
    token_file: &std::path::Path,
    controller: &Arc<Controller>,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let token = match std::fs::read_to_string(token_file) {
        Ok(t) if !t.trim().is_empty() => t.trim().to_string(),
        Ok(_) => return Err(format!("the token file {} is empty", token_file.display())),
        Err(e) => {
            return Err(format!(
                "cannot read the token file {}: {e}",
                token_file.display()
            ));
        }
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(address = %bound, "API listening on TCP (bearer token required)");
    let c = controller.clone();
    Ok(tokio::spawn(async move {
        if let Err(e) = crate::api::server::serve_tcp(listener, c, token).await {
            tracing::error!(error = %e, "the TCP API stopped");
        }
    }))
}

/// Serves the webhook receiver on its own TCP listener until shutdown.
async fn start_webhook(
    hook: &WebhookConfig,
    git: Arc<GitSource>,
    controller: &Arc<Controller>,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let secret = crate::api::webhook::WebhookSecret::from_file(&hook.secret_file)
        .map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(hook.listen)
        .await
        .map_err(|e| format!("cannot listen for webhooks on {}: {e}", hook.listen))?;
    let bound = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(address = %bound, "webhook receiver listening (POST /v1/webhook)");
    let router = crate::api::webhook::router(secret, Arc::new(move || git.trigger()));
    let mut closed = controller.closed();
    Ok(tokio::spawn(async move {
        let shutdown = async move {
            let _ = closed.wait_for(|c| *c).await;
        };
        if let Err(e) = crate::api::webhook::serve(listener, router, shutdown).await {
            tracing::error!(error = %e, "the webhook receiver stopped");
        }
    }))
}
