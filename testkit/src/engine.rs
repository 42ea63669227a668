//! A second Docker engine that a test starts, stops and starts again itself, so that
//! the machine's own engine is never restarted.
//!
//! [`SecondEngine::start`] runs `dockerd` with a data root, exec root, pid file and
//! socket of its own in a temporary folder, its own configuration file (so the
//! machine's `/etc/docker/daemon.json` is not read), `--iptables=false
//! --ip6tables=false --ip-forward=false --ip-masq=false --bridge=none
//! --userland-proxy=false`, and the `vfs` storage driver (nothing to mount). It runs
//! in a network namespace of its own (`unshare --net`): with `--bridge=none` dockerd
//! deletes any interface named `docker0` it finds, which in the machine's namespace
//! would be the machine engine's bridge. In its namespace, user-defined bridge
//! networks work and touch nothing outside; nothing it runs can reach any network.
//!
//! The busybox test image is built inside it ([`SecondEngine::busybox_image`]).
//! [`SecondEngine::stop`] sends SIGTERM and waits for dockerd to exit;
//! [`SecondEngine::start_again`] starts it on the same folders. Dropping it removes
//! its containers, stops it and removes its folder.
//!
//! Needs root (dockerd), `unshare` (util-linux) and the Docker CLI.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::scratch::TempDir;
use crate::{BUSYBOX_IMAGE, Daemon, wait_until};

/// How long dockerd may take to answer after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long dockerd may take to exit after SIGTERM (it stops its containers first).
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// A dockerd of the test's own (see the module's documentation).
#[derive(Debug)]
pub struct SecondEngine {
    daemon: Option<Daemon>,
    dir: PathBuf,
    _temp: TempDir,
}

impl SecondEngine {
    /// Starts the engine and waits until it answers. Panics with its log otherwise.
    pub fn start() -> SecondEngine {
        crate::require_engine();
        // Short paths: containerd's socket lives under the exec root, and unix socket
        // paths are limited to 108 bytes.
        let temp = TempDir::new("eng");
        let dir = temp.path().to_path_buf();
        for sub in ["data", "exec"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        std::fs::write(dir.join("daemon.json"), "{}\n").unwrap();
        let mut engine = SecondEngine {
            daemon: None,
            dir,
            _temp: temp,
        };
        engine.start_again();
        engine
    }

    /// The engine's socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("d.sock")
    }

    /// `unix://SOCKET`, for `DOCKER_HOST` or `docker -H`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// dockerd's log so far (of every start).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
    }

    /// Whether dockerd is running.
    pub fn is_running(&mut self) -> bool {
        self.daemon.as_mut().is_some_and(|d| d.try_wait().is_none())
    }

    /// Runs `docker -H HOST ARGS` against this engine.
    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .arg("-H")
            .arg(self.host())
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run docker: {e}"))
    }

    /// Runs `docker -H HOST ARGS`, panics unless it succeeds, and returns its trimmed
    /// stdout.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "`docker -H {} {}` failed: {}",
            self.host(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Whether the engine answers an API call now.
    pub fn answers(&self) -> bool {
        self.docker(&["version", "--format", "{{.Server.Version}}"])
            .status
            .success()
    }

    /// Starts dockerd (again, on the same folders) and waits until it answers; returns
    /// when it first answered. Panics with its log when it does not within a minute.
    pub fn start_again(&mut self) -> Instant {
        assert!(!self.is_running(), "the second engine is already running");
        let _ = std::fs::remove_file(self.socket());
        let mut cmd = Command::new("unshare");
        cmd.arg("--net")
            .arg("dockerd")
            .arg("--config-file")
            .arg(self.dir.join("daemon.json"))
            .arg("--data-root")
            .arg(self.dir.join("data"))
            .arg("--exec-root")
            .arg(self.dir.join("exec"))
            .arg("--pidfile")
            .arg(self.dir.join("dockerd.pid"))
            .arg("-H")
            .arg(self.host())
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--bridge=none",
                "--userland-proxy=false",
                "--storage-driver=vfs",
                "--shutdown-timeout=10",
            ]);
        let mut daemon = Daemon::spawn(cmd, self.dir.join("dockerd.log"));
        let answered = wait_until(START_TIMEOUT, || {
            daemon.try_wait().is_some() || self.answers()
        });
        if let Some(status) = daemon.try_wait() {
            panic!(
                "the second dockerd exited with {status} at start; its log:\n{}",
                self.log()
            );
        }
        assert!(
            answered.is_some(),
            "the second dockerd did not answer within {START_TIMEOUT:?}; its log:\n{}",
            self.log()
        );
        self.daemon = Some(daemon);
        Instant::now()
    }

    /// Stops dockerd with SIGTERM (it stops its containers, as at a shutdown of the
    /// machine) and waits for it to exit. Panics when it does not within a minute.
    pub fn stop(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            let status = daemon.terminate(STOP_TIMEOUT);
            assert!(
                status.success() || status.code().is_none(),
                "the second dockerd exited with {status}; its log:\n{}",
                self.log()
            );
        }
    }

    /// Builds [`BUSYBOX_IMAGE`] inside this engine unless it is there, and returns its
    /// name.
    pub fn busybox_image(&self) -> &'static str {
        crate::build_busybox(&|args| self.docker(args));
        BUSYBOX_IMAGE
    }
}

impl Drop for SecondEngine {
    fn drop(&mut self) {
        if self.is_running() {
            crate::remove_containers(&|args| self.docker(args), None);
        }
        if let Some(mut daemon) = self.daemon.take()
            && daemon.try_wait().is_none()
        {
            daemon.signal("TERM");
            if wait_until(STOP_TIMEOUT, || daemon.try_wait().is_some()).is_none() {
                eprintln!("the second dockerd did not stop; killing it");
            }
        }
        if std::thread::panicking() {
            eprintln!("--- log of the second dockerd ---\n{}", self.log());
        }
    }
}
