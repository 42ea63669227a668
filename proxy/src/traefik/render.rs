//! The model as Traefik's dynamic configuration (pure).
//!
//! Per route `R`, with the hosts it serves on the entry point `listen.https` when TLS
//! is on (`listen.http` otherwise):
//!
//! | object | kind | what |
//! |---|---|---|
//! | `hf-R-p<i>` | router | path `i` (longest prefix first): `Host(…) && (Path(p) \|\| PathPrefix(p/))` |
//! | `hf-R-s<i>` | service | its upstreams, round-robin; none: Traefik's 503 |
//! | `hf-R-headers` | middleware | `headers_set`, and `headers_remove` as `""` |
//! | `hf-R-allow` | middleware | `ipAllowList` (403) |
//! | `hf-R-auth` | middleware | `basicAuth`, realm `restricted` (401) |
//! | `hf-R-body` | middleware | `buffering.maxRequestBodyBytes` (413) |
//! | `hf-R-strip<i>` | middleware | `stripPrefix` of path `i` |
//! | `hf-R-unavailable` | middleware | `Retry-After: 5` and `text/html` for paths without upstreams |
//! | `hf-R-canonical` + router `hf-R-canonical` | redirect | other hosts to the canonical host |
//! | `hf-R-tohttps` + router `hf-R-tohttps` | redirect | every host on `listen.http` to https |
//!
//! and each TLS file pair as one of `tls.certificates`, with `tls: {}` on the routers of
//! the HTTPS entry point.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::sections::{self, object_name};
use super::{FILE_NAME, GENERATION_PREFIX, TraefikConfig};
use crate::engine::{Rendered, hash_sections};
use crate::model::{ProxyModel, RouteModel, TlsModel};
use crate::page;

/// Priorities: path routers by prefix length, redirects above them.
const PATH_PRIORITY: u64 = 1_000;
const REDIRECT_PRIORITY: u64 = 100_000;

/// The model as the file, cut into sections.
pub fn render(config: &TraefikConfig, model: &ProxyModel) -> Rendered {
    let mut file = file_without_marker(config, model);
    let sections = sections::split(&file);
    let hash = hash_sections(&sections);
    if let Some(middlewares) = file
        .pointer_mut("/http/middlewares")
        .and_then(Value::as_object_mut)
    {
        middlewares.insert(
            format!("{GENERATION_PREFIX}{hash}"),
            sections::marker_middleware(&hash),
        );
    }
    let mut files = BTreeMap::new();
    files.insert(FILE_NAME.to_string(), sections::file_text(&file));
    Rendered::new(sections, files)
}

/// The objects of one route.
#[derive(Default)]
struct Objects {
    routers: Map<String, Value>,
    services: Map<String, Value>,
    middlewares: Map<String, Value>,
}

fn file_without_marker(config: &TraefikConfig, model: &ProxyModel) -> Value {
    let mut all = Objects::default();
    let mut certificates: Vec<Value> = Vec::new();
    for (name, route) in &model.routes {
        route_objects(config, model, name, route, &mut all);
        if let TlsModel::Files { cert, key } = &route.tls {
            let entry = json!({
                "certFile": cert.display().to_string(),
                "keyFile": key.display().to_string(),
            });
            if !certificates.contains(&entry) {
                certificates.push(entry);
            }
        }
    }
    let mut file = json!({
        "http": {
            "routers": Value::Object(all.routers),
            "services": Value::Object(all.services),
            "middlewares": Value::Object(all.middlewares),
        }
    });
    if !certificates.is_empty() {
        certificates.sort_by_key(sections::canonical);
        file["tls"] = json!({ "certificates": certificates });
    }
    file
}

/// `Host(`a`) || Host(`b`)`, parenthesised when there are several.
fn host_rule(hosts: &[&str]) -> String {
    let rule = hosts
        .iter()
        .map(|h| format!("Host(`{h}`)"))
        .collect::<Vec<_>>()
        .join(" || ");
    if hosts.len() > 1 {
        format!("({rule})")
    } else {
        rule
    }
}

/// The part of the rule for a prefix: nothing for `/`, else the prefix itself and
/// everything under `prefix/`.
fn path_rule(prefix: &str) -> Option<String> {
    let p = prefix.trim_end_matches('/');
    (!p.is_empty()).then(|| format!("(Path(`{p}`) || PathPrefix(`{p}/`))"))
}

/// A regex for Traefik's redirect middlewares, which match `scheme://host[:port]/uri`:
/// `$1` the host, `$2` the `:port` (if any), `$3` the rest.
const URL_REGEX: &str = r"^https?://(\[[^\]]+\]|[^/:]+)(:[0-9]+)?(.*)$";

fn redirect(replacement: String) -> Value {
    json!({"redirectRegex": {"regex": URL_REGEX, "replacement": replacement, "permanent": true}})
}

fn route_objects(
    config: &TraefikConfig,
    model: &ProxyModel,
    name: &str,
    route: &RouteModel,
    out: &mut Objects,
) {
    let n = |part: &str| object_name(name, part);
    let tls = route.tls_on();
    let serve_ep = if tls {
        &model.listen.https
    } else {
        &model.listen.http
    };
    let https_port = match config.https_port {
        443 => String::new(),
        p => format!(":{p}"),
    };
    let canonical = route
        .canonical_host
        .as_deref()
        .filter(|c| route.hosts.iter().any(|h| h == c));
    let all_hosts: Vec<&str> = route.hosts.iter().map(String::as_str).collect();
    let (serve_hosts, other_hosts): (Vec<&str>, Vec<&str>) = match canonical {
        Some(c) => (
            vec![c],
            all_hosts.iter().copied().filter(|h| *h != c).collect(),
        ),
        None => (all_hosts.clone(), Vec::new()),
    };
    let with_tls = |mut router: Value| {
        if tls {
            router["tls"] = json!({});
        }
        router
    };

    // Middlewares shared by the route's paths, in the order they wrap the request:
    // headers first, so that they are on every answer (401, 403, 413, 503 too).
    let mut chain: Vec<String> = Vec::new();
    if !route.headers_set.is_empty() || !route.headers_remove.is_empty() {
        let mut headers = Map::new();
        for (k, v) in &route.headers_set {
            headers.insert(k.clone(), Value::String(v.clone()));
        }
        for k in &route.headers_remove {
            headers.insert(k.clone(), Value::String(String::new()));
        }
        out.middlewares.insert(
            n("headers"),
            json!({"headers": {"customResponseHeaders": headers}}),
        );
        chain.push(n("headers"));
    }
    let head = chain.clone();
    if !route.allow_ips.is_empty() {
        out.middlewares.insert(
            n("allow"),
            json!({"ipAllowList": {"sourceRange": route.allow_ips}}),
        );
        chain.push(n("allow"));
    }
    if !route.basic_auth.is_empty() {
        let users: Vec<String> = route
            .basic_auth
            .iter()
            .map(|(u, h)| format!("{u}:{h}"))
            .collect();
        out.middlewares.insert(
            n("auth"),
            json!({"basicAuth": {"users": users, "realm": "restricted"}}),
        );
        chain.push(n("auth"));
    }
    if let Some(max) = route.max_body {
        out.middlewares.insert(
            n("body"),
            json!({"buffering": {"maxRequestBodyBytes": max}}),
        );
        chain.push(n("body"));
    }

    for (i, path) in route.paths.iter().enumerate() {
        let mut middlewares = chain.clone();
        let service = n(&format!("s{i}"));
        if path.upstreams.is_empty() {
            out.middlewares.insert(
                n("unavailable"),
                json!({"headers": {"customResponseHeaders": {
                    "Retry-After": page::RETRY_AFTER,
                    "Content-Type": "text/html; charset=utf-8",
                }}}),
            );
            middlewares.push(n("unavailable"));
        }
        let servers: Vec<Value> = path
            .upstreams
            .iter()
            .map(|u| json!({"url": format!("http://{u}")}))
            .collect();
        out.services.insert(
            service.clone(),
            json!({"loadBalancer": {"servers": servers, "passHostHeader": true}}),
        );
        let path_rule = path_rule(&path.prefix);
        if path.strip_prefix
            && let Some(_) = &path_rule
        {
            let strip = n(&format!("strip{i}"));
            out.middlewares.insert(
                strip.clone(),
                json!({"stripPrefix": {"prefixes": [path.prefix.trim_end_matches('/')]}}),
            );
            middlewares.push(strip);
        }
        let rule = match &path_rule {
            Some(p) => format!("{} && {p}", host_rule(&serve_hosts)),
            None => host_rule(&serve_hosts),
        };
        let prefix_len = path.prefix.trim_end_matches('/').len() as u64;
        out.routers.insert(
            n(&format!("p{i}")),
            with_tls(json!({
                "entryPoints": [serve_ep],
                "rule": rule,
                "service": service,
                "middlewares": middlewares,
                "priority": PATH_PRIORITY + prefix_len,
            })),
        );
    }

    if let Some(c) = canonical
        && !other_hosts.is_empty()
    {
        let target = if tls {
            format!("https://{c}{https_port}${{3}}")
        } else {
            format!("http://{c}${{2}}${{3}}")
        };
        out.middlewares.insert(n("canonical"), redirect(target));
        let mut middlewares = head.clone();
        middlewares.push(n("canonical"));
        out.routers.insert(
            n("canonical"),
            with_tls(json!({
                "entryPoints": [serve_ep],
                "rule": host_rule(&other_hosts),
                "service": "noop@internal",
                "middlewares": middlewares,
                "priority": REDIRECT_PRIORITY,
            })),
        );
    }

    if tls {
        let host = match canonical {
            Some(c) => c.to_string(),
            None => "${1}".to_string(),
        };
        out.middlewares.insert(
            n("tohttps"),
            redirect(format!("https://{host}{https_port}${{3}}")),
        );
        out.routers.insert(
            n("tohttps"),
            json!({
                "entryPoints": [&model.listen.http],
                "rule": host_rule(&all_hosts),
                "service": "noop@internal",
                "middlewares": [n("tohttps")],
                "priority": REDIRECT_PRIORITY,
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixtures::{model, route};
    use crate::model::{PathModel, Upstream};

    fn config() -> TraefikConfig {
        TraefikConfig {
            https_port: 8443,
            ..TraefikConfig::default()
        }
    }

    #[test]
    fn render_is_stable_and_reads_back() {
        let mut m = model("web", "websecure");
        let mut r = route(&["a.test", "www.a.test"], "127.0.0.1:9002");
        r.canonical_host = Some("a.test".into());
        r.tls = TlsModel::Files {
            cert: "/c.pem".into(),
            key: "/k.pem".into(),
        };
        r.paths.insert(
            0,
            PathModel {
                switches: Vec::new(),
                prefix: "/api".into(),
                strip_prefix: true,
                service: "api".into(),
                upstreams: vec![],
            },
        );
        m.routes.insert("a".into(), r);
        let one = render(&config(), &m);
        let two = render(&config(), &m);
        assert_eq!(one, two);
        assert_eq!(
            one.sections.keys().collect::<Vec<_>>(),
            ["proxy", "route/a", "route/shop"]
        );
        let file: Value = serde_json::from_str(&one.files[FILE_NAME]).unwrap();
        assert_eq!(sections::split(&file), one.sections);
        let marker = format!("{GENERATION_PREFIX}{}", one.hash);
        assert!(file["http"]["middlewares"].get(&marker).is_some());
        assert_eq!(
            file["http"]["routers"]["hf-a-p0"]["rule"],
            "Host(`a.test`) && (Path(`/api`) || PathPrefix(`/api/`))"
        );
        assert_eq!(
            file["http"]["middlewares"]["hf-a-tohttps"]["redirectRegex"]["replacement"],
            "https://a.test:8443${3}"
        );
        assert_eq!(
            file["tls"]["certificates"][0]["certFile"], "/c.pem",
            "{file}"
        );
    }

    #[test]
    fn a_changed_route_changes_only_its_section() {
        let m = model("web", "websecure");
        let mut m2 = m.clone();
        if let Some(r) = m2.routes.get_mut("shop") {
            r.paths[0].upstreams = vec![Upstream("127.0.0.1:9999".into())];
        }
        m2.routes
            .insert("other".into(), route(&["o.test"], "127.0.0.1:1"));
        let a = render(&config(), &m);
        let b = render(&config(), &m2);
        assert_eq!(a.sections["proxy"], b.sections["proxy"]);
        assert_ne!(a.sections["route/shop"], b.sections["route/shop"]);
        assert_ne!(a.hash, b.hash);
    }

    #[test]
    fn acme_routes_are_unsupported() {
        let mut m = model("web", "websecure");
        if let Some(r) = m.routes.get_mut("shop") {
            r.tls = TlsModel::Acme;
        }
        assert_eq!(super::super::Traefik::unsupported(&m).len(), 1);
    }
}
