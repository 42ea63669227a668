//! An OpenSSH server on loopback, for tests of code that fetches over `ssh://` with a
//! deploy key.
//!
//! [`Sshd`] runs the system's `/usr/sbin/sshd` in the foreground with a configuration
//! of its own in a temporary folder: its own host key, public-key authentication only,
//! one authorized key (the deploy key, see [`Sshd::deploy_key`]) and only the current
//! user allowed in. It never reads `/etc/ssh/sshd_config` or anyone's
//! `~/.ssh/authorized_keys`. Tests get a matching known_hosts file, a known_hosts file
//! with another key for the same host, a key that is not authorized, and `ssh://` URLs
//! of local repositories (such as a [`crate::git::Remote`]'s bare repository).
//!
//! Needs Debian's `openssh-server` and `openssh-client`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::scratch::{TempDir, free_port};
use crate::{Daemon, output_within, wait_until};

/// The server program.
const SSHD: &str = "/usr/sbin/sshd";

/// The client programs.
const SSH: &str = "/usr/bin/ssh";
const SSH_KEYGEN: &str = "/usr/bin/ssh-keygen";
const SSH_KEYSCAN: &str = "/usr/bin/ssh-keyscan";

/// sshd's privilege-separation folder, which it refuses to start without.
const PRIVSEP_DIR: &str = "/run/sshd";

/// How long the server may take to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// How long one helper command (`ssh-keygen`, `ssh-keyscan`, `ssh`) may run.
const TOOL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the server and its connection processes may take to go away when dropped.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// `sshd -D -e` on `127.0.0.1:PORT` with a configuration of its own (see the module's
/// documentation). Its log (`LogLevel VERBOSE`: connections, accepted and refused keys)
/// is kept and printed when the test fails. Dropping it kills the server and every
/// connection process it started, and waits until they are gone.
#[derive(Debug)]
pub struct Sshd {
    daemon: Option<Daemon>,
    port: u16,
    user: String,
    dir: PathBuf,
    _temp: TempDir,
}

impl Sshd {
    /// Generates the keys and the configuration, starts sshd on a free port (trying
    /// another one when it cannot bind), waits until `ssh-keyscan` returns its host key,
    /// and checks that the deploy key logs in. Panics with sshd's log otherwise.
    pub fn start() -> Sshd {
        for tool in [SSHD, SSH, SSH_KEYGEN, SSH_KEYSCAN] {
            assert!(
                Path::new(tool).is_file(),
                "{tool} is missing: install Debian's openssh-server and openssh-client (.ci/run does)"
            );
        }
        ensure_privsep_dir();
        let temp = TempDir::new("sshd");
        let dir = temp.path().to_path_buf();
        for name in ["host_key", "deploy_key", "other_host_key", "stranger_key"] {
            keygen(&dir.join(name));
        }
        std::fs::copy(dir.join("deploy_key.pub"), dir.join("authorized_keys")).unwrap();
        let user = current_user();
        let config = dir.join("sshd_config");
        std::fs::write(&config, config_text(&dir, &user)).unwrap();
        let host_key = public_key(&dir.join("host_key.pub"));

        let mut failures = Vec::new();
        for attempt in 0..5 {
            let port = free_port();
            let log = dir.join(format!("sshd-{attempt}.log"));
            let mut cmd = Command::new(SSHD);
            cmd.arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(&config)
                .arg("-p")
                .arg(port.to_string());
            let mut daemon = Daemon::spawn(cmd, log);
            let mut scanned = String::new();
            let ready = wait_until(START_TIMEOUT, || {
                if daemon.try_wait().is_some() {
                    return true;
                }
                scanned = keyscan(port);
                scanned
                    .lines()
                    .any(|l| l.split_whitespace().skip(1).eq(host_key.split_whitespace()))
            });
            match (ready, daemon.try_wait()) {
                (Some(_), None) => {
                    let sshd = Sshd {
                        daemon: Some(daemon),
                        port,
                        user,
                        dir,
                        _temp: temp,
                    };
                    sshd.check_login();
                    return sshd;
                }
                (_, Some(status)) => {
                    // Most likely another process took the port in between.
                    failures.push(format!(
                        "port {port}: sshd exited with {status}:\n{}",
                        daemon.log()
                    ));
                }
                (None, None) => {
                    let pid = daemon.pid();
                    let log = daemon.log();
                    stop_tree(daemon);
                    panic!(
                        "sshd (process {pid}) on port {port} did not show its host key to ssh-keyscan within {START_TIMEOUT:?}; ssh-keyscan printed:\n{scanned}\nsshd's log:\n{log}"
                    );
                }
            }
        }
        panic!("sshd did not start:\n{}", failures.join("\n"));
    }

    /// The port sshd listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The only user allowed to log in (the user the tests run as, usually `root`).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The process ID of the listening sshd.
    pub fn pid(&self) -> u32 {
        self.daemon().pid()
    }

    /// What sshd logged so far (`LogLevel VERBOSE`), such as
    /// `Accepted publickey for root from 127.0.0.1 ...`.
    pub fn log(&self) -> String {
        self.daemon().log()
    }

    /// The private key (ed25519, no passphrase, mode 0600) whose public key is the
    /// only authorized key.
    pub fn deploy_key(&self) -> PathBuf {
        self.dir.join("deploy_key")
    }

    /// A private key (ed25519, no passphrase, mode 0600) that is not authorized.
    pub fn unauthorized_key(&self) -> PathBuf {
        self.dir.join("stranger_key")
    }

    /// A known_hosts file with the server's host key for `[127.0.0.1]:PORT`.
    pub fn known_hosts(&self) -> PathBuf {
        self.known_hosts_file("known_hosts", "host_key.pub")
    }

    /// A known_hosts file with another key (not the server's) for `[127.0.0.1]:PORT`,
    /// as if the server had been replaced or the connection intercepted.
    pub fn wrong_known_hosts(&self) -> PathBuf {
        self.known_hosts_file("wrong_known_hosts", "other_host_key.pub")
    }

    /// The `ssh://USER@127.0.0.1:PORT/PATH` URL of the repository at `repo` (such as
    /// [`crate::git::Remote::bare_path`]), which must be an absolute path.
    pub fn url(&self, repo: &Path) -> String {
        assert!(
            repo.is_absolute(),
            "{} is not an absolute path",
            repo.display()
        );
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            repo.display()
        )
    }

    fn daemon(&self) -> &Daemon {
        self.daemon.as_ref().expect("sshd is running until dropped")
    }

    /// Writes `name` with the line `[127.0.0.1]:PORT TYPE KEY` for the public key `key`.
    fn known_hosts_file(&self, name: &str, key: &str) -> PathBuf {
        let path = self.dir.join(name);
        let line = format!(
            "[127.0.0.1]:{} {}\n",
            self.port,
            public_key(&self.dir.join(key))
        );
        std::fs::write(&path, line).unwrap();
        path
    }

    /// Logs in with the deploy key and checks that git's `git-upload-pack` is on the
    /// session's `PATH`, so that a broken environment fails here, with sshd's log,
    /// rather than as a mysterious fetch error in the test.
    fn check_login(&self) {
        let mut cmd = Command::new(SSH);
        cmd.args([
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
        ])
        .arg("-i")
        .arg(self.deploy_key())
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            self.known_hosts().display()
        ))
        .args(["-o", "StrictHostKeyChecking=yes", "-p"])
        .arg(self.port.to_string())
        .arg(format!("{}@127.0.0.1", self.user))
        .arg("command -v git-upload-pack");
        let out = output_within(&mut cmd, TOOL_TIMEOUT);
        assert!(
            out.status.success(),
            "logging in to sshd on port {} with the deploy key failed ({}): {}{}\nsshd's log:\n{}",
            self.port,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim(),
            self.log()
        );
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        if let Some(daemon) = self.daemon.take() {
            if std::thread::panicking() {
                eprintln!(
                    "--- sshd on 127.0.0.1:{} is process {}; its log follows ---",
                    self.port,
                    daemon.pid()
                );
            }
            stop_tree(daemon);
        }
    }
}

/// Kills `daemon` and every process it started (sshd forks one per connection, and
/// those outlive the listener): the tree is frozen with SIGSTOP first so that nothing
/// forks or accepts in between, then killed with SIGKILL. Waits until all are gone.
fn stop_tree(mut daemon: Daemon) {
    let root = daemon.pid();
    let mut frozen: BTreeSet<u32> = BTreeSet::new();
    if daemon.try_wait().is_none() {
        signal("STOP", &[root]);
        frozen.insert(root);
        // Freeze new descendants until a pass finds none: frozen processes cannot fork.
        for _ in 0..100 {
            let fresh: Vec<u32> = descendants(root)
                .into_iter()
                .filter(|p| !frozen.contains(p))
                .collect();
            if fresh.is_empty() {
                break;
            }
            signal("STOP", &fresh);
            frozen.extend(fresh);
        }
        let all: Vec<u32> = frozen.iter().copied().collect();
        signal("KILL", &all);
    }
    let gone = wait_until(STOP_TIMEOUT, || {
        daemon.try_wait().is_some() && frozen.iter().all(|p| *p == root || !alive(*p))
    });
    if gone.is_none() {
        eprintln!(
            "sshd (process {root}) or one of its connection processes {frozen:?} was still running {STOP_TIMEOUT:?} after SIGKILL"
        );
    }
    // Dropping the daemon prints its log when the test is failing.
    drop(daemon);
}

/// Sends `kill -NAME PIDS...`, ignoring failures (a process may be gone already).
fn signal(name: &str, pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .args(pids.iter().map(u32::to_string))
        .output();
}

/// The parent process ID and state of process `pid`, from `/proc/PID/stat`.
fn stat(pid: u32) -> Option<(u32, char)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `PID (COMM) STATE PPID ...`; COMM may contain spaces and parentheses.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((ppid, state))
}

/// Whether `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    stat(pid).is_some_and(|(_, state)| state != 'Z' && state != 'X')
}

/// Every process below `root` in the process tree.
fn descendants(root: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let parents: Vec<(u32, u32)> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, stat(pid)?.0)))
        .collect();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, ppid)| *ppid == parent)
                .map(|(pid, _)| *pid),
        );
        i += 1;
    }
    found.remove(0);
    found
}

/// Creates sshd's privilege-separation folder if it is missing (it lives on `/run`,
/// which a container or a reboot empties).
fn ensure_privsep_dir() {
    let dir = Path::new(PRIVSEP_DIR);
    if !dir.is_dir() {
        // Another test may create it at the same time; either is fine.
        let _ = std::fs::create_dir_all(dir);
        assert!(
            dir.is_dir(),
            "cannot create {PRIVSEP_DIR}, which sshd needs (run the tests as root)"
        );
    }
}

/// The name of the user the tests run as.
fn current_user() -> String {
    let out = output_within(Command::new("id").arg("-un"), TOOL_TIMEOUT);
    assert!(
        out.status.success(),
        "`id -un` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// sshd's whole configuration: nothing comes from `/etc/ssh`.
fn config_text(dir: &Path, user: &str) -> String {
    let d = dir.display();
    format!(
        "# Written by holdfast-testkit for one test.
ListenAddress 127.0.0.1
HostKey {d}/host_key
PidFile {d}/sshd.pid
AuthorizedKeysFile {d}/authorized_keys
AllowUsers {user}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthenticationMethods publickey
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
GSSAPIAuthentication no
PermitEmptyPasswords no
StrictModes no
UsePAM no
UseDNS no
PrintMotd no
PrintLastLog no
PermitUserEnvironment no
PermitTTY no
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
AllowStreamLocalForwarding no
PermitTunnel no
LogLevel VERBOSE
LoginGraceTime 30
MaxStartups 100
"
    )
}

/// `ssh-keygen -t ed25519 -N '' -f PATH`: a private key at `path`, its public key at
/// `path.pub`.
fn keygen(path: &Path) {
    let mut cmd = Command::new(SSH_KEYGEN);
    cmd.args(["-q", "-t", "ed25519", "-N", "", "-C"])
        .arg(format!(
            "holdfast-testkit-{}",
            path.file_name().unwrap().to_string_lossy()
        ))
        .arg("-f")
        .arg(path);
    let out = output_within(&mut cmd, TOOL_TIMEOUT);
    assert!(
        out.status.success(),
        "`ssh-keygen` for {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// `TYPE BASE64` of the public key file `path` (without its comment).
fn public_key(path: &Path) -> String {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let fields: Vec<&str> = text.split_whitespace().take(2).collect();
    assert_eq!(fields.len(), 2, "{} is not a public key", path.display());
    fields.join(" ")
}

/// The ed25519 host key lines `ssh-keyscan` gets from `127.0.0.1:PORT`, if any.
fn keyscan(port: u16) -> String {
    let mut cmd = Command::new(SSH_KEYSCAN);
    cmd.args(["-T", "2", "-t", "ed25519", "-p"])
        .arg(port.to_string())
        .arg("127.0.0.1");
    let out = output_within(&mut cmd, TOOL_TIMEOUT);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::{Remote, git_command};

    /// The deploy key clones over ssh://; the wrong known_hosts and the unauthorized
    /// key are refused; dropping the server leaves no process behind.
    #[test]
    fn sshd_serves_a_remote_to_the_deploy_key_only() {
        let remote = Remote::new("main");
        let commit = remote.commit(&[("a.txt", "a\n")], "a", ("T", "t@example.com"));
        let sshd = Sshd::start();
        let url = sshd.url(remote.bare_path());
        assert!(url.starts_with(&format!("ssh://{}@127.0.0.1:", sshd.user())));
        let ls_remote = |key: &Path, known_hosts: &Path| {
            let mut cmd = git_command();
            cmd.arg("ls-remote").arg(&url).env(
                "GIT_SSH_COMMAND",
                format!(
                    "ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -i '{}' -o UserKnownHostsFile='{}' -o StrictHostKeyChecking=yes",
                    key.display(),
                    known_hosts.display()
                ),
            );
            output_within(&mut cmd, TOOL_TIMEOUT)
        };
        let ok = ls_remote(&sshd.deploy_key(), &sshd.known_hosts());
        assert!(
            ok.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&ok.stderr),
            sshd.log()
        );
        assert!(String::from_utf8_lossy(&ok.stdout).contains(&commit));

        for (key, known_hosts, reason) in [
            (
                sshd.deploy_key(),
                sshd.wrong_known_hosts(),
                "Host key verification failed",
            ),
            (
                sshd.unauthorized_key(),
                sshd.known_hosts(),
                "Permission denied (publickey)",
            ),
        ] {
            let refused = ls_remote(&key, &known_hosts);
            let stderr = String::from_utf8_lossy(&refused.stderr);
            assert!(!refused.status.success(), "{stderr}");
            assert!(stderr.contains(reason), "{reason:?} is not in:\n{stderr}");
        }

        let pid = sshd.pid();
        drop(sshd);
        assert!(!alive(pid), "sshd {pid} survived the drop");
        assert!(descendants(pid).is_empty());
    }
}
