//! `dmm`: durable, resumable maintenance mode for Domino deployments.
//!
//! Layers, each depending only on the ones below it (see `docs/architecture.md`):
//! `cli` → `report` → `runner` → `journal`, `domino` → `snapshot`, `pace` (`report` reads
//! journals and renders them; it sends nothing; `pace` is the client's pure control law).

pub mod base64;
pub mod cli;
pub mod domino;
pub mod journal;
pub mod notify;
pub mod pace;
pub mod panic_guard;
pub mod preflight;
pub mod private_file;
pub mod report;
pub mod runner;
pub mod snapshot;
pub mod visible;

/// The version recorded in every journal run, so an audit can tell which build touched what.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");
