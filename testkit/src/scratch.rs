//! What the servers in [`crate::git`] and [`crate::sshd`] share: temporary folders
//! that remove themselves and free ports on loopback.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::SystemTime;

static DIR_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh folder under the system's temporary folder, removed with everything in it
/// when dropped.
#[derive(Debug)]
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    /// A new folder `holdfast-KIND-PID-N-NANOS`, unique within and across processes.
    pub(crate) fn new(kind: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let n = DIR_COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!(
            "holdfast-{kind}-{}-{n}-{nanos:09}",
            std::process::id()
        ));
        std::fs::create_dir(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir(path)
    }

    /// The folder.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The ports [`free_port`] hands out: below Linux's ephemeral range (32768–60999), so a
/// port the system gives to a client socket or to `bind(0)` (backends, Docker's
/// `127.0.0.1::PORT`) never takes one a test was promised between `free_port` and the
/// moment its server binds it; and below holdfast's routed ports (20000–29999).
const TEST_PORTS: std::ops::Range<u16> = 10_000..20_000;

/// A loopback port nothing listens on right now, never the same twice in one process.
///
/// Tests in other processes pick from the same range at random offsets, so two picking
/// one port at once is unlikely, unlike `bind(0)`, which hands a just-released port
/// straight back.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let span = u32::from(TEST_PORTS.end - TEST_PORTS.start);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let seed = nanos ^ std::process::id().wrapping_mul(2_654_435_761);
    for i in 0..span {
        // A stride coprime with the span visits every port once.
        let offset = (seed.wrapping_add(i.wrapping_mul(7_919))) % span;
        let port = TEST_PORTS.start + offset as u16;
        if given.contains(&port) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.push(port);
            return port;
        }
    }
    panic!("no free port on 127.0.0.1 in {TEST_PORTS:?}")
}
