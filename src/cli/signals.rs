//! Signals that ask a run to stop: Ctrl-C, SIGTERM (a Kubernetes Job's end), SIGHUP (a dropped
//! SSH session). The first lets what is in flight finish and be recorded; a second ends the
//! process at once, which is safe because the journal is consistent at every commit.

use super::exit::Exit;
use crate::runner::Cancel;

pub fn watch(cancel: Cancel) {
    tokio::spawn(async move {
        let first = next_signal().await;
        tracing::warn!(
            "{first}: no new requests; letting those in flight finish (press again to stop at once)"
        );
        cancel.cancel();
        let second = next_signal().await;
        crate::cli::output::notice(&format!(
            "{second} again: stopping now; run the same command again to continue"
        ));
        std::process::exit(Exit::Interrupted as i32);
    });
}

async fn next_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            let _ = tokio::signal::ctrl_c().await;
            return "interrupted";
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => "interrupted (SIGINT)",
            _ = term.recv() => "terminated (SIGTERM)",
            _ = hup.recv() => "hung up (SIGHUP)",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "interrupted"
    }
}
