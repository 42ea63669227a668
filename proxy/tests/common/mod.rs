//! What the engine tests share: models, the checks every engine must pass alike, TLS
//! files, and a raw WebSocket.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use holdfast_proxy::model::{Listen, PathModel, ProxyModel, RouteModel, TlsModel, Upstream};
use holdfast_spec::HeaderPreset;
use holdfast_testkit::web::{Backend, curl_host, free_port};

/// Two free ports: HTTP and HTTPS.
pub fn ports() -> (u16, u16) {
    (free_port(), free_port())
}

/// An empty model on 127.0.0.1 ports.
pub fn empty(http: u16, https: u16) -> ProxyModel {
    ProxyModel {
        listen: Listen {
            http: format!("127.0.0.1:{http}"),
            https: format!("127.0.0.1:{https}"),
        },
        acme: None,
        grace_period: Duration::from_secs(5),
        stream_close_delay: Duration::from_secs(300),
        routes: BTreeMap::new(),
    }
}

/// A plain-HTTP route for `hosts`, `/` to `backend`.
pub fn route_to(hosts: &[&str], backend: &Backend) -> RouteModel {
    RouteModel {
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        canonical_host: None,
        tls: TlsModel::Off,
        headers_set: BTreeMap::new(),
        headers_remove: Vec::new(),
        paths: vec![path("/", false, backend)],
        max_body: None,
        websockets: true,
        basic_auth: Vec::new(),
        basic_auth_file: None,
        allow_ips: Vec::new(),
    }
}

/// A path to `backend`.
pub fn path(prefix: &str, strip: bool, backend: &Backend) -> PathModel {
    PathModel {
        prefix: prefix.into(),
        strip_prefix: strip,
        service: backend.name.clone(),
        upstreams: vec![Upstream(backend.address())],
    }
}

/// One route `name`.
pub fn single(http: u16, https: u16, name: &str, hosts: &[&str], backend: &Backend) -> ProxyModel {
    let mut m = empty(http, https);
    m.routes.insert(name.into(), route_to(hosts, backend));
    m
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

/// A self-signed certificate for `host` and `www.host`, made with openssl.
pub fn self_signed(dir: &Path, host: &str) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{host}.crt"));
    let key = dir.join(format!("{host}.key"));
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-subj", &format!("/CN={host}")])
        .args([
            "-addext",
            &format!("subjectAltName=DNS:{host},DNS:www.{host}"),
        ])
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// `user:pass` in an htpasswd file of bcrypt hashes, made with `htpasswd -B`.
pub fn htpasswd(dir: &Path) -> (PathBuf, Vec<(String, String)>) {
    let out = Command::new("htpasswd")
        .args(["-nbB", "admin", "s3cret"])
        .output()
        .expect("run htpasswd (apache2-utils)");
    assert!(out.status.success());
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let file = dir.join("users.htpasswd");
    std::fs::write(&file, format!("{line}\n")).unwrap();
    let (user, hash) = line.split_once(':').unwrap();
    (file, vec![(user.to_string(), hash.to_string())])
}

/// `shop` on `shop.test` (canonical) and `www.shop.test`, TLS from files, the secure
/// header preset, basic auth, only 127.0.0.1, 1 KiB bodies; `/down` has no upstream.
pub fn full_featured(dir: &Path, http: u16, https: u16, web: &Backend) -> ProxyModel {
    let (cert, key) = self_signed(dir, "shop.test");
    let (file, users) = htpasswd(dir);
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
    shop.paths = vec![
        PathModel {
            prefix: "/down".into(),
            strip_prefix: false,
            service: "worker".into(),
            upstreams: Vec::new(),
        },
        path("/", false, web),
    ];
    m.routes.insert("shop".into(), shop);
    m
}

/// What [`full_featured`] must serve, on every engine alike. `has_page`: whether the
/// engine serves holdfast's 503 page (Traefik serves its own body).
pub fn check_full_featured(dir: &Path, http: u16, https: u16, has_page: bool) {
    let cacert = dir.join("shop.test.crt");
    let cacert = cacert.to_str().unwrap();
    let auth = ["--cacert", cacert, "-u", "admin:s3cret"];

    let r = curl_host("http", "www.shop.test", http, "/a/b?c=1&d=2", &[]);
    assert_eq!(r.status, 308, "http → https: {r:?}");
    assert_eq!(
        r.header("location"),
        Some(format!("https://shop.test:{https}/a/b?c=1&d=2").as_str())
    );
    let r = curl_host("https", "www.shop.test", https, "/a/b?c=1", &auth);
    assert_eq!(r.status, 308, "www → canonical: {r:?}");
    assert_eq!(
        r.header("location"),
        Some(format!("https://shop.test:{https}/a/b?c=1").as_str())
    );

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
    assert_eq!(r.status, 503, "{r:?}");
    if has_page {
        assert_eq!(r.body, holdfast_proxy::page::unavailable("worker"));
        assert_eq!(r.header("retry-after"), Some("5"));
    }
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
