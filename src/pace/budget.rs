//! The retry budget: retries at most a share of the requests, plus a small minimum, as the
//! retry budgets of Envoy and gRPC and the AWS SDKs' retry quota bound them.
//!
//! The adaptive pace no longer cuts the rate for a steady share of faults (`weather.rs`); what
//! bounds the extra load those faults cause is this. Each first attempt earns [`RATIO`] of a
//! retry, and time earns [`MIN_PER_SECOND`], up to [`BURST`] saved; so does the weather the
//! pace has accepted, in proportion to the rate in force (a rate held with a steady share of
//! faults has those faults' retries priced in). A retry takes one; a retry that finds none
//! waits for one (it is delayed, never dropped: a maintenance run must finish). A retry that
//! was served gives its one back (the AWS SDKs' retry quota refunds a retry that succeeds): the
//! budget bounds the retries that fail, the load a retry storm adds to a deployment in trouble,
//! not the retries of a deployment that has recovered (after a flap, the run's last requests
//! are all retries, which no first attempt earns for: one a second, a thousand of them took
//! minutes). Pure: time comes in as arguments.

use std::time::Duration;

use tokio::time::Instant;

/// Retries each first attempt earns.
pub const RATIO: f64 = 0.2;
/// Retries a second earns whatever is sent, so that a run that sends little still retries.
pub const MIN_PER_SECOND: f64 = 1.0;
/// The most retries saved up, and what a client starts with.
pub const BURST: f64 = 10.0;

#[derive(Debug)]
pub struct RetryBudget {
    tokens: f64,
    last: Instant,
    /// Retries allowed so far and first attempts, for the tests and the report.
    retries: u64,
    firsts: u64,
}

impl RetryBudget {
    pub fn new(now: Instant) -> RetryBudget {
        RetryBudget {
            tokens: BURST,
            last: now,
            retries: 0,
            firsts: 0,
        }
    }

    /// Time earns its share: [`MIN_PER_SECOND`], and `weather_per_second` (the share of faults
    /// accepted as weather times the rate in force).
    fn earn(&mut self, now: Instant, weather_per_second: f64) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + dt * (MIN_PER_SECOND + weather_per_second.max(0.0)))
            .min(BURST.max(self.tokens));
    }

    /// A first attempt was sent.
    pub fn on_first_attempt(&mut self, now: Instant, weather_per_second: f64) {
        self.earn(now, weather_per_second);
        self.firsts += 1;
        self.tokens = (self.tokens + RATIO).min(BURST);
    }

    /// May a retry go now? `Ok` takes a retry from the budget; `Err` says how long until one is
    /// earned by time alone (first attempts may earn it sooner: ask again then).
    pub fn try_retry(&mut self, now: Instant, weather_per_second: f64) -> Result<(), Duration> {
        self.earn(now, weather_per_second);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.retries += 1;
            return Ok(());
        }
        let per_second = MIN_PER_SECOND + weather_per_second.max(0.0);
        Err(Duration::from_secs_f64((1.0 - self.tokens) / per_second))
    }

    /// A retry the budget allowed was served: it gives its retry back.
    pub fn on_retry_served(&mut self) {
        self.tokens = (self.tokens + 1.0).min(BURST.max(self.tokens));
    }

    /// Retries allowed and first attempts so far.
    #[cfg(test)]
    pub fn counts(&self) -> (u64, u64) {
        (self.retries, self.firsts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_stay_within_a_share_of_the_requests_plus_the_minimum() {
        let start = Instant::now();
        let mut now = start;
        let mut b = RetryBudget::new(now);
        // 100 requests a second for 10 s, every one of which would be retried at once.
        let mut allowed = 0u64;
        for _ in 0..1000 {
            now += Duration::from_millis(10);
            b.on_first_attempt(now, 0.0);
            if b.try_retry(now, 0.0).is_ok() {
                allowed += 1;
            }
        }
        let secs = now.duration_since(start).as_secs_f64();
        let bound = RATIO * 1000.0 + MIN_PER_SECOND * secs + BURST;
        assert!(allowed as f64 <= bound, "{allowed} retries, bound {bound}");
        assert!(
            allowed as f64 >= 0.9 * bound,
            "the budget is used: {allowed}"
        );
        assert_eq!(b.counts(), (allowed, 1000));
    }

    #[test]
    fn a_retry_without_budget_is_told_how_long_to_wait() {
        let mut now = Instant::now();
        let mut b = RetryBudget::new(now);
        while b.try_retry(now, 0.0).is_ok() {}
        let wait = b.try_retry(now, 0.0).unwrap_err();
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        now += wait;
        assert!(b.try_retry(now, 0.0).is_ok(), "time earns one");
    }

    /// Failed retries stay within the budget; served ones do not use it up.
    #[test]
    fn a_retry_that_is_served_gives_its_retry_back() {
        let mut now = Instant::now();
        let mut b = RetryBudget::new(now);
        // No first attempt: a run's last requests, all retries, every one of them served.
        let mut allowed = 0;
        for _ in 0..1000 {
            now += Duration::from_millis(10);
            if b.try_retry(now, 0.0).is_ok() {
                allowed += 1;
                b.on_retry_served();
            }
        }
        assert_eq!(allowed, 1000, "10 s of retries, all served");
        // The same retries, every one of them failing: the budget holds them to its minimum.
        let start = now;
        let mut failed = 0u64;
        for _ in 0..1000 {
            now += Duration::from_millis(10);
            if b.try_retry(now, 0.0).is_ok() {
                failed += 1;
            }
        }
        let bound = BURST + MIN_PER_SECOND * now.duration_since(start).as_secs_f64();
        assert!(failed as f64 <= bound, "{failed} > {bound}");
    }

    #[test]
    fn accepted_weather_prices_its_retries_in() {
        let start = Instant::now();
        let mut now = start;
        let mut b = RetryBudget::new(now);
        // 100 attempts a second of which 35% fail and are retried, the weather accepted.
        let mut refused = 0;
        for i in 0..1000 {
            now += Duration::from_millis(10);
            b.on_first_attempt(now, 35.0);
            if i % 20 < 7 && b.try_retry(now, 35.0).is_err() {
                refused += 1;
            }
        }
        assert_eq!(refused, 0);
    }
}
