//! Web helpers for proxy tests: free loopback ports, an in-process backend that says who
//! it is, `curl` with `--resolve`, and self-signed certificates.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread;
use std::time::Duration;

pub use crate::scratch::free_port;

/// An HTTP backend on 127.0.0.1 that answers every request with `NAME METHOD PATH`
/// (and `Server: backend`, `X-Powered-By: test`, so header removal shows), and echoes
/// bytes back after a WebSocket upgrade. Stops when dropped.
pub struct Backend {
    /// Its name, the first word of every answer.
    pub name: String,
    /// Its port on 127.0.0.1.
    pub port: u16,
    stop: Arc<AtomicBool>,
    /// Requests served so far.
    pub requests: Arc<AtomicU32>,
}

impl Backend {
    /// Starts a backend called `name` on a free port.
    pub fn start(name: &str) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a backend port");
        let port = listener.local_addr().expect("backend address").port();
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicU32::new(0));
        let (n, s, r) = (name.to_string(), stop.clone(), requests.clone());
        thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (n, r) = (n.clone(), r.clone());
                        thread::spawn(move || serve(stream, &n, &r));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Backend {
            name: name.to_string(),
            port,
            stop,
            requests,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(stream: TcpStream, name: &str, requests: &AtomicU32) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(write) = stream.try_clone() else {
        return;
    };
    let mut write = write;
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut length = 0usize;
        let mut upgrade = false;
        let mut close = false;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let lower = h.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            if lower.starts_with("upgrade:") && lower.contains("websocket") {
                upgrade = true;
            }
            if lower.starts_with("connection:") && lower.contains("close") {
                close = true;
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        requests.fetch_add(1, Ordering::Relaxed);
        if upgrade {
            let _ = write.write_all(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
            );
            let mut buf = [0u8; 1024];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if write.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                }
            }
        }
        let text = format!("{name} {method} {path}\n");
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
             Server: backend\r\nX-Powered-By: test\r\n{}\r\n",
            text.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        if write.write_all(head.as_bytes()).is_err() || write.write_all(text.as_bytes()).is_err() {
            return;
        }
        if close {
            return;
        }
    }
}

/// What `curl` got.
#[derive(Debug, Clone)]
pub struct Curled {
    /// The status code (0 when the request failed).
    pub status: u16,
    /// Response headers, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
    /// curl's stderr (why a request failed).
    pub error: String,
}

impl Curled {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Runs `curl -sS` with `args`, bounded to 10 s, and reads status, headers and body.
/// Pass `--resolve HOST:PORT:127.0.0.1` and the URL in `args`.
pub fn curl(args: &[&str]) -> Curled {
    let out = Command::new("curl")
        .args(["-sS", "-D", "-", "--max-time", "10"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run curl (apt-get install curl): {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let error = String::from_utf8_lossy(&out.stderr).into_owned();
    // With redirects or 100-continue there may be several heads: use the last.
    let mut rest = text.as_str();
    let mut head = "";
    while rest.starts_with("HTTP/") {
        match rest.split_once("\r\n\r\n") {
            Some((h, b)) => {
                head = h;
                rest = b;
            }
            None => {
                head = rest;
                rest = "";
            }
        }
    }
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Curled {
        status,
        headers,
        body: rest.to_string(),
        error,
    }
}

/// `curl` of `http://HOST:PORT/PATH` resolved to 127.0.0.1, plus `extra` arguments.
pub fn curl_host(scheme: &str, host: &str, port: u16, path: &str, extra: &[&str]) -> Curled {
    let resolve = format!("{host}:{port}:127.0.0.1");
    let url = format!("{scheme}://{host}:{port}{path}");
    let mut args: Vec<&str> = vec!["--resolve", &resolve];
    args.extend_from_slice(extra);
    args.push(&url);
    curl(&args)
}

/// A self-signed certificate (RSA 2048, two days) for `name` and its `sans` (such as
/// `DNS:shop.test` or `IP:127.0.0.1`), made with openssl: `(NAME.crt, NAME.key)` in
/// `dir`. The certificate is its own CA, so `curl --cacert NAME.crt` trusts it.
pub fn self_signed(dir: &Path, name: &str, sans: &[&str]) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-subj", &format!("/CN={name}")])
        .args(["-addext", &format!("subjectAltName={}", sans.join(","))])
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl: {e}"));
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}
