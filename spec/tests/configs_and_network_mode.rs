//! `configs`, `network_mode` and `depends_on` with `restart`/`required`: what each form
//! decodes to, and what the controller is told to apply.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use holdfast_spec::*;

fn load(src: &str, vars: &[(&str, &str)]) -> Result<DesiredState, String> {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("conf")).unwrap();
    std::fs::write(dir.join("conf/app.ini"), "[app]\nlevel = info\n").unwrap();
    let options = LoadOptions {
        variables: Some(
            vars.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>(),
        ),
        check_files: true,
        ..LoadOptions::default()
    };
    load_str(&dir.join("compose.yaml"), src, &options)
        .map(|l| l.state)
        .map_err(|r| r.render())
}

#[test]
fn configs_come_from_a_file_content_or_a_variable() {
    let state = load(
        "name: x\nservices:\n  a:\n    image: busybox\n    configs:\n      - app\n      - source: inline\n        target: /etc/inline.conf\n        uid: \"1000\"\n        gid: 1000\n        mode: 0440\n      - source: from_env\n        target: relative.txt\nconfigs:\n  app:\n    file: ./conf/app.ini\n  inline:\n    content: |\n      key = value\n  from_env:\n    environment: APP_CONFIG\n",
        &[("APP_CONFIG", "from the environment")],
    )
    .unwrap();
    let app = &state.configs["app"];
    assert!(app.file.as_ref().unwrap().ends_with("conf/app.ini"));
    assert!(app.file.as_ref().unwrap().is_absolute());
    assert_eq!(app.content, None);
    assert_eq!(
        state.configs["inline"].content.as_deref(),
        Some("key = value\n")
    );
    assert_eq!(
        state.configs["from_env"].content.as_deref(),
        Some("from the environment")
    );

    let configs = &state.services["a"].configs;
    assert_eq!(configs.len(), 3);
    assert_eq!(configs[0].source, "app");
    assert_eq!(configs[0].path(), "/app", "the default target is /<name>");
    assert_eq!(configs[0].mode, None);
    assert_eq!(configs[1].path(), "/etc/inline.conf");
    assert_eq!(configs[1].uid.as_deref(), Some("1000"));
    assert_eq!(configs[1].gid.as_deref(), Some("1000"));
    assert_eq!(configs[1].mode, Some(0o440));
    assert_eq!(configs[2].path(), "/relative.txt");
    assert!(state.not_applied_yet().is_empty());
}

#[test]
fn configs_round_trip_and_change_the_state_hash() {
    let src = "name: x\nservices:\n  a:\n    image: busybox\n    configs: [{source: c, mode: 0600}]\nconfigs:\n  c:\n    content: one\n";
    let state = load(src, &[]).unwrap();
    let json = serde_json::to_string(&state).unwrap();
    let again = load(&json, &[]).unwrap_or_else(|e| panic!("{e}\n{json}"));
    assert_eq!(again, state);
    let other = load(&src.replace("content: one", "content: two"), &[]).unwrap();
    assert_ne!(other.content_hash(), state.content_hash());
}

#[test]
fn config_mistakes_are_located() {
    for (body, message, help) in [
        (
            "configs:\n  c:\n    environment: NOT_SET\n",
            "variable `NOT_SET` of config `c` is not set",
            "set `NOT_SET`",
        ),
        (
            "configs:\n  c: {}\n",
            "config `c` has no `file`, `content` or `environment`",
            "content: |",
        ),
        (
            "configs:\n  c:\n    file: ./nope.conf\n",
            "config file `./nope.conf` does not exist",
            "create the file",
        ),
        (
            "configs:\n  c:\n    external: true\n",
            "only Docker Swarm has",
            "write `file: ./c`",
        ),
    ] {
        let src = format!(
            "name: x\nservices:\n  a:\n    image: busybox\n    configs: [{{source: c, uid: abc}}]\n{body}"
        );
        let err = load(&src, &[]).unwrap_err();
        assert!(err.contains(message), "{err}");
        assert!(err.contains(help), "{err}");
        assert!(
            err.contains("compose.yaml:5:"),
            "the uid is located too: {err}"
        );
    }
}

#[test]
fn network_mode_service_implies_a_restarting_dependency() {
    let state = load(
        "name: x\nservices:\n  vpn:\n    image: busybox\n  app:\n    image: busybox\n    network_mode: service:vpn\n  probe:\n    image: busybox\n    network_mode: service:vpn\n    depends_on:\n      vpn: {condition: service_healthy}\n  host:\n    image: busybox\n    network_mode: host\n  bridge:\n    image: busybox\n    network_mode: bridge\n    ports: [\"127.0.0.1:18080:80\"]\n",
        &[],
    )
    .unwrap();
    let app = &state.services["app"];
    assert_eq!(app.network_service(), Some("vpn"));
    assert!(
        app.networks.is_empty(),
        "no default network in a network mode"
    );
    let dep = app.depends_on["vpn"];
    assert_eq!(dep.condition, DependencyCondition::ServiceStarted);
    assert!(dep.restart && dep.required);
    // A dependency the file writes keeps its condition.
    let probe = state.services["probe"].depends_on["vpn"];
    assert_eq!(probe.condition, DependencyCondition::ServiceHealthy);
    assert!(state.services["host"].networks.is_empty());
    assert_eq!(state.services["bridge"].ports.len(), 1);
    assert!(
        state.not_applied_yet().is_empty(),
        "network_mode is applied"
    );
}

#[test]
fn network_mode_with_ports_is_refused_except_bridge() {
    for mode in ["host", "none", "container:other", "service:b"] {
        let src = format!(
            "name: x\nservices:\n  b:\n    image: busybox\n  a:\n    image: busybox\n    network_mode: \"{mode}\"\n    ports: [\"8080:80\"]\n"
        );
        let err = load(&src, &[]).unwrap_err();
        assert!(
            err.contains(&format!("has `network_mode: {mode}`")),
            "{err}"
        );
        assert!(err.contains("compose.yaml:8:12"), "{err}");
    }
    let err = load(
        "name: x\nservices:\n  a:\n    image: busybox\n    network_mode: service:a\n",
        &[],
    )
    .unwrap_err();
    assert!(err.contains("depends on itself"), "{err}");
}

#[test]
fn depends_on_restart_is_applied_and_optional_dependencies_may_be_missing() {
    let state = load(
        "name: x\nservices:\n  db:\n    image: busybox\n  api:\n    image: busybox\n    depends_on:\n      db: {condition: service_started, restart: true}\n      cache: {condition: service_started, required: false}\n",
        &[],
    )
    .unwrap();
    let api = &state.services["api"];
    assert!(api.depends_on["db"].restart);
    assert!(
        !api.depends_on.contains_key("cache"),
        "a missing optional dependency is dropped"
    );
    assert!(state.not_applied_yet().is_empty());
}
