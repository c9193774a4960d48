//! The step protocol as decisions, with no I/O and no clock of its own: given what the journal
//! records of a step and what the API just said, what happens next. [`super::step`] performs
//! the decisions (sends, reads, sleeps, commits); everything it decides, it asks here. This is
//! the protocol the whole tool rests on; the rules, each tested below:
//!
//! ```text
//! Pending ──► Requested ──► Accepted ──► Confirmed
//!    │            │             │
//!    └────────────┴─────────────┴──► Failed(reason)          Skipped(reason)
//! ```
//!
//! - **Window 1**, killed before the `Requested` commit: the step is `Pending`, nothing was sent;
//!   it is sent ([`next`]).
//! - **Window 2**, killed after the `Requested` commit: the request may or may not have reached
//!   the API. Never guess: observe first ([`settle_unknown`]). In the target state (or gone, for
//!   a stop): `Confirmed`; in motion: `Accepted`, and wait; otherwise, or unreadable: send again.
//!   The same window opens without a crash when an answer is lost or a stop or start is refused
//!   as an applied copy would provoke (400/409): observe before the attempt counts
//!   ([`after_answer`]).
//! - **Window 3**, killed after `Accepted`: only wait for the target state.
//! - **No motion**: an `Accepted` step whose execution stays exactly as it was for several looks
//!   (the API lost the request) is sent again, as an attempt ([`after_look`]).
//! - **Gone**: a 404 on a stop is done, once the execution is absent from its listing too; a 404
//!   on a start is a failure, never retried ([`gone`]).
//! - **Failure budget**: `-m` failed attempts in one run end the step `Failed`; a transient
//!   failure while the run is stopping leaves it `Requested` for the next run
//!   ([`after_failed_attempt`]).
//! - **Grace period**: a step not at its target within it is `Failed` ([`after_look`]).
//! - **Restarts** are not state-setting ([`Protocol::Restart`]): an unknown outcome is resolved
//!   by looking for the effect (judged in [`super::restart`]), never by sending again blindly.
//! - **Live stops** ([`Protocol::LiveStop`], Jobs found running): looked at before the first
//!   stop, since one that ended by itself is confirmed without one; how it ended is recorded
//!   ([`stop_end`]), and only an end by dmm's stop makes it one to restart.

use std::time::Duration;

use tokio::time::Instant;

use super::target_state;
use crate::domino::{ComesBack, Heading, Observed};
use crate::journal::{Operation, StepEnd, StepPhase};

/// Which protocol a step follows, decided once per kind and operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// Stops, starts and pauses set a state: sending one again after looking is safe.
    StateSetting,
    /// The stop of an execution the snapshot does not record (a Job found running): looked at
    /// before its first stop, and how it ended is recorded.
    LiveStop,
    /// A restart that creates a new execution (a Job): sending it twice runs the job twice.
    Restart,
}

impl Protocol {
    pub(crate) fn for_step(op: Operation, live: bool, comes_back: ComesBack) -> Protocol {
        match op {
            Operation::Shutdown if live => Protocol::LiveStop,
            Operation::Restore if comes_back == ComesBack::AsNewExecution => Protocol::Restart,
            _ => Protocol::StateSetting,
        }
    }
}

/// What the driver does next with a step, from its phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// The step has ended (for this run).
    Done,
    /// A live stop not yet sent: look whether it ended by itself (and hold with `--jobs wait`).
    LookBeforeStopping,
    /// A restart whose job's stop never finished: look how the job ended before restarting.
    LookBeforeRestarting,
    /// Record the intent, then send.
    Send,
    /// The last request's outcome is unknown: observe before sending again.
    ObserveBeforeSending,
    /// The last restart's outcome is unknown: look for its effect before sending again.
    LookForEffect,
    /// The request was taken: wait for the target state.
    AwaitTarget,
    /// The restart was taken: wait for the new execution to show.
    AwaitRestarted,
}

/// The next move for a step in `phase`. `sent`: a request of the step was ever recorded
/// (its attempts); `failed_in_this_run`: a failure this run already counted ends the step here;
/// a step found `Failed` is in the plan only with `--retry-failed`. `stop_unfinished`: a
/// restart whose job's stop never finished, not yet looked at.
pub(crate) fn next(
    protocol: Protocol,
    phase: &StepPhase,
    sent: bool,
    failed_in_this_run: bool,
    stop_unfinished: bool,
) -> Next {
    match (phase, protocol) {
        (StepPhase::Confirmed | StepPhase::Skipped(_), _) => Next::Done,
        (StepPhase::Failed(_), _) if failed_in_this_run => Next::Done,
        (StepPhase::Pending, Protocol::LiveStop) => Next::LookBeforeStopping,
        (StepPhase::Pending, Protocol::Restart) if stop_unfinished => Next::LookBeforeRestarting,
        (StepPhase::Pending, _) => Next::Send,
        // A restart that failed before anything was sent (someone else's run could not be told
        // apart, the listing never answered): no effect of its own to look for. It starts over,
        // with the look before sending.
        (StepPhase::Failed(_), Protocol::Restart) if !sent && stop_unfinished => {
            Next::LookBeforeRestarting
        }
        (StepPhase::Failed(_), Protocol::Restart) if !sent => Next::Send,
        (StepPhase::Requested | StepPhase::Failed(_), Protocol::Restart) => Next::LookForEffect,
        (StepPhase::Failed(_), _) => Next::Send,
        (StepPhase::Requested, _) => Next::ObserveBeforeSending,
        (StepPhase::Accepted, Protocol::Restart) => Next::AwaitRestarted,
        (StepPhase::Accepted, _) => Next::AwaitTarget,
    }
}

/// A transition the driver records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub to: StepPhase,
    pub http_status: Option<u16>,
    pub message: Option<String>,
    pub error: Option<String>,
}

impl Record {
    fn to(to: StepPhase, message: String) -> Record {
        Record {
            to,
            http_status: None,
            message: Some(message),
            error: None,
        }
    }

    /// `Failed(reason)`, the reason also the step's last error.
    pub(crate) fn failed(reason: String, http_status: Option<u16>) -> Record {
        Record {
            to: StepPhase::Failed(reason.clone()),
            http_status,
            message: None,
            error: Some(reason),
        }
    }
}

/// What a read says, as far as the protocol cares: a state, or no state (an error that is not
/// a refusal of the credentials; the driver aborts on those before asking).
pub(crate) type Reading = Result<Observed, String>;

/// Window 2: what an observation of a step whose last request has an unknown outcome settles.
/// `None`: nothing; send again (safe: the request sets a state).
pub(crate) fn settle_unknown(op: Operation, reading: &Reading) -> Option<Record> {
    match reading {
        Ok(state) if *state == target_state(op) => Some(Record::to(
            StepPhase::Confirmed,
            format!("observed {state}"),
        )),
        Ok(Observed::Gone) => Some(gone(op)),
        // The earlier request was taken and is under way: sending it again would at best be
        // refused ("already starting") and at worst restart the execution. Wait instead; if it
        // settles back where it was, the no-motion rule sends it again.
        Ok(state @ Observed::InMotion(_)) if taken_by(op, state) => Some(Record::to(
            StepPhase::Accepted,
            format!("observed {state}: the earlier request was taken; waiting"),
        )),
        Ok(_) | Err(_) => None,
    }
}

/// Whether an execution seen in motion shows that a request of `op` was taken. Only motion
/// toward the target does: a Workspace still `Starting` after its stop was lost on the way is
/// where it was before the stop, and is sent the stop again (stops set a state, so that is
/// safe). A word that does not say where it heads counts for a start, never for a stop: a
/// start sent again to an execution already starting is refused, a stop sent again is not.
fn taken_by(op: Operation, state: &Observed) -> bool {
    match (op, state.heading()) {
        (Operation::Shutdown, Some(Heading::ToStopped)) => true,
        (Operation::Shutdown, _) => false,
        (Operation::Restore, Some(Heading::ToStopped)) => false,
        (Operation::Restore, _) => true,
    }
}

/// Whether `state`, seen while waiting for `op`'s target, is where the execution would be had
/// the request never been taken: the opposite state, or motion heading away from the target.
fn as_if_not_taken(op: Operation, state: &Observed) -> bool {
    let away = match op {
        Operation::Shutdown => Heading::ToRunning,
        Operation::Restore => Heading::ToStopped,
    };
    *state == target_state(op.opposite()) || state.heading() == Some(away)
}

/// A stop of an execution that no longer exists is done; a start of one is a failure to
/// report, never to retry.
pub(crate) fn gone(op: Operation) -> Record {
    let http_status = Some(404);
    match op {
        Operation::Shutdown => Record {
            to: StepPhase::Confirmed,
            http_status,
            message: Some("gone (404): the execution no longer exists".into()),
            error: None,
        },
        Operation::Restore => {
            Record::failed("the execution no longer exists (404)".into(), http_status)
        }
    }
}

/// How a stop or start was answered, classified by the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// 2xx; the state the answer shows, if it shows one.
    Taken(Option<Observed>),
    /// 404.
    NotFound,
    /// No answer after it left, or a 400/409 as an applied earlier copy provokes.
    MayHaveApplied,
    /// Any other failure, after the client's own retries.
    Failed,
}

/// What follows an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AfterAnswer {
    Record(Record),
    /// 404 to a stop: gone only if the execution's own read and its listing agree.
    GoneIfAbsent,
    /// Observe (window 2) before the attempt counts as failed.
    ObserveBeforeCounting,
    /// A failed attempt ([`after_failed_attempt`]).
    CountFailure,
}

/// `retried`: what the client's own retries were, for the audit ("" when none).
pub(crate) fn after_answer(op: Operation, answer: &Answer, retried: &str) -> AfterAnswer {
    let verb = op.verb();
    match answer {
        Answer::Taken(Some(state)) if *state == target_state(op) => {
            AfterAnswer::Record(Record::to(
                StepPhase::Confirmed,
                format!("{verb} accepted{retried}; the answer shows it {state}"),
            ))
        }
        Answer::Taken(_) => AfterAnswer::Record(Record::to(
            StepPhase::Accepted,
            format!("{verb} accepted{retried}"),
        )),
        Answer::NotFound if op == Operation::Shutdown => AfterAnswer::GoneIfAbsent,
        Answer::NotFound => AfterAnswer::Record(gone(op)),
        Answer::MayHaveApplied => AfterAnswer::ObserveBeforeCounting,
        Answer::Failed => AfterAnswer::CountFailure,
    }
}

/// What follows a failed attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AfterFailure {
    /// The run is stopping and the failure was transient: the outcome is unknown, the step
    /// stays `Requested` for the next run to look at; the driver stops.
    LeaveForNextRun(Record),
    /// The run's budget (`-m`) is spent.
    Fail(Record),
    /// Record it, pause, then look and try again.
    TryAgain { record: Record, pause: Duration },
}

/// One failed attempt, as the budget weighs it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FailedAttempt<'e> {
    pub attempt: u32,
    /// This run's failed attempts, this one included.
    pub failures: u32,
    /// A failure that may pass (429, 5xx, a timeout), not a refusal.
    pub transient: bool,
    pub error: &'e str,
    pub http_status: Option<u16>,
}

/// `stopping`: the run is stopping (a signal, an outage, the deadline).
pub(crate) fn after_failed_attempt(
    op: Operation,
    f: FailedAttempt<'_>,
    max_failures: u32,
    stopping: bool,
) -> AfterFailure {
    let FailedAttempt {
        attempt,
        failures,
        transient,
        error,
        http_status,
    } = f;
    if transient && stopping {
        return AfterFailure::LeaveForNextRun(Record {
            to: StepPhase::Requested,
            http_status,
            message: Some("attempt failed while the run was stopping".into()),
            error: Some(error.to_owned()),
        });
    }
    if failures >= max_failures.max(1) {
        return AfterFailure::Fail(Record {
            to: StepPhase::Failed(format!(
                "{failures} failed attempts in this run; last: {error}"
            )),
            http_status,
            message: None,
            error: Some(error.to_owned()),
        });
    }
    AfterFailure::TryAgain {
        record: Record {
            to: StepPhase::Requested,
            http_status,
            message: Some(format!(
                "{} attempt {attempt} failed; will look and try again",
                op.verb()
            )),
            error: Some(error.to_owned()),
        },
        // Back off between attempts; the client already retried transient answers.
        pause: Duration::from_millis(500 * u64::from(failures.min(10))),
    }
}

/// The record of an attempt whose outcome is unknown, before it is looked at.
pub(crate) fn outcome_unknown(
    op: Operation,
    attempt: u32,
    http_status: Option<u16>,
    error: &str,
) -> Record {
    Record {
        to: StepPhase::Requested,
        http_status,
        message: Some(format!(
            "{} attempt {attempt}: outcome unknown; looking before sending again",
            op.verb()
        )),
        error: Some(error.to_owned()),
    }
}

/// Looks in a row that must show an accepted request's execution exactly as it was before the
/// request is taken as lost.
pub(crate) const NO_MOTION_LOOKS: u32 = 5;

/// A wait for the target state, as far as the protocol keeps it.
#[derive(Clone, Debug)]
pub(crate) struct Waiting {
    pub op: Operation,
    pub deadline: Instant,
    pub grace_period: Duration,
    /// How long an accepted request may show no effect at all before it is taken as lost.
    pub no_motion_after: Duration,
    /// Since when, and for how many looks, the execution has been exactly as it was.
    still: Option<(Instant, u32)>,
    last_seen: String,
}

impl Waiting {
    pub(crate) fn new(
        op: Operation,
        deadline: Instant,
        grace_period: Duration,
        no_motion_after: Duration,
    ) -> Waiting {
        Waiting {
            op,
            deadline,
            grace_period,
            no_motion_after,
            still: None,
            last_seen: "nothing yet".into(),
        }
    }
}

/// What follows one look while waiting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AfterLook {
    Record(Record),
    /// Gone: [`gone`] (no listing check: the wait's reads already agree).
    Gone,
    KeepWaiting,
    /// No motion: record this (back to `Requested`, an attempt counted), then observe and send.
    SendAgain(Record),
}

/// One look while waiting for the target. `failures`: this run's failed attempts so far; a
/// resend counts as one, and is made only while the budget has room for it.
pub(crate) fn after_look(
    w: &mut Waiting,
    reading: &Reading,
    now: Instant,
    failures: u32,
    max_failures: u32,
) -> AfterLook {
    let target = target_state(w.op);
    match reading {
        Ok(state) if *state == target => {
            return AfterLook::Record(Record::to(
                StepPhase::Confirmed,
                format!("observed {state}"),
            ));
        }
        Ok(Observed::Gone) => return AfterLook::Gone,
        Ok(state) => {
            let seen = state.to_string();
            // Still: as if the request had not been taken, and unchanged since the last look.
            w.still = match w.still {
                Some((first, looks)) if as_if_not_taken(w.op, state) && seen == w.last_seen => {
                    Some((first, looks + 1))
                }
                _ if as_if_not_taken(w.op, state) => Some((now, 1)),
                _ => None,
            };
            w.last_seen = seen;
        }
        Err(e) => w.last_seen = format!("unknown ({e})"),
    }
    if let Some((first, looks)) = w.still
        && looks >= NO_MOTION_LOOKS
        && now.duration_since(first) >= w.no_motion_after
        && failures + 1 < max_failures.max(1)
        && now < w.deadline
    {
        let verb = w.op.verb();
        let note = format!(
            "no motion: still {} after {looks} looks over {:.0}s since the {verb} was accepted; sending it again",
            w.last_seen,
            now.duration_since(first).as_secs_f64()
        );
        return AfterLook::SendAgain(Record::to(StepPhase::Requested, note));
    }
    if now >= w.deadline {
        return AfterLook::Record(Record::failed(
            format!(
                "not {target} within the grace period of {}s (last seen: {})",
                w.grace_period.as_secs(),
                w.last_seen
            ),
            None,
        ));
    }
    AfterLook::KeepWaiting
}

/// How a live stop's execution ended, recorded with its confirmation: by this step's stop only
/// if a stop may have taken effect and the execution then shows `Stopped`.
pub(crate) fn stop_end(word: String, stop_may_have_applied: bool) -> StepEnd {
    let by_this_stop = stop_may_have_applied && word.eq_ignore_ascii_case("Stopped");
    StepEnd { word, by_this_stop }
}

/// The audit message of a live stop's confirmation says which of the two it was.
pub(crate) fn end_message(message: Option<String>, end: &StepEnd) -> String {
    if end.by_this_stop {
        return match message {
            Some(m) => format!("{m}; ended by this stop"),
            None => "ended by this stop".into(),
        };
    }
    format!(
        "{}ended by itself ({}), not by a stop of dmm's: never restarted",
        message.map(|m| format!("{m}; ")).unwrap_or_default(),
        end.word
    )
}

/// What a live stop's look before stopping decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BeforeStopping {
    /// It ended by itself: confirm without a stop.
    EndedByItself(Record),
    /// Look again at the end of the hold (`--jobs wait`).
    Hold,
    Stop,
}

pub(crate) fn before_stopping(reading: &Reading, holding: bool) -> BeforeStopping {
    match reading {
        Ok(state @ (Observed::Stopped | Observed::Gone)) => BeforeStopping::EndedByItself(Record {
            to: StepPhase::Confirmed,
            http_status: (*state == Observed::Gone).then_some(404),
            message: Some(format!(
                "ended by itself before its stop was sent ({state})"
            )),
            error: None,
        }),
        _ if holding => BeforeStopping::Hold,
        _ => BeforeStopping::Stop,
    }
}

/// A restart whose job's stop never finished (the shutdown step failed or was interrupted):
/// restarted only if the job has ended `Stopped`, as dmm's stop leaves it. `None`: restart it.
pub(crate) fn before_restarting(reading: &Reading, end_word: Option<&str>) -> Option<Record> {
    let skipped = |why: String| Record {
        to: StepPhase::Skipped(why),
        http_status: None,
        message: None,
        error: None,
    };
    match reading {
        Ok(Observed::Stopped) if end_word.is_some_and(|w| w.eq_ignore_ascii_case("Stopped")) => {
            None
        }
        Ok(Observed::Stopped) => Some(skipped(format!(
            "ended by itself ({}) while its stop was unfinished: not restarted",
            end_word.unwrap_or("?")
        ))),
        Ok(Observed::Gone) => Some(skipped("gone (404): nothing to restart".into())),
        Ok(state) => Some(skipped(format!(
            "still {state}: its stop never finished, so there is nothing to restart"
        ))),
        Err(e) => Some(Record::failed(
            format!("could not read the job to tell how it ended ({e}); not restarted"),
            None,
        )),
    }
}

/// What a look for a restart's effect that got no answer decides: look again, or, past the
/// grace period, fail without sending (sending could run the job twice). With no attempt
/// made yet (`attempt` 0) the look was the one before the first send, for someone else's
/// restart: no attempt of dmm's is in doubt then, and the reason must not say one is.
pub(crate) fn effect_unknown(attempt: u32, error: &str, past_grace: bool) -> Option<Record> {
    past_grace.then(|| {
        let why = match attempt {
            0 => format!(
                "could not look for someone else's restart of this job before sending one ({error}); not sent, so that the job never runs twice"
            ),
            _ => format!(
                "could not tell whether restart attempt {attempt} ran ({error}); not sent again, so that the job never runs twice"
            ),
        };
        Record::failed(why, None)
    })
}

/// A restart (or the look for its effect) answered 404: the job or its project was deleted.
/// A definite answer: nothing can have run, nothing can run.
pub(crate) fn restart_target_gone(error: &str) -> Record {
    Record {
        to: StepPhase::Skipped(format!(
            "the job or its project no longer exists (404: {error}); nothing to restart"
        )),
        http_status: Some(404),
        message: None,
        error: None,
    }
}

/// Someone else restarted the job during the window (job `id`, submitted by `by`): nothing is
/// sent, so that it does not run twice, and the step says whose restart it was.
pub(crate) fn restarted_by_someone_else(id: &str, by: &str) -> Record {
    Record {
        to: StepPhase::Skipped(format!(
            "a job of its command was started by {by} since the shutdown stopped it (job {id}): taken as its restart, and not restarted again, so that it does not run twice"
        )),
        http_status: None,
        message: None,
        error: None,
    }
}

/// A look for a restart's effect found nothing. `Some(wait)`: a copy of the last restart may
/// still land (its outcome is unknown and less than `settle` has passed since its last record,
/// at `last_record_ms`): look again after `wait` before sending anything. `None`: it did not
/// run; send it. A restart refused with a status that means it was not done needs no wait.
pub(crate) fn wait_for_late_effect(
    last_record_ms: Option<i64>,
    now_ms: i64,
    settle: Duration,
    refused: bool,
) -> Option<Duration> {
    if refused {
        return None;
    }
    let settled_at = last_record_ms? + i64::try_from(settle.as_millis()).unwrap_or(i64::MAX);
    let left = settled_at.saturating_sub(now_ms);
    (left > 0).then(|| Duration::from_millis(left as u64))
}

/// What follows a look at the new execution a restart created.
pub(crate) fn after_restarted_look(
    new_id: &str,
    reading: &Reading,
    past_grace: bool,
) -> Option<Record> {
    match reading {
        Ok(Observed::Gone) | Err(_) if !past_grace => None,
        Ok(state @ (Observed::Running | Observed::Stopped | Observed::InMotion(_))) => {
            Some(Record::to(
                StepPhase::Confirmed,
                format!("restarted as job {new_id}, now {state}"),
            ))
        }
        Ok(_) | Err(_) => Some(Record::failed(
            format!(
                "job {new_id}, which the restart's answer named, could not be found: the restart may not have run; look at the project's jobs"
            ),
            None,
        )),
    }
}

/// How long the job a restart's answer named may stay unknown to its read before the step
/// gives up on it (within the grace period, if that is shorter).
pub(crate) const RESTART_NOT_FOUND: Duration = Duration::from_secs(60);

/// How long after a restart's outcome became unknown (its last record) a copy of it may still
/// land; the effect is looked for until then before the restart is sent again.
pub(crate) const RESTART_SETTLE: Duration = Duration::from_secs(15);

/// Whether a stop that did not succeed may still have reached Domino and taken effect: no
/// answer came after it left (`unanswered`), or a gateway answered for a backend that may have
/// done it (502, 504). A 400/409 is Domino's own refusal: it counts only after an earlier copy
/// whose outcome was unknown, which has already said so. Only stops: a start sets a state.
pub(crate) fn stop_may_have_applied(op: Operation, status: Option<u16>, unanswered: bool) -> bool {
    op == Operation::Shutdown
        && ((unanswered && status.is_none()) || matches!(status, Some(502 | 504)))
}

/// Whether a restart's failure means it was not done (429 slow down, 500 and 503 refusals
/// before any work): no copy of it can still land, so nothing need be waited for.
pub(crate) fn restart_refused(status: Option<u16>) -> bool {
    matches!(status, Some(429 | 500 | 503))
}

/// How long an accepted request may show no effect at all before it is taken as lost: thirty
/// first-poll intervals (30 s by default), never under five seconds.
pub(crate) fn no_motion_after(first_poll: Duration) -> Duration {
    (first_poll * 30).max(Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHUT: Operation = Operation::Shutdown;
    const REST: Operation = Operation::Restore;

    fn failed() -> StepPhase {
        StepPhase::Failed("x".into())
    }

    #[test]
    fn the_next_move_follows_the_phase_and_the_protocol() {
        use Next::*;
        use Protocol::*;
        // (protocol, phase, sent, failed in this run, next)
        let cases: &[(Protocol, StepPhase, bool, bool, Next)] = &[
            // Window 1: nothing was sent.
            (StateSetting, StepPhase::Pending, false, false, Send),
            (
                LiveStop,
                StepPhase::Pending,
                false,
                false,
                LookBeforeStopping,
            ),
            (Restart, StepPhase::Pending, false, false, Send),
            // Window 2: observe (or look for the effect) before sending again.
            (
                StateSetting,
                StepPhase::Requested,
                true,
                false,
                ObserveBeforeSending,
            ),
            (
                LiveStop,
                StepPhase::Requested,
                true,
                false,
                ObserveBeforeSending,
            ),
            (Restart, StepPhase::Requested, true, false, LookForEffect),
            // Window 3: only wait.
            (StateSetting, StepPhase::Accepted, true, false, AwaitTarget),
            (Restart, StepPhase::Accepted, true, false, AwaitRestarted),
            // Ended steps are left alone.
            (StateSetting, StepPhase::Confirmed, true, false, Done),
            (Restart, StepPhase::Skipped("r".into()), false, false, Done),
            // --retry-failed: a failed step is tried again, a restart looked for first...
            (StateSetting, failed(), true, false, Send),
            (Restart, failed(), true, false, LookForEffect),
            // ... unless it never sent anything: then there is no effect of its own to find,
            // and it starts over with the look before sending.
            (Restart, failed(), false, false, Send),
            // ... and a failure of this run ends it.
            (StateSetting, failed(), true, true, Done),
            (Restart, failed(), true, true, Done),
            (Restart, failed(), false, true, Done),
        ];
        for (protocol, phase, sent, failed_now, want) in cases {
            assert_eq!(
                next(*protocol, phase, *sent, *failed_now, false),
                *want,
                "{protocol:?} {phase:?} sent: {sent}, failed in this run: {failed_now}"
            );
        }
    }

    #[test]
    fn protocols_are_chosen_by_operation_and_kind() {
        use ComesBack::*;
        let p = Protocol::for_step;
        assert_eq!(p(SHUT, true, AsNewExecution), Protocol::LiveStop);
        assert_eq!(p(REST, true, AsNewExecution), Protocol::Restart);
        assert_eq!(p(SHUT, false, StartSetsState), Protocol::StateSetting);
        assert_eq!(p(REST, false, StartSetsState), Protocol::StateSetting);
    }

    #[test]
    fn window_two_observes_before_sending_again() {
        let phase = |op, r: Reading| settle_unknown(op, &r).map(|rec| rec.to);
        assert_eq!(
            phase(SHUT, Ok(Observed::Stopped)),
            Some(StepPhase::Confirmed)
        );
        assert_eq!(
            phase(REST, Ok(Observed::Running)),
            Some(StepPhase::Confirmed)
        );
        assert_eq!(
            phase(REST, Ok(Observed::InMotion("Starting".into()))),
            Some(StepPhase::Accepted),
            "a start under way is waited for, never sent again"
        );
        assert_eq!(phase(SHUT, Ok(Observed::Gone)), Some(StepPhase::Confirmed));
        assert!(matches!(
            phase(REST, Ok(Observed::Gone)),
            Some(StepPhase::Failed(_))
        ));
        assert_eq!(phase(SHUT, Ok(Observed::Running)), None, "as it was: send");
        assert_eq!(
            phase(SHUT, Err("timeout".into())),
            None,
            "cannot tell: send"
        );
    }

    /// Each transitional word of every kind, against each target: motion is evidence that the
    /// request was taken only toward its target; otherwise it is sent again.
    #[test]
    fn window_two_counts_only_motion_toward_the_target() {
        let taken = Some(StepPhase::Accepted);
        let send = None;
        let cases: &[(&str, Option<StepPhase>, Option<StepPhase>)] = &[
            // word, after a stop of unknown outcome, after a start of unknown outcome
            ("Stopping", taken.clone(), send.clone()),
            ("Terminating", taken.clone(), send.clone()),
            ("Starting", send.clone(), taken.clone()),
            ("Pending", send.clone(), taken.clone()),
            ("Preparing", send.clone(), taken.clone()),
            ("Queued", send.clone(), taken.clone()),
            ("Pulling", send.clone(), taken.clone()),
            ("Building", send.clone(), taken.clone()),
            ("Preparing to build", send.clone(), taken.clone()),
            ("Created", send.clone(), taken.clone()),
            ("Initializing", send.clone(), taken.clone()),
            ("Running (pending)", taken.clone(), send.clone()),
            ("Stopped (pending)", send.clone(), taken.clone()),
            ("Ready to run (pending)", send.clone(), taken.clone()),
            // Says nothing of where it heads: a stop is sent again (harmless), a start is
            // waited for (sent again, it would be refused as already under way).
            ("Stalled", send.clone(), taken.clone()),
            ("?", send.clone(), taken.clone()),
        ];
        for (word, after_stop, after_start) in cases {
            let state: Reading = Ok(Observed::InMotion((*word).into()));
            assert_eq!(
                settle_unknown(SHUT, &state).map(|r| r.to),
                *after_stop,
                "stop, then {word}"
            );
            assert_eq!(
                settle_unknown(REST, &state).map(|r| r.to),
                *after_start,
                "start, then {word}"
            );
        }
    }

    /// An accepted stop of a Workspace that stays `Starting`, as it was before the stop, is a
    /// stop that was not taken: after enough looks it is sent again, not waited on to the end
    /// of the grace period.
    #[test]
    fn no_motion_counts_motion_away_from_the_target_as_still() {
        let t0 = Instant::now();
        let mut w = waiting(t0);
        let starting = Ok(Observed::InMotion("Starting".into()));
        for i in 0..NO_MOTION_LOOKS {
            let at = t0 + Duration::from_secs(u64::from(i) * 5);
            assert_eq!(
                after_look(&mut w, &starting, at, 0, 5),
                AfterLook::KeepWaiting
            );
        }
        assert!(matches!(
            after_look(&mut w, &starting, t0 + Duration::from_secs(35), 0, 5),
            AfterLook::SendAgain(_)
        ));
        // Toward the target, however long: waited for.
        let mut w = waiting(t0);
        let stopping = Ok(Observed::InMotion("Stopping".into()));
        for i in 0..=NO_MOTION_LOOKS + 3 {
            let at = t0 + Duration::from_secs(u64::from(i) * 10);
            assert_eq!(
                after_look(&mut w, &stopping, at, 0, 5),
                AfterLook::KeepWaiting
            );
        }
    }

    #[test]
    fn answers_decide_or_defer_to_a_look() {
        let a = |op, ans: Answer| after_answer(op, &ans, "");
        assert!(matches!(
            a(SHUT, Answer::Taken(None)),
            AfterAnswer::Record(Record {
                to: StepPhase::Accepted,
                ..
            })
        ));
        assert!(matches!(
            a(REST, Answer::Taken(Some(Observed::Running))),
            AfterAnswer::Record(Record {
                to: StepPhase::Confirmed,
                ..
            })
        ));
        assert!(matches!(
            a(REST, Answer::Taken(Some(Observed::Stopped))),
            AfterAnswer::Record(Record {
                to: StepPhase::Accepted,
                ..
            })
        ));
        assert_eq!(a(SHUT, Answer::NotFound), AfterAnswer::GoneIfAbsent);
        assert!(matches!(
            a(REST, Answer::NotFound),
            AfterAnswer::Record(Record {
                to: StepPhase::Failed(_),
                ..
            })
        ));
        assert_eq!(
            a(REST, Answer::MayHaveApplied),
            AfterAnswer::ObserveBeforeCounting,
            "a lost answer is looked at, not counted"
        );
        assert_eq!(a(SHUT, Answer::Failed), AfterAnswer::CountFailure);
    }

    #[test]
    fn the_failure_budget_and_a_stopping_run() {
        let f = |failures, transient, stopping| {
            let attempt = FailedAttempt {
                attempt: 1,
                failures,
                transient,
                error: "503",
                http_status: Some(503),
            };
            after_failed_attempt(SHUT, attempt, 3, stopping)
        };
        assert!(
            matches!(f(1, true, false), AfterFailure::TryAgain { record, pause }
            if record.to == StepPhase::Requested && pause == Duration::from_millis(500))
        );
        assert!(
            matches!(f(2, false, false), AfterFailure::TryAgain { pause, .. }
            if pause == Duration::from_secs(1))
        );
        assert!(matches!(f(3, false, false), AfterFailure::Fail(r)
            if matches!(&r.to, StepPhase::Failed(why) if why.starts_with("3 failed attempts"))));
        assert!(
            matches!(f(3, true, true), AfterFailure::LeaveForNextRun(r) if r.to == StepPhase::Requested),
            "a transient failure while stopping leaves it for the next run, budget or not"
        );
        assert!(matches!(f(1, false, true), AfterFailure::TryAgain { .. }));
        assert!(
            matches!(
                after_failed_attempt(
                    SHUT,
                    FailedAttempt {
                        attempt: 1,
                        failures: 1,
                        transient: false,
                        error: "e",
                        http_status: None
                    },
                    0,
                    false
                ),
                AfterFailure::Fail(_)
            ),
            "-m 0 is one attempt"
        );
    }

    fn waiting(now: Instant) -> Waiting {
        Waiting::new(
            SHUT,
            now + Duration::from_secs(600),
            Duration::from_secs(600),
            Duration::from_secs(30),
        )
    }

    #[test]
    fn a_wait_confirms_at_the_target_and_counts_gone_as_done() {
        let now = Instant::now();
        let mut w = waiting(now);
        assert!(matches!(
            after_look(&mut w, &Ok(Observed::Stopped), now, 0, 5),
            AfterLook::Record(Record {
                to: StepPhase::Confirmed,
                ..
            })
        ));
        assert_eq!(
            after_look(&mut w, &Ok(Observed::Gone), now, 0, 5),
            AfterLook::Gone
        );
        assert_eq!(
            after_look(
                &mut w,
                &Ok(Observed::InMotion("Stopping".into())),
                now,
                0,
                5
            ),
            AfterLook::KeepWaiting
        );
    }

    #[test]
    fn no_motion_sends_again_after_enough_looks_and_time_within_the_budget() {
        let t0 = Instant::now();
        let mut w = waiting(t0);
        let running = Ok(Observed::Running);
        for i in 0..NO_MOTION_LOOKS {
            let at = t0 + Duration::from_secs(u64::from(i) * 5);
            assert_eq!(
                after_look(&mut w, &running, at, 0, 5),
                AfterLook::KeepWaiting,
                "look {i}"
            );
        }
        // Enough looks and enough time: sent again.
        let later = t0 + Duration::from_secs(35);
        assert!(matches!(
            after_look(&mut w, &running, later, 0, 5),
            AfterLook::SendAgain(Record {
                to: StepPhase::Requested,
                ..
            })
        ));
        // Not when the resend would spend the last of the budget.
        let mut w = waiting(t0);
        for i in 0..=NO_MOTION_LOOKS {
            let at = t0 + Duration::from_secs(u64::from(i) * 10);
            assert_eq!(
                after_look(&mut w, &running, at, 4, 5),
                AfterLook::KeepWaiting
            );
        }
        // Motion resets the count.
        let mut w = waiting(t0);
        for i in 0..NO_MOTION_LOOKS {
            after_look(
                &mut w,
                &running,
                t0 + Duration::from_secs(u64::from(i) * 5),
                0,
                5,
            );
        }
        let moving = Ok(Observed::InMotion("Stopping".into()));
        assert_eq!(
            after_look(&mut w, &moving, t0 + Duration::from_secs(40), 0, 5),
            AfterLook::KeepWaiting
        );
        assert_eq!(
            after_look(&mut w, &running, t0 + Duration::from_secs(45), 0, 5),
            AfterLook::KeepWaiting
        );
    }

    #[test]
    fn the_grace_period_ends_a_wait_with_what_was_last_seen() {
        let t0 = Instant::now();
        let mut w = Waiting::new(
            SHUT,
            t0 + Duration::from_secs(5),
            Duration::from_secs(5),
            Duration::from_secs(30),
        );
        let at_end = t0 + Duration::from_secs(5);
        match after_look(
            &mut w,
            &Ok(Observed::InMotion("Stopping".into())),
            at_end,
            0,
            5,
        ) {
            AfterLook::Record(Record {
                to: StepPhase::Failed(why),
                ..
            }) => {
                assert!(
                    why.contains("grace period of 5s") && why.contains("Stopping"),
                    "{why}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_live_stop_is_looked_at_first_and_its_end_is_told_apart() {
        assert!(matches!(
            before_stopping(&Ok(Observed::Stopped), false),
            BeforeStopping::EndedByItself(_)
        ));
        assert_eq!(
            before_stopping(&Ok(Observed::Running), true),
            BeforeStopping::Hold
        );
        assert_eq!(
            before_stopping(&Err("e".into()), false),
            BeforeStopping::Stop
        );
        // Only `Stopped` after a stop that may have applied is dmm's doing.
        assert!(stop_end("Stopped".into(), true).by_this_stop);
        assert!(!stop_end("Succeeded".into(), true).by_this_stop);
        assert!(
            !stop_end("Stopped".into(), false).by_this_stop,
            "every stop refused"
        );
        assert!(
            end_message(None, &stop_end("Failed".into(), true))
                .contains("ended by itself (Failed)")
        );
    }

    #[test]
    fn a_restart_with_an_unknown_outcome_is_given_time_to_land() {
        let settle = Duration::from_secs(15);
        assert_eq!(
            wait_for_late_effect(Some(1_000), 6_000, settle, false),
            Some(Duration::from_secs(10)),
            "5 s after its last record: 10 s more before sending again"
        );
        assert_eq!(
            wait_for_late_effect(Some(1_000), 16_000, settle, false),
            None
        );
        assert_eq!(
            wait_for_late_effect(Some(1_000), 2_000, settle, true),
            None,
            "refused with 503: nothing can land"
        );
        assert_eq!(wait_for_late_effect(None, 2_000, settle, false), None);
    }

    #[test]
    fn a_restart_whose_stop_never_finished_looks_at_how_the_job_ended() {
        assert_eq!(
            next(Protocol::Restart, &StepPhase::Pending, false, false, true),
            Next::LookBeforeRestarting
        );
        assert_eq!(
            before_restarting(&Ok(Observed::Stopped), Some("Stopped")),
            None
        );
        let skipped = |r: Reading, w: Option<&str>| {
            matches!(
                before_restarting(&r, w),
                Some(Record {
                    to: StepPhase::Skipped(_),
                    ..
                })
            )
        };
        assert!(skipped(Ok(Observed::Stopped), Some("Succeeded")));
        assert!(skipped(Ok(Observed::Running), None));
        assert!(skipped(Ok(Observed::Gone), None));
        assert!(matches!(
            before_restarting(&Err("timeout".into()), None),
            Some(Record {
                to: StepPhase::Failed(_),
                ..
            })
        ));
    }

    #[test]
    fn restarts_are_never_sent_blindly() {
        assert_eq!(effect_unknown(2, "timeout", false), None, "look again");
        assert!(matches!(
            effect_unknown(2, "timeout", true),
            Some(Record { to: StepPhase::Failed(why), .. }) if why.contains("not sent again")
        ));
        // Before the first send no attempt of dmm's is in doubt: the look was for another's.
        assert!(matches!(
            effect_unknown(0, "timeout", true),
            Some(Record { to: StepPhase::Failed(why), .. })
                if why.contains("someone else's restart") && !why.contains("attempt 0")
        ));
        assert!(matches!(
            restart_target_gone("404").to,
            StepPhase::Skipped(_)
        ));
        assert_eq!(after_restarted_look("j2", &Ok(Observed::Gone), false), None);
        assert!(
            matches!(
                after_restarted_look("j2", &Ok(Observed::Stopped), false),
                Some(Record {
                    to: StepPhase::Confirmed,
                    ..
                })
            ),
            "a restart that already ended still ran"
        );
        assert!(matches!(
            after_restarted_look("j2", &Err("e".into()), true),
            Some(Record {
                to: StepPhase::Failed(_),
                ..
            })
        ));
    }

    #[test]
    fn which_failed_stops_may_have_applied() {
        use Operation::{Restore, Shutdown};
        // (op, status, unanswered) -> may have applied
        let table = [
            (Shutdown, None, true, true),
            (Shutdown, None, false, false),
            (Shutdown, Some(502), false, true),
            (Shutdown, Some(504), false, true),
            (Shutdown, Some(503), false, false),
            (Shutdown, Some(500), false, false),
            (Shutdown, Some(429), false, false),
            (Shutdown, Some(400), false, false),
            (Shutdown, Some(409), false, false),
            (Restore, None, true, false),
            (Restore, Some(504), false, false),
        ];
        for (op, status, unanswered, expected) in table {
            assert_eq!(
                stop_may_have_applied(op, status, unanswered),
                expected,
                "{op:?} {status:?} unanswered={unanswered}"
            );
        }
    }

    #[test]
    fn which_restart_failures_mean_it_was_not_done() {
        for (status, refused) in [
            (Some(429), true),
            (Some(500), true),
            (Some(503), true),
            (Some(502), false),
            (Some(504), false),
            (Some(400), false),
            (None, false),
        ] {
            assert_eq!(restart_refused(status), refused, "{status:?}");
        }
    }

    #[test]
    fn no_motion_is_thirty_first_polls_and_never_under_five_seconds() {
        assert_eq!(
            no_motion_after(Duration::from_secs(1)),
            Duration::from_secs(30)
        );
        assert_eq!(
            no_motion_after(Duration::from_millis(50)),
            Duration::from_secs(5)
        );
    }
}
