//! One step driven from wherever the journal left it to an end: the driver that carries out
//! [`super::protocol`]'s decisions. It sends, reads, sleeps and commits; every choice it makes
//! (what next, what an answer or a reading means, when to give up) is the protocol's, which is
//! written down and tested there.
//!
//! Transitions go through the journal's writer, which batches concurrent steps' transitions
//! into shared commits; a step waits for its `Requested` commit before it sends anything.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedMutexGuard, Semaphore};
use tokio::time::Instant;

use super::cancel::Cancel;
use super::health::ApiHealth;
use super::observe::{Lookout, Observer, SCOUTING_PATIENCE};
use super::options::PollPolicy;
use super::protocol::{
    self, AfterAnswer, AfterFailure, AfterLook, Answer, BeforeStopping, FailedAttempt, Next,
    Protocol, Reading, Record, Waiting,
};
use super::record::StepDetail;
use super::report::Reporter;
use super::restart::{
    BeforeRestart, RestartBook, RestartSearch, STAMP_MARGIN_MS, before_restart, judge, rfc3339_ms,
};
use super::stats::RunStats;
use crate::domino::{ApiError, ExecutionKind, Observed, counting_retries};
use crate::journal::{
    JournalError, JournalWriter, Operation, StepEnd, StepNote, StepPhase, StepRecord, Transition,
};
use crate::snapshot::Entry;

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
    pub protocol: Protocol,
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
    /// The run's statistics, which the runner keeps (see [`RunStats`]).
    pub stats: Arc<RunStats>,
    pub health: Arc<ApiHealth>,
    /// `--jobs wait`: no stop before this instant, unless the execution ends on its own first.
    pub hold_until: Option<Instant>,
    /// For restarts: which effects are claimed, and the turns restarts with the same traces
    /// take (see [`super::restart`]).
    pub restarts: Arc<RestartBook>,
}

pub(crate) struct Step<'a> {
    ctx: &'a StepContext,
    entry: &'a Entry,
    record: StepRecord,
    /// Failed attempts in this run; `-m` bounds them per run, so `--retry-failed` gets a fresh
    /// budget while the journal keeps counting attempts.
    failures: u32,
    /// The step was recorded `Failed` in this run: it has ended for this run.
    failed_in_this_run: bool,
    /// When the grace period of this run's wait ends, once waiting has begun.
    wait_deadline: Option<Instant>,
    /// A stop of this step may have taken effect: one was accepted, or one's outcome is
    /// unknown (its answer was lost, or an earlier run left it `Requested` or `Accepted`).
    /// Only then can the execution's end be this step's doing (see [`StepEnd`]).
    stop_may_have_applied: bool,
    /// This run's last restart was refused with a status that means it was not done (429,
    /// 500, 503): no copy of it can still land.
    restart_refused: bool,
    /// A restart whose job's stop never finished has had its job looked at in this run.
    original_looked_at: bool,
    /// A restart's turn among those with the same traces ([`RestartBook::serialize`]): held
    /// from its intent until its effect is found or the step is decided.
    turn: Option<OwnedMutexGuard<()>>,
}

impl<'a> Step<'a> {
    pub(crate) fn new(ctx: &'a StepContext, entry: &'a Entry, record: StepRecord) -> Self {
        Step {
            ctx,
            entry,
            failures: 0,
            failed_in_this_run: false,
            restart_refused: false,
            original_looked_at: false,
            turn: None,
            wait_deadline: None,
            stop_may_have_applied: record.attempts >= 1
                && matches!(record.phase, StepPhase::Requested | StepPhase::Accepted),
            record,
        }
    }

    pub(crate) async fn drive(mut self) -> Result<StepRecord, StepAbort> {
        loop {
            let stop_unfinished = !self.original_looked_at
                && StepDetail::read(self.record.detail.as_ref()).is_some_and(|d| d.stop_unfinished);
            let next = protocol::next(
                self.ctx.protocol,
                &self.record.phase,
                self.record.attempts >= 1,
                self.failed_in_this_run,
                stop_unfinished,
            );
            match next {
                Next::Done => return Ok(self.record),
                Next::Send => self.send().await?,
                Next::LookBeforeStopping => {
                    if !self.ended_before_its_stop().await? {
                        self.send().await?;
                    }
                }
                Next::LookBeforeRestarting => {
                    self.original_looked_at = true;
                    let observed = self.ctx.api.observe(self.entry).await;
                    let reading = self.reading(observed)?;
                    let word = self.ctx.api.last_end_word(&self.record.key.execution);
                    if let Some(record) = protocol::before_restarting(&reading, word.as_deref()) {
                        self.apply(record, self.record.attempts).await?;
                    }
                }
                Next::ObserveBeforeSending => {
                    if !self.settle_unknown().await? {
                        self.send().await?;
                    }
                }
                Next::LookForEffect => {
                    if !self.found_restart().await? {
                        self.send().await?;
                    }
                }
                Next::AwaitTarget => self.wait_for_target().await?,
                Next::AwaitRestarted => self.wait_for_restart().await?,
            }
        }
    }

    /// A reading as the protocol sees it; refused credentials abort the step.
    fn reading(&self, result: Result<Observed, ApiError>) -> Result<Reading, StepAbort> {
        self.note(&result);
        match result {
            Ok(state) => Ok(Ok(state)),
            Err(e) if e.is_unauthorized() => Err(StepAbort::Unauthorized(e)),
            Err(e) => Ok(Err(e.to_string())),
        }
    }

    /// A live stop not yet sent: it may have ended by itself (then it is confirmed, never
    /// stopped); with `--jobs wait` it is given until the hold ends to do so. Returns whether
    /// it ended.
    async fn ended_before_its_stop(&mut self) -> Result<bool, StepAbort> {
        loop {
            let observed = self.ctx.api.observe(self.entry).await;
            let reading = self.reading(observed)?;
            let holding = self.ctx.hold_until.is_some_and(|u| Instant::now() < u);
            match protocol::before_stopping(&reading, holding) {
                BeforeStopping::EndedByItself(record) => {
                    self.apply(record, 0).await?;
                    return Ok(true);
                }
                BeforeStopping::Stop => return Ok(false),
                BeforeStopping::Hold => {
                    let until = self.ctx.hold_until.unwrap_or_else(Instant::now);
                    let pause = self
                        .ctx
                        .poll
                        .max
                        .min(until.saturating_duration_since(Instant::now()));
                    if !self.ctx.cancel.sleep(pause).await {
                        return Err(StepAbort::Interrupted);
                    }
                }
            }
        }
    }

    /// Window 2: observes the execution; records what the observation settles. Returns
    /// whether it settled the step (otherwise the request is sent again).
    async fn settle_unknown(&mut self) -> Result<bool, StepAbort> {
        let read = self
            .ctx
            .observer
            .read(self.entry, &self.record.key.execution, Instant::now(), 0)
            .await;
        let reading = self.reading(read.state)?;
        match protocol::settle_unknown(self.ctx.op, &reading) {
            Some(record) => {
                self.apply(record, self.record.attempts).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Records the intent durably, then sends the stop, start or restart, and records what
    /// its answer decides.
    async fn send(&mut self) -> Result<(), StepAbort> {
        if self.ctx.cancel.is_cancelled() {
            return Err(StepAbort::Interrupted);
        }
        if self.ctx.protocol == Protocol::Restart {
            return self.send_restart().await;
        }
        let slot = tokio::select! {
            slot = self.ctx.request_slots.acquire() => slot.expect("request slots are never closed"),
            _ = self.ctx.cancel.cancelled() => return Err(StepAbort::Interrupted),
        };
        let attempt = self.record.attempts + 1;
        let verb = self.ctx.op.verb();
        self.apply(
            Record {
                to: StepPhase::Requested,
                http_status: None,
                message: Some(format!("{verb} requested")),
                error: None,
            },
            attempt,
        )
        .await?;
        let (sent, tally) = counting_retries(async {
            match self.ctx.op {
                Operation::Shutdown => self.ctx.api.stop(self.entry).await,
                Operation::Restore => self.ctx.api.start(self.entry).await,
            }
        })
        .await;
        drop(slot);
        self.note(&sent);
        // The client retried transient failures on its own; the audit still shows them.
        let retried = match (tally.retries, &tally.last_cause) {
            (0, _) => String::new(),
            (n, Some(cause)) => format!(" after {n} retried request(s), last for: {cause}"),
            (n, None) => format!(" after {n} retried request(s)"),
        };
        if let Err(e) = &sent {
            self.stop_may_have_applied |=
                protocol::stop_may_have_applied(self.ctx.op, e.status(), e.may_have_been_applied());
        }
        let (answer, error) = match sent {
            Ok(state) => (Answer::Taken(state), None),
            Err(e) if e.is_unauthorized() => return Err(StepAbort::Unauthorized(e)),
            Err(e) if e.is_not_found() => (Answer::NotFound, Some(e)),
            Err(e) if e.may_have_been_applied() => (Answer::MayHaveApplied, Some(e)),
            Err(e) => (Answer::Failed, Some(e)),
        };
        let error = || {
            error
                .clone()
                .expect("an answer that is not taken carries its error")
        };
        match protocol::after_answer(self.ctx.op, &answer, &retried) {
            AfterAnswer::Record(record) => self.apply(record, attempt).await,
            AfterAnswer::GoneIfAbsent => {
                // "Gone" is believed only when the execution's own read says so too, and a
                // listing that carries it does not show it.
                if self.confirmed_absent().await? {
                    self.apply(protocol::gone(self.ctx.op), attempt).await
                } else {
                    self.attempt_failed(attempt, error()).await
                }
            }
            AfterAnswer::ObserveBeforeCounting => {
                let e = error();
                let unknown =
                    protocol::outcome_unknown(self.ctx.op, attempt, e.status(), &e.to_string());
                self.apply(unknown, attempt).await?;
                if self.settle_unknown().await? {
                    return Ok(());
                }
                self.attempt_failed(attempt, e).await
            }
            AfterAnswer::CountFailure => self.attempt_failed(attempt, error()).await,
        }
    }

    /// A restart, in its turn: unless someone else already restarted the job, records the
    /// intent, sends it once, and records what its answer decides. An unknown outcome keeps
    /// the turn: the effect is looked for before anything is sent again.
    async fn send_restart(&mut self) -> Result<(), StepAbort> {
        self.take_turn().await;
        if self.restarted_by_someone_else().await? {
            return Ok(());
        }
        let slot = tokio::select! {
            slot = self.ctx.request_slots.acquire() => slot.expect("request slots are never closed"),
            _ = self.ctx.cancel.cancelled() => return Err(StepAbort::Interrupted),
        };
        let attempt = self.record.attempts + 1;
        let requested = Record {
            to: StepPhase::Requested,
            http_status: None,
            message: Some("restart requested".into()),
            error: None,
        };
        self.apply(requested, attempt).await?;
        let restarted = self.ctx.api.restart(self.entry).await;
        drop(slot);
        self.note(&restarted);
        match restarted {
            Ok(new_id) => {
                let msg = format!("restart accepted: job {new_id}");
                self.apply_effect(attempt, msg, new_id).await
            }
            Err(e) if e.is_unauthorized() => Err(StepAbort::Unauthorized(e)),
            // The job, or its project, no longer exists, if its own read says so too.
            Err(e) if e.is_not_found() && self.own_read_says_gone().await? => {
                self.apply(protocol::restart_target_gone(&e.to_string()), attempt)
                    .await
            }
            // The outcome is unknown (or it was refused): the step stays `Requested`, and its
            // effect is looked for before anything is sent again.
            Err(e) => {
                self.restart_refused = protocol::restart_refused(e.status());
                self.attempt_failed(attempt, e).await
            }
        }
    }

    /// This step's turn among the restarts with the same traces, unless it holds it already.
    async fn take_turn(&mut self) {
        if self.turn.is_none() {
            self.turn = Some(self.ctx.restarts.serialize(self.entry).await);
        }
    }

    /// Before a restart is sent: did someone else restart the job during the window (a user,
    /// from the UI)? Then it is recorded as theirs, and nothing is sent, so that it does not
    /// run twice; when whether they did cannot be told, the step says so and sends nothing
    /// either. Returns whether the step was settled so.
    async fn restarted_by_someone_else(&mut self) -> Result<bool, StepAbort> {
        let claims = self.ctx.restarts.claims(&self.record.key, self.entry)?;
        let Some(since) = claims.stopped_at_ms else {
            return Ok(false);
        };
        let candidates = match self
            .restart_candidates(since.saturating_sub(STAMP_MARGIN_MS))
            .await?
        {
            Ok(candidates) => candidates,
            Err(record) => {
                self.apply(record, self.record.attempts).await?;
                return Ok(true);
            }
        };
        let original = &self.record.key.execution;
        let theirs = match before_restart(original, &candidates, &claims) {
            BeforeRestart::Send => return Ok(false),
            BeforeRestart::RestartedBy(theirs) => theirs,
            BeforeRestart::CannotTell(jobs, doubt) => {
                let reason = super::restart::cannot_tell_whose(&jobs, doubt);
                let record = Record::failed(reason, None);
                self.apply_with(
                    record,
                    self.record.attempts,
                    None,
                    Some(StepNote::Undecidable),
                )
                .await?;
                return Ok(true);
            }
        };
        let (id, by) = (theirs.id.clone(), theirs.started_by.clone());
        let record = protocol::restarted_by_someone_else(&id, &by);
        let note = StepNote::RestartedByOther { by };
        self.apply_with(record, self.record.attempts, Some(id), Some(note))
            .await?;
        Ok(true)
    }

    /// The jobs that could be a restart of this one, submitted since `since_ms` (our clock).
    /// A listing that cannot be had is tried again until the grace period ends; then, or when
    /// the project is gone, the record that settles the step instead (`Err`).
    async fn restart_candidates(
        &mut self,
        since_ms: i64,
    ) -> Result<Result<Vec<crate::domino::RestartCandidate>, Record>, StepAbort> {
        let give_up_at = Instant::now() + self.ctx.grace_period;
        loop {
            let looked = self.ctx.api.restart_candidates(self.entry, since_ms).await;
            self.note(&looked);
            let e = match looked {
                Ok(candidates) => return Ok(Ok(candidates)),
                Err(e) if e.is_unauthorized() => return Err(StepAbort::Unauthorized(e)),
                Err(e) => e,
            };
            if e.is_not_found() && self.own_read_says_gone().await? {
                return Ok(Err(protocol::restart_target_gone(&e.to_string())));
            }
            let past = Instant::now() >= give_up_at;
            if let Some(record) =
                protocol::effect_unknown(self.record.attempts, &e.to_string(), past)
            {
                return Ok(Err(record));
            }
            // Cannot tell whether it ran: sending again could run it twice.
            if !self.ctx.cancel.sleep(self.ctx.poll.max).await {
                return Err(StepAbort::Interrupted);
            }
        }
    }

    async fn attempt_failed(&mut self, attempt: u32, e: ApiError) -> Result<(), StepAbort> {
        let stopping = self.ctx.cancel.is_cancelled();
        let error = e.to_string();
        let failed = FailedAttempt {
            attempt,
            failures: self.failures + 1,
            transient: e.is_transient(),
            error: &error,
            http_status: e.status(),
        };
        let decision =
            protocol::after_failed_attempt(self.ctx.op, failed, self.ctx.max_failures, stopping);
        match decision {
            AfterFailure::LeaveForNextRun(record) => {
                self.apply(record, attempt).await?;
                Err(StepAbort::Interrupted)
            }
            AfterFailure::Fail(record) => {
                self.failures += 1;
                self.apply(record, attempt).await
            }
            AfterFailure::TryAgain { record, pause } => {
                self.failures += 1;
                self.apply(record, attempt).await?;
                if !self.ctx.cancel.sleep(pause).await {
                    return Err(StepAbort::Interrupted);
                }
                Ok(())
            }
        }
    }

    /// Polls until the execution is in the target state or the grace period runs out.
    async fn wait_for_target(&mut self) -> Result<(), StepAbort> {
        let since = Instant::now();
        // One grace period per run, however often the request is sent again meanwhile.
        let deadline = *self
            .wait_deadline
            .get_or_insert(since + self.ctx.grace_period);
        let mut waiting = Waiting::new(
            self.ctx.op,
            deadline,
            self.ctx.grace_period,
            protocol::no_motion_after(self.ctx.poll.initial),
        );
        // A shared listing costs the same however many steps read it, so those steps look at
        // a steady pace; single reads back off.
        let shared = self.ctx.observer.shared_interval();
        let mut delay =
            shared.unwrap_or_else(|| self.ctx.observer.first_look_after(self.ctx.poll.initial));
        let mut seen_generation = 0;
        let attempt = self.record.attempts;
        let mut lookout = self.ctx.observer.enlist();
        loop {
            let slept = if lookout == Lookout::Patient && !self.ctx.observer.has_arrival() {
                lookout = Lookout::Scout;
                let patience = (since + SCOUTING_PATIENCE).min(deadline);
                tokio::select! {
                    _ = tokio::time::sleep_until(patience) => true,
                    _ = self.ctx.observer.first_arrival() => true,
                    _ = self.ctx.cancel.cancelled() => false,
                }
            } else {
                let wake = (Instant::now() + delay).min(deadline);
                tokio::select! {
                    _ = tokio::time::sleep_until(wake) => true,
                    _ = self.ctx.cancel.cancelled() => false,
                }
            };
            if !slept {
                return Err(StepAbort::Interrupted);
            }
            let read = self
                .ctx
                .observer
                .read(
                    self.entry,
                    &self.record.key.execution,
                    since,
                    seen_generation,
                )
                .await;
            seen_generation = read.generation;
            let reading = self.reading(read.state)?;
            let look = protocol::after_look(
                &mut waiting,
                &reading,
                Instant::now(),
                self.failures,
                self.ctx.max_failures,
            );
            match look {
                AfterLook::KeepWaiting => {}
                AfterLook::Record(record) => {
                    if record.to == StepPhase::Confirmed {
                        self.ctx.observer.arrived(Some(since.elapsed()));
                    }
                    return self.apply(record, attempt).await;
                }
                AfterLook::Gone => {
                    self.ctx.observer.arrived(None);
                    return self.apply(protocol::gone(self.ctx.op), attempt).await;
                }
                // Back to `drive`, which observes the `Requested` step before sending.
                AfterLook::SendAgain(record) => {
                    self.failures += 1;
                    if let Some(note) = &record.message {
                        tracing::warn!("{} '{}': {note}", self.record.key.kind, self.record.name);
                    }
                    return self.apply(record, attempt).await;
                }
            }
            if shared.is_none() {
                delay = self.ctx.poll.next(since.elapsed());
            }
        }
    }

    /// A restart step found `Requested` (or `Failed`): did an earlier request run after all?
    /// Looks for its effect and judges the candidates ([`super::restart`]), in the step's turn.
    /// Found: `Accepted` with the new job's id, nothing sent. Not found: the caller sends the
    /// restart. The project gone (404): `Skipped`. Undecidable, or no answer within the grace
    /// period: `Failed` with the reason, and nothing is sent, so that a job never runs twice.
    /// Returns whether the step was settled.
    async fn found_restart(&mut self) -> Result<bool, StepAbort> {
        self.take_turn().await;
        let attempt = self.record.attempts;
        let attempt_ms = self
            .record
            .requested_at
            .as_deref()
            .and_then(rfc3339_ms)
            .unwrap_or(i64::MIN);
        let original = self.record.key.execution.clone();
        loop {
            let claims = self.ctx.restarts.claims(&self.record.key, self.entry)?;
            let since = claims.rivals.iter().copied().fold(attempt_ms, i64::min);
            let candidates = match self
                .restart_candidates(since.saturating_sub(STAMP_MARGIN_MS))
                .await?
            {
                Ok(candidates) => candidates,
                Err(record) => {
                    self.apply(record, attempt).await?;
                    return Ok(true);
                }
            };
            return match judge(&original, attempt_ms, &candidates, &claims) {
                RestartSearch::Found { id, evidence } => {
                    let msg = format!(
                        "found the restart of attempt {attempt} already ran, as job {id} ({evidence}); not sent again"
                    );
                    self.apply_effect(attempt, msg, id).await?;
                    Ok(true)
                }
                // A request whose outcome is unknown may still land (a backend behind a proxy
                // that cut the connection, a server slower than our timeout, a copy in flight
                // when the last run died): nothing is sent again before it must have. The turn
                // is kept meanwhile, so that no other restart's job can be taken for it.
                RestartSearch::NotFound => {
                    let wait = protocol::wait_for_late_effect(
                        rfc3339_ms(&self.record.updated_at),
                        now_ms(),
                        protocol::RESTART_SETTLE,
                        self.restart_refused,
                    );
                    let Some(pause) = wait else {
                        return Ok(false);
                    };
                    if !self.ctx.cancel.sleep(pause).await {
                        return Err(StepAbort::Interrupted);
                    }
                    continue;
                }
                RestartSearch::Ambiguous(ids) => {
                    let near_attempt = candidates
                        .iter()
                        .any(|c| ids.contains(&c.id) && c.submitted_ms < attempt_ms);
                    let reason = super::restart::undecidable(
                        attempt,
                        &ids,
                        claims.rivals.len(),
                        near_attempt,
                    );
                    let record = Record::failed(reason, None);
                    self.apply_with(record, attempt, None, Some(StepNote::Undecidable))
                        .await?;
                    Ok(true)
                }
            };
        }
    }

    /// After a restart was accepted: the new execution must exist (running or already ended).
    async fn wait_for_restart(&mut self) -> Result<(), StepAbort> {
        let attempt = self.record.attempts;
        let Some(new_id) = self.record.effect.clone() else {
            // Accepted without a recorded effect cannot happen; look for it rather than guess.
            let record = Record {
                to: StepPhase::Requested,
                http_status: None,
                message: None,
                error: None,
            };
            return self.apply(record, attempt).await;
        };
        let mut new_entry = self.entry.clone();
        if let Some(id) = new_entry.id.as_object_mut() {
            id.insert("_id".into(), new_id.clone().into());
        }
        // A job the restart answer named is readable at once; one that stays unknown for
        // RESTART_NOT_FOUND is not coming (an answer naming a job that does not exist), and
        // the step says so rather than waiting out the whole grace period.
        let deadline = Instant::now() + self.ctx.grace_period.min(protocol::RESTART_NOT_FOUND);
        loop {
            let observed = self.ctx.api.observe(&new_entry).await;
            let reading = self.reading(observed)?;
            let past = Instant::now() >= deadline;
            if let Some(record) = protocol::after_restarted_look(&new_id, &reading, past) {
                return self.apply(record, attempt).await;
            }
            if !self.ctx.cancel.sleep(self.ctx.poll.initial).await {
                return Err(StepAbort::Interrupted);
            }
        }
    }

    /// Whether the execution's own read answers 404. A 404 to a stop or a restart is believed
    /// only when this says so too (a route not ready yet right after an upgrade answers 404 as
    /// well).
    async fn own_read_says_gone(&self) -> Result<bool, StepAbort> {
        match self.ctx.api.observe(self.entry).await {
            Ok(Observed::Gone) => Ok(true),
            Err(e) if e.is_unauthorized() => Err(StepAbort::Unauthorized(e)),
            Ok(_) | Err(_) => Ok(false),
        }
    }

    /// Whether the execution is absent from everything that could show it: its own read answers
    /// 404, and its kind's listing (where it has one that carries every execution) lacks it.
    async fn confirmed_absent(&self) -> Result<bool, StepAbort> {
        if !self.own_read_says_gone().await? {
            return Ok(false);
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

    /// Records a transition durably and tells the reporter. A live stop's confirmation also
    /// records how its execution ended (see [`protocol::stop_end`]).
    async fn apply(&mut self, record: Record, attempt: u32) -> Result<(), StepAbort> {
        self.apply_with(record, attempt, None, None).await
    }

    /// [`Step::apply`], with what a restart's effect is and what the phase alone does not say.
    async fn apply_with(
        &mut self,
        record: Record,
        attempt: u32,
        effect: Option<String>,
        note: Option<StepNote>,
    ) -> Result<(), StepAbort> {
        let Record {
            to,
            http_status,
            mut message,
            error,
        } = record;
        if to == StepPhase::Accepted && self.ctx.op == Operation::Shutdown {
            self.stop_may_have_applied = true;
        }
        if matches!(to, StepPhase::Failed(_)) {
            self.failed_in_this_run = true;
        }
        let ended = self.end_if_confirmed(&to, http_status);
        if let Some(end) = &ended {
            message = Some(protocol::end_message(message, end));
        }
        let t = Transition {
            effect,
            ended,
            note,
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

    /// `Accepted`, with what the restart created (the new job's id).
    async fn apply_effect(
        &mut self,
        attempt: u32,
        message: String,
        effect: String,
    ) -> Result<(), StepAbort> {
        let accepted = Record {
            to: StepPhase::Accepted,
            http_status: None,
            message: Some(message),
            error: None,
        };
        self.apply_with(accepted, attempt, Some(effect), None).await
    }

    async fn commit(&mut self, t: Transition) -> Result<(), StepAbort> {
        self.record = self.ctx.writer.apply(t).await?;
        // A restart's turn ends once its effect is known or the step is decided.
        let known = self.record.phase == StepPhase::Accepted && self.record.effect.is_some();
        if known || self.record.phase.is_terminal() {
            self.turn = None;
        }
        self.ctx.stats.step_changed(&self.record, Instant::now());
        self.ctx.reporter.step_changed(&self.record);
        if self.record.phase.is_terminal() {
            self.ctx.reporter.step_ended(&self.record);
        }
        Ok(())
    }

    /// How a live stop's execution ended, when its step is confirmed; the word is what the
    /// kind's reads last saw ("gone" after a 404).
    fn end_if_confirmed(&self, to: &StepPhase, http_status: Option<u16>) -> Option<StepEnd> {
        if *to != StepPhase::Confirmed || self.ctx.protocol != Protocol::LiveStop {
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
        Some(protocol::stop_end(word, self.stop_may_have_applied))
    }
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(i64::MAX)
}
