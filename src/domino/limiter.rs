//! The client's own brakes: at most N requests in flight, and requests started at the pace of
//! [`Pace`] (none, a fixed rate, or the adaptive rate of `crate::pace`). Every HTTP attempt (first
//! tries, retries, pages) passes through here, and reports its answer back.
//!
//! The rate is enforced by `governor`'s GCRA token bucket, with a burst of one: no two requests
//! start closer than the rate allows, and no credit is saved up while the client is idle.
//! `governor` keeps its quota for life, so a change of the adaptive rate swaps in a new bucket
//! (a change happens at most once per `pace::TICK`, or at a pushback); a request waiting for the
//! old one looks again at the new one when it wakes. The bucket reads tokio's clock, so tests
//! that pause tokio's time see exactly what the bucket lets through.

use std::num::NonZeroU32;
use std::ops::Add;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use governor::clock::{Clock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::config::Limits;
use crate::pace::RetryBudget;
use crate::pace::{Change, Controller, Pace, PaceReport, Signal};

pub(crate) struct RequestLimiter {
    slots: Arc<Slots>,
    rate: Option<Rate>,
    /// With the adaptive pace, which no longer cuts the rate for a steady share of faults, the
    /// bound on the retries those faults cause. A fixed rate (or none) is the operator's
    /// choice of load, and every retry passes through it anyway.
    retry_budget: Option<Mutex<RetryBudget>>,
}

/// The slots for requests in flight, whose number the adaptive pace moves: a semaphore with as
/// many permits as the limit. A lower limit forgets the permits that are free and owes the
/// rest, paid by the next slots handed back; a higher one pays the debt first.
struct Slots {
    semaphore: Arc<Semaphore>,
    limit: AtomicUsize,
    debt: AtomicUsize,
}

impl Slots {
    fn new(limit: usize) -> Slots {
        Slots {
            semaphore: Arc::new(Semaphore::new(limit.max(1))),
            limit: AtomicUsize::new(limit.max(1)),
            debt: AtomicUsize::new(0),
        }
    }

    /// Called under the controller's lock, so never twice at once.
    fn set_limit(&self, to: usize) {
        let from = self.limit.swap(to, Ordering::Relaxed);
        if to > from {
            let grow = to - from;
            let paid = self
                .debt
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| {
                    Some(d.saturating_sub(grow))
                })
                .unwrap_or(0)
                .min(grow);
            self.semaphore.add_permits(grow - paid);
        } else if to < from {
            let shrink = from - to;
            let forgotten = self.semaphore.forget_permits(shrink);
            self.debt.fetch_add(shrink - forgotten, Ordering::Relaxed);
        }
    }

    /// A slot handed back pays the debt when there is one.
    fn release(&self, permit: OwnedSemaphorePermit) {
        let owed = self
            .debt
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| d.checked_sub(1))
            .is_ok();
        if owed {
            permit.forget();
        }
    }
}

/// A request may go while this is held; hand it back with [`RequestLimiter::answered`].
pub(crate) struct Ticket {
    slot: Option<OwnedSemaphorePermit>,
    slots: Arc<Slots>,
    sent: Instant,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(permit) = self.slot.take() {
            self.slots.release(permit);
        }
    }
}

impl Ticket {
    pub(crate) fn sent(&self) -> Instant {
        self.sent
    }
}

struct Rate {
    bucket: Mutex<Arc<Bucket>>,
    /// When the last request went: a new bucket starts with a token, so without this every
    /// change of the rate let a request go at once, however soon after the last one (bursts of
    /// two or three within milliseconds, at 5 a second, against a server that serves 5 a
    /// second). The first request through a new bucket waits one period of the rate in force.
    last_sent: Mutex<Option<Instant>>,
    /// The adaptive control law; `None` for a fixed rate.
    control: Option<Mutex<Controller>>,
    fixed: f64,
    pushbacks: std::sync::atomic::AtomicU64,
}

type Bucket = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<TokioInstant>>;

impl Rate {
    /// The rate in force, in requests per second.
    fn in_force(&self) -> f64 {
        match &self.control {
            Some(control) => lock(control).rate(),
            None => self.fixed,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One request's share of a rate. Validated positive and finite; a nanosecond is the finest
/// period governor keeps.
fn period(rate: f64) -> Duration {
    Duration::from_secs_f64(1.0 / rate).max(Duration::from_nanos(1))
}

fn bucket(rate: f64) -> Arc<Bucket> {
    let quota = Quota::with_period(period(rate))
        .expect("a period of at least 1 ns")
        .allow_burst(NonZeroU32::MIN);
    Arc::new(RateLimiter::direct_with_clock(quota, TokioClock))
}

impl RequestLimiter {
    pub(crate) fn new(limits: &Limits) -> RequestLimiter {
        let now = Instant::now();
        let mut slots = limits.max_in_flight.max(1);
        let rate = match limits.pace {
            Pace::Unlimited => None,
            Pace::Fixed(rps) => Some(Rate {
                bucket: Mutex::new(bucket(rps)),
                last_sent: Mutex::new(None),
                control: None,
                fixed: rps,
                pushbacks: Default::default(),
            }),
            Pace::Adaptive(bounds) => {
                let control = Controller::new(bounds, limits.max_in_flight, now);
                slots = control.in_flight_limit();
                Some(Rate {
                    bucket: Mutex::new(bucket(control.rate())),
                    last_sent: Mutex::new(None),
                    fixed: control.rate(),
                    control: Some(Mutex::new(control)),
                    pushbacks: Default::default(),
                })
            }
        };
        let retry_budget =
            matches!(limits.pace, Pace::Adaptive(_)).then(|| Mutex::new(RetryBudget::new(now)));
        RequestLimiter {
            slots: Arc::new(Slots::new(slots)),
            rate,
            retry_budget,
        }
    }

    /// Faults per second that the pace accepts as the deployment's weather (their retries are
    /// priced into the rate it holds).
    fn weather_per_second(&self) -> f64 {
        match self.rate.as_ref().and_then(|r| r.control.as_ref()) {
            Some(control) => {
                let control = lock(control);
                control.faults_share() * control.rate()
            }
            None => 0.0,
        }
    }

    /// A request's first attempt is about to go: it earns its share of the retry budget.
    pub(crate) fn first_attempt(&self) {
        if let Some(budget) = &self.retry_budget {
            let weather = self.weather_per_second();
            lock(budget).on_first_attempt(Instant::now(), weather);
        }
    }

    /// Waits until the retry budget allows one more retry, and takes it.
    pub(crate) async fn retry_permit(&self) {
        let Some(budget) = &self.retry_budget else {
            return;
        };
        loop {
            let weather = self.weather_per_second();
            let verdict = lock(budget).try_retry(Instant::now(), weather);
            match verdict {
                Ok(()) => return,
                // First attempts may earn it sooner than time alone: look again within a tick.
                Err(wait) => tokio::time::sleep(wait.min(crate::pace::TICK)).await,
            }
        }
    }

    /// A retry the budget allowed was served: it gives its retry back (the budget bounds the
    /// retries that fail).
    pub(crate) fn retry_served(&self) {
        if let Some(budget) = &self.retry_budget {
            lock(budget).on_retry_served();
        }
    }

    /// Retries the budget allowed and first attempts, with the adaptive pace.
    #[cfg(test)]
    pub(crate) fn retry_counts(&self) -> Option<(u64, u64)> {
        self.retry_budget.as_ref().map(|b| lock(b).counts())
    }

    /// Waits for a free slot and for the rate; the request may go while the returned ticket is
    /// held. The in-flight slot is taken first, so a request that has waited for the rate is
    /// sent at once rather than queueing again behind the semaphore.
    pub(crate) async fn acquire(&self) -> Ticket {
        let semaphore = &self.slots.semaphore;
        let (slot, waited_slot) = match Arc::clone(semaphore).try_acquire_owned() {
            Ok(slot) => (slot, false),
            Err(_) => (
                Arc::clone(semaphore)
                    .acquire_owned()
                    .await
                    .expect("the limiter's semaphore is never closed"),
                true,
            ),
        };
        let ticket = |sent| Ticket {
            slot: Some(slot),
            slots: Arc::clone(&self.slots),
            sent,
        };
        let Some(rate) = &self.rate else {
            return ticket(Instant::now());
        };
        let mut waited = false;
        loop {
            let last = *lock(&rate.last_sent);
            let due = last.map(|last| last + period(rate.in_force()));
            if let Some(due) = due.filter(|due| *due > Instant::now()) {
                waited = true;
                tokio::time::sleep_until(due).await;
                continue;
            }
            let bucket = Arc::clone(&lock(&rate.bucket));
            match bucket.check() {
                Ok(()) => break,
                Err(not_until) => {
                    waited = true;
                    tokio::time::sleep(not_until.wait_time_from(TokioClock.now())).await;
                }
            }
        }
        let sent = Instant::now();
        *lock(&rate.last_sent) = Some(sent);
        if let Some(control) = &rate.control {
            let mut control = lock(control);
            let change = control.on_sent(sent, waited, waited_slot);
            self.apply(rate, &control, change);
        }
        ticket(sent)
    }

    /// What the answer to a request sent with `ticket` said about the pace.
    pub(crate) fn answered(&self, ticket: &Ticket, signal: Signal) {
        let Some(rate) = &self.rate else { return };
        if matches!(signal, Signal::Pushback(_)) {
            rate.pushbacks.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(control) = &rate.control {
            let mut control = lock(control);
            let change = control.on_answer(Instant::now(), ticket.sent, signal);
            self.apply(rate, &control, change);
        }
    }

    /// Brings the bucket and the slots in line with the controller; called under its lock.
    fn apply(&self, rate: &Rate, control: &Controller, change: Option<Change>) {
        let limit = control.in_flight_limit();
        if limit != self.slots.limit.load(Ordering::Relaxed) {
            tracing::debug!("pace: at most {limit} requests in flight");
            self.slots.set_limit(limit);
        }
        let Some(change) = change else { return };
        *lock(&rate.bucket) = bucket(change.to);
        tracing::debug!(
            "pace: {:.1} → {:.1} requests/s: {}",
            change.from,
            change.to,
            change.reason
        );
    }

    /// The rate in force now, if any.
    #[cfg(test)]
    pub(crate) fn rate(&self) -> Option<f64> {
        self.rate.as_ref().map(Rate::in_force)
    }

    /// What the pace did so far; `None` without a rate limit.
    pub(crate) fn report(&self) -> Option<PaceReport> {
        let rate = self.rate.as_ref()?;
        Some(match &rate.control {
            Some(control) => lock(control).report(),
            None => PaceReport {
                mode: "fixed",
                initial: rate.fixed,
                settled: rate.fixed,
                min: rate.fixed,
                max: rate.fixed,
                ceiling: rate.fixed,
                pushbacks: rate.pushbacks.load(Ordering::Relaxed),
                changes: 0,
                in_flight_settled: self.slots.limit.load(Ordering::Relaxed) as f64,
                in_flight_min: self.slots.limit.load(Ordering::Relaxed),
                in_flight_max: self.slots.limit.load(Ordering::Relaxed),
            },
        })
    }
}

/// tokio's clock, for `governor`: paused with tokio's time in tests.
#[derive(Clone, Copy, Debug, Default)]
struct TokioClock;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct TokioInstant(Instant);

impl Add<Nanos> for TokioInstant {
    type Output = TokioInstant;

    fn add(self, other: Nanos) -> TokioInstant {
        TokioInstant(self.0 + Duration::from(other))
    }
}

impl Reference for TokioInstant {
    fn duration_since(&self, earlier: Self) -> Nanos {
        self.0.saturating_duration_since(earlier.0).into()
    }

    fn saturating_sub(&self, duration: Nanos) -> Self {
        TokioInstant(
            self.0
                .checked_sub(Duration::from(duration))
                .unwrap_or(self.0),
        )
    }
}

impl Clock for TokioClock {
    type Instant = TokioInstant;

    fn now(&self) -> TokioInstant {
        TokioInstant(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pace::{AdaptivePace, Pushback, RouteClass};

    fn limits(max_in_flight: usize, pace: Pace) -> Limits {
        Limits {
            max_in_flight,
            pace,
        }
    }

    /// Requests started in `span` of tokio's paused time, each answered with `signal` at once.
    /// An adaptive limiter from `initial` requests a second up to `max` (and down to 1).
    fn adaptive(max_in_flight: usize, initial: f64, max: f64) -> RequestLimiter {
        RequestLimiter::new(&limits(
            max_in_flight,
            Pace::Adaptive(AdaptivePace {
                initial,
                max,
                min: 1.0,
            }),
        ))
    }

    /// An adaptive limiter (25 a second, up to 400) after a second of clean answers.
    async fn climbed(max_in_flight: usize) -> RequestLimiter {
        let limiter = adaptive(max_in_flight, 25.0, 400.0);
        started_within(&limiter, Duration::from_secs(1), || {
            Signal::Clean(Duration::from_millis(2), RouteClass::custom(0))
        })
        .await;
        limiter
    }

    async fn started_within(
        limiter: &RequestLimiter,
        span: Duration,
        signal: impl Fn() -> Signal,
    ) -> u64 {
        let end = Instant::now() + span;
        let mut started = 0;
        loop {
            let ticket = limiter.acquire().await;
            if ticket.sent() >= end {
                return started;
            }
            started += 1;
            limiter.answered(&ticket, signal());
        }
    }

    #[tokio::test]
    async fn limiter_caps_in_flight() {
        let limiter = Arc::new(RequestLimiter::new(&limits(2, Pace::Unlimited)));
        let a = limiter.acquire().await;
        let _b = limiter.acquire().await;
        let third = tokio::time::timeout(Duration::from_millis(20), limiter.acquire()).await;
        assert!(third.is_err(), "a third request must wait");
        drop(a);
        let third = tokio::time::timeout(Duration::from_millis(200), limiter.acquire()).await;
        assert!(third.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_fixed_rate_is_never_exceeded() {
        let limiter = RequestLimiter::new(&limits(8, Pace::Fixed(20.0)));
        let started = started_within(&limiter, Duration::from_secs(10), || {
            Signal::Clean(Duration::from_millis(1), RouteClass::custom(0))
        })
        .await;
        // 20 per second over 10 s, plus the first one at once.
        assert!(started <= 201, "{started}");
        assert!(started >= 195, "the rate is used: {started}");
        let report = limiter.report().unwrap();
        assert_eq!((report.mode, report.min, report.max), ("fixed", 20.0, 20.0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_fixed_rate_counts_pushbacks_and_does_not_move() {
        let limiter = RequestLimiter::new(&limits(8, Pace::Fixed(50.0)));
        started_within(&limiter, Duration::from_secs(1), || {
            Signal::Pushback(Pushback::Status(429))
        })
        .await;
        let report = limiter.report().unwrap();
        assert!(report.pushbacks >= 49, "{report:?}");
        assert_eq!(limiter.rate(), Some(50.0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_of_rate_lets_no_request_go_sooner_than_the_new_rate_allows() {
        let limiter = adaptive(8, 5.0, 10.0);
        let clean = || Signal::Clean(Duration::from_millis(2), RouteClass::custom(0));
        // Against a rate that moves (slow start, then its ceiling), no two requests ever start
        // closer than the slower of the two rates allows: 1/10 s.
        let mut last: Option<Instant> = None;
        let mut closest = Duration::MAX;
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            let ticket = limiter.acquire().await;
            if let Some(last) = last {
                closest = closest.min(ticket.sent().duration_since(last));
            }
            last = Some(ticket.sent());
            limiter.answered(&ticket, clean());
        }
        let report = limiter.report().unwrap();
        assert!(report.changes > 0, "the rate moved: {report:?}");
        assert!(
            closest >= Duration::from_millis(99),
            "two requests {closest:?} apart"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_adaptive_rate_rises_to_the_maximum_and_never_beyond() {
        let limiter = adaptive(8, 25.0, 150.0);
        let clean = || Signal::Clean(Duration::from_millis(2), RouteClass::custom(0));
        // Let it climb, then count what one second lets through.
        started_within(&limiter, Duration::from_secs(3), clean).await;
        assert_eq!(limiter.rate(), Some(150.0));
        let started = started_within(&limiter, Duration::from_secs(1), clean).await;
        assert!(started <= 151, "{started} in one second");
        let report = limiter.report().unwrap();
        assert_eq!(report.max, 150.0);
        assert_eq!(report.min, 25.0);
        assert_eq!(report.pushbacks, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_adaptive_rate_falls_after_429s() {
        let limiter = climbed(8).await;
        let high = limiter.rate().unwrap();
        assert!(high > 25.0);
        // Two seconds of refusals: a 429 cut goes no lower than 0.7 of what was served over the
        // last second, so the first second's clean answers hold it up for a second.
        started_within(&limiter, Duration::from_secs(2), || {
            Signal::Pushback(Pushback::Status(429))
        })
        .await;
        let low = limiter.rate().unwrap();
        assert!(low < high / 2.0, "{high} → {low}");
        let report = limiter.report().unwrap();
        assert!(report.pushbacks > 0);
        assert_eq!(report.min, low);
        assert_eq!(report.max, high);
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_cuts_the_rate_but_pauses_nobody_else() {
        let limiter = climbed(64).await;
        let before = limiter.rate().unwrap();
        let ticket = limiter.acquire().await;
        limiter.answered(&ticket, Signal::Pushback(Pushback::Status(429)));
        let after = limiter.rate().unwrap();
        assert!(after < before, "{before} → {after}");
        // The next request goes at the new rate, not after the Retry-After second, which only
        // the retry of the refused request waits for (client.rs).
        let at = Instant::now();
        let _next = limiter.acquire().await;
        assert!(at.elapsed() <= Duration::from_secs_f64(1.0 / after) + Duration::from_millis(1));
    }

    #[tokio::test(start_paused = true)]
    async fn the_slots_in_flight_follow_the_adaptive_limit() {
        let limiter = adaptive(64, 400.0, 400.0);
        let start = limiter.slots.limit.load(Ordering::Relaxed);
        assert_eq!(start, crate::pace::INITIAL_IN_FLIGHT);
        // Hold every slot, then one more request waits for a slot: the limit is what limits.
        let mut held = Vec::new();
        for _ in 0..start {
            held.push(limiter.acquire().await);
        }
        assert!(
            tokio::time::timeout(Duration::from_millis(50), limiter.acquire())
                .await
                .is_err()
        );
        // A pushback cuts the slots: with all handed back, fewer can be held at once.
        limiter.answered(&held[0], Signal::Pushback(Pushback::Status(503)));
        let cut = limiter.slots.limit.load(Ordering::Relaxed);
        assert!(cut < start, "{start} → {cut}");
        held.clear();
        let mut again = Vec::new();
        while let Ok(t) = tokio::time::timeout(Duration::from_millis(50), limiter.acquire()).await {
            again.push(t);
        }
        assert_eq!(again.len(), cut);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_wait_for_the_retry_budget() {
        let limiter = adaptive(64, 100.0, 100.0);
        // Ten seconds in which every first attempt is followed by a retry the moment it may go.
        let start = Instant::now();
        let end = start + Duration::from_secs(10);
        let mut retries = 0u64;
        while Instant::now() < end {
            limiter.first_attempt();
            let ticket = limiter.acquire().await;
            limiter.answered(
                &ticket,
                Signal::Clean(Duration::from_millis(2), RouteClass::custom(0)),
            );
            if tokio::time::timeout(Duration::ZERO, limiter.retry_permit())
                .await
                .is_ok()
            {
                retries += 1;
            }
        }
        let (allowed, firsts) = limiter.retry_counts().unwrap();
        assert_eq!(allowed, retries);
        let bound = crate::pace::retry_budget::RATIO * firsts as f64
            + crate::pace::retry_budget::MIN_PER_SECOND * 10.0
            + crate::pace::retry_budget::BURST;
        assert!(
            (retries as f64) <= bound,
            "{retries} retries for {firsts} requests"
        );
        assert!(firsts > 500, "{firsts}");
    }
}
