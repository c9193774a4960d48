//! Apps (`modelProducts`): list, read, stop, start.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::Shared;
use crate::sim::model::{AppStart, Detail, Execution, Refusal, Target};
use crate::snapshot::Kind;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/v4/modelProducts", get(list))
        .route("/v4/modelProducts/{id}", get(read))
        .route("/v4/modelProducts/{id}/stop", post(stop))
        .route("/v4/modelProducts/{id}/start", post(start))
}

fn app_json(e: &Execution, now_ms: u64) -> Value {
    let tier = match &e.detail {
        Detail::App {
            hardware_tier_id, ..
        } => hardware_tier_id.as_str(),
        _ => "",
    };
    json!({
        "id": e.id,
        "name": e.name,
        "description": format!("{} dashboard", e.name),
        "status": e.status(now_ms).label,
        "hardwareTierId": tier,
        "projectId": e.project_id,
        "publisher": { "userName": e.owner },
        "visibility": "GRANT_BASED",
    })
}

async fn list(State(sim): State<Shared>) -> Json<Value> {
    let now = sim.now_ms();
    let d = sim.deployment();
    Json(Value::Array(d.apps().map(|e| app_json(e, now)).collect()))
}

fn read_one(sim: &Shared, id: &str) -> Result<Json<Value>, Refusal> {
    let now = sim.now_ms();
    let d = sim.deployment();
    d.get(Kind::App, id)
        .map(|e| Json(app_json(e, now)))
        .ok_or_else(|| Refusal::NotFound(format!("no app with id {id}")))
}

async fn read(State(sim): State<Shared>, Path(id): Path<String>) -> Result<Json<Value>, Refusal> {
    read_one(&sim, &id)
}

async fn stop(State(sim): State<Shared>, Path(id): Path<String>) -> Result<Json<Value>, Refusal> {
    let now = sim.now_ms();
    sim.deployment()
        .request(Kind::App, &id, Target::Stopped, now)?;
    read_one(&sim, &id)
}

/// The body names the hardware tier and the volumes to mount; it is recorded as received so
/// tests can check what the client sent.
async fn start(
    State(sim): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, Refusal> {
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| Refusal::BadRequest(format!("the body is not valid JSON: {e}")))?
    };
    let tier = match body.get("hardwareTierId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(Refusal::BadRequest(
                "hardwareTierId must be a string".into(),
            ));
        }
    };
    let volumes = match body.get("externalVolumeMountIds") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            serde_json::from_value::<Vec<String>>(v.clone()).map_err(|_| {
                Refusal::BadRequest("externalVolumeMountIds must be an array of strings".into())
            })?,
        ),
    };
    let now = sim.now_ms();
    {
        let mut d = sim.deployment();
        d.request(Kind::App, &id, Target::Running, now)?;
        d.record_app_start(
            &id,
            AppStart {
                at_ms: now,
                hardware_tier_id: tier,
                external_volume_mount_ids: volumes,
            },
        )?;
    }
    read_one(&sim, &id)
}
