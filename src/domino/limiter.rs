//! The client's own brakes: at most N requests in flight, and at most R requests started per
//! second. Every HTTP attempt (first tries, retries, pages) passes through here.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::config::Limits;

pub(crate) struct RequestLimiter {
    in_flight: Arc<Semaphore>,
    pacer: Option<Pacer>,
}

impl RequestLimiter {
    pub(crate) fn new(limits: &Limits) -> RequestLimiter {
        RequestLimiter {
            in_flight: Arc::new(Semaphore::new(limits.max_in_flight.max(1))),
            pacer: limits
                .requests_per_second
                .map(|rps| Pacer::new(Duration::from_secs_f64(1.0 / rps))),
        }
    }

    /// Waits for a free slot and for the next start time; the request may go while the returned
    /// permit is held. The in-flight slot is taken first, so a request that has waited for its
    /// start time is sent at once rather than queueing again behind the semaphore.
    pub(crate) async fn acquire(&self) -> OwnedSemaphorePermit {
        let permit = Arc::clone(&self.in_flight)
            .acquire_owned()
            .await
            .expect("the limiter's semaphore is never closed");
        if let Some(pacer) = &self.pacer {
            tokio::time::sleep_until(pacer.reserve(Instant::now())).await;
        }
        permit
    }
}

/// Hands out start times at least `interval` apart (a token bucket of size one): each caller
/// reserves the next free slot and sleeps until it, so no burst ever exceeds the rate.
struct Pacer {
    interval: Duration,
    next_free: Mutex<Option<Instant>>,
}

impl Pacer {
    fn new(interval: Duration) -> Pacer {
        Pacer {
            interval,
            next_free: Mutex::new(None),
        }
    }

    /// The start time of one request asked for at `now`.
    fn reserve(&self, now: Instant) -> Instant {
        let mut next_free = self.next_free.lock().unwrap_or_else(|e| e.into_inner());
        let slot = match *next_free {
            Some(t) if t > now => t,
            _ => now,
        };
        *next_free = Some(slot + self.interval);
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacer_spaces_reservations() {
        let pacer = Pacer::new(Duration::from_millis(100));
        let t0 = Instant::now();
        let slots: Vec<_> = (0..4).map(|_| pacer.reserve(t0)).collect();
        let offsets: Vec<_> = slots.iter().map(|s| (*s - t0).as_millis()).collect();
        assert_eq!(offsets, [0, 100, 200, 300]);
        // After a quiet period the next request goes at once: no credit is saved up.
        let later = t0 + Duration::from_secs(5);
        assert_eq!(pacer.reserve(later), later);
        assert_eq!(pacer.reserve(later), later + Duration::from_millis(100));
    }

    #[tokio::test]
    async fn limiter_caps_in_flight() {
        let limiter = Arc::new(RequestLimiter::new(&Limits {
            max_in_flight: 2,
            requests_per_second: None,
        }));
        let a = limiter.acquire().await;
        let _b = limiter.acquire().await;
        let third = tokio::time::timeout(Duration::from_millis(20), limiter.acquire()).await;
        assert!(third.is_err(), "a third request must wait");
        drop(a);
        let third = tokio::time::timeout(Duration::from_millis(200), limiter.acquire()).await;
        assert!(third.is_ok());
    }

    #[tokio::test]
    async fn limiter_paces_starts() {
        let limiter = RequestLimiter::new(&Limits {
            max_in_flight: 8,
            requests_per_second: Some(100.0),
        });
        let start = Instant::now();
        for _ in 0..5 {
            drop(limiter.acquire().await);
        }
        // Five starts at 10 ms intervals: the last goes at 40 ms at the earliest.
        assert!(start.elapsed() >= Duration::from_millis(40));
    }
}
