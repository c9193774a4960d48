//! Characters that change how text around them is shown without being seen themselves: the
//! bidirectional controls that reorder a line ("Trojan Source", CVE-2021-42574) and the
//! zero-width characters that hide inside a word. A name holding one can read as another name
//! ("invoice\u{202E}gnp.exe" shows as "invoiceexe.png") or reverse a whole list after it, so
//! wherever dmm prints a name, on the terminal, in a log line or in a report, each of them is
//! written out as `<U+202E>` by [`visible`], the one place that knows the list.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` is a bidirectional control or a zero-width character.
pub fn is_hidden(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}'   // embeddings and overrides
            | '\u{2066}'..='\u{2069}' // isolates
            | '\u{200E}' | '\u{200F}' | '\u{061C}' // marks
            | '\u{200B}'..='\u{200D}' // zero-width space, non-joiner, joiner
            | '\u{2060}' | '\u{FEFF}' // word joiner, byte-order mark
    )
}

/// `s` with every hidden character written out as `<U+XXXX>`; borrowed when there is none.
pub fn visible(s: &str) -> Cow<'_, str> {
    spelled_where(s, is_hidden)
}

/// Whether `c` is hidden ([`is_hidden`]) or a control character (C0, DEL, C1: a newline, a
/// NUL, an ANSI escape): either changes what a reader sees without being seen itself.
pub fn is_unseen(c: char) -> bool {
    is_hidden(c) || c.is_control()
}

/// `s` with every hidden or control character written out as `<U+XXXX>`: for text that a
/// program hands on to people after decoding it (a JSON log line in a log viewer, a webhook's
/// fields in a chat card), where a JSON escape such as `\u001b` would decode to the character.
pub fn shown(s: &str) -> Cow<'_, str> {
    spelled_where(s, is_unseen)
}

/// `s` with every character `unseen` picks written out as `<U+XXXX>`; borrowed when there is
/// none.
fn spelled_where(s: &str, unseen: fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(unseen) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if unseen(c) {
            push_spelled(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Every string in `value`, keys included, as [`shown`] writes it.
pub fn show_json_strings(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) => {
            if let Cow::Owned(o) = shown(s) {
                *s = o;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(show_json_strings),
        Value::Object(map) => {
            if map.keys().any(|k| k.chars().any(is_unseen)) {
                let old = std::mem::take(map);
                for (k, mut v) in old {
                    show_json_strings(&mut v);
                    map.insert(shown(&k).into_owned(), v);
                }
            } else {
                map.values_mut().for_each(show_json_strings);
            }
        }
        _ => {}
    }
}

/// Appends `c` written out as `<U+XXXX>`.
pub fn push_spelled(out: &mut String, c: char) {
    let _ = write!(out, "<U+{:04X}>", c as u32);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_written_out_for_what_people_read_after_decoding() {
        assert_eq!(
            shown("a\u{0}b\u{7}c\u{1b}[31md\ne"),
            "a<U+0000>b<U+0007>c<U+001B>[31md<U+000A>e"
        );
        assert_eq!(shown("x\u{202E}y\u{9b}"), "x<U+202E>y<U+009B>");
        assert!(matches!(shown("plain é"), Cow::Borrowed(_)));
        let mut doc = serde_json::json!({"name": "n\u{1b}[2J\u{202E}", "list": ["\u{0}"], "n": 1, "k\u{7}": true});
        show_json_strings(&mut doc);
        assert_eq!(
            doc,
            serde_json::json!({"name": "n<U+001B>[2J<U+202E>", "list": ["<U+0000>"], "n": 1, "k<U+0007>": true})
        );
    }

    #[test]
    fn hidden_characters_are_written_out() {
        assert_eq!(visible("invoice\u{202E}gnp.exe"), "invoice<U+202E>gnp.exe");
        assert_eq!(
            visible("a\u{200B}b\u{FEFF}c\u{2066}d\u{061C}"),
            "a<U+200B>b<U+FEFF>c<U+2066>d<U+061C>"
        );
        assert!(matches!(visible("plain é 名前"), Cow::Borrowed(_)));
        for c in [
            '\u{202A}', '\u{202E}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{200D}', '\u{2060}',
        ] {
            assert!(is_hidden(c), "{:04X}", c as u32);
        }
        // Only the listed characters: a line separator or soft hyphen is left to the escaping
        // of each output.
        assert!(!is_hidden('\u{2028}') && !is_hidden('\u{00AD}'));
    }
}
