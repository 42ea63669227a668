//! The daemon's HTTP API on a unix socket.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::auth::same_secret;
use super::types::{
    ColumnInfo, ErrorBody, EventEntry, EventList, KindInfo, ReconcileRequest, ReconcileResponse,
    ResourceDetail, ResourceList,
};
use crate::runtime::controller::Controller;
use crate::runtime::kind::ObjectRef;
use crate::source::SourceControl;

/// Where the daemon listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/holdfast/holdfast.sock";

/// The socket path: `HOLDFAST_SOCKET`, or [`DEFAULT_SOCKET`].
pub fn default_socket() -> PathBuf {
    std::env::var_os("HOLDFAST_SOCKET")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

/// What the API's handlers share: the controller, and the source the desired state
/// comes from.
#[derive(Clone)]
pub struct AppState {
    /// The controller: resources, events, metrics, reconcile-now.
    pub controller: Arc<Controller>,
    /// The source: its status, and (git) fetch, history, rollback and resume.
    pub source: Arc<dyn SourceControl>,
    /// Where start-first updates keep their records, when the daemon has them.
    pub updates: Option<crate::resources::service::rollout::record::Records>,
}

impl AppState {
    /// The API's state for `controller`, fed by `source`.
    pub fn new(controller: Arc<Controller>, source: Arc<dyn SourceControl>) -> Self {
        AppState {
            controller,
            source,
            updates: None,
        }
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("controller", &self.controller)
            .finish_non_exhaustive()
    }
}

impl std::ops::Deref for AppState {
    type Target = Controller;
    fn deref(&self) -> &Controller {
        &self.controller
    }
}

type Shared = State<AppState>;

/// An error answer: a status and a message, sent as [`ErrorBody`].
#[derive(Debug)]
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(ErrorBody { error: self.1 })).into_response()
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError(status, message.into())
}

/// The API's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/v1/resources", get(resources))
        .route("/v1/resources/{kind}/{name}", get(resource))
        .route("/v1/resources/{kind}/{name}/suspend", post(suspend))
        .route("/v1/resources/{kind}/{name}/resume", post(resume))
        .route("/v1/events", get(events))
        .route("/v1/reconcile", post(reconcile))
        .route("/metrics", get(metrics))
        .route("/v1/diff", get(diff))
        .route("/v1/kinds", get(kinds))
        .route("/v1/updates", get(updates))
        .route(
            "/v1/resources/service/{name}/rollback",
            post(rollback_service),
        )
        .merge(super::source::routes())
        .with_state(state)
}

async fn updates(State(c): Shared) -> Response {
    let items = match (&c.updates, c.project()) {
        (Some(records), Some(project)) => records.history(&project),
        _ => Vec::new(),
    };
    Json(super::types::UpdateList { items }).into_response()
}

async fn rollback_service(
    State(c): Shared,
    UrlPath(name): UrlPath<String>,
    Json(req): Json<super::types::ServiceRollbackRequest>,
) -> Response {
    let (Some(records), Some(project)) = (&c.updates, c.project()) else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no desired state loaded yet",
        )
        .into_response();
    };
    let key = crate::runtime::kind::ObjectRef::new("service", &name);
    if !c.knows(&key) {
        return error(StatusCode::NOT_FOUND, format!("no resource `{key}`")).into_response();
    }
    let record = records.load(&project, &name);
    let Some(revision) = record.rollback_target(req.to) else {
        let known: Vec<String> = record
            .revisions
            .iter()
            .map(|r| r.number.to_string())
            .collect();
        let message = match req.to {
            Some(n) if !known.is_empty() => format!(
                "service/{name} has no revision {n}; it has {}",
                known.join(", ")
            ),
            _ => format!(
                "service/{name} has no earlier revision to go back to: a start-first service keeps one for each update that finished"
            ),
        };
        return error(StatusCode::CONFLICT, message).into_response();
    };
    let response = super::types::ServiceRollbackResponse {
        service: name.clone(),
        from_image: match (record.before_update(), &record.to) {
            (Some(_), Some(to)) => Some(to.image.clone()),
            _ => record.current.as_ref().map(|d| d.image.clone()),
        },
        to_image: revision.desired.image.clone(),
        revision: revision.number,
        applied: !req.dry_run,
    };
    if !req.dry_run {
        // Each replica keeps its own record: each goes back to its revision of the
        // same spec.
        let replicas = c
            .desired_state()
            .and_then(|s| s.services.get(&name).map(|s| s.replicas()))
            .unwrap_or(1);
        for n in 1..=replicas.max(1) {
            let instance = crate::resources::route::ports::instance(&name, n);
            let number = if n == 1 {
                Some(revision.number)
            } else {
                records
                    .load(&project, &instance)
                    .revision_of(&revision.desired.spec_hash)
            };
            let Some(number) = number else {
                continue;
            };
            if let Err(e) = records.request_rollback(&project, &instance, number) {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("cannot ask for the rollback: {e}"),
                )
                .into_response();
            }
        }
        c.trigger(&key);
    }
    Json(response).into_response()
}

async fn diff(State(c): Shared) -> Response {
    match c.desired_state() {
        Some(state) => Json(super::types::DiffList {
            items: c.diffs(&state).await,
        })
        .into_response(),
        None => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no valid desired state loaded yet",
        )
        .into_response(),
    }
}

async fn metrics(State(c): Shared) -> Response {
    (
        [(header::CONTENT_TYPE, crate::runtime::metrics::CONTENT_TYPE)],
        c.metrics_text(),
    )
        .into_response()
}

async fn readyz(State(c): Shared) -> Response {
    match c.project() {
        Some(project) => (StatusCode::OK, format!("ready: project {project}\n")).into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "no valid desired state loaded yet\n",
        )
            .into_response(),
    }
}

fn kind_infos(c: &Controller) -> Vec<KindInfo> {
    c.registry()
        .kinds()
        .map(|k| KindInfo {
            kind: k.kind().to_string(),
            aliases: k.aliases().iter().map(|a| a.to_string()).collect(),
            columns: k
                .columns()
                .iter()
                .map(|col| ColumnInfo {
                    name: col.name.to_string(),
                    show: col.show,
                })
                .collect(),
        })
        .collect()
}

async fn kinds(State(c): Shared) -> Json<Vec<KindInfo>> {
    Json(kind_infos(&c))
}

async fn resources(State(c): Shared) -> Json<ResourceList> {
    Json(ResourceList {
        project: c.project(),
        source: c.source(),
        kinds: kind_infos(&c),
        items: c.statuses().into_values().collect(),
    })
}

/// `KIND/NAME` with the kind in its canonical spelling (`svc/web` is `service/web`);
/// 404 for a kind this controller does not drive.
fn object_ref(c: &Controller, kind: &str, name: &str) -> Result<ObjectRef, ApiError> {
    c.registry()
        .canonical(kind)
        .map(|kind| ObjectRef::new(kind, name))
        .map_err(|e| error(StatusCode::NOT_FOUND, e.to_string()))
}

fn recent_events(
    c: &Controller,
    object: Option<&str>,
    since: u64,
    limit: usize,
) -> Result<Vec<EventEntry>, ApiError> {
    let Some(store) = c.store() else {
        return Ok(Vec::new());
    };
    let project = c.project();
    let items = if since > 0 {
        store.events_since(since)
    } else {
        store.events(project.as_deref(), object, limit)
    }
    .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(items
        .into_iter()
        .filter(|(_, e)| object.is_none_or(|o| e.object == o))
        .map(|(seq, event)| EventEntry { seq, event })
        .collect())
}

async fn resource(State(c): Shared, UrlPath((kind, name)): UrlPath<(String, String)>) -> Response {
    let key = match object_ref(&c, &kind, &name) {
        Ok(k) => k,
        Err(r) => return r.into_response(),
    };
    let Some(status) = c.statuses().remove(&key.to_string()) else {
        return error(StatusCode::NOT_FOUND, format!("no resource `{key}`")).into_response();
    };
    let events = match recent_events(&c, Some(&key.to_string()), 0, 20) {
        Ok(e) => e,
        Err(r) => return r.into_response(),
    };
    let columns = kind_infos(&c)
        .into_iter()
        .find(|k| k.kind == key.kind)
        .map(|k| k.columns)
        .unwrap_or_default();
    Json(ResourceDetail {
        status,
        columns,
        desired: c.desired_spec(&key),
        events,
    })
    .into_response()
}

#[derive(Debug, Deserialize)]
struct EventQuery {
    object: Option<String>,
    since: Option<u64>,
    limit: Option<usize>,
}

async fn events(State(c): Shared, Query(q): Query<EventQuery>) -> Response {
    // `svc/web` is `service/web`; `project` and `source` are objects of their own.
    let object = q.object.map(|o| {
        ObjectRef::parse(&o)
            .and_then(|k| object_ref(&c, &k.kind, &k.name).ok())
            .map_or(o, |k| k.to_string())
    });
    match recent_events(
        &c,
        object.as_deref(),
        q.since.unwrap_or(0),
        q.limit.unwrap_or(200),
    ) {
        Ok(items) => Json(EventList { items }).into_response(),
        Err(r) => r.into_response(),
    }
}

async fn reconcile(State(c): Shared, Json(req): Json<ReconcileRequest>) -> Response {
    let keys = match req.key.as_deref() {
        None => Vec::new(),
        Some(key) => {
            // A bare name is a service, as kubectl takes a bare name in its default kind.
            let (kind, name) = key.split_once('/').unwrap_or(("service", key));
            match object_ref(&c, kind, name) {
                Ok(k) => vec![k],
                Err(r) => return r.into_response(),
            }
        }
    };
    if let Some(unknown) = keys.iter().find(|k| !c.knows(k)) {
        return error(StatusCode::NOT_FOUND, format!("no resource `{unknown}`")).into_response();
    }
    let timeout = Duration::from_millis(req.timeout_ms.unwrap_or(30_000).min(600_000));
    let (completed, items) = c.reconcile_now(&keys, timeout).await;
    Json(ReconcileResponse { completed, items }).into_response()
}

async fn set_suspended(c: &Controller, kind: &str, name: &str, suspended: bool) -> Response {
    let key = match object_ref(c, kind, name) {
        Ok(k) => k,
        Err(r) => return r.into_response(),
    };
    match c.set_suspended(&key, suspended) {
        Some(status) => Json(status).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no resource `{key}`")).into_response(),
    }
}

async fn suspend(State(c): Shared, UrlPath((kind, name)): UrlPath<(String, String)>) -> Response {
    set_suspended(&c, &kind, &name, true).await
}

async fn resume(State(c): Shared, UrlPath((kind, name)): UrlPath<(String, String)>) -> Response {
    set_suspended(&c, &kind, &name, false).await
}

/// Serves the API on TCP, where every request must carry `Authorization: Bearer TOKEN`;
/// anything else gets 401. Runs until shutdown.
pub async fn serve_tcp(
    listener: tokio::net::TcpListener,
    state: AppState,
    token: String,
) -> std::io::Result<()> {
    let mut closed = state.controller.closed();
    let expected = format!("Bearer {token}").into_bytes();
    let app = router(state).layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let expected = expected.clone();
            async move {
                let given = req
                    .headers()
                    .get(header::AUTHORIZATION)
                    .map(|v| v.as_bytes().to_vec())
                    .unwrap_or_default();
                if same_secret(&given, &expected) {
                    next.run(req).await
                } else {
                    error(StatusCode::UNAUTHORIZED, "a valid bearer token is required")
                        .into_response()
                }
            }
        },
    ));
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = closed.wait_for(|c| *c).await;
        })
        .await
}

/// Why the API could not listen.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {}: {source}", path.display())]
pub struct ListenError {
    /// The socket path.
    pub path: PathBuf,
    /// Why.
    pub source: std::io::Error,
}

/// Binds the unix socket at `path` (mode 0660, parent folder created), replacing a
/// stale socket file left by a controller that died.
pub fn bind(path: &Path) -> Result<tokio::net::UnixListener, ListenError> {
    let fail = |source| ListenError {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(fail(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "another holdfast controller answers on this socket",
            )));
        }
        std::fs::remove_file(path).map_err(fail)?;
    }
    let listener = tokio::net::UnixListener::bind(path).map_err(fail)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(fail)?;
    Ok(listener)
}

/// Serves the API on `listener` until `shutdown` turns true.
pub async fn serve(listener: tokio::net::UnixListener, state: AppState) -> std::io::Result<()> {
    let mut closed = state.controller.closed();
    let app = router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = closed.wait_for(|c| *c).await;
        })
        .await
}
