//! The model as one Caddy JSON document.
//!
//! holdfast owns the whole document (`POST /load`): two servers, `holdfast-http` and
//! `holdfast-https`, and the TLS app. Every object that belongs to a route carries an
//! `@id` of `hf-route-NAME` or `hf-route-NAME.PART`, so the document can be cut back into
//! sections by route ([`sections_of`]), whoever wrote it. Durations are integers of
//! nanoseconds, the form Caddy reads back, so a readback compares byte-equal.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::model::{Listen, PathModel, ProxyModel, RouteModel, SHARED_SECTION, TlsModel, Upstream};
use crate::page;

/// The `@id` prefix of everything a route owns.
pub const ID_PREFIX: &str = "hf-route-";

/// The server for plain HTTP.
pub const HTTP_SERVER: &str = "holdfast-http";

/// The server for HTTPS.
pub const HTTPS_SERVER: &str = "holdfast-https";

/// How long a request may wait for a dial to an upstream to succeed.
const TRY_DURATION_NS: u64 = 5_000_000_000;

/// What rendering needs besides the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    /// The admin address written into the document, in Caddy's spelling
    /// (`unix//run/caddy.sock` or `localhost:2019`): a loaded document without it
    /// would move the admin API.
    pub admin_listen: String,
    /// Whether the running Caddy knows `stream_close_delay` (2.7 and later).
    pub stream_close_delay: bool,
}

/// The whole document. Its `admin` is only a default: the engine sends the live one
/// back as it is, so holdfast never moves or changes the admin API.
pub fn document(model: &ProxyModel, options: &RenderOptions) -> Value {
    let http_port = Listen::port(&model.listen.http).unwrap_or(80);
    let https_port = Listen::port(&model.listen.https).unwrap_or(443);
    let mut http_routes = Vec::new();
    let mut https_routes = Vec::new();
    let mut load_files = Vec::new();
    let mut policies = Vec::new();
    let mut skip_certificates = Vec::new();
    for (name, route) in &model.routes {
        let id = format!("{ID_PREFIX}{name}");
        if route.tls_on() {
            http_routes.push(redirect_to_https(
                &format!("{id}.redirect"),
                route,
                https_port,
            ));
            https_routes.push(site(&id, route, "https", https_port, model, options));
        } else {
            http_routes.push(site(&id, route, "http", http_port, model, options));
            skip_certificates.extend(route.hosts.iter().cloned());
        }
        match &route.tls {
            TlsModel::Files { cert, key } => {
                load_files.push(json!({
                    "@id": format!("{id}.cert"),
                    "certificate": cert.display().to_string(),
                    "key": key.display().to_string(),
                    "tags": [id],
                }));
                skip_certificates.extend(route.hosts.iter().cloned());
            }
            TlsModel::Acme => {
                if let Some(acme) = &model.acme {
                    let mut issuer = Map::new();
                    issuer.insert("module".into(), json!("acme"));
                    issuer.insert("ca".into(), json!(acme.ca));
                    if let Some(email) = &acme.email {
                        issuer.insert("email".into(), json!(email));
                    }
                    if let Some(root) = &acme.ca_root {
                        issuer.insert(
                            "trusted_roots_pem_files".into(),
                            json!([root.display().to_string()]),
                        );
                    }
                    policies.push(json!({
                        "@id": format!("{id}.acme"),
                        "subjects": route.hosts,
                        "issuers": [Value::Object(issuer)],
                    }));
                }
            }
            TlsModel::Off => {}
        }
    }
    http_routes.push(not_found());
    https_routes.push(not_found());
    let mut servers = Map::new();
    servers.insert(
        HTTP_SERVER.into(),
        json!({
            "listen": [model.listen.http],
            "routes": http_routes,
            "automatic_https": {"disable": true},
        }),
    );
    if https_routes.len() > 1 {
        servers.insert(
            HTTPS_SERVER.into(),
            json!({
                "listen": [model.listen.https],
                "routes": https_routes,
                "tls_connection_policies": [{}],
                "automatic_https": {
                    "disable_redirects": true,
                    "skip_certificates": skip_certificates,
                },
            }),
        );
    }
    let mut tls = Map::new();
    if !load_files.is_empty() {
        tls.insert("certificates".into(), json!({"load_files": load_files}));
    }
    if !policies.is_empty() {
        tls.insert("automation".into(), json!({"policies": policies}));
    }
    let mut apps = Map::new();
    apps.insert(
        "http".into(),
        json!({
            "http_port": http_port,
            "https_port": https_port,
            "grace_period": model.grace_period.as_nanos() as u64,
            "servers": servers,
        }),
    );
    if !tls.is_empty() {
        apps.insert("tls".into(), Value::Object(tls));
    }
    json!({
        "admin": {"listen": options.admin_listen},
        "apps": apps,
    })
}

/// `http://host` → `https://host[:port]` with path and query, 308.
fn redirect_to_https(id: &str, route: &RouteModel, https_port: u16) -> Value {
    let target = route
        .canonical_host
        .clone()
        .unwrap_or_else(|| "{http.request.host}".to_string());
    json!({
        "@id": id,
        "match": [{"host": route.hosts}],
        "handle": [redirect(&format!("https://{target}{}", port_suffix("https", https_port)))],
        "terminal": true,
    })
}

/// The last route of each server: a host no route serves gets 404, not Caddy's empty 200.
fn not_found() -> Value {
    json!({"handle": [{
        "handler": "static_response",
        "status_code": 404,
        "body": "404 Not Found: no route serves this host\n",
    }]})
}

fn port_suffix(scheme: &str, port: u16) -> String {
    match (scheme, port) {
        ("http", 80) | ("https", 443) => String::new(),
        _ => format!(":{port}"),
    }
}

fn redirect(base: &str) -> Value {
    json!({
        "handler": "static_response",
        "status_code": 308,
        "headers": {"Location": [format!("{base}{{http.request.uri}}")]},
    })
}

/// The route itself: headers, redirects to the canonical host, access rules, paths.
fn site(
    id: &str,
    route: &RouteModel,
    scheme: &str,
    port: u16,
    model: &ProxyModel,
    options: &RenderOptions,
) -> Value {
    let mut steps = Vec::new();
    if !route.headers_set.is_empty() || !route.headers_remove.is_empty() {
        let set: Map<String, Value> = route
            .headers_set
            .iter()
            .map(|(k, v)| (k.clone(), json!([v])))
            .collect();
        let mut response = Map::new();
        response.insert("deferred".into(), json!(true));
        if !set.is_empty() {
            response.insert("set".into(), Value::Object(set));
        }
        if !route.headers_remove.is_empty() {
            response.insert("delete".into(), json!(route.headers_remove));
        }
        steps.push(json!({"handle": [{"handler": "headers", "response": response}]}));
    }
    if let Some(canonical) = &route.canonical_host {
        steps.push(json!({
            "match": [{"not": [{"host": [canonical]}]}],
            "handle": [redirect(&format!("{scheme}://{canonical}{}", port_suffix(scheme, port)))],
            "terminal": true,
        }));
    }
    if !route.allow_ips.is_empty() {
        steps.push(json!({
            "match": [{"not": [{"remote_ip": {"ranges": route.allow_ips}}]}],
            "handle": [{"handler": "static_response", "status_code": 403, "body": "403 Forbidden\n"}],
            "terminal": true,
        }));
    }
    if !route.basic_auth.is_empty() {
        let accounts: Vec<Value> = route
            .basic_auth
            .iter()
            .map(|(u, h)| json!({"username": u, "password": h}))
            .collect();
        steps.push(json!({"handle": [{
            "handler": "authentication",
            "providers": {"http_basic": {
                "accounts": accounts,
                "hash": {"algorithm": "bcrypt"},
                "realm": "restricted",
            }},
        }]}));
    }
    if let Some(max) = route.max_body {
        steps.push(json!({"handle": [{"handler": "request_body", "max_size": max}]}));
    }
    for path in &route.paths {
        steps.push(path_route(path, route, model, options));
    }
    json!({
        "@id": id,
        "match": [{"host": route.hosts}],
        "handle": [{"handler": "subroute", "routes": steps}],
        "terminal": true,
    })
}

/// A `reverse_proxy` handler to `upstreams`, in turn.
fn reverse_proxy(
    upstreams: &[&Upstream],
    route: &RouteModel,
    model: &ProxyModel,
    options: &RenderOptions,
) -> Value {
    let upstreams: Vec<Value> = upstreams.iter().map(|u| json!({"dial": u.0})).collect();
    let mut proxy = Map::new();
    proxy.insert("handler".into(), json!("reverse_proxy"));
    proxy.insert("upstreams".into(), Value::Array(upstreams));
    proxy.insert(
        "load_balancing".into(),
        json!({"selection_policy": {"policy": "round_robin"}, "try_duration": TRY_DURATION_NS}),
    );
    if route.websockets && options.stream_close_delay {
        proxy.insert(
            "stream_close_delay".into(),
            json!(model.stream_close_delay.as_nanos() as u64),
        );
    }
    Value::Object(proxy)
}

/// The slot of `switch` picked per request by whether its marker exists: no reload
/// moves traffic.
fn slot_subroute(
    switch: &crate::model::SlotSwitch,
    route: &RouteModel,
    model: &ProxyModel,
    options: &RenderOptions,
) -> Value {
    let marker = switch.marker.display().to_string();
    json!({
        "handler": "subroute",
        "routes": [
            {
                "match": [{"file": {"root": "/", "try_files": [marker]}}],
                "handle": [reverse_proxy(&[&switch.green], route, model, options)],
            },
            {"handle": [reverse_proxy(&[&switch.blue], route, model, options)]},
        ],
    })
}

fn path_route(
    path: &PathModel,
    route: &RouteModel,
    model: &ProxyModel,
    options: &RenderOptions,
) -> Value {
    let prefix = path.prefix.trim_end_matches('/');
    let mut handle = Vec::new();
    if path.strip_prefix && !prefix.is_empty() {
        handle.push(json!({"handler": "rewrite", "strip_path_prefix": prefix}));
    }
    if let [switch] = path.switches.as_slice() {
        handle.push(slot_subroute(switch, route, model, options));
    } else if !path.switches.is_empty() {
        // Each request picks a replica at random (by the first hex digit of its UUID),
        // then the slot its marker names. Every upstream stays a literal address, so
        // the proxy counts each slot's requests in flight.
        let n = path.switches.len();
        let routes: Vec<Value> = path
            .switches
            .iter()
            .enumerate()
            .map(|(j, switch)| {
                let handle = json!([slot_subroute(switch, route, model, options)]);
                if j + 1 == n {
                    return json!({"handle": handle});
                }
                let digits: String = "0123456789abcdef"
                    .chars()
                    .enumerate()
                    .filter(|(k, _)| k % n == j)
                    .map(|(_, c)| c)
                    .collect();
                json!({
                    "match": [{"expression": format!("{{http.request.uuid}}.matches('^[{digits}]')")}],
                    "handle": handle,
                })
            })
            .collect();
        handle.push(json!({"handler": "subroute", "routes": routes}));
    } else if path.upstreams.is_empty() {
        handle.push(json!({
            "handler": "static_response",
            "status_code": page::STATUS,
            "headers": {
                "Content-Type": ["text/html; charset=utf-8"],
                "Retry-After": [page::RETRY_AFTER],
            },
            "body": page::unavailable(&path.service),
        }));
    } else {
        let upstreams: Vec<&Upstream> = path.upstreams.iter().collect();
        handle.push(reverse_proxy(&upstreams, route, model, options));
    }
    let mut out = Map::new();
    if prefix.is_empty() {
        // `/`: everything the longer prefixes did not take.
    } else {
        out.insert(
            "match".into(),
            json!([{"path": [prefix, format!("{prefix}/*")]}]),
        );
    }
    out.insert("handle".into(), Value::Array(handle));
    out.insert("terminal".into(), json!(true));
    Value::Object(out)
}

/// Cuts a document into sections: `route/NAME` gets every object whose `@id` is
/// `hf-route-NAME` or `hf-route-NAME.PART`, each with where it sits; `proxy` gets the
/// rest. Used on the rendered and the read-back document alike, so both compare in
/// the same canonical form.
pub fn sections_of(document: &Value) -> BTreeMap<String, String> {
    let mut owned: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut rest = document.clone();
    // The admin API is the operator's (its address, allowed origins): never drift.
    if let Some(map) = rest.as_object_mut() {
        map.remove("admin");
    }
    take_owned(&mut rest, "", &mut owned);
    let mut out: BTreeMap<String, String> = owned
        .into_iter()
        .map(|(name, objects)| (format!("route/{name}"), Value::Array(objects).to_string()))
        .collect();
    out.insert(SHARED_SECTION.to_string(), rest.to_string());
    out
}

fn take_owned(value: &mut Value, at: &str, owned: &mut BTreeMap<String, Vec<Value>>) {
    match value {
        Value::Array(items) => {
            let mut kept = Vec::with_capacity(items.len());
            for (i, mut item) in std::mem::take(items).into_iter().enumerate() {
                if let Some(name) = owner(&item) {
                    owned
                        .entry(name)
                        .or_default()
                        .push(json!({"at": at, "object": item}));
                } else {
                    take_owned(&mut item, &format!("{at}/{i}"), owned);
                    kept.push(item);
                }
            }
            *items = kept;
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                take_owned(v, &format!("{at}/{k}"), owned);
            }
        }
        _ => {}
    }
}

/// The route that owns `item`, from its `@id`.
fn owner(item: &Value) -> Option<String> {
    let id = item.get("@id")?.as_str()?.strip_prefix(ID_PREFIX)?;
    let name = id.split('.').next().unwrap_or(id);
    (!name.is_empty()).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixtures::{model, route};

    fn options() -> RenderOptions {
        RenderOptions {
            admin_listen: "unix//tmp/admin.sock".into(),
            stream_close_delay: true,
        }
    }

    #[test]
    fn every_route_object_lands_in_its_own_section() {
        let mut m = model(":8080", ":8443");
        let mut tls = route(&["b.test"], "127.0.0.1:2");
        tls.tls = TlsModel::Files {
            cert: "/c.pem".into(),
            key: "/k.pem".into(),
        };
        m.routes.insert("b".into(), tls);
        let doc = document(&m, &options());
        let s = sections_of(&doc);
        assert_eq!(
            s.keys().collect::<Vec<_>>(),
            ["proxy", "route/b", "route/shop"]
        );
        assert!(!s["proxy"].contains("hf-route-"), "{}", s["proxy"]);
        assert!(s["route/b"].contains("/c.pem"));
        assert!(s["route/b"].contains("\"status_code\":308"));
        assert!(s["route/shop"].contains("127.0.0.1:9001"));
    }

    #[test]
    fn a_moved_object_is_a_changed_section() {
        let m = model(":8080", ":8443");
        let doc = document(&m, &options());
        let mut moved = doc.clone();
        let routes = moved["apps"]["http"]["servers"][HTTP_SERVER]["routes"].take();
        moved["apps"]["http"]["servers"][HTTP_SERVER]["routes"] = json!([]);
        moved["apps"]["http"]["servers"]["other"] = json!({"listen": [":9"], "routes": routes});
        assert_ne!(
            sections_of(&doc)["route/shop"],
            sections_of(&moved)["route/shop"]
        );
    }
}
