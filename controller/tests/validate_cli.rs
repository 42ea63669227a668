//! `holdfast validate` and `holdfast schema`, run as a user runs them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn holdfast() -> Command {
    let mut cmd = Command::cargo_bin("holdfast").unwrap();
    cmd.current_dir(repo());
    cmd
}

fn examples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path().join("holdfast.yaml"))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_is_valid_without_warnings() {
    let files = examples();
    assert!(
        files.len() >= 6,
        "expected the quickstart and five seed examples, found {files:?}"
    );
    for file in files {
        let out = holdfast().arg("validate").arg(&file).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {stderr}", file.display());
        assert!(!stderr.contains("warning:"), "{}: {stderr}", file.display());
        assert!(stderr.contains(": valid (project `"), "{stderr}");
    }
}

#[test]
fn invalid_file_exits_1_with_located_errors_on_stderr() {
    let out = holdfast()
        .args(["validate", "spec/tests/bad/many_errors_at_once.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "data only on stdout");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("spec/tests/bad/many_errors_at_once.yaml:4:5"),
        "{stderr}"
    );
    assert!(stderr.contains("has 6 errors"), "{stderr}");
}

#[test]
fn one_bad_file_among_good_ones_fails_and_all_are_reported() {
    let out = holdfast()
        .args([
            "validate",
            "examples/quickstart/holdfast.yaml",
            "spec/tests/bad/undefined_volume.yaml",
            "spec/tests/bad/port_published_twice.yaml",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("quickstart/holdfast.yaml: valid"),
        "{stderr}"
    );
    assert!(stderr.contains("undefined_volume.yaml:6:9"), "{stderr}");
    assert!(stderr.contains("port_published_twice.yaml:9:9"), "{stderr}");
}

#[test]
fn missing_file_exits_1() {
    let out = holdfast()
        .args(["validate", "no/such/file.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no/such/file.yaml"));
}

#[test]
fn print_gives_the_resolved_state_as_json() {
    let out = holdfast()
        .args(["validate", "--print", "examples/quickstart/holdfast.yaml"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let state: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(state["name"], "quickstart");
    assert_eq!(state["services"]["web"]["ports"][0]["host_ip"], "127.0.0.1");
    assert_eq!(
        state["services"]["web"]["depends_on"]["api"]["condition"],
        "service_healthy"
    );
}

#[test]
fn schema_is_json_and_the_shipped_copy_is_current() {
    let out = holdfast().arg("schema").output().unwrap();
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(schema["title"], "holdfast desired state");
    let shipped = std::fs::read_to_string(repo().join("docs/holdfast.schema.json")).unwrap();
    let shipped: serde_json::Value = serde_json::from_str(&shipped).unwrap();
    assert_eq!(
        shipped, schema,
        "docs/holdfast.schema.json is stale: run `cargo run -p holdfast -- schema > docs/holdfast.schema.json`"
    );
}

#[test]
fn paths_of_a_file_extended_by_a_file_named_relative_are_absolute() {
    // `cd FOLDER && holdfast validate --print compose.yaml`, as posthog's file is run.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("compose.yaml"),
        "name: p\nservices:\n  db:\n    extends: {file: base.yaml, service: db}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("base.yaml"),
        "services:\n  db:\n    image: postgres\n    volumes: [\"./init:/docker-entrypoint-initdb.d\"]\n",
    )
    .unwrap();
    let out = Command::cargo_bin("holdfast")
        .unwrap()
        .current_dir(dir.path())
        .args(["validate", "--print", "compose.yaml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let state: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let want = std::fs::canonicalize(dir.path()).unwrap().join("init");
    assert_eq!(
        state["services"]["db"]["volumes"][0]["source"],
        want.to_string_lossy().as_ref()
    );
}
