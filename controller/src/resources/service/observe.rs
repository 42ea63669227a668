//! Observe: read the live container of a service (and its image's defaults) from the
//! engine, in the shapes that [`drift`](super::drift) compares.

use std::collections::{BTreeMap, BTreeSet};

use bollard::Docker;
use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::{InspectContainerOptions, ListContainersOptionsBuilder};
use holdfast_spec::{MountKind, Protocol};

use super::container::{
    FixedAddress, Limits, MountOptions, MountSpec, PortBinding, RestartSpec, RuntimeOptions,
};
use super::labels;
use super::live::{
    ContainerState, Health, ImageDefaults, LiveContainer, container_name, env_from_list,
};
use crate::docker::cache::{EngineCache, Named};
use crate::docker::image::ImageInfo;
use crate::docker::is_not_found;

/// IDs of every container labelled as `project`'s (all services), with their service
/// label, newest first.
pub async fn owned_containers(
    docker: &Docker,
    project: &str,
    service: Option<&str>,
) -> Result<Vec<(String, String)>, bollard::errors::Error> {
    let filters = labels::label_filters(project, service);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let containers = docker.list_containers(Some(options)).await?;
    Ok(containers
        .into_iter()
        .filter_map(|c| {
            let service = c.labels.as_ref()?.get(labels::SERVICE)?.clone();
            Some((c.id?, service))
        })
        .collect())
}

/// How a reconcile reads the engine: from the [`EngineCache`] when one is given and
/// may be trusted, else directly (`holdfast plan`, `diff`, and whenever the cache is
/// not live). Reads it makes directly are written through to the cache.
#[derive(Debug, Clone, Copy)]
pub struct Observer<'a> {
    docker: &'a Docker,
    cache: Option<&'a EngineCache>,
}

impl<'a> Observer<'a> {
    /// Observes through `cache` when given (and of `project`), else directly.
    pub fn new(docker: &'a Docker, cache: Option<&'a EngineCache>, project: &str) -> Self {
        Observer {
            docker,
            cache: cache.filter(|c| c.project() == project),
        }
    }

    /// The containers of `service` of `project` (every service when `None`), newest
    /// first: from the cache (no call) when it is live and the service settled,
    /// otherwise one list plus one inspect per container, stored in the cache.
    pub async fn containers(
        &self,
        project: &str,
        service: Option<&str>,
    ) -> Result<Vec<LiveContainer>, bollard::errors::Error> {
        if let Some(cached) = self.cache.and_then(|c| c.containers(service)) {
            return Ok(cached);
        }
        let ticket = self.cache.map(EngineCache::ticket);
        let owned = owned_containers(self.docker, project, service).await?;
        let mut lives = Vec::with_capacity(owned.len());
        for (id, _) in &owned {
            if let Some(live) = inspect(self.docker, id).await? {
                lives.push(live);
            }
        }
        if let (Some(cache), Some(ticket), Some(service)) = (self.cache, ticket, service) {
            cache.replace_service(ticket, service, &lives);
        }
        Ok(lives)
    }

    /// IDs and services of `project`'s containers (those of `service` when given),
    /// newest first; from the cache when it is live.
    pub async fn owned(
        &self,
        project: &str,
        service: Option<&str>,
    ) -> Result<Vec<(String, String)>, bollard::errors::Error> {
        if let Some(cached) = self.cache.and_then(|c| c.containers(service)) {
            return Ok(cached
                .into_iter()
                .filter_map(|l| {
                    let service = labels::service_of(&l.labels)?.to_string();
                    Some((l.id, service))
                })
                .collect());
        }
        owned_containers(self.docker, project, service).await
    }

    /// Inspects container `id` now (after an apply changed it) and writes what it found
    /// through to the cache.
    pub async fn reinspect(
        &self,
        id: &str,
    ) -> Result<Option<LiveContainer>, bollard::errors::Error> {
        let ticket = self.cache.map(EngineCache::ticket);
        let live = inspect(self.docker, id).await?;
        if let (Some(cache), Some(ticket)) = (self.cache, ticket) {
            match &live {
                Some(live) => cache.put_container(ticket, live.clone()),
                None => cache.forget_container(ticket, id),
            }
        }
        Ok(live)
    }

    /// Records that this reconcile removed container `id`.
    pub fn removed(&self, id: &str) {
        if let Some(cache) = self.cache {
            cache.forget_container(cache.ticket(), id);
        }
    }

    /// The local image `reference`: from the cache when it has it, otherwise one
    /// inspect (stored in a live cache; one per image however many services run it).
    pub async fn image(
        &self,
        reference: &str,
    ) -> Result<Option<ImageInfo>, bollard::errors::Error> {
        match self.cache.filter(|c| c.is_live()) {
            Some(cache) => cache.image_or_inspect(reference).await,
            None => crate::docker::image::inspect(self.docker, reference).await,
        }
    }

    /// Records image `reference` as it is after a build or pull.
    pub fn image_fetched(&self, reference: &str, info: &ImageInfo) {
        if let Some(cache) = self.cache {
            cache.drop_images();
            cache.put_image(cache.image_epoch(), reference, info.clone());
        }
    }

    /// Whether a live cache shows the project's network (or volume) `full_name` as
    /// made from the spec with hash `spec_hash` (no call). False means: ask the engine.
    pub fn knows_current(&self, kind: Named, full_name: &str, spec_hash: &str) -> bool {
        self.cache
            .is_some_and(|c| c.has_current(kind, full_name, spec_hash))
    }

    /// After an ensure that asked the engine: reads the network (or volume) back into
    /// the cache.
    pub async fn ensured(
        &self,
        kind: Named,
        full_name: &str,
    ) -> Result<(), bollard::errors::Error> {
        match self.cache {
            Some(cache) => cache.refresh(kind, full_name).await,
            None => Ok(()),
        }
    }

    /// Records how `service`'s reconcile ended: an unsettled service (still starting, or
    /// failing) is observed directly until a reconcile ends settled.
    pub fn settle(&self, service: &str, settled: bool) {
        if let Some(cache) = self.cache {
            cache.set_settled(service, settled);
        }
    }
}

/// Inspects a container; `Ok(None)` when it is gone.
pub async fn inspect(
    docker: &Docker,
    id: &str,
) -> Result<Option<LiveContainer>, bollard::errors::Error> {
    match docker
        .inspect_container(id, None::<InspectContainerOptions>)
        .await
    {
        Ok(response) => Ok(Some(live_from_inspect(response))),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The image's own defaults, which Docker adds to every container made from it.
pub fn image_defaults(image: &ImageInfo) -> ImageDefaults {
    ImageDefaults {
        env: image.env.clone(),
        labels: image.labels.clone(),
        volumes: image.volumes.clone(),
    }
}

fn to_u64(v: Option<i64>) -> Option<u64> {
    v.and_then(|n| u64::try_from(n).ok()).filter(|n| *n > 0)
}

/// Converts `docker inspect` output to a [`LiveContainer`].
pub fn live_from_inspect(c: ContainerInspectResponse) -> LiveContainer {
    let config = c.config.unwrap_or_default();
    let host = c.host_config.unwrap_or_default();
    let state = c.state.unwrap_or_default();

    let mut ports: Vec<PortBinding> = Vec::new();
    for (key, bindings) in host.port_bindings.unwrap_or_default() {
        let (port, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
        let Ok(container_port) = port.parse::<u16>() else {
            continue;
        };
        let protocol = if proto == "udp" {
            Protocol::Udp
        } else {
            Protocol::Tcp
        };
        for b in bindings.unwrap_or_default() {
            ports.push(PortBinding {
                host_ip: b.host_ip.unwrap_or_default(),
                host_port: b.host_port.and_then(|p| p.parse().ok()).filter(|p| *p != 0),
                container_port,
                protocol,
            });
        }
    }
    ports.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));

    // `nocopy` is only in the request the container was created with.
    let nocopy: BTreeSet<String> = host
        .mounts
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter(|m| {
            m.volume_options
                .as_ref()
                .and_then(|o| o.no_copy)
                .unwrap_or(false)
        })
        .filter_map(|m| m.target.clone())
        .collect();
    let mut mounts: Vec<MountSpec> = c
        .mounts
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| {
            let kind = match m.typ.map(|t| t.to_string()).as_deref() {
                Some("volume") => MountKind::Volume,
                Some("bind") => MountKind::Bind,
                _ => return None,
            };
            let source = match kind {
                MountKind::Volume => m.name,
                MountKind::Bind => m.source,
            };
            let target = m.destination?;
            let bind = kind == MountKind::Bind;
            let options = MountOptions {
                selinux: m
                    .mode
                    .as_deref()
                    .unwrap_or_default()
                    .split(',')
                    .find(|o| *o == "z" || *o == "Z")
                    .filter(|_| bind)
                    .map(str::to_string),
                propagation: m.propagation.filter(|p| bind && !p.is_empty()),
                nocopy: nocopy.contains(&target),
                host_path_must_exist: false,
            };
            Some(MountSpec {
                kind,
                source,
                target,
                read_only: !m.rw.unwrap_or(true),
                options,
            })
        })
        .collect();
    mounts.sort_by(|a, b| a.target.cmp(&b.target));

    let mut addresses = BTreeMap::new();
    let mut fixed_addresses = BTreeMap::new();
    let networks: BTreeMap<String, BTreeSet<String>> = c
        .network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default()
        .into_iter()
        .map(|(name, endpoint)| {
            if let Some(ipam) = &endpoint.ipam_config {
                let fixed = FixedAddress {
                    ipv4: ipam.ipv4_address.clone().filter(|a| !a.is_empty()),
                    ipv6: ipam.ipv6_address.clone().filter(|a| !a.is_empty()),
                };
                if fixed != FixedAddress::default() {
                    fixed_addresses.insert(name.clone(), fixed);
                }
            }
            if let Some(ip) = endpoint.ip_address.filter(|ip| !ip.is_empty()) {
                addresses.insert(name.clone(), ip);
            }
            let mut aliases: BTreeSet<String> =
                endpoint.aliases.unwrap_or_default().into_iter().collect();
            aliases.extend(endpoint.dns_names.unwrap_or_default());
            (name, aliases)
        })
        .collect();

    let restart = host.restart_policy.unwrap_or_default();
    let status = state.status.map(|s| s.to_string()).unwrap_or_default();
    LiveContainer {
        id: c.id.unwrap_or_default(),
        name: container_name(c.name.as_deref().unwrap_or_default()).to_string(),
        image: config.image.unwrap_or_default(),
        image_id: c.image.unwrap_or_default(),
        cmd: config.cmd,
        entrypoint: config.entrypoint,
        env: env_from_list(config.env.unwrap_or_default()),
        labels: config.labels.unwrap_or_default().into_iter().collect(),
        ports,
        mounts,
        networks,
        addresses,
        limits: Limits {
            memory_bytes: to_u64(host.memory),
            memory_reservation_bytes: to_u64(host.memory_reservation),
            nano_cpus: to_u64(host.nano_cpus),
        },
        restart: RestartSpec {
            name: restart.name.map(|n| n.to_string()).unwrap_or_default(),
            max_retries: restart
                .maximum_retry_count
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
        },
        options: RuntimeOptions {
            hostname: config.hostname,
            domainname: config.domainname,
            working_dir: config.working_dir,
            stop_signal: config.stop_signal,
            tty: config.tty,
            stdin_open: config.open_stdin,
            read_only: host.readonly_rootfs,
            privileged: host.privileged,
            cap_add: host.cap_add.unwrap_or_default(),
            cap_drop: host.cap_drop.unwrap_or_default(),
            extra_hosts: host
                .extra_hosts
                .unwrap_or_default()
                .iter()
                .filter_map(|e| e.split_once(':'))
                .map(|(h, ip)| (h.to_string(), ip.to_string()))
                .collect(),
            dns: host.dns.unwrap_or_default(),
            dns_search: host.dns_search.unwrap_or_default(),
            dns_opt: host.dns_options.unwrap_or_default(),
            group_add: host.group_add.unwrap_or_default(),
            security_opt: host.security_opt.unwrap_or_default(),
            shm_size_bytes: to_u64(host.shm_size),
            pids_limit: host.pids_limit,
            sysctls: host.sysctls.unwrap_or_default().into_iter().collect(),
            ulimits: host
                .ulimits
                .unwrap_or_default()
                .into_iter()
                .filter_map(|u| Some((u.name?, (u.soft.unwrap_or(0), u.hard.unwrap_or(0)))))
                .collect(),
            tmpfs: host.tmpfs.unwrap_or_default().into_iter().collect(),
            expose: config
                .exposed_ports
                .unwrap_or_default()
                .into_iter()
                .collect(),
            devices: host
                .devices
                .unwrap_or_default()
                .into_iter()
                .filter_map(|d| {
                    let on_host = d.path_on_host?;
                    let inside = d.path_in_container.unwrap_or_else(|| on_host.clone());
                    let perms = d.cgroup_permissions.unwrap_or_else(|| "rwm".to_string());
                    Some(format!("{on_host}:{inside}:{perms}"))
                })
                .collect(),
            runtime: host.runtime,
            platform: c.platform,
            fixed_addresses,
            network_mode: host.network_mode,
            network_container: None,
        },
        started_at: state.started_at.clone().unwrap_or_default(),
        state: ContainerState::from_docker(&status, state.exit_code.unwrap_or(0))
            .unwrap_or(ContainerState::Dead),
        health: Health::from_docker(
            state
                .health
                .and_then(|h| h.status)
                .map(|s| s.to_string())
                .as_deref(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::service::fixtures;

    #[test]
    fn image_defaults_carry_the_image_env_labels_and_volumes() {
        let image = fixtures::image();
        let defaults = image_defaults(&image);
        assert_eq!(defaults.env, image.env);
        assert_eq!(defaults.labels, image.labels);
        assert_eq!(
            defaults.volumes,
            BTreeSet::from(["/var/cache/image".to_string()])
        );
    }
}
