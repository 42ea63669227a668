//! `configs`, `network_mode` and `depends_on: {X: {restart: true}}` against the real
//! engine: each reaches the container as `docker inspect` and the process show it, a
//! change recreates (or restarts) only the service it concerns, and a second apply
//! changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    apply_ok, assert_apply_changes_nothing, assert_exit, containers_and_starts, exec, id_of,
    inspect, mount_at, plan, stdout,
};
use holdfast_testkit::{TestProject, busybox_image, docker_ok, parse_docker_time};

/// `configured` mounts a config from a file (short form) and one written in the file
/// (long form, with owner and mode); `other` mounts none. `{{greeting}}` is the knob.
const CONFIGS: &str = r#"name: {{project}}
services:
  configured:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
    configs:
      - app_ini
      - source: greeting
        target: /etc/greeting.txt
        uid: "1000"
        gid: "1001"
        mode: 0440
  other:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
configs:
  app_ini:
    file: ./conf/app.ini
  greeting:
    content: "{{greeting}}"
"#;

fn out_of(container: &str, args: &[&str]) -> String {
    let out = exec(container, args);
    assert_exit(&out, 0, &format!("docker exec {args:?}"));
    stdout(&out)
}

/// The plan names `changed` (and not `other`), apply replaces it, `other` keeps its
/// container and its start, and a second apply changes nothing.
fn recreates_only(p: &TestProject, changed: &str, what: &str, rewrite: impl FnOnce()) {
    let id = id_of(p, changed);
    let other = (id_of(p, "other"), p.started_at("other"));
    rewrite();
    let text = stdout(&plan(p));
    assert!(
        text.contains(&format!("recreate service/{changed}")),
        "{what}: {text}"
    );
    assert!(!text.contains("service/other"), "{what}: {text}");
    apply_ok(p);
    assert_ne!(
        id_of(p, changed),
        id,
        "{what}: `{changed}` was not recreated"
    );
    assert_eq!(
        (id_of(p, "other"), p.started_at("other")),
        other,
        "{what}: `other` changed"
    );
    let before = containers_and_starts(p);
    assert_apply_changes_nothing(p, &before);
}

#[test]
fn configs_are_mounted_with_owner_and_mode_and_a_content_change_recreates_only_that_service() {
    busybox_image();
    let p = TestProject::new("configs");
    p.write_file("conf/app.ini", "[app]\nlevel = info\n");
    p.write(&CONFIGS.replace("{{greeting}}", "hello"));
    apply_ok(&p);

    let c = inspect(&p, "configured");
    let id = id_of(&p, "configured");
    for target in ["/app_ini", "/etc/greeting.txt"] {
        let m = mount_at(&c, target);
        assert_eq!(m["Type"], "bind", "{m}");
        assert_eq!(m["RW"], false, "{target} is writable: {m}");
        assert!(
            m["Source"]
                .as_str()
                .unwrap()
                .starts_with(p.state_dir().join("configs").to_str().unwrap()),
            "{m}"
        );
    }
    assert_eq!(out_of(&id, &["cat", "/app_ini"]), "[app]\nlevel = info\n");
    assert_eq!(out_of(&id, &["cat", "/etc/greeting.txt"]), "hello");
    assert_eq!(
        out_of(&id, &["stat", "-c", "%u %g %a", "/etc/greeting.txt"]).trim(),
        "1000 1001 440"
    );
    assert_eq!(
        out_of(&id, &["stat", "-c", "%u %g %a", "/app_ini"]).trim(),
        "0 0 444"
    );
    assert!(
        inspect(&p, "other")["Mounts"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let before = containers_and_starts(&p);
    assert_apply_changes_nothing(&p, &before);

    // The content of a config's file and the content written in the file are in the
    // hash: a change of either recreates only the service that mounts it.
    recreates_only(&p, "configured", "config file edited", || {
        p.write_file("conf/app.ini", "[app]\nlevel = debug\n");
    });
    let id = id_of(&p, "configured");
    assert_eq!(out_of(&id, &["cat", "/app_ini"]), "[app]\nlevel = debug\n");
    recreates_only(&p, "configured", "content edited", || {
        p.write(&CONFIGS.replace("{{greeting}}", "bonjour"));
    });
    let id = id_of(&p, "configured");
    assert_eq!(out_of(&id, &["cat", "/etc/greeting.txt"]), "bonjour");
}

/// Every network mode; `{{knob}}` changes `vpn`'s command, which replaces its container.
const NETWORK_MODES: &str = r#"name: {{project}}
services:
  vpn:
    image: {{image}}
    command: ["sleep", "{{knob}}"]
    init: true
  app:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
    network_mode: "service:vpn"
  lonely:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
    network_mode: {{lonely}}
  hosted:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
    network_mode: host
  bridged:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
    network_mode: bridge
  sidecar:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
    network_mode: "container:{{external}}"
  other:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
"#;

/// A container that is not the project's, removed when dropped.
struct External(String);

impl External {
    fn start(name: &str) -> External {
        docker_ok(&[
            "run",
            "-d",
            "--init",
            "--name",
            name,
            busybox_image(),
            "sleep",
            "3600",
        ]);
        External(name.to_string())
    }
}

impl Drop for External {
    fn drop(&mut self) {
        let _ = holdfast_testkit::docker(&["rm", "-f", &self.0]);
    }
}

fn network_mode(p: &TestProject, service: &str) -> String {
    inspect(p, service)["HostConfig"]["NetworkMode"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The MAC address of `eth0` as the container's process sees it.
fn mac(container: &str) -> String {
    out_of(container, &["cat", "/sys/class/net/eth0/address"])
}

#[test]
fn network_modes_reach_the_container_and_a_replaced_service_takes_its_joiner_along() {
    busybox_image();
    let p = TestProject::new("network-mode");
    let external = External::start(&format!("{}-external", p.name));
    let write_with = |knob: &str, lonely: &str| {
        p.write(
            &NETWORK_MODES
                .replace("{{knob}}", knob)
                .replace("{{lonely}}", lonely)
                .replace("{{external}}", &external.0),
        )
    };
    let write = |knob: &str| write_with(knob, "none");
    write("3600");
    apply_ok(&p);

    let vpn = id_of(&p, "vpn");
    assert_eq!(network_mode(&p, "app"), format!("container:{vpn}"));
    assert_eq!(network_mode(&p, "lonely"), "none");
    assert_eq!(network_mode(&p, "hosted"), "host");
    assert_eq!(network_mode(&p, "bridged"), "bridge");
    let ext = docker_ok(&["inspect", "-f", "{{.Id}}", &external.0]);
    assert_eq!(
        network_mode(&p, "sidecar"),
        format!("container:{}", ext.trim())
    );
    assert_eq!(mac(&id_of(&p, "sidecar")), mac(&external.0));
    for service in ["app", "lonely", "hosted", "bridged", "sidecar"] {
        let c = inspect(&p, service);
        assert_eq!(c["State"]["Running"], true, "{service}: {}", c["State"]);
    }
    // `app` sees `vpn`'s network interface; `lonely` has only loopback.
    let app = id_of(&p, "app");
    assert_eq!(mac(&app), mac(&vpn));
    let links = out_of(&id_of(&p, "lonely"), &["ls", "/sys/class/net"]);
    assert_eq!(links.split_whitespace().collect::<Vec<_>>(), ["lo"]);
    // `app` started after the service whose network it joins.
    let started =
        |s: &str| parse_docker_time(inspect(&p, s)["State"]["StartedAt"].as_str().unwrap());
    assert!(started("vpn") <= started("app"));
    let before = containers_and_starts(&p);
    assert_apply_changes_nothing(&p, &before);

    // A new `vpn` container: `app` joined a network namespace that is gone, so it is
    // replaced too, and joins the new one; nothing else changes.
    let others: Vec<(String, Option<String>)> = ["lonely", "hosted", "bridged", "sidecar", "other"]
        .iter()
        .map(|s| (id_of(&p, s), p.started_at(s)))
        .collect();
    write("3601");
    let text = stdout(&plan(&p));
    assert!(text.contains("recreate service/vpn"), "{text}");
    assert!(!text.contains("service/other"), "{text}");
    apply_ok(&p);
    let vpn2 = id_of(&p, "vpn");
    assert_ne!(vpn2, vpn);
    assert_ne!(id_of(&p, "app"), app, "app still joins the old namespace");
    assert_eq!(network_mode(&p, "app"), format!("container:{vpn2}"));
    assert_eq!(mac(&id_of(&p, "app")), mac(&vpn2));
    let now: Vec<(String, Option<String>)> = ["lonely", "hosted", "bridged", "sidecar", "other"]
        .iter()
        .map(|s| (id_of(&p, s), p.started_at(s)))
        .collect();
    assert_eq!(now, others, "a service that joins no other was touched");

    // `network_mode` is in the spec hash: changing it recreates only that service.
    let lonely = id_of(&p, "lonely");
    let before: Vec<String> = ["vpn", "app", "hosted", "other"]
        .iter()
        .map(|s| id_of(&p, s))
        .collect();
    write_with("3601", "bridge");
    let text = stdout(&plan(&p));
    assert!(text.contains("recreate service/lonely"), "{text}");
    assert!(!text.contains("service/other"), "{text}");
    apply_ok(&p);
    assert_ne!(id_of(&p, "lonely"), lonely);
    assert_eq!(network_mode(&p, "lonely"), "bridge");
    let after: Vec<String> = ["vpn", "app", "hosted", "other"]
        .iter()
        .map(|s| id_of(&p, s))
        .collect();
    assert_eq!(after, before);

    // Level-triggered: `vpn` removed by hand is put back, and `app` follows it.
    docker_ok(&["rm", "-f", &id_of(&p, "vpn")]);
    let text = stdout(&plan(&p));
    assert!(
        text.contains("service/app"),
        "the plan does not see app's stale network: {text}"
    );
    apply_ok(&p);
    let vpn3 = id_of(&p, "vpn");
    assert_eq!(network_mode(&p, "app"), format!("container:{vpn3}"));
    assert_eq!(mac(&id_of(&p, "app")), mac(&vpn3));
    let before = containers_and_starts(&p);
    assert_apply_changes_nothing(&p, &before);
}

/// `api` restarts with `db`; `worker` depends on `db` without `restart`, and on a
/// service that is not in the file with `required: false`. `{{knob}}` replaces `db`.
const RESTARTS: &str = r#"name: {{project}}
services:
  db:
    image: {{image}}
    command: ["sleep", "{{knob}}"]
    init: true
  api:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
    depends_on:
      db: {condition: service_started, restart: true}
  worker:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
    depends_on:
      db: {condition: service_started}
      metrics: {condition: service_started, required: false}
"#;

#[test]
fn a_dependency_with_restart_true_restarts_its_dependent_when_it_restarts_or_is_replaced() {
    busybox_image();
    let p = TestProject::new("depends-restart");
    p.write(&RESTARTS.replace("{{knob}}", "3600"));
    apply_ok(&p);
    let before = containers_and_starts(&p);
    assert_apply_changes_nothing(&p, &before);

    let api = (id_of(&p, "api"), p.started_at("api"));
    let worker = (id_of(&p, "worker"), p.started_at("worker"));
    let started = |s: &str| parse_docker_time(&p.started_at(s).unwrap());

    // `db` stopped by hand: the controller starts it again, then restarts `api` (the
    // same container, started after `db`); `worker` is left alone.
    docker_ok(&["stop", "-t", "1", &id_of(&p, "db")]);
    apply_ok(&p);
    assert_eq!(id_of(&p, "api"), api.0, "api was replaced, not restarted");
    assert_ne!(p.started_at("api"), api.1, "api was not restarted");
    assert!(started("db") <= started("api"), "api restarted before db");
    assert_eq!((id_of(&p, "worker"), p.started_at("worker")), worker);
    let before = containers_and_starts(&p);
    assert_apply_changes_nothing(&p, &before);

    // `db` replaced by a change of the file: `api` restarts after it again.
    let api = (id_of(&p, "api"), p.started_at("api"));
    p.write(&RESTARTS.replace("{{knob}}", "3601"));
    apply_ok(&p);
    assert_eq!(id_of(&p, "api"), api.0);
    assert_ne!(p.started_at("api"), api.1, "api was not restarted");
    assert!(started("db") <= started("api"), "api restarted before db");
    assert_eq!((id_of(&p, "worker"), p.started_at("worker")), worker);
    let before = containers_and_starts(&p);
    assert_apply_changes_nothing(&p, &before);
}

/// The daemon keeps `restart: true` level-triggered: `db` restarted behind its back
/// (`docker restart`) is followed by a restart of `api`, from the event stream, with no
/// resync in sight; `worker` is left alone.
#[test]
fn the_controller_restarts_a_dependent_after_its_dependency_restarted_by_hand() {
    busybox_image();
    let p = TestProject::new("depends-restart-run");
    p.write(&RESTARTS.replace("{{knob}}", "3600"));
    let mut controller = common::start_controller(&p, &["--resync", "10m"]);
    let up = std::time::Duration::from_secs(30);
    assert!(
        holdfast_testkit::wait_until(up, || ["db", "api", "worker"].iter().all(|s| p.is_ready(s)))
            .is_some(),
        "not up:\n{}",
        controller.log()
    );
    let api = (id_of(&p, "api"), p.started_at("api"));
    let worker = (id_of(&p, "worker"), p.started_at("worker"));

    docker_ok(&["restart", "-t", "1", &id_of(&p, "db")]);
    let started = |s: &str| p.started_at(s).map(|t| parse_docker_time(&t));
    assert!(
        holdfast_testkit::wait_until(up, || p.started_at("api") != api.1
            && started("db") <= started("api"))
        .is_some(),
        "api was not restarted after db:\n{}",
        controller.log()
    );
    assert_eq!(id_of(&p, "api"), api.0, "api was replaced, not restarted");
    assert_eq!((id_of(&p, "worker"), p.started_at("worker")), worker);
    assert!(
        controller
            .terminate(std::time::Duration::from_secs(20))
            .success()
    );
}
