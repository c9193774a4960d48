//! The window over time: per kind, how many executions were running, stopping, stopped and
//! starting, aggregated into a fixed number of buckets (never one element per event, so the
//! chart has the same size at ten executions and at ten thousand), and the chart's geometry.
//!
//! Each execution's state follows its steps' events: a shutdown step that is requested or
//! accepted is *stopping*, confirmed is *stopped*, failed is back to *running* (the stop did not
//! happen); a restore step the other way round. A confirmed step reopened (verification found it
//! out of its target state, or a new cycle) is back in the state the operation starts from. A
//! bucket holds the time-weighted average count of each state over its span, so that a stop of a
//! few seconds still shows in a bucket of a minute, and the layers of a bucket add up to the
//! kind's executions.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::journal::{Event, Operation, RunRecord};
use crate::snapshot::Kind;

/// Buckets across the window.
pub const BUCKETS: usize = 120;

/// The states an execution goes through, bottom to top of a stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Running = 0,
    Stopping = 1,
    Stopped = 2,
    Starting = 3,
}

const STATES: [(&str, &str); 4] = [
    ("running", "running"),
    ("stopping", "stopping"),
    ("stopped", "stopped"),
    ("starting", "starting"),
];

/// Milliseconds since the Unix epoch of an RFC 3339 time.
pub fn millis(rfc3339: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(rfc3339, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// A time as the page shows it: `2026-12-06 12:10:36 UTC`.
pub fn show_time(ms: i64) -> String {
    let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return ms.to_string();
    };
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A duration as the page shows it: `250 ms`, `4.5 s`, `45 s`, `12 min 3 s`, `2 h 5 min`.
pub fn show_duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 10_000 {
        return match ms {
            0..=999 => format!("{ms} ms"),
            _ => format!("{:.1} s", ms as f64 / 1000.0),
        };
    }
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// The window aggregated into buckets.
#[derive(Clone, Debug)]
pub struct Aggregate {
    pub start_ms: i64,
    pub end_ms: i64,
    /// Per kind (in the registry's order): the average count of each state per bucket, and
    /// the kind's executions.
    pub kinds: Vec<(Kind, Vec<[f64; 4]>, usize)>,
    /// Per kind: steps that became `Failed`, per bucket.
    pub failures: BTreeMap<Kind, BTreeMap<usize, usize>>,
    /// Between the end of a cycle's shutdown and the first start of its restore: the upgrade.
    pub gaps: Vec<(i64, i64)>,
    /// Per kind and bucket: the first names of the executions whose step failed there.
    pub failed_names: BTreeMap<(Kind, usize), Vec<String>>,
    /// Each run that began inside the window: id, operation, start.
    pub runs: Vec<(u64, Operation, i64)>,
}

/// Names a failure pin's title gives at most; the rest are counted.
const PIN_NAMES: usize = 5;

impl Aggregate {
    fn bucket_ms(&self) -> f64 {
        (self.end_ms - self.start_ms) as f64 / BUCKETS as f64
    }

    fn bucket_of(&self, ms: i64) -> usize {
        let b = ((ms - self.start_ms) as f64 / self.bucket_ms()).floor();
        (b.max(0.0) as usize).min(BUCKETS - 1)
    }
}

/// The state an event leaves its execution in, given the one it was in.
fn state_after(op: Operation, from: &str, to: &str, was: State) -> State {
    let (source, moving, target) = match op {
        Operation::Shutdown => (State::Running, State::Stopping, State::Stopped),
        Operation::Restore => (State::Stopped, State::Starting, State::Running),
    };
    if to.starts_with("Requested") || to.starts_with("Accepted") {
        moving
    } else if to.starts_with("Confirmed") {
        target
    } else if to.starts_with("Failed")
        || (to.starts_with("Pending") && from.starts_with("Confirmed"))
    {
        // A failed step did not move its execution; a reopened one is back where it started.
        source
    } else {
        was
    }
}

/// Aggregates the events into buckets from the first shutdown request to the last restore
/// confirmation (or the last event, when no restore confirmed anything yet). `None` when no
/// event has a readable time.
pub fn aggregate(events: &[Event], runs: &[RunRecord]) -> Option<Aggregate> {
    let timed: Vec<(i64, &Event)> = events
        .iter()
        .filter_map(|e| millis(&e.time).map(|t| (t, e)))
        .collect();
    let (start_ms, end_ms) = window_of(&timed)?;
    let Executions {
        mut state,
        totals,
        mut counts,
    } = executions(&timed);
    let mut agg = Aggregate {
        start_ms,
        end_ms,
        kinds: Kind::EVERY
            .iter()
            .filter_map(|k| totals.get(k).map(|n| (*k, vec![[0.0; 4]; BUCKETS], *n)))
            .collect(),
        failures: BTreeMap::new(),
        gaps: gaps(&timed, runs),
        failed_names: BTreeMap::new(),
        runs: runs_in_window(runs, start_ms, end_ms),
    };
    let mut cursor = i64::MIN;
    for (t, e) in &timed {
        if cursor != i64::MIN && *t > cursor {
            agg.accrue(&counts, cursor, *t);
        }
        cursor = cursor.max(*t);
        let key = (e.kind, e.execution.as_str());
        let was = state[&key];
        let now = state_after(e.op, &e.from, &e.to, was);
        if now != was {
            let c = counts.entry(e.kind).or_default();
            c[was as usize] -= 1;
            c[now as usize] += 1;
            state.insert(key, now);
        }
        if e.to.starts_with("Failed") && (start_ms..=end_ms).contains(t) {
            agg.pin_failure(e, *t);
        }
    }
    agg.accrue(&counts, cursor, end_ms);
    agg.fill_each_bucket();
    Some(agg)
}

/// From the first shutdown request (or the first event) to the last restore confirmation
/// after it (or the last event), a second at least.
fn window_of(timed: &[(i64, &Event)]) -> Option<(i64, i64)> {
    let first = timed.first()?.0;
    let last = timed.iter().map(|(t, _)| *t).max()?;
    let start_ms = timed
        .iter()
        .find(|(_, e)| e.op == Operation::Shutdown && e.to.starts_with("Requested"))
        .map_or(first, |(t, _)| *t);
    let end_ms = timed
        .iter()
        .filter(|(_, e)| e.op == Operation::Restore && e.to.starts_with("Confirmed"))
        .map(|(t, _)| *t)
        .max()
        .filter(|t| *t > start_ms)
        .unwrap_or(last)
        .max(start_ms + 1000);
    Some((start_ms, end_ms))
}

/// Every execution the events name, in the state it starts in, and how many there are per
/// kind and state.
struct Executions<'a> {
    state: HashMap<(Kind, &'a str), State>,
    totals: BTreeMap<Kind, usize>,
    counts: BTreeMap<Kind, [i64; 4]>,
}

fn executions<'a>(timed: &[(i64, &'a Event)]) -> Executions<'a> {
    let mut state: HashMap<(Kind, &str), State> = HashMap::new();
    let mut totals: BTreeMap<Kind, usize> = BTreeMap::new();
    let mut counts: BTreeMap<Kind, [i64; 4]> = BTreeMap::new();
    for (_, e) in timed {
        state
            .entry((e.kind, e.execution.as_str()))
            .or_insert_with(|| {
                *totals.entry(e.kind).or_default() += 1;
                let s = match e.op {
                    Operation::Shutdown => State::Running,
                    Operation::Restore => State::Stopped,
                };
                counts.entry(e.kind).or_default()[s as usize] += 1;
                s
            });
    }
    Executions {
        state,
        totals,
        counts,
    }
}

impl Aggregate {
    /// Adds the counts in force over [from, to) to the buckets that span it.
    fn accrue(&mut self, counts: &BTreeMap<Kind, [i64; 4]>, from: i64, to: i64) {
        let bucket_ms = self.bucket_ms();
        let (mut a, b) = (from.max(self.start_ms), to.min(self.end_ms));
        while a < b {
            let i = self.bucket_of(a);
            let edge = if i + 1 == BUCKETS {
                b
            } else {
                (self.start_ms as f64 + (i + 1) as f64 * bucket_ms).ceil() as i64
            };
            let until = edge.min(b).max(a + 1);
            let weight = (until - a) as f64 / bucket_ms;
            for (kind, c) in counts {
                let Some((_, buckets, _)) = self.kinds.iter_mut().find(|(k, _, _)| k == kind)
                else {
                    continue;
                };
                let row = &mut buckets[i];
                for s in 0..4 {
                    row[s] += c[s] as f64 * weight;
                }
            }
            a = until;
        }
    }

    /// Counts a step that failed at `t` on its kind's pin, and names it while there is room.
    fn pin_failure(&mut self, e: &Event, t: i64) {
        let b = self.bucket_of(t);
        *self
            .failures
            .entry(e.kind)
            .or_default()
            .entry(b)
            .or_default() += 1;
        let names = self.failed_names.entry((e.kind, b)).or_default();
        if names.len() < PIN_NAMES {
            names.push(e.name.clone());
        }
    }

    /// Scales each bucket's layers to add up to the kind's executions exactly, whatever the
    /// rounding of its edges, so the stack's top is a straight line.
    fn fill_each_bucket(&mut self) {
        for (_, buckets, total) in &mut self.kinds {
            for row in buckets.iter_mut() {
                let sum: f64 = row.iter().sum();
                if sum > 0.0 {
                    row.iter_mut().for_each(|v| *v *= *total as f64 / sum);
                }
            }
        }
    }
}

/// The runs that began inside the window, and the last one that began before it (the run
/// that sent the first request: it listed the deployment first).
fn runs_in_window(runs: &[RunRecord], start_ms: i64, end_ms: i64) -> Vec<(u64, Operation, i64)> {
    let started: Vec<(u64, Operation, i64)> = runs
        .iter()
        .filter_map(|r| Some((r.id, r.op, millis(&r.started_at)?)))
        .filter(|(_, _, t)| *t <= end_ms)
        .collect();
    let before = started.iter().rposition(|(_, _, t)| *t < start_ms);
    started
        .into_iter()
        .enumerate()
        .filter(|(i, (_, _, t))| *t >= start_ms || Some(*i) == before)
        .map(|(_, run)| run)
        .collect()
}

/// Per cycle: from the last event of its shutdown runs to the first request of its restore.
fn gaps(timed: &[(i64, &Event)], runs: &[RunRecord]) -> Vec<(i64, i64)> {
    let cycle_of: HashMap<u64, u32> = runs.iter().map(|r| (r.id, r.cycle)).collect();
    let mut by_cycle: BTreeMap<u32, (Option<i64>, Option<i64>)> = BTreeMap::new();
    for (t, e) in timed {
        let cycle = cycle_of.get(&e.run).copied().unwrap_or(1);
        let entry = by_cycle.entry(cycle).or_default();
        match e.op {
            Operation::Shutdown => entry.0 = Some(entry.0.map_or(*t, |x: i64| x.max(*t))),
            Operation::Restore if e.to.starts_with("Requested") => {
                entry.1 = Some(entry.1.map_or(*t, |x: i64| x.min(*t)));
            }
            Operation::Restore => {}
        }
    }
    by_cycle
        .values()
        .filter_map(|(down, up)| match (down, up) {
            (Some(d), Some(u)) if u > d => Some((*d, *u)),
            _ => None,
        })
        .collect()
}

/// The chart as numbers and short labels; the template draws it. Nothing here comes from a
/// user except through the template's escaping.
#[derive(Clone, Debug, Serialize)]
pub struct Chart {
    pub width: u32,
    pub height: u32,
    pub plot_left: u32,
    pub plot_width: u32,
    pub plot_bottom: u32,
    pub start: String,
    pub end: String,
    pub span: String,
    pub bucket: String,
    pub bands: Vec<Band>,
    pub gaps: Vec<GapMark>,
    pub ticks: Vec<Tick>,
    pub legend: Vec<LegendItem>,
    /// Where each run began: an interrupted and resumed window shows as two runs.
    pub runs: Vec<RunMark>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RunMark {
    pub x: String,
    pub label: String,
    pub title: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Band {
    pub kind: &'static str,
    pub executions: usize,
    pub top: u32,
    pub height: u32,
    pub baseline: u32,
    pub label_y: u32,
    pub layers: Vec<Layer>,
    pub failures: Vec<FailureMark>,
    pub failed: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Layer {
    pub state: &'static str,
    pub class: &'static str,
    /// An SVG path of numbers and the letters M, L, Z only.
    pub d: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct FailureMark {
    pub x: String,
    pub y: u32,
    pub count: usize,
    pub title: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct GapMark {
    pub x: String,
    pub width: String,
    pub label_x: String,
    pub label: String,
    pub title: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Tick {
    pub x: String,
    pub label: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct LegendItem {
    pub x: u32,
    pub class: &'static str,
    pub label: &'static str,
}

const WIDTH: u32 = 960;
const PLOT_LEFT: u32 = 150;
const PLOT_RIGHT: u32 = 16;
const PLOT_WIDTH: u32 = WIDTH - PLOT_LEFT - PLOT_RIGHT;
const TOP: u32 = 34;
const BAND: u32 = 56;
const BAND_GAP: u32 = 14;
const AXIS: u32 = 34;

fn num(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

/// Where a time falls across the plot.
fn x_of(agg: &Aggregate, ms: i64) -> f64 {
    let span = (agg.end_ms - agg.start_ms).max(1) as f64;
    PLOT_LEFT as f64 + (ms - agg.start_ms) as f64 / span * PLOT_WIDTH as f64
}

/// A bucket's width on the plot.
const BUCKET_STEP: f64 = PLOT_WIDTH as f64 / BUCKETS as f64;

/// The middle of a bucket on the plot.
fn bucket_x(i: usize) -> f64 {
    PLOT_LEFT as f64 + (i as f64 + 0.5) * BUCKET_STEP
}

impl Chart {
    pub fn layout(agg: &Aggregate) -> Chart {
        let bands = agg
            .kinds
            .iter()
            .enumerate()
            .map(|(n, (kind, buckets, executions))| band(agg, n, *kind, buckets, *executions))
            .collect();
        let plot_bottom = TOP + (agg.kinds.len() as u32).max(1) * (BAND + BAND_GAP) - BAND_GAP;
        let ticks = even_ticks(agg.start_ms, agg.end_ms)
            .into_iter()
            .map(|(ms, label)| Tick {
                x: num(x_of(agg, ms)),
                label,
            })
            .collect();
        let run_marks = agg
            .runs
            .iter()
            .map(|(id, op, t)| RunMark {
                x: num(x_of(agg, (*t).max(agg.start_ms))),
                label: format!("run {id}: {op}"),
                title: format!("run {id}, {op}, began {}", show_time(*t)),
            })
            .collect();
        let legend = STATES
            .iter()
            .enumerate()
            .map(|(i, (label, class))| LegendItem {
                x: PLOT_LEFT + i as u32 * 110,
                class,
                label,
            })
            .collect();
        Chart {
            width: WIDTH,
            height: plot_bottom + AXIS,
            plot_left: PLOT_LEFT,
            plot_width: PLOT_WIDTH,
            plot_bottom,
            start: show_time(agg.start_ms),
            end: show_time(agg.end_ms),
            span: show_duration(agg.end_ms - agg.start_ms),
            bucket: show_duration(agg.bucket_ms().round() as i64),
            bands,
            gaps: agg
                .gaps
                .iter()
                .map(|(a, b)| gap_mark(agg, *a, *b))
                .collect(),
            ticks,
            legend,
            runs: run_marks,
        }
    }
}

/// The `n`th kind's band: its stacked states and its failure pins.
fn band(agg: &Aggregate, n: usize, kind: Kind, buckets: &[[f64; 4]], executions: usize) -> Band {
    let top = TOP + n as u32 * (BAND + BAND_GAP);
    let baseline = top + BAND;
    let marks = agg.failures.get(&kind);
    let failures = marks
        .into_iter()
        .flatten()
        .map(|(b, count)| FailureMark {
            x: num(bucket_x(*b)),
            y: top,
            count: *count,
            title: failure_title(agg, kind, *b, *count),
        })
        .collect();
    Band {
        kind: kind.label(),
        executions,
        top,
        height: BAND,
        baseline,
        label_y: top + BAND / 2 + 4,
        failed: marks.map_or(0, |m| m.values().sum()),
        layers: layers(buckets, baseline, executions),
        failures,
    }
}

/// A band's states stacked from its baseline, leaving out a state no bucket shows.
fn layers(buckets: &[[f64; 4]], baseline: u32, executions: usize) -> Vec<Layer> {
    let scale = BAND as f64 / executions.max(1) as f64;
    let mut below = vec![0.0f64; BUCKETS];
    let mut layers = Vec::new();
    for (s, (state, class)) in STATES.iter().enumerate() {
        let above: Vec<f64> = below
            .iter()
            .zip(buckets)
            .map(|(b, row)| b + row[s])
            .collect();
        if buckets.iter().any(|row| row[s] > 0.004) {
            layers.push(Layer {
                state,
                class,
                d: area(
                    &below,
                    &above,
                    baseline as f64,
                    scale,
                    PLOT_LEFT as f64,
                    BUCKET_STEP,
                ),
            });
        }
        below = above;
    }
    layers
}

/// A failure pin's title: how many steps failed around when, and the first names.
fn failure_title(agg: &Aggregate, kind: Kind, bucket: usize, count: usize) -> String {
    let names = agg
        .failed_names
        .get(&(kind, bucket))
        .map(|n| n.join(", "))
        .unwrap_or_default();
    let more = count.saturating_sub(PIN_NAMES);
    format!(
        "{count} {} failed around {}: {names}{}",
        if count == 1 { "step" } else { "steps" },
        show_time(agg.start_ms + ((bucket as f64 + 0.5) * agg.bucket_ms()) as i64),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )
}

/// The upgrade gap from `a` to `b`, shaded.
fn gap_mark(agg: &Aggregate, a: i64, b: i64) -> GapMark {
    let (x0, x1) = (x_of(agg, a), x_of(agg, b));
    let label = format!("upgrade gap {}", show_duration(b - a));
    GapMark {
        x: num(x0),
        width: num((x1 - x0).max(1.0)),
        label_x: num(label_centre((x0 + x1) / 2.0, &label)),
        label,
        title: format!(
            "from the end of the shutdown, {}, to the first start of the restore, {}",
            show_time(a),
            show_time(b)
        ),
    }
}

/// Where a centred label under the plot goes: over its mark, but never so near an edge that
/// part of it falls outside the chart (a gap that ends with the window, a restore of seconds).
fn label_centre(x: f64, label: &str) -> f64 {
    // 11 px bold text is about 6.5 px a character wide; half of it, and a little room.
    let half = label.chars().count() as f64 * 3.3 + 4.0;
    x.clamp(
        (PLOT_LEFT as f64 + half).min(WIDTH as f64 / 2.0),
        (WIDTH as f64 - half).max(WIDTH as f64 / 2.0),
    )
}

/// Tick times at a round step (1 s, 2 s, 5 s, ... 1 min, 2 min, 5 min, ... 1 h, ...) that gives
/// at most six ticks across the window, labelled `15:04:20` (or `15:04` from a minute up).
fn even_ticks(start_ms: i64, end_ms: i64) -> Vec<(i64, String)> {
    const STEPS_S: [i64; 15] = [
        1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600,
    ];
    let span = (end_ms - start_ms).max(1);
    let step_ms = STEPS_S
        .iter()
        .map(|s| s * 1000)
        .find(|step| span / step <= 6)
        .unwrap_or(43_200_000);
    let first = start_ms.div_euclid(step_ms) * step_ms
        + if start_ms.rem_euclid(step_ms) == 0 {
            0
        } else {
            step_ms
        };
    (0..)
        .map(|i| first + i * step_ms)
        .take_while(|ms| *ms <= end_ms)
        .map(|ms| {
            let time = show_time(ms);
            let clock = time.split(' ').nth(1).unwrap_or_default();
            let label = if step_ms >= 60_000 {
                clock.get(..5).unwrap_or(clock)
            } else {
                clock
            };
            (ms, label.to_owned())
        })
        .collect()
}

/// A closed area between two lines of bucket values, drawn as steps one bucket wide. Only the
/// steps where a line changes get points, so a quiet stretch costs nothing.
fn area(below: &[f64], above: &[f64], baseline: f64, scale: f64, left: f64, step: f64) -> String {
    let y = |v: f64| num(baseline - v * scale);
    let x = |i: usize| num(left + i as f64 * step);
    let mut d = String::new();
    // The upper line, left to right.
    let top: Vec<String> = above.iter().map(|v| y(*v)).collect();
    d.push_str(&format!("M{} {}", x(0), top[0]));
    for i in 1..top.len() {
        if top[i] != top[i - 1] {
            d.push_str(&format!("L{} {}L{} {}", x(i), top[i - 1], x(i), top[i]));
        }
    }
    let n = top.len();
    d.push_str(&format!("L{} {}", x(n), top[n - 1]));
    // The lower line, right to left.
    let bottom: Vec<String> = below.iter().map(|v| y(*v)).collect();
    d.push_str(&format!("L{} {}", x(n), bottom[n - 1]));
    for i in (1..n).rev() {
        if bottom[i] != bottom[i - 1] {
            d.push_str(&format!(
                "L{} {}L{} {}",
                x(i),
                bottom[i],
                x(i),
                bottom[i - 1]
            ));
        }
    }
    d.push_str(&format!("L{} {}Z", x(0), bottom[0]));
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, time: &str, op: Operation, id: &str, from: &str, to: &str) -> Event {
        Event {
            seq,
            time: time.into(),
            run: if op == Operation::Shutdown { 1 } else { 2 },
            op,
            kind: Kind::App,
            execution: id.into(),
            name: id.into(),
            owner: "o".into(),
            from: from.into(),
            to: to.into(),
            attempt: 1,
            http_status: None,
            message: None,
            prev_sha256: None,
            sha256: None,
        }
    }

    #[test]
    fn a_gap_label_at_an_edge_stays_inside_the_chart() {
        let label = "upgrade gap 41m 20s";
        let half = label.chars().count() as f64 * 3.3;
        for x in [
            PLOT_LEFT as f64,
            500.0,
            WIDTH as f64 - 1.0,
            WIDTH as f64 + 50.0,
        ] {
            let centre = label_centre(x, label);
            assert!(
                centre - half >= 0.0 && centre + half <= WIDTH as f64,
                "{x} -> {centre}"
            );
        }
        assert_eq!(
            label_centre(500.0, label),
            500.0,
            "a label with room stays over its mark"
        );
    }

    #[test]
    fn layers_add_up_to_the_executions_and_follow_the_steps() {
        use Operation::*;
        let events = vec![
            event(1, "2026-01-01T00:00:00Z", Shutdown, "a", "-", "Pending"),
            event(2, "2026-01-01T00:00:00Z", Shutdown, "b", "-", "Pending"),
            event(
                3,
                "2026-01-01T00:00:00Z",
                Shutdown,
                "a",
                "Pending",
                "Requested",
            ),
            event(
                4,
                "2026-01-01T00:00:00Z",
                Shutdown,
                "b",
                "Pending",
                "Requested",
            ),
            event(
                5,
                "2026-01-01T00:01:00Z",
                Shutdown,
                "a",
                "Requested",
                "Confirmed",
            ),
            event(
                6,
                "2026-01-01T00:01:00Z",
                Shutdown,
                "b",
                "Requested",
                "Failed(x)",
            ),
            event(7, "2026-01-01T00:10:00Z", Restore, "a", "-", "Pending"),
            event(
                8,
                "2026-01-01T00:10:00Z",
                Restore,
                "a",
                "Pending",
                "Requested",
            ),
            event(
                9,
                "2026-01-01T00:12:00Z",
                Restore,
                "a",
                "Requested",
                "Confirmed",
            ),
        ];
        let agg = aggregate(&events, &[]).unwrap();
        assert_eq!(agg.end_ms - agg.start_ms, 12 * 60 * 1000);
        let (_, buckets, total) = &agg.kinds[0];
        assert_eq!(*total, 2);
        for row in buckets {
            let sum: f64 = row.iter().sum();
            assert!((sum - 2.0).abs() < 1e-6, "{row:?}");
        }
        // The first bucket (0 to 6 s): both stopping. Mid-gap: one stopped, one running (its stop
        // failed). The last: both running.
        assert!((buckets[0][State::Stopping as usize] - 2.0).abs() < 1e-6);
        let mid = &buckets[60];
        assert!((mid[State::Stopped as usize] - 1.0).abs() < 1e-6, "{mid:?}");
        assert!((mid[State::Running as usize] - 1.0).abs() < 1e-6, "{mid:?}");
        assert!((buckets[119][State::Starting as usize] - 1.0).abs() < 1e-6);
        assert_eq!(agg.failures[&Kind::App].values().sum::<usize>(), 1);
    }

    #[test]
    fn an_area_path_holds_only_numbers_and_commands() {
        let d = area(&[0.0; 3], &[1.0, 2.0, 0.5], 100.0, 10.0, 0.0, 5.0);
        assert!(
            d.chars()
                .all(|c| c.is_ascii_digit() || " .MLZ-".contains(c)),
            "{d}"
        );
    }
}

#[cfg(test)]
mod tick_tests {
    use super::*;

    #[test]
    fn ticks_fall_on_round_times() {
        // 12:00:07 to 12:04:50: every minute, labelled to the minute.
        let start = millis("2026-12-06T12:00:07Z").unwrap();
        let end = millis("2026-12-06T12:04:50Z").unwrap();
        let ticks = even_ticks(start, end);
        let labels: Vec<&str> = ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["12:01", "12:02", "12:03", "12:04"]);
        // 4.5 s from half a second past: every second, on the second.
        let ticks = even_ticks(start + 500, start + 5_000);
        assert_eq!(ticks.len(), 5);
        assert_eq!(ticks[0].1, "12:00:08");
        assert!(ticks.iter().all(|(ms, _)| ms % 1000 == 0));
    }
}
