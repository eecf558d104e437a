//! Bad input that `faults.rs` and `persistent.rs` do not cover yet: length
//! prefixes of 0, 2^31 and 2^63, frames that decode as the wrong type
//! through a `Map` and a `Queue`, lying lengths inside small frames, and
//! the same at a persistent channel, which keeps serving the next
//! connection. Each gives its error; nothing panics in the creator, and
//! nothing is allocated beyond what arrived (checked with an allocator
//! that records the largest allocation of the current thread).

use crate::allocation;
use crate::hardening;

use allocation::largest_allocation_during;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;

use hardening::{HANG_GUARD, TaskLog, assert_gone, block_forever, header, write_raw};
use pprocess::{Bytes, Channel, Error, MAX_FRAME_LIMIT, Map, PersistentChannel, Queue};

// ---------------------------------------------------------------------------
// The largest single allocation made by the current thread.

/// More than any receive of a small frame needs (the inbox reads at most
/// 64 KiB at a time), far less than any length the bad frames announce.
const SMALL: usize = 1 << 20;

/// A whole frame of kind "message" with `payload`.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = header(payload.len() as u64, 0);
    frame.extend_from_slice(payload);
    frame
}

// ---------------------------------------------------------------------------
// Length prefixes on a plain channel.

#[test]
fn a_length_prefix_of_0_is_an_empty_message_and_the_channel_stays_usable() {
    let mut channel = pprocess::start(|channel| {
        write_raw(channel, &header(0, 0));
        channel.send(&7u64)?;
        write_raw(channel, &header(0, 0));
        Ok::<(), Error>(())
    })
    .unwrap();
    // An empty payload is no u64...
    let error = channel.receive::<u64>().unwrap_err();
    assert!(matches!(error, Error::Decode(_)), "{error:?}");
    // ...the message is consumed, and the next one arrives...
    assert_eq!(channel.receive::<u64>().unwrap(), 7);
    // ...and an empty payload is a unit value.
    channel.receive::<()>().unwrap();
    assert!(channel.wait().unwrap().success());
}

#[test]
fn length_prefixes_of_2_pow_31_and_2_pow_63_give_frame_too_large_without_allocating() {
    for length in [1u64 << 31, 1 << 63, u64::MAX] {
        let mut channel = pprocess::start(move |channel| {
            write_raw(channel, &header(length, 0));
            // Nothing more comes: waiting for the announced bytes would
            // hang here.
            block_forever();
        })
        .unwrap();
        let pid = channel.pid();
        let (result, largest) = largest_allocation_during(|| channel.receive::<Vec<u8>>());
        let error = result.unwrap_err();
        assert!(
            matches!(error, Error::FrameTooLarge { length: l, limit }
                if l == length && limit == MAX_FRAME_LIMIT as u64),
            "length {length}: {error:?}"
        );
        assert!(
            largest < SMALL,
            "length {length}: allocated {largest} bytes"
        );
        // Nothing after a bad header can be trusted: the channel is closed,
        // its process killed and reaped.
        assert!(matches!(channel.receive::<u8>(), Err(Error::Closed)));
        drop(channel);
        assert_gone([pid]);
    }
}

#[test]
fn a_length_just_beyond_a_lowered_frame_limit_gives_frame_too_large() {
    let mut channel = pprocess::start(|channel| {
        write_raw(channel, &frame(&[0; 1001]));
        block_forever();
    })
    .unwrap();
    channel.set_frame_limit(1000);
    let error = channel.receive::<Vec<u8>>().unwrap_err();
    assert!(
        matches!(
            error,
            Error::FrameTooLarge {
                length: 1001,
                limit: 1000
            }
        ),
        "{error:?}"
    );
}

// ---------------------------------------------------------------------------
// Lying lengths inside a small frame: the frame is within the limit, the
// value inside it announces far more than the frame holds.

/// The standard bincode encoding of a length: `0xFC` then a `u32`.
fn lying_length(length: u32) -> Vec<u8> {
    let mut payload = vec![0xFC];
    payload.extend_from_slice(&length.to_le_bytes());
    payload
}

#[test]
fn a_string_or_bytes_announcing_more_than_its_frame_holds_is_decode_without_allocating_it() {
    for claimed in [1u32 << 20, 1 << 29, (1 << 30) - 64] {
        for frame_limit in [MAX_FRAME_LIMIT, 4096] {
            let mut channel = pprocess::start(move |channel| {
                write_raw(channel, &frame(&lying_length(claimed)));
                write_raw(channel, &frame(&lying_length(claimed)));
                channel.send("still usable")
            })
            .unwrap();
            channel.set_frame_limit(frame_limit);
            let case = format!("claimed {claimed}, frame limit {frame_limit}");
            let (result, largest) = largest_allocation_during(|| channel.receive::<String>());
            assert!(
                matches!(result, Err(Error::Decode(_))),
                "{case}: {result:?}"
            );
            assert!(largest < SMALL, "{case}: String: allocated {largest} bytes");
            let (result, largest) = largest_allocation_during(|| channel.receive::<Bytes>());
            assert!(
                matches!(result, Err(Error::Decode(_))),
                "{case}: {result:?}"
            );
            assert!(largest < SMALL, "{case}: Bytes: allocated {largest} bytes");
            assert_eq!(channel.receive::<String>().unwrap(), "still usable");
        }
    }
}

// ---------------------------------------------------------------------------
// Through a Map and a Queue: each bad frame is its task's error.

/// Task `index` of the bad-input runs: 0 and 5 send their value; 1 an
/// empty message; 2 and 3 headers of 2^31 and 2^63 bytes; 4 a string
/// where a `u64` is expected.
fn bad_task(channel: &mut Channel, index: u64, log: &TaskLog) -> pprocess::Result<()> {
    log.report(index);
    match index {
        1 => write_raw(channel, &header(0, 0)),
        2 => {
            write_raw(channel, &header(1 << 31, 0));
            block_forever();
        }
        3 => {
            write_raw(channel, &header(1 << 63, 0));
            block_forever();
        }
        4 => channel.send("not a number")?,
        _ => channel.send(&(index * 10))?,
    }
    Ok(())
}

/// The error task `index` must give, if it is a bad one.
fn bad_outcome(index: u64, result: &pprocess::Result<u64>) -> bool {
    let limit = MAX_FRAME_LIMIT as u64;
    match index {
        1 | 4 => matches!(result, Err(Error::Decode(_))),
        2 => matches!(result, Err(Error::FrameTooLarge { length, limit: l })
            if *length == 1 << 31 && *l == limit),
        3 => matches!(result, Err(Error::FrameTooLarge { length, limit: l })
            if *length == 1 << 63 && *l == limit),
        _ => matches!(result, Ok(value) if *value == index * 10),
    }
}

#[test]
fn through_a_map_each_bad_frame_is_its_own_error_at_its_index() {
    let log = TaskLog::new();
    let log = &log;
    let mut map = Map::<u64>::new().limit(6);
    for index in 0..6u64 {
        map.start(move |channel| bad_task(channel, index, log));
    }
    let results: Vec<pprocess::Result<u64>> = map.collect();
    assert_eq!(results.len(), 6);
    for (index, result) in (0u64..).zip(&results) {
        assert!(bad_outcome(index, result), "index {index}: {result:?}");
    }
    assert_gone(log.pids());
}

#[test]
fn through_a_queue_each_bad_frame_is_an_error_item_and_the_rest_arrive() {
    let log = TaskLog::new();
    let log = &log;
    let mut queue = Queue::<u64>::new().limit(6);
    for index in 0..6u64 {
        queue.start(move |channel| bad_task(channel, index, log));
    }
    let mut values = Vec::new();
    let mut errors = Vec::new();
    for item in queue {
        match item {
            Ok(value) => values.push(value),
            Err(error) => errors.push(error),
        }
    }
    values.sort();
    assert_eq!(values, [0, 50]);
    // Each kind of bad frame gives its error once, naming its task.
    let mut tasks: Vec<usize> = errors.iter().filter_map(Error::task).collect();
    tasks.sort();
    assert_eq!(tasks, [1, 2, 3, 4]);
    let mut kinds: Vec<String> = errors
        .iter()
        .map(|error| match error.failure() {
            Error::Decode(_) => "Decode".to_owned(),
            Error::FrameTooLarge { length, limit } => format!("FrameTooLarge({length}, {limit})"),
            other => format!("{other:?}"),
        })
        .collect();
    kinds.sort();
    let limit = MAX_FRAME_LIMIT;
    assert_eq!(
        kinds,
        [
            "Decode".to_owned(),
            "Decode".to_owned(),
            format!("FrameTooLarge({}, {limit})", 1u64 << 31),
            format!("FrameTooLarge({}, {limit})", 1u64 << 63),
        ]
    );
    assert_gone(log.pids());
}

// ---------------------------------------------------------------------------
// A persistent channel: a bad peer is dropped, the next one is served.

/// Connects to `address`, writes `bytes`, and waits until the listening
/// side drops the connection.
fn bad_peer(address: &std::path::Path, bytes: &[u8], close_write: bool) {
    let mut stream = UnixStream::connect(address).expect("connecting");
    stream.set_read_timeout(Some(HANG_GUARD)).unwrap();
    stream.write_all(bytes).expect("writing");
    if close_write {
        stream.shutdown(Shutdown::Write).unwrap();
    }
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => {}
        // Dropped with our bytes unread: the connection is reset.
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(error) => panic!("the bad peer was not dropped: {error}"),
    }
}

#[test]
fn a_persistent_channel_drops_peers_that_send_bad_frames_and_serves_the_next() {
    let directory = std::env::temp_dir().join(format!(
        "pprocess-bad-input-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir(&directory).unwrap();
    let address = directory.join("bad-input");
    let mut listening = PersistentChannel::listen(&address).unwrap();

    std::thread::scope(|scope| {
        let address = &address;
        let peers = scope.spawn(move || {
            // Headers beyond the frame limit, and a truncated frame.
            bad_peer(address, &header(1 << 31, 0), false);
            bad_peer(address, &header(1 << 63, 0), false);
            bad_peer(address, &frame(&[0; 100])[..50], true);
            // A well-behaved peer: an empty message, a string where a u32
            // is expected, then 21; it takes the answer and acknowledges.
            let mut stream = UnixStream::connect(address).unwrap();
            stream.set_read_timeout(Some(HANG_GUARD)).unwrap();
            let mut bytes = header(0, 0);
            bytes.extend(frame(&[1, b'x']));
            bytes.extend(frame(&[21]));
            stream.write_all(&bytes).unwrap();
            let mut answer = [0u8; 10];
            stream.read_exact(&mut answer).unwrap();
            stream.write_all(&header(0, 2)).unwrap();
            answer
        });
        let (first, largest) = largest_allocation_during(|| listening.receive::<u32>());
        assert!(matches!(first, Err(Error::Decode(_))), "{first:?}");
        assert!(largest < SMALL, "allocated {largest} bytes");
        let second = listening.receive::<u32>();
        assert!(matches!(second, Err(Error::Decode(_))), "{second:?}");
        assert_eq!(listening.receive::<u32>().unwrap(), 21);
        listening.send(&42u32).unwrap();
        listening.finish().unwrap();
        let answer = peers.join().unwrap();
        assert_eq!(answer, [1, 0, 0, 0, 0, 0, 0, 0, 0, 42]);
    });
    assert!(!address.exists());
    std::fs::remove_dir_all(&directory).unwrap();
}

#[test]
fn a_channel_used_by_a_process_that_inherited_it_is_a_foreign_channel() {
    let mut channel = pprocess::start(|channel| channel.receive::<u8>().map(drop)).expect("start");
    let owner = std::process::id();
    // The checker is forked with a copy of `channel`, which it does not own
    // (each side checks its own process id, cached until a fork).
    let mut checker = pprocess::start(|creator| {
        let sent = channel.send(&1u8);
        let received = channel.receive::<u8>();
        creator.send(&[sent, received.map(drop)].iter().all(|outcome| {
            matches!(outcome, Err(Error::ForeignChannel { owner: found }) if *found == owner)
        }))
    })
    .expect("start the checker");
    assert!(checker.receive::<bool>().expect("the checker's verdict"));
    assert!(checker.wait().expect("wait").success());
    // Still this process's own.
    channel.send(&1u8).expect("send to its own process");
    assert!(channel.wait().expect("wait").success());
}
