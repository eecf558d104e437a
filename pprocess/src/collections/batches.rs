//! The inputs of a `pmap` with reuse, taken a batch at a time.
//!
//! A serving process has the inputs that existed when it was forked, so a
//! batch of inputs is collected before the processes that serve it are
//! forked. Inputs known to be few are one batch. Inputs of unknown number
//! (`size_hint` has no upper bound: a reader's lines, an endless
//! iterator) or of very many are taken in growing batches, each served by
//! processes of its own, so they need not fit in memory at once and an
//! endless iterator is served as it is iterated.

use std::iter::Fuse;
use std::rc::Rc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::collections::fork::Processes;

/// Inputs known to be at most this many are one batch.
const ALL_AT_ONCE: usize = 1 << 20;

/// The first batch of other inputs; each next batch is twice the last, up
/// to [`LAST_BATCH`]. Each batch forks its processes anew, and its last
/// inputs leave processes idle while they finish: batches grow so that
/// this costs little once there are many inputs, while the first results
/// come without waiting for a large batch.
const FIRST_BATCH: usize = 1 << 10;

/// The largest batch of inputs (and so the most held at once).
const LAST_BATCH: usize = 1 << 16;

/// Inputs of a `pmap` with reuse not yet given to processes, of whatever
/// type, with the function to call on them.
pub(crate) trait Batches<'env, T> {
    /// Collects the next batch and starts the processes that serve it on
    /// `map`; `false` if no input was left.
    fn serve_next(&mut self, processes: &mut Processes<'env, T>) -> bool;

    /// Bounds on the number of inputs left, as [`Iterator::size_hint`].
    fn size_hint(&self) -> (usize, Option<usize>);
}

/// The inputs of one `pmap` call and its function.
pub(crate) struct InputBatches<I, F> {
    /// Fused: an iterator is never asked again once it has ended (some,
    /// like a terminal's lines, would wait for more).
    inputs: Fuse<I>,
    function: Rc<F>,
    /// How many inputs the next batch takes at most.
    size: usize,
}

impl<I: Iterator, F> InputBatches<I, F> {
    pub(crate) fn new(inputs: I, function: F) -> Self {
        let size = match inputs.size_hint().1 {
            Some(most) if most <= ALL_AT_ONCE => ALL_AT_ONCE,
            _ => FIRST_BATCH,
        };
        InputBatches {
            inputs: inputs.fuse(),
            function: Rc::new(function),
            size,
        }
    }
}

impl<'env, I, F, T> Batches<'env, T> for InputBatches<I, F>
where
    I: Iterator,
    I::Item: 'env,
    F: Fn(I::Item) -> T + 'env,
    T: Serialize + DeserializeOwned,
{
    fn serve_next(&mut self, processes: &mut Processes<'env, T>) -> bool {
        let batch: Vec<I::Item> = self.inputs.by_ref().take(self.size).collect();
        if self.size < LAST_BATCH {
            self.size = (self.size * 2).min(LAST_BATCH);
        }
        if batch.is_empty() {
            return false;
        }
        processes.serve_batch(batch, Rc::clone(&self.function));
        true
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inputs.size_hint()
    }
}
