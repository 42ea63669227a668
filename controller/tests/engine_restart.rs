//! The Docker engine restarting is survived with no manual step: `holdfast run` against
//! a second dockerd that the test starts itself ([`SecondEngine`]; the machine's engine
//! is never restarted) converges, sees the engine go (its services Degraded, retried
//! with backoff, never Stalled), and once the engine is back reconnects its event
//! stream, relists its cache and reconverges: every service Ready again, the same
//! containers running. `holdfast get` answers throughout.
//!
//! What dockerd does with the containers (checked here, Docker 20.10): a SIGTERM stops
//! them; at start it starts again those with `restart: unless-stopped` (or `always`)
//! itself, and leaves those without a restart policy exited. So `keeper` comes back on
//! its own and `app` only because holdfast starts it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use holdfast::runtime::store::now_ms;

use common::{cli, start_controller_on};
use holdfast_testkit::engine::SecondEngine;
use holdfast_testkit::{TestProject, wait_until};
use serde_json::Value;

const FILE: &str = r#"
name: "{{project}}"
services:
  app:
    image: "{{image}}"
    command: ["sleep", "3600"]
    init: true
  keeper:
    image: "{{image}}"
    command: ["sleep", "3600"]
    init: true
    restart: unless-stopped
"#;

/// How long the controller may take to converge at first, and to reconverge.
const CONVERGE: Duration = Duration::from_secs(60);

/// The statuses `holdfast get -o json` prints; panics when it fails.
fn statuses(p: &TestProject) -> Vec<Value> {
    let out = cli(p, &["get", "-o", "json"]);
    assert!(
        out.status.success(),
        "holdfast get failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Whether both services are Ready in statuses observed at or after `since_ms`.
fn ready_since(p: &TestProject, since_ms: u64) -> bool {
    let s = statuses(p);
    s.len() == 2
        && s.iter().all(|s| {
            s["phase"] == "Ready" && s["observed_at"].as_u64().is_some_and(|t| t >= since_ms)
        })
}

/// `ID → running` of the project's containers in the second engine.
fn containers(engine: &SecondEngine, p: &TestProject) -> Vec<(String, String, bool)> {
    let filter = p.filter();
    let ids = engine.docker_ok(&["ps", "-aq", "--no-trunc", "--filter", &filter]);
    let mut out: Vec<(String, String, bool)> = ids
        .lines()
        .map(|id| {
            let line = engine.docker_ok(&[
                "inspect",
                "-f",
                "{{index .Config.Labels \"io.holdfast.service\"}} {{.State.Running}}",
                id,
            ]);
            let (service, running) = line.split_once(' ').unwrap();
            (service.to_string(), id.to_string(), running == "true")
        })
        .collect();
    out.sort();
    out
}

fn all_running(engine: &SecondEngine, p: &TestProject) -> bool {
    let c = containers(engine, p);
    c.len() == 2 && c.iter().all(|(_, _, running)| *running)
}

#[test]
fn controller_reconnects_relists_and_reconverges_after_the_engine_restarts() {
    let mut engine = SecondEngine::start();
    engine.busybox_image();
    let p = TestProject::new("engine-restart");
    p.write(FILE);
    let mut controller = start_controller_on(&p, Some(&engine.host()), &[]);
    assert!(
        wait_until(CONVERGE, || cli(&p, &["get"]).status.success()
            && ready_since(&p, 0)
            && all_running(&engine, &p))
        .is_some(),
        "did not converge on the second engine: {:?}\n{}",
        statuses(&p),
        controller.log()
    );
    let before = containers(&engine, &p);
    assert!(
        controller.wait_for_log("engine cache relisted", Duration::from_secs(10)),
        "{}",
        controller.log()
    );

    // The engine goes away (its containers are stopped with it).
    engine.stop();
    assert!(!engine.answers());
    // Forced passes fail against the missing engine: Degraded and retried, never
    // Stalled, and never Ready from a cache that can no longer be trusted.
    let degraded = wait_until(Duration::from_secs(30), || {
        let _ = cli(&p, &["reconcile", "--timeout", "10s"]);
        let s = statuses(&p);
        s.len() == 2 && s.iter().all(|s| s["phase"] == "Degraded")
    });
    let during = statuses(&p);
    assert!(
        degraded.is_some(),
        "services were not Degraded while the engine was down: {during:?}\n{}",
        controller.log()
    );
    for s in &during {
        assert_ne!(s["phase"], "Stalled", "{s}");
        assert!(
            s["message"].as_str().unwrap_or("").contains("retry"),
            "a connection error is retried with backoff: {s}"
        );
    }
    assert!(controller.try_wait().is_none(), "the controller exited");

    // The engine comes back; nobody tells the controller.
    let back = engine.start_again();
    let back_ms = now_ms();
    let reconverged = wait_until(CONVERGE, || {
        ready_since(&p, back_ms) && all_running(&engine, &p)
    });
    let took = back.elapsed();
    assert!(
        reconverged.is_some(),
        "did not reconverge within {CONVERGE:?} of the engine answering again: {:?} {:?}\n{}",
        statuses(&p),
        containers(&engine, &p),
        controller.log()
    );
    println!(
        "reconverged {:.0} ms after the restarted engine first answered",
        took.as_secs_f64() * 1e3
    );
    // The same containers run again: started, not replaced.
    assert_eq!(
        containers(&engine, &p)
            .into_iter()
            .map(|(s, id, _)| (s, id))
            .collect::<Vec<_>>(),
        before
            .into_iter()
            .map(|(s, id, _)| (s, id))
            .collect::<Vec<_>>()
    );
    // The event stream reconnected and the cache was relisted after the restart.
    let relists = controller.log().matches("engine cache relisted").count();
    assert!(relists >= 2, "{}", controller.log());
    assert!(cli(&p, &["get"]).status.success());

    let started = Instant::now();
    let status = controller.terminate(Duration::from_secs(30));
    assert!(status.success(), "{status}: {}", controller.log());
    assert!(started.elapsed() < Duration::from_secs(30));
}
