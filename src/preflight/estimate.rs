//! What a shutdown and a restore would cost at the chosen pace: requests, and the least time
//! they take (polls are not counted: the figures are floors).

use super::PreflightOptions;
use super::check::Check;
use super::token::rough_duration;
use crate::domino::{Deployment, ScanReport};
use crate::snapshot::{Entry, Kind, Source};

/// Requests a shutdown and a restore of what runs now need at least, and the least time they
/// take at the chosen pace. Polls are not counted (they depend on how long executions take),
/// so the figures are floors.
pub(super) fn estimates(
    deployment: &Deployment,
    report: &ScanReport,
    options: &PreflightOptions,
) -> Vec<Check> {
    let Costs {
        shutdown_sends,
        shutdown_requests,
        restore_sends,
        restore_requests,
        skipped,
        jobs_not_restarted,
    } = costs(deployment, report);
    let pace = format!(
        "{} requests/s, {} in flight",
        trim_rate(options.rate_limit),
        options.concurrency
    );
    let at_least = |requests: u64| {
        let secs = requests as f64 / options.rate_limit;
        rough_duration(std::time::Duration::from_secs_f64(secs.ceil().max(1.0)))
    };
    let shutdown = if shutdown_sends == 0 {
        Check::ok(
            "shutdown",
            "nothing runs: a shutdown would have nothing to stop",
        )
    } else {
        Check::ok(
            "shutdown",
            format!(
                "{shutdown_sends} stops and pauses, at least {shutdown_requests} requests with reads and the verification: at least {} at {pace}, plus the time the executions take to stop",
                at_least(shutdown_requests)
            ),
        )
    };
    let mut left = Vec::new();
    if skipped > 0 {
        left.push(format!("{skipped} left for their users or not restartable"));
    }
    if jobs_not_restarted > 0 {
        left.push(format!(
            "{jobs_not_restarted} Job(s) started again only with --restart-jobs"
        ));
    }
    let skipped_text = if left.is_empty() {
        String::new()
    } else {
        format!(" ({})", left.join("; "))
    };
    let restore = if restore_sends == 0 {
        Check::ok("restore", format!("nothing to start again{skipped_text}"))
    } else {
        Check::ok(
            "restore",
            format!(
                "{restore_sends} starts and resumes{skipped_text}, at least {restore_requests} requests with reads and the verification: at least {} at {pace}, plus the time the executions take to start",
                at_least(restore_requests)
            ),
        )
    };
    vec![shutdown, restore]
}

/// What a shutdown and a restore of what runs now would send, counted per kind.
#[derive(Default)]
struct Costs {
    /// Stops and pauses.
    shutdown_sends: u64,
    /// Every request of the shutdown: its sends, its reads and its verification.
    shutdown_requests: u64,
    /// Starts and resumes.
    restore_sends: u64,
    restore_requests: u64,
    /// Executions a restore leaves for their users, or cannot restart.
    skipped: usize,
    /// Jobs, started again only with `--restart-jobs`.
    jobs_not_restarted: usize,
}

fn costs(deployment: &Deployment, report: &ScanReport) -> Costs {
    let entries = |k: Kind| report.snapshot.entries(k);
    // One listing like the scan's verifies each run.
    let verification = report.requests;
    let mut c = Costs {
        shutdown_requests: verification,
        restore_requests: verification,
        ..Costs::default()
    };
    for &kind in Kind::EVERY {
        let list = entries(kind);
        let n = list.len() as u64;
        if n == 0 {
            continue;
        }
        let api = deployment.kind(kind);
        if kind.source() == Source::Live {
            // Read once before its stop (one may end on its own), then stopped; started again
            // only with --restart-jobs, so not counted in the restore.
            c.shutdown_sends += n;
            c.shutdown_requests += 2 * n + if api.has_bulk_listing() { 1 } else { n };
            c.jobs_not_restarted += list.len();
            continue;
        }
        // What a stop or start of the kind costs is the kind's own to say.
        let per_send = api.requests_per_send();
        c.shutdown_sends += n;
        c.shutdown_requests += n * per_send + api.reads_to_confirm(n);
        let restartable: Vec<&Entry> = list.iter().filter(|e| api.restartable(e).is_ok()).collect();
        c.skipped += list.len() - restartable.len();
        let r = restartable.len() as u64;
        if r > 0 {
            c.restore_sends += r;
            c.restore_requests +=
                r * per_send + api.reads_to_confirm(r) + api.restore_reads_once(&restartable);
        }
    }
    c
}

fn trim_rate(rate: f64) -> String {
    if rate.fract() == 0.0 {
        format!("{rate:.0}")
    } else {
        format!("{rate}")
    }
}
