//! Where a snapshot's journal lives by default.

use std::path::{Path, PathBuf};

/// Where a snapshot's journal lives: `FILE.journal` beside the snapshot, so the two travel
/// together, unless the operator names another path.
pub fn path_for(snapshot: &Path, explicit: Option<&Path>) -> PathBuf {
    match explicit {
        Some(p) => p.to_owned(),
        None => {
            let mut name = snapshot.as_os_str().to_owned();
            name.push(".journal");
            PathBuf::from(name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_sits_beside_its_snapshot_unless_named() {
        assert_eq!(
            path_for(Path::new("/w/s.json"), None),
            PathBuf::from("/w/s.json.journal")
        );
        assert_eq!(
            path_for(Path::new("s.json"), Some(Path::new("/j/x"))),
            PathBuf::from("/j/x")
        );
    }
}
