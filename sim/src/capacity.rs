//! A deployment that can serve only so many requests per second: requests queue for the server,
//! so latency grows with the queue, and once the queue holds more than a set wait, requests are
//! answered 429 with `Retry-After` at once (as a frontend's rate limiter with a small burst
//! queue does, nginx's `limit_req` for example). Tests and benchmarks use it to watch a client
//! find the capacity.

use std::time::Duration;

/// The server's queue: when the next request can start being served.
#[derive(Debug, Default)]
pub struct Capacity {
    /// Microseconds since the simulator started.
    next_free_us: u64,
}

impl Capacity {
    /// A request arriving at `now_ms`, with the server taking `rps` requests per second and
    /// queueing at most `max_wait`: how long it waits for the server, or `None` when the queue
    /// is full (the request is refused and takes no capacity).
    pub fn admit(&mut self, now_ms: u64, rps: u32, max_wait: Duration) -> Option<Duration> {
        let now_us = now_ms.saturating_mul(1000);
        let slot_us = 1_000_000 / u64::from(rps.max(1));
        let start = self.next_free_us.max(now_us);
        let wait = Duration::from_micros(start - now_us);
        if wait > max_wait {
            return None;
        }
        self.next_free_us = start + slot_us;
        Some(wait)
    }
}

/// A single-process server's workers: each serves one request at a time, for a fixed time, in
/// the order they arrive; a request waits for the first worker free. So the latency grows with
/// the requests in flight beyond the workers, and nothing is refused.
#[derive(Debug, Default)]
pub struct Workers {
    /// When each worker is free next, in microseconds since the simulator started.
    free_at_us: Vec<u64>,
}

impl Workers {
    /// A request arriving at `now_ms`, served by one of `workers` for `service`: how long until
    /// it has been served (its wait and its service).
    pub fn serve(&mut self, now_ms: u64, workers: u32, service: Duration) -> Duration {
        if self.free_at_us.len() != workers as usize {
            // A new number of workers (the settings changed): they start free.
            self.free_at_us = vec![0; workers.max(1) as usize];
        }
        let now_us = now_ms.saturating_mul(1000);
        let (i, free) = self
            .free_at_us
            .iter()
            .copied()
            .enumerate()
            .min_by_key(|&(_, t)| t)
            .expect("at least one worker");
        let start = free.max(now_us);
        let done = start + service.as_micros() as u64;
        self.free_at_us[i] = done;
        Duration::from_micros(done - now_us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_within_capacity_do_not_wait() {
        let mut c = Capacity::default();
        for i in 0..100 {
            // 100 per second at 100 rps, evenly spaced.
            assert_eq!(
                c.admit(i * 10, 100, Duration::ZERO),
                Some(Duration::ZERO),
                "{i}"
            );
        }
    }

    #[test]
    fn latency_grows_with_the_requests_in_flight_beyond_the_workers() {
        let mut w = Workers::default();
        let service = Duration::from_millis(10);
        let waits: Vec<u128> = (0..6)
            .map(|_| w.serve(1000, 2, service).as_millis())
            .collect();
        assert_eq!(
            waits,
            [10, 10, 20, 20, 30, 30],
            "two at a time, the rest queue"
        );
        // Once the queue has drained, a request is served at once again.
        assert_eq!(w.serve(1100, 2, service).as_millis(), 10);
    }

    #[test]
    fn a_burst_queues_then_is_refused() {
        let mut c = Capacity::default();
        let max_wait = Duration::from_millis(50);
        let waits: Vec<_> = (0..8).map(|_| c.admit(1000, 100, max_wait)).collect();
        let ms = |w: &Option<Duration>| w.map(|d| d.as_millis());
        assert_eq!(
            waits.iter().map(ms).collect::<Vec<_>>(),
            [
                Some(0),
                Some(10),
                Some(20),
                Some(30),
                Some(40),
                Some(50),
                None,
                None
            ],
            "latency grows with the queue, then the queue is full"
        );
        // A refused request took no capacity: once the queue drains, requests pass again.
        assert_eq!(c.admit(1060, 100, max_wait), Some(Duration::ZERO));
    }
}
