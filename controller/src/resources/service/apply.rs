//! Apply: carry out a service's planned actions against the engine.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, DeviceMapping, EndpointIpamConfig, EndpointSettings, HealthConfig,
    HostConfig, HostConfigLogConfig, Mount, MountType, MountVolumeOptions, NetworkConnectRequest,
    NetworkingConfig, PortBinding as DockerPortBinding, ResourcesUlimits, RestartPolicy,
    RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, RestartContainerOptionsBuilder,
    StopContainerOptionsBuilder,
};
use holdfast_spec::MountKind;

use super::desired::DesiredContainer;
use super::live::LiveContainer;
use super::plan::Action;
use crate::docker::{is_conflict, is_not_found, is_not_modified};

/// Why an action failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A container that holdfast does not own already has the name.
    #[error(
        "container name `{0}` is taken by a container holdfast does not own; rename or remove it (`docker rm -f {0}`), or set another container_name"
    )]
    NameTaken(String),
    /// The name is held by another container of this project (one made by hand, or
    /// one created a moment ago); the next observe sees it.
    #[error("container name `{0}` is held by another container of this project; looking again")]
    NameHeldByOwn(String),
    /// The container is being removed (by someone else) and cannot be started; once it
    /// is gone, a new one is created.
    #[error("container `{0}` is being removed; waiting for it to go")]
    BeingRemoved(String),
    /// The service's `platform` is not the engine's.
    #[error(
        "service `{service}` wants platform `{wanted}` but the Docker engine runs `{engine}`; set `platform: {engine}` or remove `platform:`, or run the service on a host of that platform"
    )]
    PlatformMismatch {
        /// The service.
        service: String,
        /// Its `platform`.
        wanted: String,
        /// The engine's `os/arch`.
        engine: String,
    },
    /// A bind with `create_host_path: false` names a host path that does not exist.
    #[error(
        "service `{service}`: the host path `{path}` of a bind mount does not exist, and `create_host_path: false` says not to create it; create it, or remove `create_host_path: false`"
    )]
    HostPathMissing {
        /// The service.
        service: String,
        /// The missing path.
        path: String,
    },
    /// The engine refused.
    #[error(transparent)]
    Api(#[from] bollard::errors::Error),
}

impl ApplyError {
    /// Whether retrying without a change cannot succeed: only a platform the engine
    /// does not run. A foreign container holding the name may be removed by the
    /// operator, and a missing host path created, so those are retried with (capped)
    /// backoff.
    pub fn is_permanent(&self) -> bool {
        matches!(self, ApplyError::PlatformMismatch { .. })
    }

    /// Whether this is a passing state of the engine to wait out, not a failure.
    pub fn is_transitional(&self) -> bool {
        matches!(
            self,
            ApplyError::NameHeldByOwn(_) | ApplyError::BeingRemoved(_)
        )
    }
}

fn restart_policy(desired: &DesiredContainer) -> RestartPolicy {
    let r = desired.restart.normalized();
    let name = match r.name.as_str() {
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        _ => RestartPolicyNameEnum::NO,
    };
    RestartPolicy {
        name: Some(name),
        maximum_retry_count: (r.max_retries > 0).then_some(i64::from(r.max_retries)),
    }
}

fn some_list(list: &[String]) -> Option<Vec<String>> {
    (!list.is_empty()).then(|| list.to_vec())
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The endpoint of `desired` on network `name`: its aliases and fixed addresses.
fn endpoint(
    desired: &DesiredContainer,
    name: &str,
    aliases: &std::collections::BTreeSet<String>,
) -> EndpointSettings {
    EndpointSettings {
        aliases: Some(aliases.iter().cloned().collect()),
        ipam_config: desired
            .options
            .fixed_addresses
            .get(name)
            .map(|fixed| EndpointIpamConfig {
                ipv4_address: fixed.ipv4.clone(),
                ipv6_address: fixed.ipv6.clone(),
                ..Default::default()
            }),
        ..Default::default()
    }
}

/// The engine's create request for `desired`, with only the first network attached
/// (engines before API 1.44 accept one network at create; the rest are connected
/// before the container starts).
pub fn create_body(desired: &DesiredContainer) -> ContainerCreateBody {
    let o = &desired.options;
    let mut port_bindings: HashMap<String, Option<Vec<DockerPortBinding>>> = HashMap::new();
    for p in &desired.ports {
        port_bindings
            .entry(format!("{}/{}", p.container_port, p.protocol.as_str()))
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(DockerPortBinding {
                host_ip: Some(p.host_ip.clone()),
                host_port: Some(p.host_port.map(|n| n.to_string()).unwrap_or_default()),
            });
    }
    let exposed: Vec<String> = port_bindings
        .keys()
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .union(&o.expose)
        .cloned()
        .collect();
    let mut binds = Vec::new();
    let mut mounts = Vec::new();
    for m in &desired.mounts {
        match (m.kind, &m.source) {
            (MountKind::Bind, Some(source)) => {
                binds.push(format!(
                    "{source}:{}{}",
                    m.target,
                    m.options.bind_suffix(m.read_only)
                ));
            }
            _ => mounts.push(Mount {
                target: Some(m.target.clone()),
                source: m.source.clone(),
                typ: Some(MountType::VOLUME),
                read_only: Some(m.read_only),
                volume_options: m.options.nocopy.then(|| MountVolumeOptions {
                    no_copy: Some(true),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        }
    }
    let host_config = HostConfig {
        port_bindings: Some(port_bindings),
        binds: Some(binds),
        mounts: Some(mounts),
        memory: desired.limits.memory_bytes.map(signed),
        memory_reservation: desired.limits.memory_reservation_bytes.map(signed),
        nano_cpus: desired.limits.nano_cpus.map(signed),
        restart_policy: Some(restart_policy(desired)),
        init: desired.init,
        log_config: desired.logging.as_ref().and_then(|l| {
            l.driver.as_ref().map(|driver| HostConfigLogConfig {
                typ: Some(driver.clone()),
                config: Some(
                    l.options
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                ),
            })
        }),
        network_mode: desired
            .options
            .docker_network_mode()
            .or_else(|| desired.networks.keys().next().cloned()),
        readonly_rootfs: o.read_only,
        privileged: o.privileged,
        cap_add: some_list(&o.cap_add),
        cap_drop: some_list(&o.cap_drop),
        extra_hosts: (!o.extra_hosts.is_empty()).then(|| {
            o.extra_hosts
                .iter()
                .map(|(host, ip)| format!("{host}:{ip}"))
                .collect()
        }),
        dns: some_list(&o.dns),
        dns_search: some_list(&o.dns_search),
        dns_options: some_list(&o.dns_opt),
        group_add: some_list(&o.group_add),
        security_opt: some_list(&o.security_opt),
        shm_size: o.shm_size_bytes.map(signed),
        pids_limit: o.pids_limit,
        sysctls: (!o.sysctls.is_empty()).then(|| {
            o.sysctls
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }),
        ulimits: (!o.ulimits.is_empty()).then(|| {
            o.ulimits
                .iter()
                .map(|(name, (soft, hard))| ResourcesUlimits {
                    name: Some(name.clone()),
                    soft: Some(*soft),
                    hard: Some(*hard),
                })
                .collect()
        }),
        devices: (!o.devices.is_empty()).then(|| {
            o.devices
                .iter()
                .map(|d| {
                    let mut parts = d.splitn(3, ':').map(str::to_string);
                    DeviceMapping {
                        path_on_host: parts.next(),
                        path_in_container: parts.next(),
                        cgroup_permissions: parts.next(),
                    }
                })
                .collect()
        }),
        runtime: o.runtime.clone(),
        tmpfs: (!o.tmpfs.is_empty()).then(|| {
            o.tmpfs
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }),
        ..Default::default()
    };
    let networking_config =
        desired
            .networks
            .iter()
            .next()
            .map(|(name, aliases)| NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    name.clone(),
                    endpoint(desired, name, aliases),
                )])),
            });
    ContainerCreateBody {
        image: Some(desired.image.clone()),
        cmd: desired.cmd.clone(),
        entrypoint: desired.entrypoint.clone(),
        env: Some(
            desired
                .env
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
        ),
        labels: Some(
            desired
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        user: desired.user.clone(),
        hostname: o.hostname.clone(),
        domainname: o.domainname.clone(),
        working_dir: o.working_dir.clone(),
        stop_signal: o.stop_signal.clone(),
        tty: o.tty,
        open_stdin: o.stdin_open,
        exposed_ports: Some(exposed),
        stop_timeout: desired.stop_grace_seconds.map(signed),
        healthcheck: desired
            .healthcheck
            .as_ref()
            .filter(|h| !h.test.is_empty())
            .map(|h| HealthConfig {
                test: Some(h.test.clone()),
                interval: h.interval_ns.map(signed),
                timeout: h.timeout_ns.map(signed),
                retries: h.retries.map(i64::from),
                start_period: h.start_period_ns.map(signed),
                start_interval: h.start_interval_ns.map(signed),
            }),
        host_config: Some(host_config),
        networking_config,
        ..Default::default()
    }
}

/// Creates the container (attached to all its networks) and starts it. Returns its ID.
pub async fn create_and_start(
    docker: &Docker,
    desired: &DesiredContainer,
) -> Result<String, ApplyError> {
    check_before_create(docker, desired).await?;
    let mut options = CreateContainerOptionsBuilder::default().name(&desired.name);
    if let Some(platform) = &desired.options.platform {
        options = options.platform(platform);
    }
    let options = options.build();
    let created = match docker
        .create_container(Some(options), create_body(desired))
        .await
    {
        Ok(created) => created,
        Err(e) if is_conflict(&e) => return Err(name_conflict(docker, desired).await),
        Err(e) => return Err(e.into()),
    };
    let id = created.id;
    for (name, aliases) in desired.networks.iter().skip(1) {
        let request = NetworkConnectRequest {
            container: id.clone(),
            endpoint_config: Some(endpoint(desired, name, aliases)),
        };
        docker.connect_network(name, request).await?;
    }
    start(docker, &id).await?;
    Ok(id)
}

/// The engine's platform, `os/arch` as Go names them (`linux/amd64`).
pub async fn engine_platform(docker: &Docker) -> Result<String, bollard::errors::Error> {
    let version = docker.version().await?;
    Ok(format!(
        "{}/{}",
        version.os.unwrap_or_default(),
        version.arch.unwrap_or_default()
    ))
}

/// Whether `wanted` (`os[/arch[/variant]]`, as Compose writes it) is `engine`'s
/// platform. Compose's aliases for the architecture (`x86_64`, `aarch64`) count, and a
/// variant is not compared (the engine does not report one).
pub fn platform_matches(wanted: &str, engine: &str) -> bool {
    fn arch(a: &str) -> String {
        match a.to_ascii_lowercase().as_str() {
            "x86_64" | "x86-64" => "amd64".to_string(),
            "aarch64" => "arm64".to_string(),
            other => other.to_string(),
        }
    }
    let mut w = wanted.split('/');
    let mut e = engine.split('/');
    let (w_os, e_os) = (w.next().unwrap_or_default(), e.next().unwrap_or_default());
    if !w_os.eq_ignore_ascii_case(e_os) {
        return false;
    }
    match (w.next(), e.next()) {
        (Some(w_arch), Some(e_arch)) => arch(w_arch) == arch(e_arch),
        _ => true,
    }
}

/// What must hold before the container is created: its platform is the engine's, and
/// the host paths of binds with `create_host_path: false` exist.
async fn check_before_create(
    docker: &Docker,
    desired: &DesiredContainer,
) -> Result<(), ApplyError> {
    if let Some(wanted) = &desired.options.platform {
        let engine = engine_platform(docker).await?;
        if !platform_matches(wanted, &engine) {
            return Err(ApplyError::PlatformMismatch {
                service: desired.service.clone(),
                wanted: wanted.clone(),
                engine,
            });
        }
    }
    for m in &desired.mounts {
        if let (MountKind::Bind, Some(source), true) =
            (m.kind, &m.source, m.options.host_path_must_exist)
            && !std::path::Path::new(source).exists()
        {
            return Err(ApplyError::HostPathMissing {
                service: desired.service.clone(),
                path: source.clone(),
            });
        }
    }
    Ok(())
}

/// Who holds the name `desired` wants: another container of this project, or a
/// stranger.
async fn name_conflict(docker: &Docker, desired: &DesiredContainer) -> ApplyError {
    let holder = docker
        .inspect_container(
            &desired.name,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await;
    let owned = holder
        .ok()
        .and_then(|c| c.config)
        .and_then(|c| c.labels)
        .is_some_and(|labels| {
            labels.get(super::labels::PROJECT).map(String::as_str) == Some(desired.project.as_str())
        });
    if owned {
        ApplyError::NameHeldByOwn(desired.name.clone())
    } else {
        ApplyError::NameTaken(desired.name.clone())
    }
}

/// Starts a container; starting a running one is not an error.
pub async fn start(docker: &Docker, id: &str) -> Result<(), bollard::errors::Error> {
    match docker.start_container(id, None).await {
        Err(e) if is_not_modified(&e) => Ok(()),
        other => other,
    }
}

/// The stop timeout Docker wants: the grace period, or Docker's default of 10 s.
fn grace(grace_seconds: Option<u64>) -> i32 {
    grace_seconds.map_or(10, |s| i32::try_from(s).unwrap_or(i32::MAX))
}

/// Stops a container within its grace period, then removes it (and its anonymous
/// volumes). A container that is already gone is not an error.
pub async fn stop_and_remove(
    docker: &Docker,
    id: &str,
    grace_seconds: Option<u64>,
) -> Result<(), bollard::errors::Error> {
    let t = grace(grace_seconds);
    match docker
        .stop_container(
            id,
            Some(StopContainerOptionsBuilder::default().t(t).build()),
        )
        .await
    {
        Ok(()) => {}
        Err(e) if is_not_modified(&e) || is_not_found(&e) => {}
        Err(e) => return Err(e),
    }
    match docker
        .remove_container(
            id,
            Some(
                RemoveContainerOptionsBuilder::default()
                    .force(true)
                    .v(true)
                    .build(),
            ),
        )
        .await
    {
        Err(e) if is_not_found(&e) => Ok(()),
        // Already being removed by someone else.
        Err(e) if is_conflict(&e) => Ok(()),
        other => other,
    }
}

/// Restarts a container within its grace period.
pub async fn restart(
    docker: &Docker,
    id: &str,
    grace_seconds: Option<u64>,
) -> Result<(), bollard::errors::Error> {
    let t = grace(grace_seconds);
    docker
        .restart_container(
            id,
            Some(RestartContainerOptionsBuilder::default().t(t).build()),
        )
        .await
}

/// Carries out `actions` for `desired`, given what observe saw. Returns the ID of the
/// container afterwards, if there is one.
pub async fn execute(
    docker: &Docker,
    desired: &DesiredContainer,
    live: Option<&LiveContainer>,
    actions: &[Action],
) -> Result<Option<String>, ApplyError> {
    let mut id = live.map(|l| l.id.clone());
    for action in actions {
        match action {
            Action::Nothing => {}
            Action::Create => {
                id = Some(create_and_start(docker, desired).await?);
            }
            Action::Recreate { .. } => {
                if let Some(old) = &id {
                    stop_and_remove(docker, old, desired.stop_grace_seconds).await?;
                }
                id = Some(create_and_start(docker, desired).await?);
            }
            Action::Start => {
                if let Some(id) = &id {
                    match start(docker, id).await {
                        Err(e) if is_conflict(&e) => {
                            return Err(ApplyError::BeingRemoved(id.clone()));
                        }
                        other => other?,
                    }
                }
            }
            Action::Restart { .. } => {
                if let Some(id) = &id {
                    if live.is_some_and(|l| l.state == super::live::ContainerState::Paused) {
                        docker.unpause_container(id).await?;
                    } else {
                        restart(docker, id, desired.stop_grace_seconds).await?;
                    }
                }
            }
        }
    }
    Ok(id)
}
