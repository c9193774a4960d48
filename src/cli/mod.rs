//! Flags, environment, prompts, output and exit codes. Every error of every layer reaches
//! [`main`], which prints it as one line and maps it to the exit code of `docs/architecture.md`.

pub mod args;
mod commands;
mod confirm;
mod connect;
mod deadline;
pub mod exit;
mod hint;
mod logging;
mod metrics;
pub mod output;
mod output_paths;
mod progress;
mod run_hooks;
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
    ignore_file_size_signal();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let out = Output::detect();
    logging::init(&cli.global, &out);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            output::error(&format!("cannot start the async runtime: {e}"));
            return Exit::BadInput.into();
        }
    };
    let result = runtime.block_on(dispatch(cli, out.clone()));
    // Requests still in flight after an interrupt are not waited for beyond this.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(exit) => exit.into(),
        Err(e) => {
            out.bars.suspend(|| output::error(&one_line(&e.message)));
            e.exit.into()
        }
    }
}

async fn dispatch(cli: Cli, out: Output) -> Result<Exit, CliError> {
    signals::at_once();
    let global = cli.global;
    match cli.command {
        Command::Snapshot(a) => commands::snapshot::run(&global, &out, a).await,
        Command::Shutdown(a) => {
            commands::run::run(&global, &out, Operation::Shutdown, a.into_run()).await
        }
        Command::Restore(a) => {
            commands::run::run(&global, &out, Operation::Restore, a.into_run()).await
        }
        Command::Verify(a) => commands::verify::run(&global, &out, a).await,
        Command::Status(a) => commands::status::run(a),
        Command::Preflight(a) => commands::preflight::run(&global, a).await,
        Command::Journal(a) => commands::journal::run(a),
        Command::Report(a) => commands::report::run(a),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "dmm", &mut script);
            // A closed pipe ends the script quietly.
            let _ = std::io::Write::write_all(&mut std::io::stdout(), &script);
            Ok(Exit::Success)
        }
    }
}

/// Help and version as clap prints them; a usage error too, except with `--log-format json`,
/// where it is one JSON line like every other line on stderr.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let json = {
        let args: Vec<String> = std::env::args().collect();
        args.windows(2)
            .any(|w| w[0] == "--log-format" && w[1] == "json")
            || args.iter().any(|a| a == "--log-format=json")
    };
    let is_usage = !matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion);
    if !is_usage {
        e.exit();
    }
    if !json {
        // clap's usage line names every argument it found, the ones set by the environment
        // too (`--hostname` from DOMINO_HOSTNAME), as if they were required: the command's own
        // usage is printed instead.
        let text = e.render().to_string();
        let usage = clean_usage(&text);
        let mut lines = Vec::new();
        for line in text.lines() {
            match (&usage, line.strip_prefix("Usage: ")) {
                (Some(u), Some(_)) => lines.push(u.clone()),
                _ => lines.push(line.to_string()),
            }
        }
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            format!("{}\n", lines.join("\n")).as_bytes(),
        );
        return Exit::BadInput.into();
    }
    output::set_json_logs(true);
    let text = e.render().to_string();
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("bad arguments")
        .trim_start_matches("error: ");
    output::error(&format!("{first} (see dmm --help)"));
    Exit::BadInput.into()
}

/// The usage line of the subcommand the arguments name (`Usage: dmm verify [OPTIONS] --expect
/// <EXPECT> <FILE>`), as its help shows it.
fn clean_usage(error_text: &str) -> Option<String> {
    use clap::CommandFactory;
    let used = error_text
        .lines()
        .find_map(|l| l.strip_prefix("Usage: dmm "))?;
    let name = used.split_whitespace().next()?;
    let mut cli = Cli::command();
    cli.build();
    let sub = cli.find_subcommand_mut(name)?;
    Some(sub.render_usage().to_string())
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
        output::error(&format!(
            "internal error: {}{at} (the journal is intact; please report this)",
            one_line(&msg)
        ));
    }));
}

/// A file size limit (`ulimit -f`) reached while the journal grows would otherwise kill the
/// process with SIGXFSZ, silently and mid-run; ignored, the write fails with EFBIG and the run
/// stops resumably with one line, like any other journal write that fails.
fn ignore_file_size_signal() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to SIG_IGN at startup, before any thread exists.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}
