//! `dmm snapshot` end to end against the simulator.

mod common;

use std::collections::BTreeSet;

use common::*;
use dmm::snapshot::{self, Kind};
use domino_sim::{Faults, Scenario, SimConfig};

/// Pending executions settle on their own as transitions end; slow transitions keep the
/// deployment still while it is scanned, so what runs before and after is the same.
fn still(spec: domino_sim::GenerateSpec) -> SimConfig {
    config(spec).transition(600_000, 0)
}

fn snapshot_keys(env: &Env, kind: Kind) -> BTreeSet<String> {
    let loaded = snapshot::read(&env.snapshot()).expect("snapshot reads back");
    loaded
        .snapshot
        .entries(kind)
        .iter()
        .map(|e| e.key(kind).unwrap().to_owned())
        .collect()
}

#[test]
fn the_snapshot_holds_exactly_what_runs_across_many_pages() {
    let mut spec = small_spec();
    spec.projects = 12;
    spec.apps = 25;
    spec.models = 8;
    spec.versions_per_model = 5;
    spec.workspaces = 60;
    spec.scheduled_jobs = 15;
    let env = Env::new(still(spec));
    let snap = env.snapshot();
    // Small pages: many pages of workspaces and model versions.
    let out = env.run(&[
        "snapshot",
        snap.to_str().unwrap(),
        "--workspaces-page-size",
        "7",
        "--models-page-size",
        "2",
        "--concurrency",
        "3",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    for &kind in Kind::ALL {
        let expected = running(&env, kind);
        assert!(!expected.is_empty(), "{kind}: the scenario runs some");
        assert_eq!(snapshot_keys(&env, kind), expected, "{kind}");
    }
    let requests = env.sim.requests();
    assert!(
        requests.count("GET", "/v4/workspace/adminDashboardRowData") >= 9,
        "{:?}",
        requests.by_route
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&snap).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Model API Version"), "{stdout}");

    // An existing file is never overwritten.
    let before = std::fs::read(&snap).unwrap();
    let out = env.run(&["snapshot", snap.to_str().unwrap()]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert_eq!(std::fs::read(&snap).unwrap(), before);
}

#[test]
fn a_workspace_list_that_shifts_while_paged_loses_no_running_workspace() {
    let mut spec = small_spec();
    spec.workspaces = 30;
    let env = Env::new(still(spec).shifting_workspaces(true));
    let before = running(&env, Kind::Workspace);
    let snap = env.snapshot();
    let out = env.run(&[
        "snapshot",
        snap.to_str().unwrap(),
        "--workspaces-page-size",
        "5",
    ]);
    assert!(matches!(code(&out), 0 | 1), "{}", text(&out));
    let found = snapshot_keys(&env, Kind::Workspace);
    assert!(
        before.is_subset(&found),
        "missing {:?}",
        before.difference(&found).collect::<Vec<_>>()
    );
    let all = text(&out);
    assert!(
        all.contains("totalEntries") || all.contains("changed"),
        "the moving count is reported: {all}"
    );
}

#[test]
fn an_unresolvable_project_is_reported_and_the_snapshot_still_written() {
    let scenario = Scenario::from_json(
        &std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/sim/fixtures/scenarios/rollout.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let env = Env::new(SimConfig::default().api_key(KEY).scenario(scenario));
    let snap = env.snapshot();
    let out = env.run(&["snapshot", snap.to_str().unwrap()]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("may be incomplete"), "{all}");
    assert!(
        all.to_lowercase().contains("rollout"),
        "the rollout hazard is warned about: {all}"
    );
    assert!(snap.exists(), "the snapshot is still written");
}

#[test]
fn transient_faults_are_absorbed_by_retries() {
    let faults = Faults {
        error_rate: 0.15,
        rate_limit_rate: 0.1,
        retry_after_s: 0,
        drop_rate: 0.05,
        ..Faults::default()
    };
    let env = Env::new(still(small_spec()).faults(faults));
    let expected: Vec<_> = Kind::ALL.iter().map(|&k| running(&env, k)).collect();
    env.take_snapshot();
    for (kind, want) in Kind::ALL.iter().zip(expected) {
        assert_eq!(snapshot_keys(&env, *kind), want, "{kind}");
    }
    let f = env.sim.requests().faults;
    assert!(
        f.errors + f.rate_limited + f.dropped > 0,
        "faults were injected: {f:?}"
    );
}

#[test]
fn a_refused_key_stops_at_once_without_retrying() {
    let env = Env::small();
    let out = env
        .dmm()
        .env("DOMINO_API_KEY", "not-the-key")
        .args(["snapshot", env.snapshot().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(!stderr.contains("not-the-key"));
    assert_eq!(env.sim.requests().total, 1, "401 is not retried");
    assert!(!env.snapshot().exists());
}

#[test]
fn configuration_mistakes_are_one_line_and_exit_2_before_any_request() {
    let env = Env::small();
    let snap = env.snapshot();
    let snap = snap.to_str().unwrap();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("DOMINO_HOSTNAME", "")], "hostname"),
        (vec![("DOMINO_HOSTNAME", "domino.example.com")], "http"),
        (vec![("DOMINO_API_KEY", "")], "key"),
    ];
    for (vars, expect) in cases {
        let mut cmd = env.dmm();
        for (k, v) in &vars {
            cmd.env(k, v);
        }
        let out = cmd.args(["snapshot", snap]).output().unwrap();
        assert_eq!(code(&out), 2, "{vars:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{vars:?}: {stderr}");
        assert!(stderr.to_lowercase().contains(expect), "{vars:?}: {stderr}");
    }
    assert_eq!(env.sim.requests().total, 0);
}

#[test]
fn snapshots_of_the_earlier_tool_drive_a_shutdown() {
    // A hand-written file in the earlier tool's format, naming executions the simulator has.
    let env = Env::small();
    env.take_snapshot();
    let ours = std::fs::read_to_string(env.snapshot()).unwrap();
    let value: serde_json::Value = serde_json::from_str(&ours).unwrap();
    // Python's json.dump layout, keys in the earlier tool's order.
    let keys: Vec<_> = value.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        ["App", "Model API Version", "Workspace", "Scheduled Job"]
    );
    assert!(
        ours.contains("\", \"") || ours.contains("}, {"),
        "python separators"
    );
    let out = env.run_op("shutdown", &["-s", "App"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(running(&env, Kind::App).is_empty());
}

/// One project with `total` workspaces, every third one stopped, and one model with `versions`
/// versions, every third one running.
fn paged_scenario(total: usize, versions: usize) -> Scenario {
    use domino_sim::{ModelSpec, ProjectSpec, StartState, WorkspaceSpec};
    let state = |i: usize| {
        if i % 3 == 2 {
            StartState::Stopped
        } else {
            StartState::Running
        }
    };
    Scenario {
        projects: vec![ProjectSpec {
            name: "churn".into(),
            owner: "alice".into(),
            workspaces: (0..total)
                .map(|i| WorkspaceSpec {
                    id: None,
                    name: format!("ws-{i}"),
                    owner: None,
                    state: state(i),
                })
                .collect(),
            models: vec![ModelSpec {
                id: None,
                name: "scorer".into(),
                versions: (0..versions)
                    .map(|i| {
                        if i % 3 == 0 {
                            StartState::Running
                        } else {
                            StartState::Stopped
                        }
                    })
                    .collect(),
                version_ids: Vec::new(),
                active_version: None,
                owner: None,
            }],
            ..ProjectSpec::default()
        }],
    }
}

#[test]
fn a_server_that_caps_the_page_size_loses_no_running_workspace_or_version() {
    // The server serves at most 25 rows a page; dmm asks for 50 workspaces and 40 versions.
    let env = Env::new(
        SimConfig::default()
            .api_key(KEY)
            .scenario(paged_scenario(60, 30))
            .max_page_size(25),
    );
    let want_workspaces = running(&env, Kind::Workspace);
    let want_versions = running(&env, Kind::ModelApiVersion);
    assert_eq!(want_workspaces.len(), 40);
    assert_eq!(want_versions.len(), 10);
    let snap = env.snapshot();
    let out = env.run(&[
        "snapshot",
        snap.to_str().unwrap(),
        "--workspaces-page-size",
        "50",
        "--models-page-size",
        "40",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(snapshot_keys(&env, Kind::Workspace), want_workspaces);
    assert_eq!(snapshot_keys(&env, Kind::ModelApiVersion), want_versions);
    let all = text(&out);
    assert!(!all.contains("changed while it was paged"), "{all}");
    // Three pages of workspaces (25, 25, 10), then offset 60 reaches totalEntries.
    let requests = env.sim.requests();
    assert_eq!(
        requests.count("GET", "/v4/workspace/adminDashboardRowData"),
        3
    );
}

#[test]
fn a_workspace_list_that_ends_short_of_its_total_is_an_incomplete_snapshot() {
    // The server serves no row beyond offset 50 (a search backend's result window) while its
    // totalEntries still counts all 60.
    let env = Env::new(
        SimConfig::default()
            .api_key(KEY)
            .scenario(paged_scenario(60, 3))
            .max_page_size(25)
            .workspace_window(50),
    );
    let snap = env.snapshot();
    let out = env.run(&["snapshot", snap.to_str().unwrap()]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains(
            "ended after 50 of the 60 rows it reports (totalEntries): rows 51 to 60 were not listed"
        ),
        "{all}"
    );
    assert!(all.contains("may be incomplete"), "{all}");
    // What could be listed is in the snapshot all the same.
    assert!(snap.exists());
    assert!(!snapshot_keys(&env, Kind::Workspace).is_empty());
}
