//! `simple_managed_map` with reused processes, as in the original
//! `simple_managed_map_reusable`: [`MakeReusable`] (in place of
//! `MakeParallel`) and a [`Map`] made with `reuse(true)` create only 10
//! processes; each receives the next cell's `(i, j)` when it has sent its
//! previous result, instead of a new process being forked per cell. The
//! results still come back in the order of the calls.
//!
//! Prints the same as `simple` (10 rows of 10 numbers, then
//! `Time taken: <seconds>`), about 10 times faster.
//!
//! ```text
//! cargo run --example simple_managed_map_reusable
//! PPROCESS_DELAY=0.1 cargo run --example simple_managed_map_reusable    # a fast run
//! ```

use pprocess::{MakeReusable, Map};
use pprocess_examples::{calculate, cells, print_grid, print_time_taken};

fn main() -> pprocess::Result<()> {
    let start = std::time::Instant::now();
    let mut map = Map::new().limit(10).reuse(true);
    let mut calc = map.manage(MakeReusable::new(|(i, j): (usize, usize)| calculate(i, j)));
    for cell in cells() {
        calc.call(cell);
    }
    let grid: Vec<usize> = map.collect::<pprocess::Result<_>>()?;
    print_grid(&grid);
    print_time_taken(start);
    Ok(())
}
