//! One running simulator's shared state: the deployment, the faults, the request log and the
//! clock. The HTTP routes and `SimHandle` both work through it.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::config::{DeploymentSource, SimConfig};
use super::faults::{FaultInjector, Faults, FaultsPatch};
use super::generate::generate;
use super::ids::{hash_str, mix};
use super::log::{RefusedStart, RequestLog, Violation};
use super::model::{Deployment, Detail, Motion, Refusal, Target, Timing};
use super::view::{ExecutionState, JobState, SimState};
use crate::Kind;

/// The `canonicalName` of the principal every accepted key or token acts as.
pub const PRINCIPAL_NAME: &str = "sim-admin";

#[derive(Debug)]
pub struct Simulator {
    pub config: SimConfig,
    started: Instant,
    deployment: Mutex<Deployment>,
    faults: Mutex<FaultInjector>,
    log: Mutex<RequestLog>,
    /// Kept apart from the request log: resetting counters does not forgive a violation.
    violations: Mutex<Vec<Violation>>,
    /// Starts refused because the execution was already starting or running; kept apart from
    /// the request log for the same reason.
    refused_starts: Mutex<Vec<RefusedStart>>,
    /// The bearer token accepted now (rotated by `/__sim/token`).
    bearer: Mutex<Option<String>>,
}

/// A panic in one handler must not take the whole simulator down with a poisoned lock.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The user who restarts a Job from the UI during the window, in the tests' scenarios.
pub const SOMEONE_ELSE: &str = "someone-else";

impl Simulator {
    pub fn new(config: SimConfig) -> Result<Simulator, String> {
        config.validate()?;
        let timing = Timing {
            seed: config.seed,
            transition_ms: config.transition_ms,
            jitter_ms: config.transition_jitter_ms,
            stuck_rate: config.stuck_rate,
        };
        let mut deployment = match &config.deployment {
            DeploymentSource::Generate(spec) => {
                let mut d = generate(spec, config.seed).build(timing)?;
                d.vary_words();
                d
            }
            DeploymentSource::Scenario(s) => s.build(timing)?,
        };
        // Job times are served in milliseconds since the epoch, counted from here.
        deployment.epoch_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Ok(Simulator {
            started: Instant::now(),
            deployment: Mutex::new(deployment),
            faults: Mutex::new(FaultInjector::new(config.faults.clone(), config.seed)),
            log: Mutex::new(RequestLog::default()),
            violations: Mutex::new(Vec::new()),
            refused_starts: Mutex::new(Vec::new()),
            bearer: Mutex::new(config.bearer_token.clone()),
            config,
        })
    }

    pub fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Now by the simulator's clock, in milliseconds since the epoch (what Jobs' times use).
    pub fn epoch_now_ms(&self) -> u64 {
        self.deployment().epoch_ms + self.now_ms()
    }

    /// The identity `GET /v4/auth/principal` reports, for the key or token a request carries:
    /// (`canonicalId`, `canonicalName`). Derived from the key, never the key itself.
    pub fn principal(&self) -> (String, String) {
        (
            format!("{:024x}", mix(hash_str(&self.config.api_key))),
            PRINCIPAL_NAME.to_owned(),
        )
    }

    pub fn deployment(&self) -> MutexGuard<'_, Deployment> {
        lock(&self.deployment)
    }

    pub fn injector(&self) -> MutexGuard<'_, FaultInjector> {
        lock(&self.faults)
    }

    pub fn log(&self) -> MutexGuard<'_, RequestLog> {
        lock(&self.log)
    }

    pub fn state(&self) -> SimState {
        let now_ms = self.now_ms();
        let d = self.deployment();
        let executions = d
            .executions()
            .iter()
            .map(|e| {
                let s = e.status(now_ms);
                let (model_id, is_active) = match &e.detail {
                    Detail::ModelVersion { model_id, .. } => {
                        let active = d
                            .model(model_id)
                            .and_then(|m| m.active_version_id.as_deref())
                            == Some(e.id.as_str());
                        (Some(model_id.clone()), Some(active))
                    }
                    _ => (None, None),
                };
                let app_starts = match &e.detail {
                    Detail::App { starts, .. } => starts.clone(),
                    _ => Vec::new(),
                };
                let job = match &e.detail {
                    Detail::Job {
                        number,
                        stops,
                        restarted_as,
                        restart_of,
                        ended_at_start,
                        ..
                    } => Some(JobState {
                        number: *number,
                        completed: s.stopped,
                        execution_status: s.label.to_owned(),
                        stops: stops.clone(),
                        restarted_as: restarted_as.first().cloned(),
                        restarts: restarted_as.len() as u64,
                        restart_ids: restarted_as.clone(),
                        restart_of: restart_of.clone(),
                        ended_at_start: *ended_at_start,
                    }),
                    _ => None,
                };
                ExecutionState {
                    kind: e.kind,
                    id: e.id.clone(),
                    project_id: e.project_id.clone(),
                    name: e.display_name(),
                    owner: e.owner.clone(),
                    status: s.label.to_owned(),
                    running: s.running,
                    stopped: s.stopped,
                    running_or_launching: s.running_or_launching,
                    in_motion: !(s.running || s.stopped),
                    stuck: matches!(
                        e.motion,
                        Motion::Moving {
                            arrives_ms: None,
                            ..
                        }
                    ),
                    stop_requests: e.stop_requests,
                    start_requests: e.start_requests,
                    model_id,
                    is_active,
                    app_starts,
                    job,
                }
            })
            .collect();
        SimState { now_ms, executions }
    }

    pub fn running_ids(&self, kind: Kind) -> BTreeSet<String> {
        let now_ms = self.now_ms();
        self.deployment()
            .executions()
            .iter()
            .filter(|e| e.kind == kind && e.status(now_ms).running_or_launching)
            .map(|e| e.id.clone())
            .collect()
    }

    /// Records a request that was served but must never have been sent.
    pub fn record_violation(&self, kind: Kind, execution_id: &str, request: String, what: String) {
        tracing::warn!(%kind, execution_id, request, "violation: {what}");
        let at_ms = self.now_ms();
        lock(&self.violations).push(Violation {
            at_ms,
            what,
            kind,
            execution_id: execution_id.to_owned(),
            request,
        });
    }

    /// A start of `kind`/`id` unless it is already starting or running; then the refusal is
    /// recorded and returned (400), as Domino answers it.
    pub fn start_unless_under_way(
        &self,
        d: &mut Deployment,
        kind: Kind,
        id: &str,
        request: String,
    ) -> Result<(), Refusal> {
        let status = d
            .get(kind, id)
            .map(|e| e.status(self.now_ms()).label.to_owned())
            .unwrap_or_default();
        let refused = d.refuse_start_under_way(kind, id);
        if refused.is_err() {
            tracing::warn!(%kind, execution_id = id, request, "start refused: already {status}");
            lock(&self.refused_starts).push(RefusedStart {
                at_ms: self.now_ms(),
                kind,
                execution_id: id.to_owned(),
                request,
                status,
            });
        }
        refused
    }

    pub fn refused_starts(&self) -> Vec<RefusedStart> {
        lock(&self.refused_starts).clone()
    }

    /// Whether `token` is the bearer token accepted now.
    pub fn accepts_token(&self, token: &str) -> bool {
        lock(&self.bearer).as_deref() == Some(token)
    }

    /// Replaces the bearer token: the old one is refused from now on.
    pub fn rotate_token(&self, token: &str) -> Result<(), String> {
        if token.is_empty() {
            return Err("the bearer token must not be empty".into());
        }
        *lock(&self.bearer) = Some(token.to_owned());
        Ok(())
    }

    pub fn violations(&self) -> Vec<Violation> {
        lock(&self.violations).clone()
    }

    pub fn requests(&self) -> RequestLog {
        self.log().clone()
    }

    pub fn faults(&self) -> Faults {
        self.injector().faults.clone()
    }

    pub fn set_faults(&self, patch: &FaultsPatch) -> Result<Faults, String> {
        let mut injector = self.injector();
        injector.faults = patch.apply_to(&injector.faults)?;
        Ok(injector.faults.clone())
    }

    pub fn force(&self, kind: Kind, id: &str, target: Target) -> Result<(), Refusal> {
        let now_ms = self.now_ms();
        self.deployment().force(kind, id, target, now_ms)
    }

    pub fn add_running(&self, kind: Kind) -> Result<String, Refusal> {
        let now_ms = self.now_ms();
        self.deployment().add_running(kind, now_ms)
    }

    pub fn add_empty_project(&self, name: &str) -> String {
        self.deployment().add_empty_project(name)
    }

    pub fn add_job(
        &self,
        project_id: &str,
        command: &str,
        as_principal: bool,
        held_in_queue: bool,
    ) -> Result<String, Refusal> {
        let now_ms = self.now_ms();
        let (id, name) = self.principal();
        let by = as_principal.then_some((id.as_str(), name.as_str()));
        self.deployment()
            .add_job(project_id, command, now_ms, by, held_in_queue)
    }

    /// A user restarts the Job from the UI: a new job of its command, submitted now by the
    /// user `SOMEONE_ELSE`, or by the identity requests act as (a shared admin key).
    pub fn restart_job_by_user(&self, job_id: &str, as_principal: bool) -> Result<String, Refusal> {
        let now_ms = self.now_ms();
        let by = if as_principal {
            self.principal()
        } else {
            (
                format!("{:024x}", mix(hash_str(SOMEONE_ELSE))),
                SOMEONE_ELSE.to_owned(),
            )
        };
        self.deployment()
            .restart_job(job_id, (&by.0, &by.1), now_ms)
    }

    pub fn fire_schedule(&self, schedule_id: &str) -> Result<Option<String>, Refusal> {
        let now_ms = self.now_ms();
        self.deployment().fire_schedule(schedule_id, now_ms)
    }

    pub fn finish_job(&self, id: &str) -> Result<(), Refusal> {
        let now_ms = self.now_ms();
        self.deployment().finish_job(id, now_ms)
    }

    pub fn delete_project(&self, id: &str) -> Result<(), Refusal> {
        self.deployment().delete_project(id)
    }

    pub fn reset_counters(&self) {
        *self.log() = RequestLog::default();
        self.deployment().reset_counters();
    }
}
