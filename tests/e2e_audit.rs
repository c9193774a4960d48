//! Verification, status and the audit trail, end to end.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use dmm::journal::{JournalRead, Operation, StepPhase};
use dmm::snapshot::{self, Kind};
use domino_sim::Kind as SimKind;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn verify_names_what_was_restarted_behind_the_tools_back_and_the_drift() {
    let env = Env::small();
    env.take_snapshot();
    let out = env.run_op("shutdown", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));

    let snap = env.snapshot();
    let out = env.run(&["verify", snap.to_str().unwrap(), "--expect", "stopped"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(stdout(&out).contains("verification: passed"));

    let loaded = snapshot::read(&snap).unwrap();
    let app = &loaded.snapshot.entries(Kind::App)[0];
    env.sim
        .start_behind_back(SimKind::App, app.key(Kind::App).unwrap())
        .unwrap();
    let intruder = env.sim.add_running(SimKind::App).unwrap();
    let out = env.run(&["verify", snap.to_str().unwrap(), "--expect", "stopped"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let report = stdout(&out);
    assert!(report.contains("still running"), "{report}");
    assert!(
        report.contains(&app.name) && report.contains(app.key(Kind::App).unwrap()),
        "{report}"
    );
    assert!(
        report.contains("drift") && report.contains(&intruder),
        "{report}"
    );

    // --json is one document for scripts.
    let out = env.run(&[
        "verify",
        snap.to_str().unwrap(),
        "--expect",
        "stopped",
        "--json",
    ]);
    assert_eq!(code(&out), 1);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["passed"], false);

    // A shutdown run again re-verifies and fails the same way: exit 1, and the journal keeps it.
    let out = env.run_op("shutdown", &[]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let out = env.run(&["status", snap.to_str().unwrap(), "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["last_verification"]["passed"], false, "{status}");
}

#[test]
fn the_journal_accounts_for_every_execution_as_json_lines() {
    let env = Env::small();
    env.take_snapshot();
    assert_eq!(code(&env.run_op("shutdown", &[])), 0);
    assert_eq!(code(&env.run_op("restore", &[])), 0);
    let snap = env.snapshot();
    let out = env.run(&["journal", snap.to_str().unwrap(), "--json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let mut seen: BTreeSet<(String, String, String)> = BTreeSet::new();
    let mut lines = 0;
    for line in stdout(&out).lines() {
        let e: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
        for field in [
            "time",
            "run",
            "op",
            "kind",
            "execution",
            "name",
            "owner",
            "from",
            "to",
            "attempt",
        ] {
            assert!(e.get(field).is_some(), "{field} missing in {line}");
        }
        seen.insert((
            e["op"].as_str().unwrap().into(),
            e["kind"].as_str().unwrap().into(),
            e["execution"].as_str().unwrap().into(),
        ));
        lines += 1;
    }
    let loaded = snapshot::read(&snap).unwrap();
    for (kind, entry) in loaded.snapshot.iter() {
        for op in ["shutdown", "restore"] {
            let key = (
                op.to_string(),
                kind.label().to_string(),
                entry.key(kind).unwrap().to_string(),
            );
            assert!(seen.contains(&key), "no event for {key:?}");
        }
    }
    assert!(lines >= 3 * loaded.snapshot.len(), "{lines} events");
    // A scheduled job's PUT answers with the job: its pause is confirmed from that answer,
    // without a separate read.
    let journal = stdout(&out);
    let answered = journal
        .lines()
        .filter(|l| l.contains("\"Scheduled Job\"") && l.contains("the answer shows it"))
        .count();
    assert_eq!(
        answered,
        2 * loaded.snapshot.entries(Kind::ScheduledJob).len(),
        "{journal}"
    );
    // Per job: the read before each PUT (pause, resume) and the restore's verification.
    let jobs = loaded.snapshot.entries(Kind::ScheduledJob).len() as u64;
    let job_reads = env
        .sim
        .requests()
        .count("GET", "/v4/projects/{project_id}/scheduledjobs/{job_id}");
    assert_eq!(job_reads, 3 * jobs);

    // Filters: one kind; failed only (none failed here).
    let out = env.run(&["journal", snap.to_str().unwrap(), "--kind", "app"]);
    assert!(stdout(&out).lines().all(|l| l.contains(" App ")));
    let out = env.run(&["journal", snap.to_str().unwrap(), "--failed"]);
    assert_eq!(stdout(&out).trim(), "");
}

#[test]
fn status_after_a_kill_tells_where_the_run_stopped_and_what_to_run() {
    let mut spec = small_spec();
    spec.apps = 20;
    let env = Env::new(config(spec).transition(1_500, 200));
    env.take_snapshot();
    let snap = env.snapshot();
    let out = env.run(&["status", snap.to_str().unwrap()]);
    let report = stdout(&out);
    assert!(
        report.contains("nothing has been stopped or started"),
        "{report}"
    );
    assert!(
        report.contains("snapshot taken"),
        "the scan's details are in the journal: {report}"
    );

    let mut child = env.spawn_op("shutdown", &[]);
    wait_for(Duration::from_secs(20), "some accepted steps", || {
        env.steps(Operation::Shutdown)
            .iter()
            .any(|s| s.phase == StepPhase::Accepted)
    });
    // While the run holds the journal, status and journal still read it.
    let out = env.run(&["status", snap.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    kill9(&mut child);

    let steps = env.steps(Operation::Shutdown);
    let unfinished = steps.iter().filter(|s| !s.phase.is_terminal()).count();
    assert!(unfinished > 0);
    let out = env.run(&["status", snap.to_str().unwrap(), "--json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let counted: u64 = status["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|k| k["phases"].as_object().unwrap().iter())
        .filter(|(p, _)| !matches!(p.as_str(), "Confirmed" | "Skipped" | "Failed"))
        .map(|(_, n)| n.as_u64().unwrap())
        .sum();
    assert_eq!(counted as usize, unfinished);
    assert!(
        status["next"].as_str().unwrap().contains("dmm shutdown"),
        "{status}"
    );
    assert!(
        status["last_run"]["outcome"].is_null(),
        "a killed run has no outcome: {status}"
    );

    let out = env.run(&["status", snap.to_str().unwrap()]);
    assert!(
        stdout(&out).contains("continues where the last run stopped"),
        "{}",
        text(&out)
    );

    assert_eq!(code(&env.run_op("shutdown", &[])), 0);
    let out = env.run(&["status", snap.to_str().unwrap()]);
    assert!(stdout(&out).contains("dmm restore"), "{}", text(&out));
}

#[test]
fn no_verify_is_recorded_in_the_journal() {
    let env = Env::small();
    env.take_snapshot();
    let out = env.run_op("shutdown", &["--no-verify", "-s", "scheduled-job"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(stdout(&out).contains("skipped (--no-verify)"));
    use dmm::journal::{JournalRead, JournalReader};
    let v = JournalReader::open(&env.journal())
        .unwrap()
        .verifications()
        .unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].detail["skipped"], "--no-verify");
}

#[test]
fn each_run_records_the_domino_version_and_whom_it_acted_as() {
    let env = Env::small();
    env.take_snapshot();
    for op in ["shutdown", "restore"] {
        let out = env.run_op(op, &[]);
        assert_eq!(code(&out), 0, "{}", text(&out));
    }
    let (id, name) = env.sim.principal();
    let runs = dmm::journal::JournalReader::open(&env.journal())
        .unwrap()
        .runs()
        .unwrap();
    assert_eq!(runs.len(), 2);
    for run in &runs {
        assert_eq!(run.domino_version.as_deref(), Some("5.11.1"), "{run:?}");
        assert_eq!(
            run.acting_as.as_deref(),
            Some(format!("{name} ({id})").as_str()),
            "{run:?}"
        );
    }
    let out = env.run(&["status", env.snapshot().to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        stdout(&out).contains(&format!("acted as: {name} ({id}), on Domino 5.11.1")),
        "{}",
        stdout(&out)
    );
    check_no_key(&out);
}

#[test]
fn the_change_reference_and_the_planned_window_reach_status_and_the_report() {
    let env = Env::small();
    let snap = env.snapshot();
    let out = env.run(&["snapshot", snap.to_str().unwrap(), "--change-id", "CHG0010"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    // From the environment, as a Kubernetes Job passes it, with a deadline to set it against.
    let args = env.op_args("shutdown", &["--deadline", "2h"]);
    let out = env
        .dmm()
        .args(&args)
        .env("DMM_CHANGE_ID", "CHG0012345")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
    let runs = dmm::journal::JournalReader::open(&env.journal())
        .unwrap()
        .runs()
        .unwrap();
    let recorded = dmm::runner::RecordedOptions::read(&runs[0].options);
    assert_eq!(recorded.change_id.as_deref(), Some("CHG0012345"));

    let out = env.run(&["status", snap.to_str().unwrap()]);
    let status = stdout(&out);
    let line = status
        .lines()
        .find(|l| l.starts_with("change: "))
        .unwrap_or_else(|| panic!("{status}"));
    assert!(
        line.starts_with("change: CHG0010, CHG0012345; window: planned to end by "),
        "{line}"
    );
    assert!(line.contains("before the deadline"), "{line}");

    let summary = env.path("summary.md");
    let out = env.run(&[
        "report",
        snap.to_str().unwrap(),
        "--format",
        "markdown-summary",
        "-o",
        summary.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(
        summary.contains("- Change: CHG0010, CHG0012345; window: planned to end by "),
        "{summary}"
    );
    let html = env.path("r.html");
    let out = env.run(&[
        "report",
        snap.to_str().unwrap(),
        "-o",
        html.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let html = std::fs::read_to_string(&html).unwrap();
    assert!(html.contains("<tr><th>Change</th><td class=\"name\">CHG0010, CHG0012345</td></tr>"));

    // A reference that is not one short printable line: one line of error, exit 2, no run.
    for bad in [
        "CHG\u{1b}[31m1".to_owned(),
        "C".repeat(65),
        "CHG\n1".to_owned(),
    ] {
        let args = env.op_args("restore", &["--change-id", &bad]);
        let out = env.dmm().args(&args).output().unwrap();
        assert_eq!(code(&out), 2, "{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("change reference"), "{err}");
        assert!(!err.contains('\u{1b}'), "{err:?}");
    }
    assert_eq!(
        dmm::journal::JournalReader::open(&env.journal())
            .unwrap()
            .runs()
            .unwrap()
            .len(),
        1
    );
}
