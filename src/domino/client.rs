//! One HTTP client for one Domino deployment: the API key on every request, TLS as configured,
//! retries of transient failures, the request limits, and errors that name the call.
//!
//! Retry rule: 429, 500, 502, 503, 504, connection errors and timeouts are retried with
//! exponential backoff and jitter (`RetryPolicy`), waiting at least `Retry-After` seconds when the
//! answer carries one. 500 is retried too although `docs/domino-api.md` does not list it: Domino's
//! frontend answers 500 when a backend service is restarting, and every call we make is either a
//! read or state-setting (stop, start, pause), so sending it again is safe. 401/403, 404 and
//! other 4xx are final at once. Writes stop after `max_retries`; reads keep retrying for a time
//! while the deployment answers (`read_patience.rs`).
//!
//! A write is sent again only when it surely did not take effect: refused at connect, or
//! answered with a status. One that left and got no answer (the connection closed, the time ran
//! out) may have been applied, and a second start of a starting execution is refused by Domino:
//! it ends as `ApiError::Unanswered`, and the step looks at the execution before anything is
//! sent again (`runner/step.rs`).

use std::error::Error as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION,
    RETRY_AFTER,
};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ApiError;
use super::config::{ClientConfig, ConfigError, Credential, RetryPolicy, read_ca_bundle};
use super::limiter::RequestLimiter;
use super::read_patience;
use super::token::TokenSource;
use crate::pace::{PaceReport, Pushback, RouteClass, Signal};

/// The header Domino reads the API key from.
pub const API_KEY_HEADER: &str = "X-Domino-Api-Key";

/// How much of an error answer's body an error keeps: enough to see Domino's message, short
/// enough for one log line.
const ERROR_BODY_CHARS: usize = 200;

/// A cheap-to-clone handle on one deployment's API; clones share the connection pool, the
/// limits and the counters.
#[derive(Clone)]
pub struct DominoClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// Normalised: scheme, host, optional path prefix, no trailing `/`.
    base_url: String,
    retry: RetryPolicy,
    /// All the attempts of one request must end within this.
    budget: Duration,
    /// The proxy the environment sets for this URL, without credentials (for messages only).
    proxy: Option<String>,
    /// The per-attempt timeout (for messages only: reqwest applies it).
    attempt_timeout: Duration,
    /// For the warning at the first timed-out attempt (only the first: a silent server times
    /// out every request in flight).
    timeout_warned: AtomicBool,
    limiter: RequestLimiter,
    requests_sent: AtomicU64,
    retries: AtomicU64,
    /// The service-account token, when one is used instead of the API key.
    token: Option<TokenSource>,
    /// What the requests carry, for the message of a refusal.
    credential: &'static str,
    /// The API key, to cut out of server text that echoes it (`None` with a token, whose
    /// current value is asked of `token`).
    api_key: Option<String>,
    /// Transient failures in a row across all attempts: an outage ends reads' extra patience.
    failure_streak: read_patience::FailureStreak,
    /// How far the server's clock is ahead of ours at least, from its answers' `Date`.
    server_clock: ServerClock,
    /// Which long retry waits have been said (`long_wait`).
    long_waits: super::long_wait::LongWaits,
    /// Bounds the retry warnings at the default level.
    retry_notices: super::long_wait::RetryNotices,
    /// When the client was made, and the last answer's head came (ms after that; 0: none
    /// yet): a heartbeat tells a silent server from executions slow to reach their state.
    born: std::time::Instant,
    last_answer_ms: AtomicU64,
    /// The requests waiting for their answer now.
    in_flight: super::long_wait::InFlight,
}

impl std::fmt::Debug for DominoClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DominoClient")
            .field("base_url", &self.inner.base_url)
            .finish_non_exhaustive()
    }
}

impl DominoClient {
    /// Validates the configuration and builds the client. Sends nothing.
    pub fn new(config: &ClientConfig) -> Result<DominoClient, ConfigError> {
        let base_url = config.validate()?;
        let mut headers = HeaderMap::new();
        let api_key = match &config.credential {
            Credential::ApiKey(api_key) => Some(api_key.expose().to_owned()),
            Credential::TokenFile(_) => None,
        };
        let token = match &config.credential {
            Credential::ApiKey(api_key) => {
                let mut key =
                    HeaderValue::from_str(api_key.expose()).map_err(|_| ConfigError::InvalidKey)?;
                // Keeps the key out of reqwest's and hyper's debug output.
                key.set_sensitive(true);
                headers.insert(API_KEY_HEADER, key);
                None
            }
            Credential::TokenFile(path) => Some(TokenSource::open(path)?),
        };
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));

        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_native_certs(true)
            .default_headers(headers)
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            // Domino's API does not redirect; a redirect would carry the key header to wherever
            // it points (reqwest drops only `Authorization` across hosts). A 3xx is an error.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("dmm/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &config.ca_cert {
            for cert in read_ca_bundle(path)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        if config.tls_no_verify {
            builder = builder.danger_accept_invalid_certs(true);
        }
        let http = builder
            .build()
            .map_err(|e| ConfigError::HttpClient(error_chain(&e)))?;
        let proxy = super::proxy::from_env(&base_url);
        Ok(DominoClient {
            inner: Arc::new(Inner {
                http,
                base_url,
                retry: config.retry,
                budget: config.request_budget(),
                attempt_timeout: config.request_timeout,
                proxy,
                timeout_warned: AtomicBool::new(false),
                server_clock: ServerClock::default(),
                born: std::time::Instant::now(),
                last_answer_ms: AtomicU64::new(0),
                in_flight: Default::default(),
                long_waits: Default::default(),
                retry_notices: Default::default(),
                limiter: RequestLimiter::new(&config.limits),
                requests_sent: AtomicU64::new(0),
                retries: AtomicU64::new(0),
                token,
                credential: config.credential.name(),
                api_key,
                failure_streak: Default::default(),
            }),
        })
    }

    /// The deployment's base URL as normalised (no trailing `/`).
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The full URL of an API path such as `/v4/projects?x=1`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.inner.base_url, path.trim_start_matches('/'))
    }

    /// How long the server has answered nothing (since the last answer's head, any status, or
    /// since the client was made).
    pub fn silent_for(&self) -> Duration {
        let last = Duration::from_millis(self.inner.last_answer_ms.load(Ordering::Relaxed));
        self.inner.born.elapsed().saturating_sub(last)
    }

    /// The request that has waited longest for its answer now, if any waits.
    pub fn unanswered(&self) -> Option<super::long_wait::Unanswered> {
        let (what, waited, count) = self.inner.in_flight.oldest()?;
        Some(super::long_wait::Unanswered {
            what,
            waited,
            count,
            attempt: self.inner.attempt_timeout,
            budget: self.inner.budget,
        })
    }

    /// HTTP requests sent so far, retries included.
    pub fn requests_sent(&self) -> u64 {
        self.inner.requests_sent.load(Ordering::Relaxed)
    }

    /// Retries of transient failures so far.
    pub fn retries(&self) -> u64 {
        self.inner.retries.load(Ordering::Relaxed)
    }

    /// The least the server's clock is ahead of ours (negative: behind), in milliseconds, as
    /// its answers' `Date` headers show; `None` before an answer carried one. A time the server
    /// stamped, less this, is never earlier than the moment it was stamped by our clock.
    pub fn server_clock_lead_ms(&self) -> Option<i64> {
        self.inner.server_clock.lead_at_least_ms()
    }

    /// What the request rate did so far (where it settled, its lowest and highest, the
    /// pushbacks); `None` when the rate is not limited.
    pub fn pace(&self) -> Option<PaceReport> {
        self.inner.limiter.report()
    }

    /// GET and decode the JSON answer.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        let body = self.send(Method::GET, path, None).await?;
        decode(&Method::GET, path, &body).map_err(|e| self.scrubbed(e))
    }

    /// GET the answer as untyped JSON (kept whole, e.g. to PUT it back).
    pub async fn get_value(&self, path: &str) -> Result<Value, ApiError> {
        self.get_json(path).await
    }

    /// POST, with a JSON body or an empty one. The answer's body is not needed by any caller.
    pub async fn post(&self, path: &str, body: Option<&Value>) -> Result<(), ApiError> {
        self.send(Method::POST, path, body).await.map(drop)
    }

    /// A POST whose effect is not state-setting (a Job restart runs a new job each time it is
    /// received): sent once and never retried here, since a retry after a lost answer would run
    /// the effect twice. Whoever calls it resolves an unknown outcome by looking for the effect.
    /// Returns the answer's JSON.
    pub async fn post_once_for_answer(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        let call = Call::new(self, &Method::POST, path, Some(body));
        let bytes = self
            .attempt(&call, Attempt::First)
            .await
            .map_err(|failure| failure.into_write_error())?;
        decode(&Method::POST, path, &bytes).map_err(|e| self.scrubbed(e))
    }

    /// PUT a JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> Result<(), ApiError> {
        self.send(Method::PUT, path, Some(body)).await.map(drop)
    }

    /// A PUT whose answer may carry the updated object: its JSON when it has some, else `None`
    /// (an empty or non-JSON answer is still a success).
    pub async fn put_for_answer(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<Option<Value>, ApiError> {
        let bytes = self.send(Method::PUT, path, Some(body)).await?;
        Ok(serde_json::from_slice(&bytes).ok())
    }

    /// One call; with a service-account token, a 401 reads the token file again and, when the
    /// token there is another one (rotated), sends the call once more with it.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Vec<u8>, ApiError> {
        let used = self.inner.token.as_ref().map(TokenSource::current);
        let result = self
            .send_retrying(Call::new(self, &method, path, body))
            .await;
        match (&self.inner.token, used, &result) {
            (Some(source), Some(used), Err(ApiError::Unauthorized { status: 401, .. }))
                if source.refresh(&used) =>
            {
                self.send_retrying(Call::new(self, &method, path, body))
                    .await
            }
            _ => result,
        }
    }

    /// One call, retried while it fails transiently; returns the 2xx answer's body.
    async fn send_retrying(&self, call: Call<'_>) -> Result<Vec<u8>, ApiError> {
        let (method, path) = (call.method, call.path);
        let policy = &self.inner.retry;
        // A read has no side effect: its retries are bounded by time (`read_patience.rs`).
        let read = *method == Method::GET;
        let started = std::time::Instant::now();
        let mut retry_number = 0u32;
        let mut retries_decided = 0u32;
        // What the last retried attempt met, for the message if the budget runs out.
        let mut last_failure: Option<ApiError> = None;
        let tries = AtomicU64::new(0);
        // The status the last attempt was refused with: a retry after a 429 is not the retry
        // budget's (see `attempt`).
        let last_status = std::sync::atomic::AtomicU16::new(0);
        let attempts = (|| {
            let retry = if tries.fetch_add(1, Ordering::Relaxed) == 0 {
                Attempt::First
            } else if last_status.load(Ordering::Relaxed) == 429 {
                Attempt::AfterRefusal
            } else {
                Attempt::Retry
            };
            self.attempt_noted(&call, retry)
        })
        .retry(backoff(policy, read))
        .when(|failure: &Failure| failure.transient && (read || !failure.unanswered))
        .adjust(|failure, delay| {
            let done = retries_decided;
            retries_decided += 1;
            let outage = self.inner.failure_streak.looks_like_outage();
            let delay = delay.map(|d| {
                if read {
                    read_patience::read_delay(d, outage)
                } else {
                    d
                }
            });
            let wait = self.retry_wait(&call, failure, delay)?;
            (!read || read_patience::read_again(policy, done, started.elapsed(), wait, outage))
                .then_some(wait)
        })
        .notify(|failure, delay| {
            last_status.store(failure.error.status().unwrap_or(0), Ordering::Relaxed);
            retry_number += 1;
            last_failure = Some(failure.error.clone());
            self.note_retry(&call, failure, delay, retry_number);
        });
        let result = attempts.await;
        result.map_err(|failure| {
            if !read && failure.unanswered {
                failure.into_write_error()
            } else if failure.budget_spent {
                budget_spent(self.inner.budget, method, path, last_failure)
            } else {
                failure.error
            }
        })
    }

    /// How long to wait before the next attempt, given the backoff's `delay` (`None`: the
    /// retries are used up). A Retry-After never extends the retries, and no wait runs past the
    /// request's budget: the attempt after it would be refused anyway.
    fn retry_wait(
        &self,
        call: &Call<'_>,
        failure: &Failure,
        delay: Option<Duration>,
    ) -> Option<Duration> {
        let policy = &self.inner.retry;
        let wait = delay.map(|d| match failure.retry_after {
            Some(wait) => wait.min(policy.max_retry_after).max(d),
            None => d,
        });
        let left = call.deadline.get().map(|d: &tokio::time::Instant| {
            d.saturating_duration_since(tokio::time::Instant::now())
        });
        match left {
            Some(left) => wait.map(|w| w.min(left)),
            None => wait,
        }
    }

    /// A retry counted and, when it is worth it, said: a long wait at once; the first retries
    /// are routine on a busy deployment, later ones deserve notice, one line every few seconds
    /// at most, with the others counted.
    fn note_retry(&self, call: &Call<'_>, failure: &Failure, delay: Duration, retry_number: u32) {
        let (method, path) = (call.method, call.path);
        self.inner.retries.fetch_add(1, Ordering::Relaxed);
        super::tally::note_retry(&failure.error);
        let status = failure.error.status().unwrap_or(0);
        let delay_ms = delay.as_millis() as u64;
        if self.inner.long_waits.worth_saying(delay) {
            say_long_wait(method, path, failure, delay);
        }
        let notice = (retry_number >= 3)
            .then(|| self.inner.retry_notices.worth_saying())
            .flatten();
        if let Some(unsaid) = notice {
            tracing::warn!(%method, path, status, delay_ms, retry = retry_number,
                    error = %failure.error, not_said_since = unsaid,
                    "transient failure, retrying (one such line every 10 s at most; -v shows each)");
        } else {
            tracing::debug!(%method, path, status, delay_ms, retry = retry_number,
                    error = %failure.error, "transient failure, retrying");
        }
    }

    /// `attempt`, its fate counted in the client's failure streak (`read_patience.rs`).
    async fn attempt_noted(&self, call: &Call<'_>, retry: Attempt) -> Result<Vec<u8>, Failure> {
        let result = self.attempt(call, retry).await;
        let transient = matches!(&result, Err(f) if f.transient);
        let answered = match &result {
            Ok(_) => true,
            Err(f) => f.error.status().is_some(),
        };
        self.inner.failure_streak.note(transient, answered);
        result
    }

    /// One HTTP exchange, inside the limits: the permit is held until the body has been read.
    /// A retry first waits for the retry budget (with the adaptive pace), which bounds the
    /// extra load a steady share of faults causes now that the rate holds through them.
    async fn attempt(&self, call: &Call<'_>, retry: Attempt) -> Result<Vec<u8>, Failure> {
        let (method, path) = (call.method, call.path);
        match retry {
            Attempt::First => self.inner.limiter.first_attempt(),
            Attempt::Retry => self.inner.limiter.retry_permit().await,
            // A 429 is the deployment's own word on our rate, and the rate answers it (its
            // cut, and the Retry-After this retry has waited): the retry waits for the rate,
            // not for the budget, which bounds the retries of the faults the rate holds
            // through. Otherwise a burst a limiter refused (a stage's last requests, all
            // retries, which no first attempt earns for) waited on one retry a second: 150
            // Scheduled Jobs took 38 s at 70 requests a second.
            Attempt::AfterRefusal => {}
        }
        let ticket = self.inner.limiter.acquire().await;
        let deadline = *call
            .deadline
            .get_or_init(|| tokio::time::Instant::now() + self.inner.budget);
        let spent = |unanswered| Failure {
            error: ApiError::Transport {
                method: method.to_string(),
                path: path.to_owned(),
                message: "the request's time is up".into(),
                refused: false,
            },
            transient: false,
            unanswered,
            retry_after: None,
            budget_spent: true,
            pushback: Some(Pushback::Timeout),
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(spent(false));
        }
        self.inner.requests_sent.fetch_add(1, Ordering::Relaxed);
        let result = match tokio::time::timeout_at(deadline, self.exchange(call)).await {
            Ok(result) => result,
            Err(_) => Err(spent(true)),
        };
        let signal = match &result {
            // A successful single attempt, compared with others of its kind.
            Ok(_) => Signal::Clean(
                ticket.sent().elapsed(),
                RouteClass::of(method.as_str(), path),
            ),
            Err(failure) => failure.pace_signal(),
        };
        self.inner.limiter.answered(&ticket, signal);
        if matches!(retry, Attempt::Retry) && result.is_ok() {
            self.inner.limiter.retry_served();
        }
        result
    }

    /// The exchange itself, once the limiter let it go.
    async fn exchange(&self, call: &Call<'_>) -> Result<Vec<u8>, Failure> {
        let (method, path) = (call.method, call.path);
        let mut request = self.inner.http.request(method.clone(), &call.url);
        if let Some(token) = &self.inner.token {
            request = request.header(AUTHORIZATION, token.current().value().clone());
        }
        match &call.body {
            Some(body) => request = request.body(body.clone()),
            // hyper sends no length for a POST without a body; load balancers in front of
            // Domino may answer 411 to that.
            None if *method == Method::POST => {
                request = request.header(CONTENT_LENGTH, "0");
            }
            None => {}
        }
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                self.note_timeout(method, path);
            }
            transport_failure(method, path, e, self.inner.proxy.as_deref())
        };
        let waiting = self.inner.in_flight.begin(format!("{method} {path}"));
        let response = request.send().await.map_err(transport)?;
        drop(waiting);
        let since_born = self.inner.born.elapsed().as_millis() as u64;
        self.inner
            .last_answer_ms
            .fetch_max(since_born.max(1), Ordering::Relaxed);
        let status = response.status();
        self.inner.server_clock.note(response.headers());
        let retry_after = parse_retry_after(response.headers());
        let redirected = status
            .is_redirection()
            .then(|| redirected_to(response.headers()));
        let bytes = response.bytes().await.map_err(|e| Failure {
            // The head came: the request was taken, whatever became of its body.
            unanswered: true,
            ..transport(e)
        })?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        Err(Failure {
            transient: super::error::is_transient_status(status.as_u16()),
            unanswered: false,
            retry_after,
            budget_spent: false,
            // Cut before the body is shortened, so no part of the credential survives the cut.
            error: status_error(
                method,
                path,
                status,
                self.scrub_text(
                    &redirected.unwrap_or_else(|| String::from_utf8_lossy(&bytes).into()),
                )
                .as_bytes(),
                self.inner.credential,
            ),
            pushback: is_pushback_status(status).then_some(Pushback::Status(status.as_u16())),
        })
    }

    /// `error` with the credential cut out of whatever text of the server it quotes.
    fn scrubbed(&self, error: ApiError) -> ApiError {
        error.map_server_text(|text| self.scrub_text(text))
    }

    /// `text` from the server with the credential the requests carry cut out.
    fn scrub_text(&self, text: &str) -> String {
        match (&self.inner.api_key, &self.inner.token) {
            (Some(key), _) => super::redact::redact(text, key),
            (None, Some(token)) => {
                let header = token.current();
                let value = header.value().to_str().unwrap_or_default();
                super::redact::redact(text, value.strip_prefix("Bearer ").unwrap_or(value))
            }
            (None, None) => text.to_owned(),
        }
    }

    /// The first attempt that times out is worth a warning at once: until the request's budget
    /// runs out, a server that has gone silent would otherwise look like a run that is working.
    fn note_timeout(&self, method: &Method, path: &str) {
        if !self.inner.timeout_warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "{method} {path}: no answer within {}; retrying for up to {} in all",
                humantime::format_duration(self.inner.attempt_timeout),
                humantime::format_duration(self.inner.budget),
            );
        }
    }
}

/// The lower bound of the server clock's lead over ours, from `Date` headers: a `Date` of D
/// (whole seconds, so stamped at or after D) received at our time L was stamped before L, so
/// the lead is at least D - L. The greatest such bound seen is kept; clocks drift too slowly
/// over a run for that to matter.
#[derive(Debug)]
struct ServerClock(std::sync::atomic::AtomicI64);

impl Default for ServerClock {
    fn default() -> Self {
        ServerClock(std::sync::atomic::AtomicI64::new(i64::MIN))
    }
}

impl ServerClock {
    fn note(&self, headers: &HeaderMap) {
        let Some(date) = headers
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v.trim()).ok())
        else {
            return;
        };
        let (Some(date), Some(now)) = (unix_ms(date), unix_ms(std::time::SystemTime::now())) else {
            return;
        };
        self.0.fetch_max(date - now, Ordering::Relaxed);
    }

    fn lead_at_least_ms(&self) -> Option<i64> {
        let lead = self.0.load(Ordering::Relaxed);
        (lead != i64::MIN).then_some(lead)
    }
}

fn unix_ms(t: std::time::SystemTime) -> Option<i64> {
    let ms = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis();
    i64::try_from(ms).ok()
}

/// The error of a request whose attempts have used up its budget (counted from the start of
/// the first attempt): a transport error, which is transient, so that a lasting silence counts as an outage, as refused connections do. It says
/// what the last attempt met, unless that was silence too.
fn budget_spent(budget: Duration, method: &Method, path: &str, last: Option<ApiError>) -> ApiError {
    let within = humantime::format_duration(budget);
    let refused = matches!(last, Some(ApiError::Status { .. }));
    let message = match last {
        Some(ApiError::Transport { message, .. }) if !message.starts_with("timed out") => {
            format!("no answer within {within}; the last attempt: {message}")
        }
        // The server answered, if only to refuse: say so, or an operator looks for an outage.
        Some(e @ ApiError::Status { .. }) => {
            format!("not done within {within}, every attempt refused; the last: {e}")
        }
        _ => format!(
            "no answer within {within} (the server accepts connections but does not answer)"
        ),
    };
    ApiError::Transport {
        method: method.to_string(),
        path: path.to_owned(),
        message,
        refused,
    }
}

fn transport_failure(
    method: &Method,
    path: &str,
    e: reqwest::Error,
    proxy: Option<&str>,
) -> Failure {
    let plain_http = is_plain_http_answer(&e);
    let mut message = if plain_http {
        "the server does not speak TLS: it answered in plain HTTP (use an http:// URL, or the TLS port)".to_owned()
    } else {
        describe_transport(&e)
    };
    if let Some(proxy) = proxy
        && e.is_connect()
        && !plain_http
    {
        message.push_str(&format!(" (through the proxy {proxy})"));
    }
    // A certificate that fails verification, or a server that answers TLS in plain HTTP,
    // fails the same way on every retry.
    let transient = !e.is_builder() && !is_certificate_rejected(&e) && !plain_http;
    let pushback = if !transient {
        None
    } else if e.is_timeout() {
        Some(Pushback::Timeout)
    } else {
        Some(Pushback::Connection)
    };
    Failure {
        transient,
        // Past the connection, the request may have reached the server before the failure.
        unanswered: transient && !e.is_connect(),
        pushback,
        retry_after: None,
        budget_spent: false,
        error: ApiError::Transport {
            method: method.to_string(),
            path: path.to_owned(),
            message,
            refused: false,
        },
    }
}

/// An `https://` URL to a server that speaks plain HTTP: rustls reads the HTTP answer as a TLS
/// record of an invalid type.
fn is_plain_http_answer(e: &reqwest::Error) -> bool {
    let chain = error_chain(e);
    chain.contains("InvalidContentType") || chain.contains("http request to https server")
}

/// A failed attempt, with what the retry loop needs to decide.
struct Failure {
    error: ApiError,
    transient: bool,
    /// The request left and no answer came: a write may have been applied.
    unanswered: bool,
    retry_after: Option<Duration>,
    /// The request's budget ran out during this attempt (or before it began): no more retries.
    budget_spent: bool,
    /// The deployment pushed back: the pace slows down.
    pushback: Option<Pushback>,
}

impl Failure {
    /// The error a write ends with: one that may have been applied says so.
    fn into_write_error(self) -> ApiError {
        match self.error {
            ApiError::Transport {
                method,
                path,
                message,
                ..
            } if self.unanswered => ApiError::Unanswered {
                method,
                path,
                message,
            },
            error => error,
        }
    }

    /// What this failure says about the pace: a pushback, a final answer that still shows the
    /// deployment answering promptly (401, 404, another 4xx), or nothing (a 500 or 502).
    fn pace_signal(&self) -> Signal {
        match self.pushback {
            Some(why) => Signal::Pushback(why),
            None if self.transient => Signal::Neutral,
            None if matches!(self.error, ApiError::Transport { .. }) => Signal::Neutral,
            None => Signal::Answered,
        }
    }
}

/// A 2xx answer's JSON. An HTML page (a proxy's login page answers 200 too) is named as such
/// rather than as a JSON parser's complaint about its first `<`.
fn decode<T: DeserializeOwned>(method: &Method, path: &str, body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        if looks_like_html(body) {
            ApiError::NotAnApi {
                method: method.to_string(),
                path: path.to_owned(),
            }
        } else {
            ApiError::Decode {
                method: method.to_string(),
                path: path.to_owned(),
                message: e.to_string(),
            }
        }
    })
}

/// Whether a body starts as a web page does (`<!DOCTYPE html`, `<html`, `<head`, ...).
fn looks_like_html(body: &[u8]) -> bool {
    let start = String::from_utf8_lossy(&body[..body.len().min(512)]);
    let start = start.trim_start_matches('\u{feff}').trim_start();
    let lower = start.to_ascii_lowercase();
    [
        "<!doctype html",
        "<html",
        "<head",
        "<body",
        "<!--",
        "<meta",
        "<title",
    ]
    .iter()
    .any(|tag| lower.starts_with(tag))
}

/// The answers that mean "fewer requests, please": too many requests, unavailable, and a
/// gateway's timeout (a timeout seen by the frontend rather than by us).
fn is_pushback_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 503 | 504)
}

fn status_error(
    method: &Method,
    path: &str,
    status: StatusCode,
    body: &[u8],
    credential: &'static str,
) -> ApiError {
    let method = method.to_string();
    let path = path.to_owned();
    match status.as_u16() {
        401 | 403 => ApiError::Unauthorized {
            method,
            path,
            status: status.as_u16(),
            credential,
        },
        404 => ApiError::NotFound { method, path },
        code => ApiError::Status {
            method,
            path,
            status: code,
            body: truncate_body(body),
        },
    }
}

/// One request as each of its attempts sends it: the same method, path, URL and body, and the
/// deadline its first attempt sets for them all (the budget starts with the first attempt, not
/// while the request waits for its turn in the limits: many requests queued behind a slow
/// server are not late).
struct Call<'a> {
    method: &'a Method,
    path: &'a str,
    url: String,
    body: Option<Vec<u8>>,
    deadline: std::sync::OnceLock<tokio::time::Instant>,
}

impl<'a> Call<'a> {
    fn new(client: &DominoClient, method: &'a Method, path: &'a str, body: Option<&Value>) -> Self {
        Call {
            method,
            path,
            url: client.url(path),
            body: body.map(|b| serde_json::to_vec(b).expect("a JSON value always serializes")),
            deadline: std::sync::OnceLock::new(),
        }
    }
}

/// The backoff between attempts: a read's retries are bounded by time, a write's by number.
fn backoff(policy: &RetryPolicy, read: bool) -> ExponentialBuilder {
    let backoff = ExponentialBuilder::default()
        .with_min_delay(policy.min_delay)
        .with_max_delay(policy.max_delay)
        .with_max_times(if read { usize::MAX } else { policy.max_retries });
    if policy.jitter {
        backoff.with_jitter()
    } else {
        backoff
    }
}

/// Which attempt of a request this is, for the retry budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Attempt {
    First,
    /// After a fault (5xx, a dropped connection, a timeout): the budget's.
    Retry,
    /// After a 429: the rate's.
    AfterRefusal,
}

/// A retry wait of [`long_wait::LONG`](super::long_wait::LONG) or more, said at the default
/// level: what is waited for, until when, and why (the server's own wait if it gave one).
fn say_long_wait(method: &Method, path: &str, failure: &Failure, delay: Duration) {
    use super::long_wait::{TARGET, wall_clock_in};
    let why = match (failure.error.status(), failure.retry_after) {
        (Some(status), Some(asked)) if asked > delay => format!(
            "HTTP {status} asked for {}s (Retry-After), dmm waits at most {}s a retry",
            asked.as_secs(),
            delay.as_secs()
        ),
        (Some(status), Some(_)) => format!("HTTP {status} with Retry-After"),
        (Some(status), None) => format!("HTTP {status}"),
        (None, _) => failure.error.to_string(),
    };
    let until = wall_clock_in(delay);
    let wait_s = delay.as_secs();
    tracing::info!(target: TARGET, %method, path, wait_s, until,
        "waiting {wait_s}s, until {until}, to send {method} {path} again: {why}");
}

/// `Retry-After` in seconds, or as an HTTP-date (RFC 9110 allows both; Domino sends seconds,
/// but a proxy or frontend in front of it may send a date). A date in the past is no wait;
/// anything else unreadable is ignored (the backoff applies).
fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// What a redirect's answer says instead of its body: where it pointed, and why it was not
/// followed.
fn redirected_to(headers: &HeaderMap) -> String {
    let location = headers
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .unwrap_or("an address it does not say");
    format!(
        "redirected to {location}; dmm follows no redirect, so that the credential goes to \
         DOMINO_HOSTNAME only: set it to where the API answers"
    )
}

/// The start of an error answer's body on one line, cut at a character boundary.
pub(crate) fn truncate_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(ERROR_BODY_CHARS) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

/// What went wrong on the wire, without the URL (the error already names method and path).
fn describe_transport(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "the answer was cut off"
    } else {
        "the request failed"
    };
    let causes = error_chain(e);
    if causes.is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {causes}")
    }
}

/// Whether TLS verification rejected the server's certificate (rustls's wording): a matter of
/// configuration (`--ca-cert`), not of a busy or flaky server.
fn is_certificate_rejected(e: &reqwest::Error) -> bool {
    let chain = error_chain(e);
    chain.contains("invalid peer certificate") || chain.contains("certificate verify failed")
}

/// The causes of an error, outermost first, without the URL and without repeats.
fn error_chain(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domino::test_support::{serve, test_config};
    use crate::pace::{AdaptivePace, Pace};

    /// A server that answers `status` to the first `n` requests, then 200.
    async fn refusing(status: u16, n: usize) -> String {
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let router = axum::Router::new().route(
            "/v4/thing",
            axum::routing::get(move || {
                let count = Arc::clone(&count);
                async move {
                    use axum::response::IntoResponse;
                    if count.fetch_add(1, Ordering::SeqCst) < n {
                        let status = axum::http::StatusCode::from_u16(status).unwrap();
                        (status, [("retry-after", "0")], "no").into_response()
                    } else {
                        axum::Json(serde_json::json!({"ok": true})).into_response()
                    }
                }
            }),
        );
        serve(router).await
    }

    /// Retries after a 429 wait for the rate, not for the retry budget; retries after other
    /// faults take from the budget.
    #[tokio::test]
    async fn a_retry_after_a_429_is_not_the_retry_budgets() {
        for (status, budgeted) in [(429, 0), (503, 3)] {
            let mut config = test_config(&refusing(status, 3).await);
            config.limits.pace = Pace::Adaptive(AdaptivePace {
                initial: 1000.0,
                max: 1000.0,
                min: 1000.0,
            });
            let client = DominoClient::new(&config).unwrap();
            client.get_value("/v4/thing").await.unwrap();
            let (retries, firsts) = client.inner.limiter.retry_counts().unwrap();
            assert_eq!((retries, firsts), (budgeted, 1), "after {status}s");
        }
    }

    /// Whether a spent budget was the server refusing is a field of the error, not a phrase in
    /// its message: an outage and a server that answers "no" are told apart by type.
    #[test]
    fn a_spent_budget_says_by_type_whether_every_attempt_was_refused() {
        let status = ApiError::Status {
            method: "GET".into(),
            path: "/v4/projects".into(),
            status: 503,
            body: String::new(),
        };
        let refused = budget_spent(Duration::from_secs(5), &Method::GET, "/p", Some(status));
        assert!(refused.is_refusal() && refused.is_transient(), "{refused}");
        let silent = budget_spent(Duration::from_secs(5), &Method::GET, "/p", None);
        assert!(!silent.is_refusal() && silent.is_transient(), "{silent}");
    }
}
