//! Small real HTTP servers on 127.0.0.1 for the client's and the kinds' tests (no mocking of
//! reqwest: the bytes go through a socket).

use std::time::Duration;

use super::{ApiKey, ClientConfig, DominoClient, Limits, RetryPolicy};

pub(crate) const TEST_KEY: &str = "test-key-7f3a9c-SECRET";

/// Serves `router` on an ephemeral loopback port for the rest of the test; returns the base URL.
pub(crate) async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    format!("http://{addr}")
}

/// Retries with tiny delays so that tests of transient failures stay fast.
pub(crate) fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        read_patience: Duration::ZERO,
        min_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_retry_after: Duration::from_secs(2),
        jitter: true,
    }
}

pub(crate) fn test_config(base_url: &str) -> ClientConfig {
    let mut config = ClientConfig::new(base_url, ApiKey::new(TEST_KEY).unwrap());
    config.retry = fast_retry();
    config.connect_timeout = Duration::from_secs(2);
    config.request_timeout = Duration::from_secs(5);
    config.limits = Limits {
        max_in_flight: 16,
        pace: super::Pace::Unlimited,
    };
    config
}

pub(crate) fn test_client(base_url: &str) -> DominoClient {
    DominoClient::new(&test_config(base_url)).unwrap()
}

/// A request as the fake deployment saw it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Recorded {
    pub method: String,
    /// Path and query, as sent.
    pub uri: String,
    pub body: Option<serde_json::Value>,
}

/// A canned Domino: answers `(method, path?query)` with a fixed status and JSON body, 404 for
/// anything else, and records every request. Optionally slow, to observe concurrency.
#[derive(Default)]
pub(crate) struct FakeDomino {
    answers: Mutex<HashMap<(String, String), (u16, serde_json::Value)>>,
    requests: Mutex<Vec<Recorded>>,
    delay: Duration,
    /// Requests in flight whose path matches `watch`, and their peak.
    watch: Option<&'static [&'static str]>,
    watched_now: AtomicUsize,
    watched_peak: AtomicUsize,
}

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

impl FakeDomino {
    pub(crate) fn new() -> FakeDomino {
        FakeDomino::default()
    }

    /// Slow answers, counting the peak of concurrent requests whose path contains one of `watch`.
    pub(crate) fn slow(delay: Duration, watch: &'static [&'static str]) -> FakeDomino {
        FakeDomino {
            delay,
            watch: Some(watch),
            ..FakeDomino::default()
        }
    }

    pub(crate) fn on(
        &self,
        method: &str,
        uri: &str,
        status: u16,
        body: serde_json::Value,
    ) -> &Self {
        self.answers
            .lock()
            .unwrap()
            .insert((method.to_owned(), uri.to_owned()), (status, body));
        self
    }

    pub(crate) fn get(&self, uri: &str, body: serde_json::Value) -> &Self {
        self.on("GET", uri, 200, body)
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub(crate) fn requests_to(&self, method: &str, uri: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.uri == uri)
            .collect()
    }

    pub(crate) fn watched_peak(&self) -> usize {
        self.watched_peak.load(Ordering::SeqCst)
    }

    /// Serves the fake on loopback; returns its base URL.
    pub(crate) async fn serve(self: &Arc<Self>) -> String {
        let fake = Arc::clone(self);
        let router = axum::Router::new().fallback(
            move |method: axum::http::Method, uri: axum::http::Uri, body: String| {
                let fake = Arc::clone(&fake);
                async move { fake.answer(method.as_str(), &uri, body).await }
            },
        );
        serve(router).await
    }

    async fn answer(
        &self,
        method: &str,
        uri: &axum::http::Uri,
        body: String,
    ) -> (axum::http::StatusCode, axum::Json<serde_json::Value>) {
        let uri = uri.path_and_query().map_or("", |pq| pq.as_str()).to_owned();
        let watched = self
            .watch
            .is_some_and(|words| words.iter().any(|w| uri.contains(w)));
        if watched {
            let now = self.watched_now.fetch_add(1, Ordering::SeqCst) + 1;
            self.watched_peak.fetch_max(now, Ordering::SeqCst);
        }
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        if watched {
            self.watched_now.fetch_sub(1, Ordering::SeqCst);
        }
        self.requests.lock().unwrap().push(Recorded {
            method: method.to_owned(),
            uri: uri.clone(),
            body: (!body.is_empty()).then(|| serde_json::from_str(&body).unwrap()),
        });
        let answer = self
            .answers
            .lock()
            .unwrap()
            .get(&(method.to_owned(), uri))
            .cloned();
        let (status, json) = answer.unwrap_or((404, serde_json::json!({"message": "not found"})));
        (
            axum::http::StatusCode::from_u16(status).unwrap(),
            axum::Json(json),
        )
    }
}
