//! The snapshot file: what was running when `dmm snapshot` ran.
//!
//! The format is the earlier Python tool's, both ways: one JSON object whose keys are the four
//! kind labels, each an array of `{ "_id": ..., "name": ..., "owner": ... }`. That tool rejects
//! unknown top-level keys and builds its id dataclasses from `_id` with `**kwargs`, so we write
//! exactly those keys and shapes and nothing else. Metadata belongs in the journal.

mod format;
mod input;
mod kind;

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub use kind::{Kind, Source};

/// One execution as the snapshot records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Whatever the later API calls need, per kind (see `docs/domino-api.md`).
    #[serde(rename = "_id")]
    pub id: Value,
    pub name: String,
    /// The earlier tool could write `null` here when the API had no owner; keep reading it.
    #[serde(deserialize_with = "null_as_empty")]
    pub owner: String,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

impl Entry {
    /// The execution's own id, unique within its kind: the `_id` field its registry row names
    /// (`_id._id`, or `_id.key` for scheduled jobs). Journal steps are keyed by it.
    pub fn key(&self, kind: Kind) -> Result<&str, String> {
        let field = kind.id_field();
        match self.id.get(field) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s),
            Some(other) => Err(format!(
                "{kind} '{}': _id.{field} must be a non-empty string, found {other}",
                self.name
            )),
            None => Err(format!("{kind} '{}': _id has no '{field}'", self.name)),
        }
    }

    /// A string field of `_id` (`projectId`, `modelId`, `hardwareTierId`).
    pub fn id_str(&self, field: &str) -> Option<&str> {
        self.id.get(field).and_then(Value::as_str)
    }

    /// A boolean field of `_id` (`isActive`).
    pub fn id_bool(&self, field: &str) -> Option<bool> {
        self.id.get(field).and_then(Value::as_bool)
    }
}

/// The executions of a snapshot, by kind. Every kind is always present (possibly empty), because
/// the earlier tool indexes all four keys when it reads a file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    by_kind: BTreeMap<Kind, Vec<Entry>>,
}

impl Snapshot {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn entries(&self, kind: Kind) -> &[Entry] {
        self.by_kind.get(&kind).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn set(&mut self, kind: Kind, entries: Vec<Entry>) {
        self.by_kind.insert(kind, entries);
    }

    pub fn len(&self) -> usize {
        self.by_kind.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every entry with its kind, in the file's key order.
    pub fn iter(&self) -> impl Iterator<Item = (Kind, &Entry)> {
        Kind::ALL
            .iter()
            .copied()
            .flat_map(move |k| self.entries(k).iter().map(move |e| (k, e)))
    }

    /// Parses and validates a snapshot document.
    pub fn from_json(bytes: &[u8]) -> Result<Snapshot, String> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err("the file is empty".into());
        }
        // A byte order mark is no reason to refuse a file (Python's utf-8-sig writes one).
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let doc: Value = serde_json::from_slice(bytes).map_err(|e| {
            if e.is_eof() {
                format!("the file is truncated ({e})")
            } else {
                format!("not valid JSON ({e})")
            }
        })?;
        let Value::Object(map) = doc else {
            return Err("the top level must be a JSON object keyed by kind".into());
        };
        // A JSON object keeps the last of two equal keys: the first list would be dropped
        // without a word.
        if let Some(key) = input::duplicate_top_level_key(bytes) {
            return Err(format!(
                "the key '{key}' appears twice at the top level; merge its lists into one"
            ));
        }
        let mut snapshot = Snapshot::new();
        for &kind in Kind::ALL {
            snapshot.set(kind, Vec::new());
        }
        for (key, value) in map {
            let kind = Kind::from_label(&key).ok_or_else(|| {
                format!(
                    "unknown key '{key}' at the top level (expected \"App\", \"Model API Version\", \"Workspace\", \"Scheduled Job\")"
                )
            })?;
            let Value::Array(items) = value else {
                return Err(format!("'{key}' must be an array of executions"));
            };
            let mut entries = Vec::with_capacity(items.len());
            let mut seen = HashSet::new();
            for (i, item) in items.into_iter().enumerate() {
                let entry: Entry =
                    serde_json::from_value(item).map_err(|e| format!("'{key}' entry {i}: {e}"))?;
                if !entry.id.is_object() {
                    return Err(format!("'{key}' entry {i}: _id must be an object"));
                }
                let id = entry
                    .key(kind)
                    .map_err(|e| format!("'{key}' entry {i}: {e}"))?;
                if !seen.insert(id.to_owned()) {
                    return Err(format!(
                        "'{key}' entry {i}: execution {id} appears more than once"
                    ));
                }
                entries.push(entry);
            }
            snapshot.set(kind, entries);
        }
        Ok(snapshot)
    }

    /// The document as the earlier tool's `json.dump` writes it.
    pub fn to_json(&self) -> Vec<u8> {
        let mut map = serde_json::Map::new();
        for &kind in Kind::ALL {
            map.insert(
                kind.label().to_owned(),
                serde_json::to_value(self.entries(kind)).expect("entries serialize"),
            );
        }
        format::to_python_json(&Value::Object(map))
    }
}

/// A snapshot read from disk, with the digest that binds a journal to it.
#[derive(Clone, Debug)]
pub struct LoadedSnapshot {
    pub path: PathBuf,
    pub snapshot: Snapshot,
    /// Lowercase hex SHA-256 of the file's bytes.
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot read snapshot {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("snapshot {path} is not a valid snapshot: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("snapshot {path} already exists; refusing to overwrite it (choose a new file name)")]
    Exists { path: PathBuf },
    #[error("cannot write snapshot {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads and validates a snapshot file.
pub fn read(path: &Path) -> Result<LoadedSnapshot, SnapshotError> {
    // A FIFO or a device would block the read forever or never end: refused from its metadata,
    // before it is opened.
    let meta = fs::metadata(path).map_err(|source| SnapshotError::Read {
        path: path.to_owned(),
        source,
    })?;
    if !meta.is_file() {
        return Err(SnapshotError::Invalid {
            path: path.to_owned(),
            reason: format!(
                "it is {}, not a regular file",
                input::file_type_name(&meta.file_type())
            ),
        });
    }
    let bytes = fs::read(path).map_err(|source| SnapshotError::Read {
        path: path.to_owned(),
        source,
    })?;
    let snapshot = Snapshot::from_json(&bytes).map_err(|reason| SnapshotError::Invalid {
        path: path.to_owned(),
        reason,
    })?;
    Ok(LoadedSnapshot {
        path: path.to_owned(),
        sha256: sha256_hex(&bytes),
        snapshot,
    })
}

/// Fails early, before any scan, when the destination already exists or its folder is missing.
pub fn check_writable(path: &Path) -> Result<(), SnapshotError> {
    if path.exists() {
        return Err(SnapshotError::Exists {
            path: path.to_owned(),
        });
    }
    let dir = parent_dir(path);
    if !dir.is_dir() {
        return Err(SnapshotError::Write {
            path: path.to_owned(),
            source: io::Error::new(io::ErrorKind::NotFound, "its folder does not exist"),
        });
    }
    Ok(())
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes a new snapshot file atomically with mode 0600: a temporary file beside it, fsync,
/// then a link into place that fails if the name was taken in the meantime. A crash leaves either
/// no file or the whole file, never half of one. Returns the SHA-256 of what was written.
pub fn write_new(path: &Path, snapshot: &Snapshot) -> Result<String, SnapshotError> {
    let bytes = snapshot.to_json();
    let werr = |source| SnapshotError::Write {
        path: path.to_owned(),
        source,
    };
    check_writable(path)?;
    if let Err(e) = crate::private_file::create_new(path, &bytes) {
        if e.kind() == io::ErrorKind::AlreadyExists {
            return Err(SnapshotError::Exists {
                path: path.to_owned(),
            });
        }
        return Err(werr(e));
    }
    Ok(sha256_hex(&bytes))
}

/// Creates a new file readable by its owner only: snapshots name every execution and owner.
pub fn create_private(path: &Path) -> io::Result<fs::File> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

#[cfg(test)]
mod tests;
