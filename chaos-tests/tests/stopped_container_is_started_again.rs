//! `docker stop` the service's container: the controller starts it again (the file says
//! it runs; stopping by hand is drift, as in Kubernetes).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use holdfast_chaos_tests::{Controller, PLAIN_FILE, inject, repeat_fault};
use holdfast_testkit::{TestProject, busybox_image};

#[test]
fn stopped_container_is_started_again() {
    let _serial = holdfast_chaos_tests::exclusive();
    busybox_image();
    let project = TestProject::new("chaos-stop");
    let file = project.write(PLAIN_FILE);
    let mut controller = Controller::start(&project, &file);

    let recoveries = repeat_fault(
        &project,
        &mut controller,
        "docker stop",
        5,
        Duration::from_secs(15),
        |live| inject(&["stop", &live.id]),
    );
    assert!(
        recoveries.median() < Duration::from_secs(2),
        "median recovery after docker stop is {} ms, over the 2 s budget",
        recoveries.median().as_millis()
    );

    controller.stop();
}
