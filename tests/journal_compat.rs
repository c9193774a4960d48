//! A journal written by the previous release (dmm 0.2.0 at 8414cf2: a shutdown and a restore
//! with `--restart-jobs` against the simulator, kept in `fixtures/journals/`) is read by this
//! one: status, the audit trail, its hash chain, the report, and the Job steps' records, whose
//! newer fields (how a stopped Job ended) it does not have.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dmm::journal::{JournalRead, JournalReader, Operation, StepPhase};
use dmm::runner::{VerificationDetail, VerificationState};
use dmm::snapshot::Kind;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/journals/dmm-0.2.0-8414cf2"
);

fn copy_fixture(dir: &Path) -> PathBuf {
    for name in ["snap.json", "snap.json.journal"] {
        std::fs::copy(Path::new(FIXTURE).join(name), dir.join(name)).unwrap();
    }
    dir.join("snap.json")
}

fn dmm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dmm"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_journal_of_the_previous_release_is_read_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let snap = copy_fixture(dir.path());
    let file = snap.to_str().unwrap();

    let status = dmm(&["status", file, "--json"]);
    assert_eq!(status.status.code(), Some(0), "{}", text(&status));
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(doc["runs"], 2, "{doc}");
    assert_eq!(doc["last_run"]["outcome"], "completed", "{doc}");
    assert_eq!(doc["last_verification_state"], "passed", "{doc}");

    let verify = dmm(&["journal", file, "--verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify));
    assert!(text(&verify).contains("intact"), "{}", text(&verify));

    let jobs = dmm(&["journal", file, "--kind", "job"]);
    assert_eq!(jobs.status.code(), Some(0), "{}", text(&jobs));
    assert!(text(&jobs).contains("restart accepted"), "{}", text(&jobs));

    let page = dir.path().join("report.html");
    let report = dmm(&["report", file, "-o", page.to_str().unwrap()]);
    assert_eq!(report.status.code(), Some(0), "{}", text(&report));
    assert!(std::fs::metadata(&page).unwrap().len() > 1000);

    // The records themselves: a Job stopped by that release carries no `ended`, and still
    // counts as stopped by its step (the rule for journals written before it was recorded).
    let reader = JournalReader::open(&dir.path().join("snap.json.journal")).unwrap();
    let stops: Vec<_> = reader
        .steps(Some(Operation::Shutdown))
        .unwrap()
        .into_iter()
        .filter(|s| s.key.kind == Kind::Job)
        .collect();
    assert!(!stops.is_empty());
    for step in &stops {
        assert_eq!(step.ended, None, "{step:?}");
    }
    let restarts: Vec<_> = reader
        .steps(Some(Operation::Restore))
        .unwrap()
        .into_iter()
        .filter(|s| s.key.kind == Kind::Job)
        .collect();
    assert_eq!(
        restarts.len(),
        stops.iter().filter(|s| s.attempts >= 1).count()
    );
    for step in &restarts {
        assert_eq!(step.phase, StepPhase::Confirmed, "{step:?}");
        assert!(step.effect.is_some());
    }

    // Each verification pass that release recorded reads back as its findings.
    let verifications = reader.verifications().unwrap();
    assert_eq!(verifications.len(), 2);
    for v in &verifications {
        let detail = VerificationDetail::read(&v.detail);
        assert!(
            matches!(detail, VerificationDetail::Checked(ref c) if c.passed),
            "{v:?}"
        );
        assert_eq!(VerificationState::of(v), VerificationState::Passed);
    }
}
