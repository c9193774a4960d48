//! The hash chain over the event log, which makes the audit trail tamper-evident.
//!
//! Each event stores two SHA-256 digests (hex):
//! - `prev_sha256`: the `sha256` of the event before it; for the first event, the SHA-256 of the
//!   snapshot the journal is bound to (meta `snapshot_sha256`);
//! - `sha256`: the digest of the event's *canonical encoding*: its stored JSON object without the
//!   `sha256` member, members in stored order, re-serialized compactly. `prev_sha256` is part of
//!   that encoding, so each digest covers the whole chain before it.
//!
//! Both are computed where events are appended (`StepTables::append_event`), inside the
//! transaction that writes the event. The same transaction records the chain's head (the last
//! event's sequence number and digest) in meta, so that removing the last events is seen too.
//! Removing them together with that record, or rewriting it, is looked for in what else the file
//! records about its newest events, and against a head kept outside the file (`truncation.rs`).
//!
//! Journals written before the chain existed have events without these fields. Such events are
//! reported as not covered, not as broken. When a newer dmm appends to such a journal, its chain
//! starts mid-way: its first event links to the digest of the last unchained event.
//!
//! The chain detects changes made without recomputing it (an edit with a database tool, a row
//! removed or inserted, a file spliced from two journals). Someone able to recompute every digest
//! can rewrite it: the chain is evidence, not a signature.

use std::path::Path;

use redb::{ReadTransaction, ReadableTable, Table, WriteTransaction};
use serde_json::{Map, Value};

use super::JournalError;
pub use super::chain_report::{ChainBreak, ChainReport, ExpectedHead, HeadCheck};
use super::meta::read_meta;
use super::schema::{self, EVENTS, META, META_CHAIN_HEAD, META_SNAPSHOT_SHA256};
use super::truncation;
use super::types::{ChainHead, Event};
use crate::snapshot::sha256_hex;

const SHA_FIELD: &str = "sha256";
const PREV_FIELD: &str = "prev_sha256";

/// The canonical encoding of a stored event: its JSON object without `sha256`.
fn canonical(object: &Map<String, Value>) -> Vec<u8> {
    let without: Map<String, Value> = object
        .iter()
        .filter(|(k, _)| k.as_str() != SHA_FIELD)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    serde_json::to_vec(&Value::Object(without)).unwrap_or_default()
}

fn parse(bytes: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

fn text<'a>(object: &'a Map<String, Value>, field: &str) -> Option<&'a str> {
    object.get(field).and_then(Value::as_str)
}

/// The digest of a stored event (of its canonical encoding; of its raw bytes if it is not a
/// JSON object, which only a damaged or forged row is).
fn digest_of(bytes: &[u8]) -> String {
    match parse(bytes) {
        Some(object) => sha256_hex(&canonical(&object)),
        None => sha256_hex(bytes),
    }
}

/// What the next event must carry as `prev_sha256`, given the last stored event (if any).
pub(crate) fn next_link(last: Option<&[u8]>, snapshot_sha256: &str) -> String {
    match last {
        None => snapshot_sha256.to_owned(),
        Some(bytes) => match parse(bytes).as_ref().and_then(|o| text(o, SHA_FIELD)) {
            Some(sha) => sha.to_owned(),
            // An event written before the chain: the chain starts here, from its digest.
            None => digest_of(bytes),
        },
    }
}

/// Links `event` to `prev` and returns its stored bytes, `sha256` included.
pub(crate) fn seal(event: &mut Event, prev: String) -> Vec<u8> {
    event.prev_sha256 = Some(prev);
    event.sha256 = None;
    event.sha256 = Some(digest_of(&schema::encode(&*event)));
    schema::encode(&*event)
}

/// Records the chain's head (the last event) in meta: `"<seq> <sha256>"`.
pub(crate) fn write_head(
    meta: &mut Table<&str, &[u8]>,
    seq: u64,
    sha256: &str,
) -> Result<(), redb::StorageError> {
    meta.insert(META_CHAIN_HEAD, format!("{seq} {sha256}").as_bytes())?;
    Ok(())
}

/// Walks the event log of one read transaction and checks every link, then what else the file
/// records about its newest events (`truncation.rs`), and `expected`, a head kept outside.
pub(crate) fn verify(
    txn: &ReadTransaction,
    path: &Path,
    expected: Option<&ExpectedHead>,
) -> Result<ChainReport, JournalError> {
    let redb = |e: redb::Error| JournalError::from_redb(path, e);
    let meta = read_meta(txn, path)?;
    let head = stored_head(txn, path)?;
    let mut evidence = truncation::Evidence::read(txn, path, &meta.snapshot_sha256, expected)?;
    let events = txn.open_table(EVENTS).map_err(|e| redb(e.into()))?;
    let mut walk = Walk::new(&meta.snapshot_sha256);
    for entry in events.iter().map_err(|e| redb(e.into()))? {
        let (key, value) = entry.map_err(|e| redb(e.into()))?;
        let (key, bytes) = (key.value(), value.value());
        let object = walk.row(key, bytes);
        let digest = walk.digest().to_owned();
        evidence.see(key, &digest, object.as_ref(), &mut walk.breaks);
    }
    let Walk {
        mut report,
        mut breaks,
        link,
        last_key,
        ..
    } = walk;
    ended_as_the_head_says(
        head,
        last_key,
        link.as_deref(),
        report.first_chained.is_some(),
        &mut breaks,
    );
    report.head = ChainHead {
        seq: last_key,
        sha256: link.unwrap_or_else(|| meta.snapshot_sha256.clone()),
    };
    evidence.finish(&report, &mut breaks);
    report.expected = evidence.expected_outcome(&report.head);
    breaks.sort_by_key(|b| b.seq);
    report.breaks = breaks;
    Ok(report)
}

/// The chain's head record (`seq sha256`), when the file has one that reads.
fn stored_head(txn: &ReadTransaction, path: &Path) -> Result<Option<(u64, String)>, JournalError> {
    let redb = |e: redb::Error| JournalError::from_redb(path, e);
    let table = txn.open_table(META).map_err(|e| redb(e.into()))?;
    let value = table.get(META_CHAIN_HEAD).map_err(|e| redb(e.into()))?;
    Ok(value.and_then(|v| {
        let s = String::from_utf8(v.value().to_vec()).ok()?;
        let (seq, sha) = s.split_once(' ')?;
        Some((seq.parse::<u64>().ok()?, sha.to_owned()))
    }))
}

/// Whether the log ends where its head record says: the walk's last key and link against the
/// head, or a chained log (`chained`) with no head at all. What does not hold is a break.
fn ended_as_the_head_says(
    head: Option<(u64, String)>,
    last_key: u64,
    link: Option<&str>,
    chained: bool,
    breaks: &mut Vec<ChainBreak>,
) {
    match head {
        Some((head_seq, head_sha)) => {
            if last_key < head_seq {
                let first = last_key + 1;
                breaks.push(ChainBreak {
                    seq: first,
                    what: if first == head_seq {
                        format!("event {first} was removed (the chain's head records it)")
                    } else {
                        format!(
                            "events {first} to {head_seq} were removed (the chain's head records them)"
                        )
                    },
                });
            } else if last_key > head_seq {
                breaks.push(ChainBreak {
                    seq: head_seq + 1,
                    what: format!(
                        "events after {head_seq} were added after the last one dmm recorded: inserted, or written by a dmm without the chain"
                    ),
                });
            } else if link != Some(head_sha.as_str()) && !breaks_at(breaks, last_key)
            {
                breaks.push(ChainBreak {
                    seq: last_key,
                    what: format!("event {last_key} differs from the last event dmm recorded"),
                });
            }
        }
        // dmm writes the head in the transaction of every chained event: a chained log
        // without one had it deleted, and the newest events may have gone with it.
        None if chained => breaks.push(ChainBreak {
            seq: last_key + 1,
            what: format!(
                "the chain's head record is missing although the events are chained (dmm writes it with every event): it was deleted, and events after {last_key} may have been removed with it"
            ),
        }),
        None => {}
    }
}

/// The walk over the stored rows, in key order: each row's link and content.
struct Walk<'a> {
    snapshot_sha256: &'a str,
    report: ChainReport,
    breaks: Vec<ChainBreak>,
    /// The key the next row should have.
    expected: u64,
    /// The digest of the last row seen: what the next chained event must carry.
    link: Option<String>,
    started: bool,
    last_key: u64,
}

impl<'a> Walk<'a> {
    fn new(snapshot_sha256: &'a str) -> Self {
        Walk {
            snapshot_sha256,
            report: ChainReport::default(),
            breaks: Vec::new(),
            expected: 1,
            link: None,
            started: false,
            last_key: 0,
        }
    }

    /// The digest of the last row walked (the snapshot's SHA-256 before the first).
    fn digest(&self) -> &str {
        self.link.as_deref().unwrap_or(self.snapshot_sha256)
    }

    fn push(&mut self, seq: u64, what: String) {
        self.breaks.push(ChainBreak { seq, what });
    }

    /// Notes the events missing before `key`; whether there are any.
    fn note_removed_before(&mut self, key: u64) -> bool {
        let expected = self.expected;
        if key <= expected {
            return false;
        }
        if key - 1 == expected {
            self.push(expected, format!("event {expected} was removed"));
        } else {
            self.push(
                expected,
                format!("events {expected} to {} were removed", key - 1),
            );
        }
        true
    }

    /// Checks one row; returns it parsed, when it is a JSON object.
    fn row(&mut self, key: u64, bytes: &[u8]) -> Option<Map<String, Value>> {
        self.report.events += 1;
        self.last_key = key;
        let gap = self.note_removed_before(key);
        self.expected = key + 1;
        let Some(object) = parse(bytes) else {
            self.push(
                key,
                format!("event {key} is not a JSON object: damaged or forged"),
            );
            self.link = Some(sha256_hex(bytes));
            return None;
        };
        if let Some(seq) = object.get("seq").and_then(Value::as_u64)
            && seq != key
        {
            self.push(
                key,
                format!("event {key} says it is event {seq}: moved or inserted"),
            );
        }
        let own = sha256_hex(&canonical(&object));
        let Some(stored) = text(&object, SHA_FIELD) else {
            if self.started {
                self.push(
                    key,
                    format!(
                        "event {key} carries no link although earlier events do: inserted, or written by a dmm without the chain"
                    ),
                );
            } else {
                self.report.unchained += 1;
            }
            self.link = Some(own);
            return Some(object);
        };
        if !self.started {
            self.started = true;
            self.report.first_chained = Some(key);
        }
        let expected_prev = self.link.as_deref().unwrap_or(self.snapshot_sha256);
        let content_ok = own == stored;
        let link_ok = gap || text(&object, PREV_FIELD) == Some(expected_prev);
        let first = key == 1 || self.link.is_none();
        match (content_ok, link_ok) {
            (true, true) => {}
            (false, true) => self.push(key, format!("event {key} was changed since it was written")),
            (true, false) if first => self.push(
                key,
                format!(
                    "event {key} does not link to the snapshot's SHA-256: the log was replaced or begins with an inserted event"
                ),
            ),
            (true, false) => self.push(
                key,
                format!(
                    "event {key} does not follow event {}: an event was inserted here, or the one before was replaced",
                    key - 1
                ),
            ),
            (false, false) => self.push(
                key,
                format!(
                    "event {key} was inserted or replaced: neither its content nor its link matches"
                ),
            ),
        }
        self.link = Some(stored.to_owned());
        Some(object)
    }
}

/// The chain's head in a write transaction: what a run that ends in it leaves behind.
pub(crate) fn head_in(txn: &WriteTransaction, path: &Path) -> Result<ChainHead, JournalError> {
    let storage = |e| JournalError::from_redb(path, e);
    let events = txn.open_table(EVENTS).map_err(storage)?;
    let meta = txn.open_table(META).map_err(storage)?;
    head_of(&events, &meta, path)
}

/// The chain's head as a reader sees it now.
pub(crate) fn head(txn: &ReadTransaction, path: &Path) -> Result<ChainHead, JournalError> {
    let storage = |e| JournalError::from_redb(path, e);
    let events = txn.open_table(EVENTS).map_err(storage)?;
    let meta = txn.open_table(META).map_err(storage)?;
    head_of(&events, &meta, path)
}

/// The last event's sequence number and digest (as the next event would link to it), or `0` and
/// the snapshot's SHA-256 before the first event.
fn head_of(
    events: &impl ReadableTable<u64, &'static [u8]>,
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    path: &Path,
) -> Result<ChainHead, JournalError> {
    let storage = |e: redb::StorageError| JournalError::from_redb(path, e);
    let snapshot_sha256 = meta
        .get(META_SNAPSHOT_SHA256)
        .map_err(storage)?
        .map(|v| String::from_utf8_lossy(v.value()).into_owned())
        .ok_or_else(|| JournalError::corrupt(path, "meta has no snapshot_sha256"))?;
    Ok(match events.last().map_err(storage)? {
        Some((key, value)) => ChainHead {
            seq: key.value(),
            sha256: next_link(Some(value.value()), &snapshot_sha256),
        },
        None => ChainHead {
            seq: 0,
            sha256: snapshot_sha256,
        },
    })
}

fn breaks_at(breaks: &[ChainBreak], seq: u64) -> bool {
    breaks.iter().any(|b| b.seq == seq)
}
