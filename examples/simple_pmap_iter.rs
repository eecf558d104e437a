//! `simple_pmap`, consuming the results as they come, as in the original
//! `simple_pmap_iter`. As there, `#[pprocess::parallel]` on `cell`
//! generates `cell::pmap_limit` ([`pprocess::pmap_limit`] with `cell`
//! filled in). The [`Map`](pprocess::Map) it returns is an iterator that
//! yields each result as soon as it and all before it have arrived, so each
//! row of the grid is printed as soon as its 10 cells are done, while later
//! rows are still being computed.
//!
//! Prints the same as `simple` (10 rows of 10 numbers, then
//! `Time taken: <seconds>`), about 10 times faster.
//!
//! ```text
//! cargo run --example simple_pmap_iter
//! PPROCESS_DELAY=0.1 cargo run --example simple_pmap_iter    # a fast run
//! ```

use pprocess_examples::{N, calculate, cells, print_grid, print_time_taken};

/// The value of cell `(i, j)`, computed in a created process.
#[pprocess::parallel]
fn cell(i: usize, j: usize) -> usize {
    calculate(i, j)
}

fn main() -> pprocess::Result<()> {
    let start = std::time::Instant::now();
    let results = cell::pmap_limit(cells(), 10);
    let mut row = Vec::with_capacity(N);
    for result in results {
        row.push(result?);
        if row.len() == N {
            print_grid(&row);
            row.clear();
        }
    }
    print_time_taken(start);
    Ok(())
}
