//! State made once in each created process: what `Map::pmap_init` gives
//! its function.
//!
//! The creator never calls a `pmap`'s function: each created process calls
//! its own copy. So a state kept beside the function, empty in the
//! creator, is made by the first task a process runs and kept by that
//! process for its later tasks, and never crosses a fork.

use std::cell::RefCell;

/// `function` with a state that `init` makes in each process, when the
/// process runs its first task, and that its later tasks get again.
pub(crate) fn with_state<A, S, T>(
    init: impl Fn() -> S,
    function: impl Fn(&mut S, A) -> T,
) -> impl Fn(A) -> T {
    let state = RefCell::new(None);
    move |input| {
        let mut state = state.borrow_mut();
        function(state.get_or_insert_with(&init), input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_is_made_once_then_kept_for_later_calls() {
        let made = std::cell::Cell::new(0);
        let count = with_state(
            || {
                made.set(made.get() + 1);
                0
            },
            |calls: &mut u32, ()| {
                *calls += 1;
                *calls
            },
        );
        assert_eq!(made.get(), 0, "nothing is made before the first call");
        assert_eq!([count(()), count(()), count(())], [1, 2, 3]);
        assert_eq!(made.get(), 1);
    }
}
