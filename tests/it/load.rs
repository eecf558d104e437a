//! Load: 10,000 short tasks through `pmap_limit(.., 2)`, and 200 processes
//! running at once through an `Exchange` with limit 200. Every result is
//! present and correct, no process is left (running or zombie) and no
//! descriptor leaks.
//!
//! Each run happens inside a created process, which has one thread and
//! makes no other process: there, counting its children and its open
//! descriptors is exact, undisturbed by the other tests of this binary.

use crate::hardening;

use std::io::{Read, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};

use hardening::{HANG_GUARD, open_descriptors, own_children};
use pprocess::{Channel, Exchange};

/// What a run reports from its created process.
type Report = (
    Vec<String>, // problems found
    usize,       // descriptors before
    usize,       // descriptors after
    Vec<i32>,    // children left
);

fn run_isolated(run: fn(&mut Vec<String>)) -> Report {
    let mut channel = pprocess::start(move |channel: &mut Channel| {
        let before = open_descriptors();
        let mut problems = Vec::new();
        run(&mut problems);
        let after = open_descriptors();
        channel.send(&(problems, before, after, own_children()))
    })
    .expect("starting the isolated run");
    let report: Report = channel.receive().expect("the run's report");
    assert!(channel.wait().unwrap().success());
    report
}

fn check(report: Report) {
    let (problems, before, after, children) = report;
    assert_eq!(problems, [""; 0], "problems");
    assert_eq!(after, before, "descriptors leaked");
    assert_eq!(
        children, [0; 0],
        "processes left behind (running or zombie)"
    );
}

#[test]
fn ten_thousand_short_tasks_through_pmap_limit_2_all_arrive_correct_in_order() {
    check(run_isolated(|problems| {
        const TASKS: u64 = 10_000;
        let mut count = 0;
        for (index, result) in (0..TASKS).zip(pprocess::pmap_limit(|n: u64| n * n + 1, 0..TASKS, 2))
        {
            count += 1;
            match result {
                Ok(value) if value == index * index + 1 => {}
                other => problems.push(format!("index {index}: {other:?}")),
            }
        }
        if count != TASKS {
            problems.push(format!("{count} results for {TASKS} tasks"));
        }
    }));
}

#[test]
fn two_hundred_processes_run_at_once_through_an_exchange_with_limit_200() {
    check(run_isolated(|problems| {
        const PROCESSES: usize = 200;
        // Each process says it runs, then waits at the gate until all of
        // them run: only then does the test open it.
        let (running_test, running_task) = UnixDatagram::pair().expect("a socketpair");
        running_test.set_read_timeout(Some(HANG_GUARD)).unwrap();
        let (gate_open, gate_wait) = UnixStream::pair().expect("a socketpair");
        gate_wait.set_read_timeout(Some(HANG_GUARD)).unwrap();
        let (running_task, gate_wait) = (&running_task, &gate_wait);

        let mut results = vec![None; PROCESSES];
        let mut exchange = Exchange::with_handler(|channel: &mut Channel, task: usize| {
            let (index, pid): (usize, i32) = channel.receive()?;
            results[task] = Some((index, pid == channel.pid()));
            Ok(())
        })
        .limit(PROCESSES);
        for index in 0..PROCESSES {
            exchange.start(move |channel| {
                running_task.send(&[1]).expect("saying it runs");
                let mut byte = [0u8];
                (&*gate_wait).read_exact(&mut byte).expect("the gate");
                channel.send(&(index, std::process::id() as i32))
            });
        }
        let mut running = 0;
        let mut byte = [0u8];
        while running < PROCESSES {
            match running_test.recv(&mut byte) {
                Ok(1) => running += 1,
                other => {
                    problems.push(format!("{running} processes ran, then {other:?}"));
                    return;
                }
            }
        }
        if exchange.active().len() != PROCESSES {
            problems.push(format!("{} active channels", exchange.active().len()));
        }
        (&gate_open)
            .write_all(&[1; PROCESSES])
            .expect("opening the gate");
        if let Err(error) = exchange.finish() {
            problems.push(format!("finish: {error}"));
        }
        drop(exchange);
        for (task, result) in results.into_iter().enumerate() {
            if result != Some((task, true)) {
                problems.push(format!("task {task}: {result:?}"));
            }
        }
    }));
}
