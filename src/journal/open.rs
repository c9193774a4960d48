//! Opening a journal file without ever making a damaged one worse.
//!
//! What redb 4.6 does that shapes this (read from its documentation and source, and checked by
//! the tests in this module):
//!
//! - `ConcurrencyMode::SingleWriter` lets one process write while any number of processes open
//!   the file read-only (`Builder::open_read_only`) and follow its commits. The writer holds
//!   byte-range locks (`fcntl` OFD locks on Linux), which conflict across processes *and* between
//!   two opens in one process; a second writer gets `DatabaseError::DatabaseAlreadyOpen`.
//! - Opening a file for writing that was not closed cleanly (the writer crashed or was killed)
//!   *writes* to it (header, then a full repair and a commit) before the repair callback is ever
//!   asked, and a file damaged outside redb may make a plain open panic (a `debug_assert` in debug
//!   builds) instead of returning `Corrupted`.
//! - A read-only open never writes, and refuses a file that needs recovery with `RepairAborted`.
//!
//! Hence: an existing journal is first looked at read-only (which also reveals a writer in
//! another process), then checked in full on a private copy (`check_integrity_on_open`), and only
//! when the copy opened, verified and carries the right meta is the real file opened for writing.
//! A file that needed recovery after a crash is then recovered by redb in place, exactly as it
//! did on the copy: that is the crash-resume the design relies on, not a repair of damage.

use std::any::Any;
use std::fs;
use std::io;
use std::path::Path;

use redb::{Builder, ConcurrencyMode, Database, DatabaseError, ReadOnlyDatabase};

use super::JournalError;
use super::meta::{check_binding, read_meta, write_meta};
use super::schema::{EVENTS, RUNS, STEPS, VERIFICATIONS};
use super::scratch::{ScratchDir, copy_journal};
use super::types::JournalMeta;

/// What a look at an existing file that changes nothing found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileState {
    /// Closed cleanly.
    Clean,
    /// Left open by a process that ended without closing it (crash, SIGKILL, power loss).
    NeedsRecovery,
}

/// The builder for every handle on the real file: one writer, readers alongside it.
fn shared_builder() -> Builder {
    let mut builder = Builder::new();
    builder.set_concurrency_mode(ConcurrencyMode::SingleWriter);
    builder.set_cache_size(JOURNAL_CACHE_BYTES);
    builder
}

/// redb's page cache for the journal. Its default (1 GiB) lets the cache grow with the file, so
/// a run of 10,000 executions, whose journal reaches tens of MiB, held most of it in memory;
/// a run reads back little of what it wrote (steps are read once per stage and for the
/// summary), and the operating system's page cache serves those reads.
const JOURNAL_CACHE_BYTES: usize = 8 * 1024 * 1024;

/// Runs redb code that may panic on a damaged file (redb trusts pages it did not verify), turning
/// the panic into `Corrupt`; the CLI's panic hook stays quiet for it.
pub(crate) fn guarded<T>(path: &Path, open: impl FnOnce() -> T) -> Result<T, JournalError> {
    crate::panic_guard::catch_quietly(open).map_err(|payload| {
        JournalError::corrupt(
            path,
            format!("redb gave up reading it: {}", panic_text(&payload)),
        )
    })
}

fn panic_text(payload: &Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unexpected internal error".to_string()
    }
}

/// Fails with `NotFound` for a missing file and `Corrupt` for an empty one (a journal is created
/// complete, by rename, so an empty file is never one of ours half-made).
pub(crate) fn check_exists(path: &Path) -> Result<(), JournalError> {
    super::special::refuse_special_file(path)?;
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(JournalError::io(
            path,
            "open",
            io::Error::new(io::ErrorKind::IsADirectory, "it is a directory"),
        )),
        Ok(m) if m.len() == 0 => Err(JournalError::corrupt(path, "the file is empty")),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(JournalError::NotFound {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(JournalError::io(path, "open", e)),
    }
}

/// Looks at an existing file read-only, in redb's default whole-file mode, so that a writer in
/// any mode, in any process, is reported as `Locked`. Never writes.
pub(crate) fn probe(path: &Path) -> Result<FileState, JournalError> {
    match guarded(path, || Builder::new().open_read_only(path))? {
        Ok(db) => {
            drop(db);
            Ok(FileState::Clean)
        }
        Err(DatabaseError::RepairAborted) => Ok(FileState::NeedsRecovery),
        Err(e) => Err(JournalError::from_redb(path, e)),
    }
}

/// A fully checked private copy of a journal, for looking at a file the real one cannot be
/// opened as (it needs recovery, or a writer outside `SingleWriter` mode holds it).
pub(crate) struct VerifiedCopy {
    pub(crate) db: Database,
    // Declared after `db` so that the database is closed before its directory is removed.
    _scratch: ScratchDir,
}

/// Copies `path` and opens the copy with a full integrity check (recovering it if it needs
/// recovery). `path` itself is only read. Any damage is `Corrupt` naming `path`.
pub(crate) fn verified_copy(path: &Path) -> Result<VerifiedCopy, JournalError> {
    let (scratch, copy) = copy_journal(path)?;
    let opened = guarded(path, || {
        Builder::new().set_check_integrity_on_open(true).open(&copy)
    })?;
    let db = opened.map_err(|e| match JournalError::from_redb(path, e) {
        // The copy is ours alone: a lock error on it can only mean the file is odd.
        JournalError::Locked { .. } => JournalError::corrupt(path, "the copy could not be locked"),
        other => other,
    })?;
    Ok(VerifiedCopy {
        db,
        _scratch: scratch,
    })
}

/// Opens the real file for writing. Call only after `probe` and `verified_copy` passed.
pub(crate) fn open_writer(path: &Path, state: FileState) -> Result<Database, JournalError> {
    let db = guarded(path, || shared_builder().open(path))?
        .map_err(|e| JournalError::from_redb(path, e))?;
    if state == FileState::NeedsRecovery {
        tracing::warn!(
            journal = %path.display(),
            "journal was not closed cleanly (crash or kill); recovered its last commit"
        );
    }
    Ok(db)
}

/// Opens the real file read-only beside a writer, if there is one.
pub(crate) fn open_shared_reader(
    path: &Path,
) -> Result<Result<ReadOnlyDatabase, DatabaseError>, JournalError> {
    guarded(path, || shared_builder().open_read_only(path))
}

/// Creates a complete journal at `path`: written under a temporary name beside it and linked
/// into place only once its meta is committed, so a journal file is never half-made. Returns
/// `false` if another process created `path` first (then nothing was changed).
pub(crate) fn create(path: &Path, meta: &JournalMeta) -> Result<bool, JournalError> {
    // Private (0600) before redb writes a byte: the journal names owners.
    let temp =
        crate::private_file::temp_beside(path).map_err(|e| JournalError::io(path, "create", e))?;
    initialize(temp.path(), path, meta)?;
    match crate::private_file::persist_new(temp, path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(JournalError::io(path, "create", e)),
    }
}

fn initialize(temp: &Path, path: &Path, meta: &JournalMeta) -> Result<(), JournalError> {
    let redb_err = |e: redb::Error| JournalError::from_redb(path, e);
    let db = Builder::new()
        .create(temp)
        .map_err(|e| redb_err(e.into()))?;
    let txn = db.begin_write().map_err(|e| redb_err(e.into()))?;
    {
        write_meta(&txn, meta).map_err(redb_err)?;
        // Every table exists from the start, so readers never meet a missing one.
        txn.open_table(RUNS).map_err(|e| redb_err(e.into()))?;
        txn.open_table(STEPS).map_err(|e| redb_err(e.into()))?;
        txn.open_table(EVENTS).map_err(|e| redb_err(e.into()))?;
        txn.open_table(VERIFICATIONS)
            .map_err(|e| redb_err(e.into()))?;
    }
    txn.commit().map_err(|e| redb_err(e.into()))?;
    db.close().map_err(|e| redb_err(e.into()))
}

/// Reads and checks the meta of a verified copy, so that a journal of another snapshot or a newer
/// schema is refused before the real file is opened for writing.
pub(crate) fn check_copy(
    path: &Path,
    copy: &VerifiedCopy,
    snapshot_sha256: &str,
    snapshot: &Path,
) -> Result<(), JournalError> {
    use redb::ReadableDatabase;
    let txn = copy
        .db
        .begin_read()
        .map_err(|e| JournalError::from_redb(path, e))?;
    let meta = read_meta(&txn, path)?;
    check_binding(path, &meta, snapshot_sha256, Some(snapshot))
}
