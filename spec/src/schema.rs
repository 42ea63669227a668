//! The JSON Schema of the desired-state file, for editors (yaml-language-server).
//!
//! The schema is derived from the model types. Fields that accept Compose's shorthand
//! forms describe every accepted form here.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use crate::model::DesiredState;
use crate::units::{ByteSize, Cpus, Duration};

/// The JSON Schema of the desired-state file.
///
/// ```
/// let schema = holdfast_spec::json_schema();
/// assert!(schema["properties"]["services"].is_object());
/// ```
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::generate::SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<DesiredState>();
    serde_json::to_value(schema).unwrap_or_default()
}

impl JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration: a number with a unit (us, ms, s, m, h), such as 30s or 1m30s.",
            "type": "string",
            "pattern": "^(0|([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+)$"
        })
    }
}

impl JsonSchema for ByteSize {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ByteSize".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A size in bytes, or a number with a unit (b, k, m, g), such as 512M.",
            "oneOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?([bkmgtBKMGT]|[kmgtKMGT][bB]|[kmgtKMGT]i[bB])?$"}
            ]
        })
    }
}

impl JsonSchema for Cpus {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Cpus".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A number of CPUs, such as 0.5 or \"2\".",
            "oneOf": [
                {"type": "number", "exclusiveMinimum": 0},
                {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?$"}
            ]
        })
    }
}

fn scalar() -> serde_json::Value {
    serde_json::json!({"type": ["string", "number", "boolean", "null"]})
}

/// `{KEY: value}` or `["KEY=value"]`.
pub(crate) fn string_map_or_list(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "oneOf": [
            {"type": "object", "additionalProperties": scalar()},
            {"type": "array", "items": {"type": "string"}}
        ]
    })
}

/// A string, or a list of strings.
pub(crate) fn string_or_list(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "oneOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": "string"}}
        ]
    })
}

/// `{host: ip}` or `["host:ip"]` / `["host=ip"]`.
pub(crate) fn extra_hosts(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "oneOf": [
            {"type": "object", "additionalProperties": {"type": "string"}},
            {"type": "array", "items": {"type": "string"}}
        ]
    })
}

/// `{nofile: 1024}` or `{nofile: {soft: 1024, hard: 2048}}`.
pub(crate) fn ulimits(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "additionalProperties": {
            "oneOf": [
                {"type": "integer"},
                {
                    "type": "object",
                    "properties": {"soft": {"type": "integer"}, "hard": {"type": "integer"}},
                    "required": ["soft", "hard"],
                    "additionalProperties": false
                }
            ]
        }
    })
}

/// A command as a list, or as a string split like a shell would.
pub(crate) fn shell_command(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "oneOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": "string"}}
        ]
    })
}

pub(crate) fn build(generator: &mut SchemaGenerator) -> Schema {
    let long = generator.subschema_for::<crate::model::Build>();
    json_schema!({
        "description": "The build context as a string, or context, dockerfile, args and target.",
        "oneOf": [{"type": "string"}, long]
    })
}

pub(crate) fn env_files(generator: &mut SchemaGenerator) -> Schema {
    let long = generator.subschema_for::<crate::model::EnvFile>();
    json_schema!({
        "oneOf": [
            {"type": "string"},
            {"type": "array", "items": {"oneOf": [{"type": "string"}, long]}}
        ]
    })
}

pub(crate) fn service_secrets(generator: &mut SchemaGenerator) -> Schema {
    let long = generator.subschema_for::<crate::model::ServiceSecret>();
    json_schema!({
        "type": "array",
        "items": {"oneOf": [{"type": "string"}, long]}
    })
}

/// A service's `configs:`: names, or the long form with `target`, `uid`, `gid` and an
/// octal `mode` (a number or a string such as `"0440"`).
pub(crate) fn service_configs(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": {"oneOf": [
            {"type": "string"},
            {
                "type": "object",
                "additionalProperties": false,
                "required": ["source"],
                "properties": {
                    "source": {"type": "string", "description": "The top-level config's name."},
                    "target": {"type": "string", "description": "The absolute path inside the container. Default `/<source>`."},
                    "uid": {"type": ["string", "integer"], "description": "The numeric owner of the file. Default 0."},
                    "gid": {"type": ["string", "integer"], "description": "The numeric group of the file. Default 0."},
                    "mode": {"type": ["string", "integer"], "description": "Permission bits in octal, such as 0440. Default 0444."}
                }
            }
        ]}
    })
}

/// The top-level `configs:`: each from `file`, `content` or `environment`.
pub(crate) fn configs(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "file": {"type": "string", "description": "The file that holds the config, relative to the desired-state file's folder."},
                "content": {"type": "string", "description": "The config's text."},
                "environment": {"type": "string", "description": "A variable whose value is the config's text."}
            },
            "oneOf": [
                {"required": ["file"]},
                {"required": ["content"]},
                {"required": ["environment"]}
            ]
        }
    })
}

pub(crate) fn ports(generator: &mut SchemaGenerator) -> Schema {
    let long = generator.subschema_for::<crate::model::Port>();
    json_schema!({
        "description": "\"[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]\", a number, or the long form. Without a host IP the port binds to 127.0.0.1.",
        "type": "array",
        "items": {"oneOf": [{"type": "string"}, {"type": "integer"}, long]}
    })
}

pub(crate) fn mounts(generator: &mut SchemaGenerator) -> Schema {
    let long = generator.subschema_for::<crate::model::Mount>();
    json_schema!({
        "description": "\"SOURCE:TARGET[:ro]\", \"TARGET\", or the long form.",
        "type": "array",
        "items": {"oneOf": [{"type": "string"}, long]}
    })
}

pub(crate) fn service_networks(generator: &mut SchemaGenerator) -> Schema {
    let long = generator.subschema_for::<crate::model::ServiceNetwork>();
    json_schema!({
        "oneOf": [
            {"type": "array", "items": {"type": "string"}},
            {"type": "object", "additionalProperties": {"oneOf": [{"type": "null"}, long]}}
        ]
    })
}

pub(crate) fn healthcheck_test(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "oneOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": "string"}, "minItems": 1}
        ]
    })
}

pub(crate) fn depends_on(generator: &mut SchemaGenerator) -> Schema {
    let long = generator.subschema_for::<crate::model::Dependency>();
    json_schema!({
        "oneOf": [
            {"type": "array", "items": {"type": "string"}},
            {"type": "object", "additionalProperties": {"oneOf": [{"type": "null"}, long]}}
        ]
    })
}

/// `{key: scalar}`, such as log driver options.
pub(crate) fn scalar_map(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "object", "additionalProperties": scalar()})
}

pub(crate) fn pull_policy(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "When to pull the image: missing (default; also `if_not_present`), always or never.",
        "enum": ["missing", "always", "never", "if_not_present"]
    })
}

fn add_property(schema: &mut Schema, name: &str, property: serde_json::Value) {
    if let Some(props) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) {
        props.insert(name.to_string(), property);
    }
}

/// `version:` is accepted (and ignored) at the top level.
pub(crate) fn top_level_extras(schema: &mut Schema) {
    add_property(
        schema,
        "version",
        serde_json::json!({"description": "Ignored, as by Compose.", "type": ["string", "number"]}),
    );
}

pub(crate) fn healthcheck_extras(schema: &mut Schema) {
    add_property(
        schema,
        "disable",
        serde_json::json!({"description": "Switch the image's health check off.", "type": "boolean"}),
    );
}

pub(crate) fn deploy_extras(schema: &mut Schema) {
    add_property(
        schema,
        "replicas",
        serde_json::json!({"description": "How many containers run the service, named <project>-<service>-<n> (one keeps the name <project>-<service>); 0 runs none. Above 1, no fixed host port and no container_name.", "type": "integer", "minimum": 0, "maximum": 100}),
    );
}

pub(crate) fn port_extras(schema: &mut Schema) {
    add_property(schema, "mode", serde_json::json!({"enum": ["host"]}));
}

/// `expose:`: container ports as numbers or strings (`"3000"`, `"3000/tcp"`,
/// `"3000-3005"`).
pub(crate) fn expose(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "Container ports the service listens on without publishing them: 3000, \"3000/tcp\" or \"3000-3005\".",
        "type": "array",
        "items": {"oneOf": [
            {"type": "integer", "minimum": 1, "maximum": 65535},
            {"type": "string", "pattern": "^[0-9]+(-[0-9]+)?(/(tcp|udp))?$"}
        ]}
    })
}

/// `routes:`: route names become file names and proxy ids.
pub(crate) fn routes(generator: &mut SchemaGenerator) -> Schema {
    let route = generator.subschema_for::<crate::routes::Route>();
    json_schema!({
        "description": "Sites served through the proxy, by route name.",
        "type": "object",
        "propertyNames": {"pattern": "^[a-z0-9][a-z0-9_-]*$"},
        "additionalProperties": route
    })
}

/// `tls:`: `auto`, `internal`, `off`, or `{cert, key}`.
pub(crate) fn route_tls(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "Certificates: auto (ACME, the default), internal (holdfast's local CA), off (plain HTTP), or {cert: FILE, key: FILE}.",
        "oneOf": [
            {"enum": ["auto", "internal", "off"]},
            {
                "type": "object",
                "properties": {
                    "cert": {"description": "The certificate chain, a PEM file.", "type": "string"},
                    "key": {"description": "Its private key, a PEM file.", "type": "string"}
                },
                "required": ["cert", "key"],
                "additionalProperties": false
            }
        ]
    })
}

/// `headers:`: a preset name, or `{preset, set, remove}`.
pub(crate) fn route_headers(generator: &mut SchemaGenerator) -> Schema {
    let long = generator.subschema_for::<crate::routes::RouteHeaders>();
    let preset = generator.subschema_for::<crate::routes::HeaderPreset>();
    json_schema!({
        "description": "Response headers: a preset (secure, strict, none), or {preset, set, remove}.",
        "oneOf": [preset, long]
    })
}
