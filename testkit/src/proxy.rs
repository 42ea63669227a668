//! A proxy on a unix socket in front of the Docker engine's socket that counts the API
//! requests passing through it and can cut or refuse connections.
//!
//! Point a client at it with `DOCKER_HOST=`[`DockerProxy::host`]. Each HTTP request
//! the client sends is counted by method and path, with API versions, queries and
//! object IDs or names folded (`GET /v1.41/containers/3f2a…/json?size=false` counts as
//! `GET /containers/{id}/json`), so that benchmarks can say how many calls of each kind
//! an operation made. Bytes are forwarded as they come; a long answer such as the event
//! stream is one request however long it runs.
//!
//! [`DockerProxy::cut`] closes every open connection, as an engine restart or a network
//! fault would, and [`DockerProxy::set_refusing`] closes new connections at once, so
//! that tests can take the engine away from a client without touching the engine.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::scratch::TempDir;

/// The Docker socket of the machine's engine.
pub const DOCKER_SOCKET: &str = "/var/run/docker.sock";

#[derive(Debug, Default)]
struct Shared {
    counts: Mutex<BTreeMap<String, u64>>,
    open: Mutex<Vec<UnixStream>>,
    refusing: AtomicBool,
    stopping: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A counting proxy in front of a Docker socket (see the module's documentation).
/// Dropping it closes its socket and every connection.
#[derive(Debug)]
pub struct DockerProxy {
    socket: PathBuf,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
    _dir: TempDir,
}

impl DockerProxy {
    /// A proxy in front of the machine's engine ([`DOCKER_SOCKET`]).
    pub fn start() -> DockerProxy {
        DockerProxy::start_to(Path::new(DOCKER_SOCKET))
    }

    /// A proxy in front of the engine socket `upstream`.
    pub fn start_to(upstream: &Path) -> DockerProxy {
        let dir = TempDir::new("proxy");
        let socket = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&socket)
            .unwrap_or_else(|e| panic!("cannot listen on {}: {e}", socket.display()));
        let shared = Arc::new(Shared::default());
        let upstream = upstream.to_path_buf();
        let accept = {
            let shared = shared.clone();
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    if shared.stopping.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(client) = client else { continue };
                    if shared.refusing.load(Ordering::SeqCst) {
                        let _ = client.shutdown(Shutdown::Both);
                        continue;
                    }
                    let Ok(engine) = UnixStream::connect(&upstream) else {
                        let _ = client.shutdown(Shutdown::Both);
                        continue;
                    };
                    relay(client, engine, &shared);
                }
            })
        };
        DockerProxy {
            socket,
            shared,
            accept: Some(accept),
            _dir: dir,
        }
    }

    /// The proxy's socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `unix://SOCKET`, for `DOCKER_HOST`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Requests seen so far, by `METHOD /folded/path`.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        lock(&self.shared.counts).clone()
    }

    /// How many requests were seen so far.
    pub fn total(&self) -> u64 {
        lock(&self.shared.counts).values().sum()
    }

    /// Forgets the counts.
    pub fn reset(&self) {
        lock(&self.shared.counts).clear();
    }

    /// Closes every open connection (both ways), as an engine restart would.
    pub fn cut(&self) {
        for stream in lock(&self.shared.open).drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// While true, new connections are closed as soon as they are accepted.
    pub fn set_refusing(&self, refusing: bool) {
        self.shared.refusing.store(refusing, Ordering::SeqCst);
    }
}

impl Drop for DockerProxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = UnixStream::connect(&self.socket);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        self.cut();
    }
}

/// Copies bytes both ways between `client` and `engine`, counting the requests.
fn relay(client: UnixStream, engine: UnixStream, shared: &Arc<Shared>) {
    let (Ok(client_w), Ok(engine_r)) = (client.try_clone(), engine.try_clone()) else {
        return;
    };
    {
        let mut open = lock(&shared.open);
        if let (Ok(a), Ok(b)) = (client.try_clone(), engine.try_clone()) {
            open.push(a);
            open.push(b);
        }
    }
    let counting = shared.clone();
    std::thread::spawn(move || {
        let mut client = client;
        let mut engine = engine;
        let mut parser = Parser::default();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match client.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            for request in parser.feed(&buf[..n]) {
                *lock(&counting.counts).entry(request).or_insert(0) += 1;
            }
            if engine.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = engine.shutdown(Shutdown::Write);
    });
    std::thread::spawn(move || {
        let mut engine = engine_r;
        let mut client = client_w;
        let _ = std::io::copy(&mut engine, &mut client);
        let _ = client.shutdown(Shutdown::Both);
    });
}

/// Where the request parser is in the client's byte stream.
#[derive(Debug)]
enum State {
    /// Reading a request's head (up to the blank line).
    Head(Vec<u8>),
    /// Skipping a body of this many bytes.
    Body(u64),
    /// Reading a chunk-size line of a chunked body.
    ChunkSize(Vec<u8>),
    /// Skipping a chunk's data and its CRLF.
    ChunkData(u64),
    /// Reading the trailer after the last chunk, up to the blank line.
    Trailer(Vec<u8>),
    /// After an upgrade (attach, exec): raw bytes, no more requests.
    Raw,
}

impl Default for State {
    fn default() -> Self {
        State::Head(Vec::new())
    }
}

/// Finds the HTTP requests in a client's byte stream, fed in pieces.
#[derive(Debug, Default)]
pub struct Parser {
    state: State,
}

impl Parser {
    /// Takes the next bytes of the stream; returns the requests that began in them,
    /// as `METHOD /folded/path` (see [`fold_path`]).
    pub fn feed(&mut self, mut data: &[u8]) -> Vec<String> {
        let mut found = Vec::new();
        while !data.is_empty() {
            match &mut self.state {
                State::Raw => return found,
                State::Head(head) => {
                    let before = head.len();
                    head.extend_from_slice(data);
                    let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") else {
                        return found;
                    };
                    let used = end + 4 - before;
                    data = &data[used..];
                    let text = String::from_utf8_lossy(&head[..end]).to_string();
                    let (request, next) = read_head(&text);
                    found.extend(request);
                    self.state = next;
                }
                State::Body(left) => {
                    let take = (*left).min(data.len() as u64);
                    *left -= take;
                    data = &data[take as usize..];
                    if *left == 0 {
                        self.state = State::default();
                    }
                }
                State::ChunkSize(line) => {
                    let before = line.len();
                    line.extend_from_slice(data);
                    let Some(end) = line.windows(2).position(|w| w == b"\r\n") else {
                        return found;
                    };
                    data = &data[end + 2 - before..];
                    let text = String::from_utf8_lossy(&line[..end]).to_string();
                    let size = u64::from_str_radix(text.split(';').next().unwrap_or("").trim(), 16)
                        .unwrap_or(0);
                    self.state = if size == 0 {
                        State::Trailer(b"\r\n".to_vec())
                    } else {
                        State::ChunkData(size + 2)
                    };
                }
                State::ChunkData(left) => {
                    let take = (*left).min(data.len() as u64);
                    *left -= take;
                    data = &data[take as usize..];
                    if *left == 0 {
                        self.state = State::ChunkSize(Vec::new());
                    }
                }
                State::Trailer(trailer) => {
                    let before = trailer.len();
                    trailer.extend_from_slice(data);
                    let Some(end) = trailer.windows(4).position(|w| w == b"\r\n\r\n") else {
                        return found;
                    };
                    data = &data[end + 4 - before..];
                    self.state = State::default();
                }
            }
        }
        found
    }
}

/// The request a head names and what follows it.
fn read_head(head: &str) -> (Option<String>, State) {
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return (None, State::default());
    };
    let mut length = 0u64;
    let mut chunked = false;
    let mut upgrade = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        match name.as_str() {
            "content-length" => length = value.parse().unwrap_or(0),
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            "upgrade" => upgrade = true,
            _ => {}
        }
    }
    let request = Some(format!("{method} {}", fold_path(path)));
    let next = if upgrade {
        State::Raw
    } else if chunked {
        State::ChunkSize(Vec::new())
    } else if length > 0 {
        State::Body(length)
    } else {
        State::default()
    };
    (request, next)
}

/// Last path segments that name an operation on an object, not the object.
const OPERATIONS: &[&str] = &[
    "json",
    "start",
    "stop",
    "kill",
    "restart",
    "wait",
    "logs",
    "attach",
    "pause",
    "unpause",
    "top",
    "update",
    "rename",
    "resize",
    "exec",
    "connect",
    "disconnect",
    "tag",
    "push",
    "history",
    "changes",
    "export",
    "stats",
    "archive",
];

/// Second segments that are collection operations, not names (`/containers/json`).
const COLLECTION: &[&str] = &["json", "create", "prune", "load", "search", "get"];

/// A request path with its API version and query removed and object IDs or names
/// replaced by `{id}`: `/v1.41/images/holdfast-test/busybox:1/json` →
/// `/images/{id}/json`.
pub fn fold_path(path: &str) -> String {
    let path = path.split('?').next().unwrap_or("");
    let mut segments: Vec<&str> = path
        .trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let versioned = segments.first().is_some_and(|s| {
        s.strip_prefix('v')
            .is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.'))
    });
    if versioned {
        segments.remove(0);
    }
    match segments.as_slice() {
        [] => "/".to_string(),
        [kind] => format!("/{kind}"),
        [kind, second] if COLLECTION.contains(second) => format!("/{kind}/{second}"),
        [kind, rest @ ..] if rest.len() >= 2 && OPERATIONS.contains(&rest[rest.len() - 1]) => {
            format!("/{kind}/{{id}}/{}", rest[rest.len() - 1])
        }
        [kind, ..] => format!("/{kind}/{{id}}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fold() {
        assert_eq!(fold_path("/_ping"), "/_ping");
        assert_eq!(fold_path("/version"), "/version");
        assert_eq!(
            fold_path("/v1.41/containers/json?all=true&filters=%7B%7D"),
            "/containers/json"
        );
        assert_eq!(
            fold_path("/v1.41/containers/3f2a9b/json"),
            "/containers/{id}/json"
        );
        assert_eq!(
            fold_path("/v1.41/images/holdfast-test/busybox:1/json"),
            "/images/{id}/json"
        );
        assert_eq!(fold_path("/v1.41/networks"), "/networks");
        assert_eq!(fold_path("/v1.41/networks/abc"), "/networks/{id}");
        assert_eq!(fold_path("/v1.41/volumes/create"), "/volumes/create");
        assert_eq!(fold_path("/v1.41/events?since=1.5"), "/events");
    }

    #[test]
    fn requests_are_found_across_pieces_and_bodies() {
        let mut p = Parser::default();
        let stream = b"GET /v1.41/_ping HTTP/1.1\r\nHost: d\r\n\r\n\
            POST /v1.41/containers/create?name=x HTTP/1.1\r\ncontent-length: 5\r\n\r\n{\"a\"}\
            POST /v1.41/build HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
            GET /v1.41/containers/abc/json HTTP/1.1\r\n\r\n";
        // Fed a byte at a time, the parser finds the same requests.
        let mut found = Vec::new();
        for b in stream.iter() {
            found.extend(p.feed(std::slice::from_ref(b)));
        }
        assert_eq!(
            found,
            vec![
                "GET /_ping",
                "POST /containers/create",
                "POST /build",
                "GET /containers/{id}/json"
            ]
        );
        let mut whole = Parser::default();
        assert_eq!(whole.feed(stream).len(), 4);
    }
}
