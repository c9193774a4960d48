//! Which file a journal handle holds: its device and inode, compared with what is at the path
//! before every write transaction.
//!
//! redb keeps its file descriptor; if the journal is deleted, renamed or replaced under a running
//! process, commits would go on into a file that nobody will read (or that is gone once the
//! process ends), while the requests they announce reach the deployment. Checking the path's
//! identity before each transaction turns that into an error at the next commit, and a step's
//! request leaves only after its `Requested` commit succeeds, so nothing is sent after it.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::JournalError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileIdentity {
    dev: u64,
    ino: u64,
}

impl FileIdentity {
    /// The identity of the file at `path` now (taken right after opening it).
    pub(crate) fn of(path: &Path) -> Result<FileIdentity, JournalError> {
        let m = std::fs::metadata(path).map_err(|e| JournalError::io(path, "inspect", e))?;
        Ok(FileIdentity {
            dev: m.dev(),
            ino: m.ino(),
        })
    }

    /// Fails with `Replaced` unless the file at `path` is still this one.
    pub(crate) fn check(&self, path: &Path) -> Result<(), JournalError> {
        let what = match std::fs::metadata(path) {
            Ok(m) if m.dev() == self.dev && m.ino() == self.ino => return Ok(()),
            Ok(_) => "was replaced by another file",
            Err(e) if e.kind() == io::ErrorKind::NotFound => "was deleted or moved away",
            Err(e) => {
                return Err(JournalError::WriteFailed {
                    path: path.to_path_buf(),
                    detail: format!("cannot check that the journal file is still in place: {e}"),
                });
            }
        };
        Err(JournalError::Replaced {
            path: path.to_path_buf(),
            what: what.into(),
        })
    }
}
