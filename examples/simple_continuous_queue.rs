//! The simple grid computed by continuous processes, as in the original
//! `simple_continuous_queue`: a [`Queue`] made with `continuous(true)`
//! lets each process send any number of messages. The row function, which
//! takes the channel and a row number, is [managed](Queue::manage) by the
//! queue, and each call of the managed callable starts it on one row in a
//! new process. Each process computes its 10 cells in turn and sends each
//! as `(i, j, value)` as soon as it is done; the queue yields every message
//! as it arrives, and each is stored at its place in the grid.
//!
//! Prints `Calculating...`, `Finishing...`, then the same as `simple` (10
//! rows of 10 numbers, then `Time taken: <seconds>`), about 10 times
//! faster (10 rows at once, each taking 10 delays).
//!
//! ```text
//! cargo run --example simple_continuous_queue
//! PPROCESS_DELAY=0.1 cargo run --example simple_continuous_queue    # a fast run
//! ```

use pprocess::{Channel, Queue};
use pprocess_examples::{Grid, N, calculate, print_time_taken};

/// Computes row `i`, sending each cell with its coordinates as it is done.
fn calculate_row(channel: &mut Channel, i: usize) -> pprocess::Result<()> {
    for j in 0..N {
        channel.send(&(i, j, calculate(i, j)))?;
    }
    Ok(())
}

fn main() -> pprocess::Result<()> {
    let start = std::time::Instant::now();
    let mut queue: Queue<(usize, usize, usize)> = Queue::new().limit(10).continuous(true);
    let mut calc = queue.manage(calculate_row);
    println!("Calculating...");
    for i in 0..N {
        calc.call(i);
    }
    println!("Finishing...");
    Grid::collect(queue)?.print();
    print_time_taken(start);
    Ok(())
}
