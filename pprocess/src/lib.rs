//! Fork-based parallel processing for Unix.
//!
//! pprocess runs work in created processes made by `fork`, and talks to them
//! over channels (one `socketpair` each). Because a created process is a
//! copy of its creator, it already has your closures and data: nothing needs
//! to be `Send`, `Sync` or serializable except the messages (results, and the
//! arguments of reused processes). And because it is a process, a panic, a
//! crash or a leak in one task costs that task and nothing else: the creator
//! gets an [`Error`] at that task's result.
//!
//! ```
//! use pprocess::{Channel, Exchange};
//!
//! let table = vec![3u64, 1, 4, 1, 5, 9, 2, 6]; // borrowed, never serialized
//! let mut sums = vec![0u64; 4];
//! let mut exchange = Exchange::with_handler(|channel: &mut Channel, task: usize| {
//!     sums[task] = channel.receive()?;
//!     Ok(())
//! })
//! .limit(pprocess::get_number_of_cores());
//! for chunk in table.chunks(2) {
//!     exchange.start(move |channel| channel.send(&chunk.iter().sum::<u64>()));
//! }
//! exchange.finish()?;
//! drop(exchange);
//! assert_eq!(sums, [4, 5, 14, 8]);
//! # Ok::<(), pprocess::Error>(())
//! ```
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
//! **Orphans.** On Linux, a created process is killed when the *thread*
//! that created it ends (`PR_SET_PDEATHSIG`), so a creator that is killed
//! leaves no processes computing for nobody. Create processes from a thread
//! that outlives them (the main thread, usually). Background processes
//! ([`BackgroundCallable`]) are the exception: they are meant to outlive
//! their creator.

#![warn(missing_docs)]

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
pub mod persistent;
mod process;
mod reused_pmap;
mod sys;
mod wire;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

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

pub use channel::Channel;
pub use channel::start::{Fork, create, exit, start};
pub use collections::map::{Map, pmap, pmap_limit};
pub use collections::queue::Queue;
pub use cores::get_number_of_cores;
pub use error::{Error, Result};
pub use exchange::callable::{Callable, MakeParallel, MakeReusable};
pub use exchange::managed::Managed;
pub use exchange::{Exchange, Handler};
pub use persistent::{
    BackgroundCallable, BackgroundQueue, PersistentChannel, PersistentExchange, PersistentManaged,
    PersistentQueue, connect,
};
pub use process::reap::waitall;
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
