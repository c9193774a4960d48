//! What the page says, read from the journal: plain data, no markup. Every text a user could
//! have chosen (names, owners, messages) is kept as it is; the templates escape it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Serialize;

use super::chain::ChainVerdict;
use super::timeline::{self, Chart, millis, show_time};
use crate::journal::{
    Damaged, JournalError, JournalRead, Operation, Readable, RunOutcome, RunRecord, StepPhase,
    StepRecord, VerificationRecord,
};
use crate::runner::VerificationDetail;
use crate::runner::verify::Finding;
use crate::runner::{
    NextAction, PhaseCount, RecordedOptions, RecordedRate, RunStanding, ScanRecord, StepDetail,
    Window,
};
use crate::snapshot::{Kind, LoadedSnapshot};

/// Shown where the journal holds nothing about a field.
pub const NOT_RECORDED: &str = "not recorded";

/// Skipped items named per group; the rest are counted.
const SKIPPED_NAMED: usize = 12;

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub generated_at: String,
    /// The window's verdict, first on the page: what a change record asks at close.
    pub verdict: Verdict,
    /// A process holds the journal now: the page shows a run in progress.
    pub in_progress: bool,
    pub header: Header,
    pub runs: Vec<RunRow>,
    pub counts: Vec<CountRow>,
    pub failures: Vec<StepItem>,
    pub mismatches: Vec<FindingItem>,
    pub drift: Vec<FindingItem>,
    pub skipped: Vec<SkipGroup>,
    pub jobs: Vec<JobRow>,
    /// The same Jobs counted per project, for a page with more Jobs than it lists one by one.
    pub job_projects: Vec<JobProject>,
    /// What became of the Jobs, counted, in the summary's and `status`'s words.
    pub jobs_line: String,
    pub verifications: Vec<VerificationRow>,
    /// The timeline; `None` before the first event.
    pub chart: Option<Chart>,
    /// Every execution the window touched, with its state at each stage (the CSV).
    #[serde(skip)]
    pub inventory: Vec<super::inventory::InventoryRow>,
    /// The part of it the page lists ([`super::inventory::for_page`]).
    pub inventory_shown: Vec<super::inventory::InventoryRow>,
    /// Executions the page leaves to the CSV.
    pub inventory_left: usize,
    /// Executions that did not go as planned, listed on the page or not.
    pub inventory_unplanned: usize,
    /// Who has something to hear when the window closes, by owner.
    pub owners: Vec<super::owners::OwnerToTell>,
    /// What to do next, as the journal's records decide it.
    #[serde(skip)]
    pub next: NextAction,
    /// The same written out with its commands (`dmm status`'s `next:` line); the command
    /// that renders the page fills it, since commands are the CLI's to spell.
    pub next_line: String,
}

/// What the window came to, in a headline and a few lines.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    pub headline: String,
    /// `ok`, `warn` or `bad`, for colour.
    pub class: &'static str,
    pub lines: Vec<String>,
}

/// The executions a verdict names at most, each line; the rest are counted.
const VERDICT_NAMES: usize = 5;

/// The characters of a name or owner a verdict shows: the verdict is the first screen and the
/// ticket's summary, and a 5,000-character name would fill both; the tables below have it whole.
const VERDICT_NAME_CHARS: usize = 60;

/// `s` with its hidden characters written out (`crate::visible`), then cut to
/// [`VERDICT_NAME_CHARS`] characters with `…` where it was cut: cut first, a name of twenty
/// hidden characters would still fill lines once each is spelled `<U+202E>`.
fn cut(s: &str) -> String {
    let shown = crate::visible::visible(s);
    match shown.char_indices().nth(VERDICT_NAME_CHARS) {
        Some((at, _)) => format!("{}…", &shown[..at]),
        None => shown.into_owned(),
    }
}

/// Where the failed steps of a window of more than one operation were: the headline names the
/// last run's failures, and "29 failed" beside "the restore ended with 12" must add up.
fn failed_per_operation(failures: &[StepItem]) -> String {
    let mut per_op: Vec<(&str, usize)> = Vec::new();
    for f in failures {
        match per_op.iter_mut().find(|(op, _)| *op == f.execution.op) {
            Some((_, n)) => *n += 1,
            None => per_op.push((f.execution.op, 1)),
        }
    }
    if per_op.len() < 2 {
        return String::new();
    }
    let parts: Vec<String> = per_op
        .iter()
        .map(|(op, n)| format!("{n} in the {op}"))
        .collect();
    format!(" over the window ({})", parts.join(", "))
}

fn verdict(
    next: &NextAction,
    failures: &[StepItem],
    mismatches: &[FindingItem],
    jobs_line: &str,
    last_run: Option<&RunRow>,
) -> Verdict {
    let (headline, class) = headline(next, failures, mismatches);
    let mut lines = Vec::new();
    if !failures.is_empty() {
        lines.push(format!(
            "{} step(s) failed{}: {}",
            failures.len(),
            failed_per_operation(failures),
            named(
                failures
                    .iter()
                    .map(|f| {
                        let e = &f.execution;
                        format!("{} {} ({})", e.kind, cut(&e.name), cut(&e.owner))
                    })
                    .collect()
            )
        ));
    }
    if !mismatches.is_empty() {
        lines.push(format!(
            "{} execution(s) not as promised at the last verification: {}",
            mismatches.len(),
            named(
                mismatches
                    .iter()
                    .map(|m| {
                        format!(
                            "{} {} ({}: {})",
                            m.execution.kind,
                            cut(&m.execution.name),
                            cut(&m.execution.owner),
                            m.finding
                        )
                    })
                    .collect()
            )
        ));
    }
    if !jobs_line.is_empty() {
        lines.push(jobs_line.to_owned());
    }
    if let Some(run) = last_run {
        lines.push(format!(
            "Last run: {} #{}, {}, exit code {}",
            run.op, run.id, run.outcome, run.exit_code
        ));
    }
    Verdict {
        headline,
        class,
        lines,
    }
}

/// The first [`VERDICT_NAMES`] of `items`, and how many more there are.
fn named(items: Vec<String>) -> String {
    let more = items.len().saturating_sub(VERDICT_NAMES);
    let mut shown: Vec<String> = items.into_iter().take(VERDICT_NAMES).collect();
    if more > 0 {
        shown.push(format!("and {more} more"));
    }
    shown.join(", ")
}

/// The verdict's headline for where the window stands, and its colour.
fn headline(
    next: &NextAction,
    failures: &[StepItem],
    mismatches: &[FindingItem],
) -> (String, &'static str) {
    use NextAction as N;
    match next {
        N::Shutdown => ("Nothing has been stopped or started yet".to_owned(), "warn"),
        // Restored and verified, but a step failed on the way (a stop refused at the
        // shutdown): successful with issues, not a clean "complete" beside a list of failures.
        N::Complete if !failures.is_empty() || !mismatches.is_empty() => (
            format!(
                "Maintenance complete with issues: restored and verified, but {} step(s) failed and {} execution(s) were not as promised",
                failures.len(),
                mismatches.len()
            ),
            "warn",
        ),
        N::Complete => (
            "Maintenance complete: shut down, restored and verified".to_owned(),
            "ok",
        ),
        N::JobsLeftStopped { stopped, .. } => (
            format!(
                "Restored and verified; {stopped} Job(s) the shutdown stopped were left stopped"
            ),
            "warn",
        ),
        N::UpgradeThenRestore => (
            "Shut down and verified: ready for the upgrade; not restored yet".to_owned(),
            "warn",
        ),
        N::Continue { op, unfinished, .. } => (
            format!("Not finished: the {op} has {unfinished} step(s) left to end"),
            "warn",
        ),
        N::RemainingKinds { op, kinds, .. } => (
            format!(
                "Not finished: the {op} has not covered {}",
                kinds
                    .iter()
                    .map(|k| k.label())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "warn",
        ),
        N::Verify { op } => (format!("The {op} ended, but was not verified"), "warn"),
        N::RetryFailed { op, failed, .. } => (
            format!("The {op} ended with {failed} failed step(s)"),
            "bad",
        ),
        N::LookAtUndecided { undecidable, .. } => (
            format!(
                "{undecidable} Job restart(s) cannot be told from what Domino shows: a person must look"
            ),
            "bad",
        ),
        N::CheckAgain { op } => (
            format!("The {op}'s verification found the deployment not as promised"),
            "bad",
        ),
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Header {
    /// The deployment's URL as the snapshot's scan recorded it.
    pub deployment: String,
    pub domino_version: String,
    pub acting_as: String,
    pub snapshot_path: String,
    pub snapshot_sha256: String,
    pub snapshot_taken: String,
    pub executions: usize,
    pub journal_path: String,
    pub events: usize,
    pub chain: ChainVerdict,
    /// Each record of the journal that does not decode (`dmm journal --verify` lists the
    /// same): the page shows what the other records say.
    pub damaged: Vec<String>,
    /// The change references the window was run under (`--change-id`), or [`NOT_RECORDED`].
    pub change: String,
    /// The planned window (the deadline) against the actual one, or [`NOT_RECORDED`].
    pub window: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct RunRow {
    pub id: u64,
    pub op: &'static str,
    pub cycle: u32,
    pub started: String,
    pub ended: String,
    /// [`RunStanding::words`]: `ended`, `ended with failures`, `interrupted`, `aborted`, `in
    /// progress`, or killed (its process was stopped before it could record an end).
    pub outcome: String,
    /// `ok`, `warn` or `bad`, for colour.
    pub class: &'static str,
    /// The exit code the outcome means (`docs/architecture.md`), or `-` without one.
    pub exit_code: String,
    pub deadline: String,
    pub pace: String,
    pub acting_as: String,
    /// The process, host and user that ran it (not recorded before 0.2.0's operator record).
    pub run_by: String,
    pub options: String,
    pub message: String,
    pub tool_version: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct CountRow {
    pub op: &'static str,
    pub kind: &'static str,
    pub confirmed: usize,
    pub skipped: usize,
    pub failed: usize,
    pub unfinished: usize,
    pub total: usize,
}

/// The columns that say which execution a row of the page is about, and in which operation.
#[derive(Clone, Debug, Serialize)]
pub struct ExecutionCells {
    pub op: &'static str,
    pub kind: &'static str,
    pub id: String,
    pub name: String,
    pub owner: String,
    pub project: String,
}

/// One step, in full.
#[derive(Clone, Debug, Serialize)]
pub struct StepItem {
    #[serde(flatten)]
    pub execution: ExecutionCells,
    pub attempts: u32,
    pub http_status: String,
    pub message: String,
}

/// One finding of a verification that is not simply as promised.
#[derive(Clone, Debug, Serialize)]
pub struct FindingItem {
    pub run: String,
    #[serde(flatten)]
    pub execution: ExecutionCells,
    pub finding: String,
    pub detail: String,
    /// The last HTTP status and message the step of this execution recorded.
    pub http_status: String,
    pub message: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct SkipGroup {
    pub op: &'static str,
    pub kind: &'static str,
    pub reason: String,
    pub count: usize,
    /// The first few names; `more` counts the rest.
    pub names: Vec<String>,
    pub more: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct JobRow {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub project: String,
    /// How its stop went: stopped by dmm, ended by itself, failed, ...
    pub stop: String,
    /// How the Job ended (the API's word), when its stop was confirmed.
    pub ended: String,
    /// `yes` when dmm's stop ended it (only those are restarted), `no`, or `-`.
    pub by_this_stop: &'static str,
    /// What became of its restart.
    pub restart: String,
    /// The new Job a restart created.
    pub effect: String,
    /// On the first Job of its project (the table is grouped by project): how many Jobs the
    /// project has; 0 on the others.
    pub group_jobs: usize,
}

/// A project's Jobs in a few words: how many, what became of them, and the first names.
#[derive(Clone, Debug, Serialize)]
pub struct JobProject {
    pub project: String,
    pub jobs: usize,
    /// Counted outcomes: `12 restarted, 3 not restarted`.
    pub outcomes: String,
    /// The first [`JOB_NAMES_EACH`] names, in the table's order; `more` counts the rest.
    pub names: Vec<String>,
    pub more: usize,
}

/// The Job names a project's line names on a page that counts Jobs per project.
const JOB_NAMES_EACH: usize = 3;

/// The Jobs of [`jobs`] (sorted by project) counted per project.
pub(super) fn job_projects(rows: &[JobRow]) -> Vec<JobProject> {
    let mut out: Vec<JobProject> = Vec::new();
    let mut outcomes: BTreeMap<&'static str, usize> = BTreeMap::new();
    for (i, row) in rows.iter().enumerate() {
        if out.last().is_none_or(|p| p.project != row.project) {
            out.push(JobProject {
                project: row.project.clone(),
                jobs: 0,
                outcomes: String::new(),
                names: Vec::new(),
                more: 0,
            });
        }
        let group = out.last_mut().expect("pushed above");
        group.jobs += 1;
        if group.names.len() < JOB_NAMES_EACH {
            group.names.push(row.name.clone());
        } else {
            group.more += 1;
        }
        let outcome = if row.restart.starts_with("restarted") {
            "restarted"
        } else if row.restart.starts_with("restart failed") {
            "restart failed"
        } else if row.restart.starts_with("cannot tell") {
            "cannot tell whether restarted"
        } else {
            "not restarted"
        };
        *outcomes.entry(outcome).or_default() += 1;
        if rows
            .get(i + 1)
            .is_none_or(|next| next.project != row.project)
        {
            group.outcomes = std::mem::take(&mut outcomes)
                .into_iter()
                .map(|(word, n)| format!("{n} {word}"))
                .collect::<Vec<_>>()
                .join(", ");
        }
    }
    out
}

#[derive(Clone, Debug, Serialize)]
pub struct VerificationRow {
    pub run: String,
    pub op: &'static str,
    pub time: String,
    /// `passed`, `FAILED`, `skipped (--no-verify)`, `could not run`, `not run`.
    pub result: String,
    pub class: &'static str,
    pub checked: String,
    pub mismatches: usize,
    pub drift: usize,
    pub skipped: usize,
    pub detail: String,
}

/// Reads everything the page needs from `journal` (one read per table), for the snapshot it is
/// bound to. `in_progress`: a process holds the journal now.
pub fn build(
    journal: &impl JournalRead,
    snapshot: &LoadedSnapshot,
    in_progress: bool,
) -> Result<Report, JournalError> {
    // What decodes, and each record that does not: a damaged journal still gives a page, with
    // the damage stated first and the exit code of a broken chain.
    let Readable {
        runs,
        steps,
        events,
        verifications,
        scan,
        damaged,
    } = journal.readable()?;
    let scan = scan.map(|s| ScanRecord::read(&s));
    let chain = ChainVerdict::of(&journal.verify_chain()?);

    let projects = ProjectIndex::new(snapshot, &steps, scan.as_ref());
    let step_of: HashMap<(Operation, Kind, &str), &StepRecord> = steps
        .iter()
        .map(|s| ((s.key.op, s.key.kind, s.key.execution.as_str()), s))
        .collect();

    let header = header(
        journal,
        snapshot,
        scan.as_ref(),
        &runs,
        events.len(),
        chain,
        &damaged,
    );
    let last_run = runs.last().map(|r| r.id);
    let run_rows: Vec<RunRow> = runs
        .iter()
        .map(|r| run_row(r, in_progress && Some(r.id) == last_run))
        .collect();
    let chart = timeline::aggregate(&events, &runs).map(|agg| Chart::layout(&agg));
    let (mismatches, drift) = findings(&verifications, &step_of, &projects);
    let failures = failures(&steps, &projects);
    let window = Window::read(&runs, &steps, in_progress);
    let jobs_line = window.jobs_line().unwrap_or_default();
    let next = crate::runner::next_action(&snapshot.snapshot, &steps, &runs, &verifications);
    let standing = standing(&mismatches, &verifications);
    let mut verdict = verdict(&next, &failures, &standing, &jobs_line, run_rows.last());
    // Said in the verdict when the window was planned: a change reference or a deadline.
    if header.change != NOT_RECORDED || header.window.starts_with("planned") {
        verdict.lines.push(format!(
            "Change: {}; window: {}",
            header.change, header.window
        ));
    }
    let inventory = super::inventory::rows(snapshot, &steps, &verifications, |kind, id| {
        projects.of(kind, id)
    });
    let (inventory_shown, inventory_left) = super::inventory::for_page(&inventory);
    let jobs = jobs(&steps, &projects);
    Ok(Report {
        generated_at: show_rfc3339(&crate::journal::now_rfc3339()),
        verdict,
        in_progress,
        header,
        runs: run_rows,
        counts: counts(&steps),
        failures,
        mismatches,
        drift,
        skipped: skipped(&steps),
        job_projects: job_projects(&jobs),
        jobs,
        jobs_line,
        verifications: verification_rows(&runs, &verifications, in_progress),
        chart,
        owners: super::owners::owners_to_tell(&steps),
        inventory_shown,
        inventory_left,
        inventory_unplanned: inventory.iter().filter(|r| !r.as_planned).count(),
        inventory,
        next,
        next_line: String::new(),
    })
}

/// The page's facts: the deployment, its version, whom the runs acted as, the snapshot, the
/// journal and its chain, the change and the window.
fn header(
    journal: &impl JournalRead,
    snapshot: &LoadedSnapshot,
    scan: Option<&ScanRecord>,
    runs: &[RunRecord],
    events: usize,
    chain: ChainVerdict,
    damaged: &[Damaged],
) -> Header {
    let latest = |pick: fn(&RunRecord) -> Option<&String>| {
        runs.iter()
            .rev()
            .find_map(pick)
            .cloned()
            .unwrap_or_else(|| NOT_RECORDED.to_owned())
    };
    Header {
        deployment: scan
            .and_then(|s| s.host.clone())
            .unwrap_or_else(|| NOT_RECORDED.to_owned()),
        domino_version: latest(|r| r.domino_version.as_ref()),
        acting_as: latest(|r| r.acting_as.as_ref()),
        snapshot_path: snapshot.path.display().to_string(),
        snapshot_sha256: snapshot.sha256.clone(),
        snapshot_taken: scan
            .and_then(|s| s.taken_at.as_deref())
            .map_or_else(|| NOT_RECORDED.to_owned(), show_rfc3339),
        executions: snapshot.snapshot.len(),
        journal_path: journal.path().display().to_string(),
        events,
        chain,
        damaged: damaged.iter().map(ToString::to_string).collect(),
        change: change(scan, runs),
        window: crate::runner::window_line_shown(runs, show_rfc3339)
            .unwrap_or_else(|| NOT_RECORDED.to_owned()),
    }
}

/// The mismatches the last verification found: the deployment as it stands; earlier ones are
/// history.
fn standing(mismatches: &[FindingItem], verifications: &[VerificationRecord]) -> Vec<FindingItem> {
    let last_check = verifications
        .last()
        .map(|v| v.run.map_or_else(|| "-".to_owned(), |r| r.to_string()));
    mismatches
        .iter()
        .filter(|m| Some(&m.run) == last_check.as_ref())
        .cloned()
        .collect()
}

/// The snapshot's change reference, then each run's, once each.
fn change(scan: Option<&ScanRecord>, runs: &[RunRecord]) -> String {
    let ids = crate::runner::change_ids(scan.and_then(|s| s.change_id.as_deref()), runs);
    if ids.is_empty() {
        NOT_RECORDED.to_owned()
    } else {
        ids.join(", ")
    }
}

fn show_rfc3339(s: &str) -> String {
    millis(s).map_or_else(|| s.to_owned(), show_time)
}

/// Each execution's project, by name: the id is recorded in `_id.projectId` in the snapshot,
/// in the scan record for the executions whose `_id` names none (Model API versions), or in
/// the step's own detail for executions the snapshot does not hold (Jobs); the name comes
/// from the projects the snapshot's scan listed (`owner/name`), or for journals written before
/// that was recorded, from a Workspace's name (`project/workspace`), or else stays the id.
struct ProjectIndex {
    of: HashMap<(Kind, String), String>,
    names: HashMap<String, String>,
}

impl ProjectIndex {
    fn new(snapshot: &LoadedSnapshot, steps: &[StepRecord], scan: Option<&ScanRecord>) -> Self {
        let mut of = HashMap::new();
        let mut names: HashMap<String, String> = scan
            .map(|s| s.project_names.clone().into_iter().collect())
            .unwrap_or_default();
        for (kind, entry) in snapshot.snapshot.iter() {
            if let (Ok(key), Some(project)) = (entry.key(kind), entry.id_str("projectId")) {
                of.insert((kind, key.to_owned()), project.to_owned());
                if kind == Kind::Workspace
                    && let Some((name, _)) = entry.name.split_once('/')
                {
                    names
                        .entry(project.to_owned())
                        .or_insert_with(|| name.to_owned());
                }
            }
        }
        for (label, listed) in scan.iter().flat_map(|s| &s.execution_projects) {
            let Ok(kind) = label.parse::<Kind>() else {
                continue;
            };
            for (execution, project) in listed {
                of.entry((kind, execution.clone()))
                    .or_insert_with(|| project.clone());
            }
        }
        for s in steps {
            if let Some(detail) = StepDetail::read(s.detail.as_ref())
                && let Some(project) = detail.text("projectId")
            {
                of.entry((s.key.kind, s.key.execution.clone()))
                    .or_insert_with(|| project.to_owned());
            }
        }
        ProjectIndex { of, names }
    }

    /// The project's name, its id when no name is known, `-` when the project is not recorded.
    fn of(&self, kind: Kind, execution: &str) -> String {
        match self.of.get(&(kind, execution.to_owned())) {
            Some(id) => self.names.get(id).cloned().unwrap_or_else(|| id.clone()),
            None => "-".to_owned(),
        }
    }
}

pub(crate) fn run_row(r: &RunRecord, running_now: bool) -> RunRow {
    let standing = RunStanding::of(r, true, running_now);
    let class = match standing {
        RunStanding::Ended(RunOutcome::Completed) => "ok",
        RunStanding::Ended(RunOutcome::CompletedWithFailures | RunOutcome::Aborted) => "bad",
        _ => "warn",
    };
    let outcome = standing.words();
    let exit_code = standing
        .exit_code()
        .map_or_else(|| "-".to_owned(), |c| c.to_string());
    let recorded = RecordedOptions::read(&r.options);
    let deadline = recorded
        .deadline
        .as_deref()
        .map_or_else(|| "none".to_owned(), show_rfc3339);
    let pace = match &r.pace {
        Some(p) => format!(
            "{:.0}/s ({}, {:.0} to {:.0}/s, ceiling {:.0}/s, {} pushback{})",
            p.settled,
            p.mode,
            p.min,
            p.max,
            p.ceiling,
            p.pushbacks,
            if p.pushbacks == 1 { "" } else { "s" }
        ),
        None => NOT_RECORDED.to_owned(),
    };
    let mut options = Vec::new();
    let given = [
        ("service", recorded.service.map(|k| k.label().to_owned())),
        ("jobs", recorded.jobs.map(|j| j.word().to_owned())),
        ("concurrency", recorded.concurrency.map(|c| c.to_string())),
        (
            "rate_limit",
            recorded.rate_limit.map(|r| match r {
                RecordedRate::Auto => "auto".to_owned(),
                RecordedRate::Fixed(n) => serde_json::Value::from(n).to_string(),
            }),
        ),
        ("max_failures", recorded.max_failures.map(|m| m.to_string())),
    ];
    for (key, value) in given {
        if let Some(value) = value {
            options.push(format!("{key} {value}"));
        }
    }
    for (flag, on) in [
        ("retry-failed", recorded.retry_failed),
        ("restart-jobs", recorded.restart_jobs),
    ] {
        if on {
            options.push(flag.to_owned());
        }
    }
    if recorded.verify == Some(false) {
        options.push("no-verify".into());
    }
    RunRow {
        id: r.id,
        op: r.op.as_str(),
        cycle: r.cycle,
        started: show_rfc3339(&r.started_at),
        ended: r
            .ended_at
            .as_deref()
            .map_or_else(|| "-".to_owned(), show_rfc3339),
        outcome: outcome.to_owned(),
        class,
        exit_code: exit_code.to_owned(),
        deadline,
        pace,
        acting_as: r
            .acting_as
            .clone()
            .unwrap_or_else(|| NOT_RECORDED.to_owned()),
        run_by: r
            .operator
            .as_ref()
            .map_or_else(|| NOT_RECORDED.to_owned(), ToString::to_string),
        options: options.join(", "),
        message: r.message.clone().unwrap_or_default(),
        tool_version: r.tool_version.clone(),
    }
}

/// Every step the journal holds, of every cycle, per operation and kind.
fn counts(steps: &[StepRecord]) -> Vec<CountRow> {
    PhaseCount::per_kind(steps, 0)
        .into_iter()
        .map(|((op, kind), n)| CountRow {
            op: op.as_str(),
            kind: kind.label(),
            confirmed: n.confirmed,
            skipped: n.skipped,
            failed: n.failed,
            unfinished: n.unfinished(),
            total: n.total(),
        })
        .collect()
}

fn http(status: Option<u16>) -> String {
    status.map_or_else(|| "-".to_owned(), |s| s.to_string())
}

/// The reason a step failed and the last error it saw, once each.
fn step_message(s: &StepRecord) -> String {
    let reason = s.phase.reason().unwrap_or_default();
    match s.last_error.as_deref() {
        Some(e) if !e.is_empty() && !reason.contains(e) && !reason.is_empty() => {
            format!("{reason}; last error: {e}")
        }
        Some(e) if !e.is_empty() && reason.is_empty() => e.to_owned(),
        _ => reason.to_owned(),
    }
}

fn failures(steps: &[StepRecord], projects: &ProjectIndex) -> Vec<StepItem> {
    steps
        .iter()
        .filter(|s| matches!(s.phase, StepPhase::Failed(_)))
        .map(|s| StepItem {
            execution: ExecutionCells {
                op: s.key.op.as_str(),
                kind: s.key.kind.label(),
                id: s.key.execution.clone(),
                name: s.name.clone(),
                owner: s.owner.clone(),
                project: projects.of(s.key.kind, &s.key.execution),
            },
            attempts: s.attempts,
            http_status: http(s.last_http_status),
            message: step_message(s),
        })
        .collect()
}

fn findings(
    verifications: &[VerificationRecord],
    step_of: &HashMap<(Operation, Kind, &str), &StepRecord>,
    projects: &ProjectIndex,
) -> (Vec<FindingItem>, Vec<FindingItem>) {
    let (mut mismatches, mut drift) = (Vec::new(), Vec::new());
    for v in verifications {
        let VerificationDetail::Checked(checked) = VerificationDetail::read(&v.detail) else {
            continue;
        };
        for item in checked.items.iter().filter(|i| i.finding.is_mismatch()) {
            let step = step_of.get(&(v.op, item.kind, item.execution.as_str()));
            let row = FindingItem {
                run: v.run.map_or_else(|| "-".to_owned(), |r| r.to_string()),
                execution: ExecutionCells {
                    op: v.op.as_str(),
                    kind: item.kind.label(),
                    id: item.execution.clone(),
                    name: item.name.clone(),
                    owner: item.owner.clone(),
                    project: projects.of(item.kind, &item.execution),
                },
                finding: finding_word(&item.finding).to_owned(),
                detail: item.detail.clone(),
                http_status: http(step.and_then(|s| s.last_http_status)),
                message: step
                    .and_then(|s| s.last_error.clone())
                    .unwrap_or_else(|| "-".to_owned()),
            };
            if item.finding == Finding::Drift {
                drift.push(row);
            } else {
                mismatches.push(row);
            }
        }
    }
    (mismatches, drift)
}

fn finding_word(f: &Finding) -> &'static str {
    match f {
        Finding::Ok => "ok",
        Finding::StillRunning => "still running",
        Finding::NotRunning => "not running",
        Finding::Drift => "started during maintenance",
        Finding::Skipped => "skipped",
        Finding::Unknown => "state unknown",
        Finding::ExtraRun => "runs more than once",
    }
}

fn skipped(steps: &[StepRecord]) -> Vec<SkipGroup> {
    let mut groups: BTreeMap<(Operation, Kind, &str), SkipGroup> = BTreeMap::new();
    for s in steps {
        let StepPhase::Skipped(reason) = &s.phase else {
            continue;
        };
        let g = groups
            .entry((s.key.op, s.key.kind, reason.as_str()))
            .or_insert_with(|| SkipGroup {
                op: s.key.op.as_str(),
                kind: s.key.kind.label(),
                reason: reason.clone(),
                count: 0,
                names: Vec::new(),
                more: 0,
            });
        g.count += 1;
        if g.names.len() < SKIPPED_NAMED {
            g.names.push(s.name.clone());
        } else {
            g.more += 1;
        }
    }
    groups.into_values().collect()
}

/// The Jobs by project name, then by name: at 10,000 a reader looks for a project's Jobs,
/// never for a Job id.
fn jobs(steps: &[StepRecord], projects: &ProjectIndex) -> Vec<JobRow> {
    let mut rows: Vec<JobRow> = crate::runner::job_fates(steps, 0)
        .into_iter()
        .map(|fate| {
            let stop = fate.stop;
            let restart = match &fate.restart_fate {
                Some(r) => r.words(),
                None => crate::runner::nothing_to_restart(&fate.stop_fate),
            };
            JobRow {
                id: stop.key.execution.clone(),
                name: stop.name.clone(),
                owner: stop.owner.clone(),
                project: projects.of(Kind::Job, &stop.key.execution),
                stop: fate.stop_fate.words(),
                ended: stop
                    .ended
                    .as_ref()
                    .map_or_else(|| NOT_RECORDED.to_owned(), |e| e.word.clone()),
                by_this_stop: match &stop.ended {
                    Some(e) if e.by_this_stop => "yes",
                    Some(_) => "no",
                    None => "-",
                },
                restart,
                effect: fate
                    .restart
                    .and_then(|r| r.effect.clone())
                    .unwrap_or_else(|| "-".to_owned()),
                group_jobs: 0,
            }
        })
        .collect();
    rows.sort_by(|a, b| (&a.project, &a.name, &a.id).cmp(&(&b.project, &b.name, &b.id)));
    let mut start = 0;
    while start < rows.len() {
        let n = rows[start..]
            .iter()
            .take_while(|r| r.project == rows[start].project)
            .count();
        rows[start].group_jobs = n;
        start += n;
    }
    rows
}

/// What became of the Jobs, in the words every frontend prints (`JobsOfShutdown::line`).
fn verification_rows(
    runs: &[RunRecord],
    verifications: &[VerificationRecord],
    in_progress: bool,
) -> Vec<VerificationRow> {
    let mut rows = Vec::new();
    let last_run = runs.last().map(|r| r.id);
    for r in runs {
        let mine: Vec<&VerificationRecord> = verifications
            .iter()
            .filter(|v| v.run == Some(r.id))
            .collect();
        if mine.is_empty() {
            let why = if in_progress && Some(r.id) == last_run {
                "not yet: the run is in progress"
            } else {
                "the run ended before its verification (the next run verifies)"
            };
            rows.push(VerificationRow {
                run: r.id.to_string(),
                op: r.op.as_str(),
                time: "-".into(),
                result: "not run".into(),
                class: "warn",
                checked: "-".into(),
                mismatches: 0,
                drift: 0,
                skipped: 0,
                detail: why.into(),
            });
        }
        rows.extend(mine.into_iter().map(verification_row));
    }
    // Verifications not tied to a run (none are written today) still show.
    rows.extend(
        verifications
            .iter()
            .filter(|v| v.run.is_none())
            .map(verification_row),
    );
    rows
}

fn verification_row(v: &VerificationRecord) -> VerificationRow {
    let mut row = VerificationRow {
        run: v.run.map_or_else(|| "-".to_owned(), |r| r.to_string()),
        op: v.op.as_str(),
        time: show_rfc3339(&v.time),
        result: String::new(),
        class: "ok",
        checked: "-".into(),
        mismatches: 0,
        drift: 0,
        skipped: 0,
        detail: String::new(),
    };
    let detail = VerificationDetail::read(&v.detail);
    if let VerificationDetail::Skipped(why) = &detail {
        // `--no-verify`: recorded as not failing the run, but nothing was checked.
        row.result = "skipped".into();
        row.class = "warn";
        row.detail = format!("not checked: {why}");
    } else if let VerificationDetail::Unavailable(err) = &detail {
        row.result = "could not run".into();
        row.class = "bad";
        row.detail = err.clone();
    } else if let VerificationDetail::Checked(checked) = &detail {
        row.checked = checked.checked.to_string();
        row.drift = checked.count(Finding::Drift);
        row.mismatches = checked.mismatches() - row.drift;
        row.skipped = checked.count(Finding::Skipped);
        row.result = if checked.passed { "passed" } else { "FAILED" }.into();
        row.class = if checked.passed { "ok" } else { "bad" };
        row.detail = format!(
            "expected {}",
            match checked.expect {
                crate::runner::verify::Expectation::Stopped => "stopped",
                crate::runner::verify::Expectation::Running => "running",
            }
        );
    } else {
        row.result = if v.passed { "passed" } else { "FAILED" }.into();
        row.class = if v.passed { "ok" } else { "bad" };
        row.detail = "recorded in a shape this dmm does not read".into();
    }
    row
}

impl Report {
    /// The journal's hash chain does not hold: the page says so, and `dmm report` exits 1.
    pub fn chain_broken(&self) -> bool {
        self.header.chain.is_broken()
    }

    /// Records of the journal do not decode: the page says so, and `dmm report` exits 1.
    pub fn damaged(&self) -> bool {
        !self.header.damaged.is_empty()
    }

    /// The report file's default path: `FILE.report.html` (or `.md`) beside the snapshot.
    pub fn default_path(snapshot: &Path, extension: &str) -> std::path::PathBuf {
        let mut name = snapshot.as_os_str().to_owned();
        name.push(format!(".report.{extension}"));
        std::path::PathBuf::from(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed_stop() -> StepItem {
        StepItem {
            execution: ExecutionCells {
                op: "shutdown",
                kind: "Workspace",
                id: "w1".into(),
                name: "p/ws".into(),
                owner: "ann".into(),
                project: "p".into(),
            },
            attempts: 1,
            http_status: "500".into(),
            message: "refused".into(),
        }
    }

    #[test]
    fn failures_of_two_operations_are_counted_per_operation_in_the_verdict() {
        let mut restore = failed_stop();
        restore.execution.op = "restore";
        let failures = [failed_stop(), failed_stop(), restore];
        let v = verdict(&NextAction::Complete, &failures, &[], "", None);
        assert!(
            v.lines[0].starts_with(
                "3 step(s) failed over the window (2 in the shutdown, 1 in the restore): "
            ),
            "{}",
            v.lines[0]
        );
        let one_op = verdict(&NextAction::Complete, &failures[..2], &[], "", None);
        assert!(
            one_op.lines[0].starts_with("2 step(s) failed: "),
            "{}",
            one_op.lines[0]
        );
    }

    #[test]
    fn a_complete_window_with_a_failed_step_is_complete_with_issues_not_ok() {
        let clean = verdict(&NextAction::Complete, &[], &[], "", None);
        assert_eq!(clean.class, "ok", "{}", clean.headline);
        let with_failure = verdict(&NextAction::Complete, &[failed_stop()], &[], "", None);
        assert_eq!(with_failure.class, "warn");
        assert!(
            with_failure.headline.contains("with issues")
                && with_failure.headline.contains("1 step(s) failed"),
            "{}",
            with_failure.headline
        );
    }

    /// A Model API version's `_id` holds its model, not its project: the scan record's
    /// `execution_projects` names it; a journal written before it was recorded reads `-`.
    #[test]
    fn a_model_version_is_named_by_the_project_its_scan_listed_it_under() {
        let mut snapshot = crate::snapshot::Snapshot::new();
        snapshot.set(
            Kind::ModelApiVersion,
            vec![crate::snapshot::Entry {
                id: serde_json::json!({"_id": "v1", "modelId": "m1", "isActive": true}),
                name: "scorer #1".into(),
                owner: "ann".into(),
            }],
        );
        let loaded = LoadedSnapshot {
            path: "s.json".into(),
            snapshot,
            sha256: String::new(),
        };
        let older = ScanRecord::read(&serde_json::json!({
            "project_names": {"p1": "ann/churn"}
        }));
        let index = ProjectIndex::new(&loaded, &[], Some(&older));
        assert_eq!(index.of(Kind::ModelApiVersion, "v1"), "-");
        let recorded = ScanRecord::read(&serde_json::json!({
            "project_names": {"p1": "ann/churn"},
            "execution_projects": {"Model API Version": {"v1": "p1"}}
        }));
        let index = ProjectIndex::new(&loaded, &[], Some(&recorded));
        assert_eq!(index.of(Kind::ModelApiVersion, "v1"), "ann/churn");
        assert_eq!(index.of(Kind::App, "v1"), "-", "keyed by kind too");
    }
}
