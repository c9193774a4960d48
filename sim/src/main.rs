//! `domino-sim`: serves a simulated Domino deployment on loopback until killed.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use domino_sim::{Faults, GenerateSpec, Scenario, SimConfig, Simulator, serve_until};

const EXAMPLE: &str = "\
Example:
  domino-sim --listen 127.0.0.1:8900 --api-key test-key --apps 50 --workspaces 200 \\
      --transition-ms 2000 --error-rate 0.02 --seed 7

  Then: curl -H 'X-Domino-Api-Key: test-key' http://127.0.0.1:8900/v4/modelProducts
        curl http://127.0.0.1:8900/__sim/state";

/// A stateful simulator of the Domino REST API that dmm uses (see docs/domino-api.md).
///
/// Prints one line, `listening on http://HOST:PORT`, then serves until SIGTERM or SIGINT.
#[derive(Debug, Parser)]
#[command(name = "domino-sim", version, after_help = EXAMPLE)]
struct Args {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The admin API key clients must send in X-Domino-Api-Key.
    #[arg(long, env = "DOMINO_SIM_API_KEY", hide_env_values = true)]
    api_key: String,
    /// Also accept this service-account token as `Authorization: Bearer`; rotate it with
    /// POST /__sim/token {"token": "..."}.
    #[arg(long, env = "DOMINO_SIM_BEARER_TOKEN", hide_env_values = true)]
    bearer_token: Option<String>,
    /// A second key that is valid but not an administrator's (answered 403).
    #[arg(long, hide_env_values = true)]
    non_admin_key: Option<String>,
    /// Serve the Domino routes under this path (e.g. /domino); /__sim/ stays at the root.
    #[arg(long, default_value = "")]
    path_prefix: String,
    /// Seed for the generated deployment, transitions and faults.
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// Build the deployment from this JSON scenario file instead of generating it.
    #[arg(long, conflicts_with_all = ["projects", "apps", "models", "versions_per_model", "workspaces", "scheduled_jobs", "jobs", "rollout_in_progress"])]
    scenario: Option<PathBuf>,
    #[arg(long, default_value_t = 5, help_heading = "Generated deployment")]
    projects: usize,
    #[arg(long, default_value_t = 10, help_heading = "Generated deployment")]
    apps: usize,
    #[arg(long, default_value_t = 5, help_heading = "Generated deployment")]
    models: usize,
    #[arg(long, default_value_t = 2, help_heading = "Generated deployment")]
    versions_per_model: usize,
    #[arg(long, default_value_t = 10, help_heading = "Generated deployment")]
    workspaces: usize,
    #[arg(long, default_value_t = 5, help_heading = "Generated deployment")]
    scheduled_jobs: usize,
    /// Batch Jobs: most running (some finish on their own a few seconds in), some queued, some
    /// ended already.
    #[arg(long, default_value_t = 6, help_heading = "Generated deployment")]
    jobs: usize,
    /// Put the first model in the middle of a rollout (two versions running).
    #[arg(long, help_heading = "Generated deployment")]
    rollout_in_progress: bool,

    /// How long a stop or start takes, in milliseconds.
    #[arg(long, default_value_t = 2000, help_heading = "Behaviour")]
    transition_ms: u64,
    /// Up to this much more per transition, drawn from the seed.
    #[arg(long, default_value_t = 1000, help_heading = "Behaviour")]
    transition_jitter_ms: u64,
    /// Share (0..1) of requested stops and starts that never finish.
    #[arg(long, default_value_t = 0.0, help_heading = "Behaviour")]
    stuck_rate: f64,
    /// The workspace list changes between pages (a new workspace at the top per page served).
    #[arg(long, help_heading = "Behaviour")]
    shifting_workspaces: bool,
    /// Serve at most this many rows per page of any paged listing, whatever is asked.
    #[arg(long, value_name = "N", help_heading = "Behaviour")]
    max_page_size: Option<usize>,
    /// Answer 411 to a POST that carries no Content-Length (as some load balancers do).
    #[arg(long, help_heading = "Behaviour")]
    require_content_length: bool,
    /// The Job listing's status words mean only what they say: `running` lists only the Jobs
    /// that show Running, `queued` only those that show Queued (`all` and `completed` as usual).
    #[arg(long, help_heading = "Behaviour")]
    strict_job_status: bool,

    #[arg(long, default_value_t = 0, help_heading = "Faults")]
    latency_ms: u64,
    #[arg(long, default_value_t = 0, help_heading = "Faults")]
    latency_jitter_ms: u64,
    /// Share (0..1) of requests answered 500, 502 or 503.
    #[arg(long, default_value_t = 0.0, help_heading = "Faults")]
    error_rate: f64,
    /// Share (0..1) of requests answered 429.
    #[arg(long, default_value_t = 0.0, help_heading = "Faults")]
    rate_limit_rate: f64,
    /// The Retry-After (seconds) of every 429.
    #[arg(long, default_value_t = 1, help_heading = "Faults")]
    retry_after_s: u64,
    /// Share (0..1) of requests whose connection is closed with no answer.
    #[arg(long, default_value_t = 0.0, help_heading = "Faults")]
    drop_rate: f64,
    /// Share (0..1) of stops, starts and PUTs applied and then left unanswered.
    #[arg(long, default_value_t = 0.0, help_heading = "Faults")]
    lost_answer_rate: f64,
    /// Answer 429 beyond this many requests per second (0: no limit).
    #[arg(long, default_value_t = 0, help_heading = "Faults")]
    max_rps: u32,
    /// Apply each stop, start and PUT, then wait this many milliseconds before answering.
    #[arg(long, default_value_t = 0, help_heading = "Faults")]
    answer_delay_ms: u64,
    /// Start in an outage: every Domino route drops the connection.
    #[arg(long, help_heading = "Faults")]
    outage: bool,
    /// Serve at most N requests per second (0: no limit): beyond it requests queue, so latency
    /// grows with the queue, and once the queue is full they are answered 429 with
    /// Retry-After (--retry-after-s).
    #[arg(long, value_name = "N", default_value_t = 0, help_heading = "Capacity")]
    capacity_rps: u32,
    /// The longest a request may wait in the capacity queue before it is refused.
    #[arg(long, value_name = "MS", default_value_t = Faults::default().capacity_queue_ms, help_heading = "Capacity")]
    capacity_queue_ms: u64,
    /// A listing takes this many microseconds more per row it returns.
    #[arg(
        long,
        value_name = "US",
        default_value_t = 0,
        help_heading = "Capacity"
    )]
    list_row_us: u64,
    /// From this percentage of the capacity (--capacity-rps, else --max-rps) on, answers slow
    /// down, up to 100 ms more at the capacity (0: no knee).
    #[arg(
        long,
        value_name = "PCT",
        default_value_t = 0,
        help_heading = "Capacity"
    )]
    slow_from_pct: u32,
    /// A single-process server: N workers serve the requests that pass, one at a time each,
    /// for --service-ms each; beyond N in flight they queue, and the latency grows with the
    /// requests in flight (0: no such limit).
    #[arg(long, value_name = "N", default_value_t = 0, help_heading = "Capacity")]
    workers: u32,
    /// What one request takes of a worker's time (--workers).
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 0,
        help_heading = "Capacity"
    )]
    service_ms: u64,
    /// Flaps, as pods rolling: the last --flap-for-s seconds of every N seconds, a share
    /// (--flap-error-rate) of requests is answered 503 (0: no flaps).
    #[arg(long, value_name = "N", default_value_t = 0, help_heading = "Faults")]
    flap_every_s: u64,
    /// How long each flap lasts.
    #[arg(long, value_name = "S", default_value_t = Faults::default().flap_for_s, help_heading = "Faults")]
    flap_for_s: u64,
    /// Share (0..1) of requests answered 503 during a flap.
    #[arg(long, default_value_t = Faults::default().flap_error_rate, help_heading = "Faults")]
    flap_error_rate: f64,
    /// Jobs' time stamps run this many milliseconds ahead (negative: behind) of the clock of
    /// the Date headers, as when the gateway and the backend that stamps run on other machines.
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 0,
        allow_negative_numbers = true,
        help_heading = "Faults"
    )]
    stamp_skew_ms: i64,

    /// Injected errors quote the request in their body, headers (and credential) included, as
    /// some gateways and debug error pages do.
    #[arg(long, help_heading = "Faults")]
    echo_request: bool,
}

impl Args {
    fn config(&self) -> Result<SimConfig, String> {
        let mut config = SimConfig::default()
            .api_key(&self.api_key)
            .path_prefix(&self.path_prefix)
            .seed(self.seed)
            .transition(self.transition_ms, self.transition_jitter_ms)
            .stuck_rate(self.stuck_rate)
            .shifting_workspaces(self.shifting_workspaces)
            .require_content_length(self.require_content_length)
            .strict_job_status(self.strict_job_status)
            .faults(Faults {
                latency_ms: self.latency_ms,
                latency_jitter_ms: self.latency_jitter_ms,
                error_rate: self.error_rate,
                rate_limit_rate: self.rate_limit_rate,
                retry_after_s: self.retry_after_s,
                drop_rate: self.drop_rate,
                lost_answer_rate: self.lost_answer_rate,
                max_rps: self.max_rps,
                answer_delay_ms: self.answer_delay_ms,
                outage: self.outage,
                capacity_rps: self.capacity_rps,
                capacity_queue_ms: self.capacity_queue_ms,
                list_row_us: self.list_row_us,
                stamp_skew_ms: self.stamp_skew_ms,
                echo_request: self.echo_request,
                slow_from_pct: self.slow_from_pct,
                workers: self.workers,
                service_ms: self.service_ms,
                flap_every_s: self.flap_every_s,
                flap_for_s: self.flap_for_s,
                flap_error_rate: self.flap_error_rate,
                refuse: Vec::new(),
            });
        if let Some(rows) = self.max_page_size {
            config = config.max_page_size(rows);
        }
        if let Some(token) = &self.bearer_token {
            config = config.bearer_token(token);
        }
        if let Some(key) = &self.non_admin_key {
            config = config.non_admin_key(key);
        }
        config = match &self.scenario {
            Some(path) => {
                let bytes = std::fs::read(path)
                    .map_err(|e| format!("cannot read scenario {}: {e}", path.display()))?;
                let scenario = Scenario::from_json(&bytes)
                    .map_err(|e| format!("scenario {}: {e}", path.display()))?;
                config.scenario(scenario)
            }
            None => config.generate(GenerateSpec {
                projects: self.projects,
                apps: self.apps,
                models: self.models,
                versions_per_model: self.versions_per_model,
                workspaces: self.workspaces,
                scheduled_jobs: self.scheduled_jobs,
                jobs: self.jobs,
                rollout_in_progress: self.rollout_in_progress,
            }),
        };
        Ok(config)
    }
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is called (not when it is
/// first polled), so a signal sent right after the listening line still ends the process cleanly.
fn terminated() -> Result<impl std::future::Future<Output = ()>, String> {
    use tokio::signal::unix::{SignalKind, signal};
    let handler = |kind| signal(kind).map_err(|e| format!("cannot handle signals: {e}"));
    let mut term = handler(SignalKind::terminate())?;
    let mut int = handler(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

async fn run(args: Args) -> Result<(), String> {
    let config = args.config()?;
    let sim = Arc::new(Simulator::new(config).map_err(|e| format!("invalid settings: {e}"))?);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    let terminated = terminated()?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on http://{addr}")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write to stdout: {e}"))?;
    // Closing gracefully would wait for clients' idle keep-alive connections; a killed
    // simulator should just go.
    let result = tokio::select! {
        result = serve_until(listener, sim.clone(), std::future::pending()) => {
            result.map_err(|e| format!("server failed: {e}"))
        }
        _ = terminated => Ok(()),
    };
    // What a client sent that it never should have, for whoever ran this to see.
    let violations = sim.violations();
    if !violations.is_empty() {
        eprintln!("domino-sim: {} violation(s):", violations.len());
        for v in &violations {
            eprintln!("domino-sim: violation: {v}");
        }
    }
    result
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("domino-sim: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(args));
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("domino-sim: {e}");
            // Bad settings are bad input, like clap's own errors.
            ExitCode::from(2)
        }
    }
}
