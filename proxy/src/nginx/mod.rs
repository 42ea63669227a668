//! The nginx engine.
//!
//! holdfast owns one include directory ([`NginxConfig::dir`]) that the user's
//! nginx.conf includes inside `http {}` (`include /etc/nginx/holdfast/*.conf;`), and
//! nothing else. In it:
//!
//! - `NAME.conf` per route (section `route/NAME`): its `upstream` blocks (round-robin,
//!   keep-alive) and `server` blocks — the 308s to HTTPS and to the canonical host,
//!   then the site with `allow`/`deny`, basic auth, `client_max_body_size`
//!   ([`render::DEFAULT_MAX_BODY`] when the route sets none), `more_clear_headers`
//!   (the headers-more module must be loaded), `add_header … always`, and one
//!   `location` pair per prefix (`/api/` and `= /api`);
//! - `_holdfast.conf` (section `proxy`): the WebSocket map, the **default servers** of
//!   the two listeners (404 on HTTP; on HTTPS, only when a route has TLS, a refused
//!   handshake), so that an unknown host never reaches a route — the user's
//!   nginx.conf must not declare another `default_server` on these addresses — and,
//!   outside the section, the generation server that answers the hash of the sections
//!   on `GET /.holdfast/generation` with `Host: holdfast-generation.invalid`, to
//!   loopback clients only.
//!
//! [`Engine::apply`] stages into `<dir>.new/`, tests the whole tree with `nginx -t`,
//! swaps the directory (keeping `<dir>.prev/`), reloads and waits until the generation
//! endpoint answers the new hash; when the master refuses what `-t` passed (a port
//! already bound), `<dir>.prev/` is put back and nginx reloaded. nginx resets keep-alive connections on every reload, so nothing is
//! reloaded when nothing changed. [`Engine::observe`] reads the files back and asks
//! the generation endpoint; a restarted nginx serves the generation of its files.
//!
//! TLS comes from files only (`ssl_certificate`); [`TlsModel::Acme`] routes are
//! refused by validation for nginx and render as a comment.
//! [`ProxyModel::grace_period`] and [`ProxyModel::stream_close_delay`] are not
//! rendered: they are nginx's `worker_shutdown_timeout`, a main-level setting of the
//! user's nginx.conf.
//!
//! [`TlsModel::Acme`]: crate::model::TlsModel::Acme
//! [`ProxyModel::grace_period`]: crate::model::ProxyModel::grace_period
//! [`ProxyModel::stream_close_delay`]: crate::model::ProxyModel::stream_close_delay

mod apply;
mod files;
mod observe;
mod probe;
pub mod render;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use crate::engine::{Applied, BoxFuture, Engine, Observed, ProxyError, Rendered};
use crate::model::ProxyModel;

/// The engine's name.
pub const NAME: &str = "nginx";

/// Where nginx and holdfast's part of its configuration are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NginxConfig {
    /// The include directory holdfast owns, such as `/etc/nginx/holdfast`. The main
    /// file includes `<dir>/*.conf` inside `http {}`, spelling the path exactly as
    /// here (the test copy replaces it). holdfast also writes its siblings
    /// `<dir>.new/` (staging) and `<dir>.prev/` (the configuration before the last
    /// apply).
    pub dir: PathBuf,
    /// The main configuration file nginx runs with (`-c`), such as
    /// `/etc/nginx/nginx.conf`. Read, copied next to itself for `nginx -t`, never
    /// written.
    pub nginx_conf: PathBuf,
    /// The nginx binary; default `nginx` (found on `PATH`).
    pub binary: PathBuf,
    /// The prefix nginx runs with (`-p`), passed to `nginx -t` and `nginx -s reload`
    /// too; default none (nginx's compiled-in prefix).
    pub prefix: Option<PathBuf>,
    /// Where the generation endpoint is asked, `HOST:PORT`; default `127.0.0.1` with
    /// the port of `listen.http`. nginx answers it to `127.0.0.1` and `::1` only.
    pub probe: Option<String>,
}

impl NginxConfig {
    /// A configuration with the defaults: `nginx` on `PATH`, no prefix, the probe on
    /// `127.0.0.1` and the HTTP port.
    pub fn new(dir: impl Into<PathBuf>, nginx_conf: impl Into<PathBuf>) -> Self {
        NginxConfig {
            dir: dir.into(),
            nginx_conf: nginx_conf.into(),
            binary: PathBuf::from("nginx"),
            prefix: None,
            probe: None,
        }
    }
}

/// How long the last successful apply took, by step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApplyTimings {
    /// `nginx -t` on the staged tree.
    pub test: Duration,
    /// From `nginx -s reload` until the generation endpoint answered the new hash.
    pub reload_to_serving: Duration,
    /// The whole apply.
    pub total: Duration,
}

/// One nginx, driven through its include directory (see the module's documentation).
#[derive(Debug)]
pub struct Nginx {
    config: NginxConfig,
    /// Applies never overlap: they share `<dir>.new/`.
    apply_lock: tokio::sync::Mutex<()>,
    /// The probe address of the last rendered model, for an nginx that has no
    /// holdfast files yet.
    rendered_probe: Mutex<Option<String>>,
    timings: Mutex<Option<ApplyTimings>>,
}

impl Nginx {
    /// An engine for the nginx `config` describes.
    pub fn new(config: NginxConfig) -> Self {
        Nginx {
            config,
            apply_lock: tokio::sync::Mutex::new(()),
            rendered_probe: Mutex::new(None),
            timings: Mutex::new(None),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &NginxConfig {
        &self.config
    }

    /// How long the last successful apply that reloaded took.
    pub fn last_apply(&self) -> Option<ApplyTimings> {
        *self.timings.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn remember(&self, timings: ApplyTimings) {
        *self.timings.lock().unwrap_or_else(|p| p.into_inner()) = Some(timings);
    }

    /// Where to ask the generation: the configured probe, else the generation server
    /// of `shared_file` (the shared file live or about to be), else that of the last
    /// rendered model.
    fn probe_address(&self, shared_file: Option<&str>) -> Option<String> {
        if let Some(p) = &self.config.probe {
            return Some(p.clone());
        }
        shared_file
            .and_then(probe::listen_in)
            .and_then(|l| probe::loopback(&l))
            .or_else(|| {
                self.rendered_probe
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone()
            })
    }
}

impl Engine for Nginx {
    fn name(&self) -> &'static str {
        NAME
    }

    fn render(&self, model: &ProxyModel) -> Rendered {
        *self
            .rendered_probe
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = probe::loopback(&model.listen.http);
        render::render(model)
    }

    fn observe(&self) -> BoxFuture<'_, Result<Observed, ProxyError>> {
        Box::pin(observe::observe(self))
    }

    fn in_flight<'a>(&'a self, address: &'a str) -> BoxFuture<'a, Result<Option<u64>, ProxyError>> {
        Box::pin(async move {
            // Old workers after a reload may hold requests to any old upstream; a
            // slot's upstream has no keepalive, so its open connections are its
            // requests in flight.
            let old_workers = apply::shutting_down(&self.config).await;
            let connections = established_to(address).unwrap_or(0);
            Ok(Some(old_workers + connections))
        })
    }

    fn apply<'a>(&'a self, rendered: &'a Rendered) -> BoxFuture<'a, Result<Applied, ProxyError>> {
        Box::pin(apply::apply(self, rendered))
    }
}

/// Runs `f` on the blocking pool.
/// Open TCP connections (ESTABLISHED) to `address` (`127.0.0.1:PORT`) in this
/// network namespace, from `/proc/net/tcp`; `None` when it cannot tell.
pub fn established_to(address: &str) -> Option<u64> {
    let addr: std::net::SocketAddrV4 = address.parse().ok()?;
    let ip = u32::from_ne_bytes(addr.ip().octets());
    let want = format!("{ip:08X}:{:04X}", addr.port());
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    Some(
        table
            .lines()
            .skip(1)
            .filter(|l| {
                let mut f = l.split_whitespace();
                let (_, _, remote, state) = (f.next(), f.next(), f.next(), f.next());
                remote == Some(want.as_str()) && state == Some("01")
            })
            .count() as u64,
    )
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?
}

fn io_error(what: &str, path: &Path, e: &std::io::Error) -> ProxyError {
    ProxyError::Other {
        engine: NAME,
        message: format!("{what} {}: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::established_to;

    #[test]
    fn open_connections_to_an_address_are_counted() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        assert_eq!(established_to(&address), Some(0));
        let a = std::net::TcpStream::connect(&address).unwrap();
        let b = std::net::TcpStream::connect(&address).unwrap();
        let (_x, _) = listener.accept().unwrap();
        let (_y, _) = listener.accept().unwrap();
        assert_eq!(established_to(&address), Some(2));
        drop((a, b));
        assert_eq!(established_to("not an address"), None);
    }
}
