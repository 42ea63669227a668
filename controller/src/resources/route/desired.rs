//! The desired proxy model: the file's routes, with presets expanded, certificates
//! resolved and every path's upstreams read from what the services publish about
//! their live containers.

use std::collections::BTreeMap;
use std::path::PathBuf;

use holdfast_proxy::model::{
    Acme, Listen, PathModel, ProxyModel, RouteModel, TlsModel, Upstream, sort_paths,
};
use holdfast_spec::{DesiredState, Proxy, ProxyEngine, Route, RouteTls};

use super::ca::{CaError, LocalCa};
use crate::resources::service::kind::{HEALTHY, RUNNING};
use crate::runtime::kind::{Need, ObjectRef};

/// Let's Encrypt's production directory, the default ACME CA.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// What a service publishes about the 127.0.0.1 address of its container port `port`.
pub fn endpoint_key(port: u16) -> String {
    format!("endpoint:{port}")
}

/// What a service publishes about its container's address on `network`.
pub fn address_key(network: &str) -> String {
    format!("address:{network}")
}

/// Why the model could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The local CA failed.
    #[error(transparent)]
    Ca(#[from] CaError),
    /// A basic-auth file could not be read.
    #[error("route `{route}`: cannot read {path}: {reason}")]
    UsersFile {
        /// The route.
        route: String,
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The listeners of `proxy`, with the engine's defaults.
pub fn listen(proxy: &Proxy) -> Listen {
    let (http, https) = match proxy.engine {
        ProxyEngine::Traefik => ("web", "websecure"),
        ProxyEngine::Caddy | ProxyEngine::Nginx => (":80", ":443"),
    };
    Listen {
        http: proxy
            .listen
            .http
            .clone()
            .unwrap_or_else(|| http.to_string()),
        https: proxy
            .listen
            .https
            .clone()
            .unwrap_or_else(|| https.to_string()),
    }
}

/// What route `route` needs of the services behind it: to be healthy, and to publish
/// the address the proxy reaches it at. A change of either requeues the route.
pub fn needs(state: &DesiredState, route: &Route) -> Vec<Need> {
    let mut out = Vec::new();
    for path in &route.paths {
        let of = ObjectRef::new(crate::resources::service::KIND, &path.service);
        for key in [
            RUNNING.to_string(),
            HEALTHY.to_string(),
            upstream_key(state, &path.service, path.port),
        ] {
            let need = Need::Published {
                of: of.clone(),
                key,
            };
            if !out.contains(&need) {
                out.push(need);
            }
        }
    }
    out
}

/// The published key a route reads for `service`'s `port`: the 127.0.0.1 endpoint, or
/// with a proxy that is itself a service, the address on the first network the two
/// share.
fn upstream_key(state: &DesiredState, service: &str, port: u16) -> String {
    match shared_network(state, service) {
        Some(network) => address_key(&match state.networks.get(&network) {
            Some(spec) => crate::docker::objects::network_docker_name(&state.name, &network, spec),
            None => crate::docker::ownership::network_name(&state.name, &network),
        }),
        None => endpoint_key(port),
    }
}

fn shared_network(state: &DesiredState, service: &str) -> Option<String> {
    let proxy = state.proxy.as_ref()?.service.as_ref()?;
    let networks = |s: &str| -> Vec<String> {
        state
            .services
            .get(s)
            .map(|svc| svc.networks.keys().cloned().collect())
            .unwrap_or_default()
    };
    let theirs = networks(proxy);
    networks(service).into_iter().find(|n| theirs.contains(n))
}

/// The whole model: every route of `state`, upstreams from `published`; the slot
/// markers of start-first services under `state_dir`.
pub fn model(
    state: &DesiredState,
    proxy: &Proxy,
    published: &BTreeMap<ObjectRef, BTreeMap<String, String>>,
    ca: &LocalCa,
    state_dir: &std::path::Path,
) -> Result<ProxyModel, ModelError> {
    let mut routes = BTreeMap::new();
    for (name, route) in &state.routes {
        let mut r = route_model(state, name, route, published, ca)?;
        for path in &mut r.paths {
            path.switches = slot_switches(
                state,
                proxy,
                published,
                &path.service,
                state_dir,
                route,
                &path.prefix,
            );
        }
        routes.insert(name.clone(), r);
    }
    Ok(ProxyModel {
        listen: listen(proxy),
        acme: proxy.acme.as_ref().map(|a| Acme {
            email: a.email.clone(),
            ca: a.ca.clone().unwrap_or_else(|| LETS_ENCRYPT.to_string()),
            ca_root: a.ca_root.clone(),
        }),
        grace_period: proxy.grace_period.std(),
        stream_close_delay: proxy.stream_close_delay.std(),
        routes,
    })
}

fn route_model(
    state: &DesiredState,
    name: &str,
    route: &Route,
    published: &BTreeMap<ObjectRef, BTreeMap<String, String>>,
    ca: &LocalCa,
) -> Result<RouteModel, ModelError> {
    let tls = match &route.tls {
        RouteTls::Off => TlsModel::Off,
        RouteTls::Auto => TlsModel::Acme,
        RouteTls::Files { cert, key } => TlsModel::Files {
            cert: cert.clone(),
            key: key.clone(),
        },
        RouteTls::Internal => {
            let (cert, key) = ca.leaf(name, &route.hosts)?;
            TlsModel::Files { cert, key }
        }
    };
    let tls_on = !matches!(tls, TlsModel::Off);
    let (mut set, mut remove) = route.headers.preset.headers(tls_on);
    set.extend(route.headers.set.clone());
    for r in &route.headers.remove {
        set.remove(r);
        if !remove.contains(r) {
            remove.push(r.clone());
        }
    }
    remove.retain(|r| !route.headers.set.contains_key(r));
    let mut paths: Vec<PathModel> = route
        .paths
        .iter()
        .map(|p| PathModel {
            switches: Vec::new(),
            prefix: p.prefix.clone(),
            strip_prefix: p.strip_prefix,
            service: p.service.clone(),
            upstreams: upstreams(state, published, &p.service, p.port),
        })
        .collect();
    sort_paths(&mut paths);
    let (basic_auth, basic_auth_file) = match &route.basic_auth {
        Some(auth) => (
            users(name, &auth.users_file)?,
            Some(auth.users_file.clone()),
        ),
        None => (Vec::new(), None),
    };
    Ok(RouteModel {
        hosts: route.hosts.clone(),
        canonical_host: route.canonical_host.clone(),
        tls,
        headers_set: set,
        headers_remove: remove,
        paths,
        max_body: route.max_body.map(|b| b.bytes()),
        websockets: route.websockets,
        basic_auth,
        basic_auth_file,
        allow_ips: route.allow_ips.clone(),
    })
}

/// The live addresses of `service`'s `port`: its container's, if the service is
/// healthy and publishes one; with `deploy.replicas`, those of its healthy replicas
/// (the service publishes only theirs), so a route keeps serving while one replica is
/// replaced.
fn upstreams(
    state: &DesiredState,
    published: &BTreeMap<ObjectRef, BTreeMap<String, String>>,
    service: &str,
    port: u16,
) -> Vec<Upstream> {
    let Some(values) = published.get(&ObjectRef::new(crate::resources::service::KIND, service))
    else {
        return Vec::new();
    };
    let replicated = state
        .services
        .get(service)
        .is_some_and(|s| s.replicas() != 1);
    if !replicated && !values.contains_key(HEALTHY) {
        return Vec::new();
    }
    let Some(value) = values.get(&upstream_key(state, service, port)) else {
        return Vec::new();
    };
    let shared = shared_network(state, service).is_some();
    listed(value)
        .into_iter()
        .map(|v| match shared {
            true => Upstream(format!("{v}:{port}")),
            false => Upstream(v.to_string()),
        })
        .collect()
}

/// The slot switches of a healthy start-first service's path (see
/// [`rollout`](crate::resources::service::rollout)): both slot addresses of each
/// replica, picked by its marker. None for other services, and while the service is
/// not healthy; with replicas, those of the replicas that serve (one of whose
/// addresses the service publishes).
fn slot_switches(
    state: &DesiredState,
    proxy: &Proxy,
    published: &BTreeMap<ObjectRef, BTreeMap<String, String>>,
    service: &str,
    state_dir: &std::path::Path,
    route: &Route,
    prefix: &str,
) -> Vec<holdfast_proxy::model::SlotSwitch> {
    use crate::resources::service::rollout::{self, slot};
    let (Some(values), Some(count)) = (
        published.get(&ObjectRef::new(crate::resources::service::KIND, service)),
        state.services.get(service).map(|s| s.replicas()),
    ) else {
        return Vec::new();
    };
    let Some(port) = route
        .paths
        .iter()
        .find(|p| p.prefix == prefix)
        .map(|p| p.port)
    else {
        return Vec::new();
    };
    if !rollout::applies(state, service) || !slot::switches_by_marker(proxy) {
        return Vec::new();
    }
    if count == 1 {
        if !values.contains_key(HEALTHY) {
            return Vec::new();
        }
        return slot::switch(state, state_dir, service, port, 1)
            .into_iter()
            .collect();
    }
    let serving = values
        .get(&endpoint_key(port))
        .map(|v| listed(v))
        .unwrap_or_default();
    (1..=count)
        .filter_map(|n| slot::switch(state, state_dir, service, port, n))
        .filter(|s| serving.contains(&s.blue.0.as_str()) || serving.contains(&s.green.0.as_str()))
        .collect()
}

/// The addresses in a published value: one, or with replicas several, comma-separated
/// (see the service kind's `published_by_replicas`).
fn listed(value: &str) -> Vec<&str> {
    value.split(',').filter(|v| !v.is_empty()).collect()
}

/// `user:hash` lines of an htpasswd file.
fn users(route: &str, path: &std::path::Path) -> Result<Vec<(String, String)>, ModelError> {
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::UsersFile {
        route: route.to_string(),
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(u, h)| (u.to_string(), h.to_string()))
        .collect())
}
