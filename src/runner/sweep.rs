//! The verification's sweep: what catches a Job launched after the plan's listing (a schedule
//! firing before it was paused, a user). A shutdown's verification lists the Jobs of every
//! project; a Job running that the journal does not have is drift of a live kind. A run that
//! stops Jobs plans a step for each (the same path as the Jobs stage, so each is journaled,
//! resumable and stopped at most once), drives them, and checks again; with `--jobs leave` they
//! are recorded as left. [`SWEEP_ROUNDS`] bounds how often: a deployment that keeps launching
//! Jobs faster than a round ends is reported as drift, not chased forever.

use std::collections::HashSet;

use tokio::time::Instant;

use super::live::LiveListing;
use super::options::JobsMode;
use super::verify::{Finding, Item, Verification};
use crate::domino::ScanReport;
use crate::snapshot::{Kind, Source};

/// Sweep-then-check rounds a verification makes at most. One is what a Job launched between
/// the plan and the pause needs; the others allow for one launched during the sweep's own
/// stops (by a schedule that was not in the snapshot, or a user).
pub(super) const SWEEP_ROUNDS: u32 = 3;

/// The drift of live kinds a verification found, as listings to plan from: the entries the
/// scan found (taken at `taken`), and what it saw of them.
pub(super) fn late_live(
    v: &Verification,
    scan: Option<&ScanReport>,
    taken: Instant,
) -> Vec<LiveListing> {
    let Some(scan) = scan else {
        return Vec::new();
    };
    let mut late = Vec::new();
    for &kind in Kind::LIVE {
        let drift: HashSet<&str> = v
            .items
            .iter()
            .filter(|i| i.kind == kind && i.finding == Finding::Drift)
            .map(|i| i.execution.as_str())
            .collect();
        if drift.is_empty() {
            continue;
        }
        let entries: Vec<_> = scan
            .snapshot
            .entries(kind)
            .iter()
            .filter(|e| e.key(kind).is_ok_and(|k| drift.contains(k)))
            .cloned()
            .collect();
        if !entries.is_empty() {
            late.push(LiveListing {
                kind,
                entries,
                taken,
            });
        }
    }
    late
}

/// The findings a sweep acted on, as the verification keeps them: what was found, and what the
/// run did with each.
pub(super) fn swept_items(v: &Verification, late: &[LiveListing], jobs: JobsMode) -> Vec<Item> {
    let done = match jobs {
        JobsMode::Leave => "left running (--jobs leave)",
        JobsMode::Stop | JobsMode::Wait(_) => "a stop step planned and driven in this run",
    };
    v.items
        .iter()
        .filter(|i| i.finding == Finding::Drift && i.kind.source() == Source::Live)
        .filter(|i| {
            late.iter().any(|l| {
                l.kind == i.kind && l.entries.iter().any(|e| e.key(i.kind).is_ok_and(|k| k == i.execution))
            })
        })
        .map(|i| Item {
            detail: format!(
                "running at the verification, not in the journal (launched after the plan's listing); {done}"
            ),
            ..i.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::verify::Expectation;
    use crate::snapshot::{Entry, Snapshot};

    fn item(kind: Kind, id: &str, finding: Finding) -> Item {
        Item {
            kind,
            execution: id.into(),
            name: id.into(),
            owner: "o".into(),
            finding,
            detail: String::new(),
            seen: None,
        }
    }

    #[test]
    fn only_live_drift_the_scan_can_name_is_swept() {
        let mut running = Snapshot::new();
        let job = |id: &str| Entry {
            id: serde_json::json!({"_id": id, "projectId": "p"}),
            name: id.into(),
            owner: "o".into(),
        };
        running.set(Kind::Job, vec![job("late"), job("known")]);
        let scan = ScanReport {
            snapshot: running,
            ..ScanReport::default()
        };
        let v = Verification {
            expect: Expectation::Stopped,
            passed: false,
            checked: 1,
            items: vec![
                item(Kind::Job, "late", Finding::Drift),
                item(Kind::Job, "known", Finding::StillRunning),
                item(Kind::App, "app", Finding::Drift),
                item(Kind::Job, "unlisted", Finding::Drift),
            ],
            swept: Vec::new(),
        };
        let late = late_live(&v, Some(&scan), Instant::now());
        assert_eq!(late.len(), 1);
        let ids: Vec<&str> = late[0]
            .entries
            .iter()
            .map(|e| e.key(Kind::Job).unwrap())
            .collect();
        assert_eq!(
            ids,
            ["late"],
            "a Job the journal has is reopened, not swept"
        );
        assert!(
            late_live(&v, None, Instant::now()).is_empty(),
            "a restore check has no scan"
        );
        let swept = swept_items(&v, &late, JobsMode::Leave);
        assert_eq!(swept.len(), 1);
        assert!(
            swept[0].detail.contains("left running"),
            "{}",
            swept[0].detail
        );
    }
}
