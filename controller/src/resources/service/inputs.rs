//! Reads what a container will see from disk: env files and secret files, so that a
//! change to their contents changes the spec hash and replaces the container.

use std::collections::BTreeMap;
use std::path::PathBuf;

use holdfast_spec::{DesiredState, Service};
use sha2::{Digest, Sha256};

use super::desired::ResolvedInputs;

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

/// Reads the env files and secret files of `service` and returns them with `image_id`.
pub fn resolve(
    state: &DesiredState,
    service: &Service,
    image_id: Option<String>,
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
        let digest = Sha256::digest(&bytes);
        secret_digests.insert(
            secret.source.clone(),
            digest.iter().map(|b| format!("{b:02x}")).collect(),
        );
    }
    Ok(ResolvedInputs {
        image_id,
        env_files,
        secret_files: BTreeMap::new(),
        secret_digests,
        ..ResolvedInputs::default()
    }
    .with_secret_files_from(state))
}
