//! The command line a user meets first: shell completions and help, from the built binary.

use std::process::{Command, Output};

const SUBCOMMANDS: [&str; 8] = [
    "preflight",
    "snapshot",
    "shutdown",
    "restore",
    "verify",
    "status",
    "journal",
    "completions",
];

fn dmm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dmm"))
        .args(args)
        // Help and completions must need no deployment: nothing from the caller's shell leaks in.
        .env_remove("DOMINO_HOSTNAME")
        .env_remove("DOMINO_API_KEY")
        .env_remove("DOMINO_API_KEY_FILE")
        .output()
        .expect("the dmm binary runs")
}

fn stdout_of(args: &[&str]) -> String {
    let out = dmm(args);
    assert!(
        out.status.success(),
        "dmm {} exited with {:?}\nstderr:\n{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("output is UTF-8")
}

#[test]
fn completion_scripts_know_the_subcommands() {
    for shell in ["bash", "zsh", "fish"] {
        let script = stdout_of(&["completions", shell]);
        assert!(!script.trim().is_empty(), "empty {shell} completion script");
        assert!(
            script.contains("shutdown"),
            "the {shell} completion script does not mention shutdown"
        );
    }
}

#[test]
fn an_unknown_shell_is_refused() {
    let out = dmm(&["completions", "no-such-shell"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn top_level_help_shows_an_example_window() {
    let help = stdout_of(&["--help"]);
    for sub in SUBCOMMANDS {
        assert!(help.contains(sub), "--help does not list {sub}:\n{help}");
    }
    assert!(
        help.contains("dmm snapshot before-upgrade.json"),
        "--help shows no example:\n{help}"
    );
}

#[test]
fn every_subcommand_help_shows_an_example() {
    for sub in SUBCOMMANDS {
        let help = stdout_of(&[sub, "--help"]);
        assert!(
            help.contains("Example"),
            "dmm {sub} --help shows no example:\n{help}"
        );
        assert!(
            help.contains(&format!("dmm {sub}")),
            "the example of dmm {sub} --help does not use it:\n{help}"
        );
    }
}
