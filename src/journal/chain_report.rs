//! What a walk over the journal's hash chain reports, and the head kept outside the journal it
//! can be checked against: the types `chain.rs` (the walk) and `truncation.rs` (what else the
//! file shows of its newest events) share.

use std::fmt;
use std::str::FromStr;

use super::types::ChainHead;

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
    /// Where the chain does not hold, in sequence order; empty when intact.
    pub breaks: Vec<ChainBreak>,
    /// The last event's sequence number and digest (`0` and the snapshot's SHA-256 when there
    /// is none): what a run ending now would record as its head.
    pub head: ChainHead,
    /// What became of the head given to check against (`--expect-head`), if one was.
    pub expected: Option<HeadCheck>,
}

impl ChainReport {
    /// No event was changed, removed or inserted, as far as the file shows.
    pub fn is_intact(&self) -> bool {
        self.breaks.is_empty()
    }

    /// Intact, and holding the expected head when one was given.
    pub fn holds(&self) -> bool {
        self.is_intact() && self.expected.as_ref().is_none_or(HeadCheck::holds)
    }
}

/// A head kept outside the journal, to check the chain against: `SEQ:SHA256` as a run prints
/// it, or the digest alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedHead {
    pub seq: Option<u64>,
    /// Lowercase hex.
    pub sha256: String,
}

impl FromStr for ExpectedHead {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{s:?} is not a journal head: give SEQ:SHA256 as a run prints it after `journal head:`, or the SHA-256 alone (64 hex digits)"
            )
        };
        let (seq, sha) = match s.trim().split_once(':') {
            Some((seq, sha)) => (Some(seq.trim().parse::<u64>().map_err(|_| bad())?), sha),
            None => (None, s),
        };
        let sha = sha.trim().to_ascii_lowercase();
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        Ok(ExpectedHead { seq, sha256: sha })
    }
}

impl fmt::Display for ExpectedHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "{seq}:{}", self.sha256),
            None => f.write_str(&self.sha256),
        }
    }
}

/// What the chain says about an expected head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeadCheck {
    /// The chain holds the expected digest, at this sequence number.
    Holds { seq: u64 },
    /// The log ends before the expected head's position.
    Truncated { last: u64, seq: u64 },
    /// The event at the expected position has another digest.
    Differs { seq: u64, found: String },
    /// The log goes past the expected position, but has no event there.
    Absent { seq: u64 },
    /// No event has the expected digest (given without a position).
    Missing { sha256: String },
}

impl HeadCheck {
    pub fn holds(&self) -> bool {
        matches!(self, HeadCheck::Holds { .. })
    }
}

impl fmt::Display for HeadCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeadCheck::Holds { seq } => write!(f, "holds the expected head at event {seq}"),
            HeadCheck::Truncated { last, seq } => write!(
                f,
                "the journal ends at event {last}, before event {seq} of the expected head: events were removed from its end"
            ),
            HeadCheck::Differs { seq, found } => write!(
                f,
                "event {seq} is not the event of the expected head (its sha256 is {found}): the journal was changed up to it, or is not the one the head was taken from"
            ),
            HeadCheck::Absent { seq } => write!(
                f,
                "event {seq} of the expected head is not in the journal: it was removed"
            ),
            HeadCheck::Missing { sha256 } => write!(
                f,
                "no event has the expected sha256 {sha256}: events were removed from the journal's end, or it is not the one the head was taken from"
            ),
        }
    }
}
