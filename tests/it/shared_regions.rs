//! The shared regions a channel reuses for large messages: a stream of
//! messages goes through the same two memory files; bytes still held are
//! never written over, not even after the process that holds them forked;
//! lying announcements are typed errors. Each runs in a created process
//! and counts its descriptors and mappings.

use std::collections::BTreeSet;
use std::os::fd::OwnedFd;

use crate::hardening::{in_a_created_process_leaving_no_descriptor, raw_frame, write_raw};
use nix::fcntl::{FcntlArg, SealFlag, fcntl};
use nix::sys::memfd::{MFdFlags, memfd_create};
use pprocess::{Channel, Error};

/// The kind byte of a frame announcing a message in a reused region.
const REGION: u8 = 7;

const MIB: usize = 1 << 20;

/// The inodes of the message memory files this process maps, one per
/// mapping.
fn message_files() -> Vec<String> {
    std::fs::read_to_string("/proc/self/maps")
        .expect("/proc/self/maps")
        .lines()
        .filter(|line| line.contains("pprocess-message"))
        .map(|line| line.split_whitespace().nth(4).expect("an inode").to_owned())
        .collect()
}

/// A created process that sends `count` messages of 2 MiB through shared
/// memory, the `n`th all of byte `n` (from 1), each after a `()` from its
/// creator.
fn sending_when_asked(count: u8) -> Channel {
    pprocess::start(move |channel| {
        channel.set_shared_memory_threshold(MIB);
        (1..=count).try_for_each(|byte| {
            channel.receive::<()>()?;
            channel.send_bytes(&vec![byte; 2 * MIB])
        })
    })
    .expect("start")
}

/// Asks `channel` for its next message and takes it in place.
fn next(channel: &mut Channel) -> pprocess::SharedBytes {
    channel.send(&()).expect("ask");
    channel.receive_shared().expect("the next message")
}

fn all(bytes: &[u8], byte: u8) -> bool {
    bytes.len() == 2 * MIB && bytes.iter().all(|&b| b == byte)
}

#[test]
fn a_stream_reuses_two_regions_and_never_writes_over_bytes_still_held() {
    let checks = in_a_created_process_leaving_no_descriptor(|| {
        // Mapped before (copies of other tests' mappings, made as this
        // process was forked).
        let earlier = message_files();
        let mut channel = sending_when_asked(6);
        // The first message stays held to the end: its region is never
        // free again, and the other five take turns in the second one.
        let first = next(&mut channel);
        let mut checks = vec![first.is_mapped() && all(&first, 1)];
        let mut files = BTreeSet::new();
        for byte in 2..=6 {
            let bytes = next(&mut channel);
            checks.push(bytes.is_mapped() && all(&bytes, byte));
            files.extend(
                message_files()
                    .into_iter()
                    .filter(|file| !earlier.contains(file)),
            );
        }
        checks.push(all(&first, 1));
        // Two memory files, each mapped twice (its header, its message).
        checks.push(files.len() == 2);
        assert!(channel.wait().expect("wait").success());
        drop((first, channel));
        checks.push(message_files() == earlier);
        checks
    });
    assert_eq!(
        checks, [true; 9],
        "every message whole, the first unchanged, two files, nothing left mapped"
    );
}

#[test]
fn a_region_read_by_a_process_that_forked_since_is_never_written_again() {
    let checks = in_a_created_process_leaving_no_descriptor(|| {
        let mut channel = sending_when_asked(3);
        let first = next(&mut channel);
        // A created process gets a copy of `first`: the same pages. This
        // process lets go of its own copy when `start` drops the closure.
        let mut reader = pprocess::start(move |creator| {
            creator.receive::<()>()?;
            creator.send(&all(&first, 1))
        })
        .expect("start the reader");
        // Were the first region free again, the next message would go there
        // (the first free region is taken first) and change what the
        // reader reads.
        let second = next(&mut channel);
        let second_whole = all(&second, 2);
        drop(second);
        let third = next(&mut channel);
        reader.send(&()).expect("ask the reader");
        let reader_saw_ones = reader.receive::<bool>().expect("the reader's check");
        let checks = vec![second_whole, all(&third, 3), reader_saw_ones];
        assert!(reader.wait().expect("wait").success());
        assert!(channel.wait().expect("wait").success());
        drop((third, channel, reader));
        checks
    });
    assert_eq!(checks, [true; 3], "the forked reader's bytes never changed");
}

/// What the sender of the growth test sends, in turn: `Bytes` of `n`
/// MiB of byte `n`, or a value decoded as such.
#[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
enum Sent {
    Bytes(u8),
    /// Two blocks: the encoding outgrows the first and doubles its file.
    Pair(Vec<u8>, Vec<u8>),
    Floats(Vec<f64>),
}

#[test]
fn one_region_carries_a_stream_of_growing_and_decoded_messages() {
    let checks = in_a_created_process_leaving_no_descriptor(|| {
        let earlier = message_files();
        let sent = || {
            [
                Sent::Pair(vec![1; MIB], vec![2; MIB]),
                Sent::Bytes(3),
                Sent::Floats(vec![0.5; MIB]),
                Sent::Bytes(2),
                Sent::Bytes(32),
            ]
        };
        let mut channel = pprocess::start(move |channel| {
            channel.set_shared_memory_threshold(MIB);
            sent().into_iter().try_for_each(|value| {
                channel.receive::<()>()?;
                match value {
                    Sent::Bytes(mib) => channel.send_bytes(&vec![mib; usize::from(mib) * MIB]),
                    value => channel.send(&value),
                }
            })
        })
        .expect("start");
        let mut checks = Vec::new();
        let mut files = BTreeSet::new();
        for value in sent() {
            let arrived = match value {
                Sent::Bytes(mib) => {
                    let bytes = next(&mut channel);
                    bytes.is_mapped()
                        && bytes.len() == usize::from(mib) * MIB
                        && bytes.iter().all(|&b| b == mib)
                }
                value => {
                    channel.send(&()).expect("ask");
                    channel.receive::<Sent>().expect("a value") == value
                }
            };
            checks.push(arrived);
            files.extend(
                message_files()
                    .into_iter()
                    .filter(|file| !earlier.contains(file)),
            );
        }
        // Each message found the region free (a decoded one frees it at
        // once), grown as needed and never cut: one memory file.
        checks.push(files.len() == 1);
        assert!(channel.wait().expect("wait").success());
        drop(channel);
        checks.push(message_files() == earlier);
        checks
    });
    assert_eq!(
        checks, [true; 7],
        "every message whole in one region, nothing left"
    );
}

#[test]
fn a_forked_child_letting_go_of_its_copy_does_not_free_the_region() {
    let checks = in_a_created_process_leaving_no_descriptor(|| {
        let mut channel = sending_when_asked(2);
        let mut held = Some(next(&mut channel));
        // The child has a copy of `held`, the same pages: it drops it at
        // once (this process keeps its own).
        let mut child = pprocess::start(|creator| {
            drop(held.take());
            creator.send(&())
        })
        .expect("start the child");
        child.receive::<()>().expect("the child dropped its copy");
        let first = held.expect("this process's copy");
        // Had the child freed the region, the second message would be
        // written over the first, which this process still reads.
        let second = next(&mut channel);
        let checks = vec![all(&first, 1), all(&second, 2)];
        assert!(child.wait().expect("wait").success());
        assert!(channel.wait().expect("wait").success());
        drop((first, second, channel, child));
        checks
    });
    assert_eq!(checks, [true; 2], "the first message never changed");
}

/// A memory file laid out as a region: a header page, then `room` bytes
/// of 5; sealed against shrinking when `sealed`.
fn region_file(room: usize, sealed: bool) -> OwnedFd {
    let file =
        memfd_create(c"pprocess-message", MFdFlags::MFD_ALLOW_SEALING).expect("memfd_create");
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .unwrap()
        .unwrap() as usize;
    let mut contents = vec![0u8; page];
    contents.resize(page + room, 5);
    nix::unistd::write(&file, &contents).expect("fill the memory file");
    if sealed {
        fcntl(&file, FcntlArg::F_ADD_SEALS(SealFlag::F_SEAL_SHRINK)).expect("seal");
    }
    file
}

/// A frame announcing `length` bytes in region `slot`, with its file
/// passed (`passed` 1) or not (0).
fn announcement(length: u64, slot: u8, passed: u8) -> Vec<u8> {
    let mut payload = length.to_le_bytes().to_vec();
    payload.extend_from_slice(&[slot, passed]);
    raw_frame(10, REGION, &payload)
}

/// Writes `frame` into the channel's socket, passing `file` with it.
fn send_with(channel: &Channel, frame: &[u8], file: &OwnedFd) {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    use std::os::fd::AsRawFd;
    let socket = channel.socket().expect("open").as_raw_fd();
    let fds = [file.as_raw_fd()];
    let control = [ControlMessage::ScmRights(&fds)];
    let parts = [std::io::IoSlice::new(frame)];
    let sent = sendmsg::<()>(socket, &parts, &control, MsgFlags::empty(), None).expect("sendmsg");
    assert_eq!(sent, frame.len());
}

#[test]
fn lying_region_announcements_are_typed_errors_and_leak_nothing() {
    let outcomes = in_a_created_process_leaving_no_descriptor(|| {
        let mapped = message_files().len();
        let mut channel = pprocess::start(|channel| {
            // A slot there is not.
            send_with(channel, &announcement(4096, 9, 1), &region_file(4096, true));
            // A file announced but not passed.
            write_raw(channel, &announcement(4096, 0, 1));
            // A file that may shrink under its reader.
            send_with(
                channel,
                &announcement(4096, 0, 1),
                &region_file(4096, false),
            );
            // More than the file holds.
            send_with(channel, &announcement(8192, 0, 1), &region_file(4096, true));
            // A slot whose file never came.
            write_raw(channel, &announcement(4096, 1, 0));
            // An announcement that is not 10 bytes long.
            write_raw(channel, &raw_frame(3, REGION, &[1, 2, 3]));
            // Beyond the frame limit.
            send_with(
                channel,
                &announcement(1 << 40, 0, 1),
                &region_file(4096, true),
            );
            // The channel is still in step: real messages come through,
            // in a region of the sender's own.
            channel.set_shared_memory_threshold(MIB);
            channel.send_bytes(&vec![4u8; 2 * MIB])?;
            channel.send(&vec![0.5f64; MIB])
        })
        .expect("start");
        let mut outcomes: Vec<String> = (0..7)
            .map(|_| match channel.receive_shared() {
                Err(Error::Decode(_)) => "decode".to_string(),
                Err(Error::FrameTooLarge { .. }) => "too large".to_string(),
                other => format!("{other:?}"),
            })
            .collect();
        let bytes = channel.receive_shared().expect("the channel is in step");
        outcomes.push(format!("{} bytes of {}", bytes.len(), bytes[0]));
        drop(bytes);
        let floats: Vec<f64> = channel.receive().expect("floats through a region");
        outcomes.push(format!("{} floats of {}", floats.len(), floats[0]));
        assert!(channel.wait().expect("wait").success());
        drop(channel);
        outcomes.push(format!("{} more mapped", message_files().len() - mapped));
        outcomes
    });
    assert_eq!(
        outcomes,
        [
            "decode",
            "decode",
            "decode",
            "decode",
            "decode",
            "decode",
            "too large",
            "2097152 bytes of 4",
            "1048576 floats of 0.5",
            "0 more mapped",
        ]
    );
}
