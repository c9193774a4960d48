//! Accountability beyond who ran it: the change reference a window was run under
//! (`--change-id` / `DMM_CHANGE_ID`, recorded in each run's options and the snapshot's scan)
//! and the window that was planned (the deadline) against the one that happened.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::RecordedOptions;
use crate::journal::RunRecord;

/// The longest change reference taken: ticket numbers are short, and the reference is printed
/// on one line in the report's facts, `dmm status` and every summary.
pub const CHANGE_ID_MAX: usize = 64;

/// The clap value parser of `--change-id`: one printable line of at most [`CHANGE_ID_MAX`]
/// characters, kept as given without surrounding spaces. The reference is printed everywhere
/// the window is, so it must be a ticket number, never a secret.
pub fn parse_change_id(s: &str) -> Result<String, String> {
    let id = s.trim();
    if id.is_empty() {
        return Err("a change reference is a ticket number such as CHG0012345; it is empty".into());
    }
    if let Some(c) = id
        .chars()
        .find(|c| c.is_control() || crate::visible::is_hidden(*c) || is_blank_or_break(*c))
    {
        return Err(format!(
            "a change reference is one printable line; it holds U+{:04X}",
            c as u32
        ));
    }
    let n = id.chars().count();
    if n > CHANGE_ID_MAX {
        return Err(format!(
            "a change reference is at most {CHANGE_ID_MAX} characters; this one has {n}"
        ));
    }
    Ok(id.to_owned())
}

/// A change reference as an error may quote it: every character [`parse_change_id`] refuses
/// written out as `<U+202E>`.
pub fn change_id_shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if crate::visible::is_unseen(c) || is_blank_or_break(c) {
            crate::visible::push_spelled(&mut out, c);
        } else {
            out.push(c);
        }
    }
    out
}

/// Characters that show nothing, or break a line, though they are neither controls nor hidden
/// in names' sense: no ticket number holds one, and a reference printed on one line must not.
fn is_blank_or_break(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' // soft hyphen
            | '\u{034F}' // combining grapheme joiner
            | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' // Hangul fillers
            | '\u{17B4}' | '\u{17B5}'
            | '\u{180B}'..='\u{180F}' // Mongolian selectors and vowel separator
            | '\u{2028}' | '\u{2029}' // line and paragraph separators
            | '\u{2061}'..='\u{2064}' // invisible operators
            | '\u{206A}'..='\u{206F}' // deprecated format characters
            | '\u{FE00}'..='\u{FE0F}' // variation selectors
            | '\u{FFF9}'..='\u{FFFB}' // interlinear annotation
            | '\u{E0000}'..='\u{E0FFF}' // tags, variation selectors supplement
    )
}

/// The change references the snapshot (its scan's record) and the runs were made under, each
/// once, in the order first given.
pub fn change_ids(snapshot: Option<&str>, runs: &[RunRecord]) -> Vec<String> {
    let mut ids: Vec<String> = snapshot.map(str::to_owned).into_iter().collect();
    for r in runs {
        if let Some(id) = RecordedOptions::read(&r.options).change_id
            && !ids.contains(&id)
        {
            ids.push(id);
        }
    }
    ids
}

/// The planned window against the actual one, in one line: the last deadline given, when the
/// first run began and the last one ended, and how far before or after the deadline that was.
/// `None` before the first run. Times are written as recorded (RFC 3339).
pub fn window_line(runs: &[RunRecord]) -> Option<String> {
    window_line_shown(runs, |t| t.to_owned())
}

/// [`window_line`] with each time written by `show` (the report's `2026-12-07 05:31:12 UTC`).
pub fn window_line_shown(runs: &[RunRecord], show: impl Fn(&str) -> String) -> Option<String> {
    let first = runs.first()?;
    let last = runs.last()?;
    let deadline = runs
        .iter()
        .rev()
        .find_map(|r| RecordedOptions::read(&r.options).deadline);
    let actual = match &last.ended_at {
        Some(end) => format!("ran {} to {}", show(&first.started_at), show(end)),
        None => format!("running since {}, not ended", show(&first.started_at)),
    };
    let Some(deadline) = deadline else {
        return Some(format!("no deadline planned; {actual}"));
    };
    let against = match (last.ended_at.as_deref().and_then(at), at(&deadline)) {
        (Some(end), Some(planned)) if end <= planned => {
            format!(", {} before the deadline", span(planned - end))
        }
        (Some(end), Some(planned)) => format!(", {} PAST the deadline", span(end - planned)),
        _ => String::new(),
    };
    Some(format!(
        "planned to end by {}; {actual}{against}",
        show(&deadline)
    ))
}

fn at(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// A span to the second, as humantime writes it (`28m 48s`).
fn span(d: time::Duration) -> String {
    let secs = d.whole_seconds().max(0).unsigned_abs();
    humantime::format_duration(std::time::Duration::from_secs(secs)).to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::journal::Operation;

    fn run(id: u64, start: &str, end: Option<&str>, options: serde_json::Value) -> RunRecord {
        serde_json::from_value(json!({
            "id": id, "op": Operation::Shutdown, "started_at": start, "ended_at": end,
            "tool_version": "0.2.0", "options": options, "outcome": null, "message": null,
        }))
        .unwrap()
    }

    #[test]
    fn a_change_reference_is_one_short_printable_line() {
        assert_eq!(parse_change_id(" CHG0012345 ").unwrap(), "CHG0012345");
        assert_eq!(
            parse_change_id("RFC 4242 — 名前").unwrap(),
            "RFC 4242 — 名前"
        );
        // Line and paragraph separators break a line in JSON's and JavaScript's readers; a soft
        // hyphen, a grapheme joiner and the tag characters are invisible.
        for bad in [
            "",
            "  ",
            "CHG\n1",
            "CHG\u{1b}[31m",
            "CHG\u{202E}1",
            "a\0b",
            "CHG\u{2028}x",
            "CHG\u{2029}x",
            "CHG\u{AD}1",
            "CHG\u{34F}1",
            "CHG\u{E0041}1",
        ] {
            let e = parse_change_id(bad).unwrap_err();
            assert!(!e.contains('\n') && !e.contains('\u{1b}'), "{e}");
        }
        assert!(parse_change_id(&"C".repeat(CHANGE_ID_MAX)).is_ok());
        let e = parse_change_id(&"C".repeat(CHANGE_ID_MAX + 1)).unwrap_err();
        assert!(e.contains("at most 64"), "{e}");
    }

    #[test]
    fn the_change_references_of_the_runs_come_once_each() {
        let runs = [
            run(
                1,
                "2026-12-07T05:00:00Z",
                Some("2026-12-07T05:10:00Z"),
                json!({"change_id": "CHG1"}),
            ),
            run(
                2,
                "2026-12-07T05:20:00Z",
                Some("2026-12-07T05:30:00Z"),
                json!({}),
            ),
            run(
                3,
                "2026-12-07T05:40:00Z",
                None,
                json!({"change_id": "CHG1"}),
            ),
            run(
                4,
                "2026-12-07T05:50:00Z",
                None,
                json!({"change_id": "CHG2"}),
            ),
        ];
        assert_eq!(change_ids(None, &runs), ["CHG1", "CHG2"]);
        assert_eq!(change_ids(Some("CHG0"), &runs), ["CHG0", "CHG1", "CHG2"]);
        assert!(change_ids(None, &runs[1..2]).is_empty());
    }

    #[test]
    fn the_planned_window_is_set_against_the_actual_one() {
        let deadline = json!({"deadline": "2026-12-07T06:00:00Z"});
        let early = [
            run(
                1,
                "2026-12-07T05:00:00Z",
                Some("2026-12-07T05:10:00Z"),
                json!({}),
            ),
            run(
                2,
                "2026-12-07T05:20:00Z",
                Some("2026-12-07T05:31:12Z"),
                deadline.clone(),
            ),
        ];
        assert_eq!(
            window_line(&early).unwrap(),
            "planned to end by 2026-12-07T06:00:00Z; ran 2026-12-07T05:00:00Z to \
             2026-12-07T05:31:12Z, 28m 48s before the deadline"
        );
        let late = [run(
            1,
            "2026-12-07T05:00:00Z",
            Some("2026-12-07T06:03:00Z"),
            deadline,
        )];
        assert!(
            window_line(&late)
                .unwrap()
                .ends_with("3m PAST the deadline")
        );
        let none = [run(1, "2026-12-07T05:00:00Z", None, json!({}))];
        assert_eq!(
            window_line(&none).unwrap(),
            "no deadline planned; running since 2026-12-07T05:00:00Z, not ended"
        );
        assert_eq!(window_line(&[]), None);
    }
}
