//! The simple grid computed behind one background process, as in the
//! original `simple_background_queue`: a [`BackgroundCallable`] of
//! [`MakeParallel`] of a task runs the task in a background process
//! listening at an address, and a [`BackgroundQueue`] later connects to it
//! and reads the one message it sends.
//!
//! The task fills the grid itself, with a [`Queue`] of its own (at most 10
//! processes) that [manages](Queue::manage) the calculation of a cell, and
//! returns the whole grid: one message.
//!
//! The background process outlives the program, and keeps its result until
//! someone collects it:
//!
//! - `--start` starts it (at `ADDRESS`), prints
//!   `Discarded the callable.` and exits;
//! - `--reconnect` prints `Opening a queue.`, connects to it, prints
//!   `Waiting for persistent results`, reads the grid and prints it (10
//!   rows of 10 numbers, then `Time taken: <seconds>`);
//! - with neither, it does both in one run.
//!
//! The background process's standard output is `/dev/null`, so the
//! progress lines the task of the original prints are not printed here.
//! `--address ADDRESS` sets where it listens (default:
//! `simple_background_queue` in the user's private directory, see
//! [`private_dir`](pprocess_examples::private_dir)).
//!
//! ```text
//! cargo run --example simple_background_queue -- --start
//! cargo run --example simple_background_queue -- --reconnect
//! PPROCESS_DELAY=0.1 cargo run --example simple_background_queue    # both, fast
//! ```

use std::process::ExitCode;

use pprocess::{BackgroundCallable, BackgroundQueue, MakeParallel, Queue};
use pprocess_examples::{
    Grid, PersistentArgs, calculate, cells, print_grid, print_time_taken, run_persistent,
};

/// The background task: computes the grid in parallel and returns it. A
/// cell that fails makes the task panic, which its collector gets as an
/// error.
fn task(_: ()) -> Vec<usize> {
    let mut queue: Queue<(usize, usize, usize)> = Queue::new().limit(10);
    let mut calc = queue.manage(MakeParallel::new(|(i, j): (usize, usize)| {
        (i, j, calculate(i, j))
    }));
    for cell in cells() {
        calc.call(cell);
    }
    match Grid::collect(queue) {
        Ok(grid) => grid.cells().to_vec(),
        Err(error) => panic!("a cell failed: {error}"),
    }
}

fn run(args: &PersistentArgs) -> pprocess::Result<()> {
    let start = std::time::Instant::now();
    if args.start {
        let ptask = BackgroundCallable::new(&args.address, MakeParallel::new(task));
        ptask.call(())?;
        drop(ptask);
        println!("Discarded the callable.");
    }
    if args.reconnect {
        println!("Opening a queue.");
        let queue = BackgroundQueue::<Vec<usize>>::new(&args.address)?;
        println!("Waiting for persistent results");
        let mut results = None;
        for grid in queue {
            results = Some(grid?); // only one message
        }
        let Some(results) = results else {
            eprintln!("simple_background_queue: the task ended without its results");
            std::process::exit(1);
        };
        print_grid(&results);
        print_time_taken(start);
    }
    Ok(())
}

fn main() -> ExitCode {
    run_persistent("simple_background_queue", run)
}
