//! [`RunSummary`]: how a run's steps stand, read back from the journal when it ends.

use std::collections::BTreeMap;

use super::options::Selection;
use super::plan::kinds_in_order;
use crate::journal::{Journal, JournalError, JournalRead, StepPhase, StepRecord};
use crate::snapshot::Kind;

/// How a run's steps ended. Verification is separate ([`super::verify`]).
#[derive(Clone, Debug, Default)]
pub struct RunSummary {
    pub run: u64,
    /// Per kind: every step of the operation as the journal holds it after the run.
    pub steps: BTreeMap<Kind, Vec<StepRecord>>,
    /// Whether the run covered Jobs, so that what became of them ([`super::Window::jobs`]) is
    /// told at its end, not silently left.
    pub covers_jobs: bool,
}

impl RunSummary {
    /// The steps of the operation as the journal holds them now, for the kinds `run` covers,
    /// in the run's `cycle` (a Job step of an earlier cycle is that cycle's, not this one's).
    pub fn read(
        journal: &Journal,
        run: u64,
        selection: &Selection,
        cycle: u32,
    ) -> Result<RunSummary, JournalError> {
        let kinds = kinds_in_order(selection.op, &selection.only);
        let mut summary = RunSummary {
            run,
            ..RunSummary::default()
        };
        for rec in journal.steps(Some(selection.op))? {
            if kinds.contains(&rec.key.kind) && rec.cycle >= cycle {
                summary.steps.entry(rec.key.kind).or_default().push(rec);
            }
        }
        summary.covers_jobs = selection.only.is_empty()
            || selection
                .only
                .iter()
                .any(|k| k.source() == crate::snapshot::Source::Live);
        Ok(summary)
    }

    pub fn failed(&self) -> impl Iterator<Item = &StepRecord> {
        self.steps
            .values()
            .flatten()
            .filter(|r| matches!(r.phase, StepPhase::Failed(_)))
    }

    /// Steps not ended (left for the next run to continue).
    pub fn unfinished(&self) -> usize {
        self.steps
            .values()
            .flatten()
            .filter(|r| !r.phase.is_terminal())
            .count()
    }
}
