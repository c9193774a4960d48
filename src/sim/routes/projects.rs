//! Projects and their data mounts.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use serde_json::{Value, json};

use super::Shared;
use crate::sim::model::Refusal;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/v4/projects", get(list_projects))
        .route("/v4/datamount/projects/{project_id}", get(list_datamounts))
}

async fn list_projects(State(sim): State<Shared>) -> Json<Value> {
    let d = sim.deployment();
    let projects: Vec<Value> = d
        .projects
        .iter()
        .filter(|p| p.listed)
        .map(|p| {
            json!({
                "id": p.id,
                "name": p.name,
                "ownerUsername": p.owner,
                "description": format!("{} project", p.name),
                "visibility": "Private",
            })
        })
        .collect();
    Json(Value::Array(projects))
}

async fn list_datamounts(
    State(sim): State<Shared>,
    Path(project_id): Path<String>,
) -> Result<Json<Value>, Refusal> {
    let d = sim.deployment();
    d.require_project(&project_id)?;
    let mounts: Vec<Value> = d
        .datamounts
        .get(&project_id)
        .into_iter()
        .flatten()
        .map(|m| {
            let planes: Vec<Value> = m
                .planes_local
                .iter()
                .enumerate()
                .map(|(i, local)| json!({ "id": format!("{}-plane-{i}", m.id), "isLocal": local }))
                .collect();
            json!({ "id": m.id, "name": m.name, "volumeType": "Nfs", "dataPlanes": planes })
        })
        .collect();
    Ok(Json(Value::Array(mounts)))
}
