//! [`Exit`], the exit codes scripts rely on, and [`CliError`], an error on its way to the one
//! place that prints it.

use std::fmt;
use std::process::ExitCode;

/// The exit codes of `docs/architecture.md` and the README, the contract scripts rely on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Done and verified.
    Success = 0,
    /// Done, but something failed or verification found a mismatch.
    Failures = 1,
    /// Bad input or configuration; nothing was touched.
    BadInput = 2,
    /// Interrupted; run the same command again to continue.
    Interrupted = 3,
    /// The journal is held by another process.
    Locked = 4,
}

impl Exit {
    /// The exit code of a run that ended with `outcome`, as the runner maps it (the report
    /// and the metrics show the same).
    pub fn for_outcome(outcome: crate::journal::RunOutcome) -> Exit {
        match crate::runner::exit_code(outcome) {
            0 => Exit::Success,
            3 => Exit::Interrupted,
            _ => Exit::Failures,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// An error on its way to the one place that prints it: one line, and the exit code it means.
#[derive(Debug)]
pub struct CliError {
    pub exit: Exit,
    pub message: String,
}

impl CliError {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        CliError {
            exit,
            message: message.into(),
        }
    }

    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::new(Exit::BadInput, message)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<crate::snapshot::SnapshotError> for CliError {
    fn from(e: crate::snapshot::SnapshotError) -> Self {
        CliError::bad_input(e.to_string())
    }
}

impl From<crate::journal::JournalError> for CliError {
    fn from(e: crate::journal::JournalError) -> Self {
        // A write that failed on an open journal (a full disk mid-run): steps may have been
        // sent, so not "nothing was touched"; the run stopped where the journal stands.
        if matches!(e, crate::journal::JournalError::Replaced { .. }) {
            return CliError::new(Exit::Interrupted, format!("stopped: {e}"));
        }
        if e.is_write_failure() {
            return CliError::new(
                Exit::Interrupted,
                format!(
                    "stopped: {e}; what was recorded stands: free space or fix the cause, then run the same command again to continue"
                ),
            );
        }
        if e.is_out_of_room() {
            // Nothing is wrong with the journal or the input: the run had no room to begin
            // (a checking copy is as large as the journal), and room is all it needs.
            let size = std::fs::metadata(e.path()).map(|m| m.len()).unwrap_or(0);
            return CliError::new(
                Exit::Interrupted,
                format!(
                    "{e}; nothing was sent: make room for {} beside the journal or in TMPDIR, then run the same command again",
                    human_size(size)
                ),
            );
        }
        let exit = match e {
            crate::journal::JournalError::Locked { .. } => Exit::Locked,
            _ => Exit::BadInput,
        };
        CliError::new(exit, e.to_string())
    }
}

/// `4.2 MiB`: a size in the unit an operator frees disk in.
fn human_size(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if bytes >= 1024 * 1024 {
        format!("{:.1} MiB", bytes as f64 / MIB)
    } else {
        format!("{} KiB", bytes.div_ceil(1024))
    }
}

/// Folds a multi-line message into one line, so every error is exactly one line on stderr.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
