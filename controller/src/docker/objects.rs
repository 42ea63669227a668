//! Networks and volumes: created when missing, labelled as owned by the project with
//! the hash of the spec they were made from, and compared with the file through that
//! label, as Compose does.
//!
//! - A network whose spec changed is recreated: the project's containers on it are
//!   disconnected, it is removed and created anew, and the same containers are
//!   connected again with the aliases they had. Running containers keep running (a
//!   short break in their traffic on that network), so no container is replaced.
//! - A volume whose spec changed is never recreated, which would lose its data: it is
//!   kept as it is and reported, with how to recreate it by hand ([`VOLUME_FIX`]).
//! - A network of that name that the project does not own is an error: holdfast never
//!   changes what it does not own. A volume of that name without the project's label
//!   (one made by hand, say to restore a backup into it) is used as it is.
//! - An owned object without a spec-hash label (made by an older holdfast) is taken
//!   as current: there is nothing to compare it with.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use bollard::Docker;
use bollard::models::{
    EndpointSettings, Ipam, IpamConfig, NetworkConnectRequest, NetworkCreateRequest,
    NetworkDisconnectRequest, NetworkInspect, VolumeCreateRequest,
};
use bollard::query_parameters::{
    InspectContainerOptions, InspectNetworkOptions, ListContainersOptionsBuilder,
    ListNetworksOptionsBuilder,
};
use holdfast_spec::hash::content_hash;

use super::ownership as labels;
use super::ownership::{network_name, volume_name};
use super::{is_conflict, is_not_found};

/// How a volume whose spec changed is recreated by hand, with `{volume}` for its
/// Docker name. holdfast never does it, as the data would be lost.
pub const VOLUME_FIX: &str = "holdfast never recreates a volume, as its data would be lost; to apply the change, back up its data, remove the containers that use it (`docker ps -aq --filter volume={volume} | xargs docker rm -f`; with a controller running, `holdfast suspend` their services first), run `docker volume rm {volume}`, then `holdfast apply`";

/// [`VOLUME_FIX`] for the volume `full`.
pub fn volume_fix(full: &str) -> String {
    VOLUME_FIX.replace("{volume}", full)
}

/// The Docker name of the network `name` of `project`: its `name:`, or
/// `<project>_<name>`.
pub fn network_docker_name(project: &str, name: &str, spec: &holdfast_spec::Network) -> String {
    spec.name
        .clone()
        .unwrap_or_else(|| network_name(project, name))
}

/// The Docker name of the named volume `name` of `project`: its `name:`, or
/// `<project>_<name>`.
pub fn volume_docker_name(project: &str, name: &str, spec: &holdfast_spec::Volume) -> String {
    spec.name
        .clone()
        .unwrap_or_else(|| volume_name(project, name))
}

/// Why a network or volume could not be observed or brought to the file.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// An `external: true` network or volume does not exist; holdfast never creates one.
    #[error(
        "{kind} `{name}` is declared `external: true` but does not exist; holdfast never creates an external {kind}: create it (`docker {kind} create {name}`), or remove `external: true` so that holdfast creates and owns it"
    )]
    ExternalMissing {
        /// `network` or `volume`.
        kind: &'static str,
        /// Its Docker name.
        name: String,
    },
    /// A network of the project's name for it exists, but the project does not own it.
    #[error(
        "network `{name}` exists but is not holdfast's ({owner}); holdfast changes only what it owns: remove it (`docker network rm {name}`) or give the network another name in the file"
    )]
    ForeignNetwork {
        /// The network's Docker name.
        name: String,
        /// Who owns it, as far as its labels say.
        owner: String,
    },
    /// A network to recreate has containers attached that the project does not own.
    #[error(
        "network `{name}` must be recreated (its spec changed), but containers that holdfast does not own are attached to it ({containers}); disconnect them (`docker network disconnect {name} CONTAINER`)"
    )]
    ForeignContainers {
        /// The network's Docker name.
        name: String,
        /// The foreign containers' names.
        containers: String,
    },
    /// The engine refused or could not be reached.
    #[error("Docker: {op} `{name}`: {source}")]
    Docker {
        /// What was being done, such as `remove network`.
        op: &'static str,
        /// The object's Docker name.
        name: String,
        /// The engine's error.
        source: bollard::errors::Error,
    },
}

/// One way an object differs from its spec in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// What differs: `driver`, `internal`, `labels`, or `spec` when the spec hash
    /// differs in nothing the engine shows.
    pub what: &'static str,
    /// The file's side, such as `true` (for `internal`) or `team=ops` (for `labels`).
    pub desired: String,
    /// The engine's side.
    pub live: String,
}

/// One side of a list of changes: `internal true; labels team=ops`.
pub fn side(changes: &[Change], desired: bool) -> String {
    let parts: Vec<String> = changes
        .iter()
        .map(|c| format!("{} {}", c.what, if desired { &c.desired } else { &c.live }))
        .collect();
    parts.join("; ")
}

/// `driver, labels changed` for a list of changes.
pub struct Changed<'a>(pub &'a [Change]);

impl fmt::Display for Changed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what: Vec<&str> = self.0.iter().map(|c| c.what).collect();
        write!(f, "{} changed", what.join(", "))
    }
}

/// What the engine has under an object's name, compared with the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// Nothing of that name.
    Missing,
    /// As the file says (or with no spec hash to compare, or a volume not owned).
    Current,
    /// Owned by the project but made from another spec.
    Changed(Vec<Change>),
}

/// What `ensure_*` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ensured {
    /// It was there already, as the file says.
    Existed,
    /// It was created now.
    Created,
    /// A network made from another spec was recreated, and the project's containers
    /// that were on it connected to the new one.
    Recreated {
        /// How the old one differed.
        changes: Vec<Change>,
        /// How many containers were connected again.
        reconnected: usize,
    },
    /// A volume made from another spec was kept as it is (see [`VOLUME_FIX`]).
    Kept {
        /// How it differs.
        changes: Vec<Change>,
    },
}

fn owner_labels(
    project: &str,
    extra: &BTreeMap<String, String>,
    spec_hash: &str,
) -> HashMap<String, String> {
    let mut out: HashMap<String, String> =
        extra.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    out.insert(labels::PROJECT.to_string(), project.to_string());
    out.insert(labels::SPEC_HASH.to_string(), spec_hash.to_string());
    out
}

/// Who owns an object with these labels, when it is not `project`.
fn foreign_owner(live: &HashMap<String, String>, project: &str) -> Option<String> {
    match live.get(labels::PROJECT) {
        Some(owner) if owner == project => None,
        Some(owner) => Some(format!("it belongs to project `{owner}`")),
        None => Some("it has no holdfast labels".to_string()),
    }
}

/// Whether an owned object's spec-hash label says it was made from another spec.
fn hash_differs(live: &HashMap<String, String>, desired_hash: &str) -> bool {
    live.get(labels::SPEC_HASH)
        .is_some_and(|hash| hash != desired_hash)
}

fn show_labels(labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return "(none)".to_string();
    }
    let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.join(", ")
}

/// How an owned object with `live_labels` and driver `live_driver` differs from a spec
/// with `labels`, `driver` and hash `hash`, with `extra` changes the caller found; a
/// [`Change`] `spec` when the hash label differs but nothing shown does.
fn changes(
    (driver, live_driver): (&str, &str),
    labels: &BTreeMap<String, String>,
    live_labels: &HashMap<String, String>,
    extra: Vec<Change>,
    hash: &str,
) -> Vec<Change> {
    let mut out = Vec::new();
    if driver != live_driver {
        out.push(Change {
            what: "driver",
            desired: driver.to_string(),
            live: live_driver.to_string(),
        });
    }
    out.extend(extra);
    let live_user: BTreeMap<String, String> = live_labels
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), labels::PROJECT | labels::SPEC_HASH))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if &live_user != labels {
        out.push(Change {
            what: "labels",
            desired: show_labels(labels),
            live: show_labels(&live_user),
        });
    }
    if out.is_empty() {
        let short = |h: &str| format!("spec hash {}", h.get(..12).unwrap_or(h));
        let live_hash = live_labels
            .get(labels::SPEC_HASH)
            .map_or("", String::as_str);
        out.push(Change {
            what: "spec",
            desired: short(hash),
            live: short(live_hash),
        });
    }
    out
}

fn network_driver(spec: &holdfast_spec::Network) -> String {
    spec.driver.clone().unwrap_or_else(|| "bridge".into())
}

fn volume_driver(spec: &holdfast_spec::Volume) -> String {
    spec.driver.clone().unwrap_or_else(|| "local".into())
}

async fn inspect_network(
    docker: &Docker,
    full: &str,
) -> Result<Option<NetworkInspect>, ObjectError> {
    match docker
        .inspect_network(full, None::<InspectNetworkOptions>)
        .await
    {
        Ok(n) => Ok(Some(n)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(source) => Err(ObjectError::Docker {
            op: "inspect network",
            name: full.to_string(),
            source,
        }),
    }
}

/// Compares the engine's `live` network with `spec`.
fn compare_network(
    project: &str,
    full: &str,
    spec: &holdfast_spec::Network,
    live: &NetworkInspect,
) -> Result<Observed, ObjectError> {
    let live_labels = live.labels.clone().unwrap_or_default();
    if let Some(owner) = foreign_owner(&live_labels, project) {
        return Err(ObjectError::ForeignNetwork {
            name: full.to_string(),
            owner,
        });
    }
    let hash = content_hash(spec);
    if !hash_differs(&live_labels, &hash) {
        return Ok(Observed::Current);
    }
    let live_internal = live.internal.unwrap_or(false);
    let extra = if spec.internal == live_internal {
        Vec::new()
    } else {
        vec![Change {
            what: "internal",
            desired: spec.internal.to_string(),
            live: live_internal.to_string(),
        }]
    };
    Ok(Observed::Changed(changes(
        (
            &network_driver(spec),
            live.driver.as_deref().unwrap_or_default(),
        ),
        &spec.labels,
        &live_labels,
        extra,
        &hash,
    )))
}

/// Looks at the project's network `name` without changing anything. A network of
/// that name that the project does not own is an error.
pub async fn observe_network(
    docker: &Docker,
    project: &str,
    name: &str,
    spec: &holdfast_spec::Network,
) -> Result<Observed, ObjectError> {
    let full = network_docker_name(project, name, spec);
    match inspect_network(docker, &full).await? {
        None if spec.external => Err(ObjectError::ExternalMissing {
            kind: "network",
            name: full,
        }),
        None => Ok(Observed::Missing),
        // Not the project's: used as it is, never compared or changed.
        Some(_) if spec.external => Ok(Observed::Current),
        Some(live) => compare_network(project, &full, spec, &live),
    }
}

/// Creates the project's network `name` unless it exists, and recreates it when it
/// was made from another spec (see the [module](self) documentation).
///
/// Docker allows two networks with the same name (it checks only on request, and
/// API 1.44 dropped the check), so creation happens under `creating`, the engine's one
/// creation lock ([`Host::creating`](super::Host::creating)). Finding the network as it
/// should be takes no lock.
pub async fn ensure_network(
    docker: &Docker,
    creating: &tokio::sync::Mutex<()>,
    project: &str,
    name: &str,
    spec: &holdfast_spec::Network,
) -> Result<Ensured, ObjectError> {
    let full = network_docker_name(project, name, spec);
    if spec.external {
        return observe_network(docker, project, name, spec)
            .await
            .map(|_| Ensured::Existed);
    }
    // The no-op case takes no lock: one inspect. Anything else (missing, changed, two
    // of a name) is sorted out under the creation lock.
    if let Ok(Some(live)) = inspect_network(docker, &full).await
        && matches!(
            compare_network(project, &full, spec, &live),
            Ok(Observed::Current)
        )
    {
        return Ok(Ensured::Existed);
    }
    let _one_at_a_time = creating.lock().await;
    remove_duplicate_networks(docker, project, &full).await?;
    if let Some(live) = inspect_network(docker, &full).await? {
        return match compare_network(project, &full, spec, &live)? {
            Observed::Missing | Observed::Current => Ok(Ensured::Existed),
            Observed::Changed(changes) => {
                let reconnected = recreate_network(docker, project, &full, spec, &live).await?;
                Ok(Ensured::Recreated {
                    changes,
                    reconnected,
                })
            }
        };
    }
    match create_network(docker, project, &full, spec).await {
        Ok(()) => Ok(Ensured::Created),
        // Another worker created it a moment ago.
        Err(ObjectError::Docker { source, .. }) if is_conflict(&source) => Ok(Ensured::Existed),
        Err(e) => Err(e),
    }
}

async fn create_network(
    docker: &Docker,
    project: &str,
    full: &str,
    spec: &holdfast_spec::Network,
) -> Result<(), ObjectError> {
    let request = NetworkCreateRequest {
        name: full.to_string(),
        driver: Some(network_driver(spec)),
        internal: Some(spec.internal),
        labels: Some(owner_labels(project, &spec.labels, &content_hash(spec))),
        enable_ipv6: spec.enable_ipv6,
        options: (!spec.driver_opts.is_empty()).then(|| {
            spec.driver_opts
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }),
        ipam: spec.ipam.as_ref().map(|ipam| Ipam {
            driver: ipam.driver.clone(),
            config: Some(
                ipam.config
                    .iter()
                    .map(|pool| IpamConfig {
                        subnet: pool.subnet.clone(),
                        ip_range: pool.ip_range.clone(),
                        gateway: pool.gateway.clone(),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
        ..Default::default()
    };
    docker
        .create_network(request)
        .await
        .map(|_| ())
        .map_err(|source| ObjectError::Docker {
            op: "create network",
            name: full.to_string(),
            source,
        })
}

/// Disconnects the project's containers from `live`, removes it, creates it from
/// `spec` and connects the same containers again with their aliases. Returns how many
/// were connected again. A container removed meanwhile is skipped; a crash half-way
/// is repaired by the next pass (the network is created, and a container missing from
/// it drifts and is recreated).
async fn recreate_network(
    docker: &Docker,
    project: &str,
    full: &str,
    spec: &holdfast_spec::Network,
    live: &NetworkInspect,
) -> Result<usize, ObjectError> {
    let fail = |op: &'static str| {
        move |source| ObjectError::Docker {
            op,
            name: full.to_string(),
            source,
        }
    };
    // Stopped containers too: `docker network inspect` lists only running ones, and
    // a stopped one left on the old network could not start again.
    let filters: HashMap<String, Vec<String>> =
        HashMap::from([("network".to_string(), vec![full.to_string()])]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let listed = docker
        .list_containers(Some(options))
        .await
        .map_err(fail("list the containers on network"))?;
    let (ours, theirs): (Vec<_>, Vec<_>) = listed.into_iter().partition(|c| {
        c.labels
            .as_ref()
            .and_then(|l| l.get(labels::PROJECT))
            .is_some_and(|p| p == project)
    });
    if !theirs.is_empty() {
        let names: Vec<String> = theirs
            .iter()
            .map(|c| {
                c.names
                    .as_ref()
                    .and_then(|n| n.first())
                    .map(|n| n.trim_start_matches('/').to_string())
                    .or_else(|| c.id.clone())
                    .unwrap_or_default()
            })
            .collect();
        return Err(ObjectError::ForeignContainers {
            name: full.to_string(),
            containers: names.join(", "),
        });
    }

    // Each container's aliases on this network, without the short ID Docker adds.
    let mut attached: Vec<(String, Vec<String>)> = Vec::new();
    for id in ours.into_iter().filter_map(|c| c.id) {
        let inspect = match docker
            .inspect_container(&id, None::<InspectContainerOptions>)
            .await
        {
            Ok(c) => c,
            Err(e) if is_not_found(&e) => continue,
            Err(e) => return Err(fail("inspect a container on network")(e)),
        };
        let Some(endpoint) = inspect
            .network_settings
            .and_then(|n| n.networks)
            .and_then(|mut n| n.remove(full))
        else {
            continue;
        };
        let short = id.get(..12).unwrap_or(&id).to_string();
        let aliases = endpoint
            .aliases
            .unwrap_or_default()
            .into_iter()
            .filter(|a| *a != short)
            .collect();
        attached.push((id, aliases));
    }

    for (id, _) in &attached {
        let request = NetworkDisconnectRequest {
            container: id.clone(),
            force: Some(false),
        };
        match docker.disconnect_network(full, request).await {
            Err(e) if !is_not_found(&e) => return Err(fail("disconnect a container from")(e)),
            _ => {}
        }
    }
    let target = live.id.as_deref().unwrap_or(full);
    match docker.remove_network(target).await {
        Err(e) if !is_not_found(&e) => return Err(fail("remove network")(e)),
        _ => {}
    }
    create_network(docker, project, full, spec).await?;
    let mut reconnected = 0;
    for (id, aliases) in attached {
        let request = NetworkConnectRequest {
            container: id,
            endpoint_config: Some(EndpointSettings {
                aliases: Some(aliases),
                ..Default::default()
            }),
        };
        match docker.connect_network(full, request).await {
            Ok(()) => reconnected += 1,
            // Removed meanwhile: its service's next pass makes a new one.
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(fail("connect a container to")(e)),
        }
    }
    Ok(reconnected)
}

/// Removes all but the oldest of several networks named `full` that the project owns
/// (left by an older holdfast or another process racing this one).
async fn remove_duplicate_networks(
    docker: &Docker,
    project: &str,
    full: &str,
) -> Result<(), ObjectError> {
    let mut filters = labels::label_filters(project, None);
    filters.insert("name".to_string(), vec![format!("^{full}$")]);
    let options = ListNetworksOptionsBuilder::default()
        .filters(&filters)
        .build();
    let mut networks = docker
        .list_networks(Some(options))
        .await
        .map_err(|source| ObjectError::Docker {
            op: "list networks named",
            name: full.to_string(),
            source,
        })?;
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

/// Looks at the project's named volume `name` without changing anything.
pub async fn observe_volume(
    docker: &Docker,
    project: &str,
    name: &str,
    spec: &holdfast_spec::Volume,
) -> Result<Observed, ObjectError> {
    let full = volume_docker_name(project, name, spec);
    let live = match docker.inspect_volume(&full).await {
        // Not the project's: used as it is, never compared or changed.
        Ok(_) if spec.external => return Ok(Observed::Current),
        Ok(v) => v,
        Err(e) if is_not_found(&e) && spec.external => {
            return Err(ObjectError::ExternalMissing {
                kind: "volume",
                name: full,
            });
        }
        Err(e) if is_not_found(&e) => return Ok(Observed::Missing),
        Err(source) => {
            return Err(ObjectError::Docker {
                op: "inspect volume",
                name: full,
                source,
            });
        }
    };
    let hash = content_hash(spec);
    if foreign_owner(&live.labels, project).is_some() || !hash_differs(&live.labels, &hash) {
        return Ok(Observed::Current);
    }
    Ok(Observed::Changed(changes(
        (&volume_driver(spec), &live.driver),
        &spec.labels,
        &live.labels,
        Vec::new(),
        &hash,
    )))
}

/// Creates the project's named volume `name` unless it exists. One made from another
/// spec is kept as it is ([`Ensured::Kept`]).
pub async fn ensure_volume(
    docker: &Docker,
    project: &str,
    name: &str,
    spec: &holdfast_spec::Volume,
) -> Result<Ensured, ObjectError> {
    let full = volume_docker_name(project, name, spec);
    match observe_volume(docker, project, name, spec).await? {
        Observed::Current => return Ok(Ensured::Existed),
        Observed::Changed(changes) => return Ok(Ensured::Kept { changes }),
        Observed::Missing => {}
    }
    let request = VolumeCreateRequest {
        name: Some(full.clone()),
        driver: Some(volume_driver(spec)),
        driver_opts: (!spec.driver_opts.is_empty()).then(|| {
            spec.driver_opts
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }),
        labels: Some(owner_labels(project, &spec.labels, &content_hash(spec))),
        ..Default::default()
    };
    docker
        .create_volume(request)
        .await
        .map(|_| Ensured::Created)
        .map_err(|source| ObjectError::Docker {
            op: "create volume",
            name: full,
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(labels: &[(&str, &str)], driver: &str, internal: bool) -> NetworkInspect {
        NetworkInspect {
            driver: Some(driver.to_string()),
            internal: Some(internal),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    fn made_from(spec: &holdfast_spec::Network) -> NetworkInspect {
        let labels = owner_labels("shop", &spec.labels, &content_hash(spec));
        NetworkInspect {
            driver: Some(network_driver(spec)),
            internal: Some(spec.internal),
            labels: Some(labels),
            ..Default::default()
        }
    }

    #[test]
    fn a_network_made_from_the_spec_is_current() {
        let spec = holdfast_spec::Network {
            labels: BTreeMap::from([("team".into(), "shop".into())]),
            ..Default::default()
        };
        let live = made_from(&spec);
        assert_eq!(
            compare_network("shop", "shop_backend", &spec, &live).unwrap(),
            Observed::Current
        );
        // Made by an older holdfast, without a hash: nothing to compare with.
        let mut old = live.clone();
        old.labels.as_mut().unwrap().remove(labels::SPEC_HASH);
        old.internal = Some(true);
        assert_eq!(
            compare_network("shop", "shop_backend", &spec, &old).unwrap(),
            Observed::Current
        );
    }

    #[test]
    fn a_network_made_from_another_spec_names_what_changed() {
        let before = holdfast_spec::Network::default();
        let live = made_from(&before);
        let after = holdfast_spec::Network {
            internal: true,
            labels: BTreeMap::from([("team".into(), "ops".into())]),
            ..Default::default()
        };
        let Observed::Changed(changes) =
            compare_network("shop", "shop_backend", &after, &live).unwrap()
        else {
            panic!("not changed");
        };
        assert_eq!(
            changes,
            vec![
                Change {
                    what: "internal",
                    desired: "true".into(),
                    live: "false".into()
                },
                Change {
                    what: "labels",
                    desired: "team=ops".into(),
                    live: "(none)".into()
                },
            ]
        );
        assert_eq!(Changed(&changes).to_string(), "internal, labels changed");
        assert_eq!(side(&changes, true), "internal true; labels team=ops");
        assert_eq!(side(&changes, false), "internal false; labels (none)");

        let driver = holdfast_spec::Network {
            driver: Some("macvlan".into()),
            ..Default::default()
        };
        let Observed::Changed(changes) =
            compare_network("shop", "shop_backend", &driver, &live).unwrap()
        else {
            panic!("not changed");
        };
        assert_eq!(Changed(&changes).to_string(), "driver changed");
        assert_eq!(changes[0].desired, "macvlan");
        assert_eq!(changes[0].live, "bridge");
    }

    #[test]
    fn a_hash_that_differs_in_nothing_visible_is_a_spec_change() {
        let spec = holdfast_spec::Network::default();
        let mut live = made_from(&spec);
        live.labels
            .as_mut()
            .unwrap()
            .insert(labels::SPEC_HASH.into(), "0123456789abcdef".into());
        let Observed::Changed(changes) =
            compare_network("shop", "shop_backend", &spec, &live).unwrap()
        else {
            panic!("not changed");
        };
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].what, "spec");
        assert_eq!(changes[0].live, "spec hash 0123456789ab");
    }

    #[test]
    fn a_network_the_project_does_not_own_is_an_error() {
        let spec = holdfast_spec::Network::default();
        for (live, owner) in [
            (network(&[], "bridge", false), "no holdfast labels"),
            (
                network(&[(labels::PROJECT, "other")], "bridge", false),
                "project `other`",
            ),
        ] {
            let e = compare_network("shop", "shop_backend", &spec, &live).unwrap_err();
            let message = e.to_string();
            assert!(message.contains("`shop_backend`"), "{message}");
            assert!(message.contains("not holdfast's"), "{message}");
            assert!(message.contains(owner), "{message}");
            assert!(
                message.contains("docker network rm shop_backend"),
                "{message}"
            );
        }
    }

    #[test]
    fn the_spec_hash_of_a_default_network_and_volume_does_not_move() {
        // Every network made so far carries this hash. A new field of
        // `holdfast_spec::Network` that is serialised when left at its default would
        // change it, and every network of every project would be recreated on upgrade
        // (and every volume reported as changed): skip such fields when default.
        assert_eq!(
            content_hash(&holdfast_spec::Network::default()),
            content_hash(&serde_json::json!({"internal": false}))
        );
        assert_eq!(
            content_hash(&holdfast_spec::Volume::default()),
            content_hash(&serde_json::json!({}))
        );
    }

    #[test]
    fn the_volume_fix_names_the_volume() {
        let fix = volume_fix("shop_pgdata");
        assert!(fix.contains("docker volume rm shop_pgdata"), "{fix}");
        assert!(fix.contains("--filter volume=shop_pgdata"), "{fix}");
        assert!(fix.contains("holdfast apply"), "{fix}");
        assert!(!fix.contains("{volume}"), "{fix}");
    }
}
