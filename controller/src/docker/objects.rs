//! Networks and volumes: created when missing, labelled as owned by the project.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{NetworkCreateRequest, VolumeCreateRequest};

use super::{is_conflict, is_not_found};
use crate::resources::service::labels;

/// The Docker name of a project's network or volume, as Compose names them.
pub fn scoped_name(project: &str, name: &str) -> String {
    format!("{project}_{name}")
}

fn owner_labels(
    project: &str,
    extra: &std::collections::BTreeMap<String, String>,
) -> HashMap<String, String> {
    let mut out: HashMap<String, String> =
        extra.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    out.insert(labels::PROJECT.to_string(), project.to_string());
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

/// Creates the project's network `name` unless it exists.
pub async fn ensure_network(
    docker: &Docker,
    project: &str,
    name: &str,
    spec: &holdfast_spec::Network,
) -> Result<Ensured, bollard::errors::Error> {
    let full = scoped_name(project, name);
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
        labels: Some(owner_labels(project, &spec.labels)),
        ..Default::default()
    };
    match docker.create_network(request).await {
        Ok(_) => Ok(Ensured::Created),
        // Another worker created it a moment ago.
        Err(e) if is_conflict(&e) => Ok(Ensured::Existed),
        Err(e) => Err(e),
    }
}

/// Creates the project's named volume `name` unless it exists.
pub async fn ensure_volume(
    docker: &Docker,
    project: &str,
    name: &str,
    spec: &holdfast_spec::Volume,
) -> Result<Ensured, bollard::errors::Error> {
    let full = scoped_name(project, name);
    match docker.inspect_volume(&full).await {
        Ok(_) => return Ok(Ensured::Existed),
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(e),
    }
    let request = VolumeCreateRequest {
        name: Some(full),
        driver: Some(spec.driver.clone().unwrap_or_else(|| "local".into())),
        labels: Some(owner_labels(project, &spec.labels)),
        ..Default::default()
    };
    docker
        .create_volume(request)
        .await
        .map(|_| Ensured::Created)
}
