//! Whose effect is that job? The judgement behind "each Job at most once".
//!
//! A Job restart is not state-setting: sending it twice runs the job twice. When a restart's
//! outcome is unknown (its answer was lost, the process died, it was refused), the step looks
//! for its effect before anything is sent again: a job started by this identity, with the same
//! command, submitted after the attempt was recorded (by the server's stamp, moved to our clock
//! with what its `Date` headers showed of its clock). On a real deployment that evidence is not
//! unique: two Jobs of one project often run the same command (a nightly and its manual
//! re-run), so the restart of one leaves exactly the traces a restart of the other would; and a
//! user may restart a Job from the UI during the window. So:
//!
//! - An effect is claimed once. A job already recorded as the effect of any restart step (of
//!   any cycle) is never the effect of another, and a job that is itself the original of a step
//!   (one a shutdown stopped) is never an effect.
//! - Restarts that could leave the same traces (same project, same command) take turns within
//!   a run ([`RestartBook::serialize`]): a step holds its turn from its intent until its effect
//!   is found or it is decided, so while one step looks, no other restart of the same traces
//!   is in flight, and every job dmm created meanwhile is already claimed in the journal.
//! - Evidence tied to the original wins: a candidate that says which job it restarts
//!   (`restartOf`, where the API shows it) is this step's effect if it names this job, and is
//!   ruled out if it names another.
//! - Otherwise one candidate is taken when no other step of the same traces has an unknown
//!   outcome; when as many candidates as unresolved steps were found, every one of them ran,
//!   and they are credited together, in order; with fewer (or more), which ran cannot be told:
//!   the step says so, a person must look, and nothing is sent: guessing could leave one job
//!   never restarted, or run one twice.
//! - Before a restart is sent, jobs of the same traces submitted since the original was
//!   stopped, by anyone, that no step claims, are someone else's restarts (a user's, from the
//!   UI). Whose restart each is shows only when they are at least as many as the Jobs of these
//!   traces still to restart: then every one of those was restarted, credited in order, and
//!   nothing is sent. With fewer, one of several Jobs was restarted and which cannot be told;
//!   nor can it while a restart of these traces has an unknown outcome, or when such a job,
//!   by this identity, was submitted after dmm itself began restarting these traces (it may be
//!   a copy of dmm's own request). Then the step says so and sends nothing: sending could run
//!   a Job twice, and a person can tell from the project's jobs.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tokio::sync::OwnedMutexGuard;

use super::record::StepDetail;
use crate::domino::RestartCandidate;
use crate::journal::{
    Journal, JournalError, JournalRead, Operation, StepKey, StepPhase, StepRecord,
};
use crate::snapshot::{Entry, Kind};

/// What a look for a restart's effect concluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RestartSearch {
    /// This job is the restart's effect.
    Found { id: String, evidence: String },
    /// No job can be this restart's effect: it did not run.
    NotFound,
    /// Jobs that could be this restart's effect, but that could as well be another's.
    Ambiguous(Vec<String>),
}

/// What the journal says around one restart step, for judging what a look found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Claims {
    /// Jobs recorded as the effect of a restart step, or that are themselves the original of a
    /// step: never anyone's effect now.
    pub claimed: HashSet<String>,
    /// When the current attempt of each other restart step of the same traces whose outcome is
    /// unknown was recorded (our clock, ms since the epoch).
    pub rivals: Vec<i64>,
    /// When the original's stop was recorded (our clock), where the journal has it.
    pub stopped_at_ms: Option<i64>,
    /// Every Job of the same traces the shutdown of this cycle had a step for, this one
    /// included, with its title: whose runs someone else's jobs could be.
    pub group: Vec<GroupMember>,
    /// When dmm first recorded a restart attempt of these traces in this cycle (our clock): a
    /// job by this identity submitted since may be a copy of dmm's own request.
    pub own_attempts_since: Option<i64>,
}

/// How far the clock that stamps jobs (`submissionTime`) may be from the clock of the `Date`
/// headers the client measures the server's by: the gateway that answers and the backend that
/// stamps run on different machines. A job stamped this close before a moment of ours cannot be
/// told to be before or after it, so it is never evidence either way: looks ask from this much
/// earlier, and a job in the margin makes the look undecided rather than guess.
pub(crate) const STAMP_MARGIN_MS: i64 = 60_000;

/// A Job of the same traces as a restart step's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct GroupMember {
    pub execution: String,
    /// As listed; a restart keeps its original's title.
    pub title: Option<String>,
    /// When the shutdown planned its step (our clock): a Job planned after this one's stop
    /// was found running since (swept), and may be someone's run of this one.
    pub planned_at_ms: Option<i64>,
}

/// Judges the candidates a look found for the step restarting `original`, whose current
/// attempt was recorded at `attempt_ms`.
pub(crate) fn judge(
    original: &str,
    attempt_ms: i64,
    candidates: &[RestartCandidate],
    claims: &Claims,
) -> RestartSearch {
    // From the earliest unresolved attempt of the group: a rival's job may predate ours.
    let since = claims
        .rivals
        .iter()
        .copied()
        .chain([attempt_ms])
        .min()
        .unwrap_or(attempt_ms);
    let open: Vec<&RestartCandidate> = candidates
        .iter()
        .filter(|c| {
            c.by_me
                && c.submitted_ms >= since.saturating_sub(STAMP_MARGIN_MS)
                && !claims.claimed.contains(&c.id)
        })
        .collect();
    if let Some(own) = open
        .iter()
        .find(|c| c.restart_of.as_deref() == Some(original) && c.submitted_ms >= since)
    {
        return RestartSearch::Found {
            id: own.id.clone(),
            evidence: "it says it restarts this job".into(),
        };
    }
    let mut untied: Vec<&RestartCandidate> = open
        .into_iter()
        .filter(|c| c.restart_of.is_none())
        .collect();
    untied.sort_by(|a, b| a.submitted_ms.cmp(&b.submitted_ms).then(a.id.cmp(&b.id)));
    // A job stamped within the margin before the attempt may be its effect under a skewed
    // clock, or a job of the same identity's from just before: either guess could run a job
    // twice or credit the wrong one.
    if untied.iter().any(|c| c.submitted_ms < since) {
        return RestartSearch::Ambiguous(untied.iter().map(|c| c.id.clone()).collect());
    }
    let rivals = claims.rivals.len();
    match untied.len() {
        0 => RestartSearch::NotFound,
        1 if rivals == 0 => RestartSearch::Found {
            id: untied[0].id.clone(),
            evidence: "the only job of this command started by this identity since the attempt, and no other restart of it is unresolved".into(),
        },
        n if n == rivals + 1 => {
            // Every unresolved restart of these traces ran, once each: credited in the order
            // they were recorded, to the jobs in the order they were submitted.
            let place = claims.rivals.iter().filter(|&&r| r < attempt_ms).count();
            RestartSearch::Found {
                id: untied[place].id.clone(),
                evidence: format!(
                    "{n} restarts of this command had an unknown outcome and {n} jobs of it were started by this identity since: every one ran, credited in order"
                ),
            }
        }
        _ => RestartSearch::Ambiguous(untied.iter().map(|c| c.id.clone()).collect()),
    }
}

/// What the jobs of the same traces, looked at before a restart is sent, decide.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BeforeRestart<'c> {
    /// Nobody restarted it: send.
    Send,
    /// Someone else restarted it during the window: send nothing.
    RestartedBy(&'c RestartCandidate),
    /// Jobs of these traces were started by someone since the stop, but whether one is this
    /// Job's run cannot be told (the jobs found, and why): send nothing, a person must look.
    CannotTell(Vec<String>, Doubt),
}

/// Why a job found before a restart is sent cannot be told to be the Job's run or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Doubt {
    /// Another restart of the command has an unknown outcome: its job would look the same.
    RivalUnresolved,
    /// By dmm's identity, since dmm began restarting the command: maybe a copy of its own.
    MaybeDmms,
    /// Stamped within the clock margin of the stop: before or after it cannot be told.
    NearTheStop,
    /// Titled otherwise than this Job (and than any other of the command): a run of another
    /// job of the command, or this one's restart retitled.
    OtherTitle,
    /// Another Job of the command has the same title: it could be that one's run.
    AlikeJobs,
}

impl Doubt {
    fn why(self) -> &'static str {
        match self {
            Doubt::RivalUnresolved => {
                "another restart of this command has an unknown outcome, and its job would look the same"
            }
            Doubt::MaybeDmms => {
                "started by dmm's identity after dmm began restarting this command, it may be a copy of dmm's own restart"
            }
            Doubt::NearTheStop => {
                "stamped within a minute of the stop, it cannot be told to be after it (the stamping clock may differ)"
            }
            Doubt::OtherTitle => {
                "titled otherwise than this Job, it may be a run of another job of the command, or this one's restart retitled"
            }
            Doubt::AlikeJobs => {
                "another Job of this command has the same title, and it could be that one's run"
            }
        }
    }
}

/// Before a restart of `original` is sent: did someone else restart it during the window (a
/// user, from the UI)? See the module's documentation for the rules.
pub(crate) fn before_restart<'c>(
    original: &str,
    candidates: &'c [RestartCandidate],
    claims: &Claims,
) -> BeforeRestart<'c> {
    let Some(stopped) = claims.stopped_at_ms else {
        return BeforeRestart::Send;
    };
    // Another Job of these traces the shutdown stopped is an original, but one submitted since
    // this one was stopped is someone's run of this command too (a user stopped and restarted
    // it while dmm's stop was on its way, and the shutdown then swept and stopped that run).
    let late_original = |c: &RestartCandidate| {
        c.id != original
            && claims
                .group
                .iter()
                .any(|m| m.execution == c.id && m.planned_at_ms.is_some_and(|at| at > stopped))
    };
    let open: Vec<&RestartCandidate> = candidates
        .iter()
        .filter(|c| {
            c.submitted_ms >= stopped.saturating_sub(STAMP_MARGIN_MS)
                && (!claims.claimed.contains(&c.id) || late_original(c))
        })
        .collect();
    if let Some(tied) = open
        .iter()
        .find(|c| c.restart_of.as_deref() == Some(original))
    {
        return BeforeRestart::RestartedBy(tied);
    }
    let title_of = |execution: &str| {
        claims
            .group
            .iter()
            .find(|m| m.execution == execution)
            .and_then(|m| m.title.as_deref())
    };
    let mine = title_of(original);
    // A job titled as another Job of these traces, and not as this one, is a run of that one
    // (a restart keeps its original's title): never this one's restart.
    let anothers = |c: &RestartCandidate| {
        c.title.as_deref().is_some_and(|t| {
            Some(t) != mine
                && claims
                    .group
                    .iter()
                    .any(|m| m.execution != original && m.title.as_deref() == Some(t))
        })
    };
    let mut untied: Vec<&RestartCandidate> = open
        .into_iter()
        .filter(|c| c.restart_of.is_none() && !anothers(c))
        .collect();
    if untied.is_empty() {
        return BeforeRestart::Send;
    }
    untied.sort_by(|a, b| a.submitted_ms.cmp(&b.submitted_ms).then(a.id.cmp(&b.id)));
    let ids = || untied.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    let doubt = doubt_of(&untied, claims, stopped, mine);
    if let Some((jobs, doubt)) = doubt {
        return BeforeRestart::CannotTell(jobs, doubt);
    }
    // The Jobs of these traces these jobs could be runs of: this one, and every other whose
    // title does not tell it apart, whether it still waits or was restarted already (a user may
    // run a restarted Job again). Only when that is this Job alone is the job its restart.
    let alike = claims
        .group
        .iter()
        .filter(|m| m.execution != original && !untied.iter().any(|c| c.id == m.execution))
        .filter(|m| m.title.is_none() || mine.is_none() || m.title.as_deref() == mine)
        .count();
    if alike > 0 {
        return BeforeRestart::CannotTell(ids(), Doubt::AlikeJobs);
    }
    BeforeRestart::RestartedBy(untied[0])
}

/// Why the untied jobs found before a restart cannot be told to be the Job's run or not (the
/// jobs that raise the doubt), if they cannot: another restart's outcome unknown, maybe dmm's
/// own, stamped near the stop, or titled otherwise. `stopped`: when the Job's stop was recorded;
/// `mine`: its title.
fn doubt_of(
    untied: &[&RestartCandidate],
    claims: &Claims,
    stopped: i64,
    mine: Option<&str>,
) -> Option<(Vec<String>, Doubt)> {
    let ids = || untied.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    let maybe_dmms_own = |c: &RestartCandidate| {
        c.by_me
            && claims
                .own_attempts_since
                .is_some_and(|t| c.submitted_ms >= t.saturating_sub(STAMP_MARGIN_MS))
    };
    let in_margin = |c: &RestartCandidate| c.submitted_ms < stopped;
    // A restart keeps its original's title: one titled otherwise is not known to be this Job's.
    let other_title =
        |c: &RestartCandidate| matches!((c.title.as_deref(), mine), (Some(t), Some(m)) if t != m);
    // The jobs a doubt names are the ones that raise it.
    let raising = |raises: &dyn Fn(&RestartCandidate) -> bool| {
        untied
            .iter()
            .filter(|c| raises(c))
            .map(|c| c.id.clone())
            .collect::<Vec<_>>()
    };
    if !claims.rivals.is_empty() {
        Some((ids(), Doubt::RivalUnresolved))
    } else if untied.iter().any(|c| maybe_dmms_own(c)) {
        Some((raising(&maybe_dmms_own), Doubt::MaybeDmms))
    } else if untied.iter().any(|c| in_margin(c)) {
        Some((raising(&in_margin), Doubt::NearTheStop))
    } else if untied.iter().any(|c| other_title(c)) {
        Some((raising(&other_title), Doubt::OtherTitle))
    } else {
        None
    }
}

/// Why a restart step that cannot tell whether someone else restarted its Job ends `Failed`.
pub(crate) fn cannot_tell_whose(jobs: &[String], doubt: Doubt) -> String {
    format!(
        "cannot tell whether someone else restarted this job: job(s) {} of the same command were found since its stop; {}. Not sent, so that no job runs twice: look at the project's jobs, and restart by hand what did not run",
        jobs.join(", "),
        doubt.why()
    )
}

/// Why a restart step that cannot tell whether its restart ran ends `Failed`.
/// `near_attempt`: a job was stamped within the clock margin before the attempt.
pub(crate) fn undecidable(
    attempt: u32,
    candidates: &[String],
    rivals: usize,
    near_attempt: bool,
) -> String {
    let why = if near_attempt {
        "stamped within a minute of the attempt, before or after it cannot be told (the stamping clock may differ)".to_owned()
    } else if rivals > 0 {
        format!(
            "{rivals} other restart(s) of this command are unresolved, and their jobs look the same"
        )
    } else {
        "more than one could be this restart's".to_owned()
    };
    format!(
        "cannot tell whether restart attempt {attempt} ran: job(s) {} of the same command were started by this identity around it; {why}. Not sent again, so that no job runs twice: look at the project's jobs, and restart by hand what did not run",
        candidates.join(", ")
    )
}

/// What the restarts of one run share: the journal (which effects are claimed, which restarts
/// are unresolved) and one lock per set of traces.
pub(crate) struct RestartBook {
    journal: Arc<Journal>,
    cycle: u32,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The shutdown's steps of the kind restarted, read once: a restore writes none, and each
    /// look would otherwise decode them all again.
    originals: OnceLock<(Kind, Arc<Vec<StepRecord>>)>,
}

impl RestartBook {
    pub(crate) fn new(journal: Arc<Journal>, cycle: u32) -> RestartBook {
        RestartBook {
            journal,
            cycle,
            locks: Mutex::new(HashMap::new()),
            originals: OnceLock::new(),
        }
    }

    /// A step's turn among the restarts that would leave the same traces: held from its
    /// intent until its effect is found or it is decided.
    pub(crate) async fn serialize(&self, entry: &Entry) -> OwnedMutexGuard<()> {
        let lock = self
            .locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(traces(entry))
            .or_default()
            .clone();
        lock.lock_owned().await
    }

    /// What the journal says around `key`'s step (see [`Claims`]), read off the async
    /// runtime: the journal's Jobs are decoded for each look, and a runtime busy with that
    /// would let other requests' timeouts fire while their answers wait unread.
    pub(crate) async fn claims(
        self: &Arc<Self>,
        key: &StepKey,
        entry: &Entry,
    ) -> Result<Claims, JournalError> {
        let (book, key, mine) = (self.clone(), key.clone(), traces(entry));
        tokio::task::spawn_blocking(move || book.claims_now(&key, &mine))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }

    /// [`RestartBook::claims`], on this thread; `mine`: the step's traces. Only steps of the
    /// step's kind are read: a restore's other steps (thousands) say nothing of a Job's.
    fn claims_now(&self, key: &StepKey, mine: &str) -> Result<Claims, JournalError> {
        let steps = self.journal.steps_of_kind(Operation::Restore, key.kind)?;
        // Effects claimed by any restart step, and every job that is itself the original of a
        // step (stopped by a shutdown, or to be restarted): an original is never an effect.
        let originals = match self.originals.get() {
            Some((kind, originals)) if *kind == key.kind => originals.clone(),
            _ => {
                let read = Arc::new(self.journal.steps_of_kind(Operation::Shutdown, key.kind)?);
                let _ = self.originals.set((key.kind, read.clone()));
                read
            }
        };
        let claimed = steps
            .iter()
            .filter_map(|s| s.effect.clone())
            .chain(
                steps
                    .iter()
                    .chain(originals.iter())
                    .map(|s| s.key.execution.clone()),
            )
            .collect();
        let rivals = steps
            .iter()
            .filter(|s| s.key != *key && s.cycle >= self.cycle)
            .filter(|s| s.effect.is_none() && s.attempts >= 1)
            .filter(|s| matches!(s.phase, StepPhase::Requested | StepPhase::Failed(_)))
            .filter(|s| s.detail.as_ref().is_some_and(|d| traces_of(d) == mine))
            .map(|s| s.requested_at.as_deref().and_then(rfc3339_ms).unwrap_or(0))
            .collect();
        let stopped_at_ms = originals
            .iter()
            .filter(|s| s.key.execution == key.execution)
            .filter(|s| s.cycle >= self.cycle)
            .find_map(|s| s.requested_at.as_deref().and_then(rfc3339_ms));
        let same_traces = || {
            steps
                .iter()
                .filter(|s| s.cycle >= self.cycle)
                .filter(|s| s.detail.as_ref().is_some_and(|d| traces_of(d) == mine))
        };
        let group = originals
            .iter()
            .filter(|s| s.cycle >= self.cycle)
            .filter_map(|s| Some((s, StepDetail::read(s.detail.as_ref())?)))
            .filter(|(_, d)| traces_of(&d.identity_value()) == mine)
            .map(|(s, d)| GroupMember {
                execution: s.key.execution.clone(),
                title: d.text("title").map(str::to_owned),
                planned_at_ms: rfc3339_ms(&s.created_at),
            })
            .collect();
        let own_attempts_since = same_traces()
            .filter(|s| s.attempts >= 1)
            .filter_map(|s| s.requested_at.as_deref().and_then(rfc3339_ms))
            .min();
        Ok(Claims {
            claimed,
            rivals,
            stopped_at_ms,
            group,
            own_attempts_since,
        })
    }
}

/// What a restart's effect shares with another's: the project and the command.
fn traces(entry: &Entry) -> String {
    traces_of(&entry.id)
}

/// The traces of a step's detail (its project and command), as [`traces`] gives an entry's.
pub(crate) fn traces_of(id: &serde_json::Value) -> String {
    let detail = StepDetail::read(Some(id)).unwrap_or_default();
    let field = |name: &str| detail.text(name).unwrap_or_default().to_owned();
    format!("{}\u{0}{}", field("projectId"), field("command"))
}

/// An RFC 3339 time as milliseconds since the epoch.
pub(crate) fn rfc3339_ms(text: &str) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_000_000;

    /// A job of this command: by dmm's identity or a user's, submitted at `at`.
    fn c(id: &str, restart_of: Option<&str>, at: i64, by_me: bool) -> RestartCandidate {
        RestartCandidate {
            id: id.into(),
            restart_of: restart_of.map(str::to_owned),
            submitted_ms: at,
            by_me,
            started_by: if by_me { "dmm" } else { "alice" }.into(),
            title: None,
            completed: false,
        }
    }

    fn mine(id: &str, at: i64) -> RestartCandidate {
        c(id, None, at, true)
    }

    fn claims(claimed: &[&str], rivals: &[i64]) -> Claims {
        Claims {
            claimed: claimed.iter().map(|s| s.to_string()).collect(),
            rivals: rivals.to_vec(),
            stopped_at_ms: Some(T - 60_000),
            group: Vec::new(),
            own_attempts_since: None,
        }
    }

    fn found(s: &RestartSearch) -> Option<&str> {
        match s {
            RestartSearch::Found { id, .. } => Some(id),
            _ => None,
        }
    }

    #[test]
    fn a_claimed_job_is_never_anothers_effect() {
        // B's restart created b2; A's restart was refused: A finds nothing of its own.
        let found = judge("a", T, &[mine("b2", T + 5)], &claims(&["b2"], &[]));
        assert_eq!(found, RestartSearch::NotFound);
    }

    #[test]
    fn evidence_tied_to_the_original_decides() {
        let cands = [
            c("b2", Some("b"), T + 1, true),
            c("a2", Some("a"), T + 2, true),
        ];
        assert_eq!(
            found(&judge("a", T, &cands, &claims(&[], &[T, T, T]))),
            Some("a2")
        );
        assert_eq!(
            judge(
                "a",
                T,
                &[c("b2", Some("b"), T + 1, true)],
                &claims(&[], &[])
            ),
            RestartSearch::NotFound,
            "a job that restarts another is not this one's"
        );
    }

    #[test]
    fn one_untied_candidate_is_taken_only_without_rivals() {
        assert_eq!(
            found(&judge("a", T, &[mine("x", T + 1)], &claims(&[], &[]))),
            Some("x")
        );
        assert_eq!(
            judge(
                "a",
                T,
                &[mine("x", T + 1), mine("y", T + 2)],
                &claims(&[], &[])
            ),
            RestartSearch::Ambiguous(vec!["x".into(), "y".into()])
        );
    }

    /// Two restarts of one command whose answers were both lost: two jobs of it by this
    /// identity since the first attempt. Each ran: credited together, in order, from either
    /// step's look.
    #[test]
    fn as_many_candidates_as_unresolved_restarts_are_credited_together() {
        let cands = [mine("a2", T + 10), mine("b2", T + 2_010)];
        let a = judge("a", T, &cands, &claims(&[], &[T + 2_000]));
        let b = judge("b", T + 2_000, &cands, &claims(&[], &[T]));
        assert_eq!((found(&a), found(&b)), (Some("a2"), Some("b2")));
        // Once A claimed its job, B's look is a plain one.
        let b = judge("b", T + 2_000, &cands, &claims(&["a2"], &[]));
        assert_eq!(found(&b), Some("b2"));
    }

    /// One of two unresolved restarts ran: which one cannot be told.
    #[test]
    fn fewer_candidates_than_unresolved_restarts_cannot_be_told() {
        let cands = [mine("x", T + 10)];
        assert_eq!(
            judge("a", T, &cands, &claims(&[], &[T + 5])),
            RestartSearch::Ambiguous(vec!["x".into()])
        );
    }

    /// A user's restart, by the same identity, submitted before dmm's attempt was recorded, is
    /// never dmm's effect; one submitted after by someone else is not either.
    #[test]
    fn only_a_job_by_this_identity_after_the_attempt_is_its_effect() {
        // 7 s before: within the clock margin, so not taken for dmm's either way.
        let before = mine("u", T - 7_000);
        assert_eq!(
            judge("a", T, &[before], &claims(&[], &[])),
            RestartSearch::Ambiguous(vec!["u".into()])
        );
        let theirs = c("u", None, T + 5, false);
        assert_eq!(
            judge("a", T, &[theirs], &claims(&[], &[])),
            RestartSearch::NotFound
        );
    }

    #[test]
    fn nothing_found_is_not_found() {
        assert_eq!(
            judge("a", T, &[], &claims(&[], &[T; 5])),
            RestartSearch::NotFound
        );
    }

    fn whose<'c>(b: &BeforeRestart<'c>) -> Option<&'c str> {
        match b {
            BeforeRestart::RestartedBy(c) => Some(c.id.as_str()),
            _ => None,
        }
    }

    #[test]
    fn a_restart_made_by_someone_else_since_the_stop_is_found_before_sending() {
        let user = c("u1", None, T - 30_000, false);
        let cl = claims(&[], &[]);
        assert_eq!(
            whose(&before_restart("j", std::slice::from_ref(&user), &cl)),
            Some("u1")
        );
        // Before the stop: not a restart of it.
        let early = c("u0", None, T - 60_000 - STAMP_MARGIN_MS - 1, false);
        assert_eq!(before_restart("j", &[early], &cl), BeforeRestart::Send);
        // Claimed (another step's effect), or tied to another job: not it.
        assert_eq!(
            before_restart("j", std::slice::from_ref(&user), &claims(&["u1"], &[])),
            BeforeRestart::Send
        );
        let other = c("u2", Some("k"), T, false);
        assert_eq!(before_restart("j", &[other], &cl), BeforeRestart::Send);
        // While another restart of the command is unresolved, its job would look the same.
        assert_eq!(
            before_restart("j", std::slice::from_ref(&user), &claims(&[], &[T])),
            BeforeRestart::CannotTell(vec!["u1".into()], Doubt::RivalUnresolved)
        );
    }

    /// Jobs of one command: (execution, title).
    fn group_of(members: &[(&str, Option<&str>)]) -> Claims {
        Claims {
            group: members
                .iter()
                .map(|(m, t)| GroupMember {
                    execution: m.to_string(),
                    title: t.map(str::to_owned),
                    planned_at_ms: Some(T),
                })
                .collect(),
            ..claims(&[], &[])
        }
    }

    fn titled(id: &str, title: &str, at: i64, by_me: bool) -> RestartCandidate {
        RestartCandidate {
            title: Some(title.into()),
            ..c(id, None, at, by_me)
        }
    }

    /// Two Jobs of one command and title, and a user restarted one of them: which one cannot
    /// be told, so neither step takes the user's job for its own, nor sends. The same when the
    /// other was already restarted by dmm (the user may have run it again).
    #[test]
    fn one_users_restart_among_two_jobs_alike_cannot_be_told() {
        let user = [titled("u1", "train", T - 30_000, false)];
        let both = group_of(&[("a", Some("train")), ("b", Some("train"))]);
        for original in ["a", "b"] {
            assert_eq!(
                before_restart(original, &user, &both),
                BeforeRestart::CannotTell(vec!["u1".into()], Doubt::AlikeJobs),
                "{original}"
            );
        }
        // Two jobs for two Jobs alike: one user may have run the same one twice.
        let twice = [
            titled("u1", "train", T - 30_000, false),
            titled("u2", "train", T - 20_000, false),
        ];
        assert!(matches!(
            before_restart("b", &twice, &both),
            BeforeRestart::CannotTell(_, Doubt::AlikeJobs)
        ));
    }

    /// Titles tell Jobs of one command apart: a job titled as another Job is that one's run.
    #[test]
    fn a_job_titled_as_another_job_of_the_command_is_that_ones() {
        let two = group_of(&[("a", Some("train-A")), ("b", Some("train-B"))]);
        let users = [
            titled("u1", "train-A", T - 30_000, false),
            titled("u2", "train-A", T - 20_000, false),
        ];
        assert_eq!(before_restart("b", &users, &two), BeforeRestart::Send);
        // For A the jobs are not told apart from another Job's: A alone has that title.
        assert_eq!(
            whose(&before_restart("a", &users, &two)),
            Some("u1"),
            "the earliest of them"
        );
    }

    /// A job by this identity submitted after dmm began restarting the command may be a copy
    /// of dmm's own request (a duplicated or late one): never someone else's restart.
    #[test]
    fn a_job_by_this_identity_since_dmms_own_restarts_is_not_someone_elses() {
        let copy = [c("a3", None, T + 2_000, true)];
        let cl = Claims {
            own_attempts_since: Some(T),
            ..group_of(&[("b", None)])
        };
        assert_eq!(
            before_restart("b", &copy, &cl),
            BeforeRestart::CannotTell(vec!["a3".into()], Doubt::MaybeDmms)
        );
        // The key's owner restarting it from the UI well before any of dmm's restarts: theirs.
        let owners = [c("o1", None, T - STAMP_MARGIN_MS - 1, true)];
        let cl = Claims {
            own_attempts_since: Some(T),
            stopped_at_ms: Some(T - 200_000),
            ..group_of(&[("b", None)])
        };
        assert_eq!(whose(&before_restart("b", &owners, &cl)), Some("o1"));
    }

    /// A job stamped within the clock margin of the stop, or of an attempt, cannot be told to
    /// be before or after it: it decides nothing, and no restart is sent over it.
    #[test]
    fn a_job_stamped_within_the_clock_margin_decides_nothing() {
        let cl = claims(&[], &[]);
        let stopped = cl.stopped_at_ms.unwrap();
        let near_stop = [c("u", None, stopped - 2_000, false)];
        assert_eq!(
            before_restart("j", &near_stop, &cl),
            BeforeRestart::CannotTell(vec!["u".into()], Doubt::NearTheStop)
        );
        // dmm's own restart, whose stamp a skewed clock put 2 s before the attempt.
        let skewed = [mine("x", T - 2_000)];
        assert_eq!(
            judge("a", T, &skewed, &claims(&[], &[])),
            RestartSearch::Ambiguous(vec!["x".into()])
        );
        // Well before the margin: not this attempt's.
        let earlier = [mine("x", T - STAMP_MARGIN_MS - 1)];
        assert_eq!(
            judge("a", T, &earlier, &claims(&[], &[])),
            RestartSearch::NotFound
        );
    }

    /// A user stopped and restarted C while dmm's stop of it was on its way; the shutdown then
    /// swept that run, C2, and stopped it too. C2 is C's run since its stop: C is not restarted
    /// (C2's own step restarts it), or the command would run twice. A swept Job of another title
    /// (a schedule's run) is its own Job.
    #[test]
    fn a_swept_run_of_the_job_since_its_stop_is_its_restart() {
        let mut cl = group_of(&[("c", Some("etl")), ("c2", Some("etl"))]);
        cl.claimed = ["c".to_string(), "c2".to_string()].into();
        let swept = [titled("c2", "etl", T - 30_000, false)];
        assert_eq!(whose(&before_restart("c", &swept, &cl)), Some("c2"));
        let mut cl = group_of(&[("c", Some("etl")), ("l", Some("etl nightly"))]);
        cl.claimed = ["c".to_string(), "l".to_string()].into();
        let scheduled = [titled("l", "etl nightly", T - 30_000, false)];
        assert_eq!(before_restart("c", &scheduled, &cl), BeforeRestart::Send);
    }

    /// A job titled otherwise than the Job, and than every other Job of the command, is not
    /// known to be its run: a re-run of an old job of the command, or its restart retitled.
    #[test]
    fn a_job_of_another_title_is_not_taken_for_the_jobs_run() {
        let one = group_of(&[("c", Some("etl"))]);
        let rerun = [titled("o", "etl (old)", T - 30_000, false)];
        assert_eq!(
            before_restart("c", &rerun, &one),
            BeforeRestart::CannotTell(vec!["o".into()], Doubt::OtherTitle)
        );
        let same = [titled("r", "etl", T - 30_000, false)];
        assert_eq!(whose(&before_restart("c", &same, &one)), Some("r"));
        // The doubt names the job that raises it, not the Job's own restart beside it.
        let both = [
            titled("r", "etl", T - 30_000, false),
            titled("o", "etl (old)", T - 20_000, false),
        ];
        assert_eq!(
            before_restart("c", &both, &one),
            BeforeRestart::CannotTell(vec!["o".into()], Doubt::OtherTitle)
        );
    }
}
