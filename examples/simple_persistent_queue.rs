//! The simple grid computed by continuous background processes, as in the
//! original `simple_persistent_queue`: [`PersistentQueue::start`] runs a
//! closure in a background process listening at its own address. Each of
//! the 10 processes computes one row, sending each cell as `(i, j, value)`
//! as soon as it is done; the queue yields every message as it arrives.
//!
//! The background processes outlive the program, and keep their results
//! until someone collects them:
//!
//! - `--start` starts them (at `ADDRESS-0` to `ADDRESS-9`) and exits;
//! - `--reconnect` connects to them, collects the cells, and prints the
//!   grid (10 rows of 10 numbers, then `Time taken: <seconds>`);
//! - with neither, it does both in one run.
//!
//! `--address ADDRESS` sets where they listen (default:
//! `pprocess-simple_persistent_queue` in the user's private
//! directory, see `pprocess_examples::private_directory`).
//!
//! ```text
//! cargo run --example simple_persistent_queue -- --start
//! cargo run --example simple_persistent_queue -- --reconnect
//! PPROCESS_DELAY=0.1 cargo run --example simple_persistent_queue    # both, fast
//! ```

use std::process::ExitCode;

use pprocess::{Channel, PersistentQueue};
use pprocess_examples::{N, PersistentArgs, calculate, print_grid, print_time_taken};

/// Computes row `i`, sending each cell with its coordinates as it is done.
fn calculate_row(channel: &mut Channel, i: usize) -> pprocess::Result<()> {
    for j in 0..N {
        channel.send(&(i, j, calculate(i, j)))?;
    }
    Ok(())
}

fn run(args: &PersistentArgs) -> pprocess::Result<()> {
    let start = std::time::Instant::now();
    let mut queue: PersistentQueue<(usize, usize, usize)> = PersistentQueue::new().continuous(true);
    for i in 0..N {
        if args.start {
            queue.start(args.address_of(i), move |channel| calculate_row(channel, i))?;
        } else {
            queue.connect(args.address_of(i))?;
        }
    }
    if !args.reconnect {
        return Ok(());
    }
    let mut grid = vec![None; N * N];
    for result in queue {
        let (i, j, value) = result?;
        grid[i * N + j] = Some(value);
    }
    let Some(grid) = grid.into_iter().collect::<Option<Vec<usize>>>() else {
        eprintln!("simple_persistent_queue: some cells never arrived");
        std::process::exit(1);
    };
    print_grid(&grid);
    print_time_taken(start);
    Ok(())
}

fn main() -> ExitCode {
    let args = PersistentArgs::from_command_line("simple_persistent_queue");
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("simple_persistent_queue: {error}");
            ExitCode::FAILURE
        }
    }
}
