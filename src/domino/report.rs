//! What a scan found besides the snapshot: records it could not use, and things to warn about.

use std::collections::{BTreeMap, HashMap};

use super::Observed;
use std::fmt;

use crate::snapshot::{Kind, Snapshot};

/// One record or listing the scan could not use. The scan goes on without it; the CLI shows
/// these and the journal keeps them, so an administrator knows what the snapshot may lack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanProblem {
    pub kind: Kind,
    /// Which record or listing: `app 65a1… (churn-dashboard)`, `project 5f0c… (alice/churn)`.
    pub subject: String,
    pub reason: String,
    pub cause: ProblemCause,
}

/// Why a record or listing could not be taken, where a reader acts on the difference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemCause {
    /// A workspace row names a project that is not among the listed projects.
    UnknownProject,
    /// Anything else: a record of the wrong shape, a listing that failed.
    Other,
}

impl ScanProblem {
    pub fn new(kind: Kind, subject: impl Into<String>, reason: impl Into<String>) -> Self {
        ScanProblem {
            kind,
            subject: subject.into(),
            reason: reason.into(),
            cause: ProblemCause::Other,
        }
    }

    pub fn because(mut self, cause: ProblemCause) -> Self {
        self.cause = cause;
        self
    }
}

impl fmt::Display for ScanProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.kind, self.subject, self.reason)
    }
}

/// The result of `dmm snapshot`'s scan.
#[derive(Clone, Debug, Default)]
pub struct ScanReport {
    /// What runs now: the executions a shutdown will stop.
    pub snapshot: Snapshot,
    pub problems: Vec<ScanProblem>,
    /// Conditions that make the snapshot less trustworthy (a model mid-rollout, a workspace list
    /// that moved while it was paged).
    pub warnings: Vec<String>,
    /// Of those, the models in the middle of a rollout.
    pub rollouts: Vec<String>,
    /// Projects listed.
    pub projects: usize,
    /// Each listed project's `owner/name`, by its id: the report names projects, not ids.
    pub project_names: BTreeMap<String, String>,
    /// The project id each execution whose `_id` names none was listed under, by kind and
    /// execution id (Model API versions).
    pub listed_under: BTreeMap<Kind, BTreeMap<String, String>>,
    /// Records of each kind the API returned and the scan examined, running or not.
    pub examined: BTreeMap<Kind, usize>,
    /// HTTP requests the scan sent, retries included.
    pub requests: u64,
    /// The state of every execution the scan saw, running or not, by kind and id.
    pub observed: BTreeMap<Kind, HashMap<String, Observed>>,
}

impl ScanReport {
    /// Executions of `kind` in the snapshot.
    pub fn found(&self, kind: Kind) -> usize {
        self.snapshot.entries(kind).len()
    }

    pub fn examined(&self, kind: Kind) -> usize {
        self.examined.get(&kind).copied().unwrap_or(0)
    }
}
