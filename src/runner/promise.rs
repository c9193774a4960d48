//! What a run promised, and what its verification found of it: the promise (the snapshot and
//! the live executions this cycle recorded), the findings that keep it after all, the record of
//! each pass, and the steps a pass reopens.

use std::collections::HashSet;

use super::engine::entry_of;
use super::options::JobsMode;
use super::prepare::Prepared;
use super::record::VerificationDetail;
use super::report::VerificationOutcome;
use super::verify::{Expectation, Finding, Verification};
use crate::domino::Observed;
use crate::journal::{
    JournalError, JournalRead, Operation, StepKey, StepPhase, VerificationRecord, now_rfc3339,
};
use crate::snapshot::{Kind, Snapshot, Source};

impl Prepared {
    /// A step confirmed earlier whose execution the verification found out of its target state
    /// (started again behind dmm's back, restored by an API restart) is reopened, so that running
    /// the same command again sends its request again instead of reporting the same mismatch.
    pub(super) fn reopen_mismatches(
        &self,
        run_id: u64,
        v: &Verification,
    ) -> Result<usize, JournalError> {
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
    pub(super) fn promised_with_live(
        &self,
    ) -> Result<(Snapshot, HashSet<(Kind, String)>), JournalError> {
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

    pub(super) fn record_verification(
        &self,
        run_id: u64,
        verification: &VerificationOutcome,
    ) -> Result<(), JournalError> {
        let (passed, detail) = match verification {
            VerificationOutcome::Checked(v) => (v.passed, VerificationDetail::Checked(v.clone())),
            // Nothing was checked: never recorded as passed.
            VerificationOutcome::Skipped => {
                (false, VerificationDetail::Skipped("--no-verify".into()))
            }
            VerificationOutcome::Unavailable(why) => {
                (false, VerificationDetail::Unavailable(why.clone()))
            }
            VerificationOutcome::NotRun => return Ok(()),
        };
        self.journal.record_verification(&VerificationRecord {
            run: Some(run_id),
            op: self.selection.op,
            time: now_rfc3339(),
            passed,
            detail: detail.to_value(),
            skipped: matches!(verification, VerificationOutcome::Skipped),
        })
    }
}

/// Findings on live executions that keep the promise after all: a Job left running on request
/// is not drift, and a restarted Job exists whatever its state (queued, running or ended): only
/// a restart that is gone breaks the promise.
pub(super) fn accept_live_findings(v: &mut Verification, left: &HashSet<(Kind, String)>) {
    v.items.retain(|item| {
        let live = item.kind.source() == Source::Live;
        let left_running =
            item.finding == Finding::Drift && left.contains(&(item.kind, item.execution.clone()));
        let exists = live
            && v.expect == Expectation::Running
            && item.finding == Finding::NotRunning
            && item.seen != Some(Observed::Gone);
        !(left_running || exists)
    });
    v.passed = !v.items.iter().any(|i| i.finding.is_mismatch());
}
