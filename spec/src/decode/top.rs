//! The top level of the file: `name`, `services`, `networks`, `volumes`, `secrets`,
//! `proxy` and `routes`.

use std::collections::BTreeMap;

use super::routes::{decode_proxy, decode_route};
use super::{Cx, Fields, Unsupported, service::decode_service};
use crate::diagnostic::Diagnostic;
use crate::model::{Config, DesiredState, Ipam, IpamPool, Network, Secret, Volume};
use crate::yaml::{Node, Value};

const TOP_UNSUPPORTED: &[Unsupported] = &[Unsupported {
    field: "models",
    help: "remove it",
}];

const LATER: &[(&str, &str)] = &[
    ("backups", "backup schedules"),
    ("firewall", "firewall rules"),
];

const NETWORK_UNSUPPORTED: &[Unsupported] = &[Unsupported {
    field: "attachable",
    help: "remove it",
}];

const VOLUME_UNSUPPORTED: &[Unsupported] = &[];

const CONFIG_UNSUPPORTED: &[Unsupported] = &[
    Unsupported {
        field: "name",
        help: "remove it; holdfast mounts the config's file, which needs no name",
    },
    Unsupported {
        field: "template_driver",
        help: "remove it; write the config's final text under `content:` or in its file",
    },
];

const SECRET_UNSUPPORTED: &[Unsupported] = &[
    Unsupported {
        field: "environment",
        help: "write the value to a file readable only by root and use `file:`",
    },
    Unsupported {
        field: "external",
        help: "use `file:` with a file on this host",
    },
    Unsupported {
        field: "name",
        help: "remove it",
    },
];

/// A project name Compose would accept.
pub(crate) fn valid_project_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Turns a folder name into a project name as Compose does: lowercase, and only
/// letters, digits, `-` and `_`.
pub(crate) fn project_name_from(folder: &str) -> String {
    folder
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_')
        .skip_while(|c| *c == '-' || *c == '_')
        .collect()
}

/// Decodes the whole file. The project is named `from_env` (`COMPOSE_PROJECT_NAME`)
/// when set, else by `name:`, else after `default_name`, the file's folder.
pub(crate) fn decode_document(
    cx: &mut Cx<'_>,
    root: &Node,
    default_name: &str,
    from_env: Option<&str>,
) -> Option<DesiredState> {
    let mut f = Fields::new(cx, root, "the desired-state file")?;

    if let Some((key, _)) = f.entry("version") {
        cx.error(
            Diagnostic::note(key.span, "`version` is ignored").with_help(
                "remove it; the Compose file format no longer uses it and neither does holdfast",
            ),
        );
    }
    let name = match (from_env, f.get("name")) {
        (None, Some(node)) => {
            let name = cx.string(node, "a project name")?;
            if !valid_project_name(&name) {
                cx.error(
                    Diagnostic::error(node.span, format!("`{name}` is not a valid project name"))
                        .with_label("invalid name")
                        .with_help(format!(
                            "use lowercase letters, digits, `-` and `_`, starting with a letter or digit, such as `{}`",
                            match project_name_from(&name) { s if s.is_empty() => "myapp".to_string(), s => s }
                        )),
                );
            }
            name
        }
        (Some(name), _) => {
            let name = name.to_string();
            if !valid_project_name(&name) {
                cx.error(
                    Diagnostic::error(root.span, format!("`COMPOSE_PROJECT_NAME` is `{name}`, which is not a valid project name"))
                        .with_help("use lowercase letters, digits, `-` and `_`, starting with a letter or digit, in the environment or in `.env`"),
                );
            }
            name
        }
        (None, None) => {
            let name = project_name_from(default_name);
            if name.is_empty() {
                cx.error(
                    Diagnostic::error(root.span, "the file has no `name:` and its folder's name cannot serve as a project name")
                        .with_help("add a line `name: myapp` at the top"),
                );
            }
            name
        }
    };

    let mut services = BTreeMap::new();
    if let Some(node) = f.get("services") {
        if let Value::Map(entries) = &node.value {
            for (key, value) in entries {
                let Some(service_name) = cx.string(key, "a service name") else {
                    continue;
                };
                cx.map.service_keys.insert(service_name.clone(), key.span);
                if let Some(service) = decode_service(cx, &service_name, value) {
                    services.insert(service_name, service);
                }
            }
        } else {
            cx.expected(
                node,
                "`services` as a mapping of service names",
                Some("write each service as `name:` with its fields indented below"),
            );
        }
    }

    let networks = named_map(
        cx,
        f.get("networks"),
        "networks",
        |cx, name, _key_span, node| {
            let mut f = Fields::new(cx, node, format!("network `{name}`"))?;
            let network = Network {
                driver: cx.opt_string(f.get("driver"), "a driver name"),
                internal: f.get("internal").and_then(|n| cx.bool(n)).unwrap_or(false),
                labels: f
                    .get("labels")
                    .and_then(|n| cx.labels(n))
                    .unwrap_or_default(),
                name: cx.opt_string(f.get("name"), "a network name"),
                external: f.get("external").and_then(|n| cx.bool(n)).unwrap_or(false),
                enable_ipv6: f.get("enable_ipv6").and_then(|n| cx.bool(n)),
                driver_opts: f
                    .get("driver_opts")
                    .and_then(|n| cx.string_map(n, "driver_opts"))
                    .unwrap_or_default(),
                ipam: f.get("ipam").and_then(|n| decode_ipam(cx, name, n)),
            };
            if network.external
                && let Some((k, _)) = [
                    "driver",
                    "internal",
                    "labels",
                    "driver_opts",
                    "ipam",
                    "enable_ipv6",
                ]
                .into_iter()
                .find_map(|k| f.entry(k))
            {
                cx.error(
                    Diagnostic::error(
                        k.span,
                        format!(
                            "external network `{name}` cannot set `{}`",
                            k.as_str().unwrap_or("")
                        ),
                    )
                    .with_label("holdfast does not create an external network")
                    .with_help(
                        "remove it, or remove `external: true` to let holdfast create the network",
                    ),
                );
            }
            f.finish(cx, NETWORK_UNSUPPORTED);
            Some(network)
        },
    );
    let volumes = named_map(
        cx,
        f.get("volumes"),
        "volumes",
        |cx, name, _key_span, node| {
            let mut f = Fields::new(cx, node, format!("volume `{name}`"))?;
            let volume = Volume {
                driver: cx.opt_string(f.get("driver"), "a driver name"),
                labels: f
                    .get("labels")
                    .and_then(|n| cx.labels(n))
                    .unwrap_or_default(),
                name: cx.opt_string(f.get("name"), "a volume name"),
                external: f.get("external").and_then(|n| cx.bool(n)).unwrap_or(false),
                driver_opts: f
                    .get("driver_opts")
                    .and_then(|n| cx.string_map(n, "driver_opts"))
                    .unwrap_or_default(),
            };
            f.finish(cx, VOLUME_UNSUPPORTED);
            Some(volume)
        },
    );
    let secrets = named_map(
        cx,
        f.get("secrets"),
        "secrets",
        |cx, name, key_span, node| {
            let mut f = Fields::new(cx, node, format!("secret `{name}`"))?;
            let file = f.get("file");
            let rest_unsupported = f.rest().any(|(k, _)| {
                SECRET_UNSUPPORTED
                    .iter()
                    .any(|u| Some(u.field) == k.as_str())
            });
            f.finish(cx, SECRET_UNSUPPORTED);
            let Some(file_node) = file else {
                if !rest_unsupported {
                    cx.error(
                    Diagnostic::error(key_span, format!("secret `{name}` has no `file`"))
                        .with_help("write `file: ./secrets/NAME` with the path of the file that holds the secret"),
                );
                }
                return None;
            };
            let text = cx.string(file_node, "a file path")?;
            let path = cx.resolve_path(file_node.span, &text);
            cx.check_file(file_node, &text, &path, "secret file");
            Some(Secret { file: path })
        },
    );
    let configs = named_map(cx, f.get("configs"), "configs", decode_config);

    let proxy = f.entry("proxy").and_then(|(key, node)| {
        cx.map.proxy_key = Some(key.span);
        decode_proxy(cx, key, node)
    });
    let routes = match f.entry("routes") {
        Some((key, node)) => {
            cx.map.routes_key = Some(key.span);
            named_map(
                cx,
                Some(node).filter(|n| n.value != Value::Null),
                "routes",
                decode_route,
            )
        }
        None => Some(BTreeMap::new()),
    };

    for (key_name, what) in LATER {
        if let Some((key, _)) = f.entry(key_name) {
            cx.error(
                Diagnostic::error(
                    key.span,
                    format!("`{key_name}` ({what}) is not supported yet"),
                )
                .with_label("not supported yet")
                .with_help(format!(
                    "remove `{key_name}` for now; holdfast will manage {what} in a later version"
                )),
            );
        }
    }
    f.finish(cx, TOP_UNSUPPORTED);

    Some(DesiredState {
        inactive_services: Default::default(),
        name,
        services,
        networks: networks?,
        volumes: volumes?,
        secrets: secrets?,
        configs: configs?,
        proxy,
        routes: routes?,
    })
}

/// One top-level config: exactly one of `file`, `content` and `environment`.
fn decode_config(
    cx: &mut Cx<'_>,
    name: &str,
    key_span: crate::diagnostic::Span,
    node: &Node,
) -> Option<Config> {
    let mut f = Fields::new(cx, node, format!("config `{name}`"))?;
    let sources: Vec<(&str, &Node)> = ["file", "content", "environment"]
        .into_iter()
        .filter_map(|k| f.get(k).map(|n| (k, n)))
        .collect();
    if let Some((key, value)) = f.entry("external")
        && value.as_str() != Some("false")
    {
        cx.error(
            Diagnostic::error(key.span, format!("config `{name}` is `external`, which only Docker Swarm has"))
                .with_label("a Swarm config")
                .with_help(format!(
                    "keep the text in a file on this host and write `file: ./{name}`, or write it under `content:`"
                )),
        );
        f.finish(cx, CONFIG_UNSUPPORTED);
        return None;
    }
    f.finish(cx, CONFIG_UNSUPPORTED);
    let (kind, value) = match sources.as_slice() {
        [] => {
            cx.error(
                Diagnostic::error(key_span, format!("config `{name}` has no `file`, `content` or `environment`"))
                    .with_help("write `file: ./NAME` with the path of the file, or the text under `content: |`"),
            );
            return None;
        }
        [one] => *one,
        [(first, _), (second, n), ..] => {
            cx.error(
                Diagnostic::error(
                    n.span,
                    format!("config `{name}` sets both `{first}` and `{second}`"),
                )
                .with_label("a second source")
                .with_help("keep one of `file`, `content` and `environment`"),
            );
            return None;
        }
    };
    match kind {
        "file" => {
            let text = cx.string(value, "a file path")?;
            let path = cx.resolve_path(value.span, &text);
            cx.check_file(value, &text, &path, "config file");
            Some(Config {
                file: Some(path),
                content: None,
            })
        }
        "content" => Some(Config {
            file: None,
            content: Some(cx.string(value, "the config's text")?),
        }),
        _ => {
            let variable = cx.string(value, "a variable name")?;
            let Some(content) = (cx.vars)(&variable) else {
                cx.error(
                    Diagnostic::error(
                        value.span,
                        format!("variable `{variable}` of config `{name}` is not set"),
                    )
                    .with_label("not set")
                    .with_help(format!(
                        "set `{variable}` in the environment or in `.env` beside the file"
                    )),
                );
                return None;
            };
            Some(Config {
                file: None,
                content: Some(content),
            })
        }
    }
}

/// A top-level mapping of names to definitions, where `name:` alone means defaults.
fn named_map<T>(
    cx: &mut Cx<'_>,
    node: Option<&Node>,
    what: &str,
    mut decode: impl FnMut(&mut Cx<'_>, &str, crate::diagnostic::Span, &Node) -> Option<T>,
) -> Option<BTreeMap<String, T>> {
    let mut out = BTreeMap::new();
    let Some(node) = node else { return Some(out) };
    let Value::Map(entries) = &node.value else {
        cx.expected(
            node,
            &format!("`{what}` as a mapping of names"),
            Some("write each entry as `name:` with its fields indented below"),
        );
        return None;
    };
    for (key, value) in entries {
        let Some(name) = cx.string(key, "a name") else {
            continue;
        };
        match decode(cx, &name, key.span, value) {
            Some(v) => {
                out.insert(name, v);
            }
            // Already reported; references to it must not be reported as undefined too.
            None => cx.map.invalid_definitions.push((what.to_string(), name)),
        }
    }
    Some(out)
}

/// A network's `ipam:`: a driver and address pools.
fn decode_ipam(cx: &mut Cx<'_>, network: &str, node: &Node) -> Option<Ipam> {
    let mut f = Fields::new(cx, node, format!("ipam of network `{network}`"))?;
    let driver = cx.opt_string(f.get("driver"), "an IPAM driver name");
    let mut config = Vec::new();
    if let Some(n) = f.get("config") {
        match &n.value {
            Value::Seq(items) => {
                for item in items {
                    let Some(mut p) =
                        Fields::new(cx, item, format!("an address pool of network `{network}`"))
                    else {
                        continue;
                    };
                    let pool = IpamPool {
                        subnet: cx.opt_string(p.get("subnet"), "a subnet such as `172.22.1.0/24`"),
                        gateway: cx.opt_string(p.get("gateway"), "an IP address"),
                        ip_range: cx.opt_string(p.get("ip_range"), "a subnet"),
                    };
                    p.finish(
                        cx,
                        &[Unsupported {
                            field: "aux_addresses",
                            help: "remove it; give the addresses to services with `ipv4_address`",
                        }],
                    );
                    config.push(pool);
                }
            }
            _ => cx.expected(
                n,
                "a list of address pools",
                Some("write `config: [{subnet: 172.22.1.0/24}]`"),
            ),
        }
    }
    f.finish(
        cx,
        &[Unsupported {
            field: "options",
            help: "remove it; the default IPAM driver takes no options",
        }],
    );
    Some(Ipam { driver, config })
}
