//! The Caddy engine: the admin API, over a unix socket or loopback TCP.
//!
//! - **render**: the whole document ([`render::document`]), cut into sections by `@id`;
//! - **observe**: `GET /config/`, cut the same way, so a route deleted through the API,
//!   an object edited by hand or a Caddy restarted without `--resume` shows as drift of
//!   the right section;
//! - **apply**: one `POST /load` (an identical document does not reload, but
//!   [`converge`](crate::converge) never sends one), then a read-back that must equal
//!   what was sent. A refused document gets Caddy's 400 message, and Caddy keeps
//!   serving the previous one.
//!
//! Caddy before 2.7 refuses `stream_close_delay` (strict JSON decoding): the first such
//! refusal switches the engine to the older form and [`Engine::warnings`] says what is
//! off.

pub mod render;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hyper::Method;
use serde_json::Value;

use crate::engine::{Applied, BoxFuture, Engine, Observed, ProxyError, Rendered};
use crate::http::{Endpoint, request};

use crate::model::ProxyModel;
use render::{RenderOptions, document, sections_of};

/// The file name of the document in [`Rendered::files`].
pub const DOCUMENT: &str = "caddy.json";

const TIMEOUT: Duration = Duration::from_secs(30);

/// How to reach one Caddy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaddyConfig {
    /// The admin API: `unix:/PATH` or `HOST:PORT`, as in `proxy.admin`.
    pub admin: String,
}

/// One Caddy, driven through its admin API.
pub struct Caddy {
    endpoint: Endpoint,
    admin_listen: String,
    /// Caddy refused `stream_close_delay`: it is older than 2.7.
    legacy: AtomicBool,
    /// The admin object last read back: sent back as it is, so holdfast never moves or
    /// changes the admin API (a pass always observes before it applies).
    admin: std::sync::Mutex<Option<Value>>,
}

impl Caddy {
    /// The engine for the Caddy whose admin API is at `config.admin`.
    pub fn new(config: CaddyConfig) -> Self {
        let endpoint = Endpoint::parse(&config.admin);
        let admin_listen = match &endpoint {
            Endpoint::Unix(path) => format!("unix/{}", path.display()),
            Endpoint::Tcp(addr) => addr.clone(),
        };
        Caddy {
            endpoint,
            admin_listen,
            legacy: AtomicBool::new(false),
            admin: std::sync::Mutex::new(None),
        }
    }

    fn options(&self) -> RenderOptions {
        RenderOptions {
            admin_listen: self.admin_listen.clone(),
            stream_close_delay: !self.legacy.load(Ordering::Relaxed),
        }
    }

    fn unreachable(&self, reason: impl ToString) -> ProxyError {
        ProxyError::Unreachable {
            engine: "caddy",
            address: self.endpoint.to_string(),
            reason: reason.to_string(),
        }
    }

    /// One admin call, tried again once after 100 ms when the connection breaks: Caddy
    /// closes admin connections when it restarts its admin server, right after start
    /// and after a load that moves it. Both calls holdfast makes are idempotent.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<crate::http::Response, ProxyError> {
        match request(
            &self.endpoint,
            method.clone(),
            path,
            &[],
            body.clone(),
            TIMEOUT,
        )
        .await
        {
            Ok(r) => Ok(r),
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                request(&self.endpoint, method, path, &[], body, TIMEOUT)
                    .await
                    .map_err(|e| self.unreachable(e))
            }
        }
    }

    async fn read_config(&self) -> Result<Value, ProxyError> {
        let r = self.call(Method::GET, "/config/", None).await?;
        if !r.ok() {
            return Err(ProxyError::Other {
                engine: "caddy",
                message: format!("GET /config/ answered {}: {}", r.status, r.text().trim()),
            });
        }
        serde_json::from_slice(&r.body).map_err(|e| ProxyError::Other {
            engine: "caddy",
            message: format!("GET /config/ is not JSON: {e}"),
        })
    }

    async fn load(&self, body: Vec<u8>) -> Result<(), ProxyError> {
        let r = request(
            &self.endpoint,
            Method::POST,
            "/load",
            &[],
            Some(body),
            TIMEOUT,
        )
        .await
        .map_err(|e| self.unreachable(e))?;
        if r.ok() {
            return Ok(());
        }
        let message = serde_json::from_slice::<Value>(&r.body)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| r.text().trim().to_string());
        Err(ProxyError::Rejected {
            engine: "caddy",
            message,
        })
    }
}

impl Engine for Caddy {
    fn name(&self) -> &'static str {
        "caddy"
    }

    fn render(&self, model: &ProxyModel) -> Rendered {
        let doc = document(model, &self.options());
        let mut files = BTreeMap::new();
        files.insert(DOCUMENT.to_string(), doc.to_string());
        Rendered::new(sections_of(&doc), files)
    }

    fn observe(&self) -> BoxFuture<'_, Result<Observed, ProxyError>> {
        Box::pin(async move {
            let config = self.read_config().await?;
            if let Some(admin) = config.get("admin") {
                *self.admin.lock().unwrap_or_else(|p| p.into_inner()) = Some(admin.clone());
            }
            let sections = if config.is_null() {
                BTreeMap::new()
            } else {
                sections_of(&config)
            };
            Ok(Observed {
                sections,
                ..Observed::default()
            })
        })
    }

    fn apply<'a>(&'a self, rendered: &'a Rendered) -> BoxFuture<'a, Result<Applied, ProxyError>> {
        Box::pin(async move {
            let text = rendered.files.get(DOCUMENT).cloned().unwrap_or_default();
            let mut doc: Value = serde_json::from_str(&text).map_err(|e| ProxyError::Other {
                engine: "caddy",
                message: format!("rendered document is not JSON: {e}"),
            })?;
            // Keep the admin API as the operator set it up (a Caddy in a container
            // listens on 0.0.0.0 with allowed origins, say).
            let admin = self.admin.lock().unwrap_or_else(|p| p.into_inner()).clone();
            if let (Some(admin), Some(map)) = (admin, doc.as_object_mut()) {
                map.insert("admin".to_string(), admin);
            }
            let mut mutations = 1;
            match self.load(doc.to_string().into_bytes()).await {
                Ok(()) => {}
                Err(ProxyError::Rejected { message, .. })
                    if message.contains("stream_close_delay")
                        && !self.legacy.swap(true, Ordering::Relaxed) =>
                {
                    tracing::warn!(
                        "caddy refused stream_close_delay ({message}): it is older than 2.7; \
                         WebSockets will close on every configuration change"
                    );
                    strip_key(&mut doc, "stream_close_delay");
                    mutations += 1;
                    self.load(doc.to_string().into_bytes()).await?;
                }
                Err(e) => return Err(e),
            }
            let live = self.read_config().await?;
            if sections_of(&live) != sections_of(&doc) {
                return Err(ProxyError::Other {
                    engine: "caddy",
                    message: "the configuration read back differs from the one loaded (another \
                              writer?)"
                        .into(),
                });
            }
            Ok(Applied {
                mutations,
                reloads: 0,
            })
        })
    }

    fn in_flight<'a>(&'a self, address: &'a str) -> BoxFuture<'a, Result<Option<u64>, ProxyError>> {
        Box::pin(async move {
            let r = self
                .call(Method::GET, "/reverse_proxy/upstreams", None)
                .await?;
            if !r.ok() {
                return Err(ProxyError::Other {
                    engine: "caddy",
                    message: format!(
                        "GET /reverse_proxy/upstreams answered {}: {}",
                        r.status,
                        r.text().trim()
                    ),
                });
            }
            let list: Vec<Value> =
                serde_json::from_slice(&r.body).map_err(|e| ProxyError::Other {
                    engine: "caddy",
                    message: format!("GET /reverse_proxy/upstreams is not a JSON list: {e}"),
                })?;
            Ok(Some(upstream_requests(&list, address)))
        })
    }

    fn warnings(&self) -> Vec<String> {
        if self.legacy.load(Ordering::Relaxed) {
            vec![
                "Caddy is older than 2.7: stream_close_delay is off, so WebSockets close on \
                 every configuration change; upgrade to Caddy 2.8 or later"
                    .to_string(),
            ]
        } else {
            Vec::new()
        }
    }
}

/// The in-flight requests to `address` in Caddy's upstream list (absent: 0).
fn upstream_requests(list: &[Value], address: &str) -> u64 {
    list.iter()
        .filter(|u| u.get("address").and_then(Value::as_str) == Some(address))
        .filter_map(|u| u.get("num_requests").and_then(Value::as_u64))
        .sum()
}

fn strip_key(v: &mut Value, key: &str) {
    match v {
        Value::Object(m) => {
            m.remove(key);
            m.values_mut().for_each(|v| strip_key(v, key));
        }
        Value::Array(a) => a.iter_mut().for_each(|v| strip_key(v, key)),
        _ => {}
    }
}
