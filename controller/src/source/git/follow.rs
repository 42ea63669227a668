//! Following a branch (or a tag, or a pinned commit) of a git repository.
//!
//! [`GitSource`] fetches the repository into a local [mirror](super::repo::Mirror) on a
//! jittered interval and whenever it is [triggered](GitSource::trigger) (webhook,
//! `holdfast reconcile source`), materialises the commit's tree into a fresh directory
//! (`checkout.rs`), loads the desired-state file from there (so that
//! `env_file`, secret files and build contexts resolve inside the same commit) and
//! hands it to its [`DesiredSink`], the controller.
//!
//! A commit whose file is invalid, or that renames the project while the old one
//! still has containers, is never applied: the source reports it and the running state
//! stays on the last good commit. A rollback (`rollback.rs`) pins the source to an
//! earlier commit until `holdfast resume source`. What was applied, refused or held
//! back is kept in the store (`history.rs`), so a restart of the
//! controller carries on from there, even while the remote is unreachable.

use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::Notify;

use super::checkout::Checkouts;
use super::history::Saved;
use super::repo::{CommitInfo, Credentials, GitError, GitRef, Mirror, redact_url, short_id};
use crate::api::types::{CommitResult, FailedCommit, HistoryEntry, SourceKind, SourceStatus};
use crate::runtime::lock;
use crate::runtime::store::{EventKind, Store, now_ms};
use crate::source::{DesiredSink, RollbackPlan, SetDesiredError, SourceControl, SourceError};

/// Where to fetch from and what to follow. Its `Debug` shows the URL without
/// credentials.
#[derive(Clone)]
pub struct GitSourceConfig {
    /// The repository: https://, ssh://, user@host:path, git://, file:// or a path.
    pub url: String,
    /// The branch, tag or commit to follow.
    pub reference: GitRef,
    /// The desired-state files' paths inside the repository, merged in order.
    pub paths: Vec<String>,
    /// How often to fetch without a trigger (±10 % jitter).
    pub interval: Duration,
    /// How to authenticate.
    pub credentials: Credentials,
    /// How long one fetch may take before it is abandoned.
    pub fetch_timeout: Duration,
}

impl GitSourceConfig {
    /// The files' paths as `holdfast get source` shows them: `a.yaml, b.yaml`.
    pub fn shown_paths(&self) -> String {
        self.paths.join(", ")
    }
}

impl std::fmt::Debug for GitSourceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitSourceConfig")
            .field("url", &redact_url(&self.url))
            .field("reference", &self.reference)
            .field("paths", &self.paths)
            .field("interval", &self.interval)
            .field("credentials", &self.credentials)
            .field("fetch_timeout", &self.fetch_timeout)
            .finish()
    }
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
pub struct GitSource {
    pub(super) config: GitSourceConfig,
    pub(super) mirror: Arc<Mirror>,
    pub(super) checkouts: Checkouts,
    pub(super) saved: Saved,
    live: Mutex<Live>,
    wake: Notify,
    /// One fetch-and-apply at a time (poll, webhook, rollback, resume).
    pub(super) busy: tokio::sync::Mutex<()>,
    pub(super) sink: Arc<dyn DesiredSink>,
}

impl std::fmt::Debug for GitSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitSource")
            .field("config", &self.config)
            .field("checkouts", &self.checkouts)
            .field("live", &self.live)
            .finish_non_exhaustive()
    }
}

/// Runs blocking git work off the async threads.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, GitError> + Send + 'static,
) -> Result<T, SourceError> {
    Ok(tokio::task::spawn_blocking(f).await??)
}

impl GitSource {
    /// Opens (or creates) the mirror under `state_dir/git/`, and restores what was
    /// applied before from `store`. Desired states go to `sink`.
    pub fn new(
        config: GitSourceConfig,
        state_dir: &Path,
        store: Option<Arc<Store>>,
        sink: Arc<dyn DesiredSink>,
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
        let mirror = Arc::new(Mirror::open(
            &root.join("mirror.git"),
            &config.url,
            config.credentials.clone(),
        )?);
        let checkouts =
            Checkouts::new(mirror.clone(), root.join("checkouts"), config.paths.clone());
        Ok(Arc::new(GitSource {
            config,
            mirror,
            checkouts,
            saved: Saved::load(store, format!("source/git/{id}")),
            live: Mutex::new(Live::default()),
            wake: Notify::new(),
            busy: tokio::sync::Mutex::new(()),
            sink,
        }))
    }

    /// Asks for a fetch now (a webhook, `holdfast reconcile source`). Triggers that
    /// arrive during a fetch lead to one more fetch after it.
    pub fn trigger(&self) {
        self.wake.notify_one();
    }

    /// Where the source stands.
    pub fn status(&self) -> SourceStatus {
        let p = self.saved.read(Clone::clone);
        let l = lock(&self.live).clone();
        SourceStatus {
            kind: SourceKind::Git,
            url: self.mirror.display_url().to_string(),
            reference: Some(self.config.reference.to_string()),
            path: Some(self.config.shown_paths()),
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
        self.saved.read(|p| p.history.iter().cloned().collect())
    }

    /// Fetches on the interval and on triggers until the sink shuts down. Between
    /// fetches it watches the sink, to note in the history when the commit in force
    /// became Ready everywhere.
    pub async fn run(self: Arc<Self>) {
        let mut closed = self.sink.closed();
        let mut changes = self.sink.subscribe();
        let mut rng = fastrand::Rng::new();
        loop {
            self.sync().await;
            self.note_ready();
            let wait = self.config.interval.mul_f64(0.9 + 0.2 * rng.f64());
            lock(&self.live).next_fetch =
                Some(now_ms() + u64::try_from(wait.as_millis()).unwrap_or(u64::MAX));
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => break,
                    _ = self.wake.notified() => break,
                    Ok(()) = changes.changed() => self.note_ready(),
                    _ = closed.wait_for(|c| *c) => return,
                }
            }
        }
    }

    /// Records, once, how long after it was applied the commit in force had every
    /// service Ready.
    fn note_ready(&self) {
        let Some(revision) = self.sink.revision() else {
            return;
        };
        if !self.saved.read(|p| p.awaits_ready(&revision)) || !self.sink.converged() {
            return;
        }
        self.saved.update(|p| p.note_ready());
    }

    /// One fetch, then applies what the source should be at: the pinned commit, or the
    /// reference's commit. When that cannot be applied (the fetch failed, the commit is
    /// invalid) and the sink has nothing in force yet (just restarted), the last
    /// applied commit is applied again from the local mirror.
    pub async fn sync(&self) {
        let _busy = self.busy.lock().await;
        let fetched = self.fetch().await;
        // A refusal stands for the newest commit only: once the reference has moved on
        // (a new commit, a force-push back to the commit in force), it is history.
        if let Some(commit) = &fetched
            && self
                .saved
                .read(|p| p.failed.as_ref().is_some_and(|f| f.commit.id != commit.id))
        {
            self.saved.update(|p| p.failed = None);
        }
        // Nothing fetched and nothing in force (the remote is down at start-up): the last
        // good commit, below.
        let target = self.saved.read(|p| match (&p.pinned, fetched) {
            (Some(pinned), _) => Some((pinned.clone(), CommitResult::RolledBack)),
            (None, Some(commit)) => Some((commit, CommitResult::Applied)),
            (None, None) => None,
        });
        if let Some((target, result)) = target {
            self.apply(&target, result).await;
        }
        let last = self.saved.read(|p| p.last_applied.clone());
        if self.sink.revision().is_none()
            && let Some(last) = last
        {
            self.apply(&last, CommitResult::Applied).await;
        }
        self.publish();
    }

    /// Fetches the reference; records the outcome. `None` when the fetch failed.
    async fn fetch(&self) -> Option<CommitInfo> {
        let interrupt = Arc::new(AtomicBool::new(false));
        let mirror = self.mirror.clone();
        let reference = self.config.reference.clone();
        let flag = interrupt.clone();
        let task = blocking(move || mirror.fetch(&reference, &flag));
        let result = match tokio::time::timeout(self.config.fetch_timeout, task).await {
            Ok(r) => r,
            Err(_) => {
                interrupt.store(true, Ordering::Relaxed);
                Err(SourceError::FetchTimeout {
                    seconds: self.config.fetch_timeout.as_secs(),
                })
            }
        };
        let project = self.project();
        let now = now_ms();
        match result {
            Ok(commit) => {
                self.sink.record_fetch(true);
                let new = {
                    let mut l = lock(&self.live);
                    let new = l.last_fetched.as_ref().is_none_or(|c| c.id != commit.id);
                    l.last_fetched = Some(commit.clone());
                    l.last_fetch_time = Some(now);
                    l.last_fetch_error = None;
                    new
                };
                if new {
                    self.announce(&project, &commit);
                }
                Some(commit)
            }
            Err(e) => {
                self.sink.record_fetch(false);
                let message = e.to_string();
                let repeated = {
                    let mut l = lock(&self.live);
                    let repeated = l.last_fetch_error.as_deref() == Some(message.as_str());
                    l.last_fetch_error = Some(message.clone());
                    l.last_fetch_time = Some(now);
                    repeated
                };
                if !repeated {
                    self.sink.event(
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
    fn announce(&self, project: &str, commit: &CommitInfo) {
        let (pinned, applied) = self
            .saved
            .read(|p| (p.pinned.clone(), p.last_applied.clone()));
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
        self.sink
            .event(project, "source", EventKind::Normal, reason, &message);
    }

    /// Puts `commit`'s desired state in force, unless it already is. A commit whose file
    /// is invalid, or that renames a project that still has containers, is reported once
    /// per distinct error; it is tried again at every sync, because a file it needs on
    /// this server (a secret) may have appeared since, or the old containers gone.
    pub(super) async fn apply(&self, commit: &CommitInfo, result: CommitResult) {
        if self.sink.revision().as_deref() == Some(commit.id.as_str()) {
            return;
        }
        let (known_error, last_project) = self.saved.read(|p| {
            let known = p
                .failed
                .as_ref()
                .filter(|f| f.commit.id == commit.id)
                .map(|f| f.error.clone());
            (known, p.project.clone())
        });
        let project = self.project();
        let texts = match self.checkouts.validate(commit).await {
            Ok(texts) => texts,
            Err(failed) => {
                self.refuse(&project, failed, known_error.as_deref());
                return;
            }
        };
        let state = match self.checkouts.load_as_current(&commit.id, &texts) {
            Ok(state) => state,
            Err(report) => {
                // Validated a moment ago in its own checkout; only a race can get here.
                tracing::warn!("{}", report.render());
                return;
            }
        };
        let before = match self.checkouts.switch_current(&commit.id) {
            Ok(before) => before,
            Err(e) => {
                let message = format!("cannot switch to {}: {e}", short_id(&commit.id));
                tracing::warn!("{message}; will retry at the next fetch");
                lock(&self.live).last_fetch_error = Some(message);
                return;
            }
        };
        let project_applied = state.name.clone();
        let accepted = match self
            .sink
            .set_desired_at(state, Some(commit.id.clone()), last_project)
            .await
        {
            Ok(accepted) => accepted,
            Err(e) => {
                // The old commit stays in force, with its files.
                if let Err(io) = self.checkouts.restore_current(before) {
                    tracing::warn!(error = %io, "cannot point `current` back at the commit in force");
                }
                self.not_taken(&project, commit, &e, known_error.as_deref());
                return;
            }
        };
        let project = project_applied;
        let held_back = accepted.removal_refused.then(|| {
            format!(
                "commit {} would remove {}; nothing was removed (mass-removal guard). Pass --allow-mass-removal if this is intended",
                short_id(&commit.id),
                accepted.removals.join(", ")
            )
        });
        let result = if held_back.is_some() {
            CommitResult::HeldBack
        } else {
            result
        };
        // After a restart the commit in force is applied again: not news.
        let again = self
            .saved
            .read(|p| p.last_applied.as_ref().is_some_and(|c| c.id == commit.id));
        if !again {
            self.sink.event(
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
        self.saved.update(|p| {
            if !again {
                p.push_history(commit, result, held_back.as_deref().unwrap_or_default());
                p.last_applied_time = Some(now_ms());
            }
            p.project = Some(project.clone());
            p.last_applied = Some(commit.clone());
            // A newer commit of the reference replaces a refused one; applying the same
            // commit again or rolling back leaves the refusal standing.
            if !again && result != CommitResult::RolledBack {
                p.failed = None;
            }
            p.held_back = held_back;
        });
        // Keep the commit in force and the two applied before it: reconciles may still
        // read their env and secret files.
        let mut keep: Vec<String> = self.saved.read(|p| {
            p.in_force_newest_first()
                .take(3)
                .map(|h| h.commit.id.clone())
                .collect()
        });
        keep.push(commit.id.clone());
        self.checkouts.prune(&keep);
    }

    /// A valid commit the sink did not take: a refused rename is a refused commit,
    /// reported like an invalid one; an engine that cannot be asked is retried at the
    /// next fetch.
    fn not_taken(
        &self,
        project: &str,
        commit: &CommitInfo,
        e: &SetDesiredError,
        known_error: Option<&str>,
    ) {
        match e {
            SetDesiredError::RenameRefused { .. } => {
                let failed = FailedCommit {
                    commit: commit.clone(),
                    error: format!("{}: {e}", self.config.shown_paths()),
                    details: String::new(),
                };
                self.refuse(project, failed, known_error);
            }
            SetDesiredError::Owned { .. } => {
                let message = format!("cannot apply {}: {e}", short_id(&commit.id));
                tracing::warn!("{message}; will retry at the next fetch");
                lock(&self.live).last_fetch_error = Some(message);
            }
        }
    }

    /// Records that `failed.commit` is not applied: an event, a line of history, the
    /// metric; once per distinct error (`known_error` is the one already recorded).
    fn refuse(&self, project: &str, failed: FailedCommit, known_error: Option<&str>) {
        if known_error == Some(failed.error.as_str()) {
            return;
        }
        let commit = failed.commit.clone();
        let running = self
            .saved
            .read(|p| p.last_applied.as_ref().map(|c| c.id.clone()))
            .map(|id| format!("stays on {}", short_id(&id)))
            .unwrap_or_else(|| "is unchanged".into());
        self.sink.record_invalid_commit();
        self.sink.event(
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
        self.saved.update(|p| {
            p.push_history(&commit, CommitResult::Invalid, &failed.error);
            p.failed = Some(failed);
        });
    }

    /// Publishes whether the source is failing or pinned as metrics.
    pub(super) fn publish(&self) {
        let (failed, pinned) = self
            .saved
            .read(|p| (p.failed.is_some(), p.pinned.is_some()));
        self.sink.set_source_state(failed, pinned);
    }

    /// The project events are recorded under: the one in force, else the one last
    /// applied from this source, else `-`.
    pub(super) fn project(&self) -> String {
        self.sink
            .project()
            .or_else(|| self.saved.read(|p| p.project.clone()))
            .unwrap_or_else(|| "-".into())
    }
}

/// The API's handle on the git source.
impl SourceControl for GitSource {
    fn status(&self) -> SourceStatus {
        GitSource::status(self)
    }

    fn history(&self) -> Result<Vec<HistoryEntry>, SourceError> {
        Ok(GitSource::history(self))
    }

    fn fetch(&self) -> BoxFuture<'_, Result<SourceStatus, SourceError>> {
        Box::pin(async move {
            self.sync().await;
            Ok(GitSource::status(self))
        })
    }

    fn resume(&self) -> BoxFuture<'_, Result<SourceStatus, SourceError>> {
        Box::pin(async move {
            GitSource::resume(self).await;
            Ok(GitSource::status(self))
        })
    }

    fn rollback_plan<'a>(
        &'a self,
        commit: Option<&'a str>,
    ) -> BoxFuture<'a, Result<RollbackPlan, SourceError>> {
        Box::pin(GitSource::rollback_plan(self, commit))
    }

    fn rollback<'a>(&'a self, target: &'a CommitInfo) -> BoxFuture<'a, Result<(), SourceError>> {
        Box::pin(async move {
            GitSource::rollback(self, target).await;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use holdfast_testkit::git::Remote;

    use super::*;
    use crate::source::testing::FakeSink;

    const AUTHOR: (&str, &str) = ("Ada Lovelace", "ada@example.com");

    /// A desired-state file for project `name` with one service whose image is `tag`.
    fn file(name: &str, tag: &str) -> String {
        format!("name: {name}\nservices:\n  app:\n    image: example/app:{tag}\n")
    }

    fn commit(remote: &Remote, text: &str, message: &str) -> String {
        remote.commit(&[("holdfast.yaml", text)], message, AUTHOR)
    }

    /// A source following `remote`'s `main`, its state under `state_dir` (with a store
    /// there), feeding `sink`.
    fn source(remote: &Remote, state_dir: &Path, sink: Arc<FakeSink>) -> Arc<GitSource> {
        let config = GitSourceConfig {
            url: remote.bare_path().display().to_string(),
            reference: GitRef::Branch("main".into()),
            paths: vec!["holdfast.yaml".into()],
            interval: Duration::from_secs(3600),
            credentials: Credentials::None,
            fetch_timeout: Duration::from_secs(30),
        };
        let store = Arc::new(Store::open(&state_dir.join("store")).unwrap());
        GitSource::new(config, state_dir, Some(store), sink).unwrap()
    }

    /// Where `current` points, relative to the source's folder.
    fn current(source: &GitSource) -> Option<PathBuf> {
        let link = source.checkouts.dir("x");
        let root = link.parent()?.parent()?.parent()?;
        std::fs::read_link(root.join("current")).ok()
    }

    fn results(source: &GitSource) -> Vec<CommitResult> {
        source.history().into_iter().map(|h| h.result).collect()
    }

    /// An empty remote, and a source following it into a fake sink.
    fn following() -> (Remote, tempfile::TempDir, Arc<FakeSink>, Arc<GitSource>) {
        let remote = Remote::new("main");
        let dir = tempfile::tempdir().unwrap();
        let sink = FakeSink::new();
        let s = source(&remote, dir.path(), sink.clone());
        (remote, dir, sink, s)
    }

    #[tokio::test]
    async fn a_new_commit_goes_to_the_sink_with_its_revision() {
        let (remote, _dir, sink, s) = following();
        let a = commit(&remote, &file("web", "1"), "commit A");
        s.sync().await;
        assert_eq!(*lock(&sink.taken), [("web".to_string(), Some(a.clone()))]);
        assert_eq!(current(&s), Some(Path::new("checkouts").join(&a)));
        let status = s.status();
        assert_eq!(status.last_applied.map(|c| c.id), Some(a.clone()));
        assert_eq!(status.last_fetched.map(|c| c.id), Some(a.clone()));
        assert_eq!(results(&s), [CommitResult::Applied]);
        assert_eq!(sink.reasons(), ["Fetched", "CommitApplied"]);
        // Nothing new: nothing handed over again, no event.
        s.sync().await;
        assert_eq!(lock(&sink.taken).len(), 1);
        assert_eq!(sink.reasons().len(), 2);
        // Converged: the commit is noted Ready.
        s.note_ready();
        assert!(s.history()[0].ready_after_ms.is_some());
    }

    #[tokio::test]
    async fn an_invalid_commit_is_refused_once_and_the_last_good_one_stays() {
        let (remote, _dir, sink, s) = following();
        let a = commit(&remote, &file("web", "1"), "commit A");
        s.sync().await;
        let bad = file("web", "2").replace("image:", "imgae:");
        let b = commit(&remote, &bad, "commit B");
        s.sync().await;
        s.sync().await;
        assert_eq!(
            lock(&sink.taken).len(),
            1,
            "the invalid commit was handed over"
        );
        let status = s.status();
        let failed = status.failed.unwrap();
        assert_eq!(failed.commit.id, b);
        assert!(
            failed.error.starts_with("holdfast.yaml:4:5: "),
            "{}",
            failed.error
        );
        assert_eq!(status.last_applied.map(|c| c.id), Some(a.clone()));
        assert_eq!(current(&s), Some(Path::new("checkouts").join(&a)));
        let refusals = sink
            .reasons()
            .iter()
            .filter(|r| *r == "InvalidCommit")
            .count();
        assert_eq!(refusals, 1, "{:?}", sink.reasons());
        assert_eq!(results(&s), [CommitResult::Applied, CommitResult::Invalid]);
        assert_eq!(*lock(&sink.source_state), (true, false));
    }

    #[tokio::test]
    async fn a_rename_the_sink_refuses_is_refused_and_current_stays_on_the_commit_in_force() {
        let (remote, _dir, sink, s) = following();
        let a = commit(&remote, &file("web", "1"), "commit A");
        s.sync().await;
        *lock(&sink.occupied) = Some("web".into());
        let b = commit(
            &remote,
            &file("web-other", "1"),
            "copy another server's file",
        );
        s.sync().await;
        assert_eq!(lock(&sink.taken).len(), 1, "the rename was taken");
        assert_eq!(
            lock(&sink.last_projects).last().cloned(),
            Some(Some("web".to_string()))
        );
        let failed = s.status().failed.unwrap();
        assert_eq!(failed.commit.id, b);
        assert!(
            failed
                .error
                .starts_with("holdfast.yaml: `name: web-other` renames the project `web`"),
            "{}",
            failed.error
        );
        assert_eq!(current(&s), Some(Path::new("checkouts").join(&a)));
        assert_eq!(results(&s), [CommitResult::Applied, CommitResult::Invalid]);
        // Once the old containers are gone, the next sync applies it.
        *lock(&sink.occupied) = None;
        s.sync().await;
        assert_eq!(
            lock(&sink.taken).last().cloned(),
            Some(("web-other".to_string(), Some(b.clone())))
        );
        assert_eq!(current(&s), Some(Path::new("checkouts").join(&b)));
        assert!(s.status().failed.is_none());
    }

    #[tokio::test]
    async fn after_a_restart_the_sink_learns_the_project_last_applied() {
        let remote = Remote::new("main");
        let dir = tempfile::tempdir().unwrap();
        let a = commit(&remote, &file("web", "1"), "commit A");
        {
            let s = source(&remote, dir.path(), FakeSink::new());
            s.sync().await;
        }
        // The restarted controller has nothing in force; the tip renames the project.
        let b = commit(&remote, &file("web-other", "1"), "rename");
        let sink = FakeSink::new();
        *lock(&sink.occupied) = Some("web".into());
        let s = source(&remote, dir.path(), sink.clone());
        s.sync().await;
        assert_eq!(
            lock(&sink.last_projects).first().cloned(),
            Some(Some("web".to_string()))
        );
        // B is refused; A, the last applied commit, is put back in force.
        assert_eq!(s.status().failed.map(|f| f.commit.id), Some(b));
        assert_eq!(*lock(&sink.taken), [("web".to_string(), Some(a.clone()))]);
        assert_eq!(current(&s), Some(Path::new("checkouts").join(&a)));
    }

    #[tokio::test]
    async fn rollback_pins_to_the_previous_commit_until_resumed() {
        let (remote, _dir, sink, s) = following();
        let a = commit(&remote, &file("web", "1"), "commit A");
        s.sync().await;
        commit(&remote, &file("web", "2"), "commit B");
        s.sync().await;
        let plan = s.rollback_plan(None).await.unwrap();
        assert_eq!(plan.target.id, a);
        assert_eq!(plan.changes.len(), 1);
        assert_eq!(plan.changes[0].key, "service/app");
        s.rollback(&plan.target).await;
        assert_eq!(
            lock(&sink.taken).last().and_then(|t| t.1.clone()),
            Some(a.clone())
        );
        assert_eq!(s.status().pinned.map(|c| c.id), Some(a.clone()));
        assert_eq!(*lock(&sink.source_state), (false, true));
        // Pinned: a new commit is fetched but not applied.
        commit(&remote, &file("web", "3"), "commit C");
        s.sync().await;
        assert_eq!(
            lock(&sink.taken).last().and_then(|t| t.1.clone()),
            Some(a.clone())
        );
        assert!(sink.reasons().contains(&"NewCommitNotApplied".to_string()));
        s.resume().await;
        let c = remote.head();
        assert_eq!(lock(&sink.taken).last().and_then(|t| t.1.clone()), Some(c));
        assert_eq!(*lock(&sink.source_state), (false, false));
        assert_eq!(
            results(&s),
            [
                CommitResult::Applied,
                CommitResult::Applied,
                CommitResult::RolledBack,
                CommitResult::Applied
            ]
        );
        assert!(matches!(
            s.rollback_plan(Some("deadbeef")).await,
            Err(SourceError::Git(_))
        ));
    }

    #[test]
    fn status_shows_the_url_without_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let config = GitSourceConfig {
            url: "https://deploy:s3cret@example.com/acme/infra.git".into(),
            reference: GitRef::Branch("main".into()),
            paths: vec!["holdfast.yaml".into()],
            interval: Duration::from_secs(60),
            credentials: Credentials::None,
            fetch_timeout: Duration::from_secs(10),
        };
        let s = GitSource::new(config, dir.path(), None, FakeSink::new()).unwrap();
        let status = s.status();
        assert_eq!(status.url, "https://example.com/acme/infra.git");
        assert_eq!(status.reference.as_deref(), Some("branch main"));
        assert!(!format!("{s:?}").contains("s3cret"));
    }
}
