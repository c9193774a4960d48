//! The deployment each size runs against: N running executions split across the four kinds of
//! a snapshot, spread over N / 5 projects, plus N / 10 batch Jobs running (not in the snapshot:
//! a shutdown stops them, `restore --restart-jobs` starts them again), with a fixed request
//! latency and a 2 s ± 0.5 s transition time.

use domino_sim::{BatchJobState, Faults, GenerateSpec, Scenario, SimConfig, StartState, generate};

/// The simulator's timing, shared by the configuration and the lower bound.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Added to every answer by the simulator (`faults.latency_ms`).
    pub latency_ms: u64,
    /// Transitions take `transition_ms` plus up to `jitter_ms`: 1.5 s to 2.5 s.
    pub transition_ms: u64,
    pub jitter_ms: u64,
}

pub const TIMING: Timing = Timing {
    latency_ms: 5,
    transition_ms: 1_500,
    jitter_ms: 1_000,
};

/// Model versions per model: the active one runs, the older one is stopped (the snapshot
/// pages through both and takes only the running one).
pub const VERSIONS_PER_MODEL: usize = 2;

/// How many of each kind for `n` executions: apps 30%, model versions 30%, workspaces 25%,
/// scheduled jobs 15%, over `n / 5` projects.
#[derive(Clone, Copy, Debug)]
pub struct Mix {
    pub projects: usize,
    pub apps: usize,
    pub models: usize,
    pub workspaces: usize,
    pub jobs: usize,
    /// Batch Jobs running, beyond the N executions of the snapshot.
    pub batch_jobs: usize,
}

impl Mix {
    pub fn for_size(n: usize) -> Mix {
        let apps = n * 30 / 100;
        let models = n * 30 / 100;
        let workspaces = n * 25 / 100;
        Mix {
            projects: (n / 5).max(1),
            apps,
            models,
            workspaces,
            jobs: n - apps - models - workspaces,
            batch_jobs: n / 10,
        }
    }

    /// Projects that run a batch Job: the generator deals them out one per project in turn.
    pub fn projects_with_batch_jobs(&self) -> usize {
        self.batch_jobs.min(self.projects)
    }

    pub fn executions(&self) -> usize {
        self.apps + self.models + self.workspaces + self.jobs
    }
}

/// The generated deployment with every execution running (so the snapshot holds exactly N)
/// and nothing in motion when the run starts; older model versions stay stopped.
pub fn scenario(mix: &Mix, seed: u64) -> Scenario {
    let spec = GenerateSpec {
        projects: mix.projects,
        apps: mix.apps,
        models: mix.models,
        versions_per_model: VERSIONS_PER_MODEL,
        workspaces: mix.workspaces,
        scheduled_jobs: mix.jobs,
        jobs: mix.batch_jobs,
        rollout_in_progress: false,
    };
    let mut s = generate(&spec, seed);
    for p in &mut s.projects {
        for a in &mut p.apps {
            a.state = StartState::Running;
        }
        for m in &mut p.models {
            let last = m.versions.len() - 1;
            for v in &mut m.versions[..last] {
                *v = StartState::Stopped;
            }
            m.versions[last] = StartState::Running;
            m.active_version = None;
        }
        for w in &mut p.workspaces {
            w.state = StartState::Running;
        }
        for j in &mut p.scheduled_jobs {
            j.paused = false;
        }
        // Every batch Job runs until it is stopped: none ends on its own during a phase.
        for j in &mut p.jobs {
            j.state = BatchJobState::Running;
            j.ends_after_ms = None;
        }
    }
    s
}

pub fn sim_config(mix: &Mix, seed: u64) -> SimConfig {
    SimConfig::default()
        .seed(seed)
        .scenario(scenario(mix, seed))
        .transition(TIMING.transition_ms, TIMING.jitter_ms)
        .faults(Faults {
            latency_ms: TIMING.latency_ms,
            ..Faults::none()
        })
}
