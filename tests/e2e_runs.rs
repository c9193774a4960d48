//! shutdown and restore end to end: the real binary, the simulator, the journal on disk.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::*;
use dmm::journal::{Operation, StepPhase};
use dmm::snapshot::Kind;
use domino_sim::Kind as SimKind;

#[test]
fn a_full_cycle_returns_the_deployment_to_what_ran() {
    let env = Env::small();
    env.take_snapshot();
    // What ran, as the snapshot saw it: the simulator's pending executions settle on their own,
    // so the snapshot, not an earlier look, is the reference.
    let snap = dmm::snapshot::read(&env.snapshot()).unwrap().snapshot;
    let before: BTreeMap<Kind, BTreeSet<String>> = Kind::ALL
        .iter()
        .map(|&k| {
            (
                k,
                snap.entries(k)
                    .iter()
                    .map(|e| e.key(k).unwrap().to_owned())
                    .collect(),
            )
        })
        .collect();
    assert!(
        before.values().all(|s| !s.is_empty()),
        "the scenario runs something of every kind"
    );

    let out = env.run_op("shutdown", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    for &kind in Kind::ALL {
        assert!(
            running(&env, kind).is_empty(),
            "{kind} still running after shutdown"
        );
    }
    let steps = env.steps(Operation::Shutdown);
    assert_eq!(steps.len(), before.values().map(|s| s.len()).sum::<usize>());
    assert!(
        steps.iter().all(|s| s.phase == StepPhase::Confirmed),
        "{steps:#?}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("verification: passed"));

    let out = env.run_op("restore", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(running(&env, Kind::App), before[&Kind::App]);
    assert_eq!(
        running(&env, Kind::ScheduledJob),
        before[&Kind::ScheduledJob]
    );
    // Workspaces are left to their users; only active model versions come back.
    assert!(running(&env, Kind::Workspace).is_empty());
    let state = env.sim.state();
    for e in state
        .executions
        .iter()
        .filter(|e| e.kind == SimKind::ModelApiVersion)
    {
        if before[&Kind::ModelApiVersion].contains(&e.id) && e.is_active == Some(true) {
            assert!(e.running, "active version {} not restored", e.id);
        }
        if e.is_active != Some(true) {
            assert_eq!(e.start_requests, 0, "inactive version {} was started", e.id);
        }
    }
    let restore = env.steps(Operation::Restore);
    let skipped = count_phase(&restore, |p| matches!(p, StepPhase::Skipped(_)));
    assert!(skipped >= before[&Kind::Workspace].len());
    assert!(
        restore
            .iter()
            .all(|s| s.phase.is_terminal() && !matches!(s.phase, StepPhase::Failed(_)))
    );

    // Apps came back with their hardware tier and only local-data-plane volumes.
    for e in state
        .executions
        .iter()
        .filter(|e| e.kind == SimKind::App && before[&Kind::App].contains(&e.id))
    {
        assert_eq!(e.app_starts.len(), 1, "app {} started once", e.id);
    }

    // Running it again does nothing new: every step has ended.
    let mutations = env.sim.requests().mutations.len();
    let out = env.run_op("restore", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(
        env.sim.requests().mutations.len(),
        mutations,
        "a finished restore sent requests again"
    );
}

#[test]
fn a_run_killed_mid_way_continues_and_never_repeats_a_confirmed_step() {
    let mut spec = small_spec();
    spec.apps = 30;
    spec.workspaces = 20;
    let mut cfg = config(spec);
    cfg = cfg.transition(300, 100);
    let env = Env::new(cfg);
    env.take_snapshot();

    // Kill once some intents are durable, then again while steps are polling.
    for (round, min_accepted) in [(0, 1usize), (1, 10)] {
        let mut child = env.spawn_op("shutdown", &[]);
        wait_for(Duration::from_secs(20), "steps to be accepted", || {
            let steps = env.steps(Operation::Shutdown);
            count_phase(&steps, |p| {
                matches!(p, StepPhase::Accepted | StepPhase::Confirmed)
            }) >= min_accepted * (round + 1)
        });
        kill9(&mut child);
    }
    let steps = env.steps(Operation::Shutdown);
    let confirmed: Vec<_> = steps
        .iter()
        .filter(|s| s.phase == StepPhase::Confirmed)
        .map(|s| (sim_kind(s.key.kind), s.key.execution.clone()))
        .collect();
    assert!(
        steps.iter().any(|s| !s.phase.is_terminal()),
        "the kill came too late to leave work behind"
    );
    let stops_before: BTreeMap<_, _> = env
        .sim
        .state()
        .executions
        .iter()
        .map(|e| ((e.kind, e.id.clone()), e.stop_requests))
        .collect();

    let out = env.run_op("shutdown", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    for &kind in Kind::ALL {
        assert!(running(&env, kind).is_empty(), "{kind} still running");
    }
    let after = env.sim.state();
    for e in &after.executions {
        if confirmed.contains(&(e.kind, e.id.clone())) {
            assert_eq!(
                e.stop_requests,
                stops_before[&(e.kind, e.id.clone())],
                "{} {} was confirmed before the resume but was sent another stop",
                e.kind,
                e.id
            );
        }
    }
    let steps = env.steps(Operation::Shutdown);
    assert!(steps.iter().all(|s| s.phase == StepPhase::Confirmed));
}

#[test]
fn a_second_process_on_the_same_journal_is_refused() {
    let mut cfg = config(small_spec());
    cfg = cfg.transition(2_000, 0);
    let env = Env::new(cfg);
    env.take_snapshot();
    let mut first = env.spawn_op("shutdown", &[]);
    wait_for(Duration::from_secs(20), "the first run to start", || {
        !env.steps(Operation::Shutdown).is_empty()
    });
    let out = env.run_op("shutdown", &[]);
    kill9(&mut first);
    assert_eq!(code(&out), 4, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("held by another process"));
}

#[test]
fn a_journal_is_refused_with_another_snapshot() {
    let env = Env::small();
    env.take_snapshot();
    let out = env.run_op("shutdown", &["-s", "scheduled-job"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let journal = std::fs::read(env.journal()).unwrap();

    // Same journal, edited snapshot: refused, and the journal is untouched.
    let snap = std::fs::read_to_string(env.snapshot()).unwrap();
    let other = env.path("other.json");
    std::fs::write(&other, snap.replacen("\"App\": [", "\"App\": [ ", 1)).unwrap();
    let out = env
        .dmm()
        .args([
            "shutdown",
            other.to_str().unwrap(),
            "--yes",
            "--journal",
            env.journal().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("belongs to another snapshot"));
    assert_eq!(std::fs::read(env.journal()).unwrap(), journal);
}

#[test]
fn stuck_executions_fail_after_the_grace_period_and_the_rest_complete() {
    let mut cfg = config(small_spec());
    cfg = cfg.stuck_rate(0.3);
    let env = Env::new(cfg);
    env.take_snapshot();
    let out = env.run_op("shutdown", &["-g", "1"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let steps = env.steps(Operation::Shutdown);
    let stuck: Vec<_> = env
        .sim
        .state()
        .executions
        .into_iter()
        .filter(|e| e.stuck)
        .collect();
    assert!(!stuck.is_empty(), "the seed makes some executions stuck");
    let failed = count_phase(&steps, |p| matches!(p, StepPhase::Failed(_)));
    assert_eq!(failed, stuck.len(), "{steps:#?}");
    for s in &steps {
        let is_stuck = stuck.iter().any(|e| e.id == s.key.execution);
        match &s.phase {
            StepPhase::Failed(reason) => {
                assert!(is_stuck, "{} failed but was not stuck", s.key.execution);
                assert!(reason.contains("grace period"), "{reason}");
            }
            StepPhase::Confirmed => assert!(!is_stuck),
            other => panic!("unexpected phase {other}"),
        }
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("verification: FAILED"), "{stdout}");
    for e in &stuck {
        assert!(stdout.contains(&e.id), "verification names {}", e.id);
    }
}

#[test]
fn without_a_terminal_a_run_refuses_unless_told_yes() {
    let env = Env::small();
    env.take_snapshot();
    let out = env.run(&["shutdown", env.snapshot().to_str().unwrap()]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    assert!(env.sim.requests().mutations.is_empty());
}

#[test]
fn a_dry_run_touches_nothing() {
    let env = Env::small();
    env.take_snapshot();
    let journal = std::fs::read(env.journal()).expect("snapshot records its scan in the journal");
    let out = env.run(&["shutdown", env.snapshot().to_str().unwrap(), "--dry-run"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("dry run"));
    assert!(env.sim.requests().mutations.is_empty());
    assert_eq!(
        std::fs::read(env.journal()).unwrap(),
        journal,
        "a dry run writes nothing"
    );
}

#[test]
fn every_bodyless_post_carries_a_content_length() {
    // As a load balancer in front of Domino may: 411 to a POST without Content-Length.
    let env = Env::new(config(small_spec()).require_content_length(true));
    env.take_snapshot();
    let out = env.run_op("shutdown", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let out = env.run_op("restore", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let requests = env.sim.requests();
    let posts: Vec<_> = requests
        .mutations
        .iter()
        .filter(|m| m.method == "POST")
        .collect();
    // App and version stops and starts, workspace stops: every kind that POSTs without a body.
    for kind in [SimKind::App, SimKind::ModelApiVersion, SimKind::Workspace] {
        assert!(posts.iter().any(|m| m.kind == Some(kind)), "{kind}");
    }
    let refused: Vec<_> = posts.iter().filter(|m| m.status == Some(411)).collect();
    assert!(
        refused.is_empty(),
        "{} of {} POSTs refused: {refused:?}",
        refused.len(),
        posts.len()
    );
}

#[test]
fn a_workspace_state_word_dmm_does_not_know_is_never_taken_for_stopped() {
    // Stopping workspaces show a word no list of dmm's holds; stops take 400 ms to arrive.
    let env = Env::new(
        config(small_spec())
            .transition(400, 0)
            .unknown_stopping_word(true),
    );
    env.take_snapshot();
    let snapped: BTreeSet<String> = snapshot_keys(&env)
        .into_iter()
        .filter(|(k, _)| *k == Kind::Workspace)
        .map(|(_, id)| id)
        .collect();
    assert!(!snapped.is_empty());
    let out = env.run_op("shutdown", &["-s", "Workspace"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    // dmm said every stop was confirmed: each must have arrived, not be on its way.
    let state = env.sim.state();
    for id in &snapped {
        let ws = state.get(SimKind::Workspace, id).unwrap();
        assert!(
            ws.stopped,
            "workspace {id} confirmed stopped while it shows {}",
            ws.status
        );
    }
}

#[test]
fn a_restore_reads_each_projects_volumes_once() {
    use domino_sim::{AppSpec, DataMountSpec, ProjectSpec, Scenario, SimConfig};
    // 7 running apps in 4 projects, each project with a local and a remote volume.
    let projects = (0..4)
        .map(|p| ProjectSpec {
            name: format!("project-{p}"),
            owner: "alice".into(),
            data_mounts: vec![
                DataMountSpec {
                    id: None,
                    name: format!("local-{p}"),
                    local: true,
                },
                DataMountSpec {
                    id: None,
                    name: format!("remote-{p}"),
                    local: false,
                },
            ],
            apps: (0..if p == 3 { 1 } else { 2 })
                .map(|a| AppSpec {
                    id: None,
                    name: format!("app-{p}-{a}"),
                    state: domino_sim::StartState::Running,
                    hardware_tier_id: "small-k8s".into(),
                    owner: None,
                })
                .collect(),
            ..ProjectSpec::default()
        })
        .collect();
    let env = Env::new(
        SimConfig::default()
            .api_key(KEY)
            .scenario(Scenario { projects })
            .transition(40, 20),
    );
    env.take_snapshot();
    assert_eq!(running(&env, Kind::App).len(), 7);
    let out = env.run_op("shutdown", &["-s", "App"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    env.sim.reset_counters();
    let out = env.run_op("restore", &["-s", "App"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(running(&env, Kind::App).len(), 7);
    let requests = env.sim.requests();
    assert_eq!(
        requests.count("GET", "/v4/datamount/projects/{project_id}"),
        4,
        "one volume read per project: {:?}",
        requests.by_route
    );
    // Every start mounted its project's local volume, and only that one.
    for app in env.sim.state().of_kind(SimKind::App) {
        assert_eq!(app.app_starts.len(), 1, "{}", app.name);
        let mounted = app.app_starts[0]
            .external_volume_mount_ids
            .as_ref()
            .unwrap();
        assert_eq!(mounted.len(), 1, "{}: {mounted:?}", app.name);
    }
}

/// Starts a model version that is not its model's active one, as dmm must never do.
fn provoke_a_violation(env: &Env) {
    let state = env.sim.state();
    let inactive = state
        .of_kind(SimKind::ModelApiVersion)
        .find(|v| v.is_active == Some(false))
        .expect("an inactive version");
    let url = format!(
        "{}/v4/models/{}/{}/startModelDeployment",
        env.sim.base_url(),
        inactive.model_id.as_deref().unwrap(),
        inactive.id
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = rt.block_on(async {
        reqwest::Client::new()
            .post(url)
            .header("X-Domino-Api-Key", KEY)
            .header("Content-Length", "0")
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200, "Domino would serve it");
    assert_eq!(env.sim.violations().len(), 1);
}

#[test]
fn the_harness_fails_a_test_whose_simulator_recorded_a_violation() {
    let caught = std::panic::catch_unwind(|| {
        let env = Env::small();
        provoke_a_violation(&env);
    });
    let message = caught.expect_err("dropping the Env fails the test");
    let message = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("must never send"), "{message}");
    assert!(
        message.contains("not its model's active version"),
        "{message}"
    );

    // A test that provokes one on purpose says so.
    let env = Env::small();
    env.expect_violations();
    provoke_a_violation(&env);
}
