//! Signals and threads.
//!
//! - `SIGTERM` or `SIGINT` to a creator leaves no created process running:
//!   on Linux each dies with its creator (`PR_SET_PDEATHSIG`). The creator
//!   here is a created process of the test: it starts processes through a
//!   `Map` (some queued), a `Queue`, a reusing `Map` and a bare `start`,
//!   reports their pids, and is then signalled. This test binary is a
//!   "child subreaper", so the orphans become its children: the test reaps
//!   each pid it was told about and checks it was killed by `SIGKILL`.
//! - Forking while other threads hold the standard output lock and
//!   allocate in a loop does not deadlock created processes that print,
//!   allocate and use their channel (the documented safe uses).

use crate::hardening;

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::ExitStatusExt;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hardening::{HANG_GUARD, TaskLog, block_forever, wait_for_end};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use pprocess::{Channel, Error, MakeReusable, Map, Queue};

/// Makes this test process the reaper of its descendants' orphans, once.
fn become_subreaper() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        nix::sys::prctl::set_child_subreaper(true).expect("PR_SET_CHILD_SUBREAPER");
    });
}

/// Reaps `pid` (an orphan adopted by this process), waiting at most
/// [`HANG_GUARD`] for it to end, and returns how it ended.
fn reap_orphan(pid: i32) -> WaitStatus {
    wait_for_end(pid);
    match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::StillAlive) => panic!("process {pid} ended but cannot be reaped"),
        Ok(status) => status,
        Err(error) => panic!("process {pid} is not ours to reap: {error}"),
    }
}

/// The creator's run: processes through every front end, all blocked for
/// ever (and two queued behind them); reports their pids, then blocks.
fn creator(channel: &mut Channel) -> pprocess::Result<()> {
    let log = TaskLog::new();
    let log = &log;
    let mut map = Map::<u8>::new().limit(3);
    for index in 0..5u64 {
        map.start(move |_channel| {
            log.report(index);
            block_forever()
        });
    }
    let mut queue = Queue::<u8>::new().limit(2);
    for index in 10..12u64 {
        queue.start(move |_channel| {
            log.report(index);
            block_forever()
        });
    }
    let mut reused = Map::<u8>::new().limit(1).reuse(true);
    reused
        .manage(MakeReusable::new(move |index: u64| -> u8 {
            log.report(index);
            block_forever()
        }))
        .call(20);
    let _bare = pprocess::start(move |_channel| {
        log.report(30);
        block_forever()
    })?;
    // Three map tasks run (two wait for room), two queue tasks, one
    // reused process, one bare process.
    let pids: Vec<i32> = log
        .wait_for_count(7)
        .into_iter()
        .map(|(_, pid)| pid)
        .collect();
    channel.send(&pids)?;
    block_forever()
}

fn a_signalled_creator_leaves_no_created_process(signal: Signal) {
    become_subreaper();
    let mut channel = pprocess::start(creator).expect("starting the creator");
    let creator_pid = channel.pid();
    let pids: Vec<i32> = channel.receive().expect("the created processes' pids");
    assert_eq!(pids.len(), 7);
    assert!(!pids.contains(&creator_pid));

    kill(Pid::from_raw(creator_pid), signal).expect("signalling the creator");
    let error = channel.receive::<u8>().unwrap_err();
    assert!(
        matches!(error, Error::Died { pid, signal: s } if pid == creator_pid && s == signal as i32),
        "{error:?}"
    );
    for pid in pids {
        match reap_orphan(pid) {
            WaitStatus::Signaled(_, Signal::SIGKILL, _) => {}
            other => panic!("process {pid} ended otherwise than by SIGKILL: {other:?}"),
        }
    }
}

#[test]
fn sigterm_to_a_creator_kills_every_process_it_created() {
    a_signalled_creator_leaves_no_created_process(Signal::SIGTERM);
}

#[test]
fn sigint_to_a_creator_kills_every_process_it_created() {
    a_signalled_creator_leaves_no_created_process(Signal::SIGINT);
}

// ---------------------------------------------------------------------------

/// Runs in a created process (so the threads it starts, and the standard
/// output it floods, are its own): threads hold the standard output lock
/// and allocate in a loop while it creates processes that print, allocate
/// and use their channel. Returns the problems found.
fn fork_among_busy_threads() -> Vec<String> {
    let null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .expect("/dev/null");
    nix::unistd::dup2_stdout(&null).expect("stdout to /dev/null");
    nix::unistd::dup2_stderr(&null).expect("stderr to /dev/null");
    static STOP: AtomicBool = AtomicBool::new(false);
    let (busy_test, busy_task) = UnixDatagram::pair().expect("a socketpair");
    busy_test.set_read_timeout(Some(HANG_GUARD)).unwrap();
    let mut threads = Vec::new();
    for thread in 0..2 {
        let busy = busy_task.try_clone().unwrap();
        threads.push(std::thread::spawn(move || {
            let mut told = false;
            while !STOP.load(Ordering::Relaxed) {
                let mut out = std::io::stdout().lock();
                for line in 0..50 {
                    let _ = writeln!(out, "thread {thread} holds the lock: line {line}");
                }
                if !told {
                    let _ = busy.send(&[1]);
                    told = true;
                }
            }
        }));
    }
    for thread in 0..2usize {
        let busy = busy_task.try_clone().unwrap();
        threads.push(std::thread::spawn(move || {
            let mut told = false;
            let mut size = 1usize;
            while !STOP.load(Ordering::Relaxed) {
                size = (size * 7 + thread + 13) % 300_000 + 1;
                let block = vec![size as u8; size];
                let text = format!("{}", block.len());
                std::hint::black_box((block, text));
                if !told {
                    let _ = busy.send(&[1]);
                    told = true;
                }
            }
        }));
    }
    // Every thread is busy before the first fork.
    let mut byte = [0u8];
    for _ in 0..threads.len() {
        busy_test.recv(&mut byte).expect("a busy thread");
    }

    let mut problems = Vec::new();
    let task = |index: u64| {
        println!("task {index} prints");
        eprintln!("task {index} prints to stderr");
        let block = vec![index as u8; 1 << 20];
        let words: Vec<String> = (0..1000).map(|n| format!("{n}")).collect();
        (
            index,
            block.iter().map(|&b| u64::from(b)).sum::<u64>() / (1 << 20) + words.len() as u64,
        )
    };
    // A task that never ends would show as a timeout, not hang the test.
    let map = Map::new()
        .limit(4)
        .timeout(Duration::from_secs(30))
        .pmap(task, 0..100u64);
    for (index, result) in (0u64..).zip(map) {
        match result {
            Ok((i, value)) if i == index && value == index % 256 + 1000 => {}
            other => problems.push(format!("pmap {index}: {other:?}")),
        }
    }
    // Reused processes receive their arguments over the channel.
    let mut reused = Map::<(u64, u64)>::new()
        .limit(2)
        .reuse(true)
        .timeout(Duration::from_secs(30));
    {
        let mut call = reused.manage(MakeReusable::new(task));
        for index in 0..100u64 {
            call.call(index);
        }
    }
    for (index, result) in (0u64..).zip(reused) {
        match result {
            Ok((i, value)) if i == index && value == index % 256 + 1000 => {}
            other => problems.push(format!("reuse {index}: {other:?}")),
        }
    }
    STOP.store(true, Ordering::Relaxed);
    for thread in threads {
        if thread.join().is_err() {
            problems.push("a busy thread panicked".to_owned());
        }
    }
    problems
}

#[test]
fn created_processes_print_allocate_and_send_while_other_threads_hold_stdout_and_allocate() {
    let mut channel =
        pprocess::start(|channel| channel.send(&fork_among_busy_threads())).expect("starting");
    let problems: Vec<String> = channel.receive().expect("the run's problems");
    assert_eq!(problems, [""; 0]);
    let status = channel.wait().unwrap();
    assert!(
        status.success(),
        "{status:?} (signal {:?})",
        status.signal()
    );
}

/// The pids reported are distinct processes (a sanity check of the
/// creator's report).
#[test]
fn the_creator_reports_distinct_processes() {
    become_subreaper();
    let mut channel = pprocess::start(creator).expect("starting the creator");
    let pids: Vec<i32> = channel.receive().expect("pids");
    let distinct: BTreeSet<i32> = pids.iter().copied().collect();
    assert_eq!(distinct.len(), pids.len(), "{pids:?}");
    // Dropping the channel kills the creator with SIGKILL: its processes
    // die with it too.
    drop(channel);
    for pid in pids {
        assert!(matches!(
            reap_orphan(pid),
            WaitStatus::Signaled(_, Signal::SIGKILL, _)
        ));
    }
}
