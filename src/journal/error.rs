//! What can go wrong with a journal, each case one line that names the file.
//!
//! The CLI maps `Locked` to exit code 4 and everything else to its own codes, so the variants say
//! *why* (held elsewhere, wrong snapshot, damaged) rather than which redb call failed.

use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(
        "journal {path} is held by another process (another dmm run?); wait for it to end (`dmm status` names the process), and never work around it with a copy or another --journal: two journals for one snapshot no longer tell one story"
    )]
    Locked { path: PathBuf },

    #[error(
        "{}",
        super::mismatch::describe(path, expected, found, made_for, mismatch)
    )]
    WrongSnapshot {
        path: PathBuf,
        expected: String,
        found: String,
        /// The snapshot path the journal recorded when it was made (display only).
        made_for: String,
        /// Which of the two files is not the one the other was made with, as far as the files
        /// tell: the snapshot changed, or the journal was replaced. Boxed: it is rare, and
        /// every journal result carries the error's size.
        mismatch: Box<super::Mismatch>,
    },

    #[error(
        "journal {path} has schema version {found}, newer than the {supported} this dmm understands; use a newer dmm"
    )]
    NewerSchema {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    #[error(
        "journal {path} is damaged ({detail}); it was left unchanged: keep it for the audit (a copy can be inspected with `dmm journal --journal COPY`), and use --journal to start a new one"
    )]
    Corrupt { path: PathBuf, detail: String },

    #[error(
        "{path} is not a journal file ({what}); give --journal the journal dmm made for this snapshot, or a new file name"
    )]
    NotAJournal { path: PathBuf, what: String },

    #[error("journal {path} does not exist")]
    NotFound { path: PathBuf },

    #[error("cannot {action} journal {path}: {source}")]
    Io {
        path: PathBuf,
        /// What was being done ("create", "read", "copy"), so the line reads on its own.
        action: &'static str,
        #[source]
        source: io::Error,
    },

    #[error("journal {path}: storage error: {detail}")]
    Storage { path: PathBuf, detail: String },

    #[error("journal {path} has no run {run}")]
    UnknownRun { path: PathBuf, run: u64 },

    #[error("journal {path} has no step {key}; plan it before changing its phase")]
    UnknownStep { path: PathBuf, key: String },

    #[error("journal {path}: run {run} is a {expected} run, but a {found} step was planned in it")]
    WrongOperation {
        path: PathBuf,
        run: u64,
        expected: String,
        found: String,
    },

    #[error("journal {path}: the journal writer has stopped")]
    WriterStopped { path: PathBuf },

    /// A transaction on an open journal could not be made durable (a full disk, a file size
    /// limit, an I/O error): nothing of it was written, what was committed before stands.
    #[error("cannot write to journal {path}: {detail}")]
    WriteFailed { path: PathBuf, detail: String },

    /// The file at the journal's path is no longer the one this process opened (deleted,
    /// renamed, or replaced by another file): writing on would record into a file nobody reads.
    #[error(
        "journal {path} {what} while this run held it; nothing more was recorded or sent: put the journal back at {path} (or pass --journal with its new path), then run the same command again"
    )]
    Replaced { path: PathBuf, what: String },
}

impl JournalError {
    pub(crate) fn io(path: &Path, action: &'static str, source: io::Error) -> Self {
        JournalError::Io {
            path: path.to_path_buf(),
            action,
            source,
        }
    }

    pub(crate) fn corrupt(path: &Path, detail: impl Into<String>) -> Self {
        JournalError::Corrupt {
            path: path.to_path_buf(),
            detail: detail.into(),
        }
    }

    /// Maps a redb error. Damage is `Corrupt`; a lock held elsewhere is `Locked`; an I/O error
    /// that means the bytes are not a database (short read, invalid data) is `Corrupt` too,
    /// because it is the file and not the disk that is wrong.
    pub(crate) fn from_redb(path: &Path, err: impl Into<redb::Error>) -> Self {
        use redb::Error as E;
        let path_buf = path.to_path_buf();
        match err.into() {
            E::DatabaseAlreadyOpen | E::LockProtocolMismatch => {
                JournalError::Locked { path: path_buf }
            }
            E::Corrupted(detail) => JournalError::corrupt(path, detail),
            E::RepairAborted => JournalError::corrupt(
                path,
                "the file was not closed cleanly and needs recovery, which was not allowed here",
            ),
            E::UpgradeRequired(v) => JournalError::corrupt(
                path,
                format!("redb file format {v} is not supported by this build"),
            ),
            E::TableDoesNotExist(table) => JournalError::corrupt(
                path,
                format!("it has no {table} table; is it a dmm journal?"),
            ),
            E::TableTypeMismatch { table, .. } | E::TableIsMultimap(table) => {
                JournalError::corrupt(path, format!("table {table} has an unexpected type"))
            }
            E::Io(source)
                if matches!(
                    source.kind(),
                    io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData
                ) =>
            {
                JournalError::corrupt(path, format!("not a readable journal: {source}"))
            }
            E::Io(source) => JournalError::io(path, "access", source),
            // redb refuses every write after one failed; the failure itself was reported by
            // the write that met it, this one only repeats that the file is in that state.
            E::PreviousIo => JournalError::Storage {
                path: path_buf,
                detail: "an earlier write to it failed, so the file takes no more writes in this process".into(),
            },
            other => JournalError::Storage {
                path: path_buf,
                detail: other.to_string(),
            },
        }
    }

    /// An error of the storage under a write transaction of an open journal, as opposed to
    /// one about what the transaction asked (an unknown step, a run of the other operation),
    /// which passes through unchanged.
    pub(crate) fn in_write(self) -> Self {
        match self {
            JournalError::Io { path, source, .. } => JournalError::WriteFailed {
                path,
                detail: source.to_string(),
            },
            JournalError::Storage { path, detail } => JournalError::WriteFailed { path, detail },
            other => other,
        }
    }

    /// Whether a write to an open journal failed: the run cannot go on recording, and stops
    /// where the journal stands (resumable once the cause is fixed).
    pub fn is_write_failure(&self) -> bool {
        matches!(
            self,
            JournalError::WriteFailed { .. }
                | JournalError::WriterStopped { .. }
                | JournalError::Replaced { .. }
        )
    }

    /// Whether the disk had no room for what was written (a full disk, or a file size limit):
    /// nothing is wrong with the journal, the same command succeeds once there is room.
    pub fn is_out_of_room(&self) -> bool {
        match self {
            JournalError::Io { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::StorageFull
                    | io::ErrorKind::FileTooLarge
                    | io::ErrorKind::QuotaExceeded
            ),
            _ => false,
        }
    }

    /// The journal file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            JournalError::Locked { path }
            | JournalError::WrongSnapshot { path, .. }
            | JournalError::NewerSchema { path, .. }
            | JournalError::Corrupt { path, .. }
            | JournalError::NotFound { path }
            | JournalError::NotAJournal { path, .. }
            | JournalError::Io { path, .. }
            | JournalError::Storage { path, .. }
            | JournalError::UnknownRun { path, .. }
            | JournalError::UnknownStep { path, .. }
            | JournalError::WrongOperation { path, .. }
            | JournalError::WriterStopped { path }
            | JournalError::WriteFailed { path, .. }
            | JournalError::Replaced { path, .. } => path,
        }
    }

    /// The same error again, for each caller of a failed group commit (`io::Error` is not
    /// `Clone`, so an I/O error is rebuilt from its kind and text; others keep their variant
    /// where the CLI distinguishes it and become `Storage` otherwise).
    pub(crate) fn duplicate(&self) -> JournalError {
        let path = self.path().to_path_buf();
        match self {
            JournalError::Io { action, source, .. } => JournalError::Io {
                path,
                action,
                source: io::Error::new(source.kind(), source.to_string()),
            },
            JournalError::Locked { .. } => JournalError::Locked { path },
            JournalError::Corrupt { detail, .. } => JournalError::Corrupt {
                path,
                detail: detail.clone(),
            },
            JournalError::WriteFailed { detail, .. } => JournalError::WriteFailed {
                path,
                detail: detail.clone(),
            },
            JournalError::Replaced { what, .. } => JournalError::Replaced {
                path,
                what: what.clone(),
            },
            other => JournalError::Storage {
                path,
                detail: other.to_string(),
            },
        }
    }
}
