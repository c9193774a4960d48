//! Running a simulator: `serve` inside an existing runtime, or `spawn` on its own thread with
//! its own runtime (for plain `#[test]`s, and tests that drive a separate `dmm` process).

use std::collections::BTreeSet;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::config::SimConfig;
use super::faults::{Faults, FaultsPatch};
use super::log::{RefusedStart, RequestLog, Violation};
use super::model::{Refusal, Target};
use super::routes::router;
use super::simulator::Simulator;
use super::view::SimState;
use crate::Kind;

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// Serves `sim` on `listener` until `shutdown` resolves (for callers that keep the `Simulator`
/// to inspect it, like the binary).
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    sim: Arc<Simulator>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    axum::serve(listener, router(sim))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Serves a simulator built from `config` on `listener`, forever.
pub async fn serve(listener: tokio::net::TcpListener, config: SimConfig) -> io::Result<()> {
    let sim = Arc::new(Simulator::new(config).map_err(invalid)?);
    serve_until(listener, sim, std::future::pending()).await
}

/// A simulator running on 127.0.0.1 on a background thread. Dropping it stops the server.
pub struct SimHandle {
    sim: Arc<Simulator>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Starts a simulator on 127.0.0.1 with a free port, on its own thread and runtime.
pub fn spawn(config: SimConfig) -> io::Result<SimHandle> {
    let sim = Arc::new(Simulator::new(config).map_err(invalid)?);
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("domino-sim")
        .enable_all()
        .build()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let served = sim.clone();
    let thread = std::thread::Builder::new()
        .name("domino-sim".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!("domino-sim cannot listen: {e}");
                        return;
                    }
                };
                // Not a graceful shutdown: connections still open (a client's keep-alive pool)
                // must not keep a test waiting. Dropping the runtime ends them.
                tokio::select! {
                    result = serve_until(listener, served, std::future::pending()) => {
                        if let Err(e) = result {
                            tracing::error!("domino-sim stopped: {e}");
                        }
                    }
                    _ = stopped => {}
                }
            });
            runtime.shutdown_background();
        })?;
    Ok(SimHandle {
        sim,
        addr,
        stop: Some(stop),
        thread: Some(thread),
    })
}

impl SimHandle {
    /// `http://127.0.0.1:PORT` plus the configured path prefix, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!(
            "http://{}{}",
            self.addr,
            self.sim.config.normalized_prefix()
        )
    }

    /// `http://127.0.0.1:PORT`, where `/__sim/` lives whatever the prefix.
    pub fn root_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn api_key(&self) -> &str {
        &self.sim.config.api_key
    }

    pub fn state(&self) -> SimState {
        self.sim.state()
    }

    pub fn requests(&self) -> RequestLog {
        self.sim.requests()
    }

    pub fn faults(&self) -> Faults {
        self.sim.faults()
    }

    /// Replaces the accepted bearer token (a rotation): the old one is answered 401 from now on.
    pub fn rotate_token(&self, token: &str) -> Result<(), String> {
        self.sim.rotate_token(token)
    }

    /// Requests served that a maintenance tool must never send (also `GET /__sim/violations`).
    pub fn violations(&self) -> Vec<Violation> {
        self.sim.violations()
    }

    /// Starts refused (400) because the execution was already starting or running (also
    /// `GET /__sim/refused-starts`).
    pub fn refused_starts(&self) -> Vec<RefusedStart> {
        self.sim.refused_starts()
    }

    /// Applies a partial update; the settings in force afterwards are returned.
    pub fn set_faults(&self, patch: FaultsPatch) -> Result<Faults, String> {
        self.sim.set_faults(&patch)
    }

    /// Replaces every fault setting.
    pub fn replace_faults(&self, faults: Faults) -> Result<Faults, String> {
        self.sim.set_faults(&FaultsPatch::all(&faults))
    }

    /// Starts an execution behind the tool's back, immediately (refused for a Job: a Job does
    /// not run again; `add_running(Kind::Job)` submits a new one).
    pub fn start_behind_back(&self, kind: Kind, id: &str) -> Result<(), Refusal> {
        self.sim.force(kind, id, Target::Running)
    }

    /// Stops an execution behind the tool's back, immediately (a Job in motion shows `Stopped`;
    /// one that has ended stays as it ended).
    pub fn stop_behind_back(&self, kind: Kind, id: &str) -> Result<(), Refusal> {
        self.sim.force(kind, id, Target::Stopped)
    }

    /// Creates a new running execution (drift during maintenance) and returns its id.
    pub fn add_running(&self, kind: Kind) -> Result<String, Refusal> {
        self.sim.add_running(kind)
    }

    /// Running or launching executions of `kind`: what a snapshot taken now should find.
    pub fn running_ids(&self, kind: Kind) -> BTreeSet<String> {
        self.sim.running_ids(kind)
    }

    /// How many times the Job `id` was restarted through `POST /v4/jobs/restart` (a
    /// maintenance tool restarts each job at most once); 0 for an unknown id.
    pub fn restarts_of(&self, job_id: &str) -> u64 {
        self.sim.state().restarts_of(job_id)
    }

    /// The identity requests with the key or token act as (`canonicalId`, `canonicalName` of
    /// `GET /v4/auth/principal`): who restarted Jobs show as `startedBy`.
    pub fn principal(&self) -> (String, String) {
        self.sim.principal()
    }

    /// A new project with no execution; returns its id.
    pub fn add_empty_project(&self, name: &str) -> String {
        self.sim.add_empty_project(name)
    }

    /// A Job submitted now by a user in `project_id`, running `command`; returns its id.
    pub fn add_job(&self, project_id: &str, command: &str) -> Result<String, Refusal> {
        self.sim.add_job(project_id, command, false, false)
    }

    /// A user's Job submitted now that waits in the queue (no room for it) and shows `Queued`
    /// until it is stopped: it never runs on its own.
    pub fn add_queued_job(&self, project_id: &str, command: &str) -> Result<String, Refusal> {
        self.sim.add_job(project_id, command, false, true)
    }

    /// A Job submitted now by the identity requests act as (the tool's own: a rehearsal, or a
    /// service account that also runs Jobs).
    pub fn add_job_as_principal(&self, project_id: &str, command: &str) -> Result<String, Refusal> {
        self.sim.add_job(project_id, command, true, false)
    }

    /// Gives the Job `job_id` this title (Jobs of one command often share one).
    pub fn retitle_job(&self, job_id: &str, title: &str) -> Result<(), Refusal> {
        self.sim.deployment().retitle_job(job_id, title)
    }

    /// A user restarts the Job `job_id` from the UI now (as `simulator::SOMEONE_ELSE`, or with
    /// the same identity as the tool's key); returns the new job's id.
    pub fn restart_job_by_user(&self, job_id: &str, as_principal: bool) -> Result<String, Refusal> {
        self.sim.restart_job_by_user(job_id, as_principal)
    }

    /// The Scheduled Job `schedule_id` fires now, as at its cron time: unless it is paused, it
    /// launches a batch Job in its project (returned); paused, it launches nothing (`None`).
    pub fn fire_schedule(&self, schedule_id: &str) -> Result<Option<String>, Refusal> {
        self.sim.fire_schedule(schedule_id)
    }

    /// The Job finishes by itself now (`Succeeded`), whatever stop was refused meanwhile.
    pub fn finish_job(&self, id: &str) -> Result<(), Refusal> {
        self.sim.finish_job(id)
    }

    /// The project is deleted with its Jobs and Scheduled Jobs: 404 for all of them from now.
    pub fn delete_project(&self, id: &str) -> Result<(), Refusal> {
        self.sim.delete_project(id)
    }

    pub fn reset_counters(&self) {
        self.sim.reset_counters();
    }

    /// Stops the server and waits for its thread.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.stop_now();
    }
}
