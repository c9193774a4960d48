//! After a restore that restarted Jobs: did any of them run more than once?
//!
//! A restart is sent only after its effect was looked for, but a copy of a request can land
//! later than any wait allows (a proxy that queues it while its client is killed, a backend
//! that takes minutes). Nothing in the steps would notice: each found or made its one job. So
//! the restore's verification lists, per project and command dmm restarted, the jobs started
//! by dmm's identity since dmm began restarting it, and any still running that no step claims
//! is a finding: the Job may run twice, and a person must look. Once it is stopped, the same
//! command run again verifies clean.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use super::engine::entry_of;
use super::restart::{STAMP_MARGIN_MS, rfc3339_ms, traces_of};
use super::verify::{Finding, Item};
use crate::domino::{ApiError, ExecutionKind};
use crate::journal::{Operation, StepNote, StepPhase, StepRecord};
use crate::snapshot::Source;

/// The jobs by dmm's identity, of a command dmm restarted in `cycle`, that no step claims.
pub(crate) async fn extra_runs(
    steps: &[StepRecord],
    cycle: u32,
    api: &Arc<dyn ExecutionKind>,
) -> Result<Vec<Item>, ApiError> {
    let live = |s: &&StepRecord| s.key.kind == api.kind() && s.key.kind.source() == Source::Live;
    let claimed: HashSet<&str> = steps
        .iter()
        .filter(live)
        .flat_map(|s| [Some(s.key.execution.as_str()), s.effect.as_deref()])
        .flatten()
        .collect();
    // Per project and command: the restart steps of this cycle.
    let mut groups: BTreeMap<String, Vec<&StepRecord>> = BTreeMap::new();
    for s in steps
        .iter()
        .filter(live)
        .filter(|s| s.key.op == Operation::Restore && s.cycle >= cycle)
    {
        let Some(detail) = &s.detail else {
            continue;
        };
        groups.entry(traces_of(detail)).or_default().push(s);
    }
    let mut items = Vec::new();
    for group in groups.values() {
        // Only a command dmm restarted: a copy of a restart it never made cannot land. And not
        // one whose restarts cannot be told: those already ask a person to look, and the jobs
        // found may well be theirs.
        if !group
            .iter()
            .any(|s| s.phase == StepPhase::Confirmed && s.effect.is_some())
            || group.iter().any(|s| s.note == Some(StepNote::Undecidable))
        {
            continue;
        }
        let Some(since) = group
            .iter()
            .filter(|s| s.attempts >= 1)
            .filter_map(|s| s.requested_at.as_deref().and_then(rfc3339_ms))
            .min()
        else {
            continue;
        };
        let first = group[0];
        let candidates = api
            .restart_candidates(&entry_of(first), since.saturating_sub(STAMP_MARGIN_MS))
            .await?;
        for c in candidates
            .iter()
            // One that has ended (stopped by the operator once told) runs no more.
            .filter(|c| c.by_me && !c.completed && c.submitted_ms >= since)
            .filter(|c| !claimed.contains(c.id.as_str()))
        {
            items.push(Item {
                kind: api.kind(),
                execution: c.id.clone(),
                name: c.title.clone().unwrap_or_else(|| first.name.clone()),
                owner: c.started_by.clone(),
                finding: Finding::ExtraRun,
                detail: "started by this identity since dmm restarted this command, and claimed by no step: a late copy of a restart (or someone using the same identity) runs a Job more than once; look at the project's jobs, and stop what should not run".into(),
                seen: None,
            });
        }
    }
    Ok(items)
}
