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
    let mut read_only = false;
    for option in mode.unwrap_or("").split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" => read_only = true,
            "rw" => {}
            other => {
                cx.error(
                    Diagnostic::error(span, format!("mount option `{other}` is not supported yet"))
                        .with_help("use `ro` for read-only or `rw` (the default)"),
                );
                return None;
            }
        }
    }
    build(cx, service, span, source, target, read_only, None)
}

fn build(
    cx: &mut Cx<'_>,
    service: &str,
    span: Span,
    source: Option<&str>,
    target: &str,
    read_only: bool,
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
    let source = source.filter(|s| !s.is_empty());
    let kind = kind.unwrap_or(match source {
        Some(s) if is_path(s) => MountKind::Bind,
        _ => MountKind::Volume,
    });
    let source = match (kind, source) {
        (MountKind::Bind, Some(path)) => Some(cx.resolve_path(span, path).to_string_lossy().into_owned()),
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
    Some(Mount {
        kind,
        source,
        target: target.to_string(),
        read_only,
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
    let read_only = f.get("read_only").and_then(|n| cx.bool(n)).unwrap_or(false);
    f.finish(
        cx,
        &[
            Unsupported {
                field: "bind",
                help: "remove it; bind mounts use Docker's defaults",
            },
            Unsupported {
                field: "volume",
                help: "remove it; volumes use Docker's defaults",
            },
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
        read_only,
        kind,
    )
}
