//! The parts of a container's configuration that the desired and the live side both
//! have, in one shape so that [`drift`](mod@super::drift) can compare them directly.
//!
//! Each type documents how observe fills it from `docker inspect`, and how two values
//! that Docker treats as the same are [normalised](Limits::normalized) before comparing.

use std::fmt;

use holdfast_spec::{ByteSize, MountKind, Protocol};
use serde::Serialize;

/// A published port.
///
/// Observe fills it from `HostConfig.PortBindings` (what the container was created
/// with), not from `NetworkSettings.Ports` (what Docker picked): an empty `HostPort`
/// becomes `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortBinding {
    /// Host address to listen on. `""` and `0.0.0.0` both mean every IPv4 interface.
    pub host_ip: String,
    /// Host port; `None` lets Docker choose a free one.
    pub host_port: Option<u16>,
    /// The port inside the container.
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: Protocol,
}

impl PortBinding {
    /// The binding for a port of the spec.
    pub fn from_spec(port: &holdfast_spec::Port) -> Self {
        PortBinding {
            host_ip: port.host_ip.clone(),
            host_port: port.published,
            container_port: port.target,
            protocol: port.protocol,
        }
    }

    /// The host address, with Docker's `""` written as `0.0.0.0`.
    pub fn host_ip_normalized(&self) -> &str {
        if self.host_ip.is_empty() {
            "0.0.0.0"
        } else {
            &self.host_ip
        }
    }

    /// Whether `self` (desired) is satisfied by `live`: equal after normalisation, where
    /// a desired `host_port` of `None` accepts whatever port Docker chose.
    pub fn is_satisfied_by(&self, live: &PortBinding) -> bool {
        self.container_port == live.container_port
            && self.protocol == live.protocol
            && self.host_ip_normalized() == live.host_ip_normalized()
            && (self.host_port.is_none() || self.host_port == live.host_port)
    }

    /// Key for a stable order: container port, protocol, host address, host port.
    pub fn sort_key(&self) -> (u16, &'static str, &str, Option<u16>) {
        (
            self.container_port,
            self.protocol.as_str(),
            self.host_ip_normalized(),
            self.host_port,
        )
    }
}

impl fmt::Display for PortBinding {
    /// `127.0.0.1:8080:80/tcp`, or `127.0.0.1::80/tcp` when Docker picks the host port.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host_port = self.host_port.map(|p| p.to_string()).unwrap_or_default();
        write!(
            f,
            "{}:{host_port}:{}/{}",
            self.host_ip_normalized(),
            self.container_port,
            self.protocol.as_str()
        )
    }
}

/// A volume or bind mount.
///
/// Observe fills `source` from the inspect `Mounts` entry's `Name` for a volume and its
/// `Source` for a bind, and `read_only` from `!RW`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MountSpec {
    /// `volume` or `bind`.
    pub kind: MountKind,
    /// The Docker volume's full name (`<project>_<volume>`) or the host path. `None` on
    /// the desired side is an anonymous volume, whose live name Docker makes up.
    pub source: Option<String>,
    /// The path inside the container.
    pub target: String,
    /// Mounted read-only.
    pub read_only: bool,
}

impl MountSpec {
    /// Whether `self` (desired) is satisfied by `live`, a mount at the same target: same
    /// kind and mode, and the same source unless `self` is an anonymous volume.
    pub fn is_satisfied_by(&self, live: &MountSpec) -> bool {
        self.kind == live.kind
            && self.read_only == live.read_only
            && self.target == live.target
            && (self.source.is_none() || self.source == live.source)
    }
}

impl fmt::Display for MountSpec {
    /// `volume shop_data:/data`, `bind /etc/app.conf:/app.conf:ro`, `volume /cache`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            MountKind::Volume => "volume",
            MountKind::Bind => "bind",
        };
        write!(f, "{kind} ")?;
        if let Some(source) = &self.source {
            write!(f, "{source}:")?;
        }
        f.write_str(&self.target)?;
        if self.read_only {
            f.write_str(":ro")?;
        }
        Ok(())
    }
}

/// Memory and CPU limits.
///
/// Docker reports an unset limit as `0`; observe may pass `Some(0)` or `None`, and
/// [`Limits::normalized`] makes them the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Limits {
    /// Hard memory limit in bytes (`HostConfig.Memory`).
    pub memory_bytes: Option<u64>,
    /// Soft memory reservation in bytes (`HostConfig.MemoryReservation`).
    pub memory_reservation_bytes: Option<u64>,
    /// CPU limit in billionths of a CPU (`HostConfig.NanoCpus`).
    pub nano_cpus: Option<u64>,
}

impl Limits {
    /// The same limits with `Some(0)` written as `None`.
    pub fn normalized(&self) -> Limits {
        let n = |v: Option<u64>| v.filter(|v| *v != 0);
        Limits {
            memory_bytes: n(self.memory_bytes),
            memory_reservation_bytes: n(self.memory_reservation_bytes),
            nano_cpus: n(self.nano_cpus),
        }
    }
}

impl fmt::Display for Limits {
    /// `memory=512M, memory_reservation=256M, cpus=0.5`, or `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = self.normalized();
        let mut parts = Vec::new();
        if let Some(m) = l.memory_bytes {
            parts.push(format!("memory={}", ByteSize::from_bytes(m)));
        }
        if let Some(m) = l.memory_reservation_bytes {
            parts.push(format!("memory_reservation={}", ByteSize::from_bytes(m)));
        }
        if let Some(n) = l.nano_cpus {
            parts.push(format!("cpus={}", format_cpus(n)));
        }
        if parts.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// `500_000_000` as `0.5`, `2_000_000_000` as `2`.
fn format_cpus(nano: u64) -> String {
    let whole = nano / 1_000_000_000;
    let frac = nano % 1_000_000_000;
    if frac == 0 {
        return whole.to_string();
    }
    let digits = format!("{frac:09}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Docker's restart policy as the engine stores it (`HostConfig.RestartPolicy`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestartSpec {
    /// `no`, `always`, `unless-stopped` or `on-failure`. Docker may report `""` for
    /// `no`.
    pub name: String,
    /// Upper bound on restarts for `on-failure`; `0` means no bound.
    pub max_retries: u32,
}

impl RestartSpec {
    /// The same policy with `""` written as `no` and the retry bound dropped for
    /// policies other than `on-failure`, which ignore it.
    pub fn normalized(&self) -> RestartSpec {
        let name = if self.name.is_empty() {
            "no"
        } else {
            self.name.as_str()
        };
        RestartSpec {
            name: name.to_string(),
            max_retries: if name == "on-failure" {
                self.max_retries
            } else {
                0
            },
        }
    }
}

impl Default for RestartSpec {
    fn default() -> Self {
        RestartSpec {
            name: "no".to_string(),
            max_retries: 0,
        }
    }
}

impl From<holdfast_spec::RestartPolicy> for RestartSpec {
    fn from(policy: holdfast_spec::RestartPolicy) -> Self {
        use holdfast_spec::RestartPolicy as P;
        let (name, max_retries) = match policy {
            P::No => ("no", 0),
            P::Always => ("always", 0),
            P::UnlessStopped => ("unless-stopped", 0),
            P::OnFailure { max_retries } => ("on-failure", max_retries.unwrap_or(0)),
        };
        RestartSpec {
            name: name.to_string(),
            max_retries,
        }
    }
}

impl fmt::Display for RestartSpec {
    /// `unless-stopped`, `on-failure` or `on-failure:3`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.normalized();
        if n.max_retries > 0 {
            write!(f, "{}:{}", n.name, n.max_retries)
        } else {
            f.write_str(&n.name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use holdfast_spec::RestartPolicy;

    fn port(ip: &str, host: Option<u16>, container: u16) -> PortBinding {
        PortBinding {
            host_ip: ip.to_string(),
            host_port: host,
            container_port: container,
            protocol: Protocol::Tcp,
        }
    }

    #[test]
    fn ports_render_like_compose() {
        assert_eq!(
            port("127.0.0.1", Some(8080), 80).to_string(),
            "127.0.0.1:8080:80/tcp"
        );
        assert_eq!(port("", None, 80).to_string(), "0.0.0.0::80/tcp");
    }

    #[test]
    fn empty_host_ip_is_every_interface() {
        assert!(port("0.0.0.0", Some(80), 80).is_satisfied_by(&port("", Some(80), 80)));
        assert!(!port("127.0.0.1", Some(80), 80).is_satisfied_by(&port("", Some(80), 80)));
    }

    #[test]
    fn unpublished_host_port_accepts_any() {
        assert!(port("127.0.0.1", None, 80).is_satisfied_by(&port("127.0.0.1", Some(49153), 80)));
        assert!(!port("127.0.0.1", Some(8080), 80).is_satisfied_by(&port(
            "127.0.0.1",
            Some(8081),
            80
        )));
        let mut udp = port("127.0.0.1", Some(53), 53);
        udp.protocol = Protocol::Udp;
        assert!(!udp.is_satisfied_by(&port("127.0.0.1", Some(53), 53)));
    }

    #[test]
    fn mounts_render_and_match() {
        let named = MountSpec {
            kind: MountKind::Volume,
            source: Some("shop_data".into()),
            target: "/data".into(),
            read_only: false,
        };
        assert_eq!(named.to_string(), "volume shop_data:/data");
        let anonymous = MountSpec {
            source: None,
            ..named.clone()
        };
        assert_eq!(anonymous.to_string(), "volume /data");
        let generated = MountSpec {
            source: Some("4f1c…".into()),
            ..named.clone()
        };
        assert!(anonymous.is_satisfied_by(&generated));
        assert!(!named.is_satisfied_by(&generated));
        let ro = MountSpec {
            kind: MountKind::Bind,
            source: Some("/etc/app.conf".into()),
            target: "/app.conf".into(),
            read_only: true,
        };
        assert_eq!(ro.to_string(), "bind /etc/app.conf:/app.conf:ro");
        assert!(!ro.is_satisfied_by(&MountSpec {
            read_only: false,
            ..ro.clone()
        }));
    }

    #[test]
    fn zero_limits_are_unset() {
        let docker = Limits {
            memory_bytes: Some(0),
            memory_reservation_bytes: Some(0),
            nano_cpus: Some(0),
        };
        assert_eq!(docker.normalized(), Limits::default());
        assert_eq!(docker.to_string(), "none");
        let set = Limits {
            memory_bytes: Some(512 << 20),
            memory_reservation_bytes: Some(256 << 20),
            nano_cpus: Some(500_000_000),
        };
        assert_eq!(
            set.to_string(),
            "memory=512M, memory_reservation=256M, cpus=0.5"
        );
        assert_eq!(format_cpus(2_000_000_000), "2");
        assert_eq!(format_cpus(1_250_000_000), "1.25");
    }

    #[test]
    fn restart_policies() {
        assert_eq!(
            RestartSpec::from(RestartPolicy::UnlessStopped).to_string(),
            "unless-stopped"
        );
        assert_eq!(
            RestartSpec::from(RestartPolicy::OnFailure {
                max_retries: Some(3)
            })
            .to_string(),
            "on-failure:3"
        );
        assert_eq!(
            RestartSpec::from(RestartPolicy::OnFailure { max_retries: None }).to_string(),
            "on-failure"
        );
        let docker_default = RestartSpec {
            name: String::new(),
            max_retries: 0,
        };
        assert_eq!(
            docker_default.normalized(),
            RestartSpec::from(RestartPolicy::No)
        );
        let ignored_bound = RestartSpec {
            name: "always".into(),
            max_retries: 5,
        };
        assert_eq!(
            ignored_bound.normalized(),
            RestartSpec::from(RestartPolicy::Always)
        );
    }
}
