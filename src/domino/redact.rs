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
    if secret.contains('/') {
        out = out.replace(&secret.replace('/', "\\/"), MASK);
    }
    out
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

    #[test]
    fn a_key_too_short_to_tell_from_words_leaves_the_text_alone() {
        assert_eq!(redact("keep the key k", "k"), "keep the key k");
    }
}
