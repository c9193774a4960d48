//! A run's life, owned by [`Prepared::execute`]: the run record from beginning to end, the
//! steps driven (`engine.rs`), the drain after an interrupt, the verification pass and its
//! record (`promise.rs`), and the report with the next action.

use std::sync::Arc;
use std::time::Instant;

use super::cancel::Cancel;
use super::engine::{LiveSource, RunScope, drive_steps};
use super::error::RunError;
use super::next::{NextAction, next_action};
use super::options::JobsMode;
use super::plan::{kinds_in_order, kinds_not_done};
use super::prepare::Prepared;
use super::promise::accept_live_findings;
use super::report::{Reporter, RunReport, VerificationOutcome};
use super::stats::RunStats;
use super::summary::RunSummary;
use super::sweep::{SWEEP_ROUNDS, late_live, swept_items};
use super::verify::{Expectation, Verification, check_and_scan};
use super::window::Window;
use crate::domino::{ApiError, ScanReport};
use crate::journal::{JournalError, JournalRead, Operation, RunOutcome, RunStart};
use crate::snapshot::Kind;

impl Prepared {
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
                    options: self.options.recorded_options.to_value(),
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
        reporter.run_finished();
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
        let stats = Arc::new(RunStats::default());
        reporter.run_began(&stats);
        // Intents for every step are durable before the first request leaves.
        let records = self.journal.plan(run_id, self.planned.clone())?;
        let scope = RunScope {
            journal: &self.journal,
            run_id,
            cycle: self.plan.cycle,
            snapshot: &self.snapshot.snapshot,
            deployment: &self.deployment,
            selection: &self.selection,
            options: &self.options,
            cancel,
            reporter,
            stats: &stats,
            listings: &self.live_listings,
        };
        let steps = drive_steps(&scope, records, LiveSource::Stages);
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
        let mut summary =
            RunSummary::read(&self.journal, run_id, &self.selection, self.plan.cycle)?;
        if drained || cancel.is_cancelled() || summary.unfinished() > 0 {
            return self.interrupted(run_id, summary, cancel, started, "");
        }

        let verification = if self.options.verify {
            match self
                .verification_pass(&scope, &mut summary, started)
                .await?
            {
                Pass::Checked(outcome) => outcome,
                Pass::Interrupted(report) => return Ok(*report),
            }
        } else {
            VerificationOutcome::Skipped
        };
        let mut verification = verification;
        if let VerificationOutcome::Checked(v) = &mut verification {
            self.check_extra_runs(v).await?;
        }
        reporter.verification_ended(&verification);
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
            window: self.window()?,
            took: started.elapsed(),
            journal_head: ended.journal_head,
        })
    }

    /// The verification pass, again after sweeping Jobs launched after the plan's listing (at
    /// most [`SWEEP_ROUNDS`] times); a signal, or credentials refused, interrupt it.
    async fn verification_pass(
        &self,
        scope: &RunScope<'_>,
        summary: &mut RunSummary,
        started: Instant,
    ) -> Result<Pass, RunError> {
        let (run_id, cancel, reporter) = (scope.run_id, scope.cancel, scope.reporter);
        let mut swept = Vec::new();
        let mut round = 0;
        let checked = loop {
            reporter.verification_started();
            let taken = tokio::time::Instant::now();
            // Verification only reads: a signal abandons it at once, the next run verifies.
            let checked = tokio::select! {
                checked = self.check_once() => checked?,
                _ = cancel.cancelled() => {
                    return self.interrupted_verifying(run_id, summary, cancel, started);
                }
            };
            let (mut v, scan) = match checked {
                Ok(checked) => checked,
                Err(e) if e.is_unauthorized() => {
                    cancel.cancel_because(credentials_refused(&e));
                    return self.interrupted_verifying(run_id, summary, cancel, started);
                }
                Err(e) => {
                    break VerificationOutcome::Unavailable(format!(
                        "verification could not list the deployment: {e}"
                    ));
                }
            };
            let late = late_live(&v, scan.as_ref(), taken);
            if late.is_empty() || round == SWEEP_ROUNDS {
                v.swept = std::mem::take(&mut swept);
                break VerificationOutcome::Checked(v);
            }
            round += 1;
            let found: usize = late.iter().map(|l| l.entries.len()).sum();
            tracing::warn!(
                "verification: {found} Job(s) running that the journal did not have (launched after the plan's listing); {} (round {round} of {SWEEP_ROUNDS})",
                match self.options.jobs {
                    JobsMode::Leave => "recording them as left running (--jobs leave)",
                    JobsMode::Stop | JobsMode::Wait(_) => "stopping them, then checking again",
                }
            );
            swept.extend(swept_items(&v, &late, self.options.jobs));
            match drive_steps(scope, Vec::new(), LiveSource::Found(late)).await {
                Ok(()) => {}
                Err(RunError::Unauthorized(e)) => cancel.cancel_because(credentials_refused(&e)),
                Err(e) => return Err(e),
            }
            *summary = RunSummary::read(&self.journal, run_id, &self.selection, self.plan.cycle)?;
            if cancel.is_cancelled() || summary.unfinished() > 0 {
                return self.interrupted_verifying(run_id, summary, cancel, started);
            }
            if self.options.jobs == JobsMode::Leave {
                // Nothing was sent: what the pass found stands, less what is now left.
                let (_, left) = self.promised_with_live()?;
                accept_live_findings(&mut v, &left);
                v.swept = std::mem::take(&mut swept);
                break VerificationOutcome::Checked(v);
            }
        };
        Ok(Pass::Checked(checked))
    }

    /// One check of the deployment against the promise, the Jobs left running accepted.
    async fn check_once(
        &self,
    ) -> Result<Result<(Verification, Option<ScanReport>), ApiError>, JournalError> {
        let op = self.selection.op;
        let expect = match op {
            Operation::Shutdown => Expectation::Stopped,
            Operation::Restore => Expectation::Running,
        };
        let kinds = kinds_in_order(op, &self.selection.only);
        let (promised, left) = self.promised_with_live()?;
        let checked = check_and_scan(
            &self.deployment,
            &promised,
            &kinds,
            expect,
            self.options.concurrency,
        )
        .await;
        Ok(checked.map(|(mut v, scan)| {
            accept_live_findings(&mut v, &left);
            (v, scan)
        }))
    }

    fn interrupted_verifying(
        &self,
        run_id: u64,
        summary: &mut RunSummary,
        cancel: &Cancel,
        started: Instant,
    ) -> Result<Pass, RunError> {
        self.interrupted(
            run_id,
            std::mem::take(summary),
            cancel,
            started,
            " during verification",
        )
        .map(|r| Pass::Interrupted(Box::new(r)))
    }

    /// After a restore covering Jobs: a Job dmm restarted that runs more than once (a late copy
    /// of a restart) fails the verification ([`super::extra_runs`]). A listing that cannot be
    /// had leaves it unchecked, and says so.
    async fn check_extra_runs(&self, v: &mut Verification) -> Result<(), JournalError> {
        let jobs_covered =
            self.selection.only.is_empty() || self.selection.only.contains(&Kind::Job);
        if self.selection.op != Operation::Restore || !jobs_covered {
            return Ok(());
        }
        let steps = self.journal.steps(None)?;
        let api = self.deployment.kind(Kind::Job);
        match super::extra_runs::extra_runs(&steps, self.plan.cycle, &api).await {
            Ok(items) if !items.is_empty() => {
                tracing::warn!(
                    "verification: {} job(s) of a command dmm restarted run more than once",
                    items.len()
                );
                v.items.extend(items);
                v.passed = false;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(
                "verification could not list the projects of the restarted Jobs ({e}): whether one runs more than once was not checked"
            ),
        }
        Ok(())
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

    /// The window as the run left it (ended and recorded): what the frontends render.
    fn window(&self) -> Result<Window, JournalError> {
        Ok(Window::read(
            &self.journal.runs()?,
            &self.journal.steps(None)?,
            false,
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
            window: self.window()?,
            took: started.elapsed(),
            journal_head: ended.journal_head,
        })
    }
}

/// How a verification pass ended: checked (or not possible), or interrupted with the run's
/// report.
enum Pass {
    Checked(VerificationOutcome),
    Interrupted(Box<RunReport>),
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
