//! A sequential version of the simple examples, the original `simple2`: a
//! plain function computes one cell and returns it with its coordinates,
//! `(i, j, value)`, and the loops store each result at its place in the
//! grid. This is the shape of the managed and queue examples
//! (`simple_managed`, `simple_managed_queue`), minus the processes: about
//! 100 s with the default 1 s delay per cell.
//!
//! Prints `Calculating...`, the grid (10 rows of 10 space-separated
//! numbers, `0 1 ... 9` up to `90 91 ... 99`) and `Time taken: <seconds>`.
//!
//! ```text
//! cargo run --example simple2
//! PPROCESS_DELAY=0.1 cargo run --example simple2    # a fast run
//! ```

use pprocess_examples::{N, calculate, print_grid, print_time_taken};

/// Computes cell `(i, j)` and returns it with its coordinates.
fn calculate_cell(i: usize, j: usize) -> (usize, usize, usize) {
    (i, j, calculate(i, j))
}

fn main() {
    let start = std::time::Instant::now();
    let mut grid = vec![0; N * N];
    println!("Calculating...");
    for i in 0..N {
        for j in 0..N {
            let (i, j, value) = calculate_cell(i, j);
            grid[i * N + j] = value;
        }
    }
    print_grid(&grid);
    print_time_taken(start);
}
