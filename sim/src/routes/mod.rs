//! The HTTP surface: the Domino routes of `docs/domino-api.md` (behind the key check and the fault
//! injection) and the `/__sim/` inspection and control routes (neither).

mod apps;
mod batch_jobs;
mod control;
mod guard;
mod jobs;
mod meta;
mod models;
mod projects;
mod workspaces;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::model::Refusal;
use super::simulator::Simulator;

/// The header Domino reads an API key from (the guard checks it; who-am-I tells keys apart).
pub const API_KEY_HEADER: &str = "X-Domino-Api-Key";

pub(crate) type Shared = Arc<Simulator>;

pub fn router(sim: Shared) -> Router {
    let domino = Router::new()
        .merge(projects::routes())
        .merge(apps::routes())
        .merge(models::routes())
        .merge(workspaces::routes())
        .merge(jobs::routes())
        .merge(batch_jobs::routes())
        .merge(meta::routes())
        // After the key check, as Domino answers: a JSON message, not an empty 404.
        .fallback(unknown_route)
        // The last layer added runs first: faults (and the log) wrap the key check.
        .layer(from_fn_with_state(sim.clone(), guard::require_key))
        .layer(from_fn_with_state(sim.clone(), guard::faults_and_log));
    let prefix = sim.config.normalized_prefix();
    let domino = if prefix.is_empty() {
        domino
    } else {
        Router::new().nest(&prefix, domino)
    };
    domino.merge(control::routes()).with_state(sim)
}

async fn unknown_route(uri: axum::http::Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("no such endpoint: {}", uri.path()),
    )
}

/// Errors are answered as Domino does: a status and `{"message": ...}`.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "message": message.into() }))).into_response()
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::NotFound(m) => error(StatusCode::NOT_FOUND, m),
            Refusal::BadRequest(m) => error(StatusCode::BAD_REQUEST, m),
        }
    }
}
