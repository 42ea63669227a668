//! Rollback and resume: `holdfast rollback [COMMIT]` pins the source to an earlier
//! commit (the previous good one unless named), so that new commits are fetched but not
//! applied; `holdfast resume source` follows the reference again.

use super::follow::{GitSource, blocking};
use super::history::Persisted;
use super::repo::{CommitInfo, short_id};
use crate::api::types::CommitResult;
use crate::runtime::store::EventKind;
use crate::source::{RollbackPlan, SourceError};

impl Persisted {
    /// The commit a rollback without a commit goes to: the newest applied commit
    /// before the one in force.
    pub(super) fn previous_good(&self) -> Option<CommitInfo> {
        let current = self.last_applied.as_ref().map(|c| c.id.clone());
        self.in_force_newest_first()
            .map(|h| &h.commit)
            .find(|c| Some(&c.id) != current.as_ref())
            .cloned()
    }
}

impl GitSource {
    /// Resolves the rollback target (`commit`, else the previous good commit) and says
    /// how the live state differs from it. Changes nothing.
    pub async fn rollback_plan(&self, commit: Option<&str>) -> Result<RollbackPlan, SourceError> {
        // Not while a fetch materialises or prunes checkouts.
        let _busy = self.busy.lock().await;
        let target = match commit {
            Some(id) => {
                let mirror = self.mirror.clone();
                let id = id.to_string();
                blocking(move || mirror.commit(&id)).await?
            }
            None => self
                .saved
                .read(Persisted::previous_good)
                .ok_or(SourceError::NothingToRollBackTo)?,
        };
        let invalid = |error: String| SourceError::InvalidCommit {
            commit: short_id(&target.id).to_string(),
            error,
        };
        let text = self
            .checkouts
            .validate(&target)
            .await
            .map_err(|f| invalid(f.error))?;
        let state = self
            .checkouts
            .load_as_current(&target.id, &text)
            .map_err(|report| invalid(report.render()))?;
        let changes = self.sink.diff(&state).await;
        Ok(RollbackPlan { target, changes })
    }

    /// Pins the source to `target` and applies it. New commits are fetched but not
    /// applied until [`GitSource::resume`].
    pub async fn rollback(&self, target: &CommitInfo) {
        let _busy = self.busy.lock().await;
        let project = self.project();
        self.saved.update(|p| {
            p.pinned = Some(target.clone());
            // A rollback target is valid (checked by the plan); forget an old refusal.
            if p.failed.as_ref().is_some_and(|f| f.commit.id == target.id) {
                p.failed = None;
            }
        });
        self.sink.event(
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
        self.apply(target, CommitResult::RolledBack).await;
        self.publish();
    }

    /// Follows the reference again after a rollback, and fetches now.
    pub async fn resume(&self) {
        let was = self.saved.read(|p| p.pinned.clone());
        if let Some(pin) = was {
            self.saved.update(|p| p.pinned = None);
            let project = self.project();
            self.sink.event(
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
        self.sync().await;
    }
}

#[cfg(test)]
mod tests {
    use super::super::history::test_commit as commit;
    use super::*;

    #[test]
    fn rollback_goes_to_the_newest_good_commit_before_the_one_in_force() {
        let mut p = Persisted::default();
        assert!(p.previous_good().is_none());
        p.push_history(&commit("a"), CommitResult::Applied, "");
        p.push_history(&commit("b"), CommitResult::HeldBack, "");
        p.push_history(&commit("c"), CommitResult::Invalid, "bad");
        p.push_history(&commit("d"), CommitResult::Applied, "");
        p.last_applied = Some(commit("d"));
        assert_eq!(p.previous_good().map(|c| c.id), Some(commit("b").id));
        // After rolling back to b, the one before b is d (newer, but left).
        p.push_history(&commit("b"), CommitResult::RolledBack, "");
        p.last_applied = Some(commit("b"));
        assert_eq!(p.previous_good().map(|c| c.id), Some(commit("d").id));
    }
}
