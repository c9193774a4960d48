//! Helpers of the `maintenance` bench: the deployment, the lower bound, the child process.

pub mod bound;
pub mod child;
pub mod deployment;
pub mod earlier;
pub mod pace;
