//! One module per kind of execution: its JSON shapes, its state words, its calls.

pub mod apps;
pub mod jobs;
pub mod model_versions;
pub(crate) mod records;
pub mod scheduled_jobs;
pub mod workspaces;

use std::sync::Arc;

use crate::domino::{ApiError, DominoClient, ExecutionKind, Observed, ScanProblem};
use crate::snapshot::{Entry, Kind};

pub use apps::Apps;
pub use jobs::Jobs;
pub use model_versions::ModelVersions;
pub use scheduled_jobs::ScheduledJobs;
pub use workspaces::Workspaces;

/// Settings of the kinds' own listings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KindOptions {
    /// Rows per page asked of the workspace admin list.
    pub workspaces_page_size: usize,
    /// Versions per page asked of a model's version list.
    pub models_page_size: usize,
    /// Jobs per page asked of a project's job list.
    pub jobs_page_size: usize,
}

impl KindOptions {
    pub const DEFAULT: KindOptions = KindOptions {
        workspaces_page_size: 50,
        models_page_size: 10,
        jobs_page_size: 50,
    };
}

impl Default for KindOptions {
    fn default() -> Self {
        KindOptions::DEFAULT
    }
}

type Constructor = fn(DominoClient, &KindOptions) -> Arc<dyn ExecutionKind>;

/// The implementations, one line per kind; each says which [`Kind`] it is.
const REGISTRY: &[Constructor] = &[
    |client, _| Arc::new(Apps::new(client)),
    |client, options| Arc::new(ModelVersions::new(client, options.models_page_size)),
    |client, options| Arc::new(Workspaces::new(client, options.workspaces_page_size)),
    |client, _| Arc::new(ScheduledJobs::new(client)),
    |client, options| Arc::new(Jobs::new(client, options.jobs_page_size)),
];

/// Every kind's implementation, in the order of [`Kind::EVERY`].
pub fn execution_kinds(
    client: &DominoClient,
    options: &KindOptions,
) -> Vec<Arc<dyn ExecutionKind>> {
    let mut kinds: Vec<Arc<dyn ExecutionKind>> = REGISTRY
        .iter()
        .map(|make| make(client.clone(), options))
        .collect();
    kinds.sort_by_key(|k| Kind::EVERY.iter().position(|&known| known == k.kind()));
    kinds
}

/// The implementation of one kind.
pub fn execution_kind(
    client: &DominoClient,
    options: &KindOptions,
    kind: Kind,
) -> Arc<dyn ExecutionKind> {
    execution_kinds(client, options)
        .into_iter()
        .find(|k| k.kind() == kind)
        .expect("every kind has an implementation (checked by a test)")
}

/// What one listing found: the running executions, and the records it had to skip.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Listing {
    pub entries: Vec<Entry>,
    pub problems: Vec<ScanProblem>,
    pub warnings: Vec<String>,
    /// Models in the middle of a rollout (a new version runs while the old one has not
    /// stopped): a snapshot taken now is unreliable for them. Also said among the warnings.
    pub rollouts: Vec<String>,
    /// Records examined, running or not.
    pub examined: usize,
    /// The state of every record examined, running or not, keyed by execution id: lets a
    /// verification pass read states from a scan instead of asking per execution.
    pub observed: Vec<(String, Observed)>,
    /// The project each entry whose `_id` does not name one was listed under (a Model API
    /// version's `_id` holds its model, not its project), by execution id: the report names the
    /// project from it. Filled by the scan of the kinds listed per project.
    pub listed_under: Vec<(String, String)>,
}

impl Listing {
    /// Adds what another listing of the same kind found (another project, another page).
    pub fn absorb(&mut self, other: Listing) {
        self.entries.extend(other.entries);
        self.problems.extend(other.problems);
        self.warnings.extend(other.warnings);
        self.rollouts.extend(other.rollouts);
        self.examined += other.examined;
        self.observed.extend(other.observed);
        self.listed_under.extend(other.listed_under);
    }
}

/// A string field of a snapshot entry's `_id` that a call needs; its absence is a bad entry.
pub(crate) fn id_field<'a>(kind: Kind, entry: &'a Entry, field: &str) -> Result<&'a str, ApiError> {
    let value = if field == "key" || field == "_id" {
        entry.key(kind).ok()
    } else {
        entry.id_str(field).filter(|s| !s.is_empty())
    };
    value.ok_or_else(|| ApiError::BadEntry {
        kind,
        name: entry.name.clone(),
        reason: format!("_id.{field} is missing or not a non-empty string"),
    })
}

/// A 404 while reading one execution means it no longer exists.
pub(crate) fn gone_if_not_found(result: Result<Observed, ApiError>) -> Result<Observed, ApiError> {
    match result {
        Err(e) if e.is_not_found() => Ok(Observed::Gone),
        other => other,
    }
}

/// An id as one URL path segment: ids come from the API and the snapshot file, so a `/`, `?` or
/// `#` in one must not change which endpoint is called.
pub(crate) fn seg(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_exactly_one_implementation() {
        let config = crate::domino::ClientConfig::new(
            "http://127.0.0.1:9",
            crate::domino::ApiKey::new("k").unwrap(),
        );
        let client = DominoClient::new(&config).unwrap();
        let kinds: Vec<Kind> = execution_kinds(&client, &KindOptions::default())
            .iter()
            .map(|k| k.kind())
            .collect();
        assert_eq!(kinds, Kind::EVERY);
    }

    #[test]
    fn segments_are_escaped() {
        assert_eq!(seg("65a1f0c2e4b0"), "65a1f0c2e4b0");
        assert_eq!(seg("a/b?c#d e"), "a%2Fb%3Fc%23d%20e");
        assert_eq!(seg("é"), "%C3%A9");
    }
}
