//! The durable runner: turns a snapshot into journal steps and drives each step to its end.
//!
//! Knows steps, phases, concurrency, polling and verification; reaches the API only through
//! [`ExecutionKind`](crate::domino::ExecutionKind) and the journal only through its typed API.

mod cancel;
mod engine;
mod health;
mod observe;
mod plan;
mod report;
mod step;
pub mod verify;

pub use cancel::Cancel;
pub use engine::{RunError, RunOptions, RunSummary, run};
pub use plan::{Plan, PlanLine, kinds_in_order, plan_steps};
pub use report::{NoReporter, Reporter};
pub use step::PollPolicy;

use crate::domino::Observed;
use crate::journal::Operation;

/// The state an operation promises to leave each execution in.
pub fn target_state(op: Operation) -> Observed {
    match op {
        Operation::Shutdown => Observed::Stopped,
        Operation::Restore => Observed::Running,
    }
}
