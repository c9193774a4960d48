//! One writer of private files that appear whole or not at all: the snapshot, the journal when
//! it is created, the metrics file. Each is written under a temporary name beside its target
//! (`.NAME.XXXXXX.new`, mode 0600: these files name every execution and owner), synced, moved
//! into place, and the folder synced, so that the new name is as durable as the contents. A
//! crash leaves the old file or the new one, never half of one; a leftover temporary file is
//! recognisable by its name.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// A new, empty private file beside `path`, to be moved into place with [`persist_new`].
pub fn temp_beside(path: &Path) -> io::Result<NamedTempFile> {
    let name = file_name(path)?;
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".new")
        .tempfile_in(folder_of(path))
}

/// Moves a complete temporary file to `path`, failing with `AlreadyExists` (and changing
/// nothing) if something is there already: two writers never overwrite each other.
pub fn persist_new(temp: NamedTempFile, path: &Path) -> io::Result<()> {
    temp.as_file().sync_all()?;
    temp.persist_noclobber(path).map_err(|e| e.error)?;
    sync_folder(&folder_of(path))
}

/// Writes a new file at `path` with `bytes`; `AlreadyExists` if one is there.
pub fn create_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut temp = temp_beside(path)?;
    temp.write_all(bytes)?;
    persist_new(temp, path)
}

/// Writes `bytes` to `path`, replacing what is there in one step.
pub fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut temp = temp_beside(path)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    sync_folder(&folder_of(path))
}

/// Whether `name` is a temporary file of this writer for a target named `target`.
pub fn is_temp_of(name: &str, target: &str) -> bool {
    name.strip_prefix(&format!(".{target}."))
        .is_some_and(|rest| rest.ends_with(".new"))
}

/// The folder a path's file is in (`.` for a bare name).
pub fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn file_name(path: &Path) -> io::Result<String> {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))
}

fn sync_folder(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    fs::File::open(dir)?.sync_all()?;
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_is_private_whole_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap.json");
        create_new(&path, b"one").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one");
        let err = create_new(&path, b"two").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&path).unwrap(), b"one");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        replace(&path, b"three").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"three");
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, ["snap.json"], "no temporary file is left behind");
    }

    #[test]
    fn temporary_names_are_recognisable() {
        let dir = tempfile::tempdir().unwrap();
        let temp = temp_beside(&dir.path().join("j.journal")).unwrap();
        let name = temp
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(is_temp_of(&name, "j.journal"), "{name}");
        assert!(!is_temp_of("j.journal", "j.journal"));
    }
}
