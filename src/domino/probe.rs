//! How `dmm preflight` reads a kind's listing once: [`ListingProbe`], what one probe found
//! (ok, a warning, a failure), with what it saw of the server's page caps. Each kind's module
//! says how its listing is probed ([`super::ExecutionKind::probe_listing`]), with the helpers
//! here; the preflight only asks every kind of the registry and words the answers.

use serde_json::Value;

use super::shape::{Field, check_shape};
use super::{ApiError, DominoClient, json_type};

/// Rows asked of a paged listing to find out whether the server caps pages: more than any
/// page size dmm uses (50 workspace rows, 10 model versions).
pub const PROBE_PAGE_SIZE: usize = 1000;

/// How a probe ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeStatus {
    Ok,
    Warn,
    Fail,
}

/// What a server's paged listing showed of a cap on its page size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageCap {
    /// Fewer rows than asked, with more to come: a cap (what was seen).
    Capped(String),
    /// No cap seen (what was asked and got).
    NotCapped(String),
}

/// One kind's listing, probed: a line of the preflight, and what it saw of page caps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListingProbe {
    pub name: &'static str,
    pub status: ProbeStatus,
    pub detail: String,
    pub page_cap: Option<PageCap>,
}

impl ListingProbe {
    pub fn new(name: &'static str, status: ProbeStatus, detail: impl Into<String>) -> Self {
        ListingProbe {
            name,
            status,
            detail: detail.into(),
            page_cap: None,
        }
    }

    pub fn ok(name: &'static str, detail: impl Into<String>) -> Self {
        Self::new(name, ProbeStatus::Ok, detail)
    }

    pub fn warn(name: &'static str, detail: impl Into<String>) -> Self {
        Self::new(name, ProbeStatus::Warn, detail)
    }

    pub fn fail(name: &'static str, detail: impl Into<String>) -> Self {
        Self::new(name, ProbeStatus::Fail, detail)
    }

    pub fn with_cap(mut self, cap: Option<PageCap>) -> Self {
        self.page_cap = cap;
        self
    }

    /// The listing answered with an error.
    pub fn failed(name: &'static str, e: &ApiError) -> Self {
        Self::fail(name, e.to_string())
    }

    /// What a listing's first record says about its shape.
    pub fn of_shape(name: &'static str, path: &str, items: &[Value], fields: &[Field]) -> Self {
        match items.first() {
            None => Self::ok(name, format!("GET {path} answers (no record to check)")),
            Some(first) => match check_shape(first, fields) {
                Ok(()) => Self::ok(
                    name,
                    format!(
                        "GET {path} answers; its first record has every field dmm reads ({} listed)",
                        items.len()
                    ),
                ),
                Err(why) => Self::fail(
                    name,
                    format!(
                        "GET {path}: the first record does not have the shape dmm reads: {why} (a changed API? dmm would skip such records)"
                    ),
                ),
            },
        }
    }
}

/// The items of an answer that must be an array, or the probe that says it is not.
pub fn as_array(name: &'static str, path: &str, value: Value) -> Result<Vec<Value>, ListingProbe> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(ListingProbe::fail(
            name,
            format!(
                "GET {path}: expected a JSON array, found {}",
                json_type(&other)
            ),
        )),
    }
}

/// One GET of the whole deployment, answered with an array of records.
pub async fn global(
    client: &DominoClient,
    name: &'static str,
    path: &str,
    fields: &[Field],
) -> ListingProbe {
    match client.get_value(path).await {
        Ok(v) => match as_array(name, path, v) {
            Ok(items) => ListingProbe::of_shape(name, path, &items, fields),
            Err(probe) => probe,
        },
        Err(e) => ListingProbe::failed(name, &e),
    }
}

/// One GET per project: the first project with a record in this listing shows its shape.
pub async fn per_project(
    client: &DominoClient,
    projects: &[String],
    name: &'static str,
    path_of: impl Fn(&str) -> String,
    fields: &[Field],
) -> ListingProbe {
    let mut last_path = None;
    for project in projects {
        let path = path_of(project);
        let items = match client.get_value(&path).await {
            Ok(v) => match as_array(name, &path, v) {
                Ok(items) => items,
                Err(probe) => return probe,
            },
            Err(e) => return ListingProbe::failed(name, &e),
        };
        if !items.is_empty() {
            return ListingProbe::of_shape(name, &path, &items, fields);
        }
        last_path = Some(path);
    }
    match last_path {
        Some(path) => ListingProbe::ok(
            name,
            format!(
                "answers (GET {}, …: no record in the first {} project(s) to check)",
                path,
                projects.len()
            ),
        ),
        None => ListingProbe::ok(name, "no project to ask"),
    }
}
