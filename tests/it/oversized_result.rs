//! A created process whose message exceeds the frame limit (issue 17): the
//! creator learns that cause as a typed error, not as a process that
//! ended without a result.

use pprocess::{Error, MAX_FRAME_LIMIT};

use crate::hardening;

fn assert_too_large(error: &Error, pid: i32, limit: usize) {
    assert!(
        matches!(error, Error::ResultTooLarge { pid: at, length, limit: in_force }
            if *at == pid && *length > limit as u64 && *in_force == limit as u64),
        "{error:?}"
    );
}

#[test]
fn bytes_beyond_the_frame_limit_reach_the_creator_as_result_too_large() {
    let mut channel = pprocess::start(|channel| {
        // Zeroed by the kernel on demand: not a page of it is touched.
        let huge = vec![0u8; MAX_FRAME_LIMIT + 1];
        channel.send_bytes(&huge)
    })
    .expect("start");
    let pid = channel.pid();
    let error = channel.receive_bytes().unwrap_err();
    assert_too_large(&error, pid, MAX_FRAME_LIMIT);
    assert_eq!(channel.wait().unwrap().code(), Some(1));
    hardening::assert_gone([pid]);
}

#[test]
fn a_value_beyond_a_lowered_frame_limit_reaches_the_creator_as_result_too_large() {
    let mut channel = pprocess::start(|channel| {
        channel.set_frame_limit(1024);
        channel.send(&vec![1u8; 4096])
    })
    .expect("start");
    let pid = channel.pid();
    let error = channel.receive::<Vec<u8>>().unwrap_err();
    assert_too_large(&error, pid, 1024);
    assert_eq!(channel.wait().unwrap().code(), Some(1));
}

#[test]
fn a_process_that_recovers_from_a_too_large_message_reports_nothing_of_it() {
    let mut channel = pprocess::start(|channel| {
        channel.set_frame_limit(1024);
        assert!(channel.send(&vec![1u8; 4096]).is_err());
        channel.send(&"smaller")
    })
    .expect("start");
    assert_eq!(channel.receive::<String>().unwrap(), "smaller");
    assert!(channel.wait().unwrap().success());
}

#[test]
fn through_a_queue_a_result_too_large_is_an_error_item_and_the_others_arrive() {
    let mut queue = pprocess::Queue::<Vec<u8>>::new().limit(3);
    for size in [10usize, 4096, 20] {
        queue.start(move |channel| {
            channel.set_frame_limit(1024);
            channel.send(&vec![1u8; size])
        });
    }
    let mut sizes = Vec::new();
    let mut too_large = 0;
    for item in queue {
        match item.as_ref().map_err(Error::failure) {
            Ok(bytes) => sizes.push(bytes.len()),
            Err(Error::ResultTooLarge { limit: 1024, .. }) => too_large += 1,
            Err(other) => panic!("{other:?}"),
        }
    }
    sizes.sort();
    assert_eq!((sizes, too_large), (vec![10, 20], 1));
}
