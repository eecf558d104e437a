//! Property tests of the wire format, through the public API and real
//! channels:
//!
//! - any value round-trips: the test sends it, one created process decodes
//!   it and sends it back, and the test decodes what comes back (so both
//!   sides encode and decode, with the framing in between);
//! - any byte string arriving as a frame payload from a peer decodes as a
//!   value or gives `Error::Decode`: never a panic, never another error
//!   (the frame is consumed and the channel stays usable), and never an
//!   allocation far beyond the payload's size (checked with an allocator
//!   that records the largest allocation of the current thread).
//!
//! One created process serves all the cases of a test, so thousands of
//! cases run in well under a second.

use crate::allocation;
use crate::hardening;

use allocation::largest_allocation_during;
use std::cell::RefCell;
use std::collections::BTreeMap;

use hardening::{header, write_raw};
use pprocess::{Bytes, Channel, Error};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------
// The largest single allocation made by the current thread.

// ---------------------------------------------------------------------------
// Values.

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Choice {
    Unit,
    Tuple(u32, String),
    Struct { a: i8, b: Vec<u8> },
}

/// A message with every kind of field serde knows. Floats are kept as their
/// bits for comparison (NaN is not equal to itself) but sent as floats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    small: u8,
    signed: i16,
    word: u32,
    big: u64,
    huge: u128,
    negative: i64,
    wide: i128,
    #[serde(with = "float_bits")]
    float: u64,
    flag: bool,
    letter: char,
    text: String,
    bytes: Bytes,
    list: Vec<i32>,
    nested: Vec<Vec<u16>>,
    maybe: Option<String>,
    pair: (u8, String),
    map: BTreeMap<String, u64>,
    choice: Choice,
    unit: (),
}

/// Sends a `u64` of float bits as an `f64`.
mod float_bits {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bits: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(f64::from_bits(*bits))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        f64::deserialize(deserializer).map(f64::to_bits)
    }
}

fn choice() -> impl Strategy<Value = Choice> {
    prop_oneof![
        Just(Choice::Unit),
        (any::<u32>(), ".{0,20}").prop_map(|(n, s)| Choice::Tuple(n, s)),
        (any::<i8>(), prop::collection::vec(any::<u8>(), 0..50))
            .prop_map(|(a, b)| Choice::Struct { a, b }),
    ]
}

fn record() -> impl Strategy<Value = Record> {
    let numbers = (
        any::<u8>(),
        any::<i16>(),
        any::<u32>(),
        any::<u64>(),
        any::<u128>(),
        any::<i64>(),
        any::<i128>(),
        any::<f64>().prop_map(f64::to_bits),
        any::<bool>(),
        any::<char>(),
    );
    let collections = (
        ".{0,100}",
        prop::collection::vec(any::<u8>(), 0..600),
        prop::collection::vec(any::<i32>(), 0..100),
        prop::collection::vec(prop::collection::vec(any::<u16>(), 0..10), 0..10),
        prop::option::of(".{0,30}"),
        (any::<u8>(), ".{0,10}"),
        prop::collection::btree_map(".{0,8}", any::<u64>(), 0..10),
        choice(),
    );
    (numbers, collections).prop_map(
        |(
            (small, signed, word, big, huge, negative, wide, float, flag, letter),
            (text, bytes, list, nested, maybe, pair, map, choice),
        )| Record {
            small,
            signed,
            word,
            big,
            huge,
            negative,
            wide,
            float,
            flag,
            letter,
            text,
            bytes: Bytes::from(bytes),
            list,
            nested,
            maybe,
            pair,
            map,
            choice,
            unit: (),
        },
    )
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn any_value_round_trips_through_a_created_process_that_decodes_and_resends_it() {
    round_trips(record(), 2000);
}

/// Sends `cases` values of `strategy` to a created process that decodes
/// each as a `T` and sends it back, until the test closes its end; each
/// must come back equal.
fn round_trips<T, S>(strategy: S, cases: u32)
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
    S: Strategy<Value = T>,
{
    let echo = pprocess::start(|channel| {
        loop {
            match channel.receive::<T>() {
                Ok(value) => channel.send(&value)?,
                Err(Error::Disconnected) => return Ok(()),
                Err(error) => return Err(error),
            }
        }
    })
    .expect("starting the echo process");
    let echo = RefCell::new(echo);
    runner(cases)
        .run(&strategy, |value| {
            let mut echo = echo.borrow_mut();
            echo.send(&value).map_err(fail)?;
            let back: T = echo.receive().map_err(fail)?;
            prop_assert_eq!(back, value);
            Ok(())
        })
        .unwrap();
    let mut echo = echo.into_inner();
    echo.close();
    assert!(echo.wait().unwrap().success());
}

/// A message with blocks around the sizes at which they are sent as parts
/// (32 KiB), messages are decoded as they arrive (16 KiB) and reads for
/// small values stop (64 KiB), small fields between.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Blocks {
    tag: u8,
    bytes: Vec<u8>,
    #[serde(with = "floats_as_bits")]
    floats: Vec<u64>,
    text: String,
    rows: Vec<Vec<u8>>,
    end: u32,
}

/// Sends `u64` float bits as a `Vec<f64>` (a block), compares bits.
mod floats_as_bits {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(bits: &[u64], serializer: S) -> Result<S::Ok, S::Error> {
        let floats: Vec<f64> = bits.iter().copied().map(f64::from_bits).collect();
        floats.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u64>, D::Error> {
        Vec::<f64>::deserialize(deserializer)
            .map(|floats| floats.into_iter().map(f64::to_bits).collect())
    }
}

/// `length` bytes from `seed` (a vector strategy that large is slow to
/// generate in a debug build).
fn seeded(length: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u8
        })
        .collect()
}

fn blocks() -> impl Strategy<Value = Blocks> {
    let size = || {
        prop_oneof![
            0usize..1000,
            14_000usize..20_000,
            30_000usize..36_000,
            60_000usize..70_000,
            120_000usize..400_000
        ]
    };
    (
        any::<u8>(),
        size(),
        size(),
        size(),
        prop::collection::vec(size(), 0..4),
        any::<u64>(),
    )
        .prop_map(|(tag, bytes, floats, text, rows, seed)| Blocks {
            tag,
            bytes: seeded(bytes, seed),
            floats: seeded(floats, seed ^ 1)
                .chunks_exact(8)
                .map(|chunk| u64::from_le_bytes(chunk.try_into().unwrap()))
                .collect(),
            text: seeded(text, seed ^ 2)
                .into_iter()
                .map(|byte| char::from(b'a' + byte % 26))
                .collect(),
            rows: rows
                .into_iter()
                .map(|length| seeded(length, seed ^ 3))
                .collect(),
            end: u32::from(tag) * 7,
        })
}

#[test]
fn any_value_with_large_blocks_round_trips_in_parts_both_ways() {
    round_trips(blocks(), 60);
}

/// A message of a stream: blocks with small fields between and after
/// them, one that ends with a block, or a small one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Item {
    Blocks(Blocks),
    Ends(Vec<u8>),
    Small(u32),
}

#[test]
fn any_stream_of_large_and_small_values_sent_at_once_arrives_in_order() {
    // All sent before the first is received, so each read may find the
    // next message behind the one it is for; some go in shared memory
    // (their descriptors come with the bytes) when a threshold is set.
    let item = prop_oneof![
        blocks().prop_map(Item::Blocks),
        (0usize..100_000, any::<u64>()).prop_map(|(length, seed)| Item::Ends(seeded(length, seed))),
        any::<u32>().prop_map(Item::Small),
    ];
    let stream = (
        prop::collection::vec(item, 1..8),
        prop_oneof![Just(usize::MAX), 20_000usize..200_000],
    );
    runner(40)
        .run(&stream, |(values, shared_from)| {
            let sent = values.clone();
            let mut channel = pprocess::start(move |channel| {
                channel.set_shared_memory_threshold(shared_from);
                sent.iter().try_for_each(|value| channel.send(value))
            })
            .map_err(fail)?;
            for value in &values {
                let received: Item = channel.receive().map_err(fail)?;
                prop_assert_eq!(&received, value);
            }
            prop_assert!(channel.wait().map_err(fail)?.success());
            Ok(())
        })
        .unwrap();
}

#[test]
fn any_bytes_round_trip_through_send_bytes_and_receive_bytes() {
    let echo = RefCell::new(raw_echo());
    // Lengths up to past a socket buffer, filled from a seed (a vector
    // strategy of that size is slow to generate in a debug build).
    let bytes = (0usize..70_000, any::<u64>()).prop_map(|(length, seed)| seeded(length, seed));
    runner(500)
        .run(&bytes, |bytes| {
            let mut echo = echo.borrow_mut();
            echo.send_bytes(&bytes).map_err(fail)?;
            prop_assert_eq!(echo.receive_bytes().map_err(fail)?, bytes.clone());
            echo.send(&Bytes::from(bytes.clone())).map_err(fail)?;
            prop_assert_eq!(echo.receive::<Bytes>().map_err(fail)?.into_vec(), bytes);
            Ok(())
        })
        .unwrap();
}

fn fail(error: Error) -> TestCaseError {
    TestCaseError::fail(format!("{error:?}"))
}

// ---------------------------------------------------------------------------
// Any payload.

/// A created process that sends back every byte it receives, unchanged,
/// until the test closes its end.
fn raw_echo() -> Channel {
    pprocess::start(|channel| {
        let socket = channel.socket().expect("the channel is open");
        let mut buffer = vec![0u8; 1 << 16];
        loop {
            match nix::unistd::read(socket, &mut buffer) {
                Ok(0) | Err(_) => return,
                Ok(read) => write_raw(channel, &buffer[..read]),
            }
        }
    })
    .expect("starting the echo process")
}

/// Payloads: any bytes, or bytes that start with a large length prefix
/// (the bincode prefixes of u16, u32 and u64 lengths), the input most
/// likely to make a decoder allocate what it was promised.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..4096),
        (251u8..=253, prop::collection::vec(any::<u8>(), 0..64)).prop_map(|(prefix, rest)| {
            let mut payload = vec![prefix];
            payload.extend(rest);
            payload
        }),
        (any::<u8>(), prop::collection::vec(any::<u8>(), 0..64)).prop_map(|(first, rest)| {
            // A field, then a lying length.
            let mut payload = vec![first, 253];
            payload.extend(rest);
            payload
        }),
    ]
}

/// Receives the next frame as a `T`: a value or `Error::Decode`, and an
/// allocation no larger than `bound`.
fn decodes_or_is_a_decode_error<T: DeserializeOwned + std::fmt::Debug>(
    channel: &mut Channel,
    name: &str,
    bound: usize,
) -> Result<(), TestCaseError> {
    let (result, largest) = largest_allocation_during(|| channel.receive::<T>());
    match result {
        Ok(_) | Err(Error::Decode(_)) => {}
        Err(error) => return Err(TestCaseError::fail(format!("{name}: {error:?}"))),
    }
    prop_assert!(largest <= bound, "{}: allocated {} bytes", name, largest);
    Ok(())
}

#[test]
fn any_payload_decodes_or_is_a_decode_error_and_allocates_little() {
    let echo = RefCell::new(raw_echo());
    runner(3000)
        .run(&payload(), |payload| {
            let mut echo = echo.borrow_mut();
            let mut frame = header(payload.len() as u64, 0);
            frame.extend_from_slice(&payload);
            // serde reserves at most 1 MiB ahead for a sequence whose
            // length the payload announces; the inbox reads at most 64 KiB
            // at a time; bincode may claim 64 KiB for a payload this small.
            let bound = (1 << 20) + (64 << 10);
            macro_rules! each_type {
                ($($name:literal: $type:ty,)*) => {$(
                    write_raw(&echo, &frame);
                    decodes_or_is_a_decode_error::<$type>(&mut echo, $name, bound)?;
                )*};
            }
            each_type! {
                "Record": Record,
                "String": String,
                "Bytes": Bytes,
                "Vec<u64>": Vec<u64>,
                "Vec<String>": Vec<String>,
                "Option<(u8, char)>": Option<(u8, char)>,
                "Choice": Choice,
                "BTreeMap<String, Bytes>": BTreeMap<String, Bytes>,
                "u128": u128,
                "f64": f64,
                "bool": bool,
                "()": (),
            }
            // The channel is still in step: a real message comes through.
            echo.send(&"in step").map_err(fail)?;
            prop_assert_eq!(echo.receive::<String>().map_err(fail)?, "in step");
            Ok(())
        })
        .unwrap();
}
