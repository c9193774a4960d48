//! Human-readable output on stdout: plans, summaries, verification results, next steps.

use std::path::Path;
use std::time::Duration;

use crate::cli::exit::Exit;
use crate::cli::hint;
use crate::cli::output::outln;
use crate::journal::{Operation, StepPhase};
use crate::runner::verify::{Finding, Verification};
use crate::runner::{Plan, RunSummary};

pub fn print_plan(op: Operation, plan: &Plan, dry_run: bool) {
    let verb = match op {
        Operation::Shutdown => "stop",
        Operation::Restore => "start",
    };
    if dry_run {
        outln!("dry run: {op} would {verb} these; nothing is touched now");
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

pub fn print_run_summary(op: Operation, summary: &RunSummary, took: Duration) {
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
    for (kind, steps) in &summary.steps {
        let count = |f: &dyn Fn(&StepPhase) -> bool| steps.iter().filter(|s| f(&s.phase)).count();
        outln!(
            "{:<18} {:>9} {:>8} {:>7} {:>10}",
            kind.label(),
            count(&|p| matches!(p, StepPhase::Confirmed)),
            count(&|p| matches!(p, StepPhase::Skipped(_))),
            count(&|p| matches!(p, StepPhase::Failed(_))),
            count(&|p| !p.is_terminal()),
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
        let mismatches = v
            .items
            .iter()
            .filter(|i| !matches!(i.finding, Finding::Ok | Finding::Skipped))
            .count();
        outln!(
            "verification: FAILED, {mismatches} mismatch(es) among {} checked",
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

pub fn print_next(op: Operation, exit: Exit, file: &Path, journal: Option<&Path>) {
    let cmd = |op: &str| hint::command(op, file, journal);
    match (op, exit) {
        (Operation::Shutdown, Exit::Success) => {
            outln!("next: upgrade Domino, then run: {}", cmd("restore"))
        }
        (Operation::Restore, Exit::Success) => {
            outln!(
                "next: maintenance is over; the audit trail is in: {}",
                cmd("journal")
            )
        }
        (_, _) => outln!(
            "next: look at the failures above ({} --failed), then run: {} --retry-failed",
            cmd("journal"),
            cmd(op.as_str())
        ),
    }
}
