//! `simple_managed_map` with reused processes, as in the original
//! `simple_managed_map_reusable`: `#[pprocess::reusable]` (in place of
//! `#[pprocess::parallel]`) generates `cell::reusable()`, the function's
//! `MakeReusable` wrapper, and with a [`Map`] made with `reuse(true)` it
//! creates only 10 processes; each receives the next cell's `(i, j)` when
//! it has sent its previous result, instead of a new process being forked
//! per cell. The results still come back in the order of the calls.
//!
//! Prints `Calculating...`, then the same as `simple` (10 rows of 10
//! numbers, then `Time taken: <seconds>`), about 10 times faster.
//!
//! ```text
//! cargo run --example simple_managed_map_reusable
//! PPROCESS_DELAY=0.1 cargo run --example simple_managed_map_reusable    # a fast run
//! ```

use pprocess::Map;
use pprocess_examples::{calculate, cells, print_grid, print_time_taken};

/// The value of cell `(i, j)`, computed in a reused process that receives
/// `(i, j)` over its channel.
#[pprocess::reusable]
fn cell(i: usize, j: usize) -> usize {
    calculate(i, j)
}

fn main() -> pprocess::Result<()> {
    let start = std::time::Instant::now();
    let mut map = Map::new().limit(10).reuse(true);
    let mut calc = map.manage(cell::reusable());
    println!("Calculating...");
    for input in cells() {
        calc.call(input);
    }
    let grid: Vec<usize> = map.collect::<pprocess::Result<_>>()?;
    print_grid(&grid);
    print_time_taken(start);
    Ok(())
}
