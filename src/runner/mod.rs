//! The durable runner: turns a snapshot into journal steps and drives each step to its end.
//!
//! One entry point: [`prepare`] plans a run against its journal, [`Prepared::execute`] runs it,
//! verifies it and returns a [`RunReport`]. Knows steps, phases, concurrency, polling and
//! verification; reaches the API only through [`Deployment`](crate::domino::Deployment) and its
//! [`ExecutionKind`](crate::domino::ExecutionKind)s, and the journal only through its typed API.
//! The step protocol and its crash windows are written down in [`protocol`]'s documentation;
//! `step` drives a step by it.

mod cancel;
mod change;
mod engine;
mod error;
mod execute;
mod extra_runs;
mod health;
mod jobs;
mod live;
mod next;
mod observe;
mod options;
mod pace;
mod plan;

mod prepare;
mod promise;
mod protocol;
mod record;
mod report;
mod restart;
mod stats;
mod step;
mod summary;
mod sweep;
pub mod verify;
mod window;

pub use cancel::Cancel;
pub use change::{
    CHANGE_ID_MAX, change_id_shown, change_ids, parse_change_id, window_line, window_line_shown,
};
pub use error::RunError;
pub use jobs::{JobFate, JobsOfShutdown, RestartFate, StopFate, job_fates, nothing_to_restart};
pub use next::{ContinueBecause, NextAction, RunFlags, next_action};
pub use options::{JobsMode, PollPolicy, RunOptions, Selection, defaults};
pub use plan::{Plan, PlanLine, cycle_for, kinds_in_order, kinds_not_done, plan_steps};
pub use prepare::{Prepared, plan_only, prepare};
pub use record::{
    JobIdentity, JobsFlag, RecordedOptions, RecordedRate, ScanRecord, StepDetail,
    VerificationDetail, VerificationState,
};
pub use report::{NoReporter, Notify, Reporter, Reporters, RunReport, VerificationOutcome};
pub use stats::{PhaseCounts, RunStats, StuckStep};
pub use summary::RunSummary;
pub use window::{PhaseCount, RunStanding, Window, exit_code};

use crate::domino::Observed;
use crate::journal::Operation;

/// The state an operation promises to leave each execution in.
pub fn target_state(op: Operation) -> Observed {
    match op {
        Operation::Shutdown => Observed::Stopped,
        Operation::Restore => Observed::Running,
    }
}
