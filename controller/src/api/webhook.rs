//! The webhook receiver for the git source: GitHub and GitLab push hooks.
//!
//! `POST /v1/webhook` accepts a request when it proves knowledge of the shared secret:
//!
//! - GitHub: `X-Hub-Signature-256: sha256=<hex of HMAC-SHA256(secret, raw body)>`,
//!   checked in constant time;
//! - GitLab: `X-Gitlab-Token: <secret>`, compared in constant time.
//!
//! An accepted request only calls `on_push` (which should wake the git source so that it
//! fetches); the payload itself is never parsed nor trusted. Anything else gets 401, and
//! bodies over [`MAX_BODY`] get 413, both without calling `on_push`. The secret and the
//! signature headers are never logged.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::auth::same_secret;
use super::types::ErrorBody;

/// The largest request body accepted, in bytes (1 MiB); bigger bodies get 413.
pub const MAX_BODY: usize = 1024 * 1024;

/// GitHub's signature header: `sha256=<hex HMAC-SHA256 of the body>`.
const GITHUB_SIGNATURE: &str = "x-hub-signature-256";
/// GitHub's event name header (`push`, `ping`, ...), only logged.
const GITHUB_EVENT: &str = "x-github-event";
/// GitLab's shared-token header.
const GITLAB_TOKEN: &str = "x-gitlab-token";
/// GitLab's event name header (`Push Hook`, ...), only logged.
const GITLAB_EVENT: &str = "x-gitlab-event";

/// Why the webhook receiver could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The secret file could not be read.
    #[error("cannot read the webhook secret file {}: {source}", path.display())]
    ReadSecret {
        /// The secret file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The secret file holds nothing but whitespace.
    #[error("the webhook secret file {} is empty", path.display())]
    EmptySecret {
        /// The secret file.
        path: PathBuf,
    },
}

/// The secret shared with the git host. Its `Debug` never shows the bytes.
#[derive(Clone)]
pub struct WebhookSecret(Vec<u8>);

impl WebhookSecret {
    /// Wraps `secret` as given. An empty secret never verifies any request.
    pub fn new(secret: Vec<u8>) -> Self {
        Self(secret)
    }

    /// Reads the secret from `path`, without leading or trailing whitespace (such as
    /// the final newline). An empty file is an error; errors name the file, never its
    /// content.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, WebhookError> {
        let path = path.as_ref();
        let content = std::fs::read(path).map_err(|source| WebhookError::ReadSecret {
            path: path.to_path_buf(),
            source,
        })?;
        let secret = content.trim_ascii();
        if secret.is_empty() {
            return Err(WebhookError::EmptySecret {
                path: path.to_path_buf(),
            });
        }
        Ok(Self(secret.to_vec()))
    }

    /// Whether `signature` (a GitHub `X-Hub-Signature-256` value) is the HMAC-SHA256 of
    /// `body` under this secret. A malformed value is a failure.
    fn verifies_github(&self, signature: &[u8], body: &[u8]) -> bool {
        let Some(expected) = signature.strip_prefix(b"sha256=").and_then(decode_hex) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            return false;
        };
        mac.update(body);
        mac.verify_slice(&expected).is_ok()
    }

    /// Whether `token` (a GitLab `X-Gitlab-Token` value) is this secret.
    fn verifies_gitlab(&self, token: &[u8]) -> bool {
        same_secret(token, &self.0)
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

/// GitHub's `X-Hub-Signature-256` value for `body` under `secret`, as a sender computes
/// it: `sha256=` and the lowercase hex of HMAC-SHA256(secret, body). For tests and tools
/// that send webhooks; the receiver does not compare with it but verifies signatures in
/// constant time.
pub fn github_signature(secret: &[u8], body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        unreachable!("HMAC takes keys of any length");
    };
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// Decodes lowercase or uppercase hex; `None` for an odd length or a non-hex digit.
fn decode_hex(hex: &[u8]) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    if hex.is_empty() || !hex.len().is_multiple_of(2) {
        return None;
    }
    hex.chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

/// What the handler shares.
struct Hook {
    secret: WebhookSecret,
    on_push: Arc<dyn Fn() + Send + Sync>,
}

/// The webhook routes: `POST /v1/webhook` and `GET /healthz` (200 `ok`).
///
/// `on_push` is called once per verified request, on the server's task: it should only
/// signal (wake the git source), not block.
pub fn router(secret: WebhookSecret, on_push: Arc<dyn Fn() + Send + Sync>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/webhook", post(webhook))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(Arc::new(Hook { secret, on_push }))
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(ErrorBody {
            error: message.to_string(),
        }),
    )
        .into_response()
}

/// The event name a host sent, for the log only (cut short: it is not trusted).
fn event_name(headers: &HeaderMap) -> Option<String> {
    let value = headers
        .get(GITHUB_EVENT)
        .or_else(|| headers.get(GITLAB_EVENT))?;
    Some(
        String::from_utf8_lossy(value.as_bytes())
            .chars()
            .take(64)
            .collect(),
    )
}

async fn webhook(
    State(hook): State<Arc<Hook>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let event = event_name(&headers);
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let status = rejection.status();
            tracing::debug!(?event, %status, "webhook refused: unreadable body");
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!("the body is larger than {MAX_BODY} bytes")
            } else {
                "the body could not be read".to_string()
            };
            return refuse(status, &message);
        }
    };
    let github = headers.get(GITHUB_SIGNATURE);
    let gitlab = headers.get(GITLAB_TOKEN);
    if github.is_none() && gitlab.is_none() {
        tracing::debug!(?event, "webhook refused: no signature");
        return refuse(
            StatusCode::UNAUTHORIZED,
            "an X-Hub-Signature-256 or X-Gitlab-Token header is required",
        );
    }
    let empty = hook.secret.0.is_empty();
    let host = if !empty && github.is_some_and(|s| hook.secret.verifies_github(s.as_bytes(), &body))
    {
        "github"
    } else if !empty && gitlab.is_some_and(|t| hook.secret.verifies_gitlab(t.as_bytes())) {
        "gitlab"
    } else {
        tracing::debug!(?event, "webhook refused: bad signature");
        return refuse(StatusCode::UNAUTHORIZED, "bad signature or token");
    };
    tracing::debug!(?event, "webhook accepted ({host})");
    (hook.on_push)();
    (
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "triggered": true })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::{BodyExt, Full};
    use hyper::{Method, Request};
    use hyper_util::rt::TokioIo;

    use super::*;

    const SECRET: &str = "s3cret-webhook-token";

    /// GitHub's documented example (also checked with
    /// `printf '%s' 'Hello, World!' | openssl dgst -sha256 -hmac "It's a Secret to Everybody"`).
    const VECTOR_SECRET: &str = "It's a Secret to Everybody";
    const VECTOR_BODY: &str = "Hello, World!";
    const VECTOR_SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    /// A running receiver: its address, its trigger counter and its shutdown switch.
    struct Server {
        addr: std::net::SocketAddr,
        pushes: Arc<AtomicUsize>,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        task: tokio::task::JoinHandle<std::io::Result<()>>,
    }

    impl Server {
        async fn start(secret: &str) -> Self {
            let pushes = Arc::new(AtomicUsize::new(0));
            let counter = pushes.clone();
            let app = router(
                WebhookSecret::new(secret.as_bytes().to_vec()),
                Arc::new(move || {
                    counter.fetch_add(1, Ordering::SeqCst);
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(serve(listener, app, async move {
                let _ = stopped.await;
            }));
            Self {
                addr,
                pushes,
                stop: Some(stop),
                task,
            }
        }

        fn pushes(&self) -> usize {
            self.pushes.load(Ordering::SeqCst)
        }

        /// Sends one request on a fresh connection; returns the status and the body.
        async fn send(
            &self,
            method: Method,
            path: &str,
            headers: &[(&str, &str)],
            body: Vec<u8>,
        ) -> (StatusCode, String) {
            let stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(async move {
                let _ = connection.await;
            });
            let mut request = Request::builder()
                .method(method)
                .uri(format!("http://{}{path}", self.addr))
                .header("host", self.addr.to_string());
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            let request = request.body(Full::new(Bytes::from(body))).unwrap();
            let response = sender.send_request(request).await.unwrap();
            let status = response.status();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8(body.to_vec()).unwrap())
        }

        async fn post(&self, headers: &[(&str, &str)], body: &[u8]) -> (StatusCode, String) {
            self.send(Method::POST, "/v1/webhook", headers, body.to_vec())
                .await
        }

        async fn stop(mut self) {
            if let Some(stop) = self.stop.take() {
                let _ = stop.send(());
            }
            self.task.await.unwrap().unwrap();
        }
    }

    const PUSH: &[u8] = br#"{"ref":"refs/heads/main","after":"0123456789abcdef"}"#;

    #[test]
    fn signature_matches_githubs_documented_example() {
        assert_eq!(
            github_signature(VECTOR_SECRET.as_bytes(), VECTOR_BODY.as_bytes()),
            VECTOR_SIGNATURE
        );
        let secret = WebhookSecret::new(VECTOR_SECRET.as_bytes().to_vec());
        assert!(secret.verifies_github(VECTOR_SIGNATURE.as_bytes(), VECTOR_BODY.as_bytes()));
        let upper = VECTOR_SIGNATURE
            .to_uppercase()
            .replace("SHA256=", "sha256=");
        assert!(secret.verifies_github(upper.as_bytes(), VECTOR_BODY.as_bytes()));
        assert!(!secret.verifies_github(VECTOR_SIGNATURE.as_bytes(), b"Hello, World?"));
    }

    #[tokio::test]
    async fn github_documented_example_is_accepted() {
        let server = Server::start(VECTOR_SECRET).await;
        let (status, body) = server
            .post(
                &[
                    ("x-hub-signature-256", VECTOR_SIGNATURE),
                    ("x-github-event", "ping"),
                ],
                VECTOR_BODY.as_bytes(),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(server.pushes(), 1);
        server.stop().await;
    }

    #[tokio::test]
    async fn github_right_signature_triggers_once() {
        let server = Server::start(SECRET).await;
        let signature = github_signature(SECRET.as_bytes(), PUSH);
        let (status, body) = server
            .post(
                &[
                    ("x-hub-signature-256", &signature),
                    ("x-github-event", "push"),
                    ("content-type", "application/json"),
                ],
                PUSH,
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body, serde_json::json!({ "triggered": true }));
        assert_eq!(server.pushes(), 1);
        server.stop().await;
    }

    #[tokio::test]
    async fn github_wrong_signature_is_refused() {
        let server = Server::start(SECRET).await;
        let signature = github_signature(b"another secret", PUSH);
        let (status, body) = server
            .post(&[("x-hub-signature-256", &signature)], PUSH)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let body: ErrorBody = serde_json::from_str(&body).unwrap();
        assert!(!body.error.is_empty());
        assert_eq!(server.pushes(), 0);
        server.stop().await;
    }

    #[tokio::test]
    async fn github_signature_over_another_body_is_refused() {
        let server = Server::start(SECRET).await;
        let signature = github_signature(SECRET.as_bytes(), b"{\"ref\":\"refs/heads/other\"}");
        let (status, _) = server
            .post(&[("x-hub-signature-256", &signature)], PUSH)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(server.pushes(), 0);
        server.stop().await;
    }

    #[tokio::test]
    async fn github_malformed_signatures_are_refused() {
        let server = Server::start(SECRET).await;
        let good = github_signature(SECRET.as_bytes(), PUSH);
        let unprefixed = good.trim_start_matches("sha256=").to_string();
        let sha1 = good.replace("sha256=", "sha1=");
        let truncated = good[..good.len() - 1].to_string();
        let short = good[..good.len() - 2].to_string();
        for bad in [
            "sha256=zz",
            "sha256=",
            "sha256",
            "",
            unprefixed.as_str(),
            sha1.as_str(),
            truncated.as_str(),
            short.as_str(),
        ] {
            let (status, _) = server.post(&[("x-hub-signature-256", bad)], PUSH).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "header {bad:?}");
        }
        assert_eq!(server.pushes(), 0);
        server.stop().await;
    }

    #[tokio::test]
    async fn gitlab_right_token_triggers_and_wrong_token_is_refused() {
        let server = Server::start(SECRET).await;
        let (status, _) = server
            .post(
                &[("x-gitlab-token", SECRET), ("x-gitlab-event", "Push Hook")],
                PUSH,
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(server.pushes(), 1);

        for wrong in [
            "s3cret-webhook-tokeN",
            "s3cret-webhook-token2",
            "s3cret",
            "",
        ] {
            let (status, _) = server.post(&[("x-gitlab-token", wrong)], PUSH).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "token {wrong:?}");
        }
        assert_eq!(server.pushes(), 1);
        server.stop().await;
    }

    #[tokio::test]
    async fn no_headers_is_refused() {
        let server = Server::start(SECRET).await;
        let (status, body) = server.post(&[("x-github-event", "push")], PUSH).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(body.contains("\"error\""), "{body}");
        assert_eq!(server.pushes(), 0);
        server.stop().await;
    }

    #[tokio::test]
    async fn empty_secret_never_verifies() {
        let server = Server::start("").await;
        let signature = github_signature(b"", PUSH);
        let (status, _) = server
            .post(&[("x-hub-signature-256", &signature)], PUSH)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = server.post(&[("x-gitlab-token", "")], PUSH).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(server.pushes(), 0);
        server.stop().await;
    }

    #[tokio::test]
    async fn body_over_the_limit_is_413_without_trigger() {
        let server = Server::start(SECRET).await;
        let big = vec![b'x'; MAX_BODY + 1];
        let signature = github_signature(SECRET.as_bytes(), &big);
        let (status, _) = server
            .post(
                &[
                    ("x-hub-signature-256", &signature),
                    ("x-gitlab-token", SECRET),
                ],
                &big,
            )
            .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(server.pushes(), 0);

        // Exactly at the limit is still fine.
        let fits = vec![b'x'; MAX_BODY];
        let signature = github_signature(SECRET.as_bytes(), &fits);
        let (status, _) = server
            .post(&[("x-hub-signature-256", &signature)], &fits)
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(server.pushes(), 1);
        server.stop().await;
    }

    #[tokio::test]
    async fn healthz_answers_ok_and_get_webhook_is_not_allowed() {
        let server = Server::start(SECRET).await;
        let (status, body) = server.send(Method::GET, "/healthz", &[], Vec::new()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "ok");
        let (status, _) = server
            .send(
                Method::GET,
                "/v1/webhook",
                &[("x-gitlab-token", SECRET)],
                Vec::new(),
            )
            .await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(server.pushes(), 0);
        server.stop().await;
    }

    #[test]
    fn debug_hides_the_secret() {
        let secret = WebhookSecret::new(SECRET.as_bytes().to_vec());
        let shown = format!("{secret:?} {secret:#?}");
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert_eq!(format!("{secret:?}"), "WebhookSecret(***)");
    }

    #[test]
    fn from_file_trims_and_refuses_empty_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, format!("  {SECRET}\n")).unwrap();
        let secret = WebhookSecret::from_file(&path).unwrap();
        assert!(secret.verifies_gitlab(SECRET.as_bytes()));

        let empty = dir.path().join("empty");
        std::fs::write(&empty, " \n\t\n").unwrap();
        let error = WebhookSecret::from_file(&empty).unwrap_err();
        assert!(matches!(error, WebhookError::EmptySecret { .. }));
        assert!(error.to_string().contains("empty"), "{error}");
        assert!(error.to_string().contains(&empty.display().to_string()));

        let missing = dir.path().join("missing");
        let error = WebhookSecret::from_file(&missing).unwrap_err();
        assert!(matches!(error, WebhookError::ReadSecret { .. }));
        assert!(error.to_string().contains(&missing.display().to_string()));
    }

    #[test]
    fn hex_decoding() {
        assert_eq!(decode_hex(b"00ff7F"), Some(vec![0, 255, 127]));
        assert_eq!(decode_hex(b"abc"), None);
        assert_eq!(decode_hex(b"zz"), None);
        assert_eq!(decode_hex(b""), None);
    }
}
