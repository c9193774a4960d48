//! The hash chain's verdict as the page states it: the same answer as `dmm journal --verify`.

use serde::Serialize;

use crate::journal::ChainReport;

/// What walking the chain found, in one word and one sentence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChainVerdict {
    /// `intact`, `broken`, `no_chain` (events written before dmm kept the chain) or `empty`.
    pub state: &'static str,
    /// The sentence `dmm journal --verify` prints, without the journal's path.
    pub text: String,
    /// Each place where the chain does not hold: sequence number and what is wrong there.
    pub breaks: Vec<(u64, String)>,
    /// The head (`SEQ:SHA256`) a copy kept elsewhere can be compared with.
    pub head: String,
}

impl ChainVerdict {
    pub fn of(report: &ChainReport) -> ChainVerdict {
        let head = report.head.to_string();
        let covered = report.events - report.unchained;
        let (state, text) = match (report.is_intact(), report.first_chained) {
            (false, _) => (
                "broken",
                format!(
                    "chain broken at event {} ({} problem{}); {} events",
                    report.breaks[0].seq,
                    report.breaks.len(),
                    if report.breaks.len() == 1 { "" } else { "s" },
                    report.events
                ),
            ),
            (true, _) if report.events == 0 => ("empty", "intact: no events yet".to_owned()),
            (true, None) => (
                "no_chain",
                format!(
                    "no chain: its {} events were written by a dmm before the hash chain existed and cannot be verified",
                    report.events
                ),
            ),
            (true, Some(1)) => (
                "intact",
                format!(
                    "intact: {} events, chained from the snapshot's SHA-256; head {head}",
                    report.events
                ),
            ),
            (true, Some(first)) => (
                "intact",
                format!(
                    "chain intact from event {first} to {} ({covered} events); events 1 to {} were written before dmm kept the chain and are not covered; head {head}",
                    report.events,
                    first - 1
                ),
            ),
        };
        ChainVerdict {
            state,
            text,
            breaks: report
                .breaks
                .iter()
                .map(|b| (b.seq, b.what.clone()))
                .collect(),
            head,
        }
    }

    pub fn is_broken(&self) -> bool {
        self.state == "broken"
    }
}
