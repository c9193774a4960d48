//! Projects and their data mounts.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Shared;
use crate::model::{Project, Refusal};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/v4/projects", get(list_projects))
        .route(
            "/v4/gateway/projects/findProjectByOwnerAndName",
            get(find_project),
        )
        .route("/v4/datamount/projects/{project_id}", get(list_datamounts))
}

fn project_json(p: &Project) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "ownerUsername": p.owner,
        "description": format!("{} project", p.name),
        "visibility": "Private",
    })
}

async fn list_projects(State(sim): State<Shared>) -> Json<Value> {
    let d = sim.deployment();
    let projects: Vec<Value> = d
        .projects
        .iter()
        .filter(|p| p.listed)
        .map(project_json)
        .collect();
    Json(Value::Array(projects))
}

#[derive(Deserialize)]
struct FindQuery {
    #[serde(rename = "ownerName")]
    owner_name: Option<String>,
    #[serde(rename = "projectName")]
    project_name: Option<String>,
}

/// One project by its owner's username and its name, as python-domino resolves every project
/// it is given as `owner/name`; 400 without both, 404 for none.
async fn find_project(
    State(sim): State<Shared>,
    Query(q): Query<FindQuery>,
) -> Result<Json<Value>, Refusal> {
    let (Some(owner), Some(name)) = (q.owner_name, q.project_name) else {
        return Err(Refusal::BadRequest(
            "ownerName and projectName are required".into(),
        ));
    };
    let d = sim.deployment();
    d.projects
        .iter()
        .find(|p| p.owner == owner && p.name == name)
        .map(|p| Json(project_json(p)))
        .ok_or_else(|| Refusal::NotFound(format!("no project {name} owned by {owner}")))
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
