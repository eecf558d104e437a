//! Other threads at the time of a `fork`: [`other_threads`], the check a
//! user can call, and the warning that debug builds print once per process
//! when an exchange (a `Map`, a `Queue`) is made while other threads run.
//!
//! Only the thread that calls `fork` exists in a created process. A thread
//! pool made before (rayon's global pool, say) has no threads there, so a
//! task that uses it waits for ever, and a lock another thread held at the
//! `fork` stays locked. The state of a lock cannot be read, but the number
//! of threads can, cheaply on Linux: one directory listing, about
//! 3 microseconds, done once per exchange and never per `fork`.
//!
//! Nothing in here runs in a created process after `fork`, and nothing in
//! here prints to standard output.

use std::sync::atomic::{AtomicBool, Ordering};

/// The environment variable that silences the warning: set it (to
/// anything) in a program that forks from a thread pool knowingly, or in a
/// test harness, whose tests always run beside other threads.
pub(crate) const SILENCE_WARNING: &str = "PPROCESS_NO_THREAD_WARNING";

/// Whether this process has printed the warning.
static WARNED: AtomicBool = AtomicBool::new(false);

/// The number of threads of this process other than the calling one, where
/// the system says (Linux, from `/proc/self/task`); `None` elsewhere or if
/// it cannot be read.
///
/// Call it before creating processes from a program that may have started
/// threads: if it is not `Some(0)`, a created process has only the calling
/// thread, and must not use a thread pool made before (rayon's global pool:
/// build a pool inside the task instead) nor take a lock another thread may
/// hold. Debug builds print a warning on standard error, once per process,
/// when a `Map`, `Queue` or `Exchange` is made while other threads run;
/// set `PPROCESS_NO_THREAD_WARNING` to silence it.
///
/// ```
/// let (stop, stopped) = std::sync::mpsc::channel::<()>();
/// let worker = std::thread::spawn(move || stopped.recv());
/// if cfg!(target_os = "linux") {
///     assert!(pprocess::other_threads() >= Some(1));
/// }
/// drop(stop);
/// let _ = worker.join();
/// ```
pub fn other_threads() -> Option<usize> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    Some(tasks.count().saturating_sub(1))
}

/// In debug builds, prints the warning if other threads run and it was not
/// printed before in this process (nor silenced).
pub(crate) fn warn_if_threaded() {
    if !cfg!(debug_assertions) || WARNED.load(Ordering::Relaxed) {
        return;
    }
    let Some(others @ 1..) = other_threads() else {
        return;
    };
    if std::env::var_os(SILENCE_WARNING).is_some() || WARNED.swap(true, Ordering::Relaxed) {
        return;
    }
    eprintln!(
        "pprocess: warning: this process has {others} other thread(s) while it creates \
         processes. A created process has only the thread that forked it: a thread pool \
         made before (such as rayon's global pool) has no threads there and a task that \
         uses it waits for ever, and a lock another thread held stays locked. Build a pool \
         inside the task, or give the map a timeout; see `pprocess::other_threads`. \
         (Printed once, in debug builds; set {SILENCE_WARNING}=1 to silence it.)"
    );
}
