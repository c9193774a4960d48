//! Why a run could not start, or ended for a reason that is not one execution's.

use crate::domino::ApiError;
use crate::journal::JournalError;

/// Why a run could not start, or ended for a reason that is not one execution's.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Before anything was recorded: the deployment cannot be used as configured (a refused
    /// key, a host that does not answer). Nothing was touched.
    #[error("nothing was touched: {0}")]
    NotUsable(ApiError),
    /// Before anything was recorded: the project list answered 404, so the URL does not lead to
    /// the Domino API (a missing path prefix, another host). Nothing was touched.
    #[error(
        "nothing was touched: {0}: the deployment's project list is not at this URL; check DOMINO_HOSTNAME (scheme, host and any path prefix)"
    )]
    WrongUrl(ApiError),
    /// Before anything was recorded: the API did not answer, after retries. Nothing was
    /// touched; the same command can be run again once it answers.
    #[error(
        "nothing was touched: the API did not answer: {0}; run the same command again when it does"
    )]
    Unavailable(ApiError),
    /// The key was refused during the run.
    #[error("{0}")]
    Unauthorized(ApiError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("the snapshot is not usable: {0}")]
    Snapshot(String),
}
