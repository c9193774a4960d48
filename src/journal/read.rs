//! Reading a journal: one trait over a redb read transaction, shared by the writing `Journal`
//! and the lock-free `JournalReader`.

use std::path::{Path, PathBuf};

use redb::{Database, ReadOnlyDatabase, ReadTransaction, ReadableDatabase, ReadableTable};
use redb::{DatabaseError, TableDefinition};
use serde::de::DeserializeOwned;

use super::JournalError;
use super::meta::{check_binding, read_meta};
use super::open::{self, VerifiedCopy};
use super::schema::{self, EVENTS, META, RUNS, STEPS, VERIFICATIONS};
use super::types::{Event, JournalMeta, Operation, RunRecord, StepRecord, VerificationRecord};
use crate::snapshot::Kind;

/// Read access to a journal. Each call reads one consistent commit.
pub trait JournalRead {
    /// The journal file, for messages.
    fn path(&self) -> &Path;

    /// A read transaction on the latest commit. Not meant to be called from outside the journal.
    #[doc(hidden)]
    fn begin_read(&self) -> Result<ReadTransaction, JournalError>;

    fn meta(&self) -> Result<JournalMeta, JournalError> {
        read_guarded(self, read_meta)
    }

    /// Every run, oldest first.
    fn runs(&self) -> Result<Vec<RunRecord>, JournalError> {
        read_guarded(self, |txn, path| read_all(txn, path, RUNS, "runs"))
    }

    /// The steps of one operation, or of all, sorted by `StepKey`.
    fn steps(&self, op: Option<Operation>) -> Result<Vec<StepRecord>, JournalError> {
        let prefix = op.map(schema::op_prefix).unwrap_or_default();
        read_guarded(self, |txn, path| read_steps(txn, path, &prefix))
    }

    /// The steps of one kind in one operation, sorted by `StepKey`: a range of the table, so
    /// that a caller that needs one kind does not decode every step of the run.
    fn steps_of_kind(&self, op: Operation, kind: Kind) -> Result<Vec<StepRecord>, JournalError> {
        let prefix = schema::kind_prefix(op, kind);
        read_guarded(self, |txn, path| read_steps(txn, path, &prefix))
    }

    /// The audit log, in sequence order.
    fn events(&self) -> Result<Vec<Event>, JournalError> {
        read_guarded(self, |txn, path| read_all(txn, path, EVENTS, "events"))
    }

    /// Walks the hash chain over the event log (`chain.rs`): where, if anywhere, an event was
    /// changed, removed or inserted since it was written.
    fn verify_chain(&self) -> Result<super::ChainReport, JournalError> {
        self.verify_chain_against(None)
    }

    /// [`JournalRead::verify_chain`], and whether the chain holds `expected`, a head kept
    /// outside the file (a file alone cannot show that its newest events were not removed
    /// together with every record of them).
    fn verify_chain_against(
        &self,
        expected: Option<&super::ExpectedHead>,
    ) -> Result<super::ChainReport, JournalError> {
        read_guarded(self, |txn, path| super::chain::verify(txn, path, expected))
    }

    /// The chain's head now: the last event's sequence number and digest.
    fn chain_head(&self) -> Result<super::ChainHead, JournalError> {
        read_guarded(self, super::chain::head)
    }

    /// What the scan behind the snapshot saw, if `dmm snapshot` recorded it.
    fn snapshot_scan(&self) -> Result<Option<serde_json::Value>, JournalError> {
        read_guarded(self, |txn, path| {
            read_scan(txn, path)?
                .transpose()
                .map_err(|damage| damage.into_error(path))
        })
    }

    /// Every verification pass, oldest first.
    fn verifications(&self) -> Result<Vec<VerificationRecord>, JournalError> {
        read_guarded(self, |txn, path| {
            read_all(txn, path, VERIFICATIONS, "verifications")
        })
    }

    /// Every record that decodes, in one commit, and each one that does not: what a damaged
    /// journal can still tell (`dmm report` shows it, with the damage stated) and where it is
    /// damaged (`dmm journal --verify` lists it: the hash chain covers the events only, and a
    /// step, run or verification that does not decode stops a resume as surely).
    fn readable(&self) -> Result<Readable, JournalError> {
        read_guarded(self, |txn, path| {
            let mut damaged = Vec::new();
            let runs = read_all_readable(txn, path, RUNS, "runs", &mut damaged)?;
            let mut steps: Vec<StepRecord> =
                read_all_readable(txn, path, STEPS, "steps", &mut damaged)?;
            // The table's string order differs from `StepKey`'s, as in `read_steps`.
            steps.sort_by(|a, b| a.key.cmp(&b.key));
            let events = read_all_readable(txn, path, EVENTS, "events", &mut damaged)?;
            let verifications =
                read_all_readable(txn, path, VERIFICATIONS, "verifications", &mut damaged)?;
            let scan = read_scan(txn, path)?
                .and_then(|scan| scan.map_err(|damage| damaged.push(damage)).ok());
            Ok(Readable {
                runs,
                steps,
                events,
                verifications,
                scan,
                damaged,
            })
        })
    }
}

/// The journal as far as it decodes ([`JournalRead::readable`]).
#[derive(Debug, Default)]
pub struct Readable {
    pub runs: Vec<RunRecord>,
    /// Sorted by `StepKey`.
    pub steps: Vec<StepRecord>,
    pub events: Vec<Event>,
    pub verifications: Vec<VerificationRecord>,
    pub scan: Option<serde_json::Value>,
    /// The records that do not decode, in table order.
    pub damaged: Vec<Damaged>,
}

/// One stored record that does not decode: the file is damaged there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damaged {
    /// `runs`, `steps`, `events`, `verifications` or `meta`.
    pub table: &'static str,
    /// Its key: a sequence number, a step's key, a meta name.
    pub key: String,
    pub error: String,
}

impl Damaged {
    /// The error of a strict read, which stops at the first record that does not decode.
    fn into_error(self, path: &Path) -> JournalError {
        JournalError::corrupt(path, self.to_string())
    }

    fn new(table: &'static str, key: impl std::fmt::Display, error: &serde_json::Error) -> Self {
        Damaged {
            table,
            key: key.to_string(),
            error: error.to_string(),
        }
    }
}

impl std::fmt::Display for Damaged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} record {} does not decode: {}",
            self.table, self.key, self.error
        )
    }
}

/// [`read_all`], keeping the records that decode and naming the others in `damaged`.
fn read_all_readable<K, T>(
    txn: &ReadTransaction,
    path: &Path,
    table: TableDefinition<K, &[u8]>,
    name: &'static str,
    damaged: &mut Vec<Damaged>,
) -> Result<Vec<T>, JournalError>
where
    K: redb::Key + 'static,
    for<'a> K::SelfType<'a>: std::fmt::Display,
    T: DeserializeOwned,
{
    let mut out = Vec::new();
    each_record(txn, path, table, name, |record| {
        match record {
            Ok(record) => out.push(record),
            Err(damage) => damaged.push(damage),
        }
        Ok(())
    })?;
    Ok(out)
}

/// Runs one read in its own transaction. redb may panic rather than fail on a page damaged
/// after the file was checked (or, for a shared reader, never checked: it cannot copy a file a
/// writer is changing), so a panic becomes `Corrupt`.
fn read_guarded<R: JournalRead + ?Sized, T>(
    reader: &R,
    read: impl FnOnce(&ReadTransaction, &Path) -> Result<T, JournalError>,
) -> Result<T, JournalError> {
    let txn = reader.begin_read()?;
    let path = reader.path();
    open::guarded(path, || read(&txn, path))?
}

/// A journal opened for reading only, without taking the write lock, so that `dmm status` and
/// `dmm journal` work while a run holds the journal.
///
/// How: the writer opens the file in redb's `SingleWriter` concurrency mode, in which any number
/// of processes may open it read-only alongside the one writer and see each of its commits (redb
/// 4.5+; byte-range locks). When that cannot be done without changing the file, the reader falls
/// back to a private, integrity-checked copy in a temporary directory, which shows the last
/// commit at the time of opening:
/// - the file needs recovery (its writer crashed or was killed and no run has reopened it):
///   recovering it would write to it, so the copy is recovered instead;
/// - the file is held by a process not in `SingleWriter` mode (an older dmm, or another dmm's
///   brief read-only probe while it starts): redb refuses a shared reader then.
pub struct JournalReader {
    path: PathBuf,
    source: ReaderSource,
}

enum ReaderSource {
    /// The real file, shared with a writer if there is one.
    Shared(ReadOnlyDatabase),
    /// A private copy (see `JournalReader`).
    Copy(VerifiedCopy),
}

impl JournalReader {
    /// Opens the journal at `path` for reading. Does not check the snapshot binding (see
    /// [`JournalReader::open_bound`]), but refuses a newer schema.
    pub fn open(path: &Path) -> Result<JournalReader, JournalError> {
        open::check_exists(path)?;
        let source = match open::open_shared_reader(path)? {
            Ok(db) => ReaderSource::Shared(db),
            Err(DatabaseError::RepairAborted | DatabaseError::DatabaseAlreadyOpen) => {
                ReaderSource::Copy(open::verified_copy(path)?)
            }
            Err(e) => return Err(JournalError::from_redb(path, e)),
        };
        let reader = JournalReader {
            path: path.to_path_buf(),
            source,
        };
        // Refuses a newer schema and a file without our meta before anyone reads records.
        reader.meta()?;
        Ok(reader)
    }

    /// Opens the journal at `path` for reading and refuses it unless it was made for the
    /// snapshot with this SHA-256: the one check every reader of a snapshot's journal makes.
    pub fn open_bound(path: &Path, snapshot_sha256: &str) -> Result<JournalReader, JournalError> {
        let reader = JournalReader::open(path)?;
        check_binding(path, &reader.meta()?, snapshot_sha256, None)?;
        Ok(reader)
    }

    /// [`JournalReader::open_bound`], given the snapshot file too, so that a refusal can say
    /// that this file changed since the journal was made for it.
    pub fn open_for(
        path: &Path,
        snapshot_sha256: &str,
        snapshot: &Path,
    ) -> Result<JournalReader, JournalError> {
        let reader = JournalReader::open(path)?;
        check_binding(path, &reader.meta()?, snapshot_sha256, Some(snapshot))?;
        Ok(reader)
    }

    /// Whether this reader shows a private copy taken at open rather than the live file.
    pub fn is_snapshot_copy(&self) -> bool {
        matches!(self.source, ReaderSource::Copy(_))
    }
}

impl JournalRead for JournalReader {
    fn path(&self) -> &Path {
        &self.path
    }

    fn begin_read(&self) -> Result<ReadTransaction, JournalError> {
        let txn = match &self.source {
            ReaderSource::Shared(db) => db.begin_read(),
            ReaderSource::Copy(copy) => copy.db.begin_read(),
        };
        txn.map_err(|e| JournalError::from_redb(&self.path, e))
    }
}

/// A read transaction on a writable database, for `Journal`.
pub(crate) fn begin_read_on(db: &Database, path: &Path) -> Result<ReadTransaction, JournalError> {
    db.begin_read()
        .map_err(|e| JournalError::from_redb(path, e))
}

/// Every record of a table keyed by sequence number, in key order; the first that does not
/// decode fails the read.
fn read_all<T: DeserializeOwned>(
    txn: &ReadTransaction,
    path: &Path,
    table: TableDefinition<u64, &[u8]>,
    name: &'static str,
) -> Result<Vec<T>, JournalError> {
    let mut out = Vec::new();
    each_record(txn, path, table, name, |record| {
        out.push(record.map_err(|damage| damage.into_error(path))?);
        Ok(())
    })?;
    Ok(out)
}

/// Hands `take` each record of a table in key order, decoded or as the damage it is: one walk
/// for the strict readers, which stop at the first record that does not decode, and for
/// [`JournalRead::readable`], which keeps going and names each.
fn each_record<K, T>(
    txn: &ReadTransaction,
    path: &Path,
    table: TableDefinition<K, &[u8]>,
    name: &'static str,
    mut take: impl FnMut(Result<T, Damaged>) -> Result<(), JournalError>,
) -> Result<(), JournalError>
where
    K: redb::Key + 'static,
    for<'a> K::SelfType<'a>: std::fmt::Display,
    T: DeserializeOwned,
{
    let table = txn
        .open_table(table)
        .map_err(|e| JournalError::from_redb(path, e))?;
    for entry in table.iter().map_err(|e| JournalError::from_redb(path, e))? {
        let (key, value) = entry.map_err(|e| JournalError::from_redb(path, e))?;
        take(
            serde_json::from_slice(value.value()).map_err(|e| Damaged::new(name, key.value(), &e)),
        )?;
    }
    Ok(())
}

/// What the scan behind the snapshot saw, if recorded: decoded, or as the damage it is.
fn read_scan(
    txn: &ReadTransaction,
    path: &Path,
) -> Result<Option<Result<serde_json::Value, Damaged>>, JournalError> {
    let table = txn
        .open_table(META)
        .map_err(|e| JournalError::from_redb(path, e))?;
    let value = table
        .get(schema::META_SNAPSHOT_SCAN)
        .map_err(|e| JournalError::from_redb(path, e))?;
    Ok(value.map(|v| {
        serde_json::from_slice(v.value())
            .map_err(|e| Damaged::new("meta", schema::META_SNAPSHOT_SCAN, &e))
    }))
}

fn read_steps(
    txn: &ReadTransaction,
    path: &Path,
    prefix: &str,
) -> Result<Vec<StepRecord>, JournalError> {
    let table = txn
        .open_table(STEPS)
        .map_err(|e| JournalError::from_redb(path, e))?;
    let mut out: Vec<StepRecord> = Vec::new();
    let entries = table
        .range(prefix..)
        .map_err(|e| JournalError::from_redb(path, e))?;
    for entry in entries {
        let (key, value) = entry.map_err(|e| JournalError::from_redb(path, e))?;
        if !key.value().starts_with(prefix) {
            break;
        }
        out.push(schema::decode(path, "steps", key.value(), value.value())?);
    }
    // The table's string order differs from `StepKey`'s (kind slugs sort alphabetically);
    // callers get the type's order.
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}
