//! The request and response bodies of the API. The daemon serialises them and the CLI
//! deserialises the very same types, so the two cannot drift apart.

use serde::{Deserialize, Serialize};

pub use crate::runtime::planning::ResourceDiff;
pub use crate::runtime::store::{Event, EventKind, Phase, ResourceStatus};

/// One column of a kind (see [`Column`](crate::runtime::kind::Column)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnInfo {
    /// The header, and the key in [`ResourceStatus::columns`].
    pub name: String,
    /// Where it is shown.
    pub show: crate::runtime::kind::Show,
}

/// `GET /v1/kinds`: one kind the controller drives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindInfo {
    /// Its name, such as `service`.
    pub kind: String,
    /// Other names for it, the plural first (`services`, `svc`).
    pub aliases: Vec<String>,
    /// Its own columns.
    pub columns: Vec<ColumnInfo>,
}

impl KindInfo {
    /// Whether `name` names this kind.
    pub fn is_called(&self, name: &str) -> bool {
        self.kind == name || self.aliases.iter().any(|a| a == name)
    }
}

/// `GET /v1/resources`: every resource of the project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceList {
    /// The project the controller keeps.
    pub project: Option<String>,
    /// Where its desired state comes from (the file's path).
    #[serde(default)]
    pub source: Option<String>,
    /// The kinds the controller drives, with their columns.
    #[serde(default)]
    pub kinds: Vec<KindInfo>,
    /// One entry per resource, sorted by key.
    pub items: Vec<ResourceStatus>,
}

/// One recorded event with its sequence number (for `--since` and watching).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEntry {
    /// Increasing sequence number.
    pub seq: u64,
    /// The event.
    #[serde(flatten)]
    pub event: Event,
}

/// `GET /v1/events`: recent events, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventList {
    /// The events.
    pub items: Vec<EventEntry>,
}

/// `GET /v1/resources/{kind}/{name}`: everything known about one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceDetail {
    /// Its status.
    pub status: ResourceStatus,
    /// Its kind's columns, in order, for `describe`.
    #[serde(default)]
    pub columns: Vec<ColumnInfo>,
    /// Its desired spec, as resolved from the file (absent for a removed service).
    pub desired: Option<serde_json::Value>,
    /// Its most recent events, oldest first.
    pub events: Vec<EventEntry>,
}

/// `POST /v1/reconcile`: ask for a pass now.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReconcileRequest {
    /// The resource (`service/NAME`), or every resource when absent.
    pub key: Option<String>,
    /// How long to wait for the pass to finish, in milliseconds (default 30 000).
    pub timeout_ms: Option<u64>,
}

/// The answer to [`ReconcileRequest`]: the statuses after the pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconcileResponse {
    /// Whether every requested resource was reconciled before the timeout.
    pub completed: bool,
    /// Their statuses.
    pub items: Vec<ResourceStatus>,
}

/// `GET /v1/diff`: every resource, with its diff when it differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffList {
    /// One entry per resource.
    pub items: Vec<ResourceDiff>,
}

/// An error answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: String,
}

pub use crate::source::git::repo::CommitInfo;

/// Where the desired state comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// A file on the server, watched for changes.
    File,
    /// A git repository, fetched periodically and on webhooks.
    Git,
}

/// A commit whose desired-state file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedCommit {
    /// The commit.
    pub commit: CommitInfo,
    /// The first error as `FILE:LINE:COL: message`, with the count of errors.
    pub error: String,
    /// Every error, rendered with the offending lines.
    #[serde(default)]
    pub details: String,
}

/// `GET /v1/source`: where the desired state comes from and how following it goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceStatus {
    /// File or git.
    pub kind: SourceKind,
    /// The file's path, or the repository's URL without credentials.
    pub url: String,
    /// What is followed: `branch main`, `tag v1.2`, `commit 1a2b3c4` (git only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The desired-state file's path inside the repository (git only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The poll interval in milliseconds (git only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<u64>,
    /// The commit the reference pointed at when last fetched.
    #[serde(default)]
    pub last_fetched: Option<CommitInfo>,
    /// When the last fetch finished (unix milliseconds), successful or not.
    #[serde(default)]
    pub last_fetch_time: Option<u64>,
    /// Why the last fetch failed; cleared by a successful one.
    #[serde(default)]
    pub last_fetch_error: Option<String>,
    /// The commit whose desired state is in force.
    #[serde(default)]
    pub last_applied: Option<CommitInfo>,
    /// When it was applied (unix milliseconds).
    #[serde(default)]
    pub last_applied_time: Option<u64>,
    /// The newest commit that was refused because its file is invalid; cleared when a
    /// later commit applies.
    #[serde(default)]
    pub failed: Option<FailedCommit>,
    /// Why the commit in force removes nothing: the mass-removal guard held it back.
    #[serde(default)]
    pub held_back: Option<String>,
    /// The commit a rollback pinned the source to; new commits are fetched but not
    /// applied until `holdfast resume source`.
    #[serde(default)]
    pub pinned: Option<CommitInfo>,
    /// When the next scheduled fetch is due (unix milliseconds).
    #[serde(default)]
    pub next_fetch: Option<u64>,
}

/// What happened to one commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommitResult {
    /// Its desired state was put in force.
    Applied,
    /// Put in force by `holdfast rollback`.
    RolledBack,
    /// Put in force, but the removals it asks for were refused by the mass-removal
    /// guard.
    HeldBack,
    /// Its file does not parse or validate; nothing was changed.
    Invalid,
}

impl std::fmt::Display for CommitResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CommitResult::Applied => "Applied",
            CommitResult::RolledBack => "RolledBack",
            CommitResult::HeldBack => "HeldBack",
            CommitResult::Invalid => "Invalid",
        })
    }
}

/// One line of `holdfast history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When (unix milliseconds).
    pub time: u64,
    /// The commit.
    pub commit: CommitInfo,
    /// What happened.
    pub result: CommitResult,
    /// Details: the error of an invalid commit, what the guard held back.
    #[serde(default)]
    pub message: String,
    /// How long after it was applied every service was Ready under this commit (absent
    /// while converging, for a refused commit, or when a newer one came first).
    #[serde(default)]
    pub ready_after_ms: Option<u64>,
}

/// `GET /v1/history`: commits the source met, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryList {
    /// The entries.
    pub items: Vec<HistoryEntry>,
}

/// `POST /v1/source/rollback`: pin the source to an earlier commit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackRequest {
    /// The commit (full or abbreviated id); the previously applied good commit when
    /// absent.
    #[serde(default)]
    pub commit: Option<String>,
    /// Only say what would change.
    #[serde(default)]
    pub dry_run: bool,
}

/// The answer to a [`RollbackRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackResponse {
    /// The commit rolled back to.
    pub target: CommitInfo,
    /// The commit in force before.
    pub current: Option<CommitInfo>,
    /// Per resource, how the live state differs from the target's desired state.
    pub changes: Vec<ResourceDiff>,
    /// Whether the source is now pinned to `target` (false for a dry run).
    pub applied: bool,
}

/// `GET /v1/updates`: the start-first updates that ended, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateList {
    /// The updates.
    pub items: Vec<crate::resources::service::rollout::record::Finished>,
}

/// `POST /v1/resources/service/NAME/rollback`: go back to an earlier spec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRollbackRequest {
    /// The revision (`holdfast rollout history`); the one before the current when
    /// absent.
    #[serde(default)]
    pub to: Option<u32>,
    /// Only say what would happen.
    #[serde(default)]
    pub dry_run: bool,
}

/// The answer to a [`ServiceRollbackRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRollbackResponse {
    /// The service.
    pub service: String,
    /// The image serving now.
    pub from_image: Option<String>,
    /// The image of the revision gone back to.
    pub to_image: String,
    /// The revision gone back to.
    pub revision: u32,
    /// Whether the rollback was asked for (false for a dry run).
    pub applied: bool,
}
