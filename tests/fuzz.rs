//! Property tests (the fuzz targets of issue 6): the snapshot parser and the API response
//! parsing never panic on arbitrary input, and valid snapshots round-trip.
//!
//! `PROPTEST_CASES` raises the number of cases (defaults below keep the suite fast).

use std::sync::{Arc, Mutex};

use dmm::domino::{ApiKey, ClientConfig, DominoClient, NoProgress, RetryPolicy, ScanOptions};
use dmm::snapshot::{Entry, Kind, Snapshot};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Any JSON value, a few levels deep, with the snapshot's own keys among the object keys so
/// that generated documents get past the first checks.
fn any_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("App".to_string()),
        Just("Model API Version".to_string()),
        Just("Workspace".to_string()),
        Just("Scheduled Job".to_string()),
        Just("_id".to_string()),
        Just("key".to_string()),
        Just("name".to_string()),
        Just("owner".to_string()),
        Just("projectId".to_string()),
        Just("id".to_string()),
        Just("status".to_string()),
        "[a-zA-Z_]{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn entry(kind: Kind) -> impl Strategy<Value = (String, Entry)> {
    (
        "[a-f0-9]{1,24}",
        "\\PC{0,16}",
        "\\PC{0,12}",
        "[a-f0-9]{0,24}",
        any::<bool>(),
    )
        .prop_map(move |(id, name, owner, project, active)| {
            let mut ids = Map::new();
            let field = if kind == Kind::ScheduledJob {
                "key"
            } else {
                "_id"
            };
            ids.insert(field.into(), Value::String(id.clone()));
            ids.insert("projectId".into(), Value::String(project));
            if kind == Kind::ModelApiVersion {
                ids.insert("isActive".into(), Value::Bool(active));
            }
            (
                id,
                Entry {
                    id: Value::Object(ids),
                    name,
                    owner,
                },
            )
        })
}

/// A valid snapshot: every kind, executions unique within their kind.
fn valid_snapshot() -> impl Strategy<Value = Snapshot> {
    let per_kind = |kind| prop::collection::vec(entry(kind), 0..8);
    (
        per_kind(Kind::App),
        per_kind(Kind::ModelApiVersion),
        per_kind(Kind::Workspace),
        per_kind(Kind::ScheduledJob),
    )
        .prop_map(|(a, m, w, j)| {
            let mut snap = Snapshot::new();
            for (kind, entries) in [
                (Kind::App, a),
                (Kind::ModelApiVersion, m),
                (Kind::Workspace, w),
                (Kind::ScheduledJob, j),
            ] {
                let mut seen = std::collections::HashSet::new();
                let unique = entries
                    .into_iter()
                    .filter(|(id, _)| seen.insert(id.clone()))
                    .map(|(_, e)| e)
                    .collect();
                snap.set(kind, unique);
            }
            snap
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_snapshot_parser_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = Snapshot::from_json(&bytes);
    }

    #[test]
    fn the_snapshot_parser_never_panics_on_json(doc in any_json()) {
        let bytes = serde_json::to_vec(&doc).unwrap();
        if let Ok(snap) = Snapshot::from_json(&bytes) {
            // Whatever it accepts, it writes back in a form it accepts again, unchanged.
            let again = Snapshot::from_json(&snap.to_json()).expect("its own output parses");
            prop_assert_eq!(again, snap);
        }
    }

    #[test]
    fn valid_snapshots_round_trip(snap in valid_snapshot()) {
        let bytes = snap.to_json();
        let back = Snapshot::from_json(&bytes).expect("a valid snapshot parses");
        prop_assert_eq!(&back, &snap);
        prop_assert_eq!(back.to_json(), bytes);
    }

    #[test]
    fn a_cut_or_damaged_valid_snapshot_is_refused_or_parses(
        snap in valid_snapshot(),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let bytes = snap.to_json();
        let _ = Snapshot::from_json(&bytes[..cut.index(bytes.len() + 1)]);
        let mut damaged = bytes.clone();
        let i = flip.index(damaged.len());
        damaged[i] = byte;
        let _ = Snapshot::from_json(&damaged);
    }
}

/// A server answering every request 200 with whatever body the current case set.
struct AnyAnswer {
    body: Arc<Mutex<Vec<u8>>>,
    url: String,
    rt: tokio::runtime::Runtime,
    client: DominoClient,
}

impl AnyAnswer {
    fn start() -> AnyAnswer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let body = Arc::new(Mutex::new(b"[]".to_vec()));
        let served = body.clone();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(move || {
            let body = served.lock().unwrap().clone();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    body,
                )
            }
        });
        rt.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let mut config = ClientConfig::new(url.clone(), ApiKey::new("fuzz-key").unwrap());
        config.retry = RetryPolicy {
            max_retries: 0,
            read_patience: std::time::Duration::ZERO,
            ..RetryPolicy::default()
        };
        let client = DominoClient::new(&config).unwrap();
        AnyAnswer {
            body,
            url,
            rt,
            client,
        }
    }

    /// A whole scan (projects, apps, model versions, workspaces, scheduled jobs) against `body`.
    fn scan(&self, body: Vec<u8>) {
        *self.body.lock().unwrap() = body;
        let options = ScanOptions {
            concurrency: 4,
            workspaces_page_size: 5,
            models_page_size: 5,
            include_live: false,
        };
        let _ = self
            .rt
            .block_on(dmm::domino::scan(&self.client, &options, &NoProgress));
    }
}

/// Bodies shaped like Domino's answers, with fields of the wrong types or missing.
fn api_like() -> impl Strategy<Value = Value> {
    let record = (any_json(), any_json(), any_json()).prop_map(|(a, b, c)| {
        json!({
            "id": a, "name": "p", "ownerUsername": b, "status": c,
            "projectId": "p1", "modelId": "m1", "versionId": "v1", "_id": "x",
            "deploymentStatus": {"name": "Running", "isPending": false},
            "workspaceState": "Started", "isPaused": false,
        })
    });
    prop_oneof![
        prop::collection::vec(record, 0..4).prop_map(Value::Array),
        prop::collection::vec(any_json(), 0..4).prop_map(Value::Array),
        any_json(),
    ]
}

#[test]
fn api_answers_never_panic_the_scan() {
    let server = AnyAnswer::start();
    let cases: u32 = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(96);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(cases));
    runner
        .run(
            &prop_oneof![
                prop::collection::vec(any::<u8>(), 0..128),
                api_like().prop_map(|v| serde_json::to_vec(&v).unwrap()),
            ],
            |body| {
                server.scan(body);
                Ok(())
            },
        )
        .unwrap();
    assert!(server.url.starts_with("http://127.0.0.1:"));
}
