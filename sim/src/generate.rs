//! A generated deployment of any size, reproducible from the seed, with a realistic mix: most
//! executions run, some are stopped, some are still launching or stopping (they settle on their
//! own), a few workspaces never ran, and optionally one model is in the middle of a rollout.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::scenario::{
    AppSpec, BatchJobSpec, BatchJobState, DataMountSpec, JobSpec, ModelSpec, ProjectSpec, Scenario,
    StartState, WorkspaceSpec,
};

/// How many of each thing to generate. Executions are spread evenly over the projects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerateSpec {
    pub projects: usize,
    pub apps: usize,
    pub models: usize,
    pub versions_per_model: usize,
    pub workspaces: usize,
    pub scheduled_jobs: usize,
    /// Batch Jobs: most running (some finish on their own seconds after the start), some
    /// queued, some ended already.
    #[serde(default)]
    pub jobs: usize,
    /// Put the first model in the middle of a rollout: its new (active) version runs while the
    /// previous one has not stopped.
    pub rollout_in_progress: bool,
}

impl Default for GenerateSpec {
    fn default() -> Self {
        Self {
            projects: 3,
            apps: 6,
            models: 3,
            versions_per_model: 2,
            workspaces: 6,
            scheduled_jobs: 4,
            jobs: 0,
            rollout_in_progress: false,
        }
    }
}

const USERS: [&str; 8] = [
    "alice", "bob", "carol", "dmitri", "erin", "farah", "gustavo", "hiro",
];
const WORDS: [&str; 10] = [
    "churn", "fraud", "forecast", "pricing", "vision", "nlp", "risk", "ops", "search", "ranker",
];

/// Draws a state from `(state, weight)` pairs.
fn pick(rng: &mut ChaCha8Rng, weights: &[(StartState, u32)]) -> StartState {
    let total: u32 = weights.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total);
    for &(state, w) in weights {
        if roll < w {
            return state;
        }
        roll -= w;
    }
    StartState::Running
}

const APP_MIX: [(StartState, u32); 5] = [
    (StartState::Running, 70),
    (StartState::Stopped, 9),
    (StartState::Failed, 3),
    (StartState::Starting, 10),
    (StartState::Stopping, 8),
];
const ACTIVE_VERSION_MIX: [(StartState, u32); 5] = [
    (StartState::Running, 75),
    (StartState::Stopped, 7),
    (StartState::Failed, 3),
    (StartState::Starting, 10),
    (StartState::Stopping, 5),
];
const WORKSPACE_MIX: [(StartState, u32); 5] = [
    (StartState::Running, 60),
    (StartState::Stopped, 20),
    (StartState::NeverRan, 8),
    (StartState::Starting, 7),
    (StartState::Stopping, 5),
];

pub fn generate(spec: &GenerateSpec, seed: u64) -> Scenario {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let project_count = spec.projects.max(1);
    let mut projects: Vec<ProjectSpec> = (0..project_count)
        .map(|i| {
            let owner = USERS[i % USERS.len()].to_owned();
            let data_mounts = (0..rng.random_range(0..=3))
                .map(|v| DataMountSpec {
                    id: None,
                    name: format!("volume-{i}-{v}"),
                    local: rng.random_bool(0.5),
                })
                .collect();
            ProjectSpec {
                id: None,
                name: format!("{}-{i}", WORDS[i % WORDS.len()]),
                owner,
                data_mounts,
                ..ProjectSpec::default()
            }
        })
        .collect();
    for i in 0..spec.apps {
        let state = pick(&mut rng, &APP_MIX);
        let tier = if rng.random_bool(0.3) {
            "gpu-k8s"
        } else {
            "small-k8s"
        };
        projects[i % project_count].apps.push(AppSpec {
            id: None,
            name: format!("{}-app-{i}", WORDS[(i / 3) % WORDS.len()]),
            state,
            hardware_tier_id: tier.into(),
            owner: Some(USERS[rng.random_range(0..USERS.len())].into()),
        });
    }
    for i in 0..spec.models {
        let count = spec.versions_per_model.max(1);
        // Older versions were stopped by a rollout, or built and never started.
        let mut versions: Vec<StartState> = (0..count)
            .map(|_| {
                if rng.random_bool(0.2) {
                    StartState::ReadyToRun
                } else {
                    StartState::Stopped
                }
            })
            .collect();
        versions[count - 1] = pick(&mut rng, &ACTIVE_VERSION_MIX);
        if i == 0 && spec.rollout_in_progress {
            if count == 1 {
                versions.insert(0, StartState::Running);
            } else {
                versions[count - 2] = StartState::Running;
            }
            let last = versions.len() - 1;
            versions[last] = StartState::Running;
        }
        projects[i % project_count].models.push(ModelSpec {
            id: None,
            name: format!("{}-model-{i}", WORDS[(i / 2) % WORDS.len()]),
            versions,
            version_ids: Vec::new(),
            active_version: None,
            owner: Some(USERS[rng.random_range(0..USERS.len())].into()),
        });
    }
    for i in 0..spec.workspaces {
        projects[i % project_count].workspaces.push(WorkspaceSpec {
            id: None,
            name: format!("workspace-{i}"),
            owner: Some(USERS[rng.random_range(0..USERS.len())].into()),
            state: pick(&mut rng, &WORKSPACE_MIX),
        });
    }
    for i in 0..spec.scheduled_jobs {
        projects[i % project_count].scheduled_jobs.push(JobSpec {
            id: None,
            title: format!("nightly-{}-{i}", WORDS[i % WORDS.len()]),
            owner: Some(USERS[rng.random_range(0..USERS.len())].into()),
            paused: rng.random_bool(0.2),
            extra: Default::default(),
        });
    }
    for i in 0..spec.jobs {
        let roll = rng.random_range(0..100u32);
        let (state, ends_after_ms) = match roll {
            0..55 => (BatchJobState::Running, None),
            // Finishes on its own a few seconds in: a shutdown meets some that end first.
            55..70 => (
                BatchJobState::Running,
                Some(rng.random_range(1_000..=8_000u64)),
            ),
            70..80 => (BatchJobState::Queued, None),
            80..88 => (BatchJobState::Succeeded, None),
            88..93 => (BatchJobState::Failed, None),
            93..97 => (BatchJobState::Stopped, None),
            _ => (BatchJobState::Error, None),
        };
        let word = WORDS[(i / 2) % WORDS.len()];
        projects[i % project_count].jobs.push(BatchJobSpec {
            id: None,
            title: format!("{word}-run-{i}"),
            command: Some(format!("python batch/{word}_{i}.py --full")),
            owner: Some(USERS[rng.random_range(0..USERS.len())].into()),
            state,
            ends_after_ms,
        });
    }
    Scenario { projects }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_deployment() {
        let spec = GenerateSpec::default();
        assert_eq!(generate(&spec, 5), generate(&spec, 5));
        assert_ne!(generate(&spec, 5), generate(&spec, 6));
    }

    #[test]
    fn counts_match_the_spec_and_rollout_is_set() {
        let spec = GenerateSpec {
            projects: 4,
            apps: 10,
            models: 5,
            versions_per_model: 3,
            workspaces: 7,
            scheduled_jobs: 9,
            jobs: 11,
            rollout_in_progress: true,
        };
        let s = generate(&spec, 1);
        let sum = |f: fn(&ProjectSpec) -> usize| s.projects.iter().map(f).sum::<usize>();
        assert_eq!(s.projects.len(), 4);
        assert_eq!(sum(|p| p.apps.len()), 10);
        assert_eq!(sum(|p| p.models.len()), 5);
        assert_eq!(sum(|p| p.workspaces.len()), 7);
        assert_eq!(sum(|p| p.scheduled_jobs.len()), 9);
        assert_eq!(sum(|p| p.jobs.len()), 11);
        let first = &s.projects[0].models[0].versions;
        assert_eq!(&first[1..], &[StartState::Running, StartState::Running]);
    }
}
