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
//!
//! Journals written before the chain existed have events without these fields. Such events are
//! reported as not covered, not as broken. When a newer dmm appends to such a journal, its chain
//! starts mid-way: its first event links to the digest of the last unchained event.
//!
//! The chain detects changes made without recomputing it (an edit with a database tool, a row
//! removed or inserted, a file spliced from two journals). Someone able to recompute every digest
//! can rewrite it: the chain is evidence, not a signature.

use std::path::Path;

use redb::{ReadTransaction, ReadableTable, Table};
use serde_json::{Map, Value};

use super::JournalError;
use super::meta::read_meta;
use super::schema::{self, EVENTS, META, META_CHAIN_HEAD};
use super::types::Event;
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

/// One place where the chain does not hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainBreak {
    /// The sequence number where it shows.
    pub seq: u64,
    /// What is wrong there, as a sentence fragment ("event 5 was changed since it was written").
    pub what: String,
}

/// What walking the chain found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainReport {
    /// Events in the log.
    pub events: u64,
    /// Events written before the chain existed (at the start of the log); not covered.
    pub unchained: u64,
    /// The first event that carries a link, if any.
    pub first_chained: Option<u64>,
    /// Where the chain does not hold, in sequence order of discovery; empty when intact.
    pub breaks: Vec<ChainBreak>,
}

impl ChainReport {
    pub fn is_intact(&self) -> bool {
        self.breaks.is_empty()
    }
}

/// Walks the event log of one read transaction and checks every link.
pub(crate) fn verify(txn: &ReadTransaction, path: &Path) -> Result<ChainReport, JournalError> {
    let redb = |e: redb::Error| JournalError::from_redb(path, e);
    let meta = read_meta(txn, path)?;
    let head = {
        let table = txn.open_table(META).map_err(|e| redb(e.into()))?;
        let value = table.get(META_CHAIN_HEAD).map_err(|e| redb(e.into()))?;
        value.and_then(|v| {
            let s = String::from_utf8(v.value().to_vec()).ok()?;
            let (seq, sha) = s.split_once(' ')?;
            Some((seq.parse::<u64>().ok()?, sha.to_owned()))
        })
    };
    let events = txn.open_table(EVENTS).map_err(|e| redb(e.into()))?;
    let mut report = ChainReport::default();
    let mut breaks = Vec::new();
    macro_rules! push {
        ($seq:expr, $what:expr $(,)?) => {
            breaks.push(ChainBreak {
                seq: $seq,
                what: $what,
            })
        };
    }
    let mut expected = 1u64;
    // What the next chained event must carry; None before the first row.
    let mut link: Option<String> = None;
    let mut started = false;
    let mut last_key = 0u64;
    for entry in events.iter().map_err(|e| redb(e.into()))? {
        let (key, value) = entry.map_err(|e| redb(e.into()))?;
        let (key, bytes) = (key.value(), value.value());
        report.events += 1;
        last_key = key;
        let gap = key > expected;
        if gap {
            if key - 1 == expected {
                push!(expected, format!("event {expected} was removed"));
            } else {
                push!(
                    expected,
                    format!("events {expected} to {} were removed", key - 1),
                );
            }
        }
        expected = key + 1;
        let Some(object) = parse(bytes) else {
            push!(
                key,
                format!("event {key} is not a JSON object: damaged or forged")
            );
            link = Some(sha256_hex(bytes));
            continue;
        };
        if let Some(seq) = object.get("seq").and_then(Value::as_u64)
            && seq != key
        {
            push!(
                key,
                format!("event {key} says it is event {seq}: moved or inserted"),
            );
        }
        let own = sha256_hex(&canonical(&object));
        let Some(stored) = text(&object, SHA_FIELD) else {
            if started {
                push!(
                    key,
                    format!(
                        "event {key} carries no link although earlier events do: inserted, or written by a dmm without the chain"
                    ),
                );
            } else {
                report.unchained += 1;
            }
            link = Some(own);
            continue;
        };
        if !started {
            started = true;
            report.first_chained = Some(key);
        }
        let expected_prev = link.as_deref().unwrap_or(&meta.snapshot_sha256);
        let content_ok = own == stored;
        let link_ok = gap || text(&object, PREV_FIELD) == Some(expected_prev);
        match (content_ok, link_ok) {
            (true, true) => {}
            (false, true) => push!(key, format!("event {key} was changed since it was written")),
            (true, false) if key == 1 || link.is_none() => push!(
                key,
                format!(
                    "event {key} does not link to the snapshot's SHA-256: the log was replaced or begins with an inserted event"
                ),
            ),
            (true, false) => push!(
                key,
                format!(
                    "event {key} does not follow event {}: an event was inserted here, or the one before was replaced",
                    key - 1
                ),
            ),
            (false, false) => push!(
                key,
                format!(
                    "event {key} was inserted or replaced: neither its content nor its link matches"
                ),
            ),
        }
        link = Some(stored.to_owned());
    }
    if let Some((head_seq, head_sha)) = head {
        if last_key < head_seq {
            let first = last_key + 1;
            push!(
                first,
                if first == head_seq {
                    format!("event {first} was removed (the chain's head records it)")
                } else {
                    format!(
                        "events {first} to {head_seq} were removed (the chain's head records them)"
                    )
                },
            );
        } else if last_key > head_seq {
            push!(
                head_seq + 1,
                format!(
                    "events after {head_seq} were added after the last one dmm recorded: inserted, or written by a dmm without the chain"
                ),
            );
        } else if link.as_deref() != Some(head_sha.as_str()) && !breaks_at(&breaks, last_key) {
            push!(
                last_key,
                format!("event {last_key} differs from the last event dmm recorded"),
            );
        }
    }
    breaks.sort_by_key(|b| b.seq);
    report.breaks = breaks;
    Ok(report)
}

fn breaks_at(breaks: &[ChainBreak], seq: u64) -> bool {
    breaks.iter().any(|b| b.seq == seq)
}
