//! The message codec: how a value becomes the payload of a frame and back.
//!
//! Every encode and decode call of the crate is in this module, so the wire
//! format can be swapped in one place. The format is our own serde format
//! ([`encode`], [`decode`](mod@decode)), laid out as bincode 2's standard
//! configuration lays values out: little endian; integers wider than a
//! byte in a short form (below 251 one byte, else a tag byte 251, 252, 253
//! or 254 and 2, 4, 8 or 16 bytes; signed ones zigzagged first); `u8`,
//! `i8`, floats and booleans as their bytes; characters as UTF-8; strings,
//! byte strings, sequences and maps after their length; an option after a
//! byte 0 or 1; an enum after its variant's index; structs and tuples as
//! their fields in order.
//!
//! Our own serde format rather than bincode's serde path, because serde
//! hands a sequence over one element at a time, and bincode then checks
//! its limit and writes or reads each element on its own: a `Vec<u8>` or
//! `Vec<f64>` crossed at a few percent of what a socket carries. Ours
//! writes and reads sequences of bytes and floats as one block (see the
//! two modules).
//!
//! Decoding is bounded by the payload: a string or byte buffer is
//! allocated only once its bytes are known to be in the payload, and a
//! sequence or map is never announced to serde as longer than the bytes
//! that remain. A length lied about inside a small payload is an error
//! before anything of that size is allocated.

mod decode;
mod encode;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::sys;
use decode::Decoder;
pub(crate) use decode::{Input, utf8};
use encode::{Encoder, Output};

/// The largest frame limit a channel can be given, in bytes (1 GiB).
///
/// ```
/// let mut channel = pprocess::start(|_channel| ())?;
/// assert_eq!(pprocess::MAX_FRAME_LIMIT, 1 << 30);
/// channel.set_frame_limit(usize::MAX); // capped
/// assert_eq!(channel.frame_limit(), pprocess::MAX_FRAME_LIMIT);
/// # Ok::<(), pprocess::Error>(())
/// ```
pub const MAX_FRAME_LIMIT: usize = 1 << 30;

/// Why a value could not be encoded or decoded.
#[derive(Debug)]
pub(crate) struct CodecError(String);

impl CodecError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        CodecError(message.into())
    }
}

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodecError {}

impl serde::ser::Error for CodecError {
    fn custom<T: std::fmt::Display>(message: T) -> Self {
        CodecError(message.to_string())
    }
}

impl serde::de::Error for CodecError {
    fn custom<T: std::fmt::Display>(message: T) -> Self {
        CodecError(message.to_string())
    }
}

fn encode_to<T: Serialize + ?Sized, O: Output>(value: &T, out: &mut O) -> Result<()> {
    value
        .serialize(&mut Encoder::new(out))
        .map_err(|error| Error::Encode(error.0))
}

/// Appends the encoding of `value` to `out`.
pub(crate) fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<()> {
    encode_to(value, out)
}

/// Where [`encode_after`] put an encoding.
pub(crate) enum Placed {
    /// In the small buffer, which is used up to this length.
    Small(usize),
    /// In the spill vector.
    Spilled,
    /// In shared memory, without the reserved bytes.
    Shared(SharedPayload),
    /// Sent whole, with the block that ended it, through the
    /// [`PartSink`] (see [`PartSink::send_part`]).
    Sent,
}

/// An encoding in a memory file, ready to be sealed and passed.
pub(crate) struct SharedPayload {
    file: sys::MemoryFile,
    length: usize,
}

impl SharedPayload {
    /// The memory file, and the encoding's length in bytes at its start.
    pub(crate) fn into_parts(self) -> (sys::MemoryFile, usize) {
        (self.file, self.length)
    }
}

/// Where an encoding that reaches the shared-memory threshold goes: a
/// memory file mapped with room for at least the given number of bytes,
/// or `None` to stay in the spill vector.
pub(crate) type SharedMemory<'a> = &'a mut dyn FnMut(usize) -> Option<sys::MemoryFile>;

/// Blocks of at least this many bytes (a `Vec<u8>`, a `[f64]`) are sent
/// as they are encoded, when the caller gives a [`PartSink`].
pub(crate) const PART_FROM: usize = 32 << 10;

/// Where a message goes in parts while it is encoded: each block of at
/// least [`PART_FROM`] bytes leaves at once, borrowed from the value,
/// with the bytes encoded before it; what follows the last block is
/// [`Placed`] as a whole message is. A value that is one such block
/// (behind its length, a variant's index or `Some`'s tag) leaves whole,
/// as one message.
pub(crate) trait PartSink {
    /// Sends one part: `begun` (the reserved bytes, then encoded bytes)
    /// followed by `block`; or, when `last`, the whole message.
    fn send_part(&mut self, begun: &mut [u8], block: &[u8], last: bool) -> Result<()>;
}

/// Encodes `value`, in one pass, after the first `reserved` bytes of
/// `small`: there while it fits, otherwise in `spill`, which then holds
/// those first `reserved` bytes followed by the whole encoding; or, once
/// the encoding reaches `shared_from` bytes, in a memory file from
/// `memory` (without the reserved bytes). Shared memory that cannot be
/// had is not an error: the encoding stays in `spill`. With `parts`,
/// large blocks met before the encoding reaches `shared_from` go there
/// instead, and with them what was encoded before them (shared memory is then out for this value); a
/// value that is one such block goes there whole, as the message
/// ([`Placed::Sent`]).
pub(crate) fn encode_after<T: Serialize + ?Sized>(
    value: &T,
    small: &mut [u8],
    reserved: usize,
    spill: &mut Vec<u8>,
    shared_from: usize,
    memory: SharedMemory<'_>,
    parts: Option<&mut dyn PartSink>,
) -> Result<Placed> {
    let mut writer = SpillingWriter {
        small,
        used: reserved,
        reserved,
        spill,
        spilled: false,
        shared_from,
        memory,
        shared: None,
        parts: parts.map(|parts| parts as &mut dyn PartSink),
        failure: None,
        sent: false,
    };
    encode_to(value, &mut writer)?;
    if let Some(failure) = writer.failure {
        return Err(failure);
    }
    if writer.sent {
        return Ok(Placed::Sent);
    }
    Ok(match writer.shared {
        Some(file) => Placed::Shared(SharedPayload {
            file,
            length: writer.used,
        }),
        None if writer.spilled => Placed::Spilled,
        None => Placed::Small(writer.used),
    })
}

/// Writes into a small buffer until it is full, then moves what it holds
/// to a vector and goes on there, then past `shared_from` bytes to a
/// memory file.
struct SpillingWriter<'a> {
    small: &'a mut [u8],
    /// Bytes used in the small buffer, or in the memory file.
    used: usize,
    reserved: usize,
    spill: &'a mut Vec<u8>,
    spilled: bool,
    shared_from: usize,
    memory: SharedMemory<'a>,
    shared: Option<sys::MemoryFile>,
    parts: Option<&'a mut dyn PartSink>,
    /// Why a part could not be sent: the rest of the value is not
    /// written anywhere.
    failure: Option<Error>,
    /// Whether the whole message went with its last block.
    sent: bool,
}

impl SpillingWriter<'_> {
    /// Bytes encoded so far, the reserved ones included.
    fn so_far(&self) -> usize {
        if self.spilled {
            self.spill.len()
        } else {
            self.used
        }
    }

    /// Sends what is encoded so far and `block` as a part (the whole
    /// message, if `last`), if `block` is large, the encoding has not
    /// moved to shared memory, and it will not (parts went already, or it
    /// stays below the threshold); true if it went (or the sending failed).
    fn send_part(&mut self, block: &[u8], last: bool) -> bool {
        let so_far = self.so_far();
        let Some(sink) = &mut self.parts else {
            return false;
        };
        let parted = self.shared_from == usize::MAX;
        if block.len() < PART_FROM
            || self.shared.is_some()
            || !(parted || so_far - self.reserved + block.len() < self.shared_from)
        {
            return false;
        }
        let begun = if self.spilled {
            &mut self.spill[..]
        } else {
            &mut self.small[..self.used]
        };
        if let Err(error) = sink.send_part(begun, block, last) {
            self.failure = Some(error);
        }
        self.sent = last;
        self.spilled = false;
        self.used = self.reserved;
        self.spill.clear();
        // Some of the value has left: the rest cannot go to shared memory.
        self.shared_from = usize::MAX;
        true
    }

    /// Moves the encoding so far to a memory file with room for `more`
    /// bytes; false (and nothing moved) if no memory file can be had.
    fn share(&mut self, more: usize) -> bool {
        let so_far = if self.spilled {
            &self.spill[self.reserved..]
        } else {
            &self.small[self.reserved..self.used]
        };
        let Some(mut file) = (self.memory)(so_far.len() + more) else {
            self.shared_from = usize::MAX;
            return false;
        };
        file.bytes_mut()[..so_far.len()].copy_from_slice(so_far);
        self.used = so_far.len();
        self.spill.clear();
        self.shared = Some(file);
        true
    }

    /// Appends `bytes` to the memory file, growing it if needed; false if
    /// it cannot grow.
    fn put_shared(file: &mut sys::MemoryFile, used: &mut usize, bytes: &[u8]) -> bool {
        let end = *used + bytes.len();
        if end > file.bytes_mut().len() && file.grow(end.saturating_mul(2)).is_err() {
            return false;
        }
        file.bytes_mut()[*used..end].copy_from_slice(bytes);
        *used = end;
        true
    }
}

impl Output for SpillingWriter<'_> {
    fn put_last(&mut self, bytes: &[u8]) {
        if self.failure.is_none() && !self.send_part(bytes, true) {
            self.put(bytes);
        }
    }

    fn put(&mut self, bytes: &[u8]) {
        debug_assert!(!self.sent, "nothing is encoded after the last block");
        if self.failure.is_some() || self.send_part(bytes, false) {
            return;
        }
        let so_far = self.so_far();
        if self.shared.is_none() && so_far - self.reserved + bytes.len() >= self.shared_from {
            self.share(bytes.len());
        }
        if let Some(file) = &mut self.shared {
            if Self::put_shared(file, &mut self.used, bytes) {
                return;
            }
            // The memory file cannot grow: back to the spill vector.
            let mut file = self.shared.take().expect("a memory file");
            let encoded = &file.bytes_mut()[..self.used];
            self.spill.clear();
            self.spill.extend_from_slice(&self.small[..self.reserved]);
            self.spill.extend_from_slice(encoded);
            self.spilled = true;
            self.shared_from = usize::MAX;
        }
        if !self.spilled {
            if let Some(room) = self.small.get_mut(self.used..self.used + bytes.len()) {
                room.copy_from_slice(bytes);
                self.used += bytes.len();
                return;
            }
            self.spill.clear();
            self.spill.reserve(self.used + bytes.len());
            self.spill.extend_from_slice(&self.small[..self.used]);
            self.spilled = true;
        }
        self.spill.extend_from_slice(bytes);
    }
}

/// Appends the prefix that starts the encoding of a byte string of
/// `length` bytes (such as [`Bytes`](crate::Bytes)); the bytes follow it.
pub(crate) fn encode_bytes_prefix(length: usize, out: &mut Vec<u8>) -> Result<()> {
    encode_into(&(length as u64), out)
}

/// Reads the prefix of an encoded byte string at the start of `payload`:
/// `Some((length, prefix size))`, or `None` if `payload` is too short to
/// tell yet.
pub(crate) fn decode_bytes_prefix(payload: &[u8]) -> Result<Option<(usize, usize)>> {
    let mut decoder = Decoder::new(payload);
    match decoder.unsigned() {
        Ok(length) => usize::try_from(length)
            .map(|length| Some((length, payload.len() - decoder.remaining())))
            .map_err(|_| Error::Decode(format!("a byte string of {length} bytes"))),
        Err(_) if payload.first() != Some(&255) => Ok(None),
        Err(error) => Err(Error::Decode(error.0)),
    }
}

/// Decodes a whole payload as a `T`. Bytes left over after the value mean
/// the payload was not a `T`, and are an error.
pub(crate) fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T> {
    decode_from(payload).0
}

/// Decodes a whole payload as a `T` from `input`, as [`decode`] does, and
/// gives the input back (with what is left of it after an error).
pub(crate) fn decode_from<'de, T: DeserializeOwned, I: Input<'de>>(input: I) -> (Result<T>, I) {
    let mut decoder = Decoder::new(input);
    let value = T::deserialize(&mut decoder).map_err(|error| Error::Decode(error.0));
    let left = decoder.remaining();
    let value = match value {
        Ok(_) if left > 0 => Err(Error::Decode(format!(
            "{left} bytes left over after the value"
        ))),
        value => value,
    };
    (value, decoder.into_input())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// A value that counts how many times it is serialized.
    struct Counted<'a> {
        times: &'a Cell<u32>,
        bytes: Vec<u8>,
    }

    impl Serialize for Counted<'_> {
        fn serialize<S: serde::Serializer>(
            &self,
            serializer: S,
        ) -> std::result::Result<S::Ok, S::Error> {
            self.times.set(self.times.get() + 1);
            self.bytes.serialize(serializer)
        }
    }

    #[test]
    fn a_value_that_fits_is_encoded_once_after_the_reserved_bytes() {
        let times = Cell::new(0);
        let value = Counted {
            times: &times,
            bytes: vec![5; 20],
        };
        let (mut small, mut spill) = ([9u8; 64], Vec::new());
        let Placed::Small(used) = place_without_shared(&value, &mut small, &mut spill) else {
            panic!("20 bytes fit in 64");
        };
        let mut expected = Vec::new();
        encode_into(&vec![5u8; 20], &mut expected).unwrap();
        assert_eq!(&small[4..used], expected.as_slice());
        assert_eq!(small[..4], [9; 4], "the reserved bytes are untouched");
        assert!(spill.is_empty());
        assert_eq!(times.get(), 1);
    }

    #[test]
    fn a_value_that_does_not_fit_is_encoded_once_into_the_spill() {
        // Serializing twice would break values whose serialization is not
        // repeatable (an iterator taken out of a cell, say).
        let times = Cell::new(0);
        let value = Counted {
            times: &times,
            bytes: (0..=255).cycle().take(1000).collect(),
        };
        let (mut small, mut spill) = ([9u8; 64], vec![1, 2, 3]);
        let placed = place_without_shared(&value, &mut small, &mut spill);
        assert!(matches!(placed, Placed::Spilled));
        let mut expected = vec![9u8; 4];
        encode_into(&value.bytes, &mut expected).unwrap();
        assert_eq!(
            spill, expected,
            "the reserved bytes, then the whole encoding"
        );
        assert_eq!(times.get(), 1);
    }

    #[test]
    fn an_encoding_that_reaches_the_threshold_moves_to_shared_memory() {
        // Crossing it from the small buffer (one large block), and from the
        // spill vector (many small strings, then a block).
        let block = vec![5u8; 5000];
        let words: (Vec<String>, Vec<u8>) = (vec!["word".into(); 200], block.clone());
        for (expected, placed) in [
            (encoded(&block), place(&block)),
            (encoded(&words), place(&words)),
        ] {
            let Placed::Shared(payload) = placed else {
                panic!("past the threshold");
            };
            let (mut file, length) = payload.into_parts();
            assert_eq!(length, expected.len());
            assert_eq!(&file.bytes_mut()[..length], expected.as_slice());
            // Sealed, it is exactly the encoding and cannot change.
            let file = file.seal(length).unwrap();
            let mapping = sys::map_sealed(std::os::fd::AsFd::as_fd(&file), expected.len()).unwrap();
            assert_eq!(mapping.bytes(), expected.as_slice());
        }
    }

    fn encoded<T: Serialize>(value: &T) -> Vec<u8> {
        let mut out = Vec::new();
        encode_into(value, &mut out).unwrap();
        out
    }

    /// Where `value` goes with 4 reserved bytes and no shared memory.
    fn place_without_shared<T: Serialize>(
        value: &T,
        small: &mut [u8],
        spill: &mut Vec<u8>,
    ) -> Placed {
        encode_after(value, small, 4, spill, usize::MAX, &mut |_| None, None).unwrap()
    }

    /// Where `value` goes with a 64-byte small buffer, 4 reserved bytes
    /// and a threshold of 2000 bytes.
    fn place<T: Serialize>(value: &T) -> Placed {
        let (mut small, mut spill) = ([0u8; 64], Vec::new());
        let mut memory = |capacity| sys::MemoryFile::new(capacity).ok();
        encode_after(value, &mut small, 4, &mut spill, 2000, &mut memory, None).unwrap()
    }

    #[test]
    fn values_round_trip() {
        let mut out = Vec::new();
        encode_into(&(7u32, "seven".to_string(), vec![1u8, 2, 3]), &mut out).unwrap();
        let back: (u32, String, Vec<u8>) = decode(&out).unwrap();
        assert_eq!(back, (7, "seven".to_string(), vec![1, 2, 3]));
    }

    #[test]
    fn a_lying_string_length_is_an_error_not_an_allocation() {
        // A varint length of 2^60 (0xFD prefix: u64 follows) and no bytes.
        let mut payload = vec![0xFD];
        payload.extend_from_slice(&(1u64 << 60).to_le_bytes());
        assert!(matches!(decode::<String>(&payload), Err(Error::Decode(_))));
    }

    #[test]
    fn a_lying_length_inside_a_small_payload_is_an_error() {
        // A string announcing 1 MiB in a 5-byte payload: more than the
        // payload holds, so nothing of that size is allocated.
        let mut payload = vec![0xFC];
        payload.extend_from_slice(&(1u32 << 20).to_le_bytes());
        assert!(matches!(decode::<String>(&payload), Err(Error::Decode(_))));
        assert!(matches!(
            decode::<serde_bytes::ByteBuf>(&payload),
            Err(Error::Decode(_))
        ));
        assert!(matches!(decode::<Vec<u8>>(&payload), Err(Error::Decode(_))));
        assert!(matches!(
            decode::<Vec<f64>>(&payload),
            Err(Error::Decode(_))
        ));
        assert!(matches!(
            decode::<Vec<u32>>(&payload),
            Err(Error::Decode(_))
        ));
    }

    /// `value`'s encoding, and the same elements' encoding when serde hands
    /// them over one at a time (a `VecDeque` is not a slice).
    fn block_and_elements<E: Serialize + Clone>(value: &[E]) -> (Vec<u8>, Vec<u8>) {
        let (mut block, mut elements) = (Vec::new(), Vec::new());
        encode_into(value, &mut block).unwrap();
        let deque: std::collections::VecDeque<E> = value.iter().cloned().collect();
        encode_into(&deque, &mut elements).unwrap();
        (block, elements)
    }

    #[test]
    fn vectors_of_bytes_and_floats_cross_as_blocks_in_the_same_layout() {
        let bytes: Vec<u8> = (0..=255).cycle().take(1000).collect();
        let signed: Vec<i8> = (-128..=127).collect();
        let doubles: Vec<f64> = (0..300).map(|i| f64::from(i) * -0.5).collect();
        let singles: Vec<f32> = (0..300).map(|i| i as f32 / 3.0).collect();
        let (block, elements) = block_and_elements(&bytes);
        assert_eq!(block, elements);
        assert_eq!(decode::<Vec<u8>>(&block).unwrap(), bytes);
        let (block, elements) = block_and_elements(&signed);
        assert_eq!(block, elements);
        assert_eq!(decode::<Vec<i8>>(&block).unwrap(), signed);
        let (block, elements) = block_and_elements(&doubles);
        assert_eq!(block, elements);
        assert_eq!(decode::<Vec<f64>>(&block).unwrap(), doubles);
        let deque: std::collections::VecDeque<f64> = decode(&block).unwrap();
        assert!(deque.iter().eq(doubles.iter()), "read element by element");
        let (block, elements) = block_and_elements(&singles);
        assert_eq!(block, elements);
        assert_eq!(decode::<Vec<f32>>(&block).unwrap(), singles);
    }

    #[test]
    fn the_layout_is_the_short_integer_form() {
        let mut out = Vec::new();
        encode_into(
            &(250u32, 251u64, -1i32, 70_000u32, 'é', Some(true)),
            &mut out,
        )
        .unwrap();
        assert_eq!(
            out,
            [250, 251, 251, 0, 1, 252, 0x70, 0x11, 1, 0, 0xC3, 0xA9, 1, 1]
        );
        let back: (u32, u64, i32, u32, char, Option<bool>) = decode(&out).unwrap();
        assert_eq!(back, (250, 251, -1, 70_000, 'é', Some(true)));
        // An integer too wide for its type is an error, not a truncation.
        out.clear();
        encode_into(&70_000u32, &mut out).unwrap();
        assert!(matches!(decode::<u16>(&out), Err(Error::Decode(_))));
    }

    #[test]
    fn trailing_bytes_mean_the_wrong_type() {
        let mut out = Vec::new();
        encode_into(&(1u64, 2u64), &mut out).unwrap();
        assert!(matches!(decode::<u8>(&out), Err(Error::Decode(_))));
    }
}
