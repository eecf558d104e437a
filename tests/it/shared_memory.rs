//! Large messages through shared memory: what goes on the wire (a sealed
//! memory file passed with a short frame), and the faults: a lying size, an
//! unsealed or missing file, a sender killed while it fills the memory, a
//! sender gone before the message is read, a receiver that never reads it.
//! Each counts the descriptors of the process that received, which is a
//! created process (the test process's other threads open and close
//! descriptors all the time), and checks that no process is left behind.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use crate::hardening::{
    DiesMidway, gone, header, in_a_created_process_leaving_no_descriptor, raw_frame,
};
use nix::fcntl::{FcntlArg, SealFlag, fcntl};
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use pprocess::{Channel, Error};

/// The kind byte of a frame announcing shared memory.
const SHARED: u8 = 4;

/// The kind byte of a frame announcing a message in a reused region.
const REGION: u8 = 7;

const MIB: usize = 1 << 20;

/// A memory file of `bytes` bytes of 5, sealed as a sender seals it when
/// `sealed`.
fn memory_file(bytes: usize, sealed: bool) -> OwnedFd {
    let file = memfd_create(c"test", MFdFlags::MFD_ALLOW_SEALING).expect("memfd_create");
    nix::unistd::write(&file, &vec![5u8; bytes]).expect("fill the memory file");
    if sealed {
        let seals = SealFlag::F_SEAL_WRITE | SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW;
        fcntl(&file, FcntlArg::F_ADD_SEALS(seals)).expect("seal");
    }
    file
}

/// Writes `frame` into the channel's socket, passing `file` with it.
fn send_raw_with(channel: &Channel, frame: &[u8], file: Option<&OwnedFd>) {
    let socket = channel.socket().expect("open").as_raw_fd();
    let descriptors = file.map(|file| [file.as_raw_fd()]);
    let control: Vec<ControlMessage<'_>> = descriptors
        .iter()
        .map(|fds| ControlMessage::ScmRights(fds))
        .collect();
    let sent = sendmsg::<()>(
        socket,
        &[IoSlice::new(frame)],
        &control,
        MsgFlags::empty(),
        None,
    )
    .expect("sendmsg");
    assert_eq!(sent, frame.len());
}

/// A frame announcing `length` bytes of shared memory.
fn announcement(length: u64) -> Vec<u8> {
    raw_frame(8, SHARED, &length.to_le_bytes())
}

/// How many mappings of the memory files of messages this process has
/// (one forked while another test's thread decoded such a message has a
/// copy of that mapping: compare counts, not with 0).
fn shared_mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .expect("/proc/self/maps")
        .lines()
        .filter(|line| line.contains("pprocess-message"))
        .count()
}

/// A created process that sends 2 MiB of `byte`, through shared memory.
fn sending_through_shared_memory(byte: u8) -> Channel {
    pprocess::start(move |channel| {
        channel.set_shared_memory_threshold(MIB);
        channel.send(&vec![byte; 2 * MIB])
    })
    .expect("start")
}

/// Reads one frame of `length` bytes from the channel's socket by hand,
/// with the descriptor that came with it, if any.
fn read_frame_by_hand(channel: &Channel, length: usize) -> (Vec<u8>, Option<OwnedFd>) {
    let mut frame = vec![0u8; length];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let socket = channel.socket().expect("open").as_raw_fd();
    let mut parts = [std::io::IoSliceMut::new(&mut frame)];
    let message = recvmsg::<()>(socket, &mut parts, Some(&mut space), MsgFlags::MSG_WAITALL)
        .expect("recvmsg");
    assert_eq!(message.bytes, length);
    let mut passed: Vec<_> = message
        .cmsgs()
        .expect("control messages")
        .flat_map(|control| match control {
            ControlMessageOwned::ScmRights(fds) => fds,
            _ => Vec::new(),
        })
        .collect();
    assert!(passed.len() <= 1);
    // SAFETY: the kernel installed this descriptor for us; nothing else owns it.
    let file = passed
        .pop()
        .map(|fd| unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) });
    (frame, file)
}

fn seals(file: &OwnedFd) -> SealFlag {
    SealFlag::from_bits_truncate(fcntl(file, FcntlArg::F_GET_SEALS).expect("F_GET_SEALS"))
}

fn file_size(file: &OwnedFd) -> usize {
    nix::sys::stat::fstat(file.as_fd()).expect("fstat").st_size as usize
}

#[test]
fn large_messages_go_to_two_reused_regions_then_to_sealed_memory_files() {
    // Nobody frees the regions (the frames are read by hand), so the
    // first two messages take the two regions and the third a memory
    // file of its own.
    let mut channel = pprocess::start(|channel| {
        channel.set_shared_memory_threshold(MIB);
        (1..=3).try_for_each(|byte| channel.send_bytes(&vec![byte; 2 * MIB]))
    })
    .expect("start");
    // 2 MiB and the length prefix (a tag byte and 4 bytes).
    let length = 2 * MIB as u64 + 5;
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .unwrap()
        .unwrap() as usize;
    for slot in 0..2u8 {
        let (frame, file) = read_frame_by_hand(&channel, 9 + 10);
        assert_eq!(frame[..9], header(10, REGION)[..]);
        assert_eq!(u64::from_le_bytes(frame[9..17].try_into().unwrap()), length);
        assert_eq!(
            frame[17..],
            [slot, 1],
            "slot {slot}, its file passed with it"
        );
        let file = file.expect("the region's memory file");
        // It can grow and be written (by its sender, once freed), never
        // shrink; a header page, then room for the message.
        assert!(seals(&file).contains(SealFlag::F_SEAL_SHRINK));
        assert!(!seals(&file).contains(SealFlag::F_SEAL_WRITE));
        assert!(file_size(&file) >= page + length as usize);
    }
    let (frame, file) = read_frame_by_hand(&channel, 9 + 8);
    assert_eq!(frame[..9], header(8, SHARED)[..]);
    assert_eq!(u64::from_le_bytes(frame[9..].try_into().unwrap()), length);
    let file = file.expect("the message's own memory file");
    let wanted = SealFlag::F_SEAL_WRITE | SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW;
    assert!(seals(&file).contains(wanted));
    assert_eq!(file_size(&file), length as usize);
    // Nobody can write to it any more.
    assert!(nix::unistd::write(&file, b"x").is_err());
    assert!(channel.wait().expect("wait").success());
}

#[test]
fn large_messages_round_trip_and_leave_no_descriptor_open() {
    let checks = in_a_created_process_leaving_no_descriptor(|| {
        let mapped = shared_mappings();
        let mut channel = pprocess::start(|channel| {
            channel.set_shared_memory_threshold(MIB);
            channel.send(&vec![1u8; 3 * MIB])?;
            channel.send(&(String::from("text"), vec![0.25f64; MIB]))?;
            channel.send(&vec![2u8; 100]) // small: through the socket
        })
        .expect("start");
        let bytes: Vec<u8> = channel.receive().expect("bytes");
        let (text, floats): (String, Vec<f64>) = channel.receive().expect("a struct");
        let small: Vec<u8> = channel.receive().expect("small");
        let pid = channel.pid();
        assert!(channel.wait().expect("wait").success());
        drop(channel);
        bytes == vec![1u8; 3 * MIB]
            && shared_mappings() == mapped
            && text == "text"
            && floats == vec![0.25; MIB]
            && small == vec![2u8; 100]
            && gone(pid)
    });
    assert!(
        checks,
        "every message arrived whole, nothing stays mapped, the process is gone"
    );
}

#[test]
fn lying_sizes_and_unsealed_or_missing_memory_are_typed_errors() {
    let outcomes = in_a_created_process_leaving_no_descriptor(|| {
        let mapped = shared_mappings();
        let mut channel = pprocess::start(|channel| {
            // More than the file holds.
            send_raw_with(
                channel,
                &announcement(2 * MIB as u64),
                Some(&memory_file(MIB, true)),
            );
            // Less than it holds.
            send_raw_with(channel, &announcement(100), Some(&memory_file(4096, true)));
            // A file its sender can still change.
            send_raw_with(
                channel,
                &announcement(4096),
                Some(&memory_file(4096, false)),
            );
            // No file at all.
            send_raw_with(channel, &announcement(4096), None);
            // Beyond the frame limit.
            send_raw_with(
                channel,
                &announcement(1 << 40),
                Some(&memory_file(4096, true)),
            );
            // An announcement that is not 8 bytes long.
            send_raw_with(
                channel,
                &raw_frame(3, SHARED, &[1, 2, 3]),
                Some(&memory_file(4096, true)),
            );
            // The channel is still in step: a real message comes through.
            channel.send(&42u32)
        })
        .expect("start");
        let mut outcomes: Vec<String> = (0..6)
            .map(|_| match channel.receive::<Vec<u8>>() {
                Err(Error::Decode(_)) => "decode".to_string(),
                Err(Error::FrameTooLarge { .. }) => "too large".to_string(),
                other => format!("{other:?}"),
            })
            .collect();
        outcomes.push(format!("{:?}", channel.receive::<u32>()));
        outcomes.push(format!("{} more mapped", shared_mappings() - mapped));
        assert!(channel.wait().expect("wait").success());
        drop(channel);
        outcomes
    });
    assert_eq!(
        outcomes,
        [
            "decode",
            "decode",
            "decode",
            "decode",
            "too large",
            "decode",
            "Ok(42)",
            "0 more mapped"
        ]
    );
}

#[test]
fn a_sender_killed_while_filling_the_memory_is_reported_and_leaks_nothing() {
    let (outcome, process_gone) = in_a_created_process_leaving_no_descriptor(|| {
        let mut channel = pprocess::start(|channel| {
            channel.set_shared_memory_threshold(MIB);
            channel.send(&DiesMidway {
                bytes: vec![4; 8 * MIB],
            })
        })
        .expect("start");
        let outcome = match channel.receive::<(Vec<u8>, u8)>() {
            Err(Error::Died { signal, .. }) => format!("died of {signal}"),
            other => format!("{other:?}"),
        };
        let pid = channel.pid();
        drop(channel);
        (outcome, gone(pid))
    });
    assert_eq!(outcome, format!("died of {}", nix::libc::SIGKILL));
    assert!(process_gone, "the killed process was reaped");
}

#[test]
fn memory_outlives_a_sender_that_is_gone_and_a_receiver_that_never_reads_closes_it() {
    let arrived = in_a_created_process_leaving_no_descriptor(|| {
        // The sender ends (closing its own descriptor) before the message
        // is read: the receiver's descriptor keeps the memory.
        let mut early = sending_through_shared_memory(6);
        assert!(early.wait().expect("wait").success());
        let arrived = early.receive::<Vec<u8>>().expect("the message") == vec![6u8; 2 * MIB];
        drop(early);
        // A receiver that never reads: what arrived is closed with it.
        let mut unread = sending_through_shared_memory(7);
        assert!(unread.wait().expect("wait").success());
        drop(unread);
        arrived
    });
    assert!(arrived);
}

#[test]
fn an_exchange_collects_results_through_shared_memory() {
    // The exchange sees the short frame and its file arrive, then its
    // handler decodes from the memory.
    let mut results = vec![Vec::new(); 2];
    let mut exchange = pprocess::Exchange::with_handler(|channel: &mut Channel, task: usize| {
        results[task] = channel.receive::<Vec<u8>>()?;
        Ok(())
    })
    .limit(2);
    for i in 0..2u8 {
        exchange.start(move |channel| {
            channel.set_shared_memory_threshold(MIB);
            channel.send(&vec![i; 33 * MIB])
        });
    }
    exchange.finish().expect("every result");
    drop(exchange);
    assert!(results[0].iter().all(|&b| b == 0) && results[1].iter().all(|&b| b == 1));
    assert!(results.iter().all(|result| result.len() == 33 * MIB));
}

#[test]
fn shared_bytes_are_read_in_place_and_leave_nothing_mapped_or_open_once_dropped() {
    let checks = in_a_created_process_leaving_no_descriptor(|| {
        let mapped = shared_mappings();
        let mut channel = pprocess::start(|channel| {
            channel.set_shared_memory_threshold(MIB);
            channel.send_bytes(&vec![8u8; 3 * MIB])?;
            channel.send(&pprocess::Bytes::from(vec![9u8; 2 * MIB]))?;
            channel.send_bytes(&[1, 2, 3]) // small: through the socket
        })
        .expect("start");
        let first = channel.receive_shared().expect("bytes in shared memory");
        let second = channel.receive_shared().expect("Bytes in shared memory");
        let small = channel.receive_shared().expect("small bytes");
        let held = shared_mappings() - mapped;
        // The sender is gone: what it wrote stays readable.
        let pid = channel.pid();
        assert!(channel.wait().expect("wait").success());
        let checks = vec![
            first.is_mapped() && first.len() == 3 * MIB && first.iter().all(|&byte| byte == 8),
            second.is_mapped() && *second == vec![9u8; 2 * MIB][..],
            !small.is_mapped() && *small == [1, 2, 3],
            held == 4, // two regions: a header and a message each
        ];
        drop((first, second, small, channel));
        let mut checks = checks;
        checks.push(shared_mappings() == mapped);
        checks.push(gone(pid));
        checks
    });
    assert_eq!(
        checks, [true; 6],
        "bytes in place, two regions held, nothing after the drop, the process gone"
    );
}

#[test]
fn shared_bytes_refuse_a_lying_size_and_a_message_that_is_not_a_byte_string() {
    let outcomes = in_a_created_process_leaving_no_descriptor(|| {
        let mut channel = pprocess::start(|channel| {
            send_raw_with(
                channel,
                &announcement(2 * MIB as u64),
                Some(&memory_file(MIB, true)),
            );
            channel.set_shared_memory_threshold(MIB);
            channel.send(&vec![0.5f64; MIB])?;
            channel.send_bytes(&vec![4u8; 2 * MIB])
        })
        .expect("start");
        let mut outcomes: Vec<String> = (0..2)
            .map(|_| match channel.receive_shared() {
                Err(Error::Decode(_)) => "decode".to_string(),
                other => format!("{other:?}"),
            })
            .collect();
        let last = channel.receive_shared().expect("the channel is in step");
        outcomes.push(format!("{} bytes of {}", last.len(), last[0]));
        drop(last);
        assert!(channel.wait().expect("wait").success());
        drop(channel);
        outcomes
    });
    assert_eq!(outcomes, ["decode", "decode", "2097152 bytes of 4"]);
}
