//! The container-level Compose fields (`hostname` … `tmpfs`) reach the container:
//! one apply of a file that sets every one of them, each checked in `docker inspect`;
//! a change of one field recreates only that service; a second apply changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    apply_ok, assert_apply_changes_nothing, assert_exit, containers_and_starts, id_of, inspect,
    plan,
};
use holdfast_testkit::{TestProject, busybox_image, docker, docker_ok};
use serde_json::{Value, json};

/// `tuned` sets every field; `other` sets none. `{{hostname}}` is the knob.
const FILE: &str = r#"name: {{project}}
services:
  tuned:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
    hostname: {{hostname}}
    domainname: example.test
    working_dir: /tmp
    stop_signal: SIGINT
    tty: true
    stdin_open: true
    read_only: true
    privileged: false
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD]
    extra_hosts:
      - "db:10.0.0.5"
      - "cache=10.0.0.6"
    dns: 1.1.1.1
    dns_search: [example.test]
    dns_opt: ["ndots:2"]
    group_add: ["1234"]
    security_opt: ["no-new-privileges:true"]
    shm_size: 128M
    pids_limit: 100
    sysctls:
      net.core.somaxconn: 1024
    ulimits:
      nproc: 512
      nofile:
        soft: 1024
        hard: 2048
    tmpfs:
      - /scratch
      - "/run:size=16m"
  other:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
"#;

fn write(p: &TestProject, hostname: &str) {
    p.write(&FILE.replace("{{hostname}}", hostname));
}

/// Capabilities without the `CAP_` prefix, which some engines add.
fn caps(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|c| {
            let c = c.as_str().unwrap();
            c.strip_prefix("CAP_").unwrap_or(c).to_string()
        })
        .collect()
}

fn sorted(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

#[test]
fn every_field_reaches_the_container_and_one_change_recreates_one_service() {
    busybox_image();
    let p = TestProject::new("service-fields");
    write(&p, "tuned-one");
    apply_ok(&p);

    let c = inspect(&p, "tuned");
    let config = &c["Config"];
    let host = &c["HostConfig"];
    assert_eq!(c["State"]["Running"], true, "{c}");
    assert_eq!(config["Hostname"], "tuned-one");
    assert_eq!(config["Domainname"], "example.test");
    assert_eq!(config["WorkingDir"], "/tmp");
    assert_eq!(config["StopSignal"], "SIGINT");
    assert_eq!(config["Tty"], true);
    assert_eq!(config["OpenStdin"], true);
    assert_eq!(host["ReadonlyRootfs"], true);
    assert_eq!(host["Privileged"], false);
    assert_eq!(caps(&host["CapAdd"]), ["NET_ADMIN"]);
    assert_eq!(caps(&host["CapDrop"]), ["MKNOD"]);
    assert_eq!(
        sorted(&host["ExtraHosts"]),
        ["cache:10.0.0.6", "db:10.0.0.5"]
    );
    assert_eq!(host["Dns"], json!(["1.1.1.1"]));
    assert_eq!(host["DnsSearch"], json!(["example.test"]));
    assert_eq!(host["DnsOptions"], json!(["ndots:2"]));
    assert_eq!(host["GroupAdd"], json!(["1234"]));
    assert_eq!(host["SecurityOpt"], json!(["no-new-privileges:true"]));
    assert_eq!(host["ShmSize"], 128 * 1024 * 1024);
    assert_eq!(host["PidsLimit"], 100);
    assert_eq!(host["Sysctls"], json!({"net.core.somaxconn": "1024"}));
    assert_eq!(
        sorted(
            &host["Ulimits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| json!(format!(
                    "{}={}:{}",
                    u["Name"].as_str().unwrap(),
                    u["Soft"],
                    u["Hard"]
                )))
                .collect::<Value>()
        ),
        ["nofile=1024:2048", "nproc=512:512"]
    );
    assert_eq!(host["Tmpfs"], json!({"/scratch": "", "/run": "size=16m"}));

    // What the process sees agrees.
    let id = id_of(&p, "tuned");
    let hosts = docker(&["exec", &id, "cat", "/etc/hosts"]);
    assert!(
        String::from_utf8_lossy(&hosts.stdout).contains("10.0.0.5\tdb"),
        "{}",
        String::from_utf8_lossy(&hosts.stdout)
    );
    let touch = docker(&["exec", &id, "touch", "/etc/nope"]);
    assert_ne!(
        touch.status.code(),
        Some(0),
        "the root filesystem is writable"
    );

    // A second apply finds nothing to do: Docker's own values count as no drift.
    let before = containers_and_starts(&p);
    assert_apply_changes_nothing(&p, &before);

    // A change by hand (`docker update` can change the pids limit in place) is drift
    // of that field, and apply puts it back.
    let other_before = id_of(&p, "other");
    let other_started = p.started_at("other");
    docker_ok(&["update", "--pids-limit", "50", &id]);
    let out = plan(&p);
    assert_exit(&out, 0, "holdfast plan");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("recreate service/tuned"), "{stdout}");
    assert!(
        stdout.contains("recreate service/tuned: pids_limit changed"),
        "{stdout}"
    );
    assert!(!stdout.contains("service/other"), "{stdout}");
    apply_ok(&p);
    let id = id_of(&p, "tuned");
    assert_eq!(inspect(&p, "tuned")["HostConfig"]["PidsLimit"], 100);
    assert_eq!(id_of(&p, "other"), other_before, "`other` was recreated");
    assert_eq!(
        p.started_at("other"),
        other_started,
        "`other` was restarted"
    );

    // One field of the file changes: only that service is recreated.
    let other_started = p.started_at("other");
    write(&p, "tuned-two");
    let out = plan(&p);
    assert_exit(&out, 0, "holdfast plan");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("recreate service/tuned"), "{stdout}");
    assert!(!stdout.contains("service/other"), "{stdout}");
    apply_ok(&p);
    assert_ne!(id_of(&p, "tuned"), id, "`tuned` was not recreated");
    assert_eq!(inspect(&p, "tuned")["Config"]["Hostname"], "tuned-two");
    assert_eq!(id_of(&p, "other"), other_before, "`other` was recreated");
    assert_eq!(
        p.started_at("other"),
        other_started,
        "`other` was restarted"
    );

    let before = containers_and_starts(&p);
    assert_apply_changes_nothing(&p, &before);
}
