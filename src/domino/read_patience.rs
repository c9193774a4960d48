//! How long a read keeps retrying: a patience measured in time, not a count.
//!
//! A read (GET) has no side effect, so sending it again costs only time. Against a deployment
//! that fails a third of its requests at random, a fixed count of retries is spent now and then
//! (seven failures in a row come once in a few hundred reads), and one lost read used to end a
//! whole run with exit 1. So a read keeps retrying after `RetryPolicy::max_retries`, with the
//! same capped backoff (and `Retry-After` honoured), until `RetryPolicy::read_patience` has passed
//! since its first attempt. The per-request budget (`ClientConfig::request_budget`) still bounds
//! the whole, for a server that never answers.
//!
//! A lasting outage must still be noticed as quickly as before (the runner stops the run after
//! several requests in a row failed, each after its retries: `runner::health`). So the extra
//! patience holds only while the deployment answers something: when the last `OUTAGE_STREAK`
//! attempts of this client, across all requests, have all failed transiently, a read stops at
//! its count like a write. With other requests in flight, random faults at 40% make such a
//! streak practically impossible (0.4^12 ≈ 2·10⁻⁵); an outage makes it certain within a round
//! of polls. A read that is alone cannot tell bad luck from an outage: it then tries twelve
//! times (about a minute) instead of seven, and an outage is still noticed within the time the
//! runner's tests allow.
//!
//! Writes keep the count: the runner gives each execution its own failure budget (`-m`).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use super::config::RetryPolicy;

/// Failed attempts in a row, across the whole client, that mean "nothing answers".
pub(crate) const OUTAGE_STREAK: u32 = 12;

/// Transient failures in a row across every attempt of one client, and whether the server ever
/// answered at all.
#[derive(Debug, Default)]
pub(crate) struct FailureStreak {
    streak: AtomicU32,
    /// Some HTTP answer (any status) came back once: the host is the deployment's, and it lives.
    heard: AtomicBool,
}

impl FailureStreak {
    /// Records the fate of one attempt: an answer (any but a transient failure) ends the streak.
    /// `answered`: an HTTP status came back (a 503 is an answer; a refused connection is not).
    pub(crate) fn note(&self, transient_failure: bool, answered: bool) {
        if answered {
            self.heard.store(true, Ordering::Relaxed);
        }
        if transient_failure {
            self.streak.fetch_add(1, Ordering::Relaxed);
        } else {
            self.streak.store(0, Ordering::Relaxed);
        }
    }

    /// Whether nothing has answered for the last `OUTAGE_STREAK` attempts, or ever: a host that
    /// has never answered (a mistyped address, a server that is down at the start) gets no more
    /// patience than a write, so configuration mistakes are reported as fast as before.
    pub(crate) fn looks_like_outage(&self) -> bool {
        !self.heard.load(Ordering::Relaxed) || self.streak.load(Ordering::Relaxed) >= OUTAGE_STREAK
    }
}

/// Whether a read that failed after `retries_done` retries, `elapsed` after its first attempt,
/// is sent again after `delay` (the backoff's, `Retry-After` applied): within the count always;
/// beyond it while the patience lasts and the deployment is not in an outage.
pub(crate) fn read_again(
    policy: &RetryPolicy,
    retries_done: u32,
    elapsed: Duration,
    delay: Duration,
    outage: bool,
) -> bool {
    if (retries_done as usize) < policy.max_retries {
        return true;
    }
    !outage && elapsed + delay <= policy.read_patience
}

/// The longest a read waits between attempts while the deployment answers other attempts:
/// between half of it and all of it (spread by the backoff's own jitter).
pub(crate) const WEATHER_DELAY_CEILING: Duration = Duration::from_secs(2);

/// The pause before a read's next attempt, from the backoff's `delay`. While the deployment
/// answers others (no outage), a failed read is the deployment's weather, not a sign that it is
/// overloaded: the rate answers load (its cuts, and each 429's `Retry-After`, which still
/// applies on top of this), and the retry budget bounds what retries add. So a read's pause
/// stops growing at [`WEATHER_DELAY_CEILING`] instead of the backoff's 10–20 s: at a steady
/// 35% of faults, a read that met eight in a row (one in four thousand; a run sends
/// thousands) spent a minute and a half in backoff, and ended the whole run that late. In an
/// outage the backoff is kept whole.
pub(crate) fn read_delay(delay: Duration, outage: bool) -> Duration {
    if outage || delay <= WEATHER_DELAY_CEILING {
        return delay;
    }
    let half = WEATHER_DELAY_CEILING / 2;
    let spread = delay.as_nanos() % half.as_nanos().max(1);
    half + Duration::from_nanos(spread as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 6,
            read_patience: Duration::from_secs(120),
            ..RetryPolicy::default()
        }
    }

    #[test]
    fn a_read_retries_past_its_count_while_patience_lasts() {
        let p = policy();
        let s = Duration::from_secs;
        assert!(read_again(&p, 3, s(1), s(1), true), "within the count");
        assert!(read_again(&p, 6, s(30), s(10), false));
        assert!(read_again(&p, 40, s(110), s(10), false));
        assert!(!read_again(&p, 41, s(115), s(10), false), "patience spent");
        assert!(
            !read_again(&p, 6, s(30), s(10), true),
            "an outage: the count"
        );
        let count_only = RetryPolicy {
            read_patience: Duration::ZERO,
            ..p
        };
        assert!(!read_again(&count_only, 6, s(1), s(1), false));
    }

    #[test]
    fn a_read_in_weather_waits_at_most_the_ceiling_and_in_an_outage_the_backoff() {
        let s = Duration::from_secs;
        assert_eq!(
            read_delay(Duration::from_millis(400), false),
            Duration::from_millis(400)
        );
        for backoff in [s(3), Duration::from_millis(10_123), s(19)] {
            let d = read_delay(backoff, false);
            assert!(
                d >= WEATHER_DELAY_CEILING / 2 && d <= WEATHER_DELAY_CEILING,
                "{d:?}"
            );
            assert_eq!(
                read_delay(backoff, true),
                backoff,
                "an outage keeps the backoff"
            );
        }
    }

    #[test]
    fn any_answer_ends_a_streak() {
        let streak = FailureStreak::default();
        assert!(
            streak.looks_like_outage(),
            "a host never heard from gets no patience"
        );
        streak.note(true, true);
        for _ in 0..OUTAGE_STREAK - 2 {
            streak.note(true, false);
        }
        assert!(!streak.looks_like_outage());
        streak.note(false, true);
        for _ in 0..OUTAGE_STREAK - 1 {
            streak.note(true, false);
        }
        assert!(!streak.looks_like_outage());
        streak.note(true, false);
        assert!(streak.looks_like_outage());
    }

    /// A server that answers 503 to the first `fail` requests (GET or POST), then 200.
    async fn failing_first(
        fail: usize,
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use axum::routing::get;
        use std::sync::atomic::AtomicUsize;
        let hits = std::sync::Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let handler = move || {
            let counter = counter.clone();
            async move {
                if counter.fetch_add(1, Ordering::SeqCst) < fail {
                    (axum::http::StatusCode::SERVICE_UNAVAILABLE, "busy")
                } else {
                    (axum::http::StatusCode::OK, "{}")
                }
            }
        };
        let router = axum::Router::new().route("/v4/thing", get(handler.clone()).post(handler));
        (crate::domino::test_support::serve(router).await, hits)
    }

    fn patient_client(url: &str) -> crate::domino::DominoClient {
        let mut config = crate::domino::test_support::test_config(url);
        config.retry.read_patience = Duration::from_secs(20);
        crate::domino::DominoClient::new(&config).unwrap()
    }

    #[tokio::test]
    async fn a_read_outlasts_its_count_of_retries_and_a_write_does_not() {
        // 10 failures in a row: past the count of 3, short of an outage's streak.
        let (url, hits) = failing_first(10).await;
        let client = patient_client(&url);
        client
            .get_value("/v4/thing")
            .await
            .expect("the read converges");
        assert_eq!(hits.load(Ordering::SeqCst), 11);

        let (url, hits) = failing_first(10).await;
        let client = patient_client(&url);
        let err = client.post("/v4/thing", None).await.unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert_eq!(
            hits.load(Ordering::SeqCst),
            4,
            "a write keeps its count: 1 + 3"
        );
    }

    #[tokio::test]
    async fn when_nothing_answers_a_read_stops_at_the_outage_streak() {
        let (url, hits) = failing_first(usize::MAX).await;
        let client = patient_client(&url);
        let err = client.get_value("/v4/thing").await.unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert_eq!(hits.load(Ordering::SeqCst), OUTAGE_STREAK as usize);
    }
}
