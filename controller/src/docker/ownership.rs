//! Ownership on the engine: the labels that mark a container, network or volume as
//! holdfast's, and the Docker names of a project's networks and volumes.
//!
//! holdfast only ever changes or removes objects that carry [`PROJECT`] with its own
//! project name. [`SERVICE`] says which service the container runs and [`SPEC_HASH`]
//! which resolved spec it was created from: when the desired spec hash differs from the
//! label, the container is recreated.

use std::collections::BTreeMap;

/// Prefix of every label holdfast sets. Users may not set labels under it.
pub const PREFIX: &str = "io.holdfast.";

/// The project that owns the container.
pub const PROJECT: &str = "io.holdfast.project";

/// The service the container runs.
pub const SERVICE: &str = "io.holdfast.service";

/// SHA-256 (hex) of everything the container sees; see
/// [`DesiredContainer::compute_spec_hash`](crate::resources::service::DesiredContainer::compute_spec_hash).
pub const SPEC_HASH: &str = "io.holdfast.spec-hash";

/// The git commit the container was created from, when the desired state came from
/// git. Informational: it is not part of the spec hash, so a commit that leaves a
/// service unchanged does not replace its container.
pub const REVISION: &str = "io.holdfast.revision";

/// The Docker name of a project's named volume: `<project>_<volume>`.
pub fn volume_name(project: &str, volume: &str) -> String {
    format!("{project}_{volume}")
}

/// The Docker name of a project's network: `<project>_<network>`.
pub fn network_name(project: &str, network: &str) -> String {
    format!("{project}_{network}")
}

/// Whether `key` is under holdfast's reserved prefix.
pub fn is_reserved(key: &str) -> bool {
    key.starts_with(PREFIX)
}

/// The labels naming the owner of a service's container (without the spec hash).
pub fn ownership(project: &str, service: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (PROJECT.to_string(), project.to_string()),
        (SERVICE.to_string(), service.to_string()),
    ])
}

/// Whether a container with these labels belongs to `project`.
pub fn is_owned_by(labels: &BTreeMap<String, String>, project: &str) -> bool {
    labels.get(PROJECT).map(String::as_str) == Some(project)
}

/// The service named by the labels, if any.
pub fn service_of(labels: &BTreeMap<String, String>) -> Option<&str> {
    labels.get(SERVICE).map(String::as_str)
}

/// The spec hash recorded in the labels, if any.
pub fn spec_hash_of(labels: &BTreeMap<String, String>) -> Option<&str> {
    labels.get(SPEC_HASH).map(String::as_str)
}

/// Docker `label` filters (`key=value`) that select the containers of one service of a
/// project, for `docker ps --filter label=...`.
pub fn service_filter(project: &str, service: &str) -> Vec<String> {
    vec![
        format!("{PROJECT}={project}"),
        format!("{SERVICE}={service}"),
    ]
}

/// The Docker `label` filter (`key=value`) that selects every container of a project.
pub fn project_filter(project: &str) -> String {
    format!("{PROJECT}={project}")
}

/// Docker list filters (`{"label": [...]}`) that select the objects of a project, or of
/// one service of it.
pub fn label_filters(
    project: &str,
    service: Option<&str>,
) -> std::collections::HashMap<String, Vec<String>> {
    let filters = match service {
        Some(service) => service_filter(project, service),
        None => vec![project_filter(project)],
    };
    std::collections::HashMap::from([("label".to_string(), filters)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_under_the_prefix() {
        for key in [PROJECT, SERVICE, SPEC_HASH, REVISION] {
            assert!(is_reserved(key), "{key}");
        }
        assert!(!is_reserved("traefik.enable"));
        assert!(!is_reserved("io.holdfastish"));
    }

    #[test]
    fn ownership_names_project_and_service() {
        let labels = ownership("shop", "web");
        assert_eq!(labels.len(), 2);
        assert!(is_owned_by(&labels, "shop"));
        assert!(!is_owned_by(&labels, "blog"));
        assert_eq!(service_of(&labels), Some("web"));
        assert_eq!(spec_hash_of(&labels), None);
    }

    #[test]
    fn unlabelled_containers_are_not_owned() {
        let labels = BTreeMap::from([("maintainer".to_string(), "x".to_string())]);
        assert!(!is_owned_by(&labels, "shop"));
        assert_eq!(service_of(&labels), None);
    }

    #[test]
    fn spec_hash_is_read_back() {
        let mut labels = ownership("shop", "web");
        labels.insert(SPEC_HASH.to_string(), "abc".to_string());
        assert_eq!(spec_hash_of(&labels), Some("abc"));
    }

    #[test]
    fn filters() {
        assert_eq!(project_filter("shop"), "io.holdfast.project=shop");
        assert_eq!(
            service_filter("shop", "web"),
            vec!["io.holdfast.project=shop", "io.holdfast.service=web"]
        );
        assert_eq!(
            label_filters("shop", None)["label"],
            vec!["io.holdfast.project=shop"]
        );
        assert_eq!(label_filters("shop", Some("web"))["label"].len(), 2);
    }
}
