//! The scan behind `dmm snapshot`: what runs now, across every registered kind, listed
//! concurrently, each kind by the listing scope it declares.
//!
//! Only two things end a scan: the project list cannot be read (nothing per project could be
//! scanned), or the key is refused anywhere (nothing else would succeed). Everything else (a
//! project whose listing fails after retries, an odd record, a moving workspace list) is a
//! problem or a warning in the report, and the scan goes on.

use std::collections::HashSet;

use futures::future::try_join_all;
use futures::stream::{self, StreamExt};
use tokio::sync::Semaphore;

use super::kinds::{KindOptions, Listing, execution_kinds};
use super::projects::{Project, index_by_owner_and_name, list_projects};
use super::{
    ApiError, DominoClient, ExecutionKind, ListContext, ListingScope, ScanProblem, ScanProgress,
    ScanReport,
};
use crate::snapshot::{Entry, Kind, Snapshot, Source};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanOptions {
    /// Project-level listings (models or scheduled jobs of one project) in flight at once,
    /// across both kinds.
    pub concurrency: usize,
    pub workspaces_page_size: usize,
    pub models_page_size: usize,
    /// Also list the kinds a snapshot does not record (Jobs): the verification after a shutdown
    /// wants them, `dmm snapshot` does not.
    pub include_live: bool,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions::DEFAULT
    }
}

impl ScanOptions {
    pub const DEFAULT: ScanOptions = ScanOptions {
        concurrency: 10,
        workspaces_page_size: KindOptions::DEFAULT.workspaces_page_size,
        models_page_size: KindOptions::DEFAULT.models_page_size,
        include_live: false,
    };

    fn kind_options(&self) -> KindOptions {
        KindOptions {
            workspaces_page_size: self.workspaces_page_size.max(1),
            models_page_size: self.models_page_size.max(1),
            jobs_page_size: KindOptions::DEFAULT.jobs_page_size,
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
    let project_index = index_by_owner_and_name(&projects);
    let concurrency = options.concurrency.max(1);
    let project_slots = Semaphore::new(concurrency);
    let per_project = PerProject {
        projects: &projects,
        slots: &project_slots,
        concurrency,
        progress,
    };
    let context = ListContext {
        projects: &projects,
        project_index: &project_index,
        progress,
    };
    let kinds: Vec<_> = execution_kinds(client, &options.kind_options())
        .into_iter()
        .filter(|k| options.include_live || k.kind().source() == Source::Snapshot)
        .collect();
    // Every kind is listed at the same time; each by the scope it declares.
    let listings = try_join_all(kinds.iter().map(|api| {
        let (per_project, context) = (&per_project, &context);
        async move {
            let kind = api.kind();
            let listing = match api.listing_scope() {
                ListingScope::PerProject => per_project.scan(api.as_ref()).await?,
                ListingScope::Global => {
                    progress.kind_started(kind, 1);
                    let listing = whole_listing(api.as_ref(), context).await?;
                    progress.unit_done(kind);
                    listing
                }
                // Reports its own pages as units of progress.
                ListingScope::AdminPaged => whole_listing(api.as_ref(), context).await?,
            };
            progress.kind_finished(kind);
            Ok::<_, ApiError>((kind, listing))
        }
    }))
    .await?;

    let mut report = ScanReport {
        projects: projects.len(),
        project_names: projects
            .iter()
            .map(|p| (p.id.clone(), format!("{}/{}", p.owner_username, p.name)))
            .collect(),
        warnings: project_warnings,
        ..ScanReport::default()
    };
    let mut snapshot = Snapshot::new();
    for (kind, listing) in listings {
        snapshot.set(kind, in_stable_order(kind, listing.entries));
        report.problems.extend(listing.problems);
        report.warnings.extend(listing.warnings);
        report.warnings.extend(listing.rollouts.iter().cloned());
        report.rollouts.extend(listing.rollouts);
        report.examined.insert(kind, listing.examined);
        if !listing.listed_under.is_empty() {
            report
                .listed_under
                .insert(kind, listing.listed_under.into_iter().collect());
        }
        report
            .observed
            .insert(kind, listing.observed.into_iter().collect());
    }
    report.snapshot = snapshot;
    report.requests = client.requests_sent() - requests_before;
    Ok(report)
}

/// What of one kind runs now across the deployment, listed by the kind's own scope: for a
/// shutdown that reaches a kind the snapshot does not record (Jobs). Fails when the project list
/// or a project's listing fails: a drain must not believe a partial list.
pub async fn list_kind(
    client: &DominoClient,
    api: &dyn ExecutionKind,
    concurrency: usize,
) -> Result<Listing, ApiError> {
    let (projects, _) = list_projects(client).await?;
    let project_index = index_by_owner_and_name(&projects);
    let listing = match api.listing_scope() {
        ListingScope::PerProject => {
            let results: Vec<Result<Listing, ApiError>> = stream::iter(&projects)
                .map(|project| api.list_project(project))
                .buffer_unordered(concurrency.max(1))
                .collect()
                .await;
            let mut all = Listing::default();
            for result in results {
                all.absorb(result?);
            }
            all
        }
        ListingScope::Global | ListingScope::AdminPaged => {
            let context = ListContext {
                projects: &projects,
                project_index: &project_index,
                progress: &super::NoProgress,
            };
            api.list_running(&context).await?
        }
    };
    let kind = api.kind();
    Ok(Listing {
        entries: in_stable_order(kind, listing.entries),
        ..listing
    })
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
    for warning in listing.warnings.iter().chain(&listing.rollouts) {
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

/// A kind's deployment-wide listing; its failure is a problem unless the key was refused.
async fn whole_listing(
    api: &dyn ExecutionKind,
    context: &ListContext<'_>,
) -> Result<Listing, ApiError> {
    let kind = api.kind();
    match api.list_running(context).await {
        Ok(listing) => {
            announce(kind, &listing, context.progress);
            Ok(listing)
        }
        Err(e) => failed_listing(
            kind,
            format!("the list of all {kind} executions"),
            e,
            context.progress,
        ),
    }
}

/// The project of each entry whose `_id` does not record one, which the snapshot file cannot
/// gain (the earlier tool's reader takes no other key): the journal's scan record keeps it.
fn listed_under(kind: Kind, entries: &[Entry], project_id: &str) -> Vec<(String, String)> {
    entries
        .iter()
        .filter(|e| e.id_str("projectId").is_none())
        .filter_map(|e| e.key(kind).ok())
        .map(|key| (key.to_owned(), project_id.to_owned()))
        .collect()
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
    async fn scan(&self, api: &dyn ExecutionKind) -> Result<Listing, ApiError> {
        let kind = api.kind();
        let progress = self.progress;
        progress.kind_started(kind, self.projects.len());
        let mut results = stream::iter(self.projects)
            .map(|project| {
                let listing = api.list_project(project);
                async move {
                    let _slot = self.slots.acquire().await.expect("never closed");
                    (project, listing.await)
                }
            })
            .buffer_unordered(self.concurrency);
        let mut all = Listing::default();
        while let Some((project, result)) = results.next().await {
            let listing = match result {
                Ok(mut listing) => {
                    announce(kind, &listing, progress);
                    listing.listed_under = listed_under(kind, &listing.entries, &project.id);
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
            all.absorb(listing);
        }
        Ok(all)
    }
}
