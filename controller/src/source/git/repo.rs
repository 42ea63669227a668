//! A local bare mirror of one remote git repository, built on gix (pure Rust).
//!
//! The mirror fetches every branch and tag, resolves what the user follows from what the
//! remote advertised in that very fetch, and materialises a commit's tree into a fresh
//! directory. No worktree is ever checked out in place.

use std::ffi::OsStr;
use std::fmt;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use gix::bstr::{BStr, ByteSlice};
use gix::credentials::helper::Action;
use gix::objs::tree::EntryKind;
use gix::remote::Direction;

/// Every branch and tag, force-updated so that a force-push on the remote is followed.
const REFSPECS: [&str; 2] = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];

/// What to follow in the remote repository.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GitRef {
    /// The tip of a branch, e.g. `main`.
    Branch(String),
    /// A tag, lightweight or annotated, e.g. `v1.2.0`.
    Tag(String),
    /// A fixed commit, by full or abbreviated hex id.
    Commit(String),
}

impl fmt::Display for GitRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GitRef::Branch(name) => write!(f, "branch {name}"),
            GitRef::Tag(name) => write!(f, "tag {name}"),
            GitRef::Commit(id) => write!(f, "commit {id}"),
        }
    }
}

/// How to authenticate. Secrets are read from files at fetch time and never logged or put in errors.
#[derive(Debug, Clone, Default)]
pub enum Credentials {
    /// No credentials beyond what the URL itself may carry.
    #[default]
    None,
    /// An SSH private key, and optionally a known-hosts file to check the server against.
    Ssh {
        /// The private key, passed to `ssh -i`.
        key_file: PathBuf,
        /// When given, the only known-hosts file, with strict host key checking.
        known_hosts: Option<PathBuf>,
    },
    /// An HTTP(S) token, sent as the password of basic authentication.
    Token {
        /// The file holding the token (surrounding whitespace is ignored).
        file: PathBuf,
        /// The user name sent with the token.
        username: String,
    },
}

/// One commit, as shown to users.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommitInfo {
    /// The full hex id (40 characters).
    pub id: String,
    /// The author, as `Name <email>`.
    pub author: String,
    /// The first line of the commit message.
    pub subject: String,
    /// The author time, in seconds since the Unix epoch.
    pub time: i64,
}

/// What can go wrong with the mirror. No message contains a secret or a URL's userinfo.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The remote URL cannot be parsed.
    #[error("invalid git URL {url}: {message}")]
    InvalidUrl {
        /// The URL, redacted.
        url: String,
        /// Why it is invalid.
        message: String,
    },
    /// The mirror directory cannot be opened or created as a bare repository.
    #[error("cannot open the git mirror in {}: {message}", path.display())]
    Open {
        /// The mirror directory.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// A credentials file cannot be read or is unusable.
    #[error("cannot use the credentials file {}: {message}", file.display())]
    Credentials {
        /// The credentials file.
        file: PathBuf,
        /// What failed (never the file's content).
        message: String,
    },
    /// Connecting to the remote or fetching from it failed.
    #[error("cannot fetch from {url}: {message}")]
    Fetch {
        /// The remote URL, redacted.
        url: String,
        /// What failed.
        message: String,
    },
    /// The remote did not advertise the branch or tag in the latest fetch.
    #[error("{reference} not found in {url}")]
    RefNotFound {
        /// The branch or tag asked for.
        reference: GitRef,
        /// The remote URL, redacted.
        url: String,
    },
    /// No commit in the mirror has this id or id prefix.
    #[error("commit {id} not found in the mirror")]
    CommitNotFound {
        /// The id as given.
        id: String,
    },
    /// More than one commit in the mirror starts with this abbreviated id.
    #[error("commit id {id} is ambiguous; give more digits")]
    Ambiguous {
        /// The id as given.
        id: String,
    },
    /// The id, or the reference, names an object that is not (and does not peel to) a commit.
    #[error("{id} is not a commit")]
    NotACommit {
        /// The id as given, or the object id the reference pointed at.
        id: String,
    },
    /// Reading objects from the mirror failed.
    #[error("cannot read from the git mirror: {message}")]
    Read {
        /// What failed.
        message: String,
    },
    /// Writing a commit's files failed, or the destination is unusable.
    #[error("cannot check out into {}: {message}", path.display())]
    Checkout {
        /// The path concerned.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The operation was interrupted through its interrupt flag.
    #[error("interrupted")]
    Interrupted,
    /// A token or password would travel in clear text: plain `http://` to a host other
    /// than this machine's loopback.
    #[error("refusing to send credentials in clear text to {url}; use https://")]
    InsecureCredentials {
        /// The URL, without credentials.
        url: String,
    },
}

/// A bare repository in a local directory that mirrors one remote.
pub struct Mirror {
    repo: gix::ThreadSafeRepository,
    dir: PathBuf,
    url: String,
    display_url: String,
    credentials: Credentials,
}

impl fmt::Debug for Mirror {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mirror")
            .field("dir", &self.dir)
            .field("url", &self.display_url)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl Mirror {
    /// Opens the mirror in `dir`, creating a bare repository there if it is missing.
    /// `url` is https://, http://, ssh://, scp-like user@host:path, git://, file:// or a local path.
    pub fn open(dir: &Path, url: &str, credentials: Credentials) -> Result<Mirror, GitError> {
        let display_url = redact_url(url);
        gix::url::parse(url.as_bytes().as_bstr()).map_err(|e| GitError::InvalidUrl {
            url: display_url.clone(),
            message: scrub(&error_chain(&e), &[]),
        })?;
        let options = open_options(&credentials, &dir.join(SSH_STDERR));
        let is_empty = dir.read_dir().map_or(true, |mut d| d.next().is_none());
        let repo = if is_empty {
            let kind = gix::create::Kind::Bare;
            gix::ThreadSafeRepository::init_opts(
                dir,
                kind,
                gix::create::Options::default(),
                options,
            )
        } else {
            gix::ThreadSafeRepository::open_opts(dir, options)
        }
        .map_err(|e| GitError::Open {
            path: dir.to_path_buf(),
            message: error_chain(&e),
        })?;
        Ok(Mirror {
            repo,
            dir: dir.to_path_buf(),
            url: url.to_string(),
            display_url,
            credentials,
        })
    }

    /// Fetches all branches and tags from the remote (force-updating, so a force-push to an
    /// older commit is followed) and returns the commit `reference` points at.
    ///
    /// Branches and tags are resolved from what the remote advertised in this fetch: one
    /// deleted on the remote is [`GitError::RefNotFound`], never the stale local copy. A
    /// [`GitRef::Commit`] is fetched as well, then looked up locally (abbreviated ids allowed).
    /// Blocking; returns [`GitError::Interrupted`] soon after `interrupt` is set.
    pub fn fetch(
        &self,
        reference: &GitRef,
        interrupt: &AtomicBool,
    ) -> Result<CommitInfo, GitError> {
        let repo = self.repo.to_thread_local();
        let advertised = self.fetch_all(&repo, interrupt)?;
        let full_name = match reference {
            GitRef::Branch(name) => format!("refs/heads/{name}"),
            GitRef::Tag(name) => format!("refs/tags/{name}"),
            GitRef::Commit(id) => return commit_info(&repo, resolve_commit(&repo, id)?),
        };
        let target = advertised
            .iter()
            .map(|r| r.unpack())
            .find_map(|(name, target, _peeled)| (name == full_name.as_bytes()).then_some(target))
            .flatten()
            .ok_or_else(|| GitError::RefNotFound {
                reference: reference.clone(),
                url: self.display_url.clone(),
            })?;
        let commit = repo
            .find_object(target)
            .map_err(read_error)?
            .peel_to_commit()
            .map_err(|_| GitError::NotACommit {
                id: target.to_string(),
            })?;
        commit_info(&repo, commit.id)
    }

    /// Looks up a commit already in the mirror by full or abbreviated id.
    pub fn commit(&self, id: &str) -> Result<CommitInfo, GitError> {
        let repo = self.repo.to_thread_local();
        commit_info(&repo, resolve_commit(&repo, id)?)
    }

    /// Writes the tree of `commit` into `dest`, which must not exist yet.
    ///
    /// Regular files (keeping the executable bit), directories and symlinks are written;
    /// submodule entries are skipped. The tree is written to a temporary sibling directory
    /// that is then renamed into place, so `dest` is either complete or absent. Entry names
    /// that could escape (`..`, a `/` inside a name, `.git`) are refused.
    pub fn checkout(&self, commit: &str, dest: &Path) -> Result<(), GitError> {
        if dest.symlink_metadata().is_ok() {
            return Err(checkout_error(dest, "it already exists"));
        }
        let repo = self.repo.to_thread_local();
        let tree = repo
            .find_commit(resolve_commit(&repo, commit)?)
            .and_then(|c| c.tree())
            .map_err(read_error)?;
        let temp = temp_sibling(dest)?;
        std::fs::create_dir(&temp).map_err(|e| checkout_error(&temp, e))?;
        let written = write_tree(&repo, &tree, &temp)
            .and_then(|()| std::fs::rename(&temp, dest).map_err(|e| checkout_error(dest, e)));
        if written.is_err() {
            // Best effort: the error that matters is the one being returned.
            let _ = std::fs::remove_dir_all(&temp);
        }
        written
    }

    /// Whether `ancestor` is an ancestor of (or equal to) `descendant` — both already in the mirror.
    pub fn is_ancestor(&self, ancestor: &str, descendant: &str) -> Result<bool, GitError> {
        let repo = self.repo.to_thread_local();
        let ancestor = resolve_commit(&repo, ancestor)?;
        let descendant = resolve_commit(&repo, descendant)?;
        for info in repo.rev_walk([descendant]).all().map_err(read_error)? {
            if info.map_err(read_error)?.id == ancestor {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The remote URL with any user:password@ removed (for display and logs).
    pub fn display_url(&self) -> &str {
        &self.display_url
    }

    /// Fetches every branch and tag and returns the refs the remote advertised.
    fn fetch_all(
        &self,
        repo: &gix::Repository,
        interrupt: &AtomicBool,
    ) -> Result<Vec<gix::protocol::handshake::Ref>, GitError> {
        let identity = self.identity()?;
        if (identity.is_some() || self.url != self.display_url)
            && !credentials_may_travel(&self.url)
        {
            return Err(GitError::InsecureCredentials {
                url: self.display_url.clone(),
            });
        }
        let secrets = self.secrets(identity.as_ref());
        let ssh_stderr = self.dir.join(SSH_STDERR);
        let _ = std::fs::remove_file(&ssh_stderr);
        let fail = |e: gix::Error| {
            if interrupt.load(Ordering::Relaxed) {
                return GitError::Interrupted;
            }
            let mut message = error_chain(&e);
            let said = ssh_said(&ssh_stderr);
            if !said.is_empty() {
                if message.contains("No credentials were returned") {
                    // gix reads ssh's "Permission denied" as a request for credentials.
                    message = "the server refused the SSH key".to_string();
                }
                message = format!("{message} (ssh: {said})");
            }
            GitError::Fetch {
                url: self.display_url.clone(),
                message: scrub(&message, &secrets),
            }
        };
        check(interrupt)?;
        let remote = repo
            .remote_at(self.url.as_str())
            .and_then(|r| r.with_refspecs(REFSPECS, Direction::Fetch))
            .map_err(fail)?;
        let connection = remote
            .connect(Direction::Fetch)
            .map_err(fail)?
            .with_credentials(move |action| answer(action, identity.as_ref()));
        let prepared = connection
            .prepare_fetch(gix::progress::Discard, Default::default())
            .map_err(fail)?;
        check(interrupt)?;
        let outcome = prepared
            .receive(gix::progress::Discard, interrupt)
            .map_err(fail)?;
        Ok(outcome.ref_map.remote_refs)
    }

    /// The account to offer an HTTP server that asks for one, reading the token file now.
    fn identity(&self) -> Result<Option<gix::sec::identity::Account>, GitError> {
        let Credentials::Token { file, username } = &self.credentials else {
            return Ok(None);
        };
        let problem = |message: String| GitError::Credentials {
            file: file.clone(),
            message,
        };
        let content = std::fs::read_to_string(file).map_err(|e| problem(e.to_string()))?;
        let token = content.trim();
        if token.is_empty() {
            return Err(problem("the file is empty".to_string()));
        }
        Ok(Some(gix::sec::identity::Account {
            username: username.clone(),
            password: token.to_string(),
            oauth_refresh_token: None,
        }))
    }

    /// Every secret that must never appear in a message: the token and the URL's password.
    fn secrets(&self, identity: Option<&gix::sec::identity::Account>) -> Vec<String> {
        let mut secrets: Vec<String> = identity.map(|a| a.password.clone()).into_iter().collect();
        if let Ok(url) = gix::url::parse(self.url.as_bytes().as_bstr()) {
            secrets.extend(url.password().map(str::to_string));
        }
        secrets
    }
}

/// A commit id cut to the 7 characters people read (`git log --oneline`).
pub fn short_id(id: &str) -> &str {
    id.get(..7).unwrap_or(id)
}

/// `url` with userinfo (user:secret@) removed; unchanged otherwise.
///
/// `https://x:tok@github.com/a/b` becomes `https://github.com/a/b`. An ssh:// URL keeps its
/// user name (never a secret) but loses a password; scp-like `git@github.com:a/b` stays as is.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let (scheme, rest) = (&url[..scheme_end], &url[scheme_end + 3..]);
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    let user = userinfo.split(':').next().unwrap_or_default();
    if scheme.contains("ssh") && !user.is_empty() {
        format!("{scheme}://{user}@{host}{path}")
    } else {
        format!("{scheme}://{host}{path}")
    }
}

/// Options for opening the mirror: no system, global or environment configuration (so
/// nothing outside the mirror changes how it fetches), and ssh that never prompts.
/// Where ssh's messages go, inside the mirror: read back into fetch errors, so that
/// "Host key verification failed." reaches the source's status instead of the
/// controller's raw stderr.
const SSH_STDERR: &str = "ssh-stderr.log";

fn open_options(credentials: &Credentials, ssh_stderr: &Path) -> gix::open::Options {
    gix::open::Options::isolated().cli_overrides([
        format!(
            "core.sshCommand={} 2>{}",
            ssh_command(credentials),
            shell_quote(ssh_stderr)
        ),
        // The command line starts with `ssh`, but naming the variant spares gix a probe.
        "ssh.variant=ssh".to_string(),
    ])
}

/// The `core.sshCommand` for `credentials`; gix runs it through `sh -c`, hence the quoting.
fn ssh_command(credentials: &Credentials) -> String {
    // BatchMode: never prompt. The timeouts bound a connect or a silent server, which
    // the fetch's interrupt flag cannot reach while ssh blocks.
    let mut command = String::from(
        "ssh -o BatchMode=yes -o ConnectTimeout=30 -o ServerAliveInterval=15 -o ServerAliveCountMax=4",
    );
    if let Credentials::Ssh {
        key_file,
        known_hosts,
    } = credentials
    {
        command += &format!(" -i {} -o IdentitiesOnly=yes", shell_quote(key_file));
        if let Some(known_hosts) = known_hosts {
            command += &format!(
                " -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes",
                shell_quote(known_hosts)
            );
        }
    }
    command
}

/// The last lines ssh wrote (at most three, without its routine warnings), joined.
fn ssh_said(file: &Path) -> String {
    let Ok(text) = std::fs::read_to_string(file) else {
        return String::new();
    };
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Warning: Permanently added"))
        .collect();
    lines[lines.len().saturating_sub(3)..].join(" ")
}

fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"))
}

/// Answers gix's credential requests with `identity`, and never prompts or runs a helper.
fn answer(
    action: Action,
    identity: Option<&gix::sec::identity::Account>,
) -> gix::Result<Option<gix::credentials::protocol::Outcome>> {
    match (action, identity) {
        (Action::Get(context), Some(identity)) => Ok(Some(gix::credentials::protocol::Outcome {
            identity: identity.clone(),
            next: context.into(),
        })),
        _ => Ok(None),
    }
}

fn check(interrupt: &AtomicBool) -> Result<(), GitError> {
    if interrupt.load(Ordering::Relaxed) {
        Err(GitError::Interrupted)
    } else {
        Ok(())
    }
}

/// Finds the one commit whose id is, or starts with, `id` (4 to 40 hex digits).
fn resolve_commit(repo: &gix::Repository, id: &str) -> Result<gix::ObjectId, GitError> {
    let not_found = || GitError::CommitNotFound { id: id.to_string() };
    let is_hex = id.bytes().all(|b| b.is_ascii_hexdigit());
    let prefix = gix::hash::Prefix::from_hex(id)
        .ok()
        .filter(|_| is_hex)
        .ok_or_else(not_found)?;
    let mut candidates = std::collections::HashSet::new();
    repo.objects
        .lookup_prefix(prefix, Some(&mut candidates))
        .map_err(read_error)?;
    let mut commits = Vec::new();
    for candidate in &candidates {
        let header = repo.find_header(*candidate).map_err(read_error)?;
        if header.kind() == gix::objs::Kind::Commit {
            commits.push(*candidate);
        }
    }
    match commits.as_slice() {
        [commit] => Ok(*commit),
        [] if candidates.is_empty() => Err(not_found()),
        [] => Err(GitError::NotACommit { id: id.to_string() }),
        _ => Err(GitError::Ambiguous { id: id.to_string() }),
    }
}

fn commit_info(repo: &gix::Repository, id: gix::ObjectId) -> Result<CommitInfo, GitError> {
    let commit = repo.find_commit(id).map_err(read_error)?;
    let author = commit.author().map_err(read_error)?.trim();
    let message = commit.message_raw().map_err(read_error)?;
    let subject = message.lines().next().unwrap_or_default().trim();
    Ok(CommitInfo {
        id: id.to_string(),
        author: format!("{} <{}>", author.name, author.email),
        subject: subject.to_str_lossy().into_owned(),
        time: author.seconds(),
    })
}

/// Writes the entries of `tree` into the existing, empty directory `dir`.
fn write_tree(repo: &gix::Repository, tree: &gix::Tree<'_>, dir: &Path) -> Result<(), GitError> {
    for entry in tree.iter() {
        let entry = entry.map_err(read_error)?;
        let path = dir.join(safe_name(entry.filename(), dir)?);
        let id = entry.object_id();
        match entry.mode().kind() {
            EntryKind::Tree => {
                std::fs::create_dir(&path).map_err(|e| checkout_error(&path, e))?;
                write_tree(repo, &repo.find_tree(id).map_err(read_error)?, &path)?;
            }
            EntryKind::Blob | EntryKind::BlobExecutable => {
                let mode = if entry.mode().kind() == EntryKind::Blob {
                    0o644
                } else {
                    0o755
                };
                let blob = repo.find_blob(id).map_err(read_error)?;
                OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(mode)
                    .open(&path)
                    .and_then(|mut file| file.write_all(&blob.data))
                    .map_err(|e| checkout_error(&path, e))?;
            }
            EntryKind::Link => {
                let blob = repo.find_blob(id).map_err(read_error)?;
                std::os::unix::fs::symlink(OsStr::from_bytes(&blob.data), &path)
                    .map_err(|e| checkout_error(&path, e))?;
            }
            EntryKind::Commit => {} // A submodule: its commit is in another repository.
        }
    }
    Ok(())
}

/// `name` as a path component, refusing anything that could leave the directory or write
/// into a repository.
fn safe_name<'a>(name: &'a BStr, dir: &Path) -> Result<&'a OsStr, GitError> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(&b'/')
        || name.contains(&b'\0')
        || name.eq_ignore_ascii_case(b".git");
    if bad {
        return Err(checkout_error(
            dir,
            format!("refusing the tree entry name {name:?}"),
        ));
    }
    Ok(OsStr::from_bytes(name))
}

/// A fresh path next to `dest`, in the same directory so that renaming it into place is atomic.
fn temp_sibling(dest: &Path) -> Result<PathBuf, GitError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let (Some(parent), Some(name)) = (dest.parent(), dest.file_name()) else {
        return Err(checkout_error(dest, "not a path to a new directory"));
    };
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = format!(
        ".{}.partial-{}-{n}",
        name.to_string_lossy(),
        std::process::id()
    );
    Ok(parent.join(temp))
}

fn checkout_error(path: &Path, message: impl fmt::Display) -> GitError {
    GitError::Checkout {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

fn read_error(e: gix::Error) -> GitError {
    GitError::Read {
        message: error_chain(&e),
    }
}

/// `e` and its sources, joined with ": ", skipping a source that repeats its parent's text.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut last = message.clone();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if text != last && !last.contains(&text) {
            message = format!("{message}: {text}");
        }
        last = text;
        source = cause.source();
    }
    message
}

/// `text` with every URL's userinfo removed and every secret replaced.
/// Whether credentials may be sent to `url`: anything but plain `http://`, and plain
/// `http://` only to loopback (where nothing crosses a network; tests serve git there).
fn credentials_may_travel(url: &str) -> bool {
    let Ok(parsed) = gix::url::parse(gix::bstr::BStr::new(url)) else {
        return false;
    };
    if parsed.scheme != gix::url::Scheme::Http {
        return true;
    }
    match parsed.host() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || "\"'`<>()[]".contains(c))
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        out.push_str(
            authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host),
        );
        rest = &tail[end..];
    }
    out.push_str(rest);
    secrets
        .iter()
        .filter(|s| !s.is_empty())
        .fold(out, |text, secret| {
            text.replace(secret.as_str(), "<redacted>")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::os::unix::fs::PermissionsExt;
    use std::process::{Child, Command};
    use std::time::{Duration, Instant};

    const AUTHOR: &str = "Ada Lovelace <ada@example.com>";
    const START: i64 = 1_700_000_000;

    fn git_env(dir: &Path, args: &[&str], env: &[(&str, String)]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args([
                "-c",
                "user.name=Ada Lovelace",
                "-c",
                "user.email=ada@example.com",
            ])
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "git {args:?} failed: {stderr}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    fn git(dir: &Path, args: &[&str]) -> String {
        git_env(dir, args, &[])
    }

    /// A working repository that pushes to a bare "remote", and a mirror of that remote.
    struct Fixture {
        tmp: tempfile::TempDir,
        work: PathBuf,
        remote: PathBuf,
        mirror: Mirror,
        clock: Cell<i64>,
    }

    impl Fixture {
        fn new() -> Fixture {
            let tmp = tempfile::tempdir().unwrap();
            let (work, remote) = (tmp.path().join("work"), tmp.path().join("remote.git"));
            git(
                tmp.path(),
                &["init", "-q", "--bare", "-b", "main", "remote.git"],
            );
            git(tmp.path(), &["init", "-q", "-b", "main", "work"]);
            git(
                &work,
                &["remote", "add", "origin", remote.to_str().unwrap()],
            );
            let mirror_dir = tmp.path().join("mirror.git");
            let mirror =
                Mirror::open(&mirror_dir, remote.to_str().unwrap(), Credentials::None).unwrap();
            Fixture {
                tmp,
                work,
                remote,
                mirror,
                clock: Cell::new(START),
            }
        }

        /// Commits everything in the work tree with `message`, one minute after the last commit.
        fn commit(&self, message: &str) -> String {
            self.clock.set(self.clock.get() + 60);
            let date = format!("@{} +0000", self.clock.get());
            let env = [
                ("GIT_AUTHOR_DATE", date.clone()),
                ("GIT_COMMITTER_DATE", date),
            ];
            git(&self.work, &["add", "-A"]);
            git_env(
                &self.work,
                &["commit", "-q", "--allow-empty", "-m", message],
                &env,
            );
            git(&self.work, &["rev-parse", "HEAD"])
        }

        fn write(&self, path: &str, content: &str) {
            let path = self.work.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }

        fn push(&self, args: &[&str]) {
            git(&self.work, &[&["push", "-q", "origin"], args].concat());
        }

        fn fetch(&self, reference: &GitRef) -> Result<CommitInfo, GitError> {
            self.mirror.fetch(reference, &AtomicBool::new(false))
        }
    }

    fn branch(name: &str) -> GitRef {
        GitRef::Branch(name.to_string())
    }

    #[test]
    fn fetch_of_a_branch_returns_its_commit_and_sees_new_ones() {
        let f = Fixture::new();
        f.write("a.txt", "one");
        let first = f.commit("First commit\n\nWith a body.");
        f.push(&["main"]);
        let expected = CommitInfo {
            id: first.clone(),
            author: AUTHOR.to_string(),
            subject: "First commit".to_string(),
            time: START + 60,
        };
        assert_eq!(f.fetch(&branch("main")).unwrap(), expected);
        assert_eq!(f.mirror.commit(&first).unwrap(), expected);

        f.write("a.txt", "two");
        let second = f.commit("Second");
        f.push(&["main"]);
        let info = f.fetch(&branch("main")).unwrap();
        assert_eq!(
            (info.id, info.subject, info.time),
            (second, "Second".to_string(), START + 120)
        );
    }

    #[test]
    fn force_push_to_an_older_commit_is_followed() {
        let f = Fixture::new();
        let first = f.commit("first");
        let second = f.commit("second");
        f.push(&["main"]);
        assert_eq!(f.fetch(&branch("main")).unwrap().id, second);
        f.push(&["--force", &format!("{first}:main")]);
        assert_eq!(f.fetch(&branch("main")).unwrap().id, first);
        // And a rewrite on the bare remote itself.
        git(&f.remote, &["update-ref", "refs/heads/main", &second]);
        assert_eq!(f.fetch(&branch("main")).unwrap().id, second);
    }

    #[test]
    fn tags_and_abbreviated_commits_resolve() {
        let f = Fixture::new();
        let first = f.commit("first");
        git(&f.work, &["tag", "v1"]);
        let second = f.commit("second");
        let date = ("GIT_COMMITTER_DATE", format!("@{START} +0000"));
        git_env(&f.work, &["tag", "-a", "v2", "-m", "release 2"], &[date]);
        f.push(&["main", "--tags"]);

        assert_eq!(f.fetch(&GitRef::Tag("v1".into())).unwrap().id, first);
        assert_eq!(f.fetch(&GitRef::Tag("v2".into())).unwrap().id, second);
        assert_eq!(
            f.fetch(&GitRef::Commit(first[..7].into())).unwrap().id,
            first
        );
        assert_eq!(f.fetch(&GitRef::Commit(second.clone())).unwrap().id, second);
        assert_eq!(f.mirror.commit(&second[..10]).unwrap().id, second);

        let missing = f.fetch(&GitRef::Tag("v3".into())).unwrap_err();
        assert!(
            matches!(missing, GitError::RefNotFound { .. }),
            "{missing:?}"
        );
        for id in ["0000000", "main", "abc", &"f".repeat(41)] {
            let err = f.mirror.commit(id).unwrap_err();
            assert!(
                matches!(err, GitError::CommitNotFound { .. }),
                "{id}: {err:?}"
            );
        }
        // The annotated tag object exists but is not a commit.
        let tag = git(&f.work, &["rev-parse", "v2"]);
        let err = f.mirror.commit(&tag).unwrap_err();
        assert!(matches!(err, GitError::NotACommit { .. }), "{err:?}");
    }

    #[test]
    fn missing_or_deleted_branch_is_not_found() {
        let f = Fixture::new();
        let first = f.commit("first");
        f.push(&["main", "main:feature"]);
        assert_eq!(f.fetch(&branch("feature")).unwrap().id, first);

        f.push(&["--delete", "feature"]);
        let err = f.fetch(&branch("feature")).unwrap_err();
        assert!(matches!(err, GitError::RefNotFound { .. }), "{err:?}");
        assert!(err.to_string().contains("branch feature"), "{err}");

        let err = f.fetch(&branch("nope")).unwrap_err();
        assert!(matches!(err, GitError::RefNotFound { .. }), "{err:?}");
    }

    #[test]
    fn checkout_writes_files_directories_and_symlinks() {
        let f = Fixture::new();
        f.write("README", "hello\n");
        f.write("run.sh", "#!/bin/sh\n");
        f.write("sub/dir/deep.txt", "deep");
        std::fs::set_permissions(
            f.work.join("run.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink("README", f.work.join("link")).unwrap();
        let id = f.commit("files");
        f.push(&["main"]);
        f.fetch(&branch("main")).unwrap();

        let parent = f.tmp.path().join("checkouts");
        std::fs::create_dir(&parent).unwrap();
        let dest = parent.join("out");
        f.mirror.checkout(&id[..8], &dest).unwrap();

        assert_eq!(
            std::fs::read_to_string(dest.join("README")).unwrap(),
            "hello\n"
        );
        assert_eq!(
            std::fs::read_to_string(dest.join("sub/dir/deep.txt")).unwrap(),
            "deep"
        );
        let mode = |p: &str| {
            std::fs::metadata(dest.join(p))
                .unwrap()
                .permissions()
                .mode()
        };
        assert_ne!(mode("run.sh") & 0o111, 0);
        assert_eq!(mode("README") & 0o111, 0);
        assert_eq!(
            std::fs::read_link(dest.join("link")).unwrap(),
            Path::new("README")
        );

        let err = f.mirror.checkout(&id, &dest).unwrap_err();
        assert!(matches!(err, GitError::Checkout { .. }), "{err:?}");
        let names: Vec<_> = std::fs::read_dir(&parent)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["out"], "no temporary directory is left behind");
    }

    #[test]
    fn escaping_entry_names_are_refused() {
        let dir = Path::new("/tmp");
        for name in ["..", ".", "", "a/b", ".git", ".GIT", "x\0y"] {
            assert!(safe_name(name.into(), dir).is_err(), "{name:?}");
        }
        for name in ["a", ".gitignore", "..a", "git"] {
            assert!(safe_name(name.into(), dir).is_ok(), "{name:?}");
        }
    }

    #[test]
    fn is_ancestor_follows_history() {
        let f = Fixture::new();
        let first = f.commit("first");
        let second = f.commit("second");
        git(&f.work, &["checkout", "-q", "-b", "side", &first]);
        let side = f.commit("side");
        f.push(&["main", "side"]);
        f.fetch(&branch("main")).unwrap();

        let m = &f.mirror;
        assert!(m.is_ancestor(&first, &second).unwrap());
        assert!(m.is_ancestor(&first[..7], &second[..7]).unwrap());
        assert!(m.is_ancestor(&second, &second).unwrap());
        assert!(!m.is_ancestor(&second, &first).unwrap());
        assert!(!m.is_ancestor(&side, &second).unwrap());
        assert!(matches!(
            m.is_ancestor("0000000", &second),
            Err(GitError::CommitNotFound { .. })
        ));
    }

    #[test]
    fn reopening_keeps_what_was_fetched() {
        let f = Fixture::new();
        let first = f.commit("first");
        f.push(&["main"]);
        f.fetch(&branch("main")).unwrap();
        let again = Mirror::open(
            &f.tmp.path().join("mirror.git"),
            "/nowhere",
            Credentials::None,
        )
        .unwrap();
        assert_eq!(again.commit(&first).unwrap().id, first);
    }

    #[test]
    fn a_set_interrupt_flag_stops_the_fetch() {
        let f = Fixture::new();
        f.commit("first");
        f.push(&["main"]);
        let err = f
            .mirror
            .fetch(&branch("main"), &AtomicBool::new(true))
            .unwrap_err();
        assert!(matches!(err, GitError::Interrupted), "{err:?}");
    }

    #[test]
    fn redact_url_removes_userinfo() {
        let cases = [
            ("https://x:tok@github.com/a/b", "https://github.com/a/b"),
            ("https://tok@github.com/a/b", "https://github.com/a/b"),
            ("http://u:p@host:8080", "http://host:8080"),
            ("ssh://git:pw@host:22/a/b.git", "ssh://git@host:22/a/b.git"),
            ("ssh://git@host/a/b.git", "ssh://git@host/a/b.git"),
            ("git@github.com:a/b", "git@github.com:a/b"),
            ("https://github.com/a/b@c", "https://github.com/a/b@c"),
            ("git://host/repo", "git://host/repo"),
            ("/srv/git/repo", "/srv/git/repo"),
            ("file:///srv/git/repo", "file:///srv/git/repo"),
        ];
        for (url, redacted) in cases {
            assert_eq!(redact_url(url), redacted, "{url}");
        }
    }

    #[test]
    fn credentials_never_travel_in_clear_text_off_this_machine() {
        assert!(credentials_may_travel("https://example.com/a.git"));
        assert!(credentials_may_travel("ssh://git@example.com/a.git"));
        assert!(credentials_may_travel("http://127.0.0.1:8080/a.git"));
        assert!(credentials_may_travel("http://localhost/a.git"));
        assert!(credentials_may_travel("http://[::1]:80/a.git"));
        assert!(!credentials_may_travel("http://example.com/a.git"));
        assert!(!credentials_may_travel("http://10.0.0.5/a.git"));

        let tmp = tempfile::tempdir().unwrap();
        let token = tmp.path().join("token");
        std::fs::write(&token, "tok-123").unwrap();
        let token = Credentials::Token {
            file: token,
            username: "ada".into(),
        };
        let cases = [
            ("m", "http://example.invalid/a.git", token),
            (
                "m2",
                "http://ada:s3cret@example.invalid/a.git",
                Credentials::None,
            ),
        ];
        for (dir, url, credentials) in cases {
            let mirror = Mirror::open(&tmp.path().join(dir), url, credentials).unwrap();
            let err = mirror
                .fetch(&branch("main"), &AtomicBool::new(false))
                .unwrap_err();
            assert!(
                matches!(err, GitError::InsecureCredentials { .. }),
                "{url}: {err:?}"
            );
        }
    }

    #[test]
    fn errors_never_contain_secrets() {
        let tmp = tempfile::tempdir().unwrap();
        let token = tmp.path().join("token");
        std::fs::write(&token, "  tok-123\n").unwrap();
        let credentials = Credentials::Token {
            file: token.clone(),
            username: "ada".into(),
        };
        // Nothing listens on port 1: the fetch fails after the credentials check.
        let url = "http://ada:s3cret@127.0.0.1:1/repo.git";
        let mirror = Mirror::open(&tmp.path().join("m"), url, credentials).unwrap();
        assert_eq!(mirror.display_url(), "http://127.0.0.1:1/repo.git");
        let err = mirror
            .fetch(&branch("main"), &AtomicBool::new(false))
            .unwrap_err();
        let text = format!("{err} {err:?} {mirror:?}");
        assert!(matches!(err, GitError::Fetch { .. }), "{text}");
        assert!(
            !text.contains("s3cret") && !text.contains("tok-123"),
            "{text}"
        );

        std::fs::remove_file(&token).unwrap();
        let err = mirror
            .fetch(&branch("main"), &AtomicBool::new(false))
            .unwrap_err();
        assert!(matches!(err, GitError::Credentials { .. }), "{err:?}");
    }

    #[test]
    fn scrub_removes_userinfo_and_secrets_from_text() {
        let text = r#"cannot reach "https://u:pw@h/x" with tok-1 or ssh://a@b:22/c"#;
        let scrubbed = scrub(text, &["tok-1".to_string(), String::new()]);
        assert_eq!(
            scrubbed,
            r#"cannot reach "https://h/x" with <redacted> or ssh://b:22/c"#
        );
    }

    #[test]
    fn ssh_options_reach_gix() {
        let tmp = tempfile::tempdir().unwrap();
        let command = |credentials: Credentials, name: &str| {
            let url = "ssh://git@example.invalid/repo.git";
            let mirror = Mirror::open(&tmp.path().join(name), url, credentials).unwrap();
            let options = mirror.repo.to_thread_local().ssh_connect_options().unwrap();
            let kind = gix::protocol::transport::client::blocking_io::ssh::ProgramKind::Ssh;
            assert_eq!(options.kind, Some(kind));
            let command = options.command.unwrap().into_string().unwrap();
            let stderr = format!(" 2>'{}'", tmp.path().join(name).join(SSH_STDERR).display());
            command
                .strip_suffix(&stderr)
                .unwrap_or_else(|| panic!("{command}"))
                .to_string()
        };
        let base = "ssh -o BatchMode=yes -o ConnectTimeout=30 -o ServerAliveInterval=15 \
                    -o ServerAliveCountMax=4";
        assert_eq!(command(Credentials::None, "none"), base);
        let credentials = Credentials::Ssh {
            key_file: "/keys/it's key".into(),
            known_hosts: Some("/keys/known_hosts".into()),
        };
        assert_eq!(
            command(credentials, "key"),
            format!(
                "{base} -i '/keys/it'\\''s key' -o IdentitiesOnly=yes \
                 -o UserKnownHostsFile='/keys/known_hosts' -o StrictHostKeyChecking=yes"
            )
        );
    }

    /// A `git daemon` serving a directory on a free loopback port, killed on drop.
    struct Daemon {
        child: Child,
        port: u16,
    }

    impl Daemon {
        fn start(base: &Path) -> Daemon {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            // `git daemon` would fork the real daemon, which killing `git` leaves running.
            let exec_path = PathBuf::from(git(base, &["--exec-path"]));
            let base_path = format!("--base-path={}", base.display());
            let child = Command::new(exec_path.join("git-daemon"))
                .args([
                    "--reuseaddr",
                    "--listen=127.0.0.1",
                    &format!("--port={port}"),
                ])
                .args([base_path.as_str(), "--export-all"])
                .arg(base)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let daemon = Daemon { child, port };
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "git daemon did not start listening"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            daemon
        }
    }

    impl Drop for Daemon {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    #[test]
    fn fetch_over_the_git_protocol() {
        let f = Fixture::new();
        let first = f.commit("first");
        f.push(&["main"]);
        let daemon = Daemon::start(f.tmp.path());
        let url = format!("git://127.0.0.1:{}/remote.git", daemon.port);
        let mirror = Mirror::open(&f.tmp.path().join("over-git"), &url, Credentials::None).unwrap();
        assert_eq!(
            mirror
                .fetch(&branch("main"), &AtomicBool::new(false))
                .unwrap()
                .id,
            first
        );

        let second = f.commit("second");
        f.push(&["main"]);
        assert_eq!(
            mirror
                .fetch(&branch("main"), &AtomicBool::new(false))
                .unwrap()
                .id,
            second
        );
    }
}
