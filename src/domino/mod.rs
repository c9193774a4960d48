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
mod pace;
pub mod preflight;
mod progress;
mod projects;
mod proxy;
mod read_patience;
mod report;
mod scan;
mod tally;
mod token;

pub use about::{About, about};
pub use client::{API_KEY_HEADER, DominoClient};
pub use config::{ApiKey, ClientConfig, ConfigError, Credential, Limits, RetryPolicy};
pub use deployment::Deployment;
pub use error::ApiError;
pub use execution::{
    ComesBack, ExecutionKind, ListContext, ListingScope, Observed, RestartCandidate,
};
pub use kinds::{KindOptions, execution_kind, execution_kinds};
pub use pace::{AdaptivePace, Pace, PaceReport};
pub use progress::{NoProgress, ScanProgress};
pub use projects::{Project, ProjectIndex, list_projects};
pub use report::{ScanProblem, ScanReport};
pub use scan::{ScanOptions, list_kind, scan};
pub use tally::{RetryTally, counting_retries};

#[cfg(test)]
mod client_tests;
#[cfg(test)]
mod kinds_tests;
#[cfg(test)]
mod scan_tests;
#[cfg(test)]
mod test_support;
