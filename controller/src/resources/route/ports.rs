//! The 127.0.0.1 ports holdfast publishes routed service ports on, when the proxy runs
//! on the host.
//!
//! Each `(service, container port)` a route points at gets a host port in [`RANGE`],
//! bound to 127.0.0.1 only. The choice is a function of the file alone (a hash of the
//! project, service and port, probing past clashes in sorted order), so every pass and
//! every controller restart derives the same ports, and a recreated container comes back
//! on the same address: nothing that pointed at the old one reaches another service.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use holdfast_spec::{DesiredState, Port, Protocol, Service};
use sha2::{Digest, Sha256};

/// Where the ports come from: below Linux's ephemeral range (32768 and up), so that no
/// outgoing connection holds one.
pub const RANGE: Range<u16> = 20000..30000;

/// Every routed `(service, container port)` and its host port. Empty when there is no
/// proxy, or when the proxy is itself a service (routes then use a shared network).
pub fn allocate(state: &DesiredState) -> BTreeMap<(String, u16), u16> {
    allocate_all(state).0
}

/// The second port of each routed `(service, container port)` of a service updated
/// start-first: the new container of an update listens there while the old one
/// still holds the first (see
/// [`rollout`](crate::resources::service::rollout)), so no address is reused while
/// anything may still reach it. Distinct from every port of [`allocate`].
pub fn allocate_green(state: &DesiredState) -> BTreeMap<(String, u16), u16> {
    allocate_all(state).1
}

/// Host ports by `(instance, container port)`, where the instance is the service's
/// name for its first replica and [`instance`] for the others.
pub type Ports = BTreeMap<(String, u16), u16>;

/// The key a replica's ports are allocated under: the service's name for replica 1
/// (so a service scaled from one replica keeps its address), `service#n` for replica
/// `n` (`#` cannot occur in a service name).
pub fn instance(service: &str, replica: u32) -> String {
    if replica <= 1 {
        service.to_string()
    } else {
        format!("{service}#{replica}")
    }
}

/// What replica `n`'s port is hashed from; replica 1's is the service's own, as before
/// replicas.
fn hash_key(project: &str, service: &str, port: u16, replica: u32) -> String {
    if replica <= 1 {
        format!("{project}/{service}/{port}")
    } else {
        format!("{project}/{service}/{port}/{replica}")
    }
}

/// [`allocate`] and [`allocate_green`] in one go.
pub fn allocate_all(state: &DesiredState) -> (Ports, Ports) {
    let (mut blue, mut green) = (BTreeMap::new(), BTreeMap::new());
    let Some(proxy) = &state.proxy else {
        return (blue, green);
    };
    if proxy.service.is_some() {
        return (blue, green);
    }
    let wanted: BTreeSet<(String, u16)> = state
        .routes
        .values()
        .flat_map(|r| r.paths.iter().map(|p| (p.service.clone(), p.port)))
        .filter(|(s, _)| state.services.contains_key(s))
        .collect();
    let mut taken: BTreeSet<u16> = state
        .services
        .values()
        .flat_map(|s| s.ports.iter().filter_map(|p| p.published))
        .collect();
    let mut pick = |key: String| -> Option<u16> {
        let size = u32::from(RANGE.end - RANGE.start);
        let digest = Sha256::digest(key.as_bytes());
        let start = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % size;
        let free = (0..size)
            .map(|i| RANGE.start + ((start + i) % size) as u16)
            .find(|p| !taken.contains(p))?;
        taken.insert(free);
        Some(free)
    };
    let replicas = |service: &str| {
        state
            .services
            .get(service)
            .map_or(1, |s| s.replicas().max(1))
    };
    for (service, port) in &wanted {
        for n in 1..=replicas(service) {
            if let Some(p) = pick(hash_key(&state.name, service, *port, n)) {
                blue.insert((instance(service, n), *port), p);
            }
        }
    }
    for (service, port) in wanted {
        let start_first = state.services.get(&service).is_some_and(|s| {
            s.deploy.update_config.order == holdfast_spec::UpdateOrder::StartFirst
        });
        if !start_first {
            continue;
        }
        for n in 1..=replicas(&service) {
            if let Some(p) = pick(format!(
                "{}/green",
                hash_key(&state.name, &service, port, n)
            )) {
                green.insert((instance(&service, n), port), p);
            }
        }
    }
    (blue, green)
}

/// Moves the routed 127.0.0.1 bindings in `bindings` from the host port `from` gives
/// a container port to the one `to` gives it (another replica's, or the green slot's),
/// and sorts them again. Other bindings stay.
pub fn rebind(
    bindings: &mut [crate::resources::service::PortBinding],
    from: impl Fn(u16) -> Option<u16>,
    to: impl Fn(u16) -> Option<u16>,
) {
    for p in bindings.iter_mut() {
        if p.host_ip == "127.0.0.1"
            && p.host_port.is_some()
            && from(p.container_port) == p.host_port
            && let Some(port) = to(p.container_port)
        {
            p.host_port = Some(port);
        }
    }
    bindings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
}

/// `service` with the 127.0.0.1 ports its routes need added to `ports` (those of its
/// first replica; see [`instance`] for the others').
pub fn with_route_ports<'a>(
    state: &DesiredState,
    name: &str,
    service: &'a Service,
) -> Cow<'a, Service> {
    let extra: Vec<Port> = allocate(state)
        .into_iter()
        .filter(|((s, _), _)| s == name)
        .map(|((_, target), host)| Port {
            target,
            published: Some(host),
            host_ip: "127.0.0.1".to_string(),
            protocol: Protocol::Tcp,
        })
        .collect();
    if extra.is_empty() {
        return Cow::Borrowed(service);
    }
    let mut s = service.clone();
    s.ports.extend(extra);
    Cow::Owned(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::service::fixtures::load;

    const FILE: &str = "name: shop\nproxy: {engine: caddy}\nservices:\n  web: {image: busybox}\n  api: {image: busybox, ports: [\"8080:80\"]}\nroutes:\n  shop:\n    hosts: [shop.example.com]\n    paths:\n      - {prefix: /api, service: api, port: 80}\n      - {prefix: /, service: web, port: 3000}\n";

    #[test]
    fn ports_are_stable_distinct_and_in_range() {
        let state = load(FILE);
        let a = allocate(&state);
        assert_eq!(a.len(), 2);
        assert_eq!(a, allocate(&state), "a function of the file");
        let ports: BTreeSet<u16> = a.values().copied().collect();
        assert_eq!(ports.len(), 2);
        assert!(ports.iter().all(|p| RANGE.contains(p)));
        assert!(!ports.contains(&8080));
    }

    #[test]
    fn a_routed_service_gets_a_loopback_port() {
        let state = load(FILE);
        let web = with_route_ports(&state, "web", &state.services["web"]);
        let p = web.ports.last().unwrap();
        assert_eq!((p.target, p.host_ip.as_str()), (3000, "127.0.0.1"));
        assert_eq!(
            p.published,
            allocate(&state).get(&("web".to_string(), 3000)).copied()
        );
    }
}
