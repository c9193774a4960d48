//! The Kubernetes manifests of `deploy/kubernetes/`: every exit code of the README's table is
//! mapped by each Job's podFailurePolicy (1 and 2 fail the Job, 3 and 4 retry it), the deadline
//! dmm is given ends before the Job's own, and the command lines they run are accepted by `dmm`
//! (run against the simulator: the snapshot for real, shutdown and restore with --dry-run).
//!
//! The manifests are read line by line rather than with a YAML crate: they are written in one
//! plain shape (block lists, `values: [..]` flow lists), and no YAML parser is in the
//! dependency tree; adding one for a test of three files is not worth its weight.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/kubernetes");
/// The time dmm's --deadline leaves before the Job's activeDeadlineSeconds.
const MARGIN: Duration = Duration::from_secs(300);

struct JobManifest {
    path: PathBuf,
    restart_policy: String,
    active_deadline: Duration,
    backoff_limit: u32,
    /// Exit code → the podFailurePolicy action.
    actions: BTreeMap<i32, String>,
    args: Vec<String>,
    /// `terminationGracePeriodSeconds` of the pod, as written.
    grace: Option<String>,
    /// The lines of each `env:` entry, by variable name (`name:` line left out, trimmed).
    env: BTreeMap<String, Vec<String>>,
}

fn value_of(text: &str, key: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().to_string())
}

fn read_job(path: &Path) -> JobManifest {
    let text = std::fs::read_to_string(path).unwrap();
    let field = |key: &str| {
        value_of(&text, key).unwrap_or_else(|| panic!("{} has no {key}", path.display()))
    };
    let mut actions = BTreeMap::new();
    let mut action = String::new();
    for line in text.lines().map(str::trim) {
        if let Some(a) = line.strip_prefix("- action:") {
            action = a.trim().to_string();
        }
        if let Some(list) = line.strip_prefix("values:") {
            for code in list.trim().trim_matches(['[', ']']).split(',') {
                let code: i32 = code.trim().parse().expect("an exit code");
                assert!(
                    actions.insert(code, action.clone()).is_none(),
                    "exit code {code} mapped twice in {}",
                    path.display()
                );
            }
        }
    }
    // The container's args: the block list under `args:`, comments left out.
    let mut args = Vec::new();
    let mut lines = text.lines().skip_while(|l| l.trim() != "args:");
    let indent = lines.next().map(|l| l.len() - l.trim_start().len());
    for line in lines {
        let trimmed = line.trim_start();
        let at = line.len() - trimmed.len();
        if trimmed.starts_with('#') {
            continue;
        }
        if Some(at) <= indent {
            break;
        }
        args.push(trimmed.strip_prefix("- ").expect("a list item").to_string());
    }
    // The container's environment: the block list under `env:`, one entry per `- name:`.
    let mut env: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut lines = text.lines().skip_while(|l| l.trim() != "env:");
    let indent = lines.next().map(|l| l.len() - l.trim_start().len());
    let mut current = None;
    for line in lines {
        let trimmed = line.trim_start();
        let at = line.len() - trimmed.len();
        if trimmed.starts_with('#') {
            continue;
        }
        if Some(at) < indent || (Some(at) == indent && !trimmed.starts_with("- ")) {
            break;
        }
        if let Some(name) = trimmed.strip_prefix("- name:") {
            current = Some(name.trim().to_string());
            env.insert(name.trim().to_string(), Vec::new());
        } else if let Some(name) = &current {
            env.get_mut(name).unwrap().push(trimmed.to_string());
        }
    }
    JobManifest {
        path: path.to_path_buf(),
        grace: value_of(&text, "terminationGracePeriodSeconds"),
        env,
        restart_policy: field("restartPolicy"),
        active_deadline: Duration::from_secs(field("activeDeadlineSeconds").parse().unwrap()),
        backoff_limit: field("backoffLimit").parse().unwrap(),
        actions,
        args,
    }
}

fn jobs() -> Vec<JobManifest> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(DIR)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("job-"))
        })
        .collect();
    paths.sort();
    assert!(paths.len() >= 3, "snapshot, shutdown and restore Jobs");
    paths.iter().map(|p| read_job(p)).collect()
}

/// The exit codes of the README's table.
fn readme_exit_codes() -> Vec<i32> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table = readme
        .split("### Exit codes")
        .nth(1)
        .expect("an exit code section");
    table
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| {
            l.trim_start_matches('|')
                .split('|')
                .next()?
                .trim()
                .parse()
                .ok()
        })
        .collect()
}

#[test]
fn every_exit_code_is_mapped_and_the_deadlines_agree() {
    let codes = readme_exit_codes();
    assert_eq!(codes, [0, 1, 2, 3, 4], "the README's table");
    for job in jobs() {
        let name = job.path.display();
        assert_eq!(
            job.restart_policy, "Never",
            "{name}: podFailurePolicy needs Never"
        );
        for &code in codes.iter().filter(|&&c| c != 0) {
            let action = job.actions.get(&code).map(String::as_str);
            let expected = match code {
                1 | 2 => "FailJob",
                _ => "Count",
            };
            assert_eq!(action, Some(expected), "{name}: exit code {code}");
        }
        // Retries are possible, but bounded.
        assert!((2..=10).contains(&job.backoff_limit), "{name}");
        // A pod started again counts a duration --deadline from its own start, so the Job's
        // activeDeadlineSeconds may end it first, with SIGTERM: dmm then records the steps in
        // flight and exits 3, which takes longer than Kubernetes' default 30 s grace allows on
        // a slow deployment (a request in flight may take its full attempt timeout).
        let grace: u64 = job
            .grace
            .as_deref()
            .unwrap_or_else(|| panic!("{name}: no terminationGracePeriodSeconds"))
            .parse()
            .unwrap();
        assert!(grace >= 60, "{name}: terminationGracePeriodSeconds {grace}");
        if let Some(at) = job.args.iter().position(|a| a == "--deadline") {
            let deadline = humantime::parse_duration(&job.args[at + 1]).unwrap();
            assert_eq!(
                deadline + MARGIN,
                job.active_deadline,
                "{name}: --deadline must end {MARGIN:?} before activeDeadlineSeconds"
            );
            assert!(
                job.args.iter().any(|a| a == "--yes"),
                "{name}: no terminal, --yes"
            );
        }
        assert!(
            job.args
                .iter()
                .any(|a| a == "--api-key-file" || a == "--token-file"),
            "{name}: the credentials come from the mounted Secret"
        );
        // The change reference, from a ConfigMap the operator may not have made: optional, so
        // a Job without it still starts.
        assert_eq!(
            job.env
                .get("DMM_CHANGE_ID")
                .map(|lines| lines.join(" "))
                .as_deref(),
            Some("valueFrom: configMapKeyRef: name: dmm-change key: change-id optional: true"),
            "{name}: DMM_CHANGE_ID from the ConfigMap dmm-change, optional; env: {:?}",
            job.env
        );
    }
}

#[test]
fn the_command_lines_of_the_jobs_are_accepted_by_dmm() {
    let env = Env::small();
    let key = env.path("api-key");
    std::fs::write(&key, KEY).unwrap();
    let work = env.dir.path().to_str().unwrap().to_string();
    let mut by_command: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for job in jobs() {
        let args: Vec<String> = job
            .args
            .iter()
            .map(|a| {
                a.replace("/var/run/secrets/dmm/api-key", key.to_str().unwrap())
                    .replace("/work", &work)
            })
            .collect();
        by_command.insert(args[0].clone(), args);
    }
    // In the order of a maintenance: the snapshot for real, then the dry runs.
    for command in ["snapshot", "shutdown", "restore"] {
        let mut args = by_command.remove(command).expect("a Job for each command");
        if command != "snapshot" {
            args.push("--dry-run".into());
        }
        let out = env
            .dmm()
            .env_remove("DOMINO_API_KEY")
            // As the Jobs set it from the ConfigMap dmm-change.
            .env("DMM_CHANGE_ID", "CHG0012345")
            .args(&args)
            .output()
            .unwrap();
        check_no_key(&out);
        assert_eq!(code(&out), 0, "dmm {args:?}: {}", text(&out));
    }
    let status = env
        .dmm()
        .args(["status", "--json", &format!("{work}/before-upgrade.json")])
        .output()
        .unwrap();
    assert!(text(&status).contains("CHG0012345"), "{}", text(&status));
}
