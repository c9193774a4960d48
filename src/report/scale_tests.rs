//! The page's size at 10,000 executions, whatever went wrong in the window: a journal generated
//! in-process and built into the model, its lists then grown to the size of a 10,000-execution
//! window and rendered. (Writing 10,000 steps takes half a minute in a debug build, an
//! end-to-end window of that size minutes; the benchmark measures one.)

use serde_json::json;

use super::inventory::{InventoryRow, for_page};
use super::model::{ExecutionCells, FindingItem, JobRow, Report, StepItem, build};
use super::owners::OwnerToTell;
use super::render::{Format, render};
use crate::journal::{Journal, NewStep, Operation, RunStart, StepKey, StepPhase, Transition};
use crate::snapshot::{Entry, Kind, LoadedSnapshot, Snapshot};

const SHA: &str = "aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11";
const EXECUTIONS: usize = 10_000;
/// The steps the generated journal holds; the model's lists are grown from them.
const IN_JOURNAL: usize = 200;
const JOBS: usize = 2_000;
const OWNERS: usize = 3_000;

/// A hostile 250-character name: 20 hidden characters (each spelled `<U+202E>` on the page),
/// then letters without a space.
fn long_name(what: &str, i: usize) -> String {
    format!(
        "{what}-{i}-{}{}",
        "\u{202E}\u{200B}".repeat(10),
        "W".repeat(220)
    )
}

fn owner(i: usize) -> String {
    long_name("owner", i % OWNERS)
}

fn key(i: usize) -> StepKey {
    StepKey {
        op: Operation::Shutdown,
        kind: Kind::App,
        execution: format!("{i:024x}"),
    }
}

/// Every stop of 10,000 Apps failed, 3,000 owners, 2,000 Jobs, 10,000 mismatches: each long
/// list of the page at its longest, every name at 250 characters.
#[test]
fn a_page_of_10_000_executions_every_one_failed_stays_under_1_mib() {
    let (_dir, journal, loaded) = failed_stops_journal();
    let mut report = build(&journal, &loaded, false).unwrap();
    assert_eq!(report.failures.len(), IN_JOURNAL);
    assert_eq!(report.owners.len(), IN_JOURNAL);
    grow_to_10_000_executions(&mut report);

    let page = render(&report, Format::Html).unwrap();
    assert!(
        page.len() < 1024 * 1024,
        "the page is {} bytes at {EXECUTIONS} executions",
        page.len()
    );
    // What the page leaves out, it says, with where to find it.
    for said in [
        "The first 100 of 10000 failed steps",
        "The first 100 of 10000 mismatches",
        "the first 100 of 3000 owners",
        "2000 Jobs in 50 projects",
        "the first 100 of the 10000 that did not go as planned",
        "--format csv",
    ] {
        assert!(page.contains(said), "the page says: {said}");
    }
}

/// A journal of [`IN_JOURNAL`] failed stops of a snapshot of 10,000 Apps.
fn failed_stops_journal() -> (tempfile::TempDir, Journal, LoadedSnapshot) {
    let (dir, journal) = Journal::in_scratch_dir(SHA);
    let mut snapshot = Snapshot::new();
    snapshot.set(
        Kind::App,
        (0..EXECUTIONS)
            .map(|i| Entry {
                id: json!({"_id": format!("{i:024x}"), "projectId": format!("p{}", i % 50)}),
                name: long_name("app", i),
                owner: owner(i),
            })
            .collect(),
    );
    let run = journal
        .begin_run(
            Operation::Shutdown,
            RunStart {
                options: json!({}),
                cycle: 1,
                ..RunStart::default()
            },
        )
        .unwrap();
    journal
        .plan(
            run.id,
            (0..IN_JOURNAL)
                .map(|i| NewStep {
                    key: key(i),
                    name: long_name("app", i),
                    owner: owner(i),
                    phase: StepPhase::Pending,
                    detail: None,
                })
                .collect(),
        )
        .unwrap();
    let failed: Vec<Transition> = (0..IN_JOURNAL)
        .map(|i| Transition {
            run: run.id,
            key: key(i),
            to: StepPhase::Failed(format!("refused: {}", "the server said no ".repeat(20))),
            attempt: 1,
            http_status: Some(500),
            message: None,
            error: Some("HTTP 500".into()),
            effect: None,
            ended: None,
            note: None,
        })
        .collect();
    journal.apply(&failed).unwrap();
    let loaded = LoadedSnapshot {
        path: "snap.json".into(),
        snapshot,
        sha256: SHA.into(),
    };
    (dir, journal, loaded)
}

/// The model's lists grown to a 10,000-execution window's, row by row as the journal's: every
/// execution failed and not as promised, 3,000 owners, 2,000 Jobs.
fn grow_to_10_000_executions(report: &mut Report) {
    let first = report.failures[0].clone();
    report.failures = (0..EXECUTIONS)
        .map(|i| StepItem {
            execution: ExecutionCells {
                id: format!("{i:024x}"),
                name: long_name("app", i),
                owner: owner(i),
                ..first.execution.clone()
            },
            ..first.clone()
        })
        .collect();
    report.owners = (0..OWNERS)
        .map(|o| OwnerToTell {
            owner: owner(o),
            workspaces: (0..3).map(|w| long_name("workspace", o * 3 + w)).collect(),
            jobs_stopped: vec![long_name("job", o)],
            failed: (o..EXECUTIONS)
                .step_by(OWNERS)
                .map(|i| format!("App {} (shutdown)", long_name("app", i)))
                .collect(),
        })
        .collect();
    let row = report.inventory[0].clone();
    report.inventory = (0..EXECUTIONS)
        .map(|i| InventoryRow {
            id: format!("{i:024x}"),
            name: long_name("app", i),
            owner: owner(i),
            ..row.clone()
        })
        .collect();
    (report.inventory_shown, report.inventory_left) = for_page(&report.inventory);
    report.inventory_unplanned = EXECUTIONS;
    report.mismatches = report
        .failures
        .iter()
        .map(|f| FindingItem {
            run: "1".into(),
            execution: f.execution.clone(),
            finding: "still running".into(),
            detail: "expected stopped".into(),
            http_status: f.http_status.clone(),
            message: f.message.clone(),
        })
        .collect();
    report.jobs = (0..JOBS)
        .map(|i| JobRow {
            id: format!("{i:024x}"),
            name: long_name("job", i),
            owner: owner(i),
            project: long_name("project", i / (JOBS / 50)),
            stop: "stopped by dmm".into(),
            ended: "Stopped".into(),
            by_this_stop: "yes",
            restart: format!("restarted as job {i:024x}"),
            effect: format!("{i:024x}"),
            group_jobs: 0,
        })
        .collect();
    report.job_projects = super::model::job_projects(&report.jobs);
}
