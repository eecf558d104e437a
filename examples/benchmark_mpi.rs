//! The MPI backend's figures, side by side in one run of three ranks
//! (rank 0 and two workers), as ratios:
//!
//! - the raw MPI round trip of a small message between ranks 0 and 1
//!   (blocking send and receive, no pprocess);
//! - the time per trivial task through `pmap_on` with one worker rank, and
//!   with two, against that round trip;
//! - the raytracer's speedup on 1 + 2 ranks against the fork backend's at
//!   limit 2 (a `Map` with reuse on rank 0's machine), each against the
//!   same scene rendered in one process.
//!
//! ```text
//! cargo build --release --features mpi --example benchmark_mpi
//! mpirun -np 3 target/release/examples/benchmark_mpi
//! mpirun -np 3 target/release/examples/benchmark_mpi --quick
//! ```
//!
//! Each figure is the best of three runs (the raytracer's interleaved),
//! since the machine may be shared. Needs the `mpi` feature and at least
//! 3 ranks.

use std::time::{Duration, Instant};

use mpi::traits::{Communicator, Destination, Source};
use pprocess::Map;
use pprocess_examples::raytracer::{Frame, frame_row};

/// A trivial task.
#[pprocess::parallel]
fn increment(n: u64) -> u64 {
    n + 1
}

/// The tag of the raw round trip's messages, and of the start signal.
const PING: i32 = 100;

/// The mean round trip of `trips` 16-byte messages between ranks 0 and 1;
/// the other ranks wait for rank 0's word without spinning.
fn raw_round_trip(world: &mpi::topology::SimpleCommunicator, trips: u32) -> Option<Duration> {
    let message = [0u8; 16];
    let mut back = [0u8; 16];
    match world.rank() {
        0 => {
            let peer = world.process_at_rank(1);
            for _ in 0..trips / 10 {
                peer.send_with_tag(&message[..], PING);
                peer.receive_into_with_tag(&mut back[..], PING);
            }
            let start = Instant::now();
            for _ in 0..trips {
                peer.send_with_tag(&message[..], PING);
                peer.receive_into_with_tag(&mut back[..], PING);
            }
            let elapsed = start.elapsed() / trips;
            for rank in 1..world.size() {
                world
                    .process_at_rank(rank)
                    .send_with_tag(&message[..], PING + 1);
            }
            Some(elapsed)
        }
        1 => {
            let peer = world.process_at_rank(0);
            for _ in 0..trips + trips / 10 {
                peer.receive_into_with_tag(&mut back[..], PING);
                peer.send_with_tag(&message[..], PING);
            }
            peer.receive_into_with_tag(&mut back[..], PING + 1);
            None
        }
        _ => {
            while world
                .process_at_rank(0)
                .immediate_probe_with_tag(PING + 1)
                .is_none()
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            world
                .process_at_rank(0)
                .receive_into_with_tag(&mut back[..], PING + 1);
            None
        }
    }
}

/// The time per task of `tasks` trivial tasks on `workers` worker ranks.
fn per_task(
    cluster: pprocess::mpi::Cluster,
    workers: usize,
    tasks: u64,
) -> (Duration, pprocess::mpi::Cluster) {
    let cluster = cluster.limit(workers);
    // Warm up: the worker ranks fork their processes.
    let warm: u64 = increment::pmap_on(&cluster, 0..1000)
        .map(|n| n.unwrap_or(0))
        .sum();
    assert!(warm > 0);
    // The best of three runs: the machine is shared.
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let sum: u64 = increment::pmap_on(&cluster, 0..tasks)
            .map(|n| n.expect("a trivial task"))
            .sum();
        best = best.min(start.elapsed());
        assert_eq!(sum, tasks * (tasks + 1) / 2);
    }
    (best / tasks as u32, cluster)
}

fn main() -> pprocess::Result<()> {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let universe = mpi::initialize().expect("MPI initializes once");
    let world = universe.world();
    assert!(
        world.size() >= 3,
        "run with mpirun -np 3 (rank 0 and two workers)"
    );
    let raw = raw_round_trip(&world, if quick { 2_000 } else { 20_000 });
    drop(world);
    let cluster = pprocess::mpi::init_with(universe)?; // the workers stay in here
    let raw = raw.expect("rank 0 measured the round trip");
    let tasks = if quick { 5_000 } else { 50_000 };

    let (one, cluster) = per_task(cluster, 1, tasks);
    let (two, cluster) = per_task(cluster, 2, tasks);
    let cluster = cluster.limit(2);

    let frame = if quick {
        Frame::new(120, 80, 4)
    } else {
        Frame::new(800, 600, 42)
    };
    let (width, height, samples) = (frame.width, frame.height, frame.samples);
    let sequential_image = frame.render();
    let render_over_ranks = || -> pprocess::Result<Vec<u8>> {
        let rows = (0..height).map(|row| (width, height, samples, row));
        let mut image = Vec::new();
        for row in frame_row::pmap_on(&cluster, rows) {
            image.extend_from_slice(&row?);
        }
        Ok(image)
    };
    let render_forked = || -> pprocess::Result<Vec<u8>> {
        let map = Map::new()
            .limit(2)
            .reuse(true)
            .pmap(|row: usize| frame.render_row(row), 0..height);
        let mut image = Vec::new();
        for row in map {
            image.extend_from_slice(&row?);
        }
        Ok(image)
    };
    // The best of three runs of each, interleaved: the machine is shared.
    let (mut sequential, mut over_ranks, mut forked) =
        (Duration::MAX, Duration::MAX, Duration::MAX);
    for _ in 0..3 {
        let start = Instant::now();
        assert!(frame.render() == sequential_image);
        sequential = sequential.min(start.elapsed());
        let start = Instant::now();
        assert!(render_over_ranks()? == sequential_image);
        over_ranks = over_ranks.min(start.elapsed());
        let start = Instant::now();
        assert!(render_forked()? == sequential_image);
        forked = forked.min(start.elapsed());
    }

    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let mpi_speedup = sequential.as_secs_f64() / over_ranks.as_secs_f64();
    let fork_speedup = sequential.as_secs_f64() / forked.as_secs_f64();
    println!("raw MPI round trip (ranks 0 and 1): {:.2} us", us(raw));
    println!(
        "pmap_on, trivial tasks, 1 worker rank: {:.2} us per task, {:.2}x the round trip (target <= 2)",
        us(one),
        us(one) / us(raw)
    );
    println!(
        "pmap_on, trivial tasks, 2 worker ranks: {:.2} us per task, {:.2}x the round trip (target <= 0.5)",
        us(two),
        us(two) / us(raw)
    );
    println!(
        "raytracer {width}x{height}, {samples} samples: one process {:.3} s; 1 + 2 ranks {:.3} s (speedup {mpi_speedup:.2}x); fork backend at limit 2 {:.3} s (speedup {fork_speedup:.2}x)",
        sequential.as_secs_f64(),
        over_ranks.as_secs_f64(),
        forked.as_secs_f64()
    );
    println!(
        "raytracer speedup over ranks / fork backend's: {:.2} (target >= 0.9)",
        mpi_speedup / fork_speedup
    );
    Ok(())
}
