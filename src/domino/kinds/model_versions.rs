//! Model API versions: listed per project (models, then each model's versions page by page),
//! read one at a time, stopped and started per version. Only the version that was active when
//! the snapshot was taken is started again.

use crate::domino::shape::{Field, Need::*, Ty::*};
use std::collections::HashSet;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use super::records::{expect_array, parse_records};
use super::{Listing, gone_if_not_found, id_field, seg};
use crate::domino::probe::{self, ListingProbe, PROBE_PAGE_SIZE, PageCap};
use crate::domino::shape::check_shape;
use crate::domino::{
    ApiError, DominoClient, ExecutionKind, ListingScope, Observed, Project, ScanProblem,
};
use crate::snapshot::{Entry, Kind};

const KIND: Kind = Kind::ModelApiVersion;

/// A guard against an API that never answers an empty page: far beyond any real model.
const MAX_VERSION_PAGES: u32 = 10_000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ModelRecord {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    active_model_version_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct VersionPage {
    results: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VersionRecord {
    id: String,
    #[serde(default)]
    number: Option<Value>,
    deployment_status: DeploymentStatus,
    #[serde(default)]
    creator: Option<Creator>,
}

#[derive(Debug, Deserialize)]
struct Creator {
    #[serde(default)]
    name: Option<String>,
}

/// `deploymentStatus`: the state word and whether a change is pending.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStatus {
    pub name: String,
    #[serde(default)]
    pub is_pending: bool,
}

#[derive(Debug, Deserialize)]
struct OneVersion {
    result: OneVersionResult,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OneVersionResult {
    deployment_status: DeploymentStatus,
}

const RUNNING_OR_LAUNCHING: [&str; 5] = [
    "Preparing to build",
    "Building",
    "Starting",
    "Running",
    "Stalled",
];
const STOPPED: [&str; 3] = ["Stopped", "Failed", "Ready to run"];

fn word_in(word: &str, words: &[&str]) -> bool {
    words.iter().any(|w| w.eq_ignore_ascii_case(word))
}

impl DeploymentStatus {
    /// What a snapshot takes: running, on its way, or with a change pending.
    pub fn is_running_or_launching(&self) -> bool {
        self.is_pending || word_in(&self.name, &RUNNING_OR_LAUNCHING)
    }

    /// Stopped and nothing pending. A word in neither list (`Stopping`, a new one) is not.
    pub fn is_fully_stopped(&self) -> bool {
        !self.is_pending && word_in(&self.name, &STOPPED)
    }

    pub fn observed(&self) -> Observed {
        if !self.is_pending && self.name.eq_ignore_ascii_case("Running") {
            Observed::Running
        } else if self.is_fully_stopped() {
            Observed::Stopped
        } else if self.is_pending {
            Observed::InMotion(format!("{} (pending)", self.name))
        } else {
            Observed::InMotion(self.name.clone())
        }
    }

    fn describe(&self) -> String {
        if self.is_pending {
            format!("{}, pending", self.name)
        } else {
            self.name.clone()
        }
    }
}

fn version_number(number: &Option<Value>) -> String {
    match number {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "?".into(),
    }
}

/// The running model versions of one project. A model whose versions cannot be listed is a
/// problem and skipped; only a refused key (or a failing model list) ends the project's listing.
pub async fn list_project(
    client: &DominoClient,
    project_id: &str,
    page_size: usize,
) -> Result<Listing, ApiError> {
    let path = format!("/v4/modelManager/getModels?projectId={}", seg(project_id));
    let items = expect_array(client.get_value(&path).await?, "GET", &path)?;
    let mut listing = Listing::default();
    let models: Vec<ModelRecord> = parse_records(KIND, items, &mut listing.problems);
    for model in models {
        let model_name = model.name.clone().unwrap_or_else(|| model.id.clone());
        match list_versions(client, &model.id, page_size, &mut listing).await {
            Ok(versions) => add_model(&model, &model_name, versions, &mut listing),
            Err(e) if e.is_unauthorized() => return Err(e),
            Err(e) => listing.problems.push(ScanProblem::new(
                KIND,
                format!("model {} ({model_name})", model.id),
                format!("its versions cannot be listed: {e}"),
            )),
        }
    }
    Ok(listing)
}

/// Every version of a model, page after page until an empty page. A short page is not the
/// last one: the server may cap `pageSize`, and then numbers its pages in the size it serves.
async fn list_versions(
    client: &DominoClient,
    model_id: &str,
    page_size: usize,
    listing: &mut Listing,
) -> Result<Vec<VersionRecord>, ApiError> {
    let mut versions: Vec<VersionRecord> = Vec::new();
    let mut seen = HashSet::new();
    let page_size = page_size.max(1);
    for page_number in 1..=MAX_VERSION_PAGES {
        let path = format!(
            "/models/{}/versions/json?pageNumber={page_number}&pageSize={page_size}",
            seg(model_id)
        );
        let page: VersionPage = client.get_json(&path).await?;
        if page.results.is_empty() {
            break;
        }
        let records: Vec<VersionRecord> = parse_records(KIND, page.results, &mut listing.problems);
        let before = versions.len();
        for record in records {
            if seen.insert(record.id.clone()) {
                versions.push(record);
            }
        }
        if versions.len() == before {
            // A page of nothing new: the API ignores pageNumber; stop instead of looping.
            listing.warnings.push(format!(
                "model {model_id}: version page {page_number} repeated earlier versions; stopped paging there"
            ));
            break;
        }
    }
    Ok(versions)
}

/// Adds a model's running versions to the listing, and warns when the model is mid-rollout.
fn add_model(
    model: &ModelRecord,
    model_name: &str,
    versions: Vec<VersionRecord>,
    listing: &mut Listing,
) {
    listing.examined += versions.len();
    if let Some(warning) = rollout_warning(model, model_name, &versions) {
        listing.rollouts.push(warning);
    }
    for version in versions {
        listing
            .observed
            .push((version.id.clone(), version.deployment_status.observed()));
        if !version.deployment_status.is_running_or_launching() {
            continue;
        }
        let is_active = model.active_model_version_id.as_deref() == Some(version.id.as_str());
        listing.entries.push(Entry {
            id: json!({ "_id": version.id, "modelId": model.id, "isActive": is_active }),
            name: format!("{model_name} #{}", version_number(&version.number)),
            owner: version.creator.and_then(|c| c.name).unwrap_or_default(),
        });
    }
}

/// A model with one version Running and another not fully stopped is in the middle of a
/// rollout: which version "was running" is about to change, so the snapshot is unreliable.
fn rollout_warning(
    model: &ModelRecord,
    model_name: &str,
    versions: &[VersionRecord],
) -> Option<String> {
    let running = versions
        .iter()
        .find(|v| v.deployment_status.name.eq_ignore_ascii_case("Running"))?;
    let others: Vec<String> = versions
        .iter()
        .filter(|v| v.id != running.id && !v.deployment_status.is_fully_stopped())
        .map(|v| {
            format!(
                "#{} is {}",
                version_number(&v.number),
                v.deployment_status.describe()
            )
        })
        .collect();
    if others.is_empty() {
        return None;
    }
    Some(format!(
        "model '{model_name}' ({}) looks mid-rollout: version #{} is Running while {}; a snapshot taken now may not be what should run afterwards (wait for the rollout to finish and snapshot again)",
        model.id,
        version_number(&running.number),
        others.join(", ")
    ))
}

pub struct ModelVersions {
    client: DominoClient,
    page_size: usize,
}

impl ModelVersions {
    pub fn new(client: DominoClient, page_size: usize) -> ModelVersions {
        ModelVersions {
            client,
            page_size: page_size.max(1),
        }
    }

    async fn deployment_call(&self, entry: &Entry, action: &str) -> Result<(), ApiError> {
        let version_id = id_field(KIND, entry, "_id")?;
        let model_id = id_field(KIND, entry, "modelId")?;
        let path = format!("/v4/models/{}/{}/{action}", seg(model_id), seg(version_id));
        self.client.post(&path, None).await
    }
}

impl ModelVersions {
    /// The first page of a model's versions, one page larger than dmm uses; `None` when the
    /// model has none.
    async fn probe_versions(&self, model_id: &str) -> Option<ListingProbe> {
        const NAME: &str = "listing: model versions";
        let page_path = |n: u32| {
            format!(
                "/models/{}/versions/json?pageNumber={n}&pageSize={PROBE_PAGE_SIZE}",
                seg(model_id)
            )
        };
        let first_path = page_path(1);
        let page = match self.client.get_value(&first_path).await {
            Ok(p) => p,
            Err(e) => return Some(ListingProbe::failed(NAME, &e)),
        };
        if let Err(why) = check_shape(&page, VERSION_PAGE_SHAPE) {
            return Some(ListingProbe::fail(
                NAME,
                format!("GET {first_path}: the page does not have the shape dmm reads: {why}"),
            ));
        }
        let results = page["results"].as_array().cloned().unwrap_or_default();
        if results.is_empty() {
            return None;
        }
        let mut cap = None;
        if results.len() < PROBE_PAGE_SIZE {
            let second = self.client.get_value(&page_path(2)).await;
            let more = second
                .ok()
                .and_then(|p| p.get("results").and_then(Value::as_array).map(Vec::len))
                .unwrap_or(0);
            cap = Some(if more > 0 {
                PageCap::Capped(format!(
                    "model versions at {} (asked {PROBE_PAGE_SIZE}, and page 2 is not empty)",
                    results.len()
                ))
            } else {
                PageCap::NotCapped(format!(
                    "model versions: asked {PROBE_PAGE_SIZE}, got all {}",
                    results.len()
                ))
            });
        }
        Some(ListingProbe::of_shape(NAME, &first_path, &results, VERSION_SHAPE).with_cap(cap))
    }
}

#[async_trait]
impl ExecutionKind for ModelVersions {
    /// Models, then the versions of the first model that has some, asked in one page larger
    /// than dmm uses: fewer rows than asked, with a second page that is not empty, is a cap.
    async fn probe_listing(&self, projects: &[String]) -> ListingProbe {
        const NAME: &str = "listing: model versions";
        let mut models_seen = 0usize;
        let mut model_shape_checked = false;
        for project in projects {
            let path = format!("/v4/modelManager/getModels?projectId={}", seg(project));
            let models = match self.client.get_value(&path).await {
                Ok(v) => match probe::as_array(NAME, &path, v) {
                    Ok(items) => items,
                    Err(probe) => return probe,
                },
                Err(e) => return ListingProbe::failed(NAME, &e),
            };
            if let Some(first) = models.first()
                && !model_shape_checked
            {
                if let Err(why) = check_shape(first, MODEL_SHAPE) {
                    return ListingProbe::fail(
                        NAME,
                        format!(
                            "GET {path}: the first model does not have the shape dmm reads: {why} (a changed API?)"
                        ),
                    );
                }
                model_shape_checked = true;
            }
            for model in &models {
                let Some(model_id) = model.get("id").and_then(Value::as_str) else {
                    continue;
                };
                models_seen += 1;
                if let Some(found) = self.probe_versions(model_id).await {
                    return found;
                }
            }
        }
        ListingProbe::ok(
            NAME,
            format!(
                "answers (no model version to check: {models_seen} model(s) in the first {} project(s))",
                projects.len()
            ),
        )
    }

    fn kind(&self) -> Kind {
        KIND
    }

    fn listing_scope(&self) -> ListingScope {
        ListingScope::PerProject
    }

    async fn list_project(&self, project: &Project) -> Result<Listing, ApiError> {
        list_project(&self.client, &project.id, self.page_size).await
    }

    async fn stop(&self, entry: &Entry) -> Result<Option<Observed>, ApiError> {
        self.deployment_call(entry, "stopModelDeployment").await?;
        Ok(None)
    }

    async fn start(&self, entry: &Entry) -> Result<Option<Observed>, ApiError> {
        self.deployment_call(entry, "startModelDeployment").await?;
        Ok(None)
    }

    async fn observe(&self, entry: &Entry) -> Result<Observed, ApiError> {
        let version_id = id_field(KIND, entry, "_id")?;
        let model_id = id_field(KIND, entry, "modelId")?;
        let path = format!(
            "/models/{}/versions/{}/json",
            seg(model_id),
            seg(version_id)
        );
        let read = async {
            let one: OneVersion = self.client.get_json(&path).await?;
            Ok(one.result.deployment_status.observed())
        };
        gone_if_not_found(read.await)
    }

    fn restartable(&self, entry: &Entry) -> Result<(), String> {
        if entry.id_bool("isActive") == Some(true) {
            Ok(())
        } else {
            Err("not the active version when the snapshot was taken".into())
        }
    }
}

// The fields this module reads of the API's records, for `dmm preflight` to check the first
// record of each listing against (`domino::shape`).

/// The shape preflight checks of `model_versions::ModelRecord`.
pub const MODEL_SHAPE: &[Field] = &[
    Field("id", Str, Required),
    Field("name", Str, Optional),
    Field("activeModelVersionId", Str, Optional),
];

/// The shape preflight checks of `model_versions::VersionPage`.
pub const VERSION_PAGE_SHAPE: &[Field] = &[Field("results", Array, Required)];

/// The shape preflight checks of `model_versions::VersionRecord`.
pub const VERSION_SHAPE: &[Field] = &[
    Field("id", Str, Required),
    Field("number", Any, Optional),
    Field("deploymentStatus", Object, Required),
    Field("deploymentStatus.name", Str, Required),
    Field("deploymentStatus.isPending", Bool, Defaulted),
    Field("creator", Object, Optional),
    Field("creator.name", Str, Optional),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn status(name: &str, is_pending: bool) -> DeploymentStatus {
        DeploymentStatus {
            name: name.into(),
            is_pending,
        }
    }

    #[test]
    fn state_words() {
        assert_eq!(status("Running", false).observed(), Observed::Running);
        assert_eq!(
            status("Running", true).observed(),
            Observed::InMotion("Running (pending)".into())
        );
        for s in ["Stopped", "Failed", "Ready to run"] {
            assert_eq!(status(s, false).observed(), Observed::Stopped, "{s}");
            assert!(status(s, true).is_running_or_launching());
            assert!(!status(s, false).is_running_or_launching());
        }
        for s in ["Preparing to build", "Building", "Starting", "Stalled"] {
            assert_eq!(status(s, false).observed(), Observed::InMotion(s.into()));
            assert!(status(s, false).is_running_or_launching());
        }
        assert!(!status("Stopping", false).is_fully_stopped());
        assert!(!status("Stopping", false).is_running_or_launching());
    }

    #[test]
    fn rollout_is_detected() {
        let model = ModelRecord {
            id: "m1".into(),
            name: Some("churn".into()),
            active_model_version_id: None,
        };
        let version = |id: &str, n: u64, name: &str, pending: bool| VersionRecord {
            id: id.into(),
            number: Some(json!(n)),
            deployment_status: status(name, pending),
            creator: None,
        };
        let calm = [
            version("a", 1, "Stopped", false),
            version("b", 2, "Running", false),
        ];
        assert_eq!(rollout_warning(&model, "churn", &calm), None);
        let rolling = [
            version("a", 1, "Stopping", false),
            version("b", 2, "Running", false),
            version("c", 3, "Stopped", true),
        ];
        let warning = rollout_warning(&model, "churn", &rolling).unwrap();
        assert!(warning.contains("'churn' (m1)"), "{warning}");
        assert!(
            warning.contains("#2 is Running while #1 is Stopping, #3 is Stopped, pending"),
            "{warning}"
        );
    }

    #[test]
    fn restartable_only_when_active() {
        let kind = |active: Value| Entry {
            id: json!({"_id": "v", "modelId": "m", "isActive": active}),
            name: "x #1".into(),
            owner: String::new(),
        };
        let client = DominoClient::new(&crate::domino::ClientConfig::new(
            "http://127.0.0.1:9",
            crate::domino::ApiKey::new("k").unwrap(),
        ))
        .unwrap();
        let versions = ModelVersions::new(client, 10);
        assert_eq!(versions.restartable(&kind(json!(true))), Ok(()));
        let err = versions.restartable(&kind(json!(false))).unwrap_err();
        assert_eq!(err, "not the active version when the snapshot was taken");
        assert!(versions.restartable(&kind(Value::Null)).is_err());
    }
}
