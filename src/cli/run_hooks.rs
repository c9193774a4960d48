//! What listens to a run besides the terminal: a metrics file, webhooks, the deadline's timer.
//! Assembled here from the flags, so that the command itself only sequences parse, confirm, run,
//! render.

use std::sync::Arc;

use super::args::RunArgs;
use super::exit::CliError;
use super::hint;
use super::logging::Output;
use super::metrics::MetricsFile;
use super::progress::RunProgress;
use crate::journal::Operation;
use crate::notify::{EndWords, Notifier};
use crate::runner::{Cancel, Prepared, Reporter, Reporters, RunReport};

pub struct RunHooks {
    reporters: Vec<Arc<dyn Reporter>>,
    metrics: Option<Arc<MetricsFile>>,
}

impl RunHooks {
    /// Progress on the terminal, and whatever the flags ask for: `--metrics-file`,
    /// `--notify-url` (also handed to the run, which records the deliveries), `--deadline`.
    pub fn attach(
        mut prepared: Prepared,
        args: &RunArgs,
        op: Operation,
        out: &Output,
        cancel: &Cancel,
    ) -> Result<(Prepared, RunHooks), CliError> {
        let client = prepared.client().clone();
        let silence: crate::cli::progress::ServerSilence = Arc::new(move || client.silent_for());
        let client = prepared.client().clone();
        let unanswered: crate::cli::progress::UnansweredRequest =
            Arc::new(move || client.unanswered());
        let mut reporters: Vec<Arc<dyn Reporter>> = vec![Arc::new(
            RunProgress::new(
                out,
                args.progress_every,
                std::time::Duration::from_secs(args.grace_period_s),
                Some(silence),
            )
            .with_unanswered(unanswered),
        )];
        let metrics = args
            .metrics_file
            .as_deref()
            .map(|path| MetricsFile::start(path, op, prepared.client().clone()));
        reporters.extend(metrics.clone().map(|m| m as Arc<dyn Reporter>));
        if !args.notify_url.is_empty() {
            let (file, journal) = (args.file.clone(), args.journal.clone());
            let notifier = Notifier::new(
                args.notify_url.clone(),
                prepared.host(),
                op,
                args.change.change_id.clone(),
                Box::new(move |report| EndWords {
                    next: hint::next_line(&report.next, &file, journal.as_deref()),
                }),
            )
            .map_err(CliError::bad_input)?;
            reporters.push(notifier.clone());
            prepared = prepared.notify_with(notifier);
        }
        if let Some(deadline) = &args.deadline {
            deadline.watch(cancel.clone());
        }
        Ok((prepared, RunHooks { reporters, metrics }))
    }

    pub fn reporter(&self) -> Arc<dyn Reporter> {
        Arc::new(Reporters(self.reporters.clone()))
    }

    /// The run has ended (or failed to): the metrics file gets its final figures.
    pub fn finish(&self, report: Option<&RunReport>) {
        if let Some(metrics) = &self.metrics {
            metrics.finish(report);
        }
    }
}
