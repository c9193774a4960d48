//! A run's one entry point: [`prepare`] makes the plan once, [`Prepared::execute`] carries it
//! out and owns the run record from beginning to end, the drain after an interrupt, and the
//! verification pass with its record. The CLI parses, confirms and renders; it never sequences
//! a run (the split of nextest's runner and reporter, or kubectl's drain helper).

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use super::cancel::Cancel;
use super::engine::{RunError, drive_steps, entry_of};
use super::next::{NextAction, next_action};
use super::options::JobsMode;
use super::options::{RunOptions, Selection};
use super::plan::{Plan, cycle_for, kinds_in_order, kinds_not_done, plan_steps, restart_steps};
use super::report::{Notify, Reporter, RunReport, VerificationOutcome};
use super::summary::RunSummary;
use super::verify::{Expectation, Finding, Verification, check_deployment};
use crate::domino::{About, ApiError, Deployment, Observed, about, list_kind};
use crate::journal::{
    Journal, JournalError, JournalRead, JournalReader, NewStep, Operation, RunOutcome, RunStart,
    StepKey, StepPhase, StepRecord, VerificationRecord, now_rfc3339,
};
use crate::snapshot::{Kind, LoadedSnapshot, Snapshot, Source};

/// A run planned against its journal, ready to execute.
pub struct Prepared {
    journal: Arc<Journal>,
    snapshot: LoadedSnapshot,
    deployment: Arc<Deployment>,
    selection: Selection,
    options: RunOptions,
    planned: Vec<NewStep>,
    plan: Plan,
    notify: Option<Arc<dyn Notify>>,
    /// The Domino version and the identity, recorded with the run.
    about: About,
}

/// What a run would do, from the journal as it is, touching nothing: no lock is taken, no
/// request is sent, a missing journal is not created. For `--dry-run`.
pub async fn plan_only(
    journal: &Path,
    snapshot: &LoadedSnapshot,
    deployment: &Deployment,
    selection: &Selection,
    options: &RunOptions,
) -> Result<Plan, RunError> {
    let mut planned = plan_steps(
        selection.op,
        &selection.only,
        &snapshot.snapshot,
        &deployment.kinds,
    )
    .map_err(RunError::Snapshot)?;
    let (existing, shutdown_steps, runs) = if journal.exists() {
        let reader = JournalReader::open_bound(journal, &snapshot.sha256)?;
        (
            reader.steps(Some(selection.op))?,
            reader.steps(Some(Operation::Shutdown))?,
            reader.runs()?,
        )
    } else {
        (Vec::new(), Vec::new(), Vec::new())
    };
    let cycle = cycle_for(selection.op, &runs);
    planned.extend(live_steps(deployment, selection, options, &shutdown_steps, cycle.0).await?);
    Ok(Plan::new(
        selection.op,
        &planned,
        &existing,
        options.retry_failed,
        cycle,
    ))
}

/// The steps of the kinds a snapshot does not record: on shutdown, what runs now (listed again
/// when the run reaches them; this is for the plan shown); on restore with `--restart-jobs`,
/// the ones the shutdown stopped.
async fn live_steps(
    deployment: &Deployment,
    selection: &Selection,
    options: &RunOptions,
    shutdown_steps: &[StepRecord],
    cycle: u32,
) -> Result<Vec<NewStep>, RunError> {
    let chosen = |k: &Kind| selection.only.is_empty() || selection.only.contains(k);
    let mut steps = Vec::new();
    for &kind in Kind::LIVE.iter().filter(|k| chosen(k)) {
        match selection.op {
            Operation::Shutdown => {
                let api = deployment.kind(kind);
                let listing =
                    match list_kind(&deployment.client, api.as_ref(), options.concurrency).await {
                        Ok(listing) => listing,
                        Err(e) if e.is_unauthorized() => return Err(RunError::NotUsable(e)),
                        Err(e) => {
                            tracing::warn!("{kind}: the running ones could not be listed: {e}");
                            continue;
                        }
                    };
                for entry in listing.entries {
                    let Ok(execution) = entry.key(kind).map(str::to_owned) else {
                        continue;
                    };
                    steps.push(NewStep {
                        key: StepKey {
                            op: Operation::Shutdown,
                            kind,
                            execution,
                        },
                        name: entry.name.clone(),
                        owner: entry.owner.clone(),
                        phase: match options.jobs {
                            JobsMode::Leave => {
                                StepPhase::Skipped("left running (--jobs leave)".into())
                            }
                            JobsMode::Stop | JobsMode::Wait(_) => StepPhase::Pending,
                        },
                        detail: Some(entry.id),
                    });
                }
            }
            Operation::Restore if options.restart_jobs => {
                steps.extend(
                    restart_steps(shutdown_steps, cycle, &selection.only)
                        .into_iter()
                        .filter(|s| s.key.kind == kind),
                );
            }
            Operation::Restore => {}
        }
    }
    Ok(steps)
}

/// Checks that the deployment answers, then opens (or creates) the snapshot's journal and plans
/// the run against it. A refused key or a host that does not answer is found before the journal
/// is touched, so that a run that could not have done anything leaves no trace.
pub async fn prepare(
    journal: &Path,
    snapshot: LoadedSnapshot,
    deployment: Arc<Deployment>,
    selection: Selection,
    mut options: RunOptions,
) -> Result<Prepared, RunError> {
    if let Some(recorded) = options.recorded_options.as_object_mut() {
        recorded.insert("host".into(), deployment.client.base_url().into());
    }
    let planned = plan_steps(
        selection.op,
        &selection.only,
        &snapshot.snapshot,
        &deployment.kinds,
    )
    .map_err(RunError::Snapshot)?;
    // The run's first listing must succeed: every "gone" (404) a step later believes rests on
    // it, and a URL that answers 404 everywhere would otherwise record every stop as done.
    match deployment.check_answers().await {
        Ok(()) => {}
        // An unreachable host is configuration to fix, like a refused key.
        Err(e @ ApiError::Transport { .. }) => return Err(RunError::NotUsable(e)),
        Err(e) if e.is_transient() => return Err(RunError::Unavailable(e)),
        Err(e @ ApiError::NotFound { .. }) => return Err(RunError::WrongUrl(e)),
        Err(e) => return Err(RunError::NotUsable(e)),
    }
    let about = about(&deployment.client).await;
    let journal = Arc::new(Journal::open(journal, &snapshot.sha256, &snapshot.path)?);
    let existing = journal.steps(Some(selection.op))?;
    let cycle = cycle_for(selection.op, &journal.runs()?);
    let live = live_steps(
        &deployment,
        &selection,
        &options,
        &journal.steps(Some(Operation::Shutdown))?,
        cycle.0,
    )
    .await?;
    // Restarts are recorded with the plan; what a shutdown finds live is listed again, and
    // recorded, when the run reaches its stage.
    let (shown, to_record): (Vec<NewStep>, Vec<NewStep>) = match selection.op {
        Operation::Shutdown => (live, Vec::new()),
        Operation::Restore => (live.clone(), live),
    };
    let mut planned = planned;
    planned.extend(to_record);
    let mut displayed = planned.clone();
    displayed.extend(
        shown
            .into_iter()
            .filter(|s| s.key.op == Operation::Shutdown),
    );
    let plan = Plan::new(
        selection.op,
        &displayed,
        &existing,
        options.retry_failed,
        cycle,
    );
    Ok(Prepared {
        journal,
        snapshot,
        deployment,
        selection,
        options,
        planned,
        plan,
        notify: None,
        about,
    })
}

impl Prepared {
    /// What this run will do, per kind, given what the journal already records.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn host(&self) -> &str {
        self.deployment.client.base_url()
    }

    /// Someone to tell when the run starts and ends (`--notify-url`).
    pub fn notify_with(mut self, notify: Arc<dyn Notify>) -> Prepared {
        self.notify = Some(notify);
        self
    }

    /// The client the run sends through, for figures such as its request count.
    pub fn client(&self) -> &crate::domino::DominoClient {
        &self.deployment.client
    }

    /// Runs the plan to its end, or until `cancel` fires (then in-flight requests get the drain
    /// time to finish and be recorded), and verifies the result. Every step's intent is durable
    /// before its request leaves; a run that is interrupted, killed or fails can be run again
    /// and continues exactly where this one stopped.
    pub async fn execute(
        self,
        cancel: &Cancel,
        reporter: Arc<dyn Reporter>,
    ) -> Result<RunReport, RunError> {
        let started = Instant::now();
        let op = self.selection.op;
        let run_id = self
            .journal
            .begin_run(
                op,
                RunStart {
                    options: self.options.recorded_options.clone(),
                    cycle: self.plan.cycle,
                    domino_version: self.about.version.clone(),
                    acting_as: self.about.acting_as.clone(),
                },
            )?
            .id;
        if let Some(notify) = self.notify.clone() {
            // Told in the background: a slow receiver never holds up the run.
            let (journal, plan) = (self.journal.clone(), self.plan.clone());
            tokio::spawn(async move {
                let notes = notify.run_started(op, run_id, &plan).await;
                if let Err(e) = journal.record_notifications(run_id, &notes) {
                    tracing::warn!("could not record the start notification: {e}");
                }
            });
        }
        let result = self
            .run_and_verify(run_id, cancel, &reporter, started)
            .await;
        // The pace the requests went at, however the run ended.
        let paced = super::pace::record(&self.journal, run_id, &self.deployment);
        match result {
            Ok(report) => {
                if let Some(notify) = &self.notify {
                    let notes = notify.run_ended(&report).await;
                    if let Err(e) = self.journal.record_notifications(run_id, &notes) {
                        tracing::warn!("could not record the end notifications: {e}");
                    }
                }
                paced.map(|()| report).map_err(RunError::from)
            }
            Err(e) => {
                // Best effort: the journal may be what failed.
                let _ = self
                    .journal
                    .end_run(run_id, RunOutcome::Aborted, Some(e.to_string()));
                Err(e)
            }
        }
    }

    async fn run_and_verify(
        &self,
        run_id: u64,
        cancel: &Cancel,
        reporter: &Arc<dyn Reporter>,
        started: Instant,
    ) -> Result<RunReport, RunError> {
        let op = self.selection.op;
        // Intents for every step are durable before the first request leaves.
        let records = self.journal.plan(run_id, self.planned.clone())?;
        let steps = drive_steps(
            &self.journal,
            run_id,
            &self.snapshot.snapshot,
            &self.deployment,
            &self.selection,
            &self.options,
            records,
            self.plan.cycle,
            cancel,
            reporter,
        );
        tokio::pin!(steps);
        let drain = self.options.drain;
        let drained = tokio::select! {
            result = &mut steps => match result {
                Ok(()) => false,
                // Credentials refused mid-run (revoked, or a token that expired): nothing else
                // would succeed, but every step is where the journal has it, so the run stops
                // resumably rather than failing.
                Err(RunError::Unauthorized(e)) => {
                    cancel.cancel_because(credentials_refused(&e));
                    false
                }
                Err(e) => return Err(e),
            },
            _ = async { cancel.cancelled().await; tokio::time::sleep(drain).await } => true,
        };
        let summary = RunSummary::read(&self.journal, run_id, &self.selection, self.plan.cycle)?;
        if drained || cancel.is_cancelled() || summary.unfinished() > 0 {
            return self.interrupted(run_id, summary, cancel, started, "");
        }

        let verification = if self.options.verify {
            reporter.verification_started();
            let expect = match op {
                Operation::Shutdown => Expectation::Stopped,
                Operation::Restore => Expectation::Running,
            };
            let kinds = kinds_in_order(op, &self.selection.only);
            let (promised, left) = self.promised_with_live()?;
            let pass = async {
                let mut v = check_deployment(
                    &self.deployment,
                    &promised,
                    &kinds,
                    expect,
                    self.options.concurrency,
                )
                .await?;
                accept_live_findings(&mut v, &left);
                Ok::<_, ApiError>(v)
            };
            // Verification only reads: a signal abandons it at once, the next run verifies.
            let checked = tokio::select! {
                checked = pass => checked,
                _ = cancel.cancelled() => {
                    return self.interrupted(run_id, summary, cancel, started, " during verification");
                }
            };
            match checked {
                Ok(v) => VerificationOutcome::Checked(v),
                Err(e) if e.is_unauthorized() => {
                    cancel.cancel_because(credentials_refused(&e));
                    return self.interrupted(
                        run_id,
                        summary,
                        cancel,
                        started,
                        " during verification",
                    );
                }
                Err(e) => VerificationOutcome::Unavailable(format!(
                    "verification could not list the deployment: {e}"
                )),
            }
        } else {
            VerificationOutcome::Skipped
        };
        self.record_verification(run_id, &verification)?;
        let reopened = match &verification {
            VerificationOutcome::Checked(v) => self.reopen_mismatches(run_id, v)?,
            _ => 0,
        };

        let failed = summary.failed().count();
        let outcome = if failed == 0 && verification.holds() {
            RunOutcome::Completed
        } else {
            RunOutcome::CompletedWithFailures
        };
        let message = format!(
            "{}; {}",
            outcome_message(failed, &verification),
            self.deployment.traffic()
        );
        let ended = self.journal.end_run(run_id, outcome, Some(message))?;
        Ok(RunReport {
            op,
            summary,
            outcome,
            interrupted_because: None,
            verification,
            reopened,
            not_done: self.kinds_not_done()?,
            next: self.next_action()?,
            took: started.elapsed(),
            journal_head: ended.journal_head,
        })
    }

    /// A step confirmed earlier whose execution the verification found out of its target state
    /// (started again behind dmm's back, restored by an API restart) is reopened, so that running
    /// the same command again sends its request again instead of reporting the same mismatch.
    fn reopen_mismatches(&self, run_id: u64, v: &Verification) -> Result<usize, JournalError> {
        let op = self.selection.op;
        let keys: Vec<(StepKey, String)> = v
            .items
            .iter()
            .filter(|i| matches!(i.finding, Finding::StillRunning | Finding::NotRunning))
            .map(|i| {
                let key = StepKey {
                    op,
                    kind: i.kind,
                    execution: i.execution.clone(),
                };
                (key, format!("verification found it {}", i.detail))
            })
            .collect();
        if keys.is_empty() {
            return Ok(0);
        }
        self.journal.reopen(run_id, &keys)
    }

    /// What the run promised, as a snapshot the verification can check: the snapshot, plus the
    /// live executions (Jobs) this cycle recorded: after a shutdown, every one found and not
    /// left running; after a restore, the job each restart created. Also the ones left running
    /// (`--jobs leave`), which are neither checked nor drift.
    fn promised_with_live(&self) -> Result<(Snapshot, HashSet<(Kind, String)>), JournalError> {
        let op = self.selection.op;
        let mut promised = self.snapshot.snapshot.clone();
        let mut left = HashSet::new();
        let steps = self.journal.steps(Some(op))?;
        for &kind in Kind::LIVE {
            let mut entries = Vec::new();
            for step in steps
                .iter()
                .filter(|s| s.key.kind == kind && s.cycle >= self.plan.cycle)
            {
                match (op, &step.phase) {
                    // Left running on request; a run that stops Jobs promises them stopped
                    // too, whatever an earlier run chose.
                    (Operation::Shutdown, StepPhase::Skipped(_))
                        if self.options.jobs == JobsMode::Leave =>
                    {
                        left.insert((kind, step.key.execution.clone()));
                    }
                    (Operation::Shutdown, _) => entries.push(entry_of(step)),
                    (Operation::Restore, StepPhase::Confirmed) => {
                        if let Some(new_id) = &step.effect {
                            let mut entry = entry_of(step);
                            if let Some(id) = entry.id.as_object_mut() {
                                id.insert("_id".into(), new_id.clone().into());
                            }
                            entries.push(entry);
                        }
                    }
                    (Operation::Restore, _) => {}
                }
            }
            promised.set(kind, entries);
        }
        Ok((promised, left))
    }

    /// The kinds of the snapshot this operation has not finished, whatever this run covered.
    fn kinds_not_done(&self) -> Result<Vec<Kind>, JournalError> {
        let steps = self.journal.steps(Some(self.selection.op))?;
        Ok(kinds_not_done(
            self.selection.op,
            &self.snapshot.snapshot,
            &steps,
            self.plan.cycle,
        ))
    }

    /// What to do next, from the journal as the run left it (the same decision `status` makes).
    fn next_action(&self) -> Result<NextAction, JournalError> {
        Ok(next_action(
            &self.snapshot.snapshot,
            &self.journal.steps(None)?,
            &self.journal.runs()?,
            &self.journal.verifications()?,
        ))
    }

    fn interrupted(
        &self,
        run_id: u64,
        summary: RunSummary,
        cancel: &Cancel,
        started: Instant,
        when: &str,
    ) -> Result<RunReport, RunError> {
        let because = cancel.reason();
        let why = because
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        let ended = self.journal.end_run(
            run_id,
            RunOutcome::Interrupted,
            Some(format!(
                "interrupted{when}{why}; run the same command again to continue; {}",
                self.deployment.traffic()
            )),
        )?;
        Ok(RunReport {
            op: self.selection.op,
            summary,
            outcome: RunOutcome::Interrupted,
            interrupted_because: because,
            verification: VerificationOutcome::NotRun,
            reopened: 0,
            not_done: self.kinds_not_done()?,
            next: self.next_action()?,
            took: started.elapsed(),
            journal_head: ended.journal_head,
        })
    }

    fn record_verification(
        &self,
        run_id: u64,
        verification: &VerificationOutcome,
    ) -> Result<(), JournalError> {
        let (passed, detail) = match verification {
            VerificationOutcome::Checked(v) => {
                (v.passed, serde_json::to_value(v).unwrap_or_default())
            }
            // Nothing was checked: never recorded as passed.
            VerificationOutcome::Skipped => (false, serde_json::json!({"skipped": "--no-verify"})),
            VerificationOutcome::Unavailable(why) => (false, serde_json::json!({"error": why})),
            VerificationOutcome::NotRun => return Ok(()),
        };
        self.journal.record_verification(&VerificationRecord {
            run: Some(run_id),
            op: self.selection.op,
            time: now_rfc3339(),
            passed,
            detail,
            skipped: matches!(verification, VerificationOutcome::Skipped),
        })
    }
}

fn outcome_message(failed: usize, verification: &VerificationOutcome) -> String {
    let mut parts = Vec::new();
    if failed > 0 {
        parts.push(format!("{failed} step(s) failed"));
    }
    match verification {
        VerificationOutcome::Checked(v) if !v.passed => parts.push(format!(
            "verification found {} mismatch(es)",
            v.mismatches()
        )),
        VerificationOutcome::Checked(_) => parts.push("verified".into()),
        VerificationOutcome::Skipped => parts.push("verification skipped (--no-verify)".into()),
        VerificationOutcome::Unavailable(why) => parts.push(why.clone()),
        VerificationOutcome::NotRun => parts.push("not verified".into()),
    }
    parts.join("; ")
}

fn credentials_refused(e: &ApiError) -> String {
    format!("the credentials were refused mid-run ({e}); fix them, then run the same command again")
}

/// Findings on live executions that keep the promise after all: a Job left running on request
/// is not drift, and a restarted Job exists whatever its state (queued, running or ended): only
/// a restart that is gone breaks the promise.
fn accept_live_findings(v: &mut Verification, left: &HashSet<(Kind, String)>) {
    v.items.retain(|item| {
        let live = item.kind.source() == Source::Live;
        let left_running =
            item.finding == Finding::Drift && left.contains(&(item.kind, item.execution.clone()));
        let exists = live
            && v.expect == Expectation::Running
            && item.finding == Finding::NotRunning
            && item.detail != Observed::Gone.to_string();
        !(left_running || exists)
    });
    v.passed = !v.items.iter().any(|i| i.finding.is_mismatch());
}
