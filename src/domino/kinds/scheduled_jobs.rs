//! Scheduled jobs: listed per project; paused and resumed by writing the whole job back with
//! `isPaused` changed. The job is kept as raw JSON so that fields we do not know survive the PUT.

use crate::domino::shape::{Field, Need::*, Ty::*};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use super::records::{expect_array, parse_records};
use super::{Listing, gone_if_not_found, id_field, seg};
use crate::domino::probe::{self, ListingProbe};
use crate::domino::{ApiError, DominoClient, ExecutionKind, ListingScope, Observed, Project};
use crate::snapshot::{Entry, Kind};

const KIND: Kind = Kind::ScheduledJob;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobRecord {
    id: String,
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    scheduled_by_user_name: Option<String>,
    #[serde(default)]
    is_paused: bool,
}

fn jobs_path(project_id: &str) -> String {
    format!("/v4/projects/{}/scheduledjobs", seg(project_id))
}

/// The scheduled jobs of one project that are not paused.
pub async fn list_project(client: &DominoClient, project_id: &str) -> Result<Listing, ApiError> {
    let path = jobs_path(project_id);
    let items = expect_array(client.get_value(&path).await?, "GET", &path)?;
    let mut listing = Listing {
        examined: items.len(),
        ..Listing::default()
    };
    let jobs: Vec<JobRecord> = parse_records(KIND, items, &mut listing.problems);
    for job in &jobs {
        let state = if job.is_paused {
            Observed::Stopped
        } else {
            Observed::Running
        };
        listing.observed.push((job.id.clone(), state));
    }
    for job in jobs.into_iter().filter(|j| !j.is_paused) {
        listing.entries.push(Entry {
            id: json!({
                "key": job.id,
                // The record's own projectId when it has one; it was listed under this project.
                "projectId": job.project_id.unwrap_or_else(|| project_id.to_owned()),
            }),
            name: job.title.unwrap_or_else(|| job.id.clone()),
            owner: job.scheduled_by_user_name.unwrap_or_default(),
        });
    }
    Ok(listing)
}

/// A paused job is what "stopped" means for a scheduled job.
fn paused_state(paused: bool) -> Observed {
    if paused {
        Observed::Stopped
    } else {
        Observed::Running
    }
}

/// A job object as read, with `isPaused` set: every other field stays exactly as it was.
fn with_paused(mut job: Value, paused: bool, path: &str) -> Result<Value, ApiError> {
    let Some(fields) = job.as_object_mut() else {
        return Err(ApiError::Decode {
            method: "GET".into(),
            path: path.into(),
            message: "expected the scheduled job as a JSON object".into(),
        });
    };
    fields.insert("isPaused".into(), Value::Bool(paused));
    Ok(job)
}

pub struct ScheduledJobs {
    client: DominoClient,
}

impl ScheduledJobs {
    pub fn new(client: DominoClient) -> ScheduledJobs {
        ScheduledJobs { client }
    }

    fn path(entry: &Entry) -> Result<String, ApiError> {
        let id = id_field(KIND, entry, "key")?;
        let project_id = id_field(KIND, entry, "projectId")?;
        Ok(format!("{}/{}", jobs_path(project_id), seg(id)))
    }

    /// Read, change one field, write back. Both pause and resume are state-setting. When the
    /// PUT answers with the job, its `isPaused` is the state now.
    async fn set_paused(&self, entry: &Entry, paused: bool) -> Result<Option<Observed>, ApiError> {
        let path = Self::path(entry)?;
        let job = self.client.get_value(&path).await?;
        let job = with_paused(job, paused, &path)?;
        let answer = self.client.put_for_answer(&path, &job).await?;
        Ok(answer
            .as_ref()
            .and_then(|a| a.get("isPaused"))
            .and_then(Value::as_bool)
            .map(paused_state))
    }
}

#[async_trait]
impl ExecutionKind for ScheduledJobs {
    async fn probe_listing(&self, projects: &[String]) -> ListingProbe {
        probe::per_project(
            &self.client,
            projects,
            "listing: scheduled jobs",
            jobs_path,
            RECORD_SHAPE,
        )
        .await
    }

    fn kind(&self) -> Kind {
        KIND
    }

    fn listing_scope(&self) -> ListingScope {
        ListingScope::PerProject
    }

    async fn list_project(&self, project: &Project) -> Result<Listing, ApiError> {
        list_project(&self.client, &project.id).await
    }

    async fn stop(&self, entry: &Entry) -> Result<Option<Observed>, ApiError> {
        self.set_paused(entry, true).await
    }

    async fn start(&self, entry: &Entry) -> Result<Option<Observed>, ApiError> {
        self.set_paused(entry, false).await
    }

    async fn observe(&self, entry: &Entry) -> Result<Observed, ApiError> {
        let path = Self::path(entry)?;
        let read = async {
            let job = self.client.get_value(&path).await?;
            if !job.is_object() {
                return Err(ApiError::Decode {
                    method: "GET".into(),
                    path: path.clone(),
                    message: "expected the scheduled job as a JSON object".into(),
                });
            }
            // A job without `isPaused` is treated as running: Domino's default is unpaused.
            let paused = job
                .get("isPaused")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            Ok(paused_state(paused))
        };
        gone_if_not_found(read.await)
    }

    fn restartable(&self, _entry: &Entry) -> Result<(), String> {
        Ok(())
    }

    /// Read before it is written back (the pause flag is part of the whole record).
    fn requests_per_send(&self) -> u64 {
        2
    }

    /// The read before each write is the confirmation.
    fn reads_to_confirm(&self, _n: u64) -> u64 {
        0
    }
}

// The fields this module reads of the API's records, for `dmm preflight` to check the first
// record of each listing against (`domino::shape`).

/// The shape preflight checks of `scheduled_jobs::JobRecord`.
pub const RECORD_SHAPE: &[Field] = &[
    Field("id", Str, Required),
    Field("projectId", Str, Optional),
    Field("title", Str, Optional),
    Field("scheduledByUserName", Str, Optional),
    Field("isPaused", Bool, Defaulted),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pausing_changes_one_field_only() {
        let job = json!({"id": "j1", "isPaused": false, "cron": "0 * * * *", "unknownThing": {"deep": [1, 2]}, "title": "t"});
        let paused = with_paused(job.clone(), true, "/p").unwrap();
        let mut expected = job;
        expected["isPaused"] = json!(true);
        assert_eq!(paused, expected);
        // Field order is kept too (serde_json's preserve_order), so the PUT is the GET's twin.
        assert_eq!(
            paused.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["id", "isPaused", "cron", "unknownThing", "title"]
        );
        assert!(with_paused(json!([1]), true, "/p").is_err());
    }
}
