//! The simple grid computed in parallel with thread-style creation on an
//! exchange: [`Exchange::start`] runs a closure in a new process (queuing it
//! while 10 are running). The closure calls a "parallel-aware" calculation
//! function, which gets the channel and sends `(i, j, value)` itself. A
//! [`Handler`](pprocess::Handler) (the shared [`Grid`]) stores each result
//! in the grid as it arrives.
//!
//! Prints `Calculating...`, `Finishing...`, then the same as `simple` (10
//! rows of 10 numbers, then `Time taken: <seconds>`), about 10 times faster.
//!
//! ```text
//! cargo run --example simple_start
//! PPROCESS_DELAY=0.1 cargo run --example simple_start    # a fast run
//! ```

use pprocess::{Channel, Exchange};
use pprocess_examples::{Grid, calculate, cells, print_time_taken};

/// The parallel-aware calculation: computes cell `(i, j)` and sends it,
/// with its coordinates, to the creator.
fn calculate_and_send(channel: &mut Channel, i: usize, j: usize) -> pprocess::Result<()> {
    channel.send(&(i, j, calculate(i, j)))
}

fn main() -> pprocess::Result<()> {
    let start = std::time::Instant::now();
    let mut exchange = Exchange::with_handler(Grid::default()).limit(10);
    println!("Calculating...");
    for (i, j) in cells() {
        exchange.start(move |channel| calculate_and_send(channel, i, j));
    }
    println!("Finishing...");
    exchange.finish()?;
    exchange.into_handler().print();
    print_time_taken(start);
    Ok(())
}
