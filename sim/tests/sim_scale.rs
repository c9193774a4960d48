//! A deployment of 20,000 executions is built and listed in full (no timing assertion: this
//! checks that lazy transitions and paging hold up at that size).

mod sim_support;

use domino_sim::Kind;
use domino_sim::{GenerateSpec, SimConfig};
use reqwest::Method;
use sim_support::{Api, KEY};

#[tokio::test]
async fn twenty_thousand_executions_list_and_stop() {
    let spec = GenerateSpec {
        projects: 200,
        apps: 8_000,
        models: 1_000,
        versions_per_model: 2,
        workspaces: 6_000,
        scheduled_jobs: 4_000,
        jobs: 0,
        rollout_in_progress: false,
    };
    let api = Api::start(SimConfig::default().api_key(KEY).generate(spec));
    let state = api.sim.state();
    assert_eq!(state.executions.len(), 20_000);

    let apps = api.get("/v4/modelProducts").await;
    assert_eq!(apps.as_array().unwrap().len(), 8_000);

    let mut workspaces = 0;
    let mut offset = 0;
    loop {
        let page = api
            .get(&format!(
                "/v4/workspace/adminDashboardRowData?limit=1000&offset={offset}"
            ))
            .await;
        let rows = page["tableRows"].as_array().unwrap().len();
        if rows == 0 {
            break;
        }
        workspaces += rows;
        offset += rows;
    }
    assert_eq!(workspaces, 6_000);

    let projects = api.get("/v4/projects").await;
    let mut jobs = 0;
    for p in projects.as_array().unwrap() {
        let id = p["id"].as_str().unwrap();
        jobs += api
            .get(&format!("/v4/projects/{id}/scheduledjobs"))
            .await
            .as_array()
            .unwrap()
            .len();
    }
    assert_eq!(jobs, 4_000);

    // Stop a batch; the rest of the deployment is unaffected.
    let running: Vec<String> = api
        .sim
        .running_ids(Kind::App)
        .into_iter()
        .take(200)
        .collect();
    for id in &running {
        let path = format!("/v4/modelProducts/{id}/stop");
        assert_eq!(api.status_of(Method::POST, &path, None).await, 200);
    }
    assert_eq!(api.sim.requests().mutations.len(), 200);
}
