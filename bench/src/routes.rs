//! Section 8: routes. Each engine (Caddy 2.11, nginx 1.22, Traefik 3.7) driven by
//! holdfast's own engine code, on loopback:
//!
//! - requests per second and latency through the proxy, against the same backend
//!   directly (wrk, one thread, 32 connections, keep-alive; the backend is an nginx
//!   `return 200`, the peer of every arm);
//! - the time of one pass that applies 10, 100 and 1,000 routes onto an empty proxy
//!   (render, read back, apply, confirm);
//! - the cost of a pass over unchanged routes: what it sent (mutations) and reloads
//!   (nginx worker PIDs compared), and its time.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use holdfast_proxy::Engine;
use holdfast_proxy::caddy::{Caddy, CaddyConfig};
use holdfast_proxy::converge::converge;
use holdfast_proxy::model::{Listen, ProxyModel, fixtures};
use holdfast_proxy::nginx::{Nginx, NginxConfig};
use holdfast_proxy::traefik::{Traefik, TraefikConfig};
use holdfast_testkit::Daemon;
use holdfast_testkit::engines::caddy::CaddyProcess;
use holdfast_testkit::engines::nginx::TestNginx;
use holdfast_testkit::engines::traefik::TestTraefik;
use holdfast_testkit::web::free_port;

/// Marks around the section in docs/benchmarks.md.
pub const BEGIN: &str = "<!-- routes:begin -->";
/// See [`BEGIN`].
pub const END: &str = "<!-- routes:end -->";

const ENGINES: [&str; 3] = ["caddy", "nginx", "traefik"];

/// wrk's summary of one run.
#[derive(Debug, Clone, Copy)]
struct Load {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// An apply of N routes and the no-op pass after it.
#[derive(Debug, Clone, Copy)]
struct Apply {
    apply_ms: f64,
    noop_ms: f64,
    noop_mutations: u32,
    noop_reloads: u32,
}

/// Everything section 8 measured.
struct Measured {
    direct: Vec<Load>,
    through: BTreeMap<&'static str, Vec<Load>>,
    applies: BTreeMap<(&'static str, usize), Apply>,
}

/// A running proxy of one engine and holdfast's engine for it.
enum Proxy {
    Caddy(CaddyProcess, Caddy),
    Nginx(TestNginx, Nginx),
    Traefik(TestTraefik, Traefik),
}

impl Proxy {
    fn start(engine: &str, dir: &std::path::Path) -> Proxy {
        match engine {
            "caddy" => {
                let p = CaddyProcess::start(&dir.join("caddy"));
                let e = Caddy::new(CaddyConfig {
                    admin: p.admin_address(),
                });
                Proxy::Caddy(p, e)
            }
            "nginx" => {
                let p = TestNginx::start();
                let e = Nginx::new(NginxConfig::new(p.include_dir.clone(), p.conf.clone()));
                Proxy::Nginx(p, e)
            }
            _ => {
                let p = TestTraefik::start();
                let e = Traefik::new(TraefikConfig {
                    dir: p.dynamic.clone(),
                    api: holdfast_proxy::http::Endpoint::parse(&p.api_address()),
                    https_port: p.websecure,
                    log: Some(p.log.clone()),
                    ..TraefikConfig::default()
                });
                Proxy::Traefik(p, e)
            }
        }
    }

    fn engine(&self) -> &dyn Engine {
        match self {
            Proxy::Caddy(_, e) => e,
            Proxy::Nginx(_, e) => e,
            Proxy::Traefik(_, e) => e,
        }
    }

    /// `listen` for this proxy and its HTTP port.
    fn listen(&self) -> (Listen, u16) {
        match self {
            Proxy::Caddy(..) => {
                let (h, s) = (free_port(), free_port());
                let listen = fixtures::listen(&format!("127.0.0.1:{h}"), &format!("127.0.0.1:{s}"));
                (listen, h)
            }
            Proxy::Nginx(p, _) => (fixtures::listen(&p.http(), &p.https()), p.http_port),
            Proxy::Traefik(p, _) => (fixtures::listen("web", "websecure"), p.web),
        }
    }

    /// The proxy's own log, for errors.
    fn log(&self) -> String {
        match self {
            Proxy::Caddy(p, _) => p.daemon.log(),
            Proxy::Nginx(p, _) => p.error_log(),
            Proxy::Traefik(p, _) => p.log_text(),
        }
    }

    fn workers(&self) -> Vec<u32> {
        match self {
            Proxy::Nginx(p, _) => p.worker_pids(),
            _ => Vec::new(),
        }
    }
}

/// `n` plain-HTTP routes `r0000…` on `r0.bench.test…`, `/` to `backend`.
fn model(listen: &Listen, n: usize, backend: &str) -> ProxyModel {
    let mut m = fixtures::empty(listen.clone());
    m.routes = (0..n)
        .map(|i| {
            let path = fixtures::path("/", false, "backend", &[backend]);
            let host = format!("r{i}.bench.test");
            (
                format!("r{i:04}"),
                fixtures::route_with(&[&host], vec![path]),
            )
        })
        .collect();
    m
}

/// An nginx that answers 200 `ok` on a loopback port: the backend of every arm.
fn backend(dir: &std::path::Path) -> Result<(Daemon, u16)> {
    let port = free_port();
    std::fs::create_dir_all(dir.join("tmp"))?;
    let conf = dir.join("backend.conf");
    let d = dir.display();
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/backend.pid;\nerror_log {d}/backend.err;\n\
             events {{ worker_connections 1024; }}\nhttp {{ access_log off; client_body_temp_path {d}/tmp;\n\
             server {{ listen 127.0.0.1:{port}; keepalive_requests 1000000; location / {{ return 200 \"ok\\n\"; }} }} }}\n"
        ),
    )?;
    let mut cmd = Command::new("/usr/sbin/nginx");
    cmd.arg("-p").arg(dir).arg("-c").arg(&conf);
    let daemon = Daemon::spawn(cmd, dir.join("backend.log"));
    let up = holdfast_testkit::wait_until(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    if up.is_none() {
        bail!("the nginx backend did not start: {}", daemon.log());
    }
    Ok((daemon, port))
}

fn wrk(port: u16, host: &str, seconds: u64) -> Result<Load> {
    let out = Command::new("wrk")
        .args(["-t1", "-c32", &format!("-d{seconds}s"), "--latency", "-H"])
        .arg(format!("Host: {host}"))
        .arg(format!("http://127.0.0.1:{port}/"))
        .output()
        .context("wrk (apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let find = |key: &str| -> Option<&str> {
        text.lines()
            .find(|l| l.trim_start().starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
    };
    let rps: f64 = find("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("wrk said: {text}"))?;
    if text.contains("Non-2xx") {
        bail!("wrk saw errors through the proxy: {text}");
    }
    Ok(Load {
        rps,
        p50_ms: find("50%").map(ms).unwrap_or(f64::NAN),
        p99_ms: find("99%").map(ms).unwrap_or(f64::NAN),
    })
}

/// wrk's `1.23ms` / `456.00us` / `1.2s` in milliseconds.
fn ms(v: &str) -> f64 {
    let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
    let n: f64 = num.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1000.0,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => n,
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Measures section 8 and returns it as Markdown, between [`BEGIN`] and [`END`].
pub fn measure(rounds: usize, seconds: u64) -> Result<String> {
    let rt = tokio::runtime::Runtime::new()?;
    let tmp = tempfile::tempdir()?;
    let (_backend, port) = backend(&tmp.path().join("backend"))?;
    let upstream = format!("127.0.0.1:{port}");
    let mut m = Measured {
        direct: Vec::new(),
        through: BTreeMap::new(),
        applies: BTreeMap::new(),
    };
    for engine in ENGINES {
        eprintln!("8. routes through {engine}");
        let proxy = Proxy::start(engine, &tmp.path().join(engine));
        let (listen, http) = proxy.listen();
        let one = model(&listen, 1, &upstream);
        let out = rt.block_on(converge(proxy.engine(), &one, None, true));
        if let Some(e) = out.error {
            bail!("{engine}: {e}\n{}", proxy.log());
        }
        // Traefik's watcher may still be settling; one short warm-up run for everyone.
        wrk(http, "r0.bench.test", 1)?;
        for _ in 0..rounds {
            m.direct.push(wrk(port, "r0.bench.test", seconds)?);
            m.through
                .entry(engine)
                .or_default()
                .push(wrk(http, "r0.bench.test", seconds)?);
        }
        let mut last = out.serving;
        for n in [10, 100, 1000] {
            let mdl = model(&listen, n, &upstream);
            let t = Instant::now();
            let applied = rt.block_on(converge(proxy.engine(), &mdl, last.as_ref(), true));
            let apply_ms = t.elapsed().as_secs_f64() * 1000.0;
            if let Some(e) = applied.error {
                bail!("{engine}, {n} routes: {e}");
            }
            let workers = proxy.workers();
            let t = Instant::now();
            let noop = rt.block_on(converge(
                proxy.engine(),
                &mdl,
                applied.serving.as_ref(),
                true,
            ));
            let noop_ms = t.elapsed().as_secs_f64() * 1000.0;
            let a = noop.applied.unwrap_or_default();
            let reloads = a.reloads + u32::from(proxy.workers() != workers);
            m.applies.insert(
                (engine, n),
                Apply {
                    apply_ms,
                    noop_ms,
                    noop_mutations: a.mutations,
                    noop_reloads: reloads,
                },
            );
            last = applied.serving;
            // Back to empty for the next size, so each apply starts from the same place.
            let empty = model(&listen, 0, &upstream);
            let cleared = rt.block_on(converge(proxy.engine(), &empty, last.as_ref(), true));
            last = cleared.serving;
        }
    }
    Ok(section(&mut m, rounds, seconds))
}

fn section(m: &mut Measured, rounds: usize, seconds: u64) -> String {
    let mut direct_rps: Vec<f64> = m.direct.iter().map(|l| l.rps).collect();
    let mut direct_p50: Vec<f64> = m.direct.iter().map(|l| l.p50_ms).collect();
    let mut direct_p99: Vec<f64> = m.direct.iter().map(|l| l.p99_ms).collect();
    let (d_rps, d_p50, d_p99) = (
        median(&mut direct_rps),
        median(&mut direct_p50),
        median(&mut direct_p99),
    );
    let mut out = format!("{BEGIN}\n### 8. Routes: through each proxy, and applying them\n\n");
    out.push_str(&format!(
        "One route to an nginx `return 200` backend on loopback, driven by holdfast's engine code. \
         `wrk -t1 -c32 -d{seconds}s --latency`, {rounds} rounds per arm, the direct arm measured \
         between the proxy rounds (medians). The ratio is the proxy's requests per second over the \
         direct backend's in the same run.\n\n"
    ));
    out.push_str(
        "| path | req/s | ratio to direct | p50 | p99 | added p50 |\n|---|---|---|---|---|---|\n",
    );
    out.push_str(&format!(
        "| direct backend | {d_rps:.0} | 1.00 | {d_p50:.2} ms | {d_p99:.2} ms | — |\n"
    ));
    for (engine, loads) in &m.through {
        let mut rps: Vec<f64> = loads.iter().map(|l| l.rps).collect();
        let mut p50: Vec<f64> = loads.iter().map(|l| l.p50_ms).collect();
        let mut p99: Vec<f64> = loads.iter().map(|l| l.p99_ms).collect();
        let (r, a, b) = (median(&mut rps), median(&mut p50), median(&mut p99));
        out.push_str(&format!(
            "| {engine} | {r:.0} | {:.2} | {a:.2} ms | {b:.2} ms | +{:.2} ms |\n",
            r / d_rps,
            a - d_p50
        ));
    }
    out.push_str(
        "\nApplying N plain-HTTP routes onto an empty proxy in one pass (render, read back, send, \
         confirm: Caddy's `POST /load` and read-back; nginx's `nginx -t`, swap, reload and the \
         generation served; Traefik's file written and its API showing it loaded), then a pass over \
         the same routes:\n\n",
    );
    out.push_str("| engine | routes | apply | no-op pass | no-op mutations | no-op reloads |\n|---|---|---|---|---|---|\n");
    for ((engine, n), a) in &m.applies {
        out.push_str(&format!(
            "| {engine} | {n} | {:.0} ms | {:.1} ms | {} | {} |\n",
            a.apply_ms, a.noop_ms, a.noop_mutations, a.noop_reloads
        ));
    }
    out.push_str(
        "\nTraefik's file provider takes a change at most every 2 s: an apply within 2 s of the \
         previous load (here the 100 and 1,000 rows, after the clearing pass of the row before) waits \
         that out. The proxies, the backend and wrk share the machine's two cores, so the \
         requests-per-second ratios are lower bounds for a proxy with a core of its own.\n",
    );
    out.push_str(
        "\nA no-op pass reads the live configuration back once (Caddy: one `GET /config/`; nginx: \
         the owned files and one request to the generation probe; Traefik: its file and its API) and \
         sends nothing. It makes no Docker call: the route kind holds no Docker client, and reads \
         its upstreams from what services publish about their live containers.\n",
    );
    out.push_str(END);
    out.push('\n');
    out
}

/// Replaces the section in `doc`, or puts it before "### Odd things seen in this run".
pub fn splice(doc: &str, section: &str) -> String {
    crate::calls::splice_marked(doc, BEGIN, END, section)
}
