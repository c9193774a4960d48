//! The API side of `dmm preflight`: read-only probes of one deployment (the host and its TLS,
//! who the credential is, the first record of every listing against the shape dmm reads, page
//! caps, volumes), each ending as [`Check`]s. Every probe is a GET.

use std::collections::BTreeSet;

use serde_json::Value;

use super::check::{Check, CheckStatus};
use crate::domino::kinds::jobs;
use crate::domino::shape::{Field, check_shape, shapes};
use crate::domino::{ApiError, DominoClient, PROJECTS_PATH, json_type, seg};

/// Rows asked of a paged listing to find out whether the server caps pages: more than any
/// page size dmm uses (50 workspace rows, 10 model versions).
pub const PROBE_PAGE_SIZE: usize = 1000;

/// Projects looked at, at most, to find a record of a per-project listing to check.
const PROJECTS_TO_PROBE: usize = 25;

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
                json_type(&other)
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
    checks.push(job_status_words(client, probe).await);

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

/// Which `status` words the Job listing takes (asked once each, one row, of the first project),
/// and so how dmm will list Jobs: with `all` where it is taken, else with `running` (and
/// `queued`), which may leave out Jobs in neither.
async fn job_status_words(client: &DominoClient, projects: &[String]) -> Check {
    const NAME: &str = "listing: jobs";
    let Some(project) = projects.first() else {
        return Check::ok(NAME, "no project to ask");
    };
    let mut taken = Vec::new();
    let mut refused = Vec::new();
    for word in jobs::STATUS_WORDS {
        let path = format!(
            "/v4/jobs?projectId={}&status={word}&page_size=1&page_no=1",
            seg(project)
        );
        match client.get_value(&path).await {
            Ok(_) => taken.push(word),
            Err(e) if e.status() == Some(400) => refused.push(word),
            Err(e) => return listing_failed(NAME, &e),
        }
    }
    let words = format!(
        "status words taken: {}; refused: {}",
        if taken.is_empty() {
            "none".to_owned()
        } else {
            taken.join(", ")
        },
        if refused.is_empty() {
            "none".to_owned()
        } else {
            refused.join(", ")
        }
    );
    if taken.contains(&"all") {
        Check::ok(
            NAME,
            format!("{words}; dmm lists every Job (status=all) and keeps those not completed"),
        )
    } else {
        let asked = if taken.contains(&"queued") {
            "status=running and status=queued"
        } else {
            "status=running alone"
        };
        Check::warn(
            NAME,
            format!(
                "{words}; dmm lists with {asked}, which may leave out Jobs that are neither (Pending, Preparing, ...): check the Jobs page before the window"
            ),
        )
    }
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
                    json_type(&other)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("http://127.0.0.1:8080"));
        assert!(is_loopback("http://localhost/domino"));
        assert!(is_loopback("http://[::1]:80"));
        assert!(!is_loopback("http://domino.example.com"));
        assert!(!is_loopback("http://10.0.0.1:80"));
    }
}
