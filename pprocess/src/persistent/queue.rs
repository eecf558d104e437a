//! [`PersistentQueue`] and [`BackgroundQueue`]: the results of background
//! processes in the order they arrive.
//!
//! Both are a [`Queue`] to which connections to background processes are
//! added (see [`crate::persistent::exchange`]); iterating them is iterating
//! that queue.

use std::fmt;
use std::path::Path;
use std::process::Termination;

use serde::de::DeserializeOwned;

use crate::channel::Channel;
use crate::collections::queue::Queue;
use crate::error::Result;
use crate::exchange::Handler;
use crate::persistent::channel::PersistentChannel;
use crate::persistent::exchange::{PersistentManaged, connect_on, create_on, start_on};

/// Results of background processes in the order they arrive: the original
/// module's `PersistentQueue`.
///
/// Like a [`Queue`], except that [`start`](Self::start),
/// [`create`](Self::create) and [`manage`](Self::manage) run the work in
/// background processes, each listening at its own address (see
/// [`BackgroundCallable`](crate::BackgroundCallable)), and that
/// [`connect`](Self::connect) collects from processes already running,
/// perhaps started by an earlier run of the program. Each message a
/// process sends is an item; a process that ends without sending anything
/// is an `Err` item ([`Error::ConnectionClosed`](crate::Error::ConnectionClosed)),
/// unless the queue is [`continuous`](Self::continuous). The iterator ends
/// when every process has ended.
///
/// Background processes start at once: there is no limit, since work
/// waiting in a queue would need its creator to stay.
///
/// ```
/// use pprocess::PersistentQueue;
///
/// let dir = std::env::temp_dir();
/// let address = |row: u32| dir.join(format!("pprocess-doc-pq-{}-{row}", std::process::id()));
/// // Start the work (and the program could exit here)...
/// for row in 0..2u32 {
///     let mut queue = PersistentQueue::<u32>::new();
///     queue.start(address(row), move |channel| {
///         (0..3).try_for_each(|column| channel.send(&(row * 10 + column)))
///     })?;
/// }
/// // ...and collect it, possibly in another run.
/// let mut queue = PersistentQueue::new().continuous(true);
/// for row in 0..2 {
///     queue.connect(address(row))?;
/// }
/// let mut cells: Vec<u32> = queue.collect::<pprocess::Result<_>>()?;
/// cells.sort();
/// assert_eq!(cells, [0, 1, 2, 10, 11, 12]);
/// # Ok::<(), pprocess::Error>(())
/// ```
pub struct PersistentQueue<'env, T> {
    queue: Queue<'env, T>,
}

impl<'env, T: DeserializeOwned> PersistentQueue<'env, T> {
    /// An empty persistent queue.
    ///
    /// ```
    /// let queue = pprocess::PersistentQueue::<u8>::new();
    /// assert!(queue.is_empty());
    /// ```
    pub fn new() -> Self {
        PersistentQueue {
            queue: Queue::new(),
        }
    }

    /// Whether a process may send any number of messages, none included
    /// (default `false`: a process that ends without sending is an error).
    /// Over a connection nothing says how a process ended: a continuous
    /// process that dies, or that is killed, simply has no more items.
    ///
    /// ```
    /// let address = std::env::temp_dir().join(format!("pprocess-doc-pq-cont-{}", std::process::id()));
    /// let mut queue = pprocess::PersistentQueue::<u8>::new().continuous(true);
    /// queue.start(&address, |_channel| ())?; // sends nothing: no item, no error
    /// assert_eq!(queue.count(), 0);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn continuous(mut self, continuous: bool) -> Self {
        self.queue = self.queue.continuous(continuous);
        self
    }

    /// Runs `f` in a new background process listening at `address`, and
    /// adds a connection to it; returns its task number. Fails, having
    /// started nothing, if the address cannot be listened at (see
    /// [`BackgroundCallable::call`](crate::BackgroundCallable::call)).
    ///
    /// ```
    /// let address = std::env::temp_dir().join(format!("pprocess-doc-pq-start-{}", std::process::id()));
    /// let mut queue = pprocess::PersistentQueue::new();
    /// queue.start(&address, |channel| channel.send("hello"))?;
    /// assert_eq!(queue.collect::<pprocess::Result<Vec<String>>>()?, ["hello"]);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn start<F, R>(&mut self, address: impl AsRef<Path>, f: F) -> Result<usize>
    where
        F: FnOnce(&mut Channel) -> R,
        R: Termination,
    {
        start_on(self.queue.exchange_mut(), address.as_ref(), f)
    }

    /// Starts a background process listening at `address`, fork-style; see
    /// [`PersistentExchange::create`](crate::PersistentExchange::create).
    ///
    /// ```
    /// let address = std::env::temp_dir().join(format!("pprocess-doc-pq-create-{}", std::process::id()));
    /// let mut queue = pprocess::PersistentQueue::new();
    /// if let Some(mut channel) = queue.create(&address)? {
    ///     channel.send(&7u8)?;
    ///     pprocess::exit(channel);
    /// }
    /// assert_eq!(queue.collect::<pprocess::Result<Vec<u8>>>()?, [7]);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn create(&mut self, address: impl AsRef<Path>) -> Result<Option<PersistentChannel>> {
        create_on(self.queue.exchange_mut(), address.as_ref())
    }

    /// Wraps `callable` so that each call starts it in a new background
    /// process at the address `addresses` gives for its arguments; see
    /// [`PersistentExchange::manage`](crate::PersistentExchange::manage).
    ///
    /// ```
    /// use pprocess::{MakeParallel, PersistentQueue};
    ///
    /// let dir = std::env::temp_dir();
    /// let mut queue = PersistentQueue::new();
    /// let mut double = queue.manage(
    ///     |n: &u32| dir.join(format!("pprocess-doc-pq-manage-{}-{n}", std::process::id())),
    ///     MakeParallel::new(|n: u32| n * 2),
    /// );
    /// double.call(21)?;
    /// assert_eq!(queue.collect::<pprocess::Result<Vec<u32>>>()?, [42]);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn manage<F, C>(
        &mut self,
        addresses: F,
        callable: C,
    ) -> PersistentManaged<'_, 'env, impl Handler + use<T, C, F>, C, F> {
        PersistentManaged::new(self.queue.exchange_mut(), addresses, callable)
    }

    /// Connects to the background process at `address` and adds the
    /// connection; returns its task number. Nothing listening there is an
    /// error at once (see [`connect`](crate::connect)).
    ///
    /// ```
    /// let address = std::env::temp_dir().join(format!("pprocess-doc-pq-connect-{}", std::process::id()));
    /// let mut queue = pprocess::PersistentQueue::<u8>::new();
    /// assert!(matches!(queue.connect(&address), Err(pprocess::Error::NoListener { .. })));
    /// ```
    pub fn connect(&mut self, address: impl AsRef<Path>) -> Result<usize> {
        connect_on(self.queue.exchange_mut(), address.as_ref())
    }

    /// The number of results received and not yet taken.
    ///
    /// ```
    /// assert_eq!(pprocess::PersistentQueue::<u8>::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no received result is waiting to be taken.
    ///
    /// ```
    /// assert!(pprocess::PersistentQueue::<u8>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

impl<T: DeserializeOwned> Default for PersistentQueue<'_, T> {
    fn default() -> Self {
        PersistentQueue::new()
    }
}

impl<T: DeserializeOwned> Iterator for PersistentQueue<'_, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        self.queue.next()
    }
}

impl<T> fmt::Debug for PersistentQueue<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PersistentQueue")
            .field("queue", &self.queue)
            .finish()
    }
}

/// The messages of one background process, in order: the original
/// module's `BackgroundQueue`.
///
/// Connects to the process listening at an address (started with
/// [`BackgroundCallable`](crate::BackgroundCallable), by this program or
/// another run of it) and yields each message it sends as an item; the
/// iterator ends when the process has sent everything and ended. Each
/// message is acknowledged as it is taken: if this program dies while
/// iterating, the next `BackgroundQueue` on the address gets the messages
/// not acknowledged yet. A panic in the process is an `Err` item
/// ([`Error::Panicked`](crate::Error::Panicked)); a process that was killed
/// cannot be told from one that ended (its messages simply stop).
///
/// ```
/// use pprocess::{BackgroundCallable, BackgroundQueue, Channel};
///
/// let address = std::env::temp_dir().join(format!("pprocess-doc-bq-{}", std::process::id()));
/// BackgroundCallable::new(&address, |channel: &mut Channel, ()| {
///     ["one", "two"].iter().try_for_each(|word| channel.send(word))
/// })
/// .call(())?;
/// let words: Vec<String> = BackgroundQueue::new(&address)?.collect::<pprocess::Result<_>>()?;
/// assert_eq!(words, ["one", "two"]);
/// # Ok::<(), pprocess::Error>(())
/// ```
pub struct BackgroundQueue<T> {
    queue: Queue<'static, T>,
    pid: i32,
}

impl<T: DeserializeOwned> BackgroundQueue<T> {
    /// Connects to the background process at `address`. Nothing listening
    /// there is an error at once (see [`connect`](crate::connect)).
    ///
    /// ```
    /// let address = std::env::temp_dir().join("pprocess-doc-bq-nobody");
    /// assert!(matches!(
    ///     pprocess::BackgroundQueue::<u8>::new(&address),
    ///     Err(pprocess::Error::NoListener { .. })
    /// ));
    /// ```
    pub fn new(address: impl AsRef<Path>) -> Result<Self> {
        let channel = crate::persistent::channel::connect(address)?;
        let pid = channel.pid();
        let mut queue = Queue::new().continuous(true);
        queue.exchange_mut().add(channel);
        Ok(BackgroundQueue { queue, pid })
    }

    /// The id of the background process (`-1` where the system cannot
    /// tell).
    ///
    /// ```
    /// use pprocess::{BackgroundCallable, BackgroundQueue, MakeParallel};
    ///
    /// let address = std::env::temp_dir().join(format!("pprocess-doc-bq-pid-{}", std::process::id()));
    /// let pid = BackgroundCallable::new(&address, MakeParallel::new(|()| 1u8)).call(())?;
    /// let mut queue = BackgroundQueue::<u8>::new(&address)?;
    /// assert_eq!(queue.pid(), pid);
    /// assert_eq!(queue.next().unwrap()?, 1);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn pid(&self) -> i32 {
        self.pid
    }
}

impl<T: DeserializeOwned> Iterator for BackgroundQueue<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        self.queue.next()
    }
}

impl<T> fmt::Debug for BackgroundQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackgroundQueue")
            .field("pid", &self.pid)
            .field("queue", &self.queue)
            .finish()
    }
}
