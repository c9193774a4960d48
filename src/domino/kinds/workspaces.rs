//! Workspaces: one admin-wide list, paged by offset (and shifting while it is paged), read one
//! at a time, stopped per workspace. Administrators cannot start a user's workspace: restore
//! records them as "restart manually".

use crate::domino::shape::{Field, Need::*, Ty::*};
use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use super::records::parse_records;
use super::{Listing, gone_if_not_found, id_field, seg};
use crate::domino::probe::{ListingProbe, PROBE_PAGE_SIZE, PageCap};
use crate::domino::projects::ProjectIndex;
use crate::domino::shape::check_shape;
use crate::domino::{
    ApiError, DominoClient, ExecutionKind, ListContext, ListingScope, NoProgress, Observed,
    ProblemCause, ScanProblem, ScanProgress,
};
use crate::snapshot::{Entry, Kind};

const KIND: Kind = Kind::Workspace;

/// A guard against a list that never ends (an API ignoring `offset`).
const MAX_PAGES: usize = 100_000;
/// Consecutive pages without a new readable row after which paging stops.
const IDLE_PAGES_TO_STOP: usize = 3;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RowPage {
    #[serde(default)]
    table_rows: Vec<Value>,
    #[serde(default)]
    total_entries: Option<u64>,
}

/// One row of the admin dashboard.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceRow {
    pub workspace_id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub project_name: Option<String>,
    #[serde(default)]
    pub project_owner_name: Option<String>,
    #[serde(default)]
    pub owner_username: Option<String>,
    pub workspace_state: String,
}

/// The distinct rows of the whole list, and what went wrong while paging it.
#[derive(Debug, Default)]
pub struct WorkspaceRows {
    pub rows: Vec<WorkspaceRow>,
    pub problems: Vec<ScanProblem>,
    pub warnings: Vec<String>,
}

const RUNNING_OR_LAUNCHING: [&str; 4] = ["Created", "Initializing", "Starting", "Started"];

fn word_in(word: &str, words: &[&str]) -> bool {
    words.iter().any(|w| w.eq_ignore_ascii_case(word))
}

/// Whether a snapshot takes a workspace in this state (`docs/domino-api.md`: running or launching).
pub fn is_running_or_launching(state: &str) -> bool {
    word_in(state, &RUNNING_OR_LAUNCHING)
}

/// The words of a workspace that has stopped, for good or not (Domino's API).
const STOPPED: [&str; 4] = ["Stopped", "Failed", "Error", "Completed"];

/// A list state as the runner sees it. `Started` runs; a known stopped word is stopped; every
/// other word (the launching ones, `Stopping`, and any word not known yet) is in motion, so that
/// a stop is never confirmed on a word dmm does not understand.
pub fn workspace_state(state: &str) -> Observed {
    if state.eq_ignore_ascii_case("Started") {
        Observed::Running
    } else if word_in(state, &STOPPED) {
        Observed::Stopped
    } else {
        Observed::InMotion(state.to_owned())
    }
}

/// Pages through the admin list. The server may serve fewer rows than asked (a capped
/// `limit`), so the offset advances by the rows received, and only an empty page or an offset
/// at `totalEntries` ends the listing; one that ends short of `totalEntries` is a problem (the
/// scan is incomplete). Rows shift between pages while it is paged, so rows are deduplicated by
/// `workspaceId`, and a count that differs from `totalEntries` is a warning.
pub async fn list_rows(
    client: &DominoClient,
    page_size: usize,
    progress: &dyn ScanProgress,
) -> Result<WorkspaceRows, ApiError> {
    let page_size = page_size.max(1);
    let mut result = WorkspaceRows::default();
    let mut seen = HashSet::new();
    let (mut offset, mut duplicates, mut unreadable) = (0u64, 0usize, 0usize);
    let mut total: Option<u64> = None;
    let mut ended_empty = false;
    let mut stalled = false;
    let mut idle_pages = 0usize;
    for page_number in 1..=MAX_PAGES {
        let path = format!("/v4/workspace/adminDashboardRowData?limit={page_size}&offset={offset}");
        let page: RowPage = client.get_json(&path).await?;
        if page_number == 1 {
            progress.kind_started(KIND, pages_expected(&page, page_size));
        }
        progress.unit_done(KIND);
        total = page.total_entries.or(total);
        let row_count = page.table_rows.len();
        if row_count == 0 {
            ended_empty = true;
            break;
        }
        let problems_before = result.problems.len();
        let rows: Vec<WorkspaceRow> = parse_records(KIND, page.table_rows, &mut result.problems);
        unreadable += result.problems.len() - problems_before;
        let mut new_rows = 0usize;
        for row in rows {
            if seen.insert(row.workspace_id.clone()) {
                result.rows.push(row);
                new_rows += 1;
            } else {
                duplicates += 1;
            }
        }
        offset += row_count as u64;
        if total.is_some_and(|t| offset >= t) {
            break;
        }
        let page_unreadable = result.problems.len() - problems_before;
        if total.is_none() && new_rows == 0 && page_unreadable == 0 {
            // No count to stop at and nothing new: the API ignores `offset`.
            result.warnings.push(format!(
                "the workspace list repeated earlier rows at offset {offset}; stopped paging there"
            ));
            break;
        }
        // One page of nothing new happens when rows shift while the list is paged; several in
        // a row mean the API ignores `offset` or serves rows that cannot be read, and with a
        // wrong count (or none) paging would go on to `MAX_PAGES`.
        idle_pages = if new_rows == 0 { idle_pages + 1 } else { 0 };
        if idle_pages >= IDLE_PAGES_TO_STOP {
            stalled = true;
            result.warnings.push(format!(
                "the workspace list brought no new readable row in {idle_pages} pages up to offset {offset}; stopped paging there"
            ));
            break;
        }
    }
    let found = result.rows.len() + unreadable;
    if let Some(total) = total {
        note_the_count(
            &mut result,
            total,
            offset,
            ended_empty || stalled,
            found,
            duplicates,
        );
    }
    Ok(result)
}

/// The pages the listing will take, from its first page: pages of the size the server serves,
/// which may be less than asked.
fn pages_expected(first: &RowPage, page_size: usize) -> usize {
    let served = first.table_rows.len().clamp(1, page_size);
    first
        .total_entries
        .map_or(1, |t| (t as usize).div_ceil(served).max(1))
}

/// Holds the listing against the `total` rows it reports: one that ended (`cut_short`: on an
/// empty page, or stalled) before `offset` reached it is incomplete, a problem; one that
/// `found` another count changed while it was paged, a warning.
fn note_the_count(
    result: &mut WorkspaceRows,
    total: u64,
    offset: u64,
    cut_short: bool,
    found: usize,
    duplicates: usize,
) {
    if cut_short && offset < total {
        result.problems.push(ScanProblem::new(
            KIND,
            "the admin list of workspaces",
            format!(
                "it ended after {offset} of the {total} rows it reports (totalEntries): rows {} to {total} were not listed, so running workspaces may be missing from the snapshot; run it again",
                offset + 1
            ),
        ));
    } else if found as u64 != total {
        result.warnings.push(format!(
            "the workspace list changed while it was paged: {found} distinct workspaces found, the API now reports {total} ({duplicates} repeated rows dropped); some workspaces may be missing from the snapshot, run it again to be sure"
        ));
    }
}

/// Snapshot entries for the running rows. A row whose project cannot be resolved through
/// `(owner, name)` cannot be stopped (the stop needs the project id): a problem, skipped.
pub fn running_entries(
    rows: &[WorkspaceRow],
    projects: &ProjectIndex,
) -> (Vec<Entry>, Vec<ScanProblem>) {
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    for row in rows
        .iter()
        .filter(|r| is_running_or_launching(&r.workspace_state))
    {
        let project_name = row.project_name.clone().unwrap_or_default();
        let owner = row.project_owner_name.clone().unwrap_or_default();
        let name = format!(
            "{project_name}/{}",
            row.name.as_deref().unwrap_or(&row.workspace_id)
        );
        let Some(project_id) = projects.get(&(owner.clone(), project_name.clone())) else {
            problems.push(
                ScanProblem::new(
                    KIND,
                    format!("{} ({name})", row.workspace_id),
                    format!(
                        "its project '{owner}/{project_name}' is not among the listed projects; skipped"
                    ),
                )
                .because(ProblemCause::UnknownProject),
            );
            continue;
        };
        entries.push(Entry {
            id: json!({ "_id": row.workspace_id, "projectId": project_id }),
            name,
            owner: row.owner_username.clone().unwrap_or_default(),
        });
    }
    (entries, problems)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WorkspaceDetail {
    #[serde(default)]
    most_recent_session: Option<Session>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Session {
    #[serde(default)]
    session_status_info: Option<SessionStatus>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionStatus {
    #[serde(default)]
    is_completed: bool,
    #[serde(default)]
    is_running: bool,
}

fn detail_state(detail: &WorkspaceDetail) -> Observed {
    let Some(session) = &detail.most_recent_session else {
        return Observed::Stopped; // never ran
    };
    match &session.session_status_info {
        Some(s) if s.is_completed => Observed::Stopped,
        Some(s) if s.is_running => Observed::Running,
        Some(_) => Observed::InMotion("session neither running nor completed".into()),
        None => Observed::InMotion("session without status".into()),
    }
}

pub struct Workspaces {
    client: DominoClient,
    page_size: usize,
}

impl Workspaces {
    pub fn new(client: DominoClient, page_size: usize) -> Workspaces {
        Workspaces { client, page_size }
    }

    fn path(entry: &Entry) -> Result<String, ApiError> {
        let id = id_field(KIND, entry, "_id")?;
        let project_id = id_field(KIND, entry, "projectId")?;
        Ok(format!(
            "/v4/workspace/project/{}/workspace/{}",
            seg(project_id),
            seg(id)
        ))
    }
}

#[async_trait]
impl ExecutionKind for Workspaces {
    /// One page larger than dmm ever asks for: a cap shows as fewer rows than asked and than
    /// the total.
    async fn probe_listing(&self, _projects: &[String]) -> ListingProbe {
        const NAME: &str = "listing: workspaces";
        let path = format!("/v4/workspace/adminDashboardRowData?limit={PROBE_PAGE_SIZE}&offset=0");
        let page = match self.client.get_value(&path).await {
            Ok(page) => page,
            Err(e) => return ListingProbe::failed(NAME, &e),
        };
        if let Err(why) = check_shape(&page, PAGE_SHAPE) {
            return ListingProbe::fail(
                NAME,
                format!("GET {path}: the page does not have the shape dmm reads: {why}"),
            );
        }
        let rows = page["tableRows"].as_array().cloned().unwrap_or_default();
        let got = rows.len();
        let cap = match page.get("totalEntries").and_then(Value::as_u64) {
            Some(t) if (got as u64) < t.min(PROBE_PAGE_SIZE as u64) => PageCap::Capped(format!(
                "workspace rows at {got} (asked {PROBE_PAGE_SIZE}, totalEntries {t})"
            )),
            Some(0) => PageCap::NotCapped("workspaces: none to tell by".to_owned()),
            Some(t) => PageCap::NotCapped(format!(
                "workspaces: asked {PROBE_PAGE_SIZE}, got {got} of totalEntries {t}"
            )),
            None => PageCap::NotCapped(format!(
                "workspaces: asked {PROBE_PAGE_SIZE}, got {got} (no totalEntries to compare)"
            )),
        };
        ListingProbe::of_shape(NAME, &path, &rows, ROW_SHAPE).with_cap(Some(cap))
    }

    fn kind(&self) -> Kind {
        KIND
    }

    fn listing_scope(&self) -> ListingScope {
        ListingScope::AdminPaged
    }

    /// The running rows as snapshot entries, and every row's state for the verification pass.
    async fn list_running(&self, context: &ListContext<'_>) -> Result<Listing, ApiError> {
        let listed = list_rows(&self.client, self.page_size, context.progress).await?;
        let (entries, problems) = running_entries(&listed.rows, context.project_index);
        let mut all_problems = listed.problems;
        all_problems.extend(problems);
        let observed = listed
            .rows
            .iter()
            .map(|r| (r.workspace_id.clone(), workspace_state(&r.workspace_state)))
            .collect();
        Ok(Listing {
            examined: listed.rows.len(),
            entries,
            problems: all_problems,
            warnings: listed.warnings,
            observed,
            ..Listing::default()
        })
    }

    fn has_bulk_listing(&self) -> bool {
        true
    }

    async fn stop(&self, entry: &Entry) -> Result<Option<Observed>, ApiError> {
        self.client
            .post(&format!("{}/stop", Self::path(entry)?), None)
            .await?;
        Ok(None)
    }

    async fn start(&self, _entry: &Entry) -> Result<Option<Observed>, ApiError> {
        Err(ApiError::Unsupported {
            kind: KIND,
            operation: "start".into(),
            reason: "users restart their own workspaces".into(),
        })
    }

    async fn observe(&self, entry: &Entry) -> Result<Observed, ApiError> {
        let path = Self::path(entry)?;
        let read = async {
            let detail: WorkspaceDetail = self.client.get_json(&path).await?;
            Ok(detail_state(&detail))
        };
        gone_if_not_found(read.await)
    }

    async fn observe_all(&self) -> Option<Result<HashMap<String, Observed>, ApiError>> {
        let read = async {
            let listed = list_rows(&self.client, self.page_size, &NoProgress).await?;
            Ok(listed
                .rows
                .into_iter()
                .map(|row| (row.workspace_id, workspace_state(&row.workspace_state)))
                .collect())
        };
        Some(read.await)
    }

    fn restartable(&self, _entry: &Entry) -> Result<(), String> {
        Err("restart manually: users restart their own workspaces".into())
    }
}

// The fields this module reads of the API's records, for `dmm preflight` to check the first
// record of each listing against (`domino::shape`).

/// The shape preflight checks of `workspaces::RowPage`; `tableRows` is read as a list even when absent, but a page
/// without it lists nothing, so it is required here.
pub const PAGE_SHAPE: &[Field] = &[
    Field("tableRows", Array, Required),
    Field("totalEntries", Count, Optional),
];

/// The shape preflight checks of `workspaces::WorkspaceRow`.
pub const ROW_SHAPE: &[Field] = &[
    Field("workspaceId", Str, Required),
    Field("name", Str, Optional),
    Field("projectName", Str, Optional),
    Field("projectOwnerName", Str, Optional),
    Field("ownerUsername", Str, Optional),
    Field("workspaceState", Str, Required),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_states() {
        assert_eq!(workspace_state("Started"), Observed::Running);
        for s in [
            "Created",
            "Initializing",
            "Starting",
            "Stopping",
            "Deleting",
            "Deprovisioning",
            "Deleted",
            "",
        ] {
            assert_eq!(workspace_state(s), Observed::InMotion(s.into()), "{s}");
        }
        for s in ["Stopped", "Failed", "Error", "Completed", "stopped"] {
            assert_eq!(workspace_state(s), Observed::Stopped, "{s}");
            assert!(!is_running_or_launching(s));
        }
    }

    #[test]
    fn detail_states() {
        let state = |v: Value| detail_state(&serde_json::from_value(v).unwrap());
        assert_eq!(state(json!({"mostRecentSession": null})), Observed::Stopped);
        assert_eq!(state(json!({})), Observed::Stopped);
        let session = |c: bool, r: bool| json!({"mostRecentSession": {"sessionStatusInfo": {"isCompleted": c, "isRunning": r}}, "x": 1});
        assert_eq!(state(session(true, false)), Observed::Stopped);
        assert_eq!(state(session(true, true)), Observed::Stopped);
        assert_eq!(state(session(false, true)), Observed::Running);
        assert!(matches!(
            state(session(false, false)),
            Observed::InMotion(_)
        ));
    }

    #[test]
    fn entries_resolve_projects_and_skip_unknown_ones() {
        let rows: Vec<WorkspaceRow> = serde_json::from_value(json!([
            {"workspaceId": "w1", "name": "ws", "projectName": "churn", "projectOwnerName": "alice", "ownerUsername": "bob", "workspaceState": "Started"},
            {"workspaceId": "w2", "name": "old", "projectName": "churn", "projectOwnerName": "alice", "ownerUsername": "bob", "workspaceState": "Stopped"},
            {"workspaceId": "w3", "name": "lost", "projectName": "gone", "projectOwnerName": "carol", "ownerUsername": "carol", "workspaceState": "Starting"}
        ]))
        .unwrap();
        let projects: ProjectIndex =
            [(("alice".to_owned(), "churn".to_owned()), "p1".to_owned())].into();
        let (entries, problems) = running_entries(&rows, &projects);
        assert_eq!(entries.len(), 1);
        assert_eq!(
            serde_json::to_string(&entries[0]).unwrap(),
            r#"{"_id":{"_id":"w1","projectId":"p1"},"name":"churn/ws","owner":"bob"}"#
        );
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].subject, "w3 (gone/lost)");
        assert!(problems[0].reason.contains("'carol/gone'"));
    }
}
