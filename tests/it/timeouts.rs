//! Per-task timeouts: a task that never answers (sleeps for ever, spins,
//! deadlocks) among fast ones, under `Exchange`, `Map`, `Queue`, `pmap`,
//! reuse and continuous processes. Its process is killed and reaped, the
//! task gets `Error::Timeout` at its own index, and the other tasks carry
//! on; a reused process that times out is replaced. Also the wait
//! timeouts of `Exchange::store` and `Exchange::ready`.
//!
//! The timeout is generous ([`TIMEOUT`]) so that no fast task can reach it
//! on a loaded machine; the hung tasks never end by themselves, so the
//! outcome does not depend on timing. Hung tasks report their pid on a
//! [`TaskLog`] so the test can check that exactly that process was killed.

use crate::hardening;

use std::time::{Duration, Instant};

use hardening::{TaskLog, assert_gone, block_forever, wait_for_end};
use pprocess::{Channel, Error, Exchange, Handler, MakeReusable, Map, Queue};

const TIMEOUT: Duration = Duration::from_secs(2);

/// Whether `error` is the timeout of process `pid`.
fn is_timeout_of(error: &Error, pid: i32) -> bool {
    matches!(error, Error::Timeout { pid: p, after } if *p == pid && *after == TIMEOUT)
}

/// A task that deadlocks on itself: it reads from a pipe whose only
/// writer is itself.
fn deadlock() -> ! {
    let (read, _write) = nix::unistd::pipe().expect("a pipe");
    let mut byte = [0u8];
    let _ = nix::unistd::read(&read, &mut byte);
    unreachable!("nobody writes to the pipe");
}

/// A task that spins for ever.
fn spin() -> ! {
    loop {
        std::hint::spin_loop();
    }
}

#[derive(Default)]
struct Record {
    values: Vec<(usize, u64)>,
    errors: Vec<(usize, Error)>,
}

impl Handler for Record {
    fn store_data(&mut self, channel: &mut Channel, task: usize) -> pprocess::Result<()> {
        self.values.push((task, channel.receive()?));
        Ok(())
    }

    fn store_error(&mut self, task: usize, error: Error) -> pprocess::Result<()> {
        self.errors.push((task, error));
        Ok(())
    }
}

#[test]
fn exchange_kills_a_task_that_sleeps_for_ever_and_the_others_complete() {
    let log = TaskLog::new();
    let log = &log;
    let mut exchange = Exchange::with_handler(Record::default())
        .limit(3)
        .timeout(TIMEOUT);
    for index in 0..8u64 {
        exchange.start(move |channel| {
            if index == 2 {
                log.report(index);
                block_forever();
            }
            channel.send(&(index * 10))
        });
    }
    exchange.finish().unwrap();
    let Record { mut values, errors } = exchange.into_handler();
    values.sort();
    let expected: Vec<(usize, u64)> = (0..8)
        .filter(|&index| index != 2)
        .map(|index| (index, index as u64 * 10))
        .collect();
    assert_eq!(values, expected);
    let pid = log.wait_for(2);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, 2, "{errors:?}");
    assert!(is_timeout_of(&errors[0].1, pid), "{errors:?}");
    assert_gone([pid]);
}

#[test]
fn exchange_ready_without_a_handler_returns_the_timeout() {
    let log = TaskLog::new();
    let log = &log;
    let mut exchange = Exchange::new().timeout(TIMEOUT);
    exchange.start(move |_channel| {
        log.report(0);
        block_forever()
    });
    exchange.start(|channel| channel.send(&7u8));
    let mut got = Vec::new();
    let mut timeouts = Vec::new();
    while exchange.unfinished() {
        match exchange.ready(None) {
            Ok(channels) => {
                for channel in channels {
                    got.push(channel.receive::<u8>().unwrap());
                }
            }
            Err(error) => timeouts.push(error),
        }
    }
    let pid = log.wait_for(0);
    assert_eq!(got, [7]);
    assert_eq!(timeouts.len(), 1, "{timeouts:?}");
    assert!(is_timeout_of(&timeouts[0], pid), "{timeouts:?}");
    assert_gone([pid]);
}

#[test]
fn map_gives_timeout_at_the_index_of_a_spinning_task_and_reaps_it_at_once() {
    let log = TaskLog::new();
    let log = &log;
    let mut map = Map::<u64>::new().limit(4).timeout(TIMEOUT);
    for index in 0..8u64 {
        map.start(move |channel| {
            if index == 5 {
                log.report(index);
                spin();
            }
            channel.send(&(index * 10))
        });
    }
    for index in 0..8u64 {
        let result = map.next().expect("one result per task");
        if index == 5 {
            let pid = log.wait_for(5);
            let error = result.unwrap_err();
            assert!(is_timeout_of(&error, pid), "index 5: {error:?}");
            // Killed and reaped before the error was handed over.
            assert_gone([pid]);
        } else {
            assert_eq!(result.unwrap(), index * 10, "index {index}");
        }
    }
    assert!(map.next().is_none());
}

#[test]
fn queue_gives_timeout_for_a_deadlocked_task_and_every_other_result() {
    let log = TaskLog::new();
    let log = &log;
    let mut queue = Queue::<u64>::new().limit(3).timeout(TIMEOUT);
    for index in 0..6u64 {
        queue.start(move |channel| {
            if index == 0 {
                log.report(index);
                deadlock();
            }
            channel.send(&(index * 10))
        });
    }
    let mut values = Vec::new();
    let mut errors = Vec::new();
    for item in queue {
        match item {
            Ok(value) => values.push(value),
            Err(error) => errors.push(error),
        }
    }
    values.sort();
    assert_eq!(values, [10, 20, 30, 40, 50]);
    let pid = log.wait_for(0);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(is_timeout_of(errors[0].failure(), pid), "{errors:?}");
    assert_eq!(errors[0].task(), Some(0), "the error names the task");
    assert_gone([pid]);
}

#[test]
fn pmap_with_a_timeout_gives_timeout_at_the_index_of_the_hung_input() {
    let log = TaskLog::new();
    let log = &log;
    let results: Vec<pprocess::Result<(u64, i32)>> = Map::new()
        .limit(3)
        .timeout(TIMEOUT)
        .pmap(
            |index: u64| {
                if index == 4 {
                    log.report(index);
                    block_forever()
                }
                (index * 10, std::process::id() as i32)
            },
            0..9u64,
        )
        .collect();
    assert_eq!(results.len(), 9);
    let pid = log.wait_for(4);
    let mut pids = vec![pid];
    for (index, result) in results.iter().enumerate() {
        match result {
            Err(error) if index == 4 => assert!(is_timeout_of(error, pid), "{error:?}"),
            Ok((value, task_pid)) if index != 4 => {
                assert_eq!(*value, index as u64 * 10);
                pids.push(*task_pid);
            }
            other => panic!("index {index}: {other:?}"),
        }
    }
    assert_gone(pids);
}

#[test]
fn a_reused_process_that_times_out_is_replaced_and_the_remaining_tasks_complete() {
    const TASKS: u32 = 10;
    const HUNG: u32 = 3;
    let log = TaskLog::new();
    let log = &log;
    // One process at a time: every task after the hung one can only run in
    // a replacement.
    let mut map = Map::<(u32, i32)>::new()
        .limit(1)
        .reuse(true)
        .timeout(TIMEOUT);
    {
        let mut call = map.manage(MakeReusable::new(move |input: u32| {
            if input == HUNG {
                log.report(input.into());
                block_forever();
            }
            (input * 10, std::process::id() as i32)
        }));
        for input in 0..TASKS {
            call.call(input);
        }
    }
    let results: Vec<pprocess::Result<(u32, i32)>> = map.collect();
    assert_eq!(results.len(), TASKS as usize, "{results:?}");
    let hung_pid = log.wait_for(HUNG.into());
    let mut replacements = Vec::new();
    for (index, result) in (0..TASKS).zip(&results) {
        match result {
            Err(error) if index == HUNG => assert!(is_timeout_of(error, hung_pid), "{error:?}"),
            Ok((value, pid)) if index < HUNG => {
                assert_eq!(*value, index * 10, "index {index}");
                assert_eq!(*pid, hung_pid, "index {index} ran before the hang");
            }
            Ok((value, pid)) if index > HUNG => {
                assert_eq!(*value, index * 10, "index {index}");
                replacements.push(*pid);
            }
            other => panic!("index {index}: {other:?}"),
        }
    }
    replacements.dedup();
    assert_eq!(replacements.len(), 1, "one replacement: {replacements:?}");
    assert_ne!(replacements[0], hung_pid, "the hung process was replaced");
    assert_gone([hung_pid, replacements[0]]);
}

#[test]
fn a_continuous_task_that_hangs_after_some_messages_gets_them_delivered_then_timeout() {
    let log = TaskLog::new();
    let log = &log;
    let started = Instant::now();
    let mut queue = Queue::<u64>::new()
        .limit(2)
        .continuous(true)
        .timeout(TIMEOUT);
    queue.start(move |channel| -> pprocess::Result<()> {
        channel.send(&1u64)?;
        channel.send(&2u64)?;
        log.report(0);
        block_forever()
    });
    queue.start(move |channel| -> pprocess::Result<()> {
        (10..13u64).try_for_each(|n| channel.send(&n))?;
        log.report(1);
        Ok(())
    });
    // Both have sent everything they will send; the test reads nothing
    // until both deadlines have passed: what was sent before them counts.
    log.wait_for(0);
    log.wait_for(1);
    let deadline = started + TIMEOUT + Duration::from_millis(100);
    std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
    let mut values = Vec::new();
    let mut errors = Vec::new();
    for item in queue {
        match item {
            Ok(value) => values.push(value),
            Err(error) => errors.push(error),
        }
    }
    values.sort();
    assert_eq!(values, [1, 2, 10, 11, 12]);
    let pid = log.wait_for(0);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        is_timeout_of(errors[0].failure(), pid),
        "expected Timeout {{ pid: {pid}, after: {TIMEOUT:?} }}, got {errors:?}"
    );
    assert_eq!(errors[0].task(), Some(0), "the error names the task");
    assert_gone([pid]);
}

#[test]
fn a_result_that_arrived_before_the_deadline_is_not_a_timeout_when_read_after_it() {
    let log = TaskLog::new();
    let log = &log;
    let started = Instant::now();
    let mut map = Map::<u64>::new().limit(2).timeout(TIMEOUT);
    map.start(move |channel| {
        channel.send(&42u64)?;
        // The result is in the socket: tell the test.
        log.report(0);
        Ok::<(), Error>(())
    });
    let pid = log.wait_for(0);
    // The test is busy elsewhere until the task's deadline has passed;
    // the task finished long before it.
    let deadline = started + TIMEOUT + Duration::from_millis(100);
    std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
    match map.next() {
        Some(Ok(42)) => {}
        other => panic!("the result sent in time was lost: {other:?}"),
    }
    assert!(map.next().is_none());
    drop(map);
    assert_gone([pid]);
}

/// A wait with a zero timeout still looks at the sockets once: a message
/// that has arrived is stored, never left waiting for a longer wait.
#[test]
fn store_and_ready_with_a_zero_timeout_take_a_message_that_has_arrived() {
    let mut got = Vec::new();
    let mut exchange = Exchange::with_handler(|channel: &mut Channel, _task: usize| {
        got.push(channel.receive::<u8>()?);
        Ok(())
    });
    exchange.start(|channel| channel.send(&1u8));
    // It sent before it ended: once it has, the message is in the socket.
    wait_for_end(exchange.active().next().expect("its channel").pid());
    exchange.store(Some(Duration::ZERO)).expect("store");
    drop(exchange);
    assert_eq!(
        got,
        [1],
        "the message never arrived through store(Some(ZERO))"
    );

    let mut exchange = Exchange::new();
    exchange.start(|channel| channel.send(&2u8));
    wait_for_end(exchange.active().next().expect("its channel").pid());
    let got: Vec<u8> = exchange
        .ready(Some(Duration::ZERO))
        .expect("ready")
        .into_iter()
        .map(|channel| channel.receive::<u8>().expect("a message"))
        .collect();
    assert_eq!(
        got,
        [2],
        "the message never arrived through ready(Some(ZERO))"
    );
}
