//! [`PersistentExchange`]: an exchange whose work runs in background
//! processes at addresses, collected over connections that may be made by
//! another run of the program; and [`PersistentManaged`], its managed
//! callables.
//!
//! Nothing here watches channels itself: a connection to a background
//! process is an ordinary [`Channel`] (made by [`connect`]) added to the
//! [`Exchange`] with [`Exchange::add`], so storing results, handlers and
//! failures work as for any exchange.

use std::fmt;
use std::path::Path;
use std::process::Termination;
use std::time::Duration;

use crate::channel::Channel;
use crate::error::Result;
use crate::exchange::callable::Callable;
use crate::exchange::{Exchange, Handler};
use crate::persistent::background::{self, Background};
use crate::persistent::{PersistentChannel, connect};

/// Starts `f` in a background process at `address` and adds the
/// connection to it to `exchange`; returns its task number.
pub(crate) fn start_on<H, F, R>(
    exchange: &mut Exchange<'_, H>,
    address: &Path,
    f: F,
) -> Result<usize>
where
    F: FnOnce(&mut Channel) -> R,
    R: Termination,
{
    let (_, connection) = background::start_background(address, true, f)?;
    Ok(exchange.add(connection.expect("asked for a connection")))
}

/// Starts a background process at `address`, fork-style: in the creator,
/// adds the connection to it to `exchange` and returns `None`; in the
/// background process, returns its persistent channel.
pub(crate) fn create_on<H>(
    exchange: &mut Exchange<'_, H>,
    address: &Path,
) -> Result<Option<PersistentChannel>> {
    match background::fork_background(address, true)? {
        Background::Creator { connection, .. } => {
            exchange.add(connection.expect("asked for a connection"));
            Ok(None)
        }
        Background::Process(channel) => Ok(Some(channel)),
    }
}

/// Connects to the process at `address` and adds the connection to
/// `exchange`; returns its task number.
pub(crate) fn connect_on<H>(exchange: &mut Exchange<'_, H>, address: &Path) -> Result<usize> {
    Ok(exchange.add(connect(address)?))
}

/// An [`Exchange`] whose work runs in background processes, each reachable
/// at its own address: the original module's `PersistentExchange`.
///
/// [`start`](Self::start), [`create`](Self::create) and
/// [`manage`](Self::manage) start background processes (see
/// [`BackgroundCallable`](crate::BackgroundCallable)) and add a connection
/// to each; [`connect`](Self::connect) adds a connection to one that is
/// already running, perhaps started by an earlier run of the program. Each
/// connection is a task of the exchange: its messages go to the
/// [`Handler`](crate::Handler), and it is removed once its process has
/// ended. Since a background process keeps what it sent until it is
/// acknowledged, a program may start the work, exit, and collect it in a
/// later run; a collector that dies loses nothing.
///
/// Its [`store`](Self::store), [`finish`](Self::finish),
/// [`ready`](Self::ready) and [`handler`](Self::handler) are an exchange's,
/// over the connections. Background processes start at once: there is no
/// limit, since work waiting in a queue would need its creator to stay.
///
/// ```
/// use pprocess::{Channel, PersistentExchange};
///
/// let dir = std::env::temp_dir();
/// let address = |n: u32| dir.join(format!("pprocess-doc-pe-{}-{n}", std::process::id()));
/// let mut total = 0;
/// let mut exchange = PersistentExchange::with_handler(|channel: &mut Channel, _task: usize| {
///     total += channel.receive::<u32>()?;
///     Ok(())
/// });
/// for n in 1..=3 {
///     exchange.start(address(n), move |channel| channel.send(&(n * 10)))?;
/// }
/// exchange.finish()?;
/// drop(exchange);
/// assert_eq!(total, 60);
/// # Ok::<(), pprocess::Error>(())
/// ```
pub struct PersistentExchange<'env, H = ()> {
    exchange: Exchange<'env, H>,
}

impl PersistentExchange<'_, ()> {
    /// A persistent exchange without a handler: use
    /// [`ready`](Self::ready) and receive from the channels yourself.
    ///
    /// ```
    /// let mut exchange = pprocess::PersistentExchange::new();
    /// let address = std::env::temp_dir().join(format!("pprocess-doc-pe-new-{}", std::process::id()));
    /// exchange.start(&address, |channel| channel.send(&'x'))?;
    /// let mut got = Vec::new();
    /// while exchange.unfinished() {
    ///     for channel in exchange.ready(None)? {
    ///         got.push(channel.receive::<char>()?);
    ///     }
    /// }
    /// assert_eq!(got, ['x']);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn new() -> Self {
        PersistentExchange::with_handler(())
    }
}

impl Default for PersistentExchange<'_, ()> {
    fn default() -> Self {
        PersistentExchange::new()
    }
}

impl<'env, H> PersistentExchange<'env, H> {
    /// A persistent exchange whose [`store`](Self::store) hands what
    /// arrives to `handler`.
    ///
    /// ```
    /// let mut got = Vec::new();
    /// let exchange = pprocess::PersistentExchange::with_handler(
    ///     |channel: &mut pprocess::Channel, _task: usize| -> pprocess::Result<()> {
    ///         got.push(channel.receive::<u8>()?);
    ///         Ok(())
    ///     },
    /// );
    /// # drop(exchange);
    /// ```
    pub fn with_handler(handler: H) -> Self {
        PersistentExchange {
            exchange: Exchange::with_handler(handler),
        }
    }

    /// Consumes the exchange and returns its handler.
    ///
    /// ```
    /// let exchange = pprocess::PersistentExchange::with_handler(vec![1u8]);
    /// assert_eq!(exchange.into_handler(), [1]);
    /// ```
    pub fn into_handler(self) -> H {
        self.exchange.into_handler()
    }

    /// Runs `f` in a new background process listening at `address`, adds a
    /// connection to it, and returns its task number.
    ///
    /// Fails, having started nothing, if the address cannot be listened at
    /// (see [`BackgroundCallable::call`](crate::BackgroundCallable::call)).
    ///
    /// ```
    /// let address = std::env::temp_dir().join(format!("pprocess-doc-pe-start-{}", std::process::id()));
    /// let mut exchange = pprocess::PersistentExchange::new();
    /// assert_eq!(exchange.start(&address, |channel| channel.send(&1u8))?, 0);
    /// let channel = exchange.ready(None)?.pop().unwrap();
    /// assert_eq!(channel.receive::<u8>()?, 1);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn start<F, R>(&mut self, address: impl AsRef<Path>, f: F) -> Result<usize>
    where
        F: FnOnce(&mut Channel) -> R,
        R: Termination,
    {
        start_on(&mut self.exchange, address.as_ref(), f)
    }

    /// Starts a background process listening at `address`, fork-style: in
    /// the creator, adds a connection to it and returns `None`; in the
    /// background process, returns its channel: send on it, then end with
    /// [`exit`](crate::exit) (which waits until a peer has acknowledged
    /// everything sent).
    ///
    /// ```
    /// let address = std::env::temp_dir().join(format!("pprocess-doc-pe-create-{}", std::process::id()));
    /// let mut got = Vec::new();
    /// let mut exchange = pprocess::PersistentExchange::with_handler(
    ///     |channel: &mut pprocess::Channel, _task: usize| {
    ///         got.push(channel.receive::<String>()?);
    ///         Ok(())
    ///     },
    /// );
    /// if let Some(mut channel) = exchange.create(&address)? {
    ///     channel.send("from the background")?;
    ///     pprocess::exit(channel);
    /// }
    /// exchange.finish()?;
    /// drop(exchange);
    /// assert_eq!(got, ["from the background"]);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn create(&mut self, address: impl AsRef<Path>) -> Result<Option<PersistentChannel>> {
        create_on(&mut self.exchange, address.as_ref())
    }

    /// Wraps `callable` so that each [`call`](PersistentManaged::call)
    /// starts it in a new background process, at the address `addresses`
    /// gives for the call's arguments, and adds a connection to it. A
    /// later run can compute the same addresses to
    /// [`connect`](Self::connect) to them.
    ///
    /// ```
    /// use pprocess::{MakeParallel, PersistentExchange};
    ///
    /// let dir = std::env::temp_dir();
    /// let address = |n: &u64| dir.join(format!("pprocess-doc-pe-manage-{}-{n}", std::process::id()));
    /// let mut squares = Vec::new();
    /// let mut exchange = PersistentExchange::with_handler(
    ///     |channel: &mut pprocess::Channel, _task: usize| {
    ///         squares.push(channel.receive::<u64>()?);
    ///         Ok(())
    ///     },
    /// );
    /// let mut square = exchange.manage(address, MakeParallel::new(|n: u64| n * n));
    /// square.call(3)?;
    /// square.call(4)?;
    /// exchange.finish()?;
    /// drop(exchange);
    /// squares.sort();
    /// assert_eq!(squares, [9, 16]);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn manage<F, C>(
        &mut self,
        addresses: F,
        callable: C,
    ) -> PersistentManaged<'_, 'env, H, C, F> {
        PersistentManaged::new(&mut self.exchange, addresses, callable)
    }

    /// Connects to the background process at `address` (started by this
    /// program or by another run of it), and adds the connection as a new
    /// task; returns its task number. Nothing listening there is an error
    /// at once (see [`connect`](crate::connect)).
    ///
    /// ```
    /// use pprocess::{BackgroundCallable, MakeParallel, PersistentExchange};
    ///
    /// let address = std::env::temp_dir().join(format!("pprocess-doc-pe-connect-{}", std::process::id()));
    /// BackgroundCallable::new(&address, MakeParallel::new(|n: u8| n + 1)).call(41)?;
    /// // Later, possibly in another run of the program:
    /// let mut answer = 0;
    /// let mut exchange = PersistentExchange::with_handler(
    ///     |channel: &mut pprocess::Channel, _task: usize| {
    ///         answer = channel.receive::<u8>()?;
    ///         Ok(())
    ///     },
    /// );
    /// exchange.connect(&address)?;
    /// exchange.finish()?;
    /// drop(exchange);
    /// assert_eq!(answer, 42);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn connect(&mut self, address: impl AsRef<Path>) -> Result<usize> {
        connect_on(&mut self.exchange, address.as_ref())
    }
}

impl<'env, H> PersistentExchange<'env, H> {
    /// Lets each connection send any number of messages; see
    /// [`Exchange::continuous`].
    ///
    /// ```
    /// let mut exchange = pprocess::PersistentExchange::new().continuous(true);
    /// let address = std::env::temp_dir().join(format!("pprocess-doc-pe-continuous-{}", std::process::id()));
    /// exchange.start(&address, |channel| (0..3u8).try_for_each(|n| channel.send(&n)))?;
    /// let mut got = Vec::new();
    /// while exchange.unfinished() {
    ///     for channel in exchange.ready(None)? {
    ///         got.push(channel.receive::<u8>()?);
    ///     }
    /// }
    /// assert_eq!(got, [0, 1, 2]);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn continuous(mut self, continuous: bool) -> Self {
        self.exchange = self.exchange.continuous(continuous);
        self
    }

    /// Gives each connection at most `timeout` to deliver; see
    /// [`Exchange::timeout`]. A background process that runs out of time
    /// is killed.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let exchange = pprocess::PersistentExchange::new().timeout(Duration::from_secs(60));
    /// # drop(exchange);
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.exchange = self.exchange.timeout(timeout);
        self
    }

    /// The handler; see [`Exchange::handler`].
    ///
    /// ```
    /// let exchange = pprocess::PersistentExchange::with_handler(vec![1u8]);
    /// assert_eq!(exchange.handler(), &[1]);
    /// ```
    pub fn handler(&self) -> &H {
        self.exchange.handler()
    }

    /// The handler, to change; see [`Exchange::handler_mut`].
    ///
    /// ```
    /// let mut exchange = pprocess::PersistentExchange::with_handler(vec![1u8]);
    /// exchange.handler_mut().push(2);
    /// assert_eq!(exchange.into_handler(), [1, 2]);
    /// ```
    pub fn handler_mut(&mut self) -> &mut H {
        self.exchange.handler_mut()
    }

    /// The connections that have a message (or a failure) to receive; see
    /// [`Exchange::ready`].
    ///
    /// ```
    /// let mut exchange = pprocess::PersistentExchange::new();
    /// let address = std::env::temp_dir().join(format!("pprocess-doc-pe-ready-{}", std::process::id()));
    /// exchange.start(&address, |channel| channel.send(&5u8))?;
    /// let channel = exchange.ready(None)?.pop().unwrap();
    /// assert_eq!(channel.receive::<u8>()?, 5);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn ready(&mut self, timeout: Option<Duration>) -> Result<Vec<&mut Channel>> {
        self.exchange.ready(timeout)
    }

    /// Whether a connection is still open; see [`Exchange::unfinished`].
    ///
    /// ```
    /// assert!(!pprocess::PersistentExchange::new().unfinished());
    /// ```
    pub fn unfinished(&self) -> bool {
        self.exchange.unfinished()
    }

    /// The open connections; see [`Exchange::active`].
    ///
    /// ```
    /// assert_eq!(pprocess::PersistentExchange::new().active().len(), 0);
    /// ```
    pub fn active(&self) -> impl ExactSizeIterator<Item = &Channel> {
        self.exchange.active()
    }
}

impl<H: Handler> PersistentExchange<'_, H> {
    /// Waits up to `timeout` and hands what arrives to the handler; see
    /// [`Exchange::store`].
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let mut got = Vec::new();
    /// let mut exchange = pprocess::PersistentExchange::with_handler(
    ///     |channel: &mut pprocess::Channel, _task: usize| {
    ///         got.push(channel.receive::<u8>()?);
    ///         Ok(())
    ///     },
    /// );
    /// let address = std::env::temp_dir().join(format!("pprocess-doc-pe-store-{}", std::process::id()));
    /// exchange.start(&address, |channel| channel.send(&9u8))?;
    /// while exchange.unfinished() {
    ///     exchange.store(Some(Duration::from_millis(50)))?;
    /// }
    /// drop(exchange);
    /// assert_eq!(got, [9]);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn store(&mut self, timeout: Option<Duration>) -> Result<()> {
        self.exchange.store(timeout)
    }

    /// Stores what arrives until every connection has ended; see
    /// [`Exchange::finish`].
    ///
    /// ```
    /// let mut count = 0;
    /// let mut exchange = pprocess::PersistentExchange::with_handler(
    ///     |channel: &mut pprocess::Channel, _task: usize| {
    ///         channel.receive::<u8>()?;
    ///         count += 1;
    ///         Ok(())
    ///     },
    /// );
    /// let address = std::env::temp_dir().join(format!("pprocess-doc-pe-finish-{}", std::process::id()));
    /// exchange.start(&address, |channel| channel.send(&1u8))?;
    /// exchange.finish()?;
    /// drop(exchange);
    /// assert_eq!(count, 1);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn finish(&mut self) -> Result<()> {
        self.exchange.finish()
    }
}

impl<H> fmt::Debug for PersistentExchange<'_, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PersistentExchange")
            .field("exchange", &self.exchange)
            .finish()
    }
}

/// A callable bound to a persistent exchange or queue, from
/// [`PersistentExchange::manage`] or [`PersistentQueue::manage`]: each
/// [`call`](PersistentManaged::call) starts it in a new background process
/// at the address computed from the call's arguments.
///
/// [`PersistentQueue::manage`]: crate::PersistentQueue::manage
///
/// ```
/// use pprocess::{MakeParallel, PersistentQueue};
///
/// let dir = std::env::temp_dir();
/// let mut queue = PersistentQueue::<i32>::new();
/// let mut negate = queue.manage(
///     |n: &i32| dir.join(format!("pprocess-doc-pm-{}-{n}", std::process::id())),
///     MakeParallel::new(|n: i32| -n),
/// );
/// negate.call(5)?;
/// assert_eq!(queue.next().unwrap()?, -5);
/// # Ok::<(), pprocess::Error>(())
/// ```
pub struct PersistentManaged<'x, 'env, H, C, F> {
    exchange: &'x mut Exchange<'env, H>,
    addresses: F,
    callable: C,
}

impl<'x, 'env, H, C, F> PersistentManaged<'x, 'env, H, C, F> {
    pub(crate) fn new(exchange: &'x mut Exchange<'env, H>, addresses: F, callable: C) -> Self {
        PersistentManaged {
            exchange,
            addresses,
            callable,
        }
    }

    /// Starts the callable with `args` in a new background process at the
    /// address for `args`, adds a connection to it as a new task, and
    /// returns the task number. Fails, having started nothing, if the
    /// address cannot be listened at (see
    /// [`BackgroundCallable::call`](crate::BackgroundCallable::call)).
    ///
    /// ```
    /// use pprocess::{MakeParallel, PersistentQueue};
    ///
    /// let dir = std::env::temp_dir();
    /// let address = |n: &u64| dir.join(format!("pprocess-doc-pm-call-{}-{n}", std::process::id()));
    /// let mut queue = PersistentQueue::<u64>::new();
    /// let mut cube = queue.manage(&address, MakeParallel::new(|n: u64| n * n * n));
    /// assert_eq!(cube.call(2)?, 0);
    /// assert_eq!(cube.call(3)?, 1);
    /// let mut cubes: Vec<u64> = queue.collect::<pprocess::Result<_>>()?;
    /// cubes.sort();
    /// assert_eq!(cubes, [8, 27]);
    /// // Done and collected: each process removed its socket file.
    /// assert!(!address(&2).exists() && !address(&3).exists());
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn call<A, P>(&mut self, args: A) -> Result<usize>
    where
        C: Callable<A>,
        F: FnMut(&A) -> P,
        P: AsRef<Path>,
    {
        let address = (self.addresses)(&args);
        let callable = &self.callable;
        start_on(
            self.exchange,
            address.as_ref(),
            move |channel: &mut Channel| callable.call(channel, args),
        )
    }
}

impl<H, C, F> fmt::Debug for PersistentManaged<'_, '_, H, C, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PersistentManaged").finish_non_exhaustive()
    }
}
