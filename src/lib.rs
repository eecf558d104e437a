//! Helpers shared by the example programs: the simulated work of the simple
//! examples and the grid they print.

use std::time::Duration;

/// The top-level README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod bottles;
pub mod indexer;
pub mod raytracer;

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

/// The grid the parallel examples fill as `(i, j, value)` results arrive,
/// in any order. It is also the [`Handler`](pprocess::Handler) of their
/// exchanges: each message a created process sends is one cell.
///
/// ```
/// let mut grid = pprocess_examples::Grid::default();
/// grid.put((1, 2, 12));
/// assert_eq!(grid.cells()[12], 12);
/// ```
#[derive(Debug)]
pub struct Grid {
    cells: Vec<usize>,
}

impl Default for Grid {
    fn default() -> Self {
        Grid {
            cells: vec![0; N * N],
        }
    }
}

impl Grid {
    /// Stores one cell.
    pub fn put(&mut self, (i, j, value): (usize, usize, usize)) {
        self.cells[i * N + j] = value;
    }

    /// The grid made from `(i, j, value)` results, as a queue yields them;
    /// the first failed result is the error.
    pub fn collect(
        results: impl IntoIterator<Item = pprocess::Result<(usize, usize, usize)>>,
    ) -> pprocess::Result<Grid> {
        let mut grid = Grid::default();
        for result in results {
            grid.put(result?);
        }
        Ok(grid)
    }

    /// The cells, row by row.
    pub fn cells(&self) -> &[usize] {
        &self.cells
    }

    /// Prints the grid (see [`print_grid`]).
    pub fn print(&self) {
        print_grid(&self.cells);
    }
}

impl pprocess::Handler for Grid {
    fn store_data(
        &mut self,
        channel: &mut pprocess::Channel,
        _task: usize,
    ) -> pprocess::Result<()> {
        self.put(channel.receive()?);
        Ok(())
    }
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

/// What a persistent example was asked to do, from its command line:
/// `[--start] [--reconnect] [--address PATH]`.
///
/// `--start` starts the background work and exits; `--reconnect` connects
/// to work started earlier (perhaps by another run) and collects it; with
/// neither, the program does both. The work listens at `PATH` (by default
/// `pprocess-NAME` in the system temporary directory), or at `PATH-0`,
/// `PATH-1`, ... when it is split between several background processes.
#[derive(Clone, Debug)]
pub struct PersistentArgs {
    /// Start the background work.
    pub start: bool,
    /// Collect the results.
    pub reconnect: bool,
    /// Where the work listens.
    pub address: std::path::PathBuf,
}

impl PersistentArgs {
    /// Reads the command line of example `name`; prints the usage and
    /// exits with code 2 if it is not understood.
    pub fn from_command_line(name: &str) -> Self {
        let mut start = false;
        let mut reconnect = false;
        let mut address = None;
        let mut args = std::env::args_os().skip(1);
        while let Some(arg) = args.next() {
            match arg.to_str() {
                Some("--start") => start = true,
                Some("--reconnect") => reconnect = true,
                Some("--address") => match args.next() {
                    Some(path) => address = Some(std::path::PathBuf::from(path)),
                    None => usage(name),
                },
                _ => usage(name),
            }
        }
        if !start && !reconnect {
            (start, reconnect) = (true, true);
        }
        PersistentArgs {
            start,
            reconnect,
            address: address
                .unwrap_or_else(|| std::env::temp_dir().join(format!("pprocess-{name}"))),
        }
    }

    /// The address of part `index` of the work: `ADDRESS-index`.
    pub fn address_of(&self, index: usize) -> std::path::PathBuf {
        let mut address = self.address.clone().into_os_string();
        address.push(format!("-{index}"));
        address.into()
    }
}

fn usage(name: &str) -> ! {
    eprintln!("usage: {name} [--start] [--reconnect] [--address PATH]");
    std::process::exit(2)
}
