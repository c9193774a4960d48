//! The Job promise against what a hostile network and a real deployment do: pages capped
//! below what was asked, originals by the tool's own identity, a 404 from a route not ready, a
//! stop refused 409 while a user stops the job, a stop done but answered 504 by a gateway.

mod common;

use std::time::Duration;

use common::*;
use dmm::journal::{Operation, StepPhase};
use domino_sim::Kind;
use domino_sim::{FaultsPatch, RefuseRule};

/// Two Jobs started by the tool's own identity with one command (a rehearsal, or a service
/// account that also runs Jobs), both stopped; B's restart is refused once. A, the other
/// original, must never be taken for B's restart.
#[test]
fn an_original_stopped_by_the_shutdown_is_never_anothers_restart() {
    let env = Env::small();
    let project = env.sim.add_empty_project("rehearsal");
    let a = env
        .sim
        .add_job_as_principal(&project, "python x.py")
        .unwrap();
    let b = env
        .sim
        .add_job_as_principal(&project, "python x.py")
        .unwrap();
    env.take_snapshot();
    assert_eq!(code(&env.run_op("shutdown", &[])), 0);
    refuse(&env, "POST /v4/jobs/restart", Some(&b), 503, Some(1));
    let out = env.run_op("restore", &["--restart-jobs"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(env.sim.restarts_of(&a), 1);
    assert_eq!(env.sim.restarts_of(&b), 1, "B was never restarted");
    let sb = step_of(&env, Operation::Restore, &b);
    assert!(
        sb.effect.is_some() && sb.effect.as_deref() != Some(a.as_str()),
        "{sb:?}"
    );
}

/// A server that serves at most 5 rows a page when 50 are asked: every running Job is found
/// (paged to the count), stopped in one run, and with a third of the answers lost, none is
/// restarted twice (the simulator flags a second restart).
#[test]
fn a_server_that_caps_job_pages_is_paged_to_its_count() {
    let env = Env::new(config(small_spec()).max_page_size(5));
    let project = env.sim.add_empty_project("many");
    let jobs: Vec<String> = (0..12)
        .map(|i| {
            env.sim
                .add_job(&project, &format!("python m{i}.py"))
                .unwrap()
        })
        .collect();
    env.take_snapshot();
    let out = env.run_op("shutdown", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(env.sim.running_ids(Kind::Job).is_empty(), "{}", text(&out));
    env.sim
        .set_faults(FaultsPatch {
            lost_answer_rate: Some(0.3),
            ..FaultsPatch::default()
        })
        .unwrap();
    let out = env.run_op("restore", &["--restart-jobs", "-s", "job"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    for id in &jobs {
        assert_eq!(env.sim.restarts_of(id), 1, "job {id}");
    }
}

/// One 404 to a restart (a route not ready right after the upgrade) while the job and its
/// project exist: looked at, not believed; the job is restarted.
#[test]
fn one_404_to_a_restart_is_looked_at_before_it_is_believed() {
    let env = Env::small();
    let project = env.sim.add_empty_project("p404");
    let job = env.sim.add_job(&project, "python j.py").unwrap();
    env.take_snapshot();
    assert_eq!(code(&env.run_op("shutdown", &[])), 0);
    refuse(&env, "POST /v4/jobs/restart", Some(&job), 404, Some(1));
    let out = env.run_op("restore", &["--restart-jobs"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(env.sim.restarts_of(&job), 1, "{}", text(&out));
    assert_eq!(
        step_of(&env, Operation::Restore, &job).phase,
        StepPhase::Confirmed
    );
}

/// Every stop refused 409 by Domino itself (not done), then a user stops the job: it ended,
/// but not by dmm's stop, and is never restarted.
#[test]
fn a_job_stopped_by_a_user_while_dmms_stops_were_refused_is_not_restarted() {
    let env = Env::small();
    let project = env.sim.add_empty_project("p409");
    let job = env.sim.add_job(&project, "python j.py").unwrap();
    env.take_snapshot();
    refuse(&env, "POST /v4/jobs/stop", Some(&job), 409, None);
    let mut child = env.spawn_op("shutdown", &[]);
    wait_for(Duration::from_secs(60), "two refused stops", || {
        env.sim
            .requests()
            .mutations_of(Kind::Job, &job)
            .filter(|m| m.status == Some(409))
            .count()
            >= 2
    });
    env.sim.stop_behind_back(Kind::Job, &job).unwrap();
    refuse_nothing(&env);
    let out = child_output(&mut child, Duration::from_secs(120));
    assert_eq!(code(&out), 0, "{}", text(&out));
    let end = step_of(&env, Operation::Shutdown, &job).ended.unwrap();
    assert_eq!((end.word.as_str(), end.by_this_stop), ("Stopped", false));
    let out = env.run_op("restore", &["--restart-jobs"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(
        env.sim.restarts_of(&job),
        0,
        "restarted a job dmm never stopped"
    );
}

/// A gateway that answers 504 to stops its backend did: the job ended by dmm's stop, and is
/// restarted once.
#[test]
fn a_stop_done_but_answered_504_is_dmms_stop() {
    let env = Env::small();
    let project = env.sim.add_empty_project("p504");
    let job = env.sim.add_job(&project, "python j.py").unwrap();
    env.take_snapshot();
    env.sim
        .set_faults(FaultsPatch {
            refuse: Some(vec![RefuseRule {
                route: "POST /v4/jobs/stop".into(),
                execution_id: Some(job.clone()),
                status: 504,
                times: None,
                after_applying: true,
                retry_after: None,
            }]),
            ..FaultsPatch::default()
        })
        .unwrap();
    let out = env.run_op("shutdown", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let end = step_of(&env, Operation::Shutdown, &job).ended.unwrap();
    assert_eq!((end.word.as_str(), end.by_this_stop), ("Stopped", true));
    refuse_nothing(&env);
    let out = env.run_op("restore", &["--restart-jobs"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(env.sim.restarts_of(&job), 1);
}

/// Stops slower than the grace period: the shutdown's Job steps fail, though the stops were
/// accepted and the jobs then stop. A restore with `--restart-jobs` looks at each: the one
/// that ended `Stopped` is restarted, the one that finished by itself meanwhile is not, and
/// neither is dropped in silence.
#[test]
fn jobs_whose_stop_outlived_the_grace_period_are_looked_at_not_dropped() {
    let env = Env::new(config(small_spec()).transition(4_000, 0));
    let project = env.sim.add_empty_project("slow");
    let stopped = env.sim.add_job(&project, "python s.py").unwrap();
    let finished = env.sim.add_job(&project, "python f.py").unwrap();
    env.take_snapshot();
    let out = env.run_op("shutdown", &["-s", "job", "-g", "1"]);
    assert_eq!(
        code(&out),
        1,
        "the stops outlive the grace period: {}",
        text(&out)
    );
    assert!(matches!(
        step_of(&env, Operation::Shutdown, &stopped).phase,
        StepPhase::Failed(_)
    ));
    env.sim.finish_job(&finished).unwrap();
    wait_for(Duration::from_secs(30), "the slow stop to land", || {
        !env.sim.running_ids(Kind::Job).contains(&stopped)
    });
    let out = env.run_op("restore", &["-s", "job", "--restart-jobs"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(env.sim.restarts_of(&stopped), 1, "{}", text(&out));
    assert_eq!(env.sim.restarts_of(&finished), 0);
    assert!(matches!(
        &step_of(&env, Operation::Restore, &finished).phase,
        StepPhase::Skipped(why) if why.contains("ended by itself (Succeeded)")
    ));
}

/// A server whose `running` means only `Running` (nothing documents what a real one's
/// includes): a Job waiting in the queue is still drained by the shutdown, results committed,
/// and restarted exactly once by the restore, as a running one is.
#[test]
fn a_queued_job_is_drained_and_restarted_once_where_running_means_only_running() {
    let env = Env::new(config(small_spec()).strict_job_status(true));
    let project = env.sim.add_empty_project("queue");
    let running = env.sim.add_job(&project, "python now.py").unwrap();
    let queued = env.sim.add_queued_job(&project, "python later.py").unwrap();
    env.take_snapshot();
    let out = env.run_op("shutdown", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    for id in [&running, &queued] {
        let step = step_of(&env, Operation::Shutdown, id);
        assert_eq!(step.phase, StepPhase::Confirmed, "{step:?}");
        assert!(
            step.attempts >= 1,
            "job {id} was never sent a stop: {step:?}"
        );
    }
    let state = env.sim.state();
    let held = state
        .of_kind(Kind::Job)
        .find(|j| j.id == queued)
        .and_then(|j| j.job.clone())
        .expect("the queued job is in the state");
    assert_eq!(held.execution_status, "Stopped");
    assert!(held.stops.iter().all(|s| s.commit_results), "{held:?}");

    let out = env.run_op("restore", &["--restart-jobs"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let out = env.run_op("restore", &["--restart-jobs"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(env.sim.restarts_of(&queued), 1, "{}", text(&out));
    assert_eq!(env.sim.restarts_of(&running), 1);
}
