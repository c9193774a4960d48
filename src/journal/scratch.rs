//! A private copy of a journal in a temporary directory, for looking at a file without any risk
//! of changing it: redb writes to a file it opens for writing when the file needs recovery, before
//! any callback could refuse, so everything that might need recovery happens on a copy first.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::snapshot::create_private;

use super::JournalError;

/// A directory only its owner can enter, removed with everything in it on drop.
#[derive(Debug)]
pub(crate) struct ScratchDir {
    dir: PathBuf,
}

impl ScratchDir {
    fn new() -> io::Result<ScratchDir> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "dmm-journal-{}-{nanos}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            // The journal names every execution and owner; a copy must be as private as it.
            builder.mode(0o700);
        }
        builder.create(&dir)?;
        Ok(ScratchDir { dir })
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Copies the journal at `path` into a new scratch directory; returns the directory (keep it
/// alive while the copy is used) and the copy's path. Reads `path` only.
pub(crate) fn copy_journal(path: &Path) -> Result<(ScratchDir, PathBuf), JournalError> {
    let scratch =
        ScratchDir::new().map_err(|e| JournalError::io(path, "make a scratch copy of", e))?;
    let copy = scratch.dir.join("journal.redb");
    let mut source = fs::File::open(path).map_err(|e| JournalError::io(path, "read", e))?;
    let mut target =
        create_private(&copy).map_err(|e| JournalError::io(path, "make a scratch copy of", e))?;
    io::copy(&mut source, &mut target).map_err(|e| JournalError::io(path, "copy", e))?;
    Ok((scratch, copy))
}
