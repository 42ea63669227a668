//! The published JSON Schema accepts every file holdfast accepts that ships with the
//! project, and rejects what editors should flag.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use holdfast_spec::yaml::{self, Node, Value};
use serde_json::json;

/// YAML to JSON the way an editor's YAML language server sees it: plain scalars that
/// look like numbers or booleans are numbers or booleans.
fn to_json(node: &Node) -> serde_json::Value {
    match &node.value {
        Value::Null => serde_json::Value::Null,
        Value::Scalar { text, plain } => {
            if *plain {
                if let Ok(i) = text.parse::<i64>() {
                    return json!(i);
                }
                if let Ok(f) = text.parse::<f64>() {
                    return json!(f);
                }
                if text == "true" || text == "false" {
                    return json!(text == "true");
                }
            }
            json!(text)
        }
        Value::Seq(items) => items.iter().map(to_json).collect(),
        Value::Map(entries) => {
            let map = entries
                .iter()
                .map(|(k, v)| (k.as_str().unwrap_or("").to_string(), to_json(v)))
                .collect();
            serde_json::Value::Object(map)
        }
    }
}

fn validator() -> jsonschema::Validator {
    jsonschema::validator_for(&holdfast_spec::json_schema()).expect("the schema compiles")
}

fn files() -> Vec<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/good");
    let mut files = vec![good.join("compose_forms.yaml"), good.join("routes.yaml")];
    for entry in std::fs::read_dir(repo.join("examples")).unwrap() {
        let path = entry.unwrap().path().join("holdfast.yaml");
        if path.is_file() {
            files.push(path);
        }
    }
    files
}

#[test]
fn schema_accepts_every_shipped_file() {
    let validator = validator();
    let files = files();
    assert!(files.len() >= 7);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let doc = to_json(&yaml::parse(&text).unwrap().unwrap());
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", file.display());
    }
}

#[test]
fn schema_flags_unknown_fields_and_bad_values() {
    let validator = validator();
    let bad = [
        json!({"name": "x", "services": {"web": {"imgae": "nginx"}}}),
        json!({"name": "x", "services": {"web": {"image": "nginx", "restart": "sometimes"}}}),
        json!({"name": "x", "services": {"web": {"image": "nginx", "stop_grace_period": "30 seconds"}}}),
        json!({"name": "x", "services": {"web": {"image": "nginx", "deploy": {"replicas": 300}}}}),
        json!({"name": "X Y", "services": {}}),
    ];
    for doc in bad {
        assert!(!validator.is_valid(&doc), "schema accepted {doc}");
    }
}
