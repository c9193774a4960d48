//! What an operator meets outside the happy path: a full disk, a closed pipe, a server that
//! never answers, JSON logs, hostile names, hints to copy, odd files. The real `dmm` binary
//! against the simulator (or a loopback listener), with real pipes, rlimits and signals.

mod common;

use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use dmm::journal::JournalReader;
use domino_sim::GenerateSpec;

fn medium() -> Env {
    Env::new(config(GenerateSpec {
        projects: 10,
        apps: 60,
        models: 10,
        versions_per_model: 1,
        workspaces: 60,
        scheduled_jobs: 10,
        jobs: 0,
        rollout_in_progress: false,
    }))
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The lines of stderr that are not routine log lines (which carry a timestamp and a level).
fn message_lines(out: &Output) -> Vec<String> {
    stderr_of(out)
        .lines()
        .filter(|l| !(l.starts_with("20") && l.contains('Z')))
        .map(str::to_owned)
        .collect()
}

/// Limits the size of any file the child writes, as a full volume would: the journal cannot
/// grow beyond `bytes`. With `ignore_sigxfsz` the child starts with SIGXFSZ ignored, so a write
/// beyond the limit fails with an error exactly as one on a full disk does (ENOSPC); without it,
/// dmm itself must keep the signal from killing it.
fn limit_file_size(cmd: &mut Command, bytes: u64, ignore_sigxfsz: bool) {
    // SAFETY: setrlimit and signal are async-signal-safe and only touch the child about to exec.
    unsafe {
        cmd.pre_exec(move || {
            if ignore_sigxfsz {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            }
            let lim = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

// ---------------------------------------------------------------------------------------------
// 9. A journal that cannot grow mid-run.

#[test]
fn a_journal_that_cannot_grow_stops_the_run_resumably_with_one_line() {
    a_journal_that_cannot_grow(false);
    a_journal_that_cannot_grow(true);
}

fn a_journal_that_cannot_grow(ignore_sigxfsz: bool) {
    let env = medium();
    env.take_snapshot();
    let before = std::fs::metadata(env.journal()).unwrap().len();
    // Room for the open and the first commits, not for the whole run (it ends near 350 KB).
    let limit = before + 48 * 1024;

    let mut cmd = env.dmm();
    cmd.args(env.op_args("shutdown", &[]));
    limit_file_size(&mut cmd, limit, ignore_sigxfsz);
    let out = cmd.output().expect("dmm runs");
    check_no_key(&out);
    assert_eq!(
        code(&out),
        3,
        "a journal write that fails is an interruption (SIGXFSZ ignored beforehand: {ignore_sigxfsz}): {:?}\n{}",
        out.status,
        text(&out)
    );
    let lines = message_lines(&out);
    assert_eq!(lines.len(), 1, "one line: {lines:?}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains("journal"),
        "{lines:?}"
    );
    assert!(!stderr_of(&out).contains("panicked"), "{}", text(&out));
    // Some steps were sent before the journal filled up: not "nothing was touched".
    assert!(!lines[0].contains("nothing was touched"), "{lines:?}");

    // The journal still opens, and the same command with room to write completes.
    JournalReader::open(&env.journal()).expect("the journal still opens");
    let again = env.run_op("shutdown", &[]);
    assert_eq!(code(&again), 0, "{}", text(&again));
}

/// A run opens its journal through a checking copy as large as the journal; with no room for
/// that copy, nothing is wrong with the input: the run is interrupted (3, retried by the
/// Kubernetes Job), says how much room it needs, and runs once there is room.
#[test]
fn no_room_for_the_journal_check_is_an_interruption_that_names_the_room_needed() {
    let env = medium();
    env.take_snapshot();
    let size = std::fs::metadata(env.journal()).unwrap().len();

    let mut cmd = env.dmm();
    cmd.args(env.op_args("shutdown", &[]));
    limit_file_size(&mut cmd, size - 1, true);
    let out = cmd.output().expect("dmm runs");
    check_no_key(&out);
    assert_eq!(code(&out), 3, "{}", text(&out));
    let lines = message_lines(&out);
    assert_eq!(lines.len(), 1, "one line: {lines:?}");
    assert!(
        lines[0].contains("make room for") && lines[0].contains("nothing was sent"),
        "{lines:?}"
    );

    let again = env.run_op("shutdown", &[]);
    assert_eq!(code(&again), 0, "{}", text(&again));
}

#[test]
fn a_journal_that_cannot_grow_with_stderr_on_a_full_device_still_exits_3() {
    let env = medium();
    env.take_snapshot();
    let before = std::fs::metadata(env.journal()).unwrap().len();
    let mut cmd = env.dmm();
    cmd.args(env.op_args("shutdown", &[]))
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        );
    limit_file_size(&mut cmd, before + 48 * 1024, true);
    let status = cmd.status().expect("dmm runs");
    assert_eq!(
        status.code(),
        Some(3),
        "no abort when stderr cannot be written: {status:?}"
    );
    JournalReader::open(&env.journal()).expect("the journal still opens");
}

// ---------------------------------------------------------------------------------------------
// 6. Output to a pipe closed early (`| head -1`).

/// Runs dmm with stdout on a pipe whose read end is closed before dmm writes anything.
fn with_closed_stdout(env: &Env, args: &[String]) -> Output {
    let mut child = env
        .dmm()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dmm starts");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("dmm ends");
    check_no_key(&out);
    out
}

fn assert_quiet_end(out: &Output, expected: i32, what: &str) {
    assert_eq!(code(out), expected, "{what}: {}", text(out));
    let lines = message_lines(out);
    assert!(lines.is_empty(), "{what}: no error text: {lines:?}");
}

#[test]
fn a_closed_pipe_on_stdout_ends_every_command_quietly_and_the_run_is_recorded() {
    use dmm::journal::{JournalRead, RunOutcome};
    let env = Env::small();
    env.take_snapshot();
    let snap = env.snapshot().to_str().unwrap().to_owned();
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    let out = with_closed_stdout(&env, &s(&["shutdown", &snap, "--dry-run"]));
    assert_quiet_end(&out, 0, "--dry-run");

    let out = with_closed_stdout(&env, &env.op_args("shutdown", &[]));
    assert_quiet_end(&out, 0, "shutdown");
    let runs = JournalReader::open(&env.journal()).unwrap().runs().unwrap();
    let last = runs.last().expect("a run");
    assert_eq!(
        last.outcome,
        Some(RunOutcome::Completed),
        "the run was closed in the journal: {last:?}"
    );

    for (args, what) in [
        (s(&["status", &snap]), "status"),
        (s(&["status", &snap, "--json"]), "status --json"),
        (s(&["verify", &snap, "--expect", "stopped"]), "verify"),
        (s(&["journal", &snap]), "journal"),
    ] {
        let out = with_closed_stdout(&env, &args);
        assert_quiet_end(&out, 0, what);
    }
}

// ---------------------------------------------------------------------------------------------
// 8. A server that accepts connections and never answers.

/// A loopback listener that accepts every connection and never answers; returns its URL. The
/// connections stay open (held by the thread) until the test process ends.
fn silent_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            match conn {
                Ok(c) => held.push(c),
                Err(_) => break,
            }
        }
    });
    url
}

const FAST_TIMEOUT: &str = "300ms";

fn timed(cmd: &mut Command) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dmm starts");
    // A hang must fail the test, not hold it for minutes.
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("dmm still waiting after 30 s:\n{}", text(&out));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = started.elapsed();
    let out = child.wait_with_output().unwrap();
    check_no_key(&out);
    (out, took)
}

fn assert_one_line_about_silence(out: &Output, url: &str) {
    let lines = message_lines(out);
    assert_eq!(lines.len(), 1, "one error line: {}", text(out));
    assert!(lines[0].starts_with("error: "), "{lines:?}");
    assert!(lines[0].contains("no answer within"), "{lines:?}");
    // The warning at the first timeout names the call, never the host.
    let all = stderr_of(out);
    assert!(
        all.lines()
            .any(|l| l.contains("WARN") && l.contains("GET /") && l.contains("no answer within")),
        "a warning at the first timeout: {all}"
    );
    let host = url.trim_start_matches("http://");
    assert!(!all.contains(host), "the host is not in the output: {all}");
}

#[test]
fn a_silent_server_fails_snapshot_and_shutdown_in_bounded_time_with_exit_2() {
    let env = Env::small();
    env.take_snapshot();
    let journal_before = std::fs::read(env.journal()).unwrap();
    let url = silent_server();

    let new_snap = env.path("new.json");
    let (out, took) = timed(
        env.dmm()
            .env("DOMINO_HOSTNAME", &url)
            .args(["--request-timeout", FAST_TIMEOUT, "snapshot"])
            .arg(&new_snap),
    );
    assert_eq!(code(&out), 2, "the host does not answer: {}", text(&out));
    assert!(took < Duration::from_secs(5), "snapshot took {took:?}");
    assert_one_line_about_silence(&out, &url);
    assert!(!new_snap.exists());

    let mut args = vec!["--request-timeout".to_string(), FAST_TIMEOUT.to_string()];
    args.extend(env.op_args("shutdown", &[]));
    let (out, took) = timed(env.dmm().env("DOMINO_HOSTNAME", &url).args(&args));
    assert_eq!(code(&out), 2, "nothing touched: {}", text(&out));
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
    assert_one_line_about_silence(&out, &url);
    assert!(message_lines(&out)[0].contains("nothing was touched"));
    assert_eq!(
        std::fs::read(env.journal()).unwrap(),
        journal_before,
        "the journal is untouched"
    );
}

#[test]
fn a_server_that_goes_silent_mid_run_interrupts_it_resumably() {
    use dmm::journal::{Operation, StepPhase};
    use domino_sim::FaultsPatch;
    let env = Env::new(config(small_spec()).transition(400, 100));
    env.take_snapshot();
    let mut args = vec!["--request-timeout".to_string(), FAST_TIMEOUT.to_string()];
    args.extend(env.op_args("shutdown", &[]));
    let started = Instant::now();
    let mut child = env
        .dmm()
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(Duration::from_secs(20), "steps to be accepted", || {
        count_phase(&env.steps(Operation::Shutdown), |p| {
            matches!(p, StepPhase::Accepted | StepPhase::Confirmed)
        }) >= 3
    });
    // Every answer from now on comes after an hour: the server has gone silent.
    env.sim
        .set_faults(FaultsPatch {
            latency_ms: Some(3_600_000),
            ..Default::default()
        })
        .unwrap();
    let silent_at = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if silent_at.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("dmm still waiting 30 s into the silence:\n{}", text(&out));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    check_no_key(&out);
    eprintln!(
        "silence: dmm ended after {:?} of silence ({:?} in all)",
        silent_at.elapsed(),
        started.elapsed()
    );
    assert_eq!(
        code(&out),
        3,
        "a lasting silence interrupts: {}",
        text(&out)
    );
    assert!(
        stderr_of(&out).contains("no answer within"),
        "{}",
        text(&out)
    );

    env.sim.replace_faults(domino_sim::Faults::none()).unwrap();
    let again = env.run_op("shutdown", &[]);
    assert_eq!(code(&again), 0, "{}", text(&again));
}

// ---------------------------------------------------------------------------------------------
// 10. `--log-format json`: every line on stderr is JSON.

fn assert_every_stderr_line_is_json(out: &Output, what: &str) -> Vec<serde_json::Value> {
    let stderr = stderr_of(out);
    assert!(!stderr.trim().is_empty(), "{what}: something on stderr");
    stderr
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {l:?}\n{stderr}"));
            assert!(
                v["level"].is_string() && v["message"].is_string(),
                "{what}: {l}"
            );
            v
        })
        .collect()
}

#[test]
fn with_json_logs_errors_and_interruptions_are_json_lines() {
    use dmm::journal::{Operation, StepPhase};
    let env = Env::new(config(small_spec()).transition(1_500, 100));
    // An error: a snapshot that does not exist.
    let out = env.run(&[
        "--log-format",
        "json",
        "status",
        env.path("missing.json").to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    let lines = assert_every_stderr_line_is_json(&out, "error");
    assert!(lines.iter().any(|v| v["level"] == "ERROR"), "{lines:?}");
    // A usage error too.
    let out = env.run(&["--log-format", "json", "status", "--no-such-flag"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    let lines = assert_every_stderr_line_is_json(&out, "usage error");
    assert_eq!(lines.len(), 1, "{lines:?}");

    // Interrupted once (the run drains and reports), then twice (it stops at once); each on a
    // deployment of its own, so the steps waited for are this run's.
    for signals in [1, 2] {
        let env = Env::new(config(small_spec()).transition(1_500, 100));
        env.take_snapshot();
        let child = env
            .dmm()
            .args(["--log-format", "json"])
            .args(env.op_args("shutdown", &[]))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for(Duration::from_secs(20), "steps to be accepted", || {
            count_phase(&env.steps(Operation::Shutdown), |p| {
                matches!(p, StepPhase::Accepted)
            }) >= 2
        });
        if signals == 2 {
            // Requests in flight that take their time: the second signal comes while the first
            // one waits for them.
            env.sim
                .set_faults(domino_sim::FaultsPatch {
                    latency_ms: Some(5_000),
                    ..Default::default()
                })
                .unwrap();
            std::thread::sleep(Duration::from_millis(300));
        }
        for _ in 0..signals {
            signal(&child, libc::SIGTERM);
            std::thread::sleep(Duration::from_millis(200));
        }
        let out = child.wait_with_output().unwrap();
        check_no_key(&out);
        assert_eq!(code(&out), 3, "{}", text(&out));
        let lines = assert_every_stderr_line_is_json(&out, &format!("{signals} signal(s)"));
        let says = |needle: &str| {
            lines
                .iter()
                .any(|v| v["message"].as_str().unwrap().contains(needle))
        };
        if signals == 1 {
            assert!(says("step(s) not finished"), "{lines:?}");
        } else {
            assert!(says("again: stopping now"), "{lines:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 11. Names from the API with control characters, bidirectional controls and zero-width
//     characters in them.

const HOSTILE: &str = "dash\nerror: FAKE LINE\u{1b}]0;pwned\u{7}\u{1b}[31mred\r\u{9b}2J invoice\u{202E}gnp.exe\u{200B}\u{2066}\u{FEFF}";

fn hostile_env() -> Env {
    let scenario = scenario_of(serde_json::json!({"projects": [{
        "name": format!("proj {HOSTILE}"),
        "owner": format!("mallory{HOSTILE}"),
        "apps": [
            {"name": HOSTILE, "state": "running"},
            {"name": "plain", "state": "running"}
        ],
        "workspaces": [{"name": HOSTILE, "state": "running"}],
        "scheduledJobs": [{"title": HOSTILE, "owner": "alice", "paused": false}]
    }]}));
    Env::new(
        domino_sim::SimConfig::default()
            .api_key(KEY)
            .seed(7)
            .scenario(scenario)
            .transition(30, 10),
    )
}

/// Nothing a name holds reaches the terminal as a control: no escape, no bell, no carriage
/// return, no C1 control, no bidirectional control or zero-width character, and no line that a
/// name began.
fn assert_no_forged_output(out: &Output, what: &str) {
    for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let s = String::from_utf8_lossy(bytes);
        let bad: Vec<char> = s
            .chars()
            .filter(|c| (c.is_control() && *c != '\n') || dmm::visible::is_hidden(*c))
            .collect();
        assert!(
            bad.is_empty(),
            "{what}: {stream} has controls {bad:?}:\n{s}"
        );
        assert!(
            !s.lines().any(|l| l.starts_with("error: FAKE")),
            "{what}: {stream} has a forged line:\n{s}"
        );
    }
}

#[test]
fn control_characters_in_names_are_shown_escaped_everywhere() {
    use dmm::journal::JournalRead;
    let env = hostile_env();
    let snap = env.snapshot().to_str().unwrap().to_owned();
    let out = env.run(&["snapshot", &snap]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_no_forged_output(&out, "snapshot");

    let out = env.run(&["shutdown", &snap, "--dry-run"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_no_forged_output(&out, "--dry-run");
    assert!(
        stdout_of(&out).contains("dash\\nerror: FAKE LINE\\u001b]0;pwned\\u0007"),
        "the name is shown, escaped: {}",
        stdout_of(&out)
    );
    assert!(
        stdout_of(&out).contains("invoice<U+202E>gnp.exe<U+200B><U+2066><U+FEFF>"),
        "hidden characters are spelled out: {}",
        stdout_of(&out)
    );

    let out = env.run_op("shutdown", &["-v"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_no_forged_output(&out, "shutdown");

    for args in [
        vec!["status", snap.as_str()],
        vec!["verify", snap.as_str(), "--expect", "stopped"],
    ] {
        let out = env.run(&args);
        assert_eq!(code(&out), 0, "{args:?}: {}", text(&out));
        assert_no_forged_output(&out, args[0]);
    }

    // One line per event, and the JSON form keeps the name exactly.
    let out = env.run(&["journal", &snap]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_no_forged_output(&out, "journal");
    let events = JournalReader::open(&env.journal())
        .unwrap()
        .events()
        .unwrap()
        .len();
    assert_eq!(
        stdout_of(&out).lines().count(),
        events,
        "{}",
        stdout_of(&out)
    );
    let out = env.run(&["journal", &snap, "--json"]);
    let names: Vec<String> = stdout_of(&out)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(names.iter().any(|n| n == HOSTILE), "{names:?}");

    // The restore leaves the Workspace for its user, so the report names it: in both formats
    // with its hidden characters spelled out.
    let out = env.run_op("restore", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_no_forged_output(&out, "restore");
    for format in ["html", "markdown"] {
        let out = env.run(&["report", &snap, "--format", format]);
        assert_eq!(code(&out), 0, "{}", text(&out));
        assert_no_forged_output(&out, "report");
        let path = stdout_of(&out)
            .lines()
            .find_map(|l| l.strip_prefix("report written to ").map(str::to_owned))
            .unwrap_or_else(|| panic!("{}", text(&out)));
        let page = std::fs::read_to_string(path).unwrap();
        let hidden: Vec<char> = page
            .chars()
            .filter(|c| dmm::visible::is_hidden(*c))
            .collect();
        assert!(hidden.is_empty(), "{format}: {hidden:?}");
        assert!(
            page.contains("invoice&lt;U+202E&gt;gnp.exe&lt;U+200B&gt;"),
            "{format}: the name with its hidden characters shown: {:?}",
            page.match_indices("invoice")
                .map(|(i, _)| &page[i..i + 60])
                .collect::<Vec<_>>()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 12. `next:` hints that can be pasted as they are.

/// The command of the `next:` line, after `prefix` (up to the end of the line).
fn hint_after<'a>(stdout: &'a str, prefix: &str) -> &'a str {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("next:"))
        .unwrap_or_else(|| panic!("no next: line in {stdout}"));
    let at = line
        .find(prefix)
        .unwrap_or_else(|| panic!("no '{prefix}' in {line}"));
    &line[at..]
}

/// Runs a hint as an operator would, pasting it into a shell; `dmm` is the binary under test.
fn paste(env: &Env, command: &str, extra: &str) -> Output {
    let bin = env.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let link = bin.join("dmm");
    if !link.exists() {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_dmm"), &link).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = env
        .dmm()
        .env("PATH", path)
        .current_dir(env.dir.path())
        .output_of_shell(&format!("{command} {extra}"));
    check_no_key(&out);
    out
}

trait Shell {
    fn output_of_shell(&mut self, line: &str) -> Output;
}

impl Shell for Command {
    /// The same environment, but `sh -c LINE` instead of dmm itself.
    fn output_of_shell(&mut self, line: &str) -> Output {
        let mut sh = Command::new("sh");
        sh.arg("-c").arg(line).env_clear().stdin(Stdio::null());
        for (k, v) in self.get_envs() {
            if let Some(v) = v {
                sh.env(k, v);
            }
        }
        if let Some(dir) = self.get_current_dir() {
            sh.current_dir(dir);
        }
        sh.output().expect("sh runs")
    }
}

#[test]
fn next_hints_keep_the_journal_and_quote_paths_so_they_run_as_pasted() {
    use dmm::journal::{JournalRead, Operation};
    let env = Env::small();
    let folder = env.path("it's a folder");
    std::fs::create_dir_all(&folder).unwrap();
    let snap = folder.join("before upgrade.json");
    let journal = folder.join("my journal.redb");
    let out = env.run(&["snapshot", snap.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let stdout = stdout_of(&out);
    let (hint_snap, _) = hint_snap_and_journal(hint_after(&stdout, "dmm shutdown"));
    assert_eq!(hint_snap, snap.to_str().unwrap(), "{stdout}");

    let out = env
        .dmm()
        .arg("shutdown")
        .arg(&snap)
        .arg("--journal")
        .arg(&journal)
        .args(["--yes", "--poll-interval-ms", "20", "--rate-limit", "2000"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
    let hint = hint_after(&stdout_of(&out), "dmm restore").to_owned();
    assert!(hint.contains("--journal"), "the journal is kept: {hint}");

    // status with --journal keeps it in its hint.
    let out = env
        .dmm()
        .arg("status")
        .arg(&snap)
        .arg("--journal")
        .arg(&journal)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
    let stdout = stdout_of(&out);
    let (hint_snap, hint_journal) = hint_snap_and_journal(hint_after(&stdout, "dmm restore"));
    assert_eq!(hint_snap, snap.to_str().unwrap(), "{stdout}");
    assert_eq!(hint_journal.as_deref(), journal.to_str(), "{stdout}");

    // Pasted as printed, it restores from the same journal.
    let out = paste(&env, &hint, "--yes --poll-interval-ms 20 --rate-limit 2000");
    assert_eq!(code(&out), 0, "{hint}: {}", text(&out));
    let reader = JournalReader::open(&journal).unwrap();
    assert!(!reader.steps(Some(Operation::Restore)).unwrap().is_empty());
    assert_eq!(
        reader.runs().unwrap().len(),
        2,
        "both runs in the journal given"
    );
    drop(reader);
    let mut default = snap.as_os_str().to_owned();
    default.push(".journal");
    let default = std::path::PathBuf::from(default);
    assert!(
        JournalReader::open(&default)
            .unwrap()
            .runs()
            .unwrap()
            .is_empty(),
        "no run went to the default journal"
    );
}

/// Splits `dmm OP SNAP [--journal J]...` as a shell would (single quotes only).
fn hint_snap_and_journal(hint: &str) -> (String, Option<String>) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "for a in {}; do printf '%s\\n' \"$a\"; done",
            &hint[4..]
        ))
        .output()
        .unwrap();
    let words: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    let journal = words
        .iter()
        .position(|w| w == "--journal")
        .map(|i| words[i + 1].clone());
    assert!(
        words.len() >= 2,
        "the hint does not parse as a command: {hint}"
    );
    (words[1].clone(), journal)
}

#[test]
fn status_of_a_renamed_snapshot_finds_its_journal() {
    let env = Env::small();
    env.take_snapshot();
    let out = env.run_op("shutdown", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let renamed = env.path("renamed.json");
    std::fs::rename(env.snapshot(), &renamed).unwrap();
    let journal_before = std::fs::read(env.journal()).unwrap();

    let out = env.run(&["status", renamed.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let stdout = stdout_of(&out);
    assert!(!stdout.contains("no journal yet"), "{stdout}");
    assert!(
        stdout.contains("snap.json.journal"),
        "it says where: {stdout}"
    );
    let hint = hint_after(&stdout, "dmm restore");
    let (snap, journal) = hint_snap_and_journal(hint);
    assert_eq!(snap, renamed.to_str().unwrap());
    assert_eq!(journal.as_deref(), env.journal().to_str());
    assert_eq!(
        std::fs::read(env.journal()).unwrap(),
        journal_before,
        "looking is read-only"
    );
    assert!(!env.path("renamed.json.journal").exists());

    let out = env.run(&["journal", renamed.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(stdout_of(&out).lines().count() > 0);
}

// ---------------------------------------------------------------------------------------------
// 13. Small ones.

fn one_error_line(out: &Output) -> String {
    let lines = message_lines(out);
    assert_eq!(lines.len(), 1, "one line: {}", text(out));
    lines[0].clone()
}

#[test]
fn a_fifo_as_the_snapshot_is_refused_at_once() {
    let env = Env::small();
    let fifo = env.path("snap.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo on a path in our own temporary folder.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    for args in [
        vec!["status", fifo.to_str().unwrap()],
        vec!["shutdown", fifo.to_str().unwrap(), "--dry-run"],
    ] {
        let (out, took) = timed(env.dmm().args(&args));
        assert_eq!(code(&out), 2, "{args:?}: {}", text(&out));
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert!(one_error_line(&out).contains("FIFO"), "{}", text(&out));
    }
}

#[test]
fn snapshot_files_with_a_duplicate_key_are_refused_and_with_a_bom_accepted() {
    let env = Env::small();
    env.take_snapshot();
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.snapshot()).unwrap()).unwrap();
    let apps = doc["App"].to_string();
    assert!(doc["App"].as_array().unwrap().len() > 1);

    let dup = env.path("dup.json");
    std::fs::write(&dup, format!(r#"{{"App": {apps}, "App": []}}"#)).unwrap();
    let out = env.run(&["shutdown", dup.to_str().unwrap(), "--dry-run"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    let line = one_error_line(&out);
    assert!(line.contains("'App' appears twice"), "{line}");

    let bom = env.path("bom.json");
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend(std::fs::read(env.snapshot()).unwrap());
    std::fs::write(&bom, bytes).unwrap();
    let out = env.run(&["shutdown", bom.to_str().unwrap(), "--dry-run"]);
    assert_eq!(code(&out), 0, "a BOM is accepted: {}", text(&out));
    assert!(stdout_of(&out).contains("would stop"), "{}", text(&out));
}

#[test]
fn https_to_a_plain_http_server_is_said_at_once() {
    let env = Env::small();
    let https = env.sim.base_url().replacen("http://", "https://", 1);
    let (out, took) = timed(
        env.dmm()
            .env("DOMINO_HOSTNAME", &https)
            .args(["snapshot", env.snapshot().to_str().unwrap()]),
    );
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(took < Duration::from_secs(3), "no retries: {took:?}");
    let line = one_error_line(&out);
    assert!(line.contains("does not speak TLS"), "{line}");
}

#[test]
fn a_proxy_that_is_down_is_named_without_its_credentials() {
    let env = Env::small();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let (out, _) = timed(
        env.dmm()
            .env("DOMINO_HOSTNAME", "https://domino.example.com")
            .env(
                "HTTPS_PROXY",
                format!("http://ops:hunter2@127.0.0.1:{port}"),
            )
            .args(["--request-timeout", FAST_TIMEOUT, "snapshot"])
            .arg(env.snapshot()),
    );
    assert_eq!(code(&out), 2, "{}", text(&out));
    let line = one_error_line(&out);
    assert!(
        line.contains(&format!("proxy http://127.0.0.1:{port}")),
        "{line}"
    );
    assert!(!text(&out).contains("hunter2"), "{}", text(&out));
}

/// Whether `s` holds an SGR (colour) escape sequence.
fn has_colour(s: &[u8]) -> bool {
    s.windows(2).enumerate().any(|(i, w)| {
        w == b"\x1b[" && {
            let rest = &s[i + 2..];
            let n = rest
                .iter()
                .take_while(|b| b.is_ascii_digit() || **b == b';')
                .count();
            rest.get(n) == Some(&b'm')
        }
    })
}

#[test]
fn term_dumb_gets_no_colour() {
    let env = Env::small();
    let mut seen = Vec::new();
    for (term, name) in [("xterm", "a.json"), ("dumb", "b.json")] {
        // A terminal for stderr, as `script` gives one.
        let line = format!(
            "{} snapshot {}",
            env!("CARGO_BIN_EXE_dmm"),
            env.path(name).display()
        );
        let out = env
            .dmm()
            .env_remove("NO_COLOR")
            .env("TERM", term)
            .output_of_shell(&format!("script -qec '{line}' /dev/null"));
        check_no_key(&out);
        assert_eq!(code(&out), 0, "{term}: {}", text(&out));
        seen.push((term, has_colour(&out.stdout) || has_colour(&out.stderr)));
    }
    assert_eq!(
        seen,
        [("xterm", true), ("dumb", false)],
        "colour on a terminal unless TERM=dumb"
    );
}

#[test]
fn a_device_or_pseudo_file_as_the_journal_is_not_called_damaged() {
    let env = Env::small();
    env.take_snapshot();
    let snap = env.snapshot().to_str().unwrap().to_owned();
    for journal in ["/dev/null", "/proc/version"] {
        if !std::path::Path::new(journal).exists() {
            continue;
        }
        for args in [
            vec!["status", &snap, "--journal", journal],
            vec!["shutdown", &snap, "--journal", journal, "--yes"],
        ] {
            let out = env.run(&args);
            assert_eq!(code(&out), 2, "{args:?}: {}", text(&out));
            let line = one_error_line(&out);
            assert!(line.contains("is not a journal file"), "{line}");
            assert!(
                !line.contains("damaged") && !line.contains("audit"),
                "{line}"
            );
        }
    }
}

#[test]
fn scratch_copies_go_beside_the_journal_and_stale_ones_are_removed() {
    let env = Env::small();
    env.take_snapshot();
    // Left by a dmm killed while it checked the journal (no process has this pid).
    let stale = env.path(".snap.json.journal.check-4194303-0");
    std::fs::create_dir(&stale).unwrap();
    std::fs::write(stale.join("journal.redb"), vec![0u8; 1 << 20]).unwrap();
    // $TMPDIR is not there: copies must not need it.
    let tmp = env.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = env
        .dmm()
        .env("TMPDIR", &tmp)
        .args(env.op_args("shutdown", &[]))
        .output()
        .unwrap();
    check_no_key(&out);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(!stale.exists(), "the stale copy is removed");
    let left: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .chain(std::fs::read_dir(&tmp).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".check-") || n.starts_with("dmm-journal"))
        .collect();
    assert!(left.is_empty(), "no copy left behind: {left:?}");
    assert!(
        std::fs::read_dir(&tmp).unwrap().next().is_none(),
        "nothing in $TMPDIR"
    );
}

// ---------------------------------------------------------------------------------------------
// An error page that quotes the request, headers and key included.

/// Gateways and debug error pages echo the request in a 5xx body; dmm quotes error bodies in
/// its log, its journal, its status and its report, so the key must be cut out of the body
/// before any of them sees it.
#[test]
fn an_error_page_that_echoes_the_request_never_carries_the_key_anywhere() {
    use domino_sim::{FaultsPatch, RefuseRule};
    let env = medium();
    env.take_snapshot();
    env.sim
        .set_faults(FaultsPatch {
            echo_request: Some(true),
            refuse: Some(vec![
                // Retried, each retry logged with its body.
                RefuseRule {
                    route: "POST /v4/modelProducts/{id}/stop".into(),
                    execution_id: None,
                    status: 503,
                    times: Some(4),
                    after_applying: false,
                    retry_after: None,
                },
            ]),
            ..FaultsPatch::default()
        })
        .unwrap();
    let out = env.run_op("shutdown", &["-m", "1000", "--log-format", "json", "-v"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        stderr_of(&out).contains("x-domino-api-key: [credent"),
        "the echo reached the log, without the key: {}",
        text(&out)
    );

    let journal = std::fs::read(env.journal()).unwrap();
    assert!(
        !journal.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
        "the key is in the journal file"
    );
    let snap = env.snapshot().to_str().unwrap().to_owned();
    for args in [
        vec!["status", snap.as_str(), "--json"],
        vec!["journal", snap.as_str()],
        vec!["journal", snap.as_str(), "--json"],
    ] {
        env.run(&args); // check_no_key inside
    }
    let report = env.markdown_report();
    assert!(!report.contains(KEY), "the key is in the report");
}
