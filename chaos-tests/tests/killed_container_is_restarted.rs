//! SIGKILL the service's container (`docker kill`): the controller starts it again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use holdfast_chaos_tests::{Controller, PLAIN_FILE, inject, repeat_fault};
use holdfast_testkit::{TestProject, busybox_image};

#[test]
fn killed_container_is_restarted() {
    let _serial = holdfast_chaos_tests::exclusive();
    busybox_image();
    let project = TestProject::new("chaos-kill");
    let file = project.write(PLAIN_FILE);
    let mut controller = Controller::start(&project, &file);

    let recoveries = repeat_fault(
        &project,
        &mut controller,
        "SIGKILL",
        5,
        Duration::from_secs(15),
        |live| inject(&["kill", "--signal", "KILL", &live.id]),
    );
    assert!(
        recoveries.median() < Duration::from_secs(2),
        "median recovery after SIGKILL is {} ms, over the 2 s budget",
        recoveries.median().as_millis()
    );

    controller.stop();
}
