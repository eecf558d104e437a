//! The sequential version of the simple examples: computes the 10x10 grid of
//! `i * N + j` one cell at a time, with the simulated delay of each cell
//! (1 s unless `PPROCESS_DELAY` says otherwise), so it takes about 100 s.
//! The parallel examples (`simple_create`, `simple_start`, ...) compute the
//! same grid with 10 processes at once.
//!
//! Prints `Calculating...`, the grid (10 rows of 10 space-separated
//! numbers, `0 1 ... 9` up to `90 91 ... 99`) and `Time taken: <seconds>`.
//!
//! ```text
//! cargo run --example simple
//! PPROCESS_DELAY=0.1 cargo run --example simple    # a fast run
//! ```

use pprocess_examples::{N, calculate, print_grid, print_time_taken};

fn main() {
    let start = std::time::Instant::now();
    let mut grid = vec![0; N * N];
    println!("Calculating...");
    for i in 0..N {
        for j in 0..N {
            grid[i * N + j] = calculate(i, j);
        }
    }
    print_grid(&grid);
    print_time_taken(start);
}
