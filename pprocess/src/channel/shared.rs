//! Large messages through shared memory: past a channel's threshold, a
//! message is encoded into one of the channel's reused regions (see
//! `region`), or, when both are still read, into a memory file of its own,
//! which is sealed against any change and passed with the frame header;
//! the receiver maps it read-only and decodes from it, or lends its bytes
//! as [`SharedBytes`]. The payload never crosses the socket: it is
//! copied once when read in place, twice when decoded from a sealed file
//! (encoded, decoded), three times when decoded from a region (encoded,
//! copied out, decoded: see `region`), against four through the socket
//! before the socket path learned to send and decode blocks in place.
//!
//! Nothing leaks when either side dies: the sender's file is a descriptor
//! and a mapping of its own until it is passed; a passed descriptor not yet
//! received belongs to the socket and goes with it; a received one is
//! owned by the receiving inbox, or closed (and its mapping unmapped) as
//! soon as its message is decoded.

use std::os::fd::AsFd;

use serde::de::DeserializeOwned;

use super::Channel;
use super::region::{Lent, Mapped};
use crate::error::{Error, Result};
use crate::sys;
use crate::wire::codec;
use crate::wire::frame::{self, Frame, Inbox, Kind};

/// The default threshold: none, no message goes through shared memory
/// unless its channel is told to. A message in a new region or memory
/// file takes fresh pages, which the kernel allocates, zeroes and frees
/// page by page, while the socket's blocks go from the value into the
/// kernel and from the kernel into the result: for a single message the
/// socket was faster at every size the benchmark's sweep measures, 1 KiB
/// to 128 MiB, and a reused region wins only for bytes read in place (see
/// docs/performance.md).
pub(crate) const SHARED_FROM: usize = usize::MAX;

/// The whole frame announcing a message of `length` bytes in shared
/// memory (the memory file is passed with it).
pub(crate) fn announcement(length: usize) -> [u8; frame::HEADER_LEN + 8] {
    let mut whole = [0; frame::HEADER_LEN + 8];
    frame::write_header(&mut whole, 8, Kind::Shared);
    whole[frame::HEADER_LEN..].copy_from_slice(&(length as u64).to_le_bytes());
    whole
}

/// Decodes the message of `frame`, a [`Kind::Shared`] frame at the front
/// of `inbox`, from the memory file passed with it. A length beyond
/// `limit` is [`Error::FrameTooLarge`]; a frame without its file, or a file
/// that is not sealed or not of the announced length, is
/// [`Error::Decode`].
pub(crate) fn decode<T: DeserializeOwned>(
    inbox: &mut Inbox,
    frame: Frame,
    limit: usize,
) -> Result<T> {
    codec::decode(map(inbox, frame, limit)?.bytes())
}

/// The byte string of `frame`, a [`Kind::Shared`] or [`Kind::Region`]
/// frame at the front of `inbox`, where its sender wrote it; errors as
/// [`decode`] and [`Mapped::take`], and a payload that is not a byte
/// string is [`Error::Decode`].
pub(crate) fn bytes(
    inbox: &mut Inbox,
    mapped: &mut Mapped,
    frame: Frame,
    limit: usize,
) -> Result<SharedBytes> {
    let held = if frame.kind == Kind::Region {
        let lent = mapped.take(inbox, frame, limit)?;
        let start = byte_string_start(lent.bytes())?;
        Held::Lent(lent.skipping(start))
    } else {
        let mapping = map(inbox, frame, limit)?;
        let start = byte_string_start(mapping.bytes())?;
        Held::Mapped { mapping, start }
    };
    Ok(SharedBytes { held })
}

/// Where the bytes of `encoded`, the encoding of one byte string, start.
fn byte_string_start(encoded: &[u8]) -> Result<usize> {
    match codec::decode_bytes_prefix(encoded)? {
        Some((length, start)) if start + length == encoded.len() => Ok(start),
        _ => Err(Error::Decode(
            "the message in shared memory is not a byte string".into(),
        )),
    }
}

/// The memory file passed with `frame`, a [`Kind::Shared`] frame at the
/// front of `inbox`, mapped read-only.
fn map(inbox: &mut Inbox, frame: Frame, limit: usize) -> Result<sys::Mapping> {
    // The file is taken first, so that whatever this frame's fault, the
    // next shared-memory frame gets its own file.
    let file = inbox.take_passed();
    let announced: [u8; 8] = inbox.payload(frame).try_into().map_err(|_| {
        Error::Decode(format!(
            "a shared-memory frame of {} bytes instead of 8",
            frame.length
        ))
    })?;
    let length = u64::from_le_bytes(announced);
    if length > limit as u64 {
        return Err(Error::FrameTooLarge {
            length,
            limit: limit as u64,
        });
    }
    let file = file.ok_or_else(|| {
        Error::Decode("shared memory was announced but no memory file came with it".into())
    })?;
    sys::map_sealed(file.as_fd(), length as usize).map_err(|error| match error.kind() {
        std::io::ErrorKind::InvalidData => Error::Decode(error.to_string()),
        _ => Error::io("map shared memory", error),
    })
}

/// A byte string received with
/// [`Channel::receive_shared`](crate::Channel::receive_shared): read where
/// its sender wrote it when it came through shared memory, with no copy
/// on the receiving side at all; otherwise the bytes read from the socket.
///
/// It dereferences to `[u8]`. The bytes do not change while it lives:
/// they are in one of the sender's reused regions, which its channel
/// writes again only once the `SharedBytes` is dropped (and keeps
/// read-only meanwhile), or in memory sealed against any change. For a
/// region this is the protocol's promise, not the kernel's: a sender
/// that broke it (only unsafe code of its own could) would change the
/// bytes under the reader, who still reads bytes. Dropping it frees the
/// region for the next message; a process that forked while holding it
/// never frees it, as its child may still read the same pages. A
/// `SharedBytes` holds no descriptor.
///
/// ```
/// let mut channel = pprocess::start(|channel| {
///     channel.set_shared_memory_threshold(1 << 20);
///     channel.send_bytes(&vec![7u8; 4 << 20]) // through shared memory
/// })?;
/// let bytes: pprocess::SharedBytes = channel.receive_shared()?;
/// assert!(bytes.is_mapped());
/// assert_eq!(bytes.len(), 4 << 20);
/// assert!(bytes.iter().all(|&byte| byte == 7));
/// # Ok::<(), pprocess::Error>(())
/// ```
pub struct SharedBytes {
    held: Held,
}

enum Held {
    /// The mapping of the message's memory file; the bytes start after
    /// the length prefix.
    Mapped { mapping: sys::Mapping, start: usize },
    /// The bytes in a region their sender reuses once they are dropped.
    Lent(Lent),
    /// Bytes that came through the socket.
    Read(Vec<u8>),
}

impl SharedBytes {
    /// Bytes that came through the socket.
    pub(crate) fn read(bytes: Vec<u8>) -> Self {
        SharedBytes {
            held: Held::Read(bytes),
        }
    }

    /// Whether the bytes are read in the sender's shared memory (rather
    /// than from the socket, for a message below the sender's
    /// [threshold](crate::Channel::shared_memory_threshold)).
    ///
    /// ```
    /// let mut channel = pprocess::start(|channel| channel.send_bytes(b"small"))?;
    /// let bytes = channel.receive_shared()?;
    /// assert!(!bytes.is_mapped());
    /// assert_eq!(&bytes[..], b"small");
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn is_mapped(&self) -> bool {
        !matches!(self.held, Held::Read(_))
    }
}

impl std::ops::Deref for SharedBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.held {
            Held::Mapped { mapping, start } => &mapping.bytes()[*start..],
            Held::Lent(lent) => lent.bytes(),
            Held::Read(bytes) => bytes,
        }
    }
}

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl std::fmt::Debug for SharedBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedBytes")
            .field("len", &self.len())
            .field("mapped", &self.is_mapped())
            .finish()
    }
}

impl Channel {
    /// Receives the next message as bytes, as
    /// [`receive_bytes`](Self::receive_bytes) does, but without copying
    /// them when they came through shared memory: the result reads them in
    /// the memory their sender wrote (see [`SharedBytes`]). For bulk data
    /// that is read once, or kept as it is: the bytes cross no socket and
    /// are copied once in all, by the sender. Errors as `receive_bytes`,
    /// and a message in shared memory that is not a byte string is
    /// [`Error::Decode`].
    ///
    /// The sender sends with [`send_bytes`](Self::send_bytes), or
    /// [`send`](Self::send) of a [`Bytes`](crate::Bytes), past its
    /// [threshold](Self::shared_memory_threshold).
    ///
    /// ```
    /// let mut channel = pprocess::start(|channel| {
    ///     channel.set_shared_memory_threshold(1 << 20);
    ///     channel.send(&pprocess::Bytes::from(vec![3u8; 2 << 20]))
    /// })?;
    /// let bytes = channel.receive_shared()?;
    /// assert_eq!((bytes.len(), bytes[0], bytes.is_mapped()), (2 << 20, 3, true));
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn receive_shared(&mut self) -> Result<SharedBytes> {
        self.check_owner()?;
        while self.on_socketpair() {
            match self.inbox.header(self.frame_limit) {
                Ok(Some(frame)) if matches!(frame.kind, Kind::Shared | Kind::Region) => {
                    let Ok(Some(frame)) = self.inbox.frame(self.frame_limit) else {
                        self.fill()?;
                        continue;
                    };
                    let bytes = bytes(&mut self.inbox, &mut self.mapped, frame, self.frame_limit);
                    self.inbox.consume(frame);
                    self.took_frame();
                    return bytes;
                }
                Ok(None) if !self.inbox.at_end_of_file() => {
                    // A little: the rest may be a byte string to read
                    // straight into its vector.
                    self.fill_with(Inbox::fill_front)?;
                }
                _ => break,
            }
        }
        self.receive_bytes().map(SharedBytes::read)
    }
}
