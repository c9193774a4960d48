//! The zoo's servers: what a deployment answers to one request at a simulated instant.

use std::collections::VecDeque;

/// A small deterministic generator (SplitMix64), so that a model's run is the same every time
/// and the zoo needs no crate.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// How a server limits what it serves.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Capacity {
    /// No limit.
    None,
    /// At most this many requests in any second; beyond, 429 at once.
    Window(f64),
    /// This many requests a second over `workers` workers, each serving one request at a time:
    /// beyond it the queue grows, and with it the latency (no refusal).
    Queue { per_second: f64, workers: u32 },
}

/// One server model of the zoo.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub capacity: Capacity,
    /// The share of requests answered with a fault whatever the rate: 500/502, 503, 429 and
    /// dropped connections in the proportions 3:3:2:2.
    pub faults: f64,
    /// 30 s of 50% 503 every 2 minutes, from 20 s on.
    pub flaps: bool,
    /// Seconds a capacity 429 asks the client to wait.
    pub retry_after: Option<u32>,
    /// One request in ten is a listing that takes this many milliseconds more (of a worker's
    /// time, on a queue).
    pub listing_ms: Option<u32>,
}

impl Model {
    pub fn name(&self) -> String {
        let mut parts = vec![match self.capacity {
            Capacity::None => "unlimited".to_string(),
            Capacity::Window(c) => format!("capacity {c}/s"),
            Capacity::Queue {
                per_second,
                workers,
            } => format!("queue {per_second}/s over {workers} workers"),
        }];
        if self.faults > 0.0 {
            parts.push(format!("{:.0}% faults", self.faults * 100.0));
        }
        if self.flaps {
            parts.push("flaps".into());
        }
        if let Some(s) = self.retry_after {
            parts.push(format!("Retry-After {s} s"));
        }
        if let Some(ms) = self.listing_ms {
            parts.push(format!("listings {ms} ms"));
        }
        parts.join(", ")
    }

    /// Requests a second the server serves at most (the rate a client cannot usefully exceed).
    pub fn serves(&self) -> Option<f64> {
        match self.capacity {
            Capacity::None => None,
            Capacity::Window(c) => Some(c),
            Capacity::Queue {
                per_second,
                workers,
            } => {
                // Listings take worker time too.
                let service = workers as f64 / per_second;
                let extra = self.listing_ms.map_or(0.0, |ms| 0.1 * ms as f64 / 1000.0);
                Some(workers as f64 / (service + extra))
            }
        }
    }
}

/// What the server answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    Ok,
    /// 500 or 502.
    Error,
    /// 503.
    Unavailable,
    /// 429; `overload` when the capacity refused it (not the weather).
    Refused {
        overload: bool,
    },
    /// The connection dropped.
    Dropped,
}

/// An answer: what, after how long, and a `Retry-After` in microseconds.
#[derive(Clone, Copy, Debug)]
pub struct Answer {
    pub reply: Reply,
    pub latency_us: u64,
    pub retry_after_us: Option<u64>,
    /// A listing (its own route class).
    pub listing: bool,
}

/// A model's state over a run.
pub struct Server {
    model: Model,
    rng: Rng,
    window: VecDeque<u64>,
    /// When each worker is free next.
    workers: Vec<u64>,
}

/// How long the server takes to answer a request it does not queue.
pub const BASE_LATENCY_US: u64 = 5_000;
const SECOND_US: u64 = 1_000_000;

impl Server {
    pub fn new(model: &Model, seed: u64) -> Server {
        let workers = match model.capacity {
            Capacity::Queue { workers, .. } => vec![0; workers as usize],
            _ => Vec::new(),
        };
        Server {
            model: model.clone(),
            rng: Rng::new(seed),
            window: VecDeque::new(),
            workers,
        }
    }

    /// A request arriving at `now_us`.
    pub fn handle(&mut self, now_us: u64) -> Answer {
        let listing = self.model.listing_ms.is_some() && self.rng.unit() < 0.1;
        let extra_us = if listing {
            self.model.listing_ms.unwrap_or(0) as u64 * 1000
        } else {
            0
        };
        let quick = |reply| Answer {
            reply,
            latency_us: BASE_LATENCY_US,
            retry_after_us: None,
            listing: false,
        };
        // The ingress's weather comes first: such answers never reach the backend.
        let flapping = self.model.flaps
            && now_us >= 20 * SECOND_US
            && (now_us - 20 * SECOND_US) % (120 * SECOND_US) < 30 * SECOND_US;
        if flapping && self.rng.unit() < 0.5 {
            return quick(Reply::Unavailable);
        }
        if self.model.faults > 0.0 {
            let draw = self.rng.unit();
            if draw < self.model.faults {
                let kind = draw / self.model.faults;
                return quick(if kind < 0.3 {
                    Reply::Error
                } else if kind < 0.6 {
                    Reply::Unavailable
                } else if kind < 0.8 {
                    Reply::Refused { overload: false }
                } else {
                    Reply::Dropped
                });
            }
        }
        match self.model.capacity {
            Capacity::None => Answer {
                reply: Reply::Ok,
                latency_us: BASE_LATENCY_US + extra_us,
                retry_after_us: None,
                listing,
            },
            Capacity::Window(c) => {
                while self
                    .window
                    .front()
                    .is_some_and(|&t| t + SECOND_US <= now_us)
                {
                    self.window.pop_front();
                }
                if self.window.len() as f64 >= c {
                    return Answer {
                        reply: Reply::Refused { overload: true },
                        latency_us: BASE_LATENCY_US,
                        retry_after_us: self.model.retry_after.map(|s| s as u64 * SECOND_US),
                        listing: false,
                    };
                }
                self.window.push_back(now_us);
                Answer {
                    reply: Reply::Ok,
                    latency_us: BASE_LATENCY_US + extra_us,
                    retry_after_us: None,
                    listing,
                }
            }
            Capacity::Queue {
                per_second,
                workers,
            } => {
                let service_us = (workers as f64 / per_second * 1e6) as u64 + extra_us;
                let (i, free) = self
                    .workers
                    .iter()
                    .copied()
                    .enumerate()
                    .min_by_key(|&(_, t)| t)
                    .expect("a queue has workers");
                let start = free.max(now_us);
                self.workers[i] = start + service_us;
                Answer {
                    reply: Reply::Ok,
                    latency_us: start - now_us + service_us + BASE_LATENCY_US,
                    retry_after_us: None,
                    listing,
                }
            }
        }
    }
}
