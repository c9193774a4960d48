//! `--deadline DURATION|RFC3339` on shutdown and restore: when the window closes, the run stops
//! sending new requests, lets the steps in flight reach their next durable phase (the drain of a
//! signal), records itself as interrupted by the deadline, and exits 3 with the command that
//! continues it. The timer only fires the run's `Cancel` with a reason; the runner does the rest.

use std::time::{Duration, SystemTime};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::runner::Cancel;

/// When the window closes, as given: a duration from the start of the command, or a time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deadline {
    at: SystemTime,
    given: String,
}

/// The clap value parser: `90m`, `1h 30m`, or `2026-11-28T06:00:00Z`.
pub fn parse(s: &str) -> Result<Deadline, String> {
    let at = if let Ok(d) = humantime::parse_duration(s) {
        SystemTime::now() + d
    } else if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        SystemTime::from(t)
    } else {
        return Err(format!(
            "{s:?} is neither a duration (90m, 1h30m) nor an RFC 3339 time (2026-11-28T06:00:00Z)"
        ));
    };
    Ok(Deadline {
        at,
        given: s.to_owned(),
    })
}

impl Deadline {
    /// Time left before the deadline; `None` once it has passed.
    pub fn remaining(&self) -> Option<Duration> {
        self.at.duration_since(SystemTime::now()).ok()
    }

    /// The deadline as an RFC 3339 UTC time, for messages and the run record.
    pub fn at_rfc3339(&self) -> String {
        OffsetDateTime::from(self.at)
            .format(&Rfc3339)
            .unwrap_or_else(|_| self.given.clone())
    }

    /// Fires `cancel`, with the deadline as its reason, when the deadline comes.
    pub fn watch(&self, cancel: Cancel) {
        let left = self.remaining().unwrap_or_default();
        let reason = format!(
            "the deadline {} (--deadline {}) was reached; no new request was sent after it",
            self.at_rfc3339(),
            self.given
        );
        tokio::spawn(async move {
            tokio::time::sleep(left).await;
            cancel.cancel_because(reason);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times_parse_and_nonsense_is_refused() {
        let d = parse("90m").unwrap();
        let left = d.remaining().unwrap();
        assert!(left > Duration::from_secs(89 * 60) && left <= Duration::from_secs(90 * 60));
        let t = parse("2020-01-01T00:00:00Z").unwrap();
        assert_eq!(t.remaining(), None, "in the past");
        assert_eq!(t.at_rfc3339(), "2020-01-01T00:00:00Z");
        assert!(
            parse("tomorrow-ish")
                .unwrap_err()
                .contains("neither a duration")
        );
    }
}
