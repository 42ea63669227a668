//! A desired-state file on local disk, watched for changes.
//!
//! The watcher follows the file's folder, not the file: editors and `git checkout`
//! replace the file (a new inode), which a watch on the file itself would miss. Every
//! notification only says "look again"; the controller re-reads the file and acts only
//! when its content changed.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::{DesiredSink, RollbackPlan, SetDesiredError, SourceControl, SourceError};
use crate::api::types::{CommitInfo, HistoryEntry, SourceKind, SourceStatus};
use crate::runtime::lock;
use crate::runtime::store::EventKind;

/// A desired-state file on this server (or several, merged in order as Compose merges
/// them), loaded into its [`DesiredSink`] whenever their content changes and is valid.
/// A bad file changes nothing.
pub struct FileSource {
    /// The first file, as given.
    path: PathBuf,
    /// The files merged over it, as given.
    more: Vec<PathBuf>,
    /// The active profiles and the other load options.
    options: holdfast_spec::LoadOptions,
    /// The files' absolute paths, as shown (joined with ` + `).
    shown: String,
    sink: Arc<dyn DesiredSink>,
    /// The text last loaded, so that an unchanged file is not loaded again.
    last_text: Mutex<Option<String>>,
}

impl std::fmt::Debug for FileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSource")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl FileSource {
    /// The file at `path`, feeding `sink`. Nothing is read yet: see
    /// [`FileSource::reload`].
    pub fn new(path: &Path, sink: Arc<dyn DesiredSink>) -> Arc<Self> {
        Self::layered(
            &[path.to_path_buf()],
            holdfast_spec::LoadOptions::default(),
            sink,
        )
    }

    /// The files at `paths`, merged in order and loaded with `options`, feeding `sink`.
    /// `paths` must not be empty (an empty list reads `holdfast.yaml`).
    pub fn layered(
        paths: &[PathBuf],
        options: holdfast_spec::LoadOptions,
        sink: Arc<dyn DesiredSink>,
    ) -> Arc<Self> {
        let (path, more) = match paths.split_first() {
            Some((first, more)) => (first.clone(), more.to_vec()),
            None => (PathBuf::from("holdfast.yaml"), Vec::new()),
        };
        let shown = std::iter::once(&path)
            .chain(&more)
            .map(|p| {
                std::path::absolute(p)
                    .unwrap_or_else(|_| p.clone())
                    .display()
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join(" + ");
        Arc::new(FileSource {
            path,
            more,
            options,
            shown,
            sink,
            last_text: Mutex::new(None),
        })
    }

    /// The file's absolute path, as shown in status and `holdfast trace`.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Reloads the file whenever `changes` (from [`watch`], kept alive by `watch`) says
    /// it may have changed, after a quiet 100 ms, until the sink shuts down. On its own
    /// task, so that nothing else cancels a wait for quiet and loses the change.
    pub async fn run(self: Arc<Self>, watch: FileWatch, mut changes: mpsc::Receiver<()>) {
        let _watch = watch;
        let mut closed = self.sink.closed();
        loop {
            let changed = tokio::select! {
                changed = debounced(&mut changes, Duration::from_millis(100)) => changed,
                _ = closed.wait_for(|c| *c) => None,
            };
            match changed {
                Some(()) => self.reload().await,
                None => return,
            }
        }
    }

    /// Re-reads the file; hands it to the sink when it changed and is valid, reports it
    /// when not.
    pub async fn reload(&self) {
        let path = &self.path;
        let mut text = String::new();
        for file in std::iter::once(path).chain(&self.more) {
            match std::fs::read_to_string(file) {
                Ok(t) => {
                    text.push_str(&t);
                    text.push('\0');
                }
                Err(e) => {
                    tracing::warn!(file = %file.display(), error = %e, "cannot read the desired-state file; keeping the running state");
                    return;
                }
            }
        }
        {
            let mut last = lock(&self.last_text);
            if last.as_deref() == Some(text.as_str()) {
                return;
            }
            *last = Some(text.clone());
        }
        let project = || self.sink.project().unwrap_or_else(|| "-".into());
        let paths: Vec<PathBuf> = std::iter::once(path).chain(&self.more).cloned().collect();
        match holdfast_spec::load_files(&paths, &self.options) {
            Err(report) => {
                self.sink.event(
                    &project(),
                    "project",
                    EventKind::Warning,
                    "InvalidSpec",
                    &format!(
                        "{} ({} errors); the running state is kept",
                        report.first_error().unwrap_or_default(),
                        report.error_count()
                    ),
                );
                eprint!("{}", report.render());
            }
            Ok(loaded) if !loaded.state.not_applied_yet().is_empty() => {
                self.sink.event(
                    &project(),
                    "project",
                    EventKind::Warning,
                    "NotAppliedYet",
                    &format!(
                        "{}: holdfast cannot apply {} yet; the running state is kept",
                        self.shown,
                        loaded.state.not_applied_yet().join("; ")
                    ),
                );
            }
            Ok(loaded) => match self.sink.set_desired_at(loaded.state, None, None).await {
                Ok(_) => {}
                Err(e) => {
                    // Not taken: the same text is tried again at the next save.
                    *lock(&self.last_text) = None;
                    self.refused(&project(), path, &e);
                }
            },
        }
    }

    /// Reports a valid file that the sink did not take.
    fn refused(&self, project: &str, path: &Path, e: &SetDesiredError) {
        match e {
            SetDesiredError::RenameRefused { .. } => {
                self.sink.event(
                    project,
                    "project",
                    EventKind::Warning,
                    "RenameRefused",
                    &format!("{}: {e}; the running state is kept", path.display()),
                );
            }
            SetDesiredError::Owned { .. } => {
                tracing::warn!(error = %e, "cannot list the project's objects; will retry at the next save of the file");
            }
        }
    }
}

/// The API's handle on the file source: its status; the rest is for git only.
impl SourceControl for FileSource {
    fn status(&self) -> SourceStatus {
        SourceStatus {
            kind: SourceKind::File,
            url: self.shown.clone(),
            reference: None,
            path: None,
            interval_ms: None,
            last_fetched: None,
            last_fetch_time: None,
            last_fetch_error: None,
            last_applied: None,
            last_applied_time: None,
            failed: None,
            held_back: None,
            pinned: None,
            next_fetch: None,
        }
    }

    fn history(&self) -> Result<Vec<HistoryEntry>, SourceError> {
        Err(SourceError::NotGit)
    }

    fn fetch(&self) -> BoxFuture<'_, Result<SourceStatus, SourceError>> {
        Box::pin(async { Err(SourceError::NotGit) })
    }

    fn resume(&self) -> BoxFuture<'_, Result<SourceStatus, SourceError>> {
        Box::pin(async { Err(SourceError::NotGit) })
    }

    fn rollback_plan<'a>(
        &'a self,
        _commit: Option<&'a str>,
    ) -> BoxFuture<'a, Result<RollbackPlan, SourceError>> {
        Box::pin(async { Err(SourceError::NotGit) })
    }

    fn rollback<'a>(&'a self, _target: &'a CommitInfo) -> BoxFuture<'a, Result<(), SourceError>> {
        Box::pin(async { Err(SourceError::NotGit) })
    }
}

/// Keeps the watcher alive; dropping it stops watching.
pub struct FileWatch {
    _watcher: notify::RecommendedWatcher,
}

impl std::fmt::Debug for FileWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileWatch")
    }
}

/// Watches `path`'s folder and sends `()` on `tx` (coalesced) whenever something there
/// may have changed the file.
pub fn watch(path: &Path, tx: mpsc::Sender<()>) -> Result<FileWatch, notify::Error> {
    watch_all(&[path.to_path_buf()], tx)
}

/// [`watch`] for several files: `()` whenever one of them may have changed.
pub fn watch_all(paths: &[PathBuf], tx: mpsc::Sender<()>) -> Result<FileWatch, notify::Error> {
    let files: Vec<PathBuf> = paths
        .iter()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
        .collect();
    let mut folders: Vec<PathBuf> = files
        .iter()
        .map(|f| {
            f.parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."))
        })
        .collect();
    folders.dedup();
    let names: Vec<_> = files
        .iter()
        .filter_map(|f| f.file_name().map(|n| n.to_os_string()))
        .collect();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        let touches_file = event
            .paths
            .iter()
            .any(|p| p.file_name().is_some_and(|n| names.iter().any(|m| m == n)));
        if touches_file {
            // A full channel already holds a pending "look again".
            let _ = tx.try_send(());
        }
    })?;
    for folder in &folders {
        watcher.watch(folder, RecursiveMode::NonRecursive)?;
    }
    Ok(FileWatch { _watcher: watcher })
}

/// Waits for the first signal, then for a quiet `window`, so that an editor's burst of
/// writes leads to one reload.
pub async fn debounced(rx: &mut mpsc::Receiver<()>, window: Duration) -> Option<()> {
    rx.recv().await?;
    loop {
        match tokio::time::timeout(window, rx.recv()).await {
            Ok(Some(())) => continue,
            Ok(None) => return Some(()),
            Err(_) => return Some(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::testing::FakeSink;

    /// A file source on `holdfast.yaml` in a new folder (not written yet), feeding a
    /// fake sink.
    fn watching() -> (tempfile::TempDir, PathBuf, Arc<FakeSink>, Arc<FileSource>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("holdfast.yaml");
        let sink = FakeSink::new();
        let file = FileSource::new(&path, sink.clone());
        (dir, path, sink, file)
    }

    fn write(path: &Path, name: &str, image: &str) {
        std::fs::write(
            path,
            format!("name: {name}\nservices:\n  app:\n    {image}: example/app:1\n"),
        )
        .unwrap();
    }

    #[tokio::test]
    async fn a_changed_valid_file_goes_to_the_sink_and_a_bad_one_is_reported() {
        let (_dir, path, sink, file) = watching();
        // Missing: nothing happens.
        file.reload().await;
        assert!(lock(&sink.taken).is_empty());
        write(&path, "web", "image");
        file.reload().await;
        file.reload().await;
        assert_eq!(*lock(&sink.taken), [("web".to_string(), None)]);
        write(&path, "web", "imgae");
        file.reload().await;
        assert_eq!(lock(&sink.taken).len(), 1);
        let events = lock(&sink.events).clone();
        let (project, object, reason, message) = events.last().cloned().unwrap();
        assert_eq!((project.as_str(), object.as_str()), ("web", "project"));
        assert_eq!(reason, "InvalidSpec");
        let place = format!("{}:4:5: ", path.display());
        assert!(message.starts_with(&place), "{message}");
        assert!(
            message.ends_with("(1 errors); the running state is kept"),
            "{message}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn run_reloads_on_each_change_until_the_watch_ends() {
        let (_dir, path, sink, file) = watching();
        write(&path, "web", "image");
        let (spare, _) = mpsc::channel(1);
        let watch = super::watch(&path, spare).unwrap();
        let (tx, rx) = mpsc::channel(1);
        let task = tokio::spawn(file.clone().run(watch, rx));
        let mut taken = sink.subscribe();
        tx.send(()).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), taken.changed())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(*lock(&sink.taken), [("web".to_string(), None)]);
        write(&path, "web-2", "image");
        tx.send(()).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), taken.changed())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(lock(&sink.taken).len(), 2);
        drop(tx);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn a_rename_the_sink_refuses_is_reported() {
        let (_dir, path, sink, file) = watching();
        write(&path, "web", "image");
        file.reload().await;
        *lock(&sink.occupied) = Some("web".into());
        write(&path, "web-other", "image");
        file.reload().await;
        assert_eq!(*lock(&sink.taken), [("web".to_string(), None)]);
        assert_eq!(sink.reasons(), ["RenameRefused"]);
    }

    #[tokio::test]
    async fn the_file_source_shows_its_path_and_refuses_git_only_requests() {
        let (_dir, path, _, file) = watching();
        let status = file.status();
        assert_eq!(status.kind, SourceKind::File);
        assert_eq!(status.url, path.display().to_string());
        assert!(matches!(file.history(), Err(SourceError::NotGit)));
        assert!(matches!(file.fetch().await, Err(SourceError::NotGit)));
        assert!(matches!(file.resume().await, Err(SourceError::NotGit)));
        assert!(matches!(
            file.rollback_plan(None).await,
            Err(SourceError::NotGit)
        ));
    }
}
