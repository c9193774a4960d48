//! One step driven from wherever the journal left it to an end: the driver that carries out
//! [`super::protocol`]'s decisions. It sends, reads, sleeps and commits; every choice it makes
//! (what next, what an answer or a reading means, when to give up) is the protocol's, which is
//! written down and tested there.
//!
//! Transitions go through the journal's writer, which batches concurrent steps' transitions
//! into shared commits; a step waits for its `Requested` commit before it sends anything
//! (`recording`). A Job's restart moves (its turn, the look for someone else's restart, the
//! restart sent once, the look for its effect) are in `restart_moves`.

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

mod recording;
mod restart_moves;

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
