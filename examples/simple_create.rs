//! The simple grid computed in parallel with fork-style creation on an
//! exchange: for each cell, [`Exchange::create`] forks a process (waiting
//! while 10 are running). In the created process it returns the channel:
//! the process computes its cell, sends `(i, j, value)` and ends with
//! [`pprocess::exit`]. In the creator it returns `None` and the loop goes on.
//! A [`Handler`](pprocess::Handler) (the shared [`Grid`]) stores each result in the grid as it arrives.
//!
//! Prints `Calculating...`, `Finishing...`, then the same as `simple` (10
//! rows of 10 numbers, then `Time taken: <seconds>`), about 10 times faster.
//!
//! ```text
//! cargo run --example simple_create
//! PPROCESS_DELAY=0.1 cargo run --example simple_create    # a fast run
//! ```

use pprocess::Exchange;
use pprocess_examples::{Grid, calculate, cells, print_time_taken};

fn main() -> pprocess::Result<()> {
    let start = std::time::Instant::now();
    let mut exchange = Exchange::with_handler(Grid::default()).limit(10);
    println!("Calculating...");
    for (i, j) in cells() {
        if let Some(mut channel) = exchange.create()? {
            // In the created process: compute one cell, send it, and end
            // here whatever happens (a failed send is this cell's error in
            // the creator).
            let _ = channel.send(&(i, j, calculate(i, j)));
            pprocess::exit(channel);
        }
    }
    println!("Finishing...");
    exchange.finish()?;
    exchange.into_handler().print();
    print_time_taken(start);
    Ok(())
}
