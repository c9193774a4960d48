//! The API side of `dmm preflight`: read-only probes of one deployment, each ending as a
//! [`Check`] (ok, warn or fail, with one line of detail). Knows URLs and JSON shapes; the
//! runner adds what a scan, the pace and the journal say (`runner::preflight`).
//!
//! Every probe is a GET: nothing here changes the deployment.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use super::kinds::seg;
use super::projects::PROJECTS_PATH;
use super::token::{EXPIRY_WARNING, jwt_expiry};
use super::{ApiError, DominoClient};

/// How one check ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    Warn,
    Fail,
}

/// One line of a preflight: what was checked, how it ended, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    pub name: String,
    pub status: CheckStatus,
    pub detail: String,
}

impl Check {
    pub fn new(name: &str, status: CheckStatus, detail: impl Into<String>) -> Check {
        Check {
            name: name.to_owned(),
            status,
            detail: detail.into(),
        }
    }
    pub fn ok(name: &str, detail: impl Into<String>) -> Check {
        Check::new(name, CheckStatus::Ok, detail)
    }
    pub fn warn(name: &str, detail: impl Into<String>) -> Check {
        Check::new(name, CheckStatus::Warn, detail)
    }
    pub fn fail(name: &str, detail: impl Into<String>) -> Check {
        Check::new(name, CheckStatus::Fail, detail)
    }
}

/// Rows asked of a paged listing to find out whether the server caps pages: more than any
/// page size dmm uses (50 workspace rows, 10 model versions).
pub const PROBE_PAGE_SIZE: usize = 1000;

/// Projects looked at, at most, to find a record of a per-project listing to check.
const PROJECTS_TO_PROBE: usize = 25;

// ----- shapes -----

/// The JSON type a field must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    Str,
    Bool,
    Object,
    Array,
    /// A non-negative integer.
    Count,
    /// Anything (the field is read as it comes).
    Any,
}

/// Whether a field must be there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Present and not null (a plain field of the kind's record).
    Required,
    /// Absent or null is fine (an `Option` field).
    Optional,
    /// Absent is fine, null is not (a field with a default value).
    Defaulted,
}

/// One field a kind module reads: its path (`a.b` for a field of an object field), its type,
/// and whether it must be there.
#[derive(Clone, Copy, Debug)]
pub struct Field(pub &'static str, pub Ty, pub Need);

use Need::{Defaulted, Optional, Required};
use Ty::{Any, Array, Bool, Count, Object, Str};

/// The fields dmm reads of each listing's records: the `Deserialize` structs of
/// `domino::projects` and of the kind modules in `domino::kinds` (a field that is missing where
/// required, or of another type, makes those skip the record).
pub mod shapes {
    use super::*;

    pub const PROJECT: &[Field] = &[
        Field("id", Str, Required),
        Field("name", Str, Required),
        Field("ownerUsername", Str, Required),
    ];
    /// `kinds::apps::AppRecord`.
    pub const APP: &[Field] = &[
        Field("id", Str, Required),
        Field("name", Str, Optional),
        Field("status", Str, Required),
        Field("hardwareTierId", Str, Optional),
        Field("projectId", Str, Required),
        Field("publisher", Object, Optional),
        Field("publisher.userName", Str, Optional),
    ];
    /// `kinds::model_versions::ModelRecord`.
    pub const MODEL: &[Field] = &[
        Field("id", Str, Required),
        Field("name", Str, Optional),
        Field("activeModelVersionId", Str, Optional),
    ];
    /// `kinds::model_versions::VersionPage`.
    pub const VERSION_PAGE: &[Field] = &[Field("results", Array, Required)];
    /// `kinds::model_versions::VersionRecord`.
    pub const VERSION: &[Field] = &[
        Field("id", Str, Required),
        Field("number", Any, Optional),
        Field("deploymentStatus", Object, Required),
        Field("deploymentStatus.name", Str, Required),
        Field("deploymentStatus.isPending", Bool, Defaulted),
        Field("creator", Object, Optional),
        Field("creator.name", Str, Optional),
    ];
    /// `kinds::workspaces::RowPage`; `tableRows` is read as a list even when absent, but a page
    /// without it lists nothing, so it is required here.
    pub const WORKSPACE_PAGE: &[Field] = &[
        Field("tableRows", Array, Required),
        Field("totalEntries", Count, Optional),
    ];
    /// `kinds::workspaces::WorkspaceRow`.
    pub const WORKSPACE_ROW: &[Field] = &[
        Field("workspaceId", Str, Required),
        Field("name", Str, Optional),
        Field("projectName", Str, Optional),
        Field("projectOwnerName", Str, Optional),
        Field("ownerUsername", Str, Optional),
        Field("workspaceState", Str, Required),
    ];
    /// `kinds::scheduled_jobs::JobRecord`.
    pub const SCHEDULED_JOB: &[Field] = &[
        Field("id", Str, Required),
        Field("projectId", Str, Optional),
        Field("title", Str, Optional),
        Field("scheduledByUserName", Str, Optional),
        Field("isPaused", Bool, Defaulted),
    ];
    /// What an App start reads of a project's volumes (`kinds::apps::local_volume_ids`).
    pub const DATA_VOLUME: &[Field] = &[
        Field("id", Str, Required),
        Field("dataPlanes", Array, Required),
    ];
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn ty_name(ty: Ty) -> &'static str {
    match ty {
        Str => "a string",
        Bool => "a boolean",
        Object => "an object",
        Array => "an array",
        Count => "a non-negative integer",
        Any => "any value",
    }
}

fn has_type(value: &Value, ty: Ty) -> bool {
    match ty {
        Str => value.is_string(),
        Bool => value.is_boolean(),
        Object => value.is_object(),
        Array => value.is_array(),
        Count => value.is_u64(),
        Any => true,
    }
}

/// Checks one record against the fields dmm reads; the first mismatch, naming the field.
pub fn check_shape(record: &Value, fields: &[Field]) -> Result<(), String> {
    if !record.is_object() {
        return Err(format!(
            "the record is {}, not an object",
            type_name(record)
        ));
    }
    for &Field(path, ty, need) in fields {
        // A field of an object field is looked at only when that object is there.
        let mut value = Some(record);
        let mut parent_missing = false;
        let parts: Vec<&str> = path.split('.').collect();
        for (i, part) in parts.iter().enumerate() {
            match value.and_then(|v| v.get(part)) {
                Some(v) => value = Some(v),
                None => {
                    parent_missing = i + 1 < parts.len();
                    value = None;
                    break;
                }
            }
            if i + 1 < parts.len() && value.is_some_and(Value::is_null) {
                parent_missing = true;
                value = None;
                break;
            }
        }
        if parent_missing {
            continue;
        }
        match (value, need) {
            (None, Required) => return Err(format!("field `{path}` is missing")),
            (None, _) => {}
            (Some(Value::Null), Optional) => {}
            (Some(Value::Null), _) => {
                return Err(format!("field `{path}` is null, expected {}", ty_name(ty)));
            }
            (Some(v), _) if !has_type(v, ty) => {
                return Err(format!(
                    "field `{path}` is {}, expected {}",
                    type_name(v),
                    ty_name(ty)
                ));
            }
            (Some(_), _) => {}
        }
    }
    Ok(())
}

/// What a listing's first record says about its shape.
fn shape_check(name: &str, path: &str, items: &[Value], fields: &[Field]) -> Check {
    match items.first() {
        None => Check::ok(name, format!("GET {path} answers (no record to check)")),
        Some(first) => match check_shape(first, fields) {
            Ok(()) => Check::ok(
                name,
                format!(
                    "GET {path} answers; its first record has every field dmm reads ({} listed)",
                    items.len()
                ),
            ),
            Err(why) => Check::fail(
                name,
                format!(
                    "GET {path}: the first record does not have the shape dmm reads: {why} (a changed API? dmm would skip such records)"
                ),
            ),
        },
    }
}

fn listing_failed(name: &str, e: &ApiError) -> Check {
    Check::fail(name, format!("{e}"))
}

/// The items of an answer that must be an array, or the check that says it is not.
fn as_array(name: &str, path: &str, value: Value) -> Result<Vec<Value>, Check> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(Check::fail(
            name,
            format!(
                "GET {path}: expected a JSON array, found {}",
                type_name(&other)
            ),
        )),
    }
}

// ----- who and where -----

/// What the first contact found: whether the host answers at all, and its version.
pub struct Contact {
    pub checks: Vec<Check>,
    /// `false` when nothing else is worth asking (no answer, or 404 everywhere).
    pub answers: bool,
}

fn is_loopback(base_url: &str) -> bool {
    let rest = base_url.split("://").nth(1).unwrap_or("");
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split(']').next().unwrap_or("").trim_start_matches('[')
    } else {
        host.split(':').next().unwrap_or("")
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `GET /version`: the host answers (and its certificate is trusted), and which Domino it is.
/// A missing or odd version is not an error; a host that answers 404 to `/version` and to the
/// project listing is not a Domino API at that URL.
pub async fn contact(client: &DominoClient, tls_no_verify: bool) -> Contact {
    let base = client.base_url();
    let https = base.starts_with("https://");
    let answered = client.get_value("/version").await;
    if let Err(e @ ApiError::Transport { .. }) = &answered {
        let hint = if https && !tls_no_verify && e.to_string().contains("certificate") {
            " (the certificate is not trusted: --ca-cert PEM adds a CA)"
        } else {
            ""
        };
        return Contact {
            checks: vec![Check::fail(
                "connection",
                format!("{base} does not answer: {e}{hint}"),
            )],
            answers: false,
        };
    }
    if let Err(e @ ApiError::NotAnApi { .. }) = &answered {
        return Contact {
            checks: vec![Check::fail("connection", format!("{base}: {e}"))],
            answers: false,
        };
    }
    if let Err(ApiError::NotFound { .. }) = &answered
        && let Err(ApiError::NotFound { .. }) = client.get_value(PROJECTS_PATH).await
    {
        return Contact {
            checks: vec![Check::fail(
                "connection",
                format!(
                    "{base} answers 404 to GET /version and GET {PROJECTS_PATH}: not the Domino API at this URL (a wrong host or path prefix?)"
                ),
            )],
            answers: false,
        };
    }
    let connection = if https && tls_no_verify {
        Check::warn(
            "connection",
            format!(
                "{base} answers, but TLS verification is OFF (DOMINO_SSL_NO_VERIFY): the credentials could reach an impostor"
            ),
        )
    } else if https {
        Check::ok(
            "connection",
            format!("{base} answers; its TLS certificate is trusted"),
        )
    } else if is_loopback(base) {
        Check::ok(
            "connection",
            format!("{base} answers (plain HTTP on this machine: no TLS)"),
        )
    } else {
        Check::warn(
            "connection",
            format!(
                "{base} answers over plain HTTP: the credentials travel unencrypted; use https://"
            ),
        )
    };
    let version = match &answered {
        Ok(v) => match v.get("version").and_then(Value::as_str) {
            Some(version) if !version.trim().is_empty() => {
                Check::ok("version", format!("Domino {}", version.trim()))
            }
            _ => Check::ok(
                "version",
                "unknown: GET /version has no version field (not an error)",
            ),
        },
        // A refusal is not a ✓: the same credentials are about to be refused everywhere.
        Err(e) if e.is_unauthorized() => Check::warn(
            "version",
            format!("unknown: GET /version was refused ({e})"),
        ),
        Err(e) => Check::ok("version", format!("unknown ({e}; not an error)")),
    };
    Contact {
        checks: vec![connection, version],
        answers: true,
    }
}

/// Who the credentials are, and whether they are an administrator's.
pub struct Identity {
    pub checks: Vec<Check>,
    /// The credentials were accepted and nothing says they lack admin rights: the listings
    /// are worth asking.
    pub usable: bool,
}

/// `GET /v4/auth/principal`, then the admin listing of workspaces (one row), which only an
/// administrator may read.
pub async fn identity(client: &DominoClient, credential: &str) -> Identity {
    let principal = client.get_value("/v4/auth/principal").await;
    let (credentials, mut admin) = match &principal {
        Ok(me) => {
            let name = me
                .get("canonicalName")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or("an unnamed identity");
            let anonymous = me.get("isAnonymous").and_then(Value::as_bool) == Some(true);
            if anonymous {
                (
                    Check::fail(
                        "credentials",
                        format!("the {credential} is taken for an anonymous user"),
                    ),
                    None,
                )
            } else {
                let admin = match me.get("isAdmin").and_then(Value::as_bool) {
                    Some(true) => Some(Check::ok(
                        "admin rights",
                        format!("{name} is a Domino administrator"),
                    )),
                    Some(false) => Some(Check::fail(
                        "admin rights",
                        format!(
                            "{name} is not a Domino administrator: shutdown and restore need one"
                        ),
                    )),
                    None => None,
                };
                (
                    Check::ok(
                        "credentials",
                        format!("the {credential} is accepted: {name}"),
                    ),
                    admin,
                )
            }
        }
        Err(e) if e.is_unauthorized() => (
            Check::fail("credentials", format!("the {credential} is refused: {e}")),
            None,
        ),
        Err(e) => (
            Check::warn(
                "credentials",
                format!("who the {credential} belongs to is unknown: {e}"),
            ),
            None,
        ),
    };
    if credentials.status == CheckStatus::Fail {
        return Identity {
            checks: vec![credentials],
            usable: false,
        };
    }
    let path = "/v4/workspace/adminDashboardRowData?limit=1&offset=0";
    let listing = client.get_value(path).await;
    let admin_listing = match &listing {
        Ok(_) => None,
        Err(e) if e.is_unauthorized() => Some(Check::fail(
            "admin rights",
            format!("the admin listing of workspaces is refused: {e}"),
        )),
        Err(e) => Some(Check::warn(
            "admin rights",
            format!("the admin listing of workspaces does not answer: {e}"),
        )),
    };
    let admin = match (admin.take(), admin_listing) {
        (Some(a), None) if a.status == CheckStatus::Ok => Check::ok(
            "admin rights",
            format!("{}; the admin listing of workspaces answers", a.detail),
        ),
        (Some(a), None) => a,
        (Some(a), Some(l)) if a.status == CheckStatus::Fail => {
            Check::fail("admin rights", format!("{}; {}", a.detail, l.detail))
        }
        (_, Some(l)) => l,
        (None, None) => Check::ok(
            "admin rights",
            "the admin listing of workspaces answers (GET /v4/auth/principal did not say isAdmin)",
        ),
    };
    let usable = admin.status != CheckStatus::Fail;
    Identity {
        checks: vec![credentials, admin],
        usable,
    }
}

// ----- listings -----

/// What the listing probes found: one check per listing, and the page cap.
pub struct Listings {
    pub checks: Vec<Check>,
}

/// Each listing dmm reads answers with the shape it expects (the first record of each, against
/// [`shapes`]), and whether the server caps page sizes.
pub async fn listings(client: &DominoClient) -> Listings {
    let mut checks = Vec::new();

    // Projects: every per-project listing starts from them.
    let projects: Vec<String> = match client.get_value(PROJECTS_PATH).await {
        Ok(v) => match as_array("listing: projects", PROJECTS_PATH, v) {
            Ok(items) => {
                checks.push(shape_check(
                    "listing: projects",
                    PROJECTS_PATH,
                    &items,
                    shapes::PROJECT,
                ));
                items
                    .iter()
                    .filter_map(|p| p.get("id").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            }
            Err(c) => {
                checks.push(c);
                Vec::new()
            }
        },
        Err(e) => {
            checks.push(listing_failed("listing: projects", &e));
            Vec::new()
        }
    };

    // Apps.
    let apps_path = "/v4/modelProducts";
    match client.get_value(apps_path).await {
        Ok(v) => match as_array("listing: apps", apps_path, v) {
            Ok(items) => checks.push(shape_check("listing: apps", apps_path, &items, shapes::APP)),
            Err(c) => checks.push(c),
        },
        Err(e) => checks.push(listing_failed("listing: apps", &e)),
    }

    // Workspaces, with a page larger than dmm ever asks for: a cap shows as fewer rows than
    // asked and than the total.
    let mut caps = Vec::new();
    let mut no_caps = Vec::new();
    let ws_path = format!("/v4/workspace/adminDashboardRowData?limit={PROBE_PAGE_SIZE}&offset=0");
    match client.get_value(&ws_path).await {
        Ok(page) => match check_shape(&page, shapes::WORKSPACE_PAGE) {
            Err(why) => checks.push(Check::fail(
                "listing: workspaces",
                format!("GET {ws_path}: the page does not have the shape dmm reads: {why}"),
            )),
            Ok(()) => {
                let rows = page["tableRows"].as_array().cloned().unwrap_or_default();
                checks.push(shape_check(
                    "listing: workspaces",
                    &ws_path,
                    &rows,
                    shapes::WORKSPACE_ROW,
                ));
                let total = page.get("totalEntries").and_then(Value::as_u64);
                let got = rows.len();
                match total {
                    Some(t) if (got as u64) < t.min(PROBE_PAGE_SIZE as u64) => caps.push(format!(
                        "workspace rows at {got} (asked {PROBE_PAGE_SIZE}, totalEntries {t})"
                    )),
                    Some(0) => no_caps.push("workspaces: none to tell by".to_owned()),
                    Some(t) => no_caps.push(format!(
                        "workspaces: asked {PROBE_PAGE_SIZE}, got {got} of totalEntries {t}"
                    )),
                    None => no_caps.push(format!(
                        "workspaces: asked {PROBE_PAGE_SIZE}, got {got} (no totalEntries to compare)"
                    )),
                }
            }
        },
        Err(e) => checks.push(listing_failed("listing: workspaces", &e)),
    }

    // Per-project listings: the first project that has a record shows its shape.
    let probe = &projects[..projects.len().min(PROJECTS_TO_PROBE)];
    checks.push(models_and_versions(client, probe, &mut caps, &mut no_caps).await);
    checks.push(
        per_project(
            client,
            probe,
            "listing: scheduled jobs",
            |p| format!("/v4/projects/{}/scheduledjobs", seg(p)),
            shapes::SCHEDULED_JOB,
        )
        .await,
    );
    checks.push(
        per_project(
            client,
            probe,
            "listing: data volumes",
            |p| format!("/v4/datamount/projects/{}", seg(p)),
            shapes::DATA_VOLUME,
        )
        .await,
    );

    checks.push(if !caps.is_empty() {
        Check::warn(
            "page size",
            format!(
                "the server caps pages: {}; dmm pages by the rows it receives, so listings stay complete but take more requests",
                caps.join("; ")
            ),
        )
    } else if no_caps.is_empty() {
        Check::ok(
            "page size",
            "cannot tell whether the server caps pages (no paged listing answered)",
        )
    } else {
        Check::ok(
            "page size",
            format!("no cap seen ({})", no_caps.join("; ")),
        )
    });
    Listings { checks }
}

/// The first project with a record in this listing shows the listing's shape.
async fn per_project(
    client: &DominoClient,
    projects: &[String],
    name: &str,
    path_of: impl Fn(&str) -> String,
    fields: &[Field],
) -> Check {
    let mut last_path = None;
    for project in projects {
        let path = path_of(project);
        let items = match client.get_value(&path).await {
            Ok(v) => match as_array(name, &path, v) {
                Ok(items) => items,
                Err(c) => return c,
            },
            Err(e) => return listing_failed(name, &e),
        };
        if !items.is_empty() {
            return shape_check(name, &path, &items, fields);
        }
        last_path = Some(path);
    }
    match last_path {
        Some(path) => Check::ok(
            name,
            format!(
                "answers (GET {}, …: no record in the first {} project(s) to check)",
                path,
                projects.len()
            ),
        ),
        None => Check::ok(name, "no project to ask"),
    }
}

/// Models, then the versions of the first model that has some, asked in one page larger than
/// dmm uses: fewer rows than asked, with a second page that is not empty, is a cap.
async fn models_and_versions(
    client: &DominoClient,
    projects: &[String],
    caps: &mut Vec<String>,
    no_caps: &mut Vec<String>,
) -> Check {
    let name = "listing: model versions";
    let mut models_seen = 0usize;
    let mut model_shape_checked = false;
    for project in projects {
        let path = format!("/v4/modelManager/getModels?projectId={}", seg(project));
        let models = match client.get_value(&path).await {
            Ok(v) => match as_array(name, &path, v) {
                Ok(items) => items,
                Err(c) => return c,
            },
            Err(e) => return listing_failed(name, &e),
        };
        if let Some(first) = models.first()
            && !model_shape_checked
        {
            if let Err(why) = check_shape(first, shapes::MODEL) {
                return Check::fail(
                    name,
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
            let page_path = |n: u32| {
                format!(
                    "/models/{}/versions/json?pageNumber={n}&pageSize={PROBE_PAGE_SIZE}",
                    seg(model_id)
                )
            };
            let first_path = page_path(1);
            let page = match client.get_value(&first_path).await {
                Ok(p) => p,
                Err(e) => return listing_failed(name, &e),
            };
            if let Err(why) = check_shape(&page, shapes::VERSION_PAGE) {
                return Check::fail(
                    name,
                    format!("GET {first_path}: the page does not have the shape dmm reads: {why}"),
                );
            }
            let results = page["results"].as_array().cloned().unwrap_or_default();
            if results.is_empty() {
                continue;
            }
            if results.len() < PROBE_PAGE_SIZE {
                let second = client.get_value(&page_path(2)).await;
                let more = second
                    .ok()
                    .and_then(|p| p.get("results").and_then(Value::as_array).map(Vec::len))
                    .unwrap_or(0);
                if more > 0 {
                    caps.push(format!(
                        "model versions at {} (asked {PROBE_PAGE_SIZE}, and page 2 is not empty)",
                        results.len()
                    ));
                } else {
                    no_caps.push(format!(
                        "model versions: asked {PROBE_PAGE_SIZE}, got all {}",
                        results.len()
                    ));
                }
            }
            return shape_check(name, &first_path, &results, shapes::VERSION);
        }
    }
    Check::ok(
        name,
        format!(
            "answers (no model version to check: {models_seen} model(s) in the first {} project(s))",
            projects.len()
        ),
    )
}

/// The volumes of these projects that have no local data plane: a restore starts the
/// project's apps without them. `(project id, volume id)`, and the projects that could not be
/// read, with why.
pub async fn non_local_volumes(
    client: &DominoClient,
    projects: &BTreeSet<String>,
) -> (Vec<(String, String)>, Vec<String>) {
    let mut found = Vec::new();
    let mut unreadable = Vec::new();
    for project in projects {
        let path = format!("/v4/datamount/projects/{}", seg(project));
        let items = match client.get_value(&path).await {
            Ok(Value::Array(items)) => items,
            Ok(other) => {
                unreadable.push(format!(
                    "GET {path}: expected a JSON array, found {}",
                    type_name(&other)
                ));
                continue;
            }
            Err(e) => {
                unreadable.push(e.to_string());
                continue;
            }
        };
        for volume in items {
            let local = volume
                .get("dataPlanes")
                .and_then(Value::as_array)
                .is_some_and(|planes| {
                    planes
                        .iter()
                        .any(|p| p.get("isLocal").and_then(Value::as_bool) == Some(true))
                });
            if !local && let Some(id) = volume.get("id").and_then(Value::as_str) {
                found.push((project.clone(), id.to_owned()));
            }
        }
    }
    (found, unreadable)
}

// ----- the token -----

/// The expiry of the service-account token in `path`, when it is a JWT (`exp`, read without
/// verifying the token): a warning when it expires within [`EXPIRY_WARNING`], a failure when
/// it has expired. The token itself is never shown.
pub fn token_expiry(path: &std::path::Path, now: std::time::SystemTime) -> Check {
    let name = "token expiry";
    let content = match std::fs::read_to_string(path) {
        Ok(c) => c,
        Err(e) => {
            return Check::fail(
                name,
                format!("the token file {} cannot be read: {e}", path.display()),
            );
        }
    };
    let Some(exp) = jwt_expiry(content.trim()) else {
        return Check::ok(
            name,
            "the token is not a JWT with an expiry (exp): it cannot be read in advance",
        );
    };
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(exp);
    let when = humantime::format_rfc3339_seconds(at);
    match at.duration_since(now) {
        Err(_) => Check::fail(
            name,
            format!("the token expired at {when}: refresh the token file"),
        ),
        Ok(left) if left < EXPIRY_WARNING => Check::warn(
            name,
            format!(
                "the token expires at {when}, in {} (within 12 hours): a run may outlast it unless the file is refreshed",
                rough_duration(left)
            ),
        ),
        Ok(left) => Check::ok(
            name,
            format!("the token expires at {when}, in {}", rough_duration(left)),
        ),
    }
}

/// `3 h 20 min`, `2 days 4 h`: enough to plan a window by.
pub fn rough_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=86_399 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} days {} h", s / 86_400, s % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_shape_names_the_field_that_is_missing_or_of_another_type() {
        let app = json!({"id": "a1", "name": "x", "status": "Running", "hardwareTierId": null,
            "projectId": "p1", "publisher": {"userName": "alice"}, "extra": [1]});
        assert_eq!(check_shape(&app, shapes::APP), Ok(()));
        let mut missing = app.clone();
        missing.as_object_mut().unwrap().remove("status");
        assert_eq!(
            check_shape(&missing, shapes::APP),
            Err("field `status` is missing".into())
        );
        let mut typed = app.clone();
        typed["projectId"] = json!(7);
        assert_eq!(
            check_shape(&typed, shapes::APP),
            Err("field `projectId` is a number, expected a string".into())
        );
        let mut nested = app.clone();
        nested["publisher"] = json!({"userName": 3});
        assert_eq!(
            check_shape(&nested, shapes::APP),
            Err("field `publisher.userName` is a number, expected a string".into())
        );
        // An optional object that is null or absent: its fields are not looked at.
        let mut no_publisher = app.clone();
        no_publisher["publisher"] = Value::Null;
        assert_eq!(check_shape(&no_publisher, shapes::APP), Ok(()));
        no_publisher.as_object_mut().unwrap().remove("publisher");
        assert_eq!(check_shape(&no_publisher, shapes::APP), Ok(()));
        // A defaulted field may be absent but not null.
        let job = json!({"id": "j", "isPaused": null});
        assert_eq!(
            check_shape(&job, shapes::SCHEDULED_JOB),
            Err("field `isPaused` is null, expected a boolean".into())
        );
        assert_eq!(
            check_shape(&json!({"id": "j"}), shapes::SCHEDULED_JOB),
            Ok(())
        );
        // A required object's own required field.
        let version = json!({"id": "v", "deploymentStatus": {"isPending": false}});
        assert_eq!(
            check_shape(&version, shapes::VERSION),
            Err("field `deploymentStatus.name` is missing".into())
        );
        assert_eq!(
            check_shape(&json!("junk"), shapes::PROJECT),
            Err("the record is a string, not an object".into())
        );
        assert_eq!(
            check_shape(
                &json!({"tableRows": [], "totalEntries": -1}),
                shapes::WORKSPACE_PAGE
            ),
            Err("field `totalEntries` is a number, expected a non-negative integer".into())
        );
    }

    /// Every way one field of `valid` can be wrong: absent, null, or of another type.
    fn variants(valid: &Value, fields: &[Field]) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        for &Field(path, ty, _) in fields {
            let parts: Vec<&str> = path.split('.').collect();
            let (parents, last) = parts.split_at(parts.len() - 1);
            let edit = |change: &dyn Fn(&mut serde_json::Map<String, Value>)| {
                let mut record = valid.clone();
                let mut at = &mut record;
                for p in parents {
                    at = at.get_mut(*p).unwrap();
                }
                change(at.as_object_mut().unwrap());
                record
            };
            out.push((
                format!("{path} absent"),
                edit(&|o| {
                    o.remove(last[0]);
                }),
            ));
            out.push((
                format!("{path} null"),
                edit(&|o| {
                    o.insert(last[0].into(), Value::Null);
                }),
            ));
            let wrong = match ty {
                Str => json!(7),
                Bool | Object | Array => json!("x"),
                Count => json!(-1),
                Any => continue,
            };
            out.push((
                format!("{path} of another type"),
                edit(&|o| {
                    o.insert(last[0].into(), wrong.clone());
                }),
            ));
        }
        out
    }

    /// The shapes say what the kind modules' parsers say: a record that fails a shape is one
    /// the parser skips, and one that passes is parsed.
    #[tokio::test]
    async fn the_shapes_agree_with_what_the_kinds_parse() {
        use crate::domino::kinds::{apps, scheduled_jobs, workspaces};
        use crate::domino::test_support::{FakeDomino, test_client};
        use std::sync::Arc;

        let app = json!({"id": "a1", "name": "dash", "status": "Running", "hardwareTierId": "small",
            "projectId": "p1", "publisher": {"userName": "alice"}});
        for (what, record) in variants(&app, shapes::APP) {
            let fake = FakeDomino::new();
            fake.get("/v4/modelProducts", json!([record.clone()]));
            let client = test_client(&Arc::new(fake).serve().await);
            let listing = apps::list_running(&client).await.unwrap();
            let parsed = listing.problems.is_empty();
            assert_eq!(
                check_shape(&record, shapes::APP).is_ok(),
                parsed,
                "app, {what}: {:?}",
                check_shape(&record, shapes::APP)
            );
        }

        let job = json!({"id": "j1", "projectId": "p1", "title": "nightly",
            "scheduledByUserName": "alice", "isPaused": false});
        let fake = FakeDomino::new();
        let cases = variants(&job, shapes::SCHEDULED_JOB);
        for (i, (_, record)) in cases.iter().enumerate() {
            fake.get(&format!("/v4/projects/p{i}/scheduledjobs"), json!([record]));
        }
        let client = test_client(&Arc::new(fake).serve().await);
        for (i, (what, record)) in cases.iter().enumerate() {
            let listing = scheduled_jobs::list_project(&client, &format!("p{i}"))
                .await
                .unwrap();
            assert_eq!(
                check_shape(record, shapes::SCHEDULED_JOB).is_ok(),
                listing.problems.is_empty(),
                "scheduled job, {what}"
            );
        }

        let row = json!({"workspaceId": "w1", "name": "ws", "projectName": "churn",
            "projectOwnerName": "alice", "ownerUsername": "bob", "workspaceState": "Started"});
        for (what, record) in variants(&row, shapes::WORKSPACE_ROW) {
            assert_eq!(
                check_shape(&record, shapes::WORKSPACE_ROW).is_ok(),
                serde_json::from_value::<workspaces::WorkspaceRow>(record).is_ok(),
                "workspace row, {what}"
            );
        }
        let project = json!({"id": "p1", "name": "churn", "ownerUsername": "alice"});
        for (what, record) in variants(&project, shapes::PROJECT) {
            assert_eq!(
                check_shape(&record, shapes::PROJECT).is_ok(),
                serde_json::from_value::<crate::domino::Project>(record).is_ok(),
                "project, {what}"
            );
        }
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("http://127.0.0.1:8080"));
        assert!(is_loopback("http://localhost/domino"));
        assert!(is_loopback("http://[::1]:80"));
        assert!(!is_loopback("http://domino.example.com"));
        assert!(!is_loopback("http://10.0.0.1:80"));
    }
}
