//! The pace rows (issue 13): `dmm shutdown` and `restore` with their default flags (adaptive
//! rate, default concurrency), against the simulator without a capacity limit, with a capacity
//! of [`CAPACITY_RPS`] requests per second, with a steady share of faults ([`STEADY_FAULTS`],
//! beside `--rate-limit 50 --concurrency 8` on the same server) and with latency that grows with
//! the requests in flight ([`QUEUE_LATENCY`]). Each is compared with its bound: without a
//! capacity, the bound of the transitions alone (no rate limit, the default concurrency); with
//! one, the bound that capacity imposes (the necessary requests at that rate). The share of
//! requests answered 429 and where the rate settled (from the journal) are printed too.

use std::path::Path;
use std::time::Duration;

use dmm::journal::{JournalRead, JournalReader, PaceRecord};
use dmm::runner::defaults;
use domino_sim::{FaultsPatch, SecondCount, spawn};
use serde_json::json;

use super::bound::{self, Bound, Counts, Limits};
use super::child::run_dmm;
use super::deployment::{Mix, TIMING, sim_config};

pub const CAPACITY_RPS: u32 = 100;
/// Where the windowed capacity model's latency starts to rise, in percent of its capacity.
const KNEE_PCT: u32 = 70;
/// What a row of a listing costs on the unlimited server, and on the capacity one.
const LIST_ROW_US: u64 = 100;
const CAPACITY_LIST_ROW_US: u64 = 300;

pub struct PaceRow {
    /// The flags given beyond `--yes`: none unless `DMM_BENCH_PACE_ARGS` says.
    pub flags: String,
    pub n: usize,
    /// "unlimited" or "capacity 100/s".
    pub sim: String,
    pub phase: &'static str,
    pub wall: Duration,
    pub steps: Duration,
    pub bound: Bound,
    pub requests: u64,
    pub rate_limited: u64,
    pub peak_rss_kib: u64,
    pub pace: Option<PaceRecord>,
    /// The longest stretch, in seconds, during which the rate in force stayed below half of
    /// the best second the deployment served cleanly in the minute before
    /// ([`longest_below_half_clean`]); `None` without the log of the rate's changes.
    pub below_half_clean_s: Option<f64>,
}

impl PaceRow {
    pub fn steps_ratio(&self) -> f64 {
        self.steps.as_secs_f64() / self.bound.seconds
    }

    pub fn ratio(&self) -> f64 {
        self.wall.as_secs_f64() / self.bound.seconds
    }

    pub fn share_429(&self) -> f64 {
        self.rate_limited as f64 / self.requests.max(1) as f64
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "bench": "maintenance-pace",
            "n": self.n,
            "sim": self.sim,
            "phase": self.phase,
            "flags": self.flags,
            "wall_s": self.wall.as_secs_f64(),
            "steps_s": self.steps.as_secs_f64(),
            "bound_s": self.bound.seconds,
            "steps_ratio": self.steps_ratio(),
            "ratio": self.ratio(),
            "requests": self.requests,
            "answered_429": self.rate_limited,
            "share_429": self.share_429(),
            "peak_rss_kib": self.peak_rss_kib,
            "pace": self.pace,
            "below_half_clean_s": self.below_half_clean_s,
        })
    }
}

/// The sizes of the pace rows: `DMM_BENCH_PACE_SIZES` (e.g. `1000,10000`), 1,000 by default;
/// the 10,000 rows take about ten minutes, most of it at the capacity's 100 requests per second.
pub fn sizes() -> Vec<usize> {
    match std::env::var("DMM_BENCH_PACE_SIZES") {
        Ok(s) if s.trim() == "0" || s.trim() == "none" => Vec::new(),
        Ok(s) if !s.trim().is_empty() => s
            .split(',')
            .map(|p| {
                p.trim()
                    .replace('_', "")
                    .parse::<usize>()
                    .unwrap_or_else(|_| {
                        panic!("DMM_BENCH_PACE_SIZES: '{p}' is not a number (e.g. 1000,10000)")
                    })
            })
            .collect(),
        _ => vec![1_000],
    }
}

pub fn bench(
    dmm: &Path,
    n: usize,
    seed: u64,
    counts_of: impl Fn(&Mix, &Path) -> Counts,
) -> Vec<PaceRow> {
    let mix = Mix::for_size(n);
    let sim = spawn(sim_config(&mix, seed)).expect("the simulator starts");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("pace.json");
    let journal = dir.path().join("pace.json.journal");
    let file_arg = file.display().to_string();
    eprintln!("N = {n}: pace rows: snapshot ...");
    run_dmm(dmm, &sim, &["snapshot".to_string(), file_arg.clone()]);
    let counts = counts_of(&mix, &file);
    let concurrency = defaults::CONCURRENCY as usize;
    let limits = |rate: Option<f64>| Limits {
        concurrency,
        rate,
        workspaces_page_size: 50,
        models_page_size: 10,
    };
    let mut rows = Vec::new();
    // For experiments: more flags after the defaults (e.g. `--max-rate 1000`), and only some of
    // the server models: `DMM_BENCH_PACE_SIMS` holds label prefixes separated by `;` (`unlimited`,
    // `capacity 100/s queue`, …); a prefix ending in `$` must match the whole label.
    let extra: Vec<String> = std::env::var("DMM_BENCH_PACE_ARGS")
        .map(|a| a.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let only = std::env::var("DMM_BENCH_PACE_SIMS").unwrap_or_default();
    // `DMM_BENCH_PACE_RUNS` runs each row that many times, for the spread of a command on the
    // same server (1 by default).
    let runs: usize = std::env::var("DMM_BENCH_PACE_RUNS")
        .ok()
        .and_then(|r| r.trim().parse().ok())
        .unwrap_or(1)
        .max(1);
    for model in models() {
        let label = model.label;
        let chosen = |o: &str| match o.trim().strip_suffix('$') {
            Some(whole) => label == whole,
            None => label.starts_with(o.trim()),
        };
        if !only.is_empty() && !only.split(';').any(chosen) {
            continue;
        }
        sim.set_faults(model.patch.clone())
            .expect("a valid server model");
        let rate = (model.capacity > 0).then_some(f64::from(model.capacity));
        // The default flags, then (for the models that have one) the fixed pace the default is
        // compared with on the same server.
        let mut flag_sets = vec![extra.clone()];
        if let Some(fixed) = model.compare_with {
            flag_sets.push(fixed.iter().map(|f| f.to_string()).collect());
        }
        for run in 0..runs {
            for flags in &flag_sets {
                for (phase, make_bound) in [
                    (
                        "shutdown",
                        bound::shutdown as fn(&_, &Limits, &Counts) -> Bound,
                    ),
                    ("restore", bound::restore),
                ] {
                    let shown = if flags.is_empty() {
                        "default".to_string()
                    } else {
                        flags.join(" ")
                    };
                    eprintln!("N = {n}: {phase}, {shown}, {label}, run {} ...", run + 1);
                    sim.reset_counters();
                    let started_ms = sim.state().now_ms;
                    let mut args = vec![phase.to_string(), file_arg.clone(), "--yes".to_string()];
                    args.extend(flags.iter().cloned());
                    let outcome = run_dmm(dmm, &sim, &args);
                    let log = sim.requests();
                    let pace = JournalReader::open(&journal)
                        .and_then(|r| r.runs())
                        .ok()
                        .and_then(|runs| runs.last().and_then(|r| r.pace.clone()));
                    // Without the limiter's log (another `DMM_BENCH_RUST_LOG`) the rate's
                    // changes are unknown: no figure rather than one from the initial rate.
                    let logged = !outcome.rates.is_empty();
                    let below_half_clean_s = pace.as_ref().and_then(|p| {
                        (p.mode == "auto" && logged).then(|| {
                            longest_below_half_clean(
                                p.initial,
                                &outcome.rates,
                                &log.per_second,
                                started_ms,
                                outcome.wall,
                            )
                        })
                    });
                    let row = PaceRow {
                        below_half_clean_s,
                        flags: shown,
                        n,
                        sim: label.clone(),
                        phase,
                        wall: outcome.wall,
                        steps: outcome
                            .verify_started
                            .as_ref()
                            .map_or(outcome.wall, |(at, _)| *at),
                        bound: make_bound(&TIMING, &limits(rate), &counts),
                        requests: log.total,
                        rate_limited: log.faults.rate_limited,
                        peak_rss_kib: outcome.peak_rss_kib,
                        pace,
                    };
                    eprintln!(
                        "N = {n}: {phase} ({label}, {}) took {:.2?}, steps {:.2}x the bound",
                        row.flags,
                        row.wall,
                        row.steps_ratio()
                    );
                    println!("{}", row.json());
                    rows.push(row);
                }
            }
        }
    }
    sim.shutdown();
    rows
}

/// The longest stretch of a run during which the rate in force (from `initial`, then each
/// change dmm logged) stayed below half of what the deployment last served cleanly: the best
/// whole second of clean answers (2xx, from the simulator's record) in the minute before. A
/// second with nothing served yet sets no bar. Sampled every 100 ms from dmm's start
/// (`started_ms` on the simulator's clock) to its end (`wall`).
pub fn longest_below_half_clean(
    initial: f64,
    rates: &[(Duration, f64)],
    per_second: &std::collections::BTreeMap<u64, SecondCount>,
    started_ms: u64,
    wall: Duration,
) -> f64 {
    const STEP_MS: u64 = 100;
    let mut longest = 0u64;
    let mut stretch = 0u64;
    let mut rate = initial;
    let mut changes = rates.iter().peekable();
    for t in (0..=wall.as_millis() as u64).step_by(STEP_MS as usize) {
        while let Some((_, r)) = changes.next_if(|(at, _)| at.as_millis() as u64 <= t) {
            rate = *r;
        }
        let now = started_ms + t;
        // Whole seconds that ended by now, within the last minute.
        let last_whole = (now / 1000).checked_sub(1);
        let best = last_whole.map_or(0, |last| {
            per_second
                .range(last.saturating_sub(59)..=last)
                .map(|(_, c)| c.clean)
                .max()
                .unwrap_or(0)
        });
        if best > 0 && rate < best as f64 / 2.0 {
            stretch += STEP_MS;
            longest = longest.max(stretch);
        } else {
            stretch = 0;
        }
    }
    longest as f64 / 1000.0
}

/// One server model of the pace rows.
struct ServerModel {
    label: String,
    /// Every fault setting the rows use, so that one model's settings do not leak into the next.
    patch: FaultsPatch,
    /// The capacity the bound assumes (0: none, the transitions alone).
    capacity: u32,
    /// Flags of a fixed pace to run on the same server beside the default.
    compare_with: Option<&'static [&'static str]>,
}

/// Steady faults: 5% dropped connections, then 20% answered 500, 502 or 503, then 13% answered
/// 429 (about 35% of requests, whatever the rate).
pub const STEADY_FAULTS: &str = "steady 35% faults";
/// A single-process server: 8 workers of 10 ms each (800 answers a second), latency growing
/// with the requests in flight beyond them.
pub const QUEUE_LATENCY: &str = "8 workers of 10 ms, latency growing with the queue";

fn models() -> Vec<ServerModel> {
    let patch = |capacity_rps: u32, max_rps: u32, knee: u32, row_us: u64| FaultsPatch {
        capacity_rps: Some(capacity_rps),
        max_rps: Some(max_rps),
        retry_after_s: Some(1),
        slow_from_pct: Some(knee),
        list_row_us: Some(row_us),
        drop_rate: Some(0.0),
        error_rate: Some(0.0),
        rate_limit_rate: Some(0.0),
        workers: Some(0),
        service_ms: Some(0),
        flap_every_s: Some(0),
        ..FaultsPatch::default()
    };
    let model = |label: String, patch: FaultsPatch, capacity: u32| ServerModel {
        label,
        patch,
        capacity,
        compare_with: None,
    };
    vec![
        model("unlimited".to_string(), patch(0, 0, 0, 0), 0),
        model(
            format!("unlimited, listings {LIST_ROW_US} µs/row"),
            patch(0, 0, 0, LIST_ROW_US),
            0,
        ),
        model(
            format!("capacity {CAPACITY_RPS}/s queue"),
            patch(CAPACITY_RPS, 0, 0, 0),
            CAPACITY_RPS,
        ),
        model(
            format!("capacity {CAPACITY_RPS}/s window, slow from {KNEE_PCT}%"),
            patch(0, CAPACITY_RPS, KNEE_PCT, 0),
            CAPACITY_RPS,
        ),
        model(
            format!(
                "capacity {CAPACITY_RPS}/s window, slow from {KNEE_PCT}%, listings {CAPACITY_LIST_ROW_US} µs/row"
            ),
            patch(0, CAPACITY_RPS, KNEE_PCT, CAPACITY_LIST_ROW_US),
            CAPACITY_RPS,
        ),
        ServerModel {
            label: STEADY_FAULTS.to_string(),
            patch: FaultsPatch {
                drop_rate: Some(0.05),
                error_rate: Some(0.20),
                rate_limit_rate: Some(0.13),
                ..patch(0, 0, 0, 0)
            },
            capacity: 0,
            compare_with: Some(&["--rate-limit", "50", "--concurrency", "8"]),
        },
        model(
            QUEUE_LATENCY.to_string(),
            FaultsPatch {
                workers: Some(8),
                service_ms: Some(10),
                ..patch(0, 0, 0, 0)
            },
            0,
        ),
    ]
}

pub fn print_table(rows: &[PaceRow]) {
    if rows.is_empty() {
        return;
    }
    println!();
    println!(
        "Default flags (--rate-limit auto, max {} /s, concurrency {}):",
        defaults::MAX_RATE,
        defaults::CONCURRENCY
    );
    println!(
        "{:>6} {:<8} {:>8} {:>8} {:>8} {:>6} {:>6} {:>7} {:>6} {:>8} {:>8} {:>8} {:>9} {:>8} {:>9} {:>8} {:>7}  server model",
        "N",
        "phase",
        "wall s",
        "steps s",
        "bound s",
        "ratio",
        "steps",
        "req",
        "429 %",
        "settled",
        "min",
        "max",
        "pushbacks",
        "RSS MiB",
        "in flight",
        "req/exec",
        "<½ s",
    );
    for r in rows {
        let p = r.pace.as_ref();
        let f = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.1}"));
        println!(
            "{:>6} {:<8} {:>8.2} {:>8.2} {:>8.2} {:>6.2} {:>6.2} {:>7} {:>6.2} {:>8} {:>8} {:>8} {:>9} {:>8.1} {:>9} {:>8.2} {:>7}  {}",
            r.n,
            r.phase,
            r.wall.as_secs_f64(),
            r.steps.as_secs_f64(),
            r.bound.seconds,
            r.ratio(),
            r.steps_ratio(),
            r.requests,
            100.0 * r.share_429(),
            f(p.map(|p| p.settled)),
            f(p.map(|p| p.min)),
            f(p.map(|p| p.max)),
            p.map_or("-".to_string(), |p| p.pushbacks.to_string()),
            r.peak_rss_kib as f64 / 1024.0,
            p.map_or("-".to_string(), |p| format!(
                "{:.0}/{}",
                p.in_flight_settled, p.in_flight_max
            )),
            r.requests as f64 / r.bound.executions.max(1) as f64,
            r.below_half_clean_s
                .map_or("-".to_string(), |s| format!("{s:.1}")),
            if r.flags == "default" {
                r.sim.clone()
            } else {
                format!("{} ({})", r.sim, r.flags)
            },
        );
    }
    println!(
        "\nbound: unlimited = the transitions alone (no rate limit, concurrency {}); capacity = the necessary requests at {CAPACITY_RPS}/s. \
         steps = (time until verification began) / bound; 429 % = requests answered 429 / all requests of the run (verification included); \
         settled/min/max/pushbacks: the run's pace as the journal records it; \
         in flight = where the in-flight limit settled / its highest; req/exec = requests of the run per execution acted on; \
         <½ s = the longest stretch (s) the rate stayed below half of the best clean second of the minute before.",
        defaults::CONCURRENCY
    );
}

/// For the models run beside a fixed pace: per run and phase, the default's wall time (to the
/// end of its verification) against the fixed pace's on the same server, and the longest
/// stretch below half the last clean rate.
pub fn print_compared(rows: &[PaceRow]) {
    let mut labels: Vec<&str> = rows
        .iter()
        .filter(|r| r.flags != "default")
        .map(|r| r.sim.as_str())
        .collect();
    labels.dedup();
    for label in labels {
        println!(
            "\n{label}: default flags against the fixed pace on the same server, wall (verified)"
        );
        for phase in ["shutdown", "restore"] {
            let of = |default: bool| {
                rows.iter()
                    .filter(|r| r.sim == label && r.phase == phase)
                    .filter(|r| (r.flags == "default") == default)
                    .collect::<Vec<_>>()
            };
            let mut worst: f64 = 0.0;
            for (run, (d, f)) in of(true).into_iter().zip(of(false)).enumerate() {
                let ratio = d.wall.as_secs_f64() / f.wall.as_secs_f64();
                worst = worst.max(ratio);
                println!(
                    "  run {} {phase:<8} default {:>7.2} s (steps {:>6.2} s, 429 {:>5.2}%, below half the clean rate at most {} s)  {} {:>7.2} s  ratio {ratio:.2}{}",
                    run + 1,
                    d.wall.as_secs_f64(),
                    d.steps.as_secs_f64(),
                    100.0 * d.share_429(),
                    d.below_half_clean_s
                        .map_or("-".to_string(), |s| format!("{s:.1}")),
                    f.flags,
                    f.wall.as_secs_f64(),
                    if ratio > 2.0 { "  (over 2x)" } else { "" },
                );
            }
            println!("  {phase}: worst default / fixed {worst:.2} (goal <= 2)");
        }
    }
}
