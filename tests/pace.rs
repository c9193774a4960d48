//! The pace of a run's requests (`--rate-limit auto|N`, `--max-rate`): the real `dmm` against
//! the real simulator, asserting what the rate did as the journal records it and as `-v` logs
//! it. No timing is asserted.

mod common;

use std::process::Output;

use common::*;
use dmm::journal::{JournalRead, JournalReader, PaceRecord, RunRecord};
use dmm::runner::defaults;
use dmm::snapshot::Kind;
use domino_sim::{Faults, FaultsPatch, GenerateSpec};

/// Enough executions that the rate is what holds a run back at first.
fn busy_spec() -> GenerateSpec {
    GenerateSpec {
        projects: 6,
        apps: 50,
        models: 8,
        versions_per_model: 2,
        workspaces: 30,
        scheduled_jobs: 12,
        rollout_in_progress: false,
        jobs: 0,
    }
}

/// `dmm OP SNAPSHOT --yes` with fast polling and the pace flags given, nothing else: unlike
/// `Env::run_op`, no fixed rate.
fn run_paced(env: &Env, op: &str, extra: &[&str]) -> Output {
    let snap = env.snapshot();
    let mut args = vec![
        op,
        snap.to_str().unwrap(),
        "--yes",
        "--poll-interval-ms",
        "20",
    ];
    args.extend_from_slice(extra);
    env.run(&args)
}

fn last_run(env: &Env) -> RunRecord {
    let reader = JournalReader::open(&env.journal()).expect("the journal");
    reader.runs().unwrap().pop().expect("a run")
}

fn pace_of(env: &Env) -> PaceRecord {
    last_run(env).pace.expect("the run's pace is recorded")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn by_default_the_rate_rises_while_answers_are_clean_and_the_run_records_it() {
    let env = Env::new(config(busy_spec()));
    env.take_snapshot();
    let out = run_paced(&env, "shutdown", &["-v"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    for &kind in Kind::ALL {
        assert!(running(&env, kind).is_empty(), "{kind} still running");
    }

    let run = last_run(&env);
    assert_eq!(run.options["rate_limit"], "auto");
    assert_eq!(run.options["max_rate"], defaults::MAX_RATE);
    let pace = run.pace.expect("the pace is recorded");
    assert_eq!(pace.mode, "auto");
    assert_eq!(pace.initial, defaults::INITIAL_RATE);
    assert_eq!(pace.min, defaults::INITIAL_RATE, "it never fell: {pace:?}");
    assert!(pace.max > defaults::INITIAL_RATE, "it rose: {pace:?}");
    assert!(pace.max <= defaults::MAX_RATE, "{pace:?}");
    assert_eq!(pace.ceiling, defaults::MAX_RATE);
    assert_eq!(pace.pushbacks, 0);
    assert_eq!(env.sim.requests().faults.rate_limited, 0);

    // -v logs each change with its reason.
    let log = stderr(&out);
    assert!(
        log.contains("pace: 25.0 → ") && log.contains("answers fast and clean"),
        "{log}"
    );

    let status = env.run(&["status", env.snapshot().to_str().unwrap()]);
    let shown = String::from_utf8_lossy(&status.stdout);
    assert!(
        shown.contains(&format!(
            "pace: auto, settled at {} requests/s (lowest 25, highest {}, ceiling {}); 0 pushbacks",
            pace.settled, pace.max, pace.ceiling
        )),
        "{shown}"
    );
    let json = env.run(&["status", env.snapshot().to_str().unwrap(), "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("status --json");
    assert_eq!(doc["last_run"]["pace"]["max"], pace.max);
    assert_eq!(doc["last_run"]["pace"]["pushbacks"], 0);
}

#[test]
fn the_rate_falls_when_a_deployment_at_capacity_answers_429() {
    // Fewer requests per second than the adaptive rate starts at, and no queue: a request that
    // comes too soon after the one before is refused with 429.
    let env = Env::new(config(small_spec()).faults(Faults {
        capacity_queue_ms: 0,
        retry_after_s: 0,
        ..Faults::none()
    }));
    env.take_snapshot();
    env.sim
        .set_faults(FaultsPatch {
            capacity_rps: Some(15),
            ..Default::default()
        })
        .unwrap();
    let out = run_paced(&env, "shutdown", &["-v"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("verification: passed"));

    let refused = env.sim.requests().faults.rate_limited;
    assert!(refused > 0, "the deployment pushed back");
    let pace = pace_of(&env);
    assert!(pace.pushbacks > 0, "{pace:?}");
    assert!(
        pace.pushbacks <= refused,
        "{pace:?} vs {refused} answered 429"
    );
    assert!(pace.min < defaults::INITIAL_RATE, "it fell: {pace:?}");
    let log = stderr(&out);
    assert!(log.contains("requests/s: answered 429"), "{log}");
}

#[test]
fn max_rate_bounds_the_adaptive_rate() {
    let env = Env::new(config(busy_spec()));
    env.take_snapshot();
    let out = run_paced(&env, "shutdown", &["--max-rate", "40"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let run = last_run(&env);
    assert_eq!(run.options["max_rate"], 40.0);
    let pace = run.pace.unwrap();
    assert_eq!(pace.ceiling, 40.0);
    assert!(pace.max <= 40.0, "{pace:?}");
    assert!(
        pace.max > defaults::INITIAL_RATE,
        "it rose towards it: {pace:?}"
    );
}

#[test]
fn a_fixed_rate_limit_is_kept_and_recorded() {
    let env = Env::new(config(busy_spec()));
    env.take_snapshot();
    let out = run_paced(&env, "shutdown", &["--rate-limit", "300", "-v"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let run = last_run(&env);
    assert_eq!(run.options["rate_limit"], 300.0);
    assert_eq!(run.options["max_rate"], serde_json::Value::Null);
    let pace = run.pace.unwrap();
    assert_eq!(pace.mode, "fixed");
    assert_eq!(
        (pace.initial, pace.settled, pace.min, pace.max),
        (300.0, 300.0, 300.0, 300.0)
    );
    assert_eq!(pace.changes, 0);
    assert!(
        !stderr(&out).contains(" requests/s: "),
        "a fixed rate never changes"
    );
    let status = env.run(&["status", env.snapshot().to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("pace: fixed at 300 requests/s"),
        "{}",
        text(&status)
    );
}

#[test]
fn bad_pace_flags_are_one_line_and_touch_nothing() {
    let env = Env::small();
    env.take_snapshot();
    for bad in [
        &["--rate-limit", "fast"][..],
        &["--rate-limit", "0"],
        &["--max-rate=-1"],
        &["--rate-limit", "30", "--max-rate", "50"],
        &["-b", "4", "-i", "2", "--max-rate", "50"],
    ] {
        let out = run_paced(&env, "shutdown", bad);
        assert_eq!(code(&out), 2, "{bad:?}: {}", text(&out));
        let err = stderr(&out);
        assert!(
            err.contains("rate"),
            "{bad:?}: the message names the flag: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    let runs = JournalReader::open(&env.journal()).unwrap().runs().unwrap();
    assert!(runs.is_empty(), "nothing was touched: {runs:?}");
    assert_eq!(env.sim.requests().mutations.len(), 0);
}

#[test]
fn a_run_record_written_before_the_pace_was_recorded_still_reads() {
    let old = r#"{"id":1,"op":"shutdown","started_at":"2026-01-01T00:00:00Z","ended_at":null,
        "tool_version":"0.1.0","options":{},"outcome":null,"message":null,"cycle":1}"#;
    let run: RunRecord = serde_json::from_str(old).expect("an older record");
    assert_eq!(run.pace, None);
    // And a record without a pace is written without the field, as before.
    assert!(!serde_json::to_string(&run).unwrap().contains("pace"));
}

#[test]
fn slow_listings_beside_fast_single_reads_do_not_cut_the_rate() {
    // Single reads and stops answer in 5 ms; a listing takes 300 µs more per row it returns, so
    // the App and workspace listings read while polling (transitions take a second) and the
    // Job listings of each project take tens of milliseconds. Each kind of request is as fast
    // as it always is: nothing here is a slowdown.
    let env = Env::new(
        config(GenerateSpec {
            projects: 20,
            apps: 200,
            workspaces: 150,
            jobs: 100,
            ..busy_spec()
        })
        .transition(1000, 200)
        .faults(Faults {
            latency_ms: 5,
            ..Faults::none()
        }),
    );
    env.take_snapshot();
    env.sim
        .set_faults(FaultsPatch {
            list_row_us: Some(300),
            ..Default::default()
        })
        .unwrap();
    let out = run_paced(&env, "shutdown", &["-v"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let log = stderr(&out);
    let cuts: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("pace: ") && l.contains("latency"))
        .collect();
    assert!(cuts.is_empty(), "cut for latency: {cuts:?}");
    let pace = pace_of(&env);
    assert_eq!(pace.min, defaults::INITIAL_RATE, "it never fell: {pace:?}");
    assert_eq!(pace.pushbacks, 0);
}

#[test]
fn a_server_that_slows_down_for_every_kind_of_request_gets_a_lower_rate() {
    // Every kind of request answers in 2 ms, until the server has taken 400 requests; then
    // every kind takes 60 ms, and the server never refuses: the rate falls, for latency.
    let env = Env::new(
        config(GenerateSpec {
            apps: 400,
            workspaces: 300,
            ..busy_spec()
        })
        .faults(Faults {
            latency_ms: 2,
            ..Faults::none()
        }),
    );
    env.take_snapshot();
    let before = env.sim.requests().total;
    let sim = &env.sim;
    let out = std::thread::scope(|s| {
        s.spawn(move || {
            while sim.requests().total < before + 400 {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            sim.set_faults(FaultsPatch {
                latency_ms: Some(60),
                ..Default::default()
            })
            .unwrap();
        });
        run_paced(&env, "shutdown", &["-v"])
    });
    assert_eq!(code(&out), 0, "{}", text(&out));
    let log = stderr(&out);
    let cut = log
        .lines()
        .find(|l| l.contains("pace: ") && l.contains("latency"))
        .unwrap_or_else(|| panic!("no cut for latency: {log}"));
    assert!(cut.contains("its kind of request's baseline"), "{cut}");
    let pace = pace_of(&env);
    assert!(pace.min < pace.max, "{pace:?}");
    assert_eq!(pace.pushbacks, 0);
}

/// 200 executions generated (about 135 of them running), with fast transitions.
fn two_hundred() -> GenerateSpec {
    GenerateSpec {
        projects: 8,
        apps: 80,
        models: 30,
        versions_per_model: 2,
        workspaces: 40,
        scheduled_jobs: 20,
        rollout_in_progress: false,
        jobs: 0,
    }
}

/// An upgrade night's ingress: about 35% of requests fail whatever the rate (5% dropped
/// connections, then 20% answered 500, 502 or 503, then 13% answered 429).
fn steady_faults() -> FaultsPatch {
    FaultsPatch {
        drop_rate: Some(0.05),
        error_rate: Some(0.20),
        rate_limit_rate: Some(0.13),
        retry_after_s: Some(0),
        ..Default::default()
    }
}

#[test]
fn a_shutdown_and_restore_through_a_steady_35_percent_of_faults_end_verified() {
    // What takes the time here is the retries' backoff at the default flags (each phase ends
    // with its unluckiest request), about 15 s a command: the pace itself holds.
    let env = Env::new(config(two_hundred()).transition(30, 10));
    env.take_snapshot();
    env.sim.set_faults(steady_faults()).unwrap();
    for op in ["shutdown", "restore"] {
        let out = run_paced(&env, op, &[]);
        assert_eq!(code(&out), 0, "{op}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("verification: passed"),
            "{op}: {}",
            text(&out)
        );
        let pace = pace_of(&env);
        assert!(pace.pushbacks > 0, "{op}: the faults pushed back: {pace:?}");
        // A steady share of faults is weather: after a cut or two while it is judged, the rate
        // is not cut again and again towards one request a second (what it did, and held for
        // minutes, before the weather was told from load), and it grows beyond where it began.
        // (Its average over a restore this short is usually 130–450 a second, but once in CI it
        // was 22 with a highest of 92. The zoo's staged runs of this size do the same in 2 of
        // 500 seeds, on this law and the two before it: the first rounds, a handful of answers,
        // judged "ours" by chance, and later a 429 weather learnt from a small sample, against
        // which the steady share looks like a rising one.)
        assert!(
            pace.min > 0.2 * defaults::INITIAL_RATE,
            "{op}: the rate collapsed under steady faults: {pace:?}"
        );
        assert!(
            pace.max > 2.0 * defaults::INITIAL_RATE,
            "{op}: the rate did not grow through the weather: {pace:?}"
        );
    }
    let log = env.sim.requests();
    assert!(
        log.faults.rate_limited > 0 && log.faults.dropped > 0 && log.faults.errors > 0,
        "every kind of fault was met: {:?}",
        log.faults
    );
}
