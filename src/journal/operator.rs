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

/// `$USER` (or `$LOGNAME`), else the numeric uid: in a container the user often has no name.
fn user_name() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
        // SAFETY: getuid has no preconditions and cannot fail.
        .unwrap_or_else(|| format!("uid {}", unsafe { libc::getuid() }))
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
}
