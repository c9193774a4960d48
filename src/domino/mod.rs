//! The Domino API: one HTTP client with retries, and one module per kind of execution.
//!
//! Knows URLs and JSON shapes; knows nothing of the journal or of run phases.

mod error;
mod execution;

pub use error::ApiError;
pub use execution::{ExecutionKind, Observed};
