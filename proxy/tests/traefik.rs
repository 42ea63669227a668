//! The Traefik engine against a real Traefik 3 on loopback ports (see
//! `holdfast_testkit::engines::traefik`), driven as the controller drives it: through
//! `converge::converge` or `driver::Driver`.
//!
//! Each test starts its own Traefik in its own folder and kills it at the end. The
//! tests fail (they do not skip) when `traefik` is not on `PATH`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use holdfast_proxy::converge::{DriftWhat, converge, drift};
use holdfast_proxy::driver::Driver;
use holdfast_proxy::http::Endpoint;
use holdfast_proxy::model::{fixtures, sort_paths};
use holdfast_proxy::traefik::{FILE_NAME, Traefik, TraefikConfig};
use holdfast_proxy::{Engine, ProxyError, ProxyModel, Rendered, RouteResult, TlsModel, Upstream};
use holdfast_testkit::engines::traefik::TestTraefik;
use holdfast_testkit::wait_until;
use holdfast_testkit::web::{Backend, Curled, curl_host, free_port};

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn engine_for(t: &TestTraefik) -> Traefik {
    Traefik::new(TraefikConfig {
        dir: t.dynamic.clone(),
        api: Endpoint::Tcp(t.api_address()),
        https_port: t.websecure,
        log: Some(t.log.clone()),
        confirm_timeout: Duration::from_secs(5),
    })
}

/// A model on Traefik's entry points.
fn base() -> ProxyModel {
    on("web", "websecure")
}

/// A Traefik of its own, the engine for it, backend `A`, and a model on its entry points
/// without routes.
fn start() -> (TestTraefik, Traefik, Backend, ProxyModel) {
    let t = TestTraefik::start();
    let engine = engine_for(&t);
    (t, engine, Backend::start("A"), base())
}

fn pass(engine: &Traefik, m: &ProxyModel) -> holdfast_proxy::ConvergeOutcome {
    block(converge(engine, m, None, true))
}

fn get(t: &TestTraefik, host: &str, path: &str, extra: &[&str]) -> Curled {
    curl_host("http", host, t.web, path, extra)
}

fn drift_of(engine: &Traefik, m: &ProxyModel) -> Vec<(String, DriftWhat)> {
    let observed = block(engine.observe()).unwrap();
    drift(&engine.render(m), &observed)
        .into_iter()
        .map(|d| (d.section, d.what))
        .collect()
}

#[test]
fn routes_reach_their_backends_and_read_back_unchanged() {
    let (t, engine, a, mut m) = start();
    let (b, c, d, e) = (
        Backend::start("B"),
        Backend::start("C"),
        Backend::start("D"),
        Backend::start("E"),
    );
    let mut shop = route_to(&["shop.test"], &a);
    shop.paths.push(path("/api", true, &b));
    shop.paths.push(path("/static", false, &c));
    sort_paths(&mut shop.paths);
    m.routes.insert("shop".into(), shop);
    m.routes
        .insert("blog-two".into(), route_to(&["blog.test", "b.test"], &c));
    let mut rr = route_to(&["rr.test"], &d);
    rr.paths[0].upstreams.push(Upstream(e.address()));
    m.routes.insert("rr".into(), rr);
    let mut fwd = fixtures::route(&["fwd.test"], &echo_head_backend());
    fwd.paths[0].prefix = "/in".into();
    fwd.paths[0].strip_prefix = true;
    m.routes.insert("fwd".into(), fwd);

    let outcome = pass(&engine, &m);
    assert_serving(&outcome);
    let applied = outcome.applied.unwrap();
    assert_eq!((applied.mutations, applied.reloads), (1, 0));

    assert_eq!(get(&t, "shop.test", "/", &[]).body, "A GET /\n");
    assert_eq!(
        get(&t, "shop.test", "/api/x?q=1", &[]).body,
        "B GET /x?q=1\n"
    );
    assert_eq!(get(&t, "shop.test", "/api", &[]).body, "B GET /\n");
    assert_eq!(get(&t, "shop.test", "/apix", &[]).body, "A GET /apix\n");
    assert_eq!(
        get(&t, "shop.test", "/static/s.css", &[]).body,
        "C GET /static/s.css\n"
    );
    assert_eq!(get(&t, "blog.test", "/p", &[]).body, "C GET /p\n");
    assert_eq!(get(&t, "b.test", "/p", &[]).body, "C GET /p\n");
    // The original Host is passed on, with X-Forwarded-For, -Proto and -Host.
    let head = get(&t, "fwd.test", "/in/x", &[]).body.to_ascii_lowercase();
    assert!(head.starts_with("get /x http/1.1\r\n"), "{head}");
    for line in [
        "host: fwd.test:".to_string(),
        "x-forwarded-for: 127.0.0.1\r\n".to_string(),
        "x-forwarded-proto: http\r\n".to_string(),
        format!("x-forwarded-host: fwd.test:{}\r\n", t.web),
    ] {
        assert!(head.contains(&line), "{line:?} in {head}");
    }
    // Unknown hosts get Traefik's 404, never another route.
    let unknown = get(&t, "unknown.test", "/", &[]);
    assert_eq!(unknown.status, 404, "{unknown:?}");
    // Round-robin over the two upstreams.
    let bodies: Vec<String> = (0..4).map(|_| get(&t, "rr.test", "/", &[]).body).collect();
    assert!(bodies.iter().any(|b| b.starts_with("D ")), "{bodies:?}");
    assert!(bodies.iter().any(|b| b.starts_with("E ")), "{bodies:?}");

    // The live configuration reads back as the rendered one.
    let observed = block(engine.observe()).unwrap();
    assert_eq!(observed.sections, outcome.rendered.sections);
    assert_eq!(
        observed.generation.as_deref(),
        Some(outcome.rendered.hash.as_str())
    );
    assert!(observed.errors.is_empty(), "{:?}", observed.errors);
    assert!(drift(&outcome.rendered, &observed).is_empty());
    assert_eq!(
        observed.sections.keys().collect::<Vec<_>>(),
        [
            "proxy",
            "route/blog-two",
            "route/fwd",
            "route/rr",
            "route/shop"
        ]
    );
}

#[test]
fn a_second_pass_changes_nothing() {
    let (t, engine, a, mut m) = start();
    let engine = Arc::new(engine);
    m.routes.insert("shop".into(), route_to(&["shop.test"], &a));

    let driver = Driver::new(engine.clone(), Duration::from_millis(20));
    let first = block(driver.apply(m.clone(), Default::default()));
    assert_serving(&first);
    assert_eq!(first.applied.map(|a| a.mutations), Some(1));
    let file = t.dynamic.join(FILE_NAME);
    let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
    let log_len = t.log_text().len();

    let second = block(driver.apply(m.clone(), Default::default()));
    assert_serving(&second);
    assert!(second.drift.is_empty(), "{:?}", second.drift);
    assert_eq!(second.applied, None, "nothing is sent on an unchanged pass");
    // And a direct pass too.
    let third = pass(&engine, &m);
    assert_eq!(third.applied, None);
    assert_eq!(
        std::fs::metadata(&file).unwrap().modified().unwrap(),
        modified
    );
    // Applying the identical rendering writes nothing (mutations 0) either.
    let again = block(engine.apply(&first.rendered)).unwrap();
    assert_eq!((again.mutations, again.reloads), (0, 0));
    assert_eq!(
        std::fs::metadata(&file).unwrap().modified().unwrap(),
        modified
    );
    assert!(
        !t.log_text()[log_len..].contains("ERR"),
        "{}",
        &t.log_text()[log_len..]
    );
    assert_eq!(get(&t, "shop.test", "/", &[]).body, "A GET /\n");
}

#[test]
fn refused_routes_are_isolated_with_traefiks_message() {
    let (t, engine, a, mut m) = start();
    let certs = tempfile::tempdir().unwrap();
    let (good_cert, good_key) = certificate(certs.path(), "good.test");
    let (bad_cert, _) = certificate(certs.path(), "bad.test");
    let b = Backend::start("B");

    let mut good = route_to(&["good.test"], &a);
    good.tls = TlsModel::Files {
        cert: good_cert.clone(),
        key: good_key.clone(),
    };
    m.routes.insert("good".into(), good);
    m.routes
        .insert("plain".into(), route_to(&["plain.test"], &b));
    let first = pass(&engine, &m);
    assert_serving(&first);
    let last_good = first.serving.clone().unwrap();

    let mut desired = m.clone();
    // A key that does not match its certificate: Traefik only logs it.
    let mut bad = route_to(&["bad.test"], &a);
    bad.tls = TlsModel::Files {
        cert: bad_cert,
        key: good_key,
    };
    desired.routes.insert("bad".into(), bad);
    // An allow list Traefik cannot parse: the router is disabled, the API says why.
    let mut cidr = route_to(&["cidr.test"], &a);
    cidr.allow_ips = vec!["bogus".into()];
    desired.routes.insert("cidr".into(), cidr);
    // And a change that is fine.
    if let Some(p) = desired.routes.get_mut("plain") {
        p.paths[0].upstreams = vec![Upstream(a.address())];
    }

    let outcome = block(converge(&engine, &desired, Some(&last_good), true));
    match &outcome.routes["bad"] {
        RouteResult::Rejected(msg) => assert!(
            msg.contains("private key does not match public key"),
            "{msg}"
        ),
        other => panic!("bad: {other:?}"),
    }
    match &outcome.routes["cidr"] {
        RouteResult::Rejected(msg) => {
            assert!(msg.contains("invalid CIDR address: bogus"), "{msg}")
        }
        other => panic!("cidr: {other:?}"),
    }
    assert_eq!(outcome.routes["good"], RouteResult::Serving);
    assert_eq!(outcome.routes["plain"], RouteResult::Serving);
    let serving = outcome.serving.clone().unwrap();
    assert!(!serving.routes.contains_key("bad") && !serving.routes.contains_key("cidr"));

    let ca = good_cert.to_string_lossy().to_string();
    let https = curl_ca("good.test", t.websecure, "/", &ca);
    assert_eq!(https.body, "A GET /\n", "{https:?}");
    assert_eq!(get(&t, "plain.test", "/", &[]).body, "A GET /\n");
    // What Traefik serves is what holdfast says it serves.
    let observed = block(engine.observe()).unwrap();
    assert!(drift(&engine.render(&serving), &observed).is_empty());
    assert!(observed.errors.is_empty(), "{:?}", observed.errors);
}

#[test]
fn a_file_traefik_cannot_parse_is_rejected_and_put_back() {
    let (t, engine, a, mut m) = start();
    m.routes.insert("shop".into(), route_to(&["shop.test"], &a));
    assert_serving(&pass(&engine, &m));
    let before = std::fs::read_to_string(t.dynamic.join(FILE_NAME)).unwrap();

    m.routes.insert("blog".into(), route_to(&["blog.test"], &a));
    let good = engine.render(&m);
    // A field Traefik does not know: it drops the whole file (and keeps the old one).
    let text = good.files[FILE_NAME].replacen(
        "\"passHostHeader\"",
        "\"bogusField\": 1, \"passHostHeader\"",
        1,
    );
    let broken = Rendered {
        files: BTreeMap::from([(FILE_NAME.to_string(), text)]),
        ..good
    };
    let started = Instant::now();
    let err = block(engine.apply(&broken)).unwrap_err();
    match &err {
        ProxyError::Rejected { message, .. } => {
            assert!(message.contains("field not found"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        std::fs::read_to_string(t.dynamic.join(FILE_NAME)).unwrap(),
        before
    );
    assert_eq!(get(&t, "shop.test", "/", &[]).body, "A GET /\n");
    assert_eq!(get(&t, "blog.test", "/", &[]).status, 404);
}

#[test]
fn drift_is_seen_by_section_and_restored() {
    let (mut t, engine, a, mut m) = start();
    let (b, x) = (Backend::start("B"), Backend::start("X"));
    m.routes.insert("shop".into(), route_to(&["shop.test"], &a));
    m.routes.insert("blog".into(), route_to(&["blog.test"], &b));
    assert_serving(&pass(&engine, &m));

    // A hand edit of one route: its upstream.
    let file = t.dynamic.join(FILE_NAME);
    let text = std::fs::read_to_string(&file).unwrap();
    let edited = text.replace(&a.address(), &x.address());
    assert_ne!(edited, text);
    std::fs::write(&file, edited).unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || get(&t, "shop.test", "/", &[])
            .body
            .starts_with("X "))
        .is_some(),
        "Traefik did not load the hand edit"
    );
    assert_eq!(
        drift_of(&engine, &m),
        [("route/shop".to_string(), DriftWhat::Changed)]
    );
    let outcome = pass(&engine, &m);
    assert_serving(&outcome);
    assert!(outcome.applied.is_some());
    assert_eq!(get(&t, "shop.test", "/", &[]).body, "A GET /\n");
    assert!(drift_of(&engine, &m).is_empty());

    // A hand-added router of holdfast's names, and one of other names.
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let router = json["http"]["routers"]["hf-blog-p0"].clone();
    json["http"]["routers"]["hf-extra-p0"] = router.clone();
    json["http"]["routers"]["mine"] = router;
    std::fs::write(&file, json.to_string()).unwrap();
    assert_eq!(
        drift_of(&engine, &m),
        [
            ("proxy".to_string(), DriftWhat::Changed),
            ("route/extra".to_string(), DriftWhat::Unexpected)
        ]
    );
    assert_serving(&pass(&engine, &m));
    assert!(drift_of(&engine, &m).is_empty());

    // Traefik restarted without holdfast's file: every section is missing.
    t.stop();
    match block(engine.observe()) {
        Err(ProxyError::Unreachable { .. }) => {}
        other => panic!("observe of a stopped Traefik: {other:?}"),
    }
    let down = pass(&engine, &m);
    assert!(matches!(down.error, Some(ProxyError::Unreachable { .. })));
    assert!(matches!(down.routes["shop"], RouteResult::Failed(_)));
    std::fs::remove_file(&file).unwrap();
    t.start_again();
    assert_eq!(get(&t, "shop.test", "/", &[]).status, 404);
    assert_eq!(
        drift_of(&engine, &m),
        [
            ("proxy".to_string(), DriftWhat::Missing),
            ("route/blog".to_string(), DriftWhat::Missing),
            ("route/shop".to_string(), DriftWhat::Missing)
        ]
    );
    assert_serving(&pass(&engine, &m));
    assert_eq!(get(&t, "shop.test", "/", &[]).body, "A GET /\n");
    assert_eq!(get(&t, "blog.test", "/", &[]).body, "B GET /\n");
    assert!(drift_of(&engine, &m).is_empty());
}

#[test]
fn tls_files_are_served_and_http_redirects_to_https() {
    let (t, engine, a, mut m) = start();
    let certs = tempfile::tempdir().unwrap();
    let mut r = route_to(&["secure.test"], &a);
    let ca = tls_files(certs.path(), &mut r);
    m.routes.insert("secure".into(), r);
    assert_serving(&pass(&engine, &m));

    let https = curl_ca("secure.test", t.websecure, "/p?q=1", &ca);
    assert_eq!(https.status, 200, "{https:?}");
    assert_eq!(https.body, "A GET /p?q=1\n");
    let location = format!("https://secure.test:{}/p?q=1", t.websecure);
    // Traefik answers 301 to GET and 308 to other methods (see the engine's docs).
    let redirect = get(&t, "secure.test", "/p?q=1", &[]);
    assert_redirect(&redirect, 301, &location);
    let post = get(&t, "secure.test", "/p?q=1", &["-X", "POST", "-d", "x"]);
    assert_redirect(&post, 308, &location);
    // Following the redirect ends at the backend over verified TLS.
    let resolve = format!("secure.test:{}:127.0.0.1", t.websecure);
    let followed = curl_host(
        "http",
        "secure.test",
        t.web,
        "/p?q=1",
        &["-L", "--cacert", &ca, "--resolve", &resolve],
    );
    assert_eq!(followed.body, "A GET /p?q=1\n", "{followed:?}");
}

#[test]
fn headers_canonical_host_auth_allow_list_body_limit_and_unavailable() {
    let (t, engine, a, mut m) = start();

    let mut secure = route_to(&["headers.test"], &a);
    let (set, remove) = holdfast_spec::HeaderPreset::Secure.headers(true);
    secure.headers_set = set.clone();
    secure.headers_remove = remove.clone();
    m.routes.insert("headers".into(), secure);

    let mut canon = route_to(&["canon.test", "www.canon.test"], &a);
    canon.canonical_host = Some("canon.test".into());
    m.routes.insert("canon".into(), canon);

    let mut auth = route_to(&["auth.test"], &a);
    let (user, hash) = bcrypt("user", "secret");
    let (other, other_hash) = bcrypt("other", "pw2");
    // The same hash spelled $2b$ (and $2a$ by Apache's htpasswd) is accepted too.
    let other_hash = other_hash.replacen("$2y$", "$2b$", 1);
    auth.basic_auth = vec![(user, hash), (other, other_hash)];
    m.routes.insert("auth".into(), auth);

    let mut allow = route_to(&["allow.test"], &a);
    allow.allow_ips = vec!["127.0.0.1".into(), "10.0.0.0/8".into()];
    m.routes.insert("allow".into(), allow);

    let mut body = route_to(&["body.test"], &a);
    body.max_body = Some(100);
    m.routes.insert("body".into(), body);

    let mut down = route_to(&["down.test"], &a);
    down.paths.insert(0, common::down("/api", false, "svc-api"));
    m.routes.insert("down".into(), down);

    assert_serving(&pass(&engine, &m));

    // The header preset, exactly.
    let r = get(&t, "headers.test", "/", &[]);
    assert_eq!(r.status, 200);
    for (k, v) in &set {
        assert_eq!(r.header(k), Some(v.as_str()), "{k} in {:?}", r.headers);
    }
    for k in &remove {
        assert_eq!(r.header(k), None, "{k} in {:?}", r.headers);
    }
    assert!(set.contains_key("Strict-Transport-Security"));

    // Canonical host: 301 to GET, 308 otherwise, path and query kept.
    let location = format!("http://canon.test:{}/a/b?x=1&y=2", t.web);
    let r = get(&t, "www.canon.test", "/a/b?x=1&y=2", &[]);
    assert_redirect(&r, 301, &location);
    let r = get(&t, "www.canon.test", "/a/b?x=1&y=2", &["-X", "PUT"]);
    assert_redirect(&r, 308, &location);
    assert_eq!(get(&t, "canon.test", "/a", &[]).body, "A GET /a\n");

    // Basic auth.
    let r = get(&t, "auth.test", "/", &[]);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"restricted\"")
    );
    assert_eq!(get(&t, "auth.test", "/", &["-u", "user:wrong"]).status, 401);
    assert_eq!(
        get(&t, "auth.test", "/", &["-u", "user:secret"]).body,
        "A GET /\n"
    );
    assert_eq!(get(&t, "auth.test", "/", &["-u", "other:pw2"]).status, 200);

    // Allow list.
    assert_eq!(get(&t, "allow.test", "/", &[]).status, 200);
    let r = get(&t, "allow.test", "/", &["--interface", "127.0.0.2"]);
    assert_eq!(r.status, 403, "{r:?}");

    // Body limit.
    let small = "x".repeat(50);
    let large = "x".repeat(200);
    assert_eq!(get(&t, "body.test", "/", &["-d", &small]).status, 200);
    assert_eq!(get(&t, "body.test", "/", &["-d", &large]).status, 413);

    // A path without upstreams: 503 with Retry-After, never 502; the other path serves.
    let r = get(&t, "down.test", "/api/x", &[]);
    assert_unavailable(&r, None);
    // Traefik's own body: it cannot answer holdfast's page (see the engine's docs).
    assert!(r.body.contains("no available server"), "{r:?}");
    assert_eq!(get(&t, "down.test", "/", &[]).body, "A GET /\n");
}

#[test]
fn a_websocket_stays_open_while_a_route_is_added() {
    let (t, engine, _, mut m) = start();
    let (w, o) = (Backend::start("W"), Backend::start("O"));
    m.routes.insert("ws".into(), route_to(&["ws.test"], &w));
    assert_serving(&pass(&engine, &m));

    let mut ws = WebSocket::open(t.web, "ws.test");
    ws.echo(b"before");

    m.routes
        .insert("other".into(), route_to(&["other.test"], &o));
    let outcome = pass(&engine, &m);
    assert_serving(&outcome);
    assert_eq!(outcome.applied.map(|a| a.mutations), Some(1));
    assert_eq!(get(&t, "other.test", "/", &[]).body, "O GET /\n");
    ws.echo(b"after the change");
}

#[test]
fn an_unreachable_traefik_is_reported_and_nothing_is_written() {
    // No Traefik at all: nothing to start, nothing to find on PATH.
    let dir = tempfile::tempdir().unwrap();
    let engine = Traefik::new(TraefikConfig {
        dir: dir.path().to_path_buf(),
        api: Endpoint::Tcp(format!("127.0.0.1:{}", free_port())),
        ..TraefikConfig::default()
    });
    match block(engine.observe()) {
        Err(ProxyError::Unreachable { engine, .. }) => assert_eq!(engine, "traefik"),
        other => panic!("{other:?}"),
    }
    let rendered = engine.render(&fixtures::model("web", "websecure"));
    assert!(matches!(
        block(engine.apply(&rendered)),
        Err(ProxyError::Unreachable { .. })
    ));
    assert!(!dir.path().join(FILE_NAME).exists());
}

/// Many routes on one backend, `first..first+n`.
fn many(first: usize, n: usize, upstream: &Backend) -> ProxyModel {
    let mut m = base();
    for i in first..first + n {
        m.routes.insert(
            format!("r{i:04}"),
            route_to(&[&format!("r{i}.test")], upstream),
        );
    }
    m
}

/// Not an assertion of speed: the numbers for the report (`--nocapture`), bounded so
/// that a hang fails.
#[test]
fn timings_of_applies_and_of_the_throttle() {
    let (t, engine, a, _) = start();
    let mut m = many(0, 1, &a);
    assert_serving(&pass(&engine, &m));

    // Rename to loaded: after a quiet period, and right after another load.
    let mut quiet = Vec::new();
    let mut busy = Vec::new();
    for i in 0..3 {
        std::thread::sleep(Duration::from_millis(2_500));
        for (name, took) in [("q", &mut quiet), ("b", &mut busy)] {
            let host = format!("{name}{i}.test");
            m.routes
                .insert(format!("{name}{i}"), route_to(&[&host], &a));
            let start = Instant::now();
            block(engine.apply(&engine.render(&m))).unwrap();
            took.push(start.elapsed());
        }
    }
    eprintln!("rename to loaded after a quiet period: {quiet:?}");
    eprintln!("rename to loaded right after another load: {busy:?}");

    let mut first = 1000;
    for n in [10, 100, 1000] {
        std::thread::sleep(Duration::from_millis(2_500));
        let m = many(first, n, &a);
        let render_start = Instant::now();
        let rendered = engine.render(&m);
        let render = render_start.elapsed();
        let start = Instant::now();
        let applied = block(engine.apply(&rendered)).unwrap();
        let apply = start.elapsed();
        let start = Instant::now();
        let observed = block(engine.observe()).unwrap();
        let observe = start.elapsed();
        assert_eq!(applied.mutations, 1);
        assert!(drift(&rendered, &observed).is_empty());
        let last = format!("r{}.test", first + n - 1);
        assert_eq!(get(&t, &last, "/", &[]).body, "A GET /\n");
        eprintln!(
            "{n} routes: render {render:?}, apply {apply:?}, observe {observe:?}, file {} KiB",
            rendered.files[FILE_NAME].len() / 1024
        );
        assert!(apply < Duration::from_secs(5));
        first += n;
    }
}
