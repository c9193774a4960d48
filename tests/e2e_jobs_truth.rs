//! Say only what happened about Jobs: a restart that never ran is not reported as done, a
//! user's restart during the window is neither repeated nor taken for dmm's, two restarts of
//! one command whose answers are lost both resolve, and `dmm status` during a run says that a
//! run is in progress. Every test ends with the simulator's check that nothing ran twice.

mod common;

use std::time::Duration;

use common::*;
use dmm::journal::{Operation, StepNote, StepPhase};
use domino_sim::Kind;
use domino_sim::{FaultsPatch, RefuseRule};

fn shut_down_one_job(env: &Env, command: &str) -> String {
    let project = env.sim.add_empty_project("etl");
    let job = env.sim.add_job(&project, command).unwrap();
    env.take_snapshot();
    let out = env.run_op("shutdown", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    job
}

/// Stops and starts are done at once, their answers held back this long (0: not held).
fn hold_answers(env: &Env, ms: u64) {
    env.sim
        .set_faults(FaultsPatch {
            answer_delay_ms: Some(ms),
            ..FaultsPatch::default()
        })
        .unwrap();
}

fn status_json(env: &Env) -> serde_json::Value {
    let out = env.run(&[
        "status",
        env.snapshot().to_str().unwrap(),
        "--journal",
        env.journal().to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every restart refused (503): the step fails, nothing ran, and no frontend says restarted.
#[test]
fn a_restart_that_never_ran_is_not_reported_as_done() {
    let env = Env::small();
    let job = shut_down_one_job(&env, "python etl.py");
    refuse(&env, "POST /v4/jobs/restart", None, 503, None);
    let hook = common::webhook::receiver();
    let metrics = env.path("dmm.prom");
    let out = env.run_op(
        "restore",
        &[
            "--restart-jobs",
            "-m",
            "2",
            "--notify-url",
            &hook.url,
            "--metrics-file",
            metrics.to_str().unwrap(),
        ],
    );
    let said = text(&out);
    assert_eq!(code(&out), 1, "{said}");
    assert_eq!(env.sim.restarts_of(&job), 0);
    // The webhook's final notice and the metrics: the same account.
    let ended = hook
        .bodies
        .lock()
        .unwrap()
        .iter()
        .find(|b| b["event"] == "ended")
        .cloned()
        .expect("an ended notice");
    assert_eq!(ended["jobs"]["restarted"], 0, "{ended}");
    assert_eq!(ended["jobs"]["restart_failed"], 1, "{ended}");
    assert!(
        ended["text"]
            .as_str()
            .unwrap()
            .contains("Jobs: 1 whose restart FAILED (not restarted)"),
        "{ended}"
    );
    let exported = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        exported.contains(r#"dmm_jobs{operation="restore",outcome="restart_failed"} 1"#)
            && exported.contains(r#"dmm_jobs{operation="restore",outcome="restarted"} 0"#),
        "{exported}"
    );
    assert!(
        said.contains("Jobs: 1 whose restart FAILED (not restarted)"),
        "{said}"
    );
    assert!(!said.contains("1 restarted"), "a false restart: {said}");

    let status = status_json(&env);
    assert_eq!(status["jobs"]["restarted"], 0, "{status}");
    assert_eq!(status["jobs"]["restart_failed"], 1, "{status}");
    let out = env.run(&[
        "status",
        env.snapshot().to_str().unwrap(),
        "--journal",
        env.journal().to_str().unwrap(),
    ]);
    assert!(
        text(&out).contains("Jobs: 1 whose restart FAILED (not restarted)"),
        "{}",
        text(&out)
    );
    let page = env.markdown_report();
    assert!(page.contains("restart failed"), "{page}");
    // The verdict comes first, and names what did not come back.
    let verdict = page
        .lines()
        .position(|l| l.starts_with("**Verdict: The restore ended with 1 failed step(s).**"))
        .unwrap_or_else(|| panic!("no verdict: {page}"));
    assert!(verdict < 10, "{page}");
    assert!(
        page.lines()
            .skip(verdict)
            .take(6)
            .any(|l| l.contains("1 step(s) failed: Job ")),
        "{page}"
    );
    assert!(!page.contains("| restarted |"), "{page}");
}

/// A user restarted the Job from the UI after the shutdown stopped it: the restore finds that
/// restart before sending its own, records it as someone else's, and sends nothing.
#[test]
fn a_job_a_user_restarted_during_the_window_is_not_restarted_again() {
    let env = Env::small();
    let job = shut_down_one_job(&env, "python etl.py");
    let theirs = env.sim.restart_job_by_user(&job, false).unwrap();
    let out = env.run_op("restore", &["--restart-jobs"]);
    let said = text(&out);
    assert_eq!(code(&out), 0, "{said}");
    assert_eq!(env.sim.restarts_of(&job), 1, "it ran twice: {said}");
    let step = step_of(&env, Operation::Restore, &job);
    assert!(matches!(step.phase, StepPhase::Skipped(_)), "{step:?}");
    assert_eq!(step.effect.as_deref(), Some(theirs.as_str()));
    assert!(
        matches!(&step.note, Some(StepNote::RestartedByOther { by }) if by == "someone-else"),
        "{step:?}"
    );
    assert!(
        said.contains("1 run again by someone else since the stop"),
        "{said}"
    );
    assert_eq!(status_json(&env)["jobs"]["restarted_by_others"], 1);
}

/// The same user restart, made with the same identity dmm acts as (a shared admin key), and
/// dmm's first restart refused: the user's earlier job is never recorded as dmm's effect.
#[test]
fn a_users_earlier_restart_is_never_taken_for_dmms() {
    let env = Env::small();
    let job = shut_down_one_job(&env, "python etl.py");
    env.sim.restart_job_by_user(&job, true).unwrap();
    // A second apart, so that the server's stamp is surely before dmm's attempt.
    std::thread::sleep(Duration::from_millis(1_100));
    refuse(&env, "POST /v4/jobs/restart", Some(&job), 503, Some(1));
    let out = env.run_op("restore", &["--restart-jobs"]);
    let said = text(&out);
    assert_eq!(code(&out), 0, "{said}");
    assert_eq!(env.sim.restarts_of(&job), 1, "it ran twice: {said}");
    assert_eq!(
        env.events_saying(Some(Operation::Restore), "already ran"),
        0,
        "a user's job recorded as the effect of dmm's attempt"
    );
    let step = step_of(&env, Operation::Restore, &job);
    assert!(
        matches!(step.note, Some(StepNote::RestartedByOther { .. })),
        "{step:?}"
    );
}

/// Two Jobs of one project run the same command; both restarts reach Domino and both answers
/// are lost (a gateway's 504 after the backend did it). Each step keeps its turn until its
/// effect is found, so both resolve: each Job restarted once, nothing left Failed.
#[test]
fn two_restarts_of_one_command_whose_answers_are_lost_both_resolve() {
    let env = Env::small();
    let project = env.sim.add_empty_project("nightly");
    let a = env.sim.add_job(&project, "python nightly.py").unwrap();
    let b = env.sim.add_job(&project, "python nightly.py").unwrap();
    env.take_snapshot();
    let out = env.run_op("shutdown", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    env.sim
        .set_faults(FaultsPatch {
            refuse: Some(vec![RefuseRule {
                route: "POST /v4/jobs/restart".into(),
                execution_id: None,
                status: 504,
                times: Some(2),
                after_applying: true,
                retry_after: None,
            }]),
            ..FaultsPatch::default()
        })
        .unwrap();
    let out = env.run_op("restore", &["--restart-jobs"]);
    let said = text(&out);
    assert_eq!(code(&out), 0, "{said}");
    assert_eq!((env.sim.restarts_of(&a), env.sim.restarts_of(&b)), (1, 1));
    let (sa, sb) = (
        step_of(&env, Operation::Restore, &a),
        step_of(&env, Operation::Restore, &b),
    );
    assert_eq!(
        (&sa.phase, &sb.phase),
        (&StepPhase::Confirmed, &StepPhase::Confirmed)
    );
    assert_ne!(sa.effect, sb.effect, "one new job credited to both");
    assert!(said.contains("Jobs: 2 restarted"), "{said}");
}

/// While a run holds the journal, `dmm status` says a run is in progress, by which process,
/// and to wait: not "still running, or killed" with a command that would exit 4.
#[test]
fn status_during_a_run_names_the_run_in_progress() {
    let env = Env::small();
    let project = env.sim.add_empty_project("etl");
    let job = env.sim.add_job(&project, "python etl.py").unwrap();
    env.take_snapshot();
    // The Job's stops are refused: the run stays at it for a while.
    refuse(&env, "POST /v4/jobs/stop", Some(&job), 503, None);
    let mut child = env.spawn_op("shutdown", &[]);
    let pid = child.id();
    wait_for(Duration::from_secs(60), "a refused stop", || {
        env.sim
            .requests()
            .mutations_of(Kind::Job, &job)
            .any(|m| m.status == Some(503))
    });
    let out = env.run(&[
        "status",
        env.snapshot().to_str().unwrap(),
        "--journal",
        env.journal().to_str().unwrap(),
    ]);
    let said = text(&out);
    signal(&child, libc::SIGTERM);
    refuse_nothing(&env);
    let _ = child_output(&mut child, Duration::from_secs(60));
    assert!(!said.contains("still running, or killed"), "{said}");
    assert!(
        said.contains("in progress: shutdown run 1 since")
            && said.contains(&format!("process {pid} on")),
        "{said}"
    );
    assert!(
        said.contains("next: wait for the run in progress"),
        "{said}"
    );
}

/// Two Jobs of one project run the same command, shut down together; `alike`: under one title
/// too (a nightly and its manual re-run), so that nothing Domino shows tells their runs apart.
fn shut_down_two_jobs_of_one_command(env: &Env, alike: bool) -> (String, String) {
    let project = env.sim.add_empty_project("train");
    let a = env.sim.add_job(&project, "python train.py").unwrap();
    let b = env.sim.add_job(&project, "python train.py").unwrap();
    if alike {
        env.sim.retitle_job(&a, "nightly training").unwrap();
        env.sim.retitle_job(&b, "nightly training").unwrap();
    }
    env.take_snapshot();
    let out = env.run_op("shutdown", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    (a, b)
}

fn assert_cannot_be_told(env: &Env, jobs: &[&str], said: &str) {
    for job in jobs {
        let step = step_of(env, Operation::Restore, job);
        assert!(
            matches!(step.phase, StepPhase::Failed(_))
                && step.note == Some(StepNote::Undecidable)
                && step.effect.is_none(),
            "{step:?}\n{said}"
        );
    }
    assert!(
        said.contains(&format!("{} whose restart cannot be told", jobs.len())),
        "{said}"
    );
    let next = said.lines().find(|l| l.starts_with("next:")).unwrap_or("");
    assert!(
        next.contains("look at") && !next.contains("--retry-failed"),
        "{said}"
    );
}

/// A user restarted the second of two Jobs of one command and title from the UI: its job looks
/// exactly like a restart of the first. Neither step takes it for its own and neither sends:
/// sending the first's would leave the second never restarted, sending the second's would run
/// it twice. Both say that a person must look. The same with the user acting as dmm's identity.
#[test]
fn a_users_restart_of_one_of_two_jobs_alike_is_credited_to_neither() {
    for as_key_owner in [false, true] {
        let env = Env::small();
        let (a, b) = shut_down_two_jobs_of_one_command(&env, true);
        env.sim.restart_job_by_user(&b, as_key_owner).unwrap();
        let out = env.run_op("restore", &["--restart-jobs"]);
        let said = text(&out);
        assert_eq!(code(&out), 1, "{said}");
        assert_eq!(
            (env.sim.restarts_of(&a), env.sim.restarts_of(&b)),
            (0, 1),
            "as the key's owner: {as_key_owner}\n{said}"
        );
        assert!(!said.contains("by someone else"), "{said}");
        assert_cannot_be_told(&env, &[&a, &b], &said);

        // An operator who retries anyway: nothing was sent, so there is no effect of dmm's to
        // find; the look before sending is made again, and cannot tell again.
        let out = env.run_op("restore", &["--restart-jobs", "--retry-failed"]);
        let said = text(&out);
        assert_eq!(code(&out), 1, "{said}");
        assert_eq!(
            (env.sim.restarts_of(&a), env.sim.restarts_of(&b)),
            (0, 1),
            "as the key's owner: {as_key_owner}\n{said}"
        );
        assert!(!said.contains("already ran"), "{said}");
        assert_cannot_be_told(&env, &[&a, &b], &said);
    }
}

/// The key's owner restarts the second Job of a command while dmm's restart of the first is
/// on its way: the second cannot be told, and the verification does not call its one run a
/// second one.
#[test]
fn a_run_that_cannot_be_told_is_not_called_a_second_run() {
    let env = Env::small();
    let (a, b) = shut_down_two_jobs_of_one_command(&env, true);
    hold_answers(&env, 3_000);
    let mut child = env.spawn_op("restore", &["--restart-jobs"]);
    wait_for(Duration::from_secs(60), "a restart done", || {
        env.sim.restarts_of(&a) + env.sim.restarts_of(&b) == 1
    });
    let other = if env.sim.restarts_of(&a) == 1 { &b } else { &a };
    env.sim.restart_job_by_user(other, true).unwrap();
    let out = child_output(&mut child, Duration::from_secs(120));
    let said = text(&out);
    assert_eq!(code(&out), 1, "{said}");
    assert_eq!(
        (env.sim.restarts_of(&a), env.sim.restarts_of(&b)),
        (1, 1),
        "{said}"
    );
    assert!(!said.contains("ran more than once"), "{said}");
    assert!(said.contains("verification: passed"), "{said}");
    assert_cannot_be_told(&env, &[other], &said);
}

/// Titles tell two Jobs of one command apart (a restart keeps its original's title): a user's
/// restart of the second, even done twice, is the second's; the first is restarted by dmm.
#[test]
fn a_users_restarts_of_one_of_two_titled_jobs_are_credited_to_that_one() {
    let env = Env::small();
    let (a, b) = shut_down_two_jobs_of_one_command(&env, false);
    let theirs = env.sim.restart_job_by_user(&b, false).unwrap();
    let out = env.run_op("restore", &["--restart-jobs"]);
    let said = text(&out);
    assert_eq!(code(&out), 0, "{said}");
    assert_eq!(
        (env.sim.restarts_of(&a), env.sim.restarts_of(&b)),
        (1, 1),
        "{said}"
    );
    let step = step_of(&env, Operation::Restore, &b);
    assert_eq!(step.effect.as_deref(), Some(theirs.as_str()), "{step:?}");
    assert!(
        said.contains("Jobs: 1 restarted; 1 run again by someone else since the stop"),
        "{said}"
    );

    // A user running A twice (a double click) before the restore: both are A's; B is sent.
    let env = Env::small();
    let (a, b) = shut_down_two_jobs_of_one_command(&env, false);
    env.sim.restart_job_by_user(&a, false).unwrap();
    env.sim.restart_job_by_user(&a, false).unwrap();
    let out = env.run_op("restore", &["--restart-jobs"]);
    let said = text(&out);
    assert_eq!(code(&out), 0, "{said}");
    assert_eq!(env.sim.restarts_of(&b), 1, "B never restarted: {said}");
    assert_eq!(env.sim.restarts_of(&a), 2, "the user's two: {said}");
}

/// One Job's restart was refused until the run ended; then a user ran the other Job of that
/// command and title again. The retry cannot tell whose run that is: it sends nothing.
#[test]
fn a_retry_does_not_take_another_jobs_second_run_for_its_restart() {
    let env = Env::small();
    let (a, b) = shut_down_two_jobs_of_one_command(&env, true);
    refuse(&env, "POST /v4/jobs/restart", Some(&b), 500, None);
    let out = env.run_op("restore", &["--restart-jobs", "-m", "1"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert_eq!((env.sim.restarts_of(&a), env.sim.restarts_of(&b)), (1, 0));
    refuse_nothing(&env);
    env.sim.restart_job_by_user(&a, false).unwrap();
    let out = env.run_op("restore", &["--restart-jobs", "--retry-failed"]);
    let said = text(&out);
    assert_eq!(code(&out), 1, "{said}");
    assert_eq!(env.sim.restarts_of(&b), 0, "{said}");
    assert!(!said.contains("by someone else"), "{said}");
    assert_cannot_be_told(&env, &[&b], &said);
}

/// dmm is killed while its first restart of a command is done but unanswered; meanwhile the
/// key's owner restarts the other Job of that command from the UI. The resumed run cannot
/// tell which job is whose: it sends neither, and says so for both.
#[test]
fn a_restart_whose_outcome_is_unknown_stops_the_other_jobs_restart_of_that_command() {
    let env = Env::small();
    let (a, b) = shut_down_two_jobs_of_one_command(&env, true);
    hold_answers(&env, 30_000);
    let mut child = env.spawn_op("restore", &["--restart-jobs"]);
    wait_for(Duration::from_secs(60), "a restart done", || {
        env.sim.restarts_of(&a) + env.sim.restarts_of(&b) == 1
    });
    signal(&child, libc::SIGKILL);
    let _ = child_output(&mut child, Duration::from_secs(30));
    let (first, other) = if env.sim.restarts_of(&a) == 1 {
        (a, b)
    } else {
        (b, a)
    };
    env.sim.restart_job_by_user(&other, true).unwrap();
    hold_answers(&env, 0);
    let out = env.run_op("restore", &["--restart-jobs"]);
    let said = text(&out);
    assert_eq!(code(&out), 1, "{said}");
    assert_eq!(
        (env.sim.restarts_of(&first), env.sim.restarts_of(&other)),
        (1, 1),
        "{said}"
    );
    assert_cannot_be_told(&env, &[&first, &other], &said);
}

/// The backend that stamps jobs runs 2 s behind the gateway whose `Date` headers the client
/// measures: a restart whose answer was lost shows a job stamped before the attempt. It is not
/// taken for proof that the restart did not run: nothing is sent again.
#[test]
fn a_lost_restart_answer_under_a_skewed_stamp_clock_is_never_sent_again() {
    let env = Env::small();
    let job = shut_down_one_job(&env, "python etl.py");
    env.sim
        .set_faults(FaultsPatch {
            stamp_skew_ms: Some(-2_000),
            refuse: Some(vec![RefuseRule {
                route: "POST /v4/jobs/restart".into(),
                execution_id: None,
                status: 504,
                times: Some(1),
                after_applying: true,
                retry_after: None,
            }]),
            ..FaultsPatch::default()
        })
        .unwrap();
    let out = env.run_op("restore", &["--restart-jobs"]);
    let said = text(&out);
    assert_eq!(env.sim.restarts_of(&job), 1, "it ran twice: {said}");
    assert!(!said.contains("Jobs: 1 restarted"), "{said}");
    assert_cannot_be_told(&env, &[&job], &said);
}

/// A restore without --restart-jobs: the report's Jobs line says what `status` and the
/// summary say, that the Jobs were left stopped.
#[test]
fn the_reports_jobs_line_after_a_restore_without_restart_jobs_says_left_stopped() {
    let env = Env::small();
    shut_down_one_job(&env, "python etl.py");
    let out = env.run_op("restore", &[]);
    let said = text(&out);
    assert_eq!(code(&out), 0, "{said}");
    let line = "Jobs: 1 stopped by the shutdown and left stopped";
    assert!(said.contains(line), "{said}");
    let page = env.markdown_report();
    assert!(page.contains(line), "{page}");
}

/// A second job of a command dmm restarted appears by dmm's own identity after its restart (a
/// copy of the request that landed late, or someone using the same key): nothing in the steps
/// notices, so the restore's verification does. It fails, and `next:` says to look.
#[test]
fn a_job_run_twice_after_its_restart_fails_the_verification() {
    let env = Env::small();
    let job = shut_down_one_job(&env, "python etl.py");
    hold_answers(&env, 3_000);
    let mut child = env.spawn_op("restore", &["--restart-jobs"]);
    wait_for(Duration::from_secs(60), "dmm's restart done", || {
        env.sim.restarts_of(&job) == 1
    });
    let copy = env.sim.restart_job_by_user(&job, true).unwrap();
    let out = child_output(&mut child, Duration::from_secs(120));
    let said = text(&out);
    assert_eq!(code(&out), 1, "{said}");
    assert_eq!(env.sim.restarts_of(&job), 2);
    assert!(said.contains("Jobs: 1 restarted"), "{said}");
    assert!(said.contains("verification: FAILED"), "{said}");
    assert!(said.contains("ran more than once"), "{said}");
    assert!(said.contains(&copy), "the extra job is named: {said}");
    let next = said.lines().find(|l| l.starts_with("next:")).unwrap_or("");
    assert!(next.contains("look at the last verification"), "{said}");

    // The operator stops the copy: the same command then verifies clean.
    env.sim.stop_behind_back(Kind::Job, &copy).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let out = env.run_op("restore", &["--restart-jobs"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(env.sim.restarts_of(&job), 2, "nothing sent again");
}

/// After the stop a user ran a job of the same command under another title (an old job run
/// again, or the Job's restart retitled): it is not known to be the Job's run. Neither taken
/// for it (the Job might never run again) nor ignored (it might run twice): a person looks.
#[test]
fn a_job_of_the_command_under_another_title_is_not_taken_for_the_jobs_run() {
    let env = Env::small();
    let job = shut_down_one_job(&env, "python etl.py");
    let project = step_of(&env, Operation::Shutdown, &job).detail.unwrap()["projectId"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = env.sim.add_job(&project, "python etl.py").unwrap();
    env.sim
        .retitle_job(&other, "etl, run again by hand")
        .unwrap();
    let out = env.run_op("restore", &["--restart-jobs"]);
    let said = text(&out);
    assert_eq!(code(&out), 1, "{said}");
    assert_eq!(env.sim.restarts_of(&job), 0, "{said}");
    assert!(!said.contains("by someone else"), "{said}");
    assert!(said.contains("titled otherwise than this Job"), "{said}");
    assert_cannot_be_told(&env, &[&job], &said);
}

/// A user stopped and restarted a Job while dmm's stop of it was on its way; the shutdown's
/// verification then swept that new run and stopped it too. The restore restarts the command
/// once: the swept run is the Job's run since its stop, not a second Job to restart beside it.
#[test]
fn a_users_restart_swept_by_the_shutdown_is_restarted_once_not_twice() {
    let env = Env::small();
    let project = env.sim.add_empty_project("etl");
    let job = env.sim.add_job(&project, "python etl.py").unwrap();
    env.take_snapshot();
    hold_answers(&env, 4_000);
    let mut child = env.spawn_op("shutdown", &[]);
    wait_for(Duration::from_secs(60), "the Job stopped", || {
        !env.sim.running_ids(Kind::Job).contains(&job)
    });
    let theirs = env.sim.restart_job_by_user(&job, false).unwrap();
    let out = child_output(&mut child, Duration::from_secs(120));
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        !env.sim.running_ids(Kind::Job).contains(&theirs),
        "the sweep stops the user's run: {}",
        text(&out)
    );
    refuse_nothing(&env);
    hold_answers(&env, 0);
    let out = env.run_op("restore", &["--restart-jobs"]);
    let said = text(&out);
    assert_eq!(code(&out), 0, "{said}");
    assert_eq!(
        (env.sim.restarts_of(&job), env.sim.restarts_of(&theirs)),
        (1, 1),
        "the command runs once again, as the user's run's restart: {said}"
    );
    assert_eq!(env.sim.running_ids(Kind::Job).len(), 1, "{said}");
}
