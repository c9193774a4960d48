//! The journal's on-disk layout: table definitions, key spellings and the JSON codec.
//!
//! Values are JSON (serde_json) so that a journal stays readable with generic tools and so that
//! adding an optional field to a record does not need a schema bump.

use std::path::Path;

use redb::TableDefinition;
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::JournalError;
use super::types::{Operation, StepKey};
use crate::snapshot::Kind;

/// Bumped when a change would be misread by an older dmm; an older dmm refuses a newer journal.
pub const SCHEMA_VERSION: u32 = 1;

/// Journal-wide facts (schema version, snapshot binding), UTF-8 text values.
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Run id → JSON `RunRecord`. Ids start at 1.
pub(crate) const RUNS: TableDefinition<u64, &[u8]> = TableDefinition::new("runs");
/// `"<op>/<kind slug>/<execution id>"` → JSON `StepRecord`.
pub(crate) const STEPS: TableDefinition<&str, &[u8]> = TableDefinition::new("steps");
/// Sequence number → JSON `Event`. Append-only; seq starts at 1.
pub(crate) const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
/// Sequence number → JSON `VerificationRecord`. Starts at 1.
pub(crate) const VERIFICATIONS: TableDefinition<u64, &[u8]> = TableDefinition::new("verifications");

pub(crate) const META_SCHEMA_VERSION: &str = "schema_version";
pub(crate) const META_SNAPSHOT_SHA256: &str = "snapshot_sha256";
pub(crate) const META_SNAPSHOT_PATH: &str = "snapshot_path";
pub(crate) const META_CREATED_AT: &str = "created_at";
pub(crate) const META_TOOL_VERSION: &str = "tool_version";
/// JSON: what `dmm snapshot` saw (when, which host, what it could not read). Optional: a
/// journal made for a snapshot of the earlier tool has none.
pub(crate) const META_SNAPSHOT_SCAN: &str = "snapshot_scan";
/// `"<seq> <sha256>"` of the last event of the hash chain (`chain.rs`). Absent in a journal
/// whose events were all written before the chain existed.
pub(crate) const META_CHAIN_HEAD: &str = "events_chain_head";

/// The steps table key. The execution id comes last, so an id containing `/` stays unambiguous.
pub(crate) fn step_key(key: &StepKey) -> String {
    format!("{}{}/{}", op_prefix(key.op), key.kind.slug(), key.execution)
}

/// Every step of one operation shares this key prefix ("shutdown/").
pub(crate) fn op_prefix(op: Operation) -> String {
    format!("{}/", op.as_str())
}

/// Every step of one kind in one operation shares this key prefix ("restore/job/").
pub(crate) fn kind_prefix(op: Operation, kind: Kind) -> String {
    format!("{}{}/", op_prefix(op), kind.slug())
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain structs to a Vec cannot fail (no maps with non-string keys).
    serde_json::to_vec(value).unwrap_or_default()
}

/// Decodes a stored record; a record that does not decode means the file is damaged.
pub(crate) fn decode<T: DeserializeOwned>(
    path: &Path,
    table: &str,
    key: impl std::fmt::Display,
    bytes: &[u8],
) -> Result<T, JournalError> {
    serde_json::from_slice(bytes).map_err(|e| {
        JournalError::corrupt(path, format!("{table} record {key} does not decode: {e}"))
    })
}

/// Now, as RFC 3339 UTC (with the clock's sub-second digits).
/// Now, as every journal record writes time: RFC 3339, UTC.
pub fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}
