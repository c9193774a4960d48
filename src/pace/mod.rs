//! The pace of a client's requests, as pure state machines fed with instants: the control law
//! (`control.rs`), the judgement of pushback as our load or the server's weather
//! (`weather.rs`), the retry budget (`budget.rs`), and the zoo of server models it is judged
//! against in simulated time (`zoo/`).
//!
//! Depends on nothing else of the crate: the HTTP client (`domino::limiter`) feeds it each
//! request sent and each answer, and asks it for the rate, the in-flight limit and leave to
//! retry.

mod budget;
mod control;
mod weather;
#[cfg(test)]
pub mod zoo;

pub use budget::RetryBudget;
pub use control::{
    AdaptivePace, BETA, Change, Controller, INITIAL_IN_FLIGHT, LATENCY_SLACK, Pace, PaceReport,
    Pushback, RouteClass, SLOW_TICKS, Signal, TICK, TOLERANCE,
};
pub use weather::{FLOOR_SHARE, MAX_WEATHER, MAX_WEATHER_REFUSED};

/// The retry budget's figures, for whoever reports on it.
pub mod retry_budget {
    pub use super::budget::{BURST, MIN_PER_SECOND, RATIO};
}
