//! The journal converges on the truth: a wrong URL records nothing, a second window on the same
//! snapshot stops things again, a one-kind run does not call the maintenance done, an accepted
//! request the API lost is sent again, and a change behind dmm's back is reopened.

mod common;

use std::time::Duration;

use common::*;
use dmm::journal::{JournalRead, JournalReader, Operation, StepPhase};
use dmm::snapshot::Kind;
use domino_sim::FaultsPatch;
use domino_sim::Kind as SimKind;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stops_sent(env: &Env) -> usize {
    env.sim
        .requests()
        .mutations
        .iter()
        .filter(|m| m.path.ends_with("/stop") || m.path.ends_with("stopModelDeployment"))
        .count()
}

#[test]
fn a_url_that_answers_404_everywhere_touches_and_records_nothing() {
    let env = Env::small();
    env.take_snapshot();
    let journal_before = std::fs::read(env.journal()).unwrap();
    let wrong = format!("{}/not-the-prefix", env.sim.base_url());
    let out = env
        .dmm()
        .env("DOMINO_HOSTNAME", &wrong)
        .args([
            "shutdown",
            env.snapshot().to_str().unwrap(),
            "--yes",
            "--poll-interval-ms",
            "20",
        ])
        .output()
        .unwrap();
    check_no_key(&out);
    assert_eq!(code(&out), 2, "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("404") && err.contains("DOMINO_HOSTNAME"),
        "{err}"
    );
    assert_eq!(env.sim.requests().mutations.len(), 0, "nothing was sent");
    assert_eq!(
        std::fs::read(env.journal()).unwrap(),
        journal_before,
        "the journal is untouched"
    );

    // The right URL then stops everything.
    let out = env.run_op("shutdown", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    for &kind in Kind::ALL {
        assert!(running(&env, kind).is_empty(), "{kind} still running");
    }
    assert!(stops_sent(&env) > 0);
}

#[test]
fn a_second_window_on_the_same_snapshot_stops_everything_again() {
    let env = Env::small();
    env.take_snapshot();
    assert_eq!(code(&env.run_op("shutdown", &[])), 0);
    assert_eq!(code(&env.run_op("restore", &[])), 0);
    let stops_first = stops_sent(&env);

    let out = env.run_op("shutdown", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        stdout(&out).contains("cycle 2 of this snapshot begins"),
        "{}",
        text(&out)
    );
    assert!(stdout(&out).contains("verification: passed"));
    assert!(
        stops_sent(&env) > stops_first,
        "the second window sent stops"
    );
    for &kind in Kind::ALL {
        assert!(running(&env, kind).is_empty(), "{kind} still running");
    }
    // And the restore of the second window starts again what the first one restored.
    let out = env.run_op("restore", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(!running(&env, Kind::App).is_empty());
    let runs = JournalReader::open(&env.journal()).unwrap().runs().unwrap();
    let cycles: Vec<u32> = runs.iter().map(|r| r.cycle).collect();
    assert_eq!(cycles, vec![1, 1, 2, 2]);
}

#[test]
fn a_scheduled_job_resumed_behind_the_tools_back_is_reopened_and_paused_again() {
    let env = Env::small();
    env.take_snapshot();
    assert_eq!(code(&env.run_op("shutdown", &[])), 0);
    let snap = dmm::snapshot::read(&env.snapshot()).unwrap().snapshot;
    let job = snap.entries(Kind::ScheduledJob)[0]
        .key(Kind::ScheduledJob)
        .unwrap()
        .to_owned();
    env.sim
        .start_behind_back(SimKind::ScheduledJob, &job)
        .unwrap();

    let out = env.run_op("shutdown", &[]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(stdout(&out).contains("reopened"), "{}", text(&out));
    assert!(!stdout(&out).contains("--retry-failed"), "{}", text(&out));

    // The advice works: the same command pauses it again.
    let out = env.run_op("shutdown", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(running(&env, Kind::ScheduledJob).is_empty());
}

#[test]
fn a_one_kind_run_does_not_call_the_maintenance_done() {
    let env = Env::small();
    env.take_snapshot();
    let out = env.run_op("shutdown", &["-s", "App"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let said = stdout(&out);
    assert!(!said.contains("next: upgrade Domino"), "{said}");
    assert!(
        said.contains("not yet stopped: Scheduled Job, Model API Version, Workspace"),
        "{said}"
    );
    let status = env.run(&["status", env.snapshot().to_str().unwrap()]);
    assert!(
        stdout(&status).contains("not yet stopped"),
        "{}",
        text(&status)
    );

    assert_eq!(code(&env.run_op("shutdown", &[])), 0);
    let out = env.run_op("restore", &["-s", "App"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let said = stdout(&out);
    assert!(!said.contains("maintenance is over"), "{said}");
    assert!(
        said.contains("not yet started: Model API Version, Scheduled Job"),
        "{said}"
    );
    let out = env.run_op("restore", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(stdout(&out).contains("maintenance is over"));
}

#[test]
fn an_accepted_stop_the_api_lost_is_sent_again() {
    // Slow transitions, so the steps sit in Accepted while the "API restart" undoes the stops.
    let env = Env::new(config(small_spec()).transition(1500, 0));
    env.take_snapshot();
    let child = env.spawn_op("shutdown", &["-s", "App", "-g", "60"]);
    let snap = dmm::snapshot::read(&env.snapshot()).unwrap().snapshot;
    let apps: Vec<String> = snap
        .entries(Kind::App)
        .iter()
        .map(|e| e.key(Kind::App).unwrap().to_owned())
        .collect();
    wait_for(Duration::from_secs(20), "every App stop accepted", || {
        let steps = env.steps(Operation::Shutdown);
        steps.len() == apps.len() && steps.iter().all(|s| s.phase == StepPhase::Accepted)
    });
    // The API restarts and forgets what it was asked: every App runs again, quite still.
    for app in &apps {
        env.sim.start_behind_back(SimKind::App, app).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    check_no_key(&out);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(running(&env, Kind::App).is_empty());
    let steps = env.steps(Operation::Shutdown);
    assert!(steps.iter().all(|s| s.phase == StepPhase::Confirmed));
    assert!(
        steps.iter().all(|s| s.attempts == 2),
        "each stop was sent again once: {steps:#?}"
    );
}

#[test]
fn a_request_whose_answer_is_lost_is_looked_at_not_counted_failed_nor_sent_twice() {
    let env = Env::small();
    env.take_snapshot();
    let recorded = snapshot_keys(&env);
    // Every stop and start takes effect, and its answer never comes back.
    env.sim
        .set_faults(FaultsPatch {
            lost_answer_rate: Some(1.0),
            ..FaultsPatch::default()
        })
        .unwrap();
    // `-m 1`: one failed attempt ends a step, so a lost answer taken for a failure shows.
    for (op, operation) in [
        ("shutdown", Operation::Shutdown),
        ("restore", Operation::Restore),
    ] {
        let out = env.run_op(op, &["-m", "1"]);
        check_no_key(&out);
        assert_eq!(code(&out), 0, "{op}: {}", text(&out));
        let steps = env.steps(operation);
        assert_eq!(steps.len(), recorded.len());
        // Workspaces are not started by an administrator: their restore steps are skipped.
        let sent_to: Vec<_> = steps
            .iter()
            .filter(|s| !matches!(s.phase, StepPhase::Skipped(_)))
            .collect();
        assert!(
            sent_to
                .iter()
                .all(|s| s.phase == StepPhase::Confirmed && s.attempts == 1),
            "{op}: every step confirmed after one request: {steps:#?}"
        );
        let state = env.sim.state();
        for s in sent_to {
            let (kind, id) = (s.key.kind, &s.key.execution);
            let e = state.get(sim_kind(kind), id).unwrap();
            let sent = match operation {
                Operation::Shutdown => e.stop_requests,
                Operation::Restore => e.start_requests,
            };
            assert_eq!(sent, 1, "{op}: {kind} {id} was sent {sent} requests");
        }
    }
    assert!(
        env.sim.refused_starts().is_empty(),
        "starts refused as already under way: {:?}",
        env.sim.refused_starts()
    );
    let unknown = env.events_saying(None, "outcome unknown");
    let lost = env.sim.requests().faults.answers_lost as usize;
    assert!(lost > recorded.len(), "{lost} answers lost");
    assert_eq!(unknown, lost, "each lost answer is in the journal");
}
