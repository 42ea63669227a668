//! The exact container holdfast wants for one service.
//!
//! [`DesiredContainer::new`] derives it from the service's spec and the inputs the spec
//! crate does not read ([`ResolvedInputs`]: the local image ID, the contents of env
//! files, the digests of secret files). Its spec hash covers everything the container
//! will see, so editing an env file or a secret file, or pulling a new image for the
//! same tag, recreates the container — unlike Compose, whose hash covers only the YAML
//! (compose #11900, #13045).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use holdfast_spec::hash::content_hash;
use holdfast_spec::{MountKind, Service, parse_env_file};
use serde::{Deserialize, Serialize};

use super::container::{FixedAddress, Limits, MountSpec, PortBinding, RestartSpec, RuntimeOptions};
use super::labels;

/// Where secrets are mounted when their target is not an absolute path.
pub const SECRETS_DIR: &str = "/run/secrets";

/// What the container needs that the spec crate does not read: facts from the image
/// store and the contents of files. Observe fills it before planning.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvedInputs {
    /// The local image ID (`sha256:…`) that the image reference resolves to, or `None`
    /// when the image is not present yet.
    pub image_id: Option<String>,
    /// The text of each of the service's `env_file`s, in the spec's order. A missing
    /// file that is not `required` is an empty string.
    pub env_files: Vec<String>,
    /// Secret name → the host file that holds it (from the top-level `secrets:`), for
    /// at least every secret the service uses.
    pub secret_files: BTreeMap<String, PathBuf>,
    /// Secret name → SHA-256 (hex) of the secret file's content, for at least every
    /// secret the service uses.
    pub secret_digests: BTreeMap<String, String>,
    /// Network name in the file → its Docker name, for the networks whose Docker name
    /// is not `<project>_<network>` (a `name:`).
    pub network_names: BTreeMap<String, String>,
    /// Volume name in the file → its Docker name, for the volumes whose Docker name is
    /// not `<project>_<volume>` (a `name:`).
    pub volume_names: BTreeMap<String, String>,
    /// For each config the service mounts, by its path in the container: the host file
    /// that holds its content with the entry's owner and mode, and the content's digest
    /// (see [`inputs::resolve`](super::inputs::resolve)).
    pub config_files: BTreeMap<String, ConfigFile>,
}

/// A config as the container gets it: a host file bind-mounted read-only.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigFile {
    /// The host file (under the controller's configs folder).
    pub path: PathBuf,
    /// SHA-256 (hex) of the config's content.
    pub digest: String,
}

impl ResolvedInputs {
    /// Fills [`secret_files`](Self::secret_files) from the desired state's top-level
    /// `secrets:`, and [`network_names`](Self::network_names) and
    /// [`volume_names`](Self::volume_names) from its `networks:` and `volumes:`.
    pub fn with_secret_files_from(mut self, state: &holdfast_spec::DesiredState) -> Self {
        for (name, secret) in &state.secrets {
            self.secret_files.insert(name.clone(), secret.file.clone());
        }
        for (name, network) in &state.networks {
            if let Some(docker_name) = &network.name {
                self.network_names.insert(name.clone(), docker_name.clone());
            }
        }
        for (name, volume) in &state.volumes {
            if let Some(docker_name) = &volume.name {
                self.volume_names.insert(name.clone(), docker_name.clone());
            }
        }
        self
    }
}

/// Why a desired container could not be derived: the [`ResolvedInputs`] do not match
/// the service. These are bugs in the caller or a spec that changed under it, not
/// conditions that retrying fixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DesiredError {
    /// The number of env-file texts differs from the service's `env_file` entries.
    EnvFilesNotResolved {
        /// How many the service names.
        expected: usize,
        /// How many were given.
        got: usize,
    },
    /// A secret the service uses has no file in [`ResolvedInputs::secret_files`].
    UnknownSecret(String),
    /// A secret the service uses has no digest in [`ResolvedInputs::secret_digests`].
    SecretNotRead(String),
    /// A config the service mounts has no file in [`ResolvedInputs::config_files`].
    ConfigNotRead(String),
    /// The service sets Compose fields that holdfast accepts but cannot apply yet
    /// (see [`Service::not_applied_yet`]).
    NotAppliedYet(Vec<&'static str>),
}

impl fmt::Display for DesiredError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DesiredError::EnvFilesNotResolved { expected, got } => write!(
                f,
                "the service has {expected} env files but {got} were read"
            ),
            DesiredError::UnknownSecret(name) => {
                write!(
                    f,
                    "secret `{name}` is not defined under top-level `secrets:`"
                )
            }
            DesiredError::SecretNotRead(name) => {
                write!(f, "secret `{name}` has not been read (no digest)")
            }
            DesiredError::ConfigNotRead(name) => {
                write!(f, "config `{name}` has not been read (no file)")
            }
            DesiredError::NotAppliedYet(fields) => write!(
                f,
                "the controller cannot apply {} yet; remove {} from the service to run it",
                fields.join(", "),
                if fields.len() == 1 { "it" } else { "them" }
            ),
        }
    }
}

impl std::error::Error for DesiredError {}

/// How Docker checks the container's health, in the engine's units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthSpec {
    /// `["CMD", …]`, `["CMD-SHELL", "…"]` or `["NONE"]`.
    pub test: Vec<String>,
    /// Time between checks, in nanoseconds.
    pub interval_ns: Option<u64>,
    /// How long one check may take, in nanoseconds.
    pub timeout_ns: Option<u64>,
    /// Grace time after start, in nanoseconds.
    pub start_period_ns: Option<u64>,
    /// Time between checks during the start period, in nanoseconds.
    pub start_interval_ns: Option<u64>,
    /// Consecutive failures before the container is unhealthy.
    pub retries: Option<u32>,
}

/// The log driver and its options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSpec {
    /// Driver name; `None` is the engine's default.
    pub driver: Option<String>,
    /// Driver options.
    pub options: BTreeMap<String, String>,
}

/// The exact configuration holdfast wants for one service's container.
///
/// Everything apply passes to `docker create` is here, already resolved: full volume
/// and network names, merged environment, secret mounts, limits in bytes and nano-CPUs.
/// Ports and mounts are sorted so that reordering them in the file changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredContainer {
    /// Project that owns the container.
    pub project: String,
    /// Service name.
    pub service: String,
    /// Container name: `container_name`, or `<project>-<service>`.
    pub name: String,
    /// Image reference to create the container from. Without `image:` (a `build:`
    /// service) the built image's name, `<project>-<service>`, as Compose names it.
    pub image: String,
    /// The local image ID the reference resolved to, if present.
    pub image_id: Option<String>,
    /// Overrides the image's `CMD`; `None` keeps it.
    pub cmd: Option<Vec<String>>,
    /// Overrides the image's `ENTRYPOINT`; `None` keeps it.
    pub entrypoint: Option<Vec<String>>,
    /// Environment: env files in order (later files win), then `environment`.
    pub env: BTreeMap<String, String>,
    /// User labels, the ownership labels and the spec hash.
    pub labels: BTreeMap<String, String>,
    /// Published ports, sorted.
    pub ports: Vec<PortBinding>,
    /// Volumes, binds and secret files, sorted by target.
    pub mounts: Vec<MountSpec>,
    /// Full network name (`<project>_<network>`) → DNS aliases, which always include
    /// the service name.
    pub networks: BTreeMap<String, BTreeSet<String>>,
    /// Memory and CPU limits.
    pub limits: Limits,
    /// Docker's restart policy.
    pub restart: RestartSpec,
    /// Health check, if the service defines one.
    pub healthcheck: Option<HealthSpec>,
    /// User (and group) the process runs as.
    pub user: Option<String>,
    /// Run an init process as PID 1.
    pub init: Option<bool>,
    /// Seconds between SIGTERM and SIGKILL (Docker's `StopTimeout`), rounded up.
    pub stop_grace_seconds: Option<u64>,
    /// Log driver and options.
    pub logging: Option<LogSpec>,
    /// Hostname, capabilities, DNS, sysctls, ulimits, tmpfs and the rest; only the
    /// fields the file sets are in the spec hash.
    #[serde(flatten)]
    pub options: RuntimeOptions,
    /// Secret name → digest of the content, for the secrets this container mounts.
    /// Not given to Docker; here so that the spec hash changes with the content.
    pub secret_digests: BTreeMap<String, String>,
    /// Config name → digest of the content, for the configs this container mounts;
    /// like `secret_digests`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config_digests: BTreeMap<String, String>,
    /// The spec hash, also in `labels` under [`labels::SPEC_HASH`].
    #[serde(skip)]
    pub spec_hash: String,
}

impl DesiredContainer {
    /// Derives the container for service `service_name` of `project`.
    pub fn new(
        project: &str,
        service_name: &str,
        service: &Service,
        inputs: &ResolvedInputs,
    ) -> Result<Self, DesiredError> {
        let pending = service.not_applied_yet();
        if !pending.is_empty() {
            return Err(DesiredError::NotAppliedYet(pending));
        }
        if inputs.env_files.len() != service.env_file.len() {
            return Err(DesiredError::EnvFilesNotResolved {
                expected: service.env_file.len(),
                got: inputs.env_files.len(),
            });
        }

        let mut labels = service.labels.clone();
        labels.retain(|k, _| !labels::is_reserved(k));
        labels.extend(labels::ownership(project, service_name));

        let mut ports: Vec<PortBinding> =
            service.ports.iter().map(PortBinding::from_spec).collect();
        ports.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));

        let mut mounts: Vec<MountSpec> = service
            .volumes
            .iter()
            .map(|m| mount_from_spec(project, m, &inputs.volume_names))
            .collect();
        let mut secret_digests = BTreeMap::new();
        for secret in &service.secrets {
            let file = inputs
                .secret_files
                .get(&secret.source)
                .ok_or_else(|| DesiredError::UnknownSecret(secret.source.clone()))?;
            let digest = inputs
                .secret_digests
                .get(&secret.source)
                .ok_or_else(|| DesiredError::SecretNotRead(secret.source.clone()))?;
            secret_digests.insert(secret.source.clone(), digest.clone());
            mounts.push(read_only_file(
                file,
                secret_target(if secret.target.is_empty() {
                    &secret.source
                } else {
                    &secret.target
                }),
            ));
        }
        let mut config_digests = BTreeMap::new();
        for config in &service.configs {
            let target = config.path();
            let file = inputs
                .config_files
                .get(&target)
                .ok_or_else(|| DesiredError::ConfigNotRead(config.source.clone()))?;
            config_digests.insert(config.source.clone(), file.digest.clone());
            mounts.push(read_only_file(&file.path, target));
        }
        mounts.sort_by(|a, b| a.target.cmp(&b.target));

        let mut options = RuntimeOptions::from_spec(service);
        let networks = service
            .networks
            .iter()
            .map(|(name, membership)| {
                let mut aliases: BTreeSet<String> = membership.aliases.iter().cloned().collect();
                aliases.insert(service_name.to_string());
                let docker_name = inputs
                    .network_names
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| network_name(project, name));
                if membership.ipv4_address.is_some() || membership.ipv6_address.is_some() {
                    options.fixed_addresses.insert(
                        docker_name.clone(),
                        FixedAddress {
                            ipv4: membership.ipv4_address.clone(),
                            ipv6: membership.ipv6_address.clone(),
                        },
                    );
                }
                (docker_name, aliases)
            })
            .collect();

        let resources = &service.deploy.resources;
        let limits = Limits {
            memory_bytes: resources.limits.memory.map(|m| m.bytes()),
            memory_reservation_bytes: resources.reservations.memory.map(|m| m.bytes()),
            nano_cpus: resources.limits.cpus.map(|c| c.nano_cpus()),
        };

        let mut container = DesiredContainer {
            project: project.to_string(),
            service: service_name.to_string(),
            name: service
                .container_name
                .clone()
                .unwrap_or_else(|| default_container_name(project, service_name)),
            image: service
                .image
                .clone()
                .unwrap_or_else(|| default_container_name(project, service_name)),
            image_id: inputs.image_id.clone(),
            cmd: service.command.clone(),
            entrypoint: service.entrypoint.clone(),
            env: merge_env(&inputs.env_files, &service.environment),
            labels,
            ports,
            mounts,
            networks,
            limits,
            restart: RestartSpec::from(service.restart),
            healthcheck: service.healthcheck.as_ref().map(|h| HealthSpec {
                test: h.test.clone(),
                interval_ns: h.interval.as_ref().map(nanos),
                timeout_ns: h.timeout.as_ref().map(nanos),
                start_period_ns: h.start_period.as_ref().map(nanos),
                start_interval_ns: h.start_interval.as_ref().map(nanos),
                retries: h.retries,
            }),
            user: service.user.clone(),
            init: service.init,
            stop_grace_seconds: service.stop_grace_period.as_ref().map(ceil_seconds),
            logging: service.logging.as_ref().map(|l| LogSpec {
                driver: l.driver.clone(),
                options: l.options.clone(),
            }),
            options,
            secret_digests,
            config_digests,
            spec_hash: String::new(),
        };
        let hash = container.compute_spec_hash();
        container
            .labels
            .insert(labels::SPEC_HASH.to_string(), hash.clone());
        container.spec_hash = hash;
        Ok(container)
    }

    /// SHA-256 (hex) of the canonical JSON of this container without the hash label:
    /// every field above, including the image ID, the merged environment and the
    /// secret digests.
    pub fn compute_spec_hash(&self) -> String {
        let mut view = self.clone();
        view.labels.remove(labels::SPEC_HASH);
        content_hash(&view)
    }
}

/// The default container name of a service: `<project>-<service>`.
pub fn default_container_name(project: &str, service: &str) -> String {
    format!("{project}-{service}")
}

pub use crate::docker::ownership::{network_name, volume_name};

/// Where a secret with this `target` is mounted: `/run/secrets/<target>`, or `target`
/// itself when it is an absolute path.
pub fn secret_target(target: &str) -> String {
    if target.starts_with('/') {
        target.to_string()
    } else {
        format!("{SECRETS_DIR}/{target}")
    }
}

/// A host file mounted read-only at `target`: how secrets and configs reach the
/// container.
fn read_only_file(file: &std::path::Path, target: String) -> MountSpec {
    MountSpec {
        kind: MountKind::Bind,
        source: Some(file.to_string_lossy().into_owned()),
        target,
        read_only: true,
        options: Default::default(),
    }
}

/// The environment a container gets: each env file's `KEY=VALUE` lines in order, a
/// later file overriding an earlier one, then `environment` overriding them all. As in
/// Compose, a value may use `${VAR}`: the controller's environment, else a variable of
/// the lines above it.
pub fn merge_env(
    env_files: &[String],
    environment: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for text in env_files {
        env.extend(parse_env_file(text, &|name| std::env::var(name).ok()));
    }
    env.extend(environment.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

fn mount_from_spec(
    project: &str,
    mount: &holdfast_spec::Mount,
    volume_names: &BTreeMap<String, String>,
) -> MountSpec {
    let source = match mount.kind {
        MountKind::Volume => mount.source.as_deref().map(|v| {
            volume_names
                .get(v)
                .cloned()
                .unwrap_or_else(|| volume_name(project, v))
        }),
        MountKind::Bind => mount.source.clone(),
    };
    MountSpec {
        kind: mount.kind,
        source,
        target: mount.target.clone(),
        read_only: mount.read_only,
        options: super::container::MountOptions::from_spec(mount),
    }
}

fn nanos(d: &holdfast_spec::Duration) -> u64 {
    u64::try_from(d.std().as_nanos()).unwrap_or(u64::MAX)
}

fn ceil_seconds(d: &holdfast_spec::Duration) -> u64 {
    let d = d.std();
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::service::fixtures::{self, SHOP};

    #[test]
    fn hash_is_stable_for_equal_inputs() {
        let a = fixtures::desired(SHOP, "web");
        let b = fixtures::desired(SHOP, "web");
        assert_eq!(a.spec_hash, b.spec_hash);
        assert_eq!(a.spec_hash.len(), 64);
        assert_eq!(a.labels[labels::SPEC_HASH], a.spec_hash);
        assert_eq!(a.compute_spec_hash(), a.spec_hash);
    }

    #[test]
    fn hash_ignores_the_order_of_ports_and_mounts() {
        let yaml = "name: shop\nservices:\n  web:\n    image: nginx\n    ports: [\"8080:80\", \"8443:443\"]\n    volumes: [\"a:/a\", \"b:/b\"]\nvolumes: {a: {}, b: {}}\n";
        let reordered = "name: shop\nservices:\n  web:\n    image: nginx\n    ports: [\"8443:443\", \"8080:80\"]\n    volumes: [\"b:/b\", \"a:/a\"]\nvolumes: {a: {}, b: {}}\n";
        assert_eq!(
            fixtures::desired(yaml, "web").spec_hash,
            fixtures::desired(reordered, "web").spec_hash
        );
    }

    #[test]
    fn hash_changes_with_what_the_container_sees() {
        let state = fixtures::load(SHOP);
        let service = &state.services["web"];
        let inputs = fixtures::inputs_for(&state, "web");
        let base = DesiredContainer::new("shop", "web", service, &inputs).unwrap();
        let hash_with = |inputs: &ResolvedInputs, service: &Service| {
            DesiredContainer::new("shop", "web", service, inputs)
                .unwrap()
                .spec_hash
        };

        let mut env_file = inputs.clone();
        env_file.env_files[0] = "LOG_LEVEL=debug\n".into();
        assert_ne!(
            hash_with(&env_file, service),
            base.spec_hash,
            "env-file content"
        );

        let mut secret = inputs.clone();
        secret
            .secret_digests
            .insert("api_token".into(), "another digest".into());
        assert_ne!(hash_with(&secret, service), base.spec_hash, "secret digest");

        let mut image = inputs.clone();
        image.image_id = Some("sha256:2222".into());
        assert_ne!(hash_with(&image, service), base.spec_hash, "image id");

        let mut env = service.clone();
        env.environment.insert("NODE_ENV".into(), "staging".into());
        assert_ne!(hash_with(&inputs, &env), base.spec_hash, "environment");

        let mut limits = service.clone();
        limits.deploy.resources.limits.memory = Some(holdfast_spec::ByteSize::from_bytes(1 << 30));
        assert_ne!(hash_with(&inputs, &limits), base.spec_hash, "limits");
    }

    #[test]
    fn unused_secrets_do_not_change_the_hash() {
        let state = fixtures::load(SHOP);
        let mut inputs = fixtures::inputs_for(&state, "web");
        let base = DesiredContainer::new("shop", "web", &state.services["web"], &inputs).unwrap();
        inputs
            .secret_digests
            .insert("db_password".into(), "changed".into());
        let again = DesiredContainer::new("shop", "web", &state.services["web"], &inputs).unwrap();
        assert_eq!(base.spec_hash, again.spec_hash);
        assert!(!again.secret_digests.contains_key("db_password"));
    }

    #[test]
    fn configs_become_read_only_binds_and_their_content_is_in_the_hash() {
        let yaml = "name: shop\nservices:\n  web:\n    image: nginx\n    configs: [app, {source: site, target: /etc/site.conf, mode: 0440}]\nconfigs:\n  app: {content: one}\n  site: {content: two}\n";
        let state = fixtures::load(yaml);
        let service = &state.services["web"];
        let dir = std::path::Path::new("/var/lib/holdfast/configs");
        let with = |app: &[u8]| {
            let mut inputs = fixtures::inputs_for(&state, "web");
            for c in &service.configs {
                let content: &[u8] = if c.source == "app" { app } else { b"two" };
                inputs
                    .config_files
                    .insert(c.path(), super::super::inputs::config_copy(dir, c, content));
            }
            DesiredContainer::new("shop", "web", service, &inputs).unwrap()
        };
        let web = with(b"one");
        for target in ["/app", "/etc/site.conf"] {
            let m = web.mounts.iter().find(|m| m.target == target).unwrap();
            assert_eq!(m.kind, MountKind::Bind);
            assert!(m.read_only);
            assert!(
                m.source
                    .as_deref()
                    .unwrap()
                    .starts_with("/var/lib/holdfast/configs/")
            );
        }
        assert_eq!(web.config_digests.len(), 2);
        assert_eq!(with(b"one").spec_hash, web.spec_hash);
        assert_ne!(with(b"changed").spec_hash, web.spec_hash);

        let unread = fixtures::inputs_for(&state, "web");
        assert_eq!(
            DesiredContainer::new("shop", "web", service, &unread),
            Err(DesiredError::ConfigNotRead("app".into()))
        );
        // A container without configs keeps the hash it had before configs existed.
        let plain = fixtures::desired(SHOP, "web");
        assert!(
            !serde_json::to_string(&plain)
                .unwrap()
                .contains("config_digests")
        );
    }

    #[test]
    fn env_files_then_environment() {
        let files = vec![
            "A=from-first\nB=from-first\n# comment\nexport C=\"quoted\"\n".to_string(),
            "B=from-second\nD=from-second\n".to_string(),
        ];
        let environment = BTreeMap::from([("D".to_string(), "from-environment".to_string())]);
        let env = merge_env(&files, &environment);
        assert_eq!(env["A"], "from-first");
        assert_eq!(env["B"], "from-second");
        assert_eq!(env["C"], "quoted");
        assert_eq!(env["D"], "from-environment");
        assert_eq!(env.len(), 4);
    }

    #[test]
    fn env_file_values_use_the_lines_above_as_in_compose() {
        let files = vec![
            "HF_U7_USER=app\nHF_U7_URL=pg://${HF_U7_USER}@db\nHF_U7_RAW='${HF_U7_USER}'\n"
                .to_string(),
        ];
        let env = merge_env(&files, &BTreeMap::new());
        assert_eq!(env["HF_U7_URL"], "pg://app@db");
        assert_eq!(env["HF_U7_RAW"], "${HF_U7_USER}");
    }

    #[test]
    fn merged_env_reaches_the_container() {
        let web = fixtures::desired(SHOP, "web");
        // The fixture's env file sets LOG_LEVEL=info and NODE_ENV=development;
        // `environment` sets NODE_ENV=production.
        assert_eq!(web.env["LOG_LEVEL"], "info");
        assert_eq!(web.env["NODE_ENV"], "production");
    }

    #[test]
    fn names_default_to_project_and_service() {
        let web = fixtures::desired(SHOP, "web");
        assert_eq!(web.name, "shop-web");
        assert_eq!(web.project, "shop");
        assert_eq!(web.service, "web");
        let db = fixtures::desired(SHOP, "db");
        assert_eq!(db.name, "shop-database");
    }

    #[test]
    fn built_images_are_named_after_the_service() {
        let service = Service {
            build: Some(holdfast_spec::Build {
                context: "/srv/shop/app".into(),
                dockerfile: None,
                args: BTreeMap::new(),
                target: None,
            }),
            ..Default::default()
        };
        let c = DesiredContainer::new("shop", "app", &service, &ResolvedInputs::default()).unwrap();
        assert_eq!(c.image, "shop-app");
    }

    #[test]
    fn ownership_labels_and_user_labels() {
        let web = fixtures::desired(SHOP, "web");
        assert_eq!(web.labels[labels::PROJECT], "shop");
        assert_eq!(web.labels[labels::SERVICE], "web");
        assert_eq!(web.labels["traefik.enable"], "true");
    }

    #[test]
    fn user_cannot_forge_ownership_labels() {
        let mut service = Service {
            image: Some("nginx".into()),
            ..Default::default()
        };
        service
            .labels
            .insert(labels::PROJECT.into(), "someone-else".into());
        service.labels.insert(labels::SPEC_HASH.into(), "x".into());
        let c = DesiredContainer::new("shop", "web", &service, &ResolvedInputs::default()).unwrap();
        assert_eq!(c.labels[labels::PROJECT], "shop");
        assert_eq!(c.labels[labels::SPEC_HASH], c.spec_hash);
    }

    #[test]
    fn volumes_and_networks_are_prefixed() {
        let db = fixtures::desired(SHOP, "db");
        let data = db
            .mounts
            .iter()
            .find(|m| m.target == "/var/lib/postgresql/data")
            .unwrap();
        assert_eq!(data.kind, MountKind::Volume);
        assert_eq!(data.source.as_deref(), Some("shop_pgdata"));
        let anonymous = db.mounts.iter().find(|m| m.target == "/tmp/cache").unwrap();
        assert_eq!(anonymous.source, None);
        let bind = db
            .mounts
            .iter()
            .find(|m| m.target == "/etc/postgresql/extra.conf")
            .unwrap();
        assert_eq!(bind.kind, MountKind::Bind);
        assert_eq!(bind.source.as_deref(), Some("/srv/shop/pg.conf"));
        assert!(bind.read_only);

        assert_eq!(db.networks.keys().collect::<Vec<_>>(), vec!["shop_backend"]);
        assert_eq!(
            db.networks["shop_backend"],
            BTreeSet::from(["db".to_string(), "postgres".to_string()])
        );
        let web = fixtures::desired(SHOP, "web");
        assert_eq!(
            web.networks.keys().collect::<Vec<_>>(),
            vec!["shop_backend", "shop_default"]
        );
        assert!(web.networks.values().all(|aliases| aliases.contains("web")));
    }

    #[test]
    fn secrets_become_read_only_binds() {
        let web = fixtures::desired(SHOP, "web");
        let token = web
            .mounts
            .iter()
            .find(|m| m.target == "/run/secrets/api_token")
            .unwrap();
        assert_eq!(token.kind, MountKind::Bind);
        assert_eq!(token.source.as_deref(), Some("/srv/shop/secrets/api_token"));
        assert!(token.read_only);
        assert_eq!(web.secret_digests["api_token"], "digest-of-api_token");

        let db = fixtures::desired(SHOP, "db");
        let absolute = db
            .mounts
            .iter()
            .find(|m| m.source.as_deref() == Some("/srv/shop/secrets/db_password"))
            .unwrap();
        assert_eq!(absolute.target, "/etc/pg/password");
        assert!(absolute.read_only);
        assert_eq!(secret_target("x"), "/run/secrets/x");

        // A target left empty (deserialised rather than decoded) falls back to the name.
        let state = fixtures::load(SHOP);
        let mut service = state.services["web"].clone();
        service.secrets[0].target = String::new();
        let inputs = fixtures::inputs_for(&state, "web");
        let c = DesiredContainer::new("shop", "web", &service, &inputs).unwrap();
        assert!(
            c.mounts
                .iter()
                .any(|m| m.target == "/run/secrets/api_token")
        );
        assert_eq!(secret_target("/abs/x"), "/abs/x");
    }

    #[test]
    fn limits_health_and_runtime_settings() {
        let web = fixtures::desired(SHOP, "web");
        assert_eq!(web.limits.memory_bytes, Some(512 << 20));
        assert_eq!(web.limits.memory_reservation_bytes, Some(256 << 20));
        assert_eq!(web.limits.nano_cpus, Some(500_000_000));
        assert_eq!(web.restart.to_string(), "unless-stopped");
        let health = web.healthcheck.as_ref().unwrap();
        assert_eq!(health.test[0], "CMD");
        assert_eq!(health.interval_ns, Some(30_000_000_000));
        assert_eq!(health.timeout_ns, Some(10_000_000_000));
        assert_eq!(health.start_period_ns, Some(5_000_000_000));
        assert_eq!(health.retries, Some(3));
        assert_eq!(web.user.as_deref(), Some("1000:1000"));
        assert_eq!(web.init, Some(true));
        assert_eq!(web.stop_grace_seconds, Some(2));
        let logging = web.logging.as_ref().unwrap();
        assert_eq!(logging.driver.as_deref(), Some("json-file"));
        assert_eq!(logging.options["max-size"], "10m");
        assert_eq!(
            web.cmd.as_deref(),
            Some(&["node".to_string(), "server.js".to_string()][..])
        );
        assert_eq!(web.entrypoint, None);
        assert_eq!(web.image, "registry.example/shop/web:1.4.2");
        assert_eq!(web.image_id.as_deref(), Some(fixtures::IMAGE_ID));
    }

    #[test]
    fn ports_keep_host_ip_and_protocol() {
        let web = fixtures::desired(SHOP, "web");
        let rendered: Vec<String> = web.ports.iter().map(ToString::to_string).collect();
        assert_eq!(
            rendered,
            vec!["0.0.0.0:5353:53/udp", "127.0.0.1:3000:3000/tcp"]
        );
    }

    #[test]
    fn inputs_must_match_the_service() {
        let state = fixtures::load(SHOP);
        let web = &state.services["web"];
        let mut inputs = fixtures::inputs_for(&state, "web");
        inputs.env_files.clear();
        assert_eq!(
            DesiredContainer::new("shop", "web", web, &inputs),
            Err(DesiredError::EnvFilesNotResolved {
                expected: 1,
                got: 0
            })
        );
        let mut inputs = fixtures::inputs_for(&state, "web");
        inputs.secret_digests.clear();
        let err = DesiredContainer::new("shop", "web", web, &inputs).unwrap_err();
        assert_eq!(err, DesiredError::SecretNotRead("api_token".into()));
        assert!(err.to_string().contains("api_token"));
        let mut inputs = fixtures::inputs_for(&state, "web");
        inputs.secret_files.clear();
        assert_eq!(
            DesiredContainer::new("shop", "web", web, &inputs),
            Err(DesiredError::UnknownSecret("api_token".into()))
        );
    }
}
