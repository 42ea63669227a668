//! The embedded status and event store: what the controller knows about each resource
//! (phase, last error, retries, drift) and the recent events, kept in one redb file,
//! `STATE_DIR/holdfast.redb`, so both survive a restart of the controller.
//!
//! Every write is one durable redb write transaction. Reads use redb's MVCC snapshots, so
//! they never wait for a writer and a writer never waits for them. [`Store`] is `Send +
//! Sync`; share it with an `Arc`.
//!
//! redb takes an exclusive lock on the file, so only one process can have the store open
//! at a time — a second controller (or a CLI that opens the file directly, even read-only)
//! on the same state directory gets [`StoreError::AlreadyOpen`]. Other processes must ask
//! the running controller instead.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};

/// The state directory used when neither `--state-dir` nor `HOLDFAST_STATE_DIR` is given.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/holdfast";

/// The environment variable that overrides [`DEFAULT_STATE_DIR`].
pub const STATE_DIR_ENV: &str = "HOLDFAST_STATE_DIR";

/// The name of the store's file inside the state directory.
pub const STORE_FILE_NAME: &str = "holdfast.redb";

/// How many events a store keeps unless told otherwise; older ones are trimmed.
pub const DEFAULT_MAX_EVENTS: usize = 1000;

/// The state directory to use when `--state-dir` is not given: `HOLDFAST_STATE_DIR` if it
/// is set and not empty, otherwise [`DEFAULT_STATE_DIR`].
pub fn default_state_dir() -> PathBuf {
    state_dir_from(std::env::var_os(STATE_DIR_ENV))
}

fn state_dir_from(env_value: Option<std::ffi::OsString>) -> PathBuf {
    match env_value {
        Some(value) if !value.is_empty() => PathBuf::from(value),
        _ => PathBuf::from(DEFAULT_STATE_DIR),
    }
}

/// The current time as milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Resource status, keyed by (project, resource key).
const STATUS: TableDefinition<(&str, &str), &str> = TableDefinition::new("status");
/// Events, keyed by their sequence number.
const EVENTS: TableDefinition<u64, &str> = TableDefinition::new("events");
/// Small counters; holds [`NEXT_EVENT_SEQ`].
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Small JSON documents by name, such as the git source's state and history.
const DOCS: TableDefinition<&str, &str> = TableDefinition::new("docs");
/// The sequence number the next recorded event gets. Kept apart from the events table so
/// numbers are never reused, even when every event has been trimmed.
const NEXT_EVENT_SEQ: &str = "next_event_seq";

/// Why the store could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The state directory does not exist and could not be created.
    #[error(
        "cannot create the state directory `{}`: {source}; create it, writable by the controller, or choose another with --state-dir or HOLDFAST_STATE_DIR",
        path.display()
    )]
    CreateDir {
        /// The state directory.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// Another process holds the lock on the store's file: two controllers must never
    /// manage the same state directory.
    #[error(
        "another holdfast controller is using `{}` (it holds the lock on `{}`); stop that controller first, or give this one a different --state-dir or HOLDFAST_STATE_DIR",
        state_dir.display(),
        file.display()
    )]
    AlreadyOpen {
        /// The state directory.
        state_dir: PathBuf,
        /// The locked file inside it.
        file: PathBuf,
    },
    /// The controller may not read or write the store's file.
    #[error(
        "no permission to open `{}`: {source}; run the controller as a user that can write it (usually root), or choose another state directory with --state-dir or HOLDFAST_STATE_DIR",
        path.display()
    )]
    PermissionDenied {
        /// The store's file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// The file was written in a file format this build of holdfast cannot read.
    #[error(
        "`{}` uses store file format version {found}, which this holdfast cannot read; run the holdfast version that wrote it, or stop the controller and move the file aside (status is rebuilt from the host at the next reconcile; recorded events are lost)",
        path.display()
    )]
    UnsupportedFormat {
        /// The store's file.
        path: PathBuf,
        /// The format version found in the file.
        found: u8,
    },
    /// The file exists but could not be opened as a store (damaged, not a redb file, or
    /// an I/O error).
    #[error(
        "cannot open the state file `{}`: {source}; if it is damaged, stop the controller and move the file aside (status is rebuilt from the host at the next reconcile; recorded events are lost)",
        path.display()
    )]
    Open {
        /// The store's file.
        path: PathBuf,
        /// What redb said.
        #[source]
        source: redb::DatabaseError,
    },
    /// A read or write transaction failed (disk full, I/O error, damaged file).
    #[error(
        "state file `{}`: cannot {action}: {source}; check the disk (space, errors) and restart the controller",
        path.display()
    )]
    Database {
        /// The store's file.
        path: PathBuf,
        /// What the store was doing, e.g. "save the status of service/web".
        action: String,
        /// What redb said.
        #[source]
        source: Box<redb::Error>,
    },
    /// A stored record is not valid JSON of the expected shape (damaged, or written by an
    /// incompatible holdfast version).
    #[error(
        "state file `{}`: the stored {what} `{key}` cannot be read: {source}; remove it (the controller rewrites status at the next reconcile) or move the file aside",
        path.display()
    )]
    Decode {
        /// The store's file.
        path: PathBuf,
        /// What kind of record: "status" or "event".
        what: &'static str,
        /// The record's key.
        key: String,
        /// What serde_json said.
        #[source]
        source: serde_json::Error,
    },
    /// A record could not be turned into JSON (a bug in holdfast).
    #[error(
        "cannot encode the {what} `{key}` for the state file: {source}; this is a bug in holdfast"
    )]
    Encode {
        /// What kind of record: "status" or "event".
        what: &'static str,
        /// The record's key.
        key: String,
        /// What serde_json said.
        #[source]
        source: serde_json::Error,
    },
}

/// Where a resource stands, as `holdfast get` shows it.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// The live object matches the desired state and is healthy.
    Ready,
    /// The controller is acting on the resource (creating, updating, waiting for health).
    Progressing,
    /// The resource exists but is unhealthy or failing; the controller keeps retrying.
    Degraded,
    /// Retrying cannot help (invalid spec, missing image); waits for the spec to change.
    Stalled,
    /// Reconciling this resource is switched off by the user.
    Suspended,
}

impl Phase {
    /// The phase's name: `Ready`, `Progressing`, `Degraded`, `Stalled` or `Suspended`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Ready => "Ready",
            Phase::Progressing => "Progressing",
            Phase::Degraded => "Degraded",
            Phase::Stalled => "Stalled",
            Phase::Suspended => "Suspended",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the controller last knew about one resource.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ResourceStatus {
    /// The resource key, `KIND/NAME`, e.g. `service/web`.
    pub key: String,
    /// The kind, e.g. `service`.
    #[serde(default)]
    pub kind: String,
    /// The name within the kind, e.g. `web`.
    #[serde(default)]
    pub name: String,
    /// The project that owns the resource.
    pub project: String,
    /// Where the resource stands.
    pub phase: Phase,
    /// A one-line human summary of the phase.
    pub message: String,
    /// The last reconcile error, cleared on success.
    #[serde(default)]
    pub last_error: Option<String>,
    /// Failed attempts since the last success.
    #[serde(default)]
    pub retries: u32,
    /// When the next retry is due, in milliseconds since the Unix epoch.
    #[serde(default)]
    pub next_retry: Option<u64>,
    /// The spec hash last applied successfully.
    #[serde(default)]
    pub applied_hash: Option<String>,
    /// When this status was observed, in milliseconds since the Unix epoch.
    pub observed_at: u64,
    /// The fields of the live object that currently differ from the desired state.
    #[serde(default)]
    pub drift: Vec<String>,
    /// Drift is reported but not corrected.
    #[serde(default)]
    pub report_only: bool,
    /// Reconciling is switched off for this resource.
    #[serde(default)]
    pub suspended: bool,
    /// Repairs: times the controller started, restarted or re-created the container
    /// because it had stopped, died, turned unhealthy or was changed by hand (as kubectl
    /// counts RESTARTS). Changes of the file do not count.
    #[serde(default)]
    pub restarts: u32,
    /// The kind's own `holdfast get` columns (for a service: `IMAGE`, `PORTS`,
    /// `CONTAINER`), by column name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub columns: BTreeMap<String, String>,
    /// What the resource publishes for the resources that depend on it (for a service:
    /// its running container and endpoint).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub published: BTreeMap<String, String>,
    /// When holdfast first reported this resource (unix milliseconds).
    #[serde(default)]
    pub since: u64,
    /// The git commit whose desired state the resource was last applied from (absent
    /// for a file source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

/// Whether an event is routine or needs attention (as Kubernetes' event types).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// Something expected happened (created, updated, drift corrected).
    Normal,
    /// Something went wrong or needs attention (unhealthy, invalid spec, failed apply).
    Warning,
}

impl ResourceStatus {
    /// A first status for `key`, Progressing, observed now.
    pub fn new(key: &super::kind::ObjectRef, project: &str) -> Self {
        let now = now_ms();
        ResourceStatus {
            key: key.to_string(),
            kind: key.kind.clone(),
            name: key.name.clone(),
            project: project.to_string(),
            phase: Phase::Progressing,
            message: String::new(),
            last_error: None,
            retries: 0,
            next_retry: None,
            applied_hash: None,
            observed_at: now,
            drift: Vec::new(),
            report_only: false,
            suspended: false,
            restarts: 0,
            columns: BTreeMap::new(),
            published: BTreeMap::new(),
            since: now,
            revision: None,
        }
    }

    /// The value of column `name`, if the kind filled it.
    pub fn column(&self, name: &str) -> Option<&str> {
        self.columns.get(name).map(String::as_str)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventKind::Normal => "Normal",
            EventKind::Warning => "Warning",
        })
    }
}

/// Something that happened to a resource, as `holdfast events` shows it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Event {
    /// When it happened, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// The project that owns the object.
    pub project: String,
    /// The resource key, e.g. `service/web`.
    pub object: String,
    /// Routine or needs attention.
    pub kind: EventKind,
    /// A CamelCase reason, e.g. `Created`, `DriftCorrected`, `Unhealthy`, `InvalidSpec`.
    pub reason: String,
    /// A human sentence saying what happened.
    pub message: String,
}

impl Event {
    /// A [`EventKind::Normal`] event stamped with the current time.
    pub fn normal(
        project: impl Into<String>,
        object: impl Into<String>,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Event {
        Event::now(EventKind::Normal, project, object, reason, message)
    }

    /// A [`EventKind::Warning`] event stamped with the current time.
    pub fn warning(
        project: impl Into<String>,
        object: impl Into<String>,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Event {
        Event::now(EventKind::Warning, project, object, reason, message)
    }

    fn now(
        kind: EventKind,
        project: impl Into<String>,
        object: impl Into<String>,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Event {
        Event {
            time_ms: now_ms(),
            project: project.into(),
            object: object.into(),
            kind,
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// The status and event store: one redb file in the state directory.
pub struct Store {
    db: Database,
    path: PathBuf,
    max_events: usize,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("max_events", &self.max_events)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens `state_dir/holdfast.redb`, creating the directory and the file if needed,
    /// keeping at most [`DEFAULT_MAX_EVENTS`] events.
    pub fn open(state_dir: &Path) -> Result<Store, StoreError> {
        Store::open_with_max_events(state_dir, DEFAULT_MAX_EVENTS)
    }

    /// As [`Store::open`], keeping at most `max_events` events (the oldest are trimmed
    /// when a new one is recorded; 0 keeps none).
    pub fn open_with_max_events(state_dir: &Path, max_events: usize) -> Result<Store, StoreError> {
        std::fs::create_dir_all(state_dir).map_err(|source| StoreError::CreateDir {
            path: state_dir.to_path_buf(),
            source,
        })?;
        let path = state_dir.join(STORE_FILE_NAME);
        let db = Database::create(&path).map_err(|source| match source {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::AlreadyOpen {
                state_dir: state_dir.to_path_buf(),
                file: path.clone(),
            },
            redb::DatabaseError::UpgradeRequired(found) => StoreError::UnsupportedFormat {
                path: path.clone(),
                found,
            },
            redb::DatabaseError::Storage(redb::StorageError::Io(err))
                if err.kind() == io::ErrorKind::PermissionDenied =>
            {
                StoreError::PermissionDenied {
                    path: path.clone(),
                    source: err,
                }
            }
            source => StoreError::Open {
                path: path.clone(),
                source,
            },
        })?;
        let store = Store {
            db,
            path,
            max_events,
        };
        // Create the tables up front, so read transactions never meet a missing table.
        store.write("create the tables", |txn| {
            txn.open_table(STATUS)?;
            txn.open_table(EVENTS)?;
            txn.open_table(META)?;
            txn.open_table(DOCS)?;
            Ok(())
        })?;
        Ok(store)
    }

    /// The store's file, `STATE_DIR/holdfast.redb`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many events the store keeps at most.
    pub fn max_events(&self) -> usize {
        self.max_events
    }

    /// Saves (inserts or replaces) the status of `status.project` / `status.key`.
    pub fn put_status(&self, status: &ResourceStatus) -> Result<(), StoreError> {
        let json = serde_json::to_string(status).map_err(|source| StoreError::Encode {
            what: "status",
            key: status_name(&status.project, &status.key),
            source,
        })?;
        self.write(
            &format!(
                "save the status of {}",
                status_name(&status.project, &status.key)
            ),
            |txn| {
                let mut table = txn.open_table(STATUS)?;
                table.insert(
                    (status.project.as_str(), status.key.as_str()),
                    json.as_str(),
                )?;
                Ok(())
            },
        )
    }

    /// The saved status of one resource, if any.
    pub fn status(&self, project: &str, key: &str) -> Result<Option<ResourceStatus>, StoreError> {
        let name = status_name(project, key);
        let json = self.read(&format!("read the status of {name}"), |txn| {
            let table = txn.open_table(STATUS)?;
            Ok(table.get((project, key))?.map(|v| v.value().to_owned()))
        })?;
        json.map(|json| self.decode("status", name, &json))
            .transpose()
    }

    /// All saved statuses, or those of one project, sorted by project and then by key.
    pub fn statuses(&self, project: Option<&str>) -> Result<Vec<ResourceStatus>, StoreError> {
        let rows = self.read("read the statuses", |txn| {
            let table = txn.open_table(STATUS)?;
            let range = match project {
                Some(p) => table.range((p, "")..)?,
                None => table.range::<(&str, &str)>(..)?,
            };
            let mut rows = Vec::new();
            for entry in range {
                let (k, v) = entry?;
                let (p, key) = k.value();
                if project.is_some_and(|wanted| wanted != p) {
                    break;
                }
                rows.push((status_name(p, key), v.value().to_owned()));
            }
            Ok(rows)
        })?;
        rows.into_iter()
            .map(|(name, json)| self.decode("status", name, &json))
            .collect()
    }

    /// Forgets the status of one resource; returns whether there was one.
    pub fn remove_status(&self, project: &str, key: &str) -> Result<bool, StoreError> {
        self.write(
            &format!("remove the status of {}", status_name(project, key)),
            |txn| {
                let mut table = txn.open_table(STATUS)?;
                let removed = table.remove((project, key))?.is_some();
                Ok(removed)
            },
        )
    }

    /// Saves `value` as the document `name`, replacing any earlier one.
    pub fn put_doc<T: Serialize>(&self, name: &str, value: &T) -> Result<(), StoreError> {
        let json = serde_json::to_string(value).map_err(|source| StoreError::Encode {
            what: "document",
            key: name.to_string(),
            source,
        })?;
        self.write(&format!("save {name}"), |txn| {
            let mut table = txn.open_table(DOCS)?;
            table.insert(name, json.as_str())?;
            Ok(())
        })
    }

    /// The document `name`, if one was saved.
    pub fn doc<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<Option<T>, StoreError> {
        let json = self.read(&format!("read {name}"), |txn| {
            let table = txn.open_table(DOCS)?;
            Ok(table.get(name)?.map(|v| v.value().to_owned()))
        })?;
        json.map(|json| self.decode("document", name.to_string(), &json))
            .transpose()
    }

    /// Appends an event and returns its sequence number (greater than every earlier
    /// one, never reused). Trims the oldest events beyond the maximum in the same
    /// transaction.
    pub fn record(&self, event: Event) -> Result<u64, StoreError> {
        let json = serde_json::to_string(&event).map_err(|source| StoreError::Encode {
            what: "event",
            key: format!("{} {}/{}", event.reason, event.project, event.object),
            source,
        })?;
        let max_events = u64::try_from(self.max_events).unwrap_or(u64::MAX);
        self.write(
            &format!(
                "record the event {} of {}",
                event.reason,
                status_name(&event.project, &event.object)
            ),
            |txn| {
                let mut meta = txn.open_table(META)?;
                let mut events = txn.open_table(EVENTS)?;
                let stored_next = meta.get(NEXT_EVENT_SEQ)?.map(|v| v.value());
                // Never hand out a number at or below one still stored.
                let after_last = events
                    .last()?
                    .map_or(1, |(k, _)| k.value().saturating_add(1));
                let seq = stored_next.unwrap_or(1).max(after_last);
                events.insert(seq, json.as_str())?;
                meta.insert(NEXT_EVENT_SEQ, seq.saturating_add(1))?;
                let mut len = events.len()?;
                while len > max_events {
                    if events.pop_first()?.is_none() {
                        break;
                    }
                    len -= 1;
                }
                Ok(seq)
            },
        )
    }

    /// The newest `limit` events, optionally only those of one project and/or one
    /// object (resource key), oldest first (newest last).
    pub fn events(
        &self,
        project: Option<&str>,
        object: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(u64, Event)>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let rows = self.read_events("read the events", |table| {
            let mut rows = Vec::new();
            for entry in table.range::<u64>(..)?.rev() {
                let (k, v) = entry?;
                rows.push((k.value(), v.value().to_owned()));
            }
            Ok(rows)
        })?;
        let mut out = Vec::new();
        for (seq, json) in rows {
            let event: Event = self.decode("event", seq.to_string(), &json)?;
            if project.is_some_and(|p| p != event.project)
                || object.is_some_and(|o| o != event.object)
            {
                continue;
            }
            out.push((seq, event));
            if out.len() == limit {
                break;
            }
        }
        out.reverse();
        Ok(out)
    }

    /// Every stored event with a sequence number greater than `seq`, oldest first. A
    /// watcher passes the last number it has seen (0 for everything still stored).
    pub fn events_since(&self, seq: u64) -> Result<Vec<(u64, Event)>, StoreError> {
        let rows = self.read_events("read the events", |table| {
            let mut rows = Vec::new();
            if let Some(start) = seq.checked_add(1) {
                for entry in table.range(start..)? {
                    let (k, v) = entry?;
                    rows.push((k.value(), v.value().to_owned()));
                }
            }
            Ok(rows)
        })?;
        rows.into_iter()
            .map(|(seq, json)| Ok((seq, self.decode("event", seq.to_string(), &json)?)))
            .collect()
    }

    /// The sequence number of the newest stored event (0 if there is none). A watcher
    /// that wants only new events starts from here.
    pub fn last_event_seq(&self) -> Result<u64, StoreError> {
        self.read_events("read the events", |table| {
            Ok(table.last()?.map_or(0, |(k, _)| k.value()))
        })
    }

    /// Runs `f` in one write transaction and commits it durably.
    fn write<T>(
        &self,
        action: &str,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<T, redb::Error>,
    ) -> Result<T, StoreError> {
        let run = || -> Result<T, redb::Error> {
            let txn = self.db.begin_write()?;
            // On error the transaction is dropped, which aborts it.
            let value = f(&txn)?;
            txn.commit()?;
            Ok(value)
        };
        run().map_err(|source| self.db_error(action, source))
    }

    /// Runs `f` in one read transaction (a snapshot; it never blocks writers).
    fn read<T>(
        &self,
        action: &str,
        f: impl FnOnce(&redb::ReadTransaction) -> Result<T, redb::Error>,
    ) -> Result<T, StoreError> {
        let run = || -> Result<T, redb::Error> {
            let txn = self.db.begin_read()?;
            f(&txn)
        };
        run().map_err(|source| self.db_error(action, source))
    }

    fn read_events<T>(
        &self,
        action: &str,
        f: impl FnOnce(&redb::ReadOnlyTable<u64, &'static str>) -> Result<T, redb::Error>,
    ) -> Result<T, StoreError> {
        self.read(action, |txn| f(&txn.open_table(EVENTS)?))
    }

    fn db_error(&self, action: &str, source: redb::Error) -> StoreError {
        StoreError::Database {
            path: self.path.clone(),
            action: action.to_owned(),
            source: Box::new(source),
        }
    }

    fn decode<T: for<'de> Deserialize<'de>>(
        &self,
        what: &'static str,
        key: String,
        json: &str,
    ) -> Result<T, StoreError> {
        serde_json::from_str(json).map_err(|source| StoreError::Decode {
            path: self.path.clone(),
            what,
            key,
            source,
        })
    }
}

fn status_name(project: &str, key: &str) -> String {
    format!("{project}/{key}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use std::sync::Arc;

    fn status(project: &str, key: &str, phase: Phase) -> ResourceStatus {
        let object = crate::runtime::kind::ObjectRef::parse(key)
            .unwrap_or_else(|| crate::runtime::kind::ObjectRef::new("service", key));
        ResourceStatus {
            key: key.to_owned(),
            phase,
            message: format!("{key} is {phase}"),
            applied_hash: Some("sha256:abc".to_owned()),
            observed_at: 1_700_000_000_000,
            since: 0,
            ..ResourceStatus::new(&object, project)
        }
    }

    fn event(project: &str, object: &str, n: u64) -> Event {
        Event {
            time_ms: 1_700_000_000_000 + n,
            project: project.to_owned(),
            object: object.to_owned(),
            kind: if n.is_multiple_of(2) {
                EventKind::Normal
            } else {
                EventKind::Warning
            },
            reason: "Created".to_owned(),
            message: format!("event {n}"),
        }
    }

    #[test]
    fn status_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(store.status("shop", "service/web").unwrap().is_none());

        let mut s = status("shop", "service/web", Phase::Degraded);
        s.last_error = Some("container exited with code 1".to_owned());
        s.retries = 3;
        s.next_retry = Some(1_700_000_060_000);
        s.drift = vec!["environment".to_owned(), "ports".to_owned()];
        s.report_only = true;
        s.restarts = 2;
        store.put_status(&s).unwrap();
        assert_eq!(
            store.status("shop", "service/web").unwrap(),
            Some(s.clone())
        );
        // Same key in another project is a different record.
        assert!(store.status("other", "service/web").unwrap().is_none());

        // Replace.
        s.phase = Phase::Ready;
        s.last_error = None;
        store.put_status(&s).unwrap();
        assert_eq!(
            store.status("shop", "service/web").unwrap().unwrap().phase,
            Phase::Ready
        );

        assert!(store.remove_status("shop", "service/web").unwrap());
        assert!(!store.remove_status("shop", "service/web").unwrap());
        assert!(store.status("shop", "service/web").unwrap().is_none());
    }

    #[test]
    fn documents_are_replaced_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            assert_eq!(store.doc::<Vec<u32>>("source/git/x").unwrap(), None);
            store.put_doc("source/git/x", &vec![1u32, 2]).unwrap();
            store.put_doc("source/git/x", &vec![3u32]).unwrap();
            store.put_doc("other", &"y").unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            store.doc::<Vec<u32>>("source/git/x").unwrap(),
            Some(vec![3])
        );
        assert_eq!(store.doc::<String>("other").unwrap().as_deref(), Some("y"));
        // A document of another shape is a decode error naming it, not a panic.
        let err = store.doc::<Vec<u32>>("other").unwrap_err().to_string();
        assert!(err.contains("other"), "{err}");
    }

    #[test]
    fn phase_serializes_and_displays_in_pascal_case() {
        for (phase, name) in [
            (Phase::Ready, "Ready"),
            (Phase::Progressing, "Progressing"),
            (Phase::Degraded, "Degraded"),
            (Phase::Stalled, "Stalled"),
            (Phase::Suspended, "Suspended"),
        ] {
            assert_eq!(phase.to_string(), name);
            assert_eq!(
                serde_json::to_string(&phase).unwrap(),
                format!("\"{name}\"")
            );
        }
        assert_eq!(EventKind::Warning.to_string(), "Warning");
    }

    #[test]
    fn statuses_are_sorted_and_filtered_by_project() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for (project, key) in [
            ("shop", "service/web"),
            ("blog", "service/db"),
            ("shop", "route/shop.example"),
            ("shop", "backup/daily"),
            ("shop2", "service/a"),
            ("blog", "firewall/host"),
        ] {
            store
                .put_status(&status(project, key, Phase::Ready))
                .unwrap();
        }
        let keys = |v: Vec<ResourceStatus>| {
            v.into_iter()
                .map(|s| format!("{}:{}", s.project, s.key))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            keys(store.statuses(Some("shop")).unwrap()),
            [
                "shop:backup/daily",
                "shop:route/shop.example",
                "shop:service/web"
            ]
        );
        assert_eq!(
            keys(store.statuses(Some("blog")).unwrap()),
            ["blog:firewall/host", "blog:service/db"]
        );
        assert!(store.statuses(Some("nope")).unwrap().is_empty());
        assert_eq!(
            keys(store.statuses(None).unwrap()),
            [
                "blog:firewall/host",
                "blog:service/db",
                "shop:backup/daily",
                "shop:route/shop.example",
                "shop:service/web",
                "shop2:service/a"
            ]
        );
    }

    #[test]
    fn data_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().join("nested/state");
        let s = status("shop", "service/web", Phase::Stalled);
        let seq = {
            let store = Store::open(&state_dir).unwrap();
            store.put_status(&s).unwrap();
            store.record(event("shop", "service/web", 1)).unwrap();
            store.record(event("shop", "service/web", 2)).unwrap()
        }; // dropped: the lock is released, as when the controller exits
        assert!(state_dir.join(STORE_FILE_NAME).is_file());

        let store = Store::open(&state_dir).unwrap();
        assert_eq!(store.status("shop", "service/web").unwrap(), Some(s));
        let events = store.events(None, None, 10).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1], (seq, event("shop", "service/web", 2)));
        assert_eq!(store.last_event_seq().unwrap(), seq);
        // Numbering continues after the restart.
        assert!(store.record(event("shop", "service/web", 3)).unwrap() > seq);
    }

    #[test]
    fn events_are_trimmed_to_the_maximum_keeping_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with_max_events(dir.path(), 5).unwrap();
        let seqs: Vec<u64> = (0..12)
            .map(|n| store.record(event("shop", "service/web", n)).unwrap())
            .collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

        let events = store.events(None, None, 100).unwrap();
        assert_eq!(events.len(), 5);
        let got: Vec<u64> = events.iter().map(|(s, _)| *s).collect();
        assert_eq!(got, seqs[7..]);
        assert_eq!(events[4].1.message, "event 11");
        // The limit keeps the newest, still oldest first.
        let last2 = store.events(None, None, 2).unwrap();
        assert_eq!(
            last2.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            seqs[10..]
        );
        assert!(store.events(None, None, 0).unwrap().is_empty());

        // Trimming survives a reopen with a smaller maximum at the next record.
        drop(store);
        let store = Store::open_with_max_events(dir.path(), 2).unwrap();
        let seq = store.record(event("shop", "service/web", 12)).unwrap();
        assert!(seq > seqs[11]);
        assert_eq!(
            store
                .events(None, None, 100)
                .unwrap()
                .iter()
                .map(|(s, _)| *s)
                .collect::<Vec<_>>(),
            [seqs[11], seq]
        );
    }

    #[test]
    fn sequence_numbers_are_not_reused_when_nothing_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with_max_events(dir.path(), 0).unwrap();
        let a = store.record(event("shop", "service/web", 0)).unwrap();
        let b = store.record(event("shop", "service/web", 1)).unwrap();
        assert!(b > a);
        assert!(store.events(None, None, 10).unwrap().is_empty());
        assert_eq!(store.last_event_seq().unwrap(), 0);
    }

    #[test]
    fn events_filter_by_project_and_object() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.record(event("shop", "service/web", 0)).unwrap();
        store.record(event("shop", "service/db", 1)).unwrap();
        store.record(event("blog", "service/web", 2)).unwrap();
        store.record(event("shop", "service/web", 3)).unwrap();
        store.record(event("shop", "service/web", 4)).unwrap();

        let messages =
            |v: Vec<(u64, Event)>| v.into_iter().map(|(_, e)| e.message).collect::<Vec<_>>();
        assert_eq!(
            messages(store.events(Some("shop"), Some("service/web"), 10).unwrap()),
            ["event 0", "event 3", "event 4"]
        );
        assert_eq!(
            messages(store.events(Some("shop"), Some("service/web"), 2).unwrap()),
            ["event 3", "event 4"]
        );
        assert_eq!(
            messages(store.events(None, Some("service/web"), 10).unwrap()),
            ["event 0", "event 2", "event 3", "event 4"]
        );
        assert_eq!(
            messages(store.events(Some("shop"), None, 10).unwrap()),
            ["event 0", "event 1", "event 3", "event 4"]
        );
        assert!(
            store
                .events(Some("shop"), Some("route/x"), 10)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn events_since_returns_only_newer_events() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        assert!(store.events_since(0).unwrap().is_empty());
        assert_eq!(store.last_event_seq().unwrap(), 0);

        let first = store.record(event("shop", "service/web", 0)).unwrap();
        let mark = store.last_event_seq().unwrap();
        assert_eq!(mark, first);

        // Writes from another thread, as the reconcilers do.
        let writer = {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                (1..=3)
                    .map(|n| store.record(event("shop", "service/web", n)).unwrap())
                    .collect::<Vec<_>>()
            })
        };
        let newer = writer.join().unwrap();

        let since = store.events_since(mark).unwrap();
        assert_eq!(since.iter().map(|(s, _)| *s).collect::<Vec<_>>(), newer);
        assert_eq!(since[0].1.message, "event 1");
        assert_eq!(store.events_since(0).unwrap().len(), 4);
        assert!(store.events_since(newer[2]).unwrap().is_empty());
        assert!(store.events_since(u64::MAX).unwrap().is_empty());
    }

    #[test]
    fn a_second_open_of_the_same_dir_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let first = Store::open(dir.path()).unwrap();
        first
            .put_status(&status("shop", "service/web", Phase::Ready))
            .unwrap();

        // redb locks the file (flock) per open file description, so even a second open
        // from the same process is refused, as one from another controller would be.
        let err = Store::open(dir.path()).unwrap_err();
        assert!(
            matches!(&err, StoreError::AlreadyOpen { state_dir, file }
                if state_dir == dir.path() && file == &dir.path().join(STORE_FILE_NAME)),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!(
                "another holdfast controller is using `{}`",
                dir.path().display()
            )),
            "{msg}"
        );
        assert!(msg.contains("--state-dir"), "{msg}");

        // The first store is unharmed, and once it is closed the directory is free.
        assert!(first.status("shop", "service/web").unwrap().is_some());
        drop(first);
        let again = Store::open(dir.path()).unwrap();
        assert!(again.status("shop", "service/web").unwrap().is_some());
    }

    #[test]
    fn a_file_that_is_not_a_store_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STORE_FILE_NAME), b"not a redb file at all").unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
        assert!(err.to_string().contains("move the file aside"), "{err}");
    }

    #[test]
    fn state_dir_comes_from_the_environment_or_the_default() {
        assert_eq!(state_dir_from(None), PathBuf::from("/var/lib/holdfast"));
        assert_eq!(
            state_dir_from(Some("".into())),
            PathBuf::from(DEFAULT_STATE_DIR)
        );
        assert_eq!(
            state_dir_from(Some("/srv/holdfast".into())),
            PathBuf::from("/srv/holdfast")
        );
    }

    #[test]
    fn store_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Store>();
        assert_send_sync::<StoreError>();
    }
}
