//! `proxy:` and `routes:`: the short forms are expanded, defaults are filled in, paths
//! are resolved, and the state loads back the same. The rejected files are in
//! `tests/bad/` (`proxy_*`, `route_*`, `routes_*`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use holdfast_spec::*;

fn opts(check_files: bool) -> LoadOptions {
    LoadOptions {
        variables: Some(HashMap::new()),
        check_files,
        ..holdfast_spec::LoadOptions::default()
    }
}

fn good() -> (PathBuf, Loaded) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/good/routes.yaml");
    let loaded = load_file(&path, &opts(true)).unwrap_or_else(|r| panic!("{}", r.render()));
    (path, loaded)
}

/// Loads `src` as if it were `tests/good/x.yaml`; the rendered report on failure.
fn load(src: &str) -> Result<Loaded, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/good/x.yaml");
    load_str(&path, src, &opts(true)).map_err(|r| r.render())
}

#[test]
fn the_full_example_loads_without_findings() {
    let (_, loaded) = good();
    assert!(
        loaded.report.diagnostics.is_empty(),
        "{}",
        loaded.report.render()
    );
}

#[test]
fn proxy_fields_and_defaults() {
    let (path, loaded) = good();
    let dir = path.parent().unwrap();
    let proxy = loaded.state.proxy.as_ref().unwrap();
    assert_eq!(proxy.engine, ProxyEngine::Caddy);
    assert_eq!(proxy.admin.as_deref(), Some("unix:/run/caddy/admin.sock"));
    assert_eq!(proxy.listen.http.as_deref(), Some(":80"));
    assert_eq!(proxy.listen.https.as_deref(), Some(":443"));
    let acme = proxy.acme.as_ref().unwrap();
    assert_eq!(acme.email.as_deref(), Some("ops@example.com"));
    assert_eq!(
        acme.ca_root.as_deref(),
        Some(dir.join("pebble.pem").as_path())
    );
    assert_eq!(proxy.grace_period.as_millis(), 30_000);
    assert_eq!(proxy.stream_close_delay.as_millis(), 300_000);

    let bare = load("proxy: {engine: caddy}\nservices: {}\n").unwrap();
    assert_eq!(bare.state.proxy, Some(Proxy::new(ProxyEngine::Caddy)));
}

#[test]
fn route_fields_short_forms_and_defaults() {
    let (path, loaded) = good();
    let dir = path.parent().unwrap();
    let routes = &loaded.state.routes;
    let shop = &routes["shop"];
    assert_eq!(shop.hosts, ["shop.example.com", "www.shop.example.com"]);
    assert_eq!(shop.canonical_host.as_deref(), Some("shop.example.com"));
    assert_eq!(shop.tls, RouteTls::Auto);
    assert_eq!(
        shop.headers,
        RouteHeaders {
            preset: HeaderPreset::Secure,
            ..RouteHeaders::default()
        }
    );
    assert_eq!(
        shop.paths,
        vec![
            RoutePath {
                prefix: "/api".into(),
                service: "api".into(),
                port: 8080,
                strip_prefix: true
            },
            RoutePath {
                prefix: "/".into(),
                service: "web".into(),
                port: 3000,
                strip_prefix: false
            },
        ]
    );
    assert_eq!(shop.max_body.unwrap().bytes(), 10 << 20);
    assert!(shop.websockets);
    assert_eq!(
        shop.basic_auth.as_ref().unwrap().users_file,
        dir.join("secrets/admin.htpasswd")
    );
    assert_eq!(
        shop.allow_ips,
        ["203.0.113.0/24", "127.0.0.1", "2001:db8::/32"]
    );
    assert_eq!(shop.drift, DriftMode::Report);

    let intranet = &routes["intranet"];
    assert_eq!(
        intranet.tls,
        RouteTls::Files {
            cert: dir.join("certs/intranet.pem"),
            key: dir.join("certs/intranet.key")
        }
    );
    assert_eq!(intranet.headers.preset, HeaderPreset::Strict);
    assert_eq!(intranet.headers.set["X-Robots-Tag"], "noindex");
    assert_eq!(intranet.headers.remove, ["X-Powered-By"]);
    // Defaults: prefix `/`, websockets on, drift corrected, everyone allowed.
    assert_eq!(intranet.paths[0].prefix, "/");
    assert!(intranet.websockets);
    assert_eq!(intranet.drift, DriftMode::Correct);
    assert!(intranet.allow_ips.is_empty());
    assert_eq!(intranet.max_body, None);
    assert_eq!(routes["local"].tls, RouteTls::Internal);
    assert_eq!(routes["plain"].tls, RouteTls::Off);
    assert_eq!(routes["plain"].headers, RouteHeaders::default());
}

#[test]
fn expose_takes_numbers_strings_protocols_and_ranges() {
    let (_, loaded) = good();
    assert_eq!(
        loaded.state.services["api"].expose,
        [8080, 9090, 9100, 9101]
    );
    assert!(loaded.state.services["web"].expose.is_empty());
}

#[test]
fn expose_left_out_keeps_the_service_hash() {
    let with = load("services:\n  a: {image: x, expose: []}\n").unwrap();
    let without = load("services:\n  a: {image: x}\n").unwrap();
    assert_eq!(
        with.state.services["a"].content_hash(),
        without.state.services["a"].content_hash()
    );
    let json = serde_json::to_string(&without.state.services["a"]).unwrap();
    assert!(!json.contains("expose"), "{json}");
}

#[test]
fn serialised_state_loads_back_identical() {
    let (path, loaded) = good();
    let json = serde_json::to_string(&loaded.state).unwrap();
    let again = load_str(&path, &json, &opts(true)).unwrap_or_else(|r| panic!("{}", r.render()));
    assert_eq!(again.state, loaded.state);
    assert_eq!(again.state.content_hash(), loaded.state.content_hash());
}

#[test]
fn without_file_checks_missing_files_and_bad_htpasswd_pass() {
    let src = "proxy: {engine: caddy}\nservices: {web: {image: x}}\nroutes:\n  r:\n    hosts: [a.example.com]\n    tls: {cert: ./nope.pem, key: ./nope.key}\n    basic_auth: {users_file: ./nope.htpasswd}\n    paths: [{service: web, port: 80}]\n";
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/good/x.yaml");
    assert!(load_str(&path, src, &opts(true)).is_err());
    load_str(&path, src, &opts(false)).unwrap_or_else(|r| panic!("{}", r.render()));
}

#[test]
fn a_private_acme_server_may_issue_for_private_names() {
    let src = "proxy: {engine: caddy, acme: {ca: https://pebble:14000/dir, ca_root: ./pebble.pem}}\nservices: {web: {image: x}}\nroutes:\n  r: {hosts: [shop.test, localhost], paths: [{service: web, port: 80}]}\n";
    load(src).unwrap();
    let public = src.replace(", ca_root: ./pebble.pem", "");
    let text = load(&public).unwrap_err();
    assert!(
        text.contains("`shop.test` cannot get a public certificate"),
        "{text}"
    );
    assert!(
        text.contains("`localhost` cannot get a public certificate"),
        "{text}"
    );
}

#[test]
fn warnings_do_not_reject_the_file() {
    let src = "proxy:\n  engine: nginx\n  dir: /etc/nginx/holdfast.d\n  acme: {email: ops@example.com}\nservices: {web: {image: x}}\nroutes:\n  r: {hosts: [a.example.com], tls: internal, paths: [{service: web, port: 80}]}\n";
    let loaded = load(src).unwrap();
    let found: Vec<_> = loaded
        .report
        .diagnostics
        .iter()
        .map(|d| (d.severity, d.message.as_str()))
        .collect();
    assert_eq!(
        found,
        [(Severity::Warning, "`acme` is not used with `engine: nginx`")]
    );
    let caddy =
        "proxy: {engine: caddy, dir: /x, nginx_conf: /etc/nginx/nginx.conf}\nservices: {}\n";
    let loaded = load(caddy).unwrap();
    let found: Vec<_> = loaded
        .report
        .diagnostics
        .iter()
        .map(|d| (d.severity, d.message.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (Severity::Warning, "`dir` is not used with `engine: caddy`"),
            (
                Severity::Warning,
                "`nginx_conf` is not used with `engine: caddy`"
            )
        ]
    );
}

#[test]
fn a_proxy_service_reaches_routed_services_over_a_shared_network() {
    let src = "proxy: {engine: caddy, service: caddy}\nservices:\n  caddy: {image: caddy:2, networks: [front]}\n  web: {image: x, networks: [front, back]}\n  api: {image: y}\nnetworks: {front: {}, back: {}}\nroutes:\n  r:\n    hosts: [a.example.com]\n    paths: [{prefix: /api, service: api, port: 80}, {service: web, port: 80}]\n";
    let text = load(src).unwrap_err();
    assert!(
        text.contains("service `api` shares no network with the proxy's service `caddy`"),
        "{text}"
    );
    assert!(!text.contains("service `web` shares"), "{text}");
    // `api` without `networks:` is on `default`; so is a proxy service without them.
    let fixed = src.replace(
        "caddy: {image: caddy:2, networks: [front]}",
        "caddy: {image: caddy:2, networks: [front, default]}",
    );
    load(&fixed).unwrap_or_else(|t| panic!("{t}"));
}

#[test]
fn the_schema_accepts_the_route_forms_and_flags_bad_ones() {
    let validator = jsonschema::validator_for(&json_schema()).unwrap();
    let ok = serde_json::json!({
        "proxy": {"engine": "caddy"},
        "routes": {"shop": {
            "hosts": ["a.example.com"],
            "tls": {"cert": "a.pem", "key": "a.key"},
            "headers": "secure",
            "paths": [{"service": "web", "port": 80}]
        }, "b": {
            "hosts": ["b.example.com"],
            "tls": "internal",
            "headers": {"preset": "strict", "set": {"X-A": "1"}, "remove": ["Server"]},
            "paths": [{"prefix": "/x", "service": "web", "port": 80}]
        }}
    });
    let errors: Vec<String> = validator.iter_errors(&ok).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    for bad in [
        serde_json::json!({"proxy": {"engine": "haproxy"}}),
        serde_json::json!({"routes": {"Shop": {"hosts": ["a"], "paths": [{"service": "w", "port": 1}]}}}),
        serde_json::json!({"routes": {"s": {"hosts": [], "paths": [{"service": "w", "port": 1}]}}}),
        serde_json::json!({"routes": {"s": {"hosts": ["a"], "tls": "acme", "paths": [{"service": "w", "port": 1}]}}}),
        serde_json::json!({"routes": {"s": {"hosts": ["a"], "tls": {"cert": "a.pem"}, "paths": [{"service": "w", "port": 1}]}}}),
        serde_json::json!({"routes": {"s": {"hosts": ["a"], "headers": "safe", "paths": [{"service": "w", "port": 1}]}}}),
        serde_json::json!({"routes": {"s": {"hosts": ["a"], "paths": [{"prefix": "api", "service": "w", "port": 1}]}}}),
        serde_json::json!({"routes": {"s": {"hosts": ["a"], "paths": [{"service": "w", "port": 0}]}}}),
    ] {
        assert!(!validator.is_valid(&bad), "schema accepted {bad}");
    }
}
