//! Networks and volumes: created when missing, labelled as owned by the project.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{NetworkCreateRequest, VolumeCreateRequest};

use super::{is_conflict, is_not_found};
use crate::resources::service::desired::{network_name, volume_name};
use crate::resources::service::labels;

fn owner_labels(
    project: &str,
    extra: &std::collections::BTreeMap<String, String>,
    spec_hash: &str,
) -> HashMap<String, String> {
    let mut out: HashMap<String, String> =
        extra.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    out.insert(labels::PROJECT.to_string(), project.to_string());
    out.insert(labels::SPEC_HASH.to_string(), spec_hash.to_string());
    out
}

/// What `ensure_*` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensured {
    /// It was there already.
    Existed,
    /// It was created now.
    Created,
}

/// Docker allows two networks with the same name (it checks only on request, and
/// API 1.44 dropped the check), so this process creates them one at a time. Only
/// creation is serialised: finding the network there takes no lock.
static CREATE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Creates the project's network `name` unless it exists. When exactly one network has
/// the name (the no-op case) that costs one list call and no lock; otherwise, under the
/// creation lock, duplicates the project owns are removed (the oldest stays) and the
/// network is created if none is left.
pub async fn ensure_network(
    docker: &Docker,
    project: &str,
    name: &str,
    spec: &holdfast_spec::Network,
) -> Result<Ensured, bollard::errors::Error> {
    let full = network_name(project, name);
    if networks_named(docker, &full).await?.len() == 1 {
        return Ok(Ensured::Existed);
    }
    let _one_at_a_time = CREATE.lock().await;
    let mut networks = networks_named(docker, &full).await?;
    remove_duplicate_networks(docker, project, &full, &mut networks).await;
    if !networks.is_empty() {
        return Ok(Ensured::Existed);
    }
    let request = NetworkCreateRequest {
        name: full,
        driver: Some(spec.driver.clone().unwrap_or_else(|| "bridge".into())),
        internal: Some(spec.internal),
        labels: Some(owner_labels(
            project,
            &spec.labels,
            &holdfast_spec::hash::content_hash(spec),
        )),
        ..Default::default()
    };
    match docker.create_network(request).await {
        Ok(_) => Ok(Ensured::Created),
        // Another process created it a moment ago.
        Err(e) if is_conflict(&e) => Ok(Ensured::Existed),
        Err(e) => Err(e),
    }
}

/// Every network named exactly `full`, owned or not.
async fn networks_named(
    docker: &Docker,
    full: &str,
) -> Result<Vec<bollard::models::Network>, bollard::errors::Error> {
    let filters: HashMap<String, Vec<String>> =
        HashMap::from([("name".to_string(), vec![format!("^{full}$")])]);
    let options = bollard::query_parameters::ListNetworksOptionsBuilder::default()
        .filters(&filters)
        .build();
    let networks = docker.list_networks(Some(options)).await?;
    Ok(networks
        .into_iter()
        .filter(|n| n.name.as_deref() == Some(full))
        .collect())
}

/// Removes all but the oldest of the `networks` named `full` that the project owns
/// (left by an older holdfast or another process racing this one), and drops them from
/// `networks`.
async fn remove_duplicate_networks(
    docker: &Docker,
    project: &str,
    full: &str,
    networks: &mut Vec<bollard::models::Network>,
) {
    let owned = |n: &bollard::models::Network| {
        n.labels
            .as_ref()
            .and_then(|l| l.get(labels::PROJECT))
            .is_some_and(|p| p == project)
    };
    let mut mine: Vec<&bollard::models::Network> = networks.iter().filter(|n| owned(n)).collect();
    if mine.len() < 2 {
        return;
    }
    mine.sort_by(|a, b| a.created.cmp(&b.created));
    let extra: Vec<String> = mine.iter().skip(1).filter_map(|n| n.id.clone()).collect();
    for id in &extra {
        tracing::warn!(network = full, id, "removing a duplicate network");
        let _ = docker.remove_network(id).await;
    }
    networks.retain(|n| n.id.as_ref().is_none_or(|id| !extra.contains(id)));
}

/// Creates the project's named volume `name` unless it exists.
pub async fn ensure_volume(
    docker: &Docker,
    project: &str,
    name: &str,
    spec: &holdfast_spec::Volume,
) -> Result<Ensured, bollard::errors::Error> {
    let full = volume_name(project, name);
    match docker.inspect_volume(&full).await {
        Ok(_) => return Ok(Ensured::Existed),
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(e),
    }
    let request = VolumeCreateRequest {
        name: Some(full),
        driver: Some(spec.driver.clone().unwrap_or_else(|| "local".into())),
        labels: Some(owner_labels(
            project,
            &spec.labels,
            &holdfast_spec::hash::content_hash(spec),
        )),
        ..Default::default()
    };
    docker
        .create_volume(request)
        .await
        .map(|_| Ensured::Created)
}
