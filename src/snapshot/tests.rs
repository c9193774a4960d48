use super::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/snapshots")
        .join(name)
}

#[test]
fn reads_files_written_by_the_earlier_tool() {
    let small = read(&fixture("python-dmm-0.1-small.json")).unwrap();
    assert_eq!(small.snapshot.entries(Kind::App).len(), 2);
    assert_eq!(small.snapshot.entries(Kind::ModelApiVersion).len(), 2);
    assert_eq!(small.snapshot.entries(Kind::Workspace).len(), 1);
    let job = &small.snapshot.entries(Kind::ScheduledJob)[0];
    assert_eq!(
        job.key(Kind::ScheduledJob).unwrap(),
        "62cc00000000000000000001"
    );
    assert_eq!(job.id_str("projectId"), Some("5f1e2d3c4b5a697887766555"));
    assert_eq!(small.sha256.len(), 64);

    let other = read(&fixture("python-dmm-0.1-empty-kinds.json")).unwrap();
    assert_eq!(other.snapshot.len(), 1);
    let v = &other.snapshot.entries(Kind::ModelApiVersion)[0];
    assert_eq!(v.owner, "Zoë Krüger");
    assert_eq!(v.id_bool("isActive"), Some(true));
}

#[test]
fn writes_exactly_what_the_earlier_tool_writes() {
    // Both fixtures are in the byte layout of Python's json.dump, so a round trip is the identity.
    for name in [
        "python-dmm-0.1-small.json",
        "python-dmm-0.1-empty-kinds.json",
    ] {
        let path = fixture(name);
        let original = fs::read(&path).unwrap();
        let loaded = read(&path).unwrap();
        let written = loaded.snapshot.to_json();
        assert_eq!(
            String::from_utf8(written).unwrap(),
            String::from_utf8(original).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn rejects_bad_documents_with_a_reason() {
    let cases: &[(&str, &str)] = &[
        ("", "empty"),
        ("   \n", "empty"),
        ("{\"App\": [", "truncated"),
        ("not json", "not valid JSON"),
        ("[]", "top level"),
        ("{\"Jobs\": []}", "unknown key 'Jobs'"),
        ("{\"App\": {}}", "must be an array"),
        (
            "{\"App\": [{\"_id\": \"x\", \"name\": \"a\", \"owner\": \"o\"}]}",
            "_id must be an object",
        ),
        (
            "{\"App\": [{\"_id\": {\"_id\": 5}, \"name\": \"a\", \"owner\": \"o\"}]}",
            "non-empty string",
        ),
        (
            "{\"App\": [{\"_id\": {\"_id\": \"a\"}, \"name\": 3, \"owner\": \"o\"}]}",
            "entry 0",
        ),
        (
            "{\"App\": [{\"_id\": {\"_id\": \"a\"}, \"name\": \"n\", \"owner\": \"o\", \"x\": 1}]}",
            "unknown field",
        ),
        (
            "{\"App\": [{\"_id\": {\"_id\": \"a\"}, \"name\": \"n\", \"owner\": \"o\"}, {\"_id\": {\"_id\": \"a\"}, \"name\": \"n\", \"owner\": \"o\"}]}",
            "more than once",
        ),
        (
            "{\"Scheduled Job\": [{\"_id\": {\"_id\": \"a\"}, \"name\": \"n\", \"owner\": \"o\"}]}",
            "no 'key'",
        ),
    ];
    for (doc, expected) in cases {
        let err = Snapshot::from_json(doc.as_bytes()).unwrap_err();
        assert!(err.contains(expected), "{doc:?}: {err}");
    }
}

#[test]
fn missing_kinds_read_as_empty_and_are_written_back() {
    let s = Snapshot::from_json(b"{\"App\": []}").unwrap();
    assert!(s.is_empty());
    assert_eq!(
        String::from_utf8(s.to_json()).unwrap(),
        "{\"App\": [], \"Model API Version\": [], \"Workspace\": [], \"Scheduled Job\": []}"
    );
}

#[test]
fn write_new_is_private_atomic_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snap.json");
    let loaded = read(&fixture("python-dmm-0.1-small.json")).unwrap();
    let sha = write_new(&path, &loaded.snapshot).unwrap();
    assert_eq!(sha, loaded.sha256);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let err = write_new(&path, &Snapshot::new()).unwrap_err();
    assert!(matches!(err, SnapshotError::Exists { .. }), "{err}");
    assert_eq!(read(&path).unwrap().sha256, sha);
    // No temporary file is left behind.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn write_new_into_a_missing_folder_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let err = write_new(&dir.path().join("nope/snap.json"), &Snapshot::new()).unwrap_err();
    assert!(err.to_string().contains("folder does not exist"), "{err}");
}
