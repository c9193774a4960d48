//! The scan behind `dmm snapshot`: what runs now, across the four kinds, listed concurrently.
//!
//! Only two things end a scan: the project list cannot be read (nothing per project could be
//! scanned), or the key is refused anywhere (nothing else would succeed). Everything else (a
//! project whose listing fails after retries, an odd record, a moving workspace list) is a
//! problem or a warning in the report, and the scan goes on.

use std::collections::HashSet;
use std::future::Future;

use futures::stream::{self, StreamExt};
use tokio::sync::Semaphore;

use super::kinds::{Listing, apps, model_versions, scheduled_jobs, workspaces};
use super::projects::{Project, ProjectIndex, index_by_owner_and_name, list_projects};
use super::{ApiError, DominoClient, ScanProblem, ScanProgress, ScanReport};
use crate::snapshot::{Entry, Kind, Snapshot};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanOptions {
    /// Project-level listings (models or scheduled jobs of one project) in flight at once,
    /// across both kinds.
    pub concurrency: usize,
    pub workspaces_page_size: usize,
    pub models_page_size: usize,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            concurrency: 10,
            workspaces_page_size: 50,
            models_page_size: 10,
        }
    }
}

/// Lists what runs now. See the module documentation for what ends a scan.
pub async fn scan(
    client: &DominoClient,
    options: &ScanOptions,
    progress: &dyn ScanProgress,
) -> Result<ScanReport, ApiError> {
    let requests_before = client.requests_sent();
    let (projects, project_warnings) = list_projects(client).await?;
    progress.projects_listed(projects.len());
    for warning in &project_warnings {
        progress.warning(warning);
    }
    let index = index_by_owner_and_name(&projects);
    let concurrency = options.concurrency.max(1);
    let project_slots = Semaphore::new(concurrency);
    let per_project = PerProject {
        projects: &projects,
        slots: &project_slots,
        concurrency,
        progress,
    };

    let (apps, models, workspaces, jobs) = tokio::try_join!(
        scan_apps(client, progress),
        per_project.scan(Kind::ModelApiVersion, |project| {
            model_versions::list_project(client, &project.id, options.models_page_size.max(1))
        }),
        scan_workspaces(client, options.workspaces_page_size, &index, progress),
        per_project.scan(Kind::ScheduledJob, |project| {
            scheduled_jobs::list_project(client, &project.id)
        }),
    )?;

    let mut report = ScanReport {
        projects: projects.len(),
        warnings: project_warnings,
        ..ScanReport::default()
    };
    let mut snapshot = Snapshot::new();
    for (kind, listing) in [
        (Kind::App, apps),
        (Kind::ModelApiVersion, models),
        (Kind::Workspace, workspaces),
        (Kind::ScheduledJob, jobs),
    ] {
        snapshot.set(kind, in_stable_order(kind, listing.entries));
        report.problems.extend(listing.problems);
        report.warnings.extend(listing.warnings);
        report.examined.insert(kind, listing.examined);
        report
            .observed
            .insert(kind, listing.observed.into_iter().collect());
    }
    report.snapshot = snapshot;
    report.requests = client.requests_sent() - requests_before;
    Ok(report)
}

/// Sorted by name then id, so two scans of the same deployment write the same file; an id the
/// API listed twice is kept once (a snapshot file must not repeat an execution).
fn in_stable_order(kind: Kind, mut entries: Vec<Entry>) -> Vec<Entry> {
    let key = |e: &Entry| e.key(kind).unwrap_or_default().to_owned();
    entries.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| key(a).cmp(&key(b))));
    let mut seen = HashSet::new();
    entries.retain(|e| seen.insert(key(e)));
    entries
}

/// Tells the progress hooks what a listing found.
fn announce(kind: Kind, listing: &Listing, progress: &dyn ScanProgress) {
    if !listing.entries.is_empty() {
        progress.found(kind, listing.entries.len());
    }
    for problem in &listing.problems {
        progress.problem(problem);
    }
    for warning in &listing.warnings {
        progress.warning(warning);
    }
}

/// A listing that failed for good: fatal when the key was refused, a problem otherwise.
fn failed_listing(
    kind: Kind,
    subject: String,
    error: ApiError,
    progress: &dyn ScanProgress,
) -> Result<Listing, ApiError> {
    if error.is_unauthorized() {
        return Err(error);
    }
    let problem = ScanProblem::new(kind, subject, format!("cannot be listed: {error}"));
    progress.problem(&problem);
    Ok(Listing {
        problems: vec![problem],
        ..Listing::default()
    })
}

async fn scan_apps(
    client: &DominoClient,
    progress: &dyn ScanProgress,
) -> Result<Listing, ApiError> {
    progress.kind_started(Kind::App, 1);
    let listing = match apps::list_running(client).await {
        Ok(listing) => {
            announce(Kind::App, &listing, progress);
            listing
        }
        Err(e) => failed_listing(Kind::App, "the list of all apps".into(), e, progress)?,
    };
    progress.unit_done(Kind::App);
    progress.kind_finished(Kind::App);
    Ok(listing)
}

async fn scan_workspaces(
    client: &DominoClient,
    page_size: usize,
    projects: &ProjectIndex,
    progress: &dyn ScanProgress,
) -> Result<Listing, ApiError> {
    let listing = match workspaces::list_rows(client, page_size, progress).await {
        Ok(listed) => {
            let (entries, problems) = workspaces::running_entries(&listed.rows, projects);
            let mut all_problems = listed.problems;
            all_problems.extend(problems);
            let observed = listed
                .rows
                .iter()
                .map(|r| {
                    (
                        r.workspace_id.clone(),
                        workspaces::workspace_state(&r.workspace_state),
                    )
                })
                .collect();
            let listing = Listing {
                examined: listed.rows.len(),
                entries,
                problems: all_problems,
                warnings: listed.warnings,
                observed,
            };
            announce(Kind::Workspace, &listing, progress);
            listing
        }
        Err(e) => failed_listing(
            Kind::Workspace,
            "the admin list of workspaces".into(),
            e,
            progress,
        )?,
    };
    progress.kind_finished(Kind::Workspace);
    Ok(listing)
}

/// Runs one listing per project, a bounded number at a time.
struct PerProject<'a> {
    projects: &'a [Project],
    /// Shared by the kinds listed per project, so the bound holds across them.
    slots: &'a Semaphore,
    concurrency: usize,
    progress: &'a dyn ScanProgress,
}

impl<'a> PerProject<'a> {
    async fn scan<F, Fut>(&self, kind: Kind, list: F) -> Result<Listing, ApiError>
    where
        F: Fn(&'a Project) -> Fut,
        Fut: Future<Output = Result<Listing, ApiError>>,
    {
        let progress = self.progress;
        progress.kind_started(kind, self.projects.len());
        let mut results = stream::iter(self.projects)
            .map(|project| {
                let listing = list(project);
                async move {
                    let _slot = self.slots.acquire().await.expect("never closed");
                    (project, listing.await)
                }
            })
            .buffer_unordered(self.concurrency);
        let mut all = Listing::default();
        while let Some((project, result)) = results.next().await {
            let listing = match result {
                Ok(listing) => {
                    announce(kind, &listing, progress);
                    listing
                }
                Err(e) => {
                    let subject = format!(
                        "project {} ({}/{})",
                        project.id, project.owner_username, project.name
                    );
                    failed_listing(kind, subject, e, progress)?
                }
            };
            progress.unit_done(kind);
            all.entries.extend(listing.entries);
            all.problems.extend(listing.problems);
            all.warnings.extend(listing.warnings);
            all.examined += listing.examined;
            all.observed.extend(listing.observed);
        }
        progress.kind_finished(kind);
        Ok(all)
    }
}
