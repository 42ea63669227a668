//! Helpers for tests against the real Docker engine.
//!
//! - [`busybox_image`] builds a 2 MB image from Debian's `busybox-static` once per
//!   machine (no registry is needed).
//! - [`TestProject`] gives each test its own project name and folder, and removes
//!   everything labelled with that project when dropped, so that tests can run in
//!   parallel and never touch containers they did not create.
//! - [`wait_until`] polls a condition with a deadline instead of sleeping and hoping.
//!
//! The engine is reached with the `docker` command, independently of the controller's
//! own client, so that tests check the controller's work from the outside.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The image every test service runs.
pub const BUSYBOX_IMAGE: &str = "holdfast-test/busybox:1";

/// The label holdfast puts on everything a project owns.
pub const PROJECT_LABEL: &str = "io.holdfast.project";

/// Runs `docker ARGS` and returns its output. Panics with a clear message when the
/// engine does not answer: a test that needs Docker never skips silently.
pub fn docker(args: &[&str]) -> Output {
    match Command::new("docker").args(args).output() {
        Ok(out) => out,
        Err(e) => panic!(
            "cannot run `docker {}`: {e}; these tests need the docker CLI and a running engine",
            args.join(" ")
        ),
    }
}

/// Runs `docker ARGS`, panics unless it succeeds, and returns its trimmed stdout.
pub fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "`docker {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Panics unless the Docker engine answers.
pub fn require_engine() {
    let out = docker(&["info", "--format", "{{.ServerVersion}}"]);
    assert!(
        out.status.success(),
        "the Docker engine does not answer (`docker info` failed: {}); start dockerd — .ci/run does",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds [`BUSYBOX_IMAGE`] from `/bin/busybox` unless it exists, and returns its name.
pub fn busybox_image() -> &'static str {
    require_engine();
    if docker(&["image", "inspect", BUSYBOX_IMAGE])
        .status
        .success()
    {
        return BUSYBOX_IMAGE;
    }
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.is_file(),
        "/bin/busybox is missing: install Debian's busybox-static (.ci/run does)"
    );
    let dir = std::env::temp_dir().join(format!("holdfast-busybox-build-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(busybox, dir.join("busybox")).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nCMD [\"sh\"]\n",
    )
    .unwrap();
    let out = docker(&["build", "-q", "-t", BUSYBOX_IMAGE, dir.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    // Two test processes may build at once; either build is fine.
    assert!(
        out.status.success()
            || docker(&["image", "inspect", BUSYBOX_IMAGE])
                .status
                .success(),
        "building {BUSYBOX_IMAGE} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    BUSYBOX_IMAGE
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes. Returns how long
/// it took, or `None` on timeout.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if condition() {
            return Some(start.elapsed());
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// One test's project: a unique name, a folder for its desired-state file, and cleanup
/// of every container, network and volume labelled with the project when dropped.
#[derive(Debug)]
pub struct TestProject {
    /// The project name (also the `name:` to write in the file).
    pub name: String,
    /// The folder that holds the desired-state file.
    pub dir: PathBuf,
}

impl TestProject {
    /// A fresh project for the test `test` (a short name).
    pub fn new(test: &str) -> Self {
        require_engine();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let clean: String = test
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let name = format!("hft-{clean}-{}-{n}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        TestProject { name, dir }
    }

    /// Writes `holdfast.yaml` (after replacing `{{project}}` and `{{image}}`) and returns its path.
    pub fn write(&self, yaml: &str) -> PathBuf {
        let path = self.dir.join("holdfast.yaml");
        let text = yaml
            .replace("{{project}}", &self.name)
            .replace("{{image}}", BUSYBOX_IMAGE);
        // Write then rename, as editors do, so a watcher never reads half a file.
        let tmp = self.dir.join(".holdfast.yaml.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        path
    }

    /// Writes a file next to the desired-state file.
    pub fn write_file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// The filter that selects this project's objects.
    pub fn filter(&self) -> String {
        format!("label={PROJECT_LABEL}={}", self.name)
    }

    /// IDs of this project's containers, running or not.
    pub fn container_ids(&self) -> Vec<String> {
        let out = docker_ok(&["ps", "-aq", "--no-trunc", "--filter", &self.filter()]);
        out.lines().map(str::to_string).collect()
    }

    /// The ID of the container of `service`, if there is exactly one.
    pub fn container_of(&self, service: &str) -> Option<String> {
        let filter = format!("label=io.holdfast.service={service}");
        let out = docker_ok(&[
            "ps",
            "-aq",
            "--no-trunc",
            "--filter",
            &self.filter(),
            "--filter",
            &filter,
        ]);
        let ids: Vec<&str> = out.lines().collect();
        match ids.as_slice() {
            [one] => Some(one.to_string()),
            _ => None,
        }
    }

    /// `docker inspect` of the container of `service`, as JSON.
    pub fn inspect(&self, service: &str) -> Option<serde_json::Value> {
        let id = self.container_of(service)?;
        let out = docker(&["inspect", &id]);
        if !out.status.success() {
            return None;
        }
        let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        Some(v.get_mut(0)?.take())
    }

    /// Whether `service` has one container, running, and healthy if it has a health check.
    pub fn is_ready(&self, service: &str) -> bool {
        let Some(c) = self.inspect(service) else {
            return false;
        };
        let state = &c["State"];
        state["Running"] == true
            && match state.get("Health") {
                Some(h) if !h.is_null() => h["Status"] == "healthy",
                _ => true,
            }
    }
}

impl Drop for TestProject {
    fn drop(&mut self) {
        let filter = self.filter();
        let ids = docker(&["ps", "-aq", "--filter", &filter]);
        let ids: Vec<String> = String::from_utf8_lossy(&ids.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(ids.iter().map(String::as_str));
            let _ = docker(&args);
        }
        for kind in ["network", "volume"] {
            let out = docker(&[kind, "ls", "-q", "--filter", &filter]);
            for id in String::from_utf8_lossy(&out.stdout).lines() {
                let _ = docker(&[kind, "rm", id]);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
