//! Steps, phases, concurrency, polling and verification.
