//! The simple grid computed in parallel into a [`Queue`], which yields the
//! results in the order they arrive; each carries its coordinates,
//! `(i, j, value)`, so it can be stored at its place in the grid.
//!
//! The original `simple_create_queue` forked with `queue.create()` and, in
//! the created process, computed the cell inline, sent it and exited. A
//! `Queue` has no `create` (fork-style creation is [`Exchange::create`], see
//! `simple_create`), so here the same inline work is a closure given to
//! [`Queue::start`], which runs it in a new process (queued while 10 are
//! running); the process sends its result and ends when the closure returns.
//!
//! Prints the same as `simple` (10 rows of 10 numbers, then
//! `Time taken: <seconds>`), about 10 times faster.
//!
//! ```text
//! cargo run --example simple_create_queue
//! PPROCESS_DELAY=0.1 cargo run --example simple_create_queue    # a fast run
//! ```
//!
//! [`Exchange::create`]: pprocess::Exchange::create

use pprocess::Queue;
use pprocess_examples::{Grid, calculate, cells, print_time_taken};

fn main() -> pprocess::Result<()> {
    let start = std::time::Instant::now();
    let mut queue: Queue<(usize, usize, usize)> = Queue::new().limit(10);
    for (i, j) in cells() {
        // Runs in the created process: compute one cell and send it.
        queue.start(move |channel| channel.send(&(i, j, calculate(i, j))));
    }
    Grid::collect(queue)?.print();
    print_time_taken(start);
    Ok(())
}
