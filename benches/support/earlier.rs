//! Side by side with the earlier tool: its own scenario (200 executions generated, 152 of them
//! running, transitions of 1 s, nothing else in the way), `dmm shutdown` and `dmm restore` with
//! their default flags, [`runs`] times each. The earlier tool cannot run here; its times in
//! that scenario were [`EARLIER_SHUTDOWN_S`] and [`EARLIER_RESTORE_S`], so the goal of 40× is a
//! bound of a 40th of each, in every run.
//!
//! `DMM_BENCH_EARLIER_RUNS` sets the runs (5 by default; 0 skips these rows).

use std::path::Path;
use std::time::Duration;

use domino_sim::{Faults, GenerateSpec, SimConfig, StartState, generate, spawn};

use super::child::run_dmm;

pub const EARLIER_SHUTDOWN_S: f64 = 166.0;
pub const EARLIER_RESTORE_S: f64 = 123.0;
const FASTER: f64 = 40.0;
const RUNNING: usize = 152;
const TRANSITION_MS: u64 = 1_000;

pub struct EarlierRow {
    pub phase: &'static str,
    pub wall: Duration,
    pub steps: Duration,
    pub requests: u64,
}

fn runs() -> usize {
    std::env::var("DMM_BENCH_EARLIER_RUNS")
        .ok()
        .and_then(|r| r.trim().parse().ok())
        .unwrap_or(5)
}

/// 200 generated (60 Apps, 50 Models of 2 versions, 50 Workspaces, 40 Scheduled Jobs over 20
/// projects, the generator's mix of states), with the first seed whose running (or starting)
/// executions are [`RUNNING`].
fn spec_and_seed() -> (GenerateSpec, u64) {
    let spec = GenerateSpec {
        projects: 20,
        apps: 60,
        models: 50,
        versions_per_model: 2,
        workspaces: 50,
        scheduled_jobs: 40,
        jobs: 0,
        rollout_in_progress: false,
    };
    let up = |s: &StartState| matches!(s, StartState::Running | StartState::Starting);
    let seed = (1..10_000u64)
        .find(|&seed| {
            let scenario = generate(&spec, seed);
            let running: usize = scenario
                .projects
                .iter()
                .map(|p| {
                    p.apps.iter().filter(|a| up(&a.state)).count()
                        + p.models
                            .iter()
                            .filter(|m| m.versions.last().is_some_and(up))
                            .count()
                        + p.workspaces.iter().filter(|w| up(&w.state)).count()
                        + p.scheduled_jobs.iter().filter(|j| !j.paused).count()
                })
                .sum();
            running == RUNNING
        })
        .expect("a seed with 152 running");
    (spec, seed)
}

pub fn bench(dmm: &Path) -> Vec<EarlierRow> {
    let runs = runs();
    if runs == 0 {
        return Vec::new();
    }
    let (spec, seed) = spec_and_seed();
    let config = SimConfig::default()
        .seed(seed)
        .scenario(generate(&spec, seed))
        .transition(TRANSITION_MS, 0)
        .faults(Faults::none());
    let sim = spawn(config).expect("the simulator starts");
    // What was starting or stopping when the simulator began has settled.
    std::thread::sleep(Duration::from_millis(2 * TRANSITION_MS));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("earlier.json");
    let file_arg = file.display().to_string();
    run_dmm(dmm, &sim, &["snapshot".to_string(), file_arg.clone()]);
    let recorded = dmm::snapshot::read(&file).map_or(0, |l| l.snapshot.len());
    eprintln!("the earlier tool's scenario: seed {seed}, {recorded} running in the snapshot");
    let mut rows = Vec::new();
    for run in 0..runs {
        for phase in ["shutdown", "restore"] {
            eprintln!(
                "earlier tool's scenario: {phase}, default flags, run {} ...",
                run + 1
            );
            sim.reset_counters();
            let outcome = run_dmm(
                dmm,
                &sim,
                &[phase.to_string(), file_arg.clone(), "--yes".into()],
            );
            let row = EarlierRow {
                phase,
                wall: outcome.wall,
                steps: outcome
                    .verify_started
                    .as_ref()
                    .map_or(outcome.wall, |(at, _)| *at),
                requests: sim.requests().total,
            };
            println!(
                "{}",
                serde_json::json!({"bench": "maintenance-earlier", "phase": phase, "run": run + 1,
                    "running": recorded, "wall_s": row.wall.as_secs_f64(),
                    "steps_s": row.steps.as_secs_f64(), "requests": row.requests})
            );
            rows.push(row);
        }
    }
    sim.shutdown();
    rows
}

pub fn print(rows: &[EarlierRow]) {
    if rows.is_empty() {
        return;
    }
    println!(
        "\nSide by side with the earlier tool (200 generated, {RUNNING} running, {} s transitions, default flags; verification included):",
        TRANSITION_MS / 1000
    );
    for (phase, earlier) in [
        ("shutdown", EARLIER_SHUTDOWN_S),
        ("restore", EARLIER_RESTORE_S),
    ] {
        let walls: Vec<f64> = rows
            .iter()
            .filter(|r| r.phase == phase)
            .map(|r| r.wall.as_secs_f64())
            .collect();
        let steps: Vec<String> = rows
            .iter()
            .filter(|r| r.phase == phase)
            .map(|r| format!("{:.2}", r.steps.as_secs_f64()))
            .collect();
        let fastest = walls.iter().copied().fold(f64::INFINITY, f64::min);
        let slowest = walls.iter().copied().fold(0.0, f64::max);
        let bound = earlier / FASTER;
        let shown: Vec<String> = walls.iter().map(|w| format!("{w:.2}")).collect();
        println!(
            "  {phase:<8} runs {} s (steps {} s); fastest {fastest:.2} s, slowest {slowest:.2} s, spread {:.2}; the earlier tool {earlier:.0} s: {:.1}x to {:.1}x faster (goal >= {FASTER:.0}x in every run, i.e. <= {bound:.2} s): {}",
            shown.join(", "),
            steps.join(", "),
            slowest / fastest,
            earlier / slowest,
            earlier / fastest,
            if slowest <= bound { "met" } else { "MISSED" },
        );
    }
}
