//! The README's first command, as written: a full maintenance cycle against the simulator.

use std::path::Path;
use std::process::Command;

#[test]
fn the_readme_demo_runs_a_full_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.contains("bash scripts/demo.sh") && readme.contains("cargo test --locked"),
        "the README opens with the demo and the test command"
    );
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_dmm")).parent().unwrap();
    build_the_simulator_beside(bin_dir, root);
    let out = Command::new("bash")
        .arg(root.join("scripts/demo.sh"))
        .env("DMM_BIN_DIR", bin_dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    for step in [
        "snapshot", "shutdown", "status", "restore", "verify", "journal",
    ] {
        assert!(
            stdout.contains(&format!("dmm {step} ")),
            "{step} did not run:\n{stdout}"
        );
    }
    assert_eq!(
        stdout.matches("verification: passed").count(),
        3,
        "shutdown, restore and verify all pass:\n{stdout}"
    );
    assert!(
        stdout.contains("Requested -> Accepted"),
        "the journal is shown:\n{stdout}"
    );
    // The demo leaves its files in a temporary folder it names; clean up after it.
    let dir = stdout
        .lines()
        .find_map(|l| l.strip_prefix("snapshot and journal are in "))
        .expect("the demo names its folder")
        .trim()
        .to_owned();
    // The simulator, stopped by the demo on its way out, lists there any request dmm must never
    // have sent.
    let sim_log = std::fs::read_to_string(Path::new(&dir).join("sim.log")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!sim_log.contains("violation"), "{sim_log}");
}

/// The demo runs the `domino-sim` binary from beside `dmm`. It is another package's binary, which
/// cargo builds for this test only when it builds the whole workspace: ask for it, in the same
/// profile and as the demo builds it, so that this test alone also runs the simulator as it is now.
fn build_the_simulator_beside(bin_dir: &Path, root: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(root)
        .args(["build", "--locked", "--quiet", "--bin", "domino-sim"]);
    if bin_dir.ends_with("release") {
        build.arg("--release");
    }
    let out = build.output().expect("cargo runs");
    assert!(
        out.status.success(),
        "building domino-sim: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        bin_dir.join("domino-sim").is_file(),
        "no domino-sim in {}",
        bin_dir.display()
    );
}
