//! Who ran a run, and from where: the operating-system user, the host and the process, kept in
//! each run's record so that `dmm status` can name the process that holds a journal and the
//! report can say who acted. Never a secret: names and a number only.

use super::Operator;

impl Operator {
    /// This process, as the operating system names it.
    pub fn this_process() -> Operator {
        Operator {
            user: user_name(),
            host: host_name(),
            pid: std::process::id(),
        }
    }
}

/// `$USER` (or `$LOGNAME`), else the account's name in the password database (a Kubernetes Job
/// or `sudo -i` sets neither variable), else the numeric uid: in a container the user often has
/// no name.
fn user_name() -> String {
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
        .or_else(|| account_name(uid))
        .unwrap_or_else(|| format!("uid {uid}"))
}

/// The name the password database gives `uid`, as `id -un` says it.
fn account_name(uid: libc::uid_t) -> Option<String> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: passwd is plain data, valid zeroed.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; the buffer outlives every use of `entry`.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &mut entry,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut found,
        )
    };
    if rc != 0 || found.is_null() || entry.pw_name.is_null() {
        return None;
    }
    // SAFETY: getpwuid_r found an entry, whose name is a NUL-terminated string in `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(entry.pw_name) };
    let name = name.to_string_lossy().trim().to_owned();
    (!name.is_empty()).then_some(name)
}

fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "?".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// `process 4242 on bastion-1 (user ops)`: how `status` and the report name who ran a run.
impl std::fmt::Display for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "process {} on {} (user {})",
            self.pid, self.host, self.user
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_is_named() {
        let me = super::Operator::this_process();
        assert_eq!(me.pid, std::process::id());
        assert!(!me.host.is_empty() && !me.user.is_empty());
    }

    /// Without `$USER` (a Kubernetes Job, a cron job) the account still has its name.
    #[test]
    fn an_account_is_named_by_the_password_database() {
        assert_eq!(super::account_name(0).as_deref(), Some("root"));
        assert_eq!(super::account_name(4_000_000_000), None);
    }
}
