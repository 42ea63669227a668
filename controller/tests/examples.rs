//! The layered examples (`examples/layered/`): each seed team's base file and override
//! files, merged by `holdfast validate -f ... --print`, with the override's values winning;
//! an error in an override file is reported at the override's FILE:LINE:COL; and each
//! team's layering applied against the real engine with its image built on this machine.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

mod common;

use common::{assert_exit, env_of, inspect, run};
use holdfast_testkit::{TestProject, docker};

/// SleepCore's services across its base, production and monitoring files.
const SLEEPCORE: [&str; 8] = [
    "bot",
    "api",
    "miniapp",
    "postgres",
    "traefik",
    "prometheus",
    "grafana",
    "node-exporter",
];

fn layered(folder: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("examples/layered")
        .join(folder)
}

/// `holdfast validate --print -f FILE...` in `dir`: the merged state, asserting success.
fn merged(dir: &Path, files: &[&str]) -> Value {
    let mut cmd = Command::cargo_bin("holdfast").unwrap();
    cmd.current_dir(dir).args(["validate", "--print"]);
    for f in files {
        cmd.args(["-f", f]);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{files:?} in {}: {stderr}",
        dir.display()
    );
    assert!(!stderr.contains("warning:"), "{files:?}: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn freshtrack_production_overrides_win() {
    let dir = layered("freshtrackpro");
    let base = merged(&dir, &["compose.yaml"]);
    assert_eq!(
        base["services"]["backend"]["environment"]["NODE_ENV"],
        "development"
    );

    let s = merged(&dir, &["compose.yaml", "compose.production.yaml"]);
    let backend = &s["services"]["backend"];
    assert_eq!(s["name"], "freshtrack");
    assert_eq!(backend["environment"]["NODE_ENV"], "production");
    assert_eq!(backend["environment"]["LOG_LEVEL"], "info");
    // The dev volume is reset, the port replaced.
    assert_eq!(
        backend["volumes"].as_array().map(Vec::len).unwrap_or(0),
        0,
        "{backend}"
    );
    let ports = backend["ports"].as_array().unwrap();
    assert_eq!(ports.len(), 1, "{backend}");
    assert_eq!(ports[0]["host_ip"], "127.0.0.1");
    assert_eq!(ports[0]["published"], 13000);
    assert!(
        backend["secrets"].to_string().contains("jwt_secret"),
        "{backend}"
    );
    // Kept from the base file.
    assert_eq!(
        s["services"]["postgres"]["environment"]["POSTGRES_DB"],
        "frostguard"
    );
    assert_eq!(
        s["services"]["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"],
        "/run/secrets/postgres_password"
    );
}

#[test]
fn sleepcore_production_and_monitoring_layers_merge() {
    let dir = layered("sleepcore");
    let s = merged(
        &dir,
        &[
            "compose.yaml",
            "docker-compose.prod.yml",
            "docker-compose.monitoring.yml",
        ],
    );
    let services = s["services"].as_object().unwrap();
    for name in SLEEPCORE {
        assert!(services.contains_key(name), "{name} missing: {s}");
    }
    assert_eq!(
        s["services"]["bot"]["environment"]["NODE_ENV"],
        "production"
    );
    assert_eq!(s["services"]["api"]["restart"], "unless-stopped");
    assert!(
        s["services"]["bot"]["labels"]
            .to_string()
            .contains("bot.sleepcore.app")
    );
    // The base file's command is kept where the override says nothing about it.
    assert_eq!(s["services"]["api"]["command"][0], "httpd");

    // The production file alone on the base: no monitoring services.
    let s = merged(&dir, &["compose.yaml", "docker-compose.prod.yml"]);
    assert!(s["services"].get("prometheus").is_none(), "{s}");
}

#[test]
fn marketplace_production_overrides_win() {
    let dir = layered("toogoodtogo");
    let base = merged(&dir, &["compose.yaml"]);
    assert_eq!(
        base["services"]["postgres"]["ports"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let s = merged(&dir, &["compose.yaml", "docker-compose.prod.yml"]);
    let bot = &s["services"]["bot"];
    assert_eq!(bot["environment"]["ENVIRONMENT"], "production");
    assert_eq!(bot["environment"]["LOG_LEVEL"], "INFO");
    assert_eq!(bot["environment"]["REDIS_URL"], "redis://redis:6379/0");
    assert_eq!(bot["restart"], "unless-stopped");
    for internal in ["postgres", "redis"] {
        let ports = &s["services"][internal]["ports"];
        assert_eq!(
            ports.as_array().map(Vec::len).unwrap_or(0),
            0,
            "{internal}: {ports}"
        );
    }
}

#[test]
fn an_error_in_the_override_names_the_override_file_line_and_column() {
    let dir = std::env::temp_dir().join(format!("hft-examples-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        layered("freshtrackpro/compose.yaml"),
        dir.join("compose.yaml"),
    )
    .unwrap();
    std::fs::write(
        dir.join("compose.production.yaml"),
        "services:\n  backend:\n    environment:\n      NODE_ENV: production\n    restart: sometimes\n",
    )
    .unwrap();
    let out = Command::cargo_bin("holdfast")
        .unwrap()
        .current_dir(&dir)
        .args([
            "validate",
            "-f",
            "compose.yaml",
            "-f",
            "compose.production.yaml",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("compose.production.yaml:5:14"),
        "the error names the override file: {stderr}"
    );
    assert!(!stderr.contains("compose.yaml:"), "{stderr}");
    insta::assert_snapshot!(stderr);
}

/// Copies the team's folder into `p` with the project named `p`'s, the image built
/// from the quickstart's Dockerfile under its own tag, and every fixed 127.0.0.1 host
/// port moved to a free one (so parallel tests never meet on them). Returns the tag
/// and the ports: file's → test's.
fn copy_team(p: &TestProject, team: &str, name: &str) -> (String, Vec<(u16, u16)>) {
    let src = layered(team);
    let tag = format!("holdfast-test/layered-{team}-{}:1", std::process::id());
    let mut moved: Vec<(u16, u16)> = Vec::new();
    let mut copy = |from: &Path, to: &Path| {
        let mut text = std::fs::read_to_string(from)
            .unwrap()
            .replace(&format!("name: {name}"), &format!("name: {}", p.name))
            .replace("../../quickstart/image", "./image")
            .replace("holdfast-quickstart/busybox:1", &tag);
        while let Some(at) = text.find("\"127.0.0.1:") {
            let rest = &text[at + 11..];
            let end = rest.find(':').unwrap();
            let port: u16 = rest[..end].parse().unwrap();
            let free = holdfast_testkit::web::free_port();
            moved.push((port, free));
            text = text.replacen(
                &format!("\"127.0.0.1:{port}:"),
                &format!("\"127.0.0.1 :{free}:"),
                1,
            );
        }
        std::fs::write(to, text.replace("\"127.0.0.1 :", "\"127.0.0.1:")).unwrap();
    };
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            if e.path().is_dir() {
                walk(&e.path(), out);
            } else {
                out.push(e.path());
            }
        }
    }
    let mut files = Vec::new();
    walk(&src, &mut files);
    for file in files {
        let to = p.dir.join(file.strip_prefix(&src).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        if file.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            copy(&file, &to);
        } else {
            std::fs::copy(&file, &to).unwrap();
        }
    }
    let image = src.join("../../quickstart/image/Dockerfile");
    p.write_file("image/Dockerfile", &std::fs::read_to_string(image).unwrap());
    std::fs::copy("/bin/busybox", p.dir.join("image/busybox")).unwrap();
    (tag, moved)
}

/// `holdfast apply -f FILE...` of the copied team in `p`, asserting success.
fn apply_layers(p: &TestProject, files: &[&str]) {
    let state = p.state_dir();
    let mut args = vec!["apply"];
    for f in files {
        args.extend(["-f", f]);
    }
    args.extend(["--state-dir", state.to_str().unwrap(), "--timeout", "55s"]);
    let out = run(p, &args);
    assert_exit(
        &out,
        0,
        &format!("holdfast apply -f {}", files.join(" -f ")),
    );
}

#[test]
fn marketplace_layers_apply_with_a_locally_built_image() {
    let p = TestProject::new("layered-apply");
    let (tag, _) = copy_team(&p, "toogoodtogo", "toogoodtogo");
    apply_layers(&p, &["compose.yaml", "docker-compose.prod.yml"]);
    let bot = inspect(&p, "bot");
    assert_eq!(bot["Config"]["Image"], tag.as_str());
    assert_eq!(bot["State"]["Status"], "running");
    let env = env_of(&bot);
    assert_eq!(
        env.get("ENVIRONMENT").map(String::as_str),
        Some("production")
    );
    assert_eq!(bot["HostConfig"]["RestartPolicy"]["Name"], "unless-stopped");
    assert_eq!(bot["HostConfig"]["Memory"], 512 << 20);
    assert_eq!(bot["HostConfig"]["LogConfig"]["Config"]["max-size"], "10m");
    // The production file resets the base file's database ports: nothing published.
    for internal in ["postgres", "redis"] {
        let c = inspect(&p, internal);
        let bindings = &c["HostConfig"]["PortBindings"];
        assert!(
            bindings.as_object().is_none_or(|b| b.is_empty()),
            "{internal}: {bindings}"
        );
    }
    drop(p);
    docker(&["rmi", "-f", &tag]);
}

/// The host port `container` publishes for `port`/tcp on 127.0.0.1.
fn host_port(container: &Value, port: u16) -> Option<String> {
    let b = &container["HostConfig"]["PortBindings"][format!("{port}/tcp")][0];
    (b["HostIp"] == "127.0.0.1").then(|| b["HostPort"].as_str().unwrap_or("").to_string())
}

#[test]
fn freshtrack_layers_apply_with_a_locally_built_image() {
    let p = TestProject::new("layered-freshtrack");
    let (tag, moved) = copy_team(&p, "freshtrackpro", "freshtrack");
    apply_layers(&p, &["compose.yaml", "compose.production.yaml"]);
    let backend = inspect(&p, "backend");
    assert_eq!(backend["State"]["Status"], "running");
    assert_eq!(backend["State"]["Health"]["Status"], "healthy");
    let env = env_of(&backend);
    assert_eq!(env["NODE_ENV"], "production");
    assert_eq!(env["LOG_LEVEL"], "info");
    // `ports: !override`: only the production file's binding, on its (moved) port.
    let (_, free) = moved.iter().find(|(from, _)| *from == 13000).unwrap();
    assert_eq!(host_port(&backend, 3000), Some(free.to_string()));
    // `volumes: !reset []`: no hot-reload mount; the secrets are mounted.
    let targets: Vec<&str> = backend["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["Destination"].as_str())
        .collect();
    assert!(!targets.contains(&"/app/src"), "{targets:?}");
    for secret in ["/run/secrets/postgres_password", "/run/secrets/jwt_secret"] {
        assert!(targets.contains(&secret), "{targets:?}");
    }
    assert_eq!(backend["HostConfig"]["Memory"], 1 << 30);
    // `deploy.restart_policy: {condition: any}` is Docker's `always`.
    assert_eq!(backend["HostConfig"]["RestartPolicy"]["Name"], "always");
    let postgres = inspect(&p, "postgres");
    assert_eq!(
        env_of(&postgres)["POSTGRES_PASSWORD_FILE"],
        "/run/secrets/postgres_password"
    );
    drop(p);
    docker(&["rmi", "-f", &tag]);
}

#[test]
fn sleepcore_layers_apply_with_a_locally_built_image() {
    let p = TestProject::new("layered-sleepcore");
    let (tag, moved) = copy_team(&p, "sleepcore", "sleepcore");
    apply_layers(
        &p,
        &[
            "compose.yaml",
            "docker-compose.prod.yml",
            "docker-compose.monitoring.yml",
        ],
    );
    // Every service of the three files runs, the production settings on top.
    for service in SLEEPCORE {
        let c = inspect(&p, service);
        assert_eq!(c["State"]["Status"], "running", "{service}: {}", c["State"]);
        assert_eq!(
            c["HostConfig"]["RestartPolicy"]["Name"], "unless-stopped",
            "{service}"
        );
    }
    let bot = inspect(&p, "bot");
    assert_eq!(env_of(&bot)["NODE_ENV"], "production");
    assert_eq!(bot["Config"]["Labels"]["traefik.enable"], "true");
    assert_eq!(bot["State"]["Health"]["Status"], "healthy");
    for (from, service, port) in [
        (18480, "traefik", 80),
        (19090, "prometheus", 9090),
        (13001, "grafana", 3000),
    ] {
        let (_, free) = moved.iter().find(|(f, _)| *f == from).unwrap();
        assert_eq!(
            host_port(&inspect(&p, service), port),
            Some(free.to_string()),
            "{service}"
        );
    }
    drop(p);
    docker(&["rmi", "-f", &tag]);
}
