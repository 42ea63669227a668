//! What the git source remembers across restarts: the commit in force, a rollback's
//! pin, the refused commit, a held-back removal, and the history of the commits met,
//! kept as one document in the store.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::repo::CommitInfo;
use crate::api::types::{CommitResult, FailedCommit, HistoryEntry};
use crate::runtime::lock;
use crate::runtime::store::{Store, now_ms};

/// How many history entries are kept.
pub(super) const HISTORY_LIMIT: usize = 200;

/// The store document of one git source.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Persisted {
    /// The project of the last applied commit, so that events before the first apply
    /// after a restart name it, and a rename from it is refused.
    #[serde(default)]
    pub(super) project: Option<String>,
    /// The commit in force.
    pub(super) last_applied: Option<CommitInfo>,
    /// When it was applied (unix milliseconds).
    pub(super) last_applied_time: Option<u64>,
    /// The commit a rollback pinned the source to.
    pub(super) pinned: Option<CommitInfo>,
    /// The newest commit, refused.
    pub(super) failed: Option<FailedCommit>,
    /// Why the commit in force removes nothing (the mass-removal guard).
    pub(super) held_back: Option<String>,
    /// The commits met, oldest first, at most [`HISTORY_LIMIT`].
    pub(super) history: VecDeque<HistoryEntry>,
}

impl Persisted {
    /// Appends a history entry for `commit`, dropping the oldest beyond the limit.
    pub(super) fn push_history(
        &mut self,
        commit: &CommitInfo,
        result: CommitResult,
        message: &str,
    ) {
        self.history.push_back(HistoryEntry {
            time: now_ms(),
            commit: commit.clone(),
            result,
            message: message.to_string(),
            ready_after_ms: None,
        });
        while self.history.len() > HISTORY_LIMIT {
            self.history.pop_front();
        }
    }

    /// The history entries of commits that were put in force (not refused), newest
    /// first.
    pub(super) fn in_force_newest_first(&self) -> impl Iterator<Item = &HistoryEntry> {
        self.history
            .iter()
            .rev()
            .filter(|h| h.result != CommitResult::Invalid)
    }

    /// Whether `revision`, the commit in force, is the newest commit put in force and
    /// has not been noted Ready yet.
    pub(super) fn awaits_ready(&self, revision: &str) -> bool {
        self.in_force_newest_first()
            .next()
            .is_some_and(|h| h.commit.id == revision && h.ready_after_ms.is_none())
    }

    /// Notes that the newest commit put in force is Ready everywhere now.
    pub(super) fn note_ready(&mut self) {
        if let Some(h) = self
            .history
            .iter_mut()
            .rev()
            .find(|h| h.result != CommitResult::Invalid)
        {
            h.ready_after_ms = Some(now_ms().saturating_sub(h.time));
        }
    }
}

/// The [`Persisted`] document in memory, saved to the store on every change.
#[derive(Debug)]
pub(super) struct Saved {
    store: Option<Arc<Store>>,
    key: String,
    doc: Mutex<Persisted>,
}

impl Saved {
    /// Reads the document `key` from `store`; an empty one when there is none or it
    /// cannot be read.
    pub(super) fn load(store: Option<Arc<Store>>, key: String) -> Self {
        let doc = store
            .as_ref()
            .and_then(|s| match s.doc::<Persisted>(&key) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the git source's saved state; starting afresh");
                    None
                }
            })
            .unwrap_or_default();
        Saved {
            store,
            key,
            doc: Mutex::new(doc),
        }
    }

    /// Reads the document.
    pub(super) fn read<T>(&self, f: impl FnOnce(&Persisted) -> T) -> T {
        f(&lock(&self.doc))
    }

    /// Changes the document and saves it.
    pub(super) fn update(&self, f: impl FnOnce(&mut Persisted)) {
        let mut p = lock(&self.doc);
        f(&mut p);
        if let Some(store) = &self.store
            && let Err(e) = store.put_doc(&self.key, &*p)
        {
            tracing::error!(error = %e, "cannot save the git source's state");
        }
    }
}

/// A commit whose id is `id` repeated, for tests.
#[cfg(test)]
pub(super) fn test_commit(id: &str) -> CommitInfo {
    CommitInfo {
        id: id.repeat(40 / id.len()),
        author: "Ada <ada@example.com>".into(),
        subject: format!("commit {id}"),
        time: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::test_commit as commit;
    use super::*;

    #[test]
    fn history_is_bounded() {
        let mut p = Persisted::default();
        for i in 0..(HISTORY_LIMIT + 10) {
            p.push_history(&commit("e"), CommitResult::Applied, &i.to_string());
        }
        assert_eq!(p.history.len(), HISTORY_LIMIT);
        assert_eq!(p.history[0].message, "10");
    }

    #[test]
    fn ready_is_noted_once_for_the_newest_commit_in_force() {
        let mut p = Persisted::default();
        p.push_history(&commit("a"), CommitResult::Applied, "");
        p.push_history(&commit("b"), CommitResult::Invalid, "bad");
        // The refused B does not count: A, in force, waits to be noted Ready.
        assert!(p.awaits_ready(&commit("a").id));
        assert!(!p.awaits_ready(&commit("b").id));
        p.note_ready();
        assert!(p.history[0].ready_after_ms.is_some());
        assert!(p.history[1].ready_after_ms.is_none());
        assert!(!p.awaits_ready(&commit("a").id));
    }

    #[test]
    fn the_document_survives_a_reload_from_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let saved = Saved::load(Some(store.clone()), "source/git/test".into());
        saved.update(|p| {
            p.project = Some("web".into());
            p.push_history(&commit("a"), CommitResult::Applied, "");
        });
        drop(saved);
        let again = Saved::load(Some(store), "source/git/test".into());
        assert_eq!(again.read(|p| p.project.clone()).as_deref(), Some("web"));
        assert_eq!(again.read(|p| p.history.len()), 1);
    }
}
