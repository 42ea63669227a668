//! Recreate the service's container by hand with another environment: `docker rm -f`,
//! then `docker run` with the same name, the same holdfast labels (copied from the old
//! container, spec hash included) and the same network, but `-e MODE=by-hand`. The
//! labels claim the container matches the file; the controller must compare the fields
//! themselves and replace it with one whose env is the file's.
//!
//! The controller is paused (SIGSTOP) while the container is swapped and resumed right
//! after: otherwise it recreates the removed container from the `destroy` event within
//! milliseconds, before `docker run` can take the name, and there would be nothing
//! hand-made to correct. Recovery is measured from the resume; the Docker events of the
//! swap wait in the controller's event stream, as they would during a long reconcile.
//!
//! It is paused only once idle ([`Controller::wait_idle`]): a reconcile frozen between
//! listing the containers and creating one would, on resume, find the old container
//! gone, try to create a new one and collide with the hand-made one. That race is
//! real (an operator's `docker run` can land between the controller's observe and its
//! create) and currently stalls the service for good; this test is about drift
//! correction, not about that race.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use holdfast_chaos_tests::{
    Controller, FILE_MODE, Live, PLAIN_FILE, Recoveries, SERVICE, measure_recovery, wait_ready,
};
use holdfast_testkit::{TestProject, busybox_image, docker, docker_ok};

#[test]
fn hand_made_container_with_other_env_is_replaced() {
    let _serial = holdfast_chaos_tests::exclusive();
    busybox_image();
    let project = TestProject::new("chaos-handmade");
    let file = project.write(PLAIN_FILE);
    let mut controller = Controller::start(&project, &file);

    let mut recoveries = Recoveries::new("hand-made container with other env");
    for _ in 0..3 {
        let before = wait_ready(&project, SERVICE);
        assert_eq!(before.env_var("MODE"), Some(FILE_MODE));

        let labels: Vec<String> = before
            .labels
            .iter()
            .filter(|(k, _)| k.starts_with("io.holdfast."))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut run = vec!["run", "-d", "--name", &before.name, "--init"];
        for label in &labels {
            run.extend(["--label", label.as_str()]);
        }
        for network in &before.networks {
            run.extend(["--network", network.as_str(), "--network-alias", SERVICE]);
        }
        run.extend(["-e", "MODE=by-hand", &before.image, "sleep", "3600"]);

        // At rest, so that no reconcile is frozen half-way and resumes on a container
        // that is gone (see the module docs).
        controller.wait_idle(Duration::from_millis(500), Duration::from_secs(20));
        controller.pause();
        docker_ok(&["rm", "-f", &before.id]);
        let hand_id = docker_ok(&run);
        let hand = Live::get(&hand_id).expect("the hand-made container exists");
        assert!(hand.running, "the hand-made container runs");
        assert_eq!(hand.env_var("MODE"), Some("by-hand"));
        assert_eq!(
            hand.labels, before.labels,
            "same labels, spec hash included"
        );

        let resumed = Instant::now();
        controller.resume();
        recoveries.push(measure_recovery(
            "hand-made container with other env",
            resumed,
            Duration::from_secs(20),
            || {
                Live::get(&before.name).is_some_and(|now| {
                    now.id != hand_id && now.is_ready() && now.env_var("MODE") == Some(FILE_MODE)
                })
            },
        ));
        controller.assert_running();
        assert!(
            !docker(&["container", "inspect", &hand_id]).status.success(),
            "the hand-made container is still there"
        );
        assert_eq!(project.container_ids().len(), 1);
    }
    recoveries.report();
    let log = controller.log();
    let drift: Vec<&str> = log.lines().filter(|l| l.contains("reason=")).collect();
    eprintln!("the controller reported:\n{}", drift.join("\n"));
    assert!(
        drift
            .iter()
            .any(|l| l.contains("env: want MODE=from-file, have MODE=by-hand")),
        "the controller should report the env drift it corrected"
    );

    controller.stop();
}
