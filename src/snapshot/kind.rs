use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The four kinds of execution a maintenance run stops and starts.
///
/// The `label` is the key of the snapshot file, shared with the earlier Python tool, and must not
/// change.
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
}

impl Kind {
    /// The order of the snapshot file's keys, as the earlier tool writes them.
    pub const ALL: [Kind; 4] = [
        Kind::App,
        Kind::ModelApiVersion,
        Kind::Workspace,
        Kind::ScheduledJob,
    ];

    /// Shutdown order: scheduled jobs are paused first so nothing new launches while the rest
    /// stops. Restore walks this list backwards.
    pub const SHUTDOWN_ORDER: [Kind; 4] = [
        Kind::ScheduledJob,
        Kind::App,
        Kind::ModelApiVersion,
        Kind::Workspace,
    ];

    /// The snapshot file's key for this kind.
    pub fn label(self) -> &'static str {
        match self {
            Kind::App => "App",
            Kind::ModelApiVersion => "Model API Version",
            Kind::Workspace => "Workspace",
            Kind::ScheduledJob => "Scheduled Job",
        }
    }

    /// A short, shell-friendly name for flags and journal keys.
    pub fn slug(self) -> &'static str {
        match self {
            Kind::App => "app",
            Kind::ModelApiVersion => "model",
            Kind::Workspace => "workspace",
            Kind::ScheduledJob => "scheduled-job",
        }
    }

    pub fn from_label(label: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.label() == label)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Accepts the snapshot label (`"Model API Version"`, as the earlier tool's `-s` did), the slug
/// (`model`), and a few obvious spellings, case-insensitively.
impl FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm: String = s
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        let kind = match norm.as_str() {
            "app" | "apps" => Kind::App,
            "model" | "models" | "modelapi" | "modelapis" | "modelapiversion"
            | "modelapiversions" => Kind::ModelApiVersion,
            "workspace" | "workspaces" => Kind::Workspace,
            "scheduledjob" | "scheduledjobs" => Kind::ScheduledJob,
            _ => {
                return Err(format!(
                    "unknown kind '{s}': expected one of App, \"Model API Version\", Workspace, \"Scheduled Job\" (or app, model, workspace, scheduled-job)"
                ));
            }
        };
        Ok(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_labels_and_slugs() {
        for k in Kind::ALL {
            assert_eq!(k.label().parse::<Kind>().unwrap(), k);
            assert_eq!(k.slug().parse::<Kind>().unwrap(), k);
        }
        assert!("jobs".parse::<Kind>().is_err());
    }
}
