//! The Caddy engine against a real Caddy 2.11 on loopback ports.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use holdfast_proxy::caddy::{Caddy, CaddyConfig};
use holdfast_proxy::converge::{DriftWhat, RouteResult, converge};
use holdfast_proxy::http::{Endpoint, request};
use holdfast_proxy::model::TlsModel;
use holdfast_testkit::engines::caddy::CaddyProcess;
use holdfast_testkit::web::{Backend, curl_host};

struct Setup {
    _tmp: tempfile::TempDir,
    caddy: CaddyProcess,
    engine: Caddy,
    http: u16,
    https: u16,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let caddy = CaddyProcess::start(&tmp.path().join("caddy"));
    let engine = Caddy::new(CaddyConfig {
        admin: caddy.admin_address(),
    });
    let (http, https) = ports();
    Setup {
        _tmp: tmp,
        caddy,
        engine,
        http,
        https,
    }
}

#[tokio::test]
async fn routes_reach_their_backends_and_a_second_pass_sends_nothing() {
    let s = setup();
    let (web, api, blog) = (
        Backend::start("web"),
        Backend::start("api"),
        Backend::start("blog"),
    );
    let model = two_sites(s.http, s.https, &web, &api, &blog);
    let first = converge(&s.engine, &model, None, true).await;
    assert!(first.error.is_none(), "{:?}", first.error);
    assert_eq!(first.applied.map(|a| a.mutations), Some(1));
    check_two_sites(s.http);

    let again = converge(&s.engine, &model, first.serving.as_ref(), true).await;
    assert!(
        again.drift.is_empty(),
        "read-back differs: {:?}",
        again.drift
    );
    assert_eq!(again.applied, None, "an unchanged pass sends nothing");
    assert!(again.routes.values().all(|r| *r == RouteResult::Serving));
}

#[tokio::test]
async fn a_refused_route_is_degraded_with_caddys_message_and_the_others_serve() {
    let s = setup();
    let web = Backend::start("web");
    let tmp = tempfile::tempdir().unwrap();
    let mut model = single(s.http, s.https, "shop", &["shop.test"], &web);
    let first = converge(&s.engine, &model, None, true).await;
    assert!(first.error.is_none(), "{:?}", first.error);

    let (cert, _) = certificate(tmp.path(), "bad.test");
    let (_, other_key) = certificate(tmp.path(), "other.test");
    let mut bad = route_to(&["bad.test"], &web);
    bad.tls = TlsModel::Files {
        cert,
        key: other_key,
    };
    model.routes.insert("bad".into(), bad);
    let out = converge(&s.engine, &model, first.serving.as_ref(), true).await;
    match &out.routes["bad"] {
        RouteResult::Rejected(msg) => assert!(
            msg.contains("private key does not match") || msg.contains("tls"),
            "Caddy's own message: {msg}"
        ),
        other => panic!("bad route: {other:?}"),
    }
    assert_eq!(out.routes["shop"], RouteResult::Serving);
    assert_eq!(curl_host("http", "shop.test", s.http, "/", &[]).status, 200);
}

#[tokio::test]
async fn drift_is_seen_by_section_and_restored() {
    let mut s = setup();
    let web = Backend::start("web");
    let mut model = single(s.http, s.https, "shop", &["shop.test"], &web);
    let blog = Backend::start("blog");
    model
        .routes
        .insert("blog".into(), route_to(&["blog.test"], &blog));
    let first = converge(&s.engine, &model, None, true).await;
    assert!(first.error.is_none(), "{:?}", first.error);

    // Deleted through the admin API.
    let endpoint = Endpoint::parse(&s.caddy.admin_address());
    let r = request(
        &endpoint,
        hyper::Method::DELETE,
        "/id/hf-route-shop",
        &[],
        None,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert!(r.ok(), "{}", r.text());
    assert_eq!(curl_host("http", "shop.test", s.http, "/", &[]).status, 404);
    let plan = converge(&s.engine, &model, first.serving.as_ref(), false).await;
    let drift: Vec<_> = plan
        .drift
        .iter()
        .map(|d| (d.section.as_str(), d.what))
        .collect();
    assert_eq!(drift, [("route/shop", DriftWhat::Missing)]);
    let fixed = converge(&s.engine, &model, first.serving.as_ref(), true).await;
    assert!(fixed.applied.is_some());
    assert_eq!(
        curl_host("http", "shop.test", s.http, "/", &[]).body,
        "web GET /\n"
    );

    // Killed and started again without its saved state.
    s.caddy.kill();
    let dir = s.caddy.dir.clone();
    s.caddy = CaddyProcess::start(&dir);
    let plan = converge(&s.engine, &model, None, false).await;
    let missing: Vec<_> = plan.drift.iter().map(|d| d.section.as_str()).collect();
    assert!(
        missing.contains(&"route/shop") && missing.contains(&"route/blog"),
        "{missing:?}"
    );
    converge(&s.engine, &model, None, true).await;
    assert_eq!(
        curl_host("http", "blog.test", s.http, "/", &[]).body,
        "blog GET /\n"
    );
}

#[tokio::test]
async fn tls_files_redirects_headers_and_access_rules() {
    let s = setup();
    let tmp = tempfile::tempdir().unwrap();
    let web = Backend::start("web");
    let model = full_featured(tmp.path(), s.http, s.https, &web);
    let out = converge(&s.engine, &model, None, true).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    check_full_featured(tmp.path(), s.http, s.https, true);
}

#[tokio::test]
async fn a_websocket_stays_open_while_an_unrelated_route_is_added() {
    let s = setup();
    let web = Backend::start("web");
    let mut model = single(s.http, s.https, "shop", &["shop.test"], &web);
    let first = converge(&s.engine, &model, None, true).await;
    assert!(first.error.is_none(), "{:?}", first.error);
    let mut socket = WebSocket::open(s.http, "shop.test");
    socket.echo(b"before");
    let blog = Backend::start("blog");
    model
        .routes
        .insert("blog".into(), route_to(&["blog.test"], &blog));
    let out = converge(&s.engine, &model, first.serving.as_ref(), true).await;
    assert_eq!(out.applied.map(|a| a.mutations), Some(1));
    assert_eq!(curl_host("http", "blog.test", s.http, "/", &[]).status, 200);
    socket.echo(b"after");
}

/// Debian 12's Caddy 2.6.2 refuses `stream_close_delay`: the engine falls back, warns,
/// and the route serves.
#[tokio::test]
async fn an_old_caddy_is_detected_and_warned_about() {
    let tmp = tempfile::tempdir().unwrap();
    let caddy = CaddyProcess::start_with(&tmp.path().join("caddy"), "/usr/bin/caddy");
    let engine = Caddy::new(CaddyConfig {
        admin: caddy.admin_address(),
    });
    let (http, https) = ports();
    let web = Backend::start("web");
    let model = single(http, https, "shop", &["shop.test"], &web);
    let out = converge(&engine, &model, None, true).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    use holdfast_proxy::Engine;
    let warnings = engine.warnings();
    assert!(
        warnings.iter().any(|w| w.contains("stream_close_delay")),
        "{warnings:?}"
    );
    assert_eq!(
        curl_host("http", "shop.test", http, "/", &[]).body,
        "web GET /\n"
    );
    let again = converge(&engine, &model, out.serving.as_ref(), true).await;
    assert!(again.drift.is_empty(), "{:?}", again.drift);
}

/// `tls: auto` against Pebble: the certificate is issued before the route answers, and
/// chains to Pebble's root.
#[tokio::test]
async fn tls_auto_issues_from_an_acme_server() {
    let s = setup();
    let tmp = tempfile::tempdir().unwrap();
    let pebble = holdfast_testkit::engines::pebble::Pebble::start(&tmp.path().join("pebble"));
    let web = Backend::start("web");
    let mut model = single(s.http, s.https, "shop", &["shop.test"], &web);
    model.acme = Some(holdfast_proxy::model::Acme {
        email: Some("ops@shop.test".into()),
        ca: pebble.directory.clone(),
        ca_root: Some(pebble.tls_root.clone()),
    });
    model.routes.get_mut("shop").unwrap().tls = TlsModel::Acme;
    let out = converge(&s.engine, &model, None, true).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    let root = pebble.issuing_root(&tmp.path().join("pebble-root.pem"));
    let root = root.to_str().unwrap();
    let mut last = None;
    let ok = holdfast_testkit::wait_until(Duration::from_secs(30), || {
        let r = curl_host("https", "shop.test", s.https, "/", &["--cacert", root]);
        let hit = r.body == "web GET /\n";
        last = Some(r);
        hit
    });
    assert!(
        ok.is_some(),
        "never served with Pebble's certificate: {last:?}\n{}",
        s.caddy.daemon.log()
    );
}
