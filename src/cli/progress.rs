//! The runner's and the scan's hooks drawn as progress bars on a terminal, or as plain log
//! lines otherwise (the runner knows nothing of either).
//!
//! Without a terminal (a Kubernetes Job's log, a CI job) the stages' begin and end lines are
//! logged at the default level (this module's target is on at `info` unless `--quiet`), and a
//! heartbeat line says every `--progress-every` (30 s) how far the run is: a long window is
//! never silent in `kubectl logs`. With `--log-format json` they are structured events.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::time::Instant;

use super::logging::Output;
use crate::domino::long_wait::{RetryNotices, Unanswered};
use crate::journal::{Operation, StepPhase, StepRecord};
use crate::runner::{Reporter, RunStats, VerificationOutcome};
use crate::snapshot::{Kind, Source};

/// The log target of progress lines, which a run without a terminal shows at the default
/// level (`logging`): other modules' progress lines name it.
pub(crate) const TARGET: &str = module_path!();

pub struct RunProgress {
    out: Output,
    bars: Mutex<HashMap<Kind, ProgressBar>>,
    counts: Arc<Mutex<Counts>>,
    /// How often the heartbeat speaks without a terminal (`None`: never).
    every: Option<Duration>,
    heartbeat: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// How long the server has answered nothing, asked at each heartbeat.
    silence: Option<ServerSilence>,
    /// The request that waits longest for its answer, asked at each look.
    unanswered: Option<UnansweredRequest>,
    /// Failed steps are said one every few seconds at most: when a whole kind fails, a line
    /// each would flood a Job's log (the summary lists a few, `dmm journal --failed` all).
    failure_notices: RetryNotices,
}

/// Asks how long the server has answered nothing (the client's `silent_for`).
pub type ServerSilence = Arc<dyn Fn() -> Duration + Send + Sync>;

/// Asks which request waits longest for its answer (the client's `unanswered`).
pub type UnansweredRequest = Arc<dyn Fn() -> Option<Unanswered> + Send + Sync>;

/// What the progress lines count, per kind.
#[derive(Debug, Default)]
struct Counts {
    op: Option<Operation>,
    totals: BTreeMap<Kind, usize>,
    failed: BTreeMap<Kind, usize>,
    /// Steps of each kind not ended yet: an interrupted kind also "finishes", and must not be
    /// said to have ended every step.
    left: BTreeMap<Kind, usize>,
    /// Steps that ended in this run, and when the first of them did (for the estimate).
    ended_here: usize,
    first_end: Option<Instant>,
    verifying: bool,
    /// Steps sent and not ended yet, since when they wait for their state.
    waiting_since: HashMap<(Kind, String), Instant>,
    /// How long each step is given to reach its state (`--grace-period-s`).
    grace: Duration,
    /// The names of the steps in `waiting_since`, for the line that says them.
    waiting_names: HashMap<(Kind, String), String>,
    /// Steps already said to wait long (by that line or a heartbeat).
    said_long: HashSet<(Kind, String)>,
    /// When a step was last said to wait long: such a line comes at most once a heartbeat
    /// period, besides the heartbeat itself.
    said_long_at: Option<Instant>,
    /// The request that waits longest for its answer, as last asked of the client.
    unanswered: Option<Unanswered>,
    /// When a request was last said to wait for its answer (as `said_long_at`).
    said_unanswered_at: Option<Instant>,
}

/// How many waiting steps the line names; the rest are counted.
const LONG_WAIT_NAMED: usize = 3;

/// A step waiting for its state this long is said in the heartbeat.
const LONG_WAIT: Duration = Duration::from_secs(10);

impl Counts {
    /// `shutdown: steps ended App 40/100, Job 10/50; 2 failed, 4m10s elapsed, about 3m left`
    /// (the kinds begun so far: a kind's total is known when its stage begins).
    fn heartbeat(&self, began: Instant, now: Instant, silent: Duration) -> String {
        let left: usize = self.left.values().sum();
        let kinds: Vec<String> = self
            .totals
            .iter()
            .map(|(k, t)| {
                let l = self.left.get(k).copied().unwrap_or(0);
                format!("{k} {}/{t}", t.saturating_sub(l))
            })
            .collect();
        let failed: usize = self.failed.values().sum();
        let elapsed = now.duration_since(began);
        // The rest at the pace steps have been ending in this run.
        let rest = match self.first_end {
            _ if self.verifying => " (verifying)".to_owned(),
            Some(first) if self.ended_here > 0 && left > 0 => {
                let per_step = now.duration_since(first).as_secs_f64() / self.ended_here as f64;
                let rest =
                    Duration::from_secs_f64(per_step * left as f64).max(Duration::from_secs(1));
                format!(", about {} left of the kinds begun", short(rest))
            }
            _ if left == 0 => String::new(),
            _ => ", no estimate of the rest yet".to_owned(),
        };
        // A server that answers nothing makes every sent step look slow to reach its state.
        let waits = if silent >= LONG_WAIT {
            format!(
                "; the server has answered nothing for {} (requests wait for an answer, not for states)",
                short(silent)
            )
        } else {
            self.long_waits(now)
        };
        let waits = match self.unanswered.as_ref().filter(|u| u.waited >= LONG_WAIT) {
            Some(u) => format!("{waits}; {}", unanswered_words(u)),
            None => waits,
        };
        format!(
            "{}: steps ended {}; {failed} failed, {} elapsed{rest}{waits}",
            self.op.map_or("run", |o| o.as_str()),
            if kinds.is_empty() {
                "none begun".to_owned()
            } else {
                kinds.join(", ")
            },
            short(elapsed),
        )
    }
}

impl Counts {
    /// Marks every step that waits long now as said (the heartbeat says them).
    fn all_long_said(&mut self, now: Instant) {
        let long: Vec<(Kind, String)> = self
            .waiting_since
            .iter()
            .filter(|(_, since)| now.saturating_duration_since(**since) >= LONG_WAIT)
            .map(|(key, _)| key.clone())
            .collect();
        self.said_long.extend(long);
    }

    /// The steps that have come to wait over [`LONG_WAIT`] for their state since last said,
    /// named, as soon as they have (at most once every `every`): a wait is said when it
    /// becomes long, not up to a heartbeat period later. `None`: nothing new to say.
    fn newly_long(&mut self, now: Instant, every: Duration) -> Option<String> {
        if self
            .said_long_at
            .is_some_and(|at| now.saturating_duration_since(at) < every)
        {
            return None;
        }
        let mut new: Vec<(&(Kind, String), Duration)> = self
            .waiting_since
            .iter()
            .map(|(key, since)| (key, now.saturating_duration_since(*since)))
            .filter(|(key, waited)| *waited >= LONG_WAIT && !self.said_long.contains(*key))
            .collect();
        if new.is_empty() {
            return None;
        }
        new.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let longest = new[0].1;
        let named: Vec<String> = new
            .iter()
            .take(LONG_WAIT_NAMED)
            .map(|((kind, id), _)| {
                let name = self
                    .waiting_names
                    .get(&(*kind, id.clone()))
                    .map_or(id.as_str(), |n| n.as_str());
                let name = crate::visible::visible(name);
                let name: String = name.chars().take(60).collect();
                format!("{kind} '{name}'")
            })
            .collect();
        let more = new.len().saturating_sub(LONG_WAIT_NAMED);
        let until = given_until(self.grace, longest);
        let line = format!(
            "{}: {}{} sent over {} ago, still waiting for {} state (the first {until})",
            self.op.map_or("run", |o| o.as_str()),
            named.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            },
            short(LONG_WAIT),
            if new.len() == 1 { "its" } else { "their" },
        );
        let keys: Vec<(Kind, String)> = new.iter().map(|(key, _)| (*key).clone()).collect();
        self.said_long.extend(keys);
        self.said_long_at = Some(now);
        Some(line)
    }

    /// `; 12 sent and waiting over 10s for their state, the longest 45s (given until 15:14:27
    /// UTC)`, or nothing when no step has waited that long.
    fn long_waits(&self, now: Instant) -> String {
        let long: Vec<Duration> = self
            .waiting_since
            .values()
            .map(|since| now.saturating_duration_since(*since))
            .filter(|waited| *waited >= LONG_WAIT)
            .collect();
        let Some(longest) = long.iter().max() else {
            return String::new();
        };
        let until = given_until(self.grace, *longest);
        format!(
            "; {} sent and waiting over {} for their state, the longest {} ({until})",
            long.len(),
            short(LONG_WAIT),
            short(*longest)
        )
    }
}

impl Counts {
    /// The request that has waited over [`LONG_WAIT`] for its answer, said once a heartbeat
    /// period at most besides the heartbeat: a hung request is named at about 10 s, not when
    /// its attempt times out.
    fn newly_unanswered(&mut self, now: Instant, every: Duration) -> Option<String> {
        let u = self.unanswered.as_ref().filter(|u| u.waited >= LONG_WAIT)?;
        if self
            .said_unanswered_at
            .is_some_and(|at| now.saturating_duration_since(at) < every)
        {
            return None;
        }
        let line = format!(
            "{}: {}",
            self.op.map_or("run", |o| o.as_str()),
            unanswered_words(u)
        );
        self.said_unanswered_at = Some(now);
        Some(line)
    }
}

/// How long the server has left requests without an answer: no longer than the oldest request
/// now waiting has waited, and nothing when none waits (dmm itself waits, for a Retry-After or
/// its pace: the server is not to blame). `known`: whether the requests waiting are known.
fn server_silence(silent: Duration, waiting: Option<&Unanswered>, known: bool) -> Duration {
    match waiting {
        Some(u) => silent.min(u.waited),
        None if known => Duration::ZERO,
        None => silent,
    }
}

/// `waiting 12s for an answer to POST /v4/jobs/stop (and 2 other requests), given until
/// 18:27:05 UTC; a request and its retries get 2m in all`.
pub(crate) fn unanswered_words(u: &Unanswered) -> String {
    let others = match u.count {
        0 | 1 => String::new(),
        n => format!(" (and {} other request(s))", n - 1),
    };
    let until = if u.waited < u.attempt {
        format!(
            "given until {}",
            crate::domino::long_wait::wall_clock_in(u.attempt - u.waited)
        )
    } else {
        format!("past the {} an attempt is given", short(u.attempt))
    };
    format!(
        "waiting {} for an answer to {}{others}, {until}; a request and its retries get {} in all",
        short(u.waited),
        u.what,
        short(u.budget)
    )
}

/// `given until 15:14:27 UTC` for a step that has waited `waited` of its `grace`; once the
/// grace is spent there is no "until" left to give (the step is judged at its next look), and
/// a time that is always the line's own would say nothing.
fn given_until(grace: Duration, waited: Duration) -> String {
    if waited < grace {
        format!(
            "given until {}",
            crate::domino::long_wait::wall_clock_in(grace - waited)
        )
    } else {
        format!(
            "past the {} it was given, judged at its next look",
            short(grace)
        )
    }
}

/// A duration to the second, as `4m10s`.
pub(crate) fn short(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs()))
        .to_string()
        .replace(' ', "")
}

impl RunProgress {
    /// `every`: the heartbeat's interval without a terminal (zero: none); `grace`: how long
    /// each step is given to reach its state.
    pub fn new(
        out: &Output,
        every: Duration,
        grace: Duration,
        silence: Option<ServerSilence>,
    ) -> Self {
        RunProgress {
            out: out.clone(),
            bars: Mutex::new(HashMap::new()),
            counts: Arc::new(Mutex::new(Counts {
                grace,
                ..Counts::default()
            })),
            every: (!out.interactive && !every.is_zero()).then_some(every),
            heartbeat: Mutex::new(None),
            silence,
            unanswered: None,
            failure_notices: RetryNotices::default(),
        }
    }

    /// Names the request that waits longest for its answer once it has waited long.
    pub fn with_unanswered(mut self, unanswered: UnansweredRequest) -> Self {
        self.unanswered = Some(unanswered);
        self
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn bar(&self, kind: Kind) -> Option<ProgressBar> {
        self.bars.lock().ok()?.get(&kind).cloned()
    }
}

/// Bold kind names only where colour is allowed (a terminal, and no `NO_COLOR`).
pub fn bar_style(color: bool) -> ProgressStyle {
    let template = if color {
        "{prefix:>18.bold} [{bar:30}] {pos:>6}/{len:<6} {msg}"
    } else {
        "{prefix:>18} [{bar:30}] {pos:>6}/{len:<6} {msg}"
    };
    ProgressStyle::with_template(template)
        .expect("valid template")
        .progress_chars("=> ")
}

impl Reporter for RunProgress {
    fn run_began(&self, _stats: &Arc<RunStats>) {
        let Some(every) = self.every else {
            return;
        };
        let counts = self.counts.clone();
        let silence = self.silence.clone();
        let unanswered = self.unanswered.clone();
        let began = Instant::now();
        // Looks every few seconds for waits that have just become long; the heartbeat itself
        // speaks every `every`.
        let look = every.min(LONG_WAIT / 2);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(began + look, look);
            let mut next_heartbeat = began + every;
            loop {
                tick.tick().await;
                let now = Instant::now();
                let waiting = unanswered.as_ref().and_then(|u| u());
                let silent = server_silence(
                    silence.as_ref().map_or(Duration::ZERO, |s| s()),
                    waiting.as_ref(),
                    unanswered.is_some(),
                );
                let mut counts = counts.lock().unwrap_or_else(PoisonError::into_inner);
                counts.unanswered = waiting;
                if now >= next_heartbeat {
                    next_heartbeat += every;
                    let line = counts.heartbeat(began, now, silent);
                    counts.all_long_said(now);
                    counts.said_unanswered_at = Some(now);
                    drop(counts);
                    tracing::info!("{line}");
                } else if let Some(line) = counts.newly_unanswered(now, every) {
                    drop(counts);
                    tracing::info!("{line}");
                } else if silent >= LONG_WAIT {
                    // Steps look "slow to reach their state" only because no answer comes:
                    // the heartbeat says the server is silent instead.
                } else if let Some(line) = counts.newly_long(now, every) {
                    drop(counts);
                    tracing::info!("{line}");
                }
            }
        });
        *self
            .heartbeat
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(task);
    }

    fn run_finished(&self) {
        if let Some(task) = self
            .heartbeat
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }

    fn kind_started(&self, op: Operation, kind: Kind, total: usize, done: usize) {
        {
            let mut counts = self.counts();
            counts.op = Some(op);
            counts.totals.insert(kind, total);
            counts.left.insert(kind, total.saturating_sub(done));
        }
        if self.out.interactive {
            let bar = self.out.bars.add(ProgressBar::new(total as u64));
            bar.set_style(bar_style(self.out.color));
            bar.set_prefix(kind.label());
            bar.set_position(done as u64);
            if let Ok(mut bars) = self.bars.lock() {
                bars.insert(kind, bar);
            }
        }
        // Jobs are never in the snapshot: they are found running (shutdown), or were stopped
        // by the shutdown (restore).
        let whence = match (kind.source(), op) {
            (Source::Snapshot, _) => "in the snapshot",
            (Source::Live, Operation::Shutdown) => "found running",
            (Source::Live, Operation::Restore) => "stopped by the shutdown, to restart",
        };
        tracing::info!(
            "{op} {kind}: {total} {whence}, {done} already ended (done or skipped), {} to go",
            total - done
        );
    }

    fn step_changed(&self, step: &StepRecord) {
        if matches!(step.phase, StepPhase::Requested | StepPhase::Accepted) {
            let mut counts = self.counts();
            let key = (step.key.kind, step.key.execution.clone());
            counts
                .waiting_names
                .entry(key.clone())
                .or_insert_with(|| step.name.clone());
            counts.waiting_since.entry(key).or_insert_with(Instant::now);
        }
        tracing::debug!(
            kind = %step.key.kind,
            execution = %step.key.execution,
            name = %step.name,
            attempt = step.attempts,
            "{}",
            step.phase
        );
    }

    fn step_ended(&self, step: &StepRecord) {
        let failed = {
            let mut counts = self.counts();
            let key = (step.key.kind, step.key.execution.clone());
            counts.waiting_since.remove(&key);
            counts.waiting_names.remove(&key);
            if let Some(n) = counts.left.get_mut(&step.key.kind) {
                *n = n.saturating_sub(1);
            }
            counts.ended_here += 1;
            counts.first_end.get_or_insert_with(Instant::now);
            matches!(step.phase, StepPhase::Failed(_)).then(|| {
                let n = counts.failed.entry(step.key.kind).or_insert(0);
                *n += 1;
                *n
            })
        };
        if let Some(bar) = self.bar(step.key.kind) {
            bar.inc(1);
        }
        if let StepPhase::Failed(reason) = &step.phase {
            if let (Some(bar), Some(failed)) = (self.bar(step.key.kind), failed) {
                bar.set_message(format!("{failed} failed"));
            }
            let (kind, name, owner) = (step.key.kind, &step.name, &step.owner);
            match self.failure_notices.worth_saying() {
                Some(unsaid) => {
                    let unsaid = match unsaid {
                        0 => String::new(),
                        n => format!(", {n} not said since"),
                    };
                    tracing::warn!(
                        "{kind} '{name}' ({owner}) failed: {reason} (one such line every 10 s at most{unsaid}; -v shows each)"
                    );
                }
                None => tracing::debug!("{kind} '{name}' ({owner}) failed: {reason}"),
            }
        }
    }

    fn kind_finished(&self, op: Operation, kind: Kind) {
        if let Some(bar) = self.bar(kind) {
            bar.finish();
        }
        let (left, failed) = {
            let counts = self.counts();
            (
                counts.left.get(&kind).copied().unwrap_or(0),
                counts.failed.get(&kind).copied().unwrap_or(0),
            )
        };
        match left {
            n if n > 0 => tracing::info!("{op} {kind}: stopped with {n} step(s) unfinished"),
            _ => tracing::info!("{op} {kind}: every step has ended, {failed} failed"),
        }
    }

    fn verification_started(&self) {
        self.counts().verifying = true;
        tracing::info!("verifying: listing the deployment again");
    }

    fn verification_ended(&self, outcome: &VerificationOutcome) {
        self.counts().verifying = false;
        let detail = match outcome {
            VerificationOutcome::Checked(v) => format!(
                " ({} checked, {} not as promised)",
                v.checked,
                v.mismatches()
            ),
            VerificationOutcome::Unavailable(why) => format!(": {why}"),
            VerificationOutcome::Skipped | VerificationOutcome::NotRun => String::new(),
        };
        tracing::info!("verification {}{detail}", outcome.word());
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_wait_past_its_grace_is_said_so_not_given_until_now() {
        let grace = Duration::from_secs(60);
        assert!(given_until(grace, Duration::from_secs(20)).starts_with("given until "));
        assert_eq!(
            given_until(grace, Duration::from_secs(300)),
            "past the 1m it was given, judged at its next look"
        );
    }

    use super::*;

    /// While dmm waits (a Retry-After, its pace) with no request sent, the server is not
    /// silent; nor for longer than the oldest request waiting has waited.
    #[test]
    fn the_server_is_silent_only_while_a_request_waits_for_it() {
        let s = Duration::from_secs;
        let waiting = |waited| Unanswered {
            what: "GET /v4/jobs".into(),
            waited: s(waited),
            count: 1,
            attempt: s(60),
            budget: s(120),
        };
        assert_eq!(server_silence(s(60), None, true), Duration::ZERO);
        assert_eq!(server_silence(s(60), Some(&waiting(5)), true), s(5));
        assert_eq!(server_silence(s(20), Some(&waiting(30)), true), s(20));
        assert_eq!(
            server_silence(s(20), None, false),
            s(20),
            "not known: as said"
        );
    }

    /// A request without an answer is named once it has waited 10 s, with until when its
    /// attempt is given, and again in the heartbeat; not before.
    #[test]
    fn a_request_without_an_answer_is_named_with_until_when() {
        let now = Instant::now();
        let every = Duration::from_secs(30);
        let mut counts = Counts {
            op: Some(Operation::Shutdown),
            ..Counts::default()
        };
        let mut waiting = Unanswered {
            what: "POST /v4/jobs/stop".into(),
            waited: Duration::from_secs(4),
            count: 3,
            attempt: Duration::from_secs(60),
            budget: Duration::from_secs(120),
        };
        counts.unanswered = Some(waiting.clone());
        assert_eq!(counts.newly_unanswered(now, every), None, "not long yet");
        waiting.waited = Duration::from_secs(11);
        counts.unanswered = Some(waiting);
        let line = counts.newly_unanswered(now, every).expect("said at 10 s");
        assert!(
            line.starts_with(
                "shutdown: waiting 11s for an answer to POST /v4/jobs/stop (and 2 other request(s)), given until "
            ) && line.ends_with(" UTC; a request and its retries get 2m in all"),
            "{line}"
        );
        assert_eq!(counts.newly_unanswered(now, every), None, "once a period");
        let heartbeat = counts.heartbeat(now - every, now, Duration::from_secs(11));
        assert!(
            heartbeat.contains("; waiting 11s for an answer to POST /v4/jobs/stop"),
            "{heartbeat}"
        );
    }

    #[test]
    fn a_wait_is_said_with_its_name_as_soon_as_it_becomes_long() {
        let now = Instant::now();
        let every = Duration::from_secs(30);
        let mut counts = Counts {
            op: Some(Operation::Shutdown),
            grace: Duration::from_secs(600),
            ..Counts::default()
        };
        for (id, name, waited) in [
            ("a", "one", 5),
            ("b", "two\u{202E}", 12),
            ("c", "three", 11),
        ] {
            let key = (Kind::App, id.to_owned());
            counts
                .waiting_since
                .insert(key.clone(), now - Duration::from_secs(waited));
            counts.waiting_names.insert(key, name.to_owned());
        }
        let line = counts
            .newly_long(now, every)
            .expect("two waits became long");
        assert!(
            line.starts_with(
                "shutdown: App 'two<U+202E>', App 'three' sent over 10s ago, still waiting for their state (the first given until "
            ),
            "{line}"
        );
        assert_eq!(counts.newly_long(now, every), None, "once");
        // A wait that becomes long later is said, but not before a heartbeat period has passed.
        let later = now + Duration::from_secs(6);
        assert_eq!(counts.newly_long(later, every), None);
        let line = counts
            .newly_long(now + every, every)
            .expect("then it is said");
        assert!(
            line.contains("App 'one'") && !line.contains("two"),
            "{line}"
        );
    }

    #[test]
    fn the_heartbeat_says_how_many_wait_long_and_until_when() {
        let now = Instant::now();
        let mut counts = Counts {
            grace: Duration::from_secs(600),
            ..Counts::default()
        };
        counts
            .waiting_since
            .insert((Kind::App, "a".into()), now - Duration::from_secs(5));
        assert_eq!(counts.long_waits(now), "", "5 s is not long");
        counts
            .waiting_since
            .insert((Kind::App, "b".into()), now - Duration::from_secs(45));
        counts
            .waiting_since
            .insert((Kind::Workspace, "c".into()), now - Duration::from_secs(12));
        let said = counts.long_waits(now);
        assert!(
            said.starts_with(
                "; 2 sent and waiting over 10s for their state, the longest 45s (given until "
            ) && said.ends_with(" UTC)"),
            "{said}"
        );
        assert!(
            counts
                .heartbeat(now - Duration::from_secs(60), now, Duration::ZERO)
                .contains(&said)
        );
        // The same waits while the server answers nothing: the server's silence is said, not
        // steps slow to reach their state.
        let silent = counts.heartbeat(now - Duration::from_secs(60), now, Duration::from_secs(29));
        assert!(
            silent.contains("; the server has answered nothing for 29s")
                && !silent.contains("for their state,"),
            "{silent}"
        );
    }
}
