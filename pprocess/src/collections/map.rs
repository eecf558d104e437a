//! [`Map`] and [`pmap`]: results in input order, available as they arrive.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::channel::Channel;
use crate::collections::backend::{Backend, Runner};
use crate::collections::exact::ExactMap;
use crate::collections::fork::{Processes, add_size_hints};
use crate::collections::per_process::with_state;
use crate::cores::get_number_of_cores;
use crate::error::{Error, Result};
use crate::exchange::Handler;
use crate::exchange::managed::Managed;

/// Runs `function` on every input in parallel, one created process per
/// input, at most [`get_number_of_cores`] at once: a parallel `map`.
///
/// Returns a [`Map`] at once, with the first processes started; the other
/// inputs are taken from `inputs` as processes free up, so a long (even
/// endless) input costs no memory up front. Iterate the map to get each
/// result, in input order, as soon as it and all before it have arrived. A task that fails (panics, crashes, cannot be
/// forked) is an `Err` at its own index; the others still arrive.
///
/// The default limit is the number of cores because an unlimited one would
/// fork one process per input at once; see [`pmap_limit`] to choose.
///
/// ```
/// let squares: Vec<u64> = pprocess::pmap(|n: u64| n * n, 0..8)
///     .collect::<pprocess::Result<_>>()?;
/// assert_eq!(squares, [0, 1, 4, 9, 16, 25, 36, 49]);
/// # Ok::<(), pprocess::Error>(())
/// ```
#[must_use = "the map runs the tasks while it is iterated, and dropping it kills its processes: iterate or `collect` it"]
pub fn pmap<'env, I, F, T>(function: F, inputs: I) -> Map<'env, T>
where
    I: IntoIterator,
    I::IntoIter: 'env,
    I::Item: 'env,
    F: Fn(I::Item) -> T + 'env,
    T: Serialize + DeserializeOwned,
{
    pmap_limit(function, inputs, get_number_of_cores())
}

/// [`pmap`] with at most `limit` processes at once.
///
/// ```
/// let text = String::from("borrowed, not serialized");
/// let lengths: Vec<usize> = pprocess::pmap_limit(|n: usize| text.len() + n, 0..3, 2)
///     .collect::<pprocess::Result<_>>()?;
/// assert_eq!(lengths, [24, 25, 26]);
/// # Ok::<(), pprocess::Error>(())
/// ```
#[must_use = "the map runs the tasks while it is iterated, and dropping it kills its processes: iterate or `collect` it"]
pub fn pmap_limit<'env, I, F, T>(function: F, inputs: I, limit: usize) -> Map<'env, T>
where
    I: IntoIterator,
    I::IntoIter: 'env,
    I::Item: 'env,
    F: Fn(I::Item) -> T + 'env,
    T: Serialize + DeserializeOwned,
{
    Map::new().limit(limit).pmap(function, inputs)
}

/// The results of a [`Map`] that have arrived and were not yet taken, by
/// task number.
struct InputOrder<T> {
    /// The results of tasks `taken..`, where they have arrived. The ones
    /// iterating took are gone, so an endless map holds only those between
    /// the next to take and the newest to arrive.
    results: VecDeque<Option<Result<T>>>,
    /// How many results iterating has taken (the index of the next).
    taken: usize,
}

impl<T> InputOrder<T> {
    /// Keeps the first result of each task (once taken, a task has had
    /// its result).
    fn put(&mut self, task: usize, result: Result<T>) {
        let Some(slot) = task.checked_sub(self.taken) else {
            return;
        };
        if let Some(kept) = self.results.get_mut(slot) {
            kept.get_or_insert(result);
        } else {
            // Results arrive mostly in order: this one is usually next.
            self.results.resize_with(slot, || None);
            self.results.push_back(Some(result));
        }
    }

    fn has(&self, task: usize) -> bool {
        task < self.taken || self.result(task).is_some()
    }

    /// The result of `task`, if it has arrived and was not taken.
    fn result(&self, task: usize) -> Option<&Result<T>> {
        self.results.get(task.checked_sub(self.taken)?)?.as_ref()
    }

    /// Takes the next result (iterating), which must have arrived.
    fn take_next(&mut self) -> Option<Result<T>> {
        self.taken += 1;
        self.results.pop_front().flatten()
    }
}

/// Results in the order their tasks were started: the original module's
/// `Map`.
///
/// Start tasks with [`start`](Map::start) (a closure that sends one `T`) or
/// through a [managed](Map::manage) callable; each task gets the next
/// index. Then iterate: the iterator yields each task's `Result<T>` in index
/// order, as soon as it and all before it have arrived, and never ends
/// early: a failed task is an `Err` at its own index. [`get`](Map::get)
/// waits for one index.
///
/// A new map runs at most [`get_number_of_cores`] processes at once; see
/// [`limit`](Map::limit). Dropping a map kills and reaps its running
/// processes and drops its queued tasks.
///
/// ```
/// use pprocess::Map;
///
/// let mut map = Map::new().limit(3);
/// for word in ["one", "three", "five"] {
///     map.start(move |channel| channel.send(&word.len()));
/// }
/// assert_eq!(map.get(1).unwrap().ok(), Some(&5));
/// let lengths: Vec<usize> = map.collect::<pprocess::Result<_>>()?;
/// assert_eq!(lengths, [3, 5, 4]);
/// # Ok::<(), pprocess::Error>(())
/// ```
#[must_use = "a `Map` does its work while it is iterated, and dropping it kills its processes: iterate it, `collect` it or `get` its results"]
pub struct Map<'env, T> {
    order: InputOrder<T>,
    runner: Runner<'env, T>,
    reach: Reach<'env, T>,
}

/// How iterating reaches the backend without asking anything of `T`: set
/// where the map is made, which requires `T: DeserializeOwned`, so that a
/// result type without serde's traits is reported there, and not again
/// at each `collect` or `for` loop.
struct Reach<'env, T> {
    backend: for<'a> fn(&'a mut Runner<'env, T>) -> &'a mut (dyn Backend<T> + 'a),
    backend_ref: for<'a> fn(&'a Runner<'env, T>) -> &'a (dyn Backend<T> + 'a),
}

impl<'env, T: DeserializeOwned> Map<'env, T> {
    /// An empty map running at most [`get_number_of_cores`] processes at
    /// once.
    ///
    /// ```
    /// let mut map = pprocess::Map::<u8>::new();
    /// assert!(map.is_empty());
    /// map.start(|channel| channel.send(&1u8));
    /// assert_eq!(map.next().unwrap()?, 1);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn new() -> Self {
        Map::on(Runner::Fork(Processes::new()))
    }

    /// A map of the tasks `backend` runs (a backend other than created
    /// processes on this machine).
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    pub(crate) fn from_backend(backend: Box<dyn Backend<T> + 'env>) -> Self {
        Map::on(Runner::Other(backend))
    }

    fn on(runner: Runner<'env, T>) -> Self {
        Map {
            order: InputOrder {
                results: VecDeque::new(),
                taken: 0,
            },
            runner,
            reach: Reach {
                backend: Runner::backend,
                backend_ref: Runner::backend_ref,
            },
        }
    }

    /// Runs at most `processes` processes at once (at least 1); further
    /// tasks wait for a process to end.
    ///
    /// ```
    /// let mut tasks = pprocess::Map::new().limit(1);
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
    /// let mut tasks = pprocess::Map::<u8>::new().timeout(Duration::from_millis(100));
    /// tasks.start(|_channel| loop { std::thread::park() }); // never ends
    /// assert!(matches!(tasks.next(), Some(Err(pprocess::Error::Timeout { .. }))));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.runner = self.runner.configure(|exchange| exchange.timeout(timeout));
        self
    }

    /// Reuses processes for [`pmap`](Map::pmap) and for the calls of a
    /// managed [`MakeReusable`](crate::MakeReusable) callable; see
    /// [`Exchange::reuse`](crate::Exchange::reuse). Results still land at their own index.
    ///
    /// ```
    /// let pids: Vec<u32> = pprocess::Map::new()
    ///     .limit(2)
    ///     .reuse(true)
    ///     .pmap(|_: u32| std::process::id(), 0..100)
    ///     .collect::<pprocess::Result<_>>()?;
    /// let mut distinct = pids.clone();
    /// distinct.sort();
    /// distinct.dedup();
    /// assert!(distinct.len() <= 2); // 100 tasks, two processes at most
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn reuse(mut self, reuse: bool) -> Self {
        self.runner = self.runner.configure(|exchange| exchange.reuse(reuse));
        self
    }

    /// Starts a task, `f` in a created process, that sends a `T` on its
    /// channel, and returns its task number (0, 1, ...). See
    /// [`Exchange::start`](crate::Exchange::start).
    ///
    /// ```
    /// let mut tasks = pprocess::Map::<char>::new();
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
    /// let mut tasks = pprocess::Map::<i32>::new();
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
    /// let mut tasks = pprocess::Map::<u8>::new().limit(2);
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

    /// Starts `function` on every input, one task each, like [`pmap`]
    /// does for a new map: use it to give a parallel map a
    /// [`timeout`](Map::timeout) or other settings.
    ///
    /// With [`reuse`](Map::reuse), a batch of inputs is collected, then
    /// [`limit`](Map::limit) processes are forked, and each takes the next
    /// input nobody has taken, calls `function` on it and leaves the
    /// result, until none is left. Taking an input is an atomic increment
    /// in memory the processes share with the creator: the inputs are
    /// never sent (a process is a copy of its creator and already has
    /// them, so they need not serialize), and no process waits for its
    /// creator between two inputs. Results are left in that shared memory
    /// too (256 KiB per process; a larger one goes on the process's
    /// channel), where a crash does not lose them: the map takes them in
    /// batches, every 2 ms while it waits, or as soon as one is made when
    /// nothing has come for that long. So a result costs no wake-up of the
    /// creator of its own, and is seen within a few milliseconds.
    ///
    /// Inputs known to be at most 1,048,576 (a `Vec`, a range, a slice) are
    /// one batch. Others (of unknown number, like a reader's lines or an
    /// endless iterator, or of more) are taken 1,024 first, then twice as
    /// many each time up to 65,536: each batch is collected once the last
    /// one's inputs are all taken (or when [`get`](Map::get) reaches into
    /// it) and served by processes forked for it. So an endless iterator
    /// works, and a map iterated in order holds a batch or two of inputs.
    /// A batch is collected before its processes start: `pmap` returns,
    /// and the first result comes, once the first batch is collected. For
    /// inputs that trickle in (a socket, a terminal), or that depend on
    /// the map's own results, use a `pmap` without reuse, which forks a
    /// process for each input as it comes.
    ///
    /// A process that fails (panics, is killed, times out) fails the input
    /// it held, at that input's index, and a new process takes its place
    /// while inputs are left; a process that could not be forked fails the
    /// next input. The [`timeout`](Map::timeout) applies to each input,
    /// counted from when the map took the process's previous result.
    ///
    /// Tasks given to the map after a `pmap` ([`start`](Map::start),
    /// [`manage`](Map::manage), another `pmap`) come after all its inputs:
    /// giving one first takes every input left (with or without reuse).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let map = pprocess::Map::new()
    ///     .limit(2)
    ///     .timeout(Duration::from_secs(60))
    ///     .pmap(|n: u32| n + 1, [1, 2, 3]);
    /// assert_eq!(map.collect::<pprocess::Result<Vec<u32>>>()?, [2, 3, 4]);
    ///
    /// // Endless inputs, with reuse: taken a batch at a time.
    /// let cubes: Vec<u64> = pprocess::Map::new()
    ///     .limit(2)
    ///     .reuse(true)
    ///     .pmap(|n: u64| n * n * n, 1..)
    ///     .take(4)
    ///     .collect::<pprocess::Result<_>>()?;
    /// assert_eq!(cubes, [1, 8, 27, 64]);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn pmap<I, F>(mut self, function: F, inputs: I) -> Self
    where
        I: IntoIterator,
        I::IntoIter: 'env,
        I::Item: 'env,
        F: Fn(I::Item) -> T + 'env,
        T: Serialize,
    {
        self.runner.processes().pmap(function, inputs);
        self
    }

    /// [`pmap`](Map::pmap) with a state per process: `init` makes it in
    /// each created process, before its first task, and `function` gets
    /// it (`&mut`) with each input that process runs. With
    /// [`reuse`](Map::reuse), a process runs many inputs, so this is where
    /// to build what must not cross a fork and is worth keeping: a thread
    /// pool, a connection, a random number generator seeded in the process
    /// (see the tutorial's rules for created processes). Without reuse,
    /// each input has a process, and a state, of its own. `init` runs in
    /// the created process, never in the creator; the state need not
    /// serialize.
    ///
    /// ```
    /// // Each process counts the inputs it has run.
    /// let counts: Vec<u32> = pprocess::Map::new()
    ///     .limit(1)
    ///     .reuse(true)
    ///     .pmap_init(|| 0, |runs: &mut u32, _: u8| { *runs += 1; *runs }, 0..4)
    ///     .collect::<pprocess::Result<_>>()?;
    /// assert_eq!(counts, [1, 2, 3, 4]); // one process, one state
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn pmap_init<I, S, F>(self, init: impl Fn() -> S + 'env, function: F, inputs: I) -> Self
    where
        I: IntoIterator,
        I::IntoIter: 'env,
        I::Item: 'env,
        S: 'env,
        F: Fn(&mut S, I::Item) -> T + 'env,
        T: Serialize + 'env,
    {
        self.pmap(with_state(init, function), inputs)
    }

    /// Retires each process that reuse keeps after it has run `tasks`
    /// inputs of a [`pmap`](Map::pmap) (at least 1); a new process takes
    /// its place while inputs are left (and runs
    /// [`pmap_init`](Map::pmap_init)'s `init` again). This contains what a
    /// process accumulates: memory a library leaks, a state that grows.
    /// It costs a fork per `tasks` inputs. It applies to `pmap` with
    /// [`reuse`](Map::reuse), not to managed
    /// [`MakeReusable`](crate::MakeReusable) calls.
    ///
    /// ```
    /// let pids: Vec<u32> = pprocess::Map::new()
    ///     .limit(1)
    ///     .reuse(true)
    ///     .max_tasks(2)
    ///     .pmap(|_: u8| std::process::id(), 0..6)
    ///     .collect::<pprocess::Result<_>>()?;
    /// assert_eq!(pids[0], pids[1]);
    /// assert_ne!(pids[1], pids[2]); // the first process retired after two
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn max_tasks(mut self, tasks: usize) -> Self {
        self.runner.processes().retire_after(tasks);
        self
    }

    /// The number of tasks given so far. [`pmap`](Map::pmap) gives its
    /// inputs as processes free up, so this grows as the map is iterated.
    ///
    /// ```
    /// let mut map = pprocess::Map::<u8>::new();
    /// map.start(|channel| channel.send(&1u8));
    /// map.start(|channel| channel.send(&2u8));
    /// assert_eq!(map.len(), 2);
    /// # drop(map);
    /// ```
    pub fn len(&self) -> usize {
        self.runner.backend_ref().tasks()
    }

    /// Whether no task was given and no `pmap` input is left to give.
    ///
    /// ```
    /// assert!(pprocess::pmap(|n: u8| n, []).is_empty());
    /// assert!(!pprocess::pmap(|n: u8| n, [1]).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0 && self.runner.backend_ref().to_give().1 == Some(0)
    }

    /// This map as an [`ExactSizeIterator`], for a progress bar or `len`:
    /// possible when the number of results is known, as for a `pmap` over
    /// a `Vec`, an array, a slice or a range, or tasks given one by one.
    ///
    /// # Panics
    ///
    /// If the number of results is not known (a `pmap` over an iterator
    /// that does not say how many inputs it has, such as a reader's lines
    /// or a filtered range): count them first, or give a progress bar the
    /// number you know.
    ///
    /// ```
    /// let map = pprocess::Map::new()
    ///     .reuse(true)
    ///     .pmap(|n: u32| n * 2, vec![1, 2, 3])
    ///     .exact();
    /// assert_eq!(map.len(), 3);
    /// assert_eq!(map.collect::<pprocess::Result<Vec<u32>>>()?, [2, 4, 6]);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    #[track_caller]
    pub fn exact(self) -> ExactMap<'env, T> {
        let (least, most) = self.size_hint();
        assert!(
            most == Some(least),
            "Map::exact: the number of results is not known (at least {least}, at most {most:?}): \
             its inputs do not say how many they are"
        );
        ExactMap::new(self)
    }

    /// Waits for the result at `index` and returns it; `None` if no task
    /// has that index, or if iterating the map already took it.
    ///
    /// ```
    /// let mut map = pprocess::pmap(|n: u8| n + 1, [1, 2]);
    /// assert_eq!(map.get(1).unwrap().ok(), Some(&3));
    /// assert!(map.get(2).is_none());
    /// ```
    pub fn get(&mut self, index: usize) -> Option<Result<&T, &Error>> {
        if index < self.order.taken {
            return None;
        }
        while index >= self.len() {
            if !self.runner.backend().give_next() {
                return None;
            }
        }
        self.wait_for(index);
        self.order.result(index).map(Result::as_ref)
    }
}

impl<T> Map<'_, T> {
    /// Stores arriving results until the one at `index` is there. If it
    /// cannot come (nothing runs any more, or waiting failed), that index
    /// gets the error, so iteration never waits forever.
    fn wait_for(&mut self, index: usize) {
        let order = &mut self.order;
        let backend = (self.reach.backend)(&mut self.runner);
        while !order.has(index) {
            let outcome = backend.advance(&mut |task, result| order.put(task, result));
            match outcome {
                Ok(true) => {}
                Ok(false) => order.put(index, Err(Error::Lost { task: index })),
                Err(error) => order.put(index, Err(error)),
            }
        }
    }
}

impl<T: DeserializeOwned> Default for Map<'_, T> {
    fn default() -> Self {
        Map::new()
    }
}

impl<T> Iterator for Map<'_, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        let next = self.order.taken;
        if next >= (self.reach.backend_ref)(&self.runner).tasks()
            && !(self.reach.backend)(&mut self.runner).give_next()
        {
            return None;
        }
        self.wait_for(next);
        self.order.take_next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let backend = (self.reach.backend_ref)(&self.runner);
        let left = backend.tasks() - self.order.taken;
        add_size_hints((left, Some(left)), backend.to_give())
    }
}

impl<T> fmt::Debug for Map<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("runner", &self.runner)
            .field("next", &self.order.taken)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_taken_are_dropped_and_a_late_one_for_a_taken_task_is_ignored() {
        let mut order = InputOrder {
            results: VecDeque::new(),
            taken: 0,
        };
        order.put(0, Ok(1));
        order.put(1, Ok(2));
        assert!(matches!(order.take_next(), Some(Ok(1))));
        assert_eq!(order.results.len(), 1, "the taken result is dropped");
        order.put(0, Ok(9));
        assert!(order.has(0));
        assert!(order.result(0).is_none());
        assert!(matches!(order.take_next(), Some(Ok(2))));
        assert!(order.results.is_empty());
    }
}
