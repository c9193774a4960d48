//! `dmm shutdown` and `dmm restore`: parse, confirm, hand the run to the runner, render.

use std::sync::Arc;

use super::render;
use crate::cli::args::{GlobalArgs, RunArgs};
use crate::cli::confirm::confirm;
use crate::cli::connect::connect;
use crate::cli::exit::{CliError, Exit};
use crate::cli::logging::Output;
use crate::cli::output::outln;
use crate::cli::run_hooks::RunHooks;
use crate::cli::{output_paths, run_options, signals};
use crate::domino::KindOptions;
use crate::journal::{self, Operation};
use crate::runner::{self, Cancel, RunError, Selection};
use crate::snapshot;

pub async fn run(
    global: &GlobalArgs,
    out: &Output,
    op: Operation,
    args: RunArgs,
) -> Result<Exit, CliError> {
    if let Some(d) = &args.deadline
        && d.remaining().is_none()
        && !args.dry_run
    {
        return Err(CliError::bad_input(format!(
            "the deadline {} has passed already; nothing was touched",
            d.at_rfc3339()
        )));
    }
    let loaded = snapshot::read(&args.file)?;
    let journal = journal::path_for(&args.file, args.journal.as_deref());
    let outputs: Vec<(&str, &std::path::Path)> = args
        .metrics_file
        .as_deref()
        .map(|m| ("--metrics-file", m))
        .into_iter()
        .collect();
    output_paths::check(&args.file, &journal, &outputs)?;
    let (limits, options) = run_options::from_args(op, &args, &loaded)?;
    let deployment = Arc::new(connect(global, limits, &KindOptions::default())?);
    let selection = Selection {
        op,
        only: args.service.into_iter().collect(),
    };

    if args.dry_run {
        let plan = runner::plan_only(&journal, &loaded, &deployment, &selection, &options).await?;
        render::print_plan(op, &plan, true);
        jobs_left_line(op, &args, &journal, plan.cycle);
        let mut again = vec![format!(
            "{} --yes",
            crate::cli::hint::command(op.as_str(), &args.file, args.journal.as_deref())
        )];
        if let Some(kind) = args.service {
            again.push(format!("-s {}", kind.slug()));
        }
        outln!("next: to do it, run: {}", again.join(" "));
        return Ok(Exit::Success);
    }

    let prepared = runner::prepare(&journal, loaded, deployment, selection, options).await?;
    render::print_plan(op, prepared.plan(), false);
    jobs_left_line(op, &args, &journal, prepared.plan().cycle);
    confirm(op, prepared.plan(), prepared.host(), args.yes)?;
    let cancel = Cancel::new();
    signals::watch(cancel.clone());
    let (prepared, hooks) = RunHooks::attach(prepared, &args, op, out, &cancel)?;
    let result = prepared.execute(&cancel, hooks.reporter()).await;
    hooks.finish(result.as_ref().ok());
    let report = result?;
    render::print_report(
        &report,
        &args.file,
        args.journal.as_deref(),
        global.verbose > 0,
    );
    Ok(Exit::for_outcome(report.outcome))
}

/// Under a restore's plan, before its prompt: the Jobs the shutdown stopped that this restore
/// leaves stopped (no `--restart-jobs`), so that the choice is made knowingly. Read from the
/// journal without its lock, as `dmm status` does.
fn jobs_left_line(op: Operation, args: &RunArgs, journal: &std::path::Path, cycle: u32) {
    use crate::journal::{JournalRead, JournalReader};
    let only_other_kinds = args
        .service
        .is_some_and(|k| k.source() != crate::snapshot::Source::Live);
    if op != Operation::Restore || args.restart_jobs || only_other_kinds {
        return;
    }
    let Ok(steps) = JournalReader::open(journal).and_then(|r| r.steps(None)) else {
        return;
    };
    let left = runner::JobsOfShutdown::of(&steps, cycle).left_stopped;
    if left > 0 {
        outln!(
            "{:<18} {left} stopped by the shutdown stay stopped: add --restart-jobs to restart them",
            "Job"
        );
    }
}

impl From<RunError> for CliError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::NotUsable(_) | RunError::WrongUrl(_) | RunError::Snapshot(_) => {
                CliError::bad_input(e.to_string())
            }
            RunError::Unavailable(_) => CliError::new(Exit::Interrupted, e.to_string()),
            RunError::Unauthorized(e) => CliError::new(Exit::Interrupted, format!("stopped: {e}")),
            RunError::Journal(e) => e.into(),
        }
    }
}
