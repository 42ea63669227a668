//! Defects found in the core review, each against the real Docker engine:
//!
//! 1. an image that declares a `VOLUME` the file leaves unmounted was recreated on
//!    every pass.
//!
//! Every test has its own [`TestProject`] and checks the engine with the `docker` CLI.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    apply_ok, assert_apply_changes_nothing, assert_exit, containers_and_starts, inspect, plan,
};
use holdfast_testkit::{IMAGE_VOLUME, TestProject, volume_image};
use serde_json::Value;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
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
