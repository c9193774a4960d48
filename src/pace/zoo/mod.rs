//! The zoo: the pure controller against server models in simulated time.
//!
//! A run is a client with a backlog of work (each item needs one request answered 2xx), sending
//! as the pace allows (the adaptive controller and its retry budget, or a fixed rate), against
//! one [`Model`]: a capacity with 429 beyond it or a queue whose latency grows with it, a steady
//! share of faults, flaps, `Retry-After`, slow listings, or a mix. Nothing sleeps: time is a
//! number of microseconds, so a minute of a run takes milliseconds. The sweep compares, on each
//! model, the time the default pace takes to do the work with the best of a few fixed rates.

pub mod server;
pub mod sweep;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
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
}

/// Runs `work` items against `model` with `pacing`, for at most `limit`.
pub fn run(model: &Model, pacing: Pacing, work: u32, limit: Duration, seed: u64) -> RunResult {
    let t0 = Instant::now();
    let at = |us: u64| t0 + Duration::from_micros(us);
    let mut server = Server::new(model, seed);
    let mut rng = Rng::new(seed.wrapping_mul(31).wrapping_add(7));
    let (mut control, mut budget) = match pacing {
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
    let limit_us = limit.as_micros() as u64;
    // Items ready to send (and how many retries each has had), retries waiting for their time.
    let mut ready: VecDeque<(u32, u32)> = (0..work).map(|i| (i, 0)).collect();
    // (when, item, retries, refused with a 429: the rate's to pace, not the budget's).
    let mut waiting: BinaryHeap<Reverse<(u64, u32, u32, bool)>> = BinaryHeap::new();
    // Answers on their way: (when, sequence) → the request.
    let mut answers: BinaryHeap<Reverse<(u64, u64)>> = BinaryHeap::new();
    let mut pending: std::collections::HashMap<u64, (InFlight, server::Answer)> =
        std::collections::HashMap::new();
    let mut seq = 0u64;
    let mut in_flight = 0usize;
    let mut last_sent: Option<u64> = None;
    let mut done = 0u32;
    let mut now = 0u64;
    let mut rate_waited = false;
    let mut slot_waited = false;
    let mut result = RunResult {
        seconds: 0.0,
        finished: false,
        attempts: 0,
        settled_overload: 0,
        settled_answers: 0,
    };
    let settle_us = SETTLE.as_micros() as u64;
    while done < work && now <= limit_us {
        let (rate, slots) = match (&control, pacing) {
            (Some(c), _) => (c.rate(), c.in_flight_limit()),
            (None, Pacing::Fixed(r)) => (r, CONCURRENCY),
            (None, Pacing::Default) => unreachable!(),
        };
        let period_us = (1e6 / rate) as u64;
        let next_send = if !ready.is_empty() && in_flight < slots {
            let due = last_sent.map_or(now, |l| (l + period_us).max(now));
            if due > now {
                rate_waited = true;
            }
            Some(due)
        } else {
            if !ready.is_empty() {
                slot_waited = true;
            }
            None
        };
        let next_answer = answers.peek().map(|Reverse((t, _))| *t);
        let next_wait = waiting.peek().map(|Reverse((t, _, _, _))| *t);
        let Some(next) = [next_answer, next_wait, next_send]
            .into_iter()
            .flatten()
            .min()
        else {
            break;
        };
        now = next;
        if next_answer == Some(now) {
            let Reverse((_, s)) = answers.pop().expect("peeked");
            let (req, answer) = pending.remove(&s).expect("sent");
            in_flight -= 1;
            let class = if answer.listing {
                RouteClass::of("GET", "/v4/modelProducts")
            } else {
                RouteClass::of("GET", "/v4/modelProducts/{}")
            };
            let signal = match answer.reply {
                Reply::Ok if answer.latency_us >= ATTEMPT_TIMEOUT_US => {
                    Signal::Pushback(Pushback::Timeout)
                }
                Reply::Ok => Signal::Clean(Duration::from_micros(answer.latency_us), class),
                Reply::Error => Signal::Neutral,
                Reply::Unavailable => Signal::Pushback(Pushback::Status(503)),
                Reply::Refused { .. } => Signal::Pushback(Pushback::Status(429)),
                Reply::Dropped => Signal::Pushback(Pushback::Connection),
            };
            if now >= settle_us {
                result.settled_answers += 1;
                if answer.reply == (Reply::Refused { overload: true }) {
                    result.settled_overload += 1;
                }
            }
            if let Some(c) = control.as_mut() {
                c.on_answer(at(now), at(req.sent_us), signal);
            }
            if matches!(signal, Signal::Clean(..)) {
                done += 1;
            } else {
                let wait =
                    backoff_us(req.retries + 1, &mut rng).max(answer.retry_after_us.unwrap_or(0));
                let refused = matches!(signal, Signal::Pushback(Pushback::Status(429)));
                waiting.push(Reverse((now + wait, req.item, req.retries + 1, refused)));
            }
        } else if next_wait == Some(now) {
            let Reverse((_, item, retries, refused)) = waiting.pop().expect("peeked");
            // The retry budget, as the client asks it before a retry (not after a 429).
            let verdict = match (budget.as_mut(), control.as_ref()) {
                (Some(b), Some(c)) if !refused => b.try_retry(at(now), c.faults_share() * c.rate()),
                _ => Ok(()),
            };
            match verdict {
                Ok(()) => ready.push_back((item, retries)),
                Err(wait) => {
                    let wait = wait.min(super::TICK).as_micros() as u64;
                    waiting.push(Reverse((now + wait.max(1), item, retries, refused)));
                }
            }
        } else {
            let (item, retries) = ready.pop_front().expect("ready");
            if retries == 0
                && let (Some(b), Some(c)) = (budget.as_mut(), control.as_ref())
            {
                b.on_first_attempt(at(now), c.faults_share() * c.rate());
            }
            if let Some(c) = control.as_mut() {
                c.on_sent(at(now), rate_waited, slot_waited);
            }
            rate_waited = false;
            slot_waited = false;
            last_sent = Some(now);
            result.attempts += 1;
            in_flight += 1;
            let mut answer = server.handle(now);
            answer.latency_us = answer.latency_us.min(ATTEMPT_TIMEOUT_US);
            seq += 1;
            answers.push(Reverse((now + answer.latency_us, seq)));
            pending.insert(
                seq,
                (
                    InFlight {
                        item,
                        sent_us: now,
                        retries,
                    },
                    answer,
                ),
            );
        }
    }
    result.finished = done >= work;
    result.seconds = now as f64 / 1e6;
    result
}
