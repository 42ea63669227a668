//! The request and response bodies of the API. The daemon serialises them and the CLI
//! deserialises the very same types, so the two cannot drift apart.

use serde::{Deserialize, Serialize};

pub use crate::runtime::store::{Event, EventKind, Phase, ResourceStatus};

/// `GET /v1/resources`: every resource of the project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceList {
    /// The project the controller keeps.
    pub project: Option<String>,
    /// Where its desired state comes from (the file's path).
    #[serde(default)]
    pub source: Option<String>,
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

/// One resource's desired-vs-live diff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceDiff {
    /// The resource, such as `service/web`.
    pub key: String,
    /// The unified diff (`--- live/…`, `+++ desired/…`), absent when nothing differs.
    pub diff: Option<String>,
    /// Why the resource could not be compared, if it could not.
    pub error: Option<String>,
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
