use std::collections::HashMap;

use async_trait::async_trait;

use super::ApiError;
use crate::snapshot::{Entry, Kind};

/// What the API says about one execution right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observed {
    /// In a running state (for a scheduled job: not paused).
    Running,
    /// In a stopped state (for a scheduled job: paused).
    Stopped,
    /// Between the two (`Pending`, `Stopping`, `Starting`, ...); the API's status word.
    InMotion(String),
    /// The execution no longer exists (404).
    Gone,
}

/// Everything the runner needs from one kind of execution. Adding a kind (jobs, image builds)
/// means one new module implementing this trait.
#[async_trait]
pub trait ExecutionKind: Send + Sync {
    fn kind(&self) -> Kind;

    /// Asks the execution to stop (for a scheduled job: pause). State-setting, so safe to repeat.
    /// Returns the state the answer itself shows, when it shows one (a scheduled job's PUT
    /// answers with the job), which saves the runner a read.
    async fn stop(&self, entry: &Entry) -> Result<Option<Observed>, ApiError>;

    /// Asks the execution to start (for a scheduled job: resume). State-setting, so safe to
    /// repeat. Returns the state the answer shows, as for [`ExecutionKind::stop`].
    async fn start(&self, entry: &Entry) -> Result<Option<Observed>, ApiError>;

    /// Whether [`ExecutionKind::observe_all`] reads every execution's state in a listing, so
    /// that concurrent steps can share one listing instead of a read each.
    fn has_bulk_listing(&self) -> bool {
        false
    }

    /// Reads one execution's state. A 404 is `Ok(Observed::Gone)`, not an error.
    async fn observe(&self, entry: &Entry) -> Result<Observed, ApiError>;

    /// Reads the state of every execution of this kind in as few requests as the API allows,
    /// keyed by [`Entry::key`]; an execution missing from the answer no longer exists.
    /// `None` when the kind has no listing that carries states (model versions, scheduled jobs):
    /// the runner then calls [`ExecutionKind::observe`] per execution.
    async fn observe_all(&self) -> Option<Result<HashMap<String, Observed>, ApiError>> {
        None
    }

    /// Whether restore starts this execution; `Err(reason)` records it as skipped.
    fn restartable(&self, entry: &Entry) -> Result<(), String>;
}
