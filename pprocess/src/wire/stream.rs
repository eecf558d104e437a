//! A message decoded while it arrives: the payload of a large message is
//! read from the socket as the decoder asks for it, and a block of
//! numbers (`Vec<u8>`, `Vec<f64>`, a byte string, a string) straight into
//! the vector the value keeps. The bytes cross from the kernel once,
//! into their final place, instead of into the inbox and then again into
//! the value.
//!
//! A message may come in parts ([`Kind::Part`] frames, then the final
//! frame): its sender wrote each large block from the value itself,
//! behind what it had encoded before it. A part ends only after such a
//! block, so a length and the bytes it announces are always in one part:
//! the decoder checks every length against what is left of the part it
//! is in. The parts together stay within the frame limit.
//!
//! Nothing is read past the message: every read is bounded by the bytes
//! the current header announced and not yet read, or, at the end of a
//! part, by the next header (which the read of the part's last block
//! takes too, with any descriptors passed with it). What follows stays
//! in the socket, and its passed descriptors with it. A block's vector
//! grows at most [`STEP`] bytes ahead of what arrived.

use std::io;
use std::os::fd::BorrowedFd;

use serde::de::Visitor;

use super::codec::{CodecError, Input, utf8};
use super::frame::{self, Frame, HEADER_LEN, Inbox, Kind};
use crate::error::Error;
use crate::sys;

/// Messages with at least this many payload bytes still to read when
/// their header arrives are decoded as they arrive.
pub(crate) const STREAM_FROM: usize = 16 << 10;

/// The most a read for small values (numbers, lengths) asks for: the
/// first such read of a frame asks for [`FIRST_STAGE`], and each next one
/// for twice as much, so that the few small values before a block cost
/// one short read and many of them a few long ones.
const STAGE: usize = 64 << 10;
const FIRST_STAGE: usize = 1 << 10;

/// How far a block's vector grows ahead of the bytes that arrived.
const STEP: usize = 64 << 20;

/// The rest of a message: first what the inbox holds (the header of the
/// frame being decoded already skipped), then the socket.
pub(crate) struct Arriving<'a> {
    inbox: &'a mut Inbox,
    socket: BorrowedFd<'a>,
    /// The frame being decoded.
    frame: Frame,
    /// Its payload bytes not yet decoded, in the inbox or the socket.
    left: usize,
    /// Payload bytes of the frames of this message so far.
    total: usize,
    limit: usize,
    /// What the next read for small values asks for at most.
    stage: usize,
    /// The last small value taken.
    scratch: Vec<u8>,
    /// Why the message could not be read whole.
    failure: Option<Failure>,
}

/// Why a message could not be read whole.
pub(crate) enum Failure {
    /// The stream ended inside a frame (see [`Error::TruncatedFrame`]).
    Ended { expected: u64, received: u64 },
    /// A read failed.
    Io(io::Error),
    /// The sender dropped the parts it had sent ([`Kind::Dropped`]), or
    /// stopped sending them: a frame of another kind followed them (a
    /// panic report), left at the front of the inbox.
    Dropped,
    /// A header among the parts is not a header, or the parts add up to
    /// more than the frame limit: nothing after it can be trusted.
    Broken(Error),
}

impl<'a> Arriving<'a> {
    /// The message whose first frame is `frame`, whose header is skipped
    /// and whose payload starts in `inbox`; its frames together are at
    /// most `limit` bytes.
    pub(crate) fn new(
        inbox: &'a mut Inbox,
        socket: BorrowedFd<'a>,
        frame: Frame,
        limit: usize,
    ) -> Self {
        let mut arriving = Arriving {
            inbox,
            socket,
            frame,
            left: frame.length,
            total: frame.length,
            limit,
            stage: FIRST_STAGE,
            scratch: Vec::new(),
            failure: None,
        };
        // An empty part: on to the next frame at once.
        let _ = arriving.used(0);
        arriving
    }

    /// Takes the undecoded rest of the message off the socket (the value
    /// is `Ok` and used it all, or an error and what it left is
    /// skipped): `Ok(())` when the whole message is consumed.
    pub(crate) fn finish(mut self) -> Result<(), Failure> {
        while self.failure.is_none() && self.left > 0 {
            let skip = self.buffered();
            if skip > 0 {
                let _ = self.consume(skip);
            } else {
                let _ = self.fill();
            }
        }
        match self.failure {
            None => {
                self.inbox.streamed();
                Ok(())
            }
            Some(failure) => Err(failure),
        }
    }

    /// Bytes of the current frame in the inbox.
    fn buffered(&self) -> usize {
        self.inbox.buffered().len().min(self.left)
    }

    /// Drops `count` buffered bytes of the current frame.
    fn consume(&mut self, count: usize) -> Result<(), CodecError> {
        self.inbox.skip(count);
        self.used(count)
    }

    /// Counts `count` bytes of the current frame decoded; at the end of a
    /// part, reads the next frame's header.
    fn used(&mut self, count: usize) -> Result<(), CodecError> {
        self.left -= count;
        while self.left == 0 && self.frame.kind == Kind::Part {
            while self.inbox.buffered().len() < HEADER_LEN {
                let more = HEADER_LEN - self.inbox.buffered().len();
                let read = self.inbox.fill_payload(self.socket, more);
                self.check(read, HEADER_LEN as u64, self.inbox.buffered().len() as u64)?;
            }
            let next = match self.inbox.header(self.limit - self.total) {
                Ok(Some(next)) => next,
                Ok(None) => unreachable!("a whole header is buffered"),
                Err(Error::FrameTooLarge { length, .. }) => {
                    let error = Error::FrameTooLarge {
                        length: self.total as u64 + length,
                        limit: self.limit as u64,
                    };
                    return Err(self.fail(Failure::Broken(error)));
                }
                Err(error) => return Err(self.fail(Failure::Broken(error))),
            };
            match next.kind {
                Kind::Part | Kind::Message => self.inbox.skip(HEADER_LEN),
                Kind::Dropped if next.length == 0 => {
                    self.inbox.skip(HEADER_LEN);
                    return Err(self.fail(Failure::Dropped));
                }
                // The sender stopped in the middle of the message (its
                // value's serialization panicked, say): the parts are
                // dropped, and this frame is left to be received as it is.
                _ => return Err(self.fail(Failure::Dropped)),
            }
            self.frame = next;
            self.left = next.length;
            self.total += next.length;
            self.stage = FIRST_STAGE;
        }
        Ok(())
    }

    /// Reads more of the current frame into the inbox.
    fn fill(&mut self) -> Result<(), CodecError> {
        let unread = self.left - self.buffered();
        let read = self.inbox.fill_payload(self.socket, unread.min(self.stage));
        self.stage = (self.stage * 2).min(STAGE);
        self.truncated(read, unread)
    }

    /// What a read of the current frame returned, with `unread` of its
    /// bytes not read before it.
    fn truncated(&mut self, read: io::Result<usize>, unread: usize) -> Result<(), CodecError> {
        let expected = (HEADER_LEN + self.frame.length) as u64;
        self.check(read, expected, expected - unread as u64)
    }

    /// What a read returned, as the decoder sees it: a failure is noted
    /// for [`finish`](Self::finish).
    fn check(
        &mut self,
        read: io::Result<usize>,
        expected: u64,
        received: u64,
    ) -> Result<(), CodecError> {
        match read {
            Ok(0) => Err(self.fail(Failure::Ended { expected, received })),
            Ok(_) => Ok(()),
            Err(error) => Err(self.fail(Failure::Io(error))),
        }
    }

    fn fail(&mut self, failure: Failure) -> CodecError {
        self.failure = Some(failure);
        CodecError::new("the message did not arrive whole")
    }
}

impl<'de> Input<'de> for Arriving<'_> {
    fn remaining(&self) -> usize {
        self.left
    }

    fn take(&mut self, count: usize) -> Result<&[u8], CodecError> {
        while self.buffered() < count {
            self.fill()?;
        }
        self.scratch.clear();
        self.scratch
            .extend_from_slice(&self.inbox.buffered()[..count]);
        self.consume(count)?;
        Ok(&self.scratch)
    }

    fn bytes<V: Visitor<'de>>(&mut self, count: usize, visitor: V) -> Result<V::Value, CodecError> {
        visitor.visit_byte_buf(self.block(count)?)
    }

    fn str<V: Visitor<'de>>(&mut self, count: usize, visitor: V) -> Result<V::Value, CodecError> {
        let bytes = self.block(count)?;
        utf8(&bytes)?;
        visitor.visit_string(String::from_utf8(bytes).expect("checked"))
    }

    fn block<E: bytemuck::Pod>(&mut self, count: usize) -> Result<Vec<E>, CodecError> {
        let size = count * size_of::<E>();
        let step = (STEP / size_of::<E>()).max(1);
        let mut filling = sys::Filling::<E>::with_capacity(count.min(step));
        let buffered = size.min(self.buffered());
        filling.extend_from_bytes(&self.inbox.buffered()[..buffered]);
        self.inbox.skip(buffered);
        let mut decoded = buffered;
        while filling.filled() < size {
            if filling.room() == 0 {
                let whole = filling.filled() / size_of::<E>();
                filling.reserve((count - whole).min(whole.max(step)));
            }
            let unread = self.left - decoded;
            let wanted = (size - filling.filled()).min(filling.room());
            // A block that ends a part is followed by the header of the
            // next frame of the message: it comes with the block's end.
            let header = if wanted == unread && self.frame.kind == Kind::Part {
                HEADER_LEN
            } else {
                0
            };
            // Descriptors that come with the header are its frame's (a
            // sender that stopped sends its next frame instead of the
            // message's); those with a block alone are closed.
            let (inbox, passed) = self.inbox.room(header);
            let mut closed = Vec::new();
            let passed = if header > 0 { passed } else { &mut closed };
            let read = filling.read_from(self.socket, wanted, inbox, header, passed);
            let got = read.as_ref().map_or(0, |(block, _)| *block);
            self.truncated(read.map(|(block, after)| block + after), unread)?;
            decoded += got;
        }
        self.used(decoded)?;
        Ok(filling.into_vec())
    }
}

/// The first frame of a message to decode as it arrives, if the one at the
/// front of `inbox` is: the first part of a message, or a message with at
/// least [`STREAM_FROM`] bytes still to read.
pub(crate) fn first_frame(inbox: &Inbox, limit: usize) -> Option<Frame> {
    let frame = inbox.header(limit).ok()??;
    let buffered = inbox.partial_payload(frame).len();
    let large = frame.kind == Kind::Message && frame.length - buffered >= STREAM_FROM;
    (frame.kind == Kind::Part || large).then_some(frame)
}

/// Writes the header of a part, or of a whole message if `last`
/// (`begun` starts with room for it), whose payload is the rest of
/// `begun` and then `block`.
pub(crate) fn part_header(begun: &mut [u8], block: usize, last: bool) -> usize {
    let length = begun.len() - HEADER_LEN + block;
    let kind = if last { Kind::Message } else { Kind::Part };
    frame::write_header(begun, length as u64, kind);
    length
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::codec;
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn numbers_split_between_the_inbox_and_the_socket_arrive_whole() {
        // The inbox holds the header, the length (a tag and 4 bytes) and a
        // byte of the first float; the rest is still in the socket.
        let floats: Vec<f64> = (0..100_000).map(|n| f64::from(n) / 3.0).collect();
        let mut payload = Vec::new();
        codec::encode_into(&floats, &mut payload).unwrap();
        let mut header = [0; HEADER_LEN];
        frame::write_header(&mut header, payload.len() as u64, Kind::Message);
        let (mut writer, reader) = UnixStream::pair().unwrap();
        writer.write_all(&header).unwrap();
        writer.write_all(&payload[..6]).unwrap();
        let mut inbox = Inbox::default();
        while inbox.buffered().len() < HEADER_LEN + 6 {
            inbox.fill(reader.as_fd(), usize::MAX).unwrap();
        }
        let rest = payload[6..].to_vec();
        let writing = std::thread::spawn(move || writer.write_all(&rest).unwrap());
        let frame = first_frame(&inbox, usize::MAX).expect("to read as it arrives");
        inbox.skip(HEADER_LEN);
        let arriving = Arriving::new(&mut inbox, reader.as_fd(), frame, usize::MAX);
        let (value, arriving) = codec::decode_from::<Vec<f64>, _>(arriving);
        assert!(arriving.finish().is_ok());
        assert_eq!(value.unwrap(), floats);
        assert!(inbox.buffered().is_empty(), "nothing read past the frame");
        writing.join().unwrap();
    }
}
