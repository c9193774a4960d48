//! What the operator reads during a maintenance night: a restore that leaves the Jobs the
//! shutdown stopped says so (summary, `next:`, `status`), and the default output of `restore`
//! and `verify` stays one screen however many executions the deployment has.

mod common;

use common::*;
use dmm::journal::Operation;
use dmm::runner::JobsOfShutdown;
use domino_sim::GenerateSpec;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_restore_without_restart_jobs_tells_how_many_jobs_stay_stopped() {
    let env = Env::new(config(GenerateSpec {
        jobs: 12,
        ..small_spec()
    }));
    env.take_snapshot();
    let out = env.run_op("shutdown", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let mut steps = env.steps(Operation::Shutdown);
    steps.extend(env.steps(Operation::Restore));
    let jobs = JobsOfShutdown::of(&steps, 1);
    assert!(jobs.stopped > 0, "the shutdown stopped some Jobs: {jobs:?}");
    let found = env
        .steps(Operation::Shutdown)
        .iter()
        .filter(|s| s.key.kind == dmm::snapshot::Kind::Job)
        .count();

    // The plan's title says when and in which order the kinds run; every table lists them in
    // the snapshot's order; the run says when it began and ended; the verification's count
    // says where the Jobs in it come from.
    let printed = stdout(&out);
    let lines: Vec<&str> = printed.lines().collect();
    let title = lines
        .iter()
        .position(|l| {
            l.starts_with("shutdown plan at ")
                && l.contains(" UTC (kinds run in this order: Scheduled Job, App")
        })
        .unwrap_or_else(|| panic!("a titled plan: {printed}"));
    assert!(lines[title + 1].contains(" accepted "), "{printed}");
    let kinds_of = |from: usize| -> Vec<&str> {
        lines[from..]
            .iter()
            .skip(1)
            .take_while(|l| l.starts_with(|c: char| c.is_ascii_uppercase()) && l.contains("  "))
            .map(|l| l.split("  ").next().unwrap())
            .collect()
    };
    let summary = lines
        .iter()
        .position(|l| l.starts_with("shutdown run 1 ended: ") && l.contains(" UTC, took "))
        .unwrap_or_else(|| panic!("when the run began and ended: {printed}"));
    assert_eq!(kinds_of(title + 1), kinds_of(summary + 1), "{printed}");
    assert!(
        printed.contains(&format!(
            "of the snapshot's executions and {found} Job(s) found running, which the snapshot does not hold)"
        )),
        "{printed}"
    );
    let head = lines
        .iter()
        .find(|l| l.starts_with("journal head: "))
        .unwrap();
    assert_eq!(
        head.matches(&head["journal head: ".len()..][..20]).count(),
        1,
        "the hash once: {head}"
    );

    let out = env.run_op("restore", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let printed = stdout(&out);
    assert!(
        printed.contains(&format!(
            "{} stopped by the shutdown stay stopped: add --restart-jobs",
            jobs.stopped
        )),
        "the plan before the prompt: {printed}"
    );
    let told = format!(
        "{} stopped by the shutdown and left stopped (restore --restart-jobs restarts them)",
        jobs.stopped
    );
    assert!(printed.contains(&told), "summary: {printed}");
    let next = printed
        .lines()
        .find(|l| l.starts_with("next: "))
        .expect("a next line");
    assert!(
        next.contains(&format!(
            "the {} Job(s) the shutdown stopped stay stopped",
            jobs.stopped
        )) && next.contains("--restart-jobs")
            && !next.contains("the maintenance is over"),
        "{next}"
    );

    let status = env.run(&["status", env.snapshot().to_str().unwrap()]);
    let status = stdout(&status);
    assert!(
        status.contains(&format!(
            "{} stopped by the shutdown and left stopped",
            jobs.stopped
        )),
        "{status}"
    );
    assert!(status.contains("--restart-jobs"), "{status}");

    // The choice made: restarted, and then the maintenance is over.
    let out = env.run_op("restore", &["--restart-jobs"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let printed = stdout(&out);
    assert!(
        printed.contains(&format!("Jobs: {} restarted", jobs.stopped)),
        "{printed}"
    );
    assert!(
        printed.contains("next: nothing: the maintenance is over")
            && printed.contains("owners to tell")
            && printed.contains("dmm report "),
        "{printed}"
    );
}

/// About 10,000 executions in the simulator (about 6,000 running when the snapshot is taken,
/// 2,600 of them Workspaces a restore leaves to their users): `restore` and `verify` print a
/// summary per kind, not a line per execution.
#[test]
fn restore_and_verify_fit_one_screen_at_ten_thousand_executions() {
    let env = Env::new(
        config(GenerateSpec {
            projects: 200,
            apps: 2000,
            models: 1000,
            versions_per_model: 2,
            workspaces: 4000,
            scheduled_jobs: 1000,
            jobs: 1000,
            rollout_in_progress: false,
        })
        .transition(20, 10),
    );
    env.take_snapshot();
    let fast: [&str; 0] = [];
    let out = env.run_op("shutdown", &fast);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let out = env.run_op("restore", &fast);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let all = text(&out);
    // Without a terminal the stages and a heartbeat are logged: a few lines, not one per step.
    let progress = all.lines().filter(|l| l.contains(" INFO ")).count();
    assert!(progress <= 60, "{progress} progress lines:\n{all}");
    let lines = all.lines().count() - progress;
    assert!(lines <= 40, "restore printed {lines} lines:\n{all}");
    assert!(
        all.contains("Workspaces: restart manually"),
        "the skipped Workspaces are counted: {all}"
    );

    let out = env.run(&[
        "verify",
        env.snapshot().to_str().unwrap(),
        "--expect",
        "running",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let lines = text(&out).lines().count();
    assert!(lines <= 15, "verify printed {lines} lines:\n{}", text(&out));

    // Every one of them is still there with -v.
    let out = env.run(&[
        "verify",
        env.snapshot().to_str().unwrap(),
        "--expect",
        "running",
        "-v",
    ]);
    let listed = stdout(&out)
        .lines()
        .filter(|l| l.trim_start().starts_with("skipped ") && l.contains("Workspace '"))
        .count();
    assert!(listed > 1000, "{listed} skipped Workspaces listed with -v");
}

/// The words of a night: the dry run says what is done to each kind and what to run next, the
/// status counts its runs, an empty `journal --failed` says so, and a Job's events carry its
/// project and number.
#[test]
fn the_dry_run_status_and_journal_say_what_they_mean() {
    let env = Env::new(config(GenerateSpec {
        jobs: 6,
        ..small_spec()
    }));
    env.take_snapshot();
    let snap = env.snapshot();
    let snap = snap.to_str().unwrap();

    let dry = env.run_op("shutdown", &["--dry-run"]);
    assert_eq!(code(&dry), 0, "{}", text(&dry));
    let dry = stdout(&dry);
    assert!(dry.contains("    pause Scheduled Job '"), "{dry}");
    assert!(!dry.contains("stop Scheduled Job"), "{dry}");
    assert!(dry.lines().any(|l| l.starts_with("total: ")), "{dry}");
    assert!(
        dry.lines()
            .any(|l| l.starts_with("next: ") && l.contains("dmm shutdown") && l.contains("--yes")),
        "{dry}"
    );

    let out = env.run_op("shutdown", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let status = stdout(&env.run(&["status", snap]));
    assert!(status.contains("(1 run)"), "{status}");
    assert!(status.contains(": ended ("), "{status}");

    let failed = env.run(&["journal", snap, "--failed"]);
    assert!(stdout(&failed).is_empty(), "{}", text(&failed));
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("no step is failed now"),
        "{}",
        text(&failed)
    );

    let jobs = stdout(&env.run(&["journal", snap, "--kind", "job"]));
    assert!(
        !jobs.is_empty()
            && jobs
                .lines()
                .all(|l| l.contains("[project ") && l.contains(", #")),
        "{jobs}"
    );
    let json = stdout(&env.run(&["journal", snap, "--kind", "job", "--json"]));
    assert!(!json.is_empty());
    for line in json.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            v["job"]["project_id"].is_string() && !v["job"]["number"].is_null(),
            "{line}"
        );
    }
}

/// A refused key makes `/version` answer 401 too: that line is not marked ✓.
#[test]
fn preflight_does_not_tick_a_refused_version_request() {
    let env = Env::small();
    let out = env
        .dmm()
        .env("DOMINO_API_KEY", "not-the-key")
        .arg("preflight")
        .output()
        .unwrap();
    let printed = stdout(&out);
    let version = printed
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("version"))
        .unwrap_or_else(|| panic!("a version line: {printed}"));
    assert!(!version.starts_with('✓'), "{version}");
    assert_ne!(code(&out), 0, "{printed}");
}

/// A model mid-rollout is warned about once, in the snapshot's summary, not also as a log line.
#[test]
fn the_rollout_warning_is_printed_once() {
    let env = Env::new(config(GenerateSpec {
        rollout_in_progress: true,
        ..small_spec()
    }));
    let out = env.run(&["snapshot", env.snapshot().to_str().unwrap()]);
    let all = text(&out);
    assert_eq!(all.matches("mid-rollout").count(), 1, "{all}");
    assert!(stdout(&out).contains("warning: "), "{all}");
}
