//! Apps (`modelProducts`): list, read, stop, start.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeSet;

use super::Shared;
use crate::Kind;
use crate::model::{AppStart, Detail, Execution, Refusal, Target};

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

#[derive(Deserialize)]
struct ListQuery {
    #[serde(rename = "projectId")]
    project_id: Option<String>,
}

/// Every App, or with `projectId` only that project's (python-domino finds a project's App
/// as the first of this list). An unknown project lists none, as a filter would.
async fn list(State(sim): State<Shared>, Query(q): Query<ListQuery>) -> Json<Value> {
    let now = sim.now_ms();
    let d = sim.deployment();
    Json(Value::Array(
        d.apps()
            .filter(|e| q.project_id.as_ref().is_none_or(|p| *p == e.project_id))
            .map(|e| app_json(e, now))
            .collect(),
    ))
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
/// tests can check what the client sent. A tier or a volume that does not exist is refused, as
/// Domino does (400), and so is a start of an app already starting or running; another tier or other volumes than the app ran with are served, and
/// recorded as violations.
async fn start(
    State(sim): State<Shared>,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Result<Json<Value>, Refusal> {
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| Refusal::BadRequest(format!("the body is not valid JSON: {e}")))?;
    if !body.is_object() {
        return Err(Refusal::BadRequest("the body must be a JSON object".into()));
    }
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
    let violations = {
        let mut d = sim.deployment();
        let app = d
            .get(Kind::App, &id)
            .ok_or_else(|| Refusal::NotFound(format!("no app with id {id}")))?;
        let ran_on = match &app.detail {
            Detail::App {
                hardware_tier_id, ..
            } => hardware_tier_id.clone(),
            _ => String::new(),
        };
        let ran_with: BTreeSet<String> = d.local_volume_ids(&app.project_id).into_iter().collect();
        if let Some(t) = &tier
            && !d.knows_tier(t)
        {
            return Err(Refusal::BadRequest(format!("no hardware tier with id {t}")));
        }
        if let Some(unknown) = volumes.iter().flatten().find(|v| !d.volume_exists(v)) {
            return Err(Refusal::BadRequest(format!(
                "no external data volume with id {unknown}"
            )));
        }
        let mut violations = Vec::new();
        match &tier {
            Some(t) if *t == ran_on => {}
            Some(t) => violations.push(format!("started on hardware tier {t}, it ran on {ran_on}")),
            None => violations.push(format!(
                "started with no hardware tier (Domino picks a default), it ran on {ran_on}"
            )),
        }
        let sent: BTreeSet<String> = volumes.iter().flatten().cloned().collect();
        if sent != ran_with {
            let list = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(", ");
            violations.push(format!(
                "started with volumes [{}], it ran with [{}]",
                list(&sent),
                list(&ran_with)
            ));
        }
        sim.start_unless_under_way(&mut d, Kind::App, &id, format!("POST {}", uri.path()))?;
        d.request(Kind::App, &id, Target::Running, now)?;
        d.record_app_start(
            &id,
            AppStart {
                at_ms: now,
                hardware_tier_id: tier,
                external_volume_mount_ids: volumes,
            },
        )?;
        violations
    };
    for what in violations {
        sim.record_violation(Kind::App, &id, format!("POST {}", uri.path()), what);
    }
    read_one(&sim, &id)
}
