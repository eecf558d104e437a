//! Helpers shared by the suites that provoke failures and check process
//! hygiene (`faults`, `fault_matrix`, `timeouts`, `bad_input`, ...).
//!
//! The rules they keep: nothing synchronises on sleeps (created processes
//! report over sockets, tests wait for those reports); tests run as threads
//! of one process, so a test only ever checks the pids it was told about;
//! every blocking wait has a generous guard that turns a hang into a
//! failure with a message, and never decides whether a test passes.

#![allow(dead_code)]

use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::resource::{Resource, setrlimit};
use nix::sys::signal::{self, SigHandler, Signal};
use nix::sys::socket::{self, MsgFlags};
use pprocess::Channel;

/// How long a blocking wait may last before the test gives up (a hang
/// guard, never a synchronisation: correct runs never get near it).
pub const HANG_GUARD: Duration = Duration::from_secs(60);

/// Whether process `pid` is gone: neither running nor a zombie.
pub fn gone(pid: i32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

/// Asserts that every one of `pids` is gone (reaped).
pub fn assert_gone(pids: impl IntoIterator<Item = i32>) {
    for pid in pids {
        assert!(pid > 0, "not a process id: {pid}");
        assert_ne!(pid, std::process::id() as i32, "a task ran in the test");
        if !gone(pid) {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            panic!("process {pid} is left behind (running or zombie): {stat}");
        }
    }
}

/// The scheduler state of process `pid` (`R`, `S`, `Z`, ...), if it exists.
pub fn state(pid: i32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// The parent of process `pid`, if it exists.
pub fn parent_of(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Every process whose parent is this one. Only meaningful in a created
/// process that has a single thread (the test process has many, each
/// making children of its own).
pub fn own_children() -> Vec<i32> {
    let me = std::process::id() as i32;
    fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| parent_of(pid) == Some(me))
        .collect()
}

/// The number of descriptors open in this process. Only meaningful in a
/// created process (the test process's other threads open and close
/// descriptors all the time).
pub fn open_descriptors() -> usize {
    fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// Waits until process `pid` has ended (a zombie or gone; a child or
/// not), failing after [`HANG_GUARD`]. An event, not a poll: a pidfd
/// becomes readable when its process ends.
pub fn wait_for_end(pid: i32) {
    // SAFETY: pidfd_open takes a pid and flags, and returns a new
    // descriptor or -1; it touches no memory of ours.
    let raw = unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, pid, 0) };
    if raw < 0 {
        // ESRCH: no such process, so it has ended and been reaped.
        assert_eq!(
            io::Error::last_os_error().raw_os_error(),
            Some(nix::libc::ESRCH),
            "pidfd_open({pid})"
        );
        return;
    }
    // SAFETY: `raw` is a descriptor pidfd_open just opened for us alone.
    let pidfd = unsafe { OwnedFd::from_raw_fd(raw as RawFd) };
    let deadline = Instant::now() + HANG_GUARD;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32)
            .unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, timeout) {
            Ok(0) => panic!("process {pid} still runs after {HANG_GUARD:?}"),
            Ok(_) => return,
            Err(nix::errno::Errno::EINTR) => {}
            Err(error) => panic!("poll on the pidfd of {pid}: {error}"),
        }
    }
}

/// Polls `condition` until it holds, failing with `what` after
/// [`HANG_GUARD`]. Only for conditions no event announces (a thread
/// blocked in another process, a file another process removes); a
/// process's end is waited for with [`wait_for_end`].
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + HANG_GUARD;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A frame header: the payload length (little endian) and the kind byte.
pub fn header(length: u64, kind: u8) -> Vec<u8> {
    let mut header = length.to_le_bytes().to_vec();
    header.push(kind);
    header
}

/// A frame's header followed by `payload`, as one buffer: written with one
/// `write_raw`, the reader cannot give up on the header and close the socket
/// before the payload is in (which would fail the second write with `EPIPE`).
pub fn raw_frame(length: u64, kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = header(length, kind);
    frame.extend_from_slice(payload);
    frame
}

/// Writes raw bytes into a channel's socket, bypassing the framing.
pub fn write_raw(channel: &Channel, mut bytes: &[u8]) {
    let socket = channel.socket().expect("the channel is open");
    while !bytes.is_empty() {
        let written = nix::unistd::write(socket, bytes).expect("write to the socket");
        bytes = &bytes[written..];
    }
}

/// Blocks the calling (created) process until it is killed.
pub fn block_forever() -> ! {
    loop {
        std::thread::park();
    }
}

/// In a created process: gives `SIGSEGV` its default action again. The
/// Rust runtime's handler (for stack overflows) survives a `SIGSEGV` sent
/// with `kill`, so without this the process would not die from one.
pub fn default_segv() {
    // SAFETY: installing `SIG_DFL` runs no code of ours in a handler.
    unsafe { signal::signal(Signal::SIGSEGV, SigHandler::SigDfl) }.expect("SIG_DFL for SIGSEGV");
}

/// In a created process: no core file when it dies from a signal.
pub fn no_core_file() {
    let _ = setrlimit(Resource::RLIMIT_CORE, 0, 0);
}

/// Created processes report `(task index, their pid)` here; the test
/// collects the reports. A datagram each, so reports never mix.
pub struct TaskLog {
    test_end: UnixDatagram,
    task_end: UnixDatagram,
    seen: Mutex<Vec<(u64, i32)>>,
}

impl Default for TaskLog {
    fn default() -> Self {
        TaskLog::new()
    }
}

impl TaskLog {
    pub fn new() -> Self {
        let (test_end, task_end) = UnixDatagram::pair().expect("a socketpair for reports");
        test_end
            .set_read_timeout(Some(HANG_GUARD))
            .expect("a receive timeout on reports");
        TaskLog {
            test_end,
            task_end,
            seen: Mutex::new(Vec::new()),
        }
    }

    /// In a created process: reports that this process runs task `index`.
    pub fn report(&self, index: u64) {
        report_on(self.task_end.as_raw_fd(), index);
    }

    /// The descriptor created processes report on (for code that cannot
    /// borrow the log, such as a `Deserialize` impl).
    pub fn raw_fd(&self) -> RawFd {
        self.task_end.as_raw_fd()
    }

    fn receive(&self) -> io::Result<(u64, i32)> {
        let mut message = [0u8; 12];
        let length = self.test_end.recv(&mut message)?;
        assert_eq!(length, 12, "a report is 12 bytes");
        Ok((
            u64::from_le_bytes(message[..8].try_into().unwrap()),
            i32::from_le_bytes(message[8..].try_into().unwrap()),
        ))
    }

    /// In the test: waits until task `index` has reported, and returns the
    /// pid of the process running it.
    pub fn wait_for(&self, index: u64) -> i32 {
        loop {
            if let Some(&(_, pid)) = self.seen.lock().unwrap().iter().find(|r| r.0 == index) {
                return pid;
            }
            let report = self.receive().unwrap_or_else(|error| {
                panic!("task {index} never reported within {HANG_GUARD:?}: {error}")
            });
            self.seen.lock().unwrap().push(report);
        }
    }

    /// In the test: waits for `count` more reports and returns them.
    pub fn wait_for_count(&self, count: usize) -> Vec<(u64, i32)> {
        (0..count)
            .map(|received| {
                let report = self.receive().unwrap_or_else(|error| {
                    panic!("expected {count} reports, got {received}: {error}")
                });
                self.seen.lock().unwrap().push(report);
                report
            })
            .collect()
    }

    /// In the test: every report so far (those already in the socket
    /// included), in arrival order.
    pub fn reports(&self) -> Vec<(u64, i32)> {
        self.test_end.set_nonblocking(true).unwrap();
        loop {
            match self.receive() {
                Ok(report) => self.seen.lock().unwrap().push(report),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) => panic!("reading reports: {error}"),
            }
        }
        self.test_end.set_nonblocking(false).unwrap();
        self.seen.lock().unwrap().clone()
    }

    /// In the test: the pids of every report so far.
    pub fn pids(&self) -> Vec<i32> {
        let mut pids: Vec<i32> = self.reports().into_iter().map(|(_, pid)| pid).collect();
        pids.sort();
        pids.dedup();
        pids
    }
}

/// Reports `(index, own pid)` on the datagram socket `fd`.
pub fn report_on(fd: RawFd, index: u64) {
    let mut message = [0u8; 12];
    message[..8].copy_from_slice(&index.to_le_bytes());
    message[8..].copy_from_slice(&(std::process::id() as i32).to_le_bytes());
    socket::send(fd, &message, MsgFlags::empty()).expect("reporting to the test");
}

/// Runs `check` in a created process and returns what it sends back,
/// asserting that it left no descriptor open there: the count before it
/// ran and after it returned (having dropped what it made) is the same.
/// Descriptors and children counted in a created process mean something
/// (the test process's other threads open and close descriptors all the
/// time).
pub fn in_a_created_process_leaving_no_descriptor<T>(check: fn() -> T) -> T
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let mut channel = pprocess::start(move |channel| {
        let before = open_descriptors();
        let value = check();
        channel.send(&(before, open_descriptors(), value))
    })
    .expect("start");
    let (before, after, value): (usize, usize, T) = channel.receive().expect("the check's result");
    assert!(channel.wait().expect("wait").success());
    assert_eq!(before, after, "descriptors open before and after");
    value
}

/// A value whose serialization writes `bytes` (a block: into shared
/// memory, or sent as a part), then kills its own process: a sender that
/// dies in the middle of a message.
pub struct DiesMidway {
    pub bytes: Vec<u8>,
}

impl serde::Serialize for DiesMidway {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut tuple = serializer.serialize_tuple(2)?;
        tuple.serialize_element(&self.bytes)?;
        signal::raise(Signal::SIGKILL).expect("raise");
        tuple.serialize_element(&0u8)?;
        tuple.end()
    }
}
