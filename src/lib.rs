//! Helpers shared by the example programs: the simulated work of the simple
//! examples and the grid they print.

use std::time::Duration;

/// The top-level README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The side of the grid the simple examples compute.
pub const N: usize = 10;

/// The simulated work time per cell: `PPROCESS_DELAY` seconds, 1 by default.
pub fn delay() -> Duration {
    std::env::var("PPROCESS_DELAY")
        .ok()
        .and_then(|text| text.parse::<f64>().ok())
        .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
        .map_or(Duration::from_secs(1), Duration::from_secs_f64)
}

/// The work of one cell: waits for the delay and returns `i * N + j`.
pub fn calculate(i: usize, j: usize) -> usize {
    std::thread::sleep(delay());
    i * N + j
}

/// Every cell `(i, j)` of the grid, row by row: `(0, 0)`, `(0, 1)`, ...
/// `(N - 1, N - 1)`.
pub fn cells() -> impl Iterator<Item = (usize, usize)> {
    (0..N).flat_map(|i| (0..N).map(move |j| (i, j)))
}

/// Prints the grid as `N` rows of `N` space-separated numbers.
pub fn print_grid(cells: &[usize]) {
    for row in cells.chunks(N) {
        let row: Vec<String> = row.iter().map(ToString::to_string).collect();
        println!("{}", row.join(" "));
    }
}

/// Prints `Time taken: <seconds>` since `start`.
pub fn print_time_taken(start: std::time::Instant) {
    println!("Time taken: {}", start.elapsed().as_secs_f64());
}
