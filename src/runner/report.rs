//! What a run tells the outside world: hooks while it runs, a report when it ends.

use std::sync::Arc;
use std::time::Duration;

use super::jobs::JobsOfShutdown;
use super::next::NextAction;
use super::plan::Plan;
use super::stats::{RunStats, StuckStep};
use super::summary::RunSummary;
use super::verify::Verification;
use super::window::{RunStanding, Window};
use crate::journal::{ChainHead, NotificationRecord, Operation, RunOutcome, StepRecord};
use crate::snapshot::Kind;

/// Hooks through which the runner tells the outside world how it is doing; the CLI draws
/// progress bars and log lines from them. Every method has a no-op default.
pub trait Reporter: Send + Sync {
    /// The run has begun; `stats` are its statistics, which the runner keeps up to date for as
    /// long as it runs (read them; keep no copy of the run's state).
    fn run_began(&self, _stats: &Arc<RunStats>) {}
    /// A kind's steps are about to run: `total` steps, of which `done` had already ended.
    fn kind_started(&self, _op: Operation, _kind: Kind, _total: usize, _done: usize) {}
    /// A step changed phase (written to the journal already).
    fn step_changed(&self, _step: &StepRecord) {}
    /// A step reached its end in this run.
    fn step_ended(&self, _step: &StepRecord) {}
    fn kind_finished(&self, _op: Operation, _kind: Kind) {}
    fn verification_started(&self) {}
    /// The verification pass ended with `outcome` (checked, skipped, or not possible).
    fn verification_ended(&self, _outcome: &VerificationOutcome) {}
    /// The run is over, however it ended: nothing more will be heard.
    fn run_finished(&self) {}
    /// A step has been failing for longer than the run allows (`RunOptions::stuck_after`);
    /// said once per step.
    fn step_stuck(&self, _stuck: &StuckStep) {}
}

pub struct NoReporter;

impl Reporter for NoReporter {}

/// Several reporters heard as one (progress bars, a metrics file, notifications).
pub struct Reporters(pub Vec<Arc<dyn Reporter>>);

impl Reporter for Reporters {
    fn run_began(&self, stats: &Arc<RunStats>) {
        self.0.iter().for_each(|r| r.run_began(stats));
    }
    fn step_stuck(&self, stuck: &StuckStep) {
        self.0.iter().for_each(|r| r.step_stuck(stuck));
    }
    fn kind_started(&self, op: Operation, kind: Kind, total: usize, done: usize) {
        self.0
            .iter()
            .for_each(|r| r.kind_started(op, kind, total, done));
    }
    fn step_changed(&self, step: &StepRecord) {
        self.0.iter().for_each(|r| r.step_changed(step));
    }
    fn step_ended(&self, step: &StepRecord) {
        self.0.iter().for_each(|r| r.step_ended(step));
    }
    fn kind_finished(&self, op: Operation, kind: Kind) {
        self.0.iter().for_each(|r| r.kind_finished(op, kind));
    }
    fn verification_started(&self) {
        self.0.iter().for_each(|r| r.verification_started());
    }
    fn verification_ended(&self, outcome: &VerificationOutcome) {
        self.0.iter().for_each(|r| r.verification_ended(outcome));
    }
    fn run_finished(&self) {
        self.0.iter().for_each(|r| r.run_finished());
    }
}

/// Tells someone outside about a run (webhooks for an unattended window). A notification never
/// fails or holds up the run: implementations bound their own time and return what became of
/// each delivery, which the run records in its journal.
#[async_trait::async_trait]
pub trait Notify: Send + Sync {
    /// The run has begun (its record exists); `plan` is what it will do.
    async fn run_started(&self, op: Operation, run: u64, plan: &Plan) -> Vec<NotificationRecord>;
    /// The run has ended and is recorded; also returns the deliveries made meanwhile (a step
    /// stuck failing), so that every one is recorded.
    async fn run_ended(&self, report: &RunReport) -> Vec<NotificationRecord>;
}

/// What the verification pass of a run came to.
#[derive(Clone, Debug)]
pub enum VerificationOutcome {
    /// The pass ran; see `passed`.
    Checked(Verification),
    /// `--no-verify`.
    Skipped,
    /// The deployment could not be listed; the run cannot claim it is as promised.
    Unavailable(String),
    /// The run was interrupted before or during the pass; the next run verifies.
    NotRun,
}

impl VerificationOutcome {
    /// Whether the pass found nothing wrong, so that the run may complete: it passed, or it was
    /// skipped on request. A skipped pass is not a verified one: see [`Self::verified`].
    pub fn holds(&self) -> bool {
        match self {
            VerificationOutcome::Checked(v) => v.passed,
            VerificationOutcome::Skipped => true,
            VerificationOutcome::Unavailable(_) | VerificationOutcome::NotRun => false,
        }
    }

    /// Whether the deployment was checked and found as promised.
    pub fn verified(&self) -> bool {
        matches!(self, VerificationOutcome::Checked(v) if v.passed)
    }

    /// `passed`, `failed`, `skipped` or `not_run`, for notices and scripts.
    pub fn word(&self) -> &'static str {
        match self {
            VerificationOutcome::Checked(v) if v.passed => "passed",
            VerificationOutcome::Checked(_) | VerificationOutcome::Unavailable(_) => "failed",
            VerificationOutcome::Skipped => "skipped",
            VerificationOutcome::NotRun => "not_run",
        }
    }
}

/// How a run ended, for the CLI to render and turn into an exit code.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub op: Operation,
    pub summary: RunSummary,
    /// The window as the journal holds it after the run: what every frontend renders.
    pub window: Window,
    /// `Completed`, `CompletedWithFailures` or `Interrupted`, as recorded in the journal.
    pub outcome: RunOutcome,
    /// Why the run stopped early, when it did and knows why (an outage, a signal's name).
    pub interrupted_because: Option<String>,
    pub verification: VerificationOutcome,
    /// Confirmed steps that the verification found out of their target state, reopened so that
    /// the same command sends their requests again.
    pub reopened: usize,
    /// Kinds of the snapshot this operation has not finished yet (a run limited with `-s`, or
    /// steps failed or reopened), in the order the operation touches them.
    pub not_done: Vec<Kind>,
    /// What to do next, from the journal as this run left it.
    pub next: NextAction,
    pub took: Duration,
    /// The journal's hash chain head when the run ended, as its record keeps it: to be kept
    /// outside the file too (printed, notified, exported).
    pub journal_head: Option<ChainHead>,
}

impl RunReport {
    /// What became of the Jobs, when the run covered them.
    pub fn jobs(&self) -> Option<&JobsOfShutdown> {
        self.summary.covers_jobs.then_some(&self.window.jobs)
    }

    /// The Jobs line, when the run covered Jobs and the window found any running.
    pub fn jobs_line(&self) -> Option<String> {
        self.jobs().and_then(|_| self.window.jobs_line())
    }

    /// How the run stands, in the words every frontend uses.
    pub fn standing(&self) -> RunStanding {
        RunStanding::Ended(self.outcome)
    }
}
