//! What a snapshot file must be before its contents are trusted: a regular file, and a JSON
//! object whose top-level keys each appear once.

use std::fmt;
use std::fs::FileType;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

/// "a FIFO", "a folder", ...: for a message saying what the path is instead of a file.
pub(crate) fn file_type_name(t: &FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
    }
    if t.is_dir() { "a folder" } else { "not a file" }
}

/// The first top-level key that appears twice in the JSON object `bytes`, if any (`None` too
/// when the bytes are not such an object: the parser says why elsewhere).
pub(crate) fn duplicate_top_level_key(bytes: &[u8]) -> Option<String> {
    struct Keys;

    impl<'de> Visitor<'de> for Keys {
        type Value = Option<String>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut seen = std::collections::HashSet::new();
            let mut duplicate = None;
            while let Some(key) = map.next_key::<String>()? {
                map.next_value::<IgnoredAny>()?;
                if duplicate.is_none() && !seen.insert(key.clone()) {
                    duplicate = Some(key);
                }
            }
            Ok(duplicate)
        }
    }

    let mut de = serde_json::Deserializer::from_slice(bytes);
    de.deserialize_map(Keys).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::duplicate_top_level_key as dup;

    #[test]
    fn a_key_given_twice_is_found() {
        assert_eq!(dup(br#"{"App": [1], "App": []}"#).as_deref(), Some("App"));
        assert_eq!(
            dup(br#"{"App": [{"App": 1, "App": 2}], "Workspace": []}"#),
            None
        );
        assert_eq!(dup(b"[1]"), None);
    }
}
