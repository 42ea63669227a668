//! `proxy:` and `routes:`.
//!
//! Only what one route or the proxy alone can tell is checked here; what needs the
//! rest of the file (services, their ports and networks, host clashes between routes,
//! what the engine can do) is in `validate/routes.rs`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::top::valid_project_name;
use super::{Cx, Fields, PathSpans, ProxySpans, RouteSpans, choice};
use crate::diagnostic::{Diagnostic, Span};
use crate::model::DriftMode;
use crate::routes::{
    Acme, BasicAuth, HEADER_PRESETS, HeaderPreset, Listen, Proxy, ProxyEngine, Route, RouteHeaders,
    RouteHealth, RoutePath, RouteTls,
};
use crate::suggest::closest;
use crate::units::Duration;
use crate::yaml::{Node, Value};

/// htpasswd files larger than this are refused: they are read on every load.
const MAX_USERS_FILE_BYTES: u64 = 1024 * 1024;

/// The value under `key` and the span of the key, or `None` when absent or `null`.
fn keyed<'n>(f: &mut Fields<'n>, key: &'static str) -> Option<(Span, &'n Node)> {
    f.entry(key)
        .filter(|(_, v)| v.value != Value::Null)
        .map(|(k, v)| (k.span, v))
}

pub(crate) fn decode_proxy(cx: &mut Cx<'_>, key: &Node, node: &Node) -> Option<Proxy> {
    let mut f = Fields::new(cx, node, "`proxy`")?;
    let engine_node = f.get("engine");
    let engine = match engine_node {
        Some(n) => match choice(cx, n, "proxy engine", &["caddy", "nginx", "traefik"]) {
            Some("caddy") => Some(ProxyEngine::Caddy),
            Some("nginx") => Some(ProxyEngine::Nginx),
            Some("traefik") => Some(ProxyEngine::Traefik),
            _ => None,
        },
        None => {
            cx.error(
                Diagnostic::error(key.span, "`proxy` has no `engine`")
                    .with_label("which proxy?")
                    .with_help("write `engine: caddy` (or `nginx`, or `traefik`)"),
            );
            None
        }
    };
    let mut spans = ProxySpans {
        key: key.span,
        engine: engine_node.map_or(key.span, |n| n.span),
        ..ProxySpans::default()
    };
    let admin = f.get("admin").and_then(|n| {
        let text = cx.string(n, "an admin address")?;
        admin_address_ok(&text).then_some(()).or_else(|| {
            cx.error(
                Diagnostic::error(n.span, format!("`{text}` is not an admin address"))
                    .with_label("expected `unix:/PATH` or `HOST:PORT`")
                    .with_help("write `unix:/run/caddy/admin.sock`, or `HOST:PORT` such as `localhost:2019`"),
            );
            None
        })?;
        Some(text)
    });
    let dir = keyed(&mut f, "dir").and_then(|(k, n)| {
        spans.dir = Some(k);
        let text = cx.string(n, "a directory")?;
        Some(cx.resolve_path(n.span, &text))
    });
    let nginx_conf = keyed(&mut f, "nginx_conf").and_then(|(k, n)| {
        spans.nginx_conf = Some(k);
        let text = cx.string(n, "a file path")?;
        Some(cx.resolve_path(n.span, &text))
    });
    let log = f.get("log").and_then(|n| {
        let text = cx.string(n, "a file path")?;
        Some(cx.resolve_path(n.span, &text))
    });
    let https_port = f.get("https_port").and_then(|n| route_port(cx, n));
    let listen = f
        .get("listen")
        .and_then(|n| decode_listen(cx, engine, n))
        .unwrap_or_default();
    let acme = keyed(&mut f, "acme").and_then(|(k, n)| {
        spans.acme = Some(k);
        decode_acme(cx, n)
    });
    let service = f.get("service").and_then(|n| {
        spans.service = Some(n.span);
        cx.string(n, "a service name")
    });
    let mut proxy = Proxy::new(engine.unwrap_or(ProxyEngine::Caddy));
    if let Some(d) = f
        .get("grace_period")
        .and_then(|n| cx.parsed(n, "a duration"))
    {
        proxy.grace_period = d;
    }
    if let Some(d) = f
        .get("stream_close_delay")
        .and_then(|n| cx.parsed(n, "a duration"))
    {
        proxy.stream_close_delay = d;
    }
    f.finish(cx, &[]);
    let engine = engine?;
    cx.map.proxy = Some(spans);
    Some(Proxy {
        engine,
        admin,
        dir,
        nginx_conf,
        log,
        https_port,
        listen,
        acme,
        service,
        ..proxy
    })
}

/// `unix:/absolute/path`, or `HOST:PORT` with a port number.
fn admin_address_ok(text: &str) -> bool {
    if let Some(path) = text.strip_prefix("unix:") {
        return path.starts_with('/');
    }
    listen_address_ok(text) && !text.starts_with(':')
}

/// `[HOST]:PORT`: `:80`, `0.0.0.0:80`, `[::]:443`, `localhost:8080`.
fn listen_address_ok(text: &str) -> bool {
    let Some((host, port)) = text.rsplit_once(':') else {
        return false;
    };
    let host_ok = if let Some(inner) = host.strip_prefix('[') {
        inner
            .strip_suffix(']')
            .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        !host.contains(':')
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    };
    host_ok
        && matches!(port.parse::<u16>(), Ok(p) if p > 0)
        && port.bytes().all(|b| b.is_ascii_digit())
}

fn decode_listen(cx: &mut Cx<'_>, engine: Option<ProxyEngine>, node: &Node) -> Option<Listen> {
    let mut f = Fields::new(cx, node, "`proxy.listen`")?;
    let one = |cx: &mut Cx<'_>, n: Option<&Node>, example: &str| -> Option<String> {
        let n = n?;
        let text = cx.string(n, "a listen address")?;
        match engine {
            Some(ProxyEngine::Traefik) => {
                let ok = !text.is_empty()
                    && text
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if !ok {
                    cx.error(
                        Diagnostic::error(n.span, format!("`{text}` is not a Traefik entry point name"))
                            .with_label("expected an entry point of Traefik's static configuration")
                            .with_help(format!("with Traefik, `listen` names entry points, such as `{example}`; the addresses live in Traefik's static configuration")),
                    );
                    return None;
                }
            }
            Some(_) if !listen_address_ok(&text) => {
                cx.error(
                    Diagnostic::error(n.span, format!("`{text}` is not a listen address"))
                        .with_label("expected `[HOST]:PORT`")
                        .with_help("write `\":80\"` (every address) or `\"127.0.0.1:8080\"`"),
                );
                return None;
            }
            _ => {}
        }
        Some(text)
    };
    let http = f.get("http");
    let https = f.get("https");
    let listen = Listen {
        http: one(cx, http, "web"),
        https: one(cx, https, "websecure"),
    };
    f.finish(cx, &[]);
    Some(listen)
}

fn decode_acme(cx: &mut Cx<'_>, node: &Node) -> Option<Acme> {
    let mut f = Fields::new(cx, node, "`proxy.acme`")?;
    let email = f.get("email").and_then(|n| {
        let text = cx.string(n, "an email address")?;
        let ok = text
            .split_once('@')
            .is_some_and(|(user, domain)| !user.is_empty() && domain.contains('.'))
            && !text.contains(char::is_whitespace);
        if !ok {
            cx.error(
                Diagnostic::error(n.span, format!("`{text}` is not an email address"))
                    .with_label("the ACME account's contact")
                    .with_help("write an address such as `ops@example.com`"),
            );
            return None;
        }
        Some(text)
    });
    let ca = f.get("ca").and_then(|n| {
        let text = cx.string(n, "a URL")?;
        if !text.starts_with("https://") {
            cx.error(
                Diagnostic::error(n.span, format!("`{text}` is not an https:// URL"))
                    .with_label("expected the ACME directory's URL")
                    .with_help("write the directory URL, such as `https://acme-v02.api.letsencrypt.org/directory`"),
            );
            return None;
        }
        Some(text)
    });
    let ca_root = f
        .get("ca_root")
        .and_then(|n| file_path(cx, n, "ACME CA root"));
    f.finish(cx, &[]);
    Some(Acme { email, ca, ca_root })
}

/// A file path, resolved against the file's folder and checked when file checks are on.
fn file_path(cx: &mut Cx<'_>, node: &Node, what: &str) -> Option<PathBuf> {
    let text = cx.string(node, "a file path")?;
    let path = cx.resolve_path(node.span, &text);
    cx.check_file(node, &text, &path, what);
    Some(path)
}

/// Route names become file names and proxy ids: the project name's rule.
pub(crate) fn valid_route_name(name: &str) -> bool {
    valid_project_name(name)
}

pub(crate) fn decode_route(
    cx: &mut Cx<'_>,
    name: &str,
    key_span: Span,
    node: &Node,
) -> Option<Route> {
    if !valid_route_name(name) {
        let fixed: String = name
            .to_ascii_lowercase()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .skip_while(|c| *c == '-' || *c == '_')
            .collect();
        cx.error(
            Diagnostic::error(key_span, format!("`{name}` is not a valid route name"))
                .with_label("invalid name")
                .with_help(format!(
                    "use lowercase letters, digits, `-` and `_`, starting with a letter or digit, such as `{}`; the name becomes a file name and the proxy's id",
                    if fixed.is_empty() { "shop" } else { &fixed }
                )),
        );
    }
    let mut f = Fields::new(cx, node, format!("route `{name}`"))?;
    let mut spans = RouteSpans {
        key: key_span,
        ..RouteSpans::default()
    };

    let mut hosts = Vec::new();
    match f.get("hosts") {
        None => cx.error(
            Diagnostic::error(key_span, format!("route `{name}` has no `hosts`"))
                .with_label("which host names does it serve?")
                .with_help("write `hosts: [shop.example.com]`"),
        ),
        Some(n) => match &n.value {
            Value::Seq(items) if items.is_empty() => cx.error(
                Diagnostic::error(n.span, format!("route `{name}` has an empty `hosts` list"))
                    .with_label("no host names")
                    .with_help("list the host names it serves: `hosts: [shop.example.com]`"),
            ),
            Value::Seq(items) => {
                for item in items {
                    let Some(host) = cx.string(item, "a host name") else {
                        continue;
                    };
                    if let Err((message, label, help)) = check_host(&host) {
                        cx.error(
                            Diagnostic::error(item.span, message)
                                .with_label(label)
                                .with_help(help),
                        );
                        continue;
                    }
                    hosts.push(host);
                    spans.hosts.push(item.span);
                }
            }
            _ => cx.expected(
                n,
                "a list of host names",
                Some("write `hosts: [shop.example.com]`"),
            ),
        },
    }

    let canonical_host = f.get("canonical_host").and_then(|n| {
        let host = cx.string(n, "a host name")?;
        if let Err((message, label, help)) = check_host(&host) {
            cx.error(
                Diagnostic::error(n.span, message)
                    .with_label(label)
                    .with_help(help),
            );
            return None;
        }
        if !hosts.contains(&host) {
            let help = match closest(&host, hosts.iter().map(String::as_str)) {
                Some(s) => format!("did you mean `{s}`?"),
                None if hosts.is_empty() => format!("add `{host}` to `hosts`"),
                None => format!(
                    "add `{host}` to `hosts`, or use one of them: {}",
                    hosts.join(", ")
                ),
            };
            cx.error(
                Diagnostic::error(
                    n.span,
                    format!("canonical host `{host}` is not one of the hosts of route `{name}`"),
                )
                .with_label("not in `hosts`")
                .with_help(help),
            );
            return None;
        }
        if host.starts_with("*.") {
            cx.error(
                Diagnostic::error(n.span, format!("canonical host `{host}` is a wildcard"))
                    .with_label("other hosts cannot redirect to a wildcard")
                    .with_help("name one host of `hosts` that every other host redirects to"),
            );
            return None;
        }
        Some(host)
    });

    let tls = match f.get("tls") {
        Some(n) => {
            spans.tls = Some(n.span);
            decode_tls(cx, name, n).unwrap_or_default()
        }
        None => RouteTls::Auto,
    };
    let headers = f
        .get("headers")
        .and_then(|n| decode_headers(cx, name, n))
        .unwrap_or_default();

    let mut paths = Vec::new();
    match f.get("paths") {
        None => cx.error(
            Diagnostic::error(key_span, format!("route `{name}` has no `paths`"))
                .with_label("nothing to serve")
                .with_help("write `paths: [{service: web, port: 3000}]`"),
        ),
        Some(n) => match &n.value {
            Value::Seq(items) if items.is_empty() => cx.error(
                Diagnostic::error(n.span, format!("route `{name}` has an empty `paths` list"))
                    .with_label("nothing to serve")
                    .with_help("write `paths: [{service: web, port: 3000}]`"),
            ),
            Value::Seq(items) => {
                for item in items {
                    if let Some((path, path_spans)) = decode_path(cx, name, item) {
                        paths.push(path);
                        spans.paths.push(path_spans);
                    }
                }
            }
            _ => cx.expected(
                n,
                "a list of paths",
                Some("write `paths: [{prefix: /, service: web, port: 3000}]`"),
            ),
        },
    }

    let max_body = f.get("max_body").and_then(|n| {
        let size: crate::units::ByteSize = cx.parsed(n, "a size")?;
        if size.bytes() == 0 {
            cx.error(
                Diagnostic::error(n.span, "`max_body: 0` would refuse every request body")
                    .with_label("must be larger than 0")
                    .with_help("write a size such as `10MB`, or leave `max_body` out for no limit"),
            );
            return None;
        }
        Some(size)
    });
    let websockets = f.get("websockets").and_then(|n| cx.bool(n)).unwrap_or(true);
    let basic_auth = f
        .get("basic_auth")
        .and_then(|n| decode_basic_auth(cx, name, n));
    let allow_ips = f
        .get("allow_ips")
        .map(|n| decode_allow_ips(cx, n))
        .unwrap_or_default();
    let drift = match f.get("drift") {
        Some(n) => match choice(cx, n, "drift mode", &["correct", "report"]) {
            Some("report") => DriftMode::Report,
            _ => DriftMode::Correct,
        },
        None => DriftMode::Correct,
    };
    let health = f
        .get("health")
        .and_then(|n| decode_health(cx, name, n))
        .unwrap_or_default();
    let drain = f
        .get("drain")
        .and_then(|n| cx.parsed(n, "a duration"))
        .unwrap_or_else(|| Duration::from_millis(30_000));
    f.finish(cx, &[]);
    cx.map.routes.push((name.to_string(), spans));
    Some(Route {
        health,
        drain,
        hosts,
        canonical_host,
        tls,
        headers,
        paths,
        max_body,
        websockets,
        basic_auth,
        allow_ips,
        drift,
    })
}

type HostError = (String, &'static str, String);

/// A DNS name of lowercase letters, digits, `-` and dots, with an optional leading
/// `*.` wildcard.
pub(crate) fn check_host(host: &str) -> Result<(), HostError> {
    const RULE: &str = "host names are lowercase letters, digits, `-` and dots, such as `shop.example.com`; a leading `*.` makes a wildcard";
    let bad = |label: &'static str, help: String| {
        Err((format!("`{host}` is not a valid host name"), label, help))
    };
    if let Some((_, rest)) = host.split_once("://") {
        let bare = rest.split(['/', ':']).next().unwrap_or(rest);
        return bad(
            "a URL, not a host name",
            format!("write the host name alone: `{}`", bare.to_ascii_lowercase()),
        );
    }
    if host.parse::<std::net::Ipv6Addr>().is_ok() {
        return bad(
            "an IPv6 address",
            format!("use a DNS name for the address; {RULE}"),
        );
    }
    if let Some((name, port)) = host.rsplit_once(':')
        && port.bytes().all(|b| b.is_ascii_digit())
    {
        return bad(
            "a port is not part of the host name",
            format!(
                "write `{}` without the port; the proxy's `listen` sets the ports",
                name.to_ascii_lowercase()
            ),
        );
    }
    if host.chars().any(|c| c.is_ascii_uppercase()) {
        return bad(
            "host names are lowercase",
            format!("write `{}`", host.to_ascii_lowercase()),
        );
    }
    let name = host.strip_prefix("*.").unwrap_or(host);
    if name.contains('*') {
        return bad(
            "a wildcard is only the whole first label",
            format!("write a wildcard as `*.example.com`; {RULE}"),
        );
    }
    if host.len() > 253 {
        return bad("longer than 253 characters", RULE.to_string());
    }
    for label in name.split('.') {
        if label.is_empty() {
            return bad(
                "an empty label (two dots, or a dot at an end)",
                RULE.to_string(),
            );
        }
        if label.len() > 63 {
            return bad("a label is longer than 63 characters", RULE.to_string());
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("a label starts or ends with `-`", RULE.to_string());
        }
        if !label
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return bad("not a DNS name", RULE.to_string());
        }
    }
    Ok(())
}

fn decode_tls(cx: &mut Cx<'_>, route: &str, node: &Node) -> Option<RouteTls> {
    if let Value::Map(_) = node.value {
        let mut f = Fields::new(cx, node, format!("the tls of route `{route}`"))?;
        let cert = f.get("cert");
        let key = f.get("key");
        f.finish(cx, &[]);
        let (Some(cert), Some(key)) = (cert, key) else {
            let missing = match (cert, key) {
                (None, None) => "`cert` and `key`",
                (None, _) => "`cert`",
                _ => "`key`",
            };
            cx.error(
                Diagnostic::error(
                    node.span,
                    format!("`tls` of route `{route}` needs both `cert` and `key`"),
                )
                .with_label(format!("no {missing}"))
                .with_help("write `tls: {cert: ./certs/site.pem, key: ./certs/site.key}`, or a mode: `auto`, `internal` or `off`"),
            );
            return None;
        };
        let cert = file_path(cx, cert, "certificate file");
        let key = file_path(cx, key, "key file");
        return Some(RouteTls::Files {
            cert: cert?,
            key: key?,
        });
    }
    let text = cx.string(node, "a tls mode")?;
    match text.as_str() {
        "auto" => return Some(RouteTls::Auto),
        "internal" => return Some(RouteTls::Internal),
        "off" => return Some(RouteTls::Off),
        _ => {}
    }
    let modes = ["auto", "internal", "off"];
    let help = match closest(&text, modes) {
        Some(s) => format!(
            "did you mean `{s}`? (one of `auto`, `internal`, `off`, or `{{cert: FILE, key: FILE}}`)"
        ),
        None => "use one of `auto`, `internal`, `off`, or `{cert: FILE, key: FILE}`".to_string(),
    };
    cx.error(
        Diagnostic::error(node.span, format!("`{text}` is not a valid tls mode"))
            .with_label("invalid tls mode")
            .with_help(help),
    );
    None
}

fn preset(cx: &mut Cx<'_>, node: &Node) -> Option<HeaderPreset> {
    match choice(cx, node, "header preset", HEADER_PRESETS)? {
        "secure" => Some(HeaderPreset::Secure),
        "strict" => Some(HeaderPreset::Strict),
        _ => Some(HeaderPreset::None),
    }
}

/// An RFC 7230 token: the characters a header name may have.
pub(crate) fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The rest of RFC 7230's rule for header names, in words.
const TOKEN_RULE: &str = "without spaces or `:` (RFC 7230 also allows ``!#$%&'*+.^_`|~``)";

fn header_name(cx: &mut Cx<'_>, node: &Node, name: &str) -> bool {
    if is_token(name) {
        return true;
    }
    let suggestion: String = name
        .trim()
        .trim_end_matches(':')
        .chars()
        .map(|c| if c.is_whitespace() { '-' } else { c })
        .filter(|c| c.is_ascii() && is_token(&c.to_string()))
        .collect();
    let help = if suggestion.is_empty() || suggestion == name {
        format!("header names are letters, digits and `-`, such as `X-Frame-Options`, {TOKEN_RULE}")
    } else {
        format!("write `{suggestion}`; header names are letters, digits and `-`, {TOKEN_RULE}")
    };
    cx.error(
        Diagnostic::error(node.span, format!("`{name}` is not a valid header name"))
            .with_label("not an HTTP header name")
            .with_help(help),
    );
    false
}

fn decode_headers(cx: &mut Cx<'_>, route: &str, node: &Node) -> Option<RouteHeaders> {
    if let Value::Scalar { .. } = node.value {
        return Some(RouteHeaders {
            preset: preset(cx, node)?,
            ..RouteHeaders::default()
        });
    }
    let mut f = Fields::new(cx, node, format!("the headers of route `{route}`"))?;
    let mut headers = RouteHeaders {
        preset: f
            .get("preset")
            .and_then(|n| preset(cx, n))
            .unwrap_or_default(),
        ..RouteHeaders::default()
    };
    if let Some(n) = f.get("set") {
        match &n.value {
            Value::Map(entries) => {
                let mut seen: BTreeMap<String, Span> = BTreeMap::new();
                for (k, v) in entries {
                    let Some(name) = cx.string(k, "a header name") else {
                        continue;
                    };
                    if !header_name(cx, k, &name) {
                        continue;
                    }
                    if let Some(first) = seen.insert(name.to_ascii_lowercase(), k.span) {
                        cx.error(
                            Diagnostic::error(k.span, format!("header `{name}` is set twice"))
                                .with_label("header names ignore case")
                                .with_related(first, "first set here")
                                .with_help("remove one of the two"),
                        );
                        continue;
                    }
                    let value = match &v.value {
                        Value::Scalar { .. } => cx.string(v, "a header value"),
                        Value::Null => Some(String::new()),
                        _ => {
                            cx.expected(
                                v,
                                "a header value",
                                Some("write the value as a string; to remove a header, list it under `remove`"),
                            );
                            None
                        }
                    };
                    let Some(value) = value else { continue };
                    if value.contains(['\r', '\n', '\0']) {
                        cx.error(
                            Diagnostic::error(
                                v.span,
                                format!("the value of header `{name}` has a line break"),
                            )
                            .with_label("CR, LF and NUL are not allowed in a header value")
                            .with_help("write the value on one line (a folded `>-` block scalar joins lines with spaces)"),
                        );
                        continue;
                    }
                    headers.set.insert(name, value);
                }
            }
            _ => cx.expected(
                n,
                "a mapping of header names to values",
                Some("write `set: {X-Robots-Tag: noindex}`"),
            ),
        }
    }
    if let Some(n) = f.get("remove") {
        match &n.value {
            Value::Seq(items) => {
                for item in items {
                    if let Some(name) = cx.string(item, "a header name")
                        && header_name(cx, item, &name)
                    {
                        headers.remove.push(name);
                    }
                }
            }
            _ => cx.expected(
                n,
                "a list of header names",
                Some("write `remove: [Server]`"),
            ),
        }
    }
    f.finish(cx, &[]);
    Some(headers)
}

fn decode_path(cx: &mut Cx<'_>, route: &str, item: &Node) -> Option<(RoutePath, PathSpans)> {
    let mut f = Fields::new(cx, item, format!("a path of route `{route}`"))?;
    let mut spans = PathSpans {
        prefix: item.span,
        service: item.span,
        port: item.span,
    };
    let prefix = match f.get("prefix") {
        Some(n) => {
            spans.prefix = n.span;
            let prefix = cx.string(n, "a path prefix")?;
            if !prefix.starts_with('/') {
                cx.error(
                    Diagnostic::error(
                        n.span,
                        format!("path prefix `{prefix}` does not start with `/`"),
                    )
                    .with_label("not a URL path")
                    .with_help(format!("write `/{}`", prefix.trim_start_matches('/'))),
                );
                return None;
            }
            if prefix
                .contains(|c: char| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
            {
                cx.error(
                    Diagnostic::error(n.span, format!("path prefix `{prefix}` has a space, `?` or `#`"))
                        .with_label("not a URL path")
                        .with_help("write the path only, without a query or fragment; percent-encode spaces as `%20`"),
                );
                return None;
            }
            prefix
        }
        None => "/".to_string(),
    };
    let service = match f.get("service") {
        Some(n) => {
            spans.service = n.span;
            cx.string(n, "a service name")
        }
        None => {
            cx.error(
                Diagnostic::error(
                    item.span,
                    format!("a path of route `{route}` has no `service`"),
                )
                .with_label("which service serves it?")
                .with_help("write `service: NAME`, a service of this file"),
            );
            None
        }
    };
    let port = match f.get("port") {
        Some(n) => {
            spans.port = n.span;
            route_port(cx, n)
        }
        None => {
            cx.error(
                Diagnostic::error(
                    item.span,
                    format!("a path of route `{route}` has no `port`"),
                )
                .with_label("which port of the service?")
                .with_help("write `port: 3000`, the container port the service listens on"),
            );
            None
        }
    };
    let strip_prefix = f
        .get("strip_prefix")
        .and_then(|n| cx.bool(n))
        .unwrap_or(false);
    f.finish(cx, &[]);
    Some((
        RoutePath {
            prefix,
            service: service?,
            port: port?,
            strip_prefix,
        },
        spans,
    ))
}

/// A container port, 1-65535, with a message for each way it can be wrong.
fn route_port(cx: &mut Cx<'_>, node: &Node) -> Option<u16> {
    let text = cx.string(node, "a port number")?;
    let (message, label) = match text.trim().parse::<u64>() {
        Ok(0) => (
            "port 0 is not allowed".to_string(),
            "no service listens on port 0",
        ),
        Ok(n) => match u16::try_from(n) {
            Ok(port) => return Some(port),
            Err(_) => (format!("{n} is not a port number"), "ports go up to 65535"),
        },
        Err(_) => (
            format!("expected a port number, found `{text}`"),
            "not a port number",
        ),
    };
    cx.error(
        Diagnostic::error(node.span, message)
            .with_label(label)
            .with_help("write the container port the service listens on, such as `port: 3000`"),
    );
    None
}

fn decode_basic_auth(cx: &mut Cx<'_>, route: &str, node: &Node) -> Option<BasicAuth> {
    let mut f = Fields::new(cx, node, format!("basic_auth of route `{route}`"))?;
    let users = f.get("users_file");
    f.finish(cx, &[]);
    let Some(n) = users else {
        cx.error(
            Diagnostic::error(
                node.span,
                format!("basic_auth of route `{route}` has no `users_file`"),
            )
            .with_label("who may log in?")
            .with_help(
                "write `users_file: ./secrets/admin.htpasswd`, made with `htpasswd -cB FILE USER`",
            ),
        );
        return None;
    };
    let text = cx.string(n, "a file path")?;
    let path = cx.resolve_path(n.span, &text);
    cx.check_file(n, &text, &path, "users file");
    if cx.check_files && path.is_file() {
        check_users_file(cx, n, &text, &path);
    }
    Some(BasicAuth { users_file: path })
}

/// `$2a$`, `$2b$` or `$2y$`, a two-digit cost, `$` and 53 characters of salt and hash.
pub(crate) fn is_bcrypt(hash: &str) -> bool {
    let b = hash.as_bytes();
    b.len() == 60
        && (hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$"))
        && b[4].is_ascii_digit()
        && b[5].is_ascii_digit()
        && b[6] == b'$'
        && b[7..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'/')
}

/// Every user line of an htpasswd file is `user:bcrypt-hash`. The lines themselves are
/// never quoted in messages: they hold password hashes.
fn check_users_file(cx: &mut Cx<'_>, node: &Node, written: &str, path: &Path) {
    let fail = |cx: &mut Cx<'_>, message: String, help: String| {
        cx.error(
            Diagnostic::error(node.span, message)
                .with_label("in this file")
                .with_help(help),
        );
    };
    let help = format!("hash the passwords with bcrypt: `htpasswd -B {written} USER`");
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if size > MAX_USERS_FILE_BYTES {
        fail(
            cx,
            format!(
                "users file `{written}` is {size} bytes; at most {MAX_USERS_FILE_BYTES} are accepted"
            ),
            "keep one `user:hash` line per user".to_string(),
        );
        return;
    }
    let text = match std::fs::read(path).map(String::from_utf8) {
        Ok(Ok(text)) => text,
        Ok(Err(_)) => {
            fail(
                cx,
                format!("users file `{written}` is not UTF-8 text"),
                help,
            );
            return;
        }
        Err(e) => {
            fail(
                cx,
                format!("cannot read users file `{written}`: {e}"),
                "make the file readable by the user holdfast runs as".to_string(),
            );
            return;
        }
    };
    let mut users = 0;
    let mut bad: Vec<(usize, &'static str)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once(':') {
            Some((user, hash)) if !user.is_empty() && is_bcrypt(hash) => users += 1,
            Some((user, hash)) if !user.is_empty() => bad.push((
                i + 1,
                if hash.starts_with("$apr1$") {
                    "has an MD5 (apr1) hash, not bcrypt"
                } else if hash.starts_with("{SHA}") {
                    "has a SHA-1 hash, not bcrypt"
                } else if hash.starts_with('$') {
                    "has a hash that is not bcrypt"
                } else {
                    "has a password that is not hashed with bcrypt"
                },
            )),
            _ => bad.push((
                i + 1,
                "is not `user:$2y$...` (a user name, `:` and a bcrypt hash)",
            )),
        }
    }
    if let Some((line, why)) = bad.first() {
        let more = match bad.len() {
            1 => String::new(),
            2 => " (and 1 more line)".to_string(),
            n => format!(" (and {} more lines)", n - 1),
        };
        fail(
            cx,
            format!("line {line} of users file `{written}` {why}{more}"),
            help,
        );
    } else if users == 0 {
        fail(
            cx,
            format!("users file `{written}` has no users"),
            format!("add a user with `htpasswd -B {written} USER`"),
        );
    }
}

/// An IP address or a CIDR range whose prefix length fits the address.
pub(crate) fn check_ip_or_cidr(text: &str) -> Result<(), (String, String)> {
    let (ip, len) = match text.split_once('/') {
        Some((ip, len)) => (ip, Some(len)),
        None => (text, None),
    };
    let Ok(addr) = ip.parse::<IpAddr>() else {
        return Err((
            format!("`{text}` is not an IP address or CIDR range"),
            "write an address such as `203.0.113.7` or a range such as `203.0.113.0/24`"
                .to_string(),
        ));
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if let Some(len) = len {
        let ok = !len.is_empty()
            && len.bytes().all(|b| b.is_ascii_digit())
            && len.parse::<u32>().is_ok_and(|l| l <= max);
        if !ok {
            let family = if addr.is_ipv4() { "IPv4" } else { "IPv6" };
            return Err((
                format!("`/{len}` is not a prefix length for an {family} address"),
                format!(
                    "write a prefix length from 0 to {max}, such as `{ip}/{}`",
                    if addr.is_ipv4() { 24 } else { 64 }
                ),
            ));
        }
    }
    Ok(())
}

fn decode_allow_ips(cx: &mut Cx<'_>, node: &Node) -> Vec<String> {
    let Some(items) = cx.string_list(node, "addresses", false) else {
        return Vec::new();
    };
    let Value::Seq(nodes) = &node.value else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (text, item) in items.into_iter().zip(nodes) {
        match check_ip_or_cidr(&text) {
            Ok(()) => out.push(text),
            Err((message, help)) => cx.error(
                Diagnostic::error(item.span, message)
                    .with_label("invalid address")
                    .with_help(help),
            ),
        }
    }
    out
}

fn decode_health(cx: &mut Cx<'_>, route: &str, node: &Node) -> Option<RouteHealth> {
    let mut f = Fields::new(cx, node, format!("health of route `{route}`"))?;
    let mut h = RouteHealth::default();
    if let Some(n) = f.get("path")
        && let Some(path) = cx.string(n, "a path")
    {
        if path.starts_with('/') {
            h.path = path;
        } else {
            cx.error(
                Diagnostic::error(
                    n.span,
                    format!("health path `{path}` does not start with `/`"),
                )
                .with_label("not a path")
                .with_help(format!("write `/{path}`")),
            );
        }
    }
    for (key, slot) in [
        ("interval", &mut h.interval),
        ("timeout", &mut h.timeout),
        ("deadline", &mut h.deadline),
    ] {
        if let Some(n) = f.get(key)
            && let Some(d) = cx.parsed::<Duration>(n, "a duration")
        {
            if d.std().is_zero() {
                cx.error(
                    Diagnostic::error(n.span, format!("`{key}: 0s` cannot work"))
                        .with_label("must be longer than 0")
                        .with_help("write a duration such as `250ms` or `30s`"),
                );
            } else {
                *slot = d;
            }
        }
    }
    if let Some(n) = f.get("passes")
        && let Some(p) = cx.number::<u32>(n, "a number of passes", 2, 100)
    {
        h.passes = p;
    }
    f.finish(cx, &[]);
    Some(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        for good in [
            "shop.example.com",
            "*.example.com",
            "localhost",
            "a-b.c1",
            "127.0.0.1",
        ] {
            assert!(check_host(good).is_ok(), "{good}");
        }
        for bad in [
            "Shop.example.com",
            "https://shop.example.com",
            "shop.example.com:8443",
            "a..b",
            ".a",
            "a.",
            "-a.b",
            "a_b.c",
            "a.*.c",
            "*",
            "::1",
            "",
            "shop example",
        ] {
            assert!(check_host(bad).is_err(), "{bad}");
        }
        let (_, label, help) = check_host("Shop.Example.com").unwrap_err();
        assert_eq!(label, "host names are lowercase");
        assert_eq!(help, "write `shop.example.com`");
    }

    #[test]
    fn ips_and_cidrs() {
        for good in [
            "127.0.0.1",
            "203.0.113.0/24",
            "::1",
            "2001:db8::/32",
            "0.0.0.0/0",
        ] {
            assert!(check_ip_or_cidr(good).is_ok(), "{good}");
        }
        for bad in [
            "localhost",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0/8",
        ] {
            assert!(check_ip_or_cidr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_and_hashes() {
        assert!(is_token("X-Robots-Tag"));
        assert!(!is_token("X Robots"));
        assert!(!is_token("X-Robots:"));
        assert!(!is_token(""));
        assert!(is_bcrypt(
            "$2y$05$c4WoMPo3SXsafkva.HHa6uXQZWr7oboPiC2bT/r7q1BB8I2s0BRqC"
        ));
        assert!(!is_bcrypt("$apr1$abc$def"));
        assert!(!is_bcrypt("$2y$05$short"));
    }

    #[test]
    fn addresses() {
        for good in [":80", "0.0.0.0:80", "[::]:443", "localhost:8080"] {
            assert!(listen_address_ok(good), "{good}");
        }
        for bad in ["80", ":0", "localhost", ":http", "::443"] {
            assert!(!listen_address_ok(bad), "{bad}");
        }
        assert!(admin_address_ok("unix:/run/caddy/admin.sock"));
        assert!(admin_address_ok("localhost:2019"));
        assert!(!admin_address_ok(":2019"));
        assert!(!admin_address_ok("unix:admin.sock"));
    }
}
