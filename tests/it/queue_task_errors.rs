//! A `Queue` yields results in arrival order, so each error names the task
//! it belongs to (issue 18, item 3).

use nix::sys::signal::{Signal, raise};
use pprocess::{Error, MakeReusable, Queue};

/// What task `task` does: tasks 1, 4 and 6 fail, each in its own way.
fn act(task: usize) -> u32 {
    match task {
        1 => panic!("task one refuses"),
        4 => {
            let _ = raise(Signal::SIGKILL);
            unreachable!("SIGKILL ends the process")
        }
        6 => std::process::exit(3),
        _ => task as u32 * 10,
    }
}

/// Checks that `error` is task `task`'s and says so, with the failure that
/// task provoked.
fn assert_names_its_task(error: &Error) {
    let task = error.task().expect("a queue's error names its task");
    assert!(
        error
            .to_string()
            .starts_with(&format!("task {task}: process ")),
        "{error}"
    );
    match (task, error.failure()) {
        (1, Error::Panicked { message, .. }) => assert_eq!(message, "task one refuses"),
        (4, Error::Died { signal: 9, .. }) => {}
        (6, Error::NoResult { code: 3, .. }) => {}
        (other, failure) => panic!("task {other} failed with {failure:?}"),
    }
    assert!(error.pid().is_some(), "the pid is still there: {error:?}");
}

fn check_items(queue: Queue<'_, u32>) {
    let mut values = Vec::new();
    let mut failed = Vec::new();
    for item in queue {
        match item {
            Ok(value) => values.push(value),
            Err(error) => {
                assert_names_its_task(&error);
                failed.push(error.task().unwrap());
            }
        }
    }
    values.sort();
    failed.sort();
    assert_eq!(values, [0, 20, 30, 50, 70]);
    assert_eq!(failed, [1, 4, 6]);
}

#[test]
fn queue_errors_name_the_task_that_failed() {
    let mut queue = Queue::<u32>::new().limit(3);
    for task in 0..8 {
        assert_eq!(queue.start(move |channel| channel.send(&act(task))), task);
    }
    check_items(queue);
}

#[test]
fn reused_queue_errors_name_the_call_that_failed() {
    let mut queue = Queue::<u32>::new().limit(2).reuse(true);
    {
        let mut call = queue.manage(MakeReusable::new(act));
        for task in 0..8 {
            assert_eq!(call.call(task), task);
        }
    }
    check_items(queue);
}

#[test]
fn queue_errors_taken_in_by_store_name_their_task() {
    let mut queue = Queue::<u32>::new();
    let task = queue.start(|_channel| panic!("stored"));
    while queue.unfinished() {
        queue.store(None).unwrap();
    }
    let error = queue.next().unwrap().unwrap_err();
    assert_eq!(error.task(), Some(task));
    assert!(matches!(error.failure(), Error::Panicked { message, .. } if message == "stored"));
}
