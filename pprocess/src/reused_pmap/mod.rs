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
//! The collections layer drives it (`collections::fork`): it forks the
//! serving processes on its exchange and replaces those that fail while
//! inputs are left.

pub(crate) mod board;
pub(crate) mod ring;
pub(crate) mod runs;
pub(crate) mod serve;
