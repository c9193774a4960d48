//! Panics that a caller expects and turns into an error (redb can panic on a damaged file)
//! must not print through the process's panic hook: the operator should see the one-line
//! error, not a panic message for something that was handled.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};

thread_local! {
    static CATCHING: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`, catching a panic; while it runs, [`is_caught_here`] is true on this thread.
pub fn catch_quietly<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    let was = CATCHING.with(|c| c.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(was));
    result
}

/// For panic hooks: whether the panic on this thread is about to be caught and handled.
pub fn is_caught_here() -> bool {
    CATCHING.with(Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_is_set_only_inside() {
        assert!(!is_caught_here());
        let r = catch_quietly(|| {
            assert!(is_caught_here());
            7
        });
        assert_eq!(r.unwrap(), 7);
        assert!(catch_quietly(|| panic!("handled")).is_err());
        assert!(!is_caught_here());
    }
}
