//! [`Board`]: the shared memory in which the reused processes of a
//! `Map::pmap` take their inputs, so that no input waits for a message
//! from the creator.
//!
//! The inputs themselves are never sent: every process is a copy of the
//! creator made after the inputs were collected, so it already has them.
//! All a process needs is the number of the next input nobody has taken,
//! and that lives in a page mapped shared (`MAP_SHARED`) before the first
//! fork, which every copy of the creator sees. Taking an input is one
//! atomic increment.
//!
//! Each process also writes on the board which input it holds, so that
//! when it dies (a panic, a signal, a timeout) the creator knows which
//! input the failure belongs to, and has a [`Ring`] there for its answers.

use std::sync::atomic::{AtomicUsize, Ordering, fence};

use crate::error::{Error, Result};
use crate::reused_pmap::ring::Ring;
use crate::sys::SharedMemory;

/// The bytes of each process's ring: room for a few milliseconds of
/// answers of most tasks. An answer that does not fit goes on the channel.
pub(crate) const RING_BYTES: usize = 256 * 1024;

/// What a process's place on the board holds when it holds no input.
const NOTHING: usize = usize::MAX;

/// The shared memory: the number of the next input to take; whether the
/// creator sleeps until a process announces answers; for each process's
/// place, which input it holds; then each place's ring (its two positions
/// among the words, its bytes after them).
pub(crate) struct Board {
    memory: SharedMemory,
    inputs: usize,
    places: usize,
}

impl Board {
    /// A board for `inputs` inputs shared by `places` processes at a time.
    pub(crate) fn new(inputs: usize, places: usize) -> Result<Board> {
        let memory = SharedMemory::new(2 + 3 * places, places * RING_BYTES)
            .map_err(|error| Error::io("mmap", error))?;
        let board = Board {
            memory,
            inputs,
            places,
        };
        for place in 0..places {
            board.place(place).store(NOTHING, Ordering::Relaxed);
        }
        Ok(board)
    }

    fn place(&self, place: usize) -> &AtomicUsize {
        &self.memory.words()[2 + place]
    }

    /// Whether the creator sleeps until a process announces answers.
    fn creator_asleep(&self) -> &AtomicUsize {
        &self.memory.words()[1]
    }

    fn next(&self) -> &AtomicUsize {
        &self.memory.words()[0]
    }

    /// The ring for the answers of the process at `place`.
    pub(crate) fn ring(&self, place: usize) -> Ring<'_> {
        let positions = 2 + self.places + 2 * place;
        let words = self.memory.words();
        Ring::new(
            &words[positions],
            &words[positions + 1],
            &self.memory,
            place * RING_BYTES,
            RING_BYTES,
        )
    }

    /// Takes the next input for the process at `place` and writes it there;
    /// `None` when every input has been taken.
    pub(crate) fn take(&self, place: usize) -> Option<usize> {
        let input = self.next().fetch_add(1, Ordering::Relaxed);
        let input = (input < self.inputs).then_some(input);
        self.place(place)
            .store(input.unwrap_or(NOTHING), Ordering::Relaxed);
        input
    }

    /// The input the process at `place` took last (it may have answered
    /// it already), if any; the place is cleared for another process.
    pub(crate) fn vacate(&self, place: usize) -> Option<usize> {
        let input = self.place(place).swap(NOTHING, Ordering::Relaxed);
        (input != NOTHING).then_some(input)
    }

    /// In the creator, before it sleeps until a process announces answers
    /// (or ends): asks the processes to announce their next answer.
    /// Returns `false`, and asks nothing, if answers are already waiting in
    /// the ring of one of `places`: the creator must take them rather than
    /// sleep.
    pub(crate) fn sleep_until_announced(&self, mut places: impl Iterator<Item = usize>) -> bool {
        self.creator_asleep().store(1, Ordering::Relaxed);
        // Either the process that pushes an answer next sees the request,
        // or this sees its answer: never neither.
        fence(Ordering::SeqCst);
        if places.any(|place| self.ring(place).used() > 0) {
            self.woke();
            return false;
        }
        true
    }

    /// In the creator, awake: the processes need not announce answers.
    pub(crate) fn woke(&self) {
        self.creator_asleep().store(0, Ordering::Relaxed);
    }

    /// In a process, after it pushed an answer into its ring: whether it
    /// must announce it, because the creator sleeps until it does (only
    /// one process is told so).
    pub(crate) fn must_announce(&self) -> bool {
        fence(Ordering::SeqCst);
        self.creator_asleep().load(Ordering::Relaxed) == 1
            && self.creator_asleep().swap(0, Ordering::Relaxed) == 1
    }

    /// Whether `input` is the number of one of the board's inputs.
    pub(crate) fn has_input(&self, input: usize) -> bool {
        input < self.inputs
    }

    /// Whether every input has been taken.
    pub(crate) fn all_taken(&self) -> bool {
        self.next().load(Ordering::Relaxed) >= self.inputs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_taken_once_each_and_the_places_say_which() {
        let board = Board::new(3, 2).unwrap();
        assert_eq!(board.take(0), Some(0));
        assert_eq!(board.take(1), Some(1));
        assert!(!board.all_taken());
        assert_eq!(board.take(0), Some(2));
        assert!(board.all_taken());
        assert_eq!(board.vacate(1), Some(1));
        assert_eq!(board.vacate(1), None);
        assert_eq!(board.take(0), None);
        assert_eq!(board.vacate(0), None);
    }

    #[test]
    fn the_rings_of_two_places_are_apart_and_shared_with_a_forked_copy() {
        let board = Board::new(4, 2).unwrap();
        let mut child = crate::start(|_channel| {
            assert!(board.ring(0).push(b"zero"));
            assert!(board.ring(1).push(b"one"));
        })
        .unwrap();
        assert!(child.wait().unwrap().success());
        assert_eq!(board.ring(1).take_owned().unwrap(), [b"one".to_vec()]);
        assert_eq!(board.ring(0).take_owned().unwrap(), [b"zero".to_vec()]);
    }

    #[test]
    fn a_sleeping_creator_is_announced_one_answer_and_never_sleeps_on_answers() {
        let board = Board::new(4, 2).unwrap();
        assert!(!board.must_announce(), "the creator is awake");
        assert!(board.sleep_until_announced(0..2));
        assert!(board.ring(1).push(b"answer"));
        assert!(board.must_announce());
        assert!(!board.must_announce(), "announced once");
        assert!(!board.sleep_until_announced(0..2), "an answer is waiting");
        assert!(!board.must_announce());
        board.ring(1).take_owned().unwrap();
        assert!(board.sleep_until_announced(0..2));
        board.woke();
        assert!(!board.must_announce());
    }

    #[test]
    fn a_forked_copy_takes_from_the_same_counter() {
        let board = Board::new(10, 1).unwrap();
        assert_eq!(board.take(0), Some(0));
        let mut child = crate::start(|_channel| {
            board.take(0);
            board.take(0);
        })
        .unwrap();
        assert!(child.wait().unwrap().success());
        assert_eq!(board.take(0), Some(3));
    }
}
