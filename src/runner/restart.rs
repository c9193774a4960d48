//! Whose effect is that job? The judgement behind "each Job at most once".
//!
//! A Job restart is not state-setting: sending it twice runs the job twice. When a restart's
//! outcome is unknown (its answer was lost, the process died, it was refused), the step looks
//! for its effect before anything is sent again: a job started by this identity, with the same
//! command, submitted since the attempt was recorded. On a real deployment that evidence is
//! not unique: two Jobs of one project often run the same command (a nightly and its manual
//! re-run), so the restart of one leaves exactly the traces a restart of the other would. So:
//!
//! - An effect is claimed once. A job already recorded as the effect of any restart step (of
//!   any cycle) is never the effect of another, and a job that is itself the original of a step
//!   (one a shutdown stopped) is never an effect.
//! - Restarts that could leave the same traces (same project, same command) are sent and
//!   resolved one at a time within a run ([`RestartBook::serialize`]): while one step looks,
//!   no other restart of the same traces is in flight, so every job dmm created meanwhile is
//!   already claimed in the journal.
//! - Evidence tied to the original wins: a candidate that says which job it restarts
//!   (`restartOf`, where the API shows it) is this step's effect if it names this job, and is
//!   ruled out if it names another.
//! - Otherwise one candidate is taken only when no other step of the same traces has an
//!   unknown outcome; with rivals, or with several candidates, the step says so and sends
//!   nothing: guessing could credit a job with another's restart and leave it never restarted,
//!   or run one twice.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OwnedMutexGuard;

use crate::domino::RestartCandidate;
use crate::journal::{Journal, JournalError, JournalRead, Operation, StepKey, StepPhase};
use crate::snapshot::Entry;

/// What a look for a restart's effect concluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RestartSearch {
    /// This job is the restart's effect.
    Found { id: String, evidence: &'static str },
    /// No job can be this restart's effect: it did not run.
    NotFound,
    /// Jobs that could be this restart's effect, but that could as well be another's.
    Ambiguous(Vec<String>),
}

/// Judges the candidates a look found. `claimed`: jobs recorded as the effect of a restart
/// step; `rivals`: other steps of the same project and command whose outcome is unknown.
pub(crate) fn judge(
    original: &str,
    candidates: &[RestartCandidate],
    claimed: &HashSet<String>,
    rivals: usize,
) -> RestartSearch {
    let open: Vec<&RestartCandidate> = candidates
        .iter()
        .filter(|c| !claimed.contains(&c.id))
        .collect();
    if let Some(own) = open
        .iter()
        .find(|c| c.restart_of.as_deref() == Some(original))
    {
        return RestartSearch::Found {
            id: own.id.clone(),
            evidence: "it says it restarts this job",
        };
    }
    let untied: Vec<&RestartCandidate> = open
        .into_iter()
        .filter(|c| c.restart_of.is_none())
        .collect();
    match untied.as_slice() {
        [] => RestartSearch::NotFound,
        [only] if rivals == 0 => RestartSearch::Found {
            id: only.id.clone(),
            evidence: "the only job of this command started by this identity since the attempt, and no other restart of it is unresolved",
        },
        several => RestartSearch::Ambiguous(several.iter().map(|c| c.id.clone()).collect()),
    }
}

/// Why a restart step that cannot tell whether its restart ran ends `Failed`.
pub(crate) fn undecidable(attempt: u32, candidates: &[String], rivals: usize) -> String {
    let rivals = if rivals > 0 {
        format!(" ({rivals} other restart(s) of this command are unresolved)")
    } else {
        String::new()
    };
    format!(
        "cannot tell whether restart attempt {attempt} ran: job(s) {} of the same command were started by this identity since, and could be another job's restart{rivals}; not sent again, so that no job runs twice: look at the project's jobs",
        candidates.join(", ")
    )
}

/// What the restarts of one run share: the journal (which effects are claimed, which restarts
/// are unresolved) and one lock per set of traces.
pub(crate) struct RestartBook {
    journal: Arc<Journal>,
    cycle: u32,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl RestartBook {
    pub(crate) fn new(journal: Arc<Journal>, cycle: u32) -> RestartBook {
        RestartBook {
            journal,
            cycle,
            locks: Mutex::new(HashMap::new()),
        }
    }

    /// Held from a restart's intent to its recorded outcome, and while its effect is looked
    /// for: restarts that would leave the same traces take turns.
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

    /// The jobs already claimed as effects, and how many other steps with the same traces as
    /// `key`'s have an unknown outcome.
    pub(crate) fn claims_and_rivals(
        &self,
        key: &StepKey,
        entry: &Entry,
    ) -> Result<(HashSet<String>, usize), JournalError> {
        let steps = self.journal.steps(Some(Operation::Restore))?;
        let mine = traces(entry);
        // Effects claimed by any restart step, and every job that is itself the original of a
        // step (stopped by a shutdown, or to be restarted): an original is never an effect.
        let originals = self.journal.steps(Some(Operation::Shutdown))?;
        let claimed = steps
            .iter()
            .filter(|s| s.key.kind == key.kind)
            .filter_map(|s| s.effect.clone())
            .chain(
                steps
                    .iter()
                    .chain(originals.iter())
                    .filter(|s| s.key.kind == key.kind)
                    .map(|s| s.key.execution.clone()),
            )
            .collect();
        let rivals = steps
            .iter()
            .filter(|s| s.key != *key && s.key.kind == key.kind && s.cycle >= self.cycle)
            .filter(|s| s.effect.is_none() && s.attempts >= 1)
            .filter(|s| matches!(s.phase, StepPhase::Requested | StepPhase::Failed(_)))
            .filter(|s| s.detail.as_ref().is_some_and(|d| traces_of(d) == mine))
            .count();
        Ok((claimed, rivals))
    }
}

/// What a restart's effect shares with another's: the project and the command.
fn traces(entry: &Entry) -> String {
    traces_of(&entry.id)
}

fn traces_of(id: &serde_json::Value) -> String {
    let field = |name: &str| id.get(name).and_then(|v| v.as_str()).unwrap_or_default();
    format!("{}\u{0}{}", field("projectId"), field("command"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: &str, restart_of: Option<&str>) -> RestartCandidate {
        RestartCandidate {
            id: id.into(),
            restart_of: restart_of.map(str::to_owned),
        }
    }

    fn set(ids: &[&str]) -> HashSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_claimed_job_is_never_anothers_effect() {
        // B's restart created b2; A's restart was refused: A finds nothing of its own.
        let found = judge("a", &[c("b2", None)], &set(&["b2"]), 0);
        assert_eq!(found, RestartSearch::NotFound);
    }

    #[test]
    fn evidence_tied_to_the_original_decides() {
        let cands = [c("b2", Some("b")), c("a2", Some("a"))];
        assert!(matches!(
            judge("a", &cands, &set(&[]), 3),
            RestartSearch::Found { id, .. } if id == "a2"
        ));
        assert_eq!(
            judge("a", &[c("b2", Some("b"))], &set(&[]), 0),
            RestartSearch::NotFound,
            "a job that restarts another is not this one's"
        );
    }

    #[test]
    fn one_untied_candidate_is_taken_only_without_rivals() {
        assert!(matches!(
            judge("a", &[c("x", None)], &set(&[]), 0),
            RestartSearch::Found { id, .. } if id == "x"
        ));
        assert_eq!(
            judge("a", &[c("x", None)], &set(&[]), 1),
            RestartSearch::Ambiguous(vec!["x".into()]),
            "another unresolved restart of the same command may have made it"
        );
        assert_eq!(
            judge("a", &[c("x", None), c("y", None)], &set(&[]), 0),
            RestartSearch::Ambiguous(vec!["x".into(), "y".into()])
        );
    }

    #[test]
    fn nothing_found_is_not_found() {
        assert_eq!(judge("a", &[], &set(&[]), 5), RestartSearch::NotFound);
    }
}
