//! A fixed-rate HTTP/1.1 load generator that never retries, for tests and the benchmark.
//!
//! Go clients such as `hey` silently resend an idempotent request when a reused
//! keep-alive connection turns out to be closed, which hides exactly the failures a
//! zero-downtime update must not have. This client sends every request once: a request
//! that fails (connect error, write or read error, reset, timeout, a response that ends
//! early, a non-2xx status) is recorded as failed and its connection is dropped; the
//! next request opens a new one. Like browsers, curl and Go's transport, it checks that
//! an idle kept connection is still open before it sends on it, and opens a new one
//! when the server has closed it: that is not a retry, since nothing was sent.
//!
//! ```no_run
//! use std::time::Duration;
//! use holdfast_testkit::load::{Load, LoadConfig};
//!
//! let mut config = LoadConfig::new(8080, "shop.test");
//! config.rate = 400.0;
//! config.duration = Duration::from_secs(30);
//! let load = Load::start(config);
//! // ... change something, noting `load.elapsed()` before and after ...
//! let report = load.wait();
//! let s = report.summary();
//! assert_eq!(s.failed, 0, "{s:?}");
//! ```
//!
//! Requests are numbered; request `k` is due `k / rate` seconds after the start, and
//! each of the [`LoadConfig::connections`] worker threads takes the next due request
//! when it is free (blocking sockets, one connection per worker, keep-alive). A worker
//! that falls behind sends its due requests back to back, so that a run of `d` seconds
//! at rate `r` sends exactly `r × d` requests unless stopped early (or capped by
//! [`LoadConfig::max_requests`]). Plain threads make it usable from sync tests and from
//! `#[tokio::test]` alike; [`LoadHandle::stop`] and [`LoadHandle::wait`] block until
//! the requests in flight are answered or time out, which is bounded by
//! [`LoadConfig::timeout`].
//!
//! Only `127.0.0.1` is ever connected to.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The longest run [`Load::start`] allows, whatever [`LoadConfig::duration`] says.
pub const MAX_DURATION: Duration = Duration::from_secs(600);

/// The most requests one run may send, whatever [`LoadConfig::max_requests`] says.
pub const MAX_REQUESTS: u64 = 2_000_000;

/// The most connections (worker threads) one run may use.
pub const MAX_CONNECTIONS: usize = 512;

/// The longest a response head or body line may be, in bytes.
const MAX_LINE: usize = 16 * 1024;

/// What to send, how fast and for how long.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The port on 127.0.0.1.
    pub port: u16,
    /// The `Host` header (routes are matched by host).
    pub host: String,
    /// The request target, such as `/` or `/api?x=1`.
    pub path: String,
    /// Requests per second, over all connections.
    pub rate: f64,
    /// Keep-alive connections, one worker thread each (at most [`MAX_CONNECTIONS`]).
    pub connections: usize,
    /// The share of requests that are POSTs with [`LoadConfig::post_body`], from 0 to 1;
    /// they are spread evenly (request `k` is a POST when `floor((k+1)·f) > floor(k·f)`),
    /// so the count is exact.
    pub post_fraction: f64,
    /// The body of each POST (`Content-Type: application/x-www-form-urlencoded`).
    pub post_body: Vec<u8>,
    /// How long to send for (at most [`MAX_DURATION`]); see [`LoadConfig::until_stopped`].
    pub duration: Duration,
    /// The most requests to send (at most [`MAX_REQUESTS`]).
    pub max_requests: u64,
    /// How long one request may take, connecting included, before it fails as a
    /// timeout.
    pub timeout: Duration,
}

impl LoadConfig {
    /// `GET /` (and 10 % `POST /`) to `127.0.0.1:port` with `Host: host`, 100 requests
    /// per second over 10 connections for 10 s, 5 s timeout.
    pub fn new(port: u16, host: &str) -> LoadConfig {
        LoadConfig {
            port,
            host: host.to_string(),
            path: "/".to_string(),
            rate: 100.0,
            connections: 10,
            post_fraction: 0.1,
            post_body: b"item=42&note=holdfast-load".to_vec(),
            duration: Duration::from_secs(10),
            max_requests: MAX_REQUESTS,
            timeout: Duration::from_secs(5),
        }
    }

    /// Runs until [`LoadHandle::stop`] (or [`MAX_DURATION`]).
    pub fn until_stopped(mut self) -> LoadConfig {
        self.duration = MAX_DURATION;
        self
    }

    /// How many requests a full run sends: `rate × duration`, capped.
    pub fn planned_requests(&self) -> u64 {
        let duration = self.duration.min(MAX_DURATION).as_secs_f64();
        let by_time = if self.rate.is_finite() && self.rate > 0.0 {
            (self.rate * duration).ceil() as u64
        } else {
            0
        };
        by_time.min(self.max_requests).min(MAX_REQUESTS)
    }

    /// Whether request `k` is a POST.
    fn is_post(&self, k: u64) -> bool {
        let f = self.post_fraction.clamp(0.0, 1.0);
        ((k + 1) as f64 * f).floor() > (k as f64 * f).floor()
    }
}

/// The request method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`, no body.
    Get,
    /// `POST` with [`LoadConfig::post_body`].
    Post,
}

/// Why a request got no complete response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Failure {
    /// The connection could not be opened (refused, unreachable, timed out).
    Connect,
    /// Sending the request failed (broken pipe, reset while writing).
    Write,
    /// The connection was reset while waiting for or reading the response.
    Reset,
    /// The server closed the connection before a complete response.
    Closed,
    /// No complete response within [`LoadConfig::timeout`].
    Timeout,
    /// The response was not valid HTTP/1.x.
    Malformed,
    /// Another I/O error while reading.
    Read,
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A complete response with this status code.
    Status(u16),
    /// No complete response.
    Error(Failure),
}

impl Outcome {
    /// A 2xx response.
    pub fn is_ok(self) -> bool {
        matches!(self, Outcome::Status(200..=299))
    }
}

/// One request as sent and answered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Record {
    /// When it started (connecting, if a connection had to be opened), from the start
    /// of the run.
    pub start: Duration,
    /// From the start to the complete response or the failure.
    pub latency: Duration,
    /// GET or POST.
    pub method: Method,
    /// Its status code, or why it failed.
    pub outcome: Outcome,
}

/// Counters of a run so far; see [`LoadHandle::snapshot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// Time since the start.
    pub elapsed: Duration,
    /// Requests finished (answered or failed).
    pub done: u64,
    /// Requests answered 2xx.
    pub ok: u64,
    /// Requests answered with another status.
    pub non_2xx: u64,
    /// Requests without a complete response.
    pub errors: u64,
}

/// The shared state of a run.
#[derive(Debug, Default)]
struct Shared {
    next: AtomicU64,
    stop: AtomicBool,
    done: AtomicU64,
    ok: AtomicU64,
    non_2xx: AtomicU64,
    errors: AtomicU64,
}

/// The load generator; see the module documentation.
#[derive(Debug)]
pub struct Load;

impl Load {
    /// Starts sending as `config` says, on threads of its own, and returns at once.
    pub fn start(config: LoadConfig) -> LoadHandle {
        let mut config = config;
        config.duration = config.duration.min(MAX_DURATION);
        config.max_requests = config.planned_requests();
        config.connections = config.connections.clamp(1, MAX_CONNECTIONS);
        let config = Arc::new(config);
        let shared = Arc::new(Shared::default());
        let started = Instant::now();
        let workers = (0..config.connections)
            .map(|_| {
                let (config, shared) = (config.clone(), shared.clone());
                std::thread::spawn(move || worker(&config, &shared, started))
            })
            .collect();
        LoadHandle {
            config,
            shared,
            started,
            workers,
        }
    }
}

/// A running load; [`LoadHandle::stop`] or [`LoadHandle::wait`] ends it and returns
/// the [`Report`]. Dropping it stops the workers without waiting for them.
#[derive(Debug)]
pub struct LoadHandle {
    config: Arc<LoadConfig>,
    shared: Arc<Shared>,
    started: Instant,
    workers: Vec<JoinHandle<Vec<Record>>>,
}

impl LoadHandle {
    /// The moment the run started: the origin of every [`Record::start`].
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Time since the start, on the clock of [`Record::start`] (to mark windows such
    /// as "during the update").
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The counters so far.
    pub fn snapshot(&self) -> Snapshot {
        let s = &self.shared;
        Snapshot {
            elapsed: self.elapsed(),
            done: s.done.load(Ordering::Relaxed),
            ok: s.ok.load(Ordering::Relaxed),
            non_2xx: s.non_2xx.load(Ordering::Relaxed),
            errors: s.errors.load(Ordering::Relaxed),
        }
    }

    /// Sends no more requests, waits for those in flight, and returns the report.
    pub fn stop(self) -> Report {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.wait()
    }

    /// Waits until the run ends by itself (its duration or request cap), bounded by
    /// [`MAX_DURATION`] plus the timeout, and returns the report.
    pub fn wait(mut self) -> Report {
        let mut records = Vec::new();
        for w in std::mem::take(&mut self.workers) {
            // A worker that panicked lost its records; the counts show it.
            records.extend(w.join().unwrap_or_default());
        }
        records.sort_by_key(|r| r.start);
        Report {
            elapsed: self.started.elapsed(),
            config: (*self.config).clone(),
            records,
        }
    }
}

impl Drop for LoadHandle {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

/// One worker: take the next due request, send it on this worker's connection, record it.
fn worker(config: &LoadConfig, shared: &Shared, started: Instant) -> Vec<Record> {
    let mut records = Vec::new();
    let mut conn: Option<BufReader<TcpStream>> = None;
    let interval = 1.0 / config.rate;
    let get = request_bytes(config, Method::Get);
    let post = request_bytes(config, Method::Post);
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let k = shared.next.fetch_add(1, Ordering::Relaxed);
        if k >= config.max_requests {
            break;
        }
        let due = Duration::from_secs_f64(k as f64 * interval);
        if due >= config.duration || !sleep_until(shared, started + due) {
            break;
        }
        let method = if config.is_post(k) {
            Method::Post
        } else {
            Method::Get
        };
        let bytes = if method == Method::Post { &post } else { &get };
        let begun = Instant::now();
        let (outcome, keep) = exchange(config, &mut conn, bytes, begun + config.timeout);
        let latency = begun.elapsed();
        if !keep || !outcome.is_ok() {
            conn = None;
        }
        let counter = match outcome {
            Outcome::Status(200..=299) => &shared.ok,
            Outcome::Status(_) => &shared.non_2xx,
            Outcome::Error(_) => &shared.errors,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        shared.done.fetch_add(1, Ordering::Relaxed);
        records.push(Record {
            start: begun.duration_since(started),
            latency,
            method,
            outcome,
        });
    }
    records
}

/// Sleeps until `at`, in short steps so that a stop is seen; false when stopped.
fn sleep_until(shared: &Shared, at: Instant) -> bool {
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            return false;
        }
        let now = Instant::now();
        if now >= at {
            return true;
        }
        std::thread::sleep((at - now).min(Duration::from_millis(20)));
    }
}

/// The bytes of one request.
fn request_bytes(config: &LoadConfig, method: Method) -> Vec<u8> {
    let mut head = match method {
        Method::Get => format!("GET {} HTTP/1.1\r\n", config.path),
        Method::Post => format!("POST {} HTTP/1.1\r\n", config.path),
    };
    head.push_str(&format!(
        "Host: {}\r\nUser-Agent: holdfast-load\r\nAccept: */*\r\n",
        config.host
    ));
    let mut bytes = if method == Method::Post {
        head.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
            config.post_body.len()
        ));
        let mut b = head.into_bytes();
        b.extend_from_slice(&config.post_body);
        b
    } else {
        head.push_str("\r\n");
        head.into_bytes()
    };
    bytes.shrink_to_fit();
    bytes
}

/// Whether the server has left an idle kept connection open: nothing to read yet (any
/// byte, or the end of the stream, means it answered out of turn or closed).
fn still_open(conn: &BufReader<TcpStream>) -> bool {
    if !conn.buffer().is_empty() {
        return false;
    }
    let stream = conn.get_ref();
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    let mut byte = [0u8; 1];
    let open = matches!(stream.peek(&mut byte), Err(e) if e.kind() == ErrorKind::WouldBlock);
    stream.set_nonblocking(false).is_ok() && open
}

/// Sends `request` on `conn` (opening it first if there is none) and reads the
/// response, all before `deadline`. Returns the outcome and whether the connection may
/// carry the next request.
fn exchange(
    config: &LoadConfig,
    conn: &mut Option<BufReader<TcpStream>>,
    request: &[u8],
    deadline: Instant,
) -> (Outcome, bool) {
    // A kept connection the server has closed since (a proxy reloading closes its idle
    // connections) is dropped before anything is sent on it, as browsers, curl and
    // Go's transport do. Nothing is resent: no request has been written yet.
    if conn.as_ref().is_some_and(|c| !still_open(c)) {
        *conn = None;
    }
    if conn.is_none() {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, config.port));
        let timeout = remaining(deadline).unwrap_or(Duration::from_millis(1));
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                *conn = Some(BufReader::new(s));
            }
            Err(e) if is_timeout(&e) => return (Outcome::Error(Failure::Timeout), false),
            Err(_) => return (Outcome::Error(Failure::Connect), false),
        }
    }
    let Some(reader) = conn.as_mut() else {
        return (Outcome::Error(Failure::Connect), false);
    };
    let Some(left) = remaining(deadline) else {
        return (Outcome::Error(Failure::Timeout), false);
    };
    let _ = reader.get_ref().set_write_timeout(Some(left));
    if let Err(e) = reader.get_mut().write_all(request) {
        let failure = if is_timeout(&e) {
            Failure::Timeout
        } else {
            Failure::Write
        };
        return (Outcome::Error(failure), false);
    }
    match read_response(reader, deadline) {
        Ok((status, keep)) => (Outcome::Status(status), keep),
        Err(f) => (Outcome::Error(f), false),
    }
}

/// Time left until `deadline`, or `None` when it has passed.
fn remaining(deadline: Instant) -> Option<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    (!left.is_zero()).then_some(left)
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

fn failure_of(e: &std::io::Error) -> Failure {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => Failure::Timeout,
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
            Failure::Reset
        }
        ErrorKind::UnexpectedEof => Failure::Closed,
        ErrorKind::InvalidData => Failure::Malformed,
        _ => Failure::Read,
    }
}

/// The buffered bytes, reading more first (before `deadline`) if there are none. EOF
/// is [`Failure::Closed`].
fn fill(reader: &mut BufReader<TcpStream>, deadline: Instant) -> Result<&[u8], Failure> {
    loop {
        let left = remaining(deadline).ok_or(Failure::Timeout)?;
        let _ = reader.get_ref().set_read_timeout(Some(left));
        match reader.fill_buf() {
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(failure_of(&e)),
            Ok([]) => return Err(Failure::Closed),
            Ok(_) => break,
        }
    }
    // The buffer holds data now: this returns it without reading.
    reader.fill_buf().map_err(|e| failure_of(&e))
}

/// Reads one line (CRLF or LF) before `deadline`, without the line end. EOF before
/// the end of the line is [`Failure::Closed`].
fn read_line(reader: &mut BufReader<TcpStream>, deadline: Instant) -> Result<String, Failure> {
    let mut line = Vec::new();
    loop {
        let buf = fill(reader, deadline)?;
        let (used, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                line.extend_from_slice(&buf[..i]);
                (i + 1, true)
            }
            None => {
                line.extend_from_slice(buf);
                (buf.len(), false)
            }
        };
        reader.consume(used);
        if line.len() > MAX_LINE {
            return Err(Failure::Malformed);
        }
        if done {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return String::from_utf8(line).map_err(|_| Failure::Malformed);
        }
    }
}

/// Reads and discards exactly `n` bytes before `deadline`.
fn skip(reader: &mut BufReader<TcpStream>, mut n: u64, deadline: Instant) -> Result<(), Failure> {
    while n > 0 {
        let buf = fill(reader, deadline)?;
        let take = buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
        reader.consume(take);
        n -= take as u64;
    }
    Ok(())
}

/// Reads the rest of the stream until EOF before `deadline` (a body without length).
fn skip_to_end(reader: &mut BufReader<TcpStream>, deadline: Instant) -> Result<(), Failure> {
    loop {
        match fill(reader, deadline) {
            Ok(buf) => {
                let n = buf.len();
                reader.consume(n);
            }
            Err(Failure::Closed) => return Ok(()),
            Err(f) => return Err(f),
        }
    }
}

/// Reads one response (skipping 1xx interim ones) and its body. Returns the status and
/// whether the connection stays open.
fn read_response(
    reader: &mut BufReader<TcpStream>,
    deadline: Instant,
) -> Result<(u16, bool), Failure> {
    loop {
        let status_line = read_line(reader, deadline)?;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        if !version.starts_with("HTTP/1.") {
            return Err(Failure::Malformed);
        }
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or(Failure::Malformed)?;
        let mut length: Option<u64> = None;
        let mut chunked = false;
        let mut close = version == "HTTP/1.0";
        loop {
            let line = read_line(reader, deadline)?;
            if line.is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(Failure::Malformed);
            };
            let value = value.trim().to_ascii_lowercase();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => {
                    length = Some(value.parse().map_err(|_| Failure::Malformed)?);
                }
                "transfer-encoding" => chunked = value.contains("chunked"),
                "connection" => {
                    if value.contains("close") {
                        close = true;
                    } else if value.contains("keep-alive") {
                        close = false;
                    }
                }
                _ => {}
            }
        }
        if (100..200).contains(&status) {
            continue;
        }
        if status == 204 || status == 304 {
            return Ok((status, !close));
        }
        if chunked {
            loop {
                let size_line = read_line(reader, deadline)?;
                let size = size_line.split(';').next().unwrap_or("").trim();
                let size = u64::from_str_radix(size, 16).map_err(|_| Failure::Malformed)?;
                if size == 0 {
                    // Trailers, up to the empty line.
                    while !read_line(reader, deadline)?.is_empty() {}
                    break;
                }
                skip(reader, size, deadline)?;
                if !read_line(reader, deadline)?.is_empty() {
                    return Err(Failure::Malformed);
                }
            }
            return Ok((status, !close));
        }
        return match length {
            Some(n) => skip(reader, n, deadline).map(|()| (status, !close)),
            None => skip_to_end(reader, deadline).map(|()| (status, false)),
        };
    }
}

/// Counts and latencies of a set of requests.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Requests.
    pub total: u64,
    /// Answered 2xx.
    pub ok: u64,
    /// Not 2xx or not answered: `non_2xx + connection_errors`.
    pub failed: u64,
    /// Answered with another status.
    pub non_2xx: u64,
    /// No complete response (connect, write, read errors, resets, early closes,
    /// timeouts).
    pub connection_errors: u64,
    /// Failed POSTs (part of `failed`).
    pub failed_posts: u64,
    /// Median latency, ms (NaN without requests).
    pub p50_ms: f64,
    /// 99th percentile latency (nearest rank), ms (NaN without requests).
    pub p99_ms: f64,
}

/// What [`Report::summary`] gives: everything, plus the error window and the rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Counts and latencies of all requests.
    pub all: Stats,
    /// The same as `all.total` … `all.failed`, repeated for convenience.
    pub total: u64,
    /// See [`Stats::ok`].
    pub ok: u64,
    /// See [`Stats::failed`].
    pub failed: u64,
    /// The start of the first and the last failed request, from the start of the run.
    pub error_window: Option<(Duration, Duration)>,
    /// `error_window` as a length in seconds (0 without failures).
    pub error_window_s: f64,
    /// Failures by kind (non-2xx statuses and errors).
    pub by_outcome: Vec<(Outcome, u64)>,
    /// Requests per second achieved: requests over the run's length.
    pub rps: f64,
    /// The run's length (from its start to the last response).
    pub elapsed: Duration,
}

/// Everything a run sent, in order of start; see [`LoadHandle::stop`].
#[derive(Debug, Clone)]
pub struct Report {
    /// The configuration, with the caps applied.
    pub config: LoadConfig,
    /// Every request.
    pub records: Vec<Record>,
    /// From the start until the last worker ended.
    pub elapsed: Duration,
}

impl Report {
    /// Stats of the requests `filter` selects.
    pub fn stats(&self, filter: impl Fn(&Record) -> bool) -> Stats {
        let chosen: Vec<&Record> = self.records.iter().filter(|r| filter(r)).collect();
        let mut latencies: Vec<f64> = chosen
            .iter()
            .map(|r| r.latency.as_secs_f64() * 1e3)
            .collect();
        latencies.sort_by(f64::total_cmp);
        let count = |f: &dyn Fn(&Record) -> bool| chosen.iter().filter(|r| f(r)).count() as u64;
        let non_2xx = count(&|r| matches!(r.outcome, Outcome::Status(_)) && !r.outcome.is_ok());
        let connection_errors = count(&|r| matches!(r.outcome, Outcome::Error(_)));
        Stats {
            total: chosen.len() as u64,
            ok: count(&|r| r.outcome.is_ok()),
            failed: non_2xx + connection_errors,
            non_2xx,
            connection_errors,
            failed_posts: count(&|r| r.method == Method::Post && !r.outcome.is_ok()),
            p50_ms: percentile(&latencies, 0.50),
            p99_ms: percentile(&latencies, 0.99),
        }
    }

    /// Stats of the requests that started within one of `windows` (offsets from the
    /// start of the run, such as the time of each update).
    pub fn during(&self, windows: &[Range<Duration>]) -> Stats {
        self.stats(|r| windows.iter().any(|w| w.contains(&r.start)))
    }

    /// Stats of the requests that started outside all of `windows` (steady state).
    pub fn outside(&self, windows: &[Range<Duration>]) -> Stats {
        self.stats(|r| !windows.iter().any(|w| w.contains(&r.start)))
    }

    /// The failed requests.
    pub fn failures(&self) -> impl Iterator<Item = &Record> {
        self.records.iter().filter(|r| !r.outcome.is_ok())
    }

    /// Totals, the error window, failures by kind and the rate achieved.
    pub fn summary(&self) -> Summary {
        let all = self.stats(|_| true);
        let first = self.failures().next().map(|r| r.start);
        let last = self.failures().last().map(|r| r.start);
        let error_window = first.zip(last);
        let mut by_outcome: Vec<(Outcome, u64)> = Vec::new();
        for r in self.failures() {
            match by_outcome.iter_mut().find(|(o, _)| *o == r.outcome) {
                Some((_, n)) => *n += 1,
                None => by_outcome.push((r.outcome, 1)),
            }
        }
        let end = self
            .records
            .iter()
            .map(|r| r.start + r.latency)
            .max()
            .unwrap_or(self.elapsed);
        let secs = end.as_secs_f64();
        Summary {
            total: all.total,
            ok: all.ok,
            failed: all.failed,
            all,
            error_window,
            error_window_s: error_window.map_or(0.0, |(a, b)| (b - a).as_secs_f64()),
            by_outcome,
            rps: if secs > 0.0 {
                self.records.len() as f64 / secs
            } else {
                0.0
            },
            elapsed: end,
        }
    }
}

/// The `q` quantile (nearest rank) of sorted `values`; NaN when empty.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::Backend;
    use std::io::Read;
    use std::net::TcpListener;
    use std::sync::atomic::AtomicU32;

    /// How the test server answers request number `n` (from 0).
    #[derive(Clone, Copy)]
    enum Mode {
        /// 500 for every `every`-th request, 200 otherwise.
        Error500(u32),
        /// Closes the connection without answering every `every`-th request.
        CloseEvery(u32),
        /// Answers 200 with a chunked body and closes idle connections after one
        /// response.
        ChunkedThenClose,
    }

    /// A server on 127.0.0.1 that counts every request it read in full.
    struct Server {
        port: u16,
        requests: Arc<AtomicU32>,
    }

    impl Server {
        fn start(mode: Mode) -> Server {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let requests = Arc::new(AtomicU32::new(0));
            let r = requests.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { return };
                    let r = r.clone();
                    std::thread::spawn(move || serve(stream, mode, &r));
                }
            });
            Server { port, requests }
        }

        fn seen(&self) -> u64 {
            u64::from(self.requests.load(Ordering::SeqCst))
        }
    }

    fn serve(stream: TcpStream, mode: Mode, requests: &AtomicU32) {
        let mut write = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        loop {
            let mut length = 0usize;
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 {
                    return;
                }
                if h.trim().is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let n = requests.fetch_add(1, Ordering::SeqCst) + 1;
            let answer: &[u8] = match mode {
                Mode::Error500(every) if n.is_multiple_of(every) => {
                    b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nfail"
                }
                Mode::CloseEvery(every) if n.is_multiple_of(every) => return,
                Mode::ChunkedThenClose => {
                    let _ = write.write_all(
                        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                          3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n",
                    );
                    // Close right after, as a server ending an idle keep-alive
                    // connection does: the client's next request on it would fail.
                    std::thread::sleep(Duration::from_millis(5));
                    return;
                }
                _ => b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            };
            if write.write_all(answer).is_err() {
                return;
            }
        }
    }

    fn config(port: u16, rate: f64, secs: f64) -> LoadConfig {
        let mut c = LoadConfig::new(port, "load.test");
        c.rate = rate;
        c.duration = Duration::from_secs_f64(secs);
        c.connections = 8;
        c.timeout = Duration::from_secs(2);
        c
    }

    #[test]
    fn counts_are_exact_against_a_healthy_backend() {
        let backend = Backend::start("load");
        let report = Load::start(config(backend.port, 200.0, 1.0)).wait();
        let s = report.summary();
        assert_eq!(s.total, 200, "{s:?}");
        assert_eq!((s.ok, s.failed), (200, 0), "{s:?}");
        assert_eq!(s.error_window, None);
        let posts = report
            .records
            .iter()
            .filter(|r| r.method == Method::Post)
            .count();
        assert_eq!(posts, 20, "10 % POSTs");
        assert_eq!(u64::from(backend.requests.load(Ordering::SeqCst)), 200);
        // Fixed rate: 200 requests spread over about a second, not sent at once.
        assert!(s.elapsed >= Duration::from_millis(990), "{s:?}");
        assert!(s.rps > 150.0 && s.rps < 210.0, "{s:?}");
        assert!(s.all.p50_ms < s.all.p99_ms + f64::EPSILON);
    }

    #[test]
    fn status_500_counts_as_failed_and_is_not_resent() {
        let server = Server::start(Mode::Error500(10));
        let report = Load::start(config(server.port, 300.0, 1.0)).wait();
        let s = report.summary();
        assert_eq!(s.total, 300);
        assert_eq!(s.all.non_2xx, 30, "{s:?}");
        assert_eq!(s.all.connection_errors, 0, "{s:?}");
        assert_eq!(s.ok, 270);
        assert_eq!(server.seen(), s.total, "the server saw each request once");
        assert_eq!(s.by_outcome, vec![(Outcome::Status(500), 30)]);
        let (first, last) = s.error_window.unwrap();
        assert!(first < last && last < Duration::from_secs(1));
    }

    #[test]
    fn a_closed_connection_fails_the_request_and_is_not_retried() {
        let server = Server::start(Mode::CloseEvery(7));
        let report = Load::start(config(server.port, 350.0, 1.0)).wait();
        let s = report.summary();
        assert_eq!(s.total, 350);
        assert_eq!(s.all.connection_errors, 50, "{s:?}");
        assert_eq!(s.all.non_2xx, 0, "{s:?}");
        assert_eq!(server.seen(), 350, "no request was sent twice");
        assert_eq!(s.by_outcome, vec![(Outcome::Error(Failure::Closed), 50)]);
    }

    #[test]
    fn a_stale_keep_alive_connection_fails_instead_of_retrying() {
        // The server answers once per connection and closes it without saying so: a
        // request sent on it before the client sees the close fails (Go's transport
        // would resend it). Chunked bodies and trailers are read in full.
        let server = Server::start(Mode::ChunkedThenClose);
        let mut c = config(server.port, 200.0, 1.0);
        c.connections = 1;
        let report = Load::start(c).wait();
        let s = report.summary();
        assert_eq!(s.total, 200);
        assert_eq!(s.ok + s.failed, 200);
        assert!(
            s.ok >= 100,
            "every other request at least opens a connection: {s:?}"
        );
        assert_eq!(
            server.seen(),
            s.ok,
            "only answered requests reached the server"
        );
    }

    #[test]
    fn refused_connections_are_connect_errors() {
        let port = crate::web::free_port();
        let report = Load::start(config(port, 100.0, 0.5)).wait();
        let s = report.summary();
        assert_eq!(s.total, 50);
        assert_eq!(s.by_outcome, vec![(Outcome::Error(Failure::Connect), 50)]);
        let first = report.failures().next().unwrap().start;
        let last = report.failures().last().unwrap().start;
        assert_eq!(s.error_window, Some((first, last)));
        assert!((s.error_window_s - (last - first).as_secs_f64()).abs() < 1e-9);
    }

    #[test]
    fn stop_ends_early_and_windows_split_the_run() {
        let backend = Backend::start("load");
        let load = Load::start(config(backend.port, 200.0, 5.0).until_stopped());
        assert!(crate::wait_until(Duration::from_secs(5), || load.snapshot().done >= 40).is_some());
        let mark = load.elapsed();
        std::thread::sleep(Duration::from_millis(200));
        let end = load.elapsed();
        let report = load.stop();
        let s = report.summary();
        assert!(s.total >= 80 && s.total < 400, "{s:?}");
        assert_eq!(u64::from(backend.requests.load(Ordering::SeqCst)), s.total);
        let window = [mark..end];
        let during = report.during(&window);
        let outside = report.outside(&window);
        assert_eq!(during.total + outside.total, s.total);
        assert!((20..=60).contains(&during.total), "{during:?}");
        assert_eq!(during.failed + outside.failed, 0);
    }

    #[test]
    fn caps_bound_the_run() {
        let backend = Backend::start("load");
        let mut c = config(backend.port, 1000.0, 60.0);
        c.max_requests = 25;
        let report = Load::start(c).wait();
        assert_eq!(report.records.len(), 25);
        let mut c = config(backend.port, 10.0, 1e9);
        c.max_requests = u64::MAX;
        assert_eq!(
            c.planned_requests(),
            (10.0 * MAX_DURATION.as_secs_f64()) as u64
        );
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&[7.0], 0.99), 7.0);
        assert!(percentile(&[], 0.5).is_nan());
    }
}
