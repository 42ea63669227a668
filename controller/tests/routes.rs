//! Routes end to end: `holdfast run` drives a real Caddy (2.11) in front of busybox
//! `httpd` containers reached on 127.0.0.1 ports holdfast publishes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use holdfast_testkit::engines::caddy::CaddyProcess;
use holdfast_testkit::web::{curl_host, free_port};
use holdfast_testkit::{TestProject, busybox_image, docker_ok, wait_until};

/// A service answering `NAME` at `/` (busybox httpd on 8080). With `gated`, it is
/// healthy only once `/www/ready` exists.
fn service(name: &str, gated: bool) -> String {
    let health = if gated {
        "\n    healthcheck: {test: [\"CMD\", \"test\", \"-f\", \"/www/ready\"], interval: 1s, timeout: 1s, retries: 1}"
    } else {
        ""
    };
    format!(
        "  {name}:\n    image: {{{{image}}}}\n    command: [\"sh\", \"-c\", \"mkdir -p /www && echo {name} > /www/index.html && exec httpd -f -p 8080 -h /www\"]{health}\n"
    )
}

struct Site {
    p: TestProject,
    caddy: CaddyProcess,
    http: u16,
    https: u16,
}

fn site(test: &str, routes: &str, services: &[(&str, bool)]) -> Site {
    busybox_image();
    let p = TestProject::new(test);
    let caddy = CaddyProcess::start(&p.dir.join("caddy"));
    let (http, https) = (free_port(), free_port());
    let mut file = format!(
        "name: {{{{project}}}}\nproxy:\n  engine: caddy\n  admin: {}\n  listen: {{http: \"127.0.0.1:{http}\", https: \"127.0.0.1:{https}\"}}\nservices:\n",
        caddy.admin_address()
    );
    for (name, gated) in services {
        file.push_str(&service(name, *gated));
    }
    file.push_str("routes:\n");
    file.push_str(routes);
    p.write(&file);
    Site {
        p,
        caddy,
        http,
        https,
    }
}

const ROUTES: &str = "  shop:\n    hosts: [shop.test]\n    tls: off\n    paths:\n      - {prefix: /api, service: api, port: 8080, strip_prefix: true}\n      - {prefix: /, service: web, port: 8080}\n  blog:\n    hosts: [blog.test]\n    tls: internal\n    headers: secure\n    paths: [{service: blog, port: 8080}]\n";

/// Waits until `holdfast events` has a `reason` line for each of `objects`.
fn wait_for_events(p: &TestProject, reason: &str, objects: &[&str]) {
    let mut events = String::new();
    let ok = wait_until(Duration::from_secs(30), || {
        events = stdout(&cli(p, &["events"]));
        objects
            .iter()
            .all(|o| events.lines().any(|l| l.contains(reason) && l.contains(o)))
    });
    assert!(
        ok.is_some(),
        "no {reason} event for each of {objects:?}:\n{events}"
    );
}

fn wait_for_body(host: &str, port: u16, path: &str, want: &str, extra: &[&str]) {
    let mut last = None;
    let ok = wait_until(Duration::from_secs(60), || {
        let r = curl_host(
            if extra.is_empty() { "http" } else { "https" },
            host,
            port,
            path,
            extra,
        );
        let hit = r.body == want;
        last = Some(r);
        hit
    });
    assert!(
        ok.is_some(),
        "{host}{path} never answered {want:?}: {last:?}"
    );
}

#[test]
fn routes_follow_their_services_and_survive_restarts_and_drift() {
    let s = site(
        "routes-caddy",
        ROUTES,
        &[("web", false), ("api", false), ("blog", false)],
    );
    let _c = start_controller(&s.p, &["--resync", "2s"]);
    wait_for_body("shop.test", s.http, "/", "web\n", &[]);
    wait_for_body("shop.test", s.http, "/api/", "api\n", &[]);

    // tls: internal verifies against the root `holdfast routes ca` prints.
    let ca = run(
        &s.p,
        &[
            "routes",
            "ca",
            "--state-dir",
            s.p.state_dir().to_str().unwrap(),
        ],
    );
    assert_exit(&ca, 0, "routes ca");
    let root = s.p.write_file("root.pem", &stdout(&ca));
    let cacert = root.to_str().unwrap();
    wait_for_body("blog.test", s.https, "/", "blog\n", &["--cacert", cacert]);
    let r = curl_host("https", "blog.test", s.https, "/", &["--cacert", cacert]);
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    let r = curl_host("http", "blog.test", s.http, "/x?y=1", &[]);
    assert_eq!(r.status, 308);
    assert_eq!(
        r.header("location"),
        Some(format!("https://blog.test:{}/x?y=1", s.https).as_str())
    );

    let get = stdout(&cli(&s.p, &["get", "routes"]));
    assert!(get.contains("HOSTS") && get.contains("UPSTREAMS"), "{get}");
    assert!(
        get.contains("shop.test") && get.contains("internal, 89d"),
        "{get}"
    );
    assert!(get.contains("/api→127.0.0.1:"), "{get}");

    // Every container restarted, in reverse order: no host serves another's content.
    let mut ids: Vec<String> = ["web", "api", "blog"]
        .iter()
        .map(|n| id_of(&s.p, n))
        .collect();
    ids.reverse();
    for id in &ids {
        docker_ok(&["restart", "-t", "1", id]);
    }
    wait_for_body("shop.test", s.http, "/", "web\n", &[]);
    wait_for_body("shop.test", s.http, "/api/", "api\n", &[]);
    wait_for_body("blog.test", s.https, "/", "blog\n", &["--cacert", cacert]);

    // Deleted through the admin API: put back within a resync, with a ProxyDrift event.
    let out = std::process::Command::new("curl")
        .args(["-sS", "-X", "DELETE", "--unix-socket"])
        .arg(&s.caddy.admin)
        .arg("http://localhost/id/hf-route-shop")
        .output()
        .unwrap();
    assert!(out.status.success());
    wait_for_body("shop.test", s.http, "/", "web\n", &[]);
    wait_for_events(&s.p, "ProxyDrift", &["route/shop"]);

    // Caddy killed and started again without its saved state: everything comes back.
    let mut caddy = s.caddy;
    caddy.kill();
    let dir = caddy.dir.clone();
    drop(caddy);
    let _caddy = CaddyProcess::start(&dir);
    wait_for_body("shop.test", s.http, "/api/", "api\n", &[]);
    wait_for_body("blog.test", s.https, "/", "blog\n", &["--cacert", cacert]);
    // blog never drifted before: this event is the restart's.
    wait_for_events(&s.p, "ProxyRestored", &["route/blog"]);
}

#[test]
fn a_route_answers_503_until_its_service_is_healthy() {
    let s = site(
        "routes-503",
        "  shop:\n    hosts: [shop.test]\n    tls: off\n    paths: [{service: web, port: 8080}]\n",
        &[("web", true)],
    );
    let _c = start_controller(&s.p, &["--resync", "2s"]);
    let mut last = None;
    let page = wait_until(Duration::from_secs(60), || {
        let r = curl_host("http", "shop.test", s.http, "/", &[]);
        let hit = r.status == 503;
        last = Some(r);
        hit
    });
    assert!(page.is_some(), "{last:?}");
    let r = last.unwrap();
    assert!(r.body.contains("web is starting or not ready"), "{r:?}");
    let get = stdout(&cli(&s.p, &["get", "routes"]));
    assert!(get.contains("<web not ready>"), "{get}");

    // The container may not exist yet: the page answers before it does.
    let made = wait_until(Duration::from_secs(60), || {
        s.p.container_of("web").is_some_and(|id| {
            holdfast_testkit::docker(&["exec", &id, "touch", "/www/ready"])
                .status
                .success()
        })
    });
    assert!(made.is_some(), "service web never ran");
    wait_for_body("shop.test", s.http, "/", "web\n", &[]);
}

/// nginx under `holdfast run`: a hand edit of holdfast's file is put back within a
/// resync and recorded, and a pass over unchanged routes reloads nothing.
#[test]
fn nginx_routes_are_restored_after_a_hand_edit_and_unchanged_passes_do_not_reload() {
    busybox_image();
    let p = TestProject::new("routes-nginx");
    let nginx = holdfast_testkit::engines::nginx::TestNginx::start();
    let file = format!(
        "name: {{{{project}}}}\nproxy:\n  engine: nginx\n  dir: {}\n  nginx_conf: {}\n  listen: {{http: \"127.0.0.1:{}\", https: \"127.0.0.1:{}\"}}\nservices:\n{}{}routes:\n{}",
        nginx.include_dir.display(),
        nginx.conf.display(),
        nginx.http_port,
        nginx.https_port,
        service("web", false),
        service("api", false),
        "  shop:\n    hosts: [shop.test]\n    tls: off\n    paths:\n      - {prefix: /api, service: api, port: 8080, strip_prefix: true}\n      - {prefix: /, service: web, port: 8080}\n",
    );
    p.write(&file);
    // `holdfast diff` shows the route's file as it would be written.
    let diff = stdout(&run(&p, &["diff", "-f", p.file().to_str().unwrap()]));
    assert!(
        diff.contains("route/shop") && diff.contains("server_name shop.test"),
        "{diff}"
    );
    let _c = start_controller(&p, &["--resync", "2s"]);
    wait_for_body("shop.test", nginx.http_port, "/", "web\n", &[]);
    wait_for_body("shop.test", nginx.http_port, "/api/", "api\n", &[]);

    // Settled: a forced pass over the unchanged route reloads nothing.
    let workers = nginx.settled_workers();
    assert_exit(&force_pass(&p, "route/shop"), 0, "reconcile route/shop");
    assert_eq!(
        nginx.worker_pids(),
        workers,
        "a no-op pass must not reload nginx"
    );

    // A hand edit of holdfast's file: put back within a resync, as a ProxyDrift event.
    let shop = nginx.include_dir.join("shop.conf");
    let text = std::fs::read_to_string(&shop).unwrap();
    std::fs::write(&shop, text.replace("shop.test", "elsewhere.test")).unwrap();
    let ok = wait_until(Duration::from_secs(30), || {
        std::fs::read_to_string(&shop).unwrap_or_default() == text
    });
    assert!(ok.is_some(), "the hand edit was never undone");
    wait_for_events(&p, "ProxyDrift", &["route/shop"]);
    wait_for_body("shop.test", nginx.http_port, "/", "web\n", &[]);
}

/// Traefik under `holdfast run`: a hand edit of `holdfast.yml` is put back within a
/// resync and recorded.
#[test]
fn traefik_routes_are_restored_after_a_hand_edit() {
    busybox_image();
    let p = TestProject::new("routes-traefik");
    let traefik = holdfast_testkit::engines::traefik::TestTraefik::start();
    let file = format!(
        "name: {{{{project}}}}\nproxy:\n  engine: traefik\n  admin: {}\n  dir: {}\n  log: {}\n  https_port: {}\nservices:\n{}{}routes:\n{}",
        traefik.api_address(),
        traefik.dynamic.display(),
        traefik.log.display(),
        traefik.websecure,
        service("web", false),
        service("api", false),
        "  shop:\n    hosts: [shop.test]\n    tls: off\n    paths:\n      - {prefix: /api, service: api, port: 8080, strip_prefix: true}\n      - {prefix: /, service: web, port: 8080}\n",
    );
    p.write(&file);
    let _c = start_controller(&p, &["--resync", "2s"]);
    wait_for_body("shop.test", traefik.web, "/", "web\n", &[]);
    wait_for_body("shop.test", traefik.web, "/api/", "api\n", &[]);

    let owned = traefik.dynamic.join("holdfast.yml");
    let text = std::fs::read_to_string(&owned).unwrap();
    std::fs::write(&owned, text.replace("shop.test", "elsewhere.test")).unwrap();
    wait_for_events(&p, "ProxyDrift", &["route/shop"]);
    wait_for_body("shop.test", traefik.web, "/", "web\n", &[]);
}

/// A Caddy that is itself a service of the file: routes point at the containers on the
/// network the two share, read from the live containers, and follow a recreated one.
#[test]
fn a_proxy_that_is_a_service_reaches_containers_over_the_shared_network() {
    busybox_image();
    let image = holdfast_testkit::engines::caddy::caddy_image();
    let p = TestProject::new("routes-in-docker");
    let (admin, http) = (free_port(), free_port());
    let file = |colour: &str| {
        format!(
            "name: {{{{project}}}}\nproxy:\n  engine: caddy\n  service: caddy\n  admin: 127.0.0.1:{admin}\n  listen: {{http: \":8080\", https: \":8443\"}}\nservices:\n  caddy:\n    image: {image}\n    ports: [\"127.0.0.1:{admin}:2019\", \"127.0.0.1:{http}:8080\"]\n{}    environment: {{COLOUR: {colour}}}\nroutes:\n  shop:\n    hosts: [shop.test]\n    tls: off\n    paths: [{{service: web, port: 8080}}]\n",
            service("web", false)
        )
    };
    p.write(&file("blue"));
    let _c = start_controller(&p, &["--resync", "2s"]);
    wait_for_body("shop.test", http, "/", "web\n", &[]);
    // The status is written after the pass that made Caddy serve: wait for it too.
    let mut get = String::new();
    let shown = wait_until(Duration::from_secs(30), || {
        get = stdout(&cli(&p, &["get", "routes"]));
        get.contains("/→172.") || get.contains("/→10.") || get.contains("/→192.168.")
    });
    assert!(shown.is_some(), "{get}");

    // A change of the file recreates web; the route follows the new container.
    let before = id_of(&p, "web");
    p.write(&file("green"));
    let moved = wait_until(Duration::from_secs(60), || {
        p.container_of("web").is_some_and(|id| id != before)
    });
    assert!(moved.is_some(), "web was never recreated");
    wait_for_body("shop.test", http, "/", "web\n", &[]);
}

/// A route Caddy refuses (a key that is not its certificate's) is Degraded with Caddy's
/// own message; the other route still answers.
#[test]
fn a_route_the_proxy_refuses_is_degraded_and_the_others_still_answer() {
    let s = site(
        "routes-refused",
        "  shop:\n    hosts: [shop.test]\n    tls: off\n    paths: [{service: web, port: 8080}]\n  bad:\n    hosts: [bad.test]\n    tls: {cert: ./bad.crt, key: ./other.key}\n    paths: [{service: web, port: 8080}]\n",
        &[("web", false)],
    );
    for (name, host) in [("bad", "bad.test"), ("other", "other.test")] {
        let out = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args([
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.crt"),
            ])
            .args(["-subj", &format!("/CN={host}")])
            .current_dir(&s.p.dir)
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    let _c = start_controller(&s.p, &["--resync", "2s"]);
    wait_for_body("shop.test", s.http, "/", "web\n", &[]);
    let mut get = String::new();
    let degraded = wait_until(Duration::from_secs(30), || {
        get = stdout(&cli(&s.p, &["get", "routes"]));
        get.lines().any(|l| {
            l.starts_with("route/bad")
                && l.contains("Degraded")
                && l.contains("private key does not match")
        })
    });
    assert!(degraded.is_some(), "{get}");
    assert_eq!(curl_host("http", "shop.test", s.http, "/", &[]).status, 200);
    let describe = stdout(&cli(&s.p, &["describe", "route/shop"]));
    assert!(
        describe.contains("Upstreams") && describe.contains("Engine"),
        "{describe}"
    );
}

/// `tls: auto` under `holdfast run`, against Pebble: the route is Progressing until
/// Caddy serves the certificate, then Ready with its expiry and issuer.
#[test]
fn an_acme_route_shows_the_certificate_the_proxy_serves() {
    busybox_image();
    let p = TestProject::new("routes-acme");
    let pebble = holdfast_testkit::engines::pebble::Pebble::start(&p.dir.join("pebble"));
    let caddy = CaddyProcess::start(&p.dir.join("caddy"));
    let (http, https) = (free_port(), free_port());
    p.write(&format!(
        "name: {{{{project}}}}\nproxy:\n  engine: caddy\n  admin: {}\n  listen: {{http: \"127.0.0.1:{http}\", https: \"127.0.0.1:{https}\"}}\n  acme: {{email: ops@shop.test, ca: \"{}\", ca_root: {}}}\nservices:\n{}routes:\n  shop:\n    hosts: [shop.test]\n    tls: auto\n    paths: [{{service: web, port: 8080}}]\n",
        caddy.admin_address(),
        pebble.directory,
        pebble.tls_root.display(),
        service("web", false)
    ));
    let _c = start_controller(&p, &["--resync", "2s"]);
    let root = pebble.issuing_root(&p.dir.join("pebble-root.pem"));
    wait_for_body(
        "shop.test",
        https,
        "/",
        "web\n",
        &["--cacert", root.to_str().unwrap()],
    );
    let mut get = String::new();
    let shown = wait_until(Duration::from_secs(30), || {
        get = stdout(&cli(&p, &["get", "routes"]));
        get.contains("auto, ") && get.contains("Ready") && !get.contains("not served")
    });
    assert!(shown.is_some(), "{get}");
    let describe = stdout(&cli(&p, &["describe", "route/shop"]));
    assert!(
        describe.to_lowercase().contains("pebble"),
        "the issuer: {describe}"
    );
    assert!(
        metric(&p, "holdfast_cert_expiry_seconds", Some(("route", "shop"))) > 3600.0,
        "expiry metric"
    );
}
