//! The lower bound of each phase, from the simulator's settings and the limits given to `dmm`.
//!
//! No client can beat it against this simulator, whatever its design:
//!
//! * `X = min(rate, concurrency / L)` is the most requests per second the limits allow (`L` is
//!   the fixed request latency: a slot held for `L` serves `1 / L` requests per second).
//! * The *necessary requests* of a phase are those `docs/domino-api.md` makes unavoidable (listed per
//!   phase below); sending them takes at least `R / X`.
//! * A group of kinds that must go one after the other (scheduled jobs are paused first on
//!   shutdown and resumed last on restore) adds up: each group is bounded on its own.
//! * Within a group, the critical path: the requests one execution needs before its
//!   transition, the slowest transition (`T_max`), and one confirming read. And the last
//!   stop/start cannot be sent before `(M - 1) / X` (its `M - 1` predecessors go first), after
//!   which its transition takes at least `T_min` and the confirming read `L`.
//!
//! Server processing time is taken as zero: the simulator runs on the same two cores as `dmm`,
//! so what it costs shows up in the ratio.

use super::deployment::Timing;

#[derive(Clone, Copy, Debug)]
pub struct Counts {
    pub projects: usize,
    pub apps: usize,
    /// Running model versions in the snapshot (all of them active here).
    pub model_versions: usize,
    /// Models in the deployment, and versions per model (the snapshot pages through them all).
    pub models: usize,
    pub versions_per_model: usize,
    pub workspaces: usize,
    /// Workspace rows the admin list holds (running or not).
    pub workspace_rows: usize,
    pub jobs: usize,
    /// Distinct projects of the snapshot's apps: one data-mount read per project suffices.
    pub projects_with_apps: usize,
    /// Batch Jobs running at shutdown, and the projects they run in.
    pub batch_jobs: usize,
    pub projects_with_batch_jobs: usize,
    /// Batch Jobs a restore starts again (`--restart-jobs`), else 0.
    pub restarted_jobs: usize,
}

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub concurrency: usize,
    pub rate: Option<f64>,
    pub workspaces_page_size: usize,
    pub models_page_size: usize,
}

#[derive(Clone, Debug)]
pub struct Bound {
    pub seconds: f64,
    pub necessary_requests: usize,
    /// Executions the phase acts on (stops or starts), or records (snapshot).
    pub executions: usize,
}

struct Params {
    l: f64,
    t_min: f64,
    t_max: f64,
    x: f64,
}

impl Params {
    fn new(t: &Timing, limits: &Limits) -> Params {
        let l = t.latency_ms as f64 / 1000.0;
        let by_slots = if l > 0.0 {
            limits.concurrency as f64 / l
        } else {
            f64::INFINITY
        };
        Params {
            l,
            t_min: t.transition_ms as f64 / 1000.0,
            t_max: (t.transition_ms + t.jitter_ms) as f64 / 1000.0,
            x: limits.rate.map_or(by_slots, |r| r.min(by_slots)),
        }
    }

    /// A group of stops or starts: `pre` requests before the transitions (the mutations and
    /// what they need), `path` requests one execution sends in sequence before its transition,
    /// `reads` confirming requests after them.
    fn transition_group(&self, pre: usize, path: usize, reads: usize) -> f64 {
        if pre == 0 {
            return 0.0;
        }
        let critical = path as f64 * self.l + self.t_max + self.l;
        let throughput = (pre + reads) as f64 / self.x;
        let last_sent = (pre - 1) as f64 / self.x + self.l + self.t_min + self.l;
        critical.max(throughput).max(last_sent)
    }

    /// Scheduled jobs: GET then PUT each; the PUT's answer is the new state (no transition).
    fn jobs_group(&self, jobs: usize) -> f64 {
        if jobs == 0 {
            return 0.0;
        }
        (2.0 * self.l).max((2 * jobs) as f64 / self.x)
    }
}

/// `GET /v4/projects`, `GET /v4/modelProducts`, per project `getModels` and `scheduledjobs`,
/// per model its version pages plus the empty page that ends them (docs/domino-api.md), and the
/// workspace admin list in pages. Critical path: projects → models → a version page (3 L).
pub fn snapshot(t: &Timing, limits: &Limits, c: &Counts) -> Bound {
    let p = Params::new(t, limits);
    let version_pages = c
        .versions_per_model
        .div_ceil(limits.models_page_size.max(1))
        + 1;
    let workspace_pages = c
        .workspace_rows
        .div_ceil(limits.workspaces_page_size.max(1))
        .max(1);
    let r = 2 + 2 * c.projects + c.models * version_pages + workspace_pages;
    Bound {
        seconds: (3.0 * p.l).max(r as f64 / p.x),
        necessary_requests: r,
        executions: c.apps + c.model_versions + c.workspaces + c.jobs,
    }
}

/// Jobs first (GET + PUT each); then, overlapping: apps (POST stop, and one listing
/// `GET /v4/modelProducts` to confirm), model versions (POST stop, one read each to confirm:
/// no endpoint lists versions across models), workspaces (POST stop, the admin list's pages),
/// batch Jobs (no deployment-wide listing: `GET /v4/jobs` of every project, then POST stop, and
/// one read per project that runs one to confirm; two requests in sequence before a stop).
pub fn shutdown(t: &Timing, limits: &Limits, c: &Counts) -> Bound {
    let p = Params::new(t, limits);
    let batch_listings = if c.batch_jobs > 0 { c.projects } else { 0 };
    let pre = c.apps + c.model_versions + c.workspaces + batch_listings + c.batch_jobs;
    let path = if c.batch_jobs > 0 { 2 } else { 1 };
    let reads = c.projects_with_batch_jobs.min(c.batch_jobs)
        + usize::from(c.apps > 0)
        + c.model_versions
        + if c.workspaces > 0 {
            c.workspace_rows
                .div_ceil(limits.workspaces_page_size.max(1))
                .max(1)
        } else {
            0
        };
    Bound {
        seconds: p.jobs_group(c.jobs) + p.transition_group(pre, path, reads),
        necessary_requests: 2 * c.jobs + pre + reads,
        executions: c.apps + c.model_versions + c.workspaces + c.jobs + c.batch_jobs,
    }
}

/// Apps (the project's data mounts, once per project, then POST start; one listing to confirm),
/// active model versions (POST start, one read each) and restarted batch Jobs (who the caller
/// is, once, then POST restart each; one listing per project to see the new jobs) together;
/// workspaces are not started; jobs last (GET + PUT each).
pub fn restore(t: &Timing, limits: &Limits, c: &Counts) -> Bound {
    let p = Params::new(t, limits);
    let restarts = if c.restarted_jobs > 0 {
        1 + c.restarted_jobs
    } else {
        0
    };
    let pre = c.projects_with_apps + c.apps + c.model_versions + restarts;
    let reads = usize::from(c.apps > 0)
        + c.model_versions
        + c.projects_with_batch_jobs.min(c.restarted_jobs);
    let path = if c.apps > 0 || c.restarted_jobs > 0 {
        2
    } else {
        1
    };
    Bound {
        seconds: p.transition_group(pre, path, reads) + p.jobs_group(c.jobs),
        necessary_requests: pre + reads + 2 * c.jobs,
        executions: c.apps + c.model_versions + c.jobs + c.restarted_jobs,
    }
}
