//! Tables and human times for the commands that talk to a running controller.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::api::client::{Client, ClientError};

/// `--socket`, shared by every command that talks to the daemon.
#[derive(Debug, Clone, clap::Args)]
pub struct SocketArg {
    /// The controller's API socket.
    #[arg(long, env = "HOLDFAST_SOCKET", default_value_os_t = crate::api::server::default_socket())]
    pub socket: PathBuf,
}

impl SocketArg {
    /// A client for that socket.
    pub fn client(&self) -> Client {
        Client::new(&self.socket)
    }
}

/// `-o`: how to print data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Columns for people.
    Table,
    /// More columns.
    Wide,
    /// JSON for scripts.
    Json,
    /// YAML for scripts and people.
    Yaml,
}

/// JSON data as YAML (block style; strings quoted only where YAML would misread them).
pub fn yaml(value: &serde_json::Value) -> String {
    fn scalar(v: &serde_json::Value) -> String {
        match v {
            serde_json::Value::String(s) => {
                let plain = !s.is_empty()
                    && s.parse::<f64>().is_err()
                    && !matches!(s.as_str(), "true" | "false" | "null" | "~" | "yes" | "no")
                    && s.chars()
                        .all(|c| c.is_alphanumeric() || "-_./@+=,()".contains(c) || c == ' ')
                    && !s.starts_with(' ')
                    && !s.ends_with(' ');
                if plain {
                    s.clone()
                } else {
                    serde_json::Value::String(s.clone()).to_string()
                }
            }
            other => other.to_string(),
        }
    }
    fn walk(v: &serde_json::Value, indent: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        match v {
            serde_json::Value::Object(map) if !map.is_empty() => {
                for (k, v) in map {
                    let key = scalar(&serde_json::Value::String(k.clone()));
                    match v {
                        serde_json::Value::Object(m) if !m.is_empty() => {
                            out.push_str(&format!("{pad}{key}:\n"));
                            walk(v, indent + 2, out);
                        }
                        serde_json::Value::Array(a) if !a.is_empty() => {
                            out.push_str(&format!("{pad}{key}:\n"));
                            walk(v, indent, out);
                        }
                        _ => out.push_str(&format!("{pad}{key}: {}\n", inline(v))),
                    }
                }
            }
            serde_json::Value::Array(items) if !items.is_empty() => {
                for item in items {
                    match item {
                        serde_json::Value::Object(m) if !m.is_empty() => {
                            let mut inner = String::new();
                            walk(item, indent + 2, &mut inner);
                            let inner = inner.trim_start().to_string();
                            out.push_str(&format!("{pad}- {inner}"));
                        }
                        _ => out.push_str(&format!("{pad}- {}\n", inline(item))),
                    }
                }
            }
            other => out.push_str(&format!("{pad}{}\n", inline(other))),
        }
    }
    fn inline(v: &serde_json::Value) -> String {
        match v {
            serde_json::Value::Object(m) if m.is_empty() => "{}".into(),
            serde_json::Value::Array(a) if a.is_empty() => "[]".into(),
            serde_json::Value::Array(a) => {
                format!("[{}]", a.iter().map(inline).collect::<Vec<_>>().join(", "))
            }
            other => scalar(other),
        }
    }
    let mut out = String::new();
    walk(value, 0, &mut out);
    out
}

/// Prints `rows` under `header`, each column as wide as its widest cell, kubectl-style.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let last = cells.len().saturating_sub(1);
        let mut out = String::new();
        for (i, cell) in cells.into_iter().enumerate() {
            if i == last {
                out.push_str(&cell);
            } else {
                let pad = widths[i].saturating_sub(cell.chars().count()) + 3;
                out.push_str(&cell);
                out.push_str(&" ".repeat(pad));
            }
        }
        out.trim_end().to_string()
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.clone()));
        out.push('\n');
    }
    out
}

/// `5s`, `3m`, `2h`, `4d`: the largest unit, as kubectl shows ages.
pub fn age(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// Prints a client error and returns exit code 2 (1 for a controller's refusal).
pub fn fail(e: ClientError) -> ExitCode {
    eprintln!("error: {e}");
    match e {
        ClientError::Api { .. } => ExitCode::from(1),
        _ => ExitCode::from(2),
    }
}

/// A current-thread runtime for one request, or exit code 2.
pub fn block_on<F: std::future::Future<Output = ExitCode>>(f: F) -> ExitCode {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(f),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_the_last_is_not_padded() {
        let t = table(
            &["NAME", "STATUS"],
            &[
                vec!["web".into(), "Ready".into()],
                vec!["postgres".into(), "Degraded".into()],
            ],
        );
        assert_eq!(
            t,
            "NAME       STATUS\nweb        Ready\npostgres   Degraded\n"
        );
    }

    #[test]
    fn yaml_output_reads_back_as_the_same_data() {
        let v = serde_json::json!({"key": "service/web", "ports": ["127.0.0.1:8080:80/tcp"], "retries": 0,
            "drift": [], "phase": "Ready", "message": "true", "nested": {"a": [{"x": 1, "y": "two words"}], "b": null}});
        let text = yaml(&v);
        let back = holdfast_spec::yaml::parse(&text).unwrap().unwrap();
        assert_eq!(back.get("key").unwrap().as_str(), Some("service/web"));
        assert_eq!(
            back.get("message").unwrap().value,
            holdfast_spec::yaml::Value::Scalar {
                text: "true".into(),
                plain: false
            }
        );
        let nested = back.get("nested").unwrap().get("a").unwrap();
        assert!(
            matches!(&nested.value, holdfast_spec::yaml::Value::Seq(items) if items[0].get("y").unwrap().as_str() == Some("two words"))
        );
        assert!(
            text.contains("ports:\n- \"127.0.0.1:8080:80/tcp\""),
            "{text}"
        );
    }

    #[test]
    fn ages() {
        assert_eq!(age(5_000), "5s");
        assert_eq!(age(180_000), "3m");
        assert_eq!(age(3 * 3_600_000), "3h");
        assert_eq!(age(5 * 86_400_000), "5d");
    }
}
