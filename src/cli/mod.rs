//! Flags, environment, prompts, output and exit codes. Every error of every layer reaches
//! [`main`], which prints it as one line and maps it to the exit code of `docs/architecture.md`.

pub mod args;
mod commands;
mod confirm;
mod connect;
pub mod exit;
mod logging;
mod progress;
mod run_options;
mod signals;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};
use exit::{CliError, Exit, one_line};
use logging::Output;

use crate::journal::Operation;

pub fn main() -> ExitCode {
    install_panic_hook();
    let cli = Cli::parse();
    let out = Output::detect();
    logging::init(&cli.global, &out);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::BadInput.into();
        }
    };
    let result = runtime.block_on(dispatch(cli, out.clone()));
    // Requests still in flight after an interrupt are not waited for beyond this.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(exit) => exit.into(),
        Err(e) => {
            out.bars
                .suspend(|| eprintln!("error: {}", one_line(&e.message)));
            e.exit.into()
        }
    }
}

async fn dispatch(cli: Cli, out: Output) -> Result<Exit, CliError> {
    let global = cli.global;
    match cli.command {
        Command::Snapshot(a) => commands::snapshot::run(&global, &out, a).await,
        Command::Shutdown(a) => commands::run::run(&global, &out, Operation::Shutdown, a).await,
        Command::Restore(a) => commands::run::run(&global, &out, Operation::Restore, a).await,
        Command::Verify(a) => commands::verify::run(&global, &out, a).await,
        Command::Status(a) => commands::status::run(a),
        Command::Journal(a) => commands::journal::run(a),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "dmm", &mut std::io::stdout());
            Ok(Exit::Success)
        }
    }
}

/// A bug must still end as one line and a non-zero code, never a stack trace in an operator's
/// terminal.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        if crate::panic_guard::is_caught_here() {
            return;
        }
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "error: internal error: {}{at} (the journal is intact; please report this)",
            one_line(&msg)
        );
    }));
}
