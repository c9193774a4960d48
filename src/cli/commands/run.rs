//! `dmm shutdown` and `dmm restore`.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::render;
use crate::cli::args::{GlobalArgs, RunArgs};
use crate::cli::connect::{Connection, connect, journal_path};
use crate::cli::exit::{CliError, Exit};
use crate::cli::logging::Output;
use crate::cli::output::outln;
use crate::cli::progress::RunProgress;
use crate::domino::{ApiError, KindOptions, Limits, list_projects};
use crate::journal::{
    Journal, JournalRead, JournalReader, Operation, RunOutcome, VerificationRecord, now_rfc3339,
};
use crate::runner::verify::{Expectation, Verification};
use crate::runner::{self, Cancel, Plan, PollPolicy, Reporter, RunOptions, RunSummary, plan_steps};
use crate::snapshot::{self, Kind};

/// Gentle on a production API: a handful of requests at once, a few dozen per second.
pub const DEFAULT_CONCURRENCY: u32 = 10;
pub const DEFAULT_RATE_LIMIT: f64 = 25.0;
/// After an interrupt, requests in flight get this long to finish and be recorded.
const DRAIN_AFTER_INTERRUPT: Duration = Duration::from_secs(5);

pub async fn run(
    global: &GlobalArgs,
    out: &Output,
    op: Operation,
    args: RunArgs,
    service: Option<Kind>,
) -> Result<Exit, CliError> {
    let loaded = snapshot::read(&args.file)?;
    let journal_file = journal_path(&args.file, args.journal.as_deref());
    let (concurrency, rate) = limits(&args)?;
    let conn = connect(
        global,
        Limits {
            max_in_flight: concurrency as usize,
            requests_per_second: rate,
        },
        &KindOptions::default(),
    )?;
    let only: Vec<Kind> = service.into_iter().collect();
    let planned =
        plan_steps(op, &only, &loaded.snapshot, &conn.kinds).map_err(CliError::bad_input)?;

    if args.dry_run {
        // Touches nothing: the journal is read without its lock, if it exists at all.
        let existing = if journal_file.exists() {
            let reader = JournalReader::open(&journal_file)?;
            check_binding(&reader, &journal_file, &loaded.sha256)?;
            reader.steps(Some(op))?
        } else {
            Vec::new()
        };
        let plan = Plan::new(op, &planned, &existing, args.retry_failed);
        render::print_plan(op, &plan, true);
        return Ok(Exit::Success);
    }

    preflight(&conn).await?;
    let journal = Arc::new(Journal::open(&journal_file, &loaded.sha256, &loaded.path)?);
    let existing = journal.steps(Some(op))?;
    let plan = Plan::new(op, &planned, &existing, args.retry_failed);
    render::print_plan(op, &plan, false);
    confirm(op, &plan, conn.client.base_url(), args.yes)?;

    let options = RunOptions {
        op,
        only: only.clone(),
        concurrency: concurrency as usize,
        max_failures: args.max_failures,
        grace_period: Duration::from_secs(args.grace_period_s),
        poll: PollPolicy {
            initial: Duration::from_millis(args.poll_interval_ms.max(1)),
            ..PollPolicy::default()
        },
        retry_failed: args.retry_failed,
        recorded_options: serde_json::json!({
            "snapshot": loaded.path.display().to_string(),
            "service": service.map(|k| k.label()),
            "concurrency": concurrency,
            "rate_limit": rate,
            "max_failures": args.max_failures,
            "grace_period_s": args.grace_period_s,
            "retry_failed": args.retry_failed,
            "verify": !args.no_verify,
            "host": conn.client.base_url(),
        }),
    };
    let cancel = Cancel::new();
    watch_signals(cancel.clone());
    let started = Instant::now();
    let reporter = Arc::new(RunProgress::new(out));
    let run_future = runner::run(
        &journal,
        &loaded.snapshot,
        &conn.kinds,
        &options,
        &cancel,
        reporter.clone(),
    );
    tokio::pin!(run_future);
    let finished = tokio::select! {
        r = &mut run_future => Some(r),
        _ = async { cancel.cancelled().await; tokio::time::sleep(DRAIN_AFTER_INTERRUPT).await } => None,
    };
    let summary = match finished {
        Some(Ok(s)) => s,
        Some(Err(runner::RunError::Unauthorized(e))) => {
            return Err(CliError::bad_input(format!("stopped: {e}")));
        }
        Some(Err(runner::RunError::Journal(e))) => return Err(e.into()),
        Some(Err(runner::RunError::Snapshot(e))) => return Err(CliError::bad_input(e)),
        None => summary_from_journal(&journal, &options)?,
    };
    let kinds = runner::kinds_in_order(op, &only);

    if summary.interrupted || summary.unfinished() > 0 {
        let why = cancel
            .reason()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        journal.end_run(
            summary.run,
            RunOutcome::Interrupted,
            Some(format!(
                "interrupted{why}; run the same command again to continue; {}",
                traffic(&conn.client)
            )),
        )?;
        render::print_run_summary(op, &summary, started.elapsed());
        crate::cli::output::notice(&format!(
            "interrupted{why}: {} step(s) not finished. Run the same command again to continue where this run stopped.",
            summary.unfinished()
        ));
        return Ok(Exit::Interrupted);
    }

    let verification = if args.no_verify {
        journal.record_verification(&VerificationRecord {
            run: Some(summary.run),
            op,
            time: now_rfc3339(),
            passed: true,
            detail: serde_json::json!({"skipped": "--no-verify"}),
        })?;
        None
    } else {
        reporter.verification_started();
        let expect = match op {
            Operation::Shutdown => Expectation::Stopped,
            Operation::Restore => Expectation::Running,
        };
        let v = super::verify::check(
            &conn,
            &loaded.snapshot,
            &kinds,
            expect,
            concurrency as usize,
        )
        .await?;
        journal.record_verification(&VerificationRecord {
            run: Some(summary.run),
            op,
            time: now_rfc3339(),
            passed: v.passed,
            detail: serde_json::to_value(&v).unwrap_or_default(),
        })?;
        Some(v)
    };

    let failed = summary.failed().count();
    let verified = verification.as_ref().is_none_or(|v| v.passed);
    let (outcome, exit) = if failed == 0 && verified {
        (RunOutcome::Completed, Exit::Success)
    } else {
        (RunOutcome::CompletedWithFailures, Exit::Failures)
    };
    let message = format!(
        "{}; {}",
        outcome_message(failed, verification.as_ref()),
        traffic(&conn.client)
    );
    journal.end_run(summary.run, outcome, Some(message))?;
    render::print_run_summary(op, &summary, started.elapsed());
    if let Some(v) = &verification {
        render::print_verification(v);
    } else {
        outln!("verification: skipped (--no-verify)");
    }
    render::print_next(op, exit, &args.file, args.journal.as_deref());
    Ok(exit)
}

fn outcome_message(failed: usize, v: Option<&Verification>) -> String {
    let mut parts = Vec::new();
    if failed > 0 {
        parts.push(format!("{failed} step(s) failed"));
    }
    match v {
        Some(v) if !v.passed => parts.push(format!(
            "verification found {} mismatch(es)",
            v.items
                .iter()
                .filter(|i| !matches!(
                    i.finding,
                    crate::runner::verify::Finding::Ok | crate::runner::verify::Finding::Skipped
                ))
                .count()
        )),
        Some(_) => parts.push("verified".into()),
        None => parts.push("verification skipped (--no-verify)".into()),
    }
    parts.join("; ")
}

/// What the run cost the API, for the run's record in the journal.
fn traffic(client: &crate::domino::DominoClient) -> String {
    format!(
        "{} requests sent, {} of them retries of transient failures",
        client.requests_sent(),
        client.retries()
    )
}

/// One read before the journal is touched: a refused key, a host that cannot be reached or a
/// certificate that is not trusted is configuration to fix (exit 2), and must leave the journal
/// exactly as it was rather than record a run that could not have done anything.
async fn preflight(conn: &Connection) -> Result<(), CliError> {
    match list_projects(&conn.client).await {
        Ok(_) => Ok(()),
        Err(e @ (ApiError::Unauthorized { .. } | ApiError::Transport { .. })) => {
            Err(CliError::bad_input(format!("nothing was touched: {e}")))
        }
        // The API answered; whatever is odd about this listing, the steps will tell.
        Err(_) => Ok(()),
    }
}

/// `--concurrency`/`--rate-limit`, or the earlier tool's `-b`/`-i` mapped onto them.
fn limits(args: &RunArgs) -> Result<(u32, Option<f64>), CliError> {
    let mut concurrency = args.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
    let mut rate = args.rate_limit.or(Some(DEFAULT_RATE_LIMIT));
    if let Some(b) = args.batch_size {
        if args.concurrency.is_some() {
            return Err(CliError::bad_input(
                "give either --concurrency or -b/--batch-size, not both",
            ));
        }
        concurrency = b.max(1);
        if let Some(i) = args.batch_interval_s.filter(|i| *i > 0)
            && args.rate_limit.is_none()
        {
            rate = Some(f64::from(b.max(1)) / f64::from(i));
        }
    }
    if let Some(r) = rate
        && (!r.is_finite() || r <= 0.0)
    {
        return Err(CliError::bad_input(format!(
            "--rate-limit must be a positive number of requests per second, not {r}"
        )));
    }
    Ok((concurrency, rate))
}

pub(crate) fn check_binding(
    reader: &JournalReader,
    path: &std::path::Path,
    sha256: &str,
) -> Result<(), CliError> {
    let meta = reader.meta()?;
    if meta.snapshot_sha256 != sha256 {
        return Err(crate::journal::JournalError::WrongSnapshot {
            path: path.to_owned(),
            expected: sha256.to_owned(),
            found: meta.snapshot_sha256,
        }
        .into());
    }
    Ok(())
}

/// Asks once per run on a terminal; without one, refuses unless `--yes` (an unattended run
/// must never hang on a prompt).
fn confirm(op: Operation, plan: &Plan, host: &str, yes: bool) -> Result<(), CliError> {
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

/// Ctrl-C or SIGTERM: stop sending, let what is in flight finish and be recorded. A second
/// signal ends the process at once; the journal is consistent at every commit.
fn watch_signals(cancel: Cancel) {
    tokio::spawn(async move {
        let first = wait_for_signal().await;
        tracing::warn!(
            "{first}: no new requests; letting those in flight finish (press again to stop at once)"
        );
        cancel.cancel();
        let second = wait_for_signal().await;
        crate::cli::output::notice(&format!(
            "{second} again: stopping now; run the same command again to continue"
        ));
        std::process::exit(Exit::Interrupted as i32);
    });
}

async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return "interrupted";
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => "interrupted (SIGINT)",
            _ = term.recv() => "terminated (SIGTERM)",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "interrupted"
    }
}

/// The summary of a run abandoned after an interrupt (its steps stopped mid-way).
fn summary_from_journal(journal: &Journal, options: &RunOptions) -> Result<RunSummary, CliError> {
    let run = journal.runs()?.last().map(|r| r.id).unwrap_or(0);
    Ok(RunSummary::read(journal, run, options, true)?)
}
