//! `/__sim/`: inspection and control for tests. No key, no faults.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::{Shared, error};
use crate::Kind;
use crate::faults::FaultsPatch;
use crate::log::{RefusedStart, RequestLog, Violation};
use crate::model::{Refusal, Target};
use crate::view::SimState;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/__sim/state", get(state))
        .route("/__sim/requests", get(requests))
        .route("/__sim/violations", get(violations))
        .route("/__sim/refused-starts", get(refused_starts))
        .route("/__sim/token", post(rotate_token))
        .route("/__sim/faults", get(faults).post(set_faults))
        .route("/__sim/executions/{kind}", post(add_running))
        .route("/__sim/executions/{kind}/{id}/{action}", post(change))
        .route("/__sim/reset-counters", post(reset_counters))
}

async fn state(State(sim): State<Shared>) -> Json<SimState> {
    Json(sim.state())
}

async fn requests(State(sim): State<Shared>) -> Json<RequestLog> {
    Json(sim.requests())
}

async fn violations(State(sim): State<Shared>) -> Json<Vec<Violation>> {
    Json(sim.violations())
}

async fn refused_starts(State(sim): State<Shared>) -> Json<Vec<RefusedStart>> {
    Json(sim.refused_starts())
}

/// `{"token": "..."}`: the bearer token accepted from now on. The token is never echoed.
async fn rotate_token(State(sim): State<Shared>, body: Bytes) -> Response {
    let token = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("token").and_then(|t| t.as_str()).map(str::to_owned));
    let Some(token) = token else {
        return error(StatusCode::BAD_REQUEST, "expected {\"token\": \"...\"}");
    };
    match sim.rotate_token(&token) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

async fn faults(State(sim): State<Shared>) -> Response {
    Json(sim.faults()).into_response()
}

async fn set_faults(State(sim): State<Shared>, body: Bytes) -> Response {
    let patch: FaultsPatch = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("not a faults patch: {e}")),
    };
    match sim.set_faults(&patch) {
        Ok(f) => Json(f).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

fn parse_kind(kind: &str) -> Result<Kind, Refusal> {
    kind.parse().map_err(Refusal::BadRequest)
}

async fn add_running(
    State(sim): State<Shared>,
    Path(kind): Path<String>,
) -> Result<Response, Refusal> {
    let id = sim.add_running(parse_kind(&kind)?)?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))).into_response())
}

async fn change(
    State(sim): State<Shared>,
    Path((kind, id, action)): Path<(String, String, String)>,
) -> Result<Json<serde_json::Value>, Refusal> {
    let kind = parse_kind(&kind)?;
    // A user restarts a Job from the UI (a new job of its command, by another user, or by the
    // identity the key acts as): what a maintenance tool must not repeat.
    if kind == Kind::Job && matches!(action.as_str(), "restart-by-user" | "restart-by-key-owner") {
        let new_id = sim.restart_job_by_user(&id, action == "restart-by-key-owner")?;
        return Ok(Json(json!({ "id": id, "restarted_as": new_id })));
    }
    let target = match action.as_str() {
        "start" => Target::Running,
        "stop" => Target::Stopped,
        other => {
            return Err(Refusal::NotFound(format!(
                "unknown action '{other}' (start, stop; for a Job also restart-by-user, restart-by-key-owner)"
            )));
        }
    };
    sim.force(kind, &id, target)?;
    let status = sim
        .state()
        .get(kind, &id)
        .map(|e| e.status.clone())
        .unwrap_or_default();
    Ok(Json(json!({ "id": id, "status": status })))
}

async fn reset_counters(State(sim): State<Shared>) -> StatusCode {
    sim.reset_counters();
    StatusCode::NO_CONTENT
}
