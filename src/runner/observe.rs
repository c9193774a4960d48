use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::domino::{ApiError, ExecutionKind, Observed};
use crate::snapshot::Entry;

/// Reads executions' states for the steps of one kind. Where the kind can list every
/// execution's state in one answer, concurrent steps share one listing instead of sending a
/// request each; listings are spaced at least `min_interval` apart.
pub(crate) struct Observer {
    api: Arc<dyn ExecutionKind>,
    bulk: Option<Mutex<BulkState>>,
    min_interval: Duration,
}

#[derive(Default)]
struct BulkState {
    /// Increases with every listing, so a step can ask for one newer than what it last saw.
    generation: u64,
    started: Option<Instant>,
    listing: Option<Result<Arc<HashMap<String, Observed>>, ApiError>>,
}

/// A state read, with the listing generation it came from (0 for single reads).
pub(crate) struct Reading {
    pub state: Result<Observed, ApiError>,
    pub generation: u64,
}

impl Observer {
    /// An observer that reads executions one at a time.
    pub(crate) fn single(api: Arc<dyn ExecutionKind>) -> Observer {
        Observer {
            api,
            bulk: None,
            min_interval: Duration::ZERO,
        }
    }

    /// Uses shared listings where the kind offers them (asking once to find out).
    pub(crate) async fn new(api: Arc<dyn ExecutionKind>, min_interval: Duration) -> Observer {
        Observer {
            bulk: None,
            api,
            min_interval,
        }
        .probe_bulk()
        .await
    }

    async fn probe_bulk(mut self) -> Observer {
        // A kind without a listing answers None at once, without a request.
        if let Some(first) = self.api.observe_all().await {
            let state = BulkState {
                generation: 1,
                started: Some(Instant::now()),
                listing: Some(first.map(Arc::new)),
            };
            self.bulk = Some(Mutex::new(state));
        }
        self
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
                tokio::time::sleep_until(prev + self.min_interval).await;
            }
            let started = Instant::now();
            let listing = match self.api.observe_all().await {
                Some(r) => r.map(Arc::new),
                None => Ok(Arc::new(HashMap::new())),
            };
            st.generation += 1;
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
