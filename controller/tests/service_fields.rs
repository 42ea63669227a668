//! The container-level Compose fields (`hostname` … `tmpfs`) reach the container:
//! one apply of a file that sets every one of them, each checked in `docker inspect`;
//! a change of one field recreates only that service; a second apply changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    apply_ok, assert_apply_changes_nothing, assert_exit, containers_and_starts, id_of, inspect,
    mount_at, plan,
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

/// Rewrites the file with `rewrite` (one field of `changed` differs) and checks that
/// the plan names only `changed`, that apply recreates it and leaves `other` as it
/// was, and that a second apply changes nothing.
fn change_recreates_only(p: &TestProject, changed: &str, rewrite: impl FnOnce()) {
    let id = id_of(p, changed);
    let other_before = id_of(p, "other");
    let other_started = p.started_at("other");
    rewrite();
    let out = plan(p);
    assert_exit(&out, 0, "holdfast plan");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("recreate service/{changed}")),
        "{stdout}"
    );
    assert!(!stdout.contains("service/other"), "{stdout}");
    apply_ok(p);
    assert_ne!(id_of(p, changed), id, "`{changed}` was not recreated");
    assert_eq!(id_of(p, "other"), other_before, "`other` was recreated");
    assert_eq!(
        p.started_at("other"),
        other_started,
        "`other` was restarted"
    );
    let before = containers_and_starts(p);
    assert_apply_changes_nothing(p, &before);
}

/// `devices`, `runtime`, `platform`, `expose` and the mount options; `{{port}}` (an
/// `expose`d port) is the knob.
const PLATFORM_FILE: &str = r#"name: {{project}}
services:
  placed:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
    expose: ["{{port}}"]
    devices: ["/dev/zero:/dev/myzero:r"]
    runtime: runc
    platform: {{platform}}
    volumes:
      - "{{dir}}/shared:/relabelled:z"
      - "{{dir}}/shared:/private:ro,Z"
      - "data:/empty:nocopy"
      - type: bind
        source: {{dir}}/shared
        target: /propagated
        bind:
          propagation: private
          create_host_path: false
      - type: volume
        source: cache
        target: /cache
        volume:
          nocopy: true
  other:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
volumes:
  data: {}
  cache: {}
"#;

fn write_placed(p: &TestProject, port: &str, platform: &str) {
    std::fs::create_dir_all(p.dir.join("shared")).unwrap();
    p.write(
        &PLATFORM_FILE
            .replace("{{port}}", port)
            .replace("{{platform}}", platform)
            .replace("{{dir}}", &p.dir.to_string_lossy()),
    );
}

/// The engine's `os/arch`, as `docker version` reports it.
fn engine_platform() -> String {
    docker_ok(&["version", "--format", "{{.Server.Os}}/{{.Server.Arch}}"])
        .trim()
        .to_string()
}

#[test]
fn devices_runtime_platform_expose_and_mount_options_reach_the_container() {
    busybox_image();
    let p = TestProject::new("platform-fields");
    let platform = engine_platform();
    write_placed(&p, "3000", &platform);
    apply_ok(&p);

    let c = inspect(&p, "placed");
    let host = &c["HostConfig"];
    assert_eq!(c["State"]["Running"], true, "{c}");
    assert_eq!(c["Config"]["ExposedPorts"], json!({"3000/tcp": {}}));
    assert_eq!(
        host["Devices"],
        json!([{"PathOnHost": "/dev/zero", "PathInContainer": "/dev/myzero", "CgroupPermissions": "r"}])
    );
    assert_eq!(host["Runtime"], "runc");
    assert_eq!(c["Platform"], platform.split('/').next().unwrap());
    assert_eq!(mount_at(&c, "/relabelled")["Mode"], "z");
    assert_eq!(mount_at(&c, "/private")["Mode"], "ro,Z");
    assert_eq!(mount_at(&c, "/private")["RW"], false);
    assert_eq!(mount_at(&c, "/propagated")["Propagation"], "private");
    let nocopy: Vec<&str> = host["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["VolumeOptions"]["NoCopy"] == true)
        .map(|m| m["Target"].as_str().unwrap())
        .collect();
    assert_eq!(
        {
            let mut n = nocopy.clone();
            n.sort_unstable();
            n
        },
        ["/cache", "/empty"]
    );
    let id = id_of(&p, "placed");
    let dev = docker(&["exec", &id, "head", "-c", "4", "/dev/myzero"]);
    assert_eq!(dev.status.code(), Some(0), "the device is not readable");

    // Docker's own values (the image's EXPOSE, `rprivate`, …) count as no drift.
    let before = containers_and_starts(&p);
    assert_apply_changes_nothing(&p, &before);

    // One field changes: only that service is recreated, and the plan names it.
    change_recreates_only(&p, "placed", || write_placed(&p, "3001", &platform));
    assert_eq!(
        inspect(&p, "placed")["Config"]["ExposedPorts"],
        json!({"3001/tcp": {}})
    );
}

#[test]
fn a_platform_the_engine_does_not_run_is_an_error_that_says_so() {
    busybox_image();
    let p = TestProject::new("platform-mismatch");
    let engine = engine_platform();
    let foreign = if engine.ends_with("/s390x") {
        "linux/amd64"
    } else {
        "linux/s390x"
    };
    write_placed(&p, "3000", foreign);
    // A permanent error stalls the service: apply exits at once rather than wait out
    // its timeout (120 s here, past `run`'s own 60 s bound).
    let out = common::apply_within(&p, "120s", &[]);
    assert_eq!(out.status.code(), Some(1), "apply did not fail");
    let text = format!("{}{}", common::stdout(&out), common::stderr(&out));
    assert!(
        text.contains(&format!("wants platform `{foreign}`"))
            && text.contains(&format!("engine runs `{engine}`")),
        "{text}"
    );
    assert_eq!(p.container_of("placed"), None, "a container was created");
}

#[test]
fn a_missing_host_path_with_create_host_path_false_is_an_error() {
    busybox_image();
    let p = TestProject::new("host-path-missing");
    write_placed(&p, "3000", &engine_platform());
    std::fs::remove_dir_all(p.dir.join("shared")).unwrap();
    // Without the directory `create_host_path: false` refuses, before the short-syntax
    // binds of the same path could create it.
    let out = common::apply(&p, &[]);
    assert_ne!(out.status.code(), Some(0), "apply succeeded");
    let text = format!("{}{}", common::stdout(&out), common::stderr(&out));
    assert!(
        text.contains("does not exist, and `create_host_path: false`"),
        "{text}"
    );
}

/// Networks and volumes with `name`, `external`, `ipam`, `enable_ipv6` and
/// `driver_opts`, and a fixed `ipv4_address` (`{{ip}}`, the knob).
const OBJECTS_FILE: &str = r#"name: {{project}}
services:
  fixed:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
    networks:
      custom:
        ipv4_address: {{subnet}}.{{ip}}
        aliases: [fixed-alias]
      outside: {}
    volumes:
      - "named:/named"
      - "outside:/outside"
  other:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
networks:
  custom:
    name: {{project}}-custom
    enable_ipv6: false
    driver_opts:
      com.docker.network.bridge.enable_icc: "true"
    ipam:
      config:
        - subnet: {{subnet}}.0/24
          gateway: {{subnet}}.1
  outside:
    external: true
    name: {{project}}-ext
volumes:
  named:
    name: {{project}}-vol
    driver_opts: {type: tmpfs, device: tmpfs, o: "size=1m"}
  outside:
    external: true
    name: {{project}}-extvol
"#;

/// Removes the objects a test made by hand (holdfast's own are the project's).
struct External(Vec<(&'static str, String)>);

impl Drop for External {
    fn drop(&mut self) {
        for (kind, name) in &self.0 {
            let _ = docker(&[kind, "rm", name]);
        }
    }
}

fn write_objects(p: &TestProject, ip: u8) {
    // A /24 of its own per test process, away from Docker's default pools.
    let subnet = format!("10.213.{}", std::process::id() % 250);
    p.write(
        &OBJECTS_FILE
            .replace("{{subnet}}", &subnet)
            .replace("{{ip}}", &ip.to_string()),
    );
}

#[test]
fn named_external_and_configured_networks_and_volumes_and_fixed_addresses() {
    busybox_image();
    let p = TestProject::new("objects");
    write_objects(&p, 10);

    // The external ones must exist: holdfast never creates them.
    let out = plan(&p);
    let out = if out.status.code() == Some(0) {
        common::apply(&p, &[])
    } else {
        out
    };
    let text = format!("{}{}", common::stdout(&out), common::stderr(&out));
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!(
            "network `{}-ext` is declared `external: true` but does not exist",
            p.name
        )),
        "{text}"
    );
    assert_eq!(p.container_of("fixed"), None);

    let ext_net = format!("{}-ext", p.name);
    let ext_vol = format!("{}-extvol", p.name);
    let _external = External(vec![
        ("network", ext_net.clone()),
        ("volume", ext_vol.clone()),
    ]);
    docker_ok(&["network", "create", &ext_net]);
    docker_ok(&["volume", "create", &ext_vol]);
    apply_ok(&p);

    let c = inspect(&p, "fixed");
    let subnet = format!("10.213.{}", std::process::id() % 250);
    let custom = &c["NetworkSettings"]["Networks"][format!("{}-custom", p.name)];
    assert_eq!(
        custom["IPAMConfig"]["IPv4Address"],
        format!("{subnet}.10"),
        "{c}"
    );
    assert_eq!(custom["IPAddress"], format!("{subnet}.10"));
    assert!(
        sorted(&custom["Aliases"]).contains(&"fixed-alias".to_string()),
        "{custom}"
    );
    assert!(
        c["NetworkSettings"]["Networks"][&ext_net].is_object(),
        "{c}"
    );
    let net = common::inspect_object("network", &format!("{}-custom", p.name));
    assert_eq!(net["IPAM"]["Config"][0]["Subnet"], format!("{subnet}.0/24"));
    assert_eq!(net["IPAM"]["Config"][0]["Gateway"], format!("{subnet}.1"));
    assert_eq!(net["EnableIPv6"], false);
    assert_eq!(
        net["Options"]["com.docker.network.bridge.enable_icc"],
        "true"
    );
    let vol = common::inspect_object("volume", &format!("{}-vol", p.name));
    assert_eq!(vol["Options"]["type"], "tmpfs", "{vol}");
    assert_eq!(vol["Options"]["o"], "size=1m", "{vol}");
    let mounts: Vec<String> = c["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}:{}",
                m["Name"].as_str().unwrap_or(""),
                m["Destination"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert!(
        mounts.contains(&format!("{}-vol:/named", p.name)),
        "{mounts:?}"
    );
    assert!(
        mounts.contains(&format!("{ext_vol}:/outside")),
        "{mounts:?}"
    );
    // The external ones stay strangers: no holdfast labels.
    let ext = common::inspect_object("network", &ext_net);
    assert!(
        ext["Labels"].as_object().is_none_or(|l| l.is_empty()),
        "{ext}"
    );

    let before = containers_and_starts(&p);
    assert_apply_changes_nothing(&p, &before);

    // The fixed address changes: only that service is recreated.
    change_recreates_only(&p, "fixed", || write_objects(&p, 11));
    let c = inspect(&p, "fixed");
    assert_eq!(
        c["NetworkSettings"]["Networks"][format!("{}-custom", p.name)]["IPAddress"],
        format!("{subnet}.11")
    );

    // `holdfast delete` removes what holdfast made and leaves the external ones.
    let out = common::delete(&p, &[]);
    assert_exit(&out, 0, "holdfast delete");
    assert_eq!(
        docker(&["network", "inspect", &ext_net]).status.code(),
        Some(0)
    );
    assert_eq!(
        docker(&["volume", "inspect", &ext_vol]).status.code(),
        Some(0)
    );
    assert_ne!(
        docker(&["network", "inspect", &format!("{}-custom", p.name)])
            .status
            .code(),
        Some(0),
        "the named network was not removed"
    );
}
