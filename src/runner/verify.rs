//! The verification pass: after the steps, ask the API whether the deployment really is in the
//! state the run promised.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::domino::{
    ApiError, Deployment, ExecutionKind, NoProgress, Observed, ScanOptions, ScanReport, scan,
};
use crate::snapshot::{Entry, Kind, Snapshot};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expectation {
    Stopped,
    Running,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    /// As promised.
    Ok,
    /// After a shutdown: the execution is not stopped.
    StillRunning,
    /// After a restore: the execution is not running.
    NotRunning,
    /// After a shutdown: running now, but not in the snapshot (started during maintenance).
    Drift,
    /// Not expected to run (workspaces, inactive model versions): listed with the reason.
    Skipped,
    /// The API could not tell.
    Unknown,
    /// After a restore: a job of a command dmm restarted, by dmm's identity, that no step
    /// claims (a late copy of a restart): a Job runs more than once.
    ExtraRun,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub kind: Kind,
    pub execution: String,
    pub name: String,
    pub owner: String,
    pub finding: Finding,
    /// What was seen, or why it was skipped.
    pub detail: String,
    /// The state seen, when one was (absent in records written before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<Observed>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub expect: Expectation,
    pub passed: bool,
    pub checked: usize,
    /// Every execution that is not simply `Ok`.
    pub items: Vec<Item>,
    /// Executions of live kinds (Jobs) an earlier pass of the same run found running that the
    /// journal did not have (launched after the plan's listing): the run planned a step for
    /// each, stopped them (or, with `--jobs leave`, recorded them as left), then checked again.
    /// The detail says which.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub swept: Vec<Item>,
}

impl Finding {
    /// Whether this finding breaks the run's promise (`Ok` and `Skipped` do not).
    pub fn is_mismatch(&self) -> bool {
        !matches!(self, Finding::Ok | Finding::Skipped)
    }
}

impl Verification {
    pub fn count(&self, finding: Finding) -> usize {
        self.items.iter().filter(|i| i.finding == finding).count()
    }

    /// Executions not as promised.
    pub fn mismatches(&self) -> usize {
        self.items
            .iter()
            .filter(|i| i.finding.is_mismatch())
            .count()
    }
}

/// A fresh scan of the deployment.
pub struct RunningNow<'a> {
    /// What runs now, as a snapshot takes it: the source of drift.
    pub running: &'a Snapshot,
    /// The state of every execution the scan saw, running or not, by kind and id. An
    /// execution the scan did not see is asked about on its own.
    pub observed: &'a BTreeMap<Kind, HashMap<String, Observed>>,
}

/// Compares the deployment with the snapshot for `kinds`. With a fresh scan, a shutdown check
/// reads states from it (no request per execution) and also reports drift.
pub async fn verify(
    snapshot: &Snapshot,
    apis: &[Arc<dyn ExecutionKind>],
    kinds: &[Kind],
    expect: Expectation,
    running_now: Option<RunningNow<'_>>,
    concurrency: usize,
) -> Verification {
    let mut items = Vec::new();
    let mut checked = 0;
    for api in apis.iter().filter(|a| kinds.contains(&a.kind())) {
        let kind = api.kind();
        let mut to_check: Vec<&Entry> = Vec::new();
        for entry in snapshot.entries(kind) {
            if expect == Expectation::Running
                && let Err(reason) = api.restartable(entry)
            {
                items.push(item(kind, entry, Finding::Skipped, reason, None));
                continue;
            }
            to_check.push(entry);
        }
        checked += to_check.len();
        let seen = running_now.as_ref().and_then(|now| now.observed.get(&kind));
        let states = observe_entries(api, &to_check, seen, concurrency).await;
        for (entry, state) in to_check.into_iter().zip(states) {
            let seen = state.as_ref().ok().cloned();
            let (finding, detail) = judge(expect, state);
            if finding != Finding::Ok {
                items.push(item(kind, entry, finding, detail, seen));
            }
        }
        if expect == Expectation::Stopped
            && let Some(now) = &running_now
        {
            let known: HashSet<&str> = snapshot
                .entries(kind)
                .iter()
                .filter_map(|e| e.key(kind).ok())
                .collect();
            for entry in now.running.entries(kind) {
                if entry.key(kind).is_ok_and(|k| !known.contains(k)) {
                    let detail =
                        "running now, but not in the snapshot (started during maintenance)";
                    items.push(item(kind, entry, Finding::Drift, detail.into(), None));
                }
            }
        }
    }
    let passed = !items.iter().any(|i| i.finding.is_mismatch());
    Verification {
        expect,
        passed,
        checked,
        items,
        swept: Vec::new(),
    }
}

/// Lists the deployment again and compares it with the snapshot for `kinds`. A shutdown check
/// scans the whole deployment, which also finds executions started during maintenance (drift);
/// a restore check reads the snapshot's executions. Only the listing failing ends it early.
pub async fn check_deployment(
    deployment: &Deployment,
    snapshot: &Snapshot,
    kinds: &[Kind],
    expect: Expectation,
    concurrency: usize,
) -> Result<Verification, ApiError> {
    check_and_scan(deployment, snapshot, kinds, expect, concurrency)
        .await
        .map(|(v, _)| v)
}

/// [`check_deployment`], with the scan a shutdown check took: what runs now, where a run finds
/// the entries of the drift it sweeps.
pub(crate) async fn check_and_scan(
    deployment: &Deployment,
    snapshot: &Snapshot,
    kinds: &[Kind],
    expect: Expectation,
    concurrency: usize,
) -> Result<(Verification, Option<ScanReport>), ApiError> {
    if expect == Expectation::Running {
        let v = verify(
            snapshot,
            &deployment.kinds,
            kinds,
            expect,
            None,
            concurrency,
        )
        .await;
        return Ok((v, None));
    }
    let options = ScanOptions {
        include_live: true,
        ..ScanOptions::default()
    };
    let report = scan(&deployment.client, &options, &NoProgress).await?;
    let now = RunningNow {
        running: &report.snapshot,
        observed: &report.observed,
    };
    let v = verify(
        snapshot,
        &deployment.kinds,
        kinds,
        expect,
        Some(now),
        concurrency,
    )
    .await;
    Ok((v, Some(report)))
}

fn item(
    kind: Kind,
    entry: &Entry,
    finding: Finding,
    detail: String,
    seen: Option<Observed>,
) -> Item {
    Item {
        kind,
        execution: entry.key(kind).unwrap_or_default().to_owned(),
        name: entry.name.clone(),
        owner: entry.owner.clone(),
        finding,
        detail,
        seen,
    }
}

fn judge(expect: Expectation, state: Result<Observed, ApiError>) -> (Finding, String) {
    match (expect, state) {
        (_, Err(e)) => (Finding::Unknown, e.to_string()),
        (Expectation::Stopped, Ok(Observed::Stopped | Observed::Gone)) => {
            (Finding::Ok, String::new())
        }
        (Expectation::Stopped, Ok(s)) => (Finding::StillRunning, s.to_string()),
        (Expectation::Running, Ok(Observed::Running)) => (Finding::Ok, String::new()),
        (Expectation::Running, Ok(s)) => (Finding::NotRunning, s.to_string()),
    }
}

/// States from the scan where it saw the execution; otherwise one listing for kinds that have
/// one, else one read per execution, `concurrency` at a time.
async fn observe_entries(
    api: &Arc<dyn ExecutionKind>,
    entries: &[&Entry],
    seen: Option<&HashMap<String, Observed>>,
    concurrency: usize,
) -> Vec<Result<Observed, ApiError>> {
    let kind = api.kind();
    let from_scan = |e: &Entry| seen.and_then(|m| e.key(kind).ok().and_then(|k| m.get(k).cloned()));
    let unseen = entries.iter().filter(|e| from_scan(e).is_none()).count();
    if unseen == 0 {
        return entries
            .iter()
            .map(|e| Ok(from_scan(e).expect("seen")))
            .collect();
    }
    let listing = match api.observe_all().await {
        Some(Ok(map)) => Some(map),
        // A failed listing falls back to single reads rather than failing the pass.
        Some(Err(_)) | None => None,
    };
    futures::stream::iter(entries.iter().map(|entry| {
        let known = from_scan(entry).or_else(|| {
            listing
                .as_ref()
                .and_then(|m| entry.key(kind).ok().and_then(|k| m.get(k).cloned()))
        });
        async move {
            match known {
                Some(state) => Ok(state),
                None => api.observe(entry).await,
            }
        }
    }))
    .buffered(concurrency.max(1))
    .collect()
    .await
}
