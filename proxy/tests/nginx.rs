//! The nginx engine against a real nginx (Debian's, with headers-more) of each test's
//! own, on free loopback ports, through `converge` as the controller uses it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use holdfast_proxy::converge::{DriftWhat, converge, drift};
use holdfast_proxy::driver::Driver;
use holdfast_proxy::model::{fixtures, sort_paths};
use holdfast_proxy::nginx::{Nginx, NginxConfig};
use holdfast_proxy::{
    Applied, ConvergeOutcome, Engine, ProxyError, ProxyModel, RouteResult, TlsModel,
};
use holdfast_spec::HeaderPreset;
use holdfast_testkit::engines::nginx::TestNginx;
use holdfast_testkit::wait_until;
use holdfast_testkit::web::{Backend, Curled, curl, curl_host};

fn engine(n: &TestNginx) -> Nginx {
    Nginx::new(NginxConfig {
        dir: n.include_dir.clone(),
        nginx_conf: n.conf.clone(),
        binary: n.binary(),
        prefix: Some(n.root.clone()),
        probe: None,
    })
}

/// A test nginx of its own, the engine for it, backend `a`, and a model on the nginx's
/// ports without routes.
fn start() -> (TestNginx, Nginx, Backend, ProxyModel) {
    let n = TestNginx::start();
    let e = engine(&n);
    let m = on(&n.http(), &n.https());
    (n, e, Backend::start("a"), m)
}

async fn pass(engine: &Nginx, model: &ProxyModel) -> ConvergeOutcome {
    let out = converge(engine, model, None, true).await;
    assert_serving(&out);
    out
}

/// No drift between what the engine renders for `model` and what nginx runs.
async fn assert_no_drift(engine: &Nginx, model: &ProxyModel) {
    let rendered = engine.render(model);
    let observed = engine.observe().await.unwrap();
    assert_eq!(observed.sections, rendered.sections);
    assert_eq!(observed.generation.as_deref(), Some(rendered.hash.as_str()));
    assert_eq!(drift(&rendered, &observed), vec![]);
}

/// The drift a pass saw, by section.
fn drift_by_section(out: &ConvergeOutcome) -> BTreeMap<&str, DriftWhat> {
    out.drift
        .iter()
        .map(|d| (d.section.as_str(), d.what))
        .collect()
}

fn get(n: &TestNginx, host: &str, path: &str, extra: &[&str]) -> Curled {
    curl_host("http", host, n.http_port, path, extra)
}

#[tokio::test]
async fn routes_reach_their_backends_and_read_back_without_drift() {
    let (n, e, a, mut m) = start();
    let (b, c, d) = (
        Backend::start("b"),
        Backend::start("c"),
        Backend::start("d"),
    );
    let mut shop = route_to(&["shop.test"], &a);
    shop.paths = vec![path("/", false, &a), path("/api", true, &b)];
    sort_paths(&mut shop.paths);
    m.routes.insert("shop".into(), shop);
    let mut blog = route_to(&["blog.test"], &c);
    blog.paths = vec![
        path_to("/", false, "web", &[&c, &d]),
        path("/raw", false, &b),
    ];
    sort_paths(&mut blog.paths);
    m.routes.insert("blog".into(), blog);

    let out = pass(&e, &m).await;
    assert_eq!(
        out.applied,
        Some(Applied {
            mutations: 3,
            reloads: 1
        })
    );

    let body = |host: &str, p: &str| get(&n, host, p, &[]).body;
    assert_eq!(body("shop.test", "/"), "a GET /\n");
    assert_eq!(body("shop.test", "/x/y?q=1"), "a GET /x/y?q=1\n");
    assert_eq!(body("shop.test", "/api/x?q=1"), "b GET /x?q=1\n");
    assert_eq!(body("shop.test", "/api"), "b GET /\n");
    assert_eq!(body("shop.test", "/api/"), "b GET /\n");
    assert_eq!(body("shop.test", "/apix"), "a GET /apix\n");
    // Without strip_prefix the prefix stays.
    assert_eq!(body("blog.test", "/raw/z"), "b GET /raw/z\n");
    assert_eq!(body("blog.test", "/raw"), "b GET /raw\n");
    // Round-robin over the two upstreams.
    let seen: BTreeSet<String> = (0..6)
        .map(|_| {
            body("blog.test", "/")
                .split(' ')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(seen, BTreeSet::from(["c".to_string(), "d".to_string()]));
    // An unknown host gets nginx's 404, never a route.
    let unknown = get(&n, "other.test", "/", &[]);
    assert_eq!(unknown.status, 404);
    assert!(!unknown.body.contains("GET"), "{}", unknown.body);

    assert_no_drift(&e, &m).await;
}

#[tokio::test]
async fn a_second_pass_changes_nothing_and_keeps_the_workers() {
    let (n, e, a, mut m) = start();
    let e = Arc::new(e);
    m.routes.insert("shop".into(), route_to(&["shop.test"], &a));

    let driver = Driver::new(e.clone(), Duration::from_millis(10));
    let first = driver.apply(m.clone(), Default::default()).await;
    assert_eq!(
        first.applied.map(|a| a.reloads),
        Some(1),
        "{:?}",
        first.error
    );
    let workers = n.settled_workers();

    let second = driver.apply(m.clone(), Default::default()).await;
    assert_eq!(second.drift, vec![]);
    assert_eq!(second.applied, None);
    assert_eq!(second.routes["shop"], RouteResult::Serving);
    // Even handed the same configuration directly, the engine leaves nginx alone.
    assert_eq!(e.apply(&e.render(&m)).await.unwrap(), Applied::default());
    assert_eq!(
        n.worker_pids(),
        workers,
        "a no-op pass must not reload nginx"
    );
    assert_eq!(get(&n, "shop.test", "/", &[]).body, "a GET /\n");

    // Measured: a change through the engine, five times.
    let mut totals = Vec::new();
    for i in 0..5 {
        let mut changed = m.clone();
        changed
            .routes
            .insert(format!("r{i}"), route_to(&[&format!("r{i}.test")], &a));
        let start = Instant::now();
        let applied = e.apply(&e.render(&changed)).await.unwrap();
        let took = start.elapsed();
        assert_eq!(applied.reloads, 1);
        assert_eq!(get(&n, &format!("r{i}.test"), "/", &[]).status, 200);
        let t = e.last_apply().unwrap();
        eprintln!(
            "nginx apply {i}: total {} ms (nginx -t {} ms, reload to serving {} ms), measured {} ms",
            t.total.as_millis(),
            t.test.as_millis(),
            t.reload_to_serving.as_millis(),
            took.as_millis()
        );
        totals.push(took);
    }
    assert!(
        totals.iter().all(|t| *t < Duration::from_secs(3)),
        "{totals:?}"
    );
}

#[tokio::test]
async fn a_key_that_does_not_match_its_cert_is_rejected_alone() {
    let (n, e, a, mut m) = start();
    let tmp = tempfile::tempdir().unwrap();
    let (cert, _) = certificate(tmp.path(), "bad.test");
    let (_, other_key) = certificate(tmp.path(), "other.test");
    m.routes.insert("good".into(), route_to(&["good.test"], &a));
    let mut bad = route_to(&["bad.test"], &a);
    bad.tls = TlsModel::Files {
        cert,
        key: other_key,
    };
    m.routes.insert("bad".into(), bad);

    let out = converge(&e, &m, None, true).await;
    assert_eq!(out.routes["good"], RouteResult::Serving, "{:?}", out.error);
    let RouteResult::Rejected(message) = &out.routes["bad"] else {
        panic!("the bad route is not rejected: {:?}", out.routes);
    };
    assert!(
        message.contains("SSL_CTX_use_PrivateKey") && message.contains("key values mismatch"),
        "not nginx's own message: {message}"
    );
    // Without the time and pid, so that the same refusal reads the same at every pass.
    assert!(
        message.starts_with("[emerg] SSL_CTX_use_PrivateKey"),
        "{message}"
    );
    assert_eq!(get(&n, "good.test", "/", &[]).status, 200);
    // What serves is the desired model without the bad route, and reads back so.
    let serving = out.serving.expect("a model serves");
    assert!(!serving.routes.contains_key("bad"));
    assert_no_drift(&e, &serving).await;
}

#[tokio::test]
async fn a_port_the_master_cannot_bind_is_rejected_and_the_previous_files_serve() {
    let (n, e, a, mut m) = start();
    let tmp = tempfile::tempdir().unwrap();
    m.routes.insert("shop".into(), route_to(&["shop.test"], &a));
    pass(&e, &m).await;
    let before = e.render(&m);

    // `nginx -t` does not bind; the master does, at the reload, and fails.
    let _blocker = TcpListener::bind(n.https()).unwrap();
    let mut next = m.clone();
    let mut secure = route_to(&["secure.test"], &a);
    tls_files(tmp.path(), &mut secure);
    next.routes.insert("secure".into(), secure);
    let start = Instant::now();
    let err = e.apply(&e.render(&next)).await.unwrap_err();
    eprintln!(
        "refusal detected and restored in {} ms",
        start.elapsed().as_millis()
    );
    let ProxyError::Rejected { message, .. } = &err else {
        panic!("not a rejection: {err}");
    };
    assert!(message.contains("Address already in use"), "{message}");
    let observed = e.observe().await.unwrap();
    assert_eq!(observed.sections, before.sections);
    assert_eq!(observed.generation.as_deref(), Some(before.hash.as_str()));
    assert_eq!(get(&n, "shop.test", "/", &[]).body, "a GET /\n");
}

#[tokio::test]
async fn drift_of_a_hand_edit_and_of_a_restart_is_seen_and_restored() {
    let (mut n, e, a, mut m) = start();
    let b = Backend::start("b");
    m.routes.insert("shop".into(), route_to(&["shop.test"], &a));
    m.routes.insert("blog".into(), route_to(&["blog.test"], &b));
    pass(&e, &m).await;

    // Hand edits of holdfast's part.
    let dir = n.include_dir.clone();
    let shop = dir.join("shop.conf");
    let text = std::fs::read_to_string(&shop).unwrap();
    std::fs::write(
        &shop,
        text.replace("client_max_body_size 100m", "client_max_body_size 1k"),
    )
    .unwrap();
    std::fs::write(dir.join("stranger.conf"), "# not from holdfast\n").unwrap();
    std::fs::remove_file(dir.join("blog.conf")).unwrap();
    let plan = converge(&e, &m, None, false).await;
    assert_eq!(
        drift_by_section(&plan),
        BTreeMap::from([
            ("route/blog", DriftWhat::Missing),
            ("route/shop", DriftWhat::Changed),
            ("route/stranger", DriftWhat::Unexpected),
        ])
    );
    assert_eq!(plan.routes["shop"], RouteResult::Differs);
    let fixed = pass(&e, &m).await;
    assert_eq!(fixed.applied.map(|a| a.reloads), Some(1));
    assert!(!dir.join("stranger.conf").exists());
    assert_no_drift(&e, &m).await;
    assert_eq!(get(&n, "blog.test", "/", &[]).body, "b GET /\n");

    // Restarted from the same files: the same generation, no drift.
    n.stop();
    n.start_again();
    let again = pass(&e, &m).await;
    assert_eq!(again.drift, vec![]);
    assert_eq!(again.applied, None);

    // Restarted without its state (the include directory lost): every section is
    // missing, and the next pass puts them back.
    n.stop();
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::create_dir(&dir).unwrap();
    n.start_again();
    let lost = pass(&e, &m).await;
    assert_eq!(
        drift_by_section(&lost),
        BTreeMap::from([
            ("proxy", DriftWhat::Missing),
            ("route/blog", DriftWhat::Missing),
            ("route/shop", DriftWhat::Missing),
        ])
    );
    assert_eq!(lost.applied.map(|a| a.reloads), Some(1));
    assert_eq!(get(&n, "shop.test", "/", &[]).body, "a GET /\n");
    assert_no_drift(&e, &m).await;
}

#[tokio::test]
async fn tls_files_are_served_for_the_host_and_http_redirects() {
    let (n, e, a, mut m) = start();
    let tmp = tempfile::tempdir().unwrap();
    let mut secure = route_to(&["secure.test"], &a);
    let cacert = tls_files(tmp.path(), &mut secure);
    m.routes.insert("secure".into(), secure);
    m.routes
        .insert("plain".into(), route_to(&["plain.test"], &a));
    pass(&e, &m).await;

    let ok = curl_ca("secure.test", n.https_port, "/p?q=1", &cacert);
    assert_eq!(ok.status, 200, "{}", ok.error);
    assert_eq!(ok.body, "a GET /p?q=1\n");
    let redirect = get(&n, "secure.test", "/p?q=1", &[]);
    let location = format!("https://secure.test:{}/p?q=1", n.https_port);
    assert_redirect(&redirect, 308, &location);
    // A TLS-off route is served on HTTP, and has no HTTPS server.
    assert_eq!(get(&n, "plain.test", "/", &[]).status, 200);
    let plain_tls = curl_host("https", "plain.test", n.https_port, "/", &["-k"]);
    assert_eq!(plain_tls.status, 0, "plain.test must not answer on HTTPS");
    assert_no_drift(&e, &m).await;
}

#[tokio::test]
async fn no_tls_route_means_nothing_listens_on_https() {
    let (n, e, a, mut m) = start();
    m.routes
        .insert("plain".into(), route_to(&["plain.test"], &a));
    pass(&e, &m).await;
    assert!(TcpStream::connect(n.https()).is_err());
}

#[tokio::test]
async fn the_secure_preset_sets_and_removes_exactly_its_headers() {
    let (n, e, a, mut m) = start();
    let tmp = tempfile::tempdir().unwrap();
    let mut r = route_to(&["secure.test"], &a);
    let cacert = tls_files(tmp.path(), &mut r);
    (r.headers_set, r.headers_remove) = HeaderPreset::Secure.headers(true);
    r.paths.push(down("/down", false, "down"));
    sort_paths(&mut r.paths);
    m.routes.insert("secure".into(), r.clone());
    pass(&e, &m).await;

    for (p, status) in [("/", 200), ("/down", 503)] {
        let got = curl_ca("secure.test", n.https_port, p, &cacert);
        assert_eq!(got.status, status, "{p}: {}", got.error);
        for (k, v) in &r.headers_set {
            assert_eq!(
                got.header(k),
                Some(v.as_str()),
                "{p}: {k} in {:?}",
                got.headers
            );
        }
        assert_eq!(got.header("server"), None, "{p}: {:?}", got.headers);
        assert_eq!(got.header("x-powered-by"), None, "{p}: {:?}", got.headers);
        let names: BTreeSet<&str> = got.headers.iter().map(|(k, _)| k.as_str()).collect();
        let expected: BTreeSet<String> = r
            .headers_set
            .keys()
            .map(|k| k.to_ascii_lowercase())
            .chain(["content-type", "content-length", "date", "connection"].map(String::from))
            .chain((status == 503).then(|| "retry-after".to_string()))
            .collect();
        let expected: BTreeSet<&str> = expected.iter().map(String::as_str).collect();
        assert_eq!(names, expected, "{p}");
    }
    // The redirect to HTTPS is the route's response too.
    let moved = get(&n, "secure.test", "/", &[]);
    assert_eq!(moved.status, 308);
    assert_eq!(moved.header("server"), None, "{:?}", moved.headers);
    assert_eq!(moved.header("x-frame-options"), Some("DENY"));
}

#[tokio::test]
async fn the_host_and_forwarded_headers_reach_the_backend() {
    let (n, e, _, mut m) = start();
    let address = echo_head_backend();
    m.routes
        .insert("app".into(), fixtures::route(&["app.test"], &address));
    pass(&e, &m).await;

    let got = get(&n, "app.test", "/x?y=1", &[]);
    assert_eq!(got.status, 200, "{}", got.error);
    let head = got.body;
    let lines: BTreeSet<String> = head.lines().map(|l| l.to_ascii_lowercase()).collect();
    let host = format!("app.test:{}", n.http_port);
    for expected in [
        "get /x?y=1 http/1.1".to_string(),
        format!("host: {host}"),
        "x-forwarded-for: 127.0.0.1".to_string(),
        "x-forwarded-proto: http".to_string(),
        format!("x-forwarded-host: {host}"),
    ] {
        assert!(lines.contains(&expected), "{expected:?} not in {head}");
    }
}

#[tokio::test]
async fn the_other_hosts_redirect_to_the_canonical_one_keeping_path_and_query() {
    let (n, e, a, mut m) = start();
    let mut r = route_to(&["shop.test", "www.shop.test"], &a);
    r.canonical_host = Some("shop.test".into());
    m.routes.insert("shop".into(), r);
    pass(&e, &m).await;

    let moved = get(&n, "www.shop.test", "/a/b?x=1&y=2", &[]);
    let location = format!("http://shop.test:{}/a/b?x=1&y=2", n.http_port);
    assert_redirect(&moved, 308, &location);
    assert_eq!(
        get(&n, "shop.test", "/a/b?x=1", &[]).body,
        "a GET /a/b?x=1\n"
    );
}

#[tokio::test]
async fn basic_auth_asks_and_lets_the_right_user_in() {
    let (n, e, a, mut m) = start();
    let tmp = tempfile::tempdir().unwrap();
    let (file, users) = htpasswd(tmp.path(), "alice", "s3cret");
    let mut r = route_to(&["private.test"], &a);
    r.basic_auth = users;
    r.basic_auth_file = Some(file);
    m.routes.insert("private".into(), r);
    pass(&e, &m).await;

    let anonymous = get(&n, "private.test", "/", &[]);
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        anonymous.header("www-authenticate"),
        Some("Basic realm=\"restricted\"")
    );
    assert_eq!(
        get(&n, "private.test", "/", &["-u", "alice:wrong"]).status,
        401
    );
    let ok = get(&n, "private.test", "/", &["-u", "alice:s3cret"]);
    assert_eq!(ok.status, 200, "bcrypt must verify: {}", n.error_log());
    assert_eq!(ok.body, "a GET /\n");
}

#[tokio::test]
async fn allow_ips_keep_other_clients_out() {
    let (n, e, a, mut m) = start();
    let mut r = route_to(&["inner.test"], &a);
    r.allow_ips = vec!["127.0.0.1".into()];
    r.paths.push(down("/down", false, "down"));
    sort_paths(&mut r.paths);
    m.routes.insert("inner".into(), r);
    pass(&e, &m).await;

    assert_eq!(get(&n, "inner.test", "/", &[]).status, 200);
    let outside = get(&n, "inner.test", "/", &["--interface", "127.0.0.2"]);
    assert_eq!(outside.status, 403, "{}", outside.error);
    // Also where the service is down: the access check comes first.
    assert_eq!(
        get(&n, "inner.test", "/down", &["--interface", "127.0.0.2"]).status,
        403
    );
}

#[tokio::test]
async fn a_body_over_max_body_gets_413() {
    let (n, e, a, mut m) = start();
    let mut r = route_to(&["upload.test"], &a);
    r.max_body = Some(1024);
    m.routes.insert("upload".into(), r);
    m.routes.insert("free".into(), route_to(&["free.test"], &a));
    pass(&e, &m).await;

    let tmp = tempfile::tempdir().unwrap();
    let small = tmp.path().join("small");
    let big = tmp.path().join("big");
    std::fs::write(&small, vec![b'x'; 1000]).unwrap();
    std::fs::write(&big, vec![b'x'; 2048]).unwrap();
    let post = |host: &str, f: &Path| {
        let arg = format!("@{}", f.display());
        get(&n, host, "/", &["--data-binary", &arg]).status
    };
    assert_eq!(post("upload.test", &small), 200);
    assert_eq!(post("upload.test", &big), 413);
    // Without max_body the default (100m) takes more than nginx's own 1m.
    let two_mb = tmp.path().join("two_mb");
    std::fs::write(&two_mb, vec![b'x'; 2 << 20]).unwrap();
    assert_eq!(post("free.test", &two_mb), 200);
}

#[tokio::test]
async fn a_path_without_upstreams_answers_503_with_the_page() {
    let (n, e, a, mut m) = start();
    let mut r = route_to(&["shop.test"], &a);
    r.paths = vec![path("/", false, &a), down("/api", true, "api")];
    sort_paths(&mut r.paths);
    m.routes.insert("shop".into(), r);
    pass(&e, &m).await;

    for p in ["/api", "/api/x?y=1"] {
        assert_unavailable(&get(&n, "shop.test", p, &[]), Some("api"));
    }
    assert_eq!(get(&n, "shop.test", "/apix", &[]).body, "a GET /apix\n");
    assert_no_drift(&e, &m).await;
}

#[tokio::test]
async fn a_websocket_stays_open_while_a_route_is_added() {
    let (n, e, a, mut m) = start();
    let b = Backend::start("b");
    m.routes.insert("chat".into(), route_to(&["chat.test"], &a));
    pass(&e, &m).await;

    let mut ws = WebSocket::open(n.http_port, "chat.test");
    ws.echo(b"before\n");

    let mut more = m.clone();
    more.routes
        .insert("news".into(), route_to(&["news.test"], &b));
    let out = pass(&e, &more).await;
    assert_eq!(out.applied.map(|a| a.reloads), Some(1));
    assert_eq!(get(&n, "news.test", "/", &[]).body, "b GET /\n");
    ws.echo(b"after the reload\n");
}

#[tokio::test]
async fn an_nginx_that_does_not_answer_is_unreachable() {
    let (mut n, e, a, mut m) = start();
    m.routes.insert("shop".into(), route_to(&["shop.test"], &a));
    pass(&e, &m).await;
    n.stop();
    let err = e.observe().await.unwrap_err();
    assert!(matches!(err, ProxyError::Unreachable { .. }), "{err}");
    // An apply cannot reload it either, and leaves the files as they were.
    let before = std::fs::read_to_string(n.include_dir.join("shop.conf")).unwrap();
    m.routes.insert("blog".into(), route_to(&["blog.test"], &a));
    let err = e.apply(&e.render(&m)).await.unwrap_err();
    assert!(matches!(err, ProxyError::Unreachable { .. }), "{err}");
    assert!(!n.include_dir.join("blog.conf").exists());
    assert_eq!(
        std::fs::read_to_string(n.include_dir.join("shop.conf")).unwrap(),
        before
    );
    // Started again from its files, it serves what it served.
    n.start_again();
    let rendered_before = {
        let mut old = m.clone();
        old.routes.remove("blog");
        e.render(&old)
    };
    assert!(
        wait_until(Duration::from_secs(5), || curl(&[
            "--resolve",
            &format!("shop.test:{}:127.0.0.1", n.http_port),
            &format!("http://shop.test:{}/", n.http_port)
        ])
        .status
            == 200)
        .is_some()
    );
    assert_eq!(
        e.observe().await.unwrap().generation.as_deref(),
        Some(rendered_before.hash.as_str())
    );
}
