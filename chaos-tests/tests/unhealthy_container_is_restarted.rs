//! Make the service's container unhealthy (its health check tests for `/tmp/ok`, which
//! the command creates at start; `docker exec … rm /tmp/ok` breaks it): Docker only
//! reports it, and the controller restarts it, after which it is healthy again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use holdfast_chaos_tests::{
    Controller, HEALTHCHECKED_FILE, Live, Recoveries, SERVICE, inject, measure_recovery, wait_ready,
};
use holdfast_testkit::{TestProject, busybox_image};

#[test]
fn unhealthy_container_is_restarted() {
    let _serial = holdfast_chaos_tests::exclusive();
    busybox_image();
    let project = TestProject::new("chaos-unhealthy");
    let file = project.write(HEALTHCHECKED_FILE);
    let mut controller = Controller::start(&project, &file);

    // Three faults, within the controller's budget of 5 unhealthy restarts per 5 minutes.
    let mut recoveries = Recoveries::new("health check failing");
    for _ in 0..3 {
        let before = wait_ready(&project, SERVICE);
        assert_eq!(before.health.as_deref(), Some("healthy"));

        let at = inject(&["exec", &before.id, "rm", "/tmp/ok"]);
        let mut restarted: Option<Instant> = None;
        recoveries.push(measure_recovery(
            "health check failing",
            at,
            Duration::from_secs(20),
            || {
                let Some(now) = Live::get(&before.name) else {
                    return false;
                };
                let again = now.id != before.id || now.started_at != before.started_at;
                if again && restarted.is_none() {
                    restarted = Some(Instant::now());
                }
                again && now.is_ready() && now.health.as_deref() == Some("healthy")
            },
        ));
        if let Some(t) = restarted {
            eprintln!(
                "  (restarted {} ms after the fault; the rest is the health check's interval)",
                t.duration_since(at).as_millis()
            );
        }
        controller.assert_running();
        assert_eq!(project.container_ids().len(), 1);
    }
    recoveries.report();
    let log = controller.log();
    let actions: Vec<&str> = log.lines().filter(|l| l.contains("reason=")).collect();
    eprintln!("the controller reported:\n{}", actions.join("\n"));

    controller.stop();
}
