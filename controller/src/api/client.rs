//! The CLI's side of the API: HTTP/1.1 over the daemon's unix socket.

use std::path::{Path, PathBuf};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::types::{
    ErrorBody, EventList, ReconcileRequest, ReconcileResponse, ResourceDetail, ResourceList,
    ResourceStatus,
};

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens on the socket.
    #[error("no holdfast controller is running at {} ({reason}); start one with `holdfast run -f FILE`, or point --socket / HOLDFAST_SOCKET at it", socket.display())]
    NotRunning {
        /// The socket tried.
        socket: PathBuf,
        /// What connecting said.
        reason: String,
    },
    /// The controller answered with an error.
    #[error("the controller answered {status}: {message}")]
    Api {
        /// HTTP status.
        status: StatusCode,
        /// Its message.
        message: String,
    },
    /// The conversation broke off.
    #[error("talking to the controller failed: {0}")]
    Transport(String),
}

/// A client of one controller.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
}

impl Client {
    /// Talks to the controller listening on `socket`.
    pub fn new(socket: &Path) -> Self {
        Client {
            socket: socket.to_path_buf(),
        }
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let body = self.call_raw(method, path, body).await?;
        serde_json::from_slice(&body)
            .map_err(|e| ClientError::Transport(format!("unexpected answer: {e}")))
    }

    async fn call_raw<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<Bytes, ClientError> {
        let stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .map_err(|e| ClientError::NotRunning {
                socket: self.socket.clone(),
                reason: e.to_string(),
            })?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        tokio::spawn(connection);
        let bytes = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| ClientError::Transport(e.to_string()))?,
            None => Vec::new(),
        };
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "holdfast")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?
            .to_bytes();
        if !status.is_success() {
            let message = serde_json::from_slice::<ErrorBody>(&body)
                .map(|e| e.error)
                .unwrap_or_else(|_| String::from_utf8_lossy(&body).trim().to_string());
            return Err(ClientError::Api { status, message });
        }
        Ok(body)
    }

    /// The Prometheus exposition `/metrics` serves.
    pub async fn metrics(&self) -> Result<String, ClientError> {
        let body = self.call_raw::<()>(Method::GET, "/metrics", None).await?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// Every resource.
    pub async fn resources(&self) -> Result<ResourceList, ClientError> {
        self.call::<(), _>(Method::GET, "/v1/resources", None).await
    }

    /// One resource (`KIND/NAME`; the controller knows the kinds' short names, such as
    /// `svc/web`).
    pub async fn resource(&self, key: &str) -> Result<ResourceDetail, ClientError> {
        self.call::<(), _>(Method::GET, &format!("/v1/resources/{key}"), None)
            .await
    }

    /// Recent events, optionally of one object and after a sequence number.
    pub async fn events(
        &self,
        object: Option<&str>,
        since: u64,
        limit: usize,
    ) -> Result<EventList, ClientError> {
        let mut path = format!("/v1/events?limit={limit}&since={since}");
        if let Some(o) = object {
            path.push_str(&format!("&object={}", o.replace('/', "%2F")));
        }
        self.call::<(), _>(Method::GET, &path, None).await
    }

    /// The desired-vs-live diff of every resource, as the daemon sees it.
    pub async fn diff(&self) -> Result<super::types::DiffList, ClientError> {
        self.call::<(), _>(Method::GET, "/v1/diff", None).await
    }

    /// Asks for a reconcile now and waits for it.
    pub async fn reconcile(
        &self,
        request: &ReconcileRequest,
    ) -> Result<ReconcileResponse, ClientError> {
        self.call(Method::POST, "/v1/reconcile", Some(request))
            .await
    }

    /// Where the desired state comes from.
    pub async fn source(&self) -> Result<super::types::SourceStatus, ClientError> {
        self.call::<(), _>(Method::GET, "/v1/source", None).await
    }

    /// The commits the git source met.
    pub async fn history(&self) -> Result<super::types::HistoryList, ClientError> {
        self.call::<(), _>(Method::GET, "/v1/history", None).await
    }

    /// Fetches the git source now, applies, and answers its status.
    pub async fn fetch_source(&self) -> Result<super::types::SourceStatus, ClientError> {
        self.call::<(), _>(Method::POST, "/v1/source/fetch", None)
            .await
    }

    /// Previews (dry run) or performs a rollback of the git source.
    pub async fn rollback(
        &self,
        request: &super::types::RollbackRequest,
    ) -> Result<super::types::RollbackResponse, ClientError> {
        self.call(Method::POST, "/v1/source/rollback", Some(request))
            .await
    }

    /// The start-first updates that ended.
    pub async fn updates(&self) -> Result<super::types::UpdateList, ClientError> {
        self.call::<(), _>(Method::GET, "/v1/updates", None).await
    }

    /// Previews (dry run) or asks for a rollback of a start-first service.
    pub async fn rollback_service(
        &self,
        service: &str,
        request: &super::types::ServiceRollbackRequest,
    ) -> Result<super::types::ServiceRollbackResponse, ClientError> {
        self.call(
            Method::POST,
            &format!("/v1/resources/service/{service}/rollback"),
            Some(request),
        )
        .await
    }

    /// Unpins the git source after a rollback.
    pub async fn resume_source(&self) -> Result<super::types::SourceStatus, ClientError> {
        self.call::<(), _>(Method::POST, "/v1/source/resume", None)
            .await
    }

    /// Suspends (`true`) or resumes a resource.
    pub async fn set_suspended(
        &self,
        key: &str,
        suspended: bool,
    ) -> Result<ResourceStatus, ClientError> {
        let verb = if suspended { "suspend" } else { "resume" };
        self.call::<(), _>(Method::POST, &format!("/v1/resources/{key}/{verb}"), None)
            .await
    }
}
