//! Promises tried from outside, the way a hostile proxy or a busy user tries them: a 429 whose
//! `Retry-After` is an HTTP-date, and a Job a user stops between the plan's listing and dmm's
//! stop.

mod common;

use std::time::Duration;

use common::*;
use dmm::journal::{Operation, StepPhase};
use domino_sim::Kind;
use domino_sim::{FaultsPatch, GenerateSpec, RefuseRule};

/// The route of an App's stop, as the simulator declares it.
const APP_STOP: &str = "POST /v4/modelProducts/{id}/stop";
/// The route of a Scheduled Job's pause (the PUT of its object).
const SCHEDULE_PUT: &str = "PUT /v4/projects/{project_id}/scheduledjobs/{job_id}";

/// An HTTP-date (IMF-fixdate, RFC 9110 §5.6.7) `ahead` from now.
fn http_date_in(ahead: Duration) -> String {
    let at = time::OffsetDateTime::now_utc() + ahead;
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    at.format(&format).expect("an HTTP-date")
}

/// `Retry-After` may be a number of seconds or an HTTP-date (RFC 9110 §10.2.3); a proxy or a
/// gateway in front of Domino may send either. The docs promise that the retry of the request
/// that got the 429 honours it: the refused stop must not be sent again before that date.
#[test]
fn a_429_whose_retry_after_is_an_http_date_delays_its_retry_until_then() {
    let env = Env::small();
    env.take_snapshot();
    let app = env
        .sim
        .running_ids(Kind::App)
        .into_iter()
        .next()
        .expect("a running App");
    env.sim
        .set_faults(FaultsPatch {
            refuse: Some(vec![RefuseRule {
                route: APP_STOP.into(),
                execution_id: Some(app.clone()),
                status: 429,
                times: Some(1),
                after_applying: false,
                // Whole seconds only: at least 4 s from now, at most 5.
                retry_after: Some(http_date_in(Duration::from_secs(5))),
            }]),
            ..FaultsPatch::default()
        })
        .unwrap();
    let out = env.run_op("shutdown", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let log = env.sim.requests();
    let stops: Vec<_> = log.mutations_of(Kind::App, &app).collect();
    assert!(stops.len() >= 2, "refused, then sent again: {stops:?}");
    assert_eq!(stops[0].status, Some(429), "{stops:?}");
    let waited_ms = stops[1].at_ms - stops[0].at_ms;
    assert!(
        waited_ms >= 3_000,
        "the refused stop was sent again {waited_ms} ms after a 429 that asked for about 4 s"
    );
}

/// A user stops a running Job after the shutdown's plan listed it and before dmm's stop is sent
/// (here the Scheduled Jobs' pause is held back, as by a slow frontend). dmm did not stop that
/// Job: the journal must not say it ended by this stop, and `restore --restart-jobs`, which
/// "restarts only the Jobs this shutdown stopped", must not run it again.
#[test]
fn a_job_a_user_stopped_after_the_plan_listing_is_not_restarted() {
    let env = Env::small();
    let project = env.sim.add_empty_project("batch");
    let user_stops = env.sim.add_job(&project, "python user_stops.py").unwrap();
    let dmm_stops = env.sim.add_job(&project, "python dmm_stops.py").unwrap();
    env.take_snapshot();
    let schedule = env
        .sim
        .running_ids(Kind::ScheduledJob)
        .into_iter()
        .next()
        .expect("an active Scheduled Job");
    refuse(&env, SCHEDULE_PUT, Some(&schedule), 503, None);
    let mut child = env.spawn_op("shutdown", &[]);
    wait_for(
        Duration::from_secs(60),
        "the schedule's pause refused",
        || {
            env.sim
                .requests()
                .mutations_of(Kind::ScheduledJob, &schedule)
                .any(|m| m.status == Some(503))
        },
    );
    assert!(
        env.sim.requests().count("GET", "/v4/jobs") > 0,
        "the plan listed the Jobs first"
    );
    env.sim.stop_behind_back(Kind::Job, &user_stops).unwrap();
    refuse_nothing(&env);
    let out = child_output(&mut child, Duration::from_secs(120));
    assert_eq!(code(&out), 0, "{}", text(&out));

    let step = step_of(&env, Operation::Shutdown, &user_stops);
    assert_eq!(step.phase, StepPhase::Confirmed, "{step:?}");
    let end = step.ended.clone().expect("how it ended is recorded");
    assert!(
        !end.by_this_stop,
        "a Job the user stopped is recorded as ended by dmm's stop: {step:?}"
    );
    let out = env.run_op("restore", &["--restart-jobs"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(env.sim.restarts_of(&dmm_stops), 1, "the Job dmm stopped");
    assert_eq!(
        env.sim.restarts_of(&user_stops),
        0,
        "the Job the user stopped ran again: {}",
        text(&out)
    );
}

/// A deployment that serves 5 requests a second and refuses (429, `Retry-After: 1`) what would
/// queue longer than 50 ms. `--rate-limit auto` promises to be gentle when the deployment pushes
/// back, retries included; the benchmark's goal is under 5% of requests refused. Measured on the
/// current code: 53 of 141 requests refused (38%), with requests arriving in bursts of two or
/// three within 3 ms while the rate in force was 3 to 5 a second.
#[test]
#[ignore = "break: against a 5 requests/s capacity, 19 of 70 requests are answered 429 (27%; 38% before the bursts after a change of rate were removed): the adaptive pace starts at 25/s and judges 100 ms ticks, too coarse for a server that serves 5 a second"]
fn a_tiny_capacity_is_not_flooded_with_bursts() {
    let env = Env::new(config(small_spec()).transition(500, 200));
    env.take_snapshot();
    env.sim
        .set_faults(FaultsPatch {
            capacity_rps: Some(5),
            ..FaultsPatch::default()
        })
        .unwrap();
    env.sim.reset_counters();
    let snap = env.snapshot();
    let out = env.run(&["shutdown", snap.to_str().unwrap(), "--yes"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let log = env.sim.requests();
    let refused = log.faults.rate_limited;
    assert!(
        refused * 100 <= log.total * 10,
        "{refused} of {} requests answered 429 by a deployment that serves 5 a second",
        log.total
    );
}

/// Every App stop is refused with 429 and `Retry-After: 2`, each answered at once. The run
/// may end interrupted (exit 3) as documented for an API that stays down, but its reason must not
/// say that the API did not answer: it answered every request, promptly, with "slow down". An
/// operator who reads "did not answer ... no answer within 2m" looks for a network outage.
#[test]
// It takes four and a half minutes (eight requests each spend their two-minute budget), too
// long for every run of the suite: `cargo test --test e2e_pushback_and_races -- --ignored` runs
// it (it passes; before the fix the run said 'the API did not answer 8 requests in a row ... no
// answer within 2m'). `health::a_streak_of_refusals_is_said_refused_not_unanswered` checks the
// wording on every run.
#[ignore = "slow (4.5 min): run with --ignored"]
fn a_deployment_that_refuses_every_stop_with_429_is_not_reported_as_silent() {
    // More Apps than the 8 failures in a row after which a run stops for an outage.
    let env = Env::new(config(GenerateSpec {
        apps: 12,
        ..small_spec()
    }));
    env.take_snapshot();
    env.sim
        .set_faults(FaultsPatch {
            refuse: Some(vec![RefuseRule {
                route: APP_STOP.into(),
                execution_id: None,
                status: 429,
                times: None,
                after_applying: false,
                retry_after: Some("2".into()),
            }]),
            ..FaultsPatch::default()
        })
        .unwrap();
    let snap = env.snapshot();
    let mut child = env
        .dmm()
        .args(["shutdown", snap.to_str().unwrap(), "--yes", "-s", "app"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("dmm runs");
    let out = child_output(&mut child, Duration::from_secs(300));
    check_no_key(&out);
    assert_ne!(code(&out), 0, "{}", text(&out));
    let dropped = env.sim.requests().faults.dropped;
    assert_eq!(dropped, 0, "every request was answered");
    let said = text(&out);
    assert!(
        !said.contains("did not answer") && !said.contains("no answer within"),
        "every request was answered 429 at once, yet the run says: {said}"
    );
}
