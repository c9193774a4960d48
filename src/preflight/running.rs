//! What a scan of the deployment shows before a window: what runs now, models in the middle of
//! a rollout, apps whose volumes are not local, workspaces of projects that cannot be
//! resolved; and the pace figures of [`super::estimate`].

use std::collections::{BTreeMap, BTreeSet};

use super::PreflightOptions;
use super::check::Check;
use super::estimate::estimates;
use super::probes::non_local_volumes;
use crate::domino::{Deployment, NoProgress, ProblemCause, ScanOptions, ScanReport, scan};
use crate::snapshot::Kind;

/// What a scan shows, as `dmm snapshot` would take it now.
pub(super) async fn scan_checks(deployment: &Deployment, options: &PreflightOptions) -> Vec<Check> {
    // Jobs too: a shutdown stops the ones running when it reaches them.
    let options_with_jobs = ScanOptions {
        include_live: true,
        ..ScanOptions::DEFAULT
    };
    let report = match scan(&deployment.client, &options_with_jobs, &NoProgress).await {
        Ok(r) => r,
        Err(e) => {
            return vec![Check::fail(
                "running now",
                format!("the deployment cannot be scanned: {e}"),
            )];
        }
    };
    let mut checks = vec![running_now(&report)];
    checks.extend(estimates(deployment, &report, options));
    checks.push(rollouts(&report));
    checks.push(app_volumes(deployment, &report).await);
    checks.push(workspace_projects(&report));
    checks
}

/// Problems that are workspaces of a project the project listing does not know (reported on
/// their own line).
fn is_unknown_project(p: &crate::domino::ScanProblem) -> bool {
    p.cause == ProblemCause::UnknownProject
}

/// Where the rest of what a scan found is listed: a snapshot taken now reports every problem
/// and warning.
const IN_A_SNAPSHOT: &str = "`dmm snapshot FILE` lists every one";

/// The first `n` items, and how many more there are (and where to see them, if anywhere).
fn first_few(items: &[String], n: usize, rest_in: Option<&str>) -> String {
    let mut text = items.iter().take(n).cloned().collect::<Vec<_>>().join("; ");
    if items.len() > n {
        text.push_str(&format!("; and {} more", items.len() - n));
        if let Some(place) = rest_in {
            text.push_str(&format!(" ({place})"));
        }
    }
    text
}

fn running_now(report: &ScanReport) -> Check {
    let name = "running now";
    let per_kind: Vec<String> = Kind::EVERY
        .iter()
        .map(|&k| format!("{k}: {}", report.found(k)))
        .collect();
    let total = report.snapshot.len();
    let summary = format!(
        "{} ({total} executions in {} projects)",
        per_kind.join(", "),
        report.projects
    );
    let problems: Vec<String> = report
        .problems
        .iter()
        .filter(|p| !is_unknown_project(p))
        .map(ToString::to_string)
        .collect();
    let warnings: Vec<String> = report
        .warnings
        .iter()
        .filter(|w| !report.rollouts.contains(w))
        .cloned()
        .collect();
    if problems.is_empty() && warnings.is_empty() {
        Check::ok(name, summary)
    } else {
        let mut all = problems;
        all.extend(warnings);
        Check::warn(
            name,
            format!(
                "{summary}; a snapshot now would have {} problem(s) or warning(s): {}",
                all.len(),
                first_few(&all, 3, Some(IN_A_SNAPSHOT))
            ),
        )
    }
}

fn rollouts(report: &ScanReport) -> Check {
    let found = &report.rollouts;
    if found.is_empty() {
        Check::ok("rollouts", "no Model API is in the middle of a rollout")
    } else {
        Check::warn(
            "rollouts",
            format!(
                "{} model(s) mid-rollout: let the rollout finish before the snapshot: {}",
                found.len(),
                first_few(found, 3, Some(IN_A_SNAPSHOT))
            ),
        )
    }
}

/// Running apps in projects that have volumes without a local data plane: a restore starts
/// them with the local volumes only.
async fn app_volumes(deployment: &Deployment, report: &ScanReport) -> Check {
    let name = "app volumes";
    let apps = report.snapshot.entries(Kind::App);
    let mut apps_by_project: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for app in apps {
        if let Some(p) = app.id_str("projectId") {
            apps_by_project
                .entry(p.to_owned())
                .or_default()
                .push(&app.name);
        }
    }
    if apps_by_project.is_empty() {
        return Check::ok(name, "no app runs");
    }
    let projects: BTreeSet<String> = apps_by_project.keys().cloned().collect();
    let (non_local, unreadable) = non_local_volumes(&deployment.client, &projects).await;
    let mut affected: Vec<String> = Vec::new();
    let mut by_project: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (project, volume) in &non_local {
        by_project.entry(project).or_default().push(volume);
    }
    let mut app_count = 0;
    for (project, volumes) in &by_project {
        let names = &apps_by_project[*project];
        app_count += names.len();
        affected.push(format!(
            "{} (project {project}: volume(s) {})",
            names.join(", "),
            volumes.join(", ")
        ));
    }
    match (affected.is_empty(), unreadable.is_empty()) {
        (true, true) => Check::ok(
            name,
            format!(
                "every volume of the {} project(s) with running apps has a local data plane",
                projects.len()
            ),
        ),
        (false, _) => Check::warn(
            name,
            format!(
                "{app_count} running app(s) in projects with volumes that are not local: a restore starts them without those volumes: {}",
                first_few(&affected, 3, None)
            ),
        ),
        (true, false) => Check::warn(
            name,
            format!(
                "the volumes of {} project(s) cannot be read: {}",
                unreadable.len(),
                first_few(&unreadable, 2, None)
            ),
        ),
    }
}

fn workspace_projects(report: &ScanReport) -> Check {
    let name = "workspace projects";
    let unknown: Vec<String> = report
        .problems
        .iter()
        .filter(|p| is_unknown_project(p))
        .map(|p| p.subject.clone())
        .collect();
    if unknown.is_empty() {
        Check::ok(
            name,
            "the project listing knows the project of every running workspace",
        )
    } else {
        Check::warn(
            name,
            format!(
                "{} running workspace(s) whose project the project listing does not know: dmm cannot stop them; stop them by hand: {}",
                unknown.len(),
                first_few(&unknown, 3, Some(IN_A_SNAPSHOT))
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_than_a_few_says_where_to_see_the_rest() {
        let items: Vec<String> = (1..=5).map(|i| format!("w{i}")).collect();
        assert_eq!(first_few(&items[..2], 3, Some(IN_A_SNAPSHOT)), "w1; w2");
        assert_eq!(first_few(&items, 4, None), "w1; w2; w3; w4; and 1 more");
        let text = first_few(&items, 3, Some(IN_A_SNAPSHOT));
        assert!(text.starts_with("w1; w2; w3; and 2 more"), "{text}");
        assert!(text.contains("dmm snapshot"), "{text}");
    }
}
