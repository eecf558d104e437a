//! [`Channel`]: the two-way message pipe between a creator and one created
//! process.
//!
//! A channel owns one end of a socketpair. Messages are serde values sent as
//! frames ([`crate::wire::frame`]), encoded by [`crate::wire::codec`]. On the creator's
//! side the channel also owns the created process: it reaps it, and reports
//! how it ended when a message it waits for never comes.
//!
//! A channel may also be a connection to a persistent channel (made by
//! [`connect`](crate::connect)), or the listening side of one (a
//! [`PersistentChannel`](crate::PersistentChannel)); what differs for those
//! lives in [`crate::persistent`], and this module only routes to it.
//!
//! Which of the four ends a channel is (the creator's or the created
//! process's end of a socketpair, a connection, a listening side) is one
//! `Role` value; what the pid means, who reaps, which error a closed
//! stream is, and whether shared memory may carry a message all follow
//! from it.

mod arriving;
mod region;
mod shared;
pub use shared::SharedBytes;
pub(crate) mod start;

use std::collections::VecDeque;
use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::process::{fork, reap};
use crate::sys;
use crate::wire::codec::{self, MAX_FRAME_LIMIT};
use crate::wire::frame::{self, Inbox, Kind};
use arriving::Parts;

/// The outbox keeps its capacity between messages up to this size (the
/// large blocks of a message do not go through it: see `arriving`).
const KEEP_OUTBOX: usize = 32 * 1024 * 1024;

/// A message whose frame fits in this many bytes is built on the stack, not
/// in the outbox: a created process that sends one small result then
/// allocates nothing, and every heap page it would touch is a page the
/// fork made copy-on-write.
const SMALL_FRAME: usize = 512;

/// A two-way message pipe between a creator and a created process.
///
/// In the creator, [`pid`](Channel::pid) is the created process's id; in the
/// created process it is 0. Either side [`send`](Channel::send)s any
/// [`Serialize`] value and [`receive`](Channel::receive)s any
/// [`DeserializeOwned`] one; messages arrive whole and in order. Nothing is
/// acknowledged: a message sent just before the sender exits is still
/// delivered.
///
/// When the creator waits for a message that never comes, `receive` says
/// why: [`Error::Panicked`] (with the panic message), [`Error::Died`] (with
/// the signal), or [`Error::NoResult`] (with the exit code).
///
/// Dropping the creator's end closes it and reaps the process; a process
/// still running at that point is killed first, so a dropped channel never
/// leaves a zombie or a stray process behind.
///
/// A channel can also be a connection to a process listening at an address
/// (made by [`connect`](crate::connect)), or that listening side itself
/// (a [`PersistentChannel`](crate::PersistentChannel)); see those for what
/// differs.
///
/// ```
/// let mut channel = pprocess::start(|channel| {
///     let n: u64 = channel.receive()?;
///     channel.send(&(n * 2))
/// })?;
/// channel.send(&21u64)?;
/// assert_eq!(channel.receive::<u64>()?, 42);
/// assert!(channel.wait()?.success());
/// # Ok::<(), pprocess::Error>(())
/// ```
pub struct Channel {
    socket: Option<OwnedFd>,
    owner: u32,
    inbox: Inbox,
    outbox: Vec<u8>,
    /// Frames [`queue_encoded`](Self::queue_encoded) accepted that the
    /// socket has not taken yet, in order.
    unsent: VecDeque<u8>,
    frame_limit: usize,
    status: Option<ExitStatus>,
    broken: bool,
    /// Someone else reaped the process (see [`Error::StatusTaken`]).
    status_taken: bool,
    /// Frames taken by `receive` (messages and panic reports).
    taken: u64,
    /// `receive` has reported the end of the stream or a broken stream.
    reported_end: bool,
    /// Which end of which connection this is.
    role: Role,
    /// Messages of at least this many bytes go through shared memory.
    shared_from: usize,
    /// The shared regions sent messages are written in.
    regions: region::Regions,
    /// The shared regions received messages are read in.
    mapped: region::Mapped,
    /// The length and the limit of the last message `send` refused as
    /// larger than the frame limit (reported to the creator if the created
    /// process then fails).
    too_large: Option<(u64, u64)>,
}

/// Which end of which connection a channel is: everything that differs
/// between the four follows from it.
enum Role {
    /// The creator's end of a socketpair; `child` is the created process,
    /// as the reap table knows it.
    Creator { child: reap::Child },
    /// The created process's end of a socketpair: the peer is its creator.
    Created,
    /// A connection to the persistent channel of process `pid`, made by
    /// [`connect`](crate::connect); that process is not our child. Each
    /// frame taken is acknowledged. A read waits at most `timeout` (see
    /// [`connect_timeout`](crate::connect_timeout)).
    Connected { pid: i32, timeout: Option<Duration> },
    /// The listening side of a persistent channel: frames go through the
    /// link, which owns the sockets (`socket` is `None`).
    Listening(Box<dyn Listening>),
}

/// The listening side of a persistent channel, as its [`Channel`] sees it:
/// what owns the listening socket, the connection of the moment and the
/// frames not yet acknowledged. The persistent layer implements it; a
/// channel only routes its calls there.
pub(crate) trait Listening: fmt::Debug + Send {
    /// Sends a whole frame (header included), kept until acknowledged.
    fn send(&mut self, frame: &[u8], limit: usize) -> Result<()>;
    /// Receives the next message's payload, waiting for a peer if needed.
    fn receive(&mut self, limit: usize) -> Result<Vec<u8>>;
    /// Waits until every frame sent is acknowledged, then stops listening.
    fn finish(&mut self, limit: usize) -> Result<()>;
    /// Stops listening and removes the socket file.
    fn close(&mut self);
    /// The address listened at.
    fn address(&self) -> &std::path::Path;
    /// How many frames were sent and not yet acknowledged.
    fn unacknowledged(&self) -> usize;
}

/// What [`Channel::receive`] would do now, found without blocking (used by
/// exchanges to decide which channels are ready).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// Nothing whole has arrived yet.
    Nothing,
    /// A message is there: `receive` returns it.
    Message,
    /// `receive` returns an error at once: a panic report, a malformed
    /// frame, or a stream that ended inside a frame.
    Failure,
    /// The peer closed its end and everything it sent has been received.
    End,
}

impl Channel {
    /// The creator's end of a socketpair whose other end `child` holds.
    pub(crate) fn creator(socket: OwnedFd, child: reap::Child) -> Self {
        Channel::with_role(Some(socket), Role::Creator { child })
    }

    /// The created process's end of a socketpair.
    pub(crate) fn created(socket: OwnedFd) -> Self {
        Channel::with_role(Some(socket), Role::Created)
    }

    /// A connection to the persistent channel of process `pid` (see
    /// [`connect`](crate::connect)), whose socket's reads wait at most
    /// `timeout`.
    pub(crate) fn connected(socket: OwnedFd, pid: i32, timeout: Option<Duration>) -> Self {
        Channel::with_role(Some(socket), Role::Connected { pid, timeout })
    }

    /// The listening side of a persistent channel.
    pub(crate) fn listening(link: Box<dyn Listening>) -> Self {
        Channel::with_role(None, Role::Listening(link))
    }

    /// A channel with nothing sent or received yet.
    fn with_role(socket: Option<OwnedFd>, role: Role) -> Self {
        Channel {
            socket,
            owner: sys::process_id(),
            inbox: Inbox::default(),
            outbox: Vec::new(),
            unsent: VecDeque::new(),
            frame_limit: MAX_FRAME_LIMIT,
            status: None,
            broken: false,
            status_taken: false,
            taken: 0,
            reported_end: false,
            role,
            shared_from: shared::SHARED_FROM,
            regions: region::Regions::default(),
            mapped: region::Mapped::default(),
            too_large: None,
        }
    }

    /// The link of the listening side of a persistent channel.
    pub(crate) fn link(&self) -> Option<&dyn Listening> {
        match &self.role {
            Role::Listening(link) => Some(link.as_ref()),
            _ => None,
        }
    }

    /// On the listening side of a persistent channel, waits until every
    /// message sent has been acknowledged, then stops listening; otherwise
    /// does nothing.
    pub(crate) fn finish_sending(&mut self) -> Result<()> {
        if !matches!(self.role, Role::Listening(_)) {
            return Ok(());
        }
        self.check_owner()?;
        match &mut self.role {
            Role::Listening(link) => link.finish(self.frame_limit),
            _ => Ok(()),
        }
    }

    /// The created process's id on the creator's side; 0 in the created
    /// process. On a [`connect`](crate::connect)ion, the process listening
    /// at the other end; 0 on the listening side.
    ///
    /// ```
    /// let mut channel = pprocess::start(|channel| channel.send(&channel.pid()))?;
    /// assert!(channel.pid() > 0);
    /// assert_eq!(channel.receive::<i32>()?, 0);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn pid(&self) -> i32 {
        match self.role {
            Role::Creator { child } => child.pid,
            Role::Connected { pid, .. } => pid,
            Role::Created | Role::Listening(_) => 0,
        }
    }

    /// The largest message payload, in bytes, this channel accepts (1 GiB
    /// unless set).
    ///
    /// ```
    /// let mut channel = pprocess::start(|channel| channel.send(&channel.frame_limit()))?;
    /// // The default, on both ends.
    /// assert_eq!(channel.receive::<usize>()?, pprocess::MAX_FRAME_LIMIT);
    /// channel.set_frame_limit(1024);
    /// assert_eq!(channel.frame_limit(), 1024);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn frame_limit(&self) -> usize {
        self.frame_limit
    }

    /// Sets the largest payload this channel sends or accepts, in bytes, up
    /// to [`MAX_FRAME_LIMIT`](crate::MAX_FRAME_LIMIT). A received frame
    /// header announcing more is an [`Error::FrameTooLarge`] before anything
    /// is allocated for it.
    ///
    /// ```
    /// let mut channel = pprocess::start(|channel| channel.send(&vec![0u8; 4096]))?;
    /// channel.set_frame_limit(1024);
    /// assert!(matches!(
    ///     channel.receive::<Vec<u8>>(),
    ///     Err(pprocess::Error::FrameTooLarge { limit: 1024, .. })
    /// ));
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn set_frame_limit(&mut self, bytes: usize) {
        self.frame_limit = bytes.min(MAX_FRAME_LIMIT);
    }

    /// Sends `value` as one message, in one system call where the kernel
    /// takes it whole (on a channel an exchange took from a reused process,
    /// after the arguments it still had queued). Fails with [`Error::Io`]
    /// (`EPIPE`) if the other end is gone; never raises `SIGPIPE`.
    ///
    /// Bulk data is not copied on the way: on a socketpair, each block of
    /// 32 KiB or more (a `Vec<u8>`, a `[f64]`, a string) is written from
    /// the value itself, with what was encoded before it, and the receiver
    /// reads it into the vector it returns.
    ///
    /// In a created process, standard output and standard error are
    /// flushed first: what the process printed before a message is out
    /// before its creator gets the message, so it is never lost if the
    /// creator then drops the process (which kills it if still running).
    ///
    /// ```
    /// let mut channel = pprocess::start(|channel| channel.send("hello"))?;
    /// assert_eq!(channel.receive::<String>()?, "hello");
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn send<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.check_owner()?;
        let mut small = [0; SMALL_FRAME];
        // Persistent connections keep frames as bytes, to send them again.
        let shared_from = match self.role {
            Role::Creator { .. } | Role::Created => self.shared_from,
            _ => usize::MAX,
        };
        // Large blocks go as they are encoded (see `arriving`).
        let socket = self.socket.as_ref().filter(|_| self.sends_parts());
        let mut parts = socket.map(|socket| {
            Parts::new(
                socket.as_fd(),
                self.frame_limit,
                matches!(self.role, Role::Created),
            )
        });
        let (reserved, outbox, regions) = (frame::HEADER_LEN, &mut self.outbox, &mut self.regions);
        let sink = parts
            .as_mut()
            .map(|parts| parts as &mut dyn codec::PartSink);
        let mut memory = |capacity| regions.lease(capacity);
        let placed = codec::encode_after(
            value,
            &mut small,
            reserved,
            outbox,
            shared_from,
            &mut memory,
            sink,
        );
        let (parted, failure) = parts.map_or((0, None), Parts::into_outcome);
        let sent = match (placed, failure) {
            (_, Some(error)) => Err(self.send_error(error)),
            (placed, None) => placed.and_then(|placed| {
                self.check_last_part(parted, &placed, &small)?;
                match placed {
                    codec::Placed::Small(used) => {
                        let whole = &mut small[..used];
                        frame::finish(whole, Kind::Message, self.frame_limit)
                            .and_then(|()| self.send_frame(whole))
                    }
                    codec::Placed::Spilled => self.send_outbox(Kind::Message),
                    codec::Placed::Shared(payload) => self.send_shared(payload),
                    codec::Placed::Sent => Ok(()),
                }
            }),
        };
        if parted > 0 && sent.is_err() {
            self.drop_parts();
        }
        self.note_too_large(sent)
    }

    /// Remembers a message refused as too large, for
    /// [`report_too_large`](Self::report_too_large).
    fn note_too_large(&mut self, sent: Result<()>) -> Result<()> {
        if let Err(Error::FrameTooLarge { length, limit }) = sent {
            self.too_large = Some((length, limit));
        }
        sent
    }

    /// In a created process that ends with an error: if a message was
    /// refused as larger than the frame limit, tells the creator so (its
    /// `receive` then returns [`Error::ResultTooLarge`]), rather than
    /// leaving it to find a process that ended without a result.
    pub(crate) fn report_too_large(&mut self) -> Result<()> {
        let Some((length, limit)) = self.too_large else {
            return Ok(());
        };
        frame::begin(&mut self.outbox);
        self.outbox.extend_from_slice(&length.to_le_bytes());
        self.outbox.extend_from_slice(&limit.to_le_bytes());
        self.send_outbox(Kind::TooLarge)
    }

    /// Sends a message whose payload is in shared memory: in a region
    /// the channel reuses, or sealed in a memory file of its own, passed
    /// with the frame that announces it (see [`region`]).
    fn send_shared(&mut self, payload: codec::SharedPayload) -> Result<()> {
        let (file, length) = payload.into_parts();
        if length > self.frame_limit {
            self.regions.unsend(file);
            return Err(Error::FrameTooLarge {
                length: length as u64,
                limit: self.frame_limit as u64,
            });
        }
        self.flush_output();
        self.send_unsent()?;
        let socket = self.socket.as_ref().ok_or(Error::Closed)?;
        let announced = self
            .regions
            .announce(file, length)
            .map_err(|error| Error::io("prepare shared memory to send", error))?;
        // The announcement borrows the regions (a region's file) until it
        // is sent: it ends before `send_error`, which takes the channel.
        let sent = match &announced {
            region::Announced::Region { frame, file: None } => sys::send_all(socket.as_fd(), frame),
            region::Announced::Region {
                frame,
                file: Some(file),
            } => sys::send_with_descriptor(socket.as_fd(), frame, *file),
            region::Announced::Sealed { frame, file } => {
                sys::send_with_descriptor(socket.as_fd(), frame, file.as_fd())
            }
        };
        drop(announced);
        sent.map_err(|error| self.send_error(error))
    }

    /// The size from which a message goes through shared memory instead
    /// of the socket (`usize::MAX`, never, unless set). Such a message is
    /// encoded into one of two regions of shared memory the channel keeps
    /// and reuses once the other process is done reading what it last
    /// received there; when both are still read, into a memory file of
    /// its own, sealed so that nobody can change it. Only a short frame
    /// crosses the socket, and the other process reads the message where
    /// it was written.
    ///
    /// It pays for a stream of large messages read in place with
    /// [`receive_shared`](Self::receive_shared): from 1 MiB, such a stream
    /// arrives faster than the socket can carry it (see
    /// `docs/performance.md`). A message decoded into a value is copied out
    /// of the region into fresh memory and gains nothing, and the first
    /// message in each region (or in a file of its own) costs the kernel
    /// fresh pages: for one result per process, the socket is faster. A
    /// region grows to hold the largest message it carried (up to twice
    /// its size, as an encoding grows by doubling) and stays until the
    /// channel is dropped. Connections to persistent channels always use
    /// the socket.
    ///
    /// ```
    /// let mut channel = pprocess::start(|channel| {
    ///     channel.set_shared_memory_threshold(1 << 16);
    ///     channel.send(&vec![0.5f64; 1 << 20]) // 8 MiB, through shared memory
    /// })?;
    /// assert_eq!(channel.shared_memory_threshold(), usize::MAX);
    /// assert_eq!(channel.receive::<Vec<f64>>()?, vec![0.5; 1 << 20]);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn shared_memory_threshold(&self) -> usize {
        self.shared_from
    }

    /// Sets the size from which messages sent on this channel go through
    /// shared memory; see [`shared_memory_threshold`](Self::shared_memory_threshold).
    ///
    /// ```
    /// let mut channel = pprocess::start(|channel| {
    ///     channel.set_shared_memory_threshold(usize::MAX); // always the socket
    ///     channel.send(&vec![1u8; 4 << 20])
    /// })?;
    /// assert_eq!(channel.receive::<Vec<u8>>()?.len(), 4 << 20);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn set_shared_memory_threshold(&mut self, bytes: usize) {
        self.shared_from = bytes;
    }

    /// Queues an already encoded message payload behind the frames still
    /// unsent, without writing anything: [`flush_unsent`](Self::flush_unsent)
    /// writes them. Exchanges feed reused processes this way: a creator
    /// blocked on a full socket while its process is blocked sending an
    /// answer the creator is not reading would wait forever.
    pub(crate) fn queue_encoded(&mut self, payload: &[u8]) -> Result<()> {
        self.check_owner()?;
        if payload.len() > self.frame_limit {
            return Err(Error::FrameTooLarge {
                length: payload.len() as u64,
                limit: self.frame_limit as u64,
            });
        }
        let mut header = [0; frame::HEADER_LEN];
        frame::write_header(&mut header, payload.len() as u64, Kind::Message);
        self.unsent.extend(&header);
        self.unsent.extend(payload);
        Ok(())
    }

    /// Whether queued frames are waiting for room in the socket.
    pub(crate) fn has_unsent(&self) -> bool {
        !self.unsent.is_empty()
    }

    /// Writes as much of the queued frames as the socket takes now, without
    /// waiting. Fails if the other end is gone (the rest is dropped then:
    /// nobody will read it).
    pub(crate) fn flush_unsent(&mut self) -> Result<()> {
        while !self.unsent.is_empty() {
            let socket = self.socket.as_ref().ok_or(Error::Closed)?;
            let (front, _) = self.unsent.as_slices();
            match sys::send_nonblocking(socket.as_fd(), front) {
                Ok(written) => drop(self.unsent.drain(..written)),
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(error) => {
                    self.unsent.clear();
                    return Err(self.send_error(error));
                }
            }
        }
        Ok(())
    }

    /// Writes every queued frame, waiting for room: a message sent the
    /// usual way goes out behind them.
    fn send_unsent(&mut self) -> Result<()> {
        if self.unsent.is_empty() {
            return Ok(());
        }
        let socket = self.socket.as_ref().ok_or(Error::Closed)?;
        let (front, back) = self.unsent.as_slices();
        let sent = sys::send_all_vectored(socket.as_fd(), &[front, back]);
        self.unsent.clear();
        sent.map_err(|error| self.send_error(error))
    }

    /// Sends `bytes` as one message, exactly as [`send`](Self::send) sends a
    /// [`Bytes`](crate::Bytes), but without copying them: the frame header
    /// and the bytes go out together in one `sendmsg`. Use it for bulk data;
    /// the receiver may use [`receive_bytes`](Self::receive_bytes) or
    /// `receive::<Bytes>()`.
    ///
    /// ```
    /// let mut channel = pprocess::start(|channel| channel.send_bytes(&[1, 2, 3]))?;
    /// assert_eq!(channel.receive_bytes()?, [1, 2, 3]);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn send_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        self.check_owner()?;
        if matches!(self.role, Role::Listening(_)) || bytes.len() >= self.shared_from {
            return self.send(serde_bytes::Bytes::new(bytes));
        }
        self.flush_output();
        self.send_unsent()?;
        frame::begin(&mut self.outbox);
        codec::encode_bytes_prefix(bytes.len(), &mut self.outbox)?;
        let prefix = self.outbox.len() - frame::HEADER_LEN;
        let length = prefix as u64 + bytes.len() as u64;
        if length > self.frame_limit as u64 {
            return self.note_too_large(Err(Error::FrameTooLarge {
                length,
                limit: self.frame_limit as u64,
            }));
        }
        frame::write_header(&mut self.outbox, length, Kind::Message);
        let socket = self.socket.as_ref().ok_or(Error::Closed)?;
        sys::send_all_vectored(socket.as_fd(), &[&self.outbox, bytes])
            .map_err(|error| self.send_error(error))
    }

    /// Reports a panic to the creator (in a created process).
    pub(crate) fn send_panic(&mut self, message: &str) -> Result<()> {
        frame::begin(&mut self.outbox);
        self.outbox.extend_from_slice(message.as_bytes());
        self.send_outbox(Kind::Panic)
    }

    fn send_outbox(&mut self, kind: Kind) -> Result<()> {
        frame::finish(&mut self.outbox, kind, self.frame_limit)?;
        let mut outbox = std::mem::take(&mut self.outbox);
        let sent = self.send_frame(&outbox);
        if outbox.capacity() <= KEEP_OUTBOX {
            outbox.clear();
            self.outbox = outbox;
        }
        sent
    }

    /// Sends a whole frame: behind the queued frames, after flushing what a
    /// created process printed; through the link on the listening side of
    /// a persistent channel.
    fn send_frame(&mut self, frame: &[u8]) -> Result<()> {
        if let Role::Listening(link) = &mut self.role {
            return link.send(frame, self.frame_limit);
        }
        self.flush_output();
        self.send_unsent()?;
        let socket = self.socket.as_ref().ok_or(Error::Closed)?;
        sys::send_all(socket.as_fd(), frame).map_err(|error| self.send_error(error))
    }

    /// In a created process, flushes standard output and standard error
    /// before a message goes out (see [`send`](Self::send)).
    fn flush_output(&self) {
        if let Role::Created = self.role {
            use std::io::Write;
            let _ = std::io::stdout().flush();
            let _ = std::io::stderr().flush();
        }
    }

    /// The error for a failed send: in a created process, a creator that
    /// is gone.
    fn send_error(&self, error: std::io::Error) -> Error {
        match error.raw_os_error() {
            Some(nix::libc::EPIPE) | Some(nix::libc::ECONNRESET)
                if matches!(self.role, Role::Created | Role::Listening(_)) =>
            {
                Error::Disconnected
            }
            _ => Error::io("send", error),
        }
    }

    /// Receives the next message as a `T`, waiting for it.
    ///
    /// A frame that does not decode as a `T` is an [`Error::Decode`] (the
    /// message is consumed and the channel stays usable). Garbage that is
    /// not a frame, or a header beyond the [frame limit](Self::frame_limit),
    /// makes the channel unusable: the error is returned and later calls
    /// return [`Error::Closed`]. When the stream ends, the creator learns
    /// why the process ended; see [`Channel`].
    ///
    /// ```
    /// let mut channel = pprocess::start(|channel| channel.send(&(1u8, 'x')))?;
    /// let (number, letter): (u8, char) = channel.receive()?;
    /// assert_eq!((number, letter), (1, 'x'));
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn receive<T: DeserializeOwned>(&mut self) -> Result<T> {
        self.check_owner()?;
        if let Role::Listening(link) = &mut self.role {
            return codec::decode(&link.receive(self.frame_limit)?);
        }
        loop {
            if let Some(frame) = self.arriving_frame() {
                match self.receive_arriving(frame) {
                    Some(result) => return result,
                    None => continue,
                }
            }
            let frame = match self.inbox.frame(self.frame_limit) {
                Ok(frame) => frame,
                Err(error) => {
                    self.break_off();
                    return Err(error);
                }
            };
            if let Some(frame) = frame {
                let result = match frame.kind {
                    Kind::Message => codec::decode(self.inbox.payload(frame)),
                    Kind::Shared => shared::decode(&mut self.inbox, frame, self.frame_limit),
                    Kind::Region => self
                        .mapped
                        .take(&mut self.inbox, frame, self.frame_limit)
                        .and_then(region::Lent::decode),
                    Kind::Panic => Err(Error::Panicked {
                        pid: self.pid(),
                        message: String::from_utf8_lossy(self.inbox.payload(frame)).into_owned(),
                    }),
                    Kind::TooLarge => Err(self.too_large_error(self.inbox.payload(frame))),
                    Kind::Ack | Kind::Part | Kind::Dropped => Err(Error::Decode(format!(
                        "a frame of kind {:?} arrived where a message was expected",
                        frame.kind
                    ))),
                };
                self.inbox.consume(frame);
                self.took_frame();
                return result;
            }
            if self.inbox.at_end_of_file() {
                self.reported_end = true;
                return Err(self.end_of_stream());
            }
            self.fill()?;
        }
    }

    /// Receives the next message as bytes, when it was sent as a byte string
    /// ([`send_bytes`](Self::send_bytes), or [`Bytes`](crate::Bytes) with
    /// [`send`](Self::send)). The bytes are read from the socket straight
    /// into the returned vector, with no copy in between. Errors as
    /// [`receive`](Self::receive).
    ///
    /// ```
    /// let mut channel = pprocess::start(|channel| {
    ///     channel.send(&pprocess::Bytes::from(vec![9u8; 100_000]))
    /// })?;
    /// assert_eq!(channel.receive_bytes()?, vec![9u8; 100_000]);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn receive_bytes(&mut self) -> Result<Vec<u8>> {
        self.check_owner()?;
        if let Role::Listening(_) = self.role {
            return self.receive::<crate::Bytes>().map(crate::Bytes::into_vec);
        }
        loop {
            let frame = match self.inbox.header(self.frame_limit) {
                Ok(frame) => frame,
                Err(error) => {
                    self.break_off();
                    return Err(error);
                }
            };
            match frame {
                Some(frame) if frame.kind == Kind::Message => {
                    match codec::decode_bytes_prefix(self.inbox.partial_payload(frame)) {
                        Ok(Some((length, prefix))) if prefix + length == frame.length => {
                            return self.receive_bulk(frame.length, prefix);
                        }
                        Ok(None) if !self.inbox.at_end_of_file() => {}
                        // Not a byte string: the general path says what it is.
                        _ => break,
                    }
                }
                // A panic report, or the end: the general path reports it.
                Some(_) => break,
                None if self.inbox.at_end_of_file() => break,
                None => {}
            }
            // The payload is read straight into the result: read little
            // of it into the inbox, from which it would be copied.
            self.fill_with(Inbox::fill_front)?;
        }
        self.receive::<crate::Bytes>().map(crate::Bytes::into_vec)
    }

    /// Takes the byte string of the frame at the front (payload of
    /// `frame_length` bytes, of which `prefix` are its length prefix),
    /// reading what has not arrived yet directly into the result.
    fn receive_bulk(&mut self, frame_length: usize, prefix: usize) -> Result<Vec<u8>> {
        let length = frame_length - prefix;
        let mut bytes = Vec::with_capacity(length);
        let buffered = self.inbox.partial_payload(frame::Frame {
            kind: Kind::Message,
            length: frame_length,
        });
        bytes.extend_from_slice(&buffered[prefix..]);
        self.inbox.skip(frame::HEADER_LEN + buffered.len());
        while bytes.len() < length {
            let socket = self.socket.as_ref().ok_or(Error::Closed)?;
            match sys::read_into_spare(socket.as_fd(), &mut bytes, usize::MAX) {
                Ok(0) => {
                    self.reported_end = true;
                    let truncated = Error::TruncatedFrame {
                        expected: (frame::HEADER_LEN + frame_length) as u64,
                        received: (frame::HEADER_LEN + prefix + bytes.len()) as u64,
                    };
                    return Err(self.stream_ended(Some(truncated)));
                }
                Ok(_) => {}
                Err(error) => {
                    self.break_off();
                    return Err(self.receive_error(error));
                }
            }
        }
        self.took_frame();
        Ok(bytes)
    }

    /// The error a report of kind [`Kind::TooLarge`] stands for.
    fn too_large_error(&self, payload: &[u8]) -> Error {
        let number = |at: usize| {
            payload
                .get(at..at + 8)
                .and_then(|bytes| bytes.try_into().ok())
                .map(u64::from_le_bytes)
        };
        match (number(0), number(8), payload.len()) {
            (Some(length), Some(limit), 16) => Error::ResultTooLarge {
                pid: self.pid(),
                length,
                limit,
            },
            _ => Error::Decode("a malformed report of a message too large".into()),
        }
    }

    /// Counts a frame `receive` took, and on a connection to a persistent
    /// channel acknowledges it. A failed acknowledgement is not an error:
    /// the frame was received, and a peer that is gone needs none.
    fn took_frame(&mut self) {
        self.taken += 1;
        if let (Role::Connected { .. }, Some(socket)) = (&self.role, &self.socket) {
            let _ = sys::send_all(socket.as_fd(), &frame::ACK);
        }
    }

    /// What `receive` would do now, without blocking.
    pub(crate) fn event(&self) -> Event {
        if self.socket.is_none() {
            return Event::End;
        }
        match self.inbox.frame(self.frame_limit) {
            Ok(Some(frame))
                if matches!(frame.kind, Kind::Message | Kind::Shared | Kind::Region) =>
            {
                Event::Message
            }
            Ok(Some(frame)) if frame.kind == Kind::Part => self.parts_event(),
            Ok(Some(_)) | Err(_) => Event::Failure,
            Ok(None) if !self.inbox.at_end_of_file() => Event::Nothing,
            Ok(None) if self.inbox.has_partial_frame() => Event::Failure,
            Ok(None) => Event::End,
        }
    }

    /// Whether `receive` has returned anything yet: a message, a panic
    /// report, or the end of the stream.
    pub(crate) fn has_answered(&self) -> bool {
        self.taken > 0 || self.reported_end
    }

    /// Takes what `receive` returns when [`event`](Self::event) says
    /// [`Event::Failure`] or [`Event::End`]: the error.
    pub(crate) fn take_failure(&mut self) -> Error {
        match self.receive::<serde::de::IgnoredAny>() {
            Err(error) => error,
            Ok(_) => Error::Decode("a message arrived where a failure was expected".into()),
        }
    }

    /// How the reaped process ended, as an error, if it ended badly (killed
    /// by a signal or a non-zero exit code).
    pub(crate) fn exit_failure(&self) -> Option<Error> {
        if self.status_taken {
            return Some(Error::StatusTaken { pid: self.pid() });
        }
        let status = self.status?;
        match (status.signal(), status.code()) {
            (Some(signal), _) => Some(Error::Died {
                pid: self.pid(),
                signal,
            }),
            (None, Some(code)) if code != 0 => Some(Error::NoResult {
                pid: self.pid(),
                code,
            }),
            _ => None,
        }
    }

    /// Reads once from the socket into the inbox (blocking if nothing is
    /// there). Returns the number of bytes read; 0 at end of file.
    ///
    /// Frames still queued go out meanwhile, as the socket takes them: a
    /// peer that needs them before it sends would otherwise never send.
    pub(crate) fn fill(&mut self) -> Result<usize> {
        self.fill_with(Inbox::fill)
    }

    /// Reads once, as [`fill`](Self::fill), with `read` (one of the
    /// inbox's reads).
    fn fill_with(
        &mut self,
        read: fn(&mut Inbox, BorrowedFd<'_>, usize) -> std::io::Result<usize>,
    ) -> Result<usize> {
        while self.has_unsent() {
            let socket = self.socket.as_ref().ok_or(Error::Closed)?;
            let ready = sys::poll_one(socket.as_fd(), true, None)
                .map_err(|error| Error::io("poll", error))?;
            if ready.writable && self.flush_unsent().is_err() {
                // The peer is gone: what it sent before is still read.
                break;
            }
            if ready.readable {
                break;
            }
        }
        let socket = self.socket.as_ref().ok_or(Error::Closed)?;
        read(&mut self.inbox, socket.as_fd(), self.frame_limit)
            .map_err(|error| self.receive_error(error))
    }

    /// The error for a failed read: on a connection with a timeout, a
    /// read that waited that long is [`Error::PeerTimeout`].
    fn receive_error(&self, error: std::io::Error) -> Error {
        match self.role {
            Role::Connected {
                pid,
                timeout: Some(after),
            } if error.kind() == std::io::ErrorKind::WouldBlock => {
                Error::PeerTimeout { pid, after }
            }
            _ => Error::io("receive", error),
        }
    }

    /// The channel's socket, `None` once closed: for polling it together
    /// with other descriptors, or for tests that write raw bytes. Writing to
    /// it directly bypasses the framing, and the peer will see garbage.
    ///
    /// ```
    /// let channel = pprocess::start(|channel| channel.send(&1u8))?;
    /// assert!(channel.socket().is_some());
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn socket(&self) -> Option<BorrowedFd<'_>> {
        self.socket.as_ref().map(|socket| socket.as_fd())
    }

    /// The error for a stream that ended: on the creator's side, reaps the
    /// process and says how it ended.
    fn end_of_stream(&mut self) -> Error {
        let truncated = self
            .inbox
            .has_partial_frame()
            .then(|| self.inbox.truncation());
        self.inbox.discard();
        self.stream_ended(truncated)
    }

    /// The error for a stream that ended, `truncated` inside a frame or
    /// not: on the creator's side, reaps the process and says how it ended.
    fn stream_ended(&mut self, truncated: Option<Error>) -> Error {
        match self.role {
            Role::Created | Role::Listening(_) => {
                return truncated.unwrap_or(Error::Disconnected);
            }
            Role::Connected { pid, .. } => {
                return truncated.unwrap_or(Error::ConnectionClosed { pid });
            }
            Role::Creator { .. } => {}
        }
        match self.wait() {
            Ok(status) => match (status.signal(), truncated) {
                (Some(signal), _) => Error::Died {
                    pid: self.pid(),
                    signal,
                },
                (None, Some(truncated)) => truncated,
                (None, None) => Error::NoResult {
                    pid: self.pid(),
                    code: status.code().unwrap_or(-1),
                },
            },
            Err(error) => truncated.unwrap_or(error),
        }
    }

    /// Closes the channel after a framing error: nothing after it can be
    /// trusted. The process is no longer talked to, so it is killed when the
    /// channel is reaped.
    fn break_off(&mut self) {
        self.broken = true;
        self.reported_end = true;
        self.inbox.discard();
        self.close();
    }

    /// Closes this end of the channel. The other side then sees end of file
    /// (or `EPIPE` when it sends). Later `send` and `receive` calls return
    /// [`Error::Closed`]; [`wait`](Channel::wait) still works.
    ///
    /// ```
    /// let mut channel = pprocess::start(|channel| {
    ///     // The creator closed its end: receiving reports it.
    ///     assert!(matches!(channel.receive::<u8>(), Err(pprocess::Error::Disconnected)));
    /// })?;
    /// channel.close();
    /// assert!(channel.wait()?.success());
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn close(&mut self) {
        if let Role::Listening(link) = &mut self.role {
            // Checks its owner itself.
            link.close();
        }
        if let Some(socket) = self.socket.take() {
            if self.owner == sys::process_id() {
                fork::close_channel(socket);
            } else {
                // Closed in this process right after the fork that copied it.
                std::mem::forget(socket);
            }
        }
    }

    /// Waits for the created process to end and returns its exit status
    /// (kept, so later calls return it again).
    ///
    /// Before waiting, reads everything the process still sends and keeps
    /// it for [`receive`](Channel::receive): a process blocked writing a
    /// large message can never deadlock against its creator's wait.
    /// Fails at once with [`Error::NoProcess`] in the created process, and
    /// on either side of a persistent channel: the process at the other end
    /// of a [`connect`](crate::connect)ion is not a child of this one.
    ///
    /// ```
    /// let mut channel = pprocess::start(|_channel| std::process::exit(3))?;
    /// assert_eq!(channel.wait()?.code(), Some(3));
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn wait(&mut self) -> Result<ExitStatus> {
        if !matches!(self.role, Role::Creator { .. }) {
            return Err(Error::NoProcess);
        }
        if let Some(status) = self.status {
            return Ok(status);
        }
        self.check_owner()?;
        while self.socket.is_some() && !self.inbox.at_end_of_file() {
            if self.fill().is_err() {
                break;
            }
        }
        self.reap(true)?
            .ok_or_else(|| Error::io("wait", std::io::ErrorKind::WouldBlock.into()))
    }

    /// The exit status, if the process has been reaped.
    ///
    /// ```
    /// let mut channel = pprocess::start(|_channel| ())?;
    /// assert!(channel.exit_status().is_none());
    /// channel.wait()?;
    /// assert!(channel.exit_status().unwrap().success());
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.status
    }

    fn reap(&mut self, block: bool) -> Result<Option<ExitStatus>> {
        if self.status_taken {
            return Err(Error::StatusTaken { pid: self.pid() });
        }
        if let (None, Role::Creator { child }) = (self.status, &self.role) {
            self.status = reap::wait(*child, block).map_err(|error| {
                if error.raw_os_error() == Some(nix::libc::ECHILD) {
                    self.status_taken = true;
                    Error::StatusTaken { pid: self.pid() }
                } else {
                    Error::io("wait", error)
                }
            })?;
        }
        Ok(self.status)
    }

    /// Whether the process at the other end has ended (or is not this
    /// channel's to wait for), without waiting: it is reaped if it has.
    pub(crate) fn process_ended(&mut self) -> bool {
        !self.reaps_its_process() || !matches!(self.reap(false), Ok(None))
    }

    /// Whether this channel reaps the process at its other end: it is the
    /// creator's end of a socketpair, in the process that created it (a
    /// process created later holds a copy of it only until it closes it).
    fn reaps_its_process(&self) -> bool {
        matches!(self.role, Role::Creator { .. }) && self.owner == sys::process_id()
    }

    /// Closes the channel and reaps its process; `kill` first kills a
    /// process that is still running (used when nobody will read from it).
    pub(crate) fn shut_down(&mut self, kill: bool) {
        self.close();
        if !self.reaps_its_process() {
            return;
        }
        let kill = kill || self.broken;
        if let Ok(None) = self.reap(!kill) {
            sys::kill(self.pid());
            let _ = self.reap(true);
        }
    }

    /// Kills the created process if it is still running, and reaps it.
    /// The channel stays open: what the process sent before is still
    /// received, then the end of the stream. Returns whether it was still
    /// running (and so was killed).
    pub(crate) fn kill(&mut self) -> bool {
        if !self.reaps_its_process() {
            return false;
        }
        let running = matches!(self.reap(false), Ok(None));
        if running {
            sys::kill(self.pid());
            let _ = self.reap(true);
        }
        running
    }

    /// Reads what has already arrived into the inbox, without waiting,
    /// until a whole frame, a failure or the end of the stream is there.
    pub(crate) fn read_available(&mut self) {
        while self.event() == Event::Nothing {
            let Some(socket) = &self.socket else { return };
            match sys::poll_one(socket.as_fd(), false, Some(std::time::Duration::ZERO)) {
                Ok(ready) if ready.readable => {}
                _ => return,
            }
            if self.fill().is_err() {
                return;
            }
        }
    }

    fn check_owner(&self) -> Result<()> {
        if self.owner != sys::process_id() {
            return Err(Error::ForeignChannel { owner: self.owner });
        }
        Ok(())
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        // A copy inherited through fork never reaps or kills: the process
        // belongs to the copy's creator.
        self.shut_down(true);
    }
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("pid", &self.pid())
            .field("open", &self.socket.is_some())
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}
