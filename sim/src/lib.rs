//! `domino-sim`: an in-memory Domino deployment served over HTTP on loopback, for the tests, the
//! benchmarks and the README's first command.
//!
//! It serves the endpoints of `docs/domino-api.md` with their exact shapes and status strings. Stops
//! and starts take time (evaluated lazily from timestamps), some get stuck, and faults (latency,
//! 5xx, 429, dropped connections, lost answers, rate limits, a capacity, outages) are seeded and
//! reproducible. `/__sim/` reports state and request counts and lets tests change the deployment
//! behind the tool's back.
//!
//! Modules, one job each: `kind` (the kinds of execution, named in the server's words), `model` (state and transitions), `scenario` (the JSON file format),
//! `generate` (generated deployments), `faults`, `log` (the request log), `view` (state as
//! tests see it), `simulator` (the shared state), `routes` (HTTP), `handle` (running it).

mod capacity;
mod config;
mod faults;
mod generate;
mod handle;
mod ids;
mod kind;
mod log;
mod model;
mod routes;
mod scenario;
mod simulator;
mod view;

pub use config::{DeploymentSource, SimConfig, UNKNOWN_STOPPING_WORD};
pub use faults::{Faults, FaultsPatch, RefuseRule};
pub use generate::{GenerateSpec, generate};
pub use handle::{SimHandle, serve, serve_until, spawn};
pub use kind::Kind;
pub use log::{
    FaultCounts, MutationRecord, Outcome, RefusedStart, RequestLog, SecondCount, Violation,
};
pub use model::{AppStart, JobStop, Refusal};
pub use scenario::{
    AppSpec, BatchJobSpec, BatchJobState, DataMountSpec, JobSpec, ModelSpec, ProjectSpec, Scenario,
    StartState, WorkspaceSpec,
};
pub use simulator::PRINCIPAL_NAME;
pub use simulator::Simulator;
pub use view::{ExecutionState, JobState, SimState};
