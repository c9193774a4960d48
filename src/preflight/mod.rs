//! `dmm preflight`: is this deployment (and this snapshot's journal) ready for a maintenance
//! window? Read-only: every request is a GET, and the journal is only looked at.
//!
//! A layer of its own above `domino` and `journal`, split by concern: the check model
//! (`check.rs`), the API probes (`probes.rs`),
//! the token's expiry (`token.rs`), what a scan shows (`running.rs`), what a run would
//! cost (`estimate.rs`) and the journal's state (`journal_state.rs`). The CLI renders the checks
//! (`cli::commands::preflight`).

mod check;
mod disk;
mod estimate;
mod journal_state;
mod probes;
mod running;
mod token;

pub use check::{Check, CheckStatus};
pub use token::rough_duration;

use std::path::PathBuf;
use std::time::SystemTime;

use serde::Serialize;

use crate::domino::Deployment;
use journal_state::journal_check;
use running::scan_checks;

/// What the preflight needs besides the deployment.
#[derive(Clone, Debug)]
pub struct PreflightOptions {
    /// TLS verification is off (`DOMINO_SSL_NO_VERIFY`).
    pub tls_no_verify: bool,
    /// How the credentials are named in messages: "API key" or "service-account token".
    pub credential: String,
    /// The service-account token file, when one is used: its expiry is checked.
    pub token_file: Option<PathBuf>,
    /// The pace a shutdown and a restore would run at (`--concurrency`, `--rate-limit`).
    pub concurrency: u32,
    pub rate_limit: f64,
    /// A snapshot whose journal to look at, and the journal's path if not beside it.
    pub snapshot: Option<PathBuf>,
    pub journal: Option<PathBuf>,
}

/// Every check, in the order they are shown.
#[derive(Clone, Debug, Serialize)]
pub struct PreflightReport {
    pub host: String,
    pub checks: Vec<Check>,
}

impl PreflightReport {
    /// The worst status: `Fail` means not usable, `Warn` ready with warnings.
    pub fn worst(&self) -> CheckStatus {
        self.checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(CheckStatus::Ok)
    }

    pub fn count(&self, status: CheckStatus) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }
}

/// Runs every check. Never fails: what cannot be checked is a check that says so.
pub async fn preflight(deployment: &Deployment, options: &PreflightOptions) -> PreflightReport {
    let client = &deployment.client;
    let mut checks = Vec::new();
    let contact = probes::contact(client, options.tls_no_verify).await;
    checks.extend(contact.checks);
    if contact.answers {
        let identity = probes::identity(client, &options.credential).await;
        checks.extend(identity.checks);
        if let Some(path) = &options.token_file {
            checks.push(token::token_expiry(path, SystemTime::now()));
        }
        if identity.usable {
            checks.extend(probes::listings(client).await.checks);
            checks.extend(scan_checks(deployment, options).await);
        }
    } else if let Some(path) = &options.token_file {
        checks.push(token::token_expiry(path, SystemTime::now()));
    }
    if let Some(file) = &options.snapshot {
        checks.push(journal_check(file, options.journal.as_deref()));
        // The snapshot's own problems are the journal check's to say.
        if let Ok(loaded) = crate::snapshot::read(file) {
            let journal = crate::journal::path_for(file, options.journal.as_deref());
            checks.push(disk::journal_disk_check(&journal, loaded.snapshot.len()));
        }
    }
    PreflightReport {
        host: client.base_url().to_owned(),
        checks,
    }
}
