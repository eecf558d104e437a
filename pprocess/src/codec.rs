//! The message codec: how a value becomes the payload of a frame and back.
//!
//! Every encode and decode call of the crate is in this module, so the wire
//! format can be swapped in one place. The format is bincode 2 through serde
//! (little endian, variable-length integers).
//!
//! Decoding is bounded: bincode is configured with a limit of
//! [`MAX_FRAME_LIMIT`] bytes for the strings and byte buffers it allocates
//! while decoding, so a length lied about inside a payload cannot make it
//! allocate more than that. (Sequences go through serde, which caps its
//! up-front allocation by itself.)

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// The largest frame limit a channel can be given, in bytes (1 GiB).
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

/// Decodes a whole payload as a `T`. Bytes left over after the value mean
/// the payload was not a `T`, and are an error.
pub(crate) fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T> {
    let (value, used) = bincode::serde::decode_from_slice(payload, config())
        .map_err(|error| Error::Decode(error.to_string()))?;
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
    fn trailing_bytes_mean_the_wrong_type() {
        let mut out = Vec::new();
        encode_into(&(1u64, 2u64), &mut out).unwrap();
        assert!(matches!(decode::<u8>(&out), Err(Error::Decode(_))));
    }
}
