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
    fn ages() {
        assert_eq!(age(5_000), "5s");
        assert_eq!(age(180_000), "3m");
        assert_eq!(age(3 * 3_600_000), "3h");
        assert_eq!(age(5 * 86_400_000), "5d");
    }
}
