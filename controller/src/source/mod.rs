//! Where desired state comes from: a local [file](mod@file), watched for changes, or a
//! [git] repository, followed.
//!
//! A source knows the controller only as a [`DesiredSink`]: it hands it each new
//! desired state and asks it what it needs to report (the revision in force, whether it
//! converged, the diff a rollback would make), and records its events and metrics
//! through it. The API steers whichever source there is through [`SourceControl`].
//! So the runtime knows nothing of sources, and a source nothing of the runtime's
//! insides.

pub mod file;
pub mod git;
#[cfg(test)]
pub(crate) mod testing;

use futures_util::future::BoxFuture;
use holdfast_spec::DesiredState;
use tokio::sync::watch;

use crate::api::types::{CommitInfo, HistoryEntry, ResourceDiff, SourceStatus};
use crate::runtime::controller::Controller;
use crate::runtime::store::EventKind;
use git::repo::GitError;

/// What the sink made of a new desired state it took.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acceptance {
    /// Objects (`KIND/NAME`) on the host that the state no longer names.
    pub removals: Vec<String>,
    /// Whether the mass-removal guard refused those removals: the state is in force,
    /// but nothing is removed.
    pub removal_refused: bool,
}

/// Why the sink did not take a desired state; the one in force stays.
pub use crate::runtime::controller::SetDesiredError;

/// What a source needs of the controller it feeds.
pub trait DesiredSink: Send + Sync {
    /// Makes `state` the desired state; `revision` is the git commit it came from.
    /// `last_project` is the project this source applied last, which the sink may not
    /// know yet (just restarted): renaming it, or the project in force, is refused while
    /// it has containers.
    fn set_desired_at(
        &self,
        state: DesiredState,
        revision: Option<String>,
        last_project: Option<String>,
    ) -> BoxFuture<'_, Result<Acceptance, SetDesiredError>>;
    /// How the live state differs from `state`, resource by resource (nothing is
    /// changed): what a rollback to it would do.
    fn diff<'a>(&'a self, state: &'a DesiredState) -> BoxFuture<'a, Vec<ResourceDiff>>;
    /// The project in force, if a desired state was taken.
    fn project(&self) -> Option<String>;
    /// The git commit the desired state in force came from, if any.
    fn revision(&self) -> Option<String>;
    /// Whether everything the desired state in force names is Ready.
    fn converged(&self) -> bool;
    /// A receiver that changes whenever a status or the desired state does.
    fn subscribe(&self) -> watch::Receiver<u64>;
    /// A receiver that turns true on shutdown.
    fn closed(&self) -> watch::Receiver<bool>;
    /// Records an event about `object` (such as `source`) of `project`.
    fn event(&self, project: &str, object: &str, kind: EventKind, reason: &str, message: &str);
    /// Counts one fetch of the git source.
    fn record_fetch(&self, ok: bool);
    /// Counts one commit refused as invalid.
    fn record_invalid_commit(&self);
    /// Publishes whether the source's newest commit was refused, and whether a rollback
    /// pins it.
    fn set_source_state(&self, failing: bool, pinned: bool);
}

/// The rollback a source would make: to which commit, and what would change.
#[derive(Debug, Clone)]
pub struct RollbackPlan {
    /// The commit rolled back to.
    pub target: CommitInfo,
    /// How the live state differs from the target's desired state.
    pub changes: Vec<ResourceDiff>,
}

/// Why a source cannot do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Fetching, history, rollback and resume need a git source.
    #[error(
        "the desired state comes from a file, not git: there is nothing to fetch, roll back or resume"
    )]
    NotGit,
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
    /// A fetch took longer than it may.
    #[error("the fetch did not finish within {seconds}s")]
    FetchTimeout {
        /// The limit, in seconds.
        seconds: u64,
    },
    /// A blocking task panicked or was cancelled.
    #[error("internal error: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// What the API asks of the source: where it stands, and (git only) its history, a
/// fetch now, rollback and resume.
pub trait SourceControl: Send + Sync {
    /// Where the source stands.
    fn status(&self) -> SourceStatus;
    /// The commits met so far, oldest first.
    fn history(&self) -> Result<Vec<HistoryEntry>, SourceError>;
    /// Fetches and applies now; where the source stands then.
    fn fetch(&self) -> BoxFuture<'_, Result<SourceStatus, SourceError>>;
    /// Follows the reference again after a rollback, and fetches now.
    fn resume(&self) -> BoxFuture<'_, Result<SourceStatus, SourceError>>;
    /// Resolves the rollback target (`commit`, else the previous good commit) and says
    /// how the live state differs from it. Changes nothing.
    fn rollback_plan<'a>(
        &'a self,
        commit: Option<&'a str>,
    ) -> BoxFuture<'a, Result<RollbackPlan, SourceError>>;
    /// Pins the source to `target` (from [`SourceControl::rollback_plan`]) and applies it.
    fn rollback<'a>(&'a self, target: &'a CommitInfo) -> BoxFuture<'a, Result<(), SourceError>>;
}

/// The controller as the sources see it.
impl DesiredSink for Controller {
    fn set_desired_at(
        &self,
        state: DesiredState,
        revision: Option<String>,
        last_project: Option<String>,
    ) -> BoxFuture<'_, Result<Acceptance, SetDesiredError>> {
        Box::pin(async move {
            let accepted = self.set_desired_from(state, revision, last_project).await?;
            Ok(Acceptance {
                removals: accepted.removals.iter().map(ToString::to_string).collect(),
                removal_refused: accepted.removal_refused,
            })
        })
    }

    fn diff<'a>(&'a self, state: &'a DesiredState) -> BoxFuture<'a, Vec<ResourceDiff>> {
        Box::pin(self.diffs(state))
    }

    fn project(&self) -> Option<String> {
        Controller::project(self)
    }

    fn revision(&self) -> Option<String> {
        Controller::revision(self)
    }

    fn converged(&self) -> bool {
        Controller::converged(self)
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        Controller::subscribe(self)
    }

    fn closed(&self) -> watch::Receiver<bool> {
        Controller::closed(self)
    }

    fn event(&self, project: &str, object: &str, kind: EventKind, reason: &str, message: &str) {
        Controller::event(self, project, object, kind, reason, message);
    }

    fn record_fetch(&self, ok: bool) {
        self.metrics().source_fetch(ok);
    }

    fn record_invalid_commit(&self) {
        self.metrics().source_invalid_commit();
    }

    fn set_source_state(&self, failing: bool, pinned: bool) {
        self.metrics().set_source_state(failing, pinned);
    }
}
