//! [`Board`]: the shared page on which the reused processes of a
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
//! input the failure belongs to.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{Error, Result};
use crate::sys::SharedWords;

/// What a process's place on the board holds when it holds no input.
const NOTHING: usize = usize::MAX;

/// The shared page: the number of the next input to take, then one place
/// per process saying which input it holds.
pub(crate) struct Board {
    words: SharedWords,
    inputs: usize,
}

impl Board {
    /// A board for `inputs` inputs shared by `places` processes at a time.
    pub(crate) fn new(inputs: usize, places: usize) -> Result<Board> {
        let words = SharedWords::new(1 + places).map_err(|error| Error::io("mmap", error))?;
        let board = Board { words, inputs };
        for place in 0..places {
            board.place(place).store(NOTHING, Ordering::Relaxed);
        }
        Ok(board)
    }

    fn place(&self, place: usize) -> &AtomicUsize {
        &self.words.words()[1 + place]
    }

    fn next(&self) -> &AtomicUsize {
        &self.words.words()[0]
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
