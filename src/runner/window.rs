//! What every frontend says of a run's end: one set of outcome words and one mapping of
//! outcomes to exit codes, below the command line, so that `status`, the report, the metrics
//! and the process's own exit code cannot drift apart.

use crate::journal::{RunOutcome, RunRecord};

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
