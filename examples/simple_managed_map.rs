//! The simple grid computed in parallel with a managed callable on a
//! [`Map`], as in the original `simple_managed_map`: the
//! `#[pprocess::parallel]` attribute on `cell` generates `cell::parallel()`,
//! its `MakeParallel` wrapper, which runs `cell` and sends its result, and
//! [`Map::manage`] binds it to the map, so each `call` starts it in a new
//! process (queued while 10 are running). Iterating the map then gives the
//! results in the order of the calls.
//!
//! Prints `Calculating...`, then the same as `simple` (10 rows of 10
//! numbers, then `Time taken: <seconds>`), about 10 times faster.
//!
//! ```text
//! cargo run --example simple_managed_map
//! PPROCESS_DELAY=0.1 cargo run --example simple_managed_map    # a fast run
//! ```

use pprocess::Map;
use pprocess_examples::{calculate, cells, print_grid, print_time_taken};

/// The value of cell `(i, j)`, computed in a created process.
#[pprocess::parallel]
fn cell(i: usize, j: usize) -> usize {
    calculate(i, j)
}

fn main() -> pprocess::Result<()> {
    let start = std::time::Instant::now();
    let mut map = Map::new().limit(10);
    let mut calc = map.manage(cell::parallel());
    println!("Calculating...");
    for input in cells() {
        calc.call(input);
    }
    let grid: Vec<usize> = map.collect::<pprocess::Result<_>>()?;
    print_grid(&grid);
    print_time_taken(start);
    Ok(())
}
