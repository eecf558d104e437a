//! [`Exchange`]: many channels watched at once with `poll`, a limit on how
//! many processes run, a queue of work waiting for room, and the
//! [`Handler`] that stores what arrives.
//!
//! Everything here runs in the creator. A channel stays in the exchange
//! until its process has closed its end *and* everything it sent has been
//! read, so a result sent just before exiting is never lost; only then is
//! the channel removed (closed and reaped with `autoclose`).
//!
//! Each running process is a [`Slot`](slot::Slot) of one
//! [`Kind`](slot::Kind): one task, continuous, reused (`reused.rs` feeds
//! them arguments) or serving (`serving.rs`: the interface the engine of
//! `pmap` with reuse uses). Nothing here waits for a process that closed
//! its channel but runs on: such a process is watched (through a pidfd
//! where the system has them) until it ends or its clock runs out.
//!
//! A failure to start a process for want of resources (`EAGAIN`,
//! `EMFILE`, `ENFILE`, `ENOMEM`) while others of the exchange run is not a
//! failure of the task: the work goes back to the front of the queue and
//! starts when one of them has ended. Only when no process of the exchange
//! runs is it the task's error.

pub(crate) mod callable;
mod handler;
pub(crate) mod managed;
pub(crate) mod pipeline;
mod reused;
mod serving;
mod slot;
pub(crate) mod work;

use std::collections::VecDeque;
use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::process::{ExitCode, Termination};
use std::time::{Duration, Instant};

use crate::channel::start::{self as process, Fork};
use crate::channel::{Channel, Event};
use crate::error::{Error, Result};
use crate::exchange::managed::Managed;
use crate::exchange::slot::{Kind, Slot, SlotState, deadline_after};
use crate::exchange::work::{Job, ServerId, Source, Work, job};
use crate::process::fork;
use crate::sys;

pub use handler::Handler;
pub(crate) use serving::Served;

/// Watches many channels at once and runs work under a process limit.
///
/// An exchange is the original module's `Exchange` and its convenient
/// variant in one:
///
/// - **watching channels**: [`add`](Self::add) channels, then ask which are
///   [`ready`](Self::ready) to be read; channels whose processes have ended
///   are removed by themselves (closed and reaped with
///   [`autoclose`](Self::autoclose), the default) and listed in
///   [`removed`](Self::removed);
/// - **running work**: [`start`](Self::start) runs a closure in a new
///   process; beyond the [`limit`](Self::limit) the work is queued and
///   `start` returns at once; it starts as running processes end.
///   [`manage`](Self::manage) wraps a function so each call starts it.
/// - **storing results**: with a [`Handler`], [`store`](Self::store) waits
///   for messages and hands each to the handler; [`finish`](Self::finish)
///   does that until every task is done.
///
/// Work given to an exchange may borrow from the caller (the `'env`
/// lifetime): the created process is a copy of the creator and already has
/// the borrowed data.
///
/// Dropping an exchange kills and reaps the processes still running and
/// drops the work still queued.
///
/// ```
/// use pprocess::Exchange;
///
/// let words = ["alpha", "beta", "gamma"];
/// let mut lengths = vec![0usize; words.len()];
/// let mut exchange = Exchange::with_handler(|channel: &mut pprocess::Channel, task: usize| {
///     lengths[task] = channel.receive()?;
///     Ok(())
/// })
/// .limit(2);
/// for word in &words {
///     exchange.start(move |channel| channel.send(&word.len()));
/// }
/// exchange.finish()?;
/// drop(exchange);
/// assert_eq!(lengths, [5, 4, 5]);
/// # Ok::<(), pprocess::Error>(())
/// ```
pub struct Exchange<'env, H = ()> {
    handler: H,
    slots: Vec<Slot<'env>>,
    /// Processes whose task is done (answered, or failed and reported)
    /// but which run on after closing their channel: no longer counted
    /// against the limit, reaped once they end, killed at their deadline
    /// or when the exchange is dropped (as every channel's process is).
    lingering: Vec<Slot<'env>>,
    waiting: VecDeque<Work<'env>>,
    /// Failures found outside a handler call, not yet reported.
    failures: VecDeque<(usize, Error)>,
    /// What serving processes sent and how they ended, for the engine that
    /// started them (see `serving.rs`); never given to the handler.
    served: VecDeque<(ServerId, Served)>,
    removed: Vec<Channel>,
    limit: Option<usize>,
    autoclose: bool,
    continuous: bool,
    reuse: bool,
    timeout: Option<Duration>,
    next_task: usize,
    /// How many serving processes were started (the next one's number).
    servers: usize,
    /// A process could not be started for want of resources while others
    /// ran: no more is started until one of them has ended.
    short: bool,
    scratch: Scratch,
    /// Work made only when there is room to run it: the inputs of a
    /// `Map::pmap` not yet started, each a task numbered as it starts.
    /// Kept as inputs rather than queued jobs, they cost the creator no
    /// memory, and every page the creator has makes each fork dearer.
    source: Option<Source<'env>>,
}

/// Buffers the exchange's wait for messages reuses from one wait to the
/// next, so that waiting allocates nothing once they have grown.
#[derive(Default)]
struct Scratch {
    /// Indices of the slots found ready.
    ready: Vec<usize>,
    /// Indices of the slots whose sockets (or, lingering, whose process
    /// descriptors) are in `poll`, in order.
    watched: Vec<usize>,
    poll: sys::PollSet,
    /// Process descriptors of the lingering slots in `poll`, for one wait.
    pidfds: Vec<OwnedFd>,
}

/// How long a wait sleeps at most while a lingering process cannot be
/// watched through a descriptor (a system without pidfds).
const LINGER_POLL: Duration = Duration::from_millis(10);

impl<'env> Exchange<'env, ()> {
    /// An exchange without a handler: use [`ready`](Self::ready) and receive
    /// from the channels yourself.
    ///
    /// ```
    /// let mut exchange = pprocess::Exchange::new();
    /// exchange.start(|channel| channel.send(&7u8));
    /// let mut got = Vec::new();
    /// while exchange.unfinished() {
    ///     for channel in exchange.ready(None)? {
    ///         got.push(channel.receive::<u8>()?);
    ///     }
    /// }
    /// assert_eq!(got, [7]);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn new() -> Self {
        Exchange::with_handler(())
    }
}

impl Default for Exchange<'_, ()> {
    fn default() -> Self {
        Exchange::new()
    }
}

impl<'env, H> Exchange<'env, H> {
    /// An exchange whose [`store`](Self::store) hands what arrives to
    /// `handler`. No limit, `autoclose` on, no reuse, not continuous.
    ///
    /// ```
    /// let mut total = 0u64;
    /// let mut exchange = pprocess::Exchange::with_handler(
    ///     |channel: &mut pprocess::Channel, _task: usize| {
    ///         total += channel.receive::<u64>()?;
    ///         Ok(())
    ///     },
    /// );
    /// exchange.start(|channel| channel.send(&40u64));
    /// exchange.start(|channel| channel.send(&2u64));
    /// exchange.finish()?;
    /// drop(exchange);
    /// assert_eq!(total, 42);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn with_handler(handler: H) -> Self {
        crate::process::threads::warn_if_threaded();
        Exchange {
            handler,
            slots: Vec::new(),
            lingering: Vec::new(),
            waiting: VecDeque::new(),
            failures: VecDeque::new(),
            served: VecDeque::new(),
            removed: Vec::new(),
            limit: None,
            autoclose: true,
            continuous: false,
            reuse: false,
            timeout: None,
            next_task: 0,
            servers: 0,
            short: false,
            scratch: Scratch::default(),
            source: None,
        }
    }

    /// Runs at most `processes` processes at once (at least 1); further
    /// work waits in a queue. Without a limit every `start` forks at once.
    ///
    /// ```
    /// let exchange = pprocess::Exchange::new().limit(4);
    /// assert!(!exchange.busy());
    /// ```
    pub fn limit(mut self, processes: usize) -> Self {
        self.limit = Some(processes.max(1));
        self
    }

    /// Whether channels of ended processes are closed and their processes
    /// reaped when they are removed (default `true`). With `false`, removed
    /// channels are left to you in [`removed`](Self::removed).
    ///
    /// ```
    /// let exchange = pprocess::Exchange::new().autoclose(false);
    /// # drop(exchange);
    /// ```
    pub fn autoclose(mut self, autoclose: bool) -> Self {
        self.autoclose = autoclose;
        self
    }

    /// Whether processes send many messages each (default `false`: one
    /// result each). A continuous process's channel stays until the process
    /// ends; a continuous process that dies from a signal or exits with a
    /// non-zero code is reported as a failure (with `autoclose`).
    ///
    /// ```
    /// let mut count = 0;
    /// let mut exchange = pprocess::Exchange::with_handler(
    ///     |channel: &mut pprocess::Channel, _task: usize| {
    ///         channel.receive::<u8>()?;
    ///         count += 1;
    ///         Ok(())
    ///     },
    /// )
    /// .continuous(true);
    /// exchange.start(|channel| (0..3u8).try_for_each(|i| channel.send(&i)));
    /// exchange.finish()?;
    /// drop(exchange);
    /// assert_eq!(count, 3);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn continuous(mut self, continuous: bool) -> Self {
        self.continuous = continuous;
        self
    }

    /// Whether processes are reused (default `false`). With reuse, the calls
    /// of a [managed](Self::manage) reusable callable send their arguments to
    /// a process that has finished its previous task instead of forking a
    /// new one; at most [`limit`](Self::limit) processes are ever running,
    /// and each is told to quit when no work is left for it.
    ///
    /// A reused process is sent its next arguments before it answers the
    /// current ones, so it does not wait for its creator between tasks: as
    /// many as cover about 200 microseconds of its work, judged from how
    /// quickly it answers (two for slower tasks, up to 64 for tasks of a few
    /// microseconds). The creator never waits for room in a process's
    /// socket, so large arguments and large results cannot deadlock.
    ///
    /// [`Map::pmap`](crate::Map::pmap) with reuse sends no arguments at
    /// all: its processes take their inputs themselves.
    ///
    /// ```
    /// use pprocess::{Channel, Exchange, MakeReusable};
    ///
    /// let mut pids = Vec::new();
    /// let mut exchange = Exchange::with_handler(|channel: &mut Channel, _task: usize| {
    ///     pids.push(channel.receive::<u32>()?);
    ///     Ok(())
    /// })
    /// .limit(1)
    /// .reuse(true);
    /// let mut whoami = exchange.manage(MakeReusable::new(|_: u8| std::process::id()));
    /// for n in 0..3 {
    ///     whoami.call(n);
    /// }
    /// exchange.finish()?;
    /// drop(exchange);
    /// assert_eq!(pids, [pids[0]; 3]); // one process served all three calls
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn reuse(mut self, reuse: bool) -> Self {
        self.reuse = reuse;
        self
    }

    /// Gives each task at most `timeout` to finish (default: no limit).
    /// A process whose task takes longer is killed and reaped, and the task
    /// fails with [`Error::Timeout`]; the other tasks carry on, and a reused
    /// process that timed out is replaced. The clock starts when the task
    /// starts running (for reused processes, when the previous answer
    /// arrived). The clock covers the whole life of the process: one that
    /// closed its channel (or sent its result) and runs on is killed at
    /// its deadline too, and never holds back other tasks' results.
    /// `Duration::MAX` means no timeout.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let mut map = pprocess::Map::<u8>::new().timeout(Duration::from_millis(200));
    /// map.start(|channel| channel.send(&1u8));
    /// map.start(|_channel| loop { std::thread::park() });
    /// assert_eq!(map.next().unwrap()?, 1);
    /// assert!(matches!(map.next(), Some(Err(pprocess::Error::Timeout { .. }))));
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = (timeout != Duration::MAX).then_some(timeout);
        self
    }

    /// Whether `pmap` and managed reusable callables reuse processes.
    pub(crate) fn reuses(&self) -> bool {
        self.reuse
    }

    /// The handler.
    ///
    /// ```
    /// # use pprocess::{Channel, Handler};
    /// // Adds up the numbers the tasks send.
    /// struct Sum(u64);
    /// # impl Handler for Sum {
    /// #     fn store_data(&mut self, channel: &mut Channel, _task: usize) -> pprocess::Result<()> {
    /// #         self.0 += channel.receive::<u64>()?;
    /// #         Ok(())
    /// #     }
    /// # }
    ///
    /// let mut exchange = pprocess::Exchange::with_handler(Sum(0));
    /// exchange.start(|channel| channel.send(&5u64));
    /// exchange.finish()?;
    /// assert_eq!(exchange.handler().0, 5);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The handler, mutably.
    ///
    /// ```
    /// # use pprocess::{Channel, Handler};
    /// // Adds up the numbers the tasks send.
    /// struct Sum(u64);
    /// # impl Handler for Sum {
    /// #     fn store_data(&mut self, channel: &mut Channel, _task: usize) -> pprocess::Result<()> {
    /// #         self.0 += channel.receive::<u64>()?;
    /// #         Ok(())
    /// #     }
    /// # }
    ///
    /// let mut exchange = pprocess::Exchange::with_handler(Sum(0));
    /// exchange.handler_mut().0 = 100; // start from 100
    /// exchange.start(|channel| channel.send(&5u64));
    /// exchange.finish()?;
    /// assert_eq!(exchange.handler().0, 105);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn handler_mut(&mut self) -> &mut H {
        &mut self.handler
    }

    /// Consumes the exchange and returns its handler. Processes still
    /// running are killed and reaped.
    ///
    /// ```
    /// # use pprocess::{Channel, Handler};
    /// // Adds up the numbers the tasks send.
    /// struct Sum(u64);
    /// # impl Handler for Sum {
    /// #     fn store_data(&mut self, channel: &mut Channel, _task: usize) -> pprocess::Result<()> {
    /// #         self.0 += channel.receive::<u64>()?;
    /// #         Ok(())
    /// #     }
    /// # }
    ///
    /// let mut exchange = pprocess::Exchange::with_handler(Sum(0));
    /// exchange.start(|channel| channel.send(&2u64));
    /// exchange.start(|channel| channel.send(&3u64));
    /// exchange.finish()?;
    /// assert_eq!(exchange.into_handler().0, 5);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn into_handler(self) -> H {
        self.handler
    }

    /// The number of tasks given to the exchange so far.
    pub(crate) fn tasks(&self) -> usize {
        self.next_task
    }

    fn next_task(&mut self) -> usize {
        self.next_task += 1;
        self.next_task - 1
    }

    /// The kind of slot a process started or added for `task` is.
    fn kind_for(&self, task: usize) -> Kind<'env> {
        if self.continuous {
            Kind::Continuous { task }
        } else {
            Kind::OneShot { task }
        }
    }

    /// Adds a channel to watch, as a new task, and returns its task number.
    /// The limit is not checked: see [`add_wait`](Self::add_wait).
    ///
    /// ```
    /// let mut exchange = pprocess::Exchange::new();
    /// let channel = pprocess::start(|channel| channel.send(&1u8))?;
    /// assert_eq!(exchange.add(channel), 0);
    /// assert_eq!(exchange.active().len(), 1);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn add(&mut self, channel: Channel) -> usize {
        let task = self.next_task();
        let slot = Slot::new(channel, self.kind_for(task), self.timeout);
        self.slots.push(slot);
        task
    }

    /// Takes the channel of process `pid` out of the exchange, if it is
    /// there. Its task is no longer tracked. A reused process leaves with
    /// every task it was sent and has not answered: the handler never
    /// hears of them, and their answers come on the returned channel.
    ///
    /// ```
    /// let mut exchange = pprocess::Exchange::new();
    /// let channel = pprocess::start(|channel| channel.send(&1u8))?;
    /// let pid = channel.pid();
    /// exchange.add(channel);
    /// let mut channel = exchange.remove(pid).unwrap();
    /// assert_eq!(channel.receive::<u8>()?, 1);
    /// assert!(!exchange.unfinished());
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn remove(&mut self, pid: i32) -> Option<Channel> {
        let index = self
            .slots
            .iter()
            .position(|slot| slot.channel.pid() == pid)?;
        Some(self.slots.remove(index).channel)
    }

    /// The channels of the processes running now.
    ///
    /// ```
    /// let mut exchange = pprocess::Exchange::new();
    /// let channel = pprocess::start(|channel| channel.send(&1u8))?;
    /// let pid = channel.pid();
    /// exchange.add(channel);
    /// let pids: Vec<i32> = exchange.active().map(|channel| channel.pid()).collect();
    /// assert_eq!(pids, [pid]);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn active(&self) -> impl ExactSizeIterator<Item = &Channel> {
        self.slots.iter().map(|slot| &slot.channel)
    }

    /// The channels removed by the last [`ready`](Self::ready) (or `store`)
    /// call because their processes had ended; closed and reaped with
    /// `autoclose`.
    ///
    /// ```
    /// let mut exchange = pprocess::Exchange::new();
    /// exchange.start(|channel| channel.send(&1u8));
    /// let pid = exchange.active().next().unwrap().pid();
    /// assert_eq!(exchange.ready(None)?[0].receive::<u8>()?, 1);
    /// // The process has ended and everything it sent is read:
    /// assert!(exchange.ready(None)?.is_empty());
    /// assert_eq!(exchange.removed()[0].pid(), pid);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn removed(&self) -> &[Channel] {
        &self.removed
    }

    /// Takes the removed channels (with `autoclose` off, closing and waiting
    /// for them is then yours).
    ///
    /// ```
    /// let mut exchange = pprocess::Exchange::new().autoclose(false);
    /// exchange.start(|channel| channel.send(&1u8));
    /// assert_eq!(exchange.ready(None)?[0].receive::<u8>()?, 1);
    /// exchange.ready(None)?; // returns once the ended process is removed
    /// let mut removed = exchange.take_removed();
    /// assert!(removed[0].wait()?.success()); // reaping it is ours
    /// assert!(exchange.removed().is_empty());
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn take_removed(&mut self) -> Vec<Channel> {
        std::mem::take(&mut self.removed)
    }

    /// Whether the limit is reached: new work would be queued.
    ///
    /// ```
    /// let mut exchange = pprocess::Exchange::new().limit(1);
    /// assert!(!exchange.busy());
    /// exchange.start(|channel| channel.send(&1u8));
    /// assert!(exchange.busy()); // the next `start` would be queued
    /// ```
    pub fn busy(&self) -> bool {
        let full = self.limit.is_some_and(|limit| self.slots.len() >= limit);
        full || (self.short && self.processes_run())
    }

    /// Whether any process of the exchange runs, lingering ones included:
    /// each holds a process until it is reaped.
    fn processes_run(&self) -> bool {
        !self.slots.is_empty() || !self.lingering.is_empty()
    }

    /// Whether any process is running, any work is queued, or any failure
    /// is not yet reported.
    ///
    /// ```
    /// let mut exchange = pprocess::Exchange::new();
    /// assert!(!exchange.unfinished());
    /// exchange.start(|channel| channel.send(&1u8));
    /// let mut got = Vec::new();
    /// while exchange.unfinished() {
    ///     for channel in exchange.ready(None)? {
    ///         got.push(channel.receive::<u8>()?);
    ///     }
    /// }
    /// assert_eq!(got, [1]);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn unfinished(&self) -> bool {
        !self.slots.is_empty()
            || !self.waiting.is_empty()
            || self.source.is_some()
            || !self.failures.is_empty()
    }

    /// Runs `f` in a new process as a new task, and returns the task number.
    ///
    /// If the limit is reached, the work is queued and `start` returns at
    /// once; it starts when a running process ends. A process that cannot
    /// be created (`EMFILE`, `EAGAIN`) is a failure of that task, like any
    /// other: it reaches the handler's [`store_error`](Handler::store_error)
    /// as an [`Error::Io`] (without a handler, [`ready`](Self::ready) returns
    /// it). The exchange stays usable.
    ///
    /// ```
    /// let mut exchange = pprocess::Exchange::new().limit(1);
    /// assert_eq!(exchange.start(|channel| channel.send(&1u8)), 0);
    /// assert_eq!(exchange.start(|channel| channel.send(&2u8)), 1); // queued
    /// assert_eq!(exchange.active().len(), 1);
    /// ```
    pub fn start<F, R>(&mut self, f: F) -> usize
    where
        F: FnOnce(&mut Channel) -> R + 'env,
        R: Termination,
    {
        // Work given now comes after the inputs still waiting in the source.
        while self.take_from_source() {}
        let task = self.next_task();
        let job = job(|channel| f(channel).report());
        self.submit(Work::Fork { task, job });
        task
    }

    /// Starts `work`, or queues it if there is no room (or work given
    /// before still waits).
    fn submit(&mut self, work: Work<'env>) {
        if self.busy() || !self.waiting.is_empty() {
            match work {
                Work::Message {
                    task,
                    payload,
                    worker,
                } => self.send_or_queue(task, payload, worker),
                work => self.waiting.push_back(work),
            }
        } else {
            self.launch(work);
        }
    }

    /// Wraps `callable` so that each [`call`](Managed::call) starts it on
    /// this exchange as a new task (queued beyond the limit, sent to a reused
    /// process with [`reuse`](Self::reuse)).
    ///
    /// ```
    /// use pprocess::{Channel, Exchange};
    ///
    /// let mut sums = Vec::new();
    /// let mut exchange = Exchange::with_handler(|channel: &mut Channel, _task: usize| {
    ///     sums.push(channel.receive::<u32>()?);
    ///     Ok(())
    /// })
    /// .limit(2);
    /// let mut add = exchange.manage(|channel: &mut Channel, (a, b): (u32, u32)| channel.send(&(a + b)));
    /// add.call((1, 2));
    /// add.call((3, 4));
    /// exchange.finish()?;
    /// drop(exchange);
    /// sums.sort();
    /// assert_eq!(sums, [3, 7]);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn manage<C>(&mut self, callable: C) -> Managed<'_, 'env, H, C> {
        Managed::new(self, callable)
    }

    /// Which channels have a message (or a failure) to receive, waiting up
    /// to `timeout` (`None`: until one has, or until no process is left).
    ///
    /// Channels whose processes have ended and whose messages have all been
    /// read are removed (see [`removed`](Self::removed)), and queued work is
    /// started in the room they leave. A process that ended without sending
    /// anything is returned as ready: receiving from it returns the error
    /// that says why. Returns an error if queued work could not be started.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let mut exchange = pprocess::Exchange::new();
    /// exchange.start(|_channel| loop { std::thread::park() }); // never sends
    /// assert!(exchange.ready(Some(Duration::from_millis(10)))?.is_empty());
    /// exchange.start(|channel| channel.send(&7u8));
    /// let mut ready = exchange.ready(None)?;
    /// assert_eq!(ready.len(), 1);
    /// assert_eq!(ready[0].receive::<u8>()?, 7);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn ready(&mut self, timeout: Option<Duration>) -> Result<Vec<&mut Channel>> {
        self.wait_ready(timeout)?;
        if let Some((_, error)) = self.failures.pop_front() {
            return Err(error);
        }
        let ready = &self.scratch.ready;
        Ok(self
            .slots
            .iter_mut()
            .enumerate()
            .filter(|(index, _)| ready.contains(index))
            .map(|(_, slot)| &mut slot.channel)
            .collect())
    }

    /// Waits up to `timeout` for a slot to be ready, and leaves the indices
    /// of the ready slots in `scratch.ready`.
    fn wait_ready(&mut self, timeout: Option<Duration>) -> Result<()> {
        self.removed.clear();
        let deadline = deadline_after(timeout);
        // Even a timeout that has passed (or is zero) polls once: a
        // message already in a socket is ready.
        let mut polled = false;
        loop {
            self.expire();
            self.sweep();
            // Arguments waiting for room go out now, even if some slot is
            // ready and this returns without polling.
            for index in 0..self.slots.len() {
                if self.slots[index].channel.has_unsent() {
                    self.flush_slot(index);
                }
            }
            let mut ready = std::mem::take(&mut self.scratch.ready);
            ready.clear();
            ready.extend(
                (0..self.slots.len())
                    .filter(|&index| self.slots[index].state() == SlotState::Ready),
            );
            let found = !ready.is_empty();
            self.scratch.ready = ready;
            let expired = polled && deadline.is_some_and(|deadline| Instant::now() >= deadline);
            // A removed process freed room: callers waiting for room (not
            // for a message) must see it now, as the original module's
            // `ready` returned on a hang-up.
            let freed = !self.removed.is_empty();
            if found
                || (self.slots.is_empty() && self.lingering.is_empty())
                || expired
                || freed
                || !self.failures.is_empty()
                || !self.served.is_empty()
            {
                return Ok(());
            }
            self.poll_slots(deadline)?;
            polled = true;
        }
    }

    /// Waits, at most until `deadline` or the earliest task deadline, for
    /// a running slot's socket to be readable (or writable, with arguments
    /// queued) or a lingering slot's process to end, then reads once from
    /// each readable socket.
    fn poll_slots(&mut self, deadline: Option<Instant>) -> Result<()> {
        let Scratch {
            watched,
            poll,
            pidfds,
            ..
        } = &mut self.scratch;
        watched.clear();
        poll.clear();
        let (mut unwatched, mut changed) = (false, false);
        for index in 0..self.slots.len() {
            let slot = &mut self.slots[index];
            match slot.state() {
                SlotState::Running => {
                    if let Some(socket) = slot.channel.socket() {
                        watched.push(index);
                        poll.add(socket, slot.channel.has_unsent());
                    }
                }
                SlotState::Lingering => {
                    let pid = slot.channel.pid();
                    match fork::open_tracked(|| sys::pidfd_open(pid)) {
                        Ok(pidfd) => {
                            watched.push(index);
                            poll.add(pidfd.as_fd(), false);
                            pidfds.push(pidfd);
                        }
                        Err(_) => unwatched = true,
                    }
                }
                // Its process ended since the caller looked: look again
                // at once.
                SlotState::Ready | SlotState::Ended => changed = true,
            }
        }
        // Processes set aside are watched too: a wait with nothing else to
        // wait for returns once they have ended and been removed.
        for slot in &self.lingering {
            let pid = slot.channel.pid();
            match fork::open_tracked(|| sys::pidfd_open(pid)) {
                Ok(pidfd) => {
                    poll.add(pidfd.as_fd(), false);
                    pidfds.push(pidfd);
                }
                Err(_) => unwatched = true,
            }
        }
        let next_deadline = self
            .slots
            .iter()
            .chain(&self.lingering)
            .filter_map(|slot| slot.deadline)
            .min();
        let mut wake = [deadline, next_deadline].into_iter().flatten().min();
        let now = Instant::now();
        if unwatched {
            // What only a later look can see.
            wake = Some(wake.map_or(now + LINGER_POLL, |wake| wake.min(now + LINGER_POLL)));
        }
        if changed {
            wake = Some(now);
        }
        let left = wake.map(|wake| wake.saturating_duration_since(now));
        let polled = self.scratch.poll.wait(left);
        // The pidfds are for this wait: slots move between waits.
        for pidfd in self.scratch.pidfds.drain(..) {
            fork::close_channel(pidfd);
        }
        polled.map_err(|error| Error::io("poll", error))?;
        for position in 0..self.scratch.watched.len() {
            let index = self.scratch.watched[position];
            let ready = self.scratch.poll.readiness(position);
            if ready.writable {
                self.flush_slot(index);
            }
            let slot = &mut self.slots[index];
            if !ready.readable || slot.channel.event() != Event::Nothing {
                // A lingering slot's process ended: its state says so.
                continue;
            }
            if let Err(error) = slot.channel.fill() {
                // A socket that cannot be read is as good as ended.
                slot.channel.shut_down(true);
                if slot.owes() {
                    self.fail_slot(index, error);
                }
            }
        }
        Ok(())
    }

    /// Removes ended slots, sets aside those whose process runs on though
    /// nothing more can come from it, reaps those set aside that have
    /// ended, and starts queued work in the room they leave.
    fn sweep(&mut self) {
        let mut index = 0;
        while index < self.slots.len() {
            let slot = &mut self.slots[index];
            let state = slot.state();
            let done = state == SlotState::Lingering && !slot.owes() && !slot.reports_end();
            if state == SlotState::Ended {
                let slot = self.slots.remove(index);
                self.retire(slot);
            } else if done {
                let mut slot = self.slots.remove(index);
                self.short = false;
                if self.autoclose {
                    // Nothing more can come from it: its descriptor is
                    // free for the next process.
                    slot.channel.close();
                    self.lingering.push(slot);
                } else {
                    // Reaping it is the caller's.
                    self.retire(slot);
                }
            } else {
                index += 1;
            }
        }
        let mut index = 0;
        while index < self.lingering.len() {
            if self.lingering[index].channel.process_ended() {
                let slot = self.lingering.remove(index);
                self.retire(slot);
            } else {
                index += 1;
            }
        }
        while !self.busy() {
            if self.waiting.is_empty() && !self.take_from_source() {
                break;
            }
            let Some(work) = self.waiting.pop_front() else {
                break;
            };
            self.launch(work);
        }
    }

    /// Makes a task of each of `jobs`, in order, as there is room to run
    /// it (after the work already given), and starts what fits now.
    pub(crate) fn start_each<J>(&mut self, jobs: impl Iterator<Item = J> + 'env)
    where
        J: FnOnce(&mut Channel) -> ExitCode + 'env,
    {
        let jobs = jobs.map(job);
        self.source = Some(match self.source.take() {
            Some(earlier) => Box::new(earlier.chain(jobs)),
            None => Box::new(jobs),
        });
        self.sweep();
    }

    /// The next job of the source, if any; forgets an exhausted source.
    fn pull_source(&mut self) -> Option<Job<'env>> {
        let job = self.source.as_mut()?.next();
        if job.is_none() {
            self.source = None;
        }
        job
    }

    /// Gives the next job of the source a task number now, queuing it
    /// (used to reach a task that has not started yet). Returns whether
    /// there was one.
    pub(crate) fn take_from_source(&mut self) -> bool {
        let Some(job) = self.pull_source() else {
            return false;
        };
        let task = self.next_task();
        self.waiting.push_back(Work::Fork { task, job });
        true
    }

    /// Bounds on the number of tasks the source has still to give.
    pub(crate) fn source_size_hint(&self) -> (usize, Option<usize>) {
        self.source
            .as_ref()
            .map_or((0, Some(0)), |source| source.size_hint())
    }

    /// Moves an ended slot's channel to `removed`, closing and reaping it
    /// with autoclose, and reports the end of a process whose end is
    /// reported (a continuous one's if it ended badly, a serving one's
    /// always).
    fn retire(&mut self, mut slot: Slot<'env>) {
        // A process ended: whatever was short may be there again.
        self.short = false;
        if self.autoclose {
            slot.channel.shut_down(false);
            if slot.reports_end() {
                let failure = slot.channel.exit_failure();
                let failure = failure.map(|error| self.timeout_error(&slot, error));
                match (slot.server(), slot.current_task()) {
                    (Some(server), _) => {
                        let pid = slot.channel.pid();
                        self.served
                            .push_back((server, Served::End { pid, failure }));
                    }
                    (None, Some(task)) => {
                        if let Some(error) = failure {
                            self.failures.push_back((task, error));
                        }
                    }
                    (None, None) => {}
                }
            }
        }
        self.removed.push(slot.channel);
    }

    /// Starts `work` now, in a new process. A start that fails for want of
    /// resources while other processes of the exchange run puts the work
    /// back at the front of the queue until one has ended; any other
    /// failure is the task's.
    fn launch(&mut self, work: Work<'env>) {
        let outcome = match work {
            Work::Fork { task, job } => self.launch_job(job, self.kind_for(task)),
            Work::Serve {
                server,
                job,
                answers_waiting,
            } => self.launch_job(
                job,
                Kind::Serving {
                    server,
                    answers_waiting,
                },
            ),
            Work::Message {
                task,
                payload,
                worker,
            } => self.launch_reused(task, payload, worker),
        };
        let Err((work, error)) = outcome else {
            return;
        };
        if is_shortage(&error) && self.processes_run() {
            self.short = true;
            self.waiting.push_front(work);
            return;
        }
        match (work.task(), work) {
            (Some(task), _) => self.failures.push_back((task, error)),
            (None, Work::Serve { server, .. }) => {
                let failure = Some(error);
                self.served
                    .push_back((server, Served::End { pid: 0, failure }));
            }
            (None, _) => {}
        }
    }

    /// Runs `job` in a new process, a slot of `kind`; on failure, gives
    /// the work back with the error.
    fn launch_job(
        &mut self,
        mut job: Job<'env>,
        kind: Kind<'env>,
    ) -> std::result::Result<(), (Work<'env>, Error)> {
        // The created process calls the job through a reference and ends
        // right after: it never frees the job (see `Job`).
        let run = &mut job;
        match process::start(move |channel: &mut Channel| run(channel)) {
            Ok(channel) => {
                let slot = Slot::new(channel, kind, self.timeout);
                self.slots.push(slot);
                Ok(())
            }
            Err(error) => Err((work_of(kind, job), error)),
        }
    }

    /// Marks the process in slot `index` as failed with `error`, and
    /// reports the failure where it belongs: to the task it owed, or to
    /// the engine for a serving process. Tasks sent to a reused process
    /// after the failed one never ran: they go back to the front of the
    /// queue for another process.
    fn fail_slot(&mut self, index: usize, error: Error) {
        let slot = &mut self.slots[index];
        let task = slot.current_task();
        let server = slot.server();
        let pid = slot.channel.pid();
        slot.failed = true;
        slot.restart_clock(None);
        self.requeue_unanswered(index);
        match (server, task) {
            (Some(server), _) => {
                let failure = Some(error);
                self.served
                    .push_back((server, Served::End { pid, failure }));
            }
            (None, Some(task)) => self.failures.push_back((task, error)),
            (None, None) => {}
        }
    }

    /// Kills the processes whose clock ran out; the tasks they owed fail
    /// with [`Error::Timeout`].
    fn expire(&mut self) {
        let now = Instant::now();
        for slot in &mut self.lingering {
            if slot.deadline.is_some_and(|deadline| deadline <= now) {
                slot.deadline = None;
                slot.channel.kill();
            }
        }
        for index in 0..self.slots.len() {
            let slot = &mut self.slots[index];
            if slot.deadline.is_none_or(|deadline| deadline > now) {
                continue;
            }
            // What the process sent before now counts: if the answer it
            // owes (or its end) is already there, it was not late, and the
            // usual path takes it.
            slot.channel.read_available();
            if slot.owes() && slot.state() == SlotState::Ready {
                continue;
            }
            // A serving process that answered since its clock started (on
            // its channel or elsewhere) was not late: its clock starts
            // again.
            if let Kind::Serving {
                answers_waiting, ..
            } = &slot.kind
            {
                if slot.channel.event() == Event::Message || answers_waiting() {
                    slot.restart_clock(self.timeout);
                    continue;
                }
            }
            slot.deadline = None;
            if slot.reports_end() {
                // Its messages so far are still received; its end is
                // reported as the timeout.
                slot.timed_out = slot.channel.kill();
                continue;
            }
            let owed = slot.owes();
            let pid = slot.channel.pid();
            slot.channel.shut_down(true);
            if owed {
                let error = Error::Timeout {
                    pid,
                    after: self.timeout.unwrap_or_default(),
                };
                self.fail_slot(index, error);
            }
        }
    }

    /// How a process that ended badly is reported: as [`Error::Timeout`]
    /// if the exchange killed it for running out of time.
    fn timeout_error(&self, slot: &Slot<'env>, error: Error) -> Error {
        match error {
            Error::Died { pid, .. } if slot.timed_out => Error::Timeout {
                pid,
                after: self.timeout.unwrap_or_default(),
            },
            error => error,
        }
    }
}

/// The work that starts a process of `kind` running `job` (to start it
/// again later).
fn work_of<'env>(kind: Kind<'env>, job: Job<'env>) -> Work<'env> {
    match kind {
        Kind::OneShot { task } | Kind::Continuous { task } => Work::Fork { task, job },
        Kind::Serving {
            server,
            answers_waiting,
        } => Work::Serve {
            server,
            job,
            answers_waiting,
        },
        Kind::Reused { .. } => unreachable!("reused processes start from their arguments"),
    }
}

/// Whether a failure to start a process is a passing want of resources
/// (processes, descriptors, memory), that a process ending may cure.
fn is_shortage(error: &Error) -> bool {
    let Error::Io { source, .. } = error else {
        return false;
    };
    matches!(
        source.raw_os_error(),
        Some(nix::libc::EAGAIN | nix::libc::EMFILE | nix::libc::ENFILE | nix::libc::ENOMEM)
    )
}

impl<'env, H: Handler> Exchange<'env, H> {
    /// Waits up to `timeout` for messages and hands each ready one to the
    /// handler: [`store_data`](Handler::store_data) for a message,
    /// [`store_error`](Handler::store_error) for a failed task. Returns the
    /// first error a handler returns; the exchange stays usable.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let mut got = None;
    /// let mut exchange = pprocess::Exchange::with_handler(
    ///     |channel: &mut pprocess::Channel, _task: usize| {
    ///         got = Some(channel.receive::<char>()?);
    ///         Ok(())
    ///     },
    /// );
    /// exchange.start(|channel| channel.send(&'x'));
    /// while exchange.unfinished() {
    ///     exchange.store(Some(Duration::from_millis(100)))?;
    /// }
    /// drop(exchange);
    /// assert_eq!(got, Some('x'));
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn store(&mut self, timeout: Option<Duration>) -> Result<()> {
        self.wait_ready(timeout)?;
        let mut outcome = self.report_failures();
        let ready = std::mem::take(&mut self.scratch.ready);
        for &index in &ready {
            let result = self.store_slot(index);
            if outcome.is_ok() {
                outcome = result;
            }
        }
        self.scratch.ready = ready;
        self.sweep();
        match outcome {
            Ok(()) => self.report_failures(),
            error => error,
        }
    }

    fn report_failures(&mut self) -> Result<()> {
        while let Some((task, error)) = self.failures.pop_front() {
            self.handler.store_error(task, error)?;
        }
        Ok(())
    }

    /// Hands what is ready in slot `index` to the handler (to the served
    /// events for a serving process), then does the slot's bookkeeping.
    fn store_slot(&mut self, index: usize) -> Result<()> {
        let slot = &mut self.slots[index];
        if slot.channel.event() != Event::Message {
            // A failure: a panic report, garbage, or an end without the result.
            let error = slot.channel.take_failure();
            let error = self.timeout_error(&self.slots[index], error);
            self.fail_slot(index, error);
            return self.report_failures();
        }
        match &slot.kind {
            Kind::OneShot { task } | Kind::Continuous { task } => {
                let task = *task;
                self.handler.store_data(&mut slot.channel, task)
            }
            Kind::Serving { server, .. } => {
                let server = *server;
                let message = slot.channel.receive_bytes();
                slot.restart_clock(self.timeout);
                self.served.push_back((server, Served::Message(message)));
                Ok(())
            }
            Kind::Reused { .. } => self.store_answer(index),
        }
    }

    /// Waits until the exchange is not [`busy`](Self::busy), storing what
    /// arrives meanwhile.
    ///
    /// ```
    /// let mut got = Vec::new();
    /// let mut exchange = pprocess::Exchange::with_handler(
    ///     |channel: &mut pprocess::Channel, _task: usize| {
    ///         got.push(channel.receive::<u8>()?);
    ///         Ok(())
    ///     },
    /// )
    /// .limit(1);
    /// exchange.start(|channel| channel.send(&1u8));
    /// assert!(exchange.busy());
    /// exchange.wait()?;
    /// assert!(!exchange.busy());
    /// drop(exchange);
    /// assert_eq!(got, [1]); // stored while waiting
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn wait(&mut self) -> Result<()> {
        while self.busy() {
            self.store(None)?;
        }
        Ok(())
    }

    /// Stores what arrives until every process has ended, all queued work
    /// has run, and every failure has been reported.
    ///
    /// ```
    /// let mut count = 0;
    /// let mut exchange = pprocess::Exchange::with_handler(
    ///     |channel: &mut pprocess::Channel, _task: usize| {
    ///         channel.receive::<u8>()?;
    ///         count += 1;
    ///         Ok(())
    ///     },
    /// )
    /// .limit(2);
    /// for i in 0..5u8 {
    ///     exchange.start(move |channel| channel.send(&i)); // three are queued
    /// }
    /// exchange.finish()?;
    /// assert!(!exchange.unfinished());
    /// drop(exchange);
    /// assert_eq!(count, 5);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn finish(&mut self) -> Result<()> {
        while self.unfinished() {
            self.store(None)?;
        }
        Ok(())
    }

    /// Adds `channel` as a new task once there is room under the limit
    /// (storing what arrives meanwhile), and returns its task number.
    ///
    /// ```
    /// let mut got = Vec::new();
    /// let mut exchange = pprocess::Exchange::with_handler(
    ///     |channel: &mut pprocess::Channel, _task: usize| {
    ///         got.push(channel.receive::<u8>()?);
    ///         Ok(())
    ///     },
    /// )
    /// .limit(1);
    /// for i in 0..3u8 {
    ///     let channel = pprocess::start(move |channel| channel.send(&i))?;
    ///     assert_eq!(exchange.add_wait(channel)?, usize::from(i));
    ///     assert_eq!(exchange.active().len(), 1); // never more than the limit
    /// }
    /// exchange.finish()?;
    /// drop(exchange);
    /// assert_eq!(got, [0, 1, 2]);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn add_wait(&mut self, channel: Channel) -> Result<usize> {
        self.wait()?;
        Ok(self.add(channel))
    }

    /// Creates a process, fork-style, once there is room under the limit.
    /// In the creator, the new channel joins the exchange and `None` is
    /// returned; in the created process, its channel is returned: send on
    /// it, then end with [`exit`](crate::exit).
    ///
    /// ```
    /// let mut got = Vec::new();
    /// let mut exchange = pprocess::Exchange::with_handler(
    ///     |channel: &mut pprocess::Channel, _task: usize| {
    ///         got.push(channel.receive::<u8>()?);
    ///         Ok(())
    ///     },
    /// )
    /// .limit(1);
    /// for i in 0..3u8 {
    ///     if let Some(mut channel) = exchange.create()? {
    ///         channel.send(&i)?;
    ///         pprocess::exit(channel);
    ///     }
    /// }
    /// exchange.finish()?;
    /// drop(exchange);
    /// assert_eq!(got, [0, 1, 2]);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn create(&mut self) -> Result<Option<Channel>> {
        self.wait()?;
        match process::create()? {
            Fork::Parent(channel) => {
                self.add(channel);
                Ok(None)
            }
            Fork::Child(channel) => Ok(Some(channel)),
        }
    }
}

impl<H> fmt::Debug for Exchange<'_, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exchange")
            .field("active", &self.slots.len())
            .field("waiting", &self.waiting.len())
            .field("limit", &self.limit)
            .field("autoclose", &self.autoclose)
            .field("continuous", &self.continuous)
            .field("reuse", &self.reuse)
            .finish_non_exhaustive()
    }
}
