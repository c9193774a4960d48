//! What a run is asked to do, and how: one options struct, with every default in one place.

use std::time::Duration;

use super::record::RecordedOptions;
use crate::journal::Operation;
use crate::snapshot::Kind;

/// The defaults of a shutdown or restore, gentle on a production API. The CLI's flags show and
/// use these; nothing else spells them.
pub mod defaults {
    use std::time::Duration;

    /// Steps sending a stop or start at the same time (`--concurrency`), and the most requests
    /// in flight: with the adaptive rate, the ceiling of the adaptive in-flight limit, which
    /// starts lower (`pace::INITIAL_IN_FLIGHT`); with a fixed rate, the limit itself.
    pub const CONCURRENCY: u32 = 64;
    /// Where the adaptive rate (`--rate-limit auto`, the default) starts, in requests per
    /// second: moderate, as the earlier fixed default was.
    pub const INITIAL_RATE: f64 = 25.0;
    /// The adaptive rate never goes above this (`--max-rate`): a safety net, not the usual
    /// limit. On a real deployment the in-flight ceiling binds first (64 requests at 50 ms are
    /// 1,280 a second), and pushback or a like-for-like latency rise cuts the rate long before;
    /// at 500 a fast, idle server ran a 1,000-execution shutdown at 3.6 times its transitions.
    pub const MAX_RATE: f64 = 2000.0;
    /// Nor below this, however hard the deployment pushes back.
    pub const MIN_RATE: f64 = 1.0;
    /// Failed attempts per execution in one run before its step is `Failed` (`-m`).
    pub const MAX_FAILURES: u32 = 5;
    /// Seconds an execution may take to reach its target state (`-g`).
    pub const GRACE_PERIOD_S: u64 = 600;
    /// First wait before looking at an execution after its request (`--poll-interval-ms`).
    pub const POLL_INTERVAL_MS: u64 = 1000;
    /// After an interrupt, requests in flight get this long to finish and be recorded.
    pub const DRAIN_AFTER_INTERRUPT: Duration = Duration::from_secs(5);
    /// How long `--jobs wait` gives running Jobs to finish on their own (`--jobs-grace`).
    pub const JOBS_GRACE: Duration = Duration::from_secs(600);
}

/// What a shutdown does with the Jobs (batch runs) it finds running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobsMode {
    /// Stop each, its results committed.
    Stop,
    /// Give each this long to finish on its own, then stop the rest.
    Wait(Duration),
    /// Record them and touch nothing.
    Leave,
}

/// Which operation, on which kinds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    pub op: Operation,
    /// Limit the run to these kinds (`-s`); empty means all.
    pub only: Vec<Kind>,
}

impl Selection {
    pub fn all(op: Operation) -> Selection {
        Selection {
            op,
            only: Vec::new(),
        }
    }

    /// Whether the run covers every kind.
    pub fn is_whole(&self) -> bool {
        self.only.is_empty()
    }
}

/// How often a step asks whether its execution has reached the target state: first after
/// `initial`; then, having waited `w` so far, after `lateness × w`, but never sooner than
/// `initial / 2` nor later than `max`. A step is so confirmed at most `lateness` of its wait
/// (or half the first wait) after its execution got there, and a stuck execution costs ever
/// fewer reads.
#[derive(Clone, Copy, Debug)]
pub struct PollPolicy {
    pub initial: Duration,
    pub max: Duration,
    pub lateness: f64,
}

impl Default for PollPolicy {
    fn default() -> Self {
        PollPolicy {
            initial: Duration::from_millis(defaults::POLL_INTERVAL_MS),
            max: Duration::from_secs(5),
            lateness: 0.25,
        }
    }
}

impl PollPolicy {
    pub(crate) fn next(&self, waited: Duration) -> Duration {
        waited
            .mul_f64(self.lateness)
            .max(self.initial / 2)
            .min(self.max)
    }
}

/// How a shutdown or restore runs.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Steps sending a stop or start at the same time.
    pub concurrency: usize,
    /// Failed attempts per execution in one run before its step is `Failed` (`-m`).
    pub max_failures: u32,
    /// How long to wait for an execution to reach its target state (`-g`).
    pub grace_period: Duration,
    pub poll: PollPolicy,
    /// Try `Failed` steps again.
    pub retry_failed: bool,
    /// Ask the API afterwards whether the deployment is as promised (off: `--no-verify`).
    pub verify: bool,
    /// After an interrupt, how long requests in flight get to finish and be recorded.
    pub drain: Duration,
    /// What shutdown does with running Jobs.
    pub jobs: JobsMode,
    /// Restore restarts the Jobs the shutdown stopped (`--restart-jobs`).
    pub restart_jobs: bool,
    /// How long a step may keep failing before the run says it is stuck
    /// ([`super::Reporter::step_stuck`]).
    pub stuck_after: Duration,
    /// The options as the user gave them, recorded in the journal's run.
    pub recorded_options: RecordedOptions,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            concurrency: defaults::CONCURRENCY as usize,
            max_failures: defaults::MAX_FAILURES,
            grace_period: Duration::from_secs(defaults::GRACE_PERIOD_S),
            poll: PollPolicy::default(),
            retry_failed: false,
            verify: true,
            drain: defaults::DRAIN_AFTER_INTERRUPT,
            jobs: JobsMode::Stop,
            restart_jobs: false,
            stuck_after: Duration::from_secs(600),
            recorded_options: RecordedOptions::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_come_at_a_steady_pace_then_back_off() {
        let p = PollPolicy::default();
        let ms = |d: Duration| d.as_millis();
        assert_eq!(ms(p.next(Duration::from_secs(1))), 500);
        assert_eq!(ms(p.next(Duration::from_secs(2))), 500);
        assert_eq!(ms(p.next(Duration::from_secs(4))), 1000);
        assert_eq!(ms(p.next(Duration::from_secs(600))), 5000);
    }
}
