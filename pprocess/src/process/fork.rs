//! Creating a process: the one place that calls `fork`.
//!
//! [`fork_with_socket`] makes a socketpair and forks, holding, across the
//! `fork`, every lock a created process might need: standard output and
//! standard error (flushed first, so nothing buffered is printed twice), the
//! list of open channel descriptors, and the table of unreaped children.
//! The child therefore starts with consistent copies of all of them, even if
//! other threads of the creator were using them. Taking the standard stream
//! locks waits while a user thread holds them, by design: std's lock cannot
//! be tried, and a child forked while another thread owns it could never
//! print (see "Documented limits" in RELIABILITY.md). They are taken before
//! the crate's own locks, so no other fork waits behind that one.
//!
//! In the child, right after `fork` and before any user code runs, this
//! module closes every channel descriptor inherited from the creator (its
//! siblings' ends and the creator's end of its own pair, except a listening
//! socket handed to a background process), forgets its creator's children,
//! and on Linux arranges to die with its creator. Descriptors made outside
//! a `fork` (listening and connected sockets of persistent channels) are
//! recorded with [`open_tracked`], so created processes close them too.

use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::process::{panic_report, reap};
use crate::sys;

/// Descriptors of every channel end open in this process.
static OPEN_CHANNELS: Mutex<Vec<RawFd>> = Mutex::new(Vec::new());

fn open_channels() -> MutexGuard<'static, Vec<RawFd>> {
    OPEN_CHANNELS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Closes a channel end and forgets it, under the lock, so that no `fork`
/// in another thread can copy it between the two steps.
pub(crate) fn close_channel(socket: OwnedFd) {
    let mut open = open_channels();
    let fd = socket.as_raw_fd();
    open.retain(|&open_fd| open_fd != fd);
    drop(socket);
}

/// The two sides of a new process, each with its end of the socketpair.
pub(crate) enum Side {
    /// The creator: `child` is the new process.
    Creator { child: reap::Child, socket: OwnedFd },
    /// The new process.
    Created { socket: OwnedFd },
}

/// What a created process does right after `fork`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ChildSetup {
    /// Die when the creator's forking thread ends (Linux).
    pub(crate) die_with_creator: bool,
    /// A tracked descriptor the created process keeps open (and tracked)
    /// instead of closing it with the others: the listening socket handed
    /// to a background process.
    pub(crate) keep: Option<RawFd>,
}

impl ChildSetup {
    /// The set-up of an ordinary created process: it dies with its creator
    /// and keeps none of its creator's channel descriptors.
    pub(crate) const CREATED: ChildSetup = ChildSetup {
        die_with_creator: true,
        keep: None,
    };
}

/// Makes a descriptor with `open` and records it as a channel end, under
/// the lock, so that a `fork` in another thread either happens before it
/// exists or copies it already recorded (and the child closes it).
pub(crate) fn open_tracked(open: impl FnOnce() -> io::Result<OwnedFd>) -> io::Result<OwnedFd> {
    let mut open_fds = open_channels();
    let fd = open()?;
    open_fds.push(fd.as_raw_fd());
    Ok(fd)
}

/// Makes a socketpair and forks; see the module documentation.
pub(crate) fn fork_with_socket(setup: ChildSetup) -> Result<Side> {
    panic_report::install();
    let stdout = io::stdout().lock();
    let stderr = io::stderr().lock();
    // Flush through the locks we hold so nothing buffered is printed twice.
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
    let mut open = open_channels();
    let mut children = reap::lock();

    let (creator_end, created_end) =
        sys::socket_pair().map_err(|error| Error::io("socketpair", error))?;
    let creator_pid = std::process::id() as i32;
    // SAFETY: the locks the child uses (the standard streams', the list of
    // open channels, the table of children) are held across the call, so
    // they are consistent and free in the child; the child then runs only
    // the set-up below and the created process's closure, whose rules
    // (take no lock another thread of the creator may hold) are documented
    // on `start` and `create`.
    #[allow(unsafe_code)]
    let forked = unsafe { sys::fork() };
    let side = match forked.map_err(|error| Error::io("fork", error))? {
        sys::Forked::Parent { child } => {
            drop(created_end);
            open.push(creator_end.as_raw_fd());
            Side::Creator {
                child: children.insert(child),
                socket: creator_end,
            }
        }
        sys::Forked::Child => {
            drop(creator_end);
            panic_report::mark_created();
            for fd in open.drain(..) {
                if Some(fd) != setup.keep {
                    sys::close_inherited(fd);
                }
            }
            open.extend(setup.keep);
            open.push(created_end.as_raw_fd());
            children.clear();
            let creator_gone =
                || sys::die_with_parent().is_err() || sys::parent_id() != creator_pid;
            if setup.die_with_creator && creator_gone() {
                // The creator is already gone: nobody will read our result.
                sys::exit_now(1);
            }
            Side::Created {
                socket: created_end,
            }
        }
    };
    drop(children);
    drop(open);
    drop(stderr);
    drop(stdout);
    Ok(side)
}

/// Forks a process that has just been created, before it starts a thread
/// or takes a lock (the intermediate of a background start): its child
/// needs none of the set-up of [`fork_with_socket`].
pub(crate) fn fork_single_threaded() -> std::io::Result<sys::Forked> {
    // SAFETY: the caller is a created process that has one thread, so no
    // lock can be held by another thread at the call.
    #[allow(unsafe_code)]
    unsafe {
        sys::fork()
    }
}
