//! The simple grid computed in parallel with a managed callable on a
//! [`Queue`], as in the original `simple_managed_queue`: the
//! `#[pprocess::parallel]` attribute on `cell`, a plain function returning
//! `(i, j, value)`, generates `cell::parallel()`, its `MakeParallel`
//! wrapper, which runs `cell` and sends its result, and [`Queue::manage`]
//! binds it to the queue, so each `call` starts it in a new process (queued
//! while 10 are running). The queue yields the results in the order they
//! arrive; each is stored at its place in the grid.
//!
//! Prints `Calculating...`, `Finishing...`, then the same as `simple` (10
//! rows of 10 numbers, then `Time taken: <seconds>`), about 10 times faster.
//!
//! ```text
//! cargo run --example simple_managed_queue
//! PPROCESS_DELAY=0.1 cargo run --example simple_managed_queue    # a fast run
//! ```

use pprocess::Queue;
use pprocess_examples::{Grid, calculate, cells, print_time_taken};

/// Cell `(i, j)` with its coordinates, computed in a created process.
#[pprocess::parallel]
fn cell(i: usize, j: usize) -> (usize, usize, usize) {
    (i, j, calculate(i, j))
}

fn main() -> pprocess::Result<()> {
    let start = std::time::Instant::now();
    let mut queue: Queue<(usize, usize, usize)> = Queue::new().limit(10);
    let mut calc = queue.manage(cell::parallel());
    println!("Calculating...");
    for input in cells() {
        calc.call(input);
    }
    println!("Finishing...");
    Grid::collect(queue)?.print();
    print_time_taken(start);
    Ok(())
}
