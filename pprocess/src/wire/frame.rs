//! The wire format of a channel: length-prefixed frames.
//!
//! A frame is a 9-byte header, the payload length as a little-endian `u64`
//! and one byte of [`Kind`] (a message, a panic report, or the
//! acknowledgement a persistent channel's peer sends for each frame it
//! took), followed by the payload. A sender builds the
//! whole frame in one buffer so it goes out in one `send`; a receiver keeps
//! what it has read in an [`Inbox`] until a whole frame is there.
//!
//! The receiver never trusts a header: a length beyond the frame limit is an
//! error before anything is read or allocated for it, and the inbox grows
//! only as bytes actually arrive.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

use crate::error::{Error, Result};
use crate::sys;

/// Header size: `u64` length, then one kind byte.
pub(crate) const HEADER_LEN: usize = 9;

/// What the first read of an inbox asks the kernel for: room for a typical
/// result, small enough to come from the allocator's per-thread cache (a
/// creator that starts thousands of processes allocates no large buffer
/// for each).
const FIRST_READ: usize = 1024;

/// Reads that keep filling all the room they asked for double their size,
/// up to this, so a stream of messages is read in large steps.
const STREAM_READ: usize = 64 * 1024;

/// Largest step by which the inbox grows ahead of the bytes that arrive,
/// so a header that lies about its length costs at most this much.
const MAX_READ_AHEAD: usize = 8 * 1024 * 1024;

/// An inbox that grew past this for a large frame is shrunk once empty.
const KEEP_CAPACITY: usize = 32 * 1024 * 1024;

/// What a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An encoded user message.
    Message = 0,
    /// The panic message of a created process, as UTF-8 text.
    Panic = 1,
    /// An empty frame sent by a process connected to a persistent channel
    /// for each frame it has taken: the sender may forget that frame.
    Ack = 2,
    /// A created process's report that a message it tried to send
    /// exceeded its frame limit: the message's length and the limit, 8
    /// bytes each, little endian.
    TooLarge = 3,
    /// A message whose payload is in shared memory: the payload here is
    /// its length (a little-endian `u64`), and the memory file came with
    /// the header as a passed descriptor.
    Shared = 4,
    /// A part of a message sent while it was encoded: its payload is the
    /// first bytes of the message, and the frames up to and including the
    /// next [`Kind::Message`] bring the rest (see `wire::stream`).
    Part = 5,
    /// The parts sent since the last message are not a message after all
    /// (its sender failed before the end): they are dropped.
    Dropped = 6,
    /// A message whose payload is in a shared region its sender reuses:
    /// the payload here is the message's length (a little-endian `u64`),
    /// the region's slot, and 1 if the region's memory file came with the
    /// header as a passed descriptor, 0 if it came before (see
    /// `channel::region`).
    Region = 7,
}

impl Kind {
    fn from_byte(byte: u8) -> Result<Kind> {
        match byte {
            0 => Ok(Kind::Message),
            1 => Ok(Kind::Panic),
            2 => Ok(Kind::Ack),
            3 => Ok(Kind::TooLarge),
            4 => Ok(Kind::Shared),
            5 => Ok(Kind::Part),
            6 => Ok(Kind::Dropped),
            7 => Ok(Kind::Region),
            other => Err(Error::Decode(format!("unknown frame kind {other}"))),
        }
    }
}

/// A whole acknowledgement frame: a header of kind [`Kind::Ack`] and an
/// empty payload.
pub(crate) const ACK: [u8; HEADER_LEN] = [0, 0, 0, 0, 0, 0, 0, 0, Kind::Ack as u8];

/// Clears `out` and leaves room for a header; the payload is then appended.
pub(crate) fn begin(out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&[0; HEADER_LEN]);
}

/// Writes the header of the frame begun in `out` with [`begin`].
pub(crate) fn finish(out: &mut [u8], kind: Kind, limit: usize) -> Result<()> {
    let length = (out.len() - HEADER_LEN) as u64;
    if length > limit as u64 {
        return Err(Error::FrameTooLarge {
            length,
            limit: limit as u64,
        });
    }
    write_header(out, length, kind);
    Ok(())
}

/// Writes a header announcing `length` payload bytes of `kind` at the
/// start of `out` (which [`begin`] made room in).
pub(crate) fn write_header(out: &mut [u8], length: u64, kind: Kind) {
    out[..8].copy_from_slice(&length.to_le_bytes());
    out[8] = kind as u8;
}

/// How far the message at the front of an inbox has arrived.
enum Arrival {
    /// All of it (every part, and the frame after them, of this kind).
    Whole(Kind),
    /// This many bytes of the first frame not yet whole are missing (0
    /// while its header is).
    Missing(usize),
}

/// A whole frame at the front of an inbox.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Frame {
    pub(crate) kind: Kind,
    pub(crate) length: usize,
}

/// Bytes read from a channel and not yet taken as frames.
#[derive(Debug, Default)]
pub(crate) struct Inbox {
    buffer: Vec<u8>,
    start: usize,
    end_of_file: bool,
    /// How much the next read asks for at least (0: [`FIRST_READ`]).
    read_size: usize,
    /// Whether the last message was decoded as it arrived (see
    /// `wire::stream`; its blocks read into the value, unless they had
    /// arrived already) rather than taken from here: until one is taken
    /// from here again, a read for a new frame asks for no more than its
    /// front, so that the next large message is read into its value too
    /// instead of being copied out of the inbox.
    streaming: bool,
    /// Descriptors passed with the bytes read, in order: the memory of
    /// [`Kind::Shared`] frames.
    passed: Vec<OwnedFd>,
}

/// The most passed descriptors an inbox holds: a peer passing more than
/// it announces frames for is not following the protocol.
const MAX_PASSED: usize = 16;

impl Inbox {
    fn available(&self) -> &[u8] {
        &self.buffer[self.start..]
    }

    /// The header at the front, if a whole header is there: an error if it
    /// is not a valid header under `limit`.
    pub(crate) fn header(&self, limit: usize) -> Result<Option<Frame>> {
        let Some(header) = self.available().get(..HEADER_LEN) else {
            return Ok(None);
        };
        let length = u64::from_le_bytes(header[..8].try_into().expect("8 bytes"));
        let kind = Kind::from_byte(header[8])?;
        if length > limit as u64 {
            return Err(Error::FrameTooLarge {
                length,
                limit: limit as u64,
            });
        }
        Ok(Some(Frame {
            kind,
            length: length as usize,
        }))
    }

    /// The frame at the front if all of it has arrived.
    pub(crate) fn frame(&self, limit: usize) -> Result<Option<Frame>> {
        Ok(self
            .header(limit)?
            .filter(|frame| self.available().len() >= HEADER_LEN + frame.length))
    }

    /// If the message whose first part is at the front has arrived whole
    /// (every part and the frame after them), the kind of that last frame:
    /// [`Kind::Message`] for a message, another for a sender that stopped
    /// in the middle. An error if a header among them is invalid, or if
    /// the parts add up to more than `limit`.
    pub(crate) fn parts_end(&self, limit: usize) -> Result<Option<Kind>> {
        Ok(match self.arrival(limit)? {
            Arrival::Whole(kind) => Some(kind),
            Arrival::Missing(_) => None,
        })
    }

    /// How far the message at the front has arrived, walking its parts
    /// (frames of kind [`Kind::Part`] are followed by the rest of their
    /// message); an error as [`parts_end`](Self::parts_end) says.
    fn arrival(&self, limit: usize) -> Result<Arrival> {
        let mut rest = self.available();
        let mut total = 0u64;
        loop {
            let Some(header) = rest.get(..HEADER_LEN) else {
                return Ok(Arrival::Missing(0));
            };
            let length = u64::from_le_bytes(header[..8].try_into().expect("8 bytes"));
            let kind = Kind::from_byte(header[8])?;
            total = total.saturating_add(length);
            if total > limit as u64 {
                return Err(Error::FrameTooLarge {
                    length: total,
                    limit: limit as u64,
                });
            }
            let whole = HEADER_LEN + length as usize;
            let Some(after) = rest.get(whole..) else {
                return Ok(Arrival::Missing(whole - rest.len()));
            };
            if kind != Kind::Part {
                return Ok(Arrival::Whole(kind));
            }
            rest = after;
        }
    }

    /// The payload of `frame`, which [`Inbox::frame`] returned.
    pub(crate) fn payload(&self, frame: Frame) -> &[u8] {
        &self.available()[HEADER_LEN..HEADER_LEN + frame.length]
    }

    /// The part of `frame`'s payload that has arrived (the frame whose
    /// header [`Inbox::header`] returned).
    pub(crate) fn partial_payload(&self, frame: Frame) -> &[u8] {
        let available = &self.available()[HEADER_LEN..];
        &available[..available.len().min(frame.length)]
    }

    /// Drops `count` bytes from the front, even in the middle of a frame
    /// (whose rest the caller then reads from the socket itself).
    pub(crate) fn skip(&mut self, count: usize) {
        self.start += count;
        if self.start == self.buffer.len() {
            self.start = 0;
            self.buffer.clear();
        }
    }

    /// The buffer of an empty inbox, with room for `room` bytes, and
    /// where descriptors passed with them go: for a read whose last bytes
    /// are the next frame's (see `wire::stream`).
    pub(crate) fn room(&mut self, room: usize) -> (&mut Vec<u8>, &mut Vec<OwnedFd>) {
        debug_assert!(
            self.buffer.is_empty(),
            "only an empty inbox lends its buffer"
        );
        self.buffer.reserve(room);
        (&mut self.buffer, &mut self.passed)
    }

    /// Drops `frame` from the front.
    pub(crate) fn consume(&mut self, frame: Frame) {
        self.streaming = false;
        self.start += HEADER_LEN + frame.length;
        if self.start == self.buffer.len() {
            self.start = 0;
            self.buffer.clear();
            if self.buffer.capacity() > KEEP_CAPACITY {
                self.buffer = Vec::new();
            }
        }
    }

    /// Drops everything buffered (after a framing error, nothing that
    /// follows can be trusted).
    pub(crate) fn discard(&mut self) {
        self.buffer = Vec::new();
        self.start = 0;
        self.passed.clear();
    }

    /// The oldest descriptor passed with the bytes read and not taken yet.
    pub(crate) fn take_passed(&mut self) -> Option<OwnedFd> {
        (!self.passed.is_empty()).then(|| self.passed.remove(0))
    }

    /// Whether the peer closed its end and everything it sent was read.
    pub(crate) fn at_end_of_file(&self) -> bool {
        self.end_of_file
    }

    /// Whether bytes of an incomplete frame are buffered.
    pub(crate) fn has_partial_frame(&self) -> bool {
        !self.available().is_empty()
    }

    /// The error for a stream that ended in the middle of a frame.
    pub(crate) fn truncation(&self) -> Error {
        let received = self.available().len() as u64;
        let expected = match self.available().get(..8) {
            Some(length) if received >= HEADER_LEN as u64 => {
                u64::from_le_bytes(length.try_into().expect("8 bytes"))
                    .saturating_add(HEADER_LEN as u64)
            }
            _ => HEADER_LEN as u64,
        };
        Error::TruncatedFrame { expected, received }
    }

    /// Reads once from `fd` (blocking if nothing is there), growing the
    /// buffer towards the size of the frame being received, but never more
    /// than [`MAX_READ_AHEAD`] beyond what arrived. Returns the number of
    /// bytes read; 0 means the peer closed its end.
    pub(crate) fn fill(&mut self, fd: BorrowedFd<'_>, limit: usize) -> io::Result<usize> {
        self.fill_at_most(fd, limit, usize::MAX)
    }

    /// Reads once, as [`fill`](Self::fill), but at most [`FIRST_READ`]
    /// bytes: for the start of a frame whose payload the caller reads
    /// itself (see [`skip`](Self::skip)). What this reads of the payload is
    /// copied once more, so it reads little however fast the stream is.
    pub(crate) fn fill_front(&mut self, fd: BorrowedFd<'_>, limit: usize) -> io::Result<usize> {
        self.fill_at_most(fd, limit, FIRST_READ)
    }

    /// Reads once, at most `most` bytes, with the header at the front
    /// [`skip`](Self::skip)ped: for the rest of a frame's payload, which
    /// the caller decodes as it arrives.
    pub(crate) fn fill_payload(&mut self, fd: BorrowedFd<'_>, most: usize) -> io::Result<usize> {
        self.read(fd, most, most)
    }

    /// The bytes read and not yet taken (after a [`skip`](Self::skip),
    /// the rest of a payload).
    pub(crate) fn buffered(&self) -> &[u8] {
        self.available()
    }

    /// Notes that a message was read into the value it decoded to, its
    /// payload not through the inbox (see [`Inbox::streaming`]).
    pub(crate) fn streamed(&mut self) {
        self.streaming = true;
    }

    fn fill_at_most(&mut self, fd: BorrowedFd<'_>, limit: usize, most: usize) -> io::Result<usize> {
        let missing = match self.arrival(limit) {
            Ok(Arrival::Missing(missing)) => missing,
            _ => 0,
        };
        let most = if self.streaming && self.available().len() < HEADER_LEN {
            most.min(FIRST_READ)
        } else {
            most
        };
        self.read(fd, missing, most)
    }

    /// Reads once, at most `most` bytes, growing the buffer by up to
    /// `missing` bytes (the rest of the frame being received).
    fn read(&mut self, fd: BorrowedFd<'_>, missing: usize, most: usize) -> io::Result<usize> {
        let step = self.read_size.max(FIRST_READ);
        let wanted = missing.clamp(step, MAX_READ_AHEAD.max(step)).min(most);
        if self.buffer.capacity() - self.buffer.len() < wanted {
            if self.start > 0 {
                self.buffer.drain(..self.start);
                self.start = 0;
            }
            self.buffer.reserve(wanted);
        }
        let room = (self.buffer.capacity() - self.buffer.len()).min(most);
        if self.passed.len() > MAX_PASSED {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "descriptors passed without their frames",
            ));
        }
        let read = match sys::receive_into_spare(fd, &mut self.buffer, most, &mut self.passed) {
            // The peer closed its end while bytes we sent were still unread
            // in it. Linux then reports ECONNRESET instead of end of file,
            // once everything the peer sent has been read: for us it is the
            // end of the stream like any other.
            Err(error) if error.raw_os_error() == Some(nix::libc::ECONNRESET) => 0,
            read => read?,
        };
        if read == 0 {
            self.end_of_file = true;
        }
        if read == room && room < most {
            // More may be waiting: ask for more next time. (A read bounded
            // on purpose, filling its bound, says nothing of the stream.)
            self.read_size = (step * 2).min(STREAM_READ);
        }
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    /// A frame of kind message carrying `payload`.
    fn message(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        begin(&mut out);
        out.extend_from_slice(payload);
        finish(&mut out, Kind::Message, usize::MAX).unwrap();
        out
    }

    #[test]
    fn a_small_message_is_read_into_a_small_buffer() {
        let (mut writer, reader) = UnixStream::pair().unwrap();
        writer.write_all(&message(&[7; 100])).unwrap();
        let mut inbox = Inbox::default();
        inbox.fill(reader.as_fd(), 1 << 20).unwrap();
        let frame = inbox.frame(1 << 20).unwrap().expect("the whole frame");
        assert_eq!(inbox.payload(frame), [7; 100]);
        assert!(
            inbox.buffer.capacity() <= FIRST_READ,
            "{}",
            inbox.buffer.capacity()
        );
    }

    #[test]
    fn reads_grow_while_a_stream_keeps_filling_them() {
        let (mut writer, reader) = UnixStream::pair().unwrap();
        let frame = message(&[1; 91]);
        let frames = 500;
        // 50 kB in one write, all in the socket before the first read.
        let stream: Vec<u8> = frame
            .iter()
            .copied()
            .cycle()
            .take(frame.len() * frames)
            .collect();
        writer.write_all(&stream).unwrap();
        let mut inbox = Inbox::default();
        let (mut taken, mut reads) = (0, 0);
        while taken < frames {
            match inbox.frame(1 << 20).unwrap() {
                Some(frame) => {
                    inbox.consume(frame);
                    taken += 1;
                }
                None => {
                    assert!(inbox.fill(reader.as_fd(), 1 << 20).unwrap() > 0);
                    reads += 1;
                }
            }
        }
        // Reads of 1 KiB would take 49; doubling ones take 6 or 7.
        assert!(reads <= 8, "{reads} reads");
        assert!(inbox.read_size >= 32 * 1024, "{}", inbox.read_size);
    }

    #[test]
    fn a_front_read_takes_little_of_a_fast_stream() {
        let (mut writer, reader) = UnixStream::pair().unwrap();
        // 100 kB in the socket, and reads grown by a stream before.
        writer.write_all(&message(&[5; 100_000])).unwrap();
        let mut inbox = Inbox {
            read_size: STREAM_READ,
            ..Inbox::default()
        };
        let read = inbox.fill_front(reader.as_fd(), usize::MAX).unwrap();
        assert_eq!(read, FIRST_READ);
        let header = inbox.header(usize::MAX).unwrap().expect("a header");
        assert_eq!(header.length, 100_000);
        assert!(
            inbox.buffer.capacity() < STREAM_READ,
            "{}",
            inbox.buffer.capacity()
        );
        // An ordinary read then takes the rest of the frame in large reads.
        assert!(inbox.fill(reader.as_fd(), usize::MAX).unwrap() > FIRST_READ);
    }

    #[test]
    fn a_large_frame_is_read_whole_without_many_small_reads() {
        let (mut writer, reader) = UnixStream::pair().unwrap();
        let payload = vec![3u8; 1 << 20];
        let frame = message(&payload);
        let writing = std::thread::spawn(move || writer.write_all(&frame).unwrap());
        let mut inbox = Inbox::default();
        let mut reads = 0;
        while inbox.frame(usize::MAX).unwrap().is_none() {
            inbox.fill(reader.as_fd(), usize::MAX).unwrap();
            reads += 1;
        }
        writing.join().unwrap();
        let frame = inbox.frame(usize::MAX).unwrap().unwrap();
        assert_eq!(inbox.payload(frame), payload);
        // The header announces the length: the buffer grows to it at once.
        assert!(reads < 200, "{reads} reads");
    }

    #[test]
    fn the_bytes_missing_from_a_message_in_parts_are_counted_past_its_whole_parts() {
        // A whole part, then 30 of the 100 bytes of the final frame.
        let mut bytes = [0u8; HEADER_LEN + 10].to_vec();
        write_header(&mut bytes, 10, Kind::Part);
        let mut last = [0u8; HEADER_LEN + 30];
        write_header(&mut last, 100, Kind::Message);
        bytes.extend_from_slice(&last);
        let inbox = inbox_with(&bytes);
        assert!(matches!(
            inbox.arrival(usize::MAX),
            Ok(Arrival::Missing(70))
        ));
        assert_eq!(inbox.parts_end(usize::MAX).unwrap(), None);
        // The parts together count against the limit.
        assert!(matches!(
            inbox.parts_end(100),
            Err(Error::FrameTooLarge { length: 110, .. })
        ));
        bytes.extend_from_slice(&[0; 70]);
        let end = inbox_with(&bytes).parts_end(usize::MAX).unwrap();
        assert_eq!(end, Some(Kind::Message));
        // A whole part and nothing after it: the next header is missing.
        let inbox = inbox_with(&bytes[..HEADER_LEN + 10]);
        assert!(matches!(inbox.arrival(usize::MAX), Ok(Arrival::Missing(0))));
    }

    fn inbox_with(bytes: &[u8]) -> Inbox {
        Inbox {
            buffer: bytes.to_vec(),
            ..Inbox::default()
        }
    }

    #[test]
    fn a_frame_is_complete_only_when_all_its_bytes_are_there() {
        let mut out = Vec::new();
        begin(&mut out);
        out.extend_from_slice(b"abc");
        finish(&mut out, Kind::Message, 100).unwrap();
        let partial = inbox_with(&out[..out.len() - 1]);
        assert!(partial.frame(100).unwrap().is_none());
        let whole = inbox_with(&out);
        let frame = whole.frame(100).unwrap().unwrap();
        assert_eq!(whole.payload(frame), b"abc");
    }

    #[test]
    fn a_length_beyond_the_limit_is_rejected_from_the_header_alone() {
        let mut header = (1u64 << 60).to_le_bytes().to_vec();
        header.push(0);
        let inbox = inbox_with(&header);
        assert!(matches!(
            inbox.frame(1024),
            Err(Error::FrameTooLarge { length, limit: 1024 }) if length == 1 << 60
        ));
    }

    #[test]
    fn an_acknowledgement_is_a_whole_empty_frame_of_kind_ack() {
        let inbox = inbox_with(&ACK);
        let frame = inbox.frame(0).unwrap().unwrap();
        assert_eq!((frame.kind, frame.length), (Kind::Ack, 0));
    }

    #[test]
    fn an_unknown_kind_is_a_decode_error() {
        let mut header = 0u64.to_le_bytes().to_vec();
        header.push(77);
        assert!(matches!(
            inbox_with(&header).frame(10),
            Err(Error::Decode(_))
        ));
    }

    #[test]
    fn truncation_reports_the_announced_and_received_sizes() {
        let mut bytes = 10u64.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0, 1, 2]);
        assert!(matches!(
            inbox_with(&bytes).truncation(),
            Error::TruncatedFrame {
                expected: 19,
                received: 11
            }
        ));
    }
}
