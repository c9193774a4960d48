//! What stands between a client and a Domino route: the fault injection with the request log,
//! then the API key check.

use axum::extract::{MatchedPath, OriginalUri, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::{API_KEY_HEADER, Shared, error};
use crate::Kind;
use crate::faults::{Verdict, dropped_connection};
use crate::log::{MutationRecord, Outcome};

pub async fn require_key(State(sim): State<Shared>, req: Request, next: Next) -> Response {
    // A load balancer in front of Domino answers before Domino sees the key.
    if sim.config.require_content_length
        && req.method() == Method::POST
        && !req.headers().contains_key(header::CONTENT_LENGTH)
    {
        return error(
            StatusCode::LENGTH_REQUIRED,
            "a POST must carry Content-Length (0 when it has no body)",
        );
    }
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let Some(token) = bearer {
        return if sim.accepts_token(token) {
            next.run(req).await
        } else {
            // Never echo the token that was sent.
            error(
                StatusCode::UNAUTHORIZED,
                "the bearer token is invalid or has expired",
            )
        };
    }
    let key = req
        .headers()
        .get(API_KEY_HEADER)
        .and_then(|v| v.to_str().ok());
    match key {
        Some(k) if k == sim.config.api_key => next.run(req).await,
        // Who-am-I answers for any valid key, as in Domino: it is how a tool learns that its
        // key is not an administrator's (`isAdmin: false`). Everything else is refused.
        Some(k)
            if sim.config.non_admin_key.as_deref() == Some(k)
                && super::meta::answers_any_valid_key(req.uri().path()) =>
        {
            next.run(req).await
        }
        Some(k) if sim.config.non_admin_key.as_deref() == Some(k) => error(
            StatusCode::FORBIDDEN,
            "this API key does not belong to an administrator",
        ),
        // Never echo the key that was sent.
        _ => error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong X-Domino-Api-Key",
        ),
    }
}

/// The execution a mutating request is about, from its path (the prefix already stripped).
pub fn mutation_target(method: &Method, path: &str) -> Option<(Kind, String)> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (kind, id) = match (method.as_str(), segments.as_slice()) {
        ("POST", ["v4", "modelProducts", id, "stop" | "start"]) => (Kind::App, id),
        (
            "POST",
            [
                "v4",
                "models",
                _,
                version,
                "stopModelDeployment" | "startModelDeployment",
            ],
        ) => (Kind::ModelApiVersion, version),
        ("POST", ["v4", "workspace", "project", _, "workspace", id, "stop"]) => {
            (Kind::Workspace, id)
        }
        ("PUT", ["v4", "projects", _, "scheduledjobs", id]) => (Kind::ScheduledJob, id),
        _ => return None,
    };
    Some((kind, (*id).to_owned()))
}

/// Whether a mutating request names its execution in its body (the Job stop and restart).
fn names_target_in_body(method: &Method, path: &str) -> bool {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    method == Method::POST && matches!(segments.as_slice(), ["v4", "jobs", "stop" | "restart"])
}

/// The Job a stop or restart body names (`jobId`), if it names one.
pub fn body_target(body: &[u8]) -> Option<(Kind, String)> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let id = value.get("jobId")?.as_str()?;
    Some((Kind::Job, id.to_owned()))
}

/// The largest body read to find the execution it names.
const BODY_LIMIT: usize = 1 << 20;

pub async fn faults_and_log(State(sim): State<Shared>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let full_path = req
        .extensions()
        .get::<OriginalUri>()
        .map(|u| u.path().to_owned())
        .unwrap_or_else(|| req.uri().path().to_owned());
    let prefix = sim.config.normalized_prefix();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str())
        .unwrap_or("unmatched");
    let route = route
        .strip_prefix(prefix.as_str())
        .unwrap_or(route)
        .to_owned();
    let echo = sim
        .injector()
        .faults
        .echo_request
        .then(|| echoed_request(&method, &req));
    let mut target = mutation_target(&method, req.uri().path());
    let req = if names_target_in_body(&method, req.uri().path()) {
        let (parts, body) = req.into_parts();
        // A body that cannot be read is passed on empty: the route answers 400.
        let bytes = axum::body::to_bytes(body, BODY_LIMIT)
            .await
            .unwrap_or_default();
        target = body_target(&bytes);
        Request::from_parts(parts, axum::body::Body::from(bytes))
    } else {
        req
    };
    let at_ms = sim.now_ms();
    {
        let mut log = sim.log();
        log.total += 1;
        *log.by_route.entry(format!("{method} {route}")).or_default() += 1;
    }

    let (latency, mut verdict) = sim.injector().decide(at_ms);
    let route_key = format!("{method} {route}");
    let mut refuse_after_applying = None;
    let mut refusal_retry_after = None;
    if verdict == Verdict::Pass
        && let Some(refusal) = sim
            .injector()
            .refusal(&route_key, target.as_ref().map(|(_, id)| id.as_str()))
    {
        refusal_retry_after = refusal.retry_after;
        if refusal.after_applying {
            refuse_after_applying = Some(refusal.status);
        } else {
            verdict = Verdict::Error(refusal.status);
        }
    }
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let (response, outcome) = match verdict {
        Verdict::Drop => (dropped_connection(), Outcome::Dropped),
        Verdict::Error(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = error(
                status,
                with_echo("domino-sim: injected server error", &echo),
            );
            if let Some(value) = refusal_retry_after
                .as_deref()
                .and_then(|v| HeaderValue::from_str(v).ok())
            {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            (response, Outcome::Answered)
        }
        Verdict::RateLimited { retry_after_s } => {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                with_echo("domino-sim: slow down", &echo),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
            (response, Outcome::Answered)
        }
        Verdict::Pass => {
            let response = next.run(req).await;
            let row_us = sim.injector().faults.list_row_us;
            let response = if method == Method::GET && row_us > 0 {
                listing_cost(response, row_us).await
            } else {
                response
            };
            let answer_delay = sim.injector().faults.answer_delay_ms;
            if target.is_some() && answer_delay > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(answer_delay)).await;
            }
            if let Some(code) = refuse_after_applying {
                let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
                (
                    error(
                        status,
                        with_echo(
                            "domino-sim: the gateway gave up (the request was done)",
                            &echo,
                        ),
                    ),
                    Outcome::Answered,
                )
            } else if target.is_some()
                && response.status().is_success()
                && sim.injector().lose_answer()
            {
                (dropped_connection(), Outcome::AnswerLost)
            } else {
                (response, Outcome::Answered)
            }
        }
    };

    let status = (outcome == Outcome::Answered).then(|| response.status().as_u16());
    let mut log = sim.log();
    let second = log.per_second.entry(at_ms / 1000).or_default();
    second.arrived += 1;
    if status.is_some_and(|s| (200..300).contains(&s)) {
        second.clean += 1;
    }
    match (outcome, status) {
        (Outcome::Dropped, _) => log.faults.dropped += 1,
        (Outcome::AnswerLost, _) => log.faults.answers_lost += 1,
        (_, Some(429)) => log.faults.rate_limited += 1,
        (_, Some(401)) => log.faults.unauthorized += 1,
        (_, Some(403)) => log.faults.forbidden += 1,
        (_, Some(s)) if matches!(verdict, Verdict::Error(_)) && s >= 500 => log.faults.errors += 1,
        _ => {}
    }
    if matches!(method, Method::POST | Method::PUT) {
        let (kind, execution_id) = match target {
            Some((k, id)) => (Some(k), Some(id)),
            None => (None, None),
        };
        log.mutations.push(MutationRecord {
            at_ms,
            method: method.to_string(),
            path: full_path,
            kind,
            execution_id,
            outcome,
            status,
        });
    }
    response
}

/// Delays a listing by `row_us` per row it returns (an array, bare or in `data`), as a server
/// that reads and serializes each row does.
async fn listing_cost(response: Response, row_us: u64) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let rows = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Array(rows)) => rows.len(),
        Ok(serde_json::Value::Object(map)) => map
            .values()
            .find_map(|v| v.as_array().map(Vec::len))
            .unwrap_or(0),
        _ => 0,
    };
    if rows > 0 {
        tokio::time::sleep(std::time::Duration::from_micros(row_us * rows as u64)).await;
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// `GET /v4/x with headers a: b; c: d`: the request as an echoing error page quotes it.
fn echoed_request(method: &Method, req: &Request) -> String {
    let headers: Vec<String> = req
        .headers()
        .iter()
        .map(|(name, value)| format!("{name}: {}", String::from_utf8_lossy(value.as_bytes())))
        .collect();
    format!(
        "{method} {} with headers {}",
        req.uri().path(),
        headers.join("; ")
    )
}

fn with_echo(message: &str, echo: &Option<String>) -> String {
    match echo {
        Some(echo) => format!("{message}; the request was {echo}"),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutation_paths_name_their_execution() {
        for (method, path, named) in [
            (
                Method::POST,
                "/v4/modelProducts/a1/stop",
                Some((Kind::App, "a1")),
            ),
            (
                Method::POST,
                "/v4/models/m1/v1/startModelDeployment",
                Some((Kind::ModelApiVersion, "v1")),
            ),
            (
                Method::POST,
                "/v4/workspace/project/p/workspace/w/stop",
                Some((Kind::Workspace, "w")),
            ),
            (
                Method::PUT,
                "/v4/projects/p/scheduledjobs/j",
                Some((Kind::ScheduledJob, "j")),
            ),
            (Method::GET, "/v4/modelProducts/a1", None),
        ] {
            let named = named.map(|(kind, id)| (kind, id.to_owned()));
            assert_eq!(mutation_target(&method, path), named, "{method} {path}");
        }
        assert!(names_target_in_body(&Method::POST, "/v4/jobs/stop"));
        assert!(names_target_in_body(&Method::POST, "/v4/jobs/restart"));
        assert!(!names_target_in_body(&Method::GET, "/v4/jobs/stop"));
        assert_eq!(
            body_target(br#"{"projectId": "p", "jobId": "j", "commitResults": true}"#),
            Some((Kind::Job, "j".into()))
        );
        assert_eq!(body_target(b"not json"), None);
    }
}
