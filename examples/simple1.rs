//! A sequential version of the simple examples, the original `simple1`: two
//! loops compute the 10x10 grid of `i * N + j` one cell at a time, pushing
//! each value onto a list. Each cell has the simulated delay (1 s unless
//! `PPROCESS_DELAY` says otherwise), so it takes about 100 s; the parallel
//! examples compute the same grid with 10 processes at once.
//!
//! Prints `Calculating...`, the grid (10 rows of 10 space-separated
//! numbers, `0 1 ... 9` up to `90 91 ... 99`) and `Time taken: <seconds>`.
//!
//! ```text
//! cargo run --example simple1
//! PPROCESS_DELAY=0.1 cargo run --example simple1    # a fast run
//! ```

use pprocess_examples::{N, calculate, print_grid, print_time_taken};

fn main() {
    let start = std::time::Instant::now();
    let mut grid = Vec::new();
    println!("Calculating...");
    for i in 0..N {
        for j in 0..N {
            grid.push(calculate(i, j));
        }
    }
    print_grid(&grid);
    print_time_taken(start);
}
