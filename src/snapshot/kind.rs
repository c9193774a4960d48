//! [`Kind`], the kinds of execution, generated with their names, stages and verbs from one
//! registry row each ([`KindSpec`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a kind's steps stand in a run: shutdown runs the stages in ascending order and restore
/// in descending order; the kinds of one stage run at the same time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Paused first on shutdown, so nothing new launches while the rest stops; resumed last.
    Gate,
    /// Everything that runs.
    Main,
}

/// What the rest of the program knows about a kind besides its implementation: its names and
/// where it stands in a run. One row of the registry below per kind.
#[derive(Clone, Copy, Debug)]
pub struct KindSpec {
    pub kind: Kind,
    /// The snapshot file's key, shared with the earlier Python tool: it must never change.
    pub label: &'static str,
    /// A short, shell-friendly name for flags and journal keys.
    pub slug: &'static str,
    /// Other spellings `-s` accepts.
    pub aliases: &'static [&'static str],
    pub stage: Stage,
    /// Where a run's executions of this kind come from.
    pub source: Source,
    /// The field of a record's `_id` that is the execution's own id: journal steps are keyed
    /// by it.
    pub id_field: &'static str,
    /// What shutdown and restore do to one, in the operator's words (`stop`/`start`,
    /// `pause`/`resume`, `stop`/`restart`).
    pub verbs: (&'static str, &'static str),
}

/// Where a run finds the executions of a kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Recorded in the snapshot file (one of the earlier tool's keys); restore starts them again.
    Snapshot,
    /// Not in the snapshot (the earlier tool's reader rejects unknown keys): listed live when a
    /// shutdown reaches the kind's stage, and drained; restore restarts them only when asked.
    Live,
}

/// The registry: one line per kind. The enum, its labels, slugs, parsing and orders all come
/// from here, so a new kind is one line in this list (plus its implementation in
/// `domino::kinds` and in the simulator).
macro_rules! registry {
    ($($variant:ident: $label:literal, $slug:literal, [$($alias:literal),*], $stage:ident, $source:ident, $id_field:literal, $stop:literal / $start:literal;)+) => {
        /// The kinds of execution a maintenance run stops and starts. The serde name is the
        /// snapshot file's key.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum Kind {
            $(#[serde(rename = $label)] $variant,)+
        }

        const REGISTRY: &[KindSpec] = &[$(KindSpec {
            kind: Kind::$variant,
            label: $label,
            slug: $slug,
            aliases: &[$($alias),*],
            stage: Stage::$stage,
            source: Source::$source,
            id_field: $id_field,
            verbs: ($stop, $start),
        },)+];
    };
}

registry! {
    App: "App", "app", ["apps"], Main, Snapshot, "_id", "stop" / "start";
    ModelApiVersion: "Model API Version", "model", ["models", "modelapi", "modelapis", "modelapiversions"], Main, Snapshot, "_id", "stop" / "start";
    Workspace: "Workspace", "workspace", ["workspaces"], Main, Snapshot, "_id", "stop" / "start";
    ScheduledJob: "Scheduled Job", "scheduled-job", ["scheduledjobs"], Gate, Snapshot, "key", "pause" / "resume";
    Job: "Job", "job", ["jobs"], Main, Live, "_id", "stop" / "restart";
}

/// How many registry rows have this source.
const fn count(source: Source) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < REGISTRY.len() {
        if REGISTRY[i].source as u8 == source as u8 {
            n += 1;
        }
        i += 1;
    }
    n
}

/// The kinds of one source, in registry order.
const fn of_source<const N: usize>(source: Source) -> [Kind; N] {
    let mut out = [Kind::App; N];
    let (mut i, mut n) = (0, 0);
    while i < REGISTRY.len() {
        if REGISTRY[i].source as u8 == source as u8 {
            out[n] = REGISTRY[i].kind;
            n += 1;
        }
        i += 1;
    }
    out
}

const SNAPSHOT_KINDS: [Kind; count(Source::Snapshot)] = of_source(Source::Snapshot);
const LIVE_KINDS: [Kind; count(Source::Live)] = of_source(Source::Live);
const EVERY_KIND: [Kind; REGISTRY.len()] = {
    let mut out = [Kind::App; REGISTRY.len()];
    let mut i = 0;
    while i < REGISTRY.len() {
        out[i] = REGISTRY[i].kind;
        i += 1;
    }
    out
};

impl Kind {
    /// The kinds a snapshot records, in the order of the snapshot file's keys.
    pub const ALL: &'static [Kind] = &SNAPSHOT_KINDS;
    /// The kinds a shutdown lists live and drains (not in the snapshot).
    pub const LIVE: &'static [Kind] = &LIVE_KINDS;
    /// Every kind, snapshot kinds first.
    pub const EVERY: &'static [Kind] = &EVERY_KIND;

    pub fn spec(self) -> &'static KindSpec {
        REGISTRY
            .iter()
            .find(|s| s.kind == self)
            .expect("every kind has a registry row")
    }

    /// The snapshot file's key for this kind.
    pub fn label(self) -> &'static str {
        self.spec().label
    }

    /// A short, shell-friendly name for flags and journal keys.
    pub fn slug(self) -> &'static str {
        self.spec().slug
    }

    pub fn stage(self) -> Stage {
        self.spec().stage
    }

    pub fn source(self) -> Source {
        self.spec().source
    }

    /// The field of a record's `_id` that is the execution's own id.
    pub fn id_field(self) -> &'static str {
        self.spec().id_field
    }

    /// What shutdown (`shutdown: true`) or restore does to one, in the operator's words.
    pub fn verb(self, shutdown: bool) -> &'static str {
        let (stop, start) = self.spec().verbs;
        if shutdown { stop } else { start }
    }

    /// The kind whose snapshot file key is `label` (only kinds a snapshot records).
    pub fn from_label(label: &str) -> Option<Kind> {
        REGISTRY
            .iter()
            .find(|s| s.label == label && s.source == Source::Snapshot)
            .map(|s| s.kind)
    }

    /// The kinds in the order shutdown touches them (restore walks it backwards); within a
    /// stage, registry order.
    pub fn shutdown_order() -> Vec<Kind> {
        let mut order = Kind::EVERY.to_vec();
        order.sort_by_key(|k| k.stage());
        order
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

/// Accepts the snapshot label (`"Model API Version"`, as the earlier tool's `-s` did), the slug
/// (`model`), and the registry's other spellings, case-insensitively.
impl FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = fold(s);
        REGISTRY
            .iter()
            .find(|spec| {
                fold(spec.label) == wanted
                    || fold(spec.slug) == wanted
                    || spec.aliases.iter().any(|a| fold(a) == wanted)
            })
            .map(|spec| spec.kind)
            .ok_or_else(|| {
                let labels: Vec<String> = REGISTRY
                    .iter()
                    .map(|s| {
                        if s.label.contains(' ') {
                            format!("\"{}\"", s.label)
                        } else {
                            s.label.to_string()
                        }
                    })
                    .collect();
                let slugs: Vec<&str> = REGISTRY.iter().map(|s| s.slug).collect();
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
    fn parses_labels_and_slugs() {
        for &k in Kind::EVERY {
            assert_eq!(k.label().parse::<Kind>().unwrap(), k);
            assert_eq!(k.slug().parse::<Kind>().unwrap(), k);
        }
        assert_eq!(
            "Model API Versions".parse::<Kind>().unwrap(),
            Kind::ModelApiVersion
        );
        assert_eq!("jobs".parse::<Kind>().unwrap(), Kind::Job);
        let err = "builds".parse::<Kind>().unwrap_err();
        assert!(err.contains("\"Scheduled Job\"") && err.contains("scheduled-job"));
    }

    #[test]
    fn the_gate_comes_first_on_shutdown() {
        assert_eq!(
            Kind::shutdown_order(),
            vec![
                Kind::ScheduledJob,
                Kind::App,
                Kind::ModelApiVersion,
                Kind::Workspace,
                Kind::Job
            ]
        );
    }

    #[test]
    fn labels_are_the_earlier_tools_keys() {
        let labels: Vec<_> = Kind::ALL.iter().map(|k| k.label()).collect();
        assert_eq!(
            labels,
            ["App", "Model API Version", "Workspace", "Scheduled Job"]
        );
        assert_eq!(
            serde_json::to_string(&Kind::ModelApiVersion).unwrap(),
            "\"Model API Version\""
        );
        assert_eq!(Kind::LIVE, [Kind::Job]);
        assert_eq!(Kind::from_label("Job"), None, "a snapshot has no Job key");
    }
}
