//! Pebble, Let's Encrypt's test ACME server (Debian's `pebble`), on loopback ports, with
//! `PEBBLE_VA_ALWAYS_VALID=1`: every challenge passes, so nothing has to reach the proxy.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::web::{free_port, self_signed};
use crate::{Daemon, wait_until};

/// One running Pebble. Killed when dropped.
pub struct Pebble {
    /// The process.
    pub daemon: Daemon,
    /// The ACME directory URL.
    pub directory: String,
    /// The PEM file that Pebble's own HTTPS certificate chains to (an ACME client's
    /// trusted root).
    pub tls_root: PathBuf,
    management: u16,
}

impl Pebble {
    /// Starts Pebble in `dir`.
    pub fn start(dir: &Path) -> Pebble {
        std::fs::create_dir_all(dir).unwrap();
        let (cert, key) = self_signed(dir, "pebble", &["IP:127.0.0.1", "DNS:localhost"]);
        let (listen, management) = (free_port(), free_port());
        let config = dir.join("pebble.json");
        std::fs::write(
            &config,
            format!(
                r#"{{"pebble":{{"listenAddress":"127.0.0.1:{listen}","managementListenAddress":"127.0.0.1:{management}","certificate":"{}","privateKey":"{}","httpPort":{},"tlsPort":{},"ocspResponderURL":"","externalAccountBindingRequired":false}}}}"#,
                cert.display(),
                key.display(),
                free_port(),
                free_port()
            ),
        )
        .unwrap();
        let mut cmd = Command::new("pebble");
        cmd.arg("-config")
            .arg(&config)
            .env("PEBBLE_VA_ALWAYS_VALID", "1")
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0");
        let daemon = Daemon::spawn(cmd, dir.join("pebble.log"));
        let up = wait_until(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", listen)).is_ok()
        });
        assert!(
            up.is_some(),
            "pebble did not start (apt-get install pebble):\n{}",
            daemon.log()
        );
        Pebble {
            daemon,
            directory: format!("https://127.0.0.1:{listen}/dir"),
            tls_root: cert,
            management,
        }
    }

    /// The root Pebble issues certificates under (it is new on every start), written
    /// to `path`.
    pub fn issuing_root(&self, path: &Path) -> PathBuf {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10", "--cacert"])
            .arg(&self.tls_root)
            .arg(format!("https://127.0.0.1:{}/roots/0", self.management))
            .output()
            .expect("run curl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(path, &out.stdout).unwrap();
        path.to_path_buf()
    }
}
