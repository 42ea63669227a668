//! Defects found in the core review, each against the real Docker engine:
//!
//! 1. an image that declares a `VOLUME` the file leaves unmounted was recreated on
//!    every pass;
//! 2. a suspended or report-only service still created networks and volumes, built
//!    or pulled its image and removed extra containers;
//! 3. a change of a network's or volume's configuration in the file was ignored.
//!
//! Every test has its own [`TestProject`] and checks the engine with the `docker` CLI.
//! Some call [`reconcile::reconcile`] directly, to set what the runtime would
//! (`Context.suspended`) and to read the whole report.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Mutex;

use common::{
    apply_ok, assert_apply_changes_nothing, assert_exit, containers_and_starts, exec, id_of,
    inspect, inspect_object, plan, stdout,
};
use holdfast::resources::service::drift::Field;
use holdfast::resources::service::reconcile::{
    self, Context, Mode, Outcome, ReconcileError, Report, RestartLimiter,
};
use holdfast_spec::{DesiredState, LoadOptions, load_file};
use holdfast_testkit::{
    BUSYBOX_IMAGE, IMAGE_VOLUME, PROJECT_LABEL, TestProject, busybox_image, docker, docker_ok,
    volume_image,
};
use serde_json::Value;

fn load(p: &TestProject) -> DesiredState {
    match load_file(&p.file(), &LoadOptions::default()) {
        Ok(loaded) => loaded.state,
        Err(report) => panic!("the test's file does not load:\n{}", report.render()),
    }
}

/// One reconcile of `service` as the daemon runs it (apply mode), with `suspended` as
/// the runtime would pass it.
async fn reconcile_once(
    p: &TestProject,
    service: &str,
    suspended: bool,
) -> Result<Report, ReconcileError> {
    let docker = holdfast::docker::connect().await.unwrap();
    let state = load(p);
    let restarts = Mutex::new(RestartLimiter::default());
    let cx = Context {
        docker: &docker,
        state: &state,
        mode: Mode::Apply,
        suspended,
        removal_allowed: true,
        restarts: &restarts,
        start_wait: None,
        revision: None,
        waiting_for: None,
        cache: None,
        pulled: &holdfast::docker::image::Pulled::default(),
        creating: &tokio::sync::Mutex::new(()),
        rollouts: None,
        configs_dir: &std::env::temp_dir().join("holdfast-configs"),
    };
    reconcile::reconcile(&cx, service).await
}

fn exists(kind: &str, name: &str) -> bool {
    docker(&[kind, "inspect", name]).status.success()
}

/// Removes images by name when dropped.
struct ImageGuard(Vec<String>);

impl Drop for ImageGuard {
    fn drop(&mut self) {
        for image in &self.0 {
            let _ = docker(&["rmi", "-f", image]);
        }
    }
}

// ---------------------------------------------------------------------------------
// 1. An image's `VOLUME`.

/// Two services on an image that declares `VOLUME /data`: `cache` leaves it to Docker's
/// anonymous volume, `store` mounts a named volume there.
const IMAGE_VOLUME_FILE: &str = r#"name: {{project}}
services:
  cache:
    image: {{volume_image}}
    command: ["sleep", "3600"]
    init: true
  store:
    image: {{volume_image}}
    command: ["sleep", "3600"]
    init: true
    volumes: ["data:/data"]
volumes:
  data: {}
"#;

#[test]
fn an_image_volume_left_unmounted_or_mounted_by_name_is_not_drift() {
    let image = volume_image();
    let p = TestProject::new("image-volume");
    p.write(&IMAGE_VOLUME_FILE.replace("{{volume_image}}", image));
    apply_ok(&p);

    // The premise: Docker made an anonymous volume for `cache`, and used the named
    // one for `store`.
    let at = |service: &str| -> Value {
        let c = inspect(&p, service);
        c["Mounts"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["Destination"] == IMAGE_VOLUME))
            .cloned()
            .unwrap_or_else(|| panic!("{service}: nothing at {IMAGE_VOLUME}: {}", c["Mounts"]))
    };
    let anonymous = at("cache");
    assert_eq!(anonymous["Type"], "volume");
    assert_ne!(anonymous["Name"], format!("{}_data", p.name));
    assert_eq!(at("store")["Name"], format!("{}_data", p.name));
    let before = containers_and_starts(&p);
    assert_eq!(before.len(), 2);

    let out = plan(&p);
    assert_exit(&out, 0, "holdfast plan");
    assert_eq!(
        stdout(&out),
        "",
        "plan wants to change something right after apply\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_apply_changes_nothing(&p, &before);
}

// ---------------------------------------------------------------------------------
// 2. Suspended and report-only services change nothing.

/// A service built from `./app`, on network `backend`, with volume `data`; the
/// `x-holdfast` line is `{{holdfast}}`.
const HELD_FILE: &str = r#"name: {{project}}
services:
  app:
    build: {context: ./app}
    command: ["sleep", "3600"]
    init: true
    networks: [backend]
    volumes: ["data:/data"]
    {{holdfast}}
networks:
  backend: {}
volumes:
  data: {}
"#;

/// A project with [`HELD_FILE`] (with `holdfast` as its `x-holdfast` line) and the
/// build context, and a guard for the image a build would make.
fn held_project(test: &str, holdfast: &str) -> (ImageGuard, TestProject) {
    busybox_image();
    let p = TestProject::new(test);
    let guard = ImageGuard(vec![format!("{}-app", p.name)]);
    p.write_file("app/Dockerfile", &format!("FROM {BUSYBOX_IMAGE}\n"));
    p.write(&HELD_FILE.replace("{{holdfast}}", holdfast));
    (guard, p)
}

/// Asserts that neither the network, the volume nor the image of [`HELD_FILE`] exist.
fn assert_nothing_created(p: &TestProject, report: &Report) {
    let filter = p.filter();
    for kind in ["network", "volume"] {
        assert_eq!(
            docker_ok(&[kind, "ls", "-q", "--filter", &filter]),
            "",
            "a {kind} was created: {report:#?}"
        );
    }
    assert!(
        !exists("network", &format!("{}_backend", p.name)),
        "{report:#?}"
    );
    assert!(
        !exists("volume", &format!("{}_data", p.name)),
        "{report:#?}"
    );
    assert!(
        !exists("image", &format!("{}-app", p.name)),
        "the image was built: {report:#?}"
    );
}

/// The report of a held service that has no container yet: drifted, missing its
/// container, and saying what would be done.
fn assert_held_report(p: &TestProject, report: &Report) {
    assert_eq!(report.outcome, Outcome::Drifted, "{report:#?}");
    assert!(!report.applied, "{report:#?}");
    let plan = report.plan.as_ref().unwrap();
    assert!(
        !plan.actions.iter().any(|a| a.changes_anything()),
        "{plan:#?}"
    );
    assert!(
        plan.drift
            .iter()
            .any(|d| d.field == Field::Running && d.live == "no container"),
        "{plan:#?}"
    );
    for step in [
        format!("build image {}-app", p.name),
        format!("create network {}_backend", p.name),
        format!("create volume {}_data", p.name),
    ] {
        assert!(
            report.steps.contains(&step),
            "no step {step:?}: {report:#?}"
        );
    }
}

/// Runs `busybox sleep` as a container labelled as `app` of the project, as if made by
/// hand (or left by a crash between create and remove). Returns its ID.
fn hand_made_app(p: &TestProject, n: usize) -> String {
    let project = format!("{PROJECT_LABEL}={}", p.name);
    let name = format!("{}-by-hand-{n}", p.name);
    docker_ok(&[
        "run",
        "-d",
        "--init",
        "--name",
        &name,
        "--label",
        &project,
        "--label",
        "io.holdfast.service=app",
        BUSYBOX_IMAGE,
        "sleep",
        "3600",
    ])
}

#[tokio::test]
async fn a_report_only_service_creates_builds_and_removes_nothing() {
    let (_image, p) = held_project("report-only", "x-holdfast: {drift: report}");

    let report = reconcile_once(&p, "app", false).await.unwrap();
    assert_nothing_created(&p, &report);
    assert_held_report(&p, &report);

    // Two containers of the service (one too many), neither as the file says.
    let first = hand_made_app(&p, 1);
    let second = hand_made_app(&p, 2);
    let report = reconcile_once(&p, "app", false).await.unwrap();
    assert_nothing_created(&p, &report);
    assert_eq!(report.outcome, Outcome::Drifted, "{report:#?}");
    let mut ids = p.container_ids();
    ids.sort();
    let mut expected = vec![first, second];
    expected.sort();
    assert_eq!(
        ids, expected,
        "a container was removed or added: {report:#?}"
    );
    for id in &ids {
        assert_eq!(
            docker_ok(&["inspect", "-f", "{{.State.Running}}", id]),
            "true"
        );
    }
    assert!(
        report
            .steps
            .iter()
            .any(|s| s.starts_with("remove extra container")),
        "{report:#?}"
    );
}

#[tokio::test]
async fn a_suspended_service_creates_and_builds_nothing() {
    let (_image, p) = held_project("suspended", "");

    let report = reconcile_once(&p, "app", true).await.unwrap();
    assert_nothing_created(&p, &report);
    assert_held_report(&p, &report);
    assert!(p.container_ids().is_empty());
}

// ---------------------------------------------------------------------------------
// 3. Network and volume configuration.

/// Services `a` and `b` on network `backend`, whose configuration is `{{backend}}`.
const NETWORK_FILE: &str = r#"name: {{project}}
services:
  a:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
    networks: [backend]
  b:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
    networks: [default, backend]
networks:
  backend: {{backend}}
"#;

#[tokio::test]
async fn a_changed_network_is_recreated_and_its_containers_reconnected() {
    busybox_image();
    let p = TestProject::new("network-change");
    p.write(&NETWORK_FILE.replace("{{backend}}", "{}"));
    apply_ok(&p);
    let network = format!("{}_backend", p.name);
    let old = inspect_object("network", &network);
    assert_eq!(old["Internal"], false);
    let before = containers_and_starts(&p);

    p.write(&NETWORK_FILE.replace("{{backend}}", "{internal: true, labels: {team: ops}}"));
    let out = plan(&p);
    assert_exit(&out, 0, "holdfast plan");
    let planned = stdout(&out);
    assert!(
        planned.contains(&format!(
            "recreate network {network}: internal, labels changed"
        )),
        "{planned}"
    );
    assert_eq!(
        inspect_object("network", &network)["Id"],
        old["Id"],
        "plan changed it"
    );

    let report = reconcile_once(&p, "a", false).await.unwrap();
    assert!(
        report
            .steps
            .iter()
            .any(|s| s.starts_with(&format!("recreated network {network}"))),
        "{report:#?}"
    );
    let drift = &report.plan.as_ref().unwrap().drift;
    assert!(
        drift
            .iter()
            .any(|d| d.field == Field::Networks && d.to_string().contains("internal")),
        "the change is not reported as drift: {drift:#?}"
    );
    assert_eq!(report.outcome, Outcome::Ready, "{report:#?}");

    // A new network, as the file says, owned by the project.
    let new = inspect_object("network", &network);
    assert_ne!(new["Id"], old["Id"], "the network was not recreated");
    assert_eq!(new["Internal"], true);
    assert_eq!(new["Labels"]["team"], "ops");
    assert_eq!(new["Labels"][PROJECT_LABEL], p.name.as_str());
    // Both services' containers are on it, running, kept (not restarted), and still
    // answer to their service names.
    assert_eq!(
        containers_and_starts(&p),
        before,
        "a container was replaced or restarted"
    );
    for service in ["a", "b"] {
        let c = inspect(&p, service);
        assert_eq!(c["State"]["Running"], true, "{service}");
        let endpoint = &c["NetworkSettings"]["Networks"][&network];
        assert_eq!(endpoint["NetworkID"], new["Id"], "{service}: {endpoint}");
        assert!(
            endpoint["Aliases"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == service)),
            "{service}: {endpoint}"
        );
    }
    let b = inspect(&p, "b");
    assert!(
        b["NetworkSettings"]["Networks"]
            .get(format!("{}_default", p.name))
            .is_some(),
        "b lost its other network"
    );

    // Converged: apply changes nothing more, plan plans nothing.
    assert_apply_changes_nothing(&p, &before);
    assert_eq!(inspect_object("network", &network)["Id"], new["Id"]);
    let out = plan(&p);
    assert_exit(&out, 0, "holdfast plan");
    assert_eq!(stdout(&out), "", "{}", String::from_utf8_lossy(&out.stderr));
}

/// Removes a network by name when dropped.
struct NetworkGuard(String);

impl Drop for NetworkGuard {
    fn drop(&mut self) {
        let _ = docker(&["network", "rm", &self.0]);
    }
}

#[tokio::test]
async fn a_network_of_that_name_that_holdfast_does_not_own_is_an_error() {
    busybox_image();
    // Declared before the project, so that it goes after the project's containers.
    let mut guard = NetworkGuard(String::new());
    let p = TestProject::new("network-foreign");
    p.write(&NETWORK_FILE.replace("{{backend}}", "{}"));
    let network = format!("{}_backend", p.name);
    docker_ok(&["network", "create", &network]);
    guard.0 = network.clone();
    let id = inspect_object("network", &network)["Id"].clone();

    let e = reconcile_once(&p, "a", false).await.unwrap_err();
    let message = e.to_string();
    assert!(
        message.contains(&network) && message.contains("not holdfast's"),
        "{message}"
    );
    assert_eq!(
        inspect_object("network", &network)["Id"],
        id,
        "the network was touched"
    );
    assert!(p.container_ids().is_empty(), "a container was made");
}

/// Service `app` with the named volume `data`, whose configuration is `{{data}}`.
const VOLUME_FILE: &str = r#"name: {{project}}
services:
  app:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
    volumes: ["data:/data"]
volumes:
  data: {{data}}
"#;

#[tokio::test]
async fn a_changed_volume_is_kept_and_reported_with_how_to_fix_it() {
    busybox_image();
    let p = TestProject::new("volume-change");
    p.write(&VOLUME_FILE.replace("{{data}}", "{}"));
    apply_ok(&p);
    let volume = format!("{}_data", p.name);
    let app = id_of(&p, "app");
    assert!(
        exec(&app, &["sh", "-c", "echo kept > /data/marker"])
            .status
            .success()
    );
    let old = inspect_object("volume", &volume);
    let before = containers_and_starts(&p);

    p.write(&VOLUME_FILE.replace("{{data}}", "{labels: {team: ops}}"));
    let fix = format!("docker volume rm {volume}");
    let out = plan(&p);
    assert_exit(&out, 0, "holdfast plan");
    let planned = stdout(&out);
    assert!(planned.contains(&fix), "{planned}");
    assert!(planned.contains("differs in mounts"), "{planned}");

    for pass in 0..2 {
        let report = reconcile_once(&p, "app", false).await.unwrap();
        assert_eq!(report.outcome, Outcome::Ready, "pass {pass}: {report:#?}");
        let drift = &report.plan.as_ref().unwrap().drift;
        let reported = drift
            .iter()
            .find(|d| d.field == Field::Mounts)
            .unwrap_or_else(|| panic!("pass {pass}: no drift reported: {drift:#?}"))
            .to_string();
        assert!(
            reported.contains(&volume)
                && reported.contains("labels")
                && reported.contains(&fix)
                && reported.contains("holdfast apply"),
            "{reported}"
        );
    }

    // The volume is untouched, its data is there, the service kept running.
    let now = inspect_object("volume", &volume);
    assert_eq!(now["CreatedAt"], old["CreatedAt"]);
    assert_eq!(now["Labels"], old["Labels"]);
    assert_eq!(containers_and_starts(&p), before);
    let cat = exec(&app, &["cat", "/data/marker"]);
    assert_eq!(String::from_utf8_lossy(&cat.stdout), "kept\n");

    // Done as the message says, the next apply makes the volume anew as the file says.
    docker_ok(&["rm", "-f", &app]);
    docker_ok(&["volume", "rm", &volume]);
    apply_ok(&p);
    assert_eq!(inspect_object("volume", &volume)["Labels"]["team"], "ops");
    let out = plan(&p);
    assert_eq!(stdout(&out), "", "{}", String::from_utf8_lossy(&out.stderr));
}
