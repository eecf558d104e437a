//! Large messages through shared memory: past a channel's threshold, a
//! message is encoded into a memory file, which is sealed against any
//! change and passed with the frame header; the receiver maps it read-only
//! and decodes from it. The payload never crosses the socket, so it is
//! copied twice (encoded, decoded) instead of four times (encoded, into
//! the kernel, out of it, decoded).
//!
//! Nothing leaks when either side dies: the sender's file is a descriptor
//! and a mapping of its own until it is passed; a passed descriptor not yet
//! received belongs to the socket and goes with it; a received one is
//! owned by the receiving inbox, or closed (and its mapping unmapped) as
//! soon as its message is decoded.

use std::os::fd::AsFd;

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::sys;
use crate::wire::codec;
use crate::wire::frame::{self, Frame, Inbox, Kind};

/// The default threshold: messages of at least this many encoded bytes go
/// through shared memory. Each message takes fresh pages of a new memory
/// file, which the kernel allocates, zeroes and frees page by page: below
/// this, the socket's copies into buffers the channel keeps (up to 16 MiB)
/// are faster (measured with the benchmark's sweep: see
/// docs/performance.md).
pub(crate) const SHARED_FROM: usize = 32 << 20;

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
    let mapping =
        sys::map_sealed(file.as_fd(), length as usize).map_err(|error| match error.kind() {
            std::io::ErrorKind::InvalidData => Error::Decode(error.to_string()),
            _ => Error::io("map shared memory", error),
        })?;
    codec::decode(mapping.bytes())
}
