//! The scenario file: a deployment described in JSON, project by project.
//!
//! ```json
//! { "projects": [ {
//!     "name": "churn", "owner": "alice",
//!     "dataMounts": [ { "name": "shared", "local": true }, { "name": "remote", "local": false } ],
//!     "apps": [ { "name": "dash", "state": "running", "hardwareTierId": "small-k8s" } ],
//!     "models": [ { "name": "scorer", "versions": ["stopped", "running"], "activeVersion": 2,
//!                   "versionIds": ["...", "..."] } ],
//!     "workspaces": [ { "name": "ws1", "owner": "bob", "state": "running" } ],
//!     "scheduledJobs": [ { "title": "nightly", "owner": "alice", "paused": false } ],
//!     "jobs": [ { "title": "train", "command": "python train.py", "owner": "bob",
//!                 "state": "running", "endsAfterMs": 3000 } ]
//! } ] }
//! ```
//!
//! `jobs` are batch runs (numbered from 1 in their project, in order): `state` is `running`,
//! `queued` (running after a transition time), or one of the ended states `succeeded`, `failed`,
//! `stopped`, `error`; a running one with `endsAfterMs` succeeds on its own that long after the
//! simulator starts.
//!
//! Every `id` is optional (generated from the seed when left out). `state` is one of `running`,
//! `stopped`, `starting`, `stopping` (the last two settle on their own) and `neverRan` for
//! workspaces (no session yet). `activeVersion` defaults to the highest version number.
//! Unknown keys are refused so that typos do not pass silently.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::model::{
    DataMount, Deployment, Detail, Execution, Model, Motion, Project, Target, Timing, job_object,
    user_id,
};
use crate::Kind;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Scenario {
    pub projects: Vec<ProjectSpec>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProjectSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    pub owner: String,
    /// Leave the project out of `GET /v4/projects` (deleted or hidden), so that its workspaces'
    /// rows name a project the client cannot resolve.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unlisted: bool,
    #[serde(default)]
    pub data_mounts: Vec<DataMountSpec>,
    #[serde(default)]
    pub apps: Vec<AppSpec>,
    #[serde(default)]
    pub models: Vec<ModelSpec>,
    #[serde(default)]
    pub workspaces: Vec<WorkspaceSpec>,
    #[serde(default)]
    pub scheduled_jobs: Vec<JobSpec>,
    /// Batch Jobs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<BatchJobSpec>,
}

/// The state a batch Job is in when the simulator starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BatchJobState {
    #[default]
    Running,
    /// Submitted, not running yet; runs after a transition time.
    Queued,
    Succeeded,
    Failed,
    Stopped,
    Error,
}

impl BatchJobState {
    /// The word an ended job shows; `None` for one in motion.
    fn ended_word(self) -> Option<&'static str> {
        match self {
            BatchJobState::Running | BatchJobState::Queued => None,
            BatchJobState::Succeeded => Some("Succeeded"),
            BatchJobState::Failed => Some("Failed"),
            BatchJobState::Stopped => Some("Stopped"),
            BatchJobState::Error => Some("Error"),
        }
    }
}

/// A batch Job (`GET /v4/jobs`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BatchJobSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub title: String,
    /// `jobRunCommand`; defaults to `python <title>.py`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// `startedBy.username`; defaults to the project owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default)]
    pub state: BatchJobState,
    /// A running job that succeeds on its own this long after the simulator starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_after_ms: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DataMountSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    /// Whether the volume has a local data plane (and so must be mounted on an app start).
    pub local: bool,
}

/// The state an execution is in when the simulator starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StartState {
    #[default]
    Running,
    Stopped,
    /// Launching; becomes running after a transition time.
    Starting,
    /// Stopping; becomes stopped after a transition time.
    Stopping,
    /// Workspaces only: stopped, and no session ever (`mostRecentSession: null`).
    NeverRan,
    /// Apps and model versions: stopped, showing `Failed`.
    Failed,
    /// Model versions: built but never started, showing `Ready to run` (a stopped state).
    ReadyToRun,
}

impl StartState {
    fn motion(self, deployment: &Deployment, id: &str) -> Motion {
        match self {
            StartState::Running => Motion::Settled(Target::Running),
            StartState::Stopped
            | StartState::NeverRan
            | StartState::Failed
            | StartState::ReadyToRun => Motion::Settled(Target::Stopped),
            StartState::Starting => deployment.initial_motion(id, Target::Running, true),
            StartState::Stopping => deployment.initial_motion(id, Target::Stopped, true),
        }
    }

    fn stopped_label(self) -> Option<&'static str> {
        match self {
            StartState::Failed => Some("Failed"),
            StartState::ReadyToRun => Some("Ready to run"),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AppSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub state: StartState,
    #[serde(default = "default_tier")]
    pub hardware_tier_id: String,
    /// The publisher; defaults to the project owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

fn default_tier() -> String {
    "small-k8s".into()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ModelSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    /// One state per version, numbered from 1.
    pub versions: Vec<StartState>,
    /// The versions' ids, in the same order; generated when left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub version_ids: Vec<String>,
    /// The active version's number; defaults to the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_version: Option<u32>,
    /// The versions' creator; defaults to the project owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WorkspaceSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default)]
    pub state: StartState,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct JobSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default)]
    pub paused: bool,
    /// Extra fields merged into the job object (on top of the realistic defaults).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

impl Scenario {
    pub fn from_json(bytes: &[u8]) -> Result<Scenario, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("not a valid scenario: {e}"))
    }

    /// Builds the deployment. Fails on duplicate ids or an active version that does not exist.
    pub fn build(&self, timing: Timing) -> Result<Deployment, String> {
        let mut d = Deployment::new(timing);
        let mut job_n = 0u64;
        for p in &self.projects {
            let project_id = d.id_or_new(p.id.as_deref())?;
            d.add_project(Project {
                id: project_id.clone(),
                name: p.name.clone(),
                owner: p.owner.clone(),
                listed: !p.unlisted,
            });
            for m in &p.data_mounts {
                let id = d.id_or_new(m.id.as_deref())?;
                // Volumes usually have one data plane; a local one often sits beside a remote.
                let planes_local = if m.local {
                    vec![false, true]
                } else {
                    vec![false]
                };
                d.datamounts
                    .entry(project_id.clone())
                    .or_default()
                    .push(DataMount {
                        id,
                        name: m.name.clone(),
                        planes_local,
                    });
            }
            for a in &p.apps {
                let id = d.id_or_new(a.id.as_deref())?;
                let motion = a.state.motion(&d, &id);
                d.add_execution(Execution {
                    kind: Kind::App,
                    id,
                    project_id: project_id.clone(),
                    name: a.name.clone(),
                    owner: a.owner.clone().unwrap_or_else(|| p.owner.clone()),
                    motion,
                    transitions: 0,
                    stop_requests: 0,
                    start_requests: 0,
                    stopped_label: a.state.stopped_label(),
                    words: None,
                    detail: Detail::App {
                        hardware_tier_id: a.hardware_tier_id.clone(),
                        starts: Vec::new(),
                    },
                });
            }
            for m in &p.models {
                build_model(&mut d, &project_id, &p.owner, m)?;
            }
            for w in &p.workspaces {
                let id = d.id_or_new(w.id.as_deref())?;
                let motion = w.state.motion(&d, &id);
                d.add_execution(Execution {
                    kind: Kind::Workspace,
                    id,
                    project_id: project_id.clone(),
                    name: w.name.clone(),
                    owner: w.owner.clone().unwrap_or_else(|| p.owner.clone()),
                    motion,
                    transitions: 0,
                    stop_requests: 0,
                    start_requests: 0,
                    stopped_label: None,
                    words: None,
                    detail: Detail::Workspace {
                        project_name: p.name.clone(),
                        project_owner: p.owner.clone(),
                        ever_ran: w.state != StartState::NeverRan,
                    },
                });
            }
            for j in &p.scheduled_jobs {
                job_n += 1;
                let id = d.id_or_new(j.id.as_deref())?;
                let owner = j.owner.clone().unwrap_or_else(|| p.owner.clone());
                let mut object = job_object(&id, &project_id, &j.title, &owner, j.paused, job_n);
                for (k, v) in &j.extra {
                    object.insert(k.clone(), v.clone());
                }
                let target = if j.paused {
                    Target::Stopped
                } else {
                    Target::Running
                };
                d.add_execution(Execution::settled(
                    Kind::ScheduledJob,
                    id,
                    project_id.clone(),
                    j.title.clone(),
                    owner,
                    target,
                    Detail::ScheduledJob { object },
                ));
            }
            let count = p.jobs.len() as i64;
            for (i, j) in p.jobs.iter().enumerate() {
                let id = d.id_or_new(j.id.as_deref())?;
                let owner = j.owner.clone().unwrap_or_else(|| p.owner.clone());
                let ended = j.state.ended_word();
                let motion = match j.state {
                    BatchJobState::Running => Motion::Settled(Target::Running),
                    BatchJobState::Queued => d.initial_motion(&id, Target::Running, true),
                    _ => Motion::Settled(Target::Stopped),
                };
                if j.ends_after_ms.is_some() && j.state != BatchJobState::Running {
                    return Err(format!(
                        "job {}: endsAfterMs is for running jobs only",
                        j.title
                    ));
                }
                d.add_execution(Execution {
                    kind: Kind::Job,
                    id,
                    project_id: project_id.clone(),
                    name: j.title.clone(),
                    owner: owner.clone(),
                    motion,
                    transitions: 0,
                    stop_requests: 0,
                    start_requests: 0,
                    stopped_label: ended,
                    words: None,
                    detail: Detail::Job {
                        number: i as u64 + 1,
                        command: j
                            .command
                            .clone()
                            .unwrap_or_else(|| format!("python {}.py", j.title)),
                        started_by_id: user_id(&owner),
                        // A few minutes apart, the last one submitted a minute before the start.
                        submitted_ms: -(count - i as i64) * 180_000,
                        natural_end_ms: j.ends_after_ms,
                        ended_at_start: ended.is_some(),
                        stops: Vec::new(),
                        restarted_as: Vec::new(),
                        restart_of: None,
                    },
                });
            }
        }
        Ok(d)
    }
}

fn build_model(
    d: &mut Deployment,
    project_id: &str,
    project_owner: &str,
    m: &ModelSpec,
) -> Result<(), String> {
    let model_id = d.id_or_new(m.id.as_deref())?;
    let count = m.versions.len() as u32;
    let active = m.active_version.unwrap_or(count);
    if count > 0 && !(1..=count).contains(&active) {
        return Err(format!(
            "model {}: activeVersion {active} does not exist (it has {count} versions)",
            m.name
        ));
    }
    if !m.version_ids.is_empty() && m.version_ids.len() != m.versions.len() {
        return Err(format!(
            "model {}: {} versionIds for {} versions",
            m.name,
            m.version_ids.len(),
            m.versions.len()
        ));
    }
    d.add_model(Model {
        id: model_id.clone(),
        name: m.name.clone(),
        project_id: project_id.to_owned(),
        active_version_id: None,
        versions: Vec::new(),
    });
    let mut active_id = None;
    for (i, state) in m.versions.iter().enumerate() {
        let number = i as u32 + 1;
        let id = d.id_or_new(m.version_ids.get(i).map(String::as_str))?;
        if number == active {
            active_id = Some(id.clone());
        }
        let motion = state.motion(d, &id);
        d.add_execution(Execution {
            kind: Kind::ModelApiVersion,
            id,
            project_id: project_id.to_owned(),
            name: m.name.clone(),
            owner: m.owner.clone().unwrap_or_else(|| project_owner.to_owned()),
            motion,
            transitions: 0,
            stop_requests: 0,
            start_requests: 0,
            stopped_label: state.stopped_label(),
            words: None,
            detail: Detail::ModelVersion {
                model_id: model_id.clone(),
                model_name: m.name.clone(),
                number,
            },
        });
    }
    d.set_active_version(&model_id, active_id);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing() -> Timing {
        Timing {
            seed: 3,
            transition_ms: 10,
            jitter_ms: 0,
            stuck_rate: 0.0,
        }
    }

    #[test]
    fn fixture_scenarios_parse_and_build() {
        for name in ["small.json", "rollout.json"] {
            let path = format!("{}/fixtures/scenarios/{name}", env!("CARGO_MANIFEST_DIR"));
            let bytes = std::fs::read(&path).unwrap();
            let scenario = Scenario::from_json(&bytes).unwrap();
            let d = scenario.build(timing()).unwrap();
            assert!(!d.executions().is_empty(), "{name}");
        }
    }

    #[test]
    fn unknown_keys_and_bad_active_versions_are_refused() {
        assert!(Scenario::from_json(br#"{"projects": [], "extra": 1}"#).is_err());
        let s = Scenario::from_json(
            br#"{"projects": [{"name": "p", "owner": "o",
                "models": [{"name": "m", "versions": ["running"], "activeVersion": 3}]}]}"#,
        )
        .unwrap();
        assert!(s.build(timing()).unwrap_err().contains("activeVersion 3"));
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let s = Scenario::from_json(
            br#"{"projects": [{"id": "aaaaaaaaaaaaaaaaaaaaaaaa", "name": "p", "owner": "o",
                "apps": [{"id": "aaaaaaaaaaaaaaaaaaaaaaaa", "name": "a"}]}]}"#,
        )
        .unwrap();
        assert!(s.build(timing()).unwrap_err().contains("used twice"));
    }
}
