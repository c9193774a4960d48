//! Whether the deployment's pushback is our load or its weather.
//!
//! A server whose pods roll answers a steady share of its requests with 5xx, 429 or a dropped
//! connection whatever the rate: cutting the rate for each of those answers only takes the
//! run down to nothing (each cut meets the same share again). Pushback that our rate causes
//! falls when the rate is cut; weather does not. So the controller cuts once, then compares
//! the share of pushback in the round of answers after the cut with the share before it:
//!
//! * it fell: the pushback was ours, and the rate settles where the cut put it;
//! * it stayed: the share is the server's weather. It is accepted, and only a share clearly
//!   above it (a rising share, as TCP's ECN and the AWS SDKs' adaptive mode treat any rise)
//!   cuts again. A share above [`MAX_WEATHER`] is never accepted as weather, nor a share of
//!   429s above [`MAX_WEATHER_REFUSED`].
//!
//! Beside that, the floor: what the deployment last served cleanly. A rate cut below half of
//! its best clean second of the last minute would throw away capacity the deployment has just
//! shown; only a rising share of 429s (the deployment's own word for "fewer") takes the rate
//! below it. Pure: time comes in as arguments.

use std::collections::VecDeque;

use tokio::time::Instant;

/// The answers whose shares are judged: those of the last second...
const SHARE_WINDOW: std::time::Duration = std::time::Duration::from_secs(1);
/// ...but never fewer than this many (when the rate is low), nor older than [`SHARE_MAX_AGE`].
const SHARE_MIN_ANSWERS: usize = 30;
const SHARE_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(10);
/// Answers to requests sent after a cut that make the round its verdict is judged on...
const JUDGE_ANSWERS: u32 = 30;
/// ...or fewer, at least [`JUDGE_MIN_ANSWERS`], once this long has passed (a low rate).
const JUDGE_MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(3);
const JUDGE_MIN_ANSWERS: u32 = 5;
/// A share is "clearly above" the weather beyond this many standard deviations of a binomial
/// count: every pushback asks the question again, over overlapping windows, so the bar is
/// high enough that chance alone seldom clears it.
const EXCESS_Z: f64 = 3.0;
/// The largest share of pushback accepted as weather: beyond it the deployment is mostly
/// refusing, and cutting is the only safe answer.
pub const MAX_WEATHER: f64 = 0.6;
/// The largest share of 429s accepted as weather. An ingress whose pods roll answers a small
/// share of the traffic with 429 (the upgrade night: 10%); a share above this is the
/// deployment's own limiter refusing our load, and a round that met it after a cut met the
/// window the overload filled, not a steady share (a limiter that counts a second's requests
/// refuses all of them until the second ends, whatever the new rate).
pub const MAX_WEATHER_REFUSED: f64 = 0.2;
/// The floor is this share of the best clean second of [`FLOOR_MEMORY`].
pub const FLOOR_SHARE: f64 = 0.5;
const FLOOR_MEMORY: u64 = 60;

/// What one answer was, for the shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Served: a success or a final 4xx.
    Served,
    /// A 500 or 502: neither served nor a pushback.
    Neutral,
    /// A pushback other than 429 (503, 504, a timeout, a dropped connection).
    Pushed,
    /// Answered 429.
    Refused,
}

/// Counts of answers by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tally {
    pub answers: u32,
    /// Pushbacks of any kind, 429 included.
    pub pushed: u32,
    pub refused: u32,
    /// 500s and 502s: never a cut, but retried like the rest.
    pub neutral: u32,
}

impl Tally {
    fn add(&mut self, outcome: Outcome, by: i64) {
        let step = |x: &mut u32| *x = (*x as i64 + by).max(0) as u32;
        step(&mut self.answers);
        if matches!(outcome, Outcome::Pushed | Outcome::Refused) {
            step(&mut self.pushed);
        }
        if outcome == Outcome::Refused {
            step(&mut self.refused);
        }
        if outcome == Outcome::Neutral {
            step(&mut self.neutral);
        }
    }

    pub fn pushed_share(&self) -> f64 {
        share(self.pushed, self.answers)
    }

    pub fn refused_share(&self) -> f64 {
        share(self.refused, self.answers)
    }
}

fn share(k: u32, n: u32) -> f64 {
    if n == 0 { 0.0 } else { k as f64 / n as f64 }
}

/// Whether `k` of `n` is clearly more than a share `w`, itself estimated from `n_w` answers,
/// gives: beyond [`EXCESS_Z`] standard deviations of the count (the estimate's own spread
/// included: a weather learnt from one round of 30 answers is known to a few points only).
/// With no weather (`w` = 0) any pushback is more.
fn above(k: u32, n: u32, w: f64, n_w: f64) -> bool {
    above_spread(k, n, w, n_w, w)
}

/// [`above`], with the spread of a share of `w_spread`.
fn above_spread(k: u32, n: u32, w: f64, n_w: f64, w_spread: f64) -> bool {
    let n = n as f64;
    let mut variance = n * w_spread * (1.0 - w_spread);
    if n_w > 0.0 {
        variance += n * n * w_spread * (1.0 - w_spread) / n_w;
    }
    k as f64 > n * w + EXCESS_Z * variance.sqrt()
}

/// A fall of the share of pushback across a cut is ours beyond this many standard deviations
/// of the difference of the two shares (and at least two points). At one, a steady share of
/// faults looked like a fall once in six rounds: "ours" left the weather unaccepted, the next
/// fault cut again, and at 10–40 answers a second each such round is seconds long (a capacity
/// of 300 a second with 40% faults was taken from 17.5 to 4.5 requests a second in 9 s by
/// falls of 0.47 → 0.27 and 0.23 → 0.11, each a round of 30 answers).
const FALL_Z: f64 = 2.0;
/// A fall of the share of 429s alone is ours beyond this many: the capacity's 429s are a
/// part of the pushback a steady share of faults hides (the faults' 503s and dropped
/// connections stay across the cut while the 429s fall), and a lower bar for them keeps
/// taking a capacity's 429s for weather rare.
const FALL_Z_REFUSED: f64 = 1.5;

/// Whether `k1` of `n1` before a cut and `k2` of `n2` after it is a fall beyond `z` standard
/// deviations of the difference of the two shares, and of at least two points.
fn fell_by(k1: u32, k2: u32, n1: f64, n2: f64, z: f64) -> bool {
    let (k1, k2) = (k1 as f64, k2 as f64);
    let pooled = (k1 + k2) / (n1 + n2);
    let spread = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    k1 / n1 - k2 / n2 > (z * spread).max(0.02)
}

/// Answers the weather's estimate needs before the rate grows beyond the one it was judged at.
const WEATHER_MIN_ANSWERS: f64 = 100.0;
/// How many standard deviations above the 429s accepted at a lower rate make a rising share.
const RISE_Z: f64 = 2.0;
/// A rate this share above the weather's is a higher rate.
const RATE_STEP: f64 = 0.05;
/// How far above the weather's share of 429s the recent share may be and the rate still grow.
const CREEP_Z: f64 = 1.0;

/// The most answers the weather's estimate stands on: older ones are forgotten in proportion,
/// so that it follows a server whose weather changes.
const WEATHER_MEMORY: f64 = 2000.0;

/// The shares the deployment answers with whatever the rate: pushback of any kind, and 429s.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Shares {
    pub pushed: f64,
    pub refused: f64,
}

/// What a round after a cut said.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// The share fell: the pushback was our load.
    Ours { before: f64, after: f64 },
    /// The share stayed: the deployment's weather, now accepted.
    Weather { before: f64, after: f64 },
    /// The share stayed, but too high to be accepted as weather.
    Overloaded { before: f64, after: f64 },
    /// The share of 429s stayed after the cut, but above the 429s accepted as weather at a
    /// lower rate: it rises with our rate, so it is our load, however steady it looked across
    /// one cut (a cut that left the rate still above a capacity leaves a smaller, steady share
    /// of its 429s).
    Rising { weather: f64, after: f64 },
}

#[derive(Clone, Debug)]
struct Judgement {
    since: Instant,
    /// Requests in flight after the cut: the round.
    round: u32,
    before: Tally,
    /// The round's answers whose request was sent early enough that its success, had it
    /// been one, would have come back by now (see [`Evidence::answer_time`]).
    after: Tally,
    /// The round's other answers (when each request was sent, and what it got), until then.
    early: Vec<(Instant, Outcome)>,
}

/// The evidence about pushback: the recent answers, the weather accepted so far, the round
/// after the last cut, and the clean seconds that set the floor.
#[derive(Debug)]
pub struct Evidence {
    recent: VecDeque<(Instant, Outcome)>,
    tally: Tally,
    weather: Shares,
    /// Answers the weather's estimate stands on; 0 while none is accepted.
    weather_answers: f64,
    /// The rate the last cut put in force: its round's verdict is about that rate.
    judged_rate: f64,
    /// The rate at which the weather in force was accepted (0 while none is).
    weather_rate: f64,
    /// The rate in force at the last tick.
    rate: f64,
    /// Answers since the rate went above the one the weather was accepted at: whether its
    /// 429s rise with it.
    beyond: Tally,
    /// Answers since the last tick, which refine an accepted weather.
    fresh: Tally,
    judging: Option<Judgement>,
    /// How long a success takes to come back (twice the smoothed latency of clean answers):
    /// a fault comes back at once while a success waits in the deployment's queue, so the
    /// first answers to a round's requests are its faults, and a round is judged only on the
    /// answers to requests sent at least this long ago.
    answer_time: std::time::Duration,
    start: Instant,
    /// Clean answers per whole second since `start`, the last [`FLOOR_MEMORY`] of them.
    clean_seconds: VecDeque<(u64, u32)>,
}

/// Which of the recent shares are clearly above the weather.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Excess {
    pub pushed: bool,
    pub refused: bool,
}

impl Excess {
    pub fn any(self) -> bool {
        self.pushed || self.refused
    }
}

impl Evidence {
    pub fn new(now: Instant) -> Evidence {
        Evidence {
            recent: VecDeque::new(),
            tally: Tally::default(),
            weather: Shares::default(),
            weather_answers: 0.0,
            judged_rate: 0.0,
            weather_rate: 0.0,
            rate: 0.0,
            beyond: Tally::default(),
            fresh: Tally::default(),
            judging: None,
            answer_time: std::time::Duration::ZERO,
            start: now,
            clean_seconds: VecDeque::new(),
        }
    }

    /// The weather accepted so far.
    #[cfg(test)]
    pub fn weather(&self) -> Shares {
        self.weather
    }

    /// The share of answers that fail whatever the rate, as far as is known: the pushback
    /// accepted as weather and the recent 500s and 502s.
    pub fn faults_share(&self) -> f64 {
        (self.weather.pushed + share(self.tally.neutral, self.tally.answers)).min(1.0)
    }

    /// How long a success takes to come back, as far as is known: a round is judged on the
    /// answers to requests sent at least this long ago.
    pub fn set_answer_time(&mut self, d: std::time::Duration) {
        self.answer_time = d;
    }

    /// A cut's round is still being judged: no other cut until its verdict.
    pub fn judging(&self) -> bool {
        self.judging.is_some()
    }

    /// The answer at `now` to a request sent at `sent`; the verdict on the last cut when this
    /// answer completes its round.
    pub fn record(&mut self, now: Instant, sent: Instant, outcome: Outcome) -> Option<Verdict> {
        self.recent.push_back((now, outcome));
        self.tally.add(outcome, 1);
        self.fresh.add(outcome, 1);
        if self.above_weather_rate() {
            self.beyond.add(outcome, 1);
        }
        self.forget(now);
        if outcome == Outcome::Served {
            let second = now.saturating_duration_since(self.start).as_secs();
            match self.clean_seconds.back_mut() {
                Some((s, count)) if *s == second => *count += 1,
                _ => self.clean_seconds.push_back((second, 1)),
            }
            while self
                .clean_seconds
                .front()
                .is_some_and(|&(s, _)| s + FLOOR_MEMORY < second)
            {
                self.clean_seconds.pop_front();
            }
        }
        let answer_time = self.answer_time;
        let judgement = self.judging.as_mut()?;
        if sent < judgement.since {
            // Sent before the cut: it says nothing about the new rate.
            return None;
        }
        judgement.early.push((sent, outcome));
        judgement.early.retain(|&(sent, outcome)| {
            let due = sent + answer_time <= now;
            if due {
                judgement.after.add(outcome, 1);
            }
            !due
        });
        let waited = now.saturating_duration_since(judgement.since);
        let n = judgement.after.answers;
        // Nearly every answer of a whole round pushed back: no need to wait for more.
        let refusing = n >= judgement.round && judgement.after.pushed_share() > 0.9;
        if n >= JUDGE_ANSWERS || (n >= JUDGE_MIN_ANSWERS && (waited >= JUDGE_MAX_WAIT || refusing))
        {
            return Some(self.conclude());
        }
        None
    }

    /// Drops what is older than the window (keeping the last [`SHARE_MIN_ANSWERS`] within
    /// [`SHARE_MAX_AGE`]).
    fn forget(&mut self, now: Instant) {
        while let Some(&(at, outcome)) = self.recent.front() {
            let age = now.saturating_duration_since(at);
            let old = age > SHARE_WINDOW && self.recent.len() > SHARE_MIN_ANSWERS;
            if old || age > SHARE_MAX_AGE {
                self.recent.pop_front();
                self.tally.add(outcome, -1);
            } else {
                break;
            }
        }
    }

    /// Which recent shares are clearly above the weather.
    pub fn excess(&mut self, now: Instant) -> Excess {
        self.forget(now);
        let t = self.tally;
        let n_w = self.weather_answers;
        // Above the rate the weather was accepted at, its share of 429s is judged on every
        // answer since the rate went there, without the benefit of its estimate's doubt: 429s
        // that rise with our rate are our load.
        let b = self.beyond;
        let refused = above(t.refused, t.answers, self.weather.refused, n_w)
            || self.refusals_rose(b, EXCESS_Z);
        // A share of none in `n_w` answers is known only to be under about one in `n_w`: a
        // round of faults at 10% shows none in 20 answers one time in eight, and then a single
        // fault looked like a rise. (Not for 429s: those of a capacity are a few in a
        // hundred once it is nearly found, and must still cut.)
        let w_spread = if n_w > 0.0 {
            self.weather.pushed.max(1.0 / n_w)
        } else {
            self.weather.pushed
        };
        Excess {
            pushed: above_spread(t.pushed, t.answers, self.weather.pushed, n_w, w_spread),
            refused,
        }
    }

    /// A cut at `now`: the round that follows is compared with the window before it, which
    /// the cut has answered (its pushback no longer holds the growth back once the round after
    /// it is judged).
    pub fn cut(&mut self, now: Instant, round: usize, rate: f64) {
        self.forget(now);
        self.judged_rate = rate;
        self.judging = Some(Judgement {
            since: now,
            round: round as u32,
            before: self.tally,
            after: Tally::default(),
            early: Vec::new(),
        });
        self.recent.clear();
        self.tally = Tally::default();
        self.beyond = Tally::default();
    }

    fn conclude(&mut self) -> Verdict {
        let j = self.judging.take().expect("a round being judged");
        let (before, after) = (j.before.pushed_share(), j.after.pushed_share());
        let (n1, n2) = (
            j.before.answers.max(1) as f64,
            j.after.answers.max(1) as f64,
        );
        let pooled = (j.before.pushed + j.after.pushed) as f64 / (n1 + n2);
        let spread = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
        // A round with no pushback at all is a fall, once it is a whole round: five answers
        // without a fault say little of a share of 10%.
        let none = j.after.pushed == 0 && j.after.answers >= JUDGE_ANSWERS;
        let fell = fell_by(j.before.pushed, j.after.pushed, n1, n2, FALL_Z)
            || fell_by(j.before.refused, j.after.refused, n1, n2, FALL_Z_REFUSED);
        if fell || none {
            // What is left after a cut that worked is at most the weather.
            self.weather.pushed = self.weather.pushed.min(after);
            self.weather.refused = self.weather.refused.min(j.after.refused_share());
            Verdict::Ours { before, after }
        } else if let Some(rising) = self.rising(&j.after) {
            rising
        } else if after <= MAX_WEATHER && j.after.refused_share() <= MAX_WEATHER_REFUSED {
            self.weather_rate = self.judged_rate;
            self.beyond = Tally::default();
            // The share did not change across the cut: both rounds are the weather's
            // estimate (a round after a cut at a low rate is a handful of answers). Unless it
            // rose (weather that has just arrived): then the round after the cut is.
            let mut both = j.after;
            if after - before <= spread.max(0.02) {
                both.answers += j.before.answers;
                both.pushed += j.before.pushed;
                both.refused += j.before.refused;
            }
            self.weather = Shares {
                pushed: both.pushed_share(),
                refused: both.refused_share(),
            };
            self.weather_answers = both.answers as f64;
            Verdict::Weather { before, after }
        } else {
            Verdict::Overloaded { before, after }
        }
    }

    /// A share of 429s above the one accepted as weather at a lower rate: a 429 that rises
    /// with our rate is the deployment asking for less, not its weather (a fault of the
    /// ingress answers the same share at any rate). Judged at [`RISE_Z`] standard deviations
    /// of the round's count, a lower bar than a cut's: wrongly taking weather for load costs a
    /// cut, and the next round judges again at the lower rate, where the same share is accepted.
    fn rising(&self, after: &Tally) -> Option<Verdict> {
        let w = self.weather.refused;
        let higher_rate =
            self.weather_rate > 0.0 && self.judged_rate > self.weather_rate * (1.0 + RATE_STEP);
        let n = after.answers as f64;
        let spread = (n * w.max(1.0 / n) * (1.0 - w)).sqrt();
        let clearly = after.refused as f64 > n * w + RISE_Z * spread;
        (higher_rate && clearly).then_some(Verdict::Rising {
            weather: w,
            after: after.refused_share(),
        })
    }

    /// The recent share of 429s beyond the weather's: the share of what was sent that the
    /// deployment refused for our load.
    pub fn refused_beyond_weather(&mut self, now: Instant) -> f64 {
        self.forget(now);
        if (self.tally.answers as usize) < SHARE_MIN_ANSWERS {
            // A handful of answers says nothing about a capacity.
            return 0.0;
        }
        (self.tally.refused_share() - self.weather.refused).clamp(0.0, 1.0)
    }

    /// The weather holds at `rate` too: a rate the deployment served cleanly within the last
    /// minute, to which a round judged weather lifts the rate.
    pub fn weather_holds_at(&mut self, rate: f64) {
        if self.weather_rate > 0.0 {
            self.weather_rate = self.weather_rate.max(rate);
            // And it goes on learning the weather there.
            self.judged_rate = self.judged_rate.max(rate);
        }
    }

    /// The rate in force is clearly above the one the weather was accepted at.
    fn above_weather_rate(&self) -> bool {
        self.weather_rate > 0.0 && self.rate > self.weather_rate * (1.0 + RATE_STEP)
    }

    /// Whether the recent share of 429s is above the weather's even by a little: the rate does
    /// not grow then (cutting waits for a clear excess, but growing into a share of 429s that
    /// creeps up would make the deployment's refusals the normal).
    pub fn refusals_creeping(&mut self) -> bool {
        self.refusals_rose(self.beyond, CREEP_Z)
    }

    /// Whether the share of 429s in `t`, answers at a higher rate than the weather's, is above
    /// the weather's by `z` standard deviations of the difference of the two shares (each
    /// known from its own count of answers).
    fn refusals_rose(&self, t: Tally, z: f64) -> bool {
        if (t.answers as usize) < SHARE_MIN_ANSWERS || t.refused == 0 {
            return false;
        }
        let (n, n_w) = (t.answers as f64, self.weather_answers.max(1.0));
        let (p, w) = (t.refused_share(), self.weather.refused);
        let pooled = (p * n + w * n_w) / (n + n_w);
        p - w > z * (pooled * (1.0 - pooled) * (1.0 / n + 1.0 / n_w)).sqrt()
    }

    /// The weather accepted is known well enough to grow beyond the rate it was judged at:
    /// a round of a few dozen answers knows a share to a few points only, and 429s that rise
    /// with the rate could not be told from it.
    pub fn weather_known(&self) -> bool {
        self.weather.refused == 0.0
            || self.weather_answers == 0.0
            || self.weather_answers >= WEATHER_MIN_ANSWERS
    }

    /// Once per tick: the weather follows a share that is clearly lower now (the flap is over,
    /// the pods have rolled), so that a rise afterwards is seen again.
    pub fn on_tick(&mut self, now: Instant, rate: f64) {
        self.rate = rate;
        if !self.above_weather_rate() {
            self.beyond = Tally::default();
        }
        let fresh = std::mem::take(&mut self.fresh);
        let excess = self.excess(now).any();
        if self.weather_answers > 0.0 && !excess && self.judging.is_none() && fresh.answers > 0 {
            // An accepted weather is refined by every tick that stays within it, while the rate
            // is the one it was judged at (or lower): a share that creeps up with a rate that
            // grows is our load coming back, and absorbing it tick by tick would never see it.
            if rate <= self.judged_rate * 1.05 {
                let n_w = self.weather_answers;
                let n = n_w + fresh.answers as f64;
                self.weather.pushed = (self.weather.pushed * n_w + fresh.pushed as f64) / n;
                self.weather.refused = (self.weather.refused * n_w + fresh.refused as f64) / n;
                self.weather_answers = n.min(WEATHER_MEMORY);
            }
        }
        let t = self.tally;
        if (t.answers as usize) < SHARE_MIN_ANSWERS {
            return;
        }
        let lower = |w: f64, k: u32| {
            let n = t.answers as f64;
            let spread = (w * (1.0 - w) / n).sqrt();
            let seen = k as f64 / n;
            if seen < w - 2.0 * spread {
                w + 0.2 * (seen - w)
            } else {
                w
            }
        };
        self.weather.pushed = lower(self.weather.pushed, t.pushed);
        self.weather.refused = lower(self.weather.refused, t.refused);
    }

    /// The rate below which weather does not take the rate: [`FLOOR_SHARE`] of the most
    /// answers served cleanly in one second over the last minute (whole seconds and the one
    /// under way).
    pub fn floor(&self, now: Instant) -> f64 {
        let second = now.saturating_duration_since(self.start).as_secs();
        let best = self
            .clean_seconds
            .iter()
            .filter(|&&(s, _)| s + FLOOR_MEMORY >= second)
            .map(|&(_, count)| count)
            .max()
            .unwrap_or(0);
        FLOOR_SHARE * best as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// `n` answers 10 ms apart, every `every`-th of them `what` and the rest served; returns
    /// the first verdict they brought.
    fn feed(
        e: &mut Evidence,
        now: &mut Instant,
        n: u32,
        every: u32,
        what: Outcome,
    ) -> Option<Verdict> {
        feed_apart(e, now, Duration::from_millis(10), n, every, what)
    }

    /// [`feed`] with the answers `apart`.
    fn feed_apart(
        e: &mut Evidence,
        now: &mut Instant,
        apart: Duration,
        n: u32,
        every: u32,
        what: Outcome,
    ) -> Option<Verdict> {
        let mut verdict = None;
        for i in 0..n {
            *now += apart;
            let outcome = if i % every == 0 {
                what
            } else {
                Outcome::Served
            };
            verdict = verdict.or(e.record(*now, *now, outcome));
        }
        verdict
    }

    #[test]
    fn a_steady_share_after_a_cut_is_accepted_as_weather() {
        let mut now = Instant::now();
        let mut e = Evidence::new(now);
        feed(&mut e, &mut now, 60, 3, Outcome::Pushed);
        assert!(e.excess(now).pushed);
        e.cut(now, 8, 100.0);
        assert!(e.judging());
        let verdict = feed(&mut e, &mut now, JUDGE_ANSWERS, 3, Outcome::Pushed);
        assert!(
            matches!(verdict, Some(Verdict::Weather { .. })),
            "{verdict:?}"
        );
        assert!(!e.excess(now).any(), "the same share is no longer excess");
        assert!((e.weather().pushed - 1.0 / 3.0).abs() < 0.05);
    }

    #[test]
    fn a_share_that_falls_after_a_cut_was_ours() {
        let mut now = Instant::now();
        let mut e = Evidence::new(now);
        feed(&mut e, &mut now, 60, 2, Outcome::Refused);
        e.cut(now, 8, 100.0);
        let verdict = feed(&mut e, &mut now, JUDGE_ANSWERS, 1, Outcome::Served);
        assert!(matches!(verdict, Some(Verdict::Ours { .. })), "{verdict:?}");
        assert_eq!(e.weather(), Shares::default());
    }

    #[test]
    fn a_share_too_high_is_never_weather() {
        let mut now = Instant::now();
        let mut e = Evidence::new(now);
        feed(&mut e, &mut now, 40, 1, Outcome::Pushed);
        e.cut(now, 8, 100.0);
        let verdict = feed(&mut e, &mut now, JUDGE_ANSWERS, 1, Outcome::Pushed);
        assert!(
            matches!(verdict, Some(Verdict::Overloaded { .. })),
            "{verdict:?}"
        );
        assert!(e.excess(now).pushed);
    }

    #[test]
    fn a_share_of_429s_above_the_weather_at_a_higher_rate_is_ours() {
        let mut now = Instant::now();
        let mut e = Evidence::new(now);
        // 5% of 429s, accepted as weather after a cut to 100 a second.
        feed(&mut e, &mut now, 60, 20, Outcome::Refused);
        e.cut(now, 8, 100.0);
        let verdict = feed(&mut e, &mut now, 200, 20, Outcome::Refused);
        assert!(
            matches!(verdict, Some(Verdict::Weather { .. })),
            "{verdict:?}"
        );
        e.on_tick(now, 100.0);
        // At 150 a second, a quarter of the answers are 429s: they rose with the rate.
        e.on_tick(now, 150.0);
        feed_apart(
            &mut e,
            &mut now,
            Duration::from_millis(5),
            60,
            4,
            Outcome::Refused,
        );
        assert!(e.refusals_creeping(), "the rate no longer grows");
        assert!(e.excess(now).refused, "and the next 429 cuts");
        // The round after that cut, at 140, still refuses a quarter: not weather.
        e.cut(now, 8, 140.0);
        let verdict = feed_apart(
            &mut e,
            &mut now,
            Duration::from_millis(5),
            JUDGE_ANSWERS * 2,
            4,
            Outcome::Refused,
        );
        assert!(
            matches!(verdict, Some(Verdict::Rising { .. })),
            "{verdict:?}"
        );
        assert!(e.weather().refused < 0.1, "{:?}", e.weather());
    }

    /// Before a cut, `pushed` of 30 answers pushed back, `refused` of them 429s; after it,
    /// `pushed_after` and `refused_after` of 30: the verdict.
    fn verdict_on(pushed: u32, refused: u32, pushed_after: u32, refused_after: u32) -> Verdict {
        let mut now = Instant::now();
        let mut e = Evidence::new(now);
        // The served answers first: a round that starts with a run of pushback is judged on
        // it as soon as it fills the requests in flight.
        let outcome = |i: u32, pushed: u32, refused: u32| {
            let i = 29 - i;
            if i < refused {
                Outcome::Refused
            } else if i < pushed {
                Outcome::Pushed
            } else {
                Outcome::Served
            }
        };
        for i in 0..30 {
            now += Duration::from_millis(10);
            e.record(now, now, outcome(i, pushed, refused));
        }
        e.cut(now, 8, 10.0);
        let mut verdict = None;
        for i in 0..30 {
            now += Duration::from_millis(10);
            verdict = verdict.or(e.record(now, now, outcome(i, pushed_after, refused_after)));
        }
        verdict.expect("a whole round")
    }

    /// 14 of 30 then 8 of 30 is what a steady share of 37% gives now and then: not a fall.
    #[test]
    fn a_fall_of_a_steady_share_within_chance_is_weather() {
        let verdict = verdict_on(14, 3, 8, 2);
        assert!(matches!(verdict, Verdict::Weather { .. }), "{verdict:?}");
    }

    /// A steady share of 503s hides the fall of a capacity's 429s across a cut: all pushback
    /// fell by a third only, the 429s from 8 to 1.
    #[test]
    fn a_fall_of_the_429s_hidden_in_steady_faults_is_ours() {
        let verdict = verdict_on(10, 8, 7, 1);
        assert!(matches!(verdict, Verdict::Ours { .. }), "{verdict:?}");
    }

    /// A queue answers faults at once and successes seconds later: the first answers to a
    /// round's requests are its faults, and judged on them a steady share looked overloaded.
    #[test]
    fn a_round_is_judged_on_requests_whose_success_had_time_to_come_back() {
        let mut now = Instant::now();
        let mut e = Evidence::new(now);
        // Successes take 5 s; the answer time is twice that.
        e.set_answer_time(Duration::from_secs(10));
        feed(&mut e, &mut now, 60, 3, Outcome::Pushed);
        e.cut(now, 8, 10.0);
        let cut = now;
        // A request every 100 ms, a third of them failing at once, the rest served 5 s later.
        let mut verdict = None;
        for i in 0..300u32 {
            let at = cut + Duration::from_millis(100) * i;
            if i >= 50 && (i - 50) % 3 != 0 {
                let sent = cut + Duration::from_millis(100) * (i - 50);
                verdict = verdict.or(e.record(at, sent, Outcome::Served));
            }
            if i % 3 == 0 {
                let answered = at + Duration::from_millis(5);
                verdict = verdict.or(e.record(answered, at, Outcome::Pushed));
            }
        }
        assert!(
            matches!(verdict, Some(Verdict::Weather { .. })),
            "the share stayed a third: {verdict:?}"
        );
    }

    #[test]
    fn answers_to_requests_sent_before_the_cut_are_not_its_round() {
        let mut now = Instant::now();
        let mut e = Evidence::new(now);
        feed(&mut e, &mut now, 10, 1, Outcome::Pushed);
        let early = now;
        now += Duration::from_millis(1);
        e.cut(now, 8, 100.0);
        for _ in 0..100 {
            now += Duration::from_millis(1);
            assert_eq!(e.record(now, early, Outcome::Served), None);
        }
        assert!(e.judging());
    }

    #[test]
    fn the_floor_is_half_the_best_clean_second_of_the_last_minute() {
        let mut now = Instant::now();
        let mut e = Evidence::new(now);
        // 80 clean answers in the first second, then 20 a second.
        feed(&mut e, &mut now, 80, 1000, Outcome::Neutral);
        assert_eq!(e.floor(now), 0.5 * 79.0);
        now += Duration::from_millis(500);
        for _ in 0..30 {
            for _ in 0..20 {
                now += Duration::from_millis(50);
                e.record(now, now, Outcome::Served);
            }
        }
        assert_eq!(e.floor(now), 0.5 * 79.0, "remembered for a minute");
        for _ in 0..40 {
            for _ in 0..20 {
                now += Duration::from_millis(50);
                e.record(now, now, Outcome::Served);
            }
        }
        assert!(e.floor(now) <= 0.5 * 21.0, "{}", e.floor(now));
    }

    #[test]
    fn the_weather_follows_a_share_that_falls_away() {
        let mut now = Instant::now();
        let mut e = Evidence::new(now);
        e.weather = Shares {
            pushed: 0.5,
            refused: 0.0,
        };
        for _ in 0..50 {
            feed(&mut e, &mut now, 10, 1000, Outcome::Served);
            e.on_tick(now, 0.0);
        }
        assert!(e.weather().pushed < 0.05, "{:?}", e.weather());
    }
}
