//! The whole scan against a canned deployment: paging, shifting workspace pages, an
//! unresolvable project, a model mid-rollout, a project that cannot be listed, progress hooks.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::test_support::{FakeDomino, test_client};
use super::{ApiError, NoProgress, ScanOptions, ScanProblem, ScanProgress, scan};
use crate::snapshot::Kind;

/// Records every hook call, to check what a progress bar would show.
#[derive(Default)]
struct Recorder {
    started: Mutex<BTreeMap<Kind, usize>>,
    done: Mutex<BTreeMap<Kind, usize>>,
    found: Mutex<BTreeMap<Kind, usize>>,
    finished: Mutex<Vec<Kind>>,
    problems: Mutex<usize>,
    warnings: Mutex<usize>,
}

impl ScanProgress for Recorder {
    fn kind_started(&self, kind: Kind, units_total: usize) {
        self.started.lock().unwrap().insert(kind, units_total);
    }
    fn unit_done(&self, kind: Kind) {
        *self.done.lock().unwrap().entry(kind).or_default() += 1;
    }
    fn found(&self, kind: Kind, n: usize) {
        *self.found.lock().unwrap().entry(kind).or_default() += n;
    }
    fn kind_finished(&self, kind: Kind) {
        self.finished.lock().unwrap().push(kind);
    }
    fn problem(&self, _problem: &ScanProblem) {
        *self.problems.lock().unwrap() += 1;
    }
    fn warning(&self, _message: &str) {
        *self.warnings.lock().unwrap() += 1;
    }
}

fn workspace_row(id: &str, owner: &str, project: &str, state: &str) -> Value {
    json!({"workspaceId": id, "name": format!("ws-{id}"), "projectName": project, "projectOwnerName": owner,
           "ownerUsername": "dev", "workspaceState": state, "hardwareTier": "small"})
}

fn version(id: &str, number: u64, state: &str, pending: bool) -> Value {
    json!({"id": id, "number": number, "deploymentStatus": {"name": state, "isPending": pending}, "creator": {"name": "ml"}})
}

/// A model's versions two to a page, then the empty page that ends its listing.
fn version_pages(f: &FakeDomino, model: &str, pages: &[Vec<Value>]) {
    let end = Vec::new();
    for (i, results) in pages.iter().chain([&end]).enumerate() {
        let page = i + 1;
        f.get(
            &format!("/models/{model}/versions/json?pageNumber={page}&pageSize=2"),
            json!({ "results": results }),
        );
    }
}

/// Three projects (one unreadable record besides), every kind running somewhere.
fn deployment(f: &FakeDomino) {
    f.get(
        "/v4/projects",
        json!([
            {"id": "p1", "name": "churn", "ownerUsername": "alice"},
            {"id": "p2", "name": "fraud", "ownerUsername": "bob"},
            {"id": "p3", "name": "broken", "ownerUsername": "carol"},
            {"id": "p4", "ownerUsername": "dave"}
        ]),
    );
    f.get("/v4/modelProducts", json!([
        {"id": "a1", "name": "dash", "status": "Running", "hardwareTierId": "small", "projectId": "p1", "publisher": {"userName": "alice"}},
        {"id": "a2", "name": "old", "status": "Stopped", "hardwareTierId": "small", "projectId": "p1", "publisher": {"userName": "alice"}},
        {"id": "a3", "name": "boot", "status": "Preparing", "hardwareTierId": "gpu", "projectId": "p2", "publisher": {"userName": "bob"}}
    ]));
    // p1: model m1 is mid-rollout (v2 Running while v1 still has a change pending).
    f.get(
        "/v4/modelManager/getModels?projectId=p1",
        json!([{"id": "m1", "name": "churn-model", "activeModelVersionId": "v2"}]),
    );
    version_pages(
        f,
        "m1",
        &[
            vec![
                version("v1", 1, "Stopped", true),
                version("v2", 2, "Running", false),
            ],
            vec![version("v3", 3, "Ready to run", false)],
        ],
    );
    f.get(
        "/v4/modelManager/getModels?projectId=p2",
        json!([{"id": "m2", "name": "fraud-model", "activeModelVersionId": "v9"}]),
    );
    version_pages(f, "m2", &[vec![version("v9", 1, "Running", false)]]);
    f.get("/v4/modelManager/getModels?projectId=p3", json!([]));
    // Workspaces, 2 per page; rows shift (w2 twice), one row names an unknown project.
    f.get("/v4/workspace/adminDashboardRowData?limit=2&offset=0", json!({"tableRows": [
        workspace_row("w1", "alice", "churn", "Started"), workspace_row("w2", "bob", "fraud", "Stopped")], "totalEntries": 5}));
    f.get("/v4/workspace/adminDashboardRowData?limit=2&offset=2", json!({"tableRows": [
        workspace_row("w2", "bob", "fraud", "Stopped"), workspace_row("w3", "bob", "fraud", "Initializing")], "totalEntries": 5}));
    f.get(
        "/v4/workspace/adminDashboardRowData?limit=2&offset=4",
        json!({"tableRows": [
        workspace_row("w4", "ghost", "nowhere", "Started")], "totalEntries": 5}),
    );
    f.get("/v4/projects/p1/scheduledjobs", json!([
        {"id": "j1", "projectId": "p1", "title": "nightly", "scheduledByUserName": "alice", "isPaused": false},
        {"id": "j2", "projectId": "p1", "title": "paused", "scheduledByUserName": "alice", "isPaused": true}]));
    f.get("/v4/projects/p2/scheduledjobs", json!([
        {"id": "j3", "projectId": "p2", "title": "hourly", "scheduledByUserName": "bob", "isPaused": false, "cron": "0 * * * *"}]));
    // p3's scheduled jobs fail for good (after the client's retries).
    f.on(
        "GET",
        "/v4/projects/p3/scheduledjobs",
        503,
        json!({"message": "down"}),
    );
}

fn options() -> ScanOptions {
    ScanOptions {
        concurrency: 2,
        workspaces_page_size: 2,
        models_page_size: 2,
        include_live: false,
    }
}

#[tokio::test]
async fn scans_every_kind_end_to_end() {
    let fake = FakeDomino::new();
    deployment(&fake);
    let fake = Arc::new(fake);
    let client = test_client(&fake.serve().await);
    let progress = Recorder::default();
    let report = scan(&client, &options(), &progress).await.unwrap();

    let snapshot: Value = serde_json::from_slice(&report.snapshot.to_json()).unwrap();
    assert_eq!(
        snapshot,
        json!({
            "App": [
                {"_id": {"_id": "a3", "hardwareTierId": "gpu", "projectId": "p2"}, "name": "boot", "owner": "bob"},
                {"_id": {"_id": "a1", "hardwareTierId": "small", "projectId": "p1"}, "name": "dash", "owner": "alice"}
            ],
            "Model API Version": [
                {"_id": {"_id": "v1", "modelId": "m1", "isActive": false}, "name": "churn-model #1", "owner": "ml"},
                {"_id": {"_id": "v2", "modelId": "m1", "isActive": true}, "name": "churn-model #2", "owner": "ml"},
                {"_id": {"_id": "v9", "modelId": "m2", "isActive": true}, "name": "fraud-model #1", "owner": "ml"}
            ],
            "Workspace": [
                {"_id": {"_id": "w1", "projectId": "p1"}, "name": "churn/ws-w1", "owner": "dev"},
                {"_id": {"_id": "w3", "projectId": "p2"}, "name": "fraud/ws-w3", "owner": "dev"}
            ],
            "Scheduled Job": [
                {"_id": {"key": "j3", "projectId": "p2"}, "name": "hourly", "owner": "bob"},
                {"_id": {"key": "j1", "projectId": "p1"}, "name": "nightly", "owner": "alice"}
            ]
        })
    );
    // The file round-trips through the snapshot reader (same checks as the earlier tool's).
    crate::snapshot::Snapshot::from_json(&report.snapshot.to_json()).unwrap();

    let problems: Vec<(Kind, &str)> = report
        .problems
        .iter()
        .map(|p| (p.kind, p.subject.as_str()))
        .collect();
    assert_eq!(
        problems,
        [
            (Kind::Workspace, "w4 (nowhere/ws-w4)"),
            (Kind::ScheduledJob, "project p3 (carol/broken)")
        ]
    );
    assert!(
        report.problems[1].reason.contains("HTTP 503"),
        "{}",
        report.problems[1]
    );
    assert_eq!(report.warnings.len(), 3, "{:#?}", report.warnings);
    assert!(
        report.warnings[0].starts_with("project p4 skipped (missing field `name`)"),
        "{}",
        report.warnings[0]
    );
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("'churn-model' (m1) looks mid-rollout"))
    );
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("4 distinct workspaces found, the API now reports 5"))
    );
    assert!(!report.warnings.iter().any(|w| w.contains("fraud-model")));

    assert_eq!(report.projects, 3);
    assert_eq!(report.found(Kind::App), 2);
    assert_eq!(report.examined(Kind::App), 3);
    assert_eq!(report.examined(Kind::ModelApiVersion), 4);
    assert_eq!(report.examined(Kind::Workspace), 4);
    assert_eq!(report.examined(Kind::ScheduledJob), 3);
    assert_eq!(report.requests, fake.requests().len() as u64);
    assert_eq!(
        fake.requests_to("GET", "/v4/projects/p3/scheduledjobs")
            .len(),
        4,
        "retried, then a problem"
    );

    // Every unit of work a kind announced was started and done.
    let units = BTreeMap::from([
        (Kind::App, 1),
        (Kind::ModelApiVersion, 3),
        (Kind::Workspace, 3),
        (Kind::ScheduledJob, 3),
    ]);
    assert_eq!(*progress.started.lock().unwrap(), units);
    assert_eq!(*progress.done.lock().unwrap(), units);
    let found = progress.found.lock().unwrap().clone();
    for &kind in Kind::ALL {
        assert_eq!(
            found.get(&kind).copied().unwrap_or(0),
            report.found(kind),
            "{kind}"
        );
    }
    assert_eq!(progress.finished.lock().unwrap().len(), 4);
    assert_eq!(*progress.problems.lock().unwrap(), 2);
    assert_eq!(*progress.warnings.lock().unwrap(), 3);
}

#[tokio::test]
async fn a_refused_key_anywhere_ends_the_scan() {
    let fake = FakeDomino::new();
    deployment(&fake);
    fake.on("GET", "/v4/projects/p2/scheduledjobs", 403, json!({}));
    let fake = Arc::new(fake);
    let client = test_client(&fake.serve().await);
    let err = scan(&client, &options(), &NoProgress).await.unwrap_err();
    assert!(
        matches!(err, ApiError::Unauthorized { status: 403, .. }),
        "{err}"
    );
    assert_eq!(
        fake.requests_to("GET", "/v4/projects/p2/scheduledjobs")
            .len(),
        1
    );
}

#[tokio::test]
async fn no_project_list_no_scan() {
    let fake = FakeDomino::new();
    deployment(&fake);
    fake.on("GET", "/v4/projects", 500, json!({"message": "boom"}));
    let fake = Arc::new(fake);
    let client = test_client(&fake.serve().await);
    let err = scan(&client, &options(), &NoProgress).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"GET /v4/projects: HTTP 500: {"message":"boom"}"#
    );
    assert_eq!(
        fake.requests().len(),
        4,
        "only the project list, with its retries"
    );
}

#[tokio::test]
async fn project_listings_stay_within_the_concurrency_bound() {
    let fake = FakeDomino::slow(Duration::from_millis(10), &["getModels", "/scheduledjobs"]);
    let projects: Vec<Value> = (0..8)
        .map(|i| json!({"id": format!("p{i}"), "name": format!("n{i}"), "ownerUsername": "o"}))
        .collect();
    fake.get("/v4/projects", Value::Array(projects));
    fake.get("/v4/modelProducts", json!([]));
    fake.get(
        "/v4/workspace/adminDashboardRowData?limit=50&offset=0",
        json!({"tableRows": [], "totalEntries": 0}),
    );
    for i in 0..8 {
        fake.get(
            &format!("/v4/modelManager/getModels?projectId=p{i}"),
            json!([]),
        );
        fake.get(&format!("/v4/projects/p{i}/scheduledjobs"), json!([]));
    }
    let fake = Arc::new(fake);
    let client = test_client(&fake.serve().await);
    let options = ScanOptions {
        concurrency: 3,
        ..ScanOptions::default()
    };
    let report = scan(&client, &options, &NoProgress).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert!(report.snapshot.is_empty());
    assert_eq!(fake.watched_peak(), 3);
}
