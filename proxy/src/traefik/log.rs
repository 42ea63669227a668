//! Traefik's log, for what its API does not say: a file it could not parse (it keeps
//! the previous configuration) and a certificate it could not load (it serves its
//! default one).

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::FILE_NAME;

/// The log's length now: where to read new lines from.
pub fn offset(log: &Path) -> u64 {
    std::fs::metadata(log).map(|m| m.len()).unwrap_or(0)
}

/// The error lines written since `from` that are about holdfast's file or a
/// certificate, without colours, oldest first.
pub fn errors_since(log: &Path, from: u64) -> Vec<String> {
    let mut text = String::new();
    let Ok(mut file) = std::fs::File::open(log) else {
        return Vec::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    // A log that was rotated or truncated is read from its start.
    let from = if from > len { 0 } else { from };
    if file.seek(SeekFrom::Start(from)).is_err() {
        return Vec::new();
    }
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).is_err() {
        return Vec::new();
    }
    text.push_str(&String::from_utf8_lossy(&bytes));
    entries(&text)
        .into_iter()
        .filter(|l| is_error(l) && (l.contains(FILE_NAME) || is_certificate(l)))
        .collect()
}

/// The log's entries, without colours: a line that does not start a new entry (a
/// timestamp, or `{` in the JSON format) continues the one before, as when Traefik
/// quotes a PEM block.
fn entries(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines().map(strip_colours) {
        let starts_entry = line.starts_with(|c: char| c.is_ascii_digit() || c == '{');
        match out.last_mut() {
            Some(last) if !starts_entry => {
                last.push(' ');
                last.push_str(line.trim());
            }
            _ => out.push(line),
        }
    }
    out
}

/// Whether a line is about a certificate that did not load.
pub fn is_certificate(line: &str) -> bool {
    let l = line.to_ascii_lowercase();
    l.contains("certificate") || l.contains("private key")
}

/// Whether a line is logged at error level (Traefik's text or JSON format).
fn is_error(line: &str) -> bool {
    line.contains(" ERR ") || line.contains("level=error") || line.contains("\"level\":\"error\"")
}

/// A line without ANSI colour sequences (Traefik colours its text log by default).
fn strip_colours(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte.
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coloured_error_lines_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("traefik.log");
        std::fs::write(&log, "old ERR holdfast.yml\n").unwrap();
        let from = offset(&log);
        let mut text = String::from(
            "2026-12-01T11:48:46Z \u{1b}[31mERR\u{1b}[0m \u{1b}[1mUnable to parse certificate -----BEGIN CERTI[...]ERTIFICATE-----\n\u{1b}[0m error=\"tls: private key does not match public key\"\n",
        );
        text.push_str("2026-12-01T11:48:46Z INF Starting provider\n");
        text.push_str("2026-12-01T11:48:47Z ERR Error occurred during watcher callback error=\"collecting file configs: /d/holdfast.yml: field not found\"\n");
        std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
            .unwrap();
        let found = errors_since(&log, from);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].contains("ERR Unable to parse certificate"),
            "{found:?}"
        );
        assert!(found[0].contains("private key does not match"), "{found:?}");
        assert!(found[1].contains("field not found"));
    }
}
