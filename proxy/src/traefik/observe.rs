//! What Traefik runs now: holdfast's file read back into sections, and the API's view
//! of it (the generation loaded, the objects in error).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::sections::split;
use super::{FILE_NAME, TraefikConfig, api, other};
use crate::engine::{Observed, ProxyError};
use crate::model::SHARED_SECTION;

/// Observes Traefik: [`ProxyError::Unreachable`] when its API does not answer.
pub async fn observe(config: &TraefikConfig) -> Result<Observed, ProxyError> {
    let loaded = api::loaded(&config.api).await?;
    let sections = read_sections(&config.dir.join(FILE_NAME))?;
    Ok(Observed {
        sections,
        errors: loaded.errors,
        // One file, so one marker; none loaded is a generation too ("").
        generation: Some(loaded.generations.into_iter().next().unwrap_or_default()),
    })
}

/// The file's sections: none when it does not exist. A file that is not JSON (a hand
/// edit in YAML's own syntax) is one `proxy` section of its text, so that every
/// section shows as drift and the next pass writes it again.
pub fn read_sections(path: &Path) -> Result<BTreeMap<String, String>, ProxyError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(other(format!("cannot read {}: {e}", path.display()))),
    };
    Ok(match serde_json::from_str::<Value>(&text) {
        Ok(file) => split(&file),
        Err(e) => {
            let mut out = BTreeMap::new();
            out.insert(
                SHARED_SECTION.to_string(),
                format!("not JSON ({e}): {text}"),
            );
            out
        }
    })
}
