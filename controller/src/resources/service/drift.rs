//! How a live container differs from the desired one, field by field.
//!
//! [`drift`] compares a [`DesiredContainer`] with a [`LiveContainer`] and returns one
//! [`FieldDrift`] per field that differs, with a short human-readable account of each
//! side that names only what differs. It compares what Docker lets differ without
//! meaning anything as equal:
//!
//! - order never matters for env, labels, ports, mounts and networks;
//! - env and labels that only the live side has are ignored when the image sets them
//!   to the same value ([`ImageDefaults`]);
//! - a desired `cmd`/`entrypoint` of `None` means "the image's", so it never drifts;
//! - an unpublished host port accepts the port Docker chose, an anonymous volume
//!   accepts the name Docker made up, and the image's `VOLUME`s are ignored;
//! - Docker's own extra network aliases (the short container ID) are ignored;
//! - `0` limits and a `""` restart policy mean unset.
//!
//! Values of variables and labels whose names suggest a secret are never printed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use holdfast_spec::MountKind;
use serde::{Serialize, Serializer};

use super::container::{MountSpec, PortBinding, RuntimeOptions};
use super::desired::DesiredContainer;
use super::labels;
use super::live::{ImageDefaults, LiveContainer};

/// Printed instead of the value of a variable or label whose name suggests a secret.
pub const HIDDEN: &str = "(hidden)";

/// Printed for a variable or label that one side does not have.
pub const UNSET: &str = "(unset)";

/// Printed for a side that has none of the items that differ.
pub const NONE: &str = "(none)";

/// Parts of names that mark a variable or label as secret (compared without case).
pub const SECRET_NAME_PARTS: &[&str] =
    &["PASSWORD", "PASSWD", "SECRET", "TOKEN", "KEY", "CREDENTIAL"];

/// A part of a container that can drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    /// Image reference or image ID.
    Image,
    /// `CMD`.
    Command,
    /// `ENTRYPOINT`.
    Entrypoint,
    /// Environment variables.
    Env,
    /// Published ports.
    Ports,
    /// Volumes, binds and secret files.
    Mounts,
    /// Memory and CPU limits.
    Limits,
    /// Docker's restart policy.
    RestartPolicy,
    /// Networks and aliases.
    Networks,
    /// Labels.
    Labels,
    /// `hostname`.
    Hostname,
    /// `domainname`.
    Domainname,
    /// `working_dir`.
    WorkingDir,
    /// `stop_signal`.
    StopSignal,
    /// `tty`.
    Tty,
    /// `stdin_open`.
    StdinOpen,
    /// `read_only`.
    ReadOnly,
    /// `privileged`.
    Privileged,
    /// `cap_add`.
    CapAdd,
    /// `cap_drop`.
    CapDrop,
    /// `extra_hosts`.
    ExtraHosts,
    /// `dns`.
    Dns,
    /// `dns_search`.
    DnsSearch,
    /// `dns_opt`.
    DnsOpt,
    /// `group_add`.
    GroupAdd,
    /// `security_opt`.
    SecurityOpt,
    /// `shm_size`.
    ShmSize,
    /// `pids_limit`.
    PidsLimit,
    /// `sysctls`.
    Sysctls,
    /// `ulimits`.
    Ulimits,
    /// `tmpfs`.
    Tmpfs,
    /// `expose`.
    Expose,
    /// `devices`.
    Devices,
    /// `runtime`.
    Runtime,
    /// `platform`.
    Platform,
    /// `network_mode`.
    NetworkMode,
    /// Whether the container runs.
    Running,
}

impl Field {
    /// Every field, in the order drift reports them.
    pub const ALL: [Field; 37] = [
        Field::Image,
        Field::Command,
        Field::Entrypoint,
        Field::Env,
        Field::Ports,
        Field::Mounts,
        Field::Limits,
        Field::RestartPolicy,
        Field::Networks,
        Field::Labels,
        Field::Hostname,
        Field::Domainname,
        Field::WorkingDir,
        Field::StopSignal,
        Field::Tty,
        Field::StdinOpen,
        Field::ReadOnly,
        Field::Privileged,
        Field::CapAdd,
        Field::CapDrop,
        Field::ExtraHosts,
        Field::Dns,
        Field::DnsSearch,
        Field::DnsOpt,
        Field::GroupAdd,
        Field::SecurityOpt,
        Field::ShmSize,
        Field::PidsLimit,
        Field::Sysctls,
        Field::Ulimits,
        Field::Tmpfs,
        Field::Expose,
        Field::Devices,
        Field::Runtime,
        Field::Platform,
        Field::NetworkMode,
        Field::Running,
    ];

    /// The lowercase name: `image`, `command`, `entrypoint`, `env`, `ports`, `mounts`,
    /// `limits`, `restart`, `networks`, `labels`, then the Compose names of the runtime
    /// options (`hostname` … `tmpfs`, `expose`, `devices`, `runtime`, `platform`), and
    /// `running`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Field::Image => "image",
            Field::Command => "command",
            Field::Entrypoint => "entrypoint",
            Field::Env => "env",
            Field::Ports => "ports",
            Field::Mounts => "mounts",
            Field::Limits => "limits",
            Field::RestartPolicy => "restart",
            Field::Networks => "networks",
            Field::Labels => "labels",
            Field::Hostname => "hostname",
            Field::Domainname => "domainname",
            Field::WorkingDir => "working_dir",
            Field::StopSignal => "stop_signal",
            Field::Tty => "tty",
            Field::StdinOpen => "stdin_open",
            Field::ReadOnly => "read_only",
            Field::Privileged => "privileged",
            Field::CapAdd => "cap_add",
            Field::CapDrop => "cap_drop",
            Field::ExtraHosts => "extra_hosts",
            Field::Dns => "dns",
            Field::DnsSearch => "dns_search",
            Field::DnsOpt => "dns_opt",
            Field::GroupAdd => "group_add",
            Field::SecurityOpt => "security_opt",
            Field::ShmSize => "shm_size",
            Field::PidsLimit => "pids_limit",
            Field::Sysctls => "sysctls",
            Field::Ulimits => "ulimits",
            Field::Tmpfs => "tmpfs",
            Field::Expose => "expose",
            Field::Devices => "devices",
            Field::Runtime => "runtime",
            Field::Platform => "platform",
            Field::NetworkMode => "network_mode",
            Field::Running => "running",
        }
    }

    /// Whether the field is part of the container's configuration, which only a
    /// recreate can change (every field but [`Field::Running`]).
    pub fn is_config(&self) -> bool {
        !matches!(self, Field::Running)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Field {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One field that differs, with what is wanted and what is there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldDrift {
    /// Which field.
    pub field: Field,
    /// The desired side, naming only what differs.
    pub desired: String,
    /// The live side, naming only what differs.
    pub live: String,
}

impl fmt::Display for FieldDrift {
    /// `env: want NODE_ENV=production, have NODE_ENV=development`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: want {}, have {}",
            self.field, self.desired, self.live
        )
    }
}

/// The drift reported when the service has no container at all.
pub fn missing_container() -> FieldDrift {
    FieldDrift {
        field: Field::Running,
        desired: "running".to_string(),
        live: "no container".to_string(),
    }
}

/// Whether a variable or label name suggests that its value is a secret.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_NAME_PARTS.iter().any(|part| upper.contains(part))
}

/// How `live` differs from `desired`, in [`Field::ALL`] order; empty when it does not.
/// `image` is the configuration of the live container's image.
pub fn drift(
    desired: &DesiredContainer,
    live: &LiveContainer,
    image: &ImageDefaults,
) -> Vec<FieldDrift> {
    [
        image_drift(desired, live),
        argv_drift(Field::Command, desired.cmd.as_deref(), live.cmd.as_deref()),
        argv_drift(
            Field::Entrypoint,
            desired.entrypoint.as_deref(),
            live.entrypoint.as_deref(),
        ),
        map_drift(Field::Env, &desired.env, &live.env, &image.env, &[]),
        ports_drift(&desired.ports, &live.ports),
        mounts_drift(&desired.mounts, &live.mounts, &image.volumes),
        compare(
            Field::Limits,
            desired.limits.normalized(),
            live.limits.normalized(),
        ),
        compare(
            Field::RestartPolicy,
            desired.restart.normalized(),
            live.restart.normalized(),
        ),
        // In a network mode the mode's own network (`host`, `none`, `bridge`) is
        // all the container has; `network_mode` is compared instead.
        networks_drift(&desired.networks, &live.networks)
            .filter(|_| desired.options.network_mode.is_none()),
        map_drift(
            Field::Labels,
            &desired.labels,
            &live.labels,
            &image.labels,
            // The hash has its own rule in the plan, and the revision only says where
            // the container came from; here they would only be noise.
            &[labels::SPEC_HASH, labels::REVISION],
        ),
    ]
    .into_iter()
    .flatten()
    .chain(options_drift(desired, live))
    .chain(running_drift(live))
    .collect()
}

fn differs(field: Field, desired: Vec<String>, live: Vec<String>) -> Option<FieldDrift> {
    let side = |parts: Vec<String>| {
        if parts.is_empty() {
            NONE.to_string()
        } else {
            parts.join(", ")
        }
    };
    Some(FieldDrift {
        field,
        desired: side(desired),
        live: side(live),
    })
}

fn compare<T: PartialEq + fmt::Display>(field: Field, desired: T, live: T) -> Option<FieldDrift> {
    if desired == live {
        return None;
    }
    differs(field, vec![desired.to_string()], vec![live.to_string()])
}

fn options_drift(desired: &DesiredContainer, live: &LiveContainer) -> Vec<FieldDrift> {
    RuntimeOptions::differences(&desired.options, &live.options)
        .into_iter()
        .filter_map(|(name, want, have)| {
            let field = Field::ALL.into_iter().find(|f| f.as_str() == name)?;
            differs(field, vec![want], vec![have])
        })
        .collect()
}

fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.get(..12).unwrap_or(hex)
}

fn image_drift(desired: &DesiredContainer, live: &LiveContainer) -> Option<FieldDrift> {
    let id_differs = desired
        .image_id
        .as_deref()
        .is_some_and(|id| id != live.image_id);
    if desired.image == live.image && !id_differs {
        return None;
    }
    let want = match &desired.image_id {
        Some(id) => format!("{} ({})", desired.image, short_id(id)),
        None => desired.image.clone(),
    };
    let have = format!("{} ({})", live.image, short_id(&live.image_id));
    differs(Field::Image, vec![want], vec![have])
}

fn show_argv(argv: &[String]) -> String {
    serde_json::to_string(argv).unwrap_or_else(|_| argv.join(" "))
}

fn argv_drift(
    field: Field,
    desired: Option<&[String]>,
    live: Option<&[String]>,
) -> Option<FieldDrift> {
    // None: the image's default, whatever it is.
    let want = desired?;
    if want == live.unwrap_or_default() {
        return None;
    }
    let have = live.map(show_argv).unwrap_or_else(|| NONE.to_string());
    differs(field, vec![show_argv(want)], vec![have])
}

fn map_drift(
    field: Field,
    desired: &BTreeMap<String, String>,
    live: &BTreeMap<String, String>,
    image: &BTreeMap<String, String>,
    ignore: &[&str],
) -> Option<FieldDrift> {
    let keys: BTreeSet<&String> = desired
        .keys()
        .chain(live.keys())
        .filter(|k| !ignore.contains(&k.as_str()))
        .collect();
    let show = |key: &str, value: Option<&String>| match value {
        None => format!("{key}={UNSET}"),
        Some(_) if is_secret_name(key) => format!("{key}={HIDDEN}"),
        Some(v) => format!("{key}={v}"),
    };
    let (mut want, mut have) = (Vec::new(), Vec::new());
    for key in keys {
        let (d, l) = (desired.get(key), live.get(key));
        let same = match (d, l) {
            (Some(d), Some(l)) => d == l,
            (None, Some(l)) => image.get(key) == Some(l),
            _ => false,
        };
        if !same {
            want.push(show(key, d));
            have.push(show(key, l));
        }
    }
    if want.is_empty() {
        return None;
    }
    differs(field, want, have)
}

fn ports_drift(desired: &[PortBinding], live: &[PortBinding]) -> Option<FieldDrift> {
    let mut unmatched: Vec<&PortBinding> = live.iter().collect();
    let mut missing = Vec::new();
    // Ports with a fixed host port first, so that an unpublished one cannot take
    // their live binding.
    let fixed = desired.iter().filter(|p| p.host_port.is_some());
    let any = desired.iter().filter(|p| p.host_port.is_none());
    for want in fixed.chain(any) {
        match unmatched.iter().position(|have| want.is_satisfied_by(have)) {
            Some(i) => {
                unmatched.remove(i);
            }
            None => missing.push(want),
        }
    }
    if missing.is_empty() && unmatched.is_empty() {
        return None;
    }
    let mut want: Vec<&PortBinding> = missing;
    want.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    unmatched.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    differs(
        Field::Ports,
        want.iter().map(ToString::to_string).collect(),
        unmatched.iter().map(ToString::to_string).collect(),
    )
}

fn mounts_drift(
    desired: &[MountSpec],
    live: &[MountSpec],
    image_volumes: &BTreeSet<String>,
) -> Option<FieldDrift> {
    let by_target = |mounts: &[MountSpec]| -> BTreeMap<String, MountSpec> {
        mounts
            .iter()
            .map(|m| (m.target.clone(), m.clone()))
            .collect()
    };
    let (desired, live) = (by_target(desired), by_target(live));
    let targets: BTreeSet<&String> = desired.keys().chain(live.keys()).collect();
    let (mut want, mut have) = (Vec::new(), Vec::new());
    for target in targets {
        let (d, l) = (desired.get(target), live.get(target));
        let same = match (d, l) {
            (Some(d), Some(l)) => d.is_satisfied_by(l),
            // The anonymous volume Docker makes for the image's `VOLUME`.
            (None, Some(l)) => l.kind == MountKind::Volume && image_volumes.contains(target),
            _ => false,
        };
        if !same {
            want.extend(d.map(ToString::to_string));
            have.extend(l.map(ToString::to_string));
        }
    }
    if want.is_empty() && have.is_empty() {
        return None;
    }
    differs(Field::Mounts, want, have)
}

fn networks_drift(
    desired: &BTreeMap<String, BTreeSet<String>>,
    live: &BTreeMap<String, BTreeSet<String>>,
) -> Option<FieldDrift> {
    let show = |name: &str, aliases: &BTreeSet<String>| {
        let aliases: Vec<&str> = aliases.iter().map(String::as_str).collect();
        format!("{name} (aliases: {})", aliases.join(", "))
    };
    let names: BTreeSet<&String> = desired.keys().chain(live.keys()).collect();
    let (mut want, mut have) = (Vec::new(), Vec::new());
    for name in names {
        let (d, l) = (desired.get(name), live.get(name));
        // Docker adds aliases of its own (the short container ID), so the live
        // aliases need only include the desired ones.
        let same = matches!((d, l), (Some(d), Some(l)) if d.is_subset(l));
        if !same {
            want.extend(d.map(|a| show(name, a)));
            have.extend(l.map(|a| show(name, a)));
        }
    }
    if want.is_empty() && have.is_empty() {
        return None;
    }
    differs(Field::Networks, want, have)
}

fn running_drift(live: &LiveContainer) -> Option<FieldDrift> {
    if live.state.is_running() {
        return None;
    }
    differs(
        Field::Running,
        vec!["running".to_string()],
        vec![live.state.to_string()],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::service::ContainerState;
    use crate::resources::service::fixtures::{self, SHOP};

    fn only(drifts: &[FieldDrift], field: Field) -> &FieldDrift {
        assert_eq!(
            drifts.iter().map(|d| d.field).collect::<Vec<_>>(),
            vec![field],
            "{drifts:#?}"
        );
        &drifts[0]
    }

    #[test]
    fn a_container_made_as_desired_has_no_drift() {
        let (desired, image, live) = fixtures::web();
        assert_eq!(drift(&desired, &live, &image), vec![]);
        let db = fixtures::desired(SHOP, "db");
        let live_db = fixtures::live_of(&db);
        assert_eq!(drift(&db, &live_db, &image), vec![]);
    }

    const TUNED: &str = "name: shop\nservices:\n  t:\n    image: busybox\n    hostname: web\n    stop_signal: SIGINT\n    tty: true\n    cap_add: [NET_ADMIN]\n    cap_drop: [ALL]\n    extra_hosts: [\"db:10.0.0.5\"]\n    dns: 1.1.1.1\n    group_add: [\"1\", \"2\"]\n    shm_size: 128M\n    pids_limit: -1\n    sysctls: {net.core.somaxconn: 1024}\n    ulimits: {nofile: 1024}\n    tmpfs: [\"/run:size=1m\"]\n";

    #[test]
    fn docker_defaults_of_options_the_file_leaves_out_are_not_drift() {
        let (desired, image, mut live) = fixtures::web();
        live.options.hostname = Some("0123456789ab".into());
        live.options.working_dir = Some("/app".into());
        live.options.tty = Some(false);
        live.options.shm_size_bytes = Some(64 * 1024 * 1024);
        live.options.pids_limit = Some(0);
        live.options.cap_add = vec!["CAP_AUDIT_WRITE".into()];
        assert_eq!(drift(&desired, &live, &image), vec![]);
    }

    #[test]
    fn options_as_docker_reports_them_are_not_drift() {
        let desired = fixtures::desired(TUNED, "t");
        let image = fixtures::image_defaults();
        let mut live = fixtures::live_of(&desired);
        live.options.stop_signal = Some("INT".into());
        live.options.cap_add = vec!["CAP_NET_ADMIN".into()];
        live.options.group_add = vec!["2".into(), "1".into()];
        live.options.pids_limit = Some(0);
        assert_eq!(drift(&desired, &live, &image), vec![]);
    }

    #[test]
    fn a_changed_option_is_drift_that_names_it() {
        let desired = fixtures::desired(TUNED, "t");
        let image = fixtures::image_defaults();
        for (change, field, want, have) in [
            (
                (|l: &mut LiveContainer| l.options.hostname = Some("other".into()))
                    as fn(&mut LiveContainer),
                Field::Hostname,
                "web",
                "other",
            ),
            (|l| l.options.tty = None, Field::Tty, "true", "false"),
            (
                |l| l.options.cap_drop = vec![],
                Field::CapDrop,
                "[ALL]",
                "[]",
            ),
            (
                |l| l.options.pids_limit = Some(10),
                Field::PidsLimit,
                "-1",
                "10",
            ),
            (
                |l| l.options.shm_size_bytes = Some(64 * 1024 * 1024),
                Field::ShmSize,
                "128M",
                "64M",
            ),
            (
                |l| {
                    l.options.ulimits.insert("nofile".into(), (1, 2));
                },
                Field::Ulimits,
                "{\"nofile\": (1024, 1024)}",
                "{\"nofile\": (1, 2)}",
            ),
            (
                |l| l.options.tmpfs.clear(),
                Field::Tmpfs,
                "{\"/run\": \"size=1m\"}",
                "{}",
            ),
        ] {
            let mut live = fixtures::live_of(&desired);
            change(&mut live);
            let d = drift(&desired, &live, &image);
            let options = only(&d, field);
            assert_eq!(options.desired, want);
            assert_eq!(options.live, have);
        }
    }

    #[test]
    fn image_env_and_labels_are_not_drift() {
        let (desired, image, live) = fixtures::web();
        assert_eq!(live.env["PATH"], image.env["PATH"]);
        assert!(!desired.env.contains_key("PATH"));
        assert!(live.labels.contains_key("org.opencontainers.image.source"));
        assert_eq!(drift(&desired, &live, &image), vec![]);
    }

    #[test]
    fn image_env_changed_on_the_live_side_is_drift() {
        let (desired, image, mut live) = fixtures::web();
        live.env.insert("PATH".into(), "/tmp/evil".into());
        let d = drift(&desired, &live, &image);
        let env = only(&d, Field::Env);
        assert_eq!(env.desired, "PATH=(unset)");
        assert_eq!(env.live, "PATH=/tmp/evil");
    }

    #[test]
    fn none_cmd_and_entrypoint_mean_the_image_default() {
        let (desired, image, mut live) = fixtures::web();
        assert_eq!(desired.entrypoint, None);
        live.entrypoint = Some(vec!["/something/else".into()]);
        assert_eq!(drift(&desired, &live, &image), vec![]);
        live.entrypoint = None;
        assert_eq!(drift(&desired, &live, &image), vec![]);
    }

    #[test]
    fn image_drift() {
        let (desired, image, mut live) = fixtures::web();
        live.image_id = format!("sha256:{}", "2".repeat(64));
        let d = drift(&desired, &live, &image);
        let f = only(&d, Field::Image);
        assert_eq!(f.desired, "registry.example/shop/web:1.4.2 (111111111111)");
        assert_eq!(f.live, "registry.example/shop/web:1.4.2 (222222222222)");

        let (desired, image, mut live) = fixtures::web();
        live.image = "registry.example/shop/web:1.4.1".into();
        only(&drift(&desired, &live, &image), Field::Image);

        // Without a resolved ID only the reference is compared.
        let (mut desired, image, mut live) = fixtures::web();
        desired.image_id = None;
        live.image_id = "sha256:whatever".into();
        assert_eq!(drift(&desired, &live, &image), vec![]);
    }

    #[test]
    fn command_and_entrypoint_drift() {
        let (mut desired, image, mut live) = fixtures::web();
        live.cmd = Some(vec!["node".into(), "debug.js".into()]);
        let d = drift(&desired, &live, &image);
        let f = only(&d, Field::Command);
        assert_eq!(f.desired, r#"["node","server.js"]"#);
        assert_eq!(f.live, r#"["node","debug.js"]"#);

        live.cmd = desired.cmd.clone();
        desired.entrypoint = Some(vec!["tini".into(), "--".into()]);
        live.entrypoint = None;
        let d = drift(&desired, &live, &image);
        let f = only(&d, Field::Entrypoint);
        assert_eq!(f.live, NONE);

        // An empty override and Docker's null are the same.
        desired.entrypoint = Some(vec![]);
        assert_eq!(drift(&desired, &live, &image), vec![]);
    }

    #[test]
    fn env_drift_names_only_differing_keys() {
        let (desired, image, mut live) = fixtures::web();
        live.env.insert("NODE_ENV".into(), "development".into());
        live.env.insert("DEBUG".into(), "1".into());
        live.env.remove("LOG_LEVEL");
        let d = drift(&desired, &live, &image);
        let f = only(&d, Field::Env);
        assert_eq!(
            f.desired,
            "DEBUG=(unset), LOG_LEVEL=info, NODE_ENV=production"
        );
        assert_eq!(f.live, "DEBUG=1, LOG_LEVEL=(unset), NODE_ENV=development");
        assert!(!f.desired.contains("PATH"));
    }

    #[test]
    fn secret_values_are_hidden() {
        let (desired, image, mut live) = fixtures::web();
        live.env.insert("API_KEY".into(), "old-s3cr3t".into());
        live.env.insert("db_password".into(), "hunter2".into());
        live.labels.insert("webhook.token".into(), "tok-123".into());
        let d = drift(&desired, &live, &image);
        assert_eq!(d.len(), 2, "{d:#?}");
        let text: String = d.iter().map(ToString::to_string).collect();
        for secret in ["s3cr3t-value", "old-s3cr3t", "hunter2", "tok-123"] {
            assert!(!text.contains(secret), "{text}");
        }
        assert_eq!(d[0].field, Field::Env);
        assert_eq!(d[0].desired, "API_KEY=(hidden), db_password=(unset)");
        assert_eq!(d[0].live, "API_KEY=(hidden), db_password=(hidden)");
        assert_eq!(d[1].field, Field::Labels);
        assert_eq!(d[1].live, "webhook.token=(hidden)");
    }

    #[test]
    fn secret_names() {
        for name in [
            "POSTGRES_PASSWORD",
            "api_key",
            "GITHUB_TOKEN",
            "JWT_SECRET",
            "AWS_SECRET_ACCESS_KEY",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["NODE_ENV", "PATH", "LOG_LEVEL", "PORT"] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn port_drift() {
        let (desired, image, mut live) = fixtures::web();
        live.ports[0].host_port = Some(3001);
        let d = drift(&desired, &live, &image);
        let f = only(&d, Field::Ports);
        assert_eq!(f.desired, "127.0.0.1:3000:3000/tcp");
        assert_eq!(f.live, "127.0.0.1:3001:3000/tcp");

        let (desired, image, mut live) = fixtures::web();
        live.ports.pop();
        let d = drift(&desired, &live, &image);
        assert_eq!(only(&d, Field::Ports).live, NONE);

        let (desired, image, mut live) = fixtures::web();
        let mut extra = live.ports[0].clone();
        extra.container_port = 9229;
        live.ports.push(extra);
        let d = drift(&desired, &live, &image);
        assert_eq!(only(&d, Field::Ports).desired, NONE);
    }

    #[test]
    fn unpublished_ports_accept_the_chosen_host_port() {
        let yaml = "name: shop\nservices:\n  web:\n    image: nginx\n    ports: [\"80\", \"127.0.0.1:8080:80\"]\n";
        let desired = fixtures::desired(yaml, "web");
        let image = fixtures::image_defaults();
        let mut live = fixtures::live_of(&desired);
        for p in &mut live.ports {
            if p.host_port.is_none() {
                p.host_port = Some(49153);
            }
        }
        live.ports.reverse();
        assert_eq!(drift(&desired, &live, &image), vec![]);
    }

    #[test]
    fn mount_drift() {
        let (desired, image, mut live) = fixtures::web();
        let token = live
            .mounts
            .iter_mut()
            .find(|m| m.target == "/run/secrets/api_token")
            .unwrap();
        token.read_only = false;
        let d = drift(&desired, &live, &image);
        let f = only(&d, Field::Mounts);
        assert_eq!(
            f.desired,
            "bind /srv/shop/secrets/api_token:/run/secrets/api_token:ro"
        );
        assert_eq!(
            f.live,
            "bind /srv/shop/secrets/api_token:/run/secrets/api_token"
        );

        let db = fixtures::desired(SHOP, "db");
        let mut live = fixtures::live_of(&db);
        let data = live
            .mounts
            .iter_mut()
            .find(|m| m.target == "/var/lib/postgresql/data")
            .unwrap();
        data.source = Some("other_pgdata".into());
        live.mounts.push(MountSpec {
            kind: MountKind::Bind,
            source: Some("/".into()),
            target: "/host".into(),
            read_only: false,
            options: Default::default(),
        });
        let d = drift(&db, &live, &image);
        let f = only(&d, Field::Mounts);
        assert_eq!(f.desired, "volume shop_pgdata:/var/lib/postgresql/data");
        assert_eq!(
            f.live,
            "bind /:/host, volume other_pgdata:/var/lib/postgresql/data"
        );
    }

    #[test]
    fn image_volumes_and_anonymous_names_are_not_drift() {
        let image = fixtures::image_defaults();
        let db = fixtures::desired(SHOP, "db");
        let live = fixtures::live_of(&db);
        assert!(live.mounts.iter().any(|m| m.target == "/var/cache/image"));
        let cache = live
            .mounts
            .iter()
            .find(|m| m.target == "/tmp/cache")
            .unwrap();
        assert!(cache.source.is_some());
        assert_eq!(drift(&db, &live, &image), vec![]);
        // A bind where the image declares a VOLUME is someone's change.
        let mut live = live;
        let v = live
            .mounts
            .iter_mut()
            .find(|m| m.target == "/var/cache/image")
            .unwrap();
        v.kind = MountKind::Bind;
        only(&drift(&db, &live, &image), Field::Mounts);
    }

    #[test]
    fn limits_and_restart_drift() {
        let (desired, image, mut live) = fixtures::web();
        live.limits.memory_bytes = Some(0);
        let d = drift(&desired, &live, &image);
        let f = only(&d, Field::Limits);
        assert_eq!(f.desired, "memory=512M, memory_reservation=256M, cpus=0.5");
        assert_eq!(f.live, "memory_reservation=256M, cpus=0.5");

        let (desired, image, mut live) = fixtures::web();
        live.restart.name = "no".into();
        let d = drift(&desired, &live, &image);
        let f = only(&d, Field::RestartPolicy);
        assert_eq!(
            (f.desired.as_str(), f.live.as_str()),
            ("unless-stopped", "no")
        );
    }

    #[test]
    fn network_drift() {
        let (desired, image, mut live) = fixtures::web();
        live.networks.remove("shop_default");
        live.networks.insert("bridge".into(), BTreeSet::new());
        let d = drift(&desired, &live, &image);
        let f = only(&d, Field::Networks);
        assert_eq!(f.desired, "shop_default (aliases: web)");
        assert_eq!(f.live, "bridge (aliases: )");

        let db = fixtures::desired(SHOP, "db");
        let mut live = fixtures::live_of(&db);
        live.networks
            .get_mut("shop_backend")
            .unwrap()
            .remove("postgres");
        let d = drift(&db, &live, &image);
        let f = only(&d, Field::Networks);
        assert_eq!(f.desired, "shop_backend (aliases: db, postgres)");
        assert!(f.live.starts_with("shop_backend (aliases: "), "{}", f.live);
    }

    #[test]
    fn label_drift_ignores_the_hash_label() {
        let (desired, image, mut live) = fixtures::web();
        live.labels.insert(labels::SPEC_HASH.into(), "old".into());
        assert_eq!(drift(&desired, &live, &image), vec![]);
        live.labels.insert("traefik.enable".into(), "false".into());
        let d = drift(&desired, &live, &image);
        let f = only(&d, Field::Labels);
        assert_eq!(f.desired, "traefik.enable=true");
        assert_eq!(f.live, "traefik.enable=false");
    }

    #[test]
    fn stopped_containers_drift_on_running() {
        let (desired, image, mut live) = fixtures::web();
        live.state = ContainerState::Exited { code: 137 };
        let d = drift(&desired, &live, &image);
        let f = only(&d, Field::Running);
        assert_eq!(
            f.to_string(),
            "running: want running, have exited (code 137)"
        );
    }

    #[test]
    fn drifts_come_in_field_order() {
        let (desired, image, mut live) = fixtures::web();
        live.state = ContainerState::Created;
        live.labels.insert("x".into(), "y".into());
        live.image = "other".into();
        live.env.insert("NEW".into(), "1".into());
        let fields: Vec<Field> = drift(&desired, &live, &image)
            .iter()
            .map(|d| d.field)
            .collect();
        assert_eq!(
            fields,
            vec![Field::Image, Field::Env, Field::Labels, Field::Running]
        );
    }

    #[test]
    fn network_mode_drifts_when_the_joined_container_is_another() {
        let yaml = "name: shop\nservices:\n  vpn: {image: nginx}\n  app:\n    image: nginx\n    network_mode: service:vpn\n  solo:\n    image: nginx\n    network_mode: host\n";
        let mut app = fixtures::desired(yaml, "app");
        app.options.network_container = Some("new-vpn-id".into());
        let image = fixtures::image_defaults();
        let mut live = fixtures::live_of(&app);
        assert_eq!(
            live.options.network_mode.as_deref(),
            Some("container:new-vpn-id")
        );
        // Docker lists no project network for such a container: not drift.
        live.networks.clear();
        assert!(drift(&app, &live, &image).is_empty());

        live.options.network_mode = Some("container:old-vpn-id".into());
        let found = drift(&app, &live, &image);
        let d = only(&found, Field::NetworkMode);
        assert_eq!(d.desired, "service:vpn (container:new-vpn-id)");
        assert_eq!(d.live, "container:old-vpn-id");

        // No container to join: the one joined is gone, and so is its network.
        app.options.network_container = None;
        let found = drift(&app, &live, &image);
        assert!(
            only(&found, Field::NetworkMode)
                .desired
                .contains("no running container")
        );

        let solo = fixtures::desired(yaml, "solo");
        let mut live = fixtures::live_of(&solo);
        live.networks = BTreeMap::from([("host".to_string(), BTreeSet::new())]);
        assert!(drift(&solo, &live, &image).is_empty());
        live.options.network_mode = Some("bridge".into());
        assert_eq!(
            only(&drift(&solo, &live, &image), Field::NetworkMode).desired,
            "host"
        );
    }

    #[test]
    fn field_names_are_lowercase() {
        let names: Vec<String> = Field::ALL.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "image",
                "command",
                "entrypoint",
                "env",
                "ports",
                "mounts",
                "limits",
                "restart",
                "networks",
                "labels",
            ]
            .into_iter()
            .chain(holdfast_spec::RUNTIME_OPTION_FIELDS)
            .chain(["expose", "devices", "runtime", "platform", "network_mode"])
            .chain(["running"])
            .collect::<Vec<_>>()
        );
        assert!(
            Field::ALL
                .iter()
                .filter(|f| !f.is_config())
                .eq([&Field::Running])
        );
        assert_eq!(
            serde_json::to_string(&Field::RestartPolicy).unwrap(),
            "\"restart\""
        );
    }
}
