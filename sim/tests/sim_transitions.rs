//! Stops and starts take time, some get stuck, pending executions settle on their own, and the
//! deployment can change behind the tool's back.

mod sim_support;

use std::time::Duration;

use domino_sim::Kind;
use domino_sim::{GenerateSpec, SimConfig};
use reqwest::Method;
use serde_json::json;
use sim_support::{Api, KEY, eventually, small_config};

const P1: &str = "5f0000000000000000000001";
const APP: &str = "a00000000000000000000001";
const STOPPED_APP: &str = "a00000000000000000000002";
const STARTING_APP: &str = "a00000000000000000000003";
const MODEL: &str = "b00000000000000000000001";
const V2: &str = "f00000000000000000000002";
const WS: &str = "c00000000000000000000001";
const STOPPING_WS: &str = "c00000000000000000000003";

#[tokio::test]
async fn app_stop_then_start_move_through_intermediate_states() {
    let api = Api::start(small_config().transition(300, 0));
    let path = format!("/v4/modelProducts/{APP}");
    api.send(Method::POST, &format!("{path}/stop"), None).await;
    assert_eq!(api.get(&path).await["status"], "Stopping");
    assert!(api.sim.running_ids(Kind::App).contains(APP), "in motion");
    assert!(
        eventually(Duration::from_secs(2), || async {
            api.get(&path).await["status"] == "Stopped"
        })
        .await
    );
    assert!(!api.sim.running_ids(Kind::App).contains(APP));

    let body = json!({"hardwareTierId": "small-k8s", "externalVolumeMountIds": ["ee0000000000000000000001"]});
    api.send(Method::POST, &format!("{path}/start"), Some(&body))
        .await;
    let first = api.get(&path).await["status"].clone();
    assert!(first == "Pending" || first == "Starting", "{first}");
    assert!(
        eventually(Duration::from_secs(2), || async {
            api.get(&path).await["status"] == "Running"
        })
        .await
    );
    let state = api.sim.state();
    let app = state.get(Kind::App, APP).unwrap();
    assert!(app.running && !app.in_motion);
}

#[tokio::test]
async fn model_version_and_workspace_transitions() {
    let api = Api::start(small_config().transition(300, 0));
    let version = format!("/models/{MODEL}/versions/{V2}/json");
    api.send(
        Method::POST,
        &format!("/v4/models/{MODEL}/{V2}/stopModelDeployment"),
        None,
    )
    .await;
    assert_eq!(
        api.get(&version).await["result"]["deploymentStatus"],
        json!({"name": "Stopping", "isPending": true})
    );
    api.send(
        Method::POST,
        &format!("/v4/workspace/project/{P1}/workspace/{WS}/stop"),
        None,
    )
    .await;
    let ws = format!("/v4/workspace/project/{P1}/workspace/{WS}");
    assert_eq!(
        api.get(&ws).await["mostRecentSession"]["sessionStatusInfo"],
        json!({"isRunning": false, "isCompleted": false})
    );
    assert!(
        eventually(Duration::from_secs(2), || async {
            api.get(&version).await["result"]["deploymentStatus"]
                == json!({"name": "Stopped", "isPending": false})
                && api.get(&ws).await["mostRecentSession"]["sessionStatusInfo"]
                    == json!({"isRunning": false, "isCompleted": true})
        })
        .await
    );

    api.send(
        Method::POST,
        &format!("/v4/models/{MODEL}/{V2}/startModelDeployment"),
        None,
    )
    .await;
    let name = api.get(&version).await["result"]["deploymentStatus"]["name"].clone();
    assert!(name == "Preparing to build" || name == "Starting", "{name}");
    assert!(
        eventually(Duration::from_secs(2), || async {
            api.get(&version).await["result"]["deploymentStatus"]["name"] == "Running"
        })
        .await
    );
}

#[tokio::test]
async fn a_repeated_stop_is_a_no_op_and_a_start_of_a_running_app_is_refused() {
    let api = Api::start(small_config());
    let stopped = format!("/v4/modelProducts/{STOPPED_APP}");
    assert_eq!(
        api.status_of(Method::POST, &format!("{stopped}/stop"), None)
            .await,
        200
    );
    assert_eq!(api.get(&stopped).await["status"], "Stopped");
    let running = format!("/v4/modelProducts/{APP}");
    assert_eq!(
        api.status_of(
            Method::POST,
            &format!("{running}/start"),
            Some(&json!({"hardwareTierId": "small-k8s", "externalVolumeMountIds": ["ee0000000000000000000001"]}))
        )
        .await,
        400,
        "Domino answers \"already running\""
    );
    assert_eq!(api.get(&running).await["status"], "Running");
    let state = api.sim.state();
    assert_eq!(state.get(Kind::App, STOPPED_APP).unwrap().stop_requests, 1);
    assert_eq!(state.get(Kind::App, APP).unwrap().start_requests, 1);
    assert!(state.get(Kind::App, APP).unwrap().app_starts.is_empty());
    assert_eq!(api.sim.refused_starts().len(), 1);
}

#[tokio::test]
async fn pending_executions_settle_on_their_own() {
    let api = Api::start(small_config().transition(1000, 0));
    let state = api.sim.state();
    assert_eq!(
        state.get(Kind::App, STARTING_APP).unwrap().status,
        "Pending"
    );
    assert_eq!(
        state.get(Kind::Workspace, STOPPING_WS).unwrap().status,
        "Stopping"
    );
    assert!(
        eventually(Duration::from_secs(4), || async {
            let s = api.sim.state();
            s.get(Kind::App, STARTING_APP).unwrap().running
                && s.get(Kind::Workspace, STOPPING_WS).unwrap().stopped
        })
        .await
    );
}

#[tokio::test]
async fn stuck_executions_never_settle() {
    let api = Api::start(small_config().transition(20, 0).stuck_rate(1.0));
    let path = format!("/v4/modelProducts/{APP}");
    api.send(Method::POST, &format!("{path}/stop"), None).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(api.get(&path).await["status"], "Stopping");
    let state = api.sim.state();
    let app = state.get(Kind::App, APP).unwrap();
    assert!(app.stuck && app.in_motion && !app.stopped);
    // Asking again does not unstick it.
    api.send(Method::POST, &format!("{path}/stop"), None).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(api.get(&path).await["status"], "Stopping");
}

#[tokio::test]
async fn some_share_gets_stuck() {
    let spec = GenerateSpec {
        projects: 2,
        apps: 200,
        models: 0,
        versions_per_model: 1,
        workspaces: 0,
        scheduled_jobs: 0,
        jobs: 0,
        rollout_in_progress: false,
    };
    let api = Api::start(
        SimConfig::default()
            .api_key(KEY)
            .generate(spec)
            .transition(10, 0)
            .stuck_rate(0.25),
    );
    let running = api.sim.running_ids(Kind::App);
    for id in &running {
        api.send(Method::POST, &format!("/v4/modelProducts/{id}/stop"), None)
            .await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let state = api.sim.state();
    let stuck = state.of_kind(Kind::App).filter(|a| a.stuck).count();
    let share = stuck as f64 / running.len() as f64;
    assert!((0.1..0.4).contains(&share), "stuck share {share}");
}

#[tokio::test]
async fn shifting_workspaces_move_rows_between_pages() {
    let api = Api::start(small_config().shifting_workspaces(true));
    let first = api
        .get("/v4/workspace/adminDashboardRowData?limit=2&offset=0")
        .await;
    let second = api
        .get("/v4/workspace/adminDashboardRowData?limit=2&offset=2")
        .await;
    assert_eq!(first["totalEntries"], 3);
    assert_eq!(second["totalEntries"], 4);
    // The last row of page one moved down into page two.
    assert_eq!(first["tableRows"][1], second["tableRows"][0]);
    let third = api
        .get("/v4/workspace/adminDashboardRowData?limit=2&offset=4")
        .await;
    assert_eq!(third["totalEntries"], 5);
    assert_eq!(third["tableRows"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn behind_the_back_changes_and_drift() {
    let api = Api::start(small_config());
    api.sim.stop_behind_back(Kind::App, APP).unwrap();
    assert_eq!(
        api.get(&format!("/v4/modelProducts/{APP}")).await["status"],
        "Stopped"
    );
    api.sim
        .start_behind_back(Kind::Workspace, "c00000000000000000000002")
        .unwrap();
    let ws = api
        .get(&format!(
            "/v4/workspace/project/{P1}/workspace/c00000000000000000000002"
        ))
        .await;
    assert_eq!(
        ws["mostRecentSession"]["sessionStatusInfo"]["isRunning"],
        true
    );
    assert!(api.sim.stop_behind_back(Kind::App, "nope").is_err());

    for kind in [
        Kind::App,
        Kind::ModelApiVersion,
        Kind::Workspace,
        Kind::ScheduledJob,
    ] {
        let before = api.sim.running_ids(kind);
        let id = api.sim.add_running(kind).unwrap();
        assert_eq!(id.len(), 24);
        let after = api.sim.running_ids(kind);
        assert!(!before.contains(&id) && after.contains(&id), "{kind}");
    }
    let apps = api.get("/v4/modelProducts").await;
    assert_eq!(apps.as_array().unwrap().len(), 5);
    let page = api
        .get("/v4/workspace/adminDashboardRowData?limit=50&offset=0")
        .await;
    assert_eq!(page["totalEntries"], 4);
}

#[tokio::test]
async fn generated_rollout_has_two_running_versions() {
    let spec = GenerateSpec {
        rollout_in_progress: true,
        ..GenerateSpec::default()
    };
    let api = Api::start(SimConfig::default().api_key(KEY).generate(spec));
    let state = api.sim.state();
    let first_model = state
        .of_kind(Kind::ModelApiVersion)
        .next()
        .unwrap()
        .model_id
        .clone();
    let running: Vec<_> = state
        .of_kind(Kind::ModelApiVersion)
        .filter(|v| v.model_id == first_model && v.running)
        .collect();
    assert_eq!(running.len(), 2);
    assert_eq!(
        running.iter().filter(|v| v.is_active == Some(true)).count(),
        1
    );
}
