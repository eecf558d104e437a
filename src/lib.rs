//! Helpers shared by the example programs: the simulated work of the simple
//! examples and the grid they print.

use std::io;
use std::path::PathBuf;
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

/// The created process's side of the loop programs (`create_loop`,
/// `start_loop`): prints each number it receives while it is below
/// `limit`, then, once it receives `limit`, sends `"Done"`.
///
/// ```
/// let mut channel = pprocess::start(|channel| pprocess_examples::print_until(channel, 2))?;
/// for i in 0..=2u32 {
///     channel.send(&i)?; // the created process prints 0 and 1
/// }
/// assert_eq!(channel.receive::<String>()?, "Done");
/// # Ok::<(), pprocess::Error>(())
/// ```
pub fn print_until(channel: &mut pprocess::Channel, limit: u32) -> pprocess::Result<()> {
    let mut i: u32 = channel.receive()?;
    while i < limit {
        println!("{i}");
        i = channel.receive()?;
    }
    channel.send("Done")
}

/// The directory the persistent examples put their socket files in by
/// default, private to the user who runs them, so that no other user can
/// listen at their addresses first: `$XDG_RUNTIME_DIR` when it is set (the
/// login manager makes it, owner-only), else `pprocess-UID` in the system
/// temporary directory, made owner-only (0700) if it is missing.
///
/// Fails if the directory cannot be made, or if it is not a directory of
/// its own (a symbolic link is refused) owned by the effective user and
/// closed to everyone else.
///
/// ```
/// use std::os::unix::fs::PermissionsExt;
///
/// let dir = pprocess_examples::private_dir()?;
/// assert_eq!(std::fs::metadata(&dir)?.permissions().mode() & 0o077, 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn private_dir() -> io::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};

    let uid = nix::unistd::geteuid().as_raw();
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|dir| !dir.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let dir = std::env::temp_dir().join(format!("pprocess-{uid}"));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Err(error) if error.kind() != io::ErrorKind::AlreadyExists => return Err(error),
                _ => dir,
            }
        }
    };
    let metadata = std::fs::symlink_metadata(&dir)?;
    if !metadata.is_dir() || metadata.uid() != uid || metadata.mode() & 0o077 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is not a directory private to user {uid} (owner-only, mode 0700)",
                dir.display()
            ),
        ));
    }
    Ok(dir)
}

/// What a persistent example was asked to do, from its command line:
/// `[--start] [--reconnect] [--address PATH]`.
///
/// `--start` starts the background work and exits; `--reconnect` connects
/// to work started earlier (perhaps by another run) and collects it; with
/// neither, the program does both. The work listens at `PATH` (by default
/// `NAME` in the user's [`private_dir`]), or at `PATH-0`, `PATH-1`, ...
/// when it is split between several background processes.
#[derive(Clone, Debug)]
pub struct PersistentArgs {
    /// Start the background work.
    pub start: bool,
    /// Collect the results.
    pub reconnect: bool,
    /// Where the work listens.
    pub address: PathBuf,
}

impl PersistentArgs {
    /// Reads the command line of example `name`; prints the usage and
    /// exits with code 2 if it is not understood, or the error and code 1
    /// if the default address's directory is not private (see
    /// [`private_dir`]).
    ///
    /// ```
    /// let args = pprocess_examples::PersistentArgs::from_command_line("doc");
    /// // A doctest has no arguments of its own: both halves, at the default.
    /// assert!(args.start && args.reconnect);
    /// assert_eq!(args.address, pprocess_examples::private_dir()?.join("doc"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
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
                    Some(path) => address = Some(PathBuf::from(path)),
                    None => usage(name),
                },
                _ => usage(name),
            }
        }
        if !start && !reconnect {
            (start, reconnect) = (true, true);
        }
        let address = address.unwrap_or_else(|| match private_dir() {
            Ok(dir) => dir.join(name),
            Err(error) => {
                eprintln!("{name}: {error}");
                std::process::exit(1)
            }
        });
        PersistentArgs {
            start,
            reconnect,
            address,
        }
    }

    /// The address of part `index` of the work: `ADDRESS-index`.
    ///
    /// ```
    /// let args = pprocess_examples::PersistentArgs {
    ///     start: true,
    ///     reconnect: true,
    ///     address: "/run/user/1000/work".into(),
    /// };
    /// assert_eq!(args.address_of(3), std::path::Path::new("/run/user/1000/work-3"));
    /// ```
    pub fn address_of(&self, index: usize) -> PathBuf {
        let mut address = self.address.clone().into_os_string();
        address.push(format!("-{index}"));
        address.into()
    }
}

/// Runs persistent example `name`: reads its command line (see
/// [`PersistentArgs::from_command_line`]) and calls `run` with it; an
/// error is printed on standard error as `NAME: ERROR`, with exit code 1.
///
/// ```
/// use std::process::ExitCode;
///
/// let code = pprocess_examples::run_persistent("doc", |args| {
///     assert!(args.start && args.reconnect);
///     Ok(())
/// });
/// assert_eq!(code, ExitCode::SUCCESS);
/// ```
pub fn run_persistent(
    name: &str,
    run: impl FnOnce(&PersistentArgs) -> pprocess::Result<()>,
) -> std::process::ExitCode {
    match run(&PersistentArgs::from_command_line(name)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{name}: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn usage(name: &str) -> ! {
    eprintln!("usage: {name} [--start] [--reconnect] [--address PATH]");
    std::process::exit(2)
}
