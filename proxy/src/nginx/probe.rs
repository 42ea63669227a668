//! Asking nginx which generation it serves: `GET /.holdfast/generation` with
//! `Host: holdfast-generation.invalid`, one HTTP/1.0 connection per question (a fresh
//! connection always reaches a worker of the newest configuration).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::render::{GENERATION_HOST, GENERATION_MARKER, GENERATION_PATH, port_of};

/// How long one question may take.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// What the generation endpoint said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 200 with this hash.
    Generation(String),
    /// Another answer: nginx runs, without holdfast's generation server.
    None(u16),
}

/// Asks `address` (`HOST:PORT`). `Err` when nginx does not answer.
pub async fn ask(address: &str) -> Result<Answer, String> {
    tokio::time::timeout(TIMEOUT, exchange(address))
        .await
        .map_err(|_| format!("no answer within {} ms", TIMEOUT.as_millis()))?
}

async fn exchange(address: &str) -> Result<Answer, String> {
    let mut stream = TcpStream::connect(address)
        .await
        .map_err(|e| e.to_string())?;
    let request = format!(
        "GET {GENERATION_PATH} HTTP/1.0\r\nHost: {GENERATION_HOST}\r\nUser-Agent: holdfast\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    stream
        .read_to_end(&mut buf)
        .await
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&buf);
    let status: u16 = text
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {:?}", truncate(&text)))?;
    if status != 200 {
        return Ok(Answer::None(status));
    }
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    Ok(Answer::Generation(body.trim().to_string()))
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

/// `127.0.0.1:PORT` for a listen address (`:80`, `0.0.0.0:8080`, `8080`).
pub fn loopback(listen: &str) -> Option<String> {
    port_of(listen).map(|p| format!("127.0.0.1:{p}"))
}

/// The listen address of the generation server in a shared file, if it has one.
pub fn listen_in(shared_file: &str) -> Option<String> {
    let (_, generation) = shared_file.split_once(GENERATION_MARKER)?;
    generation
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("listen "))
        .map(|l| l.trim_end_matches(';').trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nginx::render::generation_text;

    #[test]
    fn the_listen_address_is_read_back() {
        let text = format!("x\n{}", generation_text("127.0.0.1:8080", "abc"));
        assert_eq!(listen_in(&text).as_deref(), Some("127.0.0.1:8080"));
        assert_eq!(loopback(":80").as_deref(), Some("127.0.0.1:80"));
        assert_eq!(loopback("8080").as_deref(), Some("127.0.0.1:8080"));
        assert_eq!(listen_in("no marker"), None);
    }
}
