//! [`Cancel`], the flag that asks a run to stop sending new requests, and why.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// Asks a run to stop sending new requests (Ctrl-C, SIGTERM, a refused key, an outage).
/// Cloning shares the same flag.
#[derive(Clone, Default)]
pub struct Cancel {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    cancelled: AtomicBool,
    notify: Notify,
    /// Why, when the run stopped itself rather than being stopped by a signal.
    reason: Mutex<Option<String>>,
}

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    /// Cancels and says why, for the operator; the first reason given is kept.
    pub fn cancel_because(&self, reason: impl Into<String>) {
        if let Ok(mut r) = self.inner.reason.lock() {
            r.get_or_insert_with(|| reason.into());
        }
        self.cancel();
    }

    pub fn reason(&self) -> Option<String> {
        self.inner.reason.lock().ok()?.clone()
    }

    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    /// Resolves once [`Cancel::cancel`] has been called (at once if it already was).
    pub async fn cancelled(&self) {
        loop {
            let notified = self.inner.notify.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }

    /// Sleeps for `d`, or less if the run is cancelled meanwhile; true when it slept fully.
    pub async fn sleep(&self, d: std::time::Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => !self.is_cancelled(),
            _ = self.cancelled() => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn sleep_ends_early_on_cancel() {
        let c = Cancel::new();
        let c2 = c.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            c2.cancel();
        });
        let start = std::time::Instant::now();
        assert!(!c.sleep(Duration::from_secs(30)).await);
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(!c.sleep(Duration::from_secs(30)).await, "already cancelled");
    }
}
