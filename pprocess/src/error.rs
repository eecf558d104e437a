//! The crate's one error type.
//!
//! Every failure is a value: a created process that panics, dies from a
//! signal, or ends without sending reaches its creator as an [`Error`] at the
//! result it belongs to, with the process id and the cause.

use std::io;
use std::path::{Path, PathBuf};

use crate::sys;

/// A specialised [`Result`](std::result::Result) for pprocess operations.
///
/// ```
/// fn receive_pair(channel: &mut pprocess::Channel) -> pprocess::Result<(u8, u8)> {
///     Ok((channel.receive()?, channel.receive()?))
/// }
///
/// let mut channel = pprocess::start(|channel| {
///     channel.send(&1u8)?;
///     channel.send(&2u8)
/// })?;
/// assert_eq!(receive_pair(&mut channel)?, (1, 2));
/// # Ok::<(), pprocess::Error>(())
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, with enough context to act on.
///
/// ```
/// let channel = pprocess::start(|_channel| panic!("no luck"))?;
/// # let mut channel = channel;
/// match channel.receive::<u32>() {
///     Err(pprocess::Error::Panicked { message, .. }) => assert_eq!(message, "no luck"),
///     other => panic!("unexpected: {other:?}"),
/// }
/// # Ok::<(), pprocess::Error>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The created process panicked; `message` is the panic message.
    #[error("process {pid} panicked: {message}")]
    Panicked {
        /// The process id.
        pid: i32,
        /// The panic payload, when it was a string.
        message: String,
    },

    /// The created process was killed by a signal (`SIGKILL`, `SIGSEGV`,
    /// `SIGABRT` from `abort()`, ...).
    #[error("process {pid} was killed by {}", sys::signal_name(*.signal))]
    Died {
        /// The process id.
        pid: i32,
        /// The signal number; [`Error::signal_name`] gives its name.
        signal: i32,
    },

    /// The created process ended with `code` without sending the message
    /// its creator was waiting for.
    #[error("process {pid} exited with code {code} without sending a result")]
    NoResult {
        /// The process id.
        pid: i32,
        /// The exit code.
        code: i32,
    },

    /// The other end of the channel is closed (seen from a created process:
    /// its creator has gone or closed the channel).
    #[error("the other end of the channel is closed")]
    Disconnected,

    /// The stream ended in the middle of a frame.
    #[error("the stream ended after {received} of {expected} bytes of a frame")]
    TruncatedFrame {
        /// The bytes the frame header announced (header included).
        expected: u64,
        /// The bytes that arrived.
        received: u64,
    },

    /// A frame header announced more bytes than the frame limit allows.
    /// Nothing of that size was allocated.
    #[error("a frame of {length} bytes exceeds the frame limit of {limit} bytes")]
    FrameTooLarge {
        /// The announced payload length.
        length: u64,
        /// The limit in force.
        limit: u64,
    },

    /// The bytes received are not a well-formed frame, or the frame does not
    /// decode as the requested type.
    #[error("could not decode a message: {0}")]
    Decode(String),

    /// The created process tried to send a message (its result, usually)
    /// larger than its channel's frame limit, and ended with an error
    /// instead: nothing of it was sent. Send less, or send bulk data in
    /// several messages.
    #[error(
        "process {pid} could not send a message of {length} bytes: it exceeds the frame limit of {limit} bytes"
    )]
    ResultTooLarge {
        /// The process id.
        pid: i32,
        /// The size of the message it tried to send (its payload).
        length: u64,
        /// The frame limit in force in that process.
        limit: u64,
    },

    /// The value could not be encoded for sending.
    #[error("could not encode a message: {0}")]
    Encode(String),

    /// A system call failed; `operation` says which.
    #[error("{operation} failed: {source}")]
    Io {
        /// What was being done ("fork", "socketpair", "send", ...).
        operation: &'static str,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// The channel was closed with [`Channel::close`](crate::Channel::close)
    /// and can no longer carry messages.
    #[error("the channel is closed")]
    Closed,

    /// The channel belongs to another process: it was inherited through a
    /// `fork`, and its descriptor was closed in this process.
    #[error("this channel belongs to process {owner}, not to this process")]
    ForeignChannel {
        /// The process that owns the channel.
        owner: u32,
    },

    /// The task took longer than the timeout; its process was killed.
    #[error("process {pid} was killed after its task ran for more than {after:?}")]
    Timeout {
        /// The process id.
        pid: i32,
        /// The timeout in force.
        after: std::time::Duration,
    },

    /// The result of task `task` was not recorded although its process is
    /// gone (it sent something that was not a result).
    #[error("the result of task {task} was lost")]
    Lost {
        /// The task number.
        task: usize,
    },

    /// The channel has no process to wait for: it is the created process's
    /// own end, or a connection to a process that is not a child of this
    /// one (see [`connect`](crate::connect)).
    #[error("this channel has no process to wait for")]
    NoProcess,

    /// The exit status of created process `pid` was taken by someone else:
    /// `SIGCHLD` is ignored (`SIG_IGN`, so the kernel reaps created
    /// processes itself), or a handler of the program reaps every child
    /// (`waitpid(-1, ..)`). How the process ended cannot be known: if it
    /// owed a result, that result never came. pprocess needs `SIGCHLD` at
    /// its default disposition, and to reap its own processes.
    #[error(
        "the exit status of process {pid} was taken by someone else (SIGCHLD ignored, or a \
         handler that reaps every child): restore SIGCHLD's default and reap only your own \
         children"
    )]
    StatusTaken {
        /// The process id.
        pid: i32,
    },

    /// The directory in which the socket of address `path` would be made
    /// does not exist.
    #[error("cannot listen at {}: directory {} does not exist", path.display(), directory_of(path).display())]
    MissingDirectory {
        /// The address.
        path: PathBuf,
    },

    /// A live process is already listening at the address.
    #[error("address {} is in use: a process is listening there", path.display())]
    AddressInUse {
        /// The address.
        path: PathBuf,
    },

    /// A file that is not a socket is at the address. It was left alone.
    #[error("{} is not a socket (left untouched)", path.display())]
    NotASocket {
        /// The address.
        path: PathBuf,
    },

    /// Nothing is listening at the address: no file is there, or a socket
    /// file whose process is gone.
    #[error("nothing is listening at {}", path.display())]
    NoListener {
        /// The address.
        path: PathBuf,
    },

    /// The address is too long for a Unix socket path: at most `limit`
    /// bytes fit (107 on Linux, 103 on macOS). Nothing was made or
    /// started. Use a shorter path, or a relative one from a nearer
    /// working directory.
    #[error("address {} is {} bytes long; a socket path holds at most {limit}", path.display(), path.as_os_str().len())]
    AddressTooLong {
        /// The address.
        path: PathBuf,
        /// The longest path a socket address holds.
        limit: usize,
    },

    /// The process listening at the address belongs to another user (user
    /// id `uid`), so nothing it says can be trusted: the connection was
    /// closed without reading from it. Keep addresses in a directory only
    /// you can write to (see [`connect`](crate::connect)).
    #[error("the process listening at {} belongs to user {uid}, not to this user", path.display())]
    ForeignListener {
        /// The address.
        path: PathBuf,
        /// The user id of the listening process.
        uid: u32,
    },

    /// A system call on an address failed; `operation` says which.
    #[error("{operation} {} failed: {source}", path.display())]
    Address {
        /// What was being done ("bind", "connect", "link", ...).
        operation: &'static str,
        /// The address (or the file) it was done to.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// A connection made by [`connect_timeout`](crate::connect_timeout)
    /// waited longer than its timeout: `receive` got nothing from process
    /// `pid` for `after` (the connection stays usable: a later `receive`
    /// goes on where this one stopped), or, with `pid` -1, the listener did
    /// not take the connection within `after` (its backlog is full: it does
    /// not accept).
    #[error("no answer from process {pid} within {after:?}")]
    PeerTimeout {
        /// The process at the other end; -1 if the connection was not made.
        pid: i32,
        /// The timeout in force.
        after: std::time::Duration,
    },

    /// The process at the other end of a connection (see
    /// [`connect`](crate::connect)) closed it without sending the message
    /// its peer was waiting for.
    #[error("process {pid} closed the connection without sending a result")]
    ConnectionClosed {
        /// The process at the other end (`-1` if the system cannot tell).
        pid: i32,
    },

    /// An MPI rank runs a different build of the program than rank 0 (its
    /// attributed functions or its executable differ), so it cannot be
    /// trusted to run a function by its name. See `pprocess::mpi::init`
    /// (feature `mpi`).
    #[error("MPI rank {rank} runs a different build of this program than rank 0")]
    BuildMismatch {
        /// The first rank found different.
        rank: usize,
    },

    /// An MPI rank holding tasks sent nothing for longer than its tasks'
    /// timeout allows: it is stuck, and is given no more work. Its tasks
    /// fail with this error; the job is aborted when the cluster handle is
    /// dropped, since MPI cannot end it cleanly without that rank.
    #[error("MPI rank {rank} sent nothing for {after:?} while it held tasks")]
    RankSilent {
        /// The silent rank.
        rank: usize,
        /// How long it was silent.
        after: std::time::Duration,
    },

    /// A task failed on another MPI rank in a way that has no variant of
    /// its own here (its arguments did not decode there, for example).
    #[error("a task failed on MPI rank {rank}: {message}")]
    Remote {
        /// The rank the task ran on.
        rank: usize,
        /// What went wrong there.
        message: String,
    },

    /// Task `task` of a [`Queue`](crate::Queue) failed with `error`. A
    /// queue yields results in arrival order, so its errors say which task
    /// they belong to. [`failure`](Error::failure) gives `error`, to match
    /// on; [`pid`](Error::pid) and [`signal_name`](Error::signal_name) look
    /// through this wrapper.
    ///
    /// ```
    /// let mut queue = pprocess::Queue::<u8>::new();
    /// queue.start(|channel| channel.send(&1u8));
    /// let task = queue.start(|_channel| panic!("no luck"));
    /// let error = queue.find_map(Result::err).unwrap();
    /// assert_eq!(error.task(), Some(task));
    /// assert!(error.to_string().starts_with("task 1: process "));
    /// assert!(matches!(error.failure(), pprocess::Error::Panicked { .. }));
    /// ```
    #[error("task {task}: {error}")]
    Task {
        /// The task number, as `start` returned it.
        task: usize,
        /// How the task failed.
        error: Box<Error>,
    },
}

impl Error {
    /// Builds an [`Error::Io`] for `operation`.
    pub(crate) fn io(operation: &'static str, source: io::Error) -> Self {
        Error::Io { operation, source }
    }

    /// The name of the signal of an [`Error::Died`] ("SIGKILL"), if it is one.
    ///
    /// ```
    /// let error = pprocess::Error::Died { pid: 1, signal: 9 };
    /// assert_eq!(error.signal_name().as_deref(), Some("SIGKILL"));
    /// ```
    pub fn signal_name(&self) -> Option<String> {
        match self.failure() {
            Error::Died { signal, .. } => Some(sys::signal_name(*signal)),
            _ => None,
        }
    }

    /// The id of the created process this error is about, if any.
    ///
    /// ```
    /// let error = pprocess::Error::NoResult { pid: 42, code: 3 };
    /// assert_eq!(error.pid(), Some(42));
    /// ```
    pub fn pid(&self) -> Option<i32> {
        match self.failure() {
            Error::Panicked { pid, .. }
            | Error::Died { pid, .. }
            | Error::NoResult { pid, .. }
            | Error::ResultTooLarge { pid, .. }
            | Error::Timeout { pid, .. }
            | Error::StatusTaken { pid }
            | Error::ConnectionClosed { pid } => Some(*pid),
            Error::PeerTimeout { pid, .. } if *pid > 0 => Some(*pid),
            _ => None,
        }
    }

    /// The task this error belongs to, if it says: an [`Error::Task`]
    /// (the errors of a [`Queue`](crate::Queue)) or an [`Error::Lost`].
    ///
    /// ```
    /// let error = pprocess::Error::Lost { task: 3 };
    /// assert_eq!(error.task(), Some(3));
    /// ```
    pub fn task(&self) -> Option<usize> {
        match self {
            Error::Task { task, .. } | Error::Lost { task } => Some(*task),
            _ => None,
        }
    }

    /// The failure itself: for an [`Error::Task`], the error of the task;
    /// any other error is its own failure. Match on this to handle a kind
    /// of failure whether or not it names its task.
    ///
    /// ```
    /// use pprocess::Error;
    ///
    /// let died = Error::Died { pid: 7, signal: 9 };
    /// let in_task = died.in_task(2);
    /// assert_eq!(in_task.to_string(), "task 2: process 7 was killed by SIGKILL");
    /// assert!(matches!(in_task.failure(), Error::Died { pid: 7, .. }));
    /// ```
    pub fn failure(&self) -> &Error {
        match self {
            Error::Task { error, .. } => error,
            other => other,
        }
    }

    /// This error as the failure of task `task` ([`Error::Task`]), unless
    /// it already names a task.
    ///
    /// ```
    /// let error = pprocess::Error::Disconnected.in_task(4);
    /// assert_eq!(error.to_string(), "task 4: the other end of the channel is closed");
    /// assert_eq!(error.in_task(5).task(), Some(4)); // it names one already
    /// ```
    pub fn in_task(self, task: usize) -> Self {
        match self {
            Error::Task { .. } | Error::Lost { .. } => self,
            error => Error::Task {
                task,
                error: Box::new(error),
            },
        }
    }

    /// The address this error is about, if any.
    ///
    /// ```
    /// use std::path::Path;
    ///
    /// let error = pprocess::connect("/nonexistent/pprocess.socket").unwrap_err();
    /// assert_eq!(error.path(), Some(Path::new("/nonexistent/pprocess.socket")));
    /// ```
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::MissingDirectory { path }
            | Error::AddressInUse { path }
            | Error::NotASocket { path }
            | Error::NoListener { path }
            | Error::AddressTooLong { path, .. }
            | Error::ForeignListener { path, .. }
            | Error::Address { path, .. } => Some(path),
            _ => None,
        }
    }

    /// Builds an [`Error::Address`] for `operation` on `path`.
    pub(crate) fn address(operation: &'static str, path: &Path, source: io::Error) -> Self {
        Error::Address {
            operation,
            path: path.to_owned(),
            source,
        }
    }
}

/// The directory an address is in (`.` for a bare file name): where its
/// socket file would be made.
pub(crate) fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}
