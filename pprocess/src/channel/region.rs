//! Shared regions a channel reuses for large messages, so that a message
//! in shared memory costs one copy into pages already mapped on both
//! sides, rather than a new memory file whose pages the kernel allocates,
//! zeroes and frees each time (see `shared` for that path, which stays
//! the fallback).
//!
//! A region is a memory file sealed against shrinking: a header page,
//! whose first word says whether the region is free, then the message.
//! Who writes what, and when:
//!
//! - The sender takes a region only when its word says free, marks it
//!   held, makes its mapping writable, encodes the message into it, makes
//!   the mapping read-only again (a stray write then faults instead of
//!   changing what the receiver reads) and announces it: the slot, the
//!   length, and the memory file itself the first time the slot is used.
//! - The receiver maps the message read-only (as much of the file as
//!   the message takes). A byte string is lent where it is, as
//!   [`SharedBytes`](super::SharedBytes), and the region is marked free
//!   when that is dropped; any other value is decoded from a copy made
//!   at once, and the region marked free after the copy (decoding in
//!   place would trust the sender not to change a string between its
//!   UTF-8 check and its use). A process that has forked since it
//!   received the message never marks it free: its child may still be
//!   reading the same pages. A message that cannot be read (too large,
//!   beyond its file) frees its region too.
//! - When every slot holds a message still read, the next large message
//!   takes a memory file of its own, sealed against any change.
//!
//! Nothing leaks when either side dies: each side's mappings and
//! descriptors are owned by its channel (and by the `SharedBytes` still
//! alive), and a file's pages are freed when the last of them goes.

use std::ops::Range;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::sys;
use crate::wire::codec;
use crate::wire::frame::{self, Frame, Inbox, Kind};

/// How many regions a channel reuses: one being read while the next
/// message is written in the other.
const SLOTS: usize = 2;

/// The values of a region's header word.
const FREE: u32 = 0;
const HELD: u32 = 1;

/// The length of a [`Kind::Region`] frame's payload: the message's length
/// (a little-endian `u64`), the slot, and whether the memory file comes
/// with the frame (1) or was passed before (0).
const ANNOUNCEMENT_LEN: usize = 10;

/// The regions the messages a channel sends are written in.
#[derive(Default)]
pub(super) struct Regions {
    slots: [Option<Region>; SLOTS],
    /// The slot whose memory file is out, being written.
    leased: Option<usize>,
}

struct Region {
    header: sys::Mapping,
    /// `None` while leased.
    file: Option<sys::MemoryFile>,
    /// Whether the receiver has the memory file.
    passed: bool,
}

impl Region {
    fn is_free(&self) -> bool {
        self.file.is_some() && self.header.word().load(Ordering::Acquire) == FREE
    }

    /// The memory file, writable, with room for `capacity` bytes.
    fn reopen(&mut self, capacity: usize) -> std::io::Result<sys::MemoryFile> {
        let mut file = self.file.take().expect("a free region has its file");
        file.protect(true)?;
        file.grow(capacity)?;
        Ok(file)
    }
}

/// How a message encoded in shared memory is sent.
pub(super) enum Announced<'a> {
    /// In the region of a slot: the frame, and the memory file to pass
    /// with it the first time.
    Region {
        frame: [u8; frame::HEADER_LEN + ANNOUNCEMENT_LEN],
        file: Option<BorrowedFd<'a>>,
    },
    /// In a memory file of its own, sealed: the frame, and the file.
    Sealed {
        frame: [u8; frame::HEADER_LEN + 8],
        file: OwnedFd,
    },
}

impl Regions {
    /// A memory file with room for `capacity` bytes to encode a message
    /// in: the region of a slot, free and grown if need be, or a new one
    /// in an empty slot; a new memory file of its own (sealed when sent)
    /// if every slot holds a message its receiver still reads; `None` if
    /// no memory file can be had.
    pub(super) fn lease(&mut self, capacity: usize) -> Option<sys::MemoryFile> {
        if let Some(lost) = self.leased.take() {
            // The last lease never came back (its message was not sent in
            // shared memory after all): the region went with it.
            self.slots[lost] = None;
        }
        let free = self
            .slots
            .iter()
            .position(|slot| slot.as_ref().is_some_and(Region::is_free))
            .or_else(|| self.slots.iter().position(Option::is_none));
        let Some(index) = free else {
            return sys::MemoryFile::new(capacity).ok();
        };
        let leased = match &mut self.slots[index] {
            Some(region) => region.reopen(capacity),
            empty @ None => sys::MemoryFile::region(capacity).map(|(file, header)| {
                *empty = Some(Region {
                    header,
                    file: None,
                    passed: false,
                });
                file
            }),
        };
        match leased {
            Ok(file) => {
                let region = self.slots[index].as_ref().expect("leased from this slot");
                region.header.word().store(HELD, Ordering::Relaxed);
                self.leased = Some(index);
                Some(file)
            }
            Err(_) => {
                self.slots[index] = None;
                sys::MemoryFile::new(capacity).ok()
            }
        }
    }

    /// Takes back `file`, which holds a message of `length` bytes encoded
    /// in it, and says how to send it. A region's file stays with its
    /// slot, read-only; another is sealed. After a failure the region is
    /// dropped (its receiver, if it has it, frees it when it lets go).
    pub(super) fn announce(
        &mut self,
        mut file: sys::MemoryFile,
        length: usize,
    ) -> std::io::Result<Announced<'_>> {
        let Some(index) = self.leased.take() else {
            let frame = super::shared::announcement(length);
            return file
                .seal(length)
                .map(|file| Announced::Sealed { frame, file });
        };
        if let Err(error) = file.protect(false) {
            self.slots[index] = None;
            return Err(error);
        }
        let region = self.slots[index].as_mut().expect("leased from this slot");
        let mut frame = [0; frame::HEADER_LEN + ANNOUNCEMENT_LEN];
        frame::write_header(&mut frame, ANNOUNCEMENT_LEN as u64, Kind::Region);
        let payload = &mut frame[frame::HEADER_LEN..];
        payload[..8].copy_from_slice(&(length as u64).to_le_bytes());
        payload[8] = index as u8;
        payload[9] = u8::from(!region.passed);
        let first = !region.passed;
        region.passed = true;
        let file = region.file.insert(file);
        Ok(Announced::Region {
            frame,
            file: first.then(|| file.fd()),
        })
    }

    /// Drops the region of a message that was encoded but not sent (it
    /// was too large for the frame limit), rather than keep memory grown
    /// for it: the slot takes a new region when next needed.
    pub(super) fn unsend(&mut self, file: sys::MemoryFile) {
        if let Some(index) = self.leased.take() {
            self.slots[index] = None;
        }
        drop(file);
    }
}

/// The regions the messages a channel receives are read in, by slot.
#[derive(Default)]
pub(super) struct Mapped {
    slots: [Option<MappedRegion>; SLOTS],
}

struct MappedRegion {
    fd: OwnedFd,
    header: Arc<sys::Mapping>,
    data: Arc<sys::Mapping>,
}

impl Mapped {
    /// The message announced by `frame`, a [`Kind::Region`] frame at the
    /// front of `inbox`, lent where its sender wrote it. A length beyond
    /// `limit` is [`Error::FrameTooLarge`]; a malformed announcement, a
    /// slot without a region, a memory file that may shrink or that is
    /// smaller than the message is [`Error::Decode`].
    pub(super) fn take(&mut self, inbox: &mut Inbox, frame: Frame, limit: usize) -> Result<Lent> {
        let payload: [u8; ANNOUNCEMENT_LEN] = inbox.payload(frame).try_into().map_err(|_| {
            Error::Decode(format!(
                "a shared-region frame of {} bytes instead of {ANNOUNCEMENT_LEN}",
                frame.length
            ))
        })?;
        let length = u64::from_le_bytes(payload[..8].try_into().expect("8 bytes"));
        let (index, passed) = (usize::from(payload[8]), payload[9] == 1);
        // A passed file is taken first, so that whatever this frame's
        // fault, the next frame that passes one gets its own.
        let file = passed.then(|| inbox.take_passed());
        let slot = self.slots.get_mut(index).ok_or_else(|| {
            Error::Decode(format!("a message in shared region {index} of {SLOTS}"))
        })?;
        if length > limit as u64 {
            if let (None, Some(region)) = (&file, slot) {
                // The message cannot be read: its region is free again.
                region.header.word().store(FREE, Ordering::Release);
            }
            return Err(Error::FrameTooLarge {
                length,
                limit: limit as u64,
            });
        }
        let length = length as usize;
        match file {
            Some(Some(fd)) => {
                *slot = None;
                let header = sys::map_region_header(fd.as_fd()).map_err(invalid)?;
                let data = sys::map_region_data(fd.as_fd(), length).map_err(invalid)?;
                *slot = Some(MappedRegion {
                    fd,
                    header: Arc::new(header),
                    data: Arc::new(data),
                });
            }
            Some(None) => {
                return Err(Error::Decode(
                    "a shared region was announced but no memory file came with it".into(),
                ));
            }
            None => {}
        }
        let region = slot.as_mut().ok_or_else(|| {
            Error::Decode(format!("a message in shared region {index}, never passed"))
        })?;
        let lent = region.lend(length);
        if lent.is_err() {
            // The message cannot be read: its region is free again.
            region.header.word().store(FREE, Ordering::Release);
        }
        lent
    }
}

impl MappedRegion {
    /// The region's first `length` bytes, mapping more of the file if the
    /// sender grew it; a length beyond the file is [`Error::Decode`].
    fn lend(&mut self, length: usize) -> Result<Lent> {
        if length > self.data.bytes().len() {
            let data = sys::map_region_data(self.fd.as_fd(), length).map_err(invalid)?;
            self.data = Arc::new(data);
        }
        Ok(Lent {
            header: Arc::clone(&self.header),
            data: Arc::clone(&self.data),
            range: 0..length,
            forks: sys::forks(),
        })
    }
}

/// A mapping's failure as the receiver reports it: a file that is not
/// what its announcement says is [`Error::Decode`].
fn invalid(error: std::io::Error) -> Error {
    match error.kind() {
        std::io::ErrorKind::InvalidData => Error::Decode(error.to_string()),
        _ => Error::io("map a shared region", error),
    }
}

/// A message read where its sender wrote it, in a region: the region is
/// free again when the `Lent` is dropped (unless this process has forked
/// since it was made).
pub(super) struct Lent {
    header: Arc<sys::Mapping>,
    data: Arc<sys::Mapping>,
    range: Range<usize>,
    forks: Option<u64>,
}

impl Lent {
    /// The message's bytes.
    pub(super) fn bytes(&self) -> &[u8] {
        &self.data.bytes()[self.range.clone()]
    }

    /// Decodes the message from a copy of its own, and frees the region
    /// once copied. Not in place: a sender that broke the protocol could
    /// change the bytes between a check (a string's UTF-8) and its use.
    pub(super) fn decode<T: DeserializeOwned>(self) -> Result<T> {
        let copy = self.bytes().to_vec();
        drop(self);
        codec::decode(&copy)
    }

    /// The same region, lending only the bytes from `start` on.
    pub(super) fn skipping(mut self, start: usize) -> Lent {
        self.range.start += start;
        self
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        if self.forks.is_some() && self.forks == sys::forks() {
            self.header.word().store(FREE, Ordering::Release);
        }
    }
}
