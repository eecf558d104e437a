//! [`Queue`]: results in the order they arrive.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::channel::Channel;
use crate::collections::backend::{Backend, Runner};
use crate::collections::fork::{Collector, Processes};
use crate::error::Result;
use crate::exchange::managed::Managed;
use crate::exchange::{Exchange, Handler};

/// Results in the order they arrive: the original module's `Queue`.
///
/// Start tasks with [`start`](Queue::start) or a [managed](Queue::manage)
/// callable, then iterate: each item is a task's `Result<T>` as soon as it
/// arrives; a failed task is an `Err` item, an [`Error::Task`](crate::Error::Task)
/// that names the task (`task 3: process 1234 panicked: ...`). The iterator ends when every
/// task has been accounted for. With [`continuous`](Queue::continuous), a
/// task may send any number of messages, and each is an item.
///
/// A new queue runs at most [`get_number_of_cores`](crate::get_number_of_cores) processes at once; see
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
    /// The results that arrived and were not yet taken, in arrival order.
    arrived: VecDeque<Result<T>>,
    runner: Runner<'env, T>,
}

impl<'env, T: DeserializeOwned> Queue<'env, T> {
    /// An empty queue running at most [`get_number_of_cores`](crate::get_number_of_cores) processes at
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
        Queue::on(Runner::Fork(Processes::new()))
    }

    /// A queue of the tasks `backend` runs (a backend other than created
    /// processes on this machine).
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    pub(crate) fn from_backend(backend: Box<dyn Backend<T> + 'env>) -> Self {
        Queue::on(Runner::Other(backend))
    }

    fn on(runner: Runner<'env, T>) -> Self {
        Queue {
            arrived: VecDeque::new(),
            runner,
        }
    }

    /// Runs at most `processes` processes at once (at least 1); further
    /// tasks wait for a process to end.
    ///
    /// ```
    /// let mut tasks = pprocess::Queue::new().limit(1);
    /// tasks.start(|channel| channel.send(&0u8));
    /// tasks.start(|channel| channel.send(&1u8));
    /// // One at a time: the second task starts once the first has ended.
    /// assert_eq!(tasks.collect::<pprocess::Result<Vec<u8>>>()?, [0, 1]);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn limit(mut self, processes: usize) -> Self {
        self.runner = self.runner.configure(|exchange| exchange.limit(processes));
        self
    }

    /// Gives each task at most `timeout`; a task that takes longer is
    /// killed and fails with [`Error::Timeout`](crate::Error::Timeout).
    /// See [`Exchange::timeout`](crate::Exchange::timeout).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let mut tasks = pprocess::Queue::<u8>::new().timeout(Duration::from_millis(100));
    /// tasks.start(|_channel| loop { std::thread::park() }); // never ends
    /// let error = tasks.next().unwrap().unwrap_err();
    /// assert!(matches!(error.failure(), pprocess::Error::Timeout { .. }));
    /// assert_eq!(error.task(), Some(0));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.runner = self.runner.configure(|exchange| exchange.timeout(timeout));
        self
    }

    /// Reuses processes for the calls of a managed
    /// [`MakeReusable`](crate::MakeReusable) callable; see
    /// [`Exchange::reuse`](crate::Exchange::reuse).
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
        self.runner = self.runner.configure(|exchange| exchange.reuse(reuse));
        self
    }

    /// Lets each task send any number of messages, each an item of the
    /// queue; see [`Exchange::continuous`](crate::Exchange::continuous).
    ///
    /// ```
    /// let mut queue = pprocess::Queue::new().continuous(true);
    /// queue.start(|channel| (0..3u8).try_for_each(|n| channel.send(&n)));
    /// assert_eq!(queue.collect::<pprocess::Result<Vec<u8>>>()?, [0, 1, 2]);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn continuous(mut self, continuous: bool) -> Self {
        self.runner = self
            .runner
            .configure(|exchange| exchange.continuous(continuous));
        self
    }

    /// Starts a task, `f` in a created process, that sends a `T` on its
    /// channel, and returns its task number (0, 1, ...). See
    /// [`Exchange::start`](crate::Exchange::start).
    ///
    /// ```
    /// let mut tasks = pprocess::Queue::<char>::new();
    /// assert_eq!(tasks.start(|channel| channel.send(&'a')), 0);
    /// assert_eq!(tasks.next().unwrap()?, 'a');
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn start<F, R>(&mut self, f: F) -> usize
    where
        F: FnOnce(&mut Channel) -> R + 'env,
        R: std::process::Termination,
    {
        self.runner.processes().start(f)
    }

    /// Wraps `callable` so that each call starts a task of this
    /// collection; see [`Exchange::manage`](crate::Exchange::manage).
    ///
    /// ```
    /// use pprocess::MakeParallel;
    ///
    /// let mut tasks = pprocess::Queue::<i32>::new();
    /// let mut negate = tasks.manage(MakeParallel::new(|n: i32| -n));
    /// negate.call(5);
    /// assert_eq!(tasks.next().unwrap()?, -5);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn manage<C>(&mut self, callable: C) -> Managed<'_, 'env, impl Handler + use<T, C>, C> {
        self.runner.processes().manage(callable)
    }

    /// Creates a process, fork-style, as a new task, once there is room
    /// under the limit (results that arrive meanwhile are stored). The
    /// creator gets `None`; the created process gets its channel: it
    /// sends its result on it, then ends with [`exit`](crate::exit).
    /// See [`Exchange::create`](crate::Exchange::create).
    ///
    /// ```
    /// let mut tasks = pprocess::Queue::<u8>::new().limit(2);
    /// for i in 0..3u8 {
    ///     if let Some(mut channel) = tasks.create()? {
    ///         channel.send(&(i * 2))?; // in the created process
    ///         pprocess::exit(channel);
    ///     }
    /// }
    /// let mut doubled = tasks.collect::<pprocess::Result<Vec<u8>>>()?;
    /// doubled.sort();
    /// assert_eq!(doubled, [0, 2, 4]);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn create(&mut self) -> Result<Option<Channel>> {
        self.runner.processes().create()
    }

    /// The number of results received and not yet taken from the queue.
    ///
    /// ```
    /// let queue = pprocess::Queue::<u8>::new();
    /// assert_eq!(queue.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.arrived.len()
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

    /// Waits up to `timeout` (`None`: until something happens) for results
    /// and takes in those that arrive, without yielding them: they are
    /// then counted by [`len`](Queue::len), and the iterator yields them
    /// without waiting. The original module's `store(timeout)`, for a loop
    /// that does something else when nothing arrives. Fails only if the
    /// wait itself fails (a failed task is an `Err` item).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let mut queue = pprocess::Queue::<u8>::new();
    /// queue.start(|_channel| loop { std::thread::park() }); // never sends
    /// queue.store(Some(Duration::from_millis(10)))?;
    /// assert_eq!(queue.len(), 0); // nothing arrived in time
    /// # drop(queue);
    /// let mut queue = pprocess::Queue::<u8>::new();
    /// queue.start(|channel| channel.send(&7u8));
    /// while queue.is_empty() {
    ///     queue.store(Some(Duration::from_millis(100)))?;
    /// }
    /// assert_eq!(queue.next().unwrap()?, 7);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn store(&mut self, timeout: Option<Duration>) -> Result<()> {
        let arrived = &mut self.arrived;
        self.runner.processes().store(timeout, &mut |task, result| {
            arrived.push_back(named(task, result))
        })
    }

    /// Whether a process of the queue is still running, or a task is still
    /// waiting to start: more results may come than the [`len`](Queue::len)
    /// taken in. See [`Exchange::unfinished`](crate::Exchange::unfinished).
    ///
    /// ```
    /// let mut queue = pprocess::Queue::<u8>::new();
    /// queue.start(|channel| channel.send(&1u8));
    /// while queue.unfinished() {
    ///     queue.store(None)?;
    /// }
    /// assert_eq!(queue.len(), 1); // all taken in, none yielded yet
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn unfinished(&self) -> bool {
        self.runner.processes_ref().unfinished()
    }

    /// The queue's exchange (for persistent queues, which add connections
    /// to it).
    pub(crate) fn exchange_mut(&mut self) -> &mut Exchange<'env, Collector<T>> {
        self.runner.processes().exchange_mut()
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
            if let Some(result) = self.arrived.pop_front() {
                return Some(result);
            }
            let arrived = &mut self.arrived;
            match self
                .runner
                .backend()
                .advance(&mut |task, result| arrived.push_back(named(task, result)))
            {
                Ok(true) => {}
                Ok(false) => return None,
                Err(error) => return Some(Err(error)),
            }
        }
    }
}

/// A task's result whose error names the task: a queue's items come in
/// arrival order, so an error alone would not say whose it is.
fn named<T>(task: usize, result: Result<T>) -> Result<T> {
    result.map_err(|error| error.in_task(task))
}

impl<T> fmt::Debug for Queue<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("runner", &self.runner)
            .field("arrived", &self.arrived.len())
            .finish()
    }
}
