//! Receiving a large message while it arrives, and sending one while it
//! is encoded (see `wire::stream`): a block of bytes or numbers crosses
//! from the sender's value into the kernel, and from the kernel into the
//! receiver's value, with no copy through a buffer of the channel.
//!
//! Only on a socketpair: a connection to a persistent channel takes the
//! general path (one frame per message, whole). A channel with frames
//! queued to send (feeding a reused process) sends its own messages whole,
//! behind them; it still receives parts, and reading the rest of a
//! message its peer is sending waits for nothing the peer needs from it.

use std::os::fd::{AsFd, BorrowedFd};

use serde::de::DeserializeOwned;

use super::{Channel, Role};
use crate::error::{Error, Result};
use crate::sys;
use crate::wire::codec::{self, PartSink};
use crate::wire::frame::{self, Frame, Kind};
use crate::wire::stream::{self, Arriving, Failure};

impl Channel {
    /// Whether this is an end of a socketpair (either side).
    pub(super) fn on_socketpair(&self) -> bool {
        matches!(self.role, Role::Creator { .. } | Role::Created)
    }

    /// Whether messages may go in parts, as they are encoded.
    pub(super) fn sends_parts(&self) -> bool {
        self.on_socketpair() && !self.has_unsent()
    }

    /// The frame at the front of the inbox, if it starts a message to
    /// decode as it arrives.
    pub(super) fn arriving_frame(&self) -> Option<Frame> {
        self.on_socketpair()
            .then(|| stream::first_frame(&self.inbox, self.frame_limit))
            .flatten()
    }

    /// Decodes the message starting with `frame` (from
    /// [`arriving_frame`](Self::arriving_frame)) as it arrives; `None` if
    /// its sender dropped it, or stopped in the middle (the frame it sent
    /// instead, a panic report, is then at the front of the inbox). Errors as [`receive`](Self::receive): a value
    /// that does not decode is [`Error::Decode`] and the rest of its
    /// message is skipped; a stream that ends inside it is reported as
    /// its end.
    pub(super) fn receive_arriving<T: DeserializeOwned>(
        &mut self,
        frame: Frame,
    ) -> Option<Result<T>> {
        let Some(socket) = self.socket.as_ref() else {
            return Some(Err(Error::Closed));
        };
        self.inbox.skip(frame::HEADER_LEN);
        let arriving = Arriving::new(&mut self.inbox, socket.as_fd(), frame, self.frame_limit);
        let (value, arriving) = codec::decode_from::<T, _>(arriving);
        Some(match arriving.finish() {
            Ok(()) => {
                self.took_frame();
                value
            }
            Err(Failure::Dropped) => return None,
            Err(Failure::Ended { expected, received }) => {
                self.reported_end = true;
                let truncated = Error::TruncatedFrame { expected, received };
                Err(self.stream_ended(Some(truncated)))
            }
            Err(Failure::Io(error)) => {
                self.break_off();
                Err(self.receive_error(error))
            }
            Err(Failure::Broken(error)) => {
                self.break_off();
                Err(error)
            }
        })
    }

    /// After `parted` bytes went in parts, whether the rest of the message
    /// (`placed`, in `small` or the outbox) keeps it within the frame
    /// limit.
    pub(super) fn check_last_part(
        &self,
        parted: usize,
        placed: &codec::Placed,
        small: &[u8],
    ) -> Result<()> {
        let rest = match placed {
            codec::Placed::Small(used) => small[..*used].len(),
            codec::Placed::Spilled => self.outbox.len(),
            codec::Placed::Shared(_) | codec::Placed::Sent => frame::HEADER_LEN,
        } - frame::HEADER_LEN;
        if parted > 0 && parted + rest > self.frame_limit {
            return Err(Error::FrameTooLarge {
                length: (parted + rest) as u64,
                limit: self.frame_limit as u64,
            });
        }
        Ok(())
    }

    /// Tells the receiver that the parts sent are not a message after all
    /// (their message failed). If this fails too, the peer is gone.
    pub(super) fn drop_parts(&self) {
        if let Some(socket) = &self.socket {
            let mut dropped = [0; frame::HEADER_LEN];
            frame::write_header(&mut dropped, 0, frame::Kind::Dropped);
            let _ = sys::send_all(socket.as_fd(), &dropped);
        }
    }

    /// What [`event`](Self::event) says of a first part at the front.
    pub(super) fn parts_event(&self) -> super::Event {
        match self.inbox.parts_end(self.frame_limit) {
            Ok(Some(Kind::Message)) => super::Event::Message,
            Ok(None) if !self.inbox.at_end_of_file() => super::Event::Nothing,
            // A sender that stopped in the middle (a panic report after
            // the parts), a stream that ended there, or garbage.
            _ => super::Event::Failure,
        }
    }
}

/// Sends the parts of a message as it is encoded, on a socketpair.
pub(super) struct Parts<'a> {
    socket: BorrowedFd<'a>,
    limit: usize,
    /// Payload bytes sent in parts.
    sent: usize,
    /// Flush standard output and error before the first part (in a
    /// created process).
    flush: bool,
    /// Why a part could not be sent.
    failure: Option<std::io::Error>,
}

impl<'a> Parts<'a> {
    pub(super) fn new(socket: BorrowedFd<'a>, limit: usize, flush: bool) -> Self {
        Parts {
            socket,
            limit,
            sent: 0,
            flush,
            failure: None,
        }
    }

    /// The payload bytes sent in parts, and why a part could not be sent.
    pub(super) fn into_outcome(self) -> (usize, Option<std::io::Error>) {
        (self.sent, self.failure)
    }
}

impl PartSink for Parts<'_> {
    fn send_part(&mut self, begun: &mut [u8], block: &[u8], last: bool) -> Result<()> {
        let length = stream::part_header(begun, block.len(), last);
        if self.sent + length > self.limit {
            return Err(Error::FrameTooLarge {
                length: (self.sent + length) as u64,
                limit: self.limit as u64,
            });
        }
        if std::mem::take(&mut self.flush) {
            use std::io::Write;
            let _ = std::io::stdout().flush();
            let _ = std::io::stderr().flush();
        }
        sys::send_all_vectored(self.socket, &[begun, block]).map_err(|error| {
            self.failure = Some(error);
            Error::Closed
        })?;
        // A whole message leaves no parts for the receiver to drop, even
        // if the value's serialization fails after it.
        if !last {
            self.sent += length;
        }
        Ok(())
    }
}
