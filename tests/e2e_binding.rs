//! A journal and a snapshot that do not match: the refusal says which of the two is not the one
//! the other was made with, and how to tell.

mod common;

use common::*;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Two snapshots of one deployment, A (`snap.json`) and B (`other.json`), each with its journal
/// beside it; B is taken after a shutdown of A's scheduled jobs, so the two differ.
fn two_snapshots(env: &Env) -> std::path::PathBuf {
    env.take_snapshot();
    let out = env.run_op("shutdown", &["-s", "scheduled-job"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let b = env.path("other.json");
    let out = env.run(&["snapshot", b.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_ne!(
        std::fs::read(env.snapshot()).unwrap(),
        std::fs::read(&b).unwrap()
    );
    b
}

fn sha256_of(path: &std::path::Path) -> String {
    dmm::snapshot::read(path).unwrap().sha256
}

#[test]
fn a_journal_swapped_for_another_snapshots_journal_is_named_as_the_one_that_does_not_belong() {
    let env = Env::small();
    let b = two_snapshots(&env);
    let a_journal = std::fs::read(env.journal()).unwrap();
    let b_journal = env.path("other.json.journal");
    std::fs::copy(&b_journal, env.journal()).unwrap();
    let (sha_a, sha_b) = (sha256_of(&env.snapshot()), sha256_of(&b));
    let snap = env.snapshot();
    let journal = env.journal().display().to_string();

    // B is still where its journal says: the journal at A's path is B's.
    for args in [
        vec!["status", snap.to_str().unwrap()],
        env.op_args("shutdown", &[])
            .iter()
            .map(String::as_str)
            .collect(),
    ] {
        let out = env.run(&args);
        assert_eq!(code(&out), 2, "{args:?}: {}", text(&out));
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(!err.contains("changed since"), "{err}");
        assert!(!err.contains("put the snapshot back"), "{err}");
        assert!(
            err.contains(&format!(
                "journal {journal} does not belong to snapshot {}",
                snap.display()
            )),
            "{err}"
        );
        assert!(
            err.contains(&format!("made for {} (sha256 {sha_b})", b.display())),
            "{err}"
        );
        assert!(err.contains("which still has that sha256"), "{err}");
    }

    // With B gone, the times tell: A was not written since that journal was created.
    std::fs::rename(&b, env.path("elsewhere.json")).unwrap();
    let out = env.run(&["status", snap.to_str().unwrap()]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "journal {journal} does not belong to snapshot {}",
            snap.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("was not written since that journal was created"),
        "{err}"
    );
    assert!(
        err.contains(&format!("`sha256sum {}` prints {sha_a}", snap.display())),
        "{err}"
    );

    // A's own journal back: it matches again.
    std::fs::write(env.journal(), &a_journal).unwrap();
    let out = env.run(&["status", snap.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", text(&out));
}

#[test]
fn a_snapshot_edited_after_its_journal_was_made_is_named_as_the_one_that_changed() {
    let env = Env::small();
    env.take_snapshot();
    let sha = sha256_of(&env.snapshot());
    let out = env.run_op("shutdown", &["-s", "scheduled-job"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    std::thread::sleep(std::time::Duration::from_millis(20));
    let snap = std::fs::read_to_string(env.snapshot()).unwrap();
    std::fs::write(
        env.snapshot(),
        snap.replacen("\"App\": [", "\"App\": [ ", 1),
    )
    .unwrap();
    let out = env.run(&["status", env.snapshot().to_str().unwrap()]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "snapshot {} changed since journal {} was made for it",
            env.snapshot().display(),
            env.journal().display()
        )),
        "{err}"
    );
    assert!(err.contains("put the snapshot back as it was"), "{err}");
    assert!(
        err.contains(&format!(
            "`sha256sum {}` must print {sha} again",
            env.snapshot().display()
        )),
        "{err}"
    );
}
