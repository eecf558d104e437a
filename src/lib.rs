//! Helpers shared by the example programs: the simulated work of the simple
//! examples and the grid they print.

use std::time::Duration;

/// The top-level README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The tutorial's examples (docs/tutorial.md), compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/tutorial.md")]
struct TutorialDoctests;

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
/// `pprocess-NAME` in [`private_directory`]), or at `PATH-0`,
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
            address: address.unwrap_or_else(|| match private_directory() {
                Ok(directory) => directory.join(format!("pprocess-{name}")),
                Err(error) => {
                    eprintln!("{name}: no private directory for the address: {error}");
                    std::process::exit(2)
                }
            }),
        }
    }

    /// The address of part `index` of the work: `ADDRESS-index`.
    pub fn address_of(&self, index: usize) -> std::path::PathBuf {
        let mut address = self.address.clone().into_os_string();
        address.push(format!("-{index}"));
        address.into()
    }
}

/// A directory only this user can enter or write, for addresses of
/// persistent channels: `$XDG_RUNTIME_DIR` when it is set and private to
/// this user (the login manager makes it so), else `pprocess-UID` in the
/// system temporary directory, made with mode 0700 if it is missing.
///
/// Addresses in a directory others can write (such as `/tmp` itself) are
/// predictable: another user could make a socket there first. pprocess
/// refuses to talk to a listener of another user
/// ([`pprocess::Error::ForeignListener`]), so that costs no forged result,
/// but it still denies service. A directory that exists and is not
/// private to this user (another owner, or group or others may enter it)
/// is an error of kind `PermissionDenied`.
///
/// ```
/// use std::os::unix::fs::PermissionsExt;
///
/// let directory = pprocess_examples::private_directory()?;
/// assert_eq!(std::fs::metadata(&directory)?.permissions().mode() & 0o077, 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn private_directory() -> std::io::Result<std::path::PathBuf> {
    let uid = nix::unistd::geteuid().as_raw();
    if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR") {
        let runtime = std::path::PathBuf::from(runtime);
        if check_private(&runtime, uid).is_ok() {
            return Ok(runtime);
        }
    }
    let directory = std::env::temp_dir().join(format!("pprocess-{uid}"));
    match std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
        .create(&directory)
    {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(error),
    }
    check_private(&directory, uid)?;
    Ok(directory)
}

/// Whether `directory` is a directory (not a link to one) of user `uid`
/// that nobody else may enter.
fn check_private(directory: &std::path::Path, uid: u32) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::symlink_metadata(directory)?;
    if metadata.is_dir() && metadata.uid() == uid && metadata.mode() & 0o077 == 0 {
        return Ok(());
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::PermissionDenied,
        format!(
            "{} is not a directory private to user {uid}",
            directory.display()
        ),
    ))
}

fn usage(name: &str) -> ! {
    eprintln!("usage: {name} [--start] [--reconnect] [--address PATH]");
    std::process::exit(2)
}
