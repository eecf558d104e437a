//! Persistent channels: a process listening at an address (a Unix socket
//! path) for whoever connects, and the connections made to it.
//!
//! The listening side is a [`PersistentChannel`]. It serves one connection
//! at a time: [`send`](Channel::send) and [`receive`](Channel::receive)
//! wait for a peer to connect, and when the peer goes away (or writes
//! garbage) they drop that connection and carry on with the next one.
//!
//! The connecting side is an ordinary [`Channel`] made by [`connect`]. It
//! acknowledges every frame it takes (an empty frame of kind `Ack`), and
//! the listening side keeps each frame it sent until it is acknowledged:
//! when a connection breaks, the frames not acknowledged on it are sent
//! again, in order, to the next peer. So a message is delivered at least
//! once: a collector killed while it collects loses nothing, and the next
//! collector may see again the messages the killed one took but could not
//! acknowledge. Messages from the connecting side are not acknowledged: a
//! message in flight when its connection breaks is lost.
//!
//! Nothing here forks. Every descriptor (the listening socket, the current
//! connection) is recorded as a channel end, so processes created from a
//! process with a persistent channel close their copies.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::ops::{Deref, DerefMut};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use crate::channel::{Channel, Listening};
use crate::error::{Error, Result};
use crate::persistent::address::{self, SocketFile};
use crate::process::fork;
use crate::sys;
use crate::wire::frame::{Inbox, Kind};

/// How many frames the listening side writes to a connection ahead of
/// their acknowledgements. Bounding it bounds the acknowledgements a peer
/// can have waiting unread in the socket (each costs the kernel about a
/// kilobyte of buffer), so a peer acknowledging as it receives never
/// blocks, even while this side is busy and not reading.
const WINDOW: usize = 32;

/// How much the listening side keeps of what peers sent and `receive` has
/// not taken yet: 4 MiB, each message counting its payload and
/// [`MESSAGE_OVERHEAD`]. Past it, a peer's next message makes its
/// connection unusable (it is dropped, and that message with it, as any
/// message in flight on a broken connection), so a peer that floods a
/// listener which does not read cannot make it grow; acknowledgements are
/// still taken. One message, however large (up to the frame limit), is
/// always kept when nothing else is.
pub(crate) const INBOUND_LIMIT: usize = 4 << 20;

/// What a kept message costs beyond its payload (its place in the queue
/// and its allocation), in bytes, counted against [`INBOUND_LIMIT`].
const MESSAGE_OVERHEAD: usize = 64;

/// The listening side of a persistent channel, as kept inside its
/// [`Channel`]: the listening socket, the current connection, the frames
/// sent and not yet acknowledged, and the messages received and not yet
/// taken.
pub(crate) struct Link {
    listener: Option<OwnedFd>,
    file: SocketFile,
    connection: Option<Connection>,
    /// Whole frames sent and not yet acknowledged, oldest first.
    unacknowledged: VecDeque<Vec<u8>>,
    /// How many frames at the front of `unacknowledged` were written whole
    /// to the current connection.
    written: usize,
    /// How many bytes of the next frame were written to it.
    partial: usize,
    /// Payloads of the messages received and not yet taken by `receive`,
    /// oldest first (taken out of the inbox so that the acknowledgements
    /// behind them can be read).
    arrived: VecDeque<Vec<u8>>,
    /// What `arrived` holds, counted as [`INBOUND_LIMIT`] says.
    arrived_bytes: usize,
    /// The process that made the link; in any other (a copy made by
    /// `fork`), its descriptors are already closed and its file is not its
    /// own.
    owner: u32,
}

/// One accepted connection and what has been read from it.
struct Connection {
    socket: OwnedFd,
    inbox: Inbox,
}

/// The current connection is unusable: the peer left, or sent bytes that
/// are not what a peer may send. It is dropped for the next one.
struct Gone;

impl Link {
    /// A link serving connections to `listener`, bound at `file`.
    pub(crate) fn new(listener: OwnedFd, file: SocketFile) -> Self {
        Link {
            listener: Some(listener),
            file,
            connection: None,
            unacknowledged: VecDeque::new(),
            written: 0,
            partial: 0,
            arrived: VecDeque::new(),
            arrived_bytes: 0,
            owner: sys::process_id(),
        }
    }
}

impl Listening for Link {
    /// The address.
    fn address(&self) -> &Path {
        self.file.path()
    }

    /// How many frames were sent and not yet acknowledged.
    fn unacknowledged(&self) -> usize {
        self.unacknowledged.len()
    }

    /// Sends a whole frame (header included): keeps it until it is
    /// acknowledged, waits for a peer if there is none, and writes it and
    /// every earlier frame not yet written to the current peer.
    fn send(&mut self, frame: &[u8], limit: usize) -> Result<()> {
        if self.connection.is_some() {
            // Let go of what has been acknowledged meanwhile.
            if let Err(Gone) = self.read_available(limit) {
                self.drop_connection(limit);
            }
        }
        self.unacknowledged.push_back(frame.to_vec());
        self.flush(limit)
    }

    /// Receives the next message's payload, handed to `decode`: waits for a
    /// peer if there is none, and for the next one when the peer goes away.
    fn receive(&mut self, limit: usize) -> Result<Vec<u8>> {
        loop {
            if let Some(payload) = self.arrived.pop_front() {
                self.arrived_bytes -= payload.len() + MESSAGE_OVERHEAD;
                return Ok(payload);
            }
            self.flush(limit)?;
            if self.arrived.is_empty() {
                if let Err(Gone) = self.read_more(limit) {
                    self.drop_connection(limit);
                }
            }
        }
    }

    /// Waits until every frame sent has been acknowledged, serving
    /// connections as they come (messages that arrive meanwhile are
    /// dropped: nobody will receive them), then stops listening and
    /// removes the socket file. The file is removed even if this fails.
    fn finish(&mut self, limit: usize) -> Result<()> {
        let mut outcome = Ok(());
        while !self.unacknowledged.is_empty() {
            if let Err(error) = self.flush(limit) {
                outcome = Err(error);
                break;
            }
            self.arrived.clear();
            self.arrived_bytes = 0;
            if !self.unacknowledged.is_empty() {
                if let Err(Gone) = self.read_more(limit) {
                    self.drop_connection(limit);
                }
            }
        }
        self.close();
        outcome
    }

    /// Stops listening: removes the socket file first (nobody can connect
    /// any more), then closes the listening socket and the connection, so
    /// a peer sees the end of the stream only once the file is gone.
    fn close(&mut self) {
        if self.owner != sys::process_id() {
            // A copy made by fork: the descriptors were closed right after
            // the fork (they may have been reused since), the file is not
            // ours.
            if let Some(listener) = self.listener.take() {
                std::mem::forget(listener);
            }
            if let Some(connection) = self.connection.take() {
                std::mem::forget(connection.socket);
            }
            return;
        }
        if let Some(listener) = self.listener.take() {
            self.file.remove();
            fork::close_channel(listener);
        }
        if let Some(connection) = self.connection.take() {
            fork::close_channel(connection.socket);
        }
    }
}

impl Link {
    /// Makes sure there is a connection and that every frame not yet
    /// acknowledged has been written to it, accepting connections until one
    /// takes them.
    fn flush(&mut self, limit: usize) -> Result<()> {
        loop {
            self.accept_if_needed()?;
            match self.write_pending(limit) {
                Ok(()) => return Ok(()),
                Err(Gone) => self.drop_connection(limit),
            }
        }
    }

    /// Waits for a peer if there is no connection, and accepts it.
    fn accept_if_needed(&mut self) -> Result<()> {
        if self.connection.is_some() {
            return Ok(());
        }
        let path = self.file.path();
        let listener = self.listener.as_ref().ok_or(Error::Closed)?;
        sys::poll_one(listener.as_fd(), false, None)
            .map_err(|error| Error::address("poll", path, error))?;
        // Accepted under the lock of channel ends: a fork in another thread
        // copies the connection only once it is recorded.
        let socket = fork::open_tracked(|| sys::accept(listener.as_fd()))
            .map_err(|error| Error::address("accept", path, error))?;
        self.connection = Some(Connection {
            socket,
            inbox: Inbox::default(),
        });
        self.written = 0;
        self.partial = 0;
        Ok(())
    }

    /// Writes the frames not yet written to the current connection, at
    /// most [`WINDOW`] ahead of their acknowledgements, taking what arrives
    /// while it waits.
    fn write_pending(&mut self, limit: usize) -> std::result::Result<(), Gone> {
        while self.written < self.unacknowledged.len() {
            if self.written >= WINDOW {
                self.read_more(limit)?;
                continue;
            }
            let connection = self.connection.as_ref().ok_or(Gone)?;
            let frame = &self.unacknowledged[self.written];
            match sys::send_nonblocking(connection.socket.as_fd(), &frame[self.partial..]) {
                Ok(sent) => {
                    self.partial += sent;
                    if self.partial == frame.len() {
                        self.written += 1;
                        self.partial = 0;
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    let ready =
                        sys::poll_one(connection.socket.as_fd(), true, None).map_err(|_| Gone)?;
                    if ready.readable {
                        self.read_available(limit)?;
                    }
                }
                Err(_) => return Err(Gone),
            }
        }
        Ok(())
    }

    /// Reads what has arrived, without waiting, and takes the frames in it.
    fn read_available(&mut self, limit: usize) -> std::result::Result<(), Gone> {
        loop {
            self.take_frames(limit)?;
            let connection = self.connection.as_mut().ok_or(Gone)?;
            if connection.inbox.at_end_of_file() {
                return Err(Gone);
            }
            let ready = sys::poll_one(connection.socket.as_fd(), false, Some(Duration::ZERO))
                .map_err(|_| Gone)?;
            if !ready.readable {
                return Ok(());
            }
            connection
                .inbox
                .fill(connection.socket.as_fd(), limit)
                .map_err(|_| Gone)?;
        }
    }

    /// Waits until more arrives on the current connection (or it ends),
    /// and takes the frames in it.
    fn read_more(&mut self, limit: usize) -> std::result::Result<(), Gone> {
        self.take_frames(limit)?;
        let connection = self.connection.as_mut().ok_or(Gone)?;
        if connection.inbox.at_end_of_file() {
            return Err(Gone);
        }
        connection
            .inbox
            .fill(connection.socket.as_fd(), limit)
            .map_err(|_| Gone)?;
        self.take_frames(limit)
    }

    /// Takes the whole frames at the front of the inbox: an
    /// acknowledgement lets go of the oldest frame sent, a message is kept
    /// for `receive`. An acknowledgement of nothing, a panic report, a
    /// message beyond [`INBOUND_LIMIT`], or bytes that are not a frame make
    /// the connection unusable.
    fn take_frames(&mut self, limit: usize) -> std::result::Result<(), Gone> {
        let connection = self.connection.as_mut().ok_or(Gone)?;
        loop {
            let frame = match connection.inbox.frame(limit) {
                Ok(Some(frame)) => frame,
                Ok(None) => return Ok(()),
                Err(_) => return Err(Gone),
            };
            match frame.kind {
                Kind::Ack => {
                    if frame.length != 0 || self.written == 0 {
                        return Err(Gone);
                    }
                    self.unacknowledged.pop_front();
                    self.written -= 1;
                }
                Kind::Message => {
                    let cost = frame.length + MESSAGE_OVERHEAD;
                    if !self.arrived.is_empty() && self.arrived_bytes + cost > INBOUND_LIMIT {
                        return Err(Gone);
                    }
                    self.arrived_bytes += cost;
                    self.arrived
                        .push_back(connection.inbox.payload(frame).to_vec());
                }
                // Persistent connections carry no shared memory, no parts.
                Kind::Panic
                | Kind::TooLarge
                | Kind::Shared
                | Kind::Region
                | Kind::Part
                | Kind::Dropped => {
                    return Err(Gone);
                }
            }
            connection.inbox.consume(frame);
        }
    }

    /// Drops the current connection, after taking the acknowledgements the
    /// peer sent before it went. The frames it did not acknowledge will be
    /// written to the next one.
    fn drop_connection(&mut self, limit: usize) {
        let _ = self.read_available(limit);
        if let Some(connection) = self.connection.take() {
            fork::close_channel(connection.socket);
        }
        self.written = 0;
        self.partial = 0;
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.close();
    }
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("address", &self.file.path())
            .field("listening", &self.listener.is_some())
            .field("connected", &self.connection.is_some())
            .field("unacknowledged", &self.unacknowledged.len())
            .finish()
    }
}

/// The listening side of a persistent channel: a process reachable at an
/// address (a Unix socket path) by whoever connects, one connection at a
/// time. The original module's `PersistentChannel`.
///
/// It is a [`Channel`] (it dereferences to one, so it can be given to any
/// [`Callable`](crate::Callable)) whose peer may change:
///
/// - [`send`](Channel::send) waits for a peer to connect if there is none;
///   if the peer has gone, it accepts the next one and carries on.
/// - Every message sent is kept until the peer acknowledges it (a channel
///   made by [`connect`] does so as it receives each message). Messages
///   not acknowledged when a connection breaks are sent again, in order,
///   to the next peer: nothing sent is lost, though a message may arrive
///   twice (once to a peer that took it but died before acknowledging it).
/// - [`receive`](Channel::receive) waits for a peer, and for the next one
///   when the peer goes away.
/// - A peer that writes garbage gets its connection dropped, and the
///   channel serves the next one.
/// - What peers send waits for [`receive`](Channel::receive) in this
///   process, up to 4 MiB (each message counting 64 bytes more than its
///   payload; one message of any size is always kept). Past that, a peer's
///   next message drops its connection, as garbage does, and that message
///   is lost: a peer flooding a channel that does not receive cannot make
///   it grow.
/// - [`finish`](PersistentChannel::finish) waits until every message sent
///   has been acknowledged, then stops listening.
///
/// The socket file is made owner-only (mode 0600, whatever the umask) and
/// is removed when the channel is dropped or finished. See
/// [`PersistentChannel::listen`] for the checks made on the address.
///
/// Most programs do not make one themselves: [`BackgroundCallable`] and the
/// `start`, `create` and `manage` of [`PersistentExchange`] and
/// [`PersistentQueue`] start a background process with one.
///
/// [`BackgroundCallable`]: crate::BackgroundCallable
/// [`PersistentExchange`]: crate::PersistentExchange
/// [`PersistentQueue`]: crate::PersistentQueue
///
/// ```
/// let address = std::env::temp_dir().join(format!("pprocess-doc-pc-{}", std::process::id()));
/// let mut listening = pprocess::PersistentChannel::listen(&address)?;
/// let mut channel = pprocess::start(|_| {
///     // A peer that takes the first message and goes away...
///     let mut first = pprocess::connect(&address)?;
///     assert_eq!(first.receive::<u32>()?, 1);
///     drop(first);
///     // ...and the next peer, which gets the rest.
///     let mut second = pprocess::connect(&address)?;
///     assert_eq!(second.receive::<u32>()?, 2);
///     Ok::<(), pprocess::Error>(())
/// })?;
/// listening.send(&1u32)?;
/// listening.send(&2u32)?;
/// listening.finish()?;
/// assert!(channel.wait()?.success());
/// assert!(!address.exists());
/// # Ok::<(), pprocess::Error>(())
/// ```
pub struct PersistentChannel {
    channel: Channel,
}

impl PersistentChannel {
    /// Listens at `address` in this process.
    ///
    /// Fails, leaving the file system as it was, with
    /// [`Error::MissingDirectory`] if the address's directory does not
    /// exist, [`Error::AddressInUse`] if a live process is listening there,
    /// and [`Error::NotASocket`] if a file that is not a socket is there
    /// (it is never removed). A socket file whose process is gone is
    /// replaced. An address longer than a socket path holds (107 bytes on
    /// Linux) is [`Error::AddressTooLong`]: nobody could connect to it.
    ///
    /// ```
    /// let address = std::env::temp_dir().join(format!("pprocess-doc-listen-{}", std::process::id()));
    /// let channel = pprocess::PersistentChannel::listen(&address)?;
    /// assert!(matches!(
    ///     pprocess::PersistentChannel::listen(&address),
    ///     Err(pprocess::Error::AddressInUse { .. })
    /// ));
    /// drop(channel);
    /// assert!(!address.exists());
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn listen(address: impl AsRef<Path>) -> Result<Self> {
        let (listener, file) = address::listen(address.as_ref())?;
        Ok(PersistentChannel::from_link(Link::new(listener, file)))
    }

    pub(crate) fn from_link(link: Link) -> Self {
        PersistentChannel {
            channel: Channel::listening(Box::new(link)),
        }
    }

    fn link(&self) -> &dyn Listening {
        self.channel
            .link()
            .expect("a persistent channel has a link")
    }

    /// The address it listens at.
    ///
    /// ```
    /// let address = std::env::temp_dir().join(format!("pprocess-doc-address-{}", std::process::id()));
    /// let channel = pprocess::PersistentChannel::listen(&address)?;
    /// assert_eq!(channel.address(), address);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn address(&self) -> &Path {
        self.link().address()
    }

    /// How many messages were sent and not yet acknowledged by a peer.
    ///
    /// ```
    /// let address = std::env::temp_dir().join(format!("pprocess-doc-unack-{}", std::process::id()));
    /// let channel = pprocess::PersistentChannel::listen(&address)?;
    /// assert_eq!(channel.unacknowledged(), 0);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn unacknowledged(&self) -> usize {
        self.link().unacknowledged()
    }

    /// Waits until every message sent has been acknowledged (accepting
    /// peers as they come, and dropping messages they send meanwhile), then
    /// stops listening and removes the socket file. A background process
    /// does this when its callable returns, and [`exit`](crate::exit) does
    /// it too.
    ///
    /// ```
    /// let address = std::env::temp_dir().join(format!("pprocess-doc-finish-{}", std::process::id()));
    /// let mut listening = pprocess::PersistentChannel::listen(&address)?;
    /// let mut collector = pprocess::start(|_| {
    ///     pprocess::connect(&address)?.receive::<String>().map(drop)
    /// })?;
    /// listening.send("done")?;
    /// listening.finish()?; // returns once the collector has the message
    /// assert!(collector.wait()?.success());
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn finish(&mut self) -> Result<()> {
        self.channel.finish_sending()
    }

    /// The channel itself.
    ///
    /// ```
    /// let address = std::env::temp_dir().join(format!("pprocess-doc-into-{}", std::process::id()));
    /// let channel: pprocess::Channel = pprocess::PersistentChannel::listen(&address)?.into_channel();
    /// assert_eq!(channel.pid(), 0);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn into_channel(self) -> Channel {
        self.channel
    }
}

impl Deref for PersistentChannel {
    type Target = Channel;

    fn deref(&self) -> &Channel {
        &self.channel
    }
}

impl DerefMut for PersistentChannel {
    fn deref_mut(&mut self) -> &mut Channel {
        &mut self.channel
    }
}

impl From<PersistentChannel> for Channel {
    fn from(channel: PersistentChannel) -> Channel {
        channel.channel
    }
}

impl fmt::Debug for PersistentChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PersistentChannel")
            .field("link", self.link())
            .finish()
    }
}

/// Connects to the persistent channel listening at `address`: the process
/// there may have been started by this program, by an earlier run of it,
/// or by another program.
///
/// The returned channel works like any other, with three differences:
/// [`pid`](Channel::pid) is the process at the other end (`-1` where the
/// system cannot tell); it acknowledges every message it receives, so the
/// process there can forget it; and the process is not a child of this
/// one, so the channel never waits for it or kills it
/// ([`wait`](Channel::wait) returns [`Error::NoProcess`] at once, and
/// dropping the channel only closes the connection). When the process
/// closes the connection without sending what `receive` waits for, the
/// error is [`Error::ConnectionClosed`].
///
/// Nothing listening at `address` is an error at once, never a wait:
/// [`Error::NoListener`] (no file there, or a socket file whose process is
/// gone), or [`Error::NotASocket`].
///
/// The process listening must run as this process's effective user (its
/// credentials are asked of the system: `SO_PEERCRED`, or `getpeereid`);
/// another user's listener is [`Error::ForeignListener`], and nothing is
/// read from it. Still, another user who can write in the address's
/// directory can take the address first and deny service: keep addresses
/// in a directory only you can write, such as `$XDG_RUNTIME_DIR`, or a
/// directory of mode 0700 of your own in the temporary directory (the
/// examples' `private_dir` does that), never at a fixed name in
/// `/tmp` itself.
///
/// ```
/// use pprocess::BackgroundCallable;
///
/// let address = std::env::temp_dir().join(format!("pprocess-doc-connect-{}", std::process::id()));
/// let background = BackgroundCallable::new(&address, |channel: &mut pprocess::Channel, n: u64| {
///     channel.send(&(n * n))
/// });
/// let pid = background.call(12)?;
/// let mut channel = pprocess::connect(&address)?;
/// assert_eq!(channel.pid(), pid);
/// assert_eq!(channel.receive::<u64>()?, 144);
/// assert!(matches!(
///     pprocess::connect(std::env::temp_dir().join("pprocess-doc-nobody-there")),
///     Err(pprocess::Error::NoListener { .. })
/// ));
/// # Ok::<(), pprocess::Error>(())
/// ```
pub fn connect(address: impl AsRef<Path>) -> Result<Channel> {
    connect_within(address.as_ref(), None)
}

/// Connects to the persistent channel listening at `address`, as
/// [`connect`] does, and waits at most `timeout` at each step: for the
/// listener to take the connection (it waits only while the listener's
/// backlog is full), and then, at each [`receive`](Channel::receive), for
/// the next bytes to arrive. Either wait running out is
/// [`Error::PeerTimeout`] (with pid -1 for the connection itself). A
/// `receive` that timed out can be called again: it goes on where it
/// stopped, and the connection stays usable (a
/// [`receive_bytes`](Channel::receive_bytes) that times out in the middle
/// of a byte string closes it). `Duration::MAX` means no limit in practice
/// (about 68 years).
///
/// ```
/// use std::time::Duration;
///
/// let address = std::env::temp_dir().join(format!("pprocess-doc-timeout-{}", std::process::id()));
/// let mut listening = pprocess::PersistentChannel::listen(&address)?;
/// let mut channel = pprocess::connect_timeout(&address, Duration::from_millis(20))?;
/// // The listener sends nothing yet: the receive gives up.
/// assert!(matches!(channel.receive::<u8>(), Err(pprocess::Error::PeerTimeout { .. })));
/// listening.send(&7u8)?;
/// assert_eq!(channel.receive::<u8>()?, 7);
/// # Ok::<(), pprocess::Error>(())
/// ```
pub fn connect_timeout(address: impl AsRef<Path>, timeout: Duration) -> Result<Channel> {
    connect_within(address.as_ref(), Some(timeout))
}

fn connect_within(address: &Path, timeout: Option<Duration>) -> Result<Channel> {
    let (socket, pid) = address::connect(address, timeout)?;
    Ok(Channel::connected(socket, pid, timeout))
}
