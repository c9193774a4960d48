//! The one question dmm asks: may this run touch the deployment?

use std::io::{IsTerminal, Write};

use super::exit::CliError;
use crate::journal::Operation;
use crate::runner::Plan;

/// Asks once per run on a terminal; without one, refuses unless `--yes` (an unattended run
/// must never hang on a prompt).
pub fn confirm(op: Operation, plan: &Plan, host: &str, yes: bool) -> Result<(), CliError> {
    if yes || plan.work() == 0 {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::bad_input(format!(
            "refusing to {op} without confirmation: no terminal to ask on; pass --yes to run unattended"
        )));
    }
    let verb = match op {
        Operation::Shutdown => "Stop",
        Operation::Restore => "Start",
    };
    eprint!("{verb} {} execution(s) on {host}? [y/N] ", plan.work());
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| CliError::bad_input(format!("cannot read the answer: {e}")))?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(CliError::bad_input(format!(
            "{op} cancelled at the prompt; nothing was touched"
        )))
    }
}
