//! Reads what a container will see from disk: env files, secret files and configs, so
//! that a change to their contents changes the spec hash and replaces the container.
//!
//! A config reaches the container as a copy: its content (from its `file:`, or written
//! in the desired-state file) is written once to `CONFIGS_DIR/NAME-HASH`, owned by the
//! entry's `uid`/`gid` with its `mode`, and that file is bind-mounted read-only. The
//! name carries a hash of content, owner and mode, so a new content is a new file and
//! a new mount source, and a file is never changed under a running container.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use holdfast_spec::{DesiredState, Service, ServiceConfig};
use sha2::{Digest, Sha256};

use super::desired::{ConfigFile, ResolvedInputs};

/// The mode of a config file whose entry sets none, as in Compose.
pub const DEFAULT_CONFIG_MODE: u32 = 0o444;

/// Where a service's configs are, and whether to write them.
#[derive(Debug, Clone, Copy)]
pub struct Configs<'a> {
    /// The folder of the config copies (`STATE_DIR/configs`).
    pub dir: &'a Path,
    /// Write missing copies (a pass that may change the host); otherwise only name them.
    pub write: bool,
}

/// A file a service needs could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {what} `{}`: {source}", path.display())]
pub struct InputError {
    /// `env file` or `secret file`.
    pub what: &'static str,
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub source: std::io::Error,
}

/// Reads the env files, secret files and configs of `service` and returns them with
/// `image_id`; writes the config copies when `configs.write`.
pub fn resolve(
    state: &DesiredState,
    service: &Service,
    image_id: Option<String>,
    configs: Configs<'_>,
) -> Result<ResolvedInputs, InputError> {
    let mut env_files = Vec::with_capacity(service.env_file.len());
    for file in &service.env_file {
        match std::fs::read_to_string(&file.path) {
            Ok(text) => env_files.push(text),
            Err(e) if !file.required && e.kind() == std::io::ErrorKind::NotFound => {
                env_files.push(String::new())
            }
            Err(source) => {
                return Err(InputError {
                    what: "env file",
                    path: file.path.clone(),
                    source,
                });
            }
        }
    }
    let mut secret_digests = BTreeMap::new();
    for secret in &service.secrets {
        let Some(def) = state.secrets.get(&secret.source) else {
            continue;
        };
        let bytes = std::fs::read(&def.file).map_err(|source| InputError {
            what: "secret file",
            path: def.file.clone(),
            source,
        })?;
        secret_digests.insert(secret.source.clone(), hex_digest(&bytes));
    }
    let mut config_files = BTreeMap::new();
    for entry in &service.configs {
        let Some(def) = state.configs.get(&entry.source) else {
            continue;
        };
        let content = match (&def.content, &def.file) {
            (Some(text), _) => text.clone().into_bytes(),
            (None, Some(file)) => std::fs::read(file).map_err(|source| InputError {
                what: "config file",
                path: file.clone(),
                source,
            })?,
            (None, None) => Vec::new(),
        };
        let file = config_copy(configs.dir, entry, &content);
        if configs.write {
            write_copy(&file.path, entry, &content).map_err(|source| InputError {
                what: "config copy",
                path: file.path.clone(),
                source,
            })?;
        }
        config_files.insert(entry.path(), file);
    }
    Ok(ResolvedInputs {
        image_id,
        env_files,
        secret_files: BTreeMap::new(),
        secret_digests,
        config_files,
        ..ResolvedInputs::default()
    }
    .with_secret_files_from(state))
}

/// SHA-256 of `bytes`, in hex.
fn hex_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Where the copy of config `entry` with `content` lives under `dir`:
/// `NAME-HASH`, the hash over content, owner and mode.
pub fn config_copy(dir: &Path, entry: &ServiceConfig, content: &[u8]) -> ConfigFile {
    let digest = hex_digest(content);
    let tag = hex_digest(
        format!(
            "{digest}:{}:{}:{:o}",
            entry.uid.as_deref().unwrap_or("0"),
            entry.gid.as_deref().unwrap_or("0"),
            entry.mode.unwrap_or(DEFAULT_CONFIG_MODE)
        )
        .as_bytes(),
    );
    let name: String = entry
        .source
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    ConfigFile {
        path: dir.join(format!("{name}-{}", tag.get(..16).unwrap_or(&tag))),
        digest,
    }
}

/// Writes the copy at `path` unless it is there: through a temporary sibling, with the
/// entry's mode and owner, then renamed into place.
fn write_copy(path: &Path, entry: &ServiceConfig, content: &[u8]) -> std::io::Result<()> {
    if path.is_file() {
        return Ok(());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    // Two services may write the same copy at once: each through its own file.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id(),
        WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(content)?;
    file.sync_all()?;
    drop(file);
    let id = |v: Option<&str>| v.and_then(|v| v.parse::<u32>().ok());
    let (uid, gid) = (id(entry.uid.as_deref()), id(entry.gid.as_deref()));
    let owned = std::os::unix::fs::chown(&tmp, Some(uid.unwrap_or(0)), Some(gid.unwrap_or(0)));
    // Without root a file owned by us is the best there is, unless an owner was asked.
    if let Err(e) = owned
        && (uid.is_some() || gid.is_some())
    {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::set_permissions(
        &tmp,
        std::fs::Permissions::from_mode(entry.mode.unwrap_or(DEFAULT_CONFIG_MODE)),
    )?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(uid: Option<&str>, mode: Option<u32>) -> ServiceConfig {
        ServiceConfig {
            source: "app conf".into(),
            target: "/etc/app.conf".into(),
            uid: uid.map(str::to_string),
            gid: None,
            mode,
        }
    }

    #[test]
    fn copies_are_named_by_content_owner_and_mode() {
        let dir = Path::new("/var/lib/holdfast/configs");
        let base = config_copy(dir, &entry(None, None), b"one");
        assert!(base.path.starts_with(dir));
        let name = base
            .path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(name.starts_with("app_conf-"), "{name}");
        assert_eq!(base.digest, hex_digest(b"one"));
        assert_eq!(base, config_copy(dir, &entry(None, None), b"one"));
        for other in [
            config_copy(dir, &entry(None, None), b"two"),
            config_copy(dir, &entry(Some("1000"), None), b"one"),
            config_copy(dir, &entry(None, Some(0o400)), b"one"),
        ] {
            assert_ne!(other.path, base.path);
        }
    }

    #[test]
    fn a_copy_is_written_once_with_its_mode() {
        let dir = std::env::temp_dir().join(format!("holdfast-config-copy-{}", std::process::id()));
        let e = entry(None, Some(0o640));
        let file = config_copy(&dir, &e, b"text");
        write_copy(&file.path, &e, b"text").unwrap();
        assert_eq!(std::fs::read(&file.path).unwrap(), b"text");
        let mode = std::fs::metadata(&file.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o640);
        // There already: left alone.
        write_copy(&file.path, &e, b"other").unwrap();
        assert_eq!(std::fs::read(&file.path).unwrap(), b"text");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
