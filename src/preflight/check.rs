//! One line of a preflight: what was checked, how it ended (ok, warn, fail), and why.

use serde::Serialize;

/// How one check ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    Warn,
    Fail,
}

/// One line of a preflight: what was checked, how it ended, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    pub name: String,
    pub status: CheckStatus,
    pub detail: String,
}

impl Check {
    pub fn new(name: &str, status: CheckStatus, detail: impl Into<String>) -> Check {
        Check {
            name: name.to_owned(),
            status,
            detail: detail.into(),
        }
    }
    pub fn ok(name: &str, detail: impl Into<String>) -> Check {
        Check::new(name, CheckStatus::Ok, detail)
    }
    pub fn warn(name: &str, detail: impl Into<String>) -> Check {
        Check::new(name, CheckStatus::Warn, detail)
    }
    pub fn fail(name: &str, detail: impl Into<String>) -> Check {
        Check::new(name, CheckStatus::Fail, detail)
    }
}
