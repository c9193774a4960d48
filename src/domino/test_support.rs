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
        requests_per_second: None,
    };
    config
}

pub(crate) fn test_client(base_url: &str) -> DominoClient {
    DominoClient::new(&test_config(base_url)).unwrap()
}
