use crate::journal::{Operation, StepRecord};
use crate::snapshot::Kind;

/// Hooks through which the runner tells the outside world how it is doing; the CLI draws
/// progress bars and log lines from them. Every method has a no-op default.
pub trait Reporter: Send + Sync {
    /// A kind's steps are about to run: `total` steps, of which `done` had already ended.
    fn kind_started(&self, _op: Operation, _kind: Kind, _total: usize, _done: usize) {}
    /// A step changed phase (written to the journal already).
    fn step_changed(&self, _step: &StepRecord) {}
    /// A step reached its end in this run.
    fn step_ended(&self, _step: &StepRecord) {}
    fn kind_finished(&self, _op: Operation, _kind: Kind) {}
    /// Something the operator should know that is not a step's failure.
    fn warning(&self, _message: &str) {}
    fn verification_started(&self) {}
}

pub struct NoReporter;

impl Reporter for NoReporter {}
