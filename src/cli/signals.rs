//! Signals that ask a run to stop: Ctrl-C, SIGTERM (a Kubernetes Job's end), SIGHUP (a dropped
//! SSH session). The first lets what is in flight finish and be recorded; a second ends the
//! process at once, which is safe because the journal is consistent at every commit.

use super::exit::Exit;
use crate::runner::Cancel;

/// Starts listening at once (before returning), so that a signal in the run's first moments is
/// handled like any other rather than ending the process with its default action.
pub fn watch(cancel: Cancel) {
    let mut signals = Signals::listen();
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
