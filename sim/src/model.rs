//! The in-memory deployment: projects, models, every execution, and how executions move between
//! states over time.
//!
//! Time is evaluated lazily: a transition records when it began and when it will arrive (or that
//! it never will: stuck), and every read derives the current state from the clock. Nothing runs
//! per execution in the background, so 20,000 executions cost only their memory.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::ids::{IdGenerator, unit_draw};
use crate::Kind;

/// The two states a stop or a start aims for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Running,
    Stopped,
}

/// Where an execution is heading, as stored.
#[derive(Clone, Debug, PartialEq)]
pub enum Motion {
    Settled(Target),
    /// Moving towards `target` since `since_ms`; arrives at `arrives_ms`, or never when stuck.
    Moving {
        target: Target,
        since_ms: u64,
        arrives_ms: Option<u64>,
    },
}

/// Where an execution stands at one instant, after applying the time that passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Settled(Target),
    /// The first half of a transition (e.g. `Pending`, `Preparing to build`).
    Early(Target),
    /// The second half, and where stuck executions stay (e.g. `Starting`, `Stopping`).
    Late(Target),
}

impl Motion {
    pub fn phase(&self, now_ms: u64) -> Phase {
        match *self {
            Motion::Settled(t) => Phase::Settled(t),
            Motion::Moving {
                target,
                since_ms,
                arrives_ms,
            } => match arrives_ms {
                Some(at) if now_ms >= at => Phase::Settled(target),
                Some(at) if now_ms < since_ms + (at - since_ms) / 2 => Phase::Early(target),
                _ => Phase::Late(target),
            },
        }
    }

    /// The state this execution is in or heading to.
    pub fn target(&self) -> Target {
        match *self {
            Motion::Settled(t) | Motion::Moving { target: t, .. } => t,
        }
    }
}

/// How long transitions take and how many get stuck; fixed for the life of a simulator.
#[derive(Clone, Debug)]
pub struct Timing {
    pub seed: u64,
    pub transition_ms: u64,
    pub jitter_ms: u64,
    pub stuck_rate: f64,
}

impl Timing {
    /// The `nth` transition of execution `id`: when it arrives, or `None` if it is stuck.
    /// `may_stick` is false for transitions nobody requested (pending executions settling).
    fn arrival(&self, id: &str, nth: u64, now_ms: u64, may_stick: bool) -> Option<u64> {
        if may_stick && unit_draw(self.seed, id, nth.wrapping_mul(2)) < self.stuck_rate {
            return None;
        }
        let jitter = (unit_draw(self.seed, id, nth.wrapping_mul(2) + 1)
            * (self.jitter_ms + 1) as f64) as u64;
        Some(now_ms + self.transition_ms + jitter.min(self.jitter_ms))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppStart {
    pub at_ms: u64,
    pub hardware_tier_id: Option<String>,
    pub external_volume_mount_ids: Option<Vec<String>>,
}

/// One stop request a Job received, as sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStop {
    /// Milliseconds since the simulator started.
    pub at_ms: u64,
    /// The body's `commitResults`; anything but `true` (missing included) is `false`.
    pub commit_results: bool,
}

/// The words a Job shows once it has ended (`statuses.isCompleted` true).
pub const JOB_ENDED_WORDS: [&str; 4] = ["Succeeded", "Failed", "Stopped", "Error"];

/// What differs between kinds.
#[derive(Clone, Debug)]
pub enum Detail {
    App {
        hardware_tier_id: String,
        /// Every start request's body, so tests can check the volumes and tier sent.
        starts: Vec<AppStart>,
    },
    ModelVersion {
        model_id: String,
        model_name: String,
        number: u32,
    },
    Workspace {
        project_name: String,
        project_owner: String,
        /// A workspace that never ran has no session (`mostRecentSession: null`).
        ever_ran: bool,
    },
    /// The whole object as the API serves it, unknown fields included; `isPaused` is its state.
    ScheduledJob { object: Map<String, Value> },
    /// A batch run. Its title is the execution's `name`, `startedBy.username` its `owner`.
    Job {
        /// Numbered from 1 within its project, in order of submission.
        number: u64,
        command: String,
        /// `startedBy.id`.
        started_by_id: String,
        /// When it was submitted, in milliseconds relative to the simulator's start (negative:
        /// before it); served as milliseconds since the epoch.
        submitted_ms: i64,
        /// A running job that finishes on its own: it shows `Succeeded` from this instant
        /// (simulator clock) unless a stop reached it first.
        natural_end_ms: Option<u64>,
        /// Ended before the simulator started: nothing should ever stop or restart it.
        ended_at_start: bool,
        /// Every stop request received, in order.
        stops: Vec<JobStop>,
        /// The ids of the jobs each restart of this one created, in order.
        restarted_as: Vec<String>,
        /// The job this one is a restart of.
        restart_of: Option<String>,
    },
}

impl Detail {
    /// A Job submitted now (simulator clock `now_ms`), running until stopped, nothing
    /// received yet; `restart_of` names the job a restart made it from.
    pub fn submitted_job(
        number: u64,
        command: String,
        started_by_id: String,
        now_ms: u64,
        restart_of: Option<String>,
    ) -> Detail {
        Detail::Job {
            number,
            command,
            started_by_id,
            submitted_ms: i64::try_from(now_ms).unwrap_or(i64::MAX),
            natural_end_ms: None,
            ended_at_start: false,
            stops: Vec::new(),
            restarted_as: Vec::new(),
            restart_of,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Execution {
    pub kind: Kind,
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub owner: String,
    pub motion: Motion,
    /// How many transitions began, to derive each one's draws.
    pub transitions: u64,
    pub stop_requests: u64,
    pub start_requests: u64,
    /// How a stopped execution shows before anyone starts or stops it: apps and versions can be
    /// `Failed`, versions `Ready to run`. `None` shows `Stopped`.
    pub stopped_label: Option<&'static str>,
    /// A draw that picks among the state words Domino uses for one state (`Running` or
    /// `Serving`, `Pending` or `Preparing`, ...); `None` always shows the first, which
    /// hand-written scenarios and their tests rely on.
    pub words: Option<u8>,
    pub detail: Detail,
}

/// The state of one execution at one instant, in the API's words.
#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    /// App `status`, version `deploymentStatus.name`, `workspaceState`, or `Active`/`Paused`.
    pub label: &'static str,
    /// Model versions' `isPending`.
    pub is_pending: bool,
    /// Workspaces' `sessionStatusInfo` (`isRunning`, `isCompleted`); `None` when never ran.
    pub session: Option<(bool, bool)>,
    /// Settled in the running state.
    pub running: bool,
    /// Settled in a stopped state.
    pub stopped: bool,
    /// Running or launching: what a snapshot should record (per docs/domino-api.md).
    pub running_or_launching: bool,
}

impl Execution {
    /// Sets off toward `target` now: one more transition, arriving when `timing` says (or
    /// never, when it draws this transition as stuck).
    fn move_toward(&mut self, target: Target, now_ms: u64, timing: &Timing) {
        self.transitions += 1;
        self.motion = Motion::Moving {
            target,
            since_ms: now_ms,
            arrives_ms: timing.arrival(&self.id, self.transitions, now_ms, true),
        };
    }

    /// An execution settled in `target`, with no request or transition yet, shown in the first
    /// of its state words.
    pub fn settled(
        kind: Kind,
        id: String,
        project_id: String,
        name: String,
        owner: String,
        target: Target,
        detail: Detail,
    ) -> Execution {
        Execution {
            kind,
            id,
            project_id,
            name,
            owner,
            motion: Motion::Settled(target),
            transitions: 0,
            stop_requests: 0,
            start_requests: 0,
            stopped_label: None,
            words: None,
            detail,
        }
    }

    pub fn status(&self, now_ms: u64) -> Status {
        let phase = self.motion.phase(now_ms);
        let running = phase == Phase::Settled(Target::Running);
        let stopped = phase == Phase::Settled(Target::Stopped);
        // One of two words Domino uses for the same state, fixed per execution.
        let either = |first: &'static str, second: &'static str| match self.words {
            Some(draw) if draw % 2 == 1 => second,
            _ => first,
        };
        let stuck = matches!(
            self.motion,
            Motion::Moving {
                arrives_ms: None,
                ..
            }
        );
        let (label, is_pending, session) = match (&self.detail, phase) {
            (Detail::App { .. }, p) => {
                let label = match p {
                    Phase::Settled(Target::Running) => either("Running", "Serving"),
                    Phase::Settled(Target::Stopped) => self.stopped_label.unwrap_or("Stopped"),
                    Phase::Early(Target::Running) => either("Pending", "Preparing"),
                    Phase::Late(Target::Running) => "Starting",
                    Phase::Early(Target::Stopped) | Phase::Late(Target::Stopped) => "Stopping",
                };
                (label, false, None)
            }
            (Detail::ModelVersion { .. }, p) => match p {
                Phase::Settled(Target::Running) => ("Running", false, None),
                Phase::Settled(Target::Stopped) => {
                    (self.stopped_label.unwrap_or("Stopped"), false, None)
                }
                Phase::Early(Target::Running) => {
                    (either("Preparing to build", "Building"), true, None)
                }
                // A start that never arrives: Domino calls that deployment stalled.
                Phase::Late(Target::Running) if stuck && self.words.is_some() => {
                    ("Stalled", true, None)
                }
                Phase::Late(Target::Running) => ("Starting", true, None),
                Phase::Early(Target::Stopped) | Phase::Late(Target::Stopped) => {
                    ("Stopping", true, None)
                }
            },
            (Detail::Workspace { ever_ran, .. }, p) => match p {
                Phase::Settled(Target::Running) => ("Started", false, Some((true, false))),
                Phase::Settled(Target::Stopped) if !ever_ran => ("Stopped", false, None),
                Phase::Settled(Target::Stopped) => (
                    self.stopped_label.unwrap_or("Stopped"),
                    false,
                    Some((false, true)),
                ),
                Phase::Early(Target::Running) => (
                    either("Initializing", "Created"),
                    false,
                    Some((false, false)),
                ),
                Phase::Late(Target::Running) => ("Starting", false, Some((false, false))),
                // Stopping: the session stops running first, and completes when it arrives.
                Phase::Early(Target::Stopped) | Phase::Late(Target::Stopped) => {
                    ("Stopping", false, Some((false, false)))
                }
            },
            (Detail::ScheduledJob { .. }, _) => {
                let label = if running { "Active" } else { "Paused" };
                (label, false, None)
            }
            (Detail::Job { natural_end_ms, .. }, p) => {
                let label = match p {
                    Phase::Settled(Target::Running)
                        if natural_end_ms.is_some_and(|at| now_ms >= at) =>
                    {
                        "Succeeded"
                    }
                    Phase::Settled(Target::Running) => "Running",
                    Phase::Settled(Target::Stopped) => self.stopped_label.unwrap_or("Stopped"),
                    Phase::Early(Target::Running) => either("Queued", "Pending"),
                    Phase::Late(Target::Running) => match self.words {
                        Some(draw) => {
                            ["Preparing", "Pulling", "Building"][usize::from(draw / 2) % 3]
                        }
                        None => "Preparing",
                    },
                    Phase::Early(Target::Stopped) | Phase::Late(Target::Stopped) => "Stopping",
                };
                (label, false, None)
            }
        };
        // A job that ended on its own is settled in an ended state, whatever its motion says.
        let (running, stopped) = match self.kind {
            Kind::Job => (label == "Running", JOB_ENDED_WORDS.contains(&label)),
            _ => (running, stopped),
        };
        let running_or_launching = match self.kind {
            Kind::App => !stopped,
            Kind::ModelApiVersion => is_pending || !stopped,
            Kind::Workspace => matches!(label, "Created" | "Initializing" | "Starting" | "Started"),
            Kind::ScheduledJob => running,
            // In motion until it has ended (`isCompleted`).
            Kind::Job => !stopped,
        };
        Status {
            label,
            is_pending,
            session,
            running,
            stopped,
            running_or_launching,
        }
    }

    /// The name a snapshot records: `"<model> #<n>"` for versions, `"<project>/<name>"` for
    /// workspaces, the plain name otherwise.
    pub fn display_name(&self) -> String {
        match &self.detail {
            Detail::ModelVersion {
                model_name, number, ..
            } => format!("{model_name} #{number}"),
            Detail::Workspace { project_name, .. } => format!("{project_name}/{}", self.name),
            _ => self.name.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub owner: String,
    /// Shown by `GET /v4/projects`. An unlisted project's workspaces cannot be resolved by
    /// (owner, name), which a scan must report and skip.
    pub listed: bool,
}

#[derive(Clone, Debug)]
pub struct DataMount {
    pub id: String,
    pub name: String,
    /// One entry per data plane: whether it is local.
    pub planes_local: Vec<bool>,
}

#[derive(Clone, Debug)]
pub struct Model {
    pub id: String,
    pub name: String,
    pub project_id: String,
    pub active_version_id: Option<String>,
    /// Indices into the executions, ordered by version number.
    pub versions: Vec<usize>,
}

/// The hardware tiers every simulated deployment has; the tiers its apps run on exist too.
pub const HARDWARE_TIERS: [&str; 4] = ["small-k8s", "medium-k8s", "large-k8s", "gpu-k8s"];

/// Why a request about one execution could not be served.
#[derive(Clone, Debug, PartialEq)]
pub enum Refusal {
    NotFound(String),
    BadRequest(String),
}

/// The whole simulated deployment.
#[derive(Debug)]
pub struct Deployment {
    pub timing: Timing,
    pub ids: IdGenerator,
    pub projects: Vec<Project>,
    project_index: HashMap<String, usize>,
    pub datamounts: HashMap<String, Vec<DataMount>>,
    pub models: Vec<Model>,
    model_index: HashMap<String, usize>,
    executions: Vec<Execution>,
    exec_index: HashMap<(Kind, String), usize>,
    /// The admin dashboard's row order; the shifting mode inserts at the front.
    workspace_order: Vec<usize>,
    jobs_by_project: HashMap<String, Vec<usize>>,
    /// Batch Jobs per project, in order of creation (so of `number`).
    batch_jobs_by_project: HashMap<String, Vec<usize>>,
    drift_counter: u64,
    /// The wall clock at the simulator's start, in milliseconds since the epoch: what Job
    /// times are served relative to. Zero until the simulator sets it.
    pub epoch_ms: u64,
}

impl Deployment {
    pub fn new(timing: Timing) -> Self {
        Self {
            ids: IdGenerator::new(timing.seed),
            timing,
            projects: Vec::new(),
            project_index: HashMap::new(),
            datamounts: HashMap::new(),
            models: Vec::new(),
            model_index: HashMap::new(),
            executions: Vec::new(),
            exec_index: HashMap::new(),
            workspace_order: Vec::new(),
            jobs_by_project: HashMap::new(),
            batch_jobs_by_project: HashMap::new(),
            drift_counter: 0,
            epoch_ms: 0,
        }
    }

    // ----- building -----

    /// An explicit id if given (and not taken yet), otherwise a fresh one.
    pub fn id_or_new(&mut self, given: Option<&str>) -> Result<String, String> {
        match given {
            Some(id) if self.ids.reserve(id) => Ok(id.to_owned()),
            Some(id) => Err(format!("id {id} is used twice")),
            None => Ok(self.ids.next_id()),
        }
    }

    pub fn add_project(&mut self, project: Project) {
        self.project_index
            .insert(project.id.clone(), self.projects.len());
        self.datamounts.entry(project.id.clone()).or_default();
        self.projects.push(project);
    }

    /// The project, or the 404 a Domino route answers for an unknown one.
    pub fn require_project(&self, id: &str) -> Result<&Project, Refusal> {
        self.project(id)
            .ok_or_else(|| Refusal::NotFound(format!("no project with id {id}")))
    }

    pub fn project(&self, id: &str) -> Option<&Project> {
        self.project_index.get(id).map(|&i| &self.projects[i])
    }

    pub fn add_model(&mut self, model: Model) {
        self.model_index.insert(model.id.clone(), self.models.len());
        self.models.push(model);
    }

    pub fn set_active_version(&mut self, model_id: &str, version_id: Option<String>) {
        if let Some(&m) = self.model_index.get(model_id) {
            self.models[m].active_version_id = version_id;
        }
    }

    /// Whether a hardware tier with this id exists: the standard ones, or one an app runs on.
    pub fn knows_tier(&self, tier: &str) -> bool {
        HARDWARE_TIERS.contains(&tier)
            || self.apps().any(|e| {
                matches!(&e.detail, Detail::App { hardware_tier_id, .. } if hardware_tier_id == tier)
            })
    }

    /// Whether an external data volume with this id exists, in any project.
    pub fn volume_exists(&self, id: &str) -> bool {
        self.datamounts.values().flatten().any(|m| m.id == id)
    }

    /// The volumes an app of this project runs with: every one with a local data plane.
    pub fn local_volume_ids(&self, project_id: &str) -> Vec<String> {
        self.datamounts
            .get(project_id)
            .into_iter()
            .flatten()
            .filter(|m| m.planes_local.contains(&true))
            .map(|m| m.id.clone())
            .collect()
    }

    pub fn model(&self, id: &str) -> Option<&Model> {
        self.model_index.get(id).map(|&i| &self.models[i])
    }

    /// The motion of an execution created in a given state; ones in motion settle on their own.
    pub fn initial_motion(&self, id: &str, target: Target, in_motion: bool) -> Motion {
        if in_motion {
            Motion::Moving {
                target,
                since_ms: 0,
                arrives_ms: self.timing.arrival(id, u64::MAX, 0, false),
            }
        } else {
            Motion::Settled(target)
        }
    }

    pub fn add_execution(&mut self, execution: Execution) -> usize {
        let index = self.executions.len();
        match &execution.detail {
            Detail::Workspace { .. } => self.workspace_order.push(index),
            Detail::ScheduledJob { .. } => self
                .jobs_by_project
                .entry(execution.project_id.clone())
                .or_default()
                .push(index),
            Detail::ModelVersion { model_id, .. } => {
                if let Some(&m) = self.model_index.get(model_id) {
                    self.models[m].versions.push(index);
                }
            }
            Detail::Job { .. } => self
                .batch_jobs_by_project
                .entry(execution.project_id.clone())
                .or_default()
                .push(index),
            Detail::App { .. } => {}
        }
        self.exec_index
            .insert((execution.kind, execution.id.clone()), index);
        self.executions.push(execution);
        index
    }

    // ----- reading -----

    pub fn executions(&self) -> &[Execution] {
        &self.executions
    }

    pub fn get(&self, kind: Kind, id: &str) -> Option<&Execution> {
        self.exec_index
            .get(&(kind, id.to_owned()))
            .map(|&i| &self.executions[i])
    }

    fn get_mut(&mut self, kind: Kind, id: &str) -> Result<&mut Execution, Refusal> {
        match self.exec_index.get(&(kind, id.to_owned())) {
            Some(&i) => Ok(&mut self.executions[i]),
            None => Err(Refusal::NotFound(format!("no {kind} with id {id}"))),
        }
    }

    pub fn apps(&self) -> impl Iterator<Item = &Execution> {
        self.executions.iter().filter(|e| e.kind == Kind::App)
    }

    pub fn versions_of(&self, model: &Model) -> impl Iterator<Item = &Execution> {
        model.versions.iter().map(|&i| &self.executions[i])
    }

    pub fn workspace_rows(&self) -> impl ExactSizeIterator<Item = &Execution> {
        self.workspace_order.iter().map(|&i| &self.executions[i])
    }

    pub fn jobs_of(&self, project_id: &str) -> impl Iterator<Item = &Execution> {
        self.jobs_by_project
            .get(project_id)
            .into_iter()
            .flatten()
            .map(|&i| &self.executions[i])
    }

    /// A project's batch Jobs, newest (highest `number`) first.
    pub fn batch_jobs_of(&self, project_id: &str) -> impl Iterator<Item = &Execution> {
        self.batch_jobs_by_project
            .get(project_id)
            .into_iter()
            .flat_map(|v| v.iter().rev())
            .map(|&i| &self.executions[i])
    }

    /// The number the next Job submitted in this project gets.
    pub fn next_job_number(&self, project_id: &str) -> u64 {
        self.batch_jobs_of(project_id)
            .filter_map(|e| match &e.detail {
                Detail::Job { number, .. } => Some(*number),
                _ => None,
            })
            .max()
            .unwrap_or(0)
            + 1
    }

    // ----- changing -----

    /// `POST /v4/jobs/stop`: records the request, and starts the stop of a job still in motion;
    /// a job that has ended (on its own, or stopped) or is already stopping does not change.
    /// Returns whether the job had ended before the simulator started.
    pub fn stop_job(
        &mut self,
        project_id: &str,
        job_id: &str,
        commit_results: bool,
        now_ms: u64,
    ) -> Result<bool, Refusal> {
        let timing = self.timing.clone();
        let exec = self.get_mut(Kind::Job, job_id)?;
        if exec.project_id != project_id {
            return Err(Refusal::NotFound(format!(
                "no job {job_id} in project {project_id}"
            )));
        }
        let ended = exec.status(now_ms).stopped;
        exec.stop_requests += 1;
        let Detail::Job {
            stops,
            ended_at_start,
            ..
        } = &mut exec.detail
        else {
            return Err(Refusal::NotFound(format!("no job {job_id}")));
        };
        stops.push(JobStop {
            at_ms: now_ms,
            commit_results,
        });
        let ended_at_start = *ended_at_start;
        if ended || exec.motion.target() == Target::Stopped {
            return Ok(ended_at_start);
        }
        exec.move_toward(Target::Stopped, now_ms, &timing);
        Ok(ended_at_start)
    }

    /// `POST /v4/jobs/restart`: a new job in the same project with the next number, the same
    /// title and command, started by `started_by` (id, username), submitted now, `Queued` until
    /// the transition time has passed. Not state-setting: every call makes a new job. Returns
    /// the new job's id.
    /// Gives the Job `job_id` this title (a restart keeps its original's): Jobs of one command
    /// often share a title too (a nightly and its manual re-run).
    pub fn retitle_job(&mut self, job_id: &str, title: &str) -> Result<(), Refusal> {
        self.get_mut(Kind::Job, job_id)?.name = title.to_owned();
        Ok(())
    }

    pub fn restart_job(
        &mut self,
        job_id: &str,
        started_by: (&str, &str),
        now_ms: u64,
    ) -> Result<String, Refusal> {
        let original = self
            .get(Kind::Job, job_id)
            .cloned()
            .ok_or_else(|| Refusal::NotFound(format!("no Job with id {job_id}")))?;
        let Detail::Job { command, .. } = &original.detail else {
            return Err(Refusal::NotFound(format!("no Job with id {job_id}")));
        };
        let new_id = self.ids.next_id();
        let number = self.next_job_number(&original.project_id);
        let arrives_ms = self.timing.arrival(&new_id, 1, now_ms, true);
        self.add_execution(Execution {
            kind: Kind::Job,
            id: new_id.clone(),
            project_id: original.project_id.clone(),
            name: original.name.clone(),
            owner: started_by.1.to_owned(),
            motion: Motion::Moving {
                target: Target::Running,
                since_ms: now_ms,
                arrives_ms,
            },
            transitions: 1,
            stop_requests: 0,
            start_requests: 0,
            stopped_label: None,
            words: None,
            detail: Detail::submitted_job(
                number,
                command.clone(),
                started_by.0.to_owned(),
                now_ms,
                Some(job_id.to_owned()),
            ),
        });
        let exec = self.get_mut(Kind::Job, job_id)?;
        exec.start_requests += 1;
        if let Detail::Job { restarted_as, .. } = &mut exec.detail {
            restarted_as.push(new_id.clone());
        }
        Ok(new_id)
    }

    /// A stop or start request through the API: state-setting, so a request for the state the
    /// execution is in or already heading to changes nothing.
    pub fn request(
        &mut self,
        kind: Kind,
        id: &str,
        target: Target,
        now_ms: u64,
    ) -> Result<(), Refusal> {
        let timing = self.timing.clone();
        let exec = self.get_mut(kind, id)?;
        match target {
            Target::Running => exec.start_requests += 1,
            Target::Stopped => exec.stop_requests += 1,
        }
        if exec.motion.target() == target {
            return Ok(());
        }
        exec.stopped_label = None;
        exec.move_toward(target, now_ms, &timing);
        Ok(())
    }

    /// A start of an execution already starting or running. A real Domino refuses an App start
    /// (and a Model API version start) then with 400 ("already running"), so a client that
    /// resumes must look before it sends again. The request still counts as a start request.
    pub fn refuse_start_under_way(&mut self, kind: Kind, id: &str) -> Result<(), Refusal> {
        let exec = self.get_mut(kind, id)?;
        if exec.motion.target() != Target::Running {
            return Ok(());
        }
        exec.start_requests += 1;
        Err(Refusal::BadRequest(format!(
            "{kind} {id} is already running or starting"
        )))
    }

    /// A change made behind the tool's back (a user, an operator): immediate, never stuck.
    pub fn force(
        &mut self,
        kind: Kind,
        id: &str,
        target: Target,
        now_ms: u64,
    ) -> Result<(), Refusal> {
        let exec = self.get_mut(kind, id)?;
        if kind == Kind::Job {
            // A job does not run again: a new one is submitted (`add_running`). A user's stop
            // of a job in motion ends it at once; an ended job stays as it ended.
            if target == Target::Running {
                return Err(Refusal::BadRequest(
                    "a Job does not start again; add a new running one instead".into(),
                ));
            }
            if exec.status(now_ms).stopped {
                return Ok(());
            }
        }
        if exec.motion.target() != target {
            exec.stopped_label = None;
        }
        exec.motion = Motion::Settled(target);
        match &mut exec.detail {
            Detail::ScheduledJob { object } => {
                object.insert("isPaused".into(), Value::Bool(target == Target::Stopped));
            }
            Detail::Workspace { ever_ran, .. } if target == Target::Running => *ever_ran = true,
            _ => {}
        }
        Ok(())
    }

    pub fn record_app_start(&mut self, id: &str, start: AppStart) -> Result<(), Refusal> {
        if let Detail::App { starts, .. } = &mut self.get_mut(Kind::App, id)?.detail {
            starts.push(start);
        }
        Ok(())
    }

    /// The scheduled job PUT: the body must carry every field the stored object has (clients
    /// must round-trip unknown fields), and `isPaused` decides the job's state, immediately.
    /// Returns the object stored, and the fields other than `isPaused` the body changed or
    /// added (Domino takes them; a maintenance tool must never send them).
    pub fn put_job(
        &mut self,
        project_id: &str,
        job_id: &str,
        body: Value,
    ) -> Result<(Map<String, Value>, Vec<String>), Refusal> {
        let exec = self.get_mut(Kind::ScheduledJob, job_id)?;
        if exec.project_id != project_id {
            return Err(Refusal::NotFound(format!(
                "no scheduled job {job_id} in project {project_id}"
            )));
        }
        let Value::Object(new) = body else {
            return Err(Refusal::BadRequest(
                "the body must be the scheduled job object".into(),
            ));
        };
        let Detail::ScheduledJob { object } = &mut exec.detail else {
            return Err(Refusal::NotFound(format!("no scheduled job {job_id}")));
        };
        let missing: Vec<&str> = object
            .keys()
            .filter(|k| !new.contains_key(*k))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(Refusal::BadRequest(format!(
                "the scheduled job is missing fields it had: {}",
                missing.join(", ")
            )));
        }
        if new.get("id").and_then(Value::as_str) != Some(job_id) {
            return Err(Refusal::BadRequest(
                "the body's id does not match the URL".into(),
            ));
        }
        let Some(paused) = new.get("isPaused").and_then(Value::as_bool) else {
            return Err(Refusal::BadRequest("isPaused must be a boolean".into()));
        };
        let target = if paused {
            Target::Stopped
        } else {
            Target::Running
        };
        let changed: Vec<String> = new
            .iter()
            .filter(|(k, v)| k.as_str() != "isPaused" && object.get(k.as_str()) != Some(v))
            .map(|(k, _)| k.clone())
            .collect();
        match target {
            Target::Running => exec.start_requests += 1,
            Target::Stopped => exec.stop_requests += 1,
        }
        *object = new.clone();
        exec.motion = Motion::Settled(target);
        Ok((new, changed))
    }

    /// Generated deployments show every state word the API uses: each execution draws which of
    /// the words for one state it shows, and those that start stopped show one of the stopped
    /// words (`Succeeded`, `Error` for apps; `Completed`, `Failed`, `Error` for workspaces).
    /// Stops and starts requested later end in the plain `Stopped`.
    pub fn vary_words(&mut self) {
        let seed = self.timing.seed;
        for e in &mut self.executions {
            let draw = (unit_draw(seed, &e.id, 0x5747_4f52_4453) * 256.0) as u8;
            e.words = Some(draw);
            if e.motion != Motion::Settled(Target::Stopped) || e.stopped_label.is_some() {
                continue;
            }
            let pick = |words: &[&'static str]| words[usize::from(draw / 2) % words.len()];
            e.stopped_label = match &e.detail {
                Detail::App { .. } => Some(pick(&["Stopped", "Succeeded", "Error", "Stopped"])),
                Detail::Workspace { ever_ran: true, .. } => {
                    Some(pick(&["Stopped", "Completed", "Failed", "Error"]))
                }
                _ => None,
            };
        }
    }

    pub fn reset_counters(&mut self) {
        for e in &mut self.executions {
            e.stop_requests = 0;
            e.start_requests = 0;
            match &mut e.detail {
                Detail::App { starts, .. } => starts.clear(),
                // Restarts stay: they made jobs, and "at most once" holds for a whole test.
                Detail::Job { stops, .. } => stops.clear(),
                _ => {}
            }
        }
    }

    /// Creates a new running execution of `kind` in the first project (drift during
    /// maintenance). Returns its id.
    pub fn add_running(&mut self, kind: Kind, now_ms: u64) -> Result<String, Refusal> {
        let project = self
            .projects
            .first()
            .cloned()
            .ok_or_else(|| Refusal::BadRequest("the deployment has no project".into()))?;
        self.drift_counter += 1;
        let n = self.drift_counter;
        let id = self.ids.next_id();
        let owner = project.owner.clone();
        let detail = match kind {
            Kind::Job => Detail::submitted_job(
                self.next_job_number(&project.id),
                format!("python drift/job_{n}.py"),
                user_id(&owner),
                now_ms,
                None,
            ),
            Kind::App => Detail::App {
                hardware_tier_id: "small-k8s".into(),
                starts: Vec::new(),
            },
            Kind::ModelApiVersion => {
                let model_id = self.ids.next_id();
                self.add_model(Model {
                    id: model_id.clone(),
                    name: format!("drift-model-{n}"),
                    project_id: project.id.clone(),
                    active_version_id: Some(id.clone()),
                    versions: Vec::new(),
                });
                Detail::ModelVersion {
                    model_id,
                    model_name: format!("drift-model-{n}"),
                    number: 1,
                }
            }
            Kind::Workspace => Detail::Workspace {
                project_name: project.name.clone(),
                project_owner: project.owner.clone(),
                ever_ran: true,
            },
            Kind::ScheduledJob => Detail::ScheduledJob {
                object: job_object(
                    &id,
                    &project.id,
                    &format!("drift-job-{n}"),
                    &owner,
                    false,
                    n,
                ),
            },
        };
        self.add_execution(Execution::settled(
            kind,
            id.clone(),
            project.id,
            format!("drift-{}-{n}", kind.slug()),
            owner,
            Target::Running,
            detail,
        ));
        Ok(id)
    }

    /// A new project with no execution, for tests that need Jobs of their own in one place
    /// (two with the same command, a project deleted during the window). Returns its id.
    pub fn add_empty_project(&mut self, name: &str) -> String {
        let id = self.ids.next_id();
        self.add_project(Project {
            id: id.clone(),
            name: name.to_owned(),
            owner: "sim-owner".into(),
            listed: true,
        });
        id
    }

    /// A running Job submitted now in `project_id` with `command` (as a user would, not by the
    /// tool's identity). Returns its id.
    pub fn add_job(
        &mut self,
        project_id: &str,
        command: &str,
        now_ms: u64,
        started_by: Option<(&str, &str)>,
        held_in_queue: bool,
    ) -> Result<String, Refusal> {
        let project = self.require_project(project_id)?.clone();
        let (by_id, by_name) = match started_by {
            Some((id, name)) => (id.to_owned(), name.to_owned()),
            None => (user_id(&project.owner), project.owner.clone()),
        };
        let id = self.ids.next_id();
        let number = self.next_job_number(&project.id);
        self.add_execution(Execution {
            kind: Kind::Job,
            id: id.clone(),
            project_id: project.id.clone(),
            name: format!("job #{number}"),
            owner: by_name,
            // Held in the queue: on its way to running, and never arriving (no room for it),
            // so it shows `Queued` until it is stopped.
            motion: if held_in_queue {
                Motion::Moving {
                    target: Target::Running,
                    since_ms: now_ms,
                    arrives_ms: Some(u64::MAX),
                }
            } else {
                Motion::Settled(Target::Running)
            },
            transitions: 0,
            stop_requests: 0,
            start_requests: 0,
            stopped_label: None,
            words: None,
            detail: Detail::submitted_job(number, command.to_owned(), by_id, now_ms, None),
        });
        Ok(id)
    }

    /// The Scheduled Job `schedule_id` fires now, as Domino's scheduler does at its cron time:
    /// when it is not paused, a batch Job is submitted in its project with its command, started
    /// by whoever scheduled it. Returns the new Job's id, or `None` when it is paused (a paused
    /// schedule launches nothing).
    pub fn fire_schedule(
        &mut self,
        schedule_id: &str,
        now_ms: u64,
    ) -> Result<Option<String>, Refusal> {
        let exec = self
            .get(Kind::ScheduledJob, schedule_id)
            .ok_or_else(|| Refusal::NotFound(format!("no scheduled job {schedule_id}")))?;
        if !exec.status(now_ms).running {
            return Ok(None);
        }
        let Detail::ScheduledJob { object } = &exec.detail else {
            return Err(Refusal::NotFound(format!("no scheduled job {schedule_id}")));
        };
        let field = |name: &str| object.get(name).and_then(Value::as_str).map(str::to_owned);
        let command = field("command").unwrap_or_else(|| format!("scheduled {schedule_id}"));
        let by_name = field("scheduledByUserName").unwrap_or_else(|| exec.owner.clone());
        let by_id = field("scheduledByUserId").unwrap_or_else(|| user_id(&by_name));
        let project_id = exec.project_id.clone();
        self.add_job(
            &project_id,
            &command,
            now_ms,
            Some((&by_id, &by_name)),
            false,
        )
        .map(Some)
    }

    /// A Job in motion finishes by itself now: it shows `Succeeded`, as a job whose work is
    /// done does (a stop that was refused meanwhile changes nothing). An ended job stays so.
    pub fn finish_job(&mut self, id: &str, now_ms: u64) -> Result<(), Refusal> {
        let exec = self.get_mut(Kind::Job, id)?;
        if exec.status(now_ms).stopped {
            return Ok(());
        }
        exec.motion = Motion::Settled(Target::Running);
        exec.stopped_label = None;
        if let Detail::Job { natural_end_ms, .. } = &mut exec.detail {
            *natural_end_ms = Some(now_ms);
        }
        Ok(())
    }

    /// A project is deleted, with its Jobs and Scheduled Jobs: its listings, and every request
    /// naming one of them, answer 404 from now on.
    pub fn delete_project(&mut self, id: &str) -> Result<(), Refusal> {
        let index = *self
            .project_index
            .get(id)
            .ok_or_else(|| Refusal::NotFound(format!("no project with id {id}")))?;
        self.project_index.remove(id);
        self.projects[index].listed = false;
        for map in [&mut self.jobs_by_project, &mut self.batch_jobs_by_project] {
            for i in map.remove(id).unwrap_or_default() {
                let e = &self.executions[i];
                self.exec_index.remove(&(e.kind, e.id.clone()));
            }
        }
        Ok(())
    }

    /// The shifting mode: a new running workspace appears at the top of the dashboard, so every
    /// later row moves down by one and `totalEntries` grows between pages.
    pub fn shift_workspaces(&mut self, now_ms: u64) {
        if let Ok(id) = self.add_running(Kind::Workspace, now_ms) {
            if let Some(&index) = self.exec_index.get(&(Kind::Workspace, id)) {
                self.workspace_order.retain(|&i| i != index);
                self.workspace_order.insert(0, index);
            }
        }
    }
}

/// The id of a user of the deployment, derived from the username.
pub fn user_id(username: &str) -> String {
    format!("{:024x}", super::ids::hash_str(username))
}

/// A scheduled job object with the fields a real one carries, several of which a client does
/// not know about and must send back untouched.
pub fn job_object(
    id: &str,
    project_id: &str,
    title: &str,
    owner: &str,
    paused: bool,
    n: u64,
) -> Map<String, Value> {
    let value = serde_json::json!({
        "id": id,
        "projectId": project_id,
        "title": title,
        "command": format!("python jobs/task_{n}.py"),
        "cronString": format!("0 {} * * *", n % 24),
        "isPaused": paused,
        "scheduledByUserName": owner,
        "scheduledByUserId": user_id(owner),
        "hardwareTierIdentifier": "small-k8s",
        "notifyOnCompleteEmailAddresses": [format!("{owner}@example.com")],
        "allowConcurrentExecution": false,
        "timezoneId": "UTC",
        "environmentRevisionSpec": "ActiveRevision",
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(stuck_rate: f64) -> Timing {
        Timing {
            seed: 1,
            transition_ms: 100,
            jitter_ms: 0,
            stuck_rate,
        }
    }

    fn one_app(d: &mut Deployment, target: Target) -> String {
        let id = d.ids.next_id();
        d.add_execution(Execution::settled(
            Kind::App,
            id.clone(),
            "p".into(),
            "a".into(),
            "o".into(),
            target,
            Detail::App {
                hardware_tier_id: "t".into(),
                starts: vec![],
            },
        ));
        id
    }

    /// One app settled in `from`, as it stands once asked at `at` ms to move to `to`.
    fn app_asked(stuck_rate: f64, from: Target, to: Target, at: u64) -> Execution {
        let mut d = Deployment::new(timing(stuck_rate));
        let id = one_app(&mut d, from);
        d.request(Kind::App, &id, to, at).unwrap();
        d.get(Kind::App, &id).unwrap().clone()
    }

    #[test]
    fn stop_moves_through_stopping_then_stopped() {
        let app = app_asked(0.0, Target::Running, Target::Stopped, 1000);
        assert_eq!(app.status(1010).label, "Stopping");
        assert!(app.status(1010).running_or_launching);
        assert_eq!(app.status(1100).label, "Stopped");
        assert!(app.status(1100).stopped);
    }

    /// Without `vary_words` (as in a scenario), each state shows the first of its words.
    #[test]
    fn start_shows_pending_then_starting_then_running() {
        let app = app_asked(0.0, Target::Stopped, Target::Running, 0);
        assert_eq!(app.status(10).label, "Pending");
        assert_eq!(app.status(60).label, "Starting");
        assert_eq!(app.status(100).label, "Running");
    }

    #[test]
    fn repeated_requests_are_no_ops_and_counted() {
        let mut d = Deployment::new(timing(0.0));
        let id = one_app(&mut d, Target::Running);
        d.request(Kind::App, &id, Target::Running, 0).unwrap();
        d.request(Kind::App, &id, Target::Stopped, 0).unwrap();
        d.request(Kind::App, &id, Target::Stopped, 50).unwrap();
        let app = d.get(Kind::App, &id).unwrap();
        assert_eq!(app.motion.phase(99), Phase::Late(Target::Stopped));
        assert_eq!(app.motion.phase(100), Phase::Settled(Target::Stopped));
        assert_eq!((app.start_requests, app.stop_requests), (1, 2));
    }

    #[test]
    fn stuck_transitions_never_arrive() {
        let app = app_asked(1.0, Target::Running, Target::Stopped, 0);
        assert_eq!(app.status(u64::MAX / 2).label, "Stopping");
    }

    fn one_job(d: &mut Deployment, natural_end_ms: Option<u64>) -> String {
        let id = d.ids.next_id();
        d.add_execution(Execution::settled(
            Kind::Job,
            id.clone(),
            "p".into(),
            "train".into(),
            "o".into(),
            Target::Running,
            Detail::Job {
                number: d.next_job_number("p"),
                command: "python train.py".into(),
                started_by_id: user_id("o"),
                submitted_ms: -1000,
                natural_end_ms,
                ended_at_start: false,
                stops: Vec::new(),
                restarted_as: Vec::new(),
                restart_of: None,
            },
        ));
        id
    }

    #[test]
    fn an_active_schedule_launches_a_job_and_a_paused_one_nothing() {
        let mut d = Deployment::new(timing(0.0));
        let project = d.add_empty_project("nightly");
        let schedule = d.add_running(Kind::ScheduledJob, 0).unwrap();
        let launched = d.fire_schedule(&schedule, 10).unwrap().expect("active");
        let job = d.get(Kind::Job, &launched).unwrap();
        assert_eq!(job.project_id, project);
        assert!(job.status(10).running);
        match &job.detail {
            Detail::Job { command, .. } => assert!(command.starts_with("python jobs/task_")),
            other => panic!("{other:?}"),
        }
        d.force(Kind::ScheduledJob, &schedule, Target::Stopped, 20)
            .unwrap();
        assert_eq!(d.fire_schedule(&schedule, 30).unwrap(), None, "paused");
        assert!(d.fire_schedule("nope", 30).is_err());
    }

    #[test]
    fn jobs_stop_end_on_their_own_and_restart_as_new_jobs() {
        let mut d = Deployment::new(timing(0.0));
        let id = one_job(&mut d, None);
        let ends = one_job(&mut d, Some(500));
        let job = |d: &Deployment, id: &str, now| d.get(Kind::Job, id).unwrap().status(now);
        assert_eq!(job(&d, &ends, 499).label, "Running");
        let done = job(&d, &ends, 500);
        assert_eq!(done.label, "Succeeded");
        assert!(done.stopped && !done.running && !done.running_or_launching);
        // A stop after the end changes nothing; one before it wins over the natural end.
        d.stop_job("p", &ends, true, 600).unwrap();
        assert_eq!(job(&d, &ends, 10_000).label, "Succeeded");
        d.stop_job("p", &id, true, 1000).unwrap();
        assert_eq!(job(&d, &id, 1050).label, "Stopping");
        assert!(job(&d, &id, 1050).running_or_launching);
        assert_eq!(job(&d, &id, 1100).label, "Stopped");
        assert!(matches!(
            d.stop_job("q", &id, true, 0),
            Err(Refusal::NotFound(_))
        ));

        let new = d.restart_job(&id, ("u1", "admin"), 2000).unwrap();
        let restarted = d.get(Kind::Job, &new).unwrap();
        assert_eq!(restarted.owner, "admin");
        assert!(matches!(
            &restarted.detail,
            Detail::Job { number: 3, submitted_ms: 2000, restart_of: Some(of), .. } if *of == id
        ));
        assert_eq!(restarted.status(2010).label, "Queued");
        assert_eq!(restarted.status(2060).label, "Preparing");
        assert_eq!(restarted.status(2100).label, "Running");
        assert!(matches!(
            &d.get(Kind::Job, &id).unwrap().detail,
            Detail::Job { restarted_as, .. } if restarted_as == std::slice::from_ref(&new)
        ));
        assert_eq!(d.next_job_number("p"), 4);
        assert_eq!(
            d.batch_jobs_of("p")
                .map(|e| e.id.clone())
                .collect::<Vec<_>>(),
            [new, ends, id]
        );
    }

    #[test]
    fn unknown_ids_are_not_found() {
        let mut d = Deployment::new(timing(0.0));
        assert!(matches!(
            d.request(Kind::App, "nope", Target::Stopped, 0),
            Err(Refusal::NotFound(_))
        ));
    }
}

#[cfg(test)]
mod word_tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::generate::{GenerateSpec, generate};

    /// Every state word the Domino API uses for apps, model versions, workspaces and jobs shows up in
    /// a generated deployment, at the start, mid-transition or at rest.
    #[test]
    fn generated_deployments_show_every_listed_state_word() {
        let spec = GenerateSpec {
            projects: 5,
            apps: 120,
            models: 200,
            versions_per_model: 2,
            workspaces: 120,
            scheduled_jobs: 0,
            jobs: 200,
            rollout_in_progress: false,
        };
        let timing = Timing {
            seed: 9,
            transition_ms: 1000,
            jitter_ms: 0,
            stuck_rate: 1.0,
        };
        let mut d = generate(&spec, 9).build(timing).unwrap();
        d.vary_words();
        // A start that never arrives, for `Stalled`.
        let stopped_version = d
            .executions()
            .iter()
            .find(|e| {
                e.kind == Kind::ModelApiVersion && e.motion == Motion::Settled(Target::Stopped)
            })
            .map(|e| e.id.clone())
            .unwrap();
        d.request(Kind::ModelApiVersion, &stopped_version, Target::Running, 0)
            .unwrap();
        // A job's stop that never arrives, for `Stopping`.
        let (job, project) = d
            .executions()
            .iter()
            .find(|e| e.kind == Kind::Job && e.motion == Motion::Settled(Target::Running))
            .map(|e| (e.id.clone(), e.project_id.clone()))
            .unwrap();
        d.stop_job(&project, &job, true, 0).unwrap();
        let mut seen: BTreeSet<(Kind, &str)> = BTreeSet::new();
        for now in [0, 750, 10_000] {
            for e in d.executions() {
                seen.insert((e.kind, e.status(now).label));
            }
        }
        let want = [
            (
                Kind::App,
                &[
                    "Running",
                    "Serving",
                    "Stopped",
                    "Succeeded",
                    "Failed",
                    "Error",
                    "Pending",
                    "Preparing",
                    "Starting",
                    "Stopping",
                ][..],
            ),
            (
                Kind::ModelApiVersion,
                &[
                    "Running",
                    "Stopped",
                    "Failed",
                    "Ready to run",
                    "Preparing to build",
                    "Building",
                    "Starting",
                    "Stalled",
                    "Stopping",
                ][..],
            ),
            (
                Kind::Workspace,
                &[
                    "Created",
                    "Initializing",
                    "Starting",
                    "Started",
                    "Stopping",
                    "Stopped",
                    "Completed",
                    "Failed",
                    "Error",
                ][..],
            ),
            (
                Kind::Job,
                &[
                    "Queued",
                    "Pending",
                    "Preparing",
                    "Pulling",
                    "Building",
                    "Running",
                    "Stopping",
                    "Succeeded",
                    "Failed",
                    "Stopped",
                    "Error",
                ][..],
            ),
        ];
        for (kind, words) in want {
            for word in words {
                assert!(
                    seen.contains(&(kind, *word)),
                    "{kind}: no {word} in {seen:?}"
                );
            }
        }
    }
}
