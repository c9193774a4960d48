//! A journal and a snapshot that do not match: which of the two is not the one the other was
//! made with, as far as the files can tell.
//!
//! The journal records the path and the SHA-256 of the snapshot it was made for, and when it was
//! created. A snapshot whose digest differs may have been edited since, or the journal beside it
//! may have been replaced by another snapshot's. What tells them apart:
//! - the file at the journal's recorded path, when it is another file and still has the recorded
//!   digest: the journal is that file's;
//! - the snapshot's modification time: a snapshot not written since the journal was created did
//!   not change under it, so the journal is what was replaced; one written since, at the path
//!   the journal was made for, changed.

use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::location::path_for;
use super::types::JournalMeta;
use crate::snapshot::sha256_hex;

/// A snapshot larger than this is not read to find whose journal this is: snapshots are far
/// smaller, and the path may name anything by now.
const LARGEST_SNAPSHOT: u64 = 1 << 30;

/// Which file of a mismatched pair is not the one the other was made with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// No snapshot file to compare with, or one that is neither the file the journal was made
    /// for nor beside it: a journal named for the wrong snapshot.
    OtherSnapshot,
    /// The snapshot given is the file the journal was made for, written after the journal was
    /// created: the snapshot changed.
    SnapshotChanged {
        snapshot: PathBuf,
        /// When the snapshot was last written, and when the journal was created (RFC 3339).
        written: String,
        created: String,
    },
    /// The file the journal was made for is still at its recorded path with the recorded
    /// digest: the journal is that file's.
    JournalOfOther { snapshot: PathBuf, owner: PathBuf },
    /// The snapshot given was not written since the journal was created: the journal is what
    /// was replaced.
    JournalReplaced {
        snapshot: PathBuf,
        written: String,
        created: String,
    },
    /// Either, and the files cannot tell which.
    Either { snapshot: PathBuf },
}

/// Weighs what the files show; `given` is the snapshot file given now, when there is one.
pub(crate) fn judge(journal: &Path, meta: &JournalMeta, given: Option<&Path>) -> Mismatch {
    let Some(given) = given else {
        return Mismatch::OtherSnapshot;
    };
    let recorded = Path::new(&meta.snapshot_path);
    let same_path = given.display().to_string() == meta.snapshot_path
        || matches!(
            (std::fs::canonicalize(given), std::fs::canonicalize(recorded)),
            (Ok(a), Ok(b)) if a == b
        );
    if !same_path
        && digest_of_file(recorded).is_some_and(|d| d.eq_ignore_ascii_case(&meta.snapshot_sha256))
    {
        return Mismatch::JournalOfOther {
            snapshot: given.to_path_buf(),
            owner: recorded.to_path_buf(),
        };
    }
    let beside = path_for(given, None) == journal;
    // A recorded path may be relative to another folder, or its folder moved since: the same
    // file name with the journal beside it under the default name is the same file.
    let same_file = same_path || (beside && recorded.file_name() == given.file_name());
    if !same_file && !beside {
        return Mismatch::OtherSnapshot;
    }
    let snapshot = given.to_path_buf();
    let written = std::fs::metadata(given)
        .and_then(|m| m.modified())
        .ok()
        .map(OffsetDateTime::from);
    let created = OffsetDateTime::parse(&meta.created_at, &Rfc3339).ok();
    let (Some(written), Some(created)) = (written, created) else {
        return Mismatch::Either { snapshot };
    };
    let (w, c) = (rfc3339(written), meta.created_at.clone());
    if written <= created {
        Mismatch::JournalReplaced {
            snapshot,
            written: w,
            created: c,
        }
    } else if same_file {
        Mismatch::SnapshotChanged {
            snapshot,
            written: w,
            created: c,
        }
    } else {
        // Another file name, written since: renamed with its journal and edited, or another
        // snapshot's journal put beside it.
        Mismatch::Either { snapshot }
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// The SHA-256 of a regular file of a snapshot's size, if there is one at `path`.
fn digest_of_file(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > LARGEST_SNAPSHOT {
        return None;
    }
    std::fs::read(path).ok().map(|bytes| sha256_hex(&bytes))
}

/// The refusal, in one line: which file to check, and how.
pub(crate) fn describe(
    journal: &Path,
    expected: &str,
    found: &str,
    made_for: &str,
    mismatch: &Mismatch,
) -> String {
    let journal = journal.display();
    match mismatch {
        Mismatch::OtherSnapshot => format!(
            "journal {journal} belongs to another snapshot ({made_for}, sha256 {found}; this snapshot is {expected}); use the snapshot it was made with, unchanged, or --journal to start a new one"
        ),
        Mismatch::SnapshotChanged {
            snapshot,
            written,
            created,
        } => {
            let snapshot = snapshot.display();
            format!(
                "snapshot {snapshot} changed since journal {journal} was made for it (sha256 then {found}, now {expected}; written {written}, after the journal was created {created}); put the snapshot back as it was (`sha256sum {snapshot}` must print {found} again), or use --journal to start a new journal for the changed file"
            )
        }
        Mismatch::JournalOfOther { snapshot, owner } => {
            let (snapshot, owner) = (snapshot.display(), owner.display());
            format!(
                "journal {journal} does not belong to snapshot {snapshot}: it belongs to another snapshot, made for {owner} (sha256 {found}), which still has that sha256 ({snapshot} has {expected}); use {owner} with it, put the journal of {snapshot} back at {journal}, or use --journal to start a new one"
            )
        }
        Mismatch::JournalReplaced {
            snapshot,
            written,
            created,
        } => {
            let snapshot = snapshot.display();
            format!(
                "journal {journal} does not belong to snapshot {snapshot}: it was made for {made_for} (sha256 {found}), and {snapshot} was not written since that journal was created (written {written}, journal created {created}), so the journal is what was replaced; put the journal of {snapshot} back at {journal}, or use --journal to start a new one (`sha256sum {snapshot}` prints {expected}; the snapshot this journal belongs to prints {found})"
            )
        }
        Mismatch::Either { snapshot } => {
            let snapshot = snapshot.display();
            format!(
                "snapshot {snapshot} (sha256 {expected}) and journal {journal} (made for {made_for}, sha256 {found}) do not match: if the snapshot changed, put it back as it was (`sha256sum {snapshot}` must print {found} again); if the journal was replaced by another snapshot's, put the journal of {snapshot} back at {journal}; or use --journal to start a new one"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    /// Sets when a file was last written, for a snapshot older than its journal.
    fn set_written(path: &Path, at: SystemTime) {
        std::fs::File::options()
            .write(true)
            .open(path)
            .and_then(|f| f.set_modified(at))
            .unwrap();
    }

    fn meta(path: &Path, sha: &str, created: SystemTime) -> JournalMeta {
        JournalMeta {
            schema_version: 1,
            snapshot_sha256: sha.into(),
            snapshot_path: path.display().to_string(),
            created_at: rfc3339(OffsetDateTime::from(created)),
            tool_version: "test".into(),
        }
    }

    #[test]
    fn the_files_say_which_one_does_not_match() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.json");
        let b = dir.path().join("b.json");
        std::fs::write(&a, "a").unwrap();
        std::fs::write(&b, "b").unwrap();
        let a_journal = path_for(&a, None);
        let now = SystemTime::now();
        let hour = Duration::from_secs(3600);
        set_written(&a, now - hour);

        // B's journal beside A, B unchanged at its path.
        let of_b = meta(&b, &sha256_hex(b"b"), now);
        assert!(matches!(
            judge(&a_journal, &of_b, Some(&a)),
            Mismatch::JournalOfOther { owner, .. } if owner == b
        ));
        // B changed too: A was not written since that journal was created.
        std::fs::write(&b, "b2").unwrap();
        assert!(matches!(
            judge(&a_journal, &of_b, Some(&a)),
            Mismatch::JournalReplaced { .. }
        ));
        // A's own journal, A written after it was created.
        let of_a = meta(&a, &sha256_hex(b"a0"), now - 2 * hour);
        assert!(matches!(
            judge(&a_journal, &of_a, Some(&a)),
            Mismatch::SnapshotChanged { .. }
        ));
        // A journal named with --journal for an unrelated snapshot.
        let elsewhere = dir.path().join("x.journal");
        assert_eq!(judge(&elsewhere, &of_a, Some(&b)), Mismatch::OtherSnapshot);
        assert_eq!(judge(&a_journal, &of_a, None), Mismatch::OtherSnapshot);
        // Another name, written since the journal: cannot tell.
        let of_gone = meta(&dir.path().join("gone.json"), "00", now - 2 * hour);
        assert!(matches!(
            judge(&a_journal, &of_gone, Some(&a)),
            Mismatch::Either { .. }
        ));
    }
}
