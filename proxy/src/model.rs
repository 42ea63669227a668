//! The engine-neutral model of what the proxy serves.
//!
//! Everything here is resolved: presets are expanded into the headers they set, TLS is
//! either off, ACME or a pair of files (holdfast's local CA writes files too), and each
//! path carries the live addresses of its service's containers. An engine renders this
//! model and nothing else, so the same routes behave the same on every engine.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

/// Everything the proxy serves, for one desired-state file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProxyModel {
    /// The listeners (Traefik: entry point names).
    pub listen: Listen,
    /// The ACME account for [`TlsModel::Acme`] routes.
    pub acme: Option<Acme>,
    /// How long connections opened before a change keep the old configuration.
    #[serde(with = "millis")]
    pub grace_period: Duration,
    /// How long streams (WebSockets) stay open across a change.
    #[serde(with = "millis")]
    pub stream_close_delay: Duration,
    /// The routes, by name.
    pub routes: BTreeMap<String, RouteModel>,
}

/// Listen addresses (Caddy, nginx) or entry point names (Traefik).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listen {
    /// Plain HTTP, such as `:80` or `127.0.0.1:8080`.
    pub http: String,
    /// HTTPS, such as `:443`.
    pub https: String,
}

impl Listen {
    /// The port of an address such as `:80`, `127.0.0.1:8080` or `[::1]:443`.
    pub fn port(addr: &str) -> Option<u16> {
        addr.rsplit_once(':')?.1.parse().ok()
    }
}

/// The ACME account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Acme {
    /// Contact address.
    pub email: Option<String>,
    /// The directory URL.
    pub ca: String,
    /// Roots the directory's own TLS certificate chains to (a private ACME server).
    pub ca_root: Option<PathBuf>,
}

/// One route: a site with its hosts and the services behind its prefixes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteModel {
    /// The hosts served, canonical host first when there is one.
    pub hosts: Vec<String>,
    /// The host the others redirect to (308, path and query kept).
    pub canonical_host: Option<String>,
    /// Where the certificate comes from.
    pub tls: TlsModel,
    /// Response headers set, by name.
    pub headers_set: BTreeMap<String, String>,
    /// Response headers removed.
    pub headers_remove: Vec<String>,
    /// The prefixes, longest first.
    pub paths: Vec<PathModel>,
    /// Requests with a larger body get 413.
    pub max_body: Option<u64>,
    /// Pass WebSocket upgrades through.
    pub websockets: bool,
    /// Basic authentication: `(user, bcrypt hash)` pairs, in file order.
    pub basic_auth: Vec<(String, String)>,
    /// The htpasswd file the pairs came from (nginx reads the file itself).
    pub basic_auth_file: Option<PathBuf>,
    /// Client addresses or CIDRs allowed; empty: everyone.
    pub allow_ips: Vec<String>,
}

impl RouteModel {
    /// Whether the route is served over HTTPS (and HTTP redirects there).
    pub fn tls_on(&self) -> bool {
        !matches!(self.tls, TlsModel::Off)
    }
}

/// Where a route's certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum TlsModel {
    /// Plain HTTP only.
    Off,
    /// Issued by the ACME account of the model.
    Acme,
    /// PEM files: a chain and its key.
    Files {
        /// The certificate chain.
        cert: PathBuf,
        /// The private key.
        key: PathBuf,
    },
}

/// One path prefix and where it goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathModel {
    /// The prefix, such as `/api` or `/`.
    pub prefix: String,
    /// Remove the prefix before passing the request on.
    pub strip_prefix: bool,
    /// The service's name (for the 503 page and the status).
    pub service: String,
    /// The live addresses; empty while the service is not Ready, and then the path
    /// answers 503 with holdfast's page (unless `switches` is set).
    pub upstreams: Vec<Upstream>,
    /// For a service updated start-first, instead of `upstreams`: per replica, its two
    /// slot addresses and the file that picks one. With several, each request goes to
    /// one replica picked at random, then to the slot its marker names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub switches: Vec<SlotSwitch>,
}

/// The two addresses a start-first service's containers take turns on, and the file
/// that says which one takes traffic: while `marker` exists, `green`; otherwise
/// `blue`. The proxy looks at the file on every request, so moving traffic from one
/// container to the other is an atomic rename or unlink with no reload, which would
/// close the proxy's idle client connections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlotSwitch {
    /// The address while the marker is absent.
    pub blue: Upstream,
    /// The address while the marker exists.
    pub green: Upstream,
    /// The marker file (absolute).
    pub marker: std::path::PathBuf,
}

/// One live address of a service's container: `127.0.0.1:PORT` on the host, or
/// `IP:PORT` on a network shared with a proxy that runs in a container.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Upstream(pub String);

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

mod millis {
    use serde::Serializer;
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
}

/// Sorts paths longest prefix first, the order every engine matches them in.
pub fn sort_paths(paths: &mut [PathModel]) {
    paths.sort_by(|a, b| {
        b.prefix
            .len()
            .cmp(&a.prefix.len())
            .then(a.prefix.cmp(&b.prefix))
    });
}

/// The section key of a route in [`Rendered::sections`](crate::Rendered::sections).
pub fn route_section(name: &str) -> String {
    format!("route/{name}")
}

/// The section key of the shared part (listeners, TLS automation, the 503 page).
pub const SHARED_SECTION: &str = "proxy";

/// Small models for tests of engines and of the controller, and for benchmarks.
pub mod fixtures {
    use super::*;

    /// Listeners `http` and `https` (addresses, or Traefik's entry point names).
    pub fn listen(http: &str, https: &str) -> Listen {
        Listen {
            http: http.into(),
            https: https.into(),
        }
    }

    /// A model on `listen` without routes, no ACME account, a 30 s grace period.
    pub fn empty(listen: Listen) -> ProxyModel {
        ProxyModel {
            listen,
            acme: None,
            grace_period: Duration::from_secs(30),
            stream_close_delay: Duration::from_secs(300),
            routes: BTreeMap::new(),
        }
    }

    /// A model with one route `shop` on `shop.test` → 127.0.0.1:9001, plain HTTP.
    pub fn model(http: &str, https: &str) -> ProxyModel {
        let mut m = empty(listen(http, https));
        m.routes
            .insert("shop".to_string(), route(&["shop.test"], "127.0.0.1:9001"));
        m
    }

    /// A plain-HTTP route for `hosts` with `/` going to `upstream` (service `web`).
    pub fn route(hosts: &[&str], upstream: &str) -> RouteModel {
        route_with(hosts, vec![path("/", false, "web", &[upstream])])
    }

    /// A plain-HTTP route for `hosts` with `paths`, WebSockets on, nothing else set.
    pub fn route_with(hosts: &[&str], paths: Vec<PathModel>) -> RouteModel {
        RouteModel {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            canonical_host: None,
            tls: TlsModel::Off,
            headers_set: BTreeMap::new(),
            headers_remove: Vec::new(),
            paths,
            max_body: None,
            websockets: true,
            basic_auth: Vec::new(),
            basic_auth_file: None,
            allow_ips: Vec::new(),
        }
    }

    /// `prefix` (stripped or not) to `service` at `upstreams` (none: the service is down).
    pub fn path(prefix: &str, strip: bool, service: &str, upstreams: &[&str]) -> PathModel {
        PathModel {
            switches: Vec::new(),
            prefix: prefix.into(),
            strip_prefix: strip,
            service: service.into(),
            upstreams: upstreams.iter().map(|u| Upstream(u.to_string())).collect(),
        }
    }
}
