//! The final webhook notice never holds the process: a receiver that accepts the connection and
//! never answers, and one that refuses it, are told at once and given a few seconds in all (one
//! after a signal), then the process exits, with the metrics file saying the run ended and the
//! journal saying what was not delivered.

mod common;

use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use dmm::journal::{JournalRead, JournalReader};

/// A receiver on loopback that accepts every connection and never answers.
fn silent_receiver() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    url
}

/// A receiver on loopback that refuses connections: a port nothing listens on.
fn refusing_receiver() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}/hook")
}

fn timed(env: &Env, extra: &[&str]) -> (Output, Duration) {
    let start = Instant::now();
    let out = env.run_op("shutdown", extra);
    (out, start.elapsed())
}

fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name_and_labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn undelivered_end_notices(env: &Env) -> usize {
    let runs = JournalReader::open(&env.journal()).unwrap().runs().unwrap();
    runs.last()
        .unwrap()
        .notifications
        .iter()
        .filter(|n| n.event == "ended" && !n.delivered)
        .count()
}

#[test]
fn unreachable_receivers_hold_the_end_of_a_run_only_a_few_seconds() {
    // The same run without receivers, for the time a run takes on this machine now.
    let baseline = Env::small();
    baseline.take_snapshot();
    let (out, plain) = timed(&baseline, &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));

    let env = Env::small();
    env.take_snapshot();
    let metrics = env.path("dmm.prom");
    let (silent, refusing) = (silent_receiver(), refusing_receiver());
    let (out, told) = timed(
        &env,
        &[
            "--notify-url",
            &silent,
            "--notify-url",
            &refusing,
            "--metrics-file",
            metrics.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let extra = told.saturating_sub(plain);
    eprintln!(
        "without receivers {:.1}s, with a silent and a refusing one {:.1}s ({:.1}s more)",
        plain.as_secs_f64(),
        told.as_secs_f64(),
        extra.as_secs_f64()
    );
    assert!(
        extra < Duration::from_secs(8),
        "the receivers held the process {extra:?} longer"
    );
    assert_eq!(undelivered_end_notices(&env), 2);
    let prom = std::fs::read_to_string(&metrics).unwrap();
    assert_eq!(
        sample(&prom, "dmm_run_in_progress{operation=\"shutdown\"}"),
        Some(0.0),
        "{prom}"
    );
}

#[test]
fn after_sigterm_unreachable_receivers_do_not_hold_the_process() {
    let env = Env::new(config(small_spec()).transition(3000, 50));
    env.take_snapshot();
    let metrics = env.path("dmm.prom");
    let (silent, refusing) = (silent_receiver(), refusing_receiver());
    let child: Child = env
        .dmm()
        .args(env.op_args(
            "shutdown",
            &[
                "--notify-url",
                &silent,
                "--notify-url",
                &refusing,
                "--metrics-file",
                metrics.to_str().unwrap(),
            ],
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(Duration::from_secs(20), "stops sent", || {
        env.sim.requests().mutations.len() >= 3
    });
    let signalled = Instant::now();
    signal(&child, libc::SIGTERM);
    let mut child = child;
    while child.try_wait().unwrap().is_none() {
        if signalled.elapsed() > Duration::from_secs(60) {
            kill9(&mut child);
            panic!("dmm did not exit within 60s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = signalled.elapsed();
    let out = child.wait_with_output().unwrap();
    check_no_key(&out);
    assert_eq!(code(&out), 3, "{}", text(&out));
    eprintln!("SIGTERM to exit: {:.1}s", took.as_secs_f64());
    // The drain lets requests in flight finish (at most 5 s); the notices get little more.
    assert!(
        took < Duration::from_secs(5 + 6),
        "the process took {took:?} to exit after SIGTERM"
    );
    assert_eq!(undelivered_end_notices(&env), 2);
    let prom = std::fs::read_to_string(&metrics).unwrap();
    assert_eq!(
        sample(&prom, "dmm_run_in_progress{operation=\"shutdown\"}"),
        Some(0.0),
        "{prom}"
    );
}
