use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::Semaphore;

use super::cancel::Cancel;
use super::health::ApiHealth;
use super::observe::Observer;
use super::plan::{kinds_in_order, needs_work, plan_steps};
use super::report::Reporter;
use super::step::{PollPolicy, Step, StepAbort, StepContext};
use crate::domino::{ApiError, ExecutionKind};
use crate::journal::{
    Journal, JournalError, JournalRead, Operation, RunOutcome, StepPhase, StepRecord,
};
use crate::snapshot::{Entry, Kind, Snapshot};

/// Transient failures in a row, each after the client's own retries (about 20 s of failing),
/// that mean the API is down rather than busy: on a live API, successes come between them.
const OUTAGE_AFTER: u32 = 8;

/// One options struct for a shutdown or restore run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub op: Operation,
    /// Limit the run to these kinds (`-s`); empty means all.
    pub only: Vec<Kind>,
    /// Steps sending a stop or start at the same time.
    pub concurrency: usize,
    /// Failed attempts per execution in one run before its step is `Failed` (`-m`).
    pub max_failures: u32,
    /// How long to wait for an execution to reach its target state (`-g`).
    pub grace_period: Duration,
    pub poll: PollPolicy,
    /// Try `Failed` steps again.
    pub retry_failed: bool,
    /// The options as the user gave them, recorded in the journal's run.
    pub recorded_options: serde_json::Value,
}

/// How a run's steps ended. Verification is separate ([`super::verify`]).
#[derive(Clone, Debug, Default)]
pub struct RunSummary {
    pub run: u64,
    /// Per kind: every step of the operation as the journal holds it after the run.
    pub steps: BTreeMap<Kind, Vec<StepRecord>>,
    pub interrupted: bool,
}

impl RunSummary {
    pub fn count(&self, kind: Kind, phase: &str) -> usize {
        self.steps
            .get(&kind)
            .map(|s| s.iter().filter(|r| r.phase.name() == phase).count())
            .unwrap_or(0)
    }

    pub fn failed(&self) -> impl Iterator<Item = &StepRecord> {
        self.steps
            .values()
            .flatten()
            .filter(|r| matches!(r.phase, StepPhase::Failed(_)))
    }

    /// The steps of run `run` as the journal holds them now, for the kinds it covers.
    pub fn read(
        journal: &Journal,
        run: u64,
        options: &RunOptions,
        interrupted: bool,
    ) -> Result<RunSummary, JournalError> {
        let kinds = kinds_in_order(options.op, &options.only);
        let mut summary = RunSummary {
            run,
            interrupted,
            ..RunSummary::default()
        };
        for rec in journal.steps(Some(options.op))? {
            if kinds.contains(&rec.key.kind) {
                summary.steps.entry(rec.key.kind).or_default().push(rec);
            }
        }
        Ok(summary)
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

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Unauthorized(ApiError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("the snapshot is not usable: {0}")]
    Snapshot(String),
}

/// Runs a shutdown or restore to its end, or until `cancel` fires. Every stop or start is a
/// journal step; a run that is interrupted, killed or fails can be run again and continues
/// exactly where this one stopped.
pub async fn run(
    journal: &Arc<Journal>,
    snapshot: &Snapshot,
    apis: &[Arc<dyn ExecutionKind>],
    options: &RunOptions,
    cancel: &Cancel,
    reporter: Arc<dyn Reporter>,
) -> Result<RunSummary, RunError> {
    let op = options.op;
    let run_id = journal.begin_run(op, options.recorded_options.clone())?.id;
    let result = run_steps(journal, run_id, snapshot, apis, options, cancel, reporter).await;
    if let Err(e) = &result {
        // Best effort: the journal may be what failed.
        let _ = journal.end_run(run_id, RunOutcome::Aborted, Some(e.to_string()));
    }
    result
}

async fn run_steps(
    journal: &Arc<Journal>,
    run_id: u64,
    snapshot: &Snapshot,
    apis: &[Arc<dyn ExecutionKind>],
    options: &RunOptions,
    cancel: &Cancel,
    reporter: Arc<dyn Reporter>,
) -> Result<RunSummary, RunError> {
    let op = options.op;
    let order = kinds_in_order(op, &options.only);
    let by_kind: HashMap<Kind, Arc<dyn ExecutionKind>> =
        apis.iter().map(|a| (a.kind(), a.clone())).collect();
    let planned = plan_steps(op, &options.only, snapshot, apis).map_err(RunError::Snapshot)?;
    // Intents for every step are durable before the first request leaves.
    let records = journal.plan(run_id, planned)?;
    let writer = journal.writer();
    let request_slots = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let health = Arc::new(ApiHealth::new(OUTAGE_AFTER, cancel.clone()));

    let mut by_key: HashMap<(Kind, String), StepRecord> = records
        .into_iter()
        .map(|r| ((r.key.kind, r.key.execution.clone()), r))
        .collect();

    // Scheduled jobs go alone (first on shutdown, last on restore); the other kinds overlap.
    let groups = group_kinds(&order);
    let mut fatal: Option<RunError> = None;
    for group in groups {
        if cancel.is_cancelled() {
            break;
        }
        let mut kind_runs = FuturesUnordered::new();
        for kind in group {
            let api = by_kind[&kind].clone();
            let mut work: Vec<(&Entry, StepRecord)> = Vec::new();
            let mut done = 0;
            let total = snapshot.entries(kind).len();
            for entry in snapshot.entries(kind) {
                let key = entry.key(kind).map_err(RunError::Snapshot)?.to_owned();
                let Some(rec) = by_key.remove(&(kind, key)) else {
                    continue;
                };
                if needs_work(&rec.phase, options.retry_failed) {
                    work.push((entry, rec));
                } else {
                    done += 1;
                }
            }
            reporter.kind_started(op, kind, total, done);
            let ctx = StepContext {
                op,
                run: run_id,
                observer: Observer::new(api.clone(), shared_listing_interval(&options.poll)),
                api,
                writer: writer.clone(),
                cancel: cancel.clone(),
                request_slots: request_slots.clone(),
                max_failures: options.max_failures,
                grace_period: options.grace_period,
                poll: options.poll,
                reporter: reporter.clone(),
                health: health.clone(),
            };
            let reporter = reporter.clone();
            kind_runs.push(async move {
                let result = drive_kind(&ctx, work).await;
                reporter.kind_finished(op, kind);
                result
            });
        }
        while let Some(result) = kind_runs.next().await {
            if let Err(abort) = result {
                match abort {
                    StepAbort::Interrupted => {}
                    StepAbort::Unauthorized(e) => {
                        cancel.cancel();
                        fatal.get_or_insert(RunError::Unauthorized(e));
                    }
                    StepAbort::Journal(e) => {
                        cancel.cancel();
                        fatal.get_or_insert(RunError::Journal(e));
                    }
                }
            }
        }
    }
    drop(writer);
    if let Some(e) = fatal {
        return Err(e);
    }

    Ok(RunSummary::read(
        journal,
        run_id,
        options,
        cancel.is_cancelled(),
    )?)
}

/// Runs every step of one kind concurrently; the request slots and the client's limits bound
/// what is in flight. Returns the first abort after every step has stopped.
async fn drive_kind(ctx: &StepContext, work: Vec<(&Entry, StepRecord)>) -> Result<(), StepAbort> {
    let mut steps: FuturesUnordered<_> = work
        .into_iter()
        .map(|(entry, rec)| Step::new(ctx, entry, rec).drive())
        .collect();
    let mut first_abort = None;
    while let Some(result) = steps.next().await {
        if let Err(abort) = result {
            if matches!(abort, StepAbort::Unauthorized(_) | StepAbort::Journal(_)) {
                ctx.cancel.cancel();
            }
            if first_abort.is_none() || matches!(first_abort, Some(StepAbort::Interrupted)) {
                first_abort = Some(abort);
            }
        }
    }
    match first_abort {
        Some(a) => Err(a),
        None => Ok(()),
    }
}

/// Shared listings are cheap per step but not free for the API: at most four a second (the
/// observer spaces long listings further), and never slower than single reads would look.
fn shared_listing_interval(poll: &PollPolicy) -> Duration {
    poll.initial.min(Duration::from_millis(250))
}

/// Scheduled jobs run on their own; the remaining kinds share one group.
fn group_kinds(order: &[Kind]) -> Vec<Vec<Kind>> {
    let mut groups: Vec<Vec<Kind>> = Vec::new();
    for &kind in order {
        let alone = kind == Kind::ScheduledJob;
        match groups.last_mut() {
            Some(last) if !alone && !last.contains(&Kind::ScheduledJob) => last.push(kind),
            _ => groups.push(vec![kind]),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduled_jobs_run_alone_at_the_right_end() {
        let shutdown = group_kinds(&kinds_in_order(Operation::Shutdown, &[]));
        assert_eq!(shutdown[0], vec![Kind::ScheduledJob]);
        assert_eq!(shutdown[1].len(), 3);
        let restore = group_kinds(&kinds_in_order(Operation::Restore, &[]));
        assert_eq!(restore.last().unwrap(), &vec![Kind::ScheduledJob]);
        assert_eq!(restore.len(), 2);
    }
}
