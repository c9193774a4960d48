//! Each kind against a canned Domino on loopback: parsing, state words, odd records, and the
//! exact calls that stop and start executions.

use std::sync::Arc;

use serde_json::{Value, json};

use super::kinds::{apps, model_versions, scheduled_jobs, workspaces};
use super::test_support::{FakeDomino, test_client};
use super::{ApiError, KindOptions, NoProgress, Observed, execution_kind};
use crate::snapshot::{Entry, Kind};

fn entry(id: Value, name: &str) -> Entry {
    Entry {
        id,
        name: name.into(),
        owner: "someone".into(),
    }
}

fn as_json(entries: &[Entry]) -> Value {
    serde_json::to_value(entries).unwrap()
}

async fn fake(setup: impl FnOnce(&FakeDomino)) -> (Arc<FakeDomino>, super::DominoClient) {
    let fake = FakeDomino::new();
    setup(&fake);
    let fake = Arc::new(fake);
    let client = test_client(&fake.serve().await);
    (fake, client)
}

/// The workspaces a listing holds, in its order.
fn workspace_ids(listed: &workspaces::WorkspaceRows) -> Vec<&str> {
    listed
        .rows
        .iter()
        .map(|r| r.workspace_id.as_str())
        .collect()
}

#[tokio::test]
async fn apps_list_takes_everything_not_stopped_and_skips_odd_records() {
    let (_, client) = fake(|f| {
        f.get("/v4/modelProducts", json!([
            {"id": "a1", "name": "dash", "status": "Running", "hardwareTierId": "small", "projectId": "p1", "publisher": {"userName": "alice"}, "extra": [1]},
            {"id": "a2", "name": "old", "status": "Stopped", "hardwareTierId": "small", "projectId": "p1", "publisher": {"userName": "alice"}},
            {"id": "a3", "name": "new", "status": "Pending", "projectId": "p2"},
            {"id": "a4", "name": "odd", "projectId": "p2"},
            {"id": "a5", "status": "Failed", "projectId": "p2"}
        ]));
    })
    .await;
    let listing = apps::list_running(&client).await.unwrap();
    assert_eq!(
        as_json(&listing.entries),
        json!([
            {"_id": {"_id": "a1", "hardwareTierId": "small", "projectId": "p1"}, "name": "dash", "owner": "alice"},
            {"_id": {"_id": "a3", "hardwareTierId": null, "projectId": "p2"}, "name": "new", "owner": ""}
        ])
    );
    assert_eq!(listing.examined, 5);
    assert_eq!(listing.problems.len(), 1);
    assert_eq!(listing.problems[0].kind, Kind::App);
    assert_eq!(listing.problems[0].subject, "a4 (odd)");
    assert!(
        listing.problems[0]
            .reason
            .contains("missing field `status`")
    );
}

#[tokio::test]
async fn app_start_mounts_local_volumes_and_sends_the_hardware_tier() {
    let (fake, client) = fake(|f| {
        f.get(
            "/v4/datamount/projects/p1",
            json!([
                {"id": "edv-local", "dataPlanes": [{"isLocal": true}]},
                {"id": "edv-remote", "dataPlanes": [{"isLocal": false}]},
                {"id": "edv-mixed", "dataPlanes": [{"isLocal": false}, {"isLocal": true}]}
            ]),
        );
        f.on("POST", "/v4/modelProducts/a1/start", 200, json!({}));
        f.on("POST", "/v4/modelProducts/a1/stop", 200, json!({}));
    })
    .await;
    let apps = execution_kind(&client, &KindOptions::default(), Kind::App);
    let app = entry(
        json!({"_id": "a1", "hardwareTierId": "gpu-large", "projectId": "p1"}),
        "dash",
    );
    apps.start(&app).await.unwrap();
    apps.stop(&app).await.unwrap();
    let starts = fake.requests_to("POST", "/v4/modelProducts/a1/start");
    assert_eq!(
        starts[0].body,
        Some(
            json!({"hardwareTierId": "gpu-large", "externalVolumeMountIds": ["edv-local", "edv-mixed"]})
        )
    );
    assert_eq!(
        fake.requests_to("POST", "/v4/modelProducts/a1/stop").len(),
        1
    );
    assert!(apps.restartable(&app).is_ok());
}

#[tokio::test]
async fn app_states_one_and_all_and_gone() {
    let (_, client) = fake(|f| {
        f.get(
            "/v4/modelProducts/a1",
            json!({"status": "Serving", "id": "a1"}),
        );
        f.get("/v4/modelProducts/a2", json!({"status": "Stopping"}));
        f.get(
            "/v4/modelProducts",
            json!([
                {"id": "a1", "status": "Running"}, {"id": "a2", "status": "Succeeded"},
                {"id": "a3", "status": "Starting"}, {"status": "Running"}, {"id": "a4"}
            ]),
        );
    })
    .await;
    let apps = execution_kind(&client, &KindOptions::default(), Kind::App);
    let one = |id: &str| {
        entry(
            json!({"_id": id, "hardwareTierId": null, "projectId": "p"}),
            id,
        )
    };
    assert_eq!(apps.observe(&one("a1")).await.unwrap(), Observed::Running);
    assert_eq!(
        apps.observe(&one("a2")).await.unwrap(),
        Observed::InMotion("Stopping".into())
    );
    assert_eq!(apps.observe(&one("gone")).await.unwrap(), Observed::Gone);
    let all = apps.observe_all().await.unwrap().unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all["a1"], Observed::Running);
    assert_eq!(all["a2"], Observed::Stopped);
    assert_eq!(all["a3"], Observed::InMotion("Starting".into()));
}

#[tokio::test]
async fn a_snapshot_entry_without_what_a_call_needs_sends_nothing() {
    let (fake, client) = fake(|_| {}).await;
    let apps = execution_kind(&client, &KindOptions::default(), Kind::App);
    let err = apps
        .start(&entry(json!({"_id": "a1"}), "dash"))
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::BadEntry { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "App 'dash': _id.projectId is missing or not a non-empty string"
    );
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn model_versions_page_until_empty_and_mark_the_active_one() {
    let (fake, client) = fake(|f| {
        f.get("/v4/modelManager/getModels?projectId=p1", json!([
            {"id": "m1", "name": "churn", "activeModelVersionId": "v3"},
            {"name": "no id"}
        ]));
        f.get("/models/m1/versions/json?pageNumber=1&pageSize=2", json!({"results": [
            {"id": "v1", "number": 1, "deploymentStatus": {"name": "Stopped", "isPending": false}, "creator": {"name": "alice"}},
            {"id": "v2", "number": 2, "deploymentStatus": {"name": "Building", "isPending": false}, "creator": {"name": "bob"}}
        ]}));
        f.get("/models/m1/versions/json?pageNumber=2&pageSize=2", json!({"results": [
            {"id": "v3", "number": 3, "deploymentStatus": {"name": "Ready to run", "isPending": true}, "creator": {"name": "carol"}},
            {"id": "v4", "number": 4}
        ]}));
        f.get("/models/m1/versions/json?pageNumber=3&pageSize=2", json!({"results": []}));
    })
    .await;
    let listing = model_versions::list_project(&client, "p1", 2)
        .await
        .unwrap();
    assert_eq!(
        as_json(&listing.entries),
        json!([
            {"_id": {"_id": "v2", "modelId": "m1", "isActive": false}, "name": "churn #2", "owner": "bob"},
            {"_id": {"_id": "v3", "modelId": "m1", "isActive": true}, "name": "churn #3", "owner": "carol"}
        ])
    );
    let subjects: Vec<_> = listing
        .problems
        .iter()
        .map(|p| p.subject.as_str())
        .collect();
    assert_eq!(subjects, ["record #1 (no id)", "v4"]);
    assert!(listing.rollouts.is_empty(), "nothing Running: no rollout");
    assert_eq!(fake.requests().len(), 4);
}

#[tokio::test]
async fn model_version_calls_and_states() {
    let (fake, client) = fake(|f| {
        f.get(
            "/models/m1/versions/v1/json",
            json!({"result": {"deploymentStatus": {"name": "Running", "isPending": false}}}),
        );
        f.get(
            "/models/m1/versions/v2/json",
            json!({"result": {"deploymentStatus": {"name": "Stopped", "isPending": true}}}),
        );
        f.get("/models/m1/versions/v3/json", json!({"result": {}}));
        f.on(
            "POST",
            "/v4/models/m1/v1/stopModelDeployment",
            200,
            json!({}),
        );
        f.on(
            "POST",
            "/v4/models/m1/v1/startModelDeployment",
            200,
            json!({}),
        );
    })
    .await;
    let versions = execution_kind(&client, &KindOptions::default(), Kind::ModelApiVersion);
    let v = |id: &str| entry(json!({"_id": id, "modelId": "m1", "isActive": true}), id);
    assert_eq!(versions.observe(&v("v1")).await.unwrap(), Observed::Running);
    assert_eq!(
        versions.observe(&v("v2")).await.unwrap(),
        Observed::InMotion("Stopped (pending)".into())
    );
    assert_eq!(versions.observe(&v("v9")).await.unwrap(), Observed::Gone);
    let err = versions.observe(&v("v3")).await.unwrap_err();
    assert!(matches!(err, ApiError::Decode { .. }), "{err}");
    versions.stop(&v("v1")).await.unwrap();
    versions.start(&v("v1")).await.unwrap();
    assert_eq!(
        fake.requests_to("POST", "/v4/models/m1/v1/stopModelDeployment")
            .len(),
        1
    );
    assert_eq!(
        fake.requests_to("POST", "/v4/models/m1/v1/startModelDeployment")
            .len(),
        1
    );
    assert!(versions.observe_all().await.is_none());
}

#[tokio::test]
async fn workspace_list_dedups_shifting_pages_and_warns_on_count() {
    let row = |id: &str, state: &str| json!({"workspaceId": id, "name": id, "projectName": "churn", "projectOwnerName": "alice", "ownerUsername": "bob", "workspaceState": state});
    let (_, client) = fake(|f| {
        f.get("/v4/workspace/adminDashboardRowData?limit=2&offset=0", json!({"tableRows": [row("w1", "Started"), row("w2", "Stopped")], "totalEntries": 5}));
        // A row was inserted before w2 meanwhile: w2 comes again.
        f.get("/v4/workspace/adminDashboardRowData?limit=2&offset=2", json!({"tableRows": [row("w2", "Stopped"), {"workspaceId": "w-odd"}], "totalEntries": 5}));
        f.get("/v4/workspace/adminDashboardRowData?limit=2&offset=4", json!({"tableRows": [row("w3", "Stopping")], "totalEntries": 5}));
    })
    .await;
    let listed = workspaces::list_rows(&client, 2, &NoProgress)
        .await
        .unwrap();
    let ids = workspace_ids(&listed);
    assert_eq!(ids, ["w1", "w2", "w3"]);
    assert_eq!(listed.problems.len(), 1);
    assert_eq!(listed.problems[0].subject, "w-odd");
    assert_eq!(listed.warnings.len(), 1);
    assert!(
        listed.warnings[0].contains(
            "4 distinct workspaces found, the API now reports 5 (1 repeated rows dropped)"
        ),
        "{}",
        listed.warnings[0]
    );

    let kind = execution_kind(
        &client,
        &KindOptions {
            models_page_size: 10,
            workspaces_page_size: 2,
            jobs_page_size: 10,
        },
        Kind::Workspace,
    );
    let all = kind.observe_all().await.unwrap().unwrap();
    assert_eq!(all["w1"], Observed::Running);
    assert_eq!(all["w2"], Observed::Stopped);
    assert_eq!(all["w3"], Observed::InMotion("Stopping".into()));
}

#[tokio::test]
async fn workspace_calls_and_states() {
    let base = "/v4/workspace/project/p1/workspace";
    let (fake, client) = fake(|f| {
        f.get(&format!("{base}/w1"), json!({"mostRecentSession": {"sessionStatusInfo": {"isCompleted": false, "isRunning": true}}}));
        f.get(&format!("{base}/w2"), json!({"mostRecentSession": null}));
        f.on("POST", &format!("{base}/w1/stop"), 200, json!({}));
    })
    .await;
    let kind = execution_kind(&client, &KindOptions::default(), Kind::Workspace);
    let w = |id: &str| entry(json!({"_id": id, "projectId": "p1"}), id);
    assert_eq!(kind.observe(&w("w1")).await.unwrap(), Observed::Running);
    assert_eq!(kind.observe(&w("w2")).await.unwrap(), Observed::Stopped);
    assert_eq!(kind.observe(&w("w3")).await.unwrap(), Observed::Gone);
    kind.stop(&w("w1")).await.unwrap();
    assert_eq!(
        fake.requests_to("POST", &format!("{base}/w1/stop")).len(),
        1
    );
    let before = fake.requests().len();
    let err = kind.start(&w("w1")).await.unwrap_err();
    assert!(matches!(err, ApiError::Unsupported { .. }), "{err}");
    assert_eq!(fake.requests().len(), before, "a start sends nothing");
    assert_eq!(
        kind.restartable(&w("w1")),
        Err("restart manually: users restart their own workspaces".into())
    );
}

#[tokio::test]
async fn scheduled_job_pause_round_trip_keeps_unknown_fields() {
    let job = json!({
        "id": "j1", "projectId": "p1", "title": "nightly", "isPaused": false,
        "cronString": "0 2 * * *", "futureField": {"nested": [1, {"x": null}]}, "scheduledByUserName": "alice"
    });
    let path = "/v4/projects/p1/scheduledjobs/j1";
    let (fake, client) = fake(|f| {
        f.get(path, job.clone());
        f.on("PUT", path, 200, json!({}));
    })
    .await;
    let kind = execution_kind(&client, &KindOptions::default(), Kind::ScheduledJob);
    let e = entry(json!({"key": "j1", "projectId": "p1"}), "nightly");
    kind.stop(&e).await.unwrap();
    kind.start(&e).await.unwrap();
    let puts = fake.requests_to("PUT", path);
    let mut paused = job.clone();
    paused["isPaused"] = json!(true);
    assert_eq!(puts[0].body, Some(paused));
    assert_eq!(puts[1].body, Some(job));
    assert_eq!(kind.observe(&e).await.unwrap(), Observed::Running);
    let gone = entry(json!({"key": "j9", "projectId": "p1"}), "x");
    assert_eq!(kind.observe(&gone).await.unwrap(), Observed::Gone);
}

#[tokio::test]
async fn scheduled_jobs_list_takes_the_unpaused() {
    let (_, client) = fake(|f| {
        f.get("/v4/projects/p1/scheduledjobs", json!([
            {"id": "j1", "projectId": "p1", "title": "nightly", "scheduledByUserName": "alice", "isPaused": false},
            {"id": "j2", "projectId": "p1", "title": "paused", "scheduledByUserName": "alice", "isPaused": true},
            {"id": "j3", "title": "no project field"},
            {"title": "no id"}
        ]));
    })
    .await;
    let listing = scheduled_jobs::list_project(&client, "p1").await.unwrap();
    assert_eq!(
        as_json(&listing.entries),
        json!([
            {"_id": {"key": "j1", "projectId": "p1"}, "name": "nightly", "owner": "alice"},
            {"_id": {"key": "j3", "projectId": "p1"}, "name": "no project field", "owner": ""}
        ])
    );
    assert_eq!(listing.problems.len(), 1);
    assert_eq!(listing.problems[0].subject, "record #3 (no id)");
}

#[tokio::test]
async fn workspace_pages_advance_by_the_rows_received_from_a_capped_server() {
    let row = |id: &str, state: &str| json!({"workspaceId": id, "name": id, "projectName": "churn", "projectOwnerName": "alice", "ownerUsername": "bob", "workspaceState": state});
    let (fake, client) = fake(|f| {
        // 50 rows asked, 2 served: a short page is not the last one.
        f.get(
            "/v4/workspace/adminDashboardRowData?limit=50&offset=0",
            json!({"tableRows": [row("w1", "Started"), row("w2", "Stopped")], "totalEntries": 5}),
        );
        f.get(
            "/v4/workspace/adminDashboardRowData?limit=50&offset=2",
            json!({"tableRows": [row("w3", "Started"), row("w4", "Starting")], "totalEntries": 5}),
        );
        f.get(
            "/v4/workspace/adminDashboardRowData?limit=50&offset=4",
            json!({"tableRows": [row("w5", "Started")], "totalEntries": 5}),
        );
    })
    .await;
    let listed = workspaces::list_rows(&client, 50, &NoProgress)
        .await
        .unwrap();
    let ids = workspace_ids(&listed);
    assert_eq!(ids, ["w1", "w2", "w3", "w4", "w5"]);
    assert!(listed.problems.is_empty(), "{:?}", listed.problems);
    assert!(listed.warnings.is_empty(), "{:?}", listed.warnings);
    assert_eq!(fake.requests().len(), 3, "offset 5 reached totalEntries");

    // The runner's listing of states pages the same way.
    let kind = execution_kind(&client, &KindOptions::default(), Kind::Workspace);
    let all = kind.observe_all().await.unwrap().unwrap();
    assert_eq!(all.len(), 5);
    assert_eq!(all["w5"], Observed::Running);
}

#[tokio::test]
async fn a_workspace_list_that_ends_short_of_its_total_is_an_incomplete_scan() {
    let row = |id: &str| json!({"workspaceId": id, "name": id, "projectName": "churn", "projectOwnerName": "alice", "ownerUsername": "bob", "workspaceState": "Started"});
    let (fake, client) = fake(|f| {
        f.get(
            "/v4/workspace/adminDashboardRowData?limit=3&offset=0",
            json!({"tableRows": [row("w1"), row("w2"), row("w3")], "totalEntries": 7}),
        );
        f.get(
            "/v4/workspace/adminDashboardRowData?limit=3&offset=3",
            json!({"tableRows": [], "totalEntries": 7}),
        );
    })
    .await;
    let listed = workspaces::list_rows(&client, 3, &NoProgress)
        .await
        .unwrap();
    assert_eq!(listed.rows.len(), 3);
    assert_eq!(listed.problems.len(), 1, "{:?}", listed.problems);
    let problem = &listed.problems[0];
    assert_eq!(problem.subject, "the admin list of workspaces");
    assert!(
        problem
            .reason
            .contains("ended after 3 of the 7 rows it reports (totalEntries): rows 4 to 7"),
        "{}",
        problem.reason
    );
    assert!(listed.warnings.is_empty(), "{:?}", listed.warnings);
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn model_versions_keep_paging_past_a_capped_page() {
    let version = |id: &str, n: u64, state: &str| json!({"id": id, "number": n, "deploymentStatus": {"name": state, "isPending": false}, "creator": {"name": "alice"}});
    let (fake, client) = fake(|f| {
        f.get(
            "/v4/modelManager/getModels?projectId=p1",
            json!([{"id": "m1", "name": "churn", "activeModelVersionId": "v5"}]),
        );
        // 10 asked, 2 served: a short page is not the last one; only an empty page ends it.
        f.get(
            "/models/m1/versions/json?pageNumber=1&pageSize=10",
            json!({"results": [version("v1", 1, "Running"), version("v2", 2, "Stopped")]}),
        );
        f.get(
            "/models/m1/versions/json?pageNumber=2&pageSize=10",
            json!({"results": [version("v3", 3, "Building"), version("v4", 4, "Stopped")]}),
        );
        f.get(
            "/models/m1/versions/json?pageNumber=3&pageSize=10",
            json!({"results": [version("v5", 5, "Running")]}),
        );
        f.get(
            "/models/m1/versions/json?pageNumber=4&pageSize=10",
            json!({"results": []}),
        );
    })
    .await;
    let listing = model_versions::list_project(&client, "p1", 10)
        .await
        .unwrap();
    let ids: Vec<_> = listing
        .entries
        .iter()
        .map(|e| e.key(Kind::ModelApiVersion).unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["v1", "v3", "v5"], "{listing:?} {:?}", fake.requests());
    assert_eq!(listing.examined, 5);
    assert!(listing.problems.is_empty(), "{:?}", listing.problems);
    assert_eq!(fake.requests().len(), 5);
}

/// A server that answers every page with the same rows, unreadable or repeated, and a count
/// that never stops the paging: the listing stops after a few pages of nothing new, with a
/// problem, instead of reading to the page limit.
#[tokio::test]
async fn workspace_paging_stops_when_pages_bring_nothing_new() {
    use axum::routing::get;
    for rows in [
        json!([{"workspaceId": 7}, {"oops": true}]),
        json!([{"workspaceId": "w1", "name": "w1", "projectName": "churn", "projectOwnerName": "alice", "ownerUsername": "bob", "workspaceState": "Started"}]),
    ] {
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        let router =
            axum::Router::new().route(
                "/v4/workspace/adminDashboardRowData",
                get(move || {
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let rows = rows.clone();
                    async move {
                        axum::Json(json!({"tableRows": rows, "totalEntries": 1_000_000_000u64}))
                    }
                }),
            );
        let client = test_client(&super::test_support::serve(router).await);
        let listed = workspaces::list_rows(&client, 2, &NoProgress)
            .await
            .unwrap();
        let pages = hits.load(std::sync::atomic::Ordering::SeqCst);
        assert!(pages <= 4, "{pages} pages read");
        assert!(
            listed
                .problems
                .iter()
                .any(|p| p.reason.contains("were not listed")),
            "{:?}",
            listed.problems
        );
    }
}
