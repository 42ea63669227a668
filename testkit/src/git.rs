//! Git servers on loopback, for tests of code that fetches from a repository.
//!
//! - [`Remote`] is a bare repository in a temporary folder, with a work clone that
//!   authors commits and pushes them, moves tags, force-pushes and deletes branches.
//! - [`GitDaemon`] serves a [`Remote`] over `git://` with `git daemon`.
//! - [`HttpGitServer`] serves a [`Remote`] over git's smart HTTP protocol, running
//!   `git http-backend` as a CGI program per request, behind HTTP Basic auth, and
//!   records every request so that tests can check what a client sent.
//!
//! Every git command runs with [`git_command`], independent of the user's and the
//! system's git configuration, so the tests behave the same on every machine.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::scratch::{TempDir, free_port};
use crate::{Daemon, output_within, wait_until};

/// How long one git command may run before the test fails.
const GIT_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a server may take to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// The committer of every commit and the tagger of every tag.
const TESTKIT_NAME: &str = "holdfast-testkit";
const TESTKIT_EMAIL: &str = "testkit@holdfast.invalid";

/// The largest request body [`HttpGitServer`] accepts.
const MAX_BODY: usize = 50 << 20;

/// The largest request line plus headers [`HttpGitServer`] accepts.
const MAX_HEAD: usize = 64 << 10;

/// Environment variables that would point git at another repository or
/// configuration, or make it prompt.
const GIT_ENV_TO_CLEAR: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_CEILING_DIRECTORIES",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_PROXY_COMMAND",
    "GIT_TRACE",
    "GIT_TRACE_PACKET",
    "GIT_CURL_VERBOSE",
    "http_proxy",
    "https_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "all_proxy",
];

/// A `git` command independent of the user's and the system's configuration
/// (`GIT_CONFIG_GLOBAL=/dev/null`, `GIT_CONFIG_NOSYSTEM=1`), that never prompts for
/// credentials (`GIT_TERMINAL_PROMPT=0`, no askpass helper), ignores proxies, and
/// authors and commits as the testkit unless the caller overrides
/// `GIT_AUTHOR_*`/`GIT_COMMITTER_*`.
pub fn git_command() -> Command {
    hermetic(Command::new("git"))
}

/// A command running git's helper program `git-NAME` (such as `git-daemon`) directly
/// from git's exec path, configured like [`git_command`]. Running `git NAME` instead
/// would start the helper as a child of `git`, which killing `git` would orphan.
fn git_helper(name: &str) -> Command {
    static EXEC_PATH: OnceLock<PathBuf> = OnceLock::new();
    let exec_path = EXEC_PATH.get_or_init(|| {
        let mut cmd = git_command();
        cmd.arg("--exec-path");
        let out = output_within(&mut cmd, GIT_TIMEOUT);
        assert!(
            out.status.success(),
            "`git --exec-path` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    });
    let program = exec_path.join(format!("git-{name}"));
    assert!(
        program.is_file(),
        "{} is missing: install git (with its `{name}` helper)",
        program.display()
    );
    hermetic(Command::new(program))
}

/// Makes `cmd` independent of the environment's git configuration; see [`git_command`].
fn hermetic(mut cmd: Command) -> Command {
    for var in GIT_ENV_TO_CLEAR {
        cmd.env_remove(var);
    }
    cmd.env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", TESTKIT_NAME)
        .env("GIT_AUTHOR_EMAIL", TESTKIT_EMAIL)
        .env("GIT_COMMITTER_NAME", TESTKIT_NAME)
        .env("GIT_COMMITTER_EMAIL", TESTKIT_EMAIL)
        .env("NO_PROXY", "*")
        .env("no_proxy", "*");
    cmd
}

/// Runs `git ARGS` (a [`git_command`]) in `dir` and returns its output whether it
/// succeeds or not. Panics when git cannot start or runs longer than a minute.
pub fn git_output(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = git_command();
    cmd.current_dir(dir).args(args);
    output_within(&mut cmd, GIT_TIMEOUT)
}

/// Runs `git ARGS` in `dir`, panics with git's stderr unless it succeeds, and returns
/// its trimmed stdout.
pub fn git_ok(dir: &Path, args: &[&str]) -> String {
    let out = git_output(dir, args);
    assert!(
        out.status.success(),
        "`git {}` in {} failed ({}): {}",
        args.join(" "),
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A bare repository in a temporary folder (removed when dropped) that servers
/// publish, plus a work clone that authors commits and pushes them to it.
///
/// The bare repository lives alone in its own parent folder, so a server whose base
/// path is that folder exposes nothing else. Methods take `&self` and may be called
/// from several threads; the work clone is used by one at a time.
#[derive(Debug)]
pub struct Remote {
    dir: TempDir,
    bare: PathBuf,
    work: PathBuf,
    branch: String,
    lock: Mutex<()>,
}

static REPO_COUNTER: AtomicU32 = AtomicU32::new(0);

impl Remote {
    /// An empty bare repository whose default branch (its `HEAD`) is `branch`, and a
    /// work clone with `user.name` and `user.email` set.
    pub fn new(branch: &str) -> Remote {
        let dir = TempDir::new("git");
        let srv = dir.path().join("srv");
        std::fs::create_dir(&srv)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", srv.display()));
        let name = format!(
            "repo-{}-{}.git",
            std::process::id(),
            REPO_COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let bare = srv.join(&name);
        let work = dir.path().join("work");
        let initial = format!("--initial-branch={branch}");
        git_ok(
            dir.path(),
            &["init", "-q", "--bare", &initial, path_str(&bare)],
        );
        git_ok(dir.path(), &["init", "-q", &initial, path_str(&work)]);
        git_ok(&work, &["remote", "add", "origin", path_str(&bare)]);
        git_ok(&work, &["config", "user.name", TESTKIT_NAME]);
        git_ok(&work, &["config", "user.email", TESTKIT_EMAIL]);
        Remote {
            dir,
            bare,
            work,
            branch: branch.to_string(),
            lock: Mutex::new(()),
        }
    }

    /// The default branch, as given to [`Remote::new`].
    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// The bare repository's folder.
    pub fn bare_path(&self) -> &Path {
        &self.bare
    }

    /// The bare repository's folder name (such as `repo-123-0.git`): the path under
    /// which the servers publish it.
    pub fn name(&self) -> &str {
        self.bare
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_else(|| panic!("{} has no UTF-8 file name", self.bare.display()))
    }

    /// The folder that holds the bare repository and nothing else: a server's base path.
    pub fn base_path(&self) -> &Path {
        self.bare
            .parent()
            .unwrap_or_else(|| panic!("{} has no parent folder", self.bare.display()))
    }

    /// A `file://` URL of the bare repository.
    pub fn url_file(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    /// Commits `files` to the default branch and pushes; see [`Remote::commit_on`].
    pub fn commit(&self, files: &[(&str, &str)], message: &str, author: (&str, &str)) -> String {
        self.commit_on(&self.branch, files, message, author)
    }

    /// Writes `files` (`(path, contents)`, paths relative to the repository's root,
    /// folders created as needed) on top of `branch`'s tip on the remote (or of the
    /// default branch's tip when `branch` does not exist there yet), commits everything
    /// with `author` (`(name, email)`) as author and committer, pushes to `branch`, and
    /// returns the full commit ID. Every call makes a new commit, even when no file
    /// changes.
    pub fn commit_on(
        &self,
        branch: &str,
        files: &[(&str, &str)],
        message: &str,
        author: (&str, &str),
    ) -> String {
        let _guard = self.work_lock();
        let work = &self.work;
        git_ok(
            work,
            &["fetch", "-q", "--prune", "--tags", "--force", "origin"],
        );
        let remote_ref = |b: &str| format!("refs/remotes/origin/{b}");
        let has = |r: &str| {
            git_output(
                work,
                &["rev-parse", "--verify", "-q", &format!("{r}^{{commit}}")],
            )
            .status
            .success()
        };
        if has(&remote_ref(branch)) {
            git_ok(
                work,
                &["checkout", "-q", "-f", "-B", branch, &remote_ref(branch)],
            );
        } else if has(&remote_ref(&self.branch)) {
            git_ok(
                work,
                &[
                    "checkout",
                    "-q",
                    "-f",
                    "-B",
                    branch,
                    &remote_ref(&self.branch),
                ],
            );
        } else {
            // Nothing to start from (an empty remote): a new root commit on `branch`.
            git_ok(work, &["checkout", "-q", "-f", "-B", branch]);
        }
        for (path, contents) in files {
            let rel = Path::new(path);
            assert!(
                !path.is_empty()
                    && rel
                        .components()
                        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir)),
                "file path {path:?} must be relative to the repository and stay inside it"
            );
            let full = work.join(rel);
            if let Some(parent) = full.parent() {
                std::fs::create_dir_all(parent)
                    .unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
            }
            std::fs::write(&full, contents)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", full.display()));
        }
        git_ok(work, &["add", "-A"]);
        let mut cmd = git_command();
        cmd.current_dir(work)
            .args([
                "commit",
                "-q",
                "--allow-empty",
                "--no-verify",
                "-m",
                message,
            ])
            .env("GIT_AUTHOR_NAME", author.0)
            .env("GIT_AUTHOR_EMAIL", author.1)
            .env("GIT_COMMITTER_NAME", author.0)
            .env("GIT_COMMITTER_EMAIL", author.1);
        let out = output_within(&mut cmd, GIT_TIMEOUT);
        assert!(
            out.status.success(),
            "`git commit` on {branch} failed: {}{}",
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        );
        let id = git_ok(work, &["rev-parse", "HEAD"]);
        git_ok(
            work,
            &["push", "-q", "origin", &format!("{id}:refs/heads/{branch}")],
        );
        id
    }

    /// Creates (or moves) the lightweight tag `name` to `commit` and pushes it (with
    /// force, so that a test can move a tag).
    pub fn tag(&self, name: &str, commit: &str) {
        let _guard = self.work_lock();
        git_ok(&self.work, &["tag", "-f", name, commit]);
        self.push_forced(&format!("refs/tags/{name}"));
    }

    /// Resets the default branch on the remote to `commit` (usually an older commit),
    /// like `git push --force`. Later commits build on `commit`.
    pub fn force_push(&self, commit: &str) {
        let _guard = self.work_lock();
        self.push_forced(&format!("{commit}:refs/heads/{}", self.branch));
    }

    /// `git push --force origin REFSPEC` from the work clone.
    fn push_forced(&self, refspec: &str) {
        git_ok(&self.work, &["push", "-q", "--force", "origin", refspec]);
    }

    /// Deletes `branch` on the remote.
    pub fn delete_branch(&self, branch: &str) {
        let _guard = self.work_lock();
        git_ok(&self.work, &["push", "-q", "origin", "--delete", branch]);
    }

    /// The full commit ID at the tip of the default branch on the remote. Panics when
    /// the branch has no commit yet.
    pub fn head(&self) -> String {
        self.head_of(&self.branch).unwrap_or_else(|| {
            panic!(
                "branch {} of {} has no commit yet",
                self.branch,
                self.bare.display()
            )
        })
    }

    /// The full commit ID at the tip of `branch` on the remote, or `None` when there
    /// is no such branch.
    pub fn head_of(&self, branch: &str) -> Option<String> {
        let out = git_output(
            &self.bare,
            &[
                "rev-parse",
                "--verify",
                "-q",
                &format!("refs/heads/{branch}^{{commit}}"),
            ],
        );
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// The temporary folder that holds the bare repository and the work clone; tests
    /// may create their own files (such as clones) in it.
    pub fn temp_dir(&self) -> &Path {
        self.dir.path()
    }

    fn work_lock(&self) -> MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str()
        .unwrap_or_else(|| panic!("{} is not UTF-8", path.display()))
}

/// `git daemon` serving one [`Remote`] read-only over `git://127.0.0.1:PORT/`. Killed
/// when dropped; its log is printed when the test fails.
#[derive(Debug)]
pub struct GitDaemon {
    daemon: Daemon,
    port: u16,
    base: PathBuf,
    _log_dir: TempDir,
}

impl GitDaemon {
    /// Starts `git daemon` with the remote's parent folder as its base path, on a free
    /// port (trying another one when the daemon cannot bind it), and waits until
    /// `git ls-remote` through it works.
    pub fn serve(remote: &Remote) -> GitDaemon {
        let base = remote.base_path().to_path_buf();
        let log_dir = TempDir::new("git-daemon");
        let mut failures = Vec::new();
        for attempt in 0..5 {
            let port = free_port();
            let log = log_dir.path().join(format!("daemon-{attempt}.log"));
            let mut cmd = git_helper("daemon");
            cmd.current_dir(&base).args([
                "--reuseaddr",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                &format!("--base-path={}", base.display()),
                "--export-all",
                "--informative-errors",
                path_str(&base),
            ]);
            let mut daemon = Daemon::spawn(cmd, log);
            let url = format!("git://127.0.0.1:{port}/{}", remote.name());
            let ready = wait_until(START_TIMEOUT, || {
                daemon.try_wait().is_some()
                    || (TcpStream::connect(("127.0.0.1", port)).is_ok()
                        && git_output(&base, &["ls-remote", &url]).status.success())
            });
            match (ready, daemon.try_wait()) {
                (Some(_), None) => {
                    return GitDaemon {
                        daemon,
                        port,
                        base,
                        _log_dir: log_dir,
                    };
                }
                (_, Some(status)) => {
                    // Most likely another process took the port in between.
                    failures.push(format!(
                        "port {port}: exited with {status}: {}",
                        daemon.log()
                    ));
                }
                (None, None) => panic!(
                    "git daemon on port {port} did not serve {url} within {START_TIMEOUT:?}; its log:\n{}",
                    daemon.log()
                ),
            }
        }
        panic!("git daemon did not start:\n{}", failures.join("\n"));
    }

    /// The port the daemon listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process ID of the daemon.
    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// The `git://127.0.0.1:PORT/NAME` URL of `remote`, which must be the remote the
    /// daemon serves.
    pub fn url(&self, remote: &Remote) -> String {
        assert_eq!(
            remote.base_path(),
            self.base,
            "this git daemon does not serve {}",
            remote.bare_path().display()
        );
        format!("git://127.0.0.1:{}/{}", self.port, remote.name())
    }
}

/// One HTTP request that [`HttpGitServer`] received, and how it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The method, such as `GET` or `POST`.
    pub method: String,
    /// The request target: path and query, such as `/repo.git/info/refs?service=git-upload-pack`.
    pub target: String,
    /// The headers in the order received, names as the client spelled them.
    pub headers: Vec<(String, String)>,
    /// The status code of the answer, such as 200 or 401.
    pub status: u16,
}

impl RecordedRequest {
    /// The request line, such as `GET /repo.git/info/refs?service=git-upload-pack HTTP/1.1`.
    pub fn request_line(&self) -> String {
        format!("{} {} HTTP/1.1", self.method, self.target)
    }

    /// The value of the first header named `name` (compared without regard to case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the accept thread and the connection threads share.
#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    requests: Mutex<Vec<RecordedRequest>>,
    connections: Mutex<Vec<(TcpStream, JoinHandle<()>)>>,
}

impl Shared {
    fn requests(&self) -> MutexGuard<'_, Vec<RecordedRequest>> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn connections(&self) -> MutexGuard<'_, Vec<(TcpStream, JoinHandle<()>)>> {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// How connection threads answer.
#[derive(Debug)]
struct Config {
    project_root: PathBuf,
    username: String,
    /// `BASE64(username:token)`, as in `Authorization: Basic ...`.
    credentials: String,
}

/// Git's smart HTTP protocol on `http://127.0.0.1:PORT/`, serving one [`Remote`]
/// through `git http-backend` (run as a CGI program for each request) behind HTTP
/// Basic auth. Each connection is handled on its own thread and closed after one
/// response. Every request is recorded (see [`HttpGitServer::recorded`]). Dropping the
/// server closes its listener and connections and joins its threads.
///
/// Pushes work too: `git http-backend` enables `receive-pack` for authenticated users.
#[derive(Debug)]
pub struct HttpGitServer {
    addr: SocketAddr,
    base: PathBuf,
    config: Arc<Config>,
    token: String,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl HttpGitServer {
    /// Serves `remote` (with its parent folder as `GIT_PROJECT_ROOT`) to clients that
    /// authenticate with HTTP Basic auth as `username` with password `token`; any other
    /// request gets `401` with `WWW-Authenticate: Basic realm="git"`.
    pub fn serve(remote: &Remote, username: &str, token: &str) -> HttpGitServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("cannot bind a port on 127.0.0.1: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("cannot read a bound address: {e}"));
        let config = Arc::new(Config {
            project_root: remote.base_path().to_path_buf(),
            username: username.to_string(),
            credentials: base64(format!("{username}:{token}").as_bytes()),
        });
        let shared = Arc::new(Shared::default());
        let accept = {
            let (config, shared) = (Arc::clone(&config), Arc::clone(&shared));
            std::thread::Builder::new()
                .name(format!("http-git-{}", addr.port()))
                .spawn(move || accept_loop(listener, config, shared))
                .unwrap_or_else(|e| panic!("cannot start the HTTP server's thread: {e}"))
        };
        HttpGitServer {
            addr,
            base: remote.base_path().to_path_buf(),
            config,
            token: token.to_string(),
            shared,
            accept: Some(accept),
        }
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The `http://127.0.0.1:PORT/NAME` URL of `remote` (which must be the remote the
    /// server serves), without credentials.
    pub fn url(&self, remote: &Remote) -> String {
        assert_eq!(
            remote.base_path(),
            self.base,
            "this HTTP server does not serve {}",
            remote.bare_path().display()
        );
        format!("http://127.0.0.1:{}/{}", self.addr.port(), remote.name())
    }

    /// Like [`HttpGitServer::url`] with the right username and token in it:
    /// `http://USER:TOKEN@127.0.0.1:PORT/NAME`.
    pub fn url_with_credentials(&self, remote: &Remote) -> String {
        let url = self.url(remote);
        let rest = url.strip_prefix("http://").unwrap_or(&url);
        format!("http://{}:{}@{rest}", self.config.username, self.token)
    }

    /// How many requests the server received (answered or not).
    pub fn requests(&self) -> usize {
        self.shared.requests().len()
    }

    /// Every request received so far, in the order answered. A request is recorded
    /// before its answer is sent, so a client that got an answer finds it here.
    pub fn recorded(&self) -> Vec<RecordedRequest> {
        self.shared.requests().clone()
    }
}

impl Drop for HttpGitServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept thread so that it sees `stop` and drops the listener.
        let woke = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)).is_ok();
        if let Some(accept) = self.accept.take()
            && woke
        {
            let _ = accept.join();
        }
        let connections = std::mem::take(&mut *self.shared.connections());
        for (stream, thread) in connections {
            let _ = stream.shutdown(Shutdown::Both);
            let _ = thread.join();
        }
    }
}

fn accept_loop(listener: TcpListener, config: Arc<Config>, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else {
            // Out of file descriptors or an aborted connection: try the next one.
            std::thread::yield_now();
            continue;
        };
        let Ok(handle) = stream.try_clone() else {
            continue;
        };
        let (config, thread_shared) = (Arc::clone(&config), Arc::clone(&shared));
        let spawned = std::thread::Builder::new()
            .name("http-git-conn".to_string())
            .spawn(move || handle_connection(stream, &config, &thread_shared));
        if let Ok(thread) = spawned {
            let mut connections = shared.connections();
            connections.retain(|(_, t)| !t.is_finished());
            connections.push((handle, thread));
        }
    }
}

/// A request's head, as parsed.
struct Head {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An answer to send.
struct Response {
    /// Such as `200 OK`.
    status: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn plain(status: &str, body: &str) -> Response {
        Response {
            status: status.to_string(),
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    fn code(&self) -> u16 {
        self.status
            .split_whitespace()
            .next()
            .and_then(|c| c.parse().ok())
            .unwrap_or(500)
    }
}

fn handle_connection(stream: TcpStream, config: &Config, shared: &Shared) {
    let timeout = Some(Duration::from_secs(30));
    let _ = stream.set_read_timeout(timeout);
    let _ = stream.set_write_timeout(timeout);
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut writer = write_half;
    let mut reader = BufReader::new(stream);
    let head = match read_head(&mut reader) {
        Ok(Some(head)) => head,
        // The client connected and closed without a request (such as the wake-up
        // connection when the server stops).
        Ok(None) => return,
        Err(why) => {
            let _ = write_response(&mut writer, &Response::plain("400 Bad Request", &why));
            return;
        }
    };
    let expects_continue = head
        .header("Expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    let authorized = head.header("Authorization").is_some_and(|v| {
        let mut parts = v.split_whitespace();
        parts
            .next()
            .is_some_and(|s| s.eq_ignore_ascii_case("basic"))
            && parts.next() == Some(config.credentials.as_str())
            && parts.next().is_none()
    });
    let response = if !authorized {
        if !expects_continue {
            // Read what the client sends so that closing does not reset the connection
            // before it reads the answer.
            let _ = read_body(&mut reader, &head);
        }
        let mut r = Response::plain("401 Unauthorized", "authentication required\n");
        r.headers
            .push(("WWW-Authenticate".into(), "Basic realm=\"git\"".into()));
        r
    } else {
        if expects_continue
            && writer
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .and_then(|()| writer.flush())
                .is_err()
        {
            return;
        }
        match read_body(&mut reader, &head) {
            Ok(body) => run_backend(config, &head, body),
            Err(BodyError::TooLarge) => Response::plain(
                "413 Payload Too Large",
                &format!("the request body exceeds {MAX_BODY} bytes\n"),
            ),
            Err(BodyError::Bad(why)) => Response::plain("400 Bad Request", &format!("{why}\n")),
        }
    };
    shared.requests().push(RecordedRequest {
        method: head.method,
        target: head.target,
        headers: head.headers,
        status: response.code(),
    });
    if write_response(&mut writer, &response).is_ok() {
        // Lingering close: wait (briefly) for the client to close first, so that
        // anything it still sends does not reset the connection under the answer.
        let _ = writer.shutdown(Shutdown::Write);
        let _ = reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(2)));
        let _ = std::io::copy(&mut reader.take(MAX_BODY as u64), &mut std::io::sink());
    }
}

/// Reads the request line and headers. `Ok(None)` when the connection closes first.
fn read_head(reader: &mut impl BufRead) -> Result<Option<Head>, String> {
    let mut budget = MAX_HEAD;
    let mut line = |first: bool| -> Result<Option<String>, String> {
        let mut buf = Vec::new();
        let n = (&mut *reader)
            .take(budget as u64)
            .read_until(b'\n', &mut buf)
            .map_err(|e| format!("reading the request: {e}"))?;
        if n == 0 && first {
            return Ok(None);
        }
        if !buf.ends_with(b"\n") {
            return Err("the request head is truncated or too long".to_string());
        }
        budget -= n;
        let text = String::from_utf8(buf).map_err(|_| "the request head is not UTF-8")?;
        Ok(Some(text.trim_end_matches(['\r', '\n']).to_string()))
    };
    let Some(request_line) = line(true)? else {
        return Ok(None);
    };
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("malformed request line {request_line:?}"));
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return Err(format!("unsupported request line {request_line:?}"));
    }
    let mut headers = Vec::new();
    loop {
        let Some(header) = line(false)? else {
            return Err("the request head is truncated".to_string());
        };
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            return Err(format!("malformed header {header:?}"));
        };
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    Ok(Some(Head {
        method: method.to_string(),
        target: target.to_string(),
        headers,
    }))
}

enum BodyError {
    TooLarge,
    Bad(String),
}

/// Reads the body of a request: `Content-Length` bytes or a chunked body (decoded),
/// at most [`MAX_BODY`] bytes.
fn read_body(reader: &mut impl BufRead, head: &Head) -> Result<Vec<u8>, BodyError> {
    let io = |e: std::io::Error| BodyError::Bad(format!("reading the request body: {e}"));
    let chunked = head
        .header("Transfer-Encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if !chunked {
        let length = match head.header("Content-Length") {
            None => 0,
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| BodyError::Bad(format!("bad Content-Length {v:?}")))?,
        };
        if length > MAX_BODY {
            return Err(BodyError::TooLarge);
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).map_err(io)?;
        return Ok(body);
    }
    let mut body = Vec::new();
    let read_line = |reader: &mut dyn BufRead| -> Result<String, BodyError> {
        let mut buf = Vec::new();
        reader.take(4096).read_until(b'\n', &mut buf).map_err(io)?;
        if !buf.ends_with(b"\n") {
            return Err(BodyError::Bad("truncated chunk header".to_string()));
        }
        Ok(String::from_utf8_lossy(&buf).trim().to_string())
    };
    loop {
        let size_line = read_line(reader)?;
        let size_hex = size_line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| BodyError::Bad(format!("bad chunk size {size_line:?}")))?;
        if size == 0 {
            // Trailers, up to the empty line.
            while !read_line(reader)?.is_empty() {}
            return Ok(body);
        }
        if body.len() + size > MAX_BODY {
            return Err(BodyError::TooLarge);
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..]).map_err(io)?;
        if !read_line(reader)?.is_empty() {
            return Err(BodyError::Bad("a chunk does not end with CRLF".to_string()));
        }
    }
}

/// Runs `git http-backend` for one request and turns its CGI answer into a response.
fn run_backend(config: &Config, head: &Head, body: Vec<u8>) -> Response {
    let (path, query) = head
        .target
        .split_once('?')
        .unwrap_or((head.target.as_str(), ""));
    let mut cmd = git_helper("http-backend");
    cmd.current_dir(&config.project_root)
        .env("GIT_PROJECT_ROOT", &config.project_root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REQUEST_METHOD", &head.method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("REMOTE_USER", &config.username)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("AUTH_TYPE", "Basic")
        .env("CONTENT_LENGTH", body.len().to_string())
        .env_remove("CONTENT_TYPE")
        .env_remove("HTTP_GIT_PROTOCOL")
        .env_remove("HTTP_CONTENT_ENCODING")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(v) = head.header("Content-Type") {
        cmd.env("CONTENT_TYPE", v);
    }
    if let Some(v) = head.header("Git-Protocol") {
        cmd.env("HTTP_GIT_PROTOCOL", v);
    }
    if let Some(v) = head.header("Content-Encoding") {
        // http-backend inflates gzip bodies itself.
        cmd.env("HTTP_CONTENT_ENCODING", v);
    }
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            return Response::plain(
                "500 Internal Server Error",
                &format!("cannot run git http-backend: {e}\n"),
            );
        }
    };
    let stdin = child.stdin.take();
    let feeder = std::thread::spawn(move || {
        if let Some(mut stdin) = stdin {
            // The backend may stop reading early (an error); that is its answer.
            let _ = stdin.write_all(&body);
        }
    });
    let stderr = child.stderr.take();
    let errors = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut stderr) = stderr {
            let _ = stderr.read_to_end(&mut buf);
        }
        buf
    });
    let mut out = Vec::new();
    let read = child
        .stdout
        .take()
        .map(|mut stdout| stdout.read_to_end(&mut out));
    let status = child.wait();
    let _ = feeder.join();
    let errors = errors.join().unwrap_or_default();
    if !errors.is_empty() {
        eprintln!(
            "git http-backend ({} {}): {}",
            head.method,
            head.target,
            String::from_utf8_lossy(&errors).trim()
        );
    }
    if !matches!(read, Some(Ok(_))) {
        return Response::plain(
            "500 Internal Server Error",
            &format!("cannot read the output of git http-backend ({status:?})\n"),
        );
    }
    parse_cgi(&out).unwrap_or_else(|why| {
        Response::plain(
            "502 Bad Gateway",
            &format!("git http-backend ({status:?}): {why}\n"),
        )
    })
}

/// Splits a CGI program's output into its headers (with `Status:` as the status) and
/// body.
fn parse_cgi(out: &[u8]) -> Result<Response, String> {
    let (end, sep) = [&b"\r\n\r\n"[..], &b"\n\n"[..]]
        .iter()
        .filter_map(|sep| {
            out.windows(sep.len())
                .position(|w| w == *sep)
                .map(|p| (p, sep.len()))
        })
        .min()
        .ok_or_else(|| format!("no CGI headers in {:?}", String::from_utf8_lossy(out)))?;
    let head = String::from_utf8_lossy(&out[..end]);
    let mut response = Response {
        status: "200 OK".to_string(),
        headers: Vec::new(),
        body: out[end + sep..].to_vec(),
    };
    for line in head.lines() {
        let line = line.trim_end_matches('\r');
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("malformed CGI header {line:?}"));
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("Status") {
            response.status = value.to_string();
        } else if !["Content-Length", "Connection", "Transfer-Encoding"]
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h))
        {
            response.headers.push((name.to_string(), value.to_string()));
        }
    }
    Ok(response)
}

fn write_response(writer: &mut impl Write, response: &Response) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {}\r\n", response.status);
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        response.body.len()
    ));
    writer.write_all(head.as_bytes())?;
    writer.write_all(&response.body)?;
    writer.flush()
}

/// Standard base64 with padding.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("alice:s3cret", "YWxpY2U6czNjcmV0"),
        ] {
            assert_eq!(base64(input.as_bytes()), want, "{input:?}");
        }
    }

    #[test]
    fn chunked_bodies_decode() {
        let head = Head {
            method: "POST".into(),
            target: "/".into(),
            headers: vec![("Transfer-Encoding".into(), "chunked".into())],
        };
        let mut input: &[u8] = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n";
        let body = read_body(&mut input, &head).ok().unwrap();
        assert_eq!(body, b"hello world");
    }

    #[test]
    fn cgi_output_parses() {
        let r =
            parse_cgi(b"Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnope").unwrap();
        assert_eq!(r.status, "404 Not Found");
        assert_eq!(r.code(), 404);
        assert_eq!(
            r.headers,
            vec![("Content-Type".into(), "text/plain".into())]
        );
        assert_eq!(r.body, b"nope");
        let r = parse_cgi(b"Content-Type: x\n\nbody\r\n\r\nmore").unwrap();
        assert_eq!(r.status, "200 OK");
        assert_eq!(r.body, b"body\r\n\r\nmore");
    }
}
