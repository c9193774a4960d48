//! The Domino API: one HTTP client with retries, and one module per kind of execution.
//!
//! Knows URLs and JSON shapes; knows nothing of the journal or of run phases.

mod about;
mod client;
mod config;
mod deployment;
mod error;
mod execution;
pub mod kinds;
mod limiter;
pub mod long_wait;
pub mod probe;
mod progress;
mod projects;
mod proxy;
mod read_patience;
mod redact;
mod report;
mod scan;
pub mod shape;
mod tally;
mod token;

pub use crate::pace::{AdaptivePace, Pace, PaceReport};
pub use about::{About, about};
pub use client::{API_KEY_HEADER, DominoClient};
pub use config::{ApiKey, ClientConfig, ConfigError, Credential, Limits, RetryPolicy};
pub use deployment::Deployment;
pub use error::ApiError;
pub use execution::{
    ComesBack, ExecutionKind, Heading, ListContext, ListingScope, Observed, RestartCandidate,
};
pub use kinds::{KindOptions, execution_kind, execution_kinds};
pub use progress::{NoProgress, ScanProgress};
pub use projects::{Project, ProjectIndex, list_projects};
pub use report::{ProblemCause, ScanProblem, ScanReport};
pub use scan::{ScanOptions, list_kind, scan};
pub use tally::{RetryTally, counting_retries};

// What `dmm preflight` (a layer above) reads of this one: the JSON helpers and paths the
// probes share with the kind modules, and the token's expiry.
pub(crate) use kinds::records::json_type;
pub(crate) use kinds::seg;
pub(crate) use projects::PROJECTS_PATH;
pub(crate) use token::{EXPIRY_WARNING, jwt_expiry};

#[cfg(test)]
mod client_tests;
#[cfg(test)]
mod kinds_tests;
#[cfg(test)]
mod scan_tests;
#[cfg(test)]
pub(crate) mod test_support;
