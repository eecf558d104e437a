//! `Map`, `Queue`, `pmap`, reuse and continuous processes: the behaviour the
//! high-level layer promises (issue 3).
//!
//! Rules these tests keep:
//!
//! - Nothing synchronises on sleeps. Where a test needs a created process to
//!   wait for the test, the process blocks on a [`Gate`] (a socket the test
//!   writes to); where the test needs to know which processes exist, they
//!   report their pids on a [`PidReports`] socket, or in their results.
//! - The test harness runs tests as threads of one process, so no test
//!   counts the children of the process: each checks the pids it was told
//!   about.
//! - Every blocking read on a test socket has a generous receive timeout
//!   ([`HANG_GUARD`]). It is never what makes a test pass: it only turns a
//!   library that would hang into a failing assertion with a message.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::Path;
use std::time::Duration;

use nix::sys::resource::{Resource, setrlimit};
use nix::sys::signal::{Signal, raise};
use pprocess::{
    Channel, Error, Exchange, MakeParallel, MakeReusable, Map, Queue, Result, pmap, pmap_limit,
};

/// How long a blocked read may wait before the test gives up (a hang guard,
/// never a synchronisation: correct runs never get near it).
const HANG_GUARD: Duration = Duration::from_secs(60);

const SIGKILL: i32 = Signal::SIGKILL as i32;
const SIGABRT: i32 = Signal::SIGABRT as i32;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A gate created processes wait at until the test opens it, one byte per
/// process let through.
struct Gate {
    open_end: UnixStream,
    wait_end: UnixStream,
}

impl Gate {
    fn new() -> Self {
        let (open_end, wait_end) = UnixStream::pair().expect("a socketpair for a gate");
        wait_end
            .set_read_timeout(Some(HANG_GUARD))
            .expect("a receive timeout on the gate");
        Gate { open_end, wait_end }
    }

    /// In a created process: waits until the test lets one process through.
    /// `true` if it was let through, `false` if the hang guard expired (the
    /// test never opened the gate).
    fn wait(&self) -> bool {
        let mut byte = [0u8];
        (&self.wait_end).read_exact(&mut byte).is_ok()
    }

    /// In the test: lets `processes` processes through.
    fn open(&self, processes: usize) {
        (&self.open_end)
            .write_all(&vec![1u8; processes])
            .expect("opening the gate");
    }
}

/// Created processes report their pids here; the test collects them.
struct PidReports {
    test_end: UnixDatagram,
    task_end: UnixDatagram,
}

impl PidReports {
    fn new() -> Self {
        let (test_end, task_end) = UnixDatagram::pair().expect("a socketpair for pid reports");
        test_end
            .set_read_timeout(Some(HANG_GUARD))
            .expect("a receive timeout on pid reports");
        PidReports { test_end, task_end }
    }

    /// In a created process: reports its pid (one datagram, never split).
    fn report(&self) {
        self.task_end
            .send(&std::process::id().to_le_bytes())
            .expect("reporting a pid");
    }

    /// In the test: waits for `count` reports and returns the pids.
    fn collect(&self, count: usize) -> Vec<i32> {
        (0..count)
            .map(|received| {
                let mut pid = [0u8; 4];
                match self.test_end.recv(&mut pid) {
                    Ok(4) => i32::from_le_bytes(pid),
                    other => panic!(
                        "expected {count} pid reports, got {received}, then {other:?} \
                         (the tasks did not start, or the test waited {HANG_GUARD:?})"
                    ),
                }
            })
            .collect()
    }

    /// In the test: whether no report is waiting to be read.
    fn nothing_waiting(&self) -> bool {
        self.test_end
            .set_nonblocking(true)
            .expect("a non-blocking pid socket");
        let mut pid = [0u8; 4];
        let outcome = self.test_end.recv(&mut pid);
        self.test_end
            .set_nonblocking(false)
            .expect("a blocking pid socket");
        matches!(outcome, Err(error) if error.kind() == io::ErrorKind::WouldBlock)
    }
}

/// Blocks the calling (created) process until it is killed.
fn block_forever() -> ! {
    loop {
        std::thread::park();
    }
}

/// Kills the calling (created) process with `SIGKILL`.
fn die_by_sigkill() -> ! {
    raise(Signal::SIGKILL).expect("raising SIGKILL");
    unreachable!("SIGKILL cannot be caught");
}

/// Aborts the calling (created) process, without writing a core file.
fn die_by_abort() -> ! {
    let _ = setrlimit(Resource::RLIMIT_CORE, 0, 0);
    std::process::abort()
}

/// Ends the calling (created) process with `code` without sending anything
/// (`_exit`: no destructor or `atexit` handler of the test harness runs).
fn exit_without_result(code: i32) -> ! {
    // SAFETY: `_exit` takes no pointers and ends the process at once.
    unsafe { nix::libc::_exit(code) }
}

/// The pid of the calling process, as the library reports pids.
fn own_pid() -> i32 {
    std::process::id() as i32
}

/// Asserts that none of `pids` exists any more: neither running nor a
/// zombie waiting to be reaped (`/proc/<pid>` is gone once a process is
/// reaped).
fn assert_all_gone(pids: &[i32]) {
    assert!(!pids.is_empty(), "no pid to check");
    for &pid in pids {
        assert!(pid > 0, "not a process id: {pid}");
        assert_ne!(pid, own_pid(), "a task ran in the test process itself");
        let proc_dir = format!("/proc/{pid}");
        if Path::new(&proc_dir).exists() {
            let stat = std::fs::read_to_string(format!("{proc_dir}/stat")).unwrap_or_default();
            panic!("process {pid} still exists after the drop (zombie or running): {stat}");
        }
    }
}

/// Runs `work` on a thread of its own and returns what it returns;
/// panics, saying `what` did not happen, if it has not returned after
/// [`HANG_GUARD`]: a library that would hang fails the test instead.
fn finishes<T: Send + 'static>(what: &str, work: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(work());
    });
    outcome
        .recv_timeout(HANG_GUARD)
        .unwrap_or_else(|_| panic!("{what} after {HANG_GUARD:?}"))
}

/// An exchange reusing at most `limit` processes whose handler records
/// each task's outcome, decoded as a `T`, in `outcomes`.
fn recording_reuse<'a, T: serde::de::DeserializeOwned>(
    outcomes: &'a mut Vec<(usize, Result<T>)>,
    limit: usize,
) -> Exchange<'a, impl pprocess::Handler + 'a> {
    Exchange::with_handler(move |channel: &mut Channel, task: usize| {
        outcomes.push((task, channel.receive()));
        Ok(())
    })
    .limit(limit)
    .reuse(true)
}

/// A pseudo-random delay of 0 to 16 ms chosen from a task's index.
fn shuffling_delay(index: u64) -> Duration {
    Duration::from_millis((index * 7919 + 13) % 17)
}

/// Distinct pids, sorted.
fn distinct(pids: impl IntoIterator<Item = i32>) -> Vec<i32> {
    pids.into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

// ---------------------------------------------------------------------------
// Map: order, incremental iteration, get
// ---------------------------------------------------------------------------

#[test]
fn map_keeps_input_order_when_tasks_finish_in_random_order() {
    let mut map = Map::new().limit(8);
    for index in 0..40u64 {
        let task = map.start(move |channel| {
            // Sleeping inside the created process only shuffles the order in
            // which tasks finish; the test never waits on it.
            std::thread::sleep(shuffling_delay(index));
            channel.send(&(index, index * index))
        });
        assert_eq!(task, index as usize, "start returns the task number");
    }
    assert_eq!(map.len(), 40);
    let results: Vec<(u64, u64)> = map.collect::<Result<_>>().expect("every task succeeds");
    let expected: Vec<(u64, u64)> = (0..40).map(|index| (index, index * index)).collect();
    assert_eq!(results, expected);
}

#[test]
fn map_create_keeps_results_in_creation_order_when_processes_finish_in_random_order() {
    let mut map = Map::new().limit(8);
    for index in 0..40u64 {
        if let Some(mut channel) = map.create().expect("a created process") {
            std::thread::sleep(shuffling_delay(index));
            if channel.send(&(index, index * index)).is_err() {
                std::process::abort(); // never into the test harness
            }
            pprocess::exit(channel);
        }
    }
    assert_eq!(map.len(), 40);
    let results: Vec<(u64, u64)> = map.collect::<Result<_>>().expect("every task succeeds");
    let expected: Vec<(u64, u64)> = (0..40).map(|index| (index, index * index)).collect();
    assert_eq!(results, expected);
}

#[test]
fn pmap_keeps_input_order_when_tasks_finish_in_random_order() {
    let results: Vec<u64> = pmap_limit(
        |index: u64| {
            std::thread::sleep(shuffling_delay(index));
            index * 3 + 1
        },
        0..40,
        8,
    )
    .collect::<Result<_>>()
    .expect("every task succeeds");
    assert_eq!(
        results,
        (0..40).map(|index| index * 3 + 1).collect::<Vec<_>>()
    );
}

#[test]
fn map_keeps_input_order_when_tasks_finish_in_reverse_order() {
    // Task i may only finish after task i + 1 has sent its result: the tasks
    // finish strictly last to first, whatever the scheduling.
    const TASKS: usize = 10;
    let gates: Vec<Gate> = (0..TASKS).map(|_| Gate::new()).collect();
    let gates = &gates;
    let mut map = Map::new().limit(TASKS);
    for index in 0..TASKS {
        map.start(move |channel| {
            let released = index == TASKS - 1 || gates[index].wait();
            channel.send(&(index, released))?;
            if index > 0 {
                gates[index - 1].open(1);
            }
            Ok::<(), Error>(())
        });
    }
    let results: Vec<(usize, bool)> = map.collect::<Result<_>>().expect("every task succeeds");
    let expected: Vec<(usize, bool)> = (0..TASKS).map(|index| (index, true)).collect();
    assert_eq!(results, expected);
}

#[test]
fn map_iteration_yields_the_first_result_while_later_tasks_are_still_running() {
    let gate = Gate::new();
    let gate = &gate;
    let mut map = Map::new().limit(4);
    map.start(|channel| channel.send(&(0u32, true)));
    for index in 1..4u32 {
        // Each later task blocks until the test lets it through, which the
        // test does only after it has the first item.
        map.start(move |channel| {
            let released = gate.wait();
            channel.send(&(index, released))
        });
    }
    let first = map.next().expect("a first item").expect("task 0 succeeds");
    assert_eq!(first, (0, true));
    // Tasks 1 to 3 cannot have finished: they are all waiting at the gate.
    gate.open(3);
    let rest: Vec<(u32, bool)> = map.collect::<Result<_>>().expect("every task succeeds");
    assert_eq!(
        rest,
        [(1, true), (2, true), (3, true)],
        "a `false` means the task was never let through: iteration waited for \
         every task before yielding the first result"
    );
}

#[test]
fn map_get_waits_for_one_index_only_and_is_none_out_of_range() {
    let gate = Gate::new();
    let gate = &gate;
    let mut map = Map::new().limit(3);
    map.start(move |channel| {
        let released = gate.wait();
        channel.send(&(0u32, released))
    });
    map.start(|channel| channel.send(&(1u32, true)));
    map.start(|channel| channel.send(&(2u32, true)));

    // Index 2 is there while task 0 still waits at the gate.
    assert_eq!(map.get(2).expect("index 2 exists").ok(), Some(&(2, true)));
    gate.open(1);
    assert_eq!(
        map.get(0).expect("index 0 exists").ok(),
        Some(&(0, true)),
        "task 0 must be let through by the test, after get(2) returned"
    );
    assert_eq!(map.get(1).expect("index 1 exists").ok(), Some(&(1, true)));
    // Asking again gives the same result.
    assert_eq!(map.get(2).expect("index 2 exists").ok(), Some(&(2, true)));

    assert!(map.get(3).is_none(), "no task has index 3");
    assert!(
        map.get(usize::MAX).is_none(),
        "no task has index usize::MAX"
    );

    // Iteration takes results; what it took is no longer there for get.
    assert_eq!(map.next().expect("item 0").expect("task 0"), (0, true));
    assert!(map.get(0).is_none(), "iteration took index 0");
    assert_eq!(map.get(1).expect("index 1 exists").ok(), Some(&(1, true)));
    let rest: Vec<(u32, bool)> = map.collect::<Result<_>>().expect("tasks 1 and 2");
    assert_eq!(rest, [(1, true), (2, true)]);
}

#[test]
fn pmap_borrows_local_data_without_serializing_it() {
    // Neither `Send` nor `Serialize`: the created processes can only have
    // this data because they are copies of the test process.
    let cells: Vec<std::rc::Rc<std::cell::Cell<u64>>> = (0..12u64)
        .map(|value| std::rc::Rc::new(std::cell::Cell::new(value * 100)))
        .collect();
    let words = vec!["a".to_string(), "bb".to_string(), "ccc".to_string()];
    let function = |index: usize| {
        let value = cells[index].get() + words[index % words.len()].len() as u64;
        // A change made in a created process stays in that process.
        cells[index].set(u64::MAX);
        value
    };
    let results: Vec<u64> = pmap_limit(function, 0..cells.len(), 4)
        .collect::<Result<_>>()
        .expect("every task succeeds");
    let expected: Vec<u64> = (0..12u64)
        .map(|index| index * 100 + index % 3 + 1)
        .collect();
    assert_eq!(results, expected);
    // Still the test's data, unchanged by the created processes.
    assert_eq!(
        cells.iter().map(|cell| cell.get()).collect::<Vec<_>>(),
        (0..12u64).map(|value| value * 100).collect::<Vec<_>>()
    );
    assert_eq!(words, ["a", "bb", "ccc"]);
}

#[test]
fn pmap_limit_one_runs_every_task_and_keeps_order() {
    let results: Vec<(u32, i32)> = pmap_limit(|index: u32| (index * 2, own_pid()), 0..20, 1)
        .collect::<Result<_>>()
        .expect("every task succeeds");
    assert_eq!(
        results.iter().map(|result| result.0).collect::<Vec<_>>(),
        (0..20).map(|index| index * 2).collect::<Vec<_>>()
    );
    // Without reuse, each input ran in a process of its own.
    let pids = distinct(results.iter().map(|result| result.1));
    assert_eq!(pids.len(), 20, "one process per input: {pids:?}");
    assert_all_gone(&pids);
}

#[test]
fn pmap_takes_its_inputs_as_processes_free_up() {
    let taken = std::cell::Cell::new(0u32);
    let inputs = (0..50u32).inspect(|_| taken.set(taken.get() + 1));
    let mut map = pmap_limit(|n: u32| n * 3, inputs, 2);
    assert_eq!(taken.get(), 2, "only the inputs of the first two processes");
    assert_eq!(map.len(), 2, "tasks given so far");
    assert_eq!(map.size_hint(), (50, Some(50)));
    assert_eq!(map.next().transpose().expect("a result"), Some(0));
    assert!(
        taken.get() <= 4,
        "{} inputs taken after one result",
        taken.get()
    );
    let rest: Vec<u32> = map.collect::<Result<_>>().expect("every task succeeds");
    assert_eq!(rest, (1..50).map(|n| n * 3).collect::<Vec<_>>());
    assert_eq!(taken.get(), 50);
}

#[test]
fn pmap_over_an_endless_input_yields_as_many_results_as_asked() {
    let first: Vec<u64> = pmap_limit(|n: u64| n * n, 0.., 2)
        .take(12)
        .collect::<Result<_>>()
        .expect("every task succeeds");
    assert_eq!(first, (0..12).map(|n| n * n).collect::<Vec<_>>());
}

#[test]
fn map_get_reaches_a_pmap_input_not_yet_started_and_start_comes_after_the_inputs() {
    let mut map = Map::new().limit(1).pmap(|n: u64| n + 100, 0..6);
    assert_eq!(map.get(4).expect("index 4").ok(), Some(&104));
    assert!(map.get(6).is_none(), "there are six inputs");
    // Work given after pmap is numbered after all its inputs.
    assert_eq!(map.start(|channel| channel.send(&7u64)), 6);
    let all: Vec<u64> = map.collect::<Result<_>>().expect("every task succeeds");
    assert_eq!(all, [100, 101, 102, 103, 104, 105, 7]);
}

// ---------------------------------------------------------------------------
// Reuse
// ---------------------------------------------------------------------------

#[test]
fn map_with_reuse_and_limit_three_runs_200_tasks_in_exactly_three_processes() {
    let mut map = Map::new().limit(3).reuse(true);
    {
        let mut triple = map.manage(MakeReusable::new(|input: u32| {
            (input, input * 3, std::process::id())
        }));
        for input in 0..200u32 {
            assert_eq!(
                triple.call(input),
                input as usize,
                "call returns the task number"
            );
        }
    }
    let results: Vec<(u32, u32, u32)> = map.collect::<Result<_>>().expect("every task succeeds");
    assert_eq!(results.len(), 200);
    for (index, &(input, tripled, _)) in results.iter().enumerate() {
        assert_eq!(
            (input, tripled),
            (index as u32, index as u32 * 3),
            "result at index {index}"
        );
    }
    let pids = distinct(results.iter().map(|result| result.2 as i32));
    assert_eq!(pids.len(), 3, "exactly three processes answered: {pids:?}");
    // The map is consumed and dropped: every process was told to quit and
    // reaped (or killed and reaped).
    assert_all_gone(&pids);
}

#[test]
fn reused_process_that_panics_fails_only_its_task() {
    let mut map = Map::new().limit(3).reuse(true);
    {
        let mut call = map.manage(MakeReusable::new(|input: u32| {
            if input == 10 {
                panic!("reused task {input} refuses");
            }
            (input, own_pid())
        }));
        for input in 0..40u32 {
            call.call(input);
        }
    }
    let results: Vec<Result<(u32, i32)>> = map.collect();
    assert_eq!(results.len(), 40, "iteration does not stop at the failure");
    let failed_pid = match &results[10] {
        Err(Error::Panicked { pid, message }) => {
            assert_eq!(message, "reused task 10 refuses");
            *pid
        }
        other => panic!("expected Panicked at index 10, got {other:?}"),
    };
    check_reuse_survivors(&results, 10, failed_pid);
}

#[test]
fn reused_process_killed_by_sigkill_fails_only_its_task() {
    let mut map = Map::new().limit(3).reuse(true);
    {
        let mut call = map.manage(MakeReusable::new(|input: u32| {
            if input == 10 {
                die_by_sigkill();
            }
            (input, own_pid())
        }));
        for input in 0..40u32 {
            call.call(input);
        }
    }
    let results: Vec<Result<(u32, i32)>> = map.collect();
    assert_eq!(results.len(), 40, "iteration does not stop at the failure");
    check_reuse_killed(&results, 10);
}

#[test]
fn a_reused_process_killed_late_in_a_long_run_fails_only_its_task() {
    // A hundred tasks of a third of a millisecond on two processes, each
    // sent its next task before it answers the current one: the process
    // that dies at task 60, after many answers, fails that task only, and
    // the task it held goes to another process.
    let results = finishes("no results (a death went unnoticed)", || {
        let mut map = Map::new().limit(2).reuse(true);
        {
            let mut call = map.manage(MakeReusable::new(|input: u32| {
                std::thread::sleep(Duration::from_micros(300));
                if input == 60 {
                    die_by_sigkill();
                }
                (input, own_pid())
            }));
            for input in 0..100u32 {
                call.call(input);
            }
        }
        map.collect::<Vec<Result<(u32, i32)>>>()
    });
    assert_eq!(results.len(), 100, "iteration does not stop at the failure");
    check_reuse_killed(&results, 60);
}

#[test]
fn reused_processes_take_large_arguments_and_send_large_results_without_deadlock() {
    // Arguments and results of 2 MiB each fill a socket buffer many times
    // over: a creator that waited to send the next arguments while its
    // process waited to send a result would never finish.
    const SIZE: usize = 2 << 20;
    for limit in [1, 2] {
        let results = finishes(
            &format!("limit {limit}: no results (deadlock)"),
            move || {
                let mut map = Map::new().limit(limit).reuse(true);
                {
                    let mut reverse =
                        map.manage(MakeReusable::new(|mut block: pprocess::Bytes| {
                            block.reverse();
                            block
                        }));
                    for task in 0..6u8 {
                        let mut block = vec![task; SIZE];
                        block[0] = 255;
                        reverse.call(pprocess::Bytes::from(block));
                    }
                }
                let results: Vec<Result<pprocess::Bytes>> = map.collect();
                results
            },
        );
        assert_eq!(results.len(), 6);
        for (task, result) in results.into_iter().enumerate() {
            let block = result.unwrap_or_else(|error| panic!("task {task} failed: {error:?}"));
            assert_eq!(block.len(), SIZE, "task {task}");
            assert_eq!(block[SIZE - 1], 255, "task {task} was reversed");
            assert!(
                block[..SIZE - 1].iter().all(|&byte| byte == task as u8),
                "task {task} got its own block back"
            );
        }
    }
}

#[test]
fn a_reused_task_whose_arguments_exceed_the_frame_limit_fails_alone() {
    // The process started for it never gets its arguments: it must be
    // told to quit, or the exchange would never finish.
    let (failures, outcomes) = finishes("the exchange did not finish", move || {
        let mut outcomes: Vec<(usize, Result<usize>)> = Vec::new();
        let mut exchange = recording_reuse(&mut outcomes, 2);
        {
            let mut length =
                exchange.manage(MakeReusable::new(|block: pprocess::Bytes| block.len()));
            length.call(pprocess::Bytes::from(vec![0u8; 10]));
            // A second process is started for this one, and no task follows
            // it. Zeroed pages cost nothing until the encoder reads them.
            let too_large = vec![0u8; pprocess::MAX_FRAME_LIMIT + 1];
            length.call(pprocess::Bytes::from(too_large));
        }
        // The handler's default store_error returns the failure from
        // finish; the exchange stays usable, and finishing again goes on.
        let mut failures = Vec::new();
        while let Err(error) = exchange.finish() {
            failures.push(error);
        }
        drop(exchange);
        (failures, outcomes)
    });
    assert!(
        matches!(failures.as_slice(), [Error::FrameTooLarge { limit, .. }] if *limit == pprocess::MAX_FRAME_LIMIT as u64),
        "{failures:?}"
    );
    assert!(matches!(outcomes.as_slice(), [(0, Ok(10))]), "{outcomes:?}");
}

#[test]
fn a_reused_channel_removed_with_arguments_still_queued_receives_its_answers() {
    // 2 MiB arguments do not fit in the socket: most of them are still
    // queued in the channel when the caller takes it over and receives.
    const SIZE: usize = 2 << 20;
    let answers = finishes("no answers (the arguments never went out)", move || {
        let mut exchange = Exchange::new().limit(1).reuse(true);
        {
            let mut echo = exchange.manage(MakeReusable::new(|block: pprocess::Bytes| block));
            echo.call(pprocess::Bytes::from(vec![1u8; SIZE]));
            echo.call(pprocess::Bytes::from(vec![2u8; SIZE]));
        }
        let pid = exchange.active().next().expect("a running process").pid();
        let mut channel = exchange.remove(pid).expect("its channel");
        let answers: Vec<Result<pprocess::Bytes>> = (0..2).map(|_| channel.receive()).collect();
        answers
    });
    for (answer, byte) in answers.into_iter().zip([1u8, 2]) {
        let block = answer.expect("an answer");
        assert_eq!(block.len(), SIZE);
        assert!(block.iter().all(|&b| b == byte));
    }
}

/// A result that refuses to decode when it is 13 (encoding it is fine).
#[derive(Debug, serde::Serialize)]
struct Picky(u32, i32);

impl<'de> serde::Deserialize<'de> for Picky {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let (value, pid) = <(u32, i32)>::deserialize(deserializer)?;
        if value == 13 {
            return Err(serde::de::Error::custom("13 is refused"));
        }
        Ok(Picky(value, pid))
    }
}

#[test]
fn a_reused_answer_that_does_not_decode_fails_only_its_task() {
    // The process that sent it is still running and has later tasks
    // queued: they go to other processes, each task is answered once, at
    // its own number, and the exchange finishes.
    let (finished, mut outcomes) = finishes("the exchange did not finish", move || {
        let mut outcomes: Vec<(usize, Result<Picky>)> = Vec::new();
        let mut exchange = recording_reuse(&mut outcomes, 3);
        {
            let mut call = exchange.manage(MakeReusable::new(|input: u32| Picky(input, own_pid())));
            for input in 0..40u32 {
                call.call(input);
            }
        }
        let finished = exchange.finish();
        drop(exchange);
        (finished, outcomes)
    });
    finished.expect("the handler stores every outcome");
    outcomes.sort_by_key(|(task, _)| *task);
    let tasks: Vec<usize> = outcomes.iter().map(|(task, _)| *task).collect();
    assert_eq!(tasks, (0..40).collect::<Vec<_>>(), "one outcome per task");
    let mut pids = Vec::new();
    for (task, outcome) in outcomes {
        match outcome {
            Err(Error::Decode(message)) if task == 13 => {
                assert!(message.contains("13 is refused"), "{message}");
            }
            Ok(Picky(value, pid)) if task != 13 => {
                assert_eq!(value, task as u32, "the answer of task {task}");
                pids.push(pid);
            }
            other => panic!("task {task}: unexpected {other:?}"),
        }
    }
    let pids = distinct(pids);
    assert!(
        pids.len() <= 4,
        "three processes and at most one replacement: {pids:?}"
    );
    assert_all_gone(&pids);
}

/// Checks that task `failed` of a reusing map was killed by SIGKILL and
/// that every other task succeeded (see [`check_reuse_survivors`]).
fn check_reuse_killed(results: &[Result<(u32, i32)>], failed: usize) {
    let failed_pid = match &results[failed] {
        Err(Error::Died { pid, signal }) => {
            assert_eq!(*signal, SIGKILL);
            *pid
        }
        other => panic!("expected Died at index {failed}, got {other:?}"),
    };
    check_reuse_survivors(results, failed, failed_pid);
}

/// Every task but `failed` succeeded at its own index; the tasks after the
/// failed one ran in other processes; at most one process replaced the
/// failed one; every process is gone.
fn check_reuse_survivors(results: &[Result<(u32, i32)>], failed: usize, failed_pid: i32) {
    let mut pids = vec![failed_pid];
    for (index, result) in results.iter().enumerate() {
        if index == failed {
            continue;
        }
        match result {
            Ok((input, pid)) => {
                assert_eq!(*input, index as u32, "result at index {index}");
                if index > failed {
                    assert_ne!(*pid, failed_pid, "task {index} ran in the failed process");
                }
                pids.push(*pid);
            }
            Err(error) => panic!("task {index} failed: {error:?}"),
        }
    }
    let pids = distinct(pids);
    assert!(
        pids.len() <= 4,
        "three processes and at most one replacement: {pids:?}"
    );
    assert_all_gone(&pids);
}

// ---------------------------------------------------------------------------
// Continuous processes
// ---------------------------------------------------------------------------

/// A message of a continuous process: its number, the message number, and
/// a payload of varying length (so frames straddle reads).
type Message = (u32, u32, Vec<u8>);

fn message(process: u32, sequence: u32) -> Message {
    let length = ((process * 7 + sequence * 13) % 300) as usize;
    (process, sequence, vec![(process + sequence) as u8; length])
}

const PROCESSES: u32 = 5;
const MESSAGES: u32 = 200;

/// Checks that every message of every process arrived exactly once, and in
/// the order each process sent them.
fn check_every_message_once(received: &[Message]) {
    assert_eq!(received.len(), (PROCESSES * MESSAGES) as usize);
    let mut by_process: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (process, sequence, payload) in received {
        assert_eq!(
            (*process, *sequence, payload.clone()),
            message(*process, *sequence),
            "payload of message {sequence} of process {process}"
        );
        by_process.entry(*process).or_default().push(*sequence);
    }
    assert_eq!(by_process.len(), PROCESSES as usize);
    for (process, sequences) in by_process {
        assert_eq!(
            sequences,
            (0..MESSAGES).collect::<Vec<_>>(),
            "messages of process {process}"
        );
    }
}

#[test]
fn continuous_queue_delivers_every_message_once_when_processes_exit_after_last_send() {
    let mut queue = Queue::new().limit(3).continuous(true);
    for process in 0..PROCESSES {
        queue.start(move |channel| {
            for sequence in 0..MESSAGES {
                channel.send(&message(process, sequence))?;
            }
            // The process ends right after its last send.
            Ok::<(), Error>(())
        });
    }
    let received: Vec<Message> = queue.collect::<Result<_>>().expect("every message arrives");
    check_every_message_once(&received);
}

#[test]
fn continuous_exchange_hands_every_message_once_to_its_handler() {
    let mut received: Vec<(usize, Message)> = Vec::new();
    let mut exchange = Exchange::with_handler(|channel: &mut Channel, task: usize| {
        received.push((task, channel.receive()?));
        Ok(())
    })
    .limit(3)
    .continuous(true);
    for process in 0..PROCESSES {
        let task = exchange.start(move |channel| {
            for sequence in 0..MESSAGES {
                channel.send(&message(process, sequence))?;
            }
            Ok::<(), Error>(())
        });
        assert_eq!(task, process as usize);
    }
    exchange.finish().expect("finish stores every message");
    drop(exchange);
    for (task, (process, _, _)) in &received {
        assert_eq!(
            *task, *process as usize,
            "a message handed over with the wrong task"
        );
    }
    let messages: Vec<Message> = received.into_iter().map(|(_, message)| message).collect();
    check_every_message_once(&messages);
}

// ---------------------------------------------------------------------------
// Failed tasks
// ---------------------------------------------------------------------------

/// Checks 100 results: `Ok(index * 3)` everywhere but at `failed`, where
/// `check_failure` judges the error. Returns the failed process's pid.
fn check_one_failure(
    results: &[Result<u64>],
    failed: usize,
    check_failure: impl Fn(&Error) -> i32,
) -> i32 {
    assert_eq!(results.len(), 100, "iteration does not stop at the failure");
    let mut pid = None;
    for (index, result) in results.iter().enumerate() {
        match result {
            Err(error) if index == failed => pid = Some(check_failure(error)),
            Ok(value) if index != failed => assert_eq!(*value, index as u64 * 3),
            other => panic!("unexpected result at index {index}: {other:?}"),
        }
    }
    pid.expect("the failure was checked")
}

fn panicked_with(expected: &str) -> impl Fn(&Error) -> i32 + '_ {
    move |error| match error {
        Error::Panicked { pid, message } => {
            assert_eq!(message, expected);
            *pid
        }
        other => panic!("expected Panicked, got {other:?}"),
    }
}

fn died_by(expected_signal: i32) -> impl Fn(&Error) -> i32 {
    move |error| match error {
        Error::Died { pid, signal } => {
            assert_eq!(*signal, expected_signal);
            *pid
        }
        other => panic!("expected Died, got {other:?}"),
    }
}

fn no_result_with(expected_code: i32) -> impl Fn(&Error) -> i32 {
    move |error| match error {
        Error::NoResult { pid, code } => {
            assert_eq!(*code, expected_code);
            *pid
        }
        other => panic!("expected NoResult, got {other:?}"),
    }
}

#[test]
fn pmap_one_panicking_task_among_100_is_an_err_at_its_index() {
    let results: Vec<Result<u64>> = pmap(
        |index: u64| {
            if index == 37 {
                panic!("task {index} refuses");
            }
            index * 3
        },
        0..100,
    )
    .collect();
    let pid = check_one_failure(&results, 37, panicked_with("task 37 refuses"));
    assert_all_gone(&[pid]);
}

#[test]
fn map_manage_one_panicking_task_among_100_is_an_err_at_its_index() {
    let mut map = Map::new().limit(6);
    {
        let mut call = map.manage(MakeParallel::new(|index: u64| {
            if index == 0 {
                panic!("the very first task refuses");
            }
            index * 3
        }));
        for index in 0..100u64 {
            assert_eq!(call.call(index), index as usize);
        }
    }
    let results: Vec<Result<u64>> = map.collect();
    let pid = check_one_failure(&results, 0, panicked_with("the very first task refuses"));
    assert_all_gone(&[pid]);
}

#[test]
fn pmap_task_killed_by_sigkill_is_died_at_its_index() {
    let results: Vec<Result<u64>> = pmap(
        |index: u64| {
            if index == 63 {
                die_by_sigkill();
            }
            index * 3
        },
        0..100,
    )
    .collect();
    let pid = check_one_failure(&results, 63, died_by(SIGKILL));
    assert_all_gone(&[pid]);
}

#[test]
fn map_manage_task_that_aborts_is_died_at_its_index() {
    let mut map = Map::new().limit(6);
    {
        let mut call = map.manage(MakeParallel::new(|index: u64| {
            if index == 99 {
                die_by_abort();
            }
            index * 3
        }));
        for index in 0..100u64 {
            call.call(index);
        }
    }
    let results: Vec<Result<u64>> = map.collect();
    let pid = check_one_failure(&results, 99, died_by(SIGABRT));
    assert_all_gone(&[pid]);
}

#[test]
fn map_task_that_exits_without_sending_is_no_result_at_its_index() {
    let mut map = Map::new().limit(6);
    for index in 0..100u64 {
        map.start(move |channel| {
            if index == 50 {
                exit_without_result(3);
            }
            channel.send(&(index * 3))
        });
    }
    let results: Vec<Result<u64>> = map.collect();
    let pid = check_one_failure(&results, 50, no_result_with(3));
    assert_all_gone(&[pid]);
}

#[test]
fn pmap_task_that_exits_without_sending_is_no_result_at_its_index() {
    let results: Vec<Result<u64>> = pmap(
        |index: u64| {
            if index == 5 {
                exit_without_result(7);
            }
            index * 3
        },
        0..100,
    )
    .collect();
    let pid = check_one_failure(&results, 5, no_result_with(7));
    assert_all_gone(&[pid]);
}

#[test]
fn queue_store_with_a_timeout_returns_empty_handed_then_takes_in_what_arrives_until_unfinished_is_false()
 {
    let gate = Gate::new();
    let gate = &gate;
    let mut queue = Queue::<u32>::new().limit(2).continuous(true);
    queue.start(move |channel| -> Result<()> {
        for message in 0..3u32 {
            if !gate.wait() {
                return Ok(());
            }
            channel.send(&message)?;
        }
        Ok(())
    });
    // Nothing is sent until the gate opens: the store times out empty.
    queue
        .store(Some(Duration::from_millis(20)))
        .expect("a store that times out");
    assert_eq!(queue.len(), 0);
    gate.open(2);
    while queue.len() < 2 {
        queue
            .store(Some(HANG_GUARD))
            .expect("a store that takes in messages");
    }
    assert_eq!(queue.len(), 2);
    // Both were taken in: the iterator yields them without waiting, and
    // only the third message is still to come.
    assert_eq!(queue.next().unwrap().unwrap(), 0);
    assert_eq!(queue.next().unwrap().unwrap(), 1);
    assert!(queue.is_empty());
    assert!(queue.unfinished(), "the process has one more to send");
    gate.open(1);
    while queue.unfinished() {
        queue
            .store(None)
            .expect("a store that takes in the last message");
    }
    assert_eq!(queue.len(), 1);
    assert_eq!(queue.collect::<Result<Vec<u32>>>().unwrap(), [2]);
}

#[test]
fn queue_yields_an_err_item_for_each_failed_task_and_every_other_result() {
    let mut queue = Queue::<u32>::new().limit(4);
    {
        let mut call = queue.manage(MakeParallel::new(|input: u32| match input {
            3 => panic!("queued task 3 refuses"),
            7 => die_by_sigkill(),
            9 => exit_without_result(4),
            _ => input * 10,
        }));
        for input in 0..12u32 {
            assert_eq!(call.call(input), input as usize);
        }
    }
    let mut values = Vec::new();
    let mut panicked = Vec::new();
    let mut died = Vec::new();
    let mut no_result = Vec::new();
    for item in queue {
        match item {
            Ok(value) => values.push(value),
            Err(error) => match error.failure() {
                Error::Panicked { message, pid } => panicked.push((message.clone(), *pid)),
                Error::Died { signal, pid } => died.push((*signal, *pid)),
                Error::NoResult { code, pid } => no_result.push((*code, *pid)),
                other => panic!("unexpected error item: {other:?}"),
            },
        }
    }
    values.sort();
    assert_eq!(values, [0, 10, 20, 40, 50, 60, 80, 100, 110]);
    assert_eq!(
        panicked.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(),
        ["queued task 3 refuses"]
    );
    assert_eq!(died.iter().map(|d| d.0).collect::<Vec<_>>(), [SIGKILL]);
    assert_eq!(no_result.iter().map(|n| n.0).collect::<Vec<_>>(), [4]);
    assert_all_gone(&[panicked[0].1, died[0].1, no_result[0].1]);
}

#[test]
fn queue_len_counts_results_received_and_not_yet_taken() {
    let sent = PidReports::new();
    let sent = &sent;
    let mut queue = Queue::<u32>::new().limit(3);
    assert_eq!(queue.len(), 0);
    assert!(queue.is_empty());
    for input in 0..3u32 {
        queue.start(move |channel| {
            channel.send(&input)?;
            // Tells the test the result is in the socket.
            sent.report();
            Ok::<(), Error>(())
        });
    }
    // Every result is in its channel before the queue looks.
    sent.collect(3);
    assert_eq!(
        queue.len(),
        0,
        "nothing is received before the queue is read"
    );
    let mut taken = vec![queue.next().expect("an item").expect("a result")];
    assert_eq!(
        queue.len(),
        2,
        "the two other results were waiting and received with the first"
    );
    assert!(!queue.is_empty());
    taken.push(queue.next().expect("an item").expect("a result"));
    assert_eq!(queue.len(), 1);
    taken.push(queue.next().expect("an item").expect("a result"));
    assert_eq!(queue.len(), 0);
    assert!(queue.is_empty());
    assert!(queue.next().is_none(), "every task is accounted for");
    taken.sort();
    assert_eq!(taken, [0, 1, 2]);
}

// ---------------------------------------------------------------------------
// Dropping before every result is read
// ---------------------------------------------------------------------------

#[test]
fn dropping_a_map_with_running_tasks_leaves_no_process() {
    let reports = PidReports::new();
    let reports = &reports;
    let mut map = Map::<u32>::new().limit(6);
    for _ in 0..6 {
        map.start(move |_channel| {
            reports.report();
            block_forever()
        });
    }
    let pids = reports.collect(6);
    drop(map);
    assert_all_gone(&pids);
}

#[test]
fn dropping_a_map_after_reading_some_results_by_index_leaves_no_zombie() {
    let reports = PidReports::new();
    let reports = &reports;
    let mut map = Map::<u32>::new().limit(6);
    for index in 0..6u32 {
        map.start(move |channel| {
            reports.report();
            if index >= 3 {
                block_forever();
            }
            channel.send(&index)
        });
    }
    let pids = reports.collect(6);
    assert_eq!(map.get(1).expect("index 1 exists").ok(), Some(&1));
    // Tasks 0 and 2 have finished or are finishing, unread; 3 to 5 run.
    drop(map);
    assert_all_gone(&pids);
}

#[test]
fn dropping_a_map_after_iterating_some_results_leaves_no_zombie() {
    let reports = PidReports::new();
    let reports = &reports;
    let mut map = Map::<u32>::new().limit(6);
    for index in 0..6u32 {
        map.start(move |channel| {
            reports.report();
            if index == 5 {
                block_forever();
            }
            channel.send(&index)
        });
    }
    let pids = reports.collect(6);
    assert_eq!(map.next().expect("item 0").expect("task 0"), 0);
    assert_eq!(map.next().expect("item 1").expect("task 1"), 1);
    drop(map);
    assert_all_gone(&pids);
}

#[test]
fn dropping_a_map_with_queued_tasks_never_starts_them_and_leaves_no_process() {
    let reports = PidReports::new();
    let reports = &reports;
    let mut map = Map::<u32>::new().limit(2);
    for _ in 0..5 {
        map.start(move |_channel| {
            reports.report();
            block_forever()
        });
    }
    // Two run; three wait for room that never comes.
    let pids = reports.collect(2);
    drop(map);
    assert_all_gone(&pids);
    assert!(reports.nothing_waiting(), "a queued task was started");
}

#[test]
fn dropping_a_queue_after_taking_some_results_leaves_no_process() {
    let reports = PidReports::new();
    let reports = &reports;
    let mut queue = Queue::<u32>::new().limit(6);
    for index in 0..6u32 {
        queue.start(move |channel| {
            reports.report();
            if index >= 3 {
                block_forever();
            }
            channel.send(&index)
        });
    }
    let pids = reports.collect(6);
    let first = queue.next().expect("an item").expect("a result");
    assert!(first < 3, "only tasks 0 to 2 send: got {first}");
    drop(queue);
    assert_all_gone(&pids);
}

#[test]
fn dropping_a_reusing_map_mid_run_leaves_no_process() {
    let mut map = Map::<(u32, i32)>::new().limit(2).reuse(true);
    {
        let mut call = map.manage(MakeReusable::new(|input: u32| {
            if input == 5 {
                block_forever();
            }
            (input, own_pid())
        }));
        for input in 0..10u32 {
            call.call(input);
        }
    }
    let mut pids = Vec::new();
    for index in (0..5).rev() {
        match map.get(index) {
            Some(Ok(&(input, pid))) => {
                assert_eq!(input, index as u32);
                pids.push(pid);
            }
            other => panic!("unexpected result at index {index}: {other:?}"),
        }
    }
    // Tasks 0 and 1 went to the two processes created first: both answered.
    let pids = distinct(pids);
    assert_eq!(pids.len(), 2, "the two processes of the map: {pids:?}");
    // One process is stuck in task 5; the other may be serving, waiting for
    // work, or done and unreaped.
    drop(map);
    assert_all_gone(&pids);
}
