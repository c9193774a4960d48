//! `dmm journal`: the audit trail, one line per event.

use std::collections::HashSet;

use crate::cli::args::JournalArgs;
use crate::cli::exit::{CliError, Exit};
use crate::cli::output::outln;
use crate::journal::{JournalError, JournalRead, JournalReader, StepPhase};
use crate::snapshot;

pub fn run(args: JournalArgs) -> Result<Exit, CliError> {
    let loaded = snapshot::read(&args.file)?;
    let mut path = crate::journal::path_for(&args.file, args.journal.as_deref());
    // A renamed snapshot: its journal kept the old name beside it.
    if !path.exists()
        && args.journal.is_none()
        && let Some(found) = crate::cli::hint::find_bound_journal(&args.file, &loaded.sha256)
    {
        tracing::info!(
            "no journal at {}; reading {}, which is bound to this snapshot",
            path.display(),
            found.display()
        );
        path = found;
    }
    if !path.exists() {
        return Err(JournalError::NotFound { path }.into());
    }
    let reader = JournalReader::open_bound(&path, &loaded.sha256)?;
    let failed_now: HashSet<(String, String, String)> = if args.failed {
        reader
            .steps(None)?
            .into_iter()
            .filter(|s| matches!(s.phase, StepPhase::Failed(_)))
            .map(|s| {
                (
                    s.key.op.to_string(),
                    s.key.kind.label().to_owned(),
                    s.key.execution,
                )
            })
            .collect()
    } else {
        HashSet::new()
    };
    for e in reader.events()? {
        if args.kind.is_some_and(|k| k != e.kind) {
            continue;
        }
        if args.failed
            && !failed_now.contains(&(
                e.op.to_string(),
                e.kind.label().to_owned(),
                e.execution.clone(),
            ))
        {
            continue;
        }
        let line = if args.json {
            serde_json::to_string(&e).unwrap_or_default()
        } else {
            format!(
                "{} run {} {} {} '{}' ({}) {}: {} -> {} attempt {}{}{}",
                e.time,
                e.run,
                e.op,
                e.kind,
                e.name,
                e.owner,
                e.execution,
                e.from,
                e.to,
                e.attempt,
                e.http_status
                    .map(|s| format!(" HTTP {s}"))
                    .unwrap_or_default(),
                e.message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            )
        };
        outln!("{line}");
        // A closed pipe (`| head`) ends the listing quietly.
        if crate::cli::output::stdout_closed() {
            return Ok(Exit::Success);
        }
    }
    Ok(Exit::Success)
}
