//! What an update has done so far, on disk, so that a controller killed at any point
//! carries on from what the host and the proxy show: one JSON file per service under
//! `<state dir>/rollouts/<project>/`, written whole and renamed into place, and one
//! line per finished update in `history.jsonl` beside them.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::slot::Slot;
use crate::resources::service::DesiredContainer;

/// A step of an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// No update under way.
    #[default]
    Idle,
    /// The new container is being made and started.
    Starting,
    /// The new container is probed; it takes no traffic yet.
    Probing,
    /// The route is being pointed at the new container.
    Switching,
    /// The route serves the new container; the old one finishes what it holds.
    Draining,
    /// The old container is being stopped and removed.
    Stopping,
    /// The old container is gone; the new one is watched for `update_config.monitor`.
    Monitoring,
    /// The update failed and `failure_action: pause` holds it until the file changes.
    Paused,
}

impl Phase {
    /// The phase's name, as status and metrics spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Starting => "starting",
            Phase::Probing => "probing",
            Phase::Switching => "switching",
            Phase::Draining => "draining",
            Phase::Stopping => "stopping",
            Phase::Monitoring => "monitoring",
            Phase::Paused => "paused",
        }
    }
}

/// One container of an update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Side {
    /// Its ID.
    pub id: String,
    /// Its slot.
    pub slot: Slot,
    /// Its spec hash.
    pub hash: String,
    /// Its image reference.
    pub image: String,
}

/// `desired` as read back from a record: its spec hash is not serialized, but its
/// label holds it.
pub fn restored(mut desired: DesiredContainer) -> DesiredContainer {
    desired.spec_hash = desired
        .labels
        .get(crate::resources::service::labels::SPEC_HASH)
        .cloned()
        .unwrap_or_else(|| desired.compute_spec_hash());
    desired
}

/// A spec an update may go back to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    /// 1 for the first spec that finished an update, counting up.
    pub number: u32,
    /// The container, as it was made.
    pub desired: DesiredContainer,
    /// When it started serving (Unix milliseconds).
    pub at_ms: u64,
}

/// A spec held in force instead of the file's, after a rollback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    /// What runs instead.
    pub desired: DesiredContainer,
    /// The file's spec hash that was rolled back; a file with another hash ends the
    /// pin.
    pub rejected: String,
    /// Why (`holdfast rollback`, or the monitor's finding).
    pub reason: String,
}

/// A finished phase and how long it took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseTime {
    /// The phase.
    pub phase: Phase,
    /// Its duration in seconds.
    pub seconds: f64,
}

/// The update of one service.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Record {
    /// Where it stands.
    pub phase: Phase,
    /// The container being replaced, if any (none on a first deploy).
    #[serde(default)]
    pub from: Option<Side>,
    /// The container replacing it.
    #[serde(default)]
    pub to: Option<Side>,
    /// When the update started (Unix milliseconds).
    #[serde(default)]
    pub started_ms: u64,
    /// When the current phase started.
    #[serde(default)]
    pub phase_started_ms: u64,
    /// The phases done so far.
    #[serde(default)]
    pub phases: Vec<PhaseTime>,
    /// Consecutive probes passed.
    #[serde(default)]
    pub passes: u32,
    /// The last probe's failure, if it failed.
    #[serde(default)]
    pub probe_error: Option<String>,
    /// What the proxy last said still holds the old container.
    #[serde(default)]
    pub in_flight: Option<u64>,
    /// Whether this update goes back to an earlier spec.
    #[serde(default)]
    pub rollback: bool,
    /// The spec serving now (the last one that finished an update).
    #[serde(default)]
    pub current: Option<DesiredContainer>,
    /// Earlier specs, newest last (at most [`KEEP_REVISIONS`]).
    #[serde(default)]
    pub revisions: Vec<Revision>,
    /// A spec in force instead of the file's.
    #[serde(default)]
    pub pin: Option<Pin>,
    /// Why the last update failed, while the service waits to try again.
    #[serde(default)]
    pub failure: Option<String>,
}

/// How many earlier specs are kept for `holdfast rollback --to`.
pub const KEEP_REVISIONS: usize = 10;

/// The time now in Unix milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

impl Record {
    /// Moves to `phase`, timing the one it leaves.
    pub fn enter(&mut self, phase: Phase) {
        if self.phase == phase {
            return;
        }
        let now = now_ms();
        if self.phase != Phase::Idle {
            self.phases.push(PhaseTime {
                phase: self.phase,
                seconds: now.saturating_sub(self.phase_started_ms) as f64 / 1000.0,
            });
        }
        self.phase = phase;
        self.phase_started_ms = now;
    }

    /// Seconds in the current phase.
    pub fn in_phase(&self) -> f64 {
        now_ms().saturating_sub(self.phase_started_ms) as f64 / 1000.0
    }

    /// Starts an update from `from` to `to`.
    pub fn begin(&mut self, from: Option<Side>, to: Side, rollback: bool) {
        self.phase = Phase::Idle;
        self.phases.clear();
        self.enter(Phase::Starting);
        self.started_ms = self.phase_started_ms;
        self.from = from;
        self.to = Some(to);
        self.passes = 0;
        self.probe_error = None;
        self.in_flight = None;
        self.rollback = rollback;
        self.failure = None;
    }

    /// Ends the update: `serving` is the spec now in force, when it succeeded.
    pub fn finish(&mut self, serving: Option<&DesiredContainer>) {
        self.enter(Phase::Idle);
        if let Some(desired) = serving {
            self.set_current(desired);
        }
        self.from = None;
        self.to = None;
        self.passes = 0;
        self.in_flight = None;
    }

    /// The spec that served before the update under way, while one is (it becomes a
    /// revision only once the update ends): revision `0` for `holdfast rollback`.
    pub fn before_update(&self) -> Option<Revision> {
        let current = self.current.as_ref()?;
        let to = self.to.as_ref()?;
        (self.phase != Phase::Idle && to.hash != current.spec_hash).then(|| Revision {
            number: 0,
            desired: current.clone(),
            at_ms: 0,
        })
    }

    /// The revision `holdfast rollback` goes to: `to`, or with none the spec before the
    /// update under way, else the last earlier spec. `0` is the spec before the update
    /// under way ([`Record::before_update`]).
    pub fn rollback_target(&self, to: Option<u32>) -> Option<Revision> {
        match to {
            Some(0) => self.before_update(),
            Some(n) => self.revisions.iter().find(|r| r.number == n).cloned(),
            None => self
                .before_update()
                .or_else(|| self.revisions.last().cloned()),
        }
    }

    /// The number of this record's revision of the spec `spec_hash` (another
    /// replica's revision of the same spec), if it has one.
    pub fn revision_of(&self, spec_hash: &str) -> Option<u32> {
        if let Some(before) = self.before_update()
            && before.desired.spec_hash == spec_hash
        {
            return Some(0);
        }
        self.revisions
            .iter()
            .rev()
            .find(|r| r.desired.spec_hash == spec_hash)
            .map(|r| r.number)
    }

    /// Records `desired` as the spec serving now, keeping the one before it.
    pub fn set_current(&mut self, desired: &DesiredContainer) {
        if self
            .current
            .as_ref()
            .is_some_and(|c| c.spec_hash == desired.spec_hash)
        {
            return;
        }
        if let Some(old) = self.current.take() {
            let number = self.revisions.last().map_or(1, |r| r.number + 1);
            self.revisions.push(Revision {
                number,
                desired: old,
                at_ms: now_ms(),
            });
            if self.revisions.len() > KEEP_REVISIONS {
                self.revisions.remove(0);
            }
        }
        self.current = Some(desired.clone());
    }

    /// One line per phase: `starting 0.8s`, …, and the current one with its time so
    /// far.
    pub fn timeline(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .phases
            .iter()
            .map(|p| format!("{} {:.1}s", p.phase.as_str(), p.seconds))
            .collect();
        if self.phase != Phase::Idle {
            out.push(format!("{} {:.1}s…", self.phase.as_str(), self.in_phase()));
        }
        out
    }
}

/// A finished update, as `holdfast history` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finished {
    /// The service.
    pub service: String,
    /// `succeeded`, `failed`, `rolled back` or `paused`.
    pub result: String,
    /// Why, when it did not succeed.
    #[serde(default)]
    pub reason: Option<String>,
    /// The old image, if there was an old container.
    #[serde(default)]
    pub from_image: Option<String>,
    /// The new image.
    pub to_image: String,
    /// Whether it went back to an earlier spec.
    pub rollback: bool,
    /// When it started and ended (Unix milliseconds).
    pub started_ms: u64,
    /// When it ended.
    pub ended_ms: u64,
    /// How long each phase took.
    pub phases: Vec<PhaseTime>,
}

/// The records of one project's services.
#[derive(Debug, Clone)]
pub struct Records {
    dir: PathBuf,
}

impl Records {
    /// Records under `<state_dir>/rollouts/`.
    pub fn new(state_dir: &Path) -> Self {
        Records {
            dir: state_dir.join("rollouts"),
        }
    }

    fn file(&self, project: &str, service: &str) -> PathBuf {
        self.dir.join(project).join(format!("{service}.json"))
    }

    /// The record of `service`; an empty one when there is none or it cannot be read
    /// (what the host shows decides what happens next).
    pub fn load(&self, project: &str, service: &str) -> Record {
        let path = self.file(project, service);
        let mut record: Record = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "unreadable update record; starting afresh");
                Record::default()
            }),
            Err(_) => Record::default(),
        };
        record.current = record.current.take().map(restored);
        for r in &mut record.revisions {
            r.desired = restored(r.desired.clone());
        }
        if let Some(pin) = &mut record.pin {
            pin.desired = restored(pin.desired.clone());
        }
        record
    }

    /// Writes the record of `service` whole (temporary file, then rename).
    pub fn save(&self, project: &str, service: &str, record: &Record) -> std::io::Result<()> {
        let path = self.file(project, service);
        let dir = self.dir.join(project);
        std::fs::create_dir_all(&dir)?;
        let tmp = dir.join(format!(".{service}.json.tmp"));
        let bytes = serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &path)
    }

    fn request_file(&self, project: &str, service: &str) -> PathBuf {
        self.dir.join(project).join(format!("{service}.rollback"))
    }

    /// Asks the next pass of `service` to go back to `revision` (`holdfast rollback`):
    /// the pass is the only writer of the record, so the request waits beside it.
    pub fn request_rollback(
        &self,
        project: &str,
        service: &str,
        revision: u32,
    ) -> std::io::Result<()> {
        let dir = self.dir.join(project);
        std::fs::create_dir_all(&dir)?;
        let tmp = dir.join(format!(".{service}.rollback.tmp"));
        std::fs::write(&tmp, revision.to_string())?;
        std::fs::rename(&tmp, self.request_file(project, service))
    }

    /// Takes the pending rollback request of `service`, if any.
    pub fn take_rollback(&self, project: &str, service: &str) -> Option<u32> {
        let file = self.request_file(project, service);
        let text = std::fs::read_to_string(&file).ok()?;
        let _ = std::fs::remove_file(&file);
        text.trim().parse().ok()
    }

    /// Appends a finished update to the project's history.
    pub fn append(&self, project: &str, finished: &Finished) -> std::io::Result<()> {
        use std::io::Write;
        let dir = self.dir.join(project);
        std::fs::create_dir_all(&dir)?;
        let mut line = serde_json::to_vec(finished).map_err(std::io::Error::other)?;
        line.push(b'\n');
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("history.jsonl"))?
            .write_all(&line)
    }

    /// The project's finished updates, oldest first (unreadable lines skipped).
    pub fn history(&self, project: &str) -> Vec<Finished> {
        std::fs::read_to_string(self.dir.join(project).join("history.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_record_keeps_its_specs_and_counts_each_revision_once() {
        let dir = tempfile::tempdir().unwrap();
        let records = Records::new(dir.path());
        let (v1, _, _) = crate::resources::service::fixtures::web();
        let mut v2 = v1.clone();
        v2.env.insert("VERSION".into(), "2".into());
        v2.spec_hash = v2.compute_spec_hash();
        v2.labels.insert(
            crate::resources::service::labels::SPEC_HASH.into(),
            v2.spec_hash.clone(),
        );
        let mut r = Record::default();
        r.set_current(&v1);
        records.save("shop", "web", &r).unwrap();
        let mut r = records.load("shop", "web");
        assert_eq!(r.current.as_ref().unwrap().spec_hash, v1.spec_hash);
        r.set_current(&v1);
        assert!(r.revisions.is_empty(), "the same spec is no new revision");
        r.set_current(&v2);
        records.save("shop", "web", &r).unwrap();
        let r = records.load("shop", "web");
        assert_eq!(r.revisions.len(), 1);
        assert_eq!(r.revisions[0].number, 1);
        assert_eq!(r.revisions[0].desired.spec_hash, v1.spec_hash);
        assert_eq!(r.current.unwrap().spec_hash, v2.spec_hash);

        records.request_rollback("shop", "web", 1).unwrap();
        assert_eq!(records.take_rollback("shop", "web"), Some(1));
        assert_eq!(records.take_rollback("shop", "web"), None, "taken once");
    }

    #[test]
    fn a_rollback_during_an_update_goes_to_the_spec_that_served_before_it() {
        let (v1, _, live) = crate::resources::service::fixtures::web();
        let mut r = Record::default();
        r.set_current(&v1);
        assert!(
            r.rollback_target(None).is_none(),
            "nothing before the first"
        );
        let to = Side {
            id: live.id.clone(),
            slot: super::super::slot::Slot::Green,
            hash: "v2".into(),
            image: "web:2".into(),
        };
        r.begin(None, to, false);
        r.enter(Phase::Monitoring);
        let target = r.rollback_target(None).unwrap();
        assert_eq!(
            (target.number, target.desired.spec_hash.as_str()),
            (0, v1.spec_hash.as_str())
        );
        assert_eq!(r.rollback_target(Some(0)).unwrap().number, 0);
        assert_eq!(r.revision_of(&v1.spec_hash), Some(0));
        r.finish(None);
        assert!(r.before_update().is_none(), "no update under way");
    }
}
