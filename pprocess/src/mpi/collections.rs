//! The collections a cluster returns: [`ClusterMap`] (input order) and
//! [`ClusterQueue`] (arrival order), over the worker ranks or, on one
//! machine, over a [`Map`].

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use serde::de::DeserializeOwned;

use crate::error::Result;
use crate::map::Map;
use crate::mpi::run::Run;

/// The results of `pmap_on`: an iterator of each input's [`Result`], in
/// input order, as a [`Map`]'s. A task that fails (panics, is killed,
/// times out on its worker rank) is an `Err` at its own index.
///
/// ```
/// #[pprocess::parallel]
/// fn square(n: u64) -> u64 {
///     n * n
/// }
///
/// fn main() -> pprocess::Result<()> {
///     let cluster = pprocess::mpi::init()?;
///     let squares: Vec<u64> = square::pmap_on(&cluster, 0..5).collect::<pprocess::Result<_>>()?;
///     assert_eq!(squares, [0, 1, 4, 9, 16]);
///     Ok(())
/// }
/// ```
pub struct ClusterMap<'c, T> {
    flavor: MapFlavor<'c, T>,
}

enum MapFlavor<'c, T> {
    Local(Box<Map<'c, T>>),
    Ranks {
        run: Run<'c, T>,
        /// The index of the next result to yield.
        next: usize,
        /// Results that arrived before an earlier one.
        early: BTreeMap<usize, Result<T>>,
    },
}

impl<'c, T: DeserializeOwned> ClusterMap<'c, T> {
    pub(crate) fn local(map: Map<'c, T>) -> Self {
        ClusterMap {
            flavor: MapFlavor::Local(Box::new(map)),
        }
    }

    pub(crate) fn ranks(run: Run<'c, T>) -> Self {
        ClusterMap {
            flavor: MapFlavor::Ranks {
                run,
                next: 0,
                early: BTreeMap::new(),
            },
        }
    }
}

impl<T: DeserializeOwned> Iterator for ClusterMap<'_, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        match &mut self.flavor {
            MapFlavor::Local(map) => map.next(),
            MapFlavor::Ranks { run, next, early } => loop {
                if let Some(result) = early.remove(next) {
                    *next += 1;
                    return Some(result);
                }
                if !run.advance(&mut |task, result| {
                    early.insert(task, result);
                }) {
                    return None;
                }
            },
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.flavor {
            MapFlavor::Local(map) => map.size_hint(),
            MapFlavor::Ranks { run, early, .. } => add(run.remaining(), early.len()),
        }
    }
}

/// The results of `pqueue_on`: an iterator of each input's [`Result`] in
/// the order they arrive from the worker ranks, as a
/// [`Queue`](crate::Queue)'s. On one machine (a cluster not started by
/// `mpirun`), they come in input order.
///
/// ```
/// #[pprocess::parallel]
/// fn double(n: u32) -> u32 {
///     n * 2
/// }
///
/// fn main() -> pprocess::Result<()> {
///     let cluster = pprocess::mpi::init()?;
///     let mut doubled: Vec<u32> = double::pqueue_on(&cluster, [1, 2, 3])
///         .collect::<pprocess::Result<_>>()?;
///     doubled.sort();
///     assert_eq!(doubled, [2, 4, 6]);
///     Ok(())
/// }
/// ```
pub struct ClusterQueue<'c, T> {
    flavor: QueueFlavor<'c, T>,
}

enum QueueFlavor<'c, T> {
    Local(Box<Map<'c, T>>),
    Ranks {
        run: Run<'c, T>,
        arrived: VecDeque<Result<T>>,
    },
}

impl<'c, T: DeserializeOwned> ClusterQueue<'c, T> {
    pub(crate) fn local(map: Map<'c, T>) -> Self {
        ClusterQueue {
            flavor: QueueFlavor::Local(Box::new(map)),
        }
    }

    pub(crate) fn ranks(run: Run<'c, T>) -> Self {
        ClusterQueue {
            flavor: QueueFlavor::Ranks {
                run,
                arrived: VecDeque::new(),
            },
        }
    }
}

impl<T: DeserializeOwned> Iterator for ClusterQueue<'_, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        match &mut self.flavor {
            QueueFlavor::Local(map) => map.next(),
            QueueFlavor::Ranks { run, arrived } => loop {
                if let Some(result) = arrived.pop_front() {
                    return Some(result);
                }
                if !run.advance(&mut |_, result| arrived.push_back(result)) {
                    return None;
                }
            },
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.flavor {
            QueueFlavor::Local(map) => map.size_hint(),
            QueueFlavor::Ranks { run, arrived } => add(run.remaining(), arrived.len()),
        }
    }
}

/// A size hint with `more` items known.
fn add((least, most): (usize, Option<usize>), more: usize) -> (usize, Option<usize>) {
    (
        least.saturating_add(more),
        most.and_then(|most| most.checked_add(more)),
    )
}

impl<T> fmt::Debug for ClusterMap<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterMap").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for ClusterQueue<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterQueue").finish_non_exhaustive()
    }
}
