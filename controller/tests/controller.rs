//! `holdfast run` against the real Docker engine: the controller restarts unhealthy
//! containers, replaces containers changed by hand, reports a broken file with its line
//! and column while changing nothing, picks up the next valid file, and exits 0 on
//! SIGTERM.
//!
//! Each test starts its own controller on its own [`TestProject`]; the controller's
//! output goes to `controller.log` in the project's folder and is printed when a test
//! fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{containers_and_starts, env_of, exec, force_pass, id_of, inspect, start_controller};
use holdfast_testkit::{
    BUSYBOX_IMAGE, Daemon, PROJECT_LABEL, TestProject, busybox_image, docker, docker_ok, wait_until,
};

/// How long the controller may take to bring a fresh project up.
const UP: Duration = Duration::from_secs(30);

/// How long a SIGTERMed controller may take to exit.
const STOP: Duration = Duration::from_secs(20);

fn wait_ready(p: &TestProject, services: &[&str]) {
    assert!(
        wait_until(UP, || services.iter().all(|s| p.is_ready(s))).is_some(),
        "{services:?} not ready within {UP:?}"
    );
}

fn stop(mut controller: Daemon) {
    let status = controller.terminate(STOP);
    assert!(
        status.success(),
        "the controller exited with {status} after SIGTERM\n{}",
        controller.log()
    );
    let log = controller.log();
    assert!(log.contains("stopped"), "{log}");
}

/// `app`'s health check tests for `/tmp/ok`, which its command creates at start (the
/// test image has no `/tmp`, so the command makes it); one failed check makes it
/// unhealthy.
const HEALTHCHECKED: &str = r#"name: {{project}}
services:
  app:
    image: {{image}}
    command: ["sh", "-c", "mkdir -p /tmp && touch /tmp/ok && exec sleep 3600"]
    init: true
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ok"]
      interval: 1s
      retries: 1
  bystander:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
"#;

#[test]
fn unhealthy_container_is_restarted_in_place_and_becomes_healthy_again() {
    busybox_image();
    let p = TestProject::new("unhealthy");
    p.write(HEALTHCHECKED);
    let controller = start_controller(&p, &[]);
    wait_ready(&p, &["app", "bystander"]);
    let id = id_of(&p, "app");
    let started = p.started_at("app");
    let bystander = id_of(&p, "bystander");
    let bystander_started = p.started_at("bystander");

    let rm = exec(&id, &["rm", "/tmp/ok"]);
    assert!(rm.status.success(), "{rm:?}");

    assert!(
        wait_until(Duration::from_secs(20), || p.started_at("app") != started).is_some(),
        "the unhealthy container was not restarted within 20 s"
    );
    assert_eq!(id_of(&p, "app"), id, "restarted means the same container");
    assert!(
        wait_until(Duration::from_secs(15), || p.is_ready("app")).is_some(),
        "not healthy again within 15 s: {}",
        inspect(&p, "app")["State"]
    );
    assert_eq!(inspect(&p, "app")["State"]["Health"]["Status"], "healthy");
    assert_eq!(id_of(&p, "app"), id);
    let log = controller.log();
    assert!(log.contains("restart service/app: unhealthy"), "{log}");

    assert_eq!(id_of(&p, "bystander"), bystander);
    assert_eq!(p.started_at("bystander"), bystander_started);
    stop(controller);
}

/// Two services; `{{mode}}` is `a`'s `MODE` and `{{restart}}` its restart policy.
const TWO_SERVICES: &str = r#"name: {{project}}
services:
  a:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
    environment:
      MODE: {{mode}}
    restart: {{restart}}
  b:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
"#;

fn two_services(mode: &str, restart: &str) -> String {
    TWO_SERVICES
        .replace("{{mode}}", mode)
        .replace("{{restart}}", restart)
}

fn mode_of(p: &TestProject, service: &str) -> Option<String> {
    let c = p.inspect(service)?;
    (c["State"]["Running"] == true)
        .then(|| env_of(&c).get("MODE").cloned())
        .flatten()
}

#[test]
fn broken_file_is_reported_with_line_and_column_and_changes_nothing_until_fixed() {
    busybox_image();
    let p = TestProject::new("broken-file");
    p.write(&two_services("one", "unless-stopped"));
    // A short resync, so that the controller looks at the project several times while
    // the broken file is in place.
    let mut controller = start_controller(&p, &["--resync", "1s"]);
    wait_ready(&p, &["a", "b"]);
    let before = containers_and_starts(&p);
    assert_eq!(before.len(), 2);

    // A change to `a` that would recreate it, and a bad restart policy.
    let broken = two_services("two", "sometimes");
    let line = broken
        .lines()
        .position(|l| l.contains("restart: sometimes"))
        .unwrap()
        + 1;
    let col = broken
        .lines()
        .nth(line - 1)
        .unwrap()
        .find("sometimes")
        .unwrap()
        + 1;
    p.write(&broken);
    let location = format!("holdfast.yaml:{line}:{col}");
    assert!(
        controller.wait_for_log(&location, Duration::from_secs(15)),
        "the controller did not report {location}:\n{}",
        controller.log()
    );
    // Passes begun after the broken save keep the last good file.
    force_pass(&p, "service/a");
    force_pass(&p, "service/b");
    assert_eq!(
        containers_and_starts(&p),
        before,
        "a container changed while the file was broken"
    );
    assert!(controller.try_wait().is_none(), "the controller exited");

    // The fixed file is applied: `a` gets the new environment, `b` is left alone.
    p.write(&two_services("two", "unless-stopped"));
    assert!(
        wait_until(UP, || mode_of(&p, "a").as_deref() == Some("two")).is_some(),
        "the valid file was not applied:\n{}",
        controller.log()
    );
    let b = id_of(&p, "b");
    assert_eq!(before.get(&b), p.started_at("b").as_ref(), "b was touched");
    assert_eq!(p.container_ids().len(), 2);
    stop(controller);
}

const PLAIN: &str = holdfast_testkit::SLEEPER_FILE;

/// `docker run` of `name` as holdfast would run `app` of [`PLAIN`] in project `p` (labels
/// with spec hash `hash`, network and alias, init), but with `MODE=by-hand`; returns the
/// container ID.
fn run_by_hand(p: &TestProject, name: &str, hash: &str) -> String {
    let project_label = format!("{PROJECT_LABEL}={}", p.name);
    let hash_label = format!("io.holdfast.spec-hash={hash}");
    let network = format!("{}_default", p.name);
    docker_ok(&[
        "run",
        "-d",
        "--init",
        "--name",
        name,
        "--network",
        &network,
        "--network-alias",
        "app",
        "--label",
        &project_label,
        "--label",
        "io.holdfast.service=app",
        "--label",
        &hash_label,
        "-e",
        "MODE=by-hand",
        BUSYBOX_IMAGE,
        "sleep",
        "3600",
    ])
}

#[test]
fn container_recreated_by_hand_with_other_env_is_replaced() {
    busybox_image();
    let p = TestProject::new("by-hand");
    p.write(PLAIN);
    let controller = start_controller(&p, &[]);
    wait_ready(&p, &["app"]);
    let original = id_of(&p, "app");
    let hash = inspect(&p, "app")["Config"]["Labels"]["io.holdfast.spec-hash"]
        .as_str()
        .unwrap()
        .to_string();
    let name = format!("{}-app", p.name);

    // Replace the container by hand: same name, same labels (even the spec hash), other
    // environment. The controller is frozen meanwhile, so that it does not put the
    // removed container back before `docker run` (that race is a separate matter); it
    // finds the Docker events waiting when it is thawed.
    controller.signal("STOP");
    let replaced = std::panic::catch_unwind(|| {
        docker_ok(&["rm", "-f", &name]);
        run_by_hand(&p, &name, &hash)
    });
    controller.signal("CONT");
    let by_hand = replaced.unwrap();
    assert_ne!(by_hand, original);

    assert!(
        wait_until(Duration::from_secs(20), || {
            p.container_of("app").is_some_and(|id| id != by_hand)
                && mode_of(&p, "app").as_deref() == Some("from-file")
        })
        .is_some(),
        "the hand-made container was not replaced; now: {:?}\n{}",
        p.inspect("app").map(|c| (c["Id"].clone(), env_of(&c))),
        controller.log()
    );
    assert_eq!(
        docker(&["inspect", &by_hand]).status.code(),
        Some(1),
        "the hand-made container is still there"
    );
    assert_eq!(p.container_ids().len(), 1);
    let log = controller.log();
    // Only the environment differs.
    assert!(log.contains("recreate service/app: env changed"), "{log}");
    stop(controller);
}

#[test]
fn service_whose_name_was_taken_is_created_once_the_name_is_free() {
    busybox_image();
    let p = TestProject::new("name-taken");
    p.write(PLAIN);
    // Not holdfast's: no labels. Removed by hand below, or by the Drop of `squatter`.
    let name = format!("{}-app", p.name);
    docker_ok(&[
        "run",
        "-d",
        "--init",
        "--name",
        &name,
        BUSYBOX_IMAGE,
        "sleep",
        "3600",
    ]);
    struct Squatter(String);
    impl Drop for Squatter {
        fn drop(&mut self) {
            let _ = docker(&["rm", "-f", &self.0]);
        }
    }
    let _squatter = Squatter(name.clone());

    let controller = start_controller(&p, &["--resync", "1s"]);
    assert!(
        controller.wait_for_log("is taken by a container holdfast does not own", UP),
        "{}",
        controller.log()
    );
    // Do as the error says.
    docker_ok(&["rm", "-f", &name]);
    assert!(
        wait_until(Duration::from_secs(15), || p.is_ready("app")).is_some(),
        "the service was not created after the name became free:\n{}",
        controller.log()
    );
    stop(controller);
}

/// A saved file that renames the project while the old one still has containers is
/// refused, as the git source refuses such a commit: the old containers would keep
/// running unmanaged.
#[test]
fn a_file_that_renames_the_project_is_refused_while_the_old_one_has_containers() {
    busybox_image();
    let p = TestProject::new("file-rename");
    p.write(&two_services("one", "unless-stopped"));
    let controller = start_controller(&p, &[]);
    wait_ready(&p, &["a", "b"]);
    let before = containers_and_starts(&p);

    let renamed = format!("{}-renamed", p.name);
    p.write(&two_services("one", "unless-stopped").replace("{{project}}", &renamed));
    assert!(
        controller.wait_for_log("RenameRefused", Duration::from_secs(15)),
        "no refusal:\n{}",
        controller.log()
    );
    assert!(
        controller
            .log()
            .contains(&format!("renames the project `{}`", p.name))
    );
    // The old project is still the one kept: a forced pass over it changes nothing, and
    // the new name has no containers.
    force_pass(&p, "service/a");
    assert_eq!(containers_and_starts(&p), before);
    let new_ones = docker_ok(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label={PROJECT_LABEL}={renamed}"),
    ]);
    assert_eq!(new_ones, "", "containers were made for the new name");
    stop(controller);
}
