//! Drives the steps of a run: per kind concurrently, stage after stage, each step through
//! [`super::step`]'s protocol. Owns no run record; [`super::prepare`] does.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::Semaphore;

use super::cancel::Cancel;
use super::error::RunError;
use super::health::ApiHealth;
use super::live::{LiveListing, LiveListings, list_live, record_found};
use super::observe::Observer;
use super::options::PollPolicy;
use super::options::{JobsMode, RunOptions, Selection};
use super::plan::{kinds_in_order, needs_work};
use super::protocol::Protocol;
use super::record::StepDetail;
use super::report::Reporter;
use super::restart::RestartBook;
use super::stats::RunStats;
use super::step::{Step, StepAbort, StepContext};
use crate::domino::{Deployment, ExecutionKind};
use crate::journal::{Journal, JournalRead, JournalWriter, Operation, StepRecord};
use crate::snapshot::{Entry, Kind, Snapshot, Source};

/// Transient failures in a row, each after the client's own retries (about 20 s of failing),
/// that mean the API is down rather than busy: on a live API, successes come between them.
const OUTAGE_AFTER: u32 = 8;

/// What the steps of one run share: the run and where it stands.
pub(crate) struct RunScope<'a> {
    pub journal: &'a Arc<Journal>,
    pub run_id: u64,
    pub cycle: u32,
    pub snapshot: &'a Snapshot,
    pub deployment: &'a Deployment,
    pub selection: &'a Selection,
    pub options: &'a RunOptions,
    pub cancel: &'a Cancel,
    pub reporter: &'a Arc<dyn Reporter>,
    pub stats: &'a Arc<RunStats>,
    /// What this process listed of the live kinds (Jobs).
    pub listings: &'a Arc<LiveListings>,
}

/// Where the steps of a live kind (Jobs) come from in one drive.
pub(crate) enum LiveSource {
    /// The kinds' stages: a live kind's steps are what the plan's listing found, while it is
    /// young (see [`super::live`]), else what a listing finds when its stage begins (after the
    /// Scheduled Jobs are paused).
    Stages,
    /// Executions of live kinds that the verification found running and the journal did not
    /// have (launched after the plan's listing): planned, and only these driven.
    Found(Vec<LiveListing>),
}

/// Drives every step that needs work to an end, or until `cancel` fires: the kinds of one stage
/// at the same time, stage after stage. `records` are the operation's steps as the journal holds
/// them after this run planned its intents.
pub(crate) async fn drive_steps(
    scope: &RunScope<'_>,
    records: Vec<StepRecord>,
    source: LiveSource,
) -> Result<(), RunError> {
    let RunScope {
        journal,
        cycle,
        snapshot,
        deployment,
        selection,
        options,
        cancel,
        reporter,
        stats,
        ..
    } = *scope;
    // Says once when a step has been failing too long, for as long as the steps run.
    let stuck_watch = watch_for_stuck_steps(stats.clone(), reporter.clone(), options.stuck_after);
    let op = selection.op;
    let shares = Shares {
        writer: journal.writer(),
        request_slots: Arc::new(Semaphore::new(options.concurrency.max(1))),
        health: Arc::new(ApiHealth::new(OUTAGE_AFTER, cancel.clone())),
        restarts: Arc::new(RestartBook::new(journal.clone(), cycle)),
    };

    let mut by_key: HashMap<(Kind, String), StepRecord> = records
        .into_iter()
        .map(|r| ((r.key.kind, r.key.execution.clone()), r))
        .collect();

    let mut fatal: Option<RunError> = None;
    let (order, mut found) = match source {
        LiveSource::Stages => (kinds_in_order(op, &selection.only), Vec::new()),
        LiveSource::Found(found) => (found.iter().map(|l| l.kind).collect(), found),
    };
    for stage in stages(&order) {
        if cancel.is_cancelled() {
            break;
        }
        let mut kind_runs = FuturesUnordered::new();
        for kind in stage {
            let api = deployment.kind(kind);
            let live = kind.source() == Source::Live;
            // What this kind's steps act on: the snapshot's entries, or, for a kind the snapshot
            // does not record, what the journal keeps of each execution found running (listed
            // in the kind's own future below, so the other kinds of its stage do not wait).
            let from_snapshot = if live {
                None
            } else {
                Some(snapshot_steps(snapshot, kind, &mut by_key)?)
            };
            let ctx = shares.context(scope, api);
            let found_now = found
                .iter()
                .position(|l| l.kind == kind)
                .map(|i| found.swap_remove(i));
            let reporter = reporter.clone();
            kind_runs.push(async move {
                // `only`: the executions a sweep found; the kind's other steps count in its
                // total, as they do in its stage, but are not driven again.
                let (steps, only) = match from_snapshot {
                    Some(steps) => (steps, None),
                    None => live_steps(scope, kind, found_now).await?,
                };
                let total = steps.len();
                let work: Vec<(Entry, StepRecord)> = steps
                    .into_iter()
                    .filter(|(_, rec)| needs_work(&rec.phase, options.retry_failed))
                    .filter(|(_, rec)| {
                        only.as_ref()
                            .is_none_or(|o: &HashSet<String>| o.contains(&rec.key.execution))
                    })
                    .collect();
                ctx.stats.kind_started(kind, total);
                reporter.kind_started(op, kind, total, total - work.len());
                let result = drive_kind(&ctx, work).await;
                reporter.kind_finished(op, kind);
                result
            });
        }
        while let Some(result) = kind_runs.next().await {
            if let Err(abort) = result
                && let Some(e) = run_error(abort)
            {
                cancel.cancel();
                fatal.get_or_insert(e);
            }
        }
    }
    drop(shares);
    stuck_watch.abort();
    match fatal {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// What every step of a run shares: the journal's writer, the slots requests take, the API's
/// health, the book of restarts.
struct Shares {
    writer: JournalWriter,
    request_slots: Arc<Semaphore>,
    health: Arc<ApiHealth>,
    restarts: Arc<RestartBook>,
}

impl Shares {
    /// What the steps of one kind (`api`) are driven with.
    fn context(&self, scope: &RunScope<'_>, api: Arc<dyn ExecutionKind>) -> StepContext {
        let options = scope.options;
        let op = scope.selection.op;
        let live = api.kind().source() == Source::Live;
        StepContext {
            op,
            run: scope.run_id,
            protocol: Protocol::for_step(op, live, api.comes_back()),
            observer: Observer::new(api.clone(), shared_listing_interval(&options.poll)),
            api,
            writer: self.writer.clone(),
            cancel: scope.cancel.clone(),
            request_slots: self.request_slots.clone(),
            max_failures: options.max_failures,
            grace_period: options.grace_period,
            poll: options.poll,
            reporter: scope.reporter.clone(),
            stats: scope.stats.clone(),
            health: self.health.clone(),
            hold_until: match options.jobs {
                JobsMode::Wait(grace) if live => Some(scope.listings.hold_until(grace)),
                _ => None,
            },
            restarts: self.restarts.clone(),
        }
    }
}

/// The steps of a kind the snapshot records, with their entries, taken out of `by_key`.
fn snapshot_steps(
    snapshot: &Snapshot,
    kind: Kind,
    by_key: &mut HashMap<(Kind, String), StepRecord>,
) -> Result<Vec<(Entry, StepRecord)>, RunError> {
    let mut steps = Vec::new();
    for entry in snapshot.entries(kind) {
        let key = entry.key(kind).map_err(RunError::Snapshot)?.to_owned();
        if let Some(rec) = by_key.remove(&(kind, key)) {
            steps.push((entry.clone(), rec));
        }
    }
    Ok(steps)
}

/// The steps of a kind the snapshot does not record, from what the journal keeps of each
/// execution found running: on a shutdown, the stage's own listing (or a sweep's `found`) is
/// recorded first. With a sweep's `found`, also the executions it found (`only`): the kind's
/// other steps count in its total, as they do in its stage, but are not driven again.
async fn live_steps(
    scope: &RunScope<'_>,
    kind: Kind,
    found: Option<LiveListing>,
) -> Result<(Vec<(Entry, StepRecord)>, Option<HashSet<String>>), StepAbort> {
    let op = scope.selection.op;
    let only = match (op, found) {
        (Operation::Shutdown, Some(found)) => {
            record_found(scope.journal, scope.run_id, &found, scope.options)?;
            Some(keys_of(&found))
        }
        (Operation::Shutdown, None) => {
            stage_listing(scope, kind).await?;
            None
        }
        (Operation::Restore, _) => None,
    };
    let steps = scope
        .journal
        .steps(Some(op))?
        .into_iter()
        .filter(|s| s.key.kind == kind && s.cycle >= scope.cycle)
        .map(|s| (entry_of(&s), s))
        .collect();
    Ok((steps, only))
}

/// What a kind's abort means for the run: `None` for an interruption, else the error that
/// ends it.
fn run_error(abort: StepAbort) -> Option<RunError> {
    match abort {
        StepAbort::Interrupted => None,
        StepAbort::Unauthorized(e) => Some(RunError::Unauthorized(e)),
        StepAbort::Journal(e) => Some(RunError::Journal(e)),
    }
}

/// Looks every so often (a quarter of `after`, between 0.2 and 10 s) for steps failing for
/// `after` or longer, and tells the reporter of each once.
fn watch_for_stuck_steps(
    stats: Arc<RunStats>,
    reporter: Arc<dyn Reporter>,
    after: Duration,
) -> tokio::task::JoinHandle<()> {
    let pause = (after / 4).clamp(Duration::from_millis(200), Duration::from_secs(10));
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(pause).await;
            for stuck in stats.newly_stuck(after, Instant::now()) {
                reporter.step_stuck(&stuck);
            }
        }
    })
}

/// Runs every step of one kind concurrently; the request slots and the client's limits bound
/// what is in flight. Returns the first abort after every step has stopped.
async fn drive_kind(ctx: &StepContext, work: Vec<(Entry, StepRecord)>) -> Result<(), StepAbort> {
    let mut steps: FuturesUnordered<_> = work
        .iter()
        .map(|(entry, rec)| Step::new(ctx, entry, rec.clone()).drive())
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

/// Plans the steps of a live kind when its stage begins: from the plan's listing while it is
/// young and a verification follows, else from a listing now, when the gate stage has passed
/// (nothing new is launched). A listing that fails leaves the steps found before: the
/// verification pass then says what still runs.
async fn stage_listing(scope: &RunScope<'_>, kind: Kind) -> Result<(), StepAbort> {
    let options = scope.options;
    let reused = scope
        .listings
        .take_plan_listing(kind, options.verify, Instant::now());
    let listing = match reused {
        Some(listing) => {
            tracing::info!(
                "{kind}: {} running as the plan listed them {:.1}s ago; not listed again (the verification sweeps any launched since)",
                listing.entries.len(),
                listing.taken.elapsed().as_secs_f64()
            );
            listing
        }
        None => match list_live(scope.deployment, kind, options).await {
            Ok(listing) => {
                tracing::info!("{kind}: {} running now", listing.entries.len());
                listing
            }
            Err(e) if e.is_unauthorized() => return Err(StepAbort::Unauthorized(e)),
            // The steps found before stand; the verification says what still runs.
            Err(e) => {
                tracing::warn!(
                    "{kind}: the running ones could not be listed ({e}); only those found before are drained"
                );
                return Ok(());
            }
        },
    };
    record_found(scope.journal, scope.run_id, &listing, options)?;
    Ok(())
}

fn keys_of(listing: &LiveListing) -> HashSet<String> {
    listing
        .entries
        .iter()
        .filter_map(|e| e.key(listing.kind).ok().map(str::to_owned))
        .collect()
}

/// A journal step as the entry its calls need.
pub(crate) fn entry_of(step: &StepRecord) -> Entry {
    Entry {
        id: StepDetail::identity_or_id(step.detail.as_ref(), &step.key.execution),
        name: step.name.clone(),
        owner: step.owner.clone(),
    }
}

/// Shared listings are cheap per step but not free for the API: at most four a second (the
/// observer spaces long listings further), and never slower than single reads would look.
fn shared_listing_interval(poll: &PollPolicy) -> Duration {
    poll.initial.min(Duration::from_millis(250))
}

/// Consecutive kinds of one stage run together (the order already puts stages in turn).
fn stages(order: &[Kind]) -> Vec<Vec<Kind>> {
    let mut stages: Vec<Vec<Kind>> = Vec::new();
    for &kind in order {
        match stages.last_mut() {
            Some(last) if last[0].stage() == kind.stage() => last.push(kind),
            _ => stages.push(vec![kind]),
        }
    }
    stages
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Operation;

    #[test]
    fn scheduled_jobs_run_alone_at_the_right_end() {
        let shutdown = stages(&kinds_in_order(Operation::Shutdown, &[]));
        assert_eq!(shutdown[0], vec![Kind::ScheduledJob]);
        assert_eq!(
            shutdown[1],
            vec![Kind::App, Kind::ModelApiVersion, Kind::Workspace, Kind::Job],
            "Jobs are listed and stopped once the gate is closed, with the rest"
        );
        let restore = stages(&kinds_in_order(Operation::Restore, &[]));
        assert_eq!(restore.last().unwrap(), &vec![Kind::ScheduledJob]);
        assert_eq!(restore.len(), 2);
    }
}
