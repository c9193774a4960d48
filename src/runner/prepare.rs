//! A run's one entry point: [`prepare`] makes the plan once, against the journal and what
//! runs now; [`Prepared::execute`] (`execute.rs`) carries it out. The CLI parses, confirms and
//! renders; it never sequences a run (the split of nextest's runner and reporter, or kubectl's
//! drain helper).

use std::path::Path;
use std::sync::Arc;

use super::error::RunError;
use super::live::{LiveListing, LiveListings, list_live};
use super::options::{RunOptions, Selection};
use super::plan::{Plan, cycle_for, live_stop_step, plan_steps, restart_steps};
use super::report::Notify;
use crate::domino::{About, ApiError, Deployment, about};
use crate::journal::{Journal, JournalRead, JournalReader, NewStep, Operation, StepRecord};
use crate::snapshot::{Kind, LoadedSnapshot};

/// A run planned against its journal, ready to execute.
pub struct Prepared {
    pub(super) journal: Arc<Journal>,
    pub(super) snapshot: LoadedSnapshot,
    pub(super) deployment: Arc<Deployment>,
    pub(super) selection: Selection,
    pub(super) options: RunOptions,
    pub(super) planned: Vec<NewStep>,
    pub(super) plan: Plan,
    pub(super) notify: Option<Arc<dyn Notify>>,
    /// The Domino version and the identity, recorded with the run.
    pub(super) about: About,
    /// What this process listed of the live kinds (Jobs), for the run to reuse.
    pub(super) live_listings: Arc<LiveListings>,
}

/// What a run would do, from the journal as it is, touching nothing: no lock is taken, no
/// request is sent, a missing journal is not created. For `--dry-run`.
pub async fn plan_only(
    journal: &Path,
    snapshot: &LoadedSnapshot,
    deployment: &Deployment,
    selection: &Selection,
    options: &RunOptions,
) -> Result<Plan, RunError> {
    let mut planned = plan_steps(
        selection.op,
        &selection.only,
        &snapshot.snapshot,
        &deployment.kinds,
    )
    .map_err(RunError::Snapshot)?;
    let (existing, shutdown_steps, runs) = if journal.exists() {
        let reader = JournalReader::open_bound(journal, &snapshot.sha256)?;
        (
            reader.steps(Some(selection.op))?,
            reader.steps(Some(Operation::Shutdown))?,
            reader.runs()?,
        )
    } else {
        (Vec::new(), Vec::new(), Vec::new())
    };
    let cycle = cycle_for(selection.op, &runs);
    let (live, _) = live_steps(deployment, selection, options, &shutdown_steps, cycle.0).await?;
    planned.extend(live);
    Ok(Plan::new(
        selection.op,
        &planned,
        &existing,
        options.retry_failed,
        cycle,
    ))
}

/// The steps of the kinds a snapshot does not record: on shutdown, what runs now (for the plan
/// shown; recorded when the run reaches them, from this listing if it is still young, see
/// [`super::live`]), with the listings; on restore with `--restart-jobs`, the ones the shutdown
/// stopped.
async fn live_steps(
    deployment: &Deployment,
    selection: &Selection,
    options: &RunOptions,
    shutdown_steps: &[StepRecord],
    cycle: u32,
) -> Result<(Vec<NewStep>, Vec<LiveListing>), RunError> {
    let chosen = |k: &Kind| selection.only.is_empty() || selection.only.contains(k);
    let mut steps = Vec::new();
    let mut listings = Vec::new();
    for &kind in Kind::LIVE.iter().filter(|k| chosen(k)) {
        match selection.op {
            Operation::Shutdown => {
                let listing = match list_live(deployment, kind, options).await {
                    Ok(listing) => listing,
                    Err(e) if e.is_unauthorized() => return Err(RunError::NotUsable(e)),
                    Err(e) => {
                        tracing::warn!("{kind}: the running ones could not be listed: {e}");
                        continue;
                    }
                };
                steps.extend(
                    listing
                        .entries
                        .iter()
                        .cloned()
                        .filter_map(|entry| live_stop_step(kind, entry, options.jobs)),
                );
                listings.push(listing);
            }
            Operation::Restore if options.restart_jobs => {
                steps.extend(
                    restart_steps(shutdown_steps, cycle, &selection.only)
                        .into_iter()
                        .filter(|s| s.key.kind == kind),
                );
            }
            Operation::Restore => {}
        }
    }
    Ok((steps, listings))
}

/// Checks that the deployment answers, then opens (or creates) the snapshot's journal and plans
/// the run against it. A refused key or a host that does not answer is found before the journal
/// is touched, so that a run that could not have done anything leaves no trace.
pub async fn prepare(
    journal: &Path,
    snapshot: LoadedSnapshot,
    deployment: Arc<Deployment>,
    selection: Selection,
    mut options: RunOptions,
) -> Result<Prepared, RunError> {
    options.recorded_options.host = Some(deployment.client.base_url().to_owned());
    let planned = plan_steps(
        selection.op,
        &selection.only,
        &snapshot.snapshot,
        &deployment.kinds,
    )
    .map_err(RunError::Snapshot)?;
    // The run's first listing must succeed: every "gone" (404) a step later believes rests on
    // it, and a URL that answers 404 everywhere would otherwise record every stop as done.
    match deployment.check_answers().await {
        Ok(()) => {}
        // An unreachable host is configuration to fix, like a refused key.
        Err(e @ ApiError::Transport { .. }) => return Err(RunError::NotUsable(e)),
        Err(e) if e.is_transient() => return Err(RunError::Unavailable(e)),
        Err(e @ ApiError::NotFound { .. }) => return Err(RunError::WrongUrl(e)),
        Err(e) => return Err(RunError::NotUsable(e)),
    }
    let about = about(&deployment.client).await;
    let journal = Arc::new(Journal::open(journal, &snapshot.sha256, &snapshot.path)?);
    let existing = journal.steps(Some(selection.op))?;
    let cycle = cycle_for(selection.op, &journal.runs()?);
    let (live, live_listings) = live_steps(
        &deployment,
        &selection,
        &options,
        &journal.steps(Some(Operation::Shutdown))?,
        cycle.0,
    )
    .await?;
    // Restarts are recorded with the plan; what a shutdown finds live is recorded when the run
    // reaches its stage (from this listing while it is young, else listed again).
    let (shown, to_record): (Vec<NewStep>, Vec<NewStep>) = match selection.op {
        Operation::Shutdown => (live, Vec::new()),
        Operation::Restore => (live.clone(), live),
    };
    let mut planned = planned;
    planned.extend(to_record);
    let mut displayed = planned.clone();
    displayed.extend(
        shown
            .into_iter()
            .filter(|s| s.key.op == Operation::Shutdown),
    );
    let plan = Plan::new(
        selection.op,
        &displayed,
        &existing,
        options.retry_failed,
        cycle,
    );
    Ok(Prepared {
        journal,
        snapshot,
        deployment,
        selection,
        options,
        planned,
        plan,
        notify: None,
        about,
        live_listings: LiveListings::with_plan(live_listings),
    })
}

impl Prepared {
    /// What this run will do, per kind, given what the journal already records.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn host(&self) -> &str {
        self.deployment.client.base_url()
    }

    /// Someone to tell when the run starts and ends (`--notify-url`).
    pub fn notify_with(mut self, notify: Arc<dyn Notify>) -> Prepared {
        self.notify = Some(notify);
        self
    }

    /// The client the run sends through, for figures such as its request count.
    pub fn client(&self) -> &crate::domino::DominoClient {
        &self.deployment.client
    }
}
