//! How fast the client starts requests: no limit, a fixed rate, or an adaptive one that looks for
//! the fastest rate the deployment takes without pushing back.
//!
//! The adaptive rate follows TCP congestion control and the AWS SDKs' "adaptive" retry mode:
//!
//! * **Slow start.** From the initial rate, the rate doubles every [`TICK`] in which it was what
//!   held requests back (some request had to wait for it) and every answer was clean.
//! * **Multiplicative decrease, once per round.** A 429, a 503 or 504, a timed-out attempt or a
//!   connection error cuts the rate to [`BETA`] times the rate in force (the first cut of slow
//!   start, for a 429 while the rate held requests back, to [`BETA`] times what the deployment
//!   served over the last second when that was less: a server that refuses only once a window
//!   of requests is full says so when slow start is far beyond its capacity). Then no other cut
//!   until the round of answers to requests sent after it has been judged (`weather.rs`): the
//!   share of pushback fell, and the cut was the answer; or it stayed, and it is the
//!   deployment's weather, accepted, so that only a share clearly above it cuts again. Nor does
//!   weather, latency or a 5xx cut below the floor, half of what the deployment served cleanly
//!   in its best second of the last minute; only a rising share of 429s does. A share of 429s
//!   is weather only at the rate it was judged at: 429s that rise with the rate stop its growth
//!   and cut, and a 429 cut returns the curve to what the deployment took, not to the rate that
//!   overshot (`weather.rs`). The curve's clock stops while a round is judged. The retries that
//!   weather costs are bounded by the retry budget (`budget.rs`), not by cutting the rate.
//! * **Latency, like with like.** Every answer belongs to a [`RouteClass`] (method and route
//!   template: the App listing, a project's Job listing, a single read, a stop, …), and each class
//!   keeps its own baseline, a slowly decaying average of its medians, so that a listing of
//!   hundreds of rows is compared with listings, not with single reads, and a server that is
//!   simply slower today becomes the new normal. A tick is slow when the median of its answers'
//!   latencies, each over [`TOLERANCE`] times its own class's baseline plus [`LATENCY_SLACK`],
//!   is above one; [`SLOW_TICKS`] slow ticks in a row cut, so a server that slows down before it
//!   refuses is respected. Only successful single attempts are latencies (a failed attempt, and
//!   the wait before a retry, are not).
//! * **Concurrency.** The same controller keeps the limit on requests in flight: it doubles in
//!   slow start and then grows by one per clean tick in which some request had to wait for a
//!   slot, and is cut by [`BETA`] with the rate (never below 1, never above `--concurrency`).
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

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

use super::weather::{Evidence, Outcome, Verdict};

/// How often the adaptive rate is reconsidered.
pub const TICK: Duration = Duration::from_millis(100);
/// The share of the sending rate kept after a pushback (CUBIC's and the AWS SDKs' 0.7).
pub const BETA: f64 = 0.7;
/// CUBIC's scaling constant, with rates in requests per second and time in seconds (as the AWS
/// SDKs use it).
const CUBIC_C: f64 = 0.4;
/// Ticks in a row with a high median latency that count as a sustained rise.
pub const SLOW_TICKS: u32 = 3;
/// An answer is slow when it takes more than this many times its class's baseline (plus
/// [`LATENCY_SLACK`]).
pub const TOLERANCE: f64 = 2.0;
/// How far a class's baseline moves towards a tick's median of that class: quickly down, slowly
/// up, so that a slowdown is noticed before it becomes the baseline and a server that stays
/// slower becomes the baseline within a few seconds of ticks.
const BASELINE_DOWN: f64 = 0.3;
const BASELINE_UP: f64 = 0.05;
/// Where the in-flight limit starts, below `--concurrency`.
pub const INITIAL_IN_FLIGHT: usize = 8;
/// Answers a tick needs before its median latency is judged; fewer are carried to the next tick.
const MIN_SAMPLES: usize = 5;
/// Added to twice the baseline latency before a tick counts as slow, so that a very fast
/// baseline (a millisecond on loopback) does not make noise look like a slowdown.
pub const LATENCY_SLACK: Duration = Duration::from_millis(10);
/// How far back the answers a deployment served count towards the rate a pushback cuts from:
/// the window of the common rate limiters (requests per second).
const DELIVERY_WINDOW: Duration = Duration::from_secs(1);
/// Answers served in that window below which what was served says nothing about a capacity.
const MIN_DELIVERED: usize = 10;
/// How far the smoothed latency of all clean answers moves towards each new one.
const LATENCY_WEIGHT: f64 = 0.05;
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

/// The kind of request an answer belongs to, for comparing latencies like with like: a hash of
/// the method and the route template (path segments that carry an id become `{}`, query values
/// are dropped). A listing of a project's Jobs is one class whatever the project.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RouteClass(u64);

impl RouteClass {
    pub fn of(method: &str, path: &str) -> RouteClass {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        method.hash(&mut h);
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        for segment in path.split('/') {
            // Route words are letters only (`modelProducts`, `scheduledjobs`); ids carry digits.
            if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_alphabetic()) {
                segment.hash(&mut h);
            } else {
                "{}".hash(&mut h);
            }
        }
        for pair in query.split('&') {
            pair.split('=').next().unwrap_or("").hash(&mut h);
        }
        RouteClass(h.finish())
    }

    /// A class for tests.
    #[cfg(test)]
    pub const fn custom(id: u64) -> RouteClass {
        RouteClass(id)
    }
}

/// What one answer says about the pace.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Signal {
    /// A successful single attempt of this class, after this long.
    Clean(Duration, RouteClass),
    /// An answer that is not a pushback nor a success (401, 404, another 4xx): the deployment
    /// answers, but its latency is not compared.
    Answered,
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
    /// The limit on requests in flight: where it settled (averaged as the rate is), its lowest
    /// and highest.
    pub in_flight_settled: f64,
    pub in_flight_min: usize,
    pub in_flight_max: usize,
}

/// Why the rate is cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cause {
    /// A share of pushback above the weather; `refused` when the share of 429s rose, `timeout`
    /// when the answer that cut never came (a queue's sign, like latency).
    Pushback { refused: bool, timeout: bool },
    /// Answers slower than their kind's baseline.
    Latency,
}

fn log_verdict(verdict: Verdict) {
    let pct = |x: f64| x * 100.0;
    match verdict {
        Verdict::Ours { before, after } => tracing::debug!(
            "pace: pushback {:.0}% → {:.0}% after the cut: it was our load",
            pct(before),
            pct(after)
        ),
        Verdict::Weather { before, after } => tracing::debug!(
            "pace: pushback {:.0}% → {:.0}% after the cut: the deployment's weather, not our load; holding the rate",
            pct(before),
            pct(after)
        ),
        Verdict::Rising { weather, after } => tracing::debug!(
            "pace: 429s {:.0}% after the cut, above the {:.0}% accepted at a lower rate: they rise with our rate",
            pct(after),
            pct(weather)
        ),
        Verdict::Overloaded { before, after } => tracing::debug!(
            "pace: pushback {:.0}% → {:.0}% after the cut: still refusing most requests",
            pct(before),
            pct(after)
        ),
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    SlowStart,
    /// Since the last cut at `since`, from the rate `w_max` that was in force then (or served),
    /// back to which the curve returns after `k` seconds.
    Cubic {
        w_max: f64,
        since: Instant,
        k: f64,
    },
}

/// The adaptive control law: fed with each request sent and each answer, it says when and why
/// the rate changes, and what the limit on requests in flight is. Pure: time comes in as
/// arguments.
#[derive(Debug)]
pub struct Controller {
    bounds: AdaptivePace,
    rate: f64,
    /// The limit on requests in flight, and its ceiling (`--concurrency`).
    in_flight: usize,
    max_in_flight: usize,
    phase: Phase,
    last_cut: Option<Instant>,
    tick_start: Instant,
    tick_sent: u64,
    /// Some request of this tick had to wait for the rate: the rate is what limits.
    tick_bound: bool,
    /// The ends of the ticks of the last [`DELIVERY_WINDOW`] in which the rate held requests
    /// back.
    bound_ticks: VecDeque<Instant>,
    /// Some request of this tick had to wait for a slot: the in-flight limit is what limits.
    tick_slot_bound: bool,
    /// Clean answers this tick.
    tick_clean: u64,
    /// The shares of pushback, the weather accepted, the round after a cut, the floor.
    evidence: Evidence,
    latencies: Vec<(RouteClass, Duration)>,
    /// Each class's baseline latency, in seconds.
    baselines: HashMap<RouteClass, f64>,
    /// The latency of clean answers of any class, in seconds, smoothed over the last few
    /// dozen; `None` before the first.
    latency: Option<f64>,
    /// The last verdict on a cut's round, until taken (the zoo's trace).
    verdict: Option<Verdict>,
    /// Requests sent per second, smoothed over a few ticks; `None` before the first tick.
    measured: Option<f64>,
    /// When each answer of the last [`DELIVERY_WINDOW`] that was not a pushback came: what the
    /// deployment actually served.
    delivered: VecDeque<Instant>,
    /// When the first request was sent, so that the first second's deliveries are not spread
    /// over time in which nothing was asked.
    first_sent: Option<Instant>,
    slow_ticks: u32,
    /// The one cut that keeps slow start has been made.
    blind_cut_spent: bool,
    // For the report.
    min_seen: f64,
    max_seen: f64,
    pushbacks: u64,
    changes: u64,
    settled_sum: f64,
    in_flight_sum: f64,
    settled_count: u64,
    in_flight_min: usize,
    in_flight_max: usize,
}

impl Controller {
    pub fn new(bounds: AdaptivePace, max_in_flight: usize, now: Instant) -> Controller {
        let rate = bounds.initial.clamp(bounds.min, bounds.max);
        let max_in_flight = max_in_flight.max(1);
        let in_flight = INITIAL_IN_FLIGHT.min(max_in_flight);
        Controller {
            bounds,
            rate,
            in_flight,
            max_in_flight,
            phase: Phase::SlowStart,
            last_cut: None,
            tick_start: now,
            tick_sent: 0,
            tick_bound: false,
            bound_ticks: VecDeque::new(),
            tick_slot_bound: false,
            tick_clean: 0,
            evidence: Evidence::new(now),
            latencies: Vec::new(),
            baselines: HashMap::new(),
            latency: None,
            verdict: None,
            measured: None,
            delivered: VecDeque::new(),
            first_sent: None,
            slow_ticks: 0,
            blind_cut_spent: false,
            min_seen: rate,
            max_seen: rate,
            pushbacks: 0,
            changes: 0,
            settled_sum: 0.0,
            in_flight_sum: 0.0,
            settled_count: 0,
            in_flight_min: in_flight,
            in_flight_max: in_flight,
        }
    }

    /// The rate in force, in requests per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The limit on requests in flight now.
    pub fn in_flight_limit(&self) -> usize {
        self.in_flight
    }

    /// A request was sent at `now`; `waited` when it had to wait for the rate, `waited_slot`
    /// when it had to wait for a slot in flight.
    pub fn on_sent(&mut self, now: Instant, waited: bool, waited_slot: bool) -> Option<Change> {
        let change = self.tick(now);
        self.first_sent.get_or_insert(now);
        self.tick_sent += 1;
        self.tick_bound |= waited;
        self.tick_slot_bound |= waited_slot;
        if self.last_cut.is_some() {
            self.settled_sum += self.rate;
            self.in_flight_sum += self.in_flight as f64;
            self.settled_count += 1;
        }
        change
    }

    /// The answer at `now` to a request sent at `sent`.
    pub fn on_answer(&mut self, now: Instant, sent: Instant, signal: Signal) -> Option<Change> {
        let outcome = match signal {
            Signal::Pushback(Pushback::Status(429)) => Outcome::Refused,
            Signal::Pushback(_) => Outcome::Pushed,
            Signal::Clean(..) | Signal::Answered => Outcome::Served,
            Signal::Neutral => Outcome::Neutral,
        };
        let mut lifted = None;
        if let Some(verdict) = self.evidence.record(now, sent, outcome) {
            log_verdict(verdict);
            self.verdict = Some(verdict);
            lifted = self.lift_to_floor(now, verdict);
        }
        match (lifted, self.heard(now, sent, signal)) {
            (Some(lift), Some(change)) => Some(Change {
                from: lift.from,
                ..change
            }),
            (lift, change) => change.or(lift),
        }
    }

    /// What the answer itself does to the rate, once its round's verdict is in.
    fn heard(&mut self, now: Instant, sent: Instant, signal: Signal) -> Option<Change> {
        match signal {
            Signal::Pushback(why) => {
                self.pushbacks += 1;
                // One cut per round: an answer to a request sent before the last cut says
                // nothing about the new rate, and until the round after the cut has been
                // judged, nobody knows yet whether the cut was the answer.
                if self.last_cut.is_some_and(|cut| sent < cut) || self.evidence.judging() {
                    return self.tick(now);
                }
                let excess = self.evidence.excess(now);
                if !excess.any() {
                    // The share the deployment answers with whatever the rate: its weather.
                    return self.tick(now);
                }
                self.cut(
                    now,
                    why.to_string(),
                    Cause::Pushback {
                        refused: excess.refused,
                        timeout: why == Pushback::Timeout,
                    },
                )
            }
            Signal::Clean(latency, class) => {
                self.served(now);
                let l = latency.as_secs_f64();
                let smoothed = self.latency.map_or(l, |m| m + LATENCY_WEIGHT * (l - m));
                self.latency = Some(smoothed);
                self.evidence
                    .set_answer_time(Duration::from_secs_f64(2.0 * smoothed));
                self.latencies.push((class, latency));
                self.tick_clean += 1;
                self.tick(now)
            }
            Signal::Answered => {
                self.served(now);
                self.tick_clean += 1;
                self.tick(now)
            }
            // A 500 or 502 says nothing about load: it is retried (within the budget), and
            // neither cuts nor holds the growth back.
            Signal::Neutral => {
                self.served(now);
                self.tick(now)
            }
        }
    }

    /// A round that showed the deployment's weather says the cuts before it were not the
    /// answer: a rate they left below the floor (half of the best clean second of the last
    /// minute) goes back to it. A steady share of faults read as a rising one in the run's
    /// first seconds, before the weather was known, took a rate of 35 a second to 7.6, and the
    /// wait to learn the weather held it there for 10 s.
    fn lift_to_floor(&mut self, now: Instant, verdict: Verdict) -> Option<Change> {
        if !matches!(verdict, Verdict::Weather { .. }) {
            return None;
        }
        let floor = self.floor(now).min(self.bounds.max);
        if self.rate >= floor * (1.0 - MIN_CHANGE) {
            return None;
        }
        // The share judged weather at the cut's rate holds up to the floor, a rate served
        // cleanly: its 429s there are not a rise with our rate.
        self.evidence.weather_holds_at(floor);
        self.set(
            floor,
            "the pushback stayed after the cut: the deployment's weather; back to half of what it served cleanly".to_string(),
            true,
        )
    }

    /// The last verdict on a cut's round, if any came since the last call.
    pub fn take_verdict(&mut self) -> Option<Verdict> {
        self.verdict.take()
    }

    /// The share of answers that fail whatever the rate, as far as is known (for the retry
    /// budget): the weather accepted and the recent 500s and 502s.
    pub fn faults_share(&self) -> f64 {
        self.evidence.faults_share()
    }

    /// The rate below which the server's weather does not take the rate: half of what the
    /// deployment served cleanly in its best second of the last minute.
    pub fn floor(&self, now: Instant) -> f64 {
        self.evidence
            .floor(now)
            .clamp(self.bounds.min, self.bounds.max)
    }

    pub fn report(&self) -> PaceReport {
        let settled = |sum: f64, now: f64| {
            if self.settled_count > 0 {
                sum / self.settled_count as f64
            } else {
                now
            }
        };
        PaceReport {
            mode: "auto",
            initial: self.bounds.initial.clamp(self.bounds.min, self.bounds.max),
            settled: settled(self.settled_sum, self.rate),
            min: self.min_seen,
            max: self.max_seen,
            ceiling: self.bounds.max,
            pushbacks: self.pushbacks,
            changes: self.changes,
            in_flight_settled: settled(self.in_flight_sum, self.in_flight as f64),
            in_flight_min: self.in_flight_min,
            in_flight_max: self.in_flight_max,
        }
    }

    /// An answer that was not a pushback came at `now`.
    fn served(&mut self, now: Instant) {
        self.delivered.push_back(now);
        self.forget_deliveries(now);
    }

    fn forget_deliveries(&mut self, now: Instant) {
        forget_before_window(&mut self.delivered, now);
    }

    /// The last [`DELIVERY_WINDOW`], or the time since the first request when that is more
    /// recent (at least a tick): what the figures over "the last second" are taken over.
    fn window_span(&self, now: Instant) -> Duration {
        self.first_sent
            .map_or(DELIVERY_WINDOW, |first| {
                now.saturating_duration_since(first)
            })
            .clamp(TICK, DELIVERY_WINDOW)
    }

    /// Answers per second the deployment served over the last [`DELIVERY_WINDOW`] (or since the
    /// first request, when that is more recent).
    fn delivery_rate(&mut self, now: Instant) -> f64 {
        self.forget_deliveries(now);
        self.delivered.len() as f64 / self.window_span(now).as_secs_f64()
    }

    /// Cuts the rate and the in-flight limit to [`BETA`] times where they stood, not below the
    /// floor unless a share of 429s rose.
    fn cut(&mut self, now: Instant, reason: String, cause: Cause) -> Option<Change> {
        let refused = matches!(cause, Cause::Pushback { refused: true, .. });
        let (from, w_max) = self.cut_origin(now, refused);
        let served = self.delivery_rate(now);
        let mut to = (BETA * from).max(self.bounds.min);
        if refused {
            // Never below BETA times what it served over the last second (that is already
            // under what it takes).
            let floor = (BETA * served).min(self.bounds.max);
            if to < floor {
                if floor >= self.rate * (1.0 - MIN_CHANGE) {
                    return None;
                }
                to = floor;
            }
        } else {
            // Weather, latency, 5xx: never below what the deployment has just shown it serves.
            let floor = self.floor(now);
            if to < floor {
                if floor >= self.rate * (1.0 - MIN_CHANGE) {
                    // Already at the floor: hold.
                    self.slow_ticks = 0;
                    return None;
                }
                to = floor;
            }
        }
        self.restart_growth(now, to, w_max);
        // The in-flight limit is cut with the rate, but a refusal or a fault is not a queue:
        // never below what the new rate needs at the latency the deployment answers with
        // (Little's law), or the limit, not the rate, would set the pace, far below it. At
        // 3 s an answer, three cuts left 3 requests in flight at 12 a second: one answer a
        // second. Latency and timeouts are a queue's signs, and the limit is what shortens it.
        let needed = match cause {
            Cause::Pushback { timeout: false, .. } => {
                self.latency.map_or(0, |l| (to * l).ceil() as usize)
            }
            Cause::Pushback { timeout: true, .. } | Cause::Latency => 0,
        };
        self.set_in_flight((((self.in_flight as f64) * BETA).floor() as usize).max(needed));
        if matches!(cause, Cause::Pushback { .. }) {
            self.evidence.cut(now, self.in_flight, to);
        }
        self.set(to, reason, true)
    }

    /// Where a cut starts from, and where the growth after it returns towards (`w_max`).
    fn cut_origin(&mut self, now: Instant, refused: bool) -> (f64, f64) {
        let pushing = self.rate_held_back(now);
        let (from, w_max) = match self.phase {
            // Slow start doubles the rate every tick, and a server that refuses beyond its
            // capacity only once a window of requests per second is full says no when the rate
            // is far beyond that: what it served meanwhile is about what it takes. One cut from
            // that, rather than several from the rate slow start reached, each a tick of
            // refusals; and the growth returns towards it. Only for refusals while the rate was
            // what held requests back through most of the last second: what was served while
            // the run asked for little is the run's demand, not the deployment's capacity (a
            // burst of polls, bound for a tick, after seconds of waiting on transitions served
            // 15 a second, and a 429 of the weather took the rate from 978 to 10.5).
            Phase::SlowStart if refused && pushing && self.delivered.len() >= MIN_DELIVERED => {
                let served = self.rate.min(self.delivery_rate(now));
                (served, served)
            }
            // Cuts that follow within a second belong to the same overload: the growth still
            // returns towards where the overload began.
            Phase::Cubic { w_max, since, .. }
                if now.saturating_duration_since(since) < DELIVERY_WINDOW =>
            {
                (self.rate, w_max)
            }
            Phase::SlowStart | Phase::Cubic { .. } => (self.rate, self.rate),
        };
        // A share of 429s beyond the weather says how much of what was sent the deployment
        // refused: what it took is about its capacity, and that is where the curve returns
        // (not the rate that overshot it, which the curve would otherwise regain within a
        // second, refusals and all).
        // But it took at least what it served over the last second: the share refused is of
        // the answers since the last cut, and a limiter that counts a calendar second's
        // requests (refused ones too) serves the start of each second and refuses all of its
        // end, whatever the new rate, so that share can be all of them, and the rounds after
        // the cut as many refusals in a row, while the deployment served its capacity. Taken
        // at face value, cut after cut within the second, they took the rate to the minimum
        // and held it there for seconds.
        let served = self.delivery_rate(now);
        if refused {
            let share_took = from * (1.0 - self.evidence.refused_beyond_weather(now));
            let took = share_took.max(served);
            (took.min(from), w_max.min(took))
        } else {
            (from, w_max)
        }
    }

    /// The rate held requests back in at least half of the ticks of the last
    /// [`DELIVERY_WINDOW`] (or since the first request, when that is more recent), this one
    /// included: the run asked for more than the rate let through.
    fn rate_held_back(&mut self, now: Instant) -> bool {
        forget_before_window(&mut self.bound_ticks, now);
        let ticks = (self.window_span(now).as_secs_f64() / TICK.as_secs_f64())
            .round()
            .max(1.0);
        let bound = self.bound_ticks.len() + usize::from(self.tick_bound);
        2.0 * bound as f64 >= ticks
    }

    /// After a cut: the growth starts again from `to` towards `w_max`.
    fn restart_growth(&mut self, now: Instant, to: f64, w_max: f64) {
        // A pushback before the deployment has served a handful of answers says nothing of
        // its capacity (a limiter's window still full of another client's requests, one
        // unlucky fault): the first such cut keeps slow start, rather than leaving the rate to
        // creep up the cubic curve from a few requests a second through a run's first stage.
        let blind = matches!(self.phase, Phase::SlowStart)
            && self.delivered.len() < MIN_DELIVERED
            && !self.blind_cut_spent;
        if blind {
            self.blind_cut_spent = true;
        } else {
            // CUBIC's K: when the curve, starting at `to`, is back at `w_max`.
            let k = ((w_max - to).max(0.0) / CUBIC_C).cbrt();
            self.phase = Phase::Cubic {
                w_max,
                since: now,
                k,
            };
        }
        self.last_cut = Some(now);
        self.slow_ticks = 0;
    }

    fn set_in_flight(&mut self, to: usize) {
        self.in_flight = to.clamp(1, self.max_in_flight);
        self.in_flight_min = self.in_flight_min.min(self.in_flight);
        self.in_flight_max = self.in_flight_max.max(self.in_flight);
    }

    /// Judges the tick's latencies, each against its own class's baseline, and moves the
    /// baselines: `Some((score, latency))` when the tick was slow, with its median score and
    /// the median latency of its slowest class, for the log.
    fn judge_latency(&mut self) -> Option<Option<(f64, Duration, Duration)>> {
        if self.latencies.len() < MIN_SAMPLES {
            return None;
        }
        let slack = LATENCY_SLACK.as_secs_f64();
        let mut scores: Vec<f64> = self
            .latencies
            .iter()
            .filter_map(|(class, latency)| {
                let base = self.baselines.get(class)?;
                Some(latency.as_secs_f64() / (TOLERANCE * base + slack))
            })
            .collect();
        let slow = if scores.len() >= MIN_SAMPLES {
            scores.sort_unstable_by(f64::total_cmp);
            let score = scores[scores.len() / 2];
            (score > 1.0).then_some(score)
        } else {
            None
        };
        // Each class's median this tick moves its baseline.
        self.latencies.sort_unstable_by_key(|&(c, l)| (c.0, l));
        let mut worst: Option<(f64, Duration, Duration)> = None;
        for group in self.latencies.chunk_by(|a, b| a.0 == b.0) {
            let (class, median) = group[group.len() / 2];
            let median_s = median.as_secs_f64();
            let base = self.baselines.entry(class).or_insert(median_s);
            let ratio = median_s / *base;
            if worst.is_none_or(|w| ratio > w.0) {
                worst = Some((ratio, median, Duration::from_secs_f64(*base)));
            }
            let weight = if median_s < *base {
                BASELINE_DOWN
            } else {
                BASELINE_UP
            };
            *base += weight * (median_s - *base);
        }
        self.latencies.clear();
        Some(slow.and(worst))
    }

    /// Closes the tick when it is over: judges its latency, then raises the rate and the
    /// in-flight limit if the tick was clean and they were what held requests back.
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
        match self.judge_latency() {
            Some(Some(worst)) => {
                self.slow_ticks += 1;
                slow = Some(worst);
            }
            Some(None) => self.slow_ticks = 0,
            None => {}
        }
        self.evidence.on_tick(now, self.rate);
        if (self.evidence.judging() || !self.evidence.weather_known())
            && let Phase::Cubic { since, .. } = &mut self.phase
        {
            // The curve waits for the verdict: growth resumes where it stopped, not where
            // the seconds spent judging would have carried it (at a low rate a round takes
            // seconds, and the curve would jump far past the rate the cut came from).
            *since += elapsed;
        }
        // Clean enough to grow: answers served, no cut's round still being judged, and no
        // share of pushback above the weather.
        let settled = self.tick_clean > 0
            && !self.evidence.judging()
            && !self.evidence.excess(now).any()
            && !self.evidence.refusals_creeping();
        let clean = settled && self.evidence.weather_known();
        let bound = self.tick_bound;
        if bound {
            // Kept to the window as they come, as the deliveries are: between cuts nothing
            // else would forget them.
            self.bound_ticks.push_back(now);
            forget_before_window(&mut self.bound_ticks, now);
        }
        let slot_bound = self.tick_slot_bound;
        self.tick_start = now;
        self.tick_sent = 0;
        self.tick_bound = false;
        self.tick_slot_bound = false;
        self.tick_clean = 0;

        if let Some((_, median, baseline)) = slow {
            if self.slow_ticks >= SLOW_TICKS {
                return self.cut(
                    now,
                    format!(
                        "latency {} ms, over {TOLERANCE} times its kind of request's baseline of {} ms",
                        median.as_millis(),
                        baseline.as_millis()
                    ),
                    Cause::Latency,
                );
            }
            return None;
        }
        // The in-flight limit grows while the weather's share of 429s is still being learnt:
        // the wait for its answers is about 429s rising with the rate, and more requests in
        // flight at the same rate are not more requests a second; they let a slow server's
        // answers overlap. (At 3 s an answer, the wait held 6 requests in flight, 2 answers a
        // second, for 34 s.)
        if settled && slot_bound {
            let grown = match self.phase {
                Phase::SlowStart => self.in_flight * 2,
                Phase::Cubic { .. } => self.in_flight + 1,
            };
            self.set_in_flight(grown);
        }
        if !clean {
            return None;
        }
        if !bound {
            return None;
        }
        // What this tick actually sent, or the smoothed rate if that is higher.
        let sending = sent_rate.max(self.measured.unwrap_or(sent_rate));
        let (target, reason) = match self.phase {
            Phase::SlowStart => (2.0 * self.rate, "answers fast and clean (slow start)"),
            Phase::Cubic { w_max, since, k } => {
                let t = now.saturating_duration_since(since).as_secs_f64();
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

/// Forgets the instants of `at` (oldest first) that are a whole [`DELIVERY_WINDOW`] old by `now`.
fn forget_before_window(at: &mut VecDeque<Instant>, now: Instant) {
    while at.front().is_some_and(|&t| t + DELIVERY_WINDOW <= now) {
        at.pop_front();
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
        sent: u64,
    }

    impl Drive {
        fn new(bounds: AdaptivePace) -> Drive {
            let now = Instant::now();
            Drive {
                c: Controller::new(bounds, 64, now),
                now,
                sent: 0,
            }
        }

        /// One tick in which `n` requests are sent (each waiting for the rate when `bound`) and
        /// answered cleanly after `latency`.
        fn tick(&mut self, n: u32, bound: bool, latency: Duration) -> Vec<Change> {
            self.mixed_tick(n, bound, &[(READ, latency)])
        }

        /// One tick whose `n` requests take turns through `kinds` (a class and its latency),
        /// each waiting for the rate and for a slot when `bound`.
        fn mixed_tick(
            &mut self,
            n: u32,
            bound: bool,
            kinds: &[(RouteClass, Duration)],
        ) -> Vec<Change> {
            let step = TICK / n.max(1);
            let mut changes = Vec::new();
            for i in 0..n as usize {
                let sent = self.now;
                changes.extend(self.c.on_sent(sent, bound, bound));
                self.now += step;
                let (class, latency) = kinds[i % kinds.len()];
                changes.extend(
                    self.c
                        .on_answer(self.now, sent, Signal::Clean(latency, class)),
                );
            }
            changes
        }

        fn busy_mixed_tick(&mut self, kinds: &[(RouteClass, Duration)]) -> Vec<Change> {
            let n = (self.c.rate() * TICK.as_secs_f64()).ceil() as u32;
            self.mixed_tick(n.max(MIN_SAMPLES as u32 * 2), true, kinds)
        }

        /// A tick that sends as much as the rate allows, the rate being what limits.
        fn busy_tick(&mut self, latency: Duration) -> Vec<Change> {
            let n = (self.c.rate() * TICK.as_secs_f64()).ceil() as u32;
            self.tick(n.max(MIN_SAMPLES as u32), true, latency)
        }

        /// One tick at the rate in force (each request waiting for it), the `i`th request's
        /// answer, 5 ms later, being `answer(i)`.
        fn answered_tick(&mut self, answer: &mut impl FnMut(u64) -> Signal) -> Vec<Change> {
            let n = ((self.c.rate() * TICK.as_secs_f64()).round() as u32).max(1);
            let step = TICK / n;
            let mut changes = Vec::new();
            for _ in 0..n {
                let sent = self.now;
                changes.extend(self.c.on_sent(sent, true, false));
                let signal = answer(self.sent);
                self.sent += 1;
                changes.extend(self.c.on_answer(sent + FAST, sent, signal));
                self.now += step;
            }
            changes
        }

        fn pushback(&mut self, sent: Instant, why: Pushback) -> Option<Change> {
            self.now += Duration::from_millis(1);
            self.c.on_answer(self.now, sent, Signal::Pushback(why))
        }

        /// One request sent now (waiting for the rate, and for a slot when `slot_bound`), its
        /// answer a pushback 1 ms later.
        fn send_pushed_back(&mut self, slot_bound: bool, why: Pushback) -> Option<Change> {
            let sent = self.now;
            self.c.on_sent(sent, true, slot_bound);
            self.pushback(sent, why)
        }
    }

    const FAST: Duration = Duration::from_millis(5);
    const READ: RouteClass = RouteClass::custom(1);
    const LISTING: RouteClass = RouteClass::custom(2);

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
        d.send_pushed_back(false, Pushback::Status(429));
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
                d.c.on_sent(at, true, false);
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
        d.c.on_sent(soon, true, false);
        assert_eq!(d.pushback(soon, Pushback::Status(429)), None);
        // Once the round after the cut has been judged (still refused: not weather), the
        // next pushback cuts again: after a round of requests in flight, not before.
        let mut answered = 0;
        let second = loop {
            answered += 1;
            assert!(answered <= 31, "judged within a round of 30 answers");
            d.now += Duration::from_millis(5);
            let s = d.now;
            d.c.on_sent(s, true, false);
            if let Some(cut) = d.pushback(s, Pushback::Status(429)) {
                break cut;
            }
        };
        assert!(answered > 5, "{answered}");
        assert!(second.to < second.from);
        let report = d.c.report();
        assert!(report.min <= second.to && report.max >= first.from);
        assert_eq!(report.pushbacks, 11 + answered);
    }

    #[test]
    fn the_rate_never_falls_below_the_minimum() {
        let mut d = Drive::new(bounds());
        for _ in 0..50 {
            d.now += TICK;
            d.send_pushed_back(false, Pushback::Connection);
        }
        assert_eq!(d.c.rate(), 1.0);
    }

    #[test]
    fn after_a_cut_the_rate_grows_back_along_the_cubic_curve() {
        let mut d = Drive::new(AdaptivePace {
            max: 10_000.0,
            ..bounds()
        });
        for _ in 0..4 {
            d.busy_tick(FAST);
        }
        // A second at that rate, so that what the deployment served is the rate in force.
        let w_max = d.c.rate();
        for _ in 0..10 {
            d.tick((w_max * TICK.as_secs_f64()) as u32, false, FAST);
        }
        assert_eq!(d.c.rate(), w_max);
        let cut = d.send_pushed_back(false, Pushback::Status(503)).unwrap();
        assert!((cut.to - BETA * w_max).abs() < 1.0, "{cut:?}");
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
    fn a_pushback_far_above_what_was_served_cuts_from_what_was_served() {
        // Slow start carried the rate to 400 in a few ticks; a server with a capacity of 100 a
        // second served about that many before it said no.
        let mut d = Drive::new(bounds());
        for _ in 0..4 {
            d.busy_tick(FAST);
        }
        // The rate held every request back (the run asked for more), and the deployment served
        // 10 a tick.
        for _ in 0..6 {
            d.tick(10, true, FAST);
        }
        let before = d.c.rate();
        assert!(before >= 400.0, "{before}");
        let cut = d.send_pushed_back(false, Pushback::Status(429)).unwrap();
        assert_eq!(cut.from, before, "the log says the rate in force");
        let served = d.c.delivery_rate(d.now);
        assert!((90.0..=110.0).contains(&served), "{served}");
        assert!(
            (cut.to - BETA * served).abs() < 1.0,
            "one cut to 0.7 times what was served, not to {}: {cut:?}",
            BETA * before
        );
        // And the cubic growth returns towards what was served, not towards 400.
        let mut rates = Vec::new();
        for _ in 0..20 {
            d.busy_tick(FAST);
            rates.push(d.c.rate());
        }
        assert!(rates.iter().all(|&r| r < 1.2 * served), "{rates:?}");
    }

    #[test]
    fn a_pushback_while_the_run_asked_for_little_cuts_from_the_rate_in_force() {
        // Slow start carried the rate to 400; then the run waited on transitions and asked for
        // 10 requests a tick, none held back by the rate, until a burst of polls was (one
        // tick) and met a 429. What was served is the run's demand, not what the deployment
        // takes.
        let mut d = Drive::new(bounds());
        for _ in 0..4 {
            d.busy_tick(FAST);
        }
        for _ in 0..12 {
            d.tick(10, false, FAST);
        }
        let before = d.c.rate();
        assert!(before >= 400.0, "{before}");
        let served = d.c.delivery_rate(d.now);
        assert!((90.0..=110.0).contains(&served), "{served}");
        let cut = d.send_pushed_back(false, Pushback::Status(429)).unwrap();
        assert_eq!(cut.from, before);
        assert!(
            cut.to >= BETA * BETA * before,
            "cut from the rate in force ({before}), not to {} from what was served: {cut:?}",
            BETA * served
        );
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
    fn slow_listings_beside_fast_reads_do_not_cut_the_rate() {
        let mut d = Drive::new(bounds());
        // Reads take 5 ms, listings of hundreds of rows 47 ms: each is as fast as it always is,
        // and whichever makes up most of a tick, nothing is slow.
        let both = [(READ, FAST), (LISTING, Duration::from_millis(47))];
        let listings_mostly = [
            (LISTING, Duration::from_millis(47)),
            (LISTING, Duration::from_millis(47)),
            (LISTING, Duration::from_millis(47)),
            (READ, FAST),
        ];
        let mut changes = Vec::new();
        for i in 0..60 {
            changes.extend(if i % 3 == 0 {
                d.busy_mixed_tick(&listings_mostly)
            } else {
                d.busy_mixed_tick(&both)
            });
        }
        assert!(changes.iter().all(|c| c.to > c.from), "no cut: {changes:?}");
        assert_eq!(d.c.rate(), 400.0, "it reaches the maximum");
    }

    #[test]
    fn a_class_slower_than_its_own_baseline_cuts_the_rate() {
        let mut d = Drive::new(bounds());
        let normal = [(READ, FAST), (LISTING, Duration::from_millis(47))];
        for _ in 0..10 {
            d.busy_mixed_tick(&normal);
        }
        let before = d.c.rate();
        // Everything now takes four times as long as it did.
        let slower = [
            (READ, FAST * 4 + LATENCY_SLACK),
            (LISTING, Duration::from_millis(47 * 4)),
        ];
        let mut changes = Vec::new();
        for _ in 0..SLOW_TICKS + 1 {
            changes.extend(d.busy_mixed_tick(&slower));
        }
        let cut = changes.iter().find(|c| c.to < c.from).expect("a cut");
        assert_eq!(cut.from, before);
        assert!(cut.reason.contains("latency"), "{}", cut.reason);
    }

    #[test]
    fn a_server_that_stays_slower_becomes_the_baseline() {
        let mut d = Drive::new(bounds());
        for _ in 0..10 {
            d.busy_tick(FAST);
        }
        let slower = FAST * 3 + LATENCY_SLACK * 2;
        for _ in 0..200 {
            d.busy_tick(slower);
        }
        // After a few cuts while it was new, it grows again on the slower server.
        let settled = d.c.rate();
        let changes: Vec<Change> = (0..30).flat_map(|_| d.busy_tick(slower)).collect();
        assert!(changes.iter().all(|c| c.to > c.from), "{changes:?}");
        assert!(d.c.rate() >= settled);
    }

    #[test]
    fn the_in_flight_limit_grows_while_clean_and_falls_on_pushback() {
        let mut d = Drive::new(bounds());
        let start = d.c.in_flight_limit();
        assert_eq!(start, INITIAL_IN_FLIGHT);
        // Slots were what held requests back, and answers were fast: it grows, up to the max.
        for _ in 0..10 {
            d.busy_tick(FAST);
        }
        assert_eq!(d.c.in_flight_limit(), 64);
        d.send_pushed_back(true, Pushback::Status(503));
        let cut = d.c.in_flight_limit();
        assert!(cut < 64, "{cut}");
        // Then it grows back by one per clean tick that was short of slots (the tick of the
        // pushback closes first, and does not count).
        for _ in 0..5 {
            d.busy_tick(FAST);
        }
        let grown = d.c.in_flight_limit();
        assert!(grown > cut + 1 && grown <= cut + 5, "{cut} → {grown}");
        // A tick in which nobody waited for a slot leaves it.
        d.tick(10, false, FAST);
        d.tick(10, false, FAST);
        assert_eq!(
            d.c.in_flight_limit(),
            grown + 1,
            "only the tick already under way counts"
        );
        let report = d.c.report();
        assert_eq!(
            (report.in_flight_min, report.in_flight_max),
            (INITIAL_IN_FLIGHT, 64)
        );
    }

    /// Answers that take a second: a 503 cuts the rate, but the in-flight limit keeps what the
    /// new rate needs at that latency; a timeout, a queue's sign, cuts the limit too.
    #[test]
    fn a_fault_never_cuts_the_in_flight_limit_below_what_the_rate_needs() {
        let slow = Duration::from_secs(1);
        let mut d = Drive::new(bounds());
        for _ in 0..3 {
            d.busy_tick(slow);
        }
        let before = d.c.in_flight_limit();
        let cut = d
            .send_pushed_back(true, Pushback::Status(503))
            .expect("a cut");
        let needed = (cut.to * slow.as_secs_f64()).ceil().min(64.0) as usize;
        assert!(
            needed > (before as f64 * BETA) as usize,
            "the rate needs more than a cut limit: {before}, {needed}"
        );
        assert!(
            d.c.in_flight_limit() >= needed,
            "{before} → {} at {} a second",
            d.c.in_flight_limit(),
            cut.to
        );
        let mut d = Drive::new(bounds());
        for _ in 0..3 {
            d.busy_tick(slow);
        }
        let before = d.c.in_flight_limit();
        d.send_pushed_back(true, Pushback::Timeout).expect("a cut");
        assert!(d.c.in_flight_limit() < before, "{before}");
    }

    #[test]
    fn the_in_flight_limit_never_falls_below_one() {
        let mut d = Drive::new(bounds());
        for _ in 0..30 {
            d.now += TICK;
            d.send_pushed_back(true, Pushback::Timeout);
        }
        assert_eq!(d.c.in_flight_limit(), 1);
    }

    #[test]
    fn route_classes_ignore_ids_and_query_values() {
        let jobs = |p: &str| {
            RouteClass::of(
                "GET",
                &format!("/v4/jobs?projectId={p}&page_size=50&page_no=1"),
            )
        };
        assert_eq!(jobs("5f3a9c"), jobs("60aa01"));
        assert_eq!(
            RouteClass::of("POST", "/v4/modelProducts/a1/stop"),
            RouteClass::of("POST", "/v4/modelProducts/6123abc0/stop")
        );
        assert_ne!(
            RouteClass::of("POST", "/v4/modelProducts/a1/stop"),
            RouteClass::of("POST", "/v4/modelProducts/a1/start")
        );
        assert_ne!(
            RouteClass::of("GET", "/v4/projects"),
            RouteClass::of("POST", "/v4/projects")
        );
        assert_ne!(jobs("p1"), RouteClass::of("GET", "/v4/modelProducts"));
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
            d.c.on_sent(sent, true, false);
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

    /// A steady share of faults that does not depend on the rate: of every 20 answers, 2 are
    /// 503, 2 are 429, 1 a dropped connection and 2 are 500 (35%).
    fn weather(i: u64) -> Signal {
        match i % 20 {
            3 | 11 => Signal::Pushback(Pushback::Status(503)),
            7 | 15 => Signal::Pushback(Pushback::Status(429)),
            18 => Signal::Pushback(Pushback::Connection),
            1 | 9 => Signal::Neutral,
            _ => Signal::Clean(FAST, READ),
        }
    }

    #[test]
    fn a_steady_error_share_does_not_lower_the_rate_after_its_first_cut() {
        let mut d = Drive::new(AdaptivePace {
            max: 2000.0,
            ..bounds()
        });
        let mut changes = Vec::new();
        // A minute of a deployment that answers 35% of requests with faults from the start.
        for _ in 0..600 {
            changes.extend(d.answered_tick(&mut weather));
        }
        let cuts: Vec<&Change> = changes.iter().filter(|c| c.to < c.from).collect();
        assert_eq!(
            cuts.len(),
            1,
            "one cut, then the weather is accepted: {cuts:?}"
        );
        assert!(
            d.c.rate() >= cuts[0].to,
            "{} after the cut to {}",
            d.c.rate(),
            cuts[0].to
        );
        assert!(
            d.c.rate() > 200.0,
            "it grows again through the weather: {}",
            d.c.rate()
        );
    }

    #[test]
    fn a_steady_error_share_arriving_later_holds_the_rate_at_the_floor_at_least() {
        let mut d = Drive::new(AdaptivePace {
            max: 300.0,
            ..bounds()
        });
        for _ in 0..50 {
            d.answered_tick(&mut |_| Signal::Clean(FAST, READ));
        }
        assert_eq!(d.c.rate(), 300.0);
        let mut lowest = f64::MAX;
        for _ in 0..300 {
            d.answered_tick(&mut weather);
            lowest = lowest.min(d.c.rate());
        }
        // What it served cleanly at its best second: 300; half of that is the floor.
        assert!(lowest >= 0.5 * 300.0, "{lowest}");
        assert!(lowest >= BETA * 300.0 - 1.0, "one cut at most: {lowest}");
    }

    #[test]
    fn a_pushback_share_that_falls_after_a_cut_was_ours_and_the_rate_settles_there() {
        let mut d = Drive::new(AdaptivePace {
            max: 2000.0,
            ..bounds()
        });
        // A server that takes 150 requests a second (15 a tick) and answers 429 beyond.
        let capacity_per_tick = 15;
        let mut tick_start = 0;
        let mut refused_late = 0u64;
        let mut sent_late = 0u64;
        let mut rates = Vec::new();
        for t in 0..900 {
            let before = d.sent;
            tick_start = before.max(tick_start);
            let changes = d.answered_tick(&mut |i| {
                if i - before < capacity_per_tick {
                    Signal::Clean(FAST, READ)
                } else {
                    Signal::Pushback(Pushback::Status(429))
                }
            });
            let n = d.sent - before;
            if t >= 300 {
                sent_late += n;
                refused_late += n.saturating_sub(capacity_per_tick);
                rates.push(d.c.rate());
            }
            let _ = changes;
        }
        let share = refused_late as f64 / sent_late as f64;
        assert!(
            share < 0.05,
            "{:.1}% answered 429 once settled",
            share * 100.0
        );
        let mean = rates.iter().sum::<f64>() / rates.len() as f64;
        assert!(
            (100.0..=170.0).contains(&mean),
            "settled around 150: {mean}"
        );
        assert_eq!(
            d.c.evidence.weather().refused,
            0.0,
            "the 429s were ours, not weather"
        );
    }

    /// The simulator's `--max-rps`: at most `capacity` requests in each calendar second,
    /// refused ones counting, 429 beyond. A rate above it is served in full at the start of each
    /// second and refused in full at its end, so the share of 429s in the few answers since a
    /// cut can be all of them while the deployment served its capacity over the last second.
    #[test]
    fn a_429_cut_never_goes_below_what_the_deployment_served_over_the_last_second() {
        let mut d = Drive::new(AdaptivePace {
            max: 2000.0,
            ..bounds()
        });
        let capacity = 100u64;
        let (mut second, mut count) = (0u64, 0u64);
        let mut lowest_after_first_cut = f64::MAX;
        let mut cut = false;
        for t in 0..600u64 {
            let changes = d.answered_tick(&mut |_| {
                if t / 10 != second {
                    (second, count) = (t / 10, 0);
                }
                count += 1;
                if count > capacity {
                    Signal::Pushback(Pushback::Status(429))
                } else {
                    Signal::Clean(FAST, READ)
                }
            });
            cut |= changes.iter().any(|c| c.to < c.from);
            if cut {
                lowest_after_first_cut = lowest_after_first_cut.min(d.c.rate());
            }
        }
        assert!(cut);
        // Each 429 cut is at most to 0.7 times what was served over the last second, about the
        // capacity: never to a rate the deployment has just shown it serves many times over.
        assert!(
            lowest_after_first_cut >= 0.5 * BETA * capacity as f64,
            "{lowest_after_first_cut}"
        );
    }

    #[test]
    fn a_pushback_before_anything_was_served_keeps_slow_start() {
        let mut d = Drive::new(AdaptivePace {
            max: 2000.0,
            ..bounds()
        });
        // The very first answer is a 429: another client's requests filled the window.
        let cut = d
            .send_pushed_back(false, Pushback::Status(429))
            .expect("a cut");
        assert_eq!(cut.to, BETA * 25.0);
        for _ in 0..40 {
            d.busy_tick(FAST);
        }
        // Doubling again once its round was judged, not creeping up the cubic curve towards 25.
        assert!(d.c.rate() > 200.0, "{}", d.c.rate());
        // Only once: a second pushback before anything was served ends slow start as usual.
        d.send_pushed_back(false, Pushback::Status(429));
        assert!(matches!(d.c.phase, Phase::Cubic { .. }));
    }

    #[test]
    fn one_cut_per_round_of_requests_in_flight() {
        let mut d = Drive::new(bounds());
        for _ in 0..3 {
            d.busy_tick(FAST);
        }
        // Twenty requests in flight, sent before any cut, all answered 503 over two ticks.
        let sent: Vec<Instant> = (0..20)
            .map(|i| {
                let at = d.now + Duration::from_micros(i);
                d.c.on_sent(at, true, false);
                at
            })
            .collect();
        let mut cuts = 0;
        for s in &sent {
            d.now += TICK / 10;
            cuts +=
                d.c.on_answer(d.now, *s, Signal::Pushback(Pushback::Status(503)))
                    .is_some_and(|c| c.to < c.from) as u32;
        }
        assert_eq!(cuts, 1);
        // Requests sent after the cut, answered 503 too, while their round is judged.
        for _ in 0..20 {
            d.now += TICK / 10;
            let s = d.now;
            d.c.on_sent(s, true, false);
            d.now += FAST;
            let change =
                d.c.on_answer(d.now, s, Signal::Pushback(Pushback::Status(503)));
            assert!(change.as_ref().is_none_or(|c| c.to > c.from), "{change:?}");
        }
    }
}
