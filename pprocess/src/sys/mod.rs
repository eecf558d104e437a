//! Thin wrappers over the Unix calls the rest of the crate needs.
//!
//! This is the only module that contains `unsafe` code. Each wrapper retries
//! `EINTR` where the call can be interrupted, turns failures into
//! [`std::io::Error`], and states next to every `unsafe` block why it is
//! sound. Everything outside this module is safe Rust.

use std::io;
use std::num::NonZeroUsize;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::libc;
use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockType};

mod memory_file;
pub(crate) use memory_file::{Mapping, MemoryFile, map_region_data, map_region_header, map_sealed};

/// Which side of a [`fork`] the caller is on.
pub(crate) enum Forked {
    /// The creating process; `child` is the new process's id.
    Parent { child: i32 },
    /// The new process.
    Child,
}

/// Forks the calling process.
///
/// # Safety
///
/// In a multi-threaded program, only the calling thread exists in the
/// child, and every lock another thread held at the call stays locked
/// there for ever. The caller must make sure the child takes no such
/// lock: it holds the locks the child will use across the call (the
/// crate's own, and the standard streams'), and the child runs only code
/// that takes no other lock another thread may hold. The fork procedure
/// of `process::fork` is the one caller; it documents how it meets this.
pub(crate) unsafe fn fork() -> io::Result<Forked> {
    // SAFETY: the caller meets `fork`'s obligation (see `# Safety`).
    match unsafe { nix::unistd::fork() }.map_err(io::Error::from)? {
        nix::unistd::ForkResult::Parent { child } => Ok(Forked::Parent {
            child: child.as_raw(),
        }),
        nix::unistd::ForkResult::Child => Ok(Forked::Child),
    }
}

/// Ends the calling process at once with `code`, running no destructor and
/// no `atexit` handler. Used by created processes, which must never return
/// into their creator's code.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` takes no pointers and ends the process at once; it is
    // async-signal-safe and always sound to call.
    unsafe { libc::_exit(code) }
}

/// Creates a connected pair of stream sockets, both close-on-exec.
pub(crate) fn socket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    socket::socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(io::Error::from)
}

/// Writes all of `bytes` to a socket, retrying `EINTR` and short writes.
/// Never raises `SIGPIPE`: a closed peer is reported as `EPIPE`.
pub(crate) fn send_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        let written = retrying(|| socket::send(fd.as_raw_fd(), bytes, MsgFlags::MSG_NOSIGNAL))?;
        bytes = &bytes[written..];
    }
    Ok(())
}

/// Makes `call` until it is not interrupted (`EINTR`).
fn retrying<T>(mut call: impl FnMut() -> nix::Result<T>) -> io::Result<T> {
    loop {
        match call() {
            Err(Errno::EINTR) => {}
            done => return done.map_err(io::Error::from),
        }
    }
}

/// Writes all of `parts`, in order, to a socket with as few `sendmsg`
/// calls as the kernel allows (one, usually), without copying them into one
/// buffer first. Retries `EINTR` and short writes; never raises `SIGPIPE`.
pub(crate) fn send_all_vectored(fd: BorrowedFd<'_>, parts: &[&[u8]]) -> io::Result<()> {
    let mut slices: Vec<io::IoSlice<'_>> =
        parts.iter().map(|part| io::IoSlice::new(part)).collect();
    let mut remaining = &mut slices[..];
    io::IoSlice::advance_slices(&mut remaining, 0);
    while !remaining.is_empty() {
        let written = retrying(|| {
            socket::sendmsg::<()>(fd.as_raw_fd(), remaining, &[], MsgFlags::MSG_NOSIGNAL, None)
        })?;
        io::IoSlice::advance_slices(&mut remaining, written);
    }
    Ok(())
}

/// Reads once from `fd` into the spare capacity of `buffer` (which must have
/// some), at most `most` bytes, appending what arrived. Returns the number
/// of bytes read; 0 means end of file. Retries `EINTR`. Descriptors passed
/// with the bytes read are closed, as `read` would.
pub(crate) fn read_into_spare(
    fd: BorrowedFd<'_>,
    buffer: &mut Vec<u8>,
    most: usize,
) -> io::Result<usize> {
    receive_into_spare(fd, buffer, most, &mut Vec::new())
}

/// Reads as [`read_into_spare`], and appends to `passed` the descriptors
/// that came with the bytes read (`SCM_RIGHTS`, close-on-exec).
pub(crate) fn receive_into_spare(
    fd: BorrowedFd<'_>,
    buffer: &mut Vec<u8>,
    most: usize,
    passed: &mut Vec<OwnedFd>,
) -> io::Result<usize> {
    let spare = buffer.spare_capacity_mut();
    let length = spare.len().min(most);
    let read = receive_into(fd, &mut spare[..length], &mut [], passed)?;
    // SAFETY: the kernel initialised the first `read` bytes of the
    // spare capacity, which directly follow the initialised length.
    unsafe { buffer.set_len(buffer.len() + read) };
    Ok(read)
}

/// Reads once from `fd` into `first` (not empty) and then `second`
/// (which may be), appending to `passed` the descriptors that came with
/// the bytes: the number of bytes read, which fill `first` before any
/// goes to `second`, and are then initialised.
fn receive_into(
    fd: BorrowedFd<'_>,
    first: &mut [std::mem::MaybeUninit<u8>],
    second: &mut [std::mem::MaybeUninit<u8>],
    passed: &mut Vec<OwnedFd>,
) -> io::Result<usize> {
    debug_assert!(!first.is_empty());
    // Room for one control message of up to 8 descriptors, aligned as a
    // `cmsghdr` must be.
    let mut control = [0u64; 8];
    loop {
        let mut parts = [
            libc::iovec {
                iov_base: first.as_mut_ptr().cast(),
                iov_len: first.len(),
            },
            libc::iovec {
                iov_base: second.as_mut_ptr().cast(),
                iov_len: second.len(),
            },
        ];
        // SAFETY: an all-zero `msghdr` is valid: no address, no vectors,
        // no control buffer.
        let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
        message.msg_iov = parts.as_mut_ptr();
        message.msg_iovlen = if second.is_empty() { 1 } else { 2 };
        message.msg_control = control.as_mut_ptr().cast();
        message.msg_controllen = size_of_val(&control) as _;
        // SAFETY: `message` points at vectors of `first.len()` and
        // `second.len()` writable bytes (uninitialised is fine: the kernel
        // only writes them) and at `control`, all alive for the call.
        let read = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut message, libc::MSG_CMSG_CLOEXEC) };
        if read < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error);
        }
        // SAFETY: `message` is the header `recvmsg` filled in; its control
        // buffer is `control`, and the macros walk only what the kernel
        // wrote there. Each `SCM_RIGHTS` entry holds descriptors the kernel
        // installed in this process for us, owned by nothing else.
        unsafe {
            let mut header = libc::CMSG_FIRSTHDR(&message);
            while !header.is_null() {
                if (*header).cmsg_level == libc::SOL_SOCKET
                    && (*header).cmsg_type == libc::SCM_RIGHTS
                {
                    let data = libc::CMSG_DATA(header);
                    let bytes =
                        (*header).cmsg_len as usize - data.offset_from(header.cast()) as usize;
                    for index in 0..bytes / size_of::<RawFd>() {
                        let raw = data.cast::<RawFd>().add(index).read_unaligned();
                        passed.push(OwnedFd::from_raw_fd(raw));
                    }
                }
                header = libc::CMSG_NXTHDR(&message, header);
            }
        }
        if message.msg_flags & libc::MSG_CTRUNC != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "more descriptors were passed than one message carries",
            ));
        }
        return Ok(read as usize);
    }
}

/// Sends all of `bytes` to a socket, passing `passed` with the first of
/// them (`SCM_RIGHTS`). Retries `EINTR` and short writes; never raises
/// `SIGPIPE`.
pub(crate) fn send_with_descriptor(
    fd: BorrowedFd<'_>,
    bytes: &[u8],
    passed: BorrowedFd<'_>,
) -> io::Result<()> {
    let descriptors = [passed.as_raw_fd()];
    let control = [socket::ControlMessage::ScmRights(&descriptors)];
    let parts = [io::IoSlice::new(bytes)];
    let written = retrying(|| {
        socket::sendmsg::<()>(
            fd.as_raw_fd(),
            &parts,
            &control,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
    })?;
    send_all(fd, &bytes[written..])
}

/// A descriptor that becomes readable when process `pid` (a child of
/// this process, not yet reaped) ends: `pidfd_open`, on Linux 5.3 and
/// later. An error where the call does not exist.
pub(crate) fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::FromRawFd;
        // SAFETY: `pidfd_open` takes a pid and flags and returns a new
        // descriptor or -1; no memory is passed.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the call returned a new descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// Waits for the child `pid` to end. With `block` false, returns `None` at
/// once if it is still running. Retries `EINTR`.
pub(crate) fn wait_pid(pid: i32, block: bool) -> io::Result<Option<ExitStatus>> {
    let options = if block { 0 } else { libc::WNOHANG };
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid, writable `c_int` for the whole call.
        let reaped = unsafe { libc::waitpid(pid, &mut status, options) };
        if reaped == pid {
            return Ok(Some(ExitStatus::from_raw(status)));
        }
        if reaped == 0 {
            return Ok(None);
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// Sends `SIGKILL` to `pid`. A process that is already gone is not an error.
pub(crate) fn kill(pid: i32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// The id of the calling process's parent.
pub(crate) fn parent_id() -> i32 {
    nix::unistd::getppid().as_raw()
}

/// Asks the kernel to kill the calling process when the thread that forked
/// it ends (Linux only; a no-op elsewhere).
pub(crate) fn die_with_parent() -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).map_err(io::Error::from)?;
    Ok(())
}

/// A set of descriptors to wait for with `poll`, filled anew for each wait
/// and kept between waits, so that waiting allocates nothing once the set
/// has grown to the number of descriptors watched.
#[derive(Debug, Default)]
pub(crate) struct PollSet {
    fds: Vec<libc::pollfd>,
}

impl PollSet {
    /// Empties the set.
    pub(crate) fn clear(&mut self) {
        self.fds.clear();
    }

    /// Adds `fd`, to be reported readable (or hung up, or in error), and
    /// writable too with `write`.
    pub(crate) fn add(&mut self, fd: BorrowedFd<'_>, write: bool) {
        self.fds.push(poll_entry(fd, write));
    }

    /// Waits until at least one descriptor of the set is ready, or until
    /// `timeout` passes (`None`: no limit). Retries `EINTR` with the time
    /// that is left.
    pub(crate) fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        poll_until(&mut self.fds, timeout)
    }

    /// What the last wait found for the `index`th descriptor added.
    pub(crate) fn readiness(&self, index: usize) -> Readiness {
        readiness(&self.fds[index])
    }
}

/// `fd` to be reported readable (or hung up, or in error), and writable
/// too with `write`.
fn poll_entry(fd: BorrowedFd<'_>, write: bool) -> libc::pollfd {
    libc::pollfd {
        fd: fd.as_raw_fd(),
        events: if write {
            libc::POLLIN | libc::POLLOUT
        } else {
            libc::POLLIN
        },
        revents: 0,
    }
}

fn readiness(fd: &libc::pollfd) -> Readiness {
    Readiness {
        readable: fd.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0,
        writable: fd.revents & libc::POLLOUT != 0,
    }
}

/// `poll` on `fds` until one has an event or `timeout` passes (`None`: no
/// limit), retrying `EINTR` with the time that is left.
fn poll_until(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> io::Result<()> {
    let deadline = timeout.map(|timeout| Instant::now() + timeout);
    loop {
        let wait = match deadline {
            None => -1,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                // Round up so a sub-millisecond wait does not spin.
                left.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int
            }
        };
        // SAFETY: `fds` is a valid, writable array of `fds.len()` pollfd
        // structures for the whole call; `poll` writes only their
        // `revents`. A descriptor that is not open is reported as
        // `POLLNVAL`, never touched.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, wait) };
        if ready >= 0 {
            return Ok(());
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// The name of signal `signal` ("SIGKILL"), or its number as text.
pub(crate) fn signal_name(signal: i32) -> String {
    nix::sys::signal::Signal::try_from(signal)
        .map(|signal| signal.as_str().to_owned())
        .unwrap_or_else(|_| format!("signal {signal}"))
}

/// Closes a descriptor this process inherited through `fork` and must not
/// keep (a channel end that belongs to its creator or a sibling).
pub(crate) fn close_inherited(fd: RawFd) {
    let _ = nix::unistd::close(fd);
}

/// Creates an unbound Unix stream socket, close-on-exec; non-blocking if
/// asked (to probe an address without waiting for room in its backlog).
pub(crate) fn unix_socket(nonblocking: bool) -> io::Result<OwnedFd> {
    let mut flags = SockFlag::SOCK_CLOEXEC;
    if nonblocking {
        flags |= SockFlag::SOCK_NONBLOCK;
    }
    socket::socket(AddressFamily::Unix, SockType::Stream, flags, None).map_err(io::Error::from)
}

/// The longest path a Unix socket address holds, in bytes: the size of
/// `sun_path` (108 on Linux, 104 on macOS) less its terminating zero.
pub(crate) const SOCKET_PATH_LIMIT: usize = std::mem::size_of::<libc::sockaddr_un>()
    - std::mem::offset_of!(libc::sockaddr_un, sun_path)
    - 1;

/// Binds `socket` to the file system path `path` (which must not exist)
/// and listens on it.
pub(crate) fn bind_and_listen(socket: BorrowedFd<'_>, path: &Path) -> io::Result<()> {
    let address = socket::UnixAddr::new(path).map_err(io::Error::from)?;
    socket::bind(socket.as_raw_fd(), &address).map_err(io::Error::from)?;
    listen(socket)
}

/// Listens on a bound socket; called again on a listening socket, makes
/// the calling process the one connecting peers see (`SO_PEERCRED`).
pub(crate) fn listen(socket: BorrowedFd<'_>) -> io::Result<()> {
    socket::listen(&socket, socket::Backlog::MAXCONN).map_err(io::Error::from)
}

/// Connects `socket` to the listener at `path`. A blocking socket waits
/// only while the listener's backlog is full; with nobody listening the
/// call fails at once (`ECONNREFUSED`, or `ENOENT` for a missing path).
/// An interrupted connection is waited for, not restarted.
pub(crate) fn connect_unix(socket: BorrowedFd<'_>, path: &Path) -> io::Result<()> {
    let address = socket::UnixAddr::new(path).map_err(io::Error::from)?;
    match socket::connect(socket.as_raw_fd(), &address) {
        Ok(()) => Ok(()),
        Err(Errno::EINTR) => loop {
            // The connection goes on in the background: wait for it, then
            // ask how it went.
            let ready = poll_one(socket, true, None)?;
            if ready.writable || ready.readable {
                let error = socket::getsockopt(&socket, socket::sockopt::SocketError)
                    .map_err(io::Error::from)?;
                return match error {
                    0 => Ok(()),
                    errno => Err(io::Error::from_raw_os_error(errno)),
                };
            }
        },
        Err(errno) => Err(errno.into()),
    }
}

/// Accepts the next connection on a listening socket, close-on-exec,
/// waiting for one. Retries `EINTR`.
pub(crate) fn accept(listener: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    retrying(|| socket::accept4(listener, SockFlag::SOCK_CLOEXEC))
}

/// Who is at the other end of a connected Unix socket: the process that
/// last listened on the socket it connected to.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PeerCredentials {
    /// Its process id; `-1` where the system cannot tell.
    pub(crate) pid: i32,
    /// Its user id; `None` where the system cannot tell.
    pub(crate) uid: Option<u32>,
}

/// The credentials of the process at the other end of a connected Unix
/// socket (`SO_PEERCRED`; `LOCAL_PEERPID` and `getpeereid` on Apple
/// systems).
pub(crate) fn peer_credentials(socket: BorrowedFd<'_>) -> io::Result<PeerCredentials> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        socket::getsockopt(&socket, socket::sockopt::PeerCredentials)
            .map(|credentials| PeerCredentials {
                pid: credentials.pid(),
                uid: Some(credentials.uid()),
            })
            .map_err(io::Error::from)
    }
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    {
        let pid =
            socket::getsockopt(&socket, socket::sockopt::LocalPeerPid).map_err(io::Error::from)?;
        let (uid, _) = nix::unistd::getpeereid(socket).map_err(io::Error::from)?;
        Ok(PeerCredentials {
            pid,
            uid: Some(uid.as_raw()),
        })
    }
    #[cfg(not(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "ios"
    )))]
    {
        let _ = socket;
        Ok(PeerCredentials { pid: -1, uid: None })
    }
}

/// The effective user id of this process.
pub(crate) fn effective_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Sets how long one blocking receive (`SO_RCVTIMEO`) and one blocking
/// send (`SO_SNDTIMEO`, which bounds `connect` on a Unix socket too) on
/// `socket` may wait before failing with `EAGAIN`; `None` for no limit.
/// A zero duration is taken as one microsecond (zero means no limit to the
/// system), a huge one as about 68 years.
pub(crate) fn set_timeouts(
    socket: BorrowedFd<'_>,
    receive: Option<Duration>,
    send: Option<Duration>,
) -> io::Result<()> {
    use nix::sys::time::TimeVal;
    let time_value = |timeout: Option<Duration>| match timeout {
        None => TimeVal::new(0, 0),
        Some(timeout) => {
            let seconds = timeout.as_secs().min(i32::MAX as u64) as libc::time_t;
            let micros = timeout.subsec_micros() as libc::suseconds_t;
            match (seconds, micros) {
                (0, 0) => TimeVal::new(0, 1),
                _ => TimeVal::new(seconds, micros),
            }
        }
    };
    socket::setsockopt(
        &socket,
        socket::sockopt::ReceiveTimeout,
        &time_value(receive),
    )
    .and_then(|()| socket::setsockopt(&socket, socket::sockopt::SendTimeout, &time_value(send)))
    .map_err(io::Error::from)
}

/// Writes what the socket takes now of `bytes`, without waiting. Returns
/// the number of bytes written; `WouldBlock` if none fit. Never raises
/// `SIGPIPE`: a closed peer is `EPIPE`. Retries `EINTR`.
pub(crate) fn send_nonblocking(fd: BorrowedFd<'_>, bytes: &[u8]) -> io::Result<usize> {
    retrying(|| {
        socket::send(
            fd.as_raw_fd(),
            bytes,
            MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT,
        )
    })
}

/// What [`poll_one`] found.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Readiness {
    /// Readable, hung up or in error: a read will not block.
    pub(crate) readable: bool,
    /// Writable (only asked for with `write`).
    pub(crate) writable: bool,
}

/// Waits until `fd` is readable (or hung up, or in error), or also
/// writable with `write`, or until `timeout` passes (`None`: no limit).
/// Retries `EINTR` with the time that is left.
pub(crate) fn poll_one(
    fd: BorrowedFd<'_>,
    write: bool,
    timeout: Option<Duration>,
) -> io::Result<Readiness> {
    let mut fds = [poll_entry(fd, write)];
    poll_until(&mut fds, timeout)?;
    Ok(readiness(&fds[0]))
}

/// Makes the calling process the leader of a new session, without a
/// controlling terminal (`setsid`): a background process no longer gets
/// its creator's terminal signals.
pub(crate) fn new_session() -> io::Result<()> {
    nix::unistd::setsid().map(drop).map_err(io::Error::from)
}

/// Points standard input, output and error at `/dev/null`, so that a
/// background process neither reads nor writes its creator's terminal or
/// pipes. Descriptors 0 to 2 stay open (on `/dev/null`): a socket opened
/// later can never take their numbers, so a stray print never reaches a
/// channel.
pub(crate) fn detach_standard_streams() -> io::Result<()> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    nix::unistd::dup2_stdin(&null).map_err(io::Error::from)?;
    nix::unistd::dup2_stdout(&null).map_err(io::Error::from)?;
    nix::unistd::dup2_stderr(&null).map_err(io::Error::from)?;
    Ok(())
}

/// Memory mapped shared (`MAP_SHARED`, anonymous): a process forked after
/// the mapping reads and writes the same memory as its creator. First
/// atomic words, then bytes that are copied in and out whole.
///
/// The bytes are plain memory, copied with `memcpy`: whoever uses them
/// keeps processes off a range while another writes it (the answer rings
/// do, with release and acquire on their positions). In this process no
/// two threads can touch them: a `SharedMemory` is neither `Send` nor
/// `Sync`. Unmapped on drop (in the process that drops it: a created
/// process that ends with `_exit` leaves its copy to the kernel).
pub(crate) struct SharedMemory {
    start: NonNull<AtomicUsize>,
    words: usize,
    bytes: usize,
}

impl SharedMemory {
    /// `words` words then `bytes` bytes, all zero (at least one word).
    pub(crate) fn new(words: usize, bytes: usize) -> io::Result<SharedMemory> {
        let words = words.max(1);
        let length = NonZeroUsize::new(mapping_length(words, bytes)).expect("at least one word");
        // SAFETY: a new anonymous mapping overlaps nothing.
        let start = unsafe {
            nix::sys::mman::mmap_anonymous(
                None,
                length,
                nix::sys::mman::ProtFlags::PROT_READ | nix::sys::mman::ProtFlags::PROT_WRITE,
                nix::sys::mman::MapFlags::MAP_SHARED,
            )
        }?;
        Ok(SharedMemory {
            start: start.cast(),
            words,
            bytes,
        })
    }

    /// The words.
    pub(crate) fn words(&self) -> &[AtomicUsize] {
        // SAFETY: the mapping starts with `words` words, page-aligned and
        // zeroed when made (a valid `AtomicUsize` each), until `self` is
        // dropped; every access to them is atomic.
        unsafe { std::slice::from_raw_parts(self.start.as_ptr(), self.words) }
    }

    /// Byte `at` of the bytes after the words, where `length` bytes are
    /// to be copied.
    ///
    /// # Panics
    ///
    /// If the range is not within the bytes.
    fn byte_at(&self, at: usize, length: usize) -> *mut u8 {
        assert!(at.checked_add(length).is_some_and(|end| end <= self.bytes));
        // SAFETY: the words are followed by `bytes` bytes in the mapping,
        // and `at` is within them (checked above).
        unsafe { self.start.as_ptr().add(self.words).cast::<u8>().add(at) }
    }

    /// Copies `from` into the bytes, from byte `at`.
    ///
    /// # Panics
    ///
    /// If the range is not within the bytes.
    pub(crate) fn copy_in(&self, at: usize, from: &[u8]) {
        let to = self.byte_at(at, from.len());
        // SAFETY: the range is within the mapping (checked by `byte_at`),
        // which `from` (memory of this process's own) cannot overlap; no
        // other thread of this process can use the mapping (see the
        // type's doc).
        unsafe { std::ptr::copy_nonoverlapping(from.as_ptr(), to, from.len()) }
    }

    /// Fills `into` from the bytes, from byte `at`.
    ///
    /// # Panics
    ///
    /// If the range is not within the bytes.
    pub(crate) fn copy_out(&self, at: usize, into: &mut [u8]) {
        let from = self.byte_at(at, into.len());
        // SAFETY: as for `copy_in`.
        unsafe { std::ptr::copy_nonoverlapping(from, into.as_mut_ptr(), into.len()) }
    }
}

/// The length of a mapping of `words` words then `bytes` bytes.
fn mapping_length(words: usize, bytes: usize) -> usize {
    words * size_of::<AtomicUsize>() + bytes
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        let length = mapping_length(self.words, self.bytes);
        // SAFETY: the mapping was made in `new` with this length, and the
        // borrow of `self` ended with every slice of it. Failure leaves
        // only pages.
        let _ = unsafe { nix::sys::mman::munmap(self.start.cast(), length) };
    }
}

// Type identity, for the codec's block paths: serde hands values over
// through generic parameters, and these tell when a parameter is one of a
// few plain types after all.

/// `iter` as the slice it walks, if it is a slice iterator over `E`.
pub(crate) fn slice_of_iter<I, E: bytemuck::Pod>(iter: &I) -> Option<&[E]> {
    if typeid::of::<I>() != std::any::TypeId::of::<std::slice::Iter<'static, E>>() {
        return None;
    }
    // SAFETY: `I` is `slice::Iter<'x, E>` for some lifetime `'x`: the two
    // types are the same once lifetimes are erased, and `E` (`Pod`, so
    // `'static` and made of plain data) has none of its own. `&'s I` is
    // only well formed when `'x` outlives `'s`, so reading it as a
    // `slice::Iter<'s, E>` only shortens a covariant lifetime, and the
    // slice returned borrows no longer than `iter` does.
    let iter = unsafe { &*std::ptr::from_ref(iter).cast::<std::slice::Iter<'_, E>>() };
    Some(iter.as_slice())
}

/// A vector of plain elements filled from their little-endian bytes,
/// which may come in pieces that split an element (a socket's reads): the
/// codec reads a block of numbers straight into the vector it returns.
pub(crate) struct Filling<E> {
    vector: Vec<E>,
    /// Bytes written after the vector's length: the start of an element
    /// not yet whole (fewer than its size).
    partial: usize,
}

/// Room of at least this many bytes is faulted in with one call before a
/// [`Filling`] reads into it.
const POPULATE_FROM: usize = 256 << 10;

impl<E: bytemuck::Pod> Filling<E> {
    /// An empty vector with room for `elements`.
    pub(crate) fn with_capacity(elements: usize) -> Self {
        let mut filling = Filling {
            vector: Vec::with_capacity(elements),
            partial: 0,
        };
        filling.populate();
        filling
    }

    /// Faults in the whole pages of a large room at once, as writing to
    /// each would, but with one system call instead of a fault per page
    /// (which a read into fresh memory takes, and which costs most of
    /// such a read in a virtual machine). Nothing is written; a kernel
    /// without `MADV_POPULATE_WRITE` (before Linux 5.14) is left to fault.
    fn populate(&mut self) {
        let spare = self.spare();
        if spare.len() < POPULATE_FROM {
            return;
        }
        let page = page_size();
        let start = spare.as_mut_ptr() as usize;
        let (first, end) = (
            start.next_multiple_of(page),
            (start + spare.len()) / page * page,
        );
        if end > first {
            // SAFETY: `first..end` is whole pages inside the vector's
            // spare capacity, memory it owns and has mapped writable; the
            // advice only maps pages in, leaving their contents as they are.
            unsafe {
                libc::madvise(
                    first as *mut libc::c_void,
                    end - first,
                    libc::MADV_POPULATE_WRITE,
                )
            };
        }
    }

    /// How many bytes have been written.
    pub(crate) fn filled(&self) -> usize {
        self.vector.len() * size_of::<E>() + self.partial
    }

    /// Bytes that fit after those written.
    pub(crate) fn room(&self) -> usize {
        self.vector.capacity() * size_of::<E>() - self.filled()
    }

    /// Makes room for `elements` more elements after the whole ones (the
    /// partial one counts among them).
    pub(crate) fn reserve(&mut self, elements: usize) {
        self.vector.reserve(elements);
        self.populate();
    }

    /// The room left, as bytes, after those already written.
    fn spare(&mut self) -> &mut [std::mem::MaybeUninit<u8>] {
        let spare = self.vector.spare_capacity_mut();
        let bytes = std::mem::size_of_val(spare);
        // SAFETY: the spare capacity is `bytes` bytes of memory the vector
        // owns and does not read; viewed as bytes that may be uninitialised
        // (`MaybeUninit<u8>` has no alignment or validity requirement), it
        // is borrowed from `self.vector` for as long as the result.
        let spare = unsafe { std::slice::from_raw_parts_mut(spare.as_mut_ptr().cast(), bytes) };
        &mut spare[self.partial..]
    }

    /// Counts `count` more bytes written into [`spare`](Self::spare).
    fn wrote(&mut self, count: usize) {
        let bytes = self.partial + count;
        let whole = bytes / size_of::<E>();
        // SAFETY: the `bytes` bytes after the length were written (the
        // partial element's, then `count` more), so the first `whole`
        // elements after it are initialised, and any bytes are a valid `E`
        // (`Pod`); they are within the capacity, which `spare` measured.
        unsafe { self.vector.set_len(self.vector.len() + whole) };
        self.partial = bytes % size_of::<E>();
    }

    /// Appends `bytes` (which must fit the room left).
    pub(crate) fn extend_from_bytes(&mut self, bytes: &[u8]) {
        let spare = &mut self.spare()[..bytes.len()];
        // SAFETY: `spare` is `bytes.len()` writable bytes of the vector's
        // spare capacity (the indexing checked the length), and `bytes`,
        // borrowed immutably, cannot overlap memory borrowed mutably.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), spare.as_mut_ptr().cast(), bytes.len())
        };
        self.wrote(bytes.len());
    }

    /// Reads once from `fd` into the room left, at most `most` bytes (the
    /// room must not be empty), and what follows them, up to `after` more,
    /// into the spare capacity of `into` (which must have that much).
    /// Returns the number of bytes read into each; 0 and 0 means end of
    /// file. Descriptors passed with them are appended to `passed`.
    pub(crate) fn read_from(
        &mut self,
        fd: BorrowedFd<'_>,
        most: usize,
        into: &mut Vec<u8>,
        after: usize,
        passed: &mut Vec<OwnedFd>,
    ) -> io::Result<(usize, usize)> {
        let spare = self.spare();
        let length = spare.len().min(most);
        let tail = &mut into.spare_capacity_mut()[..after];
        let read = receive_into(fd, &mut spare[..length], tail, passed)?;
        let (mine, theirs) = (read.min(length), read.saturating_sub(length));
        self.wrote(mine);
        // SAFETY: the kernel initialised the first `theirs` bytes of
        // `into`'s spare capacity, which directly follow its length.
        unsafe { into.set_len(into.len() + theirs) };
        Ok((mine, theirs))
    }

    /// The vector of the whole elements written.
    pub(crate) fn into_vec(self) -> Vec<E> {
        self.vector
    }
}

/// `vector` as a `B`, if `B` is `Vec<E>` itself; otherwise `vector` back.
pub(crate) fn vec_as<E: bytemuck::Pod, B>(vector: Vec<E>) -> Result<B, Vec<E>> {
    if typeid::of::<B>() != std::any::TypeId::of::<Vec<E>>() {
        return Err(vector);
    }
    let vector = std::mem::ManuallyDrop::new(vector);
    // SAFETY: `B` is `Vec<E>`: their identities are equal with lifetimes
    // erased, and neither `Vec` nor `E` (`Pod`, so `'static`) has a
    // lifetime to erase. The read moves the vector out of the
    // `ManuallyDrop`, which never drops it: it is owned once, by the `B`.
    Ok(unsafe { std::ptr::read(std::ptr::from_ref(&*vector).cast::<B>()) })
}

/// The size of a memory page.
pub(crate) fn page_size() -> usize {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |size| size as usize)
}

/// How many times this process (or its creators before it) has forked
/// since the first call of this or [`process_id`], or `None` if forks
/// cannot be counted: the count changes in both processes at each
/// `fork`, whoever calls it (through the C library).
pub(crate) fn forks() -> Option<u64> {
    watching_forks().then(|| FORKS.load(Ordering::Relaxed))
}

/// This process's id: a system call the first time only, and again
/// after a `fork` (through the C library), in the new process.
pub(crate) fn process_id() -> u32 {
    if !watching_forks() {
        return std::process::id();
    }
    let known = PROCESS_ID.load(Ordering::Relaxed);
    if known != 0 {
        return known;
    }
    let id = std::process::id();
    PROCESS_ID.store(id, Ordering::Relaxed);
    id
}

static FORKS: AtomicU64 = AtomicU64::new(0);
static PROCESS_ID: AtomicU32 = AtomicU32::new(0);

/// Whether every `fork` through the C library is seen (the handlers
/// below are installed once, at the first call).
fn watching_forks() -> bool {
    static WATCHING: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    extern "C" fn before_fork() {
        FORKS.fetch_add(1, Ordering::Relaxed);
    }
    extern "C" fn in_the_child() {
        PROCESS_ID.store(0, Ordering::Relaxed);
    }
    // SAFETY: the handlers are plain functions that touch only atomics
    // (async-signal-safe, as a child's handler must be); they stay valid
    // for the life of the process.
    *WATCHING.get_or_init(|| unsafe {
        libc::pthread_atfork(Some(before_fork), None, Some(in_the_child)) == 0
    })
}
