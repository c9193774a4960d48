//! Every command's `--help`, rendered by the real binary, against the flags the command
//! accepts: a flag shown is accepted, a flag accepted (and not hidden) is shown with a
//! description, and a value flag says its default or that it has none to speak of.

use std::collections::BTreeSet;
use std::process::Command;

use clap::CommandFactory;
use dmm::cli::args::Cli;
use dmm::snapshot::Kind;

fn help(sub: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_dmm"))
        .env_clear()
        .env("DOMINO_HOSTNAME", "https://domino.example.com")
        .env("DOMINO_API_KEY_FILE", "")
        .args([sub, "--help"])
        .output()
        .expect("dmm runs");
    assert_eq!(out.status.code(), Some(0), "dmm {sub} --help");
    String::from_utf8(out.stdout).expect("utf-8 help")
}

/// The long flags a help text lists, each with the text that follows it up to the next flag.
fn listed(help: &str) -> Vec<(String, String)> {
    let mut flags: Vec<(String, String)> = Vec::new();
    for line in help.lines() {
        let trimmed = line.trim_start();
        // A flag starts its line at column 2 (`  -s, --service`) or 6 (`      --yes`); the
        // description's lines are indented further.
        let flag_line = line.starts_with("  -") || line.starts_with("      --");
        if flag_line {
            let at = trimmed.find("--").expect("a long flag");
            let name: String = trimmed[at + 2..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            flags.push((name, trimmed.to_string()));
        } else if let Some(last) = flags.last_mut() {
            last.1.push(' ');
            last.1.push_str(trimmed);
        }
    }
    flags
}

/// Flags whose absence is their meaning (off, none, every kind...): no `[default: ...]`.
const NO_DEFAULT: &[&str] = &[
    "hostname",
    "api-key-file",
    "token-file",
    "ssl-no-verify",
    "ca-cert",
    "notify-url",
    "metrics-file",
    "deadline",
    "change-id",
    "expect",
    "expect-head",
];

#[test]
fn every_help_lists_exactly_the_flags_its_command_accepts_each_described() {
    let mut cli = Cli::command();
    cli.build();
    for sub in cli.get_subcommands() {
        let name = sub.get_name();
        if name == "help" {
            continue;
        }
        let text = help(name);
        let shown: BTreeSet<String> = listed(&text).into_iter().map(|(n, _)| n).collect();
        let accepted: BTreeSet<String> = sub
            .get_arguments()
            .filter(|a| !a.is_hide_set())
            .filter_map(|a| a.get_long().map(str::to_owned))
            .collect();
        assert_eq!(shown, accepted, "dmm {name} --help");
        for (flag, described) in listed(&text) {
            let arg = sub
                .get_arguments()
                .find(|a| a.get_long() == Some(flag.as_str()))
                .expect("listed flag exists");
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            assert!(
                !help.trim().is_empty(),
                "dmm {name} --{flag} has no description"
            );
            let takes_value = arg.get_action().takes_values();
            if takes_value && !NO_DEFAULT.contains(&flag.as_str()) {
                assert!(
                    described.contains("[default"),
                    "dmm {name} --{flag} does not say its default: {described}"
                );
            }
            assert!(
                !described.contains("=]"),
                "an empty environment value shown: {described}"
            );
        }
        for arg in sub.get_positionals() {
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            assert!(
                !help.trim().is_empty(),
                "dmm {name} {} has no description",
                arg.get_id()
            );
        }
    }
}

#[test]
fn shutdown_and_restore_show_only_their_own_job_flags_and_every_kind() {
    let shutdown = help("shutdown");
    let restore = help("restore");
    assert!(shutdown.contains("--jobs-grace") && !shutdown.contains("--restart-jobs"));
    assert!(restore.contains("--restart-jobs") && !restore.contains("--jobs "));
    assert!(!restore.contains("--jobs-grace"));
    for kind in Kind::EVERY {
        for text in [&shutdown, &restore] {
            assert!(
                text.contains(kind.label()) && text.contains(kind.slug()),
                "-s names {kind}"
            );
        }
    }
    // Refused by the parser, as the help says.
    for (sub, flag) in [("shutdown", "--restart-jobs"), ("restore", "--jobs-grace")] {
        let out = Command::new(env!("CARGO_BIN_EXE_dmm"))
            .env_clear()
            .args([sub, "s.json", flag])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "dmm {sub} {flag}");
    }
}

#[test]
fn a_missing_expect_does_not_claim_the_hostname_is_required() {
    let out = Command::new(env!("CARGO_BIN_EXE_dmm"))
        .env_clear()
        .env("DOMINO_HOSTNAME", "https://domino.example.com")
        .args(["verify", "s.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--expect"), "{err}");
    assert!(!err.contains("--hostname"), "{err}");
}
