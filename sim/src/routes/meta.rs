//! Who the deployment is and who the caller is: `/version` and `/v4/auth/principal`.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use serde_json::{Value, json};

use super::API_KEY_HEADER;
use super::Shared;
use crate::ids::{hash_str, mix};

/// The Domino version the simulator answers as.
pub const DOMINO_VERSION: &str = "5.11.1";

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/version", get(version))
        .route("/v4/auth/principal", get(principal))
}

async fn version() -> Json<Value> {
    Json(json!({
        "version": DOMINO_VERSION,
        "buildId": "domino-sim",
        "commitHash": env!("CARGO_PKG_VERSION"),
    }))
}

/// Whether a route answers a valid key without admin rights too: who-am-I and the version.
pub fn answers_any_valid_key(path: &str) -> bool {
    path.ends_with("/v4/auth/principal") || path.ends_with("/version")
}

/// The identity of the caller: the configured key's (or the bearer token's), an administrator;
/// or the non-admin key's, which is not one. Ids are derived from the key, never the key.
async fn principal(State(sim): State<Shared>, headers: HeaderMap) -> Json<Value> {
    let key = headers.get(API_KEY_HEADER).and_then(|v| v.to_str().ok());
    let (id, name) = sim.principal();
    if let Some(viewer) = sim.config.non_admin_key.as_deref()
        && key == Some(viewer)
    {
        return Json(json!({
            "canonicalId": format!("{:024x}", mix(hash_str(viewer))),
            "canonicalName": "sim-user",
            "isAdmin": false,
            "isAnonymous": false,
            "allowedSystemOperations": [],
        }));
    }
    Json(json!({
        "canonicalId": id,
        "canonicalName": name,
        "isAdmin": true,
        "isAnonymous": false,
        "allowedSystemOperations": [
            "ViewAllProjects",
            "ManageProjects",
            "ManageExecutions",
            "ManageScheduledJobs",
            "ManageModelApis",
            "ManageApps",
            "ManageWorkspaces",
            "ManageDataMounts",
        ],
    }))
}
