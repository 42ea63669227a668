//! Each Compose field of issue 14's list, changed on its own, recreates only the service
//! that sets it: one apply of a file whose service `tuned` sets them all, then for every
//! field a file with that one value changed, which `holdfast plan` must answer with
//! "recreate service/tuned" and nothing for `other`. The last change is applied too,
//! and the fields that `service_fields.rs` does not read back (`user`, `init`,
//! `deploy.restart_policy`, an empty host IP, a `tmpfs` string, `ipv6_address` on an
//! IPv6 network) are checked in `docker inspect`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{apply_ok, assert_exit, id_of, inspect, plan, stdout};
use holdfast_testkit::{TestProject, busybox_image, docker_ok};
use serde_json::json;

/// `tuned` sets every field; `other` sets none. `{{port}}` is a free host port,
/// `{{dir}}` the project's folder.
const FILE: &str = r#"name: {{project}}
services:
  tuned:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
    user: "1000:1000"
    hostname: tuned
    domainname: example.test
    working_dir: /tmp
    stop_signal: SIGINT
    tty: true
    stdin_open: true
    read_only: true
    privileged: false
    shm_size: 128M
    pids_limit: 100
    ulimits:
      nofile: {soft: 1024, hard: 2048}
    sysctls: {net.core.somaxconn: 1024}
    tmpfs: /scratch
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD]
    security_opt: ["no-new-privileges:true"]
    extra_hosts: ["db:10.0.0.5"]
    dns: 1.1.1.1
    dns_search: [example.test]
    dns_opt: ["ndots:2"]
    devices: ["/dev/zero:/dev/myzero:r"]
    group_add: ["1234"]
    runtime: runc
    platform: {{platform}}
    expose: ["3000"]
    ports: [":{{port}}:80"]
    networks:
      default: {}
      v6:
        ipv6_address: "fd42:4846:{{net}}::10"
        aliases: [tuned-alias]
    deploy:
      mode: replicated
      restart_policy: {condition: on-failure, max_attempts: 3}
    volumes:
      - "{{dir}}/shared:/relabelled:z"
      - "{{dir}}/shared:/private:ro,Z"
      - "data:/empty:nocopy"
      - type: bind
        source: {{dir}}/shared
        target: /propagated
        bind: {propagation: private, create_host_path: true}
      - type: volume
        source: cache
        target: /cache
        volume: {nocopy: true}
  other:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
networks:
  v6:
    enable_ipv6: true
    ipam:
      config:
        - subnet: "fd42:4846:{{net}}::/64"
volumes:
  data: {}
  cache: {}
"#;

/// Each field and the one edit of [`FILE`] that changes it; the last one is applied.
const CHANGES: &[(&str, &str, &str)] = &[
    (
        "init",
        "    init: true\n    user:",
        "    init: false\n    user:",
    ),
    ("user", "user: \"1000:1000\"", "user: \"1001:1001\""),
    ("hostname", "hostname: tuned", "hostname: tuned-two"),
    (
        "domainname",
        "domainname: example.test",
        "domainname: example.org",
    ),
    ("working_dir", "working_dir: /tmp", "working_dir: /"),
    ("stop_signal", "stop_signal: SIGINT", "stop_signal: SIGQUIT"),
    ("tty", "tty: true", "tty: false"),
    ("stdin_open", "stdin_open: true", "stdin_open: false"),
    ("read_only", "read_only: true", "read_only: false"),
    ("privileged", "privileged: false", "privileged: true"),
    ("shm_size", "shm_size: 128M", "shm_size: 256M"),
    ("pids_limit", "pids_limit: 100", "pids_limit: 200"),
    (
        "ulimits",
        "soft: 1024, hard: 2048",
        "soft: 1024, hard: 4096",
    ),
    ("sysctls", "somaxconn: 1024", "somaxconn: 2048"),
    (
        "tmpfs",
        "tmpfs: /scratch",
        "tmpfs: [/scratch, \"/run:size=16m\"]",
    ),
    ("cap_add", "cap_add: [NET_ADMIN]", "cap_add: [NET_RAW]"),
    ("cap_drop", "cap_drop: [MKNOD]", "cap_drop: [MKNOD, CHOWN]"),
    (
        "security_opt",
        "[\"no-new-privileges:true\"]",
        "[\"no-new-privileges:false\"]",
    ),
    ("extra_hosts", "db:10.0.0.5", "db:10.0.0.6"),
    ("dns", "dns: 1.1.1.1", "dns: 9.9.9.9"),
    (
        "dns_search",
        "dns_search: [example.test]",
        "dns_search: [example.org]",
    ),
    ("dns_opt", "[\"ndots:2\"]", "[\"ndots:3\"]"),
    ("devices", "/dev/myzero:r", "/dev/myzero:rw"),
    (
        "group_add",
        "group_add: [\"1234\"]",
        "group_add: [\"1235\"]",
    ),
    ("expose", "expose: [\"3000\"]", "expose: [\"3001\"]"),
    ("ports", "[\":{{port}}:80\"]", "[\"127.0.0.1:{{port}}:80\"]"),
    ("networks.ipv6_address", "{{net}}::10", "{{net}}::11"),
    (
        "networks.aliases",
        "[tuned-alias]",
        "[tuned-alias, tuned-other]",
    ),
    ("volumes (z)", "/relabelled:z", "/relabelled:Z"),
    ("volumes (nocopy)", "data:/empty:nocopy", "data:/empty"),
    (
        "volumes (bind.propagation)",
        "propagation: private",
        "propagation: rprivate",
    ),
    (
        "volumes (bind.create_host_path)",
        "create_host_path: true",
        "create_host_path: false",
    ),
    (
        "volumes (volume.nocopy)",
        "volume: {nocopy: true}",
        "volume: {nocopy: false}",
    ),
    (
        "deploy.restart_policy",
        "max_attempts: 3",
        "max_attempts: 4",
    ),
];

/// The IPv6 subnet's own part, per test process.
fn net() -> String {
    format!("{:x}", std::process::id() % 0xffff)
}

fn file(p: &TestProject, port: u16, platform: &str) -> String {
    FILE.replace("{{port}}", &port.to_string())
        .replace("{{net}}", &net())
        .replace("{{platform}}", platform)
        .replace("{{dir}}", &p.dir.to_string_lossy())
}

#[test]
fn each_field_changed_alone_recreates_only_its_service() {
    busybox_image();
    let p = TestProject::new("field-changes");
    std::fs::create_dir_all(p.dir.join("shared")).unwrap();
    let platform = docker_ok(&["version", "--format", "{{.Server.Os}}/{{.Server.Arch}}"])
        .trim()
        .to_string();
    // A host port of its own per test process, on every interface (`":PORT:80"`).
    let port = 20000 + u16::try_from(std::process::id() % 20000).unwrap();
    let base = file(&p, port, &platform);
    p.write(&base);
    apply_ok(&p);

    // What service_fields.rs does not read back.
    let c = inspect(&p, "tuned");
    assert_eq!(c["HostConfig"]["Init"], true, "{c}");
    assert_eq!(c["Config"]["User"], "1000:1000");
    assert_eq!(
        c["HostConfig"]["RestartPolicy"],
        json!({"Name": "on-failure", "MaximumRetryCount": 3})
    );
    assert_eq!(c["HostConfig"]["Tmpfs"], json!({"/scratch": ""}));
    let binding = &c["HostConfig"]["PortBindings"]["80/tcp"][0];
    assert!(
        binding["HostIp"] == "" || binding["HostIp"] == "0.0.0.0",
        "an empty host IP is every interface: {binding}"
    );
    assert_eq!(binding["HostPort"], port.to_string());
    let v6 = &c["NetworkSettings"]["Networks"][format!("{}_v6", p.name)];
    assert_eq!(
        v6["IPAMConfig"]["IPv6Address"],
        format!("fd42:4846:{}::10", net()),
        "{v6}"
    );
    assert_eq!(v6["GlobalIPv6Address"], format!("fd42:4846:{}::10", net()));
    assert!(
        v6["Aliases"]
            .as_array()
            .unwrap()
            .contains(&json!("tuned-alias")),
        "{v6}"
    );

    let other = id_of(&p, "other");
    let mut planned = 0;
    for (field, from, to) in CHANGES {
        let fill = |t: &str| {
            t.replace("{{port}}", &port.to_string())
                .replace("{{net}}", &net())
        };
        let (from, to) = (fill(from), fill(to));
        assert_eq!(base.matches(&from).count(), 1, "`{from}` ({field})");
        p.write(&base.replace(&from, &to));
        let out = plan(&p);
        assert_exit(&out, 0, "holdfast plan");
        let text = stdout(&out);
        assert!(
            text.contains("recreate service/tuned"),
            "changing {field} does not recreate `tuned`:\n{text}"
        );
        assert!(
            !text.contains("service/other"),
            "changing {field} touches `other`:\n{text}"
        );
        planned += 1;
    }
    assert_eq!(planned, CHANGES.len());

    // The last change applied: `tuned` is new, `other` is the same container.
    let tuned = id_of(&p, "tuned");
    apply_ok(&p);
    assert_ne!(id_of(&p, "tuned"), tuned, "`tuned` was not recreated");
    assert_eq!(id_of(&p, "other"), other, "`other` was recreated");
    assert_eq!(
        inspect(&p, "tuned")["HostConfig"]["RestartPolicy"]["MaximumRetryCount"],
        4
    );
}
