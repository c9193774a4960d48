//! The simulator is as strict as a real Domino: it refuses (400) what Domino refuses, and
//! records as violations what Domino would serve but a maintenance tool must never send.

mod sim_support;

use domino_sim::Kind;
use domino_sim::Violation;
use reqwest::Method;
use serde_json::{Value, json};
use sim_support::{Api, KEY, small_config};

const P1: &str = "5f0000000000000000000001";
const APP: &str = "a00000000000000000000001";
const MODEL: &str = "b00000000000000000000001";
const V1: &str = "f00000000000000000000001";
const V2: &str = "f00000000000000000000002";
const WS: &str = "c00000000000000000000001";
const NEVER_RAN_WS: &str = "c00000000000000000000002";
const JOB: &str = "d00000000000000000000001";
const LOCAL_VOLUME: &str = "ee0000000000000000000001";
const REMOTE_VOLUME: &str = "ee0000000000000000000002";

fn app_start() -> String {
    format!("/v4/modelProducts/{APP}/start")
}

async fn violations_served(api: &Api) -> Vec<Violation> {
    serde_json::from_value(api.control("/__sim/violations").await).unwrap()
}

#[tokio::test]
async fn what_domino_refuses_is_answered_400_and_changes_nothing() {
    let api = Api::start(small_config());
    let cases: Vec<(&str, String, Option<Value>)> = vec![
        (
            "unknown tier",
            app_start(),
            Some(
                json!({"hardwareTierId": "no-such-tier", "externalVolumeMountIds": [LOCAL_VOLUME]}),
            ),
        ),
        (
            "unknown volume",
            app_start(),
            Some(
                json!({"hardwareTierId": "small-k8s", "externalVolumeMountIds": ["ee00000000000000000000ff"]}),
            ),
        ),
        ("no body", app_start(), None),
        ("not an object", app_start(), Some(json!(["small-k8s"]))),
    ];
    for (what, path, body) in &cases {
        let status = api.status_of(Method::POST, path, body.as_ref()).await;
        assert_eq!(status, 400, "{what}");
    }
    // Bodies that are not JSON at all.
    for (method, path) in [
        (Method::POST, app_start()),
        (
            Method::PUT,
            format!("/v4/projects/{P1}/scheduledjobs/{JOB}"),
        ),
    ] {
        let r = api
            .client
            .request(method, api.url(&path))
            .header("X-Domino-Api-Key", KEY)
            .header("Content-Type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{path}");
        let body: Value = r.json().await.unwrap();
        assert!(body["message"].as_str().unwrap().contains("JSON"), "{body}");
    }
    let state = api.sim.state();
    let app = state.get(Kind::App, APP).unwrap();
    assert_eq!(app.start_requests, 0);
    assert!(app.app_starts.is_empty());
    assert!(
        api.sim.violations().is_empty(),
        "a refusal is not a violation"
    );
}

#[tokio::test]
async fn each_violation_is_served_and_recorded_with_its_request() {
    let api = Api::start(small_config());
    let post = |path: String, body: Option<Value>| {
        let api = &api;
        async move { api.status_of(Method::POST, &path, body.as_ref()).await }
    };
    // Another tier than the app ran on (it exists, so Domino serves it). The app runs: it is
    // stopped first, since a start of a running app is refused.
    api.sim.stop_behind_back(Kind::App, APP).unwrap();
    let other_tier = json!({"hardwareTierId": "gpu-k8s", "externalVolumeMountIds": [LOCAL_VOLUME]});
    assert_eq!(post(app_start(), Some(other_tier)).await, 200);
    // Other volumes than it ran with: the project's remote volume instead of its local one.
    api.sim.stop_behind_back(Kind::App, APP).unwrap();
    let other_volumes =
        json!({"hardwareTierId": "small-k8s", "externalVolumeMountIds": [REMOTE_VOLUME]});
    assert_eq!(post(app_start(), Some(other_volumes)).await, 200);
    // A start of a version that is not its model's active one.
    let inactive = format!("/v4/models/{MODEL}/{V1}/startModelDeployment");
    assert_eq!(post(inactive.clone(), None).await, 200);
    // A stop of a workspace that never ran.
    let never_ran = format!("/v4/workspace/project/{P1}/workspace/{NEVER_RAN_WS}/stop");
    assert_eq!(post(never_ran.clone(), None).await, 200);
    // A scheduled job PUT that changes its title as well as isPaused.
    let job_path = format!("/v4/projects/{P1}/scheduledjobs/{JOB}");
    let mut job = api.get(&job_path).await;
    job["isPaused"] = json!(true);
    job["title"] = json!("renamed");
    job["addedByTool"] = json!(1);
    assert_eq!(api.status_of(Method::PUT, &job_path, Some(&job)).await, 200);

    let recorded = api.sim.violations();
    let summary: Vec<(Kind, &str, &str)> = recorded
        .iter()
        .map(|v| (v.kind, v.execution_id.as_str(), v.request.as_str()))
        .collect();
    let app_request = format!("POST {}", app_start());
    let job_request = format!("PUT {job_path}");
    let inactive_request = format!("POST {inactive}");
    let never_ran_request = format!("POST {never_ran}");
    assert_eq!(
        summary,
        [
            (Kind::App, APP, app_request.as_str()),
            (Kind::App, APP, app_request.as_str()),
            (Kind::ModelApiVersion, V1, inactive_request.as_str()),
            (Kind::Workspace, NEVER_RAN_WS, never_ran_request.as_str()),
            (Kind::ScheduledJob, JOB, job_request.as_str()),
        ]
    );
    assert!(recorded[0].what.contains("gpu-k8s") && recorded[0].what.contains("small-k8s"));
    assert!(
        recorded[1].what.contains(REMOTE_VOLUME),
        "{}",
        recorded[1].what
    );
    assert!(recorded[2].what.contains(V2), "{}", recorded[2].what);
    assert!(
        recorded[3].what.contains("never ran"),
        "{}",
        recorded[3].what
    );
    assert!(
        recorded[4].what.contains("title") && recorded[4].what.contains("addedByTool"),
        "{}",
        recorded[4].what
    );
    assert!(
        recorded[4].what.ends_with("isPaused: title, addedByTool"),
        "{}",
        recorded[4].what
    );
    // The same list over HTTP, and it survives a reset of the counters.
    api.sim.reset_counters();
    assert_eq!(violations_served(&api).await, recorded);
}

#[tokio::test]
async fn what_a_maintenance_tool_sends_is_no_violation() {
    let api = Api::start(small_config());
    // What a restore sends: starts of a stopped app and of a stopped active version.
    api.sim.stop_behind_back(Kind::App, APP).unwrap();
    api.sim.stop_behind_back(Kind::ModelApiVersion, V2).unwrap();
    let start = json!({"hardwareTierId": "small-k8s", "externalVolumeMountIds": [LOCAL_VOLUME]});
    assert_eq!(
        api.status_of(Method::POST, &app_start(), Some(&start))
            .await,
        200
    );
    let active = format!("/v4/models/{MODEL}/{V2}/startModelDeployment");
    assert_eq!(api.status_of(Method::POST, &active, None).await, 200);
    let stop = format!("/v4/workspace/project/{P1}/workspace/{WS}/stop");
    assert_eq!(api.status_of(Method::POST, &stop, None).await, 200);
    let job_path = format!("/v4/projects/{P1}/scheduledjobs/{JOB}");
    let mut job = api.get(&job_path).await;
    job["isPaused"] = json!(true);
    assert_eq!(api.status_of(Method::PUT, &job_path, Some(&job)).await, 200);
    assert_eq!(api.sim.violations(), []);
    assert_eq!(violations_served(&api).await, []);
}

/// A start of an app or a model version that is already starting or running is refused (400,
/// as Domino answers "already running"), counted as a start request, and recorded for tests
/// (`/__sim/refused-starts`); a start of a stopped one is served, and a stop of a stopping one
/// still changes nothing.
#[tokio::test]
async fn a_start_of_what_is_already_starting_or_running_is_refused() {
    let api = Api::start(small_config().transition(60_000, 0));
    let body = json!({"hardwareTierId": "small-k8s", "externalVolumeMountIds": [LOCAL_VOLUME]});
    // Running.
    assert_eq!(
        api.status_of(Method::POST, &app_start(), Some(&body)).await,
        400
    );
    // Stopped, then started: starting for a minute; a second start is refused too.
    api.sim.stop_behind_back(Kind::App, APP).unwrap();
    assert_eq!(
        api.status_of(Method::POST, &app_start(), Some(&body)).await,
        200
    );
    let r = api.send(Method::POST, &app_start(), Some(&body)).await;
    assert_eq!(r.status(), 400);
    let answer: Value = r.json().await.unwrap();
    assert!(
        answer["message"].as_str().unwrap().contains("already"),
        "{answer}"
    );
    // The active version runs: refused; once stopped, served.
    let v2_start = format!("/v4/models/{MODEL}/{V2}/startModelDeployment");
    assert_eq!(api.status_of(Method::POST, &v2_start, None).await, 400);
    api.sim.stop_behind_back(Kind::ModelApiVersion, V2).unwrap();
    assert_eq!(api.status_of(Method::POST, &v2_start, None).await, 200);
    assert_eq!(api.status_of(Method::POST, &v2_start, None).await, 400);
    // Stops stay state-setting.
    let v2_stop = format!("/v4/models/{MODEL}/{V2}/stopModelDeployment");
    assert_eq!(api.status_of(Method::POST, &v2_stop, None).await, 200);
    assert_eq!(api.status_of(Method::POST, &v2_stop, None).await, 200);

    let refused = api.sim.refused_starts();
    let summary: Vec<(Kind, &str)> = refused
        .iter()
        .map(|r| (r.kind, r.execution_id.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (Kind::App, APP),
            (Kind::App, APP),
            (Kind::ModelApiVersion, V2),
            (Kind::ModelApiVersion, V2),
        ]
    );
    assert_eq!(refused[0].request, format!("POST {}", app_start()));
    let state = api.sim.state();
    assert_eq!(state.get(Kind::App, APP).unwrap().start_requests, 3);
    assert_eq!(
        state.get(Kind::App, APP).unwrap().app_starts.len(),
        1,
        "only the served start is recorded as one"
    );
    let served: Value = api.control("/__sim/refused-starts").await;
    assert_eq!(served.as_array().unwrap().len(), 4);
    assert_eq!(served[2]["kind"], "Model API Version");
    assert!(api.sim.violations().is_empty(), "a refusal is no violation");
}

#[tokio::test]
async fn a_post_without_content_length_is_answered_411_when_required() {
    let api = Api::start(small_config().require_content_length(true));
    let stop = format!("/v4/workspace/project/{P1}/workspace/{WS}/stop");
    // reqwest, like hyper, sends no length for a POST without a body.
    let r = api.send(Method::POST, &stop, None).await;
    assert_eq!(r.status(), 411);
    let body: Value = r.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("Content-Length"));
    assert_eq!(
        api.sim
            .state()
            .get(Kind::Workspace, WS)
            .unwrap()
            .stop_requests,
        0
    );
    let r = api
        .client
        .post(api.url(&stop))
        .header("X-Domino-Api-Key", KEY)
        .header("Content-Length", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Off by default.
    let lax = Api::start(small_config());
    assert_eq!(lax.status_of(Method::POST, &stop, None).await, 200);
}

#[tokio::test]
async fn unknown_routes_version_and_principal() {
    let api = Api::start(small_config());
    let r = api.send(Method::GET, "/v4/no/such/thing", None).await;
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("/v4/no/such/thing"),
        "{body}"
    );
    // Authentication comes first.
    let r = api
        .client
        .get(api.url("/v4/no/such/thing"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let version = api.get("/version").await;
    assert_eq!(version["version"], "5.11.1");
    let me = api.get("/v4/auth/principal").await;
    assert_eq!(me["isAdmin"], true);
    assert_eq!(me["isAnonymous"], false);
    assert!(me["canonicalName"].is_string());
    assert_eq!(me["canonicalId"].as_str().unwrap().len(), 24);
    assert!(!me["allowedSystemOperations"].as_array().unwrap().is_empty());
    assert!(!me.to_string().contains(KEY), "the key is never echoed");
}

#[tokio::test]
async fn paged_listings_serve_at_most_the_page_size_cap() {
    let api = Api::start(small_config().max_page_size(1));
    let page = api
        .get("/v4/workspace/adminDashboardRowData?limit=10&offset=0")
        .await;
    assert_eq!(page["tableRows"].as_array().unwrap().len(), 1);
    let total = page["totalEntries"].as_u64().unwrap();
    assert!(total > 1);
    let second = api
        .get("/v4/workspace/adminDashboardRowData?limit=10&offset=1")
        .await;
    assert_ne!(second["tableRows"][0], page["tableRows"][0]);
    // Versions: a capped page numbers its pages in the size it serves.
    let mut ids = Vec::new();
    for n in 1..=3 {
        let page = api
            .get(&format!(
                "/models/{MODEL}/versions/json?pageNumber={n}&pageSize=10"
            ))
            .await;
        let results = page["results"].as_array().unwrap();
        assert!(results.len() <= 1);
        ids.extend(results.iter().map(|v| v["id"].as_str().unwrap().to_owned()));
    }
    assert_eq!(ids, [V1, V2]);
}

#[tokio::test]
async fn a_bearer_token_is_accepted_until_it_is_rotated() {
    let api = Api::start(small_config().bearer_token("first-token"));
    let get = |token: &'static str| {
        api.client
            .get(api.url("/v4/projects"))
            .header("Authorization", format!("Bearer {token}"))
            .send()
    };
    assert_eq!(get("first-token").await.unwrap().status(), 200);
    assert_eq!(get("other-token").await.unwrap().status(), 401);
    let rotate = api
        .control_post("/__sim/token", Some(&json!({"token": "second-token"})))
        .await;
    assert_eq!(rotate.status(), 204);
    let refused = get("first-token").await.unwrap();
    assert_eq!(refused.status(), 401);
    assert!(!refused.text().await.unwrap().contains("first-token"));
    assert_eq!(get("second-token").await.unwrap().status(), 200);
    // The API key keeps working beside it.
    assert_eq!(api.status_of(Method::GET, "/v4/projects", None).await, 200);
    let bad = api
        .control_post("/__sim/token", Some(&json!({"token": ""})))
        .await;
    assert_eq!(bad.status(), 400);
}
