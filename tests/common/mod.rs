//! End-to-end harness: a simulator in this process, the real `dmm` binary as a child process,
//! real files in a temporary folder.
#![allow(dead_code)]

pub mod webhook;
#[allow(unused_imports)]
pub use webhook::{Receiver, receiver, receiver_at};

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use dmm::journal::{JournalRead, JournalReader, Operation, StepPhase, StepRecord};
use dmm::snapshot::Kind;
use domino_sim::{FaultsPatch, RefuseRule};
use domino_sim::{GenerateSpec, SimConfig, SimHandle, spawn};

pub const KEY: &str = "e2e-secret-key-7f3a9c";

/// A simulator and a folder for one test. When it is dropped at the end of a test that passed
/// so far, the simulator must have recorded no violation (a request dmm must never send, such as
/// a start of an inactive model version): every end-to-end test checks that, unless it provokes
/// violations on purpose and says so with [`Env::expect_violations`].
pub struct Env {
    pub sim: SimHandle,
    pub dir: tempfile::TempDir,
    violations_expected: std::cell::Cell<bool>,
}

/// A small deployment with fast transitions.
pub fn small_spec() -> GenerateSpec {
    GenerateSpec {
        projects: 4,
        apps: 6,
        models: 3,
        versions_per_model: 2,
        workspaces: 5,
        scheduled_jobs: 4,
        jobs: 0,
        rollout_in_progress: false,
    }
}

pub fn config(spec: GenerateSpec) -> SimConfig {
    SimConfig::default()
        .api_key(KEY)
        .seed(42)
        .generate(spec)
        .transition(40, 20)
}

impl Env {
    pub fn new(config: SimConfig) -> Env {
        Env {
            sim: spawn(config).expect("simulator starts"),
            dir: tempfile::tempdir().expect("temp dir"),
            violations_expected: std::cell::Cell::new(false),
        }
    }

    /// This test provokes violations on purpose: the check when it ends is skipped.
    pub fn expect_violations(&self) {
        self.violations_expected.set(true);
    }

    pub fn small() -> Env {
        Env::new(config(small_spec()))
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn snapshot(&self) -> PathBuf {
        self.path("snap.json")
    }

    pub fn journal(&self) -> PathBuf {
        self.path("snap.json.journal")
    }

    /// `dmm` with this simulator's address and key and nothing of the caller's environment.
    pub fn dmm(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_dmm"));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DOMINO_HOSTNAME", self.sim.base_url())
            .env("DOMINO_API_KEY", KEY)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.dmm().args(args).output().expect("dmm runs");
        check_no_key(&out);
        out
    }

    /// `dmm report --format markdown` of the snapshot's journal, as written.
    pub fn markdown_report(&self) -> String {
        let report = self.path("report.md");
        let out = self.run(&[
            "report",
            self.snapshot().to_str().unwrap(),
            "--journal",
            self.journal().to_str().unwrap(),
            "--format",
            "markdown",
            "--output",
            report.to_str().unwrap(),
        ]);
        assert_eq!(code(&out), 0, "report: {}", text(&out));
        std::fs::read_to_string(&report).unwrap()
    }

    pub fn take_snapshot(&self) {
        let out = self.run(&["snapshot", self.snapshot().to_str().unwrap()]);
        assert_eq!(code(&out), 0, "snapshot: {}", text(&out));
    }

    /// A shutdown or restore with fast polling, so tests spend their time on the work, not on
    /// waiting.
    pub fn op_args(&self, op: &str, extra: &[&str]) -> Vec<String> {
        let snap = self.snapshot();
        let fast = [
            op,
            snap.to_str().unwrap(),
            "--yes",
            "--poll-interval-ms",
            "20",
        ];
        let limits = ["--rate-limit", "2000", "--concurrency", "16"];
        fast.iter()
            .chain(&limits)
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    }

    pub fn run_op(&self, op: &str, extra: &[&str]) -> Output {
        let out = self
            .dmm()
            .args(self.op_args(op, extra))
            .output()
            .expect("dmm runs");
        check_no_key(&out);
        out
    }

    pub fn spawn_op(&self, op: &str, extra: &[&str]) -> Child {
        let args = self.op_args(op, extra);
        self.dmm()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dmm starts")
    }

    pub fn steps(&self, op: Operation) -> Vec<StepRecord> {
        JournalReader::open(&self.journal())
            .and_then(|r| r.steps(Some(op)))
            .unwrap_or_default()
    }

    /// How many journal events (of `op`, or of any operation) have a message containing `text`.
    pub fn events_saying(&self, op: Option<Operation>, text: &str) -> usize {
        JournalReader::open(&self.journal())
            .and_then(|r| r.events())
            .unwrap_or_default()
            .iter()
            .filter(|e| op.is_none_or(|op| e.op == op))
            .filter(|e| e.message.as_deref().is_some_and(|m| m.contains(text)))
            .count()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if std::thread::panicking() || self.violations_expected.get() {
            return;
        }
        let violations = self.sim.violations();
        assert!(
            violations.is_empty(),
            "dmm sent {} request(s) a maintenance tool must never send:\n{}",
            violations.len(),
            violations
                .iter()
                .map(|v| format!("  {v}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

pub fn text(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A simulator scenario written inline as JSON (`{"projects": [...]}`); panics if invalid,
/// which is the test's mistake.
pub fn scenario_of(value: serde_json::Value) -> domino_sim::Scenario {
    domino_sim::Scenario::from_json(value.to_string().as_bytes()).expect("a valid scenario")
}

/// The API key must never appear in anything dmm prints.
pub fn check_no_key(out: &Output) {
    let all = text(out);
    assert!(!all.contains(KEY), "the API key leaked into output:\n{all}");
}

/// Waits until `cond` holds, polling; panics after `limit`.
pub fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn count_phase(steps: &[StepRecord], pred: impl Fn(&StepPhase) -> bool) -> usize {
    steps.iter().filter(|s| pred(&s.phase)).count()
}

pub fn kill9(child: &mut Child) {
    let _ = child.kill(); // SIGKILL on Unix
    let _ = child.wait();
}

pub fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) with a child's pid is a plain syscall.
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
}

pub fn running(env: &Env, kind: Kind) -> std::collections::BTreeSet<String> {
    env.sim.running_ids(sim_kind(kind))
}

/// The simulator's name for one of dmm's kinds: the two crates name their kinds apart (the
/// simulator is a witness of the client, not a part of it) and meet at the label both write
/// (the snapshot's key), so a kind dmm gains needs no line here, only the simulator's routes.
pub fn sim_kind(kind: Kind) -> domino_sim::Kind {
    kind.label()
        .parse()
        .unwrap_or_else(|e| panic!("the simulator serves no {kind:?}: {e}"))
}

/// dmm's name for one of the simulator's kinds (the other way round from [`sim_kind`]).
pub fn dmm_kind(kind: domino_sim::Kind) -> Kind {
    Kind::from_label(kind.label())
        .unwrap_or_else(|| panic!("dmm has no kind labelled {:?}", kind.label()))
}

pub fn file_contains(path: &Path, needle: &str) -> bool {
    std::fs::read(path)
        .map(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
        .unwrap_or(false)
}

/// The executions the snapshot file records, as (kind, execution id): the truth a run works
/// from (the simulator's "running" set before a snapshot also holds executions still stopping).
pub fn snapshot_keys(env: &Env) -> std::collections::BTreeSet<(Kind, String)> {
    let bytes = std::fs::read(env.snapshot()).expect("snapshot file");
    let snap = dmm::snapshot::Snapshot::from_json(&bytes).expect("a valid snapshot");
    snap.iter()
        .map(|(k, e)| (k, e.key(k).expect("an execution id").to_owned()))
        .collect()
}

/// A small runtime of its own for a test server, and a listener on a free loopback port: the
/// tests that need a server other than the simulator (garbage answers, a TLS front) serve on it.
pub fn loopback_server_runtime() -> (tokio::runtime::Runtime, tokio::net::TcpListener) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a test runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("a loopback port");
    (rt, listener)
}

// ----- Jobs: steps, chosen refusals, bounded children -----

pub fn job_steps(env: &Env, op: Operation) -> Vec<StepRecord> {
    env.steps(op)
        .into_iter()
        .filter(|s| s.key.kind == Kind::Job)
        .collect()
}

pub fn step_of(env: &Env, op: Operation, id: &str) -> StepRecord {
    job_steps(env, op)
        .into_iter()
        .find(|s| s.key.execution == id)
        .unwrap_or_else(|| panic!("no {op} step for job {id}"))
}

pub fn refuse(env: &Env, route: &str, execution_id: Option<&str>, status: u16, times: Option<u32>) {
    env.sim
        .set_faults(FaultsPatch {
            refuse: Some(vec![RefuseRule {
                route: route.into(),
                execution_id: execution_id.map(str::to_owned),
                status,
                times,
                after_applying: false,
                retry_after: None,
            }]),
            ..FaultsPatch::default()
        })
        .unwrap();
}

pub fn refuse_nothing(env: &Env) {
    env.sim
        .set_faults(FaultsPatch {
            refuse: Some(Vec::new()),
            ..FaultsPatch::default()
        })
        .unwrap();
}

/// Waits for a child with a bound, killing it (and failing) if it hangs.
pub fn child_output(child: &mut std::process::Child, limit: Duration) -> std::process::Output {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            kill9(child);
            panic!("dmm did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    use std::io::Read;
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    let out = std::process::Output {
        status: child.wait().unwrap(),
        stdout,
        stderr,
    };
    check_no_key(&out);
    out
}
