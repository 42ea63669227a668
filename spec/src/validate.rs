//! Checks that look across the whole file: references, port clashes, names, cycles,
//! and routes (`validate/routes.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::decode::valid_container_name;
use crate::decode::{RefKind, SourceMap};
use crate::diagnostic::{Diagnostic, Span};
use crate::model::DesiredState;
use crate::suggest::closest;

mod routes;

/// The network every service without `networks:` joins, as in Compose.
pub const DEFAULT_NETWORK: &str = "default";

pub(crate) fn validate(state: &DesiredState, map: &SourceMap) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let key_span = |name: &str| map.service_keys.get(name).copied().unwrap_or_default();

    for name in state.services.keys() {
        if !valid_container_name(name) {
            out.push(
                Diagnostic::error(
                    key_span(name),
                    format!("`{name}` is not a valid service name"),
                )
                .with_label("invalid name")
                .with_help(
                    "use letters, digits, `_`, `.` and `-`, starting with a letter or digit",
                ),
            );
        }
    }

    for r in &map.references {
        let (defined, what): (Vec<&str>, &str) = match r.kind {
            RefKind::Service => (
                state.services.keys().map(String::as_str).collect(),
                "service",
            ),
            RefKind::Network => {
                let mut names: Vec<&str> = state.networks.keys().map(String::as_str).collect();
                names.push(DEFAULT_NETWORK);
                (names, "network")
            }
            RefKind::Volume => (state.volumes.keys().map(String::as_str).collect(), "volume"),
            RefKind::Secret => (state.secrets.keys().map(String::as_str).collect(), "secret"),
            RefKind::Config => (state.configs.keys().map(String::as_str).collect(), "config"),
        };
        if r.kind == RefKind::Service && r.name == r.from_service {
            out.push(
                Diagnostic::error(r.span, format!("service `{}` depends on itself", r.name))
                    .with_help("remove it from its own `depends_on`"),
            );
            continue;
        }
        if defined.contains(&r.name.as_str()) {
            continue;
        }
        if r.kind == RefKind::Service
            && let Some(profiles) = map.inactive.get(&r.name)
        {
            let list = profiles
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ");
            out.push(
                Diagnostic::error(
                    r.span,
                    format!(
                        "service `{}` depends on `{}`, which is left out: none of its profiles ({list}) is active",
                        r.from_service, r.name
                    ),
                )
                .with_label("inactive service")
                .with_help(format!(
                    "activate its profile (`--profile {}` or `COMPOSE_PROFILES={}`), or mark the dependency `required: false`",
                    profiles.first().map_or("", String::as_str),
                    profiles.first().map_or("", String::as_str)
                )),
            );
            continue;
        }
        let top = match r.kind {
            RefKind::Service => "services",
            RefKind::Network => "networks",
            RefKind::Volume => "volumes",
            RefKind::Secret => "secrets",
            RefKind::Config => "configs",
        };
        if map
            .invalid_definitions
            .iter()
            .any(|(kind, name)| kind == top && name == &r.name)
        {
            continue;
        }
        let help = match closest(&r.name, defined.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None if r.kind == RefKind::Service => {
                format!("define a service `{}`, or remove the dependency", r.name)
            }
            None if r.kind == RefKind::Secret => format!(
                "declare it under the top-level `secrets:` key (`secrets: {{{0}: {{file: ./{0}.txt}}}}`)",
                r.name
            ),
            None if r.kind == RefKind::Config => format!(
                "declare it under the top-level `configs:` key (`configs: {{{0}: {{file: ./{0}}}}}`)",
                r.name
            ),
            None => format!(
                "declare it under the top-level `{top}:` key (`{top}: {{{}: {{}}}}`)",
                r.name
            ),
        };
        out.push(
            Diagnostic::error(
                r.span,
                format!(
                    "service `{}` refers to undefined {what} `{}`",
                    r.from_service, r.name
                ),
            )
            .with_label(format!("no such {what}"))
            .with_help(help),
        );
    }

    out.extend(port_clashes(map));
    out.extend(container_name_clashes(map));
    out.extend(start_first_conflicts(state, map));
    out.extend(default_name_clashes(state, map));
    out.extend(dependency_cycles(state, map));
    out.extend(routes::validate_routes(state, map));
    out
}

fn is_unspecified(ip: &str) -> bool {
    ip.parse::<IpAddr>()
        .map(|ip| ip.is_unspecified())
        .unwrap_or(false)
}

fn port_clashes(map: &SourceMap) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (i, (service, port, span)) in map.ports.iter().enumerate() {
        let Some(published) = port.published else {
            continue;
        };
        let clash = map.ports[..i].iter().find(|(_, other, _)| {
            other.published == Some(published)
                && other.protocol == port.protocol
                && (other.host_ip == port.host_ip
                    || is_unspecified(&other.host_ip)
                    || is_unspecified(&port.host_ip))
        });
        if let Some((other_service, other, other_span)) = clash {
            out.push(
                Diagnostic::error(
                    *span,
                    format!(
                        "service `{service}` publishes {}:{published}/{}, which service `{other_service}` already publishes on {}",
                        port.host_ip, port.protocol.as_str(), other.host_ip
                    ),
                )
                .with_label("port already taken")
                .with_related(*other_span, "first published here")
                .with_help("publish a different host port"),
            );
        }
    }
    out
}

/// `order: start-first` runs the old and the new container at once, so neither may
/// hold something only one container can: a fixed host port or a container name.
fn start_first_conflicts(state: &DesiredState, map: &SourceMap) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (name, service) in &state.services {
        if service.deploy.update_config.order != crate::model::UpdateOrder::StartFirst {
            continue;
        }
        let span = map.start_first.get(name).copied().unwrap_or_default();
        let fixed = service.ports.iter().find_map(|p| p.published);
        if let Some(port) = fixed {
            let related = map
                .ports
                .iter()
                .find(|(s, p, _)| s == name && p.published == Some(port))
                .map(|(_, _, span)| *span);
            let mut d = Diagnostic::error(
                span,
                format!(
                    "service `{name}` updates start-first but publishes the fixed host port {port}"
                ),
            )
            .with_label("the old and the new container would both need the port")
            .with_help(
                "remove the host port (a route reaches the service on its own 127.0.0.1 port), or use `order: stop-first`",
            );
            if let Some(r) = related {
                d = d.with_related(r, "published here");
            }
            out.push(d);
        }
        if service.container_name.is_some() {
            let related = map
                .container_names
                .iter()
                .find(|(s, _, _)| s == name)
                .map(|(_, _, span)| *span);
            let mut d = Diagnostic::error(
                span,
                format!("service `{name}` updates start-first but sets a container_name"),
            )
            .with_label("the old and the new container cannot share one name")
            .with_help("remove `container_name`, or use `order: stop-first`");
            if let Some(r) = related {
                d = d.with_related(r, "named here");
            }
            out.push(d);
        }
    }
    out
}

fn container_name_clashes(map: &SourceMap) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (i, (service, name, span)) in map.container_names.iter().enumerate() {
        if let Some((other, _, other_span)) =
            map.container_names[..i].iter().find(|(_, n, _)| n == name)
        {
            out.push(
                Diagnostic::error(
                    *span,
                    format!("services `{other}` and `{service}` both use container name `{name}`"),
                )
                .with_related(*other_span, "first used here")
                .with_help("give each service its own container_name, or remove it"),
            );
        }
    }
    out
}

/// A `container_name` that equals another service's default name, `<project>-<service>`.
fn default_name_clashes(state: &DesiredState, map: &SourceMap) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (service, name, span) in &map.container_names {
        let taken_by = state.services.iter().find(|(other, s)| {
            *other != service
                && s.container_name.is_none()
                && format!("{}-{other}", state.name) == *name
        });
        if let Some((other, _)) = taken_by {
            out.push(
                Diagnostic::error(
                    *span,
                    format!("container name `{name}` is the default name of service `{other}`"),
                )
                .with_label("already taken")
                .with_help("choose another container_name"),
            );
        }
    }
    out
}

/// One dependency between two objects of the file, of any kind: `from` waits for `to`.
/// Nodes are `KIND/NAME`.
struct Edge {
    from: String,
    to: String,
    /// Where the dependency is written.
    span: Span,
    /// The field that makes it, such as `depends_on`.
    field: &'static str,
}

/// Every dependency between objects: each kind adds the edges its fields make (today:
/// a service's `depends_on`; a route's services, a backup's `before_deploy` as they
/// come), so that one check finds cycles within and across kinds.
fn dependency_edges(state: &DesiredState, map: &SourceMap) -> Vec<Edge> {
    let mut edges = Vec::new();
    // The service `from` waits for `to`, because of `field`, written where `from` names
    // `to`.
    let mut edge = |from: &str, to: &str, field: &'static str| {
        let span = map
            .references
            .iter()
            .find(|r| r.kind == RefKind::Service && r.from_service == from && r.name == to)
            .map(|r| r.span)
            .unwrap_or_default();
        edges.push(Edge {
            from: format!("service/{from}"),
            to: format!("service/{to}"),
            span,
            field,
        });
    };
    for (name, service) in &state.services {
        let known = |dep: &str| state.services.contains_key(dep) && dep != name;
        for dep in service.depends_on.keys().filter(|d| known(d)) {
            edge(name, dep, "depends_on");
        }
        // `network_mode: service:NAME` waits for NAME too.
        if let Some(dep) = service.network_service()
            && known(dep)
            && !service.depends_on.contains_key(dep)
        {
            edge(name, dep, "network_mode");
        }
    }
    edges
}

fn dependency_cycles(state: &DesiredState, map: &SourceMap) -> Vec<Diagnostic> {
    report_cycles(&dependency_edges(state, map))
}

/// One error per cycle among `edges`, at the edge that closes it.
fn report_cycles(edges: &[Edge]) -> Vec<Diagnostic> {
    let edge = |from: &str, to: &str| edges.iter().find(|e| e.from == from && e.to == to);
    let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for e in edges {
        graph
            .entry(e.from.as_str())
            .or_default()
            .push(e.to.as_str());
        graph.entry(e.to.as_str()).or_default();
    }
    let mut reported: BTreeSet<Vec<&str>> = BTreeSet::new();
    let mut out = Vec::new();
    // 0 = unvisited, 1 = on the current path, 2 = done.
    let mut state_of: BTreeMap<&str, u8> = BTreeMap::new();
    fn visit<'a>(
        node: &'a str,
        graph: &BTreeMap<&'a str, Vec<&'a str>>,
        state_of: &mut BTreeMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
        cycles: &mut Vec<Vec<&'a str>>,
    ) {
        state_of.insert(node, 1);
        path.push(node);
        for next in graph.get(node).into_iter().flatten() {
            match state_of.get(next).copied().unwrap_or(0) {
                0 => visit(next, graph, state_of, path, cycles),
                1 => {
                    if let Some(start) = path.iter().position(|n| n == next) {
                        cycles.push(path[start..].to_vec());
                    }
                }
                _ => {}
            }
        }
        path.pop();
        state_of.insert(node, 2);
    }
    let mut cycles = Vec::new();
    for name in graph.keys() {
        if state_of.get(name).copied().unwrap_or(0) == 0 {
            visit(name, &graph, &mut state_of, &mut Vec::new(), &mut cycles);
        }
    }
    for cycle in cycles {
        let mut key = cycle.clone();
        key.sort();
        if !reported.insert(key) {
            continue;
        }
        let mut chain: Vec<&str> = cycle.clone();
        chain.push(cycle[0]);
        let last = cycle[cycle.len() - 1];
        let closing = edge(last, cycle[0]);
        let kinds: BTreeSet<&str> = cycle
            .iter()
            .filter_map(|n| n.split_once('/').map(|(k, _)| k))
            .collect();
        let fields: BTreeSet<&str> = cycle
            .iter()
            .zip(cycle.iter().cycle().skip(1))
            .filter_map(|(from, to)| edge(from, to).map(|e| e.field))
            .collect();
        // Within one kind, names are shown bare; across kinds, as KIND/NAME.
        let shown: Vec<&str> = if kinds.len() == 1 {
            chain
                .iter()
                .map(|n| n.split_once('/').map_or(*n, |(_, name)| name))
                .collect()
        } else {
            chain
        };
        let what = if fields.len() == 1 {
            format!(
                "`{}` forms a cycle",
                fields.iter().next().copied().unwrap_or_default()
            )
        } else if kinds.len() == 1 {
            format!(
                "{} form a cycle",
                fields
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            )
        } else {
            "dependencies form a cycle across kinds".to_string()
        };
        out.push(
            Diagnostic::error(
                closing.map(|e| e.span).unwrap_or_default(),
                format!("{what}: {}", shown.join(" -> ")),
            )
            .with_label("this dependency closes the cycle")
            .with_help(format!(
                "remove one of these dependencies; {} cannot all wait for each other",
                match kinds.iter().next() {
                    Some(kind) if kinds.len() == 1 => format!("{kind}s"),
                    _ => "objects".to_string(),
                }
            )),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(from: &str, to: &str, field: &'static str) -> Edge {
        Edge {
            from: from.into(),
            to: to.into(),
            span: Span::default(),
            field,
        }
    }

    #[test]
    fn a_cycle_across_kinds_names_each_object_with_its_kind() {
        let edges = [
            edge("route/shop", "service/web", "paths"),
            edge("service/web", "backup/db", "before_deploy"),
            edge("backup/db", "route/shop", "source"),
            edge("service/api", "service/web", "depends_on"),
        ];
        let found = report_cycles(&edges);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].message,
            "dependencies form a cycle across kinds: backup/db -> route/shop -> service/web -> backup/db"
        );
    }

    #[test]
    fn a_cycle_within_services_reads_as_before() {
        let edges = [
            edge("service/a", "service/b", "depends_on"),
            edge("service/b", "service/a", "depends_on"),
        ];
        let found = report_cycles(&edges);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].message, "`depends_on` forms a cycle: a -> b -> a");
        assert!(report_cycles(&edges[..1]).is_empty());
    }
}
