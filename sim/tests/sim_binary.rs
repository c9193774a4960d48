//! The `domino-sim` binary: prints its listening line, serves, exits 0 on SIGTERM, 2 on bad flags.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_domino-sim");

#[tokio::test]
async fn prints_the_listening_line_serves_and_stops_on_sigterm() {
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/scenarios/small.json");
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--api-key", "secret-key-123"])
        .args([
            "--scenario",
            scenario,
            "--seed",
            "3",
            "--path-prefix",
            "/domino",
            "--max-page-size",
            "1",
            "--require-content-length",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let base = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let projects: serde_json::Value = client
        .get(format!("{base}/domino/v4/projects"))
        .header("X-Domino-Api-Key", "secret-key-123")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(projects.as_array().unwrap().len(), 2);
    let unauthorized = client
        .get(format!("{base}/domino/v4/projects"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);
    let page: serde_json::Value = client
        .get(format!(
            "{base}/domino/v4/workspace/adminDashboardRowData?limit=50&offset=0"
        ))
        .header("X-Domino-Api-Key", "secret-key-123")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["tableRows"].as_array().unwrap().len(), 1, "{page}");
    // A stop of a workspace that never ran: 411 without a length, then served, and a violation.
    let stop = format!(
        "{base}/domino/v4/workspace/project/5f0000000000000000000001/workspace/c00000000000000000000002/stop"
    );
    let post = |length: Option<&str>| {
        let mut request = client
            .post(&stop)
            .header("X-Domino-Api-Key", "secret-key-123");
        if let Some(length) = length {
            request = request.header("Content-Length", length);
        }
        request.send()
    };
    assert_eq!(post(None).await.unwrap().status(), 411);
    assert_eq!(post(Some("0")).await.unwrap().status(), 200);

    // SAFETY: sending a signal to our own child process by its id.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{:?}", output.status);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("secret-key-123"), "{stderr}");
    // On its way out it lists the violations it recorded.
    assert!(
        stderr.contains("domino-sim: violation: Workspace c00000000000000000000002: a stop of a workspace that never ran"),
        "{stderr}"
    );
}

#[test]
fn bad_flags_exit_2_with_one_clear_line() {
    let stderr = refused(["--api-key", "k", "--apps", "many"]);
    assert!(
        stderr.starts_with("error: invalid value 'many'"),
        "{stderr}"
    );

    let stderr = refused(["--api-key", "k", "--error-rate", "3"]);
    assert!(
        stderr.contains("errorRate must be between 0 and 1"),
        "{stderr}"
    );

    let stderr = refused(["--api-key", "k", "--scenario", "/nonexistent/scenario.json"]);
    assert!(stderr.contains("cannot read scenario"), "{stderr}");
}

/// Runs the binary with `args`, asserts that it exits 2 (bad input), and returns its stderr.
fn refused<const N: usize>(args: [&str; N]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{args:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn help_has_an_example() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("Example:"));
    assert!(help.contains("--transition-ms"));
}
