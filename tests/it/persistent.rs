//! Persistent channels and background processes: the persistent examples
//! run as one program and as two, the socket files they make, every bad
//! address, peers that misbehave or die, and the processes left behind
//! (none).
//!
//! The test harness runs these tests in parallel threads of one process:
//! each test works in a directory of its own, and checks only the
//! processes it started (by id, or by the address on their command line).
//!
//! `cargo test` builds the examples into `target/<profile>/examples/`
//! before it runs the integration tests; `cargo test --test persistent`
//! alone does not (run `cargo build --examples` first).

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};

use hardening::{eventually, wait_for_end};
use support::{Scratch, example_path, output_within};

use crate::hardening;
use crate::support;
use nix::sys::stat::{Mode, umask};
use nix::unistd::Pid;
use pprocess::{
    BackgroundCallable, BackgroundQueue, Channel, Error, MakeParallel, PersistentChannel,
};
use pprocess_examples::N;

/// How long anything may take before it counts as hung.
const DEADLINE: Duration = Duration::from_secs(60);

/// How many times in a row each persistent example runs without flags here.
const RUNS_WITHOUT_FLAGS: usize = 20;

const PERSISTENT_EXAMPLES: [&str; 3] = [
    "simple_persistent_managed",
    "simple_persistent_queue",
    "simple_background_queue",
];

// ---------------------------------------------------------------------------
// Scratch directories, processes, example programs.

/// Whether process `pid` has ended (gone, or a zombie its parent has not
/// reaped yet: a background process's parent is `init`).
fn ended(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => kill(Pid::from_raw(pid), None).is_err(),
    }
}

/// The live processes whose command line contains `needle`.
fn processes_with(needle: &str) -> Vec<i32> {
    processes_whose("cmdline", needle)
}

/// The live processes whose `/proc/PID/FILE` (`cmdline`, `environ`)
/// contains `needle`.
fn processes_whose(file: &str, needle: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in fs::read_dir("/proc").expect("listing /proc") {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<i32>().ok())
        else {
            continue;
        };
        // A zombie's command line and environment are empty.
        if let Ok(text) = fs::read(entry.path().join(file)) {
            if String::from_utf8_lossy(&text).contains(needle) && !ended(pid) {
                pids.push(pid);
            }
        }
    }
    pids
}

/// Runs example `name` with `args` and `PPROCESS_DELAY=0.01` to its end
/// (at most [`DEADLINE`]) and returns what it printed.
fn run_example(name: &str, args: &[&str]) -> Output {
    run_example_with(name, args, &[])
}

/// Runs example `name` as [`run_example`] does, with the environment
/// variables `env` besides.
fn run_example_with(name: &str, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let child = Command::new(example_path(name))
        .args(args)
        .envs(env.iter().copied())
        .env("PPROCESS_DELAY", "0.01")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run example {name}: {error}"));
    output_within(child, DEADLINE, &format!("example {name} {args:?}"))
}

/// The grid every simple example prints.
fn grid() -> Vec<String> {
    (0..N)
        .map(|i| {
            let row: Vec<String> = (0..N).map(|j| (i * N + j).to_string()).collect();
            row.join(" ")
        })
        .collect()
}

/// The status lines example `name` prints when it starts the work, and
/// those it prints before the grid when it collects it: its original's.
fn status_lines(name: &str) -> (&'static [&'static str], &'static [&'static str]) {
    if name == "simple_persistent_managed" {
        (
            &["Closed original exchange."],
            &["Opening new exchange.", "Waiting for persistent results"],
        )
    } else {
        (
            &["Discarded the callable."],
            &["Opening a queue.", "Waiting for persistent results"],
        )
    }
}

/// Checks that `output` is a success that printed `status` (see
/// [`status_lines`]), the grid and the time, and nothing else.
fn assert_prints_grid(name: &str, status: &[&str], output: &Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stderr.is_empty(),
        "{name} failed ({}); standard error:\n{stderr}\nstandard output:\n{stdout}",
        output.status
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        status.len() + N + 1,
        "{name} printed:\n{stdout}"
    );
    let (printed_status, lines) = lines.split_at(status.len());
    assert_eq!(printed_status, status, "{name}: wrong status lines");
    assert_eq!(lines[..N], grid()[..], "{name}: wrong grid");
    assert!(
        lines[N]
            .strip_prefix("Time taken: ")
            .and_then(|seconds| seconds.parse::<f64>().ok())
            .is_some_and(|seconds| seconds >= 0.0),
        "{name}: expected `Time taken: <seconds>`, got {:?}",
        lines[N]
    );
}

/// The addresses example `name` listens at, for base address `base`.
fn addresses_of(name: &str, base: &Path) -> Vec<PathBuf> {
    if name != "simple_persistent_queue" {
        vec![base.to_owned()]
    } else {
        (0..N)
            .map(|i| PathBuf::from(format!("{}-{i}", base.display())))
            .collect()
    }
}

/// Waits until no process started for `base` is left and its socket files
/// are gone, and checks that nothing else is left in `scratch`.
fn assert_nothing_left(scratch: &Scratch, base: &Path) {
    assert_nothing_left_of(scratch, "cmdline", &base.display().to_string());
}

/// Waits until no process whose `/proc/PID/FILE` contains `needle` is left
/// and `scratch` is empty (every socket file is removed).
fn assert_nothing_left_of(scratch: &Scratch, file: &str, needle: &str) {
    eventually(&format!("no process for {needle} is left"), || {
        processes_whose(file, needle).is_empty()
    });
    eventually("every socket file is removed", || {
        scratch.names().is_empty()
    });
}

// ---------------------------------------------------------------------------
// The persistent examples.

/// Runs example `name` with `--start`, checks the background processes and
/// their sockets, then collects with `--reconnect` from a new process.
fn start_then_reconnect(name: &str) {
    let scratch = Scratch::new();
    let base = scratch.join(name);
    let address = base.to_str().unwrap();
    let (start_status, collect_status) = status_lines(name);
    let started = run_example(name, &["--start", "--address", address]);
    let start_printed: Vec<String> = String::from_utf8_lossy(&started.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(
        started.status.success() && start_printed == start_status && started.stderr.is_empty(),
        "{name} --start failed ({}), printing {start_printed:?}: {}",
        started.status,
        String::from_utf8_lossy(&started.stderr)
    );
    // The background processes outlived their creator, listening at
    // owner-only sockets.
    assert!(
        !processes_with(address).is_empty(),
        "{name} --start left no background process"
    );
    for socket in addresses_of(name, &base) {
        let metadata = fs::symlink_metadata(&socket)
            .unwrap_or_else(|error| panic!("{}: {error}", socket.display()));
        assert!(metadata.file_type().is_socket(), "{}", socket.display());
        assert_eq!(
            metadata.permissions().mode() & 0o777,
            0o600,
            "{} is not owner-only",
            socket.display()
        );
    }
    let collected = run_example(name, &["--reconnect", "--address", address]);
    assert_prints_grid(name, collect_status, &collected);
    assert_nothing_left(&scratch, &base);
}

#[test]
fn simple_persistent_managed_started_then_collected_by_another_run_prints_the_grid() {
    start_then_reconnect("simple_persistent_managed");
}

#[test]
fn simple_persistent_queue_started_then_collected_by_another_run_prints_the_grid() {
    start_then_reconnect("simple_persistent_queue");
}

#[test]
fn simple_background_queue_started_then_collected_by_another_run_prints_the_grid() {
    start_then_reconnect("simple_background_queue");
}

/// Without flags, an example starts the work and collects it in one run, at
/// its default address in the user's private directory (here the scratch
/// directory, as `XDG_RUNTIME_DIR`): every run prints the grid, and leaves
/// no process (found by that variable in their environment) and no socket.
#[test]
fn each_persistent_example_run_without_flags_prints_the_grid_and_leaves_nothing_behind() {
    let scratch = Scratch::new();
    fs::set_permissions(&scratch.path, fs::Permissions::from_mode(0o700))
        .expect("making the scratch directory private");
    let runtime_dir = format!("XDG_RUNTIME_DIR={}", scratch.path.display());
    for name in PERSISTENT_EXAMPLES {
        let (start_status, collect_status) = status_lines(name);
        let status = [start_status, collect_status].concat();
        for _ in 0..RUNS_WITHOUT_FLAGS {
            let output = run_example_with(name, &[], &[("XDG_RUNTIME_DIR", &scratch.path)]);
            assert_prints_grid(name, &status, &output);
            assert_nothing_left_of(&scratch, "environ", &runtime_dir);
        }
    }
}

#[test]
fn a_default_address_directory_open_to_other_users_is_refused() {
    let scratch = Scratch::new();
    fs::set_permissions(&scratch.path, fs::Permissions::from_mode(0o777))
        .expect("opening the scratch directory to everyone");
    let output = run_example_with(
        "simple_background_queue",
        &[],
        &[("XDG_RUNTIME_DIR", &scratch.path)],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty(), "nothing was started");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("is not a directory private to user")
            && stderr.contains(scratch.path.to_str().unwrap()),
        "{stderr}"
    );
    assert!(scratch.names().is_empty(), "no socket was made");
}

#[test]
fn reconnecting_when_nothing_was_started_is_an_error_naming_the_address() {
    let scratch = Scratch::new();
    let base = scratch.join("nothing");
    let output = run_example(
        "simple_background_queue",
        &["--reconnect", "--address", base.to_str().unwrap()],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("nothing is listening at") && stderr.contains(base.to_str().unwrap()),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------
// Background processes and their socket files.

#[test]
fn a_socket_is_owner_only_whatever_the_umask_and_its_creator_keeps_no_zombie() {
    let scratch = Scratch::new();
    let address = scratch.join("owner-only");
    // In a created process, so that changing the umask affects no other test.
    let mut checker = pprocess::start(|channel| -> pprocess::Result<()> {
        umask(Mode::empty());
        let pid = BackgroundCallable::new(&address, |channel: &mut Channel, ()| {
            channel.send("collected")
        })
        .call(())?;
        let metadata = fs::symlink_metadata(&address).expect("the socket file");
        let me = std::process::id().to_string();
        // Children of this process that are zombies: the intermediate
        // process of the double fork must have been reaped.
        let zombies = fs::read_dir("/proc")
            .expect("listing /proc")
            .filter_map(|entry| fs::read_to_string(entry.ok()?.path().join("stat")).ok())
            .filter(|stat| {
                let fields: Vec<&str> = stat
                    .rsplit_once(')')
                    .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
                fields.first() == Some(&"Z") && fields.get(1) == Some(&me.as_str())
            })
            .count();
        channel.send(&(
            pid,
            metadata.file_type().is_socket(),
            metadata.permissions().mode() & 0o7777,
            zombies,
        ))
    })
    .expect("starting the checker");
    let (pid, is_socket, mode, zombies): (i32, bool, u32, usize) =
        checker.receive().expect("the checker's findings");
    assert!(checker.wait().expect("the checker ends").success());
    assert!(is_socket);
    assert_eq!(mode, 0o600, "mode {mode:o} with umask 000");
    assert_eq!(
        zombies, 0,
        "the creator of a background process has a zombie child"
    );
    // The background process outlived its creator, and ends once collected.
    assert!(!ended(pid));
    let mut connection = pprocess::connect(&address).expect("connecting");
    assert_eq!(connection.pid(), pid);
    assert_eq!(connection.receive::<String>().unwrap(), "collected");
    wait_for_end(pid);
    eventually("the socket file is removed", || scratch.names().is_empty());
}

#[test]
fn a_connect_right_after_call_always_succeeds() {
    let scratch = Scratch::new();
    for round in 0..20u32 {
        let address = scratch.join(&format!("quick-{round}"));
        let pid = BackgroundCallable::new(&address, MakeParallel::new(|n: u32| n + 1))
            .call(round)
            .expect("starting");
        let mut connection = pprocess::connect(&address).expect("connecting right after call");
        assert_eq!(connection.receive::<u32>().unwrap(), round + 1);
        wait_for_end(pid);
    }
    eventually("every socket file is removed", || {
        scratch.names().is_empty()
    });
}

#[test]
fn an_address_whose_directory_is_missing_is_an_error_naming_it() {
    let scratch = Scratch::new();
    let missing = scratch.join("missing");
    let address = missing.join("socket");
    let error = BackgroundCallable::new(&address, MakeParallel::new(|()| 1u8))
        .call(())
        .unwrap_err();
    assert!(
        matches!(&error, Error::MissingDirectory { path } if *path == address),
        "{error:?}"
    );
    assert!(
        error.to_string().contains(missing.to_str().unwrap()),
        "{error}"
    );
    assert!(matches!(
        PersistentChannel::listen(&address),
        Err(Error::MissingDirectory { .. })
    ));
    assert!(!missing.exists());
    assert!(scratch.names().is_empty());
}

#[test]
fn an_address_served_by_a_live_process_is_in_use_and_the_process_keeps_serving() {
    let scratch = Scratch::new();
    let address = scratch.join("busy");
    let first = BackgroundCallable::new(&address, MakeParallel::new(|()| "first"))
        .call(())
        .expect("starting the first");
    let error = BackgroundCallable::new(&address, MakeParallel::new(|()| "second"))
        .call(())
        .unwrap_err();
    assert!(
        matches!(&error, Error::AddressInUse { path } if *path == address),
        "{error:?}"
    );
    assert!(matches!(
        PersistentChannel::listen(&address),
        Err(Error::AddressInUse { .. })
    ));
    let mut connection = pprocess::connect(&address).expect("connecting to the first");
    assert_eq!(connection.pid(), first);
    assert_eq!(connection.receive::<String>().unwrap(), "first");
    wait_for_end(first);
    eventually("the socket file is removed", || scratch.names().is_empty());
}

#[test]
fn a_file_that_is_not_a_socket_at_the_address_is_an_error_and_is_left_untouched() {
    let scratch = Scratch::new();
    let file = scratch.join("precious.txt");
    fs::write(&file, "precious").unwrap();
    let directory = scratch.join("a-directory");
    fs::create_dir(&directory).unwrap();
    for address in [&file, &directory] {
        let error = BackgroundCallable::new(address, MakeParallel::new(|()| 1u8))
            .call(())
            .unwrap_err();
        assert!(
            matches!(&error, Error::NotASocket { path } if path == address),
            "{error:?}"
        );
        assert!(matches!(
            PersistentChannel::listen(address),
            Err(Error::NotASocket { .. })
        ));
        assert!(matches!(
            pprocess::connect(address),
            Err(Error::NotASocket { .. })
        ));
    }
    assert_eq!(fs::read_to_string(&file).unwrap(), "precious");
    assert!(directory.is_dir());
    assert_eq!(scratch.names(), ["a-directory", "precious.txt"]);
}

#[test]
fn a_stale_socket_file_is_replaced() {
    let scratch = Scratch::new();
    let address = scratch.join("stale");
    // A socket file whose process is gone: nobody listens on it.
    drop(UnixListener::bind(&address).unwrap());
    assert!(matches!(
        pprocess::connect(&address),
        Err(Error::NoListener { .. })
    ));
    let pid = BackgroundCallable::new(&address, MakeParallel::new(|()| 7u8))
        .call(())
        .expect("starting over a stale socket");
    assert_eq!(
        fs::symlink_metadata(&address).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        pprocess::connect(&address)
            .unwrap()
            .receive::<u8>()
            .unwrap(),
        7
    );
    wait_for_end(pid);
    eventually("the socket file is removed", || scratch.names().is_empty());
}

#[test]
fn connecting_to_a_missing_or_dead_address_is_an_error_at_once() {
    let scratch = Scratch::new();
    let missing = scratch.join("missing");
    let dead = scratch.join("dead");
    // Bound in a created process, so that no process forked meanwhile by
    // another test of this binary inherits the listener and keeps it alive.
    let bind_dead = dead.clone();
    let mut binder =
        pprocess::start(move |_channel| drop(UnixListener::bind(&bind_dead).unwrap())).unwrap();
    assert!(binder.wait().unwrap().success(), "the dead socket is made");
    let in_missing_directory = scratch.join("no-such-directory").join("socket");
    let (done, outcome) = mpsc::channel();
    thread::spawn(move || {
        let results = [&missing, &dead, &in_missing_directory].map(|address| {
            (
                address.clone(),
                pprocess::connect(address).map(drop),
                BackgroundQueue::<u8>::new(address).map(drop),
            )
        });
        done.send(results).unwrap();
    });
    let results = outcome
        .recv_timeout(DEADLINE)
        .expect("connecting to an address nobody listens at hangs");
    for (address, connected, queued) in results {
        for result in [connected, queued] {
            assert!(
                matches!(&result, Err(Error::NoListener { path }) if *path == address),
                "{}: {result:?}",
                address.display()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Peers that misbehave or die.

/// Reads from a raw connection until end of file (the other side dropped
/// it), failing after [`DEADLINE`].
fn read_to_end_of_file(stream: &mut UnixStream) {
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => {}
        // A peer that closes with our garbage unread resets the connection.
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(error) => panic!("the connection was not dropped: {error}"),
    }
}

#[test]
fn a_peer_that_writes_garbage_is_dropped_and_the_next_connection_is_served() {
    let scratch = Scratch::new();
    let address = scratch.join("garbage");
    let pid = BackgroundCallable::new(
        &address,
        |channel: &mut Channel, ()| -> pprocess::Result<()> {
            let n: u32 = channel.receive()?;
            channel.send(&(n * 2))?;
            channel.send("bye")
        },
    )
    .call(())
    .expect("starting");

    // Garbage where the background process waits for a message: a frame
    // header with an unknown kind.
    let mut garbage = UnixStream::connect(&address).unwrap();
    garbage.write_all(&[0xEE; 32]).unwrap();
    read_to_end_of_file(&mut garbage);

    // The next connection is served.
    let mut channel = pprocess::connect(&address).unwrap();
    channel.send(&21u32).unwrap();
    assert_eq!(channel.receive::<u32>().unwrap(), 42);
    drop(channel);

    // Garbage where it waits for an acknowledgement: a peer that reads the
    // frame, then answers with bytes that are not a frame.
    let mut garbage = UnixStream::connect(&address).unwrap();
    garbage.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut header = [0; 9];
    garbage
        .read_exact(&mut header)
        .expect("the unacknowledged frame");
    garbage.write_all(&[0xEE; 32]).unwrap();
    read_to_end_of_file(&mut garbage);

    // The next connection gets the message nobody acknowledged.
    let mut channel = pprocess::connect(&address).unwrap();
    assert_eq!(channel.receive::<String>().unwrap(), "bye");
    wait_for_end(pid);
    eventually("the socket file is removed", || scratch.names().is_empty());
}

#[test]
fn a_collector_killed_mid_stream_loses_nothing_and_the_next_one_gets_the_rest() {
    const COUNT: u32 = 2000;
    const TAKEN: usize = 100;
    let scratch = Scratch::new();
    let address = scratch.join("stream");
    // 2000 messages of 1 KiB: far more than the socket buffers hold, so the
    // background process is blocked in the middle of sending when the
    // collector dies.
    let pid = BackgroundCallable::new(&address, |channel: &mut Channel, ()| {
        (0..COUNT).try_for_each(|n| channel.send(&(n, vec![n as u8; 1024])))
    })
    .call(())
    .expect("starting");

    // A collector in a process of its own: it takes some messages, tells
    // us which, and waits to be killed.
    let mut collector = pprocess::start(|report| -> pprocess::Result<()> {
        let mut connection = pprocess::connect(&address)?;
        let mut taken = Vec::new();
        for _ in 0..TAKEN {
            let (n, _): (u32, Vec<u8>) = connection.receive()?;
            taken.push(n);
        }
        report.send(&taken)?;
        loop {
            std::thread::park();
        }
    })
    .expect("starting the collector");
    let taken: Vec<u32> = collector.receive().expect("the collector's messages");
    assert_eq!(taken, (0..TAKEN as u32).collect::<Vec<_>>());
    kill(Pid::from_raw(collector.pid()), Signal::SIGKILL).unwrap();
    let status = collector.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    assert!(
        !ended(pid),
        "the background process ended with its collector"
    );

    // The next collector gets everything not acknowledged, in order.
    let rest: Vec<u32> = BackgroundQueue::<(u32, Vec<u8>)>::new(&address)
        .expect("reconnecting")
        .map(|message| {
            message.map(|(n, bytes)| {
                assert!(bytes.iter().all(|&byte| byte == n as u8));
                n
            })
        })
        .collect::<pprocess::Result<_>>()
        .expect("the rest of the stream");
    assert!(
        rest.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "out of order"
    );
    assert!(
        rest.first().is_some_and(|&first| first <= TAKEN as u32),
        "messages were lost: the rest starts at {:?}",
        rest.first()
    );
    let all: BTreeSet<u32> = taken.iter().chain(&rest).copied().collect();
    assert_eq!(all, (0..COUNT).collect::<BTreeSet<_>>());
    wait_for_end(pid);
    eventually("the socket file is removed", || scratch.names().is_empty());
}

#[test]
fn a_collector_keeps_acknowledging_while_its_background_process_is_busy() {
    const COUNT: u32 = 1000;
    let scratch = Scratch::new();
    let address = scratch.join("busy-background");
    let go = scratch.join("go");
    nix::unistd::mkfifo(&go, Mode::S_IRWXU).unwrap();
    // A burst of small messages, then work that reads no acknowledgement
    // (here: waiting on a pipe the test writes to once it has them all).
    let pid = BackgroundCallable::new(
        &address,
        |channel: &mut Channel, ()| -> pprocess::Result<()> {
            (0..COUNT).try_for_each(|n| channel.send(&n))?;
            let mut byte = [0];
            fs::File::open(&go)
                .and_then(|mut pipe| pipe.read_exact(&mut byte))
                .expect("reading the pipe");
            channel.send(&COUNT)
        },
    )
    .call(())
    .expect("starting");
    let mut connection = pprocess::connect(&address).unwrap();
    let (done, received) = mpsc::channel();
    thread::spawn(move || {
        let burst: pprocess::Result<Vec<u32>> =
            (0..COUNT).map(|_| connection.receive::<u32>()).collect();
        done.send((burst, connection)).unwrap();
    });
    let (burst, mut connection) = received
        .recv_timeout(DEADLINE)
        .expect("the collector blocked acknowledging while the background process was busy");
    assert_eq!(burst.unwrap(), (0..COUNT).collect::<Vec<_>>());
    fs::OpenOptions::new()
        .write(true)
        .open(&go)
        .and_then(|mut pipe| pipe.write_all(b"!"))
        .unwrap();
    assert_eq!(connection.receive::<u32>().unwrap(), COUNT);
    wait_for_end(pid);
    eventually("the socket file is removed", || scratch.names() == ["go"]);
}

#[test]
fn a_background_process_that_ends_without_sending_is_an_error_in_a_queue_unless_continuous() {
    let scratch = Scratch::new();
    let mut queue = pprocess::PersistentQueue::<u8>::new();
    queue
        .start(scratch.join("silent"), |_channel: &mut Channel| ())
        .expect("starting");
    let results: Vec<pprocess::Result<u8>> = queue.collect();
    assert!(
        matches!(&results[..], [Err(error)]
            if matches!(error.failure(), Error::ConnectionClosed { pid } if *pid > 0)),
        "{results:?}"
    );
    let mut queue = pprocess::PersistentQueue::<u8>::new().continuous(true);
    queue
        .start(
            scratch.join("silent-continuous"),
            |_channel: &mut Channel| (),
        )
        .expect("starting");
    assert_eq!(queue.count(), 0);
    eventually("the socket files are removed", || {
        scratch.names().is_empty()
    });
}

#[test]
fn a_panic_in_a_background_process_reaches_its_collector() {
    let scratch = Scratch::new();
    let address = scratch.join("panic");
    let pid = BackgroundCallable::new(&address, |channel: &mut Channel, ()| {
        channel.send(&1u8).unwrap();
        panic!("out of bottles");
    })
    .call(())
    .expect("starting");
    let results: Vec<pprocess::Result<u8>> = BackgroundQueue::new(&address).unwrap().collect();
    assert!(matches!(results[0], Ok(1)), "{results:?}");
    assert!(
        matches!(results[1].as_ref().map_err(Error::failure), Err(Error::Panicked { pid: panicked, message })
            if *panicked == pid && message == "out of bottles"),
        "{results:?}"
    );
    assert_eq!(results.len(), 2);
    wait_for_end(pid);
    eventually("the socket file is removed", || scratch.names().is_empty());
}
