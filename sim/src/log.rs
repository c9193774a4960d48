//! The request log: per-route counts, fault counts, and every mutating request with its fate.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Kind;

/// What became of a mutating request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// An answer was sent (`status` says which).
    Answered,
    /// The connection was closed before the request was handled: no effect.
    Dropped,
    /// The request was applied, then the connection was closed with no answer.
    AnswerLost,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MutationRecord {
    /// Milliseconds since the simulator started.
    pub at_ms: u64,
    pub method: String,
    pub path: String,
    pub kind: Option<Kind>,
    pub execution_id: Option<String>,
    pub outcome: Outcome,
    /// The status answered (`None` when no answer was sent).
    pub status: Option<u16>,
}

/// A request a real Domino would serve but a maintenance tool must never send (another hardware
/// tier or other volumes on an app start, a start of a version that is not its model's active
/// one, a stop of a workspace that never ran, a scheduled job PUT that changes more than
/// `isPaused`). The simulator serves it, and records it here for tests to assert on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Violation {
    /// Milliseconds since the simulator started.
    pub at_ms: u64,
    /// What was wrong with it, in a sentence.
    pub what: String,
    pub kind: Kind,
    pub execution_id: String,
    /// `METHOD /path` as received.
    pub request: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {} (request {})",
            self.kind, self.execution_id, self.what, self.request
        )
    }
}

/// A start the simulator refused with 400 because its execution was already starting or
/// running, as Domino refuses it: a resumed run that sends one did not look first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefusedStart {
    /// Milliseconds since the simulator started.
    pub at_ms: u64,
    pub kind: Kind,
    pub execution_id: String,
    /// `METHOD /path` as received.
    pub request: String,
    /// The state the execution showed when the start arrived.
    pub status: String,
}

impl std::fmt::Display for RefusedStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: start refused, it was {} (request {})",
            self.kind, self.execution_id, self.status, self.request
        )
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FaultCounts {
    pub errors: u64,
    pub rate_limited: u64,
    pub dropped: u64,
    pub answers_lost: u64,
    pub unauthorized: u64,
    pub forbidden: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RequestLog {
    /// Every request to a Domino route.
    pub total: u64,
    /// Keyed by `"METHOD /route/{pattern}"`.
    pub by_route: BTreeMap<String, u64>,
    pub faults: FaultCounts,
    pub mutations: Vec<MutationRecord>,
    /// Per second since the simulator started: the requests that arrived, and those answered
    /// with a success (what the deployment served cleanly). For a run's pace over time.
    pub per_second: BTreeMap<u64, SecondCount>,
}

/// One second of the request log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SecondCount {
    pub arrived: u64,
    /// Answered 2xx.
    pub clean: u64,
}

impl RequestLog {
    pub fn count(&self, method: &str, route: &str) -> u64 {
        self.by_route
            .get(&format!("{method} {route}"))
            .copied()
            .unwrap_or(0)
    }

    /// Mutations on one execution, in order.
    pub fn mutations_of<'a>(
        &'a self,
        kind: Kind,
        id: &'a str,
    ) -> impl Iterator<Item = &'a MutationRecord> + 'a {
        self.mutations
            .iter()
            .filter(move |m| m.kind == Some(kind) && m.execution_id.as_deref() == Some(id))
    }
}
