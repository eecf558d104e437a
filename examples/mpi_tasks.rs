//! The program the MPI tests (`tests/mpi.rs`) run under `mpirun`: tasks
//! that succeed, and tasks that fail in every way a task can, through
//! `pmap_on` and `pqueue_on`. Needs the `mpi` feature.
//!
//! ```text
//! mpirun -np 3 target/debug/examples/mpi_tasks order 100
//! mpirun -np 3 target/debug/examples/mpi_tasks faults
//! ```
//!
//! Modes (the first argument):
//! - `order N`: N tasks through `pmap_on`; prints `ok N on R` if every
//!   result came at its index, R being the number of distinct worker
//!   processes that computed them, or `local` first when not under MPI.
//! - `queue N`: the same through `pqueue_on` (any order).
//! - `again N`: 5000 tasks through `pmap_on` (trivial: the workers'
//!   pace calls for large batches), then `order N`.
//! - `faults`: a panic, an abort, a SIGKILL and a task past the timeout
//!   between tasks that succeed; prints each index and its outcome.
//! - `batch-faults`: on one worker rank, after enough trivial tasks that
//!   they go in batches of hundreds, 300 tasks with a panic, a SIGKILL
//!   right after it, an abort and a task past the timeout among them;
//!   prints each failure's index and outcome, whether every other result
//!   is right, and how many processes computed them.
//! - `slow-batch`: on one worker rank with a timeout of 1 s, 4000
//!   trivial tasks, then 16 that sleep 100 ms each in the same batch;
//!   prints `ok 4016 on 1` if none timed out.
//! - `kill-rank`: a task kills the worker rank that runs it.
//! - `stop-rank`: the first task stops (SIGSTOP) the worker rank that
//!   runs it; three more follow.
//! - `abandon`: a queue dropped while its task hangs (no timeout), then
//!   `order N` with a timeout on the same worker rank.
//! - `hygiene`: on one worker rank, its child processes and descriptors
//!   before and after tasks that panic, abort and are killed (surveyed
//!   again, up to 100 times, until they are back as before); prints
//!   `children C1 C2 descriptors D1 D2`.

use std::process::ExitCode;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a task does.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
enum Job {
    /// Answers the square, and the id of the process that computed it.
    Square(u64),
    Panic,
    Abort,
    /// Kills its own process.
    Kill,
    /// Answers the square after sleeping this many milliseconds.
    Slow(u64, u64),
    /// Never answers.
    Hang,
    /// Kills the worker rank (the process that created this one).
    KillRank,
    /// Stops the worker rank, then answers.
    StopRank,
    /// Answers how many child processes the worker rank has (reaped or
    /// not), and how many descriptors it has open.
    Survey,
}

#[pprocess::parallel]
fn work(job: Job) -> (u64, u32) {
    let parent = nix::unistd::getppid();
    match job {
        Job::Square(n) => (n * n, std::process::id()),
        Job::Slow(n, millis) => {
            std::thread::sleep(Duration::from_millis(millis));
            (n * n, std::process::id())
        }
        Job::Panic => panic!("task asked to panic"),
        Job::Abort => std::process::abort(),
        Job::Kill => {
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
            unreachable!("killed")
        }
        Job::Hang => loop {
            std::thread::park();
        },
        Job::KillRank => {
            let _ = nix::sys::signal::kill(parent, nix::sys::signal::Signal::SIGKILL);
            (0, 0)
        }
        Job::Survey => {
            let rank = parent.as_raw();
            let listed = std::fs::read_to_string(format!("/proc/{rank}/task/{rank}/children"))
                .unwrap_or_default();
            let descriptors = std::fs::read_dir(format!("/proc/{rank}/fd"))
                .map(|entries| entries.count())
                .unwrap_or(0);
            (listed.split_whitespace().count() as u64, descriptors as u32)
        }
        Job::StopRank => {
            let _ = nix::sys::signal::kill(parent, nix::sys::signal::Signal::SIGSTOP);
            (0, 0)
        }
    }
}

/// What a failure is, in a word, for the tests to match.
fn kind(error: &pprocess::Error) -> String {
    match error {
        pprocess::Error::Panicked { message, .. } => format!("panicked: {message}"),
        pprocess::Error::Died { .. } => {
            format!("died: {}", error.signal_name().unwrap_or_default())
        }
        pprocess::Error::Timeout { .. } => "timeout".to_owned(),
        pprocess::Error::RankSilent { rank, .. } => format!("rank {rank} silent"),
        other => format!("other: {other}"),
    }
}

/// Prints each task's index and its outcome.
fn print_outcomes(results: impl Iterator<Item = pprocess::Result<(u64, u32)>>) {
    for (index, result) in results.enumerate() {
        match result {
            Ok((square, _)) => println!("{index}: ok {square}"),
            Err(error) => println!("{index}: {}", kind(&error)),
        }
    }
}

fn check_squares(
    results: impl Iterator<Item = pprocess::Result<(u64, u32)>>,
    count: u64,
    ordered: bool,
) -> Result<String, String> {
    let mut squares = Vec::new();
    let mut pids = Vec::new();
    for result in results {
        let (square, pid) = result.map_err(|error| error.to_string())?;
        squares.push(square);
        pids.push(pid);
    }
    if !ordered {
        squares.sort();
    }
    let expected: Vec<u64> = (0..count).map(|n| n * n).collect();
    if squares != expected {
        return Err(format!("wrong results: {squares:?}"));
    }
    pids.sort();
    pids.dedup();
    Ok(format!("ok {count} on {}", pids.len()))
}

fn main() -> ExitCode {
    let cluster = match pprocess::mpi::init() {
        Ok(cluster) => cluster,
        Err(error) => {
            eprintln!("mpi_tasks: {error}");
            return ExitCode::FAILURE;
        }
    };
    if cluster.is_local() {
        println!("local");
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(100);
    let squares = (0..count).map(Job::Square);
    let outcome = match args.first().map(String::as_str) {
        Some("order") => check_squares(work::pmap_on(&cluster, squares), count, true),
        Some("queue") => check_squares(work::pqueue_on(&cluster, squares), count, false),
        Some("again") => {
            let warm = work::pmap_on(&cluster, (0..5000).map(Job::Square));
            check_squares(warm, 5000, true)
                .and_then(|_| check_squares(work::pmap_on(&cluster, squares), count, true))
        }
        Some("faults") => {
            let cluster = cluster.timeout(Duration::from_secs(2));
            let jobs = [
                Job::Square(1),
                Job::Panic,
                Job::Square(2),
                Job::Abort,
                Job::Square(3),
                Job::Kill,
                Job::Square(4),
                Job::Hang,
                Job::Square(5),
            ];
            print_outcomes(work::pmap_on(&cluster, jobs));
            Ok("faults done".to_owned())
        }
        Some("batch-faults") => {
            let cluster = cluster.limit(1).timeout(Duration::from_secs(2));
            // Trivial tasks: the worker's pace calls for large batches.
            let warm = work::pmap_on(&cluster, (0..5000).map(Job::Square));
            if let Err(message) = check_squares(warm, 5000, true) {
                return fail(&message);
            }
            let job = |n: u64| match n {
                100 => Job::Panic,
                101 => Job::Kill,
                200 => Job::Abort,
                250 => Job::Hang,
                n => Job::Square(n),
            };
            let mut right = 0;
            let mut pids = Vec::new();
            for (index, result) in work::pmap_on(&cluster, (0..300).map(job)).enumerate() {
                match result {
                    Ok((square, pid)) => {
                        right += usize::from(square == (index * index) as u64);
                        pids.push(pid);
                    }
                    Err(error) => println!("{index}: {}", kind(&error)),
                }
            }
            pids.dedup();
            Ok(format!("right {right} of 296 from {} processes", pids.len()))
        }
        Some("slow-batch") => {
            // Trivial tasks make the worker's batches large; the slow ones
            // at the end go in a batch with them, and together take longer
            // than the timeout, though each takes less.
            let cluster = cluster.limit(1).timeout(Duration::from_secs(1));
            let job = |n: u64| match n {
                4000.. => Job::Slow(n, 100),
                n => Job::Square(n),
            };
            check_squares(work::pmap_on(&cluster, (0..4016).map(job)), 4016, true)
        }
        Some("kill-rank") => {
            let jobs = [Job::Square(1), Job::KillRank, Job::Square(2)];
            let results: Vec<_> = work::pmap_on(&cluster, jobs).collect();
            Ok(format!("kill-rank survived: {results:?}"))
        }
        Some("stop-rank") => {
            let cluster = cluster.limit(1).timeout(Duration::from_millis(200));
            let jobs = [
                Job::StopRank,
                Job::Square(1),
                Job::Square(2),
                Job::Square(3),
            ];
            print_outcomes(work::pmap_on(&cluster, jobs));
            Ok("stop-rank done".to_owned())
        }
        Some("abandon") => {
            // A map left with a task that hangs, without a timeout...
            let cluster = cluster.limit(1);
            let mut queue = work::pqueue_on(&cluster, [Job::Square(1), Job::Hang]);
            let first = queue.next();
            drop(queue);
            println!(
                "first {:?}",
                first.map(|result| result.map(|(square, _)| square))
            );
            // ...then tasks with a timeout, on the same worker rank.
            let cluster = cluster.timeout(Duration::from_secs(30));
            check_squares(work::pmap_on(&cluster, squares), count, true)
        }
        Some("hygiene") => {
            let cluster = cluster.limit(1);
            let survey = || work::pmap_on(&cluster, [Job::Survey]).next();
            let before = survey();
            let faults = [
                Job::Panic,
                Job::Abort,
                Job::Kill,
                Job::Square(3),
                Job::Panic,
            ];
            let failed = work::pmap_on(&cluster, faults)
                .filter(Result::is_err)
                .count();
            // A failed process may be reaped a little after its failure
            // is reported: survey again (up to 100 tasks) until the rank
            // is back to what it had.
            let mut after = survey();
            for _ in 0..100 {
                match (&before, &after) {
                    (Some(Ok(first)), Some(Ok(now))) if first == now => break,
                    _ => after = survey(),
                }
            }
            match (before, after) {
                (Some(Ok((c1, d1))), Some(Ok((c2, d2)))) => {
                    println!("failed {failed}");
                    Ok(format!("children {c1} {c2} descriptors {d1} {d2}"))
                }
                other => Err(format!("the survey failed: {other:?}")),
            }
        }
        _ => Err(
            "usage: mpi_tasks order|queue|abandon|again N | faults | batch-faults | slow-batch | kill-rank | stop-rank | hygiene"
                .to_owned(),
        ),
    };
    match outcome {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(message) => fail(&message),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("mpi_tasks: {message}");
    ExitCode::FAILURE
}
