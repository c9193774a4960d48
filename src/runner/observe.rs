//! Reading executions' states for the steps of one kind: one shared listing where the kind has
//! one, a read per execution otherwise.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, Notify};
use tokio::time::Instant;

use crate::domino::{ApiError, ExecutionKind, Observed};
use crate::snapshot::Entry;

/// Reads executions' states for the steps of one kind. Where the kind can list every
/// execution's state in one answer, concurrent steps share one listing instead of sending a
/// request each; listings are spaced at least `min_interval` apart, and far enough apart that
/// listing takes at most a fifth of the time (a large admin list is many pages).
pub(crate) struct Observer {
    api: Arc<dyn ExecutionKind>,
    bulk: Option<Mutex<BulkState>>,
    min_interval: Duration,
    arrival: FirstArrival,
}

/// Steps of a kind read one at a time, sent together, mostly wait alike: until one execution of
/// the kind has been seen at its target, only the first [`SCOUTS`] steps to wait look on the
/// usual schedule, and the others wait for that first arrival (or [`SCOUTING_PATIENCE`]) before
/// their first look. A stage of three hundred Model API versions whose stops take half a minute
/// so costs a few reads before the first one stops, not three hundred every poll.
///
/// Once some have arrived, how long they took says when the others are worth a first look:
/// [`LEARNED_SHARE`] of the median of the last [`LEARNED_FROM`] waits (a wait is measured at
/// the look that saw the arrival, so it runs a little long; the share keeps the estimate from
/// creeping up).
#[derive(Default)]
struct FirstArrival {
    seen: AtomicBool,
    notify: Notify,
    enlisted: AtomicUsize,
    waits: std::sync::Mutex<std::collections::VecDeque<Duration>>,
}

/// How many recent arrivals the first look is learned from, and how many it needs.
const LEARNED_FROM: usize = 32;
const LEARNED_AFTER: usize = 4;
const LEARNED_SHARE: f64 = 0.8;
/// However long arrivals took, a first look comes within this.
const LEARNED_AT_MOST: Duration = Duration::from_secs(60);

/// Steps of a kind that look on the usual schedule before any execution of it has arrived.
const SCOUTS: usize = 4;
/// The longest another step waits for the scouts' first arrival before it looks itself (a
/// scout whose execution is stuck must not hold the others back for long).
pub(crate) const SCOUTING_PATIENCE: Duration = Duration::from_secs(15);

impl FirstArrival {
    fn waits(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<Duration>> {
        self.waits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn learn(&self, waited: Duration) {
        let mut waits = self.waits();
        if waits.len() == LEARNED_FROM {
            waits.pop_front();
        }
        waits.push_back(waited);
    }

    fn first_look_after(&self, usual: Duration) -> Duration {
        let waits = self.waits();
        if waits.len() < LEARNED_AFTER {
            return usual;
        }
        let mut sorted: Vec<Duration> = waits.iter().copied().collect();
        sorted.sort_unstable();
        let median = sorted[sorted.len() / 2];
        median
            .mul_f64(LEARNED_SHARE)
            .clamp(usual, LEARNED_AT_MOST.max(usual))
    }
}

/// How a waiting step looks before its kind's first arrival.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lookout {
    /// On the usual schedule: a scout, a kind with a shared listing, or a kind already seen
    /// arriving.
    Scout,
    /// Waits for the kind's first arrival before its first look.
    Patient,
}

#[derive(Default)]
struct BulkState {
    /// Increases with every listing, so a step can ask for one newer than what it last saw.
    generation: u64,
    started: Option<Instant>,
    /// How long the last listing took, pages and retries included.
    took: Duration,
    listing: Option<Result<Arc<HashMap<String, Observed>>, ApiError>>,
}

/// However long listing takes, steps never wait longer than this for a fresh one.
const MAX_LISTING_SPACING: Duration = Duration::from_secs(5);

/// A state read, with the listing generation it came from (0 for single reads).
pub(crate) struct Reading {
    pub state: Result<Observed, ApiError>,
    pub generation: u64,
}

impl Observer {
    /// Shares listings where the kind has them, spaced at least `min_interval` apart.
    pub(crate) fn new(api: Arc<dyn ExecutionKind>, min_interval: Duration) -> Observer {
        let bulk = api
            .has_bulk_listing()
            .then(|| Mutex::new(BulkState::default()));
        Observer {
            api,
            bulk,
            min_interval,
            arrival: FirstArrival::default(),
        }
    }

    /// How a step that begins to wait now should look (see [`FirstArrival`]).
    pub(crate) fn enlist(&self) -> Lookout {
        if self.bulk.is_some() || self.has_arrival() {
            return Lookout::Scout;
        }
        if self.arrival.enlisted.fetch_add(1, Ordering::AcqRel) < SCOUTS {
            Lookout::Scout
        } else {
            Lookout::Patient
        }
    }

    /// Whether some execution of the kind has been seen at its target.
    pub(crate) fn has_arrival(&self) -> bool {
        self.arrival.seen.load(Ordering::Acquire)
    }

    /// A step saw its execution at the target (after waiting `waited` since its request was
    /// accepted), or gone (`None`): the patient steps look now.
    pub(crate) fn arrived(&self, waited: Option<Duration>) {
        if let Some(waited) = waited {
            self.arrival.learn(waited);
        }
        if !self.arrival.seen.swap(true, Ordering::AcqRel) {
            self.arrival.notify.notify_waiters();
        }
    }

    /// When a step that begins to wait now should first look: `usual`, or later when the
    /// kind's recent arrivals took longer (never later than a minute).
    pub(crate) fn first_look_after(&self, usual: Duration) -> Duration {
        self.arrival.first_look_after(usual)
    }

    /// Returns once some execution of the kind has been seen at its target.
    pub(crate) async fn first_arrival(&self) {
        loop {
            let notified = self.arrival.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.has_arrival() {
                return;
            }
            notified.await;
        }
    }

    /// How often steps should look when they share listings; `None` for single reads.
    pub(crate) fn shared_interval(&self) -> Option<Duration> {
        self.bulk.as_ref().map(|_| self.min_interval)
    }

    /// Reads one execution's state, from a listing that started after `not_before` and is newer
    /// than generation `seen`, or by a single read.
    pub(crate) async fn read(
        &self,
        entry: &Entry,
        key: &str,
        not_before: Instant,
        seen: u64,
    ) -> Reading {
        let Some(bulk) = &self.bulk else {
            return Reading {
                state: self.api.observe(entry).await,
                generation: 0,
            };
        };
        let mut st = bulk.lock().await;
        let fresh = st.generation > seen && st.started.is_some_and(|s| s >= not_before);
        if !fresh {
            if let Some(prev) = st.started {
                let spacing = self.min_interval.max(st.took * 5).min(MAX_LISTING_SPACING);
                tokio::time::sleep_until(prev + spacing).await;
            }
            let started = Instant::now();
            let listing = match self.api.observe_all().await {
                Some(r) => r.map(Arc::new),
                None => Ok(Arc::new(HashMap::new())),
            };
            st.generation += 1;
            // Only a listing that succeeded says how long listing takes: one that failed
            // includes the client's retries (during an outage, tens of seconds).
            if listing.is_ok() {
                st.took = started.elapsed();
            }
            st.started = Some(started);
            st.listing = Some(listing);
        }
        let generation = st.generation;
        let listed = match st.listing.as_ref().expect("listing set above") {
            Ok(map) => map.get(key).cloned(),
            Err(e) => {
                return Reading {
                    state: Err(e.clone()),
                    generation,
                };
            }
        };
        drop(st);
        // A listing can miss a row (pages shift while they are read), so absence is never
        // taken as "gone": only the execution's own endpoint can say that.
        let state = match listed {
            Some(s) => Ok(s),
            None => self.api.observe(entry).await,
        };
        Reading { state, generation }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn the_first_look_follows_how_long_recent_arrivals_took() {
        let a = FirstArrival::default();
        assert_eq!(a.first_look_after(SECOND), SECOND, "nothing learned yet");
        for s in [28, 30, 31, 33] {
            a.learn(Duration::from_secs(s));
        }
        // 0.8 of the median of 28, 30, 31 and 33 s.
        assert_eq!(a.first_look_after(SECOND), Duration::from_millis(24_800));
        let slow = FirstArrival::default();
        for s in [300, 310, 320, 330] {
            slow.learn(Duration::from_secs(s));
        }
        assert_eq!(slow.first_look_after(SECOND), LEARNED_AT_MOST);
        let quick = FirstArrival::default();
        for ms in [1_500, 1_900, 2_100, 2_400] {
            quick.learn(Duration::from_millis(ms));
        }
        assert_eq!(
            quick.first_look_after(SECOND),
            Duration::from_millis(1_680),
            "0.8 of the median"
        );
        let fast = FirstArrival::default();
        for ms in [100, 120, 150, 200] {
            fast.learn(Duration::from_millis(ms));
        }
        assert_eq!(
            fast.first_look_after(SECOND),
            SECOND,
            "never before the usual first look"
        );
    }

    #[test]
    fn only_the_most_recent_arrivals_count() {
        let a = FirstArrival::default();
        for _ in 0..LEARNED_FROM {
            a.learn(Duration::from_secs(10));
        }
        for _ in 0..LEARNED_FROM {
            a.learn(Duration::from_secs(2));
        }
        assert_eq!(a.first_look_after(SECOND), Duration::from_millis(1_600));
    }
}
