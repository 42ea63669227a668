//! What the engine tests share: models, the checks every engine must pass alike, TLS
//! files, basic-auth users, backends that show what they got, and a raw WebSocket.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use holdfast_proxy::ConvergeOutcome;
use holdfast_proxy::converge::RouteResult;
use holdfast_proxy::model::{PathModel, ProxyModel, RouteModel, TlsModel, fixtures};
use holdfast_spec::HeaderPreset;
use holdfast_testkit::web::{Backend, Curled, curl_host, free_port, self_signed};

/// Two free ports: HTTP and HTTPS.
pub fn ports() -> (u16, u16) {
    (free_port(), free_port())
}

/// An empty model on listeners `http` and `https` (addresses, or Traefik's entry point
/// names), with a 5 s grace period.
pub fn on(http: &str, https: &str) -> ProxyModel {
    let mut m = fixtures::empty(fixtures::listen(http, https));
    m.grace_period = Duration::from_secs(5);
    m
}

/// An empty model on 127.0.0.1 ports.
pub fn empty(http: u16, https: u16) -> ProxyModel {
    on(&format!("127.0.0.1:{http}"), &format!("127.0.0.1:{https}"))
}

/// A plain-HTTP route for `hosts`, `/` to `backend`.
pub fn route_to(hosts: &[&str], backend: &Backend) -> RouteModel {
    fixtures::route_with(hosts, vec![path("/", false, backend)])
}

/// A path to `backend`, the service named after it.
pub fn path(prefix: &str, strip: bool, backend: &Backend) -> PathModel {
    path_to(prefix, strip, &backend.name, &[backend])
}

/// A path of `service` to `backends`, taken in turn.
pub fn path_to(prefix: &str, strip: bool, service: &str, backends: &[&Backend]) -> PathModel {
    let addresses: Vec<String> = backends.iter().map(|b| b.address()).collect();
    let addresses: Vec<&str> = addresses.iter().map(String::as_str).collect();
    fixtures::path(prefix, strip, service, &addresses)
}

/// A path of `service` without upstreams (the service is not Ready): it answers 503.
pub fn down(prefix: &str, strip: bool, service: &str) -> PathModel {
    fixtures::path(prefix, strip, service, &[])
}

/// One route `name`.
pub fn single(http: u16, https: u16, name: &str, hosts: &[&str], backend: &Backend) -> ProxyModel {
    let mut m = empty(http, https);
    m.routes.insert(name.into(), route_to(hosts, backend));
    m
}

/// Every route of the outcome serves, and the pass had no error.
pub fn assert_serving(outcome: &ConvergeOutcome) {
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    for (name, r) in &outcome.routes {
        assert_eq!(r, &RouteResult::Serving, "route {name}");
    }
}

/// `shop` (`/api` stripped to `api`, `/` to `web`) and `blog`.
pub fn two_sites(
    http: u16,
    https: u16,
    web: &Backend,
    api: &Backend,
    blog: &Backend,
) -> ProxyModel {
    let mut m = empty(http, https);
    let mut shop = route_to(&["shop.test", "www.shop.test"], web);
    shop.paths = vec![path("/api", true, api), path("/", false, web)];
    m.routes.insert("shop".into(), shop);
    m.routes
        .insert("blog".into(), route_to(&["blog.test"], blog));
    m
}

/// What [`two_sites`] must serve.
pub fn check_two_sites(http: u16) {
    let get = |host: &str, path: &str| curl_host("http", host, http, path, &[]);
    assert_eq!(get("shop.test", "/api/x?q=1").body, "api GET /x?q=1\n");
    assert_eq!(get("shop.test", "/api").body, "api GET /\n");
    assert_eq!(get("shop.test", "/apix").body, "web GET /apix\n");
    assert_eq!(get("www.shop.test", "/").body, "web GET /\n");
    assert_eq!(get("blog.test", "/api/x").body, "blog GET /api/x\n");
}

/// A self-signed certificate for `host` and `www.host` in `dir` (see
/// [`self_signed`]).
pub fn certificate(dir: &Path, host: &str) -> (PathBuf, PathBuf) {
    self_signed(
        dir,
        host,
        &[&format!("DNS:{host}"), &format!("DNS:www.{host}")],
    )
}

/// Serves `route` over TLS with a [`certificate`] for its first host, made in `dir`;
/// returns the certificate's path, the CA to trust (`--cacert`).
pub fn tls_files(dir: &Path, route: &mut RouteModel) -> String {
    let (cert, key) = certificate(dir, &route.hosts[0]);
    let cacert = cert.display().to_string();
    route.tls = TlsModel::Files { cert, key };
    cacert
}

/// `curl` of `https://HOST:PORT/PATH` trusting `cacert`.
pub fn curl_ca(host: &str, port: u16, path: &str, cacert: &str) -> Curled {
    curl_host("https", host, port, path, &["--cacert", cacert])
}

/// `(user, bcrypt hash)` for `password`, made with `htpasswd -nbB`.
pub fn bcrypt(user: &str, password: &str) -> (String, String) {
    let out = Command::new("htpasswd")
        .args(["-nbB", user, password])
        .output()
        .expect("run htpasswd (apache2-utils)");
    assert!(out.status.success());
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let (user, hash) = line.split_once(':').unwrap();
    (user.to_string(), hash.to_string())
}

/// `user:password` in an htpasswd file (`users.htpasswd` in `dir`) of a [`bcrypt`] hash,
/// and the pairs it holds.
pub fn htpasswd(dir: &Path, user: &str, password: &str) -> (PathBuf, Vec<(String, String)>) {
    let (user, hash) = bcrypt(user, password);
    let file = dir.join("users.htpasswd");
    std::fs::write(&file, format!("{user}:{hash}\n")).unwrap();
    (file, vec![(user, hash)])
}

/// `r` redirects with `status` to `location`.
pub fn assert_redirect(r: &Curled, status: u16, location: &str) {
    assert_eq!(r.status, status, "{r:?}");
    assert_eq!(r.header("location"), Some(location), "{r:?}");
}

/// `r` is a 503 with `Retry-After` and an HTML body: holdfast's page for `service`, or
/// the engine's own body where `service` is `None` (Traefik cannot answer the page).
pub fn assert_unavailable(r: &Curled, service: Option<&str>) {
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(
        r.header("retry-after"),
        Some(holdfast_proxy::page::RETRY_AFTER)
    );
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    if let Some(service) = service {
        assert_eq!(r.body, holdfast_proxy::page::unavailable(service));
    }
}

/// `shop` on `shop.test` (canonical) and `www.shop.test`, TLS from files, the secure
/// header preset, basic auth, only 127.0.0.1, 1 KiB bodies; `/down` has no upstream.
pub fn full_featured(dir: &Path, http: u16, https: u16, web: &Backend) -> ProxyModel {
    let (cert, key) = certificate(dir, "shop.test");
    let (file, users) = htpasswd(dir, "admin", "s3cret");
    let (set, remove) = HeaderPreset::Secure.headers(true);
    let mut m = empty(http, https);
    let mut shop = route_to(&["shop.test", "www.shop.test"], web);
    shop.canonical_host = Some("shop.test".into());
    shop.tls = TlsModel::Files { cert, key };
    shop.headers_set = set;
    shop.headers_remove = remove;
    shop.basic_auth = users;
    shop.basic_auth_file = Some(file);
    shop.allow_ips = vec!["127.0.0.1/32".into()];
    shop.max_body = Some(1024);
    shop.paths = vec![down("/down", false, "worker"), path("/", false, web)];
    m.routes.insert("shop".into(), shop);
    m
}

/// What [`full_featured`] must serve, on every engine alike. `has_page`: whether the
/// engine serves holdfast's 503 page (Traefik serves its own body).
pub fn check_full_featured(dir: &Path, http: u16, https: u16, has_page: bool) {
    let cacert = dir.join("shop.test.crt");
    let cacert = cacert.to_str().unwrap();
    let auth = ["--cacert", cacert, "-u", "admin:s3cret"];

    // http → https, then www → canonical.
    let r = curl_host("http", "www.shop.test", http, "/a/b?c=1&d=2", &[]);
    assert_redirect(&r, 308, &format!("https://shop.test:{https}/a/b?c=1&d=2"));
    let r = curl_host("https", "www.shop.test", https, "/a/b?c=1", &auth);
    assert_redirect(&r, 308, &format!("https://shop.test:{https}/a/b?c=1"));

    let r = curl_host("https", "shop.test", https, "/", &auth);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, "web GET /\n");
    assert_eq!(
        r.header("strict-transport-security"),
        Some(holdfast_spec::HSTS)
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(
        r.header("referrer-policy"),
        Some("strict-origin-when-cross-origin")
    );
    assert_eq!(r.header("server"), None, "Server removed: {r:?}");
    assert_eq!(r.header("x-powered-by"), None);

    let r = curl_host("https", "shop.test", https, "/", &["--cacert", cacert]);
    assert_eq!(r.status, 401, "{r:?}");
    let r = curl_host(
        "https",
        "shop.test",
        https,
        "/",
        &["--cacert", cacert, "-u", "admin:wrong"],
    );
    assert_eq!(r.status, 401);
    let r = curl_host(
        "https",
        "shop.test",
        https,
        "/",
        &[
            "--cacert",
            cacert,
            "-u",
            "admin:s3cret",
            "--interface",
            "127.0.0.2",
        ],
    );
    assert_eq!(r.status, 403, "from 127.0.0.2: {r:?}");

    let body = "x".repeat(4096);
    let mut big = auth.to_vec();
    big.extend(["--data-binary", body.as_str()]);
    let r = curl_host("https", "shop.test", https, "/upload", &big);
    assert_eq!(r.status, 413, "{r:?}");
    let mut small = auth.to_vec();
    small.extend(["--data-binary", "small"]);
    assert_eq!(
        curl_host("https", "shop.test", https, "/upload", &small).body,
        "web POST /upload\n"
    );

    let r = curl_host("https", "shop.test", https, "/down/x", &auth);
    assert_unavailable(&r, has_page.then_some("worker"));
}

/// A WebSocket through the proxy, without framing: after the 101 the backend echoes
/// raw bytes, which is all a proxy tunnels.
pub struct WebSocket(TcpStream);

impl WebSocket {
    /// Opens one to `host` on the HTTP port.
    pub fn open(port: u16, host: &str) -> WebSocket {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            s,
            "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(
                s.read(&mut byte).unwrap(),
                1,
                "connection closed during upgrade"
            );
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        WebSocket(s)
    }

    /// Writes `bytes` and reads them back.
    pub fn echo(&mut self, bytes: &[u8]) {
        self.0.write_all(bytes).unwrap();
        let mut back = vec![0u8; bytes.len()];
        self.0
            .read_exact(&mut back)
            .unwrap_or_else(|e| panic!("the WebSocket was closed: {e}"));
        assert_eq!(back, bytes);
    }
}

/// A backend on 127.0.0.1 that answers each request with its head as the body, to see
/// what the proxy passes on. Returns its address.
pub fn echo_head_backend() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                head.len()
            );
            let _ = stream.write_all(&head);
        }
    });
    address
}
