//! The simple grid computed in parallel with fork-style creation on a
//! [`Map`], which keeps the results in the order the processes were
//! created, whatever order they finish in.
//!
//! For each cell, [`Map::create`] forks a process (waiting while 10 are
//! running). In the created process it returns the channel: the process
//! computes its cell, sends the value and ends with [`pprocess::exit`]. In
//! the creator it returns `None` and the loop goes on. Iterating the map
//! then yields the values in creation order: the grid, row by row.
//!
//! Prints `Calculating...`, the grid (10 rows of 10 numbers), then
//! `Time taken: <seconds>`, about 10 times sooner than `simple`.
//!
//! ```text
//! cargo run --example simple_create_map
//! PPROCESS_DELAY=0.1 cargo run --example simple_create_map    # a fast run
//! ```

use pprocess::Map;
use pprocess_examples::{calculate, cells, print_grid, print_time_taken};

fn main() -> pprocess::Result<()> {
    let start = std::time::Instant::now();
    let mut map = Map::new().limit(10);
    println!("Calculating...");
    for (i, j) in cells() {
        if let Some(mut channel) = map.create()? {
            // In the created process: compute one cell, send it, and end
            // here whatever happens (a failed send is this cell's error in
            // the creator).
            let _ = channel.send(&calculate(i, j));
            pprocess::exit(channel);
        }
    }
    // Each result in creation order, as soon as it and those before it
    // arrive.
    let grid: Vec<usize> = map.collect::<pprocess::Result<_>>()?;
    print_grid(&grid);
    print_time_taken(start);
    Ok(())
}
