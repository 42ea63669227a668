//! The parts of a container's configuration that the desired and the live side both
//! have, in one shape so that [`drift`](mod@super::drift) can compare them directly.
//!
//! Each type documents how observe fills it from `docker inspect`, and how two values
//! that Docker treats as the same are [normalised](Limits::normalized) before comparing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use holdfast_spec::{ByteSize, MountKind, Protocol};
use serde::{Deserialize, Serialize};

/// A published port.
///
/// Observe fills it from `HostConfig.PortBindings` (what the container was created
/// with), not from `NetworkSettings.Ports` (what Docker picked): an empty `HostPort`
/// becomes `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
/// `Source` for a bind, and `read_only` from `!RW`; the [options](MountOptions) as
/// each of them documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// `z`/`Z`, propagation, `nocopy` and `create_host_path`; left out of the spec
    /// hash when unset, so mounts without them keep their hashes.
    #[serde(flatten, default)]
    pub options: MountOptions,
}

/// The options of a mount beyond its source, target and mode.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MountOptions {
    /// SELinux relabelling of a bind mount, `z` or `Z`. Observe reads it from the
    /// inspect `Mounts` entry's `Mode` (`ro,Z`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selinux: Option<String>,
    /// Bind propagation (`rprivate`, `shared`, …). Observe reads `Propagation`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propagation: Option<String>,
    /// A volume is not filled with the image's files. Observe reads
    /// `HostConfig.Mounts[].VolumeOptions.NoCopy`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub nocopy: bool,
    /// A missing host path of a bind is an error rather than created
    /// (`bind.create_host_path: false`). Apply checks the path before creating the
    /// container; it is not a property of the container, so observe leaves it `false`
    /// and drift does not compare it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub host_path_must_exist: bool,
}

impl MountOptions {
    /// The options of a mount of the spec.
    pub fn from_spec(mount: &holdfast_spec::Mount) -> Self {
        MountOptions {
            selinux: mount.selinux.clone(),
            propagation: mount.propagation.clone(),
            nocopy: mount.nocopy,
            host_path_must_exist: mount.create_host_path == Some(false),
        }
    }

    /// The suffix of a `Binds` entry after `SOURCE:TARGET`: `:ro,Z,rshared`, or `""`.
    pub fn bind_suffix(&self, read_only: bool) -> String {
        let parts: Vec<&str> = [
            read_only.then_some("ro"),
            self.selinux.as_deref(),
            self.propagation.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect();
        if parts.is_empty() {
            String::new()
        } else {
            format!(":{}", parts.join(","))
        }
    }
}

impl MountSpec {
    /// Whether `self` (desired) is satisfied by `live`, a mount at the same target: same
    /// kind and mode, the same source unless `self` is an anonymous volume, and the
    /// options `self` sets.
    pub fn is_satisfied_by(&self, live: &MountSpec) -> bool {
        let (want, have) = (&self.options, &live.options);
        self.kind == live.kind
            && self.read_only == live.read_only
            && self.target == live.target
            && (self.source.is_none() || self.source == live.source)
            && (want.selinux.is_none() || want.selinux == have.selinux)
            && (want.propagation.is_none() || want.propagation == have.propagation)
            && want.nocopy == have.nocopy
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
        f.write_str(&self.options.bind_suffix(self.read_only))?;
        if self.options.nocopy {
            f.write_str(" (nocopy)")?;
        }
        Ok(())
    }
}

/// Memory and CPU limits.
///
/// Docker reports an unset limit as `0`; observe may pass `Some(0)` or `None`, and
/// [`Limits::normalized`] makes them the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
            options: MountOptions::default(),
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
            options: MountOptions::default(),
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

/// How to run the process and its sandbox: the Compose fields `hostname` … `tmpfs`.
///
/// Each field is left out of the spec hash when the file does not set it, so files
/// without them keep their hashes. Observe fills every field from `docker inspect`
/// (`Config` for the first five, `HostConfig` for the rest); drift compares only the
/// fields the file sets, since Docker fills in the others (a hostname from the
/// container ID, a 64M `/dev/shm`, …).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RuntimeOptions {
    /// `Config.Hostname`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// `Config.Domainname`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    /// `Config.WorkingDir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// `Config.StopSignal`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// `Config.Tty`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tty: Option<bool>,
    /// `Config.OpenStdin`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdin_open: Option<bool>,
    /// `HostConfig.ReadonlyRootfs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// `HostConfig.Privileged`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// `HostConfig.CapAdd`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    /// `HostConfig.CapDrop`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    /// `HostConfig.ExtraHosts`, host → IP.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extra_hosts: BTreeMap<String, String>,
    /// `HostConfig.Dns`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    /// `HostConfig.DnsSearch`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_search: Vec<String>,
    /// `HostConfig.DnsOptions`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_opt: Vec<String>,
    /// `HostConfig.GroupAdd`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<String>,
    /// `HostConfig.SecurityOpt`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    /// `HostConfig.ShmSize`, in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shm_size_bytes: Option<u64>,
    /// `HostConfig.PidsLimit`; `-1` is no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
    /// `HostConfig.Sysctls`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctls: BTreeMap<String, String>,
    /// `HostConfig.Ulimits`, name → (soft, hard).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub ulimits: BTreeMap<String, (i64, i64)>,
    /// `HostConfig.Tmpfs`, path → mount options (`""` for none).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tmpfs: BTreeMap<String, String>,
    /// `Config.ExposedPorts` as `PORT/PROTOCOL`. On the live side it also holds the
    /// image's `EXPOSE` and the published ports, so drift asks only that the desired
    /// ones be among them.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub expose: BTreeSet<String>,
    /// `HostConfig.Devices` as `HOST:CONTAINER:PERMISSIONS`, with Docker's defaults
    /// written out (the container path is the host path, the permissions `rwm`).
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub devices: BTreeSet<String>,
    /// `HostConfig.Runtime`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// The platform (`os[/arch[/variant]]`) the container is created for; apply checks
    /// it against the engine's. On the live side the container's `Platform`, which is
    /// the OS only, so drift compares the OS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Docker network name → the fixed addresses the service sets there
    /// (`ipv4_address`, `ipv6_address`); on the live side the endpoint's
    /// `IPAMConfig`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fixed_addresses: BTreeMap<String, FixedAddress>,
    /// `network_mode` as the file writes it (`host`, `none`, `bridge`,
    /// `service:NAME`, `container:NAME`); the spec hash covers these words. On the live
    /// side `HostConfig.NetworkMode`, which names the joined container by ID
    /// (`container:<id>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    /// For `service:` and `container:` modes: the ID of the container whose network
    /// this one joins, as observed this pass (`None` while it has none). Not in the
    /// spec hash: a new container there is drift of the old one, which joined a network
    /// namespace that is gone.
    #[serde(skip)]
    pub network_container: Option<String>,
}

impl RuntimeOptions {
    /// What `HostConfig.NetworkMode` must say: `host`, `none` or `bridge`, or
    /// `container:<id>` of the joined container once it is known. `None` without a
    /// network mode, or while the container to join is not there.
    pub fn docker_network_mode(&self) -> Option<String> {
        let mode = self.network_mode.as_deref()?;
        if mode.contains(':') {
            Some(format!("container:{}", self.network_container.as_deref()?))
        } else {
            Some(mode.to_string())
        }
    }
}

/// A container's fixed addresses on one network.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FixedAddress {
    /// `ipv4_address`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<String>,
    /// `ipv6_address`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<String>,
}

impl fmt::Display for FixedAddress {
    /// `10.5.0.10, fd00::10`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<&str> = [self.ipv4.as_deref(), self.ipv6.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        f.write_str(&parts.join(", "))
    }
}

/// A `devices` entry of the spec, `HOST[:CONTAINER][:PERMISSIONS]`, as
/// `HOST:CONTAINER:PERMISSIONS` with Docker's defaults filled in.
pub fn device_of(entry: &str) -> String {
    let is_perms = |p: &str| !p.is_empty() && p.chars().all(|c| matches!(c, 'r' | 'w' | 'm'));
    let parts: Vec<&str> = entry.splitn(3, ':').collect();
    let (host, container, perms) = match parts.as_slice() {
        [host] => (*host, *host, "rwm"),
        [host, perms] if is_perms(perms) => (*host, *host, *perms),
        [host, container] => (*host, *container, "rwm"),
        [host, container, perms] => (*host, *container, *perms),
        _ => (entry, entry, "rwm"),
    };
    format!("{host}:{container}:{perms}")
}

impl RuntimeOptions {
    /// The options of a service of the spec.
    pub fn from_spec(s: &holdfast_spec::Service) -> Self {
        RuntimeOptions {
            hostname: s.hostname.clone(),
            domainname: s.domainname.clone(),
            working_dir: s.working_dir.clone(),
            stop_signal: s.stop_signal.clone(),
            tty: s.tty,
            stdin_open: s.stdin_open,
            read_only: s.read_only,
            privileged: s.privileged,
            cap_add: s.cap_add.clone(),
            cap_drop: s.cap_drop.clone(),
            extra_hosts: s.extra_hosts.clone(),
            dns: s.dns.clone(),
            dns_search: s.dns_search.clone(),
            dns_opt: s.dns_opt.clone(),
            group_add: s.group_add.clone(),
            security_opt: s.security_opt.clone(),
            shm_size_bytes: s.shm_size.map(|b| b.bytes()),
            pids_limit: s.pids_limit,
            sysctls: s.sysctls.clone(),
            ulimits: s
                .ulimits
                .iter()
                .map(|(k, u)| (k.clone(), (u.soft, u.hard)))
                .collect(),
            tmpfs: s
                .tmpfs
                .iter()
                .map(|t| match t.split_once(':') {
                    Some((path, opts)) => (path.to_string(), opts.to_string()),
                    None => (t.clone(), String::new()),
                })
                .collect(),
            expose: s.expose.iter().map(|p| format!("{p}/tcp")).collect(),
            devices: s.devices.iter().map(|d| device_of(d)).collect(),
            runtime: s.runtime.clone(),
            platform: s.platform.clone(),
            // Keyed by Docker network name, which only the caller knows.
            fixed_addresses: BTreeMap::new(),
            network_mode: s.network_mode.clone(),
            // Observed, not written in the file.
            network_container: None,
        }
    }

    /// `(field, desired value, live value)` for each field `desired` sets and `live`
    /// has differently, by its Compose name.
    pub fn differences(desired: &Self, live: &Self) -> Vec<(&'static str, String, String)> {
        fn cap(c: &str) -> String {
            let upper = c.to_ascii_uppercase();
            upper.strip_prefix("CAP_").unwrap_or(&upper).to_string()
        }
        fn caps(list: &[String]) -> std::collections::BTreeSet<String> {
            list.iter().map(|c| cap(c)).collect()
        }
        fn signal(s: &str) -> String {
            let upper = s.to_ascii_uppercase();
            upper.strip_prefix("SIG").unwrap_or(&upper).to_string()
        }
        fn set(list: &[String]) -> std::collections::BTreeSet<&str> {
            list.iter().map(String::as_str).collect()
        }
        fn pids(n: Option<i64>) -> i64 {
            match n {
                Some(n) if n > 0 => n,
                _ => -1,
            }
        }
        fn list(l: &[String]) -> String {
            format!("[{}]", l.join(","))
        }
        fn map<V: fmt::Debug>(m: &BTreeMap<String, V>) -> String {
            format!("{m:?}")
        }
        let mut out = Vec::new();
        let mut note = |name: &'static str, w: String, h: String| out.push((name, w, h));
        let text = |o: &Option<String>| o.clone().unwrap_or_default();
        for (name, d, l) in [
            ("hostname", &desired.hostname, &live.hostname),
            ("domainname", &desired.domainname, &live.domainname),
            ("working_dir", &desired.working_dir, &live.working_dir),
        ] {
            if d.is_some() && text(d) != text(l) {
                note(name, text(d), text(l));
            }
        }
        if let Some(d) = &desired.stop_signal
            && live.stop_signal.as_deref().map(signal) != Some(signal(d))
        {
            note("stop_signal", d.clone(), text(&live.stop_signal));
        }
        for (name, d, l) in [
            ("tty", desired.tty, live.tty),
            ("stdin_open", desired.stdin_open, live.stdin_open),
            ("read_only", desired.read_only, live.read_only),
            ("privileged", desired.privileged, live.privileged),
        ] {
            if let Some(d) = d
                && d != l.unwrap_or(false)
            {
                note(name, d.to_string(), l.unwrap_or(false).to_string());
            }
        }
        for (name, d, l) in [
            ("cap_add", &desired.cap_add, &live.cap_add),
            ("cap_drop", &desired.cap_drop, &live.cap_drop),
        ] {
            if !d.is_empty() && caps(d) != caps(l) {
                note(name, list(d), list(l));
            }
        }
        if !desired.extra_hosts.is_empty() && desired.extra_hosts != live.extra_hosts {
            note(
                "extra_hosts",
                map(&desired.extra_hosts),
                map(&live.extra_hosts),
            );
        }
        for (name, d, l) in [
            ("dns", &desired.dns, &live.dns),
            ("dns_search", &desired.dns_search, &live.dns_search),
            ("dns_opt", &desired.dns_opt, &live.dns_opt),
        ] {
            if !d.is_empty() && d != l {
                note(name, list(d), list(l));
            }
        }
        for (name, d, l) in [
            ("group_add", &desired.group_add, &live.group_add),
            ("security_opt", &desired.security_opt, &live.security_opt),
        ] {
            if !d.is_empty() && set(d) != set(l) {
                note(name, list(d), list(l));
            }
        }
        if let Some(d) = desired.shm_size_bytes
            && Some(d) != live.shm_size_bytes
        {
            note(
                "shm_size",
                ByteSize::from_bytes(d).to_string(),
                live.shm_size_bytes
                    .map_or_else(|| "0".to_string(), |b| ByteSize::from_bytes(b).to_string()),
            );
        }
        if desired.pids_limit.is_some() && pids(desired.pids_limit) != pids(live.pids_limit) {
            note(
                "pids_limit",
                pids(desired.pids_limit).to_string(),
                pids(live.pids_limit).to_string(),
            );
        }
        if !desired.sysctls.is_empty() && desired.sysctls != live.sysctls {
            note("sysctls", map(&desired.sysctls), map(&live.sysctls));
        }
        if !desired.ulimits.is_empty() && desired.ulimits != live.ulimits {
            note("ulimits", map(&desired.ulimits), map(&live.ulimits));
        }
        if !desired.tmpfs.is_empty() && desired.tmpfs != live.tmpfs {
            note("tmpfs", map(&desired.tmpfs), map(&live.tmpfs));
        }
        let joined =
            |s: &BTreeSet<String>| format!("[{}]", s.iter().cloned().collect::<Vec<_>>().join(","));
        if !desired.expose.is_subset(&live.expose) {
            note("expose", joined(&desired.expose), joined(&live.expose));
        }
        if !desired.devices.is_empty() && desired.devices != live.devices {
            note("devices", joined(&desired.devices), joined(&live.devices));
        }
        if let Some(d) = &desired.runtime
            && Some(d) != live.runtime.as_ref()
        {
            note("runtime", d.clone(), text(&live.runtime));
        }
        for (network, want) in &desired.fixed_addresses {
            let have = live
                .fixed_addresses
                .get(network)
                .cloned()
                .unwrap_or_default();
            if (want.ipv4.is_some() && want.ipv4 != have.ipv4)
                || (want.ipv6.is_some() && want.ipv6 != have.ipv6)
            {
                note(
                    "networks",
                    format!("{network} address {want}"),
                    format!("{network} address {have}"),
                );
            }
        }
        if let Some(want) = desired.docker_network_mode()
            && live.network_mode.as_deref() != Some(want.as_str())
        {
            let shown = match desired.network_mode.as_deref() {
                Some(mode) if mode != want => format!("{mode} ({want})"),
                _ => want,
            };
            note("network_mode", shown, text(&live.network_mode));
        } else if let Some(mode) = desired.network_mode.as_deref()
            && mode.contains(':')
            && desired.network_container.is_none()
        {
            // The container whose network this one joined is gone: so is the network.
            note(
                "network_mode",
                format!("{mode} (no running container to join)"),
                text(&live.network_mode),
            );
        }
        let os = |p: &str| p.split('/').next().unwrap_or_default().to_ascii_lowercase();
        if let Some(d) = &desired.platform
            && live.platform.as_deref().map(os) != Some(os(d))
        {
            note("platform", d.clone(), text(&live.platform));
        }
        out
    }
}
