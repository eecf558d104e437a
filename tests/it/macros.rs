//! `#[parallel]` and `#[reusable]` functions through every entry point of
//! the runtime: `start` with a bound wrapper, the `manage` of an
//! `Exchange`, a `Map` and a `Queue`, the generated `pmap`, `pmap_limit`,
//! `pmap_reused` and `pmap_reused_limit`, and reused processes with the
//! `MakeReusable` wrapper.
//!
//! The test harness runs tests as threads of one process: no test counts
//! the children of the process; the one that checks reuse counts the pids
//! its own results report.

use std::collections::{BTreeMap, BTreeSet};

use pprocess::{Callable, Channel, Error, Exchange, Map, Queue};
use serde::{Deserialize, Serialize};

/// The cell of the simple examples' grid (without their delay).
#[pprocess::parallel]
fn calculate(i: u32, j: u32) -> u32 {
    i * 10 + j
}

/// The same cell, with the pid of the process that computed it.
#[pprocess::reusable]
fn calculate_where(i: u32, j: u32) -> (u32, u32) {
    (i * 10 + j, std::process::id())
}

/// One argument: the inputs are bare values.
#[pprocess::reusable]
fn square(n: u64) -> u64 {
    n * n
}

/// A task's own failure, sent back as a value.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum DivisionError {
    ByZero { dividend: u32 },
}

#[pprocess::parallel]
fn divide(dividend: u32, divisor: u32) -> Result<u32, DivisionError> {
    dividend
        .checked_div(divisor)
        .ok_or(DivisionError::ByZero { dividend })
}

#[pprocess::parallel]
fn fragile(n: u32) -> u32 {
    assert!(n != 1, "one is not allowed");
    n
}

/// The inputs of a 3x4 grid, row by row.
fn pairs() -> Vec<(u32, u32)> {
    (0..3).flat_map(|i| (0..4).map(move |j| (i, j))).collect()
}

/// The grid's cells, row by row.
fn cells() -> Vec<u32> {
    pairs().into_iter().map(|(i, j)| calculate(i, j)).collect()
}

#[test]
fn an_attributed_function_stays_a_plain_function() {
    assert_eq!(calculate(1, 2), 12);
    assert_eq!(square(7), 49);
    assert_eq!(divide(1, 0), Err(DivisionError::ByZero { dividend: 1 }));
}

#[test]
fn start_runs_a_bound_wrapper_in_a_new_process() {
    let mut channel = pprocess::start(calculate::parallel().bind((4, 2))).unwrap();
    assert_eq!(channel.receive::<u32>().unwrap(), 42);

    // Outside a reusing exchange, the reusable wrapper runs one call.
    let mut channel = pprocess::start(calculate_where::reusable().bind((1, 1))).unwrap();
    let (cell, pid) = channel.receive::<(u32, u32)>().unwrap();
    assert_eq!(cell, 11);
    assert_ne!(pid, std::process::id());
}

#[test]
fn exchange_manage_runs_the_wrapper_once_per_call() {
    let mut received = BTreeMap::new();
    let mut exchange = Exchange::with_handler(|channel: &mut Channel, task: usize| {
        received.insert(task, channel.receive::<u32>()?);
        Ok(())
    })
    .limit(3);
    let mut call = exchange.manage(calculate::parallel());
    let tasks: Vec<usize> = pairs().into_iter().map(|pair| call.call(pair)).collect();
    exchange.finish().unwrap();
    drop(exchange);
    let by_call: Vec<u32> = tasks.iter().map(|task| received[task]).collect();
    assert_eq!(by_call, cells());
}

#[test]
fn map_manage_yields_the_results_in_call_order() {
    let mut map = Map::new().limit(3);
    let mut call = map.manage(calculate::parallel());
    for pair in pairs() {
        call.call(pair);
    }
    let results: Vec<u32> = map.collect::<pprocess::Result<_>>().unwrap();
    assert_eq!(results, cells());
}

#[test]
fn queue_manage_yields_every_result() {
    let mut queue = Queue::new().limit(3);
    let mut call = queue.manage(calculate::parallel());
    for pair in pairs() {
        call.call(pair);
    }
    let mut results: Vec<u32> = queue.collect::<pprocess::Result<_>>().unwrap();
    results.sort_unstable();
    assert_eq!(results, cells());
}

#[test]
fn generated_pmap_yields_the_results_in_input_order() {
    let results: Vec<u32> = calculate::pmap(pairs())
        .collect::<pprocess::Result<_>>()
        .unwrap();
    assert_eq!(results, cells());

    let squares: Vec<u64> = square::pmap(0..6).collect::<pprocess::Result<_>>().unwrap();
    assert_eq!(squares, [0, 1, 4, 9, 16, 25]);
}

#[test]
fn generated_pmap_limit_yields_the_results_in_input_order() {
    for limit in [1, 2, 5] {
        let results: Vec<u32> = calculate::pmap_limit(pairs(), limit)
            .collect::<pprocess::Result<_>>()
            .unwrap();
        assert_eq!(results, cells(), "limit {limit}");
    }
}

#[test]
fn generated_pmap_reused_limit_takes_every_input_in_at_most_limit_processes() {
    for limit in [1, 2] {
        let results: Vec<(u32, u32)> = calculate_where::pmap_reused_limit(pairs(), limit)
            .collect::<pprocess::Result<_>>()
            .unwrap();
        let values: Vec<u32> = results.iter().map(|result| result.0).collect();
        assert_eq!(values, cells(), "limit {limit}");
        let pids: BTreeSet<u32> = results.iter().map(|result| result.1).collect();
        assert!(pids.len() <= limit, "limit {limit}: {pids:?}");
        assert!(!pids.contains(&std::process::id()));
    }
}

#[test]
fn generated_pmap_reused_yields_the_results_in_input_order_and_each_failure_at_its_index() {
    let squares: Vec<u64> = square::pmap_reused(0..1000)
        .collect::<pprocess::Result<_>>()
        .unwrap();
    assert_eq!(squares, (0..1000u64).map(|n| n * n).collect::<Vec<_>>());

    let results: Vec<pprocess::Result<u32>> = fragile::pmap_reused([0, 1, 2]).collect();
    assert_eq!(results[0].as_ref().ok(), Some(&0));
    assert!(
        matches!(&results[1], Err(Error::Panicked { .. })),
        "{:?}",
        results[1]
    );
    assert_eq!(results[2].as_ref().ok(), Some(&2));
}

#[test]
fn reusable_wrapper_on_a_reusing_map_answers_with_at_most_limit_processes() {
    let mut map = Map::new().limit(2).reuse(true);
    let mut call = map.manage(calculate_where::reusable());
    for pair in pairs() {
        call.call(pair);
    }
    let results: Vec<(u32, u32)> = map.collect::<pprocess::Result<_>>().unwrap();
    let values: Vec<u32> = results.iter().map(|result| result.0).collect();
    assert_eq!(values, cells());
    let pids: BTreeSet<u32> = results.iter().map(|result| result.1).collect();
    assert!(
        pids.len() <= 2,
        "{} processes answered {} calls with limit 2: {pids:?}",
        pids.len(),
        results.len()
    );
    assert!(!pids.contains(&std::process::id()));
}

#[test]
fn reusable_wrapper_serves_reusing_queues_and_exchanges() {
    let mut queue = Queue::new().limit(2).reuse(true);
    let mut call = queue.manage(square::reusable());
    for n in 0..8 {
        call.call(n);
    }
    let mut squares: Vec<u64> = queue.collect::<pprocess::Result<_>>().unwrap();
    squares.sort_unstable();
    assert_eq!(squares, [0, 1, 4, 9, 16, 25, 36, 49]);

    let mut pids = BTreeSet::new();
    let mut exchange = Exchange::with_handler(|channel: &mut Channel, _task: usize| {
        pids.insert(channel.receive::<(u32, u32)>()?.1);
        Ok(())
    })
    .limit(2)
    .reuse(true);
    let mut call = exchange.manage(calculate_where::reusable());
    for pair in pairs() {
        call.call(pair);
    }
    exchange.finish().unwrap();
    drop(exchange);
    assert!((1..=2).contains(&pids.len()), "{pids:?}");
}

#[test]
fn a_function_returning_result_sends_the_whole_result() {
    let mut results = divide::pmap([(10, 2), (1, 0)]);
    assert_eq!(results.next().unwrap().unwrap(), Ok(5));
    assert_eq!(
        results.next().unwrap().unwrap(),
        Err(DivisionError::ByZero { dividend: 1 })
    );
    assert!(results.next().is_none());

    let mut channel = pprocess::start(divide::parallel().bind((7, 0))).unwrap();
    assert_eq!(
        channel.receive::<Result<u32, DivisionError>>().unwrap(),
        Err(DivisionError::ByZero { dividend: 7 })
    );
}

#[test]
fn a_panicking_function_is_an_error_at_its_own_index() {
    let results: Vec<pprocess::Result<u32>> = fragile::pmap([0, 1, 2]).collect();
    assert_eq!(results[0].as_ref().ok(), Some(&0));
    match &results[1] {
        Err(Error::Panicked { message, .. }) => assert!(message.contains("one is not allowed")),
        other => panic!("expected a panic at index 1, got {other:?}"),
    }
    assert_eq!(results[2].as_ref().ok(), Some(&2));
}
