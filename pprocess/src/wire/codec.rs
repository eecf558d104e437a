//! The message codec: how a value becomes the payload of a frame and back.
//!
//! Every encode and decode call of the crate is in this module, so the wire
//! format can be swapped in one place. The format is bincode 2 through serde
//! (little endian, variable-length integers).
//!
//! Decoding is bounded by the payload: bincode allocates a string or byte
//! buffer of the length the payload announces before it reads the bytes,
//! up to the limit it is configured with, so [`decode`] configures a limit
//! proportional to the payload's length (see [`decode_budget`]). A length
//! lied about inside a small payload is an error before anything of that
//! size is allocated. (Sequences go through serde, which caps its up-front
//! allocation by itself.)

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

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

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_FRAME_LIMIT>()
}

/// Appends the encoding of `value` to `out`.
pub(crate) fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<()> {
    bincode::serde::encode_into_std_write(value, out, config())
        .map(drop)
        .map_err(|error| Error::Encode(error.to_string()))
}

/// Where [`encode_after`] put an encoding.
pub(crate) enum Placed {
    /// In the small buffer, which is used up to this length.
    Small(usize),
    /// In the spill vector.
    Spilled,
}

/// Encodes `value`, in one pass, after the first `reserved` bytes of
/// `small`: there while it fits, otherwise in `spill`, which then holds
/// those first `reserved` bytes followed by the whole encoding.
pub(crate) fn encode_after<T: Serialize + ?Sized>(
    value: &T,
    small: &mut [u8],
    reserved: usize,
    spill: &mut Vec<u8>,
) -> Result<Placed> {
    let mut writer = SpillingWriter {
        small,
        used: reserved,
        spill,
        spilled: false,
    };
    bincode::serde::encode_into_writer(value, &mut writer, config())
        .map_err(|error| Error::Encode(error.to_string()))?;
    Ok(if writer.spilled {
        Placed::Spilled
    } else {
        Placed::Small(writer.used)
    })
}

/// Writes into a small buffer until it is full, then moves what it holds
/// to a vector and goes on there.
struct SpillingWriter<'a> {
    small: &'a mut [u8],
    used: usize,
    spill: &'a mut Vec<u8>,
    spilled: bool,
}

impl bincode::enc::write::Writer for SpillingWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::result::Result<(), bincode::error::EncodeError> {
        if !self.spilled {
            if let Some(room) = self.small.get_mut(self.used..self.used + bytes.len()) {
                room.copy_from_slice(bytes);
                self.used += bytes.len();
                return Ok(());
            }
            self.spill.clear();
            self.spill.extend_from_slice(&self.small[..self.used]);
            self.spilled = true;
        }
        self.spill.extend_from_slice(bytes);
        Ok(())
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
    match bincode::decode_from_slice::<u64, _>(payload, config()) {
        Ok((length, used)) => usize::try_from(length)
            .map(|length| Some((length, used)))
            .map_err(|_| Error::Decode(format!("a byte string of {length} bytes"))),
        Err(bincode::error::DecodeError::UnexpectedEnd { .. }) => Ok(None),
        Err(error) => Err(Error::Decode(error.to_string())),
    }
}

/// What decoding a valid payload can claim of bincode's limit, per payload
/// byte. Bincode claims the in-memory size of each primitive it decodes
/// (at most 16 bytes, a `u128`) while the encoding takes at least one byte
/// (variable-length integers), and exactly the length of each string or
/// byte buffer, whose bytes are in the payload.
const CLAIM_PER_BYTE: usize = 16;

/// Bincode's limit when decoding a payload of `length` bytes: the first of
/// 64 KiB, 512 KiB, 4 MiB, ... 2 GiB (each 8 times the one before) that a
/// valid payload of that length cannot exceed, or 2 GiB. A string or byte
/// buffer announced inside the payload is allocated only if it fits in the
/// limit, so decoding never allocates more than 128 times the payload's
/// length (at least 64 KiB, at most 2 GiB). A valid payload over 128 MiB
/// made mostly of small integers can exceed 2 GiB of claims: bulk data
/// belongs in [`Bytes`](crate::Bytes), which claims one byte per byte.
pub(crate) fn decode_budget(length: usize) -> usize {
    let needed = length.saturating_mul(CLAIM_PER_BYTE);
    TIERS
        .into_iter()
        .find(|&tier| needed <= tier)
        .unwrap_or(TIERS[TIERS.len() - 1])
}

const TIERS: [usize; 6] = [1 << 16, 1 << 19, 1 << 22, 1 << 25, 1 << 28, 1 << 31];

fn decode_within<T: DeserializeOwned, const LIMIT: usize>(
    payload: &[u8],
) -> std::result::Result<(T, usize), bincode::error::DecodeError> {
    let config = bincode::config::standard().with_limit::<LIMIT>();
    bincode::serde::decode_from_slice(payload, config)
}

/// Decodes a whole payload as a `T`. Bytes left over after the value mean
/// the payload was not a `T`, and are an error.
pub(crate) fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T> {
    // Bincode's limit is a constant: one instance per tier.
    let budget = decode_budget(payload.len());
    let decoded = if budget <= TIERS[0] {
        decode_within::<T, { TIERS[0] }>(payload)
    } else if budget <= TIERS[1] {
        decode_within::<T, { TIERS[1] }>(payload)
    } else if budget <= TIERS[2] {
        decode_within::<T, { TIERS[2] }>(payload)
    } else if budget <= TIERS[3] {
        decode_within::<T, { TIERS[3] }>(payload)
    } else if budget <= TIERS[4] {
        decode_within::<T, { TIERS[4] }>(payload)
    } else {
        decode_within::<T, { TIERS[5] }>(payload)
    };
    let (value, used) = decoded.map_err(|error| Error::Decode(error.to_string()))?;
    if used != payload.len() {
        return Err(Error::Decode(format!(
            "{} bytes left over after the value",
            payload.len() - used
        )));
    }
    Ok(value)
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
        let Placed::Small(used) = encode_after(&value, &mut small, 4, &mut spill).unwrap() else {
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
        let placed = encode_after(&value, &mut small, 4, &mut spill).unwrap();
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
    fn a_lying_length_inside_a_small_payload_exceeds_its_budget() {
        // A string announcing 1 MiB in a 5-byte payload: beyond the 64 KiB
        // a 5-byte payload may claim, so nothing of that size is allocated.
        let mut payload = vec![0xFC];
        payload.extend_from_slice(&(1u32 << 20).to_le_bytes());
        assert_eq!(decode_budget(payload.len()), 1 << 16);
        assert!(matches!(decode::<String>(&payload), Err(Error::Decode(_))));
        assert!(matches!(
            decode::<serde_bytes::ByteBuf>(&payload),
            Err(Error::Decode(_))
        ));
    }

    #[test]
    fn the_budget_covers_every_valid_payload() {
        // Small u128s: one byte each on the wire, 16 claimed each.
        let values = vec![1u128; 100_000];
        let mut out = Vec::new();
        encode_into(&values, &mut out).unwrap();
        assert!(out.len() * CLAIM_PER_BYTE > 1 << 19, "crosses tiers");
        assert_eq!(decode::<Vec<u128>>(&out).unwrap(), values);
        // A large string: its bytes are all in the payload.
        let text = "x".repeat(3 << 20);
        out.clear();
        encode_into(&text, &mut out).unwrap();
        assert_eq!(decode::<String>(&out).unwrap(), text);
        // Payloads of 128 MiB and more get the largest budget, 2 GiB.
        assert_eq!(decode_budget(128 << 20), 1 << 31);
        assert_eq!(decode_budget(MAX_FRAME_LIMIT), 1 << 31);
    }

    #[test]
    fn trailing_bytes_mean_the_wrong_type() {
        let mut out = Vec::new();
        encode_into(&(1u64, 2u64), &mut out).unwrap();
        assert!(matches!(decode::<u8>(&out), Err(Error::Decode(_))));
    }
}
