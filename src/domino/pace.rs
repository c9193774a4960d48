//! How fast the client starts requests: no limit, a fixed rate, or an adaptive one that looks for
//! the fastest rate the deployment takes without pushing back.
//!
//! The adaptive rate follows TCP congestion control and the AWS SDKs' "adaptive" retry mode:
//!
//! * **Slow start.** From the initial rate, the rate doubles every [`TICK`] in which it was what
//!   held requests back (some request had to wait for it) and every answer was clean.
//! * **Multiplicative decrease, at once.** A 429, a 503 or 504, a timed-out attempt or a
//!   connection error cuts the rate to [`BETA`] times the rate in force (or times what was
//!   actually sent, when that was far less). Only the answer to a request sent a [`TICK`] or
//!   more *after* the last cut can cut again (one cut per window, as TCP does), so ten requests
//!   in flight that all meet the same overload cut the rate once.
//! * **Latency.** The median latency of each tick is compared with the run's own baseline (the
//!   lowest median seen so far): [`SLOW_TICKS`] ticks in a row above twice the baseline plus
//!   [`LATENCY_SLACK`] cut the rate too, so a server that slows down before it refuses is
//!   respected.
//! * **Cubic increase.** After a cut, the rate grows back along CUBIC's curve (RFC 9438, and
//!   the AWS SDKs' client rate limiter): quickly back towards the rate at which the last cut
//!   happened, cautiously around it, then faster again beyond it.
//!
//! The rate never exceeds the maximum (`--max-rate`) nor twice the rate actually sent (growing a
//! limit that nothing uses would prove nothing), and never falls below [`AdaptivePace::min`].
//! No crate implements this control law (rate limiters such as `governor` keep a fixed quota,
//! and the AWS SDK's limiter is internal to its orchestrator), so it is written here, as a pure
//! state machine fed with instants, which its tests drive without sleeping. The token bucket
//! that enforces the rate is `governor`'s (`limiter.rs`).

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

/// How often the adaptive rate is reconsidered.
pub const TICK: Duration = Duration::from_millis(100);
/// The share of the sending rate kept after a pushback (CUBIC's and the AWS SDKs' 0.7).
pub const BETA: f64 = 0.7;
/// CUBIC's scaling constant, with rates in requests per second and time in seconds (as the AWS
/// SDKs use it).
const CUBIC_C: f64 = 0.4;
/// Ticks in a row with a high median latency that count as a sustained rise.
pub const SLOW_TICKS: u32 = 3;
/// Answers a tick needs before its median latency is judged; fewer are carried to the next tick.
const MIN_SAMPLES: usize = 5;
/// Added to twice the baseline latency before a tick counts as slow, so that a very fast
/// baseline (a millisecond on loopback) does not make noise look like a slowdown.
pub const LATENCY_SLACK: Duration = Duration::from_millis(10);
/// A change smaller than this share of the rate is not applied (and so not logged).
const MIN_CHANGE: f64 = 0.02;

/// How fast the client may start requests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pace {
    /// Only the limit on requests in flight applies.
    Unlimited,
    /// At most this many requests per second (`--rate-limit N`).
    Fixed(f64),
    /// As fast as the deployment takes (`--rate-limit auto`).
    Adaptive(AdaptivePace),
}

impl Pace {
    /// Checks the numbers; the message says what to fix.
    pub fn validate(&self) -> Result<(), String> {
        let positive = |what: &str, r: f64| {
            if r.is_finite() && r > 0.0 {
                Ok(())
            } else {
                Err(format!("{what} must be a positive number, got {r}"))
            }
        };
        match *self {
            Pace::Unlimited => Ok(()),
            Pace::Fixed(r) => positive("requests per second", r),
            Pace::Adaptive(a) => {
                positive("the initial rate", a.initial)?;
                positive("the maximum rate", a.max)?;
                positive("the minimum rate", a.min)?;
                if a.min > a.max {
                    return Err(format!(
                        "the minimum rate ({}) is above the maximum ({})",
                        a.min, a.max
                    ));
                }
                Ok(())
            }
        }
    }
}

/// The bounds of an adaptive rate, in requests per second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaptivePace {
    /// Where it starts (brought within `min..=max`).
    pub initial: f64,
    /// It never goes above this (`--max-rate`).
    pub max: f64,
    /// It never goes below this, whatever the deployment answers.
    pub min: f64,
}

/// What one answer says about the pace.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Signal {
    /// An answer that is not a pushback (2xx, 404, another 4xx), after this long.
    Clean(Duration),
    /// The deployment pushed back.
    Pushback(Pushback),
    /// Says nothing about load (a 500 or 502, a refused certificate).
    Neutral,
}

/// A sign that the deployment wants fewer requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushback {
    /// 429, 503 or 504.
    Status(u16),
    Timeout,
    Connection,
}

impl fmt::Display for Pushback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pushback::Status(code) => write!(f, "answered {code}"),
            Pushback::Timeout => f.write_str("a request timed out"),
            Pushback::Connection => f.write_str("a connection failed"),
        }
    }
}

/// One change of the rate, for the log.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub from: f64,
    pub to: f64,
    pub reason: String,
}

/// What a pace did over a client's life, for the run's record.
#[derive(Clone, Debug, PartialEq)]
pub struct PaceReport {
    /// `"auto"` or `"fixed"`.
    pub mode: &'static str,
    pub initial: f64,
    /// Where the rate settled: the average rate in force at each request sent since the first
    /// pushback (the rate oscillates around what the deployment takes), or the rate in force at
    /// the end when there was no pushback.
    pub settled: f64,
    pub min: f64,
    pub max: f64,
    /// The ceiling (`--max-rate`); for a fixed rate, the rate.
    pub ceiling: f64,
    /// Answers that pushed back (429, 503, 504, timeouts, connection errors), whether or not
    /// each one cut the rate.
    pub pushbacks: u64,
    /// Changes of the rate.
    pub changes: u64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    SlowStart,
    /// Since the last cut at `since`, from the rate `w_max` that was in force then.
    Cubic {
        w_max: f64,
        since: Instant,
    },
}

/// The adaptive control law: fed with each request sent and each answer, it says when and why
/// the rate changes. Pure: time comes in as arguments.
#[derive(Debug)]
pub struct Controller {
    bounds: AdaptivePace,
    rate: f64,
    phase: Phase,
    last_cut: Option<Instant>,
    tick_start: Instant,
    tick_sent: u64,
    /// Some request of this tick had to wait for the rate: the rate is what limits.
    tick_bound: bool,
    tick_pushback: bool,
    /// Clean answers this tick, and whether a 500 or 502 came.
    tick_clean: u64,
    tick_dirty: bool,
    latencies: Vec<Duration>,
    /// Requests sent per second, smoothed over a few ticks; `None` before the first tick.
    measured: Option<f64>,
    baseline: Option<Duration>,
    slow_ticks: u32,
    // For the report.
    min_seen: f64,
    max_seen: f64,
    pushbacks: u64,
    changes: u64,
    settled_sum: f64,
    settled_count: u64,
}

impl Controller {
    pub fn new(bounds: AdaptivePace, now: Instant) -> Controller {
        let rate = bounds.initial.clamp(bounds.min, bounds.max);
        Controller {
            bounds,
            rate,
            phase: Phase::SlowStart,
            last_cut: None,
            tick_start: now,
            tick_sent: 0,
            tick_bound: false,
            tick_pushback: false,
            tick_clean: 0,
            tick_dirty: false,
            latencies: Vec::new(),
            measured: None,
            baseline: None,
            slow_ticks: 0,
            min_seen: rate,
            max_seen: rate,
            pushbacks: 0,
            changes: 0,
            settled_sum: 0.0,
            settled_count: 0,
        }
    }

    /// The rate in force, in requests per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// A request was sent at `now`; `waited` when it had to wait for the rate.
    pub fn on_sent(&mut self, now: Instant, waited: bool) -> Option<Change> {
        let change = self.tick(now);
        self.tick_sent += 1;
        self.tick_bound |= waited;
        if self.last_cut.is_some() {
            self.settled_sum += self.rate;
            self.settled_count += 1;
        }
        change
    }

    /// The answer at `now` to a request sent at `sent`.
    pub fn on_answer(&mut self, now: Instant, sent: Instant, signal: Signal) -> Option<Change> {
        match signal {
            Signal::Pushback(why) => {
                self.pushbacks += 1;
                self.tick_pushback = true;
                // An answer to a request sent before the last cut, or so soon after it that it
                // met the queue the old rate built, says nothing about the new rate.
                if self.last_cut.is_some_and(|cut| sent < cut + TICK) {
                    return self.tick(now);
                }
                self.cut(now, why.to_string())
            }
            Signal::Clean(latency) => {
                self.latencies.push(latency);
                self.tick_clean += 1;
                self.tick(now)
            }
            Signal::Neutral => {
                self.tick_dirty = true;
                self.tick(now)
            }
        }
    }

    pub fn report(&self) -> PaceReport {
        PaceReport {
            mode: "auto",
            initial: self.bounds.initial.clamp(self.bounds.min, self.bounds.max),
            settled: if self.settled_count > 0 {
                self.settled_sum / self.settled_count as f64
            } else {
                self.rate
            },
            min: self.min_seen,
            max: self.max_seen,
            ceiling: self.bounds.max,
            pushbacks: self.pushbacks,
            changes: self.changes,
        }
    }

    fn cut(&mut self, now: Instant, reason: String) -> Option<Change> {
        // From the rate in force; or from what was actually sent, when that was far below it
        // (a limit that held nothing back says nothing about what the deployment takes).
        let from = match self.measured {
            Some(m) if m < 0.5 * self.rate => m,
            _ => self.rate,
        };
        let to = (BETA * from).max(self.bounds.min);
        self.phase = Phase::Cubic {
            w_max: self.rate,
            since: now,
        };
        self.last_cut = Some(now);
        self.slow_ticks = 0;
        self.set(to, reason, true)
    }

    /// Closes the tick when it is over: judges its latency, then raises the rate if the tick
    /// was clean and the rate was what held requests back.
    fn tick(&mut self, now: Instant) -> Option<Change> {
        let elapsed = now.saturating_duration_since(self.tick_start);
        if elapsed < TICK {
            return None;
        }
        let sent_rate = self.tick_sent as f64 / elapsed.as_secs_f64();
        self.measured = Some(match self.measured {
            Some(m) => 0.5 * m + 0.5 * sent_rate,
            None => sent_rate,
        });
        let mut slow = None;
        if self.latencies.len() >= MIN_SAMPLES {
            self.latencies.sort_unstable();
            let median = self.latencies[self.latencies.len() / 2];
            let baseline = *self.baseline.get_or_insert(median);
            if median > baseline * 2 + LATENCY_SLACK {
                self.slow_ticks += 1;
                slow = Some((median, baseline));
            } else {
                self.slow_ticks = 0;
                self.baseline = Some(baseline.min(median));
            }
            self.latencies.clear();
        }
        let clean = self.tick_clean > 0 && !self.tick_pushback && !self.tick_dirty;
        let bound = self.tick_bound;
        self.tick_start = now;
        self.tick_sent = 0;
        self.tick_bound = false;
        self.tick_pushback = false;
        self.tick_clean = 0;
        self.tick_dirty = false;

        if let Some((median, baseline)) = slow {
            if self.slow_ticks >= SLOW_TICKS {
                return self.cut(
                    now,
                    format!(
                        "latency {} ms, over twice the run's baseline of {} ms",
                        median.as_millis(),
                        baseline.as_millis()
                    ),
                );
            }
            return None;
        }
        if !clean || !bound {
            return None;
        }
        // What this tick actually sent, or the smoothed rate if that is higher.
        let sending = sent_rate.max(self.measured.unwrap_or(sent_rate));
        let (target, reason) = match self.phase {
            Phase::SlowStart => (2.0 * self.rate, "answers fast and clean (slow start)"),
            Phase::Cubic { w_max, since } => {
                let t = now.saturating_duration_since(since).as_secs_f64();
                let k = (w_max * (1.0 - BETA) / CUBIC_C).cbrt();
                (
                    CUBIC_C * (t - k).powi(3) + w_max,
                    "answers fast and clean (cubic growth)",
                )
            }
        };
        let to = target.min(2.0 * sending).min(self.bounds.max);
        if to <= self.rate {
            return None;
        }
        self.set(to, reason.to_string(), false)
    }

    fn set(&mut self, to: f64, reason: String, always: bool) -> Option<Change> {
        let to = to.clamp(self.bounds.min, self.bounds.max);
        let from = self.rate;
        let small = (to - from).abs() < MIN_CHANGE * from && to < self.bounds.max;
        if to == from || (small && !always) {
            return None;
        }
        self.rate = to;
        self.changes += 1;
        self.min_seen = self.min_seen.min(to);
        self.max_seen = self.max_seen.max(to);
        Some(Change { from, to, reason })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds() -> AdaptivePace {
        AdaptivePace {
            initial: 25.0,
            max: 400.0,
            min: 1.0,
        }
    }

    /// Drives a controller tick by tick, in made-up time: no test here sleeps.
    struct Drive {
        c: Controller,
        now: Instant,
    }

    impl Drive {
        fn new(bounds: AdaptivePace) -> Drive {
            let now = Instant::now();
            Drive {
                c: Controller::new(bounds, now),
                now,
            }
        }

        /// One tick in which `n` requests are sent (each waiting for the rate when `bound`) and
        /// answered cleanly after `latency`.
        fn tick(&mut self, n: u32, bound: bool, latency: Duration) -> Vec<Change> {
            let step = TICK / n.max(1);
            let mut changes = Vec::new();
            for _ in 0..n {
                let sent = self.now;
                changes.extend(self.c.on_sent(sent, bound));
                self.now += step;
                changes.extend(self.c.on_answer(self.now, sent, Signal::Clean(latency)));
            }
            changes
        }

        /// A tick that sends as much as the rate allows, the rate being what limits.
        fn busy_tick(&mut self, latency: Duration) -> Vec<Change> {
            let n = (self.c.rate() * TICK.as_secs_f64()).ceil() as u32;
            self.tick(n.max(MIN_SAMPLES as u32), true, latency)
        }

        fn pushback(&mut self, sent: Instant, why: Pushback) -> Option<Change> {
            self.now += Duration::from_millis(1);
            self.c.on_answer(self.now, sent, Signal::Pushback(why))
        }
    }

    const FAST: Duration = Duration::from_millis(5);

    #[test]
    fn the_rate_rises_while_answers_are_fast_and_clean() {
        let mut d = Drive::new(bounds());
        assert_eq!(d.c.rate(), 25.0);
        let mut rates = vec![d.c.rate()];
        for _ in 0..5 {
            d.busy_tick(FAST);
            rates.push(d.c.rate());
        }
        assert!(
            rates.windows(2).all(|w| w[1] >= w[0]),
            "never falls: {rates:?}"
        );
        assert!(
            d.c.rate() > 25.0 * 4.0,
            "it doubles in slow start: {rates:?}"
        );
        let report = d.c.report();
        assert_eq!(report.pushbacks, 0);
        assert_eq!(report.min, 25.0);
        assert_eq!(report.max, d.c.rate());
    }

    #[test]
    fn the_rate_never_exceeds_the_maximum() {
        let mut d = Drive::new(AdaptivePace {
            max: 60.0,
            ..bounds()
        });
        for _ in 0..50 {
            d.busy_tick(FAST);
            assert!(d.c.rate() <= 60.0);
        }
        assert_eq!(d.c.rate(), 60.0, "it reaches the maximum");
        assert_eq!(d.c.report().max, 60.0);
        // A cut and a long cubic regrowth stay under it too.
        let sent = d.now;
        d.c.on_sent(sent, true);
        d.pushback(sent, Pushback::Status(429));
        for _ in 0..200 {
            d.busy_tick(FAST);
            assert!(d.c.rate() <= 60.0);
        }
    }

    #[test]
    fn a_pushback_cuts_the_rate_at_once_and_once_per_window() {
        let mut d = Drive::new(bounds());
        for _ in 0..3 {
            d.busy_tick(FAST);
        }
        let before = d.c.rate();
        // Ten requests in flight, sent before any cut, all answered 429.
        let sent: Vec<Instant> = (0..10)
            .map(|i| {
                let at = d.now + Duration::from_micros(i);
                d.c.on_sent(at, true);
                at
            })
            .collect();
        let first = d.pushback(sent[0], Pushback::Status(429)).expect("a cut");
        assert_eq!(first.from, before);
        assert!(first.to < before, "{first:?}");
        assert!(first.reason.contains("429"), "{}", first.reason);
        for s in &sent[1..] {
            assert_eq!(
                d.pushback(*s, Pushback::Status(429)),
                None,
                "answers to requests sent before the cut do not cut again"
            );
        }
        assert_eq!(d.c.rate(), first.to);
        assert_eq!(d.c.report().pushbacks, 10);
        // A request sent just after the cut met the queue the old rate built: no second cut.
        let soon = d.now;
        d.c.on_sent(soon, true);
        assert_eq!(d.pushback(soon, Pushback::Status(429)), None);
        // One sent a tick after the cut that meets a timeout cuts again.
        let later = d.now + TICK;
        d.c.on_sent(later, true);
        let second = d.pushback(later, Pushback::Timeout).expect("a second cut");
        assert!(second.to < second.from);
        assert!(second.reason.contains("timed out"));
        let report = d.c.report();
        assert!(report.min <= second.to && report.max >= first.from);
        assert_eq!(report.pushbacks, 12);
    }

    #[test]
    fn the_rate_never_falls_below_the_minimum() {
        let mut d = Drive::new(bounds());
        for _ in 0..50 {
            d.now += TICK;
            let sent = d.now;
            d.c.on_sent(sent, true);
            d.pushback(sent, Pushback::Connection);
        }
        assert_eq!(d.c.rate(), 1.0);
    }

    #[test]
    fn after_a_cut_the_rate_grows_back_along_the_cubic_curve() {
        let mut d = Drive::new(bounds());
        for _ in 0..3 {
            d.busy_tick(FAST);
        }
        let w_max = d.c.rate();
        let sent = d.now;
        d.c.on_sent(sent, true);
        let cut = d.pushback(sent, Pushback::Status(503)).unwrap();
        let mut rates = vec![cut.to];
        for _ in 0..100 {
            d.busy_tick(FAST);
            rates.push(d.c.rate());
        }
        assert!(rates.windows(2).all(|w| w[1] >= w[0]), "{rates:?}");
        assert!(
            d.c.rate() > w_max,
            "it probes beyond the old rate: {rates:?}"
        );
        // Concave first: the first second regains more than the next one.
        let gain = |a: usize, b: usize| rates[b] - rates[a];
        assert!(gain(0, 10) > gain(10, 20), "{rates:?}");
    }

    #[test]
    fn a_sustained_rise_in_latency_cuts_the_rate_and_a_blip_does_not() {
        let mut d = Drive::new(bounds());
        for _ in 0..3 {
            d.busy_tick(FAST);
        }
        let before = d.c.rate();
        let slow = FAST * 2 + LATENCY_SLACK + Duration::from_millis(20);
        // One slow tick: held, not cut.
        assert!(d.busy_tick(slow).is_empty());
        assert_eq!(d.c.rate(), before);
        d.busy_tick(FAST);
        // A sustained rise: cut once it has lasted SLOW_TICKS ticks.
        let mut changes = Vec::new();
        for _ in 0..SLOW_TICKS + 1 {
            changes.extend(d.busy_tick(slow));
        }
        let cut = changes.first().expect("a cut");
        assert!(cut.to < cut.from, "{changes:?}");
        assert!(cut.reason.contains("latency"), "{}", cut.reason);
        assert_eq!(
            d.c.report().pushbacks,
            0,
            "latency is not a pushback answer"
        );
    }

    #[test]
    fn a_rate_that_holds_nothing_back_does_not_grow() {
        let mut d = Drive::new(bounds());
        for _ in 0..20 {
            assert!(d.tick(10, false, FAST).is_empty());
        }
        assert_eq!(d.c.rate(), 25.0);
    }

    #[test]
    fn neutral_answers_neither_raise_nor_cut() {
        let mut d = Drive::new(bounds());
        for _ in 0..5 {
            let sent = d.now;
            d.c.on_sent(sent, true);
            d.now += TICK;
            assert_eq!(d.c.on_answer(d.now, sent, Signal::Neutral), None);
        }
        assert_eq!(d.c.rate(), 25.0);
    }

    #[test]
    fn validation_names_the_bad_number() {
        assert!(Pace::Fixed(0.0).validate().is_err());
        assert!(Pace::Fixed(f64::NAN).validate().is_err());
        assert!(Pace::Fixed(3.0).validate().is_ok());
        let bad = Pace::Adaptive(AdaptivePace {
            min: 50.0,
            max: 10.0,
            initial: 25.0,
        });
        assert!(bad.validate().unwrap_err().contains("maximum"));
        assert!(Pace::Adaptive(bounds()).validate().is_ok());
    }
}
