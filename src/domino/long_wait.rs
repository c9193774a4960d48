//! Waits long enough to look like a hang are said, at the default level, with what they wait
//! for and until when: a `Retry-After` of an hour (capped at a minute a retry) must not leave a
//! snapshot or a verification silent in `kubectl logs`.
//!
//! The lines go to the `dmm::wait` log target, which the CLI turns on unless `--quiet`. Many
//! requests refused at once wait alike: a wait is said only when it ends well after the last
//! one said, so a refused burst is one line, not one per request.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::time::Instant;

/// The log target of these lines.
pub const TARGET: &str = "dmm::wait";

/// A wait at least this long is said.
pub const LONG: Duration = Duration::from_secs(10);

/// Remembers until when the last wait said lasts.
#[derive(Debug, Default)]
pub struct LongWaits {
    said_until: Mutex<Option<Instant>>,
}

impl LongWaits {
    /// Whether a wait of `wait` starting now is to be said: it is long, and it ends at least
    /// [`LONG`] after the end of the last wait said.
    pub fn worth_saying(&self, wait: Duration) -> bool {
        if wait < LONG {
            return false;
        }
        let until = Instant::now() + wait;
        let mut said = self
            .said_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if said.is_some_and(|s| until < s + LONG) {
            return false;
        }
        *said = Some(until);
        true
    }
}

/// Repeated retries are said at the default level at most once every [`RETRY_NOTICE_EVERY`],
/// with how many were not said since: a deployment whose gateway answers 5xx to every stop of
/// one kind must not flood a Kubernetes Job's log with a line per execution (the rest are
/// logged at debug, with `-v`).
pub const RETRY_NOTICE_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
pub struct RetryNotices {
    state: Mutex<RetryNoticeState>,
}

#[derive(Debug, Default)]
struct RetryNoticeState {
    said_at: Option<Instant>,
    unsaid: u64,
}

impl RetryNotices {
    /// `Some(n)`: say this retry at the default level, with `n` retries not said since the
    /// last one said; `None`: log it at debug only.
    pub fn worth_saying(&self) -> Option<u64> {
        let now = Instant::now();
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if state
            .said_at
            .is_some_and(|at| now < at + RETRY_NOTICE_EVERY)
        {
            state.unsaid += 1;
            return None;
        }
        state.said_at = Some(now);
        Some(std::mem::take(&mut state.unsaid))
    }
}

/// The requests sent whose answer has not begun to come: a run that waits on them says which,
/// and until when, instead of staying silent until the attempt times out.
#[derive(Debug, Default)]
pub struct InFlight {
    state: Mutex<InFlightState>,
}

#[derive(Debug, Default)]
struct InFlightState {
    next: u64,
    /// By the order they were sent: the first is the one that waits longest.
    sent: BTreeMap<u64, (String, std::time::Instant)>,
}

/// A request waiting for its answer; dropped when the answer's head came or the attempt failed.
pub struct Waiting<'a> {
    of: &'a InFlight,
    id: u64,
}

/// The request that has waited longest for an answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Unanswered {
    /// `POST /v4/jobs/stop`.
    pub what: String,
    pub waited: Duration,
    /// Requests waiting, this one included.
    pub count: usize,
    /// How long an attempt is given, and a request with its retries.
    pub attempt: Duration,
    pub budget: Duration,
}

impl InFlight {
    fn state(&self) -> std::sync::MutexGuard<'_, InFlightState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn begin(&self, what: String) -> Waiting<'_> {
        let mut state = self.state();
        let id = state.next;
        state.next += 1;
        state.sent.insert(id, (what, std::time::Instant::now()));
        Waiting { of: self, id }
    }

    /// The request that has waited longest, how long, and how many wait.
    pub fn oldest(&self) -> Option<(String, Duration, usize)> {
        let state = self.state();
        let (what, since) = state.sent.values().next()?;
        Some((what.clone(), since.elapsed(), state.sent.len()))
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.of.state().sent.remove(&self.id);
    }
}

/// The wall-clock time `wait` from now, as `15:04:05 UTC`.
pub fn wall_clock_in(wait: Duration) -> String {
    let at = OffsetDateTime::now_utc() + wait;
    let format = time::macros::format_description!("[hour]:[minute]:[second] UTC");
    at.format(&format).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_like_waits_is_said_once() {
        let waits = LongWaits::default();
        assert!(!waits.worth_saying(Duration::from_secs(9)), "short");
        assert!(waits.worth_saying(Duration::from_secs(60)));
        assert!(!waits.worth_saying(Duration::from_secs(60)), "same end");
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(!waits.worth_saying(Duration::from_secs(60)), "5 s later");
        tokio::time::advance(Duration::from_secs(6)).await;
        assert!(waits.worth_saying(Duration::from_secs(60)), "11 s later");
        assert!(wall_clock_in(Duration::ZERO).ends_with(" UTC"));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_are_said_once_every_ten_seconds_with_the_rest_counted() {
        let notices = RetryNotices::default();
        assert_eq!(notices.worth_saying(), Some(0));
        for _ in 0..300 {
            assert_eq!(notices.worth_saying(), None);
        }
        tokio::time::advance(RETRY_NOTICE_EVERY).await;
        assert_eq!(notices.worth_saying(), Some(300));
        assert_eq!(notices.worth_saying(), None);
    }
}
