//! The zoo: the pure controller against server models in simulated time.
//!
//! A run is a client with a backlog of work (each item needs one request answered 2xx), sending
//! as the pace allows (the adaptive controller and its retry budget, or a fixed rate), against
//! one [`Model`]: a capacity with 429 beyond it or a queue whose latency grows with it, a steady
//! share of faults, flaps, `Retry-After`, slow listings, or a mix. Nothing sleeps: time is a
//! number of microseconds, so a minute of a run takes milliseconds. The sweep compares, on each
//! model, the time the default pace takes to do the work with the best of a few fixed rates.
//!
//! A maintenance run does not ask at one pace: a kind's stops go out at once, then the run waits
//! on the deployment and polls a few a second. [`run_in_stages`] releases the work that way, and
//! watches the rate against what the deployment last served cleanly.

pub mod server;
pub mod sweep;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use super::budget::RetryBudget;
use super::control::{AdaptivePace, Controller, Pushback, RouteClass, Signal};
pub use server::{Capacity, Model};
use server::{Reply, Rng, Server};

/// How the simulated client paces its requests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pacing {
    /// The default: `--rate-limit auto`, `--max-rate 2000`, `--concurrency 64`.
    Default,
    /// `--rate-limit N --concurrency 64`.
    Fixed(f64),
}

/// A run's demand in stages: a burst of work (a kind's stops), then a trickle while the
/// deployment moves (its polls), `stages` times.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stages {
    pub stages: u32,
    pub burst: u32,
    /// Work released a second between bursts.
    pub trickle_per_s: u32,
    /// Seconds from one burst to the next.
    pub quiet_s: u32,
}

impl Stages {
    /// When each piece of work becomes ready: (microsecond, items).
    fn releases(&self) -> Vec<(u64, u32)> {
        let mut at = Vec::new();
        for stage in 0..u64::from(self.stages) {
            let start = stage * u64::from(self.quiet_s) * 1_000_000;
            at.push((start, self.burst));
            if self.trickle_per_s > 0 {
                let period = 1_000_000 / u64::from(self.trickle_per_s);
                for i in 1..u64::from(self.quiet_s * self.trickle_per_s) {
                    at.push((start + i * period, 1));
                }
            }
        }
        at
    }
}

/// What one run did.
#[derive(Clone, Debug, PartialEq)]
pub struct RunResult {
    /// Seconds until the last item was done (or the time limit).
    pub seconds: f64,
    pub finished: bool,
    pub attempts: u64,
    /// Answers after the first [`SETTLE`] that were 429s of the capacity (not of the weather),
    /// and all answers after it.
    pub settled_overload: u64,
    pub settled_answers: u64,
    /// The longest stretch, in seconds, during which the rate in force stayed below half of
    /// the best second of clean answers in the minute before (measured in [`run_in_stages`]).
    pub below_half_clean_s: f64,
}

impl RunResult {
    /// The share of 429s the capacity answered once settled.
    pub fn settled_429_share(&self) -> f64 {
        if self.settled_answers == 0 {
            0.0
        } else {
            self.settled_overload as f64 / self.settled_answers as f64
        }
    }
}

/// The part of a run that is not "settled".
pub const SETTLE: Duration = Duration::from_secs(20);
const MAX_RATE: f64 = 2000.0;
const CONCURRENCY: usize = 64;
/// An attempt unanswered for this long is a timeout.
const ATTEMPT_TIMEOUT_US: u64 = 30_000_000;
/// Backoff of the n-th retry: 100 ms doubling, at most 5 s, half of it jittered.
fn backoff_us(retry: u32, rng: &mut Rng) -> u64 {
    let full = (100_000u64 << retry.min(6).saturating_sub(1)).min(5_000_000);
    full / 2 + (rng.unit() * (full / 2) as f64) as u64
}

struct InFlight {
    item: u32,
    sent_us: u64,
    retries: u32,
    /// A retry after a 429: the rate's to pace, not the retry budget's.
    after_refusal: bool,
}

/// A run in progress: the client's pace and queues, the server, and its answers on their way.
struct Run {
    t0: Instant,
    server: Server,
    rng: Rng,
    control: Option<Controller>,
    budget: Option<RetryBudget>,
    /// Items ready to send (how many retries each has had, and whether the last was refused
    /// with a 429).
    ready: VecDeque<(u32, u32, bool)>,
    /// Retries waiting for their time: (when, item, retries, refused with a 429: the rate's
    /// to pace, not the retry budget's).
    waiting: BinaryHeap<Reverse<(u64, u32, u32, bool)>>,
    /// Answers on their way: (when, sequence) → the request.
    answers: BinaryHeap<Reverse<(u64, u64)>>,
    pending: HashMap<u64, (InFlight, server::Answer)>,
    seq: u64,
    in_flight: usize,
    last_sent: Option<u64>,
    done: u32,
    rate_waited: bool,
    slot_waited: bool,
    result: RunResult,
    /// The run's trace, when asked for: each change of the rate, and once a simulated second
    /// the rate, the in-flight limit and the work done.
    trace: Option<Vec<String>>,
    next_sample_us: u64,
    /// Work not yet released (the stages' schedule, latest first).
    unreleased: Vec<(u64, u32)>,
    next_item: u32,
    /// Clean answers in each whole second, and the watch on the rate against them.
    clean_per_s: Vec<u32>,
    next_watch_us: u64,
    below_half_us: u64,
}

/// Runs `work` items against `model` with `pacing`, for at most `limit`.
pub fn run(model: &Model, pacing: Pacing, work: u32, limit: Duration, seed: u64) -> RunResult {
    run_with(model, pacing, work, limit, seed, false, None).0
}

/// The default pace against `model` with the work released in `stages`, and its trace.
pub fn run_in_stages(
    model: &Model,
    stages: Stages,
    limit: Duration,
    seed: u64,
) -> (RunResult, Vec<String>) {
    let mut releases = stages.releases();
    let work = releases.iter().map(|(_, n)| n).sum();
    releases.reverse();
    let (result, trace) = run_with(
        model,
        Pacing::Default,
        work,
        limit,
        seed,
        true,
        Some(releases),
    );
    (result, trace.unwrap_or_default())
}

/// [`run`], with its trace: what a failing model's rate did over simulated time.
pub fn trace(
    model: &Model,
    pacing: Pacing,
    work: u32,
    limit: Duration,
    seed: u64,
) -> (RunResult, Vec<String>) {
    let (result, trace) = run_with(model, pacing, work, limit, seed, true, None);
    (result, trace.unwrap_or_default())
}

fn run_with(
    model: &Model,
    pacing: Pacing,
    work: u32,
    limit: Duration,
    seed: u64,
    traced: bool,
    // The work's release schedule, latest first; `None`: all of it ready at once.
    staged: Option<Vec<(u64, u32)>>,
) -> (RunResult, Option<Vec<String>>) {
    let t0 = Instant::now();
    let (control, budget) = match pacing {
        Pacing::Default => (
            Some(Controller::new(
                AdaptivePace {
                    initial: 25.0,
                    max: MAX_RATE,
                    min: 1.0,
                },
                CONCURRENCY,
                t0,
            )),
            Some(RetryBudget::new(t0)),
        ),
        Pacing::Fixed(_) => (None, None),
    };
    let mut run = Run {
        t0,
        server: Server::new(model, seed),
        rng: Rng::new(seed.wrapping_mul(31).wrapping_add(7)),
        control,
        budget,
        ready: VecDeque::new(),
        waiting: BinaryHeap::new(),
        answers: BinaryHeap::new(),
        pending: HashMap::new(),
        seq: 0,
        in_flight: 0,
        last_sent: None,
        done: 0,
        rate_waited: false,
        slot_waited: false,
        result: RunResult {
            seconds: 0.0,
            finished: false,
            attempts: 0,
            settled_overload: 0,
            settled_answers: 0,
            below_half_clean_s: 0.0,
        },
        trace: traced.then(Vec::new),
        next_sample_us: 0,
        unreleased: staged.unwrap_or_else(|| vec![(0, work)]),
        next_item: 0,
        clean_per_s: Vec::new(),
        next_watch_us: 0,
        below_half_us: 0,
    };
    run.release(0);
    let limit_us = limit.as_micros() as u64;
    let mut now = 0u64;
    while run.done < work && now <= limit_us {
        let next_send = run.next_send(pacing, now);
        let next_answer = run.answers.peek().map(|Reverse((t, _))| *t);
        let next_wait = run.waiting.peek().map(|Reverse((t, _, _, _))| *t);
        let next_release = run.unreleased.last().map(|(t, _)| *t);
        let Some(next) = [next_answer, next_wait, next_send, next_release]
            .into_iter()
            .flatten()
            .min()
        else {
            break;
        };
        now = next;
        run.sample(now);
        run.watch(now);
        if next_release == Some(now) {
            run.release(now);
        } else if next_answer == Some(now) {
            run.answered(now);
        } else if next_wait == Some(now) {
            run.retry_due(now);
        } else {
            run.send(now);
        }
    }
    run.result.finished = run.done >= work;
    run.result.seconds = now as f64 / 1e6;
    (run.result, run.trace)
}

impl Run {
    /// The work due by `now` becomes ready.
    fn release(&mut self, now: u64) {
        while let Some(&(at, n)) = self.unreleased.last()
            && at <= now
        {
            self.unreleased.pop();
            for item in self.next_item..self.next_item + n {
                self.ready.push_back((item, 0, false));
            }
            self.next_item += n;
        }
    }

    /// Every 100 ms: is the rate in force below half of the best second of clean answers in
    /// the minute before? The longest such stretch goes in the result.
    fn watch(&mut self, now: u64) {
        const STEP_US: u64 = 100_000;
        let Some(rate) = self.control.as_ref().map(Controller::rate) else {
            return;
        };
        while now >= self.next_watch_us {
            let at = self.next_watch_us;
            let whole = (at / 1_000_000) as usize;
            let best = self.clean_per_s[whole.saturating_sub(60).min(self.clean_per_s.len())
                ..whole.min(self.clean_per_s.len())]
                .iter()
                .max()
                .copied()
                .unwrap_or(0);
            if best > 0 && rate < f64::from(best) / 2.0 {
                self.below_half_us += STEP_US;
                self.result.below_half_clean_s = self
                    .result
                    .below_half_clean_s
                    .max(self.below_half_us as f64 / 1e6);
            } else {
                self.below_half_us = 0;
            }
            self.next_watch_us += STEP_US;
        }
    }

    /// Notes a change of the rate in the trace.
    fn note(&mut self, now: u64, change: Option<super::Change>) {
        if let (Some(trace), Some(c)) = (self.trace.as_mut(), change) {
            trace.push(format!(
                "{:8.3} s  {:7.1} → {:7.1}/s  {}",
                now as f64 / 1e6,
                c.from,
                c.to,
                c.reason
            ));
        }
    }

    /// Once a simulated second, the rate, the in-flight limit and the work done, in the trace.
    fn sample(&mut self, now: u64) {
        let Some(trace) = self.trace.as_mut() else {
            return;
        };
        while now >= self.next_sample_us {
            let (rate, slots) = self
                .control
                .as_ref()
                .map_or((0.0, 0), |c| (c.rate(), c.in_flight_limit()));
            trace.push(format!(
                "{:8.3} s  rate {rate:.1}/s, in flight {}/{slots}, done {}, retries waiting {}",
                self.next_sample_us as f64 / 1e6,
                self.in_flight,
                self.done,
                self.waiting.len()
            ));
            self.next_sample_us += 1_000_000;
        }
    }

    fn at(&self, us: u64) -> Instant {
        self.t0 + Duration::from_micros(us)
    }

    /// When the next item may be sent, if one is ready and a slot is free; notes whether the
    /// rate or the slots held it back.
    fn next_send(&mut self, pacing: Pacing, now: u64) -> Option<u64> {
        let (rate, slots) = match (&self.control, pacing) {
            (Some(c), _) => (c.rate(), c.in_flight_limit()),
            (None, Pacing::Fixed(r)) => (r, CONCURRENCY),
            (None, Pacing::Default) => unreachable!(),
        };
        let period_us = (1e6 / rate) as u64;
        if !self.ready.is_empty() && self.in_flight < slots {
            let due = self.last_sent.map_or(now, |l| (l + period_us).max(now));
            if due > now {
                self.rate_waited = true;
            }
            Some(due)
        } else {
            if !self.ready.is_empty() {
                self.slot_waited = true;
            }
            None
        }
    }

    /// An answer arrives: the pace hears it; the item is done, or waits for its retry.
    fn answered(&mut self, now: u64) {
        let Reverse((_, s)) = self.answers.pop().expect("peeked");
        let (req, answer) = self.pending.remove(&s).expect("sent");
        self.in_flight -= 1;
        let signal = signal_of(&answer);
        if now >= SETTLE.as_micros() as u64 {
            self.result.settled_answers += 1;
            if answer.reply == (Reply::Refused { overload: true }) {
                self.result.settled_overload += 1;
            }
        }
        let (at_now, at_sent) = (self.at(now), self.at(req.sent_us));
        if let Some(c) = self.control.as_mut() {
            let change = c.on_answer(at_now, at_sent, signal);
            let verdict = c.take_verdict();
            if let (Some(trace), Some(v)) = (self.trace.as_mut(), verdict) {
                trace.push(format!("{:8.3} s  verdict: {v:?}", now as f64 / 1e6));
            }
            self.note(now, change);
        }
        if matches!(signal, Signal::Clean(..)) {
            self.done += 1;
            let second = (now / 1_000_000) as usize;
            if self.clean_per_s.len() <= second {
                self.clean_per_s.resize(second + 1, 0);
            }
            self.clean_per_s[second] += 1;
            // As the client does: a retry the budget allowed, served, gives it back.
            if req.retries > 0
                && !req.after_refusal
                && let Some(b) = self.budget.as_mut()
            {
                b.on_retry_served();
            }
        } else {
            let wait =
                backoff_us(req.retries + 1, &mut self.rng).max(answer.retry_after_us.unwrap_or(0));
            let refused = matches!(signal, Signal::Pushback(Pushback::Status(429)));
            self.waiting
                .push(Reverse((now + wait, req.item, req.retries + 1, refused)));
        }
    }

    /// A retry's time has come: ready to send, if the retry budget allows it.
    fn retry_due(&mut self, now: u64) {
        let Reverse((_, item, retries, refused)) = self.waiting.pop().expect("peeked");
        // The retry budget, as the client asks it before a retry (not after a 429).
        let at_now = self.at(now);
        let verdict = match (self.budget.as_mut(), self.control.as_ref()) {
            (Some(b), Some(c)) if !refused => b.try_retry(at_now, c.faults_share() * c.rate()),
            _ => Ok(()),
        };
        match verdict {
            Ok(()) => self.ready.push_back((item, retries, refused)),
            Err(wait) => {
                let wait = wait.min(super::TICK).as_micros() as u64;
                self.waiting
                    .push(Reverse((now + wait.max(1), item, retries, refused)));
            }
        }
    }

    /// The next ready item is sent.
    fn send(&mut self, now: u64) {
        let (item, retries, after_refusal) = self.ready.pop_front().expect("ready");
        let at_now = self.at(now);
        if retries == 0
            && let (Some(b), Some(c)) = (self.budget.as_mut(), self.control.as_ref())
        {
            b.on_first_attempt(at_now, c.faults_share() * c.rate());
        }
        if let Some(c) = self.control.as_mut() {
            let change = c.on_sent(at_now, self.rate_waited, self.slot_waited);
            self.note(now, change);
        }
        self.rate_waited = false;
        self.slot_waited = false;
        self.last_sent = Some(now);
        self.result.attempts += 1;
        self.in_flight += 1;
        let mut answer = self.server.handle(now);
        answer.latency_us = answer.latency_us.min(ATTEMPT_TIMEOUT_US);
        self.seq += 1;
        self.answers
            .push(Reverse((now + answer.latency_us, self.seq)));
        let request = InFlight {
            item,
            sent_us: now,
            retries,
            after_refusal,
        };
        self.pending.insert(self.seq, (request, answer));
    }
}

/// What the pace hears of an answer.
fn signal_of(answer: &server::Answer) -> Signal {
    let class = if answer.listing {
        RouteClass::of("GET", "/v4/modelProducts")
    } else {
        RouteClass::of("GET", "/v4/modelProducts/{}")
    };
    match answer.reply {
        Reply::Ok if answer.latency_us >= ATTEMPT_TIMEOUT_US => Signal::Pushback(Pushback::Timeout),
        Reply::Ok => Signal::Clean(Duration::from_micros(answer.latency_us), class),
        Reply::Error => Signal::Neutral,
        Reply::Unavailable => Signal::Pushback(Pushback::Status(503)),
        Reply::Refused { .. } => Signal::Pushback(Pushback::Status(429)),
        Reply::Dropped => Signal::Pushback(Pushback::Connection),
    }
}
