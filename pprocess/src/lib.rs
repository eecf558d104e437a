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

#![warn(missing_docs)]

/// The crate README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod address;
mod background;
mod batches;
mod board;
mod callable;
mod channel;
mod codec;
mod collection;
mod cores;
mod error;
mod exchange;
mod fork;
mod frame;
mod managed;
mod map;
mod panic_report;
mod persistent;
mod persistent_exchange;
mod persistent_queue;
mod pipeline;
mod process;
mod queue;
mod reap;
mod ring;
mod sys;

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

pub use background::BackgroundCallable;
pub use callable::{Callable, MakeParallel, MakeReusable};
pub use channel::Channel;
pub use codec::MAX_FRAME_LIMIT;
pub use cores::get_number_of_cores;
pub use error::{Error, Result};
pub use exchange::{Exchange, Handler};
pub use managed::Managed;
pub use map::{Map, MapResults, pmap, pmap_limit};
pub use persistent::{PersistentChannel, connect, connect_timeout};
pub use persistent_exchange::{PersistentExchange, PersistentManaged};
pub use persistent_queue::{BackgroundQueue, PersistentQueue};
pub use process::{Fork, create, exit, start};
pub use queue::{Queue, QueueResults};
pub use reap::waitall;

pub use pprocess_macros::{parallel, reusable};
