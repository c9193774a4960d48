//! The `next:` command lines dmm suggests: written so that pasting one into a shell runs what it
//! says, on the same snapshot and the same journal.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::journal::{JournalRead, JournalReader};

/// `dmm OP SNAPSHOT [--journal JOURNAL]`, each path quoted for a POSIX shell where it needs to
/// be. Give `journal` when the journal is not the default one beside the snapshot (an explicit
/// `--journal`, or one found elsewhere); callers append the flags of their case.
pub fn command(op: &str, snapshot: &Path, journal: Option<&Path>) -> String {
    let mut line = format!("dmm {op} {}", quote(&snapshot.to_string_lossy()));
    if let Some(j) = journal {
        line.push_str(" --journal ");
        line.push_str(&quote(&j.to_string_lossy()));
    }
    line
}

/// Shell quoting: as is when every character is plainly safe, otherwise in single quotes, an
/// embedded single quote written as `'\''`.
pub fn quote(word: &str) -> Cow<'_, str> {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        return Cow::Borrowed(word);
    }
    Cow::Owned(format!("'{}'", word.replace('\'', r"'\''")))
}

/// At most this many `*.journal` files are looked into when searching a folder.
const MAX_CANDIDATES: usize = 64;

/// When the journal is not beside the snapshot under its default name (the snapshot was
/// renamed or copied), a journal in the snapshot's folder bound to the same SHA-256 is the one
/// to use. Read-only: each candidate is only read, never opened for writing.
pub fn find_bound_journal(snapshot: &Path, sha256: &str) -> Option<PathBuf> {
    let folder = match snapshot.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(&folder)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "journal"))
        .take(MAX_CANDIDATES)
        .collect();
    candidates.sort();
    candidates.into_iter().find(|p| {
        JournalReader::open(p)
            .and_then(|r| r.meta())
            .is_ok_and(|m| m.snapshot_sha256 == sha256)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_quoted_only_when_they_need_it() {
        assert_eq!(quote("/srv/snap-1.json"), "/srv/snap-1.json");
        assert_eq!(quote("my snap.json"), "'my snap.json'");
        assert_eq!(quote("it's.json"), r"'it'\''s.json'");
        assert_eq!(quote("$(rm -rf x)"), "'$(rm -rf x)'");
        assert_eq!(quote(""), "''");
        assert_eq!(
            command(
                "restore",
                Path::new("a b.json"),
                Some(Path::new("/j/it's.journal"))
            ),
            r"dmm restore 'a b.json' --journal '/j/it'\''s.journal'"
        );
        assert_eq!(
            command("shutdown", Path::new("s.json"), None),
            "dmm shutdown s.json"
        );
    }
}
