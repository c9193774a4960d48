//! Model APIs and their versions: list models, page versions, read, stop, start.

use axum::Json;
use axum::Router;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Shared;
use crate::Kind;
use crate::model::{Deployment, Detail, Execution, Model, Refusal, Target};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/v4/modelManager/getModels", get(list_models))
        .route("/models/{model_id}/versions/json", get(list_versions))
        .route(
            "/models/{model_id}/versions/{version_id}/json",
            get(read_version),
        )
        .route(
            "/v4/models/{model_id}/{version_id}/stopModelDeployment",
            post(stop),
        )
        .route(
            "/v4/models/{model_id}/{version_id}/startModelDeployment",
            post(start),
        )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ModelsQuery {
    project_id: Option<String>,
}

async fn list_models(
    State(sim): State<Shared>,
    Query(q): Query<ModelsQuery>,
) -> Result<Json<Value>, Refusal> {
    let project_id = q
        .project_id
        .ok_or_else(|| Refusal::BadRequest("projectId is required".into()))?;
    let d = sim.deployment();
    d.require_project(&project_id)?;
    let models: Vec<Value> = d
        .models
        .iter()
        .filter(|m| m.project_id == project_id)
        .map(|m| {
            json!({
                "id": m.id,
                "name": m.name,
                "projectId": m.project_id,
                "activeModelVersionId": m.active_version_id,
                "description": format!("{} scoring API", m.name),
            })
        })
        .collect();
    Ok(Json(Value::Array(models)))
}

fn version_json(e: &Execution, now_ms: u64) -> Value {
    let status = e.status(now_ms);
    let (model_id, number) = match &e.detail {
        Detail::ModelVersion {
            model_id, number, ..
        } => (model_id.as_str(), *number),
        _ => ("", 0),
    };
    json!({
        "id": e.id,
        "modelId": model_id,
        "number": number,
        "deploymentStatus": { "name": status.label, "isPending": status.is_pending },
        "creator": { "name": e.owner },
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageQuery {
    page_number: Option<usize>,
    page_size: Option<usize>,
}

fn find_model<'a>(d: &'a Deployment, model_id: &str) -> Result<&'a Model, Refusal> {
    d.model(model_id)
        .ok_or_else(|| Refusal::NotFound(format!("no model with id {model_id}")))
}

async fn list_versions(
    State(sim): State<Shared>,
    Path(model_id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, Refusal> {
    let page_number = q.page_number.unwrap_or(1);
    let page_size = q.page_size.unwrap_or(10);
    if page_number == 0 || page_size == 0 {
        return Err(Refusal::BadRequest(
            "pageNumber and pageSize start at 1".into(),
        ));
    }
    // A capped server pages by the size it serves: page 2 starts after the capped page 1.
    let page_size = sim.config.page_size(page_size);
    let now = sim.now_ms();
    let d = sim.deployment();
    let model = find_model(&d, &model_id)?;
    let results: Vec<Value> = d
        .versions_of(model)
        .skip((page_number - 1).saturating_mul(page_size))
        .take(page_size)
        .map(|e| version_json(e, now))
        .collect();
    Ok(Json(json!({ "results": results })))
}

fn version<'a>(
    d: &'a Deployment,
    model_id: &str,
    version_id: &str,
) -> Result<&'a Execution, Refusal> {
    find_model(d, model_id)?;
    d.get(Kind::ModelApiVersion, version_id)
        .filter(|e| matches!(&e.detail, Detail::ModelVersion { model_id: m, .. } if m == model_id))
        .ok_or_else(|| Refusal::NotFound(format!("model {model_id} has no version {version_id}")))
}

async fn read_version(
    State(sim): State<Shared>,
    Path((model_id, version_id)): Path<(String, String)>,
) -> Result<Json<Value>, Refusal> {
    let now = sim.now_ms();
    let d = sim.deployment();
    let e = version(&d, &model_id, &version_id)?;
    Ok(Json(json!({ "result": version_json(e, now) })))
}

fn change(
    sim: &Shared,
    model_id: &str,
    version_id: &str,
    target: Target,
    request: String,
) -> Result<Json<Value>, Refusal> {
    let now = sim.now_ms();
    let mut d = sim.deployment();
    version(&d, model_id, version_id)?;
    // Domino refuses to start a version already starting or running (400).
    if target == Target::Running {
        sim.start_unless_under_way(&mut d, Kind::ModelApiVersion, version_id, request)?;
    }
    d.request(Kind::ModelApiVersion, version_id, target, now)?;
    let e = version(&d, model_id, version_id)?;
    Ok(Json(json!({ "result": version_json(e, now) })))
}

async fn stop(
    State(sim): State<Shared>,
    Path((model_id, version_id)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<Value>, Refusal> {
    change(
        &sim,
        &model_id,
        &version_id,
        Target::Stopped,
        format!("POST {}", uri.path()),
    )
}

async fn start(
    State(sim): State<Shared>,
    Path((model_id, version_id)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<Value>, Refusal> {
    let answer = change(
        &sim,
        &model_id,
        &version_id,
        Target::Running,
        format!("POST {}", uri.path()),
    )?;
    let active = sim
        .deployment()
        .model(&model_id)
        .and_then(|m| m.active_version_id.clone());
    if active.as_deref() != Some(version_id.as_str()) {
        sim.record_violation(
            Kind::ModelApiVersion,
            &version_id,
            format!("POST {}", uri.path()),
            format!(
                "a start of a version that is not its model's active version ({})",
                active.as_deref().unwrap_or("none")
            ),
        );
    }
    Ok(answer)
}
