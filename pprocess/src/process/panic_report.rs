//! What a created process prints when it panics.
//!
//! Std's default panic hook takes a process-wide lock to print a backtrace.
//! If another thread of the creator held that lock at the moment of the
//! `fork`, the created process would wait for it forever. So, before the
//! first `fork`, the creator wraps the panic hook: in the creator it calls
//! the previous hook as before; in a created process it prints only the
//! panic message and its location, through the standard error lock, which
//! `fork` holds across the call (see `fork.rs`). The creator still gets the
//! message as [`Error::Panicked`](crate::Error::Panicked).
//!
//! A hook set by the program after that replaces this one, in created
//! processes too.

use std::panic;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set in a created process right after `fork`.
static IN_CREATED_PROCESS: AtomicBool = AtomicBool::new(false);

static INSTALL: Once = Once::new();

/// Wraps the panic hook, once per program, before the first `fork`.
pub(crate) fn install() {
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if IN_CREATED_PROCESS.load(Ordering::Relaxed) {
                let message = info
                    .payload()
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
                    .unwrap_or("a panic with a non-string payload");
                let location = info
                    .location()
                    .map(|location| format!(" at {location}"))
                    .unwrap_or_default();
                eprintln!(
                    "created process {} panicked{location}:\n{message}",
                    std::process::id()
                );
            } else {
                previous(info);
            }
        }));
    });
}

/// Marks this process as a created process (called in the child right
/// after `fork`).
pub(crate) fn mark_created() {
    IN_CREATED_PROCESS.store(true, Ordering::Relaxed);
}
