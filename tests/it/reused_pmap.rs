//! `Map::pmap` with `reuse(true)`: at most `limit` processes take the
//! inputs in turn from a shared board. Results arrive at their own index;
//! a task that panics, is killed or times out fails at its own index and
//! its process is replaced; nothing is left behind.
//!
//! The processes leave their answers in memory shared with the creator
//! (a ring each) and announce them only when the creator sleeps: these
//! tests also check that such answers are seen while the process works on,
//! survive its crash, restart its timeout clock, and that answers too
//! large for a ring arrive through its channel.
//!
//! Inputs of unknown number (endless ones too) are taken a batch at a
//! time, each batch served by processes forked for it; the tests at the
//! end check the batches, the order of results across them, and the
//! process-per-input fallback when no shared memory can be mapped.
//!
//! Each scenario that counts processes or descriptors runs in a created
//! process of its own ([`alone`]): the test process has many threads, each
//! forking and opening descriptors, so only a single-threaded copy can
//! count its own.

use crate::hardening;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use hardening::{TaskLog, block_forever, open_descriptors, own_children};
use nix::sys::resource::{Resource, setrlimit};
use nix::sys::signal::{Signal, raise};
use pprocess::{Error, Map};

/// Runs `scenario` in a created process and returns what it sends; then
/// checks, in that process, that the scenario left no child and no
/// descriptor behind.
fn alone<T>(scenario: impl FnOnce() -> T) -> T
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

/// Ends the calling (created) process with `SIGKILL`.
fn kill_self() {
    raise(Signal::SIGKILL).expect("SIGKILL");
}

/// The signal of an `Error::Died`.
fn died_by(error: Error) -> Option<i32> {
    match error {
        Error::Died { signal, .. } => Some(signal),
        _ => None,
    }
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
    inputs_end_their_processes(2, 30, &[5, 17], kill_self, died_by, Signal::SIGKILL as i32);
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
        // Every input but the first runs until its process is killed.
        let mut map = Map::new().limit(2).reuse(true).pmap(
            |i: u64| {
                if i > 0 {
                    block_forever();
                }
            },
            0..1000,
        );
        map.next().expect("a first result").expect("no failure");
        drop(map);
        own_children().len()
    });
    assert_eq!(left, 0);
}

#[test]
fn an_answer_is_seen_while_its_process_works_on_the_next_input() {
    // Input 1 runs until the test has received the result of input 0, in
    // the same process (limit 1): the answer must reach the creator while
    // its process is still busy. (That a process announces its answer to a
    // sleeping creator is checked in map.rs, without timing.)
    let (mut test_end, task_end) = UnixStream::pair().expect("a socketpair");
    task_end
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a read timeout");
    let task_end = &task_end;
    let mut map = Map::new().limit(1).reuse(true).pmap(
        move |i: u64| {
            if i == 1 {
                let mut go = [0u8];
                // Without the word: the answer of input 0 never arrived.
                return (&*task_end).read_exact(&mut go).is_ok();
            }
            true
        },
        0..2,
    );
    assert!(map.next().expect("input 0").expect("no failure"));
    test_end.write_all(b"g").expect("releasing input 1");
    assert!(
        map.next().expect("input 1").expect("no failure"),
        "input 1 was not released: the answer of input 0 came only after it"
    );
}

/// Runs `0..count` through a `pmap` with reuse at `limit` in a process of
/// its own ([`alone`]), the inputs in `failing` calling `end` (which ends
/// their process), and checks that every other input arrives and that
/// each of `failing` fails with an error whose `code` is `expected`.
fn inputs_end_their_processes(
    limit: usize,
    count: u64,
    failing: &[u64],
    end: fn(),
    code: fn(Error) -> Option<i32>,
    expected: i32,
) {
    let outcomes: Vec<Result<u64, Option<i32>>> = alone(|| {
        Map::new()
            .limit(limit)
            .reuse(true)
            .pmap(
                |i: u64| {
                    if failing.contains(&i) {
                        end();
                    }
                    i
                },
                0..count,
            )
            .map(|result| result.map_err(code))
            .collect()
    });
    for (i, outcome) in outcomes.iter().enumerate() {
        if failing.contains(&(i as u64)) {
            assert_eq!(outcome, &Err(Some(expected)), "index {i}");
        } else {
            assert_eq!(outcome, &Ok(i as u64), "index {i}");
        }
    }
}

#[test]
fn answers_too_large_for_shared_memory_arrive_through_the_channel() {
    // 1 KiB to 1 MiB: the small ones go through the rings, the large ones
    // (more than a ring holds) through the channels, in any order.
    let sizes: Vec<usize> = (0..24).map(|i| 1 << (10 + i % 11)).collect();
    let answers: Vec<pprocess::Bytes> = Map::new()
        .limit(2)
        .reuse(true)
        .pmap(
            |(i, size): (usize, usize)| pprocess::Bytes::from(vec![i as u8; size]),
            sizes.iter().copied().enumerate(),
        )
        .collect::<pprocess::Result<_>>()
        .expect("every answer");
    for (i, (answer, size)) in answers.iter().zip(&sizes).enumerate() {
        assert_eq!(answer.len(), *size, "index {i}");
        assert!(answer.iter().all(|&byte| byte == i as u8), "index {i}");
    }
}

#[test]
fn a_run_longer_than_the_timeout_completes_while_every_input_is_quick() {
    // Each input's work is a fixed computation of about 1 ms (an unoptimised
    // build on this machine): the run lasts 1.5 s or more, the timeout is
    // 1 s, far above any one input even on a loaded machine. The clock
    // restarts with every answer taken from shared memory.
    let outcomes = alone(|| {
        Map::new()
            .limit(2)
            .reuse(true)
            .timeout(Duration::from_secs(1))
            .pmap(
                |i: u64| {
                    let mixed = (0..120_000).fold(i, |mixed, round| {
                        std::hint::black_box(mixed.wrapping_mul(6364136223846793005) ^ round)
                    });
                    std::hint::black_box(mixed);
                    i
                },
                0..3000,
            )
            .map(|result| result.map_err(|error| error.to_string()))
            .collect::<Vec<Result<u64, String>>>()
    });
    let failures: Vec<_> = outcomes.iter().filter(|outcome| outcome.is_err()).collect();
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        failures.first()
    );
    assert_eq!(outcomes.len(), 3000);
}

/// A result that encodes but refuses to decode when it is 3.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "u64", into = "u64")]
struct NotThree(u64);

impl TryFrom<u64> for NotThree {
    type Error = String;

    fn try_from(value: u64) -> Result<Self, String> {
        if value == 3 {
            return Err("3 does not decode".into());
        }
        Ok(NotThree(value))
    }
}

impl From<NotThree> for u64 {
    fn from(value: NotThree) -> u64 {
        value.0
    }
}

#[test]
fn a_result_that_does_not_decode_fails_only_its_own_index() {
    for limit in [1, 2] {
        let outcomes: Vec<Result<u64, String>> = Map::new()
            .limit(limit)
            .reuse(true)
            .pmap(NotThree, 0..10)
            .map(|result| {
                result.map(u64::from).map_err(|error| match error {
                    Error::Decode(message) => message,
                    other => panic!("not a decode error: {other:?}"),
                })
            })
            .collect();
        for (i, outcome) in outcomes.iter().enumerate() {
            if i == 3 {
                let message = outcome.as_ref().expect_err("3 does not decode");
                assert!(message.contains("3 does not decode"), "{message}");
            } else {
                assert_eq!(outcome, &Ok(i as u64), "limit {limit}, index {i}");
            }
        }
    }
}

#[test]
fn answers_left_in_shared_memory_survive_the_crash_of_their_process() {
    inputs_end_their_processes(1, 20, &[10], kill_self, died_by, Signal::SIGKILL as i32);
}

#[test]
fn an_input_whose_process_exits_with_0_fails_with_no_result_and_the_others_arrive() {
    inputs_end_their_processes(
        1,
        8,
        &[3],
        || std::process::exit(0),
        |error| match error {
            Error::NoResult { code, .. } => Some(code),
            _ => None,
        },
        0,
    );
}

#[test]
fn the_creator_frees_its_copy_of_the_inputs_once_all_are_taken() {
    let witness = std::rc::Rc::new(());
    let inputs: Vec<std::rc::Rc<()>> = (0..50).map(|_| std::rc::Rc::clone(&witness)).collect();
    let mut map = Map::new().limit(2).reuse(true).pmap(
        |input: std::rc::Rc<()>| std::rc::Rc::strong_count(&input) as u64,
        inputs,
    );
    let results: Vec<u64> = map
        .by_ref()
        .collect::<pprocess::Result<_>>()
        .expect("every result");
    assert_eq!(results.len(), 50);
    assert_eq!(
        std::rc::Rc::strong_count(&witness),
        1,
        "the map, still alive, holds its inputs"
    );
}

/// `0..count` from an iterator that does not know its length
/// (`size_hint().1 == None`), as `BufRead::lines()` would give: the map
/// takes such inputs a batch at a time.
fn unknown_size(count: u64) -> impl Iterator<Item = u64> {
    let mut next = 0;
    std::iter::from_fn(move || {
        (next < count).then(|| {
            next += 1;
            next - 1
        })
    })
}

/// An endless input is served a batch at a time (1,024 inputs, then twice
/// the last), each batch by at most `limit` processes of its own.
#[test]
fn an_endless_input_is_served_in_batches_each_by_processes_of_its_own() {
    let results = alone(|| {
        Map::new()
            .limit(2)
            .reuse(true)
            .pmap(|n: u64| (n * 3, std::process::id()), 0u64..)
            .take(5000)
            .collect::<pprocess::Result<Vec<(u64, u32)>>>()
            .map_err(|error| error.to_string())
    })
    .expect("every result");
    let values: Vec<u64> = results.iter().map(|(value, _)| *value).collect();
    assert_eq!(values, (0..5000u64).map(|n| n * 3).collect::<Vec<_>>());
    // The batches that cover 5,000 inputs: 1,024, 2,048, and 4,096 (of
    // which the first 1,928 are taken here).
    let batches = [0..1024, 1024..3072, 3072..5000];
    let pids_of = |range: std::ops::Range<usize>| -> BTreeSet<u32> {
        results[range].iter().map(|(_, pid)| *pid).collect()
    };
    let mut all = BTreeSet::new();
    for batch in batches {
        let pids = pids_of(batch.clone());
        assert!(
            (1..=2).contains(&pids.len()),
            "inputs {batch:?} ran in {} processes: {pids:?}",
            pids.len()
        );
        assert!(
            all.is_disjoint(&pids),
            "a process of an earlier batch served inputs {batch:?}: {pids:?}"
        );
        all.extend(pids);
    }
    assert!(
        (3..=6).contains(&all.len()),
        "5,000 inputs in 3 batches ran in {} processes: {all:?}",
        all.len()
    );
}

/// A finite input of unknown size, not a whole number of batches, gives
/// every result in order, then `None`, and the map's length is its number
/// of inputs.
#[test]
fn a_finite_input_of_unknown_size_gives_every_result_in_order_then_none() {
    let (values, after, len) = alone(|| {
        let mut map = Map::new()
            .limit(2)
            .reuse(true)
            .pmap(|n: u64| n * n, unknown_size(3000));
        let values: Vec<Result<u64, String>> = map
            .by_ref()
            .take(3000)
            .map(|result| result.map_err(|error| error.to_string()))
            .collect();
        let after = map
            .next()
            .map(|result| result.map_err(|error| error.to_string()));
        (values, after, map.len())
    });
    assert_eq!(values, (0..3000u64).map(|n| Ok(n * n)).collect::<Vec<_>>());
    assert_eq!(after, None);
    assert_eq!(len, 3000);
}

/// An empty input of unknown size forks no process: the map is empty and
/// yields nothing.
#[test]
fn an_empty_input_of_unknown_size_forks_no_process_and_the_map_is_empty() {
    let (children, empty, next, children_after) = alone(|| {
        let mut map = Map::new()
            .limit(2)
            .reuse(true)
            .pmap(|n: u64| n, unknown_size(0));
        let children = own_children().len();
        let empty = map.is_empty();
        let next = map
            .next()
            .map(|result| result.map_err(|error| error.to_string()));
        (children, empty, next, own_children().len())
    });
    assert_eq!(children, 0, "processes forked for no input");
    assert!(empty);
    assert_eq!(next, None);
    assert_eq!(children_after, 0, "processes forked while iterating");
}

/// A panic in the second batch of an endless input fails only its own
/// index; a new process takes the failed one's place and serves the rest
/// of the batch.
#[test]
fn a_panic_in_a_later_batch_fails_only_its_index_and_its_process_is_replaced() {
    let outcomes: Vec<Result<(u64, u32), String>> = alone(|| {
        Map::new()
            .limit(1)
            .reuse(true)
            .pmap(
                |n: u64| {
                    if n == 1500 {
                        panic!("input {n} is bad");
                    }
                    (n * 3, std::process::id())
                },
                0u64..,
            )
            .take(3000)
            .map(|result| {
                result.map_err(|error| match error {
                    Error::Panicked { message, .. } => format!("panicked: {message}"),
                    other => format!("not a panic: {other}"),
                })
            })
            .collect()
    });
    assert_eq!(outcomes.len(), 3000);
    for (i, outcome) in outcomes.iter().enumerate() {
        match outcome {
            Err(message) if i == 1500 => assert!(
                message.starts_with("panicked: ") && message.contains("input 1500 is bad"),
                "index 1500: {message}"
            ),
            Ok((value, _)) if i != 1500 => assert_eq!(*value, i as u64 * 3, "index {i}"),
            other => panic!("index {i}: {other:?}"),
        }
    }
    // Limit 1: one process for the first batch, one for the second up to
    // the panic, and the one that took its place for the rest.
    let pids_of = |range: std::ops::Range<usize>| -> BTreeSet<u32> {
        outcomes[range]
            .iter()
            .map(|outcome| outcome.as_ref().expect("a result").1)
            .collect()
    };
    let (first, before, after) = (pids_of(0..1024), pids_of(1024..1500), pids_of(1501..3000));
    assert_eq!((first.len(), before.len(), after.len()), (1, 1, 1));
    assert!(
        first.is_disjoint(&before) && first.is_disjoint(&after) && before.is_disjoint(&after),
        "first batch {first:?}, second before the panic {before:?}, after it {after:?}"
    );
}

/// Dropping a map of an endless input while its processes work kills and
/// reaps them and leaves no descriptor open ([`alone`] checks).
#[test]
fn dropping_an_endless_map_early_kills_and_reaps_its_processes() {
    let (firsts, left) = alone(|| {
        // Every input from 10 on runs until its process is killed.
        let mut map = Map::new().limit(2).reuse(true).pmap(
            |n: u64| {
                if n >= 10 {
                    block_forever();
                }
                n
            },
            0u64..,
        );
        let firsts: Vec<u64> = map
            .by_ref()
            .take(10)
            .collect::<pprocess::Result<_>>()
            .expect("the first 10 results");
        drop(map);
        (firsts, own_children().len())
    });
    assert_eq!(firsts, (0..10u64).collect::<Vec<_>>());
    assert_eq!(left, 0);
}

/// `get` of an index in a batch not yet collected collects the batches up
/// to it and gives its result; iteration still starts at index 0.
#[test]
fn get_of_an_index_in_a_batch_not_yet_collected_gives_its_result() {
    let (value, first) = alone(|| {
        let mut map = Map::new().limit(2).reuse(true).pmap(|n: u64| n * 7, 0u64..);
        let value = map
            .get(2500)
            .map(|result| result.copied().map_err(|error| error.to_string()));
        let first = map
            .next()
            .map(|result| result.map_err(|error| error.to_string()));
        (value, first)
    });
    assert_eq!(value, Some(Ok(2500 * 7)));
    assert_eq!(first, Some(Ok(0)));
}

/// Inputs of unknown number that are neither `Send` nor serializable reach
/// their processes through the fork, batch after batch.
#[test]
fn unsendable_inputs_of_unknown_number_all_arrive() {
    let results = alone(|| {
        let names = unknown_size(2000).map(|n| std::rc::Rc::<str>::from(format!("input {n}")));
        Map::new()
            .limit(2)
            .reuse(true)
            .pmap(|name: std::rc::Rc<str>| name.to_uppercase(), names)
            .collect::<pprocess::Result<Vec<String>>>()
            .map_err(|error| error.to_string())
    });
    assert_eq!(
        results,
        Ok((0..2000).map(|n| format!("INPUT {n}")).collect::<Vec<_>>())
    );
}

/// A task started after a `pmap` of unknown size comes after all its
/// inputs: its result is at the index after the last input's.
#[test]
fn a_task_started_after_a_pmap_of_unknown_size_comes_after_all_its_inputs() {
    let (index, values) = alone(|| {
        let mut map = Map::new()
            .limit(2)
            .reuse(true)
            .pmap(|n: u64| n, unknown_size(1500));
        let index = map.start(|channel| channel.send(&u64::MAX));
        let values = map
            .collect::<pprocess::Result<Vec<u64>>>()
            .map_err(|error| error.to_string());
        (index, values)
    });
    assert_eq!(index, 1500);
    let mut expected: Vec<u64> = (0..1500).collect();
    expected.push(u64::MAX);
    assert_eq!(values, Ok(expected));
}

/// The address space of this process now, from `/proc/self/status`.
fn address_space_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|line| line.starts_with("VmSize:"))
        .expect("VmSize");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|kib| kib.parse().ok())
        .expect("VmSize in kB");
    kib * 1024
}

/// Without the shared memory for a board (the address space is limited
/// to 400 KiB more than is in use, less than the 512 KiB two rings need),
/// each input gets a process of its own, and every result still arrives
/// in order.
#[test]
fn without_shared_memory_each_input_gets_a_process_of_its_own() {
    let (doubles, pids) = alone(|| {
        let limit = address_space_bytes() + (400 << 10);
        setrlimit(Resource::RLIMIT_AS, limit, limit).expect("RLIMIT_AS");
        let mut next = 0u64;
        let count = std::iter::from_fn(move || {
            next += 1;
            (next <= 1000).then_some(next - 1)
        });
        let results: Vec<(u64, u32)> = Map::new()
            .limit(2)
            .reuse(true)
            .pmap(|n: u64| (n * 2, std::process::id()), count)
            .collect::<pprocess::Result<_>>()
            .expect("every input answered");
        let doubles: Vec<u64> = results.iter().map(|&(double, _)| double).collect();
        let pids: BTreeSet<u32> = results.iter().map(|&(_, pid)| pid).collect();
        (doubles, pids.len())
    });
    assert_eq!(doubles, (0..1000).map(|n| n * 2).collect::<Vec<u64>>());
    assert_eq!(pids, 1000, "a process per input");
}

/// An input iterator is never asked again once it has ended, even one
/// that would give more (as a terminal's lines do after end of file).
#[test]
fn an_input_that_ended_is_not_asked_again() {
    let (results, asked_after_the_end) = alone(|| {
        let asked_after_the_end = std::rc::Rc::new(std::cell::Cell::new(0));
        let counter = std::rc::Rc::clone(&asked_after_the_end);
        let mut n = 0u64;
        let resuming = std::iter::from_fn(move || {
            n += 1;
            match n {
                1..=3 => Some(n - 1),
                4 => None,
                _ => {
                    counter.set(counter.get() + 1);
                    (n <= 7).then_some(100 + n)
                }
            }
        });
        let results: Vec<u64> = Map::new()
            .limit(2)
            .reuse(true)
            .pmap(|n: u64| n, resuming)
            .collect::<pprocess::Result<_>>()
            .expect("every input answered");
        (results, asked_after_the_end.get())
    });
    assert_eq!(results, [0, 1, 2]);
    assert_eq!(asked_after_the_end, 0);
}

/// A process of a `pmap` with reuse that fails is replaced without taking
/// the inputs of a `pmap` given after it: those are still taken only as
/// processes free up.
#[test]
fn replacing_a_failed_process_leaves_a_later_pmaps_inputs_where_they_are() {
    let (results, pulled) = alone(|| {
        let pulled = std::rc::Rc::new(std::cell::Cell::new(0u64));
        let counter = std::rc::Rc::clone(&pulled);
        let later = (0..100_000u64).inspect(move |_| counter.set(counter.get() + 1));
        let results: Vec<Result<u64, String>> = Map::new()
            .limit(1)
            .reuse(true)
            .pmap(
                |n: u64| {
                    if n == 5 {
                        panic!("input 5");
                    }
                    n
                },
                0..100u64,
            )
            .reuse(false)
            .pmap(|n: u64| n + 1000, later)
            .take(105)
            .map(|result| result.map_err(|error| error.to_string()))
            .collect();
        (results, pulled.get())
    });
    for (index, result) in results.iter().enumerate() {
        let index = index as u64;
        match index {
            5 => assert!(
                result
                    .as_ref()
                    .is_err_and(|error| error.contains("input 5"))
            ),
            0..100 => assert_eq!(result, &Ok(index)),
            _ => assert_eq!(result, &Ok(index - 100 + 1000)),
        }
    }
    assert!(
        pulled < 100,
        "{pulled} inputs of the later pmap taken for 5 results"
    );
}

// ---------------------------------------------------------------------------
// A state per process (`pmap_init`) and a task budget (`max_tasks`).

#[test]
fn each_reused_process_makes_its_state_once_in_itself_and_keeps_it() {
    let creator = std::process::id();
    let outcomes = alone(|| {
        Map::new()
            .limit(2)
            .reuse(true)
            .pmap_init(
                || (std::process::id(), 0u32),
                |(made_in, runs): &mut (u32, u32), _: u64| {
                    *runs += 1;
                    (*made_in, std::process::id(), *runs)
                },
                0..200,
            )
            .collect::<pprocess::Result<Vec<_>>>()
            .expect("every result")
    });
    assert_eq!(outcomes.len(), 200);
    let pids: BTreeSet<u32> = outcomes.iter().map(|&(_, pid, _)| pid).collect();
    assert!((1..=2).contains(&pids.len()), "{pids:?}");
    for pid in pids {
        assert_ne!(pid, creator);
        let runs: Vec<u32> = outcomes
            .iter()
            .filter(|&&(made_in, run_in, _)| {
                assert_eq!(made_in, run_in, "the state was made in its own process");
                run_in == pid
            })
            .map(|&(_, _, runs)| runs)
            .collect();
        // One state per process, made once: its count goes 1, 2, 3, ...
        assert_eq!(runs, (1..=runs.len() as u32).collect::<Vec<_>>());
    }
}

#[test]
fn a_process_retires_after_its_task_budget_and_a_new_one_takes_its_place() {
    let outcomes = alone(|| {
        Map::new()
            .limit(2)
            .reuse(true)
            .max_tasks(3)
            .pmap_init(
                || 0u32,
                |runs: &mut u32, input: u64| {
                    *runs += 1;
                    (input, std::process::id(), *runs)
                },
                0..30,
            )
            .collect::<pprocess::Result<Vec<_>>>()
            .expect("every result, none failed by a retiring process")
    });
    let inputs: Vec<u64> = outcomes.iter().map(|&(input, _, _)| input).collect();
    assert_eq!(inputs, (0..30).collect::<Vec<_>>());
    assert!(outcomes.iter().all(|&(_, _, runs)| (1..=3).contains(&runs)));
    let pids: BTreeSet<u32> = outcomes.iter().map(|&(_, pid, _)| pid).collect();
    assert!(pids.len() >= 10, "30 inputs, 3 per process: {pids:?}");
    for pid in &pids {
        let served = outcomes.iter().filter(|&&(_, p, _)| p == *pid).count();
        assert!(served <= 3, "process {pid} ran {served} inputs");
    }
}

// ---------------------------------------------------------------------------
// Random numbers: `rand::rng()` is not reseeded after a fork.

/// One draw from `rand::rng()` in each of two processes forked after the
/// creator drew from it.
fn draws_from_the_creators_generator() -> Vec<u64> {
    use rand::Rng;
    let _ = rand::rng().random::<u64>();
    pprocess::pmap_limit(|_: u8| rand::rng().random::<u64>(), 0..2, 2)
        .collect::<pprocess::Result<_>>()
        .expect("two draws")
}

#[test]
fn processes_forked_after_the_creator_drew_from_rand_rng_draw_the_same_numbers() {
    let draws = alone(draws_from_the_creators_generator);
    assert_eq!(
        draws[0], draws[1],
        "each process continues the creator's stream"
    );
}

#[test]
fn a_generator_seeded_in_each_process_draws_different_numbers() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    let draws = alone(|| {
        let _ = rand::rng().random::<u64>();
        let per_input: Vec<u64> = pprocess::Map::new()
            .limit(2)
            .pmap_init(StdRng::from_os_rng, |rng, _: u8| rng.random::<u64>(), 0..2)
            .collect::<pprocess::Result<_>>()
            .expect("two draws");
        let reused: Vec<u64> = pprocess::Map::new()
            .limit(2)
            .reuse(true)
            .pmap_init(StdRng::from_os_rng, |rng, _: u8| rng.random::<u64>(), 0..50)
            .collect::<pprocess::Result<_>>()
            .expect("fifty draws");
        (per_input, reused)
    });
    assert_ne!(draws.0[0], draws.0[1]);
    let distinct: BTreeSet<u64> = draws.1.iter().copied().collect();
    assert_eq!(distinct.len(), 50, "{:?}", draws.1);
}
