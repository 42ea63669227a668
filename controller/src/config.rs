//! The controller's own configuration file (`holdfast run --config FILE`): where the
//! desired state comes from, and the webhook receiver. The same settings as
//! `holdfast run`'s flags, for a systemd unit that should not carry them.
//!
//! ```yaml
//! source:
//!   git:
//!     url: https://github.com/acme/infra.git
//!     branch: main              # or tag: v1.4, or commit: 1a2b3c4
//!     path: servers/web1/holdfast.yaml
//!     interval: 60s
//!     token_file: /etc/holdfast/git-token      # HTTPS; or:
//!     # ssh_key_file: /etc/holdfast/deploy-key
//!     # known_hosts_file: /etc/holdfast/known_hosts
//!   # file: /etc/holdfast/holdfast.yaml       # instead of git
//! webhook:
//!   listen: 0.0.0.0:9000
//!   secret_file: /etc/holdfast/webhook-secret
//! ```
//!
//! Relative paths start at the configuration file's folder.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use holdfast_spec::yaml::{self, Node, Value};

use crate::source::git::follow::GitSourceConfig;
use crate::source::git::repo::{Credentials, GitRef};

/// The username sent with an HTTPS token when none is configured. GitHub and GitLab
/// accept any non-empty name with a personal or project access token.
pub const DEFAULT_TOKEN_USERNAME: &str = "git";

/// The poll interval when none is configured.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// How long one fetch may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(120);

/// Where the desired state comes from.
#[derive(Debug, Clone)]
pub enum SourceConfig {
    /// Files on this server, merged in order (one in most cases), watched.
    File(Vec<PathBuf>),
    /// A git repository.
    Git(GitSourceConfig),
}

/// The webhook receiver's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// The TCP address to listen on (the git host must reach it).
    pub listen: SocketAddr,
    /// The file holding the shared secret (GitHub's HMAC key, GitLab's token).
    pub secret_file: PathBuf,
}

/// The whole configuration file.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// Where the desired state comes from.
    pub source: SourceConfig,
    /// The webhook receiver, if any.
    pub webhook: Option<WebhookConfig>,
}

/// Why the configuration file cannot be used: every problem, each as
/// `FILE:LINE:COL: message`.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct ConfigError(pub Vec<String>);

/// Why the settings of a git source do not fit together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitSettingsError {
    /// More than one of branch, tag and commit.
    #[error("give at most one of branch, tag and commit")]
    SeveralReferences,
    /// Both a token file and an SSH key file.
    #[error("give either a token file (HTTPS) or an SSH key file, not both")]
    TokenAndSshKey,
    /// A known_hosts file without an SSH key.
    #[error("a known_hosts file needs an SSH key file")]
    KnownHostsWithoutKey,
    /// A poll interval under a second.
    #[error("the poll interval must be at least 1s")]
    IntervalTooShort,
    /// A file path outside the repository.
    #[error("the path `{0}` must be relative to the repository's root, without `..`")]
    PathOutsideRepository(String),
    /// No URL.
    #[error("the repository URL is empty")]
    EmptyUrl,
}

/// The settings of a git source, however given.
#[derive(Debug, Clone, Default)]
pub struct GitSettings {
    /// The repository URL.
    pub url: String,
    /// `--branch`.
    pub branch: Option<String>,
    /// `--tag`.
    pub tag: Option<String>,
    /// `--commit`.
    pub commit: Option<String>,
    /// The files' paths in the repository, merged in order (as repeated `-f`); none
    /// means `holdfast.yaml`.
    pub paths: Vec<String>,
    /// The poll interval.
    pub interval: Option<Duration>,
    /// HTTPS token file.
    pub token_file: Option<PathBuf>,
    /// HTTPS username.
    pub username: Option<String>,
    /// SSH deploy key.
    pub ssh_key_file: Option<PathBuf>,
    /// SSH known_hosts.
    pub known_hosts_file: Option<PathBuf>,
}

impl GitSettings {
    /// Checks the combination and builds the source's configuration.
    pub fn build(self) -> Result<GitSourceConfig, GitSettingsError> {
        let reference = match (self.branch, self.tag, self.commit) {
            (None, None, None) => GitRef::Branch("main".into()),
            (Some(b), None, None) => GitRef::Branch(b),
            (None, Some(t), None) => GitRef::Tag(t),
            (None, None, Some(c)) => GitRef::Commit(c),
            _ => return Err(GitSettingsError::SeveralReferences),
        };
        let credentials = match (self.token_file, self.ssh_key_file) {
            (Some(_), Some(_)) => {
                return Err(GitSettingsError::TokenAndSshKey);
            }
            (Some(file), None) => Credentials::Token {
                file,
                username: self
                    .username
                    .unwrap_or_else(|| DEFAULT_TOKEN_USERNAME.to_string()),
            },
            (None, Some(key_file)) => Credentials::Ssh {
                key_file,
                known_hosts: self.known_hosts_file,
            },
            (None, None) if self.known_hosts_file.is_some() => {
                return Err(GitSettingsError::KnownHostsWithoutKey);
            }
            (None, None) => Credentials::None,
        };
        let interval = self.interval.unwrap_or(DEFAULT_INTERVAL);
        if interval < Duration::from_secs(1) {
            return Err(GitSettingsError::IntervalTooShort);
        }
        let paths = if self.paths.is_empty() {
            vec!["holdfast.yaml".to_string()]
        } else {
            self.paths
        };
        for path in &paths {
            if path.is_empty()
                || Path::new(path).is_absolute()
                || Path::new(path)
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
            {
                return Err(GitSettingsError::PathOutsideRepository(path.clone()));
            }
        }
        if self.url.is_empty() {
            return Err(GitSettingsError::EmptyUrl);
        }
        Ok(GitSourceConfig {
            url: self.url,
            reference,
            paths,
            interval,
            credentials,
            fetch_timeout: FETCH_TIMEOUT,
        })
    }
}

/// Reads the configuration file at `path`.
pub fn load(path: &Path) -> Result<ControllerConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(vec![format!("{}: cannot read: {e}", path.display())]))?;
    parse(path, &text)
}

struct Reader<'a> {
    file: &'a Path,
    base: PathBuf,
    errors: Vec<String>,
}

impl Reader<'_> {
    fn error(&mut self, node: &Node, message: impl std::fmt::Display) {
        self.errors.push(format!(
            "{}:{}:{}: {message}",
            self.file.display(),
            node.span.line,
            node.span.col
        ));
    }

    /// The entries of a mapping, reporting keys outside `known`.
    fn map<'n>(&mut self, node: &'n Node, at: &str, known: &[&str]) -> Vec<(&'n str, &'n Node)> {
        let Value::Map(entries) = &node.value else {
            self.error(
                node,
                format!("`{at}` must be a mapping, not {}", node.kind()),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            match k.as_str() {
                Some(key) if known.contains(&key) => out.push((key, v)),
                Some(key) => self.error(
                    k,
                    format!(
                        "unknown key `{key}` under `{at}`; expected one of: {}",
                        known.join(", ")
                    ),
                ),
                None => self.error(k, format!("keys under `{at}` must be strings")),
            }
        }
        out
    }

    fn string(&mut self, node: &Node, at: &str) -> Option<String> {
        match node.as_str() {
            Some(s) => Some(s.to_string()),
            None => {
                self.error(
                    node,
                    format!("`{at}` must be a string, not {}", node.kind()),
                );
                None
            }
        }
    }

    /// A string, or a list of strings.
    fn strings(&mut self, node: &Node, at: &str) -> Vec<String> {
        match &node.value {
            Value::Seq(items) => items
                .iter()
                .filter_map(|item| self.string(item, at))
                .collect(),
            _ => self.string(node, at).into_iter().collect(),
        }
    }

    fn path(&mut self, node: &Node, at: &str) -> Option<PathBuf> {
        self.string(node, at).map(|s| self.base.join(s))
    }
}

/// Parses the configuration file's text; `file` names it in messages and its folder is
/// where relative paths start.
pub fn parse(file: &Path, text: &str) -> Result<ControllerConfig, ConfigError> {
    let root = match yaml::parse(text) {
        Ok(Some(root)) => root,
        Ok(None) => {
            return Err(ConfigError(vec![format!(
                "{}: the file is empty; it needs a `source:`",
                file.display()
            )]));
        }
        Err(diagnostics) => {
            return Err(ConfigError(
                diagnostics.iter().map(|d| d.one_line(file)).collect(),
            ));
        }
    };
    let base = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut r = Reader {
        file,
        base,
        errors: Vec::new(),
    };
    let mut source = None;
    let mut webhook = None;
    for (key, value) in r.map(&root, "the file", &["source", "webhook"]) {
        match key {
            "source" => source = read_source(&mut r, value),
            _ => webhook = read_webhook(&mut r, value),
        }
    }
    if source.is_none() && r.errors.is_empty() {
        r.errors.push(format!(
            "{}: `source:` is missing; give `source: {{file: PATH}}` or `source: {{git: {{url: URL}}}}`",
            file.display()
        ));
    }
    match source {
        Some(source) if r.errors.is_empty() => Ok(ControllerConfig { source, webhook }),
        _ => Err(ConfigError(r.errors)),
    }
}

fn read_source(r: &mut Reader, node: &Node) -> Option<SourceConfig> {
    let entries = r.map(node, "source", &["file", "git"]);
    if entries.len() != 1 {
        r.error(node, "`source` needs exactly one of `file` and `git`");
        return None;
    }
    let (key, value) = entries[0];
    if key == "file" {
        return r
            .path(value, "source.file")
            .map(|p| SourceConfig::File(vec![p]));
    }
    let mut git = GitSettings::default();
    let mut url = None;
    for (key, v) in r.map(
        value,
        "source.git",
        &[
            "url",
            "branch",
            "tag",
            "commit",
            "path",
            "interval",
            "token_file",
            "username",
            "ssh_key_file",
            "known_hosts_file",
        ],
    ) {
        let at = format!("source.git.{key}");
        match key {
            "url" => url = r.string(v, &at),
            "branch" => git.branch = r.string(v, &at),
            "tag" => git.tag = r.string(v, &at),
            "commit" => git.commit = r.string(v, &at),
            "path" => git.paths = r.strings(v, &at),
            "username" => git.username = r.string(v, &at),
            "interval" => {
                git.interval =
                    r.string(v, &at)
                        .and_then(|s| match s.parse::<holdfast_spec::Duration>() {
                            Ok(d) => Some(d.std()),
                            Err(e) => {
                                r.error(v, format!("`{at}`: {e}"));
                                None
                            }
                        })
            }
            "token_file" => git.token_file = r.path(v, &at),
            "ssh_key_file" => git.ssh_key_file = r.path(v, &at),
            _ => git.known_hosts_file = r.path(v, &at),
        }
    }
    let Some(url) = url else {
        r.error(value, "`source.git` needs a `url`");
        return None;
    };
    // A local repository path is relative to the configuration file too.
    git.url = if !url.contains("://") && !url.contains('@') && Path::new(&url).is_relative() {
        r.base.join(&url).display().to_string()
    } else {
        url
    };
    match git.build() {
        Ok(config) => Some(SourceConfig::Git(config)),
        Err(e) => {
            r.error(value, format!("`source.git`: {e}"));
            None
        }
    }
}

fn read_webhook(r: &mut Reader, node: &Node) -> Option<WebhookConfig> {
    let mut listen = None;
    let mut secret_file = None;
    for (key, v) in r.map(node, "webhook", &["listen", "secret_file"]) {
        match key {
            "listen" => {
                listen = r
                    .string(v, "webhook.listen")
                    .and_then(|s| match s.parse::<SocketAddr>() {
                        Ok(a) => Some(a),
                        Err(_) => {
                            r.error(
                                v,
                                format!(
                                    "`webhook.listen`: `{s}` is not an address like 0.0.0.0:9000"
                                ),
                            );
                            None
                        }
                    })
            }
            _ => secret_file = r.path(v, "webhook.secret_file"),
        }
    }
    match (listen, secret_file) {
        (Some(listen), Some(secret_file)) => Some(WebhookConfig {
            listen,
            secret_file,
        }),
        _ => {
            r.error(node, "`webhook` needs both `listen` and `secret_file`");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> ControllerConfig {
        parse(Path::new("/etc/holdfast/controller.yaml"), text).unwrap()
    }

    fn parse_err(text: &str) -> String {
        parse(Path::new("/etc/holdfast/controller.yaml"), text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn git_source_with_token_and_webhook() {
        let c = parse_ok(
            "source:\n  git:\n    url: https://example.com/acme/infra.git\n    branch: prod\n    path: web1/holdfast.yaml\n    interval: 30s\n    token_file: token\nwebhook:\n  listen: 127.0.0.1:9000\n  secret_file: /etc/holdfast/hook\n",
        );
        let SourceConfig::Git(g) = c.source else {
            panic!("not git")
        };
        assert_eq!(g.url, "https://example.com/acme/infra.git");
        assert_eq!(g.reference, GitRef::Branch("prod".into()));
        assert_eq!(g.paths, ["web1/holdfast.yaml"]);
        assert_eq!(g.interval, Duration::from_secs(30));
        match g.credentials {
            Credentials::Token { file, username } => {
                assert_eq!(file, PathBuf::from("/etc/holdfast/token"));
                assert_eq!(username, DEFAULT_TOKEN_USERNAME);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            c.webhook,
            Some(WebhookConfig {
                listen: "127.0.0.1:9000".parse().unwrap(),
                secret_file: PathBuf::from("/etc/holdfast/hook"),
            })
        );
    }

    #[test]
    fn defaults_follow_main_every_minute() {
        let c = parse_ok("source:\n  git:\n    url: ../infra\n");
        let SourceConfig::Git(g) = c.source else {
            panic!("not git")
        };
        assert_eq!(g.url, "/etc/holdfast/../infra");
        assert_eq!(g.reference, GitRef::Branch("main".into()));
        assert_eq!(g.paths, ["holdfast.yaml"]);
        assert_eq!(g.interval, DEFAULT_INTERVAL);
    }

    #[test]
    fn git_paths_may_be_a_list_merged_in_order() {
        let c = parse_ok(
            "source:\n  git:\n    url: x\n    path: [compose.yaml, compose.production.yaml]\n",
        );
        let SourceConfig::Git(g) = c.source else {
            panic!("not git")
        };
        assert_eq!(g.paths, ["compose.yaml", "compose.production.yaml"]);
        assert_eq!(g.shown_paths(), "compose.yaml, compose.production.yaml");
        let e = parse_err("source:\n  git:\n    url: x\n    path: [a.yaml, /etc/b.yaml]\n");
        assert!(e.contains("`/etc/b.yaml` must be relative"), "{e}");
    }

    #[test]
    fn file_source() {
        let c = parse_ok("source:\n  file: holdfast.yaml\n");
        assert!(
            matches!(&c.source, SourceConfig::File(p) if p == &[PathBuf::from("/etc/holdfast/holdfast.yaml")])
        );
        assert!(c.webhook.is_none());
    }

    #[test]
    fn mistakes_name_line_and_column() {
        let e = parse_err("source:\n  git:\n    url: x\n    brnach: main\n");
        assert!(
            e.contains("controller.yaml:4:5: unknown key `brnach` under `source.git`"),
            "{e}"
        );
        let e = parse_err("source:\n  git:\n    url: x\n    branch: a\n    tag: b\n");
        assert!(e.contains("at most one of branch, tag and commit"), "{e}");
        let e = parse_err("source:\n  git:\n    url: x\n    path: ../x.yaml\n");
        assert!(e.contains("without `..`"), "{e}");
        let e = parse_err("webhook:\n  listen: nowhere\n");
        assert!(e.contains("2:11: `webhook.listen`"), "{e}");
        let e = parse_err("source:\n  git:\n    branch: main\n");
        assert!(e.contains("needs a `url`"), "{e}");
        let e = parse_err("source:\n  git:\n    url: x\n    interval: soon\n");
        assert!(e.contains("4:15: `source.git.interval`"), "{e}");
    }
}
