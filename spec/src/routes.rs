//! `proxy:` and `routes:`: which reverse proxy holdfast drives, and what it serves.
//!
//! A route maps hosts and path prefixes to a service's port. holdfast renders every route
//! into the configuration of the proxy the team already runs (Caddy, nginx or Traefik)
//! and keeps it that way. Presets (`headers: secure`) are kept as written here; the
//! controller expands them ([`HeaderPreset::headers`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Serialize;

use crate::model::DriftMode;
use crate::units::{ByteSize, Duration};

/// The reverse proxy holdfast drives. One per desired-state file.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Proxy {
    /// Which proxy: `caddy`, `nginx` or `traefik`.
    pub engine: ProxyEngine,
    /// Where holdfast talks to it. Caddy: the admin API, `unix:/PATH` or `HOST:PORT`
    /// (default `localhost:2019`). Traefik: its API, `HOST:PORT` (default
    /// `127.0.0.1:8080`). nginx: where the generation probe is asked, `HOST:PORT`
    /// (default: the `http` listener on 127.0.0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<String>,
    /// The directory holdfast owns in the proxy's configuration. nginx: the include
    /// directory (`/etc/nginx/holdfast.d`, included from `http {}` as
    /// `include /etc/nginx/holdfast.d/*.conf;`). Traefik: the file provider's directory;
    /// holdfast writes `holdfast.yml` there. Not used with Caddy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// nginx: the main configuration file that includes `dir`, for `nginx -t` and
    /// `nginx -s reload`. Default `/etc/nginx/nginx.conf`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nginx_conf: Option<PathBuf>,
    /// Traefik: its log file, so that holdfast can quote Traefik's own message when it
    /// drops a file or cannot load a certificate (its API does not say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<PathBuf>,
    /// Traefik: the port the `https` entry point listens on, for HTTP→HTTPS redirects.
    /// Default 443.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_port: Option<u16>,
    /// Where routes are served. Caddy and nginx: listen addresses. Traefik: the names of
    /// the entry points of its static configuration (default `web` and `websecure`).
    #[serde(default)]
    pub listen: Listen,
    /// The ACME account for `tls: auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acme: Option<Acme>,
    /// The proxy runs as this service of the file: routes then reach their services'
    /// containers over a network the two share, instead of over ports holdfast
    /// publishes on 127.0.0.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// How long connections that were open before a configuration change may keep
    /// their old configuration. Default 30s (Caddy's own default is forever, which
    /// makes reloads hang behind long connections).
    #[serde(default = "default_grace_period")]
    #[schemars(with = "Duration")]
    pub grace_period: Duration,
    /// How long WebSockets and other streams stay open across a configuration change
    /// (Caddy closes them at once without it). Default 5m.
    #[serde(default = "default_stream_close_delay")]
    #[schemars(with = "Duration")]
    pub stream_close_delay: Duration,
}

fn default_grace_period() -> Duration {
    Duration::from_millis(30_000)
}

fn default_stream_close_delay() -> Duration {
    Duration::from_millis(300_000)
}

impl Proxy {
    /// A proxy of `engine` with every default.
    pub fn new(engine: ProxyEngine) -> Self {
        Proxy {
            engine,
            admin: None,
            dir: None,
            nginx_conf: None,
            log: None,
            https_port: None,
            listen: Listen::default(),
            acme: None,
            service: None,
            grace_period: default_grace_period(),
            stream_close_delay: default_stream_close_delay(),
        }
    }
}

/// Which reverse proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProxyEngine {
    /// Caddy 2, through its admin API (2.8 or later for every feature).
    Caddy,
    /// nginx, through an include directory, `nginx -t` and `nginx -s reload`.
    Nginx,
    /// Traefik 3, through its file provider and API.
    Traefik,
}

impl ProxyEngine {
    /// `caddy`, `nginx` or `traefik`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyEngine::Caddy => "caddy",
            ProxyEngine::Nginx => "nginx",
            ProxyEngine::Traefik => "traefik",
        }
    }
}

impl std::fmt::Display for ProxyEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The proxy's listeners.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    /// Plain HTTP. Default `:80` (Traefik: `web`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// HTTPS. Default `:443` (Traefik: `websecure`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https: Option<String>,
}

/// The ACME account certificates for `tls: auto` are issued to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Acme {
    /// The account's contact address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The ACME directory. Default Let's Encrypt's production directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
    /// A PEM file of roots that the ACME directory's own certificate chains to, for a
    /// private ACME server (resolved against the file's folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_root: Option<PathBuf>,
}

/// One site: hosts, TLS, headers and the services behind its path prefixes.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// The host names served, lowercase; `*.example.com` is a wildcard. At least one.
    #[schemars(length(min = 1))]
    pub hosts: Vec<String>,
    /// The host every other host redirects to (308, path and query kept). One of
    /// `hosts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canonical_host: Option<String>,
    /// Certificates: `auto` (ACME, the default), `internal` (holdfast's local CA;
    /// `holdfast routes ca` prints its root), `off` (plain HTTP only) or
    /// `{cert: FILE, key: FILE}`. Every mode but `off` redirects HTTP to HTTPS (308).
    #[serde(default)]
    #[schemars(schema_with = "crate::schema::route_tls")]
    pub tls: RouteTls,
    /// Response headers: a preset (`secure`, `strict`, `none`) or
    /// `{preset, set, remove}`.
    #[serde(default, skip_serializing_if = "RouteHeaders::is_default")]
    #[schemars(schema_with = "crate::schema::route_headers")]
    pub headers: RouteHeaders,
    /// Path prefixes and the service port each goes to. The longest prefix wins.
    #[schemars(length(min = 1))]
    pub paths: Vec<RoutePath>,
    /// The largest request body accepted; larger ones get 413.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<ByteSize>")]
    pub max_body: Option<ByteSize>,
    /// Pass WebSocket upgrades through, and keep them open across unrelated changes.
    /// Default true.
    #[serde(default = "yes")]
    pub websockets: bool,
    /// HTTP basic authentication for the whole route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// Only clients from these addresses or CIDR ranges are served; others get 403.
    /// Empty: everyone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_ips: Vec<String>,
    /// What the controller does when the proxy's live config differs from this route.
    #[serde(default)]
    pub drift: DriftMode,
    /// How a new container of a `start-first` service behind this route is probed
    /// before it takes traffic.
    #[serde(default, skip_serializing_if = "RouteHealth::is_default")]
    pub health: RouteHealth,
    /// How long an old container keeps its in-flight requests after the route moved
    /// off it, at most. Default 30s.
    #[serde(default = "default_drain")]
    pub drain: Duration,
}

fn yes() -> bool {
    true
}

fn default_drain() -> Duration {
    Duration::from_millis(30_000)
}

/// `routes.NAME.health`: the probe a new container must pass, on the address the proxy
/// will use, before the route switches to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RouteHealth {
    /// The path requested (GET, with the route's first host). Default `/`.
    pub path: String,
    /// Time between probes. Default 250ms.
    pub interval: Duration,
    /// How long one probe may take. Default 2s.
    pub timeout: Duration,
    /// Consecutive 2xx answers needed; at least 2. Default 2.
    #[schemars(range(min = 2))]
    pub passes: u32,
    /// How long the new container has to pass; past it, the update fails and the old
    /// container keeps serving. Default 60s.
    pub deadline: Duration,
}

impl Default for RouteHealth {
    fn default() -> Self {
        RouteHealth {
            path: "/".into(),
            interval: Duration::from_millis(250),
            timeout: Duration::from_millis(2_000),
            passes: 2,
            deadline: Duration::from_millis(60_000),
        }
    }
}

impl RouteHealth {
    /// Whether every field has its default.
    pub fn is_default(&self) -> bool {
        self == &RouteHealth::default()
    }
}

/// How a route gets its certificate.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RouteTls {
    /// From the ACME CA of `proxy.acme` (Let's Encrypt by default).
    #[default]
    Auto,
    /// From holdfast's own local CA.
    Internal,
    /// No TLS: plain HTTP, no redirect.
    Off,
    /// From these PEM files (resolved against the file's folder).
    #[serde(untagged)]
    Files {
        /// The certificate chain.
        cert: PathBuf,
        /// Its private key.
        key: PathBuf,
    },
}

impl RouteTls {
    /// `auto`, `internal`, `off` or `files`.
    pub fn mode(&self) -> &'static str {
        match self {
            RouteTls::Auto => "auto",
            RouteTls::Internal => "internal",
            RouteTls::Off => "off",
            RouteTls::Files { .. } => "files",
        }
    }
}

/// A route's response headers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteHeaders {
    /// The preset the rest adds to.
    #[serde(default)]
    pub preset: HeaderPreset,
    /// Headers set on every response (after the preset).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "crate::schema::scalar_map")]
    pub set: BTreeMap<String, String>,
    /// Headers removed from every response.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

impl RouteHeaders {
    /// No preset, nothing set or removed.
    pub fn is_default(&self) -> bool {
        self == &RouteHeaders::default()
    }
}

/// A set of security headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HeaderPreset {
    /// None: responses pass as the service sent them.
    #[default]
    None,
    /// HSTS (when TLS is on), `nosniff`, `X-Frame-Options: DENY`,
    /// `Referrer-Policy: strict-origin-when-cross-origin`; `Server` and `X-Powered-By`
    /// removed.
    Secure,
    /// `secure`, plus a Content-Security-Policy and the cross-origin headers (helmet's
    /// defaults).
    Strict,
}

/// The preset names, as the file spells them.
pub const HEADER_PRESETS: &[&str] = &["secure", "strict", "none"];

/// HSTS as the presets send it: one year, subdomains, never `preload` implicitly.
pub const HSTS: &str = "max-age=31536000; includeSubDomains";

impl HeaderPreset {
    /// The headers the preset sets, and those it removes. HSTS is included only when
    /// `tls` is true.
    pub fn headers(self, tls: bool) -> (BTreeMap<String, String>, Vec<String>) {
        let mut set = BTreeMap::new();
        let mut remove = Vec::new();
        if self == HeaderPreset::None {
            return (set, remove);
        }
        let mut put = |k: &str, v: &str| {
            set.insert(k.to_string(), v.to_string());
        };
        if tls {
            put("Strict-Transport-Security", HSTS);
        }
        put("X-Content-Type-Options", "nosniff");
        put("X-Frame-Options", "DENY");
        put("Referrer-Policy", "strict-origin-when-cross-origin");
        remove.push("Server".to_string());
        remove.push("X-Powered-By".to_string());
        if self == HeaderPreset::Strict {
            put(
                "Content-Security-Policy",
                "default-src 'self'; base-uri 'self'; font-src 'self' https: data:; \
                 form-action 'self'; frame-ancestors 'self'; img-src 'self' data:; \
                 object-src 'none'; script-src 'self'; script-src-attr 'none'; \
                 style-src 'self' https: 'unsafe-inline'; upgrade-insecure-requests",
            );
            put("Cross-Origin-Opener-Policy", "same-origin");
            put("Cross-Origin-Resource-Policy", "same-origin");
            put("Origin-Agent-Cluster", "?1");
            put("X-Permitted-Cross-Domain-Policies", "none");
            put("X-XSS-Protection", "0");
        }
        (set, remove)
    }
}

/// One path prefix of a route and the service port behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutePath {
    /// The path prefix, starting with `/`. Default `/`.
    #[serde(default = "root")]
    #[schemars(regex(pattern = r"^/"))]
    pub prefix: String,
    /// The service that serves it.
    pub service: String,
    /// The service's container port.
    #[schemars(range(min = 1))]
    pub port: u16,
    /// Remove the prefix before passing the request on (`/api/x` reaches the service
    /// as `/x`).
    #[serde(default)]
    pub strip_prefix: bool,
}

fn root() -> String {
    "/".to_string()
}

/// HTTP basic authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// An htpasswd file of bcrypt hashes (`htpasswd -B`), resolved against the file's
    /// folder.
    pub users_file: PathBuf,
}
