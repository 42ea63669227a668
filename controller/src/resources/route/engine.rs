//! The engine the file's `proxy:` names, and one driver per proxy.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use holdfast_proxy::Engine;
use holdfast_proxy::caddy::{Caddy, CaddyConfig};
use holdfast_proxy::driver::Driver;
use holdfast_proxy::http::Endpoint;
use holdfast_proxy::nginx::{Nginx, NginxConfig};
use holdfast_proxy::traefik::{Traefik, TraefikConfig};
use holdfast_spec::{Proxy, ProxyEngine};

/// Caddy's admin API when the file names none.
pub const CADDY_ADMIN: &str = "localhost:2019";

/// Traefik's API when the file names none.
pub const TRAEFIK_API: &str = "127.0.0.1:8080";

/// nginx's main file when the file names none.
pub const NGINX_CONF: &str = "/etc/nginx/nginx.conf";

/// The engine for `proxy`, or why it cannot be built.
pub fn engine(proxy: &Proxy) -> Result<Arc<dyn Engine>, String> {
    Ok(match proxy.engine {
        ProxyEngine::Caddy => Arc::new(Caddy::new(CaddyConfig {
            admin: proxy
                .admin
                .clone()
                .unwrap_or_else(|| CADDY_ADMIN.to_string()),
        })),
        ProxyEngine::Nginx => {
            let dir = proxy
                .dir
                .clone()
                .ok_or("`proxy.dir` is required with nginx: the include directory holdfast owns")?;
            let conf = proxy
                .nginx_conf
                .clone()
                .unwrap_or_else(|| PathBuf::from(NGINX_CONF));
            let mut config = NginxConfig::new(dir, conf);
            if let Some(admin) = &proxy.admin {
                config.probe = Some(admin.clone());
            }
            Arc::new(Nginx::new(config))
        }
        ProxyEngine::Traefik => {
            let dir = proxy
                .dir
                .clone()
                .ok_or("`proxy.dir` is required with traefik: its file provider's directory")?;
            Arc::new(Traefik::new(TraefikConfig {
                dir,
                api: Endpoint::parse(proxy.admin.as_deref().unwrap_or(TRAEFIK_API)),
                https_port: proxy.https_port.unwrap_or(443),
                log: proxy.log.clone(),
                ..TraefikConfig::default()
            }))
        }
    })
}

/// A driver for `proxy` with the coalescing window `debounce`, reporting each applying
/// pass to `observer`.
pub fn driver(
    proxy: &Proxy,
    debounce: Duration,
    observer: impl Fn(&'static str, &holdfast_proxy::ConvergeOutcome) + Send + Sync + 'static,
) -> Result<Arc<Driver>, String> {
    Ok(Driver::with_observer(engine(proxy)?, debounce, observer))
}
