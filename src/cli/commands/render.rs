//! Human-readable output on stdout: plans, summaries, verification results, next steps.

use std::collections::BTreeMap;
use std::path::Path;

use crate::cli::hint;
use crate::cli::output::outln;
use crate::journal::{Operation, RunOutcome};
use crate::runner::verify::{Finding, Verification};
use crate::runner::{Plan, RunReport, VerificationOutcome};
use crate::snapshot::Kind;

/// What an operation does to one kind, in the operator's words (the kind's registry row):
/// Scheduled Jobs are paused and resumed, Jobs restarted, the rest stopped and started.
pub fn action(op: Operation, kind: Option<Kind>) -> &'static str {
    match kind {
        Some(kind) => kind.verb(op == Operation::Shutdown),
        None => op.verb(),
    }
}

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
    // Every table lists the kinds in one order (the snapshot's); the order they run in is said
    // in the title.
    let mut lines: Vec<&crate::runner::PlanLine> = plan.lines.iter().collect();
    let run_order: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.kind.map(|k| k.label()))
        .collect();
    lines.sort_by_key(|l| (l.kind.is_none(), l.kind));
    outln!(
        "{op} plan at {} (kinds run in this order: {}):",
        wall_clock(std::time::SystemTime::now()),
        run_order.join(", ")
    );
    let to_verb = format!("to {verb}");
    outln!(
        "{:<18} {:>8} {:>8} {:>9} {:>8} {:>7}",
        "kind",
        to_verb,
        "accepted",
        "confirmed",
        "skipped",
        "failed"
    );
    for line in lines {
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
            let verb = action(op, line.kind);
            for name in &line.names {
                outln!("    {verb} {kind} '{name}'");
            }
        }
    }
    if plan.lines.iter().any(|l| l.to_wait > 0) {
        outln!(
            "accepted: requested by an earlier run and accepted by Domino; this run sends nothing for them and waits for their state"
        );
    }
    if dry_run {
        let sum =
            |f: fn(&crate::runner::PlanLine) -> usize| plan.lines.iter().map(f).sum::<usize>();
        outln!(
            "total: {} to {verb}, {} to wait for, {} confirmed, {} skipped, {} failed",
            sum(|l| l.to_request),
            sum(|l| l.to_wait),
            sum(|l| l.confirmed),
            sum(|l| l.skipped),
            sum(|l| l.failed)
        );
    }
}

/// Everything a finished, failed or interrupted run has to say, and what to run next.
pub fn print_report(report: &RunReport, file: &Path, journal: Option<&Path>, verbose: bool) {
    print_run_summary(report);
    print_restart_hint(report, file, journal);
    if let Some(head) = &report.journal_head {
        outln!(
            "journal head: {head} (keep it outside the journal: `{} --verify --expect-head` with it shows later that no newer event was removed)",
            hint::command("journal", file, journal)
        );
    }
    match &report.verification {
        VerificationOutcome::Checked(v) => {
            let jobs = report
                .summary
                .steps
                .get(&Kind::Job)
                .map_or(0, |steps| steps.len());
            print_verification_of(v, verbose, report.op, jobs);
        }
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
        let left = match report.summary.unfinished() {
            // Every step had ended: the verification pass was what the interruption cut short.
            0 => "every step ended, but the run was not verified".to_string(),
            n => format!("{n} step(s) not finished"),
        };
        crate::cli::output::notice(&format!(
            "interrupted{why}: {left}. Run the same command again to continue where this run stopped.",
        ));
    }
    outln!("next: {}", hint::next_line(&report.next, file, journal));
}

fn print_run_summary(report: &RunReport) {
    outln!();
    for line in summary_lines(report) {
        outln!("{line}");
    }
}

/// The end-of-run summary: how the run stands (the window's words), its steps per kind and the
/// failed ones, then the Jobs line, all from the one window model.
pub(crate) fn summary_lines(report: &RunReport) -> Vec<String> {
    let op = report.op;
    let summary = &report.summary;
    let mut lines = vec![
        format!(
            "{op} run {} {}: {}, took {:.1}s",
            summary.run,
            report.standing().words(),
            span_ending_now(report.took),
            report.took.as_secs_f64()
        ),
        format!(
            "{:<18} {:>9} {:>8} {:>7} {:>10}",
            "kind", "confirmed", "skipped", "failed", "unfinished"
        ),
    ];
    for &kind in summary.steps.keys() {
        let count = report.window.count(op, kind);
        // A Job that ended by itself is not a stop dmm confirmed: it gets a row of its own.
        let ended_by_itself = match (report.jobs(), op, kind.source()) {
            (Some(jobs), Operation::Shutdown, crate::snapshot::Source::Live) => {
                jobs.ended_on_their_own
            }
            _ => 0,
        };
        lines.push(format!(
            "{:<18} {:>9} {:>8} {:>7} {:>10}",
            kind.label(),
            count.confirmed - ended_by_itself.min(count.confirmed),
            count.skipped,
            count.failed,
            count.unfinished(),
        ));
        if ended_by_itself > 0 {
            lines.push(format!(
                "{:<18} {:>9}",
                "  ended by itself", ended_by_itself
            ));
        }
    }
    let failed: Vec<_> = summary.failed().collect();
    if !failed.is_empty() {
        lines.push("failed:".into());
        for step in failed.iter().take(LISTED) {
            lines.push(format!(
                "  {} '{}' ({}), id {}: {}",
                step.key.kind,
                step.name,
                step.owner,
                step.key.execution,
                step.phase.reason().unwrap_or("")
            ));
        }
        if failed.len() > LISTED {
            lines.push(format!(
                "  and {} more (`dmm journal --failed` lists every one)",
                failed.len() - LISTED
            ));
        }
    }
    lines.extend(report.jobs_line());
    lines
}

/// `2026-12-07 15:04:27 to 15:04:29 UTC`: when a run that ends now and took `took` began and
/// ended, the day once when the run did not cross midnight.
fn span_ending_now(took: std::time::Duration) -> String {
    let ended = std::time::SystemTime::now();
    let began = ended.checked_sub(took).unwrap_or(ended);
    let (began, ended) = (wall_clock(began), wall_clock(ended));
    match (began.split_once(' '), ended.split_once(' ')) {
        (Some((day, from)), Some((end_day, to))) if day == end_day => {
            format!("{day} {} to {to}", from.trim_end_matches(" UTC"))
        }
        _ => format!("{began} to {ended}"),
    }
}

/// The command that restarts the Jobs a restore left stopped, when it left any.
fn print_restart_hint(report: &RunReport, file: &Path, journal: Option<&Path>) {
    if let Some(jobs) = report.jobs()
        && report.op == Operation::Restore
        && jobs.left_stopped > 0
    {
        outln!(
            "  restart the {} left stopped with `{} --restart-jobs`",
            jobs.left_stopped,
            hint::command("restore", file, journal)
        );
    }
}

/// Mismatches need action and are listed one by one; executions skipped on purpose (Workspaces
/// left for their users) are counted per kind and reason, and listed only with `-v` (or in
/// `dmm journal`): thousands of them would push the result off the screen.
pub fn print_verification(v: &Verification, verbose: bool) {
    print_verification_of(v, verbose, Operation::Restore, 0);
}

/// [`print_verification`] after a run of `op` that had `jobs` Job steps: the count checked
/// says why it is not the snapshot's (Jobs are never in the snapshot; a shutdown checks the
/// ones it found running), and that executions skipped on purpose are not in it.
fn print_verification_of(v: &Verification, verbose: bool, op: Operation, jobs: usize) {
    let skipped = v.count(Finding::Skipped);
    let mut why = Vec::new();
    if op == Operation::Shutdown && jobs > 0 && jobs <= v.checked {
        why.push(format!(
            "{} of the snapshot's executions and {jobs} Job(s) found running, which the snapshot does not hold",
            v.checked - jobs
        ));
    }
    if skipped > 0 {
        why.push(format!("{skipped} skipped on purpose are not counted"));
    }
    let why = if why.is_empty() {
        String::new()
    } else {
        format!(": {}", why.join("; "))
    };
    if v.passed {
        outln!("verification: passed ({} checked{why})", v.checked);
    } else {
        outln!(
            "verification: FAILED, {} mismatch(es) among {} checked{why}",
            v.mismatches(),
            v.checked
        );
    }
    for item in &v.swept {
        outln!(
            "  swept         {} '{}' ({}), id {}: {}",
            item.kind,
            item.name,
            item.owner,
            item.execution,
            item.detail
        );
    }
    let mut skipped: BTreeMap<(Kind, &str), usize> = BTreeMap::new();
    let mut listed = 0;
    for item in &v.items {
        if item.finding == Finding::Skipped && !verbose {
            *skipped
                .entry((item.kind, item.detail.as_str()))
                .or_default() += 1;
            continue;
        }
        let label = match item.finding {
            Finding::Ok => continue,
            Finding::StillRunning => "still running",
            Finding::NotRunning => "not running",
            Finding::Drift => "drift",
            Finding::Skipped => "skipped",
            Finding::Unknown => "unknown",
            Finding::ExtraRun => "ran more than once",
        };
        listed += 1;
        if listed > LISTED && !verbose {
            continue;
        }
        outln!(
            "  {label:<13} {} '{}' ({}), id {}: {}",
            item.kind,
            item.name,
            item.owner,
            item.execution,
            item.detail
        );
    }
    if listed > LISTED && !verbose {
        outln!("  and {} more (listed with -v)", listed - LISTED);
    }
    for ((kind, why), n) in &skipped {
        outln!(
            "  skipped       {n} {}: {why} (listed with -v)",
            plural(*kind, *n)
        );
    }
}

/// How many failed steps the run's summary lists, and how many findings a verification lists
/// without `-v`: the rest are counted, so that a run without a terminal stays a few dozen lines
/// however many fail (the journal lists every one).
const LISTED: usize = 5;

/// "1 Workspace", "96 Workspaces": every label takes an s.
pub fn plural(kind: Kind, n: usize) -> String {
    if n == 1 {
        kind.label().to_string()
    } else {
        format!("{}s", kind.label())
    }
}

/// A wall-clock time as the operator's lines give it: `2026-12-07 15:04:27 UTC`.
fn wall_clock(at: std::time::SystemTime) -> String {
    let at = time::OffsetDateTime::from(at);
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    at.format(&format).unwrap_or_default()
}
