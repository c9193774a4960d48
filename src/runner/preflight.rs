//! `dmm preflight`: is this deployment (and this snapshot's journal) ready for a maintenance
//! window? Read-only: every request is a GET, and the journal is only looked at.
//!
//! The API probes are `domino::preflight`'s; this adds what a scan shows (what runs now, rollout
//! hazards, workspaces of unknown projects, apps whose volumes are not local), what a shutdown
//! and a restore would cost at the chosen pace, and the state of the snapshot's journal. The
//! CLI renders the checks (`cli::commands::preflight`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use crate::domino::preflight::{
    self as probes, Check, CheckStatus, non_local_volumes, rough_duration,
};
use crate::domino::{Deployment, NoProgress, ScanOptions, ScanReport, scan};
use crate::journal::{self, JournalError, JournalRead, JournalReader};
use crate::snapshot::{self, Entry, Kind, Source};

/// What the preflight needs besides the deployment.
#[derive(Clone, Debug)]
pub struct PreflightOptions {
    /// TLS verification is off (`DOMINO_SSL_NO_VERIFY`).
    pub tls_no_verify: bool,
    /// How the credentials are named in messages: "API key" or "service-account token".
    pub credential: String,
    /// The service-account token file, when one is used: its expiry is checked.
    pub token_file: Option<PathBuf>,
    /// The pace a shutdown and a restore would run at (`--concurrency`, `--rate-limit`).
    pub concurrency: u32,
    pub rate_limit: f64,
    /// A snapshot whose journal to look at, and the journal's path if not beside it.
    pub snapshot: Option<PathBuf>,
    pub journal: Option<PathBuf>,
}

/// Every check, in the order they are shown.
#[derive(Clone, Debug, Serialize)]
pub struct PreflightReport {
    pub host: String,
    pub checks: Vec<Check>,
}

impl PreflightReport {
    /// The worst status: `Fail` means not usable, `Warn` ready with warnings.
    pub fn worst(&self) -> CheckStatus {
        self.checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(CheckStatus::Ok)
    }

    pub fn count(&self, status: CheckStatus) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }
}

/// Runs every check. Never fails: what cannot be checked is a check that says so.
pub async fn preflight(deployment: &Deployment, options: &PreflightOptions) -> PreflightReport {
    let client = &deployment.client;
    let mut checks = Vec::new();
    let contact = probes::contact(client, options.tls_no_verify).await;
    checks.extend(contact.checks);
    if contact.answers {
        let identity = probes::identity(client, &options.credential).await;
        checks.extend(identity.checks);
        if let Some(path) = &options.token_file {
            checks.push(probes::token_expiry(path, SystemTime::now()));
        }
        if identity.usable {
            checks.extend(probes::listings(client).await.checks);
            checks.extend(scan_checks(deployment, options).await);
        }
    } else if let Some(path) = &options.token_file {
        checks.push(probes::token_expiry(path, SystemTime::now()));
    }
    if let Some(file) = &options.snapshot {
        checks.push(journal_check(file, options.journal.as_deref()));
    }
    PreflightReport {
        host: client.base_url().to_owned(),
        checks,
    }
}

/// What a scan shows, as `dmm snapshot` would take it now.
async fn scan_checks(deployment: &Deployment, options: &PreflightOptions) -> Vec<Check> {
    // Jobs too: a shutdown stops the ones running when it reaches them.
    let options_with_jobs = ScanOptions {
        include_live: true,
        ..ScanOptions::DEFAULT
    };
    let report = match scan(&deployment.client, &options_with_jobs, &NoProgress).await {
        Ok(r) => r,
        Err(e) => {
            return vec![Check::fail(
                "running now",
                format!("the deployment cannot be scanned: {e}"),
            )];
        }
    };
    let mut checks = vec![running_now(&report)];
    checks.extend(estimates(deployment, &report, options));
    checks.push(rollouts(&report));
    checks.push(app_volumes(deployment, &report).await);
    checks.push(workspace_projects(&report));
    checks
}

/// Problems that are workspaces of a project the project listing does not know (reported on
/// their own line).
fn is_unknown_project(p: &crate::domino::ScanProblem) -> bool {
    p.kind == Kind::Workspace && p.reason.contains("is not among the listed projects")
}

fn is_rollout(warning: &str) -> bool {
    warning.contains("mid-rollout")
}

fn first_few(items: &[String], n: usize) -> String {
    let mut text = items.iter().take(n).cloned().collect::<Vec<_>>().join("; ");
    if items.len() > n {
        text.push_str(&format!("; and {} more", items.len() - n));
    }
    text
}

fn running_now(report: &ScanReport) -> Check {
    let name = "running now";
    let per_kind: Vec<String> = Kind::EVERY
        .iter()
        .map(|&k| format!("{k}: {}", report.found(k)))
        .collect();
    let total = report.snapshot.len();
    let summary = format!(
        "{} ({total} executions in {} projects)",
        per_kind.join(", "),
        report.projects
    );
    let problems: Vec<String> = report
        .problems
        .iter()
        .filter(|p| !is_unknown_project(p))
        .map(ToString::to_string)
        .collect();
    let warnings: Vec<String> = report
        .warnings
        .iter()
        .filter(|w| !is_rollout(w))
        .cloned()
        .collect();
    if problems.is_empty() && warnings.is_empty() {
        Check::ok(name, summary)
    } else {
        let mut all = problems;
        all.extend(warnings);
        Check::warn(
            name,
            format!(
                "{summary}; a snapshot now would have {} problem(s) or warning(s): {}",
                all.len(),
                first_few(&all, 3)
            ),
        )
    }
}

/// Requests a shutdown and a restore of what runs now need at least, and the least time they
/// take at the chosen pace. Polls are not counted (they depend on how long executions take),
/// so the figures are floors.
fn estimates(
    deployment: &Deployment,
    report: &ScanReport,
    options: &PreflightOptions,
) -> Vec<Check> {
    let entries = |k: Kind| report.snapshot.entries(k);
    // One listing like the scan's verifies each run.
    let verification = report.requests;
    let mut shutdown_sends = 0u64;
    let mut shutdown_requests = verification;
    let mut restore_sends = 0u64;
    let mut restore_requests = verification;
    let mut skipped = 0usize;
    let mut jobs_not_restarted = 0usize;
    for &kind in Kind::EVERY {
        let list = entries(kind);
        let n = list.len() as u64;
        if n == 0 {
            continue;
        }
        let api = deployment.kind(kind);
        if kind.source() == Source::Live {
            // Read once before its stop (one may end on its own), then stopped; started again
            // only with --restart-jobs, so not counted in the restore.
            shutdown_sends += n;
            shutdown_requests += 2 * n + if api.has_bulk_listing() { 1 } else { n };
            jobs_not_restarted += list.len();
            continue;
        }
        // A stop or start each; a scheduled job is read before it is written back; a kind
        // without a shared listing is read at least once per execution, one with it is listed
        // at least once.
        let per_send = if kind == Kind::ScheduledJob { 2 } else { 1 };
        let reads = |count: u64| {
            if kind == Kind::ScheduledJob {
                0
            } else if api.has_bulk_listing() {
                1
            } else {
                count
            }
        };
        shutdown_sends += n;
        shutdown_requests += n * per_send + reads(n);
        let restartable: Vec<&Entry> = list.iter().filter(|e| api.restartable(e).is_ok()).collect();
        skipped += list.len() - restartable.len();
        let r = restartable.len() as u64;
        if r > 0 {
            restore_sends += r;
            restore_requests += r * per_send + reads(r);
            if kind == Kind::App {
                // The volumes of each project, read once.
                let projects: BTreeSet<&str> = restartable
                    .iter()
                    .filter_map(|e| e.id_str("projectId"))
                    .collect();
                restore_requests += projects.len() as u64;
            }
        }
    }
    let pace = format!(
        "{} requests/s, {} in flight",
        trim_rate(options.rate_limit),
        options.concurrency
    );
    let at_least = |requests: u64| {
        let secs = requests as f64 / options.rate_limit;
        rough_duration(std::time::Duration::from_secs_f64(secs.ceil().max(1.0)))
    };
    let shutdown = if shutdown_sends == 0 {
        Check::ok(
            "shutdown",
            "nothing runs: a shutdown would have nothing to stop",
        )
    } else {
        Check::ok(
            "shutdown",
            format!(
                "{shutdown_sends} stops and pauses, at least {shutdown_requests} requests with reads and the verification: at least {} at {pace}, plus the time the executions take to stop",
                at_least(shutdown_requests)
            ),
        )
    };
    let mut left = Vec::new();
    if skipped > 0 {
        left.push(format!("{skipped} left for their users or not restartable"));
    }
    if jobs_not_restarted > 0 {
        left.push(format!(
            "{jobs_not_restarted} Job(s) started again only with --restart-jobs"
        ));
    }
    let skipped_text = if left.is_empty() {
        String::new()
    } else {
        format!(" ({})", left.join("; "))
    };
    let restore = if restore_sends == 0 {
        Check::ok("restore", format!("nothing to start again{skipped_text}"))
    } else {
        Check::ok(
            "restore",
            format!(
                "{restore_sends} starts and resumes{skipped_text}, at least {restore_requests} requests with reads and the verification: at least {} at {pace}, plus the time the executions take to start",
                at_least(restore_requests)
            ),
        )
    };
    vec![shutdown, restore]
}

fn trim_rate(rate: f64) -> String {
    if rate.fract() == 0.0 {
        format!("{rate:.0}")
    } else {
        format!("{rate}")
    }
}

fn rollouts(report: &ScanReport) -> Check {
    let found: Vec<String> = report
        .warnings
        .iter()
        .filter(|w| is_rollout(w))
        .cloned()
        .collect();
    if found.is_empty() {
        Check::ok("rollouts", "no Model API is in the middle of a rollout")
    } else {
        Check::warn(
            "rollouts",
            format!(
                "{} model(s) mid-rollout: let the rollout finish before the snapshot: {}",
                found.len(),
                first_few(&found, 3)
            ),
        )
    }
}

/// Running apps in projects that have volumes without a local data plane: a restore starts
/// them with the local volumes only.
async fn app_volumes(deployment: &Deployment, report: &ScanReport) -> Check {
    let name = "app volumes";
    let apps = report.snapshot.entries(Kind::App);
    let mut apps_by_project: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for app in apps {
        if let Some(p) = app.id_str("projectId") {
            apps_by_project
                .entry(p.to_owned())
                .or_default()
                .push(&app.name);
        }
    }
    if apps_by_project.is_empty() {
        return Check::ok(name, "no app runs");
    }
    let projects: BTreeSet<String> = apps_by_project.keys().cloned().collect();
    let (non_local, unreadable) = non_local_volumes(&deployment.client, &projects).await;
    let mut affected: Vec<String> = Vec::new();
    let mut by_project: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (project, volume) in &non_local {
        by_project.entry(project).or_default().push(volume);
    }
    let mut app_count = 0;
    for (project, volumes) in &by_project {
        let names = &apps_by_project[*project];
        app_count += names.len();
        affected.push(format!(
            "{} (project {project}: volume(s) {})",
            names.join(", "),
            volumes.join(", ")
        ));
    }
    match (affected.is_empty(), unreadable.is_empty()) {
        (true, true) => Check::ok(
            name,
            format!(
                "every volume of the {} project(s) with running apps has a local data plane",
                projects.len()
            ),
        ),
        (false, _) => Check::warn(
            name,
            format!(
                "{app_count} running app(s) in projects with volumes that are not local: a restore starts them without those volumes: {}",
                first_few(&affected, 3)
            ),
        ),
        (true, false) => Check::warn(
            name,
            format!(
                "the volumes of {} project(s) cannot be read: {}",
                unreadable.len(),
                first_few(&unreadable, 2)
            ),
        ),
    }
}

fn workspace_projects(report: &ScanReport) -> Check {
    let name = "workspace projects";
    let unknown: Vec<String> = report
        .problems
        .iter()
        .filter(|p| is_unknown_project(p))
        .map(|p| p.subject.clone())
        .collect();
    if unknown.is_empty() {
        Check::ok(
            name,
            "the project listing knows the project of every running workspace",
        )
    } else {
        Check::warn(
            name,
            format!(
                "{} running workspace(s) whose project the project listing does not know: dmm cannot stop them; stop them by hand: {}",
                unknown.len(),
                first_few(&unknown, 3)
            ),
        )
    }
}

/// The snapshot's journal: clean, in progress (a run that did not end, or steps not ended), or
/// held by another process now. Only looked at.
fn journal_check(file: &Path, explicit: Option<&Path>) -> Check {
    let name = "journal";
    let loaded = match snapshot::read(file) {
        Ok(l) => l,
        Err(e) => return Check::fail(name, e.to_string()),
    };
    let path = journal::path_for(file, explicit);
    let shown = path.display();
    if !path.exists() {
        return Check::ok(
            name,
            format!(
                "no journal yet at {shown}: nothing has been stopped or started from this snapshot ({} executions)",
                loaded.snapshot.len()
            ),
        );
    }
    let held = match journal::is_held(&path) {
        Ok(held) => held,
        Err(e) => return Check::fail(name, e.to_string()),
    };
    let reader = match JournalReader::open_bound(&path, &loaded.sha256) {
        Ok(r) => r,
        Err(e @ JournalError::WrongSnapshot { .. }) => return Check::fail(name, e.to_string()),
        Err(e) if held => {
            return Check::warn(
                name,
                format!(
                    "{shown} is held by another process (a dmm run in progress?); it cannot be read now: {e}"
                ),
            );
        }
        Err(e) => return Check::fail(name, e.to_string()),
    };
    let (runs, steps) = match (reader.runs(), reader.steps(None)) {
        (Ok(r), Ok(s)) => (r, s),
        (Err(e), _) | (_, Err(e)) => return Check::fail(name, e.to_string()),
    };
    let open_steps = steps.iter().filter(|s| !s.phase.is_terminal()).count();
    let last = runs.last();
    if held {
        let what = last.map_or(String::new(), |r| {
            format!(": run #{} ({}) started at {}", r.id, r.op, r.started_at)
        });
        return Check::warn(
            name,
            format!(
                "{shown} is held by another process, a dmm run in progress{what}; {open_steps} step(s) not ended yet (dmm status shows where it stands)"
            ),
        );
    }
    match last {
        None if steps.is_empty() => Check::ok(
            name,
            format!(
                "{shown} is clean: no run yet ({} executions in the snapshot)",
                loaded.snapshot.len()
            ),
        ),
        Some(run) if run.ended_at.is_none() => Check::warn(
            name,
            format!(
                "{shown} is in progress: run #{} ({}) started at {} did not end (killed?); run dmm {} again to continue",
                run.id, run.op, run.started_at, run.op
            ),
        ),
        _ if open_steps > 0 => Check::warn(
            name,
            format!(
                "{shown} is in progress: {open_steps} step(s) not ended; dmm status shows the command to continue"
            ),
        ),
        Some(run) => Check::ok(
            name,
            format!(
                "{shown} is clean: the last run, #{} ({}), ended{}",
                run.id,
                run.op,
                run.outcome
                    .as_ref()
                    .map(|o| format!(
                        " {}",
                        serde_json::to_value(o)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default()
                    ))
                    .unwrap_or_default()
            ),
        ),
        None => Check::ok(name, format!("{shown} is clean: every step has ended")),
    }
}
