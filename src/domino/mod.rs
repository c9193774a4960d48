//! The Domino API: one HTTP client with retries, and one module per kind of execution.
//!
//! Knows URLs and JSON shapes; knows nothing of the journal or of run phases.

mod client;
mod config;
mod error;
mod execution;
pub mod kinds;
mod limiter;
mod progress;
mod projects;
mod proxy;
mod report;
mod scan;
mod tally;

pub use client::{API_KEY_HEADER, DominoClient};
pub use config::{ApiKey, ClientConfig, ConfigError, Limits, RetryPolicy};
pub use error::ApiError;
pub use execution::{ExecutionKind, Observed};
pub use kinds::{KindOptions, execution_kind, execution_kinds};
pub use progress::{NoProgress, ScanProgress};
pub use projects::{Project, list_projects};
pub use report::{ScanProblem, ScanReport};
pub use scan::{ScanOptions, scan};
pub use tally::{RetryTally, counting_retries};

#[cfg(all(test, feature = "sim"))]
mod client_tests;
#[cfg(all(test, feature = "sim"))]
mod kinds_tests;
#[cfg(all(test, feature = "sim"))]
mod scan_tests;
#[cfg(all(test, feature = "sim"))]
mod test_support;
