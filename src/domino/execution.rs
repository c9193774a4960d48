//! [`ExecutionKind`], the trait every kind of execution implements (one module per kind in
//! `kinds/`): how the scan lists it, how the runner stops, starts, restarts and reads it, and
//! how `dmm preflight` probes and costs it; with the states it reports ([`Observed`]).

use std::collections::HashMap;

use async_trait::async_trait;

use super::kinds::Listing;
use super::probe::ListingProbe;
use super::projects::{Project, ProjectIndex};
use super::{ApiError, ScanProgress};
use crate::snapshot::{Entry, Kind};

/// What the API says about one execution right now.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
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

/// An execution that may be the effect of a restart (see
/// [`ExecutionKind::restart_candidates`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestartCandidate {
    pub id: String,
    /// The execution it says it is a restart of, where the API says so: evidence that ties a
    /// candidate to one original, or rules it out.
    pub restart_of: Option<String>,
    /// When it was submitted, by our clock, as late as the server's stamp and what is known
    /// of its clock allow ([`crate::domino::DominoClient::server_clock_lead_ms`]): a candidate
    /// whose time is before a moment of ours was certainly submitted before it.
    pub submitted_ms: i64,
    /// Started by the identity this client acts as.
    pub by_me: bool,
    /// Who started it, as the API names them.
    pub started_by: String,
    /// Its title: a restart keeps its original's.
    pub title: Option<String>,
    /// It has ended (`statuses.isCompleted`).
    pub completed: bool,
}

/// How a kind's executions come back on restore.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ComesBack {
    /// The start sets a state (running), so sending it again after looking is safe.
    StartSetsState,
    /// A restart creates a new execution (a Job): sending it twice runs it twice.
    AsNewExecution,
}

/// How a kind's running executions are found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListingScope {
    /// One listing of the whole deployment ([`ExecutionKind::list_running`]).
    Global,
    /// One listing per project ([`ExecutionKind::list_project`]), a bounded number at a time.
    PerProject,
    /// The administrators' listing of the whole deployment, in pages
    /// ([`ExecutionKind::list_running`]); it reports its pages as progress itself.
    AdminPaged,
}

/// What a deployment-wide listing may need besides the client.
pub struct ListContext<'a> {
    pub projects: &'a [Project],
    /// Projects by `(ownerUsername, name)`, for rows that name their project only so.
    pub project_index: &'a ProjectIndex,
    pub progress: &'a dyn ScanProgress,
}

/// Which way an execution in motion is heading, as far as its status word tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heading {
    /// Launching: `Pending`, `Preparing`, `Starting`, `Queued`, `Building`, ...
    ToRunning,
    /// Ending: `Stopping`, `Terminating`, ...
    ToStopped,
}

impl Observed {
    /// Where an execution in motion is heading, from its word: motion is evidence that a
    /// request was taken only when it goes toward that request's target. `None` for a state
    /// that is not motion, and for a word that does not say (`Stalled`, a new word).
    pub fn heading(&self) -> Option<Heading> {
        let Observed::InMotion(word) = self else {
            return None;
        };
        heading_of(&word.to_ascii_lowercase())
    }
}

fn heading_of(word: &str) -> Option<Heading> {
    // A Model API version with a change pending shows the state it is leaving.
    if let Some(base) = word.strip_suffix(" (pending)") {
        return match base.trim() {
            "running" => Some(Heading::ToStopped),
            "stopped" | "ready to run" | "failed" => Some(Heading::ToRunning),
            other => heading_of(other),
        };
    }
    const TO_STOPPED: [&str; 4] = ["stop", "terminat", "shutting", "delet"];
    const TO_RUNNING: [&str; 12] = [
        "start", "pend", "prepar", "queue", "build", "pull", "creat", "initiali", "launch",
        "schedul", "assign", "deploy",
    ];
    if TO_STOPPED.iter().any(|w| word.contains(w)) {
        Some(Heading::ToStopped)
    } else if TO_RUNNING.iter().any(|w| word.contains(w)) {
        Some(Heading::ToRunning)
    } else {
        None
    }
}

impl std::fmt::Display for Observed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Observed::Running => f.write_str("running"),
            Observed::Stopped => f.write_str("stopped"),
            Observed::InMotion(word) => write!(f, "in motion ({word})"),
            Observed::Gone => f.write_str("gone"),
        }
    }
}

/// Everything the scan and the runner need from one kind of execution. Adding a kind means one
/// new module in `kinds/` implementing this trait, and its line in the registries (the kind's
/// row in `snapshot::kind`, its constructor in `kinds::REGISTRY`).
#[async_trait]
pub trait ExecutionKind: Send + Sync {
    fn kind(&self) -> Kind;

    fn listing_scope(&self) -> ListingScope;

    /// Reads this kind's listing once for `dmm preflight`, read-only: whether it answers with
    /// the shape dmm reads (its first record), and what it shows of a page cap. `projects`:
    /// the first projects of the deployment, for listings asked per project.
    async fn probe_listing(&self, projects: &[String]) -> ListingProbe;

    /// What runs now across the deployment, for [`ListingScope::Global`] and
    /// [`ListingScope::AdminPaged`] kinds.
    async fn list_running(&self, _context: &ListContext<'_>) -> Result<Listing, ApiError> {
        Err(unsupported_listing(
            self.kind(),
            "a deployment-wide listing",
        ))
    }

    /// What runs now in one project, for [`ListingScope::PerProject`] kinds.
    async fn list_project(&self, _project: &Project) -> Result<Listing, ApiError> {
        Err(unsupported_listing(self.kind(), "a per-project listing"))
    }

    /// Asks the execution to stop (for a scheduled job: pause). State-setting, so safe to repeat.
    /// Returns the state the answer itself shows, when it shows one (a scheduled job's PUT
    /// answers with the job), which saves the runner a read.
    async fn stop(&self, entry: &Entry) -> Result<Option<Observed>, ApiError>;

    /// Asks the execution to start (for a scheduled job: resume). State-setting, so safe to
    /// repeat. Returns the state the answer shows, as for [`ExecutionKind::stop`].
    async fn start(&self, entry: &Entry) -> Result<Option<Observed>, ApiError>;

    /// How this kind comes back on restore: its start sets a state (safe to repeat), or it is
    /// restarted as a new execution (a Job: the runner calls [`ExecutionKind::restart`] and
    /// resolves an unknown outcome with [`ExecutionKind::restart_candidates`], never by
    /// sending again blindly).
    fn comes_back(&self) -> ComesBack {
        ComesBack::StartSetsState
    }

    /// Restarts the execution as a new one, sent once; returns the new execution's id. Only
    /// for kinds that [`ComesBack::AsNewExecution`].
    async fn restart(&self, _entry: &Entry) -> Result<String, ApiError> {
        Err(not_restarted(self.kind(), "a restart"))
    }

    /// The executions that could be a restart of `entry`: the same work in the same place
    /// (for a Job, its command in its project), by anyone, submitted at or after
    /// `submitted_since_ms` (milliseconds since the epoch, by our clock). Whose restart each
    /// is (this step's, another step's, a user's) is the runner's judgement
    /// (`runner::restart`): another restart can leave the same traces.
    async fn restart_candidates(
        &self,
        _entry: &Entry,
        _submitted_since_ms: i64,
    ) -> Result<Vec<RestartCandidate>, ApiError> {
        Err(not_restarted(self.kind(), "looking for a restart's effect"))
    }

    /// The word the API last showed for an execution of this kind that has ended (`Stopped`,
    /// `Succeeded`, ...), where a kind distinguishes how its executions end; `None` otherwise.
    /// Answered from what this kind's reads have already seen, without a request.
    fn last_end_word(&self, _execution: &str) -> Option<String> {
        None
    }

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

    /// Requests one stop or start of this kind sends (a Scheduled Job is read before it is
    /// written back: two). What `preflight` estimates a window with.
    fn requests_per_send(&self) -> u64 {
        1
    }

    /// Reads that confirm `n` stops or starts of this kind at the least: one shared listing,
    /// or a read each ([`ExecutionKind::has_bulk_listing`]).
    fn reads_to_confirm(&self, n: u64) -> u64 {
        if self.has_bulk_listing() { 1 } else { n }
    }

    /// Requests a restore of these executions makes once, beside their starts and reads (an
    /// App reads the volumes of each of its projects).
    fn restore_reads_once(&self, _restartable: &[&Entry]) -> u64 {
        0
    }
}

/// A restart asked of a kind that is started, not restarted: a bug in the caller, reported
/// rather than panicked.
fn not_restarted(kind: Kind, operation: &str) -> ApiError {
    ApiError::Unsupported {
        kind,
        operation: operation.into(),
        reason: "its start sets a state: it is started again, never restarted as a new one".into(),
    }
}

/// A call the kind does not offer: a bug in the caller, reported rather than panicked.
fn unsupported_listing(kind: Kind, operation: &str) -> ApiError {
    ApiError::Unsupported {
        kind,
        operation: operation.into(),
        reason: "its listing scope offers another".into(),
    }
}
