//! Jobs (batch runs): list a project's (paged, filtered by status), read one, stop, restart.
//!
//! The stop and the restart name their job in the body, not the path; the request log finds it
//! there (`guard::body_target`).

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::Shared;
use crate::Kind;
use crate::model::{Detail, Execution, Motion, Refusal};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/v4/jobs", get(list))
        .route("/v4/jobs/stop", post(stop))
        .route("/v4/jobs/restart", post(restart))
        .route("/v4/jobs/{job_id}", get(read))
}

/// The page size served when none is asked for.
const DEFAULT_PAGE_SIZE: usize = 10;

/// How long a job that ended before the simulator started ran for (for `completedTime`).
const ENDED_RUN_MS: i64 = 120_000;

/// The job object, as `GET /v4/jobs` and `GET /v4/jobs/{id}` serve it, with a few fields the
/// client does not know. `now_ms` is the simulator's clock, `epoch_ms` its start on the wall
/// clock.
pub fn job_json(e: &Execution, now_ms: u64, epoch_ms: u64) -> Value {
    let Detail::Job {
        number,
        command,
        started_by_id,
        submitted_ms,
        natural_end_ms,
        ended_at_start,
        ..
    } = &e.detail
    else {
        return Value::Null;
    };
    let status = e.status(now_ms);
    let epoch = |relative_ms: i64| (epoch_ms as i64).saturating_add(relative_ms).max(0);
    let completed_ms = match (status.stopped, natural_end_ms, &e.motion) {
        (false, _, _) => None,
        (true, _, _) if *ended_at_start => Some(epoch(submitted_ms + ENDED_RUN_MS).min(epoch(0))),
        (true, Some(at), _) if status.label == "Succeeded" => Some(epoch(*at as i64)),
        (
            true,
            _,
            Motion::Moving {
                arrives_ms: Some(at),
                ..
            },
        ) => Some(epoch(*at as i64)),
        // Stopped behind the tool's back: when is not kept.
        (true, _, _) => None,
    };
    json!({
        "id": e.id,
        "number": number,
        "projectId": e.project_id,
        "title": e.name,
        "jobRunCommand": command,
        "statuses": {
            "isCompleted": status.stopped,
            "executionStatus": status.label,
            "isArchived": false,
            "isScheduled": false,
        },
        "startedBy": { "id": started_by_id, "username": e.owner },
        "stageTime": {
            "submissionTime": epoch(*submitted_ms),
            "completedTime": completed_ms,
        },
        "hardwareTier": { "id": "small-k8s", "name": "Small" },
        "dominoStats": {},
    })
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(rename = "projectId")]
    project_id: Option<String>,
    status: Option<String>,
    page_size: Option<usize>,
    page_no: Option<usize>,
    order_by: Option<String>,
    sort_by: Option<String>,
}

/// Which Jobs a `status` word lists.
#[derive(Clone, Copy, Debug, PartialEq)]
enum StatusFilter {
    All,
    /// Not completed; in strict mode, only those that show `Running`.
    Running,
    /// Only those that show `Queued` (strict mode only).
    Queued,
    Completed,
}

impl StatusFilter {
    /// The word as the server reads it: `all` (python-domino's default), `running`,
    /// `completed`, and `queued` in strict mode; another word is 400.
    fn parse(word: Option<&str>, strict: bool) -> Result<StatusFilter, Refusal> {
        let Some(word) = word else {
            return Ok(StatusFilter::All);
        };
        match word.to_ascii_lowercase().as_str() {
            "all" => Ok(StatusFilter::All),
            "running" => Ok(StatusFilter::Running),
            "completed" => Ok(StatusFilter::Completed),
            "queued" if strict => Ok(StatusFilter::Queued),
            _ => Err(Refusal::BadRequest(format!(
                "unknown status filter '{word}' ({})",
                if strict {
                    "all, queued, running or completed"
                } else {
                    "all, running or completed"
                }
            ))),
        }
    }

    fn keeps(self, e: &Execution, now_ms: u64, strict: bool) -> bool {
        let status = e.status(now_ms);
        match self {
            StatusFilter::All => true,
            StatusFilter::Completed => status.stopped,
            StatusFilter::Running if strict => status.label == "Running",
            StatusFilter::Running => !status.stopped,
            StatusFilter::Queued => status.label == "Queued",
        }
    }
}

/// The order of a listing: `order_by` `number` (the default) or `title`, `sort_by` `desc` (the
/// default, newest first) or `asc`; another word is 400.
fn ordering(
    order_by: Option<&str>,
    sort_by: Option<&str>,
) -> Result<impl Fn(&Execution, &Execution) -> std::cmp::Ordering, Refusal> {
    let by_title = match order_by.map(str::to_ascii_lowercase).as_deref() {
        None | Some("number") => false,
        Some("title") => true,
        Some(_) => {
            return Err(Refusal::BadRequest(format!(
                "unknown order_by '{}' (number or title)",
                order_by.unwrap_or_default()
            )));
        }
    };
    let descending = match sort_by.map(str::to_ascii_lowercase).as_deref() {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(_) => {
            return Err(Refusal::BadRequest(format!(
                "unknown sort_by '{}' (asc or desc)",
                sort_by.unwrap_or_default()
            )));
        }
    };
    let number = |e: &Execution| match &e.detail {
        Detail::Job { number, .. } => *number,
        _ => 0,
    };
    Ok(move |a: &Execution, b: &Execution| {
        let order = if by_title {
            a.name.cmp(&b.name).then(number(a).cmp(&number(b)))
        } else {
            number(a).cmp(&number(b))
        };
        if descending { order.reverse() } else { order }
    })
}

async fn list(
    State(sim): State<Shared>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, Refusal> {
    let Some(project_id) = q.project_id else {
        return Err(Refusal::BadRequest("projectId is required".into()));
    };
    let strict = sim.config.strict_job_status;
    let filter = StatusFilter::parse(q.status.as_deref(), strict)?;
    let order = ordering(q.order_by.as_deref(), q.sort_by.as_deref())?;
    let page_size = sim
        .config
        .page_size(q.page_size.unwrap_or(DEFAULT_PAGE_SIZE));
    if page_size == 0 {
        return Err(Refusal::BadRequest("page_size must be at least 1".into()));
    }
    let page_no = q.page_no.unwrap_or(1);
    if page_no == 0 {
        return Err(Refusal::BadRequest("page_no counts from 1".into()));
    }
    let now = sim.now_ms();
    let d = sim.deployment();
    d.require_project(&project_id)?;
    let mut matching: Vec<&Execution> = d
        .batch_jobs_of(&project_id)
        .filter(|e| filter.keeps(e, now, strict))
        .collect();
    matching.sort_by(|a, b| order(a, b));
    let total = matching.len();
    let jobs: Vec<Value> = matching
        .into_iter()
        .skip((page_no - 1).saturating_mul(page_size))
        .take(page_size)
        .map(|e| job_json(e, now, stamp_epoch(&sim, d.epoch_ms)))
        .collect();
    Ok(Json(json!({ "jobs": jobs, "totalCount": total })))
}

async fn read(
    State(sim): State<Shared>,
    Path(job_id): Path<String>,
) -> Result<Json<Value>, Refusal> {
    let now = sim.now_ms();
    let d = sim.deployment();
    let job = d
        .get(Kind::Job, &job_id)
        .ok_or_else(|| Refusal::NotFound(format!("no job with id {job_id}")))?;
    Ok(Json(job_json(job, now, stamp_epoch(&sim, d.epoch_ms))))
}

/// The wall-clock start that Jobs' stamps count from: the simulator's, moved by the stamp skew
/// fault (a backend whose clock is not the gateway's).
fn stamp_epoch(sim: &Shared, epoch_ms: u64) -> u64 {
    let skew = sim.injector().faults.stamp_skew_ms;
    u64::try_from((epoch_ms as i64).saturating_add(skew)).unwrap_or(0)
}

/// The body as a JSON object, or the 400 Domino answers.
fn object(body: &[u8], shape: &str) -> Result<Map<String, Value>, Refusal> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Refusal::BadRequest(format!("the body must be {shape}"))),
        Err(e) => Err(Refusal::BadRequest(format!(
            "the body is not valid JSON ({e}); expected {shape}"
        ))),
    }
}

fn string_field<'a>(body: &'a Map<String, Value>, name: &str) -> Result<&'a str, Refusal> {
    body.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| Refusal::BadRequest(format!("{name} must be a string")))
}

/// A boolean field: `None` when missing or null, 400 when something else.
fn bool_field(body: &Map<String, Value>, name: &str) -> Result<Option<bool>, Refusal> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(Refusal::BadRequest(format!("{name} must be a boolean"))),
    }
}

const STOP_SHAPE: &str = r#"{"projectId", "jobId", "commitResults": bool}"#;
const RESTART_SHAPE: &str = r#"{"jobId", "shouldUseOriginalInputCommit": bool}"#;

async fn stop(
    State(sim): State<Shared>,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Result<Json<Value>, Refusal> {
    let body = object(&body, STOP_SHAPE)?;
    let project_id = string_field(&body, "projectId")?;
    let job_id = string_field(&body, "jobId")?;
    let commit_results = bool_field(&body, "commitResults")? == Some(true);
    let now = sim.now_ms();
    let (ended_at_start, job) = {
        let mut d = sim.deployment();
        let ended_at_start = d.stop_job(project_id, job_id, commit_results, now)?;
        let job = d
            .get(Kind::Job, job_id)
            .map(|e| job_json(e, now, stamp_epoch(&sim, d.epoch_ms)))
            .unwrap_or(Value::Null);
        (ended_at_start, job)
    };
    let request = format!("POST {}", uri.path());
    if !commit_results {
        sim.record_violation(
            Kind::Job,
            job_id,
            request.clone(),
            "a stop without commitResults: true discards the job's results".into(),
        );
    }
    if ended_at_start {
        sim.record_violation(
            Kind::Job,
            job_id,
            request,
            "a stop of a job that had ended before the run began".into(),
        );
    }
    Ok(Json(job))
}

async fn restart(
    State(sim): State<Shared>,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Result<Json<Value>, Refusal> {
    let body = object(&body, RESTART_SHAPE)?;
    let job_id = string_field(&body, "jobId")?;
    let original_commit = bool_field(&body, "shouldUseOriginalInputCommit")?;
    let (by_id, by_name) = sim.principal();
    let now = sim.now_ms();
    let (new_job, restarts, ended_at_start, in_motion, not_ended_by_a_stop) = {
        let mut d = sim.deployment();
        let in_motion = d
            .get(Kind::Job, job_id)
            .is_some_and(|e| !e.status(now).stopped);
        // How the original ended, before the restart: a maintenance tool restarts only a job
        // that a stop request reached and that then showed `Stopped`.
        let not_ended_by_a_stop = d.get(Kind::Job, job_id).and_then(|e| match &e.detail {
            Detail::Job { stops, .. } => {
                let status = e.status(now);
                (status.stopped && (stops.is_empty() || status.label != "Stopped"))
                    .then(|| status.label.to_string())
            }
            _ => None,
        });
        let new_id = d.restart_job(job_id, (&by_id, &by_name), now)?;
        let original = d.get(Kind::Job, job_id);
        let (restarts, ended_at_start) = match original.map(|e| &e.detail) {
            Some(Detail::Job {
                restarted_as,
                ended_at_start,
                ..
            }) => (restarted_as.len(), *ended_at_start),
            _ => (0, false),
        };
        let new_job = d
            .get(Kind::Job, &new_id)
            .map(|e| job_json(e, now, stamp_epoch(&sim, d.epoch_ms)))
            .unwrap_or(Value::Null);
        (
            new_job,
            restarts,
            ended_at_start,
            in_motion,
            not_ended_by_a_stop,
        )
    };
    let request = format!("POST {}", uri.path());
    if restarts > 1 {
        sim.record_violation(
            Kind::Job,
            job_id,
            request.clone(),
            format!("restart number {restarts} of the same job: it ran more than once"),
        );
    }
    if original_commit != Some(true) {
        sim.record_violation(
            Kind::Job,
            job_id,
            request.clone(),
            "a restart without shouldUseOriginalInputCommit: true runs other code".into(),
        );
    }
    if in_motion {
        sim.record_violation(
            Kind::Job,
            job_id,
            request.clone(),
            "a restart of a job that has not ended: both run at once".into(),
        );
    }
    if ended_at_start {
        sim.record_violation(
            Kind::Job,
            job_id,
            request.clone(),
            "a restart of a job that had ended before the run began".into(),
        );
    } else if let Some(label) = not_ended_by_a_stop {
        sim.record_violation(
            Kind::Job,
            job_id,
            request,
            format!(
                "a restart of a job that did not end by a stop request (it shows {label}): it ran to its end, or someone else stopped it"
            ),
        );
    }
    Ok(Json(new_job))
}
