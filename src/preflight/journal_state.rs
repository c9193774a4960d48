//! The state of the snapshot's journal: clean, in progress, or held by another process.

use std::path::Path;

use super::check::Check;
use crate::journal::{self, JournalError, JournalRead, JournalReader, RunOutcome, RunRecord};
use crate::snapshot;

/// The snapshot's journal: clean, in progress (a run that did not end, or steps not ended), or
/// held by another process now. Only looked at.
pub(super) fn journal_check(file: &Path, explicit: Option<&Path>) -> Check {
    let name = "journal";
    let loaded = match snapshot::read(file) {
        Ok(l) => l,
        Err(e) => return Check::fail(name, e.to_string()),
    };
    let path = journal::path_for(file, explicit);
    let shown = path.display();
    if !path.exists() {
        return Check::ok(
            name,
            format!(
                "no journal yet at {shown}: nothing has been stopped or started from this snapshot ({} executions)",
                loaded.snapshot.len()
            ),
        );
    }
    let held = match journal::is_held(&path) {
        Ok(held) => held,
        Err(e) => return Check::fail(name, e.to_string()),
    };
    let reader = match JournalReader::open_bound(&path, &loaded.sha256) {
        Ok(r) => r,
        Err(e @ JournalError::WrongSnapshot { .. }) => return Check::fail(name, e.to_string()),
        Err(e) if held => {
            return Check::warn(
                name,
                format!(
                    "{shown} is held by another process (a dmm run in progress?); it cannot be read now: {e}"
                ),
            );
        }
        Err(e) => return Check::fail(name, e.to_string()),
    };
    let (runs, steps) = match (reader.runs(), reader.steps(None)) {
        (Ok(r), Ok(s)) => (r, s),
        (Err(e), _) | (_, Err(e)) => return Check::fail(name, e.to_string()),
    };
    let open_steps = steps.iter().filter(|s| !s.phase.is_terminal()).count();
    let last = runs.last();
    if held {
        let what = last.map_or(String::new(), |r| {
            format!(": run #{} ({}) started at {}", r.id, r.op, r.started_at)
        });
        return Check::warn(
            name,
            format!(
                "{shown} is held by another process, a dmm run in progress{what}; {open_steps} step(s) not ended yet (dmm status shows where it stands)"
            ),
        );
    }
    not_held(
        name,
        &shown.to_string(),
        loaded.snapshot.len(),
        last,
        steps.is_empty(),
        open_steps,
    )
}

/// Where a journal no process holds stands: clean, or in progress (a run that did not end,
/// or steps not ended).
fn not_held(
    name: &'static str,
    shown: &str,
    executions: usize,
    last: Option<&RunRecord>,
    no_steps: bool,
    open_steps: usize,
) -> Check {
    match last {
        None if no_steps => Check::ok(
            name,
            format!(
                "{shown} is clean: no run yet ({} executions in the snapshot)",
                executions
            ),
        ),
        Some(run) if run.ended_at.is_none() => Check::warn(
            name,
            format!(
                "{shown} is in progress: run #{} ({}) started at {} did not end (killed?); run dmm {} again to continue",
                run.id, run.op, run.started_at, run.op
            ),
        ),
        _ if open_steps > 0 => Check::warn(
            name,
            format!(
                "{shown} is in progress: {open_steps} step(s) not ended; dmm status shows the command to continue"
            ),
        ),
        Some(run) => Check::ok(
            name,
            format!(
                "{shown} is clean: the last run, #{} ({}), ended{}",
                run.id,
                run.op,
                run.outcome
                    .as_ref()
                    .map(|o| format!(" {}", outcome_word(o)))
                    .unwrap_or_default()
            ),
        ),
        None => Check::ok(name, format!("{shown} is clean: every step has ended")),
    }
}

/// A run's outcome as the journal spells it (`completed_with_failures`).
fn outcome_word(outcome: &RunOutcome) -> String {
    serde_json::to_value(outcome)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
