//! The messages between rank 0 and the worker ranks: their tags, the
//! fixed headers in front of a task's arguments and of its result, and how
//! a task's failure crosses ranks.
//!
//! A task message is a batch: a [`BatchHeader`] (the collection, the
//! function, the timeout), then each task's index, the length of its
//! arguments and the codec's encoding of them. A result message holds
//! one or more answers, each its length, then a [`ResultHeader`] and the
//! codec's encoding of `Result<T, Failure>`. The fields are fixed-size
//! and little-endian; a worker rank passes a batch on to the process
//! that runs it as it came.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// A worker's fingerprint of its build (`u64`), sent once at start-up.
pub(crate) const HELLO: i32 = 1;
/// Rank 0's answer to the fingerprint: one byte, 1 to serve, 0 to quit.
pub(crate) const VERDICT: i32 = 2;
/// A batch of tasks, from rank 0 to a worker.
pub(crate) const TASK: i32 = 3;
/// Answers to tasks, from a worker to rank 0.
pub(crate) const RESULT: i32 = 4;
/// From rank 0: end, once every task sent is answered.
pub(crate) const QUIT: i32 = 5;
/// From a worker: the last message it sends.
pub(crate) const BYE: i32 = 6;

/// What precedes the tasks of a batch: all the tasks of one message
/// belong to one collection and run one function with one timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BatchHeader {
    /// The collection the tasks belong to, numbered by rank 0.
    pub(crate) job: u32,
    /// The function, as its place in the sorted registry.
    pub(crate) entry: u32,
    /// The tasks' timeout in microseconds; 0 for none.
    pub(crate) timeout: u64,
}

/// The bytes in front of each task of a batch: its index (8) and the
/// length of its encoded arguments (4).
const TASK_PREFIX: usize = 12;

/// The bytes in front of each answer of a result message: its length.
const ANSWER_PREFIX: usize = 4;

impl BatchHeader {
    /// The header's size in bytes.
    pub(crate) const SIZE: usize = 16;

    /// A batch message with this header and no task yet.
    pub(crate) fn batch(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(&self.job.to_le_bytes());
        out.extend_from_slice(&self.entry.to_le_bytes());
        out.extend_from_slice(&self.timeout.to_le_bytes());
        out
    }

    /// Reads the header at the start of `message`, if it is long enough.
    pub(crate) fn read(message: &[u8]) -> Option<Self> {
        let field = |range: std::ops::Range<usize>| message.get(range);
        Some(BatchHeader {
            job: u32::from_le_bytes(field(0..4)?.try_into().ok()?),
            entry: u32::from_le_bytes(field(4..8)?.try_into().ok()?),
            timeout: u64::from_le_bytes(field(8..16)?.try_into().ok()?),
        })
    }

    /// The tasks' timeout.
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

/// Appends task `task` to `batch`: its prefix, then `encode` writes its
/// arguments; the length is filled in after. On an error the batch is
/// left as it was.
pub(crate) fn push_task(
    batch: &mut Vec<u8>,
    task: u64,
    encode: impl FnOnce(&mut Vec<u8>) -> crate::error::Result<()>,
) -> crate::error::Result<()> {
    let start = batch.len();
    batch.extend_from_slice(&task.to_le_bytes());
    batch.extend_from_slice(&[0; 4]);
    if let Err(error) = encode(batch) {
        batch.truncate(start);
        return Err(error);
    }
    let length = batch.len() - start - TASK_PREFIX;
    let Ok(length) = u32::try_from(length) else {
        batch.truncate(start);
        return Err(Error::Encode("a task's arguments past 4 GiB".into()));
    };
    batch[start + 8..start + TASK_PREFIX].copy_from_slice(&length.to_le_bytes());
    Ok(())
}

/// The tasks of a batch message, after its header: each task's index and
/// where its encoded arguments are in `batch`. `None` if the bytes are
/// not tasks (a length past the end).
pub(crate) fn tasks(batch: &[u8]) -> Option<Vec<(u64, std::ops::Range<usize>)>> {
    let mut tasks = Vec::new();
    let mut at = BatchHeader::SIZE;
    while at < batch.len() {
        let prefix = batch.get(at..at + TASK_PREFIX)?;
        let task = u64::from_le_bytes(prefix[..8].try_into().ok()?);
        let length = u32::from_le_bytes(prefix[8..].try_into().ok()?) as usize;
        let args = at + TASK_PREFIX..(at + TASK_PREFIX).checked_add(length)?;
        if args.end > batch.len() {
            return None;
        }
        at = args.end;
        tasks.push((task, args));
    }
    Some(tasks)
}

/// A result message with no answer yet, for answers that took their
/// worker `busy` (the time its process held tasks).
pub(crate) fn result_message(busy: Duration) -> Vec<u8> {
    let nanos = u64::try_from(busy.as_nanos()).unwrap_or(u64::MAX);
    nanos.to_le_bytes().to_vec()
}

/// Appends `answer` (a [`ResultHeader`] and an encoded result) to a
/// result message.
pub(crate) fn push_answer(message: &mut Vec<u8>, answer: &[u8]) {
    let length = u32::try_from(answer.len()).unwrap_or(u32::MAX);
    message.extend_from_slice(&length.to_le_bytes());
    message.extend_from_slice(answer);
}

/// How long the answers of a result message took their worker, and the
/// answers, in order; stops at bytes that are not an answer.
pub(crate) fn answers(message: &[u8]) -> (Duration, impl Iterator<Item = &[u8]>) {
    let (busy, mut rest) = match message.split_first_chunk::<8>() {
        Some((nanos, rest)) => (Duration::from_nanos(u64::from_le_bytes(*nanos)), rest),
        None => (Duration::ZERO, &[][..]),
    };
    let answers = std::iter::from_fn(move || {
        let length = u32::from_le_bytes(rest.get(..ANSWER_PREFIX)?.try_into().ok()?) as usize;
        let answer = rest.get(ANSWER_PREFIX..ANSWER_PREFIX.checked_add(length)?)?;
        rest = &rest[ANSWER_PREFIX + length..];
        Some(answer)
    });
    (busy, answers)
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
        let header = BatchHeader {
            job: 7,
            entry: 3,
            timeout: 1_500_000,
        };
        let batch = header.batch();
        assert_eq!(batch.len(), BatchHeader::SIZE);
        assert_eq!(BatchHeader::read(&batch), Some(header));
        assert_eq!(header.timeout(), Some(Duration::from_millis(1500)));
        assert_eq!(BatchHeader::read(&batch[..15]), None);
        let result = ResultHeader { job: 1, task: 42 };
        let mut bytes = [0u8; ResultHeader::SIZE];
        result.write(&mut bytes);
        assert_eq!(ResultHeader::read(&bytes), Some(result));
        assert_eq!(ResultHeader::read(&bytes[..11]), None);
    }

    #[test]
    fn a_batch_gives_back_its_tasks_and_a_failed_encoding_leaves_no_trace() {
        let mut batch = BatchHeader {
            job: 1,
            entry: 0,
            timeout: 0,
        }
        .batch();
        push_task(&mut batch, 5, |out| {
            out.extend_from_slice(b"five");
            Ok(())
        })
        .unwrap();
        let failed = push_task(&mut batch, 6, |out| {
            out.push(1);
            Err(Error::Encode("no".into()))
        });
        assert!(failed.is_err());
        push_task(&mut batch, u64::MAX, |_| Ok(())).unwrap();
        let tasks = tasks(&batch).unwrap();
        assert_eq!(tasks.len(), 2);
        assert_eq!((tasks[0].0, &batch[tasks[0].1.clone()]), (5, &b"five"[..]));
        assert_eq!((tasks[1].0, tasks[1].1.len()), (u64::MAX, 0));
        // A length past the end is not a task.
        let mut cut = batch.clone();
        cut.truncate(batch.len() - 13);
        assert_eq!(super::tasks(&cut), None);
    }

    #[test]
    fn a_result_message_gives_back_its_answers_in_order() {
        let mut message = result_message(Duration::from_micros(7));
        push_answer(&mut message, b"first");
        push_answer(&mut message, b"");
        push_answer(&mut message, b"third");
        let (busy, all) = answers(&message);
        assert_eq!(busy, Duration::from_micros(7));
        assert_eq!(all.collect::<Vec<_>>(), [&b"first"[..], b"", b"third"]);
        message.pop();
        assert_eq!(answers(&message).1.count(), 2, "a cut answer is dropped");
        assert_eq!(answers(&[1, 2]).1.count(), 0);
    }

    #[test]
    fn a_failure_becomes_the_same_error_on_rank_0() {
        let error = Failure::from(Error::Died { pid: 5, signal: 9 }).into_error(2);
        assert!(matches!(error, Error::Died { pid: 5, signal: 9 }));
        let error = Failure::from(Error::Decode("bad".into())).into_error(2);
        assert!(matches!(error, Error::Remote { rank: 2, ref message } if message.contains("bad")));
        assert_eq!(BatchHeader::timeout_field(None), 0);
        assert_eq!(BatchHeader::timeout_field(Some(Duration::from_nanos(1))), 1);
    }
}
