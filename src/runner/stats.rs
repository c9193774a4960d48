//! [`RunStats`], the run's statistics, kept by the runner as its steps change: how many steps
//! of each kind stand in each phase, how many each kind has, and which steps are failing and
//! since when.
//! Every event a [`Reporter`](super::Reporter) hears comes with them, and the runner itself
//! says when a step has been failing too long ([`StuckStep`]): the frontends (progress, the
//! metrics file, webhooks) format what they are given and keep no copy of the run's state.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::window::PhaseCount;
use crate::journal::{StepPhase, StepRecord};
use crate::snapshot::Kind;

/// Steps per phase, per kind: the window's one counter ([`PhaseCount`]).
pub type PhaseCounts = BTreeMap<Kind, PhaseCount>;

/// A step that has been failing (an error recorded, not ended) for longer than allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StuckStep {
    pub kind: Kind,
    pub execution: String,
    pub name: String,
    /// Its last error.
    pub error: String,
    pub failing_for: Duration,
}

#[derive(Debug, Default)]
pub struct RunStats {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// The phase of every step this run has moved.
    phases: HashMap<(Kind, String), StepPhase>,
    /// Steps of each kind the run covers, as announced when the kind starts.
    totals: BTreeMap<Kind, usize>,
    /// Steps failing now: since when, their name, their last error.
    failing: HashMap<(Kind, String), (Instant, String, String)>,
    /// Steps already said to be stuck (once each).
    told: HashSet<(Kind, String)>,
}

impl RunStats {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Steps this run moved, per kind and the phase they are in now.
    pub fn counts(&self) -> PhaseCounts {
        let mut counts = PhaseCounts::new();
        for ((kind, _), phase) in &self.lock().phases {
            counts.entry(*kind).or_default().add(phase);
        }
        counts
    }

    /// Steps of each kind the run covers.
    pub fn totals(&self) -> BTreeMap<Kind, usize> {
        self.lock().totals.clone()
    }

    pub(crate) fn kind_started(&self, kind: Kind, total: usize) {
        self.lock().totals.insert(kind, total);
    }

    pub(crate) fn step_changed(&self, step: &StepRecord, now: Instant) {
        let key = (step.key.kind, step.key.execution.clone());
        let mut inner = self.lock();
        inner.phases.insert(key.clone(), step.phase.clone());
        match (&step.phase, &step.last_error) {
            (StepPhase::Requested | StepPhase::Accepted, Some(error)) => {
                inner
                    .failing
                    .entry(key)
                    .or_insert_with(|| (now, step.name.clone(), String::new()))
                    .2 = error.clone();
            }
            _ if step.phase.is_terminal() => {
                inner.failing.remove(&key);
            }
            _ => {}
        }
    }

    /// Steps failing for `after` or longer at `now`, each reported once.
    pub(crate) fn newly_stuck(&self, after: Duration, now: Instant) -> Vec<StuckStep> {
        let mut inner = self.lock();
        let Inner { failing, told, .. } = &mut *inner;
        failing
            .iter()
            .filter(|(_, (since, _, _))| now.duration_since(*since) >= after)
            .filter(|(key, _)| told.insert((*key).clone()))
            .map(|((kind, execution), (since, name, error))| StuckStep {
                kind: *kind,
                execution: execution.clone(),
                name: name.clone(),
                error: error.clone(),
                failing_for: now.duration_since(*since),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Operation;

    fn step(id: &str, phase: StepPhase, error: Option<&str>) -> StepRecord {
        StepRecord {
            name: format!("app {id}"),
            last_error: error.map(str::to_owned),
            ..StepRecord::fixture(Operation::Shutdown, Kind::App, id, phase)
        }
    }

    #[test]
    fn counts_follow_each_steps_latest_phase() {
        let stats = RunStats::default();
        let t = Instant::now();
        stats.kind_started(Kind::App, 2);
        stats.step_changed(&step("a", StepPhase::Requested, None), t);
        stats.step_changed(&step("b", StepPhase::Requested, None), t);
        stats.step_changed(&step("a", StepPhase::Confirmed, None), t);
        let counts = stats.counts();
        assert_eq!(
            (counts[&Kind::App].requested, counts[&Kind::App].confirmed),
            (1, 1)
        );
        assert_eq!(stats.totals()[&Kind::App], 2);
    }

    #[test]
    fn a_step_failing_too_long_is_stuck_once_and_an_ended_one_never() {
        let stats = RunStats::default();
        let t0 = Instant::now();
        stats.step_changed(&step("a", StepPhase::Requested, Some("503")), t0);
        stats.step_changed(&step("b", StepPhase::Requested, Some("503")), t0);
        stats.step_changed(&step("b", StepPhase::Confirmed, None), t0);
        let after = Duration::from_secs(60);
        assert!(
            stats
                .newly_stuck(after, t0 + Duration::from_secs(59))
                .is_empty()
        );
        let stuck = stats.newly_stuck(after, t0 + Duration::from_secs(61));
        assert_eq!(stuck.len(), 1);
        assert_eq!(
            (stuck[0].execution.as_str(), stuck[0].error.as_str()),
            ("a", "503")
        );
        assert!(
            stats
                .newly_stuck(after, t0 + Duration::from_secs(120))
                .is_empty(),
            "told once"
        );
    }
}
