//! Zero-downtime updates end to end: `holdfast run` replaces a start-first service
//! behind a real Caddy 2.11 or nginx while a client that never retries sends 10 %
//! POSTs; not one request may fail.
//!
//! The backend is busybox `httpd` in a container with a CGI handler that sleeps 20 ms,
//! so requests are in flight when the route switches. `httpd` exits at once on
//! SIGTERM, killing the CGI children that hold requests: only the drain saves them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use holdfast_testkit::engines::caddy::CaddyProcess;
use holdfast_testkit::engines::nginx::TestNginx;
use holdfast_testkit::load::{Load, LoadConfig, LoadHandle};
use holdfast_testkit::web::{curl_host, free_port};
use holdfast_testkit::{Daemon, TestProject, busybox_image, docker_ok, wait_until};

/// The proxy a test runs.
enum Proxy {
    Caddy(CaddyProcess),
    Nginx(TestNginx),
}

struct Setup {
    p: TestProject,
    proxy: Proxy,
    http: u16,
    https: u16,
    www: PathBuf,
}

/// The handler: answers `$VERSION` after 20 ms.
const CGI: &str =
    "#!/bin/sh\nusleep 20000\nprintf 'Content-Type: text/plain\\r\\n\\r\\n%s\\n' \"$VERSION\"\n";

fn setup(test: &str, nginx: bool) -> Setup {
    busybox_image();
    let p = TestProject::new(test);
    let www = p.dir.join("www");
    std::fs::create_dir_all(www.join("cgi-bin")).unwrap();
    let cgi = www.join("cgi-bin/v");
    std::fs::write(&cgi, CGI).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&cgi, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(www.join("health"), "ok\n").unwrap();
    let (proxy, http, https) = if nginx {
        let n = TestNginx::start();
        let (h, s) = (n.http_port, n.https_port);
        (Proxy::Nginx(n), h, s)
    } else {
        let c = CaddyProcess::start(&p.dir.join("caddy"));
        (Proxy::Caddy(c), free_port(), free_port())
    };
    Setup {
        p,
        proxy,
        http,
        https,
        www,
    }
}

/// What a version of the service looks like.
#[derive(Clone, Copy)]
enum Version {
    /// Serves `/health` and the handler.
    Healthy(u32),
    /// Serves nothing at `/health` (404): never passes its probes.
    NeverHealthy(u32),
    /// Healthy, then exits after `secs` seconds.
    ExitsAfter(u32, u32),
    /// Starts serving only after `secs` seconds.
    HealthyAfter(u32, u32),
}

impl Version {
    fn number(self) -> u32 {
        match self {
            Version::Healthy(n)
            | Version::NeverHealthy(n)
            | Version::ExitsAfter(n, _)
            | Version::HealthyAfter(n, _) => n,
        }
    }
}

impl Setup {
    fn proxy_yaml(&self) -> String {
        match &self.proxy {
            Proxy::Caddy(c) => format!(
                "proxy:\n  engine: caddy\n  admin: {}\n  grace_period: 10s\n  listen: {{http: \"127.0.0.1:{}\", https: \"127.0.0.1:{}\"}}\n",
                c.admin_address(),
                self.http,
                self.https
            ),
            Proxy::Nginx(n) => format!(
                "proxy:\n  engine: nginx\n  dir: {}\n  nginx_conf: {}\n  listen: {{http: \"127.0.0.1:{}\", https: \"127.0.0.1:{}\"}}\n",
                n.include_dir.display(),
                n.conf.display(),
                self.http,
                self.https
            ),
        }
    }

    /// Writes the file with `version` of `web`; `update` goes into `update_config`.
    fn write(&self, version: Version, update: &str) {
        self.write_replicas(version, update, 1);
    }

    /// [`Setup::write`] with `replicas` containers.
    fn write_replicas(&self, version: Version, update: &str, replicas: u32) {
        let command = match version {
            Version::Healthy(_) => {
                "[\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]".to_string()
            }
            Version::NeverHealthy(_) => {
                "[\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www/cgi-bin\"]".to_string()
            }
            Version::ExitsAfter(_, secs) => {
                format!("[\"sh\", \"-c\", \"httpd -p 8080 -h /www && sleep {secs}\"]")
            }
            Version::HealthyAfter(_, secs) => {
                format!("[\"sh\", \"-c\", \"sleep {secs} && exec httpd -f -p 8080 -h /www\"]")
            }
        };
        let file = format!(
            "name: {{{{project}}}}\n{}services:\n  web:\n    image: {{{{image}}}}\n    environment: {{VERSION: \"{}\"}}\n    command: {command}\n    restart: \"no\"\n    init: true\n    volumes: [\"{}:/www:ro\"]\n    deploy:\n      replicas: {replicas}\n      update_config: {{order: start-first{update}}}\nroutes:\n  shop:\n    hosts: [shop.test]\n    tls: off\n    health: {{path: /health, interval: 200ms, deadline: 6s}}\n    drain: 10s\n    paths: [{{prefix: /, service: web, port: 8080}}]\n",
            self.proxy_yaml(),
            version.number(),
            self.www.display(),
        );
        self.p.write(&file);
    }

    fn body(&self) -> String {
        curl_host("http", "shop.test", self.http, "/cgi-bin/v", &[]).body
    }

    /// Waits until the route serves `version` from exactly one container.
    fn wait_serving(&self, version: u32, controller: &Daemon) {
        let want = format!("{version}\n");
        let mut last = String::new();
        let ok = wait_until(Duration::from_secs(60), || {
            last = self.body();
            last == want && self.p.container_ids().len() == 1
        });
        assert!(
            ok.is_some(),
            "never served version {version} from one container (last answer {last:?}, containers {:?})\n{}",
            self.p.container_ids(),
            controller.log()
        );
    }

    /// Waits until the route serves only `version`, from `replicas` containers.
    fn wait_serving_all(&self, version: u32, replicas: usize, controller: &Daemon) {
        let want = format!("{version}\n");
        let mut last = String::new();
        let ok = wait_until(Duration::from_secs(90), || {
            self.p.container_ids().len() == replicas
                && (0..8).all(|_| {
                    last = self.body();
                    last == want
                })
        });
        assert!(
            ok.is_some(),
            "never served only version {version} from {replicas} containers (last answer {last:?}, containers {:?})\n{}",
            self.p.container_ids(),
            controller.log()
        );
    }

    /// The proxy's configuration as text: Caddy's JSON, or nginx's owned files.
    fn proxy_config(&self) -> String {
        match &self.proxy {
            Proxy::Caddy(c) => {
                let admin = c.admin_address();
                let socket = admin.strip_prefix("unix:").unwrap();
                let out = std::process::Command::new("curl")
                    .args(["-sS", "--unix-socket", socket, "http://caddy/config/"])
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&out.stdout).into_owned()
            }
            Proxy::Nginx(n) => {
                let mut text = String::new();
                for entry in walk(&n.include_dir) {
                    text.push_str(&std::fs::read_to_string(entry).unwrap_or_default());
                }
                text
            }
        }
    }

    fn load_config(&self, rate: f64, duration: Duration) -> LoadConfig {
        let mut config = LoadConfig::new(self.http, "shop.test");
        config.path = "/cgi-bin/v".into();
        config.rate = rate;
        config.connections = 32;
        config.duration = duration;
        config
    }

    fn load(&self, rate: f64, duration: Duration) -> LoadHandle {
        Load::start(self.load_config(rate, duration))
    }

    fn record(&self) -> serde_json::Value {
        let path = self
            .p
            .state_dir()
            .join("rollouts")
            .join(&self.p.name)
            .join("web.json");
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn status(&self) -> serde_json::Value {
        let out = cli(&self.p, &["get", "-o", "json"]);
        let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
        list.into_iter()
            .find(|s| s["key"] == "service/web")
            .unwrap_or_default()
    }
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn assert_no_failures(report: &holdfast_testkit::load::Report, what: &str) {
    let s = report.summary();
    let first: Vec<String> = report
        .failures()
        .take(5)
        .map(|r| format!("{r:?}"))
        .collect();
    assert_eq!(s.failed, 0, "{what}: {s:?}\nfirst failures: {first:#?}");
}

/// Five healthy updates under 400 requests a second for 30 s: 0 of ≥ 12,000 fail.
fn five_updates_lose_nothing(nginx: bool) {
    let s = setup(
        if nginx {
            "upd-five-nginx"
        } else {
            "upd-five-caddy"
        },
        nginx,
    );
    s.write(Version::Healthy(1), "");
    let controller = start_controller(&s.p, &["--resync", "5s"]);
    s.wait_serving(1, &controller);

    let load = s.load(400.0, Duration::from_secs(30));
    let mut slots = Vec::new();
    for v in 2..=6 {
        // One update every 5 s, at t = 5, 10, 15, 20, 25 s.
        let due = Duration::from_secs(5 * u64::from(v - 1));
        while load.elapsed() < due {
            std::thread::sleep(Duration::from_millis(20));
        }
        s.write(Version::Healthy(v), "");
        s.wait_serving(v, &controller);
        let name = docker_ok(&["inspect", "-f", "{{.Name}}", &s.p.container_ids()[0]]);
        slots.push(name.trim().ends_with("-green"));
    }
    let report = load.wait();
    let summary = report.summary();
    assert!(summary.total >= 12_000, "{summary:?}");
    assert_no_failures(&report, "five start-first updates");
    // The slots alternate, so no address is reused.
    assert_eq!(slots, [true, false, true, false, true]);

    // Every update is in the history, with its phases.
    let history = stdout(&cli(&s.p, &["history"]));
    // The first deploy and the five updates.
    assert_eq!(
        history.matches("succeeded").count(),
        6,
        "holdfast history:\n{history}"
    );
    let status = s.status();
    assert_eq!(status["phase"], "Ready", "{status}");
}

#[test]
fn five_updates_behind_caddy_lose_no_request() {
    five_updates_lose_nothing(false);
}

#[test]
fn five_updates_behind_nginx_lose_no_request() {
    five_updates_lose_nothing(true);
}

/// Two replicas behind one route (the TETRIX case): three rolling updates, one replica
/// at a time (`parallelism: 1`), under 400 requests a second for 30 s: 0 of ≥ 12,000
/// fail, and the replicas' updates never overlap.
fn two_replicas_roll_without_losing_a_request(nginx: bool) {
    let s = setup(
        if nginx {
            "upd-replicas-nginx"
        } else {
            "upd-replicas-caddy"
        },
        nginx,
    );
    let update = ", parallelism: 1";
    s.write_replicas(Version::Healthy(1), update, 2);
    let controller = start_controller(&s.p, &["--resync", "5s"]);
    s.wait_serving_all(1, 2, &controller);
    let names: Vec<String> =
        s.p.container_ids()
            .iter()
            .map(|id| {
                docker_ok(&["inspect", "-f", "{{.Name}}", id])
                    .trim()
                    .to_string()
            })
            .collect();
    assert!(
        names.iter().any(|n| n.ends_with("-web-1")) && names.iter().any(|n| n.ends_with("-web-2")),
        "{names:?}"
    );

    // The route picks a replica per request, then the slot its own marker names.
    let config = s.proxy_config();
    let slots = s.p.state_dir().join("slots").join(&s.p.name);
    for marker in ["web.green", "web#2.green"] {
        let path = slots.join(marker).display().to_string();
        assert!(
            config.contains(&path),
            "{path} not in the proxy's config:\n{config}"
        );
    }

    let load = s.load(400.0, Duration::from_secs(30));
    for (v, at) in [(2, 3), (3, 12), (4, 21)] {
        let due = Duration::from_secs(at);
        while load.elapsed() < due {
            std::thread::sleep(Duration::from_millis(20));
        }
        s.write_replicas(Version::Healthy(v), update, 2);
        s.wait_serving_all(v, 2, &controller);
    }
    let report = load.wait();
    let summary = report.summary();
    assert!(summary.total >= 12_000, "{summary:?}");
    assert_no_failures(&report, "rolling updates of two replicas");

    // Each replica was updated on its own, one after the other.
    let history = std::fs::read_to_string(
        s.p.state_dir()
            .join("rollouts")
            .join(&s.p.name)
            .join("history.jsonl"),
    )
    .unwrap();
    let mut spans: Vec<(u64, u64)> = history
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|u| u["result"] == "succeeded" && u["from_image"].is_string())
        .map(|u| {
            (
                u["started_ms"].as_u64().unwrap(),
                u["ended_ms"].as_u64().unwrap(),
            )
        })
        .collect();
    spans.sort();
    assert_eq!(spans.len(), 6, "two replicas × three updates:\n{history}");
    for pair in spans.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "two replicas updated at once: {spans:?}"
        );
    }
    let status = s.status();
    assert_eq!(status["phase"], "Ready", "{status}");
}

#[test]
fn two_replicas_behind_caddy_roll_without_losing_a_request() {
    two_replicas_roll_without_losing_a_request(false);
}

#[test]
fn two_replicas_behind_nginx_roll_without_losing_a_request() {
    two_replicas_roll_without_losing_a_request(true);
}

/// A version that never passes its probes: the old container keeps serving untouched,
/// the new one is removed, and the service is Failed with the probe's error.
#[test]
fn a_version_that_never_becomes_healthy_changes_nothing_that_serves() {
    let s = setup("upd-unhealthy", false);
    s.write(Version::Healthy(1), "");
    let controller = start_controller(&s.p, &["--resync", "5s"]);
    s.wait_serving(1, &controller);
    let old = s.p.container_ids()[0].clone();
    let started = docker_ok(&["inspect", "-f", "{{.State.StartedAt}}", &old]);

    let load = s.load(200.0, Duration::from_secs(12));
    std::thread::sleep(Duration::from_secs(1));
    s.write(Version::NeverHealthy(2), "");
    // The update fails after its 6 s deadline, into the history and the events (the
    // service is Failed until its backoff tries again).
    let mut history = String::new();
    let failed = wait_until(Duration::from_secs(30), || {
        history = stdout(&cli(&s.p, &["history", "-o", "wide"]));
        history.contains("failed")
    });
    assert!(
        failed.is_some(),
        "no failed update: {history}\n{}",
        controller.log()
    );
    assert!(
        history.contains("did not become healthy") && history.contains("answered 404"),
        "{history}"
    );
    let events = stdout(&cli(&s.p, &["events"]));
    assert!(
        events.contains("did not become healthy") && events.contains("keeps serving"),
        "{events}"
    );
    let report = load.wait();
    assert_no_failures(&report, "an update that never became healthy");
    // Untouched: still there, never restarted (a retry may be probing a new one).
    assert!(s.p.container_ids().contains(&old));
    assert_eq!(
        docker_ok(&["inspect", "-f", "{{.State.StartedAt}}", &old]),
        started,
        "the old container was restarted"
    );
    assert_eq!(s.body(), "1\n");
}

/// `failure_action: rollback`: a new version that exits during `monitor` is replaced
/// by the previous one, and the file's version is held back until the file changes.
#[test]
fn a_version_that_dies_during_monitor_is_rolled_back() {
    let s = setup("upd-rollback", false);
    let update = ", monitor: 20s, failure_action: rollback";
    s.write(Version::Healthy(1), update);
    let controller = start_controller(&s.p, &["--resync", "5s"]);
    // The first version is monitored too before it counts as the one to go back to.
    s.wait_serving(1, &controller);
    let idle = wait_until(Duration::from_secs(40), || s.record()["phase"] == "idle");
    assert!(idle.is_some(), "{}", s.record());

    s.write(Version::ExitsAfter(2, 4), update);
    s.wait_serving(2, &controller);
    // It exits after 4 s; the monitor rolls back to version 1.
    s.wait_serving(1, &controller);
    let record = s.record();
    assert!(record["pin"].is_object(), "{record}");
    let history = stdout(&cli(&s.p, &["history"]));
    assert!(history.contains("rolled back"), "{history}");
    assert!(
        metric(&s.p, "holdfast_automatic_rollbacks_total", None) >= 1.0,
        "no rollback counted"
    );
    // Held back: version 2 is not tried again while the file says it.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(s.body(), "1\n");
    // A new file ends the pin.
    s.write(Version::Healthy(3), update);
    s.wait_serving(3, &controller);
    let idle = wait_until(Duration::from_secs(40), || s.record()["phase"] == "idle");
    assert!(idle.is_some(), "{}", s.record());

    // `holdfast rollback service/web` goes back to the spec before (version 1), the
    // same way, and `rollout status` shows the phases it went through.
    let out = cli(&s.p, &["rollback", "service/web", "--dry-run"]);
    assert_exit(&out, 0, "rollback --dry-run");
    assert!(stdout(&out).contains("to revision"), "{}", stdout(&out));
    let out = cli(&s.p, &["rollback", "service/web", "--to", "99", "--yes"]);
    assert_exit(&out, 1, "rollback to an unknown revision");
    let out = cli(&s.p, &["rollback", "service/web", "--yes"]);
    assert_exit(&out, 0, "rollback");
    s.wait_serving(1, &controller);
    let status = stdout(&cli(&s.p, &["rollout", "status", "service/web"]));
    for phase in ["starting", "probing", "draining", "[rollback]"] {
        assert!(status.contains(phase), "no {phase} in:\n{status}");
    }
}

/// `holdfast rollback` while the new version is still monitored goes back to the one
/// that served before the update, not to an older revision.
#[test]
fn a_rollback_during_monitor_goes_back_to_the_version_before() {
    let s = setup("upd-rollback-monitor", false);
    let update = ", monitor: 15s, failure_action: rollback";
    s.write(Version::Healthy(1), update);
    let controller = start_controller(&s.p, &["--resync", "5s"]);
    s.wait_serving(1, &controller);
    let idle = wait_until(Duration::from_secs(40), || s.record()["phase"] == "idle");
    assert!(idle.is_some(), "{}", s.record());

    s.write(Version::Healthy(2), update);
    s.wait_serving(2, &controller);
    assert_eq!(s.record()["phase"], "monitoring", "{}", s.record());
    let out = cli(&s.p, &["rollback", "service/web", "--dry-run"]);
    assert_exit(&out, 0, "rollback --dry-run during monitor");
    assert!(
        stdout(&out).contains("before the update under way"),
        "{}",
        stdout(&out)
    );
    let out = cli(&s.p, &["rollback", "service/web", "--yes"]);
    assert_exit(&out, 0, "rollback during monitor");
    s.wait_serving(1, &controller);
    let record = s.record();
    assert!(record["pin"].is_object(), "{record}");
    // Held: the file still says version 2.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(s.body(), "1\n");
}

/// The proxy gone in the middle of an update: nothing is stopped while it cannot be
/// read, and the update finishes once it is back.
#[test]
fn an_update_waits_while_the_proxy_cannot_be_read() {
    let mut s = setup("upd-proxy-gone", false);
    s.write(Version::Healthy(1), "");
    let controller = start_controller(&s.p, &["--resync", "2s"]);
    s.wait_serving(1, &controller);
    let old = s.p.container_ids()[0].clone();

    // Version 2 answers its probes only after 4 s; Caddy is killed meanwhile.
    s.write(Version::HealthyAfter(2, 4), "");
    let two = wait_until(Duration::from_secs(20), || s.p.container_ids().len() == 2);
    assert!(two.is_some(), "no second container:\n{}", controller.log());
    if let Proxy::Caddy(caddy) = &mut s.proxy {
        caddy.kill();
    }
    // Forced passes while the proxy is gone: both containers stay.
    let mut status = serde_json::Value::Null;
    let waiting = wait_until(Duration::from_secs(20), || {
        status = s.status();
        status["message"]
            .as_str()
            .is_some_and(|m| m.contains("the proxy cannot be read"))
    });
    assert!(waiting.is_some(), "{status}\n{}", controller.log());
    let _ = cli(&s.p, &["reconcile", "service/web"]);
    assert!(
        s.p.container_ids().contains(&old),
        "the old container was stopped"
    );
    assert_eq!(s.p.container_ids().len(), 2);

    // Back (with nothing: the routes are put back), the update finishes.
    if let Proxy::Caddy(caddy) = &mut s.proxy {
        let dir = caddy.dir.clone();
        *caddy = CaddyProcess::start(&dir);
    }
    s.wait_serving(2, &controller);
}

/// The controller SIGKILLed in each phase of an update, 20 times under load: after
/// each restart exactly one version is routed, no container is left over, and no
/// request fails.
#[test]
fn a_controller_killed_in_any_phase_converges_without_losing_a_request() {
    let s = setup("upd-killed", false);
    s.write(Version::Healthy(1), "");
    let mut controller = start_controller(&s.p, &["--resync", "3s"]);
    s.wait_serving(1, &controller);

    let load = Load::start(
        s.load_config(200.0, Duration::from_secs(300))
            .until_stopped(),
    );
    let phases = ["starting", "probing", "switching", "draining", "stopping"];
    let mut killed_in = Vec::new();
    for run in 0..20u32 {
        let version = run + 2;
        let target = phases[run as usize % phases.len()];
        let order = |p: &str| phases.iter().position(|q| *q == p);
        s.write(Version::Healthy(version), "");
        // Kill as soon as the record shows the target phase or a later one.
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = String::new();
        while Instant::now() < deadline {
            let phase = s.record()["phase"].as_str().unwrap_or("").to_string();
            if let (Some(a), Some(b)) = (order(&phase), order(target))
                && a >= b
            {
                seen = phase;
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        controller.signal("KILL");
        let _ = controller.terminate(Duration::from_secs(5));
        killed_in.push(if seen.is_empty() {
            "done".to_string()
        } else {
            seen
        });
        controller = start_controller(&s.p, &["--resync", "3s"]);
        s.wait_serving(version, &controller);
        assert_eq!(
            s.p.container_ids().len(),
            1,
            "run {run}: orphans after a kill in {target}"
        );
    }
    let report = load.stop();
    eprintln!("killed in: {killed_in:?}");
    assert_no_failures(&report, "20 updates with the controller SIGKILLed");
    for phase in ["probing", "switching", "draining"] {
        assert!(
            killed_in.iter().any(|k| k == phase),
            "never killed while {phase}: {killed_in:?}"
        );
    }
}
