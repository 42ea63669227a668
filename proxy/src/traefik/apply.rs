//! Hands Traefik a rendered file: written atomically, confirmed through the API, put
//! back as it was when Traefik refuses it.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use super::sections::{file_marker, file_text, marker_middleware, split};
use super::{
    ENGINE, FILE_NAME, GENERATION_PREFIX, TEMP_DIR, TEMP_NAME, TraefikConfig, api, log, other,
};
use crate::engine::{Applied, ProxyError, Rendered};
use crate::model::SHARED_SECTION;

/// How often the API is asked whether a generation is loaded.
const POLL: Duration = Duration::from_millis(25);

/// One write of holdfast's file, as Traefik's API shows it: the marker middleware's
/// name and value.
type Marker = (String, String);

/// Writes `rendered` and returns once Traefik serves it; on an error the previous file
/// is back and loaded.
pub async fn apply(config: &TraefikConfig, rendered: &Rendered) -> Result<Applied, ProxyError> {
    let text = rendered
        .files
        .get(FILE_NAME)
        .ok_or_else(|| other(format!("the rendering has no {FILE_NAME}")))?;
    let mut file: Value = serde_json::from_str(text)
        .map_err(|e| other(format!("the rendered {FILE_NAME} is not JSON: {e}")))?;
    let path = config.dir.join(FILE_NAME);
    // Nothing is written for a Traefik that does not answer.
    api::loaded(&config.api).await?;
    let previous = read_optional(&path)?;
    let previous_file: Option<Value> = previous
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok());
    let previous_marker = previous_file.as_ref().and_then(file_marker);
    let (name, _) = file_marker(&file).ok_or_else(|| {
        other(format!(
            "the rendered {FILE_NAME} has no {GENERATION_PREFIX} marker"
        ))
    })?;
    let same_file = previous_file
        .as_ref()
        .is_some_and(|f| split(f) == rendered.sections)
        && previous_marker.as_ref().is_some_and(|(n, _)| *n == name);
    // The same file on disk is enough only if Traefik loaded it; otherwise it is written
    // again, which makes Traefik read it again.
    let unchanged = same_file
        && match &previous_marker {
            Some((n, v)) => api::marker(&config.api, n).await?.as_ref() == Some(v),
            None => false,
        };
    let log_from = config.log.as_deref().map(log::offset);
    let mut applied = Applied::default();
    let expected = match (&previous_marker, unchanged) {
        (Some(marker), true) => marker.clone(),
        _ => {
            // Each write carries a stamp of its own, so that a hand edit that kept the
            // marker is never taken for this write.
            let stamp = format!("{}.{}", rendered.hash, stamp());
            set_marker_value(&mut file, &name, &stamp);
            write_atomic(&config.dir, &file_text(&file))?;
            applied.mutations = 1;
            (name, stamp)
        }
    };
    let has_certs = rendered
        .sections
        .get(SHARED_SECTION)
        .is_some_and(|s| s.contains("\"certificates\""));
    match confirm(config, &expected, log_from, has_certs).await {
        Ok(()) => Ok(applied),
        Err(e) if applied.mutations == 0 => Err(e),
        Err(e) => {
            let restored = restore(
                config,
                previous.as_deref(),
                previous_marker.as_ref(),
                &expected,
            )
            .await;
            Err(match (e, restored) {
                (e, Ok(())) => e,
                (ProxyError::Rejected { engine, message }, Err(why)) => ProxyError::Rejected {
                    engine,
                    message: format!("{message}; {why}"),
                },
                (e, Err(_)) => e,
            })
        }
    }
}

/// Nanoseconds since 1970: unique enough between two writes of one file.
fn stamp() -> u128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

fn set_marker_value(file: &mut Value, name: &str, value: &str) {
    if let Some(m) = file
        .pointer_mut("/http/middlewares")
        .and_then(|m| m.get_mut(name))
    {
        *m = marker_middleware(value);
    }
}

/// Waits until Traefik loaded the generation `marker` without an error in holdfast's
/// objects, within the confirm timeout.
async fn confirm(
    config: &TraefikConfig,
    expected: &Marker,
    log_from: Option<u64>,
    has_certs: bool,
) -> Result<(), ProxyError> {
    let (marker, stamp) = expected;
    let rejected = |message: String| ProxyError::Rejected {
        engine: ENGINE,
        message,
    };
    let log_errors = |certificates: bool| -> Vec<String> {
        match (&config.log, log_from) {
            (Some(log), Some(from)) => log::errors_since(log, from)
                .into_iter()
                .filter(|l| {
                    if certificates {
                        log::is_certificate(l)
                    } else {
                        l.contains(FILE_NAME)
                    }
                })
                .collect(),
            _ => Vec::new(),
        }
    };
    let start = Instant::now();
    loop {
        if api::marker(&config.api, marker).await?.as_ref() == Some(stamp) {
            break;
        }
        // Traefik keeps its previous configuration when it cannot parse the file, and
        // says why in its log only.
        let dropped = log_errors(false);
        if !dropped.is_empty() {
            return Err(rejected(dropped.join("\n")));
        }
        if start.elapsed() > config.confirm_timeout {
            return Err(rejected(format!(
                "Traefik did not load {FILE_NAME} (generation {marker}) within {} ms; it \
                 keeps its previous configuration when it cannot parse a file{}",
                config.confirm_timeout.as_millis(),
                if config.log.is_some() {
                    ""
                } else {
                    " (its log says why)"
                }
            )));
        }
        tokio::time::sleep(POLL).await;
    }
    let loaded = api::loaded(&config.api).await?;
    if !loaded.errors.is_empty() {
        let text: Vec<String> = loaded
            .errors
            .iter()
            .map(|(section, e)| format!("{section}: {e}"))
            .collect();
        return Err(rejected(text.join("\n")));
    }
    if has_certs {
        let bad = log_errors(true);
        if !bad.is_empty() {
            return Err(rejected(bad.join("\n")));
        }
    }
    Ok(())
}

/// Puts `previous` back (or removes the file when there was none) and waits until
/// Traefik dropped the `failed` write and loaded the previous one.
async fn restore(
    config: &TraefikConfig,
    previous: Option<&str>,
    previous_marker: Option<&Marker>,
    failed: &Marker,
) -> Result<(), String> {
    let path = config.dir.join(FILE_NAME);
    let put_back = match previous {
        Some(text) => write_atomic(&config.dir, text).map_err(|e| e.to_string()),
        None => match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("cannot remove {}: {e}", path.display())),
        },
    };
    put_back.map_err(|e| format!("the previous file could not be put back: {e}"))?;
    let start = Instant::now();
    loop {
        let failed_gone = api::marker(&config.api, &failed.0)
            .await
            .map_err(|e| e.to_string())?
            .as_ref()
            != Some(&failed.1);
        let previous_back = match previous_marker {
            Some((name, value)) => {
                api::marker(&config.api, name)
                    .await
                    .map_err(|e| e.to_string())?
                    .as_ref()
                    == Some(value)
            }
            None => true,
        };
        if failed_gone && previous_back {
            return Ok(());
        }
        if start.elapsed() > config.confirm_timeout {
            return Err(format!(
                "the previous {FILE_NAME} is back on disk but Traefik did not load it within {} ms",
                config.confirm_timeout.as_millis()
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

fn read_optional(path: &Path) -> Result<Option<String>, ProxyError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(other(format!("cannot read {}: {e}", path.display()))),
    }
}

/// Writes `text` to [`TEMP_NAME`] in [`TEMP_DIR`] of `dir`, flushes it to disk and
/// renames it to [`FILE_NAME`]: Traefik sees the old file or the new one, never half of
/// one, and one event (the rename).
pub fn write_atomic(dir: &Path, text: &str) -> Result<(), ProxyError> {
    let temp = dir.join(TEMP_DIR).join(TEMP_NAME);
    let target = dir.join(FILE_NAME);
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(dir.join(TEMP_DIR))?;
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp, &target)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        other(format!("cannot write {}: {e}", target.display()))
    })
}
