//! `dmm journal`: the audit trail, one line per event.

use std::collections::HashSet;
use std::io::Write;

use crate::cli::args::JournalArgs;
use crate::cli::exit::{CliError, Exit};
use crate::journal::{JournalError, JournalRead, JournalReader, StepPhase};
use crate::snapshot;

pub fn run(args: JournalArgs) -> Result<Exit, CliError> {
    let loaded = snapshot::read(&args.file)?;
    let path = crate::journal::path_for(&args.file, args.journal.as_deref());
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
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
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
        // A closed pipe (`| head`) ends the listing quietly.
        if writeln!(out, "{line}").is_err() {
            return Ok(Exit::Success);
        }
    }
    let _ = out.flush();
    Ok(Exit::Success)
}
