//! Keeps the credential out of text that came from the server. Gateways, WAFs and debug error
//! pages echo the request, headers included, in the body of a 4xx/5xx; dmm quotes error bodies
//! in its logs, its journal, its report and its notices, so the credential is cut out of every
//! piece of server text at the one place it becomes an error.

/// What stands in the text where the credential was.
pub(crate) const MASK: &str = "[credential removed]";

/// Secrets shorter than this are not searched for: a key of a few characters would match
/// ordinary words, and no deployment issues one that short.
const SHORTEST: usize = 8;

/// Replaces every occurrence of `secret` in `text` with [`MASK`], also as JSON writes it with
/// `/` escaped (a body that echoes headers inside a JSON string may do that).
pub(crate) fn redact(text: &str, secret: &str) -> String {
    if secret.len() < SHORTEST {
        return text.to_owned();
    }
    let mut out = text.replace(secret, MASK);
    for form in encoded_forms(secret) {
        if form != secret && out.contains(&form) {
            out = out.replace(&form, MASK);
        }
    }
    out
}

/// The secret as a gateway may echo it after escaping it: JSON with `/` escaped (PHP's
/// `json_encode`), URL-encoded (upper- or lowercase hex), every character a JSON `\u` escape,
/// and base64 (padded or not).
fn encoded_forms(secret: &str) -> Vec<String> {
    let percent = |upper: bool| {
        let mut out = String::with_capacity(secret.len() * 3);
        for b in secret.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(b as char);
            } else if upper {
                out.push_str(&format!("%{b:02X}"));
            } else {
                out.push_str(&format!("%{b:02x}"));
            }
        }
        out
    };
    let unicode = |upper: bool| {
        secret
            .encode_utf16()
            .map(|u| {
                if upper {
                    format!("\\u{u:04X}")
                } else {
                    format!("\\u{u:04x}")
                }
            })
            .collect::<String>()
    };
    let b64 = crate::base64::base64(secret.as_bytes());
    vec![
        secret.replace('/', "\\/"),
        percent(true),
        percent(false),
        unicode(false),
        unicode(true),
        b64.trim_end_matches('=').to_owned(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_echoed_key_is_cut_out_wherever_it_stands() {
        let body = "upstream error; headers: x-domino-api-key: SeCrEtKeY-7f3a9c1e5d; accept: */*";
        let out = redact(body, "SeCrEtKeY-7f3a9c1e5d");
        assert!(!out.contains("SeCrEt"), "{out}");
        assert!(
            out.contains("x-domino-api-key: [credential removed];"),
            "{out}"
        );
    }

    #[test]
    fn a_json_escaped_echo_is_cut_out_too() {
        let out = redact(r#"{"auth":"Bearer ab\/cd\/efgh"}"#, "ab/cd/efgh");
        assert_eq!(out, r#"{"auth":"Bearer [credential removed]"}"#);
    }

    /// A gateway may echo the key as it escapes it: URL-encoded, every character a JSON
    /// `\u` escape, or in base64. Each form is cut out too.
    #[test]
    fn an_encoded_echo_is_cut_out_too() {
        let key = "SeCr+Et/Key=7f%3a";
        for body in [
            "url-encoded key: SeCr%2BEt%2FKey%3D7f%253a",
            "lower: SeCr%2bEt%2fKey%3d7f%253a",
            r"json-escaped key: \u0053\u0065\u0043\u0072\u002b\u0045\u0074\u002f\u004b\u0065\u0079\u003d\u0037\u0066\u0025\u0033\u0061",
            r"upper: \u0053\u0065\u0043\u0072\u002B\u0045\u0074\u002F\u004B\u0065\u0079\u003D\u0037\u0066\u0025\u0033\u0061",
            "b64 key: U2VDcitFdC9LZXk9N2YlM2E=",
            "b64 without padding: U2VDcitFdC9LZXk9N2YlM2E;",
        ] {
            let out = redact(body, key);
            assert!(out.contains(MASK), "{body} -> {out}");
            assert!(
                !out.contains("U2VDcitFdC9LZXk9N2YlM2")
                    && !out.contains("%2FKey")
                    && !out.contains("u0053"),
                "{out}"
            );
        }
    }

    #[test]
    fn a_key_too_short_to_tell_from_words_leaves_the_text_alone() {
        assert_eq!(redact("keep the key k", "k"), "keep the key k");
    }
}
