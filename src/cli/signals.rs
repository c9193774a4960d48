//! Signals that ask a run to stop: Ctrl-C, SIGTERM (a Kubernetes Job's end), SIGHUP (a dropped
//! SSH session). The first lets what is in flight finish and be recorded; a second ends the
//! process at once, which is safe because the journal is consistent at every commit.

use super::exit::Exit;
use crate::runner::Cancel;

/// The watch of [`at_once`], ended when a run's own watch begins.
static BEFORE_THE_RUN: std::sync::Mutex<Option<tokio::task::AbortHandle>> =
    std::sync::Mutex::new(None);

/// Until a run begins (the snapshot read, the deployment asked, the plan shown), and for every
/// command that is not a run, a signal ends dmm at once with a line and exit 3: nothing is in
/// flight that needs recording, and the journal is consistent at every commit. Without it the
/// signal's default action ends the process without a word, as if it had crashed.
pub fn at_once() {
    let mut signals = Signals::listen();
    let task = tokio::spawn(async move {
        let first = signals.next().await;
        crate::cli::output::notice(&format!(
            "{first}: stopped at once; no stop or start was under way; run the same command again"
        ));
        std::process::exit(Exit::Interrupted as i32);
    });
    *BEFORE_THE_RUN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(task.abort_handle());
}

/// Starts listening at once (before returning), so that a signal in the run's first moments is
/// handled like any other rather than ending the process with its default action.
pub fn watch(cancel: Cancel) {
    let mut signals = Signals::listen();
    if let Some(before) = BEFORE_THE_RUN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
    {
        before.abort();
    }
    tokio::spawn(async move {
        let first = signals.next().await;
        tracing::warn!(
            "{first}: no new requests; letting those in flight finish (press again to stop at once)"
        );
        cancel.cancel();
        let second = signals.next().await;
        crate::cli::output::notice(&format!(
            "{second} again: stopping now; run the same command again to continue"
        ));
        std::process::exit(Exit::Interrupted as i32);
    });
}

struct Signals {
    #[cfg(unix)]
    streams: Option<(
        tokio::signal::unix::Signal,
        tokio::signal::unix::Signal,
        tokio::signal::unix::Signal,
    )>,
}

impl Signals {
    fn listen() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let streams = match (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
                signal(SignalKind::hangup()),
            ) {
                (Ok(int), Ok(term), Ok(hup)) => Some((int, term, hup)),
                _ => None,
            };
            Signals { streams }
        }
        #[cfg(not(unix))]
        {
            Signals {}
        }
    }

    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        if let Some((int, term, hup)) = &mut self.streams {
            return tokio::select! {
                _ = int.recv() => "interrupted (SIGINT)",
                _ = term.recv() => "terminated (SIGTERM)",
                _ = hup.recv() => "hung up (SIGHUP)",
            };
        }
        let _ = tokio::signal::ctrl_c().await;
        "interrupted"
    }
}
