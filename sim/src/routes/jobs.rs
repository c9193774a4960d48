//! Scheduled jobs: list a project's, read one, PUT it back (pause and resume).

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::routing::get;
use serde_json::Value;

use super::Shared;
use crate::Kind;
use crate::model::{Detail, Refusal};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/v4/projects/{project_id}/scheduledjobs", get(list))
        .route(
            "/v4/projects/{project_id}/scheduledjobs/{job_id}",
            get(read).put(put),
        )
}

async fn list(
    State(sim): State<Shared>,
    Path(project_id): Path<String>,
) -> Result<Json<Value>, Refusal> {
    let d = sim.deployment();
    d.require_project(&project_id)?;
    let jobs = d
        .jobs_of(&project_id)
        .filter_map(|e| match &e.detail {
            Detail::ScheduledJob { object } => Some(Value::Object(object.clone())),
            _ => None,
        })
        .collect();
    Ok(Json(Value::Array(jobs)))
}

async fn read(
    State(sim): State<Shared>,
    Path((project_id, job_id)): Path<(String, String)>,
) -> Result<Json<Value>, Refusal> {
    let d = sim.deployment();
    match d.get(Kind::ScheduledJob, &job_id) {
        Some(e) if e.project_id == project_id => match &e.detail {
            Detail::ScheduledJob { object } => Ok(Json(Value::Object(object.clone()))),
            _ => Err(Refusal::NotFound(format!("no scheduled job {job_id}"))),
        },
        _ => Err(Refusal::NotFound(format!(
            "no scheduled job {job_id} in project {project_id}"
        ))),
    }
}

async fn put(
    State(sim): State<Shared>,
    Path((project_id, job_id)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Result<Json<Value>, Refusal> {
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| Refusal::BadRequest(format!("the body is not valid JSON: {e}")))?;
    let (stored, changed) = sim.deployment().put_job(&project_id, &job_id, body)?;
    if !changed.is_empty() {
        sim.record_violation(
            Kind::ScheduledJob,
            &job_id,
            format!("PUT {}", uri.path()),
            format!(
                "the PUT changed fields other than isPaused: {}",
                changed.join(", ")
            ),
        );
    }
    Ok(Json(Value::Object(stored)))
}
