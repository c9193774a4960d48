//! The deployment's projects: the units the per-project listings walk, and the
//! `(owner, name) → id` map that workspaces need (their rows name a project only by those).

use crate::domino::shape::{Field, Need::*, Ty::*};
use std::collections::HashMap;

use serde::Deserialize;

use super::{ApiError, DominoClient};
use crate::domino::kinds::records::{describe_record, expect_array};

pub const PROJECTS_PATH: &str = "/v4/projects";

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    pub id: String,
    pub name: String,
    pub owner_username: String,
}

/// Projects keyed by `(ownerUsername, name)`.
pub type ProjectIndex = HashMap<(String, String), String>;

pub fn index_by_owner_and_name(projects: &[Project]) -> ProjectIndex {
    projects
        .iter()
        .map(|p| ((p.owner_username.clone(), p.name.clone()), p.id.clone()))
        .collect()
}

/// Every project, plus one warning per record that could not be read (skipped: its executions
/// are then missed by the per-project listings, which the warning says).
pub async fn list_projects(client: &DominoClient) -> Result<(Vec<Project>, Vec<String>), ApiError> {
    let items = expect_array(client.get_value(PROJECTS_PATH).await?, "GET", PROJECTS_PATH)?;
    let mut projects = Vec::with_capacity(items.len());
    let mut warnings = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let subject = describe_record(&item, index);
        match serde_json::from_value::<Project>(item) {
            Ok(project) => projects.push(project),
            Err(e) => warnings.push(format!(
                "project {subject} skipped ({e}): its model versions and scheduled jobs are not in the snapshot"
            )),
        }
    }
    Ok((projects, warnings))
}

// The fields this module reads of the API's records, for `dmm preflight` to check the first
// record of each listing against (`domino::shape`).

pub const PROJECT_SHAPE: &[Field] = &[
    Field("id", Str, Required),
    Field("name", Str, Required),
    Field("ownerUsername", Str, Required),
];
