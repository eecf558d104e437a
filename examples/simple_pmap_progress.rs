//! `simple_pmap` with a progress bar: the map of a `Vec` of cells knows how
//! many results it will yield, so [`Map::exact`](pprocess::Map::exact)
//! makes it an `ExactSizeIterator` and `indicatif`'s `progress()` draws a
//! bar of that length on standard error (only when it is a terminal)
//! while the results arrive.
//!
//! The cells are collected into a `Vec` first: `cells()` is a `flat_map`,
//! which does not say how many items it has, and `exact` would panic.
//!
//! Prints the same as `simple` (10 rows of 10 numbers, then
//! `Time taken: <seconds>`), about 10 times faster.
//!
//! ```text
//! cargo run --example simple_pmap_progress
//! PPROCESS_DELAY=0.1 cargo run --example simple_pmap_progress    # a fast run
//! ```

use indicatif::ProgressIterator;
use pprocess_examples::{calculate, cells, print_grid, print_time_taken};

/// The value of cell `(i, j)`, computed in a created process.
#[pprocess::parallel]
fn cell(i: usize, j: usize) -> usize {
    calculate(i, j)
}

fn main() -> pprocess::Result<()> {
    let start = std::time::Instant::now();
    let inputs: Vec<(usize, usize)> = cells().collect();
    let grid: Vec<usize> = cell::pmap_limit(inputs, 10)
        .exact()
        .progress()
        .collect::<pprocess::Result<_>>()?;
    print_grid(&grid);
    print_time_taken(start);
    Ok(())
}
