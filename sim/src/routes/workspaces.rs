//! Workspaces: the paged admin dashboard, read one, stop.

use axum::Json;
use axum::Router;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Shared;
use crate::Kind;
use crate::config::UNKNOWN_STOPPING_WORD;
use crate::model::{Deployment, Detail, Execution, Refusal, Target};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/v4/workspace/adminDashboardRowData", get(list))
        .route(
            "/v4/workspace/project/{project_id}/workspace/{workspace_id}",
            get(read),
        )
        .route(
            "/v4/workspace/project/{project_id}/workspace/{workspace_id}/stop",
            post(stop),
        )
}

#[derive(Deserialize)]
struct PageQuery {
    limit: Option<usize>,
    offset: Option<usize>,
}

/// A dashboard row names its project by owner and name only, as the real one does.
fn row_json(e: &Execution, now_ms: u64, unknown_stopping_word: bool) -> Value {
    let (project_name, project_owner) = match &e.detail {
        Detail::Workspace {
            project_name,
            project_owner,
            ..
        } => (project_name.as_str(), project_owner.as_str()),
        _ => ("", ""),
    };
    json!({
        "workspaceId": e.id,
        "name": e.name,
        "projectName": project_name,
        "projectOwnerName": project_owner,
        "ownerUsername": e.owner,
        "workspaceState": match e.status(now_ms).label {
            "Stopping" if unknown_stopping_word => UNKNOWN_STOPPING_WORD,
            label => label,
        },
        "hardwareTierName": "Small",
    })
}

async fn list(
    State(sim): State<Shared>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, Refusal> {
    let limit = sim.config.page_size(q.limit.unwrap_or(10));
    let offset = q.offset.unwrap_or(0);
    if limit == 0 {
        return Err(Refusal::BadRequest("limit must be at least 1".into()));
    }
    let now = sim.now_ms();
    let mut d = sim.deployment();
    let rows = d.workspace_rows();
    let total = rows.len();
    let window = sim.config.workspace_window.unwrap_or(usize::MAX);
    let page: Vec<Value> = rows
        .take(window)
        .skip(offset)
        .take(limit)
        .map(|e| row_json(e, now, sim.config.unknown_stopping_word))
        .collect();
    if sim.config.shifting_workspaces {
        d.shift_workspaces(now);
    }
    Ok(Json(json!({ "tableRows": page, "totalEntries": total })))
}

fn workspace<'a>(
    d: &'a Deployment,
    project_id: &str,
    workspace_id: &str,
) -> Result<&'a Execution, Refusal> {
    d.get(Kind::Workspace, workspace_id)
        .filter(|e| e.project_id == project_id)
        .ok_or_else(|| {
            Refusal::NotFound(format!(
                "no workspace {workspace_id} in project {project_id}"
            ))
        })
}

fn workspace_json(e: &Execution, now_ms: u64) -> Value {
    let status = e.status(now_ms);
    let session = match status.session {
        Some((is_running, is_completed)) => json!({
            "sessionStatusInfo": { "isRunning": is_running, "isCompleted": is_completed },
        }),
        None => Value::Null,
    };
    json!({
        "id": e.id,
        "name": e.name,
        "projectId": e.project_id,
        "ownerUsername": e.owner,
        "state": status.label,
        "mostRecentSession": session,
    })
}

async fn read(
    State(sim): State<Shared>,
    Path((project_id, workspace_id)): Path<(String, String)>,
) -> Result<Json<Value>, Refusal> {
    let now = sim.now_ms();
    let d = sim.deployment();
    Ok(Json(workspace_json(
        workspace(&d, &project_id, &workspace_id)?,
        now,
    )))
}

async fn stop(
    State(sim): State<Shared>,
    Path((project_id, workspace_id)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<Value>, Refusal> {
    let now = sim.now_ms();
    let (answer, never_ran) = {
        let mut d = sim.deployment();
        let never_ran = matches!(
            workspace(&d, &project_id, &workspace_id)?.detail,
            Detail::Workspace {
                ever_ran: false,
                ..
            }
        );
        d.request(Kind::Workspace, &workspace_id, Target::Stopped, now)?;
        let answer = workspace_json(workspace(&d, &project_id, &workspace_id)?, now);
        (answer, never_ran)
    };
    if never_ran {
        sim.record_violation(
            Kind::Workspace,
            &workspace_id,
            format!("POST {}", uri.path()),
            "a stop of a workspace that never ran (mostRecentSession is null)".into(),
        );
    }
    Ok(Json(answer))
}
