//! The crate's one error type.
//!
//! Every failure is a value: a created process that panics, dies from a
//! signal, or ends without sending reaches its creator as an [`Error`] at the
//! result it belongs to, with the process id and the cause.

use std::io;

use crate::sys;

/// A specialised [`Result`](std::result::Result) for pprocess operations.
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
    /// own end.
    #[error("this channel has no process to wait for")]
    NoProcess,
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
        match self {
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
        match self {
            Error::Panicked { pid, .. }
            | Error::Died { pid, .. }
            | Error::NoResult { pid, .. }
            | Error::Timeout { pid, .. } => Some(*pid),
            _ => None,
        }
    }
}
