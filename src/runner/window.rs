//! The window as the journal holds it, [`Window`]: steps per operation, kind and phase (the one
//! [`PhaseCount`]), the Jobs' fates counted once, and how the last run stands in one set of
//! outcome words ([`RunStanding`]) with one mapping of outcomes to exit codes. Below the command
//! line, so that `status`, the report, the end-of-run summary, the webhook, the metrics and the
//! process's own exit code render one model and cannot drift apart.

use std::collections::BTreeMap;

use serde::Serialize;

use super::jobs::JobsOfShutdown;
use crate::journal::{Operation, RunOutcome, RunRecord, StepPhase, StepRecord};
use crate::snapshot::Kind;

/// Steps per phase, typed: what tables, JSON and metrics show per kind.
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

    /// The steps of `cycle` and later, per operation and kind (`cycle` 0: every step).
    pub fn per_kind(steps: &[StepRecord], cycle: u32) -> BTreeMap<(Operation, Kind), PhaseCount> {
        let mut counts: BTreeMap<(Operation, Kind), PhaseCount> = BTreeMap::new();
        for s in steps.iter().filter(|s| s.cycle >= cycle) {
            counts
                .entry((s.key.op, s.key.kind))
                .or_default()
                .add(&s.phase);
        }
        counts
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

    /// The phases with at least one step, by the journal's phase names (`status --json`,
    /// webhooks, metrics labels).
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

/// The journal's current window (its last cycle), read once and rendered by every frontend.
#[derive(Clone, Debug)]
pub struct Window {
    /// The cycle the last run belongs to (1 before any run).
    pub cycle: u32,
    /// The window's steps per operation and kind: a Job step of an earlier cycle is not this
    /// window's work.
    pub counts: BTreeMap<(Operation, Kind), PhaseCount>,
    /// What became of the Jobs the window's shutdown found running, counted once.
    pub jobs: JobsOfShutdown,
    /// Whose words the Jobs line takes: the restore's once a restore of the window has run,
    /// the shutdown's before.
    pub jobs_op: Operation,
    /// How the last run stands, when there is one.
    pub last_run: Option<RunStanding>,
}

impl Window {
    /// `in_progress`: a process holds the journal now, so the last run is going on.
    pub fn read(runs: &[RunRecord], steps: &[StepRecord], in_progress: bool) -> Window {
        let cycle = runs.last().map_or(1, |r| r.cycle);
        let restored = runs
            .iter()
            .any(|r| r.op == Operation::Restore && r.cycle >= cycle);
        Window {
            cycle,
            counts: PhaseCount::per_kind(steps, cycle),
            jobs: JobsOfShutdown::of(steps, cycle),
            jobs_op: if restored {
                Operation::Restore
            } else {
                Operation::Shutdown
            },
            last_run: runs.last().map(|r| RunStanding::of(r, true, in_progress)),
        }
    }

    /// The Jobs line every frontend prints (`None`: the window found no Job running).
    pub fn jobs_line(&self) -> Option<String> {
        self.jobs.line(self.jobs_op)
    }

    /// The steps of `op` and `kind` in the window.
    pub fn count(&self, op: Operation, kind: Kind) -> PhaseCount {
        self.counts.get(&(op, kind)).copied().unwrap_or_default()
    }
}

/// How a run stands, as every frontend names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStanding {
    Ended(RunOutcome),
    /// No outcome recorded, and a process holds the journal: it is going on now.
    InProgress,
    /// No outcome recorded, and no process holds the journal: it was killed (or its machine
    /// went down) before it could record one.
    Killed,
}

impl RunStanding {
    /// `in_progress`: a process holds the journal now, so the last run is going on.
    pub fn of(run: &RunRecord, is_last: bool, in_progress: bool) -> RunStanding {
        match run.outcome {
            Some(outcome) => RunStanding::Ended(outcome),
            None if is_last && in_progress => RunStanding::InProgress,
            None => RunStanding::Killed,
        }
    }

    /// The words for it.
    pub fn words(self) -> &'static str {
        match self {
            RunStanding::Ended(RunOutcome::Completed) => "ended",
            RunStanding::Ended(RunOutcome::CompletedWithFailures) => "ended with failures",
            RunStanding::Ended(RunOutcome::Interrupted) => "interrupted",
            RunStanding::Ended(RunOutcome::Aborted) => "aborted",
            RunStanding::InProgress => "in progress",
            RunStanding::Killed => "killed (no process holds the journal)",
        }
    }

    /// The same as a label for metrics and scripts: `completed`, `completed_with_failures`,
    /// `interrupted`, `aborted`, `in_progress`, `killed`.
    pub fn slug(self) -> &'static str {
        match self {
            RunStanding::Ended(RunOutcome::Completed) => "completed",
            RunStanding::Ended(RunOutcome::CompletedWithFailures) => "completed_with_failures",
            RunStanding::Ended(RunOutcome::Interrupted) => "interrupted",
            RunStanding::Ended(RunOutcome::Aborted) => "aborted",
            RunStanding::InProgress => "in_progress",
            RunStanding::Killed => "killed",
        }
    }

    /// The exit code the run's process ended with (`None`: it has not ended, or was killed).
    pub fn exit_code(self) -> Option<u8> {
        match self {
            RunStanding::Ended(outcome) => Some(exit_code(outcome)),
            RunStanding::InProgress | RunStanding::Killed => None,
        }
    }
}

/// The exit code of a run that ended with `outcome` (the contract of docs/architecture.md):
/// 0 done and verified, 1 failures or a mismatch (or aborted), 3 interrupted.
pub fn exit_code(outcome: RunOutcome) -> u8 {
    match outcome {
        RunOutcome::Completed => 0,
        RunOutcome::CompletedWithFailures | RunOutcome::Aborted => 1,
        RunOutcome::Interrupted => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_standing_has_its_own_words() {
        let all = [
            RunStanding::Ended(RunOutcome::Completed),
            RunStanding::Ended(RunOutcome::CompletedWithFailures),
            RunStanding::Ended(RunOutcome::Interrupted),
            RunStanding::Ended(RunOutcome::Aborted),
            RunStanding::InProgress,
            RunStanding::Killed,
        ];
        let words: std::collections::HashSet<_> = all.iter().map(|s| s.words()).collect();
        assert_eq!(words.len(), all.len());
        assert_eq!(RunStanding::Killed.exit_code(), None);
        assert_eq!(
            RunStanding::Ended(RunOutcome::Interrupted).exit_code(),
            Some(3)
        );
    }
}
