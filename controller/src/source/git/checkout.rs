//! Commits as folders. Each commit the source applies is materialised from the mirror
//! into `checkouts/<commit>/<repository name>`, its desired-state file validated there
//! with every file it names, and `current`, a symlink beside `checkouts/`, switched to
//! the commit in force. The desired state is loaded as the file under `current/`, so
//! its paths (bind mounts, env files, secret files) stay the same from commit to commit.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::follow::blocking;
use super::repo::{CommitInfo, GitError, Mirror};
use crate::api::types::FailedCommit;

/// The materialised commits of one source, and its `current` link.
#[derive(Debug)]
pub(super) struct Checkouts {
    mirror: Arc<Mirror>,
    /// `STATE_DIR/git/<id>/checkouts`.
    root: PathBuf,
    /// The desired-state files' paths inside the repository, merged in order.
    paths: Vec<String>,
    /// The repository's name, as a clone's folder would be called.
    repository: String,
}

impl Checkouts {
    /// The checkouts of `mirror` under `root`, for the desired-state files at `paths`
    /// in the repository (merged in order).
    pub(super) fn new(mirror: Arc<Mirror>, root: PathBuf, paths: Vec<String>) -> Self {
        let repository = repository_name(mirror.display_url());
        Checkouts {
            mirror,
            root,
            paths,
            repository,
        }
    }

    /// `checkouts/<commit>/<repository name>`.
    pub(super) fn dir(&self, commit: &str) -> PathBuf {
        self.root.join(commit).join(&self.repository)
    }

    /// Materialises `commit` (unless already there) and validates its desired-state
    /// files there, merged, with every file they name. Returns the files' texts.
    pub(super) async fn validate(&self, commit: &CommitInfo) -> Result<Vec<String>, FailedCommit> {
        let failed = |error: String| FailedCommit {
            commit: commit.clone(),
            error,
            details: String::new(),
        };
        let dir = self.dir(&commit.id);
        if !dir.exists() {
            let mirror = self.mirror.clone();
            let id = commit.id.clone();
            let dest = dir.clone();
            let parent = self.root.join(&commit.id);
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
        let files: Vec<PathBuf> = self.paths.iter().map(|p| dir.join(p)).collect();
        let read = files.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            holdfast_spec::load_files(&read, &holdfast_spec::LoadOptions::default())
                .map(|_| files.iter().map(std::fs::read_to_string).collect())
        })
        .await
        .map_err(|e| failed(format!("internal error: {e}")))?;
        match loaded {
            Ok(Ok(texts)) => Ok(texts),
            Ok(Err(e)) => Err(failed(format!("cannot read the file: {e}"))),
            Err(mut report) => {
                // Name the files as they are in the repository, not in the checkout.
                let shown = |p: &Path| p.strip_prefix(&dir).map(Path::to_path_buf).ok();
                if let Some(p) = shown(&report.path) {
                    report.path = p;
                }
                for (path, _) in &mut report.more {
                    if let Some(p) = shown(path) {
                        *path = p;
                    }
                }
                let first = report
                    .first_error()
                    .unwrap_or_else(|| format!("{}: invalid", report.path.display()));
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

    /// Loads `texts`, the validated files of `commit`, as the files under `current/`:
    /// every path in the desired state (bind mounts, env files, secret files) is then
    /// the same from commit to commit, so a commit replaces only the containers whose
    /// spec it changes. `${VAR}` comes from the process environment, then from the
    /// `.env` beside the first file in `commit`'s own checkout (as Compose does), so the
    /// result does not depend on where `current/` points yet.
    pub(super) fn load_as_current(
        &self,
        commit: &str,
        texts: &[String],
    ) -> Result<holdfast_spec::DesiredState, holdfast_spec::Report> {
        let first = Path::new(self.paths.first().map_or("holdfast.yaml", String::as_str));
        let dotenv = self.dir(commit).join(first).with_file_name(".env");
        // Its values interpolate as Compose's do: the environment, then the lines above.
        let mut variables = holdfast_spec::read_dotenv(&dotenv);
        variables.extend(std::env::vars());
        let options = holdfast_spec::LoadOptions {
            variables: Some(variables),
            check_files: false,
            ..holdfast_spec::LoadOptions::default()
        };
        let current = self.current_link().join(&self.repository);
        let files: Vec<(PathBuf, &str)> = self
            .paths
            .iter()
            .map(|p| current.join(p))
            .zip(texts.iter().map(String::as_str))
            .collect();
        holdfast_spec::load_texts(&files, &options).map(|loaded| loaded.state)
    }

    /// `STATE_DIR/git/<id>/current`: a symlink to the checkout of the commit in force.
    fn current_link(&self) -> PathBuf {
        self.root.with_file_name("current")
    }

    /// Points `current` at `commit`'s checkout, atomically (a new link renamed over
    /// the old one). Returns where it pointed before, for [`Checkouts::restore_current`].
    pub(super) fn switch_current(&self, commit: &str) -> std::io::Result<Option<PathBuf>> {
        let before = std::fs::read_link(self.current_link()).ok();
        self.point_current(&Path::new("checkouts").join(commit))?;
        Ok(before)
    }

    /// Points `current` back where [`Checkouts::switch_current`] found it (removes it
    /// when there was none).
    pub(super) fn restore_current(&self, before: Option<PathBuf>) -> std::io::Result<()> {
        match before {
            Some(target) => self.point_current(&target),
            None => std::fs::remove_file(self.current_link()),
        }
    }

    fn point_current(&self, target: &Path) -> std::io::Result<()> {
        let link = self.current_link();
        let temp = link.with_file_name("current.new");
        let _ = std::fs::remove_file(&temp);
        std::os::unix::fs::symlink(target, &temp)?;
        std::fs::rename(&temp, &link)
    }

    /// Removes the materialised commits other than those in `keep` (the one in force,
    /// and recently applied ones that reconciles may still read env and secret files
    /// from).
    pub(super) fn prune(&self, keep: &[String]) {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !keep.contains(&name) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// The repository's name, as a clone's folder would be called, so that a file without
/// `name:` gets the same project name as in a clone.
fn repository_name(url: &str) -> String {
    url.trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .map(|n| n.trim_end_matches(".git"))
        .filter(|n| !n.is_empty() && *n != "." && *n != "..")
        .unwrap_or("repo")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::git::repo::Credentials;

    fn checkouts(dir: &Path, url: &str) -> Checkouts {
        let mirror = Mirror::open(&dir.join("mirror.git"), url, Credentials::None).unwrap();
        Checkouts::new(
            Arc::new(mirror),
            dir.join("checkouts"),
            vec!["holdfast.yaml".into()],
        )
    }

    #[test]
    fn checkouts_are_named_after_the_repository_as_a_clone_would_be() {
        for (url, name) in [
            ("https://example.com/acme/infra.git", "infra"),
            ("https://example.com/acme/infra/", "infra"),
            ("git@github.com:acme/web1.git", "web1"),
            ("file:///srv/git/remote.git", "remote"),
            ("/srv/git/servers", "servers"),
            ("/", "repo"),
        ] {
            assert_eq!(repository_name(url), name, "{url}");
        }
        let dir = tempfile::tempdir().unwrap();
        let c = checkouts(dir.path(), "https://example.com/acme/infra.git");
        assert!(c.dir("abc").ends_with("checkouts/abc/infra"));
    }

    #[test]
    fn current_switches_and_restores() {
        let dir = tempfile::tempdir().unwrap();
        let c = checkouts(dir.path(), "/srv/git/infra.git");
        let link = dir.path().join("current");
        assert_eq!(c.switch_current("a").unwrap(), None);
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("checkouts/a"));
        let before = c.switch_current("b").unwrap();
        assert_eq!(before.as_deref(), Some(Path::new("checkouts/a")));
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("checkouts/b"));
        c.restore_current(before).unwrap();
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("checkouts/a"));
        c.restore_current(None).unwrap();
        assert!(std::fs::symlink_metadata(&link).is_err());
    }

    #[test]
    fn the_commits_dotenv_interpolates_as_composes_does() {
        let dir = tempfile::tempdir().unwrap();
        let c = checkouts(dir.path(), "/srv/git/infra.git");
        std::fs::create_dir_all(c.dir("a")).unwrap();
        std::fs::write(
            c.dir("a").join(".env"),
            "HOLDFAST_TEST_DB_USER=app\nHOLDFAST_TEST_DB_URL=pg://${HOLDFAST_TEST_DB_USER}@db\n",
        )
        .unwrap();
        let text = "name: x\nservices:\n  web:\n    image: busybox\n    environment: {URL: \"${HOLDFAST_TEST_DB_URL}\"}\n";
        let state = c.load_as_current("a", &[text.to_string()]).unwrap();
        assert_eq!(state.services["web"].environment["URL"], "pg://app@db");
    }

    #[test]
    fn prune_keeps_only_what_it_is_told() {
        let dir = tempfile::tempdir().unwrap();
        let c = checkouts(dir.path(), "/srv/git/infra.git");
        for id in ["a", "b", "c"] {
            std::fs::create_dir_all(c.dir(id)).unwrap();
        }
        c.prune(&["a".to_string(), "c".to_string()]);
        assert!(c.dir("a").exists() && !c.dir("b").exists() && c.dir("c").exists());
    }
}
