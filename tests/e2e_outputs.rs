//! `--metrics-file` is never the snapshot, the journal, or a file they are written through,
//! however the path is spelled: refused before anything is touched, in one line, exit 2.

mod common;

use std::path::PathBuf;

use common::*;

#[test]
fn a_metrics_file_that_is_the_snapshot_or_the_journal_is_refused_before_anything_is_touched() {
    let env = Env::small();
    env.take_snapshot();
    // A journal exists: a first run of one kind.
    let out = env.run_op("shutdown", &["-s", "App"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let other_journal = env.path("elsewhere.journal");
    let out = env.run_op(
        "shutdown",
        &["-s", "App", "--journal", other_journal.to_str().unwrap()],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));

    let sub = env.path("sub");
    std::fs::create_dir(&sub).unwrap();
    let to_snapshot = env.path("link-to-snapshot.prom");
    std::os::unix::fs::symlink(env.snapshot(), &to_snapshot).unwrap();
    let to_journal = env.path("link-to-journal.prom");
    std::os::unix::fs::symlink(env.journal(), &to_journal).unwrap();
    let cases: Vec<(PathBuf, Vec<&str>)> = vec![
        (env.snapshot(), vec![]),
        (env.journal(), vec![]),
        (sub.join("..").join("snap.json"), vec![]),
        (sub.join("../snap.json.journal"), vec![]),
        (to_snapshot, vec![]),
        (to_journal, vec![]),
        // The journal's creation temp beside it.
        (env.path(".snap.json.journal.4242.17.new"), vec![]),
        // An explicit --journal.
        (
            other_journal.clone(),
            vec!["--journal", other_journal.to_str().unwrap()],
        ),
    ];
    let files = [env.snapshot(), env.journal(), other_journal.clone()];
    let before: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let sent = env.sim.requests().mutations.len();
    let mut refused = 0;
    for (path, extra) in &cases {
        for op in ["shutdown", "restore"] {
            let mut args = vec!["--metrics-file", path.to_str().unwrap()];
            args.extend(extra);
            let out = env.run_op(op, &args);
            assert_eq!(
                code(&out),
                2,
                "{op} --metrics-file {}: {}",
                path.display(),
                text(&out)
            );
            let stderr = String::from_utf8_lossy(&out.stderr);
            let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
            assert_eq!(lines.len(), 1, "one line: {}", text(&out));
            assert!(lines[0].contains("--metrics-file"), "{}", lines[0]);
            refused += 1;
        }
    }
    let after: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert!(before == after, "the snapshot or a journal was changed");
    assert_eq!(env.sim.requests().mutations.len(), sent, "nothing was sent");
    assert!(!env.path(".snap.json.journal.4242.17.new").exists());
    eprintln!("{refused} runs refused, nothing touched");

    // A metrics file of its own is fine, and status still reads the snapshot and the journal.
    let prom = env.path("dmm.prom");
    let out = env.run_op("shutdown", &["--metrics-file", prom.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let out = env.run(&["status", env.snapshot().to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", text(&out));
}
