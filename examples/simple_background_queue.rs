//! The simple grid computed behind one background process, as in the
//! original `simple_background_queue`: [`BackgroundCallable`] runs a task
//! in a background process listening at an address. The task computes the
//! grid on a [`Queue`] of its own (a process per cell, at most 10 at once)
//! and sends each `(i, j, value)` as it arrives; a [`BackgroundQueue`]
//! connects to it and yields them in turn.
//!
//! The background process outlives the program, and keeps its results
//! until someone collects them:
//!
//! - `--start` starts it (at `ADDRESS`) and exits;
//! - `--reconnect` connects to it, collects the cells, and prints the grid
//!   (10 rows of 10 numbers, then `Time taken: <seconds>`);
//! - with neither, it does both in one run.
//!
//! `--address ADDRESS` sets where it listens (default:
//! `pprocess-simple_background_queue` in the user's private
//! directory, see `pprocess_examples::private_directory`).
//!
//! ```text
//! cargo run --example simple_background_queue -- --start
//! cargo run --example simple_background_queue -- --reconnect
//! PPROCESS_DELAY=0.1 cargo run --example simple_background_queue    # both, fast
//! ```

use std::process::ExitCode;

use pprocess::{BackgroundCallable, BackgroundQueue, Channel, MakeParallel, Queue};
use pprocess_examples::{N, PersistentArgs, calculate, cells, print_grid, print_time_taken};

/// The background task: computes the grid in parallel and relays each
/// cell to whoever connects, as it arrives.
fn task(channel: &mut Channel, _: ()) -> pprocess::Result<()> {
    let mut queue: Queue<(usize, usize, usize)> = Queue::new().limit(10);
    let mut calc = queue.manage(MakeParallel::new(|(i, j): (usize, usize)| {
        (i, j, calculate(i, j))
    }));
    for cell in cells() {
        calc.call(cell);
    }
    for result in queue {
        channel.send(&result?)?;
    }
    Ok(())
}

fn run(args: &PersistentArgs) -> pprocess::Result<()> {
    let start = std::time::Instant::now();
    if args.start {
        BackgroundCallable::new(&args.address, task).call(())?;
    }
    if !args.reconnect {
        return Ok(());
    }
    let mut grid = vec![None; N * N];
    for result in BackgroundQueue::<(usize, usize, usize)>::new(&args.address)? {
        let (i, j, value) = result?;
        grid[i * N + j] = Some(value);
    }
    let Some(grid) = grid.into_iter().collect::<Option<Vec<usize>>>() else {
        eprintln!("simple_background_queue: some cells never arrived");
        std::process::exit(1);
    };
    print_grid(&grid);
    print_time_taken(start);
    Ok(())
}

fn main() -> ExitCode {
    let args = PersistentArgs::from_command_line("simple_background_queue");
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("simple_background_queue: {error}");
            ExitCode::FAILURE
        }
    }
}
