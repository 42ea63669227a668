//! What every proxy engine provides: render, observe, apply.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use sha2::{Digest, Sha256};

use crate::model::ProxyModel;

/// A boxed future, as engines are used behind `dyn`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A proxy holdfast drives. Implementations own one part of the proxy's configuration
/// (a Caddy server, an nginx include directory, a Traefik dynamic file) and nothing
/// else.
pub trait Engine: Send + Sync {
    /// `caddy`, `nginx` or `traefik`.
    fn name(&self) -> &'static str;

    /// The model as this engine's configuration. Pure: no I/O.
    fn render(&self, model: &ProxyModel) -> Rendered;

    /// What the proxy runs now, cut into the same sections as [`Engine::render`].
    fn observe(&self) -> BoxFuture<'_, Result<Observed, ProxyError>>;

    /// Hands `rendered` to the proxy and returns once the proxy serves it. On an error
    /// the proxy serves what it served before (the engine restores it if it must).
    fn apply<'a>(&'a self, rendered: &'a Rendered) -> BoxFuture<'a, Result<Applied, ProxyError>>;

    /// What still holds the upstream `address` after a change moved traffic off it:
    /// Caddy's count of in-flight requests to it (`/reverse_proxy/upstreams`; 0 once
    /// Caddy lists it no more), nginx's count of old workers still shutting down (each
    /// may hold requests to any old upstream). `None` when the engine cannot tell
    /// (Traefik): the caller waits out its drain time.
    fn in_flight<'a>(&'a self, address: &'a str) -> BoxFuture<'a, Result<Option<u64>, ProxyError>> {
        let _ = address;
        Box::pin(async { Ok(None) })
    }

    /// Features of the running proxy that are off, one line each (an old Caddy
    /// without `stream_close_delay`, say). Empty when everything works.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A configuration rendered for one engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The canonical text of each part, by section: `route/NAME` for each route and
    /// `proxy` for the shared part. Drift and `holdfast diff` compare these.
    pub sections: BTreeMap<String, String>,
    /// What the engine writes or sends, by file name (Caddy: one JSON document; nginx:
    /// one file per section; Traefik: one dynamic file).
    pub files: BTreeMap<String, String>,
    /// The hash of the sections: the generation the proxy confirms it serves.
    pub hash: String,
}

impl Rendered {
    /// A rendering from its sections and files; the hash covers the sections.
    pub fn new(sections: BTreeMap<String, String>, files: BTreeMap<String, String>) -> Self {
        let hash = hash_sections(&sections);
        Rendered {
            sections,
            files,
            hash,
        }
    }
}

/// The hash of a set of sections (short hex of SHA-256 over names and texts).
pub fn hash_sections(sections: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    for (k, v) in sections {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What the proxy runs now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    /// The live configuration, by section, as [`Rendered::sections`] names them. A
    /// section holdfast did not write but finds in its part is kept under its own
    /// name so that it shows as drift.
    pub sections: BTreeMap<String, String>,
    /// Errors the proxy reports for a section although it loaded the configuration
    /// (Traefik marks a broken router instead of refusing the file).
    pub errors: BTreeMap<String, String>,
    /// The generation the proxy confirms it serves, where the engine can tell (nginx's
    /// probe); `None` otherwise.
    pub generation: Option<String>,
}

/// What an apply cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Applied {
    /// Calls that changed the proxy's configuration (Caddy `POST /load`, file writes).
    pub mutations: u32,
    /// Reloads (nginx `-s reload`).
    pub reloads: u32,
}

impl std::ops::AddAssign for Applied {
    fn add_assign(&mut self, o: Applied) {
        self.mutations += o.mutations;
        self.reloads += o.reloads;
    }
}

/// Why talking to the proxy failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// The proxy did not answer; it keeps whatever it serves.
    #[error("{engine} is unreachable at {address}: {reason}")]
    Unreachable {
        /// The engine.
        engine: &'static str,
        /// Where holdfast tried.
        address: String,
        /// What failed.
        reason: String,
    },
    /// The proxy refused the configuration and serves the previous one.
    #[error("{engine} refused the configuration: {message}")]
    Rejected {
        /// The engine.
        engine: &'static str,
        /// The proxy's own message (for nginx, the error-log tail).
        message: String,
    },
    /// Anything else: a file that cannot be written, an answer that cannot be read.
    #[error("{engine}: {message}")]
    Other {
        /// The engine.
        engine: &'static str,
        /// What went wrong.
        message: String,
    },
}

impl ProxyError {
    /// Whether the proxy refused the configuration itself (as opposed to not being
    /// reached): only then may a smaller configuration succeed.
    pub fn is_rejection(&self) -> bool {
        matches!(self, ProxyError::Rejected { .. })
    }
}
