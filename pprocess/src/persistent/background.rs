//! Background processes: created processes that outlive their creator and
//! are reached at an address, and [`BackgroundCallable`].
//!
//! Starting one, step by step:
//!
//! 1. The creator makes the socket file at the address, listening
//!    ([`crate::persistent::address`]): every bad address is an error here, in the
//!    creator, before anything is forked. From now on a `connect` to the
//!    address succeeds. For an exchange, the creator also connects to it
//!    now, so the background process cannot finish before its creator is
//!    connected.
//! 2. The creator forks an intermediate process (without
//!    `PR_SET_PDEATHSIG`: a background process must survive its creator),
//!    which keeps the listening socket and closes every other channel end
//!    it inherited, as any created process does.
//! 3. The intermediate forks the background process and exits at once; the
//!    creator reaps it, so no zombie is left, and the background process,
//!    an orphan, belongs to `init` (or the nearest subreaper).
//! 4. The background process starts a new session (`setsid`: no
//!    controlling terminal), points its standard streams at `/dev/null`
//!    with `dup2` (descriptors 0 to 2 stay taken, so no socket can get
//!    those numbers and a stray print can never reach a channel), and
//!    listens again, so that peers see its process id (`SO_PEERCRED` names
//!    the process that last called `listen`). It then reports its id to
//!    the creator over the intermediate's socketpair, and closes it.
//! 5. The creator closes its copy of the listening socket, takes the
//!    report, and returns.
//! 6. The background process runs its callable with a
//!    [`PersistentChannel`]; then it waits until everything it sent has
//!    been acknowledged, removes its socket file, and ends with `_exit`.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::process::Termination;

use crate::channel::Channel;
use crate::channel::start as process;
use crate::error::{Error, Result};
use crate::exchange::callable::Callable;
use crate::persistent::address;
use crate::persistent::channel::{Link, PersistentChannel};
use crate::process::fork::{self, ChildSetup, Side};
use crate::sys;

/// Which side of a background process's start the caller is on.
pub(crate) enum Background {
    /// The creator: `pid` is the background process, `connection` the
    /// connection made to it if one was asked for.
    Creator {
        pid: i32,
        connection: Option<Channel>,
    },
    /// The background process, with its persistent channel.
    Process(PersistentChannel),
}

/// The background process's report to its creator: its id, or the error
/// number of the step of its set-up that failed.
type Report = std::result::Result<i32, i32>;

/// Starts a background process listening at `address`, as the module
/// documentation describes; returns in both processes. With `connect`, the
/// creator also gets a connection to it.
pub(crate) fn fork_background(address: &Path, connect: bool) -> Result<Background> {
    let (listener, file) = address::listen(address)?;
    let connection = if connect {
        match address::connect(address, None) {
            Ok((socket, _)) => Some(socket),
            Err(error) => {
                fork::close_channel(listener);
                file.remove();
                return Err(error);
            }
        }
    } else {
        None
    };
    let setup = ChildSetup {
        die_with_creator: false,
        keep: Some(listener.as_raw_fd()),
    };
    let side = match fork::fork_with_socket(setup) {
        Ok(side) => side,
        Err(error) => {
            fork::close_channel(listener);
            if let Some(socket) = connection {
                fork::close_channel(socket);
            }
            file.remove();
            return Err(error);
        }
    };
    match side {
        Side::Creator { child, socket } => {
            fork::close_channel(listener);
            let mut intermediate = Channel::creator(socket, child);
            let report = intermediate.receive::<Report>();
            // Reaps the intermediate process, which has ended or is ending.
            let _ = intermediate.wait();
            let failure = match report {
                Ok(Ok(pid)) => {
                    return Ok(Background::Creator {
                        pid,
                        connection: connection.map(|socket| Channel::connected(socket, pid, None)),
                    });
                }
                Ok(Err(errno)) => Error::io(
                    "start a background process",
                    std::io::Error::from_raw_os_error(errno),
                ),
                Err(error) => error,
            };
            if let Some(socket) = connection {
                fork::close_channel(socket);
            }
            file.remove();
            Err(failure)
        }
        Side::Created { socket } => {
            // The intermediate process: `connection` was closed by the fork.
            std::mem::forget(connection);
            match fork::fork_single_threaded() {
                Ok(sys::Forked::Parent { .. }) => sys::exit_now(0),
                Err(error) => {
                    let _ = Channel::created(socket).send(&Report::Err(errno_of(&error)));
                    sys::exit_now(1)
                }
                Ok(sys::Forked::Child) => {}
            }
            // The background process.
            let mut report = Channel::created(socket);
            let set_up = sys::new_session()
                .and_then(|()| sys::detach_standard_streams())
                .and_then(|()| sys::listen(listener.as_fd()));
            if let Err(error) = set_up {
                let _ = report.send(&Report::Err(errno_of(&error)));
                sys::exit_now(1);
            }
            let _ = report.send(&Report::Ok(std::process::id() as i32));
            report.close();
            Ok(Background::Process(PersistentChannel::from_link(
                Link::new(listener, file),
            )))
        }
    }
}

fn errno_of(error: &std::io::Error) -> i32 {
    error.raw_os_error().unwrap_or(nix::libc::EIO)
}

/// Runs `f` in a new background process listening at `address` (see the
/// module documentation) and returns its id; with `connect`, also a
/// connection to it.
pub(crate) fn start_background<F, R>(
    address: &Path,
    connect: bool,
    f: F,
) -> Result<(i32, Option<Channel>)>
where
    F: FnOnce(&mut Channel) -> R,
    R: Termination,
{
    match fork_background(address, connect)? {
        Background::Creator { pid, connection } => Ok((pid, connection)),
        Background::Process(channel) => process::run_created(channel.into_channel(), f),
    }
}

/// A callable that runs in a background process reachable at an address:
/// the original module's `BackgroundCallable`.
///
/// Each [`call`](BackgroundCallable::call) starts a new background process
/// that runs the callable with the call's arguments and a
/// [`PersistentChannel`] listening at the address (it reaches the callable
/// as a [`Channel`]). The call returns at once, with the socket already
/// listening: a [`connect`](crate::connect) made right after it succeeds.
/// The process is detached: it does not die with its creator, has no
/// controlling terminal, and its standard streams are `/dev/null`. It ends
/// when the callable has returned and a peer has acknowledged everything
/// it sent, then removes its socket file; the creator is left no zombie.
///
/// Collect what it sends with [`connect`](crate::connect), a
/// [`BackgroundQueue`](crate::BackgroundQueue), or
/// [`PersistentExchange::connect`](crate::PersistentExchange::connect), from
/// this program or from another run of it.
///
/// ```
/// use pprocess::{BackgroundCallable, BackgroundQueue, Channel};
///
/// let address = std::env::temp_dir().join(format!("pprocess-doc-bg-{}", std::process::id()));
/// let count = BackgroundCallable::new(&address, |channel: &mut Channel, up_to: u32| {
///     (1..=up_to).try_for_each(|n| channel.send(&n))
/// });
/// count.call(3)?;
/// // Later, possibly from another process:
/// let numbers: Vec<u32> = BackgroundQueue::new(&address)?.collect::<pprocess::Result<_>>()?;
/// assert_eq!(numbers, [1, 2, 3]);
/// # Ok::<(), pprocess::Error>(())
/// ```
pub struct BackgroundCallable<C> {
    address: PathBuf,
    callable: C,
}

impl<C> BackgroundCallable<C> {
    /// Binds `callable` to `address`; nothing starts until
    /// [`call`](BackgroundCallable::call).
    ///
    /// ```
    /// use pprocess::{BackgroundCallable, MakeParallel};
    ///
    /// let square = BackgroundCallable::new("/tmp/square.socket", MakeParallel::new(|n: u64| n * n));
    /// assert_eq!(square.address(), std::path::Path::new("/tmp/square.socket"));
    /// ```
    pub fn new(address: impl AsRef<Path>, callable: C) -> Self {
        BackgroundCallable {
            address: address.as_ref().to_owned(),
            callable,
        }
    }

    /// The address its processes listen at.
    ///
    /// ```
    /// let background = pprocess::BackgroundCallable::new("task.socket", ());
    /// assert_eq!(background.address(), std::path::Path::new("task.socket"));
    /// ```
    pub fn address(&self) -> &Path {
        &self.address
    }

    /// Starts a background process running the callable with `args`, and
    /// returns its process id once its socket is listening.
    ///
    /// Fails, having started nothing, with [`Error::MissingDirectory`],
    /// [`Error::AddressInUse`] (another process is listening there, which
    /// includes an earlier call that has not ended), or
    /// [`Error::NotASocket`] (the file there is left alone); with
    /// [`Error::Io`] if the process cannot be forked.
    ///
    /// ```
    /// use pprocess::{BackgroundCallable, MakeParallel};
    ///
    /// let address = std::env::temp_dir().join(format!("pprocess-doc-call-{}", std::process::id()));
    /// let square = BackgroundCallable::new(&address, MakeParallel::new(|n: u64| n * n));
    /// let pid = square.call(9)?;
    /// assert!(pid > 0);
    /// assert!(matches!(square.call(10), Err(pprocess::Error::AddressInUse { .. })));
    /// assert_eq!(pprocess::connect(&address)?.receive::<u64>()?, 81);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn call<A>(&self, args: A) -> Result<i32>
    where
        C: Callable<A>,
    {
        let (pid, _) = start_background(&self.address, false, |channel: &mut Channel| {
            self.callable.call(channel, args)
        })?;
        Ok(pid)
    }
}

impl<C> fmt::Debug for BackgroundCallable<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackgroundCallable")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}
