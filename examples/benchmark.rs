//! Measures pprocess against the bare system calls it is built on, side by
//! side in one run, and prints the ratios the project targets.
//!
//! ```text
//! cargo run --release --example benchmark              # a readable table
//! cargo run --release --example benchmark -- --tsv     # name<TAB>value<TAB>unit
//! cargo run --release --example benchmark -- --quick   # small counts (a smoke test)
//! cargo run --release --example benchmark -- --rounds 9
//! ```
//!
//! Baselines use raw `socketpair`, `fork`, `read`, `write` and `waitpid`.
//! The round trip and the bulk transfers (baseline and `Channel` alike) pin
//! their two processes to two different CPUs, the case an idle machine
//! gives: on one CPU a round trip is several times cheaper and a transfer
//! runs at another speed, and the scheduler picks either from run to run.
//!
//! Every measurement runs in a fresh copy of the benchmark process (made
//! with `pprocess::start`, outside the timed part): the cost of `fork`
//! grows with the memory of the process that forks, and no measurement may
//! inherit the memory another one left behind (100,000 queued tasks leave
//! the heap several times larger). A round measures every figure once,
//! each library figure right after the baseline it is compared with, so
//! the two meet the same conditions. Each figure reported is the best of
//! its rounds (the shortest time, the highest throughput): on a shared
//! machine other work only ever slows a measurement down, so the best
//! round is the one least disturbed. The table also shows the median.
//! Each target ratio is the median over the rounds of the ratio of the
//! two figures measured in the same round: the speed of a shared machine
//! changes from one minute to the next, and a pair measured back to back
//! meets the same speed (the ratio of the best figures, which may come
//! from different rounds, is shown beside it). The scene, whose figures
//! are single renders of a few tens of milliseconds, is rendered four
//! times each way per round, in alternating order, and each way's shortest
//! render counts.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use clap::Parser;
use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid};
use pprocess::{MakeReusable, Map};
use pprocess_examples::raytracer::{Frame, Row};
use rayon::iter::{IntoParallelIterator, ParallelIterator};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

const MIB: usize = 1 << 20;

/// How much work each measurement does.
struct Counts {
    forks: u64,
    round_trips: u64,
    bulk_mib: usize,
    pmap_tasks: u64,
    reuse_tasks: u64,
    /// The raytracer comparison's scene: in a full run, one that takes
    /// over 1 s in one process on a quiet 2-core machine, so that fixed
    /// costs do not decide the ratios.
    scene: Frame,
    /// Message sizes of the bulk sweep, in bytes.
    sweep_sizes: &'static [usize],
    /// Bytes each kind of the sweep moves at each size (at least
    /// [`SWEEP_MESSAGES`] messages).
    sweep_bytes: usize,
    /// Process limits of the per-task sweep, and its tasks at each.
    limits: &'static [usize],
    limit_tasks: u64,
}

impl Counts {
    fn new(quick: bool) -> Self {
        if quick {
            Counts {
                forks: 200,
                round_trips: 5_000,
                bulk_mib: 64,
                pmap_tasks: 200,
                reuse_tasks: 5_000,
                scene: Frame::new(60, 40, 2),
                sweep_sizes: &[1 << 10, 64 << 10, MIB, 4 * MIB, 16 * MIB],
                sweep_bytes: 64 * MIB,
                limits: &[1, 4, 16, 64, 256],
                limit_tasks: 256,
            }
        } else {
            Counts {
                forks: 2_000,
                round_trips: 100_000,
                bulk_mib: 1_024,
                pmap_tasks: 2_000,
                reuse_tasks: 100_000,
                scene: Frame::new(1200, 800, 20),
                sweep_sizes: &[
                    1 << 10,
                    16 << 10,
                    64 << 10,
                    256 << 10,
                    MIB,
                    4 * MIB,
                    16 * MIB,
                    64 * MIB,
                    128 * MIB,
                ],
                sweep_bytes: 256 * MIB,
                limits: &[1, 2, 4, 8, 16, 32, 64, 128, 256],
                limit_tasks: 2_000,
            }
        }
    }
}

/// One measured figure.
struct Figure {
    name: String,
    value: f64,
    unit: &'static str,
    what: String,
}

/// A ratio of two figures from the same run, and what it should be.
struct Target {
    numerator: &'static str,
    denominator: &'static str,
    goal: Goal,
}

/// What a target ratio should be.
#[derive(Clone, Copy)]
enum Goal {
    AtMost(f64),
    AtLeast(f64),
    /// Shown for reference, without a bound.
    Reference,
}

impl Goal {
    /// How the table states the goal and whether `ratio` meets it.
    fn verdict(self, ratio: f64) -> String {
        let (relation, bound, met) = match self {
            Goal::AtMost(bound) => ("<=", bound, ratio <= bound),
            Goal::AtLeast(bound) => (">=", bound, ratio >= bound),
            Goal::Reference => return "no target".into(),
        };
        let met = if met { "met" } else { "NOT met" };
        format!("target {relation} {bound}: {met}")
    }
}

const TARGETS: &[Target] = &[
    Target {
        numerator: "pmap_task_us",
        denominator: "fork_wait_us",
        goal: Goal::AtMost(1.5),
    },
    Target {
        numerator: "reuse_task_us",
        denominator: "pingpong_us",
        goal: Goal::AtMost(2.0),
    },
    Target {
        numerator: "reuse2_task_us",
        denominator: "pingpong_us",
        goal: Goal::AtMost(0.35),
    },
    // Trivial tasks that processes take themselves (a pmap with reuse):
    // nothing is sent to them, and their answers wait in shared memory.
    Target {
        numerator: "pmap_reuse2_task_us",
        denominator: "pingpong_us",
        goal: Goal::Reference,
    },
    Target {
        numerator: "channel_mbps",
        denominator: "socketpair_mbps",
        goal: Goal::AtLeast(0.85),
    },
    // The speedup over one process is within 5% of rayon's:
    // (seq / pprocess2) >= 0.95 (seq / rayon2), i.e. rayon2 / pprocess2 >= 0.95.
    Target {
        numerator: "scene_rayon2_s",
        denominator: "scene_pprocess2_s",
        goal: Goal::AtLeast(0.95),
    },
    // How close to rayon a render in created processes gets when it hands
    // out no work as it goes: its best round is the floor of what forking,
    // ending and reaping the two processes cost; its median also shows what
    // a fixed split loses on a machine whose CPUs are not equally fast from
    // moment to moment.
    Target {
        numerator: "scene_rayon2_s",
        denominator: "scene_split2_s",
        goal: Goal::Reference,
    },
    // Reused processes sent their arguments by the creator (a managed
    // reusable callable) rather than taking their inputs themselves: a row
    // per call, then four rows per call (a quarter of the messages).
    Target {
        numerator: "scene_rayon2_s",
        denominator: "scene_managed2_s",
        goal: Goal::Reference,
    },
    Target {
        numerator: "scene_rayon2_s",
        denominator: "scene_grouped2_s",
        goal: Goal::Reference,
    },
];

/// Forks a raw child running `child` (which must not return into this
/// program), returning its pid.
fn fork_raw(child: impl FnOnce()) -> Pid {
    // SAFETY: the benchmark is single-threaded when it forks, and the child
    // only does plain reads and writes before `_exit`.
    match unsafe { nix::unistd::fork() }.expect("fork") {
        ForkResult::Parent { child } => child,
        ForkResult::Child => {
            child();
            // SAFETY: `_exit` ends the process at once; always sound.
            unsafe { nix::libc::_exit(0) }
        }
    }
}

fn micros_per(elapsed: Duration, count: u64) -> f64 {
    elapsed.as_secs_f64() * 1e6 / count as f64
}

fn mib_per_second(mib: usize, elapsed: Duration) -> f64 {
    mib as f64 / elapsed.as_secs_f64()
}

/// socketpair + fork + child writes 8 bytes and exits + read + waitpid.
fn fork_wait_us(forks: u64) -> f64 {
    let start = Instant::now();
    for _ in 0..forks {
        let (mut ours, mut theirs) = UnixStream::pair().expect("socketpair");
        let pid = fork_raw(|| {
            let _ = theirs.write_all(&[7; 8]);
        });
        drop(theirs);
        let mut answer = [0; 8];
        ours.read_exact(&mut answer).expect("read");
        waitpid(pid, None).expect("waitpid");
    }
    micros_per(start.elapsed(), forks)
}

fn pin_to(cpu: usize) {
    let mut set = CpuSet::new();
    if set.set(cpu).is_ok() {
        let _ = sched_setaffinity(Pid::from_raw(0), &set);
    }
}

/// Runs `measurement` with this process pinned to CPU 0, then restores its
/// affinity. Each two-process measurement pins its other process to CPU 1,
/// so a baseline and the library figure it is compared with both pay the
/// cost of crossing CPUs, whichever placement the scheduler would pick.
fn on_cpu_0<T>(measurement: impl FnOnce() -> T) -> T {
    let allowed = sched_getaffinity(Pid::from_raw(0)).expect("sched_getaffinity");
    pin_to(0);
    let value = measurement();
    let _ = sched_setaffinity(Pid::from_raw(0), &allowed);
    value
}

/// One 8-byte round trip to a live child, the two pinned to different CPUs.
fn pingpong_us(round_trips: u64) -> f64 {
    let (mut ours, mut theirs) = UnixStream::pair().expect("socketpair");
    let our_end = ours.as_raw_fd();
    let pid = fork_raw(|| {
        // The child's copy of our end would keep its reads from ever
        // seeing end of file.
        let _ = nix::unistd::close(our_end);
        pin_to(1);
        let mut message = [0; 8];
        while theirs.read_exact(&mut message).is_ok() {
            if theirs.write_all(&message).is_err() {
                break;
            }
        }
    });
    drop(theirs);
    on_cpu_0(|| {
        let mut message = [0; 8];
        let start = Instant::now();
        for round in 0..round_trips {
            ours.write_all(&round.to_le_bytes()).expect("write");
            ours.read_exact(&mut message).expect("read");
        }
        let elapsed = start.elapsed();
        drop(ours);
        waitpid(pid, None).expect("waitpid");
        micros_per(elapsed, round_trips)
    })
}

/// Forks a raw child, pinned to CPU 1, that writes `blocks` blocks of
/// `size` bytes into `theirs` (which this process then closes).
fn raw_writer(mut theirs: UnixStream, size: usize, blocks: usize) -> Pid {
    fork_raw(|| {
        pin_to(1);
        let block = vec![7u8; size];
        for _ in 0..blocks {
            if theirs.write_all(&block).is_err() {
                break;
            }
        }
    })
}

/// A child writes `mib` MiB in 1 MiB chunks into a raw socketpair, the two
/// pinned to different CPUs.
fn socketpair_mbps(mib: usize) -> f64 {
    on_cpu_0(|| {
        let (mut ours, theirs) = UnixStream::pair().expect("socketpair");
        let start = Instant::now();
        let pid = raw_writer(theirs, MIB, mib);
        let mut buffer = vec![0u8; MIB];
        let mut received = 0;
        loop {
            match ours.read(&mut buffer).expect("read") {
                0 => break,
                read => received += read,
            }
        }
        let elapsed = start.elapsed();
        waitpid(pid, None).expect("waitpid");
        assert_eq!(received, mib * MIB);
        mib_per_second(mib, elapsed)
    })
}

/// Times `squares`, which computes the squares of `0..tasks`, checks its
/// result, and returns the microseconds per task.
fn micros_per_square(tasks: u64, squares: impl FnOnce() -> pprocess::Result<Vec<u64>>) -> f64 {
    let start = Instant::now();
    let squares = squares().expect("every square");
    let elapsed = start.elapsed();
    assert!(
        squares.len() as u64 == tasks
            && squares
                .iter()
                .enumerate()
                .all(|(i, &s)| s == (i * i) as u64)
    );
    micros_per(elapsed, tasks)
}

/// `pmap` of trivial tasks, a new process per task.
fn pmap_task_us(tasks: u64, limit: usize) -> f64 {
    micros_per_square(tasks, || {
        pprocess::pmap_limit(|i: u64| i * i, 0..tasks, limit).collect()
    })
}

/// A `Map` with reuse: trivial tasks sent to `limit` reused processes.
fn reuse_task_us(tasks: u64, limit: usize) -> f64 {
    micros_per_square(tasks, || {
        let mut map = Map::new().limit(limit).reuse(true);
        let mut square = map.manage(MakeReusable::new(|i: u64| i * i));
        for i in 0..tasks {
            square.call(i);
        }
        map.collect()
    })
}

/// `pmap` on a `Map` with reuse: `limit` processes take trivial tasks
/// themselves.
fn pmap_reuse_task_us(tasks: u64, limit: usize) -> f64 {
    micros_per_square(tasks, || {
        Map::new()
            .limit(limit)
            .reuse(true)
            .pmap(|i: u64| i * i, 0..tasks)
            .collect()
    })
}

/// A created process sends `mib` messages of 1 MiB through a `Channel`,
/// the two pinned to different CPUs as in `socketpair_mbps`.
fn channel_mbps(mib: usize) -> f64 {
    on_cpu_0(|| {
        let start = Instant::now();
        let mut channel = pprocess::start(move |channel| {
            pin_to(1);
            let block = vec![1u8; MIB];
            (0..mib).try_for_each(|_| channel.send_bytes(&block))
        })
        .expect("start");
        let mut received = 0;
        for _ in 0..mib {
            received += channel.receive_bytes().expect("receive").len();
        }
        let elapsed = start.elapsed();
        assert!(channel.wait().expect("wait").success());
        assert_eq!(received, mib * MIB);
        mib_per_second(mib, elapsed)
    })
}

/// Seconds `render` takes, and the image it made.
fn timed_render(render: impl FnOnce() -> Vec<u8>) -> (f64, Vec<u8>) {
    let start = Instant::now();
    let image = render();
    (start.elapsed().as_secs_f64(), image)
}

/// How many times each way renders the scene in one round: an even
/// number, so that each order of the parallel renders comes as often.
const SCENE_PASSES: usize = 4;

/// How many rows a task renders in the grouped render: the same work in a
/// quarter of the messages.
const ROWS_PER_TASK: usize = 4;

/// The scene rendered by two reused processes of a `Map` serving a
/// managed reusable callable: each call sends the first of
/// `rows_per_task` rows, and the process answers with their bytes in one
/// message.
fn managed_render(frame: &Frame, rows_per_task: usize) -> Vec<u8> {
    let render_rows = |first: usize| -> Row {
        if rows_per_task == 1 {
            return frame.render_row(first);
        }
        Row::from(frame.render_rows(first..(first + rows_per_task).min(frame.height)))
    };
    let mut map: Map<Row> = Map::new().limit(2).reuse(true);
    let mut render = map.manage(MakeReusable::new(render_rows));
    for first in (0..frame.height).step_by(rows_per_task) {
        render.call(first);
    }
    map.map(|rows| rows.expect("rows").into_vec())
        .collect::<Vec<_>>()
        .concat()
}

/// The scene split in two halves, every other row, each rendered by one
/// created process that sends its rows in one message: the least
/// messaging a render in created processes can have (two forks, two
/// messages, two ends), and no balancing either (a half rendered on a
/// slower CPU is not helped).
fn split_render(frame: &Frame) -> Vec<u8> {
    let half = |parity: usize| {
        pprocess::start(move |channel| {
            channel.send_bytes(&frame.render_rows((parity..frame.height).step_by(2)))
        })
        .expect("a process for half of the rows")
    };
    let mut halves = [half(0), half(1)];
    let [even, odd] = halves
        .each_mut()
        .map(|channel| channel.receive_bytes().expect("half of the rows"));
    let mut image = Vec::with_capacity(even.len() + odd.len());
    let mut odd_rows = odd.chunks(frame.row_len());
    for even_row in even.chunks(frame.row_len()) {
        image.extend_from_slice(even_row);
        image.extend_from_slice(odd_rows.next().unwrap_or_default());
    }
    image
}

/// The raytracer's scene rendered row by row in one process, with pprocess
/// at limit 2 (a `pmap` of two reused processes that take the rows
/// themselves; a process per row; two halves, see [`split_render`]; two
/// reused processes sent a row or [`ROWS_PER_TASK`] rows per call, see
/// [`managed_render`]), and with rayon on 2 threads: the same code per row.
/// Each way renders [`SCENE_PASSES`] times, the parallel ones in an order
/// that alternates from pass to pass (a render is slower right after some
/// work than after other work: never always after the same one), and the
/// shortest time of each counts. Every pprocess render forks its processes
/// anew.
fn scene_seconds(frame: &Frame) -> [f64; 7] {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a rayon pool");
    let rows = |map: Map<Row>| {
        map.map(|row| row.expect("a row").into_vec())
            .collect::<Vec<_>>()
            .concat()
    };
    let reused = || {
        rows(
            Map::new()
                .limit(2)
                .reuse(true)
                .pmap(|row| frame.render_row(row), 0..frame.height),
        )
    };
    let forked = || {
        rows(pprocess::pmap_limit(
            |row| frame.render_row(row),
            0..frame.height,
            2,
        ))
    };
    let threads = || {
        pool.install(|| {
            (0..frame.height)
                .into_par_iter()
                .map(|row| frame.render_row(row).into_vec())
                .collect::<Vec<_>>()
                .concat()
        })
    };
    let renders: [(&str, &dyn Fn() -> Vec<u8>); 7] = [
        ("one process", &|| frame.render()),
        ("pprocess, reused processes", &reused),
        ("pprocess, a process per row", &forked),
        ("rayon", &threads),
        ("pprocess, two halves", &|| split_render(frame)),
        ("pprocess, managed reusable callable, grouped rows", &|| {
            managed_render(frame, ROWS_PER_TASK)
        }),
        ("pprocess, managed reusable callable", &|| {
            managed_render(frame, 1)
        }),
    ];
    let reference = frame.render();
    let mut seconds = [f64::MAX; 7];
    let count = renders.len();
    for pass in 0..SCENE_PASSES {
        // The one-process render first, then the parallel ones, forwards
        // in even passes and backwards in odd ones.
        let parallel = (1..count).map(|which| if pass % 2 == 0 { which } else { count - which });
        for which in std::iter::once(0).chain(parallel) {
            let (name, render) = renders[which];
            let (time, image) = timed_render(render);
            assert!(image == reference, "{name} rendered another image");
            seconds[which] = seconds[which].min(time);
        }
    }
    seconds
}

/// What crosses the channel in the bulk sweep: its name in figures, and
/// what it is.
const SWEEP_KINDS: [(Kind, &str, &str); 10] = [
    (
        Kind::Raw,
        "raw",
        "raw socketpair: one write per message, a fresh receive buffer each",
    ),
    (
        Kind::RawHalves,
        "raw_halves",
        "the same, each message read into two fresh buffers of half its size (as the struct's)",
    ),
    (
        Kind::SendBytes,
        "send_bytes",
        "Channel::send_bytes / receive_bytes",
    ),
    (Kind::Bytes, "bytes", "send(&Bytes) / receive::<Bytes>()"),
    (
        Kind::VecU8,
        "vec_u8",
        "send(&Vec<u8>) / receive::<Vec<u8>>()",
    ),
    (
        Kind::VecU8Socket,
        "vec_u8_socket",
        "the same through the socket: no shared memory at any size",
    ),
    (
        Kind::VecU8Shared,
        "vec_u8_shared",
        "the same through shared memory from 1 MiB",
    ),
    (
        Kind::SharedBytes,
        "shared_bytes",
        "send_bytes / receive_shared (read in place) through shared memory from 1 MiB",
    ),
    (
        Kind::VecF64,
        "vec_f64",
        "send(&Vec<f64>) / receive::<Vec<f64>>()",
    ),
    (
        Kind::Struct,
        "struct",
        "a struct: a String, two u32, a Vec<u8> and a Vec<f64> (half each)",
    ),
];

/// The message sizes (and kinds) whose ratio to the raw socketpair has a
/// target: at least [`SWEEP_GOAL`].
const SWEEP_TARGET_SIZES: [usize; 4] = [64 << 10, MIB, 16 * MIB, 128 * MIB];
const SWEEP_TARGET_KINDS: [Kind; 4] = [Kind::Bytes, Kind::VecU8, Kind::VecF64, Kind::Struct];
const SWEEP_GOAL: f64 = 0.85;

/// The sizes at which bytes through shared memory have a target: at least
/// [`SHARED_GOAL`] of the raw socketpair.
const SHARED_TARGET_SIZES: [usize; 2] = [16 * MIB, 128 * MIB];
const SHARED_GOAL: f64 = 1.5;

/// The threshold of the sweep's kinds that force shared memory.
const SWEEP_SHARED_FROM: usize = MIB;

/// The fewest messages a sweep measurement sends: a channel's first two
/// messages in shared memory each make the region it then reuses (which
/// costs what a sealed memory file of its own costs), so a stream of
/// eight shows them as a stream's share.
const SWEEP_MESSAGES: usize = 8;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Raw,
    RawHalves,
    SendBytes,
    Bytes,
    VecU8,
    VecU8Socket,
    VecU8Shared,
    SharedBytes,
    VecF64,
    Struct,
}

/// The struct of the sweep: what a user returning an image might send.
#[derive(Serialize, Deserialize)]
struct Image {
    name: String,
    width: u32,
    height: u32,
    pixels: Vec<u8>,
    depth: Vec<f64>,
}

impl Image {
    /// An image whose pixels and depths take `size` bytes.
    fn of_size(size: usize) -> Image {
        Image {
            name: "sweep".into(),
            width: (size / 2) as u32,
            height: 1,
            pixels: vec![7; size / 2],
            depth: vec![0.5; size / 2 / 8],
        }
    }

    fn size(&self) -> usize {
        self.pixels.len() + self.depth.len() * 8
    }
}

/// A size in bytes as figures name it: `1k`, `64k`, `1m`, `128m`.
fn size_name(size: usize) -> String {
    if size >= MIB {
        format!("{}m", size / MIB)
    } else {
        format!("{}k", size >> 10)
    }
}

fn sweep_name(kind: &str, size: usize) -> String {
    format!("sweep_{kind}_{}_mbps", size_name(size))
}

/// The bulk sweep: each kind at each size, each right after the raw
/// socketpair at that size.
fn sweep_figures(counts: &Counts) -> Vec<Figure> {
    let mut figures = Vec::new();
    for &size in counts.sweep_sizes {
        let messages = (counts.sweep_bytes / size).max(SWEEP_MESSAGES);
        for (kind, name, what) in SWEEP_KINDS {
            figures.push(Figure {
                name: sweep_name(name, size),
                value: isolated(|| sweep_mbps(kind, size, messages)),
                unit: "MiB/s",
                what: format!("{} KiB messages: {what}", size >> 10),
            });
        }
    }
    figures
}

/// A created process sends `messages` messages of `size` bytes of `kind`,
/// the two processes pinned to different CPUs; returns MiB/s received.
fn sweep_mbps(kind: Kind, size: usize, messages: usize) -> f64 {
    on_cpu_0(|| {
        let start = Instant::now();
        let received = match kind {
            Kind::Raw => raw_messages(size, messages, 1),
            Kind::RawHalves => raw_messages(size, messages, 2),
            Kind::SendBytes => stream(
                messages,
                || vec![7u8; size],
                |channel, block| channel.send_bytes(block),
                |channel| channel.receive_bytes().map(|bytes| bytes.len()),
            ),
            Kind::Bytes => stream(
                messages,
                || pprocess::Bytes::from(vec![7u8; size]),
                |channel, bytes| channel.send(bytes),
                |channel| {
                    channel
                        .receive::<pprocess::Bytes>()
                        .map(|bytes| bytes.len())
                },
            ),
            Kind::VecU8 => stream(
                messages,
                || vec![7u8; size],
                |channel, bytes| channel.send(bytes),
                |channel| channel.receive::<Vec<u8>>().map(|bytes| bytes.len()),
            ),
            Kind::VecU8Socket | Kind::VecU8Shared => stream(
                messages,
                move || {
                    let shared_from = match kind {
                        Kind::VecU8Shared => SWEEP_SHARED_FROM,
                        _ => usize::MAX,
                    };
                    (vec![7u8; size], shared_from)
                },
                |channel, (bytes, shared_from)| {
                    channel.set_shared_memory_threshold(*shared_from);
                    channel.send(bytes)
                },
                |channel| channel.receive::<Vec<u8>>().map(|bytes| bytes.len()),
            ),
            Kind::SharedBytes => stream(
                messages,
                || vec![7u8; size],
                |channel, bytes| {
                    channel.set_shared_memory_threshold(SWEEP_SHARED_FROM);
                    channel.send_bytes(bytes)
                },
                |channel| channel.receive_shared().map(|bytes| bytes.len()),
            ),
            Kind::VecF64 => stream(
                messages,
                || vec![0.5f64; size / 8],
                |channel, floats| channel.send(floats),
                |channel| channel.receive::<Vec<f64>>().map(|floats| floats.len() * 8),
            ),
            Kind::Struct => stream(
                messages,
                || Image::of_size(size),
                |channel, image| channel.send(image),
                |channel| channel.receive::<Image>().map(|image| image.size()),
            ),
        };
        let elapsed = start.elapsed();
        assert_eq!(received, size * messages);
        (size * messages) as f64 / MIB as f64 / elapsed.as_secs_f64()
    })
}

/// A raw child writes `messages` blocks of `size` bytes into a
/// socketpair; each is read into `parts` fresh buffers, together its size.
/// Returns the bytes read.
fn raw_messages(size: usize, messages: usize, parts: usize) -> usize {
    let (mut ours, theirs) = UnixStream::pair().expect("socketpair");
    let pid = raw_writer(theirs, size, messages);
    let mut received = 0;
    for _ in 0..messages {
        let buffers: Vec<Vec<u8>> = (0..parts)
            .map(|part| {
                let mut buffer = vec![0u8; size / parts + usize::from(part < size % parts)];
                ours.read_exact(&mut buffer).expect("read");
                buffer
            })
            .collect();
        received += buffers.iter().map(Vec::len).sum::<usize>();
    }
    waitpid(pid, None).expect("waitpid");
    received
}

/// A created process makes a value and sends it `messages` times; each is
/// received and measured. Returns the bytes received.
fn stream<T>(
    messages: usize,
    make: impl FnOnce() -> T,
    send: fn(&mut pprocess::Channel, &T) -> pprocess::Result<()>,
    receive: fn(&mut pprocess::Channel) -> pprocess::Result<usize>,
) -> usize {
    let mut channel = pprocess::start(move |channel| {
        pin_to(1);
        let value = make();
        (0..messages).try_for_each(|_| send(channel, &value))
    })
    .expect("start");
    let received = (0..messages)
        .map(|_| receive(&mut channel).expect("receive"))
        .sum();
    assert!(channel.wait().expect("wait").success());
    received
}

/// Runs `measurement` in a fresh copy of this process and returns what it
/// measured.
fn isolated<T: Serialize + DeserializeOwned>(measurement: impl FnOnce() -> T) -> T {
    let mut channel =
        pprocess::start(|channel| channel.send(&measurement())).expect("a measuring process");
    let value = channel.receive().expect("a measurement");
    assert!(channel.wait().expect("wait").success());
    value
}

fn measure(counts: &Counts) -> Vec<Figure> {
    let figure = |name: &str, value, unit, what: &str| Figure {
        name: name.into(),
        value,
        unit,
        what: what.into(),
    };
    // Each library figure right after the baseline it is compared with.
    let mut figures = vec![
        figure(
            "fork_wait_us",
            isolated(|| fork_wait_us(counts.forks)),
            "us",
            "baseline: socketpair + fork + 8-byte answer + waitpid",
        ),
        figure(
            "pmap_task_us",
            isolated(|| pmap_task_us(counts.pmap_tasks, 1)),
            "us",
            "pmap, limit 1, a process per task",
        ),
        figure(
            "pmap2_task_us",
            isolated(|| pmap_task_us(counts.pmap_tasks, 2)),
            "us",
            "pmap, limit 2, a process per task",
        ),
        figure(
            "pingpong_us",
            isolated(|| pingpong_us(counts.round_trips)),
            "us",
            "baseline: 8-byte round trip across two pinned CPUs",
        ),
        figure(
            "reuse_task_us",
            isolated(|| reuse_task_us(counts.reuse_tasks, 1)),
            "us",
            "Map with reuse, limit 1",
        ),
        figure(
            "reuse2_task_us",
            isolated(|| reuse_task_us(counts.reuse_tasks, 2)),
            "us",
            "Map with reuse, limit 2",
        ),
        figure(
            "pmap_reuse2_task_us",
            isolated(|| pmap_reuse_task_us(counts.reuse_tasks, 2)),
            "us",
            "pmap on a Map with reuse, limit 2: processes take the tasks",
        ),
        figure(
            "socketpair_mbps",
            isolated(|| socketpair_mbps(counts.bulk_mib)),
            "MiB/s",
            "baseline: 1 MiB writes into a raw socketpair, processes pinned to two CPUs",
        ),
        figure(
            "channel_mbps",
            isolated(|| channel_mbps(counts.bulk_mib)),
            "MiB/s",
            "1 MiB messages through Channel::send_bytes, pinned the same way",
        ),
    ];
    let [sequential, pprocess, forked, rayon, split, grouped, managed] =
        isolated(|| scene_seconds(&counts.scene));
    figures.extend([
        figure(
            "scene_seq_s",
            sequential,
            "s",
            "raytracer scene, one process, row by row",
        ),
        figure(
            "scene_pprocess2_s",
            pprocess,
            "s",
            "raytracer scene, Map at limit 2, reused processes take the rows",
        ),
        figure(
            "scene_pmap2_s",
            forked,
            "s",
            "raytracer scene, pmap at limit 2, a process per row",
        ),
        figure(
            "scene_rayon2_s",
            rayon,
            "s",
            "raytracer scene, rayon on 2 threads, a task per row",
        ),
        figure(
            "scene_split2_s",
            split,
            "s",
            "raytracer scene, 2 processes, every other row, one message each",
        ),
        figure(
            "scene_grouped2_s",
            grouped,
            "s",
            "raytracer scene, managed reusable callable at limit 2, 4 rows per call",
        ),
        figure(
            "scene_managed2_s",
            managed,
            "s",
            "raytracer scene, managed reusable callable at limit 2, a row per call",
        ),
    ]);
    figures.extend(sweep_figures(counts));
    figures.extend(counts.limits.iter().map(|&limit| Figure {
        name: format!("limit{limit}_task_us"),
        value: isolated(|| pmap_task_us(counts.limit_tasks, limit)),
        unit: "us",
        what: format!("pmap of trivial tasks at limit {limit}, a process per task"),
    }));
    figures
}

/// The measurements of one figure over all rounds.
struct Rounds {
    figure: Figure,
    values: Vec<f64>,
}

impl Rounds {
    /// Whether a higher value is better (a throughput) or a lower one (a
    /// time).
    fn higher_is_better(&self) -> bool {
        self.figure.unit.ends_with("/s")
    }

    /// The best value of the rounds: the least disturbed measurement.
    fn best(&self) -> f64 {
        let values = self.values.iter().copied();
        if self.higher_is_better() {
            values.fold(f64::MIN, f64::max)
        } else {
            values.fold(f64::MAX, f64::min)
        }
    }

    fn median(&self) -> f64 {
        median(self.values.clone())
    }
}

/// The middle value (the upper one of an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Runs `rounds` rounds of every measurement.
fn measure_rounds(counts: &Counts, rounds: usize, sweep_only: bool) -> Vec<Rounds> {
    let mut all: Vec<Rounds> = Vec::new();
    for _ in 0..rounds {
        let figures = if sweep_only {
            sweep_figures(counts)
        } else {
            measure(counts)
        };
        for figure in figures {
            match all
                .iter_mut()
                .find(|known| known.figure.name == figure.name)
            {
                Some(known) => known.values.push(figure.value),
                None => all.push(Rounds {
                    values: vec![figure.value],
                    figure,
                }),
            }
        }
    }
    all
}

/// A figure's value with at least four significant digits.
fn format_value(value: f64) -> String {
    if value.abs() >= 1.0 {
        format!("{value:.3}")
    } else {
        format!("{value:.5}")
    }
}

fn rounds_of<'a>(all: &'a [Rounds], name: &str) -> Option<&'a Rounds> {
    all.iter().find(|rounds| rounds.figure.name == name)
}

/// The median over the rounds of `numerator / denominator` measured in the
/// same round. The two are measured back to back, so a machine that is
/// slower in one round than in another slows both alike.
fn paired_ratio(numerator: &Rounds, denominator: &Rounds) -> f64 {
    median(
        numerator
            .values
            .iter()
            .zip(&denominator.values)
            .map(|(numerator, denominator)| numerator / denominator)
            .collect(),
    )
}

/// Measures pprocess against the system calls it is built on, and prints
/// the figures and the target ratios.
#[derive(Parser)]
#[command(name = "benchmark")]
struct Args {
    /// Print one line per figure and ratio: name<TAB>value<TAB>unit.
    #[arg(long)]
    tsv: bool,
    /// Small counts and one round: a smoke test that runs in seconds.
    #[arg(long)]
    quick: bool,
    /// How many rounds to measure (default: 5, or 1 with --quick).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1000))]
    rounds: Option<u16>,
    /// Draw the bulk sweep and the per-task time against the process
    /// limit as an SVG chart at this path.
    #[arg(long, num_args = 0..=1, default_missing_value = "docs/performance-sweep.svg")]
    svg: Option<std::path::PathBuf>,
    /// Measure only the bulk sweep.
    #[arg(long)]
    sweep_only: bool,
}

fn main() {
    let args = Args::parse();
    let rounds = args
        .rounds
        .map_or(if args.quick { 1 } else { 5 }, usize::from);
    let counts = Counts::new(args.quick);
    let all = measure_rounds(&counts, rounds, args.sweep_only);
    if args.tsv {
        for rounds in &all {
            println!(
                "{}\t{}\t{}",
                rounds.figure.name,
                format_value(rounds.best()),
                rounds.figure.unit
            );
        }
    } else {
        println!("best of {rounds} rounds (median in brackets)");
        println!(
            "{:<19} {:>11} {:>12} {:<6} what",
            "figure", "best", "(median)", "unit"
        );
        for rounds in &all {
            println!(
                "{:<19} {:>11} {:>12} {:<6} {}",
                rounds.figure.name,
                format_value(rounds.best()),
                format!("({})", format_value(rounds.median())),
                rounds.figure.unit,
                rounds.figure.what
            );
        }
        println!();
    }
    for target in TARGETS {
        let (Some(numerator), Some(denominator)) = (
            rounds_of(&all, target.numerator),
            rounds_of(&all, target.denominator),
        ) else {
            continue;
        };
        let ratio = paired_ratio(numerator, denominator);
        let of_bests = numerator.best() / denominator.best();
        if args.tsv {
            println!(
                "{}/{}\t{ratio:.3}\tratio",
                target.numerator, target.denominator
            );
        } else {
            println!(
                "{:>19} / {:<17} = {ratio:>6.3}  (of the bests {of_bests:.3}; {})",
                target.numerator,
                target.denominator,
                target.goal.verdict(ratio)
            );
        }
    }
    print_sweep(&all, &counts, args.tsv);
    if let Some(path) = &args.svg {
        std::fs::write(path, chart(&all, &counts)).expect("writing the chart");
    }
}

/// The sweep's median MiB/s of `kind` at `size`, and its median ratio to
/// the raw socketpair measured in the same rounds.
fn sweep_cell(all: &[Rounds], kind: &str, size: usize) -> Option<(f64, f64)> {
    let figure = rounds_of(all, &sweep_name(kind, size))?;
    let raw = rounds_of(all, &sweep_name("raw", size))?;
    Some((figure.median(), paired_ratio(figure, raw)))
}

/// Prints the bulk sweep as a table of sizes by kinds (or, with `tsv`,
/// each kind's ratio to the raw socketpair), then its targets.
fn print_sweep(all: &[Rounds], counts: &Counts, tsv: bool) {
    if !tsv {
        println!();
        println!("bulk sweep: median MiB/s [median ratio to raw in the same round]");
        print!("{:>6}", "size");
        for (_, name, _) in SWEEP_KINDS {
            print!(" {name:>19}");
        }
        println!();
    }
    for &size in counts.sweep_sizes {
        if !tsv {
            print!("{:>6}", size_name(size));
        }
        for (_, name, _) in SWEEP_KINDS {
            let Some((median, ratio)) = sweep_cell(all, name, size) else {
                continue;
            };
            if tsv && name != "raw" {
                println!(
                    "{}/{}\t{ratio:.3}\tratio",
                    sweep_name(name, size),
                    sweep_name("raw", size)
                );
            } else if !tsv {
                print!(" {:>19}", format!("{median:.0} [{ratio:.2}]"));
            }
        }
        if !tsv {
            println!();
        }
    }
    let missed: Vec<String> = SWEEP_TARGET_SIZES
        .iter()
        .flat_map(|&size| SWEEP_TARGET_KINDS.map(|kind| (size, kind)))
        .filter_map(|(size, kind)| {
            let (_, name, _) = SWEEP_KINDS.iter().find(|(known, ..)| *known == kind)?;
            let (_, ratio) = sweep_cell(all, name, size)?;
            (ratio < SWEEP_GOAL).then(|| format!("{name} at {}: {ratio:.2}", size_name(size)))
        })
        .collect();
    if !tsv {
        let verdict = if missed.is_empty() {
            "met".into()
        } else {
            format!("NOT met ({})", missed.join(", "))
        };
        println!(
            "sweep target: bytes, vec_u8, vec_f64, struct >= {SWEEP_GOAL} of raw at 64k, 1m, 16m, 128m (where measured): {verdict}"
        );
        let shared: Vec<String> = SHARED_TARGET_SIZES
            .iter()
            .filter_map(|&size| {
                let (_, ratio) = sweep_cell(all, "shared_bytes", size)?;
                Some(format!("{ratio:.2} at {}", size_name(size)))
            })
            .collect();
        println!(
            "shared-memory target: shared_bytes >= {SHARED_GOAL} of raw at 16m, 128m: {}",
            shared.join(", ")
        );
        // The struct's receiver allocates two halves, which glibc's heap
        // trims and faults in again for every message at 1m and 16m: so
        // does a raw receiver that reads into two buffers.
        let like_for_like: Vec<String> = SWEEP_TARGET_SIZES
            .iter()
            .filter_map(|&size| {
                let (structs, _) = sweep_cell(all, "struct", size)?;
                let (halves, _) = sweep_cell(all, "raw_halves", size)?;
                Some(format!("{:.2} at {}", structs / halves, size_name(size)))
            })
            .collect();
        println!(
            "like for like: struct / raw_halves (medians): {}",
            like_for_like.join(", ")
        );
    }
}

/// An SVG chart of the bulk sweep (MiB/s against message size, both on
/// log scales) and of the per-task time against the process limit.
fn chart(all: &[Rounds], counts: &Counts) -> String {
    const COLOURS: [&str; 10] = [
        "#000000", "#7f7f7f", "#1f77b4", "#ff7f0e", "#2ca02c", "#8c564b", "#17becf", "#e377c2",
        "#d62728", "#9467bd",
    ];
    let mut svg = String::from(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1000\" height=\"440\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"1000\" height=\"440\" fill=\"white\"/>\n",
    );
    // The sweep: x from the smallest size to the largest, log 2; y log 10.
    let sizes = counts.sweep_sizes;
    let values: Vec<f64> = sizes
        .iter()
        .flat_map(|&size| SWEEP_KINDS.map(|(_, name, _)| sweep_cell(all, name, size)))
        .flatten()
        .map(|(median, _)| median)
        .collect();
    let top = values.iter().copied().fold(1.0, f64::max).log10().ceil();
    let bottom = values
        .iter()
        .copied()
        .fold(f64::MAX, f64::min)
        .max(1.0)
        .log10()
        .floor();
    let left = Panel::new(
        60.0,
        440.0,
        (sizes[0] as f64).log2(),
        (sizes[sizes.len() - 1] as f64).log2(),
        bottom,
        top,
    );
    left.frame(&mut svg, "message size", "MiB/s received (log)");
    for &size in sizes {
        left.x_tick(&mut svg, (size as f64).log2(), &size_name(size));
    }
    for decade in bottom as i32..=top as i32 {
        left.y_tick(
            &mut svg,
            f64::from(decade),
            &format!("{}", 10f64.powi(decade)),
        );
    }
    for (index, (_, name, _)) in SWEEP_KINDS.iter().enumerate() {
        let points: Vec<(f64, f64)> = sizes
            .iter()
            .filter_map(|&size| {
                let (median, _) = sweep_cell(all, name, size)?;
                Some(((size as f64).log2(), median.max(1.0).log10()))
            })
            .collect();
        left.line(&mut svg, &points, COLOURS[index], "", index);
    }
    // The legend over every line.
    for (index, (_, name, _)) in SWEEP_KINDS.iter().enumerate() {
        left.legend(&mut svg, COLOURS[index], name, index);
    }
    // Per-task time against the process limit: x log 2, y linear from 0.
    let limits: Vec<(f64, f64)> = counts
        .limits
        .iter()
        .filter_map(|&limit| {
            let rounds = rounds_of(all, &format!("limit{limit}_task_us"))?;
            Some(((limit as f64).log2(), rounds.median()))
        })
        .collect();
    let highest = limits.iter().map(|&(_, us)| us).fold(1.0, f64::max);
    let step = 10f64.powf(highest.log10().floor());
    let ceiling = (highest / step).ceil() * step;
    let first = (counts.limits[0] as f64).log2();
    let last = (counts.limits[counts.limits.len() - 1] as f64).log2();
    let right = Panel::new(560.0, 400.0, first, last, 0.0, ceiling);
    right.frame(
        &mut svg,
        "process limit",
        "microseconds per task (pmap, a process per task)",
    );
    for &limit in counts.limits {
        right.x_tick(&mut svg, (limit as f64).log2(), &limit.to_string());
    }
    for tick in 0..=(ceiling / step) as usize {
        let value = tick as f64 * step;
        right.y_tick(&mut svg, value, &format!("{value}"));
    }
    right.line(&mut svg, &limits, COLOURS[2], "", 0);
    svg.push_str("</svg>\n");
    svg
}

/// A plotting area of the chart: its left edge and width in pixels, and
/// the data ranges it shows.
struct Panel {
    x: f64,
    width: f64,
    x_range: (f64, f64),
    y_range: (f64, f64),
}

const PLOT_TOP: f64 = 30.0;
const PLOT_BOTTOM: f64 = 380.0;

impl Panel {
    fn new(x: f64, width: f64, x_low: f64, x_high: f64, y_low: f64, y_high: f64) -> Panel {
        let widen = |low: f64, high: f64| {
            if high > low {
                (low, high)
            } else {
                (low, low + 1.0)
            }
        };
        Panel {
            x,
            width: width - 40.0,
            x_range: widen(x_low, x_high),
            y_range: widen(y_low, y_high),
        }
    }

    fn at(&self, x: f64, y: f64) -> (f64, f64) {
        let (x_low, x_high) = self.x_range;
        let (y_low, y_high) = self.y_range;
        (
            self.x + (x - x_low) / (x_high - x_low) * self.width,
            PLOT_BOTTOM - (y - y_low) / (y_high - y_low) * (PLOT_BOTTOM - PLOT_TOP),
        )
    }

    fn frame(&self, svg: &mut String, x_label: &str, y_label: &str) {
        let right = self.x + self.width;
        svg.push_str(&format!(
            "<path d=\"M{x} {PLOT_TOP} V{PLOT_BOTTOM} H{right}\" stroke=\"black\" fill=\"none\"/>\n\
             <text x=\"{middle}\" y=\"{label}\" text-anchor=\"middle\">{x_label}</text>\n\
             <text x=\"{x}\" y=\"18\">{y_label}</text>\n",
            x = self.x,
            middle = self.x + self.width / 2.0,
            label = PLOT_BOTTOM + 36.0,
        ));
    }

    fn x_tick(&self, svg: &mut String, x: f64, label: &str) {
        let (x, y) = self.at(x, self.y_range.0);
        svg.push_str(&format!(
            "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>\n",
            y + 16.0
        ));
    }

    fn y_tick(&self, svg: &mut String, y: f64, label: &str) {
        let (x, y) = self.at(self.x_range.0, y);
        let right = self.x + self.width;
        svg.push_str(&format!(
            "<path d=\"M{x:.1} {y:.1} H{right:.1}\" stroke=\"#dddddd\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{label}</text>\n",
            x - 4.0,
            y + 4.0
        ));
    }

    /// A polyline through `points`, with `name` in a legend entry at row
    /// `row` (none if empty).
    fn line(&self, svg: &mut String, points: &[(f64, f64)], colour: &str, name: &str, row: usize) {
        let path: Vec<String> = points
            .iter()
            .map(|&(x, y)| {
                let (x, y) = self.at(x, y);
                format!("{x:.1},{y:.1}")
            })
            .collect();
        svg.push_str(&format!(
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>\n",
            path.join(" ")
        ));
        if !name.is_empty() {
            self.legend(svg, colour, name, row);
        }
    }

    /// A legend entry: `name` beside a stroke of `colour`, at row `row`.
    fn legend(&self, svg: &mut String, colour: &str, name: &str, row: usize) {
        let (x, y) = (self.x + 10.0, PLOT_TOP + 14.0 * row as f64 + 8.0);
        // On a white band, so the lines under the legend do not hide it.
        svg.push_str(&format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"14\" \
             fill=\"white\" fill-opacity=\"0.85\"/>\n\
             <path d=\"M{x} {y} h16\" stroke=\"{colour}\" stroke-width=\"2\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\">{name}</text>\n",
            x - 2.0,
            y - 7.0,
            26.0 + 7.0 * name.len() as f64,
            x + 20.0,
            y + 4.0
        ));
    }
}
