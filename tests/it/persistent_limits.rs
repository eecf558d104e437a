//! The limits of persistent channels (issue 17): addresses too long for a
//! socket path, listeners that belong to another user, peers that flood a
//! listener, and timeouts on the connecting side.
//!
//! Each test works in a scratch directory of its own (the harness runs
//! them as threads of one process) and checks only the processes it
//! started.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use pprocess::{BackgroundCallable, BackgroundQueue, Channel, Error, PersistentChannel};

use crate::hardening;
use crate::support;

use support::Scratch;

/// The size of `sun_path` on Linux: an address must be shorter (std and
/// the kernel both keep a byte for the terminating zero).
const SUN_PATH: usize = 108;

/// An address in `scratch` whose path is exactly `length` bytes: a
/// one-letter name in a subdirectory whose name takes the rest, so that
/// anything made next to the address (a staging file) has a longer path
/// than it.
fn address_of_length(scratch: &Scratch, length: usize) -> PathBuf {
    let prefix = scratch.path.as_os_str().len() + 1;
    assert!(
        length > prefix + 2,
        "the scratch path is too long for the test"
    );
    let directory = scratch.path.join("d".repeat(length - prefix - 2));
    fs::create_dir_all(&directory).expect("making the address's directory");
    directory.join("a")
}

/// Whether nothing but (empty) directories is in `scratch`.
fn is_empty(scratch: &Scratch) -> bool {
    walk_files(&scratch.path).is_empty()
}

/// The files (not directories) under `directory`.
fn walk_files(directory: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(directory).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(walk_files(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn too_long(error: &Error, address: &Path) -> bool {
    matches!(error, Error::AddressTooLong { path, limit }
        if path == address && *limit == SUN_PATH - 1)
}

#[test]
fn an_address_longer_than_a_socket_path_is_refused_at_listen_and_call_and_nothing_is_made() {
    let scratch = Scratch::new();
    for length in [SUN_PATH, SUN_PATH + 1, 200] {
        // A long name in a short directory (a staging file next to it is
        // shorter than it), and a short name in a long directory.
        let long_name = scratch
            .path
            .join("n".repeat(length - scratch.path.as_os_str().len() - 1));
        for address in [long_name, address_of_length(&scratch, length)] {
            refused_at_every_step(&scratch, &address);
        }
    }
}

fn refused_at_every_step(scratch: &Scratch, address: &Path) {
    let length = address.as_os_str().len();
    assert!(
        UnixListener::bind(address).is_err(),
        "std binds {length} bytes"
    );
    let error = PersistentChannel::listen(address).unwrap_err();
    assert!(too_long(&error, address), "listen: {error:?}");
    let background =
        BackgroundCallable::new(address, |channel: &mut Channel, (): ()| channel.send(&1u8));
    let error = background.call(()).unwrap_err();
    assert!(too_long(&error, address), "call: {error:?}");
    let error = pprocess::connect(address).unwrap_err();
    assert!(too_long(&error, address), "connect: {error:?}");
    assert!(is_empty(scratch), "something was made for {length} bytes");
}

#[test]
fn every_address_a_plain_bind_accepts_works_up_to_the_longest() {
    let scratch = Scratch::new();
    for length in [SUN_PATH - 1, SUN_PATH - 2, SUN_PATH - 12, 60] {
        let address = address_of_length(&scratch, length);
        drop(UnixListener::bind(&address).expect("std binds it"));
        fs::remove_file(&address).unwrap();
        let background = BackgroundCallable::new(&address, |channel: &mut Channel, n: u64| {
            channel.send(&(n * 2))
        });
        let pid = background.call(length as u64).expect("call");
        let mut channel = pprocess::connect(&address).expect("connect");
        assert_eq!(channel.receive::<u64>().unwrap(), 2 * length as u64);
        drop(channel);
        hardening::wait_for_end(pid);
        assert!(is_empty(&scratch), "left behind for {length} bytes");
    }
}

/// Whether the tests run as root (then they can switch to another user).
fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The user the foreign listener runs as.
const NOBODY: u32 = 65534;

/// Starts a created process that becomes user [`NOBODY`] (group too, no
/// supplementary groups) and listens at `address` (whose directory must
/// let that user in), then writes a forged result frame to whoever
/// connects. Returns once it listens; it ends when its channel is dropped.
fn foreign_listener(address: &Path) -> Channel {
    let address = address.to_owned();
    let mut channel = pprocess::start(move |channel| {
        use nix::unistd::{Gid, Uid, setgroups, setresgid, setresuid};
        let (uid, gid) = (Uid::from_raw(NOBODY), Gid::from_raw(NOBODY));
        setgroups(&[]).expect("setgroups");
        setresgid(gid, gid, gid).expect("setresgid");
        setresuid(uid, uid, uid).expect("setresuid");
        let listener = UnixListener::bind(&address).expect("bind as nobody");
        fs::set_permissions(&address, fs::Permissions::from_mode(0o777)).unwrap();
        channel.send(&"listening")?;
        if let Ok((mut peer, _)) = listener.accept() {
            use std::io::Write;
            // A forged result: a message frame holding the u64 7.
            let _ = peer.write_all(&hardening::raw_frame(8, 0, &7u64.to_le_bytes()));
        }
        let _ = channel.receive::<()>();
        Ok::<(), Error>(())
    })
    .expect("start");
    assert_eq!(channel.receive::<String>().unwrap(), "listening");
    channel
}

/// With root, two real users: a listener of `nobody` is refused by a
/// connecting root. Without root (no second user to switch to), the test
/// checks what it can for real: a listener of this same user is accepted,
/// so the check is made on the listener's credentials and passes when they
/// match (the refusal itself is proven by the unit test
/// `address::tests::a_listener_of_another_user_is_refused`).
#[test]
fn a_listener_of_another_user_is_refused_with_its_uid_and_gets_no_say() {
    let scratch = Scratch::new();
    let address = scratch.path.join("foreign");
    if !is_root() {
        let _own = PersistentChannel::listen(&address).expect("listen");
        assert!(pprocess::connect(&address).is_ok());
        return;
    }
    fs::set_permissions(&scratch.path, fs::Permissions::from_mode(0o777)).unwrap();
    let listener = foreign_listener(&address);
    let refused = |error: Error| {
        assert!(
            matches!(&error, Error::ForeignListener { path, uid } if path == &address && *uid == NOBODY),
            "{error:?}"
        );
    };
    refused(pprocess::connect(&address).unwrap_err());
    refused(BackgroundQueue::<u64>::new(&address).unwrap_err());
    let mut queue = pprocess::PersistentQueue::<u64>::new();
    refused(queue.connect(&address).unwrap_err());
    let mut exchange = pprocess::PersistentExchange::new();
    refused(exchange.connect(&address).unwrap_err());
    drop(listener);
}

/// How long the timeout tests give a silent listener (the feature under
/// test is a timeout: the test waits for it, and for nothing else).
const PATIENCE: std::time::Duration = std::time::Duration::from_millis(100);

#[test]
fn receiving_from_a_silent_listener_times_out_and_the_connection_stays_usable() {
    let scratch = Scratch::new();
    let address = scratch.path.join("silent");
    let mut listening = PersistentChannel::listen(&address).expect("listen");
    let mut channel = pprocess::connect_timeout(&address, PATIENCE).expect("connect");
    let error = channel.receive::<u64>().unwrap_err();
    assert!(
        matches!(error, Error::PeerTimeout { pid, after } if pid == std::process::id() as i32 && after == PATIENCE),
        "{error:?}"
    );
    // The connection is still good: what the listener sends now arrives.
    listening.send(&5u64).unwrap();
    assert_eq!(channel.receive::<u64>().unwrap(), 5);
    drop(channel);
    listening.finish().unwrap();
}

/// A listener at `address` with a backlog of one connection that never
/// accepts: the first connection waits in the backlog, the next cannot
/// get in.
fn listener_that_never_accepts(address: &Path) -> std::os::fd::OwnedFd {
    use nix::sys::socket::{AddressFamily, Backlog, SockFlag, SockType, UnixAddr, bind, listen};
    let listener = nix::sys::socket::socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap();
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&listener),
        &UnixAddr::new(address).unwrap(),
    )
    .unwrap();
    listen(&listener, Backlog::new(0).unwrap()).unwrap();
    listener
}

#[test]
fn connecting_to_a_listener_that_never_accepts_times_out() {
    let scratch = Scratch::new();
    let address = scratch.path.join("full");
    let _listener = listener_that_never_accepts(&address);
    let _first = pprocess::connect_timeout(&address, PATIENCE).expect("the first gets in");
    let error = pprocess::connect_timeout(&address, PATIENCE).unwrap_err();
    assert!(
        matches!(error, Error::PeerTimeout { pid: -1, after } if after == PATIENCE),
        "{error:?}"
    );
}

/// A line of `/proc/PID/status` (`VmRSS`, `VmHWM`), in KiB.
fn status_kib(pid: i32, field: &str) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in the status of {pid}"))
}

/// How much a flood writes, in all: 64 MiB of 10-byte message frames
/// (before the bound, a listener that kept them grew by about 400 MB).
const FLOOD: usize = 64 << 20;

/// Connects to `address` again and again and writes valid 10-byte message
/// frames (a 1-byte payload) as fast as the listener takes them, never
/// reading, until [`FLOOD`] bytes are written. Returns how many
/// connections the listener dropped.
fn flood(address: &Path) -> usize {
    use std::io::Write;
    let frame = hardening::raw_frame(1, 0, &[7]);
    let chunk: Vec<u8> = frame
        .iter()
        .copied()
        .cycle()
        .take(frame.len() * 100_000)
        .collect();
    let mut written = 0;
    let mut dropped = 0;
    while written < FLOOD {
        let mut peer = std::os::unix::net::UnixStream::connect(address).expect("connect");
        let mut at = 0;
        while written < FLOOD {
            match peer.write(&chunk[at..]) {
                Ok(count) => {
                    written += count;
                    at = (at + count) % chunk.len();
                }
                Err(_) => {
                    dropped += 1;
                    break;
                }
            }
        }
    }
    dropped
}

#[test]
fn a_peer_that_floods_a_listener_keeps_its_memory_bounded_and_the_collector_gets_everything() {
    const MESSAGES: u64 = 2_000;
    let scratch = Scratch::new();
    let address = scratch.path.join("flooded");
    let background = BackgroundCallable::new(&address, |channel: &mut Channel, (): ()| {
        (0..MESSAGES).try_for_each(|n| channel.send(&n))
    });
    let pid = background.call(()).expect("call");
    let before = status_kib(pid, "VmRSS");
    let dropped = flood(&address);
    let peak = status_kib(pid, "VmHWM");
    let numbers: Vec<u64> = BackgroundQueue::new(&address)
        .expect("collector")
        .collect::<pprocess::Result<_>>()
        .expect("every message");
    assert_eq!(numbers, (0..MESSAGES).collect::<Vec<_>>());
    hardening::wait_for_end(pid);
    assert!(
        peak < before + 48 * 1024,
        "the listener grew from {before} KiB to a peak of {peak} KiB ({dropped} connections dropped)"
    );
    assert!(is_empty(&scratch));
}

/// Runs `body` in a created process (one thread, so its descriptor count
/// means something) and checks it leaves no descriptor open.
fn leaves_no_descriptor(body: impl FnOnce()) {
    let mut channel = pprocess::start(|channel| {
        let before = hardening::open_descriptors();
        body();
        channel.send(&(before, hardening::open_descriptors()))
    })
    .expect("start");
    let (before, after): (usize, usize) = channel.receive().expect("counts");
    assert_eq!(before, after, "descriptors before and after");
    assert!(channel.wait().unwrap().success());
}

#[test]
fn the_new_paths_leave_no_descriptor_and_no_file() {
    let scratch = Scratch::new();
    // Staged through the directory's descriptor (the staging path is too
    // long), refused as too long, and a foreign check that passes.
    let longest = address_of_length(&scratch, SUN_PATH - 1);
    let too_long = address_of_length(&scratch, SUN_PATH);
    leaves_no_descriptor(|| {
        let listening = PersistentChannel::listen(&longest).expect("listen");
        let connection = pprocess::connect_timeout(&longest, PATIENCE).expect("connect");
        drop(connection);
        drop(listening);
        assert!(PersistentChannel::listen(&too_long).is_err());
        assert!(pprocess::connect(&too_long).is_err());
    });
    // A connection that times out, to a listener that never accepts.
    let full = scratch.path.join("full");
    let listener = listener_that_never_accepts(&full);
    leaves_no_descriptor(|| {
        let first = pprocess::connect_timeout(&full, PATIENCE).expect("the first gets in");
        let error = pprocess::connect_timeout(&full, PATIENCE).unwrap_err();
        assert!(
            matches!(error, Error::PeerTimeout { pid: -1, .. }),
            "{error:?}"
        );
        drop(first);
    });
    drop(listener);
    fs::remove_file(&full).unwrap();
    assert!(is_empty(&scratch));
}
