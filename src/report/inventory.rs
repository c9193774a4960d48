//! What the window touched, one row an execution, like `terraform show`: its name, owner and
//! project, and its state at the snapshot, after the shutdown and after the restore. The page
//! shows it in a `<details>` block; `--format csv` writes it for a spreadsheet or an audit tool.

use std::collections::HashMap;

use serde::Serialize;

use crate::journal::{Operation, StepPhase, StepRecord, VerificationRecord};
use crate::runner::verify::Verification;
use crate::snapshot::{Kind, LoadedSnapshot};

#[derive(Clone, Debug, Serialize)]
pub struct InventoryRow {
    pub kind: &'static str,
    pub id: String,
    pub name: String,
    pub owner: String,
    /// The project's name (`owner/name`), or its id when no name is known.
    pub project: String,
    pub at_snapshot: String,
    pub after_shutdown: String,
    pub after_restore: String,
    /// Stopped by the shutdown and, when a restore ran, back after it, with nothing the
    /// verification found: the rows a page past [`PAGE_ROWS`] leaves to the CSV.
    pub as_planned: bool,
}

/// The most rows the page lists: past it, the page lists the executions that did not go as
/// planned (up to [`super::limits::PAGE_LISTED`]) and counts the others, which the CSV lists (a
/// page of 10,000 executions stays under 1 MiB).
pub const PAGE_ROWS: usize = 1_000;

/// The rows the page shows, and how many it leaves to the CSV.
pub fn for_page(rows: &[InventoryRow]) -> (Vec<InventoryRow>, usize) {
    if rows.len() <= PAGE_ROWS {
        return (rows.to_vec(), 0);
    }
    let shown: Vec<InventoryRow> = rows
        .iter()
        .filter(|r| !r.as_planned)
        .take(super::limits::PAGE_LISTED)
        .cloned()
        .collect();
    let left = rows.len() - shown.len();
    (shown, left)
}

/// One row for each execution of the snapshot, then each Job a shutdown met, in the snapshot's
/// order: the state the journal's latest step of each operation left it in, and what the last
/// verification after that operation saw where it was not as promised.
pub fn rows(
    snapshot: &LoadedSnapshot,
    steps: &[StepRecord],
    verifications: &[VerificationRecord],
    project: impl Fn(Kind, &str) -> String,
) -> Vec<InventoryRow> {
    let mut latest: HashMap<(Operation, Kind, &str), &StepRecord> = HashMap::new();
    for s in steps {
        let key = (s.key.op, s.key.kind, s.key.execution.as_str());
        if latest.get(&key).is_none_or(|l| l.cycle <= s.cycle) {
            latest.insert(key, s);
        }
    }
    let mut seen: HashMap<(Operation, Kind, String), String> = HashMap::new();
    for op in [Operation::Shutdown, Operation::Restore] {
        let Some(checked) = verifications
            .iter()
            .rev()
            .find(|v| v.op == op)
            .and_then(|v| serde_json::from_value::<Verification>(v.detail.clone()).ok())
        else {
            continue;
        };
        for item in checked.items.iter().filter(|i| i.finding.is_mismatch()) {
            seen.insert((op, item.kind, item.execution.clone()), item.detail.clone());
        }
    }
    let state = |op: Operation, kind: Kind, id: &str| -> (String, bool) {
        let phase = latest.get(&(op, kind, id)).map(|s| &s.phase);
        let mut words = after(op, kind, phase);
        let mut planned = matches!(phase, Some(StepPhase::Confirmed))
            || (op == Operation::Restore && phase.is_none());
        if let Some(detail) = seen.get(&(op, kind, id.to_owned())) {
            words.push_str(&format!("; the verification saw: {detail}"));
            planned = false;
        }
        (words, planned)
    };
    let row = |kind: Kind, id: &str, name: &str, owner: &str, at_snapshot: String| {
        let (after_shutdown, stopped) = state(Operation::Shutdown, kind, id);
        let (after_restore, back) = state(Operation::Restore, kind, id);
        InventoryRow {
            kind: kind.label(),
            id: id.to_owned(),
            name: name.to_owned(),
            owner: owner.to_owned(),
            project: project(kind, id),
            at_snapshot,
            after_shutdown,
            after_restore,
            as_planned: stopped && back,
        }
    };
    let mut out = Vec::new();
    for (kind, entry) in snapshot.snapshot.iter() {
        let Ok(id) = entry.key(kind) else { continue };
        out.push(row(
            kind,
            id,
            &entry.name,
            &entry.owner,
            running_word(kind).to_owned(),
        ));
    }
    let mut jobs: Vec<&StepRecord> = latest
        .iter()
        .filter(|((op, kind, _), _)| *op == Operation::Shutdown && *kind == Kind::Job)
        .map(|(_, s)| *s)
        .collect();
    jobs.sort_by(|a, b| a.key.execution.cmp(&b.key.execution));
    for s in jobs {
        let id = s.key.execution.as_str();
        out.push(row(
            Kind::Job,
            id,
            &s.name,
            &s.owner,
            "not in the snapshot: running when the shutdown listed Jobs".to_owned(),
        ));
    }
    out
}

fn running_word(kind: Kind) -> &'static str {
    match kind {
        Kind::ScheduledJob => "active",
        _ => "running",
    }
}

/// The state an operation's step left an execution in, in words.
fn after(op: Operation, kind: Kind, phase: Option<&StepPhase>) -> String {
    let done = match (op, kind) {
        (Operation::Shutdown, Kind::ScheduledJob) => "paused",
        (Operation::Shutdown, _) => "stopped",
        (Operation::Restore, Kind::Job) => "restarted",
        (Operation::Restore, _) => running_word(kind),
    };
    match phase {
        None if op == Operation::Restore => "not restored".to_owned(),
        None => "not reached".to_owned(),
        Some(StepPhase::Confirmed) => done.to_owned(),
        Some(StepPhase::Skipped(why)) => format!("left as it was: {why}"),
        Some(StepPhase::Failed(why)) => format!("FAILED: {why}"),
        Some(p) => format!("unfinished ({})", p.name().to_lowercase()),
    }
}

/// The rows as CSV (RFC 4180: CRLF line ends, every cell that needs it quoted, quotes doubled),
/// safe to open in a spreadsheet: a cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage
/// return gets a leading apostrophe so that it is never taken for a formula (OWASP's advice on
/// CSV injection), and hidden and control characters, the line break included, are written out
/// (`crate::visible`).
pub fn csv(rows: &[InventoryRow]) -> String {
    let mut out =
        String::from("kind,id,name,owner,project,at snapshot,after shutdown,after restore\r\n");
    for r in rows {
        let cells = [
            r.kind,
            &r.id,
            &r.name,
            &r.owner,
            &r.project,
            &r.at_snapshot,
            &r.after_shutdown,
            &r.after_restore,
        ];
        let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

fn csv_cell(text: &str) -> String {
    // Hidden and control characters written out, the line break too: a name must not make a
    // cell of several lines (as every other output, the page and the Markdown, writes it out).
    let mut cell = String::with_capacity(text.len());
    for c in text.chars() {
        if crate::visible::is_unseen(c) {
            crate::visible::push_spelled(&mut cell, c);
        } else {
            cell.push(c);
        }
    }
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        cell.insert(0, '\'');
    }
    if cell.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_is_quoted_as_rfc_4180_says_and_never_a_formula() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        // A line break is written out like every other control: a name must not forge a row,
        // or a line within a cell.
        assert_eq!(
            csv_cell("two\nlines\r\n"),
            "two<U+000A>lines<U+000D><U+000A>"
        );
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("\tx\u{1b}"), "<U+0009>x<U+001B>");
        for lead in ["+1", "-1", "@SUM(A1)"] {
            assert!(
                csv_cell(lead).trim_start_matches('"').starts_with('\''),
                "{lead:?}"
            );
        }
        assert_eq!(csv_cell("invoice\u{202E}gnp.exe"), "invoice<U+202E>gnp.exe");
        // A hidden character first does not hide a formula behind it.
        assert_eq!(csv_cell("\u{200B}=1"), "<U+200B>=1");
    }

    #[test]
    fn past_a_page_only_what_did_not_go_as_planned_is_listed() {
        let row = |i: usize, as_planned: bool| InventoryRow {
            kind: "App",
            id: i.to_string(),
            name: String::new(),
            owner: String::new(),
            project: String::new(),
            at_snapshot: String::new(),
            after_shutdown: String::new(),
            after_restore: String::new(),
            as_planned,
        };
        let few: Vec<_> = (0..10).map(|i| row(i, true)).collect();
        assert_eq!(for_page(&few).0.len(), 10);
        let many: Vec<_> = (0..PAGE_ROWS + 500).map(|i| row(i, i % 100 != 0)).collect();
        let (shown, left) = for_page(&many);
        assert_eq!(shown.len(), 15);
        assert!(shown.iter().all(|r| !r.as_planned));
        assert_eq!(left, PAGE_ROWS + 500 - 15);
    }

    #[test]
    fn each_state_is_said_in_words() {
        use Operation::{Restore, Shutdown};
        assert_eq!(
            after(Shutdown, Kind::App, Some(&StepPhase::Confirmed)),
            "stopped"
        );
        assert_eq!(
            after(Shutdown, Kind::ScheduledJob, Some(&StepPhase::Confirmed)),
            "paused"
        );
        assert_eq!(
            after(Restore, Kind::Job, Some(&StepPhase::Confirmed)),
            "restarted"
        );
        assert_eq!(after(Restore, Kind::App, None), "not restored");
        assert_eq!(
            after(
                Shutdown,
                Kind::App,
                Some(&StepPhase::Failed("HTTP 500".into()))
            ),
            "FAILED: HTTP 500"
        );
        assert_eq!(
            after(Shutdown, Kind::App, Some(&StepPhase::Requested)),
            "unfinished (requested)"
        );
    }
}
