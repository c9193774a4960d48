//! Planning: which steps a run has (one per execution of the snapshot, for the kinds it
//! covers, in the order it touches them), and what the journal says of them already.

use std::collections::HashMap;
use std::sync::Arc;

use super::options::JobsMode;
use super::record::StepDetail;
use crate::domino::ExecutionKind;
use crate::journal::{NewStep, Operation, RunOutcome, RunRecord, StepKey, StepPhase, StepRecord};
use crate::snapshot::{Entry, Kind, Snapshot, Source};

/// The kinds an operation touches, in the order it touches them: scheduled jobs are paused
/// first on shutdown so nothing new launches, and resumed last on restore.
pub fn kinds_in_order(op: Operation, only: &[Kind]) -> Vec<Kind> {
    let mut order: Vec<Kind> = Kind::shutdown_order();
    if op == Operation::Restore {
        order.reverse();
    }
    order.retain(|k| only.is_empty() || only.contains(k));
    order
}

/// One step per execution of the snapshot for the kinds the operation touches (`only`, or all),
/// in the order it touches them. On restore, executions that are not restartable are planned
/// directly as `Skipped` with the reason, whatever `only` says: nothing will ever be done for
/// them, and recording so lets the journal tell which kinds still wait (see [`kinds_not_done`]).
pub fn plan_steps(
    op: Operation,
    only: &[Kind],
    snapshot: &Snapshot,
    apis: &[Arc<dyn ExecutionKind>],
) -> Result<Vec<NewStep>, String> {
    let mut steps = Vec::new();
    let all = kinds_in_order(op, &[])
        .into_iter()
        .filter_map(|k| apis.iter().find(|a| a.kind() == k));
    for api in all {
        let kind = api.kind();
        let chosen = only.is_empty() || only.contains(&kind);
        if !chosen && op == Operation::Shutdown {
            continue;
        }
        for entry in snapshot.entries(kind) {
            let execution = entry.key(kind)?.to_owned();
            let phase = match op {
                Operation::Shutdown => StepPhase::Pending,
                Operation::Restore => match api.restartable(entry) {
                    Ok(()) => StepPhase::Pending,
                    Err(reason) => StepPhase::Skipped(reason),
                },
            };
            if !chosen && !matches!(phase, StepPhase::Skipped(_)) {
                continue;
            }
            steps.push(NewStep {
                detail: None,
                key: StepKey {
                    op,
                    kind,
                    execution,
                },
                name: entry.name.clone(),
                owner: entry.owner.clone(),
                phase,
            });
        }
    }
    Ok(steps)
}

/// What a run would do, per kind, given what the journal already records. Used for the
/// confirmation prompt and for `--dry-run`.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub lines: Vec<PlanLine>,
    /// The maintenance cycle this run belongs to.
    pub cycle: u32,
    /// Whether this run begins its cycle (every step is planned again).
    pub begins_cycle: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlanLine {
    pub kind: Option<Kind>,
    /// Steps that will send a request (new, or interrupted before an answer).
    pub to_request: usize,
    /// Steps whose request was accepted; the run only waits for them.
    pub to_wait: usize,
    pub confirmed: usize,
    pub skipped: usize,
    pub failed: usize,
    /// Failed steps this run will try again (`--retry-failed`).
    pub failed_to_retry: usize,
    /// Names of the executions this run will touch, for the dry run.
    pub names: Vec<String>,
}

impl Plan {
    /// Combines the planned steps with the journal's existing records (which win).
    pub fn new(
        op: Operation,
        planned: &[NewStep],
        existing: &[StepRecord],
        retry_failed: bool,
        (cycle, begins_cycle): (u32, bool),
    ) -> Plan {
        // Steps of an earlier cycle are planned again.
        let known: HashMap<&StepKey, &StepRecord> = existing
            .iter()
            .filter(|s| s.cycle >= cycle)
            .map(|s| (&s.key, s))
            .collect();
        let mut by_kind: Vec<PlanLine> = Vec::new();
        for kind in kinds_in_order(op, &[]) {
            let mut line = PlanLine {
                kind: Some(kind),
                ..PlanLine::default()
            };
            for step in planned.iter().filter(|s| s.key.kind == kind) {
                let phase = match known.get(&step.key) {
                    // A live step nothing was sent for follows what this run asks (see
                    // `Journal::replan_unsent`).
                    Some(r) if kind.source() == Source::Live && unsent(r) => &step.phase,
                    Some(r) => &r.phase,
                    None => &step.phase,
                };
                match phase {
                    StepPhase::Pending | StepPhase::Requested => {
                        line.to_request += 1;
                        line.names.push(step.name.clone());
                    }
                    StepPhase::Accepted => line.to_wait += 1,
                    StepPhase::Confirmed => line.confirmed += 1,
                    StepPhase::Skipped(_) => line.skipped += 1,
                    StepPhase::Failed(_) => {
                        line.failed += 1;
                        if retry_failed {
                            line.failed_to_retry += 1;
                            line.names.push(step.name.clone());
                        }
                    }
                }
            }
            if planned.iter().any(|s| s.key.kind == kind) {
                by_kind.push(line);
            }
        }
        Plan {
            lines: by_kind,
            cycle,
            begins_cycle,
        }
    }

    /// Steps this run will act on (send or wait).
    pub fn work(&self) -> usize {
        self.lines
            .iter()
            .map(|l| l.to_request + l.to_wait + l.failed_to_retry)
            .sum()
    }
}

/// The shutdown step of an execution a live kind (Jobs) found running: to stop, or left
/// running with `--jobs leave`. `None` for an entry without an id.
pub(crate) fn live_stop_step(kind: Kind, entry: Entry, jobs: JobsMode) -> Option<NewStep> {
    let execution = entry.key(kind).ok()?.to_owned();
    Some(NewStep {
        key: StepKey {
            op: Operation::Shutdown,
            kind,
            execution,
        },
        name: entry.name,
        owner: entry.owner,
        phase: match jobs {
            JobsMode::Leave => StepPhase::Skipped("left running (--jobs leave)".into()),
            JobsMode::Stop | JobsMode::Wait(_) => StepPhase::Pending,
        },
        detail: Some(entry.id),
    })
}

/// A step to which nothing was ever sent, planned to be sent or skipped.
fn unsent(step: &StepRecord) -> bool {
    step.attempts == 0 && matches!(step.phase, StepPhase::Pending | StepPhase::Skipped(_))
}

/// Whether a shutdown step of a live kind (a Job) ended its execution by its own stop: the
/// stop took effect and the job then showed `Stopped`. A job that ended by itself (before its
/// stop, or while its stops were refused) or is gone is not one of them. Journals written
/// before the end was recorded count every confirmed step that sent a stop.
pub fn stopped_by_its_step(step: &StepRecord) -> bool {
    step.phase == StepPhase::Confirmed
        && step.attempts >= 1
        && step.ended.as_ref().is_none_or(|end| end.by_this_stop)
}

/// The restore steps of the executions a shutdown found live (Jobs) and stopped itself, for
/// `--restart-jobs`: not the ones that ended by themselves, nor those left running.
pub fn restart_steps(shutdown: &[StepRecord], cycle: u32, only: &[Kind]) -> Vec<NewStep> {
    shutdown
        .iter()
        .filter(|s| s.key.kind.source() == Source::Live && s.cycle >= cycle)
        .filter(|s| only.is_empty() || only.contains(&s.key.kind))
        .filter(|s| stopped_by_its_step(s) || stop_unfinished(s))
        .map(|s| NewStep {
            key: StepKey {
                op: Operation::Restore,
                kind: s.key.kind,
                execution: s.key.execution.clone(),
            },
            name: s.name.clone(),
            owner: s.owner.clone(),
            phase: StepPhase::Pending,
            detail: if stop_unfinished(s) {
                StepDetail::read(s.detail.as_ref()).map(|mut d| {
                    d.stop_unfinished = true;
                    d.to_value()
                })
            } else {
                s.detail.clone()
            },
        })
        .collect()
}

/// A shutdown step of a live kind that sent a stop but never saw the job end: the grace
/// period ran out, or the run was interrupted. Whether its stop ended the job is not known
/// yet: restore looks before restarting it, rather than dropping it in silence.
fn stop_unfinished(step: &StepRecord) -> bool {
    step.attempts >= 1
        && matches!(
            step.phase,
            StepPhase::Requested | StepPhase::Accepted | StepPhase::Failed(_)
        )
}

/// The maintenance cycle a run of `op` belongs to, given the journal's runs, and whether it
/// begins that cycle: a shutdown after a completed (verified) restore starts the next cycle, in
/// which every step is planned again; anything else continues the current one.
pub fn cycle_for(op: Operation, runs: &[RunRecord]) -> (u32, bool) {
    let current = runs.last().map_or(1, |r| r.cycle);
    let restored = runs.iter().any(|r| {
        r.cycle == current && r.op == Operation::Restore && r.outcome == Some(RunOutcome::Completed)
    });
    if op == Operation::Shutdown && restored {
        (current + 1, true)
    } else {
        (current, false)
    }
}

/// The kinds of the snapshot that `op` has not yet brought to their target in `cycle`: every
/// execution of the kind needs a `Confirmed` or `Skipped` step of that cycle. What a one-kind
/// run (`-s`) leaves for later, so that no message calls the maintenance done while they wait.
pub fn kinds_not_done(
    op: Operation,
    snapshot: &Snapshot,
    steps: &[StepRecord],
    cycle: u32,
) -> Vec<Kind> {
    let done: HashMap<(Kind, &str), bool> = steps
        .iter()
        .filter(|s| s.key.op == op && s.cycle >= cycle)
        .map(|s| {
            let ended = matches!(s.phase, StepPhase::Confirmed | StepPhase::Skipped(_));
            ((s.key.kind, s.key.execution.as_str()), ended)
        })
        .collect();
    kinds_in_order(op, &[])
        .into_iter()
        .filter(|&kind| {
            snapshot.entries(kind).iter().any(|entry| {
                let key = entry.key(kind).unwrap_or_default();
                !done.get(&(kind, key)).copied().unwrap_or(false)
            })
        })
        .collect()
}

/// Whether a step still needs work in this run.
pub fn needs_work(phase: &StepPhase, retry_failed: bool) -> bool {
    match phase {
        StepPhase::Pending | StepPhase::Requested | StepPhase::Accepted => true,
        StepPhase::Failed(_) => retry_failed,
        StepPhase::Confirmed | StepPhase::Skipped(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_runs_the_shutdown_order_backwards() {
        // The order itself is the registry's (`snapshot::kind`'s tests hold it).
        assert_eq!(
            kinds_in_order(Operation::Shutdown, &[]),
            Kind::shutdown_order()
        );
        assert_eq!(
            kinds_in_order(Operation::Restore, &[]).last(),
            Some(&Kind::ScheduledJob)
        );
        assert_eq!(
            kinds_in_order(Operation::Shutdown, &[Kind::App]),
            vec![Kind::App]
        );
    }

    #[test]
    fn failed_steps_need_work_only_when_asked() {
        let failed = StepPhase::Failed("x".into());
        assert!(!needs_work(&failed, false));
        assert!(needs_work(&failed, true));
        assert!(!needs_work(&StepPhase::Confirmed, true));
        assert!(!needs_work(&StepPhase::Skipped("y".into()), true));
        assert!(needs_work(&StepPhase::Requested, false));
    }
}
