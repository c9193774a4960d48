//! The Domino API: one HTTP client with retries, and one module per kind of execution.
//!
//! Knows URLs and JSON shapes; knows nothing of the journal or of run phases.

mod client;
mod config;
mod error;
mod execution;
mod limiter;

pub use client::{API_KEY_HEADER, DominoClient};
pub use config::{ApiKey, ClientConfig, ConfigError, Limits, RetryPolicy};
pub use error::ApiError;
pub use execution::{ExecutionKind, Observed};

#[cfg(all(test, feature = "sim"))]
mod client_tests;
#[cfg(all(test, feature = "sim"))]
mod test_support;
