//! Tests on real redb files in temporary directories. The lock and crash tests run a second
//! process: this test binary itself, re-entered through the ignored `child_process` test.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use super::schema;
use super::*;
use crate::snapshot::Kind;

const SHA: &str = "aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11";
const OTHER_SHA: &str = "bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22";

/// The start of a run of the first cycle, with these options.
fn start(options: serde_json::Value) -> RunStart {
    RunStart {
        options,
        cycle: 1,
        ..RunStart::default()
    }
}

fn journal_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("snap.json.journal")
}

/// Where a journal would be in a fresh directory (removed when the first is dropped).
fn scratch_journal() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_path(&dir);
    (dir, path)
}

fn open(path: &Path) -> Journal {
    Journal::open(path, SHA, Path::new("snap.json")).expect("open journal")
}

/// Why opening the journal at `path` for the snapshot is refused.
fn refused(path: &Path) -> JournalError {
    Journal::open(path, SHA, Path::new("snap.json"))
        .err()
        .expect("refused")
}

fn key(op: Operation, kind: Kind, id: &str) -> StepKey {
    StepKey {
        op,
        kind,
        execution: id.to_string(),
    }
}

fn new_step(op: Operation, kind: Kind, id: &str) -> NewStep {
    NewStep {
        detail: None,
        key: key(op, kind, id),
        name: format!("name-{id}"),
        owner: "alice".into(),
        phase: StepPhase::Pending,
    }
}

fn transition(run: u64, k: &StepKey, to: StepPhase, attempt: u32) -> Transition {
    Transition {
        effect: None,
        ended: None,
        note: None,
        run,
        key: k.clone(),
        to,
        attempt,
        http_status: None,
        message: None,
        error: None,
    }
}

/// A journal in a fresh directory with one shutdown run and two planned steps, closed again;
/// and its run.
fn seeded_journal() -> (tempfile::TempDir, PathBuf, u64) {
    let (dir, path) = scratch_journal();
    let j = open(&path);
    let run = j
        .begin_run(Operation::Shutdown, start(json!({})))
        .unwrap()
        .id;
    j.plan(
        run,
        vec![
            new_step(Operation::Shutdown, Kind::App, "a1"),
            new_step(Operation::Shutdown, Kind::Workspace, "w1"),
        ],
    )
    .unwrap();
    (dir, path, run)
}

#[test]
fn create_then_reopen_keeps_everything() {
    let (_dir, path) = scratch_journal();
    let (runs, steps, events, verifications) = {
        let j = open(&path);
        let run = j
            .begin_run(Operation::Shutdown, start(json!({"yes": true})))
            .unwrap();
        assert_eq!(run.id, 1);
        j.plan(run.id, vec![new_step(Operation::Shutdown, Kind::App, "a1")])
            .unwrap();
        let k = key(Operation::Shutdown, Kind::App, "a1");
        j.apply(&[transition(run.id, &k, StepPhase::Requested, 1)])
            .unwrap();
        j.end_run(run.id, RunOutcome::Interrupted, Some("signal".into()))
            .unwrap();
        j.record_verification(&VerificationRecord {
            run: Some(run.id),
            op: Operation::Shutdown,
            time: "2024-01-01T00:00:00Z".into(),
            passed: true,
            detail: json!({"still_running": []}),
            skipped: false,
        })
        .unwrap();
        let meta = j.meta().unwrap();
        assert_eq!(meta.schema_version, SCHEMA_VERSION);
        assert_eq!(meta.snapshot_sha256, SHA);
        assert_eq!(meta.snapshot_path, "snap.json");
        assert_eq!(meta.tool_version, crate::TOOL_VERSION);
        assert!(meta.created_at.ends_with('Z'), "{}", meta.created_at);
        (
            j.runs().unwrap(),
            j.steps(None).unwrap(),
            j.events().unwrap(),
            j.verifications().unwrap(),
        )
    };
    let j = open(&path);
    assert_eq!(j.runs().unwrap(), runs);
    assert_eq!(runs[0].outcome, Some(RunOutcome::Interrupted));
    assert!(runs[0].ended_at.is_some());
    assert_eq!(j.steps(None).unwrap(), steps);
    assert_eq!(j.events().unwrap(), events);
    assert_eq!(events.len(), 2);
    assert_eq!(j.verifications().unwrap(), verifications);
    assert_eq!(
        j.begin_run(Operation::Restore, start(json!({})))
            .unwrap()
            .id,
        2
    );
}

/// One kind's steps of one operation, and no other's: not another operation's of that kind,
/// nor those of a kind whose slug starts the same.
#[test]
fn steps_of_kind_reads_one_kind_of_one_operation() {
    let (_dir, path) = scratch_journal();
    let j = open(&path);
    for (op, steps) in [
        (Operation::Shutdown, vec![(Kind::Job, "j3")]),
        (
            Operation::Restore,
            vec![
                (Kind::Job, "j2"),
                (Kind::Job, "j1"),
                (Kind::ScheduledJob, "s1"),
                (Kind::App, "a1"),
            ],
        ),
    ] {
        let run = j.begin_run(op, start(json!({}))).unwrap().id;
        let steps = steps
            .into_iter()
            .map(|(kind, id)| new_step(op, kind, id))
            .collect();
        j.plan(run, steps).unwrap();
        j.end_run(run, RunOutcome::Completed, None).unwrap();
    }
    let ids = |steps: Vec<StepRecord>| {
        steps
            .into_iter()
            .map(|s| s.key.execution)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(j.steps_of_kind(Operation::Restore, Kind::Job).unwrap()),
        ["j1", "j2"]
    );
    assert_eq!(
        ids(j.steps_of_kind(Operation::Shutdown, Kind::Job).unwrap()),
        ["j3"]
    );
    assert!(
        j.steps_of_kind(Operation::Shutdown, Kind::App)
            .unwrap()
            .is_empty()
    );
}

#[cfg(unix)]
#[test]
fn new_journal_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, path) = scratch_journal();
    drop(open(&path));
    let mode = fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // No temporary file is left beside it.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn plan_is_idempotent_and_leaves_existing_steps_alone() {
    let dir = tempfile::tempdir().unwrap();
    let j = open(&journal_path(&dir));
    let run = j
        .begin_run(Operation::Shutdown, start(json!({})))
        .unwrap()
        .id;
    let first = j
        .plan(
            run,
            vec![
                new_step(Operation::Shutdown, Kind::Workspace, "w1"),
                new_step(Operation::Shutdown, Kind::App, "a1"),
            ],
        )
        .unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(first[0].key.kind, Kind::App, "sorted by StepKey");
    let a1 = key(Operation::Shutdown, Kind::App, "a1");
    j.apply(&[transition(run, &a1, StepPhase::Accepted, 1)])
        .unwrap();

    let mut again = new_step(Operation::Shutdown, Kind::App, "a1");
    again.name = "renamed".into();
    let second = j
        .plan(
            run,
            vec![again, new_step(Operation::Shutdown, Kind::App, "a2")],
        )
        .unwrap();
    assert_eq!(second.len(), 3);
    let kept = second.iter().find(|s| s.key == a1).unwrap();
    assert_eq!(kept.phase, StepPhase::Accepted);
    assert_eq!(kept.name, "name-a1");
    assert_eq!(kept.attempts, 1);
    // Planned steps of the other operation are not returned.
    let restore = j
        .begin_run(Operation::Restore, start(json!({})))
        .unwrap()
        .id;
    let r = j
        .plan(restore, vec![new_step(Operation::Restore, Kind::App, "a1")])
        .unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(j.steps(None).unwrap().len(), 4);
    // 3 planned shutdown steps + 1 transition + 1 planned restore step.
    assert_eq!(j.events().unwrap().len(), 5);
    assert!(matches!(
        j.plan(restore, vec![new_step(Operation::Shutdown, Kind::App, "x")]),
        Err(JournalError::WrongOperation { .. })
    ));
    assert!(matches!(
        j.plan(99, vec![]),
        Err(JournalError::UnknownRun { run: 99, .. })
    ));
}

#[test]
fn apply_updates_steps_and_logs_events_in_order() {
    let (_dir, path, run) = seeded_journal();
    let j = open(&path);
    let a1 = key(Operation::Shutdown, Kind::App, "a1");
    let w1 = key(Operation::Shutdown, Kind::Workspace, "w1");
    j.apply(&[
        transition(run, &a1, StepPhase::Requested, 1),
        transition(run, &w1, StepPhase::Requested, 1),
    ])
    .unwrap();
    let mut retry = transition(run, &a1, StepPhase::Requested, 2);
    retry.error = Some("timeout".into());
    retry.http_status = Some(503);
    retry.message = Some("retrying".into());
    let after = j.apply(&[retry]).unwrap();
    assert_eq!(after[0].attempts, 2);
    assert_eq!(after[0].last_error.as_deref(), Some("timeout"));
    assert_eq!(after[0].last_http_status, Some(503));
    // An older attempt number never lowers attempts; None keeps the last error and status.
    let done = j
        .apply(&[transition(run, &a1, StepPhase::Failed("gave up".into()), 1)])
        .unwrap();
    assert_eq!(done[0].attempts, 2);
    assert_eq!(done[0].last_error.as_deref(), Some("timeout"));
    assert_eq!(done[0].last_http_status, Some(503));

    let events = j.events().unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=6).collect::<Vec<_>>());
    let moves: Vec<(String, String)> = events
        .iter()
        .map(|e| (e.from.clone(), e.to.clone()))
        .collect();
    let expected = [
        ("-", "Pending"),
        ("-", "Pending"),
        ("Pending", "Requested"),
        ("Pending", "Requested"),
        ("Requested", "Requested"),
        ("Requested", "Failed(gave up)"),
    ];
    assert_eq!(
        moves,
        expected
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>()
    );
    assert_eq!(events[4].http_status, Some(503));
    assert_eq!(events[4].message.as_deref(), Some("retrying"));
    assert_eq!(events[4].name, "name-a1");
}

#[test]
fn a_failed_batch_writes_nothing() {
    let (_dir, path, run) = seeded_journal();
    let j = open(&path);
    let before = (j.steps(None).unwrap(), j.events().unwrap());
    let commits = j.commit_count();
    let a1 = key(Operation::Shutdown, Kind::App, "a1");
    let ghost = key(Operation::Shutdown, Kind::App, "ghost");
    let err = j
        .apply(&[
            transition(run, &a1, StepPhase::Requested, 1),
            transition(run, &ghost, StepPhase::Requested, 1),
        ])
        .unwrap_err();
    assert!(matches!(err, JournalError::UnknownStep { .. }), "{err}");
    assert!(err.to_string().contains("shutdown/app/ghost"), "{err}");
    let err = j
        .apply(&[transition(77, &a1, StepPhase::Requested, 1)])
        .unwrap_err();
    assert!(matches!(err, JournalError::UnknownRun { run: 77, .. }));
    assert_eq!((j.steps(None).unwrap(), j.events().unwrap()), before);
    assert_eq!(j.commit_count(), commits);
}

#[test]
fn another_snapshot_is_refused_and_the_file_unchanged() {
    let (_dir, path, _) = seeded_journal();
    let bytes = fs::read(&path).unwrap();
    let err = Journal::open(&path, OTHER_SHA, Path::new("other.json"))
        .err()
        .expect("refused");
    match &err {
        JournalError::WrongSnapshot {
            expected, found, ..
        } => {
            assert_eq!(expected, OTHER_SHA);
            assert_eq!(found, SHA);
        }
        other => panic!("expected WrongSnapshot, got {other}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("belongs to another snapshot"), "{msg}");
    assert!(msg.contains("--journal"), "{msg}");
    assert_eq!(fs::read(&path).unwrap(), bytes);
    // The same snapshot still opens.
    drop(open(&path));
}

/// Rewrites a meta value with plain redb, as a newer dmm might have written it.
fn set_meta(path: &Path, key: &str, value: &str) {
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_write().unwrap();
    txn.open_table(schema::META)
        .unwrap()
        .insert(key, value.as_bytes())
        .unwrap();
    txn.commit().unwrap();
}

#[test]
fn a_newer_schema_is_refused() {
    let (_dir, path, _) = seeded_journal();
    set_meta(&path, schema::META_SCHEMA_VERSION, "2");
    let err = refused(&path);
    assert!(
        matches!(
            err,
            JournalError::NewerSchema {
                found: 2,
                supported: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(matches!(
        JournalReader::open(&path),
        Err(JournalError::NewerSchema { found: 2, .. })
    ));
}

/// Opening a damaged file gives Corrupt, from the writer and the reader, and leaves it as it was.
fn assert_corrupt_and_untouched(path: &Path) {
    let bytes = fs::read(path).unwrap();
    let err = refused(path);
    assert!(matches!(err, JournalError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains(&path.display().to_string()));
    let err = JournalReader::open(path).err().expect("refused");
    assert!(matches!(err, JournalError::Corrupt { .. }), "{err}");
    assert_eq!(fs::read(path).unwrap(), bytes, "the file must not change");
}

#[test]
fn a_truncated_file_is_corrupt_and_left_unchanged() {
    let (_dir, path, run) = seeded_journal();
    {
        let j = open(&path);
        let k = key(Operation::Shutdown, Kind::App, "a1");
        for attempt in 1..50 {
            j.apply(&[transition(run, &k, StepPhase::Requested, attempt)])
                .unwrap();
        }
    }
    let len = fs::metadata(&path).unwrap().len();
    for cut in [len / 2, 4096, 100] {
        let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(cut).unwrap();
        drop(f);
        assert_corrupt_and_untouched(&path);
    }
}

#[test]
fn a_garbage_file_is_corrupt_and_left_unchanged() {
    let (_dir, path) = scratch_journal();
    let mut rng = fastrand::Rng::with_seed(7);
    let garbage: Vec<u8> = (0..64 * 1024).map(|_| rng.u8(..)).collect();
    fs::write(&path, &garbage).unwrap();
    assert_corrupt_and_untouched(&path);
    fs::write(&path, b"").unwrap();
    assert_corrupt_and_untouched(&path);
}

#[test]
fn a_garbled_page_in_a_clean_file_is_corrupt_and_left_unchanged() {
    let (_dir, path, _) = seeded_journal();
    let mut bytes = fs::read(&path).unwrap();
    // Past the header: overwrite the data pages.
    for b in bytes.iter_mut().skip(8192) {
        *b ^= 0x5a;
    }
    fs::write(&path, &bytes).unwrap();
    assert_corrupt_and_untouched(&path);
}

#[test]
fn a_record_that_does_not_decode_is_corrupt() {
    let (_dir, path, _) = seeded_journal();
    {
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(schema::STEPS)
            .unwrap()
            .insert("shutdown/app/a1", b"{not json".as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    let j = open(&path);
    let err = j.steps(None).unwrap_err();
    assert!(matches!(err, JournalError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("shutdown/app/a1"), "{err}");
}

#[test]
fn a_redb_file_that_is_not_a_journal_is_corrupt() {
    let (_dir, path) = scratch_journal();
    drop(redb::Database::create(&path).unwrap());
    let bytes = fs::read(&path).unwrap();
    let err = refused(&path);
    assert!(matches!(err, JournalError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("dmm journal"), "{err}");
    assert_eq!(fs::read(&path).unwrap(), bytes);
}

#[test]
fn reader_of_a_missing_journal_is_not_found() {
    let (_dir, path) = scratch_journal();
    let err = JournalReader::open(&path).err().expect("refused");
    assert!(matches!(err, JournalError::NotFound { .. }), "{err}");
}

#[test]
fn a_second_open_in_the_same_process_is_locked() {
    let (_dir, path) = scratch_journal();
    let _held = open(&path);
    let err = refused(&path);
    assert!(matches!(err, JournalError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("held by another process"));
    // Never the workaround the runbook forbids: a second journal for one snapshot splits the
    // story of what was stopped and started.
    let said = err.to_string();
    assert!(
        !said.contains("use --journal") && said.contains("dmm status"),
        "{said}"
    );
}

#[test]
fn reader_sees_commits_of_a_live_writer() {
    let (_dir, path, run) = seeded_journal();
    let j = open(&path);
    let reader = JournalReader::open(&path).unwrap();
    assert!(!reader.is_snapshot_copy());
    assert_eq!(reader.steps(None).unwrap().len(), 2);
    let k = key(Operation::Shutdown, Kind::App, "a1");
    j.apply(&[transition(run, &k, StepPhase::Confirmed, 1)])
        .unwrap();
    let steps = reader.steps(Some(Operation::Shutdown)).unwrap();
    let a1 = steps.iter().find(|s| s.key == k).unwrap();
    assert_eq!(a1.phase, StepPhase::Confirmed, "reader follows the writer");
    assert_eq!(reader.events().unwrap().len(), 3);
    assert_eq!(reader.meta().unwrap(), j.meta().unwrap());
    // A reader does not keep a run from starting either.
    drop(j);
    let j = open(&path);
    assert_eq!(j.runs().unwrap().len(), 1);
    assert_eq!(reader.runs().unwrap().len(), 1);
}

#[test]
fn a_read_only_directory_gives_a_clear_io_error() {
    // Root ignores directory permissions, so the refusal cannot be provoked there.
    if unsafe { libc::geteuid() } == 0 {
        eprintln!("skipped: running as root");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    fs::create_dir(&ro).unwrap();
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
    let path = ro.join("snap.json.journal");
    let err = refused(&path);
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o755)).unwrap();
    assert!(
        matches!(
            err,
            JournalError::Io {
                action: "create",
                ..
            }
        ),
        "{err}"
    );
    let msg = err.to_string();
    println!("{msg}");
    assert!(msg.starts_with("cannot create journal"), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
}

// ---- a second process ----------------------------------------------------------------------

const CHILD_PATH: &str = "DMM_JOURNAL_TEST_CHILD_PATH";
const CHILD_MODE: &str = "DMM_JOURNAL_TEST_CHILD_MODE";

/// Not a test: the body of the second process. `hold` opens the journal, records a run, says
/// READY and holds the journal until its stdin closes. `crash` records a run and exits without
/// closing the journal, as a killed process would.
#[test]
#[ignore = "helper process for the lock and crash tests"]
fn child_process() {
    let (Ok(path), Ok(mode)) = (std::env::var(CHILD_PATH), std::env::var(CHILD_MODE)) else {
        return;
    };
    let path = PathBuf::from(path);
    let j = open(&path);
    let run = j
        .begin_run(Operation::Restore, start(json!({"child": true})))
        .unwrap();
    j.plan(run.id, vec![new_step(Operation::Restore, Kind::App, "c1")])
        .unwrap();
    if mode == "crash" {
        // Skips every destructor: the file stays marked as open, as after SIGKILL.
        std::process::exit(0);
    }
    println!("READY");
    std::io::stdout().flush().unwrap();
    let mut sink = String::new();
    while std::io::stdin().read_line(&mut sink).unwrap_or(0) > 0 {}
    drop(j);
}

fn spawn_child(path: &Path, mode: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "journal::tests::child_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_PATH, path)
        .env(CHILD_MODE, mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

#[test]
fn a_journal_held_by_another_process_is_locked_and_still_readable() {
    let (_dir, path, _) = seeded_journal();
    let mut child = spawn_child(&path, "hold");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.map(|l| l.contains("READY")).unwrap_or(false)),
        "the child never held the journal"
    );

    let err = Journal::open(&path, SHA, Path::new("snap.json"))
        .err()
        .expect("refused while the other process holds it");
    assert!(matches!(err, JournalError::Locked { .. }), "{err}");

    let reader = JournalReader::open(&path).unwrap();
    assert!(!reader.is_snapshot_copy(), "shared with the live writer");
    let runs = reader.runs().unwrap();
    assert_eq!(runs.len(), 2, "sees the other process's commits");
    assert_eq!(runs[1].options, json!({"child": true}));
    assert_eq!(reader.steps(Some(Operation::Restore)).unwrap().len(), 1);

    drop(child.stdin.take()); // lets the child close the journal and exit
    assert!(child.wait().unwrap().success());
    drop(open(&path));
}

#[test]
fn a_crashed_writer_leaves_a_journal_that_reads_and_resumes() {
    let (_dir, path, _) = seeded_journal();
    let mut child = spawn_child(&path, "crash");
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());

    // Reading does not recover the file in place: it reads a recovered private copy.
    let bytes = fs::read(&path).unwrap();
    let reader = JournalReader::open(&path).unwrap();
    assert!(reader.is_snapshot_copy());
    assert_eq!(reader.runs().unwrap().len(), 2);
    drop(reader);
    assert_eq!(fs::read(&path).unwrap(), bytes);

    // Re-running continues where the crashed run stopped.
    let j = open(&path);
    assert_eq!(j.runs().unwrap().len(), 2);
    assert_eq!(j.steps(None).unwrap().len(), 3);
    drop(j);
    let reader = JournalReader::open(&path).unwrap();
    assert!(!reader.is_snapshot_copy(), "closed cleanly again");
}

// ---- group commit ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commit_batches_concurrent_transitions() {
    const STEPS: usize = 2_000;
    let dir = tempfile::tempdir().unwrap();
    let journal = Arc::new(open(&journal_path(&dir)));
    let run = journal
        .begin_run(Operation::Shutdown, start(json!({})))
        .unwrap()
        .id;
    let ids: Vec<String> = (0..STEPS).map(|i| format!("e{i:05}")).collect();
    journal
        .plan(
            run,
            ids.iter()
                .map(|id| new_step(Operation::Shutdown, Kind::App, id))
                .collect(),
        )
        .unwrap();
    let writer = journal.writer();
    let before = journal.commit_count();
    let started = Instant::now();
    let tasks: Vec<_> = ids
        .iter()
        .map(|id| {
            let writer = writer.clone();
            let k = key(Operation::Shutdown, Kind::App, id);
            tokio::spawn(async move {
                writer
                    .apply(transition(run, &k, StepPhase::Requested, 1))
                    .await
            })
        })
        .collect();
    for task in tasks {
        let record = task.await.unwrap().unwrap();
        assert_eq!(record.phase, StepPhase::Requested);
    }
    let commits = journal.commit_count() - before;
    println!(
        "group commit: {STEPS} concurrent transitions in {commits} commits ({:?})",
        started.elapsed()
    );
    assert!(commits < (STEPS / 10) as u64, "{commits} commits");
    assert_eq!(journal.events().unwrap().len(), 2 * STEPS);
    assert!(
        journal
            .steps(None)
            .unwrap()
            .iter()
            .all(|s| s.phase == StepPhase::Requested)
    );
}

#[tokio::test]
async fn group_commit_fails_only_the_invalid_caller() {
    let (_dir, path, run) = seeded_journal();
    let journal = Arc::new(open(&path));
    let writer = journal.writer();
    let a1 = key(Operation::Shutdown, Kind::App, "a1");
    let w1 = key(Operation::Shutdown, Kind::Workspace, "w1");
    let ghost = key(Operation::Shutdown, Kind::App, "ghost");
    let (good, bad, both) = tokio::join!(
        writer.apply(transition(run, &a1, StepPhase::Requested, 1)),
        writer.apply_many(vec![
            transition(run, &w1, StepPhase::Requested, 1),
            transition(run, &ghost, StepPhase::Requested, 1),
        ]),
        writer.apply_many(vec![
            transition(run, &w1, StepPhase::Skipped("inactive".into()), 0),
            transition(run, &a1, StepPhase::Accepted, 1),
        ]),
    );
    assert_eq!(good.unwrap().phase, StepPhase::Requested);
    assert!(matches!(bad, Err(JournalError::UnknownStep { .. })));
    let both = both.unwrap();
    assert_eq!(both[0].phase, StepPhase::Skipped("inactive".into()));
    assert_eq!(both[1].phase, StepPhase::Accepted);
    // The invalid caller's valid half (w1 → Requested) was not written.
    let events = journal.events().unwrap();
    assert!(
        !events
            .iter()
            .any(|e| e.execution == "w1" && e.to == "Requested"),
        "{events:#?}"
    );
    // Dropping the last handle ends the thread; the journal stays usable directly.
    drop(writer);
    journal
        .apply(&[transition(run, &a1, StepPhase::Confirmed, 1)])
        .unwrap();
}

#[test]
fn a_run_records_the_chain_head_it_ended_at_and_old_records_still_read() {
    let (dir, path, run) = seeded_journal();
    let j = open(&path);
    let ended = j.end_run(run, RunOutcome::Completed, None).unwrap();
    let head = ended.journal_head.clone().expect("recorded");
    assert_eq!(head, j.chain_head().unwrap());
    assert_eq!(head.seq, 2, "two planned steps, one event each");
    let events = j.events().unwrap();
    assert_eq!(Some(&head.sha256), events.last().unwrap().sha256.as_ref());
    let report = j
        .verify_chain_against(Some(&head.to_string().parse().unwrap()))
        .unwrap();
    assert!(report.holds(), "{report:?}");

    // A record written before the head was kept reads, without one.
    let mut old = serde_json::to_value(&ended).unwrap();
    old.as_object_mut().unwrap().remove("journal_head");
    let read: RunRecord = serde_json::from_value(old).unwrap();
    assert_eq!(read.journal_head, None);
    // And a dmm that knows nothing of it reads a new record: serde passes unknown fields over
    // (no `deny_unknown_fields` on the record).
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Earlier {
        id: u64,
        op: Operation,
        outcome: Option<RunOutcome>,
    }
    let earlier: Earlier = serde_json::from_value(serde_json::to_value(&ended).unwrap()).unwrap();
    assert_eq!(earlier.id, run);

    // Before any event the head is the snapshot's SHA-256, at position 0.
    let empty = dir.path().join("empty.journal");
    let j = Journal::open(&empty, SHA, Path::new("s.json")).unwrap();
    assert_eq!(
        j.chain_head().unwrap(),
        ChainHead {
            seq: 0,
            sha256: SHA.into()
        }
    );
}
