//! Callables: what runs in a created process for one call, and the
//! wrappers that make a plain function parallel-aware ([`MakeParallel`]) or
//! able to serve a reused process ([`MakeReusable`]).

use std::fmt;
use std::process::{ExitCode, Termination};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::channel::Channel;
use crate::error::{Error, Result};
use crate::wire::codec;

/// Something that runs in a created process with its channel and the
/// arguments of one call: the callables of the original module, called as
/// `callable(channel, *args)`.
///
/// Closures and functions `Fn(&mut Channel, A) -> R` are callables, with
/// `R` any [`Termination`] (`()`, `Result<(), E>`, ...). [`MakeParallel`]
/// and [`MakeReusable`] turn a plain function into one. Callables are given
/// to [`Exchange::manage`](crate::Exchange::manage) (and the `manage` of
/// maps and queues), or bound to their arguments for [`start`](crate::start).
///
/// The trait is sealed: those are the callables, and no other type can
/// implement it (how a callable serves reused processes is internal).
///
/// ```
/// use pprocess::{Callable, Channel};
///
/// fn double(channel: &mut Channel, n: u32) -> pprocess::Result<()> {
///     channel.send(&(n * 2))
/// }
///
/// let mut channel = pprocess::start(double.bind(21))?;
/// assert_eq!(channel.receive::<u32>()?, 42);
/// # Ok::<(), pprocess::Error>(())
/// ```
pub trait Callable<A>: sealed::Reuse<A> {
    /// Runs one call in the created process; the exit code ends it.
    fn call(&self, channel: &mut Channel, args: A) -> ExitCode;

    /// Binds the arguments, giving a closure for [`start`](crate::start).
    fn bind(self, args: A) -> impl FnOnce(&mut Channel) -> ExitCode
    where
        Self: Sized,
    {
        move |channel| self.call(channel, args)
    }
}

/// What only the crate's own callables do: sealing [`Callable`], so that
/// its internals stay internal (outside the crate this trait cannot be
/// named, so no other type can be a callable).
pub(crate) mod sealed {
    use std::process::ExitCode;

    use crate::channel::Channel;
    use crate::error::Result;

    /// How a callable serves reused processes, if it can.
    pub trait Reuse<A> {
        /// The arguments of one call, encoded to be sent to a reused
        /// process; `None` (the default): each call runs in a new process.
        fn encode_for_reuse(&self, args: &A) -> Option<Result<Vec<u8>>> {
            let _ = args;
            None
        }

        /// The loop a reused process runs, receiving arguments and
        /// answering each call.
        fn serve(&self, channel: &mut Channel) -> ExitCode {
            let _ = channel;
            ExitCode::FAILURE
        }
    }
}

impl<F, A, R> sealed::Reuse<A> for F
where
    F: Fn(&mut Channel, A) -> R,
    R: Termination,
{
}

impl<F, A, R> Callable<A> for F
where
    F: Fn(&mut Channel, A) -> R,
    R: Termination,
{
    fn call(&self, channel: &mut Channel, args: A) -> ExitCode {
        self(channel, args).report()
    }
}

/// Sends `value` as a call's result; a failure (the creator is gone) is
/// reported on standard error and ends the process with code 1.
fn send_result<T: Serialize>(channel: &mut Channel, value: &T) -> ExitCode {
    match channel.send(value) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("pprocess: could not send the result: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Wraps a plain function so that its return value is sent over the channel:
/// the original module's `MakeParallel`.
///
/// The function takes one argument; a function of several arguments takes
/// them as a tuple (the `#[parallel]` attribute writes that wrapper for
/// you). The result must be [`Serialize`]; the arguments need not be, since
/// the created process already has them.
///
/// ```
/// use pprocess::{Callable, MakeParallel};
///
/// let multiply = MakeParallel::new(|(i, j): (u32, u32)| i * j);
/// let mut channel = pprocess::start(multiply.bind((6, 7)))?;
/// assert_eq!(channel.receive::<u32>()?, 42);
/// # Ok::<(), pprocess::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct MakeParallel<F> {
    function: F,
}

impl<F> MakeParallel<F> {
    /// Wraps `function`.
    ///
    /// ```
    /// use pprocess::{Callable, MakeParallel};
    ///
    /// let shout = MakeParallel::new(|word: &str| word.to_uppercase());
    /// let mut channel = pprocess::start(shout.bind("hello"))?;
    /// assert_eq!(channel.receive::<String>()?, "HELLO");
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn new(function: F) -> Self {
        MakeParallel { function }
    }
}

impl<F, A, R> sealed::Reuse<A> for MakeParallel<F>
where
    F: Fn(A) -> R,
    R: Serialize,
{
}

impl<F, A, R> Callable<A> for MakeParallel<F>
where
    F: Fn(A) -> R,
    R: Serialize,
{
    fn call(&self, channel: &mut Channel, args: A) -> ExitCode {
        send_result(channel, &(self.function)(args))
    }
}

impl<F> fmt::Debug for MakeParallel<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MakeParallel").finish_non_exhaustive()
    }
}

/// Wraps a plain function like [`MakeParallel`], and can also serve a
/// reused process: the original module's `MakeReusable`.
///
/// On an exchange, map or queue made with `reuse(true)`, each call's
/// arguments are serialized and sent to a process that has finished its
/// previous call, instead of forking a new one; that process loops,
/// receiving arguments and sending results, until it is told to quit. So
/// the arguments must be [`Serialize`] and [`DeserializeOwned`]. Elsewhere
/// it behaves like [`MakeParallel`].
///
/// ```
/// use pprocess::{MakeReusable, Map};
///
/// let mut map = Map::new().limit(2).reuse(true);
/// let mut square = map.manage(MakeReusable::new(|n: u64| (n * n, std::process::id())));
/// for n in 0..10 {
///     square.call(n);
/// }
/// let results: Vec<(u64, u32)> = map.collect::<pprocess::Result<_>>()?;
/// assert_eq!(results.iter().map(|r| r.0).collect::<Vec<_>>(), [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
/// let mut pids: Vec<u32> = results.iter().map(|r| r.1).collect();
/// pids.sort();
/// pids.dedup();
/// assert!(pids.len() <= 2); // ten tasks, at most two processes
/// # Ok::<(), pprocess::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct MakeReusable<F> {
    function: F,
}

impl<F> MakeReusable<F> {
    /// Wraps `function`.
    ///
    /// ```
    /// use pprocess::{MakeReusable, Queue};
    ///
    /// let mut queue = Queue::new().limit(1).reuse(true);
    /// let mut add_one = queue.manage(MakeReusable::new(|n: u32| n + 1));
    /// add_one.call(1);
    /// add_one.call(41);
    /// assert_eq!(queue.collect::<pprocess::Result<Vec<u32>>>()?, [2, 42]);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn new(function: F) -> Self {
        MakeReusable { function }
    }
}

impl<F, A, R> Callable<A> for MakeReusable<F>
where
    F: Fn(A) -> R,
    A: Serialize + DeserializeOwned,
    R: Serialize,
{
    fn call(&self, channel: &mut Channel, args: A) -> ExitCode {
        send_result(channel, &(self.function)(args))
    }
}

impl<F, A, R> sealed::Reuse<A> for MakeReusable<F>
where
    F: Fn(A) -> R,
    A: Serialize + DeserializeOwned,
    R: Serialize,
{
    fn encode_for_reuse(&self, args: &A) -> Option<Result<Vec<u8>>> {
        let mut payload = Vec::new();
        Some(codec::encode_into(&Some(args), &mut payload).map(|()| payload))
    }

    fn serve(&self, channel: &mut Channel) -> ExitCode {
        loop {
            match channel.receive::<Option<A>>() {
                Ok(Some(args)) => {
                    let code = send_result(channel, &(self.function)(args));
                    if code != ExitCode::SUCCESS {
                        return code;
                    }
                }
                // Told to quit, or the creator is gone.
                Ok(None) | Err(Error::Disconnected) => return ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!(
                        "pprocess: a reused process could not receive its arguments: {error}"
                    );
                    return ExitCode::FAILURE;
                }
            }
        }
    }
}

impl<F> fmt::Debug for MakeReusable<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MakeReusable").finish_non_exhaustive()
    }
}
