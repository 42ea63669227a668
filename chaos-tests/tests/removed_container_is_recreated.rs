//! `docker rm -f` the service's container: the controller creates a new one and runs it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use holdfast_chaos_tests::{Controller, PLAIN_FILE, inject, repeat_fault};
use holdfast_testkit::{TestProject, busybox_image, docker};

#[test]
fn removed_container_is_recreated() {
    let _serial = holdfast_chaos_tests::exclusive();
    busybox_image();
    let project = TestProject::new("chaos-rm");
    let file = project.write(PLAIN_FILE);
    let mut controller = Controller::start(&project, &file);

    let mut removed = Vec::new();
    let recoveries = repeat_fault(
        &project,
        &mut controller,
        "docker rm -f",
        5,
        Duration::from_secs(15),
        |live| {
            removed.push(live.id.clone());
            inject(&["rm", "-f", &live.id])
        },
    );
    assert!(
        recoveries.median() < Duration::from_secs(2),
        "median recovery after docker rm -f is {} ms, over the 2 s budget",
        recoveries.median().as_millis()
    );
    for id in &removed {
        assert!(
            !docker(&["container", "inspect", id]).status.success(),
            "removed container {id} is back"
        );
    }

    controller.stop();
}
