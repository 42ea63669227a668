//! Content hashes that ignore key order and formatting.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The SHA-256 (hex) of `value`'s canonical JSON: object keys sorted, no whitespace.
/// Two values that serialise to the same data hash the same, whatever the order or
/// layout of the YAML they came from.
///
/// ```
/// use holdfast_spec::hash::content_hash;
/// let a = serde_json::json!({"a": 1, "b": [1, 2]});
/// let b = serde_json::json!({"b": [1, 2], "a": 1});
/// assert_eq!(content_hash(&a), content_hash(&b));
/// assert_ne!(content_hash(&a), content_hash(&serde_json::json!({"a": 1, "b": [2, 1]})));
/// ```
pub fn content_hash<T: Serialize + ?Sized>(value: &T) -> String {
    let json = serde_json::to_value(value).unwrap_or(Value::Null);
    let mut text = String::new();
    canonical(&json, &mut text);
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}
