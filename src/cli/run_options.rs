//! From `shutdown`/`restore` flags to the runner's options and the client's limits.

use std::time::Duration;

use super::args::RunArgs;
use super::exit::CliError;
use crate::domino::Limits;
use crate::runner::{PollPolicy, RunOptions, defaults};
use crate::snapshot::LoadedSnapshot;

/// The client's limits and the run's options, as the flags ask.
pub fn from_args(
    args: &RunArgs,
    snapshot: &LoadedSnapshot,
) -> Result<(Limits, RunOptions), CliError> {
    let (concurrency, rate) = limits(args)?;
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
        recorded_options: serde_json::json!({
            "snapshot": snapshot.path.display().to_string(),
            "service": args.service.map(|k| k.label()),
            "concurrency": concurrency,
            "rate_limit": rate,
            "max_failures": args.max_failures,
            "grace_period_s": args.grace_period_s,
            "retry_failed": args.retry_failed,
            "verify": !args.no_verify,
        }),
        ..RunOptions::default()
    };
    let limits = Limits {
        max_in_flight: concurrency as usize,
        requests_per_second: rate,
    };
    Ok((limits, options))
}

/// `--concurrency`/`--rate-limit`, or the earlier tool's `-b`/`-i` mapped onto them.
fn limits(args: &RunArgs) -> Result<(u32, Option<f64>), CliError> {
    let mut concurrency = args.concurrency.unwrap_or(defaults::CONCURRENCY);
    let mut rate = args.rate_limit.or(Some(defaults::RATE_LIMIT));
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
