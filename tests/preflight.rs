//! `dmm preflight` against the simulator: a healthy deployment, a capped page size, a key
//! without admin rights, a wrong URL, a changed API, a token about to expire, a journal held by
//! a running shutdown, and the JSON document scripts read. Preflight is read-only: every test
//! also checks that it sent no stop, start or PUT.

mod common;

use std::process::Output;
use std::time::Duration;

use common::*;
use dmm::journal::{Operation, StepPhase};
use domino_sim::{Scenario, SimConfig};
use serde_json::Value;

/// The small scenario of the fixtures, with every data volume local: nothing to warn about.
fn healthy() -> SimConfig {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sim/fixtures/scenarios/small.json"
    );
    let text = std::fs::read_to_string(path).expect("fixture readable");
    assert!(
        text.contains(r#""local": false"#),
        "the fixture has a remote volume"
    );
    let all_local = text.replace(r#""local": false"#, r#""local": true"#);
    SimConfig::default()
        .api_key(KEY)
        .scenario(Scenario::from_json(all_local.as_bytes()).expect("fixture valid"))
        .transition(40, 20)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The line of the check `name` (`✓ name  detail`), without its mark.
fn line<'a>(text: &'a str, name: &str) -> Option<(&'a str, &'a str)> {
    text.lines().find_map(|l| {
        let (mark, rest) = l.split_once(' ')?;
        let rest = rest.trim_start();
        let detail = rest.strip_prefix(name)?;
        detail
            .starts_with("  ")
            .then(|| (mark, detail.trim_start()))
    })
}

fn check<'a>(text: &'a str, name: &str) -> (&'a str, &'a str) {
    line(text, name).unwrap_or_else(|| panic!("no line for {name}:\n{text}"))
}

fn preflight(env: &Env, args: &[&str]) -> Output {
    let mut all = vec!["preflight"];
    all.extend_from_slice(args);
    env.run(&all)
}

/// Preflight never changes anything: no POST or PUT reached the simulator.
fn assert_read_only(env: &Env) {
    let mutations = env.sim.requests().mutations;
    assert!(
        mutations.is_empty(),
        "preflight sent {} mutating request(s): {:?}",
        mutations.len(),
        mutations.first()
    );
}

const EVERY_CHECK: [&str; 18] = [
    "connection",
    "version",
    "credentials",
    "admin rights",
    "listing: projects",
    "listing: apps",
    "listing: model versions",
    "listing: workspaces",
    "listing: scheduled jobs",
    "listing: jobs",
    "listing: data volumes",
    "page size",
    "running now",
    "shutdown",
    "restore",
    "rollouts",
    "app volumes",
    "workspace projects",
];

#[test]
fn a_healthy_deployment_passes_every_check_and_nothing_is_touched() {
    let env = Env::new(healthy());
    let out = preflight(&env, &[]);
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{}", self::text(&out));
    for name in EVERY_CHECK {
        let (mark, detail) = check(&text, name);
        assert_eq!(mark, "✓", "{name}: {detail}");
    }
    let check_lines = text
        .lines()
        .filter(|l| l.starts_with(['✓', '!', '✗']))
        .count();
    assert_eq!(check_lines, EVERY_CHECK.len(), "{text}");
    assert!(text.lines().last().unwrap().starts_with("ready"), "{text}");
    assert!(check(&text, "version").1.contains("5.11.1"));
    assert!(check(&text, "credentials").1.contains("sim-admin"));
    assert_eq!(
        check(&text, "listing: jobs").1,
        "status words taken: all, running, completed; refused: queued; dmm lists every Job (status=all) and keeps those not completed"
    );
    assert_read_only(&env);

    // What it says runs is what a snapshot then takes.
    env.take_snapshot();
    let keys = snapshot_keys(&env);
    let running = check(&text, "running now").1;
    for kind in dmm::snapshot::Kind::ALL {
        let n = keys.iter().filter(|(k, _)| k == kind).count();
        assert!(
            running.contains(&format!("{kind}: {n}")),
            "{kind}: {n} expected in: {running}"
        );
    }
    assert!(
        check(&text, "shutdown")
            .1
            .starts_with(&format!("{} stops and pauses", keys.len())),
        "{text}"
    );
    // The pace given is the pace estimated.
    let out = preflight(&env, &["--rate-limit", "5", "--concurrency", "3"]);
    assert_eq!(code(&out), 0, "{}", self::text(&out));
    assert!(
        check(&stdout(&out), "restore")
            .1
            .contains("at 5 requests/s, 3 in flight"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_capped_page_size_is_found_and_warned_about() {
    let env = Env::new(healthy().max_page_size(2));
    let out = preflight(&env, &[]);
    let text = stdout(&out);
    assert_eq!(code(&out), 1, "{}", self::text(&out));
    let (mark, detail) = check(&text, "page size");
    assert_eq!(mark, "!", "{detail}");
    // 3 workspaces, 2 per page whatever is asked. (The first model found has only 2
    // versions: no cap shows there.)
    assert!(
        detail.contains("workspace rows at 2 (asked 1000, totalEntries 3)"),
        "{detail}"
    );
    // Everything else is fine.
    for name in EVERY_CHECK.iter().filter(|n| **n != "page size") {
        assert_eq!(check(&text, name).0, "✓", "{name}: {text}");
    }
    assert!(text.contains("ready, with 1 warning(s)"), "{text}");
    assert_read_only(&env);
}

/// Jobs are not in a snapshot, but a shutdown stops those it finds running: preflight counts
/// them with the rest, and says a restore does not start them again unless asked.
#[test]
fn running_jobs_are_counted_and_their_stops_estimated() {
    let env = Env::new(config(domino_sim::GenerateSpec {
        jobs: 12,
        ..small_spec()
    }));
    let jobs = env.sim.running_ids(domino_sim::Kind::Job).len();
    assert!(jobs > 0, "the deployment runs Jobs");
    let out = preflight(&env, &[]);
    let text = stdout(&out);
    assert!(code(&out) <= 1, "{}", self::text(&out));
    let running = check(&text, "running now").1;
    assert!(running.contains(&format!("Job: {jobs}")), "{running}");
    env.take_snapshot();
    let recorded = snapshot_keys(&env).len();
    let shutdown = check(&text, "shutdown").1;
    assert!(
        shutdown.starts_with(&format!("{} stops and pauses", recorded + jobs)),
        "{recorded} recorded + {jobs} Jobs: {shutdown}"
    );
    let restore = check(&text, "restore").1;
    assert!(
        restore.contains(&format!(
            "{jobs} Job(s) started again only with --restart-jobs"
        )),
        "{restore}"
    );
    assert_read_only(&env);
}

/// The hazards a scan shows: a model mid-rollout, apps in projects whose volumes are not local.
#[test]
fn rollouts_and_volumes_that_are_not_local_are_warned_about() {
    let mut spec = small_spec();
    spec.rollout_in_progress = true;
    let env = Env::new(config(spec));
    let out = preflight(&env, &[]);
    let text = stdout(&out);
    assert_eq!(code(&out), 1, "{}", self::text(&out));
    let (mark, detail) = check(&text, "rollouts");
    assert_eq!(mark, "!", "{detail}");
    assert!(detail.contains("1 model(s) mid-rollout"), "{detail}");
    // This generated deployment has remote volumes in projects where apps run.
    let (mark, detail) = check(&text, "app volumes");
    assert_eq!(mark, "!", "{detail}");
    assert!(detail.contains("not local"), "{detail}");
    let state = env.sim.state();
    let app_names: Vec<&str> = state
        .executions
        .iter()
        .filter(|e| e.kind == domino_sim::Kind::App)
        .map(|e| e.name.as_str())
        .collect();
    assert!(
        app_names.iter().any(|n| detail.contains(n)),
        "the apps are named: {detail}"
    );
    assert_eq!(check(&text, "running now").0, "✓", "{text}");
    assert_read_only(&env);
}

#[test]
fn a_key_without_admin_rights_is_not_usable_and_a_wrong_key_is_refused() {
    let env = Env::new(healthy().non_admin_key("viewer-key-5d21"));
    let out = env
        .dmm()
        .env("DOMINO_API_KEY", "viewer-key-5d21")
        .arg("preflight")
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(code(&out), 2, "{}", self::text(&out));
    assert!(
        !self::text(&out).contains("viewer-key-5d21"),
        "the key leaked"
    );
    let (mark, detail) = check(&text, "credentials");
    assert_eq!(mark, "✓", "accepted, as Domino accepts it: {detail}");
    assert!(detail.contains("sim-user"), "{detail}");
    let (mark, detail) = check(&text, "admin rights");
    assert_eq!(mark, "✗", "{detail}");
    assert!(detail.contains("not a Domino administrator"), "{detail}");
    assert!(
        detail.contains("403"),
        "the admin listing is refused: {detail}"
    );
    // The listings are not asked for with such a key.
    assert!(line(&text, "listing: apps").is_none(), "{text}");
    assert!(
        text.lines().last().unwrap().starts_with("not usable"),
        "{text}"
    );

    let out = env
        .dmm()
        .env("DOMINO_API_KEY", "wrong-key-0000")
        .arg("preflight")
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(code(&out), 2, "{}", self::text(&out));
    let (mark, detail) = check(&text, "credentials");
    assert_eq!(mark, "✗", "{detail}");
    assert!(
        detail.contains("refused") && detail.contains("401"),
        "{detail}"
    );
    assert!(!self::text(&out).contains("wrong-key-0000"));
    assert_read_only(&env);
}

#[test]
fn a_wrong_url_is_not_usable() {
    let env = Env::small();
    // A path under which nothing is served: 404 everywhere.
    let out = env
        .dmm()
        .env(
            "DOMINO_HOSTNAME",
            format!("{}/not-domino", env.sim.base_url()),
        )
        .args(["preflight", "--json"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["ready"], false);
    assert_eq!(doc["checks"][0]["name"], "connection");
    assert_eq!(doc["checks"][0]["status"], "fail");
    assert!(
        doc["checks"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("not the Domino API at this URL"),
        "{doc}"
    );

    // A port where nothing listens.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let out = env
        .dmm()
        .env("DOMINO_HOSTNAME", &url)
        .args(["preflight", "--request-timeout", "2s"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", text(&out));
    let shown = stdout(&out);
    let (mark, detail) = check(&shown, "connection");
    assert_eq!(mark, "✗");
    assert!(detail.contains("does not answer"), "{detail}");
    assert!(
        stdout(&out).lines().count() == 3,
        "nothing else is asked of a host that does not answer: {}",
        stdout(&out)
    );
}

#[test]
fn the_json_document_has_every_check_with_name_status_and_detail() {
    let env = Env::new(healthy().max_page_size(2));
    let out = preflight(&env, &["--json"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(doc["host"], env.sim.base_url());
    assert_eq!(doc["ready"], true);
    assert_eq!(doc["exit"], 1);
    let checks = doc["checks"].as_array().unwrap();
    let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, EVERY_CHECK);
    for c in checks {
        let fields: Vec<&String> = c.as_object().unwrap().keys().collect();
        assert_eq!(fields, ["name", "status", "detail"], "{c}");
        assert!(!c["detail"].as_str().unwrap().is_empty(), "{c}");
        let status = c["status"].as_str().unwrap();
        let expected = if c["name"] == "page size" {
            "warn"
        } else {
            "ok"
        };
        assert_eq!(status, expected, "{c}");
    }
    // A configuration error is one document too.
    let out = env
        .dmm()
        .env_remove("DOMINO_API_KEY")
        .args(["preflight", "--json"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["checks"][0]["name"], "configuration");
    assert_eq!(doc["checks"][0]["status"], "fail");
    assert_read_only(&env);
}

/// A server that answers like Domino, except that the apps' `status` is a number and the
/// first scheduled job lacks its `id`: the shape a new Domino version might bring.
fn changed_api_server() -> (String, tokio::runtime::Runtime) {
    use axum::Json;
    use axum::routing::get;
    use serde_json::json;
    let (rt, listener) = loopback_server_runtime();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route(
            "/version",
            get(|| async { Json(json!({"version": "6.0.0"})) }),
        )
        .route(
            "/v4/auth/principal",
            get(|| async { Json(json!({"canonicalName": "admin", "isAdmin": true})) }),
        )
        .route(
            "/v4/projects",
            get(|| async {
                Json(json!([{"id": "p1", "name": "churn", "ownerUsername": "alice"}]))
            }),
        )
        .route(
            "/v4/modelProducts",
            get(|| async {
                Json(json!([{"id": "a1", "name": "dash", "status": 3, "projectId": "p1"}]))
            }),
        )
        .route(
            "/v4/workspace/adminDashboardRowData",
            get(|| async { Json(json!({"tableRows": [], "totalEntries": 0})) }),
        )
        .route(
            "/v4/projects/p1/scheduledjobs",
            get(|| async { Json(json!([{"title": "nightly", "isPaused": false}])) }),
        )
        .fallback(|| async { Json(json!([])) });
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), rt)
}

#[test]
fn a_changed_api_names_the_field_that_is_wrong() {
    let env = Env::small();
    let (url, _rt) = changed_api_server();
    let out = env
        .dmm()
        .env("DOMINO_HOSTNAME", &url)
        .arg("preflight")
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(code(&out), 2, "{}", self::text(&out));
    assert_eq!(check(&text, "version").1, "Domino 6.0.0");
    let (mark, detail) = check(&text, "listing: apps");
    assert_eq!(mark, "✗");
    assert!(
        detail.contains("field `status` is a number, expected a string"),
        "{detail}"
    );
    let (mark, detail) = check(&text, "listing: scheduled jobs");
    assert_eq!(mark, "✗");
    assert!(detail.contains("field `id` is missing"), "{detail}");
    assert_eq!(check(&text, "listing: projects").0, "✓");
}

/// A JWT whose payload is `claims` (header and signature are not checked by dmm).
fn jwt(claims: &str) -> String {
    const TABLE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in claims.as_bytes().chunks(3) {
        let n = chunk.iter().fold(0u32, |n, &b| (n << 8) | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    format!("eyJhbGciOiJSUzI1NiJ9.{out}.c2lnbmF0dXJlLXNlY3JldA")
}

#[test]
fn a_token_that_expires_within_12_hours_is_warned_about() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for (hours, mark, exit) in [(2, "!", 1), (48, "✓", 0)] {
        let token = jwt(&format!(
            r#"{{"sub":"svc-maintenance","exp":{}}}"#,
            now + hours * 3600
        ));
        let env = Env::new(healthy().bearer_token(&token));
        let file = env.path("token");
        std::fs::write(&file, &token).unwrap();
        let out = env
            .dmm()
            .env_remove("DOMINO_API_KEY")
            .env("DOMINO_TOKEN_FILE", &file)
            .arg("preflight")
            .output()
            .unwrap();
        let text = stdout(&out);
        assert_eq!(code(&out), exit, "{}", self::text(&out));
        assert!(!self::text(&out).contains(&token), "the token leaked");
        let (m, detail) = check(&text, "token expiry");
        assert_eq!(m, mark, "{hours} h: {detail}");
        if hours == 2 {
            assert!(detail.contains("within 12 hours"), "{detail}");
        }
        assert!(
            check(&text, "credentials")
                .1
                .contains("service-account token is accepted"),
            "{text}"
        );
        assert_read_only(&env);
    }
}

#[test]
fn a_snapshot_journal_is_said_clean_held_or_in_progress() {
    // Slow transitions: the shutdown is still running when preflight looks.
    let env = Env::new(healthy().transition(4_000, 500));
    env.take_snapshot();
    let snap = env.snapshot();
    let snap = snap.to_str().unwrap();
    let journal_line = |out: &Output| check(&stdout(out), "journal").1.to_owned();

    let out = preflight(&env, &[snap]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let detail = journal_line(&out);
    assert!(detail.contains("is clean: no run yet"), "{detail}");
    // And whether the disk beside it has room for what a cycle writes into it.
    let shown = stdout(&out);
    let (mark, room) = check(&shown, "journal disk");
    assert_eq!(mark, "✓", "{room}");
    assert!(
        room.contains(" free in ") && room.contains("may write up to 64 MiB into the journal"),
        "{room}"
    );

    let mut child = env.spawn_op("shutdown", &[]);
    wait_for(Duration::from_secs(30), "steps to be accepted", || {
        count_phase(&env.steps(Operation::Shutdown), |p| {
            matches!(p, StepPhase::Accepted | StepPhase::Confirmed)
        }) >= 3
    });
    let out = preflight(&env, &[snap]);
    let shown = stdout(&out);
    let (mark, detail) = check(&shown, "journal");
    assert!(
        matches!(child.try_wait(), Ok(None)),
        "the shutdown was still running while preflight looked"
    );
    assert_eq!(mark, "!", "{detail}");
    assert!(detail.contains("held by another process"), "{detail}");
    assert_eq!(code(&out), 1, "{}", text(&out));

    // Killed: not held any more, but the run did not end.
    kill9(&mut child);
    let out = preflight(&env, &[snap]);
    let detail = journal_line(&out);
    assert!(detail.contains("is in progress"), "{detail}");
    assert!(detail.contains("did not end"), "{detail}");

    // Finished: clean again.
    let out = env.run_op("shutdown", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let out = preflight(&env, &[snap]);
    let detail = journal_line(&out);
    assert!(detail.contains("is clean"), "{detail}");
    assert!(detail.contains("(shutdown)"), "{detail}");
}

/// A server that answers every request with a login page: 200, text/html.
fn login_page_server() -> (String, tokio::runtime::Runtime) {
    use axum::response::Html;
    let (rt, listener) = loopback_server_runtime();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(|| async {
        Html("<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body><form>...</form></body></html>")
    });
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), rt)
}

#[test]
fn a_login_page_is_said_not_to_be_a_domino_api() {
    let env = Env::small();
    let (url, _rt) = login_page_server();
    let out = env
        .dmm()
        .env("DOMINO_HOSTNAME", &url)
        .arg("preflight")
        .output()
        .unwrap();
    let all = text(&out);
    eprintln!("{all}");
    assert_eq!(code(&out), 2, "{all}");
    let said = stdout(&out);
    let (mark, detail) = check(&said, "connection");
    assert_eq!(mark, "✗", "{all}");
    assert!(detail.contains("not a Domino API"), "{detail}");
    assert!(detail.contains("HTML"), "{detail}");
    assert!(
        !all.contains("expected value"),
        "no JSON parser error: {all}"
    );

    // Every command says the same: a snapshot is refused with the same words.
    let snap = env.snapshot();
    let out = env
        .dmm()
        .env("DOMINO_HOSTNAME", &url)
        .args(["snapshot", snap.to_str().unwrap()])
        .output()
        .unwrap();
    let all = text(&out);
    eprintln!("{all}");
    assert_ne!(code(&out), 0, "{all}");
    assert!(all.contains("not a Domino API"), "{all}");
    assert!(!all.contains("expected value"), "{all}");
}

/// A server whose status words mean only what they say takes `queued` too, and says so.
#[test]
fn the_job_listing_words_the_server_takes_are_named() {
    let env = Env::new(healthy().strict_job_status(true));
    let out = preflight(&env, &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let listed = stdout(&out);
    let (mark, detail) = check(&listed, "listing: jobs");
    assert_eq!(mark, "✓");
    assert!(
        detail.starts_with("status words taken: all, running, queued, completed; refused: none"),
        "{detail}"
    );
    assert_read_only(&env);
}
