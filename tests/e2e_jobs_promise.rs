//! "Each Job at most once, and only those this shutdown stopped", tried the way a real
//! deployment tries it: two Jobs of one project that run the same command, a Job that ends by
//! itself while its stops are refused, a project deleted during the window, and a shutdown that
//! first leaves Jobs running and is then asked to stop them.

mod common;

use std::time::{Duration, Instant};

use common::*;
use dmm::journal::{Operation, StepPhase};
use domino_sim::FaultsPatch;
use domino_sim::Kind;

/// Two Jobs of one project run the same command; the first restart of A is refused (503, so
/// certainly not applied). B's restart, by the same identity with the same command, must never
/// be taken for A's: each is restarted exactly once.
#[test]
fn a_job_is_never_credited_with_another_jobs_restart() {
    let env = Env::small();
    let project = env.sim.add_empty_project("nightly");
    let a = env.sim.add_job(&project, "python nightly.py").unwrap();
    let b = env.sim.add_job(&project, "python nightly.py").unwrap();
    env.take_snapshot();
    let out = env.run_op("shutdown", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));

    refuse(&env, "POST /v4/jobs/restart", Some(&a), 503, Some(1));
    let out = env.run_op("restore", &["--restart-jobs"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(
        env.sim.restarts_of(&a),
        1,
        "A restarted once: {}",
        text(&out)
    );
    assert_eq!(env.sim.restarts_of(&b), 1, "B restarted once");
    let (sa, sb) = (
        step_of(&env, Operation::Restore, &a),
        step_of(&env, Operation::Restore, &b),
    );
    assert_eq!(sa.phase, StepPhase::Confirmed, "{sa:?}");
    assert_eq!(sb.phase, StepPhase::Confirmed, "{sb:?}");
    assert!(sa.effect.is_some() && sb.effect.is_some());
    assert_ne!(sa.effect, sb.effect, "one new job credited to both");
}

/// A Job whose stops are refused ends by itself (`Succeeded`): the shutdown records that it
/// ended on its own, and a restore with `--restart-jobs` does not run it again.
#[test]
fn a_job_that_ended_by_itself_while_its_stops_were_refused_is_not_restarted() {
    let env = Env::small();
    let project = env.sim.add_empty_project("etl");
    let job = env.sim.add_job(&project, "python etl.py").unwrap();
    let other = env.sim.add_job(&project, "python report.py").unwrap();
    env.take_snapshot();
    refuse(&env, "POST /v4/jobs/stop", Some(&job), 503, None);
    let mut child = env.spawn_op("shutdown", &[]);
    let refused_stops = || {
        env.sim
            .requests()
            .mutations_of(Kind::Job, &job)
            .filter(|m| m.status == Some(503))
            .count()
    };
    wait_for(Duration::from_secs(60), "two refused stops", || {
        refused_stops() >= 2
    });
    env.sim.finish_job(&job).unwrap();
    refuse_nothing(&env);
    let out = child_output(&mut child, Duration::from_secs(120));
    assert_eq!(code(&out), 0, "{}", text(&out));
    // Not a stop dmm confirmed: a row and a count of its own.
    let said = text(&out);
    assert!(
        said.contains(
            "Jobs: 1 stopped by this shutdown; 1 ended on their own during the shutdown, not by dmm"
        ),
        "{said}"
    );
    assert!(
        said.lines()
            .any(|l| l.split_whitespace().eq(["ended", "by", "itself", "1"])),
        "{said}"
    );
    let step = step_of(&env, Operation::Shutdown, &job);
    assert_eq!(step.phase, StepPhase::Confirmed, "{step:?}");
    assert!(step.attempts >= 1);
    let end = step.ended.clone().expect("how it ended is recorded");
    assert_eq!((end.word.as_str(), end.by_this_stop), ("Succeeded", false));
    let stopped = step_of(&env, Operation::Shutdown, &other);
    let end = stopped.ended.clone().expect("how it ended is recorded");
    assert_eq!((end.word.as_str(), end.by_this_stop), ("Stopped", true));

    let out = env.run_op("restore", &["--restart-jobs"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(
        env.sim.restarts_of(&job),
        0,
        "a job that ended by itself ran again"
    );
    assert_eq!(env.sim.restarts_of(&other), 1, "the job dmm stopped");
    let said = text(&out);
    assert!(
        said.contains("Jobs: 1 restarted; 1 ended on their own"),
        "{said}"
    );
    let page = env.markdown_report();
    assert!(
        page.contains("| ended by itself (Succeeded), not by dmm |")
            && page
                .contains("| not restarted: it ended by itself (Succeeded), not by dmm's stop |"),
        "{page}"
    );
    assert!(
        env.events_saying(Some(Operation::Shutdown), "ended by itself") >= 1,
        "the journal says how it ended"
    );
}

/// The project of stopped Jobs is deleted during the window: the restart and the listing answer
/// 404, a definite answer. The restore ends (the Jobs' steps say why), and resumes the
/// Scheduled Jobs.
#[test]
fn a_deleted_project_ends_its_jobs_restarts_and_the_restore_goes_on() {
    let env = Env::small();
    let project = env.sim.add_empty_project("doomed");
    let jobs = [
        env.sim.add_job(&project, "python a.py").unwrap(),
        env.sim.add_job(&project, "python b.py").unwrap(),
    ];
    env.take_snapshot();
    let out = env.run_op("shutdown", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let paused = env.sim.running_ids(Kind::ScheduledJob);
    assert!(paused.is_empty(), "scheduled jobs paused: {paused:?}");

    env.sim.delete_project(&project).unwrap();
    let started = Instant::now();
    let mut child = env.spawn_op("restore", &["--restart-jobs", "-g", "20"]);
    let out = child_output(&mut child, Duration::from_secs(90));
    let took = started.elapsed();
    assert!(
        code(&out) == 0 || code(&out) == 1,
        "the restore ends: {}",
        text(&out)
    );
    for id in &jobs {
        let step = step_of(&env, Operation::Restore, id);
        assert!(
            matches!(&step.phase, StepPhase::Skipped(r) if r.contains("404")),
            "{step:?}"
        );
        assert_eq!(env.sim.restarts_of(id), 0);
    }
    assert!(
        !env.sim.running_ids(Kind::ScheduledJob).is_empty(),
        "the scheduled jobs were resumed after the jobs' stage"
    );
    eprintln!("restore with a deleted project took {took:?}");
}

/// `--jobs leave`, then `--jobs stop`: the second run asks for more, and does it.
#[test]
fn a_later_shutdown_that_stops_jobs_stops_the_ones_an_earlier_one_left() {
    let env = Env::small();
    let project = env.sim.add_empty_project("batch");
    let jobs: Vec<String> = (0..4)
        .map(|i| {
            env.sim
                .add_job(&project, &format!("python j{i}.py"))
                .unwrap()
        })
        .collect();
    env.take_snapshot();
    let out = env.run_op("shutdown", &["--jobs", "leave"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(env.sim.running_ids(Kind::Job).len(), jobs.len());

    let out = env.run_op("shutdown", &["--jobs", "stop"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        env.sim.running_ids(Kind::Job).is_empty(),
        "jobs still running after --jobs stop: {}",
        text(&out)
    );
    for id in &jobs {
        let step = step_of(&env, Operation::Shutdown, id);
        assert_eq!(step.phase, StepPhase::Confirmed, "{step:?}");
        assert_eq!(step.attempts, 1);
    }
    // And the other way round: a run that leaves Jobs does not stop those not yet asked.
    let late = env.sim.add_job(&project, "python late.py").unwrap();
    let out = env.run_op("shutdown", &["--jobs", "leave"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(env.sim.running_ids(Kind::Job).contains(&late));
}

/// Two cycles with Jobs: the second cycle's summary counts its own Job steps, not the first's.
#[test]
fn a_second_cycle_counts_only_its_own_job_steps() {
    let env = Env::small();
    let project = env.sim.add_empty_project("cycles");
    for i in 0..3 {
        env.sim
            .add_job(&project, &format!("python c{i}.py"))
            .unwrap();
    }
    env.take_snapshot();
    for (op, extra) in [
        ("shutdown", &[][..]),
        ("restore", &["--restart-jobs"][..]),
        ("shutdown", &[][..]),
    ] {
        let out = env.run_op(op, extra);
        assert_eq!(code(&out), 0, "{op}: {}", text(&out));
    }
    let status = env.run(&["status", env.snapshot().to_str().unwrap(), "--json"]);
    assert_eq!(code(&status), 0, "{}", text(&status));
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let shutdown_jobs = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["operation"] == "shutdown" && s["kind"] == "Job")
        .cloned()
        .unwrap();
    assert_eq!(
        shutdown_jobs["phases"]["Confirmed"], 3,
        "cycle 2 stopped the 3 restarted jobs: {shutdown_jobs}"
    );
}

/// Six Jobs of one project with the same command, restarts killed and answers lost on the
/// way: whatever the look for an effect finds, no Job is restarted twice, no new job is
/// credited to two Jobs, and a step that cannot tell says so instead of guessing.
#[test]
fn same_command_restarts_killed_and_lost_never_run_a_job_twice() {
    let env = Env::new(config(small_spec()).transition(200, 50));
    let project = env.sim.add_empty_project("reruns");
    let jobs: Vec<String> = (0..6)
        .map(|_| env.sim.add_job(&project, "python nightly.py").unwrap())
        .collect();
    env.take_snapshot();
    assert_eq!(code(&env.run_op("shutdown", &[])), 0);
    env.sim
        .set_faults(FaultsPatch {
            lost_answer_rate: Some(0.5),
            latency_ms: Some(60),
            ..FaultsPatch::default()
        })
        .unwrap();
    let mut rng = fastrand::Rng::with_seed(11);
    for _ in 0..6 {
        let mut child = env.spawn_op("restore", &["--restart-jobs", "-s", "job"]);
        std::thread::sleep(Duration::from_millis(rng.u64(50..400)));
        kill9(&mut child);
        for id in &jobs {
            assert!(env.sim.restarts_of(id) <= 1, "job {id} ran twice");
        }
    }
    env.sim
        .set_faults(FaultsPatch {
            lost_answer_rate: Some(0.0),
            latency_ms: Some(0),
            ..FaultsPatch::default()
        })
        .unwrap();
    let out = env.run_op("restore", &["--restart-jobs", "-s", "job"]);
    assert!(code(&out) <= 1, "{}", text(&out));
    let steps = job_steps(&env, Operation::Restore);
    let mut effects = std::collections::BTreeSet::new();
    for step in &steps {
        assert!(env.sim.restarts_of(&step.key.execution) <= 1);
        match &step.phase {
            StepPhase::Confirmed => {
                let effect = step.effect.clone().expect("an effect");
                assert!(effects.insert(effect), "one new job credited twice");
            }
            StepPhase::Failed(reason) => assert!(reason.contains("cannot tell"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
    let restarted: u64 = jobs.iter().map(|id| env.sim.restarts_of(id)).sum();
    eprintln!(
        "{} of {} jobs restarted; {} confirmed, {} undecidable",
        restarted,
        jobs.len(),
        effects.len(),
        steps.len() - effects.len()
    );
    assert!(effects.len() as u64 <= restarted);
}

/// The route of a Scheduled Job's pause (the PUT of its object).
const SCHEDULE_PUT: &str = "PUT /v4/projects/{project_id}/scheduledjobs/{job_id}";

/// A shutdown whose plan has listed the Jobs, with one Scheduled Job's pause held back (503)
/// until that Scheduled Job has fired: the batch Job it launches runs after the plan's listing
/// and before the Jobs stage, as when a cron time falls in that gap. Returns the child (still
/// running), the launched Job and the Jobs that ran from the start.
fn shutdown_with_a_job_launched_after_the_plan(
    env: &Env,
    extra: &[&str],
) -> (std::process::Child, String, Vec<String>) {
    let project = env.sim.add_empty_project("batch");
    let from_start: Vec<String> = (0..2)
        .map(|i| {
            env.sim
                .add_job(&project, &format!("python start{i}.py"))
                .unwrap()
        })
        .collect();
    env.take_snapshot();
    let schedule = env
        .sim
        .running_ids(Kind::ScheduledJob)
        .into_iter()
        .next()
        .expect("an active Scheduled Job");
    refuse(env, SCHEDULE_PUT, Some(&schedule), 503, None);
    let child = env.spawn_op("shutdown", extra);
    let pause_refused = || {
        env.sim
            .requests()
            .mutations_of(Kind::ScheduledJob, &schedule)
            .any(|m| m.status == Some(503))
    };
    wait_for(
        Duration::from_secs(60),
        "the schedule's pause refused",
        pause_refused,
    );
    let planned_jobs_listed = env.sim.requests().count("GET", "/v4/jobs");
    assert!(planned_jobs_listed > 0, "the plan listed the Jobs first");
    let launched = env
        .sim
        .fire_schedule(&schedule)
        .unwrap()
        .expect("an active schedule launches a Job");
    refuse_nothing(env);
    (child, launched, from_start)
}

/// Every Job the simulator knows received at most one stop.
fn no_job_stopped_twice(env: &Env) {
    for e in env.sim.state().executions {
        if let Some(job) = &e.job {
            assert!(
                job.stops.len() <= 1,
                "job {} stopped {} times",
                e.id,
                job.stops.len()
            );
        }
    }
}

/// A Scheduled Job fires after the plan listed the Jobs and before it is paused: the batch Job
/// it launched is stopped by the same run, once, and the run ends verified (exit 0).
#[test]
fn a_job_launched_after_the_plan_listing_is_stopped_by_the_same_run() {
    a_late_job_is_stopped_by_the_same_run(&[]);
}

/// The same with `--jobs wait`: the late Job is held no longer than the others, then stopped.
#[test]
fn a_job_launched_after_the_plan_listing_is_stopped_after_the_hold_with_jobs_wait() {
    a_late_job_is_stopped_by_the_same_run(&["--jobs", "wait", "--jobs-grace", "1s"]);
}

fn a_late_job_is_stopped_by_the_same_run(extra: &[&str]) {
    let env = Env::small();
    let (mut child, launched, from_start) =
        shutdown_with_a_job_launched_after_the_plan(&env, extra);
    let out = child_output(&mut child, Duration::from_secs(120));
    assert_eq!(code(&out), 0, "{}", text(&out));
    for id in from_start.iter().chain([&launched]) {
        let step = step_of(&env, Operation::Shutdown, id);
        assert_eq!(step.phase, StepPhase::Confirmed, "{step:?}");
        let job = env.sim.state().executions.into_iter().find(|e| &e.id == id);
        let job = job.and_then(|e| e.job).expect("a job");
        assert_eq!(
            (job.stops.len(), job.execution_status.as_str()),
            (1, "Stopped"),
            "{id}"
        );
    }
    assert!(env.sim.running_ids(Kind::Job).is_empty(), "{}", text(&out));
    no_job_stopped_twice(&env);
}

/// The same with `--jobs leave`: the late Job is recorded as left running, nothing is stopped,
/// and the run ends verified (exit 0).
#[test]
fn a_job_launched_after_the_plan_listing_is_left_running_with_jobs_leave() {
    let env = Env::small();
    let (mut child, launched, from_start) =
        shutdown_with_a_job_launched_after_the_plan(&env, &["--jobs", "leave"]);
    let out = child_output(&mut child, Duration::from_secs(120));
    assert_eq!(code(&out), 0, "{}", text(&out));
    for id in from_start.iter().chain([&launched]) {
        let step = step_of(&env, Operation::Shutdown, id);
        assert!(
            matches!(&step.phase, StepPhase::Skipped(why) if why.contains("left running")),
            "{step:?}"
        );
        assert!(
            env.sim.running_ids(Kind::Job).contains(id),
            "{id} still runs"
        );
    }
    let stops: usize = env
        .sim
        .state()
        .executions
        .iter()
        .filter_map(|e| e.job.as_ref())
        .map(|j| j.stops.len())
        .sum();
    assert_eq!(stops, 0, "--jobs leave stops nothing");
}
