//! The simple grid computed in parallel into a [`Map`], which keeps the
//! results in the order the tasks were started, whatever order they finish
//! in.
//!
//! The original `simple_create_map` forked with `results.create()` and, in
//! the created process, computed the cell inline, sent it and exited. A
//! `Map` has no `create` (fork-style creation is [`Exchange::create`], see
//! `simple_create`), so here the same inline work is a closure given to
//! [`Map::start`], which runs it in a new process (queued while 10 are
//! running); the process sends its value and ends when the closure returns.
//!
//! Prints the same as `simple` (10 rows of 10 numbers, then
//! `Time taken: <seconds>`), about 10 times faster.
//!
//! ```text
//! cargo run --example simple_create_map
//! PPROCESS_DELAY=0.1 cargo run --example simple_create_map    # a fast run
//! ```
//!
//! [`Exchange::create`]: pprocess::Exchange::create

use pprocess::Map;
use pprocess_examples::{calculate, cells, print_grid, print_time_taken};

fn main() -> pprocess::Result<()> {
    let start = std::time::Instant::now();
    let mut map = Map::new().limit(10);
    for (i, j) in cells() {
        // Runs in the created process: compute one cell and send it.
        map.start(move |channel| channel.send(&calculate(i, j)));
    }
    // Each result in task order, as soon as it and those before it arrive.
    let grid: Vec<usize> = map.collect::<pprocess::Result<_>>()?;
    print_grid(&grid);
    print_time_taken(start);
    Ok(())
}
