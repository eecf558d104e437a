//! The simple grid computed by background processes, as in the original
//! `simple_persistent_managed`: [`PersistentExchange::manage`] wraps a
//! plain function (made parallel-aware by [`MakeParallel`]) so that each
//! call starts it in a background process listening at its own address.
//! Each of the 10 processes computes one row and sends it; a [`Handler`]
//! stores each row in the grid as it arrives.
//!
//! The background processes outlive the program, and keep their results
//! until someone collects them:
//!
//! - `--start` starts them (at `ADDRESS-0` to `ADDRESS-9`) and exits;
//! - `--reconnect` connects to them, collects the rows, and prints the
//!   grid (10 rows of 10 numbers, then `Time taken: <seconds>`);
//! - with neither, it does both in one run.
//!
//! `--address ADDRESS` sets where they listen (default:
//! `pprocess-simple_persistent_managed` in the user's private
//! directory, see `pprocess_examples::private_directory`).
//!
//! ```text
//! cargo run --example simple_persistent_managed -- --start
//! cargo run --example simple_persistent_managed -- --reconnect
//! PPROCESS_DELAY=0.1 cargo run --example simple_persistent_managed    # both, fast
//! ```

use std::process::ExitCode;

use pprocess::{Channel, Handler, MakeParallel, PersistentExchange};
use pprocess_examples::{N, PersistentArgs, calculate, print_grid, print_time_taken};

/// Stores each `(i, row)` that arrives into the grid, counting the rows.
struct Grid {
    cells: Vec<usize>,
    rows: usize,
}

impl Handler for Grid {
    fn store_data(&mut self, channel: &mut Channel, _task: usize) -> pprocess::Result<()> {
        let (i, row): (usize, Vec<usize>) = channel.receive()?;
        self.cells[i * N..(i + 1) * N].copy_from_slice(&row);
        self.rows += 1;
        Ok(())
    }
}

/// The work of one background process: row `i` of the grid.
fn calculate_row(i: usize) -> (usize, Vec<usize>) {
    (i, (0..N).map(|j| calculate(i, j)).collect())
}

fn run(args: &PersistentArgs) -> pprocess::Result<()> {
    let start = std::time::Instant::now();
    let mut exchange = PersistentExchange::with_handler(Grid {
        cells: vec![0; N * N],
        rows: 0,
    });
    if args.start {
        let mut calc = exchange.manage(
            |&i: &usize| args.address_of(i),
            MakeParallel::new(calculate_row),
        );
        for i in 0..N {
            calc.call(i)?;
        }
    } else {
        for i in 0..N {
            exchange.connect(args.address_of(i))?;
        }
    }
    if !args.reconnect {
        return Ok(());
    }
    exchange.finish()?;
    let grid = exchange.into_handler();
    if grid.rows != N {
        eprintln!(
            "simple_persistent_managed: only {} of {N} rows arrived",
            grid.rows
        );
        std::process::exit(1);
    }
    print_grid(&grid.cells);
    print_time_taken(start);
    Ok(())
}

fn main() -> ExitCode {
    let args = PersistentArgs::from_command_line("simple_persistent_managed");
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("simple_persistent_managed: {error}");
            ExitCode::FAILURE
        }
    }
}
