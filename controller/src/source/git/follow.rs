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

use super::repo::{CommitInfo, Credentials, GitError, GitRef, Mirror, redact_url};
use crate::api::types::{
    CommitResult, FailedCommit, HistoryEntry, ResourceDiff, SourceKind, SourceStatus,
};
use crate::runtime::controller::Controller;
use crate::runtime::store::{EventKind, Store, now_ms};

/// How many history entries are kept.
const HISTORY_LIMIT: usize = 200;

/// Where to fetch from and what to follow.
#[derive(Debug, Clone)]
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

/// A desired state loaded from one commit.
struct Loaded {
    state: holdfast_spec::DesiredState,
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn short(id: &str) -> &str {
    &id[..7.min(id.len())]
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
    pub async fn run(self: Arc<Self>, controller: Arc<Controller>) {
        let mut closed = controller.closed();
        let mut rng = fastrand::Rng::new();
        loop {
            self.sync(&controller).await;
            let wait = self.config.interval.mul_f64(0.9 + 0.2 * rng.f64());
            lock(&self.live).next_fetch =
                Some(now_ms() + u64::try_from(wait.as_millis()).unwrap_or(u64::MAX));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
                _ = closed.wait_for(|c| *c) => return,
            }
        }
    }

    /// One fetch, then applies what the source should be at: the pinned commit, or the
    /// reference's commit. When the fetch fails and the controller has nothing in
    /// force yet (just restarted), the last applied commit is applied from the mirror.
    pub async fn sync(&self, controller: &Controller) {
        let _busy = self.busy.lock().await;
        let fetched = self.fetch(controller).await;
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
                let pinned = lock(&self.persisted).pinned.clone();
                let new = {
                    let mut l = lock(&self.live);
                    let new = l.last_fetched.as_ref().is_none_or(|c| c.id != commit.id);
                    l.last_fetched = Some(commit.clone());
                    l.last_fetch_time = Some(now);
                    l.last_fetch_error = None;
                    new
                };
                if new {
                    let applied = lock(&self.persisted).last_applied.clone();
                    match pinned {
                        Some(pin) if pin.id != commit.id => controller.event(
                            &project,
                            "source",
                            EventKind::Normal,
                            "NewCommitNotApplied",
                            &format!(
                                "fetched {} ({}, {}); not applied: pinned to {} by a rollback until `holdfast resume source`",
                                short(&commit.id),
                                commit.subject,
                                commit.author,
                                short(&pin.id)
                            ),
                        ),
                        _ if applied.as_ref().is_none_or(|a| a.id != commit.id) => {
                            controller.event(
                                &project,
                                "source",
                                EventKind::Normal,
                                "Fetched",
                                &format!(
                                    "{} {} is at {} ({}, {})",
                                    self.mirror.display_url(),
                                    self.config.reference,
                                    short(&commit.id),
                                    commit.subject,
                                    commit.author
                                ),
                            );
                        }
                        _ => {}
                    }
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

    /// Materialises `commit` (unless already there) and loads its desired-state file.
    async fn load(&self, commit: &CommitInfo) -> Result<Loaded, FailedCommit> {
        let dir = self.checkout_dir(&commit.id);
        if !dir.exists() {
            let mirror = self.mirror.clone();
            let id = commit.id.clone();
            let dest = dir.clone();
            let parent = self.checkouts.join(&commit.id);
            let done = blocking(move || {
                std::fs::create_dir_all(&parent).map_err(|e| GitError::Checkout {
                    path: parent.clone(),
                    message: e.to_string(),
                })?;
                mirror.checkout(&id, &dest)
            })
            .await;
            if let Err(e) = done {
                return Err(FailedCommit {
                    commit: commit.clone(),
                    error: format!("cannot check out the commit: {e}"),
                    details: String::new(),
                });
            }
        }
        let file = dir.join(&self.config.path);
        let shown = PathBuf::from(&self.config.path);
        let loaded = tokio::task::spawn_blocking(move || {
            holdfast_spec::load_file(&file, &holdfast_spec::LoadOptions::default())
        })
        .await;
        match loaded {
            Ok(Ok(loaded)) => Ok(Loaded {
                state: loaded.state,
            }),
            Ok(Err(mut report)) => {
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
            Err(e) => Err(FailedCommit {
                commit: commit.clone(),
                error: format!("internal error: {e}"),
                details: String::new(),
            }),
        }
    }

    /// `checkouts/<commit>/<repository name>`: the folder's name is the repository's,
    /// as in a clone, so that a file without `name:` gets the same project name.
    fn checkout_dir(&self, commit: &str) -> PathBuf {
        let name = self
            .mirror
            .display_url()
            .trim_end_matches('/')
            .rsplit(['/', ':'])
            .next()
            .map(|n| n.trim_end_matches(".git"))
            .filter(|n| !n.is_empty() && *n != "." && *n != "..")
            .unwrap_or("repo")
            .to_string();
        self.checkouts.join(commit).join(name)
    }

    /// Puts `commit`'s desired state in force, unless it already is or is known bad.
    async fn apply(&self, controller: &Controller, commit: &CommitInfo, result: CommitResult) {
        if controller.revision().as_deref() == Some(commit.id.as_str()) {
            return;
        }
        if lock(&self.persisted)
            .failed
            .as_ref()
            .is_some_and(|f| f.commit.id == commit.id)
        {
            return;
        }
        let project = self.project(controller);
        match self.load(commit).await {
            Err(failed) => {
                let running = lock(&self.persisted)
                    .last_applied
                    .as_ref()
                    .map(|c| format!("stays on {}", short(&c.id)))
                    .unwrap_or_else(|| "is unchanged".into());
                controller.metrics().source_invalid_commit();
                controller.event(
                    &project,
                    "source",
                    EventKind::Warning,
                    "InvalidCommit",
                    &format!(
                        "commit {} by {} ({}): {}; not applied, the running state {running}",
                        short(&commit.id),
                        commit.author,
                        commit.subject,
                        failed.error
                    ),
                );
                eprint!("{}", failed.details);
                self.update(|p| {
                    push_history(p, commit, CommitResult::Invalid, &failed.error);
                    p.failed = Some(failed);
                });
            }
            Ok(loaded) => {
                let project = loaded.state.name.clone();
                match controller
                    .set_desired_at(loaded.state, Some(commit.id.clone()))
                    .await
                {
                    Err(e) => {
                        let message = format!("cannot apply {}: {e}", short(&commit.id));
                        tracing::warn!("{message}; will retry at the next fetch");
                        lock(&self.live).last_fetch_error = Some(message);
                    }
                    Ok(accepted) => {
                        let held_back = accepted.removal_refused.then(|| {
                            format!(
                                "commit {} would remove {}; nothing was removed (mass-removal guard). Pass --allow-mass-removal if this is intended",
                                short(&commit.id),
                                accepted.removals.join(", ")
                            )
                        });
                        let result = if held_back.is_some() {
                            CommitResult::HeldBack
                        } else {
                            result
                        };
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
                                short(&commit.id),
                                commit.subject,
                                commit.author
                            ),
                        );
                        self.update(|p| {
                            push_history(
                                p,
                                commit,
                                result,
                                held_back.as_deref().unwrap_or_default(),
                            );
                            p.project = Some(project.clone());
                            p.last_applied = Some(commit.clone());
                            p.last_applied_time = Some(now_ms());
                            p.failed = None;
                            p.held_back = held_back;
                        });
                        self.prune_checkouts(&commit.id);
                    }
                }
            }
        }
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
        let loaded = self
            .load(&target)
            .await
            .map_err(|f| SourceError::InvalidCommit {
                commit: short(&target.id).to_string(),
                error: f.error,
            })?;
        let changes = controller.diffs(&loaded.state).await;
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
                short(&target.id),
                target.subject
            ),
        );
        self.apply(controller, target, CommitResult::RolledBack)
            .await;
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
                    short(&pin.id),
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
    });
    while p.history.len() > HISTORY_LIMIT {
        p.history.pop_front();
    }
}
