//! `dmm report`: the maintenance window as one page, read from the journal.
//!
//! Layer: above `runner` and `journal`, below `cli` (see `docs/architecture.md`). It reads a
//! journal through `JournalRead` only (so it works beside a running `dmm`, without the lock),
//! decodes verification records with the runner's own `Verification` shape, and renders:
//!
//! - [`model`]: what the page says, built from the journal's runs, steps, events, verifications
//!   and the hash chain's verdict; plain data, no markup.
//! - [`timeline`]: the window aggregated over time into buckets, and the chart's geometry as
//!   numbers.
//! - [`render`]: HTML (inline CSS and SVG, no script, nothing fetched) and Markdown, through
//!   templates that escape every value.
mod chain;
pub mod inventory;
mod limits;
pub mod model;
mod owners;
mod render;
#[cfg(test)]
mod scale_tests;
pub mod timeline;

use std::path::{Path, PathBuf};

pub use chain::ChainVerdict;
pub use model::{Report, build};
pub use owners::OwnerToTell;
pub use render::{Format, RenderError, escape_markdown, render};

/// Writes the page atomically with mode 0600, like the snapshot (it names every execution and
/// owner), over any earlier report (`private_file`).
pub fn write_page(path: &Path, page: &str) -> Result<(), WriteError> {
    crate::private_file::replace(path, page.as_bytes()).map_err(|source| WriteError {
        path: path.to_owned(),
        source,
    })
}

/// The report could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the report {}: {source}", path.display())]
pub struct WriteError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}
