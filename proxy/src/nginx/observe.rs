//! Reading back what nginx runs: the owned directory's files as sections, and the
//! generation its workers answer ([`Observed::generation`]: the hash, an empty string
//! when nginx answers without holdfast's generation server, `None` when holdfast has
//! no files there and nothing answers).

use std::collections::BTreeMap;

use super::files;
use super::probe::{self, Answer};
use super::render::{GENERATION_MARKER, SHARED_FILE};
use super::{NAME, Nginx, io_error};
use crate::engine::{Observed, ProxyError};
use crate::model::{SHARED_SECTION, route_section};

/// The sections of a directory's files: [`SHARED_FILE`] without its generation part
/// as `proxy`, every other `STEM.conf` as `route/STEM` (so that a file holdfast did not
/// write shows as its own unexpected section).
pub fn sections_of(files: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    files
        .iter()
        .map(|(name, text)| {
            if name == SHARED_FILE {
                let section = match text.find(GENERATION_MARKER) {
                    Some(at) => &text[..at],
                    None => text.as_str(),
                };
                (SHARED_SECTION.to_string(), section.to_string())
            } else {
                let stem = name.strip_suffix(".conf").unwrap_or(name);
                (route_section(stem), text.clone())
            }
        })
        .collect()
}

/// Observes the proxy: the files, then the generation endpoint.
pub async fn observe(nginx: &Nginx) -> Result<Observed, ProxyError> {
    let dir = nginx.config.dir.clone();
    let live = super::blocking(move || files::read_conf_files(&dir))
        .await
        .map_err(|e| io_error("cannot read", &nginx.config.dir, &e))?;
    // With holdfast's shared file live, nginx listens where it says and must answer.
    // Without it (a fresh or wiped directory) nginx may listen nowhere yet: an
    // unanswered probe then says nothing, and the next apply's reload finds out
    // whether nginx runs.
    let shared = live.get(SHARED_FILE).map(String::as_str);
    let address = nginx.probe_address(shared);
    let generation = match &address {
        Some(address) => match probe::ask(address).await {
            Ok(Answer::Generation(g)) => Some(g),
            // nginx answers without holdfast's generation server: it serves none.
            Ok(Answer::None(_)) => Some(String::new()),
            Err(_) if shared.is_none() => None,
            Err(reason) => {
                return Err(ProxyError::Unreachable {
                    engine: NAME,
                    address: address.clone(),
                    reason,
                });
            }
        },
        None => None,
    };
    Ok(Observed {
        sections: sections_of(&live),
        errors: BTreeMap::new(),
        generation,
    })
}
