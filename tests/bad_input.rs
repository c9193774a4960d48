//! Bad input: each case gets one `error:` line on stderr, its documented exit code, no panic, and
//! leaves any journal byte for byte as it was (and the deployment untouched).

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;

/// Checks the shape every refusal must have and returns its one error line.
fn refused(out: &Output, exit: i32, what: &str) -> String {
    check_no_key(out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(out), exit, "{what}: {}", text(out));
    for bad in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
        assert!(!stderr.contains(bad), "{what}: panic text: {}", text(out));
    }
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{what}: one error line: {}", text(out));
    assert!(
        errors[0].len() > "error: ".len() + 10,
        "{what}: {}",
        errors[0]
    );
    eprintln!("{what}: exit {exit}: {}", errors[0]);
    errors[0].to_owned()
}

fn read_opt(path: &Path) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

/// Runs `args` and checks the refusal, that the journal did not change (or was not created) and
/// that nothing was sent to stop or start.
fn refuse_run(env: &Env, args: &[&str], exit: i32, what: &str) -> String {
    let before = read_opt(&env.journal());
    let mutations = env.sim.requests().mutations.len();
    let out = env.dmm().args(args).output().expect("dmm runs");
    let line = refused(&out, exit, what);
    assert!(
        read_opt(&env.journal()) == before,
        "{what}: the journal changed"
    );
    assert_eq!(
        env.sim.requests().mutations.len(),
        mutations,
        "{what}: requests were sent"
    );
    line
}

#[test]
fn bad_environment_is_refused_before_anything_is_touched() {
    let env = Env::small();
    let snap = env.path("s.json");
    let snap = snap.to_str().unwrap();

    let out = run_with_env(&env, &[("DOMINO_HOSTNAME", None)], &["snapshot", snap]);
    let line = refused(&out, 2, "missing DOMINO_HOSTNAME");
    assert!(line.contains("DOMINO_HOSTNAME"), "{line}");

    let out = run_with_env(&env, &[("DOMINO_API_KEY", None)], &["snapshot", snap]);
    let line = refused(&out, 2, "missing key");
    assert!(line.contains("DOMINO_API_KEY"), "{line}");

    let out = run_with_env(&env, &[("DOMINO_API_KEY", Some(""))], &["snapshot", snap]);
    refused(&out, 2, "empty key");

    let no_scheme = env.sim.addr().to_string();
    let out = run_with_env(
        &env,
        &[("DOMINO_HOSTNAME", Some(&no_scheme))],
        &["snapshot", snap],
    );
    let line = refused(&out, 2, "hostname without scheme");
    assert!(line.contains("http"), "{line}");

    let out = run_with_env(
        &env,
        &[("DOMINO_HOSTNAME", Some("not a url at all"))],
        &["snapshot", snap],
    );
    refused(&out, 2, "malformed hostname");

    let out = run_with_env(
        &env,
        &[("DOMINO_SSL_NO_VERIFY", Some("maybe"))],
        &["snapshot", snap],
    );
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));

    assert!(!Path::new(snap).exists(), "no snapshot file was written");
    assert_eq!(env.sim.requests().total, 0, "nothing was asked of the API");
}

#[test]
fn a_refused_key_is_refused_clearly() {
    let env = Env::new(config(small_spec()).non_admin_key("viewer-key-93b1"));
    let snap = env.path("s.json");
    let snap = snap.to_str().unwrap();
    let out = run_with_env(
        &env,
        &[("DOMINO_API_KEY", Some("wrong-key-1234"))],
        &["snapshot", snap],
    );
    let line = refused(&out, 2, "401");
    assert!(
        line.contains("401") || line.to_lowercase().contains("key"),
        "{line}"
    );
    let out = run_with_env(
        &env,
        &[("DOMINO_API_KEY", Some("viewer-key-93b1"))],
        &["snapshot", snap],
    );
    let line = refused(&out, 2, "403");
    assert!(line.contains("403") || line.contains("admin"), "{line}");
    assert!(!Path::new(snap).exists());
    let f = env.sim.requests().faults;
    assert!(f.unauthorized > 0 && f.forbidden > 0, "{f:?}");

    // The same during a run: nothing is stopped, and an existing journal is left as it was.
    env.take_snapshot();
    let out = env.run_op("shutdown", &["-s", "scheduled-job"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    // A refused key on shutdown or restore: found by one read before the journal is opened,
    // so the run stops (exit 2) with the deployment untouched and the journal unchanged.
    let journal = std::fs::read(env.journal()).unwrap();
    let mutations = env.sim.requests().mutations.len();
    for op in ["shutdown", "restore"] {
        let out = run_with_env(
            &env,
            &[("DOMINO_API_KEY", Some("wrong-key-1234"))],
            &[op, env.snapshot().to_str().unwrap(), "--yes"],
        );
        refused(&out, 2, &format!("401 during {op}"));
        assert_eq!(
            env.sim.requests().mutations.len(),
            mutations,
            "{op}: a request was sent with a refused key"
        );
        assert_eq!(
            std::fs::read(env.journal()).unwrap(),
            journal,
            "{op}: the journal changed"
        );
    }
}

#[test]
fn an_unreachable_host_is_one_clear_line() {
    let env = Env::small();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let snap = env.path("s.json");
    let out = run_with_env(
        &env,
        &[("DOMINO_HOSTNAME", Some(&format!("http://127.0.0.1:{port}")))],
        &["snapshot", snap.to_str().unwrap()],
    );
    let exit = code(&out);
    assert_eq!(
        exit,
        2,
        "an unreachable host is configuration to fix: {}",
        text(&out)
    );
    refused(&out, exit, "unreachable host");
    assert!(!snap.exists());
}

fn bad_snapshots() -> Vec<(&'static str, Vec<u8>)> {
    let entry = r#"{"_id": {"_id": "a1", "projectId": "p1"}, "name": "n", "owner": "o"}"#;
    vec![
        ("empty", b"".to_vec()),
        ("whitespace only", b"  \n".to_vec()),
        ("not JSON", b"this is not json".to_vec()),
        ("binary garbage", vec![0xff, 0x00, 0xfe, 0x13, 0x37]),
        ("truncated", br#"{"App": [{"_id": {"_id": "a1""#.to_vec()),
        ("top level array", b"[]".to_vec()),
        (
            "unknown top-level key",
            br#"{"App": [], "Robots": []}"#.to_vec(),
        ),
        (
            "unknown entry key",
            br#"{"App": [{"_id": {"_id": "a1"}, "name": "n", "owner": "o", "x": 1}]}"#.to_vec(),
        ),
        ("kind not an array", br#"{"App": {"_id": "a1"}}"#.to_vec()),
        (
            "name not a string",
            br#"{"App": [{"_id": {"_id": "a1"}, "name": 7, "owner": "o"}]}"#.to_vec(),
        ),
        (
            "_id not an object",
            br#"{"App": [{"_id": "a1", "name": "n", "owner": "o"}]}"#.to_vec(),
        ),
        (
            "empty execution id",
            br#"{"App": [{"_id": {"_id": ""}, "name": "n", "owner": "o"}]}"#.to_vec(),
        ),
        (
            "duplicate executions",
            format!(r#"{{"App": [{entry}, {entry}]}}"#).into_bytes(),
        ),
    ]
}

#[test]
fn bad_snapshot_files_are_refused_and_create_no_journal() {
    let env = Env::small();
    let mut tried = 0;
    for (what, bytes) in bad_snapshots() {
        std::fs::write(env.snapshot(), &bytes).unwrap();
        for op in ["shutdown", "restore"] {
            let line = refuse_run(
                &env,
                &[op, env.snapshot().to_str().unwrap(), "--yes"],
                2,
                &format!("{op} with a snapshot that is {what}"),
            );
            assert!(line.contains("snapshot"), "{line}");
            assert!(!env.journal().exists(), "{what}: a journal was created");
            tried += 1;
        }
        for cmd in [
            vec![
                "verify",
                env.snapshot().to_str().unwrap(),
                "--expect",
                "stopped",
            ],
            vec!["status", env.snapshot().to_str().unwrap()],
        ] {
            let out = env.dmm().args(&cmd).output().unwrap();
            refused(
                &out,
                2,
                &format!("{} with a snapshot that is {what}", cmd[0]),
            );
            tried += 1;
        }
    }
    // A snapshot that does not exist, and one that is a folder.
    let missing = env.path("missing.json");
    refuse_run(
        &env,
        &["shutdown", missing.to_str().unwrap(), "--yes"],
        2,
        "missing snapshot",
    );
    refuse_run(
        &env,
        &["shutdown", env.dir.path().to_str().unwrap(), "--yes"],
        2,
        "snapshot is a folder",
    );
    tried += 2;
    eprintln!("bad snapshots: {tried} refusals checked");
}

/// A real journal from a finished run of one kind, and its bytes.
fn journal_env() -> (Env, Vec<u8>) {
    let env = Env::small();
    env.take_snapshot();
    let out = env.run_op("shutdown", &["-s", "scheduled-job"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let bytes = std::fs::read(env.journal()).unwrap();
    (env, bytes)
}

fn refuse_all_commands(env: &Env, exit: i32, what: &str) {
    let snap = env.snapshot();
    let snap = snap.to_str().unwrap();
    for args in [
        vec!["shutdown", snap, "--yes"],
        vec!["restore", snap, "--yes"],
    ] {
        refuse_run(
            env,
            &args,
            exit,
            &format!("{} with a journal {what}", args[0]),
        );
    }
    // The read-only commands read a private, checked copy: they may show what is still
    // readable, or refuse; either way they change nothing.
    for args in [vec!["status", snap], vec!["journal", snap]] {
        let before = read_opt(&env.journal());
        let out = env.dmm().args(&args).output().unwrap();
        if code(&out) != 0 {
            refused(&out, exit, &format!("{} with a journal {what}", args[0]));
        } else {
            check_no_key(&out);
            eprintln!(
                "{} with a journal {what}: exit 0 (read what was readable)",
                args[0]
            );
        }
        assert!(
            read_opt(&env.journal()) == before,
            "{what}: the journal changed"
        );
    }
}

#[test]
fn damaged_journals_are_refused_and_left_as_they_are() {
    let (env, good) = journal_env();

    // Truncated at several places, then garbage of the same length, then zeros.
    for cut in [0, 16, good.len() / 3, good.len() / 2, good.len() - 1] {
        std::fs::write(env.journal(), &good[..cut]).unwrap();
        refuse_all_commands(&env, 2, &format!("truncated to {cut} bytes"));
    }
    let mut garbage = good.clone();
    let mut rng = fastrand::Rng::with_seed(6);
    for b in garbage.iter_mut() {
        *b = rng.u8(..);
    }
    std::fs::write(env.journal(), &garbage).unwrap();
    refuse_all_commands(&env, 2, "of random bytes");
    std::fs::write(env.journal(), b"not a journal").unwrap();
    refuse_all_commands(&env, 2, "of text");
}

#[test]
fn a_journal_from_a_newer_dmm_is_refused() {
    let (env, _) = journal_env();
    {
        let db = redb::Database::open(env.journal()).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let meta: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
            let mut t = txn.open_table(meta).unwrap();
            let newer = (dmm::journal::SCHEMA_VERSION + 1).to_string();
            t.insert("schema_version", newer.as_bytes()).unwrap();
        }
        txn.commit().unwrap();
    }
    let line = refuse_run(
        &env,
        &["shutdown", env.snapshot().to_str().unwrap(), "--yes"],
        2,
        "newer journal",
    );
    assert!(line.contains("newer") || line.contains("version"), "{line}");
    refuse_all_commands(&env, 2, "from a newer schema");
}

#[test]
fn a_journal_held_by_another_process_is_exit_4_for_runs() {
    let (env, _) = journal_env();
    // This test process holds the journal the way a running dmm does.
    let held = redb::Database::open(env.journal()).unwrap();
    for op in ["shutdown", "restore"] {
        let line = refuse_run(
            &env,
            &[op, env.snapshot().to_str().unwrap(), "--yes"],
            4,
            &format!("{op} with a held journal"),
        );
        assert!(line.contains("held by another process"), "{line}");
    }
    drop(held);
}

#[test]
fn a_journal_bound_to_another_snapshot_is_refused() {
    let (env, _) = journal_env();
    let other = env.path("other.json");
    let snap = std::fs::read_to_string(env.snapshot()).unwrap();
    std::fs::write(&other, format!("{snap}\n")).unwrap();
    for op in ["shutdown", "restore"] {
        let line = refuse_run(
            &env,
            &[
                op,
                other.to_str().unwrap(),
                "--yes",
                "--journal",
                env.journal().to_str().unwrap(),
            ],
            2,
            &format!("{op} with another snapshot"),
        );
        assert!(line.contains("another snapshot"), "{line}");
    }
}

#[test]
fn a_read_only_folder_for_the_journal_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        // Root ignores folder permissions: run dmm as an unprivileged user instead.
        read_only_folder_as_nobody();
        return;
    }
    let env = Env::small();
    env.take_snapshot();
    let ro = env.path("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o500)).unwrap();
    let journal = ro.join("j.journal");
    refuse_run(
        &env,
        &[
            "shutdown",
            env.snapshot().to_str().unwrap(),
            "--yes",
            "--journal",
            journal.to_str().unwrap(),
        ],
        2,
        "read-only journal folder",
    );
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o700)).unwrap();
}

/// The read-only case for a root test run: dmm runs as `nobody` (setpriv), from copies of the
/// binary and the snapshot in a folder that user can read, against a journal folder it cannot
/// write.
fn read_only_folder_as_nobody() {
    use std::os::unix::fs::PermissionsExt;
    let setpriv = Path::new("/usr/bin/setpriv");
    if !setpriv.exists() {
        eprintln!("note: running as root without setpriv; read-only case skipped");
        return;
    }
    let env = Env::small();
    env.take_snapshot();
    let shared = tempfile::tempdir().unwrap();
    let mode = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    mode(shared.path(), 0o755).unwrap();
    let dmm = shared.path().join("dmm");
    std::fs::copy(env!("CARGO_BIN_EXE_dmm"), &dmm).unwrap();
    mode(&dmm, 0o755).unwrap();
    let snap = shared.path().join("snap.json");
    std::fs::copy(env.snapshot(), &snap).unwrap();
    mode(&snap, 0o644).unwrap();
    let ro = shared.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    mode(&ro, 0o555).unwrap();
    let journal = ro.join("j.journal");
    let out = Command::new(setpriv)
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&dmm)
        .args(["shutdown", snap.to_str().unwrap(), "--yes", "--journal"])
        .arg(&journal)
        .env_clear()
        .env("DOMINO_HOSTNAME", env.sim.base_url())
        .env("DOMINO_API_KEY", KEY)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let line = refused(&out, 2, "read-only journal folder (as nobody)");
    assert!(line.contains("j.journal"), "{line}");
    assert!(!journal.exists());
    assert!(
        env.sim.requests().mutations.is_empty(),
        "nothing is stopped without a journal"
    );
}

/// A server that answers every request with `body` and status 200.
fn garbage_server(body: &'static str) -> (String, tokio::runtime::Runtime) {
    let (rt, listener) = loopback_server_runtime();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(move || async move {
        (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
    });
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), rt)
}

#[test]
fn api_answers_that_are_not_json_or_the_wrong_shape_are_refused() {
    let env = Env::small();
    for (what, body) in [
        ("not JSON", "<html>maintenance</html>"),
        ("truncated JSON", "[{\"id\": \"p1\", "),
        ("an object, not a list", "{\"projects\": []}"),
    ] {
        let (url, rt) = garbage_server(body);
        let snap = env.path("garbage.json");
        let out = run_with_env(
            &env,
            &[("DOMINO_HOSTNAME", Some(&url))],
            &["snapshot", snap.to_str().unwrap()],
        );
        let exit = code(&out);
        assert_eq!(
            exit,
            1,
            "{what}: an unusable answer is the deployment's problem: {}",
            text(&out)
        );
        refused(&out, exit, &format!("API answer that is {what}"));
        assert!(!snap.exists(), "{what}: a snapshot was written");
        drop(rt);
    }
    // Lists whose records cannot be read: each record is reported, the snapshot is written but
    // called incomplete, and the exit code says something failed.
    for (what, body) in [
        ("a list of numbers", "[1, 2, 3]"),
        ("records without ids", "[{\"name\": \"p\"}]"),
    ] {
        let (url, rt) = garbage_server(body);
        let snap = env.path(&format!("records-{}.json", what.len()));
        let out = run_with_env(
            &env,
            &[("DOMINO_HOSTNAME", Some(&url))],
            &["snapshot", snap.to_str().unwrap()],
        );
        check_no_key(&out);
        let stdout = String::from_utf8_lossy(&out.stdout);
        eprintln!("API answer with {what}: exit {}", code(&out));
        assert_eq!(code(&out), 1, "{what}: {}", text(&out));
        assert!(stdout.contains("incomplete"), "{what}: {}", text(&out));
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
        drop(rt);
    }
}

/// `dmm ARGS` with these environment variables set (`Some`) or removed (`None`).
fn run_with_env(env: &Env, vars: &[(&str, Option<&str>)], args: &[&str]) -> std::process::Output {
    let mut command = env.dmm();
    for (name, value) in vars {
        match value {
            Some(v) => command.env(name, v),
            None => command.env_remove(name),
        };
    }
    let out = command.args(args).output().unwrap();
    check_no_key(&out);
    out
}
