//! One step: one stop or start of one execution, driven from wherever the journal left it.
//! This is the protocol the whole tool rests on; other places link here.
//!
//! ```text
//! Pending ──► Requested ──► Accepted ──► Confirmed
//!    │            │             │
//!    └────────────┴─────────────┴──► Failed(reason)          Skipped(reason)
//! ```
//!
//! - `Requested` is committed to the journal (fsync) *before* the request leaves; `Accepted` is
//!   written after a 2xx answer; `Confirmed` once the execution is seen in the target state.
//! - The three crash windows, and what a run that finds a step there does:
//!   1. killed before the `Requested` commit: the step is still `Pending`, nothing was sent, it
//!      is simply requested;
//!   2. killed after the `Requested` commit, before `Accepted`: the request may or may not have
//!      reached the API. Never guess: observe the execution first. In the target state →
//!      `Confirmed`; in motion toward it (`Pending`, `Starting`, `Stopping`, ...) → `Accepted`,
//!      and wait; neither → send again;
//!   3. killed after `Accepted`: the request was taken; only wait for the target state.
//! - Sending again is safe because stops, starts and pauses *set* a state: a second stop of a
//!   stopping execution changes nothing. A Job restart is not state-setting (each one runs a
//!   new job): it is sent once, without client retries, and window 2 is resolved by looking for
//!   its effect (`found_restart`: a job by this identity, same command, submitted since the
//!   attempt was recorded) before anything is sent again.
//! - Window 2 also opens without a crash when a request's answer is lost (the client does not
//!   send such a write again: `ApiError::Unanswered`) or when a stop or start is refused with
//!   400/409 as an earlier, applied copy would provoke: the step observes before the attempt
//!   counts as failed (`taken_after_all`).
//! - An `Accepted` step whose execution shows no motion at all toward its target for several
//!   looks (the API lost the request, e.g. it restarted) is sent again, counted as an attempt.
//! - A 404 on a stop means the execution is gone, which counts as done, recorded with that
//!   reason; a deployment that answers 404 to everything is a wrong URL, found before any step
//!   (see `prepare`). A 404 on a start is a failure to report, never to retry.
//! - `Confirmed` and `Skipped` steps are left alone; `Failed` ones are tried again only with
//!   `--retry-failed`, with a fresh per-run budget of failures (`-m`).
//!
//! Transitions go through the journal's writer, which batches concurrent steps' transitions into
//! shared commits; the step's own future waits for its commit before it sends anything.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::cancel::Cancel;
use super::health::ApiHealth;
use super::observe::Observer;
use super::report::Reporter;
use super::restart::{RestartBook, RestartSearch, judge};
use super::target_state;
use crate::domino::{ApiError, ExecutionKind, Observed, counting_retries};
use crate::journal::{
    JournalError, JournalWriter, Operation, StepEnd, StepPhase, StepRecord, Transition,
};
use crate::snapshot::Entry;

/// How often a step asks whether its execution has reached the target state: first after
/// `initial`; then, having waited `w` so far, after `lateness × w`, but never sooner than
/// `initial / 2` nor later than `max`. A step is so confirmed at most `lateness` of its wait
/// (or half the first wait) after its execution got there, and a stuck execution costs ever
/// fewer reads.
#[derive(Clone, Copy, Debug)]
pub struct PollPolicy {
    pub initial: Duration,
    pub max: Duration,
    pub lateness: f64,
}

impl Default for PollPolicy {
    fn default() -> Self {
        PollPolicy {
            initial: Duration::from_millis(super::defaults::POLL_INTERVAL_MS),
            max: Duration::from_secs(5),
            lateness: 0.25,
        }
    }
}

impl PollPolicy {
    fn next(&self, waited: Duration) -> Duration {
        waited
            .mul_f64(self.lateness)
            .max(self.initial / 2)
            .min(self.max)
    }
}

/// Why a step stopped before reaching its end.
#[derive(Debug)]
pub(crate) enum StepAbort {
    /// The run was cancelled; the step is left in a resumable phase.
    Interrupted,
    /// The key was refused: nothing else will succeed either.
    Unauthorized(ApiError),
    /// The journal could not record a transition: nothing may be sent without it.
    Journal(JournalError),
}

impl From<JournalError> for StepAbort {
    fn from(e: JournalError) -> Self {
        StepAbort::Journal(e)
    }
}

/// What every step of one kind shares.
pub(crate) struct StepContext {
    pub op: Operation,
    pub run: u64,
    pub api: Arc<dyn ExecutionKind>,
    pub observer: Observer,
    pub writer: JournalWriter,
    pub cancel: Cancel,
    /// Bounds the steps that are sending a stop or start at once, so a kill leaves few
    /// steps in the uncertain `Requested` phase.
    pub request_slots: Arc<Semaphore>,
    pub max_failures: u32,
    pub grace_period: Duration,
    pub poll: PollPolicy,
    pub reporter: Arc<dyn Reporter>,
    pub health: Arc<ApiHealth>,
    /// For executions the snapshot does not record (Jobs found running): look before the first
    /// stop, since one that ended on its own is confirmed as such, not stopped.
    pub look_before_stopping: bool,
    /// `--jobs wait`: no stop before this instant, unless the execution ends on its own first.
    pub hold_until: Option<Instant>,
    /// For restarts that are not state-setting: which effects are claimed, and the turns
    /// restarts with the same traces take (see [`super::restart`]).
    pub restarts: Arc<RestartBook>,
}

/// Drives one step from wherever the journal left it to an end: `Confirmed` or `Failed`,
/// following the protocol in this module's documentation.
pub(crate) struct Step<'a> {
    ctx: &'a StepContext,
    entry: &'a Entry,
    record: StepRecord,
    /// Failed attempts in this run; `-m` bounds them per run, so `--retry-failed` gets a fresh
    /// budget while the journal keeps counting attempts across runs.
    failures: u32,
    /// When the grace period of this run's wait ends, once waiting has begun.
    wait_deadline: Option<Instant>,
    /// A stop of this step may have taken effect: one was accepted, or one's outcome is
    /// unknown (its answer was lost, or an earlier run left it `Requested` or `Accepted`).
    /// Only then can the execution's end be this step's doing (see [`StepEnd`]).
    stop_may_have_applied: bool,
}

impl<'a> Step<'a> {
    pub(crate) fn new(ctx: &'a StepContext, entry: &'a Entry, record: StepRecord) -> Self {
        Step {
            ctx,
            entry,
            failures: 0,
            wait_deadline: None,
            stop_may_have_applied: record.attempts >= 1
                && matches!(record.phase, StepPhase::Requested | StepPhase::Accepted),
            record,
        }
    }

    fn verb(&self) -> &'static str {
        self.ctx.op.verb()
    }

    pub(crate) async fn drive(mut self) -> Result<StepRecord, StepAbort> {
        let restarts = self.ctx.op == Operation::Restore && !self.ctx.api.start_is_state_setting();
        loop {
            match self.record.phase.clone() {
                StepPhase::Confirmed | StepPhase::Skipped(_) => return Ok(self.record),
                StepPhase::Failed(_) if self.failures > 0 => return Ok(self.record),
                StepPhase::Pending if self.ctx.look_before_stopping => {
                    if !self.ended_before_its_stop().await? {
                        self.request().await?;
                    }
                }
                StepPhase::Pending => self.request().await?,
                // A restart is not state-setting: its effect is looked for, never assumed.
                StepPhase::Requested | StepPhase::Failed(_) if restarts => {
                    if !self.found_restart().await? {
                        self.request().await?;
                    }
                }
                StepPhase::Failed(_) => self.request().await?,
                StepPhase::Requested => {
                    // The outcome of the last request is unknown: look before sending again.
                    if !self.settled_by_observation(Instant::now()).await? {
                        self.request().await?;
                    }
                }
                StepPhase::Accepted if restarts => self.wait_for_restart().await?,
                StepPhase::Accepted => self.wait_for_target().await?,
            }
        }
    }

    /// An execution found running at shutdown but not in the snapshot (a Job) may end on its
    /// own before its stop is sent: then it is confirmed with that reason and never stopped.
    /// With `--jobs wait`, it is given until the hold ends to do so. Returns whether it ended.
    async fn ended_before_its_stop(&mut self) -> Result<bool, StepAbort> {
        loop {
            let state = self.ctx.api.observe(self.entry).await;
            self.note(&state);
            match state {
                Ok(state @ (Observed::Stopped | Observed::Gone)) => {
                    let msg = format!("ended by itself before its stop was sent ({state})");
                    self.write(StepPhase::Confirmed, 0, None, Some(msg), None)
                        .await?;
                    return Ok(true);
                }
                Err(e) if e.is_unauthorized() => return Err(StepAbort::Unauthorized(e)),
                Ok(_) | Err(_) => {}
            }
            match self.ctx.hold_until {
                Some(until) if Instant::now() < until => {
                    let pause = self.ctx.poll.max.min(until - Instant::now());
                    if !self.ctx.cancel.sleep(pause).await {
                        return Err(StepAbort::Interrupted);
                    }
                }
                _ => return Ok(false),
            }
        }
    }

    /// A restart step found `Requested` (or `Failed`): did an earlier request run after all?
    /// Looks for its effect and judges the candidates ([`super::restart`]). Found: `Accepted`
    /// with the new job's id, nothing sent. Not found: the caller sends the restart. The
    /// project gone (404): nothing can have run or can run, the step is `Skipped`. Undecidable
    /// (several candidates, or a rival restart of the same command unresolved), or no answer
    /// within the grace period: `Failed` with the reason, and nothing is sent, so that a job
    /// never runs twice. Returns whether the step was settled.
    async fn found_restart(&mut self) -> Result<bool, StepAbort> {
        let book = self.ctx.restarts.clone();
        let since_ms = self
            .record
            .requested_at
            .as_deref()
            .and_then(parse_rfc3339_ms)
            .map_or(i64::MIN, |ms| ms - CLOCK_SKEW_MS);
        let attempt = self.record.attempts;
        let original = self.record.key.execution.clone();
        let give_up_at = Instant::now() + self.ctx.grace_period;
        loop {
            let turn = book.serialize(self.entry).await;
            let looked = self.ctx.api.restart_candidates(self.entry, since_ms).await;
            self.note(&looked);
            let candidates = match looked {
                Ok(candidates) => candidates,
                Err(e) if e.is_unauthorized() => return Err(StepAbort::Unauthorized(e)),
                Err(e) if e.is_not_found() => {
                    drop(turn);
                    self.project_gone(attempt, &e).await?;
                    return Ok(true);
                }
                Err(e) if Instant::now() >= give_up_at => {
                    drop(turn);
                    let reason = format!(
                        "could not tell whether restart attempt {attempt} ran ({e}); not sent again, so that the job never runs twice"
                    );
                    self.fail(attempt, e.status(), reason).await?;
                    return Ok(true);
                }
                // Cannot tell whether it ran: sending again could run it twice. Look again.
                Err(_) => {
                    drop(turn);
                    if !self.ctx.cancel.sleep(self.ctx.poll.max).await {
                        return Err(StepAbort::Interrupted);
                    }
                    continue;
                }
            };
            let (claimed, rivals) = book.claims_and_rivals(&self.record.key, self.entry)?;
            return match judge(&original, &candidates, &claimed, rivals) {
                RestartSearch::Found { id, evidence } => {
                    let msg = format!(
                        "found the restart of attempt {attempt} already ran, as job {id} ({evidence}); not sent again"
                    );
                    self.write_effect(StepPhase::Accepted, attempt, msg, id)
                        .await?;
                    Ok(true)
                }
                RestartSearch::NotFound => Ok(false),
                RestartSearch::Ambiguous(ids) => {
                    drop(turn);
                    let reason = format!(
                        "cannot tell whether restart attempt {attempt} ran: job(s) {} of the same command were started by this identity since, and could be another job's restart{}; not sent again, so that no job runs twice: look at the project's jobs",
                        ids.join(", "),
                        if rivals > 0 {
                            format!(" ({rivals} other restart(s) of this command are unresolved)")
                        } else {
                            String::new()
                        }
                    );
                    self.fail(attempt, None, reason).await?;
                    Ok(true)
                }
            };
        }
    }

    /// A restart answered 404 for its job or its project: the job cannot be restarted and
    /// nothing of it can run. A definite answer, not an outage: the step is skipped with it.
    async fn project_gone(&mut self, attempt: u32, e: &ApiError) -> Result<(), StepAbort> {
        let reason =
            format!("the job or its project no longer exists (404: {e}); nothing to restart");
        self.write(StepPhase::Skipped(reason), attempt, Some(404), None, None)
            .await
    }

    /// Ends the step as failed in this run, with `reason`.
    async fn fail(
        &mut self,
        attempt: u32,
        status: Option<u16>,
        reason: String,
    ) -> Result<(), StepAbort> {
        self.failures += 1;
        self.write(
            StepPhase::Failed(reason.clone()),
            attempt,
            status,
            None,
            Some(reason),
        )
        .await
    }

    /// After a restart was accepted: the new execution must exist (running or already ended).
    async fn wait_for_restart(&mut self) -> Result<(), StepAbort> {
        let attempt = self.record.attempts;
        let Some(new_id) = self.record.effect.clone() else {
            // Accepted without a recorded effect cannot happen; look for it rather than guess.
            self.write(StepPhase::Requested, attempt, None, None, None)
                .await?;
            return Ok(());
        };
        let mut new_entry = self.entry.clone();
        if let Some(id) = new_entry.id.as_object_mut() {
            id.insert("_id".into(), new_id.clone().into());
        }
        let deadline = Instant::now() + self.ctx.grace_period;
        loop {
            let state = self.ctx.api.observe(&new_entry).await;
            self.note(&state);
            match state {
                Ok(Observed::Gone) | Err(_) if Instant::now() < deadline => {}
                Ok(state @ (Observed::Running | Observed::Stopped | Observed::InMotion(_))) => {
                    let msg = format!("restarted as job {new_id}, now {state}");
                    return self
                        .write(StepPhase::Confirmed, attempt, None, Some(msg), None)
                        .await;
                }
                Err(e) if e.is_unauthorized() => return Err(StepAbort::Unauthorized(e)),
                Ok(_) | Err(_) => {
                    let reason =
                        format!("job {new_id}, the restart, was not found within the grace period");
                    self.failures += 1;
                    return self
                        .write(
                            StepPhase::Failed(reason.clone()),
                            attempt,
                            None,
                            None,
                            Some(reason),
                        )
                        .await;
                }
            }
            if !self.ctx.cancel.sleep(self.ctx.poll.initial).await {
                return Err(StepAbort::Interrupted);
            }
        }
    }

    async fn write(
        &mut self,
        to: StepPhase,
        attempt: u32,
        http_status: Option<u16>,
        message: Option<String>,
        error: Option<String>,
    ) -> Result<(), StepAbort> {
        if to == StepPhase::Accepted && self.ctx.op == Operation::Shutdown {
            self.stop_may_have_applied = true;
        }
        let ended = self.end_if_confirmed(&to, http_status);
        // The audit says which of the two it was, since only one is restarted.
        let message = match &ended {
            Some(end) if end.by_this_stop => message.map(|m| format!("{m}; ended by this stop")),
            Some(end) => Some(format!(
                "{}ended by itself ({}), not by a stop of dmm's: never restarted",
                message.map(|m| format!("{m}; ")).unwrap_or_default(),
                end.word
            )),
            None => message,
        };
        let t = Transition {
            effect: None,
            ended,
            run: self.ctx.run,
            key: self.record.key.clone(),
            to,
            attempt,
            http_status,
            message,
            error,
        };
        self.commit(t).await
    }

    /// How the execution ended, when a stop step of a kind whose restart is not state-setting
    /// is confirmed: by this step's stop (the stop may have taken effect and the execution
    /// shows `Stopped`), or by itself (`Succeeded`, `Failed`, gone, or stopped with every stop
    /// of this step refused). Only the first kind is restarted by `restore --restart-jobs`.
    fn end_if_confirmed(&self, to: &StepPhase, http_status: Option<u16>) -> Option<StepEnd> {
        if *to != StepPhase::Confirmed
            || self.ctx.op != Operation::Shutdown
            || self.ctx.api.start_is_state_setting()
        {
            return None;
        }
        let word = if http_status == Some(404) {
            "gone".to_string()
        } else {
            self.ctx
                .api
                .last_end_word(&self.record.key.execution)
                .unwrap_or_else(|| "?".into())
        };
        let by_this_stop = self.stop_may_have_applied && word.eq_ignore_ascii_case("Stopped");
        Some(StepEnd { word, by_this_stop })
    }

    /// Applies one transition durably and tells the reporter.
    async fn commit(&mut self, t: Transition) -> Result<(), StepAbort> {
        self.record = self.ctx.writer.apply(t).await?;
        self.ctx.reporter.step_changed(&self.record);
        if self.record.phase.is_terminal() {
            self.ctx.reporter.step_ended(&self.record);
        }
        Ok(())
    }

    /// A transition that records what a request created (a restart's new job).
    async fn write_effect(
        &mut self,
        to: StepPhase,
        attempt: u32,
        message: String,
        effect: String,
    ) -> Result<(), StepAbort> {
        let t = Transition {
            effect: Some(effect),
            ended: None,
            run: self.ctx.run,
            key: self.record.key.clone(),
            to,
            attempt,
            http_status: None,
            message: Some(message),
            error: None,
        };
        self.commit(t).await
    }

    /// Observes the execution; if it already is where the operation wants it (or gone, for a
    /// stop), records the step as confirmed; if it is in motion, as accepted. Returns whether the
    /// observation decided the step (otherwise the request must be sent).
    async fn settled_by_observation(&mut self, not_before: Instant) -> Result<bool, StepAbort> {
        let reading = self
            .ctx
            .observer
            .read(self.entry, &self.record.key.execution, not_before, 0)
            .await;
        let attempt = self.record.attempts;
        self.note(&reading.state);
        match reading.state {
            Ok(state) if state == target_state(self.ctx.op) => {
                let msg = format!("observed {}", state);
                self.write(StepPhase::Confirmed, attempt, None, Some(msg), None)
                    .await?;
                Ok(true)
            }
            Ok(Observed::Gone) => {
                self.gone(attempt, None).await?;
                Ok(true)
            }
            // The earlier request was taken and is under way: sending it again would at best
            // be refused ("already starting") and at worst restart the execution. Wait instead;
            // if it settles back where it was, the no-motion rule sends it again.
            Ok(state @ Observed::InMotion(_)) => {
                let msg = format!("observed {state}: the earlier request was taken; waiting");
                self.write(StepPhase::Accepted, attempt, None, Some(msg), None)
                    .await?;
                Ok(true)
            }
            Ok(_) => Ok(false),
            Err(e) if e.is_unauthorized() => Err(StepAbort::Unauthorized(e)),
            // Cannot tell: sending again is safe, stops and starts set a state.
            Err(_) => Ok(false),
        }
    }

    /// A stop of an execution that no longer exists is done; a start of one is a failure to
    /// report, never to retry.
    async fn gone(&mut self, attempt: u32, status: Option<u16>) -> Result<(), StepAbort> {
        match self.ctx.op {
            Operation::Shutdown => {
                self.write(
                    StepPhase::Confirmed,
                    attempt,
                    status,
                    Some("gone (404): the execution no longer exists".into()),
                    None,
                )
                .await
            }
            Operation::Restore => {
                let reason = "the execution no longer exists (404)".to_string();
                self.failures += 1;
                self.write(
                    StepPhase::Failed(reason.clone()),
                    attempt,
                    status,
                    None,
                    Some(reason),
                )
                .await
            }
        }
    }

    /// Sends the stop or start, recording the intent durably first. Leaves the step
    /// `Accepted`, ended, or (after a failed attempt with budget left) `Requested` again.
    async fn request(&mut self) -> Result<(), StepAbort> {
        if self.ctx.cancel.is_cancelled() {
            return Err(StepAbort::Interrupted);
        }
        let _slot = tokio::select! {
            slot = self.ctx.request_slots.acquire() => slot.expect("request slots are never closed"),
            _ = self.ctx.cancel.cancelled() => return Err(StepAbort::Interrupted),
        };
        // Restarts with the same traces take turns from intent to recorded outcome, so that
        // a look for one's effect never sees another's unrecorded job.
        let restart = self.ctx.op == Operation::Restore && !self.ctx.api.start_is_state_setting();
        let turn = if restart {
            Some(self.ctx.restarts.serialize(self.entry).await)
        } else {
            None
        };
        let attempt = self.record.attempts + 1;
        let verb = self.verb();
        self.write(
            StepPhase::Requested,
            attempt,
            None,
            Some(format!("{verb} requested")),
            None,
        )
        .await?;

        if turn.is_some() {
            let restarted = self.ctx.api.restart(self.entry).await;
            drop(_slot);
            self.note(&restarted);
            return match restarted {
                Ok(new_id) => {
                    let msg = format!("restart accepted: job {new_id}");
                    self.write_effect(StepPhase::Accepted, attempt, msg, new_id)
                        .await
                }
                Err(e) if e.is_unauthorized() => Err(StepAbort::Unauthorized(e)),
                // The job, or its project, no longer exists: nothing was started.
                Err(e) if e.is_not_found() => {
                    drop(turn);
                    self.project_gone(attempt, &e).await
                }
                // The outcome is unknown (or it was refused): the step stays `Requested`, and
                // its effect is looked for before anything is sent again.
                Err(e) => {
                    drop(turn);
                    self.attempt_failed(attempt, e).await
                }
            };
        }
        let (sent, tally) = counting_retries(async {
            match self.ctx.op {
                Operation::Shutdown => self.ctx.api.stop(self.entry).await,
                Operation::Restore => self.ctx.api.start(self.entry).await,
            }
        })
        .await;
        drop(_slot);
        // The client retried transient failures on its own; the audit still shows them.
        let retried = match (tally.retries, &tally.last_cause) {
            (0, _) => String::new(),
            (n, Some(cause)) => format!(" after {n} retried request(s), last for: {cause}"),
            (n, None) => format!(" after {n} retried request(s)"),
        };
        self.note(&sent);
        match sent {
            Ok(Some(state)) if state == target_state(self.ctx.op) => {
                let msg = format!("{verb} accepted{retried}; the answer shows it {}", state);
                self.write(StepPhase::Confirmed, attempt, None, Some(msg), None)
                    .await
            }
            Ok(_) => {
                self.write(
                    StepPhase::Accepted,
                    attempt,
                    None,
                    Some(format!("{verb} accepted{retried}")),
                    None,
                )
                .await
            }
            Err(e) if e.is_not_found() => {
                // "Gone" is believed only when the execution's own read says so too, and a
                // listing that carries it does not show it.
                if self.ctx.op == Operation::Shutdown && !self.confirmed_absent().await? {
                    return self.attempt_failed(attempt, e).await;
                }
                self.gone(attempt, Some(404)).await
            }
            Err(e) if e.is_unauthorized() => Err(StepAbort::Unauthorized(e)),
            Err(e) if e.may_have_been_applied() => {
                self.stop_may_have_applied |= self.ctx.op == Operation::Shutdown;
                if self.taken_after_all(attempt, &e).await? {
                    return Ok(());
                }
                self.attempt_failed(attempt, e).await
            }
            Err(e) => self.attempt_failed(attempt, e).await,
        }
    }

    /// A request with no answer, or refused as if an earlier copy had been applied: the
    /// execution is looked at before this counts as a failed attempt, so an answer the network
    /// lost is not reported as a failure (nor, with `-m 1`, as the step's end). Returns whether
    /// the observation settled the step.
    async fn taken_after_all(&mut self, attempt: u32, e: &ApiError) -> Result<bool, StepAbort> {
        let verb = self.verb();
        self.write(
            StepPhase::Requested,
            attempt,
            e.status(),
            Some(format!(
                "{verb} attempt {attempt}: outcome unknown; looking before sending again"
            )),
            Some(e.to_string()),
        )
        .await?;
        self.settled_by_observation(Instant::now()).await
    }

    /// Whether the execution is absent from everything that could show it: its own read answers
    /// 404, and its kind's listing (where it has one that carries every execution) lacks it.
    async fn confirmed_absent(&self) -> Result<bool, StepAbort> {
        match self.ctx.api.observe(self.entry).await {
            Ok(Observed::Gone) => {}
            Err(e) if e.is_unauthorized() => return Err(StepAbort::Unauthorized(e)),
            Ok(_) | Err(_) => return Ok(false),
        }
        if !self.ctx.api.has_bulk_listing() {
            return Ok(true);
        }
        match self.ctx.api.observe_all().await {
            Some(Ok(listed)) => Ok(!listed.contains_key(&self.record.key.execution)),
            Some(Err(e)) if e.is_unauthorized() => Err(StepAbort::Unauthorized(e)),
            Some(Err(_)) => Ok(false),
            None => Ok(true),
        }
    }

    /// Tells the outage detector how the API answered.
    fn note<T>(&self, result: &Result<T, ApiError>) {
        match result {
            Ok(_) => self.ctx.health.answered(),
            Err(e) => self.ctx.health.failed(e),
        }
    }

    async fn attempt_failed(&mut self, attempt: u32, e: ApiError) -> Result<(), StepAbort> {
        if e.is_transient() && self.ctx.cancel.is_cancelled() {
            // The run is stopping (an outage, a signal): this attempt's outcome is unknown,
            // so the step stays `Requested` for the next run to look at, not `Failed`.
            let error = e.to_string();
            self.write(
                StepPhase::Requested,
                attempt,
                e.status(),
                Some("attempt failed while the run was stopping".into()),
                Some(error),
            )
            .await?;
            return Err(StepAbort::Interrupted);
        }
        self.failures += 1;
        let status = e.status();
        let error = e.to_string();
        if self.failures >= self.ctx.max_failures.max(1) {
            let reason = format!(
                "{} failed attempts in this run; last: {error}",
                self.failures
            );
            return self
                .write(
                    StepPhase::Failed(reason),
                    attempt,
                    status,
                    None,
                    Some(error),
                )
                .await;
        }
        let verb = self.verb();
        self.write(
            StepPhase::Requested,
            attempt,
            status,
            Some(format!(
                "{verb} attempt {attempt} failed; will look and try again"
            )),
            Some(error),
        )
        .await?;
        // Back off between attempts; the client already retried transient answers.
        let pause = Duration::from_millis(500 * u64::from(self.failures.min(10)));
        if !self.ctx.cancel.sleep(pause).await {
            return Err(StepAbort::Interrupted);
        }
        Ok(())
    }

    /// Polls until the execution is in the target state or the grace period runs out.
    async fn wait_for_target(&mut self) -> Result<(), StepAbort> {
        let since = Instant::now();
        // One grace period per run, however often the request is sent again meanwhile.
        let deadline = *self
            .wait_deadline
            .get_or_insert(since + self.ctx.grace_period);
        // The state the execution is in when nothing at all happened to it (running, for a stop).
        let origin = target_state(self.ctx.op.opposite());
        let mut still: Option<(Instant, u32)> = None;
        // A shared listing costs the same however many steps read it, so those steps look at
        // a steady pace; single reads back off.
        let shared = self.ctx.observer.shared_interval();
        let mut delay = shared.unwrap_or(self.ctx.poll.initial);
        let mut seen_generation = 0;
        let mut last_seen;
        let target = target_state(self.ctx.op);
        let attempt = self.record.attempts;
        loop {
            let wake = (Instant::now() + delay).min(deadline);
            let slept = tokio::select! {
                _ = tokio::time::sleep_until(wake) => true,
                _ = self.ctx.cancel.cancelled() => false,
            };
            if !slept {
                return Err(StepAbort::Interrupted);
            }
            let reading = self
                .ctx
                .observer
                .read(
                    self.entry,
                    &self.record.key.execution,
                    since,
                    seen_generation,
                )
                .await;
            seen_generation = reading.generation;
            self.note(&reading.state);
            match reading.state {
                Ok(state) if state == target => {
                    let msg = format!("observed {}", state);
                    return self
                        .write(StepPhase::Confirmed, attempt, None, Some(msg), None)
                        .await;
                }
                Ok(Observed::Gone) => return self.gone(attempt, Some(404)).await,
                Ok(state) => {
                    still = if state == origin {
                        let (first, looks) = still.unwrap_or((Instant::now(), 0));
                        Some((first, looks + 1))
                    } else {
                        None
                    };
                    last_seen = state.to_string();
                }
                Err(e) if e.is_unauthorized() => return Err(StepAbort::Unauthorized(e)),
                Err(e) => last_seen = format!("unknown ({e})"),
            }
            // Plainly as it was, look after look: the API lost the request (it restarted, say).
            // Stops and starts set a state, so sending again is safe; each resend is an attempt
            // and counts against the run's failure budget.
            if let Some((first, looks)) = still
                && looks >= NO_MOTION_LOOKS
                && first.elapsed() >= self.no_motion_after()
                && self.failures + 1 < self.ctx.max_failures.max(1)
                && Instant::now() < deadline
            {
                self.failures += 1;
                let verb = self.verb();
                let note = format!(
                    "no motion: still {last_seen} after {} looks over {:.0}s since the {verb} was accepted; sending it again",
                    looks,
                    first.elapsed().as_secs_f64()
                );
                tracing::warn!("{} '{}': {note}", self.record.key.kind, self.record.name);
                self.write(StepPhase::Requested, attempt, None, Some(note), None)
                    .await?;
                // Back to `drive`, which observes the `Requested` step before sending.
                return Ok(());
            }
            if Instant::now() >= deadline {
                let reason = format!(
                    "not {} within the grace period of {}s (last seen: {last_seen})",
                    target,
                    self.ctx.grace_period.as_secs()
                );
                self.failures += 1;
                return self
                    .write(
                        StepPhase::Failed(reason.clone()),
                        attempt,
                        None,
                        None,
                        Some(reason),
                    )
                    .await;
            }
            if shared.is_none() {
                delay = self.ctx.poll.next(since.elapsed());
            }
        }
    }

    /// How long an accepted request may show no effect at all before it is taken as lost:
    /// thirty first-poll intervals (30 s by default), never under five seconds.
    fn no_motion_after(&self) -> Duration {
        (self.ctx.poll.initial * 30).max(Duration::from_secs(5))
    }
}

/// How far the server's clock may be behind ours when a restart's effect is looked for.
const CLOCK_SKEW_MS: i64 = 60_000;

/// An RFC 3339 time as milliseconds since the epoch.
fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Looks in a row that must show an accepted request's execution exactly as it was before the
/// request is taken as lost.
const NO_MOTION_LOOKS: u32 = 5;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_come_at_a_steady_pace_then_back_off() {
        let p = PollPolicy::default();
        let ms = |d: Duration| d.as_millis();
        assert_eq!(ms(p.next(Duration::from_secs(1))), 500);
        assert_eq!(ms(p.next(Duration::from_secs(2))), 500);
        assert_eq!(ms(p.next(Duration::from_secs(4))), 1000);
        assert_eq!(ms(p.next(Duration::from_secs(600))), 5000);
    }
}
