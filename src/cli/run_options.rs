//! From `shutdown`/`restore` flags to the runner's options and the client's limits.

use std::time::Duration;

use super::args::{JobsArg, RateLimit, RunArgs};
use super::exit::CliError;
use crate::domino::{AdaptivePace, Limits, Pace};
use crate::journal::Operation;
use crate::runner::{
    JobsFlag, JobsMode, PollPolicy, RecordedOptions, RecordedRate, RunOptions, defaults,
};
use crate::snapshot::LoadedSnapshot;

/// The client's limits and the run's options, as the flags ask.
pub fn from_args(
    op: Operation,
    args: &RunArgs,
    snapshot: &LoadedSnapshot,
) -> Result<(Limits, RunOptions), CliError> {
    let (concurrency, pace) = limits(args)?;
    let jobs = jobs_mode(op, args)?;
    if args.restart_jobs && op != Operation::Restore {
        return Err(CliError::bad_input(
            "--restart-jobs is for restore: shutdown stops Jobs, restore restarts them",
        ));
    }
    let (rate_limit, max_rate) = match pace {
        Pace::Adaptive(a) => (Some(RecordedRate::Auto), Some(a.max)),
        Pace::Fixed(r) => (Some(RecordedRate::Fixed(r)), None),
        Pace::Unlimited => (None, None),
    };
    let options = RunOptions {
        concurrency: concurrency as usize,
        max_failures: args.max_failures,
        grace_period: Duration::from_secs(args.grace_period_s),
        poll: PollPolicy {
            initial: Duration::from_millis(args.poll_interval_ms.max(1)),
            ..PollPolicy::default()
        },
        retry_failed: args.retry_failed,
        verify: !args.no_verify,
        jobs,
        restart_jobs: args.restart_jobs,
        stuck_after: args.notify_stuck_after,
        recorded_options: RecordedOptions {
            snapshot: Some(snapshot.path.display().to_string()),
            service: args.service,
            concurrency: Some(concurrency),
            rate_limit,
            max_rate,
            max_failures: Some(args.max_failures),
            grace_period_s: Some(args.grace_period_s),
            retry_failed: args.retry_failed,
            verify: Some(!args.no_verify),
            jobs: args.jobs.map(|j| match j {
                JobsArg::Stop => JobsFlag::Stop,
                JobsArg::Wait => JobsFlag::Wait,
                JobsArg::Leave => JobsFlag::Leave,
            }),
            jobs_grace_s: args.jobs_grace.map(|g| g.as_secs()),
            restart_jobs: args.restart_jobs,
            deadline: args.deadline.as_ref().map(|d| d.at_rfc3339()),
            host: None,
            change_id: args.change.change_id.clone(),
        },
        ..RunOptions::default()
    };
    let limits = Limits {
        max_in_flight: concurrency as usize,
        pace,
    };
    Ok((limits, options))
}

/// `--concurrency`, `--rate-limit`, `--max-rate`, or the earlier tool's `-b`/`-i` mapped onto
/// them (`-b` with `-i` fixes the rate at b/i, as the earlier tool's batches did).
fn limits(args: &RunArgs) -> Result<(u32, Pace), CliError> {
    let mut concurrency = args.concurrency.unwrap_or(defaults::CONCURRENCY);
    let mut rate = args.rate_limit.unwrap_or(RateLimit::Auto);
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
            rate = RateLimit::Fixed(f64::from(b.max(1)) / f64::from(i));
        }
    }
    let pace = match rate {
        RateLimit::Auto => Pace::Adaptive(AdaptivePace {
            initial: defaults::INITIAL_RATE,
            max: args.max_rate.unwrap_or(defaults::MAX_RATE),
            min: defaults::MIN_RATE.min(args.max_rate.unwrap_or(defaults::MAX_RATE)),
        }),
        RateLimit::Fixed(_) if args.max_rate.is_some() => {
            return Err(CliError::bad_input(
                "--max-rate bounds --rate-limit auto; a fixed rate (--rate-limit N, or -b with -i) is its own maximum",
            ));
        }
        RateLimit::Fixed(r) => Pace::Fixed(r),
    };
    pace.validate()
        .map_err(|e| CliError::bad_input(format!("--rate-limit: {e}")))?;
    Ok((concurrency, pace))
}

/// `--jobs` and `--jobs-grace`, which only a shutdown takes.
fn jobs_mode(op: Operation, args: &RunArgs) -> Result<JobsMode, CliError> {
    if op != Operation::Shutdown && (args.jobs.is_some() || args.jobs_grace.is_some()) {
        return Err(CliError::bad_input(
            "--jobs and --jobs-grace are for shutdown; restore restarts Jobs only with --restart-jobs",
        ));
    }
    let grace = args.jobs_grace.unwrap_or(defaults::JOBS_GRACE);
    Ok(match args.jobs.unwrap_or(JobsArg::Stop) {
        JobsArg::Stop if args.jobs_grace.is_some() => {
            return Err(CliError::bad_input("--jobs-grace goes with --jobs wait"));
        }
        JobsArg::Stop => JobsMode::Stop,
        JobsArg::Wait => JobsMode::Wait(grace),
        JobsArg::Leave => JobsMode::Leave,
    })
}
