//! [`Kind`], the kinds of execution the simulated deployment runs, in the server's own words.
//!
//! The simulator is a witness of the client, not a part of it: it names its kinds itself rather
//! than borrowing the client's registry, so a change to the client's names cannot quietly change
//! what the server accepts or reports.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A kind of execution. The serde name (and `Display`) is its label, as `/__sim/state` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    #[serde(rename = "App")]
    App,
    #[serde(rename = "Model API Version")]
    ModelApiVersion,
    #[serde(rename = "Workspace")]
    Workspace,
    #[serde(rename = "Scheduled Job")]
    ScheduledJob,
    #[serde(rename = "Job")]
    Job,
}

impl Kind {
    /// Every kind.
    pub const EVERY: &'static [Kind] = &[
        Kind::App,
        Kind::ModelApiVersion,
        Kind::Workspace,
        Kind::ScheduledJob,
        Kind::Job,
    ];

    /// The label, the short name and the other spellings `/__sim/` routes accept.
    fn names(self) -> (&'static str, &'static str, &'static [&'static str]) {
        match self {
            Kind::App => ("App", "app", &["apps"]),
            Kind::ModelApiVersion => (
                "Model API Version",
                "model",
                &["models", "modelapi", "modelapis", "modelapiversions"],
            ),
            Kind::Workspace => ("Workspace", "workspace", &["workspaces"]),
            Kind::ScheduledJob => ("Scheduled Job", "scheduled-job", &["scheduledjobs"]),
            Kind::Job => ("Job", "job", &["jobs"]),
        }
    }

    /// `"App"`, `"Model API Version"`, `"Workspace"`, `"Scheduled Job"`, `"Job"`.
    pub fn label(self) -> &'static str {
        self.names().0
    }

    /// A short name, for generated ids.
    pub fn slug(self) -> &'static str {
        self.names().1
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Folds a spelling to letters and digits, lowercase: `Model API Version` → `modelapiversion`.
fn fold(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Accepts the label, the short name and the other spellings, case-insensitively.
impl FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = fold(s);
        Kind::EVERY
            .iter()
            .copied()
            .find(|k| {
                let (label, slug, aliases) = k.names();
                fold(label) == wanted
                    || fold(slug) == wanted
                    || aliases.iter().any(|a| fold(a) == wanted)
            })
            .ok_or_else(|| {
                let labels: Vec<String> = Kind::EVERY
                    .iter()
                    .map(|k| {
                        if k.label().contains(' ') {
                            format!("\"{}\"", k.label())
                        } else {
                            k.label().to_string()
                        }
                    })
                    .collect();
                let slugs: Vec<&str> = Kind::EVERY.iter().map(|k| k.slug()).collect();
                format!(
                    "unknown kind '{s}': expected one of {} (or {})",
                    labels.join(", "),
                    slugs.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_labels_short_names_and_plurals() {
        for &k in Kind::EVERY {
            assert_eq!(k.label().parse::<Kind>().unwrap(), k);
            assert_eq!(k.slug().parse::<Kind>().unwrap(), k);
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.label())
            );
        }
        assert_eq!(
            "Model API Versions".parse::<Kind>().unwrap(),
            Kind::ModelApiVersion
        );
        assert_eq!("jobs".parse::<Kind>().unwrap(), Kind::Job);
        let err = "builds".parse::<Kind>().unwrap_err();
        assert!(err.contains("\"Scheduled Job\"") && err.contains("scheduled-job"));
    }
}
