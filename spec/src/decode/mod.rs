//! YAML nodes to the typed desired state.
//!
//! Decoding never stops at the first mistake: every problem is recorded as a diagnostic
//! with its span, and decoding goes on with the rest of the file, so that a user sees all
//! errors at once. Each decoder returns `None` when its node was unusable.

mod mounts;
pub(crate) mod ports;
mod routes;
mod service;
mod top;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::diagnostic::{Diagnostic, Span};
use crate::interpolate::interpolate;
use crate::suggest::closest;
use crate::yaml::{Node, Value};

pub(crate) use service::valid_container_name;
pub(crate) use top::{decode_document, project_name_from};

/// A name used somewhere in the file that must resolve to something defined elsewhere.
#[derive(Debug, Clone)]
pub(crate) struct Reference {
    pub kind: RefKind,
    pub name: String,
    pub from_service: String,
    pub span: Span,
}

/// What a [`Reference`] refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefKind {
    Service,
    Network,
    Volume,
    Secret,
    Config,
}

/// Where things were written, for checks that look across the file.
#[derive(Debug, Default)]
pub(crate) struct SourceMap {
    pub service_keys: BTreeMap<String, Span>,
    pub references: Vec<Reference>,
    pub ports: Vec<(String, crate::model::Port, Span)>,
    pub container_names: Vec<(String, String, Span)>,
    /// Where each service's `deploy.update_config.order` was written.
    pub start_first: BTreeMap<String, Span>,
    /// Top-level definitions (`"secrets"`, name) that had errors of their own.
    pub invalid_definitions: Vec<(String, String)>,
    /// The `proxy` key, when the file has one (even when it did not decode).
    pub proxy_key: Option<Span>,
    /// Where the parts of `proxy:` were written, when it decoded.
    pub proxy: Option<ProxySpans>,
    /// The `routes` key, when the file has one.
    pub routes_key: Option<Span>,
    /// Where each decoded route was written, in file order.
    pub routes: Vec<(String, RouteSpans)>,
    /// Services left out because none of their profiles is active, with their profiles.
    pub inactive: BTreeMap<String, Vec<String>>,
}

/// Where the parts of `proxy:` were written. Optional fields hold the span of their key.
#[derive(Debug, Default, Clone)]
pub(crate) struct ProxySpans {
    pub key: Span,
    /// The value of `engine`.
    pub engine: Span,
    pub dir: Option<Span>,
    pub nginx_conf: Option<Span>,
    pub acme: Option<Span>,
    /// The value of `service`.
    pub service: Option<Span>,
}

/// Where the parts of one route were written. `hosts` and `paths` line up with the
/// decoded route's lists.
#[derive(Debug, Default, Clone)]
pub(crate) struct RouteSpans {
    pub key: Span,
    pub hosts: Vec<Span>,
    /// The value of `tls`, when written.
    pub tls: Option<Span>,
    pub paths: Vec<PathSpans>,
}

/// Where one path of a route was written.
#[derive(Debug, Default, Clone)]
pub(crate) struct PathSpans {
    /// The prefix, or the entry when the prefix is left to its default.
    pub prefix: Span,
    pub service: Span,
    pub port: Span,
}

/// Decoding context: collected diagnostics, the file's folder and variable lookup.
pub(crate) struct Cx<'a> {
    pub diags: Vec<Diagnostic>,
    pub base_dir: PathBuf,
    /// The folder relative paths start from, by file number of the spans (see
    /// [`Span::file`]); a file not listed uses `base_dir`.
    pub dirs: Vec<PathBuf>,
    pub vars: &'a dyn Fn(&str) -> Option<String>,
    pub check_files: bool,
    pub map: SourceMap,
}

impl Cx<'_> {
    pub fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// `expected X, found Y` at the node.
    pub fn expected(&mut self, node: &Node, what: &str, help: Option<&str>) {
        let mut d = Diagnostic::error(node.span, format!("expected {what}, found {}", node.kind()))
            .with_label(format!("expected {what}"));
        if let Some(help) = help {
            d = d.with_help(help);
        }
        self.error(d);
    }

    /// A scalar as text, with variables interpolated. Numbers and booleans are accepted
    /// as their text, as Compose does for most string fields.
    pub fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Value::Scalar { text, .. } => self.interpolate(node, text),
            _ => {
                self.expected(node, what, None);
                None
            }
        }
    }

    /// Like [`Cx::string`], but `null` is allowed and means absent.
    pub fn opt_string(&mut self, node: Option<&Node>, what: &str) -> Option<String> {
        let node = node.filter(|n| n.value != Value::Null)?;
        self.string(node, what)
    }

    pub fn interpolate(&mut self, node: &Node, text: &str) -> Option<String> {
        if !text.contains('$') {
            return Some(text.to_string());
        }
        match interpolate(text, self.vars) {
            Ok(out) => {
                for name in out.unset {
                    self.error(
                        Diagnostic::warning(node.span, format!("variable `{name}` is not set; it becomes an empty string"))
                            .with_help(format!("set `{name}` in the controller's environment or in `.env` beside the file, or write `${{{name}:-default}}`")),
                    );
                }
                Some(out.text)
            }
            Err(message) => {
                self.error(Diagnostic::error(node.span, message).with_label("in this value"));
                None
            }
        }
    }

    pub fn bool(&mut self, node: &Node) -> Option<bool> {
        let text = self.string(node, "`true` or `false`")?;
        match text.as_str() {
            "true" | "True" | "TRUE" => Some(true),
            "false" | "False" | "FALSE" => Some(false),
            _ => {
                self.error(
                    Diagnostic::error(
                        node.span,
                        format!("expected `true` or `false`, found `{text}`"),
                    )
                    .with_label("not a boolean")
                    .with_help("write `true` or `false`"),
                );
                None
            }
        }
    }

    /// A whole number in `min..=max`.
    pub fn number<T: TryFrom<u64>>(
        &mut self,
        node: &Node,
        what: &str,
        min: u64,
        max: u64,
    ) -> Option<T> {
        let text = self.string(node, what)?;
        match text.trim().parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => T::try_from(n).ok(),
            Ok(n) => {
                self.error(
                    Diagnostic::error(node.span, format!("{n} is out of range for {what}"))
                        .with_label(format!("must be between {min} and {max}")),
                );
                None
            }
            Err(_) => {
                self.error(
                    Diagnostic::error(node.span, format!("expected {what}, found `{text}`"))
                        .with_label("not a whole number")
                        .with_help(format!("write a whole number between {min} and {max}")),
                );
                None
            }
        }
    }

    /// A value parsed with [`std::str::FromStr`] whose error is a full sentence.
    pub fn parsed<T>(&mut self, node: &Node, what: &str) -> Option<T>
    where
        T: std::str::FromStr<Err = crate::units::UnitError>,
    {
        let text = self.string(node, what)?;
        match text.parse::<T>() {
            Ok(v) => Some(v),
            Err(e) => {
                let (message, help) = match e.0.split_once("; ") {
                    Some((m, h)) => (m.to_string(), h.to_string()),
                    None => (e.0.clone(), format!("write {what}")),
                };
                self.error(
                    Diagnostic::error(node.span, message)
                        .with_label(format!("expected {what}"))
                        .with_help(help),
                );
                None
            }
        }
    }

    /// A list of strings. A single string is accepted as a list of one when
    /// `single_ok` is set.
    pub fn string_list(&mut self, node: &Node, what: &str, single_ok: bool) -> Option<Vec<String>> {
        match &node.value {
            Value::Seq(items) => {
                let mut out = Vec::new();
                let mut ok = true;
                for item in items {
                    match self.string(item, what) {
                        Some(s) => out.push(s),
                        None => ok = false,
                    }
                }
                ok.then_some(out)
            }
            Value::Scalar { .. } if single_ok => self.string(node, what).map(|s| vec![s]),
            _ => {
                self.expected(node, &format!("a list of {what}"), None);
                None
            }
        }
    }

    /// `{KEY: value}` or `["KEY=value"]`, as `environment`, `labels` and `build.args`
    /// are written. A key without a value is looked up in the variables; when unset
    /// it is left out, as Compose does.
    pub fn string_map(&mut self, node: &Node, what: &str) -> Option<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        match &node.value {
            Value::Null => {}
            Value::Map(entries) => {
                for (k, v) in entries {
                    let Some(key) = self.string(k, "a name") else {
                        continue;
                    };
                    let value = match &v.value {
                        Value::Null => self.lookup_var(k, &key),
                        Value::Scalar { .. } => self.string(v, "a string"),
                        _ => {
                            self.expected(
                                v,
                                "a string, number or boolean",
                                Some("quote the value to make it a string"),
                            );
                            None
                        }
                    };
                    if let Some(value) = value {
                        out.insert(key, value);
                    }
                }
            }
            Value::Seq(items) => {
                for item in items {
                    let Some(text) = self.string(item, "`KEY=value`") else {
                        continue;
                    };
                    match text.split_once('=') {
                        Some((k, v)) if !k.is_empty() => {
                            if out.insert(k.to_string(), v.to_string()).is_some() {
                                self.error(
                                    Diagnostic::error(
                                        item.span,
                                        format!("`{k}` is set twice in {what}"),
                                    )
                                    .with_help("remove one of the two"),
                                );
                            }
                        }
                        Some(_) => self.error(
                            Diagnostic::error(item.span, format!("an entry of {what} has no name"))
                                .with_help("write `KEY=value`"),
                        ),
                        None => {
                            if let Some(v) = self.lookup_var(item, &text) {
                                out.insert(text, v);
                            }
                        }
                    }
                }
            }
            Value::Scalar { .. } => {
                self.expected(
                    node,
                    &format!("{what} as a mapping or a list"),
                    Some("write `KEY: value` entries, or a list of `KEY=value`"),
                );
                return None;
            }
        }
        Some(out)
    }

    /// Labels: like [`Cx::string_map`], and the `io.holdfast.` prefix is refused.
    pub fn labels(&mut self, node: &Node) -> Option<BTreeMap<String, String>> {
        let labels = self.string_map(node, "labels")?;
        for reserved in labels.keys().filter(|k| k.starts_with("io.holdfast.")) {
            let span = match &node.value {
                Value::Map(entries) => entries
                    .iter()
                    .find(|(k, _)| k.as_str() == Some(reserved.as_str()))
                    .map_or(node.span, |(k, _)| k.span),
                Value::Seq(items) => items
                    .iter()
                    .find(|i| i.as_str().is_some_and(|t| t.starts_with(reserved.as_str())))
                    .map_or(node.span, |i| i.span),
                _ => node.span,
            };
            self.error(
                Diagnostic::error(span, format!("label `{reserved}` is reserved for holdfast"))
                    .with_label("reserved prefix")
                    .with_help("use a label outside the `io.holdfast.` prefix"),
            );
        }
        Some(labels)
    }

    fn lookup_var(&mut self, node: &Node, key: &str) -> Option<String> {
        let value = (self.vars)(key);
        if value.is_none() {
            self.error(
                Diagnostic::warning(node.span, format!("`{key}` has no value and is not set in the controller's environment; it is left out"))
                    .with_help(format!("write `{key}=value`, or set `{key}` in the controller's environment or in `.env`")),
            );
        }
        value
    }

    /// Resolves a path written at `at` against the folder of the file it was written in
    /// (the project's folder for the files merged with `-f`, the file's own folder for an
    /// included or extended file).
    pub fn resolve_path(&self, at: Span, path: &str) -> PathBuf {
        let expanded = match path.strip_prefix("~/") {
            Some(rest) => match (self.vars)("HOME") {
                Some(home) => Path::new(&home).join(rest),
                None => PathBuf::from(path),
            },
            None => PathBuf::from(path),
        };
        let joined = if expanded.is_absolute() {
            expanded
        } else {
            self.dirs
                .get(usize::from(at.file))
                .unwrap_or(&self.base_dir)
                .join(expanded)
        };
        normalize(&joined)
    }

    /// Reports a missing file, when file checks are on.
    /// `written` is the path as the file spells it, so that messages match the file.
    pub fn check_file(&mut self, node: &Node, written: &str, path: &Path, what: &str) {
        if !self.check_files || path.is_file() {
            return;
        }
        let (message, help) = if path.exists() {
            (
                format!("{what} `{written}` is not a file"),
                "point at a regular file",
            )
        } else {
            (
                format!("{what} `{written}` does not exist"),
                "create the file, or fix the path (relative paths start from the desired-state file's folder)",
            )
        };
        self.error(
            Diagnostic::error(node.span, message)
                .with_label("not found")
                .with_help(help),
        );
    }

    pub fn reference(&mut self, kind: RefKind, name: &str, from_service: &str, span: Span) {
        self.map.references.push(Reference {
            kind,
            name: name.to_string(),
            from_service: from_service.to_string(),
            span,
        });
    }
}

/// Removes `.` and `..` components without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// A field that Compose has and holdfast does not support yet, with advice.
pub(crate) struct Unsupported {
    pub field: &'static str,
    pub help: &'static str,
}

/// Reads the fields of one mapping, remembering which were asked for, so that
/// the rest can be reported as unknown with a suggestion.
pub(crate) struct Fields<'n> {
    what: String,
    entries: &'n [(Node, Node)],
    used: Vec<bool>,
    known: Vec<&'static str>,
}

impl<'n> Fields<'n> {
    /// `what` names the mapping in messages, such as "service `web`". A null node reads
    /// as an empty mapping.
    pub fn new(cx: &mut Cx<'_>, node: &'n Node, what: impl Into<String>) -> Option<Self> {
        let what = what.into();
        let entries: &'n [(Node, Node)] = match &node.value {
            Value::Map(entries) => entries,
            Value::Null => &[],
            _ => {
                cx.expected(
                    node,
                    &format!("{what} as a mapping"),
                    Some("write `key: value` lines indented under it"),
                );
                return None;
            }
        };
        Some(Fields {
            what,
            entries,
            used: vec![false; entries.len()],
            known: Vec::new(),
        })
    }

    /// The value under `key`, or `None` when absent. `null` counts as absent.
    pub fn get(&mut self, key: &'static str) -> Option<&'n Node> {
        self.entry(key)
            .map(|(_, v)| v)
            .filter(|v| v.value != Value::Null)
    }

    /// The key node and value under `key`, even when the value is `null`.
    pub fn entry(&mut self, key: &'static str) -> Option<(&'n Node, &'n Node)> {
        self.known.push(key);
        let i = self
            .entries
            .iter()
            .position(|(k, _)| k.as_str() == Some(key))?;
        self.used[i] = true;
        let (k, v) = &self.entries[i];
        Some((k, v))
    }

    /// The entries not asked for, in file order.
    pub fn rest(&self) -> impl Iterator<Item = &'n (Node, Node)> + '_ {
        self.entries
            .iter()
            .zip(&self.used)
            .filter(|(_, used)| !**used)
            .map(|(e, _)| e)
    }

    /// Reports every entry not asked for: a Compose field not supported yet, or an
    /// unknown field with a suggestion. `x-` extension fields are allowed, as in Compose.
    pub fn finish(self, cx: &mut Cx<'_>, unsupported: &[Unsupported]) {
        let rest: Vec<&(Node, Node)> = self.rest().collect();
        for (key, _) in rest {
            let name = key.as_str().unwrap_or("");
            if name.starts_with("x-") {
                continue;
            }
            if let Some(u) = unsupported.iter().find(|u| u.field == name) {
                cx.error(
                    Diagnostic::error(
                        key.span,
                        format!(
                            "`{name}` in {} is a Compose field that holdfast does not support yet",
                            self.what
                        ),
                    )
                    .with_label("not supported yet")
                    .with_help(u.help),
                );
                continue;
            }
            let mut d =
                Diagnostic::error(key.span, format!("unknown field `{name}` in {}", self.what))
                    .with_label("unknown field");
            d = match closest(name, self.known.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!("the fields here are: {}", self.known.join(", "))),
            };
            cx.error(d);
        }
    }
}

/// Reads a scalar that must be one of `choices`, suggesting the closest on a typo.
pub(crate) fn choice<'c>(
    cx: &mut Cx<'_>,
    node: &Node,
    what: &str,
    choices: &[&'c str],
) -> Option<&'c str> {
    let text = cx.string(node, what)?;
    if let Some(c) = choices.iter().find(|c| **c == text) {
        return Some(c);
    }
    let list = choices
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let help = match closest(&text, choices.iter().copied()) {
        Some(s) => format!("did you mean `{s}`? (one of {list})"),
        None => format!("use one of {list}"),
    };
    cx.error(
        Diagnostic::error(node.span, format!("`{text}` is not a valid {what}"))
            .with_label(format!("invalid {what}"))
            .with_help(help),
    );
    None
}
pub use ports::DEFAULT_HOST_IP;
