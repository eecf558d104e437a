//! [`ExactMap`]: a [`Map`] whose number of results is known, as an
//! [`ExactSizeIterator`] (for progress bars and `len`).
//!
//! A [`Map`] cannot be an `ExactSizeIterator` itself: a `pmap` over a
//! reader's lines or an endless range does not know how many results it
//! will yield. Whether it knows is a property of the inputs given at run
//! time, so [`Map::exact`] checks it once and returns this type, whose
//! count stays exact: it can be given no further task, and the inputs it
//! was checked with report their exact number as they are taken.

use std::fmt;
use std::iter::FusedIterator;

use serde::de::DeserializeOwned;

use crate::collections::map::Map;
use crate::error::Result;

/// A [`Map`] that knows how many results it will yield: an
/// [`ExactSizeIterator`], so `len` counts the results left and a progress
/// bar (`indicatif`'s `ProgressIterator::progress`) knows its length.
/// Made by [`Map::exact`].
///
/// ```
/// let mut squares = pprocess::pmap(|n: u64| n * n, 0..5).exact();
/// assert_eq!(squares.len(), 5);
/// assert_eq!(squares.next().unwrap()?, 0);
/// assert_eq!(squares.len(), 4);
/// # Ok::<(), pprocess::Error>(())
/// ```
#[must_use = "an `ExactMap` does its work while it is iterated, and dropping it kills its processes: iterate or `collect` it"]
pub struct ExactMap<'env, T> {
    map: Map<'env, T>,
}

impl<'env, T: DeserializeOwned> ExactMap<'env, T> {
    /// `map`, whose number of results the caller knows to be exact.
    pub(crate) fn new(map: Map<'env, T>) -> Self {
        ExactMap { map }
    }

    /// The map inside, to use its other methods ([`get`](Map::get)).
    ///
    /// ```
    /// let mut map = pprocess::pmap(|n: u8| n + 1, [1, 2]).exact();
    /// assert_eq!(map.get_mut().get(1).unwrap().ok(), Some(&3));
    /// assert_eq!(map.len(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut Map<'env, T> {
        &mut self.map
    }
}

impl<T> Iterator for ExactMap<'_, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        self.map.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.map.size_hint()
    }
}

impl<T> ExactSizeIterator for ExactMap<'_, T> {}

/// A map yields `None` only once every task is accounted for, and then
/// for ever.
impl<T> FusedIterator for ExactMap<'_, T> {}

impl<T> fmt::Debug for ExactMap<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ExactMap").field(&self.map).finish()
    }
}
