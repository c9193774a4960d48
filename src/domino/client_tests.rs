//! The client against real loopback servers: URL building, headers, retries, limits, errors.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Value, json};

use super::test_support::{TEST_KEY, serve, test_client, test_config};
use super::{ApiError, DominoClient};

/// Answers with `statuses` in turn (then 200 `{"ok":true}`), counting every request.
fn scripted(statuses: Vec<(u16, Option<&'static str>)>) -> (Router, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let statuses = Arc::new(statuses);
    let handler = move || {
        let counter = Arc::clone(&counter);
        let statuses = Arc::clone(&statuses);
        async move {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            match statuses.get(n) {
                Some((code, retry_after)) => {
                    let mut headers = HeaderMap::new();
                    if let Some(value) = retry_after {
                        headers.insert("retry-after", value.parse().unwrap());
                    }
                    let status = StatusCode::from_u16(*code).unwrap();
                    (status, headers, "the backend said no").into_response()
                }
                None => axum::Json(json!({"ok": true})).into_response(),
            }
        }
    };
    (Router::new().route("/v4/thing", get(handler)), hits)
}

fn assert_no_key(err: &ApiError) {
    assert!(!err.to_string().contains(TEST_KEY), "{err}");
    assert!(!format!("{err:?}").contains(TEST_KEY), "{err:?}");
}

#[tokio::test]
async fn joins_paths_onto_a_prefix_with_or_without_trailing_slash() {
    let router = Router::new().route(
        "/domino/v4/projects",
        get(|q: axum::extract::RawQuery| async move { axum::Json(json!({ "q": q.0 })) }),
    );
    let base = serve(router).await;
    for prefix in ["/domino", "/domino/"] {
        let client = test_client(&format!("{base}{prefix}"));
        let v: Value = client
            .get_value("/v4/projects?offset=5&limit=2")
            .await
            .unwrap();
        assert_eq!(v, json!({"q": "offset=5&limit=2"}));
        let v: Value = client.get_value("v4/projects").await.unwrap();
        assert_eq!(v, json!({"q": null}));
    }
}

#[tokio::test]
async fn sends_key_and_json_headers_and_bodies() {
    type Seen = Arc<Mutex<Vec<(String, Option<String>, Option<String>, String)>>>;
    let seen: Seen = Arc::default();
    let record = |seen: Seen| {
        move |method: axum::http::Method, headers: HeaderMap, body: String| {
            let seen = Arc::clone(&seen);
            async move {
                let h = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
                let row = (
                    method.to_string(),
                    h("x-domino-api-key"),
                    h("content-type"),
                    body,
                );
                seen.lock().unwrap().push(row);
                axum::Json(json!({}))
            }
        }
    };
    let router = Router::new().route(
        "/v4/echo",
        get(record(Arc::clone(&seen)))
            .put(record(Arc::clone(&seen)))
            .post(record(Arc::clone(&seen))),
    );
    let client = test_client(&serve(router).await);
    client.get_value("/v4/echo").await.unwrap();
    client.put("/v4/echo", &json!({"a": 1})).await.unwrap();
    client.post("/v4/echo", None).await.unwrap();
    client
        .post("/v4/echo", Some(&json!({"b": [2]})))
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    let key = Some(TEST_KEY.to_owned());
    let json_type = Some("application/json".to_owned());
    let expected = [
        ("GET", ""),
        ("PUT", r#"{"a":1}"#),
        ("POST", ""),
        ("POST", r#"{"b":[2]}"#),
    ];
    assert_eq!(seen.len(), expected.len());
    for (row, (method, body)) in seen.iter().zip(expected) {
        assert_eq!(
            row,
            &(
                method.to_owned(),
                key.clone(),
                json_type.clone(),
                body.to_owned()
            )
        );
    }
    assert_eq!(client.requests_sent(), 4);
}

#[tokio::test]
async fn retries_transient_statuses_then_succeeds() {
    let (router, hits) = scripted(vec![
        (503, None),
        (502, None),
        (429, Some("0")),
        (500, None),
    ]);
    let mut config = test_config(&serve(router).await);
    config.retry.max_retries = 5;
    let client = DominoClient::new(&config).unwrap();
    let v: Value = client.get_value("/v4/thing").await.unwrap();
    assert_eq!(v, json!({"ok": true}));
    assert_eq!(hits.load(Ordering::SeqCst), 5);
    assert_eq!(client.retries(), 4);
    assert_eq!(client.requests_sent(), 5);
}

#[tokio::test]
async fn honours_retry_after() {
    let (router, hits) = scripted(vec![(429, Some("1"))]);
    let client = test_client(&serve(router).await);
    let started = Instant::now();
    client.get_value("/v4/thing").await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

/// A `Retry-After` is the answer to the request that got it, not a pause of the client: with
/// the adaptive pace, requests to other routes go on while the refused one waits its turn.
#[tokio::test]
async fn a_429_delays_only_its_own_request() {
    let refused = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&refused);
    let router = Router::new()
        .route(
            "/v4/refused",
            get(move || {
                let counter = Arc::clone(&counter);
                async move {
                    if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                        let mut headers = HeaderMap::new();
                        headers.insert("retry-after", "2".parse().unwrap());
                        (StatusCode::TOO_MANY_REQUESTS, headers, "slow down").into_response()
                    } else {
                        axum::Json(json!({"ok": true})).into_response()
                    }
                }
            }),
        )
        .route(
            "/v4/other",
            get(|| async { axum::Json(json!({"ok": true})) }),
        );
    let mut config = test_config(&serve(router).await);
    config.limits.pace = super::Pace::Adaptive(super::AdaptivePace {
        initial: 25.0,
        max: 500.0,
        min: 1.0,
    });
    let client = DominoClient::new(&config).unwrap();
    let started = Instant::now();
    let waiting = {
        let client = client.clone();
        tokio::spawn(async move {
            client.get_value("/v4/refused").await.unwrap();
            Instant::now()
        })
    };
    while refused.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Ten requests after the 429, one after the other: none waits for its Retry-After.
    for _ in 0..10 {
        client.get_value("/v4/other").await.unwrap();
    }
    let others_done = Instant::now();
    let refused_done = waiting.await.unwrap();
    assert!(
        refused_done.duration_since(started) >= Duration::from_millis(1900),
        "the refused request waited its Retry-After: {:?}",
        refused_done.duration_since(started)
    );
    assert!(
        others_done < refused_done,
        "the other requests ended {:?} after the start, before the refused one ({:?})",
        others_done.duration_since(started),
        refused_done.duration_since(started)
    );
    assert_eq!(refused.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn gives_up_after_max_retries_with_the_last_status() {
    let (router, hits) = scripted(vec![(503, None); 10]);
    let client = test_client(&serve(router).await);
    let err = client.get_value("/v4/thing").await.unwrap_err();
    assert!(matches!(err, ApiError::Status { status: 503, .. }), "{err}");
    assert!(err.is_transient());
    assert_eq!(hits.load(Ordering::SeqCst), 4, "1 attempt + 3 retries");
    assert_eq!(
        err.to_string(),
        "GET /v4/thing: HTTP 503: the backend said no"
    );
    assert_no_key(&err);
}

#[tokio::test]
async fn never_retries_final_statuses() {
    for (code, check) in [
        (
            401,
            (|e: &ApiError| e.is_unauthorized()) as fn(&ApiError) -> bool,
        ),
        (403, |e: &ApiError| e.is_unauthorized()),
        (404, |e: &ApiError| e.is_not_found()),
        (400, |e: &ApiError| {
            matches!(e, ApiError::Status { status: 400, .. })
        }),
        (409, |e: &ApiError| {
            matches!(e, ApiError::Status { status: 409, .. })
        }),
    ] {
        let (router, hits) = scripted(vec![(code, None); 3]);
        let client = test_client(&serve(router).await);
        let err = client.get_value("/v4/thing").await.unwrap_err();
        assert!(check(&err), "{code}: {err}");
        assert!(!err.is_transient());
        assert_eq!(hits.load(Ordering::SeqCst), 1, "{code} must not be retried");
        assert_eq!(client.retries(), 0);
        assert!(err.to_string().starts_with("GET /v4/thing: HTTP"), "{err}");
        assert_no_key(&err);
    }
}

#[tokio::test]
async fn error_bodies_are_truncated_to_one_line() {
    let long = format!("line one\nline two {}", "x".repeat(500));
    let router = Router::new().route(
        "/v4/bad",
        get(move || {
            let long = long.clone();
            async move { (StatusCode::BAD_REQUEST, long) }
        }),
    );
    let client = test_client(&serve(router).await);
    let err = client.get_value("/v4/bad").await.unwrap_err();
    let ApiError::Status { body, .. } = &err else {
        panic!("{err}")
    };
    assert!(body.starts_with("line one line two xxx"), "{body}");
    assert_eq!(body.chars().count(), 201, "200 characters and an ellipsis");
    assert!(!err.to_string().contains('\n'));
}

#[tokio::test]
async fn a_non_json_answer_is_a_decode_error_and_a_web_page_is_not_an_api() {
    let router = Router::new()
        .route("/v4/text", get(|| async { "login required" }))
        .route("/v4/html", get(|| async { "\n  <HTML>login</html>" }));
    let client = test_client(&serve(router).await);
    let err = client.get_value("/v4/text").await.unwrap_err();
    assert!(matches!(err, ApiError::Decode { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("GET /v4/text: unexpected answer"),
        "{err}"
    );
    let err = client.get_value("/v4/html").await.unwrap_err();
    assert!(matches!(err, ApiError::NotAnApi { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("GET /v4/html: this is not a Domino API"),
        "{err}"
    );
    assert_eq!(client.requests_sent(), 2, "neither is retried");
}

#[tokio::test]
async fn connection_refused_is_retried_then_transport() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = test_client(&format!("http://{addr}"));
    let err = client.get_value("/v4/projects").await.unwrap_err();
    assert!(matches!(err, ApiError::Transport { .. }), "{err}");
    assert!(err.is_transient());
    assert_eq!(client.requests_sent(), 4);
    assert_eq!(client.retries(), 3);
    let text = err.to_string();
    assert!(
        text.starts_with("GET /v4/projects: cannot connect"),
        "{text}"
    );
    assert!(
        !text.contains(&addr.to_string()),
        "no host in errors: {text}"
    );
    assert_no_key(&err);
}

/// A server that accepts connections and closes each one without answering; counts them.
async fn closing_server() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            drop(socket); // close before answering: "connection closed before message completed"
        }
    });
    (format!("http://{addr}"), accepted)
}

#[tokio::test]
async fn dropped_connections_are_retried_for_reads_then_transport() {
    let (base, accepted) = closing_server().await;
    let client = test_client(&base);
    let err = client.get_value("/v4/projects").await.unwrap_err();
    assert!(matches!(err, ApiError::Transport { .. }), "{err}");
    assert!(err.to_string().starts_with("GET /v4/projects: "), "{err}");
    assert_eq!(accepted.load(Ordering::SeqCst), 4);
    assert_no_key(&err);
}

#[tokio::test]
async fn a_write_with_no_answer_is_sent_once_and_may_have_been_applied() {
    // Domino refuses a second start of a starting execution: a write that may have been
    // applied is left to the step, which looks at the execution before sending it again.
    let (base, accepted) = closing_server().await;
    let client = test_client(&base);
    let err = client
        .post("/v4/modelProducts/a/stop", None)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Unanswered { .. }), "{err}");
    assert!(err.may_have_been_applied() && err.is_transient());
    assert!(
        err.to_string()
            .starts_with("POST /v4/modelProducts/a/stop: sent, but no answer came"),
        "{err}"
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    assert_eq!(client.retries(), 0);
    assert_no_key(&err);
}

#[tokio::test]
async fn a_write_refused_at_connect_is_retried() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = test_client(&format!("http://{addr}"));
    let err = client
        .post("/v4/modelProducts/a/start", None)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Transport { .. }), "{err}");
    assert!(!err.may_have_been_applied());
    assert_eq!(client.retries(), 3);
}

/// `/v4/slow`, answering `body` after `delay`.
fn slow_route(delay: Duration, body: &'static str) -> Router {
    Router::new().route(
        "/v4/slow",
        get(move || async move {
            tokio::time::sleep(delay).await;
            body
        }),
    )
}

/// `n` GETs of `path` sent at once, every one answered.
async fn get_at_once(client: &DominoClient, path: &str, n: usize) {
    let calls = (0..n).map(|_| {
        let client = client.clone();
        async move { client.get_value(path).await }
    });
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }
}

#[tokio::test]
async fn never_more_than_max_in_flight_at_the_server() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (now, max) = (Arc::clone(&in_flight), Arc::clone(&peak));
    let router = Router::new().route(
        "/v4/slow",
        get(move || {
            let (now, max) = (Arc::clone(&now), Arc::clone(&max));
            async move {
                let current = now.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(current, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(15)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                axum::Json(json!([]))
            }
        }),
    );
    let mut config = test_config(&serve(router).await);
    config.limits.max_in_flight = 3;
    let client = DominoClient::new(&config).unwrap();
    get_at_once(&client, "/v4/slow", 20).await;
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    assert_eq!(client.requests_sent(), 20);
}

#[tokio::test]
async fn a_timeout_is_retried_then_transport() {
    let (router, hits) = {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        let router = Router::new().route(
            "/v4/slow",
            get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    "late"
                }
            }),
        );
        (router, hits)
    };
    let mut config = test_config(&serve(router).await);
    config.request_timeout = Duration::from_millis(80);
    config.request_budget = Some(Duration::from_secs(5));
    config.retry.max_retries = 1;
    let client = DominoClient::new(&config).unwrap();
    let err = client.get_value("/v4/slow").await.unwrap_err();
    assert!(matches!(err, ApiError::Transport { .. }), "{err}");
    assert!(
        err.to_string().starts_with("GET /v4/slow: timed out"),
        "{err}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_budget_bounds_a_request_across_its_retries() {
    let router = slow_route(Duration::from_secs(30), "late");
    let mut config = test_config(&serve(router).await);
    config.request_timeout = Duration::from_millis(100);
    config.retry.max_retries = 6;
    assert_eq!(config.request_budget(), Duration::from_millis(200));
    let client = DominoClient::new(&config).unwrap();
    let started = std::time::Instant::now();
    let err = client.get_value("/v4/slow").await.unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1_000), "took {took:?}");
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains("no answer within 200ms"), "{err}");
}

#[test]
fn tls_settings_build_and_the_client_does_not_print_its_key() {
    let mut config = test_config("https://domino.example.com/prefix/");
    config.tls_no_verify = true;
    let system_bundle = std::path::Path::new("/etc/ssl/certs/ca-certificates.crt");
    if system_bundle.exists() {
        // A real PEM bundle is accepted as an extra CA file.
        config.ca_cert = Some(system_bundle.to_owned());
    }
    let client = DominoClient::new(&config).unwrap();
    assert_eq!(client.base_url(), "https://domino.example.com/prefix");
    assert_eq!(
        client.url("/v4/projects"),
        "https://domino.example.com/prefix/v4/projects"
    );
    assert!(!format!("{client:?}").contains(TEST_KEY));
    assert!(!format!("{config:?}").contains(TEST_KEY));
}

#[tokio::test]
async fn waiting_for_a_turn_in_the_limits_does_not_count_against_the_budget() {
    let router = slow_route(Duration::from_millis(150), "{}");
    let mut config = test_config(&serve(router).await);
    config.request_timeout = Duration::from_millis(250);
    config.limits.max_in_flight = 1;
    let client = DominoClient::new(&config).unwrap();
    // One at a time: the last waits about 1 s for its turn, twice its budget of 500 ms.
    get_at_once(&client, "/v4/slow", 8).await;
    assert_eq!(client.retries(), 0);
}

/// A redirect to another host (a gateway, a login page, a hostile proxy) must not carry the
/// key there: dmm follows no redirect, and the error says where it pointed.
#[tokio::test]
async fn a_redirect_is_not_followed_and_the_key_never_reaches_another_host() {
    let reached = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&reached);
    let other = serve(Router::new().fallback(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async { axum::Json(json!({"ok": true})) }
    }))
    .await;
    let to = format!("{other}/collect");
    let redirecting = Router::new().route(
        "/v4/thing",
        get({
            let to = to.clone();
            move || async move { (StatusCode::FOUND, [("location", to)], "moved") }
        })
        .post(move || async move { (StatusCode::TEMPORARY_REDIRECT, [("location", to)], "moved") }),
    );
    let client = test_client(&serve(redirecting).await);
    let err = client.get_value("/v4/thing").await.unwrap_err();
    let said = err.to_string();
    assert!(
        said.contains("HTTP 302") && said.contains(&format!("redirected to {other}/collect")),
        "{said}"
    );
    let err = client.post("/v4/thing", None).await.unwrap_err();
    assert!(err.to_string().contains("HTTP 307"), "{err}");
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "the other host was sent a request"
    );
}

/// A request whose answer does not come is known by what it is, for as long as it waits: the
/// heartbeat names it, and until when it is given.
#[tokio::test]
async fn a_request_waiting_for_its_answer_is_known_by_name() {
    let router = Router::new().route(
        "/v4/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(400)).await;
            axum::Json(json!({"ok": true}))
        }),
    );
    let client = test_client(&serve(router).await);
    assert_eq!(client.unanswered(), None);
    let asking = client.clone();
    let request = tokio::spawn(async move { asking.get_value("/v4/slow").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let waiting = client.unanswered().expect("one request waits");
    assert_eq!(waiting.what, "GET /v4/slow");
    assert_eq!(waiting.count, 1);
    assert!(waiting.waited >= Duration::from_millis(150), "{waiting:?}");
    request.await.unwrap().unwrap();
    assert_eq!(client.unanswered(), None, "answered");
}
