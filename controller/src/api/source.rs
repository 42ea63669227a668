//! The API's source routes: where the desired state comes from, the commits met,
//! fetch now, rollback and resume.
//!
//! | route | answer |
//! |---|---|
//! | `GET /v1/source` | [`SourceStatus`] |
//! | `GET /v1/history` | [`HistoryList`] (git only) |
//! | `POST /v1/source/fetch` | fetches and applies now, then [`SourceStatus`] |
//! | `POST /v1/source/rollback` | [`RollbackRequest`] → [`RollbackResponse`] |
//! | `POST /v1/source/resume` | follows the reference again, then [`SourceStatus`] |

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::server::AppState;
use super::types::{
    ErrorBody, HistoryList, RollbackRequest, RollbackResponse, SourceKind, SourceStatus,
};
use crate::runtime::controller::Controller;
use crate::source::git::follow::{GitSource, SourceError};

type Shared = State<AppState>;

/// The source routes, to merge into the API's router.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/source", get(status))
        .route("/v1/history", get(history))
        .route("/v1/source/fetch", post(fetch))
        .route("/v1/source/rollback", post(rollback))
        .route("/v1/source/resume", post(resume))
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(ErrorBody {
            error: message.into(),
        }),
    )
        .into_response()
}

fn not_git() -> Response {
    error(
        StatusCode::CONFLICT,
        "the desired state comes from a file, not git: there is nothing to fetch, roll back or resume",
    )
}

fn git(c: &AppState) -> Option<Arc<GitSource>> {
    c.git.clone()
}

/// The status of the file source: its path.
fn file_status(c: &Controller) -> SourceStatus {
    SourceStatus {
        kind: SourceKind::File,
        url: c.source().unwrap_or_default(),
        reference: None,
        path: None,
        interval_ms: None,
        last_fetched: None,
        last_fetch_time: None,
        last_fetch_error: None,
        last_applied: None,
        last_applied_time: None,
        failed: None,
        held_back: None,
        pinned: None,
        next_fetch: None,
    }
}

async fn status(State(c): Shared) -> Json<SourceStatus> {
    Json(match git(&c) {
        Some(g) => g.status(),
        None => file_status(&c),
    })
}

async fn history(State(c): Shared) -> Response {
    match git(&c) {
        Some(g) => Json(HistoryList { items: g.history() }).into_response(),
        None => not_git(),
    }
}

async fn fetch(State(c): Shared) -> Response {
    match git(&c) {
        Some(g) => {
            g.sync(&c).await;
            Json(g.status()).into_response()
        }
        None => not_git(),
    }
}

async fn resume(State(c): Shared) -> Response {
    match git(&c) {
        Some(g) => {
            g.resume(&c).await;
            Json(g.status()).into_response()
        }
        None => not_git(),
    }
}

async fn rollback(State(c): Shared, Json(req): Json<RollbackRequest>) -> Response {
    let Some(g) = git(&c) else {
        return not_git();
    };
    let (target, changes) = match g.rollback_plan(&c, req.commit.as_deref()).await {
        Ok(plan) => plan,
        Err(e @ (SourceError::NothingToRollBackTo | SourceError::InvalidCommit { .. })) => {
            return error(StatusCode::CONFLICT, e.to_string());
        }
        Err(SourceError::Git(e)) => return error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let current = g.status().last_applied;
    if !req.dry_run {
        g.rollback(&c, &target).await;
    }
    Json(RollbackResponse {
        target,
        current,
        changes,
        applied: !req.dry_run,
    })
    .into_response()
}
