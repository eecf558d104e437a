//! The simple grid computed in parallel with fork-style creation on an
//! exchange: for each cell, [`Exchange::create`] forks a process (waiting
//! while 10 are running). In the created process it returns the channel:
//! the process computes its cell, sends `(i, j, value)` and ends with
//! [`pprocess::exit`]. In the creator it returns `None` and the loop goes on.
//! A [`Handler`] stores each result in the grid as it arrives.
//!
//! Prints the same as `simple` (10 rows of 10 numbers, then
//! `Time taken: <seconds>`), about 10 times faster.
//!
//! ```text
//! cargo run --example simple_create
//! PPROCESS_DELAY=0.1 cargo run --example simple_create    # a fast run
//! ```

use pprocess::{Channel, Exchange, Handler};
use pprocess_examples::{N, calculate, cells, print_grid, print_time_taken};

/// Stores each `(i, j, value)` that arrives into the grid.
struct Grid(Vec<usize>);

impl Handler for Grid {
    fn store_data(&mut self, channel: &mut Channel, _task: usize) -> pprocess::Result<()> {
        let (i, j, value): (usize, usize, usize) = channel.receive()?;
        self.0[i * N + j] = value;
        Ok(())
    }
}

fn main() -> pprocess::Result<()> {
    let start = std::time::Instant::now();
    let mut exchange = Exchange::with_handler(Grid(vec![0; N * N])).limit(10);
    for (i, j) in cells() {
        if let Some(mut channel) = exchange.create()? {
            // In the created process: compute one cell, send it, end here.
            channel.send(&(i, j, calculate(i, j)))?;
            pprocess::exit(channel);
        }
    }
    exchange.finish()?;
    print_grid(&exchange.into_handler().0);
    print_time_taken(start);
    Ok(())
}
