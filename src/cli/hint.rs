//! The `next:` command lines dmm suggests: written so that pasting one into a shell runs what it
//! says, on the same snapshot and the same journal.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::journal::{JournalRead, JournalReader, Operation};
use crate::runner::{ContinueBecause, NextAction, RunFlags};

/// `dmm OP SNAPSHOT [--journal JOURNAL]`, each path quoted for a POSIX shell where it needs to
/// be. Give `journal` when the journal is not the default one beside the snapshot (an explicit
/// `--journal`, or one found elsewhere); callers append the flags of their case.
pub fn command(op: &str, snapshot: &Path, journal: Option<&Path>) -> String {
    let mut line = format!("dmm {op} {}", quote(&snapshot.to_string_lossy()));
    if let Some(j) = journal {
        line.push_str(" --journal ");
        line.push_str(&quote(&j.to_string_lossy()));
    }
    line
}

/// A command that does `op` again with the flags of a run that change what is done (`-s`,
/// `--jobs`, `--jobs-grace`, `--restart-jobs`), on the same snapshot and journal.
pub fn continuation(
    op: Operation,
    snapshot: &Path,
    journal: Option<&Path>,
    flags: &RunFlags,
) -> String {
    let mut line = command(op.as_str(), snapshot, journal);
    if let Some(kind) = flags.only {
        line.push_str(" -s ");
        line.push_str(&quote(kind.label()));
    }
    if let Some(jobs) = &flags.jobs {
        line.push_str(" --jobs ");
        line.push_str(jobs.word());
    }
    if let Some(grace) = flags.jobs_grace_s {
        line.push_str(" --jobs-grace ");
        line.push_str(
            &humantime::format_duration(Duration::from_secs(grace))
                .to_string()
                .replace(' ', ""),
        );
    }
    if flags.restart_jobs {
        line.push_str(" --restart-jobs");
    }
    line
}

/// What to do next, as the text after `next: `: the one decision of [`NextAction`], written
/// out with commands that run as pasted.
pub fn next_line(next: &NextAction, snapshot: &Path, journal: Option<&Path>) -> String {
    let verify = |op: Operation| verify_command(op, snapshot);
    match next {
        NextAction::Shutdown => command("shutdown", snapshot, journal),
        NextAction::Continue {
            op,
            flags,
            because,
            unfinished,
        } => continue_line(
            because,
            *unfinished,
            &continuation(*op, snapshot, journal, flags),
        ),
        NextAction::RetryFailed { op, flags, failed } => format!(
            "look at the {failed} failure(s) ({} --failed), then run: {} --retry-failed",
            command("journal", snapshot, journal),
            continuation(*op, snapshot, journal, flags)
        ),
        NextAction::LookAtUndecided { op, undecidable } => format!(
            "look at the {undecidable} {op} step(s) that cannot tell whether their restart ran ({} --failed): check their projects' jobs and restart by hand what did not run; retrying cannot tell",
            command("journal", snapshot, journal)
        ),
        NextAction::CheckAgain { op } => format!(
            "look at the last verification ({}), then check again with: {}",
            command("status", snapshot, journal),
            verify(*op)
        ),
        NextAction::RemainingKinds { op, flags, kinds } => {
            let kinds: Vec<&str> = kinds.iter().map(|k| k.label()).collect();
            let (state, then) = match op {
                Operation::Shutdown => ("stopped", ", then upgrade Domino"),
                Operation::Restore => ("started", ""),
            };
            format!(
                "not yet {state}: {}; run: {}{then}",
                kinds.join(", "),
                continuation(*op, snapshot, journal, flags)
            )
        }
        NextAction::Verify { op } => {
            let then = match op {
                Operation::Shutdown => format!(
                    ", then upgrade Domino and run: {}",
                    command("restore", snapshot, journal)
                ),
                Operation::Restore => String::new(),
            };
            format!(
                "the {op} was not verified (--no-verify): check with: {}{then}",
                verify(*op)
            )
        }
        NextAction::UpgradeThenRestore => format!(
            "upgrade Domino, then run: {}",
            command("restore", snapshot, journal)
        ),
        NextAction::JobsLeftStopped { stopped, flags } => {
            let restart = RunFlags {
                restart_jobs: true,
                ..flags.clone()
            };
            format!(
                "the restore is done, but the {stopped} Job(s) the shutdown stopped stay stopped: to restart them, run: {}; to leave them stopped, tell their owners (the report lists them, and the Workspace owners to tell: {})",
                continuation(Operation::Restore, snapshot, journal, &restart),
                command("report", snapshot, journal)
            )
        }
        NextAction::Complete => format!(
            "nothing: the maintenance is over; for the change ticket and the owners to tell (Workspaces left for their users to start): {}",
            command("report", snapshot, journal)
        ),
    }
}

/// `dmm verify` of the state `op` promises.
fn verify_command(op: Operation, snapshot: &Path) -> String {
    let expect = match op {
        Operation::Shutdown => "stopped",
        Operation::Restore => "running",
    };
    format!("{} --expect {expect}", command("verify", snapshot, None))
}

/// Why an operation is to be continued, and `again`, the command that continues it.
fn continue_line(because: &ContinueBecause, unfinished: usize, again: &str) -> String {
    match because {
        ContinueBecause::Deadline => format!(
            "in the next window, continue with: {again} (with a new --deadline if it has one)"
        ),
        ContinueBecause::Reopened => format!(
            "{unfinished} execution(s) were found out of their target state and reopened; run the same command again: {again}"
        ),
        ContinueBecause::Interrupted => {
            format!("{again}   (continues where the last run stopped)")
        }
    }
}

/// Shell quoting: as is when every character is plainly safe, otherwise in single quotes, an
/// embedded single quote written as `'\''`.
pub fn quote(word: &str) -> Cow<'_, str> {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        return Cow::Borrowed(word);
    }
    Cow::Owned(format!("'{}'", word.replace('\'', r"'\''")))
}

/// At most this many `*.journal` files are looked into when searching a folder.
const MAX_CANDIDATES: usize = 64;

/// The journal a reading command (`journal`, `report`) opens: the one named, the default one
/// beside the snapshot, or, when neither exists, one bound to the snapshot beside it (a renamed
/// snapshot's journal kept the old name), said with a warning. `NotFound` when there is none.
pub fn existing_journal(
    snapshot: &Path,
    explicit: Option<&Path>,
    sha256: &str,
) -> Result<PathBuf, crate::journal::JournalError> {
    let path = crate::journal::path_for(snapshot, explicit);
    if path.exists() {
        return Ok(path);
    }
    match explicit
        .is_none()
        .then(|| find_bound_journal(snapshot, sha256))
        .flatten()
    {
        Some(found) => {
            tracing::warn!(
                "no journal at {}; reading {}, which is bound to this snapshot",
                path.display(),
                found.display()
            );
            Ok(found)
        }
        None => Err(crate::journal::JournalError::NotFound { path }),
    }
}

/// When the journal is not beside the snapshot under its default name (the snapshot was
/// renamed or copied), a journal in the snapshot's folder bound to the same SHA-256 is the one
/// to use. Read-only: each candidate is only read, never opened for writing.
pub fn find_bound_journal(snapshot: &Path, sha256: &str) -> Option<PathBuf> {
    let folder = match snapshot.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(&folder)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "journal"))
        .take(MAX_CANDIDATES)
        .collect();
    candidates.sort();
    candidates.into_iter().find(|p| {
        JournalReader::open(p)
            .and_then(|r| r.meta())
            .is_ok_and(|m| m.snapshot_sha256 == sha256)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::JobsFlag;
    use crate::snapshot::Kind;

    #[test]
    fn a_continuation_keeps_every_flag_that_changes_what_is_done() {
        let flags = RunFlags {
            only: Some(Kind::ModelApiVersion),
            jobs: Some(JobsFlag::Wait),
            jobs_grace_s: Some(90 * 60),
            restart_jobs: false,
        };
        assert_eq!(
            continuation(
                Operation::Shutdown,
                Path::new("s.json"),
                Some(Path::new("j x.journal")),
                &flags
            ),
            "dmm shutdown s.json --journal 'j x.journal' -s 'Model API Version' --jobs wait --jobs-grace 1h30m"
        );
        let restart = RunFlags {
            restart_jobs: true,
            ..RunFlags::default()
        };
        assert_eq!(
            continuation(Operation::Restore, Path::new("s.json"), None, &restart),
            "dmm restore s.json --restart-jobs"
        );
    }

    #[test]
    fn paths_are_quoted_only_when_they_need_it() {
        assert_eq!(quote("/srv/snap-1.json"), "/srv/snap-1.json");
        assert_eq!(quote("my snap.json"), "'my snap.json'");
        assert_eq!(quote("it's.json"), r"'it'\''s.json'");
        assert_eq!(quote("$(rm -rf x)"), "'$(rm -rf x)'");
        assert_eq!(quote(""), "''");
        assert_eq!(
            command(
                "restore",
                Path::new("a b.json"),
                Some(Path::new("/j/it's.journal"))
            ),
            r"dmm restore 'a b.json' --journal '/j/it'\''s.journal'"
        );
        assert_eq!(
            command("shutdown", Path::new("s.json"), None),
            "dmm shutdown s.json"
        );
    }
}
