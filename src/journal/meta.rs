//! The journal's meta table in one place: what a new journal records about itself, reading it
//! back, and the binding of a journal to its snapshot.
//!
//! A journal is bound to the snapshot it was made for by the SHA-256 of the snapshot file's
//! bytes. Every opener, writer or reader, goes through [`check_binding`], so a journal is never
//! applied to another snapshot (the plan would name other executions than the steps).

use std::path::Path;

use redb::{ReadTransaction, WriteTransaction};

use super::JournalError;
use super::schema::{
    META, META_CREATED_AT, META_SCHEMA_VERSION, META_SNAPSHOT_PATH, META_SNAPSHOT_SHA256,
    META_TOOL_VERSION, SCHEMA_VERSION,
};
use super::types::JournalMeta;

/// Writes a new journal's meta, in the transaction that creates the file.
pub(crate) fn write_meta(txn: &WriteTransaction, meta: &JournalMeta) -> Result<(), redb::Error> {
    let mut table = txn.open_table(META)?;
    let version = meta.schema_version.to_string();
    for (key, value) in [
        (META_SCHEMA_VERSION, version.as_str()),
        (META_SNAPSHOT_SHA256, meta.snapshot_sha256.as_str()),
        (META_SNAPSHOT_PATH, meta.snapshot_path.as_str()),
        (META_CREATED_AT, meta.created_at.as_str()),
        (META_TOOL_VERSION, meta.tool_version.as_str()),
    ] {
        table.insert(key, value.as_bytes())?;
    }
    Ok(())
}

/// Reads the meta table. A schema newer than ours is `NewerSchema` before anything else is read,
/// since the other fields may not mean what we think.
pub(crate) fn read_meta(txn: &ReadTransaction, path: &Path) -> Result<JournalMeta, JournalError> {
    let table = txn
        .open_table(META)
        .map_err(|e| JournalError::from_redb(path, e))?;
    let text = |key: &str| -> Result<String, JournalError> {
        let value = table
            .get(key)
            .map_err(|e| JournalError::from_redb(path, e))?
            .ok_or_else(|| JournalError::corrupt(path, format!("meta has no {key}")))?;
        String::from_utf8(value.value().to_vec())
            .map_err(|_| JournalError::corrupt(path, format!("meta {key} is not text")))
    };
    let version = text(META_SCHEMA_VERSION)?;
    let schema_version: u32 = version.trim().parse().map_err(|_| {
        JournalError::corrupt(
            path,
            format!("meta schema_version is not a number: {version:?}"),
        )
    })?;
    if schema_version > SCHEMA_VERSION {
        return Err(JournalError::NewerSchema {
            path: path.to_path_buf(),
            found: schema_version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(JournalMeta {
        schema_version,
        snapshot_sha256: text(META_SNAPSHOT_SHA256)?,
        snapshot_path: text(META_SNAPSHOT_PATH)?,
        created_at: text(META_CREATED_AT)?,
        tool_version: text(META_TOOL_VERSION)?,
    })
}

/// The meta a new journal starts with.
pub(crate) fn new_meta(snapshot_sha256: &str, snapshot_path: &Path) -> JournalMeta {
    JournalMeta {
        schema_version: SCHEMA_VERSION,
        snapshot_sha256: snapshot_sha256.to_string(),
        snapshot_path: snapshot_path.display().to_string(),
        created_at: super::schema::now_rfc3339(),
        tool_version: crate::TOOL_VERSION.to_string(),
    }
}

/// Refuses a journal made for another snapshot. `snapshot`, the file given now, only words the
/// refusal: whether that file changed since the journal was made for it, or the journal is
/// another snapshot's (`mismatch.rs`).
pub(crate) fn check_binding(
    path: &Path,
    meta: &JournalMeta,
    snapshot_sha256: &str,
    snapshot: Option<&Path>,
) -> Result<(), JournalError> {
    if meta.snapshot_sha256.eq_ignore_ascii_case(snapshot_sha256) {
        return Ok(());
    }
    Err(JournalError::WrongSnapshot {
        path: path.to_path_buf(),
        expected: snapshot_sha256.to_string(),
        found: meta.snapshot_sha256.clone(),
        made_for: meta.snapshot_path.clone(),
        mismatch: Box::new(super::mismatch::judge(path, meta, snapshot)),
    })
}
