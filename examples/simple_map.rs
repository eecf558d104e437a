//! A sequential version of the simple examples, the original `simple_map`:
//! the grid is Rust's iterator `map` over all `(i, j)` cells, one cell at a
//! time (about 100 s with the default 1 s delay per cell). `simple_pmap`
//! is the same program with `pprocess::pmap_limit` in place of `map`.
//!
//! Prints the grid (10 rows of 10 space-separated numbers, `0 1 ... 9` up to
//! `90 91 ... 99`) and `Time taken: <seconds>`.
//!
//! ```text
//! cargo run --example simple_map
//! PPROCESS_DELAY=0.1 cargo run --example simple_map    # a fast run
//! ```

use pprocess_examples::{calculate, cells, print_grid, print_time_taken};

fn main() {
    let start = std::time::Instant::now();
    let grid: Vec<usize> = cells().map(|(i, j)| calculate(i, j)).collect();
    print_grid(&grid);
    print_time_taken(start);
}
