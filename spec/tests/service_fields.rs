//! The container-level Compose service fields (`hostname` … `tmpfs`): each of their
//! Compose forms decodes to one value, and a file without them keeps its hash.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use holdfast_spec::*;

fn options() -> LoadOptions {
    LoadOptions {
        variables: Some(HashMap::new()),
        check_files: false,
        ..LoadOptions::default()
    }
}

fn service(body: &str) -> Service {
    let src = format!("name: x\nservices:\n  a:\n    image: busybox\n{body}");
    let loaded = load_str(Path::new("compose.yaml"), &src, &options())
        .unwrap_or_else(|r| panic!("{}", r.render()));
    loaded.state.services["a"].clone()
}

fn rejected(body: &str) -> String {
    let src = format!("name: x\nservices:\n  a:\n    image: busybox\n{body}");
    let report =
        load_str(Path::new("compose.yaml"), &src, &options()).expect_err("should be rejected");
    assert!(report.has_errors());
    report.render()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn scalar_fields_decode() {
    let s = service(
        "    hostname: web\n    domainname: example.org\n    working_dir: /srv\n    stop_signal: SIGINT\n    tty: true\n    stdin_open: true\n    read_only: true\n    privileged: false\n    shm_size: 128M\n    pids_limit: 100\n",
    );
    assert_eq!(s.hostname.as_deref(), Some("web"));
    assert_eq!(s.domainname.as_deref(), Some("example.org"));
    assert_eq!(s.working_dir.as_deref(), Some("/srv"));
    assert_eq!(s.stop_signal.as_deref(), Some("SIGINT"));
    assert_eq!(s.tty, Some(true));
    assert_eq!(s.stdin_open, Some(true));
    assert_eq!(s.read_only, Some(true));
    assert_eq!(s.privileged, Some(false));
    assert_eq!(s.shm_size.map(|b| b.bytes()), Some(128 * 1024 * 1024));
    assert_eq!(s.pids_limit, Some(100));
    assert_eq!(service("    pids_limit: -1\n").pids_limit, Some(-1));
    assert_eq!(
        service("    stop_signal: \"15\"\n").stop_signal.as_deref(),
        Some("15")
    );
}

#[test]
fn list_fields_decode() {
    let s = service(
        "    cap_add: [NET_ADMIN, CAP_SYS_TIME]\n    cap_drop: [ALL]\n    dns: 1.1.1.1\n    dns_search: example.org\n    dns_opt: [ndots:2, timeout:1]\n    group_add: [\"1234\", audio]\n    security_opt: [no-new-privileges:true]\n",
    );
    assert_eq!(s.cap_add, ["NET_ADMIN", "CAP_SYS_TIME"]);
    assert_eq!(s.cap_drop, ["ALL"]);
    assert_eq!(s.dns, ["1.1.1.1"]);
    assert_eq!(s.dns_search, ["example.org"]);
    assert_eq!(s.dns_opt, ["ndots:2", "timeout:1"]);
    assert_eq!(s.group_add, ["1234", "audio"]);
    assert_eq!(s.security_opt, ["no-new-privileges:true"]);
    let s = service(
        "    dns: [8.8.8.8, \"2001:4860:4860::8888\"]\n    dns_search: [a.example, b.example]\n",
    );
    assert_eq!(s.dns, ["8.8.8.8", "2001:4860:4860::8888"]);
    assert_eq!(s.dns_search, ["a.example", "b.example"]);
}

#[test]
fn extra_hosts_forms_agree() {
    let want = map(&[("db", "10.0.0.5"), ("v6", "::1"), ("gw", "host-gateway")]);
    let list = service("    extra_hosts: [\"db:10.0.0.5\", \"v6=::1\", \"gw:host-gateway\"]\n");
    let mapping = service(
        "    extra_hosts:\n      db: 10.0.0.5\n      v6: \"::1\"\n      gw: host-gateway\n",
    );
    assert_eq!(list.extra_hosts, want);
    assert_eq!(mapping.extra_hosts, want);
    // Compose's bracketed IPv6 form.
    assert_eq!(
        service("    extra_hosts: [\"v6=[::1]\"]\n").extra_hosts,
        map(&[("v6", "::1")])
    );
}

#[test]
fn sysctls_forms_agree() {
    let want = map(&[
        ("net.core.somaxconn", "1024"),
        ("net.ipv4.tcp_syncookies", "0"),
    ]);
    let list = service("    sysctls: [net.core.somaxconn=1024, net.ipv4.tcp_syncookies=0]\n");
    let mapping =
        service("    sysctls:\n      net.core.somaxconn: 1024\n      net.ipv4.tcp_syncookies: 0\n");
    assert_eq!(list.sysctls, want);
    assert_eq!(mapping.sysctls, want);
}

#[test]
fn ulimits_forms() {
    let s = service(
        "    ulimits:\n      nproc: 65535\n      nofile:\n        soft: 20000\n        hard: 40000\n",
    );
    assert_eq!(
        s.ulimits["nproc"],
        Ulimit {
            soft: 65535,
            hard: 65535
        }
    );
    assert_eq!(
        s.ulimits["nofile"],
        Ulimit {
            soft: 20000,
            hard: 40000
        }
    );
}

#[test]
fn tmpfs_forms() {
    assert_eq!(service("    tmpfs: /run\n").tmpfs, ["/run"]);
    assert_eq!(
        service("    tmpfs: [/run, \"/tmp:size=64m,mode=1777\"]\n").tmpfs,
        ["/run", "/tmp:size=64m,mode=1777"]
    );
}

#[test]
fn fields_round_trip_through_serialisation() {
    let src = "name: x\nservices:\n  a:\n    image: busybox\n    hostname: web\n    tty: true\n    cap_add: [NET_ADMIN]\n    extra_hosts: [\"db:10.0.0.5\"]\n    dns: 1.1.1.1\n    shm_size: 64M\n    pids_limit: 50\n    sysctls: [net.core.somaxconn=1024]\n    ulimits: {nofile: {soft: 1, hard: 2}, nproc: 3}\n    tmpfs: /run\n";
    let loaded = load_str(Path::new("compose.yaml"), src, &options()).unwrap();
    let json = serde_json::to_string(&loaded.state).unwrap();
    let again = load_str(Path::new("compose.yaml"), &json, &options())
        .unwrap_or_else(|r| panic!("{}\n{json}", r.render()));
    assert_eq!(again.state, loaded.state);
}

#[test]
fn a_service_without_them_serialises_without_them() {
    let s = service("");
    let json = serde_json::to_value(&s).unwrap();
    for field in holdfast_spec::RUNTIME_OPTION_FIELDS {
        assert!(json.get(field).is_none(), "{field} in {json}");
    }
}

#[test]
fn malformed_values_are_located_with_a_fix() {
    for (body, message, help) in [
        (
            "    hostname: web_1\n",
            "`web_1` is not a valid hostname",
            "letters, digits",
        ),
        (
            "    working_dir: srv\n",
            "is not an absolute path",
            "starts with `/`",
        ),
        (
            "    stop_signal: SIGTREM\n",
            "`SIGTREM` is not a signal",
            "did you mean `SIGTERM`?",
        ),
        (
            "    tty: yes please\n",
            "expected `true` or `false`",
            "write `true` or `false`",
        ),
        (
            "    cap_add: [net_admin]\n",
            "`net_admin` is not a capability name",
            "`NET_ADMIN`",
        ),
        (
            "    cap_drop: ALL\n",
            "expected a list of a capability name",
            "",
        ),
        (
            "    extra_hosts: [\"db\"]\n",
            "`db` is not `host:ip`",
            "name:10.0.0.5",
        ),
        (
            "    extra_hosts: {db: nowhere}\n",
            "`nowhere` is not an IP address",
            "host-gateway",
        ),
        (
            "    dns: [one.one]\n",
            "`one.one` is not an IP address",
            "1.1.1.1",
        ),
        ("    shm_size: lots\n", "", "256M"),
        (
            "    pids_limit: 0\n",
            "`0` is not a valid pids_limit",
            "`-1` for no limit",
        ),
        (
            "    sysctls: net.core.somaxconn\n",
            "sysctls as a mapping or a list",
            "KEY=value",
        ),
        (
            "    ulimits: {nofile: {soft: 10}}\n",
            "needs both `soft` and `hard`",
            "nofile: 1024",
        ),
        (
            "    ulimits: {nofile: {soft: 10, hard: 5}}\n",
            "above its hard limit",
            "at most",
        ),
        (
            "    ulimits: {nofile: many}\n",
            "`many` is not a valid limit",
            "whole number",
        ),
        (
            "    ulimits: [nofile=1]\n",
            "expected a mapping of limits",
            "soft",
        ),
        (
            "    tmpfs: [run]\n",
            "tmpfs `run` is not an absolute path",
            "/tmp:size=64m",
        ),
    ] {
        let rendered = rejected(body);
        assert!(rendered.contains("compose.yaml:5:"), "{body}: {rendered}");
        assert!(rendered.contains(message), "{body}: {rendered}");
        assert!(rendered.contains(help), "{body}: {rendered}");
    }
}
