//! Who the deployment is and who the caller is: `/version` and `/v4/auth/principal`.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Value, json};

use super::Shared;

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

/// The identity of the configured key (the only one that gets this far: the non-admin key is
/// answered 403 before), an administrator. Its id is derived from the key, never the key.
async fn principal(State(sim): State<Shared>) -> Json<Value> {
    let (id, name) = sim.principal();
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
