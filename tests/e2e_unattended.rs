//! An unattended window: the journal file swapped under a running process, the snapshot edited
//! while a run holds its journal, a process stopped (SIGSTOP) and continued.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use common::*;
use dmm::journal::{JournalRead, JournalReader, Operation, StepPhase};

/// A small deployment with more Apps, so a rate-limited shutdown sends its stops over seconds.
fn spread_env() -> Env {
    let mut spec = small_spec();
    spec.apps = 30;
    Env::new(config(spec).transition(200, 50))
}

/// A shutdown slowed to a few requests per second, one stop at a time.
fn slow_shutdown(env: &Env, rate: &str) -> Child {
    env.dmm()
        .args([
            "shutdown",
            env.snapshot().to_str().unwrap(),
            "--yes",
            "--poll-interval-ms",
            "50",
            "--rate-limit",
            rate,
            "--concurrency",
            "2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dmm starts")
}

fn requested_in(journal: &Path) -> BTreeSet<String> {
    JournalReader::open(journal)
        .and_then(|r| r.events())
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.to == "Requested")
        .map(|e| e.execution)
        .collect()
}

fn wait_exit(child: Child, limit: Duration) -> std::process::Output {
    let mut child = child;
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            kill9(&mut child);
            panic!("dmm did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    check_no_key(&out);
    out
}

/// Swaps the journal with `swap` mid-run (after a few stops were requested); returns the run's
/// output, the simulator's clock at the swap, and where the journal's records now are.
fn swap_mid_run(
    env: &Env,
    expected: &str,
    swap: impl FnOnce(&Path) -> std::path::PathBuf,
) -> (std::process::Output, u64, std::path::PathBuf) {
    env.take_snapshot();
    let child = slow_shutdown(env, "6");
    // Mid-run, and at a moment when what was recorded has been sent, so that the requests the
    // run sends from here on are new ones.
    wait_for(Duration::from_secs(30), "a few stops sent", || {
        let sent = env.sim.requests().mutations.len();
        sent >= 4 && requested_in(&env.journal()).len() <= sent + 1
    });
    let swap_ms = env.sim.state().now_ms;
    let records = swap(&env.journal());
    let out = wait_exit(child, Duration::from_secs(60));
    assert_eq!(code(&out), 3, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let line = format!(
        "journal {} {expected} while this run held it",
        env.journal().display()
    );
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains(&line)).collect();
    assert_eq!(errors.len(), 1, "one line names the path: {}", text(&out));
    eprintln!("{}", errors[0]);
    (out, swap_ms, records)
}

/// Nothing was sent after the swap unless its `Requested` record was durable before it: every
/// stop the simulator received after the swap moment is recorded as requested in the file the
/// run was writing, and there are few of them (only requests already on their way).
fn assert_nothing_unrecorded_after(env: &Env, swap_ms: u64, records: &Path) {
    let requested = requested_in(records);
    let log = env.sim.requests();
    let late: Vec<_> = log.mutations.iter().filter(|m| m.at_ms > swap_ms).collect();
    for m in &late {
        let id = m.execution_id.clone().unwrap_or_default();
        assert!(
            requested.contains(&id),
            "{} {} reached the simulator at {} ms, after the swap at {swap_ms} ms, without a Requested record",
            m.method,
            m.path,
            m.at_ms
        );
    }
    assert!(
        late.len() <= 2,
        "at most the two requests in flight (--concurrency 2) may arrive after the swap: {late:?}"
    );
    let total = log.mutations.len();
    let touched: BTreeSet<_> = log.mutations.iter().map(|m| &m.execution_id).collect();
    let planned = snapshot_keys(env).len();
    assert!(
        touched.len() < planned,
        "the run stopped early: {} of {planned} executions were sent a stop",
        touched.len()
    );
    eprintln!(
        "swap at {swap_ms} ms: {} mutations before it, {} after it (all recorded before it)",
        total - late.len(),
        late.len()
    );
}

#[test]
fn a_journal_moved_away_mid_run_stops_it_at_the_next_commit() {
    let env = spread_env();
    let (_, swap_ms, records) = swap_mid_run(&env, "was deleted or moved away", |journal| {
        let moved = journal.with_extension("moved");
        std::fs::rename(journal, &moved).unwrap();
        moved
    });
    assert_nothing_unrecorded_after(&env, swap_ms, &records);
}

#[test]
fn a_journal_deleted_mid_run_stops_it_at_the_next_commit() {
    let env = spread_env();
    let (_, swap_ms, records) = swap_mid_run(&env, "was deleted or moved away", |journal| {
        // A second name keeps the records readable for the test; the journal's path is gone.
        let kept = journal.with_extension("kept");
        std::fs::hard_link(journal, &kept).unwrap();
        std::fs::remove_file(journal).unwrap();
        kept
    });
    assert_nothing_unrecorded_after(&env, swap_ms, &records);
    assert!(!env.journal().exists(), "dmm must not recreate the journal");
}

#[test]
fn a_journal_replaced_by_another_file_mid_run_stops_it() {
    let env = spread_env();
    let (out, swap_ms, records) = swap_mid_run(&env, "was replaced by another file", |journal| {
        let kept = journal.with_extension("kept");
        std::fs::hard_link(journal, &kept).unwrap();
        let other = journal.with_extension("other");
        std::fs::copy(journal, &other).unwrap();
        std::fs::rename(&other, journal).unwrap();
        kept
    });
    assert_nothing_unrecorded_after(&env, swap_ms, &records);
    // The copy put in its place received nothing of this run after the swap.
    let in_copy = JournalReader::open(&env.journal())
        .unwrap()
        .events()
        .unwrap()
        .len();
    let in_kept = JournalReader::open(&records)
        .unwrap()
        .events()
        .unwrap()
        .len();
    assert!(in_copy <= in_kept, "{}", text(&out));
}

#[test]
fn a_snapshot_edited_while_a_run_holds_its_journal_is_refused_by_the_next_run() {
    let env = spread_env();
    env.take_snapshot();
    let child = slow_shutdown(&env, "20");
    wait_for(
        Duration::from_secs(30),
        "the run to hold its journal",
        || !requested_in(&env.journal()).is_empty(),
    );
    // One execution removed from the snapshot by hand: still a valid snapshot file.
    let snap = env.snapshot();
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&snap).unwrap()).unwrap();
    doc["App"].as_array_mut().unwrap().pop();
    std::fs::write(&snap, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let journal_before = requested_in(&env.journal());

    let expected = format!(
        "snapshot {} changed since journal {} was made for it",
        snap.display(),
        env.journal().display()
    );
    for args in [
        env.op_args("shutdown", &[]),
        vec!["status".into(), snap.to_str().unwrap().into()],
        vec![
            "journal".into(),
            snap.to_str().unwrap().into(),
            "--verify".into(),
        ],
    ] {
        let out = env.dmm().args(&args).output().unwrap();
        check_no_key(&out);
        assert_eq!(code(&out), 2, "{args:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(&expected), "{args:?}: {stderr}");
        assert!(
            stderr.contains("put the snapshot back as it was"),
            "{stderr}"
        );
    }
    // The refused run sent nothing of its own and took nothing from the running one, which ends
    // as it began: with the snapshot it loaded.
    let out = wait_exit(child, Duration::from_secs(60));
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(journal_before.len() <= requested_in(&env.journal()).len());
    let runs = JournalReader::open(&env.journal()).unwrap().runs().unwrap();
    assert_eq!(runs.len(), 1, "the refused run never began a run record");
}

/// Every `Confirmed` step of `op` is in its target state in the deployment (or gone).
fn assert_confirmed_are_true(env: &Env, op: dmm::journal::Operation) -> usize {
    let state = env.sim.state();
    let steps = env.steps(op);
    let mut confirmed = 0;
    for s in steps
        .iter()
        .filter(|s| s.phase == dmm::journal::StepPhase::Confirmed)
    {
        confirmed += 1;
        if let Some(e) = state.get(sim_kind(s.key.kind), &s.key.execution) {
            let ok = match op {
                dmm::journal::Operation::Shutdown => e.stopped,
                dmm::journal::Operation::Restore => e.running,
            };
            assert!(
                ok,
                "{} {} is Confirmed in the journal but {} in the deployment",
                s.key.kind, s.key.execution, e.status
            );
        }
    }
    confirmed
}

#[test]
fn a_run_stopped_with_sigstop_and_continued_ends_correct() {
    use dmm::journal::{Operation, StepPhase};
    use dmm::snapshot::Kind;
    let env = spread_env();
    env.take_snapshot();
    // -g 2: the stop below outlasts the grace period, as a minute outlasts the default 30 s.
    let mut child = env
        .dmm()
        .args([
            "shutdown",
            env.snapshot().to_str().unwrap(),
            "--yes",
            "--poll-interval-ms",
            "20",
            "--rate-limit",
            "15",
            "--concurrency",
            "3",
            "-g",
            "2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Mid-run: some Apps confirmed stopped, other steps not ended yet.
    wait_for(Duration::from_secs(30), "some Apps confirmed", || {
        let steps = env.steps(Operation::Shutdown);
        let apps = steps
            .iter()
            .filter(|s| s.key.kind == Kind::App && s.phase == StepPhase::Confirmed)
            .count();
        apps >= 2 && steps.iter().any(|s| !s.phase.is_terminal())
    });
    signal(&child, libc::SIGSTOP);
    let steps = env.steps(Operation::Shutdown);
    let unended = steps.iter().filter(|s| !s.phase.is_terminal()).count();
    let restarted = steps
        .iter()
        .find(|s| s.key.kind == Kind::App && s.phase == StepPhase::Confirmed)
        .unwrap()
        .key
        .execution
        .clone();
    // While the process is stopped, the deployment moves on: the stops in flight finish (200 ms
    // transitions), and someone starts an App that dmm has already confirmed stopped.
    env.sim
        .start_behind_back(domino_sim::Kind::App, &restarted)
        .unwrap();
    // Six seconds rather than a minute: what matters is that the stop outlasts the grace period
    // (-g 2 above) and the transitions, so every timer the run had is past due when it resumes;
    // nothing in the runner counts how much longer than that it was stopped.
    std::thread::sleep(Duration::from_secs(6));
    signal(&child, libc::SIGCONT);
    let _ = &mut child;
    let out = wait_exit(child, Duration::from_secs(90));
    eprintln!(
        "stopped with {unended} steps unended; {restarted} started behind dmm's back; exit {}",
        code(&out)
    );
    // The App started behind its back is found by the verification: exit 1, and its step is
    // reopened rather than left Confirmed.
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&restarted),
        "{}",
        text(&out)
    );
    let confirmed = assert_confirmed_are_true(&env, Operation::Shutdown);
    let after = env.steps(Operation::Shutdown);
    let step = after.iter().find(|s| s.key.execution == restarted).unwrap();
    assert_ne!(step.phase, StepPhase::Confirmed, "{step:?}");
    assert!(
        !after
            .iter()
            .any(|s| matches!(s.phase, StepPhase::Failed(_))),
        "nothing failed for the clock jump: {after:?}"
    );
    eprintln!("{confirmed} steps confirmed, each in its target state");
    // The same command again converges.
    let out = env.run_op("shutdown", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_confirmed_are_true(&env, Operation::Shutdown);
    for &kind in Kind::ALL {
        assert!(running(&env, kind).is_empty(), "{kind} still running");
    }
}

#[test]
fn at_the_deadline_the_run_stops_sending_records_why_and_exits_3() {
    let env = spread_env();
    env.take_snapshot();
    let spawned_ms = env.sim.state().now_ms;
    let child = env
        .dmm()
        .args([
            "shutdown",
            env.snapshot().to_str().unwrap(),
            "--yes",
            "--poll-interval-ms",
            "50",
            "--rate-limit",
            "6",
            "--concurrency",
            "2",
            "--deadline",
            "3s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_exit(child, Duration::from_secs(60));
    assert_eq!(code(&out), 3, "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("the deadline"), "{all}");
    assert!(all.contains("--deadline 3s"), "{all}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("next:") && l.contains("dmm shutdown")),
        "the command that continues it: {all}"
    );
    // The deadline came before the work was done, and nothing new left after it: at most the
    // requests already on their way (--concurrency 2) reached the simulator past it.
    let log = env.sim.requests();
    let touched: BTreeSet<_> = log.mutations.iter().map(|m| &m.execution_id).collect();
    assert!(touched.len() < snapshot_keys(&env).len(), "{all}");
    let deadline_ms = spawned_ms + 3_000;
    let late = log
        .mutations
        .iter()
        .filter(|m| m.at_ms > deadline_ms + 500)
        .count();
    assert!(
        late <= 2,
        "{late} mutations after the deadline: {:?}",
        log.mutations
    );
    eprintln!(
        "deadline 3s: {} stops sent, {late} after the deadline, exit 3",
        log.mutations.len()
    );
    // The journal and status say why it stopped.
    let runs = JournalReader::open(&env.journal()).unwrap().runs().unwrap();
    let last = runs.last().unwrap();
    assert_eq!(last.outcome, Some(dmm::journal::RunOutcome::Interrupted));
    assert!(
        last.message
            .as_deref()
            .is_some_and(|m| m.contains("deadline")),
        "{last:?}"
    );
    let status = env.run(&["status", env.snapshot().to_str().unwrap()]);
    assert_eq!(code(&status), 0, "{}", text(&status));
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("was reached"),
        "{}",
        text(&status)
    );
    // The same command, without the deadline, finishes the job.
    let out = env.run_op("shutdown", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));

    // A deadline already past is refused before anything is touched.
    let out = env.run(&[
        "restore",
        env.snapshot().to_str().unwrap(),
        "--yes",
        "--deadline",
        "2020-01-01T00:00:00Z",
    ]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("has passed already"), "{}", text(&out));
}

/// Without a terminal and without -v, a run is not silent between its plan and its end: a line
/// as each stage and the verification begin and end, and a heartbeat with how far it is. In the
/// JSON log format they are events; --quiet silences them.
#[test]
fn a_run_without_a_terminal_says_how_far_it_is() {
    let env = spread_env();
    env.take_snapshot();
    let out = env.run(&[
        "shutdown",
        env.snapshot().to_str().unwrap(),
        "--yes",
        "--rate-limit",
        "10",
        "--concurrency",
        "2",
        "--progress-every",
        "1s",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    let heartbeats: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("shutdown: steps ended "))
        .collect();
    assert!(heartbeats.len() >= 2, "{log}");
    assert!(
        heartbeats
            .iter()
            .any(|l| l.contains("App ") && l.contains(" failed, ") && l.contains(" elapsed")),
        "{log}"
    );
    assert!(
        log.contains("shutdown App: every step has ended, 0 failed"),
        "{log}"
    );
    assert!(
        log.contains("verifying: listing the deployment again"),
        "{log}"
    );
    assert!(log.contains("verification passed ("), "{log}");
    // About a line a second at most, whatever the scale: not a line per step.
    assert!(log.lines().count() < 60, "{log}");

    let env = spread_env();
    env.take_snapshot();
    let out = env.run(&[
        "--log-format",
        "json",
        "shutdown",
        env.snapshot().to_str().unwrap(),
        "--yes",
        "--rate-limit",
        "20",
        "--progress-every",
        "1s",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        events.iter().any(|e| e["message"]
            .as_str()
            .is_some_and(|m| m.contains(": steps ended "))),
        "{events:?}"
    );

    let env = spread_env();
    env.take_snapshot();
    let out = env.run(&[
        "--quiet",
        "shutdown",
        env.snapshot().to_str().unwrap(),
        "--yes",
        "--rate-limit",
        "20",
        "--progress-every",
        "1s",
        "--no-verify",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!log.contains(": steps ended "), "{log}");
}

/// A wait long enough to look like a hang (here a 429 whose Retry-After asks for 12 s) is said
/// at the default level, without a terminal: what is waited for, and until when.
#[test]
fn a_long_retry_wait_is_said_with_until_when() {
    use domino_sim::{FaultsPatch, RefuseRule};
    let env = Env::new(config(small_spec()));
    env.sim
        .set_faults(FaultsPatch {
            refuse: Some(vec![RefuseRule {
                route: "GET /v4/modelProducts".into(),
                execution_id: None,
                status: 429,
                times: Some(1),
                after_applying: false,
                retry_after: Some("12".into()),
            }]),
            ..FaultsPatch::default()
        })
        .unwrap();
    let out = env.run(&["snapshot", env.snapshot().to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    let said: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("waiting 12s, until ") && l.contains(" UTC, to send GET /"))
        .collect();
    assert_eq!(said.len(), 1, "{log}");
    assert!(
        said[0].contains("modelProducts") && said[0].contains("HTTP 429"),
        "{log}"
    );
}

/// An execution slow to reach its state (here 13 s to stop) is a wait the heartbeat names
/// once it passes 10 s: how many wait, the longest, and until when they are given.
#[test]
fn a_long_transition_wait_is_said_in_the_heartbeat() {
    let scenario = scenario_of(serde_json::json!({"projects": [{
        "name": "slow", "owner": "alice",
        "apps": [{"name": "slow-app", "state": "running"}]
    }]}));
    let env = Env::new(
        domino_sim::SimConfig::default()
            .api_key(KEY)
            .scenario(scenario)
            .transition(13_000, 0),
    );
    env.take_snapshot();
    let out = env.run(&[
        "shutdown",
        env.snapshot().to_str().unwrap(),
        "--yes",
        "--progress-every",
        "2s",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        log.lines().any(|l| l
            .contains("; 1 sent and waiting over 10s for their state, the longest 1")
            && l.contains("s (given until ")),
        "{log}"
    );
}

/// A server that accepts requests and answers none (hung behind its ingress) makes every sent
/// step look slow to reach its state: the heartbeat says the server is silent instead.
#[test]
fn a_server_that_answers_nothing_is_said_to_be_silent_not_slow_states() {
    let scenario = scenario_of(serde_json::json!({"projects": [{
        "name": "slow", "owner": "alice",
        "apps": [{"name": "slow-app", "state": "running"}]
    }]}));
    let env = Env::new(
        domino_sim::SimConfig::default()
            .api_key(KEY)
            .scenario(scenario)
            .transition(60_000, 0),
    );
    env.take_snapshot();
    let child = env
        .dmm()
        .args([
            "shutdown",
            env.snapshot().to_str().unwrap(),
            "--yes",
            "--progress-every",
            "2s",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("dmm starts");
    // Once the stop is sent, every answer takes a minute: the server has gone silent.
    std::thread::sleep(Duration::from_secs(3));
    env.sim
        .set_faults(domino_sim::FaultsPatch {
            latency_ms: Some(60_000),
            ..domino_sim::FaultsPatch::default()
        })
        .unwrap();
    std::thread::sleep(Duration::from_secs(15));
    let mut child = child;
    kill9(&mut child);
    let out = child.wait_with_output().unwrap();
    check_no_key(&out);
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        log.contains("; the server has answered nothing for 1"),
        "{log}"
    );
}

/// A gateway that answers 5xx to every stop of one kind: the retries are said at the default
/// level once every 10 s with the rest counted, not once per request (`-v` shows each).
#[test]
fn retries_of_many_requests_are_a_few_lines_not_one_each() {
    let apps: Vec<_> = (0..24)
        .map(|i| serde_json::json!({"name": format!("app-{i}"), "state": "running"}))
        .collect();
    let scenario = scenario_of(
        serde_json::json!({"projects": [{"name": "proj", "owner": "alice", "apps": apps}]}),
    );
    let env = Env::new(
        domino_sim::SimConfig::default()
            .api_key(KEY)
            .seed(13)
            .scenario(scenario)
            .transition(20, 10),
    );
    env.take_snapshot();
    // 503 with `Retry-After: 0`: retried at once, so many retries in a short test.
    env.sim
        .set_faults(domino_sim::FaultsPatch {
            refuse: Some(vec![domino_sim::RefuseRule {
                route: "POST /v4/modelProducts/{id}/stop".into(),
                execution_id: None,
                status: 503,
                times: None,
                after_applying: false,
                retry_after: Some("0".into()),
            }]),
            ..domino_sim::FaultsPatch::default()
        })
        .unwrap();
    let started = std::time::Instant::now();
    let out = env.run_op(
        "shutdown",
        &["--log-format", "json", "--deadline", "5s", "--no-verify"],
    );
    assert_ne!(code(&out), 0, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said = stderr
        .lines()
        .filter(|l| l.contains("transient failure, retrying"))
        .count();
    let bound = 1 + started.elapsed().as_secs() as usize / 10;
    assert!(
        said <= bound,
        "{said} retry lines in {:?}:\n{stderr}",
        started.elapsed()
    );
    let counted: u64 = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["not_said_since"].as_u64())
        .sum();
    assert!(said > 0 || counted > 0, "{stderr}");
}

/// With `--log-format json`, stdout's lines (the plan, the summary, `next:`) are JSON objects
/// too: a Kubernetes Job's log merges both streams into one that a collector reads as JSON.
#[test]
fn with_json_logs_every_stdout_line_is_json_too() {
    let env = Env::small();
    env.take_snapshot();
    let args = env.op_args("shutdown", &["--no-verify"]);
    let out = env
        .dmm()
        .args(["--log-format", "json"])
        .args(&args)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines.iter().any(|v| v["level"] == "INFO"
            && v["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("next: "))),
        "{stdout}"
    );
}

/// Failures are not a line each, three times over, without a terminal: with every App stop
/// refused, the log names a few of them as they fail, the summary and the verification list a
/// few and count the rest, and `dmm journal --failed` lists every one.
#[test]
fn many_failures_are_a_few_lines_and_a_count() {
    let env = spread_env();
    env.take_snapshot();
    refuse(&env, "POST /v4/modelProducts/{id}/stop", None, 400, None);
    let snapshot = env.snapshot();
    let out = env.run(&["shutdown", snapshot.to_str().unwrap(), "--yes", "-m", "1"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let all = text(&out);
    let failed: Vec<String> = JournalReader::open(&env.journal())
        .unwrap()
        .steps(Some(Operation::Shutdown))
        .unwrap()
        .into_iter()
        .filter(|s| matches!(s.phase, StepPhase::Failed(_)))
        .map(|s| s.key.execution)
        .collect();
    assert!(failed.len() > 15, "{failed:?} failed: {all}");
    let naming = all.lines().filter(|l| l.contains("App '")).count();
    assert!(naming <= 12, "{naming} lines name a failed App:\n{all}");
    assert!(
        all.contains(&format!("and {} more", failed.len() - 5)),
        "the rest counted: {all}"
    );
    let listed = env.run(&["journal", snapshot.to_str().unwrap(), "--failed"]);
    let listed = String::from_utf8_lossy(&listed.stdout);
    for id in &failed {
        assert!(listed.contains(id), "{id} not listed: {listed}");
    }
}

/// A snapshot without a terminal is not silent through a long wait: besides the line that says
/// the wait, a heartbeat says how far the listings are (here every second through a 4 s
/// Retry-After).
#[test]
fn a_snapshot_without_a_terminal_has_a_heartbeat() {
    use domino_sim::{FaultsPatch, RefuseRule};
    let env = Env::new(config(small_spec()));
    env.sim
        .set_faults(FaultsPatch {
            refuse: Some(vec![RefuseRule {
                route: "GET /v4/modelProducts".into(),
                execution_id: None,
                status: 429,
                times: Some(1),
                after_applying: false,
                retry_after: Some("4".into()),
            }]),
            ..FaultsPatch::default()
        })
        .unwrap();
    let out = env.run(&[
        "snapshot",
        env.snapshot().to_str().unwrap(),
        "--progress-every",
        "1s",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    let beats: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("snapshot: listings done ") && l.contains(" elapsed"))
        .collect();
    assert!(beats.len() >= 2, "{log}");
    assert!(beats[0].contains("App 0/1"), "{log}");
}
