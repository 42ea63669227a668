//! `holdfast run -f FILE` / `holdfast run --git URL` / `holdfast run --config FILE`:
//! the controller in the foreground.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::common::{docker, init_logging, parse_duration, runtime};
use crate::api::server::AppState;
use crate::config::{
    ConfigError, ControllerConfig, GitSettings, GitSettingsError, SourceConfig, WebhookConfig,
};
use crate::docker::events;
use crate::runtime::controller::{Controller, Options};
use crate::runtime::store::{Store, default_state_dir};
use crate::source::file::{self, FileSource};
use crate::source::git::follow::GitSource;
use crate::source::{DesiredSink, SourceControl};

/// Why `holdfast run` cannot start with the source and webhook settings given.
#[derive(Debug, thiserror::Error)]
enum SettingsError {
    /// The `--config` file is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The `--git` flags do not fit together.
    #[error(transparent)]
    Git(#[from] GitSettingsError),
    /// `--webhook-listen` without `--git`.
    #[error("a webhook needs a git source (--git URL)")]
    WebhookNeedsGit,
}

/// Why a listener (the TCP API, the webhook receiver) cannot start.
#[derive(Debug, thiserror::Error)]
enum ListenerError {
    /// The bearer token file is empty.
    #[error("the token file {} is empty", .0.display())]
    EmptyTokenFile(std::path::PathBuf),
    /// The bearer token file cannot be read.
    #[error("cannot read the token file {}: {source}", path.display())]
    TokenFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TCP API cannot listen.
    #[error("cannot listen on {addr}: {source}")]
    Api {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The webhook's secret is unusable.
    #[error(transparent)]
    Secret(#[from] crate::api::webhook::WebhookError),
    /// The webhook receiver cannot listen.
    #[error("cannot listen for webhooks on {addr}: {source}")]
    Webhook {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Where the desired state comes from, as flags.
#[derive(Debug, clap::Args)]
struct SourceArgs {
    /// The desired-state file on this server (watched for changes). The default
    /// source when neither --git nor --config is given. Repeat it to merge files in
    /// order, as Compose does.
    #[arg(short = 'f', long = "file", value_name = "FILE", conflicts_with_all = ["git", "config"])]
    file: Vec<std::path::PathBuf>,
    /// Activate a profile (repeatable); without it, `COMPOSE_PROFILES`.
    #[arg(long = "profile", value_name = "NAME")]
    profile: Vec<String>,
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
    /// The desired-state file's path inside the repository. Repeat it to merge files
    /// in order, as repeated `-f` does (`--path compose.yaml --path compose.prod.yaml`).
    #[arg(long, requires = "git", default_value = "holdfast.yaml")]
    path: Vec<String>,
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
    fn resolve(&self) -> Result<ControllerConfig, SettingsError> {
        let mut config = match (&self.config, &self.git) {
            (Some(path), _) => crate::config::load(path)?,
            (None, Some(url)) => ControllerConfig {
                source: SourceConfig::Git(
                    GitSettings {
                        url: url.clone(),
                        branch: self.branch.clone(),
                        tag: self.tag.clone(),
                        commit: self.commit.clone(),
                        paths: self.path.clone(),
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
                source: SourceConfig::File(if self.file.is_empty() {
                    vec![std::path::PathBuf::from("holdfast.yaml")]
                } else {
                    self.file.clone()
                }),
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
            return Err(SettingsError::WebhookNeedsGit);
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
    /// How often the engine cache is relisted in full (it is also relisted whenever
    /// Docker's event stream reconnects).
    #[arg(long, value_parser = parse_duration, default_value = "5m")]
    relist: Duration,
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
    let host = crate::docker::Host::new(docker.clone());
    let controller = Controller::new(
        crate::resources::kinds(&host, &args.state_dir),
        Some(store.clone()),
        options,
    );
    let sink: Arc<dyn DesiredSink> = controller.clone();
    let (git, file_source) = match &config.source {
        SourceConfig::Git(git) => {
            match GitSource::new(git.clone(), &args.state_dir, Some(store), sink) {
                Ok(source) => (Some(source), None),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        SourceConfig::File(paths) => (
            None,
            Some(FileSource::layered(
                paths,
                super::common::profile_options(&args.source.profile),
                sink,
            )),
        ),
    };
    let source: Arc<dyn SourceControl> = match (&git, &file_source) {
        (Some(git), _) => git.clone(),
        (None, Some(file)) => file.clone(),
        (None, None) => return ExitCode::from(2),
    };
    let state = AppState {
        controller: controller.clone(),
        source,
        updates: Some(crate::resources::service::rollout::record::Records::new(
            &args.state_dir,
        )),
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
        (Some(addr), Some(token_file)) => match start_tcp_api(*addr, token_file, &state).await {
            Ok(handle) => Some(handle),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        _ => None,
    };
    let api = {
        let state = state.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::api::server::serve(listener, state).await {
                tracing::error!(error = %e, "the API stopped");
            }
        })
    };
    let (event_tx, mut event_rx) = mpsc::channel::<events::Notice>(256);
    let mut follower: Option<(String, tokio::task::JoinHandle<()>)> = None;
    // The source: the file is loaded now, then on every change (a bad file changes
    // nothing); the git source fetches now, then on its interval and triggers.
    let source_task;
    match (&config.source, &git, &file_source) {
        (SourceConfig::File(paths), _, Some(file)) => {
            controller.set_source(file.shown());
            tracing::info!(file = %file.shown(), "holdfast controller starting");
            let (tx, rx) = mpsc::channel(1);
            let watch = match file::watch_all(paths, tx) {
                Ok(w) => w,
                Err(e) => {
                    eprintln!("error: cannot watch {}: {e}", file.shown());
                    return ExitCode::from(2);
                }
            };
            file.reload().await;
            source_task = tokio::spawn(file.clone().run(watch, rx));
        }
        (SourceConfig::Git(config), Some(git), _) => {
            let status = git.status();
            controller.set_source(&format!(
                "{} ({}, {})",
                status.url,
                config.reference,
                config.shown_paths()
            ));
            tracing::info!(url = %status.url, reference = %config.reference, path = %config.shown_paths(), "holdfast controller starting");
            source_task = tokio::spawn(git.clone().run());
        }
        _ => return ExitCode::from(2),
    }
    // The Docker event stream follows the project in force, whichever source set it.
    let mut project_changes = controller.subscribe();
    follow_project(&controller, &host, &mut follower, &event_tx, args.relist);

    let workers = {
        let c = controller.clone();
        tokio::spawn(async move { c.run_workers().await })
    };
    let resync = {
        let c = controller.clone();
        tokio::spawn(async move { c.run_resync().await })
    };
    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            Ok(()) = project_changes.changed() => {
                follow_project(&controller, &host, &mut follower, &event_tx, args.relist);
            }
            Some(notice) = event_rx.recv() => match notice {
                events::Notice::Container(event) => {
                    tracing::debug!(service = event.service, action = event.action, "docker event");
                    if let Some(project) = controller.project() {
                        controller.on_host_event(&event.host_event(&project));
                    }
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
    let _ = tokio::time::timeout(Duration::from_secs(5), source_task).await;
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

/// Follows the Docker events of the project in force (again, when it was renamed),
/// into a new engine cache that the kinds observe through.
fn follow_project(
    controller: &Arc<Controller>,
    host: &Arc<crate::docker::Host>,
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
    let cache = crate::docker::cache::EngineCache::for_docker(host.docker().clone(), &project);
    host.set_cache(Some(cache.clone()));
    let handle = tokio::spawn(events::follow(
        host.docker().clone(),
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
    state: &AppState,
) -> Result<tokio::task::JoinHandle<()>, ListenerError> {
    let token = match std::fs::read_to_string(token_file) {
        Ok(t) if !t.trim().is_empty() => t.trim().to_string(),
        Ok(_) => return Err(ListenerError::EmptyTokenFile(token_file.to_path_buf())),
        Err(source) => {
            return Err(ListenerError::TokenFile {
                path: token_file.to_path_buf(),
                source,
            });
        }
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ListenerError::Api { addr, source })?;
    let bound = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(address = %bound, "API listening on TCP (bearer token required)");
    let state = state.clone();
    Ok(tokio::spawn(async move {
        if let Err(e) = crate::api::server::serve_tcp(listener, state, token).await {
            tracing::error!(error = %e, "the TCP API stopped");
        }
    }))
}

/// Serves the webhook receiver on its own TCP listener until shutdown.
async fn start_webhook(
    hook: &WebhookConfig,
    git: Arc<GitSource>,
    controller: &Arc<Controller>,
) -> Result<tokio::task::JoinHandle<()>, ListenerError> {
    let secret = crate::api::webhook::WebhookSecret::from_file(&hook.secret_file)?;
    let listener = tokio::net::TcpListener::bind(hook.listen)
        .await
        .map_err(|source| ListenerError::Webhook {
            addr: hook.listen,
            source,
        })?;
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
