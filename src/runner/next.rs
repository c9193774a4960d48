//! What the operator should do next, decided once, from what the journal records: the end of a
//! run, `dmm status`, the final webhook notice and the metrics all show this one decision, so
//! they can never disagree. The CLI only formats it.
//!
//! A continuation repeats every flag of the last run that changes what is done (`-s`, `--jobs`
//! and `--jobs-grace`, `--restart-jobs`), read back from the options its run record keeps: a
//! continuation that dropped `--jobs leave` would stop the Jobs the operator asked to leave.

use serde::Serialize;
use serde_json::Value;

use super::jobs::JobsOfShutdown;
use super::plan::kinds_not_done;
use super::record::{JobsFlag, RecordedOptions, VerificationState};
use crate::journal::{
    Operation, RunOutcome, RunRecord, StepNote, StepPhase, StepRecord, VerificationRecord,
};
use crate::snapshot::{Kind, Snapshot};

/// The flags of a run that change what it does, as its run record keeps them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RunFlags {
    /// `-s/--service`: only this kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub only: Option<Kind>,
    /// `--jobs stop|wait|leave`, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jobs: Option<JobsFlag>,
    /// `--jobs-grace`, in seconds, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jobs_grace_s: Option<u64>,
    /// `--restart-jobs`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub restart_jobs: bool,
}

impl RunFlags {
    /// The flags in a run record's options; what is missing or unreadable is taken as not
    /// given.
    pub fn recorded(options: &Value) -> RunFlags {
        let recorded = RecordedOptions::read(options);
        RunFlags {
            only: recorded.service,
            jobs: recorded.jobs,
            jobs_grace_s: recorded.jobs_grace_s,
            restart_jobs: recorded.restart_jobs,
        }
    }

    /// The same flags for every kind (the kinds a `-s` run left are the next run's work).
    fn for_every_kind(&self) -> RunFlags {
        RunFlags {
            only: None,
            ..self.clone()
        }
    }
}

/// Why the same command is to be run again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContinueBecause {
    /// The deadline closed the window: continue in the next one.
    Deadline,
    /// Verification found confirmed executions out of their target state and reopened them.
    Reopened,
    /// Interrupted (a signal, an outage, refused credentials), killed, or aborted.
    Interrupted,
}

/// What to do next.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum NextAction {
    /// Nothing has been run from this snapshot: the shutdown.
    Shutdown,
    /// Run the same operation again, with the same flags: it continues where the last run
    /// stopped (and verifies, once every step has ended).
    Continue {
        op: Operation,
        flags: RunFlags,
        because: ContinueBecause,
        /// Steps not ended yet.
        unfinished: usize,
    },
    /// Steps failed: look at them, then retry them.
    RetryFailed {
        op: Operation,
        flags: RunFlags,
        failed: usize,
    },
    /// Restarts whose outcome cannot be told from what the API shows: retrying cannot tell
    /// either; a person looks at the projects' jobs and restarts by hand what did not run.
    LookAtUndecided { op: Operation, undecidable: usize },
    /// Verification found what a new run cannot fix (drift, or the deployment could not be
    /// listed): look at it and check again.
    CheckAgain { op: Operation },
    /// A run limited to some kinds left others: the same operation for every kind.
    RemainingKinds {
        op: Operation,
        flags: RunFlags,
        kinds: Vec<Kind>,
    },
    /// Every step ended, but the verification was skipped (`--no-verify`): nothing says the
    /// deployment is as promised until it is checked.
    Verify { op: Operation },
    /// The shutdown is done and verified: upgrade Domino, then restore.
    UpgradeThenRestore,
    /// The restore is done and verified, but Jobs the shutdown stopped stay stopped: they are
    /// restarted only by `restore --restart-jobs`, which the operator may choose or not.
    JobsLeftStopped {
        /// Jobs the shutdown stopped that no restore has restarted.
        stopped: usize,
        flags: RunFlags,
    },
    /// The restore is done and verified: the maintenance is complete.
    Complete,
}

/// What the journal's records say to do next. `steps` may hold every operation's steps.
pub fn next_action(
    snapshot: &Snapshot,
    steps: &[StepRecord],
    runs: &[RunRecord],
    verifications: &[VerificationRecord],
) -> NextAction {
    let Some(last) = runs.last() else {
        return NextAction::Shutdown;
    };
    let op = last.op;
    let flags = RunFlags::recorded(&last.options);
    let of_op: Vec<&StepRecord> = steps
        .iter()
        .filter(|s| s.key.op == op && s.cycle >= last.cycle)
        .collect();
    let unfinished = of_op.iter().filter(|s| !s.phase.is_terminal()).count();
    let failed = of_op
        .iter()
        .filter(|s| matches!(s.phase, StepPhase::Failed(_)))
        .count();
    let undecidable = of_op
        .iter()
        .filter(|s| s.note == Some(StepNote::Undecidable))
        .count();
    // A run with no outcome was killed; an interrupted or aborted one did not verify.
    let ended = matches!(
        last.outcome,
        Some(RunOutcome::Completed | RunOutcome::CompletedWithFailures)
    );
    if unfinished > 0 || !ended {
        let because = if last.outcome == Some(RunOutcome::Interrupted)
            && last
                .message
                .as_deref()
                .is_some_and(|m| m.contains("the deadline"))
        {
            ContinueBecause::Deadline
        } else if ended {
            ContinueBecause::Reopened
        } else {
            ContinueBecause::Interrupted
        };
        return NextAction::Continue {
            op,
            flags,
            because,
            unfinished,
        };
    }
    // A retry helps only the failures that another attempt can decide.
    if failed > undecidable {
        let failed = failed - undecidable;
        return NextAction::RetryFailed { op, flags, failed };
    }
    if undecidable > 0 {
        return NextAction::LookAtUndecided { op, undecidable };
    }
    let verification = verifications
        .iter()
        .rev()
        .find(|v| v.op == op)
        .map(VerificationState::of);
    if verification == Some(VerificationState::Failed) {
        return NextAction::CheckAgain { op };
    }
    let kinds = kinds_not_done(op, snapshot, steps, last.cycle);
    if !kinds.is_empty() {
        return NextAction::RemainingKinds {
            op,
            flags: flags.for_every_kind(),
            kinds,
        };
    }
    match (verification, op) {
        (Some(VerificationState::Passed), Operation::Shutdown) => NextAction::UpgradeThenRestore,
        (Some(VerificationState::Passed), Operation::Restore) => {
            match JobsOfShutdown::of(steps, last.cycle).left_stopped {
                0 => NextAction::Complete,
                stopped => NextAction::JobsLeftStopped {
                    stopped,
                    flags: flags.for_every_kind(),
                },
            }
        }
        _ => NextAction::Verify { op },
    }
}

impl NextAction {
    /// A short name for scripts and metrics labels.
    pub fn name(&self) -> &'static str {
        match self {
            NextAction::Shutdown => "shutdown",
            NextAction::Continue { .. } => "continue",
            NextAction::RetryFailed { .. } => "retry_failed",
            NextAction::LookAtUndecided { .. } => "look_at_undecided",
            NextAction::CheckAgain { .. } => "check_again",
            NextAction::RemainingKinds { .. } => "remaining_kinds",
            NextAction::Verify { .. } => "verify",
            NextAction::UpgradeThenRestore => "upgrade_then_restore",
            NextAction::JobsLeftStopped { .. } => "jobs_left_stopped",
            NextAction::Complete => "complete",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(op: Operation, outcome: Option<RunOutcome>, message: &str, options: Value) -> RunRecord {
        RunRecord {
            id: 1,
            op,
            started_at: "2026-01-01T00:00:00Z".into(),
            ended_at: None,
            tool_version: "test".into(),
            options,
            outcome,
            message: Some(message.into()),
            cycle: 1,
            notifications: Vec::new(),
            pace: None,
            domino_version: None,
            acting_as: None,
            journal_head: None,
            operator: None,
        }
    }

    /// A restore that ran to its end, with no flags.
    fn completed_restore() -> RunRecord {
        run(
            Operation::Restore,
            Some(RunOutcome::Completed),
            "",
            json!({}),
        )
    }

    fn verification(op: Operation, passed: bool, skipped: bool) -> VerificationRecord {
        VerificationRecord {
            run: Some(1),
            op,
            time: "2026-01-01T00:00:00Z".into(),
            passed,
            detail: json!({}),
            skipped,
        }
    }

    #[test]
    fn a_deadline_during_verification_continues_and_keeps_the_flags() {
        let options = json!({"jobs": "leave", "service": "App"});
        let runs = [run(
            Operation::Shutdown,
            Some(RunOutcome::Interrupted),
            "interrupted during verification (the deadline 2026-01-01T00:00:00Z (--deadline 3s) was reached)",
            options,
        )];
        let next = next_action(&Snapshot::default(), &[], &runs, &[]);
        assert_eq!(
            next,
            NextAction::Continue {
                op: Operation::Shutdown,
                flags: RunFlags {
                    only: Some(Kind::App),
                    jobs: Some(JobsFlag::Leave),
                    ..RunFlags::default()
                },
                because: ContinueBecause::Deadline,
                unfinished: 0,
            }
        );
    }

    #[test]
    fn a_skipped_verification_is_never_complete() {
        let runs = [completed_restore()];
        let skipped = [verification(Operation::Restore, false, true)];
        assert_eq!(
            next_action(&Snapshot::default(), &[], &runs, &skipped),
            NextAction::Verify {
                op: Operation::Restore
            }
        );
        let passed = [verification(Operation::Restore, true, false)];
        assert_eq!(
            next_action(&Snapshot::default(), &[], &runs, &passed),
            NextAction::Complete
        );
    }

    fn job_step(op: Operation, id: &str, attempts: u32, by_this_stop: Option<bool>) -> StepRecord {
        StepRecord {
            attempts,
            ended: by_this_stop.map(|by_this_stop| crate::journal::StepEnd {
                word: "Stopped".into(),
                by_this_stop,
            }),
            ..StepRecord::fixture(op, Kind::Job, id, StepPhase::Confirmed)
        }
    }

    #[test]
    fn a_verified_restore_that_left_jobs_stopped_says_so_until_they_are_restarted() {
        let mut steps = vec![
            job_step(Operation::Shutdown, "a", 1, Some(true)),
            job_step(Operation::Shutdown, "b", 1, None),
            // Ended on its own: before its stop, or while the stop was refused.
            job_step(Operation::Shutdown, "c", 0, None),
            job_step(Operation::Shutdown, "d", 1, Some(false)),
        ];
        let jobs = JobsOfShutdown::of(&steps, 1);
        assert_eq!(
            jobs,
            JobsOfShutdown {
                stopped: 2,
                ended_on_their_own: 2,
                left_stopped: 2,
                ..JobsOfShutdown::default()
            }
        );
        let runs = [completed_restore()];
        let passed = [verification(Operation::Restore, true, false)];
        assert_eq!(
            next_action(&Snapshot::default(), &steps, &runs, &passed),
            NextAction::JobsLeftStopped {
                stopped: 2,
                flags: RunFlags::default()
            }
        );
        steps.push(job_step(Operation::Restore, "a", 1, None));
        steps.push(job_step(Operation::Restore, "b", 1, None));
        assert_eq!(JobsOfShutdown::of(&steps, 1).left_stopped, 0);
        assert_eq!(
            next_action(&Snapshot::default(), &steps, &runs, &passed),
            NextAction::Complete
        );
    }
}
