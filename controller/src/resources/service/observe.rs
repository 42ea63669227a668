//! Observe: read the live container of a service (and its image's defaults) from the
//! engine, in the shapes that [`drift`](super::drift) compares.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bollard::Docker;
use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::{InspectContainerOptions, ListContainersOptionsBuilder};
use holdfast_spec::{MountKind, Protocol};

use super::config::{Limits, MountSpec, PortBinding, RestartSpec};
use super::labels;
use super::live::{
    ContainerState, Health, ImageDefaults, LiveContainer, container_name, env_from_list,
};
use crate::docker::image::ImageInfo;
use crate::docker::is_not_found;

/// IDs of every container labelled as `project`'s (all services), with their service
/// label, newest first.
pub async fn owned_containers(
    docker: &Docker,
    project: &str,
    service: Option<&str>,
) -> Result<Vec<(String, String)>, bollard::errors::Error> {
    let mut label_filters = vec![format!("{}={project}", labels::PROJECT)];
    if let Some(service) = service {
        label_filters.push(format!("{}={service}", labels::SERVICE));
    }
    let filters: HashMap<String, Vec<String>> =
        HashMap::from([("label".to_string(), label_filters)]);
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
            Some(MountSpec {
                kind,
                source,
                target: m.destination?,
                read_only: !m.rw.unwrap_or(true),
            })
        })
        .collect();
    mounts.sort_by(|a, b| a.target.cmp(&b.target));

    let networks: BTreeMap<String, BTreeSet<String>> = c
        .network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default()
        .into_iter()
        .map(|(name, endpoint)| {
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
