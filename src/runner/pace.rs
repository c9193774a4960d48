//! The pace a run's requests went at, from the client to the run's record in the journal.

use crate::domino::{Deployment, PaceReport};
use crate::journal::{Journal, JournalError, PaceRecord};

/// Records in the run's record where the client's rate settled, its lowest and highest, and
/// the pushbacks; nothing when the run's requests were not rate-limited.
pub(crate) fn record(
    journal: &Journal,
    run: u64,
    deployment: &Deployment,
) -> Result<(), JournalError> {
    match deployment.client.pace() {
        Some(report) => journal.record_pace(run, to_record(&report)).map(drop),
        None => Ok(()),
    }
}

fn to_record(r: &PaceReport) -> PaceRecord {
    let round = |x: f64| (x * 10.0).round() / 10.0;
    PaceRecord {
        mode: r.mode.to_string(),
        initial: round(r.initial),
        settled: round(r.settled),
        min: round(r.min),
        max: round(r.max),
        ceiling: round(r.ceiling),
        pushbacks: r.pushbacks,
        changes: r.changes,
        in_flight_settled: round(r.in_flight_settled),
        in_flight_max: r.in_flight_max as u64,
    }
}
