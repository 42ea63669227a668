//! Compose's file layering against the real engine: profiles, extends and include.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    apply, apply_ok, assert_apply_changes_nothing, assert_exit, containers_and_starts, env_of,
    id_of, inspect, plan, stdout,
};
use holdfast_testkit::{TestProject, busybox_image};

const FILE: &str = r#"name: {{project}}
services:
  app:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
  debug:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
    profiles: [debug]
"#;

#[test]
fn a_service_whose_profile_turns_inactive_keeps_its_container() {
    busybox_image();
    let p = TestProject::new("profiles");
    p.write(FILE);

    // Without the profile the service is left out: no container.
    apply_ok(&p);
    assert!(p.container_of("app").is_some());
    assert_eq!(
        p.container_of("debug"),
        None,
        "an inactive service was started"
    );

    // With it, it runs.
    let out = apply(&p, &["--profile", "debug"]);
    assert_exit(&out, 0, "holdfast apply --profile debug");
    let debug = id_of(&p, "debug");

    // The profile turns inactive again: the container is not removed as gone from
    // the file, and the plan says nothing about it.
    let out = plan(&p);
    assert_exit(&out, 0, "holdfast plan");
    let text = stdout(&out);
    assert!(!text.contains("service/debug"), "{text}");
    apply_ok(&p);
    assert_eq!(
        id_of(&p, "debug"),
        debug,
        "the inactive service's container changed"
    );
}

#[test]
fn extends_from_another_file_reaches_the_container() {
    busybox_image();
    let p = TestProject::new("extends");
    p.write_file(
        "common/base.yaml",
        &"services:
  base:
    image: {{image}}
    command: [\"sleep\", \"3600\"]
    init: true
    working_dir: /srv
    environment: {FROM: common, LEVEL: base}
    labels: {team: common}
    volumes: [\"./data:/data\"]
"
        .replace("{{image}}", holdfast_testkit::BUSYBOX_IMAGE),
    );
    p.write(
        r#"name: {{project}}
services:
  app:
    extends: {file: common/base.yaml, service: base}
    environment: {LEVEL: app}
    labels: {role: app}
  local:
    extends: app
    hostname: local-host
"#,
    );
    apply_ok(&p);

    let app = inspect(&p, "app");
    let env = env_of(&app);
    assert_eq!(
        env.get("FROM").map(String::as_str),
        Some("common"),
        "{env:?}"
    );
    assert_eq!(env.get("LEVEL").map(String::as_str), Some("app"), "{env:?}");
    assert_eq!(app["Config"]["WorkingDir"], "/srv");
    assert_eq!(app["Config"]["Cmd"][1], "3600");
    assert_eq!(app["Config"]["Labels"]["team"], "common");
    assert_eq!(app["Config"]["Labels"]["role"], "app");
    // The bind mount's relative path starts from the extended file's folder.
    let mounts = app["Mounts"].to_string();
    let data = p.dir.join("common/data");
    assert!(mounts.contains(data.to_str().unwrap()), "{mounts}");

    // Extends in the same file, of a service that itself extends another file.
    let local = inspect(&p, "local");
    assert_eq!(local["Config"]["Hostname"], "local-host");
    assert_eq!(env_of(&local).get("LEVEL").map(String::as_str), Some("app"));
    assert_eq!(local["Config"]["WorkingDir"], "/srv");

    // A second apply changes nothing.
    let before = containers_and_starts(&p);
    assert_apply_changes_nothing(&p, &before);
}

#[test]
fn include_brings_up_the_included_services() {
    busybox_image();
    let p = TestProject::new("include");
    p.write_file(
        "lib/cache.yaml",
        &"services:
  cache:
    image: {{image}}
    command: [\"sleep\", \"3600\"]
    init: true
    environment: {ROLE: cache}
    volumes: [\"./conf:/conf:ro\"]
    networks: [backend]
networks:
  backend: {}
"
        .replace("{{image}}", holdfast_testkit::BUSYBOX_IMAGE),
    );
    p.write_file("lib/conf/cache.conf", "maxmemory 1mb\n");
    p.write(
        r#"name: {{project}}
include: [lib/cache.yaml]
services:
  app:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
    networks: [backend]
    depends_on: [cache]
"#,
    );
    apply_ok(&p);

    let cache = inspect(&p, "cache");
    assert_eq!(
        env_of(&cache).get("ROLE").map(String::as_str),
        Some("cache")
    );
    let conf = p.dir.join("lib/conf");
    let mounts = cache["Mounts"].to_string();
    assert!(mounts.contains(conf.to_str().unwrap()), "{mounts}");
    // Both services on the included file's network.
    let app = inspect(&p, "app");
    let nets = |c: &serde_json::Value| {
        c["NetworkSettings"]["Networks"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    let net = format!("{}_backend", p.name);
    assert!(nets(&cache).contains(&net), "{:?}", nets(&cache));
    assert!(nets(&app).contains(&net), "{:?}", nets(&app));
    // The dependency is honoured: cache started before app.
    let started = |c: &serde_json::Value| {
        holdfast_testkit::parse_docker_time(c["State"]["StartedAt"].as_str().unwrap())
    };
    assert!(started(&cache) <= started(&app));

    let before = containers_and_starts(&p);
    assert_apply_changes_nothing(&p, &before);
}
