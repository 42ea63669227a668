//! Traefik's API, read only: what it loaded (`/api/rawdata`) and whether one
//! middleware is loaded (`/api/http/middlewares/NAME`).

use std::collections::BTreeMap;
use std::time::Duration;

use hyper::Method;
use serde_json::Value;

use super::sections::{marker_generation, marker_value, owner};
use super::{ENGINE, other};
use crate::engine::ProxyError;
use crate::http::{self, Endpoint};
use crate::model::route_section;

/// How long one API call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// What the API says about the file provider's part that holdfast owns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Loaded {
    /// The generation markers loaded (normally one, none before holdfast's first file).
    pub generations: Vec<String>,
    /// Errors of objects of holdfast's names, by section: Traefik's own messages.
    pub errors: BTreeMap<String, String>,
}

async fn get(api: &Endpoint, path: &str) -> Result<http::Response, ProxyError> {
    http::request(api, Method::GET, path, &[], None, CALL_TIMEOUT)
        .await
        .map_err(|e| ProxyError::Unreachable {
            engine: ENGINE,
            address: api.to_string(),
            reason: e.0,
        })
}

/// Reads `/api/rawdata`.
pub async fn loaded(api: &Endpoint) -> Result<Loaded, ProxyError> {
    let response = get(api, "/api/rawdata").await?;
    if !response.ok() {
        return Err(other(format!(
            "GET /api/rawdata answered {}: {}",
            response.status,
            response.text()
        )));
    }
    let raw: Value = serde_json::from_slice(&response.body)
        .map_err(|e| other(format!("GET /api/rawdata is not JSON: {e}")))?;
    Ok(read_rawdata(&raw))
}

/// The value of the generation marker `name` (without `@file`) that Traefik loaded;
/// `None` when it has no such middleware.
pub async fn marker(api: &Endpoint, name: &str) -> Result<Option<String>, ProxyError> {
    let path = format!("/api/http/middlewares/{name}@file");
    let response = get(api, &path).await?;
    match response.status {
        200 => {
            let m: Value = serde_json::from_slice(&response.body)
                .map_err(|e| other(format!("GET {path} is not JSON: {e}")))?;
            Ok(Some(marker_value(&m).unwrap_or_default().to_string()))
        }
        404 => Ok(None),
        s => Err(other(format!(
            "GET {path} answered {s}: {}",
            response.text()
        ))),
    }
}

/// The generations and errors in a `/api/rawdata` answer.
pub fn read_rawdata(raw: &Value) -> Loaded {
    let mut out = Loaded::default();
    for (kind, singular) in [
        ("routers", "router"),
        ("services", "service"),
        ("middlewares", "middleware"),
    ] {
        let Some(objects) = raw.get(kind).and_then(Value::as_object) else {
            continue;
        };
        for (full, object) in objects {
            let Some(name) = full.strip_suffix("@file") else {
                continue;
            };
            if kind == "middlewares"
                && let Some(generation) = marker_generation(name)
            {
                out.generations.push(generation.to_string());
                continue;
            }
            let Some(route) = owner(name) else { continue };
            let status = object.get("status").and_then(Value::as_str).unwrap_or("");
            let errors: Vec<&str> = object
                .get("error")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if status == "disabled" || !errors.is_empty() {
                let text = if errors.is_empty() {
                    format!("{singular} {full} is {status}")
                } else {
                    format!("{singular} {full}: {}", errors.join("; "))
                };
                out.errors
                    .entry(route_section(route))
                    .and_modify(|e| {
                        e.push_str("; ");
                        e.push_str(&text);
                    })
                    .or_insert(text);
            }
        }
    }
    out.generations.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rawdata_errors_are_attributed_to_routes() {
        let raw = serde_json::json!({
            "routers": {
                "hf-c-p0@file": {"status": "disabled", "error": ["cannot parse CIDRs [bogus]"]},
                "hf-a-p0@file": {"status": "enabled"},
                "hf-x-p0@docker": {"status": "disabled"},
                "api@internal": {"status": "enabled"}
            },
            "middlewares": {
                "hf-c-allow@file": {"status": "disabled", "error": ["bad"]},
                "holdfast-generation-00ff@file": {"status": "enabled"}
            }
        });
        let l = read_rawdata(&raw);
        assert_eq!(l.generations, ["00ff"]);
        assert_eq!(
            l.errors["route/c"],
            "router hf-c-p0@file: cannot parse CIDRs [bogus]; middleware hf-c-allow@file: bad"
        );
        assert_eq!(l.errors.len(), 1);
    }
}
