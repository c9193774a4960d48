//! `--metrics-file`: the run's figures in the Prometheus text format, for node_exporter's
//! textfile collector. Written atomically (a temporary file beside it, then a rename) every few
//! seconds during the run and once at its end, so a scrape never reads half a file.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode_registry;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::domino::DominoClient;
use crate::journal::{Operation, RunOutcome};
use crate::runner::{Reporter, RunReport, RunStanding, RunStats, VerificationOutcome};

/// How often the file is rewritten during a run.
const EVERY: Duration = Duration::from_secs(5);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabels {
    operation: String,
    kind: String,
    phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HeadLabels {
    operation: String,
    sha256: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NextLabels {
    operation: String,
    action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    operation: String,
    outcome: String,
}

/// Keeps the latest phase of every step it hears of, and writes the figures out.
pub struct MetricsFile {
    path: PathBuf,
    op: Operation,
    client: DominoClient,
    started: Instant,
    /// The run's statistics, kept by the runner; read at each write.
    stats: OnceLock<Arc<RunStats>>,
}

impl MetricsFile {
    /// Starts writing `path` now and every few seconds until [`MetricsFile::finish`].
    pub fn start(path: &Path, op: Operation, client: DominoClient) -> Arc<MetricsFile> {
        let metrics = Arc::new(MetricsFile {
            path: path.to_owned(),
            op,
            client,
            started: Instant::now(),
            stats: OnceLock::new(),
        });
        metrics.write(None);
        let weak = Arc::downgrade(&metrics);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(EVERY).await;
                match weak.upgrade() {
                    Some(metrics) => metrics.write(None),
                    None => return,
                }
            }
        });
        metrics
    }

    /// The final figures, with the run's outcome and verification.
    pub fn finish(&self, report: Option<&RunReport>) {
        self.write(Some(report));
    }

    fn write(&self, end: Option<Option<&RunReport>>) {
        let text = self.encode(end);
        if let Err(e) = crate::private_file::replace(&self.path, text.as_bytes()) {
            tracing::warn!(
                "could not write the metrics file {}: {e}",
                self.path.display()
            );
        }
    }

    fn encode(&self, end: Option<Option<&RunReport>>) -> String {
        let op = self.op.as_str();
        let mut registry = Registry::with_prefix("dmm");
        self.register_steps(&mut registry, op);
        self.register_run(&mut registry, op, end.is_none());
        if let Some(report) = end {
            register_outcome(&mut registry, op, report);
            register_jobs_and_next(&mut registry, op, report);
        }
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode_registry(&mut text, &registry);
        text
    }

    /// Steps this run moved, per kind and phase, and the steps each kind covers.
    fn register_steps(&self, registry: &mut Registry, op: &str) {
        let op = op.to_string();
        let steps = Family::<StepLabels, Gauge>::default();
        let stats = self.stats.get();
        for (kind, phases) in stats.map(|s| s.counts()).unwrap_or_default() {
            for (phase, n) in phases.by_name() {
                steps
                    .get_or_create(&StepLabels {
                        operation: op.clone(),
                        kind: kind.label().to_string(),
                        phase: phase.to_string(),
                    })
                    .set(n as i64);
            }
        }
        registry.register(
            "steps",
            "Steps this run moved, by kind and the phase they are in now",
            steps,
        );
        let totals = Family::<StepLabels, Gauge>::default();
        for (kind, n) in stats.map(|s| s.totals()).unwrap_or_default() {
            totals
                .get_or_create(&StepLabels {
                    operation: op.clone(),
                    kind: kind.label().to_string(),
                    phase: "any".into(),
                })
                .set(n as i64);
        }
        registry.register(
            "steps_planned",
            "Steps of each kind the run covers, ended ones included",
            totals,
        );
    }

    /// The run's requests, retries, duration, and whether it is going on.
    fn register_run(&self, registry: &mut Registry, op: &str, in_progress: bool) {
        let gauge = |value: i64| run_gauge(op, value);
        registry.register(
            "requests_sent",
            "HTTP requests sent to the Domino API by this run, retries included",
            gauge(self.client.requests_sent() as i64),
        );
        registry.register(
            "request_retries",
            "Requests this run sent again after a transient failure",
            gauge(self.client.retries() as i64),
        );
        registry.register(
            "run_duration_seconds",
            "Seconds since the run started",
            gauge(self.started.elapsed().as_secs() as i64),
        );
        registry.register(
            "run_in_progress",
            "1 while the run is going on, 0 once it ended",
            gauge(i64::from(in_progress)),
        );
    }
}

/// A gauge of the run, labelled with its operation.
fn run_gauge(op: &str, value: i64) -> Family<RunLabels, Gauge> {
    let family = Family::<RunLabels, Gauge>::default();
    family
        .get_or_create(&RunLabels {
            operation: op.to_string(),
        })
        .set(value);
    family
}

/// How the run ended (`None`: it failed before it could make a report), its verification, and
/// the journal's head.
fn register_outcome(registry: &mut Registry, op: &str, report: Option<&RunReport>) {
    let op = op.to_string();
    let gauge = |value: i64| run_gauge(&op, value);
    let outcome = Family::<OutcomeLabels, Gauge>::default();
    // No report: the run failed before it could make one.
    let word = report
        .map_or(RunStanding::Ended(RunOutcome::Aborted), RunReport::standing)
        .slug();
    outcome
        .get_or_create(&OutcomeLabels {
            operation: op.clone(),
            outcome: word.into(),
        })
        .set(1);
    registry.register(
        "run_outcome",
        "How the run ended (1 for its outcome)",
        outcome,
    );
    let verification = report.map(|r| &r.verification);
    let verified = match verification {
        Some(VerificationOutcome::Checked(v)) => i64::from(v.passed),
        Some(VerificationOutcome::Unavailable(_)) => 0,
        // Skipped (--no-verify) or cut short: nothing was checked.
        _ => -1,
    };
    registry.register(
        "verification_passed",
        "1 verified, 0 a mismatch or the deployment could not be listed, -1 not verified",
        gauge(verified),
    );
    if let Some(head) = report.and_then(|r| r.journal_head.as_ref()) {
        let family = Family::<HeadLabels, Gauge>::default();
        family
            .get_or_create(&HeadLabels {
                operation: op.clone(),
                sha256: head.sha256.clone(),
            })
            .set(head.seq as i64);
        registry.register(
                "journal_head_seq",
                "The journal's hash chain head when the run ended: its last event, with that event's SHA-256 (dmm journal FILE --verify --expect-head SEQ:SHA256)",
                family,
            );
    }
    registry.register(
        "verification_skipped",
        "1 when the verification was skipped on request (--no-verify)",
        gauge(i64::from(matches!(
            verification,
            Some(VerificationOutcome::Skipped)
        ))),
    );
}

/// What became of the Jobs, what to do next, and when a run of this operation last succeeded.
fn register_jobs_and_next(registry: &mut Registry, op: &str, report: Option<&RunReport>) {
    let op = op.to_string();
    let gauge = |value: i64| run_gauge(&op, value);
    if let Some(jobs) = report.and_then(RunReport::jobs) {
        let family = Family::<OutcomeLabels, Gauge>::default();
        for (outcome, n) in jobs.by_outcome() {
            family
                .get_or_create(&OutcomeLabels {
                    operation: op.clone(),
                    outcome: outcome.into(),
                })
                .set(n as i64);
        }
        registry.register(
                "jobs",
                "The Jobs the shutdown found running, by what became of them (the summary's and dmm status's counts)",
                family,
            );
    }
    if let Some(report) = report {
        let next = Family::<NextLabels, Gauge>::default();
        next.get_or_create(&NextLabels {
            operation: op.clone(),
            action: report.next.name().into(),
        })
        .set(1);
        registry.register(
                "next_action",
                "What to do next (1 for it): continue, retry_failed, look_at_undecided, check_again, remaining_kinds, verify, upgrade_then_restore, jobs_left_stopped, complete",
                next,
            );
    }
    if report.is_some_and(|r| r.outcome == RunOutcome::Completed && r.verification.verified()) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        registry.register(
            "last_success_timestamp_seconds",
            "When a run of this operation last completed and verified (Unix time)",
            gauge(now),
        );
    }
}

impl Reporter for MetricsFile {
    fn run_began(&self, stats: &Arc<RunStats>) {
        let _ = self.stats.set(stats.clone());
    }
}
