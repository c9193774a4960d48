//! `--notify-url`: a receiver on loopback hears when a run starts, when it ends and when a step
//! is stuck failing; a receiver that is down never holds up or fails the run; the journal says
//! what was delivered; the key and the webhook's secret path appear nowhere.

mod common;

use std::time::Duration;

use common::*;
use dmm::journal::{JournalRead, JournalReader};
use domino_sim::FaultsPatch;
use serde_json::Value;

fn receiver() -> Receiver {
    receiver_at("/services/T000/B000/webhook-secret-42")
}

fn events(r: &Receiver) -> Vec<String> {
    r.bodies
        .lock()
        .unwrap()
        .iter()
        .map(|b| b["event"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn a_run_tells_its_start_and_end_and_records_the_deliveries() {
    let env = Env::small();
    env.take_snapshot();
    let r = receiver();
    let out = env.run_op(
        "shutdown",
        &["--notify-url", &r.url, "--change-id", "CHG0077"],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(events(&r), ["started", "ended"]);
    let bodies = r.bodies.lock().unwrap().clone();
    for body in &bodies {
        assert_eq!(body["change_id"], "CHG0077", "{body}");
        assert!(
            body["text"]
                .as_str()
                .unwrap()
                .starts_with("[CHG0077] dmm shutdown "),
            "{body}"
        );
    }
    let end = &bodies[1];
    assert_eq!(end["operation"], "shutdown");
    assert_eq!(end["exit_code"], 0);
    assert_eq!(end["host"], env.sim.base_url());
    assert!(
        end["text"]
            .as_str()
            .unwrap()
            .contains(": ended, verified (exit 0)"),
        "{end}"
    );
    assert!(
        end["next"].as_str().unwrap().contains("dmm restore"),
        "{end}"
    );
    assert!(
        end["counts"]["App"]["Confirmed"].as_u64().unwrap() > 0,
        "{end}"
    );
    for body in &bodies {
        assert!(!body.to_string().contains(KEY));
    }
    let runs = JournalReader::open(&env.journal()).unwrap().runs().unwrap();
    let notes = &runs.last().unwrap().notifications;
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes.iter().all(|n| n.delivered));
    assert!(notes.iter().all(|n| !n.receiver.contains("secret")));
    assert!(!file_contains(&env.journal(), "webhook-secret-42"));
}

#[test]
fn a_receiver_that_is_down_never_fails_the_run() {
    let env = Env::small();
    env.take_snapshot();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let out = env.run_op("shutdown", &["--notify-url", &url]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let runs = JournalReader::open(&env.journal()).unwrap().runs().unwrap();
    let notes = &runs.last().unwrap().notifications;
    assert_eq!(notes.len(), 2);
    assert!(notes.iter().all(|n| !n.delivered), "{notes:?}");
}

#[test]
fn a_step_failing_longer_than_allowed_is_told_once() {
    let env = Env::new(config(small_spec()).transition(200, 50));
    env.take_snapshot();
    let r = receiver();
    let child = env.spawn_op(
        "shutdown",
        &[
            "-s",
            "App",
            "--notify-url",
            &r.url,
            "--notify-stuck-after",
            "1s",
        ],
    );
    wait_for(Duration::from_secs(20), "the run to begin", || {
        JournalReader::open(&env.journal())
            .and_then(|j| j.runs())
            .is_ok_and(|runs| !runs.is_empty())
    });
    env.sim
        .set_faults(FaultsPatch {
            error_rate: Some(1.0),
            ..FaultsPatch::default()
        })
        .unwrap();
    wait_for(Duration::from_secs(60), "a stuck notification", || {
        events(&r).iter().any(|e| e == "stuck")
    });
    env.sim
        .set_faults(FaultsPatch {
            error_rate: Some(0.0),
            ..FaultsPatch::default()
        })
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(matches!(code(&out), 0 | 1), "{}", text(&out));
    let stuck: Vec<Value> = r
        .bodies
        .lock()
        .unwrap()
        .iter()
        .filter(|b| b["event"] == "stuck")
        .cloned()
        .collect();
    let executions: std::collections::BTreeSet<&str> = stuck
        .iter()
        .map(|b| b["execution"].as_str().unwrap())
        .collect();
    assert_eq!(executions.len(), stuck.len(), "each step is told once");
    assert!(stuck[0]["text"].as_str().unwrap().contains("failing for"));
    let runs = JournalReader::open(&env.journal()).unwrap().runs().unwrap();
    assert!(
        runs.last()
            .unwrap()
            .notifications
            .iter()
            .any(|n| n.event == "stuck" && n.delivered)
    );
}
