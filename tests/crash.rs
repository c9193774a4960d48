//! Crash tests: a shutdown and then a restore of a few hundred executions, killed with SIGKILL at
//! many points chosen from a seed and restarted each time; then SIGTERM and SIGINT.
//!
//! Across every kill, no start may reach an App or a Model API version that is still starting
//! from the killed run: the simulator refuses it (400) as Domino does, and records it.
//!
//! `DMM_CRASH_KILLS` sets the number of SIGKILLs over both operations (default 26, so that at least 20 land mid-run);
//! `DMM_CRASH_SEED` the seed that places them (default fixed, printed on failure).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Child;
use std::time::{Duration, Instant};

use common::*;
use dmm::journal::{JournalRead, JournalReader, Operation, StepPhase, StepRecord};
use dmm::snapshot::Kind;
use domino_sim::Kind as SimKind;
use domino_sim::{FaultsPatch, GenerateSpec};

type Exec = (Kind, String);

/// Where in a run a kill lands; sorted in the order a run reaches them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum KillPoint {
    /// Right after start: parsing, opening the journal, planning.
    Start { after_ms: u64 },
    /// After this many more `Requested` events than before the run: intents durable, requests
    /// in flight.
    Requested { more: usize },
    /// After this many more steps are `Accepted` or `Confirmed`: polling.
    Polling { more: usize },
    /// Once every step has ended: during the verification pass.
    Verification,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// About 240 running executions per 20 kills, so that more kills still land mid-run.
fn crash_spec(kills: usize) -> GenerateSpec {
    let f = kills.div_ceil(20).max(1);
    GenerateSpec {
        projects: 12 * f,
        apps: 110 * f,
        models: 20 * f,
        versions_per_model: 2,
        workspaces: 90 * f,
        scheduled_jobs: 50 * f,
        jobs: 0,
        rollout_in_progress: false,
    }
}

/// The journal as the next run will find it; empty if there is none yet.
fn journal_view(env: &Env) -> (Vec<StepRecord>, usize) {
    match JournalReader::open(&env.journal()) {
        Ok(r) => {
            let steps = r.steps(None).unwrap_or_default();
            let requested = r
                .events()
                .unwrap_or_default()
                .iter()
                .filter(|e| e.to == "Requested")
                .count();
            (steps, requested)
        }
        Err(_) => (Vec::new(), 0),
    }
}

fn exited(child: &mut Child) -> bool {
    matches!(child.try_wait(), Ok(Some(_)))
}

/// Waits for `point` (or for the run to end on its own); returns whether the kill happened
/// while the run was still going.
fn kill_at(env: &Env, op: Operation, child: &mut Child, point: KillPoint) -> bool {
    let limit = Duration::from_secs(30);
    let start = Instant::now();
    let (steps0, requested0) = journal_view(env);
    let active0 = steps0
        .iter()
        .filter(|s| s.key.op == op)
        .filter(|s| matches!(s.phase, StepPhase::Accepted | StepPhase::Confirmed))
        .count();
    loop {
        if exited(child) {
            return false;
        }
        assert!(start.elapsed() < limit, "kill point {point:?} never came");
        let due = match point {
            KillPoint::Start { after_ms } => start.elapsed() >= Duration::from_millis(after_ms),
            _ => {
                let (steps, requested) = journal_view(env);
                let mine: Vec<_> = steps.iter().filter(|s| s.key.op == op).collect();
                match point {
                    KillPoint::Requested { more } => requested >= requested0 + more,
                    KillPoint::Polling { more } => {
                        mine.iter()
                            .filter(|s| {
                                matches!(s.phase, StepPhase::Accepted | StepPhase::Confirmed)
                            })
                            .count()
                            >= active0 + more
                    }
                    KillPoint::Verification => {
                        !mine.is_empty() && mine.iter().all(|s| s.phase.is_terminal())
                    }
                    KillPoint::Start { .. } => unreachable!(),
                }
            }
        };
        if due {
            let alive = !exited(child);
            kill9(child);
            return alive;
        }
        std::thread::sleep(Duration::from_millis(3));
    }
}

fn counts(env: &Env, op: Operation) -> BTreeMap<Exec, u64> {
    env.sim
        .state()
        .executions
        .iter()
        .map(|e| {
            let n = match op {
                Operation::Shutdown => e.stop_requests,
                Operation::Restore => e.start_requests,
            };
            ((dmm_kind(e.kind), e.id.clone()), n)
        })
        .collect()
}

/// Draws the kill points of one operation from the seed, in the order a run reaches them.
fn plan_kills(rng: &mut fastrand::Rng, n: usize, total_steps: usize) -> Vec<KillPoint> {
    let mut points: Vec<KillPoint> = (0..n)
        .map(|i| match (i, rng.u8(0..10)) {
            // One kill in the verification pass per operation, and one right at the start.
            (0, _) => KillPoint::Verification,
            (1, _) => KillPoint::Start {
                after_ms: rng.u64(0..60),
            },
            (_, 0..=1) => KillPoint::Start {
                after_ms: rng.u64(0..80),
            },
            (_, 2..=6) => KillPoint::Requested {
                more: rng.usize(1..=(total_steps / (n + 2)).max(2)),
            },
            _ => KillPoint::Polling {
                more: rng.usize(1..=(total_steps / (n + 2)).max(2)),
            },
        })
        .collect();
    points.sort();
    points
}

#[test]
fn sigkill_at_many_points_loses_nothing_and_repeats_no_confirmed_step() {
    let kills = env_usize("DMM_CRASH_KILLS", 26).max(2);
    let seed = env_usize("DMM_CRASH_SEED", 0x5eed_c0de) as u64;
    eprintln!("crash test: {kills} kills, seed {seed} (DMM_CRASH_KILLS, DMM_CRASH_SEED)");
    let mut rng = fastrand::Rng::with_seed(seed);
    let env = Env::new(config(crash_spec(kills)).seed(seed).transition(700, 300));

    env.take_snapshot();
    let in_snapshot: BTreeSet<Exec> = snapshot_keys(&env);
    let before: BTreeMap<Kind, BTreeSet<String>> = Kind::ALL
        .iter()
        .map(|&k| {
            let ids = in_snapshot.iter().filter(|(kk, _)| *kk == k);
            (k, ids.map(|(_, id)| id.clone()).collect())
        })
        .collect();
    let total = in_snapshot.len();
    assert!(total >= 200, "a few hundred executions, got {total}");
    let starts_before = counts(&env, Operation::Restore);
    // Stops and starts are applied at once but answered a little later, so that kills land
    // between the two as well: the next run then finds executions still starting from the
    // killed one (the window where a start must not be sent again).
    env.sim
        .set_faults(FaultsPatch {
            answer_delay_ms: Some(120),
            ..FaultsPatch::default()
        })
        .unwrap();

    let mut survived = 0usize;
    let mut missed = 0usize;
    for (op, name, n) in [
        (Operation::Shutdown, "shutdown", kills / 2),
        (Operation::Restore, "restore", kills - kills / 2),
    ] {
        // Request counts at the first kill that found each step Confirmed.
        let mut confirmed_at_kill: BTreeMap<Exec, u64> = BTreeMap::new();
        for point in plan_kills(&mut rng, n, total) {
            let mut child = env.spawn_op(name, &[]);
            if kill_at(&env, op, &mut child, point) {
                survived += 1;
            } else {
                missed += 1;
                let out = child.wait_with_output().expect("dmm ends");
                check_no_key(&out);
                assert_eq!(code(&out), 0, "{name} ended on its own: {}", text(&out));
            }
            let now = counts(&env, op);
            for s in env.steps(op) {
                let exec = (s.key.kind, s.key.execution.clone());
                if s.phase == StepPhase::Confirmed && !confirmed_at_kill.contains_key(&exec) {
                    confirmed_at_kill.insert(exec.clone(), now[&exec]);
                }
            }
        }
        let out = env.run_op(name, &[]);
        assert_eq!(code(&out), 0, "{name} after the kills: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("verification: passed"),
            "{}",
            text(&out)
        );

        // Exactly one step per execution, each ended.
        let steps = env.steps(op);
        let keys: BTreeSet<Exec> = steps
            .iter()
            .map(|s| (s.key.kind, s.key.execution.clone()))
            .collect();
        assert_eq!(steps.len(), keys.len(), "a duplicated {name} step");
        assert_eq!(
            keys, in_snapshot,
            "{name} steps are the snapshot's executions"
        );
        for s in &steps {
            assert!(
                s.phase.is_terminal() && !matches!(s.phase, StepPhase::Failed(_)),
                "{name} step {s:?}"
            );
        }
        // No Confirmed step was ever sent another request.
        let end = counts(&env, op);
        for (exec, n) in &confirmed_at_kill {
            assert_eq!(
                end[exec], *n,
                "{exec:?} was Confirmed at a kill of the {name} but was sent another request"
            );
        }
        eprintln!(
            "crash test: {name}: {} steps confirmed before some kill were never touched again",
            confirmed_at_kill.len()
        );
        // A resumed run looks before it sends again: no start reached an execution that was
        // still starting (or running) from a killed run, which Domino refuses.
        let refused = env.sim.refused_starts();
        let waited = env.events_saying(Some(op), "the earlier request was taken");
        eprintln!(
            "crash test: {name}: {waited} step(s) found in motion after a kill and waited for; {} start(s) refused as already starting or running",
            refused.len()
        );
        assert!(
            refused.is_empty(),
            "dmm sent {} start(s) to executions already starting or running:\n{}",
            refused.len(),
            refused
                .iter()
                .map(|r| format!("  {r}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    // The promised state: nothing of the snapshot runs after restore except what is restored.
    let state = env.sim.state();
    assert_eq!(running(&env, Kind::App), before[&Kind::App]);
    assert_eq!(
        running(&env, Kind::ScheduledJob),
        before[&Kind::ScheduledJob]
    );
    assert!(running(&env, Kind::Workspace).is_empty());
    for e in state.of_kind(SimKind::ModelApiVersion) {
        let was = before[&Kind::ModelApiVersion].contains(&e.id);
        assert_eq!(
            e.running_or_launching,
            was && e.is_active == Some(true),
            "model version {} (active {:?}, in snapshot {was})",
            e.id,
            e.is_active
        );
    }
    // No execution outside the snapshot was started.
    for e in &state.executions {
        let exec = (dmm_kind(e.kind), e.id.clone());
        if !in_snapshot.contains(&exec) {
            assert_eq!(
                e.start_requests, starts_before[&exec],
                "{} {} is not in the snapshot but was started",
                e.kind, e.id
            );
        }
    }
    eprintln!(
        "crash test: {survived} kill points survived ({missed} runs ended before their kill)"
    );
    assert!(
        survived >= kills * 3 / 4,
        "only {survived} of {kills} kills landed mid-run"
    );
}

/// Window 2 of the step protocol, forced: a restore is killed while its starts are unanswered
/// (the simulator applies each, then holds its answer 1.5 s), and the next run finds Apps and
/// model versions still starting from the killed run. It
/// must wait for them, not start them again: Domino refuses such a start (400, "already
/// running"), and the simulator records each refusal.
#[test]
fn a_start_still_under_way_from_a_killed_restore_is_not_sent_again() {
    let mut spec = small_spec();
    spec.apps = 12;
    let env = Env::new(config(spec).transition(2_500, 500));
    env.take_snapshot();
    let out = env.run_op("shutdown", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let starts_before = counts(&env, Operation::Restore);

    env.sim
        .set_faults(FaultsPatch {
            answer_delay_ms: Some(1_500),
            ..FaultsPatch::default()
        })
        .unwrap();
    let mut child = env.spawn_op("restore", &[]);
    wait_for(Duration::from_secs(30), "starts to be requested", || {
        count_phase(&env.steps(Operation::Restore), |p| {
            matches!(p, StepPhase::Requested)
        }) >= 4
    });
    // Long enough for the starts to reach the simulator, well before their answers come.
    std::thread::sleep(Duration::from_millis(400));
    kill9(&mut child);
    env.sim
        .set_faults(FaultsPatch {
            answer_delay_ms: Some(0),
            ..FaultsPatch::default()
        })
        .unwrap();
    let left_requested: Vec<(Kind, String)> = env
        .steps(Operation::Restore)
        .into_iter()
        .filter(|s| s.phase == StepPhase::Requested)
        .map(|s| (s.key.kind, s.key.execution))
        .collect();
    let state = env.sim.state();
    let under_way = left_requested
        .iter()
        .filter(|(kind, id)| {
            state.get(sim_kind(*kind), id).is_some_and(|e| {
                e.in_motion && e.start_requests > starts_before[&(*kind, id.clone())]
            })
        })
        .count();
    assert!(
        under_way > 0,
        "no Requested step's start landed after the kill ({} left Requested): the window was not reached",
        left_requested.len()
    );

    let out = env.run_op("restore", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let refused = env.sim.refused_starts();
    let taken = env.events_saying(None, "the earlier request was taken");
    eprintln!(
        "killed restore: {} step(s) left Requested, {under_way} of them starting when the next run looked; {taken} waited for, {} start(s) refused",
        left_requested.len(),
        refused.len()
    );
    assert!(
        refused.is_empty(),
        "dmm started again what was still starting:\n{}",
        refused
            .iter()
            .map(|r| format!("  {r}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        taken >= under_way,
        "{taken} waited for, {under_way} under way"
    );
}

/// SIGTERM or SIGINT mid-run: exit 3, the journal reads back whole, and running the same command
/// again completes.
fn graceful_stop(sig: i32) {
    let mut spec = small_spec();
    spec.apps = 40;
    spec.workspaces = 30;
    let env = Env::new(config(spec).transition(400, 100));
    env.take_snapshot();
    let mut child = env.spawn_op("shutdown", &[]);
    wait_for(Duration::from_secs(20), "steps to be accepted", || {
        count_phase(&env.steps(Operation::Shutdown), |p| {
            matches!(p, StepPhase::Accepted | StepPhase::Confirmed)
        }) >= 5
    });
    signal(&child, sig);
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "dmm did not stop after signal {sig}"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = child.wait_with_output().unwrap();
    check_no_key(&out);
    assert_eq!(status.code(), Some(3), "signal {sig}: {}", text(&out));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));

    let reader = JournalReader::open(&env.journal()).expect("the journal reads back");
    let steps = reader.steps(Some(Operation::Shutdown)).unwrap();
    assert!(
        steps.iter().any(|s| !s.phase.is_terminal()),
        "the signal came too late to leave work behind"
    );
    let runs = reader.runs().unwrap();
    let last = runs.last().expect("a run record");
    assert_eq!(
        last.outcome,
        Some(dmm::journal::RunOutcome::Interrupted),
        "{last:?}"
    );
    drop(reader);

    let out = env.run_op("shutdown", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    for &kind in Kind::ALL {
        assert!(running(&env, kind).is_empty(), "{kind} still running");
    }
    assert!(
        env.steps(Operation::Shutdown)
            .iter()
            .all(|s| s.phase == StepPhase::Confirmed)
    );
}

#[test]
fn sigterm_stops_cleanly_with_exit_3_and_the_rerun_completes() {
    graceful_stop(libc::SIGTERM);
}

#[test]
fn sigint_stops_cleanly_with_exit_3_and_the_rerun_completes() {
    graceful_stop(libc::SIGINT);
}

#[test]
fn sighup_from_a_dropped_session_stops_cleanly_like_sigterm() {
    graceful_stop(libc::SIGHUP);
}

/// A signal during the verification pass ends the run within the drain time (exit 3, recorded
/// as interrupted); the next run verifies.
#[test]
fn sigterm_during_verification_interrupts_and_the_rerun_verifies() {
    let env = Env::small();
    env.take_snapshot();
    let snapshot_size = snapshot_keys(&env).len();
    let mut child = env.spawn_op("shutdown", &[]);
    wait_for(Duration::from_secs(30), "every step confirmed", || {
        let steps = env.steps(Operation::Shutdown);
        steps.len() == snapshot_size && steps.iter().all(|s| s.phase == StepPhase::Confirmed)
    });
    // Every request of the verification pass now takes seconds: the pass would run long.
    env.sim
        .set_faults(FaultsPatch {
            latency_ms: Some(3_000),
            ..FaultsPatch::default()
        })
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, libc::SIGTERM);
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "dmm went on verifying after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(3), "{}", text(&out));
    let runs = JournalReader::open(&env.journal()).unwrap().runs().unwrap();
    let last = runs.last().unwrap();
    assert_eq!(last.outcome, Some(dmm::journal::RunOutcome::Interrupted));
    assert!(
        last.message
            .as_deref()
            .unwrap_or("")
            .contains("verification"),
        "{last:?}"
    );

    env.sim
        .set_faults(FaultsPatch {
            latency_ms: Some(0),
            ..FaultsPatch::default()
        })
        .unwrap();
    let out = env.run_op("shutdown", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("verification: passed"));
}

/// A signal before the run has begun (here while `preflight` waits for a slow deployment's
/// first answers) ends dmm at once with a line and exit 3, not silently by the signal's default.
#[test]
fn a_signal_before_the_run_begins_is_said_and_exits_3() {
    let env = Env::small();
    env.sim
        .set_faults(domino_sim::FaultsPatch {
            latency_ms: Some(5_000),
            ..domino_sim::FaultsPatch::default()
        })
        .unwrap();
    let child = env
        .dmm()
        .arg("preflight")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    signal(&child, libc::SIGTERM);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{:?}: {}",
        out.status,
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("SIGTERM"),
        "{}",
        text(&out)
    );
}
