//! Creating processes: fork-style [`create`], thread-style [`start`], and
//! [`exit`], which ends a created process.
//!
//! A created process never returns into its creator's code: after the
//! closure given to [`start`] it ends with `_exit`, so no destructor of the
//! creator's objects runs in it. A panic in it is caught and reported to the
//! creator as [`Error::Panicked`](crate::Error::Panicked).
//!
//! The rules for what a created process may do are in the crate
//! documentation ("What a created process may do").

use std::panic::{self, AssertUnwindSafe};
use std::process::{ExitCode, Termination};

use crate::channel::Channel;
use crate::error::Result;
use crate::process::fork::{self, ChildSetup, Side};
use crate::sys;

/// The result of [`create`]: which process the caller is now in.
///
/// ```
/// use pprocess::Fork;
///
/// let mut channel = match pprocess::create()? {
///     Fork::Parent(channel) => channel,
///     Fork::Child(mut channel) => {
///         channel.send(&std::process::id())?;
///         pprocess::exit(channel);
///     }
/// };
/// let pid = channel.pid();
/// assert_eq!(channel.receive::<u32>()?, pid as u32); // the child's own id
/// # Ok::<(), pprocess::Error>(())
/// ```
#[derive(Debug)]
pub enum Fork {
    /// The creator, with its channel to the new process.
    Parent(Channel),
    /// The created process, with its channel to the creator. It must end
    /// with [`exit`].
    Child(Channel),
}

/// Creates a process, fork-style: returns in both processes, each with its
/// end of a new channel.
///
/// The created process gets [`Fork::Child`] and must end with [`exit`]
/// rather than return into code that was meant for the creator. Prefer
/// [`start`], which does that for you.
///
/// Fails with [`Error::Io`](crate::Error::Io) if the socketpair or the fork
/// cannot be made (`EMFILE`, `EAGAIN`).
///
/// ```
/// use pprocess::Fork;
///
/// match pprocess::create()? {
///     Fork::Child(mut channel) => {
///         channel.send(&"from the child")?;
///         pprocess::exit(channel);
///     }
///     Fork::Parent(mut channel) => {
///         assert_eq!(channel.receive::<String>()?, "from the child");
///         assert!(channel.wait()?.success());
///     }
/// }
/// # Ok::<(), pprocess::Error>(())
/// ```
pub fn create() -> Result<Fork> {
    create_with(ChildSetup::CREATED)
}

pub(crate) fn create_with(setup: ChildSetup) -> Result<Fork> {
    Ok(match fork::fork_with_socket(setup)? {
        Side::Creator { child, socket } => Fork::Parent(Channel::creator(socket, child)),
        Side::Created { socket } => Fork::Child(Channel::created(socket)),
    })
}

/// Runs `f` in a new process, thread-style, and returns the creator's end
/// of its channel.
///
/// `f` receives the created process's end of the channel. It is not
/// serialized and needs no `Send`: the new process is a copy of this one and
/// already has it. When `f` returns, the process ends: with code 0, or with
/// code 1 if `f` returned an `Err` (printed to standard error, as `main`
/// does). If `f` panics, the creator's next `receive` returns
/// [`Error::Panicked`](crate::Error::Panicked) with the panic message.
///
/// Dropping the returned channel kills the process if it is still running;
/// keep the channel until the process is done (see [`Channel`]).
///
/// ```
/// let data = vec![1u64, 2, 3]; // not sent anywhere: the new process has it
/// let mut channel = pprocess::start(move |channel| channel.send(&data.iter().sum::<u64>()))?;
/// assert_eq!(channel.receive::<u64>()?, 6);
/// # Ok::<(), pprocess::Error>(())
/// ```
#[must_use = "dropping the channel kills the process if it is still running"]
pub fn start<F, R>(f: F) -> Result<Channel>
where
    F: FnOnce(&mut Channel) -> R,
    R: Termination,
{
    start_with(ChildSetup::CREATED, f)
}

pub(crate) fn start_with<F, R>(setup: ChildSetup, f: F) -> Result<Channel>
where
    F: FnOnce(&mut Channel) -> R,
    R: Termination,
{
    match create_with(setup)? {
        Fork::Parent(channel) => Ok(channel),
        Fork::Child(channel) => run_created(channel, f),
    }
}

/// The number an [`ExitCode`] stands for (std exposes no conversion on
/// stable Rust): `ExitCode::from(3)` gives 3, `FAILURE` 1.
fn exit_code_number(code: ExitCode) -> i32 {
    (0..=u8::MAX)
        .find(|&number| ExitCode::from(number) == code)
        .map_or(1, i32::from)
}

/// Runs `f` in the created process and ends it; never returns. On the
/// listening side of a persistent channel, the process first waits until
/// everything it sent has been acknowledged.
pub(crate) fn run_created<F, R>(mut channel: Channel, f: F) -> !
where
    F: FnOnce(&mut Channel) -> R,
    R: Termination,
{
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| f(&mut channel).report()));
    let code = match outcome {
        Ok(code) => exit_code_number(code),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|message| (*message).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic with a non-string payload".to_owned());
            let _ = channel.send_panic(&message);
            // Leak the payload: its destructor is user code that may panic.
            std::mem::forget(payload);
            101
        }
    };
    if code != 0 {
        // A result too large for the channel is the cause of the failure.
        let _ = channel.report_too_large();
    }
    let code = match channel.finish_sending() {
        Err(_) if code == 0 => 1,
        _ => code,
    };
    end_created(code)
}

/// Ends a created process cleanly: flushes standard output and standard
/// error, then leaves with `_exit(0)`, so no destructor or `atexit` handler
/// of the creator's runs in it. Everything sent on the channel is delivered.
///
/// Given a [`PersistentChannel`](crate::PersistentChannel) (the background
/// process of [`PersistentExchange::create`](crate::PersistentExchange::create)),
/// it first waits until every message sent has been acknowledged by a
/// peer, then removes the socket file; the exit code is 1 if that fails.
///
/// ```
/// use pprocess::Fork;
///
/// if let Fork::Child(mut channel) = pprocess::create()? {
///     channel.send(&"done")?;
///     pprocess::exit(channel);
/// }
/// # Ok::<(), pprocess::Error>(())
/// ```
pub fn exit(channel: impl Into<Channel>) -> ! {
    let mut channel = channel.into();
    let code = match channel.finish_sending() {
        Ok(()) => 0,
        Err(_) => 1,
    };
    drop(channel);
    end_created(code)
}

fn end_created(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    sys::exit_now(code)
}
