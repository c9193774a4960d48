//! What to run next: after a deadline the printed continuation, `status` and the webhook say
//! the same command, with every flag that changes what is done; a deadline during verification
//! continues rather than retrying failures there are none of; a `--no-verify` run is never
//! reported as verified.

mod common;

use std::collections::BTreeSet;
use std::process::{Output, Stdio};
use std::time::Duration;

use common::*;
use dmm::journal::{JournalRead, JournalReader, Operation};
use dmm::snapshot::Kind;
use domino_sim::FaultsPatch;
use domino_sim::Kind as SimKind;
use serde_json::Value;

fn ended(r: &Receiver) -> Value {
    r.bodies
        .lock()
        .unwrap()
        .iter()
        .find(|b| b["event"] == "ended")
        .cloned()
        .expect("an ended notice")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The text after `next: ` on stdout.
fn next_of(out: &Output) -> String {
    stdout(out)
        .lines()
        .find_map(|l| l.strip_prefix("next: "))
        .unwrap_or_else(|| panic!("no next: line in {}", text(out)))
        .to_owned()
}

fn status(env: &Env) -> Output {
    let out = env.run(&["status", env.snapshot().to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    out
}

fn status_json(env: &Env) -> Value {
    let out = env.run(&["status", env.snapshot().to_str().unwrap(), "--json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The `dmm OP SNAPSHOT ...` command inside a next line, as arguments (the test's paths need no
/// quoting).
fn command_in(next: &str, op: &str) -> Vec<String> {
    let at = next
        .find(&format!("dmm {op} "))
        .unwrap_or_else(|| panic!("no 'dmm {op}' in {next}"));
    let rest = &next[at..];
    let end = rest.find(" (").unwrap_or(rest.len());
    rest[..end]
        .split_whitespace()
        .skip(1)
        .map(str::to_owned)
        .collect()
}

fn wait_exit(mut child: std::process::Child, limit: Duration) -> Output {
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

#[test]
fn after_a_deadline_every_continuation_keeps_jobs_leave_and_following_it_leaves_the_jobs() {
    let mut spec = small_spec();
    spec.apps = 30;
    spec.jobs = 6;
    let env = Env::new(config(spec).transition(200, 50));
    env.take_snapshot();
    let jobs_before = env.sim.running_ids(SimKind::Job);
    assert!(!jobs_before.is_empty(), "the deployment runs Jobs");
    let r = receiver();
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
            "--jobs",
            "leave",
            "--notify-url",
            &r.url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_exit(child, Duration::from_secs(60));
    assert_eq!(code(&out), 3, "{}", text(&out));
    let printed = next_of(&out);
    let said = next_of(&status(&env));
    let json = status_json(&env)["next"].as_str().unwrap().to_owned();
    let told = ended(&r)["next"].as_str().unwrap().to_owned();
    eprintln!("printed: {printed}\nstatus:  {said}\nwebhook: {told}");
    for next in [&printed, &said, &json, &told] {
        assert!(
            next.contains("--jobs leave"),
            "the continuation drops --jobs leave: {next}"
        );
    }
    assert_eq!(
        command_in(&printed, "shutdown"),
        command_in(&said, "shutdown")
    );
    assert_eq!(
        command_in(&printed, "shutdown"),
        command_in(&told, "shutdown")
    );

    // Following it, as printed, finishes the shutdown and leaves the Jobs running.
    let mut args = command_in(&printed, "shutdown");
    args.extend(["--yes", "--poll-interval-ms", "20", "--rate-limit", "2000"].map(String::from));
    let out = env.dmm().args(&args).output().unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
    let stops_of_jobs: Vec<_> = env
        .sim
        .requests()
        .mutations
        .into_iter()
        .filter(|m| {
            m.execution_id
                .as_ref()
                .is_some_and(|id| jobs_before.contains(id))
        })
        .collect();
    assert!(
        stops_of_jobs.is_empty(),
        "following the continuation stopped Jobs the operator asked to leave: {stops_of_jobs:?}"
    );
}

#[test]
fn a_deadline_during_verification_continues_with_the_same_kind_and_retries_nothing() {
    // Stops that take 3 s to land. Once every stop is accepted, each answer takes 4 s: the
    // first listing after that sees every App stopped (4 s in), and the verification's listing
    // then takes 4 s more, across the deadline at 7 s.
    let env = Env::new(config(small_spec()).transition(3000, 50));
    env.take_snapshot();
    let apps: BTreeSet<String> = snapshot_keys(&env)
        .into_iter()
        .filter(|(k, _)| *k == Kind::App)
        .map(|(_, id)| id)
        .collect();
    let child = env
        .dmm()
        .args(env.op_args("shutdown", &["-s", "App", "--deadline", "7s"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(Duration::from_secs(20), "every App stop accepted", || {
        let steps = env.steps(Operation::Shutdown);
        steps.len() == apps.len()
            && steps
                .iter()
                .all(|s| s.phase == dmm::journal::StepPhase::Accepted)
    });
    env.sim
        .set_faults(FaultsPatch {
            latency_ms: Some(4_000),
            ..FaultsPatch::default()
        })
        .unwrap();
    let out = wait_exit(child, Duration::from_secs(60));
    env.sim
        .set_faults(FaultsPatch {
            latency_ms: Some(0),
            ..FaultsPatch::default()
        })
        .unwrap();
    assert_eq!(code(&out), 3, "{}", text(&out));
    let runs = JournalReader::open(&env.journal()).unwrap().runs().unwrap();
    let message = runs.last().unwrap().message.clone().unwrap_or_default();
    assert!(message.contains("during verification"), "{message}");

    let failed = env.run(&["journal", env.snapshot().to_str().unwrap(), "--failed"]);
    assert_eq!(code(&failed), 0, "{}", text(&failed));
    assert!(
        stdout(&failed).trim().is_empty(),
        "nothing failed: {}",
        text(&failed)
    );
    // ... and it says so, on stderr, rather than printing nothing at all.
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("no step is failed now"),
        "{}",
        text(&failed)
    );

    let printed = next_of(&out);
    let said = next_of(&status(&env));
    eprintln!("printed: {printed}\nstatus:  {said}");
    for next in [&printed, &said] {
        assert!(!next.contains("--retry-failed"), "nothing failed: {next}");
        assert!(
            next.contains("-s App"),
            "the continuation drops -s App: {next}"
        );
    }
    assert_eq!(
        command_in(&printed, "shutdown"),
        command_in(&said, "shutdown")
    );
    // Following it verifies, and touches no other kind.
    let mut args = command_in(&said, "shutdown");
    args.extend(["--yes", "--poll-interval-ms", "20"].map(String::from));
    let out = env.dmm().args(&args).output().unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        stdout(&out).contains("verification: passed"),
        "{}",
        text(&out)
    );
    let others: BTreeSet<(Kind, String)> = snapshot_keys(&env)
        .into_iter()
        .filter(|(k, _)| *k != Kind::App)
        .collect();
    assert!(!others.is_empty());
    let touched: BTreeSet<String> = env
        .sim
        .requests()
        .mutations
        .into_iter()
        .filter_map(|m| m.execution_id)
        .collect();
    assert!(
        others.iter().all(|(_, id)| !touched.contains(id)),
        "the continuation touched other kinds than App"
    );
}

fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name_and_labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn a_run_without_verification_is_never_reported_as_verified() {
    let env = Env::small();
    env.take_snapshot();
    let r = receiver();
    let metrics = env.path("dmm.prom");
    let out = env.run_op(
        "shutdown",
        &[
            "--no-verify",
            "--notify-url",
            &r.url,
            "--metrics-file",
            metrics.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        stdout(&out).contains("verification: skipped"),
        "{}",
        text(&out)
    );
    assert!(next_of(&out).contains("--expect stopped"), "{}", text(&out));

    let said = stdout(&status(&env));
    eprintln!("{said}");
    assert!(
        !said
            .lines()
            .any(|l| l.starts_with("last verification") && l.ends_with("passed")),
        "{said}"
    );
    assert!(
        said.contains("not checked") || said.contains("not verified"),
        "{said}"
    );
    assert!(said.contains("dmm verify"), "how to verify: {said}");
    assert!(said.contains("--expect stopped"), "{said}");

    let prom = std::fs::read_to_string(&metrics).unwrap();
    assert_ne!(
        sample(&prom, "dmm_verification_passed{operation=\"shutdown\"}"),
        Some(1.0),
        "{prom}"
    );
    assert!(
        sample(
            &prom,
            "dmm_last_success_timestamp_seconds{operation=\"shutdown\"}"
        )
        .is_none(),
        "{prom}"
    );
    assert_eq!(
        sample(
            &prom,
            "dmm_next_action{operation=\"shutdown\",action=\"verify\"}"
        ),
        Some(1.0),
        "{prom}"
    );
    assert_eq!(
        status_json(&env)["last_verification_state"],
        "skipped",
        "the state scripts read"
    );

    let end = ended(&r);
    assert_eq!(end["verified"], false, "{end}");
    assert!(
        !end["text"].as_str().unwrap().contains("verified")
            || end["text"].as_str().unwrap().contains("not verified"),
        "{end}"
    );

    // A restore without verification does not end the maintenance either.
    let out = env.run_op("restore", &["--no-verify"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let said = stdout(&status(&env));
    eprintln!("{said}");
    assert!(!said.contains("complete"), "{said}");
    assert!(!said.contains("maintenance is over"), "{said}");
    assert!(said.contains("--expect running"), "{said}");
    assert!(
        !stdout(&out).contains("maintenance is over"),
        "{}",
        text(&out)
    );
}
