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
pub mod model;
mod render;
pub mod timeline;

use std::io::Write;
use std::path::{Path, PathBuf};

pub use chain::ChainVerdict;
pub use model::{Report, build};
pub use render::{Format, RenderError, escape_markdown, render};

/// Writes the page atomically with mode 0600, like the snapshot (it names every execution and
/// owner): a temporary file beside it, fsync, then a rename over any earlier report.
pub fn write_page(path: &Path, page: &str) -> Result<(), WriteError> {
    let err = |source| WriteError {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| err(std::io::Error::other("not a file name")))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut f = crate::snapshot::create_private(&tmp)?;
        f.write_all(page.as_bytes())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        #[cfg(unix)]
        std::fs::File::open(dir)?.sync_all()?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(e));
    }
    Ok(())
}

/// The report could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the report {}: {source}", path.display())]
pub struct WriteError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}
