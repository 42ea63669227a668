//! The dynamic file cut into sections, by object name; the same cut for what render
//! writes and what observe reads back, so that an untouched file gives no drift.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::GENERATION_PREFIX;
use crate::model::{SHARED_SECTION, route_section};

/// The kinds of HTTP objects a route owns, as the file names them.
pub const KINDS: [&str; 3] = ["routers", "services", "middlewares"];

/// The name of `part` of route `route`: `hf-<route>-<part>`. `part` has no `-`.
pub fn object_name(route: &str, part: &str) -> String {
    format!("hf-{route}-{part}")
}

/// The route an object of this name belongs to: `hf-<route>-<part>` with a `part` of
/// ASCII letters and digits. Provider suffixes (`@file`) are not part of the name.
pub fn owner(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("hf-")?;
    let (route, part) = rest.rsplit_once('-')?;
    let part_ok = !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric());
    (part_ok && !route.is_empty()).then_some(route)
}

/// The header the generation marker's middleware sets (on no response: no router uses
/// it). Its value is the generation, and in the file apply writes, `.<stamp>` after it,
/// unique to each write, so that Traefik's API shows which write it loaded.
pub const MARKER_HEADER: &str = "X-Holdfast-Generation";

/// The generation marker's middleware, as render writes it.
pub fn marker_middleware(value: &str) -> Value {
    serde_json::json!({"headers": {"customResponseHeaders": {MARKER_HEADER: value}}})
}

/// The value a marker middleware carries.
pub fn marker_value(middleware: &Value) -> Option<&str> {
    middleware
        .get("headers")?
        .get("customResponseHeaders")?
        .get(MARKER_HEADER)?
        .as_str()
}

/// The marker of a file: its middleware's name and value.
pub fn file_marker(file: &Value) -> Option<(String, String)> {
    file.pointer("/http/middlewares")?
        .as_object()?
        .iter()
        .find(|(k, _)| marker_generation(k).is_some())
        .map(|(k, v)| (k.clone(), marker_value(v).unwrap_or_default().to_string()))
}

/// The generation a marker's middleware name carries.
pub fn marker_generation(name: &str) -> Option<&str> {
    name.strip_prefix(GENERATION_PREFIX)
}

/// The file's content cut into sections: `route/NAME` for the objects of each route
/// and `proxy` for the rest (certificates, anything not of holdfast's names). The
/// generation marker is in no section.
pub fn split(file: &Value) -> BTreeMap<String, String> {
    let mut rest = file.clone();
    let mut routes: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    if let Some(http) = rest.get_mut("http").and_then(Value::as_object_mut) {
        for kind in KINDS {
            let Some(objects) = http.get_mut(kind).and_then(Value::as_object_mut) else {
                continue;
            };
            let names: Vec<String> = objects.keys().cloned().collect();
            for name in names {
                if kind == "middlewares" && marker_generation(&name).is_some() {
                    objects.remove(&name);
                    continue;
                }
                let Some(route) = owner(&name).map(str::to_string) else {
                    continue;
                };
                if let Some(object) = objects.remove(&name) {
                    let parts = routes.entry(route).or_default();
                    if let Some(map) = parts
                        .entry(kind.to_string())
                        .or_insert_with(|| Value::Object(Map::new()))
                        .as_object_mut()
                    {
                        map.insert(name, object);
                    }
                }
            }
        }
    }
    // The order of certificates means nothing to Traefik.
    if let Some(certs) = rest
        .get_mut("tls")
        .and_then(|t| t.get_mut("certificates"))
        .and_then(Value::as_array_mut)
    {
        certs.sort_by_key(canonical);
        certs.dedup();
    }
    prune(&mut rest);
    let mut out = BTreeMap::new();
    out.insert(
        SHARED_SECTION.to_string(),
        canonical(&if rest.is_null() {
            Value::Object(Map::new())
        } else {
            rest
        }),
    );
    for (route, parts) in routes {
        out.insert(route_section(&route), canonical(&Value::Object(parts)));
    }
    out
}

/// Removes empty objects and arrays, recursively; an object that becomes empty goes
/// too, and a value that is nothing but empties becomes `null`.
fn prune(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for value in map.values_mut() {
                prune(value);
            }
            map.retain(|_, value| !is_empty(value));
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                prune(item);
            }
        }
        _ => {}
    }
    if is_empty(v) {
        *v = Value::Null;
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// `v` with every object's keys in sorted order, whatever map type serde_json uses.
pub fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), sorted(&map[k]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// The canonical text of `v`: compact JSON with sorted keys.
pub fn canonical(v: &Value) -> String {
    sorted(v).to_string()
}

/// The file's text: pretty JSON with sorted keys. `{{` (only possible inside strings)
/// is escaped, as Traefik runs every file through Go's templates first.
pub fn file_text(v: &Value) -> String {
    let text = serde_json::to_string_pretty(&sorted(v)).unwrap_or_else(|_| v.to_string());
    format!("{}\n", text.replace("{{", "{\\u007b"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_read_from_names() {
        assert_eq!(owner("hf-shop-p0"), Some("shop"));
        assert_eq!(owner("hf-my-shop-redirect"), Some("my-shop"));
        assert_eq!(owner("hf-shop"), None);
        assert_eq!(owner("hf--p0"), None);
        assert_eq!(owner("hf-shop-"), None);
        assert_eq!(owner("other"), None);
        assert_eq!(owner(&object_name("a-b_c", "s1")), Some("a-b_c"));
    }

    #[test]
    fn templates_are_escaped_and_read_back() {
        let v = serde_json::json!({"a": "x{{y}}", "b": {"c": []}});
        let text = file_text(&v);
        assert!(!text.contains("{{"), "{text}");
        let back: Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(back, v);
    }

    #[test]
    fn split_puts_unknown_objects_in_the_shared_section() {
        let v = serde_json::json!({"http": {
            "routers": {"hf-a-p0": {"rule": "x"}, "mine": {"rule": "y"}},
            "middlewares": {"holdfast-generation-0011": {"headers": {}}}
        }});
        let s = split(&v);
        assert_eq!(s["route/a"], r#"{"routers":{"hf-a-p0":{"rule":"x"}}}"#);
        assert_eq!(s["proxy"], r#"{"http":{"routers":{"mine":{"rule":"y"}}}}"#);
        assert_eq!(s.len(), 2);
    }
}
