//! Paths that are no journal at all, told apart from a damaged journal: a device (`/dev/null`),
//! a FIFO, a socket, or a kernel pseudo-file (`/proc/version`, which says it is empty and yet
//! reads as text). Calling those "damaged, keep it for the audit" would send an operator after
//! an audit trail that never existed.

use std::fs;
use std::io::Read;
use std::path::Path;

use super::JournalError;

/// `NotAJournal` for such a path; `Ok` for a regular file, a folder or a path that does not
/// exist (the caller says what is wrong with those). Never opens a FIFO or a device.
pub(crate) fn refuse_special_file(path: &Path) -> Result<(), JournalError> {
    let Ok(meta) = fs::metadata(path) else {
        return Ok(());
    };
    let not_a_journal = |what: &str| {
        Err(JournalError::NotAJournal {
            path: path.to_path_buf(),
            what: what.to_owned(),
        })
    };
    let t = meta.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_char_device() || t.is_block_device() {
            return not_a_journal("it is a device");
        }
        if t.is_fifo() {
            return not_a_journal("it is a FIFO (named pipe)");
        }
        if t.is_socket() {
            return not_a_journal("it is a socket");
        }
    }
    if t.is_file() && meta.len() == 0 {
        // A real empty file reads nothing; a pseudo-file has content behind its size of 0.
        let mut first = [0u8; 1];
        let read = fs::File::open(path).and_then(|mut f| f.read(&mut first));
        if matches!(read, Ok(n) if n > 0) {
            return not_a_journal("it is a system pseudo-file, whose size says 0 but has text");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_pseudo_files_are_not_journals() {
        for p in ["/dev/null", "/proc/version"] {
            if Path::new(p).exists() {
                let e = refuse_special_file(Path::new(p)).unwrap_err();
                assert!(matches!(e, JournalError::NotAJournal { .. }), "{p}: {e}");
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.journal");
        fs::write(&empty, b"").unwrap();
        assert!(refuse_special_file(&empty).is_ok());
        assert!(refuse_special_file(&dir.path().join("missing")).is_ok());
    }
}
