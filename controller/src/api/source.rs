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

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::server::AppState;
use super::types::{ErrorBody, HistoryList, RollbackRequest, RollbackResponse, SourceStatus};
use crate::source::{RollbackPlan, SourceError};

type Shared = State<AppState>;

/// The source routes, to merge into the API's router.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/source", get(status))
        .route("/v1/history", get(history))
        .route("/v1/source/fetch", post(fetch))
        .route("/v1/source/resume", post(resume))
        .route("/v1/source/rollback", post(rollback))
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

/// The answer to a source that cannot do what was asked.
fn refusal(e: &SourceError) -> Response {
    let status = match e {
        SourceError::NotGit
        | SourceError::NothingToRollBackTo
        | SourceError::InvalidCommit { .. } => StatusCode::CONFLICT,
        SourceError::Git(_) => StatusCode::NOT_FOUND,
        SourceError::FetchTimeout { .. } | SourceError::Task(_) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    error(status, e.to_string())
}

/// `Json(value)`, or the refusal.
fn answer<T: serde::Serialize>(result: Result<T, SourceError>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(e) => refusal(&e),
    }
}

async fn status(State(s): Shared) -> Json<SourceStatus> {
    Json(s.source.status())
}

async fn history(State(s): Shared) -> Response {
    answer(s.source.history().map(|items| HistoryList { items }))
}

async fn fetch(State(s): Shared) -> Response {
    answer(s.source.fetch().await)
}

async fn resume(State(s): Shared) -> Response {
    answer(s.source.resume().await)
}

async fn rollback(State(s): Shared, Json(req): Json<RollbackRequest>) -> Response {
    let RollbackPlan { target, changes } = match s.source.rollback_plan(req.commit.as_deref()).await
    {
        Ok(plan) => plan,
        Err(e) => return refusal(&e),
    };
    let current = s.source.status().last_applied;
    if !req.dry_run
        && let Err(e) = s.source.rollback(&target).await
    {
        return refusal(&e);
    }
    Json(RollbackResponse {
        target,
        current,
        changes,
        applied: !req.dry_run,
    })
    .into_response()
}
