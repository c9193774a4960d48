//! Shared helpers for the simulator's integration tests: a small async client that sends the key.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use domino_sim::{Scenario, SimConfig, SimHandle, spawn};
use reqwest::{Method, Response};
use serde_json::Value;

pub const KEY: &str = "test-key";

pub fn small_scenario() -> Scenario {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/scenarios/small.json");
    let bytes = std::fs::read(path).expect("fixture readable");
    Scenario::from_json(&bytes).expect("fixture valid")
}

/// The small scenario with fast transitions.
pub fn small_config() -> SimConfig {
    SimConfig::default()
        .api_key(KEY)
        .scenario(small_scenario())
        .transition(60, 0)
}

pub struct Api {
    pub sim: SimHandle,
    pub client: reqwest::Client,
}

impl Api {
    pub fn start(config: SimConfig) -> Api {
        let sim = spawn(config).expect("simulator starts");
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        Api { sim, client }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Response {
        self.try_send(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    pub async fn try_send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> reqwest::Result<Response> {
        let mut req = self
            .client
            .request(method, self.url(path))
            .header("X-Domino-Api-Key", KEY);
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await
    }

    /// GETs `path`, asserting a 200, and returns the JSON.
    pub async fn get(&self, path: &str) -> Value {
        let r = self.send(Method::GET, path, None).await;
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.expect("json")
    }

    /// GETs a `/__sim/` control route (no key, never faulted), asserting a 200, and returns the
    /// JSON.
    pub async fn control(&self, path: &str) -> Value {
        let url = format!("{}{path}", self.sim.root_url());
        let r = self.client.get(&url).send().await.expect(path);
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.expect("json")
    }

    /// POSTs to a `/__sim/` control route (no key, never faulted), with `body` as JSON if any,
    /// and returns the answer.
    pub async fn control_post(&self, path: &str, body: Option<&Value>) -> Response {
        let mut req = self.client.post(format!("{}{path}", self.sim.root_url()));
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.expect(path)
    }

    /// Asserts that the simulator recorded no violation, listing them if it did.
    pub fn assert_no_violation(&self) {
        let violations = self.sim.violations();
        assert!(violations.is_empty(), "{violations:?}");
    }

    pub async fn status_of(&self, method: Method, path: &str, body: Option<&Value>) -> u16 {
        self.send(method, path, body).await.status().as_u16()
    }
}

/// Polls `check` until it holds, for at most `limit`.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}
