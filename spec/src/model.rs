//! The desired state, after parsing, defaults and path resolution.
//!
//! These are the types the controller works from. Shorthand forms of the file (a list
//! `environment`, a string `command`, a short `ports` entry) are already expanded, paths
//! are absolute, and defaults are filled in. Serialising a [`DesiredState`] gives a file
//! that parses back to the same value, as long as no value contains `$` (interpolation
//! has already happened, so a `$` would be read as a variable again).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Serialize;

use crate::schema;
use crate::units::{ByteSize, Cpus, Duration};

/// The Compose fields of a service's runtime options (hostname … tmpfs), in the order
/// the model, the docs and drift list them.
pub const RUNTIME_OPTION_FIELDS: [&str; 21] = [
    "hostname",
    "domainname",
    "working_dir",
    "stop_signal",
    "tty",
    "stdin_open",
    "read_only",
    "privileged",
    "cap_add",
    "cap_drop",
    "extra_hosts",
    "dns",
    "dns_search",
    "dns_opt",
    "group_add",
    "security_opt",
    "shm_size",
    "pids_limit",
    "sysctls",
    "ulimits",
    "tmpfs",
];

/// The whole desired-state file.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(title = "holdfast desired state", extend("patternProperties" = {"^x-": {}}))]
#[schemars(transform = schema::top_level_extras)]
#[serde(deny_unknown_fields)]
pub struct DesiredState {
    /// Services of the file left out because none of their profiles is active. Not
    /// part of the file's content or of its hash: the controller keeps their containers
    /// rather than remove them as gone from the file.
    #[serde(skip)]
    #[schemars(skip)]
    pub inactive_services: BTreeSet<String>,
    /// Project name. Containers, networks and volumes are owned per project. Defaults to
    /// the name of the folder that holds the file, as Compose does.
    #[serde(default)]
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9_-]*$"))]
    pub name: String,
    /// The containers to run, by service name.
    #[serde(default)]
    pub services: BTreeMap<String, Service>,
    /// Docker networks. A service that names no network joins `default`, which is
    /// created for the project when absent here.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, Option<Network>>")]
    pub networks: BTreeMap<String, Network>,
    /// Named volumes. They are never removed unless asked explicitly.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, Option<Volume>>")]
    pub volumes: BTreeMap<String, Volume>,
    /// Secrets, each read from a file outside the desired-state file.
    #[serde(default)]
    pub secrets: BTreeMap<String, Secret>,
    /// Configuration files mounted into services (`configs:`), from a file or written
    /// in the desired-state file.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "schema::configs")]
    pub configs: BTreeMap<String, Config>,
    /// The reverse proxy that serves `routes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<crate::routes::Proxy>,
    /// Sites served through the proxy, by route name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "schema::routes")]
    pub routes: BTreeMap<String, crate::routes::Route>,
}

/// One container and how to run it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, JsonSchema)]
#[schemars(extend("patternProperties" = {"^x-": {}}))]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Image reference. With `build`, the tag given to the built image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Build the image locally instead of pulling it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::build")]
    pub build: Option<Build>,
    /// When to pull the image.
    #[serde(default)]
    #[schemars(schema_with = "schema::pull_policy")]
    pub pull_policy: PullPolicy,
    /// The container's fixed name. Defaults to `<project>-<service>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// Overrides the image's `CMD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::shell_command")]
    pub command: Option<Vec<String>>,
    /// Overrides the image's `ENTRYPOINT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::shell_command")]
    pub entrypoint: Option<Vec<String>>,
    /// Environment variables. Values from `env_file` come first; these win.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "schema::string_map_or_list")]
    pub environment: BTreeMap<String, String>,
    /// Files of `KEY=VALUE` lines added to the environment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::env_files")]
    pub env_file: Vec<EnvFile>,
    /// Secrets mounted read-only under `/run/secrets/`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::service_secrets")]
    pub secrets: Vec<ServiceSecret>,
    /// Configs mounted read-only into the container, at `/<name>` unless a target is
    /// given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::service_configs")]
    pub configs: Vec<ServiceConfig>,
    /// Published ports. A port with no host IP binds to 127.0.0.1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::ports")]
    pub ports: Vec<Port>,
    /// Container ports the service listens on without publishing them (Compose
    /// `expose:`). Routes check their `port` against these and the `ports` targets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::expose")]
    pub expose: Vec<u16>,
    /// Named volumes and bind mounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::mounts")]
    pub volumes: Vec<Mount>,
    /// Networks the container joins, with optional aliases.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "schema::service_networks")]
    pub networks: BTreeMap<String, ServiceNetwork>,
    /// How Docker checks that the container works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    /// Docker's restart policy.
    #[serde(default)]
    pub restart: RestartPolicy,
    /// Resource limits and reservations.
    #[serde(default, skip_serializing_if = "Deploy::is_empty")]
    pub deploy: Deploy,
    /// Log driver and its options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
    /// User (and group) the process runs as: `1000`, `1000:1000` or `app`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Run an init process (tini) as PID 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    /// How long to wait after SIGTERM before SIGKILL. Docker's default is 10s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Duration")]
    pub stop_grace_period: Option<Duration>,
    /// Host name inside the container. Docker's default is the short container ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// NIS domain name inside the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    /// Working directory of the process; overrides the image's `WORKDIR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// The signal that stops the container, such as `SIGINT`. Docker's default is
    /// the image's `STOPSIGNAL`, else `SIGTERM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Allocate a pseudo-TTY.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty: Option<bool>,
    /// Keep stdin open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin_open: Option<bool>,
    /// Mount the container's root filesystem read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// Give the container all capabilities and devices of the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// Linux capabilities to add, such as `NET_ADMIN`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    /// Linux capabilities to drop, such as `ALL`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    /// Extra `/etc/hosts` entries: host name → IP address.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "schema::extra_hosts")]
    pub extra_hosts: BTreeMap<String, String>,
    /// DNS servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::string_or_list")]
    pub dns: Vec<String>,
    /// DNS search domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::string_or_list")]
    pub dns_search: Vec<String>,
    /// Resolver options, such as `ndots:2`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_opt: Vec<String>,
    /// Extra groups the process belongs to, by name or id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<String>,
    /// Security options, such as `no-new-privileges:true`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    /// Size of `/dev/shm`, such as `256M`. Docker's default is 64M.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "ByteSize")]
    pub shm_size: Option<ByteSize>,
    /// Most processes the container may run; `-1` for no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
    /// Kernel parameters, such as `net.core.somaxconn: 1024`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "schema::string_map_or_list")]
    pub sysctls: BTreeMap<String, String>,
    /// Resource limits by name (`nofile`, `nproc`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "schema::ulimits")]
    pub ulimits: BTreeMap<String, Ulimit>,
    /// tmpfs mounts: `/path` or `/path:options`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::string_or_list")]
    pub tmpfs: Vec<String>,
    /// Labels on the container. Keys under `io.holdfast.` are reserved.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "schema::string_map_or_list")]
    pub labels: BTreeMap<String, String>,
    /// The platform of the image, such as `linux/amd64`; checked against the engine's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The OCI runtime, such as `runc` or `io.containerd.wasmedge.v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// Host devices mapped into the container: `HOST[:CONTAINER[:PERMISSIONS]]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<String>,
    /// The network stack: `host`, `none`, `bridge`, `service:NAME` or `container:NAME`
    /// instead of the project's networks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    /// Services that must be started (or healthy) before this one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "schema::depends_on")]
    pub depends_on: BTreeMap<String, Dependency>,
    /// holdfast's own settings for this service, under the Compose extension key
    /// `x-holdfast` so that Compose ignores them.
    #[serde(
        rename = "x-holdfast",
        default,
        skip_serializing_if = "HoldfastOptions::is_default"
    )]
    pub holdfast: HoldfastOptions,
}

/// One `ulimits` entry. `nofile: 1024` sets both to 1024.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ulimit {
    /// The soft limit.
    pub soft: i64,
    /// The hard limit.
    pub hard: i64,
}

/// holdfast's own settings for one service (`x-holdfast:`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldfastOptions {
    /// What the controller does when the live container differs from the file.
    #[serde(default)]
    pub drift: DriftMode,
}

impl HoldfastOptions {
    /// Whether every setting has its default.
    pub fn is_default(&self) -> bool {
        self == &HoldfastOptions::default()
    }
}

/// What the controller does about drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DriftMode {
    /// Put the container back as the file says (the default).
    #[default]
    Correct,
    /// Report the drift (event, status, metric) but change nothing.
    Report,
}

/// How to build a service's image.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Build {
    /// The build context: a folder, resolved against the desired-state file's folder.
    pub context: PathBuf,
    /// The Dockerfile, relative to the context. Default `Dockerfile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    /// Build arguments.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "schema::string_map_or_list")]
    pub args: BTreeMap<String, String>,
    /// The stage of a multi-stage Dockerfile to build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// When the image is pulled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PullPolicy {
    /// Pull only when the image is not present locally.
    #[default]
    Missing,
    /// Pull on every reconcile that creates a container.
    Always,
    /// Never pull; a missing image is an error that retrying cannot fix.
    Never,
}

/// A file of environment variables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvFile {
    /// Absolute path of the file.
    pub path: PathBuf,
    /// Whether a missing file is an error. Default true.
    #[serde(default = "yes")]
    pub required: bool,
}

fn default_host_ip() -> String {
    crate::DEFAULT_HOST_IP.to_string()
}

fn yes() -> bool {
    true
}

/// A secret mounted into a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceSecret {
    /// The top-level secret's name.
    pub source: String,
    /// The file name under `/run/secrets/` (or an absolute path). Defaults to `source`.
    #[serde(default)]
    pub target: String,
}

/// A config mounted into a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// The top-level config's name.
    pub source: String,
    /// The absolute path of the file inside the container. Defaults to `/<source>`.
    #[serde(default)]
    pub target: String,
    /// The numeric user that owns the file in the container. Default `0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The numeric group that owns the file in the container. Default `0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    /// The file's permission bits, such as `0440` (octal). Default `0444`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

impl ServiceConfig {
    /// The path inside the container: `target`, or `/<source>` when it is empty.
    pub fn path(&self) -> String {
        match self.target.as_str() {
            "" => format!("/{}", self.source),
            t if t.starts_with('/') => t.to_string(),
            t => format!("/{t}"),
        }
    }
}

/// A published port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::port_extras)]
pub struct Port {
    /// The port inside the container.
    pub target: u16,
    /// The host port. Absent means Docker picks a free one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<u16>,
    /// The host address. Defaults to `127.0.0.1`; write `0.0.0.0` to listen on every
    /// interface.
    #[serde(default = "default_host_ip")]
    pub host_ip: String,
    /// `tcp` or `udp`.
    #[serde(default)]
    pub protocol: Protocol,
}

/// A transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, JsonSchema, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    #[default]
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    /// `tcp` or `udp`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// A named volume or a bind mount.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    /// `volume` or `bind`.
    #[serde(rename = "type", default)]
    pub kind: MountKind,
    /// Volume name, or the host path (absolute) for a bind mount. Absent for an
    /// anonymous volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The path inside the container.
    pub target: String,
    /// Mount read-only.
    #[serde(default)]
    pub read_only: bool,
    /// SELinux relabelling of a bind mount: `z` (shared) or `Z` (private).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selinux: Option<String>,
    /// A volume is not filled with the image's files at its target (`nocopy`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nocopy: bool,
    /// Whether a missing host path of a bind mount is created (Compose's default);
    /// `false` makes a missing path an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_host_path: Option<bool>,
    /// Bind propagation: `private`, `rprivate`, `shared`, `rshared`, `slave`, `rslave`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagation: Option<String>,
}

/// The kind of a mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, JsonSchema, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    /// A Docker volume.
    #[default]
    Volume,
    /// A host path.
    Bind,
}

/// A service's membership of one network.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceNetwork {
    /// Extra DNS names of the container on this network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// A fixed IPv4 address on this network (inside one of its `ipam` subnets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<String>,
    /// A fixed IPv6 address on this network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<String>,
}

/// How Docker checks the container's health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::healthcheck_extras)]
pub struct Healthcheck {
    /// `["CMD", prog, args...]`, `["CMD-SHELL", "command"]` or `["NONE"]`. A string is
    /// run by the shell.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::healthcheck_test")]
    pub test: Vec<String>,
    /// Time between checks. Docker's default is 30s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Duration")]
    pub interval: Option<Duration>,
    /// How long one check may take. Docker's default is 30s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Duration")]
    pub timeout: Option<Duration>,
    /// Consecutive failures before the container is unhealthy. Docker's default is 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Grace time after start during which failures do not count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Duration")]
    pub start_period: Option<Duration>,
    /// Time between checks during the start period (Docker 25 and later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Duration")]
    pub start_interval: Option<Duration>,
}

impl Healthcheck {
    /// Whether the check is switched off (`["NONE"]` or `disable: true`).
    pub fn is_disabled(&self) -> bool {
        self.test.first().map(String::as_str) == Some("NONE")
    }
}

/// Docker's restart policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartPolicy {
    /// Never restart (`"no"`, the default).
    #[default]
    No,
    /// Always restart.
    Always,
    /// Restart unless stopped by hand.
    UnlessStopped,
    /// Restart when the process exits non-zero, at most `max_retries` times if given.
    OnFailure {
        /// Upper bound on restarts.
        max_retries: Option<u32>,
    },
}

impl std::fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestartPolicy::No => f.write_str("no"),
            RestartPolicy::Always => f.write_str("always"),
            RestartPolicy::UnlessStopped => f.write_str("unless-stopped"),
            RestartPolicy::OnFailure { max_retries: None } => f.write_str("on-failure"),
            RestartPolicy::OnFailure {
                max_retries: Some(n),
            } => write!(f, "on-failure:{n}"),
        }
    }
}

impl Serialize for RestartPolicy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl JsonSchema for RestartPolicy {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RestartPolicy".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Docker's restart policy: no, always, unless-stopped, on-failure or on-failure:N.",
            "type": "string",
            "pattern": "^(no|always|unless-stopped|on-failure(:[0-9]+)?)$"
        })
    }
}

/// `deploy:` — `resources` and `update_config`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::deploy_extras)]
pub struct Deploy {
    /// Resource limits and reservations.
    #[serde(default)]
    pub resources: Resources,
    /// How a container is replaced when it must be.
    #[serde(default, skip_serializing_if = "UpdateConfig::is_default")]
    pub update_config: UpdateConfig,
    /// How many containers run the service. Absent means one; `0` runs none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
}

/// `deploy.update_config`: how a service's container is replaced.
///
/// With `order: start-first` and a route to the service, the new container starts
/// beside the old one, is probed through the route's `health`, takes the route's
/// traffic in one proxy change, and the old one is drained and only then stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConfig {
    /// `stop-first` (the default: stop the old container, then start the new one) or
    /// `start-first` (zero-downtime, for a service behind a route).
    #[serde(default)]
    pub order: UpdateOrder,
    /// How many containers are replaced at once. Default 1.
    #[serde(default = "one")]
    #[schemars(range(min = 1))]
    pub parallelism: u32,
    /// How long the new container is watched after the old one is gone; if it turns
    /// unhealthy or exits in that time, `failure_action` applies. Default 0s.
    #[serde(default)]
    pub monitor: Duration,
    /// What a failed update does: `pause` (the default: keep what runs, report
    /// Failed), `rollback` (go back to the previous image and spec) or `continue`.
    #[serde(default)]
    pub failure_action: FailureAction,
}

fn one() -> u32 {
    1
}

impl Default for UpdateConfig {
    fn default() -> Self {
        UpdateConfig {
            order: UpdateOrder::StopFirst,
            parallelism: 1,
            monitor: Duration::default(),
            failure_action: FailureAction::Pause,
        }
    }
}

impl UpdateConfig {
    /// Whether nothing is set.
    pub fn is_default(&self) -> bool {
        self == &UpdateConfig::default()
    }
}

/// `update_config.order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateOrder {
    /// Stop the old container, then start the new one.
    #[default]
    StopFirst,
    /// Start the new container first; the old one stops once the new one serves.
    StartFirst,
}

/// `update_config.failure_action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FailureAction {
    /// Keep what runs and report the service Failed.
    #[default]
    Pause,
    /// Go back to the previous image and spec.
    Rollback,
    /// Carry on as if the update had succeeded.
    Continue,
}

impl Deploy {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self == &Deploy::default()
    }
}

/// Limits and reservations.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// Hard limits.
    #[serde(default)]
    pub limits: ResourceAmounts,
    /// Soft reservations.
    #[serde(default)]
    pub reservations: ResourceAmounts,
}

/// An amount of memory and CPU.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceAmounts {
    /// Memory, such as `512M`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "ByteSize")]
    pub memory: Option<ByteSize>,
    /// CPUs, such as `0.5`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Cpus")]
    pub cpus: Option<Cpus>,
}

/// The log driver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Logging {
    /// Driver name, such as `json-file` or `local`. Defaults to the engine's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Driver options, such as `max-size: 10m`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "schema::scalar_map")]
    pub options: BTreeMap<String, String>,
}

/// One dependency of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Dependency {
    /// What "ready" means for the dependency.
    #[serde(default)]
    pub condition: DependencyCondition,
    /// `false`: a dependency that is not in the desired state (left out by its
    /// profile, say) is ignored instead of an error.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub required: bool,
    /// Restart this service when the dependency is replaced.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restart: bool,
}

fn is_true(b: &bool) -> bool {
    *b
}

/// When a dependency counts as ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DependencyCondition {
    /// Its container is running.
    #[default]
    ServiceStarted,
    /// Its container is running and its health check passes.
    ServiceHealthy,
    /// Its container ran to completion with exit code 0 (a one-shot such as a
    /// migration, which is not restarted afterwards).
    ServiceCompletedSuccessfully,
}

/// A top-level network.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// Network driver. Default `bridge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// An internal network has no route to the outside world.
    #[serde(default)]
    pub internal: bool,
    /// Labels on the network.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "schema::string_map_or_list")]
    pub labels: BTreeMap<String, String>,
    /// The Docker network's name, instead of `<project>_<network>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The network exists already and is not the project's: holdfast joins it and
    /// never creates, changes or removes it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
    /// Enable IPv6 on the network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_ipv6: Option<bool>,
    /// Driver options, such as `com.docker.network.bridge.name: br-mail`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "schema::scalar_map")]
    pub driver_opts: BTreeMap<String, String>,
    /// Address management: fixed subnets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipam: Option<Ipam>,
}

/// A network's address management.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ipam {
    /// IPAM driver. Default `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// The address pools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<IpamPool>,
}

/// One address pool of a network.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IpamPool {
    /// The subnet, such as `172.22.1.0/24`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    /// The gateway address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// The range addresses are given from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<String>,
}

/// A top-level named volume.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    /// Volume driver. Default `local`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Labels on the volume.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "schema::string_map_or_list")]
    pub labels: BTreeMap<String, String>,
    /// The Docker volume's name, instead of `<project>_<volume>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The volume exists already and is not the project's: holdfast mounts it and
    /// never creates or removes it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
    /// Driver options, such as `type: nfs`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "schema::scalar_map")]
    pub driver_opts: BTreeMap<String, String>,
}

/// A top-level secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    /// The file that holds the secret, resolved against the desired-state file's folder.
    pub file: PathBuf,
}

/// A top-level config: a file on this host, or text written in the desired-state file
/// (`content:`, or `environment:` naming a variable whose value is the text). Exactly
/// one of the two is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The file that holds the config, resolved against the desired-state file's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// The config's text (`content:`, or the value of the `environment:` variable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}
