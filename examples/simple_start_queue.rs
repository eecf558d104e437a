//! The simple grid computed in parallel with thread-style creation on a
//! [`Queue`], as in the original `simple_start_queue`: the plain
//! calculation, made parallel-aware by [`MakeParallel`] (it sends what the
//! function returns), is started with each cell's arguments by
//! [`Queue::start`] (queued while 10 are running). The queue yields the
//! results, `(i, j, value)`, in the order they arrive; each is stored at
//! its place in the grid.
//!
//! Prints `Finishing...`, then the same as `simple` (10 rows of 10
//! numbers, then `Time taken: <seconds>`), about 10 times faster.
//!
//! ```text
//! cargo run --example simple_start_queue
//! PPROCESS_DELAY=0.1 cargo run --example simple_start_queue    # a fast run
//! ```

use pprocess::{Callable, MakeParallel, Queue};
use pprocess_examples::{Grid, calculate, cells, print_time_taken};

/// The plain calculation: cell `(i, j)` with its coordinates.
fn calculate_cell((i, j): (usize, usize)) -> (usize, usize, usize) {
    (i, j, calculate(i, j))
}

fn main() -> pprocess::Result<()> {
    let start = std::time::Instant::now();
    let mut queue: Queue<(usize, usize, usize)> = Queue::new().limit(10);
    let calc = MakeParallel::new(calculate_cell);
    for cell in cells() {
        queue.start(calc.bind(cell));
    }
    println!("Finishing...");
    Grid::collect(queue)?.print();
    print_time_taken(start);
    Ok(())
}
