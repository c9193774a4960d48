//! Apps (`/v4/modelProducts`): listed all at once, stopped and started by id; a start mounts the
//! project's local external data volumes again, as the app had them.

use crate::domino::shape::{Field, Need::*, Ty::*};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use super::records::{expect_array, parse_records};
use super::{Listing, gone_if_not_found, id_field, seg};
use crate::domino::probe::{self, ListingProbe};
use crate::domino::{ApiError, DominoClient, ExecutionKind, ListContext, ListingScope, Observed};
use crate::snapshot::{Entry, Kind};

const LIST_PATH: &str = "/v4/modelProducts";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AppRecord {
    id: String,
    #[serde(default)]
    name: Option<String>,
    status: String,
    #[serde(default)]
    hardware_tier_id: Option<String>,
    project_id: String,
    #[serde(default)]
    publisher: Option<Publisher>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Publisher {
    #[serde(default)]
    user_name: Option<String>,
}

/// Only the status, for reading states (list or one app).
#[derive(Debug, Deserialize)]
struct AppStatus {
    #[serde(default)]
    id: Option<String>,
    status: String,
}

/// The state words of `docs/domino-api.md`, compared without regard to case.
pub fn app_state(status: &str) -> Observed {
    let is = |words: &[&str]| words.iter().any(|w| w.eq_ignore_ascii_case(status));
    if is(&["Running", "Serving"]) {
        Observed::Running
    } else if is(&["Stopped", "Succeeded", "Failed", "Error"]) {
        Observed::Stopped
    } else {
        Observed::InMotion(status.to_owned())
    }
}

/// Every app that is not in a stopped state (running or on its way), as snapshot entries.
pub async fn list_running(client: &DominoClient) -> Result<Listing, ApiError> {
    let items = expect_array(client.get_value(LIST_PATH).await?, "GET", LIST_PATH)?;
    let mut listing = Listing {
        examined: items.len(),
        ..Listing::default()
    };
    let apps: Vec<AppRecord> = parse_records(Kind::App, items, &mut listing.problems);
    for app in apps {
        let state = app_state(&app.status);
        listing.observed.push((app.id.clone(), state.clone()));
        if state == Observed::Stopped {
            continue;
        }
        listing.entries.push(Entry {
            id: json!({
                "_id": app.id,
                "hardwareTierId": app.hardware_tier_id,
                "projectId": app.project_id,
            }),
            name: app.name.unwrap_or_else(|| app.id.clone()),
            owner: app.publisher.and_then(|p| p.user_name).unwrap_or_default(),
        });
    }
    Ok(listing)
}

/// The ids of a project's external data volumes that have at least one local data plane: the
/// ones an app start must mount. Odd records are skipped (they cannot be mounted anyway).
fn local_volume_ids(volumes: &[Value]) -> Vec<String> {
    volumes
        .iter()
        .filter(|v| {
            v.get("dataPlanes")
                .and_then(Value::as_array)
                .is_some_and(|planes| {
                    planes
                        .iter()
                        .any(|p| p.get("isLocal").and_then(Value::as_bool) == Some(true))
                })
        })
        .filter_map(|v| v.get("id").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// A project's local volume ids, read at most once: the first start of the project reads them,
/// and every other start of it, concurrent or later, waits for and shares that read.
type VolumeCell = Arc<OnceCell<Vec<String>>>;

pub struct Apps {
    client: DominoClient,
    /// A project's local volumes, read once per restore: apps of one project share them, and
    /// volumes must not change during maintenance (the README's warning).
    volumes_by_project: Mutex<HashMap<String, VolumeCell>>,
}

impl Apps {
    pub fn new(client: DominoClient) -> Apps {
        Apps {
            client,
            volumes_by_project: Mutex::new(HashMap::new()),
        }
    }

    /// The ids of the project's volumes an app start must mount. A read that fails is not kept:
    /// the next start of the project reads again.
    async fn local_volumes(&self, project_id: &str) -> Result<Vec<String>, ApiError> {
        let cell = self
            .volumes_by_project
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(project_id.to_owned())
            .or_default()
            .clone();
        let ids = cell
            .get_or_try_init(|| async {
                let mounts_path = format!("/v4/datamount/projects/{}", seg(project_id));
                let volumes = expect_array(
                    self.client.get_value(&mounts_path).await?,
                    "GET",
                    &mounts_path,
                )?;
                Ok::<_, ApiError>(local_volume_ids(&volumes))
            })
            .await?;
        Ok(ids.clone())
    }
}

#[async_trait]
impl ExecutionKind for Apps {
    async fn probe_listing(&self, _projects: &[String]) -> ListingProbe {
        probe::global(&self.client, "listing: apps", LIST_PATH, RECORD_SHAPE).await
    }

    fn kind(&self) -> Kind {
        Kind::App
    }

    fn listing_scope(&self) -> ListingScope {
        ListingScope::Global
    }

    async fn list_running(&self, _context: &ListContext<'_>) -> Result<Listing, ApiError> {
        list_running(&self.client).await
    }

    fn has_bulk_listing(&self) -> bool {
        true
    }

    async fn stop(&self, entry: &Entry) -> Result<Option<Observed>, ApiError> {
        let id = id_field(Kind::App, entry, "_id")?;
        self.client
            .post(&format!("{LIST_PATH}/{}/stop", seg(id)), None)
            .await?;
        Ok(None)
    }

    async fn start(&self, entry: &Entry) -> Result<Option<Observed>, ApiError> {
        let id = id_field(Kind::App, entry, "_id")?;
        let project_id = id_field(Kind::App, entry, "projectId")?;
        let body = json!({
            // As recorded: the earlier tool could store null, which lets Domino pick the default.
            "hardwareTierId": entry.id.get("hardwareTierId").cloned().unwrap_or(Value::Null),
            "externalVolumeMountIds": self.local_volumes(project_id).await?,
        });
        self.client
            .post(&format!("{LIST_PATH}/{}/start", seg(id)), Some(&body))
            .await?;
        Ok(None)
    }

    async fn observe(&self, entry: &Entry) -> Result<Observed, ApiError> {
        let id = id_field(Kind::App, entry, "_id")?;
        let read = async {
            let app: AppStatus = self
                .client
                .get_json(&format!("{LIST_PATH}/{}", seg(id)))
                .await?;
            Ok(app_state(&app.status))
        };
        gone_if_not_found(read.await)
    }

    async fn observe_all(&self) -> Option<Result<HashMap<String, Observed>, ApiError>> {
        let read = async {
            let items = expect_array(self.client.get_value(LIST_PATH).await?, "GET", LIST_PATH)?;
            let mut states = HashMap::with_capacity(items.len());
            for item in items {
                // A record without id or status cannot be matched to a step; the runner then
                // sees that app as missing and reads it on its own.
                if let Ok(AppStatus {
                    id: Some(id),
                    status,
                }) = serde_json::from_value(item)
                {
                    states.insert(id, app_state(&status));
                }
            }
            Ok(states)
        };
        Some(read.await)
    }

    fn restartable(&self, _entry: &Entry) -> Result<(), String> {
        Ok(())
    }

    /// The volumes of each project, read once before its Apps start.
    fn restore_reads_once(&self, restartable: &[&Entry]) -> u64 {
        restartable
            .iter()
            .filter_map(|e| e.id_str("projectId"))
            .collect::<std::collections::BTreeSet<_>>()
            .len() as u64
    }
}

// The fields this module reads of the API's records, for `dmm preflight` to check the first
// record of each listing against (`domino::shape`).

/// The shape preflight checks of `apps::AppRecord`.
pub const RECORD_SHAPE: &[Field] = &[
    Field("id", Str, Required),
    Field("name", Str, Optional),
    Field("status", Str, Required),
    Field("hardwareTierId", Str, Optional),
    Field("projectId", Str, Required),
    Field("publisher", Object, Optional),
    Field("publisher.userName", Str, Optional),
];

/// What an App start reads of a project's volumes (`kinds::apps::local_volume_ids`).
pub const VOLUME_SHAPE: &[Field] = &[
    Field("id", Str, Required),
    Field("dataPlanes", Array, Required),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_words() {
        assert_eq!(app_state("Running"), Observed::Running);
        assert_eq!(app_state("Serving"), Observed::Running);
        for s in ["Stopped", "Succeeded", "Failed", "Error", "stopped"] {
            assert_eq!(app_state(s), Observed::Stopped, "{s}");
        }
        assert_eq!(app_state("Pending"), Observed::InMotion("Pending".into()));
        assert_eq!(app_state("Stopping"), Observed::InMotion("Stopping".into()));
    }

    #[test]
    fn only_volumes_with_a_local_data_plane_are_mounted() {
        let volumes: Vec<Value> = serde_json::from_value(json!([
            {"id": "edv-local", "dataPlanes": [{"isLocal": false}, {"isLocal": true}]},
            {"id": "edv-remote", "dataPlanes": [{"isLocal": false}]},
            {"id": "edv-none", "dataPlanes": []},
            {"id": "edv-odd"},
            {"dataPlanes": [{"isLocal": true}]},
            {"id": "edv-local2", "dataPlanes": [{"isLocal": true, "name": "x"}], "extra": 1}
        ]))
        .unwrap();
        assert_eq!(local_volume_ids(&volumes), ["edv-local", "edv-local2"]);
    }
}
