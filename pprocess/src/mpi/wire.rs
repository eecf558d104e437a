//! The messages between rank 0 and the worker ranks: their tags, the
//! fixed headers in front of a task's arguments and of its result, and how
//! a task's failure crosses ranks.
//!
//! A task message is a [`TaskHeader`] followed by the codec's encoding of
//! the arguments; a result message is a [`ResultHeader`] followed by the
//! codec's encoding of `Result<T, Failure>`. The headers are fixed-size
//! little-endian fields, so that the bytes behind them are sent and
//! received as they are, without a copy to add or strip a header.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// A worker's fingerprint of its build (`u64`), sent once at start-up.
pub(crate) const HELLO: i32 = 1;
/// Rank 0's answer to the fingerprint: one byte, 1 to serve, 0 to quit.
pub(crate) const VERDICT: i32 = 2;
/// A task, from rank 0 to a worker.
pub(crate) const TASK: i32 = 3;
/// A task's result, from a worker to rank 0.
pub(crate) const RESULT: i32 = 4;
/// From rank 0: end, once every task sent is answered.
pub(crate) const QUIT: i32 = 5;
/// From a worker: the last message it sends.
pub(crate) const BYE: i32 = 6;

/// What precedes a task's encoded arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TaskHeader {
    /// The collection the task belongs to, numbered by rank 0.
    pub(crate) job: u32,
    /// The task's index in its collection.
    pub(crate) task: u64,
    /// The function, as its place in the sorted registry.
    pub(crate) entry: u32,
    /// The task's timeout in microseconds; 0 for none.
    pub(crate) timeout: u64,
}

impl TaskHeader {
    /// The header's size in bytes.
    pub(crate) const SIZE: usize = 24;

    /// Writes the header into the first [`SIZE`](Self::SIZE) bytes of `out`.
    pub(crate) fn write(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&self.job.to_le_bytes());
        out[4..12].copy_from_slice(&self.task.to_le_bytes());
        out[12..16].copy_from_slice(&self.entry.to_le_bytes());
        out[16..24].copy_from_slice(&self.timeout.to_le_bytes());
    }

    /// Reads the header at the start of `message`, if it is long enough.
    pub(crate) fn read(message: &[u8]) -> Option<Self> {
        let field = |range: std::ops::Range<usize>| message.get(range);
        Some(TaskHeader {
            job: u32::from_le_bytes(field(0..4)?.try_into().ok()?),
            task: u64::from_le_bytes(field(4..12)?.try_into().ok()?),
            entry: u32::from_le_bytes(field(12..16)?.try_into().ok()?),
            timeout: u64::from_le_bytes(field(16..24)?.try_into().ok()?),
        })
    }

    /// The task's timeout.
    pub(crate) fn timeout(&self) -> Option<Duration> {
        (self.timeout > 0).then(|| Duration::from_micros(self.timeout))
    }

    /// The header's timeout field for `timeout` (at least 1 us when set).
    pub(crate) fn timeout_field(timeout: Option<Duration>) -> u64 {
        timeout.map_or(0, |timeout| {
            u64::try_from(timeout.as_micros())
                .unwrap_or(u64::MAX)
                .max(1)
        })
    }
}

/// What precedes a task's encoded result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ResultHeader {
    /// The collection the task belongs to.
    pub(crate) job: u32,
    /// The task's index in its collection.
    pub(crate) task: u64,
}

impl ResultHeader {
    /// The header's size in bytes.
    pub(crate) const SIZE: usize = 12;

    /// Writes the header into the first [`SIZE`](Self::SIZE) bytes of `out`.
    pub(crate) fn write(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&self.job.to_le_bytes());
        out[4..12].copy_from_slice(&self.task.to_le_bytes());
    }

    /// Reads the header at the start of `message`, if it is long enough.
    pub(crate) fn read(message: &[u8]) -> Option<Self> {
        Some(ResultHeader {
            job: u32::from_le_bytes(message.get(0..4)?.try_into().ok()?),
            task: u64::from_le_bytes(message.get(4..12)?.try_into().ok()?),
        })
    }
}

/// A task's failure on a worker rank, as it travels to rank 0: the
/// [`Error`] variants a task's process can end with, and the rest as text.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Failure {
    /// [`Error::Panicked`].
    Panicked { pid: i32, message: String },
    /// [`Error::Died`].
    Died { pid: i32, signal: i32 },
    /// [`Error::NoResult`].
    NoResult { pid: i32, code: i32 },
    /// [`Error::Timeout`].
    Timeout { pid: i32, after: Duration },
    /// Anything else, as [`Error::Remote`].
    Other(String),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        match error {
            Error::Panicked { pid, message } => Failure::Panicked { pid, message },
            Error::Died { pid, signal } => Failure::Died { pid, signal },
            Error::NoResult { pid, code } => Failure::NoResult { pid, code },
            Error::Timeout { pid, after } => Failure::Timeout { pid, after },
            other => Failure::Other(other.to_string()),
        }
    }
}

impl Failure {
    /// The error rank 0 gives for this failure on `rank`.
    pub(crate) fn into_error(self, rank: usize) -> Error {
        match self {
            Failure::Panicked { pid, message } => Error::Panicked { pid, message },
            Failure::Died { pid, signal } => Error::Died { pid, signal },
            Failure::NoResult { pid, code } => Error::NoResult { pid, code },
            Failure::Timeout { pid, after } => Error::Timeout { pid, after },
            Failure::Other(message) => Error::Remote { rank, message },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_read_back_what_was_written_and_short_ones_are_none() {
        let task = TaskHeader {
            job: 7,
            task: u64::MAX - 1,
            entry: 3,
            timeout: 1_500_000,
        };
        let mut bytes = [0u8; TaskHeader::SIZE];
        task.write(&mut bytes);
        assert_eq!(TaskHeader::read(&bytes), Some(task));
        assert_eq!(task.timeout(), Some(Duration::from_millis(1500)));
        assert_eq!(TaskHeader::read(&bytes[..23]), None);
        let result = ResultHeader { job: 1, task: 42 };
        let mut bytes = [0u8; ResultHeader::SIZE];
        result.write(&mut bytes);
        assert_eq!(ResultHeader::read(&bytes), Some(result));
        assert_eq!(ResultHeader::read(&bytes[..11]), None);
    }

    #[test]
    fn a_failure_becomes_the_same_error_on_rank_0() {
        let error = Failure::from(Error::Died { pid: 5, signal: 9 }).into_error(2);
        assert!(matches!(error, Error::Died { pid: 5, signal: 9 }));
        let error = Failure::from(Error::Decode("bad".into())).into_error(2);
        assert!(matches!(error, Error::Remote { rank: 2, ref message } if message.contains("bad")));
        assert_eq!(TaskHeader::timeout_field(None), 0);
        assert_eq!(TaskHeader::timeout_field(Some(Duration::from_nanos(1))), 1);
    }
}
