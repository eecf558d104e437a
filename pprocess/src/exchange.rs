//! [`Exchange`]: many channels watched at once with `poll`, a limit on how
//! many processes run, a queue of work waiting for room, and the
//! [`Handler`] that stores what arrives.
//!
//! Everything here runs in the creator. A channel stays in the exchange
//! until its process has closed its end *and* everything it sent has been
//! read, so a result sent just before exiting is never lost; only then is
//! the channel removed (closed and reaped with `autoclose`).

use std::collections::VecDeque;
use std::fmt;
use std::process::{ExitCode, Termination};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::channel::{Channel, Event};
use crate::codec;
use crate::error::{Error, Result};
use crate::managed::Managed;
use crate::pipeline::Pipeline;
use crate::process::{self, Fork};
use crate::sys;

/// Stores what the processes of an [`Exchange`] send: the `store_data` of
/// the original module's convenient exchanges.
///
/// [`Exchange::store`] (and `wait`, `finish`) call `store_data` once per
/// message that arrives, and `store_error` once per task that failed.
/// `task` is the task's number: tasks are numbered from 0 in the order they
/// were given to the exchange (`start`, `add`, `create`, managed calls).
///
/// A closure `FnMut(&mut Channel, usize) -> Result<()>` is a handler too.
///
/// ```
/// use pprocess::{Channel, Exchange, Handler};
///
/// struct Squares(Vec<u64>);
///
/// impl Handler for Squares {
///     fn store_data(&mut self, channel: &mut Channel, _task: usize) -> pprocess::Result<()> {
///         self.0.push(channel.receive()?);
///         Ok(())
///     }
/// }
///
/// let mut exchange = Exchange::with_handler(Squares(Vec::new())).limit(2);
/// for i in 0..5u64 {
///     exchange.start(move |channel| channel.send(&(i * i)));
/// }
/// exchange.finish()?;
/// let mut squares = exchange.into_handler().0;
/// squares.sort();
/// assert_eq!(squares, [0, 1, 4, 9, 16]);
/// # Ok::<(), pprocess::Error>(())
/// ```
pub trait Handler {
    /// A message from task `task` is waiting on `channel`: receive it (once).
    fn store_data(&mut self, channel: &mut Channel, task: usize) -> Result<()>;

    /// Task `task` failed: its process panicked, died, ended without
    /// sending, sent garbage, or could not be started. By default the error
    /// is returned from [`Exchange::store`]; the exchange stays usable.
    fn store_error(&mut self, task: usize, error: Error) -> Result<()> {
        let _ = task;
        Err(error)
    }
}

impl<F> Handler for F
where
    F: FnMut(&mut Channel, usize) -> Result<()>,
{
    fn store_data(&mut self, channel: &mut Channel, task: usize) -> Result<()> {
        self(channel, task)
    }
}

/// Code to run in a new process, once. A boxed `FnMut` rather than a
/// boxed `FnOnce`: calling a boxed `FnOnce` frees the box, and every heap
/// page a created process writes is one the fork made copy-on-write. The
/// created process calls the job through the box and never frees it.
type Job<'env> = Box<dyn FnMut(&mut Channel) -> ExitCode + 'env>;

fn job<'env>(f: impl FnOnce(&mut Channel) -> ExitCode + 'env) -> Job<'env> {
    let mut f = Some(f);
    Box::new(move |channel| f.take().map_or(ExitCode::FAILURE, |f| f(channel)))
}

/// The loop a reused process runs: receive arguments, answer, repeat.
pub(crate) type Worker<'env> = Rc<dyn Fn(&mut Channel) -> ExitCode + 'env>;

/// Whether a serving process has left answers that the creator has not
/// taken, elsewhere than on its channel.
pub(crate) type AnswersWaiting<'env> = Box<dyn Fn() -> bool + 'env>;

/// When a task starting now runs out of `timeout`, if one is set.
fn deadline_after(timeout: Option<Duration>) -> Option<Instant> {
    timeout.map(|timeout| Instant::now() + timeout)
}

/// Work that waits for room under the limit.
enum Work<'env> {
    /// Run in a new process.
    Fork(Job<'env>),
    /// Run in a new process that takes its tasks itself (from a
    /// [`Board`](crate::board::Board)) and answers each, on its channel or
    /// elsewhere (`answers_waiting` says whether answers wait there).
    Serve {
        job: Job<'env>,
        answers_waiting: AnswersWaiting<'env>,
    },
    /// Send these encoded arguments to a reused process running `worker`
    /// (a new one if none is free).
    Message {
        payload: Vec<u8>,
        worker: Worker<'env>,
    },
}

struct Waiting<'env> {
    task: usize,
    work: Work<'env>,
}

/// A task sent to a reused process and not yet answered.
struct InFlight {
    task: usize,
    payload: Vec<u8>,
}

/// One running process of the exchange.
struct Slot<'env> {
    channel: Channel,
    /// The task the process was created for (for reused processes, the
    /// first one).
    task: usize,
    /// For reused processes: the loop it runs, and the tasks sent to it and
    /// not yet answered, oldest first.
    worker: Option<Worker<'env>>,
    in_flight: VecDeque<InFlight>,
    /// For reused processes: how far ahead of its answers it is sent work.
    pipeline: Pipeline,
    /// The process failed or cannot take more work: it is given no more
    /// tasks (for a one-task process: its failure was already reported).
    failed: bool,
    /// When the current task times out (with a timeout set).
    deadline: Option<Instant>,
    /// The process may send any number of messages, none included.
    continuous: bool,
    /// For a process that takes its tasks itself and answers each:
    /// whether answers of it wait elsewhere than on its channel. Every
    /// answer starts the clock of its next task.
    serving: Option<AnswersWaiting<'env>>,
    /// A continuous process killed because it ran out of time: what it
    /// sent before is still received, and its end is reported as
    /// [`Error::Timeout`].
    timed_out: bool,
}

impl<'env> Slot<'env> {
    /// Whether the process still owes the result of a task. A continuous
    /// process owes nothing: it may end without sending (and is reported
    /// only if it ends badly).
    fn owes(&self) -> bool {
        match self.worker {
            Some(_) => !self.in_flight.is_empty(),
            None => !self.continuous && !self.failed && !self.channel.has_answered(),
        }
    }

    /// Whether this is a reused process running `worker`.
    fn runs(&self, worker: &Worker<'env>) -> bool {
        self.worker
            .as_ref()
            .is_some_and(|own| Rc::ptr_eq(own, worker))
    }

    /// The task the next message belongs to.
    fn current_task(&self) -> usize {
        self.in_flight.front().map_or(self.task, |sent| sent.task)
    }

    fn state(&self) -> SlotState {
        match self.channel.event() {
            Event::Message | Event::Failure => SlotState::Ready,
            Event::Nothing => SlotState::Running,
            Event::End if self.owes() => SlotState::Ready,
            Event::End => SlotState::Ended,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SlotState {
    /// Nothing to do until more bytes arrive.
    Running,
    /// A message or a failure is there for the handler.
    Ready,
    /// Done: everything read, nothing owed.
    Ended,
}

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
    waiting: VecDeque<Waiting<'env>>,
    /// Failures found outside a handler call, not yet reported.
    failures: VecDeque<(usize, Error)>,
    removed: Vec<Channel>,
    limit: Option<usize>,
    autoclose: bool,
    continuous: bool,
    reuse: bool,
    timeout: Option<Duration>,
    next_task: usize,
    /// How many serving processes were started (see `start_serving`).
    servers: usize,
    scratch: Scratch,
    /// Work made only when there is room to run it: the inputs of a
    /// `Map::pmap` not yet started, each a task numbered as it starts.
    /// Kept as inputs rather than queued jobs, they cost the creator no
    /// memory, and every page the creator has makes each fork dearer.
    source: Option<Source<'env>>,
}

/// Jobs made on demand, in task order.
type Source<'env> = Box<dyn Iterator<Item = Job<'env>> + 'env>;

/// Buffers the exchange's wait for messages reuses from one wait to the
/// next, so that waiting allocates nothing once they have grown.
#[derive(Default)]
struct Scratch {
    /// Indices of the slots found ready.
    ready: Vec<usize>,
    /// Indices of the slots whose sockets are in `poll`, in order.
    watched: Vec<usize>,
    poll: sys::PollSet,
}

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
        crate::threads::warn_if_threaded();
        Exchange {
            handler,
            slots: Vec::new(),
            waiting: VecDeque::new(),
            failures: VecDeque::new(),
            removed: Vec::new(),
            limit: None,
            autoclose: true,
            continuous: false,
            reuse: false,
            timeout: None,
            next_task: 0,
            servers: 0,
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
    /// arrived).
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
        self.timeout = Some(timeout);
        self
    }

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
        let slot = self.new_slot(channel, task, None);
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
        self.limit.is_some_and(|limit| self.slots.len() >= limit)
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
        self.submit(Work::Fork(job(|channel| f(channel).report())))
    }

    /// Queues encoded arguments for a reused process running `worker`.
    pub(crate) fn start_message(&mut self, payload: Vec<u8>, worker: Worker<'env>) -> usize {
        self.submit(Work::Message { payload, worker })
    }

    /// Runs `f` in a new process that takes its own tasks and answers
    /// each, on its channel or elsewhere (`answers_waiting` says whether
    /// answers wait there): a continuous process whose timeout counts from
    /// its last answer, and whose end is always reported to the handler
    /// (as `Error::NoResult` with code 0 if it exited with 0: the handler
    /// knows whether it held a task). Returns the number the handler knows
    /// the process by: not a task number (counted down from `usize::MAX`),
    /// since the process serves many tasks.
    pub(crate) fn start_serving<F>(&mut self, f: F, answers_waiting: AnswersWaiting<'env>) -> usize
    where
        F: FnOnce(&mut Channel) -> ExitCode + 'env,
    {
        self.servers += 1;
        let server = usize::MAX - self.servers;
        let job = job(f);
        self.submit_as(
            server,
            Work::Serve {
                job,
                answers_waiting,
            },
        );
        server
    }

    /// Whether a serving process is running.
    pub(crate) fn serving(&self) -> bool {
        self.slots.iter().any(|slot| slot.serving.is_some())
    }

    /// Restarts the timeout clock of the serving process known as
    /// `server`: it answered.
    pub(crate) fn answered(&mut self, server: usize) {
        let deadline = deadline_after(self.timeout);
        if let Some(slot) = self.serving_slot(server) {
            slot.deadline = deadline;
        }
    }

    /// Kills the serving process known as `server`; its end is reported
    /// as usual.
    pub(crate) fn kill_server(&mut self, server: usize) {
        if let Some(slot) = self.serving_slot(server) {
            slot.channel.kill();
        }
    }

    /// The slot of the serving process known as `server`, while it runs.
    fn serving_slot(&mut self, server: usize) -> Option<&mut Slot<'env>> {
        self.slots
            .iter_mut()
            .find(|slot| slot.serving.is_some() && slot.task == server)
    }

    /// Gives the next `count` task numbers to tasks that serving processes
    /// will take (after the inputs still waiting in the source), and
    /// returns the first.
    pub(crate) fn reserve_tasks(&mut self, count: usize) -> usize {
        while self.take_from_source() {}
        let first = self.next_task;
        self.next_task += count;
        first
    }

    /// The most processes that run at once, if limited.
    pub(crate) fn process_limit(&self) -> Option<usize> {
        self.limit
    }

    /// Records a task that failed before it could start.
    pub(crate) fn start_failed(&mut self, error: Error) -> usize {
        let task = self.next_task();
        self.failures.push_back((task, error));
        task
    }

    fn submit(&mut self, work: Work<'env>) -> usize {
        // Work given now comes after the inputs still waiting in the source.
        while self.take_from_source() {}
        let task = self.next_task();
        self.submit_as(task, work);
        task
    }

    /// Starts `work` as task `task`, or queues it if there is no room.
    fn submit_as(&mut self, task: usize, work: Work<'env>) {
        if self.busy() || !self.waiting.is_empty() {
            match work {
                Work::Message { payload, worker } => match self.reused_with_room(&worker) {
                    Some(index) => {
                        self.send_task(index, task, payload);
                        self.flush_slot(index);
                    }
                    None => self.waiting.push_back(Waiting {
                        task,
                        work: Work::Message { payload, worker },
                    }),
                },
                work => self.waiting.push_back(Waiting { task, work }),
            }
        } else if let Err(error) = self.launch(task, work) {
            self.failures.push_back((task, error));
        }
    }

    /// A live reused process running `worker` that has room in its
    /// pipeline.
    fn reused_with_room(&self, worker: &Worker<'env>) -> Option<usize> {
        self.slots.iter().position(|slot| {
            !slot.failed && slot.in_flight.len() < slot.pipeline.depth() && slot.runs(worker)
        })
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
            let Scratch {
                ready,
                watched,
                poll,
            } = &mut self.scratch;
            ready.clear();
            ready.extend(
                (0..self.slots.len())
                    .filter(|&index| self.slots[index].state() == SlotState::Ready),
            );
            let expired = polled && deadline.is_some_and(|deadline| Instant::now() >= deadline);
            // A removed process freed room: callers waiting for room (not
            // for a message) must see it now, as the original module's
            // `ready` returned on a hang-up.
            let freed = !self.removed.is_empty();
            if !ready.is_empty()
                || self.slots.is_empty()
                || expired
                || freed
                || !self.failures.is_empty()
            {
                return Ok(());
            }
            watched.clear();
            poll.clear();
            for (index, slot) in self.slots.iter().enumerate() {
                if let (SlotState::Running, Some(socket)) = (slot.state(), slot.channel.socket()) {
                    watched.push(index);
                    poll.add(socket, slot.channel.has_unsent());
                }
            }
            let next_deadline = self.slots.iter().filter_map(|slot| slot.deadline).min();
            let wake = match (deadline, next_deadline) {
                (Some(ours), Some(task)) => Some(ours.min(task)),
                (ours, task) => ours.or(task),
            };
            let left = wake.map(|wake| wake.saturating_duration_since(Instant::now()));
            poll.wait(left).map_err(|error| Error::io("poll", error))?;
            polled = true;
            for position in 0..self.scratch.watched.len() {
                let index = self.scratch.watched[position];
                let ready = self.scratch.poll.readiness(position);
                if ready.writable {
                    self.flush_slot(index);
                }
                if !ready.readable {
                    continue;
                }
                let slot = &mut self.slots[index];
                if let Err(error) = slot.channel.fill() {
                    // A socket that cannot be read is as good as ended.
                    slot.channel.shut_down(true);
                    if slot.owes() {
                        let failure = self.fail_slot(index, error);
                        self.failures.push_back(failure);
                    }
                }
            }
        }
    }

    /// Removes ended slots and starts queued work in the room they leave.
    fn sweep(&mut self) {
        let mut index = 0;
        while index < self.slots.len() {
            if self.slots[index].state() == SlotState::Ended {
                let slot = self.slots.remove(index);
                self.retire(slot);
            } else {
                index += 1;
            }
        }
        while !self.busy() {
            if self.waiting.is_empty() && !self.take_from_source() {
                break;
            }
            let Some(Waiting { task, work }) = self.waiting.pop_front() else {
                break;
            };
            if let Err(error) = self.launch(task, work) {
                self.failures.push_back((task, error));
            }
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
        self.waiting.push_back(Waiting {
            task,
            work: Work::Fork(job),
        });
        true
    }

    /// Bounds on the number of tasks the source has still to give.
    pub(crate) fn source_size_hint(&self) -> (usize, Option<usize>) {
        self.source
            .as_ref()
            .map_or((0, Some(0)), |source| source.size_hint())
    }

    /// Moves an ended slot's channel to `removed`, closing and reaping it
    /// with autoclose, and reports a continuous process that ended badly.
    fn retire(&mut self, mut slot: Slot<'env>) {
        if self.autoclose {
            slot.channel.shut_down(false);
            if slot.continuous && !slot.failed {
                // A serving process's end is always reported: only the
                // handler knows whether it held a task.
                let serving_end = || {
                    slot.serving.as_ref().map(|_| Error::NoResult {
                        pid: slot.channel.pid(),
                        code: 0,
                    })
                };
                if let Some(error) = slot.channel.exit_failure().or_else(serving_end) {
                    let error = self.timeout_error(&slot, error);
                    self.failures.push_back((slot.task, error));
                }
            }
        }
        self.removed.push(slot.channel);
    }

    /// A slot for a process just started or added, under this exchange's
    /// settings.
    fn new_slot(&self, channel: Channel, task: usize, worker: Option<Worker<'env>>) -> Slot<'env> {
        Slot {
            channel,
            task,
            worker,
            in_flight: VecDeque::new(),
            pipeline: Pipeline::default(),
            failed: false,
            deadline: deadline_after(self.timeout),
            continuous: self.continuous,
            serving: None,
            timed_out: false,
        }
    }

    /// Starts `work` now, in a new process.
    fn launch(&mut self, task: usize, work: Work<'env>) -> Result<()> {
        let (mut job, serving) = match work {
            Work::Fork(job) => (job, None),
            Work::Serve {
                job,
                answers_waiting,
            } => (job, Some(answers_waiting)),
            Work::Message { payload, worker } => return self.launch_reused(task, payload, worker),
        };
        let channel = process::start(move |channel: &mut Channel| {
            let code = job(channel);
            // The process ends right after: its memory goes with it.
            std::mem::forget(job);
            code
        })?;
        let mut slot = self.new_slot(channel, task, None);
        slot.continuous |= serving.is_some();
        slot.serving = serving;
        self.slots.push(slot);
        Ok(())
    }

    /// Starts a reused process running `worker` and sends it its first
    /// task's arguments.
    fn launch_reused(&mut self, task: usize, payload: Vec<u8>, worker: Worker<'env>) -> Result<()> {
        let serve = Rc::clone(&worker);
        let channel = process::start(move |channel: &mut Channel| serve(channel))?;
        let slot = self.new_slot(channel, task, Some(worker));
        self.slots.push(slot);
        let index = self.slots.len() - 1;
        self.send_task(index, task, payload);
        if self.slots[index].in_flight.is_empty() {
            // Its arguments could not be queued (the task failed): other
            // work, or the word to quit.
            self.feed_reused(index);
        } else {
            self.flush_slot(index);
        }
        Ok(())
    }

    /// Queues a task's arguments for the reused process in slot `index`
    /// (written by [`flush_slot`](Self::flush_slot)). Arguments that no
    /// process could take (beyond the frame limit) fail the task.
    fn send_task(&mut self, index: usize, task: usize, payload: Vec<u8>) {
        let slot = &mut self.slots[index];
        match slot.channel.queue_encoded(&payload) {
            Ok(()) => {
                if slot.in_flight.is_empty() {
                    slot.deadline = deadline_after(self.timeout);
                }
                slot.in_flight.push_back(InFlight { task, payload });
            }
            Err(error) => self.failures.push_back((task, error)),
        }
    }

    /// Writes what the socket of slot `index` takes now of the arguments
    /// queued for its process, never waiting (the rest goes out when the
    /// socket has room). If that fails (the process closed its end), the
    /// process gets no more work and is killed if still running, so its
    /// end always follows: reading from it says why it ended, and the
    /// tasks it was sent and never answered go back to the queue
    /// ([`fail_slot`](Self::fail_slot)).
    fn flush_slot(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        if slot.channel.flush_unsent().is_err() {
            slot.failed = true;
            slot.channel.kill();
        }
    }

    /// After a reused process in slot `index` answered: tops its pipeline
    /// up with queued arguments for its worker, or tells it to quit when it
    /// has nothing left to do.
    fn feed_reused(&mut self, index: usize) {
        let Some(worker) = self.slots[index].worker.clone() else {
            return;
        };
        let depth = self.slots[index].pipeline.depth();
        while self.slots[index].in_flight.len() < depth && !self.slots[index].failed {
            let next = self.waiting.iter().position(|waiting| {
                matches!(&waiting.work, Work::Message { worker: other, .. } if Rc::ptr_eq(other, &worker))
            });
            match next.and_then(|position| self.waiting.remove(position)) {
                Some(Waiting {
                    task,
                    work: Work::Message { payload, .. },
                }) => self.send_task(index, task, payload),
                _ => break,
            }
        }
        let may_return = self.work_may_return(&worker);
        let slot = &mut self.slots[index];
        if slot.in_flight.is_empty() && !slot.failed && !may_return {
            // `None` tells the reused loop to end: no task may follow it.
            slot.failed = true;
            let mut quit = Vec::new();
            if codec::encode_into(&None::<()>, &mut quit).is_ok() {
                let _ = slot.channel.queue_encoded(&quit);
            }
        }
        self.flush_slot(index);
    }

    /// Whether a process running `worker` holds tasks that would come back
    /// to the queue if it failed (those sent after its current one): until
    /// none does, an idle process of that worker is kept for them rather
    /// than told to quit.
    fn work_may_return(&self, worker: &Worker<'env>) -> bool {
        self.slots
            .iter()
            .any(|slot| slot.in_flight.len() > 1 && slot.runs(worker))
    }

    /// Gives the idle processes running `worker` the work queued for it, or
    /// tells them to quit once no work for them can still come back.
    fn settle(&mut self, worker: &Worker<'env>) {
        for index in 0..self.slots.len() {
            let slot = &self.slots[index];
            if !slot.failed && slot.in_flight.is_empty() && slot.runs(worker) {
                self.feed_reused(index);
            }
        }
    }

    /// Marks the process in slot `index` as failed with `error` and returns
    /// the task the failure belongs to. Tasks sent to a reused process
    /// after the failed one never ran: they go back to the front of the
    /// queue for another process.
    fn fail_slot(&mut self, index: usize, error: Error) -> (usize, Error) {
        let slot = &mut self.slots[index];
        let task = slot.current_task();
        slot.failed = true;
        slot.deadline = None;
        let mut in_flight = std::mem::take(&mut slot.in_flight);
        in_flight.pop_front();
        if let Some(worker) = slot.worker.clone() {
            for InFlight { task, payload } in in_flight.into_iter().rev() {
                self.waiting.push_front(Waiting {
                    task,
                    work: Work::Message {
                        payload,
                        worker: Rc::clone(&worker),
                    },
                });
            }
            self.settle(&worker);
        }
        (task, error)
    }

    /// Kills the processes whose task ran out of time; the tasks they owed
    /// fail with [`Error::Timeout`].
    fn expire(&mut self) {
        let now = Instant::now();
        for index in 0..self.slots.len() {
            let slot = &mut self.slots[index];
            if slot.deadline.is_none_or(|deadline| deadline > now) {
                continue;
            }
            // What the process sent before now counts: if the answer it
            // owes (or its end) is already there, it was not late, and the
            // usual path takes it.
            slot.channel.read_available();
            if slot.owes() && slot.channel.event() != Event::Nothing {
                continue;
            }
            // A serving process that answered since its clock started (on
            // its channel or elsewhere) was not late: its clock starts
            // again.
            let answered_since = |answers_waiting: &AnswersWaiting<'env>| {
                slot.channel.event() == Event::Message || answers_waiting()
            };
            if slot.serving.as_ref().is_some_and(answered_since) {
                slot.deadline = deadline_after(self.timeout);
                continue;
            }
            slot.deadline = None;
            if slot.continuous && !slot.failed {
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
                let failure = self.fail_slot(index, error);
                self.failures.push_back(failure);
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

    /// Hands what is ready in slot `index` to the handler, then does the
    /// slot's bookkeeping.
    fn store_slot(&mut self, index: usize) -> Result<()> {
        let slot = &mut self.slots[index];
        let task = slot.current_task();
        if slot.channel.event() == Event::Message {
            let stored = self.handler.store_data(&mut slot.channel, task);
            if slot.serving.is_some() {
                slot.deadline = deadline_after(self.timeout);
            }
            if let Some(worker) = slot.worker.clone() {
                slot.in_flight.pop_front();
                let more_waiting = !slot.in_flight.is_empty();
                slot.pipeline.answered(Instant::now(), more_waiting);
                if !slot.in_flight.is_empty() {
                    slot.deadline = deadline_after(self.timeout);
                }
                self.feed_reused(index);
                // Fewer tasks are held elsewhere: idle processes may quit.
                self.settle(&worker);
            }
            return stored;
        }
        // A failure: a panic report, garbage, or an end without the result.
        let error = slot.channel.take_failure();
        let error = self.timeout_error(&self.slots[index], error);
        let (task, error) = self.fail_slot(index, error);
        self.handler.store_error(task, error)
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

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// A serving process whose answers wait elsewhere than on its channel
    /// answered in time: its clock starts again rather than run out. Once
    /// nothing waits, it is killed at its timeout and its end reported.
    #[test]
    fn a_serving_process_whose_answers_wait_elsewhere_is_not_late() {
        // The probe is asked at each deadline: it counts them.
        let waiting = Rc::new(Cell::new(true));
        let deadlines = Rc::new(Cell::new(0));
        let (probe, asked) = (Rc::clone(&waiting), Rc::clone(&deadlines));
        let mut exchange = Exchange::with_handler(|_: &mut Channel, _: usize| Ok(()))
            .timeout(Duration::from_millis(50));
        let server = exchange.start_serving(
            |_channel| loop {
                std::thread::park();
            },
            Box::new(move || {
                asked.set(asked.get() + 1);
                probe.get()
            }),
        );
        while deadlines.get() < 5 {
            exchange
                .store(Some(Duration::from_millis(20)))
                .expect("not killed while its answers wait");
        }
        waiting.set(false);
        let give_up = Instant::now() + Duration::from_secs(30);
        let error = loop {
            assert!(Instant::now() < give_up, "never timed out");
            if let Err(error) = exchange.store(Some(Duration::from_millis(20))) {
                break error;
            }
        };
        assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
        assert!(!exchange.serving(), "server {server} is gone");
    }

    /// The end of a serving process is reported even when it exits with
    /// 0: only the handler knows whether it held a task.
    #[test]
    fn the_clean_end_of_a_serving_process_is_reported() {
        let mut exchange = Exchange::with_handler(|_: &mut Channel, _: usize| Ok(()));
        let server = exchange.start_serving(|_channel| ExitCode::SUCCESS, Box::new(|| false));
        let error = exchange.finish().expect_err("its end");
        assert!(
            matches!(error, Error::NoResult { code: 0, .. }),
            "{error:?}"
        );
        assert!(server > usize::MAX / 2, "not a task number");
    }
}
