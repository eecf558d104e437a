//! The simple grid computed in parallel with thread-style creation on a
//! [`Queue`], as in the original `simple_start_queue`: [`Queue::start`]
//! runs a closure in a new process (queued while 10 are running). The
//! closure calls a "parallel-aware" calculation function, which gets the
//! channel and sends `(i, j, value)` itself. The queue yields the results in
//! the order they arrive; each is stored at its place in the grid.
//!
//! Prints the same as `simple` (10 rows of 10 numbers, then
//! `Time taken: <seconds>`), about 10 times faster.
//!
//! ```text
//! cargo run --example simple_start_queue
//! PPROCESS_DELAY=0.1 cargo run --example simple_start_queue    # a fast run
//! ```

use pprocess::{Channel, Queue};
use pprocess_examples::{Grid, calculate, cells, print_time_taken};

/// The parallel-aware calculation: computes cell `(i, j)` and sends it,
/// with its coordinates, to the creator.
fn calculate_and_send(channel: &mut Channel, i: usize, j: usize) -> pprocess::Result<()> {
    channel.send(&(i, j, calculate(i, j)))
}

fn main() -> pprocess::Result<()> {
    let start = std::time::Instant::now();
    let mut queue: Queue<(usize, usize, usize)> = Queue::new().limit(10);
    for (i, j) in cells() {
        queue.start(move |channel| calculate_and_send(channel, i, j));
    }
    Grid::collect(queue)?.print();
    print_time_taken(start);
    Ok(())
}
