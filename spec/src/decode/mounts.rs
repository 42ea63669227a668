//! Service `volumes:`: named volumes and bind mounts, short and long forms.

use super::{Cx, Fields, RefKind, Unsupported, choice};
use crate::diagnostic::{Diagnostic, Span};
use crate::model::{Mount, MountKind};
use crate::yaml::{Node, Value};

pub(crate) fn decode_mounts(cx: &mut Cx<'_>, service: &str, node: &Node) -> Vec<Mount> {
    let Value::Seq(items) = &node.value else {
        cx.expected(
            node,
            "a list of mounts",
            Some("write `volumes: [\"data:/var/lib/data\"]`"),
        );
        return Vec::new();
    };
    let mut out: Vec<Mount> = Vec::new();
    for item in items {
        let mount = match &item.value {
            Value::Map(_) => long_form(cx, service, item),
            _ => cx
                .string(item, "a mount like \"data:/data\"")
                .and_then(|text| short_form(cx, service, item.span, &text)),
        };
        let Some(mount) = mount else { continue };
        if out.iter().any(|m| m.target == mount.target) {
            cx.error(
                Diagnostic::error(
                    item.span,
                    format!(
                        "two mounts of service `{service}` target `{}`",
                        mount.target
                    ),
                )
                .with_help("mount each container path once"),
            );
            continue;
        }
        out.push(mount);
    }
    out
}

/// An absolute path cleaned as Compose cleans a mount target (Go's `path.Clean`): no
/// `//`, `.` or trailing `/`, and `..` taken back.
fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

fn is_path(source: &str) -> bool {
    source.starts_with('/') || source.starts_with('.') || source.starts_with('~')
}

fn short_form(cx: &mut Cx<'_>, service: &str, span: Span, text: &str) -> Option<Mount> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [target] => (None, *target, None),
        [source, target] => (Some(*source), *target, None),
        [source, target, mode] => (Some(*source), *target, Some(*mode)),
        _ => {
            cx.error(
                Diagnostic::error(span, format!("`{text}` is not a valid mount"))
                    .with_help("write \"SOURCE:TARGET\" or \"SOURCE:TARGET:ro\""),
            );
            return None;
        }
    };
    if parts.len() > 1 && parts.iter().any(|p| p.is_empty()) {
        cx.error(
            Diagnostic::error(span, format!("`{text}` has an empty part between its colons"))
                .with_help("write \"SOURCE:TARGET\" or \"SOURCE:TARGET:ro\"; if a variable gives the source, set it"),
        );
        return None;
    }
    let mut extra = Extra::default();
    for option in mode.unwrap_or("").split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" => extra.read_only = true,
            "rw" => {}
            "z" | "Z" => extra.selinux = Some(option.to_string()),
            "nocopy" => extra.nocopy = true,
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" => {
                extra.propagation = Some(option.to_string())
            }
            other => {
                cx.error(
                    Diagnostic::error(span, format!("mount option `{other}` is not supported yet"))
                        .with_help("use `ro`, `rw`, `z`, `Z`, `nocopy` or a bind propagation such as `rshared`"),
                );
                return None;
            }
        }
    }
    build(cx, service, span, source, target, extra, None)
}

/// What a mount sets besides source and target.
#[derive(Default)]
struct Extra {
    read_only: bool,
    selinux: Option<String>,
    nocopy: bool,
    create_host_path: Option<bool>,
    propagation: Option<String>,
}

fn build(
    cx: &mut Cx<'_>,
    service: &str,
    span: Span,
    source: Option<&str>,
    target: &str,
    extra: Extra,
    kind: Option<MountKind>,
) -> Option<Mount> {
    if !target.starts_with('/') {
        cx.error(
            Diagnostic::error(
                span,
                format!("the mount target `{target}` is not an absolute path"),
            )
            .with_help("the part after `:` is the path inside the container, such as `/data`"),
        );
        return None;
    }
    let target = &clean_path(target);
    let source = source.filter(|s| !s.is_empty());
    let kind = kind.unwrap_or(match source {
        Some(s) if is_path(s) => MountKind::Bind,
        _ => MountKind::Volume,
    });
    let source = match (kind, source) {
        (MountKind::Bind, Some(path)) => {
            Some(cx.resolve_path(span, path).to_string_lossy().into_owned())
        }
        (MountKind::Bind, None) => {
            cx.error(
                Diagnostic::error(span, "a bind mount needs `source`, the host path")
                    .with_help("write `source: ./data`"),
            );
            return None;
        }
        (MountKind::Volume, Some(name)) => {
            if is_path(name) {
                cx.error(
                    Diagnostic::error(
                        span,
                        format!("`{name}` is a path, but the mount's type is `volume`"),
                    )
                    .with_help("use `type: bind` for a host path, or name a volume"),
                );
                return None;
            }
            cx.reference(RefKind::Volume, name, service, span);
            Some(name.to_string())
        }
        (MountKind::Volume, None) => None,
    };
    if kind == MountKind::Volume && extra.propagation.is_some() {
        cx.error(
            Diagnostic::error(span, "bind propagation applies to bind mounts only")
                .with_help("remove the option, or mount a host path"),
        );
        return None;
    }
    if kind == MountKind::Bind && extra.nocopy {
        cx.error(
            Diagnostic::error(span, "`nocopy` applies to volumes only")
                .with_help("remove it; a bind mount never copies the image's files"),
        );
        return None;
    }
    Some(Mount {
        kind,
        source,
        target: target.to_string(),
        read_only: extra.read_only,
        selinux: extra.selinux,
        nocopy: extra.nocopy,
        create_host_path: extra.create_host_path,
        propagation: extra.propagation,
    })
}

fn long_form(cx: &mut Cx<'_>, service: &str, node: &Node) -> Option<Mount> {
    let mut f = Fields::new(cx, node, format!("a mount of service `{service}`"))?;
    let kind = match f.get("type") {
        Some(n) => match choice(
            cx,
            n,
            "mount type",
            &["volume", "bind", "tmpfs", "npipe", "cluster", "image"],
        )? {
            "volume" => Some(MountKind::Volume),
            "bind" => Some(MountKind::Bind),
            other => {
                cx.error(
                    Diagnostic::error(n.span, format!("mount type `{other}` is not supported yet"))
                        .with_help("use `volume` or `bind`"),
                );
                return None;
            }
        },
        None => None,
    };
    let source = cx.opt_string(f.get("source"), "a volume name or host path");
    let target = cx.opt_string(f.get("target"), "a path in the container");
    let mut extra = Extra {
        read_only: f.get("read_only").and_then(|n| cx.bool(n)).unwrap_or(false),
        ..Extra::default()
    };
    if let Some(n) = f.get("bind")
        && let Some(mut b) = Fields::new(cx, n, format!("`bind` of a mount of service `{service}`"))
    {
        extra.create_host_path = b.get("create_host_path").and_then(|n| cx.bool(n));
        if let Some(p) = b.get("propagation") {
            extra.propagation = choice(
                cx,
                p,
                "bind propagation",
                &[
                    "private", "rprivate", "shared", "rshared", "slave", "rslave",
                ],
            )
            .map(str::to_string);
        }
        if let Some(z) = b.get("selinux") {
            extra.selinux = choice(cx, z, "SELinux relabelling", &["z", "Z"]).map(str::to_string);
        }
        b.finish(cx, &[]);
    }
    if let Some(n) = f.get("volume")
        && let Some(mut v) =
            Fields::new(cx, n, format!("`volume` of a mount of service `{service}`"))
    {
        extra.nocopy = v.get("nocopy").and_then(|n| cx.bool(n)).unwrap_or(false);
        v.finish(
            cx,
            &[Unsupported {
                field: "subpath",
                help: "mount the whole volume, or bind-mount the folder",
            }],
        );
    }
    f.finish(
        cx,
        &[
            Unsupported {
                field: "tmpfs",
                help: "remove it for now",
            },
            Unsupported {
                field: "consistency",
                help: "remove it",
            },
        ],
    );
    let Some(target) = target else {
        cx.error(
            Diagnostic::error(
                node.span,
                "a mount needs `target`, the path inside the container",
            )
            .with_help("write `target: /data`"),
        );
        return None;
    };
    build(
        cx,
        service,
        node.span,
        source.as_deref(),
        &target,
        extra,
        kind,
    )
}
