//! An nginx of the test's own: its own prefix, configuration, pid file, error log and
//! temporary paths in a temporary folder, listening only where holdfast's rendered
//! files tell it to (loopback ports the test chose).
//!
//! The main file loads the headers-more module and includes [`TestNginx::include_dir`]
//! inside `http {}`, as a user's nginx.conf would. Nothing listens until holdfast
//! writes its files there and reloads. [`TestNginx::start`] panics when nginx is
//! missing or does not start: a test of the nginx engine never skips.
//!
//! Dropping it stops nginx (SIGTERM, then SIGKILL for the master and its workers) and
//! removes the folder.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::scratch::TempDir;
use crate::web::free_port;
use crate::{Daemon, wait_until};

/// The nginx binary: `$HOLDFAST_NGINX`, else Debian's `/usr/sbin/nginx`.
pub fn binary() -> PathBuf {
    std::env::var_os("HOLDFAST_NGINX")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/nginx"))
}

/// The headers-more module (Debian's libnginx-mod-http-headers-more-filter).
pub const HEADERS_MORE: &str = "/usr/lib/nginx/modules/ngx_http_headers_more_filter_module.so";

/// Worker processes of a test nginx.
pub const WORKERS: usize = 2;

/// How long nginx may take to start or stop.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A running test nginx (see the module's documentation).
#[derive(Debug)]
pub struct TestNginx {
    /// The port `listen.http` should use (`127.0.0.1:PORT`).
    pub http_port: u16,
    /// The port `listen.https` should use.
    pub https_port: u16,
    /// The prefix (`-p`) and the folder of everything else.
    pub root: PathBuf,
    /// The main configuration file (`-c`).
    pub conf: PathBuf,
    /// The include directory for holdfast, empty at the start.
    pub include_dir: PathBuf,
    daemon: Option<Daemon>,
    _temp: TempDir,
}

impl TestNginx {
    /// Writes the configuration, starts nginx and waits for its workers.
    pub fn start() -> TestNginx {
        let temp = TempDir::new("nginx");
        let root = temp.path().to_path_buf();
        let include_dir = root.join("holdfast");
        std::fs::create_dir_all(&include_dir).unwrap();
        std::fs::create_dir_all(root.join("tmp")).unwrap();
        let conf = root.join("nginx.conf");
        let r = root.display();
        std::fs::write(
            &conf,
            format!(
                "load_module {HEADERS_MORE};\n\
                 daemon off;\n\
                 master_process on;\n\
                 user root;\n\
                 worker_processes {WORKERS};\n\
                 pid {r}/nginx.pid;\n\
                 error_log {r}/error.log;\n\
                 events {{\n    worker_connections 512;\n}}\n\
                 http {{\n\
                 \x20   access_log off;\n\
                 \x20   client_body_temp_path {r}/tmp/body;\n\
                 \x20   proxy_temp_path {r}/tmp/proxy;\n\
                 \x20   fastcgi_temp_path {r}/tmp/fastcgi;\n\
                 \x20   uwsgi_temp_path {r}/tmp/uwsgi;\n\
                 \x20   scgi_temp_path {r}/tmp/scgi;\n\
                 \x20   include {}/*.conf;\n\
                 }}\n",
                include_dir.display()
            ),
        )
        .unwrap();
        let mut nginx = TestNginx {
            http_port: free_port(),
            https_port: free_port(),
            root,
            conf,
            include_dir,
            daemon: None,
            _temp: temp,
        };
        nginx.start_again();
        nginx
    }

    /// Starts nginx (again) on the files as they are, and waits until its master
    /// wrote its pid file and its workers run. Panics with the logs otherwise.
    pub fn start_again(&mut self) {
        assert!(self.daemon.is_none(), "nginx runs already");
        let bin = binary();
        assert!(
            bin.is_file(),
            "{} is missing: these tests need nginx (apt-get install nginx \
             libnginx-mod-http-headers-more-filter) or HOLDFAST_NGINX",
            bin.display()
        );
        let _ = std::fs::remove_file(self.pid_file());
        let mut cmd = Command::new(&bin);
        cmd.arg("-p").arg(&self.root).arg("-c").arg(&self.conf);
        let mut daemon = Daemon::spawn(cmd, self.root.join("stdout.log"));
        let pid = daemon.pid();
        let started = wait_until(TIMEOUT, || {
            daemon.try_wait().is_some()
                || (std::fs::read_to_string(self.pid_file())
                    .is_ok_and(|p| p.trim() == pid.to_string())
                    && children(pid).len() == WORKERS)
        });
        if started.is_none() || daemon.try_wait().is_some() {
            panic!(
                "nginx did not start within {TIMEOUT:?}: {}\nerror log:\n{}",
                daemon.log(),
                self.error_log()
            );
        }
        self.daemon = Some(daemon);
    }

    /// Stops nginx (SIGTERM) and waits for the master and its workers to exit.
    pub fn stop(&mut self) {
        let Some(mut daemon) = self.daemon.take() else {
            return;
        };
        let workers = children(daemon.pid());
        daemon.terminate(TIMEOUT);
        assert!(
            wait_until(TIMEOUT, || workers.iter().all(|w| !alive(*w))).is_some(),
            "nginx workers {workers:?} outlived their master"
        );
    }

    /// `127.0.0.1:HTTP_PORT`, for `listen.http`.
    pub fn http(&self) -> String {
        format!("127.0.0.1:{}", self.http_port)
    }

    /// `127.0.0.1:HTTPS_PORT`, for `listen.https`.
    pub fn https(&self) -> String {
        format!("127.0.0.1:{}", self.https_port)
    }

    /// The binary nginx runs from.
    pub fn binary(&self) -> PathBuf {
        binary()
    }

    /// The master's process ID.
    pub fn master_pid(&self) -> u32 {
        self.daemon.as_ref().expect("nginx is not running").pid()
    }

    /// The master's children now (workers, and old workers still finishing after a
    /// reload), sorted.
    pub fn worker_pids(&self) -> Vec<u32> {
        children(self.master_pid())
    }

    /// The workers once exactly [`WORKERS`] of them run (old ones gone after a
    /// reload); panics after 10 s.
    pub fn settled_workers(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        let settled = wait_until(TIMEOUT, || {
            pids = self.worker_pids();
            pids.len() == WORKERS
        });
        assert!(settled.is_some(), "nginx workers did not settle: {pids:?}");
        pids
    }

    /// The error log so far.
    pub fn error_log(&self) -> String {
        std::fs::read(self.root.join("error.log"))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    fn pid_file(&self) -> PathBuf {
        self.root.join("nginx.pid")
    }
}

impl Drop for TestNginx {
    fn drop(&mut self) {
        let Some(mut daemon) = self.daemon.take() else {
            return;
        };
        let pid = daemon.pid();
        let workers = children(pid);
        if daemon.try_wait().is_none() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .output();
            wait_until(TIMEOUT, || daemon.try_wait().is_some());
        }
        for w in workers.into_iter().filter(|w| alive(*w)) {
            let _ = Command::new("kill")
                .args(["-KILL", &w.to_string()])
                .output();
        }
        // Dropping the daemon kills the master if it still runs.
        drop(daemon);
    }
}

/// The children of process `pid`, sorted (from /proc: each process's parent).
fn children(pid: u32) -> Vec<u32> {
    let mut out: Vec<u32> = std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .filter(|p| parent(*p) == Some(pid))
                .collect()
        })
        .unwrap_or_default();
    out.sort_unstable();
    out
}

/// The parent of `pid`, from `/proc/PID/stat` (after the parenthesised name: state,
/// then the parent).
fn parent(pid: u32) -> Option<u32> {
    let stat =
        std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    if state == "Z" {
        return None;
    }
    fields.next()?.parse().ok()
}

fn alive(pid: u32) -> bool {
    parent(pid).is_some()
}
