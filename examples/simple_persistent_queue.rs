//! The simple grid computed by ten background processes, as in the
//! original `simple_persistent_queue`: each row is a
//! [`BackgroundCallable`] of the same [`MakeParallel`] task, called with
//! the row's number and listening at an address of its own; a
//! [`PersistentQueue`] later [`connect`](PersistentQueue::connect)s to all
//! ten and yields each row as it arrives.
//!
//! The task computes its row with a [`Queue`] of its own (at most 2
//! processes) that [manages](Queue::manage) the calculation of a cell, and
//! returns `(i, row)`: one message.
//!
//! The background processes outlive the program, and keep their results
//! until someone collects them:
//!
//! - `--start` starts them (at `ADDRESS-0` to `ADDRESS-9`), prints
//!   `Discarded the callable.` and exits;
//! - `--reconnect` prints `Opening a queue.`, connects to them, prints
//!   `Waiting for persistent results`, collects the rows and prints the
//!   grid (10 rows of 10 numbers, then `Time taken: <seconds>`);
//! - with neither, it does both in one run.
//!
//! The background processes' standard output is `/dev/null`, so the
//! progress lines the task of the original prints are not printed here.
//! `--address ADDRESS` sets where they listen (default:
//! `simple_persistent_queue` in the user's private directory, see
//! [`private_dir`](pprocess_examples::private_dir)).
//!
//! ```text
//! cargo run --example simple_persistent_queue -- --start
//! cargo run --example simple_persistent_queue -- --reconnect
//! PPROCESS_DELAY=0.1 cargo run --example simple_persistent_queue    # both, fast
//! ```

use std::process::ExitCode;

use pprocess::{BackgroundCallable, MakeParallel, PersistentQueue, Queue};
use pprocess_examples::{
    N, PersistentArgs, calculate, print_grid, print_time_taken, run_persistent,
};

/// The background task of row `i`: computes its cells in parallel and
/// returns them with the row's number. A cell that fails makes the task
/// panic, which its collector gets as an error.
fn task(i: usize) -> (usize, Vec<usize>) {
    let mut queue: Queue<(usize, usize)> = Queue::new().limit(2);
    let mut calc = queue.manage(MakeParallel::new(|(i, j): (usize, usize)| {
        (j, calculate(i, j))
    }));
    for j in 0..N {
        calc.call((i, j));
    }
    let mut row = vec![0; N];
    for cell in queue {
        match cell {
            Ok((j, value)) => row[j] = value,
            Err(error) => panic!("a cell failed: {error}"),
        }
    }
    (i, row)
}

fn run(args: &PersistentArgs) -> pprocess::Result<()> {
    let start = std::time::Instant::now();
    if args.start {
        let ptask = MakeParallel::new(task);
        for i in 0..N {
            // A distinct callable for each part of the computation.
            BackgroundCallable::new(args.address_of(i), ptask).call(i)?;
        }
        println!("Discarded the callable.");
    }
    if args.reconnect {
        println!("Opening a queue.");
        let mut queue = PersistentQueue::<(usize, Vec<usize>)>::new();
        for i in 0..N {
            queue.connect(args.address_of(i))?;
        }
        println!("Waiting for persistent results");
        let mut rows = vec![Vec::new(); N];
        for result in queue {
            let (i, row) = result?;
            rows[i] = row;
        }
        if rows.iter().any(|row| row.len() != N) {
            eprintln!("simple_persistent_queue: some rows never arrived");
            std::process::exit(1);
        }
        print_grid(&rows.concat());
        print_time_taken(start);
    }
    Ok(())
}

fn main() -> ExitCode {
    run_persistent("simple_persistent_queue", run)
}
