//! The simplest parallel program, the original `simple_pmap`: `simple_map`
//! with a parallel map in place of `map`. The `#[pprocess::parallel]`
//! attribute on `cell` generates `cell::pmap_limit` ([`pprocess::pmap_limit`]
//! with `cell` filled in): each `(i, j)` cell is computed in its own
//! process, at most 10 at once, and the results come back in input order.
//!
//! Prints the same as `simple` (10 rows of 10 numbers, then
//! `Time taken: <seconds>`), about 10 times faster.
//!
//! ```text
//! cargo run --example simple_pmap
//! PPROCESS_DELAY=0.1 cargo run --example simple_pmap    # a fast run
//! ```

use pprocess_examples::{calculate, cells, print_grid, print_time_taken};

/// The value of cell `(i, j)`, computed in a created process.
#[pprocess::parallel]
fn cell(i: usize, j: usize) -> usize {
    calculate(i, j)
}

fn main() -> pprocess::Result<()> {
    let start = std::time::Instant::now();
    let grid: Vec<usize> = cell::pmap_limit(cells(), 10).collect::<pprocess::Result<_>>()?;
    print_grid(&grid);
    print_time_taken(start);
    Ok(())
}
