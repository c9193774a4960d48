//! The simulator's state as tests and `/__sim/state` see it.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::model::{AppStart, JobStop};
use crate::Kind;

/// One execution, now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionState {
    /// `Kind::label()`: `"App"`, `"Model API Version"`, `"Workspace"`, `"Scheduled Job"`.
    pub kind: Kind,
    pub id: String,
    pub project_id: String,
    /// The name a snapshot records (`"<model> #<n>"`, `"<project>/<workspace>"`, ...).
    pub name: String,
    pub owner: String,
    /// The API's status string (app `status`, version `deploymentStatus.name`,
    /// `workspaceState`, or `Active`/`Paused` for scheduled jobs).
    pub status: String,
    /// Settled in the running state.
    pub running: bool,
    /// Settled in a stopped state.
    pub stopped: bool,
    /// Running or launching: a snapshot taken now should record it.
    pub running_or_launching: bool,
    /// Between states; `stuck` when it will never arrive.
    pub in_motion: bool,
    pub stuck: bool,
    pub stop_requests: u64,
    pub start_requests: u64,
    /// Model versions: their model, and whether they are its active version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    /// Apps: the body of every start request received.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub app_starts: Vec<AppStart>,
    /// Jobs: their number, state and every stop and restart received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobState>,
}

/// What a Job shows beyond the common fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobState {
    /// Its number in its project.
    pub number: u64,
    /// `statuses.isCompleted`: it has ended.
    pub completed: bool,
    /// `statuses.executionStatus`.
    pub execution_status: String,
    /// Every stop request, with its `commitResults`.
    pub stops: Vec<JobStop>,
    /// The id of the job its first restart created.
    pub restarted_as: Option<String>,
    /// How many times it was restarted (a maintenance tool restarts a job at most once).
    pub restarts: u64,
    /// The ids of the jobs every restart created, in order.
    pub restart_ids: Vec<String>,
    /// The job this one is a restart of.
    pub restart_of: Option<String>,
    /// It had ended before the simulator started: nothing should stop or restart it.
    pub ended_at_start: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimState {
    /// Milliseconds since the simulator started.
    pub now_ms: u64,
    pub executions: Vec<ExecutionState>,
}

impl SimState {
    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &ExecutionState> {
        self.executions.iter().filter(move |e| e.kind == kind)
    }

    pub fn get(&self, kind: Kind, id: &str) -> Option<&ExecutionState> {
        self.of_kind(kind).find(|e| e.id == id)
    }

    /// How many times the Job `id` was restarted (0 for an unknown id).
    pub fn restarts_of(&self, id: &str) -> u64 {
        self.get(Kind::Job, id)
            .and_then(|e| e.job.as_ref())
            .map_or(0, |j| j.restarts)
    }

    /// Running or launching executions of `kind`: what a snapshot should find.
    pub fn running_ids(&self, kind: Kind) -> BTreeSet<String> {
        self.of_kind(kind)
            .filter(|e| e.running_or_launching)
            .map(|e| e.id.clone())
            .collect()
    }
}
