//! Every Domino endpoint's shape against docs/domino-api.md, auth, 404s, paging and the path prefix.

mod sim_support;

use domino_sim::Kind;
use domino_sim::{GenerateSpec, SimConfig};
use reqwest::Method;
use serde_json::{Value, json};
use sim_support::{Api, KEY, small_config};

const P1: &str = "5f0000000000000000000001";
const APP: &str = "a00000000000000000000001";
const MODEL: &str = "b00000000000000000000001";
const V2: &str = "f00000000000000000000002";
const WS: &str = "c00000000000000000000001";
const JOB: &str = "d00000000000000000000001";

fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect()
}

#[tokio::test]
async fn projects_and_datamounts() {
    let api = Api::start(small_config());
    let projects = api.get("/v4/projects").await;
    let first = &projects[0];
    assert_eq!(first["id"], P1);
    assert_eq!(first["name"], "churn");
    assert_eq!(first["ownerUsername"], "alice");
    assert_eq!(projects.as_array().unwrap().len(), 2);

    let mounts = api.get(&format!("/v4/datamount/projects/{P1}")).await;
    let local: Vec<&str> = mounts
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| {
            m["dataPlanes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["isLocal"] == true)
        })
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(local, ["ee0000000000000000000001"]);
    assert_eq!(
        api.status_of(Method::GET, "/v4/datamount/projects/nope", None)
            .await,
        404
    );
}

#[tokio::test]
async fn apps_list_read_stop_start() {
    let api = Api::start(small_config());
    let apps = api.get("/v4/modelProducts").await;
    let app = apps
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == APP)
        .unwrap();
    for field in [
        "id",
        "name",
        "status",
        "hardwareTierId",
        "projectId",
        "publisher",
    ] {
        assert!(keys(app).contains(&field), "{field}");
    }
    assert_eq!(app["status"], "Running");
    assert_eq!(app["publisher"]["userName"], "alice");
    assert_eq!(app["projectId"], P1);

    let one = api.get(&format!("/v4/modelProducts/{APP}")).await;
    assert_eq!(one["status"], "Running");

    let path = format!("/v4/modelProducts/{APP}/stop");
    assert_eq!(api.status_of(Method::POST, &path, None).await, 200);
    let start = json!({"hardwareTierId": "small-k8s", "externalVolumeMountIds": ["ee0000000000000000000001"]});
    let path = format!("/v4/modelProducts/{APP}/start");
    assert_eq!(api.status_of(Method::POST, &path, Some(&start)).await, 200);
    let state = api.sim.state();
    let app = state.get(Kind::App, APP).unwrap();
    assert_eq!((app.stop_requests, app.start_requests), (1, 1));
    assert_eq!(app.app_starts.len(), 1);
    assert_eq!(
        app.app_starts[0].external_volume_mount_ids.as_deref(),
        Some(&["ee0000000000000000000001".to_owned()][..])
    );
    assert_eq!(
        app.app_starts[0].hardware_tier_id.as_deref(),
        Some("small-k8s")
    );

    for path in [
        "/v4/modelProducts/ffffffffffffffffffffffff",
        "/v4/modelProducts/ffffffffffffffffffffffff/stop",
    ] {
        let method = if path.ends_with("stop") {
            Method::POST
        } else {
            Method::GET
        };
        assert_eq!(api.status_of(method, path, None).await, 404, "{path}");
    }
}

#[tokio::test]
async fn models_versions_paged_read_stop_start() {
    let api = Api::start(small_config());
    let models = api
        .get(&format!("/v4/modelManager/getModels?projectId={P1}"))
        .await;
    assert_eq!(models[0]["id"], MODEL);
    assert_eq!(models[0]["name"], "churn-scorer");
    assert_eq!(models[0]["activeModelVersionId"], V2);

    let mut seen = Vec::new();
    for page in 1.. {
        let body = api
            .get(&format!(
                "/models/{MODEL}/versions/json?pageNumber={page}&pageSize=1"
            ))
            .await;
        let results = body["results"].as_array().unwrap().clone();
        if results.is_empty() {
            break;
        }
        seen.extend(results);
    }
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1]["id"], V2);
    assert_eq!(seen[1]["number"], 2);
    assert_eq!(
        seen[1]["deploymentStatus"],
        json!({"name": "Running", "isPending": false})
    );
    assert_eq!(seen[1]["creator"]["name"], "alice");
    assert_eq!(seen[0]["deploymentStatus"]["name"], "Stopped");

    let one = api
        .get(&format!("/models/{MODEL}/versions/{V2}/json"))
        .await;
    assert_eq!(one["result"]["deploymentStatus"]["name"], "Running");

    let stop = format!("/v4/models/{MODEL}/{V2}/stopModelDeployment");
    assert_eq!(api.status_of(Method::POST, &stop, None).await, 200);
    let one = api
        .get(&format!("/models/{MODEL}/versions/{V2}/json"))
        .await;
    assert_eq!(
        one["result"]["deploymentStatus"],
        json!({"name": "Stopping", "isPending": true})
    );
    let start = format!("/v4/models/{MODEL}/{V2}/startModelDeployment");
    assert_eq!(api.status_of(Method::POST, &start, None).await, 200);

    // A version of another model, an unknown model, a missing projectId.
    let wrong = format!("/v4/models/b00000000000000000000002/{V2}/stopModelDeployment");
    assert_eq!(api.status_of(Method::POST, &wrong, None).await, 404);
    assert_eq!(
        api.status_of(
            Method::GET,
            "/models/nope/versions/json?pageNumber=1&pageSize=5",
            None
        )
        .await,
        404
    );
    assert_eq!(
        api.status_of(Method::GET, "/v4/modelManager/getModels", None)
            .await,
        400
    );
    assert_eq!(
        api.status_of(
            Method::GET,
            &format!("/models/{MODEL}/versions/json?pageNumber=0&pageSize=5"),
            None
        )
        .await,
        400
    );
}

#[tokio::test]
async fn workspaces_list_read_stop() {
    let api = Api::start(small_config());
    let page = api
        .get("/v4/workspace/adminDashboardRowData?limit=2&offset=0")
        .await;
    assert_eq!(page["totalEntries"], 3);
    let row = &page["tableRows"][0];
    for field in [
        "workspaceId",
        "name",
        "projectName",
        "projectOwnerName",
        "ownerUsername",
        "workspaceState",
    ] {
        assert!(keys(row).contains(&field), "{field}");
    }
    assert_eq!(row["workspaceId"], WS);
    assert_eq!(row["workspaceState"], "Started");
    let rest = api
        .get("/v4/workspace/adminDashboardRowData?limit=2&offset=2")
        .await;
    assert_eq!(rest["tableRows"].as_array().unwrap().len(), 1);

    let path = format!("/v4/workspace/project/{P1}/workspace/{WS}");
    let ws = api.get(&path).await;
    assert_eq!(
        ws["mostRecentSession"]["sessionStatusInfo"],
        json!({"isCompleted": false, "isRunning": true})
    );
    let never = api
        .get(&format!(
            "/v4/workspace/project/{P1}/workspace/c00000000000000000000002"
        ))
        .await;
    assert!(never["mostRecentSession"].is_null());

    assert_eq!(
        api.status_of(Method::POST, &format!("{path}/stop"), None)
            .await,
        200
    );
    let ws = api.get(&path).await;
    assert_eq!(
        ws["mostRecentSession"]["sessionStatusInfo"],
        json!({"isCompleted": false, "isRunning": false})
    );
    // The workspace exists, but not in that project.
    let other = format!("/v4/workspace/project/5f0000000000000000000002/workspace/{WS}");
    assert_eq!(api.status_of(Method::GET, &other, None).await, 404);
}

#[tokio::test]
async fn scheduled_jobs_round_trip_unknown_fields() {
    let api = Api::start(small_config());
    let jobs = api.get(&format!("/v4/projects/{P1}/scheduledjobs")).await;
    let job = &jobs[0];
    for field in [
        "id",
        "projectId",
        "title",
        "scheduledByUserName",
        "isPaused",
        "cronString",
        "command",
        "notifyOnCompleteEmailAddresses",
        "customerTag",
    ] {
        assert!(keys(job).contains(&field), "{field}");
    }
    let path = format!("/v4/projects/{P1}/scheduledjobs/{JOB}");
    let mut job = api.get(&path).await;
    assert_eq!(job["isPaused"], false);

    // A client that dropped fields it did not know is refused, and nothing changes.
    let lossy = json!({"id": JOB, "projectId": P1, "title": job["title"], "isPaused": true});
    let r = api.send(Method::PUT, &path, Some(&lossy)).await;
    assert_eq!(r.status(), 400);
    let message = r.text().await.unwrap();
    assert!(message.contains("cronString"), "{message}");
    assert!(api.sim.running_ids(Kind::ScheduledJob).contains(JOB));

    job["isPaused"] = json!(true);
    let r = api.send(Method::PUT, &path, Some(&job)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(api.get(&path).await, job);
    assert!(!api.sim.running_ids(Kind::ScheduledJob).contains(JOB));
    let state = api.sim.state();
    let s = state.get(Kind::ScheduledJob, JOB).unwrap();
    assert_eq!((s.status.as_str(), s.stop_requests), ("Paused", 1));

    let unknown = format!("/v4/projects/{P1}/scheduledjobs/ffffffffffffffffffffffff");
    assert_eq!(api.status_of(Method::GET, &unknown, None).await, 404);
    assert_eq!(api.status_of(Method::PUT, &unknown, Some(&job)).await, 404);
}

#[tokio::test]
async fn key_required_and_non_admin_forbidden() {
    let api = Api::start(small_config().non_admin_key("viewer"));
    let url = api.url("/v4/projects");
    let none = api.client.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let wrong = api
        .client
        .get(&url)
        .header("X-Domino-Api-Key", "nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(!wrong.text().await.unwrap().contains("nope"));
    let viewer = api
        .client
        .post(api.url(&format!("/v4/modelProducts/{APP}/stop")))
        .header("X-Domino-Api-Key", "viewer")
        .send()
        .await
        .unwrap();
    assert_eq!(viewer.status(), 403);
    assert_eq!(
        api.sim.state().get(Kind::App, APP).unwrap().stop_requests,
        0
    );
    // Who-am-I answers the viewer, as Domino does: not an administrator. Listings do not.
    let me = api
        .client
        .get(api.url("/v4/auth/principal"))
        .header("X-Domino-Api-Key", "viewer")
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["isAdmin"], false);
    assert!(
        !me.to_string().contains("viewer"),
        "the key is never echoed"
    );
    let listing = api
        .client
        .get(&url)
        .header("X-Domino-Api-Key", "viewer")
        .send()
        .await
        .unwrap();
    assert_eq!(listing.status(), 403);
    let good = api
        .client
        .get(&url)
        .header("X-Domino-Api-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), 200);
    let log = api.sim.requests();
    assert_eq!(log.faults.unauthorized, 2);
    assert_eq!(log.faults.forbidden, 2);
}

#[tokio::test]
async fn path_prefix_nests_every_domino_route() {
    let api = Api::start(small_config().path_prefix("/domino/"));
    assert!(api.sim.base_url().ends_with("/domino"));
    assert_eq!(api.get("/v4/projects").await.as_array().unwrap().len(), 2);
    let root = format!("{}/v4/projects", api.sim.root_url());
    let r = api
        .client
        .get(root)
        .header("X-Domino-Api-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // `/__sim/` stays at the root.
    api.control("/__sim/state").await;
    assert_eq!(api.sim.requests().count("GET", "/v4/projects"), 1);

    let stop = format!("/v4/modelProducts/{APP}/stop");
    assert_eq!(api.status_of(Method::POST, &stop, None).await, 200);
    let log = api.sim.requests();
    assert_eq!(log.mutations[0].path, format!("/domino{stop}"));
    assert_eq!(log.mutations[0].kind, Some(Kind::App));
    assert_eq!(log.mutations[0].execution_id.as_deref(), Some(APP));
    assert_eq!(log.count("POST", "/v4/modelProducts/{id}/stop"), 1);
    let unknown = api.status_of(Method::GET, "/v4/nothing-here", None).await;
    assert_eq!(unknown, 404);
}

#[tokio::test]
async fn model_versions_page_through_many() {
    let spec = GenerateSpec {
        projects: 1,
        apps: 0,
        models: 1,
        versions_per_model: 23,
        workspaces: 0,
        scheduled_jobs: 0,
        jobs: 0,
        rollout_in_progress: false,
    };
    let api = Api::start(SimConfig::default().api_key(KEY).generate(spec));
    let project = api.get("/v4/projects").await[0]["id"].clone();
    let models = api
        .get(&format!(
            "/v4/modelManager/getModels?projectId={}",
            project.as_str().unwrap()
        ))
        .await;
    let model = models[0]["id"].as_str().unwrap().to_owned();
    let mut numbers = Vec::new();
    let mut page = 1;
    loop {
        let body = api
            .get(&format!(
                "/models/{model}/versions/json?pageNumber={page}&pageSize=5"
            ))
            .await;
        let results = body["results"].as_array().unwrap();
        if results.is_empty() {
            break;
        }
        numbers.extend(results.iter().map(|v| v["number"].as_u64().unwrap()));
        page += 1;
    }
    assert_eq!(numbers, (1..=23).collect::<Vec<u64>>());
    assert_eq!(page, 6);
}

/// The rollout fixture: a model mid-rollout, odd stopped states, and a workspace whose project
/// `GET /v4/projects` does not list.
#[tokio::test]
async fn rollout_fixture_shows_odd_but_valid_records() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/scenarios/rollout.json"
    ))
    .unwrap();
    let scenario = domino_sim::Scenario::from_json(&bytes).unwrap();
    let api = Api::start(SimConfig::default().api_key(KEY).scenario(scenario));
    let projects = api.get("/v4/projects").await;
    assert_eq!(projects.as_array().unwrap().len(), 1);
    let rows = api
        .get("/v4/workspace/adminDashboardRowData?limit=10&offset=0")
        .await;
    assert_eq!(rows["tableRows"][0]["projectName"], "archived");

    let versions = api
        .get("/models/b000000000000000000000a1/versions/json?pageNumber=1&pageSize=10")
        .await;
    let names: Vec<&str> = versions["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["deploymentStatus"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Ready to run", "Running", "Running"]);
    let failed = api.get("/v4/modelProducts/a000000000000000000000a2").await;
    assert_eq!(failed["status"], "Failed");
    assert!(
        !api.sim
            .running_ids(Kind::App)
            .contains("a000000000000000000000a2")
    );
    // Once started, a failed app shows the ordinary states.
    api.sim
        .start_behind_back(Kind::App, "a000000000000000000000a2")
        .unwrap();
    api.sim
        .stop_behind_back(Kind::App, "a000000000000000000000a2")
        .unwrap();
    let again = api.get("/v4/modelProducts/a000000000000000000000a2").await;
    assert_eq!(again["status"], "Stopped");
}

/// What python-domino sends beside the calls dmm makes: a project's Apps by `projectId` (it
/// takes the first as the project's App, so another project's must not be there), and a project
/// found by owner and name (it resolves every project so).
#[tokio::test]
async fn apps_of_one_project_and_a_project_by_owner_and_name() {
    let api = Api::start(small_config());
    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = api.get("/v4/modelProducts").await;
    assert_eq!(all.as_array().unwrap().len(), 4);
    let p2 = api
        .get("/v4/modelProducts?projectId=5f0000000000000000000002")
        .await;
    assert_eq!(ids(&p2), ["a00000000000000000000004"]);
    let p1 = api.get(&format!("/v4/modelProducts?projectId={P1}")).await;
    assert_eq!(p1.as_array().unwrap().len(), 3);
    assert!(p1.as_array().unwrap().iter().all(|a| a["projectId"] == P1));
    let none = api.get("/v4/modelProducts?projectId=nope").await;
    assert_eq!(none, json!([]));

    let found = api
        .get("/v4/gateway/projects/findProjectByOwnerAndName?ownerName=carol&projectName=fraud")
        .await;
    assert_eq!(found["id"], "5f0000000000000000000002");
    assert_eq!(found["name"], "fraud");
    assert_eq!(found["ownerUsername"], "carol");
    for (query, want) in [
        ("ownerName=alice&projectName=fraud", 404),
        ("ownerName=carol", 400),
    ] {
        let path = format!("/v4/gateway/projects/findProjectByOwnerAndName?{query}");
        assert_eq!(
            api.status_of(Method::GET, &path, None).await,
            want,
            "{query}"
        );
    }
}
