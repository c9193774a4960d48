//! The API side of `dmm preflight`: read-only probes of one deployment (the host and its TLS,
//! who the credential is, the first record of every listing against the shape dmm reads, page
//! caps, volumes), each ending as [`Check`]s. Every probe is a GET.

use std::collections::BTreeSet;

use serde_json::Value;

use super::check::{Check, CheckStatus};
use crate::domino::probe::{self, ListingProbe, PageCap, ProbeStatus};
use crate::domino::shape::shapes;
use crate::domino::{
    ApiError, DominoClient, KindOptions, PROJECTS_PATH, execution_kinds, json_type, seg,
};

/// Projects looked at, at most, to find a record of a per-project listing to check.
const PROJECTS_TO_PROBE: usize = 25;

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
    let connection = connection_check(base, https, tls_no_verify);
    let version = version_check(&answered);
    Contact {
        checks: vec![connection, version],
        answers: true,
    }
}

/// How the host answers: over trusted TLS, over TLS not verified, or plain HTTP (on this
/// machine or not).
fn connection_check(base: &str, https: bool, tls_no_verify: bool) -> Check {
    if https && tls_no_verify {
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
    }
}

/// Which Domino answered `GET /version`, when it says.
fn version_check(answered: &Result<Value, ApiError>) -> Check {
    match answered {
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
    let (credentials, admin) = principal_checks(&principal, credential);
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
    let admin = admin_check(admin, admin_listing);
    let usable = admin.status != CheckStatus::Fail;
    Identity {
        checks: vec![credentials, admin],
        usable,
    }
}

/// What `GET /v4/auth/principal` says of the credentials: accepted, refused or unknown, and
/// whether they are an administrator's when it says.
fn principal_checks(
    principal: &Result<Value, ApiError>,
    credential: &str,
) -> (Check, Option<Check>) {
    match principal {
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
    }
}

/// The admin rights, from what the principal said (`said`) and what the admin listing of
/// workspaces answered (`listing`: `None` when it answered).
fn admin_check(said: Option<Check>, listing: Option<Check>) -> Check {
    match (said, listing) {
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
    }
}

// ----- listings -----

/// What the listing probes found: one check per listing, and the page cap.
pub struct Listings {
    pub checks: Vec<Check>,
}

/// Each listing dmm reads answers with the shape it expects (the first record of each, against
/// [`shapes`]), and whether the server caps pages: the projects' listing, every kind's own
/// probe ([`ExecutionKind::probe_listing`](crate::domino::ExecutionKind::probe_listing), in
/// registry order), and the data volumes a restore reads.
pub async fn listings(client: &DominoClient) -> Listings {
    let (mut checks, projects) = projects_listing(client).await;
    let probe = &projects[..projects.len().min(PROJECTS_TO_PROBE)];
    let mut caps = Vec::new();
    let mut no_caps = Vec::new();
    for kind in execution_kinds(client, &KindOptions::default()) {
        let found = kind.probe_listing(probe).await;
        match &found.page_cap {
            Some(PageCap::Capped(seen)) => caps.push(seen.clone()),
            Some(PageCap::NotCapped(seen)) => no_caps.push(seen.clone()),
            None => {}
        }
        checks.push(check_of(found));
    }
    checks.push(check_of(
        probe::per_project(
            client,
            probe,
            "listing: data volumes",
            |p| format!("/v4/datamount/projects/{}", seg(p)),
            shapes::DATA_VOLUME,
        )
        .await,
    ));
    checks.push(page_size_check(&caps, &no_caps));
    Listings { checks }
}

/// Projects: every per-project listing starts from them.
async fn projects_listing(client: &DominoClient) -> (Vec<Check>, Vec<String>) {
    const NAME: &str = "listing: projects";
    let items = match client.get_value(PROJECTS_PATH).await {
        Ok(v) => probe::as_array(NAME, PROJECTS_PATH, v),
        Err(e) => Err(ListingProbe::failed(NAME, &e)),
    };
    match items {
        Ok(items) => {
            let check = ListingProbe::of_shape(NAME, PROJECTS_PATH, &items, shapes::PROJECT);
            let ids = items
                .iter()
                .filter_map(|p| p.get("id").and_then(Value::as_str).map(str::to_owned))
                .collect();
            (vec![check_of(check)], ids)
        }
        Err(failed) => (vec![check_of(failed)], Vec::new()),
    }
}

fn page_size_check(caps: &[String], no_caps: &[String]) -> Check {
    if !caps.is_empty() {
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
        Check::ok("page size", format!("no cap seen ({})", no_caps.join("; ")))
    }
}

/// A kind's probe as a line of the preflight.
fn check_of(found: ListingProbe) -> Check {
    let status = match found.status {
        ProbeStatus::Ok => CheckStatus::Ok,
        ProbeStatus::Warn => CheckStatus::Warn,
        ProbeStatus::Fail => CheckStatus::Fail,
    };
    Check::new(found.name, status, found.detail)
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
