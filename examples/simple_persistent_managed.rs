//! The simple grid computed behind one background process started through
//! a persistent exchange, as in the original `simple_persistent_managed`:
//! [`PersistentExchange::manage`] wraps [`MakeParallel`] of a task so that
//! a call starts it in a background process at an address; the exchange is
//! then closed, and a new one [`connect`](PersistentExchange::connect)s to
//! the address and waits for the result.
//!
//! The task computes the grid with an exchange of its own (at most 10
//! processes) whose handler stores each cell as it arrives, and which
//! [manages](pprocess::Exchange::manage) the calculation of a cell; it
//! returns the whole grid, one message, which the new exchange's handler
//! stores.
//!
//! The background process outlives the program, and keeps its result until
//! someone collects it:
//!
//! - `--start` starts it (at `ADDRESS`), closes the exchange, prints
//!   `Closed original exchange.` and exits;
//! - `--reconnect` prints `Opening new exchange.`, connects to it, prints
//!   `Waiting for persistent results`, waits for the grid and prints it
//!   (10 rows of 10 numbers, then `Time taken: <seconds>`);
//! - with neither, it does both in one run. The background process listens
//!   before the call returns, so the connection never comes too early.
//!
//! `--address ADDRESS` sets where it listens (default:
//! `simple_persistent_managed` in the user's private directory, see
//! [`private_dir`](pprocess_examples::private_dir)).
//!
//! ```text
//! cargo run --example simple_persistent_managed -- --start
//! cargo run --example simple_persistent_managed -- --reconnect
//! PPROCESS_DELAY=0.1 cargo run --example simple_persistent_managed    # both, fast
//! ```

use std::process::ExitCode;

use pprocess::{Channel, Exchange, MakeParallel, PersistentExchange};
use pprocess_examples::{
    Grid, PersistentArgs, calculate, cells, print_grid, print_time_taken, run_persistent,
};

/// The background task: computes the grid in parallel and returns it. A
/// cell that fails makes the task panic, which its collector gets as an
/// error.
fn task(_: ()) -> Vec<usize> {
    let mut exchange = Exchange::with_handler(Grid::default()).limit(10);
    let mut calc = exchange.manage(MakeParallel::new(|(i, j): (usize, usize)| {
        (i, j, calculate(i, j))
    }));
    for cell in cells() {
        calc.call(cell);
    }
    if let Err(error) = exchange.finish() {
        panic!("a cell failed: {error}");
    }
    exchange.into_handler().cells().to_vec()
}

fn run(args: &PersistentArgs) -> pprocess::Result<()> {
    let start = std::time::Instant::now();
    if args.start {
        let mut exchange = PersistentExchange::new();
        let mut ptask = exchange.manage(|_: &()| &args.address, MakeParallel::new(task));
        ptask.call(())?;
        drop(exchange);
        println!("Closed original exchange.");
    }
    if args.reconnect {
        println!("Opening new exchange.");
        let mut results = None;
        let mut exchange = PersistentExchange::with_handler(
            |channel: &mut Channel, _task: usize| -> pprocess::Result<()> {
                results = Some(channel.receive::<Vec<usize>>()?);
                Ok(())
            },
        );
        exchange.connect(&args.address)?;
        println!("Waiting for persistent results");
        exchange.finish()?;
        drop(exchange);
        let Some(results) = results else {
            eprintln!("simple_persistent_managed: the task ended without its results");
            std::process::exit(1);
        };
        print_grid(&results);
        print_time_taken(start);
    }
    Ok(())
}

fn main() -> ExitCode {
    run_persistent("simple_persistent_managed", run)
}
