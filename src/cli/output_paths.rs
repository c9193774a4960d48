//! Files a run writes besides its journal (`--metrics-file`) must never be the snapshot, the
//! journal, or a file either of them is written through: a metrics file written over the
//! snapshot turns it into Prometheus text, and over the journal loses the record. Checked before
//! anything is touched, on the files as the filesystem resolves them (a symlink, or
//! `dir/../snap.json`, names the same file as `snap.json`), not on the strings given.

use std::path::{Path, PathBuf};

use super::exit::CliError;

/// A path as the filesystem resolves it: its folder canonical, and the file's identity
/// (device and inode) when it exists.
struct Resolved {
    path: PathBuf,
    inode: Option<(u64, u64)>,
}

fn resolve(path: &Path) -> Resolved {
    let inode = std::fs::metadata(path).ok().map(|m| identity(&m));
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        match path.file_name() {
            Some(name) => dir.join(name),
            None => dir,
        }
    });
    Resolved { path, inode }
}

#[cfg(unix)]
fn identity(m: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (m.dev(), m.ino())
}

#[cfg(not(unix))]
fn identity(_: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}

impl Resolved {
    fn same_file(&self, other: &Resolved) -> bool {
        self.path == other.path || matches!((self.inode, other.inode), (Some(a), Some(b)) if a == b)
    }

    fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    fn dir(&self) -> Option<&Path> {
        self.path.parent()
    }
}

/// Whether `name` is one of the files the journal or the snapshot is written through, beside
/// them: their temporary files (`.NAME.XXXXXX.new`, `private_file`), and the journal's
/// integrity check's scratch folder (`.J.check-…`, `journal/scratch.rs`).
fn is_sidecar(name: &str, journal: &str, snapshot: &str) -> bool {
    crate::private_file::is_temp_of(name, journal)
        || crate::private_file::is_temp_of(name, snapshot)
        || name.starts_with(&format!(".{journal}.check-"))
}

/// Refuses (bad input, one line) an output file of a run that is the snapshot, the journal, one
/// of their side files, or another output of the same run. `outputs` are (flag, path).
pub fn check(snapshot: &Path, journal: &Path, outputs: &[(&str, &Path)]) -> Result<(), CliError> {
    let snap = resolve(snapshot);
    let jour = resolve(journal);
    if snap.same_file(&jour) {
        return Err(CliError::bad_input(format!(
            "the journal {} is the snapshot file itself; nothing was touched",
            journal.display()
        )));
    }
    let resolved: Vec<(&str, &Path, Resolved)> = outputs
        .iter()
        .map(|(flag, path)| (*flag, *path, resolve(path)))
        .collect();
    for (i, (flag, path, out)) in resolved.iter().enumerate() {
        let refuse = |what: String| {
            Err(CliError::bad_input(format!(
                "{flag} {} would overwrite {what}; give another path (nothing was touched)",
                path.display()
            )))
        };
        if out.same_file(&snap) {
            return refuse(format!("the snapshot {}", snapshot.display()));
        }
        if out.same_file(&jour) {
            return refuse(format!("the journal {}", journal.display()));
        }
        let beside = |other: &Resolved| out.dir().is_some() && out.dir() == other.dir();
        // The integrity check's scratch folders are removed when found stale, with what is in
        // them, wherever they are (beside the journal, or in the temporary folder).
        let scratch = format!(".{}.check-", jour.name());
        let in_scratch = out.dir().is_some_and(|d| {
            d.components()
                .any(|c| c.as_os_str().to_string_lossy().starts_with(&scratch))
        });
        if in_scratch
            || ((beside(&jour) || beside(&snap))
                && is_sidecar(&out.name(), &jour.name(), &snap.name()))
        {
            return refuse(format!(
                "a file the journal or the snapshot is written through (beside {})",
                journal.display()
            ));
        }
        if let Some((other_flag, _, _)) = resolved[..i]
            .iter()
            .find(|(_, _, other)| other.same_file(out))
        {
            return refuse(format!("the file of {other_flag}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snapshot_the_journal_and_their_side_files_are_refused_however_named() {
        let dir = tempfile::tempdir().unwrap();
        let snap = dir.path().join("snap.json");
        std::fs::write(&snap, "{}").unwrap();
        let journal = dir.path().join("snap.json.journal");
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let link = dir.path().join("link.prom");
        #[cfg(unix)]
        std::os::unix::fs::symlink(&snap, &link).unwrap();
        let refused = [
            snap.clone(),
            sub.join("../snap.json"),
            journal.clone(),
            sub.join("..").join("snap.json.journal"),
            dir.path().join(".snap.json.journal.42.17.new"),
            dir.path().join(".snap.json.journal.check-x"),
            dir.path().join(".snap.json.x1Yz9Q.new"),
            std::env::temp_dir().join(".snap.json.journal.check-7-0/dmm.prom"),
            #[cfg(unix)]
            link,
        ];
        for path in &refused {
            let err = check(&snap, &journal, &[("--metrics-file", path)]).unwrap_err();
            assert!(err.message.contains("would overwrite"), "{}", err.message);
        }
        let fine = dir.path().join("dmm.prom");
        check(&snap, &journal, &[("--metrics-file", &fine)]).unwrap();
        assert!(
            check(&snap, &snap, &[]).is_err(),
            "the journal is the snapshot"
        );
    }
}
