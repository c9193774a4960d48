//! Runs one `dmm` command as a child process: its wall time, its peak resident memory, and the
//! moments its log lines report (when each kind ended, when verification began).
//!
//! The peak is the kernel's high-water mark of dmm's own memory (`VmHWM` in `/proc/PID/status`),
//! read every 20 ms while it runs. Not `wait4`'s `ru_maxrss`: Linux carries the parent's
//! high-water mark into a child across `exec`, and this parent holds the whole simulated
//! deployment, so `ru_maxrss` reported the bench's size, not dmm's, once the bench had grown.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use domino_sim::{RequestLog, SimHandle};

/// A log line of interest, and when the bench read it.
#[derive(Clone, Debug)]
pub struct Mark {
    pub at: Duration,
    pub line: String,
}

pub struct Outcome {
    pub wall: Duration,
    pub peak_rss_kib: u64,
    /// CPU time of dmm (user + system).
    pub cpu: Duration,
    /// Lines reporting a kind's end (`every step has ended`) and the start of verification.
    pub marks: Vec<Mark>,
    /// When verification began (the steps had all ended), and the simulator's request log then.
    pub verify_started: Option<(Duration, RequestLog)>,
    /// Each change of the rate dmm logged (`pace: A → B requests/s`, at debug for
    /// `dmm::domino::limiter`), with when the bench read it: the new rate.
    pub rates: Vec<(Duration, f64)>,
}

/// The new rate of a `pace: A → B requests/s: why` line.
fn rate_change(line: &str) -> Option<f64> {
    let (_, after) = line.split_once("pace: ")?;
    let (_, to) = after.split_once(" → ")?;
    to.split_once(" requests/s")?.0.trim().parse().ok()
}

/// Runs `dmm args...` against `sim`; panics with the child's output if it does not exit 0.
pub fn run_dmm(dmm: &Path, sim: &SimHandle, args: &[String]) -> Outcome {
    let mut command = Command::new(dmm);
    command
        .args(args)
        .env("DOMINO_HOSTNAME", sim.base_url())
        .env("DOMINO_API_KEY", sim.api_key())
        .env("NO_COLOR", "1")
        // The progress lines (each kind's end, the start of verification) are info, shown on
        // -v, and the changes of the rate are the limiter's debug lines; only dmm's own, so that
        // the marks cost the run little else.
        .env(
            "RUST_LOG",
            std::env::var("DMM_BENCH_RUST_LOG")
                .unwrap_or_else(|_| "warn,dmm=info,dmm::domino::limiter=debug".to_string()),
        )
        .env_remove("DOMINO_API_KEY_FILE")
        .env_remove("DOMINO_SSL_NO_VERIFY")
        .env_remove("DOMINO_CA_CERT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", dmm.display()));
    let pid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");

    let running = std::sync::atomic::AtomicBool::new(true);
    std::thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let mut peak = 0u64;
            while running.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(kib) = vm_hwm_kib(pid) {
                    peak = peak.max(kib);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        });
        let out_reader = scope.spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            text
        });
        let err_reader = scope.spawn(move || {
            // For diagnosis: every line of dmm's log, appended to this file.
            let mut copy = std::env::var_os("DMM_BENCH_STDERR").map(|path| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .unwrap_or_else(|e| panic!("DMM_BENCH_STDERR: {e}"))
            });
            let mut marks = Vec::new();
            let mut verify_started = None;
            let mut rates = Vec::new();
            let mut tail: Vec<String> = Vec::new();
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let at = started.elapsed();
                if let Some(file) = copy.as_mut() {
                    use std::io::Write;
                    let _ = writeln!(file, "{:.3} {line}", at.as_secs_f64());
                }
                if let Some(rate) = rate_change(&line) {
                    rates.push((at, rate));
                }
                if line.contains("verifying:") && verify_started.is_none() {
                    verify_started = Some((at, sim.requests()));
                }
                if line.contains("verifying:") || line.contains("every step has ended") {
                    marks.push(Mark {
                        at,
                        line: line.clone(),
                    });
                }
                tail.push(line);
                if tail.len() > 40 {
                    tail.remove(0);
                }
            }
            (marks, verify_started, rates, tail)
        });

        let (status, rusage) = wait4(pid);
        let wall = started.elapsed();
        running.store(false, std::sync::atomic::Ordering::Relaxed);
        let peak_rss_kib = sampler.join().expect("memory sampler");
        // The child is reaped: `Child` must not wait for it again (dropping it does not).
        drop(child);
        let stdout = out_reader.join().expect("stdout reader");
        let (marks, verify_started, rates, tail) = err_reader.join().expect("stderr reader");
        if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
            panic!(
                "`dmm {}` failed (wait status {status:#x})\n--- stdout ---\n{stdout}\n--- stderr (last lines) ---\n{}",
                args.join(" "),
                tail.join("\n")
            );
        }
        Outcome {
            wall,
            peak_rss_kib,
            cpu: timeval(rusage.ru_utime) + timeval(rusage.ru_stime),
            marks,
            verify_started,
            rates,
        }
    })
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
}

fn wait4(pid: libc::pid_t) -> (libc::c_int, libc::rusage) {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data that wait4 fills in; zeroed is a valid value for it.
    let mut rusage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our own child, not reaped elsewhere; both pointers are valid.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut rusage) };
        if r == pid {
            return (status, rusage);
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            panic!("wait4({pid}) failed: {err}");
        }
    }
}

/// `VmHWM` of a running process, in KiB; `None` once it has exited (or on another system).
fn vm_hwm_kib(pid: libc::pid_t) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
