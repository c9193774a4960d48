//! `dmm status`: where the maintenance stands, at a glance.

use std::collections::BTreeMap;

use serde_json::json;

use crate::cli::args::StatusArgs;
use crate::cli::exit::{CliError, Exit};
use crate::cli::hint;
use crate::cli::output::{outln, outln_json};
use crate::journal::{JournalRead, JournalReader, Operation, VerificationState};
use crate::runner::{JobsOfShutdown, PhaseCount, RunStanding, ScanRecord, next_action};
use crate::snapshot::{self, Kind};

pub fn run(args: StatusArgs) -> Result<Exit, CliError> {
    let loaded = snapshot::read(&args.file)?;
    let mut path = crate::journal::path_for(&args.file, args.journal.as_deref());
    // The journal to name in the hints: an explicit one, or one found beside a renamed snapshot.
    let mut journal_arg = args.journal.clone();
    if !path.exists()
        && args.journal.is_none()
        && let Some(found) = hint::find_bound_journal(&args.file, &loaded.sha256)
    {
        if !args.json {
            outln!(
                "no journal at {}, but {} beside it is bound to this snapshot (renamed?); reading that",
                path.display(),
                found.display()
            );
        }
        path = found.clone();
        journal_arg = Some(found);
    }
    if !path.exists() {
        let next = hint::command("shutdown", &args.file, journal_arg.as_deref());
        if args.json {
            outln_json!(
                "{}",
                json!({"journal": path.display().to_string(), "exists": false, "executions": loaded.snapshot.len(), "next": next})
            );
        } else {
            outln!(
                "no journal yet at {}: nothing has been stopped or started from this snapshot ({} executions)",
                path.display(),
                loaded.snapshot.len()
            );
            outln!("next: {next}");
        }
        return Ok(Exit::Success);
    }
    let reader = JournalReader::open_for(&path, &loaded.sha256, &args.file)?;
    let steps = reader.steps(None)?;
    let runs = reader.runs()?;
    let verifications = reader.verifications()?;
    let scan = reader.snapshot_scan()?.map(|s| ScanRecord::read(&s));
    let head = reader.chain_head()?;

    let cycle = runs.last().map_or(1, |r| r.cycle);
    // The current cycle's steps: a Job step of an earlier cycle is not this cycle's work.
    let mut counts: BTreeMap<(Operation, Kind), PhaseCount> = BTreeMap::new();
    for s in steps.iter().filter(|s| s.cycle >= cycle) {
        counts
            .entry((s.key.op, s.key.kind))
            .or_default()
            .add(&s.phase);
    }
    let next_action = next_action(&loaded.snapshot, &steps, &runs, &verifications);
    let jobs = JobsOfShutdown::of(&steps, cycle);
    // A process holds the journal: the last run is going on now, whatever its record says.
    let in_progress = crate::journal::is_held(&path).unwrap_or(false);
    let live = in_progress
        .then(|| runs.last().map(|r| live_line(r, &steps)))
        .flatten();
    let next = match &live {
        Some(_) => format!(
            "wait for the run in progress to end (run `{}` again to see how far it is); running a command on this journal now would exit 4",
            hint::command("status", &args.file, journal_arg.as_deref())
        ),
        None => hint::next_line(&next_action, &args.file, journal_arg.as_deref()),
    };
    let last_run = runs.last();
    let last_verification = verifications.last();

    if args.json {
        let ops: Vec<_> = counts
            .iter()
            .map(|((op, kind), n)| json!({"operation": op, "kind": kind.label(), "phases": n.by_name()}))
            .collect();
        let doc = json!({
            "journal": path.display().to_string(),
            "exists": true,
            "executions": loaded.snapshot.len(),
            "steps": ops,
            "last_run": last_run,
            "last_verification": last_verification,
            "last_verification_state": last_verification.map(|v| v.state()),
            "runs": runs.len(),
            "snapshot_scan": scan,
            "journal_head": head.to_string(),
            "next": next,
            "next_action": next_action,
            "in_progress": live,
            "jobs": jobs,
            "change_ids": crate::runner::change_ids(scan.as_ref().and_then(|s| s.change_id.as_deref()), &runs),
            "window": crate::runner::window_line(&runs),
        });
        outln_json!("{doc}");
        return Ok(Exit::Success);
    }

    outln!(
        "journal {} ({} run{})",
        path.display(),
        runs.len(),
        if runs.len() == 1 { "" } else { "s" }
    );
    if let Some(scan) = &scan {
        let problems = scan.problems.len();
        outln!(
            "snapshot taken {} from {} ({} executions{})",
            scan.taken_at.as_deref().unwrap_or("?"),
            scan.host.as_deref().unwrap_or("?"),
            loaded.snapshot.len(),
            if problems > 0 {
                format!(", {problems} record(s) or listing(s) could not be read")
            } else {
                String::new()
            }
        );
    }
    if runs.is_empty() {
        outln!("nothing has been stopped or started from this snapshot yet");
    }
    outln!(
        "{:<9} {:<18} {:>8} {:>9} {:>8} {:>9} {:>7} {:>6}",
        "operation",
        "kind",
        "pending",
        "requested",
        "accepted",
        "confirmed",
        "skipped",
        "failed"
    );
    for ((op, kind), n) in &counts {
        outln!(
            "{:<9} {:<18} {:>8} {:>9} {:>8} {:>9} {:>7} {:>6}",
            op.as_str(),
            kind.label(),
            n.pending,
            n.requested,
            n.accepted,
            n.confirmed,
            n.skipped,
            n.failed
        );
    }
    if let Some(line) = JobsOfShutdown::window_line(&runs, &steps) {
        outln!("{line}");
    }
    if let Some(r) = last_run {
        let standing = RunStanding::of(r, true, live.is_some());
        let outcome = standing.words();
        // The message often begins with the outcome's own word ("interrupted; ..."): once.
        let message = r.message.as_deref().map(|m| {
            m.strip_prefix(outcome)
                .map(|rest| rest.trim_start_matches([';', ':', ',', ' ']))
                .unwrap_or(m)
        });
        outln!(
            "last run: {} #{} started {}, ended {}: {}{}",
            r.op,
            r.id,
            r.started_at,
            r.ended_at.as_deref().unwrap_or("-"),
            outcome,
            message
                .filter(|m| !m.is_empty())
                .map(|m| format!(" ({m})"))
                .unwrap_or_default()
        );
        if standing == RunStanding::Killed {
            outln!("  run the same command again to continue where it stopped");
        }
    }
    if let Some(line) = &live {
        outln!("{line}");
    }
    if let Some(window) = crate::runner::window_line(&runs) {
        let ids =
            crate::runner::change_ids(scan.as_ref().and_then(|s| s.change_id.as_deref()), &runs);
        let change = if ids.is_empty() {
            "none given".to_owned()
        } else {
            ids.join(", ")
        };
        outln!("change: {change}; window: {window}");
    }
    if let Some(r) = last_run
        && let Some(line) = acting_line(r)
    {
        outln!("{line}");
    }
    if let Some(p) = last_run.and_then(|r| r.pace.as_ref()) {
        outln!("{}", pace_line(p));
    }
    if let Some(v) = last_verification {
        outln!(
            "last verification: after {} at {}: {}",
            v.op,
            v.time,
            match v.state() {
                VerificationState::Passed => "passed",
                VerificationState::Failed => "FAILED",
                VerificationState::Skipped =>
                    "skipped (--no-verify): the deployment was not checked",
            }
        );
    }
    outln!("journal head: {head}");
    outln!("next: {next}");
    Ok(Exit::Success)
}

/// The run that holds the journal now: since when, which process on which host, how far.
fn live_line(r: &crate::journal::RunRecord, steps: &[crate::journal::StepRecord]) -> String {
    let mine: Vec<_> = steps
        .iter()
        .filter(|s| s.key.op == r.op && s.cycle >= r.cycle)
        .collect();
    let ended = mine.iter().filter(|s| s.phase.is_terminal()).count();
    let by = r
        .operator
        .as_ref()
        .map_or_else(|| "a process".to_string(), |o| o.to_string());
    format!(
        "in progress: {} run {} since {}, by {by}: {ended} of {} step(s) ended",
        r.op,
        r.id,
        r.started_at,
        mine.len()
    )
}

/// Whom the run acted as and which Domino it talked to, when the run recorded either.
fn acting_line(r: &crate::journal::RunRecord) -> Option<String> {
    let version = r.domino_version.as_deref().map(|v| format!("Domino {v}"));
    match (&r.acting_as, version) {
        (Some(who), Some(version)) => Some(format!("acted as: {who}, on {version}")),
        (Some(who), None) => Some(format!("acted as: {who}")),
        (None, Some(version)) => Some(format!("talked to: {version}")),
        (None, None) => None,
    }
}

/// The last run's request rate, in one line.
fn pace_line(p: &crate::journal::PaceRecord) -> String {
    let pushbacks = match p.pushbacks {
        1 => "1 pushback (429, 503, 504, timeout or connection error)".to_string(),
        n => format!("{n} pushbacks (429, 503, 504, timeouts or connection errors)"),
    };
    if p.mode == "fixed" {
        format!("pace: fixed at {} requests/s; {pushbacks}", p.settled)
    } else {
        format!(
            "pace: auto, settled at {} requests/s (lowest {}, highest {}, ceiling {}); {pushbacks}",
            p.settled, p.min, p.max, p.ceiling
        )
    }
}
