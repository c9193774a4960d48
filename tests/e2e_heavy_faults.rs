//! Heavy random faults: a third of all requests fail at random, and every full cycle (snapshot,
//! shutdown, restore) still ends with exit 0, without help. Reads keep retrying for a time
//! instead of a count (`src/domino/read_patience.rs`); writes keep their per-execution budget.
//!
//! `DMM_HEAVY_FAULT_CYCLES` sets the number of cycles (default 10, each with its own seed).

mod common;

use std::time::Instant;

use common::*;
use dmm::snapshot::Kind;
use domino_sim::Faults;

/// 20% 5xx, 10% 429, 5% dropped connections, 5% answers lost after the effect.
fn heavy() -> Faults {
    Faults {
        latency_ms: 1,
        latency_jitter_ms: 5,
        error_rate: 0.20,
        rate_limit_rate: 0.10,
        retry_after_s: 0,
        drop_rate: 0.05,
        lost_answer_rate: 0.05,
        max_rps: 0,
        outage: false,
        ..Faults::none()
    }
}

struct Cycle {
    requests: u64,
    faults: u64,
    /// Reads that were retried a seventh time: before reads had a patience in time, each of
    /// these ended its command with exit 1 once its six retries were spent.
    past_old_count: usize,
}

/// GET retries past the sixth in one command's log (the client warns from the third retry on).
fn reads_past_six(out: &std::process::Output) -> usize {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("retrying") && l.contains("GET") && l.contains("retry=7"))
        .count()
}

fn cycle(seed: u64) -> Cycle {
    // Many projects and few executions: the scans (snapshot, and the verification after each
    // operation) read every project, and a scan read that fails ends the command with exit 1,
    // so the reads are what this test needs many of (several thousand over the cycles).
    let mut spec = small_spec();
    spec.projects = 20;
    let env = Env::new(config(spec).seed(seed).transition(40, 20).faults(heavy()));
    let out = env.run(&["snapshot", env.snapshot().to_str().unwrap()]);
    assert_eq!(code(&out), 0, "seed {seed}: snapshot: {}", text(&out));
    let mut past_old_count = reads_past_six(&out);
    let recorded = snapshot_keys(&env);
    let out = env.run_op("shutdown", &[]);
    assert_eq!(code(&out), 0, "seed {seed}: shutdown: {}", text(&out));
    past_old_count += reads_past_six(&out);
    for &kind in Kind::ALL {
        assert!(
            running(&env, kind).is_empty(),
            "seed {seed}: {kind} still running"
        );
    }
    let out = env.run_op("restore", &[]);
    assert_eq!(code(&out), 0, "seed {seed}: restore: {}", text(&out));
    past_old_count += reads_past_six(&out);
    for kind in [Kind::App, Kind::ScheduledJob] {
        let expected: std::collections::BTreeSet<String> = recorded
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, id)| id.clone())
            .collect();
        assert_eq!(running(&env, kind), expected, "seed {seed}: {kind}");
    }
    // A start whose answer was lost is looked at, not sent again into "already starting".
    let refused = env.sim.refused_starts();
    assert!(
        refused.is_empty(),
        "seed {seed}: starts refused: {refused:?}"
    );
    let log = env.sim.requests();
    let f = &log.faults;
    // `Env` asserts on drop that the simulator recorded no violation.
    Cycle {
        requests: log.total,
        faults: f.errors + f.rate_limited + f.dropped + f.answers_lost,
        past_old_count,
    }
}

#[test]
fn full_cycles_under_heavy_random_faults_all_end_with_exit_0() {
    let cycles: u64 = std::env::var("DMM_HEAVY_FAULT_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let started = Instant::now();
    // Five cycles at a time: each is a simulator and a child process of its own, and most of
    // their time is spent in backoff, not on the CPU.
    const LANES: u64 = 5;
    let results: Vec<(u64, Cycle)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..LANES)
            .map(|lane| {
                s.spawn(move || {
                    (0..cycles)
                        .filter(|i| i % LANES == lane)
                        .map(|i| {
                            let seed = 1_000 + i * 7919;
                            (seed, cycle(seed))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a cycle failed"))
            .collect()
    });
    let requests: u64 = results.iter().map(|(_, c)| c.requests).sum();
    let faults: u64 = results.iter().map(|(_, c)| c.faults).sum();
    let past: usize = results.iter().map(|(_, c)| c.past_old_count).sum();
    eprintln!(
        "{} cycles, {requests} requests, {faults} faults injected, {past} reads retried past the old count of six, {} x exit 0 (x3 commands each), in {:?}",
        results.len(),
        results.len(),
        started.elapsed()
    );
    assert_eq!(results.len() as u64, cycles);
    assert!(
        faults * 5 > requests,
        "the faults must be heavy: {faults} of {requests}"
    );
}
