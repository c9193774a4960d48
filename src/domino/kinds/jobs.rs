//! Jobs (batch runs): not in the snapshot; listed per project when a shutdown reaches them,
//! stopped with their results committed, and restarted on restore only when asked.
//!
//! A restart is not state-setting: each one runs a new job. It is sent once, never retried by
//! the client, and an unknown outcome is resolved by looking for the job it would have created
//! ([`ExecutionKind::restart_candidates`], judged by the runner).

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use super::records::parse_records;
use super::{Listing, gone_if_not_found, id_field, seg};
use crate::domino::about::Principal;
use crate::domino::probe::ListingProbe;
use crate::domino::{
    ApiError, ComesBack, DominoClient, ExecutionKind, ListingScope, Observed, Project,
    RestartCandidate,
};
use crate::snapshot::{Entry, Kind};

const KIND: Kind = Kind::Job;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobPage {
    #[serde(default)]
    jobs: Vec<Value>,
    #[serde(default)]
    total_count: Option<u64>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobStatuses {
    #[serde(default)]
    is_completed: bool,
    #[serde(default)]
    execution_status: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct StartedBy {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    username: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StageTime {
    #[serde(default)]
    submission_time: Option<i64>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobRecord {
    id: String,
    #[serde(default)]
    number: Option<Value>,
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    job_run_command: Option<String>,
    #[serde(default)]
    statuses: JobStatuses,
    #[serde(default)]
    started_by: StartedBy,
    #[serde(default)]
    stage_time: StageTime,
    /// The job this one restarted, where the server says so.
    #[serde(default)]
    restart_of: Option<String>,
}

impl JobRecord {
    fn state(&self) -> Observed {
        job_state(&self.statuses)
    }

    /// A snapshot-style entry: the `_id` object keeps what a stop, a restart and the audit need.
    fn entry(&self, project_id: &str) -> Entry {
        let command = self.job_run_command.clone().unwrap_or_default();
        let title = self.title.clone().filter(|t| !t.trim().is_empty());
        let number = self.number.clone().unwrap_or(Value::Null);
        let name = title.clone().unwrap_or_else(|| {
            if command.is_empty() {
                format!("job #{}", number_text(&number))
            } else {
                command.clone()
            }
        });
        Entry {
            id: json!({
                "_id": self.id,
                "projectId": project_id,
                "number": number,
                "title": title,
                "command": command,
            }),
            name,
            owner: self.started_by.username.clone().unwrap_or_default(),
        }
    }
}

fn number_text(n: &Value) -> String {
    match n {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => "?".into(),
    }
}

/// Ended when the API says so; otherwise in motion, or running when it says `Running`. A word
/// nobody listed is in motion, never ended.
fn job_state(statuses: &JobStatuses) -> Observed {
    let word = statuses.execution_status.clone().unwrap_or_default();
    if statuses.is_completed {
        Observed::Stopped
    } else if word.eq_ignore_ascii_case("Running") {
        Observed::Running
    } else {
        Observed::InMotion(if word.is_empty() { "?".into() } else { word })
    }
}

pub struct Jobs {
    client: DominoClient,
    page_size: usize,
    principal: OnceCell<Principal>,
    /// The word each ended job showed when last read: a stop step needs to know whether its
    /// job ended `Stopped` (by the stop) or otherwise (by itself), without another request.
    end_words: std::sync::Mutex<std::collections::HashMap<String, String>>,
    /// Which of the listing's filter words the server took or refused, learnt this run.
    vocabulary: std::sync::Mutex<Vocabulary>,
    /// Whether the warning that the listing is narrower than `all` has been given this run.
    warned_narrow: std::sync::atomic::AtomicBool,
}

/// What the server answered to a filter word: `None` not asked yet, `Some(false)` refused.
#[derive(Clone, Copy, Debug, Default)]
struct Vocabulary {
    all: Option<bool>,
    queued: Option<bool>,
}

/// The listing's query words: every Job, newest first (as python-domino asks by default).
pub const ALL: &str = "&status=all&order_by=number&sort_by=desc";
/// Only where `all` is refused: the server's `running`, then its `queued`.
pub const RUNNING: &str = "&status=running";
pub const QUEUED: &str = "&status=queued";

/// The status words `dmm preflight` asks the Job listing about.
pub const STATUS_WORDS: [&str; 4] = ["all", "running", "queued", "completed"];

/// A filter word the server does not take: 400 to the listing.
fn is_refused_word(e: &ApiError) -> bool {
    e.status() == Some(400)
}

/// What one listing has read so far, over one or more filter words.
#[derive(Default)]
struct ListingRead {
    listing: Listing,
    records: Vec<JobRecord>,
    seen: std::collections::HashSet<String>,
}

impl ListingRead {
    fn done(self) -> (Vec<JobRecord>, Listing) {
        (self.records, self.listing)
    }
}

impl Jobs {
    /// Notes how a job read just now stands, if it has ended.
    fn note_end(&self, job: &JobRecord) {
        if job.statuses.is_completed {
            let word = job
                .statuses
                .execution_status
                .clone()
                .unwrap_or_else(|| "?".into());
            self.end_words
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(job.id.clone(), word);
        }
    }

    pub fn new(client: DominoClient, page_size: usize) -> Jobs {
        Jobs {
            client,
            page_size: page_size.max(1),
            principal: OnceCell::new(),
            end_words: Default::default(),
            vocabulary: Default::default(),
            warned_narrow: Default::default(),
        }
    }

    /// One project's jobs, every page; `running_only` keeps those not completed
    /// (`statuses.isCompleted` false), whatever the server's filter words mean.
    ///
    /// The listing asks for `status=all`, newest first (python-domino's default words), and
    /// filters on `isCompleted` itself: nothing documents which Jobs a server's `running`
    /// includes, and one whose `running` leaves out `Queued`, `Pending` or `Preparing` Jobs
    /// would hide them from the drain and from its verification. Only a server that refuses
    /// `all` (400) is asked for `running` and then `queued` (where it takes that word), each
    /// page of both read and the Jobs united by id; the refusals are learnt once per run.
    async fn list(
        &self,
        project_id: &str,
        running_only: bool,
    ) -> Result<(Vec<JobRecord>, Listing), ApiError> {
        let mut read = ListingRead::default();
        if self.vocabulary().all != Some(false) {
            match self
                .list_pages(project_id, ALL, running_only, &mut read)
                .await
            {
                Ok(()) => {
                    self.learn(|v| v.all = Some(true));
                    return Ok(read.done());
                }
                Err(e) if is_refused_word(&e) && read.listing.examined == 0 => {
                    self.learn(|v| v.all = Some(false));
                }
                Err(e) => return Err(e),
            }
        }
        if !running_only {
            // Every Job, for a restart's candidates: the server's own default.
            self.list_pages(project_id, "", false, &mut read).await?;
            return Ok(read.done());
        }
        self.list_pages(project_id, RUNNING, true, &mut read)
            .await?;
        if self.vocabulary().queued != Some(false) {
            match self.list_pages(project_id, QUEUED, true, &mut read).await {
                Ok(()) => self.learn(|v| v.queued = Some(true)),
                Err(e) if is_refused_word(&e) => self.learn(|v| v.queued = Some(false)),
                Err(e) => return Err(e),
            }
        }
        if !self
            .warned_narrow
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            let asked = if self.vocabulary().queued == Some(true) {
                "status=running and status=queued"
            } else {
                "status=running alone (it refuses queued)"
            };
            read.listing.warnings.push(format!(
                "the server refuses status=all on the Job listing: Jobs are listed with {asked}, which may leave out Jobs that are neither (Pending, Preparing, ...)"
            ));
        }
        Ok(read.done())
    }

    /// Every page of one listing (`words`: the query's filter and order, or empty), into `read`.
    async fn list_pages(
        &self,
        project_id: &str,
        words: &str,
        running_only: bool,
        read: &mut ListingRead,
    ) -> Result<(), ApiError> {
        let listing = &mut read.listing;
        let mut examined = 0usize;
        for page_no in 1..=MAX_PAGES {
            let path = format!(
                "/v4/jobs?projectId={}{words}&page_size={}&page_no={page_no}",
                seg(project_id),
                self.page_size
            );
            let page: JobPage = self.client.get_json(&path).await?;
            let received = page.jobs.len();
            examined += received;
            listing.examined += received;
            let jobs: Vec<JobRecord> = parse_records(KIND, page.jobs, &mut listing.problems);
            let mut new_jobs = 0usize;
            for job in jobs {
                if !read.seen.insert(job.id.clone()) {
                    continue;
                }
                new_jobs += 1;
                self.note_end(&job);
                let state = job.state();
                listing.observed.push((job.id.clone(), state.clone()));
                if running_only && state == Observed::Stopped {
                    continue;
                }
                let project = job.project_id.clone().unwrap_or_else(|| project_id.into());
                listing.entries.push(job.entry(&project));
                read.records.push(job);
            }
            // An empty page ends the listing, and so does reaching the count. A short page
            // ends it only when the server gives no count: a server may cap the page size
            // below what was asked, and a job past the first short page is still running.
            let ended = match page.total_count {
                Some(total) => received == 0 || examined as u64 >= total,
                None => received < self.page_size || received == 0,
            };
            if ended {
                break;
            }
            // A full page of nothing new: the server ignores `page_no` (or serves rows that
            // cannot be read); paging on would read the same page to `MAX_PAGES`.
            if new_jobs == 0 {
                listing.warnings.push(format!(
                    "project {project_id}: job page {page_no} brought no new job; stopped paging there"
                ));
                break;
            }
        }
        Ok(())
    }

    fn vocabulary(&self) -> Vocabulary {
        *self
            .vocabulary
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn learn(&self, what: impl FnOnce(&mut Vocabulary)) {
        what(
            &mut self
                .vocabulary
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
    }

    async fn principal(&self) -> Result<&Principal, ApiError> {
        self.principal
            .get_or_try_init(|| Principal::read(&self.client))
            .await
    }

    fn path(entry: &Entry) -> Result<String, ApiError> {
        Ok(format!("/v4/jobs/{}", seg(id_field(KIND, entry, "_id")?)))
    }
}

/// How far behind ours the server's clock is taken to be, when no answer has shown its clock:
/// wide, since a restart of dmm's counted out of its own look would be sent, and run, twice.
const UNKNOWN_CLOCK_LEAD_MS: i64 = 15 * 60_000;

/// Pages of one project's job list at the most; past it the listing is cut, not endless.
const MAX_PAGES: usize = 10_000;

#[async_trait]
impl ExecutionKind for Jobs {
    /// Which `status` words the Job listing takes (asked once each, one row, of the first
    /// project), and so how dmm will list Jobs: with `all` where it is taken, else with
    /// `running` (and `queued`), which may leave out Jobs in neither.
    async fn probe_listing(&self, projects: &[String]) -> ListingProbe {
        const NAME: &str = "listing: jobs";
        let Some(project) = projects.first() else {
            return ListingProbe::ok(NAME, "no project to ask");
        };
        let mut taken = Vec::new();
        let mut refused = Vec::new();
        for word in STATUS_WORDS {
            let path = format!(
                "/v4/jobs?projectId={}&status={word}&page_size=1&page_no=1",
                seg(project)
            );
            match self.client.get_value(&path).await {
                Ok(_) => taken.push(word),
                Err(e) if e.status() == Some(400) => refused.push(word),
                Err(e) => return ListingProbe::failed(NAME, &e),
            }
        }
        let listed = |words: &[&str]| {
            if words.is_empty() {
                "none".to_owned()
            } else {
                words.join(", ")
            }
        };
        let words = format!(
            "status words taken: {}; refused: {}",
            listed(&taken),
            listed(&refused)
        );
        if taken.contains(&"all") {
            ListingProbe::ok(
                NAME,
                format!("{words}; dmm lists every Job (status=all) and keeps those not completed"),
            )
        } else {
            let asked = if taken.contains(&"queued") {
                "status=running and status=queued"
            } else {
                "status=running alone"
            };
            ListingProbe::warn(
                NAME,
                format!(
                    "{words}; dmm lists with {asked}, which may leave out Jobs that are neither (Pending, Preparing, ...): check the Jobs page before the window"
                ),
            )
        }
    }

    fn kind(&self) -> Kind {
        KIND
    }

    fn listing_scope(&self) -> ListingScope {
        ListingScope::PerProject
    }

    /// A project deleted since the project list was read answers 404: it has no job to drain,
    /// and the other projects' jobs are drained as usual.
    async fn list_project(&self, project: &Project) -> Result<Listing, ApiError> {
        match self.list(&project.id, true).await {
            Ok((_, listing)) => Ok(listing),
            Err(e) if e.is_not_found() => {
                let mut listing = Listing::default();
                listing.warnings.push(format!(
                    "project {}: its job list answered 404 (deleted since it was listed); no job of it to stop",
                    project.id
                ));
                Ok(listing)
            }
            Err(e) => Err(e),
        }
    }

    /// Stops the job and commits its results, so that its outputs are not lost.
    async fn stop(&self, entry: &Entry) -> Result<Option<Observed>, ApiError> {
        let body = json!({
            "projectId": id_field(KIND, entry, "projectId")?,
            "jobId": id_field(KIND, entry, "_id")?,
            "commitResults": true,
        });
        self.client.post("/v4/jobs/stop", Some(&body)).await?;
        Ok(None)
    }

    async fn start(&self, _entry: &Entry) -> Result<Option<Observed>, ApiError> {
        Err(ApiError::Unsupported {
            kind: KIND,
            operation: "start".into(),
            reason: "a job is restarted as a new job, never started again".into(),
        })
    }

    fn comes_back(&self) -> ComesBack {
        ComesBack::AsNewExecution
    }

    async fn restart(&self, entry: &Entry) -> Result<String, ApiError> {
        let body = json!({
            "jobId": id_field(KIND, entry, "_id")?,
            "shouldUseOriginalInputCommit": true,
        });
        let answer = self
            .client
            .post_once_for_answer("/v4/jobs/restart", &body)
            .await?;
        answer
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ApiError::Decode {
                method: "POST".into(),
                path: "/v4/jobs/restart".into(),
                message: "the answer has no string id for the new job".into(),
            })
    }

    async fn restart_candidates(
        &self,
        entry: &Entry,
        submitted_since_ms: i64,
    ) -> Result<Vec<RestartCandidate>, ApiError> {
        let project_id = id_field(KIND, entry, "projectId")?;
        let original = id_field(KIND, entry, "_id")?;
        let command = entry.id_str("command").unwrap_or_default().to_owned();
        let me = self.principal().await?.clone();
        let mine = |by: &StartedBy| {
            (me.canonical_id.is_some() && by.id == me.canonical_id)
                || (me.canonical_name.is_some() && by.username == me.canonical_name)
        };
        let (records, _) = self.list(project_id, false).await?;
        // The server's stamps, moved to our clock as late as they can be: without a `Date`
        // from the server, its clock may be behind ours by as much as UNKNOWN_CLOCK_LEAD_MS.
        let lead = self
            .client
            .server_clock_lead_ms()
            .unwrap_or(-UNKNOWN_CLOCK_LEAD_MS);
        Ok(records
            .into_iter()
            .filter(|job| job.id != original)
            .filter(|job| job.job_run_command.clone().unwrap_or_default() == command)
            .filter_map(|job| {
                let submitted_ms = job.stage_time.submission_time?.saturating_sub(lead);
                (submitted_ms >= submitted_since_ms).then(|| RestartCandidate {
                    by_me: mine(&job.started_by),
                    started_by: job
                        .started_by
                        .username
                        .clone()
                        .or_else(|| job.started_by.id.clone())
                        .unwrap_or_else(|| "?".into()),
                    title: job.title,
                    completed: job.statuses.is_completed,
                    id: job.id,
                    restart_of: job.restart_of,
                    submitted_ms,
                })
            })
            .collect())
    }

    fn last_end_word(&self, execution: &str) -> Option<String> {
        self.end_words
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(execution)
            .cloned()
    }

    async fn observe(&self, entry: &Entry) -> Result<Observed, ApiError> {
        let path = Self::path(entry)?;
        let read = async {
            let job: JobRecord = self.client.get_json(&path).await?;
            self.note_end(&job);
            Ok(job.state())
        };
        gone_if_not_found(read.await)
    }

    /// Jobs are restarted only when asked (`--restart-jobs`), and only those this shutdown
    /// stopped; the runner decides which.
    fn restartable(&self, _entry: &Entry) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that ignores `page_no` and serves the same full page with no count: two pages
    /// read, each job once, a warning; not 10,000 pages.
    #[tokio::test]
    async fn a_server_that_repeats_its_page_is_read_twice_not_to_the_limit() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        let router = axum::Router::new().route(
            "/v4/jobs",
            axum::routing::get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async {
                    let job = |id: &str| json!({"id": id, "statuses": {"isCompleted": false, "executionStatus": "Running"}});
                    axum::Json(json!({"jobs": [job("j1"), job("j2")]}))
                }
            }),
        );
        let base = crate::domino::test_support::serve(router).await;
        let jobs = Jobs::new(crate::domino::test_support::test_client(&base), 2);
        let (records, listing) = jobs.list("p1", true).await.unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        assert_eq!(records.len(), 2);
        assert_eq!(listing.entries.len(), 2);
        assert!(
            listing
                .warnings
                .iter()
                .any(|w| w.contains("brought no new job")),
            "{:?}",
            listing.warnings
        );
    }

    /// A project deleted between the project list and its job list: no job of it, a warning,
    /// and not an error that would stop the drain of every other project.
    #[tokio::test]
    async fn a_project_deleted_since_it_was_listed_has_no_job_to_drain() {
        let router = axum::Router::new().route(
            "/v4/jobs",
            axum::routing::get(|| async {
                (axum::http::StatusCode::NOT_FOUND, "no project with that id")
            }),
        );
        let base = crate::domino::test_support::serve(router).await;
        let jobs = Jobs::new(crate::domino::test_support::test_client(&base), 10);
        let project = Project {
            id: "gone".into(),
            name: "gone".into(),
            owner_username: "someone".into(),
        };
        let listing = jobs.list_project(&project).await.unwrap();
        assert!(listing.entries.is_empty());
        assert!(
            listing.warnings.iter().any(|w| w.contains("404")),
            "{:?}",
            listing.warnings
        );
    }

    /// A server that caps the page below what was asked, with a count: paged to the count.
    #[tokio::test]
    async fn a_capped_page_with_a_count_is_not_the_end() {
        let router = axum::Router::new().route(
            "/v4/jobs",
            axum::routing::get(
                |axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>| async move {
                    let page: usize = q.get("page_no").and_then(|p| p.parse().ok()).unwrap_or(1);
                    let job = |n: usize| json!({"id": format!("j{n}"), "statuses": {"isCompleted": false, "executionStatus": "Running"}});
                    let rows: Vec<Value> = ((page - 1) * 2..(page * 2).min(5)).map(job).collect();
                    axum::Json(json!({"jobs": rows, "totalCount": 5}))
                },
            ),
        );
        let base = crate::domino::test_support::serve(router).await;
        let jobs = Jobs::new(crate::domino::test_support::test_client(&base), 50);
        let (records, _) = jobs.list("p1", true).await.unwrap();
        assert_eq!(records.len(), 5);
    }

    /// A server whose words are `running` (only `Running`), `queued` (only `Queued`) and
    /// `all`, or fewer: answers each query as such a server would, and keeps the queries.
    fn worded_server(
        takes: &'static [&'static str],
    ) -> (axum::Router, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use std::sync::{Arc, Mutex};
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&asked);
        let router = axum::Router::new().route(
            "/v4/jobs",
            axum::routing::get(
                move |axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>| {
                    let log = Arc::clone(&log);
                    async move {
                        let status = q.get("status").cloned().unwrap_or_default();
                        log.lock().unwrap().push(status.clone());
                        let job = |id: &str, word: &str, done: bool| json!({"id": id, "statuses": {"isCompleted": done, "executionStatus": word}});
                        let rows = [
                            job("run", "Running", false),
                            job("wait", "Queued", false),
                            job("prep", "Preparing", false),
                            job("old", "Succeeded", true),
                        ];
                        if !status.is_empty() && !takes.contains(&status.as_str()) {
                            return Err((axum::http::StatusCode::BAD_REQUEST, "unknown status"));
                        }
                        let kept: Vec<Value> = rows
                            .into_iter()
                            .filter(|r| match status.as_str() {
                                "running" => r["statuses"]["executionStatus"] == "Running",
                                "queued" => r["statuses"]["executionStatus"] == "Queued",
                                _ => true,
                            })
                            .collect();
                        let total = kept.len();
                        Ok(axum::Json(json!({"jobs": kept, "totalCount": total})))
                    }
                },
            ),
        );
        (router, asked)
    }

    fn listed(listing: &Listing) -> Vec<String> {
        let mut ids: Vec<String> = listing
            .entries
            .iter()
            .map(|e| e.id_str("_id").unwrap_or_default().to_owned())
            .collect();
        ids.sort();
        ids
    }

    /// Where `all` is taken: one request for a project with fewer Jobs than a page, and every
    /// Job not completed, whatever `running` means there.
    #[tokio::test]
    async fn all_is_asked_and_every_job_not_completed_is_listed() {
        let (router, asked) = worded_server(&["all", "running", "queued"]);
        let base = crate::domino::test_support::serve(router).await;
        let jobs = Jobs::new(crate::domino::test_support::test_client(&base), 50);
        let (_, listing) = jobs.list("p1", true).await.unwrap();
        assert_eq!(listed(&listing), ["prep", "run", "wait"]);
        assert!(listing.warnings.is_empty(), "{:?}", listing.warnings);
        assert_eq!(*asked.lock().unwrap(), ["all"]);
    }

    /// A server that refuses `all`: `running` then `queued`, united; it is asked `all` once per
    /// run, and warned about once.
    #[tokio::test]
    async fn a_server_that_refuses_all_is_asked_running_and_queued() {
        let (router, asked) = worded_server(&["running", "queued"]);
        let base = crate::domino::test_support::serve(router).await;
        let jobs = Jobs::new(crate::domino::test_support::test_client(&base), 50);
        let (_, first) = jobs.list("p1", true).await.unwrap();
        assert_eq!(listed(&first), ["run", "wait"]);
        assert_eq!(first.warnings.len(), 1, "{:?}", first.warnings);
        assert!(first.warnings[0].contains("status=running and status=queued"));
        let (_, second) = jobs.list("p2", true).await.unwrap();
        assert_eq!(listed(&second), ["run", "wait"]);
        assert!(second.warnings.is_empty());
        assert_eq!(
            *asked.lock().unwrap(),
            ["all", "running", "queued", "running", "queued"]
        );
    }

    /// A server that takes neither `all` nor `queued`: its `running` alone, with the warning.
    #[tokio::test]
    async fn a_server_that_takes_only_running_is_asked_running_alone() {
        let (router, asked) = worded_server(&["running"]);
        let base = crate::domino::test_support::serve(router).await;
        let jobs = Jobs::new(crate::domino::test_support::test_client(&base), 50);
        let (_, listing) = jobs.list("p1", true).await.unwrap();
        assert_eq!(listed(&listing), ["run"]);
        assert!(
            listing.warnings[0].contains("refuses queued"),
            "{:?}",
            listing.warnings
        );
        jobs.list("p2", true).await.unwrap();
        assert_eq!(
            *asked.lock().unwrap(),
            ["all", "running", "queued", "running"]
        );
        // A restart's candidates: every Job, by the server's default.
        let (records, _) = jobs.list("p1", false).await.unwrap();
        assert_eq!(records.len(), 4);
        assert_eq!(asked.lock().unwrap().last().unwrap(), "");
    }

    #[test]
    fn states() {
        let st = |done: bool, word: &str| JobStatuses {
            is_completed: done,
            execution_status: Some(word.into()),
        };
        assert_eq!(job_state(&st(false, "Running")), Observed::Running);
        assert_eq!(
            job_state(&st(false, "Queued")),
            Observed::InMotion("Queued".into())
        );
        assert_eq!(job_state(&st(true, "Succeeded")), Observed::Stopped);
        assert_eq!(
            job_state(&st(false, "Completed")),
            Observed::InMotion("Completed".into()),
            "only isCompleted ends a job"
        );
    }
}
