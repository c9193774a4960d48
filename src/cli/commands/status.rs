//! `dmm status`: where the maintenance stands, at a glance.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::cli::args::StatusArgs;
use crate::cli::exit::{CliError, Exit};
use crate::cli::hint;
use crate::cli::output::{outln, outln_json};
use crate::journal::{JournalError, JournalRead, JournalReader, RunRecord, VerificationRecord};
use crate::runner::{NextAction, RunStanding, ScanRecord, VerificationState, Window, next_action};
use crate::snapshot::{self, Snapshot};

pub fn run(args: StatusArgs) -> Result<Exit, CliError> {
    let loaded = snapshot::read(&args.file)?;
    let (path, journal_arg) = locate(&args, &loaded.sha256);
    if !path.exists() {
        say_no_journal(&args, &path, journal_arg.as_deref(), loaded.snapshot.len());
        return Ok(Exit::Success);
    }
    let reader = JournalReader::open_for(&path, &loaded.sha256, &args.file)?;
    // A process holds the journal: the last run is going on now, whatever its record says.
    let in_progress = crate::journal::is_held(&path).unwrap_or(false);
    let view = StatusView::read(&reader, &loaded.snapshot, in_progress)?;
    let next = match &view.live {
        Some(_) => format!(
            "wait for the run in progress to end (run `{}` again to see how far it is); running a command on this journal now would exit 4",
            hint::command("status", &args.file, journal_arg.as_deref())
        ),
        None => hint::next_line(&view.next_action, &args.file, journal_arg.as_deref()),
    };
    if args.json {
        outln_json!("{}", view.json(&next));
    } else {
        for line in view.lines(&next) {
            outln!("{line}");
        }
    }
    Ok(Exit::Success)
}

/// The journal to read, and the one to name in the hints: an explicit one, or one found beside
/// a renamed snapshot.
fn locate(args: &StatusArgs, sha256: &str) -> (PathBuf, Option<PathBuf>) {
    let path = crate::journal::path_for(&args.file, args.journal.as_deref());
    if !path.exists()
        && args.journal.is_none()
        && let Some(found) = hint::find_bound_journal(&args.file, sha256)
    {
        if !args.json {
            outln!(
                "no journal at {}, but {} beside it is bound to this snapshot (renamed?); reading that",
                path.display(),
                found.display()
            );
        }
        return (found.clone(), Some(found));
    }
    (path, args.journal.clone())
}

fn say_no_journal(args: &StatusArgs, path: &Path, journal: Option<&Path>, executions: usize) {
    let next = hint::command("shutdown", &args.file, journal);
    if args.json {
        outln_json!(
            "{}",
            json!({"journal": path.display().to_string(), "exists": false, "executions": executions, "next": next})
        );
    } else {
        outln!(
            "no journal yet at {}: nothing has been stopped or started from this snapshot ({executions} executions)",
            path.display(),
        );
        outln!("next: {next}");
    }
}

/// What `status` shows, read once: the window's model and what the journal adds to it.
pub(super) struct StatusView {
    path: PathBuf,
    executions: usize,
    scan: Option<ScanRecord>,
    head: String,
    window: Window,
    next_action: NextAction,
    /// The run in progress, when a process holds the journal.
    live: Option<String>,
    runs: Vec<RunRecord>,
    verifications: Vec<VerificationRecord>,
}

impl StatusView {
    /// `in_progress`: a process holds the journal now.
    pub(super) fn read(
        journal: &impl JournalRead,
        snapshot: &Snapshot,
        in_progress: bool,
    ) -> Result<StatusView, JournalError> {
        let steps = journal.steps(None)?;
        let runs = journal.runs()?;
        let verifications = journal.verifications()?;
        Ok(StatusView {
            path: journal.path().to_owned(),
            executions: snapshot.len(),
            scan: journal.snapshot_scan()?.map(|s| ScanRecord::read(&s)),
            head: journal.chain_head()?.to_string(),
            window: Window::read(&runs, &steps, in_progress),
            next_action: next_action(snapshot, &steps, &runs, &verifications),
            live: in_progress
                .then(|| runs.last().map(|r| live_line(r, &steps)))
                .flatten(),
            runs,
            verifications,
        })
    }

    fn json(&self, next: &str) -> serde_json::Value {
        let ops: Vec<_> = self
            .window
            .counts
            .iter()
            .map(|((op, kind), n)| json!({"operation": op, "kind": kind.label(), "phases": n.by_name()}))
            .collect();
        let last_verification = self.verifications.last();
        json!({
            "journal": self.path.display().to_string(),
            "exists": true,
            "executions": self.executions,
            "steps": ops,
            "last_run": self.runs.last(),
            "last_verification": last_verification,
            "last_verification_state": last_verification.map(VerificationState::of),
            "runs": self.runs.len(),
            "snapshot_scan": self.scan,
            "journal_head": self.head,
            "next": next,
            "next_action": self.next_action,
            "in_progress": self.live,
            "jobs": self.window.jobs,
            "change_ids": crate::runner::change_ids(self.scan.as_ref().and_then(|s| s.change_id.as_deref()), &self.runs),
            "window": crate::runner::window_line(&self.runs),
        })
    }

    pub(super) fn lines(&self, next: &str) -> Vec<String> {
        let runs = self.runs.len();
        let mut lines = vec![format!(
            "journal {} ({runs} run{})",
            self.path.display(),
            if runs == 1 { "" } else { "s" }
        )];
        lines.extend(
            self.scan
                .as_ref()
                .map(|scan| scan_line(scan, self.executions)),
        );
        if self.runs.is_empty() {
            lines.push("nothing has been stopped or started from this snapshot yet".into());
        }
        lines.extend(counts_table(&self.window));
        lines.extend(self.window.jobs_line());
        if let (Some(r), Some(standing)) = (self.runs.last(), self.window.last_run) {
            lines.push(last_run_line(r, standing));
            if standing == RunStanding::Killed {
                lines.push("  run the same command again to continue where it stopped".into());
            }
        }
        lines.extend(self.live.clone());
        if let Some(window) = crate::runner::window_line(&self.runs) {
            let ids = crate::runner::change_ids(
                self.scan.as_ref().and_then(|s| s.change_id.as_deref()),
                &self.runs,
            );
            let change = if ids.is_empty() {
                "none given".to_owned()
            } else {
                ids.join(", ")
            };
            lines.push(format!("change: {change}; window: {window}"));
        }
        let last_run = self.runs.last();
        lines.extend(last_run.and_then(acting_line));
        lines.extend(last_run.and_then(|r| r.pace.as_ref()).map(pace_line));
        lines.extend(self.verifications.last().map(|v| {
            format!(
                "last verification: after {} at {}: {}",
                v.op,
                v.time,
                match VerificationState::of(v) {
                    VerificationState::Passed => "passed",
                    VerificationState::Failed => "FAILED",
                    VerificationState::Skipped =>
                        "skipped (--no-verify): the deployment was not checked",
                }
            )
        }));
        lines.push(format!("journal head: {}", self.head));
        lines.push(format!("next: {next}"));
        lines
    }
}

fn scan_line(scan: &ScanRecord, executions: usize) -> String {
    let problems = scan.problems.len();
    format!(
        "snapshot taken {} from {} ({executions} executions{})",
        scan.taken_at.as_deref().unwrap_or("?"),
        scan.host.as_deref().unwrap_or("?"),
        if problems > 0 {
            format!(", {problems} record(s) or listing(s) could not be read")
        } else {
            String::new()
        }
    )
}

/// The window's steps per operation, kind and phase.
fn counts_table(window: &Window) -> Vec<String> {
    let row = |cells: [&str; 8]| {
        format!(
            "{:<9} {:<18} {:>8} {:>9} {:>8} {:>9} {:>7} {:>6}",
            cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6], cells[7]
        )
    };
    let mut lines = vec![row([
        "operation",
        "kind",
        "pending",
        "requested",
        "accepted",
        "confirmed",
        "skipped",
        "failed",
    ])];
    for ((op, kind), n) in &window.counts {
        let figures = [
            n.pending,
            n.requested,
            n.accepted,
            n.confirmed,
            n.skipped,
            n.failed,
        ]
        .map(|n| n.to_string());
        let [a, b, c, d, e, f] = &figures;
        lines.push(row([op.as_str(), kind.label(), a, b, c, d, e, f]));
    }
    lines
}

/// The last run: which, when, and how it stands in the window's words.
pub(crate) fn last_run_line(r: &RunRecord, standing: RunStanding) -> String {
    let outcome = standing.words();
    // The message often begins with the outcome's own word ("interrupted; ..."): once.
    let message = r.message.as_deref().map(|m| {
        m.strip_prefix(outcome)
            .map(|rest| rest.trim_start_matches([';', ':', ',', ' ']))
            .unwrap_or(m)
    });
    format!(
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
    )
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
