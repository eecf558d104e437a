//! The simple grid computed in parallel with fork-style creation on a
//! [`Queue`], which yields the results in the order they arrive; each
//! carries its coordinates, `(i, j, value)`, so it can be stored at its
//! place in the grid.
//!
//! For each cell, [`Queue::create`] forks a process (waiting while 10 are
//! running). In the created process it returns the channel: the process
//! computes its cell, sends `(i, j, value)` and ends with
//! [`pprocess::exit`]. In the creator it returns `None` and the loop goes
//! on. Then the queue is iterated.
//!
//! Prints `Calculating...`, `Finishing...`, the grid (10 rows of 10
//! numbers), then `Time taken: <seconds>`, about 10 times sooner than
//! `simple`.
//!
//! ```text
//! cargo run --example simple_create_queue
//! PPROCESS_DELAY=0.1 cargo run --example simple_create_queue    # a fast run
//! ```

use pprocess::Queue;
use pprocess_examples::{Grid, calculate, cells, print_time_taken};

fn main() -> pprocess::Result<()> {
    let start = std::time::Instant::now();
    let mut queue: Queue<(usize, usize, usize)> = Queue::new().limit(10);
    println!("Calculating...");
    for (i, j) in cells() {
        if let Some(mut channel) = queue.create()? {
            // In the created process: compute one cell, send it, and end
            // here whatever happens (a failed send is this cell's error in
            // the creator).
            let _ = channel.send(&(i, j, calculate(i, j)));
            pprocess::exit(channel);
        }
    }
    println!("Finishing...");
    Grid::collect(queue)?.print();
    print_time_taken(start);
    Ok(())
}
