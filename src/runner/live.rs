//! What a shutdown knows of the live kinds (Jobs: not in the snapshot, found running) from the
//! listings this process took: the plan's listing, which the Jobs stage reuses when it begins
//! soon after it. A listing row never stands in for a step's look before its stop: a Job a user
//! stops in the seconds between the listing and dmm's stop would be recorded as dmm's doing, and
//! restarted by `restore --restart-jobs`. Nothing here is kept across processes: a run in a new
//! process lists again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::options::{JobsMode, RunOptions};
use super::plan::live_stop_step;
use crate::domino::kinds::Listing;
use crate::domino::{Deployment, list_kind};
use crate::journal::{Journal, JournalError, NewStep, StepKey, StepPhase};
use crate::snapshot::{Entry, Kind};

/// How long after the plan's listing the Jobs stage may take it for its own instead of listing
/// every project again. Domino has no deployment-wide list of Jobs, so a listing is one request
/// per project (or more): at 200 projects and 100 Jobs, two requests per Job. Within this
/// window the stage follows the plan at once (the confirmation was given, or not asked); a Job
/// launched in between (a schedule firing before it is paused, a user) is caught by the
/// verification's sweep (`execute.rs`), which is why a run without verification lists again.
pub(crate) const REUSE_PLAN_LISTING_WITHIN: Duration = Duration::from_secs(30);

/// One listing of a live kind, as this process took it.
#[derive(Clone, Debug)]
pub(crate) struct LiveListing {
    pub kind: Kind,
    /// What runs (the steps to plan).
    pub entries: Vec<Entry>,
    pub taken: Instant,
}

impl LiveListing {
    pub(crate) fn new(kind: Kind, listing: Listing, taken: Instant) -> LiveListing {
        LiveListing {
            kind,
            entries: listing.entries,
            taken,
        }
    }
}

/// The listings of one run in this process.
#[derive(Debug, Default)]
pub(crate) struct LiveListings {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// The plan's listing per kind, until a stage takes it.
    plan: HashMap<Kind, LiveListing>,
    /// When `--jobs wait` stops holding the live kinds' stops: set when their stage begins.
    hold_until: Option<Instant>,
}

impl LiveListings {
    pub(crate) fn with_plan(listings: Vec<LiveListing>) -> Arc<LiveListings> {
        let me = LiveListings::default();
        me.lock().plan = listings.into_iter().map(|l| (l.kind, l)).collect();
        Arc::new(me)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The plan's listing of `kind`, taken once, if it is younger than
    /// [`REUSE_PLAN_LISTING_WITHIN`] and a verification will sweep what it cannot show.
    pub(crate) fn take_plan_listing(
        &self,
        kind: Kind,
        verified: bool,
        now: Instant,
    ) -> Option<LiveListing> {
        let listing = self.lock().plan.remove(&kind)?;
        let age = now.saturating_duration_since(listing.taken);
        (verified && age < REUSE_PLAN_LISTING_WITHIN).then_some(listing)
    }

    /// `--jobs wait`: the end of the hold, the same for every step of the live kinds, however
    /// late it was found.
    pub(crate) fn hold_until(&self, grace: Duration) -> Instant {
        *self.lock().hold_until.get_or_insert_with(|| {
            // A wait of minutes must not look like a hang in the log: said once, when it begins.
            tracing::info!(
                target: crate::domino::long_wait::TARGET,
                "giving the running Jobs until {} to finish on their own (--jobs wait), then stopping the rest (their results committed)",
                crate::domino::long_wait::wall_clock_in(grace)
            );
            Instant::now() + grace
        })
    }
}

/// Lists what of a live kind runs now, across every project, noting when.
pub(crate) async fn list_live(
    deployment: &Deployment,
    kind: Kind,
    options: &RunOptions,
) -> Result<LiveListing, crate::domino::ApiError> {
    let api = deployment.kind(kind);
    let taken = Instant::now();
    let listing = list_kind(&deployment.client, api.as_ref(), options.concurrency).await?;
    Ok(LiveListing::new(kind, listing, taken))
}

/// Plans a step for each execution of a live kind a listing found that the journal's cycle
/// does not have yet (`--jobs leave` plans them as skipped), and brings what an earlier run of
/// this cycle planned differently and never sent in line with what this run asks. Each
/// execution gets one step, so it is stopped at most once.
pub(crate) fn record_found(
    journal: &Arc<Journal>,
    run_id: u64,
    listing: &LiveListing,
    options: &RunOptions,
) -> Result<(), JournalError> {
    let kind = listing.kind;
    let found: Vec<NewStep> = listing
        .entries
        .iter()
        .cloned()
        .filter_map(|entry| live_stop_step(kind, entry, options.jobs))
        .collect();
    // What an earlier run of this cycle planned differently and never sent (it left them
    // running, or was to stop them) follows what this run asks for.
    let revisions: Vec<(StepKey, StepPhase, String)> = found
        .iter()
        .map(|s| {
            let reason = match options.jobs {
                JobsMode::Leave => "this run leaves running jobs alone (--jobs leave)",
                JobsMode::Stop | JobsMode::Wait(_) => {
                    "this run stops running jobs (an earlier run left them running)"
                }
            };
            (s.key.clone(), s.phase.clone(), reason.to_string())
        })
        .collect();
    journal.plan(run_id, found)?;
    let replanned = journal.replan_unsent(run_id, &revisions)?;
    if replanned > 0 {
        tracing::info!("{kind}: {replanned} planned again for what this run asks");
    }
    Ok(())
}
