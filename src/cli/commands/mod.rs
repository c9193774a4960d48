pub mod journal;
pub mod run;
pub mod snapshot;
pub mod status;
pub mod verify;

mod render;
