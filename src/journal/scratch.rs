//! A private copy of a journal, for looking at a file without any risk of changing it: redb
//! writes to a file it opens for writing when the file needs recovery, before any callback could
//! refuse, so everything that might need recovery happens on a copy first.
//!
//! The copy goes beside the journal, in a hidden folder named after it
//! (`.FILE.journal.check-PID-N`), rather than in `$TMPDIR`: a copy of a large journal is tens of
//! megabytes, and one left behind by a process killed mid-check must be found and removed. The
//! next open removes those of processes that no longer exist. Where the journal's folder cannot
//! be written or has no room for the copy, `$TMPDIR` is used.

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
    fn new(journal: &Path) -> io::Result<ScratchDir> {
        let beside = journal
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        remove_stale(beside, journal);
        ScratchDir::in_folder(beside, journal).or_else(|_| ScratchDir::in_temp(journal))
    }

    fn in_folder(folder: &Path, journal: &Path) -> io::Result<ScratchDir> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{}{}-{n}", scratch_prefix(journal), std::process::id());
        create_private_dir(&folder.join(name)).map(|dir| ScratchDir { dir })
    }

    fn in_temp(journal: &Path) -> io::Result<ScratchDir> {
        ScratchDir::in_folder(&std::env::temp_dir(), journal)
    }

    /// Whether this directory is already the fallback in `$TMPDIR`.
    fn is_in_temp(&self) -> bool {
        self.dir.parent() == Some(std::env::temp_dir().as_path())
    }
}

/// `.FILE.journal.check-`: what every scratch folder of this journal's name starts with.
fn scratch_prefix(journal: &Path) -> String {
    let file = journal
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "journal".into());
    format!(".{file}.check-")
}

fn create_private_dir(dir: &Path) -> io::Result<PathBuf> {
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        // The journal names every execution and owner; a copy must be as private as it.
        builder.mode(0o700);
    }
    builder.create(dir)?;
    Ok(dir.to_path_buf())
}

/// Removes the scratch folders of this journal left by processes that have ended (killed while
/// checking the journal). Best effort: whatever cannot be removed stays.
fn remove_stale(folder: &Path, journal: &Path) {
    let prefix = scratch_prefix(journal);
    let Ok(entries) = fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !process_exists(pid) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn process_exists(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = i32::try_from(pid) else {
            return true;
        };
        // SAFETY: kill with signal 0 only checks that the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0;
        alive || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Copies the journal at `path` into a new scratch directory; returns the directory (keep it
/// alive while the copy is used) and the copy's path. Reads `path` only.
///
/// A journal's folder with no room for a copy (the disk filled up during a run) is exactly when
/// an operator needs `status` and `journal --verify`, so a copy that fails beside the journal is
/// made again in `$TMPDIR` before giving up.
pub(crate) fn copy_journal(path: &Path) -> Result<(ScratchDir, PathBuf), JournalError> {
    let scratch =
        ScratchDir::new(path).map_err(|e| JournalError::io(path, "make a scratch copy of", e))?;
    match copy_into(path, &scratch) {
        Ok(copy) => Ok((scratch, copy)),
        Err(_) if !scratch.is_in_temp() => {
            drop(scratch);
            let temp = ScratchDir::in_temp(path)
                .map_err(|e| JournalError::io(path, "make a scratch copy of", e))?;
            let copy = copy_into(path, &temp)?;
            Ok((temp, copy))
        }
        Err(e) => Err(e),
    }
}

fn copy_into(path: &Path, scratch: &ScratchDir) -> Result<PathBuf, JournalError> {
    let copy = scratch.dir.join("journal.redb");
    let mut source = fs::File::open(path).map_err(|e| JournalError::io(path, "read", e))?;
    let mut target =
        create_private(&copy).map_err(|e| JournalError::io(path, "make a scratch copy of", e))?;
    io::copy(&mut source, &mut target)
        .map_err(|e| JournalError::io(path, "make a scratch copy of", e))?;
    Ok(copy)
}
