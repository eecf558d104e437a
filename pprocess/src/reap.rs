//! The table of created processes this process has not yet reaped.
//!
//! Every process the crate creates is entered here by its creator. A
//! [`Channel`](crate::Channel) reaps its own process through [`wait`];
//! [`waitall`] reaps all of them at once and keeps their exit statuses here,
//! so a channel asked later still learns how its process ended. Nothing in
//! here ever waits for a process the crate did not create.

use std::io;
use std::process::ExitStatus;
use std::sync::{Mutex, MutexGuard};

use crate::sys;

/// Created processes by id; `Some` once reaped by [`waitall`] but not yet
/// collected by their channel.
///
/// A vector, not a map: it holds the processes running at once (a few per
/// core, as a rule), and once grown it never allocates again, so a creator
/// that starts a process per task touches no new memory for it.
pub(crate) struct Children(Vec<(i32, Option<ExitStatus>)>);

impl Children {
    /// Enters a process just created. An entry left for an earlier
    /// process with the same id (reaped by [`waitall`], not yet collected by
    /// its channel) is replaced: that id now names the new process.
    pub(crate) fn insert(&mut self, pid: i32) {
        match self.entry(pid) {
            Some(status) => *status = None,
            None => self.0.push((pid, None)),
        }
    }

    /// Forgets every process (in a created process: its creator's children
    /// are not its).
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    fn entry(&mut self, pid: i32) -> Option<&mut Option<ExitStatus>> {
        self.0
            .iter_mut()
            .find(|(child, _)| *child == pid)
            .map(|(_, status)| status)
    }

    fn remove(&mut self, pid: i32) -> Option<Option<ExitStatus>> {
        let index = self.0.iter().position(|(child, _)| *child == pid)?;
        Some(self.0.swap_remove(index).1)
    }

    /// Removes process `pid` if [`waitall`] reaped it, and returns how it
    /// ended.
    fn take_reaped(&mut self, pid: i32) -> Option<ExitStatus> {
        let index = self
            .0
            .iter()
            .position(|&(child, status)| child == pid && status.is_some())?;
        self.0.swap_remove(index).1
    }

    /// The processes not reaped yet.
    fn running(&self) -> impl Iterator<Item = i32> + '_ {
        self.0
            .iter()
            .filter(|(_, status)| status.is_none())
            .map(|&(pid, _)| pid)
    }
}

static CHILDREN: Mutex<Children> = Mutex::new(Children(Vec::new()));

/// The table's lock, taken across `fork` so the child's copy is consistent
/// (the child then empties it).
pub(crate) fn lock() -> MutexGuard<'static, Children> {
    CHILDREN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Waits for process `pid` (blocking or not) and removes it from the table
/// once it has ended. Returns its exit status, or `None` if it is still
/// running and `block` is false.
pub(crate) fn wait(pid: i32, block: bool) -> io::Result<Option<ExitStatus>> {
    if let Some(status) = lock().take_reaped(pid) {
        return Ok(Some(status));
    }
    match sys::wait_pid(pid, block) {
        Ok(Some(status)) => {
            lock().remove(pid);
            Ok(Some(status))
        }
        Ok(None) => Ok(None),
        // Reaped meanwhile by `waitall` in another thread.
        Err(error) if error.raw_os_error() == Some(nix::libc::ECHILD) => match lock().remove(pid) {
            Some(Some(status)) => Ok(Some(status)),
            _ => Err(error),
        },
        Err(error) => Err(error),
    }
}

/// Waits for every process created by this process (through any channel,
/// exchange, map or queue) that has not been reaped yet.
///
/// Their channels still report how they ended. Processes started by other
/// means (for example [`std::process::Command`]) are left alone.
///
/// `waitall` does not read channels: a process blocked sending a message
/// larger than the socket buffer never ends while nobody reads it, and
/// `waitall` then waits forever. Receive what processes send first, or use
/// [`Channel::wait`](crate::Channel::wait), which reads before it waits.
///
/// ```
/// let mut channel = pprocess::start(|channel| channel.send(&1u8))?;
/// pprocess::waitall();
/// assert!(channel.wait()?.success());
/// # Ok::<(), pprocess::Error>(())
/// ```
pub fn waitall() {
    let pending: Vec<i32> = lock().running().collect();
    for pid in pending {
        if let Ok(Some(status)) = sys::wait_pid(pid, true) {
            if let Some(entry) = lock().entry(pid) {
                *entry = Some(status);
            }
        }
    }
}
