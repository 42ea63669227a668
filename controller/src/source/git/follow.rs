//! Following a branch (or a tag, or a pinned commit) of a git repository.
//!
//! [`GitSource`] fetches the repository into a local [mirror](super::repo::Mirror) on a
//! jittered interval and whenever it is [triggered](GitSource::trigger) (webhook,
//! `holdfast reconcile source`), materialises the commit's tree into a fresh directory,
//! loads the desired-state file from there (so that `env_file`, secret files and build
//! contexts resolve inside the same commit) and hands it to the controller.
//!
//! A commit whose file is invalid is never applied: the source reports it and the
//! running state stays on the last good commit. A rollback pins the source to an
//! earlier commit until `holdfast resume source`. What was applied, refused or held
//! back is kept in the store, so a restart of the controller carries on from there,
//! even while the remote is unreachable.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::repo::{CommitInfo, Credentials, GitError, GitRef, Mirror, redact_url, short_id};
use crate::api::types::{
    CommitResult, FailedCommit, HistoryEntry, ResourceDiff, SourceKind, SourceStatus,
};
use crate::runtime::controller::{Controller, SetDesiredError};
use crate::runtime::lock;
use crate::runtime::store::{EventKind, Store, now_ms};

/// How many history entries are kept.
const HISTORY_LIMIT: usize = 200;

/// Where to fetch from and what to follow. Its `Debug` shows the URL without
/// credentials.
#[derive(Clone)]
pub struct GitSourceConfig {
    /// The repository: https://, ssh://, user@host:path, git://, file:// or a path.
    pub url: String,
    /// The branch, tag or commit to follow.
    pub reference: GitRef,
    /// The desired-state file's path inside the repository.
    pub path: String,
    /// How often to fetch without a trigger (±10 % jitter).
    pub interval: Duration,
    /// How to authenticate.
    pub credentials: Credentials,
    /// How long one fetch may take before it is abandoned.
    pub fetch_timeout: Duration,
}

impl std::fmt::Debug for GitSourceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitSourceConfig")
            .field("url", &redact_url(&self.url))
            .field("reference", &self.reference)
            .field("path", &self.path)
            .field("interval", &self.interval)
            .field("credentials", &self.credentials)
            .field("fetch_timeout", &self.fetch_timeout)
            .finish()
    }
}

/// Why the source cannot do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A git operation failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// Rollback without a commit, but no earlier good commit is known.
    #[error("no earlier applied commit is known; name the commit: holdfast rollback COMMIT")]
    NothingToRollBackTo,
    /// The commit's desired-state file is invalid.
    #[error("commit {commit}: {error}")]
    InvalidCommit {
        /// The commit's short id.
        commit: String,
        /// The first error.
        error: String,
    },
    /// The engine could not be asked for the project's containers.
    #[error("cannot list the project's containers: {0}")]
    Engine(#[from] bollard::errors::Error),
    /// A blocking task panicked or was cancelled.
    #[error("internal error: {0}")]
    Task(String),
}

/// What the source keeps in the store across restarts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Persisted {
    /// The project of the last applied commit, so that events before the first apply
    /// after a restart name it.
    #[serde(default)]
    project: Option<String>,
    last_applied: Option<CommitInfo>,
    last_applied_time: Option<u64>,
    pinned: Option<CommitInfo>,
    failed: Option<FailedCommit>,
    held_back: Option<String>,
    history: VecDeque<HistoryEntry>,
}

/// What the source knows only while it runs.
#[derive(Debug, Clone, Default)]
struct Live {
    last_fetched: Option<CommitInfo>,
    last_fetch_time: Option<u64>,
    last_fetch_error: Option<String>,
    next_fetch: Option<u64>,
}

/// A git repository followed by the controller. See the [module docs](self).
#[derive(Debug)]
pub struct GitSource {
    config: GitSourceConfig,
    mirror: Arc<Mirror>,
    checkouts: PathBuf,
    store: Option<Arc<Store>>,
    store_key: String,
    persisted: Mutex<Persisted>,
    live: Mutex<Live>,
    wake: Notify,
    /// One fetch-and-apply at a time (poll, webhook, rollback, resume).
    busy: tokio::sync::Mutex<()>,
}

/// Runs blocking git work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, GitError> + Send + 'static,
) -> Result<T, SourceError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SourceError::Task(e.to_string()))?
        .map_err(SourceError::from)
}

impl GitSource {
    /// Opens (or creates) the mirror under `state_dir/git/`, and restores what was
    /// applied before from `store`.
    pub fn new(
        config: GitSourceConfig,
        state_dir: &Path,
        store: Option<Arc<Store>>,
    ) -> Result<Arc<GitSource>, SourceError> {
        let display = redact_url(&config.url);
        let id = {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(display.as_bytes());
            digest[..6]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        let root = state_dir.join("git").join(&id);
        std::fs::create_dir_all(root.join("mirror.git")).map_err(|e| {
            SourceError::Git(GitError::Open {
                path: root.join("mirror.git"),
                message: e.to_string(),
            })
        })?;
        let mirror = Mirror::open(
            &root.join("mirror.git"),
            &config.url,
            config.credentials.clone(),
        )?;
        let store_key = format!("source/git/{id}");
        let persisted = store
            .as_ref()
            .and_then(|s| match s.doc::<Persisted>(&store_key) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the git source's saved state; starting afresh");
                    None
                }
            })
            .unwrap_or_default();
        Ok(Arc::new(GitSource {
            config,
            mirror: Arc::new(mirror),
            checkouts: root.join("checkouts"),
            store,
            store_key,
            persisted: Mutex::new(persisted),
            live: Mutex::new(Live::default()),
            wake: Notify::new(),
            busy: tokio::sync::Mutex::new(()),
        }))
    }

    /// Asks for a fetch now (a webhook, `holdfast reconcile source`). Triggers that
    /// arrive during a fetch lead to one more fetch after it.
    pub fn trigger(&self) {
        self.wake.notify_one();
    }

    /// Where the source stands.
    pub fn status(&self) -> SourceStatus {
        let p = lock(&self.persisted).clone();
        let l = lock(&self.live).clone();
        SourceStatus {
            kind: SourceKind::Git,
            url: self.mirror.display_url().to_string(),
            reference: Some(self.config.reference.to_string()),
            path: Some(self.config.path.clone()),
            interval_ms: Some(u64::try_from(self.config.interval.as_millis()).unwrap_or(u64::MAX)),
            last_fetched: l.last_fetched,
            last_fetch_time: l.last_fetch_time,
            last_fetch_error: l.last_fetch_error,
            last_applied: p.last_applied,
            last_applied_time: p.last_applied_time,
            failed: p.failed,
            held_back: p.held_back,
            pinned: p.pinned,
            next_fetch: l.next_fetch,
        }
    }

    /// The commits met so far, oldest first.
    pub fn history(&self) -> Vec<HistoryEntry> {
        lock(&self.persisted).history.iter().cloned().collect()
    }

    /// Fetches on the interval and on triggers until the controller shuts down.
    /// Between fetches it watches the controller, to note in the history when the
    /// commit in force became Ready everywhere.
    pub async fn run(self: Arc<Self>, controller: Arc<Controller>) {
        let mut closed = controller.closed();
        let mut changes = controller.subscribe();
        let mut rng = fastrand::Rng::new();
        loop {
            self.sync(&controller).await;
            self.note_ready(&controller);
            let wait = self.config.interval.mul_f64(0.9 + 0.2 * rng.f64());
            lock(&self.live).next_fetch =
                Some(now_ms() + u64::try_from(wait.as_millis()).unwrap_or(u64::MAX));
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => break,
                    _ = self.wake.notified() => break,
                    Ok(()) = changes.changed() => self.note_ready(&controller),
                    _ = closed.wait_for(|c| *c) => return,
                }
            }
        }
    }

    /// Records, once, how long after it was applied the commit in force had every
    /// service Ready.
    fn note_ready(&self, controller: &Controller) {
        let Some(revision) = controller.revision() else {
            return;
        };
        let pending = lock(&self.persisted)
            .history
            .iter()
            .rev()
            .find(|h| h.result != CommitResult::Invalid)
            .is_some_and(|h| h.commit.id == revision && h.ready_after_ms.is_none());
        if !pending || !controller.converged() {
            return;
        }
        self.update(|p| {
            if let Some(h) = p
                .history
                .iter_mut()
                .rev()
                .find(|h| h.result != CommitResult::Invalid)
            {
                h.ready_after_ms = Some(now_ms().saturating_sub(h.time));
            }
        });
    }

    /// One fetch, then applies what the source should be at: the pinned commit, or the
    /// reference's commit. When that cannot be applied (the fetch failed, the commit is
    /// invalid) and the controller has nothing in force yet (just restarted), the last
    /// applied commit is applied again from the local mirror.
    pub async fn sync(&self, controller: &Controller) {
        let _busy = self.busy.lock().await;
        let fetched = self.fetch(controller).await;
        // A refusal stands for the newest commit only: once the reference has moved on
        // (a new commit, a force-push back to the commit in force), it is history.
        if let Some(commit) = &fetched
            && lock(&self.persisted)
                .failed
                .as_ref()
                .is_some_and(|f| f.commit.id != commit.id)
        {
            self.update(|p| p.failed = None);
        }
        let target = {
            let p = lock(&self.persisted);
            match (&p.pinned, fetched) {
                (Some(pinned), _) => Some(pinned.clone()),
                (None, Some(commit)) => Some(commit),
                (None, None) if controller.revision().is_none() => p.last_applied.clone(),
                (None, None) => None,
            }
        };
        if let Some(target) = target {
            let result = if lock(&self.persisted).pinned.is_some() {
                CommitResult::RolledBack
            } else {
                CommitResult::Applied
            };
            self.apply(controller, &target, result).await;
        }
        let last = lock(&self.persisted).last_applied.clone();
        if controller.revision().is_none()
            && let Some(last) = last
        {
            self.apply(controller, &last, CommitResult::Applied).await;
        }
        self.publish(controller);
    }

    /// Fetches the reference; records the outcome. `None` when the fetch failed.
    async fn fetch(&self, controller: &Controller) -> Option<CommitInfo> {
        let interrupt = Arc::new(AtomicBool::new(false));
        let mirror = self.mirror.clone();
        let reference = self.config.reference.clone();
        let flag = interrupt.clone();
        let task = blocking(move || mirror.fetch(&reference, &flag));
        let result = match tokio::time::timeout(self.config.fetch_timeout, task).await {
            Ok(r) => r,
            Err(_) => {
                interrupt.store(true, Ordering::Relaxed);
                Err(SourceError::Task(format!(
                    "the fetch did not finish within {}s",
                    self.config.fetch_timeout.as_secs()
                )))
            }
        };
        let project = self.project(controller);
        let now = now_ms();
        match result {
            Ok(commit) => {
                controller.metrics().source_fetch(true);
                let new = {
                    let mut l = lock(&self.live);
                    let new = l.last_fetched.as_ref().is_none_or(|c| c.id != commit.id);
                    l.last_fetched = Some(commit.clone());
                    l.last_fetch_time = Some(now);
                    l.last_fetch_error = None;
                    new
                };
                if new {
                    self.announce(controller, &project, &commit);
                }
                Some(commit)
            }
            Err(e) => {
                controller.metrics().source_fetch(false);
                let message = e.to_string();
                let repeated = {
                    let mut l = lock(&self.live);
                    let repeated = l.last_fetch_error.as_deref() == Some(message.as_str());
                    l.last_fetch_error = Some(message.clone());
                    l.last_fetch_time = Some(now);
                    repeated
                };
                if !repeated {
                    controller.event(
                        &project,
                        "source",
                        EventKind::Warning,
                        "FetchFailed",
                        &format!("{message}; the running state is kept"),
                    );
                }
                None
            }
        }
    }

    /// Records a newly fetched commit: `Fetched`, or `NewCommitNotApplied` while a
    /// rollback pins the source elsewhere. Nothing for the commit already in force.
    fn announce(&self, controller: &Controller, project: &str, commit: &CommitInfo) {
        let (pinned, applied) = {
            let p = lock(&self.persisted);
            (p.pinned.clone(), p.last_applied.clone())
        };
        let what = format!(
            "{} ({}, {})",
            short_id(&commit.id),
            commit.subject,
            commit.author
        );
        let (reason, message) = match pinned {
            Some(pin) if pin.id != commit.id => (
                "NewCommitNotApplied",
                format!(
                    "fetched {what}; not applied: pinned to {} by a rollback until `holdfast resume source`",
                    short_id(&pin.id)
                ),
            ),
            Some(_) => return,
            None if applied.is_some_and(|a| a.id == commit.id) => return,
            None => (
                "Fetched",
                format!(
                    "{} {} is at {what}",
                    self.mirror.display_url(),
                    self.config.reference
                ),
            ),
        };
        controller.event(project, "source", EventKind::Normal, reason, &message);
    }

    /// Materialises `commit` (unless already there) and validates its desired-state
    /// file there, with every file it names. Returns the file's text.
    async fn validate(&self, commit: &CommitInfo) -> Result<String, FailedCommit> {
        let failed = |error: String| FailedCommit {
            commit: commit.clone(),
            error,
            details: String::new(),
        };
        let dir = self.checkout_dir(&commit.id);
        if !dir.exists() {
            let mirror = self.mirror.clone();
            let id = commit.id.clone();
            let dest = dir.clone();
            let parent = self.checkouts.join(&commit.id);
            blocking(move || {
                std::fs::create_dir_all(&parent).map_err(|e| GitError::Checkout {
                    path: parent.clone(),
                    message: e.to_string(),
                })?;
                mirror.checkout(&id, &dest)
            })
            .await
            .map_err(|e| failed(format!("cannot check out the commit: {e}")))?;
        }
        let file = dir.join(&self.config.path);
        let shown = PathBuf::from(&self.config.path);
        let loaded = tokio::task::spawn_blocking(move || {
            holdfast_spec::load_file(&file, &holdfast_spec::LoadOptions::default())
        })
        .await
        .map_err(|e| failed(format!("internal error: {e}")))?;
        match loaded {
            Ok(loaded) => Ok(loaded.report.source),
            Err(mut report) => {
                // Name the file as it is in the repository, not in the checkout.
                report.path = shown.clone();
                let first = report
                    .diagnostics
                    .iter()
                    .find(|d| d.is_error())
                    .map(|d| match d.span {
                        Some(s) => {
                            format!("{}:{}:{}: {}", shown.display(), s.line, s.col, d.message)
                        }
                        None => format!("{}: {}", shown.display(), d.message),
                    })
                    .unwrap_or_else(|| format!("{}: invalid", shown.display()));
                let count = report.error_count();
                Err(FailedCommit {
                    commit: commit.clone(),
                    error: if count > 1 {
                        format!("{first} (and {} more errors)", count - 1)
                    } else {
                        first
                    },
                    details: report.render(),
                })
            }
        }
    }

    /// Loads `text`, the validated file of `commit`, as the file under `current/`:
    /// every path in the desired state (bind mounts, env files, secret files) is then
    /// the same from commit to commit, so a commit replaces only the containers whose
    /// spec it changes. `${VAR}` comes from the process environment, then from the
    /// `.env` beside the file in `commit`'s own checkout (as Compose does), so the
    /// result does not depend on where `current/` points yet.
    fn load_as_current(
        &self,
        commit: &str,
        text: &str,
    ) -> Result<holdfast_spec::DesiredState, String> {
        let relative = Path::new(&self.config.path);
        let file = self
            .current_link()
            .join(self.repository_name())
            .join(relative);
        let dotenv = self
            .checkout_dir(commit)
            .join(relative)
            .with_file_name(".env");
        let mut variables = std::fs::read_to_string(dotenv)
            .map(|text| holdfast_spec::parse_env_lines(&text))
            .unwrap_or_default();
        variables.extend(std::env::vars());
        let options = holdfast_spec::LoadOptions {
            variables: Some(variables),
            check_files: false,
        };
        holdfast_spec::load_str(&file, text, &options)
            .map(|loaded| loaded.state)
            .map_err(|report| report.render())
    }

    /// `STATE_DIR/git/<id>/current`: a symlink to the checkout of the commit in force.
    fn current_link(&self) -> PathBuf {
        self.checkouts.with_file_name("current")
    }

    /// Points [`GitSource::current_link`] at `commit`'s checkout, atomically (a new link
    /// renamed over the old one).
    fn switch_current(&self, commit: &str) -> std::io::Result<()> {
        let link = self.current_link();
        let temp = link.with_file_name("current.new");
        let _ = std::fs::remove_file(&temp);
        std::os::unix::fs::symlink(Path::new("checkouts").join(commit), &temp)?;
        std::fs::rename(&temp, &link)
    }

    /// The repository's name, as a clone's folder would be called, so that a file
    /// without `name:` gets the same project name as in a clone.
    fn repository_name(&self) -> String {
        self.mirror
            .display_url()
            .trim_end_matches('/')
            .rsplit(['/', ':'])
            .next()
            .map(|n| n.trim_end_matches(".git"))
            .filter(|n| !n.is_empty() && *n != "." && *n != "..")
            .unwrap_or("repo")
            .to_string()
    }

    /// `checkouts/<commit>/<repository name>`.
    fn checkout_dir(&self, commit: &str) -> PathBuf {
        self.checkouts.join(commit).join(self.repository_name())
    }

    /// Puts `commit`'s desired state in force, unless it already is. A commit whose file
    /// is invalid is reported once per distinct error; it is tried again at every sync,
    /// because a file it needs on this server (a secret) may have appeared since.
    async fn apply(&self, controller: &Controller, commit: &CommitInfo, result: CommitResult) {
        if controller.revision().as_deref() == Some(commit.id.as_str()) {
            return;
        }
        let known_error = lock(&self.persisted)
            .failed
            .as_ref()
            .filter(|f| f.commit.id == commit.id)
            .map(|f| f.error.clone());
        let project = self.project(controller);
        let text = match self.validate(commit).await {
            Ok(text) => text,
            Err(failed) => {
                self.refuse(controller, &project, failed, known_error.as_deref());
                return;
            }
        };
        let state = match self.load_as_current(&commit.id, &text) {
            Ok(state) => state,
            Err(rendered) => {
                // Validated a moment ago in its own checkout; only a race can get here.
                tracing::warn!("{rendered}");
                return;
            }
        };
        if let Err(failed) = self.check_project_name(controller, commit, &state).await {
            self.refuse(controller, &project, failed, known_error.as_deref());
            return;
        }
        if let Err(e) = self.switch_current(&commit.id) {
            let message = format!("cannot switch to {}: {e}", short_id(&commit.id));
            tracing::warn!("{message}; will retry at the next fetch");
            lock(&self.live).last_fetch_error = Some(message);
            return;
        }
        let project = state.name.clone();
        match controller
            .set_desired_at(state, Some(commit.id.clone()))
            .await
        {
            Err(e) => {
                let message = format!("cannot apply {}: {e}", short_id(&commit.id));
                tracing::warn!("{message}; will retry at the next fetch");
                lock(&self.live).last_fetch_error = Some(message);
            }
            Ok(accepted) => {
                let held_back = accepted.removal_refused.then(|| {
                    format!(
                        "commit {} would remove {}; nothing was removed (mass-removal guard). Pass --allow-mass-removal if this is intended",
                        short_id(&commit.id),
                        accepted
                            .removals
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                });
                let result = if held_back.is_some() {
                    CommitResult::HeldBack
                } else {
                    result
                };
                // After a restart the commit in force is applied again: not news.
                let again = lock(&self.persisted)
                    .last_applied
                    .as_ref()
                    .is_some_and(|c| c.id == commit.id);
                if !again {
                    controller.event(
                        &project,
                        "source",
                        EventKind::Normal,
                        "CommitApplied",
                        &format!(
                            "{} {} ({}, {})",
                            match result {
                                CommitResult::RolledBack => "rolled back to",
                                _ => "applying",
                            },
                            short_id(&commit.id),
                            commit.subject,
                            commit.author
                        ),
                    );
                }
                self.update(|p| {
                    if !again {
                        push_history(p, commit, result, held_back.as_deref().unwrap_or_default());
                        p.last_applied_time = Some(now_ms());
                    }
                    p.project = Some(project.clone());
                    p.last_applied = Some(commit.clone());
                    // A newer commit of the reference replaces a refused one; applying
                    // the same commit again or rolling back leaves the refusal standing.
                    if !again && result != CommitResult::RolledBack {
                        p.failed = None;
                    }
                    p.held_back = held_back;
                });
                self.prune_checkouts(&commit.id);
            }
        }
    }

    /// Records that `failed.commit` is not applied: an event, a line of history, the
    /// metric; once per distinct error (`known_error` is the one already recorded).
    fn refuse(
        &self,
        controller: &Controller,
        project: &str,
        failed: FailedCommit,
        known_error: Option<&str>,
    ) {
        if known_error == Some(failed.error.as_str()) {
            return;
        }
        let commit = failed.commit.clone();
        let running = lock(&self.persisted)
            .last_applied
            .as_ref()
            .map(|c| format!("stays on {}", short_id(&c.id)))
            .unwrap_or_else(|| "is unchanged".into());
        controller.metrics().source_invalid_commit();
        controller.event(
            project,
            "source",
            EventKind::Warning,
            "InvalidCommit",
            &format!(
                "commit {} by {} ({}): {}; not applied, the running state {running}",
                short_id(&commit.id),
                commit.author,
                commit.subject,
                failed.error
            ),
        );
        eprint!("{}", failed.details);
        self.update(|p| {
            push_history(p, &commit, CommitResult::Invalid, &failed.error);
            p.failed = Some(failed);
        });
    }

    /// Refuses a commit that renames the project while the old project still has
    /// containers: they would keep running unmanaged, out of the mass-removal guard's
    /// sight. Once they are removed (`holdfast delete`), the rename applies.
    async fn check_project_name(
        &self,
        controller: &Controller,
        commit: &CommitInfo,
        state: &holdfast_spec::DesiredState,
    ) -> Result<(), FailedCommit> {
        match controller.check_rename(state).await {
            Err(e @ SetDesiredError::RenameRefused { .. }) => Err(FailedCommit {
                commit: commit.clone(),
                error: format!("{}: {e}", self.config.path),
                details: String::new(),
            }),
            _ => Ok(()),
        }
    }

    /// Publishes whether the source is failing or pinned as metrics.
    fn publish(&self, controller: &Controller) {
        let (failed, pinned) = {
            let p = lock(&self.persisted);
            (p.failed.is_some(), p.pinned.is_some())
        };
        controller.metrics().set_source_state(failed, pinned);
    }

    /// The project events are recorded under: the one in force, else the one last
    /// applied from this source, else `-`.
    fn project(&self, controller: &Controller) -> String {
        controller
            .project()
            .or_else(|| lock(&self.persisted).project.clone())
            .unwrap_or_else(|| "-".into())
    }

    /// Changes the persisted state and saves it.
    fn update(&self, f: impl FnOnce(&mut Persisted)) {
        let mut p = lock(&self.persisted);
        f(&mut p);
        if let Some(store) = &self.store
            && let Err(e) = store.put_doc(&self.store_key, &*p)
        {
            tracing::error!(error = %e, "cannot save the git source's state");
        }
    }

    /// Removes materialised commits other than `keep` and the two most recently
    /// applied ones (reconciles may still read their env and secret files).
    fn prune_checkouts(&self, keep: &str) {
        let recent: Vec<String> = lock(&self.persisted)
            .history
            .iter()
            .rev()
            .filter(|h| h.result != CommitResult::Invalid)
            .take(3)
            .map(|h| h.commit.id.clone())
            .collect();
        let Ok(entries) = std::fs::read_dir(&self.checkouts) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name != keep && !recent.contains(&name) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }

    /// The commit a rollback without a commit goes to: the newest applied commit
    /// before the one in force.
    fn previous_good(&self) -> Option<CommitInfo> {
        let p = lock(&self.persisted);
        let current = p.last_applied.as_ref().map(|c| c.id.clone());
        p.history
            .iter()
            .rev()
            .filter(|h| h.result != CommitResult::Invalid)
            .map(|h| &h.commit)
            .find(|c| Some(&c.id) != current.as_ref())
            .cloned()
    }

    /// Resolves the rollback target and says how the live state differs from it.
    pub async fn rollback_plan(
        &self,
        controller: &Controller,
        commit: Option<&str>,
    ) -> Result<(CommitInfo, Vec<ResourceDiff>), SourceError> {
        // Not while a fetch materialises or prunes checkouts.
        let _busy = self.busy.lock().await;
        let target = match commit {
            Some(id) => {
                let mirror = self.mirror.clone();
                let id = id.to_string();
                blocking(move || mirror.commit(&id)).await?
            }
            None => self
                .previous_good()
                .ok_or(SourceError::NothingToRollBackTo)?,
        };
        let invalid = |error: String| SourceError::InvalidCommit {
            commit: short_id(&target.id).to_string(),
            error,
        };
        let text = self.validate(&target).await.map_err(|f| invalid(f.error))?;
        let state = self.load_as_current(&target.id, &text).map_err(invalid)?;
        let changes = controller.diffs(&state).await;
        Ok((target, changes))
    }

    /// Pins the source to `target` and applies it. New commits are fetched but not
    /// applied until [`GitSource::resume`].
    pub async fn rollback(&self, controller: &Controller, target: &CommitInfo) {
        let _busy = self.busy.lock().await;
        let project = self.project(controller);
        self.update(|p| {
            p.pinned = Some(target.clone());
            // A rollback target is valid (checked by the plan); forget an old refusal.
            if p.failed.as_ref().is_some_and(|f| f.commit.id == target.id) {
                p.failed = None;
            }
        });
        controller.event(
            &project,
            "source",
            EventKind::Normal,
            "Pinned",
            &format!(
                "pinned to {} ({}) by a rollback; new commits are fetched but not applied until `holdfast resume source`",
                short_id(&target.id),
                target.subject
            ),
        );
        self.apply(controller, target, CommitResult::RolledBack)
            .await;
        self.publish(controller);
    }

    /// Follows the reference again after a rollback, and fetches now.
    pub async fn resume(&self, controller: &Controller) {
        let was = lock(&self.persisted).pinned.clone();
        if let Some(pin) = was {
            self.update(|p| p.pinned = None);
            let project = self.project(controller);
            controller.event(
                &project,
                "source",
                EventKind::Normal,
                "Resumed",
                &format!(
                    "unpinned from {}; following {} again",
                    short_id(&pin.id),
                    self.config.reference
                ),
            );
        }
        self.sync(controller).await;
    }
}

fn push_history(p: &mut Persisted, commit: &CommitInfo, result: CommitResult, message: &str) {
    p.history.push_back(HistoryEntry {
        time: now_ms(),
        commit: commit.clone(),
        result,
        message: message.to_string(),
        ready_after_ms: None,
    });
    while p.history.len() > HISTORY_LIMIT {
        p.history.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(url: &str) -> (tempfile::TempDir, Arc<GitSource>) {
        let dir = tempfile::tempdir().unwrap();
        let config = GitSourceConfig {
            url: url.into(),
            reference: GitRef::Branch("main".into()),
            path: "holdfast.yaml".into(),
            interval: Duration::from_secs(60),
            credentials: Credentials::None,
            fetch_timeout: Duration::from_secs(10),
        };
        let source = GitSource::new(config, dir.path(), None).unwrap();
        (dir, source)
    }

    fn commit(id: &str) -> CommitInfo {
        CommitInfo {
            id: id.repeat(40 / id.len()),
            author: "Ada <ada@example.com>".into(),
            subject: format!("commit {id}"),
            time: 0,
        }
    }

    #[test]
    fn checkouts_are_named_after_the_repository_as_a_clone_would_be() {
        for (url, name) in [
            ("https://example.com/acme/infra.git", "infra"),
            ("https://example.com/acme/infra/", "infra"),
            ("git@github.com:acme/web1.git", "web1"),
            ("file:///srv/git/remote.git", "remote"),
            ("/srv/git/servers", "servers"),
        ] {
            let (_dir, s) = source(url);
            let dir = s.checkout_dir("abc");
            assert!(
                dir.ends_with(format!("checkouts/abc/{name}")),
                "{url}: {dir:?}"
            );
        }
    }

    #[test]
    fn rollback_goes_to_the_newest_good_commit_before_the_one_in_force() {
        let (_dir, s) = source("/srv/git/infra.git");
        assert!(s.previous_good().is_none());
        s.update(|p| {
            push_history(p, &commit("a"), CommitResult::Applied, "");
            push_history(p, &commit("b"), CommitResult::HeldBack, "");
            push_history(p, &commit("c"), CommitResult::Invalid, "bad");
            push_history(p, &commit("d"), CommitResult::Applied, "");
            p.last_applied = Some(commit("d"));
        });
        assert_eq!(s.previous_good().map(|c| c.id), Some(commit("b").id));
        // After rolling back to b, the one before b is a (d is newer but was left).
        s.update(|p| {
            push_history(p, &commit("b"), CommitResult::RolledBack, "");
            p.last_applied = Some(commit("b"));
        });
        assert_eq!(s.previous_good().map(|c| c.id), Some(commit("d").id));
    }

    #[test]
    fn history_is_bounded() {
        let (_dir, s) = source("/srv/git/infra.git");
        s.update(|p| {
            for i in 0..(HISTORY_LIMIT + 10) {
                push_history(p, &commit("e"), CommitResult::Applied, &i.to_string());
            }
        });
        let history = s.history();
        assert_eq!(history.len(), HISTORY_LIMIT);
        assert_eq!(history[0].message, "10");
    }

    #[test]
    fn status_shows_the_url_without_credentials() {
        let (_dir, s) = source("https://deploy:s3cret@example.com/acme/infra.git");
        let status = s.status();
        assert_eq!(status.url, "https://example.com/acme/infra.git");
        assert_eq!(status.reference.as_deref(), Some("branch main"));
        assert!(!format!("{s:?}").contains("s3cret"));
    }
}
