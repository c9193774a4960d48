//! The `/__sim/` HTTP API: state, request log, behind-the-back changes, drift, counter reset.

mod sim_support;

use domino_sim::Kind;
use domino_sim::{RequestLog, SimState};
use reqwest::Method;
use serde_json::{Value, json};
use sim_support::{Api, small_config};

const APP: &str = "a00000000000000000000001";

async fn control(api: &Api, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = api
        .client
        .request(method, format!("{}/__sim{path}", api.sim.root_url()));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn state_lists_every_execution_with_labels_and_counts() {
    let api = Api::start(small_config());
    api.send(Method::POST, &format!("/v4/modelProducts/{APP}/stop"), None)
        .await;
    let (status, body) = control(&api, Method::GET, "/state", None).await;
    assert_eq!(status, 200);
    let app = body["executions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == APP)
        .unwrap()
        .clone();
    assert_eq!(app["kind"], "App");
    assert_eq!(app["projectId"], "5f0000000000000000000001");
    assert_eq!(app["name"], "churn-dashboard");
    assert_eq!(app["owner"], "alice");
    assert_eq!(app["status"], "Stopping");
    assert_eq!(app["running"], false);
    assert_eq!(app["stopped"], false);
    assert_eq!(app["stopRequests"], 1);
    assert_eq!(app["startRequests"], 0);
    let typed: SimState = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(typed.executions.len(), 4 + 5 + 3 + 2);
    let labels: Vec<&str> = typed.executions.iter().map(|e| e.kind.label()).collect();
    for kind in [
        Kind::App,
        Kind::ModelApiVersion,
        Kind::Workspace,
        Kind::ScheduledJob,
    ] {
        assert!(labels.contains(&kind.label()));
    }
    let version = typed
        .get(Kind::ModelApiVersion, "f00000000000000000000002")
        .unwrap();
    assert_eq!(version.name, "churn-scorer #2");
    assert_eq!(version.is_active, Some(true));
    let ws = typed
        .get(Kind::Workspace, "c00000000000000000000001")
        .unwrap();
    assert_eq!(ws.name, "churn/analysis");
}

#[tokio::test]
async fn requests_count_routes_and_log_mutations() {
    let api = Api::start(small_config());
    api.get("/v4/modelProducts").await;
    api.get("/v4/modelProducts").await;
    api.send(Method::POST, &format!("/v4/modelProducts/{APP}/stop"), None)
        .await;
    let (_, body) = control(&api, Method::GET, "/requests", None).await;
    let log: RequestLog = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(log.total, 3);
    assert_eq!(log.count("GET", "/v4/modelProducts"), 2);
    assert_eq!(log.count("POST", "/v4/modelProducts/{id}/stop"), 1);
    let m = &body["mutations"][0];
    assert_eq!(m["method"], "POST");
    assert_eq!(m["path"], format!("/v4/modelProducts/{APP}/stop"));
    assert_eq!(m["kind"], "App");
    assert_eq!(m["executionId"], APP);
    assert_eq!(m["outcome"], "answered");
    assert_eq!(m["status"], 200);

    let (status, _) = control(&api, Method::POST, "/reset-counters", None).await;
    assert_eq!(status, 204);
    let log = api.sim.requests();
    assert_eq!((log.total, log.mutations.len()), (0, 0));
    assert_eq!(
        api.sim.state().get(Kind::App, APP).unwrap().stop_requests,
        0
    );
}

#[tokio::test]
async fn executions_change_behind_the_back_and_drift_appears() {
    let api = Api::start(small_config());
    let (status, body) = control(
        &api,
        Method::POST,
        &format!("/executions/app/{APP}/stop"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "Stopped");
    let (status, _) = control(
        &api,
        Method::POST,
        "/executions/Model%20API%20Version/f00000000000000000000001/start",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        api.sim
            .running_ids(Kind::ModelApiVersion)
            .contains("f00000000000000000000001")
    );
    let (status, _) = control(&api, Method::POST, "/executions/app/nope/stop", None).await;
    assert_eq!(status, 404);
    let (status, _) = control(&api, Method::POST, "/executions/builds/x/stop", None).await;
    assert_eq!(status, 400, "not a kind");
    let (status, _) = control(&api, Method::POST, "/executions/jobs/x/stop", None).await;
    assert_eq!(status, 404, "a kind (Job), no such execution");

    let (status, body) = control(&api, Method::POST, "/executions/scheduled-job", None).await;
    assert_eq!(status, 201);
    let id = body["id"].as_str().unwrap().to_owned();
    assert!(api.sim.running_ids(Kind::ScheduledJob).contains(&id));
    let jobs = api
        .get("/v4/projects/5f0000000000000000000001/scheduledjobs")
        .await;
    assert!(jobs.as_array().unwrap().iter().any(|j| j["id"] == id));
}

#[tokio::test]
async fn faults_can_be_read_and_patched() {
    let api = Api::start(small_config());
    let (status, body) = control(
        &api,
        Method::POST,
        "/faults",
        Some(json!({"latencyMs": 5, "maxRps": 100})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["latencyMs"], 5);
    assert_eq!(body["maxRps"], 100);
    assert_eq!(body["retryAfterS"], 1);
    let (_, body) = control(&api, Method::GET, "/faults", None).await;
    assert_eq!(body["latencyMs"], 5);
    assert_eq!(api.sim.faults().max_rps, 100);
}
