//! How often a run looks at executions read one at a time while they stop: before the first
//! one of a kind has arrived, only a few steps look; the rest wait for that arrival.

mod common;

use common::{Env, code, config, text};
use domino_sim::GenerateSpec;

/// Forty running Model API versions (read one at a time) whose stops take three seconds:
/// polled every half second or so from the first second on, each would be read about five
/// times; only the scouts are.
#[test]
fn executions_read_one_at_a_time_wait_for_their_kinds_first_arrival() {
    let spec = GenerateSpec {
        projects: 4,
        apps: 0,
        models: 40,
        versions_per_model: 1,
        workspaces: 0,
        scheduled_jobs: 0,
        jobs: 0,
        rollout_in_progress: false,
    };
    let env = Env::new(config(spec).transition(3_000, 200));
    env.take_snapshot();
    env.sim.reset_counters();
    let snapshot = env.snapshot();
    let out = env
        .dmm()
        .args([
            "shutdown",
            snapshot.to_str().unwrap(),
            "--yes",
            "--poll-interval-ms",
            "1000",
        ])
        .output()
        .expect("dmm runs");
    assert_eq!(code(&out), 0, "{}", text(&out));
    let log = env.sim.requests();
    let stops = log
        .by_route
        .iter()
        .filter(|(route, _)| route.contains("stopModelDeployment"))
        .map(|(_, n)| n)
        .sum::<u64>();
    let reads = log
        .by_route
        .get("GET /models/{model_id}/versions/{version_id}/json")
        .copied()
        .unwrap_or(0);
    assert!(
        stops >= 30,
        "the deployment had running versions: {stops} stops"
    );
    let per_stop = reads as f64 / stops as f64;
    assert!(
        per_stop <= 3.0,
        "{reads} reads for {stops} stops ({per_stop:.2} each): {:?}",
        log.by_route
    );
}
