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
/// API 1.44 dropped the check), so this process creates them one at a time.
static CREATE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Creates the project's network `name` unless it exists.
pub async fn ensure_network(
    docker: &Docker,
    project: &str,
    name: &str,
    spec: &holdfast_spec::Network,
) -> Result<Ensured, bollard::errors::Error> {
    let full = network_name(project, name);
    let _one_at_a_time = CREATE.lock().await;
    remove_duplicate_networks(docker, project, &full).await?;
    match docker
        .inspect_network(
            &full,
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
    {
        Ok(_) => return Ok(Ensured::Existed),
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(e),
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
        // Another worker created it a moment ago.
        Err(e) if is_conflict(&e) => Ok(Ensured::Existed),
        Err(e) => Err(e),
    }
}

/// Removes all but the oldest of several networks named `full` that the project owns
/// (left by an older holdfast or another process racing this one).
async fn remove_duplicate_networks(
    docker: &Docker,
    project: &str,
    full: &str,
) -> Result<(), bollard::errors::Error> {
    let filters: HashMap<String, Vec<String>> = HashMap::from([
        ("name".to_string(), vec![format!("^{full}$")]),
        (
            "label".to_string(),
            vec![format!("{}={project}", labels::PROJECT)],
        ),
    ]);
    let options = bollard::query_parameters::ListNetworksOptionsBuilder::default()
        .filters(&filters)
        .build();
    let mut networks = docker.list_networks(Some(options)).await?;
    if networks.len() < 2 {
        return Ok(());
    }
    networks.sort_by(|a, b| a.created.cmp(&b.created));
    for extra in networks.into_iter().skip(1) {
        if let Some(id) = extra.id {
            tracing::warn!(network = full, id, "removing a duplicate network");
            let _ = docker.remove_network(&id).await;
        }
    }
    Ok(())
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
