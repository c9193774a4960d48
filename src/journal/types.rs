//! The journal's records: [`RunRecord`], [`StepRecord`] and its [`StepPhase`], events,
//! verifications and notifications, as serialized in the redb tables.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::snapshot::Kind;

/// What a run does to the deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Shutdown,
    Restore,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Shutdown => "shutdown",
            Operation::Restore => "restore",
        }
    }

    /// The operation that undoes this one.
    pub fn opposite(self) -> Operation {
        match self {
            Operation::Shutdown => Operation::Restore,
            Operation::Restore => Operation::Shutdown,
        }
    }

    /// What the operation does to one execution: "stop" or "start".
    pub fn verb(self) -> &'static str {
        match self {
            Operation::Shutdown => "stop",
            Operation::Restore => "start",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one step (one stop or start of one execution) stands; the protocol is written down in
/// `runner::protocol` and `docs/architecture.md`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", content = "reason")]
pub enum StepPhase {
    /// Planned; no request sent yet.
    Pending,
    /// Durably recorded *before* the request leaves: on resume the outcome is unknown.
    Requested,
    /// The API answered 2xx; waiting to see the target state.
    Accepted,
    /// Seen in the target state (or gone, for a stop). Never touched again.
    Confirmed,
    /// Gave up; retried only with `--retry-failed`.
    Failed(String),
    /// Deliberately not done (not restartable, inactive version). Never touched again.
    Skipped(String),
}

impl StepPhase {
    pub fn name(&self) -> &'static str {
        match self {
            StepPhase::Pending => "Pending",
            StepPhase::Requested => "Requested",
            StepPhase::Accepted => "Accepted",
            StepPhase::Confirmed => "Confirmed",
            StepPhase::Failed(_) => "Failed",
            StepPhase::Skipped(_) => "Skipped",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            StepPhase::Failed(r) | StepPhase::Skipped(r) => Some(r),
            _ => None,
        }
    }

    /// Confirmed, Failed and Skipped end a step (Failed until `--retry-failed`).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            StepPhase::Confirmed | StepPhase::Failed(_) | StepPhase::Skipped(_)
        )
    }
}

impl fmt::Display for StepPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason() {
            Some(r) => write!(f, "{}({r})", self.name()),
            None => f.write_str(self.name()),
        }
    }
}

/// Identifies a step: one operation on one execution.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StepKey {
    pub op: Operation,
    pub kind: Kind,
    /// The execution's id, `Entry::key`.
    pub execution: String,
}

/// The journal's record of one step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub key: StepKey,
    /// Display name and owner, copied from the snapshot so the audit reads on its own.
    pub name: String,
    pub owner: String,
    pub phase: StepPhase,
    /// Requests sent for this step so far (stop or start calls), across runs.
    pub attempts: u32,
    pub last_error: Option<String>,
    pub last_http_status: Option<u16>,
    /// RFC 3339 UTC.
    pub created_at: String,
    pub updated_at: String,
    /// The maintenance cycle (shutdown, then restore) this step belongs to; journals written
    /// before cycles existed hold one cycle.
    #[serde(default = "first_cycle")]
    pub cycle: u32,
    /// For an execution the snapshot does not record (a Job found running at shutdown): what
    /// the calls need (its `_id` object), so the journal alone can stop or restart it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
    /// When the current attempt's request was recorded (RFC 3339 UTC): an effect that is not
    /// state-setting is looked for from then on before anything is sent again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<String>,
    /// What a start that is not state-setting created (the new Job's id), once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<String>,
    /// How a stopped execution whose restart is not state-setting (a Job) ended: whether by
    /// this step's stop, which alone makes it one to restart, or by itself. Recorded when the
    /// step is confirmed; absent in journals written before it was (then a step that sent a
    /// stop counts as stopped by it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<StepEnd>,
    /// What the phase alone does not tell and the account of the window must: a restart that
    /// someone else made, one that cannot be decided. Describes the current phase: every
    /// transition sets it anew.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<StepNote>,
}

#[cfg(test)]
impl StepRecord {
    /// A step for tests: attempted once, in cycle 1, with nothing else recorded.
    pub(crate) fn fixture(op: Operation, kind: Kind, execution: &str, phase: StepPhase) -> Self {
        StepRecord {
            key: StepKey {
                op,
                kind,
                execution: execution.into(),
            },
            name: execution.into(),
            owner: "o".into(),
            phase,
            attempts: 1,
            last_error: None,
            last_http_status: None,
            created_at: String::new(),
            updated_at: String::new(),
            cycle: 1,
            detail: None,
            requested_at: None,
            effect: None,
            ended: None,
            note: None,
        }
    }
}

/// What a step's phase alone does not say (see [`StepRecord::note`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "note", rename_all = "snake_case")]
pub enum StepNote {
    /// Someone else restarted the Job during the window (its new job is the step's `effect`):
    /// dmm sent nothing, so that it does not run twice.
    RestartedByOther {
        /// Who submitted that job, as the API names them.
        by: String,
    },
    /// Whether the restart ran cannot be told from what the API shows (a job of the same
    /// command that could be another's restart): a person must look; retrying cannot tell.
    Undecidable,
}

/// How an execution a stop step was confirmed for had ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepEnd {
    /// The API's word for its end (`Stopped`, `Succeeded`, `Failed`, ...), or `gone`.
    pub word: String,
    /// It ended because of a stop this step sent: the stop was accepted (or its answer was
    /// lost), and the execution then ended as stopped.
    pub by_this_stop: bool,
}

/// The cycle of records written before cycles were recorded.
pub fn first_cycle() -> u32 {
    1
}

/// A step to create in `Pending` (or directly `Skipped`) when a run plans its work.
#[derive(Clone, Debug, PartialEq)]
pub struct NewStep {
    pub key: StepKey,
    pub name: String,
    pub owner: String,
    pub phase: StepPhase,
    /// See [`StepRecord::detail`].
    pub detail: Option<serde_json::Value>,
}

/// One change of a step's phase, as the runner asks for it.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    pub run: u64,
    pub key: StepKey,
    pub to: StepPhase,
    /// The attempt this transition belongs to (the step's `attempts` after it).
    pub attempt: u32,
    pub http_status: Option<u16>,
    /// For the event log: what happened ("stop accepted", "gone (404)", "retrying").
    pub message: Option<String>,
    /// An error seen on this attempt; it becomes the step's `last_error`.
    pub error: Option<String>,
    /// What the request created, when it is not state-setting (see [`StepRecord::effect`]).
    pub effect: Option<String>,
    /// How the execution ended, with a confirmation (see [`StepRecord::ended`]).
    pub ended: Option<StepEnd>,
    /// See [`StepRecord::note`]; replaces the step's note.
    pub note: Option<StepNote>,
}

/// One line of the append-only audit log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    /// RFC 3339 UTC.
    pub time: String,
    pub run: u64,
    pub op: Operation,
    pub kind: Kind,
    pub execution: String,
    pub name: String,
    pub owner: String,
    pub from: String,
    pub to: String,
    pub attempt: u32,
    pub http_status: Option<u16>,
    pub message: Option<String>,
    /// The `sha256` of the event before this one, or the snapshot's SHA-256 for the first event
    /// (see `chain.rs`). Absent in events written before the chain existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_sha256: Option<String>,
    /// SHA-256 of this event's canonical encoding (its stored JSON without this field, so
    /// including `prev_sha256`): the link the next event carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Every step ended and verification matched (or was skipped on request).
    Completed,
    /// Every step ended, but some failed or verification found a mismatch.
    CompletedWithFailures,
    /// Stopped by a signal or an outage; run the same command again to continue.
    Interrupted,
    /// Ended by an error that is not about one execution (refused key, journal error).
    Aborted,
}

/// One invocation of `shutdown` or `restore`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: u64,
    pub op: Operation,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub tool_version: String,
    /// The options as given (never the API key).
    pub options: serde_json::Value,
    pub outcome: Option<RunOutcome>,
    pub message: Option<String>,
    /// The maintenance cycle the run belongs to: a shutdown after a completed restore starts
    /// the next one.
    #[serde(default = "first_cycle")]
    pub cycle: u32,
    /// Every notification sent about this run, and whether it arrived.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<NotificationRecord>,
    /// The pace the run's requests went at; absent in journals written before it was recorded,
    /// and until the run ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pace: Option<PaceRecord>,
    /// Which Domino the run talked to (`GET /version`), when it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domino_version: Option<String>,
    /// Whom the run acted as (`GET /v4/auth/principal`: name and id), when it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acting_as: Option<String>,
    /// The hash chain's head when the run ended. Also printed, notified and exported, so that a
    /// copy kept outside the file can show later that no newer event was removed. Absent in
    /// journals written before it was recorded, and in runs that did not end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal_head: Option<ChainHead>,
    /// Who ran it, from where: absent in journals written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<Operator>,
}

/// The operating-system user, host and process of a run (never a secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    pub user: String,
    pub host: String,
    pub pid: u32,
}

/// The head of the hash chain over the events (`chain.rs`): the last event's sequence number and
/// digest; before the first event, `0` and the snapshot's SHA-256, which the chain starts from.
/// Written `SEQ:SHA256`, as `dmm journal FILE --verify --expect-head` takes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    pub seq: u64,
    pub sha256: String,
}

impl fmt::Display for ChainHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, self.sha256)
    }
}

/// What a run is recorded with when it begins, besides its operation.
#[derive(Clone, Debug, Default)]
pub struct RunStart {
    /// The options as given (never the API key).
    pub options: serde_json::Value,
    pub cycle: u32,
    pub domino_version: Option<String>,
    pub acting_as: Option<String>,
}

/// One notification about a run (`--notify-url`): what it said and whether it was delivered.
/// The receiver's address is kept without its path or query, which may carry a secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRecord {
    pub time: String,
    /// `started`, `ended`, `stuck`.
    pub event: String,
    pub receiver: String,
    pub delivered: bool,
    /// The HTTP status or the error, for the audit.
    pub detail: String,
}

/// The request rate of one run, in requests per second.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaceRecord {
    /// `auto` (adaptive) or `fixed`.
    pub mode: String,
    pub initial: f64,
    /// Where the rate settled: for `auto`, the average rate in force at each request sent after
    /// the first pushback, or the final rate when there was none.
    pub settled: f64,
    pub min: f64,
    pub max: f64,
    /// `--max-rate` for `auto`; the rate itself for `fixed`.
    pub ceiling: f64,
    /// Answers that pushed back: 429, 503, 504, timeouts, connection errors.
    pub pushbacks: u64,
    /// Changes of the rate.
    #[serde(default)]
    pub changes: u64,
    /// The limit on requests in flight: where it settled (averaged as `settled` is) and its
    /// highest; 0 in records written before it was adaptive.
    #[serde(default)]
    pub in_flight_settled: f64,
    #[serde(default)]
    pub in_flight_max: u64,
}

/// The result of a verification pass. Its detail is stored as JSON so the runner owns its shape
/// (the runner's record module reads and writes it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerificationRecord {
    pub run: Option<u64>,
    pub op: Operation,
    pub time: String,
    /// The pass ran and found the deployment as promised. `false` when it was skipped.
    pub passed: bool,
    pub detail: serde_json::Value,
    /// The pass was skipped on request (`--no-verify`): nothing was checked. Absent in journals
    /// written before it was recorded, where a skipped pass reads from its detail.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
}

/// Journal-wide facts, written once when the journal is created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalMeta {
    pub schema_version: u32,
    /// Binds the journal to its snapshot: a journal is only ever used with this snapshot.
    pub snapshot_sha256: String,
    /// Where the snapshot was when the journal was created; for display only.
    pub snapshot_path: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// The dmm version that created the journal.
    pub tool_version: String,
}
