//! `Map::pmap` with `reuse(true)`: at most `limit` processes take the
//! inputs in turn from a shared board. Results arrive at their own index;
//! a task that panics, is killed or times out fails at its own index and
//! its process is replaced; nothing is left behind.
//!
//! Each scenario that counts processes or descriptors runs in a created
//! process of its own ([`alone`]): the test process has many threads, each
//! forking and opening descriptors, so only a single-threaded copy can
//! count its own.

mod hardening;

use std::collections::BTreeSet;
use std::time::Duration;

use hardening::{TaskLog, block_forever, open_descriptors, own_children};
use nix::sys::signal::{Signal, raise};
use pprocess::{Error, Map};

/// Runs `scenario` in a created process and returns what it sends; then
/// checks, in that process, that the scenario left no child and no
/// descriptor behind.
fn alone<T>(scenario: fn() -> T) -> T
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let mut channel = pprocess::start(move |channel| {
        let before = open_descriptors();
        let outcome = scenario();
        assert_eq!(own_children(), [0i32; 0], "processes left behind");
        assert_eq!(open_descriptors(), before, "descriptors leaked");
        channel.send(&outcome)
    })
    .expect("a process for the scenario");
    channel.receive().expect("the scenario's outcome")
}

/// An input that is not serializable: inputs are never sent, the
/// processes have them from the fork.
struct Unsendable {
    value: u64,
    _not_serializable: std::rc::Rc<()>,
}

fn inputs(count: u64) -> Vec<Unsendable> {
    (0..count)
        .map(|value| Unsendable {
            value,
            _not_serializable: std::rc::Rc::new(()),
        })
        .collect()
}

#[test]
fn every_result_arrives_in_input_order_from_at_most_limit_processes() {
    let (squares, pids) = alone(|| {
        let results: Vec<(u64, u32)> = Map::new()
            .limit(2)
            .reuse(true)
            .pmap(
                |input: Unsendable| (input.value * input.value, std::process::id()),
                inputs(300),
            )
            .collect::<pprocess::Result<_>>()
            .expect("every result");
        let squares: Vec<u64> = results.iter().map(|(square, _)| *square).collect();
        let pids: BTreeSet<u32> = results.iter().map(|(_, pid)| *pid).collect();
        (squares, pids)
    });
    assert_eq!(squares, (0..300u64).map(|i| i * i).collect::<Vec<_>>());
    assert!(
        (1..=2).contains(&pids.len()),
        "300 inputs ran in {} processes: {pids:?}",
        pids.len()
    );
    assert!(!pids.contains(&std::process::id()));
}

#[test]
fn a_panicking_input_fails_at_its_index_and_the_others_arrive() {
    let outcomes = alone(|| {
        Map::new()
            .limit(2)
            .reuse(true)
            .pmap(
                |i: u64| {
                    if i % 10 == 3 {
                        panic!("input {i} is bad");
                    }
                    i + 1
                },
                0..40,
            )
            .map(|result| result.map_err(|error| error.to_string()))
            .collect::<Vec<Result<u64, String>>>()
    });
    assert_eq!(outcomes.len(), 40);
    for (i, outcome) in outcomes.iter().enumerate() {
        if i % 10 == 3 {
            let message = outcome.as_ref().expect_err("a panic");
            assert!(
                message.contains(&format!("input {i} is bad")),
                "index {i}: {message}"
            );
        } else {
            assert_eq!(outcome, &Ok(i as u64 + 1), "index {i}");
        }
    }
}

#[test]
fn an_input_whose_process_is_killed_fails_with_the_signal_and_the_others_arrive() {
    let outcomes = alone(|| {
        Map::new()
            .limit(2)
            .reuse(true)
            .pmap(
                |i: u64| {
                    if i == 5 || i == 17 {
                        raise(Signal::SIGKILL).expect("SIGKILL");
                    }
                    i * 2
                },
                0..30,
            )
            .map(|result| match result {
                Ok(value) => Ok(value),
                Err(Error::Died { signal, .. }) => Err(signal),
                Err(other) => panic!("not a death by signal: {other:?}"),
            })
            .collect::<Vec<Result<u64, i32>>>()
    });
    for (i, outcome) in outcomes.iter().enumerate() {
        if i == 5 || i == 17 {
            assert_eq!(outcome, &Err(Signal::SIGKILL as i32), "index {i}");
        } else {
            assert_eq!(outcome, &Ok(i as u64 * 2), "index {i}");
        }
    }
}

#[test]
fn an_input_that_hangs_times_out_at_its_index_and_its_process_is_killed() {
    let log = TaskLog::new();
    let log = &log;
    let mut map = Map::new()
        .limit(2)
        .reuse(true)
        .timeout(Duration::from_secs(2))
        .pmap(
            move |i: u64| {
                if i == 4 {
                    log.report(i);
                    block_forever();
                }
                i
            },
            0..12,
        );
    let outcomes: Vec<_> = map.by_ref().collect();
    let pid = log.wait_for(4);
    for (i, outcome) in outcomes.iter().enumerate() {
        match outcome {
            Err(Error::Timeout { pid: p, .. }) if i == 4 => assert_eq!(*p, pid),
            Ok(value) if i != 4 => assert_eq!(*value, i as u64),
            other => panic!("index {i}: {other:?}"),
        }
    }
    drop(map);
    hardening::assert_gone([pid]);
}

#[test]
fn every_input_can_fail_and_the_map_still_ends() {
    let outcomes = alone(|| {
        Map::new()
            .limit(3)
            .reuse(true)
            .pmap(|i: u64| -> u64 { panic!("{i}") }, 0..7)
            .map(|result| matches!(result, Err(Error::Panicked { .. })))
            .collect::<Vec<bool>>()
    });
    assert_eq!(outcomes, [true; 7]);
}

#[test]
fn tasks_started_before_and_after_keep_their_indices() {
    let (values, index_after) = alone(|| {
        let mut map = Map::new().limit(2).reuse(true);
        map.start(|channel| channel.send(&100u64));
        let mut map = map.pmap(|i: u64| i, 0..5);
        let index_after = map.start(|channel| channel.send(&200u64));
        let values: Vec<u64> = map.collect::<pprocess::Result<_>>().expect("every result");
        (values, index_after)
    });
    assert_eq!(values, [100, 0, 1, 2, 3, 4, 200]);
    assert_eq!(index_after, 6);
}

#[test]
fn no_input_means_no_process_and_an_empty_map() {
    let map = Map::<u8>::new().limit(2).reuse(true).pmap(|i: u8| i, []);
    assert!(map.is_empty());
    assert_eq!(map.count(), 0);
}

#[test]
fn dropping_the_map_early_kills_and_reaps_its_processes() {
    let left = alone(|| {
        let mut map = Map::new().limit(2).reuse(true).pmap(
            |i: u64| std::thread::sleep(Duration::from_millis(i)),
            0..1000,
        );
        map.next().expect("a first result").expect("no failure");
        drop(map);
        own_children().len()
    });
    assert_eq!(left, 0);
}
