//! The people to tell when the window closes, grouped by owner: the Workspaces the restore left
//! for their users to start again, the Jobs the shutdown stopped that stay stopped, and the
//! executions whose step failed. A change manager mails these, one message per owner.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::journal::{Operation, StepPhase, StepRecord};
use crate::runner::{RestartFate, job_fates};
use crate::snapshot::Kind;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OwnerToTell {
    pub owner: String,
    /// Workspaces the restore left for their users to start again.
    pub workspaces: Vec<String>,
    /// Jobs the shutdown stopped that no restart brought back.
    pub jobs_stopped: Vec<String>,
    /// Executions whose step failed, as `Kind name (operation)`.
    pub failed: Vec<String>,
}

/// Everyone with something to hear, by owner in name order; names in the journal's order.
pub fn owners_to_tell(steps: &[StepRecord]) -> Vec<OwnerToTell> {
    let mut owners: BTreeMap<String, OwnerToTell> = BTreeMap::new();
    for s in steps {
        match &s.phase {
            StepPhase::Skipped(_)
                if s.key.op == Operation::Restore && s.key.kind == Kind::Workspace =>
            {
                of(&mut owners, &s.owner).workspaces.push(s.name.clone());
            }
            StepPhase::Failed(_) => of(&mut owners, &s.owner)
                .failed
                .push(format!("{} {} ({})", s.key.kind, s.name, s.key.op)),
            _ => {}
        }
    }
    for fate in job_fates(steps, 0) {
        let stays_stopped = matches!(
            fate.restart_fate,
            Some(RestartFate::NotAsked | RestartFate::NotRestarted(_) | RestartFate::Unfinished)
        );
        if stays_stopped {
            of(&mut owners, &fate.stop.owner)
                .jobs_stopped
                .push(fate.stop.name.clone());
        }
    }
    owners.into_values().collect()
}

fn of<'a>(owners: &'a mut BTreeMap<String, OwnerToTell>, owner: &str) -> &'a mut OwnerToTell {
    owners
        .entry(owner.to_owned())
        .or_insert_with(|| OwnerToTell {
            owner: owner.to_owned(),
            ..OwnerToTell::default()
        })
}

/// The owners to tell within a length budget, for the ticket-sized summary: names cut to
/// [`NAME_CHARS`], [`NAMES_EACH`] names a list (the rest counted), and owners while the
/// rendered lines fit `budget` characters (`rendered_len` measures one as it will print).
#[derive(Clone, Debug, Default, Serialize)]
pub struct ShortOwners {
    pub owners: Vec<ShortOwner>,
    /// Owners left out for the budget.
    pub more: usize,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ShortOwner {
    pub owner: String,
    pub workspaces: ShortList,
    pub jobs_stopped: ShortList,
    pub failed: ShortList,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ShortList {
    pub count: usize,
    pub names: Vec<String>,
    pub more: usize,
}

pub const NAME_CHARS: usize = 60;
pub const NAMES_EACH: usize = 8;

pub fn shortened(
    owners: &[OwnerToTell],
    budget: usize,
    rendered_len: impl Fn(&str) -> usize,
) -> ShortOwners {
    let list = |names: &[String]| ShortList {
        count: names.len(),
        names: names.iter().take(NAMES_EACH).map(|n| cut(n)).collect(),
        more: names.len().saturating_sub(NAMES_EACH),
    };
    let mut out = ShortOwners::default();
    let mut used = 0;
    for (i, o) in owners.iter().enumerate() {
        let short = ShortOwner {
            owner: cut(&o.owner),
            workspaces: list(&o.workspaces),
            jobs_stopped: list(&o.jobs_stopped),
            failed: list(&o.failed),
        };
        // The words around the names are a few dozen characters a list.
        let len = 120
            + rendered_len(&short.owner)
            + [&short.workspaces, &short.jobs_stopped, &short.failed]
                .iter()
                .flat_map(|l| &l.names)
                .map(|n| rendered_len(n) + 2)
                .sum::<usize>();
        if used + len > budget {
            out.more = owners.len() - i;
            break;
        }
        used += len;
        out.owners.push(short);
    }
    out
}

fn cut(name: &str) -> String {
    match name.char_indices().nth(NAME_CHARS) {
        Some((at, _)) => format!("{}…", &name[..at]),
        None => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_keeps_to_its_budget_and_counts_the_rest() {
        let owners: Vec<OwnerToTell> = (0..1000)
            .map(|i| OwnerToTell {
                owner: format!("owner{i:04}"),
                workspaces: (0..30)
                    .map(|w| format!("{}{w}", "w".repeat(5000)))
                    .collect(),
                jobs_stopped: vec!["nightly".into()],
                failed: vec![],
            })
            .collect();
        let short = shortened(&owners, 20_000, str::len);
        assert!(!short.owners.is_empty() && short.more > 0);
        assert_eq!(short.owners.len() + short.more, 1000);
        let first = &short.owners[0];
        assert_eq!(first.workspaces.count, 30);
        assert_eq!(first.workspaces.names.len(), NAMES_EACH);
        assert_eq!(first.workspaces.more, 30 - NAMES_EACH);
        assert_eq!(first.workspaces.names[0].chars().count(), NAME_CHARS + 1);
    }
}
