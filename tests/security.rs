//! Security: the API key never shows in output, logs (any verbosity, text or JSON), the journal
//! or the snapshot, in success and in failure; files are private; TLS verification is on unless
//! turned off, loudly.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use common::*;
use domino_sim::{Faults, FaultsPatch};

const WRONG_KEY: &str = "wrong-secret-key-d41c8e";

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn no_secret(out: &Output, what: &str) {
    for key in [KEY, WRONG_KEY] {
        assert!(
            !contains(&out.stdout, key) && !contains(&out.stderr, key),
            "{what}: a key leaked:\n{}",
            text(out)
        );
    }
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{what}: {}",
        text(out)
    );
}

fn no_secret_in_file(path: &Path) {
    if let Ok(bytes) = std::fs::read(path) {
        for key in [KEY, WRONG_KEY] {
            assert!(!contains(&bytes, key), "{} holds a key", path.display());
        }
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every command at -vv in both log formats, under faults (so retries and their URLs are
/// logged) and in failure modes.
#[test]
fn the_api_key_never_appears_anywhere() {
    let env = Env::new(config(small_spec()).faults(Faults {
        error_rate: 0.08,
        rate_limit_rate: 0.04,
        retry_after_s: 0,
        drop_rate: 0.02,
        ..Faults::none()
    }));
    let snap = env.snapshot();
    let snap = snap.to_str().unwrap();
    let mut checked = 0;
    for (i, format) in ["text", "json"].into_iter().enumerate() {
        let log = ["-vv", "--log-format", format];
        let snap_i = env.path(&format!("snap-{i}.json"));
        let snap_i = snap_i.to_str().unwrap();
        let fast = ["--poll-interval-ms", "20", "--rate-limit", "2000"];
        let runs: Vec<Vec<&str>> = vec![
            vec!["snapshot", snap_i],
            vec!["shutdown", snap_i, "--yes"],
            vec!["status", snap_i],
            vec!["status", snap_i, "--json"],
            vec!["journal", snap_i],
            vec!["journal", snap_i, "--json"],
            vec!["verify", snap_i, "--expect", "stopped"],
            vec!["restore", snap_i, "--yes"],
            vec!["journal", snap_i, "--json"],
        ];
        for args in runs {
            let mut cmd = env.dmm();
            cmd.args(&args).args(log);
            if args[0] == "shutdown" || args[0] == "restore" {
                cmd.args(fast);
            }
            let out = cmd.output().unwrap();
            no_secret(&out, &format!("{args:?} {format}"));
            assert!(code(&out) <= 1, "{args:?}: {}", text(&out));
            if format == "json" && args[0] == "shutdown" {
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(
                    stderr.lines().any(|l| l.starts_with('{')),
                    "JSON logs: {stderr}"
                );
            }
            checked += 1;
        }
        no_secret_in_file(Path::new(snap_i));
        no_secret_in_file(Path::new(&format!("{snap_i}.journal")));
    }

    // Failures: a wrong key (which must not leak either), an unreachable host, a key file.
    env.sim.replace_faults(Faults::none()).unwrap();
    env.take_snapshot();
    for args in [
        vec!["snapshot", "/nonexistent/dir/x.json"],
        vec!["shutdown", snap, "--yes"],
        vec!["restore", snap, "--yes"],
        vec!["verify", snap, "--expect", "running"],
    ] {
        for format in ["text", "json"] {
            let out = env
                .dmm()
                .env("DOMINO_API_KEY", WRONG_KEY)
                .args(&args)
                .args(["-vv", "--log-format", format])
                .output()
                .unwrap();
            no_secret(&out, &format!("401 {args:?} {format}"));
            assert_ne!(code(&out), 0);
            checked += 1;
        }
    }
    let key_file = env.path("key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    let out = env
        .dmm()
        .env_remove("DOMINO_API_KEY")
        .env("DOMINO_API_KEY_FILE", &key_file)
        .args(["verify", snap, "--expect", "running", "-vv"])
        .output()
        .unwrap();
    no_secret(&out, "key file");
    assert!(code(&out) <= 1, "{}", text(&out));
    checked += 1;

    no_secret_in_file(&env.snapshot());
    no_secret_in_file(&env.journal());
    eprintln!("security: {checked} invocations grepped for the key");
}

/// Failed requests are logged with their URLs at -vv: an unreachable host, and a deployment
/// answering many 5xx.
#[test]
fn the_api_key_never_appears_in_failed_requests() {
    let env = Env::small();
    env.take_snapshot();
    let snap = env.snapshot();
    let snap = snap.to_str().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let out = env
        .dmm()
        .env("DOMINO_HOSTNAME", format!("http://127.0.0.1:{port}"))
        .args([
            "snapshot",
            "/tmp/never-written.json",
            "-vv",
            "--log-format",
            "json",
        ])
        .output()
        .unwrap();
    no_secret(&out, "unreachable -vv");
    assert_ne!(code(&out), 0);

    env.sim
        .set_faults(FaultsPatch {
            error_rate: Some(0.3),
            retry_after_s: Some(0),
            ..Default::default()
        })
        .unwrap();
    for format in ["text", "json"] {
        let out = env
            .dmm()
            .args([
                "verify",
                snap,
                "--expect",
                "running",
                "-vv",
                "--log-format",
                format,
            ])
            .output()
            .unwrap();
        no_secret(&out, "many 5xx");
    }
    assert!(env.sim.requests().faults.errors > 0);
}

#[test]
fn snapshot_and_journal_files_are_private() {
    let env = Env::small();
    env.take_snapshot();
    assert_eq!(mode(&env.snapshot()), 0o600, "snapshot mode");
    let out = env.run_op("shutdown", &["-s", "scheduled-job"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(mode(&env.journal()), 0o600, "journal mode");
    // A journal elsewhere, too.
    let other = env.path("elsewhere.journal");
    let out = env.run_op(
        "shutdown",
        &["-s", "app", "--journal", other.to_str().unwrap()],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(mode(&other), 0o600, "journal given with --journal");
}

#[test]
fn turning_tls_verification_off_warns() {
    let env = Env::small();
    let snap = env.path("s.json");
    let out = env
        .dmm()
        .env("DOMINO_SSL_NO_VERIFY", "true")
        .args(["snapshot", snap.to_str().unwrap()])
        .output()
        .unwrap();
    no_secret(&out, "no verify");
    assert_eq!(code(&out), 0, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        stderr.contains("warn") && (stderr.contains("tls") || stderr.contains("certificate")),
        "no warning: {}",
        text(&out)
    );
    // Quiet does not hide it.
    let snap = env.path("s2.json");
    let out = env
        .dmm()
        .env("DOMINO_SSL_NO_VERIFY", "true")
        .args(["snapshot", snap.to_str().unwrap(), "-q"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        stderr.contains("tls") || stderr.contains("certificate"),
        "-q hid the warning: {}",
        text(&out)
    );
    // Off by default: nothing about it.
    let snap = env.path("s3.json");
    let out = env
        .dmm()
        .args(["snapshot", snap.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stderr)
            .to_lowercase()
            .contains("verification is off"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_ca_bundle_that_is_not_pem_is_refused() {
    let env = Env::small();
    let bundle = env.path("ca.pem");
    std::fs::write(&bundle, "not a certificate").unwrap();
    let snap = env.path("s.json");
    let out = env
        .dmm()
        .args([
            "snapshot",
            snap.to_str().unwrap(),
            "--ca-cert",
            bundle.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    no_secret(&out, "bad CA bundle");
    assert_eq!(code(&out), 2, "{}", text(&out));
    let missing = env.path("missing.pem");
    let out = env
        .dmm()
        .args([
            "snapshot",
            snap.to_str().unwrap(),
            "--ca-cert",
            missing.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(!snap.exists());
}

/// A TLS front for the simulator: a certificate for 127.0.0.1 signed by a CA made here, each
/// connection decrypted and passed on to the simulator's plain port. Returns the CA in PEM.
struct TlsFront {
    url: String,
    ca_pem: String,
    _rt: tokio::runtime::Runtime,
}

fn tls_front(backend: std::net::SocketAddr) -> TlsFront {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    use tokio_rustls::rustls;

    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "dmm test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).unwrap();

    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(server));
    let (rt, listener) = loopback_server_runtime();
    let url = format!("https://{}", listener.local_addr().unwrap());
    rt.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    TlsFront {
        url,
        ca_pem: ca.pem(),
        _rt: rt,
    }
}

#[test]
fn tls_is_verified_and_a_custom_ca_bundle_works() {
    let env = Env::small();
    let front = tls_front(env.sim.addr());
    let ca = env.path("ca.pem");
    std::fs::write(&ca, &front.ca_pem).unwrap();

    // Verification on, CA unknown: refused with a clear line, at once (a rejected certificate
    // is not retried), nothing written.
    let snap = env.path("untrusted.json");
    let started = std::time::Instant::now();
    let out = env
        .dmm()
        .env("DOMINO_HOSTNAME", &front.url)
        .args(["snapshot", snap.to_str().unwrap()])
        .output()
        .unwrap();
    no_secret(&out, "untrusted TLS");
    assert_ne!(code(&out), 0, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line: {}", text(&out)));
    let lower = line.to_lowercase();
    assert!(
        lower.contains("certificate") || lower.contains("tls"),
        "the error does not say it is about TLS: {line}"
    );
    assert_eq!(
        code(&out),
        2,
        "an untrusted certificate is configuration to fix: {line}"
    );
    eprintln!(
        "untrusted TLS: exit {} after {:?}: {line}",
        code(&out),
        started.elapsed()
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "a rejected certificate was retried"
    );
    assert!(!snap.exists());

    // The CA bundle makes it work, with verification on.
    let snap = env.path("trusted.json");
    let out = env
        .dmm()
        .env("DOMINO_HOSTNAME", &front.url)
        .args([
            "snapshot",
            snap.to_str().unwrap(),
            "--ca-cert",
            ca.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    no_secret(&out, "trusted TLS");
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(snap.exists());
    // DOMINO_CA_CERT does the same, for a run that reads the deployment.
    env.take_snapshot();
    let out = env
        .dmm()
        .env("DOMINO_HOSTNAME", &front.url)
        .env("DOMINO_CA_CERT", &ca)
        .args([
            "verify",
            env.snapshot().to_str().unwrap(),
            "--expect",
            "running",
        ])
        .output()
        .unwrap();
    no_secret(&out, "trusted TLS via env");
    assert_eq!(code(&out), 0, "{}", text(&out));

    // Verification off also connects (and warns).
    let snap = env.path("noverify.json");
    let out = env
        .dmm()
        .env("DOMINO_HOSTNAME", &front.url)
        .env("DOMINO_SSL_NO_VERIFY", "true")
        .args(["snapshot", snap.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
}

/// `dmm preflight` says whether the host's certificate is trusted: not without the CA (with the
/// hint to add it), yes with `--ca-cert`, and loudly when verification is off.
#[test]
fn preflight_says_whether_the_tls_certificate_is_trusted() {
    let env = Env::small();
    let front = tls_front(env.sim.addr());
    let ca = env.path("ca.pem");
    std::fs::write(&ca, &front.ca_pem).unwrap();
    let connection = |out: &std::process::Output| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.contains(" connection "))
            .unwrap_or_else(|| panic!("no connection line: {}", text(out)))
            .to_owned()
    };

    let out = env
        .dmm()
        .env("DOMINO_HOSTNAME", &front.url)
        .arg("preflight")
        .output()
        .unwrap();
    no_secret(&out, "preflight, untrusted TLS");
    assert_eq!(code(&out), 2, "{}", text(&out));
    let line = connection(&out);
    assert!(line.starts_with('✗'), "{line}");
    assert!(
        line.contains("certificate") && line.contains("--ca-cert"),
        "{line}"
    );

    let out = env
        .dmm()
        .env("DOMINO_HOSTNAME", &front.url)
        .args(["preflight", "--ca-cert", ca.to_str().unwrap()])
        .output()
        .unwrap();
    no_secret(&out, "preflight, trusted TLS");
    let line = connection(&out);
    assert!(line.starts_with('✓'), "{line}");
    assert!(line.contains("TLS certificate is trusted"), "{line}");

    let out = env
        .dmm()
        .env("DOMINO_HOSTNAME", &front.url)
        .env("DOMINO_SSL_NO_VERIFY", "true")
        .arg("preflight")
        .output()
        .unwrap();
    let line = connection(&out);
    assert!(line.starts_with('!'), "{line}");
    assert!(line.contains("TLS verification is OFF"), "{line}");
    assert!(code(&out) >= 1, "{}", text(&out));
}

/// A JSON log line is decoded by whatever shows it (a log viewer): a name's bidi control or
/// ANSI escape must arrive there written out, not as a JSON escape that decodes to it.
#[test]
fn json_log_lines_carry_hostile_names_written_out() {
    let hostile = "inv\u{202E}gnp.exe\u{0}\u{7}\u{1b}[31mred";
    let scenario = scenario_of(
        serde_json::json!({"projects": [{"name": "proj", "owner": "alice",
            "apps": [{"name": hostile, "state": "running", "owner": hostile}]}]}),
    );
    let env = Env::new(
        domino_sim::SimConfig::default()
            .api_key(KEY)
            .seed(5)
            .scenario(scenario)
            .transition(20, 10),
    );
    env.take_snapshot();
    refuse(&env, "POST /v4/modelProducts/{id}/stop", None, 400, None);
    let out = env.run_op("shutdown", &["--log-format", "json", "--no-verify"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    let mut named = 0;
    for line in stderr.lines() {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let decoded = value.to_string();
        assert!(!line.contains("\\u"), "a JSON escape in {line}");
        for s in value
            .as_object()
            .unwrap()
            .values()
            .filter_map(|v| v.as_str())
        {
            assert!(
                !s.chars()
                    .any(|c| c.is_control() || dmm::visible::is_hidden(c)),
                "{decoded}"
            );
            named += usize::from(s.contains("inv<U+202E>gnp.exe<U+0000><U+0007><U+001B>[31mred"));
        }
    }
    assert!(named > 0, "the failure names the App: {stderr}");
}
