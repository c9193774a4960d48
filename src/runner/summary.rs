//! How a run's steps stand, read back from the journal.

use std::collections::BTreeMap;

use serde::Serialize;

use super::jobs::JobsOfShutdown;
use super::options::Selection;
use super::plan::kinds_in_order;
use crate::journal::{Journal, JournalError, JournalRead, StepPhase, StepRecord};
use crate::snapshot::Kind;

/// Steps per phase, typed: what tables and JSON show per kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PhaseCount {
    pub pending: usize,
    pub requested: usize,
    pub accepted: usize,
    pub confirmed: usize,
    pub skipped: usize,
    pub failed: usize,
}

impl PhaseCount {
    pub fn of<'a>(steps: impl IntoIterator<Item = &'a StepRecord>) -> PhaseCount {
        let mut count = PhaseCount::default();
        for step in steps {
            count.add(&step.phase);
        }
        count
    }

    pub fn add(&mut self, phase: &StepPhase) {
        match phase {
            StepPhase::Pending => self.pending += 1,
            StepPhase::Requested => self.requested += 1,
            StepPhase::Accepted => self.accepted += 1,
            StepPhase::Confirmed => self.confirmed += 1,
            StepPhase::Skipped(_) => self.skipped += 1,
            StepPhase::Failed(_) => self.failed += 1,
        }
    }

    /// Steps not ended (left for the next run to continue).
    pub fn unfinished(&self) -> usize {
        self.pending + self.requested + self.accepted
    }

    pub fn total(&self) -> usize {
        self.unfinished() + self.confirmed + self.skipped + self.failed
    }

    /// The phases with at least one step, by the journal's phase names (`status --json`).
    pub fn by_name(&self) -> BTreeMap<&'static str, usize> {
        [
            ("Pending", self.pending),
            ("Requested", self.requested),
            ("Accepted", self.accepted),
            ("Confirmed", self.confirmed),
            ("Skipped", self.skipped),
            ("Failed", self.failed),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect()
    }
}

/// How a run's steps ended. Verification is separate ([`super::verify`]).
#[derive(Clone, Debug, Default)]
pub struct RunSummary {
    pub run: u64,
    /// Per kind: every step of the operation as the journal holds it after the run.
    pub steps: BTreeMap<Kind, Vec<StepRecord>>,
    /// How the Jobs the shutdown found running stand (stopped by it or ended on their own;
    /// restarted, failed, left stopped), when the run covered Jobs: told, not silently left.
    pub jobs: Option<JobsOfShutdown>,
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
        let jobs_in_selection = selection.only.is_empty()
            || selection
                .only
                .iter()
                .any(|k| k.source() == crate::snapshot::Source::Live);
        if jobs_in_selection {
            summary.jobs = Some(JobsOfShutdown::of(&journal.steps(None)?, cycle));
        }
        Ok(summary)
    }

    pub fn counts(&self, kind: Kind) -> PhaseCount {
        PhaseCount::of(self.steps.get(&kind).into_iter().flatten())
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
