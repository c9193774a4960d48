//! The write-ahead journal: one redb file per snapshot recording every step of every run.
//!
//! Knows redb tables, transactions, the event log and the snapshot binding; knows nothing of HTTP
//! or Domino.
//!
//! - `Journal` holds the file for writing (one process at a time) and commits every change
//!   durably; `JournalWriter` batches concurrent steps' transitions into shared commits.
//! - `JournalReader` reads the file without the write lock, alongside a running `Journal`.
//! - Both read through the `JournalRead` trait.
mod chain;
mod chain_report;
mod error;
mod identity;
mod location;
mod meta;
mod mismatch;
mod open;
mod operator;
mod read;
mod schema;
mod scratch;
mod special;
mod store;
mod truncation;
mod types;
mod writer;

pub use chain::{ChainBreak, ChainReport, ExpectedHead, HeadCheck};
pub use error::JournalError;
pub use location::path_for;
pub use mismatch::Mismatch;
pub use read::{Damaged, JournalRead, JournalReader, Readable};
pub use schema::{SCHEMA_VERSION, now_rfc3339};
pub use store::Journal;
pub use types::*;
pub use writer::JournalWriter;

/// Whether a process holds the journal at `path` for writing now (a run in progress), found by
/// a read-only look that never writes (it holds redb's lock only for the instant of the look).
/// A missing or damaged file is an error.
pub fn is_held(path: &std::path::Path) -> Result<bool, JournalError> {
    open::check_exists(path)?;
    match open::probe(path) {
        Ok(_) => Ok(false),
        Err(JournalError::Locked { .. }) => Ok(true),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests;
