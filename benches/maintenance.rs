//! The benchmark of issue 7: snapshot, shutdown and restore of N executions against the
//! simulator, each phase compared with its lower bound.
//!
//! ```text
//! cargo bench --bench maintenance                          # N = 100, 1000, 10000
//! DMM_BENCH_SIZES=100,1000 cargo bench --bench maintenance # a quicker run
//! DMM_BENCH_PACE_SIZES=1000,10000 cargo bench --bench maintenance # pace rows at 10,000 too
//! DMM_BENCH_STDERR=/tmp/dmm.log DMM_BENCH_RUST_LOG=dmm=debug cargo bench --bench maintenance # keep dmm's log
//! ```
//!
//! After the rows above (fixed, generous limits), the pace rows (`support/pace.rs`) run
//! shutdown and restore with the default flags, against the simulator unlimited and then with a
//! capacity of 100 requests per second: N = 1,000 by default (`DMM_BENCH_PACE_SIZES`).
//!
//! Design: the simulator runs in this process on its own thread and runtime
//! (`domino_sim::spawn`); each phase runs the real `dmm` binary (built by Cargo for the bench, the
//! same profile) as a child process, exactly as an administrator would. So the wall time is what
//! a user waits for (process start, journal, verification included), and the peak resident
//! memory is dmm's alone (`wait4`'s `ru_maxrss`), never the simulator's. Requests are counted by
//! the simulator's request log; the moment dmm logs `verifying:` splits each run into its steps
//! and its verification pass.
//!
//! Each row prints: wall time; the steps' time (until verification began); the lower bound
//! (`support/bound.rs`); both ratios; requests sent, per execution acted on; the requests to
//! the Job routes per batch Job acted on; peak RSS; the journal's size. Then a JSON line per row,
//! and the requests per route. The restore restarts the Jobs the shutdown stopped
//! (`--restart-jobs`).
//!
//! Then the earlier tool's scenario (`support/earlier.rs`: 200 generated, 152 running, 1 s
//! transitions, default flags, 5 runs; `DMM_BENCH_EARLIER_RUNS=0` skips it), against the
//! earlier tool's own times there.
//!
//! After each size's restore, `dmm report` turns that journal into its page (HTML, then
//! Markdown): the page's size and the time to make it are printed, never asserted.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dmm::snapshot::Kind;
use domino_sim::{RequestLog, SimHandle, spawn};
use serde_json::json;
use support::bound::{self, Bound, Counts, Limits};
use support::child::{Outcome, run_dmm};
use support::deployment::{Mix, TIMING, VERSIONS_PER_MODEL, sim_config};

const DEFAULT_SIZES: [usize; 3] = [100, 1_000, 10_000];
const SEED: u64 = 7;
/// Given to `dmm shutdown/restore` explicitly, and to the bound.
const CONCURRENCY: usize = 64;
const RATE_LIMIT: f64 = 1_000.0;
const GRACE_S: u64 = 600;
/// `dmm snapshot`'s page sizes (its defaults, given explicitly).
const WORKSPACES_PAGE: usize = 50;
const MODELS_PAGE: usize = 10;

struct Row {
    n: usize,
    phase: &'static str,
    wall: Duration,
    /// Until verification began (the whole run for a snapshot).
    steps: Duration,
    bound: Bound,
    requests: u64,
    steps_requests: u64,
    peak_rss_kib: u64,
    journal_bytes: Option<u64>,
    snapshot_bytes: u64,
    /// Requests per route: (during the steps, during verification).
    routes: BTreeMap<String, (u64, u64)>,
    marks: Vec<(Duration, String)>,
    cpu: Duration,
    /// Per kind: stops/starts sent, and when the first and last were sent (since dmm started).
    mutations: BTreeMap<String, (usize, f64, f64)>,
    /// Batch Jobs the phase acts on (stops, restarts) and the requests to the Job routes
    /// (`/v4/jobs...`, and who the caller is, which restarts need).
    batch_jobs: usize,
    job_requests: u64,
}

impl Row {
    fn ratio(&self) -> f64 {
        self.wall.as_secs_f64() / self.bound.seconds
    }

    fn steps_ratio(&self) -> f64 {
        self.steps.as_secs_f64() / self.bound.seconds
    }

    fn per_execution(&self, requests: u64) -> f64 {
        requests as f64 / self.bound.executions.max(1) as f64
    }

    fn per_job(&self) -> Option<f64> {
        (self.batch_jobs > 0).then(|| self.job_requests as f64 / self.batch_jobs as f64)
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "bench": "maintenance",
            "n": self.n,
            "phase": self.phase,
            "wall_s": round3(self.wall.as_secs_f64()),
            "steps_s": round3(self.steps.as_secs_f64()),
            "bound_s": round3(self.bound.seconds),
            "ratio": round3(self.ratio()),
            "steps_ratio": round3(self.steps_ratio()),
            "executions": self.bound.executions,
            "requests": self.requests,
            "steps_requests": self.steps_requests,
            "necessary_requests": self.bound.necessary_requests,
            "requests_per_execution": round3(self.per_execution(self.requests)),
            "steps_requests_per_execution": round3(self.per_execution(self.steps_requests)),
            "batch_jobs": self.batch_jobs,
            "job_requests": self.job_requests,
            "requests_per_job": self.per_job().map(round3),
            "peak_rss_kib": self.peak_rss_kib,
            "cpu_s": round3(self.cpu.as_secs_f64()),
            "journal_bytes": self.journal_bytes,
            "snapshot_bytes": self.snapshot_bytes,
            "latency_ms": TIMING.latency_ms,
            "transition_ms": [TIMING.transition_ms, TIMING.transition_ms + TIMING.jitter_ms],
            "concurrency": CONCURRENCY,
            "rate_limit": if self.phase == "snapshot" { None } else { Some(RATE_LIMIT) },
        })
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn sizes() -> Vec<usize> {
    match std::env::var("DMM_BENCH_SIZES") {
        // Only the pace rows.
        Ok(s) if s.trim() == "none" => Vec::new(),
        Ok(s) if !s.trim().is_empty() => s
            .split(',')
            .map(|p| {
                p.trim()
                    .replace('_', "")
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .unwrap_or_else(|| {
                        panic!("DMM_BENCH_SIZES: '{p}' is not a positive number (e.g. 100,1000)")
                    })
            })
            .collect(),
        _ => DEFAULT_SIZES.to_vec(),
    }
}

/// The `dmm` this build made, or `DMM_BENCH_DMM` (another build's, to compare two versions
/// against the same simulator).
fn dmm_binary() -> PathBuf {
    let path = std::env::var_os("DMM_BENCH_DMM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_dmm")));
    if !path.is_file() {
        eprintln!(
            "the dmm binary is missing at {}: run `cargo bench --bench maintenance` (Cargo builds it), or `cargo build --release --bins` first",
            path.display()
        );
        std::process::exit(2);
    }
    path
}

fn main() {
    // `cargo bench` passes `--bench`; a filter or `--list` from a harness-style caller is ignored.
    if std::env::args().any(|a| a == "--list") {
        println!("maintenance: bench");
        return;
    }
    let dmm = dmm_binary();
    let sizes = sizes();
    eprintln!(
        "maintenance bench: N = {sizes:?}; latency {} ms, transitions {}..{} ms; dmm {}; concurrency {CONCURRENCY}, rate limit {RATE_LIMIT}/s",
        TIMING.latency_ms,
        TIMING.transition_ms,
        TIMING.transition_ms + TIMING.jitter_ms,
        dmm.display()
    );
    let mut rows = Vec::new();
    let mut reports = Vec::new();
    for n in sizes {
        rows.extend(bench_size(&dmm, n, &mut reports));
    }
    let mut pace_rows = Vec::new();
    for n in support::pace::sizes() {
        pace_rows.extend(support::pace::bench(&dmm, n, SEED, |mix, file| {
            let loaded = dmm::snapshot::read(file).expect("the snapshot is readable");
            // Default flags: a restore does not start the stopped Jobs again.
            Counts {
                restarted_jobs: 0,
                ..counts_of(mix, &loaded.snapshot)
            }
        }));
    }
    let earlier_rows = support::earlier::bench(&dmm);
    print_table(&rows);
    print_routes(&rows);
    print_reports(&reports);
    support::pace::print_table(&pace_rows);
    support::pace::print_compared(&pace_rows);
    support::earlier::print(&earlier_rows);
}

/// `dmm report` of one size's journal after its full cycle.
struct ReportRow {
    n: usize,
    events: usize,
    /// Per format: bytes written and the command's wall time.
    html: (u64, Duration),
    markdown: (u64, Duration),
}

fn bench_report(dmm: &Path, n: usize, file: &Path, journal: &Path) -> ReportRow {
    let events = dmm::journal::JournalReader::open(journal)
        .and_then(|r| dmm::journal::JournalRead::events(&r))
        .map_or(0, |e| e.len());
    let one = |format: &str| {
        let out_path = file.with_extension(format!("report.{format}"));
        let started = std::time::Instant::now();
        let out = std::process::Command::new(dmm)
            .arg("report")
            .arg(file)
            .args(["--format", format, "--output"])
            .arg(&out_path)
            .env("NO_COLOR", "1")
            .output()
            .expect("dmm report runs");
        let took = started.elapsed();
        assert!(
            out.status.success(),
            "dmm report: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bytes = std::fs::metadata(&out_path).map_or(0, |m| m.len());
        eprintln!(
            "N = {n}: report ({format}) {} in {took:.2?}",
            human_bytes(bytes)
        );
        (bytes, took)
    };
    let html = one("html");
    let markdown = one("markdown");
    let row = ReportRow {
        n,
        events,
        html,
        markdown,
    };
    println!(
        "{}",
        json!({"n": n, "phase": "report", "events": events,
            "html_bytes": html.0, "html_s": round3(html.1.as_secs_f64()),
            "markdown_bytes": markdown.0, "markdown_s": round3(markdown.1.as_secs_f64())})
    );
    row
}

fn print_reports(rows: &[ReportRow]) {
    if rows.is_empty() {
        return;
    }
    println!();
    println!(
        "dmm report of each journal after its full cycle (the page's size and the command's wall time):"
    );
    println!(
        "{:>8} {:>8} {:>12} {:>9} {:>12} {:>9}",
        "N", "events", "HTML", "time", "Markdown", "time"
    );
    for r in rows {
        println!(
            "{:>8} {:>8} {:>12} {:>8.2}s {:>12} {:>8.2}s",
            r.n,
            r.events,
            human_bytes(r.html.0),
            r.html.1.as_secs_f64(),
            human_bytes(r.markdown.0),
            r.markdown.1.as_secs_f64()
        );
    }
}

fn bench_size(dmm: &Path, n: usize, reports: &mut Vec<ReportRow>) -> Vec<Row> {
    let mix = Mix::for_size(n);
    let sim = spawn(sim_config(&mix, SEED)).expect("the simulator starts");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("maintenance.json");
    let journal = dir.path().join("maintenance.json.journal");
    let file_arg = file.display().to_string();
    let mut rows = Vec::new();

    let snapshot_args = vec![
        "snapshot".to_string(),
        file_arg.clone(),
        "--concurrency".into(),
        CONCURRENCY.to_string(),
        "--workspaces-page-size".into(),
        WORKSPACES_PAGE.to_string(),
        "--models-page-size".into(),
        MODELS_PAGE.to_string(),
    ];
    let snapshot_run = phase(&sim, dmm, n, "snapshot", &snapshot_args);
    let loaded = dmm::snapshot::read(&file).expect("the snapshot is readable");
    let counts = counts_of(&mix, &loaded.snapshot);
    if loaded.snapshot.len() != mix.executions() {
        eprintln!(
            "warning: the snapshot holds {} executions, the deployment runs {}",
            loaded.snapshot.len(),
            mix.executions()
        );
    }
    let snapshot_bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    let limits = Limits {
        concurrency: CONCURRENCY,
        rate: None,
        workspaces_page_size: WORKSPACES_PAGE,
        models_page_size: MODELS_PAGE,
    };
    rows.push(row(
        n,
        "snapshot",
        snapshot_run,
        bound::snapshot(&TIMING, &limits, &counts),
        None,
        snapshot_bytes,
        0,
    ));

    let run_limits = Limits {
        rate: Some(RATE_LIMIT),
        ..limits
    };
    for (name, make_bound) in [
        (
            "shutdown",
            bound::shutdown as fn(&_, &Limits, &Counts) -> Bound,
        ),
        ("restore", bound::restore),
    ] {
        let mut args = vec![
            name.to_string(),
            file_arg.clone(),
            "--yes".into(),
            "-g".into(),
            GRACE_S.to_string(),
            "--concurrency".into(),
            CONCURRENCY.to_string(),
            "--rate-limit".into(),
            RATE_LIMIT.to_string(),
        ];
        let batch_jobs = match name {
            "shutdown" => counts.batch_jobs,
            _ => {
                args.push("--restart-jobs".into());
                counts.restarted_jobs
            }
        };
        let run = phase(&sim, dmm, n, name, &args);
        let journal_bytes = std::fs::metadata(&journal).map(|m| m.len()).ok();
        rows.push(row(
            n,
            name,
            run,
            make_bound(&TIMING, &run_limits, &counts),
            journal_bytes,
            snapshot_bytes,
            batch_jobs,
        ));
    }
    reports.push(bench_report(dmm, n, &file, &journal));
    sim.shutdown();
    rows
}

/// One command, with the simulator's counters reset first; the JSON line is printed at once.
fn phase(
    sim: &SimHandle,
    dmm: &Path,
    n: usize,
    name: &str,
    args: &[String],
) -> (Outcome, RequestLog, u64) {
    eprintln!("N = {n}: {name} ...");
    sim.reset_counters();
    let started_ms = sim.state().now_ms;
    let outcome = run_dmm(dmm, sim, args);
    let log = sim.requests();
    eprintln!("N = {n}: {name} took {:.2?}", outcome.wall);
    (outcome, log, started_ms)
}

fn row(
    n: usize,
    phase: &'static str,
    (outcome, log, started_ms): (Outcome, RequestLog, u64),
    bound: Bound,
    journal_bytes: Option<u64>,
    snapshot_bytes: u64,
    batch_jobs: usize,
) -> Row {
    let (steps, at_verify) = match &outcome.verify_started {
        Some((at, log)) => (*at, Some(log)),
        None => (outcome.wall, None),
    };
    let mut routes: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (route, &count) in &log.by_route {
        let before = at_verify.map_or(count, |l| l.by_route.get(route).copied().unwrap_or(0));
        routes.insert(route.clone(), (before, count - before));
    }
    let mut mutations: BTreeMap<String, (usize, f64, f64)> = BTreeMap::new();
    for m in &log.mutations {
        let kind = m
            .kind
            .map_or("other".to_string(), |k| k.label().to_string());
        let at = m.at_ms.saturating_sub(started_ms) as f64 / 1000.0;
        let e = mutations.entry(kind).or_insert((0, at, at));
        e.0 += 1;
        e.1 = e.1.min(at);
        e.2 = e.2.max(at);
    }
    let job_requests = log
        .by_route
        .iter()
        .filter(|(route, _)| is_job_route(route))
        .map(|(_, n)| n)
        .sum();
    let r = Row {
        batch_jobs,
        job_requests,
        n,
        phase,
        wall: outcome.wall,
        steps,
        bound,
        requests: log.total,
        steps_requests: at_verify.map_or(log.total, |l| l.total),
        peak_rss_kib: outcome.peak_rss_kib,
        journal_bytes,
        snapshot_bytes,
        routes,
        marks: outcome
            .marks
            .iter()
            .map(|m| (m.at, m.line.clone()))
            .collect(),
        cpu: outcome.cpu,
        mutations,
    };
    println!("{}", r.json());
    r
}

/// The routes a batch Job's stop or restart costs: its own, and who the caller is (restarts are
/// told apart by it).
fn is_job_route(route: &str) -> bool {
    route.contains(" /v4/jobs") || route.ends_with(" /v4/auth/principal")
}

/// What the snapshot holds, plus what the deployment holds that a snapshot must read, and the
/// batch Jobs a shutdown stops and a restore with `--restart-jobs` starts again.
fn counts_of(mix: &Mix, snapshot: &dmm::snapshot::Snapshot) -> Counts {
    let app_projects: std::collections::HashSet<&str> = snapshot
        .entries(Kind::App)
        .iter()
        .filter_map(|e| e.id_str("projectId"))
        .collect();
    Counts {
        projects: mix.projects,
        apps: snapshot.entries(Kind::App).len(),
        model_versions: snapshot.entries(Kind::ModelApiVersion).len(),
        models: mix.models,
        versions_per_model: VERSIONS_PER_MODEL,
        workspaces: snapshot.entries(Kind::Workspace).len(),
        workspace_rows: mix.workspaces,
        jobs: snapshot.entries(Kind::ScheduledJob).len(),
        projects_with_apps: app_projects.len(),
        batch_jobs: mix.batch_jobs,
        projects_with_batch_jobs: mix.projects_with_batch_jobs(),
        restarted_jobs: mix.batch_jobs,
    }
}

fn print_table(rows: &[Row]) {
    if rows.is_empty() {
        return;
    }
    println!();
    println!(
        "{:>6} {:<8} {:>8} {:>8} {:>8} {:>6} {:>6} {:>6} {:>7} {:>8} {:>8} {:>7} {:>8} {:>10}",
        "N",
        "phase",
        "wall s",
        "steps s",
        "bound s",
        "ratio",
        "steps",
        "execs",
        "req",
        "req/exec",
        "steps/ex",
        "req/Job",
        "RSS MiB",
        "journal"
    );
    for r in rows {
        println!(
            "{:>6} {:<8} {:>8.2} {:>8.2} {:>8.2} {:>6.2} {:>6.2} {:>6} {:>7} {:>8.2} {:>8.2} {:>7} {:>8.1} {:>10}",
            r.n,
            r.phase,
            r.wall.as_secs_f64(),
            r.steps.as_secs_f64(),
            r.bound.seconds,
            r.ratio(),
            r.steps_ratio(),
            r.bound.executions,
            r.requests,
            r.per_execution(r.requests),
            r.per_execution(r.steps_requests),
            r.per_job().map_or("-".into(), |p| format!("{p:.2}")),
            r.peak_rss_kib as f64 / 1024.0,
            r.journal_bytes.map_or("-".into(), human_bytes),
        );
    }
    println!(
        "\nratio = wall / bound; steps = (time until verification began) / bound; execs = executions the phase acts on \
         (snapshot: recorded; restore: workspaces are not started; batch Jobs included); req/exec = all requests / execs, \
         steps/ex = requests before verification / execs; req/Job = requests to the Job routes (and the caller's identity) \
         / batch Jobs stopped or restarted; necessary requests per phase in the JSON lines."
    );
}

fn print_routes(rows: &[Row]) {
    for r in rows {
        println!(
            "\nN = {} {}: requests by route (steps + verification), per execution acted on ({}); necessary {}",
            r.n, r.phase, r.bound.executions, r.bound.necessary_requests
        );
        for (route, (steps, verify)) in &r.routes {
            println!(
                "  {:<72} {:>7} + {:>6}  ({:.2}/exec)",
                route,
                steps,
                verify,
                (steps + verify) as f64 / r.bound.executions.max(1) as f64
            );
        }
        println!(
            "  dmm CPU time {:.2}s over {:.2}s wall",
            r.cpu.as_secs_f64(),
            r.wall.as_secs_f64()
        );
        for (kind, (count, first, last)) in &r.mutations {
            println!("  {kind}: {count} stop/start request(s) sent from {first:.2}s to {last:.2}s");
        }
        for (at, line) in &r.marks {
            let text = line.split("INFO").last().unwrap_or(line).trim();
            println!("  at {:>7.2}s  {text}", at.as_secs_f64());
        }
    }
}

fn human_bytes(b: u64) -> String {
    if b >= 1 << 20 {
        format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.0} KiB", b as f64 / 1024.0)
    }
}
