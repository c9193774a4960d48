//! Each injected fault as a client sees it, and that `/__sim/` is never faulted.

mod sim_support;

use std::time::{Duration, Instant};

use domino_sim::Kind;
use domino_sim::{Faults, FaultsPatch, Outcome};
use reqwest::Method;
use serde_json::{Value, json};
use sim_support::{Api, small_config};

const APP: &str = "a00000000000000000000001";
const P1: &str = "5f0000000000000000000001";
const JOB: &str = "d00000000000000000000001";

fn faulty(faults: Faults) -> Api {
    Api::start(small_config().faults(faults))
}

#[tokio::test]
async fn server_errors_are_500_502_or_503_and_change_nothing() {
    let api = faulty(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let r = api
        .send(Method::POST, &format!("/v4/modelProducts/{APP}/stop"), None)
        .await;
    assert!([500, 502, 503].contains(&r.status().as_u16()));
    assert_eq!(
        api.sim.state().get(Kind::App, APP).unwrap().stop_requests,
        0
    );
    let log = api.sim.requests();
    assert_eq!(log.faults.errors, 1);
    assert_eq!(log.mutations[0].outcome, Outcome::Answered);
    assert_eq!(log.mutations[0].status, Some(r.status().as_u16()));
}

#[tokio::test]
async fn rate_limited_with_configurable_retry_after() {
    let api = faulty(Faults {
        rate_limit_rate: 1.0,
        ..Faults::default()
    });
    let r = api.send(Method::GET, "/v4/projects", None).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    api.sim
        .set_faults(FaultsPatch {
            retry_after_s: Some(0),
            ..Default::default()
        })
        .unwrap();
    let r = api.send(Method::GET, "/v4/projects", None).await;
    assert_eq!(r.headers()["retry-after"], "0");
    assert_eq!(api.sim.requests().faults.rate_limited, 2);
}

#[tokio::test]
async fn dropped_connection_is_a_client_error_without_effect() {
    let api = faulty(Faults {
        drop_rate: 1.0,
        ..Faults::default()
    });
    let err = api
        .try_send(Method::POST, &format!("/v4/modelProducts/{APP}/stop"), None)
        .await
        .expect_err("no answer");
    assert!(err.status().is_none(), "{err:?}");
    assert_eq!(
        api.sim.state().get(Kind::App, APP).unwrap().stop_requests,
        0
    );
    assert!(api.sim.running_ids(Kind::App).contains(APP));
    let log = api.sim.requests();
    assert_eq!(log.mutations[0].outcome, Outcome::Dropped);
    assert_eq!(log.mutations[0].status, None);
    assert_eq!(log.faults.dropped, 1);
}

#[tokio::test]
async fn lost_answer_applies_the_effect_then_drops() {
    let api = faulty(Faults {
        lost_answer_rate: 1.0,
        ..Faults::default()
    });
    // Reads are never lost.
    let mut job = api
        .get(&format!("/v4/projects/{P1}/scheduledjobs/{JOB}"))
        .await;
    let stop = api
        .try_send(Method::POST, &format!("/v4/modelProducts/{APP}/stop"), None)
        .await;
    assert!(stop.is_err());
    job["isPaused"] = json!(true);
    let put = api
        .try_send(
            Method::PUT,
            &format!("/v4/projects/{P1}/scheduledjobs/{JOB}"),
            Some(&job),
        )
        .await;
    assert!(put.is_err());
    let state = api.sim.state();
    assert_eq!(state.get(Kind::App, APP).unwrap().stop_requests, 1);
    assert_eq!(state.get(Kind::App, APP).unwrap().status, "Stopping");
    assert_eq!(state.get(Kind::ScheduledJob, JOB).unwrap().status, "Paused");
    let log = api.sim.requests();
    assert!(
        log.mutations
            .iter()
            .all(|m| m.outcome == Outcome::AnswerLost)
    );
    assert_eq!(log.mutations_of(Kind::App, APP).count(), 1);
    assert_eq!(log.faults.answers_lost, 2);
}

#[tokio::test]
async fn max_rps_answers_429_beyond_the_limit() {
    let api = faulty(Faults {
        max_rps: 5,
        ..Faults::default()
    });
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(api.status_of(Method::GET, "/v4/projects", None).await);
    }
    let limited = statuses.iter().filter(|&&s| s == 429).count();
    // At most two windows were touched, so at most 10 passed.
    assert!(limited >= 2, "{statuses:?}");
    assert!(statuses[..5].iter().all(|&s| s == 200), "{statuses:?}");
    // The record per second: every arrival, and the answers served cleanly (not the 429s).
    let seconds = api.sim.requests().per_second;
    let arrived: u64 = seconds.values().map(|c| c.arrived).sum();
    let clean: u64 = seconds.values().map(|c| c.clean).sum();
    assert_eq!(arrived, 12);
    assert_eq!(clean as usize, 12 - limited, "{seconds:?}");
}

#[tokio::test]
async fn outage_drops_every_domino_route_until_cleared() {
    let api = Api::start(small_config());
    let set = |outage: bool| {
        let client = api.client.clone();
        let url = format!("{}/__sim/faults", api.sim.root_url());
        async move {
            let r = client
                .post(url)
                .json(&json!({ "outage": outage }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    assert_eq!(set(true).await["outage"], true);
    assert!(
        api.try_send(Method::GET, "/v4/projects", None)
            .await
            .is_err()
    );
    assert!(
        api.try_send(Method::GET, "/v4/modelProducts", None)
            .await
            .is_err()
    );
    // The control routes keep working during the outage.
    api.control("/__sim/state").await;
    set(false).await;
    assert_eq!(api.status_of(Method::GET, "/v4/projects", None).await, 200);
}

#[tokio::test]
async fn latency_delays_answers() {
    let api = faulty(Faults {
        latency_ms: 120,
        ..Faults::default()
    });
    let start = Instant::now();
    api.get("/v4/projects").await;
    assert!(start.elapsed() >= Duration::from_millis(120));
}

#[tokio::test]
async fn same_seed_same_faults() {
    let faults = Faults {
        error_rate: 0.3,
        rate_limit_rate: 0.2,
        ..Faults::default()
    };
    let mut runs = Vec::new();
    for _ in 0..2 {
        let api = faulty(faults.clone());
        let mut statuses = Vec::new();
        for _ in 0..30 {
            statuses.push(api.status_of(Method::GET, "/v4/projects", None).await);
        }
        runs.push(statuses);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(runs[0].contains(&200) && runs[0].iter().any(|&s| s != 200));
}

#[tokio::test]
async fn invalid_fault_patches_are_refused() {
    let api = Api::start(small_config());
    let url = format!("{}/__sim/faults", api.sim.root_url());
    for body in [json!({"errorRate": 2.0}), json!({"nonsense": 1})] {
        let r = api.client.post(&url).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 400, "{body}");
    }
    assert_eq!(api.sim.faults(), Faults::default());
}
