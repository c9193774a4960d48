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
#[derive(Default)]
struct FirstArrival {
    seen: AtomicBool,
    notify: Notify,
    enlisted: AtomicUsize,
}

/// Steps of a kind that look on the usual schedule before any execution of it has arrived.
const SCOUTS: usize = 4;
/// The longest another step waits for the scouts' first arrival before it looks itself (a
/// scout whose execution is stuck must not hold the others back for long).
pub(crate) const SCOUTING_PATIENCE: Duration = Duration::from_secs(15);

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
        if self.bulk.is_some() || self.arrival.seen.load(Ordering::Acquire) {
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

    /// A step saw its execution at the target (or gone): the patient steps look now.
    pub(crate) fn arrived(&self) {
        if !self.arrival.seen.swap(true, Ordering::AcqRel) {
            self.arrival.notify.notify_waiters();
        }
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
