pub mod journal;
pub mod preflight;
pub mod report;
pub mod run;
pub mod snapshot;
pub mod status;
pub mod verify;

mod render;

#[cfg(test)]
mod same_words_tests;
