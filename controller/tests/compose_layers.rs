//! Compose's file layering against the real engine: profiles.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{apply, apply_ok, assert_exit, id_of, plan, stdout};
use holdfast_testkit::{TestProject, busybox_image};

const FILE: &str = r#"name: {{project}}
services:
  app:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
  debug:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
    profiles: [debug]
"#;

#[test]
fn a_service_whose_profile_turns_inactive_keeps_its_container() {
    busybox_image();
    let p = TestProject::new("profiles");
    p.write(FILE);

    // Without the profile the service is left out: no container.
    apply_ok(&p);
    assert!(p.container_of("app").is_some());
    assert_eq!(
        p.container_of("debug"),
        None,
        "an inactive service was started"
    );

    // With it, it runs.
    let out = apply(&p, &["--profile", "debug"]);
    assert_exit(&out, 0, "holdfast apply --profile debug");
    let debug = id_of(&p, "debug");

    // The profile turns inactive again: the container is not removed as gone from
    // the file, and the plan says nothing about it.
    let out = plan(&p);
    assert_exit(&out, 0, "holdfast plan");
    let text = stdout(&out);
    assert!(!text.contains("service/debug"), "{text}");
    apply_ok(&p);
    assert_eq!(
        id_of(&p, "debug"),
        debug,
        "the inactive service's container changed"
    );
}
