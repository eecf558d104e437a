//! Every fault a created process can suffer, under every front end that
//! `faults.rs` and `map_queue.rs` do not already cover it with: the exact
//! error the user gets, at the exact task it belongs to, while the other
//! tasks of the same run still deliver, and no process is left behind.
//!
//! Each test is one cell of the table: a front end (`Exchange` with a
//! handler, `Map`, `Queue`, `pmap`, a `Map` reusing processes, a
//! continuous `Exchange`) runs a few tasks, one of which suffers the fault.
//! Every task reports `(index, pid)` on a [`TaskLog`] before anything else,
//! so the test knows which process runs the faulty task (to kill it from
//! outside, and to check the error names it) and which processes must be
//! gone at the end.
//!
//! Cells already covered elsewhere (see RELIABILITY.md) are not repeated:
//! `Exchange` with a panic, `abort`, `exit(3)`, half a frame; `Map` with a
//! panic, `abort`, `exit(3)`; `pmap` and `Queue` with a panic and
//! `exit`; reuse with a panic.

use crate::hardening;

use std::collections::BTreeMap;

use hardening::{
    TaskLog, assert_gone, block_forever, default_segv, eventually, no_core_file, raw_frame,
    report_on, state, write_raw,
};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use pprocess::{Bytes, Channel, Error, Exchange, Handler, MakeReusable, Map, Queue, pmap_limit};
use serde::{Deserialize, Deserializer, Serialize};

/// What every task sends: `index * 10`, and a payload (empty, except for
/// the tasks that must send a large frame).
type Reply = (u64, Bytes);

fn reply(value: u64) -> Reply {
    (value, Bytes::new())
}

/// A reply far larger than a socket buffer: its sender blocks in the
/// middle of the frame until its creator reads.
fn big_reply(value: u64, bytes: usize) -> Reply {
    (value, Bytes::from(vec![0x5A; bytes]))
}

const BIG: usize = 8 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FrontEnd {
    /// `Exchange::start` with a handler that records each task's outcome.
    Exchange,
    /// `Map::start`, results by index.
    Map,
    /// `Queue::start`, results in arrival order.
    Queue,
    /// `pmap_limit` over a plain function.
    Pmap,
    /// A `Map` with `reuse(true)` and a managed `MakeReusable`.
    Reuse,
    /// `Exchange::continuous(true)`: each task sends one message, then
    /// suffers its fault (or ends).
    Continuous,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// The task panics.
    Panic,
    /// The task calls `abort()`.
    Abort,
    /// The task blocks; the test kills it with `SIGKILL`.
    KillOutside,
    /// The task blocks; the test sends it `SIGSEGV`.
    SegvOutside,
    /// `std::process::exit(3)` without sending a result.
    ExitWithoutResult,
    /// The task sends its result and calls `std::process::exit(0)` at once
    /// (for `pmap`: returns a result larger than a socket buffer, which the
    /// library sends right before `_exit`).
    ExitRightAfterSending,
    /// The task writes a header announcing 100 bytes and 40 of them, then
    /// ends normally.
    HalfFrameThenExit,
    /// The task blocks in the middle of sending an 8 MiB frame (its creator
    /// is not reading yet); the test kills it with `SIGKILL`.
    KilledMidFrame,
    /// Reuse only: the process answered its previous task and is killed
    /// with `SIGKILL` from outside while it takes the arguments of the
    /// next one.
    KilledBetweenTasks,
    /// Reuse only: the process answered its previous task and exits with
    /// code 0 while it takes the arguments of the next one.
    ExitsBetweenTasks,
}

use Fault::*;

/// One cell: how many tasks, which one is faulty, the process limit.
#[derive(Clone, Copy, Debug)]
struct Spec {
    front: FrontEnd,
    fault: Fault,
    tasks: u64,
    faulty: u64,
    limit: usize,
}

impl Spec {
    fn new(front: FrontEnd, fault: Fault) -> Self {
        match front {
            // Two processes, each serving several tasks. A fault inside a
            // task hits task 1, the first task of the second process (it
            // starts at once, before the test reads anything); a fault
            // between tasks hits task 5, whose process has answered
            // earlier tasks.
            FrontEnd::Reuse => Spec {
                front,
                fault,
                tasks: 10,
                faulty: if matches!(fault, KilledBetweenTasks | ExitsBetweenTasks) {
                    5
                } else {
                    1
                },
                limit: 2,
            },
            // Every task runs at once, so the faulty one runs before the
            // test reads anything.
            _ => Spec {
                front,
                fault,
                tasks: 6,
                faulty: 3,
                limit: 6,
            },
        }
    }

    fn fault_at(&self, index: u64) -> Option<Fault> {
        (index == self.faulty).then_some(self.fault)
    }

    /// The signal the test sends the faulty process, if any.
    fn signal(&self) -> Option<Signal> {
        match self.fault {
            KillOutside | KilledMidFrame | KilledBetweenTasks => Some(Signal::SIGKILL),
            SegvOutside => Some(Signal::SIGSEGV),
            _ => None,
        }
    }
}

/// What a task that must not fail does first; what a faulty task does
/// before its fault.
fn prepare(fault: Option<Fault>) {
    match fault {
        Some(SegvOutside) => {
            no_core_file();
            default_segv();
        }
        Some(Abort) => no_core_file(),
        _ => {}
    }
}

/// The faults a task can suffer without a channel (in a function given to
/// `pmap` or `MakeReusable`).
fn suffer(fault: Fault, index: u64) -> ! {
    match fault {
        Panic => panic!("fault at {index}"),
        Abort => std::process::abort(),
        KillOutside | SegvOutside => block_forever(),
        ExitWithoutResult => std::process::exit(3),
        other => unreachable!("{other:?} is not suffered inside a function"),
    }
}

/// A task started with `start` (Exchange, Map, Queue, continuous).
fn task(channel: &mut Channel, spec: Spec, index: u64, log: &TaskLog) -> pprocess::Result<()> {
    let continuous = spec.front == FrontEnd::Continuous;
    if continuous {
        channel.send(&reply(index * 10))?;
    }
    let fault = spec.fault_at(index);
    prepare(fault);
    log.report(index);
    match fault {
        None if continuous => Ok(()),
        None => channel.send(&reply(index * 10)),
        Some(ExitRightAfterSending) => {
            let value = if continuous {
                index * 10 + 1
            } else {
                index * 10
            };
            channel.send(&reply(value))?;
            std::process::exit(0)
        }
        Some(HalfFrameThenExit) => {
            write_raw(channel, &raw_frame(100, 0, &[0xAB; 40]));
            Ok(())
        }
        Some(KilledMidFrame) => {
            channel.send(&big_reply(index * 10, BIG))?;
            block_forever()
        }
        Some(other) => suffer(other, index),
    }
}

/// A plain function (pmap, reuse).
fn function(spec: Spec, index: u64, log: &TaskLog) -> Reply {
    let fault = spec.fault_at(index);
    prepare(fault);
    log.report(index);
    match fault {
        None | Some(KilledBetweenTasks | ExitsBetweenTasks) => reply(index * 10),
        Some(ExitRightAfterSending) => big_reply(index * 10, 1 << 20),
        Some(KilledMidFrame) => big_reply(index * 10, BIG),
        Some(other) => suffer(other, index),
    }
}

/// The arguments of a reused task. Decoding them in the reused process
/// is where a fault "between tasks" strikes: the process has answered its
/// previous task and not started this one.
#[derive(Serialize)]
struct Arg {
    index: u64,
    /// 0: no fault; 1: report and block until killed; 2: report and exit
    /// with code 0.
    between: u8,
    /// The task log's descriptor (the decoder cannot borrow the log).
    log_fd: i32,
}

impl<'de> Deserialize<'de> for Arg {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (index, between, log_fd) = <(u64, u8, i32)>::deserialize(deserializer)?;
        match between {
            1 => {
                report_on(log_fd, index);
                block_forever()
            }
            2 => {
                report_on(log_fd, index);
                std::process::exit(0)
            }
            _ => Ok(Arg {
                index,
                between,
                log_fd,
            }),
        }
    }
}

/// Every outcome of each task, in the order they arrived: one for most
/// front ends, the message and then the failure for continuous ones.
type Outcomes = BTreeMap<u64, Vec<pprocess::Result<u64>>>;

#[derive(Default)]
struct Record(Outcomes);

impl Handler for Record {
    fn store_data(&mut self, channel: &mut Channel, task: usize) -> pprocess::Result<()> {
        let outcome = channel.receive::<Reply>().map(|reply| reply.0);
        self.0.entry(task as u64).or_default().push(outcome);
        Ok(())
    }

    fn store_error(&mut self, task: usize, error: Error) -> pprocess::Result<()> {
        self.0.entry(task as u64).or_default().push(Err(error));
        Ok(())
    }
}

/// Runs `spec`'s tasks; `started` is called once every task is given to
/// the front end, before the test reads any result.
fn run(spec: Spec, log: &TaskLog, started: impl FnOnce()) -> Outcomes {
    let by_index = |results: Vec<pprocess::Result<Reply>>| -> Outcomes {
        (0u64..)
            .zip(results)
            .map(|(index, result)| (index, vec![result.map(|reply| reply.0)]))
            .collect()
    };
    match spec.front {
        FrontEnd::Exchange | FrontEnd::Continuous => {
            let mut exchange = Exchange::with_handler(Record::default())
                .limit(spec.limit)
                .continuous(spec.front == FrontEnd::Continuous);
            for index in 0..spec.tasks {
                exchange.start(move |channel| task(channel, spec, index, log));
            }
            started();
            exchange.finish().expect("the handler returns no error");
            assert!(!exchange.unfinished());
            exchange.into_handler().0
        }
        FrontEnd::Map => {
            let mut map = Map::<Reply>::new().limit(spec.limit);
            for index in 0..spec.tasks {
                map.start(move |channel| task(channel, spec, index, log));
            }
            started();
            by_index(map.collect())
        }
        FrontEnd::Pmap => {
            let map = pmap_limit(
                move |index: u64| function(spec, index, log),
                0..spec.tasks,
                spec.limit,
            );
            started();
            by_index(map.collect())
        }
        FrontEnd::Reuse => {
            let mut map = Map::<Reply>::new().limit(spec.limit).reuse(true);
            {
                let mut call = map.manage(MakeReusable::new(move |arg: Arg| {
                    function(spec, arg.index, log)
                }));
                for index in 0..spec.tasks {
                    let between = match spec.fault_at(index) {
                        Some(KilledBetweenTasks) => 1,
                        Some(ExitsBetweenTasks) => 2,
                        _ => 0,
                    };
                    call.call(Arg {
                        index,
                        between,
                        log_fd: log.raw_fd(),
                    });
                }
            }
            started();
            by_index(map.collect())
        }
        FrontEnd::Queue => {
            let mut queue = Queue::<Reply>::new().limit(spec.limit);
            for index in 0..spec.tasks {
                queue.start(move |channel| task(channel, spec, index, log));
            }
            started();
            // Items come in arrival order: a value names its task, and
            // so does an error.
            let mut outcomes = Outcomes::new();
            for item in queue {
                match item {
                    Ok((value, _)) => outcomes.entry(value / 10).or_default().push(Ok(value)),
                    Err(error) => {
                        let task = error
                            .task()
                            .unwrap_or_else(|| panic!("{error:?} names no task"));
                        outcomes.entry(task as u64).or_default().push(Err(error));
                    }
                }
            }
            outcomes
        }
    }
}

/// What the faulty task gives (after its message, for continuous tasks).
#[derive(Debug)]
enum Expect {
    Value(u64),
    Panicked(String),
    Died(i32),
    NoResult(i32),
    Truncated { expected: u64, received: u64 },
}

fn expected(spec: Spec) -> Expect {
    let index = spec.faulty;
    match spec.fault {
        Panic => Expect::Panicked(format!("fault at {index}")),
        Abort => Expect::Died(Signal::SIGABRT as i32),
        KillOutside | KilledMidFrame | KilledBetweenTasks => Expect::Died(Signal::SIGKILL as i32),
        SegvOutside => Expect::Died(Signal::SIGSEGV as i32),
        ExitWithoutResult => Expect::NoResult(3),
        ExitsBetweenTasks => Expect::NoResult(0),
        ExitRightAfterSending if spec.front == FrontEnd::Continuous => {
            Expect::Value(index * 10 + 1)
        }
        ExitRightAfterSending => Expect::Value(index * 10),
        HalfFrameThenExit => Expect::Truncated {
            expected: 109,
            received: 49,
        },
    }
}

/// Whether `outcome` is `expect`, from process `pid`.
fn is(outcome: &pprocess::Result<u64>, expect: &Expect, pid: i32) -> bool {
    match (outcome.as_ref().map_err(Error::failure), expect) {
        (Ok(value), Expect::Value(expected)) => value == expected,
        (Err(Error::Panicked { pid: p, message }), Expect::Panicked(expected)) => {
            *p == pid && message == expected
        }
        (Err(Error::Died { pid: p, signal }), Expect::Died(expected)) => {
            *p == pid && signal == expected
        }
        (Err(Error::NoResult { pid: p, code }), Expect::NoResult(expected)) => {
            *p == pid && code == expected
        }
        (
            Err(Error::TruncatedFrame { expected, received }),
            Expect::Truncated {
                expected: e,
                received: r,
            },
        ) => expected == e && received == r,
        _ => false,
    }
}

fn run_case(front: FrontEnd, fault: Fault) {
    let spec = Spec::new(front, fault);
    let log = TaskLog::new();
    let outcomes = std::thread::scope(|scope| {
        // The killer waits for the faulty task's report, then signals its
        // process: while the test reads results (the task blocks until
        // killed, so when does not matter), or before it reads anything
        // for a task killed in the middle of a frame (which only blocks
        // while nobody reads).
        let killer = spec.signal().map(|signal| {
            let log = &log;
            scope.spawn(move || {
                let pid = log.wait_for(spec.faulty);
                if fault == KilledMidFrame {
                    // Blocked sending: part of the frame is in the socket.
                    eventually(&format!("process {pid} blocks sending"), || {
                        state(pid) == Some('S')
                    });
                }
                kill(Pid::from_raw(pid), signal).expect("signalling the faulty task");
            })
        });
        let mut killer = killer;
        let outcomes = run(spec, &log, || {
            if fault == KilledMidFrame {
                killer.take().unwrap().join().unwrap();
            }
        });
        if let Some(killer) = killer {
            killer.join().unwrap();
        }
        outcomes
    });

    let faulty_pid = log.wait_for(spec.faulty);
    let expect = expected(spec);
    assert_eq!(
        outcomes.keys().copied().collect::<Vec<_>>(),
        (0..spec.tasks).collect::<Vec<_>>(),
        "{spec:?}: tasks with an outcome: {outcomes:?}"
    );
    for (&index, items) in &outcomes {
        let message = format!("{spec:?}: task {index}: {items:?}");
        let continuous = front == FrontEnd::Continuous;
        let mut items = items.iter();
        if continuous {
            let first = items.next().expect(&message);
            assert!(matches!(first, Ok(v) if *v == index * 10), "{message}");
        }
        if index == spec.faulty {
            let outcome = items.next().expect(&message);
            assert!(
                is(outcome, &expect, faulty_pid),
                "{message}: expected {expect:?} from process {faulty_pid}"
            );
        } else if !continuous {
            let outcome = items.next().expect(&message);
            assert!(matches!(outcome, Ok(v) if *v == index * 10), "{message}");
        }
        assert!(items.next().is_none(), "{message}: more than expected");
    }
    // Every process of the run, faulty or not, is reaped.
    let pids = log.pids();
    assert!(pids.contains(&faulty_pid));
    assert_gone(pids);
}

macro_rules! cells {
    ($($name:ident: $front:ident, $fault:ident;)*) => {
        $(
            #[test]
            fn $name() {
                run_case(FrontEnd::$front, $fault);
            }
        )*
    };
}

cells! {
    exchange_task_killed_with_sigkill_from_outside_is_died_9_at_its_task: Exchange, KillOutside;
    exchange_task_sent_sigsegv_from_outside_is_died_11_at_its_task: Exchange, SegvOutside;
    exchange_task_that_exits_right_after_sending_delivers_its_result: Exchange, ExitRightAfterSending;
    exchange_task_killed_in_the_middle_of_a_frame_is_died_9_at_its_task: Exchange, KilledMidFrame;

    map_task_killed_with_sigkill_from_outside_is_died_9_at_its_index: Map, KillOutside;
    map_task_sent_sigsegv_from_outside_is_died_11_at_its_index: Map, SegvOutside;
    map_task_that_exits_right_after_sending_delivers_its_result: Map, ExitRightAfterSending;
    map_task_that_writes_half_a_frame_then_exits_is_truncated_frame_at_its_index: Map, HalfFrameThenExit;
    map_task_killed_in_the_middle_of_a_frame_is_died_9_at_its_index: Map, KilledMidFrame;

    queue_task_that_aborts_is_died_6: Queue, Abort;
    queue_task_killed_with_sigkill_from_outside_is_died_9: Queue, KillOutside;
    queue_task_sent_sigsegv_from_outside_is_died_11: Queue, SegvOutside;
    queue_task_that_exits_right_after_sending_delivers_its_result: Queue, ExitRightAfterSending;
    queue_task_that_writes_half_a_frame_then_exits_is_truncated_frame: Queue, HalfFrameThenExit;
    queue_task_killed_in_the_middle_of_a_frame_is_died_9: Queue, KilledMidFrame;

    pmap_task_that_aborts_is_died_6_at_its_index: Pmap, Abort;
    pmap_task_killed_with_sigkill_from_outside_is_died_9_at_its_index: Pmap, KillOutside;
    pmap_task_sent_sigsegv_from_outside_is_died_11_at_its_index: Pmap, SegvOutside;
    pmap_task_whose_large_result_is_sent_right_before_exit_delivers_it: Pmap, ExitRightAfterSending;
    pmap_task_killed_in_the_middle_of_a_frame_is_died_9_at_its_index: Pmap, KilledMidFrame;

    reuse_task_that_aborts_is_died_6_at_its_index: Reuse, Abort;
    reuse_task_killed_with_sigkill_from_outside_is_died_9_at_its_index: Reuse, KillOutside;
    reuse_task_sent_sigsegv_from_outside_is_died_11_at_its_index: Reuse, SegvOutside;
    reuse_task_that_exits_without_a_result_is_no_result_3_at_its_index: Reuse, ExitWithoutResult;
    reuse_task_killed_in_the_middle_of_a_frame_is_died_9_at_its_index: Reuse, KilledMidFrame;
    reuse_process_killed_between_tasks_fails_the_pending_task_with_died_9: Reuse, KilledBetweenTasks;
    reuse_process_that_exits_between_tasks_fails_the_pending_task_with_no_result_0: Reuse, ExitsBetweenTasks;

    continuous_task_that_panics_after_a_message_is_the_message_then_panicked: Continuous, Panic;
    continuous_task_that_aborts_after_a_message_is_the_message_then_died_6: Continuous, Abort;
    continuous_task_killed_with_sigkill_from_outside_is_the_message_then_died_9: Continuous, KillOutside;
    continuous_task_sent_sigsegv_from_outside_is_the_message_then_died_11: Continuous, SegvOutside;
    continuous_task_that_exits_with_3_is_the_message_then_no_result_3: Continuous, ExitWithoutResult;
    continuous_task_that_exits_right_after_sending_delivers_both_messages: Continuous, ExitRightAfterSending;
    continuous_task_that_writes_half_a_frame_then_exits_is_the_message_then_truncated_frame: Continuous, HalfFrameThenExit;
    continuous_task_killed_in_the_middle_of_a_frame_is_the_message_then_died_9: Continuous, KilledMidFrame;
}
