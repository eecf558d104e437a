//! The simple grid computed in parallel with a managed callable on an
//! exchange, as in the original `simple_managed`: [`MakeParallel::new`]
//! turns a closure returning `(i, j, value)` into a callable that sends its
//! result, and [`Exchange::manage`] binds it to the exchange, so each `call`
//! starts it in a new process (queued while 10 are running). A [`Handler`]
//! stores each result in the grid as it arrives.
//!
//! This example shows the closure form, which needs no attribute. The other
//! managed examples (`simple_managed_map`, `simple_managed_queue`,
//! `simple_managed_map_reusable`) put `#[pprocess::parallel]` or
//! `#[pprocess::reusable]` on a plain function instead and use the wrapper
//! it generates, such as `cell::parallel()`.
//!
//! Prints `Calculating...`, `Finishing...`, then the same as `simple` (10
//! rows of 10 numbers, then `Time taken: <seconds>`), about 10 times faster.
//!
//! ```text
//! cargo run --example simple_managed
//! PPROCESS_DELAY=0.1 cargo run --example simple_managed    # a fast run
//! ```

use pprocess::{Exchange, MakeParallel};
use pprocess_examples::{Grid, calculate, cells, print_time_taken};

fn main() -> pprocess::Result<()> {
    let start = std::time::Instant::now();
    let mut exchange = Exchange::with_handler(Grid::default()).limit(10);
    let mut calc = exchange.manage(MakeParallel::new(|(i, j): (usize, usize)| {
        (i, j, calculate(i, j))
    }));
    println!("Calculating...");
    for cell in cells() {
        calc.call(cell);
    }
    println!("Finishing...");
    exchange.finish()?;
    exchange.into_handler().print();
    print_time_taken(start);
    Ok(())
}
