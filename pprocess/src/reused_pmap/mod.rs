//! The engine of `pmap` with reuse.
//!
//! A batch of inputs is collected, a [`Board`](board::Board) is mapped in
//! memory shared with the processes forked for it, and each serving
//! process loops ([`serve`]): take the next input nobody has taken (an
//! atomic increment on the board), call the function, leave the answer in
//! its own [`Ring`](ring::Ring) on the board. Nothing travels from the
//! creator to a serving process: it is a copy of its creator and already
//! has the inputs. The creator ([`Runs`](runs::Runs)) takes the answers
//! from the rings in batches, and when a process ends or fails gives the
//! input it held its error.
//!
//! An answer is the input's number (8 bytes) then the encoded result, so
//! a result that does not decode fails only its input; one that does not
//! fit in the ring goes on the channel. While answers keep coming, the
//! creator takes the rings every 2 ms (one wake-up for many answers);
//! after a wait that brought nothing it asks the processes to announce
//! their next answer on their channels
//! ([`sleep_until_announced`](board::Board::sleep_until_announced)) and
//! sleeps in `poll`.
//!
//! A serving process that dies (or is killed at its deadline) leaves its
//! answers in its ring; the input it held gets its error; while inputs are
//! left a new process takes its place. At a deadline a process with
//! answers waiting was not late: its clock starts again. A run whose
//! inputs are all taken and whose processes have ended is forgotten and
//! its memory unmapped.
//!
//! The collections layer drives it (`collections::fork`): it forks the
//! serving processes on its exchange and replaces those that fail while
//! inputs are left.

pub(crate) mod board;
pub(crate) mod ring;
pub(crate) mod runs;
pub(crate) mod serve;
