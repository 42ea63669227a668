//! Several Compose files to one tree, before decoding: the files given with `-f` (or
//! found the way Compose finds them), `include:`, `extends:`, Compose's merge rules
//! with `!reset` and `!override`, and `profiles`.
//!
//! Everything here works on YAML nodes, so every node keeps the file, line and column
//! where it was written: an error in an override file points into the override file.
//! The merged tree is then decoded and validated as one file would be.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::diagnostic::{Diagnostic, Report, Span};
use crate::suggest::closest;
use crate::yaml::{MergeTag, Node, Value, parse_in};

/// The file names Compose looks for when no file is given, in its order of preference.
pub const DEFAULT_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// Includes and extends nested deeper than this are refused (a cycle is caught
/// earlier, with its own message).
const MAX_NESTING: usize = 16;

/// The files Compose would read in `dir` when no `-f` is given: the first of
/// [`DEFAULT_FILES`] that exists, and its `*.override.*` file when there is one.
/// Empty when there is none.
pub fn default_files(dir: &Path) -> Vec<PathBuf> {
    for name in DEFAULT_FILES {
        let path = dir.join(name);
        if path.is_file() {
            let mut files = vec![path];
            let (stem, ext) = name.rsplit_once('.').unwrap_or((name, "yaml"));
            let over = dir.join(format!("{stem}.override.{ext}"));
            if over.is_file() {
                files.push(over);
            }
            return files;
        }
    }
    Vec::new()
}

/// Reads files into one report and merges them.
pub(crate) struct Layers<'r> {
    /// Collects the files read (for snippets) and every problem found.
    pub report: &'r mut Report,
    /// The folder relative paths start from, by file number.
    pub dirs: Vec<PathBuf>,
    /// Files being included or extended from, to catch cycles.
    stack: Vec<PathBuf>,
    /// Files already read, by canonical path, with their number and tree.
    read: Vec<(PathBuf, u16, Option<Node>)>,
}

/// A service left out because none of its profiles is active.
#[derive(Debug, Clone)]
pub(crate) struct Inactive {
    /// The service's name.
    pub name: String,
    /// Its profiles.
    pub profiles: Vec<String>,
}

impl<'r> Layers<'r> {
    /// Layers over `report`, whose first file (number 0) is read by [`Layers::read`]
    /// first.
    pub fn new(report: &'r mut Report) -> Self {
        Layers {
            report,
            dirs: Vec::new(),
            stack: Vec::new(),
            read: Vec::new(),
        }
    }

    fn error(&mut self, d: Diagnostic) {
        self.report.diagnostics.push(d);
    }

    /// Reads and parses one file, numbering it; `dir` is where its relative paths
    /// start. `at` is where the file was named (an `include` or `extends`), for
    /// messages. `None` when it cannot be read or parsed (reported).
    pub fn read(&mut self, path: &Path, dir: PathBuf, at: Option<Span>) -> Option<Node> {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if let Some((_, _, node)) = self.read.iter().find(|(p, _, _)| *p == canonical) {
            return node.clone();
        }
        let fail = |message: String| match at {
            Some(span) => Diagnostic::error(span, message)
                .with_label("named here")
                .with_help("fix the path (relative paths start from this file's folder)"),
            None => Diagnostic::file_error(message),
        };
        let text = match std::fs::metadata(path) {
            Err(e) => Err(format!("cannot read the file `{}`: {e}", path.display())),
            Ok(m) if m.len() > crate::MAX_FILE_BYTES => Err(format!(
                "`{}` is {} bytes; at most {} are accepted",
                path.display(),
                m.len(),
                crate::MAX_FILE_BYTES
            )),
            Ok(_) => std::fs::read(path)
                .map_err(|e| format!("cannot read the file `{}`: {e}", path.display()))
                .and_then(|bytes| {
                    String::from_utf8(bytes).map_err(|e| {
                        format!(
                            "`{}` is not UTF-8 text (byte {})",
                            path.display(),
                            e.utf8_error().valid_up_to()
                        )
                    })
                }),
        };
        let text = match text {
            Ok(t) => t,
            Err(message) => {
                self.error(fail(message));
                return None;
            }
        };
        let node = self.text(path, &text, dir);
        self.read.push((canonical, self.last_file(), node.clone()));
        node
    }

    fn last_file(&self) -> u16 {
        u16::try_from(self.dirs.len().saturating_sub(1)).unwrap_or(u16::MAX)
    }

    /// Numbers a file whose text is at hand and parses it (see [`Layers::read`]).
    pub fn text(&mut self, path: &Path, text: &str, dir: PathBuf) -> Option<Node> {
        let file = if self.dirs.is_empty() {
            self.report.path = path.to_path_buf();
            self.report.source = text.to_string();
            0
        } else {
            self.report.add_file(path, text)
        };
        // Absolute, so that a relative path in an included or extended file named
        // relative to a file named relative (`validate compose.yaml`) resolves too.
        self.dirs.push(std::path::absolute(&dir).unwrap_or(dir));
        match parse_in(text, file) {
            Ok(Some(root)) => Some(root),
            Ok(None) => Some(Node {
                value: Value::Map(Vec::new()),
                span: Span::at(1, 1, 1).in_file(file),
                tag: None,
            }),
            Err(errors) => {
                self.report.diagnostics.extend(errors);
                None
            }
        }
    }

    /// Reads one file of the project with its `include:` and `extends:` resolved.
    pub fn layer(&mut self, path: &Path, dir: PathBuf, at: Option<Span>) -> Option<Node> {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if self.stack.contains(&canonical) || self.stack.len() > MAX_NESTING {
            let message = format!(
                "`{}` includes or extends itself (through {})",
                path.display(),
                self.stack
                    .iter()
                    .map(|p| format!("`{}`", p.display()))
                    .collect::<Vec<_>>()
                    .join(" → ")
            );
            let d = match at {
                Some(span) => Diagnostic::error(span, message).with_label("cycle"),
                None => Diagnostic::file_error(message),
            };
            self.error(d.with_help("remove the include or extends that closes the cycle"));
            return None;
        }
        let mut root = self.read(path, dir, at)?;
        self.stack.push(canonical);
        self.resolve(&mut root, path);
        self.stack.pop();
        Some(root)
    }

    /// Resolves `include:` and `extends:` in `root`, read from `path`.
    pub fn resolve(&mut self, root: &mut Node, path: &Path) {
        let file_dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        self.includes(root, &file_dir);
        self.extends(root, &file_dir);
    }

    /// Resolves the top-level `include:` of `root`, adding what the included files
    /// define. `file_dir` is the folder of the file `root` was read from.
    fn includes(&mut self, root: &mut Node, file_dir: &Path) {
        let Some(include) = take(root, "include") else {
            return;
        };
        let items = match include.value {
            Value::Seq(items) => items,
            Value::Null => return,
            _ => {
                self.error(
                    Diagnostic::error(
                        include.span,
                        format!(
                            "expected a list of files to include, found {}",
                            include.kind()
                        ),
                    )
                    .with_label("expected a list")
                    .with_help("write `include: [other/compose.yaml]`, or entries with `path:`"),
                );
                return;
            }
        };
        for item in items {
            let (paths, project_dir) = match &item.value {
                Value::Scalar { text, .. } => (vec![(text.clone(), item.span)], None),
                Value::Map(_) => {
                    let mut paths = Vec::new();
                    match item.get("path").map(|n| &n.value) {
                        Some(Value::Scalar { text, .. }) => paths
                            .push((text.clone(), item.get("path").map_or(item.span, |n| n.span))),
                        Some(Value::Seq(list)) => {
                            for p in list {
                                if let Some(t) = p.as_str() {
                                    paths.push((t.to_string(), p.span));
                                }
                            }
                        }
                        _ => {}
                    }
                    if paths.is_empty() {
                        self.error(
                            Diagnostic::error(item.span, "this `include` entry names no file")
                                .with_help("write `path: other/compose.yaml`"),
                        );
                        continue;
                    }
                    for (k, _) in map_entries(&item) {
                        let key = k.as_str().unwrap_or("");
                        if !matches!(key, "path" | "project_directory") {
                            let help = if key == "env_file" {
                                "put the variables into the `.env` beside the main file, or into the controller's environment".to_string()
                            } else {
                                "the fields of an include are `path` and `project_directory`"
                                    .to_string()
                            };
                            self.error(
                                Diagnostic::error(
                                    k.span,
                                    format!("`{key}` of an include is not supported"),
                                )
                                .with_label("not supported")
                                .with_help(help),
                            );
                        }
                    }
                    let project_dir = item
                        .get("project_directory")
                        .and_then(Node::as_str)
                        .map(|d| file_dir.join(d));
                    (paths, project_dir)
                }
                _ => {
                    self.expected(&item, "a file to include");
                    continue;
                }
            };
            let mut merged: Option<Node> = None;
            for (i, (text, span)) in paths.iter().enumerate() {
                let path = file_dir.join(text);
                let dir = match &project_dir {
                    Some(d) => d.clone(),
                    None if i == 0 => path
                        .parent()
                        .map_or_else(|| file_dir.to_path_buf(), Path::to_path_buf),
                    None => self
                        .dirs
                        .last()
                        .cloned()
                        .unwrap_or_else(|| file_dir.to_path_buf()),
                };
                let Some(layer) = self.layer(&path, dir, Some(*span)) else {
                    continue;
                };
                merged = Some(match merged {
                    None => layer,
                    Some(base) => merge(base, layer, &[]),
                });
            }
            if let Some(included) = merged {
                self.add_included(root, included, item.span);
            }
        }
    }

    /// Adds the definitions of an included tree to `root`; a name defined in both is
    /// an error, as in Compose.
    fn add_included(&mut self, root: &mut Node, included: Node, at: Span) {
        for section in ["services", "networks", "volumes", "secrets", "configs"] {
            let Some(theirs) = included.get(section) else {
                continue;
            };
            let theirs: Vec<(Node, Node)> = map_entries(theirs).to_vec();
            if theirs.is_empty() {
                continue;
            }
            let ours = section_mut(root, section, at);
            let Value::Map(ours) = &mut ours.value else {
                continue;
            };
            for (k, v) in theirs {
                if let Some((mine, _)) = ours.iter().find(|(o, _)| o.value == k.value) {
                    let name = k.as_str().unwrap_or("");
                    let d = Diagnostic::error(
                        mine.span,
                        format!("`{name}` in `{section}` is defined here and in an included file"),
                    )
                    .with_label("defined twice")
                    .with_related(k.span, "the included definition")
                    .with_help("rename one of the two, or remove it from one file");
                    self.report.diagnostics.push(d);
                    continue;
                }
                ours.push((k, v));
            }
        }
    }

    /// Resolves `extends:` of every service of `root`.
    fn extends(&mut self, root: &mut Node, file_dir: &Path) {
        let Some(services) = root.get("services") else {
            return;
        };
        let names: Vec<String> = map_entries(services)
            .iter()
            .filter(|(_, v)| v.get("extends").is_some())
            .filter_map(|(k, _)| k.as_str().map(str::to_string))
            .collect();
        for name in names {
            let mut chain = Vec::new();
            if let Some(resolved) = self.extended(root, &name, file_dir, &mut chain)
                && let Some(Value::Map(entries)) = root.get_mut("services").map(|s| &mut s.value)
                && let Some((_, v)) = entries.iter_mut().find(|(k, _)| k.as_str() == Some(&name))
            {
                *v = resolved;
            }
        }
    }

    /// Service `name` of `root` with its `extends:` (and theirs) merged in.
    fn extended(
        &mut self,
        root: &Node,
        name: &str,
        file_dir: &Path,
        chain: &mut Vec<String>,
    ) -> Option<Node> {
        let services = root.get("services")?;
        let mut service = services.get(name)?.clone();
        let Some(ext) = take(&mut service, "extends") else {
            return Some(service);
        };
        let key = format!("{}#{name}", file_dir.display());
        if chain.contains(&key) || chain.len() > MAX_NESTING {
            self.error(
                Diagnostic::error(ext.span, format!("service `{name}` extends itself"))
                    .with_label("cycle")
                    .with_help("remove the `extends` that closes the cycle"),
            );
            return None;
        }
        chain.push(key);
        let (base_name, base_span, file) = match &ext.value {
            Value::Scalar { text, .. } => (text.clone(), ext.span, None),
            Value::Map(_) => {
                let Some(s) = ext.get("service") else {
                    self.error(
                        Diagnostic::error(ext.span, format!("the `extends` of service `{name}` names no service"))
                            .with_help("write `extends: {service: NAME}`, with `file: other.yaml` for a service of another file"),
                    );
                    return None;
                };
                for (k, _) in map_entries(&ext) {
                    let field = k.as_str().unwrap_or("");
                    if !matches!(field, "service" | "file") {
                        self.error(
                            Diagnostic::error(
                                k.span,
                                format!("unknown field `{field}` in `extends`"),
                            )
                            .with_label("unknown field")
                            .with_help("the fields of `extends` are `service` and `file`"),
                        );
                    }
                }
                let file = ext
                    .get("file")
                    .and_then(|f| Some((f.as_str()?.to_string(), f.span)));
                (s.as_str().unwrap_or("").to_string(), s.span, file)
            }
            _ => {
                self.expected(&ext, "the name of the service to extend");
                return None;
            }
        };
        let base = match file {
            None => {
                if root
                    .get("services")
                    .and_then(|s| s.get(&base_name))
                    .is_none()
                {
                    self.unknown_base(root, &base_name, base_span, None);
                    return None;
                }
                self.extended(root, &base_name, file_dir, chain)?
            }
            Some((file, file_span)) => {
                let path = file_dir.join(&file);
                let dir = path
                    .parent()
                    .map_or_else(|| file_dir.to_path_buf(), Path::to_path_buf);
                let other = self.read(&path, dir.clone(), Some(file_span))?;
                if other
                    .get("services")
                    .and_then(|s| s.get(&base_name))
                    .is_none()
                {
                    self.unknown_base(&other, &base_name, base_span, Some(&file));
                    return None;
                }
                self.extended(&other, &base_name, &dir, chain)?
            }
        };
        chain.pop();
        Some(merge_service(base, service, &[]))
    }

    fn unknown_base(&mut self, root: &Node, name: &str, span: Span, file: Option<&str>) {
        let names: Vec<&str> = root
            .get("services")
            .map(map_entries)
            .unwrap_or(&[])
            .iter()
            .filter_map(|(k, _)| k.as_str())
            .collect();
        let place = file.map_or_else(|| "this file".to_string(), |f| format!("`{f}`"));
        let help = match closest(name, names.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None if names.is_empty() => format!("{place} defines no services"),
            None => format!("the services of {place} are: {}", names.join(", ")),
        };
        self.error(
            Diagnostic::error(
                span,
                format!("`extends` names service `{name}`, which {place} does not define"),
            )
            .with_label("unknown service")
            .with_help(help),
        );
    }

    fn expected(&mut self, node: &Node, what: &str) {
        self.error(
            Diagnostic::error(node.span, format!("expected {what}, found {}", node.kind()))
                .with_label(format!("expected {what}")),
        );
    }

    /// Leaves out the services none of whose profiles is in `active` (`*` activates
    /// every profile), and removes `profiles:` from the others. Returns those left out.
    pub fn profiles(&mut self, root: &mut Node, active: &[String]) -> Vec<Inactive> {
        let mut inactive = Vec::new();
        let Some(Value::Map(services)) = root.get_mut("services").map(|s| &mut s.value) else {
            return inactive;
        };
        let mut errors = Vec::new();
        services.retain_mut(|(k, v)| {
            let Some(profiles) = take(v, "profiles") else {
                return true;
            };
            let list: Vec<String> = match &profiles.value {
                Value::Seq(items) => items
                    .iter()
                    .filter_map(|i| match i.as_str() {
                        Some(t) => Some(t.to_string()),
                        None => {
                            errors.push(
                                Diagnostic::error(
                                    i.span,
                                    format!("expected a profile name, found {}", i.kind()),
                                )
                                .with_label("expected a name")
                                .with_help("write `profiles: [debug]`"),
                            );
                            None
                        }
                    })
                    .collect(),
                Value::Null => Vec::new(),
                _ => {
                    errors.push(
                        Diagnostic::error(
                            profiles.span,
                            format!(
                                "expected a list of profile names, found {}",
                                profiles.kind()
                            ),
                        )
                        .with_label("expected a list")
                        .with_help("write `profiles: [debug]`"),
                    );
                    return true;
                }
            };
            if list.is_empty() || active.iter().any(|a| a == "*" || list.contains(a)) {
                return true;
            }
            inactive.push(Inactive {
                name: k.as_str().unwrap_or("").to_string(),
                profiles: list,
            });
            false
        });
        self.report.diagnostics.extend(errors);
        inactive
    }
}

/// Removes `!reset` values that no earlier file had, as Compose does.
pub(crate) fn drop_resets(node: &mut Node) {
    match &mut node.value {
        Value::Map(entries) => {
            entries.retain(|(_, v)| v.tag != Some(MergeTag::Reset));
            entries.iter_mut().for_each(|(_, v)| drop_resets(v));
        }
        Value::Seq(items) => {
            items.retain(|v| v.tag != Some(MergeTag::Reset));
            items.iter_mut().for_each(drop_resets);
        }
        _ => {}
    }
}

/// The entries of a mapping node (none for anything else).
fn map_entries(node: &Node) -> &[(Node, Node)] {
    match &node.value {
        Value::Map(entries) => entries,
        _ => &[],
    }
}

/// Removes `key` from a mapping node and returns its value.
fn take(node: &mut Node, key: &str) -> Option<Node> {
    let Value::Map(entries) = &mut node.value else {
        return None;
    };
    let i = entries.iter().position(|(k, _)| k.as_str() == Some(key))?;
    Some(entries.remove(i).1)
}

/// The mapping under `section` of `root`, made when absent.
fn section_mut<'n>(root: &'n mut Node, section: &str, at: Span) -> &'n mut Node {
    if !matches!(root.value, Value::Map(_)) {
        root.value = Value::Map(Vec::new());
    }
    let Value::Map(entries) = &mut root.value else {
        unreachable!("made a mapping just above")
    };
    let i = match entries
        .iter()
        .position(|(k, _)| k.as_str() == Some(section))
    {
        Some(i) => i,
        None => {
            entries.push((
                scalar(section, at),
                Node {
                    value: Value::Map(Vec::new()),
                    span: at,
                    tag: None,
                },
            ));
            entries.len() - 1
        }
    };
    let value = &mut entries[i].1;
    if value.value == Value::Null {
        value.value = Value::Map(Vec::new());
    }
    value
}

fn scalar(text: &str, span: Span) -> Node {
    Node {
        value: Value::Scalar {
            text: text.to_string(),
            plain: true,
        },
        span,
        tag: None,
    }
}

impl Node {
    /// The value under `key`, mutable, if this is a mapping that has it.
    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        match &mut self.value {
            Value::Map(entries) => entries
                .iter_mut()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Merges `over` (a later file) into `base` under Compose's rules. `path` is where the
/// two stand in the file (`["services", "web", "ports"]`); `*` matches any name.
pub(crate) fn merge(base: Node, over: Node, path: &[&str]) -> Node {
    if over.tag == Some(MergeTag::Override) || over.tag == Some(MergeTag::Reset) {
        return over;
    }
    if let ["services", _] = path {
        return merge_service(base, over, &[]);
    }
    if over.value == Value::Null {
        return base;
    }
    merge_generic(base, over, path)
}

/// Merges two definitions of one service (a later file's over an earlier one's, or a
/// service over the one it extends). `path` is below the service (`["ports"]`).
pub(crate) fn merge_service(base: Node, over: Node, path: &[&str]) -> Node {
    if over.tag == Some(MergeTag::Override) || over.tag == Some(MergeTag::Reset) {
        return over;
    }
    if over.value == Value::Null && !path.is_empty() {
        return base;
    }
    match path {
        [] => merge_maps(base, over, |k, b, o| merge_service(b, o, &[k])),
        ["command" | "entrypoint"] | ["healthcheck", "test"] => over,
        ["healthcheck"] | ["deploy"] | ["deploy", ..] | ["ulimits"] => {
            if !matches!(over.value, Value::Map(_)) {
                return over;
            }
            let owned: Vec<String> = path.iter().map(|s| s.to_string()).collect();
            merge_maps(base, over, |k, b, o| {
                let mut p: Vec<&str> = owned.iter().map(String::as_str).collect();
                p.push(k);
                merge_service(b, o, &p)
            })
        }
        ["environment" | "labels" | "sysctls" | "annotations"] | ["build", "args" | "labels"] => {
            merge_maps(
                key_value_map(base, '='),
                key_value_map(over, '='),
                |_, _, o| o,
            )
        }
        ["networks" | "depends_on"] => merge_maps(name_map(base), name_map(over), |k, b, o| {
            if k.is_empty() {
                return o;
            }
            match (&b.value, &o.value) {
                (Value::Map(_), Value::Map(_)) => merge_maps(b, o, |_, _, o| o),
                (_, Value::Null) => b,
                _ => o,
            }
        }),
        ["build"] => merge_maps(build_map(base), build_map(over), |k, b, o| {
            merge_service(b, o, &["build", k])
        }),
        ["logging"] => {
            let driver = |n: &Node| n.get("driver").and_then(Node::as_str).map(str::to_string);
            match (driver(&base), driver(&over)) {
                (Some(a), Some(b)) if a != b => over,
                _ => merge_maps(base, over, |k, b, o| match k {
                    "options" => merge_maps(b, o, |_, _, o| o),
                    _ => o,
                }),
            }
        }
        ["ports"] => merge_list(base, over, port_key),
        ["volumes" | "devices"] => merge_list(base, over, |n| mount_target(n, None)),
        ["secrets"] => merge_list(base, over, |n| mount_target(n, Some("/run/secrets/"))),
        ["configs"] => merge_list(base, over, |n| mount_target(n, Some("/"))),
        ["extra_hosts"] => merge_list(base, over, |n| n.as_str().map(str::to_string)),
        [_] => match (&base.value, &over.value) {
            (Value::Seq(_) | Value::Scalar { .. }, Value::Seq(_))
            | (Value::Seq(_), Value::Scalar { .. }) => {
                merge_list(base, over, |n| n.as_str().map(str::to_string))
            }
            (Value::Map(_), Value::Map(_)) => merge_maps(base, over, |_, _, o| o),
            _ => over,
        },
        _ => merge_generic(base, over, &[]),
    }
}

fn merge_generic(base: Node, over: Node, path: &[&str]) -> Node {
    match (&base.value, &over.value) {
        (Value::Map(_), Value::Map(_)) => {
            let owned: Vec<String> = path.iter().map(|s| s.to_string()).collect();
            merge_maps(base, over, |k, b, o| {
                let mut p: Vec<&str> = owned.iter().map(String::as_str).collect();
                p.push(k);
                // Below a top-level section, names are `*`.
                if p.len() == 2 {
                    p[1] = "*";
                }
                merge(b, o, &p)
            })
        }
        (Value::Seq(_), Value::Seq(_)) => {
            let Value::Seq(mut items) = base.value else {
                return over;
            };
            let Value::Seq(more) = over.value else {
                return over;
            };
            items.extend(more);
            Node {
                value: Value::Seq(items),
                span: base.span,
                tag: None,
            }
        }
        _ => over,
    }
}

/// Merges two mappings key by key: `f(key, base value, over value)` for a key in both,
/// a `!reset` value removes the key, and keys only in `over` are added at the end.
fn merge_maps(base: Node, over: Node, mut f: impl FnMut(&str, Node, Node) -> Node) -> Node {
    let (Value::Map(mut entries), Value::Map(more)) = (base.value.clone(), over.value.clone())
    else {
        return if over.value == Value::Null {
            base
        } else {
            over
        };
    };
    for (k, v) in more {
        let name = k.as_str().unwrap_or("").to_string();
        match entries.iter().position(|(e, _)| e.value == k.value) {
            Some(i) if v.tag == Some(MergeTag::Reset) => {
                entries.remove(i);
            }
            Some(i) => {
                let (_, old) = entries.remove(i);
                let merged = if v.tag == Some(MergeTag::Override) {
                    v
                } else {
                    f(&name, old, v)
                };
                entries.insert(i, (k, merged));
            }
            None if v.tag == Some(MergeTag::Reset) => {}
            None => entries.push((k, v)),
        }
    }
    Node {
        value: Value::Map(entries),
        span: base.span,
        tag: None,
    }
}

/// Appends `over`'s items to `base`'s; an item whose key (`key`) an earlier item has
/// replaces that item in place. A scalar counts as a list of one.
fn merge_list(base: Node, over: Node, key: impl Fn(&Node) -> Option<String>) -> Node {
    let span = base.span;
    let items = |n: Node| match n.value {
        Value::Seq(items) => items,
        Value::Null => Vec::new(),
        _ => vec![n],
    };
    let mut out: Vec<Node> = Vec::new();
    let mut keys: Vec<Option<String>> = Vec::new();
    for item in items(base).into_iter().chain(items(over)) {
        let k = key(&item);
        match k
            .as_ref()
            .and_then(|k| keys.iter().position(|e| e.as_ref() == Some(k)))
        {
            Some(i) => out[i] = item,
            None => {
                keys.push(k);
                out.push(item);
            }
        }
    }
    Node {
        value: Value::Seq(out),
        span,
        tag: None,
    }
}

/// `KEY=value` list entries as a mapping (`KEY: value`), so that two forms merge by key.
/// An entry without `=` becomes `KEY: null`, which looks the variable up, as before.
fn key_value_map(node: Node, sep: char) -> Node {
    let Value::Seq(items) = &node.value else {
        return node;
    };
    let mut entries = Vec::new();
    for item in items {
        let Some(text) = item.as_str() else {
            return node;
        };
        let (k, v) = match text.split_once(sep) {
            Some((k, v)) => (k, scalar(v, item.span)),
            None => (
                text,
                Node {
                    value: Value::Null,
                    span: item.span,
                    tag: None,
                },
            ),
        };
        entries.retain(|(e, _): &(Node, Node)| e.as_str() != Some(k));
        entries.push((scalar(k, item.span), v));
    }
    Node {
        value: Value::Map(entries),
        span: node.span,
        tag: node.tag,
    }
}

/// A list of names (`networks: [a, b]`, `depends_on: [db]`) as a mapping of names to
/// nothing, so that it merges with the long form.
fn name_map(node: Node) -> Node {
    let Value::Seq(items) = &node.value else {
        return node;
    };
    let mut entries = Vec::new();
    for item in items {
        if item.as_str().is_none() {
            return node;
        }
        entries.push((
            item.clone(),
            Node {
                value: Value::Null,
                span: item.span,
                tag: None,
            },
        ));
    }
    Node {
        value: Value::Map(entries),
        span: node.span,
        tag: node.tag,
    }
}

/// `build: ./dir` as `build: {context: ./dir}`.
fn build_map(node: Node) -> Node {
    match &node.value {
        Value::Scalar { .. } => Node {
            value: Value::Map(vec![(scalar("context", node.span), node.clone())]),
            span: node.span,
            tag: node.tag,
        },
        _ => node,
    }
}

/// What makes two `ports` entries the same one, as Compose sees it: the whole short
/// form, or host address, published port, target and protocol of the long form.
fn port_key(node: &Node) -> Option<String> {
    match &node.value {
        Value::Scalar { text, .. } => Some(text.clone()),
        Value::Map(_) => {
            let get =
                |k: &str, d: &str| node.get(k).and_then(Node::as_str).unwrap_or(d).to_string();
            Some(format!(
                "{}:{}:{}/{}",
                get("host_ip", "0.0.0.0"),
                get("published", ""),
                get("target", ""),
                get("protocol", "tcp")
            ))
        }
        _ => None,
    }
}

/// The target of a mount-like entry (`volumes`, `devices`, `secrets`, `configs`).
/// For secrets and configs, the short form names the source, mounted under `prefix`.
fn mount_target(node: &Node, prefix: Option<&str>) -> Option<String> {
    match (&node.value, prefix) {
        (Value::Scalar { text, .. }, None) => {
            let parts: Vec<&str> = text.split(':').collect();
            Some(match parts.as_slice() {
                [one] => one.to_string(),
                [_, target, ..] => target.to_string(),
                [] => text.clone(),
            })
        }
        (Value::Scalar { text, .. }, Some(prefix)) => Some(format!("{prefix}{text}")),
        (Value::Map(_), _) => {
            let target = node.get("target").and_then(Node::as_str);
            match (target, prefix) {
                (Some(t), Some(prefix)) if !t.starts_with('/') => Some(format!("{prefix}{t}")),
                (Some(t), _) => Some(t.to_string()),
                (None, Some(prefix)) => node
                    .get("source")
                    .and_then(Node::as_str)
                    .map(|s| format!("{prefix}{s}")),
                (None, None) => None,
            }
        }
        _ => None,
    }
}

/// The names of the services of a merged tree and their profiles, for messages about
/// references to a service left out.
pub(crate) fn inactive_map(inactive: &[Inactive]) -> BTreeMap<String, Vec<String>> {
    inactive
        .iter()
        .map(|i| (i.name.clone(), i.profiles.clone()))
        .collect()
}
