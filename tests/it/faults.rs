//! Every failure a created process or the wire can produce, provoked for
//! real, and the exact error the other side gets for it.
//!
//! The test harness runs these tests in parallel threads of one process, so
//! no test here looks at process-wide state: each checks only the processes
//! it created itself.

use allocation::largest_allocation_during;
use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::panic::AssertUnwindSafe;
use std::process::ExitCode;

use nix::errno::Errno;
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::{self, SigHandler, Signal};
use nix::sys::socket::{self, MsgFlags};
use nix::unistd::Pid;
use pprocess::{Channel, Error, Exchange, Fork, Handler, MAX_FRAME_LIMIT};

use crate::allocation;
use crate::hardening;

use hardening::{gone, header, raw_frame, write_raw};

// ---------------------------------------------------------------------------
// The largest single allocation made by the current thread, so a test can
// show that a lying frame header made the receiver allocate nothing of the
// size it claimed. Per thread, because tests run in parallel threads.

// ---------------------------------------------------------------------------
// Helpers.

/// Blocks until the creator closes its end of the channel (or kills us).
fn block(channel: &mut Channel) {
    let _ = channel.receive::<u8>();
}

/// Restores the default action of `signal` in a created process.
fn default_action(signal: Signal) {
    // SAFETY: installing `SIG_DFL` runs no code of ours in a signal handler.
    unsafe { signal::signal(signal, SigHandler::SigDfl) }.expect("reset the signal action");
}

/// A process started with `start` that reports "running", then blocks until
/// its creator closes the channel or kills it. With `default_segv`, it first
/// restores the default action of `SIGSEGV`: the Rust runtime installs a
/// `SIGSEGV` handler (for stack overflows) that survives a `SIGSEGV` sent
/// with `kill`, so without this the process would not die from it.
fn running_child(default_segv: bool) -> Channel {
    let mut channel = pprocess::start(move |channel| {
        if default_segv {
            default_action(Signal::SIGSEGV);
        }
        channel.send("running")?;
        block(channel);
        Ok::<(), Error>(())
    })
    .expect("start");
    assert_eq!(channel.receive::<String>().expect("running"), "running");
    channel
}

/// A created process that says it runs, then never ends by itself (and
/// never reads what its creator sends).
fn run_forever(channel: &mut Channel) -> pprocess::Result<()> {
    channel.send("running")?;
    loop {
        std::thread::park();
    }
}

/// Runs `f` in a process made by `create`, then ends it with
/// `pprocess::exit`. The child never returns into the test harness: if `f`
/// fails or panics, it aborts, and its creator sees `Error::Died`.
fn child_main(mut channel: Channel, f: impl FnOnce(&mut Channel) -> pprocess::Result<()>) -> ! {
    match std::panic::catch_unwind(AssertUnwindSafe(|| f(&mut channel))) {
        Ok(Ok(())) => pprocess::exit(channel),
        _ => std::process::abort(),
    }
}

/// A short, comparable description of an outcome; `Error::Io` shows the
/// operation and the OS error number.
fn describe<T>(result: &pprocess::Result<T>) -> String {
    match result {
        Ok(_) => "Ok".to_owned(),
        Err(error) => describe_error(error),
    }
}

fn describe_error(error: &Error) -> String {
    match error {
        Error::Io { operation, source } => match source.raw_os_error() {
            Some(errno) => format!("Io({operation}, {:?})", Errno::from_raw(errno)),
            None => format!("Io({operation}, {source})"),
        },
        other => format!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------
// A created process that fails.

#[test]
fn a_panicking_child_gives_panicked_with_its_message_and_pid() {
    let mut channel = pprocess::start(|_channel| panic!("task {} went wrong", 7)).unwrap();
    let pid = channel.pid();
    match channel.receive::<u32>() {
        Err(Error::Panicked {
            pid: reported,
            message,
        }) => {
            assert_eq!(reported, pid);
            assert_eq!(message, "task 7 went wrong");
        }
        other => panic!("expected Error::Panicked, got {other:?}"),
    }
    assert_eq!(channel.wait().unwrap().code(), Some(101));
    drop(channel);
    assert!(gone(pid), "process {pid} is left behind");
}

/// Kills a running child with `signal` from outside and checks that its
/// channel reports `Died` with that signal's number and name, and that the
/// process is gone once the channel is dropped. Returns the error and the
/// pid.
fn killed_from_outside(signal: Signal) -> (Error, i32) {
    let mut channel = running_child(signal == Signal::SIGSEGV);
    let pid = channel.pid();
    signal::kill(Pid::from_raw(pid), signal).unwrap();
    let error = channel.receive::<u8>().unwrap_err();
    let number = signal as i32;
    assert!(
        matches!(error, Error::Died { pid: reported, signal } if reported == pid && signal == number),
        "expected Died {{ pid: {pid}, signal: {number} }}, got {error:?}"
    );
    assert_eq!(error.signal_name().as_deref(), Some(signal.as_str()));
    drop(channel);
    assert!(gone(pid), "process {pid} is left behind");
    (error, pid)
}

#[test]
fn a_child_killed_with_sigkill_from_outside_gives_died_with_signal_9() {
    let (error, pid) = killed_from_outside(Signal::SIGKILL);
    assert_eq!(error.pid(), Some(pid));
}

#[test]
fn a_child_killed_with_sigsegv_from_outside_gives_died_with_signal_11() {
    killed_from_outside(Signal::SIGSEGV);
}

#[test]
fn a_child_killed_with_a_message_of_its_creator_unread_still_gives_died() {
    let mut channel = pprocess::start(run_forever).unwrap();
    let pid = channel.pid();
    assert_eq!(channel.receive::<String>().unwrap(), "running");
    channel.send(&42u64).unwrap();
    signal::kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    let error = channel.receive::<u8>().unwrap_err();
    assert!(
        matches!(error, Error::Died { pid: reported, signal: 9 } if reported == pid),
        "expected Died {{ pid: {pid}, signal: 9 }}, got {error:?}"
    );
    drop(channel);
    assert!(gone(pid), "process {pid} is left behind");
}

#[test]
fn an_exchange_reports_died_for_a_child_killed_with_a_message_of_its_creator_unread() {
    let mut channel = pprocess::start(|_channel| {
        loop {
            std::thread::park();
        }
    })
    .unwrap();
    let pid = channel.pid();
    channel.send(&42u64).unwrap();
    signal::kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    let mut exchange = Exchange::with_handler(Outcomes::default());
    let task = exchange.add(channel);
    exchange.finish().unwrap();
    let Outcomes { data, errors } = exchange.into_handler();
    assert!(data.is_empty(), "{data:?}");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        matches!(errors[&task], Error::Died { pid: reported, signal: 9 } if reported == pid),
        "expected Died {{ pid: {pid}, signal: 9 }}, got {:?}",
        errors[&task]
    );
    assert!(gone(pid), "process {pid} is left behind");
}

#[test]
fn a_child_that_touches_an_unmapped_address_gives_died_with_sigsegv() {
    let mut channel = pprocess::start(|channel| {
        channel.send("running")?;
        let unmapped = std::ptr::without_provenance_mut::<u8>(0x10);
        // SAFETY: not sound, on purpose: this is the crash under test. The
        // first page is never mapped, so the write faults with SIGSEGV.
        unsafe { unmapped.write_volatile(1) };
        Ok::<(), Error>(())
    })
    .unwrap();
    let pid = channel.pid();
    assert_eq!(channel.receive::<String>().unwrap(), "running");
    let error = channel.receive::<u8>().unwrap_err();
    assert!(
        matches!(error, Error::Died { pid: reported, signal: 11 } if reported == pid),
        "expected Died {{ pid: {pid}, signal: 11 }}, got {error:?}"
    );
    drop(channel);
    assert!(gone(pid), "process {pid} is left behind");
}

#[test]
fn a_child_that_aborts_gives_died_with_sigabrt() {
    let mut channel = pprocess::start(|_channel| std::process::abort()).unwrap();
    let pid = channel.pid();
    let error = channel.receive::<u8>().unwrap_err();
    assert!(
        matches!(error, Error::Died { pid: reported, signal: 6 } if reported == pid),
        "expected Died {{ pid: {pid}, signal: 6 }}, got {error:?}"
    );
    assert_eq!(error.signal_name().as_deref(), Some("SIGABRT"));
    drop(channel);
    assert!(gone(pid), "process {pid} is left behind");
}

#[test]
fn a_child_that_exits_with_code_3_without_sending_gives_no_result_with_code_3() {
    let mut channel = pprocess::start(|_channel| std::process::exit(3)).unwrap();
    let pid = channel.pid();
    let error = channel.receive::<u8>().unwrap_err();
    assert!(
        matches!(error, Error::NoResult { pid: reported, code: 3 } if reported == pid),
        "expected NoResult {{ pid: {pid}, code: 3 }}, got {error:?}"
    );
    assert_eq!(channel.wait().unwrap().code(), Some(3));
    drop(channel);
    assert!(gone(pid), "process {pid} is left behind");
}

#[test]
fn a_child_that_returns_exit_code_3_without_sending_gives_no_result_with_code_3() {
    let mut channel = pprocess::start(|_channel| ExitCode::from(3)).unwrap();
    let pid = channel.pid();
    let error = channel.receive::<u8>().unwrap_err();
    assert!(
        matches!(error, Error::NoResult { pid: reported, code: 3 } if reported == pid),
        "expected NoResult {{ pid: {pid}, code: 3 }}, got {error:?}"
    );
}

#[test]
fn a_result_arrives_even_when_the_child_exits_with_a_message_of_its_creator_unread() {
    let mut channel = pprocess::start(|channel| {
        // Wait until the creator's message is there, without reading it.
        let mut byte = [0u8; 1];
        let socket = channel.socket().unwrap().as_raw_fd();
        socket::recv(socket, &mut byte, MsgFlags::MSG_PEEK).map_err(std::io::Error::from)?;
        channel.send("result")?;
        Ok::<(), Box<dyn std::error::Error>>(())
    })
    .unwrap();
    let pid = channel.pid();
    channel.send(&42u64).unwrap();
    assert_eq!(channel.receive::<String>().unwrap(), "result");
    let error = channel.receive::<u8>().unwrap_err();
    assert!(
        matches!(error, Error::NoResult { pid: reported, code: 0 } if reported == pid),
        "expected NoResult {{ pid: {pid}, code: 0 }}, got {error:?}"
    );
}

// ---------------------------------------------------------------------------
// A peer that writes what is not a frame.

#[test]
fn a_peer_that_writes_an_unknown_frame_kind_gives_decode_and_closes_the_channel() {
    let mut channel = pprocess::start(|channel| {
        write_raw(channel, &raw_frame(4, 8, b"abcd"));
        block(channel);
    })
    .unwrap();
    let pid = channel.pid();
    // The peer is still alive and blocked: the error comes from the bytes
    // alone, not from the end of the stream.
    let error = channel.receive::<u32>().unwrap_err();
    assert!(
        matches!(error, Error::Decode(_)),
        "expected Decode, got {error:?}"
    );
    // Nothing after garbage can be trusted: the channel is closed.
    let after = channel.receive::<u32>().unwrap_err();
    assert!(
        matches!(after, Error::Closed),
        "expected Closed, got {after:?}"
    );
    drop(channel);
    assert!(gone(pid), "process {pid} is left behind");
}

/// xorshift64: reproducible "random" bytes.
fn random_bytes(mut state: u64, count: usize) -> Vec<u8> {
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

#[test]
fn a_peer_that_writes_random_bytes_gives_decode_or_frame_too_large_as_its_header_says() {
    for seed in 1..=16u64 {
        let bytes = random_bytes(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15), 4096);
        let mut channel = pprocess::start(|channel| {
            write_raw(channel, &bytes);
            block(channel);
        })
        .unwrap();
        let pid = channel.pid();
        let kind = bytes[8];
        let length = u64::from_le_bytes(bytes[..8].try_into().unwrap());
        let (result, largest) = largest_allocation_during(|| channel.receive::<String>());
        let error = result.unwrap_err();
        // Kinds 0 and 1 are messages and panic reports, 2 the
        // acknowledgements of persistent channels; any other kind byte is
        // garbage. A known kind with a random length is all but surely
        // beyond the frame limit.
        let too_large = matches!(error, Error::FrameTooLarge { length: l, .. } if l == length);
        let decode = matches!(error, Error::Decode(_));
        match kind {
            0 | 1 => assert!(
                too_large,
                "seed {seed}: kind {kind}, length {length}: {error:?}"
            ),
            2 => assert!(too_large || decode, "seed {seed}: kind 2: {error:?}"),
            _ => assert!(
                decode,
                "seed {seed}: kind {kind}: expected Decode, got {error:?}"
            ),
        }
        assert!(
            length > MAX_FRAME_LIMIT as u64 || kind > 2,
            "seed {seed}: pick another"
        );
        assert!(largest < 32 << 20, "seed {seed}: allocated {largest} bytes");
        drop(channel);
        assert!(gone(pid), "seed {seed}: process {pid} is left behind");
    }
}

#[test]
fn a_length_prefix_of_2_pow_60_gives_frame_too_large_without_allocating_it() {
    let mut channel = pprocess::start(|channel| {
        write_raw(channel, &header(1 << 60, 0));
        // Nothing more comes: a receiver waiting for the announced bytes
        // would hang here.
        block(channel);
    })
    .unwrap();
    let pid = channel.pid();
    let (result, largest) = largest_allocation_during(|| channel.receive::<Vec<u8>>());
    let error = result.unwrap_err();
    assert!(
        matches!(error, Error::FrameTooLarge { length, limit }
            if length == 1 << 60 && limit == MAX_FRAME_LIMIT as u64),
        "expected FrameTooLarge {{ length: 2^60, limit: {MAX_FRAME_LIMIT} }}, got {error:?}"
    );
    assert!(largest < 1 << 20, "receive allocated {largest} bytes");
    drop(channel);
    assert!(gone(pid), "process {pid} is left behind");
}

#[test]
fn a_header_announcing_512_mib_allocates_only_about_what_arrives() {
    const ANNOUNCED: u64 = 512 << 20;
    let mut channel = pprocess::start(|channel| {
        write_raw(channel, &raw_frame(ANNOUNCED, 0, b"ten bytes!"));
    })
    .unwrap();
    let pid = channel.pid();
    let (result, largest) = largest_allocation_during(|| channel.receive::<Vec<u8>>());
    let error = result.unwrap_err();
    assert!(
        matches!(error, Error::TruncatedFrame { expected, received: 19 } if expected == ANNOUNCED + 9),
        "expected TruncatedFrame {{ expected: {}, received: 19 }}, got {error:?}",
        ANNOUNCED + 9
    );
    // The inbox reads ahead at most 8 MiB beyond what arrived.
    assert!(largest < 32 << 20, "receive allocated {largest} bytes");
    drop(channel);
    assert!(gone(pid), "process {pid} is left behind");
}

#[test]
fn a_peer_that_writes_half_a_frame_then_exits_gives_truncated_frame() {
    let mut channel = pprocess::start(|channel| {
        write_raw(channel, &raw_frame(100, 0, &[0xAB; 40]));
    })
    .unwrap();
    let pid = channel.pid();
    let error = channel.receive::<Vec<u8>>().unwrap_err();
    assert!(
        matches!(
            error,
            Error::TruncatedFrame {
                expected: 109,
                received: 49
            }
        ),
        "expected TruncatedFrame {{ expected: 109, received: 49 }}, got {error:?}"
    );
    drop(channel);
    assert!(gone(pid), "process {pid} is left behind");
}

#[test]
fn a_peer_that_writes_half_a_header_then_exits_gives_truncated_frame() {
    let mut channel = pprocess::start(|channel| write_raw(channel, &header(100, 0)[..5])).unwrap();
    let pid = channel.pid();
    let error = channel.receive::<Vec<u8>>().unwrap_err();
    assert!(
        matches!(
            error,
            Error::TruncatedFrame {
                expected: 9,
                received: 5
            }
        ),
        "expected TruncatedFrame {{ expected: 9, received: 5 }}, got {error:?}"
    );
    drop(channel);
    assert!(gone(pid), "process {pid} is left behind");
}

#[test]
fn a_frame_of_the_wrong_type_gives_decode_and_the_channel_stays_usable() {
    let mut channel = pprocess::start(|channel| {
        channel.send("not a number")?;
        channel.send(&1u8)?;
        channel.send(&7u64)
    })
    .unwrap();
    let wrong = channel.receive::<u64>().unwrap_err();
    assert!(
        matches!(wrong, Error::Decode(_)),
        "expected Decode, got {wrong:?}"
    );
    // A string of length 1 whose byte is missing.
    let short = channel.receive::<String>().unwrap_err();
    assert!(
        matches!(short, Error::Decode(_)),
        "expected Decode, got {short:?}"
    );
    assert_eq!(channel.receive::<u64>().unwrap(), 7);
    assert!(channel.wait().unwrap().success());
}

#[test]
fn a_created_process_that_receives_garbage_gets_decode() {
    // Exit codes: 0 = Decode, as expected; 10 = a value; 11 = another error.
    let mut channel = pprocess::start(|channel| match channel.receive::<u64>() {
        Err(Error::Decode(_)) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(10),
        Err(_) => ExitCode::from(11),
    })
    .unwrap();
    write_raw(&channel, &raw_frame(3, 200, b"xyz"));
    assert_eq!(
        channel.wait().unwrap().code(),
        Some(0),
        "10: the garbage was taken as a value; 11: another error than Decode"
    );
}

// ---------------------------------------------------------------------------
// The same failures through an exchange.

/// Records what each task of an exchange gave.
#[derive(Default)]
struct Outcomes {
    /// Task -> (value, pid of the channel it came on).
    data: BTreeMap<usize, (u64, i32)>,
    errors: BTreeMap<usize, Error>,
}

impl Handler for Outcomes {
    fn store_data(&mut self, channel: &mut Channel, task: usize) -> pprocess::Result<()> {
        let value = channel.receive::<u64>()?;
        let previous = self.data.insert(task, (value, channel.pid()));
        assert!(previous.is_none(), "task {task} stored twice");
        Ok(())
    }

    fn store_error(&mut self, task: usize, error: Error) -> pprocess::Result<()> {
        let previous = self.errors.insert(task, error);
        assert!(previous.is_none(), "task {task} failed twice");
        Ok(())
    }
}

#[test]
fn an_exchange_hands_each_failure_to_store_error_for_its_task_and_the_rest_still_arrive() {
    let mut exchange = Exchange::with_handler(Outcomes::default()).limit(3);
    exchange.start(|channel| channel.send(&100u64)); // 0
    exchange.start(|_channel| panic!("task 1 panicked")); // 1
    exchange.start(|_channel| signal::raise(Signal::SIGKILL)); // 2
    exchange.start(|_channel| std::process::abort()); // 3
    exchange.start(|_channel| std::process::exit(3)); // 4
    exchange.start(|channel| {
        write_raw(channel, &raw_frame(2, 9, b"??"));
        block(channel);
    }); // 5
    exchange.start(|channel| {
        write_raw(channel, &header(1 << 60, 0));
        block(channel);
    }); // 6
    exchange.start(|channel| {
        write_raw(channel, &raw_frame(100, 0, &[0; 40]));
    }); // 7
    exchange.start(|channel| channel.send(&108u64)); // 8
    exchange.finish().unwrap();
    assert!(!exchange.unfinished());
    let Outcomes { data, errors } = exchange.into_handler();

    let values: Vec<(usize, u64)> = data
        .iter()
        .map(|(&task, &(value, _))| (task, value))
        .collect();
    assert_eq!(values, [(0, 100), (8, 108)]);
    assert_eq!(
        errors.keys().copied().collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6, 7]
    );
    let error = |task: usize| &errors[&task];
    assert!(
        matches!(error(1), Error::Panicked { message, .. } if message == "task 1 panicked"),
        "task 1: {:?}",
        error(1)
    );
    assert!(
        matches!(error(2), Error::Died { signal: 9, .. }),
        "task 2: {:?}",
        error(2)
    );
    assert!(
        matches!(error(3), Error::Died { signal: 6, .. }),
        "task 3: {:?}",
        error(3)
    );
    assert!(
        matches!(error(4), Error::NoResult { code: 3, .. }),
        "task 4: {:?}",
        error(4)
    );
    assert!(
        matches!(error(5), Error::Decode(_)),
        "task 5: {:?}",
        error(5)
    );
    assert!(
        matches!(error(6), Error::FrameTooLarge { length, .. } if *length == 1 << 60),
        "task 6: {:?}",
        error(6)
    );
    assert!(
        matches!(
            error(7),
            Error::TruncatedFrame {
                expected: 109,
                received: 49
            }
        ),
        "task 7: {:?}",
        error(7)
    );

    // Every process of the exchange, failed or not, is reaped; the pids
    // reported are those of distinct processes.
    let mut pids: Vec<i32> = data.values().map(|&(_, pid)| pid).collect();
    pids.extend([1, 2, 3, 4].map(|task| error(task).pid().expect("a pid")));
    let distinct: std::collections::BTreeSet<i32> = pids.iter().copied().collect();
    assert_eq!(distinct.len(), pids.len(), "pids {pids:?}");
    for pid in pids {
        assert!(gone(pid), "process {pid} is left behind");
    }
}

#[test]
fn a_result_sent_right_before_exit_is_never_lost() {
    for round in 0..200u32 {
        // Every fourth result is larger than a socket buffer, so the child
        // is still writing it when the creator starts reading.
        let size = if round % 4 == 0 { 300_000 } else { 1 };
        let mut got = Vec::new();
        let mut exchange = Exchange::with_handler(|channel: &mut Channel, task: usize| {
            let (value, payload): (u32, Vec<u8>) = channel.receive()?;
            got.push((task, value, payload.len()));
            Ok(())
        });
        if let Some(channel) = exchange.create().unwrap() {
            child_main(channel, |channel| channel.send(&(round, vec![7u8; size])));
        }
        exchange.finish().unwrap();
        drop(exchange);
        assert_eq!(got, [(0, round, size)], "round {round}");
    }
}

// ---------------------------------------------------------------------------
// The raw exchange API.

#[test]
fn ready_returns_a_child_that_ended_without_sending_and_then_the_exchange_finishes() {
    let mut exchange = Exchange::new();
    let silent = pprocess::start(|_channel| std::process::exit(3)).unwrap();
    let silent_pid = silent.pid();
    exchange.add(silent);
    let panicking = pprocess::start(|_channel| panic!("no result")).unwrap();
    let panicking_pid = panicking.pid();
    exchange.add(panicking);
    let sending = pprocess::start(|channel| channel.send(&5u8)).unwrap();
    let sending_pid = sending.pid();
    exchange.add(sending);

    let mut outcomes = BTreeMap::new();
    let mut rounds = 0;
    while exchange.unfinished() {
        rounds += 1;
        assert!(rounds <= 100, "the exchange never finishes: {outcomes:?}");
        for channel in exchange.ready(None).unwrap() {
            let pid = channel.pid();
            let outcome = channel.receive::<u8>();
            assert!(
                outcomes.insert(pid, describe_outcome(outcome)).is_none(),
                "process {pid} was ready twice"
            );
        }
    }
    assert_eq!(
        outcomes,
        BTreeMap::from([
            (
                silent_pid,
                format!("NoResult {{ pid: {silent_pid}, code: 3 }}")
            ),
            (
                panicking_pid,
                format!("Panicked {{ pid: {panicking_pid}, message: \"no result\" }}")
            ),
            (sending_pid, "Ok(5)".to_owned()),
        ])
    );
    assert_eq!(exchange.active().len(), 0);
    drop(exchange);
    for pid in [silent_pid, panicking_pid, sending_pid] {
        assert!(gone(pid), "process {pid} is left behind");
    }
}

fn describe_outcome(outcome: pprocess::Result<u8>) -> String {
    match outcome {
        Ok(value) => format!("Ok({value})"),
        Err(error) => describe_error(&error),
    }
}

// ---------------------------------------------------------------------------
// A closed or dead peer.

#[test]
fn a_created_process_sees_disconnected_once_its_creator_closes_its_end() {
    // Exit codes: 0 = receive and send both gave Disconnected; 1 = receive
    // gave something else; 2 = send gave something else. SIGPIPE has its
    // default action in the child, so a send that raised it would kill it.
    let mut channel = pprocess::start(|channel| {
        default_action(Signal::SIGPIPE);
        if !matches!(channel.receive::<u8>(), Err(Error::Disconnected)) {
            return ExitCode::from(1);
        }
        if !matches!(channel.send(&1u8), Err(Error::Disconnected)) {
            return ExitCode::from(2);
        }
        ExitCode::SUCCESS
    })
    .unwrap();
    channel.close();
    let status = channel.wait().unwrap();
    assert_eq!(status.code(), Some(0), "status {status:?}");
}

#[test]
fn a_created_process_sees_disconnected_when_its_creator_closes_without_reading_its_message() {
    // As above, but the creator closes its end while a message of the child
    // is still unread in it. Exit codes: 0 = Disconnected both ways; 1 =
    // the first send failed; 2 = receive gave a value; 3 = receive gave an
    // Io error; 4 = receive gave another error; 5 = send did not give
    // Disconnected.
    let mut channel = pprocess::start(|channel| {
        default_action(Signal::SIGPIPE);
        channel.send("unread")?;
        match channel.receive::<u8>() {
            Err(Error::Disconnected) => {}
            Ok(_) => return Ok(ExitCode::from(2)),
            Err(Error::Io { .. }) => return Ok(ExitCode::from(3)),
            Err(_) => return Ok(ExitCode::from(4)),
        }
        if !matches!(channel.send(&1u8), Err(Error::Disconnected)) {
            return Ok(ExitCode::from(5));
        }
        Ok::<ExitCode, Error>(ExitCode::SUCCESS)
    })
    .unwrap();
    // Wait until the message is there, without taking it from the socket,
    // so it is still unread when the end is closed.
    let mut byte = [0u8; 1];
    let peeked = socket::recv(
        channel.socket().unwrap().as_raw_fd(),
        &mut byte,
        MsgFlags::MSG_PEEK,
    );
    assert_eq!(peeked, Ok(1));
    channel.close();
    let status = channel.wait().unwrap();
    assert_eq!(status.code(), Some(0), "status {status:?}");
}

#[test]
fn sending_to_a_dead_child_gives_io_epipe_and_raises_no_sigpipe() {
    // In a created process whose SIGPIPE has its default action (the test
    // harness ignores it, like every Rust program), so a send that raised
    // SIGPIPE would kill it and the creator would see Died.
    let mut channel = pprocess::start(|channel| {
        default_action(Signal::SIGPIPE);
        let mut dead = pprocess::start(|_channel| ())?;
        dead.wait()?;
        let outcome = describe(&dead.send(&1u8));
        channel.send(&outcome)
    })
    .unwrap();
    assert_eq!(channel.receive::<String>().unwrap(), "Io(send, EPIPE)");
    assert!(channel.wait().unwrap().success());

    // The same here, where SIGPIPE is ignored anyway.
    let mut dead = pprocess::start(|_channel| ()).unwrap();
    dead.wait().unwrap();
    assert_eq!(describe(&dead.send(&1u8)), "Io(send, EPIPE)");
}

// ---------------------------------------------------------------------------
// socketpair fails: no descriptor left.

/// Takes every free descriptor number below the limit (duplicates of
/// standard error), and returns them.
fn take_every_free_descriptor() -> Vec<OwnedFd> {
    let mut taken = Vec::new();
    loop {
        match nix::unistd::dup(std::io::stderr()) {
            Ok(fd) => taken.push(fd),
            Err(Errno::EMFILE) => return taken,
            Err(errno) => panic!("dup: {errno}"),
        }
    }
}

/// Handler for the exchange run out of descriptors: after task 0's result
/// it takes every free descriptor, so the queued tasks cannot start.
#[derive(Default)]
struct Starved {
    taken: Vec<OwnedFd>,
    outcomes: BTreeMap<usize, String>,
}

impl Handler for Starved {
    fn store_data(&mut self, channel: &mut Channel, task: usize) -> pprocess::Result<()> {
        let value = channel.receive::<u64>()?;
        self.outcomes.insert(task, format!("value {value}"));
        if task == 0 {
            self.taken = take_every_free_descriptor();
        }
        Ok(())
    }

    fn store_error(&mut self, task: usize, error: Error) -> pprocess::Result<()> {
        self.outcomes.insert(task, describe_error(&error));
        Ok(())
    }
}

/// Finishes the exchange and reports what each task gave, in task order.
fn finish_and_report(exchange: &mut Exchange<'_, Starved>, report: &mut Vec<String>) {
    let finished = exchange.finish();
    report.push(format!("finish: {}", describe(&finished)));
    for (task, outcome) in std::mem::take(&mut exchange.handler_mut().outcomes) {
        report.push(format!("task {task}: {outcome}"));
    }
    report.push(format!("unfinished: {}", exchange.unfinished()));
}

/// Runs in a created process: lowers RLIMIT_NOFILE, uses up the descriptors
/// and reports what `start`, `create` and an exchange do.
fn run_out_of_descriptors() -> Vec<String> {
    let mut report = Vec::new();
    let highest = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .max()
        .expect("some descriptor");
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    setrlimit(Resource::RLIMIT_NOFILE, highest + 1, hard).expect("setrlimit");
    let mut taken = take_every_free_descriptor();

    report.push(format!(
        "start: {}",
        describe(&pprocess::start(|channel| channel.send(&1u8)))
    ));
    let created = match pprocess::create() {
        Ok(Fork::Child(channel)) => pprocess::exit(channel),
        Ok(Fork::Parent(mut channel)) => {
            let _ = channel.wait();
            Ok(())
        }
        Err(error) => Err(error),
    };
    report.push(format!("create: {}", describe(&created)));

    // Room for exactly one socketpair: task 0 starts, tasks 1 and 2 are
    // queued; when task 0 has sent, the handler takes every descriptor
    // left, so only the one task 0's channel frees comes back: not enough.
    taken.truncate(taken.len() - 2);
    let mut exchange = Exchange::with_handler(Starved::default()).limit(1);
    for value in 0..3u64 {
        exchange.start(move |channel| channel.send(&value));
    }
    finish_and_report(&mut exchange, &mut report);
    // Not busy, no descriptor: the task fails at once, and reaches the
    // handler like any other failure.
    let task = exchange.start(|channel| channel.send(&3u64));
    report.push(format!(
        "started task {task}, unfinished: {}",
        exchange.unfinished()
    ));
    finish_and_report(&mut exchange, &mut report);

    // Descriptors freed: the same exchange works again.
    exchange.handler_mut().taken.clear();
    drop(taken);
    exchange.start(|channel| channel.send(&4u64));
    finish_and_report(&mut exchange, &mut report);
    report
}

#[test]
fn running_out_of_descriptors_gives_io_socketpair_emfile_and_the_exchange_recovers() {
    let mut channel = pprocess::start(|channel| channel.send(&run_out_of_descriptors())).unwrap();
    let report: Vec<String> = channel.receive().unwrap();
    assert_eq!(
        report,
        [
            "start: Io(socketpair, EMFILE)",
            "create: Io(socketpair, EMFILE)",
            "finish: Ok",
            "task 0: value 0",
            "task 1: Io(socketpair, EMFILE)",
            "task 2: Io(socketpair, EMFILE)",
            "unfinished: false",
            "started task 3, unfinished: true",
            "finish: Ok",
            "task 3: Io(socketpair, EMFILE)",
            "unfinished: false",
            "finish: Ok",
            "task 4: value 4",
            "unfinished: false",
        ]
    );
    assert!(channel.wait().unwrap().success());
}
