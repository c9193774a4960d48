//! `dmm journal`: the audit trail, one line per event.

use std::collections::{HashMap, HashSet};

use crate::cli::args::JournalArgs;
use crate::cli::exit::{CliError, Exit};
use crate::cli::output::{outln, outln_json};
use crate::journal::{Event, ExpectedHead, JournalRead, JournalReader, StepPhase};
use crate::runner::{JobIdentity, StepDetail};
use crate::snapshot::{self, Source};

pub fn run(args: JournalArgs) -> Result<Exit, CliError> {
    let loaded = snapshot::read(&args.file)?;
    let path =
        crate::cli::hint::existing_journal(&args.file, args.journal.as_deref(), &loaded.sha256)?;
    let reader = match JournalReader::open_for(&path, &loaded.sha256, &args.file) {
        // Asked whether the record is intact, a file that cannot even be read (cut short,
        // overwritten) is the plainest "no": the audit's answer (1), not a usage error (2).
        Err(crate::journal::JournalError::Corrupt { detail, .. }) if args.verify => {
            outln!(
                "journal {}: chain BROKEN: the file is damaged and cannot be read ({detail}); no event in it can be trusted",
                path.display()
            );
            return Ok(Exit::Failures);
        }
        other => other?,
    };
    if args.verify {
        return verify(&reader, args.expect_head.as_ref());
    }
    let failed_now = if args.failed {
        failed_now(&reader)?
    } else {
        HashSet::new()
    };
    let job_details = job_details(&reader)?;
    if args.failed && failed_now.is_empty() {
        // Said on stderr: the listing on stdout stays empty for scripts (`| wc -l`), and the
        // operator is not left wondering whether the command worked.
        if !args.json {
            crate::cli::output::notice(&format!("no step is failed now in {}", path.display()));
        }
        return Ok(Exit::Success);
    }
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
        let job = job_details.get(&(e.kind.label().to_owned(), e.execution.clone()));
        let line = event_line(&e, job, args.json);
        if args.json {
            outln_json!("{line}");
        } else {
            outln!("{line}");
        }
        // A closed pipe (`| head`) ends the listing quietly.
        if crate::cli::output::stdout_closed() {
            return Ok(Exit::Success);
        }
    }
    Ok(Exit::Success)
}

/// The steps failed now, by operation, kind and execution.
fn failed_now(reader: &JournalReader) -> Result<HashSet<(String, String, String)>, CliError> {
    Ok(reader
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
        .collect())
}

/// A Job is not in the snapshot: what identifies it (project, number, title, command) is in its
/// step's record, shown with each of its events. By kind and execution.
fn job_details(reader: &JournalReader) -> Result<HashMap<(String, String), JobIdentity>, CliError> {
    Ok(reader
        .steps(None)?
        .into_iter()
        .filter(|s| s.key.kind.source() == Source::Live)
        .filter_map(|s| {
            let job = StepDetail::read(s.detail.as_ref())?.job();
            Some(((s.key.kind.label().to_owned(), s.key.execution), job))
        })
        .collect())
}

/// One event as `dmm journal` lists it: a line of text, or one JSON object (`json`), with the
/// Job's identity when the event is a Job's.
fn event_line(e: &Event, job: Option<&JobIdentity>, json: bool) -> String {
    if json {
        let mut value = serde_json::to_value(e).unwrap_or_default();
        if let (Some(job), Some(map)) = (job, value.as_object_mut()) {
            map.insert("job".into(), serde_json::to_value(job).unwrap_or_default());
        }
        value.to_string()
    } else {
        let about = job.map(job_text).unwrap_or_default();
        format!(
            "{} run {} {} {} '{}' ({}) {}{about}: {} -> {} attempt {}{}{}",
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
    }
}

/// ` [project P, #N, command C]`: a Job's project, number and command (its title is the name).
fn job_text(job: &JobIdentity) -> String {
    let mut parts = Vec::new();
    if let Some(p) = &job.project_id {
        parts.push(format!("project {p}"));
    }
    match &job.number {
        serde_json::Value::Null => {}
        serde_json::Value::String(n) => parts.push(format!("#{n}")),
        n => parts.push(format!("#{n}")),
    }
    if let Some(c) = job.command.as_deref().filter(|c| !c.is_empty()) {
        parts.push(format!("command '{c}'"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" [{}]", parts.join(", "))
    }
}

/// `dmm journal FILE --verify [--expect-head SEQ:SHA256]`: one line per break, then one verdict
/// line, then what the verdict cannot cover or what became of the expected head.
fn verify(reader: &JournalReader, expected: Option<&ExpectedHead>) -> Result<Exit, CliError> {
    let report = reader.verify_chain_against(expected)?;
    let path = reader.path().display().to_string();
    for b in &report.breaks {
        outln!("event {}: {}", b.seq, b.what);
    }
    // The chain covers the events; a run, step or verification that does not decode is
    // damage too, and every other command refuses the file for it.
    let damaged: Vec<_> = reader
        .readable()?
        .damaged
        .into_iter()
        .filter(|d| {
            d.table != "events" || !report.breaks.iter().any(|b| b.seq.to_string() == d.key)
        })
        .collect();
    for d in &damaged {
        outln!("{d}");
    }

    let covered = report.events - report.unchained;
    let head = &report.head;
    let line = match (report.is_intact(), report.first_chained) {
        (true, _) if !damaged.is_empty() => format!(
            "journal {path}: its {} events chain, but records beside them are damaged (listed above, counted below)",
            report.events
        ),
        (false, _) => format!(
            "journal {path}: chain broken at event {} ({} problem{}); {} events",
            report.breaks[0].seq,
            report.breaks.len(),
            if report.breaks.len() == 1 { "" } else { "s" },
            report.events
        ),
        (true, _) if report.events == 0 => {
            format!("journal {path}: intact: no events yet")
        }
        (true, None) => format!(
            "journal {path}: no chain: its {} events were written by a dmm before the hash chain existed and cannot be verified",
            report.events
        ),
        (true, Some(1)) => format!(
            "journal {path}: intact: {} events, chained from the snapshot's SHA-256; head {head}",
            report.events
        ),
        (true, Some(first)) => format!(
            "journal {path}: chain intact from event {first} to {} ({covered} events); events 1 to {} were written before dmm kept the chain and are not covered; head {head}",
            report.events,
            first - 1
        ),
    };
    outln!("{line}");
    match &report.expected {
        Some(check) if check.holds() => outln!("journal {path}: {check}"),
        Some(check) => outln!("journal {path}: NOT the expected head: {check}"),
        None if report.is_intact() && report.first_chained.is_some() => outln!(
            "note: the file alone cannot prove that no newest events were removed together with every record of them; check it against a head kept elsewhere (printed as `journal head:` at the end of each run, sent with its final notice, exported in its metrics) with --expect-head SEQ:SHA256"
        ),
        None => {}
    }
    if !damaged.is_empty() {
        outln!(
            "journal {path}: DAMAGED: {} record{} do{} not decode (the hash chain covers the events only): `dmm status` and a resume refuse the file; `dmm report` shows what the other records say",
            damaged.len(),
            if damaged.len() == 1 { "" } else { "s" },
            if damaged.len() == 1 { "es" } else { "" },
        );
    }
    Ok(if report.holds() && damaged.is_empty() {
        Exit::Success
    } else {
        Exit::Failures
    })
}
