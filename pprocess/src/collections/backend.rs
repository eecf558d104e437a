//! The seam between the collections and what runs their tasks.
//!
//! A [`Map`](crate::Map) keeps results in input order and a
//! [`Queue`](crate::Queue) in arrival order; neither knows how a task runs.
//! They ask a [`Backend`] for results, by task number. The fork backend
//! ([`Processes`]) runs each task in a created process on this machine;
//! another backend (a cluster's) implements the same four calls from a
//! layer above, and makes its collections with `Map::from_backend` and
//! `Queue::from_backend`.

use std::fmt;

use serde::de::DeserializeOwned;

use crate::collections::fork::{Collector, Processes};
use crate::error::Result;
use crate::exchange::Exchange;

/// What runs the tasks of a collection, numbered 0, 1, ... in the order
/// they were given.
pub(crate) trait Backend<T> {
    /// The number of tasks given so far: tasks `0..tasks()` exist.
    fn tasks(&self) -> usize;

    /// Bounds on the number of tasks still to be given (inputs not yet
    /// taken), as [`Iterator::size_hint`].
    fn to_give(&self) -> (usize, Option<usize>);

    /// Gives the next input a task number now, even if it cannot run yet
    /// (to reach a task by its index); `false` if no input is left.
    fn give_next(&mut self) -> bool;

    /// Waits for something to happen and passes each result that arrived
    /// to `found` as `(task, result)`; it may return having found none.
    /// Returns `Ok(false)` when nothing is running or waiting to run, so
    /// that a result not found yet will never come; an `Err` if waiting
    /// itself failed.
    fn advance(&mut self, found: &mut dyn FnMut(usize, Result<T>)) -> Result<bool>;
}

/// The backend of one collection: the fork backend, whose settings and
/// tasks the collection's own methods reach, or another behind the seam.
// The fork backend is nearly every collection's: boxing it would allocate
// for all of them to save room in the few others.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Runner<'env, T> {
    /// Created processes on this machine.
    Fork(Processes<'env, T>),
    /// Another backend, made in a layer above.
    Other(Box<dyn Backend<T> + 'env>),
}

impl<'env, T: DeserializeOwned> Runner<'env, T> {
    /// The backend, whichever it is.
    pub(crate) fn backend(&mut self) -> &mut (dyn Backend<T> + '_) {
        match self {
            Runner::Fork(processes) => processes,
            Runner::Other(backend) => backend.as_mut(),
        }
    }

    /// The same, to read.
    pub(crate) fn backend_ref(&self) -> &(dyn Backend<T> + '_) {
        match self {
            Runner::Fork(processes) => processes,
            Runner::Other(backend) => backend.as_ref(),
        }
    }

    /// The fork backend, for what only it does (start a closure, manage a
    /// callable, change the process limit).
    ///
    /// # Panics
    ///
    /// If the collection runs on another backend: closures do not cross
    /// machines, so such collections are made with their tasks given.
    pub(crate) fn processes(&mut self) -> &mut Processes<'env, T> {
        match self {
            Runner::Fork(processes) => processes,
            Runner::Other(_) => panic!("{ON_ANOTHER_BACKEND}"),
        }
    }

    /// The same, to read.
    pub(crate) fn processes_ref(&self) -> &Processes<'env, T> {
        match self {
            Runner::Fork(processes) => processes,
            Runner::Other(_) => panic!("{ON_ANOTHER_BACKEND}"),
        }
    }

    /// Changes the fork backend's exchange settings (for the builders).
    ///
    /// # Panics
    ///
    /// As [`processes`](Self::processes).
    pub(crate) fn configure(
        self,
        change: impl FnOnce(Exchange<'env, Collector<T>>) -> Exchange<'env, Collector<T>>,
    ) -> Self {
        match self {
            Runner::Fork(processes) => Runner::Fork(processes.configure(change)),
            Runner::Other(_) => panic!("{ON_ANOTHER_BACKEND}"),
        }
    }
}

impl<T> fmt::Debug for Runner<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Runner::Fork(processes) => processes.fmt(f),
            Runner::Other(_) => f.write_str("another backend"),
        }
    }
}

/// Why a collection on another backend cannot be given closures or settings.
const ON_ANOTHER_BACKEND: &str = "this collection runs its tasks on another backend (a \
    cluster): closures do not cross machines, and its tasks, limit and timeout are given \
    where it is made";
