//! The holdfast desired-state file: parsing with `FILE:LINE:COL` errors, validation,
//! defaults, a JSON Schema and a content hash.
//!
//! A desired-state file is a Compose file (the `services`, `networks`, `volumes` and
//! `secrets` parts) that holdfast keeps true on a server, plus holdfast's own `proxy` and
//! `routes` (see [`routes`]). Loading it goes through four
//! steps, each in its own module:
//!
//! 1. [`yaml`]: text to a tree of nodes that remember their line and column;
//! 2. `decode`: nodes to the typed [`DesiredState`], expanding Compose's shorthand forms
//!    and collecting every mistake instead of stopping at the first;
//! 3. `validate`: checks across the file (references, port clashes, cycles, what routes
//!    point at);
//! 4. defaults: every service without `networks:` joins the `default` network.
//!
//! ```
//! use std::path::Path;
//! use holdfast_spec::{load_str, LoadOptions};
//!
//! let file = "name: shop\nservices:\n  web:\n    image: nginx:1.27\n    ports: [\"8080:80\"]\n";
//! let loaded = load_str(Path::new("holdfast.yaml"), file, &LoadOptions::default()).unwrap();
//! let web = &loaded.state.services["web"];
//! assert_eq!(web.ports[0].host_ip, "127.0.0.1"); // not 0.0.0.0, unless the file says so
//!
//! let bad = "name: shop\nservices:\n  web:\n    imgae: nginx\n";
//! let report = load_str(Path::new("holdfast.yaml"), bad, &LoadOptions::default()).unwrap_err();
//! assert!(report.render().contains("holdfast.yaml:4:5"));
//! assert!(report.render().contains("did you mean `image`?"));
//! ```

mod decode;
pub mod diagnostic;
pub mod hash;
pub mod interpolate;
mod layers;
pub mod model;
pub mod routes;
mod schema;
pub mod suggest;
mod units;
mod validate;
pub mod yaml;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub use decode::DEFAULT_HOST_IP;
pub use diagnostic::{Diagnostic, Report, Severity, Span};
pub use layers::{DEFAULT_FILES, default_files};
pub use model::*;
pub use routes::*;
pub use schema::json_schema;
pub use units::{ByteSize, Cpus, Duration, UnitError};
pub use validate::DEFAULT_NETWORK;

/// Files larger than this are refused before parsing.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// How a file is loaded.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Variables for `${VAR}` interpolation and for `environment` entries without a
    /// value. `None` means the process environment, then `.env` beside the file, as
    /// Compose does.
    pub variables: Option<HashMap<String, String>>,
    /// Whether to check that secret files and env files exist.
    pub check_files: bool,
    /// The active profiles (`--profile`). `None` means `COMPOSE_PROFILES` (a comma
    /// separated list, from the variables), as Compose does.
    pub profiles: Option<Vec<String>>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            variables: None,
            check_files: true,
            profiles: None,
        }
    }
}

/// A valid desired-state file.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The desired state, with defaults filled in.
    pub state: DesiredState,
    /// Warnings and notes about the file (it has no errors).
    pub report: Report,
    /// The services left out because none of their profiles is active, with their
    /// profiles.
    pub inactive: BTreeMap<String, Vec<String>>,
}

/// Reads and loads the file at `path` (with what it includes and extends).
///
/// On failure the [`Report`] holds every error of the file; render it with
/// [`Report::render`].
pub fn load_file(path: &Path, options: &LoadOptions) -> Result<Loaded, Report> {
    load_files(&[path.to_path_buf()], options)
}

/// Reads the files at `paths` and merges them in order, as `docker compose -f A -f B`
/// does. No path at all means the files Compose finds in the current folder (see
/// [`default_files`]). Relative paths in every file start from the first file's
/// folder, except in included or extended files, where they start from that file's.
pub fn load_files(paths: &[PathBuf], options: &LoadOptions) -> Result<Loaded, Report> {
    let found;
    let paths = if paths.is_empty() {
        found = default_files(Path::new("."));
        if found.is_empty() {
            let mut report = Report::new(Path::new("."), "");
            report.diagnostics.push(
                Diagnostic::file_error(format!(
                    "no desired-state file here: none of {} exists",
                    DEFAULT_FILES.join(", ")
                ))
                .with_help("name the file with `-f FILE`"),
            );
            return Err(report);
        }
        found.as_slice()
    } else {
        paths
    };
    let first = &paths[0];
    let project_dir = folder_of(first);
    let mut report = Report::new(first, "");
    let mut layers = layers::Layers::new(&mut report);
    let mut merged: Option<yaml::Node> = None;
    let mut complete = true;
    for path in paths {
        match layers.layer(path, project_dir.clone(), None) {
            Some(layer) => {
                merged = Some(match merged {
                    None => layer,
                    Some(base) => layers::merge(base, layer, &[]),
                })
            }
            None => complete = false,
        }
    }
    let dirs = std::mem::take(&mut layers.dirs);
    match merged {
        Some(root) if complete => decode_tree(report, root, &project_dir, dirs, options),
        _ => {
            report.sort();
            Err(report)
        }
    }
}

/// Loads a desired-state file from its text. `path` names the file in messages, and
/// its folder is where relative paths start (and where included and extended files
/// are read from).
pub fn load_str(path: &Path, source: &str, options: &LoadOptions) -> Result<Loaded, Report> {
    load_texts(&[(path.to_path_buf(), source)], options)
}

/// Loads the files whose texts are at hand and merges them in order, as
/// [`load_files`] does with files it reads: each path names its file in messages, and
/// relative paths start from the first file's folder.
pub fn load_texts(files: &[(PathBuf, &str)], options: &LoadOptions) -> Result<Loaded, Report> {
    let Some((first, _)) = files.first() else {
        return load_files(&[], options);
    };
    let base_dir = folder_of(first);
    let mut report = Report::new(first, "");
    let mut layers = layers::Layers::new(&mut report);
    let mut merged: Option<yaml::Node> = None;
    let mut complete = true;
    for (path, source) in files {
        match layers.text(path, source, base_dir.clone()) {
            Some(mut root) => {
                layers.resolve(&mut root, path);
                merged = Some(match merged {
                    None => root,
                    Some(base) => layers::merge(base, root, &[]),
                });
            }
            None => complete = false,
        }
    }
    let dirs = std::mem::take(&mut layers.dirs);
    match merged {
        Some(root) if complete => decode_tree(report, root, &base_dir, dirs, options),
        _ => {
            report.sort();
            Err(report)
        }
    }
}

/// The absolute folder of `path`.
fn folder_of(path: &Path) -> PathBuf {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::path::absolute(&dir).unwrap_or(dir)
}

/// Decodes and validates the merged tree of a desired state: profiles, then the typed
/// state, then the checks across it and the defaults.
fn decode_tree(
    mut report: Report,
    mut root: yaml::Node,
    base_dir: &Path,
    dirs: Vec<PathBuf>,
    options: &LoadOptions,
) -> Result<Loaded, Report> {
    let folder = base_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let empty = matches!(&root.value, yaml::Value::Map(entries) if entries.is_empty());
    if empty && !report.has_errors() {
        report.diagnostics.push(
            Diagnostic::error(Span::at(1, 1, 1), "the file is empty")
                .with_help("start with `name: myapp` and a `services:` mapping"),
        );
    }
    if report.has_errors() {
        report.sort();
        return Err(report);
    }
    layers::drop_resets(&mut root);

    let dotenv = match &options.variables {
        Some(_) => HashMap::new(),
        None => read_dotenv(&base_dir.join(".env")),
    };
    let lookup = |name: &str| -> Option<String> {
        match &options.variables {
            Some(vars) => vars.get(name).cloned(),
            None => std::env::var(name)
                .ok()
                .or_else(|| dotenv.get(name).cloned()),
        }
    };
    // As Compose: `COMPOSE_PROJECT_NAME` (environment, then `.env`) names the project
    // before `name:` does, and interpolation sees the project's name under it.
    let from_env = lookup(PROJECT_NAME_VARIABLE).filter(|n| !n.is_empty());
    let project = from_env.clone().unwrap_or_else(|| {
        file_project_name(&root, &lookup).unwrap_or_else(|| decode::project_name_from(&folder))
    });
    let lookup = |name: &str| -> Option<String> {
        lookup(name).or_else(|| (name == PROJECT_NAME_VARIABLE).then(|| project.clone()))
    };
    // As Compose: `COMPOSE_PROFILES` split at commas, empty names kept, so that a
    // service of the profile `""` runs when no profile is named.
    let active: Vec<String> = match &options.profiles {
        Some(p) => p.clone(),
        None => lookup("COMPOSE_PROFILES")
            .unwrap_or_default()
            .split(',')
            .map(|p| p.trim().to_string())
            .collect(),
    };
    let inactive = {
        let mut layers = layers::Layers::new(&mut report);
        layers::inactive_map(&layers.profiles(&mut root, &active))
    };
    let mut cx = decode::Cx {
        diags: Vec::new(),
        base_dir: base_dir.to_path_buf(),
        dirs,
        vars: &lookup,
        check_files: options.check_files,
        map: decode::SourceMap {
            inactive: inactive.clone(),
            ..decode::SourceMap::default()
        },
    };
    let state = decode::decode_document(&mut cx, &root, &folder, from_env.as_deref());
    let mut diagnostics = cx.diags;
    let state = match state {
        Some(state) => {
            diagnostics.extend(validate::validate(&state, &cx.map));
            Some(state)
        }
        None => None,
    };
    report.diagnostics.extend(diagnostics);
    report.sort();
    match state {
        Some(mut state) if !report.has_errors() => {
            apply_defaults(&mut state);
            state.inactive_services = inactive.keys().cloned().collect();
            Ok(Loaded {
                state,
                report,
                inactive,
            })
        }
        _ => {
            if !report.has_errors() {
                report.diagnostics.push(Diagnostic::error(
                    root.span,
                    "the file is not a valid desired-state file",
                ));
            }
            Err(report)
        }
    }
}

fn apply_defaults(state: &mut DesiredState) {
    let mut needs_default = false;
    let names: std::collections::BTreeSet<String> = state.services.keys().cloned().collect();
    for service in state.services.values_mut() {
        // `required: false`: a dependency that is not in the desired state is ignored.
        service
            .depends_on
            .retain(|name, dep| dep.required || names.contains(name));
        // `network_mode: service:NAME` joins NAME's container: NAME starts first, and a
        // new container of NAME means this one must follow it, as in Compose.
        if let Some(other) = service.network_service() {
            service
                .depends_on
                .entry(other.to_string())
                .or_insert(Dependency {
                    condition: DependencyCondition::ServiceStarted,
                    required: true,
                    restart: true,
                });
        }
        if service.networks.is_empty() && service.network_mode.is_none() {
            service
                .networks
                .insert(DEFAULT_NETWORK.to_string(), ServiceNetwork::default());
        }
        needs_default |= service.networks.contains_key(DEFAULT_NETWORK);
    }
    if needs_default {
        state
            .networks
            .entry(DEFAULT_NETWORK.to_string())
            .or_default();
    }
    // An external network or volume without `name:` is the Docker object of that very
    // name, not `<project>_<name>`: it is not the project's (as in Compose).
    for (key, network) in &mut state.networks {
        if network.external && network.name.is_none() {
            network.name = Some(key.clone());
        }
    }
    for (key, volume) in &mut state.volumes {
        if volume.external && volume.name.is_none() {
            volume.name = Some(key.clone());
        }
    }
}

/// The variable that names the project, as in Compose.
const PROJECT_NAME_VARIABLE: &str = "COMPOSE_PROJECT_NAME";

/// The project name the file's own `name:` gives, interpolated; `None` when it has
/// none (or one that is not a plain string, which decoding reports).
fn file_project_name(root: &yaml::Node, lookup: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let yaml::Value::Map(entries) = &root.value else {
        return None;
    };
    entries
        .iter()
        .find_map(|(key, value)| match (&key.value, &value.value) {
            (yaml::Value::Scalar { text: k, .. }, yaml::Value::Scalar { text, .. })
                if k == "name" =>
            {
                interpolate::interpolate(text, lookup)
                    .ok()
                    .map(|out| out.text)
                    .filter(|n| !n.is_empty())
            }
            _ => None,
        })
}

/// Reads `.env` as Compose does (see [`parse_env_file`]), its variables taking the
/// process environment's. A missing file is no variables.
pub fn read_dotenv(path: &Path) -> HashMap<String, String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return HashMap::new();
    };
    parse_env_file(&text, &|name| std::env::var(name).ok())
}

/// Parses an env file as Compose does: `KEY=value` lines (see [`parse_env_lines`]), in
/// which a value that is not in single quotes may use variables (`URL=pg://${USER}@db`):
/// `lookup`'s, else those of the lines above. A value whose interpolation fails is kept
/// as written.
pub fn parse_env_file(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> HashMap<String, String> {
    let mut vars = HashMap::new();
    for (key, value, quote) in env_lines(text) {
        let value = if quote == Some('\'') || !value.contains('$') {
            value.to_string()
        } else {
            let lookup = |name: &str| lookup(name).or_else(|| vars.get(name).cloned());
            interpolate::interpolate(value, &lookup)
                .map(|out| out.text)
                .unwrap_or_else(|_| value.to_string())
        };
        vars.insert(key.to_string(), value);
    }
    vars
}

/// Parses `KEY=value` lines: `#` comments, an optional `export ` prefix and quotes
/// around the value.
pub fn parse_env_lines(text: &str) -> HashMap<String, String> {
    env_lines(text)
        .map(|(k, v, _)| (k.to_string(), v.to_string()))
        .collect()
}

/// The `KEY=value` lines of an env file: key, value without its quotes, and the quote
/// that surrounded it.
fn env_lines(text: &str) -> impl Iterator<Item = (&str, &str, Option<char>)> {
    text.lines().filter_map(|line| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (k, v) = line.split_once('=')?;
        let v = v.trim();
        let quoted = ['"', '\''].into_iter().find_map(|q| {
            v.strip_prefix(q)
                .and_then(|v| v.strip_suffix(q))
                .map(|inner| (inner, Some(q)))
        });
        let (v, quote) = quoted.unwrap_or((v, None));
        Some((k.trim(), v, quote))
    })
}

impl DesiredState {
    /// What the desired state sets that the file accepts but the controller does not
    /// apply yet, one line each (`network \`web\`: name, external`, `service \`db\`:
    /// platform`). The controller refuses such a state rather than apply part of it.
    pub fn not_applied_yet(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, s) in &self.services {
            let fields = s.not_applied_yet();
            if !fields.is_empty() {
                out.push(format!("service `{name}`: {}", fields.join(", ")));
            }
        }
        out
    }

    /// Whether service `name` is a one-shot: another service waits for it with
    /// `depends_on: {NAME: {condition: service_completed_successfully}}`. A one-shot's
    /// container that exited 0 has completed; it is not started again.
    pub fn is_one_shot(&self, name: &str) -> bool {
        self.services.values().any(|s| {
            s.depends_on
                .get(name)
                .is_some_and(|d| d.condition == DependencyCondition::ServiceCompletedSuccessfully)
        })
    }

    /// The hash of the whole desired state; see [`hash::content_hash`].
    pub fn content_hash(&self) -> String {
        hash::content_hash(self)
    }
}

impl Service {
    /// The Compose fields this service sets that the file accepts but the controller
    /// does not carry to the container yet. The controller refuses to run such a
    /// service (an error naming the field), rather than run it without them. Every
    /// field the file accepts is carried now; a field accepted before the controller
    /// applies it belongs here until it does.
    pub fn not_applied_yet(&self) -> Vec<&'static str> {
        Vec::new()
    }

    /// How many containers run the service: `deploy.replicas`, one when absent.
    pub fn replicas(&self) -> u32 {
        self.deploy.replicas.unwrap_or(1)
    }

    /// The service whose container this one shares its network with
    /// (`network_mode: service:NAME`).
    pub fn network_service(&self) -> Option<&str> {
        self.network_mode.as_deref()?.strip_prefix("service:")
    }

    /// The hash of this service's resolved spec; see [`hash::content_hash`]. holdfast's
    /// own settings (`x-holdfast`) are left out: switching drift correction on or off
    /// must not replace the container.
    pub fn content_hash(&self) -> String {
        let mut spec = self.clone();
        spec.holdfast = HoldfastOptions::default();
        hash::content_hash(&spec)
    }
}
