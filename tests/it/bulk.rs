//! Large messages on the socket: sent in parts as they are encoded (each
//! large block written from the value itself) and decoded as they arrive
//! (each block read into the vector the value keeps). What crosses, in
//! both directions and through a `Map`, and the faults: a sender killed
//! between parts or in the middle of a block, a lying length in a large
//! frame, a value that does not decode, parts beyond the frame limit,
//! garbage among the parts. Descriptors are counted in a created process
//! (the test process's other threads open and close them all the time).

use serde::{Deserialize, Serialize};

use crate::allocation::largest_allocation_during;
use crate::hardening::{
    DiesMidway, block_forever, gone, header, in_a_created_process_leaving_no_descriptor, raw_frame,
    write_raw,
};
use pprocess::{Bytes, Channel, Error};

const MIB: usize = 1 << 20;

/// The kinds of frame a test writes by hand.
const MESSAGE: u8 = 0;
const PART: u8 = 5;

/// A value with every kind of block, and small fields between them.
#[derive(Serialize, Deserialize, PartialEq, Debug, Clone)]
struct Image {
    name: String,
    width: u32,
    pixels: Vec<u8>,
    depth: Vec<f64>,
    caption: String,
    rows: Vec<Vec<u8>>,
    raw: Bytes,
}

impl Image {
    fn new(seed: u8) -> Self {
        Image {
            name: "image".into(),
            width: 1024,
            pixels: (0..3 * MIB + 7).map(|n| n as u8 ^ seed).collect(),
            depth: (0..MIB / 8 + 3).map(|n| n as f64 * 0.5).collect(),
            caption: "é".repeat(300_000),
            rows: (0..12).map(|row| vec![row as u8 ^ seed; 200_000]).collect(),
            raw: Bytes::from(vec![seed; MIB]),
        }
    }
}

#[test]
fn large_values_cross_in_parts_both_ways_and_leave_no_descriptor_open() {
    let checks = in_a_created_process_leaving_no_descriptor(|| {
        let mut channel = pprocess::start(|channel| {
            channel.set_shared_memory_threshold(usize::MAX);
            // Echo what comes, changed, so both directions carry parts.
            let mut image: Image = channel.receive()?;
            image.name.push('!');
            channel.send(&image)?;
            let floats: Vec<f64> = channel.receive()?;
            channel.send(&floats.iter().sum::<f64>())?;
            channel.send(&vec![3u8; 5 * MIB])?;
            channel.send("small, behind them")
        })
        .expect("start");
        channel.set_shared_memory_threshold(usize::MAX);
        let image = Image::new(9);
        channel.send(&image).expect("send an image");
        let back: Image = channel.receive().expect("the image back");
        channel.send(&vec![0.25f64; 2 * MIB]).expect("send floats");
        let sum: f64 = channel.receive().expect("their sum");
        let bytes: Vec<u8> = channel.receive().expect("bytes");
        let text: String = channel.receive().expect("a small message");
        let pid = channel.pid();
        assert!(channel.wait().expect("wait").success());
        drop(channel);
        let mut expected = image;
        expected.name.push('!');
        let checks = vec![
            back == expected,
            sum == 0.25 * (2 * MIB) as f64,
            bytes == vec![3u8; 5 * MIB],
            text == "small, behind them",
            gone(pid),
        ];
        checks
    });
    assert_eq!(
        checks, [true; 5],
        "each value arrived whole; the process is gone"
    );
}

#[test]
fn a_map_collects_large_results_sent_in_parts() {
    let images: Vec<Image> = pprocess::pmap(Image::new, 0..3)
        .collect::<pprocess::Result<_>>()
        .expect("every result");
    assert_eq!(images, (0..3).map(Image::new).collect::<Vec<_>>());
}

#[test]
fn a_sender_killed_between_parts_or_inside_a_block_is_reported_and_leaks_nothing() {
    let outcomes = in_a_created_process_leaving_no_descriptor(|| {
        let between = pprocess::start(|channel| {
            channel.set_shared_memory_threshold(usize::MAX);
            channel.send(&DiesMidway {
                bytes: vec![4; 2 * MIB],
            })
        })
        .expect("start");
        // A frame of 4 MiB of which 1 MiB is written: the receiver is
        // inside the block when the sender dies.
        let inside = pprocess::start(|channel| {
            let mut frame = header(4 * MIB as u64 + 5, MESSAGE);
            frame.push(0xFC);
            frame.extend_from_slice(&(4 * MIB as u32).to_le_bytes());
            frame.extend_from_slice(&vec![5u8; MIB]);
            write_raw(channel, &frame);
            nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL).expect("raise");
        })
        .expect("start");
        let mut outcomes = Vec::new();
        for mut channel in [between, inside] {
            outcomes.push(match channel.receive::<(Vec<u8>, u8)>() {
                Err(Error::Died { signal, .. }) => format!("died of {signal}"),
                other => format!("{other:?}"),
            });
            let pid = channel.pid();
            drop(channel);
            outcomes.push(format!("gone: {}", gone(pid)));
        }
        outcomes
    });
    let died = format!("died of {}", nix::libc::SIGKILL);
    assert_eq!(outcomes, [died.as_str(), "gone: true", &died, "gone: true"]);
}

#[test]
fn a_lying_length_in_a_large_frame_is_a_decode_error_without_allocating_it() {
    let mut channel = pprocess::start(|channel| {
        // An honest frame of 256 KiB whose string claims 1 GiB.
        let mut payload = vec![0xFC];
        payload.extend_from_slice(&(1u32 << 30).to_le_bytes());
        payload.resize(256 << 10, b'x');
        write_raw(channel, &raw_frame(payload.len() as u64, MESSAGE, &payload));
        channel.send("still in step")
    })
    .expect("start");
    let (result, largest) = largest_allocation_during(|| channel.receive::<String>());
    assert!(matches!(result, Err(Error::Decode(_))), "{result:?}");
    assert!(largest < MIB, "allocated {largest} bytes");
    assert_eq!(
        channel.receive::<String>().expect("the next message"),
        "still in step"
    );
}

#[test]
fn a_large_value_that_does_not_decode_is_skipped_and_the_channel_stays_in_step() {
    let mut channel = pprocess::start(|channel| {
        channel.set_shared_memory_threshold(usize::MAX);
        channel.send(&Image::new(1))?;
        channel.send(&vec![1u8; 2 * MIB])?;
        channel.send(&7u64)
    })
    .expect("start");
    // Fails at its first field; then a value with bytes left over.
    assert!(matches!(
        channel.receive::<(u64, u64)>(),
        Err(Error::Decode(_))
    ));
    assert!(matches!(channel.receive::<Vec<u8>>().map(|_| ()), Ok(())));
    assert_eq!(channel.receive::<u64>().expect("in step"), 7);
    let mut channel = pprocess::start(|channel| {
        channel.send(&vec![1u8; 2 * MIB])?;
        channel.send(&8u64)
    })
    .expect("start");
    assert!(matches!(channel.receive::<u8>(), Err(Error::Decode(_))));
    assert_eq!(channel.receive::<u64>().expect("in step"), 8);
}

#[test]
fn parts_beyond_the_frame_limit_are_dropped_and_the_channel_stays_in_step() {
    let mut channel = pprocess::start(|channel: &mut Channel| {
        channel.set_shared_memory_threshold(usize::MAX);
        channel.set_frame_limit(MIB);
        // The first block goes as a part; the second would pass the limit.
        let sent = channel.send(&(vec![1u8; 768 << 10], vec![2u8; 768 << 10]));
        channel.send(&format!("{sent:?}"))
    })
    .expect("start");
    let outcome: String = channel
        .receive()
        .expect("the outcome, after the dropped parts");
    assert!(outcome.starts_with("Err(FrameTooLarge"), "{outcome}");
    assert!(channel.wait().expect("wait").success());
}

/// Bytes and a number; its serialization panics after the bytes (sent as
/// a part) when the number is 1.
#[derive(Deserialize, Debug)]
struct Halfway(Vec<u8>, u8);

impl Serialize for Halfway {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTupleStruct;
        let mut fields = serializer.serialize_tuple_struct("Halfway", 2)?;
        fields.serialize_field(&self.0)?;
        assert_ne!(self.1, 1, "halfway through");
        fields.serialize_field(&self.1)?;
        fields.end()
    }
}

#[test]
fn a_sender_that_panics_between_parts_is_reported_as_its_panic() {
    let mut channel = pprocess::start(|channel| {
        channel.set_shared_memory_threshold(usize::MAX);
        channel.send(&Halfway(vec![1; MIB], 1))
    })
    .expect("start");
    let outcome = channel.receive::<Halfway>();
    assert!(
        matches!(&outcome, Err(Error::Panicked { message, .. }) if message.contains("halfway through")),
        "{outcome:?}"
    );
    // Through a map: the panic at its index, the others whole.
    let results: Vec<pprocess::Result<Halfway>> =
        pprocess::pmap(|i: u8| Halfway(vec![i; MIB], i), 0..3u8).collect();
    assert!(matches!(&results[0], Ok(Halfway(bytes, 0)) if *bytes == vec![0; MIB]));
    let failed = results[1].as_ref().map(|_| ()).unwrap_err();
    assert!(
        format!("{failed:?}").contains("halfway through"),
        "{failed:?}"
    );
    assert!(matches!(&results[2], Ok(Halfway(bytes, 2)) if *bytes == vec![2; MIB]));
}

#[test]
fn garbage_among_the_parts_is_a_typed_error() {
    // A part, then a frame of unknown kind where the rest of the message
    // belongs; a part, then the end of the stream.
    let mut garbled = pprocess::start(|channel| {
        let mut part = vec![0xFC];
        part.extend_from_slice(&(MIB as u32).to_le_bytes());
        write_raw(channel, &raw_frame(5, PART, &part));
        write_raw(channel, &raw_frame(4, 9, b"oops"));
        block_forever()
    })
    .expect("start");
    let outcome = garbled.receive::<Vec<u8>>();
    assert!(matches!(outcome, Err(Error::Decode(_))), "{outcome:?}");
    assert!(matches!(garbled.receive::<u8>(), Err(Error::Closed)));
    let mut cut = pprocess::start(|channel| {
        let mut part = vec![0xFC];
        part.extend_from_slice(&(MIB as u32).to_le_bytes());
        part.extend_from_slice(&[1; 1000]);
        write_raw(channel, &raw_frame(part.len() as u64, PART, &part));
    })
    .expect("start");
    let outcome = cut.receive::<Vec<u8>>();
    assert!(
        matches!(
            outcome,
            Err(Error::Decode(_) | Error::TruncatedFrame { .. })
        ),
        "{outcome:?}"
    );
}

/// The bytes a created process sends until it ends, read off its socket
/// as they are.
fn everything_sent(channel: &Channel) -> Vec<u8> {
    let socket = channel.socket().expect("open");
    let mut wire = Vec::new();
    let mut buffer = vec![0u8; 64 << 10];
    loop {
        match nix::unistd::read(socket, &mut buffer).expect("read") {
            0 => return wire,
            read => wire.extend_from_slice(&buffer[..read]),
        }
    }
}

#[test]
fn a_large_block_leaves_as_a_part_and_the_rest_as_the_message_frame() {
    let channel = pprocess::start(|channel| {
        channel.set_shared_memory_threshold(usize::MAX);
        channel.send(&(7u8, vec![1u8; 256 << 10], 9u8))
    })
    .expect("start");
    let wire = everything_sent(&channel);
    // The part: 7, the block's length (tag 252 and 4 bytes), the block.
    let part = 1 + 5 + (256 << 10);
    assert_eq!(wire[..9], header(part as u64, PART)[..]);
    assert_eq!(wire[9..15], [7, 252, 0, 0, 4, 0]);
    assert!(wire[15..9 + part].iter().all(|&byte| byte == 1));
    // The message frame: what follows the block.
    assert_eq!(wire[9 + part..], raw_frame(1, MESSAGE, &[9])[..]);
}

#[test]
fn a_block_larger_than_its_vector_grows_at_once_arrives_whole_with_what_follows() {
    // A vector grows by at most 64 MiB ahead of what arrived: this block
    // is read into it in two steps, and its part's end, then the rest of
    // the message, then the next message follow.
    let length = 64 * MIB + 100_003;
    let pattern = |n: usize| (n % 251) as u8;
    let mut channel = pprocess::start(move |channel| {
        channel.set_shared_memory_threshold(usize::MAX);
        let block: Vec<u8> = (0..length).map(pattern).collect();
        channel.send(&(block, "after the block".to_string()))?;
        channel.send(&vec![0.5f64; 8 * MIB + 3])?;
        channel.send("the next message")
    })
    .expect("start");
    let (block, after): (Vec<u8>, String) = channel.receive().expect("the block");
    assert_eq!(block.len(), length);
    assert!(
        block
            .iter()
            .enumerate()
            .all(|(n, &byte)| byte == pattern(n))
    );
    assert_eq!(after, "after the block");
    let floats: Vec<f64> = channel.receive().expect("the floats");
    assert_eq!(floats, vec![0.5f64; 8 * MIB + 3]);
    let next: String = channel.receive().expect("the next message");
    assert_eq!(next, "the next message");
    assert!(channel.wait().expect("wait").success());
}

#[test]
fn a_message_ending_in_a_block_is_read_without_the_frames_queued_behind_it() {
    // Behind each message whose last block is read as it arrives, one in
    // a shared region, whose memory file comes with its frame: a read of
    // the block that went past the message would take that file.
    let (mut sent, sender) = std::os::unix::net::UnixStream::pair().expect("socketpair");
    let mut channel = pprocess::start(move |channel| {
        channel.set_shared_memory_threshold(MIB);
        for byte in [1u8, 3] {
            channel.send(&vec![byte; 20_000])?;
            channel.send(&vec![byte + 1; 2 * MIB])?;
        }
        std::io::Write::write_all(&mut &sender, &[0]).expect("say all were sent");
        Ok::<_, Error>(())
    })
    .expect("start");
    std::io::Read::read_exact(&mut sent, &mut [0]).expect("all sent");
    for (byte, length) in [(1, 20_000), (2, 2 * MIB), (3, 20_000), (4, 2 * MIB)] {
        let received: Vec<u8> = channel.receive().expect("a message");
        assert!(
            received.len() == length && received.iter().all(|&each| each == byte),
            "expected {length} bytes {byte}, got {} starting {:?}",
            received.len(),
            &received[..received.len().min(4)]
        );
    }
    assert!(channel.wait().expect("wait").success());
}

#[test]
fn a_value_that_is_one_large_block_leaves_as_one_message_frame() {
    let channel = pprocess::start(|channel| {
        channel.set_shared_memory_threshold(usize::MAX);
        channel.send(&vec![1u8; 256 << 10])?;
        channel.send("after it")
    })
    .expect("start");
    let wire = everything_sent(&channel);
    // One frame: the length (tag 252 and 4 bytes), then the block.
    let message = 5 + (256 << 10);
    assert_eq!(wire[..9], header(message as u64, MESSAGE)[..]);
    assert_eq!(wire[9..14], [252, 0, 0, 4, 0]);
    assert!(wire[14..9 + message].iter().all(|&byte| byte == 1));
    assert_eq!(
        wire[9 + message..],
        raw_frame(9, MESSAGE, b"\x08after it")[..]
    );
}

#[test]
fn a_message_in_shared_memory_after_a_sender_stopped_between_parts_keeps_its_file() {
    // The sender's value panics after its block went as a part; it goes
    // on and sends a message in a shared region, whose memory file comes
    // with the frame that follows the dropped part. Both are sent before
    // the first is read, so the read of the part's block can reach them.
    let (mut sent, sender) = std::os::unix::net::UnixStream::pair().expect("socketpair");
    let mut channel = pprocess::start(move |channel| {
        channel.set_shared_memory_threshold(MIB);
        let halfway = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            channel.send(&Halfway(vec![1; 100_000], 1))
        }));
        assert!(halfway.is_err(), "the value panicked");
        channel.send(&vec![2u8; 2 * MIB])?;
        std::io::Write::write_all(&mut &sender, &[0]).expect("say all were sent");
        Ok::<_, Error>(())
    })
    .expect("start");
    std::io::Read::read_exact(&mut sent, &mut [0]).expect("all sent");
    let received: Vec<u8> = channel.receive().expect("the message in shared memory");
    assert!(received.len() == 2 * MIB && received.iter().all(|&byte| byte == 2));
    assert!(channel.wait().expect("wait").success());
}

/// Bytes whose serialization fails once they are written.
struct FailsAfterItsBytes(Vec<u8>);

impl Serialize for FailsAfterItsBytes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)?;
        Err(serde::ser::Error::custom("failed after its bytes"))
    }
}

#[test]
fn a_value_failing_after_its_only_block_went_leaves_the_channel_in_step() {
    // The block went whole, as the message: nothing is left to drop, and
    // the receiver takes it, then what follows.
    let mut channel = pprocess::start(|channel| {
        channel.set_shared_memory_threshold(usize::MAX);
        let failed = channel.send(&FailsAfterItsBytes(vec![3; 100_000]));
        channel.send(&5u32)?;
        channel.send(&format!("{failed:?}"))
    })
    .expect("start");
    let bytes: Vec<u8> = channel.receive().expect("the bytes");
    assert_eq!(bytes.len(), 100_000);
    assert_eq!(channel.receive::<u32>().expect("the next message"), 5);
    let failed: String = channel.receive().expect("how the send ended");
    assert!(failed.contains("failed after its bytes"), "{failed}");
    assert!(channel.wait().expect("wait").success());
}
