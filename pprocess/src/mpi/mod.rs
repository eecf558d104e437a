//! The same parallel maps over a cluster, through MPI (feature `mpi`).
//!
//! Every rank of an MPI job runs the same program. [`init`] is called
//! first thing in `main`: on rank 0 it returns the [`Cluster`]; on every
//! other rank it serves rank 0's tasks until the cluster is dropped, then
//! ends the process, never returning into your code. Run without a
//! launcher (no `mpirun` or `srun`), or as a job of one rank, the program
//! gets a cluster of this machine alone, and the same calls run on the
//! fork backend (a [`Map`](crate::Map) with `reuse(true)`).
//!
//! Closures cannot cross machines, so functions are named: each
//! non-generic function under [`#[parallel]`](macro@crate::parallel) or
//! [`#[reusable]`](macro@crate::reusable) whose arguments are owned is
//! registered under its path at link time, and its generated module gets
//! `pmap_on(&cluster, inputs)`, a [`Map`](crate::Map) (results in input
//! order), and `pqueue_on(&cluster, inputs)`, a [`Queue`](crate::Queue)
//! (in arrival order). Their tasks, limit and timeout are given where they
//! are made: a map or queue of a cluster takes no closures
//! (`start`, `manage`) and no settings.
//!
//! ```no_run
//! #[pprocess::parallel]
//! fn calculate(i: u32, j: u32) -> u32 {
//!     i * 10 + j
//! }
//!
//! fn main() -> pprocess::Result<()> {
//!     let cluster = pprocess::mpi::init()?; // worker ranks never return
//!     let inputs = (0..10).flat_map(|i| (0..10).map(move |j| (i, j)));
//!     for cell in calculate::pmap_on(&cluster, inputs) {
//!         print!("{} ", cell?);
//!     }
//!     Ok(())
//! }
//! ```
//!
//! # Design
//!
//! **Start-up.** Each worker rank sends rank 0 a fingerprint of its build
//! (the registry's names and type signatures, and a hash of its
//! executable). Rank 0 compares them with its own and answers each with a
//! verdict: serve, or quit. A rank built from other code is refused:
//! [`init`] returns [`Error::BuildMismatch`](crate::Error::BuildMismatch)
//! on rank 0, and the workers end.
//!
//! **Tasks, in batches.** A task message is a batch: a header (the
//! collection's job number, the function's place in the sorted registry,
//! the timeout), then each task's index and its arguments as the crate's
//! codec encodes them. A result message holds one or more answers, each
//! a header (job, index) and the encoded `Result<T, Failure>`, where
//! `Failure` carries a panic, a signal, an exit without a result or a
//! timeout to rank 0 as the same [`Error`](crate::Error) variant it is on
//! one machine. Every message costs the same whatever it holds (an MPI
//! send and probe, a socket write, wake-ups), which for a task of
//! microseconds is the task's time several times over: batching makes
//! that cost one per batch.
//!
//! **Pipelining.** Rank 0 keeps each worker supplied with about 4 ms of
//! its work, sent as batches of half that (`pace.rs`). A worker's pace
//! is the time its process held tasks over the answers (each result
//! message says how long), so the tasks' trip does not count; it starts
//! again, one task at a time, with each run that finds the worker idle
//! (another function may take another time). A task of milliseconds goes
//! alone, three in flight (one on its way while its process runs one and
//! has the next), so that no worker holds back work another could do at
//! the end of a run; trivial tasks go thousands at a time (at most 8192
//! held per worker, 1 MiB of arguments per batch). No worker waits for a
//! round trip between tasks. Rank 0 takes an input from the user's
//! iterator only to send it: an endless iterator works, and at most the
//! workers' depth of inputs is held. `limit` caps the worker ranks used.
//!
//! **Isolation.** A worker rank runs every task in a created process
//! (`runner.rs`), never in its own process. It writes each batch to that
//! process as it came, in one write; the process runs the tasks in order,
//! leaves each answer in a ring in shared memory, and sends one empty
//! message when the batch is done, which wakes the rank to take every
//! answer at once and send them on in one message. An answer in shared
//! memory outlives its process: when a task panics, aborts, is killed or
//! runs past the timeout, the rank takes the answers there, gives the
//! first unanswered task the process's error (at its index), and sends the
//! tasks after it to a new process. The process's clock restarts whenever
//! new answers are found, so the timeout bounds each task, not a batch.

//! **Waiting.** MPI's blocking calls spin, which would take a core from
//! the tasks; ranks probe without pause for 50 us, then sleep between
//! probes (up to 1 ms). A worker sends its answers without blocking and
//! keeps taking rank 0's messages until the send completes, so that a
//! large task and a large answer crossing each other never deadlock.
//!
//! **A lost rank.** Open MPI 4.1 has no fault-tolerant MPI: when a rank's
//! process dies, `mpirun` ends the whole job with a non-zero exit code and
//! a message naming the rank and its signal. A rank that is alive but
//! sends nothing for twice the tasks' timeout plus a second while it
//! holds tasks is stuck: its tasks fail with
//! [`Error::RankSilent`](crate::Error::RankSilent), it gets no more work,
//! and dropping the cluster aborts the job (exit code 70 from rank 0),
//! since MPI could not finalize with it. Without a timeout, a task may run
//! for ever, and so may its rank.
//!
//! **The end.** Dropping the cluster tells every worker to quit; each
//! ends its process, says goodbye, finalizes MPI and exits with `_exit`.
//! Rank 0 finalizes MPI once all have said goodbye.
//!
//! Nothing below this module uses it.

mod pace;
mod registry;
mod run;
mod runner;
mod transport;
mod wire;
mod worker;

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::collections::backend::Backend;
use crate::collections::fork::Processes;
use crate::collections::map::Map;
use crate::collections::queue::Queue;
use crate::error::{Error, Result};
use crate::mpi::run::{Ranks, Run};

/// The MPI environment of the `mpi` crate, which [`init_with`] takes.
pub use mpi::environment::Universe;
#[doc(hidden)]
pub use registry::{Decodes, DoesNotDecode, Entry, Probe, signature};

/// The environment variables by which MPI launchers (`mpirun` of Open
/// MPI or MPICH, `srun`) tell a process it is one rank of a job.
const LAUNCHED: [&str; 4] = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMI_RANK", "PMIX_RANK"];

/// Starts this rank: on rank 0 (or when not run by an MPI launcher),
/// returns the cluster; on every other rank, serves tasks until rank 0
/// drops its cluster, then ends the process with `_exit` (code 0),
/// never returning.
///
/// Call it first thing in `main`, before any output or any state you
/// would not want built on every rank: everything before it runs on every
/// rank. Keep the cluster until the end of `main`: dropping it ends the
/// job's workers.
///
/// Errors: [`Error::BuildMismatch`] if a worker rank runs a different
/// build (the workers then end); [`Error::Io`] if MPI was already
/// initialized in this process (MPI can be initialized once), or the
/// executable cannot be read for the build fingerprint.
///
/// ```
/// // Run without mpirun: a cluster of this machine alone.
/// let cluster = pprocess::mpi::init()?;
/// assert!(cluster.is_local());
/// assert_eq!(cluster.workers(), 0);
/// # Ok::<(), pprocess::Error>(())
/// ```
pub fn init() -> Result<Cluster> {
    if !LAUNCHED.iter().any(|name| std::env::var_os(name).is_some()) {
        return Ok(Cluster::new(Flavor::Local));
    }
    let universe = mpi::initialize().ok_or_else(|| {
        Error::io(
            "MPI_Init",
            std::io::Error::other("MPI was already initialized in this process"),
        )
    })?;
    init_with(universe)
}

/// [`init`] for a program that initialized MPI itself (with the `mpi`
/// crate, version 0.8) and used it before: takes its [`Universe`], and
/// finalizes MPI when the cluster is dropped (at once on a job of one
/// rank, which runs on this machine). Every rank must call it at the same
/// point, with no message of its own still in flight.
///
/// ```no_run
/// let universe = mpi::initialize().expect("MPI is initialized once");
/// // ... the program's own MPI calls, on every rank ...
/// let cluster = pprocess::mpi::init_with(universe)?; // worker ranks stay in here
/// # Ok::<(), pprocess::Error>(())
/// ```
pub fn init_with(universe: Universe) -> Result<Cluster> {
    use mpi::traits::Communicator;
    let world = universe.world();
    if world.size() == 1 {
        drop(world);
        drop(universe);
        return Ok(Cluster::new(Flavor::Local));
    }
    let rank = world.rank();
    drop(world);
    let fingerprint = registry::fingerprint()?;
    if rank != 0 {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        worker::serve(universe, fingerprint);
    }
    Ranks::start(universe, fingerprint).map(|ranks| Cluster::new(Flavor::Ranks(ranks)))
}

/// The handle on the cluster, on rank 0: where `pmap_on` and `pqueue_on`
/// (generated by the attributes) run their tasks. From [`init`].
///
/// Its settings apply to every collection run on it: [`limit`](Self::limit)
/// (how many worker ranks, or on one machine processes, at once) and
/// [`timeout`](Self::timeout) (per task).
///
/// ```
/// use std::time::Duration;
///
/// #[pprocess::parallel]
/// fn square(n: u64) -> u64 {
///     n * n
/// }
///
/// fn main() -> pprocess::Result<()> {
///     let cluster = pprocess::mpi::init()?
///         .limit(2)
///         .timeout(Duration::from_secs(60));
///     assert!(cluster.is_local()); // not run by mpirun
///     // In input order:
///     let squares: Vec<u64> = square::pmap_on(&cluster, 0..5).collect::<pprocess::Result<_>>()?;
///     assert_eq!(squares, [0, 1, 4, 9, 16]);
///     // In arrival order:
///     let mut squares: Vec<u64> = square::pqueue_on(&cluster, 0..5).collect::<pprocess::Result<_>>()?;
///     squares.sort();
///     assert_eq!(squares, [0, 1, 4, 9, 16]);
///     Ok(())
/// }
/// ```
pub struct Cluster {
    flavor: Flavor,
    limit: Option<usize>,
    timeout: Option<Duration>,
}

/// Where a cluster runs its tasks.
enum Flavor {
    /// On this machine, on the fork backend.
    Local,
    /// On the worker ranks of an MPI job.
    Ranks(Ranks),
}

impl Cluster {
    fn new(flavor: Flavor) -> Self {
        Cluster {
            flavor,
            limit: None,
            timeout: None,
        }
    }

    /// Uses at most `limit` worker ranks (on one machine: processes) at
    /// once; by default all the job's worker ranks (on one machine, as
    /// many processes as cores). Each worker rank runs one task at a time.
    ///
    /// ```
    /// let cluster = pprocess::mpi::init()?.limit(1);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit.max(1));
        self
    }

    /// Kills a task's process once the task has run for `timeout`: the
    /// task fails with [`Error::Timeout`] at its index. It also bounds how
    /// long a worker rank may stay silent (see
    /// [`Error::RankSilent`]).
    ///
    /// ```
    /// let cluster = pprocess::mpi::init()?.timeout(std::time::Duration::from_secs(5));
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How many worker ranks run tasks: 0 on one machine.
    ///
    /// ```
    /// assert_eq!(pprocess::mpi::init()?.workers(), 0); // not run by mpirun
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn workers(&self) -> usize {
        match &self.flavor {
            Flavor::Local => 0,
            Flavor::Ranks(ranks) => ranks.workers(),
        }
    }

    /// Whether tasks run on this machine's fork backend (the program was
    /// not started by an MPI launcher, or as a job of one rank).
    ///
    /// ```
    /// assert!(pprocess::mpi::init()?.is_local());
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn is_local(&self) -> bool {
        matches!(self.flavor, Flavor::Local)
    }

    /// The created processes that run `function` on one machine, with the
    /// cluster's settings.
    fn processes<'c, A, T, F>(
        &self,
        function: F,
        inputs: impl Iterator<Item = A> + 'c,
    ) -> Processes<'c, T>
    where
        A: 'c,
        F: Fn(A) -> T + 'c,
        T: Serialize + DeserializeOwned,
    {
        let (limit, timeout) = (self.limit, self.timeout);
        let mut processes = Processes::new().configure(|exchange| {
            let exchange = exchange.reuse(true);
            let exchange = match limit {
                Some(limit) => exchange.limit(limit),
                None => exchange,
            };
            match timeout {
                Some(timeout) => exchange.timeout(timeout),
                None => exchange,
            }
        });
        processes.pmap(function, inputs);
        processes
    }

    /// A run of the function registered as `name` on the worker ranks.
    fn run<'c, A, T>(
        &'c self,
        ranks: &'c Ranks,
        name: &str,
        inputs: impl Iterator<Item = A> + 'c,
    ) -> Run<'c, T>
    where
        A: Serialize + 'c,
        T: DeserializeOwned,
    {
        let encoded = inputs.map(|input| {
            let mut args = Vec::new();
            crate::wire::codec::encode_into(&input, &mut args).map(|()| args)
        });
        Run::new(ranks, name, Box::new(encoded), self.limit, self.timeout)
    }
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("local", &self.is_local())
            .field("workers", &self.workers())
            .field("limit", &self.limit)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// What the generated `pmap_on` and `pqueue_on` call: the tasks of
/// `function` (registered as `name`) on every input, which become a
/// [`Map`] or a [`Queue`].
#[doc(hidden)]
pub fn tasks_on<'c, A, T, F, I>(
    cluster: &'c Cluster,
    name: &'static str,
    function: F,
    inputs: I,
) -> Tasks<'c, T>
where
    I: IntoIterator<Item = A>,
    I::IntoIter: 'c,
    A: Serialize + 'c,
    F: Fn(A) -> T + 'c,
    T: Serialize + DeserializeOwned + 'c,
{
    let inputs = inputs.into_iter();
    Tasks(match &cluster.flavor {
        Flavor::Local => Box::new(cluster.processes(function, inputs)),
        Flavor::Ranks(ranks) => Box::new(cluster.run::<_, T>(ranks, name, inputs)),
    })
}

/// The tasks of a collection on a cluster, before they are a [`Map`] or a
/// [`Queue`] (with `into`).
#[doc(hidden)]
pub struct Tasks<'c, T>(Box<dyn Backend<T> + 'c>);

impl<'c, T: DeserializeOwned> From<Tasks<'c, T>> for Map<'c, T> {
    fn from(tasks: Tasks<'c, T>) -> Self {
        Map::from_backend(tasks.0)
    }
}

impl<'c, T: DeserializeOwned> From<Tasks<'c, T>> for Queue<'c, T> {
    fn from(tasks: Tasks<'c, T>) -> Self {
        Queue::from_backend(tasks.0)
    }
}
