//! One service.

use std::collections::BTreeMap;

use super::mounts::decode_mounts;
use super::ports::{decode_expose, decode_ports};
use super::{Cx, Fields, RefKind, Unsupported, choice};
use crate::diagnostic::Diagnostic;
use crate::model::{
    Build, Dependency, DependencyCondition, Deploy, DriftMode, EnvFile, FailureAction, Healthcheck,
    Logging, PullPolicy, ResourceAmounts, Resources, RestartPolicy, Service, ServiceConfig,
    ServiceNetwork, ServiceSecret, Ulimit, UpdateConfig, UpdateOrder,
};
use crate::suggest::closest;
use crate::yaml::{Node, Value};

/// Compose service fields that holdfast does not support yet, with what to do instead.
const SERVICE_UNSUPPORTED: &[Unsupported] = &[
    Unsupported {
        field: "cpu_quota",
        help: "use `deploy: {resources: {limits: {cpus: ...}}}`",
    },
    Unsupported {
        field: "cpu_period",
        help: "use `deploy: {resources: {limits: {cpus: ...}}}`",
    },
    Unsupported {
        field: "cpu_count",
        help: "use `deploy: {resources: {limits: {cpus: ...}}}`",
    },
    Unsupported {
        field: "cpu_percent",
        help: "use `deploy: {resources: {limits: {cpus: ...}}}`",
    },
    Unsupported {
        field: "cpu_rt_runtime",
        help: "remove it for now",
    },
    Unsupported {
        field: "cpu_rt_period",
        help: "remove it for now",
    },
    Unsupported {
        field: "uts",
        help: "remove it for now",
    },
    Unsupported {
        field: "mem_swappiness",
        help: "remove it for now",
    },
    Unsupported {
        field: "blkio_config",
        help: "remove it for now",
    },
    Unsupported {
        field: "log_driver",
        help: "use `logging: {driver: ...}`",
    },
    Unsupported {
        field: "log_opt",
        help: "use `logging: {options: ...}`",
    },
    Unsupported {
        field: "attach",
        help: "remove it: holdfast never attaches to a service's output; use `holdfast logs`",
    },
    Unsupported {
        field: "device_cgroup_rules",
        help: "remove it for now",
    },
    Unsupported {
        field: "credential_spec",
        help: "remove it: Windows only",
    },
    Unsupported {
        field: "isolation",
        help: "remove it: Windows only",
    },
    Unsupported {
        field: "cgroup",
        help: "remove it for now",
    },
    Unsupported {
        field: "use_api_socket",
        help: "remove it for now",
    },
    Unsupported {
        field: "provider",
        help: "remove it for now",
    },
    Unsupported {
        field: "models",
        help: "remove it for now",
    },
    Unsupported {
        field: "pull_refresh_after",
        help: "remove it; use `pull_policy: always` to pull on every update",
    },
    Unsupported {
        field: "links",
        help: "remove it: services on a shared network reach each other by service name",
    },
    Unsupported {
        field: "external_links",
        help: "put both services on one network and remove it",
    },
    Unsupported {
        field: "mem_limit",
        help: "use `deploy: {resources: {limits: {memory: ...}}}`",
    },
    Unsupported {
        field: "mem_reservation",
        help: "use `deploy: {resources: {reservations: {memory: ...}}}`",
    },
    Unsupported {
        field: "cpus",
        help: "use `deploy: {resources: {limits: {cpus: ...}}}`",
    },
    Unsupported {
        field: "pid",
        help: "remove it for now",
    },
    Unsupported {
        field: "ipc",
        help: "remove it for now",
    },
    Unsupported {
        field: "scale",
        help: "remove it: holdfast runs one container per service",
    },
    Unsupported {
        field: "volumes_from",
        help: "mount the same named volume in both services",
    },
    Unsupported {
        field: "develop",
        help: "remove it: `develop` is for `docker compose watch` on a laptop",
    },
    Unsupported {
        field: "annotations",
        help: "use `labels`",
    },
    Unsupported {
        field: "label_file",
        help: "write the labels under `labels:`",
    },
    Unsupported {
        field: "gpus",
        help: "remove it for now",
    },
    Unsupported {
        field: "userns_mode",
        help: "remove it for now",
    },
    Unsupported {
        field: "oom_score_adj",
        help: "remove it for now",
    },
    Unsupported {
        field: "oom_kill_disable",
        help: "remove it for now",
    },
    Unsupported {
        field: "cgroup_parent",
        help: "remove it for now",
    },
    Unsupported {
        field: "mac_address",
        help: "remove it for now",
    },
    Unsupported {
        field: "post_start",
        help: "run the step in the image's entrypoint",
    },
    Unsupported {
        field: "pre_stop",
        help: "handle SIGTERM in the program",
    },
    Unsupported {
        field: "cpu_shares",
        help: "use `deploy: {resources: {limits: {cpus: ...}}}`",
    },
    Unsupported {
        field: "cpuset",
        help: "remove it for now",
    },
    Unsupported {
        field: "memswap_limit",
        help: "remove it for now",
    },
    Unsupported {
        field: "storage_opt",
        help: "remove it for now",
    },
];

/// Docker's rule for container names.
pub(crate) fn valid_container_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

pub(crate) fn decode_service(cx: &mut Cx<'_>, name: &str, node: &Node) -> Option<Service> {
    let mut f = Fields::new(cx, node, format!("service `{name}`"))?;
    let mut s = Service {
        image: cx.opt_string(f.get("image"), "an image reference"),
        build: f.get("build").and_then(|n| decode_build(cx, name, n)),
        ..Service::default()
    };
    if let (Some(n), Some("")) = (f.get("image"), s.image.as_deref()) {
        cx.error(
            Diagnostic::error(n.span, "the image name is empty")
                .with_help("write an image reference such as `nginx:1.27`"),
        );
    }
    if let Some(n) = f.get("pull_policy") {
        s.pull_policy = if n.as_str() == Some("build") {
            cx.error(
                Diagnostic::error(n.span, "`pull_policy: build` is not supported yet").with_help(
                    "remove it; a service with `build:` is built when its image is missing",
                ),
            );
            PullPolicy::Missing
        } else {
            match choice(
                cx,
                n,
                "pull policy",
                &["missing", "always", "never", "if_not_present"],
            ) {
                Some("always") => PullPolicy::Always,
                Some("never") => PullPolicy::Never,
                _ => PullPolicy::Missing,
            }
        };
    }
    if let Some(n) = f.get("container_name")
        && let Some(container_name) = cx.string(n, "a container name")
    {
        if valid_container_name(&container_name) {
            cx.map
                .container_names
                .push((name.to_string(), container_name.clone(), n.span));
            s.container_name = Some(container_name);
        } else {
            cx.error(
                Diagnostic::error(
                    n.span,
                    format!("`{container_name}` is not a valid container name"),
                )
                .with_help(
                    "use letters, digits, `_`, `.` and `-`, starting with a letter or digit",
                ),
            );
        }
    }
    s.command = f
        .get("command")
        .and_then(|n| shell_command(cx, n, "command"));
    s.entrypoint = f
        .get("entrypoint")
        .and_then(|n| shell_command(cx, n, "entrypoint"));
    s.environment = f
        .get("environment")
        .and_then(|n| cx.string_map(n, "environment"))
        .unwrap_or_default();
    s.env_file = f
        .get("env_file")
        .map(|n| decode_env_files(cx, n))
        .unwrap_or_default();
    s.secrets = f
        .get("secrets")
        .map(|n| decode_service_secrets(cx, name, n))
        .unwrap_or_default();
    s.configs = f
        .get("configs")
        .map(|n| decode_service_configs(cx, name, n))
        .unwrap_or_default();
    s.ports = f
        .get("ports")
        .map(|n| decode_ports(cx, name, n))
        .unwrap_or_default();
    s.expose = f
        .get("expose")
        .map(|n| decode_expose(cx, n))
        .unwrap_or_default();
    s.volumes = f
        .get("volumes")
        .map(|n| decode_mounts(cx, name, n))
        .unwrap_or_default();
    s.networks = f
        .get("networks")
        .map(|n| decode_service_networks(cx, name, n))
        .unwrap_or_default();
    s.healthcheck = f
        .get("healthcheck")
        .and_then(|n| decode_healthcheck(cx, name, n));
    if let Some(n) = f.get("restart") {
        s.restart = decode_restart(cx, n).unwrap_or_default();
    }
    if let Some((deploy, restart)) = f.get("deploy").and_then(|n| decode_deploy(cx, name, n)) {
        s.deploy = deploy;
        if let Some((policy, span)) = restart {
            if let Some(n) = f.get("restart")
                && s.restart != policy
            {
                cx.error(
                    Diagnostic::warning(n.span, "`restart` and `deploy.restart_policy` disagree; `deploy.restart_policy` wins, as in Compose")
                        .with_related(span, "this policy is used")
                        .with_help("keep one of the two"),
                );
            }
            s.restart = policy;
        }
    }
    s.logging = f.get("logging").and_then(|n| decode_logging(cx, name, n));
    s.user = cx.opt_string(f.get("user"), "a user name or id");
    s.init = f.get("init").and_then(|n| cx.bool(n));
    s.stop_grace_period = f
        .get("stop_grace_period")
        .and_then(|n| cx.parsed(n, "a duration"));
    s.hostname = f.get("hostname").and_then(|n| host_name(cx, n, "hostname"));
    s.domainname = f
        .get("domainname")
        .and_then(|n| host_name(cx, n, "domainname"));
    if let Some(n) = f.get("working_dir")
        && let Some(dir) = cx.opt_string(Some(n), "an absolute path")
    {
        if dir.starts_with('/') {
            s.working_dir = Some(dir);
        } else {
            cx.error(
                Diagnostic::error(
                    n.span,
                    format!("`working_dir: {dir}` is not an absolute path"),
                )
                .with_label("relative path")
                .with_help("write a path inside the container that starts with `/`"),
            );
        }
    }
    s.stop_signal = f.get("stop_signal").and_then(|n| stop_signal(cx, n));
    s.tty = f.get("tty").and_then(|n| cx.bool(n));
    s.stdin_open = f.get("stdin_open").and_then(|n| cx.bool(n));
    s.read_only = f.get("read_only").and_then(|n| cx.bool(n));
    s.privileged = f.get("privileged").and_then(|n| cx.bool(n));
    s.cap_add = f
        .get("cap_add")
        .and_then(|n| capabilities(cx, n))
        .unwrap_or_default();
    s.cap_drop = f
        .get("cap_drop")
        .and_then(|n| capabilities(cx, n))
        .unwrap_or_default();
    s.extra_hosts = f
        .get("extra_hosts")
        .and_then(|n| decode_extra_hosts(cx, n))
        .unwrap_or_default();
    s.dns = f
        .get("dns")
        .and_then(|n| non_empty_list(cx, n, "a DNS server address", true))
        .unwrap_or_default();
    for (i, server) in s.dns.iter().enumerate() {
        if server.parse::<std::net::IpAddr>().is_err() {
            let span = f
                .get("dns")
                .map(|n| match &n.value {
                    Value::Seq(items) => items.get(i).map_or(n.span, |item| item.span),
                    _ => n.span,
                })
                .unwrap_or(node.span);
            cx.error(
                Diagnostic::error(span, format!("`{server}` is not an IP address"))
                    .with_label("expected an IP address")
                    .with_help("write the address of a DNS server, such as `1.1.1.1`"),
            );
        }
    }
    // Plain lists of strings (a single string allowed where Compose allows it).
    for (key, what, single_ok, target) in [
        ("dns_search", "a search domain", true, &mut s.dns_search),
        ("dns_opt", "a resolver option", false, &mut s.dns_opt),
        ("group_add", "a group name or id", false, &mut s.group_add),
        (
            "security_opt",
            "a security option",
            false,
            &mut s.security_opt,
        ),
    ] {
        *target = f
            .get(key)
            .and_then(|n| non_empty_list(cx, n, what, single_ok))
            .unwrap_or_default();
    }
    s.shm_size = f
        .get("shm_size")
        .and_then(|n| cx.parsed(n, "a size such as `256M`"));
    if let Some(n) = f.get("pids_limit") {
        s.pids_limit = pids_limit(cx, n);
    }
    if let Some(n) = f.get("sysctls") {
        s.sysctls = cx.string_map(n, "sysctls").unwrap_or_default();
    }
    s.ulimits = f
        .get("ulimits")
        .map(|n| decode_ulimits(cx, n))
        .unwrap_or_default();
    s.tmpfs = f
        .get("tmpfs")
        .and_then(|n| decode_tmpfs(cx, n))
        .unwrap_or_default();
    if let Some(n) = f.get("labels") {
        s.labels = cx.labels(n).unwrap_or_default();
    }
    s.platform = f.get("platform").and_then(|n| platform(cx, n));
    s.runtime = cx.opt_string(f.get("runtime"), "a runtime name");
    s.devices = f
        .get("devices")
        .and_then(|n| devices(cx, n))
        .unwrap_or_default();
    if let Some(n) = f.get("network_mode") {
        s.network_mode = network_mode(cx, name, n);
        if let (Some(_), Some(nets)) = (&s.network_mode, f.get("networks")) {
            cx.error(
                Diagnostic::error(
                    nets.span,
                    format!("service `{name}` has both `network_mode` and `networks`"),
                )
                .with_label("not with network_mode")
                .with_related(n.span, "the network mode")
                .with_help(
                    "remove one of the two: a container in a network mode joins no networks",
                ),
            );
        }
        if let (Some(mode), Some(ports)) = (&s.network_mode, f.get("ports"))
            && mode != "bridge"
            && !s.ports.is_empty()
        {
            cx.error(
                Diagnostic::error(
                    ports.span,
                    format!("service `{name}` publishes ports but has `network_mode: {mode}`"),
                )
                .with_label("no ports in this network mode")
                .with_related(n.span, "the network mode")
                .with_help(match mode.split_once(':') {
                    Some(("service", other)) => format!(
                        "publish the ports on service `{other}`, whose network this container shares"
                    ),
                    Some(_) => "publish the ports on the container whose network this one shares".to_string(),
                    None if mode == "host" => "remove `ports:`: with host networking the process listens on the host's ports directly".to_string(),
                    None => "remove `ports:`, or use `network_mode: bridge`".to_string(),
                }),
            );
        }
    }
    s.depends_on = f
        .get("depends_on")
        .map(|n| decode_depends_on(cx, name, n))
        .unwrap_or_default();
    if let Some(n) = f.get("x-holdfast")
        && let Some(mut x) = Fields::new(cx, n, format!("x-holdfast of service `{name}`"))
    {
        if let Some(d) = x.get("drift") {
            s.holdfast.drift = match choice(cx, d, "drift mode", &["correct", "report"]) {
                Some("report") => DriftMode::Report,
                _ => DriftMode::Correct,
            };
        }
        x.finish(cx, &[]);
    }
    if let Some(replicas) = s.deploy.replicas.filter(|r| *r > 1) {
        let span = node
            .get("deploy")
            .and_then(|d| d.get("replicas"))
            .map_or(node.span, |n| n.span);
        if let Some(port) = s.ports.iter().find(|p| p.published.is_some()) {
            cx.error(
                Diagnostic::error(span, format!("`replicas: {replicas}` with a fixed host port"))
                    .with_label("the replicas would clash on the port")
                    .with_help(format!("leave the host port out (`\"{}\"`) so that Docker picks one per replica, or route to the service through the proxy", port.target)),
            );
        }
        if let Some(n) = f.get("container_name") {
            cx.error(
                Diagnostic::error(
                    n.span,
                    format!("`container_name` with `replicas: {replicas}`"),
                )
                .with_related(span, "several containers")
                .with_help("remove `container_name`; replicas are named `<project>-<service>-<n>`"),
            );
        }
    }
    f.finish(cx, SERVICE_UNSUPPORTED);
    let written = |key: &str| node.get(key).is_some_and(|v| v.value != Value::Null);
    let misspelt = match &node.value {
        Value::Map(entries) => entries
            .iter()
            .filter_map(|(k, _)| k.as_str())
            .any(|k| k != "image" && k != "build" && closest(k, ["image", "build"]).is_some()),
        _ => false,
    };
    if !written("image") && !written("build") && !misspelt {
        let span = cx.map.service_keys.get(name).copied().unwrap_or(node.span);
        cx.error(
            Diagnostic::error(
                span,
                format!("service `{name}` has neither `image` nor `build`"),
            )
            .with_label("nothing to run")
            .with_help("add `image: NAME:TAG`, or `build: ./folder` with a Dockerfile"),
        );
    }
    Some(s)
}

fn shell_command(cx: &mut Cx<'_>, node: &Node, what: &str) -> Option<Vec<String>> {
    match &node.value {
        Value::Seq(_) => cx.string_list(node, "strings", false),
        Value::Scalar { .. } => {
            let text = cx.string(node, what)?;
            match shell_words::split(&text) {
                Ok(words) => Some(words),
                Err(_) => {
                    cx.error(
                        Diagnostic::error(node.span, format!("the {what} has an unclosed quote"))
                            .with_label("the string is split like a shell would split it")
                            .with_help("close the quote, or write the command as a list: [\"prog\", \"arg\"]"),
                    );
                    None
                }
            }
        }
        _ => {
            cx.expected(node, &format!("the {what} as a string or a list"), None);
            None
        }
    }
}

/// Compose also accepts git URLs as build contexts; holdfast builds local folders only.
fn remote_context(cx: &mut Cx<'_>, node: &Node, context: &str) -> bool {
    let remote = context.contains("://")
        || context.starts_with("git@")
        || context.starts_with("github.com/");
    if remote {
        cx.error(
            Diagnostic::error(
                node.span,
                format!("remote build context `{context}` is not supported yet"),
            )
            .with_label("not a local folder")
            .with_help("clone the repository on the server and point `context` at the folder"),
        );
    }
    remote
}

fn decode_build(cx: &mut Cx<'_>, service: &str, node: &Node) -> Option<Build> {
    if let Value::Scalar { .. } = node.value {
        let context = cx.string(node, "a build context folder")?;
        if remote_context(cx, node, &context) {
            return None;
        }
        return Some(Build {
            context: cx.resolve_path(node.span, &context),
            dockerfile: None,
            args: BTreeMap::new(),
            target: None,
        });
    }
    let mut f = Fields::new(cx, node, format!("the build of service `{service}`"))?;
    let context_node = f.get("context");
    let context = cx
        .opt_string(context_node, "a folder")
        .unwrap_or_else(|| ".".into());
    if let Some(n) = context_node
        && remote_context(cx, n, &context)
    {
        return None;
    }
    let build = Build {
        context: cx.resolve_path(context_node.map_or(node.span, |n| n.span), &context),
        dockerfile: cx.opt_string(f.get("dockerfile"), "a Dockerfile path"),
        args: f
            .get("args")
            .and_then(|n| cx.string_map(n, "build args"))
            .unwrap_or_default(),
        target: cx.opt_string(f.get("target"), "a build stage name"),
    };
    f.finish(
        cx,
        &[
            Unsupported {
                field: "tags",
                help: "use `image:` for the one tag holdfast gives the built image",
            },
            Unsupported {
                field: "no_cache",
                help: "remove it for now",
            },
            Unsupported {
                field: "additional_contexts",
                help: "put everything in one context folder",
            },
            Unsupported {
                field: "pull",
                help: "remove it: no base image is pulled",
            },
            Unsupported {
                field: "shm_size",
                help: "remove it for now",
            },
            Unsupported {
                field: "extra_hosts",
                help: "remove it for now",
            },
            Unsupported {
                field: "isolation",
                help: "remove it: Windows only",
            },
            Unsupported {
                field: "privileged",
                help: "remove it for now",
            },
            Unsupported {
                field: "ulimits",
                help: "remove it for now",
            },
            Unsupported {
                field: "cache_to",
                help: "remove it for now",
            },
            Unsupported {
                field: "entitlements",
                help: "remove it for now",
            },
            Unsupported {
                field: "provenance",
                help: "remove it for now",
            },
            Unsupported {
                field: "sbom",
                help: "remove it for now",
            },
            Unsupported {
                field: "cache_from",
                help: "remove it for now",
            },
            Unsupported {
                field: "labels",
                help: "set LABEL in the Dockerfile",
            },
            Unsupported {
                field: "network",
                help: "remove it for now",
            },
            Unsupported {
                field: "secrets",
                help: "remove it for now",
            },
            Unsupported {
                field: "ssh",
                help: "remove it for now",
            },
            Unsupported {
                field: "platforms",
                help: "remove it: images are built for this host",
            },
            Unsupported {
                field: "dockerfile_inline",
                help: "put the Dockerfile in the build context",
            },
        ],
    );
    Some(build)
}

fn decode_env_files(cx: &mut Cx<'_>, node: &Node) -> Vec<EnvFile> {
    let items: Vec<&Node> = match &node.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![node],
    };
    let mut out = Vec::new();
    for item in items {
        let (path_node, required) = match &item.value {
            Value::Map(_) => {
                let Some(mut f) = Fields::new(cx, item, "an env_file entry") else {
                    continue;
                };
                let path = f.get("path");
                let required = f.get("required").and_then(|n| cx.bool(n)).unwrap_or(true);
                f.finish(
                    cx,
                    &[Unsupported {
                        field: "format",
                        help: "remove it; env files are `KEY=value` lines",
                    }],
                );
                let Some(path) = path else {
                    cx.error(
                        Diagnostic::error(item.span, "an env_file entry needs `path`")
                            .with_help("write `path: ./app.env`"),
                    );
                    continue;
                };
                (path, required)
            }
            _ => (item, true),
        };
        let Some(text) = cx.string(path_node, "a file path") else {
            continue;
        };
        let path = cx.resolve_path(path_node.span, &text);
        if required {
            cx.check_file(path_node, &text, &path, "env file");
        }
        out.push(EnvFile { path, required });
    }
    out
}

fn decode_service_secrets(cx: &mut Cx<'_>, service: &str, node: &Node) -> Vec<ServiceSecret> {
    let Value::Seq(items) = &node.value else {
        cx.expected(
            node,
            "a list of secret names",
            Some("write `secrets: [name]`"),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let (source_node, target) = match &item.value {
            Value::Map(_) => {
                let Some(mut f) = Fields::new(cx, item, format!("a secret of service `{service}`"))
                else {
                    continue;
                };
                let source = f.get("source");
                let target = cx.opt_string(f.get("target"), "a file name");
                f.finish(
                    cx,
                    &[
                        Unsupported {
                            field: "uid",
                            help: "remove it; secrets are readable by every user in the container",
                        },
                        Unsupported {
                            field: "gid",
                            help: "remove it; secrets are readable by every user in the container",
                        },
                        Unsupported {
                            field: "mode",
                            help: "remove it; secrets are mounted read-only",
                        },
                    ],
                );
                let Some(source) = source else {
                    cx.error(
                        Diagnostic::error(item.span, "a secret entry needs `source`")
                            .with_help("write `source: NAME`"),
                    );
                    continue;
                };
                (source, target)
            }
            _ => (item, None),
        };
        let Some(source) = cx.string(source_node, "a secret name") else {
            continue;
        };
        cx.reference(RefKind::Secret, &source, service, source_node.span);
        let target = target.unwrap_or_else(|| source.clone());
        if target.is_empty() || target.split('/').any(|part| part == "..") {
            cx.error(
                Diagnostic::error(
                    item.get("target").map_or(item.span, |t| t.span),
                    format!("secret target `{target}` is not allowed"),
                )
                    .with_help("name a file under /run/secrets/ (such as `db_password`) or an absolute path without `..`"),
            );
            continue;
        }
        out.push(ServiceSecret { source, target });
    }
    out
}

fn decode_service_configs(cx: &mut Cx<'_>, service: &str, node: &Node) -> Vec<ServiceConfig> {
    let Value::Seq(items) = &node.value else {
        cx.expected(
            node,
            "a list of config names",
            Some("write `configs: [name]`"),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let mut config = ServiceConfig {
            source: String::new(),
            target: String::new(),
            uid: None,
            gid: None,
            mode: None,
        };
        let source_node = match &item.value {
            Value::Map(_) => {
                let Some(mut f) = Fields::new(cx, item, format!("a config of service `{service}`"))
                else {
                    continue;
                };
                let source = f.get("source");
                config.target = cx
                    .opt_string(f.get("target"), "an absolute path")
                    .unwrap_or_default();
                config.uid = f.get("uid").and_then(|n| numeric_id(cx, n, "uid"));
                config.gid = f.get("gid").and_then(|n| numeric_id(cx, n, "gid"));
                config.mode = f.get("mode").and_then(|n| file_mode(cx, n));
                f.finish(cx, &[]);
                let Some(source) = source else {
                    cx.error(
                        Diagnostic::error(item.span, "a config entry needs `source`")
                            .with_help("write `source: NAME`"),
                    );
                    continue;
                };
                source
            }
            _ => item,
        };
        let Some(source) = cx.string(source_node, "a config name") else {
            continue;
        };
        cx.reference(RefKind::Config, &source, service, source_node.span);
        config.source = source;
        if config.target.split('/').any(|part| part == "..") || config.path() == "/" {
            cx.error(
                Diagnostic::error(
                    item.get("target").map_or(item.span, |t| t.span),
                    format!("config target `{}` is not allowed", config.target),
                )
                .with_help("write an absolute path inside the container without `..`, such as `/etc/app.conf`"),
            );
            continue;
        }
        out.push(config);
    }
    out
}

/// A numeric user or group id (`uid`, `gid`).
fn numeric_id(cx: &mut Cx<'_>, node: &Node, field: &str) -> Option<String> {
    let text = cx.string(node, "a number")?;
    if text.parse::<u32>().is_ok() {
        return Some(text);
    }
    cx.error(
        Diagnostic::error(node.span, format!("`{field}: {text}` is not a numeric id"))
            .with_label("expected a number")
            .with_help(format!("write the numeric {field}, such as `1000`")),
    );
    None
}

/// Permission bits: octal with a leading `0` or `0o` (`0440`), else decimal, as YAML
/// 1.1 reads a number.
fn file_mode(cx: &mut Cx<'_>, node: &Node) -> Option<u32> {
    let text = cx.string(node, "a file mode")?;
    let parsed = match text.strip_prefix("0o").or_else(|| text.strip_prefix('0')) {
        Some("") => Some(0),
        Some(octal) => u32::from_str_radix(octal, 8).ok(),
        None => text.parse::<u32>().ok(),
    };
    match parsed.filter(|m| *m <= 0o7777) {
        Some(mode) => Some(mode),
        None => {
            cx.error(
                Diagnostic::error(node.span, format!("`mode: {text}` is not a file mode"))
                    .with_label("expected permission bits")
                    .with_help("write the mode in octal with a leading 0, such as `0440`"),
            );
            None
        }
    }
}

fn decode_service_networks(
    cx: &mut Cx<'_>,
    service: &str,
    node: &Node,
) -> BTreeMap<String, ServiceNetwork> {
    let mut out = BTreeMap::new();
    match &node.value {
        Value::Seq(items) => {
            for item in items {
                if let Some(name) = cx.string(item, "a network name") {
                    cx.reference(RefKind::Network, &name, service, item.span);
                    out.insert(name, ServiceNetwork::default());
                }
            }
        }
        Value::Map(entries) => {
            for (key, value) in entries {
                let Some(name) = cx.string(key, "a network name") else {
                    continue;
                };
                cx.reference(RefKind::Network, &name, service, key.span);
                let Some(mut f) = Fields::new(
                    cx,
                    value,
                    format!("network `{name}` of service `{service}`"),
                ) else {
                    continue;
                };
                let aliases = f
                    .get("aliases")
                    .and_then(|n| cx.string_list(n, "names", false))
                    .unwrap_or_default();
                let mut address = |key: &'static str, v6: bool| {
                    let n = f.get(key)?;
                    let text = cx.string(n, "an IP address")?;
                    match text.parse::<std::net::IpAddr>() {
                        Ok(ip) if ip.is_ipv6() == v6 => Some(text),
                        _ => {
                            let family = if v6 { "IPv6" } else { "IPv4" };
                            cx.error(
                                Diagnostic::error(n.span, format!("`{text}` is not an {family} address"))
                                    .with_label(format!("expected an {family} address"))
                                    .with_help("write an address inside one of the network's `ipam` subnets, such as `172.22.1.10`"),
                            );
                            None
                        }
                    }
                };
                let ipv4_address = address("ipv4_address", false);
                let ipv6_address = address("ipv6_address", true);
                f.finish(
                    cx,
                    &[
                        Unsupported {
                            field: "priority",
                            help: "remove it",
                        },
                        Unsupported {
                            field: "mac_address",
                            help: "remove it",
                        },
                        Unsupported {
                            field: "link_local_ips",
                            help: "remove it",
                        },
                        Unsupported {
                            field: "driver_opts",
                            help: "remove it",
                        },
                        Unsupported {
                            field: "gw_priority",
                            help: "remove it",
                        },
                        Unsupported {
                            field: "interface_name",
                            help: "remove it",
                        },
                    ],
                );
                out.insert(
                    name,
                    ServiceNetwork {
                        aliases,
                        ipv4_address,
                        ipv6_address,
                    },
                );
            }
        }
        _ => cx.expected(
            node,
            "a list of network names or a mapping",
            Some("write `networks: [backend]`"),
        ),
    }
    out
}

fn decode_healthcheck(cx: &mut Cx<'_>, service: &str, node: &Node) -> Option<Healthcheck> {
    let mut f = Fields::new(cx, node, format!("the healthcheck of service `{service}`"))?;
    let disable = f.get("disable").and_then(|n| cx.bool(n)).unwrap_or(false);
    let mut test = match f.get("test") {
        Some(n) => match &n.value {
            Value::Seq(items) if !items.is_empty() => {
                let test = cx.string_list(n, "strings", false).unwrap_or_default();
                match test.first().map(String::as_str) {
                    Some("CMD" | "CMD-SHELL" | "NONE") | None => {}
                    Some(other) => cx.error(
                        Diagnostic::error(items[0].span, format!("a healthcheck test list starts with `CMD`, `CMD-SHELL` or `NONE`, not `{other}`"))
                            .with_label("unknown test kind")
                            .with_help(format!("write [\"CMD\", \"{other}\", ...] to run a program, or a plain string to run a shell command")),
                    ),
                }
                if test.len() == 1 && test[0] != "NONE" {
                    cx.error(
                        Diagnostic::error(
                            n.span,
                            format!("`{}` needs a command after it", test[0]),
                        )
                        .with_help("write [\"CMD\", \"program\", \"arg\"]"),
                    );
                }
                test
            }
            Value::Seq(_) => {
                cx.error(
                    Diagnostic::error(n.span, "the healthcheck test is empty")
                        .with_help("write [\"CMD\", \"program\", \"arg\"], or remove `test`"),
                );
                Vec::new()
            }
            _ => cx
                .string(n, "a command")
                .map(|c| vec!["CMD-SHELL".to_string(), c])
                .unwrap_or_default(),
        },
        None => Vec::new(),
    };
    if disable {
        test = vec!["NONE".to_string()];
    }
    let hc = Healthcheck {
        test,
        interval: f.get("interval").and_then(|n| cx.parsed(n, "a duration")),
        timeout: f.get("timeout").and_then(|n| cx.parsed(n, "a duration")),
        retries: f
            .get("retries")
            .and_then(|n| cx.number(n, "a number of retries", 0, 1_000_000)),
        start_period: f
            .get("start_period")
            .and_then(|n| cx.parsed(n, "a duration")),
        start_interval: f
            .get("start_interval")
            .and_then(|n| cx.parsed(n, "a duration")),
    };
    f.finish(cx, &[]);
    Some(hc)
}

fn decode_restart(cx: &mut Cx<'_>, node: &Node) -> Option<RestartPolicy> {
    let text = cx.string(node, "a restart policy")?;
    let policy = match text.as_str() {
        "no" => Some(RestartPolicy::No),
        "always" => Some(RestartPolicy::Always),
        "unless-stopped" => Some(RestartPolicy::UnlessStopped),
        "on-failure" => Some(RestartPolicy::OnFailure { max_retries: None }),
        other => other
            .strip_prefix("on-failure:")
            .and_then(|n| n.parse().ok())
            .map(|n| RestartPolicy::OnFailure {
                max_retries: Some(n),
            }),
    };
    if policy.is_none() {
        let choices = ["no", "always", "unless-stopped", "on-failure"];
        let help = match closest(&text, choices) {
            Some(s) => format!(
                "did you mean `{s}`? (one of `no`, `always`, `unless-stopped`, `on-failure`, `on-failure:N`)"
            ),
            None => "use one of `no`, `always`, `unless-stopped`, `on-failure`, `on-failure:N`"
                .to_string(),
        };
        cx.error(
            Diagnostic::error(node.span, format!("`{text}` is not a valid restart policy"))
                .with_label("invalid restart policy")
                .with_help(help),
        );
    }
    policy
}

/// `deploy:`, and the restart policy its `restart_policy` maps onto (with where that
/// was written).
fn decode_deploy(
    cx: &mut Cx<'_>,
    service: &str,
    node: &Node,
) -> Option<(Deploy, Option<(RestartPolicy, crate::diagnostic::Span)>)> {
    let mut f = Fields::new(cx, node, format!("deploy of service `{service}`"))?;
    if let Some(n) = f.get("mode") {
        choice(cx, n, "deploy mode", &["replicated"]).or_else(|| {
            cx.error(
                Diagnostic::error(n.span, "only `mode: replicated` is supported").with_help(
                    "`global` means one container per swarm node; on one host, remove `mode`",
                ),
            );
            None
        });
    }
    let update_config = f
        .get("update_config")
        .and_then(|n| decode_update_config(cx, service, n))
        .unwrap_or_default();
    let restart = f
        .get("restart_policy")
        .and_then(|n| restart_policy(cx, service, n).map(|p| (p, n.span)));
    let replicas = f
        .get("replicas")
        .and_then(|n| cx.number::<u32>(n, "a number of replicas", 0, 100))
        .filter(|r| *r != 1);
    let mut resources = Resources::default();
    if let Some(n) = f.get("resources")
        && let Some(mut r) = Fields::new(cx, n, format!("deploy.resources of service `{service}`"))
    {
        resources.limits = r
            .get("limits")
            .and_then(|n| amounts(cx, n, "limits"))
            .unwrap_or_default();
        let reservations = r.get("reservations");
        resources.reservations = reservations
            .and_then(|n| amounts(cx, n, "reservations"))
            .unwrap_or_default();
        if let (Some(limit), Some(reserved)) =
            (resources.limits.memory, resources.reservations.memory)
            && reserved > limit
        {
            let span = reservations
                .and_then(|n| n.get("memory"))
                .map_or(n.span, |m| m.span);
            cx.error(
                Diagnostic::error(
                    span,
                    format!(
                        "the memory reservation ({reserved}) is larger than the limit ({limit})"
                    ),
                )
                .with_label("Docker refuses this")
                .with_help("reserve at most the limit, or raise the limit"),
            );
        }
        r.finish(cx, &[]);
    }
    f.finish(
        cx,
        &[
            Unsupported {
                field: "rollback_config",
                help: "remove it for now",
            },
            Unsupported {
                field: "placement",
                help: "remove it: holdfast runs every service on this host",
            },
            Unsupported {
                field: "endpoint_mode",
                help: "remove it",
            },
            Unsupported {
                field: "labels",
                help: "use the service's `labels:` field",
            },
        ],
    );
    Some((
        Deploy {
            resources,
            replicas,
            update_config,
        },
        restart,
    ))
}

fn decode_update_config(cx: &mut Cx<'_>, service: &str, node: &Node) -> Option<UpdateConfig> {
    let mut f = Fields::new(
        cx,
        node,
        format!("deploy.update_config of service `{service}`"),
    )?;
    let mut u = UpdateConfig::default();
    if let Some(n) = f.get("order") {
        cx.map.start_first.insert(service.to_string(), n.span);
        u.order = match choice(cx, n, "update order", &["stop-first", "start-first"]) {
            Some("start-first") => UpdateOrder::StartFirst,
            _ => UpdateOrder::StopFirst,
        };
    }
    if let Some(n) = f.get("parallelism")
        && let Some(p) = cx.number::<u32>(n, "a number of containers", 1, 1000)
    {
        u.parallelism = p;
    }
    if let Some(d) = f.get("monitor").and_then(|n| cx.parsed(n, "a duration")) {
        u.monitor = d;
    }
    if let Some(n) = f.get("failure_action") {
        u.failure_action = match choice(cx, n, "failure action", &["pause", "rollback", "continue"])
        {
            Some("rollback") => FailureAction::Rollback,
            Some("continue") => FailureAction::Continue,
            _ => FailureAction::Pause,
        };
    }
    f.finish(
        cx,
        &[
            Unsupported {
                field: "delay",
                help: "remove it: holdfast replaces the next container as soon as the last one serves",
            },
            Unsupported {
                field: "max_failure_ratio",
                help: "remove it: one failed container fails the update",
            },
        ],
    );
    Some(u)
}

fn amounts(cx: &mut Cx<'_>, node: &Node, what: &str) -> Option<ResourceAmounts> {
    let mut f = Fields::new(cx, node, format!("resource {what}"))?;
    let a = ResourceAmounts {
        memory: f.get("memory").and_then(|n| cx.parsed(n, "a size")),
        cpus: f.get("cpus").and_then(|n| cx.parsed(n, "a number of CPUs")),
    };
    f.finish(
        cx,
        &[
            Unsupported {
                field: "pids",
                help: "remove it for now",
            },
            Unsupported {
                field: "devices",
                help: "remove it for now",
            },
            Unsupported {
                field: "generic_resources",
                help: "remove it",
            },
        ],
    );
    Some(a)
}

fn decode_logging(cx: &mut Cx<'_>, service: &str, node: &Node) -> Option<Logging> {
    let mut f = Fields::new(cx, node, format!("logging of service `{service}`"))?;
    let logging = Logging {
        driver: cx.opt_string(f.get("driver"), "a log driver name"),
        options: f
            .get("options")
            .and_then(|n| cx.string_map(n, "log options"))
            .unwrap_or_default(),
    };
    f.finish(cx, &[]);
    Some(logging)
}

fn decode_depends_on(cx: &mut Cx<'_>, service: &str, node: &Node) -> BTreeMap<String, Dependency> {
    let mut out = BTreeMap::new();
    match &node.value {
        Value::Seq(items) => {
            for item in items {
                if let Some(name) = cx.string(item, "a service name") {
                    cx.reference(RefKind::Service, &name, service, item.span);
                    out.insert(
                        name,
                        Dependency {
                            condition: DependencyCondition::ServiceStarted,
                            required: true,
                            restart: false,
                        },
                    );
                }
            }
        }
        Value::Map(entries) => {
            for (key, value) in entries {
                let Some(name) = cx.string(key, "a service name") else {
                    continue;
                };
                let Some(mut f) = Fields::new(
                    cx,
                    value,
                    format!("dependency `{name}` of service `{service}`"),
                ) else {
                    continue;
                };
                let mut condition = DependencyCondition::ServiceStarted;
                if let Some(n) = f.get("condition") {
                    let Some(text) = cx.string(n, "a condition") else {
                        continue;
                    };
                    condition = match text.as_str() {
                        "service_started" => DependencyCondition::ServiceStarted,
                        "service_healthy" => DependencyCondition::ServiceHealthy,
                        "service_completed_successfully" => {
                            DependencyCondition::ServiceCompletedSuccessfully
                        }
                        _ => {
                            choice(
                                cx,
                                n,
                                "depends_on condition",
                                &[
                                    "service_started",
                                    "service_healthy",
                                    "service_completed_successfully",
                                ],
                            );
                            continue;
                        }
                    };
                }
                let required = f.get("required").and_then(|n| cx.bool(n)).unwrap_or(true);
                let restart = f.get("restart").and_then(|n| cx.bool(n)).unwrap_or(false);
                if required {
                    cx.reference(RefKind::Service, &name, service, key.span);
                }
                f.finish(cx, &[]);
                out.insert(
                    name,
                    Dependency {
                        condition,
                        required,
                        restart,
                    },
                );
            }
        }
        _ => cx.expected(
            node,
            "a list of service names or a mapping",
            Some("write `depends_on: [db]`"),
        ),
    }
    out
}

/// `deploy.restart_policy` as Compose maps it onto the container's restart policy:
/// `none` is `no`, `any` is `always`, `on-failure` with `max_attempts` is
/// `on-failure:N`.
fn restart_policy(cx: &mut Cx<'_>, service: &str, node: &Node) -> Option<RestartPolicy> {
    let mut f = Fields::new(
        cx,
        node,
        format!("deploy.restart_policy of service `{service}`"),
    )?;
    let condition = match f.get("condition") {
        Some(n) => choice(cx, n, "restart condition", &["none", "on-failure", "any"])?,
        None => "any",
    };
    let max_attempts = f
        .get("max_attempts")
        .and_then(|n| cx.number::<u32>(n, "a number of attempts", 0, u32::MAX.into()));
    for key in ["delay", "window"] {
        if let Some((k, _)) = f.entry(key) {
            cx.error(
                Diagnostic::warning(
                    k.span,
                    format!("`{key}` of `restart_policy` is not applied"),
                )
                .with_label("Docker's restart policy has no such setting")
                .with_help(
                    "Docker restarts with its own growing delay; remove it to silence this warning",
                ),
            );
        }
    }
    f.finish(cx, &[]);
    Some(match condition {
        "none" => RestartPolicy::No,
        "on-failure" => RestartPolicy::OnFailure {
            max_retries: max_attempts,
        },
        _ => RestartPolicy::Always,
    })
}

/// `platform: os/arch[/variant]`.
fn platform(cx: &mut Cx<'_>, node: &Node) -> Option<String> {
    let text = cx.string(node, "a platform")?;
    if text.is_empty() {
        // `platform: ${DOCKER_PLATFORM:-}`: no platform, as in Compose.
        return None;
    }
    let parts: Vec<&str> = text.split('/').collect();
    if (2..=3).contains(&parts.len()) && parts.iter().all(|p| !p.is_empty()) {
        return Some(text);
    }
    cx.error(
        Diagnostic::error(node.span, format!("`{text}` is not a platform"))
            .with_label("expected OS/ARCH")
            .with_help("write `linux/amd64` or `linux/arm64/v8`"),
    );
    None
}

/// `devices: ["/dev/ttyUSB0:/dev/ttyUSB0:rwm"]`, or the long form with `source`,
/// `target` and `permissions`.
fn devices(cx: &mut Cx<'_>, node: &Node) -> Option<Vec<String>> {
    let Value::Seq(items) = &node.value else {
        cx.expected(
            node,
            "a list of devices",
            Some("write `devices: [\"/dev/net/tun:/dev/net/tun\"]`"),
        );
        return None;
    };
    let mut out = Vec::new();
    for item in items {
        let text = match &item.value {
            Value::Map(_) => {
                let Some(mut f) = Fields::new(cx, item, "a device") else {
                    continue;
                };
                let source = cx.opt_string(f.get("source"), "a host device path");
                let target = cx.opt_string(f.get("target"), "a device path in the container");
                let permissions = cx.opt_string(f.get("permissions"), "permissions such as `rwm`");
                f.finish(cx, &[]);
                let Some(source) = source else {
                    cx.error(
                        Diagnostic::error(item.span, "a device needs `source`, the host device")
                            .with_help("write `source: /dev/ttyUSB0`"),
                    );
                    continue;
                };
                let target = target.unwrap_or_else(|| source.clone());
                match permissions {
                    Some(p) => format!("{source}:{target}:{p}"),
                    None => format!("{source}:{target}"),
                }
            }
            _ => match cx.string(item, "a device such as `/dev/ttyUSB0`") {
                Some(t) => t,
                None => continue,
            },
        };
        let parts: Vec<&str> = text.split(':').collect();
        let perms_ok = |p: &str| !p.is_empty() && p.chars().all(|c| matches!(c, 'r' | 'w' | 'm'));
        let ok = match parts.as_slice() {
            [host] => host.starts_with('/'),
            [host, container] => {
                host.starts_with('/') && (container.starts_with('/') || perms_ok(container))
            }
            [host, container, perms] => {
                host.starts_with('/') && container.starts_with('/') && perms_ok(perms)
            }
            _ => false,
        };
        if !ok {
            cx.error(
                Diagnostic::error(item.span, format!("`{text}` is not a device mapping"))
                    .with_label("expected HOST[:CONTAINER[:PERMISSIONS]]")
                    .with_help("write `/dev/ttyUSB0:/dev/ttyUSB0:rwm` (absolute paths; permissions of r, w and m)"),
            );
            continue;
        }
        out.push(text);
    }
    Some(out)
}

/// `network_mode: host | none | bridge | service:NAME | container:NAME`. A service
/// mode depends on that service, which must be started first.
fn network_mode(cx: &mut Cx<'_>, service: &str, node: &Node) -> Option<String> {
    let text = cx.string(node, "a network mode")?;
    match text.split_once(':') {
        None if matches!(text.as_str(), "host" | "none" | "bridge") => Some(text),
        Some(("service", other)) if !other.is_empty() => {
            cx.reference(RefKind::Service, other, service, node.span);
            Some(text)
        }
        Some(("container", other)) if !other.is_empty() => Some(text),
        _ => {
            cx.error(
                Diagnostic::error(node.span, format!("`{text}` is not a network mode"))
                    .with_label("invalid network mode")
                    .with_help("use `host`, `none`, `bridge`, `service:NAME` or `container:NAME`"),
            );
            None
        }
    }
}

/// A host or domain name: letters, digits, `-` and `.`.
fn host_name(cx: &mut Cx<'_>, node: &Node, field: &str) -> Option<String> {
    let name = cx.opt_string(Some(node), "a host name")?;
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|part| {
            !part.is_empty()
                && part.len() <= 63
                && !part.starts_with('-')
                && !part.ends_with('-')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Some(name)
    } else {
        cx.error(
            Diagnostic::error(node.span, format!("`{name}` is not a valid {field}"))
                .with_label("not a host name")
                .with_help("use letters, digits and `-`, in parts separated by `.`"),
        );
        None
    }
}

/// `SIGINT`, `INT` or a signal number.
fn stop_signal(cx: &mut Cx<'_>, node: &Node) -> Option<String> {
    const SIGNALS: &[&str] = &[
        "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
        "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
        "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
    ];
    let text = cx.opt_string(Some(node), "a signal name")?;
    let upper = text.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    let rt = bare
        .strip_prefix("RTMIN")
        .or_else(|| bare.strip_prefix("RTMAX"))
        .is_some_and(|rest| rest.is_empty() || rest[1..].parse::<u8>().is_ok());
    if SIGNALS.contains(&bare) || rt || text.parse::<u8>().is_ok_and(|n| (1..=64).contains(&n)) {
        return Some(text);
    }
    let mut d = Diagnostic::error(node.span, format!("`{text}` is not a signal"))
        .with_label("unknown signal");
    d = match closest(bare, SIGNALS.iter().copied()) {
        Some(near) => d.with_help(format!("did you mean `SIG{near}`?")),
        None => d.with_help("write a signal name such as `SIGTERM` or `SIGINT`"),
    };
    cx.error(d);
    None
}

/// A list of strings (or one string, when `single_ok`), none of them empty.
fn non_empty_list(
    cx: &mut Cx<'_>,
    node: &Node,
    what: &str,
    single_ok: bool,
) -> Option<Vec<String>> {
    if node.value == Value::Null {
        return None;
    }
    let list = cx.string_list(node, what, single_ok)?;
    if list.iter().any(String::is_empty) {
        cx.error(
            Diagnostic::error(
                node.span,
                format!("an entry is empty where {what} is expected"),
            )
            .with_help("remove the empty entry"),
        );
        return None;
    }
    Some(list)
}

/// Capability names, as Docker takes them: `NET_ADMIN` or `CAP_NET_ADMIN`, or `ALL`.
fn capabilities(cx: &mut Cx<'_>, node: &Node) -> Option<Vec<String>> {
    let list = non_empty_list(cx, node, "a capability name", false)?;
    let mut ok = true;
    for (i, cap) in list.iter().enumerate() {
        let bare = cap.strip_prefix("CAP_").unwrap_or(cap);
        if !bare
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        {
            let span = match &node.value {
                Value::Seq(items) => items.get(i).map_or(node.span, |item| item.span),
                _ => node.span,
            };
            cx.error(
                Diagnostic::error(span, format!("`{cap}` is not a capability name"))
                    .with_label("expected a capability")
                    .with_help(format!(
                        "write it in capitals, such as `{}`",
                        bare.to_ascii_uppercase()
                    )),
            );
            ok = false;
        }
    }
    ok.then_some(list)
}

/// `["host:ip"]`, `["host=ip"]` or `{host: ip}`.
fn decode_extra_hosts(cx: &mut Cx<'_>, node: &Node) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut entries: Vec<(String, String, crate::diagnostic::Span)> = Vec::new();
    match &node.value {
        Value::Null => return None,
        Value::Map(map) => {
            for (k, v) in map {
                if let (Some(host), Some(ip)) =
                    (cx.string(k, "a host name"), cx.string(v, "an IP address"))
                {
                    entries.push((host, ip, v.span));
                }
            }
        }
        Value::Seq(items) => {
            for item in items {
                let Some(text) = cx.string(item, "`host:ip`") else {
                    continue;
                };
                // `host=ip` first: an IPv6 address has colons.
                let split = text.split_once('=').or_else(|| text.split_once(':'));
                match split {
                    Some((host, ip)) if !host.is_empty() => {
                        entries.push((host.to_string(), ip.to_string(), item.span));
                    }
                    _ => cx.error(
                        Diagnostic::error(item.span, format!("`{text}` is not `host:ip`"))
                            .with_label("expected `host:ip`")
                            .with_help(
                                "write `name:10.0.0.5`, `name=10.0.0.5` or `name: 10.0.0.5`",
                            ),
                    ),
                }
            }
        }
        Value::Scalar { .. } => {
            cx.expected(
                node,
                "a list of `host:ip`, or a mapping",
                Some("write `- name:10.0.0.5` entries, or `name: 10.0.0.5`"),
            );
            return None;
        }
    }
    for (host, ip, span) in entries {
        let bare = ip.trim_start_matches('[').trim_end_matches(']');
        if ip != "host-gateway" && bare.parse::<std::net::IpAddr>().is_err() {
            cx.error(
                Diagnostic::error(span, format!("`{ip}` is not an IP address (for `{host}`)"))
                    .with_label("expected an IP address")
                    .with_help("write an address such as `10.0.0.5`, or `host-gateway`"),
            );
            continue;
        }
        if out.insert(host.clone(), bare.to_string()).is_some() {
            cx.error(
                Diagnostic::error(span, format!("`{host}` is set twice in extra_hosts"))
                    .with_help("remove one of the two"),
            );
        }
    }
    Some(out)
}

/// A whole number, `-1` or more.
fn pids_limit(cx: &mut Cx<'_>, node: &Node) -> Option<i64> {
    let text = cx.opt_string(Some(node), "a number of processes")?;
    match text.trim().parse::<i64>() {
        Ok(n) if n >= -1 && n != 0 => Some(n),
        _ => {
            cx.error(
                Diagnostic::error(node.span, format!("`{text}` is not a valid pids_limit"))
                    .with_label("expected a positive whole number or -1")
                    .with_help(
                        "write the most processes the container may run, or `-1` for no limit",
                    ),
            );
            None
        }
    }
}

fn ulimit_value(cx: &mut Cx<'_>, node: &Node) -> Option<i64> {
    let text = cx.string(node, "a whole number")?;
    match text.trim().parse::<i64>() {
        Ok(n) if n >= -1 => Some(n),
        _ => {
            cx.error(
                Diagnostic::error(node.span, format!("`{text}` is not a valid limit"))
                    .with_label("expected a whole number")
                    .with_help("write a whole number, or `-1` for unlimited"),
            );
            None
        }
    }
}

/// `{nofile: 1024}` or `{nofile: {soft: 1024, hard: 2048}}`.
fn decode_ulimits(cx: &mut Cx<'_>, node: &Node) -> BTreeMap<String, Ulimit> {
    let mut out = BTreeMap::new();
    let entries = match &node.value {
        Value::Null => return out,
        Value::Map(entries) => entries,
        _ => {
            cx.expected(
                node,
                "a mapping of limits",
                Some("write `nofile: 1024` or `nofile: {soft: 1024, hard: 2048}`"),
            );
            return out;
        }
    };
    for (k, v) in entries {
        let Some(name) = cx.string(k, "a limit name") else {
            continue;
        };
        let limit = match &v.value {
            Value::Scalar { .. } => ulimit_value(cx, v).map(|n| Ulimit { soft: n, hard: n }),
            Value::Map(_) => {
                let Some(mut lf) = Fields::new(cx, v, format!("ulimit `{name}`")) else {
                    continue;
                };
                let soft = lf.entry("soft");
                let hard = lf.entry("hard");
                lf.finish(cx, &[]);
                match (soft, hard) {
                    (Some((_, s)), Some((_, h))) => {
                        match (ulimit_value(cx, s), ulimit_value(cx, h)) {
                            (Some(soft), Some(hard)) if soft <= hard || hard == -1 => {
                                Some(Ulimit { soft, hard })
                            }
                            (Some(soft), Some(hard)) => {
                                cx.error(
                                    Diagnostic::error(
                                        v.span,
                                        format!("the soft limit {soft} of `{name}` is above its hard limit {hard}"),
                                    )
                                    .with_help("make `soft` at most `hard`"),
                                );
                                None
                            }
                            _ => None,
                        }
                    }
                    _ => {
                        cx.error(
                            Diagnostic::error(v.span, format!("ulimit `{name}` needs both `soft` and `hard`"))
                                .with_help(format!("write `{name}: {{soft: 1024, hard: 2048}}`, or `{name}: 1024` for both")),
                        );
                        None
                    }
                }
            }
            _ => {
                cx.expected(
                    v,
                    "a number or `{soft, hard}`",
                    Some("write `nofile: 1024` or `nofile: {soft: 1024, hard: 2048}`"),
                );
                None
            }
        };
        if let Some(limit) = limit {
            out.insert(name, limit);
        }
    }
    out
}

/// `/path` or a list of `/path[:options]`.
fn decode_tmpfs(cx: &mut Cx<'_>, node: &Node) -> Option<Vec<String>> {
    let list = non_empty_list(cx, node, "a tmpfs path", true)?;
    let mut ok = true;
    for (i, entry) in list.iter().enumerate() {
        let path = entry.split_once(':').map_or(entry.as_str(), |(p, _)| p);
        if !path.starts_with('/') {
            let span = match &node.value {
                Value::Seq(items) => items.get(i).map_or(node.span, |item| item.span),
                _ => node.span,
            };
            cx.error(
                Diagnostic::error(span, format!("tmpfs `{path}` is not an absolute path"))
                    .with_label("relative path")
                    .with_help("write a path inside the container that starts with `/`, such as `/tmp:size=64m`"),
            );
            ok = false;
        }
    }
    ok.then_some(list)
}
