//! The write-ahead journal: one redb file per snapshot recording every step of every run.
//!
//! Knows redb tables, transactions, the event log and the snapshot binding; knows nothing of HTTP
//! or Domino.
mod types;
pub use types::*;
