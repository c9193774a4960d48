//! Every line dmm prints goes through here, for three reasons:
//!
//! - a stream that fails (`| head -1` closed the pipe, stderr on a full disk) must never panic:
//!   `println!` and `eprintln!` do, and a panic while reporting a panic aborts the process. A
//!   failed write is dropped, and a closed stdout stays closed for the rest of the process, so
//!   the run goes on, closes its journal and exits with its own code;
//! - names and messages come from the API and from files: a control character in them (a
//!   newline, an ANSI or OSC escape) must not forge lines or retitle the terminal, so every line
//!   is escaped by [`escape`] on its way out;
//! - with `--log-format json`, every line dmm writes to stderr is a JSON object.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static JSON_LOGS: AtomicBool = AtomicBool::new(false);

/// Prints one line on stdout (control characters escaped); a failed write is ignored.
macro_rules! outln {
    () => { $crate::cli::output::stdout_line(format_args!("")) };
    ($($arg:tt)*) => { $crate::cli::output::stdout_line(format_args!($($arg)*)) };
}
pub(crate) use outln;

/// Prints one JSON document as one line on stdout: like [`outln`], but a hidden character
/// (`crate::visible`) is written as JSON's `\u202e`, so the document keeps the exact name.
macro_rules! outln_json {
    ($($arg:tt)*) => { $crate::cli::output::stdout_json_line(format_args!($($arg)*)) };
}
pub(crate) use outln_json;

/// Chooses the shape of the lines [`error`] and [`notice`] write: JSON objects or plain text.
pub fn set_json_logs(json: bool) {
    JSON_LOGS.store(json, Ordering::Relaxed);
}

pub fn json_logs() -> bool {
    JSON_LOGS.load(Ordering::Relaxed)
}

/// One line on stdout. Once stdout is closed, later lines are not even tried.
///
/// With `--log-format json` the line is a JSON object too (level INFO, the line as its
/// `message`): a Kubernetes Job's log merges stdout and stderr, and a collector set for JSON
/// would drop the lines that matter most (the summary, `journal head:`, `next:`).
pub fn stdout_line(args: fmt::Arguments<'_>) {
    if json_logs() {
        write_stdout(shaped("INFO", "", &args.to_string()));
    } else {
        write_stdout(escape(&args.to_string()).into_owned());
    }
}

/// One JSON line on stdout (see [`outln_json`]).
pub fn stdout_json_line(args: fmt::Arguments<'_>) {
    write_stdout(escape_json(&args.to_string()).into_owned());
}

fn write_stdout(mut line: String) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    line.push('\n');
    let mut out = io::stdout().lock();
    if out
        .write_all(line.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// Whether a write to stdout has failed (the reader went away).
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// One line on stderr as it is (already escaped and shaped by the caller); a failed write is
/// ignored, since there is nowhere left to report it.
pub fn stderr_raw(line: &str) {
    let mut buf = String::with_capacity(line.len() + 1);
    buf.push_str(line);
    buf.push('\n');
    let mut err = io::stderr().lock();
    let _ = err.write_all(buf.as_bytes()).and_then(|()| err.flush());
}

/// The error that ends the process: `error: MESSAGE`, or a JSON object with level ERROR.
pub fn error(message: &str) {
    stderr_raw(&shaped("ERROR", "error: ", message));
}

/// A line for the operator that is not an error (an interrupt, a second signal): plain text as
/// given, or a JSON object with level WARN.
pub fn notice(message: &str) {
    stderr_raw(&shaped("WARN", "", message));
}

fn shaped(level: &str, prefix: &str, message: &str) -> String {
    if json_logs() {
        let line = serde_json::json!({
            "timestamp": crate::journal::now_rfc3339(),
            "level": level,
            "message": message,
        })
        .to_string();
        shown_json_line(&line).unwrap_or(line)
    } else {
        escape(&format!("{prefix}{message}")).into_owned()
    }
}

/// Control characters (C0, DEL, C1) written so they show as text and do nothing: `\n`, `\r`,
/// `\t`, and `\u001b` for the others. The spelling is JSON's, so a JSON line stays valid JSON
/// with the same meaning, and a text line stays one line. Bidirectional controls and
/// zero-width characters are written out as `<U+202E>` ([`crate::visible`]), so a name cannot
/// reorder or hide part of a line.
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_as(s, false)
}

/// [`escape`] for a line that is a JSON document: hidden characters too take JSON's spelling
/// (`\u202e`), which keeps the document's meaning exact.
pub fn escape_json(s: &str) -> Cow<'_, str> {
    escape_as(s, true)
}

fn escape_as(s: &str, json: bool) -> Cow<'_, str> {
    let shown = |c: char| c.is_control() || crate::visible::is_hidden(c);
    if !s.chars().any(shown) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || json && crate::visible::is_hidden(c) => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if crate::visible::is_hidden(c) => crate::visible::push_spelled(&mut out, c),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A JSON log line as people read it: a log viewer (`kubectl logs` into Loki or Kibana)
/// decodes the JSON, so a `\u202e` or `\u001b` escape in it would reach the screen as the
/// character itself. Every hidden or control character in its strings is written out as
/// `<U+202E>` instead ([`crate::visible::shown`]); the line stays one JSON object. `None`: the
/// line needs no change. (A JSON document on stdout, `status --json`, is data for programs
/// and keeps every name exact: see [`outln_json`].)
fn shown_json_line(line: &str) -> Option<String> {
    if !line.contains("\\u") && !line.chars().any(crate::visible::is_unseen) {
        return None;
    }
    match serde_json::from_str::<serde_json::Value>(line) {
        Ok(mut value) => {
            crate::visible::show_json_strings(&mut value);
            Some(value.to_string())
        }
        // Not a JSON line after all: escaped like a text line, but in JSON's spelling.
        Err(_) => Some(escape_json(line).into_owned()),
    }
}

/// A formatted log line on its way to stderr, escaped like every other line: control
/// characters in it come from names and messages, except the final newline and, where colour
/// is on, the colour codes (`ESC [ digits ; ... m`) the log formatter put there itself.
pub fn escape_log(buf: &[u8], keep_colour: bool) -> Cow<'_, [u8]> {
    escape_log_as(buf, keep_colour, json_logs())
}

fn escape_log_as(buf: &[u8], keep_colour: bool, json: bool) -> Cow<'_, [u8]> {
    let text = String::from_utf8_lossy(buf);
    let (body, newline) = match text.strip_suffix('\n') {
        Some(body) => (body, "\n"),
        None => (&*text, ""),
    };
    if json {
        return match shown_json_line(body) {
            Some(line) => Cow::Owned(format!("{line}{newline}").into_bytes()),
            None => Cow::Borrowed(buf),
        };
    }
    if !body
        .chars()
        .any(|c| c.is_control() || crate::visible::is_hidden(c))
    {
        return Cow::Borrowed(buf);
    }
    let mut out = String::with_capacity(body.len() + 16);
    let mut rest = body;
    while let Some(at) = rest.find('\u{1b}') {
        out.push_str(&escape(&rest[..at]));
        let tail = &rest[at..];
        let sgr = keep_colour
            .then(|| {
                let params = tail.strip_prefix("\u{1b}[")?;
                let end = params.find(|c: char| !(c.is_ascii_digit() || c == ';'))?;
                (params[end..].starts_with('m')).then_some(2 + end + 1)
            })
            .flatten();
        match sgr {
            Some(len) => {
                out.push_str(&tail[..len]);
                rest = &tail[len..];
            }
            None => {
                out.push_str(&escape("\u{1b}"));
                rest = &tail[1..];
            }
        }
    }
    out.push_str(&escape(rest));
    out.push_str(newline);
    Cow::Owned(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::{escape, escape_log};

    #[test]
    fn log_lines_keep_their_own_colour_and_newline_only() {
        let line = "\u{1b}[33m WARN\u{1b}[0m App 'x\nerror: FAKE\u{1b}]0;t\u{7}' failed\n";
        let coloured = String::from_utf8(escape_log(line.as_bytes(), true).into_owned()).unwrap();
        assert_eq!(
            coloured,
            "\u{1b}[33m WARN\u{1b}[0m App 'x\\nerror: FAKE\\u001b]0;t\\u0007' failed\n"
        );
        let plain = String::from_utf8(escape_log(line.as_bytes(), false).into_owned()).unwrap();
        assert!(
            !plain.contains('\u{1b}') && plain.matches('\n').count() == 1,
            "{plain}"
        );
        assert!(matches!(
            escape_log(b"plain\n", false),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn a_json_log_line_carries_what_people_may_see_after_decoding_it() {
        let line = serde_json::json!({
            "level": "WARN",
            "message": "Job '\u{202A}x' (\u{0}nul\u{7}bel\u{1b}[31mred) failed",
        })
        .to_string()
            + "\n";
        let out =
            String::from_utf8(super::escape_log_as(line.as_bytes(), false, true).into_owned())
                .unwrap();
        assert!(
            out.ends_with("}\n") && out.matches('\n').count() == 1,
            "{out}"
        );
        let back: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            back["message"],
            "Job '<U+202A>x' (<U+0000>nul<U+0007>bel<U+001B>[31mred) failed"
        );
        assert!(!out.contains("\\u"), "{out}");
    }

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(escape("plain 'name' é"), "plain 'name' é");
        assert_eq!(escape("a\nerror: FAKE"), "a\\nerror: FAKE");
        assert_eq!(escape("\u{1b}]0;title\u{7}x"), "\\u001b]0;title\\u0007x");
        assert_eq!(escape("\u{9b}31m\u{7f}"), "\\u009b31m\\u007f");
        // Inside a JSON string the escape means the same character.
        let json = format!("\"{}\"", escape("\u{9b}\u{7f}"));
        let back: String = serde_json::from_str(&json).unwrap();
        assert_eq!(back, "\u{9b}\u{7f}");
    }

    #[test]
    fn hidden_characters_are_spelled_out_and_json_keeps_them_exact() {
        let name = "invoice\u{202E}gnp.exe\u{200B}";
        assert_eq!(escape(name), "invoice<U+202E>gnp.exe<U+200B>");
        let json = serde_json::json!({ "name": name }).to_string();
        let line = super::escape_json(&json);
        assert!(!line.chars().any(crate::visible::is_hidden), "{line}");
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back["name"], name);
    }
}
