//! Every frontend renders the window's one model: for the same journal, `status`, the report,
//! the end-of-run summary and the webhook's notice say the same outcome words, the same exit
//! code and the same Jobs line.

use std::time::Duration;

use super::render::summary_lines;
use super::status::StatusView;
use crate::journal::{
    Journal, JournalRead, NewStep, Operation, RunOutcome, RunStart, StepEnd, StepKey, StepPhase,
    Transition,
};
use crate::runner::{NextAction, RunReport, RunSummary, Selection, VerificationOutcome, Window};
use crate::snapshot::{Kind, LoadedSnapshot, Snapshot};

const SHA: &str = "aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11";

/// One step of the window: its kind, execution, and the phase (and end) it is moved to.
struct Move(Kind, &'static str, StepPhase, Option<StepEnd>);

/// Runs one operation in the journal: its steps planned, moved, and the run ended so.
fn run(journal: &Journal, op: Operation, moves: &[Move], outcome: RunOutcome) -> u64 {
    let id = journal
        .begin_run(
            op,
            RunStart {
                options: serde_json::Value::Null,
                cycle: 1,
                ..RunStart::default()
            },
        )
        .unwrap()
        .id;
    let key = |kind, id: &str| StepKey {
        op,
        kind,
        execution: id.to_owned(),
    };
    let planned = moves
        .iter()
        .map(|Move(kind, exec, _, _)| NewStep {
            key: key(*kind, exec),
            name: format!("{kind} {exec}"),
            owner: "o".into(),
            phase: StepPhase::Pending,
            detail: None,
        })
        .collect();
    journal.plan(id, planned).unwrap();
    for Move(kind, exec, to, ended) in moves {
        let to_phase = |to: StepPhase, attempt, ended| Transition {
            run: id,
            key: key(*kind, exec),
            to,
            attempt,
            http_status: None,
            message: None,
            error: None,
            effect: None,
            ended,
            note: None,
        };
        journal
            .apply(&[to_phase(StepPhase::Requested, 1, None)])
            .unwrap();
        if *to != StepPhase::Requested {
            journal
                .apply(&[to_phase(to.clone(), 1, ended.clone())])
                .unwrap();
        }
    }
    journal
        .end_run(id, outcome, Some(format!("{outcome:?}")))
        .unwrap();
    id
}

/// What each frontend says of the journal's last run, side by side with the window's words.
fn each_frontend_agrees(journal: &Journal, op: Operation, outcome: RunOutcome) -> Option<String> {
    let runs = journal.runs().unwrap();
    let steps = journal.steps(None).unwrap();
    let window = Window::read(&runs, &steps, false);
    let standing = window.last_run.expect("a run");
    let words = standing.words();
    let exit = standing.exit_code().expect("an ended run");
    let jobs_line = window.jobs_line();

    let status = StatusView::read(journal, &Snapshot::default(), false)
        .unwrap()
        .lines("next");
    let last_run = status.iter().find(|l| l.starts_with("last run:")).unwrap();
    assert!(last_run.contains(&format!(": {words}")), "{status:?}");

    let loaded = LoadedSnapshot {
        path: "snap.json".into(),
        snapshot: Snapshot::default(),
        sha256: SHA.into(),
    };
    let page = crate::report::model::build(journal, &loaded, false).unwrap();
    let row = page.runs.last().unwrap();
    assert_eq!(
        (row.outcome.as_str(), row.exit_code.as_str()),
        (words, &*exit.to_string())
    );

    let report = RunReport {
        op,
        summary: RunSummary::read(journal, runs.last().unwrap().id, &Selection::all(op), 1)
            .unwrap(),
        window: window.clone(),
        outcome,
        interrupted_because: None,
        verification: VerificationOutcome::NotRun,
        reopened: 0,
        not_done: Vec::new(),
        next: NextAction::Shutdown,
        took: Duration::from_secs(1),
        journal_head: None,
    };
    let summary = summary_lines(&report);
    assert!(summary[0].contains(&format!(" {words}: ")), "{summary:?}");
    let notice = crate::notify::ended_text(&report, "host", "next");
    assert!(
        notice.contains(&format!(": {words}")) && notice.contains(&format!("(exit {exit})")),
        "{notice}"
    );

    match &jobs_line {
        Some(line) => {
            assert!(status.contains(line), "status: {status:?}");
            assert_eq!(&page.jobs_line, line, "the report");
            assert!(summary.contains(line), "the summary: {summary:?}");
            assert!(notice.contains(line.as_str()), "the notice: {notice}");
        }
        None => {
            assert!(!status.iter().any(|l| l.starts_with("Jobs:")), "{status:?}");
            assert_eq!(page.jobs_line, "");
            assert!(
                !summary.iter().any(|l| l.starts_with("Jobs:")),
                "{summary:?}"
            );
            assert!(!notice.contains("Jobs:"), "{notice}");
        }
    }
    jobs_line
}

/// A new journal, in a directory of its own, whose first run is a shutdown that made `moves`.
fn after_shutdown(moves: &[Move], outcome: RunOutcome) -> (tempfile::TempDir, Journal) {
    let (dir, journal) = Journal::in_scratch_dir(SHA);
    run(&journal, Operation::Shutdown, moves, outcome);
    (dir, journal)
}

fn stopped() -> Option<StepEnd> {
    Some(StepEnd {
        word: "Stopped".into(),
        by_this_stop: true,
    })
}

#[test]
fn a_restore_whose_job_restart_failed_is_told_in_the_same_words_everywhere() {
    let (_dir, journal) = after_shutdown(
        &[
            Move(Kind::App, "a", StepPhase::Confirmed, stopped()),
            Move(Kind::Job, "j", StepPhase::Confirmed, stopped()),
            Move(
                Kind::Job,
                "k",
                StepPhase::Confirmed,
                Some(StepEnd {
                    word: "Succeeded".into(),
                    by_this_stop: false,
                }),
            ),
        ],
        RunOutcome::Completed,
    );
    let jobs = each_frontend_agrees(&journal, Operation::Shutdown, RunOutcome::Completed);
    assert!(
        jobs.as_ref()
            .is_some_and(|l| l.contains("ended on their own")),
        "{jobs:?}"
    );
    run(
        &journal,
        Operation::Restore,
        &[
            Move(Kind::App, "a", StepPhase::Confirmed, None),
            Move(Kind::Job, "j", StepPhase::Failed("503".into()), None),
        ],
        RunOutcome::CompletedWithFailures,
    );
    let jobs = each_frontend_agrees(
        &journal,
        Operation::Restore,
        RunOutcome::CompletedWithFailures,
    );
    assert!(jobs.is_some_and(|l| l.contains("FAILED")));
}

#[test]
fn an_interrupted_shutdown_is_told_in_the_same_words_everywhere() {
    let (_dir, journal) = after_shutdown(
        &[
            Move(Kind::App, "a", StepPhase::Requested, None),
            Move(Kind::Workspace, "w", StepPhase::Confirmed, stopped()),
        ],
        RunOutcome::Interrupted,
    );
    assert_eq!(
        each_frontend_agrees(&journal, Operation::Shutdown, RunOutcome::Interrupted),
        None
    );
}
