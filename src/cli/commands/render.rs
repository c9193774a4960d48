//! Human-readable output on stdout: plans, summaries, verification results, next steps.

use std::path::Path;
use std::time::Duration;

use crate::cli::exit::Exit;
use crate::journal::{Operation, RunOutcome};
use crate::runner::verify::{Finding, Verification};
use crate::runner::{Plan, RunReport, RunSummary, VerificationOutcome};

pub fn print_plan(op: Operation, plan: &Plan, dry_run: bool) {
    let verb = op.verb();
    if dry_run {
        println!("dry run: {op} would {verb} these; nothing is touched now");
    }
    let to_verb = format!("to {verb}");
    println!(
        "{:<18} {:>8} {:>8} {:>9} {:>8} {:>7}",
        "kind", to_verb, "waiting", "confirmed", "skipped", "failed"
    );
    for line in &plan.lines {
        let kind = line.kind.map(|k| k.label()).unwrap_or("all");
        let failed = if line.failed_to_retry > 0 {
            format!("{} (retry)", line.failed)
        } else {
            line.failed.to_string()
        };
        println!(
            "{:<18} {:>8} {:>8} {:>9} {:>8} {:>7}",
            kind, line.to_request, line.to_wait, line.confirmed, line.skipped, failed
        );
        if dry_run {
            for name in &line.names {
                println!("    {verb} {kind} '{name}'");
            }
        }
    }
}

/// Everything a finished, failed or interrupted run has to say, and what to run next.
pub fn print_report(report: &RunReport, file: &Path) {
    print_run_summary(report.op, &report.summary, report.took);
    match &report.verification {
        VerificationOutcome::Checked(v) => print_verification(v),
        VerificationOutcome::Skipped => println!("verification: skipped (--no-verify)"),
        VerificationOutcome::Unavailable(why) => println!("verification: FAILED, {why}"),
        VerificationOutcome::NotRun => {}
    }
    if report.outcome == RunOutcome::Interrupted {
        let why = report
            .interrupted_because
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        eprintln!(
            "interrupted{why}: {} step(s) not finished. Run the same command again to continue where this run stopped.",
            report.summary.unfinished()
        );
        return;
    }
    let exit = match report.outcome {
        RunOutcome::Completed => Exit::Success,
        _ => Exit::Failures,
    };
    print_next(report.op, exit, file);
}

fn print_run_summary(op: Operation, summary: &RunSummary, took: Duration) {
    println!();
    println!("{op} run {} took {:.1}s", summary.run, took.as_secs_f64());
    println!(
        "{:<18} {:>9} {:>8} {:>7} {:>10}",
        "kind", "confirmed", "skipped", "failed", "unfinished"
    );
    for &kind in summary.steps.keys() {
        let count = summary.counts(kind);
        println!(
            "{:<18} {:>9} {:>8} {:>7} {:>10}",
            kind.label(),
            count.confirmed,
            count.skipped,
            count.failed,
            count.unfinished(),
        );
    }
    let failed: Vec<_> = summary.failed().collect();
    if !failed.is_empty() {
        println!("failed:");
        for step in failed {
            println!(
                "  {} '{}' ({}), id {}: {}",
                step.key.kind,
                step.name,
                step.owner,
                step.key.execution,
                step.phase.reason().unwrap_or("")
            );
        }
    }
}

pub fn print_verification(v: &Verification) {
    if v.passed {
        println!("verification: passed ({} checked)", v.checked);
    } else {
        println!(
            "verification: FAILED, {} mismatch(es) among {} checked",
            v.mismatches(),
            v.checked
        );
    }
    for item in &v.items {
        let label = match item.finding {
            Finding::Ok => continue,
            Finding::StillRunning => "still running",
            Finding::NotRunning => "not running",
            Finding::Drift => "drift",
            Finding::Skipped => "skipped",
            Finding::Unknown => "unknown",
        };
        println!(
            "  {label:<13} {} '{}' ({}), id {}: {}",
            item.kind, item.name, item.owner, item.execution, item.detail
        );
    }
}

fn print_next(op: Operation, exit: Exit, file: &Path) {
    let file = file.display();
    match (op, exit) {
        (Operation::Shutdown, Exit::Success) => {
            println!("next: upgrade Domino, then run: dmm restore {file}")
        }
        (Operation::Restore, Exit::Success) => {
            println!("next: maintenance is over; the audit trail is in: dmm journal {file}")
        }
        (_, _) => println!(
            "next: look at the failures above (dmm journal {file} --failed), then run: dmm {op} {file} --retry-failed"
        ),
    }
}
