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

/// A created process as the table knows it: its id, and a serial number.
/// An id is reused once its process is reaped (after at most `pid_max`
/// forks, 32,768 on many machines); the serial number never is, so a
/// channel whose process [`waitall`] reaped still finds that process's
/// status when a later process has the same id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Child {
    pub(crate) pid: i32,
    serial: u64,
}

/// One created process: its exit status once [`waitall`] has reaped it,
/// until its channel collects it.
struct Entry {
    child: Child,
    status: Option<ExitStatus>,
}

/// The created processes not yet collected by their channels.
///
/// A vector, not a map: it holds the processes running at once (a few per
/// core, as a rule), and once grown it never allocates again, so a creator
/// that starts a process per task touches no new memory for it.
pub(crate) struct Children {
    entries: Vec<Entry>,
    next_serial: u64,
}

impl Children {
    /// An empty table.
    const fn new() -> Self {
        Children {
            entries: Vec::new(),
            next_serial: 0,
        }
    }

    /// Enters a process just created, and returns what it is known by.
    pub(crate) fn insert(&mut self, pid: i32) -> Child {
        let child = Child {
            pid,
            serial: self.next_serial,
        };
        self.next_serial += 1;
        self.entries.push(Entry {
            child,
            status: None,
        });
        child
    }

    /// Forgets every process (in a created process: its creator's children
    /// are not its).
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    /// Removes `child`, and returns how it ended if [`waitall`] reaped it
    /// (`None` if it was not reaped, or is not in the table).
    fn remove(&mut self, child: Child) -> Option<ExitStatus> {
        let index = self.entries.iter().position(|entry| entry.child == child)?;
        self.entries.swap_remove(index).status
    }

    /// Removes `child` if [`waitall`] reaped it, and returns how it ended.
    fn take_reaped(&mut self, child: Child) -> Option<ExitStatus> {
        let reaped = self
            .entries
            .iter()
            .any(|entry| entry.child == child && entry.status.is_some());
        if reaped { self.remove(child) } else { None }
    }

    /// Records how process `pid` ended: the newest entry with that id
    /// not reaped yet. Only one process has an id at a time; an older
    /// entry with the same id and no status is a process its own channel
    /// has just reaped and not yet removed.
    fn record(&mut self, pid: i32, status: ExitStatus) {
        if let Some(entry) = self
            .entries
            .iter_mut()
            .filter(|entry| entry.child.pid == pid && entry.status.is_none())
            .max_by_key(|entry| entry.child.serial)
        {
            entry.status = Some(status);
        }
    }

    /// The processes not reaped yet.
    fn running(&self) -> impl Iterator<Item = i32> + '_ {
        self.entries
            .iter()
            .filter(|entry| entry.status.is_none())
            .map(|entry| entry.child.pid)
    }
}

static CHILDREN: Mutex<Children> = Mutex::new(Children::new());

/// The table's lock, taken across `fork` so the child's copy is consistent
/// (the child then empties it).
pub(crate) fn lock() -> MutexGuard<'static, Children> {
    CHILDREN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Waits for `child` (blocking or not) and removes it from the table once
/// it has ended. Returns its exit status, or `None` if it is still running
/// and `block` is false.
pub(crate) fn wait(child: Child, block: bool) -> io::Result<Option<ExitStatus>> {
    if let Some(status) = lock().take_reaped(child) {
        return Ok(Some(status));
    }
    // Not reaped, so the process with this id is `child` itself.
    match sys::wait_pid(child.pid, block) {
        Ok(Some(status)) => {
            lock().remove(child);
            Ok(Some(status))
        }
        Ok(None) => Ok(None),
        // Reaped meanwhile by `waitall` in another thread.
        Err(error) if error.raw_os_error() == Some(nix::libc::ECHILD) => match lock().remove(child)
        {
            Some(status) => Ok(Some(status)),
            None => Err(error),
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
            lock().record(pid, status);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    fn exited(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    #[test]
    fn a_reaped_process_and_a_later_one_with_its_id_keep_their_own_statuses() {
        let mut children = Children::new();
        let first = children.insert(100);
        children.record(100, exited(3));
        let second = children.insert(100);
        assert_ne!(first, second);
        assert_eq!(children.running().collect::<Vec<_>>(), [100]);
        assert_eq!(children.take_reaped(second), None);
        children.record(100, exited(4));
        assert_eq!(children.take_reaped(first), Some(exited(3)));
        assert_eq!(children.take_reaped(second), Some(exited(4)));
        assert!(children.entries.is_empty());
    }

    #[test]
    fn a_status_goes_to_the_newest_process_with_its_id() {
        let mut children = Children::new();
        // Reaped by its channel, which has not removed it yet.
        let reaped = children.insert(100);
        let running = children.insert(100);
        children.record(100, exited(5));
        assert_eq!(children.take_reaped(running), Some(exited(5)));
        assert_eq!(children.remove(reaped), None);
        assert!(children.entries.is_empty());
    }

    #[test]
    fn removing_a_running_process_forgets_it_and_gives_no_status() {
        let mut children = Children::new();
        let child = children.insert(7);
        assert_eq!(children.remove(child), None);
        assert_eq!(children.running().count(), 0);
    }
}
