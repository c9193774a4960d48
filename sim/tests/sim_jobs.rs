//! Jobs (batch runs) in the simulator: the paged listing and its status filter, reading one,
//! stops (and the violation of a stop that discards results), restarts (a new job started by the
//! caller, and the violation of a second restart), jobs that end on their own, the test hooks,
//! and generated deployments that are the same for the same seed.

mod sim_support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use domino_sim::Kind;
use domino_sim::{
    BatchJobSpec, BatchJobState, FaultsPatch, GenerateSpec, Outcome, ProjectSpec, Scenario,
    SimConfig, spawn,
};
use reqwest::Method;
use serde_json::{Value, json};
use sim_support::{Api, KEY, eventually};

const P1: &str = "5f0000000000000000000001";
const P2: &str = "5f0000000000000000000002";
const RUNNING: &str = "d00000000000000000000001";
const ENDS_SOON: &str = "d00000000000000000000002";
const QUEUED: &str = "d00000000000000000000003";
const SUCCEEDED: &str = "d00000000000000000000004";
const FAILED: &str = "d00000000000000000000005";
const OTHER: &str = "d00000000000000000000006";

fn job(id: &str, title: &str, state: BatchJobState, ends_after_ms: Option<u64>) -> BatchJobSpec {
    BatchJobSpec {
        id: Some(id.into()),
        title: title.into(),
        command: Some(format!("python {title}.py --all")),
        owner: Some("bob".into()),
        state,
        ends_after_ms,
    }
}

/// Project 1: numbers 1 to 5 (running, ends on its own after `ends_after_ms`, queued, two
/// ended); project 2: one running job.
fn scenario(ends_after_ms: u64) -> Scenario {
    Scenario {
        projects: vec![
            ProjectSpec {
                id: Some(P1.into()),
                name: "churn".into(),
                owner: "alice".into(),
                jobs: vec![
                    job(RUNNING, "train", BatchJobState::Running, None),
                    job(
                        ENDS_SOON,
                        "score",
                        BatchJobState::Running,
                        Some(ends_after_ms),
                    ),
                    job(QUEUED, "report", BatchJobState::Queued, None),
                    job(SUCCEEDED, "backfill", BatchJobState::Succeeded, None),
                    job(FAILED, "export", BatchJobState::Failed, None),
                ],
                ..ProjectSpec::default()
            },
            ProjectSpec {
                id: Some(P2.into()),
                name: "fraud".into(),
                owner: "carol".into(),
                jobs: vec![job(OTHER, "detect", BatchJobState::Running, None)],
                ..ProjectSpec::default()
            },
        ],
    }
}

fn config() -> SimConfig {
    SimConfig::default()
        .api_key(KEY)
        .scenario(scenario(60_000))
        .transition(150, 0)
}

fn epoch_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn ids(page: &Value) -> Vec<&str> {
    page["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect()
}

async fn post(api: &Api, path: &str, body: Value) -> (u16, Value) {
    let r = api.send(Method::POST, path, Some(&body)).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn stop(api: &Api, project: &str, job: &str, commit: Value) -> (u16, Value) {
    post(
        api,
        "/v4/jobs/stop",
        json!({ "projectId": project, "jobId": job, "commitResults": commit }),
    )
    .await
}

async fn restart(api: &Api, job: &str) -> (u16, Value) {
    post(
        api,
        "/v4/jobs/restart",
        json!({ "jobId": job, "shouldUseOriginalInputCommit": true }),
    )
    .await
}

async fn wait_for_status(api: &Api, job: &str, word: &str) -> bool {
    eventually(Duration::from_secs(5), || async {
        api.get(&format!("/v4/jobs/{job}")).await["statuses"]["executionStatus"] == word
    })
    .await
}

#[tokio::test]
async fn the_running_listing_pages_newest_first_and_filters_on_not_completed() {
    let api = Api::start(config());
    let list = |q: &str| format!("/v4/jobs?projectId={P1}{q}");
    let first = api
        .get(&list("&status=running&page_size=2&page_no=1"))
        .await;
    assert_eq!(first["totalCount"], 3);
    assert_eq!(ids(&first), [QUEUED, ENDS_SOON]);
    let second = api
        .get(&list("&status=running&page_size=2&page_no=2"))
        .await;
    assert_eq!(ids(&second), [RUNNING], "a short page ends the listing");
    let third = api
        .get(&list("&status=running&page_size=2&page_no=3"))
        .await;
    assert!(ids(&third).is_empty());
    assert_eq!(third["totalCount"], 3);

    // Without a status: every job of the project, ended ones too, newest first.
    let all = api.get(&list("&page_size=50&page_no=1")).await;
    assert_eq!(all["totalCount"], 5);
    assert_eq!(ids(&all), [FAILED, SUCCEEDED, QUEUED, ENDS_SOON, RUNNING]);
    let numbers: Vec<u64> = all["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [5, 4, 3, 2, 1]);
    let done = api.get(&list("&status=completed&page_size=50")).await;
    assert_eq!(ids(&done), [FAILED, SUCCEEDED]);
    // Another project's jobs only there.
    let other = api
        .get(&format!(
            "/v4/jobs?projectId={P2}&status=running&page_size=10&page_no=1"
        ))
        .await;
    assert_eq!(ids(&other), [OTHER]);

    for (query, want) in [
        (
            "/v4/jobs?status=running&page_size=2&page_no=1".to_owned(),
            400,
        ),
        (list("&status=sleeping&page_size=2&page_no=1"), 400),
        (list("&status=running&page_size=0&page_no=1"), 400),
        (list("&status=running&page_size=2&page_no=0"), 400),
        (
            "/v4/jobs?projectId=5f00000000000000000000ff&status=running".to_owned(),
            404,
        ),
    ] {
        assert_eq!(
            api.status_of(Method::GET, &query, None).await,
            want,
            "{query}"
        );
    }
    let log = api.sim.requests();
    assert!(log.count("GET", "/v4/jobs") >= 8);
}

#[tokio::test]
async fn the_page_cap_applies_to_the_job_listing() {
    let api = Api::start(config().max_page_size(1));
    let page = |k: u32| format!("/v4/jobs?projectId={P1}&status=running&page_size=10&page_no={k}");
    let first = api.get(&page(1)).await;
    assert_eq!(ids(&first), [QUEUED], "at most one row, whatever is asked");
    assert_eq!(first["totalCount"], 3);
    assert_eq!(ids(&api.get(&page(2)).await), [ENDS_SOON]);
    assert_eq!(ids(&api.get(&page(3)).await), [RUNNING]);
    assert!(ids(&api.get(&page(4)).await).is_empty());
}

#[tokio::test]
async fn a_job_reads_with_the_contract_fields() {
    let before = epoch_ms();
    let api = Api::start(config());
    let j = api.get(&format!("/v4/jobs/{RUNNING}")).await;
    assert_eq!(j["id"], RUNNING);
    assert_eq!(j["number"], 1);
    assert_eq!(j["projectId"], P1);
    assert_eq!(j["title"], "train");
    assert_eq!(j["jobRunCommand"], "python train.py --all");
    assert_eq!(j["statuses"]["isCompleted"], false);
    assert_eq!(j["statuses"]["executionStatus"], "Running");
    assert_eq!(j["startedBy"]["username"], "bob");
    let by = j["startedBy"]["id"].as_str().unwrap();
    assert_eq!(by.len(), 24);
    let submitted = j["stageTime"]["submissionTime"].as_i64().unwrap();
    assert!(
        submitted < before && submitted > before - 3_600_000,
        "{submitted}"
    );

    let ended = api.get(&format!("/v4/jobs/{FAILED}")).await;
    assert_eq!(ended["statuses"]["isCompleted"], true);
    assert_eq!(ended["statuses"]["executionStatus"], "Failed");
    let queued = api.get(&format!("/v4/jobs/{QUEUED}")).await;
    // Queued, then Preparing, then Running, as time passes.
    let word = queued["statuses"]["executionStatus"].as_str().unwrap();
    assert!(["Queued", "Preparing", "Running"].contains(&word), "{word}");
    assert_eq!(queued["statuses"]["isCompleted"], false);

    let unknown = format!("/v4/jobs/{}", "d000000000000000000000ff");
    assert_eq!(api.status_of(Method::GET, &unknown, None).await, 404);
    let log = api.sim.requests();
    assert_eq!(log.count("GET", "/v4/jobs/{job_id}"), 4);
}

#[tokio::test]
async fn a_stop_with_commit_results_goes_stopping_then_stopped() {
    let api = Api::start(config());
    let (status, answer) = stop(&api, P1, RUNNING, json!(true)).await;
    assert_eq!(status, 200);
    assert_eq!(answer["id"], RUNNING);
    assert_eq!(answer["statuses"]["executionStatus"], "Stopping");
    assert_eq!(answer["statuses"]["isCompleted"], false);
    assert!(
        api.sim.running_ids(Kind::Job).contains(RUNNING),
        "in motion"
    );
    assert!(wait_for_status(&api, RUNNING, "Stopped").await);
    let j = api.get(&format!("/v4/jobs/{RUNNING}")).await;
    assert_eq!(j["statuses"]["isCompleted"], true);
    assert!(!api.sim.running_ids(Kind::Job).contains(RUNNING));
    let running = api
        .get(&format!(
            "/v4/jobs?projectId={P1}&status=running&page_size=10&page_no=1"
        ))
        .await;
    assert!(!ids(&running).contains(&RUNNING));

    // A queued job stops too.
    assert_eq!(stop(&api, P1, QUEUED, json!(true)).await.0, 200);
    assert!(wait_for_status(&api, QUEUED, "Stopped").await);

    let state = api.sim.state();
    let job = state.get(Kind::Job, RUNNING).unwrap().job.clone().unwrap();
    assert_eq!(job.number, 1);
    assert!(job.completed);
    assert_eq!(job.execution_status, "Stopped");
    assert_eq!(job.stops.len(), 1);
    assert!(job.stops[0].commit_results);
    assert_eq!(job.restarts, 0);
    api.assert_no_violation();

    let log = api.sim.requests();
    assert_eq!(log.count("POST", "/v4/jobs/stop"), 2);
    let stops: Vec<_> = log.mutations_of(Kind::Job, RUNNING).collect();
    assert_eq!(stops.len(), 1);
    assert_eq!(stops[0].path, "/v4/jobs/stop");
    assert_eq!(stops[0].status, Some(200));
}

#[tokio::test]
async fn stops_that_are_not_the_contract_are_refused() {
    let api = Api::start(config());
    let unknown = "d000000000000000000000ff";
    assert_eq!(stop(&api, P1, unknown, json!(true)).await.0, 404);
    assert_eq!(
        stop(&api, P2, RUNNING, json!(true)).await.0,
        404,
        "wrong project"
    );
    for body in [
        json!("stop"),
        json!([RUNNING]),
        json!({ "projectId": P1, "commitResults": true }),
        json!({ "jobId": RUNNING, "commitResults": true }),
        json!({ "projectId": P1, "jobId": RUNNING, "commitResults": "yes" }),
    ] {
        assert_eq!(
            post(&api, "/v4/jobs/stop", body.clone()).await.0,
            400,
            "{body}"
        );
    }
    let raw = api
        .client
        .post(api.url("/v4/jobs/stop"))
        .header("X-Domino-Api-Key", KEY)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let state = api.sim.state();
    assert!(
        state
            .get(Kind::Job, RUNNING)
            .unwrap()
            .job
            .as_ref()
            .unwrap()
            .stops
            .is_empty()
    );
    api.assert_no_violation();
}

#[tokio::test]
async fn a_stop_that_discards_results_is_a_violation() {
    let api = Api::start(config());
    assert_eq!(stop(&api, P1, RUNNING, json!(false)).await.0, 200);
    let (status, _) = post(
        &api,
        "/v4/jobs/stop",
        json!({ "projectId": P2, "jobId": OTHER }),
    )
    .await;
    assert_eq!(status, 200, "served as Domino would");
    let violations = api.sim.violations();
    assert_eq!(violations.len(), 2, "{violations:?}");
    for (v, id) in violations.iter().zip([RUNNING, OTHER]) {
        assert_eq!(v.kind, Kind::Job);
        assert_eq!(v.execution_id, id);
        assert_eq!(v.request, "POST /v4/jobs/stop");
        assert!(v.what.contains("commitResults"), "{}", v.what);
    }
    let state = api.sim.state();
    let job = state.get(Kind::Job, RUNNING).unwrap().job.clone().unwrap();
    assert!(!job.stops[0].commit_results);
    // Also over HTTP.
    let listed: Value = api.control("/__sim/violations").await;
    assert_eq!(listed.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_restart_makes_a_new_job_started_by_the_caller() {
    let api = Api::start(config());
    assert_eq!(stop(&api, P1, RUNNING, json!(true)).await.0, 200);
    assert!(wait_for_status(&api, RUNNING, "Stopped").await);

    let principal = api.get("/v4/auth/principal").await;
    let before = epoch_ms();
    let (status, new) = restart(&api, RUNNING).await;
    let after = epoch_ms();
    assert_eq!(status, 200);
    let new_id = new["id"].as_str().unwrap().to_owned();
    assert_ne!(new_id, RUNNING);
    assert_eq!(new_id.len(), 24);
    assert_eq!(new["number"], 6, "the next number in the project");
    assert_eq!(new["projectId"], P1);
    assert_eq!(new["title"], "train");
    assert_eq!(new["jobRunCommand"], "python train.py --all");
    assert_eq!(new["startedBy"]["id"], principal["canonicalId"]);
    assert_eq!(new["startedBy"]["username"], principal["canonicalName"]);
    let submitted = new["stageTime"]["submissionTime"].as_i64().unwrap();
    // The simulator's clock is its start on the wall clock plus a monotonic count: allow a
    // little slack either way.
    assert!(
        submitted >= before - 50 && submitted <= after + 50,
        "{before} <= {submitted} <= {after}"
    );
    assert_eq!(new["statuses"]["executionStatus"], "Queued");
    assert_eq!(new["statuses"]["isCompleted"], false);
    assert!(api.sim.running_ids(Kind::Job).contains(&new_id));
    assert!(wait_for_status(&api, &new_id, "Running").await);
    assert_eq!(api.get(&format!("/v4/jobs/{new_id}")).await, {
        let mut running = new.clone();
        running["statuses"]["executionStatus"] = json!("Running");
        running
    });
    // Listed first, as the newest.
    let listed = api
        .get(&format!(
            "/v4/jobs?projectId={P1}&status=running&page_size=1&page_no=1"
        ))
        .await;
    assert_eq!(ids(&listed), [new_id.as_str()]);

    let state = api.sim.state();
    let original = state.get(Kind::Job, RUNNING).unwrap().job.clone().unwrap();
    assert_eq!(original.restarted_as.as_deref(), Some(new_id.as_str()));
    assert_eq!(original.restarts, 1);
    let copy = state.get(Kind::Job, &new_id).unwrap();
    assert_eq!(copy.owner, principal["canonicalName"].as_str().unwrap());
    assert_eq!(
        copy.job.as_ref().unwrap().restart_of.as_deref(),
        Some(RUNNING)
    );
    assert_eq!(api.sim.restarts_of(RUNNING), 1);
    assert_eq!(api.sim.restarts_of(&new_id), 0);
    api.assert_no_violation();

    let log = api.sim.requests();
    assert_eq!(log.count("POST", "/v4/jobs/restart"), 1);
    let restarts: Vec<_> = log
        .mutations_of(Kind::Job, RUNNING)
        .filter(|m| m.path == "/v4/jobs/restart")
        .collect();
    assert_eq!(restarts.len(), 1);
}

#[tokio::test]
async fn a_second_restart_of_the_same_job_is_a_violation() {
    let api = Api::start(config());
    stop(&api, P1, RUNNING, json!(true)).await;
    assert!(wait_for_status(&api, RUNNING, "Stopped").await);
    let (_, first) = restart(&api, RUNNING).await;
    let (status, second) = restart(&api, RUNNING).await;
    assert_eq!(status, 200, "served: a restart is not state-setting");
    assert_ne!(first["id"], second["id"]);
    assert_eq!(
        (first["number"].clone(), second["number"].clone()),
        (json!(6), json!(7))
    );
    assert_eq!(api.sim.restarts_of(RUNNING), 2);
    let violations = api.sim.violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0].kind, Kind::Job);
    assert_eq!(violations[0].execution_id, RUNNING);
    assert_eq!(violations[0].request, "POST /v4/jobs/restart");
    let state = api.sim.state();
    let job = state.get(Kind::Job, RUNNING).unwrap().job.clone().unwrap();
    assert_eq!(job.restart_ids.len(), 2);
    assert_eq!(job.restarted_as.as_ref(), job.restart_ids.first());

    // Restarting the restarted job once is that job's one restart, not a violation.
    let first_id = first["id"].as_str().unwrap();
    stop(&api, P1, first_id, json!(true)).await;
    assert!(wait_for_status(&api, first_id, "Stopped").await);
    assert_eq!(restart(&api, first_id).await.0, 200);
    assert_eq!(api.sim.violations().len(), 1);
}

/// A restart of a job that no stop request ended (it ran to its end, or someone else stopped
/// it) is served, and flagged: a maintenance tool restarts only what its own stop ended.
#[tokio::test]
async fn a_restart_of_a_job_that_no_stop_ended_is_a_violation() {
    let api = Api::start(config());
    api.sim.finish_job(RUNNING).unwrap();
    assert!(wait_for_status(&api, RUNNING, "Succeeded").await);
    assert_eq!(restart(&api, RUNNING).await.0, 200);
    let violations = api.sim.violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(
        violations[0].what.contains("did not end by a stop request"),
        "{violations:?}"
    );
}

#[tokio::test]
async fn restarts_that_are_not_the_contract_are_refused_or_flagged() {
    let api = Api::start(config());
    assert_eq!(restart(&api, "d000000000000000000000ff").await.0, 404);
    for body in [
        json!("restart"),
        json!({ "shouldUseOriginalInputCommit": true }),
        json!({ "jobId": RUNNING, "shouldUseOriginalInputCommit": "yes" }),
    ] {
        assert_eq!(
            post(&api, "/v4/jobs/restart", body.clone()).await.0,
            400,
            "{body}"
        );
    }
    assert_eq!(api.sim.restarts_of(RUNNING), 0);
    api.assert_no_violation();

    // Served, but a restart must run the same code, and an ended-before job is never touched.
    stop(&api, P2, OTHER, json!(true)).await;
    assert!(wait_for_status(&api, OTHER, "Stopped").await);
    let (status, _) = post(
        &api,
        "/v4/jobs/restart",
        json!({ "jobId": OTHER, "shouldUseOriginalInputCommit": false }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(restart(&api, SUCCEEDED).await.0, 200);
    assert_eq!(stop(&api, P1, FAILED, json!(true)).await.0, 200);
    // A restart of a job still running: two runs at once.
    assert_eq!(restart(&api, RUNNING).await.0, 200);
    let v = api.sim.violations();
    let about: Vec<(&str, &str)> = v
        .iter()
        .map(|v| (v.execution_id.as_str(), v.request.as_str()))
        .collect();
    assert_eq!(
        about,
        [
            (OTHER, "POST /v4/jobs/restart"),
            (SUCCEEDED, "POST /v4/jobs/restart"),
            (FAILED, "POST /v4/jobs/stop"),
            (RUNNING, "POST /v4/jobs/restart"),
        ],
        "{v:?}"
    );
    // The failed job stays failed.
    let failed = api.get(&format!("/v4/jobs/{FAILED}")).await;
    assert_eq!(failed["statuses"]["executionStatus"], "Failed");
}

#[tokio::test]
async fn restarted_jobs_are_started_by_the_token_holder_too() {
    let api = Api::start(config().bearer_token("sa-token-1"));
    api.sim.stop_behind_back(Kind::Job, OTHER).unwrap();
    let principal: Value = api
        .client
        .get(api.url("/v4/auth/principal"))
        .bearer_auth("sa-token-1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new: Value = api
        .client
        .post(api.url("/v4/jobs/restart"))
        .bearer_auth("sa-token-1")
        .json(&json!({ "jobId": OTHER, "shouldUseOriginalInputCommit": true }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(new["startedBy"]["id"], principal["canonicalId"]);
    assert_eq!(new["startedBy"]["username"], principal["canonicalName"]);
    let (id, name) = api.sim.principal();
    assert_eq!(principal["canonicalId"], id.as_str());
    assert_eq!(principal["canonicalName"], name.as_str());
}

#[tokio::test]
async fn some_jobs_end_on_their_own_and_a_later_stop_changes_nothing() {
    let api = Api::start(
        SimConfig::default()
            .api_key(KEY)
            .scenario(scenario(300))
            .transition(150, 0),
    );
    assert!(api.sim.running_ids(Kind::Job).contains(ENDS_SOON));
    assert!(wait_for_status(&api, ENDS_SOON, "Succeeded").await);
    let j = api.get(&format!("/v4/jobs/{ENDS_SOON}")).await;
    assert_eq!(j["statuses"]["isCompleted"], true);
    assert!(j["stageTime"]["completedTime"].is_i64());
    assert!(!api.sim.running_ids(Kind::Job).contains(ENDS_SOON));
    let running = api
        .get(&format!(
            "/v4/jobs?projectId={P1}&status=running&page_size=10&page_no=1"
        ))
        .await;
    assert_eq!(ids(&running), [QUEUED, RUNNING]);

    // The stop that arrives after the end: answered, recorded, and the job stays Succeeded.
    let (status, answer) = stop(&api, P1, ENDS_SOON, json!(true)).await;
    assert_eq!(status, 200);
    assert_eq!(answer["statuses"]["executionStatus"], "Succeeded");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let state = api.sim.state();
    let job = state
        .get(Kind::Job, ENDS_SOON)
        .unwrap()
        .job
        .clone()
        .unwrap();
    assert_eq!(job.execution_status, "Succeeded");
    assert_eq!(job.stops.len(), 1);
    api.assert_no_violation();
}

#[tokio::test]
async fn a_stop_before_the_natural_end_wins() {
    let api = Api::start(
        SimConfig::default()
            .api_key(KEY)
            .scenario(scenario(400))
            .transition(100, 0),
    );
    stop(&api, P1, ENDS_SOON, json!(true)).await;
    assert!(wait_for_status(&api, ENDS_SOON, "Stopped").await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let j = api.get(&format!("/v4/jobs/{ENDS_SOON}")).await;
    assert_eq!(j["statuses"]["executionStatus"], "Stopped");
}

#[tokio::test]
async fn the_test_hooks_cover_jobs() {
    let api = Api::start(config());
    let running = api.sim.running_ids(Kind::Job);
    assert_eq!(
        running,
        [RUNNING, ENDS_SOON, QUEUED, OTHER]
            .into_iter()
            .map(String::from)
            .collect()
    );
    // Drift: a job started during maintenance, the newest in the first project.
    let drift = api.sim.add_running(Kind::Job).unwrap();
    assert!(api.sim.running_ids(Kind::Job).contains(&drift));
    let j = api.get(&format!("/v4/jobs/{drift}")).await;
    assert_eq!(j["number"], 6);
    assert_eq!(j["projectId"], P1);
    assert_eq!(j["statuses"]["executionStatus"], "Running");
    // Also over HTTP.
    let r = api.control_post("/__sim/executions/job", None).await;
    assert_eq!(r.status(), 201);

    // A user stops a job: ended at once. A job does not start again.
    api.sim.stop_behind_back(Kind::Job, RUNNING).unwrap();
    let j = api.get(&format!("/v4/jobs/{RUNNING}")).await;
    assert_eq!(j["statuses"]["executionStatus"], "Stopped");
    assert_eq!(j["statuses"]["isCompleted"], true);
    assert!(api.sim.start_behind_back(Kind::Job, RUNNING).is_err());
    // An ended job stays as it ended.
    api.sim.stop_behind_back(Kind::Job, FAILED).unwrap();
    let state = api.sim.state();
    assert_eq!(state.get(Kind::Job, FAILED).unwrap().status, "Failed");
    let rows: Vec<_> = state.of_kind(Kind::Job).collect();
    assert_eq!(rows.len(), 8);
    let ended = state.get(Kind::Job, SUCCEEDED).unwrap();
    let ended_job = ended.job.as_ref().unwrap();
    assert!(ended_job.ended_at_start && ended_job.completed && ended.stopped);
    assert_eq!(ended_job.execution_status, "Succeeded");

    // The dump over HTTP names the job fields.
    let dump: Value = api.control("/__sim/state").await;
    let row = dump["executions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == QUEUED)
        .unwrap();
    assert_eq!(row["kind"], "Job");
    assert_eq!(row["projectId"], P1);
    assert_eq!(row["job"]["number"], 3);
    assert_eq!(row["job"]["completed"], false);
    assert_eq!(row["job"]["restarts"], 0);
    assert!(row["job"]["stops"].as_array().unwrap().is_empty());
}

fn generated(seed: u64) -> SimConfig {
    SimConfig::default()
        .api_key(KEY)
        .seed(seed)
        .generate(GenerateSpec {
            projects: 3,
            apps: 2,
            models: 1,
            versions_per_model: 1,
            workspaces: 2,
            scheduled_jobs: 1,
            jobs: 40,
            rollout_in_progress: false,
        })
}

/// What a generated deployment's jobs are, leaving out the wall-clock times.
fn job_rows(config: SimConfig) -> Vec<(String, String, u64, String, String, bool)> {
    let sim = spawn(config).unwrap();
    let state = sim.state();
    state
        .of_kind(Kind::Job)
        .map(|e| {
            let j = e.job.as_ref().unwrap();
            (
                e.id.clone(),
                e.project_id.clone(),
                j.number,
                e.name.clone(),
                e.owner.clone(),
                j.ended_at_start,
            )
        })
        .collect()
}

#[test]
fn generated_jobs_are_the_same_for_the_same_seed() {
    let a = job_rows(generated(5));
    assert_eq!(a.len(), 40);
    assert_eq!(a, job_rows(generated(5)));
    assert_ne!(a, job_rows(generated(6)));
    let ended = a.iter().filter(|r| r.5).count();
    assert!(ended > 0 && ended < 20, "some ended already: {ended}");
    // Spread over the projects, numbered from 1 in each.
    let projects: std::collections::BTreeSet<&String> = a.iter().map(|r| &r.1).collect();
    assert_eq!(projects.len(), 3);
    for p in projects {
        let mut numbers: Vec<u64> = a.iter().filter(|r| &r.1 == p).map(|r| r.2).collect();
        numbers.sort();
        assert_eq!(numbers, (1..=numbers.len() as u64).collect::<Vec<_>>());
    }
    let sim = spawn(generated(5)).unwrap();
    assert!(!sim.running_ids(Kind::Job).is_empty());
    // A generated deployment without jobs has none.
    let none = spawn(SimConfig::default()).unwrap();
    assert!(none.running_ids(Kind::Job).is_empty());
}

#[tokio::test]
async fn a_restart_whose_answer_is_lost_still_made_its_job() {
    let api = Api::start(config());
    stop(&api, P1, RUNNING, json!(true)).await;
    assert!(wait_for_status(&api, RUNNING, "Stopped").await);
    api.sim
        .set_faults(FaultsPatch {
            lost_answer_rate: Some(1.0),
            ..FaultsPatch::default()
        })
        .unwrap();
    let sent = api
        .try_send(
            Method::POST,
            "/v4/jobs/restart",
            Some(&json!({ "jobId": RUNNING, "shouldUseOriginalInputCommit": true })),
        )
        .await;
    assert!(sent.is_err(), "no answer");
    // Done all the same: the caller must find the new job before sending again.
    assert_eq!(api.sim.restarts_of(RUNNING), 1);
    let log = api.sim.requests();
    let record = log
        .mutations_of(Kind::Job, RUNNING)
        .find(|m| m.path == "/v4/jobs/restart")
        .unwrap();
    assert_eq!(record.outcome, Outcome::AnswerLost);
    api.sim
        .set_faults(FaultsPatch {
            lost_answer_rate: Some(0.0),
            ..FaultsPatch::default()
        })
        .unwrap();
    let (id, name) = api.sim.principal();
    let listed = api
        .get(&format!("/v4/jobs?projectId={P1}&page_size=1&page_no=1"))
        .await;
    let newest = &listed["jobs"][0];
    assert_eq!(newest["title"], "train");
    assert_eq!(newest["startedBy"]["id"], id.as_str());
    assert_eq!(newest["startedBy"]["username"], name.as_str());
}

/// The words python-domino sends: `status=all` (its default), `order_by`/`sort_by`, and
/// `show_archived`; `queued` is not a word of this server (strict mode only).
#[tokio::test]
async fn the_listing_takes_all_and_its_order() {
    let api = Api::start(config());
    let list = |q: &str| format!("/v4/jobs?projectId={P1}{q}");
    let all = api
        .get(&list(
            "&order_by=number&sort_by=desc&page_no=1&show_archived=false&status=all",
        ))
        .await;
    assert_eq!(all["totalCount"], 5);
    assert_eq!(ids(&all), [FAILED, SUCCEEDED, QUEUED, ENDS_SOON, RUNNING]);
    let ascending = api
        .get(&list(
            "&status=all&order_by=number&sort_by=asc&page_size=2&page_no=1",
        ))
        .await;
    assert_eq!(ids(&ascending), [RUNNING, ENDS_SOON]);
    let by_title = api
        .get(&list("&status=all&order_by=title&sort_by=asc&page_size=50"))
        .await;
    // backfill, export, report, score, train
    assert_eq!(
        ids(&by_title),
        [SUCCEEDED, FAILED, QUEUED, ENDS_SOON, RUNNING]
    );
    for query in [
        "&status=queued",
        "&status=all&order_by=colour",
        "&status=all&sort_by=sideways",
    ] {
        assert_eq!(
            api.status_of(Method::GET, &list(query), None).await,
            400,
            "{query}"
        );
    }
}

/// Strict mode: the status words mean only what they say. `running` leaves out a Job that
/// waits in the queue; `queued` lists it; `all` lists every one.
#[tokio::test]
async fn in_strict_mode_running_means_only_running() {
    let api = Api::start(config().strict_job_status(true));
    let held = api.sim.add_queued_job(P2, "python wait.py").unwrap();
    let list = |q: &str| format!("/v4/jobs?projectId={P2}{q}&page_size=50");
    let running = api.get(&list("&status=running")).await;
    assert_eq!(ids(&running), [OTHER]);
    let queued = api.get(&list("&status=queued")).await;
    assert_eq!(ids(&queued), [held.as_str()]);
    assert_eq!(queued["jobs"][0]["statuses"]["executionStatus"], "Queued");
    assert_eq!(queued["jobs"][0]["statuses"]["isCompleted"], false);
    let all = api.get(&list("&status=all")).await;
    assert_eq!(ids(&all), [held.as_str(), OTHER]);
    let completed = api.get(&list("&status=completed")).await;
    assert!(ids(&completed).is_empty());
    assert_eq!(
        api.status_of(Method::GET, &list("&status=sleeping"), None)
            .await,
        400
    );
    // Held in the queue for good: still `Queued` well past the transition time.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let later = api.get(&format!("/v4/jobs/{held}")).await;
    assert_eq!(later["statuses"]["executionStatus"], "Queued");
}
