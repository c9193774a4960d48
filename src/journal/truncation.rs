//! What shows that the newest events were removed, beyond the links between them.
//!
//! A log cut at its end still links up, and its head record (meta `events_chain_head`) can be
//! deleted or rewritten to the last event left. But the file records more about its newest events
//! than the events themselves:
//! - each run's record keeps the head the run ended at (`RunRecord::journal_head`);
//! - each step's record holds its phase and when it changed, and every change of phase appends
//!   an event in the same transaction: the last event of a step must say the same.
//!
//! Whoever rewrites all of these too leaves a shorter journal that is consistent, and that the
//! file alone cannot tell from a real one. A head kept outside the file can: each run prints the
//! head it ended at, sends it with its final notice and exports it in its metrics, and
//! `dmm journal FILE --verify --expect-head SEQ:SHA256` checks the chain still holds it
//! ([`ExpectedHead`]).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use redb::{ReadTransaction, ReadableTable};
use serde_json::{Map, Value};

use super::JournalError;
use super::chain_report::{ChainBreak, ChainReport, ExpectedHead, HeadCheck};
use super::schema::{self, RUNS, STEPS};
use super::types::{ChainHead, Event, RunRecord, StepKey, StepRecord};

/// The last remaining event of one step.
struct LastEvent {
    seq: u64,
    to: String,
    time: String,
    chained: bool,
}

/// What the walk over the events is checked against, gathered as it goes.
pub(crate) struct Evidence<'e> {
    expected: Option<&'e ExpectedHead>,
    /// Where the expected head was looked for: its position's digest, or where its digest is.
    expected_seen: Option<(u64, String)>,
    /// The heads runs recorded when they ended: sequence number -> (run, digest).
    recorded: BTreeMap<u64, Vec<(u64, String)>>,
    /// Every step, by its steps-table key.
    steps: BTreeMap<String, StepRecord>,
    last_events: HashMap<String, LastEvent>,
}

impl<'e> Evidence<'e> {
    /// Reads the runs and steps of the transaction the walk reads. A record that does not
    /// decode is no evidence either way and is passed over (reading it fails elsewhere).
    pub(crate) fn read(
        txn: &ReadTransaction,
        path: &Path,
        snapshot_sha256: &str,
        expected: Option<&'e ExpectedHead>,
    ) -> Result<Self, JournalError> {
        let redb = |e: redb::Error| JournalError::from_redb(path, e);
        let mut recorded: BTreeMap<u64, Vec<(u64, String)>> = BTreeMap::new();
        let runs = txn.open_table(RUNS).map_err(|e| redb(e.into()))?;
        for entry in runs.iter().map_err(|e| redb(e.into()))? {
            let (_, value) = entry.map_err(|e| redb(e.into()))?;
            if let Ok(run) = serde_json::from_slice::<RunRecord>(value.value())
                && let Some(head) = run.journal_head
                && head.seq > 0
            {
                recorded
                    .entry(head.seq)
                    .or_default()
                    .push((run.id, head.sha256));
            }
        }
        let mut steps = BTreeMap::new();
        let table = txn.open_table(STEPS).map_err(|e| redb(e.into()))?;
        for entry in table.iter().map_err(|e| redb(e.into()))? {
            let (key, value) = entry.map_err(|e| redb(e.into()))?;
            if let Ok(step) = serde_json::from_slice::<StepRecord>(value.value()) {
                steps.insert(key.value().to_owned(), step);
            }
        }
        let mut evidence = Evidence {
            expected,
            expected_seen: None,
            recorded,
            steps,
            last_events: HashMap::new(),
        };
        // Position 0 is the snapshot's SHA-256, which the chain starts from.
        evidence.see_expected(0, snapshot_sha256);
        Ok(evidence)
    }

    /// One event of the walk: `digest` is its link (what the next event carries).
    pub(crate) fn see(
        &mut self,
        seq: u64,
        digest: &str,
        object: Option<&Map<String, Value>>,
        breaks: &mut Vec<ChainBreak>,
    ) {
        self.see_expected(seq, digest);
        if let Some(heads) = self.recorded.get(&seq) {
            for (run, sha) in heads {
                if sha != digest && !breaks.iter().any(|b| b.seq == seq) {
                    breaks.push(ChainBreak {
                        seq,
                        what: format!(
                            "event {seq} is not the event run {run} recorded as the head when it ended: it was replaced"
                        ),
                    });
                }
            }
        }
        let Some(object) = object else { return };
        let Ok(event) = serde_json::from_value::<Event>(Value::Object(object.clone())) else {
            return;
        };
        let key = schema::step_key(&StepKey {
            op: event.op,
            kind: event.kind,
            execution: event.execution,
        });
        self.last_events.insert(
            key,
            LastEvent {
                seq,
                to: event.to,
                time: event.time,
                chained: event.sha256.is_some(),
            },
        );
    }

    fn see_expected(&mut self, seq: u64, digest: &str) {
        let Some(expected) = self.expected else {
            return;
        };
        let here = match expected.seq {
            Some(at) => at == seq,
            None => self.expected_seen.is_none() && digest.eq_ignore_ascii_case(&expected.sha256),
        };
        if here {
            self.expected_seen = Some((seq, digest.to_owned()));
        }
    }

    /// After the walk: the runs' heads the log does not reach, and steps whose phase no
    /// remaining event records.
    pub(crate) fn finish(&self, report: &ChainReport, breaks: &mut Vec<ChainBreak>) {
        let last = report.head.seq;
        if let Some((&seq, runs)) = self.recorded.range(last + 1..).next_back() {
            let run = runs[0].0;
            let first = last + 1;
            breaks.push(ChainBreak {
                seq: first,
                what: if first == seq {
                    format!(
                        "event {seq} was removed (run {run} recorded it as the head when it ended)"
                    )
                } else {
                    format!(
                        "events {first} to {seq} were removed (run {run} recorded event {seq} as the head when it ended)"
                    )
                },
            });
        }
        // Every step of a log chained from its first event was planned with an event.
        let all_chained = report.first_chained == Some(1);
        let mut stale = self.steps.values().filter_map(|step| {
            let key = schema::step_key(&step.key);
            match self.last_events.get(&key) {
                Some(e) if e.chained => {
                    (e.to != step.phase.to_string() || e.time != step.updated_at).then(|| {
                        format!(
                            "{} {} {} is {} since {}, its last event, {}, left it {} at {}",
                            step.key.op,
                            step.key.kind,
                            step.key.execution,
                            step.phase,
                            step.updated_at,
                            e.seq,
                            e.to,
                            e.time
                        )
                    })
                }
                Some(_) => None,
                None => all_chained.then(|| {
                    format!(
                        "{} {} {} is {} since {} and no event of it remains",
                        step.key.op, step.key.kind, step.key.execution, step.phase, step.updated_at
                    )
                }),
            }
        });
        if let Some(example) = stale.next() {
            let more = stale.count();
            breaks.push(ChainBreak {
                seq: last + 1,
                what: format!(
                    "{} step{} stand{} in a phase that no remaining event records ({example}{}): the events that moved {} were removed",
                    more + 1,
                    if more == 0 { "" } else { "s" },
                    if more == 0 { "s" } else { "" },
                    if more > 0 {
                        format!("; and {more} more")
                    } else {
                        String::new()
                    },
                    if more == 0 { "it" } else { "them" },
                ),
            });
        }
    }

    /// What became of the expected head, once the walk is done and `head` is known.
    pub(crate) fn expected_outcome(&self, head: &ChainHead) -> Option<HeadCheck> {
        let expected = self.expected?;
        Some(match (expected.seq, &self.expected_seen) {
            (_, Some((seq, digest))) if digest.eq_ignore_ascii_case(&expected.sha256) => {
                HeadCheck::Holds { seq: *seq }
            }
            (Some(seq), Some((_, digest))) => HeadCheck::Differs {
                seq,
                found: digest.clone(),
            },
            (Some(seq), None) if seq > head.seq => HeadCheck::Truncated {
                last: head.seq,
                seq,
            },
            (Some(seq), None) => HeadCheck::Absent { seq },
            (None, _) => HeadCheck::Missing {
                sha256: expected.sha256.clone(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expected_head_is_seq_and_digest_or_the_digest_alone() {
        let sha = "AB".repeat(32);
        assert_eq!(
            format!("41:{sha}").parse::<ExpectedHead>().unwrap(),
            ExpectedHead {
                seq: Some(41),
                sha256: sha.to_lowercase()
            }
        );
        assert_eq!(
            sha.parse::<ExpectedHead>().unwrap(),
            ExpectedHead {
                seq: None,
                sha256: sha.to_lowercase()
            }
        );
        for bad in [
            "",
            "41:",
            "x:abc",
            "12:nothex",
            &sha[..63],
            &format!("-1:{sha}"),
        ] {
            let err = bad.parse::<ExpectedHead>().unwrap_err();
            assert!(err.contains("SEQ:SHA256"), "{err}");
        }
    }
}
