//! What became of each Job a shutdown found running, decided once, from the steps' final
//! phases and recorded outcomes: [`JobFate`] per Job, [`JobsOfShutdown`] counted. The end of a
//! run, `dmm status`, the report, the webhook and the metrics all render this one result, in
//! the words of [`JobsOfShutdown::phrases`], so none of them can claim a restart that did not
//! happen or count a Job that ended by itself as one dmm stopped.

use std::collections::HashMap;

use serde::Serialize;

use super::plan::stopped_by_its_step;
use crate::journal::{Operation, StepNote, StepPhase, StepRecord};
use crate::snapshot::Source;

/// How a Job's stop went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopFate {
    /// dmm's stop ended it (the stop took effect and the job then showed `Stopped`).
    StoppedByDmm,
    /// It ended by itself, before its stop or while its stops were refused (the API's word),
    /// or was gone: not dmm's doing, never restarted.
    EndedByItself(String),
    /// Left running on purpose (`--jobs leave`), or otherwise skipped (the reason).
    LeftRunning(String),
    /// The stop failed (the reason).
    Failed(String),
    /// The stop has not ended (a run was interrupted, or is in progress).
    Unfinished,
}

/// How a Job's restart went, for a Job that has (or should have) one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestartFate {
    /// No restore step: no restore with `--restart-jobs` has run; it stays stopped.
    NotAsked,
    /// dmm's restart ran, and its new job was seen.
    Restarted { job: String },
    /// Someone else restarted it during the window; dmm sent nothing.
    RestartedByOther { job: String, by: String },
    /// The restart failed (the reason).
    Failed(String),
    /// Whether the restart ran cannot be told: a person must look (the reason).
    Undecidable(String),
    /// Not restarted on purpose (the reason: it ended by itself, its project is gone, ...).
    NotRestarted(String),
    /// The restart has not ended (sent and not yet seen, or not yet sent).
    Unfinished,
}

/// One Job a shutdown found running, and what became of it.
#[derive(Clone, Debug)]
pub struct JobFate<'a> {
    pub stop: &'a StepRecord,
    pub restart: Option<&'a StepRecord>,
    pub stop_fate: StopFate,
    /// `None` for a Job there is nothing to restart of (it ended by itself, was left running).
    pub restart_fate: Option<RestartFate>,
}

/// Every Job step of `cycle` and later, shutdown and restore, as one fate per Job.
pub fn job_fates(steps: &[StepRecord], cycle: u32) -> Vec<JobFate<'_>> {
    let live = |s: &&StepRecord| s.key.kind.source() == Source::Live && s.cycle >= cycle;
    let restarts: HashMap<&str, &StepRecord> = steps
        .iter()
        .filter(live)
        .filter(|s| s.key.op == Operation::Restore)
        .map(|s| (s.key.execution.as_str(), s))
        .collect();
    steps
        .iter()
        .filter(live)
        .filter(|s| s.key.op == Operation::Shutdown)
        .map(|stop| {
            let restart = restarts.get(stop.key.execution.as_str()).copied();
            let stop_fate = stop_fate(stop);
            let restart_fate = match (restart, &stop_fate) {
                (Some(r), _) => Some(restart_fate(r)),
                (None, StopFate::StoppedByDmm) => Some(RestartFate::NotAsked),
                (None, _) => None,
            };
            JobFate {
                stop,
                restart,
                stop_fate,
                restart_fate,
            }
        })
        .collect()
}

fn stop_fate(stop: &StepRecord) -> StopFate {
    match &stop.phase {
        _ if stopped_by_its_step(stop) => StopFate::StoppedByDmm,
        StepPhase::Confirmed => StopFate::EndedByItself(
            stop.ended
                .as_ref()
                .map_or_else(|| "?".to_owned(), |e| e.word.clone()),
        ),
        StepPhase::Skipped(why) => StopFate::LeftRunning(why.clone()),
        StepPhase::Failed(why) => StopFate::Failed(why.clone()),
        StepPhase::Pending | StepPhase::Requested | StepPhase::Accepted => StopFate::Unfinished,
    }
}

fn restart_fate(restart: &StepRecord) -> RestartFate {
    let job = || restart.effect.clone().unwrap_or_else(|| "?".to_owned());
    match (&restart.phase, &restart.note) {
        (_, Some(StepNote::RestartedByOther { by })) => RestartFate::RestartedByOther {
            job: job(),
            by: by.clone(),
        },
        (StepPhase::Confirmed, _) => RestartFate::Restarted { job: job() },
        (StepPhase::Failed(why), Some(StepNote::Undecidable)) => {
            RestartFate::Undecidable(why.clone())
        }
        (StepPhase::Failed(why), _) => RestartFate::Failed(why.clone()),
        (StepPhase::Skipped(why), _) => RestartFate::NotRestarted(why.clone()),
        (StepPhase::Pending | StepPhase::Requested | StepPhase::Accepted, _) => {
            RestartFate::Unfinished
        }
    }
}

impl StopFate {
    /// In the words of the report's Jobs table.
    pub fn words(&self) -> String {
        match self {
            StopFate::StoppedByDmm => "stopped by dmm".into(),
            StopFate::EndedByItself(word) => format!("ended by itself ({word}), not by dmm"),
            StopFate::LeftRunning(why) => format!("left running: {why}"),
            StopFate::Failed(why) => format!("stop failed: {why}"),
            StopFate::Unfinished => "stop unfinished".into(),
        }
    }
}

impl RestartFate {
    /// In the words of the report's Jobs table.
    pub fn words(&self) -> String {
        match self {
            RestartFate::NotAsked => {
                "not restarted: no restore with --restart-jobs has run; it stays stopped".into()
            }
            RestartFate::Restarted { job } => format!("restarted as job {job}"),
            RestartFate::RestartedByOther { job, by } => {
                format!(
                    "run again by someone else since the stop ({by}, as job {job}); dmm sent nothing"
                )
            }
            RestartFate::Failed(why) => format!("restart failed: {why}"),
            RestartFate::Undecidable(why) => format!("cannot tell whether it ran: {why}"),
            RestartFate::NotRestarted(why) => format!("not restarted: {why}"),
            RestartFate::Unfinished => "restart unfinished".into(),
        }
    }
}

/// Why a Job that has nothing to restart is not restarted, in the report's words.
pub fn nothing_to_restart(stop: &StopFate) -> String {
    match stop {
        StopFate::EndedByItself(word) => {
            format!("not restarted: it ended by itself ({word}), not by dmm's stop")
        }
        StopFate::LeftRunning(_) => "not restarted: it was left running".into(),
        StopFate::Failed(_) | StopFate::Unfinished => {
            "not restarted: its stop never finished".into()
        }
        StopFate::StoppedByDmm => "-".into(),
    }
}

/// The Jobs a shutdown found running, counted by what became of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct JobsOfShutdown {
    /// Ended by the shutdown's stop: only these are restarted.
    pub stopped: usize,
    /// Found running, then ended by themselves: nothing to restart.
    pub ended_on_their_own: usize,
    /// Left running on purpose (`--jobs leave`).
    pub left_running: usize,
    pub stop_failed: usize,
    pub stop_unfinished: usize,
    /// Restarted by dmm, the new job seen.
    pub restarted: usize,
    /// Restarted by someone else during the window; dmm sent nothing.
    pub restarted_by_others: usize,
    pub restart_failed: usize,
    /// Whether the restart ran cannot be told: a person must look.
    pub restart_undecidable: usize,
    pub restart_unfinished: usize,
    /// Not restarted on purpose (gone, ended by itself while its stop was unfinished, ...).
    pub not_restarted: usize,
    /// Stopped by the shutdown, with no restart asked (no restore with `--restart-jobs`).
    pub left_stopped: usize,
}

impl JobsOfShutdown {
    pub fn of(steps: &[StepRecord], cycle: u32) -> JobsOfShutdown {
        JobsOfShutdown::count(&job_fates(steps, cycle))
    }

    pub fn count(fates: &[JobFate<'_>]) -> JobsOfShutdown {
        let mut n = JobsOfShutdown::default();
        for fate in fates {
            *match &fate.stop_fate {
                StopFate::StoppedByDmm => &mut n.stopped,
                StopFate::EndedByItself(_) => &mut n.ended_on_their_own,
                StopFate::LeftRunning(_) => &mut n.left_running,
                StopFate::Failed(_) => &mut n.stop_failed,
                StopFate::Unfinished => &mut n.stop_unfinished,
            } += 1;
            let Some(restart) = &fate.restart_fate else {
                continue;
            };
            *match restart {
                RestartFate::NotAsked => &mut n.left_stopped,
                RestartFate::Restarted { .. } => &mut n.restarted,
                RestartFate::RestartedByOther { .. } => &mut n.restarted_by_others,
                RestartFate::Failed(_) => &mut n.restart_failed,
                RestartFate::Undecidable(_) => &mut n.restart_undecidable,
                RestartFate::NotRestarted(_) => &mut n.not_restarted,
                RestartFate::Unfinished => &mut n.restart_unfinished,
            } += 1;
        }
        n
    }

    /// Whether there is anything to say.
    pub fn is_empty(&self) -> bool {
        *self == JobsOfShutdown::default()
    }

    /// Each count with its outcome's slug (metrics labels, JSON), in a fixed order.
    pub fn by_outcome(&self) -> [(&'static str, usize); 12] {
        [
            ("stopped", self.stopped),
            ("ended_on_their_own", self.ended_on_their_own),
            ("left_running", self.left_running),
            ("stop_failed", self.stop_failed),
            ("stop_unfinished", self.stop_unfinished),
            ("restarted", self.restarted),
            ("restarted_by_others", self.restarted_by_others),
            ("restart_failed", self.restart_failed),
            ("restart_undecidable", self.restart_undecidable),
            ("restart_unfinished", self.restart_unfinished),
            ("not_restarted", self.not_restarted),
            ("left_stopped", self.left_stopped),
        ]
    }

    /// What became of the Jobs, one phrase per outcome that has any, in the words every
    /// frontend prints. `op`: the shutdown tells how the stops went; the restore, the restarts.
    pub fn phrases(&self, op: Operation) -> Vec<String> {
        let mut out = Vec::new();
        let mut say = |n: usize, what: &str| {
            if n > 0 {
                out.push(format!("{n} {what}"));
            }
        };
        if op == Operation::Shutdown {
            say(self.stopped, "stopped by this shutdown");
            say(self.stop_failed, "whose stop failed");
            say(self.stop_unfinished, "whose stop is unfinished");
            say(self.left_running, "left running");
        } else {
            say(self.restarted, "restarted");
            say(
                self.restarted_by_others,
                "run again by someone else since the stop (taken as their restart: not restarted again)",
            );
            say(self.restart_failed, "whose restart FAILED (not restarted)");
            say(
                self.restart_undecidable,
                "whose restart cannot be told (look at their projects' jobs; retrying cannot tell)",
            );
            say(self.restart_unfinished, "whose restart is unfinished");
            say(self.not_restarted, "not restarted (see the skipped steps)");
            say(
                self.left_stopped,
                "stopped by the shutdown and left stopped (restore --restart-jobs restarts them)",
            );
        }
        say(
            self.ended_on_their_own,
            "ended on their own during the shutdown, not by dmm (never restarted)",
        );
        out
    }

    /// `Jobs: ...`, or nothing when there is nothing to say.
    pub fn line(&self, op: Operation) -> Option<String> {
        let phrases = self.phrases(op);
        (!phrases.is_empty()).then(|| format!("Jobs: {}", phrases.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::StepEnd;
    use crate::snapshot::Kind;

    pub(crate) fn job(
        op: Operation,
        id: &str,
        phase: StepPhase,
        ended: Option<(&str, bool)>,
        note: Option<StepNote>,
    ) -> StepRecord {
        StepRecord {
            name: format!("job {id}"),
            effect: Some(format!("{id}-new")),
            ended: ended.map(|(word, by_this_stop)| StepEnd {
                word: word.into(),
                by_this_stop,
            }),
            note,
            ..StepRecord::fixture(op, Kind::Job, id, phase)
        }
    }

    /// One Job per fate: every phase a restart step can end in, and every way a stop can.
    pub(crate) fn every_fate() -> Vec<StepRecord> {
        use Operation::{Restore, Shutdown};
        let stopped = || Some(("Stopped", true));
        let failed = || StepPhase::Failed("503".into());
        let mut steps = Vec::new();
        let mut pair = |id: &str, restart: Option<(StepPhase, Option<StepNote>)>| {
            steps.push(job(Shutdown, id, StepPhase::Confirmed, stopped(), None));
            if let Some((phase, note)) = restart {
                steps.push(job(Restore, id, phase, None, note));
            }
        };
        pair("restarted", Some((StepPhase::Confirmed, None)));
        pair("failed", Some((failed(), None)));
        pair("skipped", Some((StepPhase::Skipped("gone".into()), None)));
        pair("accepted", Some((StepPhase::Accepted, None)));
        pair("requested", Some((StepPhase::Requested, None)));
        pair("undecidable", Some((failed(), Some(StepNote::Undecidable))));
        pair(
            "by-other",
            Some((
                StepPhase::Skipped("x".into()),
                Some(StepNote::RestartedByOther { by: "alice".into() }),
            )),
        );
        pair("left", None);
        steps.push(job(
            Shutdown,
            "ended",
            StepPhase::Confirmed,
            Some(("Succeeded", false)),
            None,
        ));
        steps
    }

    #[test]
    fn every_phase_counts_as_what_it_is() {
        let n = JobsOfShutdown::of(&every_fate(), 1);
        assert_eq!(
            n,
            JobsOfShutdown {
                stopped: 8,
                ended_on_their_own: 1,
                restarted: 1,
                restart_failed: 1,
                not_restarted: 1,
                restart_unfinished: 2,
                restart_undecidable: 1,
                restarted_by_others: 1,
                left_stopped: 1,
                ..JobsOfShutdown::default()
            }
        );
        let line = n.line(Operation::Restore).unwrap();
        assert!(line.starts_with("Jobs: 1 restarted; "), "{line}");
        assert!(line.contains("1 whose restart FAILED"), "{line}");
        assert!(line.contains("2 whose restart is unfinished"), "{line}");
        assert!(line.contains("1 ended on their own"), "{line}");
    }

    /// A restart that was refused, or accepted and never seen, is not a restart.
    #[test]
    fn only_a_confirmed_restart_is_restarted() {
        for phase in [
            StepPhase::Failed("503".into()),
            StepPhase::Accepted,
            StepPhase::Requested,
            StepPhase::Pending,
            StepPhase::Skipped("gone".into()),
        ] {
            let steps = [
                job(
                    Operation::Shutdown,
                    "j",
                    StepPhase::Confirmed,
                    Some(("Stopped", true)),
                    None,
                ),
                job(Operation::Restore, "j", phase.clone(), None, None),
            ];
            let n = JobsOfShutdown::of(&steps, 1);
            assert_eq!(n.restarted, 0, "{phase:?}");
            assert!(
                !n.line(Operation::Restore).unwrap().contains(" restarted;")
                    && !n.line(Operation::Restore).unwrap().ends_with(" restarted"),
                "{phase:?}"
            );
        }
    }

    #[test]
    fn a_job_that_ended_by_itself_is_not_one_dmm_stopped() {
        let steps = [job(
            Operation::Shutdown,
            "j",
            StepPhase::Confirmed,
            Some(("Succeeded", false)),
            None,
        )];
        let fates = job_fates(&steps, 1);
        assert_eq!(
            fates[0].stop_fate,
            StopFate::EndedByItself("Succeeded".into())
        );
        assert_eq!(fates[0].restart_fate, None);
        let n = JobsOfShutdown::count(&fates);
        assert_eq!((n.stopped, n.ended_on_their_own), (0, 1));
        assert_eq!(
            n.line(Operation::Shutdown).unwrap(),
            "Jobs: 1 ended on their own during the shutdown, not by dmm (never restarted)"
        );
    }
}
