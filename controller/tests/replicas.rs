//! `deploy.replicas` against the real engine: replicas are named `<project>-<service>-<n>`,
//! scaling keeps the lowest numbers and the containers that stay, and a replacement
//! goes `parallelism` replicas at a time, each waiting until the one before is healthy.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::{apply_ok, assert_apply_changes_nothing, containers_and_starts, env_of};
use holdfast_testkit::{TestProject, busybox_image, docker_ok, parse_docker_time};
use serde_json::Value;

/// A service of `replicas` containers whose health check passes a second after it
/// starts, so that a replacement is visibly not Ready for a while.
fn file(replicas: u32, rev: &str) -> String {
    format!(
        r#"name: {{{{project}}}}
services:
  web:
    image: {{{{image}}}}
    command: ["sh", "-c", "sleep 1 && touch /ok && exec sleep 3600"]
    init: true
    environment: {{REV: "{rev}"}}
    healthcheck:
      test: ["CMD", "test", "-f", "/ok"]
      interval: 500ms
      start_period: 10s
    deploy:
      replicas: {replicas}
      update_config: {{parallelism: 1}}
  other:
    image: {{{{image}}}}
    command: ["sleep", "3600"]
    init: true
"#
    )
}

/// Container name (without `/`) → ID, for the project's `web` containers.
fn web(p: &TestProject) -> BTreeMap<String, String> {
    let out = docker_ok(&[
        "ps",
        "-a",
        "--no-trunc",
        "--filter",
        &p.filter(),
        "--filter",
        "label=io.holdfast.service=web",
        "--format",
        "{{.Names}} {{.ID}}",
    ]);
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, id)| (n.to_string(), id.to_string()))
        .collect()
}

fn inspect_id(id: &str) -> Value {
    let mut v: Value = serde_json::from_str(&docker_ok(&["inspect", id])).unwrap();
    v[0].take()
}

fn names(p: &TestProject, suffixes: &[&str]) -> Vec<String> {
    suffixes
        .iter()
        .map(|s| format!("{}-web{s}", p.name))
        .collect()
}

#[test]
fn replicas_are_named_scaled_keeping_the_lowest_and_replaced_one_at_a_time() {
    busybox_image();
    let p = TestProject::new("replicas");
    p.write(&file(3, "a"));
    apply_ok(&p);
    let three = web(&p);
    assert_eq!(
        three.keys().cloned().collect::<Vec<_>>(),
        names(&p, &["-1", "-2", "-3"])
    );
    for id in three.values() {
        let c = inspect_id(id);
        assert_eq!(c["State"]["Health"]["Status"], "healthy", "{}", c["State"]);
    }
    let before = containers_and_starts(&p);
    assert_apply_changes_nothing(&p, &before);

    // Down to two: the third goes, the first two are untouched.
    p.write(&file(2, "a"));
    apply_ok(&p);
    let two = web(&p);
    assert_eq!(
        two.keys().cloned().collect::<Vec<_>>(),
        names(&p, &["-1", "-2"])
    );
    for (name, id) in &two {
        assert_eq!(three.get(name), Some(id), "{name} was replaced");
    }

    // A new spec: each replica is replaced once the one before it is healthy again.
    p.write(&file(2, "b"));
    apply_ok(&p);
    let replaced = web(&p);
    assert_eq!(
        replaced.keys().cloned().collect::<Vec<_>>(),
        names(&p, &["-1", "-2"])
    );
    let first = inspect_id(&replaced[&names(&p, &["-1"])[0]]);
    let second = inspect_id(&replaced[&names(&p, &["-2"])[0]]);
    for c in [&first, &second] {
        assert_eq!(env_of(c)["REV"], "b");
        assert!(!two.values().any(|old| old == c["Id"].as_str().unwrap()));
    }
    let first_healthy = first["State"]["Health"]["Log"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["ExitCode"] == 0)
        .map(|l| parse_docker_time(l["End"].as_str().unwrap()))
        .expect("the first replica passed a health check");
    let second_created = parse_docker_time(second["Created"].as_str().unwrap());
    assert!(
        first_healthy <= second_created,
        "replica 2 was replaced before replica 1 was healthy again"
    );
    let other = containers_and_starts(&p)
        .into_iter()
        .filter(|(id, _)| !replaced.values().any(|r| r == id))
        .collect::<Vec<_>>();
    assert_eq!(
        other,
        before
            .into_iter()
            .filter(|(id, _)| !three.values().any(|r| r == id))
            .collect::<Vec<_>>(),
        "the other service was touched"
    );

    // Down to one: the container keeps running under the service's own name.
    p.write(&file(1, "b"));
    apply_ok(&p);
    let one = web(&p);
    assert_eq!(one.keys().cloned().collect::<Vec<_>>(), names(&p, &[""]));
    assert_eq!(one.values().next(), replaced.get(&names(&p, &["-1"])[0]));

    // And up again: the one container becomes replica 1, a second one is added.
    p.write(&file(2, "b"));
    apply_ok(&p);
    let again = web(&p);
    assert_eq!(
        again.keys().cloned().collect::<Vec<_>>(),
        names(&p, &["-1", "-2"])
    );
    assert_eq!(again.get(&names(&p, &["-1"])[0]), one.values().next());

    // Zero runs none.
    p.write(&file(0, "b"));
    apply_ok(&p);
    assert!(web(&p).is_empty());
    common::delete(&p, &["--volumes"]);
}
