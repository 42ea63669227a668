//! What observe reads back from Docker: the owned container ([`LiveContainer`]) and the
//! image's own configuration ([`ImageDefaults`]), as plain values.
//!
//! Observe (not written yet) fills them from `docker inspect` of the container and of
//! its image; the helpers here turn Docker's strings into these types so that observe
//! stays a thin mapping.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::container::{Limits, MountSpec, PortBinding, RestartSpec, RuntimeOptions};
use super::labels;

/// A container's state, as `State.Status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerState {
    /// Running and not paused.
    Running,
    /// Stopped, with the main process's exit code.
    Exited {
        /// `State.ExitCode`.
        code: i64,
    },
    /// Created but never started.
    Created,
    /// Frozen by `docker pause`.
    Paused,
    /// Being restarted by Docker's restart policy.
    Restarting,
    /// Docker failed to stop or remove it; it cannot be started again.
    Dead,
    /// Being removed.
    Removing,
}

impl ContainerState {
    /// The state for Docker's `State.Status` string and `State.ExitCode`, or `None` for
    /// a status this version does not know.
    pub fn from_docker(status: &str, exit_code: i64) -> Option<Self> {
        Some(match status {
            "running" => ContainerState::Running,
            "exited" => ContainerState::Exited { code: exit_code },
            "created" => ContainerState::Created,
            "paused" => ContainerState::Paused,
            "restarting" => ContainerState::Restarting,
            "dead" => ContainerState::Dead,
            "removing" => ContainerState::Removing,
            _ => return None,
        })
    }

    /// Whether the container is running and not paused.
    pub fn is_running(&self) -> bool {
        matches!(self, ContainerState::Running)
    }
}

impl fmt::Display for ContainerState {
    /// `running`, `exited (code 137)`, `created`, …
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContainerState::Running => f.write_str("running"),
            ContainerState::Exited { code } => write!(f, "exited (code {code})"),
            ContainerState::Created => f.write_str("created"),
            ContainerState::Paused => f.write_str("paused"),
            ContainerState::Restarting => f.write_str("restarting"),
            ContainerState::Dead => f.write_str("dead"),
            ContainerState::Removing => f.write_str("removing"),
        }
    }
}

/// A container's health, as `State.Health.Status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Health {
    /// No health check, or Docker reports none.
    #[default]
    None,
    /// Within the start period, or no check has finished yet.
    Starting,
    /// The last checks passed.
    Healthy,
    /// `retries` consecutive checks failed.
    Unhealthy,
}

impl Health {
    /// The health for Docker's `State.Health.Status` (absent without a health check).
    pub fn from_docker(status: Option<&str>) -> Self {
        match status {
            Some("starting") => Health::Starting,
            Some("healthy") => Health::Healthy,
            Some("unhealthy") => Health::Unhealthy,
            _ => Health::None,
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Health::None => "none",
            Health::Starting => "starting",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        })
    }
}

/// An owned container as `docker inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveContainer {
    /// Container ID.
    pub id: String,
    /// Container name without Docker's leading `/` (see [`container_name`]).
    pub name: String,
    /// The image reference it was created with (`Config.Image`). Apply must create
    /// containers from the reference, not the ID, for this to compare.
    pub image: String,
    /// The image ID it runs (`Image`).
    pub image_id: String,
    /// `Config.Cmd`.
    pub cmd: Option<Vec<String>>,
    /// `Config.Entrypoint`.
    pub entrypoint: Option<Vec<String>>,
    /// `Config.Env` (see [`env_from_list`]); includes the image's variables.
    pub env: BTreeMap<String, String>,
    /// `Config.Labels`; includes the image's labels.
    pub labels: BTreeMap<String, String>,
    /// `HostConfig.PortBindings`.
    pub ports: Vec<PortBinding>,
    /// `Mounts`.
    pub mounts: Vec<MountSpec>,
    /// `NetworkSettings.Networks`: network name → aliases.
    pub networks: BTreeMap<String, BTreeSet<String>>,
    /// `NetworkSettings.Networks`: network name → the container's IPv4 address there
    /// (what a proxy in a container on the same network dials).
    pub addresses: BTreeMap<String, String>,
    /// `HostConfig.Memory`, `MemoryReservation`, `NanoCpus`.
    pub limits: Limits,
    /// `HostConfig.RestartPolicy`.
    pub restart: RestartSpec,
    /// Hostname, capabilities, DNS, sysctls, ulimits, tmpfs and the rest, from
    /// `Config` and `HostConfig`.
    pub options: RuntimeOptions,
    /// `State.Status`.
    pub state: ContainerState,
    /// `State.Health.Status`.
    pub health: Health,
    /// `State.StartedAt` (RFC 3339), when the container last started; empty when it
    /// never did.
    pub started_at: String,
}

impl LiveContainer {
    /// The spec hash the container was created from, if it carries one.
    pub fn spec_hash(&self) -> Option<&str> {
        labels::spec_hash_of(&self.labels)
    }
}

/// What the image itself sets, which Docker merges into every container made from it.
/// Drift ignores live values that merely repeat these.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageDefaults {
    /// The image's `Config.Env`.
    pub env: BTreeMap<String, String>,
    /// The image's `Config.Labels`.
    pub labels: BTreeMap<String, String>,
    /// The image's `Config.Volumes`: paths that get an anonymous volume when nothing
    /// else is mounted there.
    pub volumes: BTreeSet<String>,
}

/// Docker's `KEY=VALUE` environment list as a map. An entry without `=` maps to an
/// empty value; a repeated key keeps its last value, as the process would see it.
pub fn env_from_list<I, S>(list: I) -> BTreeMap<String, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    list.into_iter()
        .map(|entry| {
            let entry = entry.as_ref();
            match entry.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (entry.to_string(), String::new()),
            }
        })
        .collect()
}

/// A container name as `docker inspect` reports it (`/shop-web`), without the `/`.
pub fn container_name(inspect_name: &str) -> &str {
    inspect_name.strip_prefix('/').unwrap_or(inspect_name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::service::fixtures;

    #[test]
    fn states_from_docker() {
        assert_eq!(
            ContainerState::from_docker("running", 0),
            Some(ContainerState::Running)
        );
        assert_eq!(
            ContainerState::from_docker("exited", 137),
            Some(ContainerState::Exited { code: 137 })
        );
        for (s, state) in [
            ("created", ContainerState::Created),
            ("paused", ContainerState::Paused),
            ("restarting", ContainerState::Restarting),
            ("dead", ContainerState::Dead),
            ("removing", ContainerState::Removing),
        ] {
            assert_eq!(ContainerState::from_docker(s, 0), Some(state));
            assert_eq!(state.to_string(), s);
            assert!(!state.is_running());
        }
        assert_eq!(ContainerState::from_docker("sleeping", 0), None);
        assert_eq!(
            ContainerState::Exited { code: 1 }.to_string(),
            "exited (code 1)"
        );
    }

    #[test]
    fn health_from_docker() {
        assert_eq!(Health::from_docker(None), Health::None);
        assert_eq!(Health::from_docker(Some("starting")), Health::Starting);
        assert_eq!(Health::from_docker(Some("healthy")), Health::Healthy);
        assert_eq!(Health::from_docker(Some("unhealthy")), Health::Unhealthy);
        assert_eq!(Health::Unhealthy.to_string(), "unhealthy");
    }

    #[test]
    fn env_list_parses_key_value() {
        let env = env_from_list([
            "PATH=/bin:/usr/bin",
            "EMPTY=",
            "FLAG",
            "URL=a=b",
            "X=1",
            "X=2",
        ]);
        assert_eq!(env["PATH"], "/bin:/usr/bin");
        assert_eq!(env["EMPTY"], "");
        assert_eq!(env["FLAG"], "");
        assert_eq!(env["URL"], "a=b");
        assert_eq!(env["X"], "2");
    }

    #[test]
    fn names_lose_the_slash() {
        assert_eq!(container_name("/shop-web"), "shop-web");
        assert_eq!(container_name("shop-web"), "shop-web");
    }

    #[test]
    fn spec_hash_comes_from_the_label() {
        let (desired, _, mut live) = fixtures::web();
        assert_eq!(live.spec_hash(), Some(desired.spec_hash.as_str()));
        live.labels.remove(labels::SPEC_HASH);
        assert_eq!(live.spec_hash(), None);
    }
}
