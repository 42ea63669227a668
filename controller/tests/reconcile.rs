//! `holdfast apply`, `plan` and `delete` against the real Docker engine: what one
//! converge creates, that a second one changes nothing, which changes recreate which
//! container, removals and the mass-removal guard, start order with `depends_on`.
//!
//! Every test has its own [`TestProject`] (removed when the test ends) and checks the
//! engine with the `docker` CLI, not through holdfast's own output alone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{
    apply, apply_ok, assert_apply_changes_nothing, assert_exit, containers_and_starts, delete,
    env_of, exec, id_of, inspect, inspect_object, plan,
};
use holdfast_testkit::{
    BUSYBOX_IMAGE, PROJECT_LABEL, TestProject, busybox_image, docker, docker_ok, parse_docker_time,
};
use serde_json::Value;

/// Two services on two networks, with a published port, a named volume and a secret.
const WEB_AND_WORKER: &str = r#"name: {{project}}
services:
  web:
    image: {{image}}
    command: ["httpd", "-f", "-p", "8080"]
    init: true
    ports: ["8080"]
    networks: [default, backend]
    secrets: [api_token]
  worker:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
    networks: [backend]
    volumes: ["data:/data"]
    environment:
      ROLE: worker
networks:
  backend: {}
volumes:
  data: {}
secrets:
  api_token:
    file: ./api_token.txt
"#;

const TOKEN: &str = "s3cr3t-token\n";

/// A project with [`WEB_AND_WORKER`] written (and its secret file), not applied.
fn web_and_worker(test: &str) -> TestProject {
    busybox_image();
    let p = TestProject::new(test);
    p.write_file("api_token.txt", TOKEN);
    p.write(WEB_AND_WORKER);
    p
}

fn label<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object["Config"]["Labels"]
        .get(key)
        .or_else(|| object["Labels"].get(key))
        .and_then(Value::as_str)
}

fn network_names(container: &Value) -> BTreeSet<String> {
    container["NetworkSettings"]["Networks"]
        .as_object()
        .map(|n| n.keys().cloned().collect())
        .unwrap_or_default()
}

fn mount_at<'a>(container: &'a Value, target: &str) -> &'a Value {
    container["Mounts"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["Destination"] == target))
        .unwrap_or_else(|| panic!("no mount at {target}: {}", container["Mounts"]))
}

#[test]
fn apply_creates_labelled_containers_networks_volume_localhost_ports_and_read_only_secrets() {
    let p = web_and_worker("create");
    let out = apply_ok(&p);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("every resource is Ready"), "{stderr}");
    assert_eq!(
        p.container_ids().len(),
        2,
        "exactly one container per service"
    );

    // Containers: running, named, with the ownership labels and a spec hash.
    for service in ["web", "worker"] {
        let c = inspect(&p, service);
        assert_eq!(c["State"]["Running"], true, "{service}: {}", c["State"]);
        assert_eq!(c["Name"], format!("/{}-{service}", p.name));
        assert_eq!(label(&c, PROJECT_LABEL), Some(p.name.as_str()));
        assert_eq!(label(&c, "io.holdfast.service"), Some(service));
        let hash = label(&c, "io.holdfast.spec-hash").unwrap_or_default();
        assert!(
            hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
            "{service}: spec hash {hash:?}"
        );
    }
    let web = inspect(&p, "web");
    let worker = inspect(&p, "worker");
    assert_eq!(
        env_of(&worker).get("ROLE").map(String::as_str),
        Some("worker")
    );

    // Networks: both exist, are labelled, and each container is on the ones it lists.
    let default_net = format!("{}_default", p.name);
    let backend_net = format!("{}_backend", p.name);
    for net in [&default_net, &backend_net] {
        let n = inspect_object("network", net);
        assert_eq!(label(&n, PROJECT_LABEL), Some(p.name.as_str()), "{net}");
    }
    assert_eq!(
        network_names(&web),
        BTreeSet::from([default_net.clone(), backend_net.clone()])
    );
    assert_eq!(
        network_names(&worker),
        BTreeSet::from([backend_net.clone()])
    );
    // The service name is a DNS alias on the network.
    let aliases = &worker["NetworkSettings"]["Networks"][&backend_net]["Aliases"];
    assert!(
        aliases
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "worker")),
        "{aliases}"
    );

    // The named volume: exists, labelled, mounted read-write.
    let volume = format!("{}_data", p.name);
    let v = inspect_object("volume", &volume);
    assert_eq!(label(&v, PROJECT_LABEL), Some(p.name.as_str()));
    let data = mount_at(&worker, "/data");
    assert_eq!(data["Type"], "volume");
    assert_eq!(data["Name"], volume.as_str());
    assert_eq!(data["RW"], true);

    // The port: no host IP in the file, so 127.0.0.1 only, on a port Docker picked.
    let bindings = web["NetworkSettings"]["Ports"]["8080/tcp"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!bindings.is_empty(), "{}", web["NetworkSettings"]["Ports"]);
    for b in &bindings {
        assert_eq!(b["HostIp"], "127.0.0.1", "{bindings:?}");
    }
    let host_port: u16 = bindings[0]["HostPort"].as_str().unwrap().parse().unwrap();
    assert_ne!(host_port, 0);
    let mut conn = TcpStream::connect(("127.0.0.1", host_port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    conn.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut reply = String::new();
    let _ = conn.read_to_string(&mut reply);
    assert!(reply.starts_with("HTTP/1."), "httpd answered {reply:?}");

    // The secret: read-only at /run/secrets/NAME with the file's content.
    let secret = mount_at(&web, "/run/secrets/api_token");
    assert_eq!(secret["RW"], false, "{secret}");
    let web_id = id_of(&p, "web");
    let cat = exec(&web_id, &["cat", "/run/secrets/api_token"]);
    assert!(cat.status.success(), "{cat:?}");
    assert_eq!(String::from_utf8_lossy(&cat.stdout), TOKEN);
    let write = exec(
        &web_id,
        &["sh", "-c", "echo tampered > /run/secrets/api_token"],
    );
    assert!(
        !write.status.success(),
        "the secret is writable from the container"
    );
    assert_eq!(
        std::fs::read_to_string(p.dir.join("api_token.txt")).unwrap(),
        TOKEN
    );
}

#[test]
fn second_apply_changes_nothing_and_plan_reports_no_changes() {
    let p = web_and_worker("noop");
    apply_ok(&p);
    let before = containers_and_starts(&p);
    assert_eq!(before.len(), 2);

    assert_apply_changes_nothing(&p, &before);

    let out = plan(&p);
    assert_exit(&out, 0, "holdfast plan");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "",
        "plan reports changes after a converged apply\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no changes"));
    assert_eq!(containers_and_starts(&p), before, "plan changed something");
}

/// One service using every field the reconcile core turns into container settings.
const EVERY_FIELD: &str = r#"name: {{project}}
services:
  web:
    image: {{image}}
    entrypoint: ["sh", "-c"]
    command: ["exec httpd -f -p 8080"]
    user: "1000:1000"
    init: true
    stop_grace_period: 1s
    restart: on-failure:3
    env_file: ./web.env
    environment:
      B: "2"
      EMPTY: ""
    labels:
      com.example.team: shop
    ports: ["8080", "127.0.0.1::9090/udp", {target: 8081}]
    networks:
      default:
      back:
        aliases: [www, site]
    volumes:
      - data:/data:ro
      - ./bind:/bind
      - /anonymous
    secrets:
      - source: token
        target: api_token
    healthcheck:
      test: ["CMD-SHELL", "true"]
      interval: 1s
      timeout: 2s
      retries: 2
      start_period: 1s
    deploy:
      resources:
        limits: {memory: 64M, cpus: "0.5"}
        reservations: {memory: 32M}
    logging:
      driver: json-file
      options: {max-size: 1m, max-file: "2"}
networks:
  back: {internal: true, labels: {team: shop}}
volumes:
  data: {labels: {team: shop}}
secrets:
  token: {file: ./token.txt}
"#;

#[test]
fn second_apply_of_a_file_using_every_field_changes_nothing() {
    busybox_image();
    let p = TestProject::new("noop-every-field");
    p.write_file("web.env", "A=1\n");
    p.write_file("token.txt", "t");
    std::fs::create_dir_all(p.dir.join("bind")).unwrap();
    p.write(EVERY_FIELD);
    apply_ok(&p);
    assert!(p.is_ready("web"));
    let before = containers_and_starts(&p);

    let out = plan(&p);
    assert_exit(&out, 0, "holdfast plan");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "",
        "a field is seen as drift right after apply"
    );
    apply_ok(&p);
    assert_eq!(containers_and_starts(&p), before);

    // The settings did reach the container.
    let c = inspect(&p, "web");
    assert_eq!(c["Config"]["User"], "1000:1000");
    assert_eq!(c["HostConfig"]["NanoCpus"], 500_000_000);
    assert_eq!(c["HostConfig"]["MemoryReservation"], 32 * 1024 * 1024);
    assert_eq!(c["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(c["HostConfig"]["RestartPolicy"]["MaximumRetryCount"], 3);
    assert_eq!(c["HostConfig"]["LogConfig"]["Config"]["max-size"], "1m");
    assert_eq!(c["Config"]["Labels"]["com.example.team"], "shop");
    assert_eq!(mount_at(&c, "/data")["RW"], false);
    assert_eq!(mount_at(&c, "/run/secrets/api_token")["RW"], false);
    let udp = &c["NetworkSettings"]["Ports"]["9090/udp"][0];
    assert_eq!(udp["HostIp"], "127.0.0.1", "{udp}");
    let env = env_of(&c);
    assert_eq!((env["A"].as_str(), env["B"].as_str()), ("1", "2"));
}

#[test]
fn apply_dry_run_and_plan_change_nothing() {
    let p = web_and_worker("dry-run");
    let out = apply(&p, &["--dry-run"]);
    assert_exit(&out, 0, "holdfast apply --dry-run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("create service/web"), "{stdout}");
    assert!(stdout.contains("create service/worker"), "{stdout}");
    let out = plan(&p);
    assert_exit(&out, 0, "holdfast plan");
    assert!(String::from_utf8_lossy(&out.stdout).contains("create service/web"));

    assert!(p.container_ids().is_empty(), "a dry run created containers");
    let filter = p.filter();
    for kind in ["network", "volume"] {
        let listed = docker_ok(&[kind, "ls", "-q", "--filter", &filter]);
        assert_eq!(listed, "", "a dry run created a {kind}");
    }
}

// ---------------------------------------------------------------------------------
// Which changes recreate which container.

/// Two services; `changed` reads an env file, a secret and has a memory limit, `other`
/// shares nothing with it that the tests change. `{{changed_image}}`, `{{greeting}}` and
/// `{{memory}}` are the knobs.
const TWO_SERVICES: &str = r#"name: {{project}}
services:
  changed:
    image: {{changed_image}}
    command: ["sleep", "3600"]
    init: true
    environment:
      GREETING: {{greeting}}
    env_file: ./app.env
    secrets: [token]
    deploy:
      resources:
        limits:
          memory: {{memory}}
  other:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
    environment:
      GREETING: hello
secrets:
  token:
    file: ./token.txt
"#;

#[derive(Clone)]
struct Knobs {
    image: String,
    greeting: &'static str,
    memory: &'static str,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            image: BUSYBOX_IMAGE.to_string(),
            greeting: "hello",
            memory: "64M",
        }
    }
}

fn write_two_services(p: &TestProject, knobs: &Knobs) {
    p.write(
        &TWO_SERVICES
            .replace("{{changed_image}}", &knobs.image)
            .replace("{{greeting}}", knobs.greeting)
            .replace("{{memory}}", knobs.memory),
    );
}

/// Applies [`TWO_SERVICES`] with `initial` knobs, runs `change`, checks that `holdfast
/// plan` names only `changed`, applies again, and checks that `changed` got a new
/// container (on which `expect` runs) while `other` kept its container, untouched.
fn assert_only_changed_service_is_recreated(
    p: &TestProject,
    initial: &Knobs,
    change: impl FnOnce(&TestProject),
    expect: impl FnOnce(&Value),
) {
    busybox_image();
    p.write_file("app.env", "FROM_FILE=one\n");
    p.write_file("token.txt", "first-token");
    write_two_services(p, initial);
    apply_ok(p);
    let changed_before = id_of(p, "changed");
    let other_before = id_of(p, "other");
    let other_started = p.started_at("other");

    change(p);

    let out = plan(p);
    assert_exit(&out, 0, "holdfast plan");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("recreate service/changed"), "{stdout}");
    assert!(!stdout.contains("service/other"), "{stdout}");

    apply_ok(p);
    let changed_after = id_of(p, "changed");
    assert_ne!(changed_after, changed_before, "`changed` was not recreated");
    assert_eq!(
        docker(&["inspect", &changed_before]).status.code(),
        Some(1),
        "the old container of `changed` is still there"
    );
    let c = inspect(p, "changed");
    assert_eq!(c["State"]["Running"], true);
    expect(&c);

    assert_eq!(id_of(p, "other"), other_before, "`other` was recreated");
    assert_eq!(
        p.started_at("other"),
        other_started,
        "`other` was restarted"
    );
    assert_eq!(p.container_ids().len(), 2);
}

#[test]
fn env_change_recreates_only_that_service() {
    let p = TestProject::new("recreate-env");
    assert_only_changed_service_is_recreated(
        &p,
        &Knobs::default(),
        |p| {
            write_two_services(
                p,
                &Knobs {
                    greeting: "bonjour",
                    ..Knobs::default()
                },
            )
        },
        |c| assert_eq!(env_of(c)["GREETING"], "bonjour"),
    );
}

/// Removes an image tag when dropped.
struct TagGuard(String);

impl Drop for TagGuard {
    fn drop(&mut self) {
        let _ = docker(&["rmi", &self.0]);
    }
}

#[test]
fn image_change_recreates_only_that_service() {
    let p = TestProject::new("recreate-image");
    busybox_image();
    let alt = format!("{}-alt:1", p.name);
    docker_ok(&["tag", BUSYBOX_IMAGE, &alt]);
    let _tag = TagGuard(alt.clone());
    assert_only_changed_service_is_recreated(
        &p,
        &Knobs::default(),
        |p| {
            write_two_services(
                p,
                &Knobs {
                    image: alt.clone(),
                    ..Knobs::default()
                },
            )
        },
        |c| assert_eq!(c["Config"]["Image"], alt.as_str()),
    );
}

#[test]
fn secret_file_change_recreates_only_that_service() {
    let p = TestProject::new("recreate-secret");
    assert_only_changed_service_is_recreated(
        &p,
        &Knobs::default(),
        |p| {
            p.write_file("token.txt", "second-token");
        },
        |c| {
            let cat = exec(c["Id"].as_str().unwrap(), &["cat", "/run/secrets/token"]);
            assert_eq!(String::from_utf8_lossy(&cat.stdout), "second-token");
        },
    );
}

#[test]
fn env_file_change_recreates_only_that_service() {
    let p = TestProject::new("recreate-env-file");
    assert_only_changed_service_is_recreated(
        &p,
        &Knobs::default(),
        |p| {
            p.write_file("app.env", "FROM_FILE=two\n");
        },
        |c| assert_eq!(env_of(c)["FROM_FILE"], "two"),
    );
}

#[test]
fn memory_limit_change_recreates_only_that_service() {
    let p = TestProject::new("recreate-limits");
    assert_only_changed_service_is_recreated(
        &p,
        &Knobs::default(),
        |p| {
            write_two_services(
                p,
                &Knobs {
                    memory: "96M",
                    ..Knobs::default()
                },
            )
        },
        |c| assert_eq!(c["HostConfig"]["Memory"], 96 * 1024 * 1024),
    );
}

/// Removes images by ID when dropped (after the project's containers are gone).
struct ImageGuard(Vec<String>);

impl Drop for ImageGuard {
    fn drop(&mut self) {
        for id in &self.0 {
            let _ = docker(&["rmi", "-f", id]);
        }
    }
}

/// Builds `FROM busybox` + a label as `tag`, and returns the image ID.
fn build_variant(p: &TestProject, tag: &str, revision: &str) -> String {
    let dir = p.dir.join(format!("build-{revision}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        format!(
            "FROM {BUSYBOX_IMAGE}\nLABEL test.project={} test.revision={revision}\n",
            p.name
        ),
    )
    .unwrap();
    docker_ok(&["build", "-q", "-t", tag, dir.to_str().unwrap()]);
    docker_ok(&["image", "inspect", "-f", "{{.Id}}", tag])
}

#[test]
fn new_image_under_the_same_tag_recreates_only_that_service() {
    // Declared before the project, so that the images go after its containers.
    let mut images = ImageGuard(Vec::new());
    let p = TestProject::new("recreate-same-tag");
    busybox_image();
    let tag = format!("{}-app:1", p.name);
    let first = build_variant(&p, &tag, "1");
    images.0.push(first.clone());
    let initial = Knobs {
        image: tag.clone(),
        ..Knobs::default()
    };
    let mut second = String::new();
    assert_only_changed_service_is_recreated(
        &p,
        &initial,
        |p| {
            // The file stays the same; only the image behind the tag changes.
            second = build_variant(p, &tag, "2");
            images.0.push(second.clone());
        },
        |c| assert_eq!(c["Config"]["Image"], tag.as_str()),
    );
    assert_ne!(first, second);
    assert_eq!(
        inspect(&p, "changed")["Image"],
        second.as_str(),
        "not created from the new image"
    );
}

// ---------------------------------------------------------------------------------
// Removals.

const THREE_SERVICES: &str = r#"name: {{project}}
services:
  a:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
  b:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
  c:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
    volumes: ["cdata:/data"]
volumes:
  cdata: {}
"#;

#[test]
fn removing_a_service_removes_its_container_and_keeps_its_volume() {
    busybox_image();
    let p = TestProject::new("remove-one");
    p.write(THREE_SERVICES);
    apply_ok(&p);
    let a = id_of(&p, "a");
    let b = id_of(&p, "b");
    let c = id_of(&p, "c");
    let volume = format!("{}_cdata", p.name);
    // Some data in the volume, to find again afterwards.
    assert!(
        exec(&c, &["sh", "-c", "echo kept > /data/marker"])
            .status
            .success()
    );

    // The service and its volume declaration leave the file.
    let cut = THREE_SERVICES.split("  c:\n").next().unwrap().to_string();
    p.write(&cut);
    let out = apply_ok(&p);

    assert_eq!(
        docker(&["inspect", &c]).status.code(),
        Some(1),
        "the container of the removed service is still there\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(p.container_of("c"), None);
    assert_eq!(id_of(&p, "a"), a);
    assert_eq!(id_of(&p, "b"), b);
    let v = inspect_object("volume", &volume);
    assert_eq!(label(&v, PROJECT_LABEL), Some(p.name.as_str()));
    let data = v["Mountpoint"].as_str().unwrap();
    // The data survives (read through a throwaway container, as the test may not be root).
    let mount = format!("{volume}:/data:ro");
    let out = docker(&[
        "run",
        "--rm",
        "-v",
        &mount,
        BUSYBOX_IMAGE,
        "cat",
        "/data/marker",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "kept\n",
        "volume at {data}: {out:?}"
    );
}

const TWO_PLAIN: &str = r#"name: {{project}}
services:
  a:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
  b:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
"#;

fn both_running(p: &TestProject, a: &str, b: &str) {
    for (service, id) in [("a", a), ("b", b)] {
        assert_eq!(id_of(p, service), id, "{service} was replaced");
        assert_eq!(
            docker_ok(&["inspect", "-f", "{{.State.Running}}", id]),
            "true",
            "{service} is not running"
        );
    }
}

#[test]
fn emptying_the_file_is_refused_as_a_mass_removal_unless_allowed() {
    busybox_image();
    let p = TestProject::new("mass-removal");
    p.write(TWO_PLAIN);
    apply_ok(&p);
    let a = id_of(&p, "a");
    let b = id_of(&p, "b");

    p.write("name: {{project}}\nservices: {}\n");
    let out = apply(&p, &[]);
    assert_ne!(out.status.code(), Some(0), "a mass removal was not refused");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--allow-mass-removal"), "{stderr}");
    both_running(&p, &a, &b);

    let out = plan(&p);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("keep service/a"),
        "{out:?}"
    );
    both_running(&p, &a, &b);

    let out = apply(&p, &["--allow-mass-removal"]);
    assert_exit(&out, 0, "holdfast apply --allow-mass-removal");
    assert!(
        p.container_ids().is_empty(),
        "containers left after an allowed mass removal"
    );
}

#[test]
fn renaming_every_service_is_refused_as_a_mass_removal() {
    busybox_image();
    let p = TestProject::new("mass-rename");
    p.write(TWO_PLAIN);
    apply_ok(&p);
    let a = id_of(&p, "a");
    let b = id_of(&p, "b");

    p.write(&TWO_PLAIN.replace("  a:", "  a2:").replace("  b:", "  b2:"));
    let out = apply(&p, &[]);
    assert_ne!(out.status.code(), Some(0), "a mass removal was not refused");
    both_running(&p, &a, &b);

    let out = apply(&p, &["--allow-mass-removal"]);
    assert_exit(&out, 0, "holdfast apply --allow-mass-removal");
    assert_eq!(p.container_of("a"), None);
    assert_eq!(p.container_of("b"), None);
    assert!(p.is_ready("a2") && p.is_ready("b2"));
    assert_eq!(p.container_ids().len(), 2);
}

#[test]
fn delete_removes_containers_and_networks_and_keeps_volumes_unless_asked() {
    let p = web_and_worker("delete");
    apply_ok(&p);
    let filter = p.filter();
    let volume = format!("{}_data", p.name);

    let out = delete(&p, &[]);
    assert_exit(&out, 0, "holdfast delete");
    assert!(p.container_ids().is_empty(), "containers left after delete");
    assert_eq!(
        docker_ok(&["network", "ls", "-q", "--filter", &filter]),
        "",
        "networks left after delete"
    );
    assert_eq!(
        docker_ok(&["volume", "ls", "-q", "--filter", &filter]),
        volume,
        "delete without --volumes must keep the named volume"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--volumes"));

    let out = delete(&p, &["--volumes"]);
    assert_exit(&out, 0, "holdfast delete --volumes");
    assert_eq!(docker_ok(&["volume", "ls", "-q", "--filter", &filter]), "");
}

// ---------------------------------------------------------------------------------
// Start order.

/// `db` becomes healthy only 3 s after it starts (checked every 2 s, so that Docker's
/// last five results still show the failures when the test reads them) (the test image has no `/tmp`, so the
/// command makes it); `app` needs it healthy.
const HEALTHY_DEPENDENCY: &str = r#"name: {{project}}
services:
  app:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
    depends_on:
      db:
        condition: service_healthy
  db:
    image: {{image}}
    command: ["sh", "-c", "mkdir -p /tmp && sleep 3 && touch /tmp/ready && exec sleep 3600"]
    init: true
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 2s
      timeout: 5s
      retries: 30
"#;

#[test]
fn depends_on_service_healthy_creates_the_dependent_after_the_dependency_is_healthy() {
    busybox_image();
    let p = TestProject::new("depends-on");
    p.write(HEALTHY_DEPENDENCY);
    let out = apply_ok(&p);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(p.is_ready("db"), "{stderr}");
    assert!(p.is_ready("app"), "{stderr}");

    let db = inspect(&p, "db");
    let app = inspect(&p, "app");
    let log = db["State"]["Health"]["Log"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let first_pass = log
        .iter()
        .position(|e| e["ExitCode"] == 0)
        .unwrap_or_else(|| panic!("no passing health check in {log:?}"));
    // Docker keeps the last 5 results: a failure before the first pass shows that the
    // first pass is the one that made the container healthy.
    assert!(
        first_pass > 0,
        "the health log no longer shows the failures before the first pass: {log:?}"
    );
    let healthy_at = parse_docker_time(log[first_pass]["End"].as_str().unwrap());
    let app_created = parse_docker_time(app["Created"].as_str().unwrap());
    assert!(
        app_created >= healthy_at,
        "app was created at {} before db became healthy at {}",
        app["Created"],
        log[first_pass]["End"]
    );
    let db_started = parse_docker_time(db["State"]["StartedAt"].as_str().unwrap());
    assert!(
        app_created >= db_started + Duration::from_secs(3),
        "app was created within 3 s of db's start ({} vs {})",
        app["Created"],
        db["State"]["StartedAt"]
    );
}

#[test]
fn apply_of_an_invalid_file_exits_1_with_line_and_column_and_creates_nothing() {
    busybox_image();
    let p = TestProject::new("bad-file");
    p.write("name: {{project}}\nservices:\n  a:\n    image: {{image}}\n    restart: sometimes\n");
    let out = apply(&p, &[]);
    assert_exit(&out, 1, "holdfast apply of an invalid file");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("holdfast.yaml:5:14"),
        "{out:?}"
    );
    assert!(p.container_ids().is_empty());
}
