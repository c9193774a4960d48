//! What a run, a snapshot's scan and a verification pass record in the journal, typed.
//!
//! The journal stores these as JSON objects; the serialized field names are the keys journals
//! have been written with since 0.2.0, so every journal written since reads back (the
//! compatibility fixture in `tests/journal_compat.rs` proves it). Reading is lenient field by
//! field: a key that is missing, or that a later release wrote in another shape, reads as not
//! given rather than making the whole record unreadable.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::verify::Verification;
use crate::journal::VerificationRecord;
use crate::snapshot::Kind;

/// `--jobs`: what a shutdown does with running Jobs, as the run record keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobsFlag {
    Stop,
    Wait,
    Leave,
}

impl JobsFlag {
    /// The word the command line takes.
    pub fn word(self) -> &'static str {
        match self {
            JobsFlag::Stop => "stop",
            JobsFlag::Wait => "wait",
            JobsFlag::Leave => "leave",
        }
    }
}

/// `--rate-limit` as recorded: `"auto"`, a number of requests a second, or `null` (no limit).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RecordedRate {
    Auto,
    Fixed(f64),
}

impl Serialize for RecordedRate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RecordedRate::Auto => s.serialize_str("auto"),
            RecordedRate::Fixed(r) => s.serialize_f64(*r),
        }
    }
}

impl<'de> Deserialize<'de> for RecordedRate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) if s == "auto" => Ok(RecordedRate::Auto),
            Value::Number(n) => n
                .as_f64()
                .map(RecordedRate::Fixed)
                .ok_or_else(|| serde::de::Error::custom("a rate that is not a number")),
            other => Err(serde::de::Error::custom(format!("a rate limit of {other}"))),
        }
    }
}

/// The options of a shutdown or restore, as its run record keeps them (never the API key).
///
/// Only what was given: `None` is a flag left at its default, or a key an older journal lacks.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RecordedOptions {
    /// The snapshot file, as given.
    pub snapshot: Option<String>,
    /// `-s/--service`: only this kind.
    pub service: Option<Kind>,
    pub concurrency: Option<u32>,
    /// `None`: no limit.
    pub rate_limit: Option<RecordedRate>,
    /// The ceiling of an adaptive rate.
    pub max_rate: Option<f64>,
    pub max_failures: Option<u32>,
    pub grace_period_s: Option<u64>,
    pub retry_failed: bool,
    /// `false` for `--no-verify`; `None` in a record that does not say.
    pub verify: Option<bool>,
    pub jobs: Option<JobsFlag>,
    pub jobs_grace_s: Option<u64>,
    pub restart_jobs: bool,
    /// `--deadline`, RFC 3339.
    pub deadline: Option<String>,
    /// The deployment's URL (without credentials), added when the run is prepared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// `--change-id`: the change the run was made under; absent when none was given, as in
    /// every journal written before it was recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_id: Option<String>,
}

impl RecordedOptions {
    /// The options in a run record. What is missing or unreadable reads as not given.
    pub fn read(recorded: &Value) -> RecordedOptions {
        let field = Fields(recorded);
        RecordedOptions {
            snapshot: field.get("snapshot"),
            service: field.get("service"),
            concurrency: field.get("concurrency"),
            rate_limit: field.get("rate_limit"),
            max_rate: field.get("max_rate"),
            max_failures: field.get("max_failures"),
            grace_period_s: field.get("grace_period_s"),
            retry_failed: field.get("retry_failed").unwrap_or(false),
            verify: field.get("verify"),
            jobs: field.get("jobs"),
            jobs_grace_s: field.get("jobs_grace_s"),
            restart_jobs: field.get("restart_jobs").unwrap_or(false),
            deadline: field.get("deadline"),
            host: field.get("host"),
            change_id: field.get("change_id"),
        }
    }

    /// As the journal stores it.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// What a snapshot's scan records beside the snapshot file: when, from where, and what it could
/// not read. The snapshot file itself holds only the earlier tool's keys.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ScanRecord {
    /// RFC 3339 UTC.
    pub taken_at: Option<String>,
    /// The deployment's URL (without credentials).
    pub host: Option<String>,
    pub tool_version: Option<String>,
    pub projects: Option<usize>,
    /// Executions found, by kind label.
    pub found: BTreeMap<String, usize>,
    /// Records examined, by kind label.
    pub examined: BTreeMap<String, usize>,
    /// Records or listings that could not be read, one line each.
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
    pub requests: Option<u64>,
    /// Each listed project's `owner/name` by its id; empty in journals written before it was
    /// recorded (the report then shows what the Workspaces' names tell, or the id).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub project_names: BTreeMap<String, String>,
    /// The project id of each execution whose snapshot `_id` names none (a Model API version's
    /// holds its model), by kind label and execution id: the project it was listed under. The
    /// snapshot file cannot carry it (the earlier tool's reader takes no other key). Empty in
    /// journals written before it was recorded (the report then shows `-`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub execution_projects: BTreeMap<String, BTreeMap<String, String>>,
    /// `--change-id` of the snapshot; absent when none was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_id: Option<String>,
}

impl ScanRecord {
    /// The scan record of a journal. What is missing or unreadable reads as not recorded.
    pub fn read(recorded: &Value) -> ScanRecord {
        let field = Fields(recorded);
        ScanRecord {
            taken_at: field.get("taken_at"),
            host: field.get("host"),
            tool_version: field.get("tool_version"),
            projects: field.get("projects"),
            found: field.get("found").unwrap_or_default(),
            examined: field.get("examined").unwrap_or_default(),
            problems: field.get("problems").unwrap_or_default(),
            warnings: field.get("warnings").unwrap_or_default(),
            requests: field.get("requests"),
            project_names: field.get("project_names").unwrap_or_default(),
            execution_projects: field.get("execution_projects").unwrap_or_default(),
            change_id: field.get("change_id"),
        }
    }

    /// As the journal stores it.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A step's detail: the execution's identity as its kind's calls need it (a Job's project,
/// number, title and command), and what the runner marks on it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepDetail {
    /// The identity as listed, without the runner's marks.
    pub identity: Map<String, Value>,
    /// A restart step whose Job's stop never finished (the shutdown's step failed or was
    /// interrupted): how the Job ended is looked at before it is restarted.
    pub stop_unfinished: bool,
}

/// The key of [`StepDetail::stop_unfinished`] in the journal.
const STOP_UNFINISHED: &str = "stopUnfinished";

impl StepDetail {
    /// A step's detail as recorded; `None` when the step has none.
    pub fn read(detail: Option<&Value>) -> Option<StepDetail> {
        let mut identity = detail?.as_object()?.clone();
        let stop_unfinished = identity.remove(STOP_UNFINISHED) == Some(Value::Bool(true));
        Some(StepDetail {
            identity,
            stop_unfinished,
        })
    }

    /// A text field of the identity (`projectId`, `command`, `title`, ...).
    pub fn text(&self, name: &str) -> Option<&str> {
        self.identity.get(name).and_then(Value::as_str)
    }

    /// The identity as the kind's calls take it.
    pub fn identity_value(&self) -> Value {
        Value::Object(self.identity.clone())
    }

    /// The identity a step's calls take: the one recorded in its detail, or, for a step
    /// recorded without one, its execution id alone.
    pub fn identity_or_id(detail: Option<&Value>, execution: &str) -> Value {
        StepDetail::read(detail).map_or_else(
            || {
                let mut id = Map::new();
                id.insert("_id".into(), Value::String(execution.to_owned()));
                Value::Object(id)
            },
            |d| d.identity_value(),
        )
    }

    /// What identifies a Job, as `dmm journal` shows it beside each of its events.
    pub fn job(&self) -> JobIdentity {
        let text = |name| self.text(name).map(str::to_owned);
        JobIdentity {
            project_id: text("projectId"),
            number: self.identity.get("number").cloned().unwrap_or(Value::Null),
            title: text("title"),
            command: text("command"),
        }
    }

    /// As the journal stores it.
    pub fn to_value(&self) -> Value {
        let mut map = self.identity.clone();
        if self.stop_unfinished {
            map.insert(STOP_UNFINISHED.into(), Value::Bool(true));
        }
        Value::Object(map)
    }
}

/// What identifies a Job (it is not in the snapshot): its project, its number within it (a
/// number or a string, as the API gave it), its title and command.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JobIdentity {
    pub project_id: Option<String>,
    pub number: Value,
    pub title: Option<String>,
    pub command: Option<String>,
}

/// What a verification pass recorded as its detail: the findings of the pass, or why nothing
/// was checked.
#[derive(Clone, Debug, PartialEq)]
pub enum VerificationDetail {
    /// The pass ran; its findings.
    Checked(Verification),
    /// Nothing was checked, on request (`{"skipped": why}`).
    Skipped(String),
    /// The pass could not run (`{"error": why}`).
    Unavailable(String),
    /// Recorded in a shape this dmm does not read.
    Unreadable,
}

/// The keys of [`VerificationDetail::Skipped`] and [`VerificationDetail::Unavailable`].
const SKIPPED: &str = "skipped";
const ERROR: &str = "error";

impl VerificationDetail {
    /// A verification's detail as recorded.
    pub fn read(detail: &Value) -> VerificationDetail {
        let text = |v: &Value| v.as_str().map(str::to_owned);
        if let Some(why) = detail.get(SKIPPED) {
            VerificationDetail::Skipped(text(why).unwrap_or_else(|| "skipped on request".into()))
        } else if let Some(why) = detail.get(ERROR) {
            VerificationDetail::Unavailable(text(why).unwrap_or_default())
        } else {
            Verification::deserialize(detail)
                .map_or(VerificationDetail::Unreadable, VerificationDetail::Checked)
        }
    }

    /// As the journal stores it.
    pub fn to_value(&self) -> Value {
        let note = |key: &str, why: &str| {
            let mut map = Map::new();
            map.insert(key.into(), Value::String(why.to_owned()));
            Value::Object(map)
        };
        match self {
            VerificationDetail::Checked(v) => serde_json::to_value(v).unwrap_or(Value::Null),
            VerificationDetail::Skipped(why) => note(SKIPPED, why),
            VerificationDetail::Unavailable(why) => note(ERROR, why),
            VerificationDetail::Unreadable => Value::Null,
        }
    }
}

/// What a recorded verification pass came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationState {
    Passed,
    Failed,
    /// Skipped on request: the deployment was not checked.
    Skipped,
}

impl VerificationState {
    /// Passed, failed or skipped. Journals written before skipping had its own flag recorded a
    /// skipped pass as `passed` with `{"skipped": ...}` as its detail: that reads as skipped.
    pub fn of(v: &VerificationRecord) -> VerificationState {
        let skipped = matches!(
            VerificationDetail::read(&v.detail),
            VerificationDetail::Skipped(_)
        );
        if v.skipped || skipped {
            VerificationState::Skipped
        } else if v.passed {
            VerificationState::Passed
        } else {
            VerificationState::Failed
        }
    }
}

/// Reads one key of a recorded object at a time, so that one odd field costs only itself.
struct Fields<'a>(&'a Value);

impl Fields<'_> {
    fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        match self.0.get(key)? {
            Value::Null => None,
            v => T::deserialize(v).ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The options exactly as 0.2.0 wrote them (its `json!` in the command line's options).
    fn written_by_0_2_0() -> Value {
        json!({
            "snapshot": "/tmp/snap.json",
            "service": "Model API Version",
            "concurrency": 16,
            "rate_limit": "auto",
            "max_rate": 200.0,
            "max_failures": 3,
            "grace_period_s": 600,
            "retry_failed": true,
            "verify": false,
            "jobs": "wait",
            "jobs_grace_s": 120,
            "restart_jobs": false,
            "deadline": "2026-12-07T06:00:00Z",
            "host": "https://domino.example.com",
        })
    }

    #[test]
    fn options_written_by_0_2_0_read_and_write_back_the_same() {
        let old = written_by_0_2_0();
        let read = RecordedOptions::read(&old);
        assert_eq!(read.service, Some(Kind::ModelApiVersion));
        assert_eq!(read.rate_limit, Some(RecordedRate::Auto));
        assert_eq!(read.jobs, Some(JobsFlag::Wait));
        assert_eq!(read.jobs_grace_s, Some(120));
        assert_eq!(read.verify, Some(false));
        assert!(read.retry_failed && !read.restart_jobs);
        assert_eq!(read.to_value(), old, "the same keys and values as before");
        assert_eq!(read.change_id, None);
    }

    #[test]
    fn a_change_reference_is_kept_and_absent_without_one() {
        let mut old = written_by_0_2_0();
        old["change_id"] = json!("CHG0012345");
        let read = RecordedOptions::read(&old);
        assert_eq!(read.change_id.as_deref(), Some("CHG0012345"));
        assert_eq!(read.to_value(), old);
        let scan = ScanRecord::read(&json!({"change_id": "CHG1"}));
        assert_eq!(scan.change_id.as_deref(), Some("CHG1"));
        assert!(ScanRecord::default().to_value().get("change_id").is_none());
    }

    #[test]
    fn a_fixed_or_no_rate_and_absent_flags_keep_their_shape() {
        let old = json!({
            "snapshot": "s.json", "service": null, "concurrency": 8, "rate_limit": 50.0,
            "max_rate": null, "max_failures": 3, "grace_period_s": 600, "retry_failed": false,
            "verify": true, "jobs": null, "jobs_grace_s": null, "restart_jobs": true,
            "deadline": null,
        });
        let read = RecordedOptions::read(&old);
        assert_eq!(read.rate_limit, Some(RecordedRate::Fixed(50.0)));
        assert!(read.restart_jobs);
        assert_eq!(read.to_value(), old);
        let unlimited = RecordedOptions::read(&json!({"rate_limit": null}));
        assert_eq!(unlimited.rate_limit, None);
    }

    #[test]
    fn an_odd_field_costs_only_itself() {
        let read = RecordedOptions::read(&json!({
            "service": "no such kind", "jobs": 7, "restart_jobs": true, "concurrency": "many"
        }));
        assert_eq!(read.service, None);
        assert_eq!(read.jobs, None);
        assert_eq!(read.concurrency, None);
        assert!(read.restart_jobs);
        assert_eq!(
            RecordedOptions::read(&Value::Null),
            RecordedOptions::default()
        );
    }

    #[test]
    fn a_scan_record_reads_back_its_keys() {
        let old = json!({
            "taken_at": "2026-12-07T05:00:00Z", "host": "https://d.example", "tool_version": "0.2.0",
            "projects": 4, "found": {"App": 2}, "examined": {"App": 3},
            "problems": ["one listing"], "warnings": [], "requests": 17,
        });
        let read = ScanRecord::read(&old);
        assert_eq!(read.taken_at.as_deref(), Some("2026-12-07T05:00:00Z"));
        assert_eq!(read.problems.len(), 1);
        assert_eq!(read.to_value(), old);
    }

    #[test]
    fn a_steps_mark_is_kept_apart_from_the_identity() {
        let stored = json!({"projectId": "p1", "command": "train.py", "stopUnfinished": true});
        let detail = StepDetail::read(Some(&stored)).unwrap();
        assert!(detail.stop_unfinished);
        assert_eq!(detail.text("command"), Some("train.py"));
        assert_eq!(
            detail.identity_value(),
            json!({"projectId": "p1", "command": "train.py"})
        );
        assert_eq!(detail.to_value(), stored);
        let plain = StepDetail::read(Some(&json!({"projectId": "p1"}))).unwrap();
        assert!(!plain.stop_unfinished);
        assert_eq!(StepDetail::read(None), None);
    }
    fn verification(passed: bool, detail: Value) -> VerificationRecord {
        serde_json::from_value(json!({
            "run": 1, "op": "shutdown", "time": "2024-01-01T00:00:00Z",
            "passed": passed, "detail": detail,
        }))
        .unwrap()
    }

    #[test]
    fn a_skipped_verification_reads_as_skipped_in_old_and_new_journals() {
        let old = verification(true, json!({"skipped": "--no-verify"}));
        assert_eq!(VerificationState::of(&old), VerificationState::Skipped);
        let passed = verification(
            true,
            json!({"expect": "stopped", "passed": true,
            "checked": 0, "items": []}),
        );
        assert_eq!(VerificationState::of(&passed), VerificationState::Passed);
        assert!(!serde_json::to_string(&passed).unwrap().contains("skipped"));
        let failed = verification(false, json!({"error": "the API did not answer"}));
        assert_eq!(VerificationState::of(&failed), VerificationState::Failed);
    }

    #[test]
    fn a_verifications_detail_reads_back_its_keys() {
        for stored in [
            json!({"skipped": "--no-verify"}),
            json!({"error": "listing apps: 503"}),
            json!({"expect": "running", "passed": false, "checked": 2, "items": [{
                "kind": "App", "execution": "a1", "name": "app", "owner": "o",
                "finding": "not_running", "detail": "stopped", "seen": "stopped",
            }]}),
        ] {
            let read = VerificationDetail::read(&stored);
            assert_ne!(read, VerificationDetail::Unreadable, "{stored}");
            assert_eq!(read.to_value(), stored);
        }
        let VerificationDetail::Checked(v) =
            VerificationDetail::read(&json!({"expect": "stopped", "passed": true,
            "checked": 1, "items": []}))
        else {
            panic!("a pass's findings read as findings");
        };
        assert!(v.passed);
        assert_eq!(
            VerificationDetail::read(&json!({"still_running": []})),
            VerificationDetail::Unreadable
        );
        assert_eq!(
            VerificationDetail::read(&json!({"skipped": true})),
            VerificationDetail::Skipped("skipped on request".into())
        );
    }
}
