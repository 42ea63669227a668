//! A small HTTP/1.1 client for proxy admin APIs, over a unix socket or loopback TCP.
//!
//! One connection per request: admin calls are rare, and a fresh connection never
//! carries state across a proxy restart.

use std::path::PathBuf;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;

/// Where an admin API listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A unix socket.
    Unix(PathBuf),
    /// `HOST:PORT` over TCP.
    Tcp(String),
}

impl Endpoint {
    /// Reads `unix:/PATH`, `unix//PATH` (Caddy's spelling), `http://HOST:PORT`, or
    /// `HOST:PORT`.
    pub fn parse(address: &str) -> Endpoint {
        if let Some(path) = address
            .strip_prefix("unix:")
            .or_else(|| address.strip_prefix("unix/"))
        {
            return Endpoint::Unix(PathBuf::from(path));
        }
        let hostport = address
            .strip_prefix("http://")
            .unwrap_or(address)
            .trim_end_matches('/');
        Endpoint::Tcp(hostport.to_string())
    }

    /// The `Host` header to send: the address itself for TCP (Caddy's admin API checks
    /// it against its listen address), empty for a socket (the one value every Caddy
    /// since 2.0 accepts there; 2.6 refuses `localhost`).
    fn host(&self) -> String {
        match self {
            Endpoint::Unix(_) => String::new(),
            Endpoint::Tcp(a) => a.clone(),
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix:{}", p.display()),
            Endpoint::Tcp(a) => f.write_str(a),
        }
    }
}

/// An answer.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The `Etag` header, if any.
    pub etag: Option<String>,
    /// Other headers, lower-cased names.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(pub String);

/// Sends one request and reads the whole answer, within `timeout`.
pub async fn request(
    endpoint: &Endpoint,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
    timeout: Duration,
) -> Result<Response, TransportError> {
    tokio::time::timeout(timeout, send(endpoint, method, path, headers, body))
        .await
        .map_err(|_| TransportError(format!("no answer within {} ms", timeout.as_millis())))?
}

async fn send(
    endpoint: &Endpoint,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Result<Response, TransportError> {
    let err = |e: &dyn std::fmt::Display| TransportError(e.to_string());
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", endpoint.host());
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    if body.is_some() {
        builder = builder.header("content-type", "application/json");
    }
    let request = builder
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| err(&e))?;
    let response = match endpoint {
        Endpoint::Unix(path) => {
            let stream = tokio::net::UnixStream::connect(path)
                .await
                .map_err(|e| err(&e))?;
            exchange(stream, request).await?
        }
        Endpoint::Tcp(addr) => {
            let stream = tokio::net::TcpStream::connect(addr.as_str())
                .await
                .map_err(|e| err(&e))?;
            exchange(stream, request).await?
        }
    };
    Ok(response)
}

async fn exchange<S>(stream: S, request: Request<Full<Bytes>>) -> Result<Response, TransportError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let err = |e: &dyn std::fmt::Display| TransportError(e.to_string());
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| err(&e))?;
    tokio::spawn(connection);
    let response = sender.send_request(request).await.map_err(|e| err(&e))?;
    let status = response.status().as_u16();
    let mut etag = None;
    let mut headers = Vec::new();
    for (k, v) in response.headers() {
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        if k == "etag" {
            etag = Some(v.clone());
        }
        headers.push((k.as_str().to_string(), v));
    }
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| err(&e))?
        .to_bytes()
        .to_vec();
    Ok(Response {
        status,
        etag,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse() {
        assert_eq!(
            Endpoint::parse("unix:/run/caddy/admin.sock"),
            Endpoint::Unix("/run/caddy/admin.sock".into())
        );
        assert_eq!(
            Endpoint::parse("unix//run/caddy.sock"),
            Endpoint::Unix("/run/caddy.sock".into())
        );
        assert_eq!(
            Endpoint::parse("http://127.0.0.1:8080/"),
            Endpoint::Tcp("127.0.0.1:8080".into())
        );
        assert_eq!(
            Endpoint::parse("localhost:2019"),
            Endpoint::Tcp("localhost:2019".into())
        );
    }
}
