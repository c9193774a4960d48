//! Room for the journal: the free space of the file system that holds (or will hold) the
//! snapshot's journal, against what a maintenance cycle writes there.
//!
//! The journal keeps every step's every phase, the events of its hash chain and each
//! verification; redb writes copy-on-write pages and gives few back. Measured with the
//! simulator: a clean cycle (shutdown and restore) writes about 5 KiB an execution (49 MB for
//! 9,519 executions, 36 MB for 6,749), and a cycle with retries, kills and resumes up to about
//! 12 KiB (68 MB for 5,600). The check asks for the worse figure, with a floor for small
//! deployments (`docs/runbook.md`, "Disk for the journal").

use std::path::Path;

use super::check::Check;

/// What one cycle may write into the journal per execution (Jobs included), at worst.
pub const BYTES_PER_EXECUTION_CYCLE: u64 = 12 * 1024;
/// Never ask for less: a small deployment's journal still grows by pages of its own.
pub const FLOOR_BYTES: u64 = 64 * 1024 * 1024;

const NAME: &str = "journal disk";

/// The bytes a cycle of `executions` may need beside the journal.
pub fn needed(executions: usize) -> u64 {
    (executions as u64 * BYTES_PER_EXECUTION_CYCLE).max(FLOOR_BYTES)
}

/// Checks the free space where the journal `journal` is (or will be written).
pub(super) fn journal_disk_check(journal: &Path, executions: usize) -> Check {
    let dir = match journal.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match free_bytes(dir) {
        Ok(free) => judge(free, executions, &dir.display().to_string()),
        Err(e) => Check::warn(
            NAME,
            format!("cannot tell the free space of {}: {e}", dir.display()),
        ),
    }
}

/// Ok with room for two cycles, a warning with less than that (a resumed window writes more
/// than a clean one) and a failure below one.
fn judge(free: u64, executions: usize, dir: &str) -> Check {
    let need = needed(executions);
    let figures = format!(
        "{} free in {dir}; a cycle of {executions} executions may write up to {} into the journal ({} KiB an execution)",
        size(free),
        size(need),
        BYTES_PER_EXECUTION_CYCLE / 1024
    );
    if free < need {
        Check::fail(
            NAME,
            format!("{figures}: free space first, a full disk stops the run"),
        )
    } else if free < 2 * need {
        Check::warn(
            NAME,
            format!("{figures}: little room for a second cycle or a resumed window"),
        )
    } else {
        Check::ok(NAME, figures)
    }
}

fn size(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    let mib = bytes as f64 / MIB;
    if mib >= 1024.0 {
        format!("{:.1} GiB", mib / 1024.0)
    } else {
        format!("{mib:.0} MiB")
    }
}

fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a NUL-terminated string and `stat` a buffer statvfs fills on success.
    let rc = unsafe { libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled the buffer.
    let stat = unsafe { stat.assume_init() };
    #[allow(clippy::unnecessary_cast)] // the field types differ between platforms
    Ok(stat.f_bavail as u64 * stat.f_frsize as u64)
}

#[cfg(test)]
mod tests {
    use super::super::check::CheckStatus;
    use super::*;

    #[test]
    fn room_for_two_cycles_is_ok_one_a_warning_less_a_failure() {
        let need = needed(10_000);
        assert_eq!(need, 10_000 * 12 * 1024);
        assert_eq!(needed(10), FLOOR_BYTES);
        assert_eq!(judge(3 * need, 10_000, "d").status, CheckStatus::Ok);
        let warn = judge(need + 1, 10_000, "d");
        assert_eq!(warn.status, CheckStatus::Warn);
        assert!(warn.detail.contains("MiB free in d"), "{}", warn.detail);
        assert!(
            warn.detail.contains("may write up to 117 MiB"),
            "{}",
            warn.detail
        );
        assert_eq!(judge(need - 1, 10_000, "d").status, CheckStatus::Fail);
    }

    #[test]
    fn the_free_space_of_a_real_directory_is_read() {
        let dir = tempfile::tempdir().unwrap();
        assert!(free_bytes(dir.path()).unwrap() > 0);
        let check = journal_disk_check(&dir.path().join("x.journal"), 1);
        assert!(check.detail.contains(" free in "), "{}", check.detail);
        assert!(free_bytes(Path::new("/no/such/dir")).is_err());
    }
}
