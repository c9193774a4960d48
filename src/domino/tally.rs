//! Retries are invisible to callers of the client (a retried call just takes longer), but an
//! audit should show them. A step runs its request inside [`counting_retries`], and the client
//! notes every retry of that future's requests here.

use std::cell::RefCell;
use std::future::Future;

/// The retries of the requests one future sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetryTally {
    pub retries: u32,
    /// The transient failure that caused the last retry.
    pub last_cause: Option<String>,
}

tokio::task_local! {
    static TALLY: RefCell<RetryTally>;
}

/// Runs `fut` and returns its output with the retries its requests needed.
pub async fn counting_retries<F: Future>(fut: F) -> (F::Output, RetryTally) {
    TALLY
        .scope(RefCell::new(RetryTally::default()), async {
            let out = fut.await;
            let tally = TALLY.with(|t| t.borrow().clone());
            (out, tally)
        })
        .await
}

/// Called by the client for every retry; does nothing outside [`counting_retries`].
pub(crate) fn note_retry(cause: &dyn std::fmt::Display) {
    let _ = TALLY.try_with(|t| {
        let mut t = t.borrow_mut();
        t.retries += 1;
        t.last_cause = Some(cause.to_string());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_only_inside_the_scope() {
        note_retry(&"outside");
        let ((), tally) = counting_retries(async {
            note_retry(&"HTTP 503");
            tokio::task::yield_now().await;
            note_retry(&"HTTP 429");
        })
        .await;
        assert_eq!(tally.retries, 2);
        assert_eq!(tally.last_cause.as_deref(), Some("HTTP 429"));
    }
}
