//! The Traefik engine: one file of Traefik's file provider, confirmed through its API.
//!
//! holdfast owns ONE file, [`FILE_NAME`] (`holdfast.yml`), in the directory Traefik's
//! file provider watches (`providers.file.directory`, with `watch: true`), and nothing
//! else: not the static configuration (entry points, certificate resolvers), not the
//! other files of the directory. The file is JSON, which is YAML too.
//!
//! - **render** ([`render`]): each route becomes routers, services and middlewares
//!   named `hf-<route>-<part>` (`<part>` has no `-`, so the route is everything between
//!   `hf-` and the last `-`); TLS files become `tls.certificates`. A middleware
//!   `holdfast-generation-<hash>` (used by no router) marks the generation.
//! - **observe** ([`observe`]): the file read back into the same sections, plus the
//!   routers, services and middlewares of holdfast's names that Traefik's API reports in
//!   error ([`Observed::errors`](crate::Observed::errors)) and the generation it loaded.
//! - **apply** ([`apply`]): the file written atomically (`.holdfast/holdfast.yml.tmp`,
//!   see [`TEMP_DIR`], then a rename), then confirmed through the API: the marker of
//!   this very write (its value carries a stamp of each write) is loaded and no object
//!   of holdfast's names is in error. Otherwise the previous file is put back, and the
//!   apply fails with Traefik's own message.
//!
//! # Sections
//! `route/NAME` is the canonical JSON of the route's routers, services and
//! middlewares. `proxy` is everything else in the file: the certificates (Traefik's
//! `tls.certificates` entries carry no name, so they cannot be told apart by route),
//! and anything a hand edit added that does not follow holdfast's names.
//!
//! # What Traefik does differently
//! - **Redirects** (http→https, canonical host): Traefik's redirect middlewares answer
//!   **301** to `GET` and **308** to every other method even with `permanent: true`;
//!   there is no setting for 308 on `GET`. The `Location` is exact (host, https port,
//!   path and query).
//! - **Upstream-less paths** answer **503** with `Retry-After: 5` and
//!   `Content-Type: text/html; charset=utf-8`, but the body is Traefik's own
//!   (`no available server`): Traefik has no static response, and its `errors`
//!   middleware needs a server to fetch a page from (a new process, which holdfast
//!   does not run).
//! - **TLS ACME** ([`TlsModel::Acme`]): certificate resolvers live in Traefik's static
//!   configuration, which holdfast does not own. Such routes get `tls: {}` (Traefik's
//!   default certificate) and [`Traefik::unsupported`] names them, so that validation
//!   refuses them.
//! - **Certificates** that do not load (a key that does not match its certificate)
//!   are not in the API: Traefik only logs them and serves its default certificate.
//!   With [`TraefikConfig::log`] set, apply reads Traefik's log and rejects them with
//!   its message; without it they go unnoticed.
//! - **WebSockets** always pass (Traefik has no switch); `websockets: false` is not
//!   enforced. Entry points are static configuration: `listen.https` listens even when
//!   no route has TLS on (with no router of holdfast's on it, Traefik answers 404).
//!   `grace_period` and `stream_close_delay` belong to Traefik's static
//!   configuration (`transport.lifeCycle`) and are not rendered.
//! - **Timing**: Traefik's providers are throttled (`providersThrottleDuration`, 2 s by
//!   default): a change made within 2 s of the previous one waits for the rest of
//!   those 2 s; one after a quiet period is loaded in about 0.1 s.
//!
//! [`TlsModel::Acme`]: crate::TlsModel::Acme

mod api;
pub mod apply;
mod log;
pub mod observe;
pub mod render;
pub mod sections;

use std::path::PathBuf;
use std::time::Duration;

use crate::engine::{Applied, BoxFuture, Engine, Observed, ProxyError, Rendered};
use crate::http::Endpoint;
use crate::model::{ProxyModel, TlsModel};

/// The one file holdfast owns in the file provider's directory.
pub const FILE_NAME: &str = "holdfast.yml";

/// The folder in the provider's directory where the file is written before it is
/// renamed into place. Traefik watches its directory but not the folders in it, so
/// writing there makes no event (an event for the unchanged configuration would cost
/// the 2 s throttle before the real change loads); it does read them, and ignores
/// [`TEMP_NAME`] as it reads `.yml`, `.yaml` and `.toml` files only.
pub const TEMP_DIR: &str = ".holdfast";

/// The temporary file in [`TEMP_DIR`].
pub const TEMP_NAME: &str = "holdfast.yml.tmp";

/// The prefix of the generation marker's middleware name.
pub const GENERATION_PREFIX: &str = "holdfast-generation-";

/// The engine's name.
pub const ENGINE: &str = "traefik";

/// Where Traefik is and how to talk to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraefikConfig {
    /// The file provider's directory (`providers.file.directory`), where holdfast
    /// writes [`FILE_NAME`]. Traefik must watch it (`watch: true`).
    pub dir: PathBuf,
    /// Traefik's API (`api: {}` on the `traefik` entry point), default
    /// `127.0.0.1:8080`. Only `GET` requests are made.
    pub api: Endpoint,
    /// The port clients reach the HTTPS entry point on, for the `Location` of the
    /// http→https redirect (the model names entry points, not ports). 443 (the
    /// default) leaves the port out.
    pub https_port: u16,
    /// Traefik's log (`log.filePath`, or wherever its output goes), to quote Traefik's
    /// message when it drops the file or cannot load a certificate. `None`: such
    /// failures show as a timeout (a dropped file) or not at all (a certificate).
    pub log: Option<PathBuf>,
    /// How long apply waits for Traefik to load a generation (the throttle is 2 s by
    /// default). Default 5 s.
    pub confirm_timeout: Duration,
}

impl Default for TraefikConfig {
    fn default() -> Self {
        TraefikConfig {
            dir: PathBuf::from("/etc/traefik/dynamic"),
            api: Endpoint::Tcp("127.0.0.1:8080".to_string()),
            https_port: 443,
            log: None,
            confirm_timeout: Duration::from_secs(5),
        }
    }
}

/// The Traefik engine (see the module's documentation).
#[derive(Debug, Clone)]
pub struct Traefik {
    config: TraefikConfig,
}

impl Traefik {
    /// An engine for the Traefik that `config` describes.
    pub fn new(config: TraefikConfig) -> Self {
        Traefik { config }
    }

    /// The configuration.
    pub fn config(&self) -> &TraefikConfig {
        &self.config
    }

    /// The path of holdfast's file.
    pub fn file(&self) -> PathBuf {
        self.config.dir.join(FILE_NAME)
    }

    /// What of `model` Traefik cannot serve through holdfast, one line each: routes
    /// with [`TlsModel::Acme`] (certificate resolvers are static configuration).
    /// Validation refuses a model for which this is not empty.
    pub fn unsupported(model: &ProxyModel) -> Vec<String> {
        model
            .routes
            .iter()
            .filter(|(_, r)| matches!(r.tls, TlsModel::Acme))
            .map(|(name, _)| {
                format!(
                    "route {name}: TLS by ACME is not available with Traefik (its certificate \
                     resolvers are static configuration, which holdfast does not own); use \
                     certificate files"
                )
            })
            .collect()
    }
}

impl Engine for Traefik {
    fn name(&self) -> &'static str {
        ENGINE
    }

    fn render(&self, model: &ProxyModel) -> Rendered {
        render::render(&self.config, model)
    }

    fn observe(&self) -> BoxFuture<'_, Result<Observed, ProxyError>> {
        Box::pin(observe::observe(&self.config))
    }

    fn apply<'a>(&'a self, rendered: &'a Rendered) -> BoxFuture<'a, Result<Applied, ProxyError>> {
        Box::pin(apply::apply(&self.config, rendered))
    }

    fn warnings(&self) -> Vec<String> {
        if self.config.log.is_some() {
            return Vec::new();
        }
        vec![
            "Traefik's log is not configured: a certificate Traefik cannot load goes unnoticed \
             (Traefik only logs it and serves its default certificate)"
                .to_string(),
        ]
    }
}

/// A [`ProxyError::Other`] of this engine.
fn other(message: impl Into<String>) -> ProxyError {
    ProxyError::Other {
        engine: ENGINE,
        message: message.into(),
    }
}
