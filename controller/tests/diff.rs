//! `holdfast diff` against the real Docker engine: nothing differs right after an
//! apply, an edited file or a stopped container shows as a unified diff under its own
//! service only, new and removed services diff against nothing, and the exit codes
//! follow `kubectl diff` (0 same, 1 differs, 2 error).
//!
//! Every test has its own [`TestProject`] (removed when the test ends); none publishes
//! a host port.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Output;
use std::time::Duration;

use common::{apply_ok, assert_exit, id_of, run};
use holdfast_testkit::{TestProject, busybox_image, docker_ok, output_within};

/// Two services; `web` has `MODE` in its environment.
const TWO: &str = r#"name: {{project}}
services:
  web:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
    environment:
      MODE: a
  worker:
    image: {{image}}
    command: ["sleep", "3600"]
    init: true
    environment:
      ROLE: worker
"#;

/// A project with [`TWO`] written and applied.
fn applied(test: &str) -> TestProject {
    busybox_image();
    let p = TestProject::new(test);
    p.write(TWO);
    apply_ok(&p);
    p
}

/// `holdfast diff -f FILE`.
fn diff(p: &TestProject) -> Output {
    let file = p.file();
    run(p, &["diff", "-f", file.to_str().unwrap()])
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The part of a diff output that belongs to resource `key` (from its `---` header to
/// the next resource's), or `None` when it has none.
fn section<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let start = text.find(&format!("--- live/{key}\n"))?;
    let rest = &text[start + 4..];
    let end = rest.find("\n--- live/").map_or(rest.len(), |i| i + 1);
    Some(&text[start..start + 4 + end])
}

/// The `-`/`+` lines of a diff, without its headers.
fn changes(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| (l.starts_with('-') || l.starts_with('+')) && !l.starts_with("---"))
        .filter(|l| !l.starts_with("+++"))
        .collect()
}

#[test]
fn nothing_differs_right_after_apply() {
    let p = applied("diff-same");
    let out = diff(&p);
    assert_exit(&out, 0, "holdfast diff");
    assert_eq!(stdout(&out), "", "no diff expected");
}

#[test]
fn an_edited_env_value_shows_under_its_service_only() {
    let p = applied("diff-env");
    let before = id_of(&p, "web");
    p.write(&TWO.replace("MODE: a", "MODE: b"));

    let out = diff(&p);
    assert_exit(&out, 1, "holdfast diff");
    let text = stdout(&out);
    assert!(
        !text.contains('\x1b'),
        "no colour when stdout is a pipe:\n{text}"
    );
    assert!(!text.contains("service/worker"), "{text}");
    let web = section(&text, "service/web").unwrap_or_else(|| panic!("no web diff:\n{text}"));
    assert!(
        web.starts_with("--- live/service/web\n+++ desired/service/web\n@@ "),
        "{web}"
    );
    assert_eq!(changes(web), vec!["-  MODE: a", "+  MODE: b"], "{web}");

    // diff changes nothing.
    assert_eq!(id_of(&p, "web"), before);
    assert_exit(&diff(&p), 1, "holdfast diff (again)");
}

#[test]
fn a_stopped_container_shows_its_state() {
    let p = applied("diff-stopped");
    docker_ok(&["stop", "-t", "1", &id_of(&p, "worker")]);

    let out = diff(&p);
    assert_exit(&out, 1, "holdfast diff");
    let text = stdout(&out);
    assert!(section(&text, "service/web").is_none(), "{text}");
    let worker = section(&text, "service/worker").unwrap_or_else(|| panic!("{text}"));
    let lines = changes(worker);
    assert_eq!(lines.len(), 2, "{worker}");
    assert!(lines[0].starts_with("-state: exited (code "), "{worker}");
    assert_eq!(lines[1], "+state: running", "{worker}");
}

#[test]
fn new_and_removed_services_diff_against_nothing() {
    let p = applied("diff-add-remove");
    // worker leaves the file, extra joins it.
    let edited = TWO.replace("  worker:", "  extra:");
    p.write(&edited);

    let out = diff(&p);
    assert_exit(&out, 1, "holdfast diff");
    let text = stdout(&out);
    assert!(section(&text, "service/web").is_none(), "{text}");

    let extra = section(&text, "service/extra").unwrap_or_else(|| panic!("{text}"));
    assert!(
        extra.starts_with("--- live/service/extra\n+++ desired/service/extra\n@@ -0,0 +1,"),
        "{extra}"
    );
    assert!(changes(extra).iter().all(|l| l.starts_with('+')), "{extra}");
    assert!(extra.contains("\n+  ROLE: worker\n"), "{extra}");

    let worker = section(&text, "service/worker").unwrap_or_else(|| panic!("{text}"));
    assert!(
        worker.contains("+++ desired/service/worker\n@@ -1,"),
        "{worker}"
    );
    assert!(
        changes(worker).iter().all(|l| l.starts_with('-')),
        "{worker}"
    );
    assert!(worker.contains("\n-  ROLE: worker\n"), "{worker}");
    assert!(worker.contains("\n-state: running\n"), "{worker}");
    // The image's own variables and holdfast's labels are not shown.
    assert!(!worker.contains("PATH"), "{worker}");
    assert!(!worker.contains("io.holdfast"), "{worker}");
}

#[test]
fn an_invalid_file_exits_2_with_its_position() {
    busybox_image();
    let p = TestProject::new("diff-invalid");
    p.write("name: {{project}}\nservices:\n  web:\n    imgae: {{image}}\n");
    let out = diff(&p);
    assert_exit(&out, 2, "holdfast diff");
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert!(err.contains("holdfast.yaml:4:5"), "{err}");
    assert!(err.contains("imgae"), "{err}");
}

#[test]
fn an_unreachable_engine_exits_2() {
    let p = TestProject::new("diff-no-engine");
    p.write(TWO);
    let missing = p.dir.join("no-docker.sock");
    let out = output_within(
        common::holdfast(&p)
            .env("DOCKER_HOST", format!("unix://{}", missing.display()))
            .args(["diff", "-f", p.file().to_str().unwrap()]),
        Duration::from_secs(30),
    );
    assert_exit(&out, 2, "holdfast diff without an engine");
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("error:"), "{}", stderr(&out));
}
