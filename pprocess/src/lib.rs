//! Fork-based parallel processing for Unix.
//!
//! A parallel `map` in one line: each input in a created process (made by
//! `fork`), at most one process per core, the results in input order.
//!
//! ```
//! let squares: Vec<u64> = pprocess::pmap(|n: u64| n * n, 0..8).collect::<pprocess::Result<_>>()?;
//! assert_eq!(squares, [0, 1, 4, 9, 16, 25, 36, 49]);
//! # Ok::<(), pprocess::Error>(())
//! ```
//!
//! Or put [`#[parallel]`](macro@parallel) on a function: it stays a plain
//! function and gains `pmap` helpers. For many short tasks, `pmap_reused`
//! runs them in a few reused processes instead of a process each:
//!
//! ```
//! #[pprocess::parallel]
//! fn calculate(i: u32, j: u32) -> u32 {
//!     i * 10 + j
//! }
//!
//! fn main() -> pprocess::Result<()> {
//!     let cells: Vec<u32> = calculate::pmap([(0, 1), (2, 3), (4, 5)])
//!         .collect::<pprocess::Result<_>>()?;
//!     assert_eq!(cells, [1, 23, 45]);
//!
//!     let inputs: Vec<(u32, u32)> = (0..10_000).map(|n| (n / 10, n % 10)).collect();
//!     let cells: Vec<u32> = calculate::pmap_reused(inputs).collect::<pprocess::Result<_>>()?;
//!     assert_eq!(cells[9_999], 9_999);
//!     Ok(())
//! }
//! ```
//!
//! Because a created process is a copy of its creator, it already has your
//! closures and data: nothing needs to be `Send`, `Sync` or serializable
//! except the results (and the arguments of reused processes). And because
//! it is a process, a panic, a crash or a leak in one task costs that task
//! and nothing else: the creator gets an [`Error`] at that task's result.
//!
//! # Which API do I want
//!
//! A process per task costs a `fork`, about 0.2-0.5 ms; a reused process
//! takes its next task in microseconds (figures from a 2-CPU machine, in
//! the repository's `docs/performance.md`).
//!
//! | you have | use | a task costs |
//! |---|---|---|
//! | inputs, and tasks of several milliseconds or more, or tasks that must each start from a fresh copy of the program | [`pmap`], [`pmap_limit`], or `calculate::pmap` from [`#[parallel]`](macro@parallel) | a fork: 0.2-0.5 ms |
//! | many short tasks (10,000 trivial ones: 2-9 ms this way, 1.6-4.8 s with a process each) | `calculate::pmap_reused`, or [`Map::new()`](Map::new)`.reuse(true).pmap(f, inputs)` | about 0.15 us |
//! | tasks given one by one, results by index, with a limit, a timeout | [`Map`]: `start`, `manage`, `get` | a fork, or 2 us with `reuse(true)` and a [`MakeReusable`] |
//! | tasks whose results you take as they come | [`Queue`] | the same |
//! | control of every channel: several messages per task, your own handler | [`Exchange`], [`Channel`], [`start`], [`create`] | a fork |
//! | processes that outlive this program, reached at a socket path | [`BackgroundCallable`], [`PersistentExchange`], [`PersistentQueue`] | a fork, once |
//!
//! Reused processes isolate failures as well (a task that panics is an
//! `Err` at its index, and a new process takes the failed one's place),
//! but the tasks a process runs share its memory: a leak or a changed
//! global carries over to the next task. The [`tutorial`] walks through
//! every one of these, from the simplest.
//!
//! # The layers
//!
//! The modules follow the original Python module's tutorial, from the
//! lowest layer up:
//!
//! - [`Channel`]: a two-way message pipe to one created process;
//!   [`start`] (thread-style), [`create`] (fork-style) and [`exit`] make and
//!   end created processes.
//! - [`Exchange`]: many channels watched with `poll`, a process limit with a
//!   queue of waiting work, and a [`Handler`] that stores results;
//!   [`Exchange::manage`] turns a function into a [`Managed`] callable.
//! - [`Map`] (results in input order) and [`Queue`] (results in arrival
//!   order) are exchanges that store results for you; [`pmap`] is a
//!   parallel `map`; [`MakeParallel`] and [`MakeReusable`] turn plain
//!   functions into callables that send their results, the latter able to
//!   serve reused processes.
//! - [`#[parallel]`](macro@parallel) and [`#[reusable]`](macro@reusable)
//!   write those wrappers for a plain `fn`, with `pmap` helpers:
//!   `calculate::parallel()`, `calculate::pmap(inputs)`.
//! - Persistent and background processes outlive their creator and are
//!   reached at an address (a Unix socket path), by the same program or a
//!   later run of it: a [`PersistentChannel`] listens there and keeps what
//!   it sent until a peer made by [`connect`] acknowledges it;
//!   [`BackgroundCallable`] runs a callable in such a process;
//!   [`PersistentExchange`], [`PersistentQueue`] and [`BackgroundQueue`]
//!   start them and collect what they send.
//! - [`waitall`] and [`get_number_of_cores`] complete the toolbox.
//!
//! # What a created process may do
//!
//! A created process never returns into its creator's code: after the
//! closure given to [`start`] it ends with `_exit`, so no destructor of the
//! creator's objects runs in it.
//!
//! **Forking from a multi-threaded program.** Only the thread that calls
//! `fork` exists in the created process. Any lock another thread held at
//! that moment stays locked there forever. The crate holds its own locks and
//! those of standard output and standard error across the `fork`, the
//! system allocator is fork-safe, and a panic in a created process is
//! printed without std's backtrace lock; so printing, allocating, panicking
//! and using the channel are safe in a created process. Taking any other
//! lock that other threads of the creator use (a `Mutex` in a `static`, a
//! logger, a thread pool) is not.
//!
//! **A thread that holds standard output holds up every fork.** For the
//! same reason, a `fork` waits while another thread holds the standard
//! output (or error) lock: a created process forked then could never print
//! (std offers no way to try that lock, nor to reset it). A thread that
//! writes for long through a locked `stdout()` (a `BufWriter` over a
//! `StdoutLock`, say) delays every [`start`] and [`pmap`] until it lets
//! go. Such a thread should write through a handle of its own, which takes
//! no lock of std's:
//!
//! ```
//! use std::io::Write;
//! use std::os::fd::AsFd;
//!
//! let own = std::fs::File::from(std::io::stdout().as_fd().try_clone_to_owned()?);
//! let writer = std::thread::spawn(move || {
//!     let mut out = std::io::BufWriter::new(own);
//!     writeln!(out, "a long report, written without std's lock")
//! });
//! let doubled: Vec<u64> = pprocess::pmap(|n: u64| n * 2, 0..4).collect::<pprocess::Result<_>>()?;
//! assert_eq!(doubled, [0, 2, 4, 6]);
//! writer.join().unwrap()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **Other forks in the creator.** Every descriptor pprocess makes is
//! close-on-exec, so a program another thread runs (`std::process::Command`
//! forks and `exec`s) never keeps a channel. A raw `fork` *without* `exec`
//! on another thread copies every channel end open at that moment, a task's
//! just-made one included; nothing in pprocess can close that copy, so the
//! task's end of file (how the creator learns it ended) comes only when
//! that other process ends or closes it. Fork through pprocess, or `exec`
//! right after a fork of your own.
//!
//! **Orphans.** On Linux, a created process is killed when the *thread*
//! that created it ends (`PR_SET_PDEATHSIG`), so a creator that is killed
//! leaves no processes computing for nobody. Create processes from a thread
//! that outlives them (the main thread, usually). Background processes
//! ([`BackgroundCallable`]) are the exception: they are meant to outlive
//! their creator.
//!
//! **`SIGCHLD`, in the creator.** pprocess learns how a created process
//! ended by reaping it itself, so it needs `SIGCHLD` at its default
//! disposition and no one else reaping its processes. A program that
//! ignores `SIGCHLD` (`SIG_IGN`: the kernel then reaps children at once)
//! or whose handler reaps every child (`waitpid(-1, ..)`) takes those exit
//! statuses away: a process whose status was taken is reported as
//! [`Error::StatusTaken`], never as success. A task that owed a result and
//! did not send it fails with it, a continuous process's end is an error
//! item with it even if the process ended well, and [`Channel::wait`]
//! returns it. Results a process sent still arrive. Reap only your own
//! children (`waitpid` with their pids) and leave `SIGCHLD` at its
//! default.

#![warn(missing_docs)]
// Unix calls are wrapped once, in `sys`, each with its safety argument;
// the rest of the crate is safe Rust (the fork path says why it may call
// `sys::fork`, the one wrapper with an obligation on its caller).
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

/// The crate README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

// The layers, from the bottom up: a module uses only those above it in
// this list (checked by the `layers` test below).
mod channel;
mod collections;
mod cores;
mod error;
mod exchange;
#[cfg(feature = "mpi")]
pub mod mpi;
pub mod persistent;
mod process;
mod reused_pmap;
#[allow(unsafe_code)]
mod sys;
mod wire;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

#[doc = include_str!("../docs/tutorial.md")]
pub mod tutorial {}

/// A byte buffer sent as one block: a `Vec<u8>` is encoded byte by byte by
/// serde, `Bytes` is a length and a copy. Use it for bulk data (a row of
/// pixels, a file's contents) in messages.
///
/// ```
/// let mut channel = pprocess::start(|channel| {
///     channel.send(&pprocess::Bytes::from(vec![7u8; 1 << 20]))
/// })?;
/// let bytes: pprocess::Bytes = channel.receive()?;
/// assert_eq!(bytes.len(), 1 << 20);
/// # Ok::<(), pprocess::Error>(())
/// ```
pub use serde_bytes::ByteBuf as Bytes;

pub use channel::start::{Fork, create, exit, start};
pub use channel::{Channel, SharedBytes};
pub use collections::exact::ExactMap;
pub use collections::map::{Map, pmap, pmap_limit};
pub use collections::queue::Queue;
pub use cores::get_number_of_cores;
pub use error::{Error, Result};
pub use exchange::callable::{Callable, MakeParallel, MakeReusable};
pub use exchange::managed::Managed;
pub use exchange::{Exchange, Handler};
pub use persistent::{
    BackgroundCallable, BackgroundQueue, PersistentChannel, PersistentExchange, PersistentManaged,
    PersistentQueue, connect, connect_timeout,
};
pub use process::reap::waitall;
pub use process::threads::other_threads;
pub use wire::codec::MAX_FRAME_LIMIT;

pub use pprocess_macros::{parallel, reusable};

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The layers from the bottom up, by top-level module, as `lib.rs`
    /// declares them; modules on one line are one layer.
    const LAYERS: &[&[&str]] = &[
        &["sys"],
        &["error", "cores"],
        &["wire"],
        &["process"],
        &["channel"],
        &["exchange"],
        &["reused_pmap"],
        &["collections"],
        &["persistent"],
        &["mpi"],
        &["__private", "private", "lib"],
    ];

    /// Functions re-exported at the root, and the module each comes from.
    const ROOT_FUNCTIONS: &[(&str, &str)] = &[
        ("start", "channel"),
        ("create", "channel"),
        ("exit", "channel"),
        ("waitall", "process"),
        ("get_number_of_cores", "cores"),
        ("pmap", "collections"),
        ("pmap_limit", "collections"),
        ("connect", "persistent"),
    ];

    fn layer_of(module: &str) -> usize {
        let module = ROOT_FUNCTIONS
            .iter()
            .find(|(function, _)| *function == module)
            .map_or(module, |(_, from)| from);
        LAYERS
            .iter()
            .position(|layer| layer.contains(&module))
            .unwrap_or_else(|| panic!("module `{module}` is in no layer of LAYERS"))
    }

    /// Every `crate::module` named in the code (comments and docs aside)
    /// of `text`.
    fn named_modules(text: &str) -> Vec<String> {
        let mut named = Vec::new();
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or("");
            let mut rest = code;
            while let Some(at) = rest.find("crate::") {
                rest = &rest[at + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                // Lower-case names are modules; items re-exported at the
                // root (`crate::Error`) are the root's.
                if name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_') {
                    named.push(name);
                }
            }
        }
        named
    }

    fn check(dir: &Path, module: Option<&str>, wrong: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
            if path.is_dir() {
                check(&path, Some(module.unwrap_or(&name)), wrong);
                continue;
            }
            let own = module.unwrap_or(&name);
            let text = std::fs::read_to_string(&path).unwrap();
            for used in named_modules(&text) {
                if layer_of(&used) > layer_of(own) {
                    wrong.push(format!("{} uses crate::{used}", path.display()));
                }
            }
        }
    }

    #[test]
    fn a_module_uses_only_the_layers_below_it() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut wrong = Vec::new();
        check(&src, None, &mut wrong);
        assert!(
            wrong.is_empty(),
            "imports from a layer above:\n{}",
            wrong.join("\n")
        );
    }

    #[test]
    fn the_layer_check_sees_an_import_from_above() {
        assert_eq!(
            named_modules("use crate::collections::map::Map; // crate::mpi\n/// crate::exchange"),
            ["collections"]
        );
        assert!(layer_of("collections") > layer_of("channel"));
    }
}
