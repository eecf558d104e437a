//! [`Queue`]: results in the order they arrive.

use std::collections::VecDeque;
use std::fmt;

use serde::de::DeserializeOwned;

use crate::channel::Channel;
use crate::collection;
use crate::cores::get_number_of_cores;
use crate::error::{Error, Result};
use crate::exchange::{Exchange, Handler};
use crate::managed::Managed;

/// The results a [`Queue`] has received and not yet yielded: the handler of
/// its exchange.
pub struct QueueResults<T> {
    arrived: VecDeque<Result<T>>,
}

impl<T: DeserializeOwned> Handler for QueueResults<T> {
    fn store_data(&mut self, channel: &mut Channel, _task: usize) -> Result<()> {
        self.arrived.push_back(channel.receive());
        Ok(())
    }

    fn store_error(&mut self, _task: usize, error: Error) -> Result<()> {
        self.arrived.push_back(Err(error));
        Ok(())
    }
}

/// Results in the order they arrive: the original module's `Queue`.
///
/// Start tasks with [`start`](Queue::start) or a [managed](Queue::manage)
/// callable, then iterate: each item is a task's `Result<T>` as soon as it
/// arrives; a failed task is an `Err` item. The iterator ends when every
/// task has been accounted for. With [`continuous`](Queue::continuous), a
/// task may send any number of messages, and each is an item.
///
/// A new queue runs at most [`get_number_of_cores`] processes at once; see
/// [`limit`](Queue::limit). Dropping a queue kills and reaps its running
/// processes.
///
/// ```
/// use pprocess::Queue;
///
/// let mut queue = Queue::new().limit(4);
/// for n in 1..=4u32 {
///     queue.start(move |channel| channel.send(&(n * 10)));
/// }
/// let mut results: Vec<u32> = queue.collect::<pprocess::Result<_>>()?;
/// results.sort();
/// assert_eq!(results, [10, 20, 30, 40]);
/// # Ok::<(), pprocess::Error>(())
/// ```
#[must_use = "a `Queue` does its work while it is iterated, and dropping it kills its processes: iterate or `collect` it"]
pub struct Queue<'env, T> {
    exchange: Exchange<'env, QueueResults<T>>,
}

impl<'env, T: DeserializeOwned> Queue<'env, T> {
    /// An empty queue running at most [`get_number_of_cores`] processes at
    /// once.
    ///
    /// ```
    /// let mut queue = pprocess::Queue::<u8>::new();
    /// queue.start(|channel| channel.send(&1u8));
    /// assert_eq!(queue.next().unwrap()?, 1);
    /// assert!(queue.next().is_none()); // every task accounted for
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn new() -> Self {
        Queue {
            exchange: Exchange::with_handler(QueueResults {
                arrived: VecDeque::new(),
            })
            .limit(get_number_of_cores()),
        }
    }

    collection::pass_to_exchange!(Queue, QueueResults);

    /// Reuses processes for the calls of a managed
    /// [`MakeReusable`](crate::MakeReusable) callable; see
    /// [`Exchange::reuse`].
    ///
    /// ```
    /// use pprocess::{MakeReusable, Queue};
    ///
    /// let mut queue = Queue::new().limit(1).reuse(true);
    /// let mut pid = queue.manage(MakeReusable::new(|_: u8| std::process::id()));
    /// pid.call(0);
    /// pid.call(1);
    /// let pids: Vec<u32> = queue.collect::<pprocess::Result<_>>()?;
    /// assert_eq!(pids[0], pids[1]); // one process answered both calls
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn reuse(mut self, reuse: bool) -> Self {
        self.exchange = self.exchange.reuse(reuse);
        self
    }

    /// Lets each task send any number of messages, each an item of the
    /// queue; see [`Exchange::continuous`].
    ///
    /// ```
    /// let mut queue = pprocess::Queue::new().continuous(true);
    /// queue.start(|channel| (0..3u8).try_for_each(|n| channel.send(&n)));
    /// assert_eq!(queue.collect::<pprocess::Result<Vec<u8>>>()?, [0, 1, 2]);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn continuous(mut self, continuous: bool) -> Self {
        self.exchange = self.exchange.continuous(continuous);
        self
    }

    /// The number of results received and not yet taken from the queue.
    ///
    /// ```
    /// let queue = pprocess::Queue::<u8>::new();
    /// assert_eq!(queue.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.exchange.handler().arrived.len()
    }

    /// Whether no received result is waiting to be taken.
    ///
    /// ```
    /// let mut queue = pprocess::Queue::<u8>::new();
    /// queue.start(|channel| channel.send(&1u8));
    /// assert!(queue.is_empty()); // nothing taken in yet
    /// assert_eq!(queue.next().unwrap()?, 1);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The queue's exchange (for persistent queues, which add connections
    /// to it).
    pub(crate) fn exchange_mut(&mut self) -> &mut Exchange<'env, QueueResults<T>> {
        &mut self.exchange
    }
}

impl<T: DeserializeOwned> Default for Queue<'_, T> {
    fn default() -> Self {
        Queue::new()
    }
}

impl<T: DeserializeOwned> Iterator for Queue<'_, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        loop {
            if let Some(result) = self.exchange.handler_mut().arrived.pop_front() {
                return Some(result);
            }
            if !self.exchange.unfinished() {
                return None;
            }
            if let Err(error) = self.exchange.store(None) {
                return Some(Err(error));
            }
        }
    }
}

impl<T> fmt::Debug for Queue<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("exchange", &self.exchange)
            .finish()
    }
}
