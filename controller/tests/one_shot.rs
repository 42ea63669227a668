//! `depends_on: {X: {condition: service_completed_successfully}}` against the real
//! engine: the one-shot runs to exit 0 before its dependents start, and is not started
//! again afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    apply_ok, assert_apply_changes_nothing, containers_and_starts, id_of, inspect, plan, stdout,
};
use holdfast_testkit::{TestProject, busybox_image, parse_docker_time};

const FILE: &str = r#"name: {{project}}
services:
  migrate:
    image: {{image}}
    # Takes a moment, so that a dependent started too early would find no marker.
    command: ["sh", "-c", "sleep 2 && touch /data/migrated"]
    volumes: ["data:/data"]
  app:
    image: {{image}}
    # Exits 1 (and is restarted) if the migration has not run.
    command: ["sh", "-c", "test -f /data/migrated && exec sleep 3600"]
    init: true
    volumes: ["data:/data"]
    depends_on:
      migrate: {condition: service_completed_successfully}
volumes:
  data: {}
"#;

#[test]
fn a_one_shot_completes_before_its_dependent_starts_and_is_not_restarted() {
    busybox_image();
    let p = TestProject::new("one-shot");
    p.write(FILE);
    apply_ok(&p);

    let migrate = inspect(&p, "migrate");
    assert_eq!(migrate["State"]["Status"], "exited", "{}", migrate["State"]);
    assert_eq!(migrate["State"]["ExitCode"], 0);
    assert_eq!(migrate["HostConfig"]["RestartPolicy"]["Name"], "no");
    let app = inspect(&p, "app");
    assert_eq!(app["State"]["Status"], "running", "{}", app["State"]);
    assert_eq!(
        app["RestartCount"], 0,
        "app started before the migration ended"
    );
    let finished = parse_docker_time(migrate["State"]["FinishedAt"].as_str().unwrap());
    let started = parse_docker_time(app["State"]["StartedAt"].as_str().unwrap());
    assert!(finished <= started, "app started before migrate exited");

    // The completed one-shot is neither started again nor reported as drift.
    let out = plan(&p);
    let text = stdout(&out);
    assert!(!text.contains("start service/migrate"), "{text}");
    let migrate_id = id_of(&p, "migrate");
    let before = containers_and_starts(&p);
    assert_apply_changes_nothing(&p, &before);
    assert_eq!(id_of(&p, "migrate"), migrate_id);
    assert_eq!(inspect(&p, "migrate")["State"]["Status"], "exited");
}
