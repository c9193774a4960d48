//! `dmm shutdown` and `dmm restore`: parse, confirm, hand the run to the runner, render.

use std::sync::Arc;

use super::render;
use crate::cli::args::{GlobalArgs, RunArgs};
use crate::cli::confirm::confirm;
use crate::cli::connect::connect;
use crate::cli::exit::{CliError, Exit};
use crate::cli::logging::Output;
use crate::cli::metrics::MetricsFile;
use crate::cli::notify::Notifier;
use crate::cli::progress::RunProgress;
use crate::cli::{run_options, signals};
use crate::domino::KindOptions;
use crate::journal::{self, Operation};
use crate::runner::{self, Cancel, Reporter, Reporters, RunError, Selection};
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
    let (limits, options) = run_options::from_args(op, &args, &loaded)?;
    let deployment = Arc::new(connect(global, limits, &KindOptions::default())?);
    let selection = Selection {
        op,
        only: args.service.into_iter().collect(),
    };

    if args.dry_run {
        let plan = runner::plan_only(&journal, &loaded, &deployment, &selection, &options).await?;
        render::print_plan(op, &plan, true);
        return Ok(Exit::Success);
    }

    let mut prepared = runner::prepare(&journal, loaded, deployment, selection, options).await?;
    render::print_plan(op, prepared.plan(), false);
    confirm(op, prepared.plan(), prepared.host(), args.yes)?;
    let cancel = Cancel::new();
    signals::watch(cancel.clone());
    let mut reporters: Vec<Arc<dyn Reporter>> = vec![Arc::new(RunProgress::new(out))];
    let metrics = args
        .metrics_file
        .as_deref()
        .map(|path| MetricsFile::start(path, op, prepared.client().clone()));
    reporters.extend(metrics.clone().map(|m| m as Arc<dyn Reporter>));
    if !args.notify_url.is_empty() {
        let notifier = Notifier::new(
            args.notify_url.clone(),
            prepared.host(),
            op,
            args.file.clone(),
            args.journal.clone(),
            args.notify_stuck_after,
        )
        .map_err(CliError::bad_input)?;
        reporters.push(notifier.clone());
        prepared = prepared.notify_with(notifier);
    }
    if let Some(d) = &args.deadline {
        d.watch(cancel.clone());
    }
    let result = prepared
        .execute(&cancel, Arc::new(Reporters(reporters)))
        .await;
    if let Some(metrics) = &metrics {
        metrics.finish(result.as_ref().ok());
    }
    let report = result?;
    render::print_report(&report, &args.file, args.journal.as_deref());
    Ok(Exit::for_outcome(report.outcome))
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
