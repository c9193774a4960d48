//! `--metrics-file`: the run's figures in the Prometheus text format, there during the run and
//! final at its end, never half written.

mod common;

use std::time::Duration;

use common::*;

fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name_and_labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn a_run_writes_its_figures_during_the_run_and_at_its_end() {
    let env = Env::new(config(small_spec()).transition(1500, 200));
    env.take_snapshot();
    let metrics = env.path("dmm.prom");
    let mut child = env.spawn_op("shutdown", &["--metrics-file", metrics.to_str().unwrap()]);
    wait_for(Duration::from_secs(20), "the metrics file mid-run", || {
        std::fs::read_to_string(&metrics).is_ok_and(|t| t.contains("dmm_run_in_progress"))
    });
    let during = std::fs::read_to_string(&metrics).unwrap();
    assert_eq!(
        sample(&during, "dmm_run_in_progress{operation=\"shutdown\"}"),
        Some(1.0),
        "{during}"
    );
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));

    let end = std::fs::read_to_string(&metrics).unwrap();
    let apps = snapshot_keys(&env)
        .iter()
        .filter(|(k, _)| *k == dmm::snapshot::Kind::App)
        .count() as f64;
    assert_eq!(
        sample(
            &end,
            "dmm_steps{operation=\"shutdown\",kind=\"App\",phase=\"Confirmed\"}"
        ),
        Some(apps),
        "{end}"
    );
    assert_eq!(
        sample(
            &end,
            "dmm_run_outcome{operation=\"shutdown\",outcome=\"completed\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&end, "dmm_verification_passed{operation=\"shutdown\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&end, "dmm_run_in_progress{operation=\"shutdown\"}"),
        Some(0.0)
    );
    assert!(sample(&end, "dmm_requests_sent{operation=\"shutdown\"}").unwrap() > 0.0);
    assert!(
        sample(
            &end,
            "dmm_last_success_timestamp_seconds{operation=\"shutdown\"}"
        )
        .is_some()
    );
    // Every line is a comment or `name{labels} value`, as the textfile collector reads it.
    for line in end.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (_, value) = line.rsplit_once(' ').expect(line);
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
    // No temporary file is left beside it.
    let leftovers: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(!end.contains(KEY));
}
