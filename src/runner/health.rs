//! [`ApiHealth`], which notices when the API has stopped answering altogether and stops the
//! run, resumable, instead of failing every step.

use std::sync::atomic::{AtomicU32, Ordering};

use super::cancel::Cancel;
use crate::domino::ApiError;

/// Notices when the API has stopped answering altogether. Each failure counted here already
/// outlived the client's retries; when many come in a row with no success between them, the
/// deployment is down (or unreachable), and failing every remaining step one by one would only
/// turn an outage into a pile of `Failed` steps to retry by hand. The run stops instead,
/// resumable: every step stays where the journal has it.
pub(crate) struct ApiHealth {
    consecutive: AtomicU32,
    limit: u32,
    cancel: Cancel,
}

impl ApiHealth {
    pub(crate) fn new(limit: u32, cancel: Cancel) -> ApiHealth {
        ApiHealth {
            consecutive: AtomicU32::new(0),
            limit: limit.max(1),
            cancel,
        }
    }

    pub(crate) fn answered(&self) {
        self.consecutive.store(0, Ordering::Relaxed);
    }

    /// Counts a failure; a transient one may stop the run.
    pub(crate) fn failed(&self, e: &ApiError) {
        if matches!(e, ApiError::Unanswered { .. }) {
            // Sent once and not retried, so it says little on its own; the read that looks
            // at its execution next tells whether the API answers.
            return;
        }
        if !e.is_transient() {
            // The API answered, if not as hoped.
            self.answered();
            return;
        }
        let n = self.consecutive.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= self.limit {
            self.cancel.cancel_because(format!(
                "the API {} {n} requests in a row, each retried (last: {e}); \
                 stopping so that nothing is marked failed for an outage",
                if e.is_refusal() {
                    "refused"
                } else {
                    "did not answer"
                }
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transient() -> ApiError {
        ApiError::Transport {
            method: "GET".into(),
            path: "/v4/projects".into(),
            message: "connection refused".into(),
            refused: false,
        }
    }

    #[test]
    fn only_an_unbroken_run_of_transient_failures_stops_the_run() {
        let cancel = Cancel::new();
        let health = ApiHealth::new(3, cancel.clone());
        health.failed(&transient());
        health.failed(&transient());
        health.answered();
        health.failed(&transient());
        health.failed(&transient());
        assert!(!cancel.is_cancelled());
        health.failed(&transient());
        assert!(cancel.is_cancelled());
        assert!(
            cancel
                .reason()
                .unwrap()
                .contains("did not answer 3 requests")
        );
    }

    #[test]
    fn a_streak_of_refusals_is_said_refused_not_unanswered() {
        let cancel = Cancel::new();
        let health = ApiHealth::new(2, cancel.clone());
        let refused = ApiError::Status {
            method: "POST".into(),
            path: "/v4/modelProducts/1/stop".into(),
            status: 429,
            body: "slow down".into(),
        };
        health.failed(&refused);
        health.failed(&refused);
        let why = cancel.reason().expect("stopped");
        assert!(why.contains("refused 2 requests"), "{why}");
        assert!(!why.contains("did not answer"), "{why}");
    }
}
