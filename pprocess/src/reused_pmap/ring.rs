//! [`Ring`]: where a serving process of a `pmap` with reuse leaves its
//! answers, in memory it shares with its creator.
//!
//! An answer written to a socket wakes the creator, and on a machine whose
//! CPUs are all busy that wake-up takes a CPU from a process for every
//! answer. An answer left in shared memory wakes nobody; the process
//! announces what it has left now and then, with one small message on its
//! channel, and the creator takes every answer there at once. Left in
//! shared memory, an answer outlives its process: the creator still finds
//! it after a crash.
//!
//! One process writes and one reads: the writer moves `head`, the reader
//! moves `tail`, both only forwards; the bytes between them are answers
//! not yet taken, each a 4-byte little-endian length and the encoded
//! answer, wrapping round the end of the buffer.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::sys::SharedMemory;

/// The bytes of a frame's length.
const LENGTH: usize = 4;

/// One writer's answers, in shared memory.
pub(crate) struct Ring<'a> {
    /// Bytes written so far, ever (the writer's).
    head: &'a AtomicUsize,
    /// Bytes taken so far, ever (the reader's).
    tail: &'a AtomicUsize,
    /// The buffer: `capacity` bytes of `memory` from byte `start`.
    memory: &'a SharedMemory,
    start: usize,
    capacity: usize,
}

impl<'a> Ring<'a> {
    /// The ring whose positions are `head` and `tail` and whose buffer is
    /// `capacity` bytes of the bytes of `memory`, from byte `start`.
    pub(crate) fn new(
        head: &'a AtomicUsize,
        tail: &'a AtomicUsize,
        memory: &'a SharedMemory,
        start: usize,
        capacity: usize,
    ) -> Self {
        Ring {
            head,
            tail,
            memory,
            start,
            capacity,
        }
    }

    /// Bytes written and not yet taken.
    pub(crate) fn used(&self) -> usize {
        self.head
            .load(Ordering::Acquire)
            .saturating_sub(self.tail.load(Ordering::Acquire))
    }

    /// The most bytes the ring holds.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// In the writer: adds `answer` as one frame, if it fits (with its
    /// length) in the room left; returns whether it did.
    pub(crate) fn push(&self, answer: &[u8]) -> bool {
        let Ok(length) = u32::try_from(answer.len()) else {
            return false;
        };
        if self.used() + LENGTH + answer.len() > self.capacity() {
            return false;
        }
        let head = self.head.load(Ordering::Relaxed);
        self.copy_in(head, &length.to_le_bytes());
        self.copy_in(head + LENGTH, answer);
        // The bytes are in place before the reader can see them.
        self.head
            .store(head + LENGTH + answer.len(), Ordering::Release);
        true
    }

    /// In the reader: takes every frame written so far, copying their
    /// bytes into `buffer` (emptied first; its room is reused from call to
    /// call, so a warm reader allocates nothing), and returns the frames,
    /// oldest first. `None` if the bytes are not frames (a length beyond
    /// what was written): the ring was written by something else than
    /// [`push`].
    ///
    /// [`push`]: Ring::push
    pub(crate) fn take_all<'b>(&self, buffer: &'b mut Vec<u8>) -> Option<Frames<'b>> {
        let head = self.head.load(Ordering::Acquire);
        let tail = self.tail.load(Ordering::Relaxed);
        let written = head.saturating_sub(tail);
        if written > self.capacity() {
            return None;
        }
        buffer.clear();
        buffer.resize(written, 0);
        self.copy_out(tail, buffer);
        let mut rest = &buffer[..];
        while !rest.is_empty() {
            (_, rest) = split_frame(rest)?;
        }
        // The bytes are read before the writer may reuse them.
        self.tail.store(head, Ordering::Release);
        Some(Frames { rest: buffer })
    }

    /// In the reader: drops every frame written so far, unread.
    pub(crate) fn discard(&self) {
        self.tail
            .store(self.head.load(Ordering::Acquire), Ordering::Release);
    }

    /// Copies `bytes` into the buffer from position `at`, wrapping round.
    fn copy_in(&self, at: usize, bytes: &[u8]) {
        let at = at % self.capacity;
        let (before_end, after) = bytes.split_at(bytes.len().min(self.capacity - at));
        self.memory.copy_in(self.start + at, before_end);
        self.memory.copy_in(self.start, after);
    }

    /// Fills `bytes` from the buffer from position `at`, wrapping round.
    fn copy_out(&self, at: usize, bytes: &mut [u8]) {
        let at = at % self.capacity;
        let split = bytes.len().min(self.capacity - at);
        let (before_end, after) = bytes.split_at_mut(split);
        self.memory.copy_out(self.start + at, before_end);
        self.memory.copy_out(self.start, after);
    }
}

/// The first frame of `bytes` and the bytes after it; `None` if its
/// length runs past the end.
fn split_frame(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (length, rest) = bytes.split_first_chunk::<LENGTH>()?;
    let length = u32::from_le_bytes(*length) as usize;
    (length <= rest.len()).then(|| rest.split_at(length))
}

/// The frames [`Ring::take_all`] took (and found whole), oldest first.
pub(crate) struct Frames<'b> {
    rest: &'b [u8],
}

impl<'b> Iterator for Frames<'b> {
    type Item = &'b [u8];

    fn next(&mut self) -> Option<&'b [u8]> {
        let (frame, rest) = split_frame(self.rest)?;
        self.rest = rest;
        Some(frame)
    }
}

#[cfg(test)]
impl Ring<'_> {
    /// [`take_all`](Ring::take_all), each frame copied out.
    pub(crate) fn take_owned(&self) -> Option<Vec<Vec<u8>>> {
        let mut buffer = Vec::new();
        let frames = self.take_all(&mut buffer)?;
        Some(frames.map(<[u8]>::to_vec).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Positions, and memory with room for a ring of `capacity` bytes
    /// after 3 bytes of something else.
    fn parts(capacity: usize) -> (AtomicUsize, AtomicUsize, SharedMemory) {
        let memory = SharedMemory::new(1, 3 + capacity + 5).unwrap();
        (AtomicUsize::new(0), AtomicUsize::new(0), memory)
    }

    #[test]
    fn answers_come_out_whole_and_in_order_across_the_end_of_the_buffer() {
        const CAPACITY: usize = 32;
        let (head, tail, memory) = parts(CAPACITY);
        let ring = Ring::new(&head, &tail, &memory, 3, CAPACITY);
        let mut expected = Vec::new();
        for round in 0u8..20 {
            let answer: Vec<u8> = (0..round % 7 + 1).map(|i| round * 10 + i).collect();
            assert!(ring.push(&answer));
            expected.push(answer);
            if round % 3 == 2 {
                assert_eq!(ring.take_owned().unwrap(), expected);
                expected.clear();
                assert_eq!(ring.used(), 0);
            }
        }
        assert_eq!(ring.take_owned().unwrap(), expected);
        assert!(
            head.load(Ordering::Relaxed) > 3 * 32,
            "the test wrapped round"
        );
    }

    #[test]
    fn an_answer_that_does_not_fit_is_refused_and_leaves_the_ring_as_it_was() {
        const CAPACITY: usize = 16;
        let (head, tail, memory) = parts(CAPACITY);
        let ring = Ring::new(&head, &tail, &memory, 3, CAPACITY);
        assert!(ring.push(&[1; 8]));
        assert!(!ring.push(&[2; 1]), "4 + 8 + 4 + 1 > 16");
        assert!(ring.push(&[]), "4 + 8 + 4 = 16");
        assert_eq!(ring.take_owned().unwrap(), [vec![1; 8], vec![]]);
        assert!(!ring.push(&[4; 13]));
        assert!(ring.push(&[4; 12]));
        assert_eq!(ring.take_owned().unwrap(), [vec![4; 12]]);
        assert!(ring.push(&[5; 3]));
        ring.discard();
        assert_eq!(ring.used(), 0);
        assert_eq!(ring.take_owned().unwrap(), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn bytes_that_are_not_frames_are_refused() {
        const CAPACITY: usize = 16;
        let (head, tail, memory) = parts(CAPACITY);
        let ring = Ring::new(&head, &tail, &memory, 3, CAPACITY);
        memory.copy_in(3, &[200]);
        head.store(6, Ordering::Relaxed);
        assert_eq!(ring.take_owned(), None);
        head.store(3, Ordering::Relaxed);
        assert_eq!(ring.take_owned(), None);
        head.store(usize::MAX, Ordering::Relaxed);
        assert_eq!(ring.take_owned(), None, "more than the buffer holds");
    }
}
