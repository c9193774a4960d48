//! Human-readable output on stdout: plans, summaries, verification results, next steps.

use std::path::Path;
use std::time::Duration;

use crate::cli::hint;
use crate::cli::output::outln;
use crate::journal::{Operation, RunOutcome};
use crate::runner::verify::{Finding, Verification};
use crate::runner::{Plan, RunReport, RunSummary, VerificationOutcome};

pub fn print_plan(op: Operation, plan: &Plan, dry_run: bool) {
    let verb = op.verb();
    if dry_run {
        outln!("dry run: {op} would {verb} these; nothing is touched now");
    }
    if plan.begins_cycle {
        outln!(
            "cycle {} of this snapshot begins: the last one ended with a completed restore, so every execution is planned again",
            plan.cycle
        );
    }
    let to_verb = format!("to {verb}");
    outln!(
        "{:<18} {:>8} {:>8} {:>9} {:>8} {:>7}",
        "kind",
        to_verb,
        "waiting",
        "confirmed",
        "skipped",
        "failed"
    );
    for line in &plan.lines {
        let kind = line.kind.map(|k| k.label()).unwrap_or("all");
        let failed = if line.failed_to_retry > 0 {
            format!("{} (retry)", line.failed)
        } else {
            line.failed.to_string()
        };
        outln!(
            "{:<18} {:>8} {:>8} {:>9} {:>8} {:>7}",
            kind,
            line.to_request,
            line.to_wait,
            line.confirmed,
            line.skipped,
            failed
        );
        if dry_run {
            for name in &line.names {
                outln!("    {verb} {kind} '{name}'");
            }
        }
    }
}

/// Everything a finished, failed or interrupted run has to say, and what to run next.
pub fn print_report(report: &RunReport, file: &Path, journal: Option<&Path>) {
    print_run_summary(report.op, &report.summary, report.took);
    if let Some(head) = &report.journal_head {
        outln!(
            "journal head: {head} (keep it outside the journal: `{} --verify --expect-head {head}` shows later that no newer event was removed)",
            hint::command("journal", file, journal)
        );
    }
    match &report.verification {
        VerificationOutcome::Checked(v) => print_verification(v),
        VerificationOutcome::Skipped => outln!("verification: skipped (--no-verify)"),
        VerificationOutcome::Unavailable(why) => outln!("verification: FAILED, {why}"),
        VerificationOutcome::NotRun => {}
    }
    if report.outcome == RunOutcome::Interrupted {
        let why = report
            .interrupted_because
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        crate::cli::output::notice(&format!(
            "interrupted{why}: {} step(s) not finished. Run the same command again to continue where this run stopped.",
            report.summary.unfinished()
        ));
        // The window closed: say exactly what continues it, for the next window.
        if report
            .interrupted_because
            .as_deref()
            .is_some_and(|r| r.starts_with("the deadline"))
        {
            outln!(
                "next: in the next window, continue with: {} (with a new --deadline if it has one)",
                hint::command(report.op.as_str(), file, journal)
            );
        }
        return;
    }
    print_next(report, file, journal);
}

fn print_run_summary(op: Operation, summary: &RunSummary, took: Duration) {
    outln!();
    outln!("{op} run {} took {:.1}s", summary.run, took.as_secs_f64());
    outln!(
        "{:<18} {:>9} {:>8} {:>7} {:>10}",
        "kind",
        "confirmed",
        "skipped",
        "failed",
        "unfinished"
    );
    for &kind in summary.steps.keys() {
        let count = summary.counts(kind);
        outln!(
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
        outln!("failed:");
        for step in failed {
            outln!(
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
        outln!("verification: passed ({} checked)", v.checked);
    } else {
        outln!(
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
        outln!(
            "  {label:<13} {} '{}' ({}), id {}: {}",
            item.kind,
            item.name,
            item.owner,
            item.execution,
            item.detail
        );
    }
}

/// What the operator should run now, from what this run left behind.
fn print_next(report: &RunReport, file: &Path, journal: Option<&Path>) {
    let op = report.op;
    let cmd = |op: &str| hint::command(op, file, journal);
    let failed = report.summary.failed().count();
    let state = match op {
        Operation::Shutdown => "stopped",
        Operation::Restore => "started",
    };
    if failed > 0 {
        outln!(
            "next: look at the failures above ({} --failed), then run: {} --retry-failed",
            cmd("journal"),
            cmd(op.as_str())
        );
    } else if report.reopened > 0 {
        outln!(
            "next: {} execution(s) were found out of their target state and reopened; run the same command again: {}",
            report.reopened,
            cmd(op.as_str())
        );
    } else if !report.verification.holds() {
        let expect = match op {
            Operation::Shutdown => "stopped",
            Operation::Restore => "running",
        };
        outln!(
            "next: look at the verification above, then check again with: {} --expect {expect}",
            hint::command("verify", file, None)
        );
    } else if !report.not_done.is_empty() {
        let kinds: Vec<&str> = report.not_done.iter().map(|k| k.label()).collect();
        let then = match op {
            Operation::Shutdown => ", then upgrade Domino",
            Operation::Restore => "",
        };
        outln!(
            "next: not yet {state}: {}; run: {}{then}",
            kinds.join(", "),
            cmd(op.as_str())
        );
    } else {
        match op {
            Operation::Shutdown => {
                outln!("next: upgrade Domino, then run: {}", cmd("restore"))
            }
            Operation::Restore => outln!(
                "next: maintenance is over; the audit trail is in: {}",
                cmd("journal")
            ),
        }
    }
}
