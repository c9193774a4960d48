//! Hooks through which a scan reports progress, so the CLI can drive progress bars without the
//! scan knowing anything of terminals. Every hook defaults to doing nothing.

use crate::snapshot::Kind;

use super::ScanProblem;

/// Called from the scan's concurrent tasks, hence `Sync`.
pub trait ScanProgress: Send + Sync {
    /// The projects are listed; the scan of the kinds begins.
    fn projects_listed(&self, _projects: usize) {}

    /// The scan of `kind` begins, in `units_total` units of work (projects, or pages for
    /// workspaces: their count is an estimate from the first page's `totalEntries`).
    fn kind_started(&self, _kind: Kind, _units_total: usize) {}

    /// One unit of `kind` is done (successfully or not).
    fn unit_done(&self, _kind: Kind) {}

    /// `n` more running executions of `kind` were found.
    fn found(&self, _kind: Kind, _n: usize) {}

    /// The scan of `kind` is complete.
    fn kind_finished(&self, _kind: Kind) {}

    fn problem(&self, _problem: &ScanProblem) {}

    fn warning(&self, _message: &str) {}
}

/// Progress nobody watches.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl ScanProgress for NoProgress {}
