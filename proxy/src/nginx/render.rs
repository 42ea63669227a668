//! The model as nginx configuration: one file per route and one shared file. Pure.
//!
//! Every file is included inside `http {}` by the user's nginx.conf. Route files hold
//! the route's `upstream` blocks and `server` blocks; the shared file holds the
//! WebSocket map, the default servers of the two listeners (404 on HTTP, a refused
//! handshake on HTTPS) and, after [`GENERATION_MARKER`], the generation server the
//! engine asks to confirm what nginx serves. That last part is in
//! [`Rendered::files`] only: the hash it answers is computed from the sections.

use std::collections::BTreeMap;

use crate::engine::{Rendered, hash_sections};
use crate::model::{
    Listen, PathModel, ProxyModel, RouteModel, SHARED_SECTION, TlsModel, route_section,
};
use crate::page;

/// The file of the shared section.
pub const SHARED_FILE: &str = "_holdfast.conf";

/// The line that starts the generation part of [`SHARED_FILE`]; everything from it to
/// the end of the file is left out of the `proxy` section.
pub const GENERATION_MARKER: &str = "# holdfast generation (not part of the hash)\n";

/// The `server_name` of the generation server.
pub const GENERATION_HOST: &str = "holdfast-generation.invalid";

/// The path the generation server answers the hash on.
pub const GENERATION_PATH: &str = "/.holdfast/generation";

/// `client_max_body_size` of a route without `max_body` (nginx's own default, 1m, is
/// too small for uploads; holdfast's routes have no limit unless they set one, and
/// 100m keeps a runaway client bounded).
pub const DEFAULT_MAX_BODY: &str = "100m";

/// How long a WebSocket route waits for its upstream to say something.
const STREAM_TIMEOUT: &str = "1h";

/// The file a route is written to.
pub fn route_file(name: &str) -> String {
    format!("{}.conf", file_stem(name))
}

/// `name` with anything but ASCII letters, digits, `-` and `_` replaced by `_`, so that
/// a route can never name a file outside the directory (validation allows only
/// `[a-z0-9][a-z0-9_-]*`, which is kept as it is).
fn file_stem(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Renders `model`: sections, files and the hash.
pub fn render(model: &ProxyModel) -> Rendered {
    let mut sections = BTreeMap::new();
    let mut files = BTreeMap::new();
    for (name, route) in &model.routes {
        let text = route_text(name, route, &model.listen);
        files.insert(route_file(name), text.clone());
        sections.insert(route_section(name), text);
    }
    let shared = shared_text(model);
    sections.insert(SHARED_SECTION.to_string(), shared.clone());
    let hash = hash_sections(&sections);
    files.insert(
        SHARED_FILE.to_string(),
        format!("{shared}{}", generation_text(&model.listen.http, &hash)),
    );
    Rendered {
        sections,
        files,
        hash,
    }
}

/// The generation part of the shared file: a server on the HTTP listener that answers
/// `hash` to loopback clients asking for [`GENERATION_HOST`].
pub fn generation_text(http: &str, hash: &str) -> String {
    let mut o = Out::default();
    o.raw(GENERATION_MARKER);
    o.open("server");
    o.line(&format!("listen {}", listen_addr(http)));
    o.line(&format!("server_name {GENERATION_HOST}"));
    o.line("allow 127.0.0.1");
    o.line("allow ::1");
    o.line("deny all");
    o.open(&format!("location = {GENERATION_PATH}"));
    o.line("default_type text/plain");
    o.line(&format!("return 200 {}", quote(hash)));
    o.close();
    o.close();
    o.s
}

/// `127.0.0.1:8080` stays, `:80` becomes `80` (nginx's spelling of every address).
fn listen_addr(addr: &str) -> String {
    addr.strip_prefix(':').unwrap_or(addr).to_string()
}

/// The port of a listen address, also when it is a bare port.
pub fn port_of(addr: &str) -> Option<u16> {
    Listen::port(addr).or_else(|| addr.parse().ok())
}

fn shared_text(model: &ProxyModel) -> String {
    let mut o = Out::default();
    o.raw("# holdfast: shared part. Owned by holdfast; edits are undone at the next pass.\n");
    o.open("map $http_upgrade $holdfast_connection_upgrade");
    o.line("default upgrade");
    o.line("\"\" \"\"");
    o.close();
    // A literal `$` for header values (nginx strings have no escape for it).
    o.open("geo $holdfast_dollar");
    o.line("default \"$\"");
    o.close();
    o.open("server");
    o.line(&format!(
        "listen {} default_server",
        listen_addr(&model.listen.http)
    ));
    o.line("server_name _");
    o.line("return 404");
    o.close();
    let any_tls = model
        .routes
        .values()
        .any(|r| matches!(r.tls, TlsModel::Files { .. }));
    if any_tls {
        o.open("server");
        o.line(&format!(
            "listen {} ssl default_server",
            listen_addr(&model.listen.https)
        ));
        o.line("ssl_reject_handshake on");
        o.close();
    }
    o.s
}

fn route_text(name: &str, route: &RouteModel, listen: &Listen) -> String {
    let mut o = Out::default();
    o.raw(&format!(
        "# holdfast route {name}. Owned by holdfast; edits are undone at the next pass.\n"
    ));
    let (cert, key) = match &route.tls {
        TlsModel::Acme => {
            o.raw("# TLS mode acme is not available with nginx (validation refuses it): nothing is served.\n");
            return o.s;
        }
        TlsModel::Off => (None, None),
        TlsModel::Files { cert, key } => (
            Some(cert.display().to_string()),
            Some(key.display().to_string()),
        ),
    };
    let stem = file_stem(name);
    for (i, path) in route.paths.iter().enumerate() {
        if !path.switches.is_empty() {
            // No keepalive: each request has its own connection, so the connections
            // to a slot are its requests in flight (what a drain waits on).
            for (j, switch) in path.switches.iter().enumerate() {
                for (name, u) in [
                    (
                        replica_name(&upstream_name(&stem, i), j, &path.switches),
                        &switch.blue,
                    ),
                    (
                        replica_name(&green_name(&stem, i), j, &path.switches),
                        &switch.green,
                    ),
                ] {
                    o.open(&format!("upstream {name}"));
                    o.line(&format!("server {}", quote(&u.0)));
                    o.close();
                }
            }
            if path.switches.len() > 1 {
                // Each request picks a replica at random, then the slot its marker names.
                let n = path.switches.len();
                o.open(&format!(
                    "split_clients \"${{request_id}}\" {}",
                    replica_var(&stem, i)
                ));
                for j in 0..n - 1 {
                    o.line(&format!("{:.2}% {j}", 100.0 / n as f64));
                }
                o.line(&format!("* {}", n - 1));
                o.close();
                o.open(&format!(
                    "map {} {}",
                    replica_var(&stem, i),
                    marker_var(&stem, i)
                ));
                for (j, switch) in path.switches.iter().enumerate() {
                    o.line(&format!(
                        "{j} {}",
                        quote(&switch.marker.display().to_string())
                    ));
                }
                o.close();
            }
            continue;
        }
        if path.upstreams.is_empty() {
            continue;
        }
        o.open(&format!("upstream {}", upstream_name(&stem, i)));
        for u in &path.upstreams {
            o.line(&format!("server {}", quote(&u.0)));
        }
        o.line("keepalive 16");
        o.close();
    }
    let canonical = route.canonical_host.as_deref();
    let (scheme, port, default_port, listen_line) = match &cert {
        Some(_) => (
            "https",
            port_of(&listen.https),
            443,
            format!("listen {} ssl", listen_addr(&listen.https)),
        ),
        None => (
            "http",
            port_of(&listen.http),
            80,
            format!("listen {}", listen_addr(&listen.http)),
        ),
    };
    let port_suffix = match port {
        Some(p) if p != default_port => format!(":{p}"),
        _ => String::new(),
    };
    let tls_lines = |o: &mut Out| {
        if let (Some(cert), Some(key)) = (&cert, &key) {
            o.line(&format!("ssl_certificate {}", quote(cert)));
            o.line(&format!("ssl_certificate_key {}", quote(key)));
        }
    };
    let main_hosts: Vec<&str> = match canonical {
        Some(c) => vec![c],
        None => route.hosts.iter().map(String::as_str).collect(),
    };
    let others: Vec<&str> = match canonical {
        Some(c) => route
            .hosts
            .iter()
            .map(String::as_str)
            .filter(|h| *h != c)
            .collect(),
        None => Vec::new(),
    };
    // HTTP with TLS on: every host to HTTPS (the canonical host when there is one).
    if cert.is_some() {
        o.open("server");
        o.line(&format!("listen {}", listen_addr(&listen.http)));
        o.line(&format!("server_name {}", names(&route.hosts)));
        clear_headers(&mut o, route);
        response_headers(&mut o, route);
        let target = canonical.unwrap_or("$host");
        o.line(&format!(
            "return 308 https://{target}{port_suffix}$request_uri"
        ));
        o.close();
    }
    // The other hosts to the canonical one, on the route's own scheme.
    if let (Some(c), false) = (canonical, others.is_empty()) {
        o.open("server");
        o.line(&listen_line);
        o.line(&format!("server_name {}", others.join(" ")));
        tls_lines(&mut o);
        clear_headers(&mut o, route);
        response_headers(&mut o, route);
        o.line(&format!(
            "return 308 {scheme}://{c}{port_suffix}$request_uri"
        ));
        o.close();
    }
    o.open("server");
    o.line(&listen_line);
    o.line(&format!("server_name {}", main_hosts.join(" ")));
    tls_lines(&mut o);
    o.line(&format!(
        "client_max_body_size {}",
        max_body(route.max_body)
    ));
    for ip in &route.allow_ips {
        o.line(&format!("allow {}", quote(ip)));
    }
    if !route.allow_ips.is_empty() {
        o.line("deny all");
    }
    if !route.basic_auth.is_empty() || route.basic_auth_file.is_some() {
        // Without a file nobody gets in: an empty one (nginx has no inline users).
        let file = route
            .basic_auth_file
            .as_ref()
            .map(|f| f.display().to_string())
            .unwrap_or_else(|| "/dev/null".to_string());
        o.line("auth_basic \"restricted\"");
        o.line(&format!("auth_basic_user_file {}", quote(&file)));
    }
    clear_headers(&mut o, route);
    for (i, path) in route.paths.iter().enumerate() {
        let body = |o: &mut Out| location_body(o, route, path, &stem, i);
        let prefix = path.prefix.trim_end_matches('/');
        if prefix.is_empty() {
            o.open("location /");
            body(&mut o);
            o.close();
        } else {
            o.open(&format!("location {}", quote(&format!("{prefix}/"))));
            body(&mut o);
            o.close();
            o.open(&format!("location = {}", quote(prefix)));
            body(&mut o);
            o.close();
        }
        if path.upstreams.is_empty() && path.switches.is_empty() {
            o.open(&format!("location @{}", unavailable_name(i)));
            o.line("default_type \"text/html; charset=utf-8\"");
            o.line(&format!(
                "add_header Retry-After {} always",
                page::RETRY_AFTER
            ));
            response_headers(&mut o, route);
            o.line(&format!(
                "return {} {}",
                page::STATUS,
                quote(&page::unavailable(&path.service))
            ));
            o.close();
        }
    }
    o.close();
    o.s
}

fn location_body(o: &mut Out, route: &RouteModel, path: &PathModel, stem: &str, i: usize) {
    if path.upstreams.is_empty() && path.switches.is_empty() {
        // `try_files` runs after the access phase (allow/deny, basic auth), a
        // `return` here would run before it.
        o.line(&format!(
            "error_page {} @{}",
            page::STATUS,
            unavailable_name(i)
        ));
        o.line(&format!(
            "try_files /.holdfast/unavailable ={}",
            page::STATUS
        ));
        return;
    }
    if let Some(switch) = path.switches.first() {
        // Picked per request by whether the marker exists: no reload moves traffic.
        let var = format!("$holdfast_slot_{i}");
        let (blue, green, marker) = if path.switches.len() > 1 {
            let pick = format!("${{{}}}", &replica_var(stem, i)[1..]);
            (
                quote(&format!("{}_{pick}", upstream_name(stem, i))),
                quote(&format!("{}_{pick}", green_name(stem, i))),
                marker_var(stem, i),
            )
        } else {
            (
                upstream_name(stem, i),
                green_name(stem, i),
                quote(&switch.marker.display().to_string()),
            )
        };
        o.line(&format!("set {var} {blue}"));
        o.open(&format!("if (-f {marker})"));
        o.line(&format!("set {var} {green}"));
        o.close();
        let prefix = path.prefix.trim_end_matches('/');
        if path.strip_prefix && !prefix.is_empty() {
            // A proxy_pass with a variable passes the URI as it is: strip it here.
            o.line(&format!(
                "rewrite {} /$1 break",
                quote(&format!("^{}/?(.*)$", regex_escape(prefix)))
            ));
        }
        o.line(&format!("proxy_pass http://{var}"));
    } else {
        let uri = if path.strip_prefix { "/" } else { "" };
        o.line(&format!(
            "proxy_pass http://{}{uri}",
            upstream_name(stem, i)
        ));
    }
    o.line("proxy_http_version 1.1");
    o.line("proxy_set_header Host $http_host");
    o.line("proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for");
    o.line("proxy_set_header X-Forwarded-Proto $scheme");
    o.line("proxy_set_header X-Forwarded-Host $http_host");
    if route.websockets {
        o.line("proxy_set_header Upgrade $http_upgrade");
        o.line("proxy_set_header Connection $holdfast_connection_upgrade");
        o.line(&format!("proxy_read_timeout {STREAM_TIMEOUT}"));
        o.line(&format!("proxy_send_timeout {STREAM_TIMEOUT}"));
    } else {
        o.line("proxy_set_header Connection \"\"");
    }
    for h in &route.headers_remove {
        if !h.eq_ignore_ascii_case("server") {
            o.line(&format!("proxy_hide_header {}", quote(h)));
        }
    }
    response_headers(o, route);
}

/// `more_clear_headers` (headers-more) for the removed headers, on every response of a
/// `server` block, nginx's own `Server` included.
fn clear_headers(o: &mut Out, route: &RouteModel) {
    if !route.headers_remove.is_empty() {
        let list: Vec<String> = route.headers_remove.iter().map(|h| quote(h)).collect();
        o.line(&format!("more_clear_headers {}", list.join(" ")));
    }
}

/// `add_header … always` for each set header. Repeated in every block that answers,
/// as nginx inherits `add_header` only into blocks that have none of their own.
fn response_headers(o: &mut Out, route: &RouteModel) {
    for (k, v) in &route.headers_set {
        o.line(&format!(
            "add_header {} {} always",
            quote(k),
            quote(&v.replace('$', "${holdfast_dollar}"))
        ));
    }
}

fn max_body(max: Option<u64>) -> String {
    match max {
        None => DEFAULT_MAX_BODY.to_string(),
        // 0 means "no limit" to nginx; the smallest limit it knows is one byte.
        Some(0) => "1".to_string(),
        Some(n) => n.to_string(),
    }
}

fn upstream_name(stem: &str, i: usize) -> String {
    format!("holdfast_{}_{i}", stem.replace('-', "_"))
}

fn green_name(stem: &str, i: usize) -> String {
    format!("{}_green", upstream_name(stem, i))
}

/// The upstream `name` of replica `j` among `switches`: `name` itself for a service of
/// one container, `name_j` otherwise.
fn replica_name(name: &str, j: usize, switches: &[crate::model::SlotSwitch]) -> String {
    if switches.len() > 1 {
        format!("{name}_{j}")
    } else {
        name.to_string()
    }
}

/// The variable that holds the replica a request of path `i` goes to.
fn replica_var(stem: &str, i: usize) -> String {
    format!("$holdfast_replica_{}_{i}", stem.replace('-', "_"))
}

/// The variable that holds the marker of that replica.
fn marker_var(stem: &str, i: usize) -> String {
    format!("$holdfast_marker_{}_{i}", stem.replace('-', "_"))
}

/// `text` with the characters of a PCRE pattern escaped.
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn unavailable_name(i: usize) -> String {
    format!("holdfast_unavailable_{i}")
}

fn names(hosts: &[String]) -> String {
    hosts.join(" ")
}

/// A token as nginx reads it: bare when it is plain, double-quoted otherwise.
fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    '.' | '/' | ':' | '-' | '_' | '@' | '*' | '=' | '+' | ',' | '[' | ']'
                )
        });
    if plain {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Indented output.
#[derive(Default)]
struct Out {
    s: String,
    depth: usize,
}

impl Out {
    fn raw(&mut self, text: &str) {
        self.s.push_str(text);
    }
    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.s.push_str("    ");
        }
    }
    fn line(&mut self, directive: &str) {
        self.indent();
        self.s.push_str(directive);
        self.s.push_str(";\n");
    }
    fn open(&mut self, head: &str) {
        self.indent();
        self.s.push_str(head);
        self.s.push_str(" {\n");
        self.depth += 1;
    }
    fn close(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        self.indent();
        self.s.push_str("}\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixtures::{model, route};

    #[test]
    fn the_generation_is_in_the_files_only() {
        let m = model("127.0.0.1:8080", "127.0.0.1:8443");
        let r = render(&m);
        assert_eq!(r.hash, hash_sections(&r.sections));
        let shared = &r.files[SHARED_FILE];
        assert!(shared.starts_with(&r.sections[SHARED_SECTION]));
        assert!(shared.contains(&format!("return 200 {};", r.hash)));
        assert!(!r.sections[SHARED_SECTION].contains(GENERATION_HOST));
        assert_eq!(r.files["shop.conf"], r.sections["route/shop"]);
        // Stable byte for byte.
        assert_eq!(render(&m), r);
    }

    #[test]
    fn prefixes_match_themselves_and_below() {
        let mut m = model(":80", ":443");
        let mut r = route(&["a.test"], "127.0.0.1:9001");
        r.paths[0].prefix = "/api".into();
        r.paths[0].strip_prefix = true;
        m.routes.insert("a".into(), r);
        let text = &render(&m).sections["route/a"];
        assert!(text.contains("location /api/ {"), "{text}");
        assert!(text.contains("location = /api {"), "{text}");
        assert!(text.contains("proxy_pass http://holdfast_a_0/;"), "{text}");
        assert!(text.contains("listen 80;"), "{text}");
    }

    #[test]
    fn values_are_quoted() {
        assert_eq!(quote("a.test"), "a.test");
        assert_eq!(quote("max-age=1; x"), "\"max-age=1; x\"");
        assert_eq!(quote("a\"b\n"), "\"a\\\"b\\n\"");
    }
}
