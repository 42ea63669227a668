//! Checks of `proxy:` and `routes:` against the rest of the file: the services and
//! ports routes point at, hosts claimed twice, certificates a name cannot get, and
//! what the chosen engine can do.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::DEFAULT_NETWORK;
use crate::decode::{ProxySpans, RouteSpans, SourceMap};
use crate::diagnostic::{Diagnostic, Span};
use crate::model::{DesiredState, Service};
use crate::routes::{Proxy, ProxyEngine, Route, RouteTls};
use crate::suggest::closest;

/// Suffixes no public CA issues certificates under (RFC 2606, RFC 6761, RFC 6762,
/// RFC 8375, and `.internal` and `.lan` as private use).
const PRIVATE_SUFFIXES: &[&str] = &[
    "test",
    "lan",
    "local",
    "localhost",
    "internal",
    "invalid",
    "example",
    "home.arpa",
];

const NO_ACME_HELP: &str =
    "use `tls: internal` or `tls: {cert, key}` (e.g. from certbot --webroot), or `engine: caddy`";

pub(super) fn validate_routes(state: &DesiredState, map: &SourceMap) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if let (Some(proxy), Some(spans)) = (&state.proxy, &map.proxy) {
        out.extend(proxy_fields(proxy, spans));
        out.extend(proxy_service(state, proxy, spans));
    }
    if let Some(key) = map.routes_key
        && !state.routes.is_empty()
        && map.proxy_key.is_none()
    {
        out.push(
            Diagnostic::error(key, "routes need a `proxy:`")
                .with_label("no proxy to serve these routes")
                .with_help("add `proxy: {engine: caddy}` at the top level (or `engine: nginx`, `engine: traefik`)"),
        );
    }
    let routes: Vec<(&str, &Route, &RouteSpans)> = map
        .routes
        .iter()
        .filter_map(|(name, spans)| {
            state
                .routes
                .get(name)
                .map(|route| (name.as_str(), route, spans))
        })
        .collect();
    for (name, route, spans) in &routes {
        out.extend(path_targets(state, map, name, route, spans));
        out.extend(tls_auto(state, map, name, route, spans));
    }
    out.extend(host_clashes(&routes));
    out
}

fn proxy_fields(proxy: &Proxy, spans: &ProxySpans) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let engine = proxy.engine;
    if proxy.dir.is_none() {
        match engine {
            ProxyEngine::Nginx => out.push(
                Diagnostic::error(spans.key, "`engine: nginx` needs `dir`, the include directory holdfast writes its configuration to")
                    .with_label("no `dir`")
                    .with_help("add `dir: /etc/nginx/holdfast.d`, and `include /etc/nginx/holdfast.d/*.conf;` inside `http {}` of nginx.conf"),
            ),
            ProxyEngine::Traefik => out.push(
                Diagnostic::error(spans.key, "`engine: traefik` needs `dir`, the directory of Traefik's file provider")
                    .with_label("no `dir`")
                    .with_help("add `dir: /etc/traefik/dynamic`, the `providers.file.directory` of Traefik's static configuration"),
            ),
            ProxyEngine::Caddy => {}
        }
    }
    if let (Some(span), ProxyEngine::Caddy) = (spans.dir, engine) {
        out.push(
            Diagnostic::warning(span, "`dir` is not used with `engine: caddy`")
                .with_label("not used")
                .with_help("remove it: holdfast configures Caddy through its admin API"),
        );
    }
    if let Some(span) = spans.nginx_conf
        && engine != ProxyEngine::Nginx
    {
        out.push(
            Diagnostic::warning(
                span,
                format!("`nginx_conf` is not used with `engine: {engine}`"),
            )
            .with_label("not used")
            .with_help("remove it; it names nginx's main configuration file"),
        );
    }
    if let Some(span) = spans.acme
        && engine != ProxyEngine::Caddy
    {
        out.push(
            Diagnostic::warning(span, format!("`acme` is not used with `engine: {engine}`"))
                .with_label("not used")
                .with_help(format!(
                    "remove it; holdfast drives an ACME client only with Caddy ({engine} cannot serve `tls: auto` routes)"
                )),
        );
    }
    out
}

/// The networks a service is on once defaults are filled in.
fn networks_of(service: &Service) -> BTreeSet<&str> {
    if service.networks.is_empty() {
        BTreeSet::from([DEFAULT_NETWORK])
    } else {
        service.networks.keys().map(String::as_str).collect()
    }
}

fn proxy_service(state: &DesiredState, proxy: &Proxy, spans: &ProxySpans) -> Vec<Diagnostic> {
    let Some(name) = &proxy.service else {
        return Vec::new();
    };
    if state.services.contains_key(name) {
        return Vec::new();
    }
    let help = match closest(name, state.services.keys().map(String::as_str)) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!(
            "define a service `{name}` that runs the proxy, or remove `service` if the proxy runs on the host"
        ),
    };
    vec![
        Diagnostic::error(
            spans.service.unwrap_or(spans.key),
            format!("the proxy refers to undefined service `{name}`"),
        )
        .with_label("no such service")
        .with_help(help),
    ]
}

/// Each path's service exists, has the port, and shares a network with the proxy's
/// service when there is one.
fn path_targets(
    state: &DesiredState,
    map: &SourceMap,
    name: &str,
    route: &Route,
    spans: &RouteSpans,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let proxy_service = state
        .proxy
        .as_ref()
        .and_then(|p| p.service.as_deref())
        .and_then(|s| state.services.get(s).map(|svc| (s, svc)));
    let mut unreachable_reported = BTreeSet::new();
    for (path, path_spans) in route.paths.iter().zip(&spans.paths) {
        let Some(service) = state.services.get(&path.service) else {
            if map.service_keys.contains_key(&path.service) {
                continue; // defined, with errors of its own
            }
            let help = match closest(&path.service, state.services.keys().map(String::as_str)) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!(
                    "define a service `{}`, or route the path to one of this file's services",
                    path.service
                ),
            };
            out.push(
                Diagnostic::error(
                    path_spans.service,
                    format!(
                        "route `{name}` refers to undefined service `{}`",
                        path.service
                    ),
                )
                .with_label("no such service")
                .with_help(help),
            );
            continue;
        };
        // The proxy reaches a service on a port holdfast publishes for it, which a
        // container in another's network namespace or in `host`/`none` cannot have.
        if let Some(mode) = service.network_mode.as_deref().filter(|m| *m != "bridge") {
            out.push(
                Diagnostic::error(
                    path_spans.service,
                    format!(
                        "route `{name}` points at service `{}`, which has `network_mode: {mode}`",
                        path.service
                    ),
                )
                .with_label("holdfast cannot publish a port for it")
                .with_help(match service.network_service() {
                    Some(other) => format!(
                        "route the path to service `{other}`, whose network `{}` shares, and give `{other}` `expose: [{}]`",
                        path.service, path.port
                    ),
                    None => format!(
                        "give `{}` `networks:` (or `network_mode: bridge`) instead",
                        path.service
                    ),
                }),
            );
            continue;
        }
        let mut ports: Vec<u16> = service.expose.clone();
        ports.extend(service.ports.iter().map(|p| p.target));
        ports.sort_unstable();
        ports.dedup();
        if !ports.is_empty() && !ports.contains(&path.port) {
            let list = ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            out.push(
                Diagnostic::error(
                    path_spans.port,
                    format!("service `{}` has no port {}", path.service, path.port),
                )
                .with_label(format!(
                    "not in the `expose` or `ports` of `{}`",
                    path.service
                ))
                .with_help(format!(
                    "add `expose: [{}]` to service `{}`, or use one of its ports: {list}",
                    path.port, path.service
                )),
            );
        }
        if let Some((proxy_name, proxy_svc)) = proxy_service
            && proxy_name != path.service
            && unreachable_reported.insert(path.service.as_str())
        {
            let theirs = networks_of(service);
            let ours = networks_of(proxy_svc);
            if theirs.is_disjoint(&ours) {
                let quote = |set: &BTreeSet<&str>| {
                    set.iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                out.push(
                    Diagnostic::error(
                        path_spans.service,
                        format!(
                            "service `{}` shares no network with the proxy's service `{proxy_name}`",
                            path.service
                        ),
                    )
                    .with_label("the proxy cannot reach it")
                    .with_help(format!(
                        "put `{}` on a network of `{proxy_name}` ({}), or `{proxy_name}` on a network of `{}` ({})",
                        path.service,
                        quote(&ours),
                        path.service,
                        quote(&theirs)
                    )),
                );
            }
        }
    }
    out
}

/// Why no public CA would issue a certificate for `host`, if none would.
fn not_public(host: &str) -> Option<String> {
    let name = host.strip_prefix("*.").unwrap_or(host);
    if name.parse::<IpAddr>().is_ok() {
        return Some("it is an IP address".to_string());
    }
    if name == "localhost" {
        return Some("it is `localhost`".to_string());
    }
    if let Some(suffix) = PRIVATE_SUFFIXES
        .iter()
        .find(|s| name == **s || name.ends_with(&format!(".{s}")))
    {
        return Some(format!(
            "it is under `.{suffix}`, which is not a public domain"
        ));
    }
    if !name.contains('.') {
        return Some("it is a single-label name".to_string());
    }
    None
}

fn tls_auto(
    state: &DesiredState,
    map: &SourceMap,
    name: &str,
    route: &Route,
    spans: &RouteSpans,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let Some(proxy) = &state.proxy else {
        return out;
    };
    if route.tls != RouteTls::Auto {
        return out;
    }
    let (span, label) = match spans.tls {
        Some(span) => (span, "needs an ACME client"),
        None => (
            spans.key,
            "`tls` defaults to `auto`, which needs an ACME client",
        ),
    };
    let engine_here = |d: Diagnostic| match &map.proxy {
        Some(p) => d.with_related(p.engine, "the engine is chosen here"),
        None => d,
    };
    match proxy.engine {
        ProxyEngine::Nginx => out.push(engine_here(
            Diagnostic::error(
                span,
                format!("route `{name}` has `tls: auto`, but nginx has no ACME client"),
            )
            .with_label(label)
            .with_help(NO_ACME_HELP),
        )),
        ProxyEngine::Traefik => out.push(engine_here(
            Diagnostic::error(
                span,
                format!("route `{name}` has `tls: auto`, but Traefik's ACME resolvers live in its static configuration, which holdfast does not own"),
            )
            .with_label(label)
            .with_help(NO_ACME_HELP),
        )),
        ProxyEngine::Caddy => {
            // A private ACME server (`ca_root`) issues for any name it is set up for.
            if proxy.acme.as_ref().is_some_and(|a| a.ca_root.is_some()) {
                return out;
            }
            for (host, host_span) in route.hosts.iter().zip(&spans.hosts) {
                let Some(why) = not_public(host) else { continue };
                let mut d = Diagnostic::error(
                    *host_span,
                    format!("`{host}` cannot get a public certificate: {why}"),
                )
                .with_label("no public CA issues certificates for this name")
                .with_help("use `tls: internal` (holdfast's local CA) or `tls: {cert, key}`");
                if let Some(tls) = spans.tls {
                    d = d.with_related(tls, "`tls: auto` asks a public CA");
                }
                out.push(d);
            }
        }
    }
    out
}

/// A host and prefix is served by one route only.
fn host_clashes(routes: &[(&str, &Route, &RouteSpans)]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    // (host, prefix) -> (route, where its path was written)
    let mut claimed: BTreeMap<(&str, &str), (&str, Span)> = BTreeMap::new();
    for (name, route, spans) in routes {
        let mut hosts_seen: BTreeMap<&str, Span> = BTreeMap::new();
        for (host, host_span) in route.hosts.iter().zip(&spans.hosts) {
            if let Some(first) = hosts_seen.insert(host.as_str(), *host_span) {
                out.push(
                    Diagnostic::error(*host_span, format!("route `{name}` lists `{host}` twice"))
                        .with_label("listed twice")
                        .with_related(first, "first listed here")
                        .with_help("remove one of the two"),
                );
            }
        }
        for (path, path_spans) in route.paths.iter().zip(&spans.paths) {
            // One error per path: the first host it clashes on.
            let clash = hosts_seen.keys().find_map(|host| {
                claimed
                    .get(&(*host, path.prefix.as_str()))
                    .map(|first| (*host, *first))
            });
            if let Some((host, (first_route, first_span))) = clash {
                let served = format!("{host}{}", path.prefix);
                let help = if first_route == *name {
                    "remove one of the two paths".to_string()
                } else {
                    format!(
                        "serve {served} from one route only: remove it here or from route `{first_route}`"
                    )
                };
                out.push(
                    Diagnostic::error(
                        path_spans.prefix,
                        format!("route `{first_route}` already serves {served}"),
                    )
                    .with_label("served twice")
                    .with_related(first_span, "first served here")
                    .with_help(help),
                );
                continue;
            }
            for host in hosts_seen.keys() {
                claimed.insert((*host, path.prefix.as_str()), (*name, path_spans.prefix));
            }
        }
    }
    out
}
