//! Injected faults: what to inject (`Faults`), how to change it at runtime (`FaultsPatch`), and
//! the seeded decisions per request (`FaultInjector`).

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::Response;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::capacity::{Capacity, Workers};

/// The fault settings. Rates are probabilities per request, from 0 to 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Faults {
    /// Added to every answer.
    pub latency_ms: u64,
    /// Up to this much more, drawn per request.
    pub latency_jitter_ms: u64,
    /// Answer 500, 502 or 503 without doing anything.
    pub error_rate: f64,
    /// Answer 429 with `Retry-After: retry_after_s`.
    pub rate_limit_rate: f64,
    /// The `Retry-After` value (seconds) of every 429, including `max_rps` ones; 0 is allowed.
    pub retry_after_s: u64,
    /// Close the connection without an answer, and without doing anything.
    pub drop_rate: f64,
    /// For stops, starts and PUTs: do it, then close the connection without an answer.
    pub lost_answer_rate: f64,
    /// Answer 429 to requests beyond this many in one second; 0 means no limit.
    pub max_rps: u32,
    /// For stops, starts and PUTs: do it, then wait this long before answering (a slow
    /// frontend). A client killed meanwhile leaves the request done but unanswered.
    pub answer_delay_ms: u64,
    /// Every Domino route drops the connection until this is cleared.
    pub outage: bool,
    /// Serve at most this many requests per second (0: no limit): requests beyond it queue,
    /// adding their wait to the latency, and are answered 429 once the queue would make them
    /// wait more than `capacity_queue_ms` (`capacity.rs`).
    pub capacity_rps: u32,
    /// The longest wait in the capacity queue before a request is refused.
    pub capacity_queue_ms: u64,
    /// A listing (a GET answered with an array, bare or in `data`) takes this many microseconds
    /// more per row it returns: a real server reads and serializes each row.
    pub list_row_us: u64,
    /// Jobs' time stamps (`submissionTime`, `completedTime`) are this far ahead (negative:
    /// behind) of the clock of the `Date` headers: the gateway that answers and the backend that
    /// stamps run on different machines.
    pub stamp_skew_ms: i64,
    /// Injected errors quote the request in their body, headers included, as gateways, WAFs
    /// and debug error pages do: a client that prints error bodies must not print the
    /// credential with them.
    pub echo_request: bool,
    /// From this share (percent) of the capacity (`capacity_rps`, else `max_rps`) on, measured
    /// over the last second of arrivals, answers slow down: up to [`KNEE_SLOWDOWN`] more at the
    /// capacity, in proportion beyond the knee. 0: no knee.
    pub slow_from_pct: u32,
    /// A single-process server: the requests that pass are served by this many workers, one
    /// at a time each, for `service_ms` each; beyond that many in flight they queue, and the
    /// latency grows with the requests in flight (no refusal). 0: no such limit.
    pub workers: u32,
    /// What one request takes of a worker's time.
    pub service_ms: u64,
    /// Flaps (pods rolling): the last `flap_for_s` seconds of every `flap_every_s` seconds, a
    /// share `flap_error_rate` of the requests is answered 503. 0: no flaps.
    pub flap_every_s: u64,
    pub flap_for_s: u64,
    pub flap_error_rate: f64,
    /// Chosen requests answered with a chosen status, without being done: what a proxy or a
    /// struggling backend does to some requests and not others (a stop of one Job refused
    /// while the rest go through).
    pub refuse: Vec<RefuseRule>,
}

/// What a refusal rule answers one request with.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleRefusal {
    pub status: u16,
    pub after_applying: bool,
    pub retry_after: Option<String>,
}

/// Refuse the requests of one route (`"POST /v4/jobs/restart"`, the route as the simulator
/// declares it), optionally only those naming one execution, with `status`, `times` times (or
/// for as long as the rule stands). Nothing of a refused request is done.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefuseRule {
    pub route: String,
    #[serde(default)]
    pub execution_id: Option<String>,
    pub status: u16,
    #[serde(default)]
    pub times: Option<u32>,
    /// Do the request, then answer `status` (a gateway that times out on a backend that did
    /// it: 502 or 504 after the fact).
    #[serde(default)]
    pub after_applying: bool,
    /// Send this `Retry-After` value, verbatim, with the refusal (seconds, an HTTP-date, or
    /// anything a proxy might send).
    #[serde(default)]
    pub retry_after: Option<String>,
}

impl RefuseRule {
    /// Whether this rule refuses a request of `route` naming `target`; counts the refusal.
    fn take(&mut self, route: &str, target: Option<&str>) -> bool {
        let names = self
            .execution_id
            .as_deref()
            .is_none_or(|want| Some(want) == target);
        if self.route != route || !names || self.times == Some(0) {
            return false;
        }
        if let Some(n) = &mut self.times {
            *n -= 1;
        }
        true
    }
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            latency_jitter_ms: 0,
            error_rate: 0.0,
            rate_limit_rate: 0.0,
            retry_after_s: 1,
            drop_rate: 0.0,
            lost_answer_rate: 0.0,
            max_rps: 0,
            answer_delay_ms: 0,
            outage: false,
            capacity_rps: 0,
            capacity_queue_ms: 50,
            list_row_us: 0,
            stamp_skew_ms: 0,
            echo_request: false,
            slow_from_pct: 0,
            workers: 0,
            service_ms: 0,
            flap_every_s: 0,
            flap_for_s: 30,
            flap_error_rate: 0.5,
            refuse: Vec::new(),
        }
    }
}

impl Faults {
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("errorRate", self.error_rate),
            ("rateLimitRate", self.rate_limit_rate),
            ("dropRate", self.drop_rate),
            ("lostAnswerRate", self.lost_answer_rate),
            ("flapErrorRate", self.flap_error_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1, got {rate}"));
            }
        }
        if self.slow_from_pct >= 100 {
            return Err(format!(
                "slowFromPct must be below 100, got {}",
                self.slow_from_pct
            ));
        }
        if self.flap_every_s > 0 && self.flap_for_s > self.flap_every_s {
            return Err(format!(
                "flapForS ({}) must not be longer than flapEverySs ({})",
                self.flap_for_s, self.flap_every_s
            ));
        }
        if let Some(rule) = self
            .refuse
            .iter()
            .find(|r| !(400..=599).contains(&r.status))
        {
            return Err(format!(
                "refuse: status {} is not an error status (400-599)",
                rule.status
            ));
        }
        Ok(())
    }

    /// No faults at all: what tests usually want after provoking one.
    pub fn none() -> Self {
        Self::default()
    }
}

/// A partial update of `Faults`: only the fields given change (`POST /__sim/faults`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultsPatch {
    pub latency_ms: Option<u64>,
    pub latency_jitter_ms: Option<u64>,
    pub error_rate: Option<f64>,
    pub rate_limit_rate: Option<f64>,
    pub retry_after_s: Option<u64>,
    pub drop_rate: Option<f64>,
    pub lost_answer_rate: Option<f64>,
    pub max_rps: Option<u32>,
    pub answer_delay_ms: Option<u64>,
    pub outage: Option<bool>,
    pub capacity_rps: Option<u32>,
    pub capacity_queue_ms: Option<u64>,
    pub list_row_us: Option<u64>,
    pub stamp_skew_ms: Option<i64>,
    pub echo_request: Option<bool>,
    pub slow_from_pct: Option<u32>,
    pub workers: Option<u32>,
    pub service_ms: Option<u64>,
    pub flap_every_s: Option<u64>,
    pub flap_for_s: Option<u64>,
    pub flap_error_rate: Option<f64>,
    pub refuse: Option<Vec<RefuseRule>>,
}

impl FaultsPatch {
    /// The patch that sets every field to `faults`.
    pub fn all(faults: &Faults) -> Self {
        Self {
            latency_ms: Some(faults.latency_ms),
            latency_jitter_ms: Some(faults.latency_jitter_ms),
            error_rate: Some(faults.error_rate),
            rate_limit_rate: Some(faults.rate_limit_rate),
            retry_after_s: Some(faults.retry_after_s),
            drop_rate: Some(faults.drop_rate),
            lost_answer_rate: Some(faults.lost_answer_rate),
            max_rps: Some(faults.max_rps),
            answer_delay_ms: Some(faults.answer_delay_ms),
            outage: Some(faults.outage),
            capacity_rps: Some(faults.capacity_rps),
            capacity_queue_ms: Some(faults.capacity_queue_ms),
            list_row_us: Some(faults.list_row_us),
            stamp_skew_ms: Some(faults.stamp_skew_ms),
            echo_request: Some(faults.echo_request),
            slow_from_pct: Some(faults.slow_from_pct),
            workers: Some(faults.workers),
            service_ms: Some(faults.service_ms),
            flap_every_s: Some(faults.flap_every_s),
            flap_for_s: Some(faults.flap_for_s),
            flap_error_rate: Some(faults.flap_error_rate),
            refuse: Some(faults.refuse.clone()),
        }
    }

    /// `faults` with this patch applied; refused (and nothing changed) if a value is invalid.
    pub fn apply_to(&self, faults: &Faults) -> Result<Faults, String> {
        let mut f = faults.clone();
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = self.$field { f.$field = v; } )* };
        }
        set!(
            latency_ms,
            latency_jitter_ms,
            error_rate,
            rate_limit_rate,
            retry_after_s,
            drop_rate,
            lost_answer_rate,
            max_rps,
            answer_delay_ms,
            outage,
            capacity_rps,
            capacity_queue_ms,
            list_row_us,
            stamp_skew_ms,
            echo_request,
            slow_from_pct,
            workers,
            service_ms,
            flap_every_s,
            flap_for_s,
            flap_error_rate
        );
        if let Some(rules) = &self.refuse {
            f.refuse = rules.clone();
        }
        f.validate()?;
        Ok(f)
    }
}

/// What happens to one request before it reaches its handler.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Pass,
    Drop,
    Error(u16),
    RateLimited { retry_after_s: u64 },
}

/// The fault settings plus the seeded generator and the per-second counter they need.
#[derive(Debug)]
pub struct FaultInjector {
    pub faults: Faults,
    rng: ChaCha8Rng,
    window_second: u64,
    window_count: u32,
    capacity: Capacity,
    workers: Workers,
    /// The flaps' own draws, so that turning them on does not shift the other faults.
    flap_rng: ChaCha8Rng,
    /// Arrivals (ms) of the last second, for the latency knee.
    arrivals: std::collections::VecDeque<u64>,
}

/// The most a server past its latency knee adds to an answer, at its capacity.
pub const KNEE_SLOWDOWN: Duration = Duration::from_millis(100);

impl FaultInjector {
    pub fn new(faults: Faults, seed: u64) -> Self {
        Self {
            faults,
            // A different stream than the generator's, so faults do not shift the deployment.
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_fa17),
            window_second: u64::MAX,
            window_count: 0,
            capacity: Capacity::default(),
            workers: Workers::default(),
            flap_rng: ChaCha8Rng::seed_from_u64(seed ^ 0xf1a9_5eed),
            arrivals: Default::default(),
        }
    }

    /// The extra latency of a server past its knee, at an arrival at `now_ms`.
    fn knee_latency(&mut self, now_ms: u64) -> Duration {
        let f = &self.faults;
        let capacity = if f.capacity_rps > 0 {
            f.capacity_rps
        } else {
            f.max_rps
        };
        if f.slow_from_pct == 0 || capacity == 0 {
            return Duration::ZERO;
        }
        self.arrivals.push_back(now_ms);
        while self.arrivals.front().is_some_and(|&t| t + 1000 <= now_ms) {
            self.arrivals.pop_front();
        }
        let load = self.arrivals.len() as f64 / f64::from(capacity);
        let knee = f64::from(f.slow_from_pct) / 100.0;
        let past = ((load - knee) / (1.0 - knee)).clamp(0.0, 1.0);
        KNEE_SLOWDOWN.mul_f64(past)
    }

    /// Decides the fate of a request arriving at `now_ms`, and the latency to add first.
    /// The same number of draws is taken every time, so a sequence of requests is reproducible
    /// whatever the settings.
    pub fn decide(&mut self, now_ms: u64) -> (Duration, Verdict) {
        let jitter_draw: f64 = self.rng.random();
        let drop_draw: f64 = self.rng.random();
        let error_draw: f64 = self.rng.random();
        let code_draw: u32 = self.rng.random_range(0..3);
        let limit_draw: f64 = self.rng.random();
        let flap_draw: f64 = self.flap_rng.random();
        let f = &self.faults;
        let latency = f.latency_ms + (jitter_draw * (f.latency_jitter_ms + 1) as f64) as u64;
        let latency = Duration::from_millis(latency.min(f.latency_ms + f.latency_jitter_ms));
        let latency = latency + self.knee_latency(now_ms);
        let f = &self.faults;

        let second = now_ms / 1000;
        if second != self.window_second {
            self.window_second = second;
            self.window_count = 0;
        }
        self.window_count = self.window_count.saturating_add(1);

        let mut queued = Duration::ZERO;
        let over_capacity = !f.outage
            && f.capacity_rps > 0
            && match self.capacity.admit(
                now_ms,
                f.capacity_rps,
                Duration::from_millis(f.capacity_queue_ms),
            ) {
                Some(wait) => {
                    queued = wait;
                    false
                }
                None => true,
            };
        let verdict = if f.outage {
            Verdict::Drop
        } else if over_capacity || (f.max_rps > 0 && self.window_count > f.max_rps) {
            Verdict::RateLimited {
                retry_after_s: f.retry_after_s,
            }
        } else if drop_draw < f.drop_rate {
            Verdict::Drop
        } else if error_draw < f.error_rate {
            Verdict::Error([500, 502, 503][code_draw as usize])
        } else if self.flapping(now_ms) && flap_draw < f.flap_error_rate {
            Verdict::Error(503)
        } else if limit_draw < f.rate_limit_rate {
            Verdict::RateLimited {
                retry_after_s: f.retry_after_s,
            }
        } else {
            Verdict::Pass
        };
        if verdict == Verdict::Drop {
            // A dropped request never reached the server, as far as the rate limit is concerned.
            self.window_count -= 1;
        }
        let (workers, service_ms) = (self.faults.workers, self.faults.service_ms);
        if verdict == Verdict::Pass && workers > 0 && service_ms > 0 {
            // Only what reaches the backend takes a worker's time: faults of the ingress do not.
            queued += self
                .workers
                .serve(now_ms, workers, Duration::from_millis(service_ms));
        }
        (latency + queued, verdict)
    }

    /// Whether `now_ms` falls in a flap: the last `flap_for_s` of each `flap_every_s`.
    fn flapping(&self, now_ms: u64) -> bool {
        let f = &self.faults;
        if f.flap_every_s == 0 || f.flap_for_s == 0 {
            return false;
        }
        let every = f.flap_every_s * 1000;
        now_ms % every >= every - f.flap_for_s.min(f.flap_every_s) * 1000
    }

    /// The status a refusal rule answers this request with, if one applies, and whether the
    /// request is done first.
    pub fn refusal(&mut self, route: &str, target: Option<&str>) -> Option<RuleRefusal> {
        self.faults.refuse.iter_mut().find_map(|rule| {
            rule.take(route, target).then(|| RuleRefusal {
                status: rule.status,
                after_applying: rule.after_applying,
                retry_after: rule.retry_after.clone(),
            })
        })
    }

    /// Whether the answer to a mutation that was applied gets lost.
    pub fn lose_answer(&mut self) -> bool {
        let draw: f64 = self.rng.random();
        draw < self.faults.lost_answer_rate
    }
}

/// A response that makes hyper close the connection without sending anything: its body fails
/// on the first poll, before the head is flushed, so the client sees the connection close with
/// no answer (reqwest reports a request error, not a status).
pub fn dropped_connection() -> Response {
    let failing = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("domino-sim: connection dropped"))
    });
    Response::new(Body::from_stream(failing))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An injector of `faults` with the seed the tests here use.
    fn injector_of(faults: Faults) -> FaultInjector {
        FaultInjector::new(faults, 1)
    }

    #[test]
    fn latency_rises_past_the_knee_and_refusals_count_in_the_window() {
        let mut injector = injector_of(Faults {
            max_rps: 100,
            slow_from_pct: 70,
            ..Faults::default()
        });
        // 70 requests in the first second: at the knee, no slowdown.
        let first: Vec<_> = (0..70).map(|i| injector.decide(i * 14)).collect();
        assert!(
            first
                .iter()
                .all(|(l, v)| l.is_zero() && *v == Verdict::Pass)
        );
        // 30 more in the same second: up to the full slowdown at the capacity.
        let (at_capacity, verdict) = (0..30)
            .map(|i| injector.decide(980 + i / 2))
            .last()
            .unwrap();
        assert_eq!(verdict, Verdict::Pass);
        assert_eq!(at_capacity, KNEE_SLOWDOWN);
        // Beyond it, refused with Retry-After, and the refusals count: the window stays full.
        for i in 0..10 {
            assert_eq!(
                injector.decide(995 + i / 5).1,
                Verdict::RateLimited { retry_after_s: 1 }
            );
        }
        assert!(
            Faults {
                slow_from_pct: 100,
                ..Faults::default()
            }
            .validate()
            .is_err()
        );
    }

    #[test]
    fn patch_changes_only_given_fields_and_validates() {
        let f = Faults::default();
        let patch: FaultsPatch =
            serde_json::from_str(r#"{"errorRate": 0.5, "outage": true}"#).expect("valid patch");
        let g = patch.apply_to(&f).unwrap();
        assert_eq!(g.error_rate, 0.5);
        assert!(g.outage);
        assert_eq!(g.retry_after_s, 1);
        let bad = FaultsPatch {
            drop_rate: Some(2.0),
            ..Default::default()
        };
        assert!(bad.apply_to(&f).is_err());
        assert!(serde_json::from_str::<FaultsPatch>(r#"{"erorRate": 1}"#).is_err());
    }

    #[test]
    fn decisions_are_reproducible() {
        let faults = Faults {
            error_rate: 0.3,
            drop_rate: 0.2,
            ..Faults::default()
        };
        let mut a = FaultInjector::new(faults.clone(), 9);
        let mut b = FaultInjector::new(faults, 9);
        let va: Vec<_> = (0..200).map(|i| a.decide(i).1).collect();
        let vb: Vec<_> = (0..200).map(|i| b.decide(i).1).collect();
        assert_eq!(va, vb);
        assert!(va.contains(&Verdict::Drop));
        assert!(va.iter().any(|v| matches!(v, Verdict::Error(_))));
        assert!(va.contains(&Verdict::Pass));
    }

    #[test]
    fn capacity_queues_then_refuses_with_429() {
        let mut f = injector_of(Faults {
            latency_ms: 5,
            capacity_rps: 100,
            capacity_queue_ms: 20,
            ..Faults::default()
        });
        let decided: Vec<_> = (0..4).map(|_| f.decide(500)).collect();
        let latencies: Vec<u128> = decided[..3].iter().map(|(l, _)| l.as_millis()).collect();
        assert_eq!(
            latencies,
            [5, 15, 25],
            "the queue's wait adds to the latency"
        );
        assert!(decided[..3].iter().all(|(_, v)| *v == Verdict::Pass));
        assert_eq!(decided[3].1, Verdict::RateLimited { retry_after_s: 1 });
        let patch: FaultsPatch = serde_json::from_str(r#"{"capacityRps": 0}"#).unwrap();
        f.faults = patch.apply_to(&f.faults).unwrap();
        assert_eq!(f.decide(500).1, Verdict::Pass, "no capacity limit any more");
    }

    #[test]
    fn max_rps_limits_each_second() {
        let mut f = injector_of(Faults {
            max_rps: 3,
            ..Faults::default()
        });
        let verdicts: Vec<_> = (0..5).map(|_| f.decide(10).1).collect();
        assert_eq!(verdicts[..3], [Verdict::Pass, Verdict::Pass, Verdict::Pass]);
        assert!(matches!(verdicts[3], Verdict::RateLimited { .. }));
        assert_eq!(f.decide(1010).1, Verdict::Pass);
    }

    #[test]
    fn flaps_answer_503_to_a_share_within_their_window_only() {
        let mut f = injector_of(Faults {
            flap_every_s: 10,
            flap_for_s: 3,
            flap_error_rate: 0.5,
            ..Faults::default()
        });
        let mut refused = |from_ms: u64| {
            (0..1000)
                .filter(|i| f.decide(from_ms + i * 2).1 == Verdict::Error(503))
                .count()
        };
        assert_eq!(refused(0), 0, "before the flap");
        let within = refused(7_000);
        assert!((400..=600).contains(&within), "{within} of 1000");
        assert_eq!(refused(10_000), 0, "after it");
    }

    #[test]
    fn workers_queue_what_passes_and_nothing_else() {
        let mut f = injector_of(Faults {
            workers: 1,
            service_ms: 20,
            ..Faults::default()
        });
        let latencies: Vec<u128> = (0..3).map(|_| f.decide(100).0.as_millis()).collect();
        assert_eq!(latencies, [20, 40, 60]);
        f.faults.outage = true;
        assert_eq!(f.decide(100), (Duration::ZERO, Verdict::Drop));
    }
}
