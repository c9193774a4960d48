//! Service-account tokens end to end: read from DOMINO_TOKEN_FILE, sent as a bearer token,
//! read again on a 401 so that a rotation mid-run costs nothing, and never printed.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use dmm::journal::{Operation, StepPhase};

const FIRST: &str = "svc-token-first-5d1c8e";
const SECOND: &str = "svc-token-second-9a7b2f";

/// `dmm` with the token file instead of the API key.
fn dmm_with_token(env: &Env, file: &Path) -> Command {
    let mut c = env.dmm();
    c.env_remove("DOMINO_API_KEY")
        .env("DOMINO_TOKEN_FILE", file);
    c
}

fn no_token_in(all: &str) {
    for token in [FIRST, SECOND] {
        assert!(!all.contains(token), "a token leaked: {all}");
    }
}

#[test]
fn a_token_rotated_mid_shutdown_is_picked_up_and_no_step_fails() {
    let env = Env::new(
        config(small_spec())
            .transition(700, 100)
            .bearer_token(FIRST),
    );
    let token = env.path("token");
    std::fs::write(&token, format!("{FIRST}\n")).unwrap();
    let snap = env.snapshot();
    let out = dmm_with_token(&env, &token)
        .args(["snapshot", snap.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));

    let child = dmm_with_token(&env, &token)
        .args(env.op_args("shutdown", &[]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Stops are out and the run waits for them to arrive: now the platform rotates the token.
    wait_for(Duration::from_secs(20), "the first stops", || {
        env.sim.requests().mutations.len() >= 3
    });
    std::fs::write(&token, format!("{SECOND}\n")).unwrap();
    env.sim.rotate_token(SECOND).unwrap();
    let out = child.wait_with_output().unwrap();
    let all = text(&out);
    no_token_in(&all);
    assert_eq!(code(&out), 0, "{all}");

    let requests = env.sim.requests();
    assert!(
        requests.faults.unauthorized >= 1,
        "the old token was refused mid-run: {:?}",
        requests.faults
    );
    let steps = env.steps(Operation::Shutdown);
    assert!(!steps.is_empty());
    assert!(
        steps.iter().all(|s| s.phase == StepPhase::Confirmed),
        "{steps:#?}"
    );
    for file in [env.snapshot(), env.journal()] {
        for t in [FIRST, SECOND] {
            assert!(!file_contains(&file, t), "{} holds a token", file.display());
        }
    }
}

#[test]
fn a_refused_token_that_the_file_still_holds_stops_at_once() {
    let env = Env::new(config(small_spec()).bearer_token(SECOND));
    let token = env.path("token");
    std::fs::write(&token, FIRST).unwrap();
    let out = dmm_with_token(&env, &token)
        .args(["snapshot", env.snapshot().to_str().unwrap()])
        .output()
        .unwrap();
    let all = text(&out);
    no_token_in(&all);
    assert_eq!(code(&out), 2, "{all}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refused"),
        "{all}"
    );
    // Read again, the same token: not worth a second request.
    assert_eq!(env.sim.requests().total, 1);
    assert!(!env.snapshot().exists());

    // A missing token file is a configuration error before any request.
    let out = dmm_with_token(&env, &env.path("missing"))
        .args(["snapshot", env.snapshot().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("token file"), "{stderr}");
    assert_eq!(env.sim.requests().total, 1);
}

/// A JWT whose `exp` is `exp` (header and signature are not checked by dmm).
fn jwt(exp: u64) -> String {
    const TABLE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let claims = format!(r#"{{"sub":"svc-maintenance","exp":{exp}}}"#);
    let mut payload = String::new();
    for chunk in claims.as_bytes().chunks(3) {
        let n = chunk.iter().fold(0u32, |n, &b| (n << 8) | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            payload.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    format!("eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.{payload}.c2lnbmF0dXJlLW5vdC1jaGVja2Vk")
}

#[test]
fn a_jwt_that_expires_within_12_hours_is_warned_about() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for (exp, warned) in [(now + 3600, true), (now + 48 * 3600, false)] {
        let token = jwt(exp);
        let env = Env::new(config(small_spec()).bearer_token(token.clone()));
        let file = env.path("token");
        std::fs::write(&file, &token).unwrap();
        let out = dmm_with_token(&env, &file)
            .args(["snapshot", env.snapshot().to_str().unwrap()])
            .output()
            .unwrap();
        let all = text(&out);
        assert_eq!(code(&out), 0, "{all}");
        assert!(!all.contains(&token), "the token leaked: {all}");
        // Once, when the token is first read, however many times the configuration is checked.
        assert_eq!(
            all.matches("expires within 12 hours").count(),
            usize::from(warned),
            "{all}"
        );
    }
}

#[test]
fn a_refused_token_is_named_as_the_token_and_a_key_beside_it_is_said_unused() {
    let env = Env::new(config(small_spec()).bearer_token(FIRST));
    let token = env.path("token");
    std::fs::write(&token, "svc-token-not-this-one\n").unwrap();
    let snap = env.snapshot();
    let out = dmm_with_token(&env, &token)
        .args(["snapshot", snap.to_str().unwrap()])
        .output()
        .unwrap();
    let all = text(&out);
    eprintln!("{all}");
    assert_eq!(code(&out), 2, "{all}");
    assert!(all.contains("service-account token was refused"), "{all}");
    assert!(!all.contains("API key"), "no API key was sent: {all}");

    // A key and a token: the token is sent, and one warning says so.
    std::fs::write(&token, format!("{FIRST}\n")).unwrap();
    let out = env
        .dmm()
        .env("DOMINO_TOKEN_FILE", &token)
        .args(["snapshot", snap.to_str().unwrap()])
        .output()
        .unwrap();
    let all = text(&out);
    check_no_key(&out);
    no_token_in(&all);
    assert_eq!(code(&out), 0, "{all}");
    let warnings = all.matches("the token is sent").count();
    assert_eq!(warnings, 1, "one warning names the credential used: {all}");
}
